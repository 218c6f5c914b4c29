/* fakecloud-httpd end to end: the real daemon from `fakecloud init`'s directory, plain HTTP and HTTPS
 * (certificate and TLS-PSK on the same port), limits, routing, the broker connection shown by /healthz,
 * argument/config errors and a clean SIGTERM. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/keystore.h"
#include "harness/harness.h"
#include "harness/tls_client.h"
#include "unit/t.h"

static const uint8_t PSK[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
				0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
static const uint8_t WRONG_PSK[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
				      0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x00};


static int tcp_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read until the peer closes (or 5 s pass). Returns the byte count. */
static size_t read_until_close(int fd, char *out, size_t outlen)
{
	size_t used = 0;
	for (;;) {
		char tmp[4096];
		ssize_t n = recv(fd, tmp, sizeof tmp, 0);
		if (n <= 0)
			break;
		size_t k = (size_t)n < outlen - 1 - used ? (size_t)n : outlen - 1 - used;
		memcpy(out + used, tmp, k);
		used += k;
	}
	out[used] = 0;
	return used;
}

static int status_of(const char *resp)
{
	int code = 0;
	if (sscanf(resp, "HTTP/1.%*c %d", &code) != 1)
		return 0;
	return code;
}

/* Send raw bytes (the server may close early: send errors are ignored) and return the response status,
 * 0 when the connection closed without one, -1 when connecting failed. Body after the head into out. */
