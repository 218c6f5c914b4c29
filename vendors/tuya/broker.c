/* Tuya broker side (tuya.md §3): device login as devId with md5(secKey)[8:24], topics confined to
 * smart/device/{in,out}/<devId>, reports (protocol 4) -> state through the schema, plain-topic commands
 * -> protocol 5 in the device's own payload version, the PSK listener's keys (§2).
 *
 * Tuya firmware treats a refused CONNECT as "unbound" and may wipe its pairing, so every refusal is
 * logged with the devId, the exact reason and what the owner has to import. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "core/crypto.h"
#include "core/hub.h"
#include "core/keystore.h"
#include "core/log.h"
#include "vendors/tuya/tuya_internal.h"

#define TOPIC_IN "smart/device/in/"
#define TOPIC_OUT "smart/device/out/"
#define RPC_PREFIX "rpc/"
#define CMD_SOURCE 1u /* fixed, non-zero (§3: source 0 would disable the device's replay check) */

/* Per-device data (fc_device.vdata). */
struct tuya_bdev {
	struct fc_device *dev;
	char dev_id[TUYA_DEVID_MAX + 1]; /* "" until activated: not indexed */
	struct fc_secret local_key;
	struct fc_secret mqtt_pw;        /* md5hex(secKey)[8:24]; empty when the secKey is not known */
	struct fc_secret *psk_key;       /* only for devices with an imported pskKey */
	enum tuya_pv pv;
	struct tuya_schema *schema;      /* trimmed to its n data points */
	const void *conn;                /* the connection that logged in last */
	char client_id[TUYA_DEVID_MAX + 1];
	uint32_t seq;
	unsigned bad_msgs;
	bool warned_no_pw, warned_rpc;
};

/* devId -> device. Index nodes belong to the vendor state, not to the devices: the hub frees every
 * device's vdata before it calls cleanup. */
struct tuya_idx {
	char dev_id[TUYA_DEVID_MAX + 1];
	struct tuya_bdev *b;
	UT_hash_handle hh;
};

struct tuya_bvs {
	struct tuya_idx *by_devid;
	uint64_t bad_msgs;
};

#define BD(dev) ((struct tuya_bdev *)(dev)->vdata)

static bool starts_with(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* 20 or 22 letters/digits, as cloud-assigned devIds are (§0). */
static bool devid_shaped(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 20 || n > 22)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]))
			return false;
	return true;
}

static struct tuya_idx *find_idx(struct tuya_bvs *vs, const char *dev_id)
{
	struct tuya_idx *x = NULL;
	if (dev_id && dev_id[0])
		HASH_FIND_STR(vs->by_devid, dev_id, x);
	return x;
}

static struct tuya_bdev *find(struct tuya_bvs *vs, const char *dev_id)
{
	struct tuya_idx *x = find_idx(vs, dev_id);
	return x ? x->b : NULL;
}

/* ---------------------------------------------------------------- lifecycle */

static int t_init(struct fc_hub *hub, void **vs)
{
	(void)hub;
	*vs = calloc(1, sizeof(struct tuya_bvs));
	return *vs ? 0 : -1;
}

static void t_cleanup(struct fc_hub *hub, void *vs)
{
	(void)hub;
	struct tuya_bvs *v = vs;
	struct tuya_idx *x, *tmp;
	HASH_ITER(hh, v->by_devid, x, tmp)
	{
		HASH_DEL(v->by_devid, x);
		free(x);
	}
	free(v);
}

static void free_bdev(void *p)
{
	struct tuya_bdev *b = p;
	if (!b)
		return;
	fc_secret_wipe(&b->local_key);
	fc_secret_wipe(&b->mqtt_pw);
	if (b->psk_key)
		fc_secret_wipe(b->psk_key);
	free(b->psk_key);
	free(b->schema);
	free(b);
}

static void unindex(struct tuya_bvs *vs, struct tuya_bdev *b)
{
	struct tuya_idx *x = find_idx(vs, b->dev_id);
	if (x && x->b == b) {
		HASH_DEL(vs->by_devid, x);
		free(x);
	}
}

