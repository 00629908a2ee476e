/* test_journal.c - the durable store (daemon/journal.c), each test in a
 * fresh mkdtemp state directory: opening (directory mode, WAL, FULL,
 * schema, installation secret), migrations on raw connections, the store
 * outcomes table, transactions and their failures (rollback, injected
 * commit faults, SQLITE_FULL under a size cap, a failed write), feed
 * sequence numbers, journal_event_info, checkpoints, online backups and
 * stats; the deliveries table (migration from version 3 with rows in it,
 * the query plans the scheduler relies on).  What the journal wrote is
 * checked through a second, raw SQLite connection. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "buf.h"
#include "journal.h"
#include "log.h"

struct tj {
	char	 root[64];	/* mkdtemp */
	char	*dir;		/* root/state: the journal's state dir */
	char	*db;		/* dir/journal.db */
	char	*key;		/* dir/installation.key */
};

static char *
path_join(const char *a, const char *b)
{
	struct buf	p;

	buf_init(&p, 4096);
	assert_int_equal(buf_printf(&p, "%s/%s", a, b), 0);
	return buf_release(&p);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static int
setup(void **state)
{
	struct tj	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	snprintf(t->root, sizeof(t->root), "/tmp/test_journal.XXXXXX");
	if (mkdtemp(t->root) == NULL)
		return -1;
	t->dir = path_join(t->root, "state");
	t->db = path_join(t->dir, "journal.db");
	t->key = path_join(t->dir, "installation.key");
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct tj	*t = *state;

	nftw(t->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(t->dir);
	free(t->db);
	free(t->key);
	free(t);
	return 0;
}

static struct journal *
open_ok(struct tj *t, int64_t max_bytes)
{
	struct journal	*jr;
	char		 err[512] = "";

	if ((jr = journal_open(t->dir, max_bytes, err, sizeof(err))) == NULL)
		fail_msg("journal_open \"%s\": %s", t->dir, err);
	return jr;
}

/* An event for post/id whose content hash is 32 times byte h. */
struct ev {
	struct journal_event	e;
	unsigned char		sha[32];
};

static void
ev_init(struct ev *v, const char *post, const char *id, unsigned char h)
{
	memset(v, 0, sizeof(*v));
	memset(v->sha, h, sizeof(v->sha));
	v->e.post = post;
	v->e.event_id = id;
	v->e.topic = "embassy.ph.berlin.town-hall";
	v->e.type = "town-hall";
	v->e.priority = 2;
	v->e.status = "actual";
	v->e.sha256 = v->sha;
	v->e.doc = "{\"v\":1}";
	v->e.doc_len = strlen(v->e.doc);
	v->e.source = "router";
	v->e.publisher = NULL;
	v->e.seq = 0;
	v->e.received_ms = 1777777777000LL;
	v->e.not_before_ms = -1;
	v->e.expires_at_ms = -1;
	v->e.replaces = NULL;
	v->e.cancel = 0;
	v->e.recipients = 0;
}

/* Store one event in its own turn; returns the store result. */
static int
store_commit(struct journal *jr, struct ev *v)
{
	int64_t	rcpt = -1;
	int	rc;

	assert_int_equal(journal_txn(jr), 0);
	rc = journal_event_store(jr, &v->e, &rcpt, NULL);
	assert_int_equal(journal_commit(jr), 0);
	return rc;
}

/* A single integer from a raw read-only connection to path. */
static int64_t
raw_int(const char *path, const char *sql)
{
	sqlite3		*db = NULL;
	sqlite3_stmt	*st;
	int64_t		 n = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK)
		fail_msg("open %s: %s", path, db ? sqlite3_errmsg(db) : "?");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static int64_t
nevents(struct tj *t)
{
	return raw_int(t->db, "SELECT count(*) FROM events");
}

static int
raw_version(sqlite3 *db)
{
	sqlite3_stmt	*st;
	int		 v = -1;

	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1,
	    &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The whole schema, one "type name sql" line per object, in name order;
 * caller frees. */
static char *
schema_of(sqlite3 *db)
{
	struct buf	 b;
	sqlite3_stmt	*st;
	const char	*sql;

	buf_init(&b, 0);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT type, name, sql FROM "
	    "sqlite_master ORDER BY name", -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		sql = (const char *)sqlite3_column_text(st, 2);
		buf_printf(&b, "%s %s %s\n", sqlite3_column_text(st, 0),
		    sqlite3_column_text(st, 1), sql ? sql : "(auto)");
	}
	sqlite3_finalize(st);
	buf_printf(&b, "user_version %d\n", raw_version(db));
	return buf_release(&b);
}

static void
read_secret(const char *path, unsigned char *out, size_t n)
{
	struct stat	st;
	int		fd;

	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, JOURNAL_SECRET_LEN);
	assert_true((fd = open(path, O_RDONLY)) != -1);
	assert_int_equal(read(fd, out, n), (ssize_t)n);
	close(fd);
}

/* ---- opening ---- */

static void
test_open_creates(void **state)
{
	struct tj		*t = *state;
	struct journal		*jr;
	struct stat		 st;
	unsigned char		 key[JOURNAL_SECRET_LEN];
	static const unsigned char zero[JOURNAL_SECRET_LEN];

	assert_int_equal(stat(t->dir, &st), -1);
	jr = open_ok(t, 0);
	assert_int_equal(stat(t->dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_string_equal(journal_mode(jr), "wal");
	assert_string_equal(journal_synchronous(jr), "full");
	assert_true(journal_latest_version() >= 1);
	assert_int_equal(journal_schema_version(jr), journal_latest_version());
	assert_int_equal(journal_in_txn(jr), 0);
	assert_int_equal(journal_full(jr), 0);
	/* The secret file holds what journal_secret says, and is not 0s. */
	read_secret(t->key, key, sizeof(key));
	assert_memory_equal(key, journal_secret(jr), sizeof(key));
	assert_memory_not_equal(key, zero, sizeof(key));
	assert_int_equal(stat(t->db, &st), 0);
	journal_close(jr);
	journal_close(NULL);
	assert_int_equal(raw_int(t->db, "PRAGMA user_version"),
	    journal_latest_version());
}

static void
test_open_tightens(void **state)
{
	static const mode_t	 modes[] = { 0755, 0750, 0705, 0777, 0711 };
	struct tj		*t = *state;
	struct journal		*jr;
	struct stat		 st;
	size_t			 i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (i == 0)
			assert_int_equal(mkdir(t->dir, 0700), 0);
		assert_int_equal(chmod(t->dir, modes[i]), 0);
		jr = open_ok(t, 0);
		assert_int_equal(stat(t->dir, &st), 0);
		if ((st.st_mode & 07777) != 0700)
			fail_msg("mode %04o left at %04o", (unsigned)modes[i],
			    (unsigned)st.st_mode & 07777);
		journal_close(jr);
	}
}

static void
test_open_not_dir(void **state)
{
	struct tj	*t = *state;
	char		 err[512] = "";
	int		 fd;

	assert_true((fd = open(t->dir, O_WRONLY | O_CREAT, 0600)) != -1);
	close(fd);
	assert_null(journal_open(t->dir, 0, err, sizeof(err)));
	assert_non_null(strstr(err, t->dir));
	assert_non_null(strstr(err, "not a directory"));
}

static void
test_reopen(void **state)
{
	struct tj	*t = *state;
	struct journal	*jr;
	unsigned char	 first[JOURNAL_SECRET_LEN], key[JOURNAL_SECRET_LEN];
	char		*schema1, *schema2;
	struct ev	 v;
	sqlite3		*db;
	int		 i;

	jr = open_ok(t, 0);
	memcpy(first, journal_secret(jr), sizeof(first));
	ev_init(&v, "berlin", "e-1", 1);
	assert_int_equal(store_commit(jr, &v), JOURNAL_STORED);
	journal_close(jr);
	assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
	schema1 = schema_of(db);
	sqlite3_close(db);

	for (i = 0; i < 3; i++) {
		jr = open_ok(t, 0);
		assert_int_equal(journal_schema_version(jr),
		    journal_latest_version());
		assert_memory_equal(journal_secret(jr), first, sizeof(first));
		read_secret(t->key, key, sizeof(key));
		assert_memory_equal(key, first, sizeof(first));
		/* The stored event survived: same id is a duplicate. */
		assert_int_equal(store_commit(jr, &v), JOURNAL_DUPLICATE);
		journal_close(jr);
	}
	assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
	schema2 = schema_of(db);
	sqlite3_close(db);
	assert_string_equal(schema1, schema2);
	assert_int_equal(nevents(t), 1);
	free(schema1);
	free(schema2);
}

/* A damaged installation secret is refused, never replaced. */
static void
test_bad_secret(void **state)
{
	static const struct {
		const char	*name;
		size_t		 len;	/* bytes kept; (size_t)-1: a dir */
	} rows[] = {
		{ "empty", 0 }, { "one byte", 1 }, { "16 bytes", 16 },
		{ "31 bytes", 31 }, { "a directory", (size_t)-1 },
	};
	struct tj	*t = *state;
	struct journal	*jr;
	unsigned char	 key[JOURNAL_SECRET_LEN], now[JOURNAL_SECRET_LEN];
	char		 err[512];
	size_t		 i;
	int		 fd;

	jr = open_ok(t, 0);
	memcpy(key, journal_secret(jr), sizeof(key));
	journal_close(jr);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(unlink(t->key), 0);
		if (rows[i].len == (size_t)-1)
			assert_int_equal(mkdir(t->key, 0700), 0);
		else {
			fd = open(t->key, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			assert_true(fd != -1);
			assert_int_equal(write(fd, key, rows[i].len),
			    (ssize_t)rows[i].len);
			close(fd);
		}
		err[0] = '\0';
		if ((jr = journal_open(t->dir, 0, err, sizeof(err))) != NULL)
			fail_msg("%s: opened", rows[i].name);
		if (strstr(err, t->key) == NULL ||
		    strstr(err, "installation secret") == NULL)
			fail_msg("%s: error \"%s\"", rows[i].name, err);
		if (rows[i].len == (size_t)-1)
			assert_int_equal(rmdir(t->key), 0);
		else {
			/* Left as it was for the operator to restore. */
			struct stat	st;

			assert_int_equal(stat(t->key, &st), 0);
			assert_int_equal(st.st_size, (off_t)rows[i].len);
			assert_int_equal(unlink(t->key), 0);
		}
		/* Restore it: the journal opens with the same secret. */
		fd = open(t->key, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		assert_true(fd != -1);
		assert_int_equal(write(fd, key, sizeof(key)), (ssize_t)sizeof(key));
		close(fd);
		jr = open_ok(t, 0);
		memcpy(now, journal_secret(jr), sizeof(now));
		assert_memory_equal(now, key, sizeof(key));
		journal_close(jr);
	}
}

/* ---- migrations ---- */

static void
test_migrate_raw(void **state)
{
	struct tj	*t = *state;
	struct journal	*jr;
	sqlite3		*db;
	char		*s1, *s2, *s3, *path, err[512];

	path = path_join(t->root, "raw.db");
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(raw_version(db), 0);
	err[0] = '\0';
	if (journal_migrate(db, err, sizeof(err)) != 0)
		fail_msg("journal_migrate: %s", err);
	assert_int_equal(raw_version(db), journal_latest_version());
	s1 = schema_of(db);
	assert_non_null(strstr(s1, "table events "));
	assert_non_null(strstr(s1, "table deliveries "));
	/* Again: nothing changes. */
	assert_int_equal(journal_migrate(db, err, sizeof(err)), 0);
	s2 = schema_of(db);
	assert_string_equal(s1, s2);
	assert_int_equal(sqlite3_get_autocommit(db), 1);
	sqlite3_close(db);

	/* journal_open builds the same schema. */
	jr = open_ok(t, 0);
	journal_close(jr);
	assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
	s3 = schema_of(db);
	sqlite3_close(db);
	assert_string_equal(s1, s3);
	free(s1);
	free(s2);
	free(s3);
	free(path);
}

static void
test_migrate_newer(void **state)
{
	struct tj	*t = *state;
	struct buf	 b;
	sqlite3		*db;
	char		 err[512];
	int		 newer = journal_latest_version() + 1;

	assert_int_equal(mkdir(t->dir, 0700), 0);
	assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
	buf_init(&b, 128);
	buf_printf(&b, "PRAGMA user_version = %d", newer);
	assert_int_equal(sqlite3_exec(db, b.data, NULL, NULL, NULL),
	    SQLITE_OK);
	buf_free(&b);
	/* Directly: refused, nothing touched. */
	err[0] = '\0';
	assert_int_equal(journal_migrate(db, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "newer"));
	assert_int_equal(raw_version(db), newer);
	assert_int_equal(raw_int(t->db, "SELECT count(*) FROM sqlite_master"),
	    0);
	sqlite3_close(db);
	/* Through journal_open: refused, naming the file. */
	err[0] = '\0';
	assert_null(journal_open(t->dir, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "newer"));
	assert_non_null(strstr(err, t->db));
	assert_int_equal(raw_int(t->db, "PRAGMA user_version"), newer);
	assert_int_equal(raw_int(t->db, "SELECT count(*) FROM sqlite_master"),
	    0);
}

/* A migration that fails leaves the database at its version, with none
 * of that migration's tables. */
static void
test_migrate_fails(void **state)
{
	struct tj	*t = *state;
	sqlite3		*db;
	char		*path, *before, *after, err[512];

	path = path_join(t->root, "clash.db");
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	/* A "stats" table already there: migration 1's last CREATE fails. */
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE stats (x)", NULL, NULL,
	    NULL), SQLITE_OK);
	before = schema_of(db);
	err[0] = '\0';
	assert_int_equal(journal_migrate(db, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "version 1"));
	assert_non_null(strstr(err, "stats"));
	after = schema_of(db);
	assert_string_equal(before, after);
	assert_int_equal(raw_version(db), 0);
	assert_int_equal(sqlite3_get_autocommit(db), 1);
	sqlite3_close(db);
	free(before);
	free(after);
	free(path);
}

/* A journal at schema version 3 as released (migrations 1-3, verbatim):
 * the fixture for the migrations after it. */
static const char *const v3_schema[] = {
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
	"ALTER TABLE contacts ADD COLUMN status_at INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE events ADD COLUMN audience_max INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX events_fanout ON events (fanout_done) WHERE fanout_done = 0;",
	"DROP INDEX events_source_seq;"
	"CREATE INDEX events_feed_seq ON events (source, seq)"
	" WHERE seq IS NOT NULL;",
};

/* deliveries as "event contact channel state priority attempts next_at
 * last_error created_at updated_at" lines in key order; caller frees. */
static char *
deliveries_of(sqlite3 *db)
{
	struct buf	 b;
	sqlite3_stmt	*st;
	int		 i;

	buf_init(&b, 0);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT event, contact,"
	    " channel, state, priority, attempts, next_at, last_error,"
	    " created_at, updated_at FROM deliveries"
	    " ORDER BY event, contact, channel", -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (i = 0; i < 10; i++)
			buf_printf(&b, "%s%s", i ? " " : "",
			    sqlite3_column_type(st, i) == SQLITE_NULL ? "NULL" :
			    (const char *)sqlite3_column_text(st, i));
		buf_addc(&b, '\n');
	}
	sqlite3_finalize(st);
	return buf_release(&b);
}

