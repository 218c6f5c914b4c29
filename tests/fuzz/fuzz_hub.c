/* Fuzz the hub's handling of user-controlled MQTT payloads: plain-topic commands (/set, /set/<attr>,
 * /get, /raw/set), bridge requests and internal messages. The first input byte picks the topic. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/hub.h"
#include "core/keystore.h"
#include "core/log.h"
#include "core/vendor.h"

static int nop_publish(void *c, const char *t, const void *p, size_t l, int q, bool r)
{
	(void)c, (void)t, (void)p, (void)l, (void)q, (void)r;
	return 0;
}
static int nop_publish_to(void *c, const char *id, const char *t, const void *p, size_t l, int q)
{
	(void)c, (void)id, (void)t, (void)p, (void)l, (void)q;
	return 0;
}
static int nop_kick(void *c, const char *id)
{
	(void)c, (void)id;
	return 0;
}
static int64_t now_ms(void *c)
{
	(void)c;
	return 1700000000000;
}
static const struct fc_broker_ops ops = {nop_publish, nop_publish_to, nop_kick, now_ms};

static struct fc_hub *hub;
static struct fc_keystore *ks;
static struct fc_config cfg;
static int h_dev, h_user, h_int;
static const struct fc_client dev = {&h_dev, "fctest:fz", "fz", "127.0.0.1", 4};
static const struct fc_client user = {&h_user, "user", "user", "127.0.0.1", 4};
static const struct fc_client intl = {&h_int, "internal", FC_INTERNAL_USER, "127.0.0.1", 4};

static void setup(void)
{
	fc_log_set_level(FC_LOG_ERROR + 1);
	fc_config_init(&cfg, fc_vendor_config_tables(fc_vendors));
	char err[256];
	ks = fc_keystore_open(":memory:", err, sizeof err);
	if (!ks)
		abort();
	struct fc_broker b = {&ops, NULL};
	hub = fc_hub_new(&b, &cfg, ks, fc_vendors, err, sizeof err);
	if (!hub)
		abort();
	fc_hub_on_tick(hub);
	char pw[128];
	fc_ks_setting_get(ks, FC_SETTING_INTERNAL_PASSWORD, pw, sizeof pw);
	fc_hub_on_auth(hub, &intl, FC_INTERNAL_USER, pw);
}

/* Make sure device "fz" exists, is bound and online (a remove request may have taken it away). */
static void ensure_device(void)
{
	if (fc_hub_device_by_name(hub, "fz"))
		return;
	cJSON *sec = cJSON_CreateObject();
	cJSON_AddStringToObject(sec, "password", "fuzz-password-123");
	fc_ks_device_put(ks, "fctest", "fz", "fz", sec, NULL);
	cJSON_Delete(sec);
	/* A rename may have moved it: the reload path brings the stored name back. */
	const char *changed = "{\"vendor\":\"fctest\",\"vid\":\"fz\"}";
	fc_hub_on_message(hub, &intl, "$fakecloud/internal/core/device-changed", changed, strlen(changed), false);
	fc_hub_on_auth(hub, &dev, "fz", "fuzz-password-123");
	fc_hub_on_message(hub, &dev, "fctest/fz/hello", "{}", 2, false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const topics[] = {
		"fakecloud/fz/set",
		"fakecloud/fz/set/state",
		"fakecloud/fz/set/brightness",
		"fakecloud/fz/set/mode",
		"fakecloud/fz/get",
		"fakecloud/fz/raw/set",
		"fakecloud/bridge/request/device/rename",
		"fakecloud/bridge/request/device/remove",
		"fctest/fz/state",
		"fctest/fz/hello",
		"$fakecloud/internal/core/device-changed",
		"fakecloud/fz/get/power",
	};
	if (!hub)
		setup();
	ensure_device();
	if (size == 0)
		return 0;
	const char *topic = topics[data[0] % (sizeof topics / sizeof topics[0])];
	const struct fc_client *c = strncmp(topic, "fctest/", 7) == 0 ? &dev : topic[0] == '$' ? &intl : &user;
	fc_hub_on_message(hub, c, topic, data + 1, size - 1, false);
	fc_hub_on_tick(hub);
	return 0;
}
