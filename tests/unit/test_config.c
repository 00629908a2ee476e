/* test_config.c - the configuration and allow-list loaders: tables of
 * file texts with the error each must give (or none), the values a good
 * file yields, the shipped example files, and the allow-list's look-ups,
 * quota buckets and carry-over.  Files are written to a mkdtemp directory
 * under /tmp, removed at the end. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "acl.h"
#include "buf.h"
#include "config.h"
#include "log.h"
#include "priority.h"

/* Keys generated with zmq_curve_keypair for these tests. */
#define K1	":whM*>b6wx1o=pHB!6GzA.j<gu*VaM>0Y-W2=Ts."
#define K2	")NY^l2yAbtX9J=qFoh1dS{T0zGFoV58j#]rq&u&S"
#define K3	"P?)w$DFS2a+Lt4&nWyH}W1U-2?/AI-Mpkyo[!C7I"
#define K4	"tZe5CH%3jBnN@@]@r7UYDt<)F[}>^1kd3Vw!Jvtw"
#define KBAD	"~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~"

static char	g_dir[PATH_MAX];	/* realpath of the mkdtemp directory */
static char	g_cfgpath[PATH_MAX + 16];
static char	g_aclpath[PATH_MAX + 16];

/* One line each, so that line numbers in the table are known: daemon on
 * line 1, ingest on 2, posts on 3, anything appended from line 4. */
#define D_WITH(x)	"daemon: { state_dir = \"state\"; " x " };\n"
#define D		D_WITH("")
#define I_WITH(x)	"ingest: { allow_list = \"publishers.conf\"; " x \
			" endpoints = ( { bind = \"tcp://127.0.0.1:7450\"; } ); };\n"
#define I		I_WITH("")
#define I_EP(x)		"ingest: { allow_list = \"publishers.conf\"; " \
			"endpoints = ( " x " ); };\n"
#define I_FEED(x)	"ingest: { allow_list = \"publishers.conf\"; " \
			"feeds = ( " x " ); };\n"
#define P_WITH(x)	"posts = ( { id = \"ph-berlin\"; name = \"Embassy\"; " \
			"lang = \"en\"; " x " } );\n"
#define P		P_WITH("")
#define P2		"posts = ( { id = \"ph-berlin\"; name = \"Embassy\"; " \
			"lang = \"en\"; }, { id = \"ph-frankfurt\"; name = " \
			"\"Consulate\"; lang = \"en\"; } );\n"

struct row {
	const char	*name;
	const char	*text;
	const char	*expect;	/* substring of the error; NULL: loads */
};

