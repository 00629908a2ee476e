/* control.c - the control socket server (see control.h).  Non-blocking in
 * the loop; a slow or silent client holds only its own buffers. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "buf.h"
#include "control.h"
#include "frame.h"
#include "log.h"
#include "loop.h"

#define CONTROL_MAX_CONNS	64

struct control_conn {
	struct control		*ctl;
	int			 fd;
	struct control_peer	 peer;
	struct buf		 in;
	struct buf		 out;
	size_t			 out_off;	/* bytes of out already sent */
	int			 pass_fd;	/* to send with the byte at */
	size_t			 pass_at;	/* this offset of out */
	int			 closing;	/* close once out is sent */
	struct control_conn	*next;
};

struct control {
	struct loop		*loop;
	int			 fd;
	char			*path;
	control_cb		 cb;
	void			*arg;
	struct control_conn	*conns;
	int			 nconns;
	uint64_t		 next_id;
};

static void	control_accept_cb(void *, short);
static void	control_conn_cb(void *, short);

json_t *
control_ok(void)
{
	json_t	*r = json_object();

	json_object_set_new(r, "ok", json_true());
	return r;
}

json_t *
control_error(const char *code, const char *fmt, ...)
{
	struct buf	 b;
	va_list		 ap;
	json_t		*r;

	buf_init(&b, 4096);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	r = json_object();
	json_object_set_new(r, "ok", json_false());
	json_object_set_new(r, "code", json_string(code));
	json_object_set_new(r, "error", json_string(b.data ? b.data : code));
	buf_free(&b);
	return r;
}

struct control *
control_new(struct loop *lp, const char *path, const char *group,
    control_cb cb, void *arg, char *err, size_t errlen)
{
	struct control		*ctl;
	struct sockaddr_un	 sun;
	struct group		*gr = NULL;
	mode_t			 old;
	int			 fd = -1, probe;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control socket \"%s\": path too long",
		    path);
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if (group != NULL && (gr = getgrnam(group)) == NULL) {
		snprintf(err, errlen, "control socket: group \"%s\" unknown",
		    group);
		return NULL;
	}
	/* A socket that answers belongs to a running daemon: do not steal
	 * it.  One that refuses is stale and goes. */
	if ((probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) != -1) {
		if (connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			close(probe);
			snprintf(err, errlen, "control socket \"%s\": another "
			    "outreachd is running", path);
			return NULL;
		}
		close(probe);
	}
	unlink(path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1) {
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		return NULL;
	}
	/* Bind with the final mode: no window in which others may connect. */
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		snprintf(err, errlen, "control socket \"%s\": %s", path,
		    strerror(errno));
		close(fd);
		return NULL;
	}
	umask(old);
	if (gr != NULL && chown(path, (uid_t)-1, gr->gr_gid) == -1) {
		snprintf(err, errlen, "control socket \"%s\": chgrp %s: %s",
		    path, group, strerror(errno));
		goto fail;
	}
	if (chmod(path, 0660) == -1 || listen(fd, 16) == -1) {
		snprintf(err, errlen, "control socket \"%s\": %s", path,
		    strerror(errno));
		goto fail;
	}
	if ((ctl = calloc(1, sizeof(*ctl))) == NULL ||
	    (ctl->path = strdup(path)) == NULL) {
		free(ctl);
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	ctl->loop = lp;
	ctl->fd = fd;
	ctl->cb = cb;
	ctl->arg = arg;
	ctl->next_id = 1;
	loop_add_fd(lp, fd, ZMQ_POLLIN, control_accept_cb, ctl);
	return ctl;
fail:
	close(fd);
	unlink(path);
	return NULL;
}

