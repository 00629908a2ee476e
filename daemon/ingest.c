/* ingest.c - ROUTER and SUB intake, the ZAP handler and the acks.
 * Invariant: a reply that depends on the journal (accepted, duplicate,
 * id_conflict) leaves only after the turn's commit returned; rejections
 * that need no journal wait for the same flush, so replies keep their
 * order per publisher.  Nothing here exits on what a peer sends. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "acl.h"
#include "audience.h"
#include "buf.h"
#include "config.h"
#include "event.h"
#include "ingest.h"
#include "journal.h"
#include "log.h"
#include "loop.h"
#include "priority.h"
#include "topic.h"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN	93	/* DRAFT in 4.3.4's zmq.h, implemented */
#endif

#define INGEST_ZAP_ENDPOINT	"inproc://zeromq.zap.01"
#define INGEST_ZAP_DOMAIN	"outreachd"
#define INGEST_MAX_FRAMES	8
#define INGEST_HWM		100000

/* Every code a reply can carry; the counters follow this order. */
static const char *const ingest_codes[] = {
	"bad_topic", "too_large", "bad_json", "bad_utf8", "missing_field",
	"invalid_field", "unknown_type", "forbidden_topic",
	"forbidden_priority", "unauthorized", "id_conflict", "quota",
	"expired", "overloaded",
};
#define NCODES	(sizeof(ingest_codes) / sizeof(ingest_codes[0]))

enum sock_kind {
	SOCK_ROUTER,
	SOCK_SUB,
	SOCK_ZAP,
};

struct ingest_sock {
	struct ingest	*ing;
	void		*sock;
	enum sock_kind	 kind;
	int		 curve;
	char		*post;		/* none endpoints and feeds */
	char		*name;		/* bind or feed name, for logs */
	char		*source;	/* "router" or "feed:NAME" */
	int64_t		 last_seq;	/* feeds */
	uint64_t	 gaps;
};

enum pend_kind {
	PEND_FINAL,		/* reply decided without the journal */
	PEND_STORED,
	PEND_DUPLICATE,
	PEND_CONFLICT,
};

struct pending {
	struct ingest_sock	*is;
	zmq_msg_t		 ident;
	int			 delim;
	enum pend_kind		 kind;
	char			*id;		/* event id or NULL */
	const char		*code;		/* PEND_FINAL rejections */
	char			*field;
	char			*message;
	int64_t			 recipients;
	char			*log_post;	/* for the accepted log line */
	char			*log_topic;
};

struct ingest {
	void			*zctx;
	struct loop		*loop;
	struct journal		*jr;
	struct audience		*aud;
	const struct config	*cfg;
	struct acl		*acl;
	struct ingest_keys	 keys;
	struct ingest_sock	**socks;	/* each allocated: the loop holds
						   pointers to them */
	size_t			 nsocks;
	struct pending		*pend;
	size_t			 npend, cappend;
	int			 turn_failed;	/* a store failed this turn */
	uint64_t		 turn_feed;	/* feed events stored this turn */
	int			 turn_full;
	const char *const	*types;
	struct {
		uint64_t	received;
		uint64_t	accepted;
		uint64_t	duplicate;
		uint64_t	rejected;
		uint64_t	by_code[NCODES];
		uint64_t	feed_received;
		uint64_t	feed_stored;
		uint64_t	feed_duplicate;
		uint64_t	feed_rejected;
		uint64_t	feed_lost;
		uint64_t	gaps;
		uint64_t	zap_allowed;
		uint64_t	zap_denied;
	} n;
};

static void	ingest_router_cb(void *, short);
static void	ingest_sub_cb(void *, short);
static void	ingest_zap_cb(void *, short);

static void
ingest_count(struct ingest *ing, const char *code)
{
	size_t	i;

	for (i = 0; i < NCODES; i++)
		if (strcmp(ingest_codes[i], code) == 0)
			ing->n.by_code[i]++;
}

/* Loopback and ipc endpoints only may go without CURVE (config.c checks);
 * set the socket options common to both roles. */
