/* End to end through a real mosquitto with the real plugin: a test-vendor device binds, reports state
 * and takes commands through plain topics; bridge requests, availability, Home Assistant discovery,
 * ACL confinement and the CLI's live notifications. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/harness.h"
#include "unit/ha_discovery.h"
#include "unit/t.h"

#define WAIT 5000

static bool payload_is(struct fc_mq *m, const char *topic, const char *want)
{
	struct fc_mq_msg msg;
	int64_t tries = 0;
	/* Retained topics may deliver an older value first: wait for the wanted one. */
	while (tries++ < 20 && fc_mq_wait(m, topic, WAIT / 4, &msg)) {
		bool eq = strcmp(msg.payload, want) == 0;
		fc_mq_msg_free(&msg);
		if (eq)
			return true;
	}
	return false;
}

int main(void)
{
	struct fc_env e;
	struct fc_mq *dev = NULL, *admin = NULL;
	if (fc_env_init(&e, "bridge", NULL) != 0)
		return 1;
	char out[8192];
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device add fctest --id dev1 --password devpass-0123456789"), 0);
	CHECK_INT(fc_env_start_broker(&e), 0);

	admin = fc_mq_connect_admin(&e, "admin-test");
	CHECK(admin != NULL);
	if (!admin)
		goto out;
	CHECK(fc_mq_subscribe(admin, "fakecloud/#", 0) >= 0);
	CHECK(fc_mq_subscribe(admin, "homeassistant/#", 0) >= 0);
	CHECK(payload_is(admin, "fakecloud/bridge/state", "online"));
	CHECK(payload_is(admin, "fakecloud/fctest_dev1/availability", "offline"));
	struct fc_mq_msg msg;
	CHECK(fc_mq_wait(admin, "fakecloud/bridge/info", WAIT, &msg));
	if (msg.payload) {
		CHECK(strstr(msg.payload, "\"vendors\":[\"meross\",\"tuya\",\"fctest\"]") != NULL);
		fc_mq_msg_free(&msg);
	}

	/* wrong password refused; right one accepted (MQTT 3.1 like real devices) */
	int rc = 0;
	struct fc_mq *bad = fc_mq_connect(&e, "fctest:dev1", "dev1", "wrong", 3, &rc);
	CHECK(bad == NULL);
	CHECK_INT(rc, 5);
	CHECK(fc_env_wait_broker_log(&e, "fctest: refused device dev1: wrong password", 1, WAIT));
	dev = fc_mq_connect(&e, "fctest:dev1", "dev1", "devpass-0123456789", 3, &rc);
	CHECK(dev != NULL);
	if (!dev)
		goto out;
	CHECK(fc_mq_subscribe(dev, "fctest/dev1/cmd", 1) == 1);
	/* MQTT 3.1 has no SUBACK failure code: the refusal shows in the log (and nothing is delivered) */
	fc_mq_subscribe(dev, "fctest/other/cmd", 1);
	CHECK(fc_env_wait_broker_log(&e, "ACL: refused subscribe of 'fctest/other/cmd'", 1, WAIT));
	CHECK(fc_mq_publish(dev, "fctest/dev1/hello", "{\"model\":\"T1000\",\"firmware\":\"2.0.1\"}", 1, false) == 0);
	CHECK(payload_is(admin, "fakecloud/fctest_dev1/availability", "online"));

	/* discovery: retained entries derived from exposes, in Home Assistant's short form (abbreviated
	 * keys, "~" base topic); checked as Home Assistant reads them */
	CHECK(fc_mq_wait_payload(admin, "homeassistant/switch/fakecloud_fctest_dev1/state/config", "T1000", WAIT, &msg));
	if (msg.payload) {
		CHECK(ha_has(msg.payload, "command_topic", "fakecloud/fctest_dev1/set"));
		CHECK(ha_has(msg.payload, "state_topic", "fakecloud/fctest_dev1"));
		CHECK(ha_has(msg.payload, "availability.0.topic", "fakecloud/bridge/state"));
		CHECK(ha_has(msg.payload, "availability.1.topic", "fakecloud/fctest_dev1/availability"));
		CHECK(ha_has(msg.payload, "device.model", "T1000"));
		CHECK(ha_has(msg.payload, "device.sw_version", "2.0.1"));
		CHECK(strstr(msg.payload, "\"cmd_t\":\"~/set\"") != NULL);
		fc_mq_msg_free(&msg);
	}
	CHECK(fc_mq_wait(admin, "homeassistant/sensor/fakecloud_fctest_dev1/power/config", WAIT, NULL));
	/* a late subscriber gets them retained */
	struct fc_mq *ha = fc_mq_connect_admin(&e, "ha-late");
	CHECK(ha && fc_mq_subscribe(ha, "homeassistant/number/+/+/config", 0) >= 0);
	CHECK(ha && fc_mq_wait_payload(ha, "homeassistant/number/fakecloud_fctest_dev1/brightness/config", "\"max\":255",
				       WAIT, &msg));
	if (ha && msg.payload) {
		CHECK(msg.retain);
		CHECK(ha_has(msg.payload, "command_topic", "fakecloud/fctest_dev1/set/brightness"));
		CHECK(ha_has(msg.payload, "max", "255"));
		fc_mq_msg_free(&msg);
	}

	/* state from the device */
	CHECK(fc_mq_publish(dev, "fctest/dev1/state", "{\"state\":\"ON\",\"power\":7.25}", 1, false) == 0);
	CHECK(fc_mq_wait_payload(admin, "fakecloud/fctest_dev1", "\"power\":7.25", WAIT, NULL));
	CHECK(fc_mq_wait(admin, "fakecloud/fctest_dev1/raw", WAIT, NULL));

	/* plain command -> device */
	CHECK(fc_mq_publish(admin, "fakecloud/fctest_dev1/set", "{\"state\":\"OFF\"}", 1, false) == 0);
	CHECK(fc_mq_wait(dev, "fctest/dev1/cmd", WAIT, &msg));
	if (msg.payload) {
		CHECK_STR(msg.payload, "{\"state\":\"OFF\"}");
		fc_mq_msg_free(&msg);
	}
	CHECK(fc_mq_publish(admin, "fakecloud/fctest_dev1/set/brightness", "128", 1, false) == 0);
	CHECK(fc_mq_wait_payload(dev, "fctest/dev1/cmd", "{\"brightness\":128}", WAIT, NULL));
	/* invalid value: error on bridge/log, nothing reaches the device */
	CHECK(fc_mq_publish(admin, "fakecloud/fctest_dev1/set/brightness", "999", 1, false) == 0);
	CHECK(fc_mq_wait_payload(admin, "fakecloud/bridge/log", "above the maximum", WAIT, NULL));
	CHECK(!fc_mq_wait(dev, "fctest/dev1/cmd", 300, NULL));

	/* ACL: the admin user may not write a device command topic, whatever acl_file says */
	CHECK(fc_mq_publish(admin, "fctest/dev1/cmd", "{\"state\":\"ON\"}", 1, false) == 0);
	CHECK(fc_mq_wait_payload(admin, "fakecloud/bridge/log", "may not write", WAIT, NULL));
	CHECK(!fc_mq_wait(dev, "fctest/dev1/cmd", 300, NULL));
	CHECK(fc_env_broker_log_count(&e, "may not write the Test vendor device topic 'fctest/dev1/cmd'") >= 1);
	/* nor spoof a device's state */
	CHECK(fc_mq_publish(admin, "fakecloud/fctest_dev1", "{\"state\":\"SPOOF\"}", 1, false) == 0);
	CHECK(!fc_mq_wait_payload(admin, "fakecloud/fctest_dev1", "SPOOF", 300, NULL));

	/* a second device cannot touch the first one's topics */
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device add fctest --id dev2 --password other-pass-0123456"), 0);
	struct fc_mq *dev2 = fc_mq_connect(&e, "fctest:dev2", "dev2", "other-pass-0123456", 4, &rc);
	CHECK(dev2 != NULL);
	if (dev2) {
		CHECK(fc_mq_publish(dev2, "fctest/dev1/state", "{\"state\":\"HIJACK\"}", 1, false) == 0);
		CHECK(fc_mq_publish(dev2, "fctest/dev1/cmd", "{\"state\":\"HIJACK\"}", 1, false) == 0);
		CHECK(!fc_mq_wait_payload(dev, "fctest/dev1/cmd", "HIJACK", 300, NULL));
		CHECK(!fc_mq_wait_payload(admin, "fakecloud/fctest_dev1", "HIJACK", 300, NULL));
		CHECK(fc_env_broker_log_count(&e, "ACL: refused write of 'fctest/dev1/") >= 1);
	}

	/* MQTT over TLS-PSK: the key comes from the vendor's PSK hook through the plugin; TLS with the
	 * server certificate on the TLS listener as well */
	CHECK_INT(fc_env_cli(&e, out, sizeof out,
			     "device add fctest --id dev3 --password third-pass-0123456 --psk 00112233445566778899aabbccddeeff"),
		  0);
	struct fc_mq *pskdev = fc_mq_connect_psk(&e, "fctest:dev3", "dev3", "third-pass-0123456", "fctest:dev3",
						 "00112233445566778899aabbccddeeff", &rc);
	CHECK(pskdev != NULL);
	if (pskdev) {
		CHECK(fc_mq_publish(pskdev, "fctest/dev3/hello", "{\"model\":\"P1\"}", 1, false) == 0);
		CHECK(payload_is(admin, "fakecloud/fctest_dev3/availability", "online"));
	}
	fc_mq_close(pskdev);
	struct fc_mq *wrongpsk = fc_mq_connect_psk(&e, "fctest:dev3", "dev3", "third-pass-0123456", "fctest:dev3",
						   "ffeeddccbbaa99887766554433221100", &rc);
	CHECK(wrongpsk == NULL);
	fc_mq_close(wrongpsk);
	struct fc_mq *nopsk = fc_mq_connect_psk(&e, "fctest:dev9", "dev9", "x", "fctest:dev9",
						"00112233445566778899aabbccddeeff", &rc);
	CHECK(nopsk == NULL);
	fc_mq_close(nopsk);
	CHECK(fc_env_wait_broker_log(&e, "PSK identity for unknown device 'dev9'", 1, WAIT));
	struct fc_mq *tlsdev = fc_mq_connect_tls(&e, "fctest:dev3", "dev3", "third-pass-0123456", 4, &rc);
	CHECK(tlsdev != NULL);
	fc_mq_close(tlsdev);

	/* bridge/devices never carries a secret */
	CHECK(fc_mq_wait_payload(admin, "fakecloud/bridge/devices", "\"name\":\"fctest_dev2\"", WAIT, &msg));
	if (msg.payload) {
		CHECK(strstr(msg.payload, "devpass-0123456789") == NULL);
		CHECK(strstr(msg.payload, "other-pass-0123456") == NULL);
		CHECK(strstr(msg.payload, "\"model\":\"T1000\"") != NULL);
		fc_mq_msg_free(&msg);
	}

	/* rename through the bridge */
	CHECK(fc_mq_publish(admin, "fakecloud/bridge/request/device/rename",
			    "{\"from\":\"fctest_dev1\",\"to\":\"lamp\",\"transaction\":\"t1\"}", 1, false) == 0);
	CHECK(fc_mq_wait_payload(admin, "fakecloud/bridge/response/device/rename", "\"transaction\":\"t1\"", WAIT, &msg));
	if (msg.payload) {
		CHECK(strstr(msg.payload, "\"status\":\"ok\"") != NULL);
		fc_mq_msg_free(&msg);
	}
	CHECK(payload_is(admin, "fakecloud/lamp/availability", "online"));
	/* the same Home Assistant entity, now pointing at the new name's topics */
	CHECK(fc_mq_wait_payload(admin, "homeassistant/switch/fakecloud_fctest_dev1/state/config", "fakecloud/lamp", WAIT,
				 &msg));
	if (msg.payload) {
		CHECK(ha_has(msg.payload, "command_topic", "fakecloud/lamp/set"));
		CHECK(ha_has(msg.payload, "availability.1.topic", "fakecloud/lamp/availability"));
		CHECK(ha_has(msg.payload, "unique_id", "fakecloud_fctest_dev1_state"));
		fc_mq_msg_free(&msg);
	}
	CHECK(fc_mq_publish(admin, "fakecloud/lamp/set", "{\"state\":\"ON\"}", 1, false) == 0);
	CHECK(fc_mq_wait_payload(dev, "fctest/dev1/cmd", "{\"state\":\"ON\"}", WAIT, NULL));
	CHECK(fc_mq_publish(admin, "fakecloud/bridge/request/device/rename", "{\"from\":\"nope\",\"to\":\"x\"}", 1,
			    false) == 0);
	CHECK(fc_mq_wait_payload(admin, "fakecloud/bridge/response/device/rename", "\"status\":\"error\"", WAIT, NULL));

	/* rename from the CLI while the broker runs: the plugin hears about it */
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device rename fctest_dev2 kitchen"), 0);
	CHECK(payload_is(admin, "fakecloud/kitchen/availability", "offline") ||
	      payload_is(admin, "fakecloud/kitchen/availability", "online"));

	/* device disconnect -> offline */
	fc_mq_close(dev);
	dev = NULL;
	CHECK(payload_is(admin, "fakecloud/lamp/availability", "offline"));
	CHECK(fc_mq_publish(admin, "fakecloud/lamp/set", "{\"state\":\"ON\"}", 1, false) == 0);
	CHECK(fc_mq_wait_payload(admin, "fakecloud/bridge/log", "offline", WAIT, NULL));

	/* remove: discovery entries cleared (empty retained) */
	fc_mq_drain(admin);
	CHECK(fc_mq_publish(admin, "fakecloud/bridge/request/device/remove", "{\"name\":\"lamp\",\"forget_keys\":true}", 1,
			    false) == 0);
	CHECK(fc_mq_wait_payload(admin, "fakecloud/bridge/response/device/remove", "\"status\":\"ok\"", WAIT, NULL));
	CHECK(payload_is(admin, "homeassistant/switch/fakecloud_fctest_dev1/state/config", ""));
	struct fc_mq *late = fc_mq_connect_admin(&e, "late");
	CHECK(late && fc_mq_subscribe(late, "homeassistant/+/fakecloud_fctest_dev1/#", 0) >= 0);
	CHECK(late && !fc_mq_wait(late, "#", 500, NULL)); /* no retained entry left */
	int rc2 = 0;
	struct fc_mq *gone = fc_mq_connect(&e, "fctest:dev1", "dev1", "devpass-0123456789", 4, &rc2);
	CHECK(gone == NULL); /* keys forgotten: it can no longer log in */
	fc_mq_close(gone);

	/* broker restart: devices and names survive */
	fc_mq_close(late);
	fc_mq_close(ha);
	fc_mq_close(dev2);
	fc_mq_close(admin);
	admin = NULL;
	CHECK_INT(fc_env_stop_broker(&e), 0);
	CHECK_INT(fc_env_start_broker(&e), 0);
	admin = fc_mq_connect_admin(&e, "admin-2");
	CHECK(admin && fc_mq_subscribe(admin, "fakecloud/bridge/devices", 0) >= 0);
	CHECK(admin && fc_mq_wait_payload(admin, "fakecloud/bridge/devices", "\"name\":\"kitchen\"", WAIT, &msg));
	if (admin && msg.payload) {
		CHECK(strstr(msg.payload, "fctest_dev1") == NULL && strstr(msg.payload, "\"lamp\"") == NULL);
		fc_mq_msg_free(&msg);
	}
out:
	fc_mq_close(dev);
	fc_mq_close(admin);
	fc_env_cleanup(&e);
	return t_done();
}
