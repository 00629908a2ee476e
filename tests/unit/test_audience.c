/* test_audience.c - who an event reaches and the fan-out of its deliveries
 * (daemon/audience.c).  Each test opens a fresh journal in a mkdtemp state
 * dir holding the same 22 contacts.  The table gives events (topic, filters,
 * status, cancel) and the contacts each must reach: counted at acceptance,
 * fanned out in slices of 3, then the deliveries read back with SQL.  Then
 * the directory changing between count and fan-out, slice sizes, resuming
 * after a failed turn or a restart, priorities, and replacement. */
#include <sys/stat.h>

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "audience.h"
#include "buf.h"
#include "contact.h"
#include "contacts.h"
#include "event.h"
#include "journal.h"
#include "log.h"

#define T_CONTACTS	1777000000000LL	/* the fixture's contacts added */
#define T_RECEIVED	1777777777000LL	/* events accepted */
#define T_FANOUT	(T_RECEIVED + 10)	/* and fanned out */
#define POST		"ph-berlin"
#define SLICE		3

#define EM	"\"email\":\"someone@example.org\""
#define WH	"\"webhook_url\":\"https://hooks.example.org/in\""
#define DE	"\"country\":\"DE\""
#define AT	"\"country\":\"AT\""
#define BERLIN	"\"region\":\"Berlin\",\"city\":\"Berlin\""
#define VIENNA	"\"region\":\"Vienna\",\"city\":\"Vienna\""

/* The directory, inserted in this order (row i + 1).  Subscriptions: a
 * whole topic (th), "embassy." (emb), "embassy.ph." (ph ...),
 * "embassy.ph.berlin." (ber ...), consulates (fra, cmun), none (nosub). */
static const struct fx_contact {
	const char	*id;
	const char	*json;		/* members besides "id" */
} fx[] = {
	{ "th", "\"subscriptions\":[\"embassy.ph.berlin.town-hall\"]," DE ","
	    BERLIN ",\"languages\":[\"en\"]," EM },
	{ "emb", "\"subscriptions\":[\"embassy.\"]," DE ",\"region\":"
	    "\"Bavaria\",\"city\":\"Munich\",\"languages\":[\"en\"]," EM },
	{ "ph", "\"subscriptions\":[\"embassy.ph.\"]," AT "," VIENNA
	    ",\"languages\":[\"tl\",\"en\"],\"tags\":[\"nurses\"]," WH },
	{ "ber", "\"subscriptions\":[\"embassy.ph.berlin.\"]," DE "," BERLIN
	    ",\"languages\":[\"pt-BR\"],\"tags\":[\"students\"]," EM "," WH },
	{ "fra", "\"subscriptions\":[\"consulate.ph.frankfurt.\"]," DE
	    ",\"region\":\"Hesse\",\"city\":\"Frankfurt\",\"languages\":"
	    "[\"ar\"],\"tags\":[\"students\",\"nurses\"]," EM },
	{ "cmun", "\"subscriptions\":[\"consulate.ph.munich.\"]," DE
	    ",\"region\":\"Bavaria\",\"city\":\"Munich\",\"languages\":"
	    "[\"en\"]," EM },
	{ "ber2", "\"subscriptions\":[\"embassy.ph.berlin.\"]," DE "," BERLIN
	    ",\"languages\":[\"tl\",\"en\"],\"tags\":[\"nurses\"]," WH },
	{ "ber3", "\"subscriptions\":[\"embassy.ph.berlin.\"]," DE "," BERLIN
	    ",\"languages\":[\"ar\"]," EM },
	{ "mun", "\"subscriptions\":[\"embassy.ph.\"]," DE ",\"region\":"
	    "\"Bavaria\",\"city\":\"Munich\",\"languages\":[\"pt-BR\"],"
	    "\"tags\":[\"students\"]," EM },
	{ "mun2", "\"subscriptions\":[\"embassy.ph.\"]," DE ",\"region\":"
	    "\"Bavaria\",\"city\":\"MUNICH\",\"languages\":[\"en\"],"
	    "\"tags\":[\"nurses\",\"students\"]," EM "," WH },
	{ "vie", "\"subscriptions\":[\"embassy.ph.\"]," AT "," VIENNA
	    ",\"languages\":[\"en\"],\"tags\":[\"students\"]," EM "," WH },
	{ "pt", "\"subscriptions\":[\"embassy.ph.\"]," AT ",\"region\":"
	    "\"Tyrol\",\"city\":\"Innsbruck\",\"languages\":[\"pt\"]," EM },
	{ "unsub", "\"subscriptions\":[\"embassy.ph.\"]," DE "," BERLIN
	    ",\"languages\":[\"en\"],\"tags\":[\"students\"],"
	    "\"status\":\"unsubscribed\"," EM },
	{ "bounce", "\"subscriptions\":[\"embassy.ph.\"]," DE "," BERLIN
	    ",\"languages\":[\"en\"],\"status\":\"bounced\"," WH },
	{ "test1", "\"subscriptions\":[\"embassy.ph.\"]," DE "," BERLIN
	    ",\"languages\":[\"en\"],\"test\":true," EM },
	{ "test2", "\"subscriptions\":[\"embassy.ph.berlin.\"]," AT ","
	    VIENNA ",\"languages\":[\"pt-BR\"],\"tags\":[\"nurses\"],"
	    "\"test\":true," WH },
	{ "testu", "\"subscriptions\":[\"embassy.\"]," DE "," BERLIN
	    ",\"languages\":[\"en\"],\"test\":true,\"status\":\"unsubscribed\","
	    EM },
	{ "nosub", DE "," BERLIN ",\"languages\":[\"en\"],\"tags\":"
	    "[\"students\"]," EM },
	{ "multi", "\"subscriptions\":[\"consulate.ph.frankfurt.\","
	    "\"embassy.ph.berlin.town-hall\"]," DE ",\"region\":\"Hesse\","
	    "\"city\":\"Frankfurt\",\"languages\":[\"en\"],\"tags\":"
	    "[\"nurses\"]," EM "," WH },
	/* Entered as "iw": ICU stores Hebrew as "he". */
	{ "he", "\"subscriptions\":[\"embassy.ph.\"]," DE "," BERLIN
	    ",\"languages\":[\"iw\"]," EM },
	/* No country, region, city, languages or tags: no filter takes it. */
	{ "bare", "\"subscriptions\":[\"embassy.ph.\"]," EM },
	{ "muc", "\"subscriptions\":[\"embassy.ph.\"]," DE ",\"region\":"
	    "\"Bayern\",\"city\":\"M\xc3\xbcnchen\",\"languages\":[\"de\"],"
	    EM },
};
#define NFX	(sizeof(fx) / sizeof(fx[0]))

