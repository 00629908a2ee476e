/* buf.h - one growable byte buffer with a hard maximum, for rendering,
 * MIME, JSON framing and anything else built from outside input.
 * The buffer owns its bytes; buf_free() releases them.  data is always
 * NUL-terminated (the NUL is not counted in len) so it can be logged. */
#ifndef OUTREACH_BUF_H
#define OUTREACH_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char	*data;		/* NULL until the first append */
	size_t	 len;
	size_t	 cap;
	size_t	 max;		/* hard limit on len; 0 = BUF_DEFAULT_MAX */
	int	 overflow;	/* set once an append hit max or ENOMEM */
};

#define BUF_DEFAULT_MAX	(64u * 1024 * 1024)

/* Initialise an empty buffer holding at most max bytes (0: default). */
void	buf_init(struct buf *, size_t max);
/* Release the bytes; the buffer may be reused after buf_init().  NULL ok. */
void	buf_free(struct buf *);
/* Forget the contents, keep the memory and the maximum; clears overflow. */
void	buf_reset(struct buf *);

/* Make room for n more bytes without appending: 0, or -1 as buf_add. */
int	buf_reserve(struct buf *, size_t);

/* Append bytes.  Return 0, or -1 (and set overflow) when the result would
 * exceed max or memory ran out; the buffer then keeps what it had. */
int	buf_add(struct buf *, const void *, size_t);
int	buf_adds(struct buf *, const char *);
int	buf_addc(struct buf *, int);
int	buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	buf_vprintf(struct buf *, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));

/* Hand the bytes to the caller (who frees them with free()) and leave the
 * buffer empty.  Returns "" (allocated) for an empty buffer; NULL on ENOMEM. */
char	*buf_release(struct buf *);

#endif
