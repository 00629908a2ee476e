/* deliver.c - the delivery scheduler (see deliver.h).
 *
 * Each run takes, per channel, as many due deliveries as the senders have
 * room for, in priority order (critical first; within a priority, pending
 * before deferred, oldest next_at first), marks them 'sending', renders
 * each notice for its contact and hands it over.  A sender reports each
 * one exactly once; the outcome is written in the loop's turn transaction,
 * which the before-sleep step commits.  Nothing is kept in memory that the
 * journal does not also say: a delivery in flight is 'sending' on disk,
 * and a restart puts those back to 'pending' (at-least-once, with the same
 * Message-ID / webhook-id).  The scheduler owns its statements, the
 * senders, their copies of the config they use, and the in-flight table.
 */
#include <sys/random.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "contact.h"
#include "control.h"
#include "daemon.h"
#include "deliver.h"
#include "event.h"
#include "journal.h"
#include "log.h"
#include "loop.h"
#include "notice.h"
#include "priority.h"
#include "render.h"
#include "smtp.h"
#include "webhook.h"

#define DV_SMTP		0
#define DV_WEBHOOK	1
#define DV_NCHAN	2
#define DV_EVCACHE	16		/* parsed events kept */
#define DV_SWEEP_MS	1000		/* expiry sweep and rates */
#define DV_IDLE_MS	30000		/* look again at least this often */
#define DV_RUN_BUDGET_MS 3		/* rendering per run */
#define DV_MSG_MAX	(8u << 20)	/* one e-mail */
#define DV_MSG_HINT_MAX	(256u << 10)	/* room reserved for the next */
#define DV_LIST_MAX	1000		/* rows of "deliveries" */
#define DV_RATE_SECS	60
#define DV_HOLD_FIRST_MS 100		/* after a failed commit, then x2 */
#define DV_HOLD_MAX_MS	5000

static const char *const dv_chan_name[DV_NCHAN] = { "smtp", "webhook" };

enum {
	DV_ST_RESET,
	DV_ST_CLAIM,
	DV_ST_SET,
	DV_ST_EVENT,
	DV_ST_BOUNCE,
	DV_ST_GONE,
	DV_ST_EXPIRE,
	DV_ST_EXPIRING,
	DV_ST_PAUSED_GET,
	DV_ST_PAUSED_SET,
	DV_ST_COUNTS,
	DV_ST_TAKEN,
	DV_ST_LIST_ALL,
	DV_ST_LIST_EVENT,
	DV_ST_LIST_ROW,
	DV_ST_MAX
};

static const char *const dv_sql[DV_ST_MAX] = {
	"UPDATE deliveries SET state = 'pending', updated_at = ?1"
	" WHERE state = 'sending'",
	/* The event's columns come from the scheduler's event cache. */
	"SELECT d.event, d.contact, d.attempts, d.next_at, c.status,"
	" c.ext_id, c.name, c.email, c.webhook_url, c.languages, c.country,"
	" c.region, c.city, c.webhook_gone"
	" FROM deliveries d JOIN contacts c ON c.id = d.contact"
	" WHERE d.state IN ('pending', 'deferred')"	/* the index's */
	" AND d.state = ?1 AND d.priority = ?2 AND d.channel = ?3"
	" AND (d.next_at, d.event, d.contact) > (?5, ?6, ?7)"
	/* Not an event stored in the open transaction: nothing of it
	 * goes out before it is committed (journal_new_event_floor). */
	" AND d.event < ?8"
	" ORDER BY d.next_at LIMIT ?4",
	"UPDATE deliveries SET state = ?4, attempts = ?5, next_at = ?6,"
	" last_error = ?7, updated_at = ?8"
	" WHERE event = ?1 AND contact = ?2 AND channel = ?3",
	"SELECT topic, post, type, doc, received_at, not_before, expires_at"
	" FROM events WHERE id = ?1",
	"UPDATE contacts SET status = 'bounced', status_at = ?2,"
	" updated_at = ?2 WHERE id = ?1 AND status = 'active'",
	"UPDATE contacts SET webhook_gone = 1, updated_at = ?2 WHERE id = ?1",
	/* "+state": through the key, the expired events' deliveries only;
	 * the due index would read the whole queue. */
	"UPDATE deliveries SET state = 'expired', updated_at = ?1,"
	" last_error = 'the event expired before it was sent'"
	" WHERE +state IN ('pending', 'deferred') AND event IN"
	" (SELECT id FROM events WHERE expires_at IS NOT NULL"
	"  AND expires_at > ?2 AND expires_at <= ?1)",
	"SELECT 1 FROM events WHERE expires_at IS NOT NULL"
	" AND expires_at > ?2 AND expires_at <= ?1 LIMIT 1",
	"SELECT value FROM stats WHERE name = 'paused'",
	"INSERT INTO stats (name, value) VALUES ('paused', ?1)"
	" ON CONFLICT (name) DO UPDATE SET value = excluded.value",
	/* The queue, from the due index: a status never scans the table. */
	"SELECT state, channel, count(*) FROM deliveries"
	" WHERE state IN ('pending', 'deferred') GROUP BY state, channel",
	/* A delivery still in flight when its claim's transaction is about
	 * to commit (dv_mark). */
	"UPDATE deliveries SET state = 'sending', updated_at = ?4"
	" WHERE event = ?1 AND contact = ?2 AND channel = ?3"
	" AND state IN ('pending', 'deferred')",
	/* "deliveries": slices in key order, newest event first, from below
	 * the last key read; then the rows kept, whole. */
	"SELECT event, contact, channel, state, updated_at FROM deliveries"
	" WHERE (event, contact, channel) < (?1, ?2, ?3)"
	" ORDER BY event DESC, contact DESC, channel DESC LIMIT ?4",
	"SELECT event, contact, channel, state, updated_at FROM deliveries"
	" WHERE event = ?1 AND (contact, channel) < (?2, ?3)"
	" ORDER BY contact DESC, channel DESC LIMIT ?4",
	"SELECT e.post, e.event_id, c.ext_id, d.channel, d.state,"
	" d.attempts, d.next_at, d.last_error, d.updated_at, d.priority"
	" FROM deliveries d JOIN events e ON e.id = d.event"
	" JOIN contacts c ON c.id = d.contact"
	" WHERE d.event = ?1 AND d.contact = ?2 AND d.channel = ?3",
};

/* Columns of DV_ST_CLAIM. */
enum {
	CL_EVENT, CL_CONTACT, CL_ATTEMPTS, CL_NEXT_AT, CL_STATUS, CL_EXT_ID,
	CL_NAME, CL_EMAIL, CL_WEBHOOK_URL, CL_LANGUAGES, CL_COUNTRY, CL_REGION,
	CL_CITY, CL_WEBHOOK_GONE
};

/* One delivery handed to a sender. */
struct dv_flight {
	int64_t		 event;
	int64_t		 contact;
	int64_t		 start_ms;	/* lifetime counts from here */
	int64_t		 expires_ms;	/* -1: never */
	uint32_t	 gen;		/* bumped at each reuse of the slot */
	int		 used;
	int		 channel;
	int		 priority;
	int		 attempts;	/* before this one */
	int		 unmarked;	/* still pending on disk: dv_mark */
	char		 ext_id[CONTACT_ID_MAX + 1];
};

/* A parsed event, kept while its deliveries go out. */
struct dv_event {
	int64_t		 row;		/* 0: empty */
	uint64_t	 used;		/* LRU clock */
	int64_t		 start_ms;	/* not_before, else received_at */
	int64_t		 expires_ms;	/* -1: never */
	int		 valid;		/* parsed: ev is set */
	char		 err[384];	/* why not */
	struct event	 ev;
	char		*topic;
	char		*post;
	char		*type;
	char		*doc;		/* canonical JSON, as stored */
};

/* A relay with its own copy of the config it was made from, so a reload
 * can free the old config while the old relay finishes. */
struct dv_relay {
	struct cfg_relay	 c;
	struct cfg_tls		 tls;
	struct smtp_relay	*r;
	struct dv_relay		*next;	/* retiring list */
};

struct dv_hook {
	struct cfg_webhooks	 c;
	struct cfg_tls		 tls;
	struct webhook		*w;
	struct dv_hook		*next;	/* retiring list */
};

struct deliver {
	struct daemon		*d;
	struct sqlite3		*db;
	sqlite3_stmt		*st[DV_ST_MAX];

	struct dv_flight	*fl;
	uint32_t		*freelist;
	size_t			 cap, nfree, inflight;
	size_t			 chan_inflight[DV_NCHAN];

	struct dv_relay		**relays;
	size_t			 nrelays, rr;
	struct dv_relay		*retiring_relays;
	struct dv_hook		*hook;
	struct dv_hook		*retiring_hooks;

	struct dv_event		 evc[DV_EVCACHE];
	uint64_t		 evclock;

	int			 paused;
	int			 stopping;
	int			 kicked;
	int			 fresh;		/* new work may be anywhere */
	/* Partitions (channel, priority, pending|deferred) found with no due
	 * delivery since the last fresh start: a run skips their queries
	 * until new work or a wake-up time says otherwise. */
	unsigned char		 dry[DV_NCHAN][PRIORITY_CRITICAL + 1][2];
	/* Per partition, the key of the last delivery handed over and not
	 * yet marked 'sending' on disk: claims look past it (dv_mark). */
	struct dv_cursor {
		int64_t		 next_at, event, contact;
		int		 set;
	}			 cursor[DV_NCHAN][PRIORITY_CRITICAL + 1][2];
	size_t			 nunmarked;
	int			 cursors;	/* one is set */

	/* What this transaction wrote of outcomes, to write again when its
	 * commit fails; while it is not stored, nothing new is taken. */
	struct dv_write		*wlog;
	size_t			 nwlog, wlogcap;
	int			 hold;		/* a commit failed */
	int			 need_replay;	/* wlog is not in this one */
	int64_t			 hold_retry;	/* next attempt, loop ms */
	int64_t			 hold_ms;	/* backoff */
	int			 more[DV_NCHAN];	/* room ran out last run */
	int64_t			 wake_wall;	/* earliest future next_at */
	int64_t			 next_sweep;
	int64_t			 swept_to;	/* expiry sweep: wall ms */
	uint64_t		 rng;

	/* Per second sent counts, the last DV_RATE_SECS seconds. */
	uint32_t		 rate[DV_NCHAN][DV_RATE_SECS];
	int64_t			 rate_sec;
	uint64_t		 total[DV_NCHAN][4];	/* sent, deferred, failed,
							   other */

