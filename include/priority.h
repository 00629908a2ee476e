/* priority.h - event priorities, shared by the daemon (events, allow-list)
 * and outreachctl (publish --priority).  Higher value, more urgent. */
#ifndef OUTREACH_PRIORITY_H
#define OUTREACH_PRIORITY_H

#include <string.h>

enum priority {
	PRIORITY_LOW = 0,
	PRIORITY_NORMAL = 1,
	PRIORITY_HIGH = 2,
	PRIORITY_CRITICAL = 3,
};

static const char *const priority_names[] = { "low", "normal", "high",
    "critical" };

/* The priority named s, or -1. */
static inline int
priority_parse(const char *s)
{
	int	i;

	for (i = 0; i <= PRIORITY_CRITICAL; i++)
		if (strcmp(s, priority_names[i]) == 0)
			return i;
	return -1;
}

static inline const char *
priority_name(int p)
{
	return p >= 0 && p <= PRIORITY_CRITICAL ? priority_names[p] : "?";
}

#endif
