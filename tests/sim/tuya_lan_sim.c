/* Tuya device, LAN side, for provisioning tests: see tuya_lan_sim.h. Frames, CRC and AES are done here
 * from ../shared/protocols/tuya.md §4.2 and §5 with core/crypto.h only (not with vendors/tuya/lan.c). */
#include "sim/tuya_lan_sim.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/crypto.h"

#define MAX_CLIENTS 4
#define FRAME_MAX 4096
#define AP_JSON_MAX 0xE8
#define CMD_HEART_BEAT 0x09u
#define CMD_WIFI_INFO 0x0fu

struct client {
	int fd;
	size_t have;
	uint8_t buf[2 * FRAME_MAX];
};

struct tuya_lan_sim {
	struct tuya_lan_sim_opts o;
	int udp, lst, wake[2];
	int udp_port, tcp_port;
	struct client cl[MAX_CLIENTS];
	pthread_t thread;
	pthread_mutex_t mu;
	struct tuya_lan_sim_received r; /* under mu */
};

void tuya_lan_sim_opts_init(struct tuya_lan_sim_opts *o)
{
	memset(o, 0, sizeof *o);
	snprintf(o->local_key, sizeof o->local_key, "%s", "0123456789abcdef");
}

/* ---- helpers ---- */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Returns 0 so that handlers can `return violation(...)`. */
static int violation(struct tuya_lan_sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int violation(struct tuya_lan_sim *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&s->mu);
	s->r.violations++;
	vsnprintf(s->r.last_violation, sizeof s->r.last_violation, fmt, ap);
	pthread_mutex_unlock(&s->mu);
	va_end(ap);
	if (getenv("FC_VERBOSE"))
		fprintf(stderr, "tuya_lan_sim: violation: %s\n", s->r.last_violation);
	return 0;
}

static void count(struct tuya_lan_sim *s, long *field)
{
	pthread_mutex_lock(&s->mu);
	(*field)++;
	pthread_mutex_unlock(&s->mu);
}

/* One JSON object, nothing but whitespace after it. NULL otherwise. */
static cJSON *parse_object(const char *text, size_t len)
{
	const char *end = NULL;
	cJSON *r = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!r)
		return NULL;
	bool ok = cJSON_IsObject(r) && end && end >= text && end <= text + len;
	for (const char *p = end; ok && p < text + len; p++)
		ok = *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n';
	if (!ok) {
		cJSON_Delete(r);
		return NULL;
	}
	return r;
}

/* The object has only string members named in `allowed` (NULL-terminated). */
static bool only_strings(const cJSON *o, const char *const *allowed, char *why, size_t whylen)
{
	const cJSON *m;
	cJSON_ArrayForEach(m, o)
	{
		bool known = false;
		for (size_t i = 0; allowed[i]; i++)
			known = known || (m->string && !strcmp(m->string, allowed[i]));
		if (!known) {
			snprintf(why, whylen, "unexpected member \"%s\"", m->string ? m->string : "?");
			return false;
		}
		if (!cJSON_IsString(m)) {
			snprintf(why, whylen, "member \"%s\" is not a string", m->string);
			return false;
		}
	}
	return true;
}

static const char *str_member(const cJSON *o, const char *name)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));
}

/* ---- UDP: AP config datagrams (§4.2) ---- */

