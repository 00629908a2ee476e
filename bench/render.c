/* render.c - benchmark of notices: the templates of conf/templates compiled
 * once, then one complete e-mail (subject, text and HTML in a MIME message,
 * with Message-ID and List-Unsubscribe) rendered per contact, each contact
 * its own name and languages.  One core.  Prints one line:
 *   notices=N seconds=S per_s=R langs=en,fr,ar,tl bytes_avg=B
 * usage: render [-n NOTICES] [-t TEMPLATES_DIR] [-e EVENT_JSON] */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "event.h"
#include "notice.h"
#include "render.h"

static double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char *argv[])
{
	static const char *const langs[] = { "en", "fr", "ar", "tl" };
	static const char *const types[] = { "town-hall" };
	const char		*tdir = "conf/templates";
	const char		*evpath = "conf/demo/town-hall.json";
	const char		*topic = "embassy.ph.berlin.town-hall";
	unsigned char		 secret[32];
	struct config		 cfg;
	struct cfg_post		 post;
	struct render_sets	*sets;
	struct render_out	 out;
	struct event		 ev;
	struct event_error	 ee;
	struct event_rules	 rules;
	struct notice_in	 ni;
	struct buf		 msg;
	json_t			*contact;
	char			 err[1024], id[32], name[64], *text;
	long			 i, n = 200000, bytes = 0;
	double			 t0, t1;
	FILE			*f;
	size_t			 len;
	int			 ch;

	while ((ch = getopt(argc, argv, "n:t:e:")) != -1) {
		switch (ch) {
		case 'n': n = atol(optarg); break;
		case 't': tdir = optarg; break;
		case 'e': evpath = optarg; break;
		default:
			fprintf(stderr, "usage: render [-n N] [-t DIR] "
			    "[-e EVENT]\n");
			return 2;
		}
	}
	if ((sets = render_load(tdir, err, sizeof(err))) == NULL) {
		fprintf(stderr, "render: %s\n", err);
		return 1;
	}
	if ((f = fopen(evpath, "r")) == NULL) {
		perror(evpath);
		return 1;
	}
	text = malloc(1 << 20);
	len = fread(text, 1, (1 << 20) - 1, f);
	fclose(f);
	memset(&rules, 0, sizeof(rules));
	rules.max_bytes = 65536;
	rules.types = types;
	rules.ntypes = 1;
	rules.default_lang = "en";
	if (event_parse(topic, strlen(topic), text, len, &rules, &ev,
	    &ee) == -1) {
		fprintf(stderr, "render: event: %s\n", ee.message);
		return 1;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.mail_from = "noreply@outreach.example.org";
	cfg.unsubscribe_url = "https://outreach.example.org/unsubscribe?t=";
	cfg.unsubscribe_mailto = "unsubscribe@outreach.example.org";
	memset(&post, 0, sizeof(post));
	post.id = "ph-berlin";
	post.name = "Embassy of the Philippines in Berlin";
	post.lang = "en";
	post.address = "Luisenstrasse 16, 10117 Berlin, Germany";
	post.phone = "+49 30 000000";
	post.email = "info@ph-berlin.example.org";
	post.website = "https://ph-berlin.example.org";
	memset(secret, 7, sizeof(secret));
	memset(&ni, 0, sizeof(ni));
	ni.cfg = &cfg;
	ni.secret = secret;
	ni.secretlen = sizeof(secret);
	ni.event = &ev;
	ni.topic = topic;
	ni.post = &post;
	ni.event_row = 1;
	ni.date = time(NULL);
	render_out_init(&out);
	buf_init(&msg, 4u << 20);
	t0 = now_s();
	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "c-%ld", i);
		snprintf(name, sizeof(name), "Contact Number %ld", i);
		contact = json_pack("{s:s,s:s,s:s,s:[s],s:s}", "id", id, "name",
		    name, "email", "someone@example.org", "languages",
		    langs[i % 4], "city", "Berlin");
		ni.contact = contact;
		ni.contact_row = i + 1;
		if (notice_email(sets, &ni, &out, &msg, err, sizeof(err)) ==
		    -1) {
			fprintf(stderr, "render: %s\n", err);
			return 1;
		}
		bytes += (long)msg.len;
		json_decref(contact);
	}
	t1 = now_s();
	printf("notices=%ld seconds=%.3f per_s=%.0f langs=en,fr,ar,tl "
	    "bytes_avg=%ld\n", n, t1 - t0, (double)n / (t1 - t0), bytes / n);
	render_out_free(&out);
	buf_free(&msg);
	event_clear(&ev);
	render_free(sets);
	free(text);
	return 0;
}
