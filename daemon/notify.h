/* notify.h - systemd's service notification protocol ($NOTIFY_SOCKET,
 * sd_notify(3)) without linking libsystemd: READY, RELOADING, STOPPING,
 * STATUS and WATCHDOG datagrams.  Everything is a no-op when the daemon
 * was not started by systemd (no $NOTIFY_SOCKET). */
#ifndef OUTREACH_NOTIFY_H
#define OUTREACH_NOTIFY_H

#include <stdint.h>

/* Read $NOTIFY_SOCKET and $WATCHDOG_USEC (honouring $WATCHDOG_PID), then
 * unset them so children do not inherit them.  0, or -1 (logged) when the
 * socket cannot be set up; the daemon runs on without notification. */
int	notify_init(void);
void	notify_close(void);

/* Send one datagram of newline-separated assignments.  0 or -1. */
int	notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int	notify_ready(const char *status);
/* RELOADING=1 with MONOTONIC_USEC, as systemd 253+ expects for
 * Type=notify-reload (harmless under 252). */
int	notify_reloading(void);
int	notify_stopping(void);
/* The watchdog interval to ping at (half of $WATCHDOG_USEC), in ms, or 0
 * when systemd asked for none. */
int64_t	notify_watchdog_interval_ms(void);
int	notify_watchdog(void);

#endif