static int raw_exchange(int port, const void *req, size_t len, char *out, size_t outlen)
{
	int fd = tcp_connect(port);
	if (fd < 0)
		return -1;
	size_t off = 0;
	while (off < len) {
		ssize_t n = send(fd, (const char *)req + off, len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	static char resp[1 << 16];
	read_until_close(fd, resp, sizeof resp);
	close(fd);
	const char *b = strstr(resp, "\r\n\r\n");
	if (out && outlen)
		snprintf(out, outlen, "%s", b ? b + 4 : "");
	return status_of(resp);
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool jbool(const cJSON *o, const char *k, bool want)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsBool(v) && (cJSON_IsTrue(v) ? true : false) == want;
}

static double jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static bool healthz_broker(struct fc_env *e, const char *want)
{
	char body[2048];
	if (fc_http_request(e->http_port, "GET", "/healthz", NULL, body, sizeof body) != 200)
		return false;
	cJSON *j = cJSON_Parse(body);
	bool ok = j && jstr(j, "broker") && strcmp(jstr(j, "broker"), want) == 0;
	cJSON_Delete(j);
	return ok;
}

static bool wait_httpd_log(struct fc_env *e, const char *needle, int timeout_ms)
{
	int64_t end = fc_mono_ms() + timeout_ms;
	do {
		if (fc_env_httpd_log_count(e, needle) > 0)
			return true;
		fc_sleep_ms(20);
	} while (fc_mono_ms() < end);
	return false;
}

/* Run the daemon binary with arguments; exit status, combined output in out. */
static int run_httpd(struct fc_env *e, char *out, size_t outlen, const char *a1, const char *a2)
{
	char exe[700], log[400];
	snprintf(exe, sizeof exe, "%s/fakecloud-httpd", e->bin_dir);
	snprintf(log, sizeof log, "%s/run.out", e->dir);
	pid_t pid = fork();
	if (pid == 0) {
		FILE *f = freopen(log, "w", stdout);
		(void)f;
		dup2(1, 2);
		execl(exe, exe, a1, a2, (char *)NULL);
		_exit(127);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	FILE *f = fopen(log, "r");
	size_t n = f ? fread(out, 1, outlen - 1, f) : 0;
	out[n] = 0;
	if (f)
		fclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_tls(struct fc_env *e)
{
	char out[4096], err[256];
	struct fc_tls_info info;

	/* certificate client verifying the server against the CA from `fakecloud init` */
	struct fc_tls_opts cert = {.port = e->https_port, .ca_file = e->ca_cert};
	CHECK_INT(fc_tls_request(&cert, "GET", "/healthz", NULL, out, sizeof out, &info, err, sizeof err), 200);
	if (err[0])
		fprintf(stderr, "certificate client: %s\n", err);
	CHECK(strstr(out, "\"status\":\"ok\"") != NULL);
	CHECK_STR(info.version, "TLSv1.2");
	CHECK_INT(fc_tls_request(&cert, "POST", "/fctest/echo", "hello", out, sizeof out, NULL, err, sizeof err), 200);
	cJSON *j = cJSON_Parse(out);
	CHECK(j != NULL);
	CHECK(jbool(j, "tls", true));
	CHECK(jbool(j, "psk", false));
	CHECK_INT(jnum(j, "len"), 5);
	CHECK_STR(jstr(j, "identity"), "");
	CHECK_STR(jstr(j, "ip"), "127.0.0.1");
	cJSON_Delete(j);

	/* PSK client on the same port: plain PSK suites only (what old devices offer) */
	struct fc_tls_opts psk = {.port = e->https_port, .psk = PSK, .psklen = sizeof PSK, .psk_identity = "fctest:dev1"};
	CHECK_INT(fc_tls_request(&psk, "POST", "/fctest/echo", "{\"a\":1}", out, sizeof out, &info, err, sizeof err),
		  200);
	if (err[0])
		fprintf(stderr, "PSK client: %s\n", err);
	CHECK_STR(info.ciphersuite, "TLS-PSK-WITH-AES-128-CBC-SHA256");
	j = cJSON_Parse(out);
	CHECK(j != NULL);
	CHECK(jbool(j, "tls", true));
	CHECK(jbool(j, "psk", true));
	CHECK_STR(jstr(j, "identity"), "fctest:dev1");
	CHECK_INT(jnum(j, "len"), 7);
	cJSON_Delete(j);
	static const char *const sha1_only[] = {"TLS-PSK-WITH-AES-128-CBC-SHA", NULL};
	psk.ciphersuites = sha1_only;
	CHECK_INT(fc_tls_request(&psk, "POST", "/fctest/echo", "x", out, sizeof out, &info, err, sizeof err), 200);
	CHECK_STR(info.ciphersuite, "TLS-PSK-WITH-AES-128-CBC-SHA");
	CHECK(strstr(out, "\"psk\":true") != NULL);
	psk.ciphersuites = NULL;

	/* wrong key: handshake fails */
	CHECK_INT(fc_tls_http(e->https_port, NULL, WRONG_PSK, sizeof WRONG_PSK, "fctest:dev1", 0, "GET", "/healthz",
			      NULL, out, sizeof out, err, sizeof err),
		  -1);
	CHECK(strstr(err, "handshake") != NULL);
	CHECK(wait_httpd_log(e, "client uses a different key", 3000));
	/* unknown device of the vendor: refused, and the vendor says what to import */
	CHECK_INT(fc_tls_http(e->https_port, NULL, PSK, sizeof PSK, "fctest:ghost", 0, "GET", "/healthz", NULL, out,
			      sizeof out, err, sizeof err),
		  -1);
	CHECK(strstr(err, "handshake") != NULL);
	CHECK(wait_httpd_log(e, "PSK identity for unknown device 'ghost'", 3000));
	/* an identity no vendor claims */
	CHECK_INT(fc_tls_http(e->https_port, NULL, PSK, sizeof PSK, "acme:1", 0, "GET", "/healthz", NULL, out,
			      sizeof out, err, sizeof err),
		  -1);
	CHECK(wait_httpd_log(e, "'acme:1' from 127.0.0.1 is not known to any vendor", 3000));

	/* TLS 1.0-only clients (http.tls_min_version defaults to 1.0), certificate and PSK */
	cert.max_minor = 1;
	CHECK_INT(fc_tls_request(&cert, "GET", "/healthz", NULL, out, sizeof out, &info, err, sizeof err), 200);
	CHECK_STR(info.version, "TLSv1.0");
	psk.max_minor = 1;
	CHECK_INT(fc_tls_request(&psk, "GET", "/FcTest/Case", NULL, out, sizeof out, &info, err, sizeof err), 200);
	CHECK_STR(info.version, "TLSv1.0");
	CHECK_STR(out, "{\"ok\":true}");

	/* the body limit also holds behind TLS */
	char *big = malloc(70001);
	if (big) {
		memset(big, 'a', 70000);
		big[70000] = 0;
		cert.max_minor = 0;
		CHECK_INT(fc_tls_request(&cert, "POST", "/fctest/echo", big, out, sizeof out, NULL, err, sizeof err), 413);
		big[60000] = 0;
		CHECK_INT(fc_tls_request(&cert, "POST", "/fctest/echo", big, out, sizeof out, NULL, err, sizeof err), 200);
		CHECK(strstr(out, "\"len\":60000") != NULL);
		free(big);
	}
	/* plain HTTP sent to the HTTPS port */
	const char get[] = "GET /healthz HTTP/1.0\r\n\r\n";
	CHECK_INT(raw_exchange(e->https_port, get, sizeof get - 1, out, sizeof out), 0);
	CHECK(wait_httpd_log(e, "sent plain HTTP to the HTTPS port", 3000));
}

static void test_limits_and_routes(struct fc_env *e)
{
	char out[4096];
	static char req[200000];

	/* Content-Length over http.max_body (default 65536): 413 before the body is read */
	int n = snprintf(req, sizeof req, "POST /fctest/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n");
	memset(req + n, 'b', 65537);
	CHECK_INT(raw_exchange(e->http_port, req, (size_t)n + 65537, out, sizeof out), 413);
	CHECK(strstr(out, "\"error\":\"request body larger than 65536 bytes (http.max_body)\"") != NULL);
	/* exactly the limit passes */
	n = snprintf(req, sizeof req,
		     "POST /fctest/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 65536\r\n\r\n");
	memset(req + n, 'b', 65536);
	CHECK_INT(raw_exchange(e->http_port, req, (size_t)n + 65536, out, sizeof out), 200);
	CHECK(strstr(out, "\"len\":65536") != NULL);
	/* chunked body growing over the limit */
	n = snprintf(req, sizeof req, "POST /fctest/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 20; i++) {
		n += snprintf(req + n, sizeof req - (size_t)n, "1000\r\n");
		memset(req + n, 'c', 4096);
		n += 4096;
		n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
	}
	n += snprintf(req + n, sizeof req - (size_t)n, "0\r\n\r\n");
	CHECK_INT(raw_exchange(e->http_port, req, (size_t)n, out, sizeof out), 413);

	/* head over http.max_header (16384): a JSON 431 a bit over, MHD's own error (or a close) far over */
	n = snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(req + n, 'h', 20000);
	n += 20000;
	n += snprintf(req + n, sizeof req - (size_t)n, "\r\n\r\n");
	CHECK_INT(raw_exchange(e->http_port, req, (size_t)n, out, sizeof out), 431);
	CHECK(strstr(out, "http.max_header") != NULL);
	n = snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(req + n, 'h', 150000);
	n += 150000;
	n += snprintf(req + n, sizeof req - (size_t)n, "\r\n\r\n");
	int st = raw_exchange(e->http_port, req, (size_t)n, out, sizeof out);
	CHECK(st == 0 || st >= 400);
	/* many small headers */
	n = snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
	for (int i = 0; i < 4000; i++)
		n += snprintf(req + n, sizeof req - (size_t)n, "X-H%d: v\r\n", i);
	n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
	st = raw_exchange(e->http_port, req, (size_t)n, out, sizeof out);
	CHECK(st == 0 || st >= 400);
	CHECK_INT(fc_http_request(e->http_port, "GET", "/healthz", NULL, out, sizeof out), 200);

	/* malformed requests never take the daemon down */
	static const char *const junk[] = {
		"\x16\x03\x01\x00\x05hello\r\n\r\n",
		"GET\r\n\r\n",
		"GET / HTTP/9.9\r\n\r\n",
		"POST /fctest/echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
		"POST /fctest/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
		"POST /fctest/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"GET /%00%ff/../.. HTTP/1.0\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n: novalue\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
		int fd = tcp_connect(e->http_port);
		CHECK(fd >= 0);
		if (fd < 0)
			continue;
		struct timeval tv = {0, 300000};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		send(fd, junk[i], strlen(junk[i]), MSG_NOSIGNAL);
		read_until_close(fd, out, sizeof out);
		close(fd);
	}
	CHECK_INT(fc_http_request(e->http_port, "GET", "/healthz", NULL, out, sizeof out), 200);

	/* routing */
	CHECK_INT(fc_http_request(e->http_port, "GET", "/fctest/case", NULL, out, sizeof out), 200);
	CHECK_STR(out, "{\"ok\":true}");
	CHECK_INT(fc_http_request(e->http_port, "GET", "/FCTEST/CASE?x=1", NULL, out, sizeof out), 200);
	CHECK_INT(fc_http_request(e->http_port, "GET", "/nope", NULL, out, sizeof out), 404);
	CHECK_STR(out, "{\"error\":\"no route for GET /nope\"}");
	CHECK(wait_httpd_log(e, "no route for GET /nope", 3000));
	CHECK_INT(fc_http_request(e->http_port, "GET", "/fctest/echo", NULL, out, sizeof out), 405);
	CHECK_INT(fc_http_request(e->http_port, "POST", "/fctest/echo", "abc", out, sizeof out), 200);
	cJSON *j = cJSON_Parse(out);
	CHECK(j && jbool(j, "tls", false) && jbool(j, "psk", false) && jnum(j, "len") == 3);
	cJSON_Delete(j);
}

static void test_per_ip(struct fc_env *e)
{
	char out[4096];
	fc_sleep_ms(300); /* let earlier connections be closed and counted out */
	int held[4];
	for (int i = 0; i < 4; i++)
		held[i] = tcp_connect(e->http_port);
	for (int i = 0; i < 4; i++)
		CHECK(held[i] >= 0);
	fc_sleep_ms(200);
	/* the fifth (plain or TLS) is closed at once */
	int fifth = tcp_connect(e->http_port);
	CHECK(fifth >= 0);
	if (fifth >= 0) {
		struct pollfd pf = {.fd = fifth, .events = POLLIN};
		CHECK_INT(poll(&pf, 1, 3000), 1);
		char c;
		CHECK(recv(fifth, &c, 1, 0) <= 0);
		close(fifth);
	}
	char err[256];
	struct fc_tls_opts cert = {.port = e->https_port, .ca_file = e->ca_cert, .timeout_ms = 3000};
	CHECK_INT(fc_tls_request(&cert, "GET", "/healthz", NULL, out, sizeof out, NULL, err, sizeof err), -1);
	CHECK(wait_httpd_log(e, "refusing connection from 127.0.0.1", 3000));
	/* the first ones still work */
	const char get[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	for (int i = 0; i < 4; i++) {
		if (held[i] < 0)
			continue;
		CHECK(send(held[i], get, sizeof get - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof get - 1));
		read_until_close(held[i], out, sizeof out);
		CHECK_INT(status_of(out), 200);
		close(held[i]);
	}
	fc_sleep_ms(300);
	CHECK_INT(fc_http_request(e->http_port, "GET", "/healthz", NULL, out, sizeof out), 200);
	CHECK_INT(fc_tls_request(&cert, "GET", "/healthz", NULL, out, sizeof out, NULL, err, sizeof err), 200);
}

static void test_cli_errors(struct fc_env *e)
{
	char out[4096];
	CHECK_INT(run_httpd(e, out, sizeof out, "--help", NULL), 0);
	CHECK(strstr(out, "--config FILE") != NULL && strstr(out, "/healthz") != NULL);
	CHECK_INT(run_httpd(e, out, sizeof out, "--version", NULL), 0);
	CHECK(strstr(out, FC_VERSION) != NULL);
	CHECK_INT(run_httpd(e, out, sizeof out, "--bogus", NULL), 2);
	CHECK_INT(run_httpd(e, out, sizeof out, NULL, NULL), 2);

	char bad[400];
	snprintf(bad, sizeof bad, "%s/bad.conf", e->dir);
	FILE *f = fopen(bad, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("[http]\nhttps_port = 70000\n", f);
		fclose(f);
	}
	CHECK_INT(run_httpd(e, out, sizeof out, "--config", bad), 2);
	CHECK(strstr(out, "70000") != NULL);
	CHECK(strchr(out, '\n') == out + strlen(out) - 1); /* one line */

	/* the ports are taken by the running daemon: a clear bind error, exit 1 */
	CHECK_INT(run_httpd(e, out, sizeof out, "--config", e->conf), 1);
	char want[64];
	snprintf(want, sizeof want, "cannot bind 127.0.0.1:%d: Address already in use", e->http_port);
	CHECK(strstr(out, want) != NULL);
}

/* On failure: the end of the daemon's log, before the directory is removed. */
static void dump_tail(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	static char buf[32768];
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	fseek(f, size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0, SEEK_SET);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = 0;
	fclose(f);
	fprintf(stderr, "---- %s (end) ----\n%s---- end ----\n", path, buf);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	struct fc_env e;
	static const char *const extra[] = {"http.max_per_ip=4", NULL};
	if (fc_env_init(&e, "httpd", extra) != 0)
		return 1;

	/* a test-vendor device with a PSK, written before httpd starts */
	char path[400], err[256] = "";
	snprintf(path, sizeof path, "%s/fakecloud.db", e.dir);
	struct fc_keystore *ks = fc_keystore_open(path, err, sizeof err);
	CHECK(ks != NULL);
	if (ks) {
		cJSON *secrets = cJSON_CreateObject(), *meta = cJSON_CreateObject();
		cJSON_AddStringToObject(secrets, "psk", "00112233445566778899aabbccddeeff");
		CHECK_INT(fc_ks_device_put(ks, "fctest", "dev1", "", secrets, meta), FC_KS_OK);
		cJSON_Delete(secrets);
		cJSON_Delete(meta);
		fc_keystore_close(ks);
	} else {
		fprintf(stderr, "keystore: %s\n", err);
	}

	/* httpd first, broker later: /healthz reports the broker connection as it comes */
	CHECK_INT(fc_env_start_httpd(&e), 0);
	if (e.httpd_pid <= 0)
		goto out;
	char out[4096];
	CHECK_INT(fc_http_request(e.http_port, "GET", "/healthz", NULL, out, sizeof out), 200);
	cJSON *j = cJSON_Parse(out);
	CHECK(j != NULL);
	CHECK_STR(jstr(j, "status"), "ok");
	CHECK_STR(jstr(j, "version"), FC_VERSION);
	CHECK_STR(jstr(j, "broker"), "disconnected");
	const cJSON *vs = cJSON_GetObjectItemCaseSensitive(j, "vendors");
	CHECK(cJSON_IsArray(vs) && cJSON_GetArraySize(vs) >= 1);
	bool has_fctest = false;
	const cJSON *v;
	cJSON_ArrayForEach(v, vs) has_fctest |= cJSON_IsString(v) && strcmp(v->valuestring, "fctest") == 0;
	CHECK(has_fctest);
	cJSON_Delete(j);

	CHECK_INT(fc_env_start_broker(&e), 0);
	bool connected = false;
	for (int64_t end = fc_mono_ms() + 15000; !connected && fc_mono_ms() < end; fc_sleep_ms(100))
		connected = healthz_broker(&e, "connected");
	CHECK(connected);
	CHECK(wait_httpd_log(&e, "connected to the broker", 1000));

	test_tls(&e);
	test_limits_and_routes(&e);
	test_per_ip(&e);
	test_cli_errors(&e);

	/* the broker goes away and comes back */
	CHECK_INT(fc_env_stop_broker(&e), 0);
	bool down = false;
	for (int64_t end = fc_mono_ms() + 5000; !down && fc_mono_ms() < end; fc_sleep_ms(50))
		down = healthz_broker(&e, "disconnected");
	CHECK(down);
	CHECK_INT(fc_env_start_broker(&e), 0);
	connected = false;
	for (int64_t end = fc_mono_ms() + 15000; !connected && fc_mono_ms() < end; fc_sleep_ms(100))
		connected = healthz_broker(&e, "connected");
	CHECK(connected);

	/* SIGTERM: a clean exit 0, quickly (and, in sanitizer builds, without leaks) */
	int64_t t0 = fc_mono_ms();
	CHECK_INT(fc_env_stop_httpd(&e), 0);
	int64_t took = fc_mono_ms() - t0;
	CHECK(took < 2500);
	if (took >= 2500)
		fprintf(stderr, "httpd took %lld ms to stop\n", (long long)took);
	CHECK(fc_env_httpd_log_count(&e, "httpd: stopped") == 1);
	CHECK(fc_env_httpd_log_count(&e, "Sanitizer") == 0);
	CHECK(fc_env_httpd_log_count(&e, "runtime error") == 0);

out:
	if (t_failed)
		dump_tail(e.httpd_log);
	fc_env_cleanup(&e);
	return t_done();
}
