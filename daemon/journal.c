/* journal.c - the durable store on SQLite (see journal.h).
 * Crash safety rests on three things: WAL with synchronous=FULL (a commit
 * that returned is on disk), one transaction per loop turn whose commit
 * precedes every ack, and schema migrations applied in a transaction each. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "journal.h"
#include "log.h"

/* Each entry brings the schema from version i to i + 1.  Never edit a
 * released entry: add one. */
static const char *const journal_migrations[] = {
	/* 1: events, contacts, subscriptions, deliveries, audit, stats. */
	"CREATE TABLE events ("
	"  id            INTEGER PRIMARY KEY,"
	"  post          TEXT NOT NULL,"
	"  event_id      TEXT NOT NULL,"
	"  topic         TEXT NOT NULL,"
	"  type          TEXT NOT NULL,"
	"  priority      INTEGER NOT NULL,"
	"  status        TEXT NOT NULL"
	"                CHECK (status IN ('actual','exercise','test')),"
	"  sha256        BLOB NOT NULL,"
	"  doc           TEXT NOT NULL,"
	"  source        TEXT NOT NULL,"
	"  publisher     TEXT,"
	"  seq           INTEGER,"
	"  received_at   INTEGER NOT NULL,"
	"  not_before    INTEGER,"
	"  expires_at    INTEGER,"
	"  replaces      TEXT,"
	"  cancel        INTEGER NOT NULL DEFAULT 0,"
	"  recipients    INTEGER NOT NULL DEFAULT 0,"
	"  fanout_cursor INTEGER NOT NULL DEFAULT 0,"
	"  fanout_done   INTEGER NOT NULL DEFAULT 0,"
	"  UNIQUE (post, event_id)"
	");"
	"CREATE INDEX events_received ON events (received_at);"
	"CREATE INDEX events_source_seq ON events (source, seq);"
	"CREATE TABLE contacts ("
	"  id             INTEGER PRIMARY KEY,"
	"  ext_id         TEXT NOT NULL UNIQUE,"
	"  name           TEXT,"
	"  email          TEXT,"
	"  webhook_url    TEXT,"
	"  languages      TEXT NOT NULL DEFAULT '[]',"
	"  country        TEXT,"
	"  region         TEXT,"
	"  city           TEXT,"
	"  tags           TEXT NOT NULL DEFAULT '[]',"
	"  consent_at     INTEGER,"
	"  consent_source TEXT,"
	"  status         TEXT NOT NULL DEFAULT 'active'"
	"                 CHECK (status IN ('active','unsubscribed','bounced')),"
	"  test           INTEGER NOT NULL DEFAULT 0,"
	"  created_at     INTEGER NOT NULL,"
	"  updated_at     INTEGER NOT NULL"
	");"
	"CREATE INDEX contacts_status ON contacts (status, test);"
	"CREATE TABLE subscriptions ("
	"  prefix  TEXT NOT NULL,"
	"  contact INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,"
	"  PRIMARY KEY (prefix, contact)"
	") WITHOUT ROWID;"
	"CREATE INDEX subscriptions_contact ON subscriptions (contact);"
	"CREATE TABLE deliveries ("
	"  id          INTEGER PRIMARY KEY,"
	"  event       INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,"
	"  contact     INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,"
	"  channel     TEXT NOT NULL CHECK (channel IN ('smtp','webhook')),"
	"  state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN"
	"              ('pending','sending','sent','deferred','failed',"
	"               'expired','cancelled','skipped')),"
	"  priority    INTEGER NOT NULL,"
	"  attempts    INTEGER NOT NULL DEFAULT 0,"
	"  next_at     INTEGER NOT NULL,"
	"  last_error  TEXT,"
	"  created_at  INTEGER NOT NULL,"
	"  updated_at  INTEGER NOT NULL,"
	"  UNIQUE (event, contact, channel)"
	");"
	"CREATE INDEX deliveries_due ON deliveries (state, priority DESC, next_at);"
	"CREATE INDEX deliveries_contact ON deliveries (contact);"
	"CREATE TABLE audit ("
	"  id      INTEGER PRIMARY KEY,"
	"  at      INTEGER NOT NULL,"
	"  uid     INTEGER NOT NULL,"
	"  action  TEXT NOT NULL,"
	"  subject TEXT"
	");"
	"CREATE INDEX audit_at ON audit (at);"
	"CREATE TABLE stats ("
	"  name  TEXT PRIMARY KEY,"
	"  value INTEGER NOT NULL"
	") WITHOUT ROWID;",
	/* 2: the audience is fixed at acceptance: the highest contact row
	 * then, and when each contact's status last changed, tell who was in
	 * it; a contact that left after acceptance is "skipped". */
	"ALTER TABLE contacts ADD COLUMN status_at INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE events ADD COLUMN audience_max INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX events_fanout ON events (fanout_done) WHERE fanout_done = 0;",
	/* 3: events(source, seq) served one query per feed at start, and
	 * cost every stored event an index insert; a partial index holds
	 * only the events that carry a seq. */
	"DROP INDEX events_source_seq;"
	"CREATE INDEX events_feed_seq ON events (source, seq)"
	" WHERE seq IS NOT NULL;",
	/* 4: deliveries keyed by their triple (DESIGN.md 2) WITHOUT ROWID:
	 * table and unique key are one B-tree, and a fan-out's rows are
	 * appends to it.  No REFERENCES: the parent probes were a fifth of
	 * the fan-out's cost; the triggers keep the cascades, and rows are
	 * made only from a stored event and an existing contact. */
	"CREATE TABLE deliveries_v4 ("
	"  event       INTEGER NOT NULL,"
	"  contact     INTEGER NOT NULL,"
	"  channel     TEXT NOT NULL CHECK (channel IN ('smtp','webhook')),"
	"  state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN"
	"              ('pending','sending','sent','deferred','failed',"
	"               'expired','cancelled','skipped')),"
	"  priority    INTEGER NOT NULL,"
	"  attempts    INTEGER NOT NULL DEFAULT 0,"
	"  next_at     INTEGER NOT NULL,"
	"  last_error  TEXT,"
	"  created_at  INTEGER NOT NULL,"
	"  updated_at  INTEGER NOT NULL,"
	"  PRIMARY KEY (event, contact, channel)"
	") WITHOUT ROWID;"
	"INSERT INTO deliveries_v4 (event, contact, channel, state, priority,"
	" attempts, next_at, last_error, created_at, updated_at)"
	" SELECT event, contact, channel, state, priority, attempts, next_at,"
	" last_error, created_at, updated_at FROM deliveries"
	" ORDER BY event, contact, channel;"
	"DROP TABLE deliveries;"
	"ALTER TABLE deliveries_v4 RENAME TO deliveries;"
	"CREATE INDEX deliveries_due ON deliveries (state, priority DESC, next_at);"
	/* Erase and remove find a contact's deliveries by it: without the
	 * index each of their statements scans the table (66 ms a million
	 * rows), holding up the loop. */
	"CREATE INDEX deliveries_contact ON deliveries (contact);"
	"CREATE TRIGGER events_deliveries AFTER DELETE ON events BEGIN"
	" DELETE FROM deliveries WHERE event = old.id; END;"
	"CREATE TRIGGER contacts_deliveries AFTER DELETE ON contacts BEGIN"
	" DELETE FROM deliveries WHERE contact = old.id; END;",
	/* 5: delivery.  A webhook endpoint that answered 410 is disabled
	 * for its contact until the URL changes; expiry sweeps find events
	 * by expires_at; the scheduler claims per (state, priority,
	 * channel) in next_at order, so the channel joins the due index,
	 * which holds only what waits: a delivery leaves it when taken and
	 * its later changes touch no index. */
	"ALTER TABLE contacts ADD COLUMN webhook_gone INTEGER NOT NULL"
	" DEFAULT 0;"
	"CREATE INDEX events_expires ON events (expires_at)"
	" WHERE expires_at IS NOT NULL;"
	"DROP INDEX deliveries_due;"
	"CREATE INDEX deliveries_due ON deliveries"
	" (state, priority, channel, next_at)"
	" WHERE state IN ('pending', 'deferred');",
	/* 6: the due index covers the claim query (attempts, after the key
	 * so the order stays next_at, event, contact, which the 'sending'
	 * range update relies on): no table look-up per claimed row. */
	"DROP INDEX deliveries_due;"
	"CREATE INDEX deliveries_due ON deliveries"
	" (state, priority, channel, next_at, event, contact, attempts)"
	" WHERE state IN ('pending', 'deferred');",
};
#define JOURNAL_PURGE_DELIVERIES 2000	/* an event's deliveries a call */
#define NMIGRATIONS	(int)(sizeof(journal_migrations) / sizeof(journal_migrations[0]))

