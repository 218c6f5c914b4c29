/* Tuya device simulator (see tuya_sim.h): one TuyaOS-style Wi-Fi module, following the call order of
 * ../shared/protocols/tuya.md §1.6:
 *
 *   1. url_config over TLS-PSK (TLS 1.2, PSK-AES128-CBC-SHA256; identity 1 with the PSK derived
 *      from the built-in hint, or identity 2 with the pskKey)
 *   2. tuya.device.active (uuid, authKey, et=1; et=3 for payload 2.3 devices, which are TuyaOpen)
 *   3. the follow-ups: dynamic.config.get, uuid.pskkey.get, upgrade.silent.get, timer.count,
 *      atop.online.debug.log, info.sync (devId + secKey, except pskkey.get: uuid + authKey)
 *   4. MQTT as devId / md5(secKey)[8:24], subscribe smart/device/in/<devId> (QoS 1), report every DP
 *      (protocol 4), apply protocol 5 commands and report what they set; reconnect when dropped.
 *
 * Every ATOP reply must carry a valid sign and decrypt with the request's key; the device takes its
 * clock from the reply's t. Wire formats come from vendors/tuya/codec.h; what the device decides is here.
 * Only loopback addresses are ever contacted. Every network step is bounded in time and size. */
#include "sim/tuya_sim.h"
#include "harness/harness.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/crypto.h"
#include "vendors/tuya/codec.h"

#define STEP_TIMEOUT_MS 5000
#define RESP_MAX (64 * 1024)
#define ACTIONS_MAX 4096
#define OUTBOX_MAX 256

struct outmsg {
	char topic[256];
	uint8_t *payload;
	size_t len;
	int qos;
	bool report; /* a protocol 4 report (counted in TSC_REPORTS once sent) */
	struct outmsg *next;
};

struct tuya_sim {
	struct tuya_sim_opts o;
	char host[64];
	char url_path[64];
	char soft_ver[32];
	char product_key[40];
	char hid[13];

	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, drop_req;

	/* everything below is guarded by mu */
	enum tuya_sim_stage stage;
	long counters[TSC__COUNT];
	char last_error[256];
	int last_connack;
	char actions[ACTIONS_MAX];

	/* url_config */
	char http_host[64], http_path[64];
	int http_port;
	char mqtt_host[64];
	int mqtt_port;
	char mqtts_host[64];
	int mqtts_port;

	/* activation */
	char dev_id[33], sec_key[17], local_key[17], schema_id[33];
	char *schema;
	int64_t server_time;  /* t of the active reply */
	int64_t sync_t;       /* last t from any reply */
	int64_t sync_mono_ms; /* when it arrived */
	int64_t boot_ms;

	/* MQTT */
	struct mosquitto *m;
	bool online, connack_seen;
	int sub_mid;
	char sub_topic[96], pub_topic[160];
	uint32_t seq;
	cJSON *dps;
	char last_cmd[2048];
	int64_t last_cmd_t;
	uint32_t last_cmd_seq;
	struct outmsg *outbox, *outbox_tail;
	size_t outbox_n;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void) { mosquitto_lib_init(); }

/* ------------------------------------------------------------------------------------------------ */
/* small helpers (call with mu held where they touch the sim) */

static void bump(struct tuya_sim *s, enum tuya_sim_counter c)
{
	s->counters[c]++;
	pthread_cond_broadcast(&s->cv);
}

static void set_error(struct tuya_sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct tuya_sim *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->last_error, sizeof s->last_error, fmt, ap);
	va_end(ap);
	pthread_cond_broadcast(&s->cv);
}

