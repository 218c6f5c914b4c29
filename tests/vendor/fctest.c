/* The test vendor: a minimal, documented device protocol that exercises every core path (auth against
 * the keystore, ACL confinement, bind -> online, state normalisation, exposes -> HA discovery,
 * commands, raw, CLI import/export) without any real vendor's framing. Only test builds contain it.
 *
 *   client id  fctest:<id>        username <id>        password = keystore secrets.password
 *   device -> fctest/<id>/hello   {"model":..,"firmware":..}      (bind: device goes online)
 *   device -> fctest/<id>/state   {"state":"ON","brightness":10,"power":1.5,"mode":"eco"}
 *   fakecloud -> fctest/<id>/cmd  {"state":"OFF"} / {"get":["state"]} / raw bodies verbatim
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hub.h"
#include "core/keystore.h"
#include "core/log.h"
#include "core/secret.h"
#include "core/vendor.h"

extern const struct fc_vendor fctest_vendor;
extern const struct fc_vendor_http fctest_http;

static bool valid_id(const char *id, size_t n)
{
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static void build_exposes(struct fc_exposes *x)
{
	static const char *const modes[] = {"auto", "eco", "boost"};
	fc_exposes_binary(x, "state", FC_ACCESS_STATE | FC_ACCESS_SET | FC_ACCESS_GET);
	fc_expose_range(fc_exposes_numeric(x, "brightness", FC_ACCESS_STATE | FC_ACCESS_SET, NULL), 0, 255, 1);
	fc_expose_ha(fc_exposes_numeric(x, "power", FC_ACCESS_STATE | FC_ACCESS_GET, "W"), "power", "measurement");
	fc_exposes_enum(x, "mode", FC_ACCESS_STATE | FC_ACCESS_SET, modes, 3);
}

static enum fc_verdict fctest_auth(struct fc_hub *hub, void *vs, const struct fc_client *c, const char *username,
				   const char *password, struct fc_device **dev)
{
	(void)vs;
	if (!c->id || strncmp(c->id, "fctest:", 7) != 0)
		return FC_DEFER;
	const char *id = c->id + 7;
	if (!valid_id(id, strlen(id)) || !username || strcmp(username, id) != 0) {
		fc_warn("fctest: refused client '%s': username must equal the id after 'fctest:'", c->id);
		return FC_DENY;
	}
	struct fc_device_row row;
	int rc = fc_ks_device_get(fc_hub_keystore(hub), "fctest", id, &row);
	if (rc != FC_KS_OK) {
		fc_warn("fctest: refused device %s: unknown; import it with `fakecloud device add fctest --id %s ...`", id, id);
		return FC_DENY;
	}
	const cJSON *pw = cJSON_GetObjectItemCaseSensitive(row.secrets, "password");
	struct fc_secret s;
	bool ok = cJSON_IsString(pw) && fc_secret_set_str(&s, pw->valuestring) == 0 && password &&
		  fc_secret_equals(&s, password, strlen(password));
	fc_device_row_free(&row);
	if (!ok) {
		fc_warn("fctest: refused device %s: wrong password", id);
		return FC_DENY;
	}
	*dev = fc_hub_device_ensure(hub, &fctest_vendor, id, NULL, NULL);
	return *dev ? FC_ALLOW : FC_DENY;
}

/* fctest/<id>/<leaf> where <id> is the device's own. */
static bool own_topic(const struct fc_device *dev, const char *topic, const char *leaf)
{
	char want[256];
	snprintf(want, sizeof want, "fctest/%s/%s", dev->vid, leaf);
	return strcmp(topic, want) == 0;
}

static enum fc_verdict fctest_acl(struct fc_hub *hub, void *vs, const struct fc_client *c, struct fc_device *dev,
				  const char *topic, int access)
{
	(void)hub;
	(void)vs;
	(void)c;
	if (!dev)
		return FC_DENY;
	if (access == FC_ACL_WRITE)
		return own_topic(dev, topic, "hello") || own_topic(dev, topic, "state") ? FC_ALLOW : FC_DENY;
	if (access == FC_ACL_SUBSCRIBE || access == FC_ACL_READ || access == FC_ACL_UNSUBSCRIBE)
		return own_topic(dev, topic, "cmd") ? FC_ALLOW : FC_DENY;
	return FC_DENY;
}

