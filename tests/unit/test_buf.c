/* test_buf.c - the small shared pieces that carry bytes: the growable
 * buffer with its hard maximum (lib/buf.c), control-socket frames in memory
 * and over a socketpair (lib/frame.c), and CURVE key files (lib/keyfile.c),
 * each in a fresh temporary directory. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "buf.h"
#include "frame.h"
#include "keyfile.h"

/* Every operation leaves data NUL-terminated at len (once allocated). */
static void
check_terminated(const struct buf *b)
{
	if (b->data == NULL) {
		assert_int_equal(b->len, 0);
		return;
	}
	assert_true(b->len < b->cap);
	assert_int_equal(b->data[b->len], '\0');
	assert_true(b->len <= b->max);
}

/* ---- buf ---- */

static void
test_buf_init(void **state)
{
	struct buf	b;

	(void)state;
	memset(&b, 0xa5, sizeof(b));
	buf_init(&b, 0);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_int_equal(b.max, BUF_DEFAULT_MAX);
	assert_int_equal(b.overflow, 0);
	buf_init(&b, 10);
	assert_int_equal(b.max, 10);
	buf_free(&b);
	buf_free(&b);		/* twice: still fine */
	buf_free(NULL);

	/* A zeroed struct (max 0) behaves as the default maximum. */
	memset(&b, 0, sizeof(b));
	assert_int_equal(buf_adds(&b, "abc"), 0);
	assert_int_equal(b.max, BUF_DEFAULT_MAX);
	assert_string_equal(b.data, "abc");
	buf_free(&b);
	memset(&b, 0, sizeof(b));
	assert_int_equal(buf_printf(&b, "%d", 42), 0);
	assert_string_equal(b.data, "42");
	buf_free(&b);
}

static void
test_buf_growth(void **state)
{
	struct buf	b;
	size_t		i, caps = 0, lastcap = 0;

	(void)state;
	buf_init(&b, 0);
	for (i = 0; i < 100000; i++) {
		assert_int_equal(buf_addc(&b, 'a' + (int)(i % 26)), 0);
		check_terminated(&b);
		if (b.cap != lastcap) {
			caps++;
			lastcap = b.cap;
		}
	}
	assert_int_equal(b.len, 100000);
	for (i = 0; i < 100000; i++)
		if (b.data[i] != 'a' + (int)(i % 26))
			fail_msg("byte %zu changed while growing", i);
	/* Geometric growth: a handful of reallocations, not thousands. */
	assert_true(caps < 20);
	assert_int_equal(b.overflow, 0);

	/* One large append on top. */
	{
		char	*big = malloc(1 << 20);

		assert_non_null(big);
		memset(big, 'z', 1 << 20);
		assert_int_equal(buf_add(&b, big, 1 << 20), 0);
		assert_int_equal(b.len, 100000 + (1 << 20));
		assert_int_equal(memcmp(b.data + 100000, big, 1 << 20), 0);
		check_terminated(&b);
		free(big);
	}
	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
}

/* Two appends against a maximum: the first lands, the second is judged. */
struct max_row {
	const char	*name;
	size_t		 max;
	size_t		 first;		/* bytes appended first */
	int		 first_rc;
	size_t		 second;	/* bytes appended next */
	int		 second_rc;
	size_t		 len;		/* length afterwards */
	int		 overflow;
};

static const struct max_row max_rows[] = {
	{ "exactly max", 16, 16, 0, 0, 0, 16, 0 },
	{ "exactly max, then one", 16, 16, 0, 1, -1, 16, 1 },
	{ "max minus one, then one", 16, 15, 0, 1, 0, 16, 0 },
	{ "max minus one, then two", 16, 15, 0, 2, -1, 15, 1 },
	{ "one past max at once", 16, 17, -1, 0, 0, 0, 1 },
	{ "empty appends", 16, 0, 0, 0, 0, 0, 0 },
	{ "max 1", 1, 1, 0, 1, -1, 1, 1 },
	{ "max 1, two at once", 1, 2, -1, 1, 0, 1, 1 },
	{ "past max then fits (flag stays)", 8, 9, -1, 8, 0, 8, 1 },
	{ "at 256 boundary", 256, 255, 0, 1, 0, 256, 0 },
	{ "at 257", 257, 256, 0, 1, 0, 257, 0 },
	{ "large max small data", 1 << 20, 1000, 0, 1000, 0, 2000, 0 },
};