static int on_datagram(struct tuya_lan_sim *s, const uint8_t *p, size_t n)
{
	count(s, &s->r.datagrams);
	if (n < 24)
		return violation(s, "AP datagram of %zu bytes: truncated", n);
	if (n > 16 + AP_JSON_MAX + 8)
		return violation(s, "AP datagram of %zu bytes: JSON over 0xE8 bytes", n);
	if (be32(p) != 0x000055AA)
		return violation(s, "AP datagram prefix %08x", be32(p));
	if (be32(p + 4) != 0)
		return violation(s, "AP datagram frame_num %u, expected 0", be32(p + 4));
	if (be32(p + 8) != 1)
		return violation(s, "AP datagram frame_type %u, expected 1", be32(p + 8));
	if (be32(p + 12) != n - 16)
		return violation(s, "AP datagram len %u, expected JSON + 8 = %zu", be32(p + 12), n - 16);
	if (fc_crc32(p, n - 8) != be32(p + n - 8))
		return violation(s, "AP datagram crc32 mismatch");
	if (be32(p + n - 4) != 0x0000AA55)
		return violation(s, "AP datagram suffix %08x", be32(p + n - 4));
	const char *text = (const char *)p + 16;
	size_t tl = n - 24;
	if (memchr(text, '\0', tl))
		return violation(s, "NUL byte in the AP config JSON");
	cJSON *o = parse_object(text, tl);
	if (!o)
		return violation(s, "AP config is not one JSON object");
	static const char *const allowed[] = {"ssid", "token", "passwd", NULL};
	char why[200];
	const char *ssid = str_member(o, "ssid"), *token = str_member(o, "token"), *pw = str_member(o, "passwd");
	if (!only_strings(o, allowed, why, sizeof why))
		violation(s, "AP config: %s", why);
	else if (!ssid || !ssid[0] || strlen(ssid) > 32)
		violation(s, "AP config: ssid missing or not 1-32 bytes");
	else if (!token || strlen(token) > 64)
		violation(s, "AP config: token missing or over 64 bytes");
	else if (pw && (!pw[0] || strlen(pw) > 64))
		violation(s, "AP config: passwd present but empty or over 64 bytes");
	else {
		pthread_mutex_lock(&s->mu);
		s->r.ap_configs++;
		snprintf(s->r.ap_json, sizeof s->r.ap_json, "%.*s", (int)tl, text);
		snprintf(s->r.ap_ssid, sizeof s->r.ap_ssid, "%s", ssid);
		snprintf(s->r.ap_token, sizeof s->r.ap_token, "%s", token);
		snprintf(s->r.ap_passwd, sizeof s->r.ap_passwd, "%s", pw ? pw : "");
		s->r.ap_has_passwd = pw != NULL;
		pthread_mutex_unlock(&s->mu);
	}
	cJSON_Delete(o);
	return 0;
}

/* ---- TCP: LAN protocol 3.3 (§5) ---- */

static int close_client(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->have = 0;
	return 0;
}

