/* fakecloud-httpd as an MQTT client of the broker: the privileged internal user (password from the
 * keystore, created on first use), libmosquitto's own thread with automatic reconnect and backoff.
 * Handlers reach the broker plugin through notify() (QoS 1); /healthz shows the connection state. */
#include <errno.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/hub.h"
#include "core/keystore.h"
#include "core/log.h"
#include "httpd/httpd.h"

struct httpd_mqtt {
	struct mosquitto *m;
	char host[256];
	int port;
	char where[300]; /* host:port for log lines */
	atomic_bool connected;
	atomic_int last_refusal; /* last CONNACK refusal code logged (avoid repeating it every retry) */
	int backoff_ms;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock; /* stop flag + wake-up of the backoff wait */
	pthread_cond_t wake;
	bool stop;
};

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 5000

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
	(void)m;
	struct httpd *h = obj;
	struct httpd_mqtt *q = h->mqtt;
	if (rc == 0) {
		atomic_store(&q->connected, true);
		atomic_store(&q->last_refusal, 0);
		q->backoff_ms = BACKOFF_MIN_MS; /* only the MQTT thread runs callbacks and reads it */
		fc_info("httpd: connected to the broker at %s as %s", q->where, FC_INTERNAL_USER);
		return;
	}
	if (atomic_exchange(&q->last_refusal, rc) != rc)
		fc_warn("httpd: the broker at %s refused %s: %s (is the fakecloud plugin loaded, and the same "
			"keystore configured?)",
			q->where, FC_INTERNAL_USER, mosquitto_connack_string(rc));
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
	(void)m;
	struct httpd *h = obj;
	struct httpd_mqtt *q = h->mqtt;
	if (atomic_exchange(&q->connected, false))
		fc_info("httpd: disconnected from the broker at %s (%s)%s", q->where,
			rc == 0 ? "on request" : mosquitto_strerror(rc),
			rc == 0 ? "" : "; reconnecting in the background");
}

/* Wait for the backoff delay (doubling up to BACKOFF_MAX_MS), or less if stopping. False when stopping. */
static bool backoff_wait(struct httpd_mqtt *q)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	long ns = ts.tv_nsec + (long)(q->backoff_ms % 1000) * 1000000L;
	ts.tv_sec += q->backoff_ms / 1000 + ns / 1000000000L;
	ts.tv_nsec = ns % 1000000000L;
	q->backoff_ms = q->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : q->backoff_ms * 2;
	pthread_mutex_lock(&q->lock);
	while (!q->stop && pthread_cond_timedwait(&q->wake, &q->lock, &ts) == 0)
		;
	bool go_on = !q->stop;
	pthread_mutex_unlock(&q->lock);
	return go_on;
}

static bool stopping(struct httpd_mqtt *q)
{
	pthread_mutex_lock(&q->lock);
	bool s = q->stop;
	pthread_mutex_unlock(&q->lock);
	return s;
}

/* The client loop: our own instead of mosquitto_loop_start, whose reconnect sleep cannot be
 * interrupted (a stop would wait for the whole backoff). Connects without blocking, retries with
 * backoff whether the broker is down, refuses us, or drops the connection. */
static void *mqtt_main(void *arg)
{
	struct httpd *h = arg;
	struct httpd_mqtt *q = h->mqtt;
	bool first = true, have_sock = false, said_unreachable = false, had_connection = false;
	while (!stopping(q)) {
		if (!have_sock) {
			int rc = first ? mosquitto_connect_async(q->m, q->host, q->port, 30) : mosquitto_reconnect_async(q->m);
			int e = errno;
			first = false;
			if (rc != MOSQ_ERR_SUCCESS) {
				if (!said_unreachable)
					fc_info("httpd: broker at %s not reachable (%s); retrying in the background", q->where,
						rc == MOSQ_ERR_ERRNO ? strerror(e) : mosquitto_strerror(rc));
				said_unreachable = true;
				if (!backoff_wait(q))
					break;
				continue;
			}
			have_sock = true;
		}
		int rc = mosquitto_loop(q->m, 250, 1);
		if (rc != MOSQ_ERR_SUCCESS) {
			int e = errno;
			have_sock = false;
			bool was_up = atomic_exchange(&q->connected, false) || had_connection;
			had_connection = false;
			if (was_up || stopping(q)) {
				said_unreachable = true; /* on_disconnect said it */
			} else if (!said_unreachable && rc != MOSQ_ERR_CONN_REFUSED) {
				fc_info("httpd: broker at %s not reachable (%s); retrying in the background", q->where,
					rc == MOSQ_ERR_ERRNO ? strerror(e) : mosquitto_strerror(rc));
				said_unreachable = true;
			}
			if (!backoff_wait(q))
				break;
		} else if (atomic_load(&q->connected)) {
			said_unreachable = false;
			had_connection = true;
		}
	}
	return NULL;
}