	struct render_out	 out;
	struct buf		 msg;
	size_t			 msg_hint;	/* room the next one gets */
	struct buf		 body;
};

static void	dv_smtp_done(void *, const struct smtp_done *);
static void	dv_hook_done(void *, const struct webhook_done *);

static uint64_t
dv_random(struct deliver *dv)
{
	/* xorshift64*: jitter only, seeded from getrandom. */
	dv->rng ^= dv->rng >> 12;
	dv->rng ^= dv->rng << 25;
	dv->rng ^= dv->rng >> 27;
	return dv->rng * 2685821657736338717ULL;
}

/* ---- copies of config pieces the senders keep pointers into ---- */

static char *
dv_strdup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static void
dv_tls_free(struct cfg_tls *t)
{
	free(t->ca_file);
	free(t->cert_file);
	free(t->key_file);
	memset(t, 0, sizeof(*t));
}

/* The effective TLS files: own's fields, else global's. */
static int
dv_tls_copy(struct cfg_tls *dst, const struct cfg_tls *own,
    const struct cfg_tls *global)
{
	dst->ca_file = dv_strdup(own && own->ca_file ? own->ca_file :
	    global->ca_file);
	dst->cert_file = dv_strdup(own && own->cert_file ? own->cert_file :
	    global->cert_file);
	dst->key_file = dv_strdup(own && own->cert_file ? own->key_file :
	    global->key_file);
	return 0;
}

static void
dv_relay_free(struct dv_relay *r)
{
	if (r == NULL)
		return;
	smtp_relay_free(r->r);
	free(r->c.name);
	free(r->c.host);
	free(r->c.helo);
	free(r->c.credential);
	dv_tls_free(&r->tls);
	free(r);
}

static struct dv_relay *
dv_relay_new(struct deliver *dv, const struct cfg_relay *c,
    const struct cfg_tls *global, char *err, size_t errlen)
{
	struct dv_relay	*r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->c = *c;
	r->c.name = dv_strdup(c->name);
	r->c.host = dv_strdup(c->host);
	r->c.helo = dv_strdup(c->helo);
	r->c.credential = dv_strdup(c->credential);
	memset(&r->c.tls_files, 0, sizeof(r->c.tls_files));
	dv_tls_copy(&r->tls, &c->tls_files, global);
	if (r->c.name == NULL || r->c.host == NULL) {
		snprintf(err, errlen, "out of memory");
		dv_relay_free(r);
		return NULL;
	}
	if ((r->r = smtp_relay_new(dv->d->loop, &r->c, &r->tls, dv_smtp_done,
	    dv, err, errlen)) == NULL) {
		dv_relay_free(r);
		return NULL;
	}
	return r;
}

static void
dv_hook_free(struct dv_hook *h)
{
	if (h == NULL)
		return;
	webhook_free(h->w);
	free(h->c.secret_file);
	dv_tls_free(&h->tls);
	free(h);
}

static struct dv_hook *
dv_hook_new(struct deliver *dv, const struct cfg_webhooks *c,
    const struct cfg_tls *global, char *err, size_t errlen)
{
	struct dv_hook	*h;

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->c = *c;
	h->c.secret_file = dv_strdup(c->secret_file);
	dv_tls_copy(&h->tls, NULL, global);
	if ((h->w = webhook_new(dv->d->loop, &h->c, &h->tls, dv_hook_done, dv,
	    err, errlen)) == NULL) {
		dv_hook_free(h);
		return NULL;
	}
	return h;
}

/* Senders from the daemon's config into *relays / *hook.  0 or -1. */
static int
dv_senders(struct deliver *dv, const struct config *cfg,
    struct dv_relay ***relays, size_t *nrelays, struct dv_hook **hook,
    char *err, size_t errlen)
{
	char			 e[1024];
	size_t			 i;

	*relays = NULL;
	*nrelays = 0;
	*hook = NULL;
	if (cfg->nrelays > 0 &&
	    (*relays = calloc(cfg->nrelays, sizeof(**relays))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < cfg->nrelays; i++) {
		if (((*relays)[i] = dv_relay_new(dv, &cfg->relays[i],
		    &cfg->tls, e, sizeof(e))) == NULL) {
			snprintf(err, errlen, "smtp.relays %s: %s",
			    cfg->relays[i].name, e);
			goto fail;
		}
		(*nrelays)++;
	}
	if (cfg->webhooks.secret_file != NULL &&
	    (*hook = dv_hook_new(dv, &cfg->webhooks, &cfg->tls, e,
	    sizeof(e))) == NULL) {
		snprintf(err, errlen, "webhooks: %s", e);
		goto fail;
	}
	return 0;
fail:
	for (i = 0; i < *nrelays; i++)
		dv_relay_free((*relays)[i]);
	free(*relays);
	*relays = NULL;
	*nrelays = 0;
	return -1;
}

/* ---- the in-flight table ---- */

static uint64_t
dv_cookie(const struct deliver *dv, size_t slot)
{
	return ((uint64_t)dv->fl[slot].gen << 32) | (uint64_t)slot;
}

static struct dv_flight *
dv_flight_get(struct deliver *dv, uint64_t cookie)
{
	size_t	slot = (size_t)(cookie & 0xffffffffu);

	if (slot >= dv->cap || !dv->fl[slot].used ||
	    dv->fl[slot].gen != (uint32_t)(cookie >> 32))
		return NULL;
	return &dv->fl[slot];
}

static void
dv_flight_put(struct deliver *dv, struct dv_flight *f)
{
	if (f->unmarked) {
		f->unmarked = 0;
		dv->nunmarked--;
	}
	f->used = 0;
	f->gen++;
	dv->freelist[dv->nfree++] = (uint32_t)(f - dv->fl);
	dv->inflight--;
	dv->chan_inflight[f->channel]--;
}

/* ---- recording outcomes ---- */

static void
dv_rate_add(struct deliver *dv, int channel)
{
	int64_t	sec = loop_now_ms() / 1000, i;

	if (sec != dv->rate_sec) {
		for (i = dv->rate_sec + 1; i <= sec &&
		    i <= dv->rate_sec + DV_RATE_SECS; i++)
			dv->rate[DV_SMTP][i % DV_RATE_SECS] =
			    dv->rate[DV_WEBHOOK][i % DV_RATE_SECS] = 0;
		dv->rate_sec = sec;
	}
	dv->rate[channel][sec % DV_RATE_SECS]++;
}

/* One write of an outcome, kept until its transaction commits. */
struct dv_write {
	int64_t		 event;
	int64_t		 contact;	/* the contact's row */
	int64_t		 next_at;
	const char	*state;		/* static; NULL: a contact flag */
	char		*error;
	int		 channel;
	int		 attempts;
	int		 flag;		/* DV_ST_BOUNCE or DV_ST_GONE */
};

static void
dv_wlog_add(struct deliver *dv, const struct dv_write *w)
{
	struct dv_write	*p;
	size_t		 cap;

	if (dv->nwlog == dv->wlogcap) {
		cap = dv->wlogcap ? dv->wlogcap * 2 : 256;
		if ((p = reallocarray(dv->wlog, cap, sizeof(*p))) == NULL) {
			/* Without room to remember it, a failed commit would
			 * lose this outcome: fail the transaction now, so
			 * that the rows stay due (sent again, same id). */
			journal_write_failed(dv->d->jr, SQLITE_NOMEM);
			return;
		}
		dv->wlog = p;
		dv->wlogcap = cap;
	}
	dv->wlog[dv->nwlog] = *w;
	if (w->error != NULL &&
	    (dv->wlog[dv->nwlog].error = strdup(w->error)) == NULL) {
		journal_write_failed(dv->d->jr, SQLITE_NOMEM);
		return;
	}
	dv->nwlog++;
}

static void
dv_wlog_clear(struct deliver *dv)
{
	size_t	i;

	for (i = 0; i < dv->nwlog; i++)
		free(dv->wlog[i].error);
	dv->nwlog = 0;
}

static int	dv_set_once(struct deliver *, int64_t, int64_t, int,
		    const char *, int, int64_t, const char *);
static void	dv_contact_flag_once(struct deliver *, int, int64_t);

/* Write again, in the open transaction, what a failed commit lost. */
static void
dv_replay(struct deliver *dv)
{
	const struct dv_write	*w;
	size_t			 i;

	dv->need_replay = 0;
	for (i = 0; i < dv->nwlog; i++) {
		w = &dv->wlog[i];
		if (w->state == NULL)
			dv_contact_flag_once(dv, w->flag, w->contact);
		else
			(void)dv_set_once(dv, w->event, w->contact,
			    w->channel, w->state, w->attempts, w->next_at,
			    w->error);
	}
	if (dv->nwlog > 0)
		log_info("deliver: %zu outcomes written again", dv->nwlog);
}

/* Write one delivery's new state in the turn's transaction. */
static int
dv_set(struct deliver *dv, int64_t event, int64_t contact, int channel,
    const char *state, int attempts, int64_t next_at, const char *error)
{
	struct dv_write	w;
	int		rc;

	if (dv->need_replay)
		dv_replay(dv);
	rc = dv_set_once(dv, event, contact, channel, state, attempts,
	    next_at, error);
	/* Kept even when the write failed: the commit fails with it, and
	 * the write is made again (deliver_committed). */
	w.event = event;
	w.contact = contact;
	w.channel = channel;
	w.state = state;
	w.attempts = attempts;
	w.next_at = next_at;
	w.error = (char *)error;
	w.flag = 0;
	dv_wlog_add(dv, &w);
	return rc;
}

static void
dv_contact_flag(struct deliver *dv, int which, int64_t contact)
{
	struct dv_write	w;

	if (dv->need_replay)
		dv_replay(dv);
	dv_contact_flag_once(dv, which, contact);
	memset(&w, 0, sizeof(w));
	w.contact = contact;
	w.flag = which;
	dv_wlog_add(dv, &w);
}

static int
dv_set_once(struct deliver *dv, int64_t event, int64_t contact, int channel,
    const char *state, int attempts, int64_t next_at, const char *error)
{
	sqlite3_stmt	*st = dv->st[DV_ST_SET];
	int		 rc;

	if (journal_txn(dv->d->jr) == -1 || !journal_write_ok(dv->d->jr))
		return -1;
	sqlite3_bind_int64(st, 1, event);
	sqlite3_bind_int64(st, 2, contact);
	sqlite3_bind_text(st, 3, dv_chan_name[channel], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, state, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, attempts);
	sqlite3_bind_int64(st, 6, next_at);
	if (error != NULL)
		sqlite3_bind_text(st, 7, error, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 7);
	sqlite3_bind_int64(st, 8, loop_wall_ms());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		journal_write_failed(dv->d->jr, rc);
		log_warnx("deliver: update event=%" PRId64 " contact=%" PRId64
		    ": %s", event, contact, sqlite3_errmsg(dv->db));
		return -1;
	}
	dv->d->dirty = 1;
	return 0;
}

