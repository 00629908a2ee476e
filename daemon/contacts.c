/* contacts.c - the contacts directory (see contacts.h).  A contact's row
 * is read back through contact_from_json, so stored data passes the same
 * checks as data coming in.  Messages, logs and audit entries name a
 * contact by its external id only (DESIGN.md 1). */
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "contact.h"
#include "contacts.h"
#include "journal.h"
#include "log.h"
#include "topic.h"

#define IMPORT_MAX_ROWS	5000
#define LIST_MAX	10000

enum {
	CS_FIND,
	CS_SUBS,
	CS_INSERT,
	CS_UPDATE,
	CS_SUB_DEL,
	CS_SUB_ADD,
	CS_STATUS,
	CS_AUDIT,
	CS_EXPORT,
	CS_MAX
};

static const char *const cs_sql[CS_MAX] = {
	[CS_FIND] = "SELECT id, ext_id, name, email, webhook_url, languages,"
	    " country, region, city, tags, consent_at, consent_source, status,"
	    " test, created_at, updated_at, webhook_gone FROM contacts"
	    " WHERE ext_id = ?1",
	[CS_SUBS] = "SELECT prefix FROM subscriptions WHERE contact = ?1"
	    " ORDER BY prefix",
	[CS_INSERT] = "INSERT INTO contacts (ext_id, name, email, webhook_url,"
	    " languages, country, region, city, tags, consent_at,"
	    " consent_source, status, test, created_at, updated_at, status_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
	    " ?14, ?14, ?14)",
	[CS_UPDATE] = "UPDATE contacts SET name = ?2, email = ?3,"
	    " webhook_url = ?4, languages = ?5, country = ?6, region = ?7,"
	    " city = ?8, tags = ?9, consent_at = ?10, consent_source = ?11,"
	    " status = ?12, test = ?13, updated_at = ?14,"
	    " status_at = CASE WHEN status = ?12 THEN status_at ELSE ?14 END,"
	    /* A new webhook URL is a new endpoint: a 410 from the old one
	     * no longer holds. */
	    " webhook_gone = CASE WHEN webhook_url IS ?4 THEN webhook_gone"
	    " ELSE 0 END"
	    " WHERE id = ?1",
	[CS_SUB_DEL] = "DELETE FROM subscriptions WHERE contact = ?1",
	[CS_SUB_ADD] = "INSERT OR IGNORE INTO subscriptions (prefix, contact)"
	    " VALUES (?1, ?2)",
	[CS_STATUS] = "UPDATE contacts SET status = ?2, updated_at = ?3,"
	    " status_at = ?3 WHERE id = ?1 AND status <> ?2",
	[CS_AUDIT] = "INSERT INTO audit (at, uid, action, subject)"
	    " VALUES (?1, ?2, ?3, ?4)",
	[CS_EXPORT] = "SELECT id, ext_id FROM contacts WHERE id > ?1"
	    " ORDER BY id LIMIT ?2",
};

struct contacts {
	struct journal	*jr;
	sqlite3		*db;
	sqlite3_stmt	*st[CS_MAX];
};

