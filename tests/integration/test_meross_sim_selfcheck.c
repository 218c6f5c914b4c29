/* Self-check of the Meross device simulator (tests/sim/meross_sim.c) against a plain mosquitto with a
 * TLS listener — NOT fakecloud. The test itself plays a minimal cloud with libmosquitto (fc_mq) and
 * checks the simulator's wire behaviour against the fact sheet: credentials, the boot sequence, Bind
 * SET repetition, sign checking (ERROR 5001), SETACK binding, replies, PUSHes, hostile input,
 * reconnection, and the per-kind namespaces. */
#include <cjson/cJSON.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "certs/certs.h"
#include "core/crypto.h"
#include "harness/harness.h"
#include "sim/meross_sim.h"
#include "unit/t.h"

#define WAIT 5000
#define KEY "testkey"
#define USER "1234"
#define MAC "34:29:8f:ff:ff:ff"
#define CLOUD_TOPIC "/cloud/test/subscribe"

static struct fc_env env;
static struct fc_mq *cloud;
static int refuse_port; /* TLS listener that refuses everybody */

static void msleep(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- broker ---- */

static bool write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return false;
	fputs(text, f);
	return fclose(f) == 0;
}

static int setup_broker(void)
{
	memset(&env, 0, sizeof env);
	snprintf(env.dir, sizeof env.dir, "/tmp/fc-meross-sim-XXXXXX");
	if (!mkdtemp(env.dir)) {
		perror("mkdtemp");
		return -1;
	}
	snprintf(env.mosq_conf, sizeof env.mosq_conf, "%s/mosquitto.conf", env.dir);
	snprintf(env.broker_log, sizeof env.broker_log, "%s/broker.log", env.dir);
	snprintf(env.ca_cert, sizeof env.ca_cert, "%s/ca.crt", env.dir);
	env.mqtt_port = fc_free_port();
	env.tls_port = fc_free_port();
	refuse_port = fc_free_port();

	char ca_key[300], crt[300], key[300], report[2048], err[256];
	snprintf(ca_key, sizeof ca_key, "%s/ca.key", env.dir);
	snprintf(crt, sizeof crt, "%s/server.crt", env.dir);
	snprintf(key, sizeof key, "%s/server.key", env.dir);
	const char *hosts[] = {"localhost"};
	const char *ips[] = {"127.0.0.1"};
	struct fc_certs_opts co = {.ca_cert = env.ca_cert, .ca_key = ca_key, .cert = crt, .key = key,
				   .hostnames = hosts, .n_hostnames = 1, .ips = ips, .n_ips = 1,
				   .owner_uid = -1, .owner_gid = -1};
	if (fc_certs_ensure(&co, report, sizeof report, err, sizeof err) < 0) {
		fprintf(stderr, "certs: %s\n", err);
		return -1;
	}
	struct passwd *pw = getpwuid(geteuid());
	char user_line[128] = "";
	if (geteuid() == 0)
		snprintf(user_line, sizeof user_line, "user %s\n", pw ? pw->pw_name : "root");
	char conf[4096];
	snprintf(conf, sizeof conf,
		 "%s"
		 "per_listener_settings true\n"
		 "log_dest stdout\n"
		 "log_type all\n"
		 "connection_messages true\n"
		 "listener %d 127.0.0.1\n"
		 "allow_anonymous true\n"
		 "listener %d 127.0.0.1\n"
		 "allow_anonymous true\n"
		 "cafile %s\n"
		 "certfile %s\n"
		 "keyfile %s\n"
		 /* refuses every client that presents a username: CONNACK 5 */
		 "listener %d 127.0.0.1\n"
		 "allow_anonymous false\n"
		 "cafile %s\n"
		 "certfile %s\n"
		 "keyfile %s\n",
		 user_line, env.mqtt_port, env.tls_port, env.ca_cert, crt, key, refuse_port, env.ca_cert, crt, key);
	if (!write_file(env.mosq_conf, conf))
		return -1;
	return fc_env_start_broker(&env);
}

/* ---- the minimal cloud ---- */

static void sign_of(const char *mid, const char *key, long long ts, char out[33])
{
	char in[256];
	snprintf(in, sizeof in, "%s%s%lld", mid, key, ts);
	fc_md5_hex(in, strlen(in), out);
}

static void new_mid(char out[33]) { fc_random_hex(out, 32); }

/* Publish a cloud message to the device's command topic. sign_key NULL = sign with a wrong key. */
static void cloud_send(const char *uuid, const char *method, const char *ns, const char *mid, const char *from,
		       const char *sign_key, const char *payload_json)
{
	long long ts = (long long)time(NULL);
	char sign[33];
	sign_of(mid, sign_key ? sign_key : "not-the-key", ts, sign);
	char msg[4096], topic[128];
	snprintf(msg, sizeof msg,
		 "{\"header\":{\"messageId\":\"%s\",\"namespace\":\"%s\",\"method\":\"%s\",\"payloadVersion\":1,"
		 "\"from\":\"%s\",\"triggerSrc\":\"CloudControl\",\"timestamp\":%lld,\"timestampMs\":0,\"sign\":\"%s\"},"
		 "\"payload\":%s}",
		 mid, ns, method, from, ts, sign, payload_json);
	snprintf(topic, sizeof topic, "/appliance/%s/subscribe", uuid);
	CHECK_INT(fc_mq_publish(cloud, topic, msg, 1, false), 0);
}

static const char *hstr(const cJSON *root, const char *k)
{
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(root, "header");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(h, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static long long hnum(const cJSON *root, const char *k)
{
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(root, "header");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(h, k);
	return cJSON_IsNumber(v) ? (long long)v->valuedouble : -1;
}

/* Value at a dotted path below root ("payload.all.system.hardware.type"); numeric segments index
 * arrays. */
static const cJSON *at(const cJSON *root, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof buf, "%s", path);
	const cJSON *cur = root;
	for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save)) {
		if (cJSON_IsArray(cur))
			cur = cJSON_GetArrayItem(cur, atoi(tok));
		else
			cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
	}
	return cur;
}

static const char *at_str(const cJSON *root, const char *path)
{
	const cJSON *v = at(root, path);
	return cJSON_IsString(v) ? v->valuestring : "(none)";
}

static long long at_num(const cJSON *root, const char *path)
{
	const cJSON *v = at(root, path);
	return cJSON_IsNumber(v) ? (long long)v->valuedouble : -999999;
}

