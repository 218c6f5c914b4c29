/* Several hundred Tuya devices across broker restarts: a clean stop (SIGTERM) and a crash (SIGKILL).
 *
 * N devices (default 300, FC_RESTART_DEVICES overrides) are imported straight through the keystore API
 * before the broker starts, plus one through the real CLI (`device add tuya ... --name cli1`); both
 * must end up alike. One thread drives the whole fleet: N+1 libmosquitto clients on a single poll()
 * loop (the external-loop API: mosquitto_socket / want_write / loop_read / loop_write / loop_misc), each
 * logging in as its devId with md5(secKey)[8:24], subscribing to smart/device/in/<devId>, reporting DP 1
 * (protocol 4, payload 2.2, its localKey) on every connect, decoding commands with its localKey and
 * applying them (reporting back), and reconnecting after a lost connection with back-off, at most
 * RECONNECT_BURST attempts per 100 ms across the fleet.
 *
 * Users' side: an admin subscribed to fakecloud/#; everything it receives is drained into a table
 * (name -> last availability, last state) instead of waiting per device.
 *
 * Each phase (first start, restart after SIGTERM, restart after SIGKILL) must end with:
 *  - every device reconnected (a CONNACK 0 in this broker's lifetime) and subscribed;
 *  - fakecloud/<name>/availability "online" and fakecloud/<name> carrying the device's latest value.
 *    Before every restart each device's value is set to the opposite of what the broker persisted in
 *    its retained state at the last clean stop (a button pressed while the broker was away), so a stale
 *    retained message can never pass for the fresh one;
 *  - fakecloud/bridge/devices: exactly N+1 tuya devices, each once, the right uuid, online, last_seen
 *    in this broker's lifetime;
 *  - a command through fakecloud/<name>/set to a sample (every 10th, first, last, cli1) reaches exactly
 *    that device (protocol 5, its devId, the right dps, decrypted with its own localKey), no other
 *    device receives anything, and the device's answer becomes its state.
 * Plus: no device ever got a refused CONNACK (Tuya firmware takes that for "unbound"); after the
 * SIGKILL (and at the end) the keystore passes PRAGMA integrity_check and every device is there once
 * with its name, keys, devId and alias unchanged.
 *
 * Descriptors: each client holds three (its socket and libmosquitto's socketpair), so RLIMIT_NOFILE is
 * raised as needed; the broker is started without inheriting them; and a few low descriptors are kept
 * for the harness's admin client, whose select()-based libmosquitto loop cannot use one >= 1024.
 *
 * Times until everything is back are printed per phase; they are information, never asserted. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/keystore.h"
#include "harness/harness.h"
#include "unit/t.h"
#include "vendors/tuya/codec.h"

#define DEFAULT_DEVICES 300
#define MAX_DEVICES 5000
#define PHASE_MS 60000        /* per phase, generous for ASan on 2 cores */
#define RECONNECT_BURST 100   /* connection attempts per 100 ms, whole fleet */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000
#define CONNECT_TIMEOUT_MS 10000
#define KEEPALIVE 60

static const char bool_schema[] =
	"[{\"id\":1,\"type\":\"obj\",\"mode\":\"rw\",\"property\":{\"type\":\"bool\"},\"code\":\"switch_1\"}]";

static struct fc_env e;

/* ------------------------------------------------------------------------------------------ devices */

enum { ST_IDLE, ST_CONNECTING, ST_UP };

struct dev {
	/* identity: written before the fleet starts, read-only afterwards */
	char uuid[17], auth_key[33], dev_id[23], sec_key[17], local_key[17], name[16], pw[17];
	char topic_in[48], topic_out[48];
	struct mosquitto *m;
	/* fleet thread only (callbacks run in the fleet thread too) */
	int st;
	int64_t next_try, since;
	int backoff;
	uint32_t seq;
	bool ever;
	/* shared: under fleet.mu */
	bool value;          /* DP 1 as the device has it */
	bool report_pending; /* the test asks for a report of `value` */
	bool connected, subscribed;
	int connects, refused, sub_refused, cmds, bad;
	int last_cmd;        /* -1 none, 0/1 DP 1 of the last command */
	bool last_cmd_for_me;
	char last_err[128];
};

static struct {
	pthread_mutex_t mu;
	pthread_t th;
	bool running, stop;
	bool hold;         /* no new connection attempts (while the admin takes its descriptors) */
	unsigned long gen; /* loop iterations, to know the thread has seen `hold` */
	int port;
	struct dev *d;
	int n;
	long attempts, attempt_errors, lost;
} fleet = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int n_dev; /* N + 1: the N imported through the keystore, then cli1 */
static int n_api; /* N */
static struct dev *devs; /* n_dev */
static bool *expected;   /* DP 1 each device must end up with */
static bool *persisted;  /* the state the broker persisted (retained) at its last clean stop */
static bool have_persisted;
static int *connects0;   /* connects per device when the phase began */

static void lock(void) { pthread_mutex_lock(&fleet.mu); }
static void unlock(void) { pthread_mutex_unlock(&fleet.mu); }

static void set_err(struct dev *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(struct dev *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->last_err, sizeof d->last_err, fmt, ap);
	va_end(ap);
}

