/* Meross devices (simulated, speaking MQTT 3.1 over TLS as real ones do) bind to fakecloud through the
 * real broker and plugin, stay bound, report state and take plain-topic commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/hub.h"
#include "core/keystore.h"
#include "harness/harness.h"
#include "sim/meross_sim.h"
#include "unit/ha_discovery.h"
#include "unit/t.h"

#define WAIT 8000
#define USER_ID "1234567"
#define KEY "0123456789abcdef0123456789abcdef"

static struct fc_env e;
static struct fc_mq *spy;

static struct meross_sim *sim(enum meross_sim_kind kind, const char *uuid, const char *mac, const char *uid,
			      const char *key, const char *password)
{
	struct meross_sim_opts o;
	meross_sim_opts_init(&o, kind);
	snprintf(o.uuid, sizeof o.uuid, "%s", uuid);
	snprintf(o.mac, sizeof o.mac, "%s", mac);
	snprintf(o.user_id, sizeof o.user_id, "%s", uid);
	snprintf(o.key, sizeof o.key, "%s", key);
	if (password)
		snprintf(o.password_override, sizeof o.password_override, "%s", password);
	o.port = e.tls_port;
	o.bind_retry_ms = 700;
	o.reconnect_ms = 300;
	return meross_sim_start(&o);
}

/* Wait for a retained/live value on topic containing needle. */
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

static bool wait_onoff(struct meross_sim *s, int ch, int want)
{
	for (int i = 0; i < WAIT / 20; i++) {
		if (meross_sim_onoff(s, ch) == want)
			return true;
		usleep(20000);
	}
	return false;
}

#define PLUG_UUID "2012317778118925583748e1e943e9bc"
#define STRIP_UUID "1811128554218425181848e1e9000002"
#define BULB_UUID "19011804581223251h0434298f1a4b07"
#define HUB_UUID "2005290219163125182048e1e9000004"

