/* Fuzz how fakecloud-httpd frames raw HTTP: the input is the byte stream a client sends on one
 * connection (one request, several pipelined ones, chunked bodies, garbage). It goes through the real
 * httpd/mhd.c in-process: the libmicrohttpd daemon fakecloud-httpd runs (internal polling thread, no
 * listen socket), the connection injected with httpd_mhd_inject() on one end of a socketpair exactly as
 * the TLS pump hands over a decrypted connection, MHD's request parser, our request collection with the
 * http.max_header / http.max_body limits (set small here so inputs reach them), /healthz, routing to the
 * vendors of test builds (Meross, Tuya, fctest) over a keystore file holding Tuya devices, and the
 * response path. The other end writes the input, half-closes, and reads every answer until MHD closes;
 * the input is finished when MHD has no connection left (so its request memory was released).
 *
 * Compiled with httpd/mhd.c and httpd/listen.c; the pieces of main.c, tls.c and mqtt.c that mhd.c and
 * listen.c call are small stand-ins below (no broker: notify fails as it does while the broker is down).
 *
 * Invariants (abort on violation): every answer starts with an HTTP/1.x status line of 100..599; no answer
 * carries a stored authKey or pskKey the input did not carry; the connection ends (no hang). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/config.h"
#include "core/keystore.h"
#include "core/log.h"
#include "core/vendor.h"
#include "httpd/httpd.h"
#include "vendors/tuya/tuya_internal.h"

/* Same devices as fuzz_tuya_atop, so seeds can carry valid signatures and encrypted bodies. */
#define UUID1 "fuzzuuid00000001"
#define AUTH1 "0123456789abcdef0123456789abcdef"
#define DEVID1 "fz0123456789abcdefghij"
#define SEC1 "secretkey0123456"
#define LOCAL1 "localkey01234567"
#define PSK1 "LZh9navyE1i5BR9SqDDSCU6THligfoaqd0qXZ"
#define UUID2 "fuzzuuid00000002"
#define AUTH2 "fedcba9876543210fedcba9876543210"

#define MAX_HEADER 1024
#define MAX_BODY 2048
#define DEADLINE_MS 10000
#define STALL_MS 60 /* nothing from MHD this long after the half-close: close */

extern const struct fc_vendor *const fc_vendors[];

/* ---- stand-ins for main.c, tls.c and mqtt.c ---- */

int64_t httpd_now_ms(void) { return 1700000000000; }

int64_t httpd_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void httpd_printable(char *out, size_t outcap, const void *in, size_t len)
{
	const unsigned char *s = in;
	size_t o = 0;
	if (!outcap)
		return;
	for (size_t i = 0; i < len && o + 1 < outcap; i++)
		out[o++] = s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\'' ? (char)s[i] : '?';
	out[o] = 0;
}

void httpd_tls_accept(struct httpd *h, int fd, const struct sockaddr *sa, socklen_t salen, const char *ip)
{
	(void)h, (void)fd, (void)sa, (void)salen, (void)ip;
	abort(); /* only listen.c's acceptor calls it, which never runs here */
}

bool httpd_mqtt_connected(const struct httpd *h)
{
	(void)h;
	return false;
}

int httpd_mqtt_notify(void *ctx, const char *topic, const void *payload, size_t len)
{
	(void)ctx;
	if (!topic || (!payload && len))
		abort();
	return -1;
}

/* ---- setup ---- */

static void require(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_httpd_request: %s\n", what);
		abort();
	}
}

static void quiet(void *ctx, enum fc_log_level level, const char *line)
{
	(void)ctx, (void)level, (void)line;
}

static struct httpd H;
static struct fc_config cfg;
static char dir[64];

static void cleanup_dir(void)
{
	static const char *const files[] = {"fakecloud.db", "fakecloud.db-wal", "fakecloud.db-shm"};
	char p[128];
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, files[i]);
		unlink(p);
	}
	rmdir(dir);
}

static void stop_daemon(void)
{
	httpd_mhd_stop(&H);
	cleanup_dir();
}

static void setup(void)
{
	fc_log_set_sink(quiet, NULL);
	fc_log_set_level(FC_LOG_DEBUG); /* debug-only paths too, and MHD's own error log */
	fc_config_init(&cfg, fc_vendor_config_tables(fc_vendors));
	snprintf(dir, sizeof dir, "/tmp/fc-fuzz-httpd-XXXXXX");
	require(mkdtemp(dir) != NULL, "mkdtemp");
	memset(&H, 0, sizeof H);
	H.cfg = &cfg;
	H.vendors = fc_vendors;
	snprintf(H.store_path, sizeof H.store_path, "%s/fakecloud.db", dir);
	char err[256] = "";
	struct fc_keystore *ks = fc_keystore_open(H.store_path, err, sizeof err);
	require(ks != NULL, err);
	struct tuya_import a = {.uuid = UUID1, .auth_key = AUTH1, .psk_key = PSK1, .dev_id = DEVID1,
				.sec_key = SEC1, .local_key = LOCAL1, .name = "fz1"};
	require(tuya_import(ks, &a, err, sizeof err) == 0, err);
	struct tuya_import b = {.uuid = UUID2, .auth_key = AUTH2, .name = "fz2"};
	require(tuya_import(ks, &b, err, sizeof err) == 0, err);
	fc_keystore_close(ks);
	H.max_body = MAX_BODY;
	H.max_header = MAX_HEADER;
	H.max_conns = 16;
	H.max_per_ip = 16;
	H.timeout_s = 5;
	H.http_fd = H.https_fd = -1;
	H.stop_pipe[0] = H.stop_pipe[1] = -1;
	pthread_mutex_init(&H.lock, NULL);
	require(httpd_mhd_start(&H, err, sizeof err) == 0, err);
	atexit(stop_daemon);
}

