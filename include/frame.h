/* frame.h - the control socket's framing: a 4-byte big-endian length, then
 * that many bytes of UTF-8 JSON (one object).  Requests carry "cmd"; replies
 * carry "ok" (true/false) and, when false, "error" (a sentence for people)
 * and "code" (a word for scripts). */
#ifndef OUTREACH_FRAME_H
#define OUTREACH_FRAME_H

#include <stddef.h>

#include "buf.h"

#define FRAME_MAX	(16u * 1024 * 1024)

/* Append one frame holding len bytes of payload to out. 0 or -1. */
int	frame_put(struct buf *out, const char *payload, size_t len);
/* Look for a whole frame at the start of in (avail bytes).  Returns 1 and
 * sets *payload, *len and *used when one is there, 0 when more bytes are
 * needed, -1 when the announced length exceeds FRAME_MAX. */
int	frame_get(const char *in, size_t avail, const char **payload,
	    size_t *len, size_t *used);

/* Blocking helpers for the client: write a whole frame / read one into out
 * (reset first).  0, or -1 with errno set (EPROTO: bad length; 0-byte EOF:
 * ECONNRESET). */
int	frame_write_fd(int fd, const char *payload, size_t len);
int	frame_read_fd(int fd, struct buf *out);

#endif