struct contacts *
contacts_new(struct journal *jr, char *err, size_t errlen)
{
	struct contacts	*cs;
	int		 i;

	if ((cs = calloc(1, sizeof(*cs))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	cs->jr = jr;
	cs->db = journal_db(jr);
	for (i = 0; i < CS_MAX; i++)
		if (sqlite3_prepare_v3(cs->db, cs_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &cs->st[i], NULL) != SQLITE_OK) {
			snprintf(err, errlen, "contacts: prepare: %s",
			    sqlite3_errmsg(cs->db));
			contacts_free(cs);
			return NULL;
		}
	return cs;
}

void
contacts_free(struct contacts *cs)
{
	int	i;

	if (cs == NULL)
		return;
	for (i = 0; i < CS_MAX; i++)
		sqlite3_finalize(cs->st[i]);
	free(cs);
}

/* RFC 3339 UTC with milliseconds when not zero. */
static void
fmt_time(int64_t ms, char *out, size_t outlen)
{
	time_t		t = (time_t)(ms / 1000);
	struct tm	tm;
	char		s[32];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	if (ms % 1000)
		snprintf(out, outlen, "%s.%03dZ", s, (int)(ms % 1000));
	else
		snprintf(out, outlen, "%sZ", s);
}

static void
set_text(json_t *o, const char *k, sqlite3_stmt *st, int col)
{
	const unsigned char	*v = sqlite3_column_text(st, col);

	if (v != NULL && *v != '\0')
		json_object_set_new(o, k, json_string((const char *)v));
}

static void
set_time(json_t *o, const char *k, sqlite3_stmt *st, int col)
{
	char	t[40];

	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return;
	fmt_time(sqlite3_column_int64(st, col), t, sizeof(t));
	json_object_set_new(o, k, json_string(t));
}

/* The contact JSON of the CS_FIND row in st (private fields included), or
 * NULL.  *row gets the internal row. */
static json_t *
row_json(struct contacts *cs, sqlite3_stmt *st, int64_t *row)
{
	sqlite3_stmt	*ss = cs->st[CS_SUBS];
	json_t		*o, *subs;
	const char	*v;
	int		 rc;

	*row = sqlite3_column_int64(st, 0);
	o = json_object();
	set_text(o, "id", st, 1);
	set_text(o, "name", st, 2);
	set_text(o, "email", st, 3);
	set_text(o, "webhook_url", st, 4);
	v = (const char *)sqlite3_column_text(st, 5);
	json_object_set_new(o, "languages", v ? json_loads(v, 0, NULL) :
	    json_array());
	set_text(o, "country", st, 6);
	set_text(o, "region", st, 7);
	set_text(o, "city", st, 8);
	v = (const char *)sqlite3_column_text(st, 9);
	json_object_set_new(o, "tags", v ? json_loads(v, 0, NULL) :
	    json_array());
	set_time(o, "consent_at", st, 10);
	set_text(o, "consent_source", st, 11);
	set_text(o, "status", st, 12);
	json_object_set_new(o, "test", json_boolean(sqlite3_column_int(st,
	    13)));
	set_time(o, "created_at", st, 14);
	set_time(o, "updated_at", st, 15);
	/* The endpoint answered 410 Gone: no webhook until the URL changes. */
	if (sqlite3_column_int(st, 16) != 0)
		json_object_set_new(o, "webhook_disabled", json_true());
	subs = json_array();
	sqlite3_bind_int64(ss, 1, *row);
	while ((rc = sqlite3_step(ss)) == SQLITE_ROW)
		json_array_append_new(subs, json_string((const char *)
		    sqlite3_column_text(ss, 0)));
	sqlite3_reset(ss);
	json_object_set_new(o, "subscriptions", subs);
	if (rc != SQLITE_DONE) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Look a contact up by external id: 1 found (*out the JSON, caller
 * frees), 0 none, -1 error. */
static int
contacts_find(struct contacts *cs, const char *ext_id, json_t **out,
    int64_t *row)
{
	sqlite3_stmt	*st = cs->st[CS_FIND];
	int		 rc;

	*out = NULL;
	sqlite3_bind_text(st, 1, ext_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = row_json(cs, st, row);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW || *out == NULL) {
		log_warnx("contacts: find id=%s: %s", ext_id,
		    sqlite3_errmsg(cs->db));
		return -1;
	}
	return 1;
}

int
contacts_get(struct contacts *cs, const char *id, json_t **out, int64_t *row)
{
	return contacts_find(cs, id, out, row);
}

static char *
list_json(char **v, size_t n)
{
	json_t	*a = json_array();
	char	*s;
	size_t	 i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}

static void
bind_opt(sqlite3_stmt *st, int i, const char *v)
{
	if (v != NULL && *v != '\0')
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* Take into dst every field src has and dst does not give. */
static void
merge_absent(struct contact *dst, struct contact *src)
{
#define TAKE(flag, field) do {						\
	if (!(dst->present & (flag))) {					\
		void *tmp_ = (void *)dst->field;			\
		dst->field = src->field;				\
		src->field = tmp_;					\
	}								\
} while (0)
	TAKE(CONTACT_F_NAME, name);
	TAKE(CONTACT_F_EMAIL, email);
	TAKE(CONTACT_F_WEBHOOK_URL, webhook_url);
	TAKE(CONTACT_F_REGION, region);
	TAKE(CONTACT_F_CITY, city);
	TAKE(CONTACT_F_CONSENT_SOURCE, consent_source);
#undef TAKE
#define TAKE_LIST(flag, list, count) do {				\
	if (!(dst->present & (flag))) {					\
		char	**l_ = dst->list;				\
		size_t	  n_ = dst->count;				\
									\
		dst->list = src->list;					\
		dst->count = src->count;				\
		src->list = l_;						\
		src->count = n_;					\
	}								\
} while (0)
	TAKE_LIST(CONTACT_F_LANGUAGES, languages, nlanguages);
	TAKE_LIST(CONTACT_F_TAGS, tags, ntags);
	TAKE_LIST(CONTACT_F_SUBSCRIPTIONS, subscriptions, nsubscriptions);
#undef TAKE_LIST
	if (!(dst->present & CONTACT_F_COUNTRY))
		memcpy(dst->country, src->country, sizeof(dst->country));
	if (!(dst->present & CONTACT_F_CONSENT_AT))
		dst->consent_at_ms = src->consent_at_ms;
	if (!(dst->present & CONTACT_F_TEST))
		dst->test = src->test;
	/* Consent is the contact's: only unsubscribe/resubscribe (and
	 * bounces) make an inactive contact active again. */
	if (!(dst->present & CONTACT_F_STATUS) ||
	    (src->status != CONTACT_ACTIVE && dst->status == CONTACT_ACTIVE))
		dst->status = src->status;
}

static int
contacts_write(struct contacts *cs, int which, const struct contact *c,
    int64_t row, int64_t now_ms)
{
	sqlite3_stmt	*st = cs->st[which];
	char		*langs, *tags;
	size_t		 i;
	int		 rc;

	langs = list_json(c->languages, c->nlanguages);
	tags = list_json(c->tags, c->ntags);
	if (which == CS_INSERT)
		sqlite3_bind_text(st, 1, c->id, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_int64(st, 1, row);
	bind_opt(st, 2, c->name);
	bind_opt(st, 3, c->email);
	bind_opt(st, 4, c->webhook_url);
	sqlite3_bind_text(st, 5, langs ? langs : "[]", -1, SQLITE_TRANSIENT);
	bind_opt(st, 6, c->country);
	bind_opt(st, 7, c->region);
	bind_opt(st, 8, c->city);
	sqlite3_bind_text(st, 9, tags ? tags : "[]", -1, SQLITE_TRANSIENT);
	if (c->consent_at_ms >= 0)
		sqlite3_bind_int64(st, 10, c->consent_at_ms);
	else
		sqlite3_bind_null(st, 10);
	bind_opt(st, 11, c->consent_source);
	sqlite3_bind_text(st, 12, contact_status_name(c->status), -1,
	    SQLITE_STATIC);
	sqlite3_bind_int(st, 13, c->test);
	sqlite3_bind_int64(st, 14, now_ms);
	free(langs);
	free(tags);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		goto fail;
	if (which == CS_INSERT) {
		row = sqlite3_last_insert_rowid(cs->db);
		journal_count_add(cs->jr, JOURNAL_CONTACTS, 1);
	}
	st = cs->st[CS_SUB_DEL];
	sqlite3_bind_int64(st, 1, row);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		goto fail;
	st = cs->st[CS_SUB_ADD];
	for (i = 0; i < c->nsubscriptions; i++) {
		sqlite3_bind_text(st, 1, c->subscriptions[i], -1,
		    SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, row);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			goto fail;
	}
	return 0;
fail:
	journal_write_failed(cs->jr, rc);
	log_warnx("contacts: write id=%s: %s", c->id, sqlite3_errmsg(cs->db));
	return -1;
}

int
contacts_upsert(struct contacts *cs, struct contact *c, int64_t now_ms,
    int dry_run)
{
	struct contact		 old;
	struct contact_error	 ce;
	json_t			*j;
	int64_t			 row;
	int			 rc;

	if ((rc = contacts_find(cs, c->id, &j, &row)) == -1)
		return -1;
	if (rc == 0) {
		if (dry_run)
			return 0;
		if (!journal_write_ok(cs->jr))
			return -1;
		return contacts_write(cs, CS_INSERT, c, 0, now_ms) == -1 ? -1 :
		    0;
	}
	contact_init(&old);
	rc = contact_from_json(j, NULL, &old, &ce);
	json_decref(j);
	if (rc == -1) {
		log_warnx("contacts: stored contact id=%s no longer valid: %s: "
		    "%s; replacing it", c->id, ce.field, ce.reason);
		contact_init(&old);
	}
	merge_absent(c, &old);
	rc = contact_equal(c, &old) ? 2 : 1;
	contact_clear(&old);
	if (rc == 2 || dry_run)
		return rc;
	if (!journal_write_ok(cs->jr))
		return -1;
	return contacts_write(cs, CS_UPDATE, c, row, now_ms) == -1 ? -1 : 1;
}

int
contacts_audit(struct contacts *cs, int64_t now_ms, uid_t uid,
    const char *action, const char *subject)
{
	sqlite3_stmt	*st = cs->st[CS_AUDIT];
	int		 rc;

	if (!journal_write_ok(cs->jr))
		return -1;
	sqlite3_bind_int64(st, 1, now_ms);
	sqlite3_bind_int64(st, 2, (int64_t)uid);
	sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
	bind_opt(st, 4, subject);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		journal_write_failed(cs->jr, rc);
		return -1;
	}
	log_notice("contacts: audit action=%s uid=%u subject=%s", action,
	    (unsigned)uid, subject ? subject : "-");
	return 0;
}

static json_t *
reply_error(const char *code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static json_t *
reply_error(const char *code, const char *fmt, ...)
{
	struct buf	 b;
	va_list		 ap;
	json_t		*r;

	buf_init(&b, 4096);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	r = json_pack("{s:b,s:s,s:s}", "ok", 0, "code", code, "error",
	    b.data ? b.data : code);
	buf_free(&b);
	return r;
}

static json_t *
cmd_import(struct contacts *cs, json_t *req, int64_t now_ms, int *wrote)
{
	json_t			*rows = json_object_get(req, "rows"), *r, *cells;
	json_t			*errors, *v;
	struct contact		 c;
	struct contact_error	 ce;
	const char		*col;
	size_t			 i;
	int			 dry = json_is_true(json_object_get(req,
				    "dry_run")), rc, bad;
	long long		 n[3] = { 0, 0, 0 }, rejected = 0, line;

	if (!json_is_array(rows) || json_array_size(rows) > IMPORT_MAX_ROWS)
		return reply_error("bad_request", "contacts-import: \"rows\" "
		    "must be an array of at most %d rows", IMPORT_MAX_ROWS);
	errors = json_array();
	json_array_foreach(rows, i, r) {
		line = (long long)json_integer_value(json_object_get(r,
		    "line"));
		cells = json_object_get(r, "cells");
		contact_init(&c);
		bad = !json_is_object(cells);
		memset(&ce, 0, sizeof(ce));
		if (bad)
			snprintf(ce.reason, sizeof(ce.reason), "no cells");
		json_object_foreach(cells, col, v) {
			if (bad)
				break;
			if (!json_is_string(v)) {
				snprintf(ce.field, sizeof(ce.field), "?");
				snprintf(ce.reason, sizeof(ce.reason),
				    "cell is not a string");
				bad = 1;
				break;
			}
			if (contact_set_field(&c, NULL, col,
			    json_string_value(v), json_string_length(v),
			    &ce) == -1)
				bad = 1;
		}
		if (!bad && contact_check_complete(&c, &ce) == -1)
			bad = 1;
		if (bad) {
			rejected++;
			json_array_append_new(errors, json_sprintf("line %lld: "
			    "%s%s%s", line, ce.field, ce.field[0] ? ": " : "",
			    ce.reason));
			contact_clear(&c);
			continue;
		}
		rc = contacts_upsert(cs, &c, now_ms, dry);
		contact_clear(&c);
		if (rc == -1) {
			json_decref(errors);
			return reply_error("journal", "the journal failed; "
			    "nothing of this batch is stored");
		}
		n[rc]++;
	}
	if (!dry && (n[0] || n[1]))
		*wrote = 1;
	return json_pack("{s:b,s:I,s:I,s:I,s:I,s:o,s:b}", "ok", 1, "added",
	    (json_int_t)n[0], "updated", (json_int_t)n[1], "unchanged",
	    (json_int_t)n[2], "rejected", (json_int_t)rejected, "errors",
	    errors, "dry_run", dry);
}

static json_t *
cmd_add(struct contacts *cs, json_t *req, int64_t now_ms, int *wrote)
{
	struct contact		 c;
	struct contact_error	 ce;
	json_t			*j;
	int64_t			 row;
	int			 rc;

	contact_init(&c);
	if (contact_from_json(json_object_get(req, "contact"), NULL, &c,
	    &ce) == -1)
		return reply_error("invalid", "%s%s%s", ce.field,
		    ce.field[0] ? ": " : "", ce.reason);
	if ((rc = contacts_find(cs, c.id, &j, &row)) != 0) {
		json_decref(j);
		j = rc == 1 ? reply_error("exists", "contact %s exists; "
		    "import a CSV to update it", c.id) :
		    reply_error("journal", "the journal failed");
		contact_clear(&c);
		return j;
	}
	rc = journal_write_ok(cs->jr) ? contacts_write(cs, CS_INSERT, &c, 0,
	    now_ms) : -1;
	j = rc == 0 ? json_pack("{s:b,s:s}", "ok", 1, "id", c.id) :
	    reply_error("journal", "the journal failed; nothing stored");
	if (rc == 0) {
		*wrote = 1;
		log_info("contacts: added id=%s", c.id);
	}
	contact_clear(&c);
	return j;
}

static const char *
req_id(json_t *req)
{
	const char	*id = json_string_value(json_object_get(req, "id"));

	return id != NULL && *id != '\0' && strlen(id) <= CONTACT_ID_MAX ?
	    id : NULL;
}

/* Set the status of one contact; 1 changed, 0 already so, -2 no such
 * contact, -1 error. */
static int
contacts_set_status(struct contacts *cs, const char *id,
    enum contact_status status, int64_t now_ms)
{
	sqlite3_stmt	*st = cs->st[CS_STATUS];
	json_t		*j;
	int64_t		 row;
	int		 rc;

	if ((rc = contacts_find(cs, id, &j, &row)) != 1)
		return rc == 0 ? -2 : -1;
	json_decref(j);
	if (!journal_write_ok(cs->jr))
		return -1;
	sqlite3_bind_int64(st, 1, row);
	sqlite3_bind_text(st, 2, contact_status_name(status), -1,
	    SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_ms);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		journal_write_failed(cs->jr, rc);
		return -1;
	}
	return sqlite3_changes(cs->db) > 0;
}

static json_t *
cmd_status(struct contacts *cs, json_t *req, int64_t now_ms,
    const unsigned char *secret, size_t secretlen, enum contact_status to,
    int *wrote)
{
	const char	*token = json_string_value(json_object_get(req, "token"));
	const char	*id = req_id(req), *via = "id";
	char		 tid[CONTACT_ID_MAX + 1], tpost[CONTACT_POST_MAX + 1];
	int		 rc;

	if (token != NULL && to == CONTACT_UNSUBSCRIBED) {
		if (contact_token_verify(secret, secretlen, token, tid,
		    sizeof(tid), tpost, sizeof(tpost)) == -1)
			return reply_error("bad_token", "the unsubscribe token "
			    "is not valid (damaged, or made by another "
			    "installation)");
		id = tid;
		via = "token";
	}
	if (id == NULL)
		return reply_error("bad_request", "give a contact \"id\"%s",
		    to == CONTACT_UNSUBSCRIBED ? " or a \"token\"" : "");
	rc = contacts_set_status(cs, id, to, now_ms);
	if (rc == -2)
		return reply_error("not_found", "no contact %s", id);
	if (rc == -1)
		return reply_error("journal", "the journal failed; nothing "
		    "changed");
	if (rc == 1) {
		*wrote = 1;
		log_notice("contacts: %s id=%s via=%s",
		    to == CONTACT_ACTIVE ? "resubscribed" : "unsubscribed", id,
		    via);
	}
	return json_pack("{s:b,s:s,s:s,s:b}", "ok", 1, "id", id, "status",
	    contact_status_name(to), "changed", rc == 1);
}

static int
exec_bind_row(struct contacts *cs, const char *sql, int64_t row)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((rc = sqlite3_prepare_v2(cs->db, sql, -1, &st, NULL)) !=
	    SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, row);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		journal_write_failed(cs->jr, rc);
		return -1;
	}
	return 0;
}