/* The same, taking the lock. */
static void fail(struct tuya_sim *s, enum tuya_sim_counter c, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct tuya_sim *s, enum tuya_sim_counter c, const char *fmt, ...)
{
	pthread_mutex_lock(&s->mu);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->last_error, sizeof s->last_error, fmt, ap);
	va_end(ap);
	if ((int)c >= 0 && c < TSC__COUNT)
		s->counters[c]++;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void set_stage(struct tuya_sim *s, enum tuya_sim_stage st)
{
	pthread_mutex_lock(&s->mu);
	s->stage = st;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static bool stopping(struct tuya_sim *s)
{
	pthread_mutex_lock(&s->mu);
	bool st = s->stop;
	pthread_mutex_unlock(&s->mu);
	return st;
}

/* Sleep up to ms, waking early on stop. */
static void nap(struct tuya_sim *s, int ms)
{
	int64_t end = fc_mono_ms() + ms;
	while (!stopping(s) && fc_mono_ms() < end)
		fc_sleep_ms(10);
}

static bool loopback_host(const char *h) { return strcmp(h, "127.0.0.1") == 0 || strcmp(h, "localhost") == 0; }

static void deadline(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* The device clock: uptime seconds until a reply gave it the time, then that time running on. */
static int64_t dev_time(struct tuya_sim *s)
{
	pthread_mutex_lock(&s->mu);
	int64_t t = s->sync_mono_ms ? s->sync_t + (fc_mono_ms() - s->sync_mono_ms) / 1000
				    : (fc_mono_ms() - s->boot_ms) / 1000 + 3;
	pthread_mutex_unlock(&s->mu);
	return t;
}

static void note_action(struct tuya_sim *s, const char *a)
{
	pthread_mutex_lock(&s->mu);
	size_t n = strlen(s->actions), k = strlen(a);
	if (n + k + 2 < sizeof s->actions) {
		if (n)
			s->actions[n++] = ',';
		memcpy(s->actions + n, a, k + 1);
	}
	pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------------------------------------------ */
/* HTTP responses */

/* True once buf holds a whole response (head + Content-Length bytes). */
static bool http_complete(const char *buf, size_t len)
{
	const char *eoh = memmem(buf, len, "\r\n\r\n", 4);
	if (!eoh)
		return false;
	const char *cl = NULL;
	for (const char *p = buf; p && p < eoh; p = memchr(p, '\n', (size_t)(eoh - p))) {
		if (*p == '\n')
			p++;
		if ((size_t)(eoh - p) > 15 && strncasecmp(p, "Content-Length:", 15) == 0) {
			cl = p + 15;
			break;
		}
	}
	if (!cl)
		return false; /* read to EOF */
	size_t want = strtoul(cl, NULL, 10);
	return (size_t)(buf + len - (eoh + 4)) >= want;
}

/* Status code, body pointer and length of a complete response; -1 when malformed. */
static int http_parse(char *buf, size_t len, char **body, size_t *blen)
{
	int status = 0;
	if (len < 12 || sscanf(buf, "HTTP/1.%*c %d", &status) != 1 || status < 100 || status > 599)
		return -1;
	char *eoh = memmem(buf, len, "\r\n\r\n", 4);
	if (!eoh)
		return -1;
	*eoh = 0;
	if (strcasestr(buf, "\r\nTransfer-Encoding:"))
		return -1; /* MHD sends Content-Length for buffered bodies; chunked is not expected */
	*body = eoh + 4;
	*blen = (size_t)(buf + len - *body);
	const char *cl = strcasestr(buf, "\r\nContent-Length:");
	if (cl) {
		size_t want = strtoul(cl + 17, NULL, 10);
		if (want > *blen)
			return -1;
		*blen = want;
	}
	(*body)[*blen] = 0;
	return status;
}

static void copy_out(char *out, size_t cap, const char *b, size_t n)
{
	if (!out || !cap)
		return;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, b, n);
	out[n] = 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* TLS-PSK client (OpenSSL), speaking as Tuya firmware does: TLS 1.2 only, the single suite
 * PSK-AES128-CBC-SHA256 (TLS_PSK_WITH_AES_128_CBC_SHA256), the PSK set before the handshake whatever hint
 * the server sends. OpenSSL takes PSKs of any length a device uses (identity 2: the 37-byte pskKey). */

struct sim_psk {
	const uint8_t *identity, *psk;
	size_t idlen, psklen;
};

static unsigned int sim_psk_cb(SSL *ssl, const char *hint, char *identity, unsigned int max_identity_len,
			       unsigned char *psk, unsigned int max_psk_len)
{
	(void)hint;
	const struct sim_psk *k = SSL_get_app_data(ssl);
	if (!k || k->idlen >= max_identity_len || k->psklen > max_psk_len)
		return 0;
	memcpy(identity, k->identity, k->idlen);
	identity[k->idlen] = 0;
	memcpy(psk, k->psk, k->psklen);
	return (unsigned int)k->psklen;
}

/* err = "what: OpenSSL's reasons" (the thread's error queue is emptied). */
static void tls_err(char *err, size_t errlen, const char *what)
{
	char e[256] = "";
	size_t used = 0;
	unsigned long code;
	while ((code = ERR_get_error()) != 0) {
		const char *r = ERR_reason_error_string(code);
		if (used + 1 < sizeof e) {
			int n = snprintf(e + used, sizeof e - used, "%s%s", used ? "; " : "", r ? r : "unknown");
			if (n > 0)
				used += (size_t)n < sizeof e - used ? (size_t)n : sizeof e - used - 1;
		}
	}
	snprintf(err, errlen, "%s: %s", what, e[0] ? e : "connection closed");
}

/* Wait until fd is ready for what SSL wants, bounded by end. 0 ready, -1 timed out. */
static int sim_ssl_wait(SSL *ssl, int fd, int r, int64_t end)
{
	int se = SSL_get_error(ssl, r);
	if (se != SSL_ERROR_WANT_READ && se != SSL_ERROR_WANT_WRITE)
		return -2;
	int64_t left = end - fc_mono_ms();
	if (left <= 0)
		return -1;
	struct pollfd pf = {.fd = fd, .events = se == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
	return poll(&pf, 1, (int)left) > 0 ? 0 : -1;
}

int tuya_sim_psk_post(const char *host, int port, const uint8_t *identity, size_t idlen, const uint8_t *psk,
		      size_t psklen, const char *path, const char *body, char *out, size_t cap, char *err,
		      size_t errlen)
{
	char dummy[8];
	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	err[0] = 0;
	if (out && cap)
		out[0] = 0;
	if (!host)
		host = "127.0.0.1";
	if (!loopback_host(host)) {
		snprintf(err, errlen, "refusing non-loopback host %s", host);
		return -1;
	}
	if (port <= 0 || port > 65535 || !identity || !idlen || !psk || !psklen || !path) {
		snprintf(err, errlen, "bad arguments");
		return -1;
	}
	if (memchr(identity, 0, idlen)) {
		snprintf(err, errlen, "the PSK identity holds a 0x00 byte (firmware masks them, §2)");
		return -1;
	}
	struct sim_psk key = {.identity = identity, .idlen = idlen, .psk = psk, .psklen = psklen};
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	int fd = -1;
	char *req = NULL, *resp = NULL;
	int status = -1, rc;
	ERR_clear_error();
	if (!(ctx = SSL_CTX_new(TLS_client_method()))) {
		tls_err(err, errlen, "SSL_CTX_new");
		goto done;
	}
	/* set explicitly: the system configuration must not decide what this device offers */
	SSL_CTX_set_security_level(ctx, 1);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, "PSK-AES128-CBC-SHA256") != 1) {
		tls_err(err, errlen, "this OpenSSL cannot offer TLS 1.2 with PSK-AES128-CBC-SHA256");
		goto done;
	}
	SSL_CTX_set_psk_client_callback(ctx, sim_psk_cb);
	if (!(ssl = SSL_new(ctx)) || SSL_set_app_data(ssl, &key) != 1) {
		tls_err(err, errlen, "SSL_new");
		goto done;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
		snprintf(err, errlen, "connect to 127.0.0.1:%d: %s", port, strerror(errno));
		goto done;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (SSL_set_fd(ssl, fd) != 1) {
		tls_err(err, errlen, "SSL_set_fd");
		goto done;
	}
	int64_t end = fc_mono_ms() + STEP_TIMEOUT_MS;
	while ((rc = SSL_connect(ssl)) != 1) {
		int w = sim_ssl_wait(ssl, fd, rc, end);
		if (w == -1) {
			snprintf(err, errlen, "handshake timed out");
			goto done;
		}
		if (w != 0) {
			tls_err(err, errlen, "handshake");
			goto done;
		}
	}
	size_t blen = body ? strlen(body) : 0;
	size_t rlen = strlen(path) + blen + 256;
	req = malloc(rlen);
	resp = malloc(RESP_MAX + 1);
	if (!req || !resp) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	int hl = snprintf(req, rlen,
			  "POST %s HTTP/1.1\r\nHost: h3.iot-dns.com\r\nUser-Agent: TUYA_IOT_SDK\r\nContent-Type: "
			  "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			  path, blen);
	if (hl < 0 || (size_t)hl + blen >= rlen) {
		snprintf(err, errlen, "request too long");
		goto done;
	}
	memcpy(req + hl, body ? body : "", blen);
	size_t total = (size_t)hl + blen, sent = 0;
	end = fc_mono_ms() + STEP_TIMEOUT_MS;
	while (sent < total) {
		rc = SSL_write(ssl, req + sent, (int)(total - sent));
		if (rc > 0) {
			sent += (size_t)rc;
			continue;
		}
		int w = sim_ssl_wait(ssl, fd, rc, end);
		if (w == -1) {
			snprintf(err, errlen, "write timed out");
			goto done;
		}
		if (w != 0) {
			tls_err(err, errlen, "write");
			goto done;
		}
	}
	size_t used = 0;
	end = fc_mono_ms() + STEP_TIMEOUT_MS;
	while (used < RESP_MAX && !http_complete(resp, used)) {
		rc = SSL_read(ssl, resp + used, (int)(RESP_MAX - used));
		if (rc > 0) {
			used += (size_t)rc;
			continue;
		}
		int se = SSL_get_error(ssl, rc);
		if (se == SSL_ERROR_ZERO_RETURN || se == SSL_ERROR_SYSCALL) {
			ERR_clear_error();
			break; /* the server closed (with or without close_notify) */
		}
		int w = sim_ssl_wait(ssl, fd, rc, end);
		if (w == -1) {
			snprintf(err, errlen, "read timed out after %zu bytes", used);
			goto done;
		}
		if (w != 0) {
			if (used > 0) {
				ERR_clear_error();
				break;
			}
			tls_err(err, errlen, "read");
			goto done;
		}
	}
	resp[used] = 0;
	char *b = NULL;
	size_t bl = 0;
	status = http_parse(resp, used, &b, &bl);
	if (status < 0) {
		snprintf(err, errlen, "no complete HTTP response in %zu bytes", used);
		goto done;
	}
	copy_out(out, cap, b, bl);
	SSL_shutdown(ssl); /* close_notify, best effort */
done:
	free(req);
	free(resp);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	ERR_clear_error();
	return status;
}

/* ------------------------------------------------------------------------------------------------ */
/* plain HTTP (ATOP on /d.json) */

static int tcp_connect(const char *host, int port, char *err, size_t errlen)
{
	if (!loopback_host(host)) {
		snprintf(err, errlen, "refusing non-loopback host %s", host);
		return -1;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	struct timeval tv = {STEP_TIMEOUT_MS / 1000, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		snprintf(err, errlen, "connect to %s:%d: %s", host, port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* One request; the body of the answer (malloc'd) in *out. Status or -1. */
static int http_post(const char *host, int port, const char *target, const char *body, char **out, size_t *outlen,
		     char *err, size_t errlen)
{
	*out = NULL;
	*outlen = 0;
	int fd = tcp_connect(host, port, err, errlen);
	if (fd < 0)
		return -1;
	size_t blen = strlen(body);
	size_t rlen = strlen(target) + blen + 300;
	char *req = malloc(rlen), *resp = malloc(RESP_MAX + 1);
	int status = -1;
	if (!req || !resp) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	int hl = snprintf(req, rlen,
			  "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: TUYA_IOT_SDK\r\nContent-Type: "
			  "application/x-www-form-urlencoded;charset=UTF-8\r\nContent-Length: %zu\r\nConnection: "
			  "close\r\n\r\n",
			  target, host, blen);
	if (hl < 0 || (size_t)hl + blen >= rlen) {
		snprintf(err, errlen, "request too long");
		goto done;
	}
	memcpy(req + hl, body, blen);
	size_t total = (size_t)hl + blen, sent = 0;
	while (sent < total) {
		ssize_t w = send(fd, req + sent, total - sent, MSG_NOSIGNAL);
		if (w <= 0) {
			snprintf(err, errlen, "send: %s", w < 0 ? strerror(errno) : "closed");
			goto done;
		}
		sent += (size_t)w;
	}
	size_t used = 0;
	int64_t end = fc_mono_ms() + STEP_TIMEOUT_MS;
	while (used < RESP_MAX && !http_complete(resp, used) && fc_mono_ms() < end) {
		ssize_t r = recv(fd, resp + used, RESP_MAX - used, 0);
		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "recv: %s", strerror(errno));
			goto done;
		}
		used += (size_t)r;
	}
	resp[used] = 0;
	char *b = NULL;
	size_t bl = 0;
	status = http_parse(resp, used, &b, &bl);
	if (status < 0) {
		snprintf(err, errlen, "no complete HTTP response in %zu bytes", used);
		goto done;
	}
	*out = malloc(bl + 1);
	if (!*out) {
		status = -1;
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	memcpy(*out, b, bl + 1);
	*outlen = bl;
done:
	free(req);
	free(resp);
	close(fd);
	return status;
}

/* ------------------------------------------------------------------------------------------------ */
/* url_config */

/* "http://host[:port]/path" -> parts (http only, loopback only). */
static bool parse_http_url(const char *url, char *host, size_t hcap, int *port, char *path, size_t pcap)
{
	if (strncmp(url, "http://", 7) != 0)
		return false;
	const char *h = url + 7, *slash = strchr(h, '/');
	if (!slash)
		return false;
	const char *colon = memchr(h, ':', (size_t)(slash - h));
	size_t hl = (size_t)((colon ? colon : slash) - h);
	if (hl == 0 || hl >= hcap || strlen(slash) >= pcap)
		return false;
	memcpy(host, h, hl);
	host[hl] = 0;
	*port = 80;
	if (colon) {
		char *end = NULL;
		long p = strtol(colon + 1, &end, 10);
		if (end != slash || p <= 0 || p > 65535)
			return false;
		*port = (int)p;
	}
	snprintf(path, pcap, "%s", slash);
	return true;
}

/* "host:port" -> parts. */
static bool parse_host_port(const char *s, char *host, size_t hcap, int *port)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s || (size_t)(colon - s) >= hcap)
		return false;
	char *end = NULL;
	long p = strtol(colon + 1, &end, 10);
	if (*end || p <= 0 || p > 65535)
		return false;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	*port = (int)p;
	return true;
}

/* url_config member: {"addr":..} or a plain string (legacy). */
static const char *url_addr(const cJSON *root, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
	if (cJSON_IsString(v))
		return v->valuestring;
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "addr"));
}

/* The identity and PSK this device uses. */
static int device_psk(struct tuya_sim *s, uint8_t *id, size_t *idlen, uint8_t *psk, size_t *psklen, char *err,
		      size_t errlen)
{
	if (s->o.psk_key[0]) {
		if (tuya_psk_id_v2_build(NULL, s->o.uuid, id) != 0) {
			snprintf(err, errlen, "cannot build identity 2");
			return -1;
		}
		*idlen = TUYA_PSK_ID_V2_LEN;
		size_t n = strlen(s->o.psk_key);
		memcpy(psk, s->o.psk_key, n);
		*psklen = n;
		return 0;
	}
	if (tuya_psk_id_v1_build(NULL, s->o.uuid, s->o.auth_key, id) != 0) {
		snprintf(err, errlen, "cannot build identity 1");
		return -1;
	}
	*idlen = TUYA_PSK_ID_V1_LEN;
	/* The device derives with its built-in hint: it configures the PSK before the server speaks. */
	if (tuya_psk_v1_derive(id, *idlen, TUYA_PSK_HINT, TUYA_PSK_HINT_LEN, psk, err, errlen) != 0)
		return -1;
	*psklen = TUYA_PSK_LEN;
	return 0;
}

static bool step_url_config(struct tuya_sim *s)
{
	uint8_t id[TUYA_PSK_ID_MAX], psk[72];
	size_t idlen = 0, psklen = 0;
	char err[256] = "";
	if (device_psk(s, id, &idlen, psk, &psklen, err, sizeof err) != 0) {
		fail(s, TSC__COUNT, "url_config: %s", err);
		return false;
	}
	cJSON *req = cJSON_CreateObject();
	cJSON *cfg = cJSON_AddArrayToObject(req, "config");
	static const char *const keys[] = {"httpUrl", "mqttUrl", "httpsPSKUrl", "mqttsPSKUrl"};
	cJSON_AddStringToObject(req, "region", "AA");
	cJSON_AddStringToObject(req, "env", "");
	for (size_t i = 0; cfg && i < 4; i++) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "key", keys[i]);
		cJSON_AddFalseToObject(e, "need_ca");
		cJSON_AddItemToArray(cfg, e);
	}
	if (strstr(s->url_path, "/v2/")) {
		uint8_t rnd[32];
		char sign[64];
		size_t sl = 0;
		fc_random(rnd, sizeof rnd);
		fc_base64_encode(rnd, sizeof rnd, sign, sizeof sign, &sl);
		cJSON_AddStringToObject(req, "uuid", s->o.uuid);
		cJSON_AddNumberToObject(req, "ts", (double)((fc_mono_ms() - s->boot_ms) / 1000 + 57));
		cJSON_AddStringToObject(req, "sign", sign);
	}
	char *body = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	char *out = malloc(RESP_MAX + 1);
	if (!body || !out) {
		cJSON_free(body);
		free(out);
		fail(s, TSC__COUNT, "url_config: out of memory");
		return false;
	}
	int status = tuya_sim_psk_post(s->host, s->o.https_port, id, idlen, psk, psklen, s->url_path, body, out,
				       RESP_MAX + 1, err, sizeof err);
	fc_wipe(psk, sizeof psk);
	cJSON_free(body);
	bool ok = false;
	cJSON *root = NULL;
	if (status != 200) {
		if (status < 0)
			fail(s, TSC__COUNT, "url_config: %s", err);
		else
			fail(s, TSC__COUNT, "url_config: HTTP %d: %.120s", status, out);
		goto out;
	}
	root = cJSON_Parse(out);
	const char *http = url_addr(root, "httpUrl"), *mqtt = url_addr(root, "mqttUrl");
	const char *mqtts = url_addr(root, "mqttsPSKUrl");
	char hh[64], hp[64], mh[64], sh[64] = "";
	int hport = 0, mport = 0, sport = 0;
	if (!http || !mqtt || !parse_http_url(http, hh, sizeof hh, &hport, hp, sizeof hp) ||
	    !parse_host_port(mqtt, mh, sizeof mh, &mport)) {
		fail(s, TSC__COUNT, "url_config: reply without usable httpUrl/mqttUrl: %.160s", out);
		goto out;
	}
	if (!loopback_host(hh) || !loopback_host(mh)) {
		fail(s, TSC__COUNT, "url_config: refusing to contact non-loopback %s / %s", hh, mh);
		goto out;
	}
	if (mqtts && mqtts[0] && (!parse_host_port(mqtts, sh, sizeof sh, &sport) || !loopback_host(sh)))
		sh[0] = 0, sport = 0;
	pthread_mutex_lock(&s->mu);
	snprintf(s->http_host, sizeof s->http_host, "%s", hh);
	snprintf(s->http_path, sizeof s->http_path, "%s", hp);
	s->http_port = hport;
	snprintf(s->mqtt_host, sizeof s->mqtt_host, "%s", mh);
	s->mqtt_port = mport;
	snprintf(s->mqtts_host, sizeof s->mqtts_host, "%s", sh);
	s->mqtts_port = sport;
	bump(s, TSC_URL_CONFIG_OK);
	pthread_mutex_unlock(&s->mu);
	ok = true;
out:
	cJSON_Delete(root);
	free(out);
	return ok;
}

/* ------------------------------------------------------------------------------------------------ */
/* ATOP */

/* One ATOP call: signed query, encrypted body, reply verified and opened. *result receives the inner
 * "result" (detached, may be NULL) when success is true. 1 = success:true, 0 = answered success:false,
 * -1 = transport/crypto failure. Counted in TSC_ATOP_CALLS / TSC_ATOP_ERRORS. */
static int atop_call(struct tuya_sim *s, const char *action, const char *version, bool by_uuid, cJSON *body,
		     cJSON **result, int64_t *t_out)
{
	if (result)
		*result = NULL;
	note_action(s, action);
	pthread_mutex_lock(&s->mu);
	char host[64], path[64], dev_id[33], key[65];
	snprintf(host, sizeof host, "%s", s->http_host);
	snprintf(path, sizeof path, "%s", s->http_path);
	int port = s->http_port;
	snprintf(dev_id, sizeof dev_id, "%s", s->dev_id);
	snprintf(key, sizeof key, "%s", by_uuid ? s->o.auth_key : s->sec_key);
	pthread_mutex_unlock(&s->mu);

	enum tuya_et et = s->o.pv == 23 ? TUYA_ET_GCM : TUYA_ET_ECB;
	int64_t t = dev_time(s);
	char ts[24];
	snprintf(ts, sizeof ts, "%lld", (long long)t);
	cJSON_AddNumberToObject(body, "t", (double)t);
	struct tuya_query_param p[6];
	size_t n = 0;
	p[n++] = (struct tuya_query_param){"a", action};
	if (!by_uuid)
		p[n++] = (struct tuya_query_param){"devId", dev_id};
	p[n++] = (struct tuya_query_param){"et", et == TUYA_ET_GCM ? "3" : "1"};
	p[n++] = (struct tuya_query_param){"t", ts};
	if (by_uuid)
		p[n++] = (struct tuya_query_param){"uuid", s->o.uuid};
	if (version)
		p[n++] = (struct tuya_query_param){"v", version};
	char sign[33];
	char target[600];
	size_t tl = 0;
	int w = snprintf(target, sizeof target, "%s?", path);
	for (size_t i = 0; w >= 0 && (tl += (size_t)w) < sizeof target && i < n; i++)
		w = snprintf(target + tl, sizeof target - tl, "%s=%s&", p[i].key, p[i].value);
	tuya_atop_sign_params(p, n, key, strlen(key), sign);
	if (w < 0 || tl >= sizeof target ||
	    (size_t)snprintf(target + tl, sizeof target - tl, "sign=%s", sign) >= sizeof target - tl) {
		fc_wipe(key, sizeof key);
		fail(s, TSC_ATOP_ERRORS, "%s: query too long", action);
		return -1;
	}

	char *json = cJSON_PrintUnformatted(body);
	char err[200] = "";
	char *data = json ? tuya_atop_body_encode(json, strlen(json), et, key, strlen(key), NULL, err, sizeof err) : NULL;
	if (json)
		fc_wipe(json, strlen(json));
	cJSON_free(json);
	if (!data) {
		fc_wipe(key, sizeof key);
		fail(s, TSC_ATOP_ERRORS, "%s: cannot encode the body: %s", action, err);
		return -1;
	}
	char *resp = NULL;
	size_t rlen = 0;
	int status = http_post(host, port, target, data, &resp, &rlen, err, sizeof err);
	free(data);
	int ret = -1;
	struct tuya_atop_body inner;
	memset(&inner, 0, sizeof inner);
	if (status != 200) {
		if (status < 0)
			fail(s, TSC_ATOP_ERRORS, "%s: %s", action, err);
		else
			fail(s, TSC_ATOP_ERRORS, "%s: HTTP %d: %.120s", action, status, resp ? resp : "");
		goto out;
	}
	int64_t rt = -1;
	bool sign_ok = false;
	int rc = tuya_atop_response_open(resp, rlen, et, key, strlen(key), &inner, &rt, &sign_ok, err, sizeof err);
	if (rc != 0) {
		fail(s, TSC_ATOP_ERRORS, "%s: reply does not open (%s): %.120s", action, err, resp);
		goto out;
	}
	if (!sign_ok) {
		fail(s, TSC_ATOP_ERRORS, "%s: reply sign is wrong", action);
		goto out;
	}
	const cJSON *succ = cJSON_GetObjectItemCaseSensitive(inner.root, "success");
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(inner.root, "t");
	if (!cJSON_IsBool(succ) || !cJSON_IsNumber(it) || (int64_t)it->valuedouble != rt) {
		fail(s, TSC_ATOP_ERRORS, "%s: inner reply lacks success/t or its t differs: %.160s", action, inner.json);
		goto out;
	}
	pthread_mutex_lock(&s->mu);
	s->sync_t = rt;
	s->sync_mono_ms = fc_mono_ms();
	pthread_mutex_unlock(&s->mu);
	if (t_out)
		*t_out = rt;
	if (!cJSON_IsTrue(succ)) {
		const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(inner.root, "errorCode"));
		fail(s, TSC_ATOP_ERRORS, "%s: success:false (%s)", action, code ? code : "no errorCode");
		ret = 0;
		goto out;
	}
	if (result)
		*result = cJSON_DetachItemFromObjectCaseSensitive(inner.root, "result");
	pthread_mutex_lock(&s->mu);
	bump(s, TSC_ATOP_CALLS);
	pthread_mutex_unlock(&s->mu);
	ret = 1;
out:
	fc_wipe(key, sizeof key);
	tuya_atop_body_free(&inner);
	free(resp);
	return ret;
}

static bool str_ok(const char *v, size_t min, size_t max)
{
	if (!v)
		return false;
	size_t n = strlen(v);
	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
			return false;
	return true;
}

static bool step_active(struct tuya_sim *s)
{
	char pv[8], modules[128], options[] = "{\"isFK\":true,\"otaChannel\":0}";
	snprintf(pv, sizeof pv, "2.%d", s->o.pv % 10);
	snprintf(modules, sizeof modules, "[{\"otaChannel\":9,\"softVer\":\"%s\",\"online\":true}]", s->soft_ver);
	cJSON *b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "token", "AAAAAA");
	cJSON_AddStringToObject(b, "softVer", s->soft_ver);
	cJSON_AddStringToObject(b, "productKey", s->product_key);
	cJSON_AddStringToObject(b, "protocolVer", pv);
	cJSON_AddStringToObject(b, "baselineVer", "40.00");
	cJSON_AddStringToObject(b, "productKeyStr", s->product_key);
	cJSON_AddStringToObject(b, "hid", s->hid);
	cJSON_AddStringToObject(b, "modules", modules);
	cJSON_AddNumberToObject(b, "devAttribute", 579);
	cJSON_AddStringToObject(b, "cadVer", "1.0.3");
	cJSON_AddStringToObject(b, "cdVer", "1.0.0");
	cJSON_AddStringToObject(b, "options", options);
	cJSON *r = NULL;
	int64_t t = 0;
	int rc = atop_call(s, "tuya.device.active", "4.4", true, b, &r, &t);
	cJSON_Delete(b);
	if (rc != 1) {
		cJSON_Delete(r);
		return false;
	}
	const char *dev_id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "devId"));
	const char *sec = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "secKey"));
	const char *local = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "localKey"));
	const char *schema = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "schema"));
	const char *sid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "schemaId"));
	const char *std = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "stdTimeZone"));
	/* What connect-kit requires (§1.5): devId, secKey, localKey, schemaId, stdTimeZone, schema. */
	bool ok = str_ok(dev_id, 10, 32) && str_ok(sec, 16, 16) && str_ok(local, 16, 16) && str_ok(sid, 1, 32) &&
		  std && schema && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(r, "dstIntervals"));
	cJSON *sch = ok ? cJSON_Parse(schema) : NULL;
	if (!ok || !cJSON_IsArray(sch)) {
		cJSON_Delete(sch);
		cJSON_Delete(r);
		fail(s, TSC_ATOP_ERRORS, "tuya.device.active: reply lacks devId/secKey/localKey/schemaId/stdTimeZone/"
					 "a schema array/dstIntervals");
		return false;
	}
	cJSON_Delete(sch);
	char *sdup = strdup(schema);
	pthread_mutex_lock(&s->mu);
	snprintf(s->dev_id, sizeof s->dev_id, "%s", dev_id);
	snprintf(s->sec_key, sizeof s->sec_key, "%s", sec);
	snprintf(s->local_key, sizeof s->local_key, "%s", local);
	snprintf(s->schema_id, sizeof s->schema_id, "%s", sid);
	free(s->schema);
	s->schema = sdup;
	s->server_time = t;
	snprintf(s->sub_topic, sizeof s->sub_topic, "smart/device/in/%s", dev_id);
	snprintf(s->pub_topic, sizeof s->pub_topic, "%s",
		 s->o.publish_topic_override[0] ? s->o.publish_topic_override : "");
	if (!s->pub_topic[0])
		snprintf(s->pub_topic, sizeof s->pub_topic, "smart/device/out/%s", dev_id);
	bump(s, TSC_ACTIVE_OK);
	pthread_mutex_unlock(&s->mu);
	cJSON_Delete(r);
	return true;
}

