/* audience.c - audience size at acceptance and fan-out of deliveries in
 * slices (see audience.h).  The per-event SQL depends on which filters the
 * event gives, so it is prepared once per event (and kept while that
 * event's fan-out runs), not per slice. */
#include <jansson.h>
#include <sqlite3.h>
#include <unicode/uloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audience.h"
#include "buf.h"
#include "event.h"
#include "journal.h"
#include "log.h"
#include "topic.h"

#define AUD_MAX_VALUES	EVENT_AUDIENCE_MAX	/* values per filter */
/* Parameters of the slice statement beyond those aud_build numbers (?1,
 * ?2 and the filter values, fewer than 2000). */
#define AUD_P_EVENT	2001
#define AUD_P_PRIO	2002
#define AUD_P_NEXT	2003
#define AUD_P_NOW	2004
#define AUD_P_RECEIVED	2005

struct audience {
	struct journal	*jr;
	sqlite3		*db;
	sqlite3_stmt	*next_event;
	sqlite3_stmt	*bound;		/* upper row of the next slice */
	sqlite3_stmt	*cursor;
	sqlite3_stmt	*replace_find;
	sqlite3_stmt	*replace_cancel;
	sqlite3_stmt	*replace_stop;
	sqlite3_stmt	*max_row;
	/* The event whose fan-out runs. */
	int64_t		 ev_row;
	sqlite3_stmt	*slice;		/* prepared for ev_row */
	int		 pending;
};

/* Filters and bound values of one event's audience query. */
struct aud_query {
	struct buf	 sql;
	/* ?1, ?2, the topic's prefixes (at most 4), the filters' values */
	const char	*vals[2 + 4 + 5 * AUD_MAX_VALUES];
	int		 nvals;
	char		 prefixes[TOPIC_COVER_MAX][TOPIC_MAX + 1];
	char		 langs[AUD_MAX_VALUES][96];	/* canonical tags */
	int		 nlangs;
};

static const char *const aud_sql[] = {
	"SELECT id, topic, doc, priority, fanout_cursor, audience_max,"
	" received_at, not_before FROM events WHERE fanout_done = 0"
	" ORDER BY priority DESC, id LIMIT 1",
	/* The upper contact row of the next slice of n contacts. */
	"SELECT id FROM contacts WHERE id > ?1 AND id <= ?2 ORDER BY id"
	" LIMIT 1 OFFSET ?3",
	"UPDATE events SET fanout_cursor = ?2, fanout_done = ?3 WHERE id = ?1",
	"SELECT id FROM events WHERE post = ?1 AND event_id = ?2",
	"UPDATE deliveries SET state = 'cancelled', updated_at = ?2,"
	" last_error = 'replaced or withdrawn by a later event'"
	" WHERE event = ?1 AND state IN ('pending', 'deferred')",
	"UPDATE events SET fanout_done = 1 WHERE id = ?1",
	"SELECT coalesce(max(id), 0) FROM contacts",
};

struct audience *
audience_new(struct journal *jr, char *err, size_t errlen)
{
	struct audience	*a;
	sqlite3_stmt	**st[7];
	size_t		 i;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->jr = jr;
	a->db = journal_db(jr);
	st[0] = &a->next_event;
	st[1] = &a->bound;
	st[2] = &a->cursor;
	st[3] = &a->replace_find;
	st[4] = &a->replace_cancel;
	st[5] = &a->replace_stop;
	st[6] = &a->max_row;
	for (i = 0; i < 7; i++)
		if (sqlite3_prepare_v3(a->db, aud_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, st[i], NULL) != SQLITE_OK) {
			snprintf(err, errlen, "audience: prepare: %s",
			    sqlite3_errmsg(a->db));
			audience_free(a);
			return NULL;
		}
	a->pending = 1;		/* look once: a restart may resume one */
	return a;
}