enum {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_EVENT_FIND,
	ST_EVENT_INSERT,
	ST_FEED_SEQ,
	ST_EVENT_COUNT,
	ST_MAX
};

static const char *const journal_sql[ST_MAX] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_EVENT_FIND] = "SELECT sha256, recipients FROM events"
	    " WHERE post = ?1 AND event_id = ?2",
	/* A slice of an event's deliveries, in key order after the last. */
	[ST_EVENT_COUNT] = "SELECT contact, channel, state FROM deliveries"
	    " WHERE event = ?1 AND (contact, channel) > (?2, ?3)"
	    " ORDER BY contact, channel LIMIT ?4",
	[ST_EVENT_INSERT] = "INSERT INTO events (post, event_id, topic, type,"
	    " priority, status, sha256, doc, source, publisher, seq,"
	    " received_at, not_before, expires_at, replaces, cancel,"
	    " recipients, fanout_done, audience_max) VALUES (?1, ?2, ?3, ?4,"
	    " ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
	    " ?17 = 0, ?18) ON CONFLICT (post, event_id) DO NOTHING",
	[ST_FEED_SEQ] = "SELECT max(seq) FROM events WHERE source = ?1"
	    " AND seq IS NOT NULL",
};

struct journal {
	sqlite3		*db;
	char		*path;
	sqlite3_stmt	*st[ST_MAX];
	int		 in_txn;
	int		 txn_failed;	/* a write failed: commit rolls back */
	int		 last_full;
	int		 fault_commits;
	sqlite3_int64	 changes_at_begin;	/* total_changes at BEGIN */
	int64_t		 rows[JOURNAL_NTABLES];	/* committed */
	int64_t		 txn_rows[JOURNAL_NTABLES];	/* in the open txn */
	int64_t		 txn_event_min;	/* first event row stored in it, or 0 */
	/* Retention (journal_purge): the events looked at in this round
	 * are those up to purge_after; one being checked, or one found
	 * finished and losing its deliveries in slices. */
	int64_t		 purge_after;
	struct journal_event_count purge_check;
	int64_t		 purge_event;
	unsigned char	 secret[JOURNAL_SECRET_LEN];
	sqlite3		*bk_db;		/* backup in progress */
	sqlite3_backup	*bk;
	char		*bk_path;
};

