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
#include "contact.h"
#include "event.h"
#include "notice.h"
#include "render.h"
#include "topic.h"
#include "daemon.h"
#include "deliver.h"
#include "ingest.h"
#include "journal.h"
#include "log.h"
#include "loop.h"

#define BACKUP_PAGES_PER_TURN	512
/* Deliveries read a turn for `event` and `deliveries`: 1.7 ms here
 * (5,000 took 3.3 ms; a million in one statement 390 ms, 100,000 38 ms). */
#define READ_ROWS_PER_TURN	2000
#define READ_JOBS_MAX		32	/* being read at once */

/* A reply read from the journal a slice a turn (commands_run): an event's
 * deliveries counted, or the "deliveries" list. */
struct read_job {
	struct read_job		*next;
	uint64_t			 conn;
	json_t				*reply;	/* event: all but the counts */
	struct journal_event_count	 ec;
	struct deliver_list		*list;	/* non-NULL: a list */
};

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
	json_object_set_new(r, "delivery", deliver_status(d->dv));
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

	return d->backup_active || d->reads != NULL ? loop_now_ms() : -1;
}

static void
read_free(struct read_job *j)
{
	json_decref(j->reply);
	deliver_list_free(j->list);
	free(j);
}

/* One slice: 1 done, 0 more to read, -1 a journal error. */
static int
read_step(struct daemon *d, struct read_job *j)
{
	if (j->list != NULL)
		return deliver_list_step(d->dv, j->list);
	return journal_event_count(d->jr, &j->ec, READ_ROWS_PER_TURN);
}

/* The reply of a job done (rc 1) or failed (-1); the job is freed. */
static json_t *
read_done(struct daemon *d, struct read_job *j, int rc)
{
	json_t	*r;

	if (rc != 1)
		r = control_error("journal", "journal error; see the daemon's"
		    " log");
	else if (j->list != NULL)
		r = deliver_list_reply(d->dv, j->list);
	else {
		json_object_set_new(json_object_get(j->reply, "event"),
		    "deliveries", journal_event_count_json(&j->ec));
		r = j->reply;
		j->reply = NULL;
	}
	read_free(j);
	return r;
}

/* The first slice now; the rest a turn each (NULL: no reply yet).  j is
 * the caller's no more. */
static json_t *
read_start(struct daemon *d, const struct control_peer *peer,
    struct read_job *j)
{
	struct read_job	*k;
	int			 rc, n = 0;

	j->conn = peer->conn;
	if ((rc = read_step(d, j)) != 0)
		return read_done(d, j, rc);
	for (k = d->reads; k != NULL; k = k->next)
		n++;
	if (n >= READ_JOBS_MAX) {
		read_free(j);
		return control_error("busy", "%d big listings or counts are "
		    "being read already; try again", n);
	}
	j->next = d->reads;	/* first in line: fair enough */
	d->reads = j;
	return NULL;
}