static const struct row cfg_rows[] = {
	{ "minimal", D I P, NULL },
	{ "two posts", D I P2, NULL },
	{ "journal", D I P "journal: { max_size = 1048576; "
	    "checkpoint_interval_ms = 100; };\n", NULL },
	{ "int64 max_size", D I P "journal: { max_size = 8589934592L; };\n",
	    NULL },
	{ "empty file", "", "cfg.conf: daemon: missing; expected a group" },

	/* Parse errors. */
	{ "syntax", D "ingest: { allow_list = ; };\n" P,
	    "cfg.conf:2: syntax error" },
	{ "duplicate setting", D_WITH("state_dir = \"x\";") I P,
	    "cfg.conf:1: duplicate setting name" },
	{ "include", D I P "@include \"other.conf\"\n",
	    "cfg.conf:4: @include is not supported" },
	{ "int wraps", D I P "journal: { max_size = 5000000000; };\n",
	    "cfg.conf:4: integer 5000000000 does not fit in 32 bits" },
	{ "hex wraps", D_WITH("shutdown_timeout_ms = 0xFFFFFFFF;") I P,
	    "cfg.conf:1: integer 0xFFFFFFFF does not fit" },
	{ "big int in comment", D I P "# 9999999999\n/* 9999999999 */\n"
	    "// 0xffffffffff\n", NULL },
	{ "big int in string", D_WITH("runtime_dir = \"9999999999\";") I P,
	    NULL },
	{ "big float", D I P "journal: { max_size = 99999999999.5; };\n",
	    "cfg.conf:4: journal.max_size: is a floating-point number" },
	{ "string open", D "ingest: { allow_list = \"publishers.conf;\n"
	    "endpoints = (); };\n" P,
	    "cfg.conf:2: a string is not closed on its line" },
	{ "string open at end", D I P "journal: { x = \"abc",
	    "cfg.conf:4: a string is not closed; expected a \"" },
	{ "string misplaced", D I P "journal: { max_size = 0 \"x\"; };\n",
	    "cfg.conf:4: syntax error: a string where none is expected" },
	{ "string after comma in group", D I P "journal: { max_size = 0, "
	    "\"x\" };\n", "cfg.conf:4: syntax error" },
	{ "string list ok", D I_WITH("types = [ \"crisis\",\n\"culture\" ];")
	    P, NULL },
	{ "deep nesting", D I P "x = ((((((((((((((((((((((((((((((((((((((("
	    "((((((((((((((((((((((((((((((((((((((((()))))))))))))))))))))))"
	    "))))))))))))))))))))))))))))))))))))))))))))))))))))))))));\n",
	    "cfg.conf:4: nested more than 64 levels deep" },
	{ "string NUL", D_WITH("runtime_dir = \"a\\x00b\";") I P,
	    "cfg.conf:1: a string holds \\x00" },

	/* Unknown keys at every level. */
	{ "unknown top", D I P "colour = \"red\";\n",
	    "cfg.conf:4: colour: unknown key; expected one of daemon, ingest, "
	    "journal, notices, posts, tls, smtp, webhooks or delivery" },

	/* Delivery: tls, smtp, webhooks, delivery. */
	{ "relay minimal", D I P "smtp: { relays = ( { name = \"r1\"; "
	    "host = \"127.0.0.1\"; } ); };\n", NULL },
	{ "relay full", D I P "smtp: { relays = ( { name = \"r1\"; "
	    "host = \"smtp.example.org\"; port = 465; tls = \"tls\"; "
	    "helo = \"outreach.example.org\"; ca_file = \"publishers.conf\"; "
	    "max_connections = 8; max_messages_per_connection = 100; "
	    "rate = 50; timeout_ms = 5000; } ); };\n", NULL },
	{ "relay plaintext", D I P "smtp: { relays = ( { name = \"r1\"; "
	    "host = \"127.0.0.1\"; tls = \"none\"; } ); };\n",
	    "cfg.conf:4: smtp.relays[0].tls: \"none\" is not a TLS mode; "
	    "expected \"starttls\" (port 587) or \"tls\"" },
	{ "relay bad host", D I P "smtp: { relays = ( { name = \"r1\"; "
	    "host = \"smtp example\"; } ); };\n",
	    "cfg.conf:4: smtp.relays[0].host: \"smtp example\" is not a host "
	    "name or IP address" },
	{ "relay twice", D I P "smtp: { relays = ( { name = \"r1\"; "
	    "host = \"a.example\"; }, { name = \"r1\"; host = "
	    "\"b.example\"; } ); };\n",
	    "cfg.conf:4: smtp.relays[1].name: \"r1\" is given twice" },
	{ "relay no list", D I P "smtp: { };\n",
	    "cfg.conf:4: smtp.relays: missing" },
	{ "relay empty", D I P "smtp: { relays = ( ); };\n",
	    "cfg.conf:4: smtp.relays: is empty" },
	{ "relay unknown key", D I P "smtp: { relays = ( { name = \"r1\"; "
	    "host = \"a.example\"; password = \"x\"; } ); };\n",
	    "cfg.conf:4: smtp.relays[0].password: unknown key" },
	{ "relay credential world-readable", D I P "smtp: { relays = ( { "
	    "name = \"r1\"; host = \"a.example\"; credential = "
	    "\"publishers.conf\"; } ); };\n", "is readable by anyone" },
	{ "relay credential missing", D I P "smtp: { relays = ( { "
	    "name = \"r1\"; host = \"a.example\"; credential = "
	    "\"nothere\"; } ); };\n",
	    "smtp.relays[0].credential: \"" },
	{ "relay port range", D I P "smtp: { relays = ( { name = \"r1\"; "
	    "host = \"a.example\"; port = 70000; } ); };\n",
	    "cfg.conf:4: smtp.relays[0].port: 70000 is out of range" },
	{ "tls files", D I P "tls: { ca_file = \"publishers.conf\"; };\n",
	    NULL },
	{ "tls missing ca", D I P "tls: { ca_file = \"nothere.pem\"; };\n",
	    "cfg.conf:4: tls.ca_file: \"" },
	{ "tls key alone", D I P "tls: { key_file = \"publishers.conf\"; "
	    "};\n", "key_file without cert_file" },
	{ "webhooks flags", D I P "webhooks: { allow_loopback = true; "
	    "allow_private = false; max_connections_per_host = 4; "
	    "rate_per_host = 100; timeout_ms = 2000; retry_after_max_s = 60; "
	    "};\n", NULL },
	{ "webhooks bool type", D I P "webhooks: { allow_loopback = 1; };\n",
	    "cfg.conf:4: webhooks.allow_loopback: is an integer; expected true "
	    "or false" },
	{ "webhooks secret world-readable", D I P "webhooks: { secret_file "
	    "= \"publishers.conf\"; };\n", "is readable by anyone" },
	{ "delivery", D I P "delivery: { batch = 100; max_in_flight = 500; "
	    "lifetime_s = { critical = 3600; }; retry_first_ms = { normal = "
	    "100; }; retry_max_ms = { normal = 1000; }; };\n", NULL },
	{ "delivery bad priority", D I P "delivery: { lifetime_s = { urgent = "
	    "1; }; };\n", "cfg.conf:4: delivery.lifetime_s.urgent: unknown "
	    "key" },
	{ "delivery max below first", D I P "delivery: { retry_first_ms = { "
	    "low = 5000; }; retry_max_ms = { low = 100; }; };\n",
	    "delivery.retry_max_ms: low: 100 is below retry_first_ms (5000)" },
	{ "unknown notices", D I P "notices: { colour = 1; };\n",
	    "cfg.conf:4: notices.colour: unknown key" },
	{ "notices from", D I P "notices: { from = \"no-at-sign\"; };\n",
	    "cfg.conf:4: notices.from: is not a plain address" },
	{ "notices from spaces", D I P
	    "notices: { from = \"a b@example.org\"; };\n",
	    "cfg.conf:4: notices.from: is not a plain address" },
	{ "notices domain", D I P
	    "notices: { message_id_domain = \"-bad.example\"; };\n",
	    "cfg.conf:4: notices.message_id_domain: \"-bad.example\" is not a "
	    "host name" },
	{ "notices unsubscribe http", D I P
	    "notices: { unsubscribe_url = \"http://x.example/u?t=\"; };\n",
	    "cfg.conf:4: notices.unsubscribe_url: is not an https URL prefix" },
	{ "notices mailto", D I P
	    "notices: { unsubscribe_mailto = \"x\"; };\n",
	    "cfg.conf:4: notices.unsubscribe_mailto: is not a plain address" },
	{ "notices ok", D I P "notices: { templates_dir = \"tpl\"; "
	    "from = \"noreply@outreach.example.org\"; message_id_domain = "
	    "\"outreach.example.org\"; unsubscribe_url = "
	    "\"https://outreach.example.org/u?t=\"; unsubscribe_mailto = "
	    "\"unsubscribe@outreach.example.org\"; };\n", NULL },
	{ "unknown daemon", D_WITH("colour = 1;") I P,
	    "cfg.conf:1: daemon.colour: unknown key" },
	{ "unknown ingest", D I_WITH("colour = 1;") P,
	    "cfg.conf:2: ingest.colour: unknown key" },
	{ "unknown journal", D I P "journal: {\n  size = 1;\n};\n",
	    "cfg.conf:5: journal.size: unknown key" },
	{ "unknown endpoint", D I_EP("{ bind = \"tcp://127.0.0.1:1\"; "
	    "port = 1; }") P, "cfg.conf:2: ingest.endpoints[0].port: unknown "
	    "key; expected one of bind, security or post" },
	{ "unknown endpoint 2", D I_EP("{ bind = \"tcp://127.0.0.1:1\"; }, "
	    "{ bind = \"tcp://127.0.0.1:2\"; x = 1; }") P,
	    "cfg.conf:2: ingest.endpoints[1].x: unknown key" },
	{ "unknown feed", D I_FEED("{ name = \"a\"; connect = "
	    "\"tcp://127.0.0.1:1\"; post = \"ph-berlin\"; security = \"none\"; "
	    "hwm = 5; }") P, "cfg.conf:2: ingest.feeds[0].hwm: unknown key" },
	{ "unknown post", D I P_WITH("fax = \"1\";"),
	    "cfg.conf:3: posts[0].fax: unknown key" },

	/* Wrong types. */
	{ "group scalar", "daemon = 1;\n" I P,
	    "cfg.conf:1: daemon: is an integer; expected a group" },
	{ "string int", "daemon: { state_dir = 5; };\n" I P,
	    "cfg.conf:1: daemon.state_dir: is an integer; expected a string" },
	{ "string bool", D_WITH("log_level = true;") I P,
	    "cfg.conf:1: daemon.log_level: is a boolean; expected a string" },
	{ "int string", D_WITH("shutdown_timeout_ms = \"10\";") I P,
	    "cfg.conf:1: daemon.shutdown_timeout_ms: is a string; expected an "
	    "integer in 100..600000" },
	{ "int float", D I_WITH("batch_max = 1.5;") P,
	    "cfg.conf:2: ingest.batch_max: is a floating-point number; "
	    "expected an integer in 1..65536" },
	{ "list array", D "ingest: { allow_list = \"publishers.conf\"; "
	    "endpoints = [ \"x\" ]; };\n" P,
	    "cfg.conf:2: ingest.endpoints: is an array [ ]; expected a list" },
	{ "array string", D I_WITH("prefixes = \"embassy.\";") P,
	    "cfg.conf:2: ingest.prefixes: is a string; expected an array of "
	    "strings" },
	{ "array elements", D I_WITH("types = [ 1, 2 ];") P,
	    "cfg.conf:2: ingest.types[0]: is an integer; expected a string" },
	{ "list element", D I "posts = ( \"ph-berlin\" );\n",
	    "cfg.conf:3: posts[0]: is a string; expected a group" },
	{ "endpoint element", D I_EP("\"tcp://127.0.0.1:1\"") P,
	    "cfg.conf:2: ingest.endpoints[0]: is a string; expected a group" },
	{ "posts group", D I "posts: { id = \"x\"; };\n",
	    "cfg.conf:3: posts: is a group { }; expected a list" },
	{ "max_size string", D I P "journal: { max_size = \"1G\"; };\n",
	    "cfg.conf:4: journal.max_size: is a string" },

	/* Out of range. */
	{ "shutdown low", D_WITH("shutdown_timeout_ms = 99;") I P,
	    "cfg.conf:1: daemon.shutdown_timeout_ms: 99 is out of range; "
	    "expected an integer in 100..600000" },
	{ "shutdown high", D_WITH("shutdown_timeout_ms = 600001;") I P,
	    "daemon.shutdown_timeout_ms: 600001 is out of range" },
	{ "max_event_bytes low", D I_WITH("max_event_bytes = 1023;") P,
	    "cfg.conf:2: ingest.max_event_bytes: 1023 is out of range; "
	    "expected an integer in 1024..1048576" },
	{ "max_event_bytes high", D I_WITH("max_event_bytes = 1048577;") P,
	    "ingest.max_event_bytes: 1048577 is out of range" },
	{ "batch_max low", D I_WITH("batch_max = 0;") P,
	    "ingest.batch_max: 0 is out of range; expected an integer in "
	    "1..65536" },
	{ "batch_max high", D I_WITH("batch_max = 65537;") P,
	    "ingest.batch_max: 65537 is out of range" },
	{ "max_size small", D I P "journal: { max_size = 1048575; };\n",
	    "cfg.conf:4: journal.max_size: 1048575 is too small; expected 0 "
	    "(no limit) or at least 1048576" },
	{ "max_size negative", D I P "journal: { max_size = -1; };\n",
	    "cfg.conf:4: journal.max_size: -1 is out of range" },
	{ "checkpoint low", D I P "journal: { checkpoint_interval_ms = 99; };\n",
	    "journal.checkpoint_interval_ms: 99 is out of range; expected an "
	    "integer in 100..600000" },
	{ "checkpoint high", D I P
	    "journal: { checkpoint_interval_ms = 600001; };\n",
	    "journal.checkpoint_interval_ms: 600001 is out of range" },

	/* Missing required keys: the line is the enclosing group's. */
	{ "no daemon", I P, "cfg.conf: daemon: missing; expected a group" },
	{ "no state_dir", "daemon: {\n  log_level = \"info\";\n};\n" I P,
	    "cfg.conf:1: daemon.state_dir: missing; expected a string" },
	{ "no ingest", D P, "cfg.conf: ingest: missing" },
	{ "no allow_list", D "ingest: { endpoints = ( { bind = "
	    "\"tcp://127.0.0.1:1\"; } ); };\n" P,
	    "cfg.conf:2: ingest.allow_list: missing; expected a string" },
	{ "no posts", D I, "cfg.conf: posts: missing; expected a list" },
	{ "empty posts", D I "posts = ( );\n",
	    "cfg.conf:3: posts: is empty; expected at least one post" },
	{ "no post name", D I "posts = ( { id = \"a\"; lang = \"en\"; } );\n",
	    "cfg.conf:3: posts[0].name: missing" },
	{ "no post lang", D I "posts = ( { id = \"a\"; name = \"A\"; } );\n",
	    "cfg.conf:3: posts[0].lang: missing" },
	{ "no post id", D I "posts = ( { name = \"A\"; lang = \"en\"; } );\n",
	    "cfg.conf:3: posts[0].id: missing" },
	{ "no intake", D "ingest: { allow_list = \"publishers.conf\"; };\n" P,
	    "cfg.conf:2: ingest: has no endpoints and no feeds" },
	{ "empty intake", D "ingest: { allow_list = \"publishers.conf\"; "
	    "endpoints = (); feeds = (); };\n" P,
	    "cfg.conf:2: ingest: has no endpoints and no feeds" },
	{ "no bind", D I_EP("{ security = \"curve\"; }") P,
	    "cfg.conf:2: ingest.endpoints[0].bind: missing" },
	{ "no feed connect", D I_FEED("{ name = \"a\"; post = \"ph-berlin\"; }")
	    P, "cfg.conf:2: ingest.feeds[0].connect: missing" },
	{ "no feed post", D I_FEED("{ name = \"a\"; connect = "
	    "\"tcp://127.0.0.1:1\"; }") P,
	    "cfg.conf:2: ingest.feeds[0].post: missing" },
	{ "no feed name", D I_FEED("{ connect = \"tcp://127.0.0.1:1\"; }") P,
	    "cfg.conf:2: ingest.feeds[0].name: missing" },

	/* Files and directories. */
	{ "allow_list missing", D "ingest: { allow_list = \"nope.conf\"; "
	    "endpoints = ( { bind = \"tcp://127.0.0.1:1\"; } ); };\n" P,
	    "/nope.conf\": No such file or directory; expected the publishers' "
	    "allow-list file" },
	{ "allow_list dir", D "ingest: { allow_list = \"keys\"; "
	    "endpoints = ( { bind = \"tcp://127.0.0.1:1\"; } ); };\n" P,
	    "cfg.conf:2: ingest.allow_list: " },
	{ "curve_secret_file missing", D
	    I_WITH("curve_secret_file = \"keys/nope.key\";") P,
	    "cfg.conf:2: ingest.curve_secret_file: " },
	{ "curve_secret_file ok", D
	    I_WITH("curve_secret_file = \"keys/server.key\";") P, NULL },
	{ "state_dir parent", "daemon: { state_dir = \"no/such/state\"; };\n"
	    I P, "cfg.conf:1: daemon.state_dir: parent directory" },
	{ "state_dir file", "daemon: { state_dir = \"publishers.conf\"; };\n"
	    I P, "cfg.conf:1: daemon.state_dir: " },
	{ "state_dir exists", "daemon: { state_dir = \"keys\"; };\n" I P, NULL },
	{ "control_group unknown", D_WITH("control_group = "
	    "\"no-such-group-xq\";") I P, "cfg.conf:1: daemon.control_group: "
	    "no group \"no-such-group-xq\"" },
	{ "control_group root", D_WITH("control_group = \"root\";") I P, NULL },
	{ "log_level bad", D_WITH("log_level = \"loud\";") I P,
	    "cfg.conf:1: daemon.log_level: \"loud\" is not a log level" },
	{ "runtime_dir empty", D_WITH("runtime_dir = \"\";") I P,
	    "cfg.conf:1: daemon.runtime_dir: is empty" },

	/* Prefixes and types. */
	{ "prefix bad", D I_WITH("prefixes = [ \"embassy\" ];") P,
	    "cfg.conf:2: ingest.prefixes[0]: \"embassy\" is not a topic prefix" },
	{ "prefix bad 2", D I_WITH("prefixes = [ \"embassy.\", \"foo.\" ];") P,
	    "ingest.prefixes[1]: \"foo.\" is not a topic prefix" },
	{ "prefix topic", D I_WITH("prefixes = [ "
	    "\"embassy.ph.berlin.crisis\" ];") P, NULL },
	{ "prefix empty", D I_WITH("prefixes = [ ];") P,
	    "cfg.conf:2: ingest.prefixes: is empty" },
	{ "type slug", D I_WITH("types = [ \"Crisis\" ];") P,
	    "cfg.conf:2: ingest.types[0]: \"Crisis\" is not an event type slug" },
	{ "type twice", D I_WITH("types = [ \"crisis\", \"culture\", "
	    "\"crisis\" ];") P,
	    "cfg.conf:2: ingest.types[2]: \"crisis\" is given twice" },

	/* Endpoints. */
	{ "none loopback", D I_EP("{ bind = \"tcp://127.0.0.1:7451\"; "
	    "security = \"none\"; post = \"ph-berlin\"; }") P, NULL },
	{ "none 127 other", D I_EP("{ bind = \"tcp://127.1.2.3:7451\"; "
	    "security = \"none\"; post = \"ph-berlin\"; }") P, NULL },
	{ "none v6", D I_EP("{ bind = \"tcp://[::1]:7451\"; "
	    "security = \"none\"; post = \"ph-berlin\"; }") P, NULL },
	{ "none localhost", D I_EP("{ bind = \"tcp://localhost:7451\"; "
	    "security = \"none\"; post = \"ph-berlin\"; }") P, NULL },
	{ "none ipc", D I_EP("{ bind = \"ipc://local.sock\"; "
	    "security = \"none\"; post = \"ph-berlin\"; }") P, NULL },
	{ "none any", D I_EP("{ bind = \"tcp://0.0.0.0:7451\"; "
	    "security = \"none\"; post = \"ph-berlin\"; }") P,
	    "cfg.conf:2: ingest.endpoints[0].security: \"none\" on a "
	    "non-loopback address" },
	{ "none star", D I_EP("{ bind = \"tcp://*:7451\"; "
	    "security = \"none\"; post = \"ph-berlin\"; }") P,
	    "ingest.endpoints[0].security: \"none\" on a non-loopback" },
	{ "none 128", D I_EP("{ bind = \"tcp://128.0.0.1:7451\"; "
	    "security = \"none\"; post = \"ph-berlin\"; }") P,
	    "ingest.endpoints[0].security: \"none\" on a non-loopback" },
	{ "none 127 bad", D I_EP("{ bind = \"tcp://127.0.0.256:7451\"; "
	    "security = \"none\"; post = \"ph-berlin\"; }") P,
	    "ingest.endpoints[0].security: \"none\" on a non-loopback" },
	{ "none 127 suffix", D I_EP("{ bind = "
	    "\"tcp://127.0.0.1.example.org:7451\"; security = \"none\"; "
	    "post = \"ph-berlin\"; }") P,
	    "ingest.endpoints[0].security: \"none\" on a non-loopback" },
	{ "none without post", D I_EP("{ bind = \"tcp://127.0.0.1:7451\"; "
	    "security = \"none\"; }") P,
	    "cfg.conf:2: ingest.endpoints[0].post: missing; expected the id of "
	    "the post" },
	{ "none unknown post", D I_EP("{ bind = \"tcp://127.0.0.1:7451\"; "
	    "security = \"none\"; post = \"ph-paris\"; }") P,
	    "cfg.conf:2: ingest.endpoints[0].post: no post \"ph-paris\"" },
	{ "curve with post", D I_EP("{ bind = \"tcp://127.0.0.1:7451\"; "
	    "post = \"ph-berlin\"; }") P,
	    "cfg.conf:2: ingest.endpoints[0].post: is only allowed with "
	    "security \"none\"" },
	{ "security bad", D I_EP("{ bind = \"tcp://127.0.0.1:7451\"; "
	    "security = \"tls\"; }") P,
	    "ingest.endpoints[0].security: \"tls\" is not a security mode" },
	{ "bind scheme", D I_EP("{ bind = \"udp://127.0.0.1:1\"; }") P,
	    "ingest.endpoints[0].bind: \"udp://127.0.0.1:1\" is not a ZeroMQ "
	    "address" },
	{ "bind no port", D I_EP("{ bind = \"tcp://127.0.0.1\"; }") P,
	    "ingest.endpoints[0].bind: \"tcp://127.0.0.1\" has no host or no "
	    "port" },
	{ "bind bad port", D I_EP("{ bind = \"tcp://127.0.0.1:99999\"; }") P,
	    "ingest.endpoints[0].bind: \"tcp://127.0.0.1:99999\" has no valid "
	    "port" },
	{ "bind star port", D I_EP("{ bind = \"tcp://*:*\"; }") P, NULL },
	{ "bind twice", D I_EP("{ bind = \"tcp://127.0.0.1:1\"; }, "
	    "{ bind = \"tcp://127.0.0.1:1\"; }") P,
	    "ingest.endpoints[1].bind: \"tcp://127.0.0.1:1\" is given twice" },
	{ "ipc empty", D I_EP("{ bind = \"ipc://\"; }") P,
	    "ingest.endpoints[0].bind: has no path" },
	{ "ipc long", D I_EP("{ bind = \"ipc:///"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"; }") P,
	    "ingest.endpoints[0].bind: path" },

	/* Feeds. */
	{ "feed curve", D I_FEED("{ name = \"berlin\"; connect = "
	    "\"tcp://cms.example.org:7460\"; post = \"ph-berlin\"; "
	    "server_key = \"" K2 "\"; }") P, NULL },
	{ "feed none loopback", D I_FEED("{ name = \"berlin\"; connect = "
	    "\"tcp://127.0.0.1:7460\"; post = \"ph-berlin\"; "
	    "security = \"none\"; }") P, NULL },
	{ "feed no server_key", D I_FEED("{ name = \"berlin\"; connect = "
	    "\"tcp://127.0.0.1:7460\"; post = \"ph-berlin\"; }") P,
	    "cfg.conf:2: ingest.feeds[0].server_key: missing; expected the "
	    "feed's CURVE server public key" },
	{ "feed bad z85", D I_FEED("{ name = \"berlin\"; connect = "
	    "\"tcp://127.0.0.1:7460\"; post = \"ph-berlin\"; server_key = \""
	    KBAD "\"; }") P,
	    "cfg.conf:2: ingest.feeds[0].server_key: is not a CURVE public key" },
	{ "feed short key", D I_FEED("{ name = \"berlin\"; connect = "
	    "\"tcp://127.0.0.1:7460\"; post = \"ph-berlin\"; server_key = "
	    "\"abc\"; }") P,
	    "ingest.feeds[0].server_key: is not a CURVE public key" },
	{ "feed none remote", D I_FEED("{ name = \"berlin\"; connect = "
	    "\"tcp://cms.example.org:7460\"; post = \"ph-berlin\"; "
	    "security = \"none\"; }") P,
	    "ingest.feeds[0].security: \"none\" on a non-loopback address" },
	{ "feed none key", D I_FEED("{ name = \"berlin\"; connect = "
	    "\"tcp://127.0.0.1:7460\"; post = \"ph-berlin\"; security = "
	    "\"none\"; server_key = \"" K2 "\"; }") P,
	    "ingest.feeds[0].server_key: is only used with security" },
	{ "feed unknown post", D I_FEED("{ name = \"berlin\"; connect = "
	    "\"tcp://127.0.0.1:7460\"; post = \"ph-paris\"; security = "
	    "\"none\"; }") P,
	    "cfg.conf:2: ingest.feeds[0].post: no post \"ph-paris\" in posts" },
	{ "feed name slug", D I_FEED("{ name = \"Berlin\"; connect = "
	    "\"tcp://127.0.0.1:7460\"; post = \"ph-berlin\"; security = "
	    "\"none\"; }") P,
	    "ingest.feeds[0].name: \"Berlin\" is not a slug" },
	{ "feed name twice", D I_FEED("{ name = \"b\"; connect = "
	    "\"tcp://127.0.0.1:7460\"; post = \"ph-berlin\"; security = "
	    "\"none\"; }, { name = \"b\"; connect = \"tcp://127.0.0.1:7461\"; "
	    "post = \"ph-berlin\"; security = \"none\"; }") P,
	    "ingest.feeds[1].name: \"b\" is given twice" },
	{ "feed connect star", D I_FEED("{ name = \"b\"; connect = "
	    "\"tcp://127.0.0.1:*\"; post = \"ph-berlin\"; security = "
	    "\"none\"; }") P, "ingest.feeds[0].connect: \"tcp://127.0.0.1:*\" "
	    "has no valid port" },

	/* Posts. */
	{ "post id twice", D I "posts = ( { id = \"ph-berlin\"; name = \"A\"; "
	    "lang = \"en\"; },\n { id = \"ph-berlin\"; name = \"B\"; lang = "
	    "\"en\"; } );\n", "cfg.conf:4: posts[1].id: \"ph-berlin\" is given "
	    "twice" },
	{ "post id slug", D I "posts = ( { id = \"PH Berlin\"; name = \"A\"; "
	    "lang = \"en\"; } );\n",
	    "cfg.conf:3: posts[0].id: \"PH Berlin\" is not a slug" },
	{ "lang bad", D I "posts = ( { id = \"a\"; name = \"A\"; "
	    "lang = \"en_US\"; } );\n",
	    "cfg.conf:3: posts[0].lang: \"en_US\" is not a BCP 47 language tag" },
	{ "lang bad 2", D I "posts = ( { id = \"a\"; name = \"A\"; "
	    "lang = \"e\"; } );\n", "posts[0].lang: \"e\" is not a BCP 47" },
	{ "lang bad 3", D I "posts = ( { id = \"a\"; name = \"A\"; "
	    "lang = \"en--US\"; } );\n", "posts[0].lang: \"en--US\" is not" },
	{ "lang und", D I "posts = ( { id = \"a\"; name = \"A\"; "
	    "lang = \"und\"; } );\n", "posts[0].lang: \"und\" is not" },
	{ "website http", D I P_WITH("website = \"http://example.org\";"),
	    "cfg.conf:3: posts[0].website: is not an https URL" },
	{ "website https", D I P_WITH("website = \"https://example.org\";"),
	    NULL },
	{ "email bad", D I P_WITH("email = \"nobody\";"),
	    "cfg.conf:3: posts[0].email: is not an e-mail address" },
	{ "name control", D I "posts = ( { id = \"a\"; name = \"Em\\tbassy\"; "
	    "lang = \"en\"; } );\n",
	    "cfg.conf:3: posts[0].name: holds invalid UTF-8 or a control "
	    "character" },
	{ "address newline", D I P_WITH("address = \"a\\nb\";"),
	    "posts[0].address: holds invalid UTF-8 or a control character" },
	{ "name bad utf8", D I "posts = ( { id = \"a\"; name = \"\\xff\"; "
	    "lang = \"en\"; } );\n", "posts[0].name: holds invalid UTF-8" },
	{ "bind control", D I_EP("{ bind = \"tcp://127.0.0.1:1\\r\"; }") P,
	    "ingest.endpoints[0].bind: holds invalid UTF-8 or a control" },
	{ "name empty", D I "posts = ( { id = \"a\"; name = \"\"; "
	    "lang = \"en\"; } );\n", "posts[0].name: is empty" },
	{ "name utf8", D I "posts = ( { id = \"a\"; name = "
	    "\"Embahada ng Pilipinas \xe2\x80\x94 Berlin\"; lang = \"fil\"; } );\n",
	    NULL },
};