int httpd_mqtt_start(struct httpd *h, struct fc_keystore *ks, char *err, size_t errlen)
{
	struct httpd_mqtt *q = calloc(1, sizeof *q);
	if (!q) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	h->mqtt = q;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->wake, NULL);
	atomic_init(&q->connected, false);
	atomic_init(&q->last_refusal, 0);

	char fresh[33], pw[256];
	if (fc_random_alnum(fresh, 32) != 0) {
		snprintf(err, errlen, "cannot generate the internal MQTT password");
		return -1;
	}
	int rc = fc_ks_setting_ensure(ks, FC_SETTING_INTERNAL_PASSWORD, fresh, pw, sizeof pw);
	memset(fresh, 0, sizeof fresh);
	if (rc != FC_KS_OK) {
		snprintf(err, errlen, "cannot read or create the internal MQTT password in the keystore (%d)", rc);
		return -1;
	}
	fc_log_register_secret(pw, strlen(pw));

	const char *host = fc_config_str(h->cfg, "mqtt", "host");
	if (!host || !*host)
		host = "127.0.0.1";
	int port = (int)fc_config_int(h->cfg, "mqtt", "port");
	snprintf(q->where, sizeof q->where, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);

	mosquitto_lib_init();
	char id[64];
	snprintf(id, sizeof id, "fakecloud-httpd-%ld", (long)getpid());
	q->m = mosquitto_new(id, true, h);
	if (!q->m) {
		memset(pw, 0, sizeof pw);
		snprintf(err, errlen, "cannot create the MQTT client");
		return -1;
	}
	rc = mosquitto_username_pw_set(q->m, FC_INTERNAL_USER, pw);
	memset(pw, 0, sizeof pw);
	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(err, errlen, "MQTT client setup: %s", mosquitto_strerror(rc));
		return -1;
	}
	mosquitto_threaded_set(q->m, true);
	mosquitto_connect_callback_set(q->m, on_connect);
	mosquitto_disconnect_callback_set(q->m, on_disconnect);
	snprintf(q->host, sizeof q->host, "%s", host);
	q->port = port;
	q->backoff_ms = BACKOFF_MIN_MS;
	rc = pthread_create(&q->thread, NULL, mqtt_main, h);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the MQTT client thread: %s", strerror(rc));
		return -1;
	}
	q->thread_started = true;
	return 0;
}

bool httpd_mqtt_connected(const struct httpd *h)
{
	return h->mqtt && atomic_load(&h->mqtt->connected);
}

int httpd_mqtt_notify(void *ctx, const char *topic, const void *payload, size_t len)
{
	struct httpd *h = ctx;
	if (!h || !h->mqtt || !h->mqtt->m || !topic || len > 268435455u || (!payload && len))
		return -1;
	int rc = mosquitto_publish(h->mqtt->m, NULL, topic, (int)len, payload, 1, false);
	if (rc != MOSQ_ERR_SUCCESS) {
		fc_warn("httpd: cannot publish to %s: %s", topic, mosquitto_strerror(rc));
		return -1;
	}
	return 0;
}

void httpd_mqtt_stop(struct httpd *h)
{
	struct httpd_mqtt *q = h->mqtt;
	if (!q)
		return;
	if (q->thread_started) {
		/* A clean DISCONNECT: the loop thread sends it and reports the disconnection. */
		if (atomic_load(&q->connected) && mosquitto_disconnect(q->m) == MOSQ_ERR_SUCCESS) {
			for (int i = 0; i < 100 && atomic_load(&q->connected); i++) {
				struct timespec ts = {0, 10 * 1000 * 1000};
				nanosleep(&ts, NULL);
			}
		}
		pthread_mutex_lock(&q->lock);
		q->stop = true;
		pthread_cond_broadcast(&q->wake);
		pthread_mutex_unlock(&q->lock);
		pthread_join(q->thread, NULL);
	}
	if (q->m) {
		mosquitto_destroy(q->m);
		mosquitto_lib_cleanup();
	}
	pthread_cond_destroy(&q->wake);
	pthread_mutex_destroy(&q->lock);
	free(q);
	h->mqtt = NULL;
}