/* remove: the contact and its subscriptions and deliveries go.  erase:
 * the same, and the person's traces elsewhere too (audit subjects), while
 * anonymous counts of what was sent stay in stats. */
static json_t *
cmd_remove(struct contacts *cs, json_t *req, int64_t now_ms, uid_t uid,
    int erase, int *wrote)
{
	const char	*id = req_id(req);
	json_t		*j;
	int64_t		 row;
	int		 rc;

	if (id == NULL)
		return reply_error("bad_request", "give a contact \"id\"");
	if ((rc = contacts_find(cs, id, &j, &row)) != 1)
		return rc == 0 ? reply_error("not_found", "no contact %s", id) :
		    reply_error("journal", "the journal failed");
	json_decref(j);
	if (!journal_write_ok(cs->jr))
		return reply_error("journal", "the journal failed");
	if (erase && (exec_bind_row(cs, "INSERT INTO stats (name, value)"
	    " SELECT 'erased_deliveries_' || state, count(*) FROM deliveries"
	    " WHERE contact = ?1 GROUP BY state ON CONFLICT (name) DO UPDATE"
	    " SET value = value + excluded.value", row) == -1 ||
	    exec_bind_row(cs, "INSERT INTO stats (name, value) VALUES"
	    " ('erased_contacts', 1) ON CONFLICT (name) DO UPDATE SET"
	    " value = value + 1 WHERE ?1 IS NOT NULL", row) == -1))
		return reply_error("journal", "the journal failed");
	if (exec_bind_row(cs, "DELETE FROM deliveries WHERE contact = ?1",
	    row) == -1)
		return reply_error("journal", "the journal failed");
	journal_count_add(cs->jr, JOURNAL_DELIVERIES,
	    -(int64_t)sqlite3_changes(cs->db));
	if (exec_bind_row(cs, "DELETE FROM contacts WHERE id = ?1", row) == -1)
		return reply_error("journal", "the journal failed");
	journal_count_add(cs->jr, JOURNAL_CONTACTS,
	    -(int64_t)sqlite3_changes(cs->db));
	if (erase) {
		sqlite3_stmt	*st;

		if (sqlite3_prepare_v2(cs->db, "UPDATE audit SET subject ="
		    " 'erased contact' WHERE subject = ?1", -1, &st, NULL) !=
		    SQLITE_OK)
			return reply_error("journal", "the journal failed");
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE) {
			journal_write_failed(cs->jr, rc);
			return reply_error("journal", "the journal failed");
		}
		if (contacts_audit(cs, now_ms, uid, "erase", NULL) == -1)
			return reply_error("journal", "the journal failed");
	}
	*wrote = 1;
	log_notice("contacts: %s id=%s uid=%u", erase ? "erased" : "removed",
	    id, (unsigned)uid);
	return json_pack("{s:b,s:s}", "ok", 1, "id", id);
}

