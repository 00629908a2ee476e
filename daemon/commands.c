/* commands.c - the control socket's verbs: status, backup, reload, and
 * (only with OUTREACHD_TEST_HOOKS=1) test-fault.  Replies never name a
 * contact by anything but its id (DESIGN.md 1). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "contacts.h"
#include "control.h"
#include "daemon.h"
#include "ingest.h"
#include "journal.h"
#include "log.h"
#include "loop.h"

#define BACKUP_PAGES_PER_TURN	512

static json_t *
cmd_status(struct daemon *d)
{
	struct journal_stats	 js;
	json_t			*r, *j;

	r = control_ok();
	json_object_set_new(r, "version", json_string(OUTREACH_VERSION));
	json_object_set_new(r, "pid", json_integer(getpid()));
	json_object_set_new(r, "config", json_string(d->config_path));
	json_object_set_new(r, "started_at_ms", json_integer(d->started_ms));
	json_object_set_new(r, "uptime_s",
	    json_integer((loop_now_ms() - d->started_mono) / 1000));
	json_object_set_new(r, "reloads", json_integer(d->reloads));
	json_object_set_new(r, "reload_failures",
	    json_integer(d->reload_failures));
	j = json_object();
	json_object_set_new(j, "mode", json_string(journal_mode(d->jr)));
	json_object_set_new(j, "synchronous",
	    json_string(journal_synchronous(d->jr)));
	json_object_set_new(j, "schema",
	    json_integer(journal_schema_version(d->jr)));
	if (journal_stats(d->jr, &js) == 0) {
		json_object_set_new(j, "events", json_integer(js.events));
		json_object_set_new(j, "contacts", json_integer(js.contacts));
		json_object_set_new(j, "deliveries",
		    json_integer(js.deliveries));
		json_object_set_new(j, "db_bytes", json_integer(js.db_bytes));
		json_object_set_new(j, "wal_bytes", json_integer(js.wal_bytes));
	}
	json_object_set_new(r, "journal", j);
	json_object_set_new(r, "ingest", ingest_status(d->ing));
	json_object_set_new(r, "publishers", json_integer((json_int_t)d->acl->n));
	json_object_set_new(r, "posts", json_integer((json_int_t)d->cfg->nposts));
	return r;
}

/* The copy is made in the state directory (the only place the hardened
 * service may write), then its open descriptor goes to the operator's
 * outreachctl, which copies it wherever the operator may write, and the
 * file is unlinked.  The copy is taken in slices between loop turns. */
static json_t *
cmd_backup(struct daemon *d, const struct control_peer *peer)
{
	struct buf	b;
	char		err[512];

	if (d->backup_active)
		return control_error("busy", "a backup is already running");
	buf_init(&b, 4096);
	buf_printf(&b, "%s/.backup-%ld-%llu.db", d->cfg->state_dir,
	    (long)getpid(), (unsigned long long)peer->conn);
	if (b.data == NULL)
		return control_error("internal", "out of memory");
	unlink(b.data);
	if (journal_backup_begin(d->jr, b.data, err, sizeof(err)) == -1) {
		buf_free(&b);
		return control_error("backup_failed", "%s", err);
	}
	d->backup_active = 1;
	d->backup_conn = peer->conn;
	d->backup_tmp = buf_release(&b);
	log_notice("control: backup started uid=%u", (unsigned)peer->uid);
	return NULL;
}

int64_t
commands_due(void *arg)
{
	struct daemon	*d = arg;

	return d->backup_active ? loop_now_ms() : -1;
}