static void
control_conn_free(struct control *ctl, struct control_conn *c)
{
	struct control_conn	**pp;

	for (pp = &ctl->conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	loop_remove_fd(ctl->loop, c->fd);
	close(c->fd);
	if (c->pass_fd != -1)
		close(c->pass_fd);
	buf_free(&c->in);
	buf_free(&c->out);
	ctl->nconns--;
	free(c);
}

void
control_free(struct control *ctl)
{
	if (ctl == NULL)
		return;
	while (ctl->conns != NULL)
		control_conn_free(ctl, ctl->conns);
	loop_remove_fd(ctl->loop, ctl->fd);
	close(ctl->fd);
	unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}

static void
control_accept_cb(void *arg, short revents)
{
	struct control		*ctl = arg;
	struct control_conn	*c;
	struct ucred		 cr;
	socklen_t		 len = sizeof(cr);
	int			 fd;

	(void)revents;
	while ((fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) != -1) {
		if (ctl->nconns >= CONTROL_MAX_CONNS) {
			log_warnx("control: too many connections, refusing "
			    "one");
			close(fd);
			continue;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1 ||
		    (c = calloc(1, sizeof(*c))) == NULL) {
			log_warn("control: accept");
			close(fd);
			continue;
		}
		c->ctl = ctl;
		c->fd = fd;
		c->pass_fd = -1;
		c->peer.conn = ctl->next_id++;
		c->peer.pid = cr.pid;
		c->peer.uid = cr.uid;
		c->peer.gid = cr.gid;
		buf_init(&c->in, FRAME_MAX + 4);
		buf_init(&c->out, FRAME_MAX * 2);
		c->next = ctl->conns;
		ctl->conns = c;
		ctl->nconns++;
		loop_add_fd(ctl->loop, fd, ZMQ_POLLIN, control_conn_cb, c);
		log_debug("control: connection uid=%u pid=%d",
		    (unsigned)cr.uid, (int)cr.pid);
	}
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		log_warn("control: accept");
}

static void
control_queue(struct control_conn *c, json_t *reply, int pass_fd)
{
	char	*s;

	s = json_dumps(reply, JSON_COMPACT);
	json_decref(reply);
	if (s == NULL || (pass_fd != -1 && c->pass_fd != -1) ||
	    frame_put(&c->out, s, strlen(s)) == -1) {
		log_warnx("control: cannot queue reply uid=%u",
		    (unsigned)c->peer.uid);
		if (pass_fd != -1)
			close(pass_fd);
		c->closing = 1;
		free(s);
		return;
	}
	if (pass_fd != -1) {
		c->pass_fd = pass_fd;
		c->pass_at = c->out.len - strlen(s) - 4;
	}
	free(s);
	loop_set_fd_events(c->ctl->loop, c->fd, ZMQ_POLLIN | ZMQ_POLLOUT);
}

static int
control_write(struct control_conn *c)
{
	struct msghdr	 mh;
	struct iovec	 iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct cmsghdr	*cmsg;
	ssize_t		 n;
	size_t		 want;

	while (c->out_off < c->out.len) {
		memset(&mh, 0, sizeof(mh));
		want = c->out.len - c->out_off;
		if (c->pass_fd != -1 && c->out_off < c->pass_at)
			want = c->pass_at - c->out_off;
		iov.iov_base = c->out.data + c->out_off;
		iov.iov_len = want;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		if (c->pass_fd != -1 && c->out_off == c->pass_at) {
			memset(&cm, 0, sizeof(cm));
			mh.msg_control = cm.buf;
			mh.msg_controllen = sizeof(cm.buf);
			cmsg = CMSG_FIRSTHDR(&mh);
			cmsg->cmsg_level = SOL_SOCKET;
			cmsg->cmsg_type = SCM_RIGHTS;
			cmsg->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cmsg), &c->pass_fd, sizeof(int));
		}
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				return 0;
			return -1;
		}
		if (mh.msg_control != NULL) {
			close(c->pass_fd);
			c->pass_fd = -1;
		}
		c->out_off += (size_t)n;
	}
	buf_reset(&c->out);
	c->out_off = 0;
	loop_set_fd_events(c->ctl->loop, c->fd, ZMQ_POLLIN);
	return c->closing ? -1 : 0;
}

static void
control_handle(struct control_conn *c, const char *payload, size_t len)
{
	json_t		*req, *reply;
	json_error_t	 je;

	req = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &je);
	if (req == NULL || !json_is_object(req) ||
	    !json_is_string(json_object_get(req, "cmd"))) {
		control_queue(c, control_error("bad_request", "request is not "
		    "a JSON object with a \"cmd\" string%s%s",
		    req ? "" : ": ", req ? "" : je.text), -1);
		json_decref(req);
		return;
	}
	reply = c->ctl->cb(c->ctl->arg, &c->peer, req);
	json_decref(req);
	if (reply != NULL)
		control_queue(c, reply, -1);
}

static void
control_conn_cb(void *arg, short revents)
{
	struct control_conn	*c = arg;
	struct control		*ctl = c->ctl;
	char			 chunk[65536];
	const char		*payload;
	size_t			 len, used, off;
	ssize_t			 n;
	int			 rc;

	if (revents & ZMQ_POLLOUT) {
		if (control_write(c) == -1) {
			control_conn_free(ctl, c);
			return;
		}
	}
	if (!(revents & (ZMQ_POLLIN | ZMQ_POLLERR)))
		return;
	n = read(c->fd, chunk, sizeof(chunk));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		control_conn_free(ctl, c);
		return;
	}
	if (buf_add(&c->in, chunk, (size_t)n) == -1) {
		log_warnx("control: request too large uid=%u",
		    (unsigned)c->peer.uid);
		control_conn_free(ctl, c);
		return;
	}
	off = 0;
	while ((rc = frame_get(c->in.data + off, c->in.len - off, &payload,
	    &len, &used)) == 1) {
		control_handle(c, payload, len);
		off += used;
	}
	if (rc == -1) {
		log_warnx("control: bad frame length uid=%u",
		    (unsigned)c->peer.uid);
		control_conn_free(ctl, c);
		return;
	}
	if (off > 0) {
		memmove(c->in.data, c->in.data + off, c->in.len - off);
		c->in.len -= off;
	}
}

int
control_reply(struct control *ctl, uint64_t conn, json_t *reply, int pass_fd)
{
	struct control_conn	*c;

	for (c = ctl->conns; c != NULL; c = c->next)
		if (c->peer.conn == conn) {
			control_queue(c, reply, pass_fd);
			return 0;
		}
	json_decref(reply);
	if (pass_fd != -1)
		close(pass_fd);
	return -1;
}