/* Protocol 4 report of DP 1, payload 2.2, the device's localKey, QoS 1 (fleet thread). */
static void publish_report(struct dev *d, bool value)
{
	cJSON *data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "devId", d->dev_id);
	cJSON *dps = cJSON_AddObjectToObject(data, "dps");
	cJSON_AddBoolToObject(dps, "1", value);
	struct tuya_mqtt_out o = {.pv = TUYA_PV_22, .seq = ++d->seq, .source = 1};
	uint8_t *out = NULL;
	size_t outlen = 0;
	char err[160];
	int rc = tuya_mqtt_encode(&o, TUYA_PROTO_DP_REPORT, data, (int64_t)time(NULL), d->local_key,
				  strlen(d->local_key), &out, &outlen, err, sizeof err);
	cJSON_Delete(data);
	if (rc != 0) {
		lock();
		d->bad++;
		set_err(d, "report encode: %s", err);
		unlock();
		return;
	}
	rc = mosquitto_publish(d->m, NULL, d->topic_out, (int)outlen, out, 1, false);
	free(out);
	if (rc != MOSQ_ERR_SUCCESS) {
		lock();
		set_err(d, "publish report: %s", mosquitto_strerror(rc));
		unlock();
	}
}

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
	struct dev *d = ud;
	if (rc != 0) {
		lock();
		d->refused++;
		set_err(d, "CONNACK refused: %s (%d)", mosquitto_connack_string(rc), rc);
		unlock();
		return;
	}
	d->st = ST_UP;
	d->backoff = BACKOFF_MIN_MS;
	lock();
	d->connected = true;
	d->subscribed = false;
	d->connects++;
	d->report_pending = false;
	bool v = d->value;
	unlock();
	/* Like a Tuya device: subscribe to its command topic, then report every DP. */
	mosquitto_subscribe(m, NULL, d->topic_in, 1);
	publish_report(d, v);
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int qos_count, const int *granted)
{
	(void)m;
	(void)mid;
	struct dev *d = ud;
	lock();
	if (qos_count < 1 || granted[0] > 2) {
		d->sub_refused++;
		set_err(d, "SUBACK refused %s", d->topic_in);
	} else {
		d->subscribed = true;
	}
	unlock();
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc)
{
	(void)m;
	(void)rc;
	struct dev *d = ud;
	lock();
	d->connected = false;
	d->subscribed = false;
	unlock();
}

/* A command: it must be on the device's own topic, decrypt with its localKey (2.2, CRC checked), be
 * protocol 5 for its devId with DP 1 as a bool. The device applies it and reports back. */
static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
	(void)m;
	struct dev *d = ud;
	if (!msg->topic || strcmp(msg->topic, d->topic_in) != 0 || msg->payloadlen <= 0) {
		lock();
		d->bad++;
		set_err(d, "message on %s", msg->topic ? msg->topic : "?");
		unlock();
		return;
	}
	struct tuya_mqtt_msg t;
	char err[160];
	if (tuya_mqtt_decode(msg->payload, (size_t)msg->payloadlen, d->local_key, strlen(d->local_key),
			     TUYA_MQTT_STRICT, &t, err, sizeof err) != 0) {
		lock();
		d->bad++;
		set_err(d, "undecodable command: %s", err);
		unlock();
		return;
	}
	const cJSON *dps = cJSON_GetObjectItemCaseSensitive(t.data, "dps");
	const cJSON *dp1 = cJSON_GetObjectItemCaseSensitive(dps, "1");
	const char *to = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t.data, "devId"));
	bool ok = t.pv == TUYA_PV_22 && t.protocol == TUYA_PROTO_DP_CMD && cJSON_IsBool(dp1) && t.has_t &&
		  cJSON_GetArraySize(dps) == 1;
	bool v = cJSON_IsTrue(dp1);
	lock();
	if (!ok) {
		d->bad++;
		set_err(d, "unexpected command (pv %d, protocol %d): %.80s", (int)t.pv, t.protocol, t.json);
	} else {
		d->cmds++;
		d->last_cmd = v;
		d->last_cmd_for_me = to && strcmp(to, d->dev_id) == 0;
		d->value = v;
	}
	unlock();
	tuya_mqtt_msg_free(&t);
	if (ok)
		publish_report(d, v);
}

static int jitter(int ms) { return ms + (int)((unsigned)rand() % (unsigned)(ms / 2 + 1)); }

static void *fleet_main(void *arg)
{
	(void)arg;
	struct pollfd *pfd = calloc((size_t)fleet.n, sizeof *pfd);
	int *who = calloc((size_t)fleet.n, sizeof *who);
	if (!pfd || !who) {
		free(pfd);
		free(who);
		return NULL;
	}
	int64_t window = 0, last_misc = fc_mono_ms();
	int tokens = 0;
	for (;;) {
		lock();
		bool stop = fleet.stop, hold = fleet.hold;
		fleet.gen++;
		unlock();
		if (stop)
			break;
		int64_t now = fc_mono_ms();
		if (now - window >= 100) {
			window = now;
			tokens = RECONNECT_BURST;
		}
		for (int i = 0; i < fleet.n; i++) {
			struct dev *d = &fleet.d[i];
			if (d->st != ST_IDLE && mosquitto_socket(d->m) < 0) {
				/* lost (or the attempt failed): like firmware, wait a little, then longer */
				if (d->st == ST_UP) {
					d->backoff = BACKOFF_MIN_MS;
					d->next_try = now + jitter(50);
					lock();
					fleet.lost++;
					unlock();
				} else {
					d->next_try = now + jitter(d->backoff);
					d->backoff = d->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : d->backoff * 2;
				}
				d->st = ST_IDLE;
			}
			if (d->st == ST_CONNECTING && now - d->since > CONNECT_TIMEOUT_MS) {
				d->st = ST_IDLE; /* mosquitto_reconnect_async closes the stuck socket */
				d->next_try = now;
			}
			if (d->st == ST_IDLE && now >= d->next_try && tokens > 0 && !hold) {
				tokens--;
				int rc = d->ever ? mosquitto_reconnect_async(d->m)
						 : mosquitto_connect_async(d->m, "127.0.0.1", fleet.port, KEEPALIVE);
				d->ever = true;
				lock();
				fleet.attempts++;
				if (rc != MOSQ_ERR_SUCCESS)
					fleet.attempt_errors++;
				unlock();
				if (rc == MOSQ_ERR_SUCCESS) {
					d->st = ST_CONNECTING;
					d->since = now;
				} else {
					d->next_try = now + jitter(d->backoff);
					d->backoff = d->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : d->backoff * 2;
				}
			}
			if (d->st == ST_UP) {
				lock();
				bool report = d->report_pending;
				bool v = d->value;
				d->report_pending = false;
				unlock();
				if (report)
					publish_report(d, v);
			}
		}
		int np = 0;
		for (int i = 0; i < fleet.n; i++) {
			int sock = mosquitto_socket(fleet.d[i].m);
			if (sock < 0)
				continue;
			pfd[np].fd = sock;
			pfd[np].events = (short)(POLLIN | (mosquitto_want_write(fleet.d[i].m) ? POLLOUT : 0));
			pfd[np].revents = 0;
			who[np++] = i;
		}
		if (poll(pfd, (nfds_t)np, 5) < 0 && errno != EINTR)
			fc_sleep_ms(5);
		for (int k = 0; k < np; k++) {
			struct mosquitto *m = fleet.d[who[k]].m;
			if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
				mosquitto_loop_read(m, 1);
			if ((pfd[k].revents & POLLOUT) && mosquitto_socket(m) >= 0)
				mosquitto_loop_write(m, 1);
		}
		now = fc_mono_ms();
		if (now - last_misc >= 1000) {
			last_misc = now;
			for (int i = 0; i < fleet.n; i++)
				if (mosquitto_socket(fleet.d[i].m) >= 0)
					mosquitto_loop_misc(fleet.d[i].m); /* keepalive */
		}
	}
	free(pfd);
	free(who);
	return NULL;
}