/* The follow-ups after activation (§1.6 step 5). Each reply is checked; failures are recorded and the
 * device carries on, as firmware does. */
static void step_followups(struct tuya_sim *s)
{
	char dev_id[33];
	pthread_mutex_lock(&s->mu);
	snprintf(dev_id, sizeof dev_id, "%s", s->dev_id);
	pthread_mutex_unlock(&s->mu);
	cJSON *r = NULL, *b;

	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "type", "[\"timezone\"]");
	if (atop_call(s, "tuya.device.dynamic.config.get", "2.0", false, b, &r, NULL) == 1) {
		const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(r, "config");
		const cJSON *tz = cJSON_GetObjectItemCaseSensitive(r, "timezone");
		if (!cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cfg, "stdTimeZone")) || !cJSON_IsObject(tz))
			fail(s, TSC_ATOP_ERRORS, "dynamic.config.get: no config.stdTimeZone or timezone object");
	}
	cJSON_Delete(b);
	cJSON_Delete(r);

	b = cJSON_CreateObject();
	if (atop_call(s, "tuya.device.uuid.pskkey.get", "1.0", true, b, &r, NULL) == 1 &&
	    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(r, "pskKey")))
		fail(s, TSC_ATOP_ERRORS, "uuid.pskkey.get: no pskKey string");
	cJSON_Delete(b);
	cJSON_Delete(r);

	b = cJSON_CreateObject();
	cJSON_AddNullToObject(b, "subId");
	atop_call(s, "tuya.device.upgrade.silent.get", "4.4", false, b, &r, NULL);
	cJSON_Delete(b);
	cJSON_Delete(r);

	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "devId", dev_id);
	cJSON_AddStringToObject(b, "lastFetchTime", "0");
	if (atop_call(s, "tuya.device.timer.count", "4.0", false, b, &r, NULL) == 1 &&
	    !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(r, "count")))
		fail(s, TSC_ATOP_ERRORS, "timer.count: no count");
	cJSON_Delete(b);
	cJSON_Delete(r);

	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "data", "4");
	atop_call(s, "atop.online.debug.log", NULL, false, b, &r, NULL);
	cJSON_Delete(b);
	cJSON_Delete(r);

	b = cJSON_CreateObject();
	if (atop_call(s, "tuya.device.info.sync", "1.0", false, b, &r, NULL) == 1) {
		const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "status"));
		if (!st || strcmp(st, "enable") != 0)
			fail(s, TSC_ATOP_ERRORS, "info.sync: status is not \"enable\"");
	}
	cJSON_Delete(b);
	cJSON_Delete(r);
}