static const struct row acl_rows[] = {
	{ "acl one", "publishers = ( { key = \"" K1 "\"; post = \"ph-berlin\"; "
	    "prefixes = [ \"embassy.ph.berlin.\" ]; } );\n", NULL },
	{ "acl full", "publishers = ( { key = \"" K1 "\"; post = \"ph-berlin\"; "
	    "prefixes = [ \"embassy.ph.berlin.\", \"embassy.ph.\" ]; "
	    "max_priority = \"critical\"; quota = { events = 1; seconds = "
	    "86400; }; comment = \"CMS\"; } );\n", NULL },
	{ "empty", "publishers = ( );\n", NULL },
	{ "empty file", "", "acl.conf: publishers: missing; expected a list" },
	{ "syntax", "publishers = ( { key = } );\n",
	    "acl.conf:1: syntax error" },
	{ "unknown top", "publishers = ( );\nsubscribers = ( );\n",
	    "acl.conf:2: subscribers: unknown key; expected publishers" },
	{ "not a list", "publishers = [ \"x\" ];\n",
	    "acl.conf:1: publishers: is an array [ ]; expected a list" },
	{ "not a group", "publishers = ( \"" K1 "\" );\n",
	    "acl.conf:1: publishers[0]: is not a group" },
	{ "unknown entry key", "publishers = (\n { key = \"" K1 "\"; post = "
	    "\"ph-berlin\"; prefixes = [ \"embassy.\" ]; colour = 1; } );\n",
	    "acl.conf:2: publishers[0].colour: unknown key" },
	{ "unknown quota key", "publishers = ( { key = \"" K1 "\"; post = "
	    "\"ph-berlin\"; prefixes = [ \"embassy.\" ];\n quota = { events = "
	    "1;\n burst = 2; }; } );\n",
	    "acl.conf:3: publishers[0].quota.burst: unknown key; expected one "
	    "of events or seconds" },
	{ "duplicate key", "publishers = (\n { key = \"" K1 "\"; post = "
	    "\"ph-berlin\"; prefixes = [ \"embassy.\" ]; },\n { key = \"" K2
	    "\"; post = \"ph-berlin\"; prefixes = [ \"embassy.\" ]; },\n"
	    " { key = \"" K1 "\"; post = \"ph-frankfurt\"; prefixes = "
	    "[ \"embassy.\" ]; } );\n",
	    "acl.conf:4: publishers[2].key: key " K1 " is given twice (also at "
	    "line 2)" },
	{ "bad key", "publishers = ( { key = \"" KBAD "\"; post = "
	    "\"ph-berlin\"; prefixes = [ \"embassy.\" ]; } );\n",
	    "acl.conf:1: publishers[0].key: is not a CURVE public key" },
	{ "short key", "publishers = ( { key = \"abc\"; post = "
	    "\"ph-berlin\"; prefixes = [ \"embassy.\" ]; } );\n",
	    "publishers[0].key: is not a CURVE public key" },
	{ "no key", "publishers = ( { post = \"ph-berlin\"; prefixes = "
	    "[ \"embassy.\" ]; } );\n", "acl.conf:1: publishers[0].key: missing" },
	{ "unknown post", "publishers = ( { key = \"" K1 "\"; post = "
	    "\"ph-paris\"; prefixes = [ \"embassy.\" ]; } );\n",
	    "acl.conf:1: publishers[0].post: no post \"ph-paris\"" },
	{ "no post", "publishers = ( { key = \"" K1 "\"; prefixes = "
	    "[ \"embassy.\" ]; } );\n", "publishers[0].post: missing" },
	{ "bad priority", "publishers = ( { key = \"" K1 "\"; post = "
	    "\"ph-berlin\"; prefixes = [ \"embassy.\" ]; max_priority = "
	    "\"urgent\"; } );\n", "acl.conf:1: publishers[0].max_priority: "
	    "\"urgent\" is not a priority; expected low, normal, high or "
	    "critical" },
	{ "quota events 0", "publishers = ( { key = \"" K1 "\"; post = "
	    "\"ph-berlin\"; prefixes = [ \"embassy.\" ]; quota = { events = 0; "
	    "}; } );\n", "acl.conf:1: publishers[0].quota.events: 0 is out of "
	    "range; expected an integer in 1..1000000" },
	{ "quota events high", "publishers = ( { key = \"" K1 "\"; post = "
	    "\"ph-berlin\"; prefixes = [ \"embassy.\" ]; quota = { events = "
	    "1000001; }; } );\n", "publishers[0].quota.events: 1000001 is out "
	    "of range" },
	{ "quota seconds 0", "publishers = ( { key = \"" K1 "\"; post = "
	    "\"ph-berlin\"; prefixes = [ \"embassy.\" ]; quota = { seconds = "
	    "0; }; } );\n", "publishers[0].quota.seconds: 0 is out of range; "
	    "expected an integer in 1..86400" },
	{ "quota seconds high", "publishers = ( { key = \"" K1 "\"; post = "
	    "\"ph-berlin\"; prefixes = [ \"embassy.\" ]; quota = { seconds = "
	    "86401; }; } );\n", "publishers[0].quota.seconds: 86401 is out" },
	{ "quota type", "publishers = ( { key = \"" K1 "\"; post = "
	    "\"ph-berlin\"; prefixes = [ \"embassy.\" ]; quota = 600; } );\n",
	    "publishers[0].quota: is an integer; expected a group" },
	{ "quota events string", "publishers = ( { key = \"" K1 "\"; post = "
	    "\"ph-berlin\"; prefixes = [ \"embassy.\" ]; quota = { events = "
	    "\"600\"; }; } );\n", "publishers[0].quota.events: is a string" },
	{ "empty prefixes", "publishers = ( { key = \"" K1 "\"; post = "
	    "\"ph-berlin\"; prefixes = [ ]; } );\n",
	    "acl.conf:1: publishers[0].prefixes: is empty" },
	{ "no prefixes", "publishers = ( { key = \"" K1 "\"; post = "
	    "\"ph-berlin\"; } );\n", "publishers[0].prefixes: missing" },
	{ "bad prefix", "publishers = ( { key = \"" K1 "\"; post = "
	    "\"ph-berlin\"; prefixes = [ \"embassy.ph.berlin.\", \"ph.\" ]; "
	    "} );\n", "publishers[0].prefixes[1]: \"ph.\" is not a topic "
	    "prefix" },
	{ "comment type", "publishers = ( { key = \"" K1 "\"; post = "
	    "\"ph-berlin\"; prefixes = [ \"embassy.\" ]; comment = 1; } );\n",
	    "publishers[0].comment: is not a string" },
	{ "comment control ok", "publishers = ( { key = \"" K1 "\"; post = "
	    "\"ph-berlin\"; prefixes = [ \"embassy.\" ]; comment = \"a\\nb\"; "
	    "} );\n", NULL },
};

