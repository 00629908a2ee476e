/* contacts.h - the contacts directory in the journal: upsert (import, add),
 * remove, erase, status changes, list, show, export, and the audit log of
 * the two verbs that show addresses.  The control verbs "contacts-*" are
 * answered here; their writes go into the loop's turn transaction and the
 * caller sends the reply only after that commit.  Uses the journal's
 * connection; owns its prepared statements. */
#ifndef OUTREACH_CONTACTS_H
#define OUTREACH_CONTACTS_H

#include <sys/types.h>

#include <jansson.h>
#include <stdint.h>

#include "contact.h"

struct contacts;
struct journal;

struct contacts *contacts_new(struct journal *, char *err, size_t errlen);
void	contacts_free(struct contacts *);

/* Answer the control verb cmd ("contacts-import", ...) for the operator
 * uid.  Returns NULL when cmd is not a contacts verb; otherwise the reply
 * (caller owns it), with *wrote set when the reply may only be sent after
 * the turn's commit succeeded. */
json_t	*contacts_command(struct contacts *, const char *cmd, json_t *req,
	    uid_t uid, int64_t now_ms, const unsigned char *secret,
	    size_t secretlen, int *wrote);

/* A contact by external id: 1 found (*out its JSON with private fields,
 * caller frees; *row its internal row), 0 none, -1 error. */
int	contacts_get(struct contacts *, const char *id, json_t **out,
	    int64_t *row);
/* Write an audit entry (inside the turn's transaction).  0 or -1. */
int	contacts_audit(struct contacts *, int64_t now_ms, uid_t uid,
	    const char *action, const char *subject);

/* Add or update one validated contact (fields it does not give keep their
 * stored values; an import never makes an unsubscribed or bounced contact
 * active again).  Returns 0 added, 1 updated, 2 unchanged, -1 error. */
int	contacts_upsert(struct contacts *, struct contact *, int64_t now_ms,
	    int dry_run);

#endif