/* ------------------------------------------------------------------------------------------------ */
/* MQTT */

static void enqueue(struct tuya_sim *s, const char *topic, uint8_t *payload /* owned */, size_t len, int qos,
		    bool report)
{
	if (s->outbox_n >= OUTBOX_MAX) {
		free(payload);
		set_error(s, "outbox full: message dropped");
		return;
	}
	struct outmsg *m = calloc(1, sizeof *m);
	if (!m) {
		free(payload);
		return;
	}
	snprintf(m->topic, sizeof m->topic, "%s", topic);
	m->payload = payload;
	m->len = len;
	m->qos = qos;
	m->report = report;
	if (s->outbox_tail)
		s->outbox_tail->next = m;
	else
		s->outbox = m;
	s->outbox_tail = m;
	s->outbox_n++;
}

/* Queue a protocol 4 report of `dps` (mu held). */
static void queue_report(struct tuya_sim *s, const cJSON *dps)
{
	if (!s->dev_id[0] || !cJSON_IsObject(dps))
		return;
	cJSON *data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "devId", s->dev_id);
	cJSON_AddItemToObject(data, "dps", cJSON_Duplicate(dps, 1));
	int64_t t = s->sync_mono_ms ? s->sync_t + (fc_mono_ms() - s->sync_mono_ms) / 1000 : time(NULL);
	struct tuya_mqtt_out o = {.pv = (enum tuya_pv)s->o.pv, .seq = ++s->seq, .source = 1};
	uint8_t *out = NULL;
	size_t outlen = 0;
	char err[160];
	if (tuya_mqtt_encode(&o, TUYA_PROTO_DP_REPORT, data, t, s->local_key, strlen(s->local_key), &out, &outlen, err,
			     sizeof err) != 0)
		set_error(s, "report: %s", err);
	else
		enqueue(s, s->pub_topic, out, outlen, s->o.report_qos, true);
	cJSON_Delete(data);
}

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
	struct tuya_sim *s = ud;
	pthread_mutex_lock(&s->mu);
	s->connack_seen = true;
	s->last_connack = rc;
	if (rc != 0) {
		bump(s, TSC_CONNECT_REFUSED);
		set_error(s, "CONNACK refused: %s (%d)", mosquitto_connack_string(rc), rc);
		pthread_mutex_unlock(&s->mu);
		return;
	}
	bump(s, TSC_CONNECTS);
	char topic[96];
	snprintf(topic, sizeof topic, "%s", s->sub_topic);
	pthread_mutex_unlock(&s->mu);
	int mid = 0;
	if (mosquitto_subscribe(m, &mid, topic, 1) != MOSQ_ERR_SUCCESS) {
		pthread_mutex_lock(&s->mu);
		set_error(s, "subscribe %s failed", topic);
		pthread_mutex_unlock(&s->mu);
		return;
	}
	pthread_mutex_lock(&s->mu);
	s->sub_mid = mid;
	pthread_mutex_unlock(&s->mu);
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
	(void)m;
	struct tuya_sim *s = ud;
	pthread_mutex_lock(&s->mu);
	if (mid == s->sub_mid) {
		if (n < 1 || granted[0] > 2) {
			set_error(s, "subscription to %s refused", s->sub_topic);
		} else {
			s->online = true;
			s->stage = TUYA_SIM_ONLINE;
			queue_report(s, s->dps); /* everything, as a device does on connect */
			pthread_cond_broadcast(&s->cv);
		}
	}
	pthread_mutex_unlock(&s->mu);
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
	(void)m;
	struct tuya_sim *s = ud;
	pthread_mutex_lock(&s->mu);
	if (!msg->topic || strcmp(msg->topic, s->sub_topic) != 0 || msg->payloadlen <= 0) {
		bump(s, TSC_BAD_MESSAGES);
		set_error(s, "message on unexpected topic %s", msg->topic ? msg->topic : "?");
		pthread_mutex_unlock(&s->mu);
		return;
	}
	struct tuya_mqtt_msg d;
	char err[160];
	int rc = tuya_mqtt_decode(msg->payload, (size_t)msg->payloadlen, s->local_key, strlen(s->local_key),
				  TUYA_MQTT_STRICT, &d, err, sizeof err);
	if (rc != 0) {
		bump(s, TSC_BAD_MESSAGES);
		set_error(s, "undecodable message: %s", err);
		pthread_mutex_unlock(&s->mu);
		return;
	}
	if ((int)d.pv != s->o.pv) {
		bump(s, TSC_BAD_MESSAGES);
		set_error(s, "message in payload version %d, device speaks %d", (int)d.pv, s->o.pv);
	} else if (d.protocol != TUYA_PROTO_DP_CMD) {
		bump(s, TSC_OTHER_PROTOCOLS);
	} else {
		const cJSON *dps = cJSON_GetObjectItemCaseSensitive(d.data, "dps");
		const char *to = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d.data, "devId"));
		if (!cJSON_IsObject(dps) || (to && strcmp(to, s->dev_id) != 0) || !d.has_t) {
			bump(s, TSC_BAD_MESSAGES);
			set_error(s, "protocol 5 without dps, without t, or for another devId");
		} else {
			for (const cJSON *e = dps->child; e; e = e->next) {
				if (!e->string)
					continue;
				cJSON_DeleteItemFromObjectCaseSensitive(s->dps, e->string);
				cJSON_AddItemToObject(s->dps, e->string, cJSON_Duplicate(e, 1));
			}
			char *txt = cJSON_PrintUnformatted(dps);
			snprintf(s->last_cmd, sizeof s->last_cmd, "%s", txt ? txt : "");
			cJSON_free(txt);
			s->last_cmd_t = d.t;
			s->last_cmd_seq = d.seq;
			bump(s, TSC_COMMANDS);
			queue_report(s, dps); /* the device reports what the command set */
		}
	}
	tuya_mqtt_msg_free(&d);
	pthread_mutex_unlock(&s->mu);
}