/* Wait for a message on `topic` with namespace ns and method; messages of that namespace with another
 * method are dropped. Checks the device signature of whatever it returns. Returns the parsed root or
 * NULL. */
static cJSON *wait_msg(const char *topic, const char *ns, const char *method, int timeout_ms)
{
	char needle[160];
	snprintf(needle, sizeof needle, "\"namespace\":\"%s\"", ns);
	int64_t end = now_ms() + timeout_ms;
	for (;;) {
		int left = (int)(end - now_ms());
		if (left <= 0)
			return NULL;
		struct fc_mq_msg m;
		if (!fc_mq_wait_payload(cloud, topic, needle, left, &m))
			return NULL;
		cJSON *root = cJSON_Parse(m.payload);
		fc_mq_msg_free(&m);
		if (root && strcmp(hstr(root, "method"), method) == 0) {
			char want[33];
			sign_of(hstr(root, "messageId"), KEY, hnum(root, "timestamp"), want);
			CHECK_STR(hstr(root, "sign"), want);
			return root;
		}
		cJSON_Delete(root);
	}
}

static void sim_opts(struct meross_sim_opts *o, enum meross_sim_kind kind, const char *uuid)
{
	meross_sim_opts_init(o, kind);
	snprintf(o->uuid, sizeof o->uuid, "%s", uuid);
	snprintf(o->mac, sizeof o->mac, "%s", MAC);
	snprintf(o->user_id, sizeof o->user_id, "%s", USER);
	snprintf(o->key, sizeof o->key, "%s", KEY);
	o->port = env.tls_port;
	o->bind_retry_ms = 700;
	o->reconnect_ms = 300;
}

static void topics(const char *uuid, char *pub, char *sub)
{
	snprintf(pub, 96, "/appliance/%s/publish", uuid);
	snprintf(sub, 96, "/appliance/%s/subscribe", uuid);
}

/* Answer the first Bind SET correctly; returns true when the simulator reports bound. */
static bool bind_it(struct meross_sim *s, const char *uuid)
{
	char pub[96], sub[96];
	topics(uuid, pub, sub);
	cJSON *b = wait_msg(pub, "Appliance.Control.Bind", "SET", WAIT);
	CHECK(b != NULL);
	if (!b)
		return false;
	cloud_send(uuid, "SETACK", "Appliance.Control.Bind", hstr(b, "messageId"), pub, KEY, "{}");
	cJSON_Delete(b);
	return meross_sim_wait_bound(s, WAIT);
}

/* ---- PLUG: the full session ---- */

