/* CA and server certificate generation with mbedtls 2.28 (x509write), idempotent.
 *
 * fc_certs_ensure():
 *  - creates the CA (RSA-2048, CN "fakecloud CA <random>", 10 years, basicConstraints CA:TRUE) when
 *    ca_cert/ca_key are missing;
 *  - (re)issues the server certificate when it is missing, not signed by the CA, expires within 30
 *    days, or its CN/SAN set differs from the requested hostnames + ips (CN = first hostname, else the
 *    first IP). Server key: RSA-2048 (default; widest device support) or EC P-256 (opts.ec). Validity
 *    825 days. extendedKeyUsage serverAuth, SAN with DNS names and IP addresses.
 *  - leaves everything untouched when nothing needs to change (a second run changes nothing).
 * Keys are written 0640, certificates 0644, via a temporary file + rename (never half-written).
 * When `owner_uid`/`owner_gid` are >= 0 the files are chown'ed to them (so the broker's user can read
 * them after it drops privileges). */
#ifndef FC_CERTS_H
#define FC_CERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct fc_certs_opts {
	const char *ca_cert, *ca_key, *cert, *key;
	const char *const *hostnames;
	size_t n_hostnames;
	const char *const *ips;
	size_t n_ips;
	bool ec;           /* server key EC P-256 instead of RSA-2048 */
	long owner_uid;    /* -1 = leave */
	long owner_gid;    /* -1 = leave */
};

#define FC_CERTS_CREATED_CA 1
#define FC_CERTS_ISSUED_SERVER 2

/* Returns a bitmask of FC_CERTS_* actions taken (0 = already up to date), or -1 with a one-line reason
 * in err. `report` (optional) receives a human summary, one line per file. */
int fc_certs_ensure(const struct fc_certs_opts *o, char *report, size_t reportlen, char *err, size_t errlen);

/* Describe a certificate file: subject CN, SAN list, not-after, issuer CN; for `fakecloud certs --show`. */
int fc_certs_describe(const char *cert_path, char *out, size_t outlen, char *err, size_t errlen);

#endif
