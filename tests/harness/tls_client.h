/* A small mbedtls TLS client for tests: one HTTP/1.1 request over TLS (certificate or PSK) to
 * 127.0.0.1, with the protocol version capped, returning the status code and the body. */
#ifndef FC_TLS_CLIENT_H
#define FC_TLS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

struct fc_tls_opts {
	int port;
	const char *ca_file;          /* verify the server against this CA (host name "localhost"); NULL = no verify */
	const uint8_t *psk;           /* TLS-PSK when non-NULL */
	size_t psklen;
	const char *psk_identity;
	int min_minor, max_minor;     /* 1 = TLS 1.0, 2 = 1.1, 3 = 1.2; 0 = defaults (1 and 3) */
	const char *const *ciphersuites; /* NULL-terminated IANA-style mbedtls names ("TLS-PSK-WITH-..."); NULL =
					  * mbedtls defaults (certificate) or plain PSK suites (PSK) */
	int timeout_ms;               /* per read/handshake step; 0 = 5000 */
	const char *extra_headers;    /* raw "Name: value\r\n" lines, may be NULL */
};

struct fc_tls_info {
	char version[16];      /* "TLSv1.2" */
	char ciphersuite[64];  /* negotiated suite */
};

/* One request (Connection: close). Returns the HTTP status, or -1 with a reason in err (handshake
 * failure, connection error, unparsable response). `out` receives the body, NUL-terminated
 * (truncated to outlen-1). `info` (optional) receives the negotiated version and suite. */
int fc_tls_request(const struct fc_tls_opts *o, const char *method, const char *path, const char *body,
		   char *out, size_t outlen, struct fc_tls_info *info, char *err, size_t errlen);

/* Shorthand: certificate TLS when psk is NULL, else PSK; max_minor caps the version (0 = TLS 1.2). */
int fc_tls_http(int port, const char *ca_file, const uint8_t *psk, size_t psklen, const char *psk_identity,
		int max_minor, const char *method, const char *path, const char *body, char *out, size_t outlen,
		char *err, size_t errlen);

#endif
