/* log.c - stderr logging with optional journald priority prefixes. */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

static const char	*log_prog = "outreach";
static int		 log_prefix;	/* 1: "<N>" priority prefixes */
static enum log_level	 log_max = LOG_LEVEL_INFO;

void
log_init(const char *progname)
{
	const char		*js;
	struct stat		 st;
	unsigned long long	 dev, ino;

	log_prog = progname;
	log_prefix = 0;
	/* JOURNAL_STREAM is "dev:ino" of the stream systemd connected; only
	 * use prefixes when it really is our stderr (not inherited by a child
	 * whose stderr was redirected). */
	if ((js = getenv("JOURNAL_STREAM")) != NULL &&
	    sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	    fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino)
		log_prefix = 1;
}

void
log_set_level(enum log_level l)
{
	log_max = l;
}

int
log_level_parse(const char *s)
{
	static const struct { const char *name; enum log_level l; } t[] = {
		{ "err", LOG_LEVEL_ERR }, { "warning", LOG_LEVEL_WARNING },
		{ "notice", LOG_LEVEL_NOTICE }, { "info", LOG_LEVEL_INFO },
		{ "debug", LOG_LEVEL_DEBUG },
	};
	size_t	i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(s, t[i].name) == 0)
			return (int)t[i].l;
	return -1;
}

static void
log_emit(enum log_level l, int errnum, const char *fmt, va_list ap)
{
	static const char	*names[] = { "", "", "", "error", "warning",
				    "notice", "info", "debug" };
	struct buf		 b;
	char			 small[1024];
	size_t			 i;

	if (l > log_max)
		return;
	buf_init(&b, 8192);
	if (log_prefix)
		buf_printf(&b, "<%d>", (int)l);
	else
		buf_printf(&b, "%s: %s: ", log_prog, names[l]);
	buf_vprintf(&b, fmt, ap);
	if (errnum)
		buf_printf(&b, ": %s", strerror(errnum));
	if (b.data == NULL) {
		snprintf(small, sizeof(small), "%s: log line too long\n",
		    log_prog);
		fputs(small, stderr);
		return;
	}
	/* One event, one line: nothing a peer sent may start a new one. */
	for (i = 0; i < b.len; i++)
		if (b.data[i] == '\n' || b.data[i] == '\r')
			b.data[i] = ' ';
	buf_addc(&b, '\n');
	fwrite(b.data, 1, b.len, stderr);
	buf_free(&b);
}

#define LOG_FN(name, level, witherr)					\
void									\
name(const char *fmt, ...)						\
{									\
	va_list	ap;							\
	int	saved = errno;						\
									\
	va_start(ap, fmt);						\
	log_emit(level, witherr ? saved : 0, fmt, ap);			\
	va_end(ap);							\
	errno = saved;							\
}

LOG_FN(log_warn, LOG_LEVEL_WARNING, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARNING, 0)
LOG_FN(log_notice, LOG_LEVEL_NOTICE, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
