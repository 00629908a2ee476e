/* mime.h - the e-mail writer (DESIGN.md 5): one RFC 5322 / MIME message per
 * recipient from already-rendered strings, appended to a caller's struct buf.
 * No SMTP, no templates, no dot-stuffing (the SMTP client does that).
 * Every input string is borrowed for the duration of the call only; the
 * output bytes belong to the caller's buffer.  Lines end in CRLF only. */
#ifndef OUTREACH_MIME_H
#define OUTREACH_MIME_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

#define MIME_FOLD_LEN	78	/* header lines folded here when possible */
#define MIME_LINE_MAX	998	/* no line is ever longer (octets, sans CRLF) */
#define MIME_EW_MAX	75	/* longest encoded-word (RFC 2047 2) */
#define MIME_NAME_MAX	40	/* longest header field name we write */
#define MIME_DATE_LEN	32	/* room for mime_date()'s text and its NUL */

/* Why something was refused.  field names the header ("Subject", "From",
 * "Message-ID"; "header" for a bad field name), the part ("text body",
 * "html body") or "message" (size limit); message is one
 * sentence for people that starts with field.  Neither ever holds (a part
 * of) the refused value: it may be an address or a name. */
struct mime_error {
	char	field[48];
	char	message[192];
};

/* One mailbox: display name (UTF-8; NULL or "" for none) and addr-spec
 * (ASCII dot-atom "@" dot-atom, at most 254 octets; no SMTPUTF8). */
struct mime_addr {
	const char	*name;
	const char	*addr;
};

/* One message.  Strings are NUL-terminated UTF-8 and borrowed; a caller
 * holding counted bytes (a rendered struct buf) must refuse an embedded NUL
 * itself (strlen != len) or it would cut the value short. */
struct mime_msg {
	struct mime_addr	 from;
	struct mime_addr	 to;
	const char		*subject;	/* required; "" allowed */
	time_t			 date;		/* written in UTC (+0000) */
	const char		*message_id;	/* required, "<left@right>" */
	const char		*content_language; /* "am, en"; NULL: omitted */
	const char		*list_unsubscribe_https; /* https URL or NULL */
	const char		*list_unsubscribe_mailto; /* mailto URL or NULL */
	const char		*auto_submitted; /* NULL: "auto-generated" */
	const char		*text;		/* required; text/plain body */
	const char		*html;		/* optional; text/html body */
};

/* Content-Transfer-Encoding of one body part. */
enum mime_cte {
	MIME_CTE_7BIT = 0,
	MIME_CTE_QP,
	MIME_CTE_BASE64,
};

/*
 * The whole message, appended to out: From, To, Subject, Date, Message-ID,
 * MIME-Version, Content-Language, Auto-Submitted, List-Unsubscribe,
 * List-Unsubscribe-Post (only with the https URL), then text/plain alone or
 * multipart/alternative (text, then HTML).  Bodies: line ends become CRLF
 * and a final CRLF is added when missing; 7bit, quoted-printable or base64
 * per part (mime_body_cte).  The boundary is derived from the Message-ID
 * and starts with "=_", which neither encoding can produce; a 7bit part
 * holding "=_" is sent quoted-printable instead.  Deterministic: the same
 * msg gives the same bytes.  Content-Language "" or NULL and
 * List-Unsubscribe without either URL are left out.  Returns 0, or -1 with
 * *err filled (err may be NULL) and out cut back to its length on entry;
 * overflow of out's maximum is such an error.  Reuse one buf (buf_reset)
 * across messages.
 */
int	mime_message(const struct mime_msg *, struct buf *out,
	    struct mime_error *err);