static void on_publish(struct mosquitto *m, void *ud, int mid)
{
	(void)m;
	(void)mid;
	struct tuya_sim *s = ud;
	pthread_mutex_lock(&s->mu);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void mark_down(struct tuya_sim *s)
{
	s->online = false;
	if (s->stage == TUYA_SIM_ONLINE)
		s->stage = TUYA_SIM_ACTIVATED;
	pthread_cond_broadcast(&s->cv);
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc)
{
	(void)m;
	(void)rc;
	struct tuya_sim *s = ud;
	pthread_mutex_lock(&s->mu);
	mark_down(s);
	pthread_mutex_unlock(&s->mu);
}

static void flush_outbox(struct tuya_sim *s)
{
	pthread_mutex_lock(&s->mu);
	struct outmsg *list = s->online ? s->outbox : NULL;
	if (list) {
		s->outbox = s->outbox_tail = NULL;
		s->outbox_n = 0;
	}
	pthread_mutex_unlock(&s->mu);
	while (list) {
		struct outmsg *n = list->next;
		int rc = mosquitto_publish(s->m, NULL, list->topic, (int)list->len, list->payload, list->qos, false);
		pthread_mutex_lock(&s->mu);
		if (rc != MOSQ_ERR_SUCCESS)
			set_error(s, "publish to %s failed: %s", list->topic, mosquitto_strerror(rc));
		else if (list->report)
			bump(s, TSC_REPORTS);
		pthread_mutex_unlock(&s->mu);
		free(list->payload);
		free(list);
		list = n;
	}
}

static void free_outbox(struct tuya_sim *s)
{
	for (struct outmsg *m = s->outbox, *n; m; m = n) {
		n = m->next;
		free(m->payload);
		free(m);
	}
	s->outbox = s->outbox_tail = NULL;
	s->outbox_n = 0;
}

static bool mqtt_setup(struct tuya_sim *s, char *host, size_t hcap, int *port)
{
	pthread_mutex_lock(&s->mu);
	char id[33], pw[17];
	snprintf(id, sizeof id, "%s", s->dev_id);
	tuya_mqtt_password(s->sec_key, strlen(s->sec_key), pw);
	bool psk = s->o.mqtt_psk && !s->o.psk_key[0] && s->mqtts_port > 0;
	snprintf(host, hcap, "%s", psk ? s->mqtts_host : s->mqtt_host);
	*port = psk ? s->mqtts_port : s->mqtt_port;
	pthread_mutex_unlock(&s->mu);
	s->m = mosquitto_new(id, true, s);
	if (!s->m) {
		fail(s, TSC__COUNT, "mosquitto_new failed");
		return false;
	}
	mosquitto_int_option(s->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
	mosquitto_username_pw_set(s->m, id, pw);
	mosquitto_connect_callback_set(s->m, on_connect);
	mosquitto_disconnect_callback_set(s->m, on_disconnect);
	mosquitto_subscribe_callback_set(s->m, on_subscribe);
	mosquitto_message_callback_set(s->m, on_message);
	mosquitto_publish_callback_set(s->m, on_publish);
	if (psk) {
		uint8_t ident[TUYA_PSK_ID_V1_LEN + 1], key[TUYA_PSK_LEN];
		char hex[2 * TUYA_PSK_LEN + 1], err[128];
		if (tuya_psk_id_v1_build(NULL, s->o.uuid, s->o.auth_key, ident) != 0 ||
		    tuya_psk_v1_derive(ident, TUYA_PSK_ID_V1_LEN, TUYA_PSK_HINT, TUYA_PSK_HINT_LEN, key, err,
				       sizeof err) != 0) {
			fail(s, TSC__COUNT, "MQTT TLS-PSK identity failed");
			return false;
		}
		ident[TUYA_PSK_ID_V1_LEN] = 0; /* NUL-free by construction (masked) */
		fc_hex_encode(key, sizeof key, hex);
		int rc = mosquitto_tls_psk_set(s->m, hex, (const char *)ident, NULL);
		fc_wipe(key, sizeof key);
		fc_wipe(hex, sizeof hex);
		if (rc != MOSQ_ERR_SUCCESS) {
			fail(s, TSC__COUNT, "MQTT TLS-PSK setup: %s", mosquitto_strerror(rc));
			return false;
		}
	}
	return true;
}

static void mqtt_run(struct tuya_sim *s)
{
	char host[64];
	int port = 0;
	if (!mqtt_setup(s, host, sizeof host, &port))
		return;
	if (!loopback_host(host)) {
		fail(s, TSC__COUNT, "refusing to connect MQTT to non-loopback %s", host);
		return;
	}
	bool sock_up = false, first = true;
	int64_t next_try = 0;
	while (!stopping(s)) {
		pthread_mutex_lock(&s->mu);
		bool drop = s->drop_req;
		s->drop_req = false;
		pthread_mutex_unlock(&s->mu);
		if (!sock_up) {
			if (fc_mono_ms() >= next_try) {
				pthread_mutex_lock(&s->mu);
				s->connack_seen = false;
				pthread_mutex_unlock(&s->mu);
				errno = 0;
				int rc = first ? mosquitto_connect(s->m, "127.0.0.1", port, 60) : mosquitto_reconnect(s->m);
				int e = errno;
				first = false;
				if (rc == MOSQ_ERR_SUCCESS) {
					sock_up = true;
				} else {
					fail(s, TSC__COUNT, "MQTT connect to %s:%d failed: %s", host, port,
					     rc == MOSQ_ERR_ERRNO ? strerror(e) : mosquitto_strerror(rc));
					next_try = fc_mono_ms() + s->o.reconnect_ms;
				}
			}
			if (!sock_up) {
				fc_sleep_ms(20);
				continue;
			}
		}
		if (drop)
			mosquitto_disconnect(s->m);
		int rc = mosquitto_loop(s->m, 20, 1);
		if (rc != MOSQ_ERR_SUCCESS) {
			sock_up = false;
			pthread_mutex_lock(&s->mu);
			if (!drop && rc != MOSQ_ERR_NO_CONN && rc != MOSQ_ERR_CONN_REFUSED && !s->last_error[0])
				set_error(s, "MQTT loop: %s", mosquitto_strerror(rc));
			mark_down(s);
			pthread_mutex_unlock(&s->mu);
			next_try = fc_mono_ms() + s->o.reconnect_ms;
			continue;
		}
		flush_outbox(s);
	}
	if (sock_up) {
		mosquitto_disconnect(s->m);
		for (int i = 0; i < 10 && mosquitto_loop(s->m, 10, 1) == MOSQ_ERR_SUCCESS; i++)
			;
	}
}

static void *sim_thread(void *arg)
{
	struct tuya_sim *s = arg;
	while (!stopping(s) && !step_url_config(s))
		nap(s, s->o.reconnect_ms);
	if (stopping(s))
		return NULL;
	set_stage(s, TUYA_SIM_ACTIVATING);
	while (!stopping(s) && !step_active(s))
		nap(s, s->o.reconnect_ms);
	if (stopping(s))
		return NULL;
	step_followups(s);
	set_stage(s, TUYA_SIM_ACTIVATED);
	mqtt_run(s);
	return NULL;
}

/* ------------------------------------------------------------------------------------------------ */
/* public API */

void tuya_sim_opts_init(struct tuya_sim_opts *o)
{
	memset(o, 0, sizeof *o);
	o->host = "127.0.0.1";
	o->url_config_path = "/v1/url_config";
	o->pv = 22;
	o->initial_dps = "{\"1\":false}";
	o->soft_ver = "1.1.7";
	o->product_key = "keyfakecloudsim1";
	o->reconnect_ms = 500;
	o->report_qos = 1;
}

static bool bounded(const char *p, size_t cap) { return memchr(p, 0, cap) != NULL; }

static bool alnum_str(const char *p)
{
	for (; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return false;
	return true;
}

struct tuya_sim *tuya_sim_start(const struct tuya_sim_opts *o)
{
	pthread_once(&lib_once, lib_init);
	if (!o || !bounded(o->uuid, sizeof o->uuid) || !bounded(o->auth_key, sizeof o->auth_key) ||
	    !bounded(o->psk_key, sizeof o->psk_key) ||
	    !bounded(o->publish_topic_override, sizeof o->publish_topic_override)) {
		fprintf(stderr, "tuya_sim: unterminated option\n");
		return NULL;
	}
	size_t ul = strlen(o->uuid), al = strlen(o->auth_key);
	if (ul < 8 || ul > 64 || !alnum_str(o->uuid) || (al != 16 && al != 32)) {
		fprintf(stderr, "tuya_sim: uuid (8..64 [A-Za-z0-9]) and auth_key (16 or 32 chars) are required\n");
		return NULL;
	}
	const char *host = o->host ? o->host : "127.0.0.1";
	if (!loopback_host(host)) {
		fprintf(stderr, "tuya_sim: host must be 127.0.0.1 or localhost\n");
		return NULL;
	}
	int pv = o->pv ? o->pv : 22;
	if ((pv != 21 && pv != 22 && pv != 23) || o->https_port <= 0 || o->https_port > 65535 ||
	    (o->report_qos != 0 && o->report_qos != 1)) {
		fprintf(stderr, "tuya_sim: bad pv / https_port / report_qos\n");
		return NULL;
	}
	const char *path = o->url_config_path ? o->url_config_path : "/v1/url_config";
	cJSON *dps = cJSON_Parse(o->initial_dps ? o->initial_dps : "{\"1\":false}");
	if (!cJSON_IsObject(dps) || strlen(path) >= 64) {
		cJSON_Delete(dps);
		fprintf(stderr, "tuya_sim: initial_dps must be a JSON object, url_config_path short\n");
		return NULL;
	}
	struct tuya_sim *s = calloc(1, sizeof *s);
	if (!s) {
		cJSON_Delete(dps);
		return NULL;
	}
	s->o = *o;
	s->o.pv = pv;
	if (s->o.reconnect_ms <= 0)
		s->o.reconnect_ms = 500;
	snprintf(s->host, sizeof s->host, "%s", host);
	snprintf(s->url_path, sizeof s->url_path, "%s", path);
	snprintf(s->soft_ver, sizeof s->soft_ver, "%s", o->soft_ver ? o->soft_ver : "1.1.7");
	snprintf(s->product_key, sizeof s->product_key, "%s", o->product_key ? o->product_key : "keyfakecloudsim1");
	s->o.host = s->host;
	s->o.url_config_path = s->url_path;
	s->o.soft_ver = s->soft_ver;
	s->o.product_key = s->product_key;
	s->o.initial_dps = NULL;
	s->dps = dps;
	fc_random_hex(s->hid, 12);
	uint32_t seq0 = 0;
	fc_random(&seq0, sizeof seq0);
	s->seq = seq0 & 0xffff; /* connect-kit starts at rand() & 0xffff */
	s->last_connack = -1;
	s->boot_ms = fc_mono_ms();
	s->stage = TUYA_SIM_URL_CONFIG;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&s->thread, NULL, sim_thread, s) != 0) {
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mu);
		cJSON_Delete(dps);
		free(s);
		return NULL;
	}
	return s;
}