/* Every active contact an actual event on embassy.ph.berlin.town-hall
 * reaches. */
#define ALL_TH	"th,emb,ph,ber,ber2,ber3,mun,mun2,vie,pt,test1,test2,multi," \
		"he,bare,muc"
/* The same below "embassy.ph." outside Berlin's post. */
#define ALL_PH	"emb,ph,mun,mun2,vie,pt,test1,he,bare,muc"

/* One event and the contacts it reaches: topic, the members added to
 * {"v","id","type","title"}, and the external ids ("" for none). */
static const struct aud_row {
	const char	*name;
	const char	*topic;
	const char	*extra;
	const char	*expect;
} rows[] = {
	/* Subscriptions: prefixes ending at a dot, or the whole topic. */
	{ "sub: whole topic and every prefix", "embassy.ph.berlin.town-hall",
	    "", ALL_TH },
	{ "sub: whole topic is not a prefix",
	    "embassy.ph.berlin.town-hall-2", "", "emb,ph,ber,ber2,ber3,mun,"
	    "mun2,vie,pt,test1,test2,he,bare,muc" },
	{ "sub: berlin. does not reach bonn", "embassy.ph.bonn.general", "",
	    ALL_PH },
	{ "sub: berlin. does not reach berlin-east",
	    "embassy.ph.berlin-east.general", "", ALL_PH },
	{ "sub: embassy. alone", "embassy.de.berlin.general", "", "emb" },
	{ "sub: consulate prefix", "consulate.ph.frankfurt.consular-day", "",
	    "fra,multi" },
	{ "sub: other consulate", "consulate.ph.munich.general", "", "cmun" },
	{ "sub: nobody", "consulate.at.vienna.general", "", "" },
	/* Each filter alone. */
	{ "countries AT", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"countries\":[\"AT\"]}", "ph,vie,pt,test2" },
	{ "countries DE", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"countries\":[\"DE\"]}",
	    "th,emb,ber,ber2,ber3,mun,mun2,test1,multi,he,muc" },
	{ "countries DE or AT", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"countries\":[\"DE\",\"AT\"]}",
	    "th,emb,ph,ber,ber2,ber3,mun,mun2,vie,pt,test1,test2,multi,he,"
	    "muc" },
	{ "countries PH: none", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"countries\":[\"PH\"]}", "" },
	{ "regions Bavaria", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"regions\":[\"Bavaria\"]}", "emb,mun,mun2" },
	{ "regions bavaria, any case", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"regions\":[\"bavaria\"]}", "emb,mun,mun2" },
	{ "regions Vienna or Tyrol", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"regions\":[\"Vienna\",\"Tyrol\"]}",
	    "ph,vie,pt,test2" },
	{ "cities munich, any case", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"cities\":[\"munich\"]}", "emb,mun,mun2" },
	{ "cities Munich", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"cities\":[\"Munich\"]}", "emb,mun,mun2" },
	{ "cities BERLIN or Vienna", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"cities\":[\"BERLIN\",\"Vienna\"]}",
	    "th,ber,ber2,ber3,test1,he,ph,vie,test2" },
	{ "cities m\xc3\xbcnchen (ASCII letter case)",
	    "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"cities\":[\"m\xc3\xbcnchen\"]}", "muc" },
	/* NOTE: COLLATE NOCASE folds ASCII only: "MÜNCHEN" misses
	 * "München".  DESIGN.md is silent on case; shown, not asserted as a
	 * bug. */
	{ "cities M\xc3\x9c" "NCHEN (non-ASCII case not folded)",
	    "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"cities\":[\"M\xc3\x9c" "NCHEN\"]}", "" },
	{ "languages pt reaches pt-BR", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"languages\":[\"pt\"]}", "ber,mun,pt,test2" },
	{ "languages pt-BR does not reach pt", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"languages\":[\"pt-BR\"]}", "ber,mun,test2" },
	{ "languages PT-br, any case", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"languages\":[\"PT-br\"]}", "ber,mun,test2" },
	{ "languages en, any position", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"languages\":[\"en\"]}",
	    "th,emb,ph,ber2,mun2,vie,test1,multi" },
	{ "languages tl", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"languages\":[\"tl\"]}", "ph,ber2" },
	{ "languages ar or tl", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"languages\":[\"ar\",\"tl\"]}", "ber3,ph,ber2" },
	{ "languages en-GB does not reach en", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"languages\":[\"en-GB\"]}", "" },
	{ "languages he", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"languages\":[\"he\"]}", "he" },
	/* The contact gave "iw", stored in ICU's canonical form "he"; the
	 * event's filter values are canonicalised the same way (DESIGN.md
	 * 4), so the deprecated-but-valid "iw" reaches Hebrew readers. */
	{ "languages iw reaches he", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"languages\":[\"iw\"]}", "he" },
	{ "tags students", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"tags\":[\"students\"]}", "ber,mun,mun2,vie" },
	{ "tags nurses", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"tags\":[\"nurses\"]}",
	    "ph,ber2,mun2,test2,multi" },
	{ "tags students or nurses", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"tags\":[\"students\",\"nurses\"]}",
	    "ber,mun,mun2,vie,ph,ber2,test2,multi" },
	{ "tags teachers: none", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"tags\":[\"teachers\"]}", "" },
	/* Filters ANDed, values ORed. */
	{ "DE and students", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"countries\":[\"DE\"],\"tags\":[\"students\"]}",
	    "ber,mun,mun2" },
	{ "DE and munich and en", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"countries\":[\"DE\"],\"cities\":[\"munich\"],"
	    "\"languages\":[\"en\"]}", "emb,mun2" },
	{ "AT and pt", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"countries\":[\"AT\"],\"languages\":[\"pt\"]}",
	    "pt,test2" },
	{ "Berlin and (en or ar) and nurses", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"regions\":[\"Berlin\"],\"languages\":[\"en\","
	    "\"ar\"],\"tags\":[\"nurses\"]}", "ber2" },
	{ "AT and Berlin: none", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"countries\":[\"AT\"],\"cities\":[\"Berlin\"]}",
	    "" },
	{ "all five filters", "embassy.ph.berlin.town-hall",
	    "\"audience\":{\"countries\":[\"DE\",\"AT\"],\"regions\":"
	    "[\"Bavaria\",\"Vienna\"],\"cities\":[\"munich\",\"vienna\"],"
	    "\"languages\":[\"en\"],\"tags\":[\"students\"]}", "mun2,vie" },
	{ "filters on a consulate topic",
	    "consulate.ph.frankfurt.consular-day",
	    "\"audience\":{\"tags\":[\"students\"]}", "fra" },
	{ "filters below the prefix", "embassy.ph.bonn.general",
	    "\"audience\":{\"countries\":[\"AT\"]}", "ph,vie,pt" },
	/* Status: exercise and test reach test contacts only. */
	{ "status actual given", "embassy.ph.bonn.general",
	    "\"status\":\"actual\"", ALL_PH },
	{ "status exercise", "embassy.ph.berlin.town-hall",
	    "\"status\":\"exercise\"", "test1,test2" },
	{ "status test", "embassy.ph.berlin.town-hall",
	    "\"status\":\"test\"", "test1,test2" },
	{ "status test below the prefix", "embassy.ph.bonn.general",
	    "\"status\":\"test\"", "test1" },
	{ "status exercise and AT", "embassy.ph.berlin.town-hall",
	    "\"status\":\"exercise\",\"audience\":{\"countries\":[\"AT\"]}",
	    "test2" },
	{ "status test: embassy.'s test contact left", "embassy.de.bonn.general",
	    "\"status\":\"test\"", "" },
	/* Others that change nothing, or everything. */
	{ "priority and not_before", "embassy.ph.berlin.town-hall",
	    "\"priority\":\"high\",\"not_before\":\"2026-05-01T10:00:00Z\"",
	    ALL_TH },
	{ "replaces without cancel", "embassy.ph.berlin.town-hall",
	    "\"replaces\":\"old-1\"", ALL_TH },
	{ "cancel: nobody", "embassy.ph.berlin.town-hall",
	    "\"replaces\":\"old-1\",\"cancel\":true", "" },
};
#define NROWS	(sizeof(rows) / sizeof(rows[0]))

