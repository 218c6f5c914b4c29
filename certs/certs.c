/* CA and server certificate generation with mbedtls 2.28 (see certs.h).
 *
 * mbedtls 2.28 has no writer for subjectAltName or extendedKeyUsage, so both extensions are built as
 * DER here (asn1write) and added with mbedtls_x509write_crt_set_extension(). Its parser only lists
 * dNSName SANs, so the SAN set of an existing certificate is read by walking the raw extensions
 * (crt.v3_ext) with the bounded mbedtls_asn1_get_* readers.
 *
 * Every certificate is generated and checked in memory first (an issued server certificate must verify
 * against the CA before it is written); files are then replaced atomically, key before certificate, so
 * an interrupted run leaves a state the next run repairs. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* timegm, mkostemp (the build defines it; hand builds may not) */
#endif
#include "certs/certs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>
#include <mbedtls/x509.h>
#include <mbedtls/x509_crt.h>

#include "core/crypto.h"

#define MAX_NAMES 64          /* hostnames, and separately IPs, per certificate */
#define MAX_HOSTNAME 253
#define MAX_CERT_SANS 256     /* SAN entries read from an existing certificate */
#define CA_DAYS 3650
#define SERVER_DAYS 825       /* the most Apple clients accept */
#define RENEW_DAYS 30
#define BACKDATE_SECS 86400   /* notBefore = now - 1 day: tolerate devices whose clock lags a little */
#define DAY_SECS 86400L
#define KEY_PEM_MAX 8192
#define RSA_BITS 2048

/* ---- small helpers ---- */

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Appends to a bounded text buffer; output that does not fit is dropped (the buffer stays terminated). */
struct text {
	char *buf;
	size_t cap, len;
};

__attribute__((format(printf, 2, 3))) static void text_add(struct text *t, const char *fmt, ...)
{
	if (!t->buf || t->cap == 0 || t->len >= t->cap - 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->len = t->len + (size_t)n < t->cap ? t->len + (size_t)n : t->cap - 1;
}

static void text_init(struct text *t, char *buf, size_t cap)
{
	t->buf = buf;
	t->cap = buf ? cap : 0;
	t->len = 0;
	if (t->cap)
		buf[0] = '\0';
}

/* f_rng for mbedtls, backed by the process CSPRNG. */
static int rng(void *unused, unsigned char *out, size_t len)
{
	(void)unused;
	return fc_random(out, len) == 0 ? 0 : MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
}

static void mbed_strerror(int rc, char *buf, size_t len)
{
	/* mbedtls_strerror needs MBEDTLS_ERROR_C; the code alone identifies the failure well enough. */
	snprintf(buf, len, "mbedtls error -0x%04x", (unsigned)(rc < 0 ? -rc : rc));
}

/* 1 = exists (and is readable), 0 = does not exist, -1 = other error (errno set). A file we cannot read
 * is an error, never a reason to overwrite it. */
static int file_state(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return 1;
	}
	return errno == ENOENT ? 0 : -1;
}