static void index_dev(struct tuya_bvs *vs, struct tuya_bdev *b)
{
	struct tuya_idx *x = calloc(1, sizeof *x);
	if (!x)
		return;
	snprintf(x->dev_id, sizeof x->dev_id, "%s", b->dev_id);
	x->b = b;
	HASH_ADD_STR(vs->by_devid, dev_id, x);
}

/* A heap copy of the parsed schema holding only its n data points (a full one is ~45 KiB). */
static struct tuya_schema *load_schema(const struct tuya_dev *d, const char *name)
{
	struct tuya_schema *full = malloc(sizeof *full);
	if (!full)
		return NULL;
	const char *text = d->schema ? d->schema : TUYA_DEFAULT_SCHEMA;
	char err[200];
	if (tuya_schema_parse(text, strlen(text), d->dp_names, full, err, sizeof err) != 0) {
		fc_warn("tuya: %s: stored schema unusable (%s); using the default one-switch schema", name, err);
		if (tuya_schema_parse(TUYA_DEFAULT_SCHEMA, strlen(TUYA_DEFAULT_SCHEMA), NULL, full, err, sizeof err)) {
			free(full);
			return NULL;
		}
	}
	size_t size = offsetof(struct tuya_schema, dp) + full->n * sizeof full->dp[0];
	struct tuya_schema *s = malloc(size);
	if (s)
		memcpy(s, full, size);
	free(full);
	return s;
}

static void t_loaded(struct fc_hub *hub, void *vsp, struct fc_device *dev, const cJSON *secrets, const cJSON *meta)
{
	struct tuya_bvs *vs = vsp;
	struct fc_device_row row = {0};
	snprintf(row.vid, sizeof row.vid, "%s", dev->vid);
	snprintf(row.name, sizeof row.name, "%s", dev->name);
	row.secrets = (cJSON *)secrets;
	row.meta = (cJSON *)meta;
	struct tuya_dev d;
	char err[128];
	if (tuya_dev_from_row(&row, &d, err, sizeof err) != 0) {
		fc_error("tuya: device %s not loaded: %s", dev->name, err);
		return;
	}
	struct tuya_bdev *b = BD(dev);
	if (!b) {
		if (!(b = calloc(1, sizeof *b))) {
			tuya_dev_free(&d);
			return;
		}
		b->dev = dev;
		dev->vdata = b;
		uint32_t r = 0;
		fc_random(&r, sizeof r);
		b->seq = r & 0xffff;
	}
	unindex(vs, b);
	snprintf(b->dev_id, sizeof b->dev_id, "%s", d.dev_id);
	fc_secret_set(&b->local_key, fc_secret_reveal(&d.local_key), fc_secret_len(&d.local_key));
	fc_secret_wipe(&b->mqtt_pw);
	if (fc_secret_len(&d.sec_key)) {
		char pw[17];
		tuya_mqtt_password(fc_secret_reveal(&d.sec_key), fc_secret_len(&d.sec_key), pw);
		fc_secret_set_str(&b->mqtt_pw, pw);
		fc_wipe(pw, sizeof pw);
	}
	if (b->psk_key)
		fc_secret_wipe(b->psk_key);
	free(b->psk_key);
	b->psk_key = NULL;
	if (fc_secret_len(&d.psk_key) && (b->psk_key = malloc(sizeof *b->psk_key)))
		fc_secret_set(b->psk_key, fc_secret_reveal(&d.psk_key), fc_secret_len(&d.psk_key));
	if (tuya_pv_parse(d.pv, &b->pv) != 0)
		b->pv = TUYA_PV_22;
	struct tuya_schema *s = load_schema(&d, dev->name);
	if (s) {
		free(b->schema);
		b->schema = s;
		struct fc_exposes x = {0};
		tuya_schema_exposes(s, &x);
		/* There is no documented way to ask a device for one DP over MQTT: no /get. */
		for (size_t i = 0; i < x.n; i++)
			x.e[i].access &= ~(unsigned)FC_ACCESS_GET;
		if (!fc_exposes_equal(&dev->exposes, &x))
			fc_hub_device_set_exposes(hub, dev, &x);
		fc_exposes_free(&x);
	}
	if (b->dev_id[0]) {
		struct tuya_bdev *other = find(vs, b->dev_id);
		if (other && other != b) {
			fc_error("tuya: devId %s is claimed by both %s and %s; %s is not reachable over MQTT",
				 b->dev_id, other->dev->name, dev->name, dev->name);
		} else if (!other) {
			index_dev(vs, b);
		}
	}
	tuya_dev_free(&d);
}

