/* The Tuya cloud's HTTP side against the real fakecloud-httpd (and broker): url_config v1/v2/legacy over
 * TLS-PSK identity 1 with the exact addresses and ports, identity 2 with and without a pskKey (a real
 * 37-character one, also end to end through the simulator), activation through the device simulator with
 * every follow-up action, stable ids across a re-activation, the
 * errors (unknown uuid, wrong authKey, malformed query), an unknown action, G1 gw.json, et=3 (GCM), the
 * time zone answers, the local address of plain and TLS connections, and no secret in any log. Every
 * encrypted reply's sign is checked by the client. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/http.h"
#include "core/keystore.h"
#include "harness/harness.h"
#include "sim/tuya_sim.h"
#include "unit/t.h"
#include "vendors/tuya/tuya_internal.h"

#define WAIT 15000

#define DEV_UUID "th0a1b2c3d4e5f60"
#define DEV_AUTH "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6"
#define V2_UUID "th2v2v2v2v2v2v2a"
#define V2_AUTH "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4"
#define V2_PSK "LZh9navyE1i5BR9SqDDSCU6THligfoaqd0qXZ"       /* 37 characters, like real pskKeys */
#define V2_WRONG_PSK "Qw3rTy7uIo9pAs5dFg8hJk2lZx4cVb6nM1q0Xy" /* 37 characters, another device's */
#define WRONG_UUID "th0wr0ngk3yd3v1c"
#define WRONG_AUTH "Wr0ngK3yWr0ngK3yWr0ngK3yWr0ngK3y"
#define OTHER_AUTH "0th3rK3y0th3rK3y0th3rK3y0th3rK3y"
#define UNKNOWN_UUID "th0unkn0wnd3v1c3"
#define MARKER "countdown_1"

static struct fc_env e;

/* ---------------------------------------------------------------------------------------------- */
/* device-side helpers */

static int json_int(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valueint : -1;
}

static const char *json_str(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static const char *addr_of(const cJSON *root, const char *k)
{
	return json_str(cJSON_GetObjectItemCaseSensitive(root, k), "addr");
}

/* TLS-PSK identity 1 of a device and its PSK (derived with the built-in hint, as a device does). */
static void psk_v1(const char *uuid, const char *auth, uint8_t id[TUYA_PSK_ID_V1_LEN], uint8_t psk[TUYA_PSK_LEN])
{
	char err[128];
	CHECK_INT(tuya_psk_id_v1_build(NULL, uuid, auth, id), 0);
	CHECK_INT(tuya_psk_v1_derive(id, TUYA_PSK_ID_V1_LEN, TUYA_PSK_HINT, TUYA_PSK_HINT_LEN, psk, err, sizeof err), 0);
}

static const char *URLCFG_BODY =
	"{\"region\":\"AA\",\"env\":\"\",\"config\":[{\"key\":\"httpUrl\",\"need_ca\":false},{\"key\":\"mqttUrl\","
	"\"need_ca\":false},{\"key\":\"httpsPSKUrl\",\"need_ca\":false},{\"key\":\"mqttsPSKUrl\",\"need_ca\":false}]}";

/* A device's ATOP request over plain HTTP: query a, <id_name>=id, et, t, v signed with sign_key; body
 * json encrypted with body_key (NULL = sign_key) in mode et. Returns the HTTP status, raw reply in out. */
static int atop(const char *method, const char *path, const char *a, const char *id_name, const char *id,
		const char *et, const char *v, const char *sign_key, const char *json, const char *body_key, char *out,
		size_t cap)
{
	struct tuya_query_param p[8];
	size_t n = 0;
	char ts[24];
	snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
	p[n++] = (struct tuya_query_param){"a", a};
	if (id_name)
		p[n++] = (struct tuya_query_param){id_name, id};
	if (et)
		p[n++] = (struct tuya_query_param){"et", et};
	p[n++] = (struct tuya_query_param){"t", ts};
	if (v)
		p[n++] = (struct tuya_query_param){"v", v};
	char sign[33], target[1024];
	tuya_atop_sign_params(p, n, sign_key, strlen(sign_key), sign);
	int l = snprintf(target, sizeof target, "%s?", path);
	for (size_t i = 0; i < n; i++)
		l += snprintf(target + l, sizeof target - (size_t)l, "%s=%s&", p[i].key, p[i].value);
	snprintf(target + l, sizeof target - (size_t)l, "sign=%s", sign);
	char *body = NULL;
	if (json) {
		enum tuya_et mode = !et ? TUYA_ET_NONE : strcmp(et, "3") == 0 ? TUYA_ET_GCM : TUYA_ET_ECB;
		const char *k = body_key ? body_key : sign_key;
		char err[128];
		body = tuya_atop_body_encode(json, strlen(json), mode, k, strlen(k), NULL, err, sizeof err);
		CHECK(body != NULL);
	}
	int st = fc_http_request(e.http_port, method, target, body ? body : (strcmp(method, "GET") ? "" : NULL), out,
				 cap);
	free(body);
	return st;
}

/* Open an encrypted reply; the sign must verify. Returns the inner object (caller deletes) or NULL. */
static cJSON *open_reply(const char *reply, enum tuya_et et, const char *key)
{
	struct tuya_atop_body b;
	int64_t t = 0;
	bool sign_ok = false;
	char err[160];
	int rc = tuya_atop_response_open(reply, strlen(reply), et, key, strlen(key), &b, &t, &sign_ok, err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "reply does not open: %s: %.200s\n", err, reply);
		return NULL;
	}
	CHECK(sign_ok);
	CHECK(t > time(NULL) - 60 && t < time(NULL) + 60); /* a real clock for the device */
	cJSON *inner = b.root;
	b.root = NULL;
	tuya_atop_body_free(&b);
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(inner, "t");
	CHECK(cJSON_IsNumber(it) && (int64_t)it->valuedouble == t);
	return sign_ok ? inner : (cJSON_Delete(inner), NULL);
}