static int fsync_parent_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];
	if (!slash) {
		strcpy(dir, ".");
	} else if (slash == path) {
		strcpy(dir, "/");
	} else {
		size_t n = (size_t)(slash - path);
		if (n >= sizeof dir)
			return -1;
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* Writes data to path via a temporary file in the same directory + fsync + rename. */
static int write_atomic(const char *path, const void *data, size_t len, mode_t mode, long uid, long gid, char *err,
			size_t errlen)
{
	size_t pl = strlen(path);
	char *tmp = malloc(pl + sizeof ".tmp.XXXXXX");
	if (!tmp)
		return fail(err, errlen, "%s: out of memory", path);
	memcpy(tmp, path, pl);
	memcpy(tmp + pl, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
	int fd = mkostemp(tmp, O_CLOEXEC); /* created 0600: never readable by others, even briefly */
	if (fd < 0) {
		fail(err, errlen, "%s: cannot create temporary file: %s", path, strerror(errno));
		free(tmp);
		return -1;
	}
	const char *what = NULL;
	if ((uid >= 0 || gid >= 0) &&
	    fchown(fd, uid >= 0 ? (uid_t)uid : (uid_t)-1, gid >= 0 ? (gid_t)gid : (gid_t)-1) != 0)
		what = "chown";
	if (!what && fchmod(fd, mode) != 0)
		what = "chmod";
	for (const char *p = data; !what && len;) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			what = "write";
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (!what && fsync(fd) != 0)
		what = "fsync";
	if (close(fd) != 0 && !what)
		what = "close";
	if (!what && rename(tmp, path) != 0)
		what = "rename";
	if (what) {
		fail(err, errlen, "%s: %s failed: %s", path, what, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	fsync_parent_dir(path); /* best effort: the rename itself already happened */
	return 0;
}

static time_t x509_time_to_unix(const mbedtls_x509_time *t)
{
	struct tm tm = {0};
	tm.tm_year = t->year - 1900;
	tm.tm_mon = t->mon - 1;
	tm.tm_mday = t->day;
	tm.tm_hour = t->hour;
	tm.tm_min = t->min;
	tm.tm_sec = t->sec;
	return timegm(&tm);
}

static void fmt_x509_time(const mbedtls_x509_time *t, char *buf, size_t len)
{
	snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d UTC", t->year, t->mon, t->day, t->hour, t->min, t->sec);
}

/* First commonName of a DN, bounded; "" when there is none. */
static void dn_cn(const mbedtls_x509_name *dn, char *buf, size_t len)
{
	buf[0] = '\0';
	for (; dn; dn = dn->next) {
		if (dn->oid.p && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &dn->oid) == 0) {
			size_t n = dn->val.len < len - 1 ? dn->val.len : len - 1;
			for (size_t i = 0; i < n; i++) /* the certificate may not be ours: printable only */
				buf[i] = dn->val.p[i] >= 0x20 && dn->val.p[i] < 0x7f ? (char)dn->val.p[i] : '?';
			buf[n] = '\0';
			return;
		}
	}
}

/* ---- requested names ---- */

struct ip_addr {
	size_t len; /* 4 or 16 */
	uint8_t b[16];
};

struct want {
	const char *hosts[MAX_NAMES];
	size_t nhosts;
	struct ip_addr ips[MAX_NAMES];
	size_t nips;
	char cn[MAX_HOSTNAME + 1];
};

static int parse_ip(const char *s, struct ip_addr *ip)
{
	if (inet_pton(AF_INET, s, ip->b) == 1) {
		ip->len = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, ip->b) == 1) {
		ip->len = 16;
		return 0;
	}
	return -1;
}

static void ip_text(const struct ip_addr *ip, char *buf, size_t len)
{
	if (!inet_ntop(ip->len == 4 ? AF_INET : AF_INET6, ip->b, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

/* Host names go into the subject DN string and the SAN: allow only what DNS names are made of (and a
 * wildcard), which also keeps ',', '=' and '\' out of mbedtls's DN string parser. */
static bool hostname_ok(const char *h)
{
	size_t n = strlen(h);
	if (n == 0 || n > MAX_HOSTNAME || h[0] == '.' || h[n - 1] == '.' || strstr(h, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '.' || c == '_' || c == '*'))
			return false;
	}
	return true;
}

static int add_ip(struct want *w, const struct ip_addr *ip, char *err, size_t errlen)
{
	for (size_t i = 0; i < w->nips; i++)
		if (w->ips[i].len == ip->len && memcmp(w->ips[i].b, ip->b, ip->len) == 0)
			return 0; /* duplicate */
	if (w->nips == MAX_NAMES)
		return fail(err, errlen, "too many IP addresses (max %d)", MAX_NAMES);
	w->ips[w->nips++] = *ip;
	return 0;
}

/* Builds the deduplicated request. A "hostname" that is an IP literal is treated as an IP (a DNS SAN
 * holding an address matches nothing in a TLS client). */
static int want_build(const struct fc_certs_opts *o, struct want *w, char *err, size_t errlen)
{
	memset(w, 0, sizeof *w);
	if (o->n_hostnames + o->n_ips == 0)
		return fail(err, errlen, "no hostnames or IP addresses for the server certificate");
	if ((o->n_hostnames && !o->hostnames) || (o->n_ips && !o->ips))
		return fail(err, errlen, "hostnames/ips list is NULL");
	for (size_t i = 0; i < o->n_hostnames; i++) {
		const char *h = o->hostnames[i];
		struct ip_addr ip;
		if (!h)
			return fail(err, errlen, "hostname %zu is NULL", i);
		if (parse_ip(h, &ip) == 0) {
			if (add_ip(w, &ip, err, errlen) != 0)
				return -1;
			continue;
		}
		if (!hostname_ok(h))
			return fail(err, errlen, "invalid hostname \"%.64s\"", h);
		bool dup = false;
		for (size_t k = 0; k < w->nhosts && !dup; k++)
			dup = strcasecmp(w->hosts[k], h) == 0;
		if (dup)
			continue;
		if (w->nhosts == MAX_NAMES)
			return fail(err, errlen, "too many hostnames (max %d)", MAX_NAMES);
		w->hosts[w->nhosts++] = h;
	}
	for (size_t i = 0; i < o->n_ips; i++) {
		struct ip_addr ip;
		if (!o->ips[i] || parse_ip(o->ips[i], &ip) != 0)
			return fail(err, errlen, "invalid IP address \"%.64s\"", o->ips[i] ? o->ips[i] : "(null)");
		if (add_ip(w, &ip, err, errlen) != 0)
			return -1;
	}
	/* CN = first hostname (as given, IP literal or not), else the first IP. */
	if (o->n_hostnames) {
		struct ip_addr ip;
		if (parse_ip(o->hostnames[0], &ip) == 0)
			ip_text(&ip, w->cn, sizeof w->cn);
		else
			snprintf(w->cn, sizeof w->cn, "%s", o->hostnames[0]);
	} else {
		ip_text(&w->ips[0], w->cn, sizeof w->cn);
	}
	return 0;
}

/* ---- DER for the extensions mbedtls 2.28 cannot write ---- */

/* asn1write writes backwards from the end of the buffer; each call returns the bytes written or a
 * negative error. */
#define DER_ADD(total, call)              \
	do {                              \
		int r_ = (call);          \
		if (r_ < 0)               \
			return r_;        \
		(total) += (size_t)r_;    \
	} while (0)

/* SubjectAltName: SEQUENCE OF { [2] IA5String dNSName | [7] OCTET STRING iPAddress }. */
static int der_san(const struct want *w, unsigned char *buf, size_t cap, unsigned char **start, size_t *len)
{
	unsigned char *p = buf + cap;
	size_t total = 0;
	for (size_t i = w->nips; i-- > 0;) {
		size_t n = 0;
		DER_ADD(n, mbedtls_asn1_write_raw_buffer(&p, buf, w->ips[i].b, w->ips[i].len));
		DER_ADD(n, mbedtls_asn1_write_len(&p, buf, n));
		DER_ADD(n, mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7));
		total += n;
	}
	for (size_t i = w->nhosts; i-- > 0;) {
		size_t n = 0;
		DER_ADD(n, mbedtls_asn1_write_raw_buffer(&p, buf, (const unsigned char *)w->hosts[i],
							  strlen(w->hosts[i])));
		DER_ADD(n, mbedtls_asn1_write_len(&p, buf, n));
		DER_ADD(n, mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2));
		total += n;
	}
	DER_ADD(total, mbedtls_asn1_write_len(&p, buf, total));
	DER_ADD(total, mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	*start = p;
	*len = total;
	return 0;
}

/* ExtKeyUsageSyntax: SEQUENCE OF KeyPurposeId, here just id-kp-serverAuth. */
static int der_eku_server(unsigned char *buf, size_t cap, unsigned char **start, size_t *len)
{
	unsigned char *p = buf + cap;
	size_t total = 0;
	DER_ADD(total, mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)));
	DER_ADD(total, mbedtls_asn1_write_len(&p, buf, total));
	DER_ADD(total, mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	*start = p;
	*len = total;
	return 0;
}

/* ---- reading SANs back ---- */

struct cert_sans {
	const unsigned char *dns[MAX_CERT_SANS];
	size_t dnslen[MAX_CERT_SANS];
	size_t ndns;
	struct ip_addr ips[MAX_CERT_SANS];
	size_t nips;
	size_t nother;   /* entries of other types, or malformed IPs */
	bool overflow;   /* more entries than we keep */
};

/* GeneralNames inside the extension's OCTET STRING [p, end). */
static int parse_general_names(unsigned char *p, const unsigned char *end, struct cert_sans *s)
{
	size_t len;
	if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
		return -1;
	const unsigned char *gend = p + len;
	while (p < gend) {
		unsigned char tag = *p++;
		if (mbedtls_asn1_get_len(&p, gend, &len) != 0)
			return -1;
		if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)) {
			if (s->ndns < MAX_CERT_SANS) {
				s->dns[s->ndns] = p;
				s->dnslen[s->ndns++] = len;
			} else {
				s->overflow = true;
			}
		} else if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && (len == 4 || len == 16)) {
			if (s->nips < MAX_CERT_SANS) {
				s->ips[s->nips].len = len;
				memcpy(s->ips[s->nips++].b, p, len);
			} else {
				s->overflow = true;
			}
		} else {
			s->nother++;
		}
		p += len; /* get_len checked that len bytes remain before gend */
	}
	return 0;
}