static void test_plug(void)
{
	const char *uuid = "2012317778118925583748e1e943e9bc";
	char pub[96], sub[96];
	topics(uuid, pub, sub);
	fc_mq_drain(cloud);
	struct meross_sim_opts o;
	sim_opts(&o, MEROSS_SIM_PLUG, uuid);
	int log_before = fc_env_broker_log_count(&env, "New client connected");
	struct meross_sim *s = meross_sim_start(&o);
	CHECK(s != NULL);
	if (!s)
		return;

	/* credentials (§1): password example from the sheet (user 1234, key testkey, mac 34:29:8f:ff:ff:ff) */
	char pw[160], cid[128];
	meross_sim_password(s, pw, sizeof pw);
	CHECK_STR(pw, "1234_5ac868a81f2f21b4a87f7d2bb3467cb5");
	meross_sim_client_id(s, cid, sizeof cid);
	CHECK_INT(strlen(cid), 7 + 32 + 1 + 16);
	CHECK(strncmp(cid, "fmware:2012317778118925583748e1e943e9bc_", 40) == 0);
	char line[256];
	snprintf(line, sizeof line, "as %s (p1, c1, k30, u'" MAC "')", cid);
	CHECK(fc_env_wait_broker_log(&env, line, 1, WAIT));
	CHECK(fc_env_wait_broker_log(&env, "New client connected", log_before + 1, WAIT));
	snprintf(line, sizeof line, "%s 1 %s", cid, sub); /* "<id> 1 <topic>": SUBSCRIBE with QoS 1 */
	CHECK(fc_env_wait_broker_log(&env, line, 1, WAIT));

	/* boot sequence: Clock PUSH (uptime timestamp), then Bind SET */
	cJSON *clock = wait_msg(pub, "Appliance.System.Clock", "PUSH", WAIT);
	CHECK(clock != NULL);
	if (clock) {
		CHECK(at_num(clock, "payload.clock.timestamp") < 1000);
		CHECK(hnum(clock, "timestamp") < 1000);
		CHECK_STR(hstr(clock, "from"), pub);
	}
	cJSON *b1 = wait_msg(pub, "Appliance.Control.Bind", "SET", WAIT);
	CHECK(b1 != NULL);
	if (b1) {
		CHECK_STR(hstr(b1, "from"), sub);
		CHECK_STR(hstr(b1, "triggerSrc"), "DevBoot");
		CHECK_INT(hnum(b1, "payloadVersion"), 1);
		CHECK_INT(strlen(hstr(b1, "messageId")), 32);
		CHECK_STR(at_str(b1, "payload.bind.hardware.type"), "mss110");
		CHECK_STR(at_str(b1, "payload.bind.hardware.uuid"), uuid);
		CHECK_STR(at_str(b1, "payload.bind.hardware.macAddress"), MAC);
		CHECK(at(b1, "payload.bind.hardware.subType") && at(b1, "payload.bind.hardware.version") &&
		      at(b1, "payload.bind.hardware.chipType"));
		CHECK_INT(at_num(b1, "payload.bind.firmware.userId"), 1234);
		CHECK_STR(at_str(b1, "payload.bind.firmware.server"), "127.0.0.1");
		CHECK_INT(at_num(b1, "payload.bind.firmware.port"), env.tls_port);
		CHECK_STR(at_str(b1, "payload.bind.firmware.innerIp"), "127.0.0.1");
		CHECK(cJSON_IsString(at(b1, "payload.bind.firmware.version")));
		CHECK(cJSON_IsNumber(at(b1, "payload.bind.bindTime")));
		CHECK(cJSON_IsArray(at(b1, "payload.bind.time.timeRule")));
	}
	/* repeated every bind_retry_ms while unanswered (timed on two fresh arrivals) */
	fc_mq_drain(cloud);
	cJSON *b2 = wait_msg(pub, "Appliance.Control.Bind", "SET", WAIT);
	int64_t t2 = now_ms();
	cJSON_Delete(b2);
	b2 = wait_msg(pub, "Appliance.Control.Bind", "SET", WAIT);
	CHECK(b2 != NULL);
	int64_t gap = now_ms() - t2;
	CHECK(gap >= 500 && gap <= 1200);
	if (b1 && b2)
		CHECK(strcmp(hstr(b1, "messageId"), hstr(b2, "messageId")) != 0);
	CHECK(!meross_sim_is_bound(s));

	/* a wrongly signed SETACK: ERROR 5001 to header.from, not bound */
	char mid[33];
	if (b2) {
		cloud_send(uuid, "SETACK", "Appliance.Control.Bind", hstr(b2, "messageId"), CLOUD_TOPIC, NULL, "{}");
		cJSON *e = wait_msg(CLOUD_TOPIC, "Appliance.Control.Bind", "ERROR", WAIT);
		CHECK(e != NULL);
		if (e) {
			CHECK_STR(hstr(e, "messageId"), hstr(b2, "messageId"));
			CHECK_INT(at_num(e, "payload.error.code"), 5001);
			CHECK_STR(at_str(e, "payload.error.detail"), "sign error");
			CHECK_STR(hstr(e, "from"), pub);
			cJSON_Delete(e);
		}
		CHECK(meross_sim_wait_counter(s, MSC_BAD_SIGN, 1, WAIT));
		CHECK(!meross_sim_wait_bound(s, 300));
		CHECK_INT(meross_sim_counter(s, MSC_SETACK_OK), 0);
	}
	/* a SETACK with no sign at all is a bad sign too */
	new_mid(mid);
	{
		char msg[512], topic[128];
		snprintf(msg, sizeof msg,
			 "{\"header\":{\"messageId\":\"%s\",\"namespace\":\"Appliance.Control.Bind\",\"method\":\"SETACK\","
			 "\"payloadVersion\":1,\"from\":\"%s\",\"timestamp\":12},\"payload\":{}}",
			 mid, CLOUD_TOPIC);
		snprintf(topic, sizeof topic, "/appliance/%s/subscribe", uuid);
		fc_mq_publish(cloud, topic, msg, 1, false);
		CHECK(meross_sim_wait_counter(s, MSC_BAD_SIGN, 2, WAIT));
		CHECK(!meross_sim_is_bound(s));
	}

	/* Clock reply: the device's own header echoed back, payload = now (§3.2) */
	if (clock) {
		cJSON *h = cJSON_GetObjectItemCaseSensitive(clock, "header");
		cJSON_DeleteItemFromObjectCaseSensitive(h, "uuid");
		cJSON_DeleteItemFromObjectCaseSensitive(h, "triggerSrc");
		cJSON_AddStringToObject(h, "triggerSrc", "CloudControl");
		cJSON *p = cJSON_GetObjectItemCaseSensitive(clock, "payload");
		cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "clock"), "timestamp",
						       cJSON_CreateNumber((double)time(NULL)));
		char *txt = cJSON_PrintUnformatted(clock);
		fc_mq_publish(cloud, sub, txt, 1, false);
		cJSON_free(txt);
		CHECK(meross_sim_wait_counter(s, MSC_CLOCK_REPLIES, 1, WAIT));
	}

	/* correct SETACK (new messageId and a foreign from, like the local broker add-on) binds */
	int64_t attempts = meross_sim_counter(s, MSC_BIND_ATTEMPTS);
	CHECK(attempts >= 2);
	new_mid(mid);
	cloud_send(uuid, "SETACK", "Appliance.Control.Bind", mid, "/cloud/hook/subscribe", KEY, "{}");
	CHECK(meross_sim_wait_bound(s, WAIT));
	CHECK_INT(meross_sim_counter(s, MSC_SETACK_OK), 1);
	attempts = meross_sim_counter(s, MSC_BIND_ATTEMPTS);
	msleep(1600);
	CHECK_INT(meross_sim_counter(s, MSC_BIND_ATTEMPTS), attempts);
	fc_mq_drain(cloud);

	/* GET System.All */
	new_mid(mid);
	cloud_send(uuid, "GET", "Appliance.System.All", mid, CLOUD_TOPIC, KEY, "{}");
	cJSON *all = wait_msg(CLOUD_TOPIC, "Appliance.System.All", "GETACK", WAIT);
	CHECK(all != NULL);
	if (all) {
		CHECK_STR(hstr(all, "messageId"), mid);
		CHECK_STR(hstr(all, "from"), pub);
		CHECK_STR(at_str(all, "payload.all.system.hardware.type"), "mss110");
		CHECK_STR(at_str(all, "payload.all.system.hardware.uuid"), uuid);
		CHECK_STR(at_str(all, "payload.all.system.hardware.macAddress"), MAC);
		CHECK_INT(at_num(all, "payload.all.system.firmware.userId"), 1234);
		CHECK_INT(at_num(all, "payload.all.system.online.status"), 1);
		CHECK(at_num(all, "payload.all.system.time.timestamp") > 1600000000); /* synced by the Clock reply */
		CHECK_INT(cJSON_GetArraySize(at(all, "payload.all.digest.togglex")), 1);
		CHECK_INT(at_num(all, "payload.all.digest.togglex.0.channel"), 0);
		CHECK_INT(at_num(all, "payload.all.digest.togglex.0.onoff"), 0);
		cJSON_Delete(all);
	}
	/* an unusable header.from (wildcard) falls back to the device's publish topic */
	new_mid(mid);
	cloud_send(uuid, "GET", "Appliance.System.Online", mid, "/cloud/+/x", KEY, "{}");
	cJSON *on = wait_msg(pub, "Appliance.System.Online", "GETACK", WAIT);
	CHECK(on != NULL);
	if (on) {
		CHECK_STR(hstr(on, "messageId"), mid);
		CHECK_INT(at_num(on, "payload.online.status"), 1);
		cJSON_Delete(on);
	}
	/* GET Ability */
	new_mid(mid);
	cloud_send(uuid, "GET", "Appliance.System.Ability", mid, CLOUD_TOPIC, KEY, "{}");
	cJSON *ab = wait_msg(CLOUD_TOPIC, "Appliance.System.Ability", "GETACK", WAIT);
	CHECK(ab != NULL);
	if (ab) {
		const cJSON *a = at(ab, "payload.ability");
		CHECK(cJSON_GetObjectItemCaseSensitive(a, "Appliance.Control.ToggleX") != NULL);
		CHECK(cJSON_GetObjectItemCaseSensitive(a, "Appliance.System.All") != NULL);
		CHECK(cJSON_GetObjectItemCaseSensitive(a, "Appliance.Control.Bind") != NULL);
		CHECK(cJSON_GetObjectItemCaseSensitive(a, "Appliance.System.Time") != NULL);
		CHECK(cJSON_GetObjectItemCaseSensitive(a, "Appliance.Control.Electricity") == NULL);
		CHECK(cJSON_GetObjectItemCaseSensitive(a, "Appliance.Control.Toggle") == NULL);
		cJSON_Delete(ab);
	}

	/* SET ToggleX: SETACK {} to from, then PUSH of the new state */
	new_mid(mid);
	cloud_send(uuid, "SET", "Appliance.Control.ToggleX", mid, CLOUD_TOPIC, KEY,
		   "{\"togglex\":{\"channel\":0,\"onoff\":1}}");
	cJSON *ack = wait_msg(CLOUD_TOPIC, "Appliance.Control.ToggleX", "SETACK", WAIT);
	CHECK(ack != NULL);
	if (ack) {
		CHECK_STR(hstr(ack, "messageId"), mid);
		CHECK_INT(cJSON_GetArraySize(at(ack, "payload")), 0);
		cJSON_Delete(ack);
	}
	cJSON *push = wait_msg(pub, "Appliance.Control.ToggleX", "PUSH", WAIT);
	CHECK(push != NULL);
	if (push) {
		CHECK_INT(at_num(push, "payload.togglex.0.channel"), 0);
		CHECK_INT(at_num(push, "payload.togglex.0.onoff"), 1);
		CHECK(at_num(push, "payload.togglex.0.lmTime") > 1600000000);
		cJSON_Delete(push);
	}
	CHECK_INT(meross_sim_onoff(s, 0), 1);
	CHECK_INT(meross_sim_count(s, "SET", "Appliance.Control.ToggleX"), 1);
	/* list form */
	new_mid(mid);
	cloud_send(uuid, "SET", "Appliance.Control.ToggleX", mid, CLOUD_TOPIC, KEY,
		   "{\"togglex\":[{\"channel\":0,\"onoff\":0}]}");
	CHECK((ack = wait_msg(CLOUD_TOPIC, "Appliance.Control.ToggleX", "SETACK", WAIT)) != NULL);
	cJSON_Delete(ack);
	CHECK((push = wait_msg(pub, "Appliance.Control.ToggleX", "PUSH", WAIT)) != NULL);
	cJSON_Delete(push);
	CHECK_INT(meross_sim_onoff(s, 0), 0);
	/* invalid channel: ERROR, no change */
	new_mid(mid);
	cloud_send(uuid, "SET", "Appliance.Control.ToggleX", mid, CLOUD_TOPIC, KEY,
		   "{\"togglex\":{\"channel\":3,\"onoff\":1}}");
	cJSON *err = wait_msg(CLOUD_TOPIC, "Appliance.Control.ToggleX", "ERROR", WAIT);
	CHECK(err != NULL);
	cJSON_Delete(err);
	CHECK_INT(meross_sim_onoff(s, 0), 0);

	/* button press: PUSH with triggerSrc Device */
	CHECK_INT(meross_sim_press(s, 0), 1);
	push = wait_msg(pub, "Appliance.Control.ToggleX", "PUSH", WAIT);
	CHECK(push != NULL);
	if (push) {
		CHECK_STR(hstr(push, "triggerSrc"), "Device");
		CHECK_INT(at_num(push, "payload.togglex.0.onoff"), 1);
		cJSON_Delete(push);
	}
	/* GET ToggleX */
	new_mid(mid);
	cloud_send(uuid, "GET", "Appliance.Control.ToggleX", mid, CLOUD_TOPIC, KEY, "{\"togglex\":[]}");
	cJSON *g = wait_msg(CLOUD_TOPIC, "Appliance.Control.ToggleX", "GETACK", WAIT);
	CHECK(g != NULL);
	if (g) {
		CHECK_INT(at_num(g, "payload.togglex.0.onoff"), 1);
		cJSON_Delete(g);
	}

	/* SET System.Time */
	new_mid(mid);
	cloud_send(uuid, "SET", "Appliance.System.Time", mid, CLOUD_TOPIC, KEY,
		   "{\"time\":{\"timestamp\":1714061186,\"timezone\":\"Europe/Rome\","
		   "\"timeRule\":[[1711846800,7200,1],[1729990800,3600,0]]}}");
	CHECK((ack = wait_msg(CLOUD_TOPIC, "Appliance.System.Time", "SETACK", WAIT)) != NULL);
	cJSON_Delete(ack);
	char tz[64];
	int64_t tts = 0;
	meross_sim_get_time(s, tz, sizeof tz, &tts);
	CHECK_STR(tz, "Europe/Rome");
	CHECK_INT(tts, 1714061186);

	/* unknown namespace: ERROR with the (undocumented) generic code */
	new_mid(mid);
	cloud_send(uuid, "GET", "Appliance.Control.Spray", mid, CLOUD_TOPIC, KEY, "{}");
	err = wait_msg(CLOUD_TOPIC, "Appliance.Control.Spray", "ERROR", WAIT);
	CHECK(err != NULL);
	if (err) {
		CHECK_INT(at_num(err, "payload.error.code"), 5000);
		CHECK_STR(hstr(err, "messageId"), mid);
		cJSON_Delete(err);
	}
	CHECK_INT(meross_sim_counter(s, MSC_UNKNOWN_NS), 1);

	/* bad sign on a command: ERROR 5001, state untouched */
	new_mid(mid);
	cloud_send(uuid, "SET", "Appliance.Control.ToggleX", mid, CLOUD_TOPIC, NULL,
		   "{\"togglex\":{\"channel\":0,\"onoff\":0}}");
	err = wait_msg(CLOUD_TOPIC, "Appliance.Control.ToggleX", "ERROR", WAIT);
	CHECK(err != NULL);
	if (err) {
		CHECK_INT(at_num(err, "payload.error.code"), 5001);
		cJSON_Delete(err);
	}
	CHECK_INT(meross_sim_onoff(s, 0), 1);
	/* no from: the ERROR goes to the device's publish topic */
	{
		long long ts = (long long)time(NULL);
		char sign[33], msg[512];
		new_mid(mid);
		sign_of(mid, "wrong", ts, sign);
		snprintf(msg, sizeof msg,
			 "{\"header\":{\"messageId\":\"%s\",\"namespace\":\"Appliance.System.All\",\"method\":\"GET\","
			 "\"payloadVersion\":1,\"timestamp\":%lld,\"sign\":\"%s\"},\"payload\":{}}",
			 mid, ts, sign);
		fc_mq_publish(cloud, sub, msg, 1, false);
		err = wait_msg(pub, "Appliance.System.All", "ERROR", WAIT);
		CHECK(err != NULL);
		if (err)
			CHECK_STR(hstr(err, "messageId"), mid);
		cJSON_Delete(err);
	}

	/* hostile input: ignored and counted, no reply, no crash */
	long malformed = meross_sim_counter(s, MSC_MALFORMED);
	const char *junk[] = {
		"", "not json", "{", "[]", "null", "{\"header\":1,\"payload\":{}}",
		"{\"header\":{\"namespace\":\"x\"},\"payload\":{}}",
		("{\"header\":{\"messageId\":\"a\",\"namespace\":\"Appliance.System.All\",\"method\":\"GET\","
		 "\"timestamp\":1,\"sign\":\"x\"},\"payload\":{}} trailing"),
		"{\"header\":{\"messageId\":\"a\",\"namespace\":\"Appliance.System.All\",\"method\":\"GET\"},\"payload\":[]}",
	};
	size_t nj = sizeof junk / sizeof junk[0];
	for (size_t i = 0; i < nj; i++)
		fc_mq_publish(cloud, sub, junk[i], 1, false);
	char *deep = malloc(200001);
	if (deep) {
		memset(deep, '[', 200000);
		deep[200000] = 0;
		fc_mq_publish(cloud, sub, deep, 1, false); /* oversize */
		deep[3000] = 0;
		fc_mq_publish(cloud, sub, deep, 1, false); /* too deep for cJSON */
		free(deep);
	}
	/* a non-finite timestamp cannot be verified: a bad sign, not a crash */
	fc_mq_publish(cloud, sub,
		      "{\"header\":{\"messageId\":\"a\",\"namespace\":\"Appliance.System.All\",\"method\":\"GET\","
		      "\"timestamp\":1e400,\"sign\":\"00000000000000000000000000000000\"},\"payload\":{}}",
		      1, false);
	CHECK(meross_sim_wait_counter(s, MSC_MALFORMED, malformed + (long)nj + 2, WAIT));
	CHECK(meross_sim_is_connected(s));
	CHECK(meross_sim_is_bound(s));

	/* reconnect after a drop: the whole sequence starts over */
	fc_mq_drain(cloud);
	meross_sim_drop(s);
	CHECK(meross_sim_wait_counter(s, MSC_CONNECTS, 2, WAIT));
	cJSON_Delete(clock);
	clock = wait_msg(pub, "Appliance.System.Clock", "PUSH", WAIT);
	CHECK(clock != NULL);
	CHECK(bind_it(s, uuid));
	CHECK_INT(meross_sim_counter(s, MSC_DISCONNECTS), 1);

	/* broker restart: reconnect + rebind */
	CHECK_INT(fc_env_stop_broker(&env), 0);
	CHECK(meross_sim_wait_counter(s, MSC_DISCONNECTS, 2, WAIT));
	CHECK(!meross_sim_is_bound(s));
	CHECK_INT(fc_env_start_broker(&env), 0);
	fc_mq_close(cloud);
	cloud = fc_mq_connect(&env, "cloud-test", NULL, NULL, 4, NULL);
	CHECK(cloud != NULL);
	if (cloud) {
		CHECK(fc_mq_subscribe(cloud, "/appliance/+/publish", 1) == 1);
		CHECK(fc_mq_subscribe(cloud, "/cloud/#", 1) == 1);
		CHECK(meross_sim_wait_counter(s, MSC_CONNECTS, 3, 3 * WAIT));
		CHECK(bind_it(s, uuid));
	}
	char last[256];
	meross_sim_last_error(s, last, sizeof last);
	printf("plug: last error \"%s\", %ld connects, %ld connect failures, %ld dropped\n", last,
	       meross_sim_counter(s, MSC_CONNECTS), meross_sim_counter(s, MSC_CONNECT_FAILS),
	       meross_sim_counter(s, MSC_DROPPED));
	cJSON_Delete(clock);
	cJSON_Delete(b1);
	cJSON_Delete(b2);
	meross_sim_stop(s);
}