static int
ingest_sockopts(struct ingest *ing, void *s, int curve, int server,
    const char *server_key)
{
	int	hwm = INGEST_HWM, one = 1, linger = 2000;
	int64_t	maxmsg;

	maxmsg = (int64_t)ing->cfg->max_event_bytes * 16;
	if (maxmsg < 1024 * 1024)
		maxmsg = 1024 * 1024;
	if (zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm)) == -1 ||
	    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm)) == -1 ||
	    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)) == -1 ||
	    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) == -1)
		return -1;
	if (!curve)
		return 0;
	if (server) {
		/* ZAP is consulted only when the domain is set; enforcing it
		 * makes a missing handler a refusal instead of a pass. */
		if (zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one,
		    sizeof(one)) == -1 ||
		    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY,
		    ing->keys.secret_key, 41) == -1 ||
		    zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, INGEST_ZAP_DOMAIN,
		    strlen(INGEST_ZAP_DOMAIN)) == -1 ||
		    zmq_setsockopt(s, ZMQ_ZAP_ENFORCE_DOMAIN, &one,
		    sizeof(one)) == -1)
			return -1;
	} else {
		if (zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server_key,
		    41) == -1 ||
		    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY,
		    ing->keys.public_key, 41) == -1 ||
		    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY,
		    ing->keys.secret_key, 41) == -1)
			return -1;
	}
	return 0;
}

static struct ingest_sock *
ingest_sock_add(struct ingest *ing, void *s, enum sock_kind kind)
{
	struct ingest_sock	**pp, *p;

	if ((pp = reallocarray(ing->socks, ing->nsocks + 1, sizeof(*pp))) ==
	    NULL)
		return NULL;
	ing->socks = pp;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	ing->socks[ing->nsocks++] = p;
	p->ing = ing;
	p->sock = s;
	p->kind = kind;
	return p;
}

static void
ingest_subscribe(struct ingest_sock *is, const struct config *cfg, int on)
{
	size_t	i;

	for (i = 0; i < cfg->nprefixes; i++)
		zmq_setsockopt(is->sock, on ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE,
		    cfg->prefixes[i], strlen(cfg->prefixes[i]));
}

