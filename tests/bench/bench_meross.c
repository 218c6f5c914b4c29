/* bench_meross: single-threaded epoll load generator for fakecloud (docs/BENCHMARKS.md).
 *
 * One process, one thread, one epoll set. Every simulated Meross device is one non-blocking socket
 * with its own mbedtls TLS context (one shared mbedtls_ssl_config) and a minimal MQTT 3.1 client
 * written here (CONNECT, SUBSCRIBE, PUBLISH QoS 0, PUBACK, PINGREQ): the device side needs nothing
 * more, and owning the codec keeps the per-connection cost at one TLS context + two small buffers,
 * with no per-connection SSL_CTX and no hidden threads (libmosquitto creates one SSL_CTX per client
 * and its TLS connect path is not designed for thousands of clients in one external event loop).
 *
 * Runs, for each broker (fakecloud's mosquitto+plugin, then bare mosquitto without the plugin):
 *   1. connect + bind N devices (at most -c handshakes in flight); plugin: "bound" = a correctly
 *      signed Bind SETACK; bare: SUBACK of the device's command topic
 *   2. broker RSS (VmRSS from /proc/<pid>/status) before the devices and after they settled, and (plugin run)
 *      the plugin's own heap and SQLite's bytes from fakecloud/bridge/request/health at the same two points
 *   3. commands at -r per second for -d seconds from an admin client on the plain port:
 *      plugin: fakecloud/<name>/set {"state":..} -> signed ToggleX SET -> device SETACK + PUSH ->
 *      fakecloud/<name> shows the value; bare: the same JSON to /appliance/<uuid>/subscribe, the
 *      device echoes it to /appliance/<uuid>/publish, the admin receives it. Latency is measured from
 *      the command's scheduled time (no coordinated omission).
 *   4. throughput for -d seconds: devices publish signed ToggleX PUSHes (state flips every time), at
 *      most -w in flight; counted when the admin receives the resulting fakecloud/<name> state
 *      (plugin) or the relayed PUSH itself (bare).
 * The figures are printed as "RESULT key=value" lines plus a table; nothing is asserted. */
#include "core/crypto.h"
#include "harness/harness.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define USER_ID "1234567"
#define ACCOUNT_KEY "benchkey0123456789abcdef"
#define BIND_RETRY_NS (10LL * 1000000000LL)
#define PING_NS (60LL * 1000000000LL)
#define KEEPALIVE 120

enum { MODE_PLUGIN = 0, MODE_BARE = 1 };
enum { ST_TCP, ST_TLS, ST_CONNACK, ST_SUBACK, ST_READY, ST_DEAD };

struct conn {
	int fd;
	int idx; /* device index, -1 = admin */
	int st;
	bool tls, hs_want_write, bound;
	uint32_t evmask;
	mbedtls_ssl_context *ssl;
	uint8_t *rx, *tx;
	size_t rxlen, rxcap, txlen, txcap;
	size_t tls_pending; /* length of the mbedtls_ssl_write that returned WANT_WRITE (retry with it) */
	int64_t last_tx, t_bind_sent;
	int onoff;
	int64_t cmd_t; /* admin side: scheduled time of the outstanding command (0 = none) */
	int cmd_want;
};

struct result {
	long n, bound, failed, dropped, bad_sign;
	double connect_s, bind_rate;
	long rss0_kb, rss1_kb;
	double per_dev_bytes;
	/* plugin run: the plugin's own live heap and SQLite's, from bridge/request/health (-1 = unknown) */
	long heap0, heap1, sqlite0, sqlite1;
	double heap_per_dev, sqlite_per_dev;
	long cmd_sched, cmd_ok, cmd_timeouts, cmd_skipped;
	double cmd_rate, p50_us, p99_us, max_us;
	double tp_rate;
	long tp_rx, tp_stalls;
	double tp_cpu_us; /* broker CPU time (user + system) per message in the throughput phase */
};

static struct {
	int mode;
	bool tls, nodelay;
	int n, conc, rate, dur, window;
	int dev_port, admin_port;
	char admin_user[64], admin_pass[160];
	int ep;
	struct conn *dev;
	struct conn admin;
	mbedtls_ssl_config conf;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	long connecting, bound, failed, dropped, bad_sign, dev_rx;
	int next_conn;
	int64_t last_dev_rx, last_tick;
	int64_t *rtt;
	long nrtt, cmd_sched, cmd_skipped;
	bool tp_on;
	long tp_sent, tp_rx;
	uint64_t rng;
	int fail_prints;
	long health_heap, health_sqlite; /* last bridge/response/health; -2 while a request is outstanding */
} B;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t rnd(void)
{
	B.rng ^= B.rng << 13;
	B.rng ^= B.rng >> 7;
	B.rng ^= B.rng << 17;
	return B.rng;
}

static void rand_hex32(char out[33])
{
	static const char hx[] = "0123456789abcdef";
	uint64_t a = rnd(), b = rnd();
	for (int i = 0; i < 16; i++) {
		out[i] = hx[(a >> (4 * i)) & 15];
		out[16 + i] = hx[(b >> (4 * i)) & 15];
	}
	out[32] = 0;
}

/* ---------------------------------------------------------------- identities */

static void dev_uuid(int i, char out[33]) { snprintf(out, 33, "fcbe00000000000000000000%08x", (unsigned)i); }
static void dev_mac(int i, char out[18])
{
	snprintf(out, 18, "48:e1:e9:%02x:%02x:%02x", (i >> 16) & 255, (i >> 8) & 255, i & 255);
}
/* uuid -> index, -1 when not one of ours */
static int uuid_index(const char *u, size_t len)
{
	if (len < 32 || strncmp(u, "fcbe00000000000000000000", 24) != 0)
		return -1;
	char h[9];
	memcpy(h, u + 24, 8);
	h[8] = 0;
	char *end;
	unsigned long v = strtoul(h, &end, 16);
	return *end || v >= (unsigned long)B.n ? -1 : (int)v;
}

/* ---------------------------------------------------------------- I/O */

static void set_mask(struct conn *c)
{
	if (c->st == ST_DEAD)
		return;
	uint32_t m = EPOLLIN;
	if (c->st == ST_TCP || (c->st == ST_TLS && c->hs_want_write) || c->txlen)
		m |= EPOLLOUT;
	if (m == c->evmask)
		return;
	struct epoll_event ev = {.events = m, .data.ptr = c};
	epoll_ctl(B.ep, EPOLL_CTL_MOD, c->fd, &ev);
	c->evmask = m;
}

