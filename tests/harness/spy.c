/* The harness's own '#' subscriber: records every message the admin user (who may read every topic but
 * `$`-topics and what the plugin keeps to itself) sees while a test's broker runs, so that fc_env_cleanup
 * can scan the topics and payloads for stored secrets. Attached when the broker starts, detached after it
 * stopped. Each distinct (topic, payload) is kept once (a broker restart replays every retained message
 * to the new subscription); bounded (SPY_MAX_BYTES): what does not fit is counted, and the scan says so. */
#include "harness/spy.h"

#include <fcntl.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SPY_MAX_BYTES ((size_t)64 << 20)

struct fc_spy {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct mosquitto *m; /* NULL while detached */
	int connack;         /* -2 waiting, -1 network failure, else CONNACK rc */
	bool connected;
	int suback_mid, suback_qos;
	/* records: u32 topic length, u32 payload length, topic, payload */
	uint8_t *rec;
	size_t len, cap;
	size_t n_msgs, n_dropped;
	/* 64-bit hashes of the kept messages (open addressing, 0 = empty) */
	uint64_t *seen;
	size_t seen_mask, n_seen;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void) { mosquitto_lib_init(); }

static void deadline(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

struct fc_spy *fc_spy_new(void)
{
	struct fc_spy *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	return s;
}

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
	(void)m;
	struct fc_spy *s = ud;
	pthread_mutex_lock(&s->mu);
	s->connack = rc;
	s->connected = rc == 0;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc)
{
	(void)m;
	(void)rc;
	struct fc_spy *s = ud;
	pthread_mutex_lock(&s->mu);
	if (s->connack == -2)
		s->connack = -1;
	s->connected = false;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
	(void)m;
	struct fc_spy *s = ud;
	pthread_mutex_lock(&s->mu);
	s->suback_mid = mid;
	s->suback_qos = n > 0 ? granted[0] : -1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

/* true when the hash was already there (the message is a repeat); else remembers it. */
static bool seen_before(struct fc_spy *s, uint64_t h)
{
	h |= 1; /* 0 marks an empty slot */
	if ((s->n_seen + 1) * 2 > s->seen_mask + 1 || !s->seen) {
		size_t slots = s->seen ? (s->seen_mask + 1) * 2 : 4096;
		uint64_t *n = calloc(slots, sizeof *n);
		if (!n)
			return false;
		for (size_t i = 0; s->seen && i <= s->seen_mask; i++) {
			if (!s->seen[i])
				continue;
			size_t j = (size_t)s->seen[i] & (slots - 1);
			while (n[j])
				j = (j + 1) & (slots - 1);
			n[j] = s->seen[i];
		}
		free(s->seen);
		s->seen = n;
		s->seen_mask = slots - 1;
	}
	size_t j = (size_t)h & s->seen_mask;
	for (; s->seen[j]; j = (j + 1) & s->seen_mask)
		if (s->seen[j] == h)
			return true;
	s->seen[j] = h;
	s->n_seen++;
	return false;
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
	(void)m;
	struct fc_spy *s = ud;
	size_t tl = msg->topic ? strlen(msg->topic) : 0, pl = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
	size_t need = 8 + tl + pl;
	uint64_t h = fnv(14695981039346656037ULL, msg->topic ? msg->topic : "", tl + 1); /* with the NUL */
	h = fnv(h, msg->payload, pl);
	pthread_mutex_lock(&s->mu);
	s->n_msgs++;
	if (seen_before(s, h)) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	if (s->len + need > SPY_MAX_BYTES || tl > UINT32_MAX || pl > UINT32_MAX) {
		s->n_dropped++;
		pthread_mutex_unlock(&s->mu);
		return;
	}
	if (s->len + need > s->cap) {
		size_t cap = s->cap ? s->cap : 65536;
		while (cap < s->len + need)
			cap *= 2;
		uint8_t *n = realloc(s->rec, cap);
		if (!n) {
			s->n_dropped++;
			pthread_mutex_unlock(&s->mu);
			return;
		}
		s->rec = n;
		s->cap = cap;
	}
	uint32_t l32[2] = {(uint32_t)tl, (uint32_t)pl};
	memcpy(s->rec + s->len, l32, 8);
	if (tl)
		memcpy(s->rec + s->len + 8, msg->topic, tl);
	if (pl)
		memcpy(s->rec + s->len + 8 + tl, msg->payload, pl);
	s->len += need;
	pthread_mutex_unlock(&s->mu);
}

static void drop_client(struct fc_spy *s)
{
	struct mosquitto *m = s->m;
	if (!m)
		return;
	mosquitto_disconnect(m);
	mosquitto_loop_stop(m, true);
	mosquitto_destroy(m);
	pthread_mutex_lock(&s->mu);
	s->m = NULL;
	s->connected = false;
	pthread_mutex_unlock(&s->mu);
}

int fc_spy_attach(struct fc_spy *s, int port, const char *user, const char *pass, char *why, size_t whylen)
{
	pthread_once(&lib_once, lib_init);
	drop_client(s);
	char id[64];
	snprintf(id, sizeof id, "fc-harness-spy-%d", (int)getpid());
	struct mosquitto *m = mosquitto_new(id, true, s);
	if (!m) {
		snprintf(why, whylen, "mosquitto_new failed");
		return -1;
	}
	mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
	mosquitto_connect_callback_set(m, on_connect);
	mosquitto_disconnect_callback_set(m, on_disconnect);
	mosquitto_subscribe_callback_set(m, on_subscribe);
	mosquitto_message_callback_set(m, on_message);
	mosquitto_username_pw_set(m, user, pass);
	pthread_mutex_lock(&s->mu);
	s->connack = -2;
	s->suback_mid = -1;
	pthread_mutex_unlock(&s->mu);
	if (mosquitto_connect(m, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS) {
		snprintf(why, whylen, "cannot connect to 127.0.0.1:%d", port);
		mosquitto_destroy(m);
		return -1;
	}
	/* Children (broker, httpd, CLI) must not inherit the spy's connection. */
	int fd = mosquitto_socket(m);
	if (fd >= 0)
		fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
	s->m = m;
	if (mosquitto_loop_start(m) != MOSQ_ERR_SUCCESS) {
		snprintf(why, whylen, "cannot start the network thread");
		drop_client(s);
		return -1;
	}
	struct timespec ts;
	deadline(&ts, 10000);
	pthread_mutex_lock(&s->mu);
	while (s->connack == -2)
		if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0)
			break;
	int connack = s->connack;
	pthread_mutex_unlock(&s->mu);
	int mid = 0, granted = -1;
	if (connack == 0 && mosquitto_subscribe(m, &mid, "#", 0) == MOSQ_ERR_SUCCESS) {
		pthread_mutex_lock(&s->mu);
		while (s->suback_mid != mid && s->connected)
			if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0)
				break;
		granted = s->suback_mid == mid ? s->suback_qos : -1;
		pthread_mutex_unlock(&s->mu);
	}
	if (connack != 0 || granted != 0) {
		snprintf(why, whylen, connack != 0 ? "CONNACK %d for user %s" : "subscription to '#' refused (%d)",
			 connack != 0 ? connack : granted, user);
		drop_client(s);
		return -1;
	}
	return 0;
}

