/* test_tls.c - the TLS policy: what a context built by tls.c allows, and
 * its messages for files that are missing or wrong.  Handshakes themselves
 * are tested against the project's sinks (tests/integration). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/x509_vfy.h>

#include "tls.h"

static void
test_defaults(void **state)
{
	struct cfg_tls	 t = { 0 };
	char		 err[512];
	SSL_CTX		*ctx;
	SSL		*ssl;

	(void)state;
	ctx = tls_client_ctx(&t, err, sizeof(err));
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_PEER);
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	ssl = SSL_new(ctx);
	assert_non_null(ssl);
	assert_int_equal(tls_client_prepare(ssl, "relay.example.org"), 0);
	assert_string_equal(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name),
	    "relay.example.org");
	SSL_free(ssl);
	/* An IP literal: no SNI, the address is checked instead. */
	ssl = SSL_new(ctx);
	assert_int_equal(tls_client_prepare(ssl, "127.0.0.1"), 0);
	assert_null(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
	SSL_free(ssl);
	ssl = SSL_new(ctx);
	assert_int_equal(tls_client_prepare(ssl, "::1"), 0);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
}

static void
test_missing_files(void **state)
{
	struct cfg_tls	 t = { 0 };
	char		 err[512];

	(void)state;
	t.ca_file = "/nonexistent/ca.pem";
	assert_int_equal(tls_check(&t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/ca.pem: cannot load CA"));
	t.ca_file = NULL;
	t.cert_file = "/nonexistent/client.pem";
	assert_int_equal(tls_check(&t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/client.pem: cannot load the"
	    " client certificate"));
}

static void
test_garbage_ca(void **state)
{
	struct cfg_tls	 t = { 0 };
	char		 err[512], path[] = "/tmp/test_tls.XXXXXX";
	int		 fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not a certificate\n", 18), 18);
	close(fd);
	t.ca_file = path;
	assert_int_equal(tls_check(&t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot load CA certificates"));
	unlink(path);
}

static void
test_reasons(void **state)
{
	(void)state;
	assert_string_equal(tls_verify_reason(X509_V_ERR_CERT_HAS_EXPIRED),
	    "certificate has expired");
	assert_string_equal(tls_verify_reason(X509_V_ERR_HOSTNAME_MISMATCH),
	    "host name mismatch");
	assert_string_equal(tls_verify_reason(
	    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY),
	    "unknown certificate authority");
	assert_string_equal(tls_verify_reason(
	    X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT),
	    "self-signed certificate not trusted");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_missing_files),
		cmocka_unit_test(test_garbage_ca),
		cmocka_unit_test(test_reasons),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