static void
dv_contact_flag_once(struct deliver *dv, int which, int64_t contact)
{
	sqlite3_stmt	*st = dv->st[which];
	int		 rc;

	if (journal_txn(dv->d->jr) == -1 || !journal_write_ok(dv->d->jr))
		return;
	sqlite3_bind_int64(st, 1, contact);
	sqlite3_bind_int64(st, 2, loop_wall_ms());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		journal_write_failed(dv->d->jr, rc);
}

/* The delay before attempt n + 1 after n failed ones: exponential from
 * the priority's first delay, capped, with "equal jitter" (half fixed,
 * half random) so retries of one burst spread out. */
static int64_t
dv_backoff(struct deliver *dv, int priority, int attempts)
{
	const struct cfg_delivery *c = &dv->d->cfg->delivery;
	int64_t	 delay = c->retry_first_ms[priority];
	int	 i;

	for (i = 1; i < attempts && delay < c->retry_max_ms[priority]; i++)
		delay *= 2;
	if (delay > c->retry_max_ms[priority])
		delay = c->retry_max_ms[priority];
	return delay / 2 + (int64_t)(dv_random(dv) % (uint64_t)(delay / 2 +
	    1));
}

enum dv_outcome {
	DV_SENT,
	DV_TEMP,
	DV_PERM,
	DV_BOUNCED,
	DV_GONE,
	DV_NOT_SENT,
};

/* A sender reported flight f: record it and free the slot. */
static void
dv_outcome(struct deliver *dv, struct dv_flight *f, enum dv_outcome o,
    const char *text, int64_t retry_after_ms)
{
	int64_t	 now = loop_wall_ms(), next;
	int	 attempts = f->attempts + (o == DV_NOT_SENT ? 0 : 1);
	int	 life = dv->d->cfg->delivery.lifetime_s[f->priority];
	char	 why[768];

	switch (o) {
	case DV_SENT:
		dv_set(dv, f->event, f->contact, f->channel, "sent", attempts,
		    now, NULL);
		dv_rate_add(dv, f->channel);
		dv->total[f->channel][0]++;
		log_debug("deliver: sent %s contact=%s event=%" PRId64
		    " attempts=%d", dv_chan_name[f->channel], f->ext_id,
		    f->event, attempts);
		break;
	case DV_TEMP:
		if (f->expires_ms >= 0 && now >= f->expires_ms) {
			dv_set(dv, f->event, f->contact, f->channel, "expired",
			    attempts, now, text);
			dv->total[f->channel][3]++;
			break;
		}
		next = retry_after_ms >= 0 ? retry_after_ms :
		    dv_backoff(dv, f->priority, attempts);
		if (now + next > f->start_ms + (int64_t)life * 1000) {
			snprintf(why, sizeof(why), "gave up after %d attempts"
			    " in %ds: %s", attempts, life, text);
			dv_set(dv, f->event, f->contact, f->channel, "failed",
			    attempts, now, why);
			dv->total[f->channel][2]++;
			log_warnx("deliver: failed %s contact=%s event=%" PRId64
			    ": %s", dv_chan_name[f->channel], f->ext_id,
			    f->event, why);
			break;
		}
		dv_set(dv, f->event, f->contact, f->channel, "deferred",
		    attempts, now + next, text);
		dv->total[f->channel][1]++;
		log_info("deliver: deferred %s contact=%s event=%" PRId64
		    " attempts=%d retry_in_ms=%" PRId64 ": %s",
		    dv_chan_name[f->channel], f->ext_id, f->event, attempts,
		    next, text);
		if (dv->wake_wall == 0 || now + next < dv->wake_wall)
			dv->wake_wall = now + next;
		break;
	case DV_BOUNCED:
		dv_contact_flag(dv, DV_ST_BOUNCE, f->contact);
		/* FALLTHROUGH */
	case DV_GONE:
		if (o == DV_GONE)
			dv_contact_flag(dv, DV_ST_GONE, f->contact);
		/* FALLTHROUGH */
	case DV_PERM:
		dv_set(dv, f->event, f->contact, f->channel, "failed",
		    attempts, now, text);
		dv->total[f->channel][2]++;
		log_warnx("deliver: failed %s contact=%s event=%" PRId64 "%s:"
		    " %s", dv_chan_name[f->channel], f->ext_id, f->event,
		    o == DV_BOUNCED ? " (contact bounced)" : o == DV_GONE ?
		    " (endpoint gone)" : "", text);
		break;
	case DV_NOT_SENT:
		dv_set(dv, f->event, f->contact, f->channel, "pending",
		    f->attempts, now, NULL);
		break;
	}
	dv_flight_put(dv, f);
	/* Room again: look for more if the last run ran out of it. */
	if (dv->more[f->channel])
		dv->kicked = 1;
	if (o == DV_NOT_SENT)
		dv->kicked = dv->fresh = 1;
}

static void
dv_smtp_done(void *arg, const struct smtp_done *sd)
{
	struct deliver		*dv = arg;
	struct dv_flight	*f;
	enum dv_outcome		 o;

	if ((f = dv_flight_get(dv, sd->cookie)) == NULL) {
		log_warnx("deliver: smtp reported an unknown delivery");
		return;
	}
	switch (sd->result) {
	case SMTP_SENT:
		o = DV_SENT;
		break;
	case SMTP_TEMPFAIL:
		o = DV_TEMP;
		break;
	case SMTP_BOUNCED:
		o = DV_BOUNCED;
		break;
	case SMTP_NOT_SENT:
		o = DV_NOT_SENT;
		break;
	default:
		o = DV_PERM;
		break;
	}
	dv_outcome(dv, f, o, sd->text ? sd->text : "", -1);
}

static void
dv_hook_done(void *arg, const struct webhook_done *wd)
{
	struct deliver		*dv = arg;
	struct dv_flight	*f;
	enum dv_outcome		 o;

	if ((f = dv_flight_get(dv, wd->cookie)) == NULL) {
		log_warnx("deliver: webhook reported an unknown delivery");
		return;
	}
	switch (wd->result) {
	case WEBHOOK_SENT:
		o = DV_SENT;
		break;
	case WEBHOOK_RETRY:
		o = DV_TEMP;
		break;
	case WEBHOOK_GONE:
		o = DV_GONE;
		break;
	case WEBHOOK_NOT_SENT:
		o = DV_NOT_SENT;
		break;
	default:
		o = DV_PERM;
		break;
	}
	dv_outcome(dv, f, o, wd->text ? wd->text : "", wd->retry_after_ms);
}

/* ---- rendering ---- */

static void
dv_event_clear(struct dv_event *e)
{
	if (e->valid)
		event_clear(&e->ev);
	free(e->topic);
	free(e->post);
	free(e->type);
	free(e->doc);
	memset(e, 0, sizeof(*e));
}

/* Parse e's stored document as it is valid now: 0, or -1 with e->err. */
static int
dv_event_parse(struct deliver *dv, struct dv_event *e)
{
	const struct cfg_post	*post;
	struct event_rules	 rules;
	struct event_error	 ee;
	const char		*types[1];

	if ((post = config_post(dv->d->cfg, e->post)) == NULL) {
		snprintf(e->err, sizeof(e->err), "post %s is no longer"
		    " configured", e->post);
		return -1;
	}
	/* The event was valid when taken in; the type list may have
	 * changed since, so accept its own type. */
	types[0] = e->type;
	memset(&rules, 0, sizeof(rules));
	rules.max_bytes = strlen(e->doc) + 1;
	rules.types = types;
	rules.ntypes = 1;
	rules.default_lang = post->lang;
	if (event_parse(e->topic, strlen(e->topic), e->doc, strlen(e->doc),
	    &rules, &e->ev, &ee) == -1) {
		snprintf(e->err, sizeof(e->err), "event %" PRId64 " no longer"
		    " validates: %s", e->row, ee.message);
		return -1;
	}
	return 0;
}

/* The event of row, from the cache or the journal: its times always,
 * and when it still validates (e->valid) its parse, else why not in
 * e->err.  NULL with err only when it cannot be read.  The cache is
 * emptied at a reload, which may change what validates. */
static struct dv_event *
dv_event_get(struct deliver *dv, int64_t row, char *err, size_t errlen)
{
	struct dv_event		*e, *victim = &dv->evc[0];
	sqlite3_stmt		*st = dv->st[DV_ST_EVENT];
	size_t			 i;
	int			 rc;

	for (i = 0; i < DV_EVCACHE; i++) {
		e = &dv->evc[i];
		if (e->row == row) {
			e->used = ++dv->evclock;
			return e;
		}
		if (e->used < victim->used)
			victim = e;
	}
	e = victim;
	dv_event_clear(e);
	sqlite3_bind_int64(st, 1, row);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		snprintf(err, errlen, "event %" PRId64 " is not in the journal",
		    row);
		return NULL;
	}
	e->topic = dv_strdup((const char *)sqlite3_column_text(st, 0));
	e->post = dv_strdup((const char *)sqlite3_column_text(st, 1));
	e->type = dv_strdup((const char *)sqlite3_column_text(st, 2));
	e->doc = dv_strdup((const char *)sqlite3_column_text(st, 3));
	e->start_ms = sqlite3_column_type(st, 5) == SQLITE_NULL ?
	    sqlite3_column_int64(st, 4) : sqlite3_column_int64(st, 5);
	e->expires_ms = sqlite3_column_type(st, 6) == SQLITE_NULL ? -1 :
	    sqlite3_column_int64(st, 6);
	sqlite3_reset(st);
	if (e->topic == NULL || e->post == NULL || e->type == NULL ||
	    e->doc == NULL) {
		snprintf(err, errlen, "out of memory");
		dv_event_clear(e);
		return NULL;
	}
	e->row = row;
	e->used = ++dv->evclock;
	e->valid = dv_event_parse(dv, e) == 0;
	return e;
}

