/* control.h - the operators' control socket: AF_UNIX stream in the runtime
 * directory, mode 0660 (group: the operators'), peers identified with
 * SO_PEERCRED, requests and replies framed as in frame.h.  The control
 * module owns its connections; requests are handed to one callback that
 * answers at once (returns the reply) or later (control_reply). */
#ifndef OUTREACH_CONTROL_H
#define OUTREACH_CONTROL_H

#include <sys/types.h>

#include <jansson.h>
#include <stdint.h>

struct control;
struct loop;

struct control_peer {
	uint64_t	conn;	/* names the connection for control_reply */
	pid_t		pid;
	uid_t		uid;
	gid_t		gid;
};

/* Handle one request (a JSON object; borrowed).  Return the reply (the
 * control module takes it), or NULL to answer later with control_reply. */
typedef json_t	*(*control_cb)(void *arg, const struct control_peer *,
		    json_t *req);

/* Bind path (replacing a stale socket, refusing when another daemon
 * answers on it), mode 0660 and group (NULL: keep the daemon's).  Returns
 * the control socket or NULL with a sentence in err. */
struct control *control_new(struct loop *, const char *path,
	    const char *group, control_cb, void *arg, char *err,
	    size_t errlen);
/* Close every connection and unlink the socket.  NULL is a no-op. */
void	control_free(struct control *);

/* Answer a request deferred by the callback; pass_fd >= 0 travels with
 * the reply (SCM_RIGHTS) and is closed here.  The reply is taken.  0, or
 * -1 when the connection is gone. */
int	control_reply(struct control *, uint64_t conn, json_t *reply,
	    int pass_fd);

/* Helpers for handlers: {"ok":false,"code":code,"error":message}. */
json_t	*control_error(const char *code, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
json_t	*control_ok(void);

#endif
