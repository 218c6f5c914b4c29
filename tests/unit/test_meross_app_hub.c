/* The Meross app-client logic (vendors/meross/app.c and its hooks in session.c) driven through the hub
 * with a recording fake broker: app login, ACL, forwarding of device PUSHes (only while an app of the
 * account is connected), /raw, signed System.Online, online state in the device's meta, and an app's
 * SET acknowledged by SETACK updating the plain state.
 * Runs without Mosquitto, so the sanitizer build also checks it for leaks. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/hub.h"
#include "core/keystore.h"
#include "core/log.h"
#include "core/vendor.h"
#include "unit/t.h"
#include "vendors/meross/meross_internal.h"

#define UID "1234567"
#define KEY "0123456789abcdef0123456789abcdef"
#define KEY2 "fedcba9876543210fedcba9876543210"
#define UUID "2012317778118925583748e1e9a00001"
#define MAC "48:e1:e9:a0:00:01"
#define UUID_B "2012317778118925583748e1e9b00002"
#define APP "0a1b2c3d4e5f60718293a4b5c6d7e8f9"

#define MAX_REC 256
static struct {
	char client[128], topic[256];
	char *payload;
} recs[MAX_REC];
static int n_recs;
static int64_t fake_now = 1700000000000;

static void rec_clear(void)
{
	for (int i = 0; i < n_recs; i++)
		free(recs[i].payload);
	n_recs = 0;
}

static void rec(const char *client, const char *topic, const void *p, size_t len)
{
	if (n_recs >= MAX_REC)
		return;
	snprintf(recs[n_recs].client, sizeof recs[0].client, "%s", client ? client : "");
	snprintf(recs[n_recs].topic, sizeof recs[0].topic, "%s", topic);
	recs[n_recs].payload = malloc(len + 1);
	memcpy(recs[n_recs].payload, p, len);
	recs[n_recs].payload[len] = 0;
	n_recs++;
}

static int f_publish(void *ctx, const char *topic, const void *p, size_t len, int qos, bool retain)
{
	(void)ctx, (void)qos, (void)retain;
	rec(NULL, topic, p, len);
	return 0;
}
static int f_publish_to(void *ctx, const char *client, const char *topic, const void *p, size_t len, int qos)
{
	(void)ctx, (void)qos;
	rec(client, topic, p, len);
	return 0;
}
static int f_kick(void *ctx, const char *client)
{
	(void)ctx, (void)client;
	return 0;
}
static int64_t f_now(void *ctx)
{
	(void)ctx;
	return fake_now;
}
static const struct fc_broker_ops ops = {f_publish, f_publish_to, f_kick, f_now};

/* The last record on topic whose payload contains needle (NULL: none). */
static const char *seen(const char *topic, const char *needle)
{
	for (int i = n_recs - 1; i >= 0; i--)
		if (strcmp(recs[i].topic, topic) == 0 && (!needle || strstr(recs[i].payload, needle)))
			return recs[i].payload;
	return NULL;
}

static char *signed_msg(const char *ns, const char *method, const char *from, const char *payload, const char *mid)
{
	char buf[256], sign[33];
	snprintf(buf, sizeof buf, "%s%s%lld", mid, KEY, (long long)(fake_now / 1000));
	fc_md5_hex(buf, strlen(buf), sign);
	char *m = malloc(strlen(payload) + 1024);
	sprintf(m,
		"{\"header\":{\"messageId\":\"%s\",\"namespace\":\"%s\",\"method\":\"%s\",\"payloadVersion\":1,"
		"\"from\":\"%s\",\"timestamp\":%lld,\"timestampMs\":0,\"sign\":\"%s\"},\"payload\":%s}",
		mid, ns, method, from, (long long)(fake_now / 1000), sign, payload);
	return m;
}

static enum fc_verdict deliver(struct fc_hub *hub, const struct fc_client *c, const char *topic, char *m)
{
	enum fc_verdict v = fc_hub_on_message(hub, c, topic, m, strlen(m), false);
	free(m);
	return v;
}

/* The device PUSHes a ToggleX (a new messageId and state each time): did its apps' topic get it? */
static bool push_seen(struct fc_hub *hub, const struct fc_client *dev)
{
	static int k;
	char mid[33];
	snprintf(mid, sizeof mid, "%032d", 500 + k++);
	rec_clear();
	deliver(hub, dev, "/appliance/" UUID "/publish",
		signed_msg("Appliance.Control.ToggleX", "PUSH", "/appliance/" UUID "/publish",
			   k % 2 ? "{\"togglex\":[{\"channel\":0,\"onoff\":0}]}" : "{\"togglex\":[{\"channel\":0,\"onoff\":1}]}",
			   mid));
	return seen("/app/" UID "/subscribe", NULL) != NULL;
}

