/* certs: CA + server certificate generation, idempotence, reissue triggers, chain verification with
 * mbedtls and (when installed) with the openssl CLI as an independent parser. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "certs/certs.h"
#include "unit/t.h"

static char dir[64];
static char ca_crt[128], ca_key[128], srv_crt[128], srv_key[128];

struct snap {
	char *data;
	size_t len;
	struct timespec mtime;
	ino_t ino;
};

static void snap_take(const char *path, struct snap *s)
{
	memset(s, 0, sizeof *s);
	struct stat st;
	FILE *f = fopen(path, "rb");
	if (!f || stat(path, &st) != 0) {
		if (f)
			fclose(f);
		return;
	}
	s->mtime = st.st_mtim;
	s->ino = st.st_ino;
	s->data = malloc((size_t)st.st_size + 1);
	s->len = s->data ? fread(s->data, 1, (size_t)st.st_size, f) : 0;
	if (s->data)
		s->data[s->len] = '\0';
	fclose(f);
}

static bool snap_same(const struct snap *a, const struct snap *b)
{
	return a->data && b->data && a->len == b->len && memcmp(a->data, b->data, a->len) == 0 &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec && a->ino == b->ino;
}

static void snap_free(struct snap *s) { free(s->data); }

static int file_mode(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

static struct fc_certs_opts base_opts(const char *const *hosts, size_t nh, const char *const *ips, size_t ni)
{
	struct fc_certs_opts o = {.ca_cert = ca_crt, .ca_key = ca_key, .cert = srv_crt, .key = srv_key,
				  .hostnames = hosts, .n_hostnames = nh, .ips = ips, .n_ips = ni,
				  .owner_uid = -1, .owner_gid = -1};
	return o;
}

static int ensure(const struct fc_certs_opts *o)
{
	char report[2048], err[256];
	int rc = fc_certs_ensure(o, report, sizeof report, err, sizeof err);
	if (rc < 0)
		fprintf(stderr, "fc_certs_ensure: %s\n", err);
	return rc;
}

/* mbedtls: does `crt_path` chain to `ca_path`? Returns the verify flags (0 = OK), or -1. */
static long verify_flags(const char *crt_path, const char *ca_path)
{
	mbedtls_x509_crt crt, ca;
	mbedtls_x509_crt_init(&crt);
	mbedtls_x509_crt_init(&ca);
	long r = -1;
	uint32_t flags = 0;
	if (mbedtls_x509_crt_parse_file(&crt, crt_path) == 0 && mbedtls_x509_crt_parse_file(&ca, ca_path) == 0) {
		mbedtls_x509_crt_verify(&crt, &ca, NULL, NULL, &flags, NULL, NULL);
		r = (long)flags;
	}
	mbedtls_x509_crt_free(&crt);
	mbedtls_x509_crt_free(&ca);
	return r;
}

/* The dNSName SANs as mbedtls's own parser lists them. */
static bool has_dns_san(const char *crt_path, const char *name)
{
	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	bool found = false;
	if (mbedtls_x509_crt_parse_file(&crt, crt_path) == 0) {
		for (const mbedtls_x509_sequence *s = &crt.subject_alt_names; s && s->buf.p; s = s->next)
			if (s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2) && s->buf.len == strlen(name) &&
			    memcmp(s->buf.p, name, s->buf.len) == 0)
				found = true;
	}
	mbedtls_x509_crt_free(&crt);
	return found;
}

static int key_type(const char *path)
{
	mbedtls_pk_context pk;
	mbedtls_pk_init(&pk);
	int t = -1;
	if (mbedtls_pk_parse_keyfile(&pk, path, NULL) == 0)
		t = (int)mbedtls_pk_get_type(&pk);
	mbedtls_pk_free(&pk);
	return t;
}

static bool have_openssl(void) { return access("/usr/bin/openssl", X_OK) == 0; }

/* Runs a command, returns its stdout (malloc'ed, NUL-terminated) or NULL. */
static char *run(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	if (!p)
		return NULL;
	size_t cap = 65536, len = 0;
	char *out = malloc(cap);
	if (out) {
		size_t n;
		while (len < cap - 1 && (n = fread(out + len, 1, cap - 1 - len, p)) > 0)
			len += n;
		out[len] = '\0';
	}
	pclose(p);
	return out;
}