static void
test_buf_max_row(void **state)
{
	const struct max_row	*r = *state;
	struct buf		 b;
	char			*p1, *p2;
	size_t			 i;

	p1 = malloc(r->first + 1);
	p2 = malloc(r->second + 1);
	assert_non_null(p1);
	assert_non_null(p2);
	for (i = 0; i < r->first; i++)
		p1[i] = (char)('A' + i % 26);
	for (i = 0; i < r->second; i++)
		p2[i] = (char)('a' + i % 26);
	buf_init(&b, r->max);
	if (buf_add(&b, p1, r->first) != r->first_rc)
		fail_msg("%s: first append != %d", r->name, r->first_rc);
	check_terminated(&b);
	if (buf_add(&b, p2, r->second) != r->second_rc)
		fail_msg("%s: second append != %d", r->name, r->second_rc);
	check_terminated(&b);
	assert_int_equal(b.len, r->len);
	assert_int_equal(b.overflow, r->overflow);
	/* What landed is intact, in order. */
	if (r->first_rc == 0 && r->first > 0)
		assert_memory_equal(b.data, p1, r->first);
	if (r->second_rc == 0 && r->second > 0)
		assert_memory_equal(b.data + (r->first_rc == 0 ? r->first : 0),
		    p2, r->second);
	free(p1);
	free(p2);
	buf_free(&b);
}

static void
test_buf_huge(void **state)
{
	struct buf	b;
	char		c = 'x';

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_adds(&b, "abc"), 0);
	/* Lengths that would wrap len + n must fail, not wrap. */
	assert_int_equal(buf_add(&b, &c, SIZE_MAX), -1);
	assert_int_equal(buf_add(&b, &c, SIZE_MAX - 2), -1);
	assert_int_equal(buf_add(&b, &c, SIZE_MAX / 2 + 1), -1);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.data, "abc");
	assert_int_equal(b.overflow, 1);
	buf_free(&b);

	buf_init(&b, 0);
	assert_int_equal(buf_add(&b, &c, (size_t)BUF_DEFAULT_MAX + 1), -1);
	assert_null(b.data);
	assert_int_equal(b.overflow, 1);
	buf_free(&b);
}

static void
test_buf_strings(void **state)
{
	struct buf	b;

	(void)state;
	buf_init(&b, 64);
	assert_int_equal(buf_adds(&b, ""), 0);
	assert_non_null(b.data);
	assert_string_equal(b.data, "");
	assert_int_equal(buf_adds(&b, "ab"), 0);
	assert_int_equal(buf_addc(&b, 'c'), 0);
	/* A NUL byte is content: counted in len. */
	assert_int_equal(buf_addc(&b, 0), 0);
	assert_int_equal(buf_addc(&b, 0x1ff), 0);	/* truncated to a char */
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, "abc\0\xff", 6);
	check_terminated(&b);
	buf_free(&b);
}

static void
test_buf_printf(void **state)
{
	struct buf	b;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_printf(&b, "%s", ""), 0);
	assert_non_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_printf(&b, "%d-%s", 12, "ab"), 0);
	assert_string_equal(b.data, "12-ab");
	/* Exactly up to max. */
	assert_int_equal(buf_printf(&b, "%05d", 42), 0);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "12-ab00042");
	assert_int_equal(b.overflow, 0);
	/* One more byte fails and keeps the contents. */
	assert_int_equal(buf_printf(&b, "x"), -1);
	assert_int_equal(b.overflow, 1);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "12-ab00042");
	check_terminated(&b);

	/* A printf larger than max into an empty buffer. */
	buf_reset(&b);
	assert_int_equal(b.overflow, 0);
	assert_int_equal(buf_printf(&b, "%*d", 11, 1), -1);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_int_equal(b.overflow, 1);
	buf_free(&b);

	/* Far beyond max, and beyond what fits in memory comfortably. */
	buf_init(&b, 100);
	assert_int_equal(buf_printf(&b, "%*s", 1000000, "x"), -1);
	assert_null(b.data);
	assert_int_equal(b.overflow, 1);
	buf_free(&b);

	/* Long output with growth past the first allocation. */
	buf_init(&b, 0);
	assert_int_equal(buf_printf(&b, "%0*d", 5000, 7), 0);
	assert_int_equal(b.len, 5000);
	assert_int_equal(b.data[4999], '7');
	assert_int_equal(b.data[0], '0');
	check_terminated(&b);
	buf_free(&b);
}