static bool inner_success(const cJSON *inner) { return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(inner, "success")); }

/* Wait until the httpd log holds needle at least count times. */
static bool httpd_log_has(const char *needle, int count)
{
	int64_t end = fc_mono_ms() + WAIT;
	do {
		if (fc_env_httpd_log_count(&e, needle) >= count)
			return true;
		fc_sleep_ms(20);
	} while (fc_mono_ms() < end);
	fprintf(stderr, "httpd log lacks '%s'\n", needle);
	return false;
}

/* The keystore, opened from the test (WAL: shared with the running processes). */
static struct fc_keystore *open_ks(void)
{
	char path[400], err[256];
	snprintf(path, sizeof path, "%s/fakecloud.db", e.dir);
	struct fc_keystore *ks = fc_keystore_open(path, err, sizeof err);
	if (!ks)
		fprintf(stderr, "cannot open %s: %s\n", path, err);
	return ks;
}

/* Rewrite the [tuya] (and optionally [http] listen) settings of the config file. */
static int rewrite_conf(const char *tuya_lines, const char *listen)
{
	FILE *f = fopen(e.conf, "r");
	if (!f)
		return -1;
	char *text = malloc(256 * 1024), line[2048], section[64] = "";
	size_t used = 0;
	text[0] = 0;
	while (fgets(line, sizeof line, f)) {
		const char *p = line + strspn(line, " \t");
		if (*p == '[')
			sscanf(p, "[%63[^]]", section);
		bool drop = false;
		if (strcmp(section, "tuya") == 0 && *p != '#' && *p != ';' && *p != '[' && strchr(p, '='))
			drop = true;
		if (listen && strcmp(section, "http") == 0 && strncmp(p, "listen", 6) == 0)
			drop = true;
		if (!drop)
			used += (size_t)snprintf(text + used, 256 * 1024 - used, "%s", line);
	}
	fclose(f);
	f = fopen(e.conf, "w");
	if (!f) {
		free(text);
		return -1;
	}
	fputs(text, f);
	fprintf(f, "\n[tuya]\n%s\n", tuya_lines);
	if (listen)
		fprintf(f, "[http]\nlisten = %s\n", listen);
	fclose(f);
	free(text);
	return 0;
}

/* A plain-HTTP POST to 127.0.0.x (to see which local address the server reports). */
static int post_to(const char *ip, const char *path, const char *body, char *out, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)e.http_port)};
	inet_pton(AF_INET, ip, &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		return -1;
	}
	char head[512];
	int n = snprintf(head, sizeof head,
			 "POST %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n", path, ip,
			 strlen(body));
	return fc_http_exchange(fd, head, (size_t)n, body, strlen(body), out, cap);
}

/* Is t (epoch) a Sunday 01:00:00 UTC in the given month (0-based)? The EU DST rule. */
static bool eu_switch(int64_t t, int mon)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	return tm.tm_wday == 0 && tm.tm_hour == 1 && tm.tm_min == 0 && tm.tm_sec == 0 && tm.tm_mon == mon &&
	       tm.tm_mday > 24;
}

/* ---------------------------------------------------------------------------------------------- */

