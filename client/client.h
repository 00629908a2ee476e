/* client.h - outreachctl's pieces: the control socket client (ctl.c), the
 * verbs (publish.c, keygen.c, outreachctl.c) and the options they share.
 * Exit codes follow sysexits.h. */
#ifndef OUTREACH_CLIENT_H
#define OUTREACH_CLIENT_H

#include <jansson.h>
#include <stddef.h>

#define CTL_DEFAULT_SOCKET	"/run/outreachd/control.sock"

struct client_opts {
	const char	*socket;	/* control socket path */
	int		 json;		/* --json: machine output */
};

/* Send one request on the control socket and wait for its reply (a new
 * object, caller frees).  When fd is not NULL it receives a descriptor
 * passed with the reply, or -1.  Returns 0 or -1 with a sentence in err. */
int	ctl_request(const char *socket, json_t *req, json_t **reply, int *fd,
	    char *err, size_t errlen);
/* Request, check "ok", print the error when not; returns the reply or
 * NULL (message printed, *exitcode set). */
json_t	*ctl_call(const struct client_opts *, json_t *req, int *fd,
	    int *exitcode);

int	cmd_publish(const struct client_opts *, int argc, char **argv);
int	cmd_keygen(const struct client_opts *, int argc, char **argv);
int	cmd_contacts(const struct client_opts *, int argc, char **argv);
int	cmd_deliveries(const struct client_opts *, int argc, char **argv);
int	cmd_retry(const struct client_opts *, int argc, char **argv);
int	cmd_cancel(const struct client_opts *, int argc, char **argv);
int	cmd_pause(const struct client_opts *, int argc, char **argv);
int	cmd_resume(const struct client_opts *, int argc, char **argv);

#endif