void
commands_run(void *arg)
{
	struct daemon	*d = arg;
	struct stat	 st;
	json_t		*r;
	char		 err[512];
	int		 rc, fd;

	if (!d->backup_active || journal_in_txn(d->jr))
		return;
	rc = journal_backup_step(d->jr, BACKUP_PAGES_PER_TURN, err,
	    sizeof(err));
	if (rc == 0)
		return;
	d->backup_active = 0;
	if (rc == -1) {
		log_warnx("control: backup failed: %s", err);
		control_reply(d->ctl, d->backup_conn,
		    control_error("backup_failed", "%s", err), -1);
		goto out;
	}
	if ((fd = open(d->backup_tmp, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		log_warn("control: backup %s", d->backup_tmp);
		control_reply(d->ctl, d->backup_conn,
		    control_error("backup_failed", "cannot reopen the copy: %s",
		    strerror(errno)), -1);
		if (fd != -1)
			close(fd);
		goto out;
	}
	r = control_ok();
	json_object_set_new(r, "bytes", json_integer(st.st_size));
	log_notice("control: backup done bytes=%lld", (long long)st.st_size);
	control_reply(d->ctl, d->backup_conn, r, fd);
out:
	unlink(d->backup_tmp);
	free(d->backup_tmp);
	d->backup_tmp = NULL;
}

static json_t *
cmd_event(struct daemon *d, json_t *req)
{
	const char	*id = json_string_value(json_object_get(req, "id"));
	const char	*post = json_string_value(json_object_get(req, "post"));
	json_t		*info, *r;

	if (id == NULL)
		return control_error("bad_request", "event: \"id\" missing");
	switch (journal_event_info(d->jr, post, id, &info)) {
	case 1:
		r = control_ok();
		json_object_set_new(r, "event", info);
		return r;
	case 0:
		return control_error("not_found", "no event %s%s%s", id,
		    post ? " from post " : "", post ? post : "");
	case 2:
		return control_error("ambiguous", "several posts have an event "
		    "%s; name the post (--post)", id);
	default:
		return control_error("journal", "journal error; see the "
		    "daemon's log");
	}
}

struct deferred_reply {
	uint64_t	 conn;
	json_t		*reply;
};

void
commands_after_commit(struct daemon *d, int commit_rc)
{
	size_t	i;

	for (i = 0; i < d->ndeferred; i++) {
		if (commit_rc == -1) {
			/* What the reply described was rolled back. */
			json_decref(d->deferred[i].reply);
			d->deferred[i].reply = control_error("journal", "the "
			    "journal could not commit; nothing changed, try "
			    "again");
		}
		control_reply(d->ctl, d->deferred[i].conn,
		    d->deferred[i].reply, -1);
	}
	d->ndeferred = 0;
}

/* Keep a reply until the turn's writes are on disk. */
static json_t *
defer_reply(struct daemon *d, const struct control_peer *peer, json_t *reply)
{
	struct deferred_reply	*p;

	p = reallocarray(d->deferred, d->ndeferred + 1, sizeof(*p));
	if (p == NULL) {
		json_decref(reply);
		return control_error("internal", "out of memory");
	}
	d->deferred = p;
	p[d->ndeferred].conn = peer->conn;
	p[d->ndeferred].reply = reply;
	d->ndeferred++;
	return NULL;
}

json_t *
commands_handle(void *arg, const struct control_peer *peer, json_t *req)
{
	struct daemon	*d = arg;
	const char	*cmd = json_string_value(json_object_get(req, "cmd"));
	char		 err[2048];
	json_int_t	 n;
	json_t		*reply;
	int		 wrote;

	if (strncmp(cmd, "contacts-", 9) == 0) {
		if (journal_txn(d->jr) == -1)
			return control_error("journal", "the journal is not "
			    "available; try again");
		reply = contacts_command(d->contacts, cmd, req, peer->uid,
		    loop_wall_ms(), journal_secret(d->jr), JOURNAL_SECRET_LEN,
		    &wrote);
		if (reply == NULL)
			return control_error("unknown_command", "unknown "
			    "command \"%s\"", cmd);
		return wrote ? defer_reply(d, peer, reply) : reply;
	}

	if (strcmp(cmd, "status") == 0)
		return cmd_status(d);
	if (strcmp(cmd, "event") == 0)
		return cmd_event(d, req);
	if (strcmp(cmd, "backup") == 0)
		return cmd_backup(d, peer);
	if (strcmp(cmd, "reload") == 0) {
		log_notice("control: reload requested uid=%u",
		    (unsigned)peer->uid);
		if (daemon_reload(d, err, sizeof(err)) == -1)
			return control_error("reload_failed", "%s", err);
		return control_ok();
	}
	if (strcmp(cmd, "test-fault") == 0 && d->test_hooks) {
		n = json_integer_value(json_object_get(req, "commit_failures"));
		journal_fault_commits(d->jr, (int)n);
		log_warnx("control: test hook: next %lld commits fail",
		    (long long)n);
		return control_ok();
	}
	return control_error("unknown_command", "unknown command \"%s\"", cmd);
}