/* A contact's stored languages as a JSON array.  They are stored as
 * contacts.c writes them, ["en","fr-CA"]: that form is read here without
 * jansson's parser, once per delivery; anything else goes to it. */
static json_t *
dv_languages(const char *s)
{
	json_t		*a;
	const char	*p, *q;
	char		 tag[64];

	if (s == NULL)
		return NULL;
	if (s[0] != '[' || (a = json_array()) == NULL)
		return json_loads(s, 0, NULL);
	for (p = s + 1; *p == '"'; p = q + 2) {
		for (q = p + 1; isalnum((unsigned char)*q) || *q == '-'; q++)
			;
		if (*q != '"' || q - p - 1 == 0 ||
		    (size_t)(q - p - 1) >= sizeof(tag) ||
		    (q[1] != ',' && q[1] != ']'))
			break;
		memcpy(tag, p + 1, (size_t)(q - p - 1));
		tag[q - p - 1] = '\0';
		json_array_append_new(a, json_string(tag));
		if (q[1] == ']') {
			if (q[2] != '\0')
				break;
			return a;
		}
	}
	if (*p == ']' && p == s + 1 && p[1] == '\0')
		return a;			/* [] */
	json_decref(a);
	return json_loads(s, 0, NULL);
}

/* The contact JSON a notice needs, from a DV_ST_CLAIM row: what the
 * templates may see (render.c's allow-list), the languages for the chain,
 * and the address or URL to send to. */
static json_t *
dv_contact_json(sqlite3_stmt *st)
{
	static const struct {
		const char	*key;
		int		 col;
	} text[] = {
		{ "id", CL_EXT_ID }, { "name", CL_NAME },
		{ "email", CL_EMAIL }, { "webhook_url", CL_WEBHOOK_URL },
		{ "country", CL_COUNTRY }, { "region", CL_REGION },
		{ "city", CL_CITY },
	};
	json_t		*o = json_object(), *v;
	const char	*s;
	size_t		 i;

	for (i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
		s = (const char *)sqlite3_column_text(st, text[i].col);
		if (s != NULL && *s != '\0')
			json_object_set_new(o, text[i].key, json_string(s));
	}
	s = (const char *)sqlite3_column_text(st, CL_LANGUAGES);
	v = dv_languages(s);
	json_object_set_new(o, "languages", v ? v : json_array());
	return o;
}

/* RFC 3339 UTC, seconds. */
static void
dv_rfc3339(int64_t ms, char *out, size_t outlen)
{
	time_t		t = (time_t)(ms / 1000);
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* s (len bytes, valid UTF-8) as a JSON string onto b: runs that need no
 * escape are copied whole; '"', '\\' and control characters escaped.
 * jansson's dump goes byte by byte through a callback, which was a fifth
 * of a webhook's cost with an HTML part in it. */
static int
dv_json_str(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char	*p = (const unsigned char *)s, *end = p + len;
	const unsigned char	*run;
	char			 esc[7];
	int			 rc = buf_addc(b, '"');

	while (p < end && rc == 0) {
		for (run = p; p < end && *p >= 0x20 && *p != '"' && *p != '\\';
		    p++)
			;
		if (p > run)
			rc = buf_add(b, run, (size_t)(p - run));
		if (p == end || rc != 0)
			break;
		switch (*p) {
		case '"':
			rc = buf_add(b, "\\\"", 2);
			break;
		case '\\':
			rc = buf_add(b, "\\\\", 2);
			break;
		case '\n':
			rc = buf_add(b, "\\n", 2);
			break;
		case '\r':
			rc = buf_add(b, "\\r", 2);
			break;
		case '\t':
			rc = buf_add(b, "\\t", 2);
			break;
		default:
			esc[0] = '\\';
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 15];
			rc = buf_add(b, esc, 6);
			break;
		}
		p++;
	}
	if (rc == 0)
		rc = buf_addc(b, '"');
	return rc;
}

static int
dv_json_field(struct buf *b, const char *key, const char *v, int comma)
{
	if ((comma && buf_addc(b, ',') != 0) || buf_addc(b, '"') != 0 ||
	    buf_adds(b, key) != 0 || buf_add(b, "\":", 2) != 0)
		return -1;
	return dv_json_str(b, v != NULL ? v : "", v != NULL ? strlen(v) : 0);
}

/* The webhook body for one notice into dv->body: Standard Webhooks'
 * {type, timestamp, data}; data carries the post, topic, the event (its
 * stored canonical JSON, as is), the contact by id only, the language
 * and the rendered notice (subject, text, unsubscribe URL). */
static int
dv_webhook_body(struct deliver *dv, struct dv_event *e, json_t *contact,
    char *err, size_t errlen)
{
	struct render_in	 ri;
	struct buf		 unsub, *b = &dv->body;
	const struct cfg_post	*post = config_post(dv->d->cfg, e->post);
	const char		*cid;
	char			 ts[40];
	int			 rc = -1;

	cid = json_string_value(json_object_get(contact, "id"));
	buf_init(&unsub, 4096);
	if (notice_unsubscribe_url(dv->d->cfg, journal_secret(dv->d->jr),
	    JOURNAL_SECRET_LEN, cid, e->post, &unsub) == -1) {
		snprintf(err, errlen, "contact %s: cannot make the unsubscribe "
		    "token", cid);
		goto out;
	}
	memset(&ri, 0, sizeof(ri));
	ri.event = &e->ev;
	ri.topic = e->topic;
	ri.post = post;
	ri.contact = contact;
	ri.unsubscribe_url = unsub.len ? unsub.data : NULL;
	/* Subject and text: the HTML part is for mail readers, and would be
	 * two thirds of every body. */
	if (render_notice(dv->d->sets, &ri, RENDER_NO_HTML, &dv->out, err,
	    errlen) == -1)
		goto out;
	dv_rfc3339(loop_wall_ms(), ts, sizeof(ts));
	buf_reset(b);
	if (buf_adds(b, "{\"type\":\"outreach.notice\",\"timestamp\":\"") ||
	    buf_adds(b, ts) || buf_adds(b, "\",\"data\":{") ||
	    dv_json_field(b, "post", e->post, 0) ||
	    dv_json_field(b, "topic", e->topic, 1) ||
	    buf_adds(b, ",\"event\":") || buf_adds(b, e->doc) ||
	    dv_json_field(b, "contact", cid, 1) ||
	    dv_json_field(b, "language", dv->out.lang, 1) ||
	    dv_json_field(b, "content_language", dv->out.content_language,
	    1) || buf_adds(b, ",\"notice\":{") ||
	    dv_json_field(b, "subject", dv->out.subject.data, 0) ||
	    dv_json_field(b, "text", dv->out.text.data, 1) ||
	    (dv->out.has_html && dv->out.html.data &&
	    dv_json_field(b, "html", dv->out.html.data, 1)) ||
	    (unsub.len && dv_json_field(b, "unsubscribe_url", unsub.data, 1)) ||
	    buf_adds(b, "}}}")) {
		snprintf(err, errlen, "contact %s: the webhook body is too "
		    "large", cid);
		goto out;
	}
	rc = 0;
out:
	buf_free(&unsub);
	return rc;
}

/* Render and hand over one claimed row (st on it) through channel.
 * Returns 1 handed over, 0 settled otherwise (skipped, expired, failed),
 * -1 when no sender could take it (left for later). */
static int
dv_dispatch(struct deliver *dv, sqlite3_stmt *st, int channel, int priority)
{
	struct dv_flight	*f;
	struct dv_event		*e;
	struct notice_in	 ni;
	json_t			*contact = NULL;
	const char		*status, *cid, *from, *email, *url;
	char			 err[768], hash[CONTACT_DELIVERY_HASH_SIZE];
	char			 hookid[CONTACT_DELIVERY_HASH_SIZE + 8];
	int64_t			 event, crow, now = loop_wall_ms(), expires;
	int64_t			 start;
	int			 attempts, rc = 0;
	size_t			 i, slot;

	event = sqlite3_column_int64(st, CL_EVENT);
	crow = sqlite3_column_int64(st, CL_CONTACT);
	attempts = sqlite3_column_int(st, CL_ATTEMPTS);
	status = (const char *)sqlite3_column_text(st, CL_STATUS);
	cid = (const char *)sqlite3_column_text(st, CL_EXT_ID);
	if (cid == NULL)
		cid = "?";

	if (status == NULL || strcmp(status, "active") != 0) {
		snprintf(err, sizeof(err), "the contact is %s",
		    status ? status : "gone");
		dv_set(dv, event, crow, channel, "skipped", attempts, now, err);
		return 0;
	}
	if (channel == DV_WEBHOOK &&
	    sqlite3_column_int(st, CL_WEBHOOK_GONE) != 0) {
		dv_set(dv, event, crow, channel, "skipped", attempts, now,
		    "the endpoint answered 410 Gone earlier");
		return 0;
	}
	if ((e = dv_event_get(dv, event, err, sizeof(err))) == NULL) {
		dv_set(dv, event, crow, channel, "failed", attempts, now, err);
		return 0;
	}
	start = e->start_ms;
	expires = e->expires_ms;
	if (expires >= 0 && now >= expires) {
		dv_set(dv, event, crow, channel, "expired", attempts, now,
		    "the event expired before it was sent");
		return 0;
	}
	if (!e->valid) {
		dv_set(dv, event, crow, channel, "failed", attempts, now,
		    e->err);
		return 0;
	}
	contact = dv_contact_json(st);

	if (channel == DV_SMTP) {
		memset(&ni, 0, sizeof(ni));
		ni.cfg = dv->d->cfg;
		ni.secret = journal_secret(dv->d->jr);
		ni.secretlen = JOURNAL_SECRET_LEN;
		ni.event = &e->ev;
		ni.topic = e->topic;
		ni.post = config_post(dv->d->cfg, e->post);
		ni.contact = contact;
		ni.event_row = event;
		ni.contact_row = crow;
		ni.date = (time_t)(now / 1000);
		/* The sender keeps each message's buffer: the next one
		 * starts with the room the last one took, not from 256
		 * bytes doubling. */
		if (dv->msg.len == 0 && dv->msg_hint > 0)
			(void)buf_reserve(&dv->msg, dv->msg_hint);
		if (notice_email(dv->d->sets, &ni, &dv->out, &dv->msg, err,
		    sizeof(err)) == -1) {
			dv_set(dv, event, crow, channel, "failed", attempts,
			    now, err);
			goto out;
		}
		dv->msg_hint = dv->msg.len < DV_MSG_HINT_MAX ?
		    dv->msg.len + dv->msg.len / 8 : DV_MSG_HINT_MAX;
	} else if (dv_webhook_body(dv, e, contact, err, sizeof(err)) == -1) {
		dv_set(dv, event, crow, channel, "failed", attempts, now, err);
		goto out;
	}

	/* A slot, then the sender. */
	slot = dv->freelist[--dv->nfree];
	f = &dv->fl[slot];
	f->used = 1;
	f->event = event;
	f->contact = crow;
	f->channel = channel;
	f->priority = priority;
	f->attempts = attempts;
	f->unmarked = 1;	/* before a sender can report on it */
	dv->nunmarked++;
	f->start_ms = start;
	f->expires_ms = expires;
	snprintf(f->ext_id, sizeof(f->ext_id), "%s", cid);
	dv->inflight++;
	dv->chan_inflight[channel]++;
	/* 'sending' is written only if it is still in flight when the
	 * transaction is about to commit (deliver_mark). */
	if (channel == DV_SMTP) {
		const struct cfg_post *post = config_post(dv->d->cfg, e->post);

		from = dv->d->cfg->mail_from ? dv->d->cfg->mail_from :
		    post ? post->email : NULL;
		email = json_string_value(json_object_get(contact, "email"));
		rc = -1;
		for (i = 0; i < dv->nrelays && from && email; i++) {
			struct dv_relay *r = dv->relays[(dv->rr + i) %
			    dv->nrelays];

			if (smtp_relay_room(r->r) == 0)
				continue;
			if (smtp_relay_submit(r->r, from, email, &dv->msg,
			    dv_cookie(dv, slot)) == 0) {
				dv->rr = (dv->rr + i + 1) % dv->nrelays;
				rc = 1;
				break;
			}
		}
	} else {
		url = json_string_value(json_object_get(contact,
		    "webhook_url"));
		contact_delivery_hash(journal_secret(dv->d->jr),
		    JOURNAL_SECRET_LEN, event, crow, "webhook", hash,
		    sizeof(hash));
		snprintf(hookid, sizeof(hookid), "msg_%s", hash);
		rc = url != NULL && webhook_submit(dv->hook->w, url, hookid,
		    dv->body.data, dv->body.len, dv_cookie(dv, slot)) == 0 ?
		    1 : -1;
		if (rc == -1 && url != NULL && webhook_room(dv->hook->w) > 0) {
			/* Room but refused: the URL itself is wrong. */
			dv_set(dv, event, crow, channel, "failed", attempts + 1,
			    now, "the webhook URL is not a valid https URL");
			dv_flight_put(dv, f);
			rc = 0;
			goto out;
		}
	}
	if (rc == -1)
		/* No room after all: it stays where it is, untaken. */
		dv_flight_put(dv, f);
out:
	json_decref(contact);
	return rc;
}