static void openssl_checks(bool ec)
{
	if (!have_openssl()) {
		printf("skip: /usr/bin/openssl not installed\n");
		return;
	}
	char cmd[512];
	snprintf(cmd, sizeof cmd, "/usr/bin/openssl x509 -noout -text -in %s 2>&1", srv_crt);
	char *text = run(cmd);
	CHECK(text != NULL);
	if (text) {
		CHECK(strstr(text, "DNS:fakecloud") != NULL);
		CHECK(strstr(text, "DNS:iot.example.com") != NULL);
		CHECK(strstr(text, "IP Address:127.0.0.1") != NULL);
		CHECK(strstr(text, "IP Address:0:0:0:0:0:0:0:1") != NULL || strstr(text, "IP Address:::1") != NULL);
		CHECK(strstr(text, "TLS Web Server Authentication") != NULL);
		CHECK(strstr(text, "Subject: CN = fakecloud") != NULL || strstr(text, "Subject: CN=fakecloud") != NULL);
		CHECK(strstr(text, "CA:FALSE") != NULL);
		CHECK(strstr(text, "X509v3 Subject Key Identifier") != NULL);
		CHECK(strstr(text, "X509v3 Authority Key Identifier") != NULL);
		CHECK(strstr(text, ec ? "id-ecPublicKey" : "rsaEncryption") != NULL);
		free(text);
	}
	snprintf(cmd, sizeof cmd, "/usr/bin/openssl verify -CAfile %s %s 2>&1", ca_crt, srv_crt);
	char *v = run(cmd);
	CHECK(v != NULL);
	if (v) {
		char want[256];
		snprintf(want, sizeof want, "%s: OK\n", srv_crt);
		CHECK_STR(v, want);
		free(v);
	}
	snprintf(cmd, sizeof cmd, "/usr/bin/openssl x509 -noout -text -in %s 2>&1", ca_crt);
	text = run(cmd);
	if (text) {
		CHECK(strstr(text, "CA:TRUE") != NULL);
		CHECK(strstr(text, "Certificate Sign") != NULL);
		CHECK(strstr(text, "fakecloud CA ") != NULL);
		free(text);
	}
}

static void test_first_and_second_run(void)
{
	const char *hosts[] = {"fakecloud", "iot.example.com", "mqtt.example.net"};
	const char *ips[] = {"127.0.0.1", "::1"};
	struct fc_certs_opts o = base_opts(hosts, 3, ips, 2);

	char report[2048], err[256];
	int rc = fc_certs_ensure(&o, report, sizeof report, err, sizeof err);
	CHECK_INT(rc, FC_CERTS_CREATED_CA | FC_CERTS_ISSUED_SERVER);
	if (rc < 0)
		fprintf(stderr, "err: %s\n", err);
	CHECK(strstr(report, ca_crt) != NULL && strstr(report, srv_crt) != NULL && strstr(report, srv_key) != NULL);
	CHECK_INT(file_mode(ca_key), 0640);
	CHECK_INT(file_mode(srv_key), 0640);
	CHECK_INT(file_mode(ca_crt), 0644);
	CHECK_INT(file_mode(srv_crt), 0644);
	CHECK_INT(verify_flags(srv_crt, ca_crt), 0);
	CHECK(has_dns_san(srv_crt, "fakecloud"));
	CHECK(has_dns_san(srv_crt, "iot.example.com"));
	CHECK(has_dns_san(srv_crt, "mqtt.example.net"));
	CHECK(!has_dns_san(srv_crt, "example.com"));
	CHECK_INT(key_type(srv_key), MBEDTLS_PK_RSA);
	CHECK_INT(key_type(ca_key), MBEDTLS_PK_RSA);
	openssl_checks(false);

	/* no temporary files left behind */
	DIR *d = opendir(dir);
	int entries = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		if (e->d_name[0] != '.')
			entries++;
	if (d)
		closedir(d);
	CHECK_INT(entries, 4);

	/* second run: nothing changes */
	struct snap before[4], after[4];
	const char *files[4] = {ca_crt, ca_key, srv_crt, srv_key};
	for (int i = 0; i < 4; i++)
		snap_take(files[i], &before[i]);
	usleep(20000);
	CHECK_INT(ensure(&o), 0);
	/* same names in another order (CN = first hostname unchanged), duplicates, case: still nothing */
	const char *hosts2[] = {"fakecloud", "mqtt.example.net", "IOT.example.com", "fakecloud"};
	const char *ips2[] = {"::1", "127.0.0.1", "127.0.0.1"};
	struct fc_certs_opts o2 = base_opts(hosts2, 4, ips2, 3);
	CHECK_INT(ensure(&o2), 0);
	for (int i = 0; i < 4; i++) {
		snap_take(files[i], &after[i]);
		CHECK(snap_same(&before[i], &after[i]));
		snap_free(&before[i]);
		snap_free(&after[i]);
	}

	/* describe */
	char out[1024];
	CHECK_INT(fc_certs_describe(srv_crt, out, sizeof out, err, sizeof err), 0);
	CHECK(strstr(out, "subject CN: fakecloud\n") != NULL);
	CHECK(strstr(out, "DNS:iot.example.com") != NULL);
	CHECK(strstr(out, "IP:127.0.0.1") != NULL);
	CHECK(strstr(out, "IP:::1") != NULL);
	CHECK(strstr(out, "issuer CN: fakecloud CA ") != NULL);
	CHECK(strstr(out, "not after: 20") != NULL);
	CHECK_INT(fc_certs_describe(ca_crt, out, sizeof out, err, sizeof err), 0);
	CHECK(strstr(out, "SANs: (none)") != NULL);
	char tiny[16];
	CHECK_INT(fc_certs_describe(srv_crt, tiny, sizeof tiny, err, sizeof err), 0);
	CHECK_INT(strlen(tiny), sizeof tiny - 1);
	CHECK_INT(fc_certs_describe("/nonexistent/x.crt", out, sizeof out, err, sizeof err), -1);
	CHECK(err[0] != '\0');
}