/* Device frame: seq cmd retcode [3.3 header + AES(json)]. */
static int answer(struct tuya_lan_sim *s, struct client *c, uint32_t seq, uint32_t cmd, uint32_t retcode,
		   const char *json)
{
	uint8_t f[1024];
	size_t n = 16;
	put32(f, 0x000055AA);
	put32(f + 4, seq);
	put32(f + 8, cmd);
	put32(f + n, retcode);
	n += 4;
	if (json && json[0]) {
		memset(f + n, 0, 15);
		memcpy(f + n, "3.3", 3);
		n += 15;
		size_t cl = 0;
		if (fc_aes_ecb_encrypt((const uint8_t *)s->o.local_key, 16, FC_PAD_PKCS7, (const uint8_t *)json, strlen(json),
				       f + n, sizeof f - n - 8, &cl) != 0)
			return violation(s, "simulator: cannot encrypt its answer");
		n += cl;
	}
	put32(f + 12, (uint32_t)(n - 16 + 8));
	put32(f + n, fc_crc32(f, n));
	put32(f + n + 4, 0x0000AA55);
	n += 8;
	size_t off = 0;
	while (off < n) {
		ssize_t w = send(c->fd, f + off, n - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return 0;
		off += (size_t)w;
	}
	count(s, &s->r.answers);
	return 0;
}

static int on_wifi_info(struct tuya_lan_sim *s, struct client *c, uint32_t seq, const uint8_t *body, size_t blen)
{
	static const uint8_t hdr[15] = {'3', '.', '3'};
	if (blen < 15 + 16 || (blen - 15) % 16 != 0)
		return violation(s, "WIFI_INFO payload of %zu bytes is not the 3.3 header + whole AES blocks", blen);
	if (memcmp(body, hdr, 15) != 0)
		return violation(s, "WIFI_INFO without the clear header \"3.3\" + 12 zero bytes");
	size_t cn = blen - 15, pn = 0;
	uint8_t *plain = malloc(cn + 1);
	if (!plain)
		return 0;
	int rc = fc_aes_ecb_decrypt((const uint8_t *)s->o.local_key, 16, FC_PAD_PKCS7, body + 15, cn, plain, cn, &pn);
	size_t i = 0;
	while (rc == 0 && i < pn && (plain[i] == ' ' || plain[i] == '\n' || plain[i] == '\r' || plain[i] == '\t'))
		i++;
	if (rc != 0 || i == pn || plain[i] != '{') { /* another key: a device drops it */
		fc_wipe(plain, cn + 1);
		free(plain);
		count(s, &s->r.undecryptable);
		return 0;
	}
	cJSON *o = memchr(plain, '\0', pn) ? NULL : parse_object((const char *)plain, pn);
	fc_wipe(plain, cn + 1);
	free(plain);
	static const char *const allowed[] = {"ssid", "passwd", NULL};
	char why[200] = "not one JSON object";
	const char *ssid = str_member(o, "ssid"), *pw = str_member(o, "passwd");
	bool ok = o && only_strings(o, allowed, why, sizeof why);
	if (ok && (!ssid || !ssid[0] || strlen(ssid) > 32)) {
		ok = false;
		snprintf(why, sizeof why, "ssid missing or not 1-32 bytes");
	}
	if (ok && pw && (!pw[0] || strlen(pw) > 64)) {
		ok = false;
		snprintf(why, sizeof why, "passwd present but empty or over 64 bytes");
	}
	if (!ok) {
		cJSON_Delete(o);
		violation(s, "WIFI_INFO: %s", why);
		if (!s->o.silent)
			answer(s, c, seq, CMD_WIFI_INFO, 1, NULL);
		return 0;
	}
	pthread_mutex_lock(&s->mu);
	s->r.wifi_infos++;
	snprintf(s->r.wifi_ssid, sizeof s->r.wifi_ssid, "%s", ssid);
	snprintf(s->r.wifi_passwd, sizeof s->r.wifi_passwd, "%s", pw ? pw : "");
	s->r.wifi_has_passwd = pw != NULL;
	pthread_mutex_unlock(&s->mu);
	cJSON_Delete(o);
	if (!s->o.silent)
		answer(s, c, seq, CMD_WIFI_INFO, s->o.wifi_retcode, s->o.wifi_reply_json);
	if (s->o.close_after_wifi)
		close_client(c);
	return 0;
}

static int on_frame(struct tuya_lan_sim *s, struct client *c, const uint8_t *p, size_t n)
{
	pthread_mutex_lock(&s->mu);
	s->r.frames++;
	s->r.last_seq = be32(p + 4);
	pthread_mutex_unlock(&s->mu);
	if (be32(p + n - 4) != 0x0000AA55)
		return violation(s, "frame suffix %08x", be32(p + n - 4));
	if (fc_crc32(p, n - 8) != be32(p + n - 8))
		return violation(s, "frame crc32 mismatch");
	uint32_t seq = be32(p + 4), cmd = be32(p + 8);
	if (cmd == CMD_WIFI_INFO)
		return on_wifi_info(s, c, seq, p + 16, n - 24);
	if (cmd == CMD_HEART_BEAT) {
		if (!s->o.silent)
			answer(s, c, seq, CMD_HEART_BEAT, 0, NULL);
		return 0;
	}
	violation(s, "unexpected command 0x%02x", cmd);
	return 0;
}

static int on_readable(struct tuya_lan_sim *s, struct client *c)
{
	ssize_t r = recv(c->fd, c->buf + c->have, sizeof c->buf - c->have, 0);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (r <= 0)
		return close_client(c);
	c->have += (size_t)r;
	while (c->fd >= 0 && c->have >= 16) {
		if (be32(c->buf) != 0x000055AA) {
			violation(s, "not a 55AA frame (prefix %08x): connection closed", be32(c->buf));
			return close_client(c);
		}
		uint32_t len = be32(c->buf + 12);
		if (len < 8 || len > FRAME_MAX - 16) {
			violation(s, "frame length field %u out of range: connection closed", len);
			return close_client(c);
		}
		size_t n = 16 + (size_t)len;
		if (c->have < n)
			return 0;
		uint8_t frame[FRAME_MAX];
		memcpy(frame, c->buf, n);
		memmove(c->buf, c->buf + n, c->have - n);
		c->have -= n;
		on_frame(s, c, frame, n);
	}
	return 0;
}

static void *run(void *arg)
{
	struct tuya_lan_sim *s = arg;
	for (;;) {
		struct pollfd pfd[3 + MAX_CLIENTS];
		struct client *who[3 + MAX_CLIENTS];
		nfds_t k = 0;
		pfd[k++] = (struct pollfd){.fd = s->wake[0], .events = POLLIN};
		pfd[k++] = (struct pollfd){.fd = s->udp, .events = POLLIN};
		pfd[k++] = (struct pollfd){.fd = s->lst, .events = POLLIN};
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (s->cl[i].fd >= 0) {
				who[k] = &s->cl[i];
				pfd[k++] = (struct pollfd){.fd = s->cl[i].fd, .events = POLLIN};
			}
		int rc = poll(pfd, k, -1);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0 || (pfd[0].revents & POLLIN))
			break;
		if (pfd[1].revents & POLLIN) {
			uint8_t dg[2048];
			ssize_t n = recv(s->udp, dg, sizeof dg, MSG_TRUNC);
			if (n > (ssize_t)sizeof dg)
				violation(s, "AP datagram of %zd bytes", n);
			else if (n >= 0)
				on_datagram(s, dg, (size_t)n);
			fc_wipe(dg, sizeof dg);
		}
		if (pfd[2].revents & POLLIN) {
			int fd = accept4(s->lst, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0) {
				count(s, &s->r.connections);
				int slot = -1;
				for (int i = 0; i < MAX_CLIENTS && slot < 0; i++)
					if (s->cl[i].fd < 0)
						slot = i;
				if (slot < 0) {
					close(fd); /* devices take few connections */
				} else {
					s->cl[slot].fd = fd;
					s->cl[slot].have = 0;
				}
			}
		}
		for (nfds_t i = 3; i < k; i++)
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				on_readable(s, who[i]);
	}
	return NULL;
}