static bool fctest_protected(const char *topic)
{
	if (strncmp(topic, "fctest/", 7) != 0)
		return false;
	const char *slash = strchr(topic + 7, '/');
	return slash && strcmp(slash, "/cmd") == 0;
}

static enum fc_verdict fctest_message(struct fc_hub *hub, void *vs, const struct fc_client *c, struct fc_device *dev,
				      const char *topic, const void *payload, size_t len)
{
	(void)vs;
	if (!dev)
		return FC_DENY;
	cJSON *j = cJSON_ParseWithLength(payload, len);
	if (!cJSON_IsObject(j)) {
		fc_hub_bridge_log(hub, FC_LOG_WARN, dev, "fctest: dropped a message that is not a JSON object");
		cJSON_Delete(j);
		return FC_DENY;
	}
	if (own_topic(dev, topic, "hello")) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "model");
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "firmware");
		fc_hub_device_set_info(hub, dev, cJSON_IsString(m) ? m->valuestring : NULL,
				       cJSON_IsString(f) ? f->valuestring : NULL, c->address);
		struct fc_exposes x = {0};
		build_exposes(&x);
		fc_hub_device_set_exposes(hub, dev, &x);
		fc_exposes_free(&x);
		fc_hub_device_set_online(hub, dev, c, true);
	} else if (own_topic(dev, topic, "state")) {
		cJSON *patch = cJSON_CreateObject();
		const cJSON *item;
		cJSON_ArrayForEach(item, j)
		{
			if (fc_exposes_find(&dev->exposes, item->string))
				cJSON_AddItemToObject(patch, item->string, cJSON_Duplicate(item, true));
		}
		fc_hub_device_update_state(hub, dev, patch);
		cJSON_Delete(patch);
	}
	fc_hub_device_raw(hub, dev, j);
	cJSON_Delete(j);
	return FC_ALLOW;
}

static int send_cmd(struct fc_hub *hub, struct fc_device *dev, const cJSON *body)
{
	char topic[256];
	snprintf(topic, sizeof topic, "fctest/%s/cmd", dev->vid);
	char *s = cJSON_PrintUnformatted(body);
	if (!s)
		return -1;
	int rc = fc_broker_publish_to(fc_hub_broker(hub), dev->client_id, topic, s, strlen(s), 1);
	cJSON_free(s);
	return rc;
}

static int fctest_command(struct fc_hub *hub, void *vs, struct fc_device *dev, const cJSON *set, char *err,
			  size_t errlen)
{
	(void)vs;
	cJSON *body = cJSON_Duplicate(set, true);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(body, "state");
	if (cJSON_IsString(st) && strcmp(st->valuestring, "TOGGLE") == 0) {
		const cJSON *cur = cJSON_GetObjectItemCaseSensitive(dev->state, "state");
		bool on = cJSON_IsString(cur) && strcmp(cur->valuestring, "ON") == 0;
		cJSON_ReplaceItemInObjectCaseSensitive(body, "state", cJSON_CreateString(on ? "OFF" : "ON"));
	}
	int rc = send_cmd(hub, dev, body);
	cJSON_Delete(body);
	if (rc != 0)
		snprintf(err, errlen, "could not queue the command");
	return rc;
}

static int fctest_refresh(struct fc_hub *hub, void *vs, struct fc_device *dev, const cJSON *props, char *err,
			  size_t errlen)
{
	(void)vs;
	(void)err;
	(void)errlen;
	cJSON *body = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(body, "get");
	const cJSON *item;
	cJSON_ArrayForEach(item, props) cJSON_AddItemToArray(arr, cJSON_CreateString(item->string));
	int rc = send_cmd(hub, dev, body);
	cJSON_Delete(body);
	return rc;
}

static int fctest_raw(struct fc_hub *hub, void *vs, struct fc_device *dev, const cJSON *body, char *err, size_t errlen)
{
	(void)vs;
	(void)err;
	(void)errlen;
	return send_cmd(hub, dev, body);
}