static void t_removed(struct fc_hub *hub, void *vs, struct fc_device *dev)
{
	(void)hub;
	if (BD(dev))
		unindex(vs, BD(dev));
}

/* ---------------------------------------------------------------- login, ACL */

static enum fc_verdict t_auth(struct fc_hub *hub, void *vsp, const struct fc_client *c, const char *username,
			      const char *password, struct fc_device **dev)
{
	struct tuya_bvs *vs = vsp;
	const char *id = c->id ? c->id : "";
	if (starts_with(id, "acon_") || (username && starts_with(username, "acon_"))) {
		fc_hub_bridge_log(hub, FC_LOG_WARN, NULL,
				  "refused Tuya client %s from %s: the device is not activated and asks for direct (QR "
				  "code) activation, which fakecloud does not offer; let it activate over HTTP "
				  "(url_config + tuya.device.active, see docs/vendors/tuya.md)",
				  id, c->address ? c->address : "?");
		return FC_DENY;
	}
	struct tuya_bdev *b = find(vs, username);
	if (!b) {
		if (!devid_shaped(username) || strcmp(id, username) != 0)
			return FC_DEFER;
		fc_hub_bridge_log(hub, FC_LOG_WARN, NULL,
				  "refused Tuya device %s from %s: unknown devId. It was activated with another cloud: "
				  "import it (fakecloud device add tuya --uuid <uuid> --dev-id %s --local-key <localKey> "
				  "[--sec-key <secKey>]) or let it activate with fakecloud again",
				  username, c->address ? c->address : "?", username);
		return FC_DENY;
	}
	if (strcmp(id, username) != 0) {
		fc_hub_bridge_log(hub, FC_LOG_WARN, b->dev,
				  "refused Tuya device %s from %s: client id '%s' is not its devId", username,
				  c->address ? c->address : "?", id);
		return FC_DENY;
	}
	if (fc_secret_len(&b->mqtt_pw)) {
		if (!password || !fc_secret_equals(&b->mqtt_pw, password, strlen(password))) {
			fc_hub_bridge_log(hub, FC_LOG_WARN, b->dev,
					  "refused Tuya device %s from %s: %s MQTT password (md5 of the secKey). The "
					  "device holds another secKey than the keystore: import the right one "
					  "(fakecloud device add tuya --uuid %s --sec-key <secKey>) or factory-reset "
					  "the device so it activates again",
					  username, c->address ? c->address : "?", password ? "wrong" : "no",
					  b->dev->vid);
			return FC_DENY;
		}
	} else if (!b->warned_no_pw) {
		b->warned_no_pw = true;
		fc_hub_bridge_log(hub, FC_LOG_WARN, b->dev,
				  "Tuya device %s logs in without a password check: its secKey was not imported",
				  username);
	}
	if (!fc_secret_len(&b->local_key))
		fc_hub_bridge_log(hub, FC_LOG_WARN, b->dev,
				  "Tuya device %s has no localKey in the keystore: its messages cannot be read "
				  "(import it with --local-key)",
				  username);
	b->conn = c->handle;
	snprintf(b->client_id, sizeof b->client_id, "%s", id);
	*dev = b->dev;
	fc_hub_device_set_info(hub, b->dev, NULL, NULL, c->address);
	fc_hub_device_set_online(hub, b->dev, c, true);
	return FC_ALLOW;
}

/* topic == prefix + devId exactly */
static bool own_topic(const char *topic, const char *prefix, const char *dev_id)
{
	size_t n = strlen(prefix);
	return strncmp(topic, prefix, n) == 0 && strcmp(topic + n, dev_id) == 0;
}