void tuya_sim_stop(struct tuya_sim *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	if (s->m)
		mosquitto_destroy(s->m);
	free_outbox(s);
	cJSON_Delete(s->dps);
	free(s->schema);
	fc_wipe(s->sec_key, sizeof s->sec_key);
	fc_wipe(s->local_key, sizeof s->local_key);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

enum tuya_sim_stage tuya_sim_stage(struct tuya_sim *s)
{
	pthread_mutex_lock(&s->mu);
	enum tuya_sim_stage st = s->stage;
	pthread_mutex_unlock(&s->mu);
	return st;
}

bool tuya_sim_wait_stage(struct tuya_sim *s, enum tuya_sim_stage st, int timeout_ms)
{
	struct timespec ts;
	deadline(&ts, timeout_ms);
	pthread_mutex_lock(&s->mu);
	while (s->stage < st)
		if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0)
			break;
	bool ok = s->stage >= st;
	pthread_mutex_unlock(&s->mu);
	return ok;
}

long tuya_sim_counter(struct tuya_sim *s, enum tuya_sim_counter c)
{
	if ((int)c < 0 || c >= TSC__COUNT)
		return -1;
	pthread_mutex_lock(&s->mu);
	long v = s->counters[c];
	pthread_mutex_unlock(&s->mu);
	return v;
}

