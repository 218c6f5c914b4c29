/* Tuya devices (simulated: url_config over TLS-PSK, tuya.device.active, MQTT 2.2 or 2.1) register with
 * fakecloud through the real httpd, log in to the real broker with the real plugin, report DPs that become
 * plain-topic state, and take plain-topic commands as protocol 5. Plus the refusals: unknown devId, wrong
 * password, a device on another device's topics, users on device command topics, PSK identity 2 without
 * its pskKey; keys stable across a broker restart; secrets never in logs or topics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/crypto.h"
#include "harness/harness.h"
#include "sim/tuya_sim.h"
#include "unit/ha_discovery.h"
#include "unit/t.h"
#include "vendors/tuya/codec.h"

#define WAIT 10000

#define PLUG_UUID "fcsimplug0000001"
#define PLUG_AUTH "AbCdEfGhIjKlMnOpQrStUvWxYz012345"
#define OLD_UUID "fcsimold00000002"
#define OLD_AUTH "0123456789abcdefGHIJKLMNOPQRSTUV"
#define NEW_UUID "fcsimnew00000003"
#define NEW_AUTH "zyxwvutsrqponmlkjihgfedcba987654"
#define NEW_PSK "LZh9navyE1i5BR9SqDDSCU6THligfoaqd0qXZ" /* 37 characters, like real pskKeys */

/* A plug as Tuya describes it: relay, countdown, and metering with scales. */
static const char plug_schema[] =
	"[{\"id\":1,\"type\":\"obj\",\"mode\":\"rw\",\"property\":{\"type\":\"bool\"},\"code\":\"switch_1\"},"
	"{\"id\":9,\"type\":\"obj\",\"mode\":\"rw\",\"property\":{\"type\":\"value\",\"min\":0,\"max\":86400,"
	"\"scale\":0,\"step\":1,\"unit\":\"s\"},\"code\":\"countdown_1\"},"
	"{\"id\":17,\"type\":\"obj\",\"mode\":\"ro\",\"property\":{\"type\":\"value\",\"min\":0,\"max\":50000,"
	"\"scale\":3,\"step\":100,\"unit\":\"kWh\"},\"code\":\"add_ele\"},"
	"{\"id\":19,\"type\":\"obj\",\"mode\":\"ro\",\"property\":{\"type\":\"value\",\"min\":0,\"max\":80000,"
	"\"scale\":1,\"step\":1,\"unit\":\"W\"},\"code\":\"cur_power\"},"
	"{\"id\":20,\"type\":\"obj\",\"mode\":\"ro\",\"property\":{\"type\":\"value\",\"min\":0,\"max\":5000,"
	"\"scale\":1,\"step\":1,\"unit\":\"V\"},\"code\":\"cur_voltage\"},"
	"{\"id\":38,\"type\":\"obj\",\"mode\":\"rw\",\"property\":{\"type\":\"enum\",\"range\":[\"off\",\"on\","
	"\"memory\"]},\"code\":\"relay_status\"}]";

static struct fc_env e;

static struct tuya_sim *start_sim(const char *uuid, const char *auth, int pv, const char *dps)
{
	struct tuya_sim_opts o;
	tuya_sim_opts_init(&o);
	snprintf(o.uuid, sizeof o.uuid, "%s", uuid);
	snprintf(o.auth_key, sizeof o.auth_key, "%s", auth);
	o.https_port = e.https_port;
	o.pv = pv;
	o.initial_dps = dps;
	o.reconnect_ms = 300;
	return tuya_sim_start(&o);
}

static bool see(struct fc_mq *m, const char *topic, const char *needle)
{
	return fc_mq_wait_payload(m, topic, needle, WAIT, NULL);
}

/* Wait for a Home Assistant config on topic containing needle; expanded as Home Assistant reads it,
 * `path` must be `want`. */
static bool see_ha(struct fc_mq *m, const char *topic, const char *needle, const char *path, const char *want)
{
	struct fc_mq_msg msg = {0};
	bool ok = fc_mq_wait_payload(m, topic, needle, WAIT, &msg) && ha_has(msg.payload, path, want);
	fc_mq_msg_free(&msg);
	return ok;
}