/* Finds subjectAltName among the raw v3 extensions and collects its entries. A certificate without the
 * extension yields an empty set. Returns -1 on malformed DER. */
static int read_cert_sans(const mbedtls_x509_crt *crt, struct cert_sans *s)
{
	memset(s, 0, sizeof *s);
	if (!crt->v3_ext.p || crt->v3_ext.len == 0)
		return 0;
	unsigned char *p = crt->v3_ext.p;
	const unsigned char *end = p + crt->v3_ext.len;
	size_t len;
	/* v3_ext points at the Extensions SEQUENCE (inside the [3] wrapper); accept the wrapper too. */
	if (*p == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 3) &&
	    mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 3) != 0)
		return -1;
	if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
		return -1;
	end = p + len;
	bool seen = false;
	while (p < end) {
		if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
			return -1;
		const unsigned char *eend = p + len;
		mbedtls_x509_buf oid;
		if (mbedtls_asn1_get_tag(&p, eend, &oid.len, MBEDTLS_ASN1_OID) != 0)
			return -1;
		oid.tag = MBEDTLS_ASN1_OID;
		oid.p = p;
		p += oid.len;
		int critical = 0;
		if (p < eend && *p == MBEDTLS_ASN1_BOOLEAN && mbedtls_asn1_get_bool(&p, eend, &critical) != 0)
			return -1;
		if (mbedtls_asn1_get_tag(&p, eend, &len, MBEDTLS_ASN1_OCTET_STRING) != 0)
			return -1;
		if (MBEDTLS_OID_CMP(MBEDTLS_OID_SUBJECT_ALT_NAME, &oid) == 0) {
			if (seen || parse_general_names(p, p + len, s) != 0)
				return -1;
			seen = true;
		}
		p = (unsigned char *)eend;
	}
	return 0;
}