void fc_spy_detach(struct fc_spy *s)
{
	if (!s || !s->m)
		return;
	/* The broker is gone: everything it sent before is read once the client saw the connection end. */
	struct timespec ts;
	deadline(&ts, 2000);
	pthread_mutex_lock(&s->mu);
	while (s->connected)
		if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0)
			break;
	pthread_mutex_unlock(&s->mu);
	drop_client(s);
}

void fc_spy_free(struct fc_spy *s)
{
	if (!s)
		return;
	drop_client(s);
	free(s->rec);
	free(s->seen);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

void fc_spy_each(struct fc_spy *s, void (*fn)(void *ctx, const char *topic, size_t tlen, const uint8_t *payload,
					       size_t plen),
		 void *ctx, size_t *n_msgs, size_t *n_dropped)
{
	pthread_mutex_lock(&s->mu);
	for (size_t off = 0; off + 8 <= s->len;) {
		uint32_t l32[2];
		memcpy(l32, s->rec + off, 8);
		const char *topic = (const char *)s->rec + off + 8;
		fn(ctx, topic, l32[0], s->rec + off + 8 + l32[0], l32[1]);
		off += 8 + (size_t)l32[0] + l32[1];
	}
	if (n_msgs)
		*n_msgs = s->n_seen; /* distinct ones, the dropped included */
	if (n_dropped)
		*n_dropped = s->n_dropped;
	pthread_mutex_unlock(&s->mu);
}