void
audience_free(struct audience *a)
{
	if (a == NULL)
		return;
	sqlite3_finalize(a->next_event);
	sqlite3_finalize(a->bound);
	sqlite3_finalize(a->cursor);
	sqlite3_finalize(a->replace_find);
	sqlite3_finalize(a->replace_cancel);
	sqlite3_finalize(a->replace_stop);
	sqlite3_finalize(a->max_row);
	sqlite3_finalize(a->slice);
	free(a);
}

int
audience_pending(const struct audience *a)
{
	return a->pending;
}

void
audience_wake(struct audience *a)
{
	a->pending = 1;
}

/* tag in ICU's canonical form into out; -1 when ICU cannot parse it. */
static int
aud_canonical_tag(const char *tag, char *out, size_t outlen)
{
	char		loc[ULOC_FULLNAME_CAPACITY];
	UErrorCode	st = U_ZERO_ERROR;
	int32_t		parsed = 0;

	uloc_forLanguageTag(tag, loc, (int32_t)sizeof(loc), &parsed, &st);
	if (U_FAILURE(st) || parsed != (int32_t)strlen(tag))
		return -1;
	st = U_ZERO_ERROR;
	uloc_toLanguageTag(loc, out, (int32_t)outlen, 1, &st);
	if (U_FAILURE(st) || st == U_STRING_NOT_TERMINATED_WARNING)
		return -1;
	return 0;
}

enum aud_kind {
	AUD_COUNTRY,
	AUD_REGION,
	AUD_CITY,
	AUD_LANGUAGE,
	AUD_TAG,
};

/* Append " AND (x OR y ...)" for the string array key of the audience
 * object: values ORed, filters ANDed (DESIGN.md 3). */
static void
aud_filter(struct aud_query *q, json_t *aud, const char *key,
    enum aud_kind kind)
{
	json_t		*arr = json_object_get(aud, key), *v;
	size_t		 i;
	int		 k;

	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return;
	buf_adds(&q->sql, " AND (");
	json_array_foreach(arr, i, v) {
		if (i >= AUD_MAX_VALUES || !json_is_string(v))
			break;
		if (i > 0)
			buf_adds(&q->sql, " OR ");
		q->vals[q->nvals++] = json_string_value(v);
		/* Contacts' languages are stored as ICU canonicalises them
		 * ("iw" is "he"); so are the filter's. */
		if (kind == AUD_LANGUAGE && q->nlangs < AUD_MAX_VALUES &&
		    aud_canonical_tag(json_string_value(v),
		    q->langs[q->nlangs], sizeof(q->langs[0])) == 0)
			q->vals[q->nvals - 1] = q->langs[q->nlangs++];
		k = q->nvals;
		switch (kind) {
		case AUD_COUNTRY:
			buf_printf(&q->sql, "c.country = ?%d", k);
			break;
		case AUD_REGION:
			buf_printf(&q->sql, "c.region = ?%d COLLATE NOCASE", k);
			break;
		case AUD_CITY:
			buf_printf(&q->sql, "c.city = ?%d COLLATE NOCASE", k);
			break;
		case AUD_LANGUAGE:
			/* A language matches itself and its more specific
			 * forms: "pt" reaches readers of "pt-BR". */
			buf_printf(&q->sql, "EXISTS (SELECT 1 FROM"
			    " json_each(c.languages) j WHERE lower(j.value) ="
			    " lower(?%d) OR lower(j.value) LIKE lower(?%d) ||"
			    " '-%%')", k, k);
			break;
		case AUD_TAG:
			buf_printf(&q->sql, "EXISTS (SELECT 1 FROM"
			    " json_each(c.tags) j WHERE j.value = ?%d)", k);
			break;
		}
	}
	buf_adds(&q->sql, ")");
}

/* Build the statement shared by the count and the slices: head, then
 * FROM contacts c and join, the audience's terms, tail.  ?1 and ?2 (the
 * contact rows above and up to which to look) are left for the caller. */