static enum fc_verdict t_acl(struct fc_hub *hub, void *vs, const struct fc_client *c, struct fc_device *dev,
			     const char *topic, int access)
{
	(void)vs;
	(void)c;
	struct tuya_bdev *b = dev ? BD(dev) : NULL;
	if (!b)
		return FC_DENY;
	bool reading = access != FC_ACL_WRITE;
	if (reading && (own_topic(topic, TOPIC_IN, b->dev_id) || own_topic(topic, "rpc/rsp/", b->dev_id) ||
			own_topic(topic, "rpc/file/", b->dev_id)))
		return FC_ALLOW;
	if (!reading && (own_topic(topic, TOPIC_OUT, b->dev_id) || own_topic(topic, "rpc/req/", b->dev_id)))
		return FC_ALLOW;
	fc_hub_bridge_log(hub, FC_LOG_WARN, dev, "refused: Tuya device %s may not %s '%s' (only %s%s and %s%s)",
			  b->dev_id, reading ? "read" : "write", topic, TOPIC_IN, b->dev_id, TOPIC_OUT, b->dev_id);
	return FC_DENY;
}

static bool t_protected(const char *topic)
{
	return starts_with(topic, TOPIC_IN) || starts_with(topic, "rpc/rsp/") || starts_with(topic, "rpc/file/");
}

/* ---------------------------------------------------------------- device messages */

static void note_pv(struct fc_hub *hub, struct tuya_bdev *b, enum tuya_pv pv)
{
	if (b->pv == pv)
		return;
	b->pv = pv;
	/* Commands go out in the version the device itself speaks; kept for the next start. */
	cJSON *patch = cJSON_CreateObject();
	cJSON_AddStringToObject(patch, "protocolVer", pv == TUYA_PV_21 ? "2.1" : pv == TUYA_PV_23 ? "2.3" : "2.2");
	fc_ks_device_merge_meta(fc_hub_keystore(hub), "tuya", b->dev->vid, patch);
	cJSON_Delete(patch);
}

static void on_report(struct fc_hub *hub, struct tuya_bdev *b, const struct tuya_mqtt_msg *m)
{
	const cJSON *dps = cJSON_GetObjectItemCaseSensitive(m->data, "dps");
	if (!cJSON_IsObject(dps))
		return;
	cJSON *patch = cJSON_CreateObject();
	if (patch && b->schema && tuya_schema_dps_to_state(b->schema, dps, patch) > 0)
		fc_hub_device_update_state(hub, b->dev, patch);
	cJSON_Delete(patch);
}

static enum fc_verdict t_message(struct fc_hub *hub, void *vsp, const struct fc_client *c, struct fc_device *dev,
				 const char *topic, const void *payload, size_t len)
{
	struct tuya_bvs *vs = vsp;
	struct tuya_bdev *b = dev ? BD(dev) : NULL;
	(void)c;
	if (!b)
		return FC_DENY;
	if (!own_topic(topic, TOPIC_OUT, b->dev_id)) {
		if (!b->warned_rpc) {
			b->warned_rpc = true;
			fc_hub_bridge_log(hub, FC_LOG_INFO, dev,
					  "Tuya device %s uses MQTT ATOP (%s), which fakecloud does not answer; it "
					  "falls back to HTTP",
					  b->dev_id, topic);
		}
		return FC_DENY;
	}
	struct tuya_mqtt_msg m;
	char err[160];
	int rc = tuya_mqtt_decode(payload, len, fc_secret_reveal(&b->local_key), fc_secret_len(&b->local_key), 0, &m,
				  err, sizeof err);
	if (rc != 0) {
		vs->bad_msgs++;
		if (b->bad_msgs++ % 100 == 0)
			fc_hub_bridge_log(hub, FC_LOG_WARN, dev, "Tuya device %s: message dropped: %s%s", b->dev_id,
					  rc == TUYA_EKEY ? "it does not decrypt with the stored localKey; " : "", err);
		return FC_DENY;
	}
	if (!m.integrity_ok)
		fc_debug("tuya: %s: message %s does not match (accepted: the content decrypted)", b->dev_id,
			 m.pv == TUYA_PV_21 ? "signature" : "CRC");
	note_pv(hub, b, m.pv);
	cJSON *raw = cJSON_CreateObject();
	cJSON_AddNumberToObject(raw, "protocol", m.protocol);
	if (m.has_t)
		cJSON_AddNumberToObject(raw, "t", (double)m.t);
	if (m.protocol == TUYA_PROTO_DP_REPORT) {
		on_report(hub, b, &m);
		const cJSON *dps = cJSON_GetObjectItemCaseSensitive(m.data, "dps");
		if (dps)
			cJSON_AddItemToObject(raw, "dps", cJSON_Duplicate(dps, 1));
	} else {
		if (m.protocol == TUYA_PROTO_UPGRADE_PROGRESS)
			fc_hub_bridge_log(hub, FC_LOG_INFO, dev, "Tuya device %s reports upgrade progress", b->dev_id);
		cJSON_AddItemToObject(raw, "data", cJSON_Duplicate(m.data, 1));
	}
	fc_hub_device_raw(hub, dev, raw);
	cJSON_Delete(raw);
	tuya_mqtt_msg_free(&m);
	return FC_ALLOW;
}