/*
 * The header writers take the value with its length, so that a NUL inside
 * it is seen and refused like any other control character.
 *
 * One header field "Name: value" CRLF of unstructured text (Subject):
 * words holding non-ASCII, "=?", or too long to fit a line become RFC 2047
 * UTF-8 encoded-words (B when more than half the octets are not ASCII
 * letters, digits or !*+-/ and space, else Q; each <= 75 octets and split
 * only between UTF-8 characters), and the line is folded before
 * whitespace so that no line exceeds 78 octets.  Leading, trailing and
 * repeated spaces survive decoding.  Refused (-1, *err): invalid UTF-8, any
 * control character (C0 including TAB, DEL, C1), a bad or longer than
 * MIME_NAME_MAX name, overflow.  out is cut back on error.
 */
int	mime_header_unstructured(struct buf *out, const char *name,
	    const char *value, size_t len, struct mime_error *err);

/*
 * One address header "Name: display <addr>" CRLF, or "Name: addr" when
 * display_name is NULL or display_len 0.  An ASCII name is written as
 * atoms, or as a quoted-string when it holds specials or irregular spaces;
 * a non-ASCII one (or one holding "=?", or a word too long for a line) as
 * encoded-words in the phrase-safe Q alphabet or B.  Folded at 78 where
 * whitespace allows.  The name is refused like an unstructured value
 * (invalid UTF-8, controls); the addr-spec must be ASCII dot-atom "@"
 * dot-atom (no quoted local parts, no domain literals), local part <= 64
 * and all <= 254 octets.  0, or -1 with *err; out cut back.
 */
int	mime_header_address(struct buf *out, const char *name,
	    const char *display_name, size_t display_len, const char *addr,
	    struct mime_error *err);

/*
 * One header of printable ASCII written as given (Message-ID, Date,
 * List-Unsubscribe, Content-Type, ...), folded before spaces when a line
 * would pass 78.  Refused: controls, non-ASCII, leading or trailing space,
 * an empty value, a word too long for a 998-octet line.  0 or -1 (*err).
 */
int	mime_header_structured(struct buf *out, const char *name,
	    const char *value, size_t len, struct mime_error *err);

/* Format t as an RFC 5322 date in UTC, "Fri, 27 Nov 2026 07:01:34 +0000",
 * independent of the locale, into out (MIME_DATE_LEN bytes).  0, or -1
 * when t is outside years 1900-9999. */
int	mime_date(time_t t, char out[MIME_DATE_LEN]);

/*
 * Check a body (UTF-8, no control characters but TAB, CR and LF) and choose
 * its transfer encoding: 7bit when ASCII with lines <= 998 octets (and,
 * when no_eq_underscore, without "=_"), else quoted-printable unless base64
 * is shorter (mostly non-ASCII text).  0 and *cte, or -1 with *err
 * (field "body"; the message gives the octet offset of the fault).
 */
int	mime_body_cte(const char *body, size_t len, int no_eq_underscore,
	    enum mime_cte *cte, struct mime_error *err);

/* Append body (len octets) in encoding cte: line ends normalised to CRLF,
 * a final CRLF added when missing (none for an empty body).  Does not
 * validate (see mime_body_cte).  0, or -1 on overflow of out. */
int	mime_body_encode(struct buf *out, const char *body, size_t len,
	    enum mime_cte cte);

/*
 * Quoted-printable (RFC 2045 6.7) of text: CR, LF and CRLF in the input are
 * line breaks and come out as CRLF; any other octet is binary-safe.  Lines
 * <= 76 with soft breaks "=" CRLF; "=" and non-printables as =XX; SP/TAB
 * before a line end encoded; also "." and the "F" of "From " at the start
 * of a line.  No CRLF is added at the end.  0, or -1 on overflow.
 */
int	mime_qp_encode(struct buf *out, const void *in, size_t len);

/* Base64 (RFC 4648 4) of len octets.  wrap: lines of 76 each ended by CRLF
 * (none for empty input); 0: one line, no CRLF.  0, or -1 on overflow. */
int	mime_base64_encode(struct buf *out, const void *in, size_t len,
	    int wrap);

#endif
