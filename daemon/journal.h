/* journal.h - the durable store (SQLite, WAL, synchronous=FULL): events,
 * contacts, subscriptions, deliveries, audit.  One connection, owned by the
 * loop's thread; the daemon is the journal's only writer.  Writes of one
 * loop turn share one transaction (journal_txn) that the before-sleep step
 * commits (journal_commit): nothing is acknowledged before that returns. */
#ifndef OUTREACH_JOURNAL_H
#define OUTREACH_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

struct journal;
struct sqlite3;
struct json_t;

#define JOURNAL_SECRET_LEN	32

/* Result of journal_event_store. */
enum journal_store {
	JOURNAL_STORED = 0,	/* new event, inserted */
	JOURNAL_DUPLICATE,	/* same post, id and content already stored */
	JOURNAL_CONFLICT,	/* same post and id, different content */
};

/* What ingest stores for one validated event. */
struct journal_event {
	const char		*post;
	const char		*event_id;
	const char		*topic;
	const char		*type;
	int			 priority;
	const char		*status;	/* "actual", "exercise", "test" */
	const unsigned char	*sha256;	/* 32 bytes */
	const char		*doc;		/* canonical JSON */
	size_t			 doc_len;
	const char		*source;	/* "router" or "feed:NAME" */
	const char		*publisher;	/* Z85 key, or NULL */
	int64_t			 seq;		/* 0: none */
	int64_t			 received_ms;
	int64_t			 not_before_ms;	/* -1: none */
	int64_t			 expires_at_ms;	/* -1: none */
	const char		*replaces;	/* NULL: none */
	int			 cancel;
	int64_t			 recipients;
	int64_t			 audience_max;	/* highest contact row counted */
};

/* The tables whose rows the journal counts for status.  The writers of
 * rows tell it (journal_count_add) in the open transaction; a commit
 * keeps what they said, a rollback forgets it; journal_stats sees the
 * open transaction's rows, as count(*) on the connection would.  Counted
 * with count(*) once at open, never again: status must not scan a table
 * of millions while critical alerts wait behind it in the loop. */
enum journal_table {
	JOURNAL_EVENTS,
	JOURNAL_CONTACTS,
	JOURNAL_DELIVERIES,
	JOURNAL_NTABLES
};

/* Counts for status. */
struct journal_stats {
	int64_t	events;
	int64_t	contacts;
	int64_t	deliveries;
	int64_t	db_bytes;
	int64_t	wal_bytes;
};

/* Create state_dir (0700) if needed, open or create the journal in it,
 * set and verify WAL and synchronous=FULL, migrate the schema, and create
 * the installation secret on first start.  max_bytes > 0 caps the database
 * (SQLITE_FULL beyond).  Returns the journal, or NULL with a sentence in
 * err.  Free with journal_close. */
struct journal *journal_open(const char *state_dir, int64_t max_bytes,
	    char *err, size_t errlen);
/* Roll back an open transaction, checkpoint, close.  NULL is a no-op. */
void	journal_close(struct journal *);

/* Change the size cap (on reload).  0 or -1. */
int	journal_set_max_bytes(struct journal *, int64_t max_bytes);

/* "wal", "full": what SQLite reports now (static strings or "?"). */
const char *journal_mode(struct journal *);
const char *journal_synchronous(struct journal *);
/* The installation secret (JOURNAL_SECRET_LEN bytes) for keyed hashes. */
const unsigned char *journal_secret(const struct journal *);
/* The schema version the journal is at. */
int	journal_schema_version(struct journal *);
int	journal_stats(struct journal *, struct journal_stats *);
/* n rows (negative: removed) of table written in the open transaction. */
void	journal_count_add(struct journal *, enum journal_table, int64_t n);
/* count(*) of table now, as status used to ask it (for the tests). */
int64_t	journal_count_scan(struct journal *, enum journal_table);

/* Open this turn's transaction if none is open.  0, or -1 (logged). */
int	journal_txn(struct journal *);
/* 1 when a transaction is open. */
int	journal_in_txn(const struct journal *);
/* 1 when the open transaction stored an event. */
int	journal_txn_new_events(const struct journal *);
/* The row of the first event the open transaction stored (events stored
 * later in it have higher rows, committed ones lower), or INT64_MAX.
 * Nothing of an event at or above it may be sent before the commit, lest
 * a failed commit leave notices out for an event its post was told was
 * not stored. */