static void conn_fail(struct conn *c, const char *why)
{
	if (c->st == ST_DEAD)
		return;
	bool closing = strcmp(why, "closing") == 0;
	if (c->idx < 0) {
		if (!closing)
			fprintf(stderr, "bench: admin connection lost: %s\n", why);
	} else if (c->bound) {
		B.dropped++;
	} else {
		B.failed++;
		B.connecting--;
	}
	if (c->idx >= 0 && !closing && B.fail_prints++ < 5)
		fprintf(stderr, "bench: device %d: %s\n", c->idx, why);
	epoll_ctl(B.ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->ssl) {
		mbedtls_ssl_free(c->ssl);
		free(c->ssl);
		c->ssl = NULL;
	}
	free(c->rx);
	free(c->tx);
	c->rx = c->tx = NULL;
	c->rxlen = c->rxcap = c->txlen = c->txcap = 0;
	c->st = ST_DEAD;
}

static int bio_send(void *ctx, const unsigned char *b, size_t l)
{
	struct conn *c = ctx;
	ssize_t r = send(c->fd, b, l, MSG_NOSIGNAL);
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? MBEDTLS_ERR_SSL_WANT_WRITE
										  : MBEDTLS_ERR_NET_SEND_FAILED;
	return (int)r;
}

static int bio_recv(void *ctx, unsigned char *b, size_t l)
{
	struct conn *c = ctx;
	ssize_t r = recv(c->fd, b, l, 0);
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? MBEDTLS_ERR_SSL_WANT_READ
										  : MBEDTLS_ERR_NET_RECV_FAILED;
	return (int)r;
}

static void flush(struct conn *c)
{
	while (c->st != ST_DEAD && c->txlen) {
		ssize_t r;
		if (c->ssl) {
			size_t n = c->tls_pending ? c->tls_pending : c->txlen;
			r = mbedtls_ssl_write(c->ssl, c->tx, n);
			if (r == MBEDTLS_ERR_SSL_WANT_WRITE || r == MBEDTLS_ERR_SSL_WANT_READ) {
				c->tls_pending = n;
				break;
			}
			c->tls_pending = 0;
			if (r < 0) {
				conn_fail(c, "TLS write failed");
				return;
			}
		} else {
			r = send(c->fd, c->tx, c->txlen, MSG_NOSIGNAL);
			if (r < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
					break;
				conn_fail(c, "send failed");
				return;
			}
		}
		memmove(c->tx, c->tx + r, c->txlen - (size_t)r);
		c->txlen -= (size_t)r;
	}
	set_mask(c);
}

static uint8_t *tx_reserve(struct conn *c, size_t n)
{
	if (c->txcap - c->txlen < n) {
		size_t cap = c->txcap ? c->txcap : 512;
		while (cap - c->txlen < n)
			cap *= 2;
		uint8_t *p = realloc(c->tx, cap);
		if (!p)
			abort();
		c->tx = p;
		c->txcap = cap;
	}
	return c->tx + c->txlen;
}

static size_t put_varint(uint8_t *p, size_t v)
{
	size_t i = 0;
	do {
		uint8_t b = v % 128;
		v /= 128;
		p[i++] = b | (v ? 0x80 : 0);
	} while (v);
	return i;
}

static size_t put_str(uint8_t *p, const char *s, size_t l)
{
	p[0] = (uint8_t)(l >> 8);
	p[1] = (uint8_t)l;
	memcpy(p + 2, s, l);
	return l + 2;
}

static void mq_send(struct conn *c, uint8_t hdr, const uint8_t *body, size_t blen)
{
	if (c->st == ST_DEAD)
		return;
	uint8_t *p = tx_reserve(c, blen + 5);
	p[0] = hdr;
	size_t h = 1 + put_varint(p + 1, blen);
	memcpy(p + h, body, blen);
	c->txlen += h + blen;
	c->last_tx = now_ns();
	flush(c);
}

static void mq_publish(struct conn *c, const char *topic, const char *payload, size_t plen)
{
	if (c->st == ST_DEAD)
		return;
	size_t tl = strlen(topic), rem = 2 + tl + plen;
	uint8_t *p = tx_reserve(c, rem + 5);
	p[0] = 0x30;
	size_t h = 1 + put_varint(p + 1, rem);
	h += put_str(p + h, topic, tl);
	memcpy(p + h, payload, plen);
	c->txlen += h + plen;
	c->last_tx = now_ns();
	flush(c);
}

static void send_connect(struct conn *c)
{
	char cid[96], user[64], pass[160];
	int proto;
	if (c->idx < 0) {
		snprintf(cid, sizeof cid, "bench-admin");
		snprintf(user, sizeof user, "%s", B.admin_user);
		snprintf(pass, sizeof pass, "%s", B.admin_pass);
		proto = 4;
	} else {
		char uuid[33], mac[18], buf[128], md5[33];
		dev_uuid(c->idx, uuid);
		dev_mac(c->idx, mac);
		snprintf(cid, sizeof cid, "fmware:%s_bench%011d", uuid, c->idx);
		snprintf(user, sizeof user, "%s", mac);
		snprintf(buf, sizeof buf, "%s%s", mac, ACCOUNT_KEY);
		fc_md5_hex(buf, strlen(buf), md5);
		snprintf(pass, sizeof pass, "%s_%s", USER_ID, md5);
		proto = 3; /* real devices: MQTT 3.1 (meross.md §1) */
	}
	uint8_t b[512];
	size_t n = 0;
	if (proto == 3)
		n += put_str(b + n, "MQIsdp", 6);
	else
		n += put_str(b + n, "MQTT", 4);
	b[n++] = (uint8_t)proto;
	b[n++] = 0x80 | 0x40 | 0x02; /* username, password, clean session */
	b[n++] = KEEPALIVE >> 8;
	b[n++] = KEEPALIVE & 255;
	n += put_str(b + n, cid, strlen(cid));
	n += put_str(b + n, user, strlen(user));
	n += put_str(b + n, pass, strlen(pass));
	c->st = ST_CONNACK;
	mq_send(c, 0x10, b, n);
}

/* filter2 may be NULL */
static void send_subscribe(struct conn *c, const char *filter, const char *filter2)
{
	uint8_t b[300];
	size_t n = 0;
	b[n++] = 0;
	b[n++] = 1;
	n += put_str(b + n, filter, strlen(filter));
	b[n++] = 0;
	if (filter2) {
		n += put_str(b + n, filter2, strlen(filter2));
		b[n++] = 0;
	}
	c->st = ST_SUBACK;
	mq_send(c, 0x82, b, n);
}

/* ---------------------------------------------------------------- device behaviour */