static bool sans_match(const struct cert_sans *s, const struct want *w)
{
	if (s->overflow || s->nother || s->ndns != w->nhosts || s->nips != w->nips)
		return false;
	for (size_t i = 0; i < w->nhosts; i++) {
		size_t hl = strlen(w->hosts[i]);
		bool found = false;
		for (size_t k = 0; k < s->ndns && !found; k++)
			found = s->dnslen[k] == hl && strncasecmp((const char *)s->dns[k], w->hosts[i], hl) == 0;
		if (!found)
			return false;
	}
	for (size_t i = 0; i < w->nips; i++) {
		bool found = false;
		for (size_t k = 0; k < s->nips && !found; k++)
			found = s->ips[k].len == w->ips[i].len && memcmp(s->ips[k].b, w->ips[i].b, w->ips[i].len) == 0;
		if (!found)
			return false;
	}
	/* Same counts and every wanted name present: equal sets unless the certificate repeats a name
	 * (then a wanted one is missing, caught above). */
	return true;
}

/* ---- key and certificate generation ---- */

static int gen_key(mbedtls_pk_context *pk, bool ec, char *err, size_t errlen)
{
	char m[64];
	int rc = mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(ec ? MBEDTLS_PK_ECKEY : MBEDTLS_PK_RSA));
	if (rc == 0)
		rc = ec ? mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk), rng, NULL)
			: mbedtls_rsa_gen_key(mbedtls_pk_rsa(*pk), rng, NULL, RSA_BITS, 65537);
	if (rc != 0) {
		mbed_strerror(rc, m, sizeof m);
		return fail(err, errlen, "key generation failed: %s", m);
	}
	return 0;
}

static int write_key(const char *path, mbedtls_pk_context *pk, const struct fc_certs_opts *o, char *err,
		     size_t errlen)
{
	unsigned char *pem = malloc(KEY_PEM_MAX);
	if (!pem)
		return fail(err, errlen, "out of memory");
	int rc = mbedtls_pk_write_key_pem(pk, pem, KEY_PEM_MAX);
	if (rc != 0) {
		char m[64];
		mbed_strerror(rc, m, sizeof m);
		fail(err, errlen, "%s: cannot encode key: %s", path, m);
	} else {
		rc = write_atomic(path, pem, strlen((char *)pem), 0640, o->owner_uid, o->owner_gid, err, errlen);
	}
	mbedtls_platform_zeroize(pem, KEY_PEM_MAX);
	free(pem);
	return rc ? -1 : 0;
}

static int fmt_validity(time_t t, char out[16])
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(out, 16, "%Y%m%d%H%M%S", &tm) != 14)
		return -1;
	return 0;
}

struct issue {
	const char *subject, *issuer; /* DN strings for mbedtls_x509write_crt_set_*_name */
	mbedtls_pk_context *subject_key, *issuer_key;
	bool ca;
	long days;
	const struct want *w; /* server only: SANs */
};

