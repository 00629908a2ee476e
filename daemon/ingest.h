/* ingest.h - events in: the ROUTER sockets publishers connect to (CURVE,
 * ZAP, allow-list, acks after commit) and the SUB sockets connected to
 * posts' PUB feeds (best effort, seq gaps counted).  Both paths validate
 * with event.c and store with journal.c.  The ingest does not own the
 * config, the allow-list or the journal; the caller keeps them alive and
 * swaps them with ingest_reconfigure. */
#ifndef OUTREACH_INGEST_H
#define OUTREACH_INGEST_H

#include <jansson.h>
#include <stdint.h>

struct acl;
struct audience;
struct config;
struct journal;
struct loop;
struct ingest;

/* The daemon's own CURVE key pair (Z85), needed when any endpoint or feed
 * uses CURVE. */
struct ingest_keys {
	char	public_key[41];
	char	secret_key[41];
};

/* Bind the ZAP handler (unless no_zap, a test-only switch that leaves
 * every CURVE client out), then the ROUTER endpoints, then connect the
 * feeds, all watched by loop.  Returns the ingest (free with ingest_free)
 * or NULL with a sentence in err. */
struct ingest *ingest_new(void *zctx, struct loop *, struct journal *,
	    struct audience *, const struct config *, struct acl *,
	    const struct ingest_keys *, int no_zap, char *err, size_t errlen);
/* Close every socket, dropping unsent replies.  NULL is a no-op. */
void	ingest_free(struct ingest *);

/* Use a new config and allow-list from now on (the old ones may be freed
 * after this returns).  Endpoints and feeds are not rebound: the caller
 * warns that those changes need a restart. */
void	ingest_reconfigure(struct ingest *, const struct config *,
	    struct acl *);

/* Before-sleep step, after the caller committed the turn's transaction
 * (commit_rc: what journal_commit returned): send every reply of the turn;
 * after a failed commit the replies that depended on it say "overloaded"
 * (nothing was stored).  Returns the number of replies sent. */
int	ingest_flush(struct ingest *, int commit_rc);

/* Replies of this turn waiting for the commit (the commit is then due
 * now: acks never wait). */
size_t	ingest_pending(const struct ingest *);

/* Stop taking events: unhook the sockets from the loop (replies already
 * decided are still sent by a last ingest_flush). */
void	ingest_stop(struct ingest *);

/* Counters for status: a new JSON object (caller frees). */
json_t	*ingest_status(struct ingest *);

#endif
