/* smtp.h - the project's own SMTP client (DESIGN.md 5), on OpenSSL,
 * non-blocking in the daemon's loop: per relay a pool of connections, each
 * carrying many messages, PIPELINING (RFC 2920) when offered, STARTTLS
 * (RFC 3207) required or implicit TLS (RFC 8314), AUTH PLAIN/LOGIN over TLS
 * only (RFC 4954), SIZE, ENHANCEDSTATUSCODES, 8BITMIME, dot-stuffing, RSET
 * after a failed transaction, QUIT.  One message has one recipient.  The
 * relay owns the messages handed to it until it reports each one, exactly
 * once, through the done callback. */
#ifndef OUTREACH_SMTP_H
#define OUTREACH_SMTP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct cfg_relay;
struct cfg_tls;
struct loop;
struct smtp_relay;

enum smtp_result {
	SMTP_SENT = 0,		/* 2xx to the end of data */
	SMTP_TEMPFAIL,		/* 4xx, network, TLS or timeout: try later */
	SMTP_PERMFAIL,		/* 5xx */
	SMTP_BOUNCED,		/* RCPT 5xx with enhanced code 5.1.x */
	SMTP_NOT_SENT,		/* never started: returned by
				   smtp_relay_unqueue or smtp_relay_free */
};

struct smtp_done {
	uint64_t		 cookie;
	enum smtp_result	 result;
	/* One line for the operator, redacted: no address, no name; the
	 * relay's reply as "550 5.1.1 <redacted> ..." (anything between
	 * < and >, and anything containing @, replaced), or what failed
	 * ("relay1: TLS: certificate has expired", "relay1: connection
	 * refused", "relay1: timeout waiting for the reply to DATA").
	 * Empty for SMTP_SENT.  Borrowed for the call. */
	const char		*text;
};

/* Called once per message, from the loop (never from inside
 * smtp_relay_submit).  It may call smtp_relay_submit, _room, _room_at,
 * _stats, _unqueue and _drain, but not smtp_relay_free.  The caller
 * ignores SIGPIPE (OpenSSL writes to the socket with write(2)). */
typedef void	(*smtp_done_cb)(void *arg, const struct smtp_done *);

/* A relay and its (initially empty) pool.  tls is the global policy,
 * overridden field by field by relay->tls_files.  The credential file, if
 * any, is read now.  Returns the relay, or NULL with one sentence in err.
 * The relay keeps pointers into r and tls: they must outlive it (a reload
 * makes a new relay and frees the old one once smtp_relay_idle).
 * r->host is looked up from here, and again before the next connection
 * after a connect failure: an address literal at once, a name in the
 * background (getaddrinfo_a), never blocking the loop; a name that does
 * not resolve is not an error: messages are TEMPFAIL and the relay backs
 * off. */
struct smtp_relay *smtp_relay_new(struct loop *, const struct cfg_relay *r,
	    const struct cfg_tls *tls, smtp_done_cb, void *arg, char *err,
	    size_t errlen);
/* Close every connection at once; every message not yet reported is
 * reported SMTP_NOT_SENT (those written but unanswered may still arrive:
 * at-least-once).  NULL is a no-op. */
void	smtp_relay_free(struct smtp_relay *);

/* Hand over one message: envelope sender and recipient (addr-specs, no
 * angle brackets), the message (CRLF lines, not dot-stuffed: the client
 * does it) whose storage the relay takes (*msg is left empty, ready for
 * reuse), and a cookie for the done callback.  Returns 0, or -1 when the
 * relay has no room (smtp_relay_room() is 0) or is draining. */
int	smtp_relay_submit(struct smtp_relay *, const char *from,
	    const char *rcpt, struct buf *msg, uint64_t cookie);
/* How many more messages the relay takes now: its free connection slots
 * times a small window, minus what waits; 0 while the rate limit or the
 * reconnect backoff holds it. */
size_t	smtp_relay_room(const struct smtp_relay *);
/* When smtp_relay_room() may grow without a report: the monotonic time
 * (loop_now_ms) at which the reconnect backoff or the rate limit lifts, or
 * -1 (there is room now, or only a report will make some).  For a
 * scheduler's due() callback. */
int64_t	smtp_relay_room_at(const struct smtp_relay *);
/* Report every message not yet written to a connection SMTP_NOT_SENT
 * (pause, shutdown).  Messages already written finish. */
void	smtp_relay_unqueue(struct smtp_relay *);
/* Stop taking messages; idle connections QUIT; busy ones QUIT after their
 * last message.  smtp_relay_idle() tells when nothing is in flight. */
void	smtp_relay_drain(struct smtp_relay *);
int	smtp_relay_idle(const struct smtp_relay *);

struct smtp_relay_stats {
	const char	*name;
	int		 connections;	/* open or opening */
	size_t		 queued;	/* handed over, not yet written */
	size_t		 in_flight;	/* written, not yet answered */
	uint64_t	 sent, tempfail, permfail, bounced;
	uint64_t	 connects, connect_failures;
	int		 pipelining;	/* the last EHLO offered it */
};
void	smtp_relay_stats(const struct smtp_relay *, struct smtp_relay_stats *);

/* Helpers with no connection, exposed for tests and the fuzzer. */

/* Append data to out dot-stuffed (a '.' at the start of a line doubled),
 * followed by the end of data: CRLF (unless data already ends in one)
 * ".\r\n".  A bare CR or LF is written as CRLF, so no "<LF>.<LF>" or
 * "<CR>.<CR>" can reach a relay that reads it as the end of data (SMTP
 * smuggling).  0, or -1 when out is full. */
int	smtp_dotstuff(struct buf *out, const char *data, size_t len);
/* Copy a reply text into out with addresses redacted: anything between
 * '<' and '>' becomes "<redacted>", any other whitespace-separated word
 * containing '@' becomes "redacted", control characters become spaces,
 * cut at outlen - 1 bytes on a UTF-8 boundary. */
void	smtp_redact(const char *text, size_t len, char *out, size_t outlen);
/*
 * Parse one reply from in[0..len): one or more lines "DDD-text" ending
 * with "DDD text" (or "DDD"), CRLF (a bare LF accepted).  Returns the
 * bytes used (> 0) with *code set (200..599) and *enh set to the enhanced
 * status class and subject ("5.1" as 51, 0 when absent); 0 when the reply
 * is not complete yet; -1 when it is malformed (different codes across
 * lines, a code outside 200..599, a line over 2048 bytes).
 */
int	smtp_reply_parse(const char *in, size_t len, int *code, int *enh);

/* What an EHLO reply offers (keywords case-insensitive; the first line,
 * the server's name, is skipped). */
struct smtp_caps {
	int		 pipelining;	/* RFC 2920 */
	int		 starttls;	/* RFC 3207 */
	int		 enhanced;	/* ENHANCEDSTATUSCODES, RFC 2034 */
	int		 eightbit;	/* 8BITMIME, RFC 6152 */
	int		 smtputf8;	/* RFC 6531 */
	int		 auth_plain;	/* AUTH (or old AUTH=) lists PLAIN */
	int		 auth_login;	/* ... LOGIN */
	uint64_t	 size;		/* SIZE n; 0: none or no limit */
};
/* Parse a whole EHLO reply (as smtp_reply_parse accepted it) into caps
 * (zeroed first). */
void	smtp_ehlo_parse(const char *reply, size_t len, struct smtp_caps *caps);

#endif