static void
aud_build(struct aud_query *q, json_t *doc, const char *topic,
    const char *head, const char *join, const char *tail)
{
	json_t		*aud = json_object_get(doc, "audience");
	const char	*st = json_string_value(json_object_get(doc, "status"));
	int		 i, n = 0;

	/* Room for every filter at EVENT_AUDIENCE_MAX values. */
	buf_init(&q->sql, 512 * 1024);
	q->nvals = 2;		/* ?1, ?2 */
	q->nlangs = 0;
	n = topic_covering(topic, q->prefixes);
	/* Start from the subscriptions of the range: SQLite collects their
	 * contacts in a sorted temporary index and visits those contacts in
	 * row order, so an event few contacts follow costs little and a
	 * slice's deliveries are appends to the deliveries key. */
	buf_printf(&q->sql, "%s FROM contacts c%s WHERE c.id > ?1 AND"
	    " c.id <= ?2 AND c.id IN (SELECT s.contact FROM subscriptions s"
	    " WHERE s.contact > ?1 AND s.contact <= ?2 AND s.prefix IN (",
	    head, join);
	for (i = 0; i < n; i++) {
		q->vals[q->nvals++] = q->prefixes[i];
		buf_printf(&q->sql, "%s?%d", i ? ", " : "", q->nvals);
	}
	buf_adds(&q->sql, "))");
	if (st != NULL && strcmp(st, "actual") != 0)
		buf_adds(&q->sql, " AND c.test = 1");
	aud_filter(q, aud, "countries", AUD_COUNTRY);
	aud_filter(q, aud, "regions", AUD_REGION);
	aud_filter(q, aud, "cities", AUD_CITY);
	aud_filter(q, aud, "languages", AUD_LANGUAGE);
	aud_filter(q, aud, "tags", AUD_TAG);
	buf_adds(&q->sql, tail);
}

static int
aud_bind(sqlite3_stmt *st, const struct aud_query *q, int64_t lo, int64_t hi)
{
	int	i;

	sqlite3_bind_int64(st, 1, lo);
	sqlite3_bind_int64(st, 2, hi);
	for (i = 2; i < q->nvals; i++)
		if (sqlite3_bind_text(st, i + 1, q->vals[i], -1,
		    SQLITE_STATIC) != SQLITE_OK)
			return -1;
	return 0;
}

int
audience_count(struct audience *a, const struct event *ev, const char *topic,
    int64_t *count, int64_t *max_row)
{
	struct aud_query	 q;
	sqlite3_stmt		*st = NULL;
	int			 rc = -1;

	*count = 0;
	*max_row = 0;
	if (ev->cancel)
		return 0;
	/* The audience is the directory as it is now: fix its upper row. */
	if (sqlite3_step(a->max_row) != SQLITE_ROW) {
		sqlite3_reset(a->max_row);
		log_warnx("audience: %s", sqlite3_errmsg(a->db));
		return -1;
	}
	*max_row = sqlite3_column_int64(a->max_row, 0);
	sqlite3_reset(a->max_row);
	if (*max_row == 0)
		return 0;
	/* "+c.status": the status index would make SQLite walk every active
	 * contact instead of the few the subscriptions name. */
	aud_build(&q, ev->doc, topic, "SELECT count(*)", "",
	    " AND +c.status = 'active'");
	if (q.sql.overflow ||
	    sqlite3_prepare_v2(a->db, q.sql.data, -1, &st, NULL) != SQLITE_OK ||
	    aud_bind(st, &q, 0, *max_row) == -1 ||
	    sqlite3_step(st) != SQLITE_ROW) {
		log_warnx("audience: count for event id=%s: %s", ev->id,
		    sqlite3_errmsg(a->db));
		goto out;
	}
	*count = sqlite3_column_int64(st, 0);
	rc = 0;
out:
	sqlite3_finalize(st);
	buf_free(&q.sql);
	return rc;
}