/* ---- STRIP: ConsumptionConfig, Electricity, 4 channels ---- */

static void test_strip(void)
{
	const char *uuid = "1901180458122325104834298f1a4b07";
	char pub[96], sub[96], mid[33];
	topics(uuid, pub, sub);
	fc_mq_drain(cloud);
	struct meross_sim_opts o;
	sim_opts(&o, MEROSS_SIM_STRIP, uuid);
	o.protocol = 4;
	o.pub_qos = 1;
	struct meross_sim *s = meross_sim_start(&o);
	CHECK(s != NULL);
	if (!s)
		return;
	char cid[128], line[256];
	meross_sim_client_id(s, cid, sizeof cid);
	snprintf(line, sizeof line, "as %s (p2, c1, k30, u'" MAC "')", cid);
	CHECK(fc_env_wait_broker_log(&env, line, 1, WAIT));

	cJSON *cc = wait_msg(pub, "Appliance.Control.ConsumptionConfig", "PUSH", WAIT);
	CHECK(cc != NULL);
	if (cc) {
		CHECK_INT(at_num(cc, "payload.config.voltageRatio"), 188);
		char *txt = cJSON_PrintUnformatted(cc); /* echo: same header, same payload */
		fc_mq_publish(cloud, sub, txt, 1, false);
		cJSON_free(txt);
		CHECK(meross_sim_wait_counter(s, MSC_CONSUMPTION_CONFIG_REPLIES, 1, WAIT));
		cJSON_Delete(cc);
	}
	CHECK(bind_it(s, uuid));
	CHECK_INT(meross_sim_counter(s, MSC_CLOCK_REPLIES), 0);

	new_mid(mid);
	cloud_send(uuid, "GET", "Appliance.System.All", mid, CLOUD_TOPIC, KEY, "{}");
	cJSON *all = wait_msg(CLOUD_TOPIC, "Appliance.System.All", "GETACK", WAIT);
	CHECK(all != NULL);
	if (all) {
		CHECK_INT(cJSON_GetArraySize(at(all, "payload.all.digest.togglex")), 4);
		CHECK_INT(at_num(all, "payload.all.digest.togglex.3.channel"), 3);
		cJSON_Delete(all);
	}
	new_mid(mid);
	cloud_send(uuid, "SET", "Appliance.Control.ToggleX", mid, CLOUD_TOPIC, KEY,
		   "{\"togglex\":[{\"channel\":1,\"onoff\":1},{\"channel\":3,\"onoff\":1}]}");
	cJSON *push = wait_msg(pub, "Appliance.Control.ToggleX", "PUSH", WAIT);
	CHECK(push != NULL);
	if (push) {
		CHECK_INT(cJSON_GetArraySize(at(push, "payload.togglex")), 2);
		CHECK_INT(at_num(push, "payload.togglex.1.channel"), 3);
		cJSON_Delete(push);
	}
	CHECK(meross_sim_onoff(s, 0) == 0 && meross_sim_onoff(s, 1) == 1 && meross_sim_onoff(s, 2) == 0 &&
	      meross_sim_onoff(s, 3) == 1);
	CHECK_INT(meross_sim_onoff(s, 4), -1);

	CHECK_INT(meross_sim_set_power(s, 1234, 2301, 283000), 0);
	const char *forms[] = {"{\"electricity\":{\"channel\":0}}", "{\"channel\":0}", "{\"electricity\":{}}"};
	for (int i = 0; i < 3; i++) {
		new_mid(mid);
		cloud_send(uuid, "GET", "Appliance.Control.Electricity", mid, CLOUD_TOPIC, KEY, forms[i]);
		cJSON *e = wait_msg(CLOUD_TOPIC, "Appliance.Control.Electricity", "GETACK", WAIT);
		CHECK(e != NULL);
		if (e) {
			CHECK_INT(at_num(e, "payload.electricity.current"), 1234);
			CHECK_INT(at_num(e, "payload.electricity.voltage"), 2301);
			CHECK_INT(at_num(e, "payload.electricity.power"), 283000);
			cJSON_Delete(e);
		}
	}
	new_mid(mid);
	cloud_send(uuid, "GET", "Appliance.Control.ConsumptionX", mid, CLOUD_TOPIC, KEY, "{}");
	cJSON *cx = wait_msg(CLOUD_TOPIC, "Appliance.Control.ConsumptionX", "GETACK", WAIT);
	CHECK(cx != NULL);
	if (cx) {
		CHECK_INT(cJSON_GetArraySize(at(cx, "payload.consumptionx")), 3);
		CHECK_INT(strlen(at_str(cx, "payload.consumptionx.0.date")), 10);
		cJSON_Delete(cx);
	}
	new_mid(mid);
	cloud_send(uuid, "GET", "Appliance.System.Ability", mid, CLOUD_TOPIC, KEY, "{}");
	cJSON *ab = wait_msg(CLOUD_TOPIC, "Appliance.System.Ability", "GETACK", WAIT);
	CHECK(ab != NULL);
	if (ab) {
		CHECK(at(ab, "payload.ability.Appliance") == NULL); /* dotted path helper sanity */
		const cJSON *a = at(ab, "payload.ability");
		CHECK(cJSON_GetObjectItemCaseSensitive(a, "Appliance.Control.Electricity") != NULL);
		CHECK(cJSON_GetObjectItemCaseSensitive(a, "Appliance.Control.ConsumptionX") != NULL);
		CHECK(cJSON_GetObjectItemCaseSensitive(a, "Appliance.Control.ConsumptionConfig") != NULL);
		cJSON_Delete(ab);
	}
	meross_sim_stop(s);
}