static int fleet_start(struct dev *d, int n, int port)
{
	fleet.d = d;
	fleet.n = n;
	fleet.port = port;
	fleet.stop = false;
	for (int i = 0; i < n; i++) {
		d[i].m = mosquitto_new(d[i].dev_id, true, &d[i]);
		if (!d[i].m)
			return -1;
		mosquitto_int_option(d[i].m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
		mosquitto_username_pw_set(d[i].m, d[i].dev_id, d[i].pw);
		mosquitto_connect_callback_set(d[i].m, on_connect);
		mosquitto_disconnect_callback_set(d[i].m, on_disconnect);
		mosquitto_subscribe_callback_set(d[i].m, on_subscribe);
		mosquitto_message_callback_set(d[i].m, on_message);
		d[i].st = ST_IDLE;
		d[i].backoff = BACKOFF_MIN_MS;
		d[i].next_try = 0;
		d[i].last_cmd = -1;
	}
	if (pthread_create(&fleet.th, NULL, fleet_main, NULL) != 0)
		return -1;
	fleet.running = true;
	return 0;
}

/* Stop (true) or resume new connection attempts; returns once the fleet thread has seen it. */
static void fleet_hold(bool hold)
{
	lock();
	fleet.hold = hold;
	unsigned long g = fleet.gen;
	bool running = fleet.running;
	unlock();
	while (running && hold) {
		lock();
		bool seen = fleet.gen >= g + 2;
		unlock();
		if (seen)
			break;
		fc_sleep_ms(1);
	}
}

static void fleet_stop(void)
{
	lock();
	fleet.stop = true;
	unlock();
	pthread_join(fleet.th, NULL);
	fleet.running = false;
	for (int i = 0; i < fleet.n; i++) {
		if (fleet.d[i].m) {
			mosquitto_disconnect(fleet.d[i].m);
			mosquitto_destroy(fleet.d[i].m);
			fleet.d[i].m = NULL;
		}
	}
}

static int fleet_count_connected(void)
{
	int c = 0;
	lock();
	for (int i = 0; i < fleet.n; i++)
		c += fleet.d[i].connected;
	unlock();
	return c;
}

/* --------------------------------------------------------------------------------- users' side */

enum { AV_UNKNOWN, AV_ONLINE, AV_OFFLINE };

struct seen {
	int avail;
	int state; /* -1 unknown, 0 OFF, 1 ON */
};

struct view {
	struct seen *s;
	/* the last fakecloud/bridge/devices */
	bool have_list;
	int list_total, list_tuya, list_known, list_dups, list_online, list_fresh;
	int64_t fresh_after; /* wall ms: last_seen must be at least this (this broker's lifetime) */
	long msgs, lists, warnings;
	int stale_states, stale_online; /* retained at subscription, from before this broker's lifetime */
};

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "t<i>" -> i, "cli1" -> N, else -1 */
static int dev_index(const char *name)
{
	if (strcmp(name, "cli1") == 0)
		return n_api;
	if (name[0] != 't' || !name[1])
		return -1;
	char *end = NULL;
	long i = strtol(name + 1, &end, 10);
	if (*end || i < 0 || i >= n_api || (name[1] == '0' && name[2]))
		return -1;
	return (int)i;
}

static void view_reset(struct view *v, int64_t fresh_after)
{
	for (int i = 0; i < n_dev; i++) {
		v->s[i].avail = AV_UNKNOWN;
		v->s[i].state = -1;
	}
	v->have_list = false;
	v->fresh_after = fresh_after;
	v->msgs = v->lists = 0;
	v->stale_states = v->stale_online = 0;
}

static void parse_devices(struct view *v, const struct dev *d, const char *payload)
{
	cJSON *arr = cJSON_Parse(payload);
	v->lists++;
	v->have_list = cJSON_IsArray(arr);
	v->list_total = v->list_tuya = v->list_known = v->list_dups = v->list_online = v->list_fresh = 0;
	bool *seen = calloc((size_t)n_dev, sizeof *seen);
	const cJSON *it;
	cJSON_ArrayForEach(it, arr)
	{
		v->list_total++;
		const char *vendor = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "vendor"));
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "name"));
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "id"));
		const cJSON *ls = cJSON_GetObjectItemCaseSensitive(it, "last_seen");
		if (vendor && strcmp(vendor, "tuya") == 0)
			v->list_tuya++;
		int i = name ? dev_index(name) : -1;
		if (i < 0 || !id || strcmp(id, d[i].uuid) != 0 || !seen)
			continue;
		if (seen[i]) {
			v->list_dups++;
			continue;
		}
		seen[i] = true;
		v->list_known++;
		v->list_online += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "online"));
		v->list_fresh += cJSON_IsNumber(ls) && ls->valuedouble >= (double)v->fresh_after;
	}
	free(seen);
	cJSON_Delete(arr);
}