static json_t *
cmd_show(struct contacts *cs, json_t *req, int64_t now_ms, uid_t uid,
    int *wrote)
{
	const char	*id = req_id(req);
	json_t		*j;
	int64_t		 row;
	int		 rc;

	if (id == NULL)
		return reply_error("bad_request", "give a contact \"id\"");
	if ((rc = contacts_find(cs, id, &j, &row)) != 1)
		return rc == 0 ? reply_error("not_found", "no contact %s", id) :
		    reply_error("journal", "the journal failed");
	/* Showing an address is written down before it is shown. */
	if (contacts_audit(cs, now_ms, uid, "show", id) == -1) {
		json_decref(j);
		return reply_error("journal", "cannot write the audit entry; "
		    "nothing shown");
	}
	*wrote = 1;
	return json_pack("{s:b,s:o}", "ok", 1, "contact", j);
}

static json_t *
cmd_export(struct contacts *cs, json_t *req, int64_t now_ms, uid_t uid,
    int *wrote)
{
	sqlite3_stmt	*st = cs->st[CS_EXPORT];
	json_t		*arr, *j;
	json_int_t	 after = json_integer_value(json_object_get(req,
			    "after"));
	json_int_t	 limit = json_integer_value(json_object_get(req,
			    "limit"));
	int64_t		 row, last = after;
	const char	*ext;
	int		 rc, n = 0;

	if (limit <= 0 || limit > 5000)
		limit = 1000;
	if (after == 0) {
		if (contacts_audit(cs, now_ms, uid, "export", NULL) == -1)
			return reply_error("journal", "cannot write the audit "
			    "entry; nothing exported");
		*wrote = 1;
	}
	arr = json_array();
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		last = sqlite3_column_int64(st, 0);
		ext = (const char *)sqlite3_column_text(st, 1);
		if (contacts_find(cs, ext, &j, &row) != 1) {
			rc = SQLITE_ERROR;
			break;
		}
		json_array_append_new(arr, j);
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return reply_error("journal", "the journal failed");
	}
	return json_pack("{s:b,s:o,s:o}", "ok", 1, "contacts", arr, "next",
	    n == limit ? json_integer(last) : json_null());
}