static void test_url_config(void)
{
	uint8_t id[TUYA_PSK_ID_V1_LEN], psk[TUYA_PSK_LEN];
	psk_v1(DEV_UUID, DEV_AUTH, id, psk);
	char out[4096], err[256], want[128];

	/* v1 over TLS-PSK identity 1: every address and port exactly as configured */
	int st = tuya_sim_psk_post("127.0.0.1", e.https_port, id, sizeof id, psk, sizeof psk, "/v1/url_config",
				   URLCFG_BODY, out, sizeof out, err, sizeof err);
	CHECK_INT(st, 200);
	if (st != 200)
		fprintf(stderr, "url_config v1: %s\n", err);
	cJSON *r = cJSON_Parse(out);
	CHECK(cJSON_IsObject(r));
	snprintf(want, sizeof want, "http://127.0.0.1:%d/d.json", e.http_port);
	CHECK_STR(addr_of(r, "httpUrl"), want);
	snprintf(want, sizeof want, "127.0.0.1:%d", e.mqtt_port);
	CHECK_STR(addr_of(r, "mqttUrl"), want);
	snprintf(want, sizeof want, "https://127.0.0.1:%d/d.json", e.https_port);
	CHECK_STR(addr_of(r, "httpsPSKUrl"), want);
	snprintf(want, sizeof want, "127.0.0.1:%d", e.psk_port);
	CHECK_STR(addr_of(r, "mqttsPSKUrl"), want);
	const cJSON *ips = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "httpUrl"), "ips");
	CHECK(cJSON_GetArraySize(ips) == 1 && strcmp(cJSON_GetStringValue(cJSON_GetArrayItem(ips, 0)), "127.0.0.1") == 0);
	CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r, "caArr")));
	CHECK_INT(json_int(r, "ttl"), 600);
	cJSON_Delete(r);
	/* the identity named the device (md5(uuid)) */
	CHECK(httpd_log_has("url_config v1 from 127.0.0.1, device 'plug1' (uuid " DEV_UUID ")", 1));

	/* v2: same answer; its uuid is logged */
	char body2[1024];
	snprintf(body2, sizeof body2,
		 "{\"region\":\"EU\",\"env\":\"\",\"uuid\":\"%s\",\"ts\":57,\"sign\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\","
		 "\"config\":[{\"key\":\"httpUrl\",\"need_ca\":false},{\"key\":\"mqttUrl\",\"need_ca\":false}]}",
		 DEV_UUID);
	psk_v1(DEV_UUID, DEV_AUTH, id, psk);
	st = tuya_sim_psk_post("127.0.0.1", e.https_port, id, sizeof id, psk, sizeof psk, "/v2/url_config", body2, out,
			       sizeof out, err, sizeof err);
	CHECK_INT(st, 200);
	r = cJSON_Parse(out);
	snprintf(want, sizeof want, "http://127.0.0.1:%d/d.json", e.http_port);
	CHECK_STR(addr_of(r, "httpUrl"), want);
	cJSON_Delete(r);
	CHECK(httpd_log_has("uuid " DEV_UUID " = device 'plug1', region EU", 1));

	/* the 2018 SDK's /device/url_config: plain strings */
	psk_v1(DEV_UUID, DEV_AUTH, id, psk);
	st = tuya_sim_psk_post("127.0.0.1", e.https_port, id, sizeof id, psk, sizeof psk, "/device/url_config", "{}",
			       out, sizeof out, err, sizeof err);
	CHECK_INT(st, 200);
	r = cJSON_Parse(out);
	snprintf(want, sizeof want, "http://127.0.0.1:%d/d.json", e.http_port);
	CHECK_STR(json_str(r, "httpUrl"), want);
	snprintf(want, sizeof want, "127.0.0.1:%d", e.mqtt_port);
	CHECK_STR(json_str(r, "mqttUrl"), want);
	cJSON_Delete(r);

	/* a client with the right identity but another PSK does not get through */
	psk_v1(DEV_UUID, DEV_AUTH, id, psk);
	psk[0] ^= 1;
	st = tuya_sim_psk_post("127.0.0.1", e.https_port, id, sizeof id, psk, sizeof psk, "/v1/url_config",
			       URLCFG_BODY, out, sizeof out, err, sizeof err);
	CHECK_INT(st, -1);
}