/* Changing names reissues the server certificate only, with the same CA (and key). */
static void test_reissue(void)
{
	struct snap ca0, cak0, crt0, key0, crt1, ca1, key1;
	snap_take(ca_crt, &ca0);
	snap_take(ca_key, &cak0);
	snap_take(srv_crt, &crt0);
	snap_take(srv_key, &key0);

	const char *hosts[] = {"fakecloud", "iot.example.com", "mqtt.example.net", "new.example.org"};
	const char *ips[] = {"127.0.0.1", "::1"};
	struct fc_certs_opts o = base_opts(hosts, 4, ips, 2);
	CHECK_INT(ensure(&o), FC_CERTS_ISSUED_SERVER);
	snap_take(ca_crt, &ca1);
	snap_take(srv_crt, &crt1);
	snap_take(srv_key, &key1);
	CHECK(snap_same(&ca0, &ca1));
	CHECK(crt1.data && crt0.data && strcmp(crt1.data, crt0.data) != 0);
	CHECK(key1.data && key0.data && strcmp(key1.data, key0.data) == 0); /* key reused */
	CHECK(has_dns_san(srv_crt, "new.example.org"));
	CHECK_INT(verify_flags(srv_crt, ca_crt), 0);
	CHECK_INT(ensure(&o), 0);
	snap_free(&crt1);
	snap_free(&ca1);
	snap_free(&key1);

	/* only the IP set changes */
	const char *ips2[] = {"127.0.0.1", "::1", "192.168.1.10"};
	struct fc_certs_opts o2 = base_opts(hosts, 4, ips2, 3);
	CHECK_INT(ensure(&o2), FC_CERTS_ISSUED_SERVER);
	CHECK_INT(ensure(&o2), 0);
	/* an IP removed */
	CHECK_INT(ensure(&o), FC_CERTS_ISSUED_SERVER);
	/* CN change: first hostname differs, same set */
	const char *hosts3[] = {"iot.example.com", "fakecloud", "mqtt.example.net", "new.example.org"};
	struct fc_certs_opts o3 = base_opts(hosts3, 4, ips, 2);
	CHECK_INT(ensure(&o3), FC_CERTS_ISSUED_SERVER);
	CHECK_INT(ensure(&o3), 0);

	/* server key removed: new key and certificate */
	unlink(srv_key);
	CHECK_INT(ensure(&o3), FC_CERTS_ISSUED_SERVER);
	snap_take(srv_key, &key1);
	CHECK(key1.data && key0.data && strcmp(key1.data, key0.data) != 0);
	snap_free(&key1);
	CHECK_INT(verify_flags(srv_crt, ca_crt), 0);

	/* server certificate removed: reissued with the existing key */
	snap_free(&key0);
	snap_take(srv_key, &key0);
	unlink(srv_crt);
	CHECK_INT(ensure(&o3), FC_CERTS_ISSUED_SERVER);
	snap_take(srv_key, &key1);
	CHECK(snap_same(&key0, &key1));
	snap_free(&key1);

	/* garbage certificate */
	FILE *f = fopen(srv_crt, "w");
	if (f) {
		fputs("not a certificate\n", f);
		fclose(f);
	}
	CHECK_INT(ensure(&o3), FC_CERTS_ISSUED_SERVER);
	CHECK_INT(verify_flags(srv_crt, ca_crt), 0);

	/* a certificate from another CA is replaced */
	char other[128], oca[160], ocak[160], ocrt[160], okey[160];
	snprintf(other, sizeof other, "%s/other", dir);
	mkdir(other, 0700);
	snprintf(oca, sizeof oca, "%s/ca.crt", other);
	snprintf(ocak, sizeof ocak, "%s/ca.key", other);
	snprintf(ocrt, sizeof ocrt, "%s/server.crt", other);
	snprintf(okey, sizeof okey, "%s/server.key", other);
	struct fc_certs_opts oo = o3;
	oo.ca_cert = oca;
	oo.ca_key = ocak;
	oo.cert = ocrt;
	oo.key = okey;
	CHECK_INT(ensure(&oo), FC_CERTS_CREATED_CA | FC_CERTS_ISSUED_SERVER);
	CHECK(verify_flags(ocrt, ca_crt) > 0); /* foreign */
	rename(ocrt, srv_crt);
	rename(okey, srv_key);
	CHECK_INT(ensure(&o3), FC_CERTS_ISSUED_SERVER);
	CHECK_INT(verify_flags(srv_crt, ca_crt), 0);
	unlink(oca);
	unlink(ocak);
	rmdir(other);

	/* the CA was never touched */
	snap_take(ca_crt, &ca1);
	struct snap cak1;
	snap_take(ca_key, &cak1);
	CHECK(snap_same(&ca0, &ca1));
	CHECK(snap_same(&cak0, &cak1));
	snap_free(&ca1);
	snap_free(&cak1);
	snap_free(&ca0);
	snap_free(&cak0);
	snap_free(&crt0);
	snap_free(&key0);
}