static void ingest(struct view *v, const struct dev *d, const struct fc_mq_msg *msg)
{
	v->msgs++;
	static const char base[] = "fakecloud/";
	if (strncmp(msg->topic, base, sizeof base - 1) != 0)
		return;
	const char *rest = msg->topic + sizeof base - 1;
	if (strcmp(rest, "bridge/devices") == 0) {
		parse_devices(v, d, msg->payload);
		return;
	}
	if (strcmp(rest, "bridge/log") == 0) {
		if (!strstr(msg->payload, "\"level\":\"info\"") && !strstr(msg->payload, "\"level\":\"debug\"")) {
			if (v->warnings++ < 10)
				fprintf(stderr, "bridge/log: %s\n", msg->payload);
		}
		return;
	}
	char name[64];
	const char *slash = strchr(rest, '/');
	size_t nl = slash ? (size_t)(slash - rest) : strlen(rest);
	if (nl == 0 || nl >= sizeof name)
		return;
	memcpy(name, rest, nl);
	name[nl] = 0;
	int i = dev_index(name);
	if (i < 0)
		return;
	if (!slash) {
		cJSON *j = cJSON_Parse(msg->payload);
		const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "state"));
		v->s[i].state = st && strcmp(st, "ON") == 0 ? 1 : st && strcmp(st, "OFF") == 0 ? 0 : -1;
		cJSON_Delete(j);
		v->stale_states += msg->retain && v->s[i].state != (int)expected[i];
	} else if (strcmp(slash + 1, "availability") == 0) {
		v->s[i].avail = strcmp(msg->payload, "online") == 0	 ? AV_ONLINE
				: strcmp(msg->payload, "offline") == 0 ? AV_OFFLINE
								       : AV_UNKNOWN;
		if (msg->retain && v->s[i].avail == AV_ONLINE) {
			lock();
			v->stale_online += devs[i].connects == connects0[i];
			unlock();
		}
	}
}

/* Take everything the admin received so far (waiting up to wait_ms for the first message). */
static void drain(struct fc_mq *admin, struct view *v, const struct dev *d, int wait_ms)
{
	struct fc_mq_msg msg;
	int budget = 5000; /* re-evaluate the conditions now and then even under a flood */
	while (budget-- > 0 && fc_mq_wait(admin, "#", wait_ms, &msg)) {
		ingest(v, d, &msg);
		fc_mq_msg_free(&msg);
		wait_ms = 0;
	}
}

/* ------------------------------------------------------------------------------------- phases */


static bool sampled(int i) { return i == 0 || i == n_api - 1 || i % 10 == 0 || i == n_api; }

static void note_connects(void)
{
	lock();
	for (int i = 0; i < n_dev; i++)
		connects0[i] = devs[i].connects;
	unlock();
}

struct cond {
	int fleet_ok, view_ok, list_ok;
};

static struct cond evaluate(const struct view *v)
{
	struct cond c = {0, 0, 0};
	lock();
	for (int i = 0; i < n_dev; i++)
		c.fleet_ok += devs[i].connected && devs[i].subscribed && devs[i].connects > connects0[i];
	unlock();
	for (int i = 0; i < n_dev; i++)
		c.view_ok += v->s[i].avail == AV_ONLINE && v->s[i].state == (int)expected[i];
	c.list_ok = v->have_list && v->list_total == n_dev && v->list_tuya == n_dev && v->list_known == n_dev &&
		    v->list_dups == 0 && v->list_online == n_dev && v->list_fresh == n_dev;
	return c;
}

static void diagnose(const struct view *v)
{
	int shown = 0;
	lock();
	for (int i = 0; i < n_dev && shown < 8; i++) {
		const struct dev *d = &devs[i];
		bool fleet_ok = d->connected && d->subscribed && d->connects > connects0[i];
		bool view_ok = v->s[i].avail == AV_ONLINE && v->s[i].state == (int)expected[i];
		if (fleet_ok && view_ok)
			continue;
		shown++;
		fprintf(stderr,
			"  %s (%s): connected %d subscribed %d connects %d (phase start %d) refused %d; seen avail %d "
			"state %d, expected %d; last error: %s\n",
			d->name, d->dev_id, d->connected, d->subscribed, d->connects, connects0[i], d->refused,
			v->s[i].avail, v->s[i].state, (int)expected[i], d->last_err[0] ? d->last_err : "-");
	}
	fprintf(stderr, "  fleet: %ld connection attempts, %ld failed at once, %ld connections lost\n",
		fleet.attempts, fleet.attempt_errors, fleet.lost);
	unlock();
	fprintf(stderr,
		"  bridge/devices: %s, %d entries, %d tuya, %d known, %d duplicates, %d online, %d seen since the "
		"start (%ld lists, %ld messages)\n",
		v->have_list ? "received" : "never received", v->list_total, v->list_tuya, v->list_known, v->list_dups,
		v->list_online, v->list_fresh, v->lists, v->msgs);
}

