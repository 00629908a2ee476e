/* main.c - outreachd: start-up, the signal flags, reload, shutdown.
 * Order matters: signals are blocked before libzmq starts its threads, the
 * journal is open before any socket is bound, and READY=1 is sent only
 * once both hold.  Config errors at start are fatal; at reload they are
 * reported and the running config stays. */
#include <sys/signalfd.h>
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "acl.h"
#include "audience.h"
#include "buf.h"
#include "config.h"
#include "contacts.h"
#include "control.h"
#include "daemon.h"
#include "deliver.h"
#include "tls.h"
#include "ingest.h"
#include "journal.h"
#include "keyfile.h"
#include "log.h"
#include "loop.h"
#include "notify.h"
#include "render.h"

#define DEFAULT_CONFIG	"/etc/outreachd/outreachd.conf"
#define FANOUT_SLICE		500	/* contacts per fan-out step */
#define FANOUT_BUDGET_MS	5	/* fan-out time per loop turn */
#define PURGE_BATCH		500	/* rows purged per turn */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: outreachd [-n] [-d] [-f FILE]\n"
	    "       outreachd --version | --help\n"
	    "\n"
	    "  -f FILE    configuration file (default " DEFAULT_CONFIG ")\n"
	    "  -n         check the configuration, allow-list and keys, then "
	    "exit 0 or 1\n"
	    "  -d         log at debug level (overrides daemon.log_level)\n"
	    "\n"
	    "Runs in the foreground (systemd Type=notify).  Signals: HUP "
	    "reloads,\nTERM and INT stop.  See outreachd(8), "
	    "outreachd.conf(5).\n");
}

static int
uses_curve(const struct config *cfg)
{
	size_t	i;

	for (i = 0; i < cfg->nendpoints; i++)
		if (cfg->endpoints[i].security == CFG_SECURITY_CURVE)
			return 1;
	for (i = 0; i < cfg->nfeeds; i++)
		if (cfg->feeds[i].security == CFG_SECURITY_CURVE)
			return 1;
	return 0;
}

/* The daemon's CURVE key: the systemd credential when there is one, else
 * the file the config names. */
static int
load_keys(const struct config *cfg, struct ingest_keys *k, char *err,
    size_t errlen)
{
	const char	*cred;
	struct buf	 b;
	int		 rc;

	memset(k, 0, sizeof(*k));
	if (!uses_curve(cfg))
		return 0;
	buf_init(&b, 4096);
	if ((cred = getenv("CREDENTIALS_DIRECTORY")) != NULL) {
		buf_printf(&b, "%s/curve.key", cred);
		if (b.data != NULL && access(b.data, F_OK) == 0) {
			rc = keyfile_read_credential(b.data, k->public_key,
			    k->secret_key, err, errlen);
			buf_free(&b);
			return rc;
		}
	}
	buf_free(&b);
	if (cfg->curve_secret_file == NULL) {
		snprintf(err, errlen, "%s: ingest.curve_secret_file: not set "
		    "and no systemd credential curve.key: CURVE endpoints "
		    "need the daemon's secret key (outreachctl keygen makes "
		    "one)", cfg->path);
		return -1;
	}
	return keyfile_read(cfg->curve_secret_file, k->public_key,
	    k->secret_key, err, errlen);
}