static bool meta_online(struct fc_keystore *ks, const char *uuid)
{
	struct fc_device_row row;
	if (fc_ks_device_get(ks, "meross", uuid, &row) != FC_KS_OK)
		return false;
	bool on = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row.meta, "online"));
	fc_device_row_free(&row);
	return on;
}

int main(void)
{
	fc_log_set_level(FC_LOG_ERROR);
	struct fc_config *cfg = calloc(1, sizeof *cfg);
	fc_config_init(cfg, fc_vendor_config_tables(fc_vendors));
	char err[256];
	struct fc_keystore *ks = fc_keystore_open(":memory:", err, sizeof err);
	CHECK(ks != NULL);
	cJSON *secrets = cJSON_CreateObject();
	cJSON_AddStringToObject(secrets, "key", KEY);
	CHECK_INT(fc_ks_account_put(ks, "meross", UID, "default", secrets, NULL), FC_KS_OK);
	cJSON_Delete(secrets);
	secrets = cJSON_CreateObject();
	cJSON_AddStringToObject(secrets, "key", KEY2);
	CHECK_INT(fc_ks_account_put(ks, "meross", "7654321", "other", secrets, NULL), FC_KS_OK);
	cJSON_Delete(secrets);
	/* a device of another account, registered earlier and left "online" by a broker that was killed */
	cJSON *meta = cJSON_CreateObject();
	cJSON_AddStringToObject(meta, "user_id", "7654321");
	cJSON_AddStringToObject(meta, "mac", "48:e1:e9:b0:00:02");
	cJSON_AddTrueToObject(meta, "online");
	CHECK_INT(fc_ks_device_put(ks, "meross", UUID_B, "", NULL, meta), FC_KS_OK);
	cJSON_Delete(meta);

	struct fc_broker b = {&ops, NULL};
	struct fc_hub *hub = fc_hub_new(&b, cfg, ks, fc_vendors, err, sizeof err);
	CHECK(hub != NULL);
	if (!hub)
		return t_done();
	fc_hub_on_tick(hub);
	CHECK(!meta_online(ks, UUID_B)); /* nothing is connected when the broker starts */

	/* a device binds: SETACK, then System.Online 1 to its account's apps, meta online */
	int hd, ha, hb;
	char pw[80], hash[33];
	snprintf(pw, sizeof pw, "%s%s", MAC, KEY);
	fc_md5_hex(pw, strlen(pw), hash);
	snprintf(pw, sizeof pw, UID "_%s", hash);
	struct fc_client dev = {&hd, "fmware:" UUID "_abcdefABCDEF0123", MAC, "127.0.0.1", 3};
	CHECK_INT(fc_hub_on_auth(hub, &dev, MAC, pw), FC_ALLOW);
	CHECK_INT(fc_hub_on_acl(hub, &dev, "/app/" UID "-" APP "/subscribe", 2), FC_ALLOW); /* replies to apps */
	CHECK_INT(deliver(hub, &dev, "/appliance/" UUID "/publish",
		       signed_msg("Appliance.Control.Bind", "SET", "/appliance/" UUID "/subscribe", "{\"bind\":{}}",
				  "11111111111111111111111111111111")),
		  FC_ALLOW);
	const char *online = seen("/app/" UID "/subscribe", "Appliance.System.Online");
	CHECK(online && strstr(online, "{\"online\":{\"status\":1}}") &&
	      strstr(online, "\"from\":\"/appliance/" UUID "/subscribe\""));
	CHECK(meta_online(ks, UUID));

	/* app clients: login, ACL */
	char apw[33];
	snprintf(pw, sizeof pw, UID KEY);
	fc_md5_hex(pw, strlen(pw), apw);
	struct fc_client app = {&ha, "app:" APP, UID, "127.0.0.1", 4};
	struct fc_client bad = {&hb, "app:" APP "0", UID, "127.0.0.1", 4};
	CHECK_INT(fc_hub_on_auth(hub, &bad, UID, "00000000000000000000000000000000"), FC_DENY);
	CHECK_INT(fc_hub_on_auth(hub, &bad, "99", apw), FC_DENY);
	CHECK_INT(fc_hub_on_auth(hub, &app, UID, apw), FC_ALLOW);
	CHECK_INT(fc_hub_on_acl(hub, &app, "/app/" UID "/subscribe", 4), FC_ALLOW);
	CHECK_INT(fc_hub_on_acl(hub, &app, "/app/" UID "-" APP "/subscribe", 1), FC_ALLOW);
	CHECK_INT(fc_hub_on_acl(hub, &app, "/app/7654321/subscribe", 4), FC_DENY);
	CHECK_INT(fc_hub_on_acl(hub, &app, "/app/+/subscribe", 4), FC_DENY);
	CHECK_INT(fc_hub_on_acl(hub, &app, "/appliance/" UUID "/subscribe", 2), FC_ALLOW);
	CHECK_INT(fc_hub_on_acl(hub, &app, "/appliance/" UUID_B "/subscribe", 2), FC_DENY); /* other account */
	CHECK_INT(fc_hub_on_acl(hub, &app, "/appliance/" UUID "/publish", 2), FC_DENY);
	CHECK_INT(fc_hub_on_acl(hub, &app, "fakecloud/meross_" UUID "/set", 2), FC_DENY);

	/* an app's SET, acknowledged without a PUSH: the plain state follows */
	rec_clear();
	CHECK_INT(deliver(hub, &app, "/appliance/" UUID "/subscribe",
		       signed_msg("Appliance.Control.ToggleX", "SET", "/app/" UID "-" APP "/subscribe",
				  "{\"togglex\":{\"channel\":0,\"onoff\":1}}", "22222222222222222222222222222222")),
		  FC_ALLOW);
	CHECK_INT(deliver(hub, &app, "/appliance/" UUID "/subscribe", strdup("not json")), FC_DENY);
	CHECK_INT(deliver(hub, &dev, "/app/" UID "-" APP "/subscribe",
		       signed_msg("Appliance.Control.ToggleX", "SETACK", "/appliance/" UUID "/publish", "{}",
				  "22222222222222222222222222222222")),
		  FC_ALLOW);
	CHECK(seen("fakecloud/meross_" UUID, "\"state\":\"ON\"") != NULL);
	CHECK(seen("/app/" UID "/subscribe", NULL) == NULL); /* replies are not forwarded */

	/* a device PUSH goes to the account's apps byte for byte */
	char *push = signed_msg("Appliance.Control.ToggleX", "PUSH", "/appliance/" UUID "/publish",
				"{\"togglex\":[{\"channel\":0,\"onoff\":0,\"lmTime\":1}]}", "33333333333333333333333333333333");
	char *copy = strdup(push);
	CHECK_INT(deliver(hub, &dev, "/appliance/" UUID "/publish", push), FC_ALLOW);
	CHECK(seen("/app/" UID "/subscribe", NULL) && strcmp(seen("/app/" UID "/subscribe", NULL), copy) == 0);
	CHECK(seen("fakecloud/meross_" UUID, "\"state\":\"OFF\"") != NULL);
	free(copy);

	/* app SETs that are never answered do not pile up (half the pending slots at most) */
	for (int i = 0; i < 40; i++) {
		char mid[33];
		snprintf(mid, sizeof mid, "%032d", i);
		deliver(hub, &app, "/appliance/" UUID "/subscribe",
		     signed_msg("Appliance.Control.ToggleX", "SET", "/app/" UID "-" APP "/subscribe",
				"{\"togglex\":{\"channel\":0,\"onoff\":1}}", mid));
	}
	fake_now += 60000;
	fc_hub_on_tick(hub); /* expired without a bridge/log line each */
	CHECK(seen("fakecloud/bridge/log", "no reply to Appliance.Control.ToggleX") == NULL);

	/* /raw: the device's own bytes without the sign member (no re-serialisation) */
	rec_clear();
	push = signed_msg("Appliance.Control.ToggleX", "PUSH", "/appliance/" UUID "/publish",
			  "{\"togglex\":[{\"channel\":0,\"onoff\":1,\"lmTime\":2}]}", "44444444444444444444444444444444");
	copy = strdup(push);
	CHECK_INT(deliver(hub, &dev, "/appliance/" UUID "/publish", push), FC_ALLOW);
	{
		char *at = strstr(copy, ",\"sign\":\"");
		CHECK(at != NULL);
		if (at)
			memmove(at, at + strlen(",\"sign\":\"") + 33, strlen(at + strlen(",\"sign\":\"") + 33) + 1);
		CHECK(seen("fakecloud/meross_" UUID "/raw", NULL) && strcmp(seen("fakecloud/meross_" UUID "/raw", NULL), copy) == 0);
	}
	free(copy);

	/* PUSHes are forwarded only while an app client of the account is connected, counted per connection:
	 * a second app, the first leaving, a takeover of the second's client id (the new connection logs in
	 * before the old one is dropped), disconnects of connections that never logged in or were refused,
	 * and apps of another account do not fool the count */
	int hc, hc2, hx, hy;
	struct fc_client app2 = {&hc, "app:" APP "2", UID, "127.0.0.1", 4};
	struct fc_client app2b = {&hc2, "app:" APP "2", UID, "127.0.0.1", 4};
	struct fc_client stranger = {&hx, "app:" APP "3", UID, "127.0.0.1", 4};
	struct fc_client other = {&hy, "app:" APP "4", "7654321", "127.0.0.1", 4};
	char opw[33];
	snprintf(pw, sizeof pw, "7654321" KEY2);
	fc_md5_hex(pw, strlen(pw), opw);
	CHECK(push_seen(hub, &dev));
	CHECK_INT(fc_hub_on_auth(hub, &app2, UID, apw), FC_ALLOW);
	fc_hub_on_disconnect(hub, &app); /* 1 left */
	CHECK(push_seen(hub, &dev));
	CHECK(seen("fakecloud/meross_" UUID "/raw", NULL) != NULL);
	CHECK_INT(fc_hub_on_auth(hub, &app2b, UID, apw), FC_ALLOW); /* takeover: 2 until the old one goes */
	fc_hub_on_disconnect(hub, &app2);
	CHECK(push_seen(hub, &dev));
	fc_hub_on_disconnect(hub, &app2); /* again: nothing left to uncount */
	CHECK(push_seen(hub, &dev));
	fc_hub_on_disconnect(hub, &stranger); /* never logged in */
	CHECK_INT(fc_hub_on_auth(hub, &stranger, UID, "00000000000000000000000000000000"), FC_DENY);
	fc_hub_on_disconnect(hub, &stranger); /* refused */
	CHECK(push_seen(hub, &dev));
	CHECK_INT(fc_hub_on_auth(hub, &other, "7654321", opw), FC_ALLOW);
	fc_hub_on_disconnect(hub, &app2b); /* the last app of the account */
	CHECK(!push_seen(hub, &dev));
	CHECK(seen("fakecloud/meross_" UUID "/raw", NULL) != NULL); /* /raw and the state go on */
	CHECK(seen("fakecloud/meross_" UUID, "\"state\":") != NULL);
	CHECK_INT(fc_hub_on_auth(hub, &app, UID, apw), FC_ALLOW); /* back */
	CHECK(push_seen(hub, &dev));
	/* a counted connection that logs in again as something else is no longer counted */
	CHECK_INT(fc_hub_on_auth(hub, &app, UID, "00000000000000000000000000000000"), FC_DENY);
	CHECK(!push_seen(hub, &dev));
	fc_hub_on_disconnect(hub, &other);

	/* the app leaves; the device goes: System.Online 2, meta offline */
	fc_hub_on_disconnect(hub, &app);
	rec_clear();
	fc_hub_on_disconnect(hub, &dev);
	CHECK(seen("/app/" UID "/subscribe", "{\"online\":{\"status\":2}}") != NULL);
	CHECK(!meta_online(ks, UUID));

	fc_hub_free(hub);
	rec_clear();
	fc_keystore_close(ks);
	free(cfg);

	/* Account keys are shared by content: one copy per distinct key, released with its last holder. */
	struct fc_secret k1, k1b, k2;
	fc_secret_set_str(&k1, "account-key-one");
	fc_secret_set_str(&k1b, "account-key-one");
	fc_secret_set_str(&k2, "account-key-two");
	const struct fc_secret *a = meross_key_hold(&k1), *b2 = meross_key_hold(&k1b), *c2 = meross_key_hold(&k2);
	CHECK(a == b2);
	CHECK(a != c2 && a != &k1);
	CHECK(fc_secret_len(a) == 15 && memcmp(fc_secret_reveal(a), "account-key-one", 15) == 0);
	CHECK(meross_key_hold(a) == a); /* holding the shared copy itself */
	meross_key_drop(a);
	meross_key_drop(b2);
	CHECK(fc_secret_len(a) == 15); /* one hold left */
	const struct fc_secret *again = meross_key_hold(&k1);
	CHECK(again == a);
	meross_key_drop(again);
	meross_key_drop(a);
	meross_key_drop(c2);
	struct fc_secret empty = {0};
	const struct fc_secret *e0 = meross_key_hold(&empty);
	CHECK(e0 && fc_secret_len(e0) == 0);
	meross_key_drop(e0);
	fc_secret_wipe(&k1);
	fc_secret_wipe(&k1b);
	fc_secret_wipe(&k2);
	return t_done();
}