/* ---- lifecycle ---- */

static int bind_local(int type, int port, int *bound)
{
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t al = sizeof a;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || (type == SOCK_STREAM && listen(fd, 8) != 0) ||
	    getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
		close(fd);
		return -1;
	}
	*bound = ntohs(a.sin_port);
	return fd;
}

struct tuya_lan_sim *tuya_lan_sim_start(const struct tuya_lan_sim_opts *o)
{
	if (!o || strlen(o->local_key) != 16 || o->wifi_retcode > 255) {
		fprintf(stderr, "tuya_lan_sim: local_key must have 16 characters, wifi_retcode be < 256\n");
		return NULL;
	}
	struct tuya_lan_sim *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->o = *o;
	s->udp = s->lst = s->wake[0] = s->wake[1] = -1;
	for (int i = 0; i < MAX_CLIENTS; i++)
		s->cl[i].fd = -1;
	pthread_mutex_init(&s->mu, NULL);
	s->udp = bind_local(SOCK_DGRAM, o->udp_port, &s->udp_port);
	s->lst = bind_local(SOCK_STREAM, o->tcp_port, &s->tcp_port);
	if (s->udp < 0 || s->lst < 0 || pipe2(s->wake, O_CLOEXEC) != 0 ||
	    pthread_create(&s->thread, NULL, run, s) != 0) {
		fprintf(stderr, "tuya_lan_sim: cannot start: %s\n", strerror(errno));
		if (s->udp >= 0)
			close(s->udp);
		if (s->lst >= 0)
			close(s->lst);
		if (s->wake[0] >= 0) {
			close(s->wake[0]);
			close(s->wake[1]);
		}
		pthread_mutex_destroy(&s->mu);
		free(s);
		return NULL;
	}
	return s;
}

int tuya_lan_sim_udp_port(struct tuya_lan_sim *s) { return s ? s->udp_port : -1; }
int tuya_lan_sim_tcp_port(struct tuya_lan_sim *s) { return s ? s->tcp_port : -1; }

void tuya_lan_sim_stop(struct tuya_lan_sim *s)
{
	if (!s)
		return;
	char b = 1;
	while (write(s->wake[1], &b, 1) < 0 && errno == EINTR)
		;
	pthread_join(s->thread, NULL);
	for (int i = 0; i < MAX_CLIENTS; i++)
		close_client(&s->cl[i]);
	close(s->udp);
	close(s->lst);
	close(s->wake[0]);
	close(s->wake[1]);
	pthread_mutex_destroy(&s->mu);
	fc_wipe(&s->r, sizeof s->r);
	free(s);
}

void tuya_lan_sim_received(struct tuya_lan_sim *s, struct tuya_lan_sim_received *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->r;
	pthread_mutex_unlock(&s->mu);
}

static bool wait_for(struct tuya_lan_sim *s, const long *field, long n, int timeout_ms)
{
	int64_t end = mono_ms() + timeout_ms;
	for (;;) {
		pthread_mutex_lock(&s->mu);
		long v = *field;
		pthread_mutex_unlock(&s->mu);
		if (v >= n)
			return true;
		if (mono_ms() >= end)
			return false;
		struct timespec ts = {0, 10 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

bool tuya_lan_sim_wait_datagrams(struct tuya_lan_sim *s, long n, int timeout_ms)
{
	return wait_for(s, &s->r.datagrams, n, timeout_ms);
}

bool tuya_lan_sim_wait_frames(struct tuya_lan_sim *s, long n, int timeout_ms)
{
	return wait_for(s, &s->r.frames, n, timeout_ms);
}