int64_t	journal_new_event_floor(const struct journal *);
/* Commit this turn's transaction (no-op without one).  Returns 0, or -1
 * after rolling back: nothing of the turn is stored.  A turn in which any
 * write failed is rolled back, not committed.  journal_full() then
 * tells whether the cause was a full disk or size cap. */
int	journal_commit(struct journal *);
void	journal_rollback(struct journal *);
/* 1 when the last failure was SQLITE_FULL. */
int	journal_full(const struct journal *);

/* Store an event inside the open transaction.  Returns a journal_store
 * value; for DUPLICATE, *recipients gets the stored audience size; for
 * STORED, *row (when not NULL) the new event's row; -1 on error (the turn
 * is then rolled back at commit). */
int	journal_event_store(struct journal *, const struct journal_event *,
	    int64_t *recipients, int64_t *row);
/* The highest seq stored from this source, 0 when none; -1 on error. */
int64_t	journal_feed_last_seq(struct journal *, const char *source);

/* An event, as a new JSON object in *out (caller frees): post, id, topic,
 * type, priority, status, received_at_ms, recipients, fanout_done; and its
 * row in *row.  post may be NULL when the id is unique across posts (then
 * the events table is scanned; with post, its key is used).  Returns 1
 * found, 0 not found, -1 error, 2 when post is NULL and several posts have
 * this id. */
int	journal_event_info(struct journal *, const char *post,
	    const char *event_id, struct json_t **out, int64_t *row);

/* Counting an event's deliveries per state, a slice at a time: a big
 * event has millions, and one statement over them would hold the loop
 * for a second.  Zero it, set event, call journal_event_count until it
 * returns 1 (done; -1 on an error). */
enum journal_state {
	JOURNAL_PENDING, JOURNAL_SENDING, JOURNAL_SENT, JOURNAL_DEFERRED,
	JOURNAL_FAILED, JOURNAL_EXPIRED, JOURNAL_CANCELLED, JOURNAL_SKIPPED,
	JOURNAL_NSTATES
};
extern const char *const journal_state_names[JOURNAL_NSTATES];
/* The enum journal_state of a delivery state's name, or -1. */
int	journal_state_index(const char *);

struct journal_event_count {
	int64_t	event;
	int64_t	contact;		/* the last row counted: its key */
	char	channel[16];
	int	started;
	int64_t	n[JOURNAL_NSTATES];	/* per enum journal_state */
	int64_t	read;			/* rows counted in all */
};
int	journal_event_count(struct journal *, struct journal_event_count *,
	    int max_rows);
/* The counts as {state: n}, states with none left out. */
struct json_t *journal_event_count_json(const struct journal_event_count *);

/* Retention: inside the turn's transaction, delete at most batch finished
 * events received before events_before_ms (with their deliveries), and
 * at most batch audit entries written before audit_before_ms (0: skip
 * either).  An event is finished when its fan-out is done and none of its
 * deliveries is pending, sending or deferred.  A call reads or removes
 * about 2,000 deliveries at most: a big event is checked, then loses its
 * deliveries, in slices over several calls, then goes, so that no call
 * holds the loop long.  Returns how many rows went (events, deliveries
 * and audit entries), or -1; *more is set when a call soon after has
 * more to do. */
int	journal_purge(struct journal *, int64_t events_before_ms,
	    int64_t audit_before_ms, int batch, int *more);

/* Passive WAL checkpoint (outside a transaction).  0 or -1. */
int	journal_checkpoint(struct journal *);

/* Online backup into dest (created; must not exist), in slices so the loop
 * keeps turning: begin, then step until it returns 1 (done) or -1 (error,
 * dest removed); journal_backup_abort drops a backup in progress. */
int	journal_backup_begin(struct journal *, const char *dest, char *err,
	    size_t errlen);
int	journal_backup_step(struct journal *, int pages, char *err,
	    size_t errlen);
void	journal_backup_abort(struct journal *);

/* Test hook: the next n commits that store something fail as an I/O
 * error would. */
void	journal_fault_commits(struct journal *, int n);

/* For the modules that keep their own statements on the journal's one
 * connection (contacts, audience): the handle, and the two rules of a
 * turn: journal_write_ok() before each write (0: the turn failed already,
 * do not write), journal_write_failed() after a failed one. */
struct sqlite3 *journal_db(struct journal *);
int	journal_write_ok(struct journal *);
void	journal_write_failed(struct journal *, int sqlite_rc);

/* For tests: apply migrations to a raw connection.  0 or -1. */
int	journal_migrate(struct sqlite3 *, char *err, size_t errlen);
/* The number of schema versions this build knows. */
int	journal_latest_version(void);

#endif
