/* Synchronous MQTT test client on libmosquitto (threaded loop, a locked queue of received messages). */
#include "harness/harness.h"

#include <mosquitto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct node {
	struct fc_mq_msg msg;
	struct node *next;
};

struct fc_mq {
	struct mosquitto *m;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct node *head, *tail;
	int connack;      /* -2 waiting, -1 network failure, else CONNACK rc */
	bool connected;
	int last_mid_acked;
	int suback_mid, suback_qos;
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

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
	(void)m;
	struct fc_mq *q = ud;
	pthread_mutex_lock(&q->mu);
	q->connack = rc;
	q->connected = rc == 0;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc)
{
	(void)m;
	(void)rc;
	struct fc_mq *q = ud;
	pthread_mutex_lock(&q->mu);
	if (q->connack == -2)
		q->connack = -1;
	q->connected = false;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
	(void)m;
	struct fc_mq *q = ud;
	struct node *n = calloc(1, sizeof *n);
	if (!n)
		return;
	snprintf(n->msg.topic, sizeof n->msg.topic, "%s", msg->topic);
	n->msg.payload = malloc((size_t)msg->payloadlen + 1);
	if (!n->msg.payload) {
		free(n);
		return;
	}
	if (msg->payloadlen > 0)
		memcpy(n->msg.payload, msg->payload, (size_t)msg->payloadlen);
	n->msg.payload[msg->payloadlen] = 0;
	n->msg.len = (size_t)msg->payloadlen;
	n->msg.retain = msg->retain;
	pthread_mutex_lock(&q->mu);
	if (q->tail)
		q->tail->next = n;
	else
		q->head = n;
	q->tail = n;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

static void on_publish(struct mosquitto *m, void *ud, int mid)
{
	(void)m;
	struct fc_mq *q = ud;
	pthread_mutex_lock(&q->mu);
	q->last_mid_acked = mid;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
	(void)m;
	struct fc_mq *q = ud;
	pthread_mutex_lock(&q->mu);
	q->suback_mid = mid;
	q->suback_qos = n > 0 ? granted[0] : -1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

enum transport { T_PLAIN, T_TLS, T_PSK };

static struct fc_mq *connect_common(struct fc_env *e, const char *client_id, const char *user, const char *pass,
				    int protocol, int *rc, enum transport t, const char *identity, const char *hexkey)
{
	pthread_once(&lib_once, lib_init);
	struct fc_mq *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->connack = -2;
	q->m = mosquitto_new(client_id, true, q);
	if (!q->m) {
		free(q);
		return NULL;
	}
	int pv = protocol == 3 ? MQTT_PROTOCOL_V31 : protocol == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311;
	mosquitto_int_option(q->m, MOSQ_OPT_PROTOCOL_VERSION, pv);
	mosquitto_connect_callback_set(q->m, on_connect);
	mosquitto_disconnect_callback_set(q->m, on_disconnect);
	mosquitto_message_callback_set(q->m, on_message);
	mosquitto_publish_callback_set(q->m, on_publish);
	mosquitto_subscribe_callback_set(q->m, on_subscribe);
	if (user)
		mosquitto_username_pw_set(q->m, user, pass);
	if (t == T_TLS && mosquitto_tls_set(q->m, e->ca_cert, NULL, NULL, NULL, NULL) != MOSQ_ERR_SUCCESS)
		goto fail;
	if (t == T_PSK && mosquitto_tls_psk_set(q->m, hexkey, identity, NULL) != MOSQ_ERR_SUCCESS)
		goto fail;
	int port = t == T_TLS ? e->tls_port : t == T_PSK ? e->psk_port : e->mqtt_port;
	if (mosquitto_connect(q->m, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS) {
		if (rc)
			*rc = -1;
		goto fail;
	}
	mosquitto_loop_start(q->m);
	struct timespec ts;
	deadline(&ts, 5000);
	pthread_mutex_lock(&q->mu);
	while (q->connack == -2)
		if (pthread_cond_timedwait(&q->cv, &q->mu, &ts) != 0)
			break;
	int c = q->connack;
	pthread_mutex_unlock(&q->mu);
	if (rc)
		*rc = c;
	if (c != 0) {
		fc_mq_close(q);
		return NULL;
	}
	return q;
fail:
	mosquitto_destroy(q->m);
	free(q);
	return NULL;
}

struct fc_mq *fc_mq_connect(struct fc_env *e, const char *client_id, const char *user, const char *pass,
			    int protocol, int *rc)
{
	return connect_common(e, client_id, user, pass, protocol, rc, T_PLAIN, NULL, NULL);
}

struct fc_mq *fc_mq_connect_tls(struct fc_env *e, const char *client_id, const char *user, const char *pass,
				int protocol, int *rc)
{
	return connect_common(e, client_id, user, pass, protocol, rc, T_TLS, NULL, NULL);
}

struct fc_mq *fc_mq_connect_psk(struct fc_env *e, const char *client_id, const char *user, const char *pass,
				const char *identity, const char *hexkey, int *rc)
{
	return connect_common(e, client_id, user, pass, 4, rc, T_PSK, identity, hexkey);
}

struct fc_mq *fc_mq_connect_admin(struct fc_env *e, const char *client_id)
{
	return fc_mq_connect(e, client_id, e->admin_user, e->admin_pass, 4, NULL);
}

void fc_mq_close(struct fc_mq *q)
{
	if (!q)
		return;
	mosquitto_disconnect(q->m);
	mosquitto_loop_stop(q->m, true);
	mosquitto_destroy(q->m);
	fc_mq_drain(q);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q);
}

int fc_mq_subscribe(struct fc_mq *q, const char *filter, int qos)
{
	int mid = 0;
	pthread_mutex_lock(&q->mu);
	q->suback_mid = -1;
	pthread_mutex_unlock(&q->mu);
	if (mosquitto_subscribe(q->m, &mid, filter, qos) != MOSQ_ERR_SUCCESS)
		return -1;
	struct timespec ts;
	deadline(&ts, 5000);
	pthread_mutex_lock(&q->mu);
	while (q->suback_mid != mid)
		if (pthread_cond_timedwait(&q->cv, &q->mu, &ts) != 0)
			break;
	int g = q->suback_mid == mid ? q->suback_qos : -1;
	pthread_mutex_unlock(&q->mu);
	return g;
}

int fc_mq_publish(struct fc_mq *q, const char *topic, const char *payload, int qos, bool retain)
{
	int mid = 0;
	if (mosquitto_publish(q->m, &mid, topic, payload ? (int)strlen(payload) : 0, payload, qos, retain) !=
	    MOSQ_ERR_SUCCESS)
		return -1;
	if (qos == 0)
		return 0;
	struct timespec ts;
	deadline(&ts, 5000);
	pthread_mutex_lock(&q->mu);
	while (q->last_mid_acked != mid)
		if (pthread_cond_timedwait(&q->cv, &q->mu, &ts) != 0)
			break;
	int ok = q->last_mid_acked == mid ? 0 : -1;
	pthread_mutex_unlock(&q->mu);
	return ok;
}

bool fc_mq_wait_payload(struct fc_mq *q, const char *filter, const char *needle, int timeout_ms,
			struct fc_mq_msg *out)
{
	struct timespec ts;
	deadline(&ts, timeout_ms);
	pthread_mutex_lock(&q->mu);
	for (;;) {
		struct node *prev = NULL;
		for (struct node *n = q->head; n; prev = n, n = n->next) {
			bool match = false;
			mosquitto_topic_matches_sub(filter, n->msg.topic, &match);
			if (!match || (needle && !strstr(n->msg.payload, needle)))
				continue;
			if (prev)
				prev->next = n->next;
			else
				q->head = n->next;
			if (q->tail == n)
				q->tail = prev;
			pthread_mutex_unlock(&q->mu);
			if (out)
				*out = n->msg;
			else
				free(n->msg.payload);
			free(n);
			return true;
		}
		if (pthread_cond_timedwait(&q->cv, &q->mu, &ts) != 0)
			break;
	}
	pthread_mutex_unlock(&q->mu);
	return false;
}

bool fc_mq_wait(struct fc_mq *q, const char *filter, int timeout_ms, struct fc_mq_msg *msg)
{
	return fc_mq_wait_payload(q, filter, NULL, timeout_ms, msg);
}

void fc_mq_drain(struct fc_mq *q)
{
	pthread_mutex_lock(&q->mu);
	struct node *n = q->head;
	q->head = q->tail = NULL;
	pthread_mutex_unlock(&q->mu);
	while (n) {
		struct node *next = n->next;
		free(n->msg.payload);
		free(n);
		n = next;
	}
}

bool fc_mq_connected(struct fc_mq *q)
{
	pthread_mutex_lock(&q->mu);
	bool c = q->connected;
	pthread_mutex_unlock(&q->mu);
	return c;
}

void fc_mq_msg_free(struct fc_mq_msg *msg)
{
	free(msg->payload);
	msg->payload = NULL;
}

int fc_mq_count_containing(struct fc_mq *q, const char *needle)
{
	int n = 0;
	pthread_mutex_lock(&q->mu);
	for (struct node *x = q->head; x; x = x->next)
		n += strstr(x->msg.topic, needle) || (x->msg.len && memmem(x->msg.payload, x->msg.len, needle, strlen(needle)));
	pthread_mutex_unlock(&q->mu);
	return n;
}