/* ---- one connection ---- */

static int64_t mono_ms(void) { return httpd_mono_ms(); }

static bool contains(const uint8_t *hay, size_t n, const char *needle)
{
	return memmem(hay, n, needle, strlen(needle)) != NULL;
}

/* Every answer MHD wrote: a status line first; later ones (pipelining) follow their predecessor's body,
 * which we do not delimit here, so only the first is checked strictly and the rest by shape. */
static void check_answers(const uint8_t *in, size_t inlen, const uint8_t *out, size_t n)
{
	if (!n)
		return; /* MHD may close on garbage without a word */
	require(n >= 12 && memcmp(out, "HTTP/1.", 7) == 0 && out[8] == ' ', "answer without a status line");
	int status = (out[9] - '0') * 100 + (out[10] - '0') * 10 + (out[11] - '0');
	require(status >= 100 && status <= 599, "status out of range");
	static const char *const secrets[] = {AUTH1, AUTH2, PSK1};
	for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
		require(!contains(out, n, secrets[i]) || contains(in, inlen, secrets[i]), "a stored secret in an answer");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		setup();
		ready = true;
	}
	int sv[2];
	require(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	struct httpd_conninfo *info = calloc(1, sizeof *info);
	require(info != NULL, "calloc");
	snprintf(info->ip, sizeof info->ip, "127.0.0.1");
	snprintf(info->local_ip, sizeof info->local_ip, "127.0.0.1");
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(40000), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (httpd_mhd_inject(&H, sv[1], (struct sockaddr *)&sa, sizeof sa, info) != 0) {
		close(sv[0]);
		return 0;
	}
	int fd = sv[0];
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	size_t sent = 0, got = 0, cap = 65536;
	uint8_t *out = malloc(cap);
	require(out != NULL, "malloc");
	/* Send everything (reading answers meanwhile); once MHD has read it all, half-close. The half-close
	 * comes after MHD's last read on purpose: MHD's edge-triggered epoll would not notice an end of stream
	 * that arrived together with the last bytes, and keep the connection until http.timeout. */
	enum { SENDING, DRAINING, HALF_CLOSED, CLOSED } phase = SENDING;
	bool eof = false;
	int64_t end = mono_ms() + DEADLINE_MS, quiet_since = mono_ms();
	while (!eof && phase != CLOSED) {
		require(mono_ms() < end, "the connection did not end");
		if (phase == SENDING && sent == size)
			phase = DRAINING;
		if (phase == DRAINING) {
			int unread = 0;
			if (ioctl(fd, SIOCOUTQ, &unread) != 0 || unread == 0) {
				shutdown(fd, SHUT_WR);
				phase = HALF_CLOSED;
				quiet_since = mono_ms();
			}
		}
		if (phase == HALF_CLOSED && mono_ms() - quiet_since > STALL_MS)
			phase = CLOSED; /* MHD waits for more (a request it cannot finish): drop the connection */
		struct pollfd p = {.fd = fd, .events = POLLIN | (phase == SENDING ? POLLOUT : 0)};
		if (poll(&p, 1, phase == DRAINING ? 1 : 20) < 0 && errno != EINTR)
			require(false, "poll");
		if (phase == SENDING && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
			if (w > 0)
				sent += (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != EINTR)
				phase = DRAINING; /* MHD closed its end */
		}
		if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
			if (got == cap) {
				uint8_t *n = realloc(out, cap * 2);
				require(n != NULL, "realloc");
				out = n;
				cap *= 2;
			}
			ssize_t r = recv(fd, out + got, cap - got, 0);
			if (r > 0) {
				got += (size_t)r;
				quiet_since = mono_ms();
			} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				eof = true;
			}
		}
	}
	close(fd);
	check_answers(data, size, out, got);
	free(out);
	/* Finished when MHD released the connection (request and connection callbacks have run). */
	for (;;) {
		const union MHD_DaemonInfo *di = MHD_get_daemon_info(H.mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (!di || di->num_connections == 0)
			break;
		require(mono_ms() < end, "MHD kept the connection");
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
	return 0;
}
