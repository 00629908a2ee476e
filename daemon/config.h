/* config.h - the daemon's configuration (libconfig), parsed into one struct
 * and validated as a whole: unknown keys, wrong types, out-of-range values
 * and missing files are errors naming file, line and key.  A struct config
 * is immutable once loaded; SIGHUP loads a new one and swaps it in only
 * when it is valid.  config_free() releases everything it owns. */
#ifndef OUTREACH_CONFIG_H
#define OUTREACH_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "tls.h"

enum cfg_security {
	CFG_SECURITY_CURVE = 0,
	CFG_SECURITY_NONE,
};

/* ingest.endpoints: ROUTER sockets the daemon binds. */
struct cfg_endpoint {
	char			*bind;		/* "tcp://127.0.0.1:7450", "ipc://..." */
	enum cfg_security	 security;
	char			*post;		/* security "none": the post whose ACL
						   applies; NULL with CURVE */
};

/* ingest.feeds: PUB endpoints the daemon connects a SUB socket to. */
struct cfg_feed {
	char			*name;		/* slug, unique */
	char			*connect;
	char			*post;		/* post whose ACL applies */
	enum cfg_security	 security;
	char			 server_key[41];/* Z85; "" when security none */
};

/* posts: the embassies and consulates this installation serves. */
struct cfg_post {
	char	*id;		/* slug, unique */
	char	*name;
	char	*lang;		/* default language (canonical BCP 47) */
	char	*address;	/* optional: NULL when absent */
	char	*phone;
	char	*email;
	char	*website;
};

/* smtp.relays: the relays e-mail goes through (DESIGN.md 5). */
enum cfg_relay_tls {
	CFG_RELAY_STARTTLS = 0,	/* submission (587): STARTTLS required */
	CFG_RELAY_TLS,		/* implicit TLS (465, RFC 8314) */
};

struct cfg_relay {
	char			*name;		/* slug, unique */
	char			*host;		/* name or IP literal */
	int			 port;		/* default 587 / 465 */
	enum cfg_relay_tls	 tls;
	char			*helo;		/* EHLO name; NULL: the host's name */
	char			*credential;	/* absolute path of a file
						   "user\npassword\n" for AUTH;
						   NULL: no AUTH */
	struct cfg_tls		 tls_files;	/* this relay's; each NULL field
						   falls back to config.tls */
	int			 max_connections;	/* default 4 */
	int			 max_messages_per_connection;	/* default 1000 */
	int			 rate;		/* messages per second; 0: no limit */
	int			 timeout_ms;	/* per stage; default 60000 */
};

/* webhooks { }: HTTPS POSTs (DESIGN.md 5). */
struct cfg_webhooks {
	char	*secret_file;	/* absolute path: one whsec_ secret per line
				   (several: several signatures) */
	int	 allow_loopback;	/* default 0 */
	int	 allow_private;		/* RFC 1918, ULA, CGNAT; default 0 */
	int	 max_connections_per_host;	/* default 8 */
	int	 rate_per_host;		/* requests per second; 0: no limit */
	int	 timeout_ms;		/* whole request; default 15000 */
	int	 retry_after_max_s;	/* cap on Retry-After; default 3600 */
};

/* delivery { }: the scheduler. */
struct cfg_delivery {
	int	 batch;		/* deliveries claimed per loop turn */
	int	 max_in_flight;	/* rendered and handed over, not yet done */
	int	 lifetime_s[4];	/* per priority (enum priority): give up
				   this long after the event arrived */
	int	 retry_first_ms[4];	/* first backoff, doubled each time */
	int	 retry_max_ms[4];	/* ... up to this */
};

struct config {
	char			*path;

	/* daemon { } */
	char			*state_dir;	/* journal, installation secret */
	char			*runtime_dir;	/* control socket; NULL: from
						   $RUNTIME_DIRECTORY, else state_dir */
	char			*control_group;	/* group of the control socket;
						   NULL: the daemon's own */
	int			 log_level;	/* enum log_level */
	int			 shutdown_timeout_ms;

	/* ingest { } */
	char			*curve_secret_file; /* NULL: $CREDENTIALS_DIRECTORY
						   /curve.key is required */
	char			*allow_list;	/* publishers file, required */
	char			**prefixes;	/* topic prefixes taken in */
	size_t			 nprefixes;
	char			**types;	/* event types accepted */
	size_t			 ntypes;
	size_t			 max_event_bytes;
	int			 batch_max;	/* events per loop turn */
	struct cfg_endpoint	*endpoints;
	size_t			 nendpoints;
	struct cfg_feed		*feeds;
	size_t			 nfeeds;