static void
test_buf_reserve(void **state)
{
	struct buf	b;
	char		*data;
	size_t		 i;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(buf_reserve(&b, 90), 0);
	assert_int_equal(b.len, 0);
	assert_true(b.cap >= 91);		/* room for the NUL too */
	check_terminated(&b);
	data = b.data;
	for (i = 0; i < 90; i++)		/* no move while it fits */
		assert_int_equal(buf_addc(&b, 'a' + (int)(i % 26)), 0);
	assert_ptr_equal(b.data, data);
	check_terminated(&b);
	assert_int_equal(buf_reserve(&b, 10), 0);
	assert_int_equal(buf_reserve(&b, 11), -1);	/* past max */
	assert_int_equal(b.overflow, 1);
	assert_int_equal(b.len, 90);			/* kept */
	assert_int_equal(b.data[89], 'a' + 89 % 26);
	buf_free(&b);
	memset(&b, 0, sizeof(b));		/* zeroed: default maximum */
	assert_int_equal(buf_reserve(&b, 4096), 0);
	assert_int_equal(b.max, BUF_DEFAULT_MAX);
	assert_int_equal(buf_reserve(&b, BUF_DEFAULT_MAX + 1), -1);
	buf_free(&b);
}

static void
test_buf_reset(void **state)
{
	struct buf	b;
	char		*data;
	size_t		 cap;

	(void)state;
	buf_init(&b, 8);
	buf_reset(&b);			/* before any append: no-op */
	assert_null(b.data);
	assert_int_equal(buf_adds(&b, "abcdef"), 0);
	assert_int_equal(buf_adds(&b, "ghi"), -1);
	assert_int_equal(b.overflow, 1);
	data = b.data;
	cap = b.cap;
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.overflow, 0);
	assert_ptr_equal(b.data, data);		/* memory kept */
	assert_int_equal(b.cap, cap);
	assert_int_equal(b.max, 8);		/* maximum kept */
	assert_string_equal(b.data, "");
	assert_int_equal(buf_adds(&b, "12345678"), 0);
	assert_int_equal(buf_addc(&b, '9'), -1);
	assert_string_equal(b.data, "12345678");
	buf_free(&b);
}

static void
test_buf_release(void **state)
{
	struct buf	 b;
	char		*p;

	(void)state;
	/* Empty, never allocated: "" that the caller frees. */
	buf_init(&b, 0);
	p = buf_release(&b);
	assert_non_null(p);
	assert_string_equal(p, "");
	free(p);
	assert_null(b.data);

	/* Empty after reset: the allocation itself, still "". */
	assert_int_equal(buf_adds(&b, "x"), 0);
	buf_reset(&b);
	p = buf_release(&b);
	assert_non_null(p);
	assert_string_equal(p, "");
	free(p);

	/* With content: handed over, buffer empty and reusable. */
	buf_init(&b, 16);
	assert_int_equal(buf_adds(&b, "hello"), 0);
	p = buf_release(&b);
	assert_string_equal(p, "hello");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_int_equal(b.max, 16);
	assert_int_equal(buf_adds(&b, "again"), 0);
	assert_string_equal(b.data, "again");
	assert_true(p != b.data);
	free(p);

	/* After an overflow: the flag is cleared with the contents. */
	assert_int_equal(buf_add(&b, "0123456789abcdefg", 17), -1);
	p = buf_release(&b);
	assert_string_equal(p, "again");
	assert_int_equal(b.overflow, 0);
	free(p);
	buf_free(&b);
}

/* ---- frame ---- */