static void test_identity_v2(void)
{
	char out[4096], err[256], want[128];
	uint8_t id[TUYA_PSK_ID_V2_LEN];
	const uint8_t *pk = (const uint8_t *)V2_PSK;
	const size_t pklen = sizeof V2_PSK - 1;
	CHECK_INT((int)pklen, 37);

	/* a v2 device whose pskKey nobody imported: refused, the log says what to import */
	CHECK_INT(tuya_psk_id_v2_build(NULL, DEV_UUID, id), 0);
	int st = tuya_sim_psk_post("127.0.0.1", e.https_port, id, sizeof id, pk, pklen, "/v1/url_config", URLCFG_BODY,
				   out, sizeof out, err, sizeof err);
	CHECK_INT(st, -1);
	CHECK(httpd_log_has("device 'plug1' (uuid " DEV_UUID ") uses TLS-PSK identity 2, whose key is its own pskKey, "
			    "and no pskKey is imported",
			    1));
	CHECK(httpd_log_has("--psk-key <pskKey>", 1));
	/* an identity 2 of a device nobody imported */
	CHECK_INT(tuya_psk_id_v2_build(NULL, "th00n0b0dyknows0", id), 0);
	st = tuya_sim_psk_post("127.0.0.1", e.https_port, id, sizeof id, pk, pklen, "/v1/url_config", URLCFG_BODY, out,
			       sizeof out, err, sizeof err);
	CHECK_INT(st, -1);
	CHECK(httpd_log_has("no imported device matches it", 1));

	/* imported with its real 37-character pskKey: url_config over identity 2 (TLS 1.2,
	 * PSK-AES128-CBC-SHA256, as the firmware does) gets the full answer */
	char cli[4096];
	CHECK_INT(fc_env_cli(&e, cli, sizeof cli, "device add tuya --uuid %s --auth-key %s --psk-key %s --name v2dev",
			     V2_UUID, V2_AUTH, V2_PSK),
		  0);
	CHECK_INT(tuya_psk_id_v2_build(NULL, V2_UUID, id), 0);
	st = tuya_sim_psk_post("127.0.0.1", e.https_port, id, sizeof id, pk, pklen, "/v1/url_config", URLCFG_BODY, out,
			       sizeof out, err, sizeof err);
	CHECK_INT(st, 200);
	if (st != 200)
		fprintf(stderr, "identity 2 with a 37-character pskKey: %s\n", err);
	cJSON *r = cJSON_Parse(out);
	CHECK(cJSON_IsObject(r));
	snprintf(want, sizeof want, "http://127.0.0.1:%d/d.json", e.http_port);
	CHECK_STR(addr_of(r, "httpUrl"), want);
	snprintf(want, sizeof want, "127.0.0.1:%d", e.mqtt_port);
	CHECK_STR(addr_of(r, "mqttUrl"), want);
	snprintf(want, sizeof want, "https://127.0.0.1:%d/d.json", e.https_port);
	CHECK_STR(addr_of(r, "httpsPSKUrl"), want);
	CHECK_INT(json_int(r, "ttl"), 600);
	cJSON_Delete(r);
	CHECK(httpd_log_has("url_config v1 from 127.0.0.1, device 'v2dev' (uuid " V2_UUID ")", 1));

	/* the wrong pskKey (same length) is refused, and the log says the key does not match */
	st = tuya_sim_psk_post("127.0.0.1", e.https_port, id, sizeof id, (const uint8_t *)V2_WRONG_PSK,
			       sizeof V2_WRONG_PSK - 1, "/v1/url_config", URLCFG_BODY, out, sizeof out, err, sizeof err);
	CHECK_INT(st, -1);
	CHECK(httpd_log_has("is known to tuya but the client uses a different key", 1));
	/* a truncated key (what a 32-byte TLS stack would use) is just another wrong key */
	st = tuya_sim_psk_post("127.0.0.1", e.https_port, id, sizeof id, pk, 32, "/v1/url_config", URLCFG_BODY, out,
			       sizeof out, err, sizeof err);
	CHECK_INT(st, -1);

	/* the whole device over identity 2: url_config, activation and the follow-ups */
	struct tuya_sim_opts o;
	tuya_sim_opts_init(&o);
	snprintf(o.uuid, sizeof o.uuid, "%s", V2_UUID);
	snprintf(o.auth_key, sizeof o.auth_key, "%s", V2_AUTH);
	snprintf(o.psk_key, sizeof o.psk_key, "%s", V2_PSK);
	o.https_port = e.https_port;
	o.reconnect_ms = 300;
	struct tuya_sim *s = tuya_sim_start(&o);
	CHECK(s != NULL);
	if (s) {
		bool ok = tuya_sim_wait_counter(s, TSC_ATOP_CALLS, 7, WAIT);
		CHECK(ok);
		char why[256];
		tuya_sim_last_error(s, why, sizeof why);
		if (!ok)
			fprintf(stderr, "simulator (identity 2): %s\n", why);
		CHECK_INT(tuya_sim_counter(s, TSC_URL_CONFIG_OK), 1);
		CHECK_INT(tuya_sim_counter(s, TSC_ACTIVE_OK), 1);
		CHECK_INT(tuya_sim_counter(s, TSC_ATOP_ERRORS), 0);
		tuya_sim_stop(s);
	}
	CHECK(httpd_log_has("device 'v2dev' (uuid " V2_UUID ") activated from 127.0.0.1: devId ", 1));

	/* The hook's contract: the key fits the caller's buffer or the identity is refused. */
	struct fc_keystore *ks = open_ks();
	CHECK(ks != NULL);
	if (ks) {
		struct fc_http_ctx ctx = {.ks = ks};
		uint8_t key[64];
		size_t keylen = sizeof key;
		CHECK_INT(tuya_http.psk_key(&ctx, id, sizeof id, key, &keylen), 0);
		CHECK(keylen == 37 && memcmp(key, V2_PSK, 37) == 0);
		keylen = 32; /* a buffer too small for this key */
		CHECK_INT(tuya_http.psk_key(&ctx, id, sizeof id, key, &keylen), -1);
		/* identity 1 of any length 33..128 is derived; others are not Tuya's */
		uint8_t id1[60];
		memset(id1, 'x', sizeof id1);
		id1[0] = 1;
		keylen = sizeof key;
		CHECK_INT(tuya_http.psk_key(&ctx, id1, 40, key, &keylen), 0);
		CHECK_INT(keylen, 32);
		keylen = sizeof key;
		CHECK_INT(tuya_http.psk_key(&ctx, id1, 20, key, &keylen), 1);
		keylen = sizeof key;
		CHECK_INT(tuya_http.psk_key(&ctx, (const uint8_t *)"fctest:abc", 10, key, &keylen), 1);
		fc_wipe(key, sizeof key);
		fc_keystore_close(ks);
	}
}