/* ---- the scheduler's run ---- */

static size_t
dv_room(struct deliver *dv, int channel)
{
	size_t	room = 0, i, cap;

	/* Without a sender for a channel its deliveries stay pending. */
	if (channel == DV_SMTP) {
		for (i = 0; i < dv->nrelays; i++)
			room += smtp_relay_room(dv->relays[i]->r);
	} else if (dv->hook != NULL)
		room = webhook_room(dv->hook->w);
	cap = (size_t)dv->d->cfg->delivery.max_in_flight;
	if (cap > dv->cap)
		cap = dv->cap;
	if (dv->inflight >= cap)
		return 0;
	if (room > cap - dv->inflight)
		room = cap - dv->inflight;
	return room;
}

/*
 * 'sending' on disk.  A delivery handed to a sender stays 'pending' (or
 * 'deferred') in the open transaction, and the claim queries of its
 * partition look past it (the cursor: its rows go in next_at, event,
 * contact order).  Most are settled within the 20 ms a transaction stays
 * open and go from 'pending' to 'sent' in one row write; those still in
 * flight when it is about to commit, or when anything else reads or
 * changes deliveries (a control command, the expiry sweep), are marked
 * 'sending' here, and the cursors start over.  On disk nothing changes:
 * a commit never holds a delivery in flight as 'pending'.  A failure here
 * fails the transaction: the cursors keep claims off the rows, and
 * deliver_committed has the marks written again.
 */
void
deliver_mark(struct deliver *dv)
{
	sqlite3_stmt		*st;
	struct dv_flight	*f;
	int64_t			 now;
	size_t			 i;
	int			 rc;

	if (dv == NULL)
		return;
	/* Unless every mark is written, the cursors stay: claims go on
	 * looking past what is in flight, and a failed transaction is
	 * handed to deliver_committed. */
	if (dv->nunmarked > 0) {
		if (journal_txn(dv->d->jr) == -1 ||
		    !journal_write_ok(dv->d->jr))
			return;
		st = dv->st[DV_ST_TAKEN];
		now = loop_wall_ms();
		for (i = 0; i < dv->cap && dv->nunmarked > 0; i++) {
			f = &dv->fl[i];
			if (!f->used || !f->unmarked)
				continue;
			sqlite3_bind_int64(st, 1, f->event);
			sqlite3_bind_int64(st, 2, f->contact);
			sqlite3_bind_text(st, 3, dv_chan_name[f->channel], -1,
			    SQLITE_STATIC);
			sqlite3_bind_int64(st, 4, now);
			rc = sqlite3_step(st);
			sqlite3_reset(st);
			if (rc != SQLITE_DONE) {
				journal_write_failed(dv->d->jr, rc);
				log_warnx("deliver: marking sending: %s",
				    sqlite3_errmsg(dv->db));
				return;
			}
			f->unmarked = 0;
			dv->nunmarked--;
		}
		dv->d->dirty = 1;
	}
	if (dv->cursors) {
		memset(dv->cursor, 0, sizeof(dv->cursor));
		dv->cursors = 0;
		/* What a cursor hid (a row added below it) is due again. */
		dv->kicked = dv->fresh = 1;
	}
}

/*
 * After each commit.  A failed one took with it the outcomes written in
 * it and the 'sending' marks: the outcomes are written again (dv_replay)
 * in a later transaction, the marks too (deliver_mark), and until a
 * commit has stored them nothing new is taken.  So a journal that cannot
 * commit (a full disk) loses no outcome and sends nothing twice: taking
 * on would hand out again what is in flight or already sent.
 */
void
deliver_committed(struct deliver *dv, int rc)
{
	size_t	i;

	if (dv == NULL)
		return;
	if (rc == 0) {
		if (dv->need_replay)
			return;		/* not this transaction's business */
		dv_wlog_clear(dv);
		if (dv->hold) {
			log_notice("deliver: outcomes stored again; sending"
			    " resumes");
			dv->hold = 0;
			dv->hold_ms = 0;
			dv->kicked = dv->fresh = 1;
		}
		return;
	}
	memset(dv->cursor, 0, sizeof(dv->cursor));
	dv->cursors = 0;
	/* Nothing of delivery was lost with it (an intake-only turn while
	 * nothing is in flight): sending goes on. */
	if (dv->nwlog == 0 && dv->inflight == 0 && !dv->need_replay)
		return;
	for (i = 0; i < dv->cap; i++)
		if (dv->fl[i].used && !dv->fl[i].unmarked) {
			dv->fl[i].unmarked = 1;
			dv->nunmarked++;
		}
	if (!dv->hold)
		log_warnx("deliver: a commit failed; %zu outcomes kept to be"
		    " written again, nothing new is sent until they are"
		    " stored", dv->nwlog);
	dv->hold = 1;
	dv->need_replay = 1;
	dv->hold_ms = dv->hold_ms == 0 ? DV_HOLD_FIRST_MS :
	    dv->hold_ms * 2 > DV_HOLD_MAX_MS ? DV_HOLD_MAX_MS : dv->hold_ms * 2;
	dv->hold_retry = loop_now_ms() + dv->hold_ms;
}

/* Take due deliveries of one channel, most urgent first, while there is
 * room and time.  Returns how many were handed over or settled. */
static int
dv_claim(struct deliver *dv, int channel, int64_t start_mono)
{
	static const char *const states[] = { "pending", "deferred" };
	sqlite3_stmt	*st = dv->st[DV_ST_CLAIM];
	int64_t		 now = loop_wall_ms(), next_at;
	size_t		 room;
	int64_t		 last_at = 0, last_ev = 0, last_ct = 0;
	struct dv_cursor *cur;
	int		 prio, s, rc, n = 0, r, stop = 0, taken = 0;

	dv->more[channel] = 0;
	for (prio = PRIORITY_CRITICAL; prio >= PRIORITY_LOW && !stop; prio--) {
		for (s = 0; s < 2 && !stop; s++) {
			if (dv->dry[channel][prio][s])
				continue;
			if ((room = dv_room(dv, channel)) == 0) {
				dv->more[channel] = 1;
				stop = 1;
				break;
			}
			sqlite3_bind_text(st, 1, states[s], -1, SQLITE_STATIC);
			sqlite3_bind_int(st, 2, prio);
			sqlite3_bind_text(st, 3, dv_chan_name[channel], -1,
			    SQLITE_STATIC);
			sqlite3_bind_int64(st, 4, (int64_t)room + 1);
			cur = &dv->cursor[channel][prio][s];
			sqlite3_bind_int64(st, 5, cur->set ? cur->next_at :
			    INT64_MIN);
			sqlite3_bind_int64(st, 6, cur->event);
			sqlite3_bind_int64(st, 7, cur->contact);
			sqlite3_bind_int64(st, 8,
			    journal_new_event_floor(dv->d->jr));
			while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
				next_at = sqlite3_column_int64(st, CL_NEXT_AT);
				if (next_at > now) {
					if (dv->wake_wall == 0 ||
					    next_at < dv->wake_wall)
						dv->wake_wall = next_at;
					break;
				}
				if (dv_room(dv, channel) == 0 ||
				    n >= dv->d->cfg->delivery.batch ||
				    loop_now_ms() - start_mono >
				    DV_RUN_BUDGET_MS) {
					dv->more[channel] = 1;
					stop = 1;
					break;
				}
				r = dv_dispatch(dv, st, channel, prio);
				if (r == -1) {
					dv->more[channel] = 1;
					stop = 1;
					break;
				}
				if (r == 1) {
					taken = 1;
					last_at = next_at;
					last_ev = sqlite3_column_int64(st,
					    CL_EVENT);
					last_ct = sqlite3_column_int64(st,
					    CL_CONTACT);
				}
				n++;
			}
			if (rc != SQLITE_ROW && rc != SQLITE_DONE)
				log_warnx("deliver: claim: %s",
				    sqlite3_errmsg(dv->db));
			else if (!stop)
				/* Ran out of due rows: nothing more here
				 * until new work or the wake-up time. */
				dv->dry[channel][prio][s] = 1;
			sqlite3_reset(st);
			if (taken) {
				cur->next_at = last_at;
				cur->event = last_ev;
				cur->contact = last_ct;
				cur->set = dv->cursors = 1;
				/* An open transaction: its commit, at most
				 * COMMIT_DELAY_MS away, marks what is still in
				 * flight (dv_mark). */
				(void)journal_txn(dv->d->jr);
			}
			taken = 0;
		}
	}
	return n;
}