static const char *ms_or_never(char *buf, size_t cap, int64_t ms)
{
	if (ms < 0)
		snprintf(buf, cap, "(never)");
	else
		snprintf(buf, cap, "%lld ms", (long long)ms);
	return buf;
}

/* Wait until every device is back (fleet side, users' side, bridge/devices); print how long it took. */
static bool wait_back(struct fc_mq *admin, struct view *v, const char *phase, int64_t t0)
{
	int64_t end = fc_mono_ms() + PHASE_MS, t_fleet = -1, t_view = -1, t_list = -1;
	struct cond c;
	for (;;) {
		drain(admin, v, devs, 50);
		c = evaluate(v);
		int64_t now = fc_mono_ms();
		if (t_fleet < 0 && c.fleet_ok == n_dev)
			t_fleet = now - t0;
		if (t_view < 0 && c.view_ok == n_dev)
			t_view = now - t0;
		if (t_list < 0 && c.list_ok)
			t_list = now - t0;
		/* a condition met once may be lost again (a device reconnecting): all three at the same time */
		if (c.fleet_ok == n_dev && c.view_ok == n_dev && c.list_ok)
			break;
		if (now > end) {
			fprintf(stderr, "%s: not all %d devices came back within %d s: %d connected and subscribed, %d "
					"online with their latest state, bridge/devices %s\n",
				phase, n_dev, PHASE_MS / 1000, c.fleet_ok, c.view_ok, c.list_ok ? "complete" : "incomplete");
			diagnose(v);
			break;
		}
	}
	char a[32], b[32], c3[32];
	printf("restart-many: %-16s %d devices: all reconnected after %s, all online with their latest state "
	       "after %s, bridge/devices complete after %s\n",
	       phase, n_dev, ms_or_never(a, sizeof a, t_fleet), ms_or_never(b, sizeof b, t_view),
	       ms_or_never(c3, sizeof c3, t_list));
	printf("restart-many: %-16s retained on subscription: %d stale states, %d \"online\" of devices not yet "
	       "reconnected\n",
	       phase, v->stale_states, v->stale_online);
	fflush(stdout);
	CHECK_INT(c.fleet_ok, n_dev);
	CHECK_INT(c.view_ok, n_dev);
	CHECK(c.list_ok);
	return c.fleet_ok == n_dev && c.view_ok == n_dev && c.list_ok;
}

/* Commands to the sample through fakecloud/<name>/set: each reaches exactly its device, nobody else gets
 * anything, and the device's answer becomes its state. */
static void command_sample(struct fc_mq *admin, struct view *v, const char *phase)
{
	int *cmds0 = calloc((size_t)n_dev, sizeof *cmds0);
	int *bad0 = calloc((size_t)n_dev, sizeof *bad0);
	if (!cmds0 || !bad0) {
		CHECK(false);
		free(cmds0);
		free(bad0);
		return;
	}
	lock();
	for (int i = 0; i < n_dev; i++) {
		cmds0[i] = devs[i].cmds;
		bad0[i] = devs[i].bad;
	}
	unlock();
	int n_sample = 0, publish_errors = 0;
	int64_t t0 = fc_mono_ms();
	for (int i = 0; i < n_dev; i++) {
		if (!sampled(i))
			continue;
		n_sample++;
		expected[i] = !expected[i];
		char topic[128];
		snprintf(topic, sizeof topic, "fakecloud/%s/set", devs[i].name);
		publish_errors += fc_mq_publish(admin, topic, expected[i] ? "{\"state\":\"ON\"}" : "{\"state\":\"OFF\"}", 1,
						false) != 0;
	}
	CHECK_INT(publish_errors, 0);
	/* every sampled device got its command and reported the new value */
	int64_t end = fc_mono_ms() + PHASE_MS;
	int arrived = 0, applied = 0;
	for (;;) {
		drain(admin, v, devs, 50);
		arrived = applied = 0;
		lock();
		for (int i = 0; i < n_dev; i++)
			if (sampled(i))
				arrived += devs[i].cmds > cmds0[i];
		unlock();
		for (int i = 0; i < n_dev; i++)
			if (sampled(i))
				applied += v->s[i].state == (int)expected[i];
		if ((arrived == n_sample && applied == n_sample) || fc_mono_ms() > end)
			break;
	}
	int64_t t_done = fc_mono_ms() - t0;
	/* a little longer, so that a stray command to the wrong device would have arrived too */
	int64_t settle = fc_mono_ms() + 500;
	while (fc_mono_ms() < settle)
		drain(admin, v, devs, 50);
	int wrong_count = 0, wrong_value = 0, wrong_devid = 0, bad = 0, state_wrong = 0;
	lock();
	for (int i = 0; i < n_dev; i++) {
		const struct dev *d = &devs[i];
		int got = d->cmds - cmds0[i];
		bool want = sampled(i);
		if (got != (want ? 1 : 0)) {
			if (wrong_count++ < 5)
				fprintf(stderr, "%s: %s received %d commands, expected %d\n", phase, d->name, got, want ? 1 : 0);
		}
		if (want && got > 0 && d->last_cmd != (int)expected[i])
			wrong_value++;
		if (want && got > 0 && !d->last_cmd_for_me)
			wrong_devid++;
		if (d->bad != bad0[i]) {
			if (bad++ < 5)
				fprintf(stderr, "%s: %s: %s\n", phase, d->name, d->last_err);
		}
		if (d->value != expected[i])
			state_wrong++;
	}
	unlock();
	for (int i = 0; i < n_dev; i++)
		if (v->s[i].state != (int)expected[i])
			state_wrong++;
	printf("restart-many: %-16s commands to %d of %d devices: %d delivered, %d applied in %lld ms; "
	       "%d devices with a wrong number of commands\n",
	       phase, n_sample, n_dev, arrived, applied, (long long)t_done, wrong_count);
	fflush(stdout);
	CHECK_INT(arrived, n_sample);
	CHECK_INT(applied, n_sample);
	CHECK_INT(wrong_count, 0);
	CHECK_INT(wrong_value, 0);
	CHECK_INT(wrong_devid, 0);
	CHECK_INT(bad, 0);
	CHECK_INT(state_wrong, 0);
	free(cmds0);
	free(bad0);
}