/* The simulator's DPs contain `needle` within the wait. */
static bool sim_has(struct tuya_sim *s, const char *needle)
{
	char dps[1024];
	for (int i = 0; i < WAIT / 20; i++) {
		tuya_sim_dps(s, dps, sizeof dps);
		if (strstr(dps, needle))
			return true;
		fc_sleep_ms(20);
	}
	fprintf(stderr, "sim dps %s lack %s\n", dps, needle);
	return false;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

int main(void)
{
	const char *sets[] = {"tuya.address=127.0.0.1", NULL};
	if (fc_env_init(&e, "tuya", sets) != 0)
		return 1;
	char out[8192], path[512];
	snprintf(path, sizeof path, "%s/plug-schema.json", e.dir);
	write_file(path, plug_schema);
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device add tuya --uuid " PLUG_UUID " --auth-key " PLUG_AUTH
						   " --schema-file %s --name plug",
			     path),
		  0);
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device add tuya --uuid " OLD_UUID " --auth-key " OLD_AUTH
						   " --name old"),
		  0);
	CHECK(strstr(out, "no schema imported") != NULL);
	/* bad imports are refused with a reason and store nothing */
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device add tuya --uuid " NEW_UUID " --auth-key short"), 2);
	CHECK(strstr(out, "--auth-key must be 32 characters") != NULL);
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device add tuya --uuid " NEW_UUID " --auth-key " NEW_AUTH
						   " --dp-names 1=state,2=state"),
		  2);
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device list"), 0);
	CHECK(strstr(out, NEW_UUID) == NULL);
	CHECK_INT(fc_env_start_broker(&e), 0);
	CHECK_INT(fc_env_start_httpd(&e), 0);
	struct fc_mq *admin = fc_mq_connect_admin(&e, "admin");
	struct fc_mq *spy = fc_mq_connect_admin(&e, "spy");
	CHECK(admin && spy);
	if (!admin || !spy)
		goto out;
	fc_mq_subscribe(admin, "fakecloud/#", 0);
	fc_mq_subscribe(admin, "homeassistant/#", 0);
	fc_mq_subscribe(spy, "#", 0);

	/* ---- a 2.2 plug activates, comes online and reports ---- */
	struct tuya_sim *plug = start_sim(PLUG_UUID, PLUG_AUTH, 22, "{\"1\":false,\"9\":0,\"17\":123,\"19\":0,\"20\":2305,\"38\":\"memory\"}");
	CHECK(plug != NULL);
	if (!plug)
		goto out;
	bool online = tuya_sim_wait_stage(plug, TUYA_SIM_ONLINE, WAIT);
	CHECK(online);
	if (!online) {
		char why[256];
		tuya_sim_last_error(plug, why, sizeof why);
		fprintf(stderr, "plug not online: %s\n", why);
		goto out;
	}
	char dev_id[64], local_key[64], sec_key[64];
	tuya_sim_dev_id(plug, dev_id, sizeof dev_id);
	tuya_sim_local_key(plug, local_key, sizeof local_key);
	tuya_sim_sec_key(plug, sec_key, sizeof sec_key);
	CHECK(strlen(dev_id) >= 20 && strlen(local_key) == 16 && strlen(sec_key) == 16);
	char schema[4096];
	tuya_sim_schema(plug, schema, sizeof schema);
	CHECK(strstr(schema, "cur_voltage") != NULL); /* the imported schema went to the device */
	int64_t st = tuya_sim_server_time(plug);
	CHECK(st > time(NULL) - 60 && st < time(NULL) + 60);
	CHECK(see(admin, "fakecloud/plug/availability", "online"));
	struct fc_mq_msg state = {0};
	CHECK(fc_mq_wait_payload(admin, "fakecloud/plug", "\"voltage\":230.5", WAIT, &state));
	CHECK(state.payload && strstr(state.payload, "\"energy\":0.123"));
	CHECK(state.payload && strstr(state.payload, "\"power_on_behavior\":\"memory\""));
	CHECK(state.payload && strstr(state.payload, "\"state\":\"OFF\""));
	fc_mq_msg_free(&state);
	CHECK(see_ha(admin, "homeassistant/switch/fakecloud_tuya_" PLUG_UUID "/state/config", "\"name\"", "command_topic",
		     "fakecloud/plug/set"));
	CHECK(see_ha(admin, "homeassistant/sensor/fakecloud_tuya_" PLUG_UUID "/voltage/config", "\"V\"",
		     "unit_of_measurement", "V"));

	/* device-side change */
	CHECK_INT(tuya_sim_set_dps(plug, "{\"1\":true,\"19\":1234}"), 0);
	CHECK(fc_mq_wait_payload(admin, "fakecloud/plug", "\"power\":123.4", WAIT, &state));
	CHECK(state.payload && strstr(state.payload, "\"state\":\"ON\""));
	fc_mq_msg_free(&state);
	struct fc_mq_msg raw = {0};
	CHECK(fc_mq_wait_payload(admin, "fakecloud/plug/raw", "\"dps\"", WAIT, &raw));
	CHECK(raw.payload && strstr(raw.payload, "\"protocol\":4"));
	fc_mq_msg_free(&raw);

	/* plain-topic commands become protocol 5, applied by the device, which reports back */
	CHECK(fc_mq_publish(admin, "fakecloud/plug/set", "{\"state\":\"OFF\"}", 1, false) == 0);
	CHECK(sim_has(plug, "\"1\":false"));
	CHECK(see(admin, "fakecloud/plug", "\"state\":\"OFF\""));
	char cmd[512];
	int64_t t1 = 0, t2 = 0;
	uint32_t seq1 = 0, seq2 = 0;
	tuya_sim_last_command(plug, cmd, sizeof cmd, &t1, &seq1);
	CHECK(strstr(cmd, "\"1\":false") != NULL);
	CHECK(t1 > time(NULL) - 60 && t1 <= time(NULL) + 1); /* a real t */
	CHECK(fc_mq_publish(admin, "fakecloud/plug/set/countdown", "60", 1, false) == 0);
	CHECK(sim_has(plug, "\"9\":60"));
	tuya_sim_last_command(plug, cmd, sizeof cmd, &t2, &seq2);
	CHECK(seq2 > seq1); /* monotonic sequence */
	CHECK(fc_mq_publish(admin, "fakecloud/plug/set/state", "TOGGLE", 1, false) == 0);
	CHECK(sim_has(plug, "\"1\":true"));
	CHECK(fc_mq_publish(admin, "fakecloud/plug/set", "{\"power_on_behavior\":\"off\"}", 1, false) == 0);
	CHECK(sim_has(plug, "\"38\":\"off\""));
	/* refusals, each with a specific reason on bridge/log and nothing sent */
	long cmds = tuya_sim_counter(plug, TSC_COMMANDS);
	CHECK(fc_mq_publish(admin, "fakecloud/plug/set", "{\"power\":5}", 1, false) == 0);
	CHECK(see(admin, "fakecloud/bridge/log", "power"));
	CHECK(fc_mq_publish(admin, "fakecloud/plug/set", "{\"countdown\":90000}", 1, false) == 0);
	CHECK(see(admin, "fakecloud/bridge/log", "countdown"));
	CHECK(fc_mq_publish(admin, "fakecloud/plug/raw/set", "{\"protocol\":8,\"data\":{}}", 1, false) == 0);
	CHECK(see(admin, "fakecloud/bridge/log", "never sent"));
	/* raw/set with a dps map */
	CHECK(fc_mq_publish(admin, "fakecloud/plug/raw/set", "{\"dps\":{\"9\":30}}", 1, false) == 0);
	CHECK(sim_has(plug, "\"9\":30"));
	CHECK_INT(tuya_sim_counter(plug, TSC_COMMANDS), cmds + 1);
	CHECK_INT(tuya_sim_counter(plug, TSC_BAD_MESSAGES), 0);

	/* ---- a 2.1 device (G1 style payloads) without an imported schema ---- */
	struct tuya_sim *old = start_sim(OLD_UUID, OLD_AUTH, 21, "{\"1\":true}");
	CHECK(old && tuya_sim_wait_stage(old, TUYA_SIM_ONLINE, WAIT));
	char old_id[64] = "";
	if (old)
		tuya_sim_dev_id(old, old_id, sizeof old_id);
	CHECK(see(admin, "fakecloud/old", "\"state\":\"ON\""));
	CHECK(fc_mq_publish(admin, "fakecloud/old/set/state", "OFF", 1, false) == 0);
	CHECK(old && sim_has(old, "\"1\":false"));
	CHECK(see(admin, "fakecloud/old", "\"state\":\"OFF\""));

	/* ---- a TuyaOpen-style device (ATOP et=3, MQTT 2.3), imported by an admin over MQTT ---- */
	CHECK(fc_mq_publish(admin, "fakecloud/bridge/request/tuya/device/add",
			    "{\"uuid\":\"" NEW_UUID "\",\"auth_key\":\"" NEW_AUTH "\",\"psk_key\":\"" NEW_PSK
			    "\",\"name\":\"new\",\"dp_names\":{\"1\":\"light\"},\"transaction\":\"n1\"}",
			    1, false) == 0);
	CHECK(fc_mq_wait_payload(admin, "fakecloud/bridge/response/tuya/device/add", "\"status\":\"ok\"", WAIT, NULL));
	struct tuya_sim *dev23 = start_sim(NEW_UUID, NEW_AUTH, 23, "{\"1\":false}");
	CHECK(dev23 && tuya_sim_wait_stage(dev23, TUYA_SIM_ONLINE, WAIT));
	CHECK(see(admin, "fakecloud/new", "\"light\":\"OFF\""));
	CHECK(fc_mq_publish(admin, "fakecloud/new/set/light", "ON", 1, false) == 0);
	CHECK(dev23 && sim_has(dev23, "\"1\":true"));
	CHECK(see(admin, "fakecloud/new", "\"light\":\"ON\""));
	char new_id[64] = "", new_sec[64] = "";
	if (dev23) {
		tuya_sim_dev_id(dev23, new_id, sizeof new_id);
		tuya_sim_sec_key(dev23, new_sec, sizeof new_sec);
	}

	/* ---- refusals at login and on topics ---- */
	int rc = -2;
	/* nobody gets in without credentials */
	struct fc_mq *anon = fc_mq_connect(&e, "anonymous1", NULL, NULL, 4, &rc);
	CHECK(anon == NULL && rc == 5);
	fc_mq_close(anon);
	/* an unknown devId (activated with another cloud) */
	struct fc_mq *m = fc_mq_connect(&e, "bf0000000000000000zzzz", "bf0000000000000000zzzz", "0123456789abcdef", 4, &rc);
	CHECK(m == NULL && rc == 5);
	fc_mq_close(m);
	CHECK(fc_env_wait_broker_log(&e, "unknown devId", 1, WAIT));
	/* the plug's devId with a wrong password */
	m = fc_mq_connect(&e, dev_id, dev_id, "0000000000000000", 4, &rc);
	CHECK(m == NULL && rc == 5);
	fc_mq_close(m);
	CHECK(fc_env_wait_broker_log(&e, "wrong MQTT password", 1, WAIT));
	/* the old device's credentials, trying the plug's topics */
	char pw[17], topic[128];
	tuya_sim_sec_key(old, sec_key, sizeof sec_key);
	tuya_mqtt_password(sec_key, strlen(sec_key), pw);
	m = fc_mq_connect(&e, old_id, old_id, pw, 4, &rc);
	CHECK(m != NULL);
	if (m) {
		snprintf(topic, sizeof topic, "smart/device/in/%s", dev_id);
		CHECK_INT(fc_mq_subscribe(m, topic, 1), 128);
		snprintf(topic, sizeof topic, "smart/device/out/%s", dev_id);
		fc_mq_publish(m, topic, "2.2garbage", 1, false);
		CHECK(fc_env_wait_broker_log(&e, "may not write", 1, WAIT));
		CHECK_INT(fc_mq_subscribe(m, "fakecloud/#", 0), 128);
		/* another vendor's device topics */
		CHECK_INT(fc_mq_subscribe(m, "/appliance/2012317778118925583748e1e943e9bc/subscribe", 1), 128);
		CHECK_INT(fc_mq_subscribe(m, "fctest/lamp/cmd", 1), 128);
		fc_mq_publish(m, "/appliance/2012317778118925583748e1e943e9bc/publish", "{}", 1, false);
		fc_mq_publish(m, "fctest/lamp/state", "{\"state\":\"ON\"}", 1, false);
		CHECK(fc_env_wait_broker_log(&e, "may not write '/appliance/", 1, WAIT));
		CHECK(fc_env_wait_broker_log(&e, "may not write 'fctest/lamp/state'", 1, WAIT));
		fc_mq_close(m);
	}
	/* and a device of another vendor on Tuya topics */
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device add fctest --id lamp --password lamppw1"), 0);
	m = fc_mq_connect(&e, "fctest:lamp", "lamp", "lamppw1", 4, &rc);
	CHECK(m != NULL);
	if (m) {
		snprintf(topic, sizeof topic, "smart/device/in/%s", dev_id);
		CHECK_INT(fc_mq_subscribe(m, topic, 1), 128);
		long bad = tuya_sim_counter(plug, TSC_BAD_MESSAGES);
		snprintf(topic, sizeof topic, "smart/device/out/%s", dev_id);
		fc_mq_publish(m, topic, "2.2forged", 1, false);
		fc_sleep_ms(300);
		CHECK_INT(tuya_sim_counter(plug, TSC_BAD_MESSAGES), bad);
		fc_mq_close(m);
	}
	/* a user may not write a device's command topic */
	snprintf(topic, sizeof topic, "smart/device/in/%s", dev_id);
	fc_mq_publish(admin, topic, "2.2forged-by-a-user", 1, false);
	CHECK(see(admin, "fakecloud/bridge/log", "only fakecloud writes there"));
	/* a message that does not decrypt with the localKey is dropped and logged */
	snprintf(topic, sizeof topic, "smart/device/out/%s", dev_id);
	CHECK_INT(tuya_sim_publish_raw(plug, topic, "2.2\x01\x02\x03\x04\x00\x00\x00\x09\x00\x00\x00\x01"
						  "0123456789abcdef",
				       31),
		  0);
	CHECK(see(admin, "fakecloud/bridge/log", "message dropped"));
	/* ...and the device keeps its connection */
	CHECK(tuya_sim_stage(plug) == TUYA_SIM_ONLINE);
	CHECK_INT(tuya_sim_counter(plug, TSC_CONNECTS), 1);

	/* ---- MQTT over TLS-PSK (identity v1): keys from the plugin ---- */
	{
		uint8_t id[TUYA_PSK_ID_V1_LEN + 1], psk[TUYA_PSK_LEN];
		char hexkey[2 * TUYA_PSK_LEN + 1], err[128];
		CHECK_INT(tuya_psk_id_v1_build(NULL, PLUG_UUID, PLUG_AUTH, id), 0);
		id[TUYA_PSK_ID_V1_LEN] = 0;
		CHECK_INT(tuya_psk_v1_derive(id, TUYA_PSK_ID_V1_LEN, NULL, 0, psk, err, sizeof err), 0);
		fc_hex_encode(psk, sizeof psk, hexkey);
		tuya_sim_sec_key(old, sec_key, sizeof sec_key);
		tuya_mqtt_password(sec_key, strlen(sec_key), pw);
		struct fc_mq *pm = fc_mq_connect_psk(&e, old_id, old_id, pw, (const char *)id, hexkey, &rc);
		CHECK(pm != NULL);
		fc_mq_close(pm);
		/* identity 2 needs the device's pskKey, which nobody imported */
		uint8_t id2[TUYA_PSK_ID_V2_LEN + 1];
		CHECK_INT(tuya_psk_id_v2_build(NULL, OLD_UUID, id2), 0);
		id2[TUYA_PSK_ID_V2_LEN] = 0;
		pm = fc_mq_connect_psk(&e, old_id, old_id, pw, (const char *)id2, hexkey, &rc);
		CHECK(pm == NULL);
		fc_mq_close(pm);
		CHECK(fc_env_wait_broker_log(&e, "PSK identity 2", 1, WAIT));
		/* ...which the device imported with its pskKey has: its key is the pskKey itself */
		CHECK_INT(tuya_psk_id_v2_build(NULL, NEW_UUID, id2), 0);
		char pskhex[2 * sizeof NEW_PSK + 1];
		fc_hex_encode(NEW_PSK, strlen(NEW_PSK), pskhex);
		tuya_mqtt_password(new_sec, strlen(new_sec), pw);
		pm = fc_mq_connect_psk(&e, new_id, new_id, pw, (const char *)id2, pskhex, &rc);
		CHECK(pm != NULL);
		fc_mq_close(pm);
	}

	/* ---- no secret in any log line or topic so far ---- */
	{
		char plug_sec[64], plug_local[64], old_sec[64], old_local[64];
		tuya_sim_sec_key(plug, plug_sec, sizeof plug_sec);
		tuya_sim_local_key(plug, plug_local, sizeof plug_local);
		tuya_sim_sec_key(old, old_sec, sizeof old_sec);
		tuya_sim_local_key(old, old_local, sizeof old_local);
		const char *secrets[] = {PLUG_AUTH, OLD_AUTH, NEW_AUTH, NEW_PSK, new_sec, plug_sec, plug_local, old_sec, old_local, NULL};
		CHECK_INT(fc_env_scan_secrets(&e, spy, secrets), 0);
	}

	/* ---- availability and a broker restart: same keys, same topics, commands still work ---- */
	tuya_sim_drop(plug);
	CHECK(see(admin, "fakecloud/plug/availability", "offline"));
	CHECK(see(admin, "fakecloud/plug/availability", "online"));
	fc_mq_close(admin);
	fc_mq_close(spy);
	admin = spy = NULL;
	CHECK_INT(fc_env_stop_broker(&e), 0);
	CHECK_INT(fc_env_start_broker(&e), 0);
	admin = fc_mq_connect_admin(&e, "admin2");
	CHECK(admin != NULL);
	if (!admin)
		goto out;
	fc_mq_subscribe(admin, "fakecloud/#", 0);
	CHECK(see(admin, "fakecloud/plug/availability", "online"));
	CHECK(fc_mq_publish(admin, "fakecloud/plug/set/state", "ON", 1, false) == 0);
	CHECK(sim_has(plug, "\"1\":true"));
	char id_after[64];
	tuya_sim_dev_id(plug, id_after, sizeof id_after);
	CHECK_STR(id_after, dev_id);

	/* ---- export for LAN tools ---- */
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device export tuya"), 0);
	tuya_sim_local_key(plug, local_key, sizeof local_key);
	CHECK(strstr(out, dev_id) && strstr(out, local_key) && strstr(out, "127.0.0.1"));
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device export tuya --format json"), 0);
	CHECK(strstr(out, "\"id\":") && strstr(out, "\"key\":"));

	/* ---- and none in the logs after the restart ---- */
	{
		char plug_sec[64], plug_local[64], old_sec[64], old_local[64];
		tuya_sim_sec_key(plug, plug_sec, sizeof plug_sec);
		tuya_sim_local_key(plug, plug_local, sizeof plug_local);
		tuya_sim_sec_key(old, old_sec, sizeof old_sec);
		tuya_sim_local_key(old, old_local, sizeof old_local);
		const char *secrets[] = {PLUG_AUTH, OLD_AUTH, plug_sec, plug_local, old_sec, old_local, NULL};
		CHECK_INT(fc_env_scan_secrets(&e, NULL, secrets), 0);
	}
	tuya_sim_stop(plug);
	tuya_sim_stop(old);
	tuya_sim_stop(dev23);
out:
	fc_mq_close(admin);
	fc_mq_close(spy);
	fc_env_cleanup(&e);
	return t_done();
}