/* Load a config and its allow-list as one unit; both or neither. */
static int
load_all(const char *path, struct config **cfgp, struct acl **aclp,
    char *err, size_t errlen)
{
	struct config	*cfg;
	struct acl	*acl;

	cfg = calloc(1, sizeof(*cfg));
	acl = calloc(1, sizeof(*acl));
	if (cfg == NULL || acl == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (config_load(path, cfg, err, errlen) == -1)
		goto fail;
	if (acl_load(cfg->allow_list, cfg, acl, err, errlen) == -1) {
		config_free(cfg);
		goto fail;
	}
	*cfgp = cfg;
	*aclp = acl;
	return 0;
fail:
	free(cfg);
	free(acl);
	return -1;
}

static void
free_all(struct config *cfg, struct acl *acl)
{
	if (cfg != NULL) {
		config_free(cfg);
		free(cfg);
	}
	if (acl != NULL) {
		acl_free(acl);
		free(acl);
	}
}

static int
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* What a reload cannot change on a running daemon. */
static void
warn_restart_needed(const struct config *o, const struct config *n)
{
	size_t	i;
	int	eps = o->nendpoints != n->nendpoints, feeds;

	for (i = 0; !eps && i < n->nendpoints; i++)
		eps = !same_str(o->endpoints[i].bind, n->endpoints[i].bind) ||
		    o->endpoints[i].security != n->endpoints[i].security ||
		    !same_str(o->endpoints[i].post, n->endpoints[i].post);
	feeds = o->nfeeds != n->nfeeds;
	for (i = 0; !feeds && i < n->nfeeds; i++)
		feeds = !same_str(o->feeds[i].connect, n->feeds[i].connect) ||
		    !same_str(o->feeds[i].name, n->feeds[i].name) ||
		    !same_str(o->feeds[i].post, n->feeds[i].post) ||
		    strcmp(o->feeds[i].server_key, n->feeds[i].server_key) ||
		    o->feeds[i].security != n->feeds[i].security;
	if (eps)
		log_warnx("reload: ingest.endpoints changed; restart to apply");
	if (feeds)
		log_warnx("reload: ingest.feeds changed; restart to apply");
	if (!same_str(o->state_dir, n->state_dir))
		log_warnx("reload: daemon.state_dir changed; restart to apply");
	if (!same_str(o->runtime_dir, n->runtime_dir) ||
	    !same_str(o->control_group, n->control_group))
		log_warnx("reload: control socket settings changed; restart "
		    "to apply");
	if (!same_str(o->curve_secret_file, n->curve_secret_file))
		log_warnx("reload: ingest.curve_secret_file changed; the key "
		    "is rotated only by a restart");
}

int
daemon_reload(struct daemon *d, char *err, size_t errlen)
{
	struct config		*cfg;
	struct acl		*acl;
	struct render_sets	*sets = NULL;

	notify_reloading();
	/* Config, allow-list and templates are swapped together or not at
	 * all: a reload that fails anywhere leaves the running ones. */
	if (load_all(d->config_path, &cfg, &acl, err, errlen) == -1)
		goto fail;
	if ((sets = render_load(cfg->templates_dir, err, errlen)) == NULL) {
		free_all(cfg, acl);
		goto fail;
	}
	warn_restart_needed(d->cfg, cfg);
	/* The senders copy what they keep of the config: new ones start
	 * from the new config, the old ones finish what they started. */
	if (deliver_reload(d->dv, cfg, err, errlen) == -1)
		log_warnx("reload: delivery senders kept: %s", err);
	acl_carry(acl, d->acl);
	ingest_reconfigure(d->ing, cfg, acl);
	if (journal_set_max_bytes(d->jr, cfg->journal_max_bytes) == -1)
		log_warnx("reload: journal.max_size not applied");
	log_set_level(d->debug ? LOG_LEVEL_DEBUG :
	    (enum log_level)cfg->log_level);
	free_all(d->cfg, d->acl);
	render_free(d->sets);
	d->cfg = cfg;
	d->acl = acl;
	d->sets = sets;
	d->reloads++;
	log_notice("reload: configuration and allow-list reloaded "
	    "publishers=%zu posts=%zu", acl->n, cfg->nposts);
	notify_send("READY=1\nSTATUS=running (reloaded)");
	return 0;
fail:
	d->reload_failures++;
	log_warnx("reload: failed, keeping the running configuration: %s",
	    err);
	notify_send("READY=1\nSTATUS=reload failed, running on the previous "
	    "configuration");
	return -1;
}

static void
signal_cb(void *arg, short revents)
{
	struct daemon			*d = arg;
	struct signalfd_siginfo		 si;
	char				 err[1024];

	(void)revents;
	while (read(d->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			if (!d->stopping)
				log_notice("outreachd: signal %s, stopping",
				    si.ssi_signo == SIGTERM ? "TERM" : "INT");
			if (!d->stopping) {
				/* Intake stops now; deliveries in flight
				 * may finish until the deadline. */
				d->stopping = 1;
				d->stop_deadline = loop_now_ms() +
				    d->cfg->shutdown_timeout_ms;
				ingest_stop(d->ing);
				deliver_shutdown(d->dv);
			} else
				d->stop_deadline = 0;	/* twice: now */
			break;
		case SIGHUP:
			log_notice("outreachd: signal HUP, reloading");
			daemon_reload(d, err, sizeof(err));
			break;
		}
	}
}

/* Writes nobody waits for (delivery outcomes, fan-out slices) may share
 * one commit over a few turns; a turn with an ack or a control reply to
 * send, or with a new event (its deliveries wait for the commit), commits
 * at once.  Fewer fsyncs, the same guarantees: nothing is acknowledged,
 * reported or sent of an event before its commit, and an outcome not yet
 * committed at a crash is redone (at-least-once, same Message-ID). */
#define COMMIT_DELAY_MS	20

static int
commit_due_now(struct daemon *d)
{
	int64_t	now = loop_now_ms();

	if (!journal_in_txn(d->jr) || ingest_pending(d->ing) > 0 ||
	    journal_txn_new_events(d->jr) || d->ndeferred > 0 ||
	    d->stopping || d->backup_active)
		return 1;
	if (d->txn_since == 0)
		d->txn_since = now;
	return now - d->txn_since >= COMMIT_DELAY_MS;
}

static int64_t
commit_due(void *arg)
{
	struct daemon	*d = arg;

	return d->txn_since != 0 ? d->txn_since + COMMIT_DELAY_MS : -1;
}

/* Before sleeping: the turn's group commit, then the acks it allows, then
 * a checkpoint when due (never inside a busy commit). */
static void
before_sleep(void *arg)
{
	struct daemon	*d = arg;
	int		 rc, wrote, newev;
	int64_t		 now;

	if (!commit_due_now(d))
		return;
	d->txn_since = 0;
	deliver_mark(d->dv);
	wrote = journal_in_txn(d->jr);
	newev = journal_txn_new_events(d->jr);
	rc = journal_commit(d->jr);
	if (wrote)
		deliver_committed(d->dv, rc);
	if (newev && rc == 0)
		deliver_kick(d->dv);	/* their deliveries may go now */
	if (wrote && rc == 0)
		d->dirty = 1;
	ingest_flush(d->ing, rc);
	commands_after_commit(d, rc);
	now = loop_now_ms();
	if (d->dirty && now >= d->next_checkpoint) {
		journal_checkpoint(d->jr);
		d->dirty = 0;
		d->next_checkpoint = now + d->cfg->checkpoint_interval_ms;
	}
}

static int64_t
checkpoint_due(void *arg)
{
	struct daemon	*d = arg;

	return d->dirty ? d->next_checkpoint : -1;
}

static void
nothing(void *arg)
{
	(void)arg;	/* the work is in before_sleep */
}

static int64_t
watchdog_due(void *arg)
{
	struct daemon	*d = arg;

	return notify_watchdog_interval_ms() > 0 ? d->next_watchdog : -1;
}

static void
watchdog_run(void *arg)
{
	struct daemon	*d = arg;

	notify_watchdog();
	d->next_watchdog = loop_now_ms() + notify_watchdog_interval_ms();
}

/* Retention: a small batch per turn while there is something to purge,
 * otherwise once a minute. */
static int64_t
purge_due(void *arg)
{
	struct daemon	*d = arg;

	if (d->stopping || (d->cfg->event_retention_days == 0 &&
	    d->cfg->audit_retention_days == 0))
		return -1;
	return d->next_purge;
}

static void
purge_run(void *arg)
{
	struct daemon	*d = arg;
	int64_t		 now = loop_wall_ms(), day = 86400000LL, ev = 0, au = 0;
	int		 n, more;

	if (d->cfg->event_retention_days > 0)
		ev = now - d->cfg->event_retention_days * day;
	if (d->cfg->audit_retention_days > 0)
		au = now - d->cfg->audit_retention_days * day;
	if (journal_txn(d->jr) == -1 ||
	    (n = journal_purge(d->jr, ev, au, PURGE_BATCH, &more)) == -1) {
		d->next_purge = loop_now_ms() + 60000;
		return;
	}
	if (n > 0)
		log_info("journal: purged rows=%d (retention)", n);
	d->next_purge = loop_now_ms() + (more ? 0 : 60000);
}

/* Fan-out runs whenever an event awaits its deliveries, a few slices per
 * turn, so intake and acks keep flowing between slices. */
static int64_t
fanout_due(void *arg)
{
	struct daemon	*d = arg;

	return audience_pending(d->aud) && !d->stopping ? loop_now_ms() : -1;
}

static void
fanout_run(void *arg)
{
	struct daemon	*d = arg;
	int64_t		 start = loop_now_ms(), wall = loop_wall_ms();
	int		 n;

	if (journal_txn(d->jr) == -1)
		return;
	do {
		n = audience_fanout_step(d->aud, wall, FANOUT_SLICE);
		if (n > 0)
			deliver_kick(d->dv);
	} while (n >= 0 && audience_pending(d->aud) &&
	    loop_now_ms() - start < FANOUT_BUDGET_MS);
}

/* After SIGTERM: stop once no delivery is in flight, or at the deadline. */
static int64_t
stop_due(void *arg)
{
	struct daemon	*d = arg;

	if (!d->stopping)
		return -1;
	return deliver_quiet(d->dv) ? loop_now_ms() : d->stop_deadline;
}

static void
stop_run(void *arg)
{
	struct daemon	*d = arg;

	if (deliver_quiet(d->dv) || loop_now_ms() >= d->stop_deadline)
		loop_stop(d->loop);
}

static char *
control_path(const struct config *cfg)
{
	const char	*dir = cfg->runtime_dir;
	struct buf	 b;
	char		*env = NULL, *p;

	if (dir == NULL && (env = getenv("RUNTIME_DIRECTORY")) != NULL) {
		/* systemd may list several, separated by ':'. */
		env = strdup(env);
		if (env != NULL && (p = strchr(env, ':')) != NULL)
			*p = '\0';
		dir = env;
	}
	if (dir == NULL)
		dir = cfg->state_dir;
	/* Operators reach the socket by name; its own mode (0660, their
	 * group) decides who may connect, so the directory is 0711. */
	if (mkdir(dir, 0711) == 0)
		chmod(dir, 0711);
	else if (errno != EEXIST)
		log_warn("outreachd: runtime directory %s", dir);
	buf_init(&b, 4096);
	buf_printf(&b, "%s/control.sock", dir);
	free(env);
	return buf_release(&b);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon		 d;
	struct ingest_keys	 keys;
	sigset_t		 mask;
	char			 err[2048];
	int			 ch, check = 0, rc;
	size_t			 i;

	memset(&d, 0, sizeof(d));
	d.config_path = DEFAULT_CONFIG;
	log_init("outreachd");
	while ((ch = getopt_long(argc, argv, "df:nh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			d.debug = 1;
			break;
		case 'f':
			d.config_path = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'V':
			printf("outreachd %s\n", OUTREACH_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}

	if (load_all(d.config_path, &d.cfg, &d.acl, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		return 1;
	}
	log_set_level(d.debug ? LOG_LEVEL_DEBUG :
	    (enum log_level)d.cfg->log_level);
	if (load_keys(d.cfg, &keys, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		free_all(d.cfg, d.acl);
		return 1;
	}
	if ((d.sets = render_load(d.cfg->templates_dir, err,
	    sizeof(err))) == NULL) {
		log_warnx("templates: %s", err);
		free_all(d.cfg, d.acl);
		return 1;
	}
	if (check) {
		if (tls_check(&d.cfg->tls, err, sizeof(err)) == -1) {
			log_warnx("tls: %s", err);
			render_free(d.sets);
			free_all(d.cfg, d.acl);
			return 1;
		}
		for (i = 0; i < d.cfg->nrelays; i++) {
			struct cfg_tls t = d.cfg->relays[i].tls_files;

			if (t.ca_file == NULL)
				t.ca_file = d.cfg->tls.ca_file;
			if (t.cert_file == NULL) {
				t.cert_file = d.cfg->tls.cert_file;
				t.key_file = d.cfg->tls.key_file;
			}
			if (tls_check(&t, err, sizeof(err)) == -1) {
				log_warnx("smtp.relays %s: %s",
				    d.cfg->relays[i].name, err);
				render_free(d.sets);
				free_all(d.cfg, d.acl);
				return 1;
			}
		}
		printf("outreachd: %s: configuration ok (%zu endpoints, %zu "
		    "feeds, %zu posts, %zu publishers, %zu template sets in "
		    "%zu languages, %zu relays, webhooks %s)\n", d.config_path,
		    d.cfg->nendpoints, d.cfg->nfeeds, d.cfg->nposts, d.acl->n,
		    render_set_count(d.sets), render_lang_count(d.sets),
		    d.cfg->nrelays, d.cfg->webhooks.secret_file ? "on" :
		    "off");
		render_free(d.sets);
		free_all(d.cfg, d.acl);
		return 0;
	}
	for (i = 0; i < d.cfg->nendpoints; i++)
		if (d.cfg->endpoints[i].security == CFG_SECURITY_NONE)
			log_warnx("outreachd: endpoint %s has security "
			    "\"none\": no authentication, post=%s",
			    d.cfg->endpoints[i].bind, d.cfg->endpoints[i].post);

	/* Signals become readable events before any thread exists, so
	 * libzmq's threads inherit the mask and never take them. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1)
		fatal("sigprocmask");
	signal(SIGPIPE, SIG_IGN);
	if ((d.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("signalfd");
	notify_init();
	d.test_hooks = getenv("OUTREACHD_TEST_HOOKS") != NULL &&
	    strcmp(getenv("OUTREACHD_TEST_HOOKS"), "1") == 0;
	if (d.test_hooks)
		log_warnx("outreachd: test hooks enabled "
		    "(OUTREACHD_TEST_HOOKS=1); never in production");

	umask(077);
	if ((d.jr = journal_open(d.cfg->state_dir, d.cfg->journal_max_bytes,
	    err, sizeof(err))) == NULL)
		fatalx("%s", err);
	log_info("journal: open mode=%s synchronous=%s schema=%d",
	    journal_mode(d.jr), journal_synchronous(d.jr),
	    journal_schema_version(d.jr));
	if ((d.zctx = zmq_ctx_new()) == NULL)
		fatalx("zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
	if ((d.loop = loop_new()) == NULL)
		fatalx("out of memory");
	loop_add_fd(d.loop, d.sigfd, ZMQ_POLLIN, signal_cb, &d);
	if ((d.control_path = control_path(d.cfg)) == NULL)
		fatalx("out of memory");
	if ((d.ctl = control_new(d.loop, d.control_path, d.cfg->control_group,
	    commands_handle, &d, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if ((d.aud = audience_new(d.jr, err, sizeof(err))) == NULL ||
	    (d.contacts = contacts_new(d.jr, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if ((d.ing = ingest_new(d.zctx, d.loop, d.jr, d.aud, d.cfg, d.acl, &keys,
	    getenv("OUTREACHD_TEST_NO_ZAP") != NULL, err, sizeof(err))) ==
	    NULL)
		fatalx("%s", err);
	explicit_bzero(&keys, sizeof(keys));
	loop_add_before_sleep(d.loop, before_sleep, &d);
	loop_add_timer(d.loop, checkpoint_due, nothing, &d);
	loop_add_timer(d.loop, commit_due, nothing, &d);
	loop_add_timer(d.loop, watchdog_due, watchdog_run, &d);
	loop_add_timer(d.loop, commands_due, commands_run, &d);
	loop_add_timer(d.loop, fanout_due, fanout_run, &d);
	loop_add_timer(d.loop, purge_due, purge_run, &d);
	if ((d.dv = deliver_new(&d, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	loop_add_timer(d.loop, stop_due, stop_run, &d);
	d.started_ms = loop_wall_ms();
	d.started_mono = loop_now_ms();
	d.next_checkpoint = d.started_mono + d.cfg->checkpoint_interval_ms;
	d.next_watchdog = d.started_mono;
	d.next_purge = d.started_mono + 5000;

	log_notice("outreachd: %s running pid=%d config=%s control=%s",
	    OUTREACH_VERSION, (int)getpid(), d.config_path, d.control_path);
	notify_ready("running");
	rc = loop_run(d.loop);

	/* Stop intake, answer what was taken, commit, leave. */
	notify_stopping();
	ingest_stop(d.ing);
	/* What is still in flight goes back to pending, committed. */
	if (!deliver_quiet(d.dv))
		log_warnx("outreachd: shutdown timeout: deliveries in flight "
		    "are pending again");
	deliver_free(d.dv);
	d.dv = NULL;
	before_sleep(&d);
	if (d.backup_active) {
		journal_backup_abort(d.jr);
		free(d.backup_tmp);
	}
	ingest_free(d.ing);
	audience_free(d.aud);
	contacts_free(d.contacts);
	free(d.deferred);
	commands_free(&d);
	control_free(d.ctl);
	zmq_ctx_term(d.zctx);
	journal_close(d.jr);
	loop_free(d.loop);
	notify_close();
	close(d.sigfd);
	free(d.control_path);
	free_all(d.cfg, d.acl);
	render_free(d.sets);
	log_notice("outreachd: stopped");
	return rc == 0 ? 0 : 1;
}