/* ---- BULB: Light ---- */

static void test_bulb(void)
{
	const char *uuid = "1811229858774625185248e1e91abcde";
	char pub[96], sub[96], mid[33];
	topics(uuid, pub, sub);
	fc_mq_drain(cloud);
	struct meross_sim_opts o;
	sim_opts(&o, MEROSS_SIM_BULB, uuid);
	o.ca_file = env.ca_cert; /* verifying path: the server certificate has SAN 127.0.0.1 */
	struct meross_sim *s = meross_sim_start(&o);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(bind_it(s, uuid));
	new_mid(mid);
	cloud_send(uuid, "SET", "Appliance.Control.Light", mid, CLOUD_TOPIC, KEY,
		   "{\"light\":{\"channel\":0,\"capacity\":5,\"rgb\":255,\"luminance\":30,\"temperature\":99,"
		   "\"gradual\":0}}");
	cJSON *ack = wait_msg(CLOUD_TOPIC, "Appliance.Control.Light", "SETACK", WAIT);
	CHECK(ack != NULL);
	cJSON_Delete(ack);
	struct meross_sim_light l;
	CHECK_INT(meross_sim_get_light(s, &l), 0);
	CHECK_INT(l.rgb, 255);
	CHECK_INT(l.luminance, 30);
	CHECK_INT(l.temperature, 50); /* capacity 5 = rgb|luminance: temperature not applied */
	CHECK_INT(l.capacity, 5);
	cJSON *push = wait_msg(pub, "Appliance.Control.Light", "PUSH", WAIT);
	CHECK(push != NULL);
	if (push) {
		CHECK_INT(at_num(push, "payload.light.rgb"), 255);
		cJSON_Delete(push);
	}
	new_mid(mid);
	cloud_send(uuid, "GET", "Appliance.Control.Light", mid, CLOUD_TOPIC, KEY, "{}");
	cJSON *g = wait_msg(CLOUD_TOPIC, "Appliance.Control.Light", "GETACK", WAIT);
	CHECK(g != NULL);
	if (g) {
		CHECK_INT(at_num(g, "payload.light.luminance"), 30);
		cJSON_Delete(g);
	}
	new_mid(mid);
	cloud_send(uuid, "GET", "Appliance.System.Ability", mid, CLOUD_TOPIC, KEY, "{}");
	cJSON *ab = wait_msg(CLOUD_TOPIC, "Appliance.System.Ability", "GETACK", WAIT);
	CHECK(ab != NULL);
	if (ab) {
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(at(ab, "payload.ability"), "Appliance.Control.Light");
		CHECK_INT(at_num(a, "capacity"), 7);
		cJSON_Delete(ab);
	}
	meross_sim_stop(s);

	/* a CA that did not sign the server certificate: the verifying device cannot connect */
	char dir2[300], ca2[340], ca2k[340], c2[340], k2[340], err[256];
	snprintf(dir2, sizeof dir2, "%s/other", env.dir);
	mkdir(dir2, 0700);
	snprintf(ca2, sizeof ca2, "%s/ca.crt", dir2);
	snprintf(ca2k, sizeof ca2k, "%s/ca.key", dir2);
	snprintf(c2, sizeof c2, "%s/server.crt", dir2);
	snprintf(k2, sizeof k2, "%s/server.key", dir2);
	const char *ips[] = {"127.0.0.1"};
	struct fc_certs_opts co = {.ca_cert = ca2, .ca_key = ca2k, .cert = c2, .key = k2, .ips = ips, .n_ips = 1,
				   .ec = true, .owner_uid = -1, .owner_gid = -1};
	CHECK(fc_certs_ensure(&co, NULL, 0, err, sizeof err) >= 0);
	o.ca_file = ca2;
	s = meross_sim_start(&o);
	CHECK(s != NULL);
	if (s) {
		CHECK(meross_sim_wait_counter(s, MSC_CONNECT_FAILS, 1, WAIT));
		CHECK_INT(meross_sim_counter(s, MSC_CONNECTS), 0);
		char last[256];
		meross_sim_last_error(s, last, sizeof last);
		printf("bulb with a foreign CA: \"%s\"\n", last);
		meross_sim_stop(s);
	}
}

