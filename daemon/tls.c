/* tls.c - the TLS policy of DESIGN.md 5 for the SMTP client and the
 * webhook sender: verification always on, host names checked, TLS 1.2 at
 * least, trust from a CA file or the system store, an optional client
 * certificate.  Stateless: callers own their contexts. */
#include <arpa/inet.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"

/* OpenSSL's first queued error as text, the queue cleared. */
static void
tls_queue_text(char *out, size_t outlen)
{
	unsigned long	e, last = 0;

	while ((e = ERR_get_error()) != 0)
		if (last == 0)
			last = e;
	if (last == 0) {
		out[0] = '\0';
		return;
	}
	ERR_error_string_n(last, out, outlen);
}

int
tls_ctx_apply(SSL_CTX *ctx, const struct cfg_tls *t, char *err, size_t errlen)
{
	char	why[256];

	ERR_clear_error();
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		snprintf(err, errlen, "TLS: cannot set the minimum version");
		return -1;
	}
	if (t != NULL && t->ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1) {
			tls_queue_text(why, sizeof(why));
			snprintf(err, errlen, "%s: cannot load CA certificates"
			    " (%s)", t->ca_file, why);
			return -1;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		tls_queue_text(why, sizeof(why));
		snprintf(err, errlen, "TLS: cannot load the system's CA"
		    " certificates (%s)", why);
		return -1;
	}
	if (t != NULL && t->cert_file != NULL) {
		const char *key = t->key_file != NULL ? t->key_file :
		    t->cert_file;

		if (SSL_CTX_use_certificate_chain_file(ctx, t->cert_file)
		    != 1) {
			tls_queue_text(why, sizeof(why));
			snprintf(err, errlen, "%s: cannot load the client"
			    " certificate (%s)", t->cert_file, why);
			return -1;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM)
		    != 1) {
			tls_queue_text(why, sizeof(why));
			snprintf(err, errlen, "%s: cannot load the client"
			    " key (%s)", key, why);
			return -1;
		}
		if (SSL_CTX_check_private_key(ctx) != 1) {
			ERR_clear_error();
			snprintf(err, errlen, "%s: the key does not match the"
			    " client certificate %s", key, t->cert_file);
			return -1;
		}
	}
	/* No renegotiation, no compression: nothing this client needs. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	return 0;
}

SSL_CTX *
tls_client_ctx(const struct cfg_tls *t, char *err, size_t errlen)
{
	SSL_CTX	*ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		ERR_clear_error();
		snprintf(err, errlen, "TLS: cannot create a context");
		return NULL;
	}
	if (tls_ctx_apply(ctx, t, err, errlen) == -1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
	return ctx;
}

static int
tls_is_ip(const char *host)
{
	unsigned char	a[16];

	return inet_pton(AF_INET, host, a) == 1 ||
	    inet_pton(AF_INET6, host, a) == 1;
}

int
tls_client_prepare(SSL *ssl, const char *host)
{
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);

	SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	if (tls_is_ip(host)) {
		if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1)
			goto fail;
		return 0;
	}
	if (SSL_set_tlsext_host_name(ssl, host) != 1)
		goto fail;
	X509_VERIFY_PARAM_set_hostflags(vp,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (X509_VERIFY_PARAM_set1_host(vp, host, 0) != 1)
		goto fail;
	return 0;
fail:
	ERR_clear_error();
	return -1;
}

const char *
tls_verify_reason(long v)
{
	switch (v) {
	case X509_V_OK:
		return "verified";
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "certificate has expired";
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "certificate is not yet valid";
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return "host name mismatch";
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return "IP address mismatch";
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
		return "unknown certificate authority";
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		return "unknown certificate authority (self-signed chain)";
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		return "self-signed certificate not trusted";
	case X509_V_ERR_CERT_REVOKED:
		return "certificate revoked";
	case X509_V_ERR_INVALID_PURPOSE:
		return "certificate not valid for a TLS server";
	default:
		return X509_verify_cert_error_string(v);
	}
}

void
tls_describe_failure(SSL *ssl, const char *host, char *out, size_t outlen)
{
	long	v;
	char	why[256];

	v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
	if (v != X509_V_OK) {
		ERR_clear_error();
		snprintf(out, outlen, "%s: TLS: %s", host,
		    tls_verify_reason(v));
		return;
	}
	tls_queue_text(why, sizeof(why));
	if (why[0] != '\0')
		snprintf(out, outlen, "%s: TLS: %s", host, why);
	else
		snprintf(out, outlen, "%s: TLS: connection closed during the"
		    " handshake", host);
}

int
tls_check(const struct cfg_tls *t, char *err, size_t errlen)
{
	SSL_CTX	*ctx;

	if ((ctx = tls_client_ctx(t, err, errlen)) == NULL)
		return -1;
	SSL_CTX_free(ctx);
	return 0;
}