/* Builds and signs a certificate; on success *pem is a malloc'ed NUL-terminated PEM string. */
static int make_cert(const struct issue *is, char **pem_out, char *err, size_t errlen)
{
	mbedtls_x509write_cert wr;
	mbedtls_mpi serial;
	unsigned char *san = NULL, *pem = NULL;
	char m[64];
	int rc;
	size_t san_cap = 0;

	*pem_out = NULL;
	mbedtls_x509write_crt_init(&wr);
	mbedtls_mpi_init(&serial);

	mbedtls_x509write_crt_set_version(&wr, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&wr, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&wr, is->subject_key);
	mbedtls_x509write_crt_set_issuer_key(&wr, is->issuer_key);

	/* Random positive 128-bit serial (top bit clear, next bit set: always 16 bytes, never zero). */
	unsigned char sb[16];
	if (fc_random(sb, sizeof sb) != 0) {
		rc = fail(err, errlen, "random number generator failed");
		goto out;
	}
	sb[0] = (unsigned char)((sb[0] & 0x7f) | 0x40);
	char nb[16], na[16];
	time_t now = time(NULL);
	if ((rc = mbedtls_mpi_read_binary(&serial, sb, sizeof sb)) != 0 ||
	    (rc = mbedtls_x509write_crt_set_serial(&wr, &serial)) != 0)
		goto mbed_fail;
	if (fmt_validity(now - BACKDATE_SECS, nb) != 0 || fmt_validity(now - BACKDATE_SECS + is->days * DAY_SECS, na) != 0) {
		rc = fail(err, errlen, "cannot format validity dates");
		goto out;
	}
	if ((rc = mbedtls_x509write_crt_set_validity(&wr, nb, na)) != 0 ||
	    (rc = mbedtls_x509write_crt_set_subject_name(&wr, is->subject)) != 0 ||
	    (rc = mbedtls_x509write_crt_set_issuer_name(&wr, is->issuer)) != 0 ||
	    (rc = mbedtls_x509write_crt_set_basic_constraints(&wr, is->ca, is->ca ? 0 : -1)) != 0 ||
	    (rc = mbedtls_x509write_crt_set_subject_key_identifier(&wr)) != 0 ||
	    (rc = mbedtls_x509write_crt_set_authority_key_identifier(&wr)) != 0)
		goto mbed_fail;

	unsigned int ku;
	if (is->ca)
		ku = MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN;
	else if (mbedtls_pk_get_type(is->subject_key) == MBEDTLS_PK_RSA)
		ku = MBEDTLS_X509_KU_DIGITAL_SIGNATURE | MBEDTLS_X509_KU_KEY_ENCIPHERMENT;
	else
		ku = MBEDTLS_X509_KU_DIGITAL_SIGNATURE;
	if ((rc = mbedtls_x509write_crt_set_key_usage(&wr, ku)) != 0)
		goto mbed_fail;

	if (!is->ca) {
		unsigned char eku[32], *der;
		size_t derlen;
		if ((rc = der_eku_server(eku, sizeof eku, &der, &derlen)) != 0 ||
		    (rc = mbedtls_x509write_crt_set_extension(&wr, MBEDTLS_OID_EXTENDED_KEY_USAGE,
							       MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0,
							       der, derlen)) != 0)
			goto mbed_fail;
		/* Each entry: value + at most 4 bytes of tag and length; plus the outer header. */
		san_cap = 16;
		for (size_t i = 0; i < is->w->nhosts; i++)
			san_cap += strlen(is->w->hosts[i]) + 4;
		san_cap += is->w->nips * (16 + 4);
		if (!(san = malloc(san_cap))) {
			rc = fail(err, errlen, "out of memory");
			goto out;
		}
		if ((rc = der_san(is->w, san, san_cap, &der, &derlen)) != 0 ||
		    (rc = mbedtls_x509write_crt_set_extension(&wr, MBEDTLS_OID_SUBJECT_ALT_NAME,
							       MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, der,
							       derlen)) != 0)
			goto mbed_fail;
	}

	size_t pem_cap = 4096 + 2 * san_cap;
	if (!(pem = malloc(pem_cap))) {
		rc = fail(err, errlen, "out of memory");
		goto out;
	}
	if ((rc = mbedtls_x509write_crt_pem(&wr, pem, pem_cap, rng, NULL)) != 0)
		goto mbed_fail;
	*pem_out = (char *)pem;
	pem = NULL;
	rc = 0;
	goto out;

mbed_fail:
	mbed_strerror(rc, m, sizeof m);
	rc = fail(err, errlen, "cannot build certificate \"%s\": %s", is->subject, m);
out:
	free(pem);
	free(san);
	mbedtls_mpi_free(&serial);
	mbedtls_x509write_crt_free(&wr);
	return rc;
}

/* ---- the CA ---- */

struct ca {
	mbedtls_x509_crt crt;
	mbedtls_pk_context key;
	char dn[512]; /* subject DN as a string, used as the issuer of server certificates */
};

static int load_key(mbedtls_pk_context *pk, const char *path, char *err, size_t errlen)
{
	int rc = mbedtls_pk_parse_keyfile(pk, path, NULL);
	if (rc != 0) {
		char m[64];
		mbed_strerror(rc, m, sizeof m);
		return fail(err, errlen, "%s: cannot parse key: %s", path, m);
	}
	return 0;
}

static int load_cert(mbedtls_x509_crt *crt, const char *path, char *err, size_t errlen)
{
	int rc = mbedtls_x509_crt_parse_file(crt, path);
	if (rc != 0) {
		char m[64];
		mbed_strerror(rc, m, sizeof m);
		return fail(err, errlen, "%s: cannot parse certificate: %s", path, m);
	}
	return 0;
}

