/* ctl.c - outreachctl's side of the control socket: one request, one
 * reply, optionally a descriptor passed with it (backup). */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "buf.h"
#include "client.h"
#include "frame.h"

static int
ctl_read(int s, struct buf *out, int *fd)
{
	unsigned char	 h[4];
	struct msghdr	 mh;
	struct iovec	 iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct cmsghdr	*cmsg;
	size_t		 got = 0, n;
	ssize_t		 r;
	char		 chunk[65536];
	uint32_t	 len;

	/* The descriptor, if any, rides on the first byte of the frame. */
	while (got < 4) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = h + got;
		iov.iov_len = 4 - got;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		if ((r = recvmsg(s, &mh, MSG_CMSG_CLOEXEC)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = ECONNRESET;
			return -1;
		}
		for (cmsg = CMSG_FIRSTHDR(&mh); cmsg != NULL;
		    cmsg = CMSG_NXTHDR(&mh, cmsg))
			if (cmsg->cmsg_level == SOL_SOCKET &&
			    cmsg->cmsg_type == SCM_RIGHTS && fd != NULL)
				memcpy(fd, CMSG_DATA(cmsg), sizeof(int));
		got += (size_t)r;
	}
	len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
	    (uint32_t)h[2] << 8 | h[3];
	if (len > FRAME_MAX) {
		errno = EPROTO;
		return -1;
	}
	while (len > 0) {
		n = len < sizeof(chunk) ? len : sizeof(chunk);
		if ((r = read(s, chunk, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = ECONNRESET;
			return -1;
		}
		if (buf_add(out, chunk, (size_t)r) == -1) {
			errno = ENOMEM;
			return -1;
		}
		len -= (uint32_t)r;
	}
	return 0;
}

int
ctl_request(const char *path, json_t *req, json_t **reply, int *fd,
    char *err, size_t errlen)
{
	struct sockaddr_un	 sun;
	struct buf		 in;
	json_error_t		 je;
	char			*s = NULL;
	int			 sk = -1, rc = -1;

	*reply = NULL;
	if (fd != NULL)
		*fd = -1;
	buf_init(&in, FRAME_MAX);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control socket path too long: %s", path);
		goto out;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((sk = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(sk, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		snprintf(err, errlen, "cannot reach outreachd at %s: %s%s",
		    path, strerror(errno), errno == EACCES ? " (are you in the "
		    "operators' group?)" : errno == ENOENT ||
		    errno == ECONNREFUSED ? " (is outreachd running? -s or "
		    "OUTREACHCTL_SOCKET name another socket)" : "");
		goto out;
	}
	if ((s = json_dumps(req, JSON_COMPACT)) == NULL ||
	    frame_write_fd(sk, s, strlen(s)) == -1) {
		snprintf(err, errlen, "control socket %s: send: %s", path,
		    strerror(errno));
		goto out;
	}
	if (ctl_read(sk, &in, fd) == -1) {
		snprintf(err, errlen, "control socket %s: no reply: %s", path,
		    strerror(errno));
		goto out;
	}
	if ((*reply = json_loadb(in.data ? in.data : "", in.len, 0,
	    &je)) == NULL || !json_is_object(*reply)) {
		snprintf(err, errlen, "control socket %s: reply is not JSON",
		    path);
		json_decref(*reply);
		*reply = NULL;
		goto out;
	}
	rc = 0;
out:
	if (rc == -1 && fd != NULL && *fd != -1) {
		close(*fd);
		*fd = -1;
	}
	free(s);
	buf_free(&in);
	if (sk != -1)
		close(sk);
	return rc;
}

json_t *
ctl_call(const struct client_opts *o, json_t *req, int *fd, int *exitcode)
{
	json_t		*reply;
	char		 err[1024];
	const char	*msg;

	if (ctl_request(o->socket, req, &reply, fd, err, sizeof(err)) == -1) {
		fprintf(stderr, "outreachctl: %s\n", err);
		*exitcode = EX_UNAVAILABLE;
		return NULL;
	}
	if (!json_is_true(json_object_get(reply, "ok"))) {
		if (o->json) {
			json_dumpf(reply, stdout, JSON_INDENT(2));
			putchar('\n');
		} else {
			msg = json_string_value(json_object_get(reply, "error"));
			fprintf(stderr, "outreachctl: %s\n", msg ? msg :
			    "request failed");
		}
		*exitcode = EX_SOFTWARE;
		if (fd != NULL && *fd != -1) {
			close(*fd);
			*fd = -1;
		}
		json_decref(reply);
		return NULL;
	}
	*exitcode = 0;
	return reply;
}