int
audience_replace(struct audience *a, const char *post, const char *replaces,
    int64_t now_ms)
{
	int64_t	old;
	int	rc, n;

	sqlite3_bind_text(a->replace_find, 1, post, -1, SQLITE_STATIC);
	sqlite3_bind_text(a->replace_find, 2, replaces, -1, SQLITE_STATIC);
	rc = sqlite3_step(a->replace_find);
	old = rc == SQLITE_ROW ? sqlite3_column_int64(a->replace_find, 0) : 0;
	sqlite3_reset(a->replace_find);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto fail;
	if (old == 0)
		return 0;	/* nothing to replace (yet): nothing to do */
	if (!journal_write_ok(a->jr))
		return -1;
	sqlite3_bind_int64(a->replace_stop, 1, old);
	rc = sqlite3_step(a->replace_stop);
	sqlite3_reset(a->replace_stop);
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_bind_int64(a->replace_cancel, 1, old);
	sqlite3_bind_int64(a->replace_cancel, 2, now_ms);
	rc = sqlite3_step(a->replace_cancel);
	sqlite3_reset(a->replace_cancel);
	if (rc != SQLITE_DONE)
		goto fail;
	n = sqlite3_changes(a->db);
	if (a->ev_row == old) {
		sqlite3_finalize(a->slice);
		a->slice = NULL;
		a->ev_row = 0;
	}
	log_info("audience: event replaced post=%s id=%s cancelled=%d", post,
	    replaces, n);
	return n;
fail:
	journal_write_failed(a->jr, rc);
	log_warnx("audience: replace post=%s id=%s: %s", post, replaces,
	    sqlite3_errmsg(a->db));
	return -1;
}