/* Build and publish a device-signed Meross message (meross.md §2). */
static void dev_send(struct conn *c, const char *topic, const char *ns, const char *method, const char *mid,
		     const char *from, const char *payload)
{
	char id[33], sign[33], sbuf[160], uuid[33];
	if (!mid) {
		rand_hex32(id);
		mid = id;
	}
	long long ts = (long long)time(NULL);
	snprintf(sbuf, sizeof sbuf, "%s%s%lld", mid, ACCOUNT_KEY, ts);
	fc_md5_hex(sbuf, strlen(sbuf), sign);
	dev_uuid(c->idx, uuid);
	char msg[4096];
	int len = snprintf(msg, sizeof msg,
			   "{\"header\":{\"messageId\":\"%s\",\"namespace\":\"%s\",\"method\":\"%s\",\"payloadVersion\":1,"
			   "\"from\":\"%s\",\"uuid\":\"%s\",\"timestamp\":%lld,\"timestampMs\":0,\"sign\":\"%s\"},"
			   "\"payload\":%s}",
			   mid, ns, method, from, uuid, ts, sign, payload);
	if (len <= 0 || (size_t)len >= sizeof msg)
		return;
	mq_publish(c, topic, msg, (size_t)len);
}

static void dev_topics(int i, char sub[64], char pub[64])
{
	char uuid[33];
	dev_uuid(i, uuid);
	snprintf(sub, 64, "/appliance/%s/subscribe", uuid);
	snprintf(pub, 64, "/appliance/%s/publish", uuid);
}

static void dev_bind(struct conn *c)
{
	char sub[64], pub[64], uuid[33], mac[18], p[512];
	dev_topics(c->idx, sub, pub);
	dev_uuid(c->idx, uuid);
	dev_mac(c->idx, mac);
	snprintf(p, sizeof p,
		 "{\"bind\":{\"bindTime\":%lld,\"hardware\":{\"type\":\"mss110\",\"subType\":\"eu\",\"version\":\"2.0.0\","
		 "\"chipType\":\"mt7682\",\"uuid\":\"%s\",\"macAddress\":\"%s\"},\"firmware\":{\"version\":\"2.1.17\","
		 "\"userId\":%s,\"innerIp\":\"127.0.0.1\"}}}",
		 (long long)time(NULL), uuid, mac, USER_ID);
	c->t_bind_sent = now_ns();
	dev_send(c, pub, "Appliance.Control.Bind", "SET", NULL, sub, p);
}

static void dev_push_togglex(struct conn *c)
{
	char sub[64], pub[64], p[128];
	dev_topics(c->idx, sub, pub);
	snprintf(p, sizeof p, "{\"togglex\":[{\"channel\":0,\"onoff\":%d,\"lmTime\":%lld}]}", c->onoff,
		 (long long)time(NULL));
	dev_send(c, pub, "Appliance.Control.ToggleX", "PUSH", NULL, pub, p);
}

static const char *jstr(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static void dev_message(struct conn *c, const char *payload, size_t len)
{
	B.dev_rx++;
	B.last_dev_rx = now_ns();
	char sub[64], pub[64];
	dev_topics(c->idx, sub, pub);
	if (B.mode == MODE_BARE) { /* plain relay: echo to the device's publish topic */
		if (memmem(payload, len, "\"state\":\"ON\"", 12))
			c->onoff = 1;
		else if (memmem(payload, len, "\"state\":\"OFF\"", 13))
			c->onoff = 0;
		mq_publish(c, pub, payload, len);
		return;
	}
	cJSON *root = cJSON_ParseWithLength(payload, len);
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(root, "header");
	const cJSON *pl = cJSON_GetObjectItemCaseSensitive(root, "payload");
	const char *mid = jstr(h, "messageId"), *ns = jstr(h, "namespace"), *method = jstr(h, "method");
	const char *from = jstr(h, "from"), *sign = jstr(h, "sign");
	const cJSON *ts = cJSON_GetObjectItemCaseSensitive(h, "timestamp");
	if (!mid || !ns || !method || !sign || !cJSON_IsNumber(ts)) {
		B.bad_sign++;
		cJSON_Delete(root);
		return;
	}
	char sbuf[200], want[33];
	snprintf(sbuf, sizeof sbuf, "%s%s%lld", mid, ACCOUNT_KEY, (long long)ts->valuedouble);
	fc_md5_hex(sbuf, strlen(sbuf), want);
	if (strcasecmp(want, sign) != 0) {
		B.bad_sign++;
		cJSON_Delete(root);
		return;
	}
	if (!from || !*from)
		from = pub;
	char uuid[33], mac[18], p[1024];
	if (strcmp(method, "SETACK") == 0 && strcmp(ns, "Appliance.Control.Bind") == 0) {
		if (!c->bound) {
			c->bound = true;
			B.bound++;
			B.connecting--;
		}
	} else if (strcmp(method, "GET") == 0) {
		long long now = (long long)time(NULL);
		if (strcmp(ns, "Appliance.System.All") == 0) {
			dev_uuid(c->idx, uuid);
			dev_mac(c->idx, mac);
			snprintf(p, sizeof p,
				 "{\"all\":{\"system\":{\"hardware\":{\"type\":\"mss110\",\"subType\":\"eu\",\"version\":\"2.0.0\","
				 "\"chipType\":\"mt7682\",\"uuid\":\"%s\",\"macAddress\":\"%s\"},\"firmware\":{\"version\":"
				 "\"2.1.17\",\"userId\":%s,\"innerIp\":\"127.0.0.1\"},\"time\":{\"timestamp\":%lld,"
				 "\"timezone\":\"\"},\"online\":{\"status\":1}},\"digest\":{\"togglex\":[{\"channel\":0,"
				 "\"onoff\":%d,\"lmTime\":%lld}]}}}",
				 uuid, mac, USER_ID, now, c->onoff, now);
		} else if (strcmp(ns, "Appliance.System.Ability") == 0) {
			snprintf(p, sizeof p,
				 "{\"payloadVersion\":1,\"ability\":{\"Appliance.Config.Key\":{},\"Appliance.System.All\":{},"
				 "\"Appliance.System.Ability\":{},\"Appliance.System.Time\":{},"
				 "\"Appliance.Control.Bind\":{},\"Appliance.Control.ToggleX\":{}}}");
		} else if (strcmp(ns, "Appliance.Control.ToggleX") == 0) {
			snprintf(p, sizeof p, "{\"togglex\":[{\"channel\":0,\"onoff\":%d,\"lmTime\":%lld}]}", c->onoff,
				 now);
		} else {
			snprintf(p, sizeof p, "{}");
		}
		dev_send(c, from, ns, "GETACK", mid, pub, p);
	} else if (strcmp(method, "SET") == 0) {
		bool toggle = strcmp(ns, "Appliance.Control.ToggleX") == 0;
		if (toggle) {
			const cJSON *t = cJSON_GetObjectItemCaseSensitive(pl, "togglex");
			if (cJSON_IsArray(t))
				t = cJSON_GetArrayItem(t, 0);
			const cJSON *o = cJSON_GetObjectItemCaseSensitive(t, "onoff");
			if (cJSON_IsNumber(o))
				c->onoff = o->valuedouble != 0;
		}
		dev_send(c, from, ns, "SETACK", mid, pub, "{}");
		if (toggle)
			dev_push_togglex(c);
	}
	cJSON_Delete(root);
}

/* ---------------------------------------------------------------- admin side */

static void record_rtt(int64_t d)
{
	if (B.nrtt % 4096 == 0) {
		int64_t *r = realloc(B.rtt, (size_t)(B.nrtt + 4096) * sizeof *r);
		if (!r)
			abort();
		B.rtt = r;
	}
	B.rtt[B.nrtt++] = d;
}

static void admin_message(const char *topic, size_t tl, const char *payload, size_t len)
{
	static const char health[] = "fakecloud/bridge/response/health";
	if (tl == sizeof health - 1 && memcmp(topic, health, tl) == 0) {
		cJSON *j = cJSON_ParseWithLength(payload, len);
		const cJSON *mem = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "data"), "memory");
		const cJSON *heap = cJSON_GetObjectItem(mem, "plugin_heap"), *sql = cJSON_GetObjectItem(mem, "sqlite");
		B.health_heap = cJSON_IsNumber(heap) ? (long)heap->valuedouble : -1;
		B.health_sqlite = cJSON_IsNumber(sql) ? (long)sql->valuedouble : -1;
		cJSON_Delete(j);
		return;
	}
	int idx = -1;
	if (B.mode == MODE_PLUGIN) {
		if (tl == 17 + 32 && strncmp(topic, "fakecloud/meross_", 17) == 0)
			idx = uuid_index(topic + 17, 32);
	} else if (tl == 11 + 32 + 8 && strncmp(topic, "/appliance/", 11) == 0) {
		idx = uuid_index(topic + 11, 32);
	}
	if (idx < 0)
		return;
	if (B.tp_on)
		B.tp_rx++;
	struct conn *d = &B.dev[idx];
	if (!d->cmd_t)
		return;
	int val = memmem(payload, len, "\"state\":\"ON\"", 12) ? 1 : memmem(payload, len, "\"state\":\"OFF\"", 13) ? 0 : -1;
	if (val == d->cmd_want) {
		record_rtt(now_ns() - d->cmd_t);
		d->cmd_t = 0;
	}
}