/* ---- legacy Toggle ---- */

static void test_legacy(void)
{
	const char *uuid = "1711111111111111111134298f000001";
	char pub[96], sub[96], mid[33];
	topics(uuid, pub, sub);
	fc_mq_drain(cloud);
	struct meross_sim_opts o;
	sim_opts(&o, MEROSS_SIM_PLUG, uuid);
	o.legacy_toggle = true;
	struct meross_sim *s = meross_sim_start(&o);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(bind_it(s, uuid));
	new_mid(mid);
	cloud_send(uuid, "SET", "Appliance.Control.Toggle", mid, CLOUD_TOPIC, KEY,
		   "{\"channel\":0,\"toggle\":{\"onoff\":1}}");
	cJSON *push = wait_msg(pub, "Appliance.Control.Toggle", "PUSH", WAIT);
	CHECK(push != NULL);
	if (push) {
		CHECK_INT(at_num(push, "payload.toggle.onoff"), 1);
		cJSON_Delete(push);
	}
	CHECK_INT(meross_sim_onoff(s, 0), 1);
	new_mid(mid);
	cloud_send(uuid, "GET", "Appliance.System.All", mid, CLOUD_TOPIC, KEY, "{}");
	cJSON *all = wait_msg(CLOUD_TOPIC, "Appliance.System.All", "GETACK", WAIT);
	CHECK(all != NULL);
	if (all) {
		CHECK_INT(at_num(all, "payload.all.control.toggle.onoff"), 1);
		CHECK(at(all, "payload.all.digest") == NULL);
		cJSON_Delete(all);
	}
	new_mid(mid);
	cloud_send(uuid, "SET", "Appliance.Control.ToggleX", mid, CLOUD_TOPIC, KEY,
		   "{\"togglex\":{\"channel\":0,\"onoff\":0}}");
	cJSON *err = wait_msg(CLOUD_TOPIC, "Appliance.Control.ToggleX", "ERROR", WAIT);
	CHECK(err != NULL);
	cJSON_Delete(err);
	CHECK_INT(meross_sim_press(s, 0), 0);
	push = wait_msg(pub, "Appliance.Control.Toggle", "PUSH", WAIT);
	CHECK(push != NULL);
	if (push) {
		CHECK_INT(at_num(push, "payload.toggle.onoff"), 0);
		cJSON_Delete(push);
	}
	/* Unbind PUSH: factory reset, the device leaves and does not come back */
	new_mid(mid);
	cloud_send(uuid, "PUSH", "Appliance.Control.Unbind", mid, CLOUD_TOPIC, KEY, "{}");
	CHECK(meross_sim_wait_counter(s, MSC_UNBINDS, 1, WAIT));
	CHECK(meross_sim_wait_counter(s, MSC_DISCONNECTS, 1, WAIT));
	msleep(1000);
	CHECK_INT(meross_sim_counter(s, MSC_CONNECTS), 1);
	CHECK(!meross_sim_is_connected(s));
	meross_sim_stop(s);
}