int
audience_fanout_step(struct audience *a, int64_t now_ms, int max_contacts)
{
	sqlite3_stmt	*ne = a->next_event;
	struct aud_query q;
	json_t		*doc = NULL;
	const char	*topic;
	int64_t		 row, cursor, max, received, next_at;
	int64_t		 last;
	int		 prio, rc, made = 0, done;

	if (!a->pending)
		return 0;
	rc = sqlite3_step(ne);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(ne);
		a->pending = 0;
		return 0;
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(ne);
		log_warnx("audience: next event: %s", sqlite3_errmsg(a->db));
		return -1;
	}
	row = sqlite3_column_int64(ne, 0);
	prio = sqlite3_column_int(ne, 3);
	cursor = sqlite3_column_int64(ne, 4);
	max = sqlite3_column_int64(ne, 5);
	received = sqlite3_column_int64(ne, 6);
	next_at = sqlite3_column_type(ne, 7) == SQLITE_NULL ? now_ms :
	    sqlite3_column_int64(ne, 7);
	if (a->ev_row != row || a->slice == NULL) {
		sqlite3_finalize(a->slice);
		a->slice = NULL;
		a->ev_row = 0;
		topic = (const char *)sqlite3_column_text(ne, 1);
		doc = json_loads((const char *)sqlite3_column_text(ne, 2), 0,
		    NULL);
		if (doc == NULL || topic == NULL) {
			sqlite3_reset(ne);
			log_warnx("audience: event row=%lld unreadable",
			    (long long)row);
			json_decref(doc);
			return -1;
		}
		/* One statement per slice: SQLite makes the deliveries
		 * without a round trip per contact, both channels of a
		 * contact in key order, the audience's terms evaluated once
		 * per contact.  Contacts that left after acceptance get
		 * "skipped"; those inactive before it were not in the
		 * audience. */
		aud_build(&q, doc, topic, "INSERT OR IGNORE INTO deliveries"
		    " (event, contact, channel, state, priority, next_at,"
		    " created_at, updated_at) SELECT ?2001, c.id, ch.channel,"
		    " CASE WHEN c.status = 'active' THEN 'pending' ELSE"
		    " 'skipped' END, ?2002, ?2003, ?2004, ?2004",
		    " CROSS JOIN (SELECT 'smtp' AS channel UNION ALL SELECT"
		    " 'webhook') ch",
		    " AND (c.status = 'active' OR c.status_at > ?2005) AND"
		    " CASE ch.channel WHEN 'smtp' THEN c.email IS NOT NULL ELSE"
		    " c.webhook_url IS NOT NULL END");
		/* The slice statement keeps its own copies of the values. */
		rc = q.sql.overflow ? SQLITE_NOMEM : sqlite3_prepare_v3(a->db,
		    q.sql.data, -1, SQLITE_PREPARE_PERSISTENT, &a->slice, NULL);
		if (rc == SQLITE_OK) {
			int	i;

			for (i = 2; i < q.nvals && rc == SQLITE_OK; i++)
				rc = sqlite3_bind_text(a->slice, i + 1,
				    q.vals[i], -1, SQLITE_TRANSIENT);
		}
		buf_free(&q.sql);
		json_decref(doc);
		if (rc != SQLITE_OK) {
			sqlite3_reset(ne);
			log_warnx("audience: slice query for event row=%lld: %s",
			    (long long)row, sqlite3_errmsg(a->db));
			sqlite3_finalize(a->slice);
			a->slice = NULL;
			return -1;
		}
		a->ev_row = row;
	}
	sqlite3_reset(ne);

	if (!journal_write_ok(a->jr))
		return -1;
	/* The slice: the next max_contacts contacts by row, whatever they
	 * are; the last slice ends at the row fixed at acceptance. */
	sqlite3_bind_int64(a->bound, 1, cursor);
	sqlite3_bind_int64(a->bound, 2, max);
	sqlite3_bind_int(a->bound, 3, max_contacts - 1);
	rc = sqlite3_step(a->bound);
	last = rc == SQLITE_ROW ? sqlite3_column_int64(a->bound, 0) : max;
	sqlite3_reset(a->bound);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto fail;
	done = last >= max;
	sqlite3_bind_int64(a->slice, 1, cursor);
	sqlite3_bind_int64(a->slice, 2, last);
	sqlite3_bind_int64(a->slice, AUD_P_EVENT, row);
	sqlite3_bind_int64(a->slice, AUD_P_PRIO, prio);
	sqlite3_bind_int64(a->slice, AUD_P_NEXT, next_at);
	sqlite3_bind_int64(a->slice, AUD_P_NOW, now_ms);
	sqlite3_bind_int64(a->slice, AUD_P_RECEIVED, received);
	rc = sqlite3_step(a->slice);
	sqlite3_reset(a->slice);
	if (rc != SQLITE_DONE)
		goto fail;
	made = sqlite3_changes(a->db);
	journal_count_add(a->jr, JOURNAL_DELIVERIES, made);
	/* Cursor and deliveries commit together: a restart resumes after
	 * the last contact whose deliveries are on disk. */
	sqlite3_bind_int64(a->cursor, 1, row);
	sqlite3_bind_int64(a->cursor, 2, last);
	sqlite3_bind_int(a->cursor, 3, done);
	rc = sqlite3_step(a->cursor);
	sqlite3_reset(a->cursor);
	if (rc != SQLITE_DONE)
		goto fail;
	if (done) {
		log_info("audience: fan-out done event_row=%lld", (long long)row);
		sqlite3_finalize(a->slice);
		a->slice = NULL;
		a->ev_row = 0;
	}
	return made;
fail:
	journal_write_failed(a->jr, rc);
	log_warnx("audience: fan-out event_row=%lld: %s", (long long)row,
	    sqlite3_errmsg(a->db));
	/* The turn rolls back; the next one prepares afresh. */
	sqlite3_finalize(a->slice);
	a->slice = NULL;
	a->ev_row = 0;
	return -1;
}