static void t_disconnect(struct fc_hub *hub, void *vs, const struct fc_client *c, struct fc_device *dev)
{
	(void)vs;
	struct tuya_bdev *b = dev ? BD(dev) : NULL;
	if (!b || c->handle != b->conn)
		return; /* an older connection of a device that already logged in again */
	b->conn = NULL;
	fc_hub_device_set_online(hub, dev, NULL, false);
}

/* ---------------------------------------------------------------- commands */

/* Protocol 5 with `dps` in the device's payload version, a sequence number that only grows and a real t. */
static int send_dps(struct fc_hub *hub, struct tuya_bdev *b, const cJSON *dps, char *err, size_t errlen)
{
	if (!b->conn || !b->dev->online) {
		snprintf(err, errlen, "device is offline");
		return -1;
	}
	if (!fc_secret_len(&b->local_key)) {
		snprintf(err, errlen, "no localKey in the keystore for this device");
		return -1;
	}
	int64_t now = fc_hub_now_ms(hub);
	struct tuya_mqtt_out o = {.pv = b->pv, .seq = ++b->seq, .source = CMD_SOURCE};
	uint8_t *out = NULL;
	size_t outlen = 0;
	if (tuya_mqtt_encode_dp_cmd(&o, b->dev_id, dps, now / 1000, fc_secret_reveal(&b->local_key),
				    fc_secret_len(&b->local_key), &out, &outlen, err, errlen) != 0)
		return -1;
	char topic[sizeof TOPIC_IN + TUYA_DEVID_MAX];
	snprintf(topic, sizeof topic, "%s%s", TOPIC_IN, b->dev_id);
	int rc = fc_broker_publish_to(fc_hub_broker(hub), b->client_id, topic, out, outlen, 1);
	free(out);
	if (rc != 0)
		snprintf(err, errlen, "the broker did not take the message");
	return rc ? -1 : 0;
}

static int t_command(struct fc_hub *hub, void *vs, struct fc_device *dev, const cJSON *set, char *err,
		     size_t errlen)
{
	(void)vs;
	struct tuya_bdev *b = BD(dev);
	if (!b || !b->schema) {
		snprintf(err, errlen, "device not loaded");
		return -1;
	}
	cJSON *dps = tuya_schema_set_to_dps(b->schema, set, dev->state, err, errlen);
	if (!dps)
		return -1;
	int rc = send_dps(hub, b, dps, err, errlen);
	cJSON_Delete(dps);
	return rc;
}

static bool dp_key(const char *k)
{
	char *end = NULL;
	long id = strtol(k, &end, 10);
	return k[0] && *end == 0 && id >= 1 && id <= 255;
}

/* /raw/set: {"dps":{"1":true}} or the dps map itself. Only protocol 5: unbind (8), reset (11) and upgrade
 * (15) would brick or reflash a device and are never sent from a plain topic. */
