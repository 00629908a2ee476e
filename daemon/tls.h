/* tls.h - the one TLS policy of DESIGN.md 5, shared by the SMTP client and
 * the webhook sender: certificates verified (system store or a configured
 * CA file), host names checked, TLS 1.2 at least, an optional client
 * certificate.  Turning verification off is not an option.  An SSL_CTX
 * made here belongs to its caller (SSL_CTX_free). */
#ifndef OUTREACH_TLS_H
#define OUTREACH_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

/* Where trust and the client's identity come from; NULL fields: none
 * (ca_file NULL: the system store). */
struct cfg_tls {
	char	*ca_file;
	char	*cert_file;	/* client certificate chain (PEM) */
	char	*key_file;	/* its key (PEM); cert_file's own when NULL */
};

/* Apply the policy to ctx: verify peer, minimum TLS 1.2, trust from
 * t->ca_file or the default paths, client certificate when configured.
 * Used on our own contexts and, through CURLOPT_SSL_CTX_FUNCTION, on
 * libcurl's.  Returns 0, or -1 with one sentence in err naming the file
 * and what OpenSSL said. */
int	 tls_ctx_apply(SSL_CTX *ctx, const struct cfg_tls *t, char *err,
	    size_t errlen);
/* A new client context with the policy applied.  NULL with err set. */
SSL_CTX	*tls_client_ctx(const struct cfg_tls *t, char *err, size_t errlen);
/* Prepare ssl for a connection to host: SNI (unless host is an IP
 * literal) and host name (or IP address) verification.  0 or -1. */
int	 tls_client_prepare(SSL *ssl, const char *host);
/* Why a handshake on ssl failed, as one sentence naming host: the
 * verification result when there is one ("certificate has expired",
 * "host name mismatch", "unable to get local issuer certificate"), else
 * OpenSSL's error queue (which is cleared), else "connection closed
 * during the TLS handshake".  Never contains anything but host. */
void	 tls_describe_failure(SSL *ssl, const char *host, char *out,
	    size_t outlen);
/* The same for a verification result code alone (libcurl reports
 * CURLINFO_SSL_VERIFYRESULT). */
const char *tls_verify_reason(long verify_result);
/* Check the policy's files once (outreachd -n, start, reload): the CA
 * file loads, the certificate and key load and match.  0 or -1 with err. */
int	 tls_check(const struct cfg_tls *t, char *err, size_t errlen);

#endif
