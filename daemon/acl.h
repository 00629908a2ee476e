/* acl.h - the publishers' allow-list: CURVE public key -> post, topic
 * prefixes, highest priority and rate quota.  Loaded from its own file
 * (public, libconfig), reloaded on SIGHUP; every message is checked
 * against the current list by the key ZAP returned as User-Id.  The list
 * owns its entries; acl_free() releases them. */
#ifndef OUTREACH_ACL_H
#define OUTREACH_ACL_H

#include <stddef.h>
#include <stdint.h>

struct config;

struct acl_entry {
	char	  key[41];	/* Z85 public key */
	char	 *post;		/* a post id of the config */
	char	**prefixes;	/* topic prefixes it may publish on */
	size_t	  nprefixes;
	int	  max_priority;	/* enum priority */
	double	  quota_events;	/* bucket size */
	double	  quota_seconds;/* refills quota_events in this time */
	double	  tokens;	/* runtime: current bucket */
	int64_t	  refilled_ms;	/* runtime: last refill */
};

struct acl {
	struct acl_entry	*entries;
	size_t			 n;
};

/* Load the allow-list file; every post it names must exist in cfg.
 * Returns 0, or -1 with one sentence in err ("FILE:LINE: KEY: ...").
 * On error *acl holds nothing that needs freeing. */
int	acl_load(const char *path, const struct config *cfg, struct acl *acl,
	    char *err, size_t errlen);
/* The same from text in memory, name used in messages (fuzzer, tests). */
int	acl_load_string(const char *text, const char *name,
	    const struct config *cfg, struct acl *acl, char *err,
	    size_t errlen);
void	acl_free(struct acl *);

/* The entry for this Z85 key, or NULL. */
struct acl_entry *acl_find(struct acl *, const char *key);
/* 1 when topic falls under one of the entry's prefixes, else 0. */
int	acl_topic_allowed(const struct acl_entry *, const char *topic);

/* The post-wide rule used for feeds and security "none" endpoints, which
 * have no key: the union of the prefixes of every entry of that post and
 * the highest of their priorities.  1 when allowed, 0 when not;
 * *max_priority gets the highest priority (-1 when the post has none). */
int	acl_post_topic_allowed(const struct acl *, const char *post,
	    const char *topic, int *max_priority);

/* Take one event from the entry's quota at now_ms: 1 taken, 0 exhausted. */
int	acl_quota_take(struct acl_entry *, int64_t now_ms);
/* Carry the runtime buckets of keys present in both lists from old to
 * new, so a reload neither refills nor empties anyone's quota. */
void	acl_carry(struct acl *newacl, const struct acl *old);

#endif
