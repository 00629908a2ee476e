/* webhook.h - HTTPS POSTs of signed notices (DESIGN.md 5) through
 * libcurl's multi interface in the daemon's loop: Standard Webhooks
 * headers (webhook-id constant across attempts, webhook-timestamp and
 * webhook-signature computed at each attempt, one signature per secret),
 * HTTPS only, no redirects, no proxies, destinations checked on the address
 * actually connected to, per-host connection and rate limits, connections
 * kept alive.  A job handed over is reported exactly once through the done
 * callback. */
#ifndef OUTREACH_WEBHOOK_H
#define OUTREACH_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

struct cfg_tls;
struct cfg_webhooks;
struct loop;
struct webhook;

enum webhook_result {
	WEBHOOK_SENT = 0,	/* 2xx */
	WEBHOOK_RETRY,		/* 408, 429, 5xx, network, TLS, timeout */
	WEBHOOK_FAILED,		/* other 4xx, 3xx (redirects are not
				   followed), a refused address */
	WEBHOOK_GONE,		/* 410: disable the endpoint for the contact */
	WEBHOOK_NOT_SENT,	/* never started (webhook_unqueue, _free) */
};

struct webhook_done {
	uint64_t		 cookie;
	enum webhook_result	 result;
	int			 http_status;	/* 0: no response */
	int64_t			 retry_after_ms; /* from Retry-After, capped at
						   retry_after_max_s; -1: none */
	/* One line naming the host only (never the URL's path or query,
	 * which may identify the contact): "hooks.example.org: HTTP 500",
	 * "hooks.example.org: TLS: certificate has expired",
	 * "hooks.example.org: address 10.0.0.1 is private (not allowed)".
	 * Borrowed for the call. */
	const char		*text;
};

typedef void	(*webhook_done_cb)(void *arg, const struct webhook_done *);

/* Limits: jobs held at once (queued + running: webhook_room) and the
 * bytes of their bodies, a webhook-id's length (printable ASCII, no
 * space), a body, a URL, secrets in the file and their decoded length in
 * bytes. */
#define WEBHOOK_MAX_JOBS	512
#define WEBHOOK_MAX_BYTES	(32 * 1024 * 1024)
#define WEBHOOK_ID_MAX		256
#define WEBHOOK_BODY_MAX	(1024 * 1024)
#define WEBHOOK_URL_MAX		4096
#define WEBHOOK_SECRETS_MAX	8
#define WEBHOOK_KEY_MIN		16
#define WEBHOOK_KEY_MAX		128

/* The sender: reads the secrets file (one "whsec_BASE64" per line; blank
 * lines and lines starting with '#' skipped; at least one) now.  w and tls
 * must outlive it.  NULL with one sentence in err (never a secret). */
struct webhook	*webhook_new(struct loop *, const struct cfg_webhooks *w,
		    const struct cfg_tls *tls, webhook_done_cb, void *arg,
		    char *err, size_t errlen);
/* Abort every transfer; every job not yet reported is reported
 * WEBHOOK_NOT_SENT (webhook_submit refuses meanwhile), and leave the loop
 * (which may go on turning).  Not from inside the done callback.  NULL is
 * a no-op. */
void		 webhook_free(struct webhook *);

/* Hand over one POST: url (https), the webhook-id (constant across
 * attempts), the JSON body (copied) and a cookie.  Signed when it starts,
 * which happens from the loop, never inside this call (so no report
 * either).  Returns 0, or -1 when there is no room (webhook_room() is 0),
 * the URL is not https or is malformed, the id or body is outside the
 * limits above (reported by return only, nothing queued). */
int		 webhook_submit(struct webhook *, const char *url,
		    const char *webhook_id, const char *body, size_t len,
		    uint64_t cookie);
/* How many more jobs it takes now (bounds memory: jobs waiting for a
 * host's connection or rate limit count); 0 also while the bodies held
 * leave less than WEBHOOK_BODY_MAX of WEBHOOK_MAX_BYTES, so that with room
 * a well-formed job is never refused. */
size_t		 webhook_room(const struct webhook *);
/* Report every job not yet started WEBHOOK_NOT_SENT (pause, shutdown). */
void		 webhook_unqueue(struct webhook *);
/* 1 when no transfer is running or waiting. */
int		 webhook_idle(const struct webhook *);

struct webhook_host_stats {
	const char	*host;
	size_t		 queued;
	size_t		 running;
	uint64_t	 sent, retry, failed, gone;
};
/* Per host ("name", or "name:port" off 443), up to max entries into out
 * (host borrowed until the next call into the sender; hosts quiet for a
 * minute are forgotten); returns the number of hosts. */
size_t		 webhook_stats(const struct webhook *,
		    struct webhook_host_stats *out, size_t max);

/* Helpers with no transfer, exposed for tests and the fuzzer. */

/* "v1,BASE64" signatures, space separated, of "id.timestamp.body" with
 * each key, into out (reset first).  0 or -1. */
struct buf;
int		 webhook_sign(const unsigned char *const *keys,
		    const size_t *keylens, size_t nkeys, const char *id,
		    int64_t timestamp, const char *body, size_t len,
		    struct buf *out);
/* Decode a "whsec_BASE64" secret into key (at most *keylen bytes, set to
 * the length).  0, or -1 when malformed. */
int		 webhook_secret_decode(const char *secret,
		    unsigned char *key, size_t *keylen);
/* Retry-After: delta seconds or an HTTP date (RFC 9110 5.6.7 formats),
 * relative to now (seconds since the epoch).  Milliseconds >= 0, capped at
 * cap_s; -1 when absent or malformed. */
int64_t		 webhook_retry_after(const char *value, int64_t now,
		    int64_t cap_s);
/* 1 when the address may not be connected to under w's rules (loopback
 * unless allow_loopback; RFC 1918, CGNAT, ULA unless allow_private;
 * link-local, multicast, unspecified, broadcast, IPv4-mapped forms of
 * these always), with a reason ("private", "loopback", ...) in *why. */
struct sockaddr;
int		 webhook_address_refused(const struct cfg_webhooks *w,
		    const struct sockaddr *sa, const char **why);

#endif