/* ---------------------------------------------------------------- packets and events */

static void handle_packet(struct conn *c, uint8_t hdr, const uint8_t *b, size_t len)
{
	switch (hdr >> 4) {
	case 2: /* CONNACK */
		if (len < 2 || b[1] != 0) {
			char why[64];
			snprintf(why, sizeof why, "CONNACK refused (rc %d)", len >= 2 ? b[1] : -1);
			conn_fail(c, why);
			return;
		}
		if (c->idx < 0) {
			if (B.mode == MODE_PLUGIN)
				send_subscribe(c, "fakecloud/+", "fakecloud/bridge/response/health");
			else
				send_subscribe(c, "/appliance/+/publish", NULL);
		} else {
			char sub[64], pub[64];
			dev_topics(c->idx, sub, pub);
			send_subscribe(c, sub, NULL);
		}
		break;
	case 9: /* SUBACK */
		c->st = ST_READY;
		if (len >= 3 && b[2] == 0x80) {
			conn_fail(c, "SUBACK refused");
			return;
		}
		if (c->idx >= 0) {
			if (B.mode == MODE_PLUGIN) {
				dev_bind(c);
			} else if (!c->bound) {
				c->bound = true;
				B.bound++;
				B.connecting--;
			}
		}
		break;
	case 3: { /* PUBLISH */
		int qos = (hdr >> 1) & 3;
		if (len < 2)
			return;
		size_t tl = (size_t)b[0] << 8 | b[1], off = 2 + tl;
		if (off > len)
			return;
		if (qos) {
			if (off + 2 > len)
				return;
			uint8_t ack[2] = {b[off], b[off + 1]};
			off += 2;
			mq_send(c, qos == 1 ? 0x40 : 0x50, ack, 2);
		}
		if (c->idx < 0)
			admin_message((const char *)b + 2, tl, (const char *)b + off, len - off);
		else
			dev_message(c, (const char *)b + off, len - off);
		break;
	}
	default:
		break;
	}
}

static void parse_rx(struct conn *c)
{
	size_t pos = 0;
	while (c->st != ST_DEAD && c->rxlen - pos >= 2) {
		size_t rem = 0, mul = 1, i = 1;
		bool done = false;
		while (i < 5 && pos + i < c->rxlen) {
			uint8_t v = c->rx[pos + i++];
			rem += (v & 127) * mul;
			mul *= 128;
			if (!(v & 128)) {
				done = true;
				break;
			}
		}
		if (!done || c->rxlen - pos - i < rem)
			break;
		handle_packet(c, c->rx[pos], c->rx + pos + i, rem);
		pos += i + rem;
	}
	if (c->st != ST_DEAD && pos) {
		memmove(c->rx, c->rx + pos, c->rxlen - pos);
		c->rxlen -= pos;
	}
}

static void do_read(struct conn *c)
{
	for (;;) {
		if (c->rxcap - c->rxlen < 4096) {
			size_t cap = c->rxcap ? c->rxcap * 2 : 8192;
			uint8_t *p = realloc(c->rx, cap);
			if (!p)
				abort();
			c->rx = p;
			c->rxcap = cap;
		}
		ssize_t r;
		if (c->ssl) {
			r = mbedtls_ssl_read(c->ssl, c->rx + c->rxlen, c->rxcap - c->rxlen);
			if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
				break;
			if (r <= 0) {
				conn_fail(c, r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ? "closed by broker"
											 : "TLS read failed");
				return;
			}
		} else {
			r = recv(c->fd, c->rx + c->rxlen, c->rxcap - c->rxlen, 0);
			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
				break;
			if (r <= 0) {
				conn_fail(c, r == 0 ? "closed by broker" : "recv failed");
				return;
			}
		}
		c->rxlen += (size_t)r;
		parse_rx(c);
		if (c->st == ST_DEAD)
			return;
	}
}

static void do_handshake(struct conn *c)
{
	int r = mbedtls_ssl_handshake(c->ssl);
	if (r == 0) {
		c->hs_want_write = false;
		send_connect(c);
		return;
	}
	if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) {
		c->hs_want_write = r == MBEDTLS_ERR_SSL_WANT_WRITE;
		set_mask(c);
		return;
	}
	char e[120], why[160];
	mbedtls_strerror(r, e, sizeof e);
	snprintf(why, sizeof why, "TLS handshake: %s", e);
	conn_fail(c, why);
}