int main(void)
{
	const char *sets[] = {"meross.electricity_interval=5", NULL};
	if (fc_env_init(&e, "meross", sets) != 0)
		return 1;
	char out[4096];
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device add meross-account --user-id " USER_ID " --key " KEY), 0);
	CHECK_INT(fc_env_start_broker(&e), 0);
	struct fc_mq *admin = fc_mq_connect_admin(&e, "admin");
	CHECK(admin != NULL);
	if (!admin)
		goto out;
	fc_mq_subscribe(admin, "fakecloud/#", 0);
	fc_mq_subscribe(admin, "homeassistant/#", 0);
	/* A spy sees every topic for the whole run; at the end no secret may be in what it saw. */
	spy = fc_mq_connect_admin(&e, "spy");
	CHECK(spy && fc_mq_subscribe(spy, "#", 0) >= 0);

	/* ---- a plug binds and stays bound ---- */
	struct meross_sim *plug = sim(MEROSS_SIM_PLUG, PLUG_UUID, "48:e1:e9:43:e9:bc", USER_ID, KEY, NULL);
	CHECK(plug != NULL);
	if (!plug)
		goto out;
	CHECK(meross_sim_wait_bound(plug, WAIT));
	CHECK(see(admin, "fakecloud/meross_" PLUG_UUID "/availability", "online"));
	CHECK(meross_sim_wait_counter(plug, MSC_CLOCK_REPLIES, 1, WAIT));
	CHECK(meross_sim_wait_count(plug, "GET", "Appliance.System.All", 1, WAIT));
	CHECK(meross_sim_wait_count(plug, "GET", "Appliance.System.Ability", 1, WAIT));
	CHECK(meross_sim_wait_counter(plug, MSC_TIME_SETS, 1, WAIT));
	struct fc_mq_msg cfg = {0};
	CHECK(fc_mq_wait_payload(admin, "homeassistant/switch/fakecloud_meross_" PLUG_UUID "/state/config", "mss110", WAIT,
				 &cfg));
	if (cfg.payload) {
		CHECK(ha_has(cfg.payload, "device.model", "mss110"));
		CHECK(ha_has(cfg.payload, "device.manufacturer", "Meross"));
		CHECK(ha_has(cfg.payload, "command_topic", "fakecloud/meross_" PLUG_UUID "/set"));
		CHECK(ha_has(cfg.payload, "state_topic", "fakecloud/meross_" PLUG_UUID));
		CHECK(ha_has(cfg.payload, "availability.1.topic", "fakecloud/meross_" PLUG_UUID "/availability"));
		CHECK(ha_has(cfg.payload, "unique_id", "fakecloud_meross_" PLUG_UUID "_state"));
		/* Mosquitto keeps every retained config in memory: 860 bytes with long keys, 713 short */
		CHECK(cfg.len < 760);
		fc_mq_msg_free(&cfg);
	}
	CHECK(see(admin, "fakecloud/bridge/devices", "\"model\":\"mss110\""));
	usleep(2500 * 1000); /* longer than three bind retries: a bound device does not retry */
	CHECK_INT(meross_sim_counter(plug, MSC_SETACK_OK), 1);
	CHECK(meross_sim_counter(plug, MSC_BIND_ATTEMPTS) <= 2);
	CHECK_INT(meross_sim_counter(plug, MSC_BAD_SIGN), 0);
	CHECK_INT(meross_sim_counter(plug, MSC_ERRORS_SENT), 0);
	CHECK_INT(meross_sim_counter(plug, MSC_DISCONNECTS), 0);

	/* commands both ways */
	CHECK(fc_mq_publish(admin, "fakecloud/meross_" PLUG_UUID "/set", "{\"state\":\"ON\"}", 1, false) == 0);
	CHECK(wait_onoff(plug, 0, 1));
	CHECK(see(admin, "fakecloud/meross_" PLUG_UUID, "\"state\":\"ON\""));
	CHECK(fc_mq_publish(admin, "fakecloud/meross_" PLUG_UUID "/set/state", "TOGGLE", 1, false) == 0);
	CHECK(wait_onoff(plug, 0, 0));
	CHECK(see(admin, "fakecloud/meross_" PLUG_UUID, "\"state\":\"OFF\""));
	CHECK_INT(meross_sim_press(plug, 0), 1); /* button on the device */
	CHECK(see(admin, "fakecloud/meross_" PLUG_UUID, "\"state\":\"ON\""));
	/* /get and /raw/set */
	long gets = meross_sim_count(plug, "GET", "Appliance.Control.ToggleX");
	CHECK(fc_mq_publish(admin, "fakecloud/meross_" PLUG_UUID "/get", "{\"state\":\"\"}", 1, false) == 0);
	CHECK(meross_sim_wait_count(plug, "GET", "Appliance.Control.ToggleX", gets + 1, WAIT));
	CHECK(fc_mq_publish(admin, "fakecloud/meross_" PLUG_UUID "/raw/set",
			    "{\"namespace\":\"Appliance.System.All\",\"method\":\"GET\",\"payload\":{}}", 1, false) == 0);
	struct fc_mq_msg raw = {0};
	CHECK(fc_mq_wait_payload(admin, "fakecloud/meross_" PLUG_UUID "/raw", "\"method\":\"GETACK\"", WAIT, &raw));
	CHECK(raw.payload && !strstr(raw.payload, "\"sign\"")); /* no (messageId, timestamp, sign) triples */
	fc_mq_msg_free(&raw);
	/* reset/re-key/re-flash namespaces are refused on raw/set */
	CHECK(fc_mq_publish(admin, "fakecloud/meross_" PLUG_UUID "/raw/set",
			    "{\"namespace\":\"Appliance.Control.Unbind\",\"method\":\"PUSH\",\"payload\":{}}", 1, false) == 0);
	CHECK(see(admin, "fakecloud/bridge/log", "not allowed on raw/set"));
	CHECK_INT(meross_sim_counter(plug, MSC_UNBINDS), 0);
	/* unknown namespace: the device's ERROR reaches bridge/log */
	CHECK(fc_mq_publish(admin, "fakecloud/meross_" PLUG_UUID "/raw/set",
			    "{\"namespace\":\"Appliance.Nope\",\"method\":\"GET\",\"payload\":{}}", 1, false) == 0);
	CHECK(see(admin, "fakecloud/bridge/log", "Appliance.Nope request refused by the device"));
	/* an attribute the plug does not have */
	CHECK(fc_mq_publish(admin, "fakecloud/meross_" PLUG_UUID "/set", "{\"brightness\":10}", 1, false) == 0);
	CHECK(see(admin, "fakecloud/bridge/log", "unknown attribute 'brightness'"));

	/* a badly signed device message is dropped and counted */
	fc_mq_drain(admin); /* earlier OFF states are not what the next check is about */
	CHECK(meross_sim_publish_raw(plug, "/appliance/" PLUG_UUID "/publish",
				     "{\"header\":{\"messageId\":\"0123456789abcdef0123456789abcdef\",\"namespace\":"
				     "\"Appliance.Control.ToggleX\",\"method\":\"PUSH\",\"payloadVersion\":1,\"from\":"
				     "\"/appliance/" PLUG_UUID "/publish\",\"timestamp\":100,\"sign\":"
				     "\"00000000000000000000000000000000\"},\"payload\":{\"togglex\":{\"channel\":0,\"onoff\":0}}}") == 0);
	CHECK(see(admin, "fakecloud/bridge/log", "bad signature"));
	CHECK(!fc_mq_wait_payload(admin, "fakecloud/meross_" PLUG_UUID, "\"state\":\"OFF\"", 500, NULL));

	/* confinement: the plug may not publish as another device, and a user may not command it directly */
	CHECK(meross_sim_publish_raw(plug, "/appliance/" STRIP_UUID "/publish", "{}") == 0);
	CHECK(fc_env_wait_broker_log(&e, "ACL: refused write of '/appliance/" STRIP_UUID "/publish'", 1, WAIT));
	CHECK(fc_mq_publish(admin, "/appliance/" PLUG_UUID "/subscribe", "{}", 1, false) == 0);
	CHECK(see(admin, "fakecloud/bridge/log", "may not write the Meross device topic"));

	/* ---- a 4-channel strip with electricity ---- */
	struct meross_sim *strip = sim(MEROSS_SIM_STRIP, STRIP_UUID, "48:e1:e9:00:00:02", USER_ID, KEY, NULL);
	CHECK(strip && meross_sim_wait_bound(strip, WAIT));
	CHECK(strip && meross_sim_wait_counter(strip, MSC_CONSUMPTION_CONFIG_REPLIES, 1, WAIT));
	CHECK(see(admin, "homeassistant/switch/fakecloud_meross_" STRIP_UUID "/state_l3/config", "state_l3"));
	CHECK(see_ha(admin, "homeassistant/sensor/fakecloud_meross_" STRIP_UUID "/power/config", "\"W\"",
		     "unit_of_measurement", "W"));
	CHECK(see(admin, "fakecloud/meross_" STRIP_UUID, "\"voltage\""));
	CHECK(fc_mq_publish(admin, "fakecloud/meross_" STRIP_UUID "/set", "{\"state_l2\":\"ON\"}", 1, false) == 0);
	CHECK(strip && wait_onoff(strip, 2, 1));
	CHECK(see(admin, "fakecloud/meross_" STRIP_UUID, "\"state_l2\":\"ON\""));
	if (strip) {
		CHECK_INT(meross_sim_set_power(strip, 1500, 2305, 345600), 0); /* 1.5 A, 230.5 V, 345.6 W */
		struct fc_mq_msg msg = {0};
		CHECK(fc_mq_wait_payload(admin, "fakecloud/meross_" STRIP_UUID, "\"power\":345.6", WAIT, &msg)); /* polled */
		CHECK(msg.payload && strstr(msg.payload, "\"voltage\":230.5") && strstr(msg.payload, "\"current\":1.5"));
		fc_mq_msg_free(&msg);
	}

	/* ---- a bulb ---- */
	struct meross_sim *bulb = sim(MEROSS_SIM_BULB, BULB_UUID, "34:29:8f:1a:4b:07", USER_ID, KEY, NULL);
	CHECK(bulb && meross_sim_wait_bound(bulb, WAIT));
	CHECK(see_ha(admin, "homeassistant/number/fakecloud_meross_" BULB_UUID "/brightness/config", "brightness",
		     "command_topic", "fakecloud/meross_" BULB_UUID "/set/brightness"));
	CHECK(fc_mq_publish(admin, "fakecloud/meross_" BULB_UUID "/set", "{\"brightness\":40,\"color\":\"#ff0000\"}", 1,
			    false) == 0);
	CHECK(see(admin, "fakecloud/meross_" BULB_UUID, "\"brightness\":40"));
	struct meross_sim_light l = {0};
	if (bulb) {
		CHECK_INT(meross_sim_get_light(bulb, &l), 0);
		CHECK_INT(l.luminance, 40);
		CHECK_INT(l.rgb, 0xff0000);
	}
	if (bulb) { /* a change made on the bulb itself (its app button, a wall switch) shows up too */
		l.luminance = 77;
		l.temperature = 30;
		l.capacity = 6;
		CHECK_INT(meross_sim_set_light(bulb, &l), 0);
		CHECK(see(admin, "fakecloud/meross_" BULB_UUID, "\"brightness\":77"));
	}
	CHECK(fc_mq_publish(admin, "fakecloud/meross_" BULB_UUID "/set/brightness", "101", 1, false) == 0);
	CHECK(see(admin, "fakecloud/bridge/log", "above the maximum 100"));

	/* ---- a hub: bound, and its needReply SubdeviceList answered ---- */
	struct meross_sim *hub = sim(MEROSS_SIM_HUB, HUB_UUID, "48:e1:e9:00:00:04", USER_ID, KEY, NULL);
	CHECK(hub && meross_sim_wait_bound(hub, WAIT));
	CHECK(hub && meross_sim_wait_counter(hub, MSC_SUBDEVLIST_REPLIES, 1, WAIT));
	/* its sub-devices are devices of their own */
	CHECK(see(admin, "fakecloud/meross_" MEROSS_SIM_SENSOR_ID "/availability", "online"));
	CHECK(see(admin, "fakecloud/meross_" MEROSS_SIM_VALVE_ID "/availability", "online"));
	CHECK(see_ha(admin, "homeassistant/sensor/fakecloud_meross_" MEROSS_SIM_SENSOR_ID "/temperature/config",
		     "\"°C\"", "unit_of_measurement", "°C"));
	CHECK(see(admin, "homeassistant/number/fakecloud_meross_" MEROSS_SIM_VALVE_ID "/target_temperature/config",
		  "target_temperature"));
	CHECK(see(admin, "fakecloud/meross_" MEROSS_SIM_VALVE_ID, "\"local_temperature\""));
	if (hub) {
		CHECK_INT(meross_sim_set_sensor(hub, 233, 553), 0);
		struct fc_mq_msg m = {0};
		CHECK(fc_mq_wait_payload(admin, "fakecloud/meross_" MEROSS_SIM_SENSOR_ID, "\"temperature\":23.3", WAIT, &m));
		CHECK(m.payload && strstr(m.payload, "\"humidity\":55.3"));
		if (m.payload && !strstr(m.payload, "\"humidity\":55.3"))
			fprintf(stderr, "sensor state: %s\n", m.payload);
		fc_mq_msg_free(&m);
		CHECK(fc_mq_publish(admin, "fakecloud/meross_" MEROSS_SIM_VALVE_ID "/set",
				    "{\"state\":\"OFF\",\"target_temperature\":19.5}", 1, false) == 0);
		CHECK(see(admin, "fakecloud/meross_" MEROSS_SIM_VALVE_ID, "\"target_temperature\":19.5"));
		struct meross_sim_valve v = {0};
		CHECK_INT(meross_sim_get_valve(hub, &v), 0);
		CHECK_INT(v.onoff, 0);
		CHECK_INT(v.custom, 195);
	}

	/* ---- refusals ---- */
	struct meross_sim *wrong = sim(MEROSS_SIM_PLUG, "2012317778118925583748e1e9000009", "48:e1:e9:00:00:09", USER_ID,
				       KEY, USER_ID "_00000000000000000000000000000000");
	CHECK(fc_env_wait_broker_log(&e, "wrong password for userId " USER_ID, 1, WAIT));
	CHECK(wrong && meross_sim_wait_counter(wrong, MSC_CONNECT_FAILS, 1, WAIT));
	CHECK(wrong && !meross_sim_is_bound(wrong));
	CHECK(wrong && meross_sim_last_connack(wrong) == 5);
	meross_sim_stop(wrong);
	struct meross_sim *stranger = sim(MEROSS_SIM_PLUG, "2012317778118925583748e1e900000a", "48:e1:e9:00:00:0a",
					  "7654321", KEY, NULL);
	CHECK(fc_env_wait_broker_log(&e, "configured for userId 7654321, which fakecloud does not know", 1, WAIT));
	meross_sim_stop(stranger);
	/* another account's key holder cannot take over a registered device's uuid */
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device add meross-account --user-id 2222222 --key other-account-key"), 0);
	struct meross_sim *thief = sim(MEROSS_SIM_PLUG, PLUG_UUID, "de:ad:be:ef:00:01", "2222222", "other-account-key", NULL);
	CHECK(fc_env_wait_broker_log(&e, "refused device " PLUG_UUID ": it is registered with userId " USER_ID
					 " but logged in with 2222222", 1, WAIT));
	CHECK(thief && !meross_sim_is_bound(thief));
	meross_sim_stop(thief);
	CHECK(meross_sim_is_bound(plug));

	/* ---- offline device: command refused; broker restart: every device rebinds ---- */
	meross_sim_stop(hub);
	CHECK(see(admin, "fakecloud/meross_" HUB_UUID "/availability", "offline"));
	CHECK(see(admin, "fakecloud/meross_" MEROSS_SIM_VALVE_ID "/availability", "offline"));
	CHECK(fc_mq_publish(admin, "fakecloud/meross_" MEROSS_SIM_VALVE_ID "/set", "{\"state\":\"ON\"}", 1, false) == 0);
	CHECK(see(admin, "fakecloud/bridge/log", "offline"));
	CHECK(fc_mq_publish(admin, "fakecloud/meross_" PLUG_UUID "/set", "{\"state\":\"OFF\"}", 1, false) == 0);
	CHECK(wait_onoff(plug, 0, 0));
	CHECK(fc_mq_publish(admin, "test/canary", "x canary-secret-4f1d y", 1, false) == 0);
	for (int i = 0; spy && i < 100 && fc_mq_count_containing(spy, "canary-secret-4f1d") == 0; i++)
		usleep(20000);
	fc_mq_close(admin);
	admin = NULL;
	CHECK_INT(fc_env_stop_broker(&e), 0);
	CHECK_INT(fc_env_start_broker(&e), 0);
	CHECK(meross_sim_wait_counter(plug, MSC_SETACK_OK, 2, WAIT));
	CHECK(strip && meross_sim_wait_counter(strip, MSC_SETACK_OK, 2, WAIT));
	CHECK(bulb && meross_sim_wait_counter(bulb, MSC_SETACK_OK, 2, WAIT));
	admin = fc_mq_connect_admin(&e, "admin2");
	CHECK(admin && fc_mq_subscribe(admin, "fakecloud/#", 0) >= 0);
	CHECK(admin && see(admin, "fakecloud/meross_" PLUG_UUID "/availability", "online"));
	CHECK(admin && fc_mq_publish(admin, "fakecloud/meross_" PLUG_UUID "/set", "{\"state\":\"ON\"}", 1, false) == 0);
	bool on = wait_onoff(plug, 0, 1);
	CHECK(on);
	if (!on) {
		char why[256];
		meross_sim_last_error(plug, why, sizeof why);
		fprintf(stderr, "plug after restart: bound %d connects %ld setack %ld sets %ld last error '%s'\n",
			meross_sim_is_bound(plug), meross_sim_counter(plug, MSC_CONNECTS),
			meross_sim_counter(plug, MSC_SETACK_OK), meross_sim_count(plug, "SET", "Appliance.Control.ToggleX"),
			why);
		setenv("FC_KEEP", "1", 1); /* keep the broker log for the diagnosis */
	}
	meross_sim_stop(plug);
	meross_sim_stop(strip);
	meross_sim_stop(bulb);
	/* No account key, device password or internal credential in any log line or on any topic. */
	char plug_hash[33], internal[128] = "";
	fc_md5_hex("48:e1:e9:43:e9:bc" KEY, strlen("48:e1:e9:43:e9:bc" KEY), plug_hash);
	char db[400], kerr[128];
	snprintf(db, sizeof db, "%s/fakecloud.db", e.dir);
	struct fc_keystore *ks = fc_keystore_open(db, kerr, sizeof kerr);
	CHECK(ks && fc_ks_setting_get(ks, FC_SETTING_INTERNAL_PASSWORD, internal, sizeof internal) == FC_KS_OK);
	fc_keystore_close(ks);
	const char *secrets[] = {KEY, "other-account-key", plug_hash, internal, e.admin_pass, NULL};
	CHECK_INT(fc_env_scan_secrets(&e, spy, secrets), 0);
	CHECK(fc_mq_count_containing(spy, "/appliance/" PLUG_UUID "/publish") > 0); /* the spy did see traffic */
	/* and the scan does find a secret that is there (a canary published before the restart) */
	static const char *const canary[] = {"canary-secret-4f1d", NULL};
	CHECK_INT(fc_env_scan_secrets(&e, spy, canary), 1);
out:
	fc_mq_close(spy);
	fc_mq_close(admin);
	fc_env_cleanup(&e);
	return t_done();
}