static void
test_frame_round_trip(void **state)
{
	static const size_t	 lens[] = { 0, 1, 2, 255, 256, 257, 65535,
				    65536, 65537, 1 << 20 };
	struct buf		 b;
	const char		*payload;
	char			*src;
	size_t			 i, j, len, used, total;

	(void)state;
	src = malloc(1 << 20);
	assert_non_null(src);
	for (j = 0; j < (1 << 20); j++)
		src[j] = (char)(j * 7 + 3);	/* NULs and high bytes too */
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		buf_init(&b, 0);
		assert_int_equal(frame_put(&b, src, lens[i]), 0);
		total = b.len;
		assert_int_equal(total, 4 + lens[i]);
		/* Big-endian length. */
		assert_int_equal((unsigned char)b.data[0], (lens[i] >> 24) & 0xff);
		assert_int_equal((unsigned char)b.data[1], (lens[i] >> 16) & 0xff);
		assert_int_equal((unsigned char)b.data[2], (lens[i] >> 8) & 0xff);
		assert_int_equal((unsigned char)b.data[3], lens[i] & 0xff);
		payload = NULL;
		len = used = 12345;
		assert_int_equal(frame_get(b.data, total, &payload, &len,
		    &used), 1);
		assert_int_equal(len, lens[i]);
		assert_int_equal(used, total);
		assert_ptr_equal(payload, b.data + 4);
		assert_memory_equal(payload, src, lens[i]);
		/* Every shorter prefix: more bytes needed. */
		for (j = 0; j < total; j += (total > 4096 ? 997 : 1))
			if (frame_get(b.data, j, &payload, &len, &used) != 0)
				fail_msg("len %zu: frame_get of %zu bytes != 0",
				    lens[i], j);
		assert_int_equal(frame_get(b.data, total - 1, &payload, &len,
		    &used), 0);
		buf_free(&b);
	}
	free(src);
}

static void
test_frame_sequence(void **state)
{
	static const char *const msgs[] = { "{\"cmd\":\"status\"}", "",
	    "{\"ok\":true}", "x" };
	struct buf	 b;
	const char	*payload;
	size_t		 i, off = 0, len, used;

	(void)state;
	buf_init(&b, 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(frame_put(&b, msgs[i], strlen(msgs[i])), 0);
	/* Plus half of a fifth frame. */
	assert_int_equal(buf_add(&b, "\0\0\0\x10{\"c", 7), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(frame_get(b.data + off, b.len - off,
		    &payload, &len, &used), 1);
		assert_int_equal(len, strlen(msgs[i]));
		assert_memory_equal(payload, msgs[i], len);
		off += used;
	}
	assert_int_equal(frame_get(b.data + off, b.len - off, &payload, &len,
	    &used), 0);
	buf_free(&b);
}

static void
test_frame_limits(void **state)
{
	static const struct {
		const char	*name;
		unsigned char	 h[4];
		int		 rc;	/* frame_get on the 4 bytes alone */
	} t[] = {
		{ "zero", { 0, 0, 0, 0 }, 1 },
		{ "one", { 0, 0, 0, 1 }, 0 },
		{ "FRAME_MAX", { 0x01, 0x00, 0x00, 0x00 }, 0 },
		{ "FRAME_MAX + 1", { 0x01, 0x00, 0x00, 0x01 }, -1 },
		{ "32 MiB", { 0x02, 0x00, 0x00, 0x00 }, -1 },
		{ "2^31", { 0x80, 0x00, 0x00, 0x00 }, -1 },
		{ "2^32 - 1", { 0xff, 0xff, 0xff, 0xff }, -1 },
	};
	struct buf	 b;
	const char	*payload;
	size_t		 i, len, used;
	char		 dummy = 0;

	(void)state;
	assert_int_equal(FRAME_MAX, 0x01000000u);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (frame_get((const char *)t[i].h, 4, &payload, &len,
		    &used) != t[i].rc)
			fail_msg("%s: frame_get != %d", t[i].name, t[i].rc);
	/* Fewer than 4 bytes: more needed, whatever they say. */
	for (i = 0; i < 4; i++)
		assert_int_equal(frame_get("\xff\xff\xff\xff", i, &payload,
		    &len, &used), 0);

	/* frame_put refuses a payload over FRAME_MAX before reading it. */
	buf_init(&b, 0);
	assert_int_equal(frame_put(&b, &dummy, (size_t)FRAME_MAX + 1), -1);
	assert_int_equal(frame_put(&b, &dummy, SIZE_MAX), -1);
	assert_int_equal(b.len, 0);
	buf_free(&b);
	/* ... and a frame that does not fit the buffer's maximum. */
	buf_init(&b, 8);
	assert_int_equal(frame_put(&b, "1234", 4), 0);
	assert_int_equal(b.len, 8);
	assert_memory_equal(b.data, "\0\0\0\x04" "1234", 8);
	buf_free(&b);
}

/* When the payload does not fit out's maximum, frame_put must not leave
 * the 4-byte length behind: a header with no payload would corrupt the
 * stream.  A failed append leaves out as it was (buf.h's rule). */
static void
test_frame_put_partial(void **state)
{
	struct buf	b;
	size_t		len1, len2;
	int		rc1, rc2;

	(void)state;
	/* Free before asserting, so a failure does not also leak. */
	buf_init(&b, 8);
	rc1 = frame_put(&b, "12345", 5);
	len1 = b.len;
	buf_free(&b);
	buf_init(&b, 10);
	assert_int_equal(frame_put(&b, "ab", 2), 0);
	rc2 = frame_put(&b, "cd", 2);
	len2 = b.len;
	buf_free(&b);
	assert_int_equal(rc1, -1);
	assert_int_equal(rc2, -1);
	assert_int_equal(len1, 0);
	assert_int_equal(len2, 6);
}

struct writer {
	int		 fd;
	const char	*p;
	size_t		 len;
	int		 rc;
	int		 err;
};

static void *
writer_main(void *arg)
{
	struct writer	*w = arg;

	w->rc = frame_write_fd(w->fd, w->p, w->len);
	w->err = errno;
	return NULL;
}

static void
test_frame_fd(void **state)
{
	static const size_t	 lens[] = { 0, 1, 8191, 8192, 8193, 100000,
				    1 << 20, FRAME_MAX };
	struct writer		 w;
	struct buf		 out;
	pthread_t		 th;
	char			*src;
	size_t			 i, j;
	int			 sv[2];

	(void)state;
	src = malloc(FRAME_MAX);
	assert_non_null(src);
	for (j = 0; j < FRAME_MAX; j++)
		src[j] = (char)(j * 31 + (j >> 8));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	buf_init(&out, 0);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		/* A thread writes while we read: the payloads exceed the
		 * socket buffer. */
		w.fd = sv[0];
		w.p = src;
		w.len = lens[i];
		w.rc = -2;
		assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);
		if (frame_read_fd(sv[1], &out) != 0)
			fail_msg("len %zu: frame_read_fd: %s", lens[i],
			    strerror(errno));
		assert_int_equal(pthread_join(th, NULL), 0);
		assert_int_equal(w.rc, 0);
		assert_int_equal(out.len, lens[i]);
		assert_non_null(out.data);	/* even when empty */
		if (lens[i] > 0)
			assert_int_equal(memcmp(out.data, src, lens[i]), 0);
		check_terminated(&out);
	}
	/* Two frames queued at once are read one at a time. */
	assert_int_equal(frame_write_fd(sv[0], "first", 5), 0);
	assert_int_equal(frame_write_fd(sv[0], "second", 6), 0);
	assert_int_equal(frame_read_fd(sv[1], &out), 0);
	assert_string_equal(out.data, "first");
	assert_int_equal(frame_read_fd(sv[1], &out), 0);
	assert_string_equal(out.data, "second");

	/* Too large to write: EMSGSIZE, nothing sent. */
	errno = 0;
	assert_int_equal(frame_write_fd(sv[0], src, (size_t)FRAME_MAX + 1),
	    -1);
	assert_int_equal(errno, EMSGSIZE);
	buf_free(&out);
	close(sv[0]);
	close(sv[1]);
	free(src);
}