static void conn_event(struct conn *c, uint32_t ev)
{
	if (c->st == ST_TCP) {
		int err = 0;
		socklen_t l = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			conn_fail(c, strerror(err));
			return;
		}
		if (c->tls) {
			c->ssl = calloc(1, sizeof *c->ssl);
			mbedtls_ssl_init(c->ssl);
			if (mbedtls_ssl_setup(c->ssl, &B.conf) != 0) {
				conn_fail(c, "mbedtls_ssl_setup");
				return;
			}
			mbedtls_ssl_set_bio(c->ssl, c, bio_send, bio_recv, NULL);
			c->st = ST_TLS;
			do_handshake(c);
		} else {
			send_connect(c);
		}
		set_mask(c);
		return;
	}
	if (c->st == ST_TLS) {
		do_handshake(c);
		set_mask(c);
		return;
	}
	if ((ev & EPOLLOUT) && c->txlen)
		flush(c);
	if (c->st != ST_DEAD && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		do_read(c);
	if (c->st != ST_DEAD)
		set_mask(c);
}

static int conn_start(struct conn *c, int idx, int port, bool tls)
{
	memset(c, 0, sizeof *c);
	c->idx = idx;
	c->tls = tls;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		c->st = ST_DEAD;
		return -1;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->st = ST_TCP;
	c->evmask = EPOLLIN | EPOLLOUT;
	struct epoll_event ev = {.events = c->evmask, .data.ptr = c};
	epoll_ctl(B.ep, EPOLL_CTL_ADD, c->fd, &ev);
	if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
		conn_fail(c, strerror(errno));
		return -1;
	}
	return 0;
}

/* One pass of the event loop: up to timeout_ns waiting (epoll_pwait2: no rounding to whole
 * milliseconds, so commands leave on schedule), then housekeeping once a second. */
static void loop_wait_ns(int64_t timeout_ns)
{
	struct epoll_event evs[512];
	if (timeout_ns < 0)
		timeout_ns = 0;
	struct timespec ts = {.tv_sec = timeout_ns / 1000000000LL, .tv_nsec = timeout_ns % 1000000000LL};
	int n = epoll_pwait2(B.ep, evs, 512, &ts, NULL);
	for (int i = 0; i < n; i++)
		conn_event(evs[i].data.ptr, evs[i].events);
	int64_t now = now_ns();
	if (now - B.last_tick < 1000000000LL)
		return;
	B.last_tick = now;
	for (int i = 0; i < B.next_conn; i++) {
		struct conn *c = &B.dev[i];
		if (c->st == ST_READY && !c->bound && B.mode == MODE_PLUGIN && now - c->t_bind_sent > BIND_RETRY_NS)
			dev_bind(c);
		if (c->st == ST_READY && now - c->last_tx > PING_NS)
			mq_send(c, 0xC0, NULL, 0);
	}
	if (B.admin.st == ST_READY && now - B.admin.last_tx > PING_NS)
		mq_send(&B.admin, 0xC0, NULL, 0);
}

static void loop_once(int timeout_ms) { loop_wait_ns((int64_t)timeout_ms * 1000000); }

/* ---------------------------------------------------------------- phases */

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	long kb = -1;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