/* Activation through the simulator, then the same device again. */
static void test_activation(char *dev_id, size_t idcap, char *sec, char *local)
{
	struct tuya_sim_opts o;
	tuya_sim_opts_init(&o);
	snprintf(o.uuid, sizeof o.uuid, "%s", DEV_UUID);
	snprintf(o.auth_key, sizeof o.auth_key, "%s", DEV_AUTH);
	o.https_port = e.https_port;
	o.pv = 22;
	o.reconnect_ms = 300;
	struct tuya_sim *s = tuya_sim_start(&o);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(tuya_sim_wait_counter(s, TSC_ACTIVE_OK, 1, WAIT));
	/* active + the six follow-ups, each reply signed and decrypted by the device */
	bool all = tuya_sim_wait_counter(s, TSC_ATOP_CALLS, 7, WAIT);
	CHECK(all);
	char why[256], actions[1024];
	tuya_sim_last_error(s, why, sizeof why);
	if (!all)
		fprintf(stderr, "simulator: %s\n", why);
	CHECK_INT(tuya_sim_counter(s, TSC_ATOP_ERRORS), 0);
	CHECK_INT(tuya_sim_counter(s, TSC_URL_CONFIG_OK), 1);
	tuya_sim_actions(s, actions, sizeof actions);
	CHECK_STR(actions, "tuya.device.active,tuya.device.dynamic.config.get,tuya.device.uuid.pskkey.get,"
			   "tuya.device.upgrade.silent.get,tuya.device.timer.count,atop.online.debug.log,"
			   "tuya.device.info.sync");
	tuya_sim_dev_id(s, dev_id, idcap);
	tuya_sim_sec_key(s, sec, 64);
	tuya_sim_local_key(s, local, 64);
	CHECK(strlen(dev_id) == 22 && strncmp(dev_id, "fc", 2) == 0);
	CHECK(strlen(sec) == 16 && strlen(local) == 16 && strcmp(sec, local) != 0);
	char schema[4096];
	tuya_sim_schema(s, schema, sizeof schema);
	CHECK(strstr(schema, MARKER) != NULL); /* the imported schema reached the device */
	int64_t st = tuya_sim_server_time(s);
	CHECK(st > time(NULL) - 60 && st < time(NULL) + 60);
	CHECK(httpd_log_has("device 'plug1' (uuid " DEV_UUID ") activated from 127.0.0.1: devId ", 1));
	CHECK(httpd_log_has(dev_id, 1));
	tuya_sim_stop(s);

	/* the keystore knows the devId as the device's alias */
	struct fc_keystore *ks = open_ks();
	if (ks) {
		struct fc_device_row row;
		CHECK_INT(fc_ks_device_get_by_alias(ks, "tuya", dev_id, &row), FC_KS_OK);
		CHECK_STR(row.vid, DEV_UUID);
		fc_device_row_free(&row);
		fc_keystore_close(ks);
	}

	/* a second activation of the same device (reset, re-paired) gets the same ids and keys */
	s = tuya_sim_start(&o);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(tuya_sim_wait_counter(s, TSC_ATOP_CALLS, 7, WAIT));
	char id2[64], sec2[64], local2[64];
	tuya_sim_dev_id(s, id2, sizeof id2);
	tuya_sim_sec_key(s, sec2, sizeof sec2);
	tuya_sim_local_key(s, local2, sizeof local2);
	CHECK_STR(id2, dev_id);
	CHECK_STR(sec2, sec);
	CHECK_STR(local2, local);
	CHECK_INT(tuya_sim_counter(s, TSC_ATOP_ERRORS), 0);
	tuya_sim_stop(s);
	/* the broker was told about each activation */
	CHECK_INT(fc_env_httpd_log_count(&e, "could not tell the broker"), 0);
}

static void test_time_zone(const char *dev_id, const char *sec)
{
	char out[8192];
	int st = atop("POST", "/d.json", "tuya.device.dynamic.config.get", "devId", dev_id, "1", "2.0", sec,
		      "{\"type\":\"[\\\"timezone\\\"]\",\"t\":70}", NULL, out, sizeof out);
	CHECK_INT(st, 200);
	cJSON *in = open_reply(out, TUYA_ET_ECB, sec);
	CHECK(in && inner_success(in));
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(in, "result");
	const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(res, "config");
	const cJSON *tz = cJSON_GetObjectItemCaseSensitive(res, "timezone");
	CHECK_STR(json_str(res, "ackId"), "0-0");
	CHECK_INT(json_int(res, "validTime"), 1800);
	/* the "double payload": the same object again under "timezone" */
	CHECK(cJSON_Compare(cfg, cJSON_GetObjectItemCaseSensitive(tz, "config"), 1));
	CHECK_STR(json_str(cfg, "stdTimeZone"), "+01:00"); /* core.timezone = Europe/Berlin */
	const cJSON *iv = cJSON_GetObjectItemCaseSensitive(cfg, "dstIntervals");
	CHECK(cJSON_GetArraySize(iv) >= 1);
	const cJSON *first = cJSON_GetArrayItem(iv, 0);
	if (cJSON_GetArraySize(first) == 2) {
		int64_t a = (int64_t)cJSON_GetArrayItem(first, 0)->valuedouble;
		int64_t b = (int64_t)cJSON_GetArrayItem(first, 1)->valuedouble;
		CHECK(eu_switch(a, 2) && eu_switch(b, 9)); /* last Sunday of March / October, 01:00 UTC */
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		time_t ta = (time_t)a;
		struct tm ya;
		gmtime_r(&ta, &ya);
		CHECK_INT(ya.tm_year, tm.tm_year); /* this year's */
	} else {
		CHECK(!"dstIntervals[0] is a pair");
	}
	cJSON_Delete(in);
}

