/* notify.c - sd_notify(3) protocol over an AF_UNIX datagram socket. */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "notify.h"

static int			notify_fd = -1;
static struct sockaddr_un	notify_addr;
static socklen_t		notify_addrlen;
static int64_t			notify_wd_ms;

int
notify_init(void)
{
	const char	*path, *wd, *wdpid;
	size_t		 len;
	unsigned long long usec;

	notify_wd_ms = 0;
	if ((wd = getenv("WATCHDOG_USEC")) != NULL &&
	    sscanf(wd, "%llu", &usec) == 1 && usec > 0) {
		wdpid = getenv("WATCHDOG_PID");
		if (wdpid == NULL || atol(wdpid) == (long)getpid())
			notify_wd_ms = (int64_t)(usec / 2000);
		if (notify_wd_ms == 0)
			notify_wd_ms = 1;
	}
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if ((path = getenv("NOTIFY_SOCKET")) == NULL)
		return 0;
	len = strlen(path);
	if (len == 0 || len >= sizeof(notify_addr.sun_path) ||
	    (path[0] != '/' && path[0] != '@')) {
		log_warnx("notify: NOTIFY_SOCKET unusable, not notifying "
		    "systemd");
		unsetenv("NOTIFY_SOCKET");
		return -1;
	}
	memset(&notify_addr, 0, sizeof(notify_addr));
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, path, len);
	if (path[0] == '@')
		notify_addr.sun_path[0] = '\0';	/* abstract namespace */
	notify_addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    len);
	unsetenv("NOTIFY_SOCKET");
	if ((notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) ==
	    -1) {
		log_warn("notify: socket");
		return -1;
	}
	return 0;
}

void
notify_close(void)
{
	if (notify_fd != -1)
		close(notify_fd);
	notify_fd = -1;
}

int
notify_send(const char *fmt, ...)
{
	struct buf	b;
	va_list		ap;
	int		rc = 0;

	if (notify_fd == -1)
		return 0;
	buf_init(&b, 4096);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (b.data == NULL || sendto(notify_fd, b.data, b.len, MSG_NOSIGNAL,
	    (struct sockaddr *)&notify_addr, notify_addrlen) == -1) {
		log_warn("notify: send");
		rc = -1;
	}
	buf_free(&b);
	return rc;
}

int
notify_ready(const char *status)
{
	return notify_send("READY=1\nSTATUS=%s", status);
}

int
notify_reloading(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return notify_send("RELOADING=1\nMONOTONIC_USEC=%llu\n"
	    "STATUS=reloading configuration",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
}

int
notify_stopping(void)
{
	return notify_send("STOPPING=1\nSTATUS=stopping");
}

int64_t
notify_watchdog_interval_ms(void)
{
	return notify_wd_ms;
}

int
notify_watchdog(void)
{
	return notify_send("WATCHDOG=1");
}
