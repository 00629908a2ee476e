/* deliver.h - the delivery scheduler (DESIGN.md 5): takes due deliveries
 * from the journal in priority order, renders each notice for its contact,
 * hands it to the SMTP relays or the webhook sender, and records each
 * outcome (sent, deferred with backoff, failed, expired, skipped) in the
 * loop's turn transaction.  One per daemon, owned by main(); it reads the
 * daemon's current config and template sets at each use, so a reload
 * needs only deliver_reload() for the senders. */
#ifndef OUTREACH_DELIVER_H
#define OUTREACH_DELIVER_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

struct daemon;
struct deliver;

/* Start: deliveries left 'sending' by a previous run go back to
 * 'pending' (committed at once), the paused flag is read back, the
 * senders are made from the config.  NULL with one sentence in err. */
struct deliver	*deliver_new(struct daemon *, char *err, size_t errlen);
/* Report everything in flight as not sent (back to pending, inside a
 * transaction the caller commits), free.  NULL is a no-op. */
void		 deliver_free(struct deliver *);

/* New senders from cfg (the config about to replace the daemon's); the
 * old ones stop taking work, hand back what they had not started and
 * finish what they had.  0, or -1 with err (the old senders stay). */
struct config;
int		 deliver_reload(struct deliver *, const struct config *cfg,
		    char *err, size_t errlen);

/* Something may be due now (fan-out added deliveries, a verb changed
 * states). */
void		 deliver_kick(struct deliver *);
/* Write 'sending' for what is in flight but still due on disk: before a
 * commit, and before anything reads or changes deliveries. */
void		 deliver_mark(struct deliver *);
/* After each commit (rc 0) or failed commit (-1) of a transaction. */
void		 deliver_committed(struct deliver *, int rc);

/* SIGTERM: stop taking deliveries, hand back the unstarted ones, let the
 * rest finish.  deliver_quiet() is 1 once nothing is in flight. */
void		 deliver_shutdown(struct deliver *);
int		 deliver_quiet(const struct deliver *);

/* Answer a delivery verb ("deliveries", "retry", "cancel", "pause",
 * "resume"), or NULL when cmd is not one.  *wrote as contacts_command. */
/* The "deliveries" request, read a slice at a time (a journal may hold
 * millions): start (NULL with *reply an error), step until 1 (done; -1
 * on a journal error), then the reply; free in any case. */
struct deliver_list;
struct deliver_list *deliver_list_start(struct deliver *, json_t *req,
		    json_t **reply);
int		 deliver_list_step(struct deliver *, struct deliver_list *);
json_t		*deliver_list_reply(struct deliver *, struct deliver_list *);
void		 deliver_list_free(struct deliver_list *);
json_t		*deliver_command(struct deliver *, const char *cmd,
		    json_t *req, uid_t uid, int *wrote);
/* Status: paused, queue sizes per state, per relay and host, send rates. */
json_t		*deliver_status(struct deliver *);

#endif
