/* topic.c - topic and subscription grammar (see topic.h). */
#include <stdio.h>
#include <string.h>

#include "topic.h"

int
topic_slug_valid(const char *s, size_t n)
{
	size_t	i;

	if (n < 1 || n > 63)
		return 0;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return 0;
	for (i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/* Check the first nparts dot-separated parts of s[0..n); when complete is 0
 * the string may stop after any dot.  Returns 1 when valid. */
static int
topic_parts_valid(const char *s, size_t n, int allow_prefix)
{
	size_t		 start = 0, end, part = 0;
	const char	*dot;

	if (n == 0 || n > TOPIC_MAX || memchr(s, '\0', n) != NULL)
		return 0;
	while (start < n) {
		dot = memchr(s + start, '.', n - start);
		end = dot ? (size_t)(dot - s) : n;
		if (part >= 4)
			return 0;
		switch (part) {
		case 0:
			if (!((end - start == 7 && memcmp(s, "embassy", 7) == 0) ||
			    (end - start == 9 && memcmp(s, "consulate", 9) == 0)))
				return 0;
			break;
		case 1:
			if (end - start != 2 || s[start] < 'a' || s[start] > 'z' ||
			    s[start + 1] < 'a' || s[start + 1] > 'z')
				return 0;
			break;
		default:
			if (!topic_slug_valid(s + start, end - start))
				return 0;
		}
		part++;
		if (dot == NULL)
			return part == 4;
		if (part == 4)
			return 0;	/* a fifth part */
		start = end + 1;
		if (start == n)
			return allow_prefix;
	}
	return 0;
}

int
topic_valid(const char *s, size_t n)
{
	return topic_parts_valid(s, n, 0);
}

int
topic_prefix_valid(const char *s, size_t n)
{
	return topic_parts_valid(s, n, 1);
}

int
topic_covering(const char *topic, char out[TOPIC_COVER_MAX][TOPIC_MAX + 1])
{
	const char	*dot;
	int		 n = 0;

	for (dot = topic; n < TOPIC_COVER_MAX - 1 &&
	    (dot = strchr(dot, '.')) != NULL; dot++, n++)
		snprintf(out[n], TOPIC_MAX + 1, "%.*s", (int)(dot - topic + 1),
		    topic);
	if (*topic != '\0' && topic[strlen(topic) - 1] != '.')
		snprintf(out[n++], TOPIC_MAX + 1, "%s", topic);
	return n;
}

int
topic_has_prefix(const char *topic, const char *prefix)
{
	return strncmp(topic, prefix, strlen(prefix)) == 0;
}