/* Bytes from the peer that are not a whole, sane frame. */
static void
test_frame_fd_errors(void **state)
{
	static const struct {
		const char	*name;
		const char	*bytes;
		size_t		 n;
		size_t		 max;	/* out's maximum, 0: default */
		int		 err;
	} t[] = {
		{ "EOF at once", "", 0, 0, ECONNRESET },
		{ "EOF in header", "\0\0", 2, 0, ECONNRESET },
		{ "EOF in payload", "\0\0\0\x0a" "abc", 7, 0, ECONNRESET },
		{ "length over FRAME_MAX", "\x01\0\0\x01" "abc", 7, 0, EPROTO },
		{ "length 2^32-1", "\xff\xff\xff\xff", 4, 0, EPROTO },
		{ "payload over out's max", "\0\0\0\x0a" "0123456789", 14, 4,
		    ENOMEM },
	};
	struct buf	out;
	size_t		i;
	int		sv[2];

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		assert_int_equal(write(sv[0], t[i].bytes, t[i].n),
		    (ssize_t)t[i].n);
		close(sv[0]);
		buf_init(&out, t[i].max);
		assert_int_equal(buf_adds(&out, "old"), 0);
		errno = 0;
		if (frame_read_fd(sv[1], &out) != -1)
			fail_msg("%s: frame_read_fd succeeded", t[i].name);
		if (errno != t[i].err)
			fail_msg("%s: errno %d (%s), want %d", t[i].name, errno,
			    strerror(errno), t[i].err);
		buf_free(&out);
		close(sv[1]);
	}

	/* Writing to a closed peer: -1 with EPIPE (SIGPIPE ignored). */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	errno = 0;
	assert_int_equal(frame_write_fd(sv[0], "x", 1), -1);
	assert_int_equal(errno, EPIPE);
	close(sv[0]);
	/* A closed descriptor. */
	errno = 0;
	assert_int_equal(frame_write_fd(sv[0], "x", 1), -1);
	assert_int_equal(errno, EBADF);
}