/* Every device changes its value while connected and reports it: the state follows. */
static void live_change(struct fc_mq *admin, struct view *v, const char *phase)
{
	lock();
	for (int i = 0; i < n_dev; i++) {
		expected[i] = !expected[i];
		devs[i].value = expected[i];
		devs[i].report_pending = true;
	}
	unlock();
	int64_t t0 = fc_mono_ms(), end = t0 + PHASE_MS;
	int ok = 0;
	for (;;) {
		drain(admin, v, devs, 50);
		ok = 0;
		for (int i = 0; i < n_dev; i++)
			ok += v->s[i].state == (int)expected[i];
		if (ok == n_dev || fc_mono_ms() > end)
			break;
	}
	printf("restart-many: %-16s all %d devices changed their value; states followed in %lld ms\n", phase, n_dev,
	       (long long)(fc_mono_ms() - t0));
	CHECK_INT(ok, n_dev);
}

/* The broker is gone: every device notices, then (a button pressed meanwhile) its value becomes the
 * opposite of what the broker persisted at its last clean stop. */
static void while_down(const char *phase)
{
	int64_t end = fc_mono_ms() + 15000;
	int up;
	while ((up = fleet_count_connected()) > 0 && fc_mono_ms() < end)
		fc_sleep_ms(20);
	if (up)
		fprintf(stderr, "%s: %d devices still think they are connected\n", phase, up);
	CHECK_INT(up, 0);
	lock();
	for (int i = 0; i < n_dev; i++) {
		expected[i] = have_persisted ? !persisted[i] : !expected[i];
		devs[i].value = expected[i];
	}
	unlock();
}

/* ------------------------------------------------------------------------------------ keystore */

struct ks_scan {
	int rows, mismatches, dups, unknown;
	bool *seen;
};

static bool secret_is(const cJSON *o, const char *k, const char *want)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
	return s && strcmp(s, want) == 0;
}

static int scan_row(void *ctx, const struct fc_device_row *row)
{
	struct ks_scan *s = ctx;
	s->rows++;
	int i = dev_index(row->name);
	if (i < 0 || strcmp(row->vid, devs[i].uuid) != 0) {
		if (s->unknown++ < 5)
			fprintf(stderr, "keystore: unexpected device %s (%s)\n", row->name, row->vid);
		return 0;
	}
	if (s->seen[i]) {
		s->dups++;
		return 0;
	}
	s->seen[i] = true;
	const struct dev *d = &devs[i];
	bool ok = secret_is(row->secrets, "authKey", d->auth_key) && secret_is(row->secrets, "secKey", d->sec_key) &&
		  secret_is(row->secrets, "localKey", d->local_key) && cJSON_GetArraySize(row->secrets) == 3 &&
		  secret_is(row->meta, "devId", d->dev_id) && secret_is(row->meta, "schema", bool_schema);
	if (!ok && s->mismatches++ < 5)
		fprintf(stderr, "keystore: %s: keys, devId or schema changed\n", row->name);
	return 0;
}

static void check_keystore(const char *when)
{
	char path[512], err[256] = "";
	snprintf(path, sizeof path, "%s/fakecloud.db", e.dir);
	struct fc_keystore *ks = fc_keystore_open(path, err, sizeof err);
	CHECK(ks != NULL);
	if (!ks) {
		fprintf(stderr, "%s: keystore does not open: %s\n", when, err);
		return;
	}
	CHECK_INT(fc_keystore_integrity_check(ks), 0);
	struct ks_scan s = {0};
	s.seen = calloc((size_t)n_dev, sizeof *s.seen);
	CHECK_INT(fc_ks_device_each(ks, "tuya", scan_row, &s) >= 0, 1);
	int alias_wrong = 0, missing = 0;
	for (int i = 0; i < n_dev; i++) {
		missing += !s.seen[i];
		struct fc_device_row row;
		int rc = fc_ks_device_get_by_alias(ks, "tuya", devs[i].dev_id, &row);
		if (rc != FC_KS_OK) {
			alias_wrong++;
			continue;
		}
		alias_wrong += strcmp(row.vid, devs[i].uuid) != 0;
		fc_device_row_free(&row);
	}
	printf("restart-many: keystore %s: integrity ok, %d tuya rows, %d missing, %d changed, %d duplicated, "
	       "%d unknown, %d wrong aliases\n",
	       when, s.rows, missing, s.mismatches, s.dups, s.unknown, alias_wrong);
	CHECK_INT(s.rows, n_dev);
	CHECK_INT(missing, 0);
	CHECK_INT(s.mismatches, 0);
	CHECK_INT(s.dups, 0);
	CHECK_INT(s.unknown, 0);
	CHECK_INT(alias_wrong, 0);
	free(s.seen);
	fc_keystore_close(ks);
}

/* ---------------------------------------------------------------------------------------- setup */