struct ingest *
ingest_new(void *zctx, struct loop *lp, struct journal *jr,
    struct audience *aud, const struct config *cfg, struct acl *acl,
    const struct ingest_keys *keys, int no_zap, char *err, size_t errlen)
{
	struct ingest		*ing;
	struct ingest_sock	*is;
	struct buf		 b;
	void			*s;
	size_t			 i;
	int			 curve;

	if ((ing = calloc(1, sizeof(*ing))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ing->zctx = zctx;
	ing->loop = lp;
	ing->jr = jr;
	ing->aud = aud;
	ing->cfg = cfg;
	ing->acl = acl;
	if (keys != NULL)
		ing->keys = *keys;

	/* The ZAP handler first: a CURVE ROUTER bound before it would let
	 * a handshake race through (and ZAP_ENFORCE_DOMAIN refuse it). */
	if (!no_zap) {
		if ((s = zmq_socket(zctx, ZMQ_REP)) == NULL ||
		    zmq_bind(s, INGEST_ZAP_ENDPOINT) == -1) {
			snprintf(err, errlen, "ZAP handler %s: %s",
			    INGEST_ZAP_ENDPOINT, zmq_strerror(zmq_errno()));
			if (s)
				zmq_close(s);
			goto fail;
		}
		if ((is = ingest_sock_add(ing, s, SOCK_ZAP)) == NULL)
			goto fail_mem;
		loop_add_socket(lp, s, ZMQ_POLLIN, ingest_zap_cb, is);
	} else
		log_warnx("ingest: ZAP handler NOT started (test switch): "
		    "no CURVE client can connect");

	for (i = 0; i < cfg->nendpoints; i++) {
		const struct cfg_endpoint *ep = &cfg->endpoints[i];

		curve = ep->security == CFG_SECURITY_CURVE;
		if ((s = zmq_socket(zctx, ZMQ_ROUTER)) == NULL)
			goto fail_zmq;
		if (ingest_sockopts(ing, s, curve, 1, NULL) == -1 ||
		    zmq_bind(s, ep->bind) == -1) {
			snprintf(err, errlen, "endpoint \"%s\": %s", ep->bind,
			    zmq_strerror(zmq_errno()));
			zmq_close(s);
			goto fail;
		}
		if ((is = ingest_sock_add(ing, s, SOCK_ROUTER)) == NULL)
			goto fail_mem;
		is->curve = curve;
		is->name = strdup(ep->bind);
		is->source = strdup("router");
		is->post = ep->post ? strdup(ep->post) : NULL;
		loop_add_socket(lp, s, ZMQ_POLLIN, ingest_router_cb, is);
		if (!curve)
			log_warnx("ingest: endpoint without CURVE, every "
			    "local process may publish as post=%s bind=%s",
			    ep->post, ep->bind);
		log_info("ingest: listening bind=%s security=%s", ep->bind,
		    curve ? "curve" : "none");
	}

	for (i = 0; i < cfg->nfeeds; i++) {
		const struct cfg_feed *fd = &cfg->feeds[i];

		curve = fd->security == CFG_SECURITY_CURVE;
		if ((s = zmq_socket(zctx, ZMQ_SUB)) == NULL)
			goto fail_zmq;
		if (ingest_sockopts(ing, s, curve, 0, fd->server_key) == -1 ||
		    zmq_connect(s, fd->connect) == -1) {
			snprintf(err, errlen, "feed \"%s\" (%s): %s", fd->name,
			    fd->connect, zmq_strerror(zmq_errno()));
			zmq_close(s);
			goto fail;
		}
		if ((is = ingest_sock_add(ing, s, SOCK_SUB)) == NULL)
			goto fail_mem;
		is->curve = curve;
		is->name = strdup(fd->name);
		is->post = strdup(fd->post);
		buf_init(&b, 256);
		buf_printf(&b, "feed:%s", fd->name);
		is->source = buf_release(&b);
		is->last_seq = journal_feed_last_seq(jr, is->source);
		if (is->last_seq < 0)
			is->last_seq = 0;
		ingest_subscribe(is, cfg, 1);
		loop_add_socket(lp, s, ZMQ_POLLIN, ingest_sub_cb, is);
		if (!curve)
			log_warnx("ingest: feed without CURVE name=%s "
			    "connect=%s", fd->name, fd->connect);
		log_info("ingest: feed connected name=%s connect=%s post=%s "
		    "last_seq=%lld", fd->name, fd->connect, fd->post,
		    (long long)is->last_seq);
	}
	return ing;
fail_zmq:
	snprintf(err, errlen, "zmq_socket: %s", zmq_strerror(zmq_errno()));
	goto fail;
fail_mem:
	snprintf(err, errlen, "out of memory");
fail:
	ingest_free(ing);
	return NULL;
}

static void
ingest_pending_clear(struct pending *p)
{
	zmq_msg_close(&p->ident);
	free(p->id);
	free(p->field);
	free(p->message);
	free(p->log_post);
	free(p->log_topic);
}

void
ingest_stop(struct ingest *ing)
{
	size_t	i;

	for (i = 0; i < ing->nsocks; i++)
		loop_remove_socket(ing->loop, ing->socks[i]->sock);
}

void
ingest_free(struct ingest *ing)
{
	size_t	i;

	if (ing == NULL)
		return;
	for (i = 0; i < ing->npend; i++)
		ingest_pending_clear(&ing->pend[i]);
	free(ing->pend);
	for (i = 0; i < ing->nsocks; i++) {
		loop_remove_socket(ing->loop, ing->socks[i]->sock);
		zmq_close(ing->socks[i]->sock);
		free(ing->socks[i]->post);
		free(ing->socks[i]->name);
		free(ing->socks[i]->source);
		free(ing->socks[i]);
	}
	free(ing->socks);
	explicit_bzero(&ing->keys, sizeof(ing->keys));
	free(ing);
}

void
ingest_reconfigure(struct ingest *ing, const struct config *cfg,
    struct acl *acl)
{
	size_t	i;

	for (i = 0; i < ing->nsocks; i++)
		if (ing->socks[i]->kind == SOCK_SUB) {
			ingest_subscribe(ing->socks[i], ing->cfg, 0);
			ingest_subscribe(ing->socks[i], cfg, 1);
		}
	ing->cfg = cfg;
	ing->acl = acl;
}

/* ---- ZAP (RFC 27/ZAP) ---- */

static void
zap_send(void *s, const char *frame, size_t len, int more)
{
	zmq_send(s, frame, len, more ? ZMQ_SNDMORE : 0);
}

static int	ingest_recv(void *, zmq_msg_t *, int *);

static void
ingest_zap_cb(void *arg, short revents)
{
	struct ingest_sock	*is = arg;
	struct ingest		*ing = is->ing;
	zmq_msg_t		 fr[INGEST_MAX_FRAMES];
	int			 n, i, ok;
	char			 z85[41];
	const char		*why;

	(void)revents;
	/* One request per iteration until the socket is empty.  Request:
	 * version, request id, domain, address, identity, mechanism,
	 * credentials (the client's 32-byte key for CURVE). */
	while (ingest_recv(is->sock, fr, &n) > 0) {
		ok = 0;
		z85[0] = '\0';
		why = "malformed request";
		if (n == 7 && zmq_msg_size(&fr[0]) == 3 &&
		    memcmp(zmq_msg_data(&fr[0]), "1.0", 3) == 0) {
			if (zmq_msg_size(&fr[2]) != strlen(INGEST_ZAP_DOMAIN) ||
			    memcmp(zmq_msg_data(&fr[2]), INGEST_ZAP_DOMAIN,
			    strlen(INGEST_ZAP_DOMAIN)) != 0)
				why = "wrong domain";
			else if (zmq_msg_size(&fr[5]) != 5 ||
			    memcmp(zmq_msg_data(&fr[5]), "CURVE", 5) != 0)
				why = "not CURVE";
			else if (zmq_msg_size(&fr[6]) != 32)
				why = "no client key";
			else {
				zmq_z85_encode(z85, zmq_msg_data(&fr[6]), 32);
				if (acl_find(ing->acl, z85) != NULL)
					ok = 1;
				else
					why = "key not in allow-list";
			}
		}
		zap_send(is->sock, "1.0", 3, 1);
		if (n >= 2)
			zap_send(is->sock, zmq_msg_data(&fr[1]),
			    zmq_msg_size(&fr[1]), 1);
		else
			zap_send(is->sock, "", 0, 1);
		zap_send(is->sock, ok ? "200" : "400", 3, 1);
		zap_send(is->sock, ok ? "OK" : why, strlen(ok ? "OK" : why), 1);
		/* User-Id is the key itself: each message is checked against
		 * the allow-list current at that moment. */
		zap_send(is->sock, ok ? z85 : "", ok ? 40 : 0, 1);
		zap_send(is->sock, "", 0, 0);
		if (ok) {
			ing->n.zap_allowed++;
			log_debug("ingest: handshake allowed key=%s", z85);
		} else {
			ing->n.zap_denied++;
			log_notice("ingest: handshake refused reason=\"%s\" "
			    "key=%s", why, z85[0] ? z85 : "-");
		}
		for (i = 0; i < n; i++)
			zmq_msg_close(&fr[i]);
	}
}

/* ---- events ---- */

/* The id of a refused event when it can be read at all, so the publisher
 * can match the reply; only ids of the v1 grammar are echoed. */
static char *
ingest_lenient_id(const char *json, size_t len)
{
	json_t		*doc, *v;
	const char	*s;
	char		*id = NULL;
	size_t		 i, n;

	if ((doc = json_loadb(json, len, 0, NULL)) == NULL)
		return NULL;
	if (json_is_object(doc) && (v = json_object_get(doc, "id")) != NULL &&
	    json_is_string(v)) {
		s = json_string_value(v);
		n = json_string_length(v);
		for (i = 0; i < n; i++)
			if (!((s[i] >= 'A' && s[i] <= 'Z') ||
			    (s[i] >= 'a' && s[i] <= 'z') ||
			    (s[i] >= '0' && s[i] <= '9') ||
			    strchr("._:-", s[i]) != NULL) || s[i] == '\0')
				break;
		if (n >= 1 && n <= 128 && i == n)
			id = strdup(s);
	}
	json_decref(doc);
	return id;
}

static struct pending *
ingest_pend_new(struct ingest *ing, struct ingest_sock *is, zmq_msg_t *ident,
    int delim)
{
	struct pending	*p;
	size_t		 ncap;

	if (ing->npend == ing->cappend) {
		ncap = ing->cappend ? ing->cappend * 2 : 256;
		if ((p = reallocarray(ing->pend, ncap, sizeof(*p))) == NULL)
			return NULL;
		ing->pend = p;
		ing->cappend = ncap;
	}
	p = &ing->pend[ing->npend++];
	memset(p, 0, sizeof(*p));
	p->is = is;
	zmq_msg_init(&p->ident);
	zmq_msg_move(&p->ident, ident);
	p->delim = delim;
	return p;
}

static void
ingest_reject(struct pending *p, const char *code, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
ingest_reject(struct pending *p, const char *code, const char *field,
    const char *fmt, ...)
{
	struct buf	b;
	va_list		ap;

	p->kind = PEND_FINAL;
	p->code = code;
	p->field = field && *field ? strdup(field) : NULL;
	buf_init(&b, 1024);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	p->message = buf_release(&b);
}

/* Everything that decides an event's fate up to the journal: shared by
 * both paths.  post is the publishing post; ent the allow-list entry of a
 * CURVE publisher (NULL for keyless endpoints and feeds).  Fills p with a
 * rejection, or stores the event and sets p->kind from the journal.
 * Returns 1 when stored (new), 0 otherwise. */
static int
ingest_event(struct ingest *ing, struct ingest_sock *is, struct pending *p,
    const char *post, struct acl_entry *ent, const char *topic,
    size_t topic_len, const char *json, size_t json_len)
{
	const struct config	*cfg = ing->cfg;
	const struct cfg_post	*cp;
	struct event		 ev;
	struct event_error	 ee;
	struct event_rules	 rules;
	struct journal_event	 je;
	int			 maxprio, rc, allowed;
	size_t			 i;
	int64_t			 now = loop_wall_ms(), recipients = 0;

	memset(&ev, 0, sizeof(ev));
	cp = config_post(cfg, post);
	rules.max_bytes = cfg->max_event_bytes;
	rules.types = (const char *const *)cfg->types;
	rules.ntypes = cfg->ntypes;
	rules.default_lang = cp ? cp->lang : NULL;
	if (event_parse(topic, topic_len, json, json_len, &rules, &ev,
	    &ee) == -1) {
		p->id = ingest_lenient_id(json, json_len);
		ingest_reject(p, ee.code, ee.field, "%s", ee.message);
		return 0;
	}
	p->id = strdup(ev.id);
	p->log_post = strdup(post);
	p->log_topic = strndup(topic, topic_len);
	if (p->id == NULL || p->log_post == NULL || p->log_topic == NULL) {
		ingest_reject(p, "overloaded", NULL, "out of memory");
		goto out;
	}

	for (i = 0; i < cfg->nprefixes; i++)
		if (topic_has_prefix(p->log_topic, cfg->prefixes[i]))
			break;
	if (i == cfg->nprefixes) {
		ingest_reject(p, "forbidden_topic", "topic", "topic %s is "
		    "outside the prefixes this daemon takes", p->log_topic);
		goto out;
	}
	if (ent != NULL) {
		allowed = acl_topic_allowed(ent, p->log_topic);
		maxprio = ent->max_priority;
	} else
		allowed = acl_post_topic_allowed(ing->acl, post, p->log_topic,
		    &maxprio);
	if (!allowed) {
		ingest_reject(p, "forbidden_topic", "topic", "post %s may not "
		    "publish on %s", post, p->log_topic);
		goto out;
	}
	if ((int)ev.priority > maxprio) {
		ingest_reject(p, "forbidden_priority", "priority", "priority "
		    "%s is above the highest allowed for this publisher (%s)",
		    priority_name(ev.priority), priority_name(maxprio));
		goto out;
	}
	if (ev.expires_at_ms >= 0 && ev.expires_at_ms <= now) {
		ingest_reject(p, "expired", "expires_at", "the event expired "
		    "before it arrived");
		goto out;
	}
	if (ent != NULL && !acl_quota_take(ent, loop_now_ms())) {
		ingest_reject(p, "quota", NULL, "rate quota of %.0f events per "
		    "%.0f s exhausted; retry later", ent->quota_events,
		    ent->quota_seconds);
		goto out;
	}

	if (ing->turn_failed || journal_txn(ing->jr) == -1) {
		ing->turn_failed = 1;
		ingest_reject(p, "overloaded", NULL, "journal unavailable; "
		    "nothing stored, retry later");
		goto out;
	}
	memset(&je, 0, sizeof(je));
	je.post = post;
	je.event_id = ev.id;
	je.topic = p->log_topic;
	je.type = ev.type;
	je.priority = ev.priority;
	je.status = ev.status == EVENT_EXERCISE ? "exercise" :
	    ev.status == EVENT_TEST ? "test" : "actual";
	je.sha256 = ev.sha256;
	je.doc = ev.canonical;
	je.doc_len = ev.canonical_len;
	je.source = is->source;
	je.publisher = ent ? ent->key : NULL;
	je.seq = ev.seq;
	je.received_ms = now;
	je.not_before_ms = ev.not_before_ms;
	je.expires_at_ms = ev.expires_at_ms;
	je.replaces = ev.replaces;
	je.cancel = ev.cancel;
	/* The audience is fixed now: its size for the reply, its highest
	 * contact row for the fan-out that follows in slices. */
	if (audience_count(ing->aud, &ev, p->log_topic, &je.recipients,
	    &je.audience_max) == -1) {
		ing->turn_failed = 1;
		ingest_reject(p, "overloaded", NULL, "journal unavailable; "
		    "nothing stored, retry later");
		goto out;
	}
	rc = journal_event_store(ing->jr, &je, &recipients, NULL);
	if (rc == JOURNAL_STORED && ev.replaces != NULL &&
	    audience_replace(ing->aud, post, ev.replaces, now) == -1)
		rc = -1;
	if (rc == JOURNAL_STORED && je.recipients > 0)
		audience_wake(ing->aud);
	switch (rc) {
	case JOURNAL_STORED:
		p->kind = PEND_STORED;
		break;
	case JOURNAL_DUPLICATE:
		p->kind = PEND_DUPLICATE;
		break;
	case JOURNAL_CONFLICT:
		p->kind = PEND_CONFLICT;
		break;
	default:
		/* The transaction is unusable now: everything of this turn
		 * is rolled back at the flush and answered "overloaded". */
		ing->turn_failed = 1;
		ing->turn_full = journal_full(ing->jr);
		ingest_reject(p, "overloaded", NULL, "journal %s; nothing "
		    "stored, retry later", ing->turn_full ? "full" :
		    "unavailable");
		goto out;
	}
	p->recipients = recipients;
	if (ev.seq > 0 && is->kind == SOCK_SUB) {
		if (is->last_seq > 0 && ev.seq > is->last_seq + 1) {
			is->gaps += (uint64_t)(ev.seq - is->last_seq - 1);
			ing->n.gaps += (uint64_t)(ev.seq - is->last_seq - 1);
			log_warnx("ingest: feed gap name=%s post=%s "
			    "expected_seq=%lld got_seq=%lld missing=%lld",
			    is->name, post, (long long)is->last_seq + 1,
			    (long long)ev.seq,
			    (long long)(ev.seq - is->last_seq - 1));
		} else if (ev.seq <= is->last_seq && rc == JOURNAL_STORED)
			log_notice("ingest: feed seq went back name=%s "
			    "last_seq=%lld seq=%lld (feed restarted?)",
			    is->name, (long long)is->last_seq,
			    (long long)ev.seq);
		if (ev.seq > is->last_seq || rc == JOURNAL_STORED)
			is->last_seq = ev.seq;
	}
	event_clear(&ev);
	return rc == JOURNAL_STORED;
out:
	event_clear(&ev);
	return 0;
}

/* Receive one multipart message into fr[] (at most INGEST_MAX_FRAMES kept;
 * the rest drained).  Returns the number of frames in the message, 0 when
 * the socket had none. */
static int
ingest_recv(void *s, zmq_msg_t *fr, int *nkept)
{
	int		n = 0, kept = 0, more;
	zmq_msg_t	junk;

	do {
		if (kept < INGEST_MAX_FRAMES) {
			zmq_msg_init(&fr[kept]);
			if (zmq_msg_recv(&fr[kept], s,
			    n == 0 ? ZMQ_DONTWAIT : 0) == -1) {
				zmq_msg_close(&fr[kept]);
				*nkept = kept;
				return n;
			}
			more = zmq_msg_more(&fr[kept]);
			kept++;
		} else {
			zmq_msg_init(&junk);
			if (zmq_msg_recv(&junk, s, 0) == -1) {
				zmq_msg_close(&junk);
				break;
			}
			more = zmq_msg_more(&junk);
			zmq_msg_close(&junk);
		}
		n++;
	} while (more);
	*nkept = kept;
	return n;
}

static void
ingest_router_one(struct ingest_sock *is, zmq_msg_t *fr, int n, int kept)
{
	struct ingest		*ing = is->ing;
	struct pending		*p;
	struct acl_entry	*ent = NULL;
	const char		*uid, *post;
	int			 delim = 0, first;

	/* [identity] [empty delimiter from REQ] topic event */
	if (kept >= 2 && zmq_msg_size(&fr[1]) == 0)
		delim = 1;
	first = 1 + delim;
	if ((p = ingest_pend_new(ing, is, &fr[0], delim)) == NULL) {
		log_warnx("ingest: out of memory, message dropped");
		return;
	}
	ing->n.received++;
	if (n != first + 2) {
		ingest_reject(p, "bad_json", NULL, "expected two frames after "
		    "the envelope (topic, event), got %d", n - first);
		return;
	}
	if (is->curve) {
		/* The key ZAP vouched for, checked against the allow-list
		 * as it is now: a key removed by a reload stops here. */
		uid = zmq_msg_gets(&fr[first], "User-Id");
		if (uid == NULL || (ent = acl_find(ing->acl, uid)) == NULL) {
			p->id = ingest_lenient_id(zmq_msg_data(&fr[first + 1]),
			    zmq_msg_size(&fr[first + 1]));
			ingest_reject(p, "unauthorized", NULL, "this key is not "
			    "(or no longer) in the allow-list");
			return;
		}
		post = ent->post;
	} else
		post = is->post;
	ingest_event(ing, is, p, post, ent, zmq_msg_data(&fr[first]),
	    zmq_msg_size(&fr[first]), zmq_msg_data(&fr[first + 1]),
	    zmq_msg_size(&fr[first + 1]));
}

static void
ingest_router_cb(void *arg, short revents)
{
	struct ingest_sock	*is = arg;
	zmq_msg_t		 fr[INGEST_MAX_FRAMES];
	int			 n, kept, i, taken = 0;

	(void)revents;
	/* Take a bounded batch per turn so one busy publisher cannot hold
	 * the loop; zmq_poll reports the socket again next turn. */
	while (taken < is->ing->cfg->batch_max) {
		if ((n = ingest_recv(is->sock, fr, &kept)) == 0)
			break;
		taken++;
		if (kept >= 1)
			ingest_router_one(is, fr, n, kept);
		for (i = 0; i < kept; i++)
			zmq_msg_close(&fr[i]);
	}
}

static void
ingest_sub_cb(void *arg, short revents)
{
	struct ingest_sock	*is = arg;
	struct ingest		*ing = is->ing;
	struct pending		 p;
	zmq_msg_t		 fr[INGEST_MAX_FRAMES];
	int			 n, kept, i, taken = 0;

	(void)revents;
	while (taken < ing->cfg->batch_max) {
		if ((n = ingest_recv(is->sock, fr, &kept)) == 0)
			break;
		taken++;
		ing->n.feed_received++;
		memset(&p, 0, sizeof(p));
		zmq_msg_init(&p.ident);
		if (n != 2) {
			ing->n.feed_rejected++;
			log_notice("ingest: feed message refused name=%s "
			    "frames=%d (want topic, event)", is->name, n);
		} else {
			ingest_event(ing, is, &p, is->post, NULL,
			    zmq_msg_data(&fr[0]), zmq_msg_size(&fr[0]),
			    zmq_msg_data(&fr[1]), zmq_msg_size(&fr[1]));
			switch (p.kind) {
			case PEND_STORED:
				ing->n.feed_stored++;
				ing->turn_feed++;
				log_info("ingest: feed event stored name=%s "
				    "post=%s id=%s", is->name, is->post, p.id);
				break;
			case PEND_DUPLICATE:
				ing->n.feed_duplicate++;
				break;
			case PEND_CONFLICT:
				ing->n.feed_rejected++;
				ingest_count(ing, "id_conflict");
				log_notice("ingest: feed event refused name=%s "
				    "post=%s id=%s code=id_conflict", is->name,
				    is->post, p.id);
				break;
			case PEND_FINAL:
				ing->n.feed_rejected++;
				ingest_count(ing, p.code);
				log_notice("ingest: feed event refused name=%s "
				    "post=%s id=%s code=%s field=%s: %s",
				    is->name, is->post, p.id ? p.id : "-",
				    p.code, p.field ? p.field : "-",
				    p.message ? p.message : "");
				break;
			}
		}
		ingest_pending_clear(&p);
		for (i = 0; i < kept; i++)
			zmq_msg_close(&fr[i]);
	}
}

static void
ingest_send_reply(struct ingest *ing, struct pending *p)
{
	json_t		*r, *e;
	char		*s = NULL;
	const char	*status;
	void		*sock = p->is->sock;

	switch (p->kind) {
	case PEND_STORED:
	case PEND_DUPLICATE:
		status = p->kind == PEND_STORED ? "accepted" : "duplicate";
		/* The common reply is written directly: the id passed the v1
		 * grammar ([A-Za-z0-9._:-]), so it needs no JSON escaping. */
		if (asprintf(&s, "{\"id\":\"%s\",\"status\":\"%s\","
		    "\"recipients\":%lld}", p->id, status,
		    (long long)p->recipients) == -1)
			s = NULL;
		if (p->kind == PEND_STORED) {
			ing->n.accepted++;
			log_info("ingest: event accepted post=%s id=%s "
			    "topic=%s recipients=%lld", p->log_post, p->id,
			    p->log_topic, (long long)p->recipients);
		} else {
			ing->n.duplicate++;
			log_info("ingest: event duplicate post=%s id=%s",
			    p->log_post, p->id);
		}
		break;
	case PEND_CONFLICT:
		ingest_reject(p, "id_conflict", "id", "this post already "
		    "stored an event with this id and other content");
		/* FALLTHROUGH */
	case PEND_FINAL:
	default:
		r = json_object();
		json_object_set_new(r, "id", p->id ? json_string(p->id) :
		    json_null());
		json_object_set_new(r, "status", json_string("rejected"));
		e = json_object();
		json_object_set_new(e, "code", json_string(p->code));
		if (p->field)
			json_object_set_new(e, "field", json_string(p->field));
		json_object_set_new(e, "message", json_string(p->message ?
		    p->message : ""));
		json_object_set_new(r, "error", e);
		ing->n.rejected++;
		ingest_count(ing, p->code);
		log_notice("ingest: event rejected post=%s id=%s code=%s "
		    "field=%s: %s", p->log_post ? p->log_post : "-",
		    p->id ? p->id : "-", p->code, p->field ? p->field : "-",
		    p->message ? p->message : "");
		s = json_dumps(r, JSON_COMPACT);
		json_decref(r);
		break;
	}
	if (s == NULL)
		return;
	/* A publisher that vanished or whose queue is full loses this
	 * reply only; it retries and gets "duplicate". */
	if (zmq_msg_send(&p->ident, sock, ZMQ_SNDMORE | ZMQ_DONTWAIT) != -1) {
		if (p->delim)
			zmq_send(sock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
		zmq_send(sock, s, strlen(s), ZMQ_DONTWAIT);
	}
	free(s);
}

size_t
ingest_pending(const struct ingest *ing)
{
	return ing->npend;
}

int
ingest_flush(struct ingest *ing, int commit_rc)
{
	struct pending	*p;
	size_t		 i;
	int		 failed = ing->turn_failed || commit_rc == -1;
	int		 full = ing->turn_full || journal_full(ing->jr);

	for (i = 0; i < ing->npend; i++) {
		p = &ing->pend[i];
		if (failed && p->kind != PEND_FINAL) {
			/* Not stored after all: the publisher retries. */
			free(p->field);
			free(p->message);
			ingest_reject(p, "overloaded", NULL, "journal %s; "
			    "nothing stored, retry later", full ? "full" :
			    "unavailable");
		}
		ingest_send_reply(ing, p);
		ingest_pending_clear(p);
	}
	if (failed && ing->turn_feed > 0) {
		/* Feeds cannot be told to resend: these are lost. */
		ing->n.feed_lost += ing->turn_feed;
		ing->n.feed_stored -= ing->turn_feed;
		log_warnx("ingest: feed events lost to a failed commit "
		    "count=%llu", (unsigned long long)ing->turn_feed);
	}
	ing->turn_feed = 0;
	i = ing->npend;
	ing->npend = 0;
	ing->turn_failed = 0;
	ing->turn_full = 0;
	return (int)i;
}

json_t *
ingest_status(struct ingest *ing)
{
	json_t	*o, *codes, *feeds, *f;
	size_t	 i;

	o = json_object();
	json_object_set_new(o, "received", json_integer(
	    (json_int_t)ing->n.received));
	json_object_set_new(o, "accepted", json_integer(
	    (json_int_t)ing->n.accepted));
	json_object_set_new(o, "duplicate", json_integer(
	    (json_int_t)ing->n.duplicate));
	json_object_set_new(o, "rejected", json_integer(
	    (json_int_t)ing->n.rejected));
	codes = json_object();
	for (i = 0; i < NCODES; i++)
		json_object_set_new(codes, ingest_codes[i],
		    json_integer((json_int_t)ing->n.by_code[i]));
	json_object_set_new(o, "rejected_by_code", codes);
	json_object_set_new(o, "gaps", json_integer((json_int_t)ing->n.gaps));
	json_object_set_new(o, "handshakes_allowed",
	    json_integer((json_int_t)ing->n.zap_allowed));
	json_object_set_new(o, "handshakes_refused",
	    json_integer((json_int_t)ing->n.zap_denied));
	feeds = json_array();
	for (i = 0; i < ing->nsocks; i++) {
		if (ing->socks[i]->kind != SOCK_SUB)
			continue;
		f = json_object();
		json_object_set_new(f, "name",
		    json_string(ing->socks[i]->name));
		json_object_set_new(f, "post",
		    json_string(ing->socks[i]->post));
		json_object_set_new(f, "last_seq",
		    json_integer(ing->socks[i]->last_seq));
		json_object_set_new(f, "gaps",
		    json_integer((json_int_t)ing->socks[i]->gaps));
		json_array_append_new(feeds, f);
	}
	json_object_set_new(o, "feeds", feeds);
	json_object_set_new(o, "feed_received",
	    json_integer((json_int_t)ing->n.feed_received));
	json_object_set_new(o, "feed_stored",
	    json_integer((json_int_t)ing->n.feed_stored));
	json_object_set_new(o, "feed_duplicate",
	    json_integer((json_int_t)ing->n.feed_duplicate));
	json_object_set_new(o, "feed_rejected",
	    json_integer((json_int_t)ing->n.feed_rejected));
	json_object_set_new(o, "feed_lost",
	    json_integer((json_int_t)ing->n.feed_lost));
	return o;
}
