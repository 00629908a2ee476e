/* keygen.c - outreachctl keygen: a CURVE key pair as NAME.key (secret,
 * 0600) and NAME.pub (public, to put in the daemon's allow-list or give
 * to publishers). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <zmq.h>

#include "buf.h"
#include "client.h"
#include "keyfile.h"

static void
keygen_usage(FILE *f)
{
	fprintf(f, "usage: outreachctl keygen [--force] NAME\n"
	    "\n"
	    "Writes a new CURVE key pair: NAME.key (public and secret, mode "
	    "0600)\nand NAME.pub (public only).  Give NAME.pub's key to the "
	    "other side:\nthe daemon's allow-list for a publisher, or "
	    "publishers for the daemon's key.\n"
	    "  --force   replace existing files\n"
	    "  --json    print the public key as JSON\n");
}

int
cmd_keygen(const struct client_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char		 pub[41], sec[41], err[1024];
	struct buf	 kp, pp;
	int		 ch, force = 0, rc = EX_CANTCREAT;

	optind = 0;	/* 0: glibc starts afresh (permuting again) */
	while ((ch = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			force = 1;
			break;
		case 'h':
			keygen_usage(stdout);
			return 0;
		default:
			keygen_usage(stderr);
			return EX_USAGE;
		}
	}
	if (argc - optind != 1) {
		keygen_usage(stderr);
		return EX_USAGE;
	}
	if (zmq_curve_keypair(pub, sec) == -1) {
		fprintf(stderr, "outreachctl: keygen: %s (libzmq without "
		    "CURVE?)\n", zmq_strerror(zmq_errno()));
		return EX_SOFTWARE;
	}
	buf_init(&kp, 4096);
	buf_init(&pp, 4096);
	buf_printf(&kp, "%s.key", argv[optind]);
	buf_printf(&pp, "%s.pub", argv[optind]);
	if (kp.data == NULL || pp.data == NULL) {
		fprintf(stderr, "outreachctl: keygen: out of memory\n");
		goto out;
	}
	if (keyfile_write(kp.data, pub, sec, force, err, sizeof(err)) == -1 ||
	    keyfile_write(pp.data, pub, NULL, force, err, sizeof(err)) == -1) {
		fprintf(stderr, "outreachctl: keygen: %s\n", err);
		goto out;
	}
	if (o->json) {
		json_t	*j = json_pack("{s:s,s:s,s:s}", "public", pub,
		    "secret_file", kp.data, "public_file", pp.data);

		json_dumpf(j, stdout, 0);
		putchar('\n');
		json_decref(j);
	} else
		printf("public key %s\nsecret key file %s (keep it secret)\n"
		    "public key file %s\n", pub, kp.data, pp.data);
	rc = 0;
out:
	explicit_bzero(sec, sizeof(sec));
	buf_free(&kp);
	buf_free(&pp);
	return rc;
}