static int
journal_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char	*msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int
journal_user_version(sqlite3 *db)
{
	sqlite3_stmt	*st;
	int		 v = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

sqlite3 *
journal_db(struct journal *jr)
{
	return jr->db;
}

int
journal_write_ok(struct journal *jr)
{
	if (!jr->in_txn || jr->txn_failed || sqlite3_get_autocommit(jr->db)) {
		jr->txn_failed = 1;
		return 0;
	}
	return 1;
}

void
journal_write_failed(struct journal *jr, int sqlite_rc)
{
	if ((sqlite_rc & 0xff) == SQLITE_FULL)
		jr->last_full = 1;
	if (jr->in_txn)
		jr->txn_failed = 1;
}

int
journal_latest_version(void)
{
	return NMIGRATIONS;
}

int
journal_migrate(sqlite3 *db, char *err, size_t errlen)
{
	struct buf	b;
	char		e[256];
	int		v, rc = -1;

	buf_init(&b, 64);
	if ((v = journal_user_version(db)) < 0) {
		snprintf(err, errlen, "cannot read schema version: %s",
		    sqlite3_errmsg(db));
		return -1;
	}
	if (v > NMIGRATIONS) {
		snprintf(err, errlen, "schema version %d is newer than this "
		    "outreachd knows (%d): use a newer outreachd", v,
		    NMIGRATIONS);
		return -1;
	}
	for (; v < NMIGRATIONS; v++) {
		buf_reset(&b);
		buf_printf(&b, "PRAGMA user_version = %d", v + 1);
		if (journal_exec(db, "BEGIN IMMEDIATE", e, sizeof(e)) == -1)
			goto fail;
		if (journal_exec(db, journal_migrations[v], e, sizeof(e)) == -1 ||
		    journal_exec(db, b.data, e, sizeof(e)) == -1 ||
		    journal_exec(db, "COMMIT", e, sizeof(e)) == -1) {
			journal_exec(db, "ROLLBACK", b.data, 0);
			goto fail;
		}
		log_info("journal: schema migrated to version=%d", v + 1);
	}
	rc = 0;
	goto out;
fail:
	snprintf(err, errlen, "schema migration to version %d failed: %s",
	    v + 1, e);
out:
	buf_free(&b);
	return rc;
}

/* Create the installation secret once, atomically: a crash leaves either
 * no file or a whole one, never a short key. */
static int
journal_secret_load(struct journal *jr, const char *dir, char *err,
    size_t errlen)
{
	struct buf	 path, tmp;
	int		 fd = -1, dfd = -1, rc = -1;
	ssize_t		 n;

	buf_init(&path, 4096);
	buf_init(&tmp, 4096);
	buf_printf(&path, "%s/installation.key", dir);
	buf_printf(&tmp, "%s/.installation.key.tmp", dir);
	if (path.overflow || tmp.overflow) {
		snprintf(err, errlen, "state directory path too long");
		goto out;
	}
	if ((fd = open(path.data, O_RDONLY | O_CLOEXEC)) != -1) {
		n = read(fd, jr->secret, sizeof(jr->secret));
		if (n != (ssize_t)sizeof(jr->secret)) {
			snprintf(err, errlen, "installation secret \"%s\": "
			    "short or unreadable; restore it from backup (the "
			    "Message-IDs and tokens depend on it)", path.data);
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (errno != ENOENT) {
		snprintf(err, errlen, "installation secret \"%s\": %s",
		    path.data, strerror(errno));
		goto out;
	}
	if (RAND_bytes(jr->secret, sizeof(jr->secret)) != 1) {
		snprintf(err, errlen, "cannot get random bytes for the "
		    "installation secret");
		goto out;
	}
	unlink(tmp.data);
	if ((fd = open(tmp.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1 ||
	    write(fd, jr->secret, sizeof(jr->secret)) !=
	    (ssize_t)sizeof(jr->secret) || fsync(fd) == -1 ||
	    rename(tmp.data, path.data) == -1) {
		snprintf(err, errlen, "installation secret \"%s\": %s",
		    path.data, strerror(errno));
		unlink(tmp.data);
		goto out;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1)
		fsync(dfd);
	log_notice("journal: created installation secret file=%s", path.data);
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	if (dfd != -1)
		close(dfd);
	buf_free(&path);
	buf_free(&tmp);
	return rc;
}

static int
journal_state_dir(const char *dir, char *err, size_t errlen)
{
	struct stat	st;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "state directory \"%s\": %s", dir,
		    strerror(errno));
		return -1;
	}
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "state directory \"%s\": not a "
		    "directory", dir);
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		if (chmod(dir, 0700) == -1) {
			snprintf(err, errlen, "state directory \"%s\": mode "
			    "%03o and cannot chmod 700: %s", dir,
			    (unsigned)st.st_mode & 0777, strerror(errno));
			return -1;
		}
		log_warnx("journal: state directory was mode %03o, now 700 "
		    "dir=%s", (unsigned)st.st_mode & 0777, dir);
	}
	return 0;
}

static const char *
journal_pragma_text(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
	sqlite3_stmt	*st;

	snprintf(out, outlen, "?");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return out;
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_text(st, 0) != NULL)
		snprintf(out, outlen, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return out;
}

/* The setting the journal must run with: 0, or -1 with err saying what
 * it is instead and why that will not do. */
static int
journal_pragma_is(struct journal *jr, const char *name, const char *want,
    const char *why, char *err, size_t errlen)
{
	char	sql[64], v[32];

	snprintf(sql, sizeof(sql), "PRAGMA %s", name);
	if (strcmp(journal_pragma_text(jr->db, sql, v, sizeof(v)), want) == 0)
		return 0;
	snprintf(err, errlen, "journal \"%s\": %s is %s, %s", jr->path, name,
	    v, why);
	return -1;
}

struct journal *
journal_open(const char *state_dir, int64_t max_bytes, char *err,
    size_t errlen)
{
	struct journal	*jr;
	struct buf	 path;
	char		 e[256];
	int		 i;

	if (journal_state_dir(state_dir, err, errlen) == -1)
		return NULL;
	if ((jr = calloc(1, sizeof(*jr))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	buf_init(&path, 4096);
	buf_printf(&path, "%s/journal.db", state_dir);
	jr->path = buf_release(&path);
	if (jr->path == NULL)
		goto fail_mem;
	if (journal_secret_load(jr, state_dir, err, errlen) == -1)
		goto fail;
	if (sqlite3_open_v2(jr->path, &jr->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "journal \"%s\": %s", jr->path,
		    jr->db ? sqlite3_errmsg(jr->db) : "out of memory");
		goto fail;
	}
	sqlite3_extended_result_codes(jr->db, 1);
	/* Checkpoints are ours to schedule (journal_checkpoint), so that a
	 * busy turn never pays for one inside a commit. */
	if (journal_exec(jr->db, "PRAGMA journal_mode = WAL;"
	    "PRAGMA synchronous = FULL;"
	    "PRAGMA foreign_keys = ON;"
	    "PRAGMA wal_autocheckpoint = 0;"
	    "PRAGMA journal_size_limit = 67108864;"
	    "PRAGMA cache_size = -16384;"
	    /* The schema's CHECKs document the values; the daemon writes
	     * only what its validators passed, and SQLite 3.40 evaluates
	     * a CHECK ... IN (...) through a temporary B-tree on every
	     * row (about 6 % of intake). */
	    "PRAGMA ignore_check_constraints = ON;"
	    /* What is deleted (an erased person above all) is overwritten
	     * in the file, whatever the library's build default. */
	    "PRAGMA secure_delete = ON;"
	    "PRAGMA busy_timeout = 5000;", e, sizeof(e)) == -1) {
		snprintf(err, errlen, "journal \"%s\": %s", jr->path, e);
		goto fail;
	}
	if (journal_pragma_is(jr, "journal_mode", "wal", "not wal (is the"
	    " file system able to hold a WAL?)", err, errlen) == -1 ||
	    journal_pragma_is(jr, "synchronous", "2", "not FULL (2)", err,
	    errlen) == -1 ||
	    journal_pragma_is(jr, "secure_delete", "1", "not on: deleted"
	    " personal data would stay in the file", err, errlen) == -1)
		goto fail;
	if (journal_migrate(jr->db, e, sizeof(e)) == -1) {
		snprintf(err, errlen, "journal \"%s\": %s", jr->path, e);
		goto fail;
	}
	if (journal_set_max_bytes(jr, max_bytes) == -1) {
		snprintf(err, errlen, "journal \"%s\": cannot set max_size: %s",
		    jr->path, sqlite3_errmsg(jr->db));
		goto fail;
	}
	for (i = 0; i < ST_MAX; i++) {
		if (sqlite3_prepare_v3(jr->db, journal_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &jr->st[i], NULL) != SQLITE_OK) {
			snprintf(err, errlen, "journal: prepare %d: %s", i,
			    sqlite3_errmsg(jr->db));
			goto fail;
		}
	}
	for (i = 0; i < JOURNAL_NTABLES; i++) {
		if ((jr->rows[i] = journal_count_scan(jr,
		    (enum journal_table)i)) < 0) {
			snprintf(err, errlen, "journal: count: %s",
			    sqlite3_errmsg(jr->db));
			goto fail;
		}
	}
	return jr;
fail_mem:
	snprintf(err, errlen, "out of memory");
fail:
	journal_close(jr);
	return NULL;
}

void
journal_close(struct journal *jr)
{
	int	i;

	if (jr == NULL)
		return;
	journal_backup_abort(jr);
	if (jr->in_txn)
		journal_rollback(jr);
	for (i = 0; i < ST_MAX; i++)
		sqlite3_finalize(jr->st[i]);
	if (jr->db != NULL) {
		sqlite3_wal_checkpoint_v2(jr->db, NULL,
		    SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
		sqlite3_close(jr->db);
	}
	free(jr->path);
	explicit_bzero(jr->secret, sizeof(jr->secret));
	free(jr);
}

int
journal_set_max_bytes(struct journal *jr, int64_t max_bytes)
{
	struct buf	b;
	char		e[256];
	int		rc;

	long long	pages = 4294967294LL, psize;
	char		v[32];

	buf_init(&b, 128);
	/* max_page_count bounds the main file; SQLITE_FULL beyond it is the
	 * same error a full disk gives, and takes the same path.  0 would
	 * read as a query, so a cap is at least one page. */
	if (max_bytes > 0) {
		psize = atoll(journal_pragma_text(jr->db, "PRAGMA page_size", v,
		    sizeof(v)));
		if (psize <= 0)
			psize = 4096;
		pages = max_bytes / psize;
		if (pages < 1)
			pages = 1;
	}
	buf_printf(&b, "PRAGMA max_page_count = %lld", pages);
	rc = journal_exec(jr->db, b.data, e, sizeof(e));
	buf_free(&b);
	return rc;
}

const char *
journal_mode(struct journal *jr)
{
	static char	v[32];

	return journal_pragma_text(jr->db, "PRAGMA journal_mode", v,
	    sizeof(v));
}

const char *
journal_synchronous(struct journal *jr)
{
	static const char *const names[] = { "off", "normal", "full", "extra" };
	static char		 v[32];
	int			 n;

	journal_pragma_text(jr->db, "PRAGMA synchronous", v, sizeof(v));
	n = atoi(v);
	return n >= 0 && n <= 3 && v[0] != '?' ? names[n] : v;
}

const unsigned char *
journal_secret(const struct journal *jr)
{
	return jr->secret;
}

int
journal_schema_version(struct journal *jr)
{
	return journal_user_version(jr->db);
}

static int64_t
journal_count(struct journal *jr, const char *sql)
{
	sqlite3_stmt	*st;
	int64_t		 n = -1;

	if (sqlite3_prepare_v2(jr->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

int64_t
journal_count_scan(struct journal *jr, enum journal_table t)
{
	static const char *const sql[JOURNAL_NTABLES] = {
		[JOURNAL_EVENTS] = "SELECT count(*) FROM events",
		[JOURNAL_CONTACTS] = "SELECT count(*) FROM contacts",
		[JOURNAL_DELIVERIES] = "SELECT count(*) FROM deliveries",
	};

	if ((int)t < 0 || t >= JOURNAL_NTABLES)
		return -1;
	return journal_count(jr, sql[t]);
}

void
journal_count_add(struct journal *jr, enum journal_table t, int64_t n)
{
	if ((int)t < 0 || t >= JOURNAL_NTABLES)
		return;
	if (jr->in_txn)
		jr->txn_rows[t] += n;
	else
		jr->rows[t] += n;	/* a statement on its own: done */
}

/* What the open transaction wrote is kept (committed) or forgotten. */
static void
journal_counts_end(struct journal *jr, int committed)
{
	int	i;

	for (i = 0; i < JOURNAL_NTABLES; i++) {
		if (committed)
			jr->rows[i] += jr->txn_rows[i];
		jr->txn_rows[i] = 0;
	}
	jr->txn_event_min = 0;
	if (!committed) {
		/* What retention found and did is undone: it starts over. */
		jr->purge_after = jr->purge_event = 0;
		memset(&jr->purge_check, 0, sizeof(jr->purge_check));
	}
}

int
journal_stats(struct journal *jr, struct journal_stats *s)
{
	struct stat	st;
	struct buf	b;

	memset(s, 0, sizeof(*s));
	/* As the journal's connection sees them: the open turn included. */
	s->events = jr->rows[JOURNAL_EVENTS] + jr->txn_rows[JOURNAL_EVENTS];
	s->contacts = jr->rows[JOURNAL_CONTACTS] +
	    jr->txn_rows[JOURNAL_CONTACTS];
	s->deliveries = jr->rows[JOURNAL_DELIVERIES] +
	    jr->txn_rows[JOURNAL_DELIVERIES];
	if (stat(jr->path, &st) == 0)
		s->db_bytes = st.st_size;
	buf_init(&b, 4096);
	buf_printf(&b, "%s-wal", jr->path);
	if (b.data != NULL && stat(b.data, &st) == 0)
		s->wal_bytes = st.st_size;
	buf_free(&b);
	return s->events < 0 ? -1 : 0;
}

static int
journal_step_done(struct journal *jr, int which)
{
	sqlite3_stmt	*st = jr->st[which];
	int		 rc;

	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if ((rc & 0xff) == SQLITE_FULL)
		jr->last_full = 1;
	if (rc != SQLITE_DONE && jr->in_txn)
		jr->txn_failed = 1;
	return rc == SQLITE_DONE ? 0 : -1;
}

int
journal_txn(struct journal *jr)
{
	if (jr->in_txn)
		return 0;
	jr->last_full = 0;
	if (journal_step_done(jr, ST_BEGIN) == -1) {
		log_warnx("journal: begin: %s", sqlite3_errmsg(jr->db));
		return -1;
	}
	jr->in_txn = 1;
	jr->txn_failed = 0;
	jr->changes_at_begin = sqlite3_total_changes64(jr->db);
	return 0;
}

int
journal_in_txn(const struct journal *jr)
{
	return jr->in_txn;
}

int
journal_txn_new_events(const struct journal *jr)
{
	return jr->in_txn && jr->txn_event_min != 0;
}

int64_t
journal_new_event_floor(const struct journal *jr)
{
	return journal_txn_new_events(jr) ? jr->txn_event_min : INT64_MAX;
}

void
journal_rollback(struct journal *jr)
{
	if (!jr->in_txn)
		return;
	/* A failed COMMIT may have rolled back already; either way the
	 * transaction is gone afterwards. */
	jr->in_txn = 0;
	if (sqlite3_get_autocommit(jr->db) == 0)
		journal_step_done(jr, ST_ROLLBACK);
	jr->txn_failed = 0;
	journal_counts_end(jr, 0);
}

int
journal_commit(struct journal *jr)
{
	if (!jr->in_txn)
		return 0;
	if (jr->txn_failed) {
		/* Part of the turn failed: store none of it, so that every
		 * reply of the turn can say "nothing stored". */
		log_warnx("journal: turn rolled back after a failed write");
		journal_rollback(jr);
		return -1;
	}
	if (jr->fault_commits > 0 &&
	    sqlite3_total_changes64(jr->db) != jr->changes_at_begin) {
		/* Only a commit that stores something fails: an empty
		 * transaction (a timer that found nothing) does not take
		 * the fault meant for a write. */
		jr->fault_commits--;
		log_warnx("journal: commit failed: injected fault");
		journal_rollback(jr);
		return -1;
	}
	if (journal_step_done(jr, ST_COMMIT) == -1) {
		log_warnx("journal: commit failed: %s",
		    sqlite3_errmsg(jr->db));
		journal_rollback(jr);
		return -1;
	}
	jr->in_txn = 0;
	journal_counts_end(jr, 1);
	return 0;
}

int
journal_full(const struct journal *jr)
{
	return jr->last_full;
}

void
journal_fault_commits(struct journal *jr, int n)
{
	jr->fault_commits = n;
}

int
journal_event_store(struct journal *jr, const struct journal_event *ev,
    int64_t *recipients, int64_t *row)
{
	sqlite3_stmt	*st;
	const void	*h;
	int		 rc, res = -1;

	/* After a failed write SQLite may have rolled the transaction back
	 * by itself; writing on would go to disk in autocommit mode, outside
	 * the turn that is about to be reported as not stored. */
	if (!journal_write_ok(jr))
		return -1;
	st = jr->st[ST_EVENT_INSERT];
	sqlite3_bind_text(st, 1, ev->post, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ev->event_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, ev->topic, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, ev->type, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, ev->priority);
	sqlite3_bind_text(st, 6, ev->status, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, ev->sha256, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, ev->doc, (int)ev->doc_len, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, ev->source, -1, SQLITE_STATIC);
	if (ev->publisher)
		sqlite3_bind_text(st, 10, ev->publisher, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 10);
	if (ev->seq > 0)
		sqlite3_bind_int64(st, 11, ev->seq);
	else
		sqlite3_bind_null(st, 11);
	sqlite3_bind_int64(st, 12, ev->received_ms);
	if (ev->not_before_ms >= 0)
		sqlite3_bind_int64(st, 13, ev->not_before_ms);
	else
		sqlite3_bind_null(st, 13);
	if (ev->expires_at_ms >= 0)
		sqlite3_bind_int64(st, 14, ev->expires_at_ms);
	else
		sqlite3_bind_null(st, 14);
	if (ev->replaces)
		sqlite3_bind_text(st, 15, ev->replaces, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 15);
	sqlite3_bind_int(st, 16, ev->cancel);
	sqlite3_bind_int64(st, 17, ev->recipients);
	sqlite3_bind_int64(st, 18, ev->audience_max);
	if (journal_step_done(jr, ST_EVENT_INSERT) == -1) {
		log_warnx("journal: store event post=%s id=%s: %s", ev->post,
		    ev->event_id, sqlite3_errmsg(jr->db));
		sqlite3_clear_bindings(st);
		return -1;
	}
	sqlite3_clear_bindings(st);
	if (sqlite3_changes(jr->db) == 0) {
		/* The id was taken: a retry of the same event, or another
		 * event under the same id.  Only now is it looked up, so a
		 * new event costs one index search, not two. */
		st = jr->st[ST_EVENT_FIND];
		sqlite3_bind_text(st, 1, ev->post, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, ev->event_id, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			h = sqlite3_column_blob(st, 0);
			*recipients = sqlite3_column_int64(st, 1);
			res = h != NULL && sqlite3_column_bytes(st, 0) == 32 &&
			    memcmp(h, ev->sha256, 32) == 0 ? JOURNAL_DUPLICATE :
			    JOURNAL_CONFLICT;
			sqlite3_reset(st);
			return res;
		}
		sqlite3_reset(st);
		log_warnx("journal: find event post=%s id=%s: %s", ev->post,
		    ev->event_id, rc == SQLITE_DONE ? "conflict but no row" :
		    sqlite3_errmsg(jr->db));
		return -1;
	}
	*recipients = ev->recipients;
	if (row != NULL)
		*row = sqlite3_last_insert_rowid(jr->db);
	journal_count_add(jr, JOURNAL_EVENTS, 1);
	/* A new row is one above the highest in the table: above every
	 * committed event, and above those stored before it in this
	 * transaction. */
	if (jr->in_txn && jr->txn_event_min == 0)
		jr->txn_event_min = sqlite3_last_insert_rowid(jr->db);
	return JOURNAL_STORED;
}

int64_t
journal_feed_last_seq(struct journal *jr, const char *source)
{
	sqlite3_stmt	*st = jr->st[ST_FEED_SEQ];
	int64_t		 n = -1;

	sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}

int
journal_event_info(struct journal *jr, const char *post, const char *event_id,
    json_t **out, int64_t *rowp)
{
#define EVENT_INFO_COLUMNS "SELECT id, post, event_id, topic, type,"	\
	" priority, status, received_at, recipients, fanout_done, replaces,"	\
	" cancel, not_before, expires_at, source FROM events"
	sqlite3_stmt	*st = NULL;
	json_t		*o = NULL;
	int64_t		 row = 0;
	int		 rc = -1, n = 0;

	*out = NULL;
	*rowp = 0;
	/* Two statements: with the post, the (post, event_id) key finds it. */
	if (sqlite3_prepare_v2(jr->db, post ? EVENT_INFO_COLUMNS
	    " WHERE post = ?2 AND event_id = ?1 LIMIT 2" : EVENT_INFO_COLUMNS
	    " WHERE event_id = ?1 LIMIT 2", -1, &st, NULL) != SQLITE_OK)
		goto fail;
#undef EVENT_INFO_COLUMNS
	sqlite3_bind_text(st, 1, event_id, -1, SQLITE_STATIC);
	if (post)
		sqlite3_bind_text(st, 2, post, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (++n > 1)
			break;
		row = sqlite3_column_int64(st, 0);
		o = json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:I,s:I,s:b,s:s?,s:b,"
		    "s:s}",
		    "post", (const char *)sqlite3_column_text(st, 1),
		    "id", (const char *)sqlite3_column_text(st, 2),
		    "topic", (const char *)sqlite3_column_text(st, 3),
		    "type", (const char *)sqlite3_column_text(st, 4),
		    "priority", sqlite3_column_int(st, 5),
		    "status", (const char *)sqlite3_column_text(st, 6),
		    "received_at_ms", (json_int_t)sqlite3_column_int64(st, 7),
		    "recipients", (json_int_t)sqlite3_column_int64(st, 8),
		    "fanout_done", sqlite3_column_int(st, 9),
		    "replaces", (const char *)sqlite3_column_text(st, 10),
		    "cancel", sqlite3_column_int(st, 11),
		    "source", (const char *)sqlite3_column_text(st, 14));
		if (o == NULL)
			goto fail;
		if (sqlite3_column_type(st, 12) != SQLITE_NULL)
			json_object_set_new(o, "not_before_ms", json_integer(
			    sqlite3_column_int64(st, 12)));
		if (sqlite3_column_type(st, 13) != SQLITE_NULL)
			json_object_set_new(o, "expires_at_ms", json_integer(
			    sqlite3_column_int64(st, 13)));
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto fail;
	if (n == 0) {
		rc = 0;
		goto out;
	}
	if (n > 1) {
		json_decref(o);
		o = NULL;
		rc = 2;
		goto out;
	}
	*out = o;
	*rowp = row;
	o = NULL;
	rc = 1;
	goto out;
fail:
	log_warnx("journal: event info id=%s: %s", event_id,
	    sqlite3_errmsg(jr->db));
	rc = -1;
out:
	json_decref(o);
	sqlite3_finalize(st);
	return rc;
}

const char *const journal_state_names[JOURNAL_NSTATES] = {
	[JOURNAL_PENDING] = "pending", [JOURNAL_SENDING] = "sending",
	[JOURNAL_SENT] = "sent", [JOURNAL_DEFERRED] = "deferred",
	[JOURNAL_FAILED] = "failed", [JOURNAL_EXPIRED] = "expired",
	[JOURNAL_CANCELLED] = "cancelled", [JOURNAL_SKIPPED] = "skipped"
};

int
journal_state_index(const char *s)
{
	int	i;

	for (i = 0; s != NULL && i < JOURNAL_NSTATES; i++)
		if (strcmp(s, journal_state_names[i]) == 0)
			return i;
	return -1;
}

int
journal_event_count(struct journal *jr, struct journal_event_count *ec,
    int max_rows)
{
	sqlite3_stmt	*st = jr->st[ST_EVENT_COUNT];
	const char	*channel;
	int		 rc, i, rows = 0;

	if (!ec->started) {
		ec->contact = INT64_MIN;
		ec->channel[0] = '\0';
		ec->started = 1;
	}
	sqlite3_bind_int64(st, 1, ec->event);
	sqlite3_bind_int64(st, 2, ec->contact);
	sqlite3_bind_text(st, 3, ec->channel, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 4, max_rows);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rows++;
		ec->contact = sqlite3_column_int64(st, 0);
		channel = (const char *)sqlite3_column_text(st, 1);
		snprintf(ec->channel, sizeof(ec->channel), "%s",
		    channel ? channel : "");
		if ((i = journal_state_index((const char *)
		    sqlite3_column_text(st, 2))) >= 0)
			ec->n[i]++;
	}
	ec->read += rows;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		log_warnx("journal: counting event_row=%lld: %s",
		    (long long)ec->event, sqlite3_errmsg(jr->db));
		return -1;
	}
	return rows < max_rows;
}

json_t *
journal_event_count_json(const struct journal_event_count *ec)
{
	json_t	*o = json_object();
	int	 i;

	for (i = 0; o != NULL && i < JOURNAL_NSTATES; i++)
		if (ec->n[i] > 0)
			json_object_set_new(o, journal_state_names[i],
			    json_integer(ec->n[i]));
	return o;
}

/* One statement with up to two integer parameters, run to its first row:
 * 1 with *out set, 0 when it has no row, -1 on an error (the turn fails). */
static int
purge_step(struct journal *jr, const char *sql, int64_t a, int64_t b,
    int64_t *out)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (!journal_write_ok(jr))
		return -1;
	if (sqlite3_prepare_v2(jr->db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_warnx("journal: purge: %s", sqlite3_errmsg(jr->db));
		return -1;
	}
	sqlite3_bind_int64(st, 1, a);
	if (sqlite3_bind_parameter_count(st) > 1)
		sqlite3_bind_int64(st, 2, b);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && out != NULL)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		journal_write_failed(jr, rc);
		log_warnx("journal: purge: %s", sqlite3_errmsg(jr->db));
		return -1;
	}
	return rc == SQLITE_ROW;
}

static int64_t
purge_unfinished(const struct journal_event_count *ec)
{
	return ec->n[JOURNAL_PENDING] + ec->n[JOURNAL_SENDING] +
	    ec->n[JOURNAL_DEFERRED];
}

int
journal_purge(struct journal *jr, int64_t events_before_ms,
    int64_t audit_before_ms, int batch, int *more)
{
	/* The next candidate, in row order after those looked at in this
	 * round. */
	static const char *const next_event =
	    "SELECT id FROM events WHERE received_at < ?1 AND"
	    " fanout_done = 1 AND id > ?2 ORDER BY id LIMIT 1";
	/* The contact of the first delivery past the budget, if any. */
	static const char *const cut =
	    "SELECT contact FROM deliveries WHERE event = ?1"
	    " ORDER BY contact LIMIT 1 OFFSET ?2";
	/* Only finished deliveries go, should one have been retried since
	 * the check; the event goes when none is left.  (The trigger
	 * events_deliveries would take them with it, but uncounted.) */
	static const char *const chunk =
	    "DELETE FROM deliveries WHERE event = ?1 AND contact < ?2"
	    " AND state NOT IN ('pending', 'sending', 'deferred')";
	static const char *const rest =
	    "DELETE FROM deliveries WHERE event = ?1"
	    " AND state NOT IN ('pending', 'sending', 'deferred')";
	static const char *const event = "DELETE FROM events WHERE id = ?1"
	    " AND NOT EXISTS (SELECT 1 FROM deliveries WHERE event = ?1)";
	static const char *const audit =
	    "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE"
	    " at < ?1 ORDER BY id LIMIT ?2)";
	struct journal_event_count	*ck = &jr->purge_check;
	int64_t				 id, contact, before;
	int				 n = 0, events = 0, rc, gone;
	int				 budget = JOURNAL_PURGE_DELIVERIES;

	*more = 0;
	while (events_before_ms > 0 && events < batch && budget > 0) {
		if (jr->purge_event == 0 && ck->event == 0) {
			if ((rc = purge_step(jr, next_event, events_before_ms,
			    jr->purge_after, &id)) == -1)
				return -1;
			if (rc == 0) {
				jr->purge_after = 0;	/* the round is over */
				break;
			}
			memset(ck, 0, sizeof(*ck));
			ck->event = id;
		}
		/* Finished?  Its deliveries are read a slice a call, not in
		 * one statement (a million took 0.2 s). */
		if (ck->event != 0) {
			before = ck->read;
			if ((rc = journal_event_count(jr, ck, budget)) == -1)
				return -1;
			budget -= (int)(ck->read - before);
			if (purge_unfinished(ck) > 0) {
				jr->purge_after = ck->event;	/* not now */
				memset(ck, 0, sizeof(*ck));
				events++;
				continue;
			}
			if (rc == 0) {
				*more = 1;
				break;
			}
			jr->purge_event = jr->purge_after = ck->event;
			memset(ck, 0, sizeof(*ck));
			if (budget <= 0) {
				*more = 1;
				break;
			}
		}
		/* More deliveries than this call may remove: a slice of
		 * them, the event and the rest in later calls. */
		id = jr->purge_event;
		if ((rc = purge_step(jr, cut, id, budget, &contact)) == -1)
			return -1;
		if (rc == 1) {
			if (purge_step(jr, chunk, id, contact, NULL) == -1)
				return -1;
			gone = sqlite3_changes(jr->db);
			n += gone;
			journal_count_add(jr, JOURNAL_DELIVERIES, -(int64_t)gone);
			if (gone == 0)
				jr->purge_event = 0;	/* retried meanwhile */
			*more = 1;
			break;
		}
		if (purge_step(jr, rest, id, 0, NULL) == -1)
			return -1;
		gone = sqlite3_changes(jr->db);
		journal_count_add(jr, JOURNAL_DELIVERIES, -(int64_t)gone);
		if (purge_step(jr, event, id, 0, NULL) == -1)
			return -1;
		if (sqlite3_changes(jr->db) > 0) {
			journal_count_add(jr, JOURNAL_EVENTS, -1);
			n++;
		}
		n += gone;
		jr->purge_event = 0;
		budget -= gone + 1;
		events++;
	}
	if (events_before_ms > 0 && (events >= batch || budget <= 0))
		*more = 1;
	if (audit_before_ms > 0) {
		if (purge_step(jr, audit, audit_before_ms, batch, NULL) == -1)
			return -1;
		n += sqlite3_changes(jr->db);
		if (sqlite3_changes(jr->db) >= batch)
			*more = 1;
	}
	return n;
}

int
journal_checkpoint(struct journal *jr)
{
	int	rc, logged = 0, done = 0;

	if (jr->in_txn)
		return 0;
	rc = sqlite3_wal_checkpoint_v2(jr->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
	    &logged, &done);
	if (rc != SQLITE_OK) {
		log_warnx("journal: checkpoint: %s", sqlite3_errmsg(jr->db));
		return -1;
	}
	/* Everything copied back: restart the WAL from its start so it does
	 * not grow without bound. */
	if (logged > 0 && logged == done)
		sqlite3_wal_checkpoint_v2(jr->db, NULL,
		    SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	return 0;
}

int
journal_backup_begin(struct journal *jr, const char *dest, char *err,
    size_t errlen)
{
	if (jr->bk != NULL) {
		snprintf(err, errlen, "a backup is already running");
		return -1;
	}
	if (access(dest, F_OK) == 0) {
		snprintf(err, errlen, "backup \"%s\": file exists", dest);
		return -1;
	}
	if (sqlite3_open_v2(dest, &jr->bk_db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "backup \"%s\": %s", dest,
		    jr->bk_db ? sqlite3_errmsg(jr->bk_db) : "out of memory");
		sqlite3_close(jr->bk_db);
		jr->bk_db = NULL;
		return -1;
	}
	if ((jr->bk = sqlite3_backup_init(jr->bk_db, "main", jr->db,
	    "main")) == NULL) {
		snprintf(err, errlen, "backup \"%s\": %s", dest,
		    sqlite3_errmsg(jr->bk_db));
		sqlite3_close(jr->bk_db);
		jr->bk_db = NULL;
		unlink(dest);
		return -1;
	}
	jr->bk_path = strdup(dest);
	return 0;
}

int
journal_backup_step(struct journal *jr, int pages, char *err, size_t errlen)
{
	int	rc;

	if (jr->bk == NULL) {
		snprintf(err, errlen, "no backup running");
		return -1;
	}
	rc = sqlite3_backup_step(jr->bk, pages);
	if (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		return 0;
	if (rc == SQLITE_DONE) {
		sqlite3_backup_finish(jr->bk);
		jr->bk = NULL;
		/* The copy is a rollback-journal database; make it durable
		 * before saying it is done. */
		rc = sqlite3_exec(jr->bk_db, "PRAGMA journal_mode = DELETE",
		    NULL, NULL, NULL);
		sqlite3_close(jr->bk_db);
		jr->bk_db = NULL;
		free(jr->bk_path);
		jr->bk_path = NULL;
		return 1;
	}
	snprintf(err, errlen, "backup: %s", sqlite3_errstr(rc));
	journal_backup_abort(jr);
	return -1;
}

void
journal_backup_abort(struct journal *jr)
{
	if (jr->bk != NULL)
		sqlite3_backup_finish(jr->bk);
	jr->bk = NULL;
	if (jr->bk_db != NULL)
		sqlite3_close(jr->bk_db);
	jr->bk_db = NULL;
	if (jr->bk_path != NULL)
		unlink(jr->bk_path);
	free(jr->bk_path);
	jr->bk_path = NULL;
}
