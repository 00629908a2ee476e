/* log.h - one line per event on stderr: a message, then key=value details.
 * Under systemd (JOURNAL_STREAM names our stderr) each line carries a
 * "<N>" syslog priority prefix so journald keeps the level.
 * Privacy rule (DESIGN.md 1): never pass a contact's address, name or URL
 * here; contacts are named by their external id only. */
#ifndef OUTREACH_LOG_H
#define OUTREACH_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_NOTICE = 5,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/* Name the program (prefix of each line) and decide on priority prefixes. */
void	log_init(const char *progname);
void	log_set_level(enum log_level);
/* Parse "err", "warning", "notice", "info", "debug"; -1 when unknown. */
int	log_level_parse(const char *);

/* log_warn appends ": strerror(errno)"; the x variants do not. */
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_notice(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
/* Start-up or broken invariant only: log at err level and exit(1). */
void	fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