static json_t *
cmd_list(struct contacts *cs, json_t *req)
{
	struct buf	 sql;
	sqlite3_stmt	*st = NULL;
	const char	*vals[16], *topic, *s;
	char		 pre[TOPIC_COVER_MAX][TOPIC_MAX + 1];
	json_int_t	 after = json_integer_value(json_object_get(req,
			    "after"));
	json_int_t	 limit = json_integer_value(json_object_get(req,
			    "limit"));
	int		 names = json_is_true(json_object_get(req, "names"));
	json_t		*arr = NULL, *r;
	int		 nv = 0, i, np = 0, rc;
	int64_t		 last = after;

	if (limit <= 0 || limit > LIST_MAX)
		limit = 1000;
	buf_init(&sql, 8192);
	buf_adds(&sql, "SELECT c.id, c.ext_id, c.name, c.status FROM contacts c"
	    " WHERE c.id > ?1");
	if ((topic = json_string_value(json_object_get(req, "topic"))) !=
	    NULL) {
		if (!topic_prefix_valid(topic, strlen(topic))) {
			buf_free(&sql);
			return reply_error("bad_request", "topic: not a topic "
			    "or a topic prefix");
		}
		np = topic_covering(topic, pre);
		buf_adds(&sql, " AND EXISTS (SELECT 1 FROM subscriptions s"
		    " WHERE s.contact = c.id AND s.prefix IN (");
		for (i = 0; i < np; i++) {
			vals[nv++] = pre[i];
			buf_printf(&sql, "%s?%d", i ? ", " : "", nv + 1);
		}
		buf_adds(&sql, "))");
	}
#define FILTER(key, clause) do {					\
	if ((s = json_string_value(json_object_get(req, key))) != NULL) { \
		vals[nv++] = s;						\
		buf_printf(&sql, clause, nv + 1);			\
	}								\
} while (0)
	FILTER("country", " AND c.country = upper(?%d)");
	FILTER("city", " AND c.city = ?%d COLLATE NOCASE");
	FILTER("status", " AND c.status = ?%d");
	FILTER("language", " AND EXISTS (SELECT 1 FROM json_each(c.languages)"
	    " j WHERE lower(j.value) = lower(?%1$d) OR lower(j.value) LIKE"
	    " lower(?%1$d) || '-%%')");
	FILTER("tag", " AND EXISTS (SELECT 1 FROM json_each(c.tags) j WHERE"
	    " j.value = ?%d)");