bool tuya_sim_wait_counter(struct tuya_sim *s, enum tuya_sim_counter c, long min, int timeout_ms)
{
	if ((int)c < 0 || c >= TSC__COUNT)
		return false;
	struct timespec ts;
	deadline(&ts, timeout_ms);
	pthread_mutex_lock(&s->mu);
	while (s->counters[c] < min)
		if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0)
			break;
	bool ok = s->counters[c] >= min;
	pthread_mutex_unlock(&s->mu);
	return ok;
}

static void get_str(struct tuya_sim *s, const char *src, char *out, size_t cap)
{
	if (!out || !cap)
		return;
	pthread_mutex_lock(&s->mu);
	snprintf(out, cap, "%s", src ? src : "");
	pthread_mutex_unlock(&s->mu);
}

void tuya_sim_last_error(struct tuya_sim *s, char *out, size_t outlen) { get_str(s, s->last_error, out, outlen); }

int tuya_sim_last_connack(struct tuya_sim *s)
{
	pthread_mutex_lock(&s->mu);
	int v = s->last_connack;
	pthread_mutex_unlock(&s->mu);
	return v;
}

void tuya_sim_dev_id(struct tuya_sim *s, char *out, size_t cap) { get_str(s, s->dev_id, out, cap); }
void tuya_sim_local_key(struct tuya_sim *s, char *out, size_t cap) { get_str(s, s->local_key, out, cap); }
void tuya_sim_sec_key(struct tuya_sim *s, char *out, size_t cap) { get_str(s, s->sec_key, out, cap); }