static void
dv_sweep(struct deliver *dv)
{
	sqlite3_stmt	*st = dv->st[DV_ST_EXPIRE], *chk;
	int64_t		 now = loop_wall_ms();
	int		 rc;
	struct dv_relay	*r, **rp;
	struct dv_hook	*h, **hp;

	dv->next_sweep = loop_now_ms() + DV_SWEEP_MS;
	/* Retired senders go once they have nothing in flight. */
	for (rp = &dv->retiring_relays; (r = *rp) != NULL;) {
		if (smtp_relay_idle(r->r)) {
			*rp = r->next;
			dv_relay_free(r);
		} else
			rp = &r->next;
	}
	for (hp = &dv->retiring_hooks; (h = *hp) != NULL;) {
		if (webhook_idle(h->w)) {
			*hp = h->next;
			dv_hook_free(h);
		} else
			hp = &h->next;
	}
	/* Most sweeps find nothing: look before opening a transaction. */
	chk = dv->st[DV_ST_EXPIRING];
	sqlite3_bind_int64(chk, 1, now);
	sqlite3_bind_int64(chk, 2, dv->swept_to);
	rc = sqlite3_step(chk);
	sqlite3_reset(chk);
	if (rc == SQLITE_DONE) {
		dv->swept_to = now;
		return;
	}
	deliver_mark(dv);	/* what is in flight does not expire */
	if (journal_txn(dv->d->jr) == -1 || !journal_write_ok(dv->d->jr))
		return;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, dv->swept_to);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		journal_write_failed(dv->d->jr, rc);
		return;
	}
	if (sqlite3_changes(dv->db) > 0) {
		log_info("deliver: expired deliveries=%d",
		    sqlite3_changes(dv->db));
		dv->d->dirty = 1;
	}
	dv->swept_to = now;
}

static int64_t
dv_due(void *arg)
{
	struct deliver	*dv = arg;
	int64_t		 now = loop_now_ms(), due = dv->next_sweep, w;

	if (dv->stopping)
		return due;
	if (dv->hold)
		return dv->need_replay ? dv->hold_retry : due;
	if (dv->paused)
		return due;
	if (dv->kicked)
		return now;
	/* A relay out of room only for its backoff or rate limit says when
	 * it will have some again. */
	if (dv->more[DV_SMTP]) {
		size_t i;

		for (i = 0; i < dv->nrelays; i++) {
			w = smtp_relay_room_at(dv->relays[i]->r);
			if (w >= 0 && w < due)
				due = w > now ? w : now;
		}
	}
	if (dv->wake_wall != 0) {
		w = now + (dv->wake_wall - loop_wall_ms());
		if (w < due)
			due = w;
	}
	return due;
}

static void
dv_run(void *arg)
{
	struct deliver	*dv = arg;
	int64_t		 start = loop_now_ms();
	int		 c;

	if (dv->hold) {
		/* Nothing new until what a failed commit lost is stored. */
		if (dv->need_replay && start >= dv->hold_retry &&
		    journal_txn(dv->d->jr) == 0) {
			dv_replay(dv);
			dv->d->dirty = 1;
			dv->hold_retry = start + dv->hold_ms;
		}
		return;
	}
	if (start >= dv->next_sweep)
		dv_sweep(dv);
	if (dv->stopping || dv->paused)
		return;
	if (!dv->kicked && (dv->wake_wall == 0 || loop_wall_ms() <
	    dv->wake_wall) && !(dv->more[DV_SMTP] && dv_room(dv, DV_SMTP) >
	    0))
		return;
	if (dv->fresh || (dv->wake_wall != 0 && loop_wall_ms() >=
	    dv->wake_wall)) {
		memset(dv->dry, 0, sizeof(dv->dry));
		dv->fresh = 0;
	}
	dv->kicked = 0;
	dv->wake_wall = 0;
	for (c = 0; c < DV_NCHAN; c++)
		dv_claim(dv, c, start);
	/* Look again next turn when a channel stopped for time, and at
	 * worst every DV_IDLE_MS. */
	if ((dv->more[DV_SMTP] && dv_room(dv, DV_SMTP) > 0) ||
	    (dv->more[DV_WEBHOOK] && dv_room(dv, DV_WEBHOOK) > 0))
		dv->kicked = 1;
	if (dv->wake_wall == 0 || dv->wake_wall > loop_wall_ms() + DV_IDLE_MS)
		dv->wake_wall = loop_wall_ms() + DV_IDLE_MS;
}

/* ---- life cycle ---- */

static int
dv_paused_read(struct deliver *dv)
{
	sqlite3_stmt	*st = dv->st[DV_ST_PAUSED_GET];
	int		 v = 0;

	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	return v != 0;
}

