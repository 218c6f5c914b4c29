/* The hub driven by a recording fake broker and the test vendor: auth, ACL, availability, state,
 * commands, bridge requests and Home Assistant discovery, without Mosquitto. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/hub.h"
#include "core/keystore.h"
#include "core/log.h"
#include "core/vendor.h"
#include "unit/ha_discovery.h"
#include "unit/t.h"

extern const struct fc_vendor fctest_vendor;

#define MAX_REC 512

struct rec {
	char client[128]; /* "" = fan-out */
	char topic[256];
	char *payload;
	bool retain;
};

static struct rec recs[MAX_REC];
static int n_recs;
static char kicked[128];
static int64_t fake_now = 1700000000000;

static void rec_clear(void)
{
	for (int i = 0; i < n_recs; i++)
		free(recs[i].payload);
	n_recs = 0;
}

static void rec_add(const char *client, const char *topic, const void *p, size_t len, bool retain)
{
	if (n_recs >= MAX_REC)
		return;
	struct rec *r = &recs[n_recs++];
	snprintf(r->client, sizeof r->client, "%s", client ? client : "");
	snprintf(r->topic, sizeof r->topic, "%s", topic);
	r->payload = malloc(len + 1);
	memcpy(r->payload, p, len);
	r->payload[len] = 0;
	r->retain = retain;
}

static int f_publish(void *ctx, const char *topic, const void *p, size_t len, int qos, bool retain)
{
	(void)ctx;
	(void)qos;
	rec_add(NULL, topic, p, len, retain);
	return 0;
}
static int f_publish_to(void *ctx, const char *client, const char *topic, const void *p, size_t len, int qos)
{
	(void)ctx;
	(void)qos;
	rec_add(client, topic, p, len, false);
	return 0;
}
static int f_kick(void *ctx, const char *client)
{
	(void)ctx;
	snprintf(kicked, sizeof kicked, "%s", client);
	return 0;
}
static int64_t f_now(void *ctx)
{
	(void)ctx;
	return fake_now;
}
static const struct fc_broker_ops ops = {f_publish, f_publish_to, f_kick, f_now};

/* Last record on topic (NULL if none). */
static const struct rec *last(const char *topic)
{
	for (int i = n_recs - 1; i >= 0; i--)
		if (strcmp(recs[i].topic, topic) == 0)
			return &recs[i];
	return NULL;
}

static int count_prefix(const char *prefix)
{
	int n = 0;
	for (int i = 0; i < n_recs; i++)
		n += strncmp(recs[i].topic, prefix, strlen(prefix)) == 0;
	return n;
}

static bool any_payload_contains(const char *needle)
{
	for (int i = 0; i < n_recs; i++)
		if (strstr(recs[i].payload, needle))
			return true;
	return false;
}

static void msg(struct fc_hub *hub, const struct fc_client *c, const char *topic, const char *payload)
{
	fc_hub_on_message(hub, c, topic, payload, strlen(payload), false);
}