static void random_lower_alnum(char *out, size_t len)
{
	static const char set[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	uint8_t r[64];
	fc_random(r, len);
	for (size_t i = 0; i < len; i++)
		out[i] = set[r[i] % (sizeof set - 1)];
	out[len] = 0;
}

static void make_device(struct dev *d, int i)
{
	fc_random_alnum(d->uuid, 16);
	fc_random_alnum(d->auth_key, 32);
	fc_random_alnum(d->sec_key, 16);
	fc_random_alnum(d->local_key, 16);
	random_lower_alnum(d->dev_id, 22);
	if (i < n_api)
		snprintf(d->name, sizeof d->name, "t%d", i);
	else
		snprintf(d->name, sizeof d->name, "cli1");
	tuya_mqtt_password(d->sec_key, strlen(d->sec_key), d->pw);
	snprintf(d->topic_in, sizeof d->topic_in, "smart/device/in/%s", d->dev_id);
	snprintf(d->topic_out, sizeof d->topic_out, "smart/device/out/%s", d->dev_id);
}

static int import_api(void)
{
	char path[512], err[256] = "";
	snprintf(path, sizeof path, "%s/fakecloud.db", e.dir);
	struct fc_keystore *ks = fc_keystore_open(path, err, sizeof err);
	if (!ks) {
		fprintf(stderr, "keystore: %s\n", err);
		return -1;
	}
	int failures = 0;
	for (int i = 0; i < n_api; i++) {
		const struct dev *d = &devs[i];
		cJSON *secrets = cJSON_CreateObject(), *meta = cJSON_CreateObject();
		cJSON_AddStringToObject(secrets, "authKey", d->auth_key);
		cJSON_AddStringToObject(secrets, "secKey", d->sec_key);
		cJSON_AddStringToObject(secrets, "localKey", d->local_key);
		cJSON_AddStringToObject(meta, "devId", d->dev_id);
		cJSON_AddStringToObject(meta, "schema", bool_schema);
		if (fc_ks_device_put(ks, "tuya", d->uuid, d->name, secrets, meta) != FC_KS_OK ||
		    fc_ks_device_set_alias(ks, "tuya", d->uuid, d->dev_id) != FC_KS_OK) {
			if (failures++ < 5)
				fprintf(stderr, "keystore: cannot import %s\n", d->name);
		}
		cJSON_Delete(secrets);
		cJSON_Delete(meta);
	}
	fc_keystore_close(ks);
	return failures ? -1 : 0;
}

/* The CLI row must look like the API rows: same secrets (and only those), devId, schema, alias. */
static void check_cli_row(void)
{
	char path[512];
	snprintf(path, sizeof path, "%s/fakecloud.db", e.dir);
	struct fc_keystore *ks = fc_keystore_open(path, NULL, 0);
	CHECK(ks != NULL);
	if (!ks)
		return;
	const struct dev *cli = &devs[n_api], *api = &devs[0];
	struct fc_device_row a, b;
	CHECK_INT(fc_ks_device_get_by_alias(ks, "tuya", cli->dev_id, &a), FC_KS_OK);
	CHECK_INT(fc_ks_device_get_by_alias(ks, "tuya", api->dev_id, &b), FC_KS_OK);
	CHECK_STR(a.vid, cli->uuid);
	CHECK_STR(a.name, "cli1");
	CHECK(secret_is(a.secrets, "authKey", cli->auth_key) && secret_is(a.secrets, "secKey", cli->sec_key) &&
	      secret_is(a.secrets, "localKey", cli->local_key));
	CHECK_INT(cJSON_GetArraySize(a.secrets), cJSON_GetArraySize(b.secrets));
	CHECK(secret_is(a.meta, "devId", cli->dev_id) && secret_is(a.meta, "schema", bool_schema));
	CHECK(secret_is(b.meta, "devId", api->dev_id) && secret_is(b.meta, "schema", bool_schema));
	fc_device_row_free(&a);
	fc_device_row_free(&b);
	fc_keystore_close(ks);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static bool raise_nofile(int n)
{
	rlim_t need = (rlim_t)n * 3 + 256; /* per client: its socket and libmosquitto's socketpair */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return false;
	if (rl.rlim_cur >= need)
		return true;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		fprintf(stderr, "RLIMIT_NOFILE hard limit %llu is below the %llu this test needs for %d devices\n",
			(unsigned long long)rl.rlim_max, (unsigned long long)need, n);
		return false;
	}
	rl.rlim_cur = need;
	return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

/* The harness's MQTT client runs libmosquitto's select()-based loop, which gives up on a descriptor at or
 * above FD_SETSIZE (1024); with the fleet's three descriptors per device, an admin connected late
 * would get one above it. A few low descriptors stay reserved for the admin and are handed over while
 * the fleet makes no new connection attempts. */
#define RESERVED_FDS 8
static int reserved[RESERVED_FDS], n_reserved;

static void reserve_fds(void)
{
	while (n_reserved < RESERVED_FDS) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			break;
		reserved[n_reserved++] = fd;
	}
}

static void release_fds(void)
{
	while (n_reserved > 0)
		close(reserved[--n_reserved]);
}

/* The broker is a child of this process: it must not inherit the fleet's descriptors (a broker that
 * starts with ~3 per device already open is not the broker users run). */
static void cloexec_all(void)
{
	struct rlimit rl;
	int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 65536;
	for (int fd = 3; fd < max; fd++) {
		int fl = fcntl(fd, F_GETFD);
		if (fl >= 0 && !(fl & FD_CLOEXEC))
			fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
	}
}

static void admin_close(struct fc_mq *admin)
{
	if (!admin)
		return;
	fleet_hold(true);
	release_fds();
	fc_mq_close(admin);
	reserve_fds();
	fleet_hold(false);
}

static struct fc_mq *admin_connect(struct view *v, const char *id, int64_t fresh_after)
{
	fleet_hold(true);
	release_fds();
	struct fc_mq *admin = fc_mq_connect_admin(&e, id);
	reserve_fds();
	fleet_hold(false);
	CHECK(admin != NULL);
	if (!admin)
		return NULL;
	view_reset(v, fresh_after);
	CHECK_INT(fc_mq_subscribe(admin, "fakecloud/#", 0), 0);
	return admin;
}

/* Restart the broker after it stopped (SIGTERM) or died (SIGKILL); devices come back on their own. */
static struct fc_mq *restart(struct view *v, const char *phase, const char *admin_id, int starts)
{
	cloexec_all();
	int64_t fresh_after = wall_ms();
	int64_t t0 = fc_mono_ms();
	CHECK_INT(fc_env_start_broker(&e), 0);
	int64_t t_up = fc_mono_ms() - t0;
	struct fc_mq *admin = admin_connect(v, admin_id, fresh_after);
	if (!admin)
		return NULL;
	printf("restart-many: %-16s broker accepting connections after %lld ms\n", phase, (long long)t_up);
	wait_back(admin, v, phase, t0);
	char needle[64];
	snprintf(needle, sizeof needle, "hub: %d devices loaded", n_dev);
	CHECK_INT(fc_env_broker_log_count(&e, needle), starts);
	return admin;
}

int main(void)
{
	int64_t t_start = fc_mono_ms();
	const char *n_env = getenv("FC_RESTART_DEVICES");
	n_api = n_env && *n_env ? atoi(n_env) : DEFAULT_DEVICES;
	if (n_api < 1 || n_api > MAX_DEVICES) {
		fprintf(stderr, "FC_RESTART_DEVICES must be 1..%d\n", MAX_DEVICES);
		return 1;
	}
	n_dev = n_api + 1;
	if (!raise_nofile(n_dev))
		return 1;
	reserve_fds();
	mosquitto_lib_init();
	srand((unsigned)time(NULL));
	devs = calloc((size_t)n_dev, sizeof *devs);
	expected = calloc((size_t)n_dev, sizeof *expected);
	persisted = calloc((size_t)n_dev, sizeof *persisted);
	connects0 = calloc((size_t)n_dev, sizeof *connects0);
	struct view v = {.s = calloc((size_t)n_dev, sizeof(struct seen))};
	if (!devs || !expected || !persisted || !connects0 || !v.s)
		return 1;
	if (fc_env_init(&e, "restart-many", NULL) != 0)
		return 1;
	struct fc_mq *admin = NULL;
	bool fleet_running = false;

	/* ---- import: N through the keystore API, one through the CLI ---- */
	for (int i = 0; i < n_dev; i++) {
		make_device(&devs[i], i);
		expected[i] = i % 2;
		devs[i].value = expected[i];
	}
	int64_t t_imp = fc_mono_ms();
	CHECK_INT(import_api(), 0);
	char out[8192], schema_path[512];
	snprintf(schema_path, sizeof schema_path, "%s/schema.json", e.dir);
	write_file(schema_path, bool_schema);
	const struct dev *cli = &devs[n_api];
	int rc = fc_env_cli(&e, out, sizeof out,
			    "device add tuya --uuid %s --auth-key %s --dev-id %s --local-key %s --sec-key %s "
			    "--schema-file %s --name cli1",
			    cli->uuid, cli->auth_key, cli->dev_id, cli->local_key, cli->sec_key, schema_path);
	CHECK_INT(rc, 0);
	if (rc != 0)
		fprintf(stderr, "device add: %s\n", out);
	printf("restart-many: imported %d devices through the keystore and 1 through the CLI in %lld ms\n", n_api,
	       (long long)(fc_mono_ms() - t_imp));
	check_cli_row();
	check_keystore("after the import");

	/* ---- first start ---- */
	cloexec_all();
	int64_t t0 = fc_mono_ms();
	CHECK_INT(fc_env_start_broker(&e), 0);
	admin = admin_connect(&v, "admin0", wall_ms() - 60000);
	if (!admin)
		goto out;
	CHECK_INT(fleet_start(devs, n_dev, e.mqtt_port), 0);
	fleet_running = true;
	note_connects();
	if (!wait_back(admin, &v, "first start", t0))
		goto out;
	command_sample(admin, &v, "first start");
	live_change(admin, &v, "first start");

	/* ---- clean stop (SIGTERM) and restart ---- */
	admin_close(admin);
	admin = NULL;
	note_connects();
	for (int i = 0; i < n_dev; i++)
		persisted[i] = expected[i]; /* retained at the clean stop */
	have_persisted = true;
	CHECK_INT(fc_env_stop_broker(&e), 0);
	while_down("SIGTERM");
	admin = restart(&v, "SIGTERM restart", "admin1", 2);
	if (!admin)
		goto out;
	command_sample(admin, &v, "SIGTERM restart");
	live_change(admin, &v, "SIGTERM restart");

	/* ---- crash (SIGKILL) and restart ---- */
	admin_close(admin);
	admin = NULL;
	note_connects();
	CHECK_INT(fc_env_kill_broker(&e), 128 + 9);
	check_keystore("after the SIGKILL");
	while_down("SIGKILL");
	admin = restart(&v, "SIGKILL restart", "admin2", 3);
	if (!admin)
		goto out;
	command_sample(admin, &v, "SIGKILL restart");

	/* no device was ever refused: Tuya firmware takes a refused CONNECT for "unbound" */
	int refused = 0, sub_refused = 0;
	lock();
	for (int i = 0; i < n_dev; i++) {
		refused += devs[i].refused;
		sub_refused += devs[i].sub_refused;
	}
	unlock();
	CHECK_INT(refused, 0);
	CHECK_INT(sub_refused, 0);

	admin_close(admin);
	admin = NULL;
	fleet_stop();
	fleet_running = false;
	CHECK_INT(fc_env_stop_broker(&e), 0);
	check_keystore("at the end");
out:
	admin_close(admin);
	if (fleet_running)
		fleet_stop();
	printf("restart-many: total %lld ms\n", (long long)(fc_mono_ms() - t_start));
	fc_env_cleanup(&e);
	free(v.s);
	free(devs);
	free(expected);
	free(persisted);
	free(connects0);
	return t_done();
}