/* MQTT TLS-PSK: identity "fctest:<id>", key = the device's secrets.psk (hex). */
static int fctest_psk_key(struct fc_hub *hub, void *vs, const char *hint, const char *identity, char *hexkey,
			  size_t cap)
{
	(void)vs;
	(void)hint;
	if (!identity || strncmp(identity, "fctest:", 7) != 0)
		return 1;
	const char *id = identity + 7;
	if (!valid_id(id, strlen(id))) {
		fc_warn("fctest: malformed PSK identity refused");
		return -1;
	}
	struct fc_device_row row;
	if (fc_ks_device_get(fc_hub_keystore(hub), "fctest", id, &row) != FC_KS_OK) {
		fc_warn("fctest: PSK identity for unknown device '%s': import it with `fakecloud device add fctest ...`", id);
		return -1;
	}
	const cJSON *psk = cJSON_GetObjectItemCaseSensitive(row.secrets, "psk");
	int rc = -1;
	size_t n = cJSON_IsString(psk) ? strlen(psk->valuestring) : 0;
	if (n == 0 || n % 2 || n + 1 > cap || strspn(psk->valuestring, "0123456789abcdefABCDEF") != n) {
		fc_warn("fctest: device '%s' has no usable psk", id);
	} else {
		for (size_t i = 0; i <= n; i++)
			hexkey[i] = (char)(psk->valuestring[i] >= 'A' && psk->valuestring[i] <= 'F' ? psk->valuestring[i] + 32
												  : psk->valuestring[i]);
		rc = 0;
	}
	fc_device_row_free(&row);
	return rc;
}

static const struct fc_vendor_broker fctest_broker = {
	.psk_key = fctest_psk_key,
	.auth = fctest_auth,
	.acl = fctest_acl,
	.is_protected_topic = fctest_protected,
	.message = fctest_message,
	.command = fctest_command,
	.refresh = fctest_refresh,
	.raw_command = fctest_raw,
};

/* ---- CLI ---- */

static int fctest_add(struct fc_cli *cli, int argc, char **argv)
{
	const char *id = NULL, *pw = NULL, *psk = NULL, *name = "";
	const struct fc_cli_opt opts[] = {{"id", &id}, {"password", &pw}, {"psk", &psk}, {"name", &name}};
	if (fc_cli_parse(cli, "fctest", argc, argv, opts, 4) != 0)
		return 2;
	if (!id || !pw || !valid_id(id, strlen(id))) {
		fprintf(cli->err, "fctest: --id ID (letters, digits, _ -) and --password PW are required\n");
		return 2;
	}
	cJSON *secrets = cJSON_CreateObject();
	cJSON_AddStringToObject(secrets, "password", pw);
	if (psk)
		cJSON_AddStringToObject(secrets, "psk", psk);
	int rc = fc_ks_device_put(cli->ks, "fctest", id, name, secrets, NULL);
	cJSON_Delete(secrets);
	if (rc == FC_KS_EXISTS) {
		fprintf(cli->err, "fctest: the name '%s' is already taken\n", name);
		return 1;
	}
	if (rc != FC_KS_OK) {
		fprintf(cli->err, "fctest: keystore error\n");
		return 1;
	}
	fprintf(cli->out, "fctest device %s stored\n", id);
	return 0;
}

static int export_cb(void *ctx, const struct fc_device_row *row)
{
	struct fc_cli *cli = ctx;
	const cJSON *pw = cJSON_GetObjectItemCaseSensitive(row->secrets, "password");
	fprintf(cli->out, "%s\t%s\t%s\n", row->name, row->vid, cJSON_IsString(pw) ? pw->valuestring : "");
	return 0;
}

static int fctest_export(struct fc_cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(cli->out, "name\tid\tpassword\n");
	return fc_ks_device_each(cli->ks, "fctest", export_cb, cli) < 0 ? 1 : 0;
}

static const struct fc_vendor_cli fctest_cli = {
	.add_usage = "fakecloud device add fctest --id ID --password PW [--psk HEX] [--name NAME]",
	.device_add = fctest_add,
	.device_export = fctest_export,
};

const struct fc_vendor fctest_vendor = {
	.name = "fctest",
	.title = "Test vendor",
	.manufacturer = "fakecloud test",
	.broker = &fctest_broker,
	.http = &fctest_http,
	.cli = &fctest_cli,
};