static int t_raw(struct fc_hub *hub, void *vs, struct fc_device *dev, const cJSON *body, char *err, size_t errlen)
{
	(void)vs;
	struct tuya_bdev *b = BD(dev);
	if (!b)
		return -1;
	const cJSON *proto = cJSON_GetObjectItemCaseSensitive(body, "protocol");
	if (proto && !(cJSON_IsNumber(proto) && proto->valuedouble == TUYA_PROTO_DP_CMD)) {
		snprintf(err, errlen, "only data-point commands (protocol 5) can be sent; unbind, reset and upgrade "
				      "are never sent");
		return -1;
	}
	const cJSON *dps = cJSON_GetObjectItemCaseSensitive(body, "dps");
	if (!dps && !proto)
		dps = body;
	if (!cJSON_IsObject(dps) || !dps->child) {
		snprintf(err, errlen, "expected {\"dps\":{\"<dp id>\":<value>,...}}");
		return -1;
	}
	const cJSON *it;
	cJSON_ArrayForEach(it, dps)
	{
		if (!dp_key(it->string) || !(cJSON_IsBool(it) || cJSON_IsNumber(it) || cJSON_IsString(it))) {
			snprintf(err, errlen, "dps: '%s' must be a data point id (1..255) with a boolean, number or "
					      "string value",
				 it->string);
			return -1;
		}
	}
	return send_dps(hub, b, dps, err, errlen);
}

/* ---------------------------------------------------------------- PSK listener */

static int t_psk(struct fc_hub *hub, void *vsp, const char *hint, const char *identity, char *hexkey, size_t cap)
{
	(void)hub;
	(void)hint; /* Tuya firmware derives with its built-in hint, whatever the listener announces */
	struct tuya_bvs *vs = vsp;
	size_t len = identity ? strlen(identity) : 0;
	if (len == 0 || (identity[0] != 0x01 && identity[0] != 0x02))
		return 1;
	char err[128];
	if (identity[0] == 0x01) {
		uint8_t psk[TUYA_PSK_LEN];
		if (len < 33 || tuya_psk_v1_derive(identity, len, NULL, 0, psk, err, sizeof err) != 0 ||
		    cap < 2 * TUYA_PSK_LEN + 1)
			return 1;
		fc_hex_encode(psk, sizeof psk, hexkey);
		fc_wipe(psk, sizeof psk);
		return 0;
	}
	struct tuya_psk_id id;
	if (tuya_psk_id_parse(identity, len, &id, err, sizeof err) != 0)
		return 1;
	struct tuya_idx *x, *tmp;
	HASH_ITER(hh, vs->by_devid, x, tmp)
	{
		struct tuya_bdev *b = x->b;
		if (!tuya_psk_id_v2_matches(&id, b->dev->vid))
			continue;
		if (!b->psk_key) {
			fc_warn("tuya: device %s connects to the MQTT PSK port with PSK identity 2, which needs its "
				"37-character pskKey: import it (fakecloud device add tuya --uuid %s --psk-key <pskKey>)",
				b->dev->name, b->dev->vid);
			return -1;
		}
		if (cap < 2 * fc_secret_len(b->psk_key) + 1)
			return -1;
		fc_hex_encode(fc_secret_reveal(b->psk_key), fc_secret_len(b->psk_key), hexkey);
		return 0;
	}
	fc_warn("tuya: a device with PSK identity 2 connects to the MQTT PSK port, but no activated Tuya device "
		"with a pskKey has that uuid: import its uuid and pskKey (fakecloud device add tuya --uuid U "
		"--auth-key K --psk-key P)");
	return -1;
}

const struct fc_vendor_broker tuya_broker = {
	.init = t_init,
	.cleanup = t_cleanup,
	.auth = t_auth,
	.acl = t_acl,
	.is_protected_topic = t_protected,
	.message = t_message,
	.psk_key = t_psk,
	.disconnect = t_disconnect,
	.command = t_command,
	.raw_command = t_raw,
	.device_removed = t_removed,
	.device_loaded = t_loaded,
	.free_vdata = free_bdev,
	.bridge_request = tuya_bridge_request,
};