struct ta {
	char			 root[64];	/* mkdtemp */
	struct journal		*jr;
	struct contacts		*cs;
	struct audience		*aud;
	sqlite3			*db;
	int			 email[NFX];	/* channels of fx[i] */
	int			 webhook[NFX];
	const struct aud_row	*row;		/* table tests */
};

/* One accepted event. */
struct acc {
	int64_t	count;
	int64_t	max_row;
	int64_t	row;		/* in events */
	int64_t	replaced;	/* audience_replace's result */
	int	priority;
	int64_t	not_before;	/* -1: none */
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static int
fx_index(const char *id)
{
	size_t	i;

	for (i = 0; i < NFX; i++)
		if (strcmp(fx[i].id, id) == 0)
			return (int)i;
	return -1;
}

/* Add or update one contact (JSON members besides "id") in its own
 * turn. */
static void
put_contact(struct ta *t, const char *id, const char *members, int64_t now,
    int *email, int *webhook)
{
	struct contact		 c;
	struct contact_error	 ce;
	struct buf		 b;
	json_t			*o;

	buf_init(&b, 0);
	assert_int_equal(buf_printf(&b, "{\"id\":\"%s\",%s}", id, members),
	    0);
	if ((o = json_loads(b.data, 0, NULL)) == NULL)
		fail_msg("contact %s: bad JSON in the fixture", id);
	contact_init(&c);
	if (contact_from_json(o, NULL, &c, &ce) == -1)
		fail_msg("contact %s: %s: %s", id, ce.field, ce.reason);
	if (email != NULL)
		*email = c.email != NULL;
	if (webhook != NULL)
		*webhook = c.webhook_url != NULL;
	assert_int_equal(journal_txn(t->jr), 0);
	assert_true(contacts_upsert(t->cs, &c, now, 0) >= 0);
	assert_int_equal(journal_commit(t->jr), 0);
	contact_clear(&c);
	json_decref(o);
	buf_free(&b);
}

static int
setup(void **state)
{
	struct ta	*t;
	char		 err[512] = "", dir[128];
	size_t		 i;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	t->row = *state;
	snprintf(t->root, sizeof(t->root), "/tmp/test_audience.XXXXXX");
	if (mkdtemp(t->root) == NULL)
		return -1;
	snprintf(dir, sizeof(dir), "%s/state", t->root);
	if ((t->jr = journal_open(dir, 0, err, sizeof(err))) == NULL ||
	    (t->cs = contacts_new(t->jr, err, sizeof(err))) == NULL ||
	    (t->aud = audience_new(t->jr, err, sizeof(err))) == NULL) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	t->db = journal_db(t->jr);
	*state = t;
	for (i = 0; i < NFX; i++)
		put_contact(t, fx[i].id, fx[i].json, T_CONTACTS, &t->email[i],
		    &t->webhook[i]);
	return 0;
}

static int
teardown(void **state)
{
	struct ta	*t = *state;

	audience_free(t->aud);
	contacts_free(t->cs);
	journal_close(t->jr);
	nftw(t->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
	return 0;
}

/* The first column of the first row of a query, 0 when none. */
static int64_t
sql_int(struct ta *t, const char *fmt, ...)
{
	struct buf	 b;
	sqlite3_stmt	*st;
	va_list		 ap;
	int64_t		 v = 0;
	int		 rc;

	buf_init(&b, 0);
	va_start(ap, fmt);
	assert_int_equal(buf_vprintf(&b, fmt, ap), 0);
	va_end(ap);
	if (sqlite3_prepare_v2(t->db, b.data, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", b.data, sqlite3_errmsg(t->db));
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		fail_msg("%s: %s", b.data, sqlite3_errmsg(t->db));
	sqlite3_finalize(st);
	buf_free(&b);
	return v;
}

static void
sql_exec(struct ta *t, const char *fmt, ...)
{
	struct buf	 b;
	va_list		 ap;

	buf_init(&b, 0);
	va_start(ap, fmt);
	assert_int_equal(buf_vprintf(&b, fmt, ap), 0);
	va_end(ap);
	if (sqlite3_exec(t->db, b.data, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", b.data, sqlite3_errmsg(t->db));
	buf_free(&b);
}

/* The acceptance of one event as ingest does it, in one turn: parse,
 * count, store, replace, wake. */
static void
accept_event(struct ta *t, const char *topic, const char *id,
    const char *extra, int64_t now, struct acc *a)
{
	static const char *const types[] = { "town-hall", "general" };
	struct event_rules	 rules = { 0, types, 2, "en" };
	struct event		 ev;
	struct event_error	 ee;
	struct journal_event	 je;
	struct buf		 j;
	int64_t			 rcpt = -1;

	buf_init(&j, 0);
	assert_int_equal(buf_printf(&j, "{\"v\":1,\"id\":\"%s\",\"type\":"
	    "\"general\",\"title\":\"t\"%s%s}", id, *extra ? "," : "", extra),
	    0);
	if (event_parse(topic, strlen(topic), j.data, j.len, &rules, &ev,
	    &ee) == -1)
		fail_msg("event_parse %s %s: %s: %s: %s", topic, j.data,
		    ee.code, ee.field, ee.message);
	memset(a, 0, sizeof(*a));
	a->count = a->max_row = -1;
	assert_int_equal(journal_txn(t->jr), 0);
	assert_int_equal(audience_count(t->aud, &ev, topic, &a->count,
	    &a->max_row), 0);
	memset(&je, 0, sizeof(je));
	je.post = POST;
	je.event_id = ev.id;
	je.topic = topic;
	je.type = ev.type;
	je.priority = ev.priority;
	je.status = event_status_name(ev.status);
	je.sha256 = ev.sha256;
	je.doc = ev.canonical;
	je.doc_len = ev.canonical_len;
	je.source = "router";
	je.seq = ev.seq;
	je.received_ms = now;
	je.not_before_ms = ev.not_before_ms;
	je.expires_at_ms = ev.expires_at_ms;
	je.replaces = ev.replaces;
	je.cancel = ev.cancel;
	je.recipients = a->count;
	je.audience_max = a->max_row;
	assert_int_equal(journal_event_store(t->jr, &je, &rcpt, &a->row),
	    JOURNAL_STORED);
	assert_int_equal(rcpt, a->count);
	if (ev.replaces != NULL) {
		a->replaced = audience_replace(t->aud, POST, ev.replaces, now);
		assert_true(a->replaced >= 0);
	}
	if (a->count > 0)
		audience_wake(t->aud);
	assert_int_equal(journal_commit(t->jr), 0);
	a->priority = ev.priority;
	a->not_before = ev.not_before_ms;
	event_clear(&ev);
	buf_free(&j);
}

/* One fan-out step in its own turn; returns what the step made. */
static int
fanout_step(struct ta *t, int max_contacts, int64_t now)
{
	int	n;

	assert_int_equal(journal_txn(t->jr), 0);
	n = audience_fanout_step(t->aud, now, max_contacts);
	assert_true(n >= 0);
	assert_int_equal(journal_commit(t->jr), 0);
	return n;
}

/* Step until nothing is pending; returns the number of steps, *made the
 * deliveries they made. */
static int
fanout_all(struct ta *t, int max_contacts, int64_t now, int64_t *made)
{
	int	steps = 0;

	*made = 0;
	while (audience_pending(t->aud)) {
		if (++steps > 10000)
			fail_msg("fan-out does not end");
		*made += fanout_step(t, max_contacts, now);
	}
	return steps;
}

/* The deliveries of event row ev as "id:channel:state,..." sorted by
 * contact id and channel (caller frees). */
static char *
got(struct ta *t, int64_t ev)
{
	struct buf	 b;
	sqlite3_stmt	*st;
	int		 rc;

	buf_init(&b, 0);
	assert_int_equal(sqlite3_prepare_v2(t->db, "SELECT c.ext_id,"
	    " d.channel, d.state FROM deliveries d JOIN contacts c ON"
	    " c.id = d.contact WHERE d.event = ?1 ORDER BY c.ext_id,"
	    " d.channel", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, ev);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		buf_printf(&b, "%s%s:%s:%s", b.len ? "," : "",
		    (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    (const char *)sqlite3_column_text(st, 2));
	assert_int_equal(rc, SQLITE_DONE);
	sqlite3_finalize(st);
	return buf_release(&b);
}

struct want_item {
	const char	*id;
	const char	*state;
};

static int
cmp_item(const void *a, const void *b)
{
	return strcmp(((const struct want_item *)a)->id,
	    ((const struct want_item *)b)->id);
}

/* The deliveries spec calls for, in the form got() gives: spec is
 * "id,id=state,..." (state pending when not given), and each contact has
 * one delivery per channel it has (caller frees). */
static char *
want(struct ta *t, const char *spec)
{
	struct want_item	 item[NFX];
	struct buf		 b;
	char			*s, *p, *eq;
	size_t			 n = 0, i;
	int			 k;

	buf_init(&b, 0);
	if ((s = strdup(spec)) == NULL)
		fail_msg("out of memory");
	for (p = strtok(s, ","); p != NULL; p = strtok(NULL, ",")) {
		if (n == NFX)
			fail_msg("spec too long: %s", spec);
		item[n].state = "pending";
		if ((eq = strchr(p, '=')) != NULL) {
			*eq = '\0';
			item[n].state = eq + 1;
		}
		item[n++].id = p;
	}
	qsort(item, n, sizeof(item[0]), cmp_item);
	for (i = 0; i < n; i++) {
		if ((k = fx_index(item[i].id)) == -1)
			fail_msg("no contact \"%s\" in the fixture",
			    item[i].id);
		if (i > 0 && strcmp(item[i - 1].id, item[i].id) == 0)
			fail_msg("contact \"%s\" twice in \"%s\"", item[i].id,
			    spec);
		if (t->email[k])
			buf_printf(&b, "%s%s:smtp:%s", b.len ? "," : "",
			    item[i].id, item[i].state);
		if (t->webhook[k])
			buf_printf(&b, "%s%s:webhook:%s", b.len ? "," : "",
			    item[i].id, item[i].state);
	}
	free(s);
	return buf_release(&b);
}

/* Compare the deliveries of ev with spec. */
static void
check_deliveries(struct ta *t, int64_t ev, const char *spec)
{
	char	*g = got(t, ev), *w = want(t, spec);

	assert_string_equal(g, w);
	free(g);
	free(w);
}

static int64_t
count_ids(const char *spec)
{
	int64_t	n;

	if (*spec == '\0')
		return 0;
	for (n = 1; *spec != '\0'; spec++)
		n += *spec == ',';
	return n;
}

static int64_t
top_row(struct ta *t)
{
	return sql_int(t, "SELECT max(id) FROM contacts");
}

/* One table row: acceptance, fan-out in slices of SLICE, deliveries. */
static void
test_row(void **state)
{
	struct ta		*t = *state;
	const struct aud_row	*r = t->row;
	struct acc		 a;
	int64_t			 made, want_steps;
	int			 steps;

	accept_event(t, r->topic, "e-1", r->extra, T_RECEIVED, &a);
	assert_int_equal(a.count, count_ids(r->expect));
	/* The highest row now; none for a cancel, whose audience is
	 * empty. */
	if (strstr(r->extra, "\"cancel\"") != NULL)
		assert_int_equal(a.max_row, 0);
	else {
		assert_int_equal(a.max_row, top_row(t));
		assert_int_equal(a.max_row, NFX);
	}
	assert_int_equal(audience_pending(t->aud), 1);

	steps = fanout_all(t, SLICE, T_FANOUT, &made);
	/* One step per slice, then one that finds nothing to do. */
	want_steps = (a.count > 0 ? (a.max_row + SLICE - 1) / SLICE : 0) + 1;
	assert_int_equal(steps, want_steps);
	assert_int_equal(audience_pending(t->aud), 0);
	check_deliveries(t, a.row, r->expect);
	assert_int_equal(made, sql_int(t, "SELECT count(*) FROM deliveries"));
	assert_int_equal(sql_int(t, "SELECT count(*) FROM deliveries WHERE"
	    " event <> %lld", (long long)a.row), 0);

	/* The event as stored, its cursor at the end. */
	assert_int_equal(sql_int(t, "SELECT recipients FROM events WHERE"
	    " id = %lld", (long long)a.row), a.count);
	assert_int_equal(sql_int(t, "SELECT audience_max FROM events WHERE"
	    " id = %lld", (long long)a.row), a.max_row);
	assert_int_equal(sql_int(t, "SELECT fanout_done FROM events WHERE"
	    " id = %lld", (long long)a.row), 1);
	if (a.count > 0)
		assert_int_equal(sql_int(t, "SELECT fanout_cursor FROM events"
		    " WHERE id = %lld", (long long)a.row), a.max_row);
	/* Each delivery carries the event's priority, is due at not_before
	 * (or at once), and was made now. */
	assert_int_equal(sql_int(t, "SELECT count(*) FROM deliveries WHERE"
	    " priority <> %d OR next_at <> %lld OR created_at <> %lld OR"
	    " updated_at <> %lld OR attempts <> 0", a.priority,
	    (long long)(a.not_before >= 0 ? a.not_before : T_FANOUT),
	    (long long)T_FANOUT, (long long)T_FANOUT), 0);
}

/* The same audience whatever the slice size, including 1, the directory's
 * size, and more. */
static void
test_slice_sizes(void **state)
{
	static const int	 sizes[] = { 1, 2, 3, 5, 21, 22, 23, 1000 };
	struct ta		*t = *state;
	struct acc		 a;
	int64_t			 made, total = 0;
	char			 id[32];
	size_t			 i;
	int			 steps;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(id, sizeof(id), "e-%zu", i);
		accept_event(t, "embassy.ph.berlin.town-hall", id,
		    "\"audience\":{\"countries\":[\"DE\"]}", T_RECEIVED, &a);
		assert_int_equal(a.count, 11);
		steps = fanout_all(t, sizes[i], T_FANOUT, &made);
		assert_int_equal(steps,
		    (a.max_row + sizes[i] - 1) / sizes[i] + 1);
		check_deliveries(t, a.row, "th,emb,ber,ber2,ber3,mun,mun2,"
		    "test1,multi,he,muc");
		total += made;
	}
	assert_int_equal(total, sql_int(t, "SELECT count(*) FROM deliveries"));
}

/* No contacts at all: nobody, and nothing to fan out. */
static void
test_empty_directory(void **state)
{
	struct ta	*t = *state;
	struct acc	 a;
	int64_t		 made;

	sql_exec(t, "DELETE FROM contacts");
	accept_event(t, "embassy.ph.berlin.town-hall", "e-1", "", T_RECEIVED,
	    &a);
	assert_int_equal(a.count, 0);
	assert_int_equal(a.max_row, 0);
	assert_int_equal(fanout_all(t, SLICE, T_FANOUT, &made), 1);
	assert_int_equal(made, 0);
}

/* Contacts that leave between acceptance and fan-out get "skipped";
 * also one that leaves while the fan-out runs, after its slice (still
 * pending: the sender checks again) and before it. */
static void
test_leave_after_count(void **state)
{
	struct ta	*t = *state;
	struct acc	 a;
	int64_t		 made;

	accept_event(t, "embassy.ph.berlin.town-hall", "e-1", "", T_RECEIVED,
	    &a);
	assert_int_equal(a.count, count_ids(ALL_TH));
	sql_exec(t, "UPDATE contacts SET status = 'unsubscribed', status_at ="
	    " %lld WHERE ext_id = 'ber'", (long long)T_RECEIVED + 1);
	sql_exec(t, "UPDATE contacts SET status = 'bounced', status_at ="
	    " %lld WHERE ext_id = 'ph'", (long long)T_RECEIVED + 2);
	/* The first slice: rows 1-3 (th, emb, ph). */
	assert_true(fanout_step(t, SLICE, T_FANOUT) >= 0);
	sql_exec(t, "UPDATE contacts SET status = 'unsubscribed', status_at ="
	    " %lld WHERE ext_id IN ('th', 'vie')", (long long)T_FANOUT + 1);
	fanout_all(t, SLICE, T_FANOUT + 2, &made);
	check_deliveries(t, a.row, "th,emb,ph=skipped,ber=skipped,ber2,ber3,"
	    "mun,mun2,vie=skipped,pt,test1,test2,multi,he,bare,muc");
}

/* NOTE (limitation, asserted as it is): status_at only tells that the
 * status changed after acceptance, not what it was then.  A contact
 * unsubscribed before acceptance (not counted) who subscribes again
 * before the fan-out gets a pending delivery, one more than recipients;
 * one bounced before and unsubscribed after gets a "skipped" one. */
static void
test_back_after_count(void **state)
{
	struct ta	*t = *state;
	struct acc	 a;
	int64_t		 made;

	accept_event(t, "embassy.ph.berlin.town-hall", "e-1", "", T_RECEIVED,
	    &a);
	assert_int_equal(a.count, count_ids(ALL_TH));
	sql_exec(t, "UPDATE contacts SET status = 'active', status_at = %lld"
	    " WHERE ext_id = 'unsub'", (long long)T_RECEIVED + 1);
	sql_exec(t, "UPDATE contacts SET status = 'unsubscribed', status_at ="
	    " %lld WHERE ext_id = 'bounce'", (long long)T_RECEIVED + 1);
	fanout_all(t, SLICE, T_FANOUT, &made);
	check_deliveries(t, a.row, ALL_TH ",unsub,bounce=skipped");
}

/* Contacts added after acceptance (row > audience_max) get nothing, before
 * the fan-out or while it runs; the next event reaches them. */
static void
test_added_after_acceptance(void **state)
{
	struct ta	*t = *state;
	struct acc	 a, b;
	int64_t		 made, late1, late2;

	accept_event(t, "embassy.ph.berlin.town-hall", "e-1", "", T_RECEIVED,
	    &a);
	put_contact(t, "late1", "\"subscriptions\":[\"embassy.\"]," EM,
	    T_RECEIVED + 1, NULL, NULL);
	late1 = sql_int(t, "SELECT id FROM contacts WHERE ext_id = 'late1'");
	assert_true(late1 > a.max_row);
	assert_true(fanout_step(t, SLICE, T_FANOUT) >= 0);
	put_contact(t, "late2", "\"subscriptions\":[\"embassy.ph.\"]," EM
	    "," WH, T_FANOUT + 1, NULL, NULL);
	late2 = sql_int(t, "SELECT id FROM contacts WHERE ext_id = 'late2'");
	fanout_all(t, SLICE, T_FANOUT + 2, &made);
	check_deliveries(t, a.row, ALL_TH);

	accept_event(t, "embassy.ph.berlin.town-hall", "e-2",
	    "\"audience\":{\"countries\":[\"AT\"]}", T_RECEIVED + 100, &b);
	assert_int_equal(b.max_row, late2);
	fanout_all(t, SLICE, T_FANOUT + 100, &made);
	/* late1 and late2 give no country: not AT. */
	check_deliveries(t, b.row, "ph,vie,pt,test2");
	accept_event(t, "embassy.ph.berlin.town-hall", "e-3", "",
	    T_RECEIVED + 200, &b);
	assert_int_equal(b.count, count_ids(ALL_TH) + 2);
	fanout_all(t, SLICE, T_FANOUT + 200, &made);
	assert_int_equal(sql_int(t, "SELECT count(*) FROM deliveries WHERE"
	    " event = %lld AND contact IN (%lld, %lld)", (long long)b.row,
	    (long long)late1, (long long)late2), 3);
}

/* A failed turn (rolled back, or its commit failed) and a restart resume
 * from the committed cursor: nobody skipped, nobody doubled. */
static void
test_resume(void **state)
{
	struct ta	*t = *state;
	struct acc	 a;
	char		 err[512] = "";
	int64_t		 made;

	accept_event(t, "embassy.ph.berlin.town-hall", "e-1", "", T_RECEIVED,
	    &a);
	assert_true(fanout_step(t, SLICE, T_FANOUT) >= 0);
	assert_int_equal(sql_int(t, "SELECT fanout_cursor FROM events"), 3);
	/* A turn that fails after the step. */
	assert_int_equal(journal_txn(t->jr), 0);
	assert_true(audience_fanout_step(t->aud, T_FANOUT, SLICE) > 0);
	journal_rollback(t->jr);
	assert_int_equal(sql_int(t, "SELECT fanout_cursor FROM events"), 3);
	/* A turn whose commit fails. */
	journal_fault_commits(t->jr, 1);
	assert_int_equal(journal_txn(t->jr), 0);
	assert_true(audience_fanout_step(t->aud, T_FANOUT, SLICE) > 0);
	assert_int_equal(journal_commit(t->jr), -1);
	assert_int_equal(sql_int(t, "SELECT fanout_cursor FROM events"), 3);
	assert_true(fanout_step(t, SLICE, T_FANOUT) > 0);
	assert_int_equal(sql_int(t, "SELECT fanout_cursor FROM events"), 6);
	/* A restart. */
	audience_free(t->aud);
	if ((t->aud = audience_new(t->jr, err, sizeof(err))) == NULL)
		fail_msg("audience_new: %s", err);
	assert_int_equal(audience_pending(t->aud), 1);
	fanout_all(t, SLICE, T_FANOUT, &made);
	check_deliveries(t, a.row, ALL_TH);
}

/* The most urgent event is fanned out first; the one it interrupted
 * resumes at its cursor. */
static void
test_priority(void **state)
{
	struct ta	*t = *state;
	struct acc	 lo, hi;
	int64_t		 made;

	accept_event(t, "embassy.ph.berlin.town-hall", "e-lo",
	    "\"priority\":\"low\"", T_RECEIVED, &lo);
	assert_true(fanout_step(t, SLICE, T_FANOUT) > 0);
	accept_event(t, "embassy.ph.bonn.general", "e-hi",
	    "\"priority\":\"critical\"", T_RECEIVED + 1, &hi);
	/* One slice of the urgent event (rows 1-3: emb and ph), none more of
	 * the other. */
	assert_true(fanout_step(t, SLICE, T_FANOUT) > 0);
	check_deliveries(t, lo.row, "th,emb,ph");
	check_deliveries(t, hi.row, "emb,ph");
	fanout_all(t, SLICE, T_FANOUT, &made);
	check_deliveries(t, lo.row, ALL_TH);
	check_deliveries(t, hi.row, ALL_PH);
}

/* Replacement: the earlier event's unsent deliveries are cancelled, sent
 * ones stay, its fan-out stops; the new event fans out. */
static void
test_replace(void **state)
{
	struct ta	*t = *state;
	struct acc	 a, b;
	int64_t		 made, n;

	accept_event(t, "embassy.ph.berlin.town-hall", "e-a", "", T_RECEIVED,
	    &a);
	fanout_all(t, SLICE, T_FANOUT, &made);
	n = made;
	sql_exec(t, "UPDATE deliveries SET state = 'sent' WHERE contact ="
	    " (SELECT id FROM contacts WHERE ext_id = 'th')");
	sql_exec(t, "UPDATE deliveries SET state = 'deferred' WHERE contact ="
	    " (SELECT id FROM contacts WHERE ext_id = 'emb')");
	accept_event(t, "embassy.ph.berlin.town-hall", "e-b",
	    "\"replaces\":\"e-a\"", T_RECEIVED + 100, &b);
	assert_int_equal(b.replaced, n - 1);	/* all but th's */
	assert_int_equal(b.count, a.count);
	check_deliveries(t, a.row, "th=sent,emb=cancelled,ph=cancelled,"
	    "ber=cancelled,ber2=cancelled,ber3=cancelled,mun=cancelled,"
	    "mun2=cancelled,vie=cancelled,pt=cancelled,test1=cancelled,"
	    "test2=cancelled,multi=cancelled,he=cancelled,bare=cancelled,"
	    "muc=cancelled");
	assert_int_equal(sql_int(t, "SELECT count(*) FROM deliveries WHERE"
	    " state = 'cancelled' AND (updated_at <> %lld OR last_error IS"
	    " NULL)", (long long)T_RECEIVED + 100), 0);
	fanout_all(t, SLICE, T_FANOUT + 100, &made);
	check_deliveries(t, b.row, ALL_TH);
	/* Replacing again cancels nothing more of e-a. */
	assert_int_equal(journal_txn(t->jr), 0);
	assert_int_equal(audience_replace(t->aud, POST, "e-a",
	    T_RECEIVED + 200), 0);
	assert_int_equal(journal_commit(t->jr), 0);
}

/* A cancel while the old event's fan-out runs: what was made is
 * cancelled, the rest never made; the cancel itself reaches nobody. */
static void
test_cancel_during_fanout(void **state)
{
	struct ta	*t = *state;
	struct acc	 a, b;
	int64_t		 made;

	accept_event(t, "embassy.ph.berlin.town-hall", "e-a", "", T_RECEIVED,
	    &a);
	assert_int_equal(fanout_step(t, SLICE, T_FANOUT), 3);	/* th emb ph */
	accept_event(t, "embassy.ph.berlin.town-hall", "e-b",
	    "\"replaces\":\"e-a\",\"cancel\":true", T_RECEIVED + 100, &b);
	assert_int_equal(b.count, 0);
	assert_int_equal(b.replaced, 3);
	assert_int_equal(sql_int(t, "SELECT fanout_done FROM events WHERE"
	    " id = %lld", (long long)a.row), 1);
	assert_int_equal(fanout_all(t, SLICE, T_FANOUT + 100, &made), 1);
	assert_int_equal(made, 0);
	check_deliveries(t, a.row, "th=cancelled,emb=cancelled,ph=cancelled");
	check_deliveries(t, b.row, "");
}

/* Nothing to replace: an id not stored (yet), or another post's. */
static void
test_replace_nothing(void **state)
{
	struct ta	*t = *state;
	struct acc	 a;
	int64_t		 made;

	accept_event(t, "embassy.ph.berlin.town-hall", "e-a", "", T_RECEIVED,
	    &a);
	fanout_all(t, SLICE, T_FANOUT, &made);
	assert_int_equal(journal_txn(t->jr), 0);
	assert_int_equal(audience_replace(t->aud, POST, "e-x", T_FANOUT), 0);
	assert_int_equal(audience_replace(t->aud, "ph-bonn", "e-a", T_FANOUT),
	    0);
	assert_int_equal(journal_commit(t->jr), 0);
	check_deliveries(t, a.row, ALL_TH);
}

/* Append "KEY":[VAL,VAL,...] (n times) to an audience object. */
static void
many(struct buf *b, int first, const char *key, const char *val, int n)
{
	int	i;

	buf_printf(b, "%s\"%s\":[", first ? "" : ",", key);
	for (i = 0; i < n; i++)
		buf_printf(b, "%s\"%s\"", i ? "," : "", val);
	buf_adds(b, "]");
}

/* Filters with the most values an event may give (EVENT_AUDIENCE_MAX):
 * each alone (all five together: test_all_filters_full). */
static void
test_many_values(void **state)
{
	static const struct {
		const char	*key;
		const char	*val;
		const char	*expect;
	} f[] = {
		{ "countries", "AT", "ph,vie,pt,test2" },
		{ "regions", "Vienna", "ph,vie,test2" },
		{ "cities", "vienna", "ph,vie,test2" },
		{ "languages", "en", "th,emb,ph,ber2,mun2,vie,test1,multi" },
		{ "tags", "students", "ber,mun,mun2,vie" },
	};
	struct ta	*t = *state;
	struct acc	 a;
	struct buf	 b;
	char		 id[32];
	int64_t		 made;
	size_t		 i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		buf_init(&b, 0);
		buf_adds(&b, "\"audience\":{");
		many(&b, 1, f[i].key, f[i].val, EVENT_AUDIENCE_MAX);
		buf_adds(&b, "}");
		assert_false(b.overflow);
		snprintf(id, sizeof(id), "e-%zu", i);
		accept_event(t, "embassy.ph.berlin.town-hall", id, b.data,
		    T_RECEIVED, &a);
		assert_int_equal(a.count, count_ids(f[i].expect));
		fanout_all(t, SLICE, T_FANOUT, &made);
		check_deliveries(t, a.row, f[i].expect);
		buf_free(&b);
	}
}

/* NOTE (gap, asserted as it is): a replacement or cancel that arrives
 * before the event it replaces (a publisher's retry after a lost send)
 * finds nothing to replace, and the old event, stored after it, is then
 * fanned out in full: the withdrawal is lost.  Nothing at acceptance looks
 * for a stored event that replaces the one being accepted. */
static void
test_replaced_before_stored(void **state)
{
	struct ta	*t = *state;
	struct acc	 a, b;
	int64_t		 made;

	accept_event(t, "embassy.ph.berlin.town-hall", "e-b",
	    "\"replaces\":\"e-a\",\"cancel\":true", T_RECEIVED, &b);
	assert_int_equal(b.replaced, 0);
	accept_event(t, "embassy.ph.berlin.town-hall", "e-a", "",
	    T_RECEIVED + 1, &a);
	assert_int_equal(a.count, count_ids(ALL_TH));
	fanout_all(t, SLICE, T_FANOUT, &made);
	check_deliveries(t, a.row, ALL_TH);
}

/* A contact holding every subscription that covers the topic is one
 * recipient: one delivery per channel, and what the steps say they made
 * is what is there. */
static void
test_overlapping_subscriptions(void **state)
{
	struct ta	*t = *state;
	struct acc	 a;
	int64_t		 made;

	put_contact(t, "all4", "\"subscriptions\":[\"embassy.\","
	    "\"embassy.ph.\",\"embassy.ph.berlin.\","
	    "\"embassy.ph.berlin.town-hall\"]," EM "," WH, T_CONTACTS, NULL,
	    NULL);
	accept_event(t, "embassy.ph.berlin.town-hall", "e-1", "", T_RECEIVED,
	    &a);
	assert_int_equal(a.count, count_ids(ALL_TH) + 1);
	fanout_all(t, SLICE, T_FANOUT, &made);
	assert_int_equal(sql_int(t, "SELECT count(*) FROM deliveries d JOIN"
	    " contacts c ON c.id = d.contact WHERE c.ext_id = 'all4'"), 2);
	assert_int_equal(sql_int(t, "SELECT count(DISTINCT channel) FROM"
	    " deliveries d JOIN contacts c ON c.id = d.contact WHERE"
	    " c.ext_id = 'all4'"), 2);
	assert_int_equal(made, sql_int(t, "SELECT count(*) FROM deliveries"));
	sql_exec(t, "DELETE FROM contacts WHERE ext_id = 'all4'");
	check_deliveries(t, a.row, ALL_TH);
}

/* All five filters at EVENT_AUDIENCE_MAX values, the largest valid event
 * audience: every value needs a parameter slot (?1, ?2, a topic's 4
 * prefixes and 1280 values) and the statement must fit its buffer. */
static void
test_all_filters_full(void **state)
{
	static const char *const f[][2] = {
		{ "countries", "AT" }, { "regions", "Vienna" },
		{ "cities", "vienna" }, { "languages", "en" },
		{ "tags", "students" },
	};
	struct ta	*t = *state;
	struct acc	 a;
	struct buf	 b;
	int64_t		 made;
	size_t		 i;

	buf_init(&b, 0);
	buf_adds(&b, "\"audience\":{");
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		many(&b, i == 0, f[i][0], f[i][1], EVENT_AUDIENCE_MAX);
	buf_adds(&b, "}");
	accept_event(t, "embassy.ph.berlin.town-hall", "e-all", b.data,
	    T_RECEIVED, &a);
	assert_int_equal(a.count, 1);
	fanout_all(t, SLICE, T_FANOUT, &made);
	check_deliveries(t, a.row, "vie");
	buf_free(&b);
}

static const struct CMUnitTest extras[] = {
	cmocka_unit_test_setup_teardown(test_slice_sizes, setup, teardown),
	cmocka_unit_test_setup_teardown(test_many_values, setup, teardown),
	cmocka_unit_test_setup_teardown(test_empty_directory, setup,
	    teardown),
	cmocka_unit_test_setup_teardown(test_leave_after_count, setup,
	    teardown),
	cmocka_unit_test_setup_teardown(test_back_after_count, setup,
	    teardown),
	cmocka_unit_test_setup_teardown(test_added_after_acceptance, setup,
	    teardown),
	cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
	cmocka_unit_test_setup_teardown(test_priority, setup, teardown),
	cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
	cmocka_unit_test_setup_teardown(test_cancel_during_fanout, setup,
	    teardown),
	cmocka_unit_test_setup_teardown(test_replace_nothing, setup,
	    teardown),
	cmocka_unit_test_setup_teardown(test_replaced_before_stored, setup,
	    teardown),
	cmocka_unit_test_setup_teardown(test_overlapping_subscriptions, setup,
	    teardown),
	/* Last: the ASan build aborts in it. */
	cmocka_unit_test_setup_teardown(test_all_filters_full, setup,
	    teardown),
};
#define NEXTRAS	(sizeof(extras) / sizeof(extras[0]))

int
main(void)
{
	static struct CMUnitTest	 tests[NROWS + NEXTRAS];
	size_t				 i;

	log_init("test_audience");
	log_set_level(LOG_LEVEL_WARNING);
	/* One test per table row, each on a fresh journal. */
	for (i = 0; i < NROWS; i++) {
		tests[i].name = rows[i].name;
		tests[i].test_func = test_row;
		tests[i].setup_func = setup;
		tests[i].teardown_func = teardown;
		tests[i].initial_state = (void *)&rows[i];
	}
	for (i = 0; i < NEXTRAS; i++)
		tests[NROWS + i] = extras[i];
	return cmocka_run_group_tests_name("audience", tests, NULL, NULL) != 0;
}
