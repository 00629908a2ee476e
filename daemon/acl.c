/* acl.c - the publishers' allow-list (see acl.h): read with the config's
 * reading machinery (config_src_*), so its errors have the same form.
 * Entries are kept sorted by key for acl_find(); the list owns each
 * entry's post and prefixes.  Quotas are token buckets that start full. */
#include <libconfig.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "config.h"
#include "keyfile.h"
#include "priority.h"
#include "topic.h"

#define ACL_PATH_MAX		160
#define ACL_NEVER		INT64_MIN	/* refilled_ms: never taken */
#define ACL_DEFAULT_EVENTS	6000
#define ACL_DEFAULT_SECONDS	60

static const char *const acl_root_keys[] = { "publishers", NULL };
static const char *const acl_entry_keys[] = { "key", "post", "prefixes",
    "max_priority", "quota", "comment", NULL };
static const char *const acl_quota_keys[] = { "events", "seconds", NULL };

static int
acl_cmp(const void *a, const void *b)
{
	return strcmp(((const struct acl_entry *)a)->key,
	    ((const struct acl_entry *)b)->key);
}

static int
acl_entry_load(struct config_src *src, const config_setting_t *list,
    const config_setting_t *g, const char *gp, const struct config *cfg,
    struct acl *acl, size_t i)
{
	struct acl_entry	*e = &acl->entries[i];
	const config_setting_t	*m, *prev;
	config_setting_t	*q;
	char			 p[ACL_PATH_MAX], qp[ACL_PATH_MAX];
	const char		*v;
	int64_t			 n;
	size_t			 j;
	int			 rc;

	if (config_src_keys(src, g, gp, acl_entry_keys) == -1)
		return -1;

	config_src_path(p, sizeof(p), gp, "key", -1);
	if (config_src_string(src, g, gp, "key", 1, &v) != 1)
		return -1;
	m = config_setting_get_member(g, "key");
	if (!keyfile_z85_valid(v))
		return config_src_error(src, m, p, "is not a CURVE public key; "
		    "expected 40 characters of Z85 (outreachctl keygen prints "
		    "one)");
	for (j = 0; j < i; j++) {
		if (strcmp(acl->entries[j].key, v) != 0)
			continue;
		prev = config_setting_get_elem(list, (unsigned)j);
		return config_src_error(src, m, p, "key %s is given twice "
		    "(also at line %d); expected each key once", v,
		    prev ? config_setting_source_line(prev) : 0);
	}
	memcpy(e->key, v, KEY_Z85_LEN + 1);

	config_src_path(p, sizeof(p), gp, "post", -1);
	if (config_src_string(src, g, gp, "post", 1, &v) != 1)
		return -1;
	m = config_setting_get_member(g, "post");
	if (config_post(cfg, v) == NULL)
		return config_src_error(src, m, p, "no post \"%.80s\" in the "
		    "configuration; expected the id of one of its posts", v);
	if ((e->post = strdup(v)) == NULL)
		return config_src_error(src, m, p, "out of memory");

	if (config_src_strings(src, g, gp, "prefixes", 1, topic_prefix_valid,
	    "a topic prefix such as \"embassy.ph.berlin.\"", 0, &e->prefixes,
	    &e->nprefixes) != 1)
		return -1;

	e->max_priority = PRIORITY_NORMAL;
	config_src_path(p, sizeof(p), gp, "max_priority", -1);
	if ((rc = config_src_string(src, g, gp, "max_priority", 0, &v)) == -1)
		return -1;
	if (rc == 1 && (e->max_priority = priority_parse(v)) == -1)
		return config_src_error(src, config_setting_get_member(g,
		    "max_priority"), p, "\"%.32s\" is not a priority; expected "
		    "low, normal, high or critical", v);

	e->quota_events = ACL_DEFAULT_EVENTS;
	e->quota_seconds = ACL_DEFAULT_SECONDS;
	config_src_path(qp, sizeof(qp), gp, "quota", -1);
	if ((rc = config_src_member(src, g, gp, "quota", 0, CONFIG_TYPE_GROUP,
	    &q)) == -1)
		return -1;
	if (rc == 1) {
		if (config_src_keys(src, q, qp, acl_quota_keys) == -1)
			return -1;
		n = ACL_DEFAULT_EVENTS;
		if (config_src_int(src, q, qp, "events", 0, 1, 1000000,
		    &n) == -1)
			return -1;
		e->quota_events = (double)n;
		n = ACL_DEFAULT_SECONDS;
		if (config_src_int(src, q, qp, "seconds", 0, 1, 86400,
		    &n) == -1)
			return -1;
		e->quota_seconds = (double)n;
	}
	e->tokens = e->quota_events;
	e->refilled_ms = ACL_NEVER;

	/* Free text for people, ignored; but still a string. */
	if ((m = config_setting_get_member(g, "comment")) != NULL &&
	    config_setting_type(m) != CONFIG_TYPE_STRING) {
		config_src_path(p, sizeof(p), gp, "comment", -1);
		return config_src_error(src, m, p, "is not a string; expected "
		    "free text in quotes");
	}
	return 0;
}

static int
acl_load_any(const char *path, const char *text, const struct config *cfg,
    struct acl *acl, char *err, size_t errlen)
{
	struct config_src	 src;
	config_setting_t	*root, *list, *g;
	char			 p[ACL_PATH_MAX];
	size_t			 i, n;
	int			 rc = -1;