static int ca_create(const struct fc_certs_opts *o, bool have_key, struct ca *ca, struct text *rep, char *err,
		     size_t errlen)
{
	/* A key without a certificate is what an interrupted first run leaves: reuse it. */
	bool reused = false;
	if (have_key) {
		char e2[256];
		if (load_key(&ca->key, o->ca_key, e2, sizeof e2) == 0)
			reused = true;
		else {
			mbedtls_pk_free(&ca->key);
			mbedtls_pk_init(&ca->key);
		}
	}
	if (!reused && gen_key(&ca->key, false, err, errlen) != 0)
		return -1;

	char tag[9];
	if (fc_random_hex(tag, 8) != 0)
		return fail(err, errlen, "random number generator failed");
	snprintf(ca->dn, sizeof ca->dn, "CN=fakecloud CA %s,O=fakecloud", tag);
	struct issue is = {.subject = ca->dn, .issuer = ca->dn, .subject_key = &ca->key, .issuer_key = &ca->key,
			   .ca = true, .days = CA_DAYS};
	char *pem = NULL;
	if (make_cert(&is, &pem, err, errlen) != 0)
		return -1;
	int rc = mbedtls_x509_crt_parse(&ca->crt, (unsigned char *)pem, strlen(pem) + 1);
	if (rc != 0) {
		free(pem);
		return fail(err, errlen, "generated CA certificate does not parse (-0x%04x)", (unsigned)-rc);
	}
	if (!reused && write_key(o->ca_key, &ca->key, o, err, errlen) != 0) {
		free(pem);
		return -1;
	}
	rc = write_atomic(o->ca_cert, pem, strlen(pem), 0644, o->owner_uid, o->owner_gid, err, errlen);
	free(pem);
	if (rc != 0)
		return -1;
	char until[40];
	fmt_x509_time(&ca->crt.valid_to, until, sizeof until);
	text_add(rep, "%s: created CA \"fakecloud CA %s\", valid until %s\n", o->ca_cert, tag, until);
	text_add(rep, "%s: %s\n", o->ca_key, reused ? "kept (existing key reused for the new CA)" : "created (RSA-2048)");
	return 0;
}

static int ca_load(const struct fc_certs_opts *o, struct ca *ca, struct text *rep, char *err, size_t errlen)
{
	if (load_cert(&ca->crt, o->ca_cert, err, errlen) != 0 || load_key(&ca->key, o->ca_key, err, errlen) != 0)
		return -1;
	if (mbedtls_pk_check_pair(&ca->crt.pk, &ca->key) != 0)
		return fail(err, errlen, "%s does not belong to %s", o->ca_key, o->ca_cert);
	if (!ca->crt.ca_istrue)
		return fail(err, errlen, "%s is not a CA certificate", o->ca_cert);
	char until[40];
	fmt_x509_time(&ca->crt.valid_to, until, sizeof until);
	if (mbedtls_x509_time_is_past(&ca->crt.valid_to))
		return fail(err, errlen, "CA certificate %s expired on %s; remove %s and %s to create a new CA",
			    o->ca_cert, until, o->ca_cert, o->ca_key);
	if (mbedtls_x509_dn_gets(ca->dn, sizeof ca->dn, &ca->crt.subject) < 0)
		return fail(err, errlen, "%s: subject name too long", o->ca_cert);
	text_add(rep, "%s: up to date (valid until %s)\n", o->ca_cert, until);
	text_add(rep, "%s: up to date\n", o->ca_key);
	return 0;
}

/* ---- the server certificate ---- */

/* Decides whether the server certificate must be (re)issued. Returns 1 with a reason, 0 when it is
 * fine, -1 on a hard error. *key_ok tells whether the existing key can be reused. */
static int server_check(const struct fc_certs_opts *o, const struct want *w, struct ca *ca, mbedtls_pk_context *key,
			bool *key_ok, const char **why, char *err, size_t errlen)
{
	*key_ok = false;
	int ks = file_state(o->key), cs = file_state(o->cert);
	if (ks < 0)
		return fail(err, errlen, "%s: %s", o->key, strerror(errno));
	if (cs < 0)
		return fail(err, errlen, "%s: %s", o->cert, strerror(errno));
	if (ks == 1) {
		char e2[256];
		if (load_key(key, o->key, e2, sizeof e2) == 0 &&
		    mbedtls_pk_get_type(key) == (o->ec ? MBEDTLS_PK_ECKEY : MBEDTLS_PK_RSA))
			*key_ok = true;
	}
	if (cs == 0) {
		*why = "missing";
		return 1;
	}
	if (ks == 0) {
		*why = "key missing";
		return 1;
	}
	if (!*key_ok) {
		*why = o->ec ? "key unreadable or not EC (EC P-256 requested)" : "key unreadable or not RSA (RSA requested)";
		return 1;
	}

	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	int rc = 1;
	uint32_t flags = 0;
	char cn[MAX_HOSTNAME + 1];
	struct cert_sans *sans = malloc(sizeof *sans);
	if (!sans) {
		rc = fail(err, errlen, "out of memory");
		goto out;
	}
	if (mbedtls_x509_crt_parse_file(&crt, o->cert) != 0) {
		*why = "certificate does not parse";
		goto out;
	}
	if (mbedtls_pk_check_pair(&crt.pk, key) != 0) {
		*why = "key does not match the certificate";
		goto out;
	}
	if (mbedtls_x509_crt_verify(&crt, &ca->crt, NULL, NULL, &flags, NULL, NULL) != 0) {
		*why = (flags & MBEDTLS_X509_BADCERT_EXPIRED) ? "expired" : "not signed by the CA";
		goto out;
	}
	if (x509_time_to_unix(&crt.valid_to) < time(NULL) + RENEW_DAYS * DAY_SECS) {
		*why = "expires within 30 days";
		goto out;
	}
	if (mbedtls_x509_crt_check_extended_key_usage(&crt, MBEDTLS_OID_SERVER_AUTH,
						      MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)) != 0) {
		*why = "no serverAuth extended key usage";
		goto out;
	}
	dn_cn(&crt.subject, cn, sizeof cn);
	if (strcasecmp(cn, w->cn) != 0) {
		*why = "CN differs";
		goto out;
	}
	if (read_cert_sans(&crt, sans) != 0 || !sans_match(sans, w)) {
		*why = "SAN set differs";
		goto out;
	}
	rc = 0;
