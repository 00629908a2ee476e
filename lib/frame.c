/* frame.c - length-prefixed frames for the control socket (see frame.h). */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "frame.h"

int
frame_put(struct buf *out, const char *payload, size_t len)
{
	unsigned char	h[4];

	/* All or nothing: a header without its payload would announce bytes
	 * that never come. */
	if (len > FRAME_MAX || out->len > out->max || out->max - out->len < 4 ||
	    out->max - out->len - 4 < len) {
		out->overflow = 1;
		return -1;
	}
	h[0] = (unsigned char)(len >> 24);
	h[1] = (unsigned char)(len >> 16);
	h[2] = (unsigned char)(len >> 8);
	h[3] = (unsigned char)len;
	if (buf_add(out, h, 4) == -1)
		return -1;
	return buf_add(out, payload, len);
}

int
frame_get(const char *in, size_t avail, const char **payload, size_t *len,
    size_t *used)
{
	const unsigned char	*p = (const unsigned char *)in;
	uint32_t		 n;

	if (avail < 4)
		return 0;
	n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
	if (n > FRAME_MAX)
		return -1;
	if (avail - 4 < n)
		return 0;
	*payload = in + 4;
	*len = n;
	*used = 4 + (size_t)n;
	return 1;
}

static int
write_all(int fd, const void *p, size_t n)
{
	const char	*c = p;
	ssize_t		 w;

	while (n > 0) {
		if ((w = write(fd, c, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
read_all(int fd, void *p, size_t n)
{
	char	*c = p;
	ssize_t	 r;

	while (n > 0) {
		if ((r = read(fd, c, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = ECONNRESET;
			return -1;
		}
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

int
frame_write_fd(int fd, const char *payload, size_t len)
{
	struct buf	b;
	int		rc;

	buf_init(&b, FRAME_MAX + 4);
	if (frame_put(&b, payload, len) == -1) {
		buf_free(&b);
		errno = EMSGSIZE;
		return -1;
	}
	rc = write_all(fd, b.data, b.len);
	buf_free(&b);
	return rc;
}

int
frame_read_fd(int fd, struct buf *out)
{
	unsigned char	h[4];
	uint32_t	n;
	char		chunk[8192];
	size_t		k;

	buf_reset(out);
	if (read_all(fd, h, 4) == -1)
		return -1;
	n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
	    (uint32_t)h[2] << 8 | h[3];
	if (n > FRAME_MAX) {
		errno = EPROTO;
		return -1;
	}
	while (n > 0) {
		k = n < sizeof(chunk) ? n : sizeof(chunk);
		if (read_all(fd, chunk, k) == -1)
			return -1;
		if (buf_add(out, chunk, k) == -1) {
			errno = ENOMEM;
			return -1;
		}
		n -= (uint32_t)k;
	}
	if (out->data == NULL && buf_add(out, "", 0) == -1)
		return -1;
	return 0;
}