	memset(acl, 0, sizeof(*acl));
	if (path == NULL || cfg == NULL) {
		snprintf(err, errlen, "allow-list: no file name or no "
		    "configuration given");
		return -1;
	}
	if (config_src_open(&src, path, text, err, errlen) == -1)
		return -1;
	root = config_src_root(&src);
	if (config_src_keys(&src, root, "", acl_root_keys) == -1)
		goto out;
	if (config_src_member(&src, root, "", "publishers", 1,
	    CONFIG_TYPE_LIST, &list) != 1)
		goto out;
	n = (size_t)config_setting_length(list);
	if (n > 0) {
		if ((acl->entries = calloc(n, sizeof(*acl->entries))) ==
		    NULL) {
			config_src_error(&src, list, "publishers",
			    "out of memory");
			goto out;
		}
		acl->n = n;
	}
	for (i = 0; i < n; i++) {
		g = config_setting_get_elem(list, (unsigned)i);
		config_src_path(p, sizeof(p), "publishers", NULL, (int)i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			config_src_error(&src, g, p, "is not a group; expected "
			    "{ key = ...; post = ...; prefixes = [ ... ]; }");
			goto out;
		}
		if (acl_entry_load(&src, list, g, p, cfg, acl, i) == -1)
			goto out;
	}
	if (n > 1)
		qsort(acl->entries, n, sizeof(*acl->entries), acl_cmp);
	rc = 0;
out:
	config_src_close(&src);
	if (rc == -1)
		acl_free(acl);
	return rc;
}

int
acl_load(const char *path, const struct config *cfg, struct acl *acl,
    char *err, size_t errlen)
{
	return acl_load_any(path, NULL, cfg, acl, err, errlen);
}

int
acl_load_string(const char *text, const char *name, const struct config *cfg,
    struct acl *acl, char *err, size_t errlen)
{
	if (text == NULL) {
		memset(acl, 0, sizeof(*acl));
		snprintf(err, errlen, "%s: no text given",
		    name ? name : "allow-list");
		return -1;
	}
	return acl_load_any(name, text, cfg, acl, err, errlen);
}

void
acl_free(struct acl *acl)
{
	size_t	i, j;

	if (acl == NULL)
		return;
	for (i = 0; acl->entries != NULL && i < acl->n; i++) {
		free(acl->entries[i].post);
		for (j = 0; acl->entries[i].prefixes != NULL &&
		    j < acl->entries[i].nprefixes; j++)
			free(acl->entries[i].prefixes[j]);
		free(acl->entries[i].prefixes);
	}
	free(acl->entries);
	memset(acl, 0, sizeof(*acl));
}

static int
acl_key_cmp(const void *key, const void *e)
{
	return strcmp(key, ((const struct acl_entry *)e)->key);
}

struct acl_entry *
acl_find(struct acl *acl, const char *key)
{
	if (acl == NULL || key == NULL || acl->n == 0)
		return NULL;
	return bsearch(key, acl->entries, acl->n, sizeof(*acl->entries),
	    acl_key_cmp);
}

int
acl_topic_allowed(const struct acl_entry *e, const char *topic)
{
	size_t	i;

	if (e == NULL || topic == NULL)
		return 0;
	for (i = 0; i < e->nprefixes; i++)
		if (topic_has_prefix(topic, e->prefixes[i]))
			return 1;
	return 0;
}

int
acl_post_topic_allowed(const struct acl *acl, const char *post,
    const char *topic, int *max_priority)
{
	size_t	i;
	int	allowed = 0, maxp = -1;

	for (i = 0; acl != NULL && post != NULL && i < acl->n; i++) {
		if (strcmp(acl->entries[i].post, post) != 0)
			continue;
		if (acl->entries[i].max_priority > maxp)
			maxp = acl->entries[i].max_priority;
		if (acl_topic_allowed(&acl->entries[i], topic))
			allowed = 1;
	}
	if (max_priority != NULL)
		*max_priority = maxp;
	return allowed;
}

int
acl_quota_take(struct acl_entry *e, int64_t now_ms)
{
	if (e->quota_events <= 0 || e->quota_seconds <= 0)
		return 0;
	if (e->refilled_ms == ACL_NEVER)
		e->refilled_ms = now_ms;	/* still full since load */
	else if (now_ms > e->refilled_ms) {
		/* elapsed * events / period: exact for whole numbers, so
		 * 600 per 60 s gives back exactly 10 a second. */
		e->tokens += (double)(now_ms - e->refilled_ms) *
		    e->quota_events / (e->quota_seconds * 1000.0);
		if (e->tokens > e->quota_events)
			e->tokens = e->quota_events;
		e->refilled_ms = now_ms;
	}
	if (e->tokens >= 1.0) {
		e->tokens -= 1.0;
		return 1;
	}
	return 0;
}

void
acl_carry(struct acl *newacl, const struct acl *old)
{
	struct acl_entry	*e;
	size_t			 i;

	if (newacl == NULL || old == NULL)
		return;
	for (i = 0; i < old->n; i++) {
		if ((e = acl_find(newacl, old->entries[i].key)) == NULL)
			continue;
		e->tokens = old->entries[i].tokens;
		e->refilled_ms = old->entries[i].refilled_ms;
		/* A smaller quota caps what was saved up under the old one. */
		if (e->tokens > e->quota_events)
			e->tokens = e->quota_events;
	}
}