/* ---- HUB: SubdeviceList needReply, Hub.* ---- */

static void test_hub(void)
{
	const char *uuid = "1910236220872426280248e1e9108feb";
	char pub[96], sub[96], mid[33];
	topics(uuid, pub, sub);
	fc_mq_drain(cloud);
	struct meross_sim_opts o;
	sim_opts(&o, MEROSS_SIM_HUB, uuid);
	struct meross_sim *s = meross_sim_start(&o);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(bind_it(s, uuid));
	cJSON *l1 = wait_msg(pub, "Appliance.Hub.SubdeviceList", "PUSH", WAIT);
	CHECK(l1 != NULL);
	if (l1) {
		CHECK_INT(at_num(l1, "payload.subdeviceList.needReply"), 1);
		CHECK_INT(cJSON_GetArraySize(at(l1, "payload.subdeviceList.subdevice")), 2);
	}
	cJSON *l2 = wait_msg(pub, "Appliance.Hub.SubdeviceList", "PUSH", WAIT);
	CHECK(l2 != NULL);
	CHECK(meross_sim_wait_counter(s, MSC_SUBDEVLIST_PUSHES, 2, WAIT));
	if (l2)
		cloud_send(uuid, "PUSH", "Appliance.Hub.SubdeviceList", hstr(l2, "messageId"), pub, KEY, "{}");
	CHECK(meross_sim_wait_counter(s, MSC_SUBDEVLIST_REPLIES, 1, WAIT));
	long n = meross_sim_counter(s, MSC_SUBDEVLIST_PUSHES);
	msleep(1600);
	CHECK_INT(meross_sim_counter(s, MSC_SUBDEVLIST_PUSHES), n);
	cJSON_Delete(l1);
	cJSON_Delete(l2);

	new_mid(mid);
	cloud_send(uuid, "GET", "Appliance.System.All", mid, CLOUD_TOPIC, KEY, "{}");
	cJSON *all = wait_msg(CLOUD_TOPIC, "Appliance.System.All", "GETACK", WAIT);
	CHECK(all != NULL);
	if (all) {
		CHECK_STR(at_str(all, "payload.all.system.hardware.type"), "msh300");
		CHECK_INT(cJSON_GetArraySize(at(all, "payload.all.digest.hub.subdevice")), 2);
		CHECK_STR(at_str(all, "payload.all.digest.hub.subdevice.1.id"), MEROSS_SIM_VALVE_ID);
		CHECK(at(all, "payload.all.digest.hub.subdevice.1.mts100v3") != NULL);
		cJSON_Delete(all);
	}
	new_mid(mid);
	cloud_send(uuid, "GET", "Appliance.Hub.Sensor.All", mid, CLOUD_TOPIC, KEY, "{\"all\":[]}");
	cJSON *sa = wait_msg(CLOUD_TOPIC, "Appliance.Hub.Sensor.All", "GETACK", WAIT);
	CHECK(sa != NULL);
	if (sa) {
		CHECK_STR(at_str(sa, "payload.all.0.id"), MEROSS_SIM_SENSOR_ID);
		CHECK_INT(at_num(sa, "payload.all.0.temperature.latest"), 215);
		CHECK_INT(at_num(sa, "payload.all.0.humidity.latest"), 450);
		cJSON_Delete(sa);
	}
	new_mid(mid);
	cloud_send(uuid, "SET", "Appliance.Hub.Mts100.Temperature", mid, CLOUD_TOPIC, KEY,
		   "{\"temperature\":[{\"id\":\"" MEROSS_SIM_VALVE_ID "\",\"custom\":235}]}");
	cJSON *tp = wait_msg(pub, "Appliance.Hub.Mts100.Temperature", "PUSH", WAIT);
	CHECK(tp != NULL);
	if (tp) {
		CHECK_INT(at_num(tp, "payload.temperature.0.custom"), 235);
		cJSON_Delete(tp);
	}
	new_mid(mid);
	cloud_send(uuid, "SET", "Appliance.Hub.ToggleX", mid, CLOUD_TOPIC, KEY,
		   "{\"togglex\":[{\"id\":\"" MEROSS_SIM_VALVE_ID "\",\"onoff\":0,\"channel\":0}]}");
	cJSON *tx = wait_msg(pub, "Appliance.Hub.ToggleX", "PUSH", WAIT);
	CHECK(tx != NULL);
	cJSON_Delete(tx);
	new_mid(mid);
	cloud_send(uuid, "GET", "Appliance.Hub.Mts100.All", mid, CLOUD_TOPIC, KEY, "{\"all\":[]}");
	cJSON *ma = wait_msg(CLOUD_TOPIC, "Appliance.Hub.Mts100.All", "GETACK", WAIT);
	CHECK(ma != NULL);
	if (ma) {
		CHECK_STR(at_str(ma, "payload.all.0.id"), MEROSS_SIM_VALVE_ID);
		CHECK_INT(at_num(ma, "payload.all.0.togglex.onoff"), 0);
		CHECK_INT(at_num(ma, "payload.all.0.temperature.custom"), 235);
		CHECK_INT(at_num(ma, "payload.all.0.temperature.currentSet"), 235);
		cJSON_Delete(ma);
	}
	struct meross_sim_valve v;
	CHECK_INT(meross_sim_get_valve(s, &v), 0);
	CHECK_INT(v.onoff, 0);
	new_mid(mid);
	cloud_send(uuid, "GET", "Appliance.Hub.Battery", mid, CLOUD_TOPIC, KEY, "{\"battery\":[]}");
	cJSON *bt = wait_msg(CLOUD_TOPIC, "Appliance.Hub.Battery", "GETACK", WAIT);
	CHECK(bt != NULL);
	if (bt) {
		CHECK_INT(cJSON_GetArraySize(at(bt, "payload.battery")), 2);
		cJSON_Delete(bt);
	}
	/* the valve's own button */
	CHECK_INT(meross_sim_press(s, 0), 1);
	tx = wait_msg(pub, "Appliance.Hub.ToggleX", "PUSH", WAIT);
	CHECK(tx != NULL);
	if (tx) {
		CHECK_STR(at_str(tx, "payload.togglex.0.id"), MEROSS_SIM_VALVE_ID);
		CHECK_INT(at_num(tx, "payload.togglex.0.onoff"), 1);
		CHECK_STR(hstr(tx, "triggerSrc"), "Device");
		cJSON_Delete(tx);
	}
	CHECK_INT(meross_sim_onoff(s, 0), 1);
	/* unknown subdevice id */
	new_mid(mid);
	cloud_send(uuid, "SET", "Appliance.Hub.ToggleX", mid, CLOUD_TOPIC, KEY,
		   "{\"togglex\":[{\"id\":\"FFFFFFFF\",\"onoff\":1}]}");
	cJSON *err = wait_msg(CLOUD_TOPIC, "Appliance.Hub.ToggleX", "ERROR", WAIT);
	CHECK(err != NULL);
	cJSON_Delete(err);
	meross_sim_stop(s);
}

