/* loop.h - the daemon's one loop: zmq_poll over ZeroMQ sockets and plain
 * file descriptors, with deadlines supplied by the modules themselves
 * (each says when it next needs to run) and before-sleep hooks (the
 * journal's group commit and the acks that follow it).  Single-threaded;
 * callbacks may add and remove items while the loop dispatches. */
#ifndef OUTREACH_LOOP_H
#define OUTREACH_LOOP_H

#include <stdint.h>

struct loop;

typedef void	(*loop_io_cb)(void *arg, short revents);
/* Milliseconds since an arbitrary start (monotonic) of the next run, or -1
 * for none. */
typedef int64_t	(*loop_due_cb)(void *arg);
typedef void	(*loop_run_cb)(void *arg);

struct loop	*loop_new(void);
void		 loop_free(struct loop *);

/* Watch a ZeroMQ socket or a descriptor for ZMQ_POLLIN/ZMQ_POLLOUT.
 * 0, or -1 when out of memory. */
int	loop_add_socket(struct loop *, void *sock, short events, loop_io_cb,
	    void *arg);
int	loop_add_fd(struct loop *, int fd, short events, loop_io_cb,
	    void *arg);
void	loop_set_fd_events(struct loop *, int fd, short events);
void	loop_remove_socket(struct loop *, void *sock);
void	loop_remove_fd(struct loop *, int fd);

/* A timer owned by a module: due() says when, run() runs it.  0 or -1. */
int	loop_add_timer(struct loop *, loop_due_cb due, loop_run_cb run,
	    void *arg);
/* Remove every timer added with arg (arg may be freed once this returns:
 * it is not called again, even later in the current turn). */
void	loop_remove_timer(struct loop *, void *arg);
/* Run before each sleep, in the order added. 0 or -1. */
int	loop_add_before_sleep(struct loop *, loop_run_cb, void *arg);

/* Turn until loop_stop().  0, or -1 when zmq_poll failed for good. */
int	loop_run(struct loop *);
void	loop_stop(struct loop *);
/* Number of turns so far (for tests and status). */
uint64_t loop_turns(const struct loop *);

/* Clocks: monotonic and wall, in milliseconds. */
int64_t	loop_now_ms(void);
int64_t	loop_wall_ms(void);

#endif