#undef FILTER
	buf_printf(&sql, " ORDER BY c.id LIMIT %lld", (long long)limit);
	if (sql.overflow || sqlite3_prepare_v2(cs->db, sql.data, -1, &st,
	    NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, after);
	for (i = 0; i < nv; i++)
		sqlite3_bind_text(st, i + 2, vals[i], -1, SQLITE_STATIC);
	arr = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		last = sqlite3_column_int64(st, 0);
		/* Names only when asked for: by default contacts are named
		 * by id (DESIGN.md 1). */
		r = json_pack("{s:s,s:s*,s:s}", "id", (const char *)
		    sqlite3_column_text(st, 1), "name", names ? (const char *)
		    sqlite3_column_text(st, 2) : NULL, "status", (const char *)
		    sqlite3_column_text(st, 3));
		json_array_append_new(arr, r);
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	buf_free(&sql);
	return json_pack("{s:b,s:o,s:o}", "ok", 1, "contacts", arr, "next",
	    (json_int_t)json_array_size(arr) == limit ? json_integer(last) :
	    json_null());
fail:
	log_warnx("contacts: list: %s", sqlite3_errmsg(cs->db));
	sqlite3_finalize(st);
	json_decref(arr);
	buf_free(&sql);
	return reply_error("journal", "the journal failed");
}