/* ---- refused CONNACK: keeps retrying, never connected ---- */

static void test_refused(void)
{
	struct meross_sim_opts o;
	sim_opts(&o, MEROSS_SIM_PLUG, "20123177781189255837aaaaaaaaaaaa");
	o.port = refuse_port;
	snprintf(o.password_override, sizeof o.password_override, "wrong");
	struct meross_sim *s = meross_sim_start(&o);
	CHECK(s != NULL);
	if (!s)
		return;
	char pw[160];
	meross_sim_password(s, pw, sizeof pw);
	CHECK_STR(pw, "wrong");
	CHECK(meross_sim_wait_counter(s, MSC_CONNECT_FAILS, 2, WAIT));
	CHECK_INT(meross_sim_last_connack(s), 5);
	CHECK_INT(meross_sim_counter(s, MSC_CONNECTS), 0);
	CHECK(!meross_sim_is_connected(s));
	char last[256];
	meross_sim_last_error(s, last, sizeof last);
	CHECK(strstr(last, "CONNACK refused") != NULL);
	meross_sim_stop(s);
}

int main(void)
{
	if (setup_broker() != 0) {
		fc_env_cleanup(&env);
		return 1;
	}
	cloud = fc_mq_connect(&env, "cloud-test", NULL, NULL, 4, NULL);
	CHECK(cloud != NULL);
	if (!cloud)
		goto out;
	CHECK(fc_mq_subscribe(cloud, "/appliance/+/publish", 1) == 1);
	CHECK(fc_mq_subscribe(cloud, "/cloud/#", 1) == 1);

	test_plug();
	if (cloud) {
		test_strip();
		test_bulb();
		test_legacy();
		test_hub();
		test_refused();
	}
out:
	fc_mq_close(cloud);
	if (t_failed)
		setenv("FC_KEEP", "1", 1);
	fc_env_cleanup(&env);
	return t_done();
}