static void test_errors(const char *dev_id, const char *sec)
{
	char out[8192], cli[4096];
	const char *act = "{\"token\":\"AAAAAA\",\"softVer\":\"1.1.7\",\"productKey\":\"keyfakecloudsim1\","
			  "\"protocolVer\":\"2.2\",\"t\":58}";

	/* unknown uuid: plaintext NOT_EXISTS, the import command in the log, nothing stored */
	int st = atop("POST", "/d.json", "tuya.device.active", "uuid", UNKNOWN_UUID, "1", "4.4", OTHER_AUTH, act, NULL,
		      out, sizeof out);
	CHECK_INT(st, 200);
	cJSON *r = cJSON_Parse(out);
	CHECK(r && cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r, "success")));
	CHECK_STR(json_str(r, "errorCode"), "NOT_EXISTS");
	cJSON_Delete(r);
	CHECK(httpd_log_has("unknown device uuid " UNKNOWN_UUID ". Import it with its authKey from the flash dump (or "
			    "cloudcutter's output): fakecloud device add tuya --uuid " UNKNOWN_UUID " --auth-key <authKey>",
			    1));
	struct fc_keystore *ks = open_ks();
	if (ks) {
		struct fc_device_row row;
		CHECK_INT(fc_ks_device_get(ks, "tuya", UNKNOWN_UUID, &row), FC_KS_NOTFOUND);
		fc_keystore_close(ks);
	}

	/* imported with one authKey, the device uses another: error, log names the key, nothing changes */
	CHECK_INT(fc_env_cli(&e, cli, sizeof cli, "device add tuya --uuid %s --auth-key %s --name wrongkey", WRONG_UUID,
			     WRONG_AUTH),
		  0);
	st = atop("POST", "/d.json", "tuya.device.active", "uuid", WRONG_UUID, "1", "4.4", OTHER_AUTH, act, NULL, out,
		  sizeof out);
	CHECK_INT(st, 200);
	r = cJSON_Parse(out);
	CHECK(r && cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r, "success")));
	CHECK_STR(json_str(r, "errorCode"), "DECRYPT_FAILED");
	cJSON_Delete(r);
	CHECK(httpd_log_has("tuya.device.active from device 'wrongkey' (uuid " WRONG_UUID ") does not decrypt with its "
			    "authKey",
			    1));
	ks = open_ks();
	if (ks) {
		struct tuya_dev d;
		CHECK_INT(tuya_dev_by_uuid(ks, WRONG_UUID, &d), FC_KS_OK);
		CHECK_STR(d.dev_id, "");
		CHECK_INT(fc_secret_len(&d.sec_key), 0);
		CHECK_INT(fc_secret_len(&d.local_key), 0);
		CHECK(fc_secret_equals(&d.auth_key, WRONG_AUTH, strlen(WRONG_AUTH)));
		tuya_dev_free(&d);
		fc_keystore_close(ks);
	}

	/* a body under the secKey where the authKey was expected is still understood (§1.3 retry) */
	st = atop("POST", "/d.json", "tuya.device.uuid.pskkey.get", "uuid", DEV_UUID, "1", "1.0", DEV_AUTH, "{\"t\":5}",
		  sec, out, sizeof out);
	CHECK_INT(st, 200);
	r = open_reply(out, TUYA_ET_ECB, sec);
	CHECK(r && inner_success(r));
	CHECK_STR(json_str(cJSON_GetObjectItemCaseSensitive(r, "result"), "pskKey"), "");
	cJSON_Delete(r);
	CHECK(httpd_log_has("encrypted tuya.device.uuid.pskkey.get with its secKey, not its authKey", 1));

	/* unknown action: the generic success, encrypted, and a log line naming it */
	st = atop("POST", "/d.json", "tuya.device.fancy.new", "devId", dev_id, "1", "9.9", sec, "{\"t\":71}", NULL, out,
		  sizeof out);
	CHECK_INT(st, 200);
	r = open_reply(out, TUYA_ET_ECB, sec);
	CHECK(r && inner_success(r) && !cJSON_GetObjectItemCaseSensitive(r, "result"));
	cJSON_Delete(r);
	CHECK(httpd_log_has("unknown ATOP action 'tuya.device.fancy.new' (v=9.9)", 1));

	/* malformed queries: 400 and a log line */
	char target[512];
	snprintf(target, sizeof target, "/d.json?a=tuya.device.timer.count&a=again&devId=%s&et=1&t=1", dev_id);
	CHECK_INT(fc_http_request(e.http_port, "POST", target, "data=00", out, sizeof out), 400);
	CHECK(httpd_log_has("malformed ATOP request from 127.0.0.1", 1));
	snprintf(target, sizeof target, "/d.json?a=tuya.device.timer.count&devId=%s&et=7&t=1", dev_id);
	CHECK_INT(fc_http_request(e.http_port, "POST", target, "data=00", out, sizeof out), 400);
	CHECK(httpd_log_has("et=7 is not supported", 1));
	CHECK_INT(fc_http_request(e.http_port, "POST", "/d.json?et=1&t=1", "", out, sizeof out), 400);

	/* mesh.get: success:false, as cloudcutter answers */
	st = atop("POST", "/d.json", "tuya.device.mesh.get", "devId", dev_id, "1", "1.0", sec, "{\"t\":72}", NULL, out,
		  sizeof out);
	r = open_reply(out, TUYA_ET_ECB, sec);
	CHECK(r && cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r, "success")));
	cJSON_Delete(r);
}

