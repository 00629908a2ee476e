/* fuzz_config.c - libFuzzer target: each input is parsed as a configuration
 * (named /tmp/fuzz.conf, so relative paths land in /tmp) and as an
 * allow-list against a fixed valid configuration.  Nothing is written;
 * only files the input names are stat()ed.  Errors must name the file;
 * accepted results must hold what the loaders promise. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "config.h"
#include "topic.h"

static const char fuzz_base[] =
    "daemon: { state_dir = \"/tmp/outreachd-fuzz-state\"; };\n"
    "ingest: { allow_list = \"/dev/null\";\n"
    "  endpoints = ( { bind = \"tcp://127.0.0.1:7450\"; } ); };\n"
    "posts = ( { id = \"ph-berlin\"; name = \"Berlin\"; lang = \"en\"; },\n"
    "  { id = \"ph-frankfurt\"; name = \"Frankfurt\"; lang = \"de\"; } );\n";

static void
fuzz_check_error(const char *name, const char *err)
{
	if (strncmp(err, name, strlen(name)) != 0 || strchr(err, '\n')) {
		fprintf(stderr, "bad error text: %s\n", err);
		abort();
	}
}

static void
fuzz_check_config(const struct config *cfg)
{
	size_t	i;

	if (cfg->nposts == 0 || cfg->nendpoints + cfg->nfeeds == 0 ||
	    cfg->nprefixes == 0 || cfg->ntypes == 0 ||
	    cfg->state_dir[0] != '/' || cfg->allow_list[0] != '/')
		abort();
	for (i = 0; i < cfg->nprefixes; i++)
		if (!topic_prefix_valid(cfg->prefixes[i],
		    strlen(cfg->prefixes[i])))
			abort();
	for (i = 0; i < cfg->nendpoints; i++)
		if ((cfg->endpoints[i].security == CFG_SECURITY_NONE) !=
		    (cfg->endpoints[i].post != NULL) ||
		    (cfg->endpoints[i].post != NULL &&
		    config_post(cfg, cfg->endpoints[i].post) == NULL))
			abort();
	for (i = 0; i < cfg->nfeeds; i++)
		if (config_post(cfg, cfg->feeds[i].post) == NULL ||
		    (cfg->feeds[i].security == CFG_SECURITY_CURVE &&
		    strlen(cfg->feeds[i].server_key) != 40))
			abort();
}

static void
fuzz_exercise_acl(struct acl *acl, const struct config *cfg)
{
	struct acl_entry	*e;
	size_t			 i;
	int			 maxp;

	for (i = 0; i < acl->n; i++) {
		e = acl_find(acl, acl->entries[i].key);
		if (e != &acl->entries[i])
			abort();
		if (config_post(cfg, e->post) == NULL || e->nprefixes == 0)
			abort();
		if (!acl_topic_allowed(e, e->prefixes[0]))
			abort();
		if (acl_quota_take(e, 1000) != 1)	/* starts full */
			abort();
		acl_quota_take(e, 1000 + (int64_t)i * 7);
		if (!acl_post_topic_allowed(acl, e->post, e->prefixes[0],
		    &maxp) || maxp < e->max_priority)
			abort();
	}
	acl_carry(acl, acl);
}

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config	 base;
	static int		 ready;
	struct config		 cfg;
	struct acl		 acl;
	char			 err[1024], *text;

	if (!ready) {
		if (config_load_string(fuzz_base, "/tmp/fuzz-base.conf", &base,
		    err, sizeof(err)) != 0) {
			fprintf(stderr, "fuzz base config: %s\n", err);
			abort();
		}
		ready = 1;
	}
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	if (config_load_string(text, "/tmp/fuzz.conf", &cfg, err,
	    sizeof(err)) == 0) {
		fuzz_check_config(&cfg);
		config_free(&cfg);
	} else
		fuzz_check_error("/tmp/fuzz.conf", err);

	if (acl_load_string(text, "/tmp/fuzz-acl.conf", &base, &acl, err,
	    sizeof(err)) == 0) {
		fuzz_exercise_acl(&acl, &base);
		acl_free(&acl);
	} else
		fuzz_check_error("/tmp/fuzz-acl.conf", err);

	free(text);
	return 0;
}