static void test_ec(void)
{
	const char *hosts[] = {"fakecloud", "iot.example.com"};
	const char *ips[] = {"127.0.0.1", "::1"};
	struct fc_certs_opts o = base_opts(hosts, 2, ips, 2);
	o.ec = true;
	CHECK_INT(ensure(&o), FC_CERTS_ISSUED_SERVER); /* RSA key -> EC key */
	CHECK_INT(key_type(srv_key), MBEDTLS_PK_ECKEY);
	CHECK_INT(verify_flags(srv_crt, ca_crt), 0);
	CHECK_INT(file_mode(srv_key), 0640);
	CHECK_INT(ensure(&o), 0);
	openssl_checks(true);
	/* and back */
	o.ec = false;
	CHECK_INT(ensure(&o), FC_CERTS_ISSUED_SERVER);
	CHECK_INT(key_type(srv_key), MBEDTLS_PK_RSA);
}

static void test_errors(void)
{
	char err[256] = "";
	const char *hosts[] = {"fakecloud"};
	const char *badhost[] = {"evil,O=x"};
	const char *badip[] = {"999.1.1.1"};
	struct fc_certs_opts o = base_opts(hosts, 1, NULL, 0);
	struct snap before, after;
	snap_take(srv_crt, &before);

	struct fc_certs_opts e = base_opts(NULL, 0, NULL, 0);
	CHECK_INT(fc_certs_ensure(&e, NULL, 0, err, sizeof err), -1);
	CHECK(err[0] != '\0');
	e = base_opts(badhost, 1, NULL, 0);
	CHECK_INT(fc_certs_ensure(&e, NULL, 0, err, sizeof err), -1);
	CHECK(strstr(err, "hostname") != NULL);
	e = base_opts(hosts, 1, badip, 1);
	CHECK_INT(fc_certs_ensure(&e, NULL, 0, err, sizeof err), -1);
	CHECK(strstr(err, "999.1.1.1") != NULL);
	e = o;
	e.key = e.cert;
	CHECK_INT(fc_certs_ensure(&e, NULL, 0, err, sizeof err), -1);
	snap_take(srv_crt, &after);
	CHECK(snap_same(&before, &after)); /* failed calls change nothing */
	snap_free(&after);
	snap_free(&before);

	/* IP-only certificate: CN is the first IP; an IP literal among the hostnames is an IP SAN */
	const char *ips[] = {"10.0.0.1"};
	e = base_opts(NULL, 0, ips, 1);
	CHECK_INT(ensure(&e), FC_CERTS_ISSUED_SERVER);
	char out[1024];
	CHECK_INT(fc_certs_describe(srv_crt, out, sizeof out, err, sizeof err), 0);
	CHECK(strstr(out, "subject CN: 10.0.0.1\n") != NULL);
	CHECK(strstr(out, "SANs: IP:10.0.0.1\n") != NULL);
	const char *iphost[] = {"10.0.0.1"};
	e = base_opts(iphost, 1, NULL, 0);
	CHECK_INT(ensure(&e), 0);

	/* CA certificate without its key: refuse, touch nothing */
	char key_saved[160];
	snprintf(key_saved, sizeof key_saved, "%s.saved", ca_key);
	CHECK_INT(rename(ca_key, key_saved), 0);
	snap_take(ca_crt, &before);
	CHECK_INT(fc_certs_ensure(&o, NULL, 0, err, sizeof err), -1);
	CHECK(strstr(err, "missing") != NULL);
	snap_take(ca_crt, &after);
	CHECK(snap_same(&before, &after));
	CHECK(access(ca_key, F_OK) != 0);
	snap_free(&after);
	snap_free(&before);
	/* a key that does not belong to the CA certificate */
	struct snap k;
	snap_take(srv_key, &k);
	FILE *f = fopen(ca_key, "w");
	if (f && k.data) {
		fwrite(k.data, 1, k.len, f);
	}
	if (f)
		fclose(f);
	snap_free(&k);
	CHECK_INT(fc_certs_ensure(&o, NULL, 0, err, sizeof err), -1);
	CHECK(strstr(err, "does not belong") != NULL);
	CHECK_INT(rename(key_saved, ca_key), 0);
	CHECK_INT(ensure(&o), FC_CERTS_ISSUED_SERVER);

	/* CA key left by an interrupted first run (no certificate): reused for the new CA */
	struct snap cak0, cak1;
	snap_take(ca_key, &cak0);
	unlink(ca_crt);
	CHECK_INT(ensure(&o), FC_CERTS_CREATED_CA | FC_CERTS_ISSUED_SERVER);
	snap_take(ca_key, &cak1);
	CHECK(cak0.data && cak1.data && strcmp(cak0.data, cak1.data) == 0);
	CHECK_INT(verify_flags(srv_crt, ca_crt), 0);
	snap_free(&cak0);
	snap_free(&cak1);

	/* a world-readable key is tightened */
	chmod(srv_key, 0644);
	CHECK_INT(ensure(&o), 0);
	CHECK_INT(file_mode(srv_key), 0640);
	/* requesting the current owner is accepted (chown to ourselves) */
	o.owner_uid = (long)getuid();
	o.owner_gid = (long)getgid();
	CHECK_INT(ensure(&o), 0);
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/fc_test_certs_XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(ca_crt, sizeof ca_crt, "%s/ca.crt", dir);
	snprintf(ca_key, sizeof ca_key, "%s/ca.key", dir);
	snprintf(srv_crt, sizeof srv_crt, "%s/server.crt", dir);
	snprintf(srv_key, sizeof srv_key, "%s/server.key", dir);

	test_first_and_second_run();
	test_reissue();
	test_ec();
	test_errors();

	unlink(ca_crt);
	unlink(ca_key);
	unlink(srv_crt);
	unlink(srv_key);
	rmdir(dir);
	return t_done();
}