/* CPU time (user + system) the process has used, in microseconds. */
static double cpu_us(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* comm may contain spaces */
	unsigned long long ut = 0, st = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

static bool connect_admin(void)
{
	conn_start(&B.admin, -1, B.admin_port, false);
	int64_t end = now_ns() + 10000000000LL;
	while (B.admin.st != ST_READY && B.admin.st != ST_DEAD && now_ns() < end)
		loop_once(50);
	return B.admin.st == ST_READY;
}

/* Asks the plugin for its heap and SQLite bytes (bridge/request/health); -1 each if it does not answer. */
static void health_sample(long *heap, long *sqlite)
{
	*heap = *sqlite = -1;
	if (B.mode != MODE_PLUGIN)
		return;
	B.health_heap = -2;
	static const char topic[] = "fakecloud/bridge/request/health";
	mq_publish(&B.admin, topic, "{}", 2);
	int64_t end = now_ns() + 5000000000LL;
	while (B.health_heap == -2 && now_ns() < end)
		loop_once(20);
	if (B.health_heap != -2) {
		*heap = B.health_heap;
		*sqlite = B.health_sqlite;
	}
}

static void phase_connect(struct result *r)
{
	int64_t t0 = now_ns(), last_progress = t0;
	long last_done = 0;
	while (B.bound + B.failed < B.n) {
		while (B.connecting < B.conc && B.next_conn < B.n) {
			B.connecting++;
			conn_start(&B.dev[B.next_conn], B.next_conn, B.dev_port, B.tls);
			B.next_conn++;
		}
		loop_once(20);
		long done = B.bound + B.failed;
		if (done != last_done) {
			last_done = done;
			last_progress = now_ns();
		}
		if (now_ns() - last_progress > 30000000000LL) {
			fprintf(stderr, "bench: no connect progress for 30 s (%ld bound, %ld failed, %ld in flight)\n",
				B.bound, B.failed, B.connecting);
			break;
		}
	}
	r->connect_s = (double)(now_ns() - t0) / 1e9;
	r->bound = B.bound;
	r->failed = B.failed;
	r->bind_rate = r->bound / r->connect_s;
}

/* Wait until the devices got no message for quiet_ms (the plugin's post-bind GETs), at most max_ms. */
static void settle(int quiet_ms, int max_ms)
{
	int64_t end = now_ns() + (int64_t)max_ms * 1000000;
	B.last_dev_rx = now_ns();
	while (now_ns() < end && now_ns() - B.last_dev_rx < (int64_t)quiet_ms * 1000000)
		loop_once(20);
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void phase_commands(struct result *r)
{
	B.nrtt = 0;
	B.cmd_sched = B.cmd_skipped = 0;
	int64_t interval = 1000000000LL / B.rate, t0 = now_ns(), next = t0, end = t0 + (int64_t)B.dur * 1000000000LL;
	int rr = 0;
	char topic[128], payload[96];
	while (now_ns() < end) {
		int64_t now = now_ns();
		while (next <= now && next < end) {
			struct conn *d = NULL;
			for (int tries = 0; tries < B.n; tries++) {
				struct conn *c = &B.dev[rr];
				rr = (rr + 1) % B.n;
				if (c->st == ST_READY && c->bound && !c->cmd_t) {
					d = c;
					break;
				}
			}
			B.cmd_sched++;
			if (!d) {
				B.cmd_skipped++;
				next += interval;
				continue;
			}
			char uuid[33];
			dev_uuid(d->idx, uuid);
			d->cmd_want = !d->onoff;
			d->cmd_t = next;
			if (B.mode == MODE_PLUGIN)
				snprintf(topic, sizeof topic, "fakecloud/meross_%s/set", uuid);
			else
				snprintf(topic, sizeof topic, "/appliance/%s/subscribe", uuid);
			int pl = snprintf(payload, sizeof payload, "{\"state\":\"%s\"}", d->cmd_want ? "ON" : "OFF");
			mq_publish(&B.admin, topic, payload, (size_t)pl);
			next += interval;
		}
		loop_wait_ns(next - now_ns());
	}
	/* let the last commands complete (at most 5 s) */
	int64_t drain_end = now_ns() + 5000000000LL;
	long outstanding = 1;
	while (outstanding && now_ns() < drain_end) {
		loop_once(10);
		outstanding = 0;
		for (int i = 0; i < B.n; i++)
			outstanding += B.dev[i].cmd_t != 0;
	}
	for (int i = 0; i < B.n; i++)
		B.dev[i].cmd_t = 0;
	r->cmd_sched = B.cmd_sched;
	r->cmd_skipped = B.cmd_skipped;
	r->cmd_ok = B.nrtt;
	r->cmd_timeouts = outstanding;
	r->cmd_rate = (double)B.nrtt / B.dur;
	if (B.nrtt) {
		qsort(B.rtt, (size_t)B.nrtt, sizeof *B.rtt, cmp64);
		r->p50_us = B.rtt[B.nrtt / 2] / 1e3;
		r->p99_us = B.rtt[(long)((double)B.nrtt * 0.99) < B.nrtt ? (long)((double)B.nrtt * 0.99) : B.nrtt - 1] / 1e3;
		r->max_us = B.rtt[B.nrtt - 1] / 1e3;
	}
}

static void phase_throughput(struct result *r)
{
	B.tp_on = true;
	B.tp_sent = B.tp_rx = 0;
	long stalls = 0, last_rx = 0;
	int rr = 0;
	int64_t t0 = now_ns(), end = t0 + (int64_t)B.dur * 1000000000LL, last_progress = t0;
	while (now_ns() < end) {
		for (int k = 0; k < 64 && B.tp_sent - B.tp_rx < B.window; k++) {
			struct conn *d = NULL;
			for (int tries = 0; tries < B.n && !d; tries++) {
				struct conn *c = &B.dev[rr];
				rr = (rr + 1) % B.n;
				if (c->st == ST_READY && c->bound)
					d = c;
			}
			if (!d)
				break;
			d->onoff = !d->onoff;
			dev_push_togglex(d);
			B.tp_sent++;
		}
		loop_once(B.tp_sent - B.tp_rx < B.window ? 0 : 5);
		if (B.tp_rx != last_rx) {
			last_rx = B.tp_rx;
			last_progress = now_ns();
		} else if (now_ns() - last_progress > 2000000000LL) { /* lost messages: reopen the window */
			stalls++;
			B.tp_sent = B.tp_rx;
			last_progress = now_ns();
		}
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	r->tp_rx = B.tp_rx;
	r->tp_rate = B.tp_rx / secs;
	r->tp_stalls = stalls;
	B.tp_on = false;
	settle(1000, 10000);
}

static void close_all(void)
{
	for (int i = 0; i < B.next_conn; i++)
		if (B.dev[i].st != ST_DEAD) {
			B.dev[i].bound = false;
			B.connecting++; /* conn_fail's bookkeeping; reset below */
			conn_fail(&B.dev[i], "closing");
		}
	if (B.admin.st != ST_DEAD)
		conn_fail(&B.admin, "closing");
}

static void run_common(pid_t broker, struct result *r)
{
	B.connecting = B.bound = B.failed = B.dropped = B.bad_sign = B.dev_rx = 0;
	B.next_conn = 0;
	B.fail_prints = 0;
	memset(B.dev, 0, sizeof *B.dev * (size_t)B.n);
	memset(r, 0, sizeof *r);
	r->n = B.n;
	if (!connect_admin()) {
		fprintf(stderr, "bench: admin client could not connect\n");
		return;
	}
	usleep(500000);
	health_sample(&r->heap0, &r->sqlite0);
	r->rss0_kb = rss_kb(broker);
	fprintf(stderr, "bench: %s: connecting %d devices (%s, %d in flight)...\n",
		B.mode == MODE_PLUGIN ? "plugin" : "bare", B.n, B.tls ? "TLS" : "plain TCP", B.conc);
	phase_connect(r);
	fprintf(stderr, "bench: %ld bound, %ld failed in %.2f s; settling...\n", r->bound, r->failed, r->connect_s);
	settle(2000, 60000);
	r->rss1_kb = rss_kb(broker);
	r->per_dev_bytes = r->bound ? (double)(r->rss1_kb - r->rss0_kb) * 1024.0 / r->bound : 0;
	health_sample(&r->heap1, &r->sqlite1);
	r->heap_per_dev = r->bound && r->heap0 >= 0 && r->heap1 >= 0 ? (double)(r->heap1 - r->heap0) / r->bound : -1;
	r->sqlite_per_dev =
		r->bound && r->sqlite0 >= 0 && r->sqlite1 >= 0 ? (double)(r->sqlite1 - r->sqlite0) / r->bound : -1;
	fprintf(stderr, "bench: commands at %d/s for %d s...\n", B.rate, B.dur);
	phase_commands(r);
	fprintf(stderr, "bench: throughput (window %d) for %d s...\n", B.window, B.dur);
	double cpu0 = cpu_us(broker);
	phase_throughput(r);
	/* CPU per message hardly depends on what else runs on the machine, unlike messages/s: on a shared
	 * VM it is the steadier way to compare the two brokers. */
	r->tp_cpu_us = r->tp_rx ? (cpu_us(broker) - cpu0) / (double)r->tp_rx : 0;
	r->dropped = B.dropped;
	r->bad_sign = B.bad_sign;
	close_all();
}

/* ---------------------------------------------------------------- brokers */

static int conf_value(const char *file, const char *key, char *out, size_t cap)
{
	FILE *f = fopen(file, "r");
	char line[1024];
	size_t kl = strlen(key);
	int found = -1;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, key, kl) == 0 && line[kl] == ' ' && found < 0) {
			line[strcspn(line, "\r\n")] = 0;
			snprintf(out, cap, "%s", line + kl + 1);
			found = 0;
		}
	if (f)
		fclose(f);
	return found;
}

static pid_t start_bare(const char *dir, const char *user, const char *cert, const char *key, int plain, int tlsport)
{
	char conf[700], log[700];
	snprintf(conf, sizeof conf, "%s/mosquitto.conf", dir);
	snprintf(log, sizeof log, "%s/broker.log", dir);
	FILE *f = fopen(conf, "w");
	if (!f)
		return -1;
	fprintf(f,
		"# bare Mosquitto baseline for bench_meross (no plugin)\n"
		"per_listener_settings false\nallow_anonymous true\npersistence false\nuser %s\n"
		"log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
		"%s"
		"listener %d 127.0.0.1\nlistener %d 127.0.0.1\ncertfile %s\nkeyfile %s\n",
		user, B.nodelay ? "set_tcp_nodelay true\n" : "", plain, tlsport, cert, key);
	fclose(f);
	char *argv[] = {"/usr/sbin/mosquitto", "-c", conf, NULL};
	pid_t pid = fc_spawn_logged(argv, log, false);
	for (int i = 0; i < 300 && !fc_port_open(plain); i++)
		usleep(20000);
	return pid;
}

/* ---------------------------------------------------------------- output */

static void print_result(const char *name, const struct result *r)
{
	printf("RESULT %s devices=%ld bound=%ld failed=%ld dropped=%ld bad_sign=%ld connect_s=%.2f bind_rate=%.0f "
	       "rss0_kb=%ld rss1_kb=%ld per_device_bytes=%.0f cmd_scheduled=%ld cmd_ok=%ld cmd_timeouts=%ld "
	       "cmd_skipped=%ld cmd_rate=%.0f p50_us=%.0f p99_us=%.0f max_us=%.0f tp_msgs=%ld tp_rate=%.0f "
	       "tp_stalls=%ld tp_cpu_us_per_msg=%.2f plugin_heap0=%ld plugin_heap1=%ld heap_per_device_bytes=%.0f "
	       "sqlite0=%ld sqlite1=%ld\n",
	       name, r->n, r->bound, r->failed, r->dropped, r->bad_sign, r->connect_s, r->bind_rate, r->rss0_kb,
	       r->rss1_kb, r->per_dev_bytes, r->cmd_sched, r->cmd_ok, r->cmd_timeouts, r->cmd_skipped, r->cmd_rate,
	       r->p50_us, r->p99_us, r->max_us, r->tp_rx, r->tp_rate, r->tp_stalls, r->tp_cpu_us, r->heap0, r->heap1,
	       r->heap_per_dev, r->sqlite0, r->sqlite1);
}

static void print_table(const struct result *p, const struct result *b, bool have_p, bool have_b)
{
	printf("\n%-34s %14s %14s %10s\n", "figure", "plugin", "bare", "ratio");
#define ROW(label, field, fmt)                                                                               \
	do {                                                                                                   \
		char x[32] = "-", y[32] = "-", z[32] = "-";                                                     \
		if (have_p)                                                                                    \
			snprintf(x, sizeof x, fmt, (double)p->field);                                          \
		if (have_b)                                                                                    \
			snprintf(y, sizeof y, fmt, (double)b->field);                                          \
		if (have_p && have_b && b->field != 0)                                                         \
			snprintf(z, sizeof z, "%.2f", (double)p->field / (double)b->field);                    \
		printf("%-34s %14s %14s %10s\n", label, x, y, z);                                              \
	} while (0)
	ROW("devices bound", bound, "%.0f");
	ROW("connect failures", failed, "%.0f");
	ROW("connect+bind time (s)", connect_s, "%.2f");
	ROW("connect+bind rate (devices/s)", bind_rate, "%.0f");
	ROW("broker RSS idle (KiB)", rss0_kb, "%.0f");
	ROW("broker RSS with devices (KiB)", rss1_kb, "%.0f");
	ROW("broker memory per device (B)", per_dev_bytes, "%.0f");
	if (have_p && p->heap_per_dev >= 0) {
		printf("%-34s %14.0f %14s %10s\n", "  of it plugin heap per device (B)", p->heap_per_dev, "-", "");
		printf("%-34s %14.0f %14s %10s\n", "  of it SQLite per device (B)", p->sqlite_per_dev, "-", "");
	}
	ROW("commands completed", cmd_ok, "%.0f");
	ROW("command timeouts", cmd_timeouts, "%.0f");
	ROW("command rate achieved (/s)", cmd_rate, "%.0f");
	ROW("command RTT p50 (us)", p50_us, "%.0f");
	ROW("command RTT p99 (us)", p99_us, "%.0f");
	ROW("command RTT max (us)", max_us, "%.0f");
	ROW("messages/s through the broker", tp_rate, "%.0f");
	ROW("broker CPU per message (us)", tp_cpu_us, "%.2f");
#undef ROW
	if (have_p && have_b) {
		printf("\nbroker memory over bare per device: %.0f B (the plugin's heap and SQLite above, the rest Mosquitto's "
		       "storage of the messages the plugin publishes retained, see BENCHMARKS.md)\n",
		       p->per_dev_bytes - b->per_dev_bytes);
		if (p->tp_cpu_us > 0)
			printf("broker CPU per message, bare / plugin: %.2f (the message-rate ratio a CPU-bound broker "
			       "would reach; steadier than messages/s on a shared machine)\n",
			       b->tp_cpu_us / p->tp_cpu_us);
		/* The plugin's memory is its own heap plus SQLite's; the rest of the broker's growth over bare
		 * Mosquitto is Mosquitto's own storage of what the plugin publishes retained (see BENCHMARKS.md). */
		double own = p->heap_per_dev >= 0 ? p->heap_per_dev + (p->sqlite_per_dev > 0 ? p->sqlite_per_dev : 0) : -1;
		printf("targets: bound %ld/%ld %s; command p99 %.2f ms at %.0f/s %s; message rate ratio %.2f %s; "
		       "plugin memory/device %.0f B %s (broker total over bare: %.0f B)\n",
		       p->bound, p->n, p->bound == p->n ? "MET" : "NOT MET", p->p99_us / 1e3, p->cmd_rate,
		       p->p99_us <= 5000 ? "MET (<= 5 ms)" : "NOT MET (> 5 ms)", b->tp_rate ? p->tp_rate / b->tp_rate : 0,
		       b->tp_rate && p->tp_rate / b->tp_rate >= 0.5 ? "MET (>= 0.5)" : "NOT MET (< 0.5)", own,
		       own < 0 ? "UNKNOWN" : own <= 2048 ? "MET (<= 2 KiB)" : "NOT MET (> 2 KiB)",
		       p->per_dev_bytes - b->per_dev_bytes);
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_meross [-n DEVICES] [-c IN_FLIGHT] [-r CMDS_PER_S] [-d SECONDS] [-w WINDOW]\n"
		"                    [--only plugin|bare] [--plain] [--nodelay]\n"
		"  -n  simulated devices (default 1000)        -c  concurrent handshakes (default 100)\n"
		"  -r  command rate per second (default 1000)  -d  seconds per measured phase (default 10)\n"
		"  -w  throughput window: messages in flight (default 500)\n"
		"  --plain  devices use plain TCP instead of TLS (both brokers)\n"
		"  --nodelay  set_tcp_nodelay true in both brokers' mosquitto.conf (default: as generated)\n"
		"Environment: FC_BIN_DIR (fakecloud, fakecloud.so), FC_KEEP=1 keeps the broker directories.\n");
}

int main(int argc, char **argv)
{
	B.n = 1000;
	B.conc = 100;
	B.rate = 1000;
	B.dur = 10;
	B.window = 500;
	B.tls = true;
	bool do_p = true, do_b = true;
	static const struct option lo[] = {{"only", required_argument, NULL, 'o'},
					   {"plain", no_argument, NULL, 'P'},
					   {"nodelay", no_argument, NULL, 'N'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	int ch;
	while ((ch = getopt_long(argc, argv, "n:c:r:d:w:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'n': B.n = atoi(optarg); break;
		case 'c': B.conc = atoi(optarg); break;
		case 'r': B.rate = atoi(optarg); break;
		case 'd': B.dur = atoi(optarg); break;
		case 'w': B.window = atoi(optarg); break;
		case 'P': B.tls = false; break;
		case 'N': B.nodelay = true; break;
		case 'o':
			do_p = strcmp(optarg, "plugin") == 0;
			do_b = strcmp(optarg, "bare") == 0;
			break;
		default: usage(); return 2;
		}
	}
	if (B.n < 1 || B.n > 1000000 || B.conc < 1 || B.rate < 1 || B.dur < 1 || B.window < 1) {
		usage();
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	B.rng = (uint64_t)now_ns() | 1;

	/* File descriptors: one per device here, and one per device in the broker, which inherits this
	 * limit (mosquitto has no max_connections set: -1, unlimited). */
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rlim_t need = (rlim_t)B.n + 256;
	if (rl.rlim_max < need) {
		struct rlimit want = {need, need};
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	printf("INFO nofile=%llu devices=%d tls=%d in_flight=%d rate=%d duration_s=%d window=%d\n",
	       (unsigned long long)rl.rlim_cur, B.n, B.tls, B.conc, B.rate, B.dur, B.window);
	fflush(stdout);
	if (rl.rlim_cur < need)
		fprintf(stderr, "bench: warning: RLIMIT_NOFILE %llu < %llu needed for %d devices\n",
			(unsigned long long)rl.rlim_cur, (unsigned long long)need, B.n);

	mbedtls_ssl_config_init(&B.conf);
	mbedtls_entropy_init(&B.entropy);
	mbedtls_ctr_drbg_init(&B.drbg);
	if (mbedtls_ctr_drbg_seed(&B.drbg, mbedtls_entropy_func, &B.entropy, (const unsigned char *)"bench", 5) ||
	    mbedtls_ssl_config_defaults(&B.conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
					MBEDTLS_SSL_PRESET_DEFAULT)) {
		fprintf(stderr, "bench: mbedtls setup failed\n");
		return 1;
	}
	mbedtls_ssl_conf_authmode(&B.conf, MBEDTLS_SSL_VERIFY_NONE); /* devices do not check (meross.md §1) */
	mbedtls_ssl_conf_rng(&B.conf, mbedtls_ctr_drbg_random, &B.drbg);
	mbedtls_ssl_conf_session_tickets(&B.conf, MBEDTLS_SSL_SESSION_TICKETS_DISABLED);

	B.ep = epoll_create1(EPOLL_CLOEXEC);
	B.dev = calloc((size_t)B.n, sizeof *B.dev);
	if (B.ep < 0 || !B.dev)
		return 1;

	struct fc_env e;
	/* One admin connection sends every command (up to -r per second): the per-connection budget
	 * (core.command_rate, 50/s by default) would drop most of them, so it is off here. */
	const char *sets[] = {"core.log_level=info", "core.command_rate=0", NULL};
	if (fc_env_init(&e, "bench", sets) != 0)
		return 1;
	e.no_recorder = true; /* no extra '#' subscriber: the bare run has none */
	char out[4096];
	if (fc_env_cli(&e, out, sizeof out, "device add meross-account --user-id %s --key %s", USER_ID, ACCOUNT_KEY) !=
	    0) {
		fprintf(stderr, "bench: account creation failed: %s\n", out);
		fc_env_cleanup(&e);
		return 1;
	}
	char cert[512] = "", key[512] = "", user[64] = "root";
	conf_value(e.mosq_conf, "user", user, sizeof user); /* same user as fakecloud's broker (reads the key) */
	conf_value(e.mosq_conf, "certfile", cert, sizeof cert);
	conf_value(e.mosq_conf, "keyfile", key, sizeof key);

	if (B.nodelay) { /* both brokers: no Nagle on the broker's sockets */
		FILE *mf = fopen(e.mosq_conf, "a");
		if (mf) {
			fputs("\n# bench_meross --nodelay\nset_tcp_nodelay true\n", mf);
			fclose(mf);
		}
	}
	struct result rp, rb;
	memset(&rp, 0, sizeof rp);
	memset(&rb, 0, sizeof rb);
	if (do_p) {
		if (fc_env_start_broker(&e) != 0) {
			fprintf(stderr, "bench: broker did not start (log: %s)\n", e.broker_log);
			fc_env_cleanup(&e);
			return 1;
		}
		B.mode = MODE_PLUGIN;
		B.dev_port = B.tls ? e.tls_port : e.mqtt_port;
		B.admin_port = e.mqtt_port;
		snprintf(B.admin_user, sizeof B.admin_user, "%s", e.admin_user);
		snprintf(B.admin_pass, sizeof B.admin_pass, "%s", e.admin_pass);
		run_common(e.broker_pid, &rp);
		print_result("plugin", &rp);
		fflush(stdout);
		fc_env_stop_broker(&e);
	}
	if (do_b) {
		char dir[600];
		snprintf(dir, sizeof dir, "%s/bare", e.dir);
		mkdir(dir, 0755);
		int plain = fc_free_port(), tlsport = fc_free_port();
		pid_t pid = start_bare(dir, user, cert, key, plain, tlsport);
		if (pid <= 0 || !fc_port_open(plain)) {
			fprintf(stderr, "bench: bare mosquitto did not start (log: %s/broker.log)\n", dir);
		} else {
			B.mode = MODE_BARE;
			B.dev_port = B.tls ? tlsport : plain;
			B.admin_port = plain;
			snprintf(B.admin_user, sizeof B.admin_user, "bench");
			snprintf(B.admin_pass, sizeof B.admin_pass, "bench");
			run_common(pid, &rb);
			print_result("bare", &rb);
		}
		if (pid > 0) {
			kill(pid, SIGTERM);
			waitpid(pid, NULL, 0);
		}
	}
	print_table(&rp, &rb, do_p, do_b);
	fc_env_cleanup(&e);
	return 0;
}