static void test_actions(const char *dev_id, const char *sec)
{
	char out[8192];
	/* table answers (§1.5) */
	struct {
		const char *a, *v, *body, *want; /* want: JSON text of result, "" = no result */
	} rows[] = {
		{"tuya.device.timer.count", "4.0", "{\"lastFetchTime\":\"0\"}", NULL},
		{"atop.online.debug.log", NULL, "{\"data\":\"4\"}", "true"},
		{"tuya.device.info.sync", "1.0", "{}", "{\"status\":\"enable\"}"},
		{"tuya.device.timer.astronomical.list", "1.0", "{}", "{\"code\":200,\"data\":{}}"},
		{"tuya.device.upgrade.get", "4.4", "{\"type\":0}", ""},
		{"tuya.device.upgrade.silent.get", "4.4", "{\"subId\":null}", ""},
		{"tuya.device.upgrade.status.update", "4.1", "{\"type\":0,\"upgradeStatus\":2}", ""},
		{"tuya.device.dynamic.config.ack", "1.0", "{\"ackId\":\"0-0\"}", ""},
		{"tuya.device.versions.update", "4.1", "{\"versions\":\"x\"}", ""},
		{"tuya.device.reset", "4.0", "{}", ""},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		int st = atop("POST", "/d.json", rows[i].a, "devId", dev_id, "1", rows[i].v, sec, rows[i].body, NULL, out,
			      sizeof out);
		CHECK_INT(st, 200);
		cJSON *r = open_reply(out, TUYA_ET_ECB, sec);
		CHECK(r && inner_success(r));
		const cJSON *res = cJSON_GetObjectItemCaseSensitive(r, "result");
		if (rows[i].want && !rows[i].want[0]) {
			CHECK(res == NULL);
		} else if (rows[i].want) {
			cJSON *w = cJSON_Parse(rows[i].want);
			bool same = cJSON_Compare(res, w, 1);
			CHECK(same);
			if (!same)
				fprintf(stderr, "%s: unexpected result\n", rows[i].a);
			cJSON_Delete(w);
		} else {
			CHECK_STR(json_str(res, "devId"), dev_id);
			CHECK_INT(json_int(res, "count"), 0);
		}
		cJSON_Delete(r);
	}
	CHECK(httpd_log_has("reports a reset", 1));

	/* et=3 (TuyaOpen): the answer is AES-GCM under the same key, and not ECB */
	int st = atop("POST", "/d.json", "tuya.device.timer.count", "devId", dev_id, "3", "4.0", sec,
		      "{\"lastFetchTime\":\"0\"}", NULL, out, sizeof out);
	CHECK_INT(st, 200);
	cJSON *r = open_reply(out, TUYA_ET_GCM, sec);
	CHECK(r && inner_success(r));
	cJSON_Delete(r);
	struct tuya_atop_body b;
	char err[128];
	CHECK(tuya_atop_response_open(out, strlen(out), TUYA_ET_ECB, sec, strlen(sec), &b, NULL, NULL, err, sizeof err) !=
	      0);
	tuya_atop_body_free(&b);

	/* G1: GET /gw.json?a=s.gw.token.get with the raw `other` JSON: the plaintext reply of §1.2 */
	char target[512], want[128];
	snprintf(target, sizeof target,
		 "/gw.json?a=s.gw.token.get&et=1&gwId=%s&other={\"token\":\"00000000\",\"region\":\"US\"}&t=4&v=3.0"
		 "&sign=0123456789abcdef0123456789abcdef",
		 DEV_UUID);
	st = fc_http_request(e.http_port, "GET", target, NULL, out, sizeof out);
	CHECK_INT(st, 200);
	r = cJSON_Parse(out);
	CHECK(r && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "success")) &&
	      cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r, "e")));
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(r, "result");
	snprintf(want, sizeof want, "http://127.0.0.1:%d/gw.json", e.http_port);
	CHECK_STR(json_str(res, "gwApiUrl"), want);
	CHECK_STR(json_str(res, "gwMqttUrl"), "127.0.0.1");
	CHECK_STR(json_str(res, "stdTimeZone"), "+01:00");
	CHECK(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(res, "dstIntervals")));
	CHECK(json_int(r, "t") > 0);
	cJSON_Delete(r);
	/* path case does not matter */
	st = atop("POST", "/D.JSON", "tuya.device.info.sync", "devId", dev_id, "1", "1.0", sec, "{}", NULL, out,
		  sizeof out);
	CHECK_INT(st, 200);
	r = open_reply(out, TUYA_ET_ECB, sec);
	CHECK(r && inner_success(r));
	cJSON_Delete(r);
}