/* A child process writes 1 MiB while the parent reads. */
static void
test_frame_fd_child(void **state)
{
	struct buf	 out;
	char		*src;
	size_t		 j, n = 1 << 20;
	pid_t		 pid;
	int		 sv[2], status;

	(void)state;
	src = malloc(n);
	assert_non_null(src);
	for (j = 0; j < n; j++)
		src[j] = (char)(j ^ (j >> 9));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		close(sv[1]);
		_exit(frame_write_fd(sv[0], src, n) == 0 ? 0 : 1);
	}
	close(sv[0]);
	buf_init(&out, 0);
	assert_int_equal(frame_read_fd(sv[1], &out), 0);
	assert_int_equal(out.len, n);
	assert_int_equal(memcmp(out.data, src, n), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* Then EOF. */
	assert_int_equal(frame_read_fd(sv[1], &out), -1);
	assert_int_equal(errno, ECONNRESET);
	buf_free(&out);
	close(sv[1]);
	free(src);
}

/* ---- keyfile ---- */

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static int
tmpdir_setup(void **state)
{
	char	*dir = strdup("/tmp/test_buf.XXXXXX");

	if (dir == NULL || mkdtemp(dir) == NULL)
		return -1;
	*state = dir;
	return 0;
}

static int
tmpdir_teardown(void **state)
{
	char	*dir = *state;

	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
	return 0;
}

static char *
path_in(const char *dir, const char *name)
{
	struct buf	b;

	buf_init(&b, 4096);
	assert_int_equal(buf_printf(&b, "%s/%s", dir, name), 0);
	return buf_release(&b);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	int	fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd != -1);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void
