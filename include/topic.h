/* topic.h - the topic grammar of DESIGN.md 3: KIND.CC.POST.CATEGORY, KIND
 * "embassy" or "consulate", CC an ISO 3166-1 alpha-2 code in lower case,
 * POST and CATEGORY slugs [a-z0-9][a-z0-9-]{0,62}; at most 255 bytes. */
#ifndef OUTREACH_TOPIC_H
#define OUTREACH_TOPIC_H

#include <stddef.h>

#define TOPIC_MAX	255

/* 1 when s (n bytes, not necessarily NUL-terminated) is a whole topic. */
int	topic_valid(const char *s, size_t n);
/* 1 when s is a slug: [a-z0-9][a-z0-9-]{0,62}. */
int	topic_slug_valid(const char *s, size_t n);
/* 1 when s is a subscription: a whole topic, or a prefix of one that ends
 * right after a dot ("embassy.", "embassy.ph.", "embassy.ph.berlin."). */
int	topic_prefix_valid(const char *s, size_t n);
/* The subscriptions that cover topic (or a prefix of one): each prefix of
 * it that ends at a dot, then the whole string when it does not end at
 * one; at most TOPIC_COVER_MAX, written into out.  Returns how many. */
#define TOPIC_COVER_MAX	4
int	topic_covering(const char *topic,
	    char out[TOPIC_COVER_MAX][TOPIC_MAX + 1]);
/* 1 when topic starts with prefix. */
int	topic_has_prefix(const char *topic, const char *prefix);

#endif
