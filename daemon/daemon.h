/* daemon.h - the running daemon's state, shared by main.c (start, signals,
 * reload, stop) and commands.c (control socket verbs).  One instance,
 * owned by main(). */
#ifndef OUTREACH_DAEMON_H
#define OUTREACH_DAEMON_H

#include <jansson.h>
#include <stdint.h>

#include "acl.h"
#include "config.h"

struct audience;
struct contacts;
struct render_sets;
struct control;
struct deferred_reply;
struct deliver;
struct control_peer;
struct ingest;
struct journal;
struct loop;

struct daemon {
	char			*config_path;
	struct config		*cfg;		/* swapped whole on reload */
	struct acl		*acl;
	int			 dirty;		/* written since the last checkpoint */
	struct journal		*jr;
	struct ingest		*ing;
	struct audience		*aud;
	struct deliver		*dv;
	struct control		*ctl;
	struct loop		*loop;
	void			*zctx;
	char			*control_path;
	int			 sigfd;
	int			 test_hooks;	/* OUTREACHD_TEST_HOOKS=1 */
	int			 debug;		/* -d: debug level, kept on reload */
	int64_t			 started_ms;	/* wall clock */
	int64_t			 started_mono;
	int64_t			 reloads;
	int64_t			 reload_failures;
	int64_t			 next_checkpoint;
	int64_t			 next_watchdog;
	int64_t			 next_purge;
	int64_t			 txn_since;	/* first turn of the open
						   transaction; 0: none */
	int64_t			 stop_deadline;	/* SIGTERM: in-flight deliveries
						   may finish until then */
	int			 stopping;
	struct contacts		*contacts;
	struct render_sets	*sets;		/* templates; swapped on reload */
	/* control replies that wait for the turn's commit */
	struct deferred_reply	*deferred;
	size_t			 ndeferred;
	/* `event` and `deliveries` replies read from the journal a slice
	 * a turn (commands.c) */
	struct read_job		*reads;
	/* backup in progress */
	int			 backup_active;
	uint64_t		 backup_conn;
	char			*backup_tmp;
};

/* commands.c: the control socket's callback and its timer. */
json_t	*commands_handle(void *arg, const struct control_peer *, json_t *req);
int64_t	 commands_due(void *arg);
void	 commands_run(void *arg);
/* After the turn's commit (commit_rc: what journal_commit returned): send
 * the control replies that waited for it. */
void	 commands_after_commit(struct daemon *, int commit_rc);
/* At exit: drop the replies still being read. */
void	 commands_free(struct daemon *);
/* main.c: reload config and allow-list; 0 or -1 (old ones kept). */
int	 daemon_reload(struct daemon *, char *err, size_t errlen);

#endif
