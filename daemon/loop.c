/* loop.c - zmq_poll loop with module-owned timers (see loop.h).  The poll
 * set is rebuilt only when items changed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "log.h"
#include "loop.h"

struct loop_item {
	void		*sock;
	int		 fd;
	short		 events;
	loop_io_cb	 cb;
	void		*arg;
	int		 dead;
};

struct loop_timer {
	loop_due_cb	 due;
	loop_run_cb	 run;
	void		*arg;
	int		 dead;	/* removed; dropped after the turn */
};

struct loop_hook {
	loop_run_cb	 run;
	void		*arg;
};

struct loop {
	struct loop_item	*items;
	size_t			 nitems, capitems;
	zmq_pollitem_t		*poll;
	size_t			 cappoll;
	int			 changed;
	struct loop_timer	*timers;
	size_t			 ntimers;
	int			 timers_dead;	/* some are marked dead */
	struct loop_hook	*hooks;
	size_t			 nhooks;
	int			 stop;
	uint64_t		 turns;
};

int64_t
loop_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
loop_wall_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct loop *
loop_new(void)
{
	return calloc(1, sizeof(struct loop));
}

void
loop_free(struct loop *lp)
{
	if (lp == NULL)
		return;
	free(lp->items);
	free(lp->poll);
	free(lp->timers);
	free(lp->hooks);
	free(lp);
}

static int
loop_add(struct loop *lp, void *sock, int fd, short events, loop_io_cb cb,
    void *arg)
{
	struct loop_item	*p;
	size_t			 ncap;

	if (lp->nitems == lp->capitems) {
		ncap = lp->capitems ? lp->capitems * 2 : 16;
		if ((p = reallocarray(lp->items, ncap, sizeof(*p))) == NULL)
			return -1;
		lp->items = p;
		lp->capitems = ncap;
	}
	p = &lp->items[lp->nitems++];
	p->sock = sock;
	p->fd = fd;
	p->events = events;
	p->cb = cb;
	p->arg = arg;
	p->dead = 0;
	lp->changed = 1;
	return 0;
}

int
loop_add_socket(struct loop *lp, void *sock, short events, loop_io_cb cb,
    void *arg)
{
	return loop_add(lp, sock, -1, events, cb, arg);
}

int
loop_add_fd(struct loop *lp, int fd, short events, loop_io_cb cb, void *arg)
{
	return loop_add(lp, NULL, fd, events, cb, arg);
}

void
loop_set_fd_events(struct loop *lp, int fd, short events)
{
	size_t	i;

	for (i = 0; i < lp->nitems; i++)
		if (!lp->items[i].dead && lp->items[i].sock == NULL &&
		    lp->items[i].fd == fd && lp->items[i].events != events) {
			lp->items[i].events = events;
			lp->changed = 1;
		}
}

void
loop_remove_socket(struct loop *lp, void *sock)
{
	size_t	i;

	for (i = 0; i < lp->nitems; i++)
		if (lp->items[i].sock == sock && sock != NULL) {
			lp->items[i].dead = 1;
			lp->changed = 1;
		}
}

void
loop_remove_fd(struct loop *lp, int fd)
{
	size_t	i;

	for (i = 0; i < lp->nitems; i++)
		if (lp->items[i].sock == NULL && lp->items[i].fd == fd) {
			lp->items[i].dead = 1;
			lp->changed = 1;
		}
}

int
loop_add_timer(struct loop *lp, loop_due_cb due, loop_run_cb run, void *arg)
{
	struct loop_timer	*p;

	if ((p = reallocarray(lp->timers, lp->ntimers + 1, sizeof(*p))) ==
	    NULL)
		return -1;
	lp->timers = p;
	p[lp->ntimers].due = due;
	p[lp->ntimers].run = run;
	p[lp->ntimers].arg = arg;
	p[lp->ntimers].dead = 0;
	lp->ntimers++;
	return 0;
}

void
loop_remove_timer(struct loop *lp, void *arg)
{
	size_t	i;

	for (i = 0; i < lp->ntimers; i++)
		if (lp->timers[i].arg == arg) {
			lp->timers[i].dead = 1;
			lp->timers_dead = 1;
		}
}