	/* journal { } */
	int64_t			 journal_max_bytes;	/* 0: no limit */
	int			 checkpoint_interval_ms;
	int			 event_retention_days;	/* 0: keep forever */
	int			 audit_retention_days;	/* 0: keep forever */

	/* notices { } */
	char			*templates_dir;	/* default: templates/ beside the
						   config file */
	char			*mail_from;	/* NULL: each post's email */
	char			*message_id_domain; /* NULL: from's domain */
	char			*unsubscribe_url;   /* https prefix; the token is
						   appended; NULL: none */
	char			*unsubscribe_mailto; /* address; NULL: none */

	/* tls { }, smtp { relays ( ) }, webhooks { }, delivery { } */
	struct cfg_tls		 tls;
	struct cfg_relay	*relays;
	size_t			 nrelays;
	struct cfg_webhooks	 webhooks;
	struct cfg_delivery	 delivery;

	/* posts ( ) */
	struct cfg_post		*posts;
	size_t			 nposts;
};

/* Parse and validate path into *cfg (zeroed first).  Returns 0, or -1 with
 * one sentence in err ("FILE:LINE: KEY: what is wrong").  On error *cfg
 * holds nothing that needs freeing. */
int	config_load(const char *path, struct config *cfg, char *err,
	    size_t errlen);
void	config_free(struct config *);

/* The same from text in memory: name is used in messages, and relative
 * paths are resolved against its directory (the current directory when
 * it has none).  No file is read but those the config names (existence
 * checks).  For the fuzzer and tests. */
int	config_load_string(const char *text, const char *name,
	    struct config *cfg, char *err, size_t errlen);

/* The post with this id, or NULL. */
const struct cfg_post *config_post(const struct config *, const char *id);

/*
 * The reading machinery config.c shares with acl.c: a libconfig text
 * parsed once, and helpers that take values out of it with errors of the
 * form "FILE:LINE: KEY.PATH: what is wrong; expected what".  Not for other
 * modules.  @include is refused, and so is an integer that libconfig 1.5
 * would silently wrap (more than 32 bits without the L suffix).
 */
struct config_t;
struct config_setting_t;

struct config_src {
	const char		*name;	/* as given, for messages */
	char			*dir;	/* absolute directory of the file */
	char			*err;
	size_t			 errlen;
	struct config_t		*lc;
};

/* Read path (text NULL) or parse text (named path).  Returns 0, or -1 with
 * err set and nothing to close.  config_src_close() releases it. */
int	config_src_open(struct config_src *, const char *path,
	    const char *text, char *err, size_t errlen);
void	config_src_close(struct config_src *);
struct config_setting_t *config_src_root(struct config_src *);
/* Write "FILE:LINE: PATH: message" (no LINE when s has none) to err.
 * Returns -1 so callers can return it. */
int	config_src_error(struct config_src *, const struct config_setting_t *s,
	    const char *path, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));
/* Every member of group g (at path) is named in names (NULL-terminated).
 * Returns 0, or -1 naming the first unknown one. */
int	config_src_keys(struct config_src *, const struct config_setting_t *g,
	    const char *path, const char *const *names);
/* Member name of group g, which is at gpath.  These return 1 when found
 * and valid (*out set), 0 when absent and not required (*out untouched),
 * -1 with err set otherwise. */
/* A non-empty string without control characters; *out points into the
 * parsed text (valid until config_src_close). */
int	config_src_string(struct config_src *, const struct config_setting_t *g,
	    const char *gpath, const char *name, int required,
	    const char **out);
/* An integer (int or int64) in min..max. */
int	config_src_int(struct config_src *, const struct config_setting_t *g,
	    const char *gpath, const char *name, int required, int64_t min,
	    int64_t max, int64_t *out);
/* A group (type CONFIG_TYPE_GROUP) or a list of groups (CONFIG_TYPE_LIST). */
int	config_src_member(struct config_src *, const struct config_setting_t *g,
	    const char *gpath, const char *name, int required, int type,
	    struct config_setting_t **out);
/* A non-empty array of strings, each accepted by valid (what names the
 * expected form in messages), none twice when unique.  On 1 the caller
 * owns the copies in *out (free each, then the array); on 0 and -1 there
 * is nothing to free. */
int	config_src_strings(struct config_src *, const struct config_setting_t *g,
	    const char *gpath, const char *name, int required,
	    int (*valid)(const char *, size_t), const char *what, int unique,
	    char ***out, size_t *n);
/* "gpath.name" or "gpath[i]" (i >= 0) into out. */
void	config_src_path(char *out, size_t outlen, const char *gpath,
	    const char *name, int i);

#endif