struct deliver *
deliver_new(struct daemon *d, char *err, size_t errlen)
{
	struct deliver	*dv;
	sqlite3_stmt	*st;
	size_t		 i;
	int		 rc;

	if ((dv = calloc(1, sizeof(*dv))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	dv->d = d;
	dv->db = journal_db(d->jr);
	for (i = 0; i < DV_ST_MAX; i++)
		if (sqlite3_prepare_v3(dv->db, dv_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &dv->st[i], NULL) != SQLITE_OK) {
			snprintf(err, errlen, "deliver: %s",
			    sqlite3_errmsg(dv->db));
			goto fail;
		}
	/* The in-flight table is sized once: a reload may lower
	 * delivery.max_in_flight, raising it takes a restart. */
	dv->cap = (size_t)d->cfg->delivery.max_in_flight;
	if ((dv->fl = calloc(dv->cap, sizeof(*dv->fl))) == NULL ||
	    (dv->freelist = calloc(dv->cap, sizeof(*dv->freelist))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (i = 0; i < dv->cap; i++)
		dv->freelist[i] = (uint32_t)(dv->cap - 1 - i);
	dv->nfree = dv->cap;
	if (getrandom(&dv->rng, sizeof(dv->rng), 0) != sizeof(dv->rng) ||
	    dv->rng == 0)
		dv->rng = (uint64_t)loop_wall_ms() | 1;
	render_out_init(&dv->out);
	buf_init(&dv->msg, DV_MSG_MAX);
	buf_init(&dv->body, DV_MSG_MAX);

	/* What a previous run left in flight goes out again. */
	st = dv->st[DV_ST_RESET];
	if (journal_txn(d->jr) == -1) {
		snprintf(err, errlen, "deliver: cannot open a transaction");
		goto fail;
	}
	sqlite3_bind_int64(st, 1, loop_wall_ms());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "deliver: %s", sqlite3_errmsg(dv->db));
		goto fail;
	}
	if (sqlite3_changes(dv->db) > 0)
		log_notice("deliver: %d deliveries left sending by the last "
		    "run are pending again", sqlite3_changes(dv->db));
	if (journal_commit(d->jr) == -1) {
		snprintf(err, errlen, "deliver: cannot commit");
		goto fail;
	}
	dv->paused = dv_paused_read(dv);
	if (dv->paused)
		log_notice("deliver: paused (outreachctl resume to send)");
	if (dv_senders(dv, d->cfg, &dv->relays, &dv->nrelays, &dv->hook, err,
	    errlen) == -1)
		goto fail;
	if (dv->nrelays == 0)
		log_warnx("deliver: no smtp.relays configured: e-mail "
		    "deliveries stay pending");
	if (dv->hook == NULL)
		log_warnx("deliver: no webhooks.secret_file configured: "
		    "webhook deliveries stay pending");
	dv->kicked = dv->fresh = 1;
	dv->next_sweep = loop_now_ms();
	dv->rate_sec = loop_now_ms() / 1000;
	if (loop_add_timer(d->loop, dv_due, dv_run, dv) == -1) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return dv;
fail:
	deliver_free(dv);
	return NULL;
}

void
deliver_free(struct deliver *dv)
{
	struct dv_relay	*r;
	struct dv_hook	*h;
	size_t		 i;

	if (dv == NULL)
		return;
	loop_remove_timer(dv->d->loop, dv);
	dv->stopping = 1;
	/* Freeing a sender reports what it holds NOT_SENT: back to
	 * pending, in the caller's transaction. */
	for (i = 0; i < dv->nrelays; i++)
		dv_relay_free(dv->relays[i]);
	free(dv->relays);
	while ((r = dv->retiring_relays) != NULL) {
		dv->retiring_relays = r->next;
		dv_relay_free(r);
	}
	dv_hook_free(dv->hook);
	while ((h = dv->retiring_hooks) != NULL) {
		dv->retiring_hooks = h->next;
		dv_hook_free(h);
	}
	for (i = 0; i < DV_EVCACHE; i++)
		dv_event_clear(&dv->evc[i]);
	for (i = 0; i < DV_ST_MAX; i++)
		sqlite3_finalize(dv->st[i]);
	render_out_free(&dv->out);
	buf_free(&dv->msg);
	buf_free(&dv->body);
	free(dv->fl);
	free(dv->freelist);
	dv_wlog_clear(dv);
	free(dv->wlog);
	free(dv);
}

int
deliver_reload(struct deliver *dv, const struct config *cfg, char *err,
    size_t errlen)
{
	struct dv_relay	**relays;
	struct dv_hook	*hook;
	size_t		 nrelays, i;

	if (dv_senders(dv, cfg, &relays, &nrelays, &hook, err, errlen) == -1)
		return -1;
	for (i = 0; i < dv->nrelays; i++) {
		smtp_relay_unqueue(dv->relays[i]->r);
		smtp_relay_drain(dv->relays[i]->r);
		dv->relays[i]->next = dv->retiring_relays;
		dv->retiring_relays = dv->relays[i];
	}
	free(dv->relays);
	dv->relays = relays;
	dv->nrelays = nrelays;
	dv->rr = 0;
	if (dv->hook != NULL) {
		webhook_unqueue(dv->hook->w);
		dv->hook->next = dv->retiring_hooks;
		dv->retiring_hooks = dv->hook;
	}
	dv->hook = hook;
	/* Event parses hold pointers into nothing of the config, but a
	 * post's language may have changed. */
	for (i = 0; i < DV_EVCACHE; i++)
		dv_event_clear(&dv->evc[i]);
	dv->kicked = dv->fresh = 1;
	return 0;
}

void
deliver_kick(struct deliver *dv)
{
	if (dv != NULL)
		dv->kicked = dv->fresh = 1;
}

/* Hand back everything not yet started (pause, shutdown). */
static void
dv_unqueue_all(struct deliver *dv)
{
	size_t	i;

	for (i = 0; i < dv->nrelays; i++)
		smtp_relay_unqueue(dv->relays[i]->r);
	if (dv->hook != NULL)
		webhook_unqueue(dv->hook->w);
}

void
deliver_shutdown(struct deliver *dv)
{
	size_t	i;

	if (dv == NULL || dv->stopping)
		return;
	dv->stopping = 1;
	dv_unqueue_all(dv);
	for (i = 0; i < dv->nrelays; i++)
		smtp_relay_drain(dv->relays[i]->r);
	log_notice("deliver: stopping, in_flight=%zu", dv->inflight);
}

int
deliver_quiet(const struct deliver *dv)
{
	return dv == NULL || dv->inflight == 0;
}

/* ---- verbs ---- */

static json_t *
dv_journal_error(void)
{
	return control_error("journal", "the journal failed; nothing "
	    "changed");
}

/* The row of an event named by id (and post when given); a reply on
 * failure into *reply. */
static int64_t
dv_event_row(struct deliver *dv, json_t *req, json_t **reply)
{
	const char	*id = json_string_value(json_object_get(req, "event"));
	const char	*post = json_string_value(json_object_get(req, "post"));
	sqlite3_stmt	*st;
	int64_t		 row = 0;
	int		 n = 0;

	*reply = NULL;
	if (id == NULL) {
		*reply = control_error("bad_request", "an event id is needed");
		return 0;
	}
	if (sqlite3_prepare_v2(dv->db, post ? "SELECT id FROM events WHERE"
	    " event_id = ?1 AND post = ?2" : "SELECT id FROM events WHERE"
	    " event_id = ?1 LIMIT 2", -1, &st, NULL) != SQLITE_OK) {
		*reply = dv_journal_error();
		return 0;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (post)
		sqlite3_bind_text(st, 2, post, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		row = sqlite3_column_int64(st, 0);
		n++;
	}
	sqlite3_finalize(st);
	if (n == 0)
		*reply = control_error("not_found", "no event %s%s%s", id,
		    post ? " from " : "", post ? post : "");
	else if (n > 1)
		*reply = control_error("ambiguous", "several posts have an "
		    "event %s; name the post with --post", id);
	return n == 1 ? row : 0;
}

/*
 * "deliveries": the most recently changed first.  Nothing indexes
 * updated_at (it changes at every state change, in the hot path), so the
 * matching deliveries are read in key order, newest event first,
 * DV_LIST_SLICE a turn, keeping the `limit` most recent in a min-heap;
 * then those rows are read whole.  One statement with ORDER BY updated_at
 * held the loop 94 ms for 1.1 million deliveries (docs/decisions.md).
 */
struct dv_hit {
	int64_t	updated_at, event, contact;
	char	channel[8];
};

struct deliver_list {
	int		 state;		/* enum journal_state; -1: any */
	int64_t		 event;		/* 0: any */
	int64_t		 limit;
	int		 started;
	int64_t		 k_event, k_contact;	/* the last key read */
	char		 k_channel[8];
	struct dv_hit	*heap;		/* min-heap on updated_at */
	int64_t		 nheap;
};

/* Rows a turn; 2,000 took 1.7 ms a slice of a million (docs). */
#define DV_LIST_SLICE	2000

static int
dv_hit_less(const struct dv_hit *a, const struct dv_hit *b)
{
	if (a->updated_at != b->updated_at)
		return a->updated_at < b->updated_at;
	if (a->event != b->event)
		return a->event < b->event;
	if (a->contact != b->contact)
		return a->contact < b->contact;
	return strcmp(a->channel, b->channel) < 0;
}

static void
dv_heap_down(struct dv_hit *h, int64_t n, int64_t i)
{
	struct dv_hit	t;
	int64_t		m;

	for (;;) {
		m = i;
		if (2 * i + 1 < n && dv_hit_less(&h[2 * i + 1], &h[m]))
			m = 2 * i + 1;
		if (2 * i + 2 < n && dv_hit_less(&h[2 * i + 2], &h[m]))
			m = 2 * i + 2;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void
dv_heap_offer(struct deliver_list *l, const struct dv_hit *x)
{
	struct dv_hit	t;
	int64_t		i;

	if (l->nheap < l->limit) {
		i = l->nheap++;
		l->heap[i] = *x;
		while (i > 0 && dv_hit_less(&l->heap[i], &l->heap[(i - 1) /
		    2])) {
			t = l->heap[i];
			l->heap[i] = l->heap[(i - 1) / 2];
			l->heap[(i - 1) / 2] = t;
			i = (i - 1) / 2;
		}
	} else if (dv_hit_less(&l->heap[0], x)) {
		l->heap[0] = *x;
		dv_heap_down(l->heap, l->nheap, 0);
	}
}

void
deliver_list_free(struct deliver_list *l)
{
	if (l == NULL)
		return;
	free(l->heap);
	free(l);
}

struct deliver_list *
deliver_list_start(struct deliver *dv, json_t *req, json_t **reply)
{
	const char		*state = json_string_value(json_object_get(req,
				    "state"));
	json_int_t		 limit = json_integer_value(json_object_get(req,
				    "limit"));
	struct deliver_list	*l;
	int64_t			 row = 0;

	*reply = NULL;
	if (limit <= 0 || limit > DV_LIST_MAX)
		limit = 100;
	if (state != NULL && journal_state_index(state) < 0) {
		*reply = control_error("bad_request", "no state \"%.32s\"; "
		    "expected pending, sending, sent, deferred, failed, "
		    "expired, cancelled or skipped", state);
		return NULL;
	}
	if (json_object_get(req, "event") != NULL &&
	    (row = dv_event_row(dv, req, reply)) == 0)
		return NULL;
	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->heap = calloc((size_t)limit, sizeof(*l->heap))) == NULL) {
		free(l);
		*reply = control_error("internal", "out of memory");
		return NULL;
	}
	l->state = state ? journal_state_index(state) : -1;
	l->event = row;
	l->limit = limit;
	return l;
}

int
deliver_list_step(struct deliver *dv, struct deliver_list *l)
{
	sqlite3_stmt	*st = dv->st[l->event ? DV_ST_LIST_EVENT :
			    DV_ST_LIST_ALL];
	struct dv_hit	 x;
	const char	*ch;
	int		 rc, rows = 0;

	if (!l->started) {
		l->k_event = l->event ? l->event : INT64_MAX;
		l->k_contact = INT64_MAX;
		l->k_channel[0] = '\0';
		l->started = 1;
	}
	sqlite3_bind_int64(st, 1, l->k_event);
	sqlite3_bind_int64(st, 2, l->k_contact);
	sqlite3_bind_text(st, 3, l->k_channel, -1, SQLITE_TRANSIENT);
	/* The first slice starts above every key: (INT64_MAX, ...), or
	 * the event's with contact INT64_MAX. */
	sqlite3_bind_int(st, 4, DV_LIST_SLICE);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rows++;
		memset(&x, 0, sizeof(x));
		x.event = l->k_event = sqlite3_column_int64(st, 0);
		x.contact = l->k_contact = sqlite3_column_int64(st, 1);
		ch = (const char *)sqlite3_column_text(st, 2);
		snprintf(l->k_channel, sizeof(l->k_channel), "%s",
		    ch ? ch : "");
		snprintf(x.channel, sizeof(x.channel), "%s", l->k_channel);
		x.updated_at = sqlite3_column_int64(st, 4);
		if (l->state < 0 || journal_state_index((const char *)
		    sqlite3_column_text(st, 3)) == l->state)
			dv_heap_offer(l, &x);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return -1;
	return rows < DV_LIST_SLICE;
}

static int
dv_hit_cmp_desc(const void *a, const void *b)
{
	const struct dv_hit	*x = a, *y = b;

	return dv_hit_less(y, x) ? -1 : dv_hit_less(x, y) ? 1 : 0;
}

json_t *
deliver_list_reply(struct deliver *dv, struct deliver_list *l)
{
	sqlite3_stmt	*st = dv->st[DV_ST_LIST_ROW];
	json_t		*rows, *r;
	const char	*state;
	char		 t[40];
	int64_t		 i;
	int		 rc;

	qsort(l->heap, (size_t)l->nheap, sizeof(*l->heap), dv_hit_cmp_desc);
	rows = json_array();
	for (i = 0; rows != NULL && i < l->nheap; i++) {
		sqlite3_bind_int64(st, 1, l->heap[i].event);
		sqlite3_bind_int64(st, 2, l->heap[i].contact);
		sqlite3_bind_text(st, 3, l->heap[i].channel, -1,
		    SQLITE_STATIC);
		rc = sqlite3_step(st);
		state = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st,
		    4) : NULL;
		/* Gone or changed since it was read: left out. */
		if (state == NULL || (l->state >= 0 &&
		    journal_state_index(state) != l->state)) {
			sqlite3_reset(st);
			if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
				json_decref(rows);
				return dv_journal_error();
			}
			continue;
		}
		r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s}",
		    "post", sqlite3_column_text(st, 0),
		    "event", sqlite3_column_text(st, 1),
		    "contact", sqlite3_column_text(st, 2),
		    "channel", sqlite3_column_text(st, 3),
		    "state", state,
		    "attempts", sqlite3_column_int(st, 5),
		    "priority", priority_name(sqlite3_column_int(st, 9)));
		if (r != NULL) {
			if (sqlite3_column_type(st, 7) != SQLITE_NULL)
				json_object_set_new(r, "last_error",
				    json_string((const char *)
				    sqlite3_column_text(st, 7)));
			dv_rfc3339(sqlite3_column_int64(st, 8), t, sizeof(t));
			json_object_set_new(r, "updated_at", json_string(t));
			if (strcmp(state, "deferred") == 0) {
				dv_rfc3339(sqlite3_column_int64(st, 6), t,
				    sizeof(t));
				json_object_set_new(r, "next_attempt_at",
				    json_string(t));
			}
			json_array_append_new(rows, r);
		}
		sqlite3_reset(st);
	}
	if (rows == NULL)
		return control_error("internal", "out of memory");
	return json_pack("{s:b, s:o}", "ok", 1, "deliveries", rows);
}