out:
	free(sans);
	mbedtls_x509_crt_free(&crt);
	return rc;
}

static void sans_text(const struct want *w, struct text *t)
{
	for (size_t i = 0; i < w->nhosts; i++)
		text_add(t, "%sDNS:%s", t->len ? ", " : "", w->hosts[i]);
	for (size_t i = 0; i < w->nips; i++) {
		char ip[INET6_ADDRSTRLEN];
		ip_text(&w->ips[i], ip, sizeof ip);
		text_add(t, "%sIP:%s", t->len ? ", " : "", ip);
	}
}

static int server_issue(const struct fc_certs_opts *o, const struct want *w, struct ca *ca, mbedtls_pk_context *key,
			bool key_ok, const char *why, struct text *rep, char *err, size_t errlen)
{
	if (!key_ok) {
		mbedtls_pk_free(key);
		mbedtls_pk_init(key);
		if (gen_key(key, o->ec, err, errlen) != 0)
			return -1;
	}
	char subject[MAX_HOSTNAME + 32];
	snprintf(subject, sizeof subject, "CN=%s,O=fakecloud", w->cn);
	struct issue is = {.subject = subject, .issuer = ca->dn, .subject_key = key, .issuer_key = &ca->key,
			   .ca = false, .days = SERVER_DAYS, .w = w};
	char *pem = NULL;
	if (make_cert(&is, &pem, err, errlen) != 0)
		return -1;

	/* Never write a certificate that the CA would not vouch for. */
	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	uint32_t flags = 0;
	int rc = mbedtls_x509_crt_parse(&crt, (unsigned char *)pem, strlen(pem) + 1);
	if (rc != 0 || mbedtls_x509_crt_verify(&crt, &ca->crt, NULL, NULL, &flags, NULL, NULL) != 0) {
		rc = fail(err, errlen, "issued server certificate does not verify against the CA (flags 0x%x)",
			  (unsigned)flags);
		goto out;
	}
	if (!key_ok && (rc = write_key(o->key, key, o, err, errlen)) != 0)
		goto out;
	if ((rc = write_atomic(o->cert, pem, strlen(pem), 0644, o->owner_uid, o->owner_gid, err, errlen)) != 0)
		goto out;
	char until[40], names[1024];
	struct text nt;
	text_init(&nt, names, sizeof names);
	sans_text(w, &nt);
	fmt_x509_time(&crt.valid_to, until, sizeof until);
	text_add(rep, "%s: issued (%s): CN %s, SAN %s, valid until %s\n", o->cert, why, w->cn, names, until);
	text_add(rep, "%s: %s\n", o->key, key_ok ? "kept" : o->ec ? "created (EC P-256)" : "created (RSA-2048)");
out:
	mbedtls_x509_crt_free(&crt);
	free(pem);
	return rc;
}

/* Existing files: apply the requested owner, and take group-write and all "other" access off keys. */
static int fix_file(const char *path, bool is_key, const struct fc_certs_opts *o, struct text *rep, char *err,
		    size_t errlen)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return fail(err, errlen, "%s: %s", path, strerror(errno));
	bool own = (o->owner_uid >= 0 && st.st_uid != (uid_t)o->owner_uid) ||
		   (o->owner_gid >= 0 && st.st_gid != (gid_t)o->owner_gid);
	if (own) {
		if (chown(path, o->owner_uid >= 0 ? (uid_t)o->owner_uid : (uid_t)-1,
			  o->owner_gid >= 0 ? (gid_t)o->owner_gid : (gid_t)-1) != 0)
			return fail(err, errlen, "%s: chown failed: %s", path, strerror(errno));
		text_add(rep, "%s: owner set to %ld:%ld\n", path, o->owner_uid, o->owner_gid);
	}
	mode_t mode = st.st_mode & 07777;
	if (is_key && (mode & 0027)) {
		if (chmod(path, mode & 0640) != 0)
			return fail(err, errlen, "%s: chmod failed: %s", path, strerror(errno));
		text_add(rep, "%s: mode tightened to %04o\n", path, (unsigned)(mode & 0640));
	}
	return 0;
}