/* Drop removed timers (never while the loop walks them). */
static void
loop_compact_timers(struct loop *lp)
{
	size_t	i, n = 0;

	for (i = 0; i < lp->ntimers; i++)
		if (!lp->timers[i].dead)
			lp->timers[n++] = lp->timers[i];
	lp->ntimers = n;
	lp->timers_dead = 0;
}

int
loop_add_before_sleep(struct loop *lp, loop_run_cb run, void *arg)
{
	struct loop_hook	*p;

	if ((p = reallocarray(lp->hooks, lp->nhooks + 1, sizeof(*p))) == NULL)
		return -1;
	lp->hooks = p;
	p[lp->nhooks].run = run;
	p[lp->nhooks].arg = arg;
	lp->nhooks++;
	return 0;
}

void
loop_stop(struct loop *lp)
{
	lp->stop = 1;
}

uint64_t
loop_turns(const struct loop *lp)
{
	return lp->turns;
}

/* Drop dead items and rebuild the poll array. */
static int
loop_rebuild(struct loop *lp)
{
	zmq_pollitem_t	*p;
	size_t		 i, j;

	for (i = j = 0; i < lp->nitems; i++)
		if (!lp->items[i].dead)
			lp->items[j++] = lp->items[i];
	lp->nitems = j;
	if (lp->nitems > lp->cappoll) {
		if ((p = reallocarray(lp->poll, lp->nitems, sizeof(*p))) ==
		    NULL)
			return -1;
		lp->poll = p;
		lp->cappoll = lp->nitems;
	}
	for (i = 0; i < lp->nitems; i++) {
		lp->poll[i].socket = lp->items[i].sock;
		lp->poll[i].fd = lp->items[i].fd;
		lp->poll[i].events = lp->items[i].events;
		lp->poll[i].revents = 0;
	}
	lp->changed = 0;
	return 0;
}

int
loop_run(struct loop *lp)
{
	int64_t	now, due, next;
	long	timeout;
	size_t	i, n;
	int	rc;

	lp->stop = 0;
	while (!lp->stop) {
		lp->turns++;
		for (i = 0; i < lp->nhooks; i++)
			lp->hooks[i].run(lp->hooks[i].arg);
		if (lp->stop)
			break;
		if (lp->changed && loop_rebuild(lp) == -1) {
			log_warnx("loop: out of memory rebuilding poll set");
			return -1;
		}
		if (lp->timers_dead)
			loop_compact_timers(lp);
		now = loop_now_ms();
		next = -1;
		for (i = 0; i < lp->ntimers; i++) {
			if (lp->timers[i].dead)
				continue;
			due = lp->timers[i].due(lp->timers[i].arg);
			if (due >= 0 && (next < 0 || due < next))
				next = due;
		}
		timeout = next < 0 ? -1 : next <= now ? 0 : (long)(next - now);
		rc = zmq_poll(lp->poll, (int)lp->nitems, timeout);
		if (rc == -1) {
			if (errno == EINTR)
				continue;
			if (errno == ETERM)
				return 0;
			log_warn("loop: zmq_poll");
			return -1;
		}
		/* Callbacks may add items (appended, seen next turn) or
		 * remove them (marked dead, skipped here). */
		n = lp->nitems;
		for (i = 0; i < n && rc > 0; i++) {
			if (lp->poll[i].revents == 0)
				continue;
			rc--;
			if (!lp->items[i].dead)
				lp->items[i].cb(lp->items[i].arg,
				    lp->poll[i].revents);
		}
		/* Timers run may add timers (appended) or remove them
		 * (marked dead, skipped). */
		now = loop_now_ms();
		for (i = 0; i < lp->ntimers; i++) {
			if (lp->timers[i].dead)
				continue;
			due = lp->timers[i].due(lp->timers[i].arg);
			if (due >= 0 && due <= now)
				lp->timers[i].run(lp->timers[i].arg);
		}
	}
	return 0;
}