/* Run one write statement with up to three bound values; the number of
 * rows changed, or -1. */
static int
dv_exec(struct deliver *dv, const char *sql, int64_t a, int64_t b,
    const char *c)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (journal_txn(dv->d->jr) == -1 || !journal_write_ok(dv->d->jr))
		return -1;
	if (sqlite3_prepare_v2(dv->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, b);
	if (c != NULL)
		sqlite3_bind_text(st, 3, c, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		journal_write_failed(dv->d->jr, rc);
		return -1;
	}
	dv->d->dirty = 1;
	return sqlite3_changes(dv->db);
}

static json_t *
dv_cmd_retry(struct deliver *dv, json_t *req, int *wrote)
{
	const char	*cid = json_string_value(json_object_get(req,
	    "contact"));
	const char	*chan = json_string_value(json_object_get(req,
	    "channel"));
	json_t		*reply;
	int64_t		 row, now = loop_wall_ms();
	int		 n;

	if ((row = dv_event_row(dv, req, &reply)) == 0)
		return reply;
	if (chan != NULL && strcmp(chan, "smtp") != 0 &&
	    strcmp(chan, "webhook") != 0)
		return control_error("bad_request", "no channel \"%.32s\"; "
		    "expected smtp or webhook", chan);
	if (cid == NULL)
		n = dv_exec(dv, "UPDATE deliveries SET state = 'pending',"
		    " next_at = ?2, updated_at = ?2, last_error = NULL"
		    " WHERE event = ?1 AND state = 'failed'", row, now, NULL);
	else if (chan == NULL) {
		n = dv_exec(dv, "UPDATE deliveries SET state = 'pending',"
		    " next_at = ?2, updated_at = ?2, last_error = NULL"
		    " WHERE event = ?1 AND contact = (SELECT id FROM contacts"
		    " WHERE ext_id = ?3) AND state IN ('failed', 'deferred',"
		    " 'expired')", row, now, cid);
	} else {
		/* The channel goes in the SQL text: one of two names. */
		n = dv_exec(dv, strcmp(chan, "smtp") == 0 ?
		    "UPDATE deliveries SET state = 'pending', next_at = ?2,"
		    " updated_at = ?2, last_error = NULL WHERE event = ?1 AND"
		    " channel = 'smtp' AND contact = (SELECT id FROM contacts"
		    " WHERE ext_id = ?3) AND state IN ('failed', 'deferred',"
		    " 'expired')" :
		    "UPDATE deliveries SET state = 'pending', next_at = ?2,"
		    " updated_at = ?2, last_error = NULL WHERE event = ?1 AND"
		    " channel = 'webhook' AND contact = (SELECT id FROM"
		    " contacts WHERE ext_id = ?3) AND state IN ('failed',"
		    " 'deferred', 'expired')", row, now, cid);
	}
	if (n == -1)
		return dv_journal_error();
	*wrote = 1;
	dv->kicked = dv->fresh = 1;
	return json_pack("{s:b, s:i}", "ok", 1, "requeued", n);
}

static json_t *
dv_cmd_cancel(struct deliver *dv, json_t *req, int *wrote)
{
	json_t	*reply;
	int64_t	 row, now = loop_wall_ms();
	int	 n;

	if ((row = dv_event_row(dv, req, &reply)) == 0)
		return reply;
	/* No more fan-out for it either. */
	if (dv_exec(dv, "UPDATE events SET fanout_done = 1 WHERE id = ?1 AND"
	    " ?2 = ?2", row, now, NULL) == -1 ||
	    (n = dv_exec(dv, "UPDATE deliveries SET state = 'cancelled',"
	    " updated_at = ?2, last_error = 'cancelled by an operator'"
	    " WHERE event = ?1 AND state IN ('pending', 'deferred')", row,
	    now, NULL)) == -1)
		return dv_journal_error();
	*wrote = 1;
	log_notice("deliver: event %" PRId64 " cancelled by an operator, "
	    "deliveries=%d (those in flight finish)", row, n);
	return json_pack("{s:b, s:i, s:I}", "ok", 1, "cancelled", n,
	    "in_flight", (json_int_t)dv->inflight);
}

static json_t *
dv_cmd_pause(struct deliver *dv, int pause, uid_t uid, int *wrote)
{
	sqlite3_stmt	*st = dv->st[DV_ST_PAUSED_SET];
	int		 rc;

	if (journal_txn(dv->d->jr) == -1 || !journal_write_ok(dv->d->jr))
		return dv_journal_error();
	sqlite3_bind_int(st, 1, pause);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		journal_write_failed(dv->d->jr, rc);
		return dv_journal_error();
	}
	*wrote = 1;
	if (pause && !dv->paused) {
		dv->paused = 1;
		dv_unqueue_all(dv);
		log_notice("deliver: paused by uid %d (intake continues)",
		    (int)uid);
	} else if (!pause && dv->paused) {
		dv->paused = 0;
		dv->kicked = dv->fresh = 1;
		log_notice("deliver: resumed by uid %d", (int)uid);
	}
	return json_pack("{s:b, s:b, s:I}", "ok", 1, "paused", dv->paused,
	    "in_flight", (json_int_t)dv->inflight);
}

json_t *
deliver_command(struct deliver *dv, const char *cmd, json_t *req, uid_t uid,
    int *wrote)
{
	*wrote = 0;
	if (strcmp(cmd, "retry") == 0)
		return dv_cmd_retry(dv, req, wrote);
	if (strcmp(cmd, "cancel") == 0)
		return dv_cmd_cancel(dv, req, wrote);
	if (strcmp(cmd, "pause") == 0)
		return dv_cmd_pause(dv, 1, uid, wrote);
	if (strcmp(cmd, "resume") == 0)
		return dv_cmd_pause(dv, 0, uid, wrote);
	return NULL;
}

json_t *
deliver_status(struct deliver *dv)
{
	struct smtp_relay_stats		 rs;
	struct webhook_host_stats	 hs[64];
	sqlite3_stmt			*st = dv->st[DV_ST_COUNTS];
	json_t	*o, *states, *relays, *hosts, *rates, *per, *since;
	size_t	 i, n;
	int	 c, k;
	int64_t	 sec = loop_now_ms() / 1000;
	uint64_t sum10, sum60;

	states = json_object();
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(st, 0);
		const char *ch = (const char *)sqlite3_column_text(st, 1);

		if ((per = json_object_get(states, s)) == NULL) {
			per = json_object();
			json_object_set_new(states, s, per);
		}
		json_object_set_new(per, ch, json_integer(
		    sqlite3_column_int64(st, 2)));
	}
	sqlite3_reset(st);
	/* In flight: the scheduler's own count. */
	per = json_object();
	for (c = 0; c < DV_NCHAN; c++)
		json_object_set_new(per, dv_chan_name[c],
		    json_integer((json_int_t)dv->chan_inflight[c]));
	json_object_set_new(states, "sending", per);
	/* Outcomes since the daemon started. */
	since = json_object();
	for (c = 0; c < DV_NCHAN; c++)
		json_object_set_new(since, dv_chan_name[c], json_pack("{s:I,"
		    " s:I, s:I, s:I}", "sent", (json_int_t)dv->total[c][0],
		    "deferred", (json_int_t)dv->total[c][1],
		    "failed", (json_int_t)dv->total[c][2],
		    "expired", (json_int_t)dv->total[c][3]));
	relays = json_array();
	for (i = 0; i < dv->nrelays; i++) {
		smtp_relay_stats(dv->relays[i]->r, &rs);
		json_array_append_new(relays, json_pack("{s:s, s:i, s:I, s:I,"
		    " s:I, s:I, s:I, s:I, s:b}", "name", rs.name,
		    "connections", rs.connections,
		    "queued", (json_int_t)rs.queued,
		    "in_flight", (json_int_t)rs.in_flight,
		    "sent", (json_int_t)rs.sent,
		    "tempfail", (json_int_t)rs.tempfail,
		    "permfail", (json_int_t)(rs.permfail + rs.bounced),
		    "connect_failures", (json_int_t)rs.connect_failures,
		    "pipelining", rs.pipelining));
	}
	hosts = json_array();
	n = dv->hook != NULL ? webhook_stats(dv->hook->w, hs, 64) : 0;
	for (i = 0; i < n && i < 64; i++)
		json_array_append_new(hosts, json_pack("{s:s, s:I, s:I, s:I,"
		    " s:I, s:I, s:I}", "host", hs[i].host,
		    "queued", (json_int_t)hs[i].queued,
		    "running", (json_int_t)hs[i].running,
		    "sent", (json_int_t)hs[i].sent,
		    "retry", (json_int_t)hs[i].retry,
		    "failed", (json_int_t)hs[i].failed,
		    "gone", (json_int_t)hs[i].gone));
	rates = json_object();
	dv_rate_add(dv, DV_SMTP);	/* roll the window forward ... */
	dv->rate[DV_SMTP][sec % DV_RATE_SECS]--;	/* ... count nothing */
	for (c = 0; c < DV_NCHAN; c++) {
		sum10 = sum60 = 0;
		for (k = 1; k <= DV_RATE_SECS; k++) {
			uint32_t v = dv->rate[c][(sec - k + DV_RATE_SECS *
			    2) % DV_RATE_SECS];

			sum60 += v;
			if (k <= 10)
				sum10 += v;
		}
		json_object_set_new(rates, dv_chan_name[c], json_pack("{s:f,"
		    " s:f}", "per_s_10s", (double)sum10 / 10.0,
		    "per_s_60s", (double)sum60 / 60.0));
	}
	o = json_pack("{s:b, s:I, s:o, s:o, s:o, s:o, s:o}", "paused",
	    dv->paused, "in_flight", (json_int_t)dv->inflight, "queue", states,
	    "since_start", since, "relays", relays, "webhook_hosts", hosts,
	    "rates", rates);
	return o;
}