/* With tuya.address empty the reply names the address the device reached (plain and TLS listeners). */
static void test_local_address(void)
{
	CHECK_INT(fc_env_stop_httpd(&e), 0);
	CHECK_INT(rewrite_conf("address =\npsk_urls = false\nhttp_port = 18081\nmqtt_port = 18883", "0.0.0.0"), 0);
	CHECK_INT(fc_env_start_httpd(&e), 0);
	char out[4096], err[256];
	int st = post_to("127.0.0.2", "/v1/url_config", URLCFG_BODY, out, sizeof out);
	CHECK_INT(st, 200);
	cJSON *r = cJSON_Parse(out);
	CHECK_STR(addr_of(r, "httpUrl"), "http://127.0.0.2:18081/d.json");
	CHECK_STR(addr_of(r, "mqttUrl"), "127.0.0.2:18883");
	CHECK(!cJSON_GetObjectItemCaseSensitive(r, "httpsPSKUrl") && !cJSON_GetObjectItemCaseSensitive(r, "mqttsPSKUrl"));
	cJSON_Delete(r);
	uint8_t id[TUYA_PSK_ID_V1_LEN], psk[TUYA_PSK_LEN];
	psk_v1(DEV_UUID, DEV_AUTH, id, psk);
	st = tuya_sim_psk_post("127.0.0.1", e.https_port, id, sizeof id, psk, sizeof psk, "/v1/url_config", URLCFG_BODY,
			       out, sizeof out, err, sizeof err);
	CHECK_INT(st, 200);
	r = cJSON_Parse(out);
	CHECK_STR(addr_of(r, "httpUrl"), "http://127.0.0.1:18081/d.json");
	cJSON_Delete(r);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	/* debug: url_config names the device behind a PSK identity only at that level */
	const char *extra[] = {"tuya.address=127.0.0.1", "tuya.psk_urls=true", "core.timezone=Europe/Berlin",
			       "core.log_level=debug", NULL};
	if (fc_env_init(&e, "tuya_http", extra) != 0)
		return 1;
	CHECK_INT(fc_env_start_broker(&e), 0);
	CHECK_INT(fc_env_start_httpd(&e), 0);

	char schema_path[400], cli[4096];
	snprintf(schema_path, sizeof schema_path, "%s/schema.json", e.dir);
	FILE *f = fopen(schema_path, "w");
	if (f) {
		fputs("[{\"id\":1,\"type\":\"obj\",\"mode\":\"rw\",\"code\":\"switch_1\",\"property\":{\"type\":\"bool\"}},"
		      "{\"id\":9,\"type\":\"obj\",\"mode\":\"rw\",\"code\":\"" MARKER "\",\"property\":{\"type\":\"value\","
		      "\"min\":0,\"max\":86400,\"scale\":0,\"step\":1,\"unit\":\"s\"}}]",
		      f);
		fclose(f);
	}
	int rc = fc_env_cli(&e, cli, sizeof cli, "device add tuya --uuid %s --auth-key %s --schema-file %s --name plug1",
			    DEV_UUID, DEV_AUTH, schema_path);
	CHECK_INT(rc, 0);
	if (rc != 0) {
		fprintf(stderr, "device add: %s\n", cli);
		fc_env_cleanup(&e);
		return t_done();
	}

	test_url_config();
	test_identity_v2();
	char dev_id[64] = "", sec[64] = "", local[64] = "";
	test_activation(dev_id, sizeof dev_id, sec, local);
	if (dev_id[0] && sec[0]) {
		test_time_zone(dev_id, sec);
		test_errors(dev_id, sec);
		test_actions(dev_id, sec);
	}
	test_local_address();

	/* A clean exit (under the sanitizer build: no leak, no error report either). */
	CHECK_INT(fc_env_stop_httpd(&e), 0);
	const char *secrets[] = {DEV_AUTH, V2_AUTH, V2_PSK, V2_WRONG_PSK, WRONG_AUTH, OTHER_AUTH, sec, local, NULL};
	CHECK_INT(fc_env_scan_secrets(&e, NULL, secrets), 0);
	CHECK_INT(fc_env_httpd_log_count(&e, "Sanitizer"), 0);
	CHECK_INT(fc_env_httpd_log_count(&e, "runtime error"), 0);
	fc_env_cleanup(&e);
	return t_done();
}