int fc_certs_ensure(const struct fc_certs_opts *o, char *report, size_t reportlen, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	struct text rep;
	text_init(&rep, report, reportlen);
	if (!o || !o->ca_cert || !o->ca_key || !o->cert || !o->key)
		return fail(err, errlen, "certificate and key paths are required");
	const char *paths[4] = {o->ca_cert, o->ca_key, o->cert, o->key};
	for (int i = 0; i < 4; i++)
		for (int k = i + 1; k < 4; k++)
			if (strcmp(paths[i], paths[k]) == 0)
				return fail(err, errlen, "the same path is given for two files: %s", paths[i]);

	struct want *w = malloc(sizeof *w);
	struct ca *ca = malloc(sizeof *ca);
	mbedtls_pk_context key;
	mbedtls_pk_init(&key);
	int result = -1;
	if (!w || !ca) {
		free(w);
		free(ca);
		return fail(err, errlen, "out of memory");
	}
	mbedtls_x509_crt_init(&ca->crt);
	mbedtls_pk_init(&ca->key);
	if (want_build(o, w, err, errlen) != 0)
		goto out;

	int actions = 0;
	int cs = file_state(o->ca_cert), ks = file_state(o->ca_key);
	if (cs < 0 || ks < 0) {
		const char *p = cs < 0 ? o->ca_cert : o->ca_key;
		fail(err, errlen, "%s: %s", p, strerror(errno));
		goto out;
	}
	if (cs == 0) {
		if (ca_create(o, ks == 1, ca, &rep, err, errlen) != 0)
			goto out;
		actions |= FC_CERTS_CREATED_CA;
	} else if (ks == 0) {
		fail(err, errlen, "CA certificate %s exists but its key %s is missing; restore the key, or remove %s "
			     "to create a new CA", o->ca_cert, o->ca_key, o->ca_cert);
		goto out;
	} else if (ca_load(o, ca, &rep, err, errlen) != 0) {
		goto out;
	}

	bool key_ok;
	const char *why = NULL;
	int need = server_check(o, w, ca, &key, &key_ok, &why, err, errlen);
	if (need < 0)
		goto out;
	if (need) {
		if (server_issue(o, w, ca, &key, key_ok, why, &rep, err, errlen) != 0)
			goto out;
		actions |= FC_CERTS_ISSUED_SERVER;
	} else {
		text_add(&rep, "%s: up to date\n%s: up to date\n", o->cert, o->key);
	}

	if (fix_file(o->ca_cert, false, o, &rep, err, errlen) != 0 || fix_file(o->ca_key, true, o, &rep, err, errlen) != 0 ||
	    fix_file(o->cert, false, o, &rep, err, errlen) != 0 || fix_file(o->key, true, o, &rep, err, errlen) != 0)
		goto out;
	result = actions;
out:
	mbedtls_pk_free(&key);
	mbedtls_pk_free(&ca->key);
	mbedtls_x509_crt_free(&ca->crt);
	free(ca);
	free(w);
	return result;
}

int fc_certs_describe(const char *cert_path, char *out, size_t outlen, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!cert_path || !out || outlen == 0)
		return fail(err, errlen, "bad arguments");
	struct text t;
	text_init(&t, out, outlen);
	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	struct cert_sans *sans = malloc(sizeof *sans);
	int rc = -1;
	if (!sans) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	if (load_cert(&crt, cert_path, err, errlen) != 0)
		goto out;

	char cn[256], icn[256], tm[40];
	dn_cn(&crt.subject, cn, sizeof cn);
	dn_cn(&crt.issuer, icn, sizeof icn);
	text_add(&t, "subject CN: %s\n", cn);
	text_add(&t, "SANs:");
	if (read_cert_sans(&crt, sans) != 0) {
		text_add(&t, " (malformed extension)");
	} else {
		const char *sep = " ";
		for (size_t i = 0; i < sans->ndns; i++) {
			/* Print names byte by byte, non-printable ones as '?': the file may not be ours. */
			text_add(&t, "%sDNS:", sep);
			for (size_t k = 0; k < sans->dnslen[i] && k < 255; k++) {
				unsigned char c = sans->dns[i][k];
				text_add(&t, "%c", c >= 0x20 && c < 0x7f ? c : '?');
			}
			sep = ", ";
		}
		for (size_t i = 0; i < sans->nips; i++) {
			char ip[INET6_ADDRSTRLEN];
			ip_text(&sans->ips[i], ip, sizeof ip);
			text_add(&t, "%sIP:%s", sep, ip);
			sep = ", ";
		}
		if (sans->nother)
			text_add(&t, "%s(%zu other)", sep, sans->nother);
		if (!sans->ndns && !sans->nips && !sans->nother)
			text_add(&t, " (none)");
	}
	text_add(&t, "\nissuer CN: %s\n", icn);
	fmt_x509_time(&crt.valid_from, tm, sizeof tm);
	text_add(&t, "not before: %s\n", tm);
	fmt_x509_time(&crt.valid_to, tm, sizeof tm);
	text_add(&t, "not after: %s%s\n", tm, mbedtls_x509_time_is_past(&crt.valid_to) ? " (EXPIRED)" : "");
	text_add(&t, "key: %s %zu bits%s\n", mbedtls_pk_get_name(&crt.pk), mbedtls_pk_get_bitlen(&crt.pk),
		 crt.ca_istrue ? ", CA" : "");
	rc = 0;
out:
	free(sans);
	mbedtls_x509_crt_free(&crt);
	return rc;
}