test_keyfile_round_trip(void **state)
{
	char		 pub[41], sec[41], p2[41], s2[41], err[512];
	char		*kp, *kpub;
	struct stat	 st;

	kp = path_in(*state, "server.key");
	kpub = path_in(*state, "server.pub");
	assert_int_equal(zmq_curve_keypair(pub, sec), 0);
	assert_true(keyfile_z85_valid(pub));
	assert_true(keyfile_z85_valid(sec));

	err[0] = '\0';
	if (keyfile_write(kp, pub, sec, 0, err, sizeof(err)) != 0)
		fail_msg("keyfile_write: %s", err);
	assert_int_equal(stat(kp, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	memset(p2, 'x', sizeof(p2));
	memset(s2, 'x', sizeof(s2));
	if (keyfile_read(kp, p2, s2, err, sizeof(err)) != 0)
		fail_msg("keyfile_read: %s", err);
	assert_string_equal(p2, pub);
	assert_string_equal(s2, sec);
	/* Public part only from the secret file. */
	memset(p2, 'x', sizeof(p2));
	assert_int_equal(keyfile_read(kp, p2, NULL, err, sizeof(err)), 0);
	assert_string_equal(p2, pub);
	assert_int_equal(keyfile_read_credential(kp, p2, s2, err,
	    sizeof(err)), 0);
	assert_string_equal(s2, sec);

	/* A public file: 0644, no secret in it. */
	assert_int_equal(keyfile_write(kpub, pub, NULL, 0, err, sizeof(err)),
	    0);
	assert_int_equal(stat(kpub, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(keyfile_read(kpub, p2, NULL, err, sizeof(err)), 0);
	assert_string_equal(p2, pub);
	err[0] = '\0';
	assert_int_equal(keyfile_read(kpub, p2, s2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, kpub));
	assert_non_null(strstr(err, "secret"));
	/* No temporary files left behind: only the two key files. */
	{
		DIR		*d;
		struct dirent	*de;
		int		 n = 0;

		assert_non_null(d = opendir(*state));
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				n++;
		closedir(d);
		assert_int_equal(n, 2);
	}
	free(kp);
	free(kpub);
}

static void
test_keyfile_overwrite(void **state)
{
	char	 pub[41], sec[41], pub2[41], sec2[41], p[41], s[41];
	char	 err[512];
	char	*kp;

	kp = path_in(*state, "k");
	assert_int_equal(zmq_curve_keypair(pub, sec), 0);
	assert_int_equal(zmq_curve_keypair(pub2, sec2), 0);
	assert_int_equal(keyfile_write(kp, pub, sec, 0, err, sizeof(err)), 0);
	err[0] = '\0';
	assert_int_equal(keyfile_write(kp, pub2, sec2, 0, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, kp));
	assert_non_null(strstr(err, "exists"));
	assert_int_equal(keyfile_read(kp, p, s, err, sizeof(err)), 0);
	assert_string_equal(p, pub);		/* untouched */
	assert_string_equal(s, sec);
	assert_int_equal(keyfile_write(kp, pub2, sec2, 1, err, sizeof(err)),
	    0);
	assert_int_equal(keyfile_read(kp, p, s, err, sizeof(err)), 0);
	assert_string_equal(p, pub2);
	assert_string_equal(s, sec2);
	/* Even an empty file is not replaced without force. */
	free(kp);
	kp = path_in(*state, "empty");
	write_file(kp, "", 0600);
	assert_int_equal(keyfile_write(kp, pub, sec, 0, err, sizeof(err)),
	    -1);
	free(kp);

	/* A directory that does not exist: the error names the file. */
	kp = path_in(*state, "no/such/dir/k");
	err[0] = '\0';
	assert_int_equal(keyfile_write(kp, pub, sec, 0, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, kp));
	free(kp);
}

static void
test_keyfile_modes(void **state)
{
	static const struct {
		mode_t	mode;
		int	ok;		/* keyfile_read with sec */
	} t[] = {
		{ 0600, 1 }, { 0400, 1 }, { 0700, 1 }, { 0640, 0 },
		{ 0604, 0 }, { 0644, 0 }, { 0660, 0 }, { 0610, 0 },
		{ 0601, 0 }, { 0666, 0 },
	};
	char	 pub[41], sec[41], p[41], s[41], err[512];
	char	*kp;
	size_t	 i;

	kp = path_in(*state, "k");
	assert_int_equal(zmq_curve_keypair(pub, sec), 0);
	assert_int_equal(keyfile_write(kp, pub, sec, 0, err, sizeof(err)), 0);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(chmod(kp, t[i].mode), 0);
		err[0] = '\0';
		if ((keyfile_read(kp, p, s, err, sizeof(err)) == 0) !=
		    t[i].ok)
			fail_msg("mode %04o: keyfile_read %s (%s)",
			    (unsigned)t[i].mode, t[i].ok ? "failed" :
			    "accepted", err);
		if (!t[i].ok) {
			assert_non_null(strstr(err, kp));
			assert_non_null(strstr(err, "readable by group or "
			    "others"));
		}
		/* The public part alone, and a systemd credential, are
		 * read whatever the mode. */
		assert_int_equal(keyfile_read(kp, p, NULL, err, sizeof(err)),
		    0);
		assert_int_equal(keyfile_read_credential(kp, p, s, err,
		    sizeof(err)), 0);
		assert_string_equal(s, sec);
	}
	free(kp);
}

static void
test_keyfile_bad(void **state)
{
#define GOOD39	"0rH]0A<&?Y]ef2{4@#F]/Ze$XUlXO9RU*<IdU!t"
#define GOOD	GOOD39 "n"
	static const struct {
		const char	*name;
		const char	*text;
		int		 want_sec;
		const char	*msg;	/* in the error */
	} t[] = {
		{ "empty file", "", 0, "public" },
		{ "syntax error", "public = \"abc\"\nsecret = ;\n", 0,
		    "line" },
		{ "not libconfig", "\x01\x02\x03", 0, "line" },
		{ "public missing", "secret = \"x\";\n", 0, "public" },
		{ "public short", "public = \"0rH]0A<&?Y\";\n", 0, "public" },
		{ "public 41", "public = \"0rH]0A<&?Y]ef2{4@#F]/Ze$XUlXO9RU*"
		    "<IdU!tnA\";\n", 0, "public" },
		{ "public not z85", "public = \"~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~"
		    "~~~~~~~~~~\";\n", 0, "public" },
		{ "public number", "public = 42;\n", 0, "public" },
		{ "secret missing", "public = \"" GOOD "\";\n", 1, "secret" },
		{ "secret short", "public = \"" GOOD "\";\nsecret = \"abc\";\n",
		    1, "secret" },
		{ "secret not z85", "public = \"" GOOD "\";\nsecret = \""
		    GOOD39 ",\";\n", 1, "secret" },
		{ "secret number", "public = \"" GOOD "\";\nsecret = 1;\n", 1,
		    "secret" },
	};
	char		 p[41], s[41], err[512];
	char		*kp;
	size_t		 i;

	kp = path_in(*state, "bad.key");
	assert_true(keyfile_z85_valid(GOOD));
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		unlink(kp);
		write_file(kp, t[i].text, 0600);
		err[0] = '\0';
		if (keyfile_read(kp, p, t[i].want_sec ? s : NULL, err,
		    sizeof(err)) != -1)
			fail_msg("%s: accepted", t[i].name);
		if (strstr(err, kp) == NULL || strstr(err, t[i].msg) == NULL)
			fail_msg("%s: error \"%s\" lacks \"%s\" or the path",
			    t[i].name, err, t[i].msg);
	}
	free(kp);

	/* z85 validity on its own. */
	assert_false(keyfile_z85_valid(NULL));
	assert_false(keyfile_z85_valid(""));
	assert_false(keyfile_z85_valid("0rH]0A<&?Y"));
	assert_false(keyfile_z85_valid("~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~"));
}

static void
test_keyfile_missing(void **state)
{
	char	 p[41], s[41], err[512];
	char	*kp;

	kp = path_in(*state, "nonexistent.key");
	err[0] = '\0';
	assert_int_equal(keyfile_read(kp, p, s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, kp));
	assert_non_null(strstr(err, strerror(ENOENT)));
	err[0] = '\0';
	assert_int_equal(keyfile_read(kp, p, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, kp));
	err[0] = '\0';
	assert_int_equal(keyfile_read_credential(kp, p, s, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, kp));
	/* A short error buffer is truncated, not overrun. */
	memset(err, 'Z', sizeof(err));
	assert_int_equal(keyfile_read(kp, p, s, err, 8), -1);
	assert_int_equal(strlen(err), 7);
	assert_int_equal(err[8], 'Z');
	free(kp);
}

int
main(void)
{
	static const struct CMUnitTest	fixed[] = {
		cmocka_unit_test(test_buf_init),
		cmocka_unit_test(test_buf_growth),
		cmocka_unit_test(test_buf_huge),
		cmocka_unit_test(test_buf_strings),
		cmocka_unit_test(test_buf_printf),
		cmocka_unit_test(test_buf_reserve),
		cmocka_unit_test(test_buf_reset),
		cmocka_unit_test(test_buf_release),
		cmocka_unit_test(test_frame_round_trip),
		cmocka_unit_test(test_frame_sequence),
		cmocka_unit_test(test_frame_limits),
		cmocka_unit_test(test_frame_put_partial),
		cmocka_unit_test(test_frame_fd),
		cmocka_unit_test(test_frame_fd_errors),
		cmocka_unit_test(test_frame_fd_child),
		cmocka_unit_test_setup_teardown(test_keyfile_round_trip,
		    tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_keyfile_overwrite,
		    tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_keyfile_modes,
		    tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_keyfile_bad,
		    tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_keyfile_missing,
		    tmpdir_setup, tmpdir_teardown),
	};
#define NMAX	(sizeof(max_rows) / sizeof(max_rows[0]))
	struct CMUnitTest	*tests;
	size_t			 i, n = sizeof(fixed) / sizeof(fixed[0]);
	int			 rc;

	signal(SIGPIPE, SIG_IGN);
	/* One cmocka test per maximum row, so each failure is named. */
	if ((tests = calloc(NMAX + n, sizeof(*tests))) == NULL)
		return 1;
	for (i = 0; i < NMAX; i++) {
		tests[i].name = max_rows[i].name;
		tests[i].test_func = test_buf_max_row;
		tests[i].initial_state = (void *)(uintptr_t)&max_rows[i];
	}
	memcpy(tests + NMAX, fixed, sizeof(fixed));
	rc = _cmocka_run_group_tests("buf", tests, NMAX + n, NULL, NULL);
	free(tests);
	return rc != 0;
}