json_t *
contacts_command(struct contacts *cs, const char *cmd, json_t *req,
    uid_t uid, int64_t now_ms, const unsigned char *secret, size_t secretlen,
    int *wrote)
{
	*wrote = 0;
	if (strncmp(cmd, "contacts-", 9) != 0)
		return NULL;
	cmd += 9;
	if (strcmp(cmd, "import") == 0)
		return cmd_import(cs, req, now_ms, wrote);
	if (strcmp(cmd, "add") == 0)
		return cmd_add(cs, req, now_ms, wrote);
	if (strcmp(cmd, "remove") == 0)
		return cmd_remove(cs, req, now_ms, uid, 0, wrote);
	if (strcmp(cmd, "erase") == 0)
		return cmd_remove(cs, req, now_ms, uid, 1, wrote);
	if (strcmp(cmd, "unsubscribe") == 0)
		return cmd_status(cs, req, now_ms, secret, secretlen,
		    CONTACT_UNSUBSCRIBED, wrote);
	if (strcmp(cmd, "resubscribe") == 0)
		return cmd_status(cs, req, now_ms, secret, secretlen,
		    CONTACT_ACTIVE, wrote);
	if (strcmp(cmd, "show") == 0)
		return cmd_show(cs, req, now_ms, uid, wrote);
	if (strcmp(cmd, "export") == 0)
		return cmd_export(cs, req, now_ms, uid, wrote);
	if (strcmp(cmd, "list") == 0)
		return cmd_list(cs, req);
	return NULL;
}