void tuya_sim_schema(struct tuya_sim *s, char *out, size_t cap)
{
	if (!out || !cap)
		return;
	pthread_mutex_lock(&s->mu);
	snprintf(out, cap, "%s", s->schema ? s->schema : "");
	pthread_mutex_unlock(&s->mu);
}

int64_t tuya_sim_server_time(struct tuya_sim *s)
{
	pthread_mutex_lock(&s->mu);
	int64_t t = s->server_time;
	pthread_mutex_unlock(&s->mu);
	return t;
}

void tuya_sim_actions(struct tuya_sim *s, char *out, size_t cap) { get_str(s, s->actions, out, cap); }

void tuya_sim_dps(struct tuya_sim *s, char *out, size_t cap)
{
	if (!out || !cap)
		return;
	pthread_mutex_lock(&s->mu);
	char *t = cJSON_PrintUnformatted(s->dps);
	snprintf(out, cap, "%s", t ? t : "{}");
	cJSON_free(t);
	pthread_mutex_unlock(&s->mu);
}

int tuya_sim_set_dps(struct tuya_sim *s, const char *dps_json)
{
	cJSON *d = dps_json ? cJSON_Parse(dps_json) : NULL;
	if (!cJSON_IsObject(d)) {
		cJSON_Delete(d);
		return -1;
	}
	pthread_mutex_lock(&s->mu);
	for (const cJSON *e = d->child; e; e = e->next) {
		if (!e->string)
			continue;
		cJSON_DeleteItemFromObjectCaseSensitive(s->dps, e->string);
		cJSON_AddItemToObject(s->dps, e->string, cJSON_Duplicate(e, 1));
	}
	if (s->online)
		queue_report(s, d);
	pthread_mutex_unlock(&s->mu);
	cJSON_Delete(d);
	return 0;
}

void tuya_sim_last_command(struct tuya_sim *s, char *dps_out, size_t cap, int64_t *t, uint32_t *seq)
{
	pthread_mutex_lock(&s->mu);
	if (dps_out && cap)
		snprintf(dps_out, cap, "%s", s->last_cmd);
	if (t)
		*t = s->last_cmd_t;
	if (seq)
		*seq = s->last_cmd_seq;
	pthread_mutex_unlock(&s->mu);
}

int tuya_sim_publish_raw(struct tuya_sim *s, const char *topic, const void *payload, size_t len)
{
	if (!topic || !topic[0] || strlen(topic) >= 256 || (!payload && len) || len > TUYA_MQTT_MAX)
		return -1;
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return -1;
	if (len)
		memcpy(copy, payload, len);
	pthread_mutex_lock(&s->mu);
	enqueue(s, topic, copy, len, 1, false);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

void tuya_sim_drop(struct tuya_sim *s)
{
	pthread_mutex_lock(&s->mu);
	s->drop_req = true;
	pthread_mutex_unlock(&s->mu);
}