/* A fixed configuration for the allow-list tests. */
static struct config	g_cfg;

static void
write_file(const char *path, const char *text)
{
	FILE	*f;

	if ((f = fopen(path, "w")) == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

static int
group_setup(void **state)
{
	char	tmpl[] = "/tmp/outreachd-test-config.XXXXXX";
	char	path[PATH_MAX + 32], err[1024];

	(void)state;
	if (mkdtemp(tmpl) == NULL || realpath(tmpl, g_dir) == NULL)
		return -1;
	snprintf(g_cfgpath, sizeof(g_cfgpath), "%s/cfg.conf", g_dir);
	snprintf(g_aclpath, sizeof(g_aclpath), "%s/acl.conf", g_dir);
	snprintf(path, sizeof(path), "%s/publishers.conf", g_dir);
	write_file(path, "publishers = ( );\n");
	snprintf(path, sizeof(path), "%s/keys", g_dir);
	if (mkdir(path, 0700) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/keys/server.key", g_dir);
	write_file(path, "# not read by the loader\n");
	snprintf(path, sizeof(path), "%s/base.conf", g_dir);
	write_file(path, D I P2);
	if (config_load(path, &g_cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "base config: %s\n", err);
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	char	cmd[PATH_MAX + 16];

	(void)state;
	config_free(&g_cfg);
	if (strncmp(g_dir, "/tmp/outreachd-test-config.", 27) == 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

static void
check_error(const char *what, const char *path, const char *err,
    const char *expect)
{
	if (strncmp(err, path, strlen(path)) != 0)
		fail_msg("%s: error does not start with the file name: %s",
		    what, err);
	if (strchr(err, '\n') != NULL)
		fail_msg("%s: error is not one line: %s", what, err);
	if (strstr(err, expect) == NULL)
		fail_msg("%s: error\n  %s\nlacks\n  %s", what, err, expect);
}

static void
test_cfg_row(void **state)
{
	const struct row	*r = *state;
	struct config		 cfg, zero;
	char			 err[1024];
	int			 rc;

	memset(&zero, 0, sizeof(zero));
	write_file(g_cfgpath, r->text);
	rc = config_load(g_cfgpath, &cfg, err, sizeof(err));
	if (r->expect == NULL) {
		if (rc != 0)
			fail_msg("%s: unexpected error: %s", r->name, err);
		config_free(&cfg);
		assert_memory_equal(&cfg, &zero, sizeof(cfg));
		return;
	}
	if (rc == 0) {
		config_free(&cfg);
		fail_msg("%s: loaded; expected an error with \"%s\"", r->name,
		    r->expect);
	}
	assert_int_equal(rc, -1);
	assert_memory_equal(&cfg, &zero, sizeof(cfg));
	check_error(r->name, g_cfgpath, err, r->expect);
	/* The string API says the same. */
	rc = config_load_string(r->text, g_cfgpath, &cfg, err, sizeof(err));
	assert_int_equal(rc, -1);
	check_error(r->name, g_cfgpath, err, r->expect);
}

static void
test_acl_row(void **state)
{
	const struct row	*r = *state;
	struct acl		 acl, zero;
	char			 err[1024];
	int			 rc;

	memset(&zero, 0, sizeof(zero));
	write_file(g_aclpath, r->text);
	rc = acl_load(g_aclpath, &g_cfg, &acl, err, sizeof(err));
	if (r->expect == NULL) {
		if (rc != 0)
			fail_msg("%s: unexpected error: %s", r->name, err);
		acl_free(&acl);
		return;
	}
	if (rc == 0) {
		acl_free(&acl);
		fail_msg("%s: loaded; expected an error with \"%s\"", r->name,
		    r->expect);
	}
	assert_memory_equal(&acl, &zero, sizeof(acl));
	check_error(r->name, g_aclpath, err, r->expect);
	rc = acl_load_string(r->text, g_aclpath, &g_cfg, &acl, err,
	    sizeof(err));
	assert_int_equal(rc, -1);
	check_error(r->name, g_aclpath, err, r->expect);
}

static char *
catpath(const char *a, const char *b)
{
	static char	bufs[4][PATH_MAX + 64];
	static int	k;
	char		tmp[PATH_MAX + 64];

	/* A few results stay valid at once, so calls can nest. */
	k = (k + 1) % 4;
	snprintf(tmp, sizeof(tmp), "%s%s", a, b);
	memcpy(bufs[k], tmp, sizeof(tmp));
	return bufs[k];
}

static void
test_defaults(void **state)
{
	struct config	cfg;
	char		err[1024];

	(void)state;
	write_file(g_cfgpath, D I P);
	assert_int_equal(config_load(g_cfgpath, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.path, g_cfgpath);
	assert_string_equal(cfg.state_dir, catpath(g_dir, "/state"));
	assert_null(cfg.runtime_dir);
	assert_null(cfg.control_group);
	assert_null(cfg.curve_secret_file);
	assert_int_equal(cfg.log_level, LOG_LEVEL_INFO);
	assert_int_equal(cfg.shutdown_timeout_ms, 10000);
	assert_int_equal(cfg.nprefixes, 2);
	assert_string_equal(cfg.prefixes[0], "embassy.");
	assert_string_equal(cfg.prefixes[1], "consulate.");
	assert_int_equal(cfg.ntypes, 7);
	assert_string_equal(cfg.types[0], "consular-day");
	assert_string_equal(cfg.types[6], "general");
	assert_int_equal(cfg.max_event_bytes, 65536);
	assert_int_equal(cfg.batch_max, 1024);
	assert_int_equal(cfg.nendpoints, 1);
	assert_string_equal(cfg.endpoints[0].bind, "tcp://127.0.0.1:7450");
	assert_int_equal(cfg.endpoints[0].security, CFG_SECURITY_CURVE);
	assert_null(cfg.endpoints[0].post);
	assert_int_equal(cfg.nfeeds, 0);
	assert_int_equal(cfg.journal_max_bytes, 0);
	assert_int_equal(cfg.checkpoint_interval_ms, 1000);
	assert_int_equal(cfg.nposts, 1);
	assert_null(cfg.posts[0].address);
	assert_null(cfg.posts[0].website);
	assert_non_null(config_post(&cfg, "ph-berlin"));
	assert_null(config_post(&cfg, "ph-paris"));
	assert_null(config_post(&cfg, NULL));
	config_free(&cfg);
	config_free(&cfg);	/* twice is harmless */
	config_free(NULL);
}

static void
test_values(void **state)
{
	struct config	 cfg;
	char		 err[1024];
	const char	*text =
	    "daemon: { state_dir = \"./state/\"; runtime_dir = \"run\";\n"
	    "  control_group = \"root\"; log_level = \"debug\";\n"
	    "  shutdown_timeout_ms = 600000; };\n"
	    "ingest: { curve_secret_file = \"./keys/server.key\";\n"
	    "  allow_list = \"publishers.conf\";\n"
	    "  prefixes = [ \"embassy.ph.\" ]; types = [ \"crisis\" ];\n"
	    "  max_event_bytes = 1024; batch_max = 65536;\n"
	    "  endpoints = ( { bind = \"tcp://*:7450\"; security = \"curve\"; },\n"
	    "    { bind = \"ipc://local.sock\"; security = \"none\";\n"
	    "      post = \"ph-frankfurt\"; } );\n"
	    "  feeds = ( { name = \"berlin\"; connect = \"tcp://[::1]:7460\";\n"
	    "    post = \"ph-berlin\"; server_key = \"" K2 "\"; } ); };\n"
	    "journal: { max_size = 4294967296L; checkpoint_interval_ms = 100; };\n"
	    "posts = ( { id = \"ph-berlin\"; name = \"Embassy\"; lang = \"EN-us\";\n"
	    "  address = \"Luisenstrasse 16, Berlin\"; phone = \"+49 30 0\";\n"
	    "  email = \"info@example.org\"; website = \"https://example.org\"; },\n"
	    "  { id = \"ph-frankfurt\"; name = \"Consulate\";\n"
	    "    lang = \"zh-hant-tw\"; } );\n";

	(void)state;
	write_file(g_cfgpath, text);
	if (config_load(g_cfgpath, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(cfg.state_dir, catpath(g_dir, "/state"));
	assert_string_equal(cfg.runtime_dir, catpath(g_dir, "/run"));
	assert_string_equal(cfg.control_group, "root");
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(cfg.shutdown_timeout_ms, 600000);
	assert_string_equal(cfg.curve_secret_file,
	    catpath(g_dir, "/keys/server.key"));
	assert_string_equal(cfg.allow_list, catpath(g_dir, "/publishers.conf"));
	assert_int_equal(cfg.nprefixes, 1);
	assert_string_equal(cfg.prefixes[0], "embassy.ph.");
	assert_int_equal(cfg.ntypes, 1);
	assert_int_equal(cfg.max_event_bytes, 1024);
	assert_int_equal(cfg.batch_max, 65536);
	assert_int_equal(cfg.nendpoints, 2);
	assert_string_equal(cfg.endpoints[0].bind, "tcp://*:7450");
	assert_int_equal(cfg.endpoints[0].security, CFG_SECURITY_CURVE);
	assert_string_equal(cfg.endpoints[1].bind,
	    catpath("ipc://", catpath(g_dir, "/local.sock")));
	assert_int_equal(cfg.endpoints[1].security, CFG_SECURITY_NONE);
	assert_string_equal(cfg.endpoints[1].post, "ph-frankfurt");
	assert_int_equal(cfg.nfeeds, 1);
	assert_string_equal(cfg.feeds[0].name, "berlin");
	assert_string_equal(cfg.feeds[0].connect, "tcp://[::1]:7460");
	assert_string_equal(cfg.feeds[0].post, "ph-berlin");
	assert_int_equal(cfg.feeds[0].security, CFG_SECURITY_CURVE);
	assert_string_equal(cfg.feeds[0].server_key, K2);
	assert_true(cfg.journal_max_bytes == 4294967296LL);
	assert_int_equal(cfg.checkpoint_interval_ms, 100);
	assert_int_equal(cfg.nposts, 2);
	/* lang in ICU's canonical form */
	assert_string_equal(cfg.posts[0].lang, "en-US");
	assert_string_equal(cfg.posts[1].lang, "zh-Hant-TW");
	assert_string_equal(cfg.posts[0].address, "Luisenstrasse 16, Berlin");
	assert_string_equal(cfg.posts[0].phone, "+49 30 0");
	assert_string_equal(cfg.posts[0].email, "info@example.org");
	assert_string_equal(cfg.posts[0].website, "https://example.org");
	assert_null(cfg.posts[1].website);
	assert_ptr_equal(config_post(&cfg, "ph-frankfurt"), &cfg.posts[1]);
	config_free(&cfg);
}

/* A relative config path: relative paths in it are resolved against its
 * directory, not left relative to the current one. */
static void
test_relative_load(void **state)
{
	struct config	 cfg;
	char		 err[1024], cwd[PATH_MAX];

	(void)state;
	write_file(g_cfgpath, D I P);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir("/"), 0);
	if (config_load(g_cfgpath + 1, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(cfg.state_dir, catpath(g_dir, "/state"));
	assert_string_equal(cfg.allow_list, catpath(g_dir, "/publishers.conf"));
	assert_string_equal(cfg.path, g_cfgpath);
	config_free(&cfg);
	assert_int_equal(chdir(g_dir), 0);
	if (config_load("./cfg.conf", &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(cfg.allow_list, catpath(g_dir, "/publishers.conf"));
	assert_string_equal(cfg.path, g_cfgpath);
	config_free(&cfg);
	if (config_load("cfg.conf", &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(cfg.state_dir, catpath(g_dir, "/state"));
	config_free(&cfg);
	assert_int_equal(chdir(cwd), 0);
}

static void
test_missing_file(void **state)
{
	struct config	cfg, zero;
	struct acl	acl;
	char		err[1024];

	(void)state;
	memset(&zero, 0, sizeof(zero));
	assert_int_equal(config_load(catpath(g_dir, "/nope.conf"), &cfg, err,
	    sizeof(err)), -1);
	assert_memory_equal(&cfg, &zero, sizeof(cfg));
	assert_non_null(strstr(err, "/nope.conf: cannot open: No such file"));
	assert_int_equal(config_load(g_dir, &cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is a directory"));
	assert_int_equal(acl_load(catpath(g_dir, "/nope.conf"), &g_cfg, &acl,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nope.conf: cannot open"));
}

/* Read a file of the source tree (cwd or $OUTREACH_SRCDIR). */
static char *
read_src(const char *rel)
{
	const char	*dir = getenv("OUTREACH_SRCDIR");
	struct buf	 b;
	char		 chunk[4096];
	FILE		*f;
	size_t		 n;

	if ((f = fopen(catpath(dir ? dir : ".", catpath("/", rel)), "r")) ==
	    NULL)
		fail_msg("%s: %s (run from the source tree or set "
		    "OUTREACH_SRCDIR)", rel, strerror(errno));
	buf_init(&b, 0);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	return buf_release(&b);
}

/* text with every from replaced by to; caller frees. */
static char *
replace(const char *text, const char *from, const char *to)
{
	struct buf	 b;
	const char	*p;

	buf_init(&b, 0);
	while ((p = strstr(text, from)) != NULL) {
		buf_add(&b, text, (size_t)(p - text));
		buf_adds(&b, to);
		text = p + strlen(from);
	}
	buf_adds(&b, text);
	return buf_release(&b);
}

static void
test_example_conf(void **state)
{
	struct config	 cfg;
	struct acl	 acl;
	char		*text, *t1, *t2, err[1024];
	const char	*keys[] = { "state_dir", "runtime_dir", "control_group",
	    "log_level", "shutdown_timeout_ms", "curve_secret_file",
	    "allow_list", "prefixes", "types", "max_event_bytes", "batch_max",
	    "endpoints", "feeds", "bind", "security", "post", "name",
	    "connect", "server_key", "max_size", "checkpoint_interval_ms",
	    "posts", "id", "lang", "address", "phone", "email", "website" };
	char		 needle[64];
	size_t		 i;

	(void)state;
	text = read_src("conf/outreachd.conf");
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(needle, sizeof(needle), "%s = ", keys[i]);
		if (strstr(text, needle) == NULL)
			fail_msg("conf/outreachd.conf does not show %s",
			    keys[i]);
	}
	/* Production paths, pointed at the test directory. */
	t1 = replace(text, "\"/var/lib/outreachd\"",
	    catpath("\"", catpath(g_dir, "/state\"")));
	t2 = replace(t1, "\"/etc/outreachd/publishers.conf\"",
	    catpath("\"", catpath(g_dir, "/publishers.conf\"")));
	if (config_load_string(t2, catpath(g_dir, "/outreachd.conf"), &cfg,
	    err, sizeof(err)) != 0)
		fail_msg("conf/outreachd.conf: %s", err);
	assert_string_equal(cfg.runtime_dir, "/run/outreachd");
	assert_null(cfg.curve_secret_file);
	assert_int_equal(cfg.nendpoints, 1);
	assert_int_equal(cfg.endpoints[0].security, CFG_SECURITY_CURVE);
	assert_int_equal(cfg.nposts, 1);
	assert_string_equal(cfg.posts[0].id, "ph-berlin");
	assert_int_equal(cfg.ntypes, 7);
	free(text);
	free(t1);
	free(t2);

	/* The example allow-list, as is, against it. */
	text = read_src("conf/publishers.conf");
	if (acl_load_string(text, "conf/publishers.conf", &cfg, &acl, err,
	    sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(acl.n, 1);
	assert_string_equal(acl.entries[0].post, "ph-berlin");
	assert_int_equal(acl.entries[0].max_priority, PRIORITY_HIGH);
	assert_true(acl.entries[0].quota_events == 600);
	acl_free(&acl);
	free(text);
	config_free(&cfg);
}

static void
test_demo_conf(void **state)
{
	struct config	 cfg;
	char		*text, *t, err[1024], dir[PATH_MAX + 16];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/demo", g_dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(mkdir(catpath(dir, "/keys"), 0700), 0);
	write_file(catpath(dir, "/keys/server.key"), "\n");
	write_file(catpath(dir, "/publishers.conf"), "publishers = ( );\n");
	assert_int_equal(mkdir(catpath(dir, "/ca"), 0700), 0);
	write_file(catpath(dir, "/ca/ca.pem"), "\n");
	write_file(catpath(dir, "/webhook.secrets"), "\n");
	assert_int_equal(chmod(catpath(dir, "/webhook.secrets"), 0600), 0);
	text = read_src("conf/demo.conf");
	t = replace(text, "/tmp/outreachd-demo", dir);
	if (config_load_string(t, catpath(g_dir, "/demo.conf"), &cfg, err,
	    sizeof(err)) != 0)
		fail_msg("conf/demo.conf: %s", err);
	assert_int_equal(cfg.nendpoints, 1);
	assert_string_equal(cfg.endpoints[0].bind, "tcp://127.0.0.1:7450");
	assert_int_equal(cfg.nposts, 2);
	assert_non_null(config_post(&cfg, "ph-frankfurt"));
	assert_string_equal(cfg.curve_secret_file,
	    catpath(dir, "/keys/server.key"));
	assert_int_equal(cfg.nrelays, 1);
	assert_int_equal(cfg.relays[0].port, 8587);
	assert_int_equal(cfg.webhooks.allow_loopback, 1);
	config_free(&cfg);
	free(text);
	free(t);
}

/* Load an allow-list text against g_cfg or fail. */
static void
acl_text(struct acl *acl, const char *text)
{
	char	err[1024];

	if (acl_load_string(text, "t.conf", &g_cfg, acl, err,
	    sizeof(err)) != 0)
		fail_msg("%s", err);
}

static void
test_acl_find(void **state)
{
	struct acl		 acl;
	struct acl_entry	*e;

	(void)state;
	acl_text(&acl, "publishers = (\n"
	    "{ key = \"" K3 "\"; post = \"ph-berlin\"; prefixes = "
	    "[ \"embassy.ph.berlin.\" ]; max_priority = \"critical\"; },\n"
	    "{ key = \"" K1 "\"; post = \"ph-frankfurt\"; prefixes = "
	    "[ \"consulate.ph.frankfurt.\", \"consulate.ph.munich.\" ]; },\n"
	    "{ key = \"" K2 "\"; post = \"ph-berlin\"; prefixes = "
	    "[ \"embassy.ph.bonn.\" ]; max_priority = \"low\"; quota = "
	    "{ events = 10; }; } );\n");
	assert_int_equal(acl.n, 3);
	assert_null(acl_find(&acl, K4));
	assert_null(acl_find(&acl, NULL));
	assert_null(acl_find(NULL, K1));
	assert_non_null(e = acl_find(&acl, K1));
	assert_string_equal(e->key, K1);
	assert_string_equal(e->post, "ph-frankfurt");
	assert_int_equal(e->nprefixes, 2);
	assert_int_equal(e->max_priority, PRIORITY_NORMAL);
	assert_true(e->quota_events == 6000 && e->quota_seconds == 60);
	assert_true(e->tokens == 6000);
	assert_true(acl_topic_allowed(e, "consulate.ph.munich.culture"));
	assert_false(acl_topic_allowed(e, "consulate.ph.muni"));
	assert_false(acl_topic_allowed(e, "embassy.ph.berlin.crisis"));
	assert_false(acl_topic_allowed(NULL, "embassy.ph.berlin.crisis"));
	assert_non_null(e = acl_find(&acl, K2));
	assert_int_equal(e->max_priority, PRIORITY_LOW);
	assert_true(e->quota_events == 10 && e->quota_seconds == 60);
	assert_non_null(e = acl_find(&acl, K3));
	assert_int_equal(e->max_priority, PRIORITY_CRITICAL);
	acl_free(&acl);
	acl_free(&acl);
	acl_free(NULL);

	acl_text(&acl, "publishers = ( );\n");
	assert_int_equal(acl.n, 0);
	assert_null(acl_find(&acl, K1));
	acl_free(&acl);
}

static void
test_acl_post(void **state)
{
	struct acl	acl;
	int		maxp;

	(void)state;
	acl_text(&acl, "publishers = (\n"
	    "{ key = \"" K1 "\"; post = \"ph-berlin\"; prefixes = "
	    "[ \"embassy.ph.berlin.\" ]; max_priority = \"high\"; },\n"
	    "{ key = \"" K2 "\"; post = \"ph-berlin\"; prefixes = "
	    "[ \"embassy.ph.bonn.\" ]; max_priority = \"low\"; } );\n");
	maxp = 99;
	assert_int_equal(acl_post_topic_allowed(&acl, "ph-berlin",
	    "embassy.ph.bonn.culture", &maxp), 1);
	assert_int_equal(maxp, PRIORITY_HIGH);
	assert_int_equal(acl_post_topic_allowed(&acl, "ph-berlin",
	    "embassy.ph.berlin.crisis", &maxp), 1);
	assert_int_equal(acl_post_topic_allowed(&acl, "ph-berlin",
	    "embassy.ph.paris.crisis", &maxp), 0);
	assert_int_equal(maxp, PRIORITY_HIGH);
	assert_int_equal(acl_post_topic_allowed(&acl, "ph-frankfurt",
	    "embassy.ph.berlin.crisis", &maxp), 0);
	assert_int_equal(maxp, -1);
	assert_int_equal(acl_post_topic_allowed(&acl, "ph-paris",
	    "embassy.ph.berlin.crisis", &maxp), 0);
	assert_int_equal(maxp, -1);
	assert_int_equal(acl_post_topic_allowed(&acl, "ph-berlin",
	    "embassy.ph.berlin.crisis", NULL), 1);
	acl_free(&acl);
}

static void
test_acl_quota(void **state)
{
	struct acl		 acl;
	struct acl_entry	*e;
	int			 i;

	(void)state;
	acl_text(&acl, "publishers = ( { key = \"" K1 "\"; post = "
	    "\"ph-berlin\"; prefixes = [ \"embassy.\" ]; quota = { events = 3; "
	    "seconds = 1; }; },\n{ key = \"" K2 "\"; post = \"ph-berlin\"; "
	    "prefixes = [ \"embassy.\" ]; quota = { events = 600; "
	    "seconds = 60; }; } );\n");
	e = acl_find(&acl, K1);
	/* Starts full: 3 at once, then nothing. */
	for (i = 0; i < 3; i++)
		assert_int_equal(acl_quota_take(e, 1000), 1);
	assert_int_equal(acl_quota_take(e, 1000), 0);
	assert_int_equal(acl_quota_take(e, 1000), 0);
	/* 3 per second: one more after 1/3 s, not before. */
	assert_int_equal(acl_quota_take(e, 1333), 0);
	assert_int_equal(acl_quota_take(e, 1334), 1);
	assert_int_equal(acl_quota_take(e, 1334), 0);
	/* Time going back changes nothing. */
	assert_int_equal(acl_quota_take(e, 500), 0);
	/* A long pause refills to the capacity, not beyond. */
	for (i = 0; i < 3; i++)
		assert_int_equal(acl_quota_take(e, 1000000), 1);
	assert_int_equal(acl_quota_take(e, 1000000), 0);

	/* 600 per 60 s: 10 back per second, exactly. */
	e = acl_find(&acl, K2);
	for (i = 0; i < 600; i++)
		assert_int_equal(acl_quota_take(e, 5000), 1);
	assert_int_equal(acl_quota_take(e, 5000), 0);
	for (i = 0; i < 10; i++)
		assert_int_equal(acl_quota_take(e, 6000), 1);
	assert_int_equal(acl_quota_take(e, 6000), 0);
	acl_free(&acl);
}

static void
test_acl_carry(void **state)
{
	struct acl		 old, new;
	struct acl_entry	*e;
	int			 i;

	(void)state;
	acl_text(&old, "publishers = ( { key = \"" K1 "\"; post = "
	    "\"ph-berlin\"; prefixes = [ \"embassy.\" ]; quota = { events = 5; "
	    "seconds = 10; }; },\n{ key = \"" K2 "\"; post = \"ph-berlin\"; "
	    "prefixes = [ \"embassy.\" ]; quota = { events = 100; }; } );\n");
	for (i = 0; i < 4; i++)
		assert_int_equal(acl_quota_take(acl_find(&old, K1), 1000), 1);
	for (i = 0; i < 10; i++)
		assert_int_equal(acl_quota_take(acl_find(&old, K2), 1000), 1);
	/* K1 kept, K2 kept with a smaller quota, K3 new, and K2 moved. */
	acl_text(&new, "publishers = ( { key = \"" K3 "\"; post = "
	    "\"ph-berlin\"; prefixes = [ \"embassy.\" ]; quota = { events = 5; "
	    "}; },\n{ key = \"" K1 "\"; post = \"ph-berlin\"; prefixes = "
	    "[ \"embassy.\" ]; quota = { events = 5; seconds = 10; }; },\n"
	    "{ key = \"" K2 "\"; post = \"ph-frankfurt\"; prefixes = "
	    "[ \"embassy.\" ]; quota = { events = 50; }; } );\n");
	acl_carry(&new, &old);
	acl_carry(&new, NULL);
	e = acl_find(&new, K1);
	assert_true(e->tokens == 1 && e->refilled_ms == 1000);
	assert_int_equal(acl_quota_take(e, 1000), 1);
	assert_int_equal(acl_quota_take(e, 1000), 0);
	/* 90 saved under the old quota, capped to the new 50. */
	e = acl_find(&new, K2);
	assert_true(e->tokens == 50 && e->refilled_ms == 1000);
	e = acl_find(&new, K3);
	assert_true(e->tokens == 5);
	for (i = 0; i < 5; i++)
		assert_int_equal(acl_quota_take(e, 1000), 1);
	assert_int_equal(acl_quota_take(e, 1000), 0);
	acl_free(&old);
	acl_free(&new);
}

#define NCFG	(sizeof(cfg_rows) / sizeof(cfg_rows[0]))
#define NACL	(sizeof(acl_rows) / sizeof(acl_rows[0]))

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_relative_load),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_example_conf),
		cmocka_unit_test(test_demo_conf),
		cmocka_unit_test(test_acl_find),
		cmocka_unit_test(test_acl_post),
		cmocka_unit_test(test_acl_quota),
		cmocka_unit_test(test_acl_carry),
	};
	static struct CMUnitTest tests[NCFG + NACL +
	    sizeof(fixed) / sizeof(fixed[0])];
	size_t	i, n = 0;

	for (i = 0; i < NCFG; i++) {
		tests[n].name = cfg_rows[i].name;
		tests[n].test_func = test_cfg_row;
		tests[n].initial_state = (void *)&cfg_rows[i];
		n++;
	}
	for (i = 0; i < NACL; i++) {
		tests[n].name = acl_rows[i].name;
		tests[n].test_func = test_acl_row;
		tests[n].initial_state = (void *)&acl_rows[i];
		n++;
	}
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		tests[n++] = fixed[i];
	return _cmocka_run_group_tests("config", tests, n, group_setup,
	    group_teardown);
}
