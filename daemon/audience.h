/* audience.h - who an event reaches (DESIGN.md 4): contacts that are
 * active, hold a subscription that is a prefix of the event's topic, match
 * every filter of the event's audience object, and are marked test when
 * the event is an exercise or a test.  The audience is fixed at acceptance
 * (its size and the highest contact row then); the deliveries are made
 * later in slices from a cursor stored with the event, inside the loop's
 * turn transactions, so a restart resumes where the last commit left off
 * and no contact is skipped or doubled.  Uses the journal's connection. */
#ifndef OUTREACH_AUDIENCE_H
#define OUTREACH_AUDIENCE_H

#include <stdint.h>

struct audience;
struct event;
struct journal;

/* Returns the audience module (free with audience_free) or NULL with a
 * sentence in err. */
struct audience *audience_new(struct journal *, char *err, size_t errlen);
void	audience_free(struct audience *);

/* The audience of ev on topic as the directory is now: *count contacts,
 * the highest contact row in *max_row.  An event that cancels another has
 * none.  0, or -1 (logged). */
int	audience_count(struct audience *, const struct event *ev,
	    const char *topic, int64_t *count, int64_t *max_row);

/* Inside the turn's transaction, after the event was stored: when it
 * replaces an earlier event of the same post, stop that event's fan-out and
 * cancel its deliveries that have not been sent.  Returns the number of
 * deliveries cancelled, or -1. */
int	audience_replace(struct audience *, const char *post,
	    const char *replaces, int64_t now_ms);

/* Make deliveries for at most max_contacts contacts of the most urgent
 * event whose fan-out is not done, inside the turn's transaction.
 * Returns the number of deliveries made (0 when nothing was to do), or -1
 * (the turn then fails and is redone next time). */
int	audience_fanout_step(struct audience *, int64_t now_ms,
	    int max_contacts);
/* 1 when some event still awaits its deliveries (as of the last step or
 * acceptance), else 0. */
int	audience_pending(const struct audience *);
/* Tell the module that an event was stored with deliveries to make. */
void	audience_wake(struct audience *);

#endif