int main(void)
{
	fc_log_set_level(FC_LOG_ERROR);
	struct fc_config *cfg = calloc(1, sizeof *cfg);
	fc_config_init(cfg, fc_vendor_config_tables(fc_vendors));
	char err[256];
	struct fc_keystore *ks = fc_keystore_open(":memory:", err, sizeof err);
	CHECK(ks != NULL);
	cJSON *sec = cJSON_CreateObject();
	cJSON_AddStringToObject(sec, "password", "s3cret-device-password");
	CHECK_INT(fc_ks_device_put(ks, "fctest", "dev1", "", sec, NULL), FC_KS_OK);
	CHECK_INT(fc_ks_device_put(ks, "fctest", "dev2", "", sec, NULL), FC_KS_OK);
	cJSON_Delete(sec);

	struct fc_broker b = {&ops, NULL};
	struct fc_hub *hub = fc_hub_new(&b, cfg, ks, fc_vendors, err, sizeof err);
	CHECK(hub != NULL);
	if (!hub)
		return t_done();
	fc_hub_on_tick(hub); /* first tick starts the bridge */
	CHECK(last("fakecloud/bridge/state") && strcmp(last("fakecloud/bridge/state")->payload, "online") == 0);
	CHECK(last("fakecloud/bridge/info") != NULL);
	CHECK(last("fakecloud/fctest_dev1/availability") &&
	      strcmp(last("fakecloud/fctest_dev1/availability")->payload, "offline") == 0);

	/* --- auth --- */
	int h1, h2, hu, hi, hx;
	struct fc_client dev1 = {&h1, "fctest:dev1", "dev1", "127.0.0.1", 4};
	struct fc_client dev2 = {&h2, "fctest:dev2", "dev2", "127.0.0.1", 4};
	struct fc_client user = {&hu, "ha", "homeassistant", "127.0.0.1", 4};
	struct fc_client intl = {&hi, "fakecloud-httpd-1", FC_INTERNAL_USER, "127.0.0.1", 4};
	struct fc_client unknown = {&hx, "fctest:nope", "nope", "127.0.0.1", 4};
	CHECK_INT(fc_hub_on_auth(hub, &dev1, "dev1", "wrong"), FC_DENY);
	CHECK_INT(fc_hub_on_auth(hub, &unknown, "nope", "x"), FC_DENY);
	CHECK_INT(fc_hub_on_auth(hub, &dev1, "dev2", "s3cret-device-password"), FC_DENY); /* username must match */
	CHECK_INT(fc_hub_on_auth(hub, &dev1, "dev1", "s3cret-device-password"), FC_ALLOW);
	CHECK_INT(fc_hub_on_auth(hub, &dev2, "dev2", "s3cret-device-password"), FC_ALLOW);
	CHECK_INT(fc_hub_on_auth(hub, &user, "homeassistant", "pw"), FC_DEFER);
	CHECK_INT(fc_hub_on_auth(hub, &intl, FC_INTERNAL_USER, "guess"), FC_DENY);
	char ipw[128];
	CHECK_INT(fc_ks_setting_get(ks, FC_SETTING_INTERNAL_PASSWORD, ipw, sizeof ipw), FC_KS_OK);
	CHECK_INT(fc_hub_on_auth(hub, &intl, FC_INTERNAL_USER, ipw), FC_ALLOW);

	/* --- ACL --- */
	CHECK_INT(fc_hub_on_acl(hub, &dev1, "fctest/dev1/state", FC_ACL_WRITE), FC_ALLOW);
	CHECK_INT(fc_hub_on_acl(hub, &dev1, "fctest/dev1/cmd", FC_ACL_SUBSCRIBE), FC_ALLOW);
	CHECK_INT(fc_hub_on_acl(hub, &dev1, "fctest/dev2/state", FC_ACL_WRITE), FC_DENY);
	CHECK_INT(fc_hub_on_acl(hub, &dev1, "fctest/dev2/cmd", FC_ACL_SUBSCRIBE), FC_DENY);
	CHECK_INT(fc_hub_on_acl(hub, &dev1, "fctest/dev1/cmd", FC_ACL_WRITE), FC_DENY);
	CHECK_INT(fc_hub_on_acl(hub, &dev1, "fakecloud/fctest_dev2/set", FC_ACL_WRITE), FC_DENY);
	CHECK_INT(fc_hub_on_acl(hub, &dev1, "#", FC_ACL_SUBSCRIBE), FC_DENY);
	rec_clear();
	CHECK_INT(fc_hub_on_acl(hub, &user, "fctest/dev1/cmd", FC_ACL_WRITE), FC_DENY);
	CHECK(last("fakecloud/bridge/log") && strstr(last("fakecloud/bridge/log")->payload, "may not write"));
	CHECK_INT(fc_hub_on_acl(hub, &user, "fakecloud/fctest_dev1", FC_ACL_WRITE), FC_DENY);
	CHECK_INT(fc_hub_on_acl(hub, &user, "fakecloud/fctest_dev1/availability", FC_ACL_WRITE), FC_DENY);
	CHECK_INT(fc_hub_on_acl(hub, &user, "fakecloud/bridge/devices", FC_ACL_WRITE), FC_DENY);
	CHECK_INT(fc_hub_on_acl(hub, &user, "homeassistant/switch/fakecloud_fctest_dev1/state/config", FC_ACL_WRITE),
		  FC_DENY);
	CHECK_INT(fc_hub_on_acl(hub, &user, "$fakecloud/internal/core/device-changed", FC_ACL_WRITE), FC_DENY);
	CHECK_INT(fc_hub_on_acl(hub, &user, "fakecloud/fctest_dev1/set", FC_ACL_WRITE), FC_DEFER);
	CHECK_INT(fc_hub_on_acl(hub, &user, "fakecloud/fctest_dev1/set/state", FC_ACL_WRITE), FC_DEFER);
	CHECK_INT(fc_hub_on_acl(hub, &user, "fakecloud/bridge/request/device/rename", FC_ACL_WRITE), FC_DEFER);
	CHECK_INT(fc_hub_on_acl(hub, &user, "fakecloud/#", FC_ACL_SUBSCRIBE), FC_DEFER);
	CHECK_INT(fc_hub_on_acl(hub, &intl, "$fakecloud/internal/core/device-changed", FC_ACL_WRITE), FC_ALLOW);

	/* --- bind, exposes, discovery, state --- */
	rec_clear();
	msg(hub, &dev1, "fctest/dev1/hello", "{\"model\":\"T1\",\"firmware\":\"1.2.3\"}");
	CHECK(last("fakecloud/fctest_dev1/availability") &&
	      strcmp(last("fakecloud/fctest_dev1/availability")->payload, "online") == 0);
	const struct rec *sw = last("homeassistant/switch/fakecloud_fctest_dev1/state/config");
	CHECK(sw && sw->retain);
	if (sw) {
		/* sent in Home Assistant's short form: abbreviated keys, "~" = the device's state topic */
		CHECK(strstr(sw->payload, "\"~\":\"fakecloud/fctest_dev1\"") && strstr(sw->payload, "\"stat_t\":\"~\"") &&
		      strstr(sw->payload, "\"cmd_t\":\"~/set\"") && !strstr(sw->payload, "_topic\""));
		cJSON *j = ha_config(sw->payload);
		CHECK(j != NULL);
		CHECK(ha_unknown_key(j) == NULL);
		CHECK_STR(ha_get(j, "name"), "state");
		CHECK_STR(ha_get(j, "unique_id"), "fakecloud_fctest_dev1_state");
		CHECK_STR(ha_get(j, "object_id"), "fctest_dev1_state");
		CHECK_STR(ha_get(j, "command_topic"), "fakecloud/fctest_dev1/set");
		CHECK_STR(ha_get(j, "state_topic"), "fakecloud/fctest_dev1");
		CHECK_STR(ha_get(j, "value_template"), "{{value_json['state']}}");
		CHECK_STR(ha_get(j, "payload_on"), "{\"state\":\"ON\"}");
		CHECK_STR(ha_get(j, "payload_off"), "{\"state\":\"OFF\"}");
		CHECK_STR(ha_get(j, "state_on"), "ON");
		CHECK_STR(ha_get(j, "state_off"), "OFF");
		CHECK_STR(ha_get(j, "device.identifiers.0"), "fakecloud_fctest_dev1");
		CHECK_STR(ha_get(j, "device.name"), "fctest_dev1");
		CHECK(ha_get(j, "device.manufacturer") != NULL);
		CHECK_STR(ha_get(j, "device.model"), "T1");
		CHECK_STR(ha_get(j, "device.sw_version"), "1.2.3");
		CHECK_STR(ha_get(j, "device.via_device"), "fakecloud_bridge");
		CHECK_STR(ha_get(j, "origin.name"), "fakecloud");
		CHECK(ha_get(j, "origin.sw_version") != NULL);
		CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "availability")), 2);
		CHECK_STR(ha_get(j, "availability.0.topic"), "fakecloud/bridge/state");
		CHECK_STR(ha_get(j, "availability.1.topic"), "fakecloud/fctest_dev1/availability");
		CHECK_STR(ha_get(j, "availability_mode"), "all");
		cJSON_Delete(j);
	}
	const struct rec *num = last("homeassistant/number/fakecloud_fctest_dev1/brightness/config");
	CHECK(num && ha_has(num->payload, "command_topic", "fakecloud/fctest_dev1/set/brightness"));
	CHECK(num && ha_has(num->payload, "state_topic", "fakecloud/fctest_dev1"));
	CHECK(num && ha_has(num->payload, "min", "0") && ha_has(num->payload, "max", "255") &&
	      ha_has(num->payload, "step", "1"));
	const struct rec *sen = last("homeassistant/sensor/fakecloud_fctest_dev1/power/config");
	CHECK(sen && ha_has(sen->payload, "unit_of_measurement", "W") && ha_has(sen->payload, "device_class", "power") &&
	      ha_has(sen->payload, "state_class", "measurement"));
	CHECK(sen && ha_has(sen->payload, "value_template", "{{value_json['power']}}"));
	if (sen) { /* read-only: no command topic */
		cJSON *j = ha_config(sen->payload);
		CHECK(j && !cJSON_GetObjectItem(j, "command_topic"));
		cJSON_Delete(j);
	}
	const struct rec *sel = last("homeassistant/select/fakecloud_fctest_dev1/mode/config");
	CHECK(sel && ha_has(sel->payload, "command_topic", "fakecloud/fctest_dev1/set/mode"));
	if (sel) {
		cJSON *j = ha_config(sel->payload);
		char *opts = j ? cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "options")) : NULL;
		CHECK_STR(opts, "[\"auto\",\"eco\",\"boost\"]");
		free(opts);
		cJSON_Delete(j);
	}
	CHECK_INT(count_prefix("homeassistant/"), 4);

	rec_clear();
	msg(hub, &dev1, "fctest/dev1/state", "{\"state\":\"ON\",\"brightness\":12,\"power\":3.5,\"junk\":1}");
	const struct rec *st = last("fakecloud/fctest_dev1");
	CHECK(st && st->retain);
	CHECK(st && strstr(st->payload, "\"state\":\"ON\"") && strstr(st->payload, "\"power\":3.5") && !strstr(st->payload, "junk"));
	CHECK(last("fakecloud/fctest_dev1/raw") != NULL);
	rec_clear();
	msg(hub, &dev1, "fctest/dev1/state", "{\"state\":\"ON\"}");
	CHECK(last("fakecloud/fctest_dev1") == NULL); /* unchanged state is not republished */

	/* --- commands --- */
	rec_clear();
	msg(hub, &user, "fakecloud/fctest_dev1/set", "{\"state\":\"off\",\"brightness\":\"200\"}");
	const struct rec *cmd = last("fctest/dev1/cmd");
	CHECK(cmd && strcmp(cmd->client, "fctest:dev1") == 0);
	CHECK(cmd && strcmp(cmd->payload, "{\"state\":\"OFF\",\"brightness\":200}") == 0);
	rec_clear();
	msg(hub, &user, "fakecloud/fctest_dev1/set/state", "TOGGLE");
	CHECK(last("fctest/dev1/cmd") && strcmp(last("fctest/dev1/cmd")->payload, "{\"state\":\"OFF\"}") == 0);
	rec_clear();
	msg(hub, &user, "fakecloud/fctest_dev1/set", "{\"brightness\":300}");
	CHECK(last("fctest/dev1/cmd") == NULL);
	CHECK(last("fakecloud/bridge/log") && strstr(last("fakecloud/bridge/log")->payload, "above the maximum 255"));
	rec_clear();
	msg(hub, &user, "fakecloud/fctest_dev1/set", "{\"state\":\"ON\",\"power\":5}");
	CHECK(last("fctest/dev1/cmd") == NULL); /* one bad attribute refuses the whole command */
	CHECK(last("fakecloud/bridge/log") && strstr(last("fakecloud/bridge/log")->payload, "read-only"));
	rec_clear();
	msg(hub, &user, "fakecloud/fctest_dev1/set", "{\"colour\":1}");
	CHECK(last("fakecloud/bridge/log") && strstr(last("fakecloud/bridge/log")->payload, "unknown attribute 'colour'"));
	rec_clear();
	msg(hub, &user, "fakecloud/fctest_dev1/set", "{not json");
	CHECK(last("fctest/dev1/cmd") == NULL && last("fakecloud/bridge/log") != NULL);
	rec_clear();
	msg(hub, &user, "fakecloud/nobody/set", "{\"state\":\"ON\"}");
	CHECK(last("fakecloud/bridge/log") && strstr(last("fakecloud/bridge/log")->payload, "no device named 'nobody'"));
	rec_clear();
	msg(hub, &user, "fakecloud/fctest_dev1/get", "{\"state\":\"\"}");
	CHECK(last("fctest/dev1/cmd") && strcmp(last("fctest/dev1/cmd")->payload, "{\"get\":[\"state\"]}") == 0);
	rec_clear();
	msg(hub, &user, "fakecloud/fctest_dev1/raw/set", "{\"anything\":[1,2]}");
	CHECK(last("fctest/dev1/cmd") && strcmp(last("fctest/dev1/cmd")->payload, "{\"anything\":[1,2]}") == 0);
	/* dev2 connected but never said hello: offline, commands refused */
	rec_clear();
	msg(hub, &user, "fakecloud/fctest_dev2/set", "{\"state\":\"ON\"}");
	CHECK(last("fctest/dev2/cmd") == NULL);

	/* --- bridge/devices: names, exposes, never secrets --- */
	fake_now += 1000;
	fc_hub_on_tick(hub);
	const struct rec *devs = last("fakecloud/bridge/devices");
	CHECK(devs && devs->retain && strstr(devs->payload, "\"name\":\"fctest_dev1\"") &&
	      strstr(devs->payload, "\"exposes\":[{\"type\":\"binary\""));
	cJSON *devarr = devs ? cJSON_Parse(devs->payload) : NULL;
	CHECK(cJSON_IsArray(devarr) && cJSON_GetArraySize(devarr) == 2);
	if (devarr) { /* printed element by element: the same bytes as printing the whole array at once */
		char *whole = cJSON_PrintUnformatted(devarr);
		CHECK(whole && strcmp(whole, devs->payload) == 0);
		free(whole);
	}
	cJSON_Delete(devarr);
	CHECK(!any_payload_contains("s3cret-device-password"));
	CHECK(!any_payload_contains(ipw));

	/* --- last_seen in bridge/devices is refreshed, at most once a minute --- */
	fake_now += 61000;
	rec_clear();
	msg(hub, &dev1, "fctest/dev1/state", "{\"power\":3.5}"); /* unchanged state: only last_seen moves */
	fc_hub_on_tick(hub);
	devs = last("fakecloud/bridge/devices");
	char want_seen[64];
	snprintf(want_seen, sizeof want_seen, "\"last_seen\":%lld", (long long)fake_now);
	CHECK(devs && strstr(devs->payload, want_seen));
	rec_clear();
	fake_now += 1000;
	msg(hub, &dev1, "fctest/dev1/state", "{\"power\":3.5}");
	fc_hub_on_tick(hub);
	CHECK(last("fakecloud/bridge/devices") == NULL);

	/* --- another process stored new info (fakecloud-httpd's Tuya activation stores the ip): the hub's
	 * copy follows device-changed, so the same ip from the device's next login writes nothing --- */
	cJSON *ipatch = cJSON_CreateObject();
	cJSON_AddStringToObject(ipatch, "ip", "10.1.2.3");
	CHECK_INT(fc_ks_device_merge_meta(ks, "fctest", "dev2", ipatch), FC_KS_OK);
	cJSON_Delete(ipatch);
	rec_clear();
	fake_now += 1000;
	msg(hub, &intl, "$fakecloud/internal/core/device-changed", "{\"vendor\":\"fctest\",\"vid\":\"dev2\"}");
	fc_hub_on_tick(hub);
	devs = last("fakecloud/bridge/devices");
	CHECK(devs && strstr(devs->payload, "\"ip\":\"10.1.2.3\""));
	rec_clear();
	fake_now += 1000;
	fc_hub_device_set_info(hub, fc_hub_device_by_name(hub, "fctest_dev2"), NULL, NULL, "10.1.2.3");
	fc_hub_on_tick(hub);
	CHECK(last("fakecloud/bridge/devices") == NULL);

	/* --- rename --- */
	rec_clear();
	msg(hub, &user, "fakecloud/bridge/request/device/rename", "{\"from\":\"fctest_dev1\",\"to\":\"desk lamp\",\"transaction\":7}");
	const struct rec *resp = last("fakecloud/bridge/response/device/rename");
	CHECK(resp && strstr(resp->payload, "\"status\":\"ok\"") && strstr(resp->payload, "\"transaction\":7"));
	CHECK(last("fakecloud/fctest_dev1") && last("fakecloud/fctest_dev1")->payload[0] == 0); /* old state cleared */
	CHECK(last("fakecloud/desk lamp/availability") && strcmp(last("fakecloud/desk lamp/availability")->payload, "online") == 0);
	CHECK(last("fakecloud/desk lamp") && strstr(last("fakecloud/desk lamp")->payload, "\"state\":\"ON\""));
	sw = last("homeassistant/switch/fakecloud_fctest_dev1/state/config");
	CHECK(sw && ha_has(sw->payload, "command_topic", "fakecloud/desk lamp/set"));
	CHECK(sw && ha_has(sw->payload, "state_topic", "fakecloud/desk lamp"));
	CHECK(sw && ha_has(sw->payload, "availability.1.topic", "fakecloud/desk lamp/availability"));
	CHECK(sw && ha_has(sw->payload, "device.name", "desk lamp"));
	CHECK(sw && ha_has(sw->payload, "unique_id", "fakecloud_fctest_dev1_state")); /* the entity stays the same */
	CHECK(sw && ha_has(sw->payload, "object_id", "desk_lamp_state"));
	struct fc_device_row row;
	CHECK_INT(fc_ks_device_get_by_name(ks, "desk lamp", &row), FC_KS_OK);
	fc_device_row_free(&row);
	rec_clear();
	msg(hub, &user, "fakecloud/bridge/request/device/rename", "{\"from\":\"desk lamp\",\"to\":\"fctest_dev2\"}");
	resp = last("fakecloud/bridge/response/device/rename");
	CHECK(resp && strstr(resp->payload, "\"status\":\"error\"") && strstr(resp->payload, "already taken"));
	rec_clear();
	msg(hub, &user, "fakecloud/bridge/request/device/rename", "{\"from\":\"desk lamp\",\"to\":\"a/b\"}");
	resp = last("fakecloud/bridge/response/device/rename");
	CHECK(resp && strstr(resp->payload, "\"status\":\"error\""));
	CHECK(fc_hub_device_by_name(hub, "desk lamp") != NULL);
	rec_clear();
	msg(hub, &user, "fakecloud/bridge/request/device/explode", "{}");
	resp = last("fakecloud/bridge/response/device/explode");
	CHECK(resp && strstr(resp->payload, "unknown request"));

	/* --- disconnect -> offline; a stale session ending does not take a rebound device offline --- */
	rec_clear();
	int h1b;
	struct fc_client dev1b = {&h1b, "fctest:dev1", "dev1", "127.0.0.1", 4};
	CHECK_INT(fc_hub_on_auth(hub, &dev1b, "dev1", "s3cret-device-password"), FC_ALLOW);
	msg(hub, &dev1b, "fctest/dev1/hello", "{}");
	fc_hub_on_disconnect(hub, &dev1); /* the old connection closes after the new one bound */
	CHECK(fc_hub_device_by_name(hub, "desk lamp")->online);
	fc_hub_on_disconnect(hub, &dev1b);
	CHECK(!fc_hub_device_by_name(hub, "desk lamp")->online);
	CHECK(last("fakecloud/desk lamp/availability") &&
	      strcmp(last("fakecloud/desk lamp/availability")->payload, "offline") == 0);
	rec_clear();
	msg(hub, &user, "fakecloud/desk lamp/set", "{\"state\":\"ON\"}");
	CHECK(last("fctest/dev1/cmd") == NULL);
	CHECK(last("fakecloud/bridge/log") && strstr(last("fakecloud/bridge/log")->payload, "offline"));

	/* --- remove: discovery cleared, keys kept or forgotten --- */
	rec_clear();
	msg(hub, &user, "fakecloud/bridge/request/device/remove", "{\"name\":\"desk lamp\"}");
	resp = last("fakecloud/bridge/response/device/remove");
	CHECK(resp && strstr(resp->payload, "\"status\":\"ok\""));
	sw = last("homeassistant/switch/fakecloud_fctest_dev1/state/config");
	CHECK(sw && sw->retain && sw->payload[0] == 0);
	CHECK_INT(count_prefix("homeassistant/"), 4);
	CHECK(fc_hub_device_by_name(hub, "desk lamp") == NULL);
	CHECK_INT(fc_ks_device_get(ks, "fctest", "dev1", &row), FC_KS_OK); /* keys kept */
	fc_device_row_free(&row);
	/* it comes back when it logs in again */
	CHECK_INT(fc_hub_on_auth(hub, &dev1, "dev1", "s3cret-device-password"), FC_ALLOW);
	CHECK(fc_hub_device(hub, &fctest_vendor, "dev1") != NULL);
	rec_clear();
	msg(hub, &user, "fakecloud/bridge/request/device/remove", "{\"name\":\"fctest_dev2\",\"forget_keys\":true}");
	CHECK(last("fakecloud/bridge/response/device/remove") &&
	      strstr(last("fakecloud/bridge/response/device/remove")->payload, "\"status\":\"ok\""));
	CHECK_INT(fc_ks_device_get(ks, "fctest", "dev2", &row), FC_KS_NOTFOUND);
	CHECK_INT(fc_hub_on_auth(hub, &dev2, "dev2", "s3cret-device-password"), FC_DENY);

	/* --- vendor (admin-only) bridge requests: consumed, never relayed; non-admins refused --- */
	rec_clear();
	const char *acct = "{\"user_id\":\"7777777\",\"key\":\"imported-account-key-123\"}";
	CHECK_INT(fc_hub_on_message(hub, &user, "fakecloud/bridge/request/meross/account/add", acct, strlen(acct), false),
		  FC_DENY);
	resp = last("fakecloud/bridge/response/meross/account/add");
	CHECK(resp && strstr(resp->payload, "admin only"));
	struct fc_account_row arow;
	CHECK_INT(fc_ks_account_get(ks, "meross", "7777777", &arow), FC_KS_NOTFOUND);
	int ha;
	struct fc_client admin = {&ha, "admin-cli", "admin", "127.0.0.1", 4};
	rec_clear();
	CHECK_INT(fc_hub_on_message(hub, &admin, "fakecloud/bridge/request/meross/account/add", acct, strlen(acct), false),
		  FC_DENY);
	resp = last("fakecloud/bridge/response/meross/account/add");
	CHECK(resp && strstr(resp->payload, "\"status\":\"ok\"") && strstr(resp->payload, "\"user_id\":\"7777777\""));
	CHECK(!any_payload_contains("imported-account-key-123"));
	CHECK_INT(fc_ks_account_get(ks, "meross", "7777777", &arow), FC_KS_OK);
	fc_account_row_free(&arow);

	/* --- internal messages are consumed --- */
	CHECK_INT(fc_hub_on_message(hub, &intl, "$fakecloud/internal/core/device-changed", "{}", 2, false), FC_DENY);

	fc_hub_stop(hub);
	CHECK(last("fakecloud/bridge/state") && strcmp(last("fakecloud/bridge/state")->payload, "offline") == 0);
	fc_hub_free(hub);
	fc_keystore_close(ks);
	free(cfg);
	rec_clear();

	/* --- a base topic starting with '~' would be taken for Home Assistant's "~": topics go in full --- */
	cfg = calloc(1, sizeof *cfg);
	fc_config_init(cfg, fc_vendor_config_tables(fc_vendors));
	CHECK_INT(fc_config_set(cfg, "core", "base_topic", "~fc", err, sizeof err), 0);
	ks = fc_keystore_open(":memory:", err, sizeof err);
	CHECK(ks != NULL);
	sec = cJSON_CreateObject();
	cJSON_AddStringToObject(sec, "password", "s3cret-device-password");
	CHECK_INT(fc_ks_device_put(ks, "fctest", "dev1", "", sec, NULL), FC_KS_OK);
	cJSON_Delete(sec);
	hub = fc_hub_new(&b, cfg, ks, fc_vendors, err, sizeof err);
	CHECK(hub != NULL);
	if (hub) {
		fc_hub_on_tick(hub);
		CHECK_INT(fc_hub_on_auth(hub, &dev1, "dev1", "s3cret-device-password"), FC_ALLOW);
		msg(hub, &dev1, "fctest/dev1/hello", "{}");
		sw = last("homeassistant/switch/fakecloud_fctest_dev1/state/config");
		CHECK(sw && !strstr(sw->payload, "\"~\":"));
		CHECK(sw && ha_has(sw->payload, "command_topic", "~fc/fctest_dev1/set"));
		CHECK(sw && ha_has(sw->payload, "state_topic", "~fc/fctest_dev1"));
		CHECK(sw && ha_has(sw->payload, "availability.0.topic", "~fc/bridge/state"));
		CHECK(sw && ha_has(sw->payload, "availability.1.topic", "~fc/fctest_dev1/availability"));
		num = last("homeassistant/number/fakecloud_fctest_dev1/brightness/config");
		CHECK(num && ha_has(num->payload, "command_topic", "~fc/fctest_dev1/set/brightness"));
		fc_hub_stop(hub);
		fc_hub_free(hub);
	}
	fc_keystore_close(ks);
	free(cfg);
	rec_clear();
	return t_done();
}