/* EXPLAIN QUERY PLAN of sql, its details joined by "; "; caller frees. */
static char *
plan_of(sqlite3 *db, const char *sql)
{
	struct buf	 b, q;
	sqlite3_stmt	*st;

	buf_init(&b, 0);
	buf_init(&q, 0);
	buf_printf(&q, "EXPLAIN QUERY PLAN %s", sql);
	if (sqlite3_prepare_v2(db, q.data, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	while (sqlite3_step(st) == SQLITE_ROW)
		buf_printf(&b, "%s; ", sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
	buf_free(&q);
	return buf_release(&b);
}

static void
exec_ok(sqlite3 *db, const char *sql)
{
	char	*e = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK)
		fail_msg("%s: %s", sql, e ? e : sqlite3_errmsg(db));
}

/* Version 3 to the latest through journal_open, with deliveries in the
 * journal: every delivery is kept with all its columns, the schema is the
 * one a new journal gets, and deleting an event or a contact still takes
 * its deliveries along (triggers, where v3 had ON DELETE CASCADE). */
static void
test_migrate_v3_deliveries(void **state)
{
	struct tj	*t = *state;
	struct journal	*jr;
	sqlite3		*db;
	char		*before, *after, *fresh, *mig, *path, err[512];
	size_t		 i;

	assert_int_equal(mkdir(t->dir, 0700), 0);
	assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
	exec_ok(db, "PRAGMA foreign_keys = ON");
	for (i = 0; i < sizeof(v3_schema) / sizeof(v3_schema[0]); i++)
		exec_ok(db, v3_schema[i]);
	/* Rows whose ids run against the key order, both channels, every
	 * column set or NULL somewhere. */
	exec_ok(db, "PRAGMA user_version = 3;"
	    "INSERT INTO events (id, post, event_id, topic, type, priority,"
	    " status, sha256, doc, source, received_at, fanout_done) VALUES"
	    " (1, 'berlin', 'e-1', 'embassy.ph.berlin.x', 'general', 2,"
	    " 'actual', x'00', '{}', 'router', 1000, 1),"
	    " (2, 'berlin', 'e-2', 'embassy.ph.berlin.x', 'general', 3,"
	    " 'actual', x'01', '{}', 'router', 2000, 1);"
	    "INSERT INTO contacts (id, ext_id, email, webhook_url, created_at,"
	    " updated_at) VALUES (1, 'a', 'a@example.org', NULL, 1, 1),"
	    " (2, 'b', 'b@example.org', 'https://b.example/h', 1, 1),"
	    " (3, 'c', NULL, 'https://c.example/h', 1, 1);"
	    "INSERT INTO deliveries (id, event, contact, channel, state,"
	    " priority, attempts, next_at, last_error, created_at, updated_at)"
	    " VALUES (10, 2, 3, 'webhook', 'deferred', 3, 2, 9000,"
	    " 'HTTP 503', 2000, 2500),"
	    " (11, 2, 2, 'webhook', 'pending', 3, 0, 2000, NULL, 2000, 2000),"
	    " (12, 2, 2, 'smtp', 'sending', 3, 1, 2100, NULL, 2000, 2100),"
	    " (13, 1, 2, 'smtp', 'sent', 2, 1, 1000, NULL, 1000, 1200),"
	    " (14, 1, 1, 'smtp', 'failed', 2, 5, 1000, '550 5.1.1', 1000,"
	    " 1900),"
	    " (15, 2, 1, 'smtp', 'skipped', 3, 0, 2000, NULL, 2000, 2000);");
	before = deliveries_of(db);
	sqlite3_close(db);

	jr = open_ok(t, 0);
	assert_int_equal(journal_schema_version(jr), journal_latest_version());
	db = journal_db(jr);
	after = deliveries_of(db);
	assert_string_equal(before, after);
	assert_int_equal(raw_int(t->db, "SELECT count(*) FROM deliveries"), 6);
	/* The triple is the key; there is no row id to rely on. */
	assert_int_not_equal(sqlite3_exec(db, "SELECT id FROM deliveries",
	    NULL, NULL, NULL), SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(db, "SELECT rowid FROM deliveries",
	    NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO deliveries (event,"
	    " contact, channel, priority, next_at, created_at, updated_at)"
	    " VALUES (1, 1, 'smtp', 2, 1, 1, 1)", NULL, NULL, NULL) & 0xff,
	    SQLITE_CONSTRAINT);
	assert_int_equal(raw_int(t->db, "SELECT count(*) FROM"
	    " pragma_integrity_check WHERE integrity_check <> 'ok'"), 0);
	/* The cascades of v3. */
	exec_ok(db, "DELETE FROM events WHERE id = 1");
	assert_int_equal(raw_int(t->db, "SELECT count(*) FROM deliveries"
	    " WHERE event = 1"), 0);
	exec_ok(db, "DELETE FROM contacts WHERE id = 2");
	assert_int_equal(raw_int(t->db, "SELECT count(*) FROM deliveries"), 2);
	assert_int_equal(raw_int(t->db, "SELECT count(*) FROM deliveries"
	    " WHERE contact = 2"), 0);
	journal_close(jr);

	/* The same schema as a journal made new. */
	assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
	mig = schema_of(db);
	sqlite3_close(db);
	path = path_join(t->root, "fresh.db");
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (journal_migrate(db, err, sizeof(err)) != 0)
		fail_msg("journal_migrate: %s", err);
	fresh = schema_of(db);
	sqlite3_close(db);
	assert_string_equal(mig, fresh);
	free(before);
	free(after);
	free(mig);
	free(fresh);
	free(path);
}

/* What the delivery scheduler, the commands and retention ask of the
 * deliveries table is served by an index, never a scan; and never a sort
 * but for one event's counts per state. */
static const struct plan_row {
	const char	*sql;
	const char	*want;		/* in the plan */
	int		 sorts;		/* may use a temporary B-tree */
} plan_rows[] = {
	/* The scheduler's claim: per state, priority and channel in next_at
	 * order (the state list names what a partial index may hold). */
	{ "SELECT event, contact, channel, attempts, next_at FROM deliveries"
	  " WHERE state IN ('pending', 'deferred') AND state = ?1 AND"
	  " priority = ?2 AND channel = ?3 AND next_at <= ?4 ORDER BY next_at"
	  " LIMIT ?5",
	  "SEARCH deliveries USING COVERING INDEX deliveries_due (state=? AND"
	  " priority=? AND ", 0 },
	/* ... past its cursor, the last key handed over and not yet marked
	 * 'sending' (deliver_mark). */
	{ "SELECT event, contact, attempts, next_at FROM deliveries WHERE"
	  " state IN ('pending', 'deferred') AND state = ?1 AND priority = ?2"
	  " AND channel = ?3 AND (next_at, event, contact) > (?5, ?6, ?7)"
	  " ORDER BY next_at LIMIT ?4",
	  "SEARCH deliveries USING COVERING INDEX deliveries_due (state=? AND"
	  " priority=? AND channel=? AND (next_at,event,contact)>(?,?,?))", 0 },
	{ "UPDATE deliveries SET state = 'sending' WHERE event = ?1 AND"
	  " contact = ?2 AND channel = ?3 AND state IN ('pending', 'deferred')",
	  "SEARCH deliveries USING PRIMARY KEY (event=? AND contact=? AND"
	  " channel=?)", 0 },
	{ "SELECT state, attempts FROM deliveries WHERE event = ?1 AND"
	  " contact = ?2 AND channel = ?3",
	  "SEARCH deliveries USING PRIMARY KEY (event=? AND contact=? AND"
	  " channel=?); ", 0 },
	{ "UPDATE deliveries SET state = 'sent' WHERE event = ?1 AND"
	  " contact = ?2 AND channel = ?3",
	  "SEARCH deliveries USING PRIMARY KEY (event=? AND contact=? AND"
	  " channel=?); ", 0 },
	/* Expiry: the expired events' deliveries, not the whole queue. */
	{ "UPDATE deliveries SET state = 'expired' WHERE +state IN"
	  " ('pending', 'deferred') AND event IN (SELECT id FROM events WHERE"
	  " expires_at IS NOT NULL AND expires_at > ?2 AND expires_at <= ?1)",
	  "SEARCH deliveries USING PRIMARY KEY (event=?)", 0 },
	/* `event` and `deliveries` read a slice a turn from the last key. */
	{ "SELECT contact, channel, state FROM deliveries WHERE event = ?1"
	  " AND (contact, channel) > (?2, ?3) ORDER BY contact, channel"
	  " LIMIT ?4", "SEARCH deliveries USING PRIMARY KEY (event=? AND"
	  " (contact,channel)>(?,?))", 0 },
	{ "SELECT event, contact, channel, state, updated_at FROM deliveries"
	  " WHERE (event, contact, channel) < (?1, ?2, ?3)"
	  " ORDER BY event DESC, contact DESC, channel DESC LIMIT ?4",
	  "SEARCH deliveries USING PRIMARY KEY ((event,contact,channel)<(?,?,?))",
	  0 },
	{ "SELECT event, contact, channel, state, updated_at FROM deliveries"
	  " WHERE event = ?1 AND (contact, channel) < (?2, ?3)"
	  " ORDER BY contact DESC, channel DESC LIMIT ?4",
	  "SEARCH deliveries USING PRIMARY KEY (event=? AND"
	  " (contact,channel)<(?,?))", 0 },
	{ "UPDATE deliveries SET state = 'cancelled' WHERE event = ?1 AND"
	  " state IN ('pending', 'deferred')",
	  "SEARCH deliveries USING PRIMARY KEY (event=?); ", 0 },
	{ "DELETE FROM deliveries WHERE contact = ?1",
	  "SEARCH deliveries USING COVERING INDEX deliveries_contact"
	  " (contact=?); ", 0 },
	{ "SELECT 1 FROM deliveries d WHERE d.event = ?1 AND d.state IN"
	  " ('pending', 'sending', 'deferred')",
	  "SEARCH d USING PRIMARY KEY (event=?); ", 0 },
};

static void
test_deliveries_plans(void **state)
{
	struct tj	*t = *state;
	struct journal	*jr;
	char		*p;
	size_t		 i;

	jr = open_ok(t, 0);
	for (i = 0; i < sizeof(plan_rows) / sizeof(plan_rows[0]); i++) {
		p = plan_of(journal_db(jr), plan_rows[i].sql);
		if (strstr(p, plan_rows[i].want) == NULL ||
		    (!plan_rows[i].sorts && strstr(p, "TEMP B-TREE") != NULL) ||
		    strstr(p, "SCAN") != NULL)
			fail_msg("row %zu: plan \"%s\", want \"%s\"", i, p,
			    plan_rows[i].want);
		free(p);
	}
	journal_close(jr);
}

/* ---- storing ---- */

struct store_row {
	const char	*post;
	const char	*id;
	unsigned char	 sha;
	int64_t		 recipients;	/* given */
	int		 want;
	int64_t		 want_rcpt;	/* returned */
};

static const struct store_row store_rows[] = {
	{ "berlin", "e-1", 0xa1, 5, JOURNAL_STORED, 5 },
	{ "berlin", "e-1", 0xa1, 9, JOURNAL_DUPLICATE, 5 },
	{ "berlin", "e-1", 0xb2, 9, JOURNAL_CONFLICT, 5 },
	{ "berlin", "e-1", 0xa1, 0, JOURNAL_DUPLICATE, 5 },
	{ "munich", "e-1", 0xb2, 7, JOURNAL_STORED, 7 },
	{ "munich", "e-1", 0xa1, 0, JOURNAL_CONFLICT, 7 },
	{ "munich", "e-1", 0xb2, 0, JOURNAL_DUPLICATE, 7 },
	{ "berlin", "e-2", 0xa1, 0, JOURNAL_STORED, 0 },
	{ "berlin", "E-1", 0xa1, 1, JOURNAL_STORED, 1 },	/* case */
	{ "berlin", "e-2", 0xa1, 3, JOURNAL_DUPLICATE, 0 },
};
#define NSTORE	(sizeof(store_rows) / sizeof(store_rows[0]))
#define NSTORED	4

static void
run_store_rows(struct journal *jr, int reopened)
{
	const struct store_row	*r;
	struct ev		 v;
	int64_t			 rcpt;
	size_t			 i;
	int			 rc, want;

	assert_int_equal(journal_txn(jr), 0);
	assert_int_equal(journal_in_txn(jr), 1);
	assert_int_equal(journal_txn(jr), 0);	/* already open: fine */
	for (i = 0; i < NSTORE; i++) {
		r = &store_rows[i];
		ev_init(&v, r->post, r->id, r->sha);
		v.e.recipients = r->recipients;
		want = r->want;
		/* Once committed, every first store is a duplicate. */
		if (reopened && want == JOURNAL_STORED)
			want = JOURNAL_DUPLICATE;
		rcpt = -1;
		rc = journal_event_store(jr, &v.e, &rcpt, NULL);
		if (rc != want)
			fail_msg("row %zu (%s %s %02x): %d, want %d", i,
			    r->post, r->id, r->sha, rc, want);
		if (rcpt != r->want_rcpt)
			fail_msg("row %zu: recipients %lld, want %lld", i,
			    (long long)rcpt, (long long)r->want_rcpt);
	}
	assert_int_equal(journal_commit(jr), 0);
	assert_int_equal(journal_in_txn(jr), 0);
}

static void
test_store(void **state)
{
	struct tj	*t = *state;
	struct journal	*jr;

	jr = open_ok(t, 0);
	run_store_rows(jr, 0);
	assert_int_equal(nevents(t), NSTORED);
	journal_close(jr);
	/* After a restart the same rows find what was committed. */
	jr = open_ok(t, 0);
	run_store_rows(jr, 1);
	assert_int_equal(nevents(t), NSTORED);
	journal_close(jr);
}

/* What a stored row holds, including NULLs for the "none" values. */
static void
test_store_fields(void **state)
{
	struct tj	*t = *state;
	struct journal	*jr;
	struct ev	 v, w;

	jr = open_ok(t, 0);
	ev_init(&v, "berlin", "full", 3);
	v.e.topic = "consulate.de.munich.crisis";
	v.e.type = "crisis";
	v.e.priority = 4;
	v.e.status = "exercise";
	v.e.doc = "{\"v\":1,\"id\":\"full\"}TRAILING";
	v.e.doc_len = strlen("{\"v\":1,\"id\":\"full\"}");
	v.e.source = "feed:munich";
	v.e.publisher = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
	v.e.seq = 42;
	v.e.not_before_ms = 1000;
	v.e.expires_at_ms = 2000;
	v.e.replaces = "older";
	v.e.cancel = 1;
	v.e.recipients = 12;
	ev_init(&w, "berlin", "none", 4);
	assert_int_equal(journal_txn(jr), 0);
	assert_int_equal(journal_event_store(jr, &v.e, &(int64_t){0}, NULL),
	    JOURNAL_STORED);
	assert_int_equal(journal_event_store(jr, &w.e, &(int64_t){0}, NULL),
	    JOURNAL_STORED);
	assert_int_equal(journal_commit(jr), 0);
	journal_close(jr);

	assert_int_equal(raw_int(t->db, "SELECT count(*) FROM events WHERE "
	    "event_id = 'full' AND topic = 'consulate.de.munich.crisis' AND "
	    "type = 'crisis' AND priority = 4 AND status = 'exercise' AND "
	    "doc = '{\"v\":1,\"id\":\"full\"}' AND source = 'feed:munich' AND "
	    "publisher = 'rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7' AND "
	    "seq = 42 AND received_at = 1777777777000 AND not_before = 1000 "
	    "AND expires_at = 2000 AND replaces = 'older' AND cancel = 1 AND "
	    "recipients = 12 AND fanout_done = 0 AND hex(sha256) = '0303030303030303030303030303030303030303030303030303"
	    "030303030303'"), 1);
	assert_int_equal(raw_int(t->db, "SELECT count(*) FROM events WHERE "
	    "event_id = 'none' AND publisher IS NULL AND seq IS NULL AND "
	    "not_before IS NULL AND expires_at IS NULL AND replaces IS NULL "
	    "AND cancel = 0 AND recipients = 0 AND status = 'actual' AND "
	    "fanout_done = 1"), 1);
}

/* journal_event_info: found, not found, and an id two posts share. */
static void
test_event_info(void **state)
{
	struct tj	*t = *state;
	struct journal	*jr;
	struct ev	 v;
	json_t		*o;
	int64_t		 row = -1;

	jr = open_ok(t, 0);
	ev_init(&v, "berlin", "e-1", 1);
	v.e.recipients = 3;
	v.e.expires_at_ms = 5000;
	assert_int_equal(store_commit(jr, &v), JOURNAL_STORED);
	ev_init(&v, "munich", "e-1", 2);
	assert_int_equal(store_commit(jr, &v), JOURNAL_STORED);
	ev_init(&v, "munich", "e-2", 3);
	assert_int_equal(store_commit(jr, &v), JOURNAL_STORED);

	o = (json_t *)1;
	assert_int_equal(journal_event_info(jr, "berlin", "e-1", &o, &row), 1);
	assert_non_null(o);
	assert_true(row > 0);
	assert_string_equal(json_string_value(json_object_get(o, "post")),
	    "berlin");
	assert_string_equal(json_string_value(json_object_get(o, "id")),
	    "e-1");
	assert_int_equal(json_integer_value(json_object_get(o,
	    "recipients")), 3);
	assert_int_equal(json_integer_value(json_object_get(o,
	    "expires_at_ms")), 5000);
	assert_null(json_object_get(o, "not_before_ms"));
	assert_true(json_is_false(json_object_get(o, "fanout_done")));
	assert_null(json_object_get(o, "deliveries"));	/* counted apart */
	json_decref(o);

	assert_int_equal(journal_event_info(jr, NULL, "e-2", &o, &row), 1);
	assert_string_equal(json_string_value(json_object_get(o, "post")),
	    "munich");
	assert_true(json_is_true(json_object_get(o, "fanout_done")));
	json_decref(o);
	o = (json_t *)1;
	assert_int_equal(journal_event_info(jr, NULL, "e-1", &o, &row), 2);
	assert_null(o);
	o = (json_t *)1;
	assert_int_equal(journal_event_info(jr, "berlin", "e-2", &o, &row), 0);
	assert_null(o);
	assert_int_equal(journal_event_info(jr, NULL, "nope", &o, &row), 0);
	assert_null(o);
	journal_close(jr);
}

static void
test_rollback(void **state)
{
	struct tj	*t = *state;
	struct journal	*jr;
	struct ev	 v;
	int64_t		 rcpt;

	jr = open_ok(t, 0);
	journal_rollback(jr);			/* none open: no-op */
	assert_int_equal(journal_commit(jr), 0);	/* none open: 0 */
	ev_init(&v, "berlin", "e-1", 1);
	assert_int_equal(journal_txn(jr), 0);
	assert_int_equal(journal_event_store(jr, &v.e, &rcpt, NULL), JOURNAL_STORED);
	/* Within the turn, the event is visible to the journal itself. */
	assert_int_equal(journal_event_store(jr, &v.e, &rcpt, NULL),
	    JOURNAL_DUPLICATE);
	journal_rollback(jr);
	assert_int_equal(journal_in_txn(jr), 0);
	assert_int_equal(nevents(t), 0);
	/* Stored anew after the rollback. */
	assert_int_equal(store_commit(jr, &v), JOURNAL_STORED);
	assert_int_equal(nevents(t), 1);

	/* Closing with a turn open discards the turn. */
	ev_init(&v, "berlin", "e-2", 2);
	assert_int_equal(journal_txn(jr), 0);
	assert_int_equal(journal_event_store(jr, &v.e, &rcpt, NULL), JOURNAL_STORED);
	journal_close(jr);
	assert_int_equal(nevents(t), 1);
}

static void
test_fault_commit(void **state)
{
	struct tj	*t = *state;
	struct journal	*jr;
	struct ev	 v, w;
	int64_t		 rcpt;

	jr = open_ok(t, 0);
	ev_init(&v, "berlin", "e-1", 1);
	ev_init(&w, "berlin", "e-2", 2);
	journal_fault_commits(jr, 1);
	assert_int_equal(journal_txn(jr), 0);
	assert_int_equal(journal_event_store(jr, &v.e, &rcpt, NULL), JOURNAL_STORED);
	assert_int_equal(journal_event_store(jr, &w.e, &rcpt, NULL), JOURNAL_STORED);
	assert_int_equal(journal_commit(jr), -1);
	assert_int_equal(journal_in_txn(jr), 0);
	assert_int_equal(journal_full(jr), 0);
	assert_int_equal(nevents(t), 0);
	/* The following commit works, and stores all of its turn. */
	assert_int_equal(journal_txn(jr), 0);
	assert_int_equal(journal_event_store(jr, &v.e, &rcpt, NULL), JOURNAL_STORED);
	assert_int_equal(journal_event_store(jr, &w.e, &rcpt, NULL), JOURNAL_STORED);
	assert_int_equal(journal_commit(jr), 0);
	assert_int_equal(nevents(t), 2);

	/* Two faults: two turns lost, the third stored. */
	journal_fault_commits(jr, 2);
	ev_init(&v, "berlin", "e-3", 3);
	assert_int_equal(journal_txn(jr), 0);
	assert_int_equal(journal_event_store(jr, &v.e, &rcpt, NULL), JOURNAL_STORED);
	assert_int_equal(journal_commit(jr), -1);
	assert_int_equal(journal_txn(jr), 0);
	assert_int_equal(journal_event_store(jr, &v.e, &rcpt, NULL), JOURNAL_STORED);
	assert_int_equal(journal_commit(jr), -1);
	assert_int_equal(nevents(t), 2);
	assert_int_equal(store_commit(jr, &v), JOURNAL_STORED);
	assert_int_equal(nevents(t), 3);
	/* A commit without a turn does not use up a fault. */
	journal_fault_commits(jr, 1);
	assert_int_equal(journal_commit(jr), 0);
	journal_fault_commits(jr, 0);
	journal_close(jr);
}

/* A write that fails (a NOT NULL constraint here; the daemon's connection
 * leaves CHECKs to the C validators) makes the whole turn roll
 * back at commit, including writes before it; writes after it in the same
 * turn fail at once. */
static void
test_failed_write(void **state)
{
	struct tj	*t = *state;
	struct journal	*jr;
	struct ev	 a, bad, c;
	int64_t		 rcpt;

	jr = open_ok(t, 0);
	ev_init(&a, "berlin", "a", 1);
	ev_init(&bad, "berlin", "bad", 2);
	bad.e.topic = NULL;
	ev_init(&c, "berlin", "c", 3);
	assert_int_equal(journal_txn(jr), 0);
	assert_int_equal(journal_event_store(jr, &a.e, &rcpt, NULL), JOURNAL_STORED);
	assert_int_equal(journal_event_store(jr, &bad.e, &rcpt, NULL), -1);
	assert_int_equal(journal_event_store(jr, &c.e, &rcpt, NULL), -1);
	assert_int_equal(journal_commit(jr), -1);
	assert_int_equal(journal_in_txn(jr), 0);
	assert_int_equal(journal_full(jr), 0);
	assert_int_equal(nevents(t), 0);
	/* The next turn is clean. */
	assert_int_equal(journal_txn(jr), 0);
	assert_int_equal(journal_event_store(jr, &a.e, &rcpt, NULL), JOURNAL_STORED);
	assert_int_equal(journal_event_store(jr, &c.e, &rcpt, NULL), JOURNAL_STORED);
	assert_int_equal(journal_commit(jr), 0);
	assert_int_equal(nevents(t), 2);
	journal_close(jr);
}

/* Under a size cap, a write that needs pages fails with SQLITE_FULL: the
 * turn rolls back, journal_full() says why, and raising the cap heals. */
static void
test_full(void **state)
{
	struct tj	*t = *state;
	struct journal	*jr;
	struct ev	 small, big, after;
	struct journal_stats js;
	char		*doc;
	int64_t		 rcpt, before;
	size_t		 doclen = 256 * 1024;
	int		 i;

	jr = open_ok(t, 0);
	for (i = 0; i < 3; i++) {
		char	id[16];

		snprintf(id, sizeof(id), "pre-%d", i);
		ev_init(&small, "berlin", id, (unsigned char)i);
		assert_int_equal(store_commit(jr, &small), JOURNAL_STORED);
	}
	before = nevents(t);
	assert_int_equal(before, 3);

	doc = malloc(doclen + 1);
	assert_non_null(doc);
	memset(doc, 'x', doclen);
	doc[doclen] = '\0';
	ev_init(&small, "berlin", "small", 10);
	ev_init(&big, "berlin", "big", 11);
	big.e.doc = doc;
	big.e.doc_len = doclen;
	ev_init(&after, "berlin", "after", 12);

	/* A tiny cap: SQLite keeps the database at its current size. */
	assert_int_equal(journal_set_max_bytes(jr, 4096), 0);
	assert_int_equal(journal_txn(jr), 0);
	assert_int_equal(journal_full(jr), 0);
	(void)journal_event_store(jr, &small.e, &rcpt, NULL);	/* may fit */
	assert_int_equal(journal_event_store(jr, &big.e, &rcpt, NULL), -1);
	assert_int_equal(journal_full(jr), 1);
	assert_int_equal(journal_commit(jr), -1);
	assert_int_equal(journal_full(jr), 1);
	assert_int_equal(journal_in_txn(jr), 0);
	assert_int_equal(nevents(t), before);
	assert_int_equal(raw_int(t->db, "SELECT count(*) FROM events WHERE "
	    "event_id IN ('small', 'big', 'after')"), 0);

	/* Still full on the next turn. */
	assert_int_equal(journal_txn(jr), 0);
	assert_int_equal(journal_full(jr), 0);
	assert_int_equal(journal_event_store(jr, &big.e, &rcpt, NULL), -1);
	assert_int_equal(journal_full(jr), 1);
	assert_int_equal(journal_commit(jr), -1);
	assert_int_equal(nevents(t), before);

	/* Raise the cap (0: none): stores work again. */
	assert_int_equal(journal_set_max_bytes(jr, 0), 0);
	assert_int_equal(journal_txn(jr), 0);
	assert_int_equal(journal_event_store(jr, &small.e, &rcpt, NULL),
	    JOURNAL_STORED);
	assert_int_equal(journal_event_store(jr, &big.e, &rcpt, NULL),
	    JOURNAL_STORED);
	assert_int_equal(journal_event_store(jr, &after.e, &rcpt, NULL),
	    JOURNAL_STORED);
	assert_int_equal(journal_commit(jr), 0);
	assert_int_equal(journal_full(jr), 0);
	assert_int_equal(nevents(t), before + 3);
	assert_int_equal(raw_int(t->db, "SELECT length(doc) FROM events "
	    "WHERE event_id = 'big'"), (int64_t)doclen);
	assert_int_equal(journal_stats(jr, &js), 0);
	assert_int_equal(js.events, before + 3);
	journal_close(jr);
	free(doc);
}

/* On SQLITE_FULL, SQLite may roll back the whole transaction itself
 * (sqlite3_get_autocommit() turns 1).  A later store of the same turn must
 * not then be committed on its own in autocommit mode while the turn is
 * reported as not stored. */
static void
test_full_turn_goes_on(void **state)
{
	struct tj	*t = *state;
	struct journal	*jr;
	struct ev	 pre, small, big, after;
	char		*doc;
	int64_t		 rcpt;
	size_t		 doclen = 256 * 1024;

	doc = malloc(doclen);
	assert_non_null(doc);
	memset(doc, 'x', doclen);
	ev_init(&pre, "berlin", "pre", 1);
	ev_init(&small, "berlin", "small", 2);
	ev_init(&big, "berlin", "big", 3);
	big.e.doc = doc;
	big.e.doc_len = doclen;
	ev_init(&after, "berlin", "after", 4);
	jr = open_ok(t, 0);
	assert_int_equal(store_commit(jr, &pre), JOURNAL_STORED);
	assert_int_equal(journal_set_max_bytes(jr, 4096), 0);
	assert_int_equal(journal_txn(jr), 0);
	(void)journal_event_store(jr, &small.e, &rcpt, NULL);
	assert_int_equal(journal_event_store(jr, &big.e, &rcpt, NULL), -1);
	assert_int_equal(journal_full(jr), 1);
	/* The turn goes on (other publishers' events in the same turn):
	 * whatever this returns, it must not be stored on its own. */
	(void)journal_event_store(jr, &after.e, &rcpt, NULL);
	assert_int_equal(journal_commit(jr), -1);
	assert_int_equal(journal_in_txn(jr), 0);
	journal_close(jr);
	free(doc);
	assert_int_equal(raw_int(t->db, "SELECT count(*) FROM events WHERE "
	    "event_id IN ('small', 'big', 'after')"), 0);
	assert_int_equal(nevents(t), 1);
}

/* A cap given at open time behaves the same. */
static void
test_full_at_open(void **state)
{
	struct tj	*t = *state;
	struct journal	*jr;
	struct ev	 big;
	char		*doc;
	int64_t		 rcpt;
	size_t		 doclen = 1024 * 1024;

	doc = malloc(doclen);
	assert_non_null(doc);
	memset(doc, 'y', doclen);
	ev_init(&big, "berlin", "big", 1);
	big.e.doc = doc;
	big.e.doc_len = doclen;
	jr = open_ok(t, 256 * 1024);
	assert_int_equal(journal_txn(jr), 0);
	assert_int_equal(journal_event_store(jr, &big.e, &rcpt, NULL), -1);
	assert_int_equal(journal_full(jr), 1);
	assert_int_equal(journal_commit(jr), -1);
	journal_close(jr);
	assert_int_equal(nevents(t), 0);
	jr = open_ok(t, 8 * 1024 * 1024);
	assert_int_equal(store_commit(jr, &big), JOURNAL_STORED);
	journal_close(jr);
	assert_int_equal(nevents(t), 1);
	free(doc);
}

static void
test_feed_last_seq(void **state)
{
	static const struct {
		const char	*source;
		int64_t		 seq;
	} stores[] = {
		{ "feed:a", 5 }, { "feed:a", 3 }, { "feed:b", 9 },
		{ "feed:a", 0 }, { "router", 0 }, { "feed:b", 1 },
		{ "feed:c", 4294967296LL },
	};
	static const struct {
		const char	*source;
		int64_t		 last;
	} want[] = {
		{ "feed:a", 5 }, { "feed:b", 9 }, { "feed:c", 4294967296LL },
		{ "router", 0 }, { "feed:d", 0 }, { "", 0 }, { "feed:", 0 },
	};
	struct tj	*t = *state;
	struct journal	*jr;
	struct ev	 v;
	char		 id[16];
	int64_t		 rcpt;
	size_t		 i;

	jr = open_ok(t, 0);
	assert_int_equal(journal_feed_last_seq(jr, "feed:a"), 0);
	assert_int_equal(journal_txn(jr), 0);
	for (i = 0; i < sizeof(stores) / sizeof(stores[0]); i++) {
		snprintf(id, sizeof(id), "e-%zu", i);
		ev_init(&v, "berlin", id, (unsigned char)i);
		v.e.source = stores[i].source;
		v.e.seq = stores[i].seq;
		assert_int_equal(journal_event_store(jr, &v.e, &rcpt, NULL),
		    JOURNAL_STORED);
	}
	/* Inside the turn the journal sees its own writes ... */
	assert_int_equal(journal_feed_last_seq(jr, "feed:a"), 5);
	assert_int_equal(journal_commit(jr), 0);
	/* ... and after it. */
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (journal_feed_last_seq(jr, want[i].source) != want[i].last)
			fail_msg("last seq of \"%s\": %lld, want %lld",
			    want[i].source,
			    (long long)journal_feed_last_seq(jr,
			    want[i].source), (long long)want[i].last);
	journal_close(jr);
	jr = open_ok(t, 0);
	assert_int_equal(journal_feed_last_seq(jr, "feed:b"), 9);
	journal_close(jr);
}

static void
test_checkpoint(void **state)
{
	struct tj		*t = *state;
	struct journal		*jr;
	struct journal_stats	 js;
	struct ev		 v;
	int64_t			 rcpt;

	jr = open_ok(t, 0);
	assert_int_equal(journal_checkpoint(jr), 0);	/* empty WAL */
	ev_init(&v, "berlin", "e-1", 1);
	assert_int_equal(store_commit(jr, &v), JOURNAL_STORED);
	assert_int_equal(journal_stats(jr, &js), 0);
	assert_true(js.wal_bytes > 0);
	assert_int_equal(journal_checkpoint(jr), 0);
	/* All copied back: the WAL was truncated. */
	assert_int_equal(journal_stats(jr, &js), 0);
	assert_int_equal(js.wal_bytes, 0);
	assert_int_equal(nevents(t), 1);
	/* Inside a turn: does nothing, returns 0, the turn goes on. */
	ev_init(&v, "berlin", "e-2", 2);
	assert_int_equal(journal_txn(jr), 0);
	assert_int_equal(journal_event_store(jr, &v.e, &rcpt, NULL), JOURNAL_STORED);
	assert_int_equal(journal_checkpoint(jr), 0);
	assert_int_equal(journal_in_txn(jr), 1);
	assert_int_equal(journal_commit(jr), 0);
	assert_int_equal(nevents(t), 2);
	journal_close(jr);
}

static void
test_backup(void **state)
{
	struct tj	*t = *state;
	struct journal	*jr;
	struct ev	 v;
	sqlite3		*db;
	sqlite3_stmt	*st;
	char		*dest, *other, err[512], id[16];
	int64_t		 rcpt;
	int		 i, rc, steps;

	dest = path_join(t->root, "backup.db");
	other = path_join(t->root, "exists.db");
	jr = open_ok(t, 0);
	assert_int_equal(journal_txn(jr), 0);
	for (i = 0; i < 200; i++) {
		snprintf(id, sizeof(id), "e-%d", i);
		ev_init(&v, "berlin", id, (unsigned char)i);
		assert_int_equal(journal_event_store(jr, &v.e, &rcpt, NULL),
		    JOURNAL_STORED);
	}
	assert_int_equal(journal_commit(jr), 0);

	/* No backup running. */
	err[0] = '\0';
	assert_int_equal(journal_backup_step(jr, 1, err, sizeof(err)), -1);
	assert_true(err[0] != '\0');

	/* In slices of one page. */
	err[0] = '\0';
	if (journal_backup_begin(jr, dest, err, sizeof(err)) != 0)
		fail_msg("journal_backup_begin: %s", err);
	err[0] = '\0';
	assert_int_equal(journal_backup_begin(jr, other, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "already"));
	assert_int_equal(access(other, F_OK), -1);
	for (steps = 0; (rc = journal_backup_step(jr, 1, err,
	    sizeof(err))) == 0; steps++)
		assert_true(steps < 100000);
	if (rc != 1)
		fail_msg("journal_backup_step: %s", err);
	assert_true(steps > 1);
	journal_close(jr);

	assert_int_equal(sqlite3_open(dest, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1,
	    &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal(sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	assert_int_equal(raw_version(db), journal_latest_version());
	sqlite3_close(db);
	assert_int_equal(raw_int(dest, "SELECT count(*) FROM events"), 200);
	assert_int_equal(raw_int(dest, "SELECT count(*) FROM events WHERE "
	    "event_id = 'e-199'"), 1);
	/* A standalone file: no WAL needed beside it. */
	assert_int_equal(raw_int(dest, "SELECT count(*) FROM "
	    "pragma_journal_mode WHERE journal_mode = 'delete'"), 1);

	/* Onto an existing file: refused, the file untouched. */
	jr = open_ok(t, 0);
	err[0] = '\0';
	assert_int_equal(journal_backup_begin(jr, dest, err, sizeof(err)), -1);
	assert_non_null(strstr(err, dest));
	assert_non_null(strstr(err, "exists"));
	assert_int_equal(raw_int(dest, "SELECT count(*) FROM events"), 200);

	/* Abort removes the partial copy; abort without one is a no-op. */
	assert_int_equal(journal_backup_begin(jr, other, err, sizeof(err)), 0);
	assert_int_equal(journal_backup_step(jr, 1, err, sizeof(err)), 0);
	journal_backup_abort(jr);
	assert_int_equal(access(other, F_OK), -1);
	journal_backup_abort(jr);

	/* Into a missing directory: an error naming it. */
	free(other);
	other = path_join(t->root, "no/such/dir.db");
	err[0] = '\0';
	assert_int_equal(journal_backup_begin(jr, other, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, other));

	/* Closing with a backup running drops the copy. */
	free(other);
	other = path_join(t->root, "dropped.db");
	assert_int_equal(journal_backup_begin(jr, other, err, sizeof(err)), 0);
	assert_int_equal(journal_backup_step(jr, 1, err, sizeof(err)), 0);
	journal_close(jr);
	assert_int_equal(access(other, F_OK), -1);
	free(dest);
	free(other);
}

static void
test_stats(void **state)
{
	struct tj		*t = *state;
	struct journal		*jr;
	struct journal_stats	 js;
	struct ev		 v;
	char			 id[16];
	int64_t			 rcpt;
	int			 i;

	jr = open_ok(t, 0);
	memset(&js, 0xff, sizeof(js));
	assert_int_equal(journal_stats(jr, &js), 0);
	assert_int_equal(js.events, 0);
	assert_int_equal(js.contacts, 0);
	assert_int_equal(js.deliveries, 0);
	assert_true(js.db_bytes > 0);
	assert_true(js.wal_bytes >= 0);
	assert_int_equal(journal_txn(jr), 0);
	for (i = 0; i < 17; i++) {
		snprintf(id, sizeof(id), "e-%d", i);
		ev_init(&v, "berlin", id, (unsigned char)i);
		assert_int_equal(journal_event_store(jr, &v.e, &rcpt, NULL),
		    JOURNAL_STORED);
	}
	/* Counted from the journal's own connection, turn included. */
	assert_int_equal(journal_stats(jr, &js), 0);
	assert_int_equal(js.events, 17);
	journal_rollback(jr);
	assert_int_equal(journal_stats(jr, &js), 0);
	assert_int_equal(js.events, 0);
	assert_int_equal(journal_txn(jr), 0);
	for (i = 0; i < 17; i++) {
		snprintf(id, sizeof(id), "e-%d", i);
		ev_init(&v, "berlin", id, (unsigned char)i);
		assert_int_equal(journal_event_store(jr, &v.e, &rcpt, NULL),
		    JOURNAL_STORED);
	}
	assert_int_equal(journal_commit(jr), 0);
	assert_int_equal(journal_stats(jr, &js), 0);
	assert_int_equal(js.events, 17);
	assert_true(js.wal_bytes > 0);
	journal_close(jr);
}

/* Retention purges finished old events (with their deliveries) and old
 * audit entries, in batches, and never an event with work left. */
static void
test_purge(void **state)
{
	struct tj	*t = *state;
	struct journal	*jr;
	struct ev	 old1, old2, busy, young;
	char		*e = NULL;
	int		 more;

	jr = open_ok(t, 0);
	ev_init(&old1, "berlin", "old1", 1);
	ev_init(&old2, "berlin", "old2", 2);
	ev_init(&busy, "berlin", "busy", 3);
	ev_init(&young, "berlin", "young", 4);
	old1.e.received_ms = old2.e.received_ms = busy.e.received_ms = 1000;
	young.e.received_ms = 5000;
	assert_int_equal(store_commit(jr, &old1), JOURNAL_STORED);
	assert_int_equal(store_commit(jr, &old2), JOURNAL_STORED);
	assert_int_equal(store_commit(jr, &busy), JOURNAL_STORED);
	assert_int_equal(store_commit(jr, &young), JOURNAL_STORED);
	assert_int_equal(sqlite3_exec(journal_db(jr),
	    "INSERT INTO contacts (ext_id, email, created_at, updated_at)"
	    " VALUES ('c', 'c@example.org', 1, 1);"
	    "INSERT INTO deliveries (event, contact, channel, state, priority,"
	    " next_at, created_at, updated_at) SELECT id, 1, 'smtp',"
	    " CASE event_id WHEN 'busy' THEN 'deferred' ELSE 'sent' END, 1, 1,"
	    " 1, 1 FROM events;"
	    "INSERT INTO audit (at, uid, action) VALUES (10, 0, 'show'),"
	    " (20, 0, 'show'), (9000, 0, 'export');", NULL, NULL, &e),
	    SQLITE_OK);
	assert_int_equal(journal_txn(jr), 0);
	/* A batch of one: one event (with its delivery) and one audit entry
	 * per call; then busy, unfinished, is looked at and left. */
	assert_int_equal(journal_purge(jr, 2000, 100, 1, &more), 3);
	assert_int_equal(more, 1);
	assert_int_equal(journal_purge(jr, 2000, 100, 1, &more), 3);
	assert_int_equal(journal_purge(jr, 2000, 100, 1, &more), 0);
	assert_int_equal(journal_purge(jr, 2000, 100, 1, &more), 0);
	assert_int_equal(more, 0);		/* the round is over */
	assert_int_equal(journal_commit(jr), 0);
	journal_close(jr);
	assert_int_equal(nevents(t), 2);
	assert_int_equal(raw_int(t->db, "SELECT count(*) FROM events WHERE"
	    " event_id IN ('busy', 'young')"), 2);
	assert_int_equal(raw_int(t->db, "SELECT count(*) FROM deliveries"), 2);
	assert_int_equal(raw_int(t->db, "SELECT count(*) FROM audit"), 1);
}

/* A single integer from the journal's own connection (its open
 * transaction included). */
static int64_t
raw_int_db(sqlite3 *db, const char *sql)
{
	sqlite3_stmt	*st;
	int64_t		 n = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* An event with more deliveries than one call may remove loses them in
 * slices, one call at a time, and goes with the last. */
static void
test_purge_large_event(void **state)
{
	struct tj	*t = *state;
	struct journal	*jr;
	struct ev	 big, small;
	char		*e = NULL;
	int		 n, calls = 0, total = 0, more;

	jr = open_ok(t, 0);
	ev_init(&big, "berlin", "big", 1);
	ev_init(&small, "berlin", "small", 2);
	big.e.received_ms = small.e.received_ms = 1000;
	assert_int_equal(store_commit(jr, &big), JOURNAL_STORED);
	assert_int_equal(store_commit(jr, &small), JOURNAL_STORED);
	/* 2,600 contacts on both channels: 5,200 deliveries, all final. */
	assert_int_equal(sqlite3_exec(journal_db(jr),
	    "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c"
	    " WHERE i < 2600) INSERT INTO deliveries (event, contact, channel,"
	    " state, priority, next_at, created_at, updated_at)"
	    " SELECT e.id, c.i, ch.v, 'sent', 1, 1, 1, 1 FROM c,"
	    " (SELECT 'smtp' AS v UNION ALL SELECT 'webhook') ch,"
	    " events e WHERE e.event_id = 'big';"
	    "INSERT INTO deliveries (event, contact, channel, state, priority,"
	    " next_at, created_at, updated_at) SELECT id, 1, 'smtp', 'sent',"
	    " 1, 1, 1, 1 FROM events WHERE event_id = 'small';",
	    NULL, NULL, &e), SQLITE_OK);
	assert_int_equal(journal_txn(jr), 0);
	/* Each call reads or removes at most about 2,000: the big one is
	 * checked in three calls (2,000, 2,000, 1,200 and 800 of it gone),
	 * loses 2,000 twice, then its last 400 go with it and the small
	 * one; the calls before the last leave it there. */
	do {
		n = journal_purge(jr, 2000, 0, 500, &more);
		assert_true(n >= 0 && n <= 2000 + 2 + 2);
		total += n;
		calls++;
		if (more)
			assert_int_equal(raw_int_db(journal_db(jr),
			    "SELECT count(*) FROM events WHERE"
			    " event_id = 'big'"), 1);
		assert_true(calls < 20);
	} while (more);
	assert_int_equal(calls, 6);
	assert_int_equal(total, 5200 + 1 + 2);
	assert_int_equal(journal_commit(jr), 0);
	journal_close(jr);
	assert_int_equal(nevents(t), 0);
	assert_int_equal(raw_int(t->db, "SELECT count(*) FROM deliveries"), 0);
}

/* status's counts are kept by the writers: what a commit stores is
 * counted, what a rollback or a failed commit drops is not, and a reopen
 * agrees with count(*). */
static void
assert_counts(struct journal *jr, int64_t events, int64_t deliveries)
{
	struct journal_stats	s;

	assert_int_equal(journal_stats(jr, &s), 0);
	assert_int_equal(s.events, events);
	assert_int_equal(s.deliveries, deliveries);
	assert_int_equal(s.events, journal_count_scan(jr, JOURNAL_EVENTS));
	assert_int_equal(s.deliveries,
	    journal_count_scan(jr, JOURNAL_DELIVERIES));
	assert_int_equal(s.contacts, journal_count_scan(jr, JOURNAL_CONTACTS));
}

static void
test_counts(void **state)
{
	struct tj	*t = *state;
	struct journal	*jr;
	struct ev	 a, b, c;
	int64_t		 rcpt = -1;
	char		*e = NULL;
	int		 more;

	jr = open_ok(t, 0);
	assert_counts(jr, 0, 0);
	ev_init(&a, "berlin", "a", 1);
	ev_init(&b, "berlin", "b", 2);
	ev_init(&c, "berlin", "c", 3);
	a.e.received_ms = b.e.received_ms = 1000;
	assert_int_equal(store_commit(jr, &a), JOURNAL_STORED);
	assert_int_equal(store_commit(jr, &a), JOURNAL_DUPLICATE);
	assert_counts(jr, 1, 0);

	/* Rolled back, then a commit that fails: neither counts. */
	assert_int_equal(journal_txn(jr), 0);
	assert_int_equal(journal_event_store(jr, &b.e, &rcpt, NULL),
	    JOURNAL_STORED);
	journal_rollback(jr);
	assert_counts(jr, 1, 0);
	journal_fault_commits(jr, 1);
	assert_int_equal(journal_txn(jr), 0);
	assert_int_equal(journal_event_store(jr, &b.e, &rcpt, NULL),
	    JOURNAL_STORED);
	assert_int_equal(journal_commit(jr), -1);
	assert_counts(jr, 1, 0);
	assert_int_equal(store_commit(jr, &b), JOURNAL_STORED);

	/* 300 deliveries of a and 2 of b, written as the fan-out does. */
	assert_int_equal(journal_txn(jr), 0);
	assert_int_equal(sqlite3_exec(journal_db(jr),
	    "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c"
	    " WHERE i < 150) INSERT INTO deliveries (event, contact, channel,"
	    " state, priority, next_at, created_at, updated_at)"
	    " SELECT e.id, c.i, ch.v, 'sent', 1, 1, 1, 1 FROM c,"
	    " (SELECT 'smtp' AS v UNION ALL SELECT 'webhook') ch,"
	    " events e WHERE e.event_id = 'a'", NULL, NULL, &e), SQLITE_OK);
	journal_count_add(jr, JOURNAL_DELIVERIES,
	    sqlite3_changes(journal_db(jr)));
	assert_int_equal(sqlite3_exec(journal_db(jr),
	    "INSERT INTO deliveries (event, contact, channel, state, priority,"
	    " next_at, created_at, updated_at) SELECT id, 1, ch.v, 'sent', 1,"
	    " 1, 1, 1 FROM events, (SELECT 'smtp' AS v UNION ALL"
	    " SELECT 'webhook') ch WHERE event_id = 'b'", NULL, NULL, &e),
	    SQLITE_OK);
	journal_count_add(jr, JOURNAL_DELIVERIES,
	    sqlite3_changes(journal_db(jr)));
	assert_int_equal(journal_commit(jr), 0);
	assert_counts(jr, 2, 302);

	/* Retention takes a (received at 1000) with its deliveries, and
	 * leaves c (received later). */
	c.e.received_ms = 5000;
	assert_int_equal(store_commit(jr, &c), JOURNAL_STORED);
	assert_int_equal(journal_txn(jr), 0);
	assert_true(journal_purge(jr, 2000, 0, 1, &more) > 0);	/* one */
	assert_int_equal(journal_commit(jr), 0);
	assert_counts(jr, 2, 2);
	assert_int_equal(journal_txn(jr), 0);
	assert_true(journal_purge(jr, 2000, 0, 10, &more) > 0);
	journal_rollback(jr);			/* b stays after all */
	assert_counts(jr, 2, 2);
	assert_int_equal(journal_txn(jr), 0);
	assert_true(journal_purge(jr, 2000, 0, 10, &more) > 0);
	assert_int_equal(journal_commit(jr), 0);
	assert_counts(jr, 1, 0);
	journal_close(jr);

	jr = open_ok(t, 0);
	assert_counts(jr, 1, 0);
	journal_close(jr);
}

/* The floor below which deliveries may be sent: the first event stored in
 * the open transaction; none outside one or after its end. */
static void
test_new_event_floor(void **state)
{
	struct tj	*t = *state;
	struct journal	*jr;
	struct ev	 a, b, c;
	int64_t		 rcpt = -1, ra = 0, rb = 0, rc = 0;

	jr = open_ok(t, 0);
	ev_init(&a, "berlin", "a", 1);
	ev_init(&b, "berlin", "b", 2);
	ev_init(&c, "berlin", "c", 3);
	assert_int_equal(journal_new_event_floor(jr), INT64_MAX);
	assert_int_equal(journal_txn(jr), 0);
	assert_int_equal(journal_txn_new_events(jr), 0);
	assert_int_equal(journal_new_event_floor(jr), INT64_MAX);
	assert_int_equal(journal_event_store(jr, &a.e, &rcpt, &ra),
	    JOURNAL_STORED);
	assert_int_equal(journal_commit(jr), 0);
	assert_int_equal(journal_new_event_floor(jr), INT64_MAX);
	assert_int_equal(journal_txn(jr), 0);
	assert_int_equal(journal_event_store(jr, &b.e, &rcpt, &rb),
	    JOURNAL_STORED);
	assert_int_equal(journal_event_store(jr, &c.e, &rcpt, &rc),
	    JOURNAL_STORED);
	assert_int_equal(journal_txn_new_events(jr), 1);
	assert_true(ra < rb && rb < rc);
	assert_int_equal(journal_new_event_floor(jr), rb);
	journal_rollback(jr);
	assert_int_equal(journal_new_event_floor(jr), INT64_MAX);
	/* A duplicate stores nothing. */
	assert_int_equal(journal_txn(jr), 0);
	assert_int_equal(journal_event_store(jr, &a.e, &rcpt, NULL),
	    JOURNAL_DUPLICATE);
	assert_int_equal(journal_new_event_floor(jr), INT64_MAX);
	assert_int_equal(journal_commit(jr), 0);
	journal_close(jr);
}

/* An event's deliveries counted per state a slice at a time: every row
 * once, in slices that end where the key left off. */
static void
test_event_count(void **state)
{
	struct tj			*t = *state;
	struct journal			*jr;
	struct journal_event_count	 ec;
	struct ev			 a, b;
	json_t				*o;
	int64_t				 ra = 0, rb = 0, rcpt = -1;
	char				*e = NULL;
	int				 rc, calls = 0;

	jr = open_ok(t, 0);
	ev_init(&a, "berlin", "a", 1);
	ev_init(&b, "berlin", "b", 2);
	assert_int_equal(journal_txn(jr), 0);
	assert_int_equal(journal_event_store(jr, &a.e, &rcpt, &ra),
	    JOURNAL_STORED);
	assert_int_equal(journal_event_store(jr, &b.e, &rcpt, &rb),
	    JOURNAL_STORED);
	assert_int_equal(journal_commit(jr), 0);
	/* 1,000 contacts of a on both channels, states by contact; 5 of b. */
	assert_int_equal(sqlite3_exec(journal_db(jr),
	    "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c"
	    " WHERE i < 1000) INSERT INTO deliveries (event, contact, channel,"
	    " state, priority, next_at, created_at, updated_at)"
	    " SELECT e.id, c.i, ch.v, CASE WHEN c.i % 10 = 0 THEN 'failed'"
	    " WHEN c.i % 3 = 0 THEN 'pending' ELSE 'sent' END, 1, 1, 1, 1"
	    " FROM c, (SELECT 'smtp' AS v UNION ALL SELECT 'webhook') ch,"
	    " events e WHERE e.event_id = 'a';"
	    "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c"
	    " WHERE i < 5) INSERT INTO deliveries (event, contact, channel,"
	    " state, priority, next_at, created_at, updated_at)"
	    " SELECT e.id, c.i, 'smtp', 'skipped', 1, 1, 1, 1 FROM c, events e"
	    " WHERE e.event_id = 'b'", NULL, NULL, &e), SQLITE_OK);
	memset(&ec, 0, sizeof(ec));
	ec.event = ra;
	/* 2,000 rows in slices of 301: six full slices, then the rest. */
	while ((rc = journal_event_count(jr, &ec, 301)) == 0)
		assert_true(++calls < 100);
	assert_int_equal(rc, 1);
	assert_int_equal(calls, 6);
	o = journal_event_count_json(&ec);
	/* i % 10 == 0: 100 contacts; i % 3 == 0 but not those: 333 - 33;
	 * the other 600 sent; each on two channels. */
	assert_int_equal(json_integer_value(json_object_get(o, "failed")),
	    200);
	assert_int_equal(json_integer_value(json_object_get(o, "pending")),
	    600);
	assert_int_equal(json_integer_value(json_object_get(o, "sent")),
	    1200);
	assert_int_equal(json_object_size(o), 3);
	json_decref(o);
	memset(&ec, 0, sizeof(ec));
	ec.event = rb;
	assert_int_equal(journal_event_count(jr, &ec, 5000), 1);
	assert_int_equal(ec.n[JOURNAL_SKIPPED], 5);
	assert_int_equal(ec.read, 5);
	memset(&ec, 0, sizeof(ec));
	ec.event = rb + 1000;			/* none */
	assert_int_equal(journal_event_count(jr, &ec, 10), 1);
	o = journal_event_count_json(&ec);
	assert_int_equal(json_object_size(o), 0);
	json_decref(o);
	journal_close(jr);
}

int
main(void)
{
	static const struct CMUnitTest	tests[] = {
#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_open_creates),
		T(test_counts),
		T(test_new_event_floor),
		T(test_event_count),
		T(test_open_tightens),
		T(test_open_not_dir),
		T(test_reopen),
		T(test_bad_secret),
		T(test_migrate_raw),
		T(test_migrate_newer),
		T(test_migrate_fails),
		T(test_migrate_v3_deliveries),
		T(test_deliveries_plans),
		T(test_store),
		T(test_store_fields),
		T(test_event_info),
		T(test_rollback),
		T(test_fault_commit),
		T(test_failed_write),
		T(test_full),
		T(test_full_turn_goes_on),
		T(test_full_at_open),
		T(test_feed_last_seq),
		T(test_checkpoint),
		T(test_backup),
		T(test_stats),
		T(test_purge),
		T(test_purge_large_event),
#undef T
	};

	log_init("test_journal");
	log_set_level(LOG_LEVEL_WARNING);
	return cmocka_run_group_tests_name("journal", tests, NULL, NULL) != 0;
}