/* One slice of the first job, which then waits behind the others. */
static void
read_run(struct daemon *d)
{
	struct read_job	*j = d->reads, **tail;
	uint64_t		 conn;
	int			 rc;

	if (j == NULL)
		return;
	deliver_mark(d->dv);	/* in flight reads as 'sending' */
	rc = read_step(d, j);
	d->reads = j->next;
	j->next = NULL;
	if (rc != 0) {
		conn = j->conn;		/* read_done frees j */
		control_reply(d->ctl, conn, read_done(d, j, rc), -1);
		return;
	}
	for (tail = &d->reads; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = j;
}

void
commands_free(struct daemon *d)
{
	struct read_job	*j;

	while ((j = d->reads) != NULL) {
		d->reads = j->next;
		read_free(j);
	}
}

void
commands_run(void *arg)
{
	struct daemon	*d = arg;
	struct stat	 st;
	json_t		*r;
	char		 err[512];
	int		 rc, fd;

	read_run(d);
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

/* The deliveries most recently changed, read a slice a turn. */
static json_t *
cmd_deliveries(struct daemon *d, const struct control_peer *peer,
    json_t *req)
{
	struct read_job		*j;
	struct deliver_list	*l;
	json_t			*reply;

	if ((l = deliver_list_start(d->dv, req, &reply)) == NULL)
		return reply;
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		deliver_list_free(l);
		return control_error("internal", "out of memory");
	}
	j->list = l;
	return read_start(d, peer, j);
}

/* The event, and its deliveries per state: counted at once when there are
 * few, else a slice a turn (read_run), and the reply goes when done
 * (NULL here: no reply yet). */
static json_t *
cmd_event(struct daemon *d, const struct control_peer *peer, json_t *req)
{
	const char		*id = json_string_value(json_object_get(req,
				    "id"));
	const char		*post = json_string_value(json_object_get(req,
				    "post"));
	struct read_job	*j;
	json_t			*info, *r;
	int64_t			 row;

	if (id == NULL)
		return control_error("bad_request", "event: \"id\" missing");
	switch (journal_event_info(d->jr, post, id, &info, &row)) {
	case 1:
		r = control_ok();
		json_object_set_new(r, "event", info);
		if ((j = calloc(1, sizeof(*j))) == NULL) {
			json_decref(r);
			return control_error("internal", "out of memory");
		}
		j->reply = r;
		j->ec.event = row;
		return read_start(d, peer, j);
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

/* The post an event on topic comes from in a preview: the one named, else
 * the post of the first allow-list entry covering the topic (any entry
 * when there is no topic), else the only post. */
static const struct cfg_post *
preview_post(struct daemon *d, const char *name, const char *topic)
{
	size_t	i;

	if (name != NULL)
		return config_post(d->cfg, name);
	for (i = 0; i < d->acl->n; i++)
		if (topic == NULL || acl_topic_allowed(&d->acl->entries[i],
		    topic))
			return config_post(d->cfg, d->acl->entries[i].post);
	return d->cfg->nposts == 1 ? &d->cfg->posts[0] : NULL;
}

/* A topic for a preview without one: the post's first allow-list prefix
 * of the form KIND.CC.POST. followed by the event's type. */
static const char *
preview_topic(struct daemon *d, const struct cfg_post *post, json_t *evj,
    char *out, size_t outlen)
{
	const char	*type = json_string_value(json_object_get(evj, "type"));
	json_t		*doc = NULL;
	size_t		 i, j;
	int		 dots;
	const char	*p, *c;

	if (type == NULL && json_is_string(evj) && (doc = json_loads(
	    json_string_value(evj), 0, NULL)) != NULL)
		type = json_string_value(json_object_get(doc, "type"));
	for (i = 0; type != NULL && i < d->acl->n; i++) {
		if (strcmp(d->acl->entries[i].post, post->id) != 0)
			continue;
		for (j = 0; j < d->acl->entries[i].nprefixes; j++) {
			p = d->acl->entries[i].prefixes[j];
			for (dots = 0, c = p; *c; c++)
				dots += *c == '.';
			if (dots == 3 && p[strlen(p) - 1] == '.' &&
			    (size_t)snprintf(out, outlen, "%s%s", p, type) <
			    outlen && topic_valid(out, strlen(out))) {
				json_decref(doc);
				return out;
			}
		}
	}
	json_decref(doc);
	return NULL;
}

/* Render exactly the notice a contact (or a sample contact) would get for
 * an event, without sending or storing anything.  A real contact's address
 * appears in the raw message, so that use is audited like contacts show. */
static json_t *
cmd_preview(struct daemon *d, const struct control_peer *peer, json_t *req,
    int *wrote)
{
	const char		*topic, *cid, *postname, *text;
	const struct cfg_post	*post;
	struct event		 ev;
	struct event_error	 ee;
	struct event_rules	 rules;
	struct contact		 c;
	struct contact_error	 ce;
	struct notice_in	 ni;
	struct render_out	 out;
	struct buf		 msg;
	json_t			*contact = NULL, *sample, *r = NULL, *evj;
	char			*evtext = NULL, err[1024], deftopic[256];
	int64_t			 crow = 0;
	int			 rc;

	*wrote = 0;
	memset(&ev, 0, sizeof(ev));
	topic = json_string_value(json_object_get(req, "topic"));
	postname = json_string_value(json_object_get(req, "post"));
	cid = json_string_value(json_object_get(req, "contact_id"));
	sample = json_object_get(req, "contact");
	if (json_is_null(sample))
		sample = NULL;
	evj = json_object_get(req, "event");
	if (evj == NULL || (cid == NULL) == (sample == NULL))
		return control_error("bad_request", "preview needs an event "
		    "and either a contact id or a sample contact");
	if ((post = preview_post(d, postname, topic)) == NULL)
		return control_error("bad_request", "no post for %s; name one "
		    "with --post", topic ? topic : "the preview");
	if (topic == NULL &&
	    (topic = preview_topic(d, post, evj, deftopic,
	    sizeof(deftopic))) == NULL)
		return control_error("bad_request", "no topic: give --topic "
		    "(the post's allow-list has no KIND.CC.POST. prefix to "
		    "make one from)");
	text = json_string_value(evj);
	if (text == NULL)
		text = evtext = json_dumps(evj, JSON_COMPACT);
	rules.max_bytes = d->cfg->max_event_bytes;
	rules.types = (const char *const *)d->cfg->types;
	rules.ntypes = d->cfg->ntypes;
	rules.default_lang = post->lang;
	if (text == NULL || event_parse(topic, strlen(topic), text,
	    strlen(text), &rules, &ev, &ee) == -1) {
		r = control_error("invalid_event", "%s%s%s: %s", ee.code,
		    ee.field[0] ? " at " : "", ee.field, ee.message);
		goto out;
	}
	if (cid != NULL) {
		if ((rc = contacts_get(d->contacts, cid, &contact, &crow)) !=
		    1) {
			r = rc == 0 ? control_error("not_found", "no contact "
			    "%s", cid) : control_error("journal", "the journal "
			    "failed");
			goto out;
		}
		if (journal_txn(d->jr) == -1 || contacts_audit(d->contacts,
		    loop_wall_ms(), peer->uid, "preview", cid) == -1) {
			r = control_error("journal", "cannot write the audit "
			    "entry; nothing shown");
			goto out;
		}
		*wrote = 1;
	} else {
		/* A sample needs no real address: give it a reserved one. */
		contact = json_deep_copy(sample);
		if (!json_is_object(contact)) {
			r = control_error("bad_request", "the sample contact "
			    "is not a JSON object");
			goto out;
		}
		if (json_object_get(contact, "email") == NULL)
			json_object_set_new(contact, "email",
			    json_string("sample@example.invalid"));
		if (json_object_get(contact, "id") == NULL)
			json_object_set_new(contact, "id",
			    json_string("sample"));
		contact_init(&c);
		if (contact_from_json(contact, NULL, &c, &ce) == -1) {
			r = control_error("invalid_contact", "sample contact: "
			    "%s: %s", ce.field, ce.reason);
			goto out;
		}
		contact_clear(&c);
	}
	memset(&ni, 0, sizeof(ni));
	ni.cfg = d->cfg;
	ni.secret = journal_secret(d->jr);
	ni.secretlen = JOURNAL_SECRET_LEN;
	ni.event = &ev;
	ni.topic = topic;
	ni.post = post;
	ni.contact = contact;
	ni.contact_row = crow;
	ni.date = (time_t)(loop_wall_ms() / 1000);
	render_out_init(&out);
	buf_init(&msg, 4u << 20);
	if (notice_email(d->sets, &ni, &out, &msg, err, sizeof(err)) == -1)
		r = control_error("render_failed", "%s", err);
	else
		r = json_pack("{s:b,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:s}", "ok", 1,
		    "subject", out.subject.data ? out.subject.data : "",
		    "text", out.text.data ? out.text.data : "",
		    "html", out.has_html && out.html.data ? out.html.data : "",
		    "raw", msg.data ? msg.data : "",
		    "lang", out.lang, "content_language",
		    out.content_language, "rtl", out.rtl, "set", out.type);
	render_out_free(&out);
	buf_free(&msg);
out:
	event_clear(&ev);
	json_decref(contact);
	free(evtext);
	return r;
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

	/* What is in flight reads as 'sending' to every command. */
	deliver_mark(d->dv);
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

	if (strcmp(cmd, "deliveries") == 0)
		return cmd_deliveries(d, peer, req);
	if ((reply = deliver_command(d->dv, cmd, req, peer->uid, &wrote)) !=
	    NULL)
		return wrote ? defer_reply(d, peer, reply) : reply;
	if (strcmp(cmd, "status") == 0)
		return cmd_status(d);
	if (strcmp(cmd, "event") == 0)
		return cmd_event(d, peer, req);
	if (strcmp(cmd, "preview") == 0) {
		reply = cmd_preview(d, peer, req, &wrote);
		return wrote ? defer_reply(d, peer, reply) : reply;
	}
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
