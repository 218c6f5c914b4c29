/* Bridge topics: <base>/bridge/{info,devices} and the request/response pairs. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hub_internal.h"
#include "core/keystore.h"

cJSON *hub_device_json(struct fc_hub *hub, const struct fc_device *d)
{
	(void)hub;
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "name", d->name);
	cJSON_AddStringToObject(o, "vendor", d->vendor->name);
	cJSON_AddStringToObject(o, "id", d->vid);
	cJSON_AddStringToObject(o, "manufacturer", d->vendor->manufacturer ? d->vendor->manufacturer : d->vendor->title);
	cJSON_AddStringToObject(o, "model", d->model);
	cJSON_AddStringToObject(o, "firmware", d->firmware);
	cJSON_AddStringToObject(o, "ip", d->ip);
	cJSON_AddBoolToObject(o, "online", d->online);
	if (d->last_seen_ms)
		cJSON_AddNumberToObject(o, "last_seen", (double)d->last_seen_ms);
	else
		cJSON_AddNullToObject(o, "last_seen");
	cJSON_AddItemToObject(o, "exposes", fc_exposes_to_json(&d->exposes));
	return o;
}

static int by_name_cmp(const void *a, const void *b)
{
	const struct fc_device *const *x = a, *const *y = b;
	return strcmp((*x)->name, (*y)->name);
}

struct devices_list {
	struct fc_hub *hub;
	const struct fc_device **d;
};

static cJSON *devices_item(void *ctx, size_t i)
{
	struct devices_list *l = ctx;
	return hub_device_json(l->hub, l->d[i]);
}

/* Printed one device at a time (hub_publish_json_array): a cJSON tree of every device at once was
 * ~10 MB of short-lived nodes at 10,000 devices, every time the list changed. */
void hub_publish_devices(struct fc_hub *hub)
{
	/* Sorted by name so the retained message is stable. */
	const struct fc_device **list = hub->n_devices ? calloc(hub->n_devices, sizeof *list) : NULL;
	if (hub->n_devices && !list)
		return;
	size_t n = 0;
	struct dev_node *node, *tmp;
	HASH_ITER(hh_key, hub->by_key, node, tmp)
	if (n < hub->n_devices)
		list[n++] = &node->d;
	if (n)
		qsort(list, n, sizeof *list, by_name_cmp);
	char topic[256];
	snprintf(topic, sizeof topic, "%s/bridge/devices", hub->base);
	struct devices_list l = {hub, list};
	hub_publish_json_array(hub, topic, n, devices_item, &l, true);
	free(list);
	hub->devices_dirty = false;
	hub->devices_published_ms = fc_hub_now_ms(hub);
}

void hub_publish_info(struct fc_hub *hub)
{
	const struct fc_config *c = hub->cfg;
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return;
	cJSON_AddStringToObject(o, "version", FC_VERSION);
	cJSON_AddStringToObject(o, "base_topic", hub->base);
	cJSON *v = cJSON_AddArrayToObject(o, "vendors");
	for (size_t i = 0; i < hub->n_vendors; i++)
		cJSON_AddItemToArray(v, cJSON_CreateString(hub->vendors[i]->name));
	cJSON *l = cJSON_AddObjectToObject(o, "listeners");
	cJSON_AddNumberToObject(l, "mqtt", (double)fc_config_int(c, "mqtt", "port"));
	cJSON_AddNumberToObject(l, "mqtt_tls", (double)fc_config_int(c, "mqtt", "tls_port"));
	cJSON_AddNumberToObject(l, "mqtt_psk", (double)fc_config_int(c, "mqtt", "psk_port"));
	cJSON_AddNumberToObject(l, "http", (double)fc_config_int(c, "http", "http_port"));
	cJSON_AddNumberToObject(l, "https", (double)fc_config_int(c, "http", "https_port"));
	cJSON *ha = cJSON_AddObjectToObject(o, "homeassistant");
	cJSON_AddBoolToObject(ha, "discovery", hub->discovery);
	cJSON_AddStringToObject(ha, "prefix", hub->ha_prefix);
	char topic[256];
	snprintf(topic, sizeof topic, "%s/bridge/info", hub->base);
	hub_publish_json(hub, topic, o, true);
	cJSON_Delete(o);
}

static const char *str_field(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Each request handler fills `data` on success or writes `err` and returns -1. */
static int req_rename(struct fc_hub *hub, const cJSON *req, cJSON *data, char *err, size_t errlen)
{
	const char *from = str_field(req, "from"), *to = str_field(req, "to");
	if (!from || !to) {
		snprintf(err, errlen, "device/rename needs {\"from\":\"<name>\",\"to\":\"<new name>\"}");
		return -1;
	}
	struct fc_device *d = fc_hub_device_by_name(hub, from);
	if (!d) {
		snprintf(err, errlen, "no device named '%s'", from);
		return -1;
	}
	if (!fc_name_valid(to, err, errlen))
		return -1;
	if (strcmp(from, to) != 0) {
		if (fc_hub_device_by_name(hub, to)) {
			snprintf(err, errlen, "the name '%s' is already taken", to);
			return -1;
		}
		int rc = fc_ks_device_rename(hub->ks, d->vendor->name, d->vid, to);
		if (rc == FC_KS_EXISTS) {
			snprintf(err, errlen, "the name '%s' is already taken", to);
			return -1;
		}
		if (rc != FC_KS_OK) {
			snprintf(err, errlen, "keystore error; nothing renamed");
			return -1;
		}
		hub_rename_device(hub, d, to);
		fc_info("renamed device '%s' to '%s'", from, to);
	}
	cJSON_AddStringToObject(data, "from", from);
	cJSON_AddStringToObject(data, "to", to);
	return 0;
}

static int req_remove(struct fc_hub *hub, const cJSON *req, cJSON *data, char *err, size_t errlen)
{
	const char *name = str_field(req, "name");
	if (!name)
		name = str_field(req, "id");
	if (!name) {
		snprintf(err, errlen, "device/remove needs {\"name\":\"<name>\",\"forget_keys\":false}");
		return -1;
	}
	const cJSON *fk = cJSON_GetObjectItemCaseSensitive(req, "forget_keys");
	if (fk && !cJSON_IsBool(fk)) {
		snprintf(err, errlen, "forget_keys must be true or false");
		return -1;
	}
	bool forget = cJSON_IsTrue(fk);
	struct fc_device *d = fc_hub_device_by_name(hub, name);
	if (!d) {
		snprintf(err, errlen, "no device named '%s'", name);
		return -1;
	}
	char vendor[32], vid[128], dname[128];
	snprintf(vendor, sizeof vendor, "%s", d->vendor->name);
	snprintf(vid, sizeof vid, "%s", d->vid);
	snprintf(dname, sizeof dname, "%s", d->name);
	/* Persist first: if the keystore refuses, nothing changes. */
	int rc;
	if (forget) {
		rc = fc_ks_device_delete(hub->ks, vendor, vid);
	} else {
		cJSON *patch = cJSON_CreateObject();
		cJSON_AddTrueToObject(patch, "removed");
		rc = fc_ks_device_merge_meta(hub->ks, vendor, vid, patch);
		cJSON_Delete(patch);
	}
	if (rc != FC_KS_OK && rc != FC_KS_NOTFOUND) {
		snprintf(err, errlen, "keystore error; nothing removed");
		return -1;
	}
	hub_remove_device(hub, d);
	fc_info("removed device '%s' (%s %s)%s", dname, vendor, vid, forget ? ", keys forgotten" : ", keys kept");
	cJSON_AddStringToObject(data, "name", dname);
	cJSON_AddBoolToObject(data, "forget_keys", forget);
	return 0;
}

/* VmRSS of this process in bytes, -1 if /proc cannot tell. */
static int64_t process_rss(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	char line[128];
	int64_t kb = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %" SCNd64, &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

static void add_bytes(cJSON *o, const char *k, int64_t v)
{
	if (v < 0)
		cJSON_AddNullToObject(o, k);
	else
		cJSON_AddNumberToObject(o, k, (double)v);
}

/* Read-only: what the broker with the plugin holds and has done; no secrets, no device names. */
static int req_health(struct fc_hub *hub, const cJSON *req, cJSON *data, char *err, size_t errlen)
{
	(void)req;
	(void)err;
	(void)errlen;
	size_t online = 0;
	for (struct dev_node *n = hub->by_key; n; n = n->hh_key.next)
		online += n->d.online;
	/* Healthy = the keystore answers (every login and command needs it). */
	bool ks_ok = fc_keystore_schema_version(hub->ks) > 0;
	cJSON_AddBoolToObject(data, "healthy", ks_ok);
	if (!ks_ok)
		cJSON_AddStringToObject(data, "problem", "the keystore does not answer (see the broker log)");
	cJSON_AddNumberToObject(data, "devices", (double)hub->n_devices);
	cJSON_AddNumberToObject(data, "online", (double)online);
	cJSON *m = cJSON_AddObjectToObject(data, "memory");
	add_bytes(m, "plugin_heap", fc_broker_heap_bytes(&hub->broker));
	add_bytes(m, "sqlite", fc_ks_memory_used());
	add_bytes(m, "process_rss", process_rss());
	const struct fc_hub_stats *st = &hub->stats;
	cJSON *s = cJSON_AddObjectToObject(data, "counters");
	cJSON_AddNumberToObject(s, "auth_ok", (double)st->auth_ok);
	cJSON_AddNumberToObject(s, "auth_denied", (double)st->auth_denied);
	cJSON_AddNumberToObject(s, "acl_denied", (double)st->acl_denied);
	cJSON_AddNumberToObject(s, "device_messages", (double)st->messages);
	cJSON_AddNumberToObject(s, "commands", (double)st->commands);
	cJSON_AddNumberToObject(s, "command_errors", (double)st->command_errors);
	cJSON_AddNumberToObject(s, "commands_dropped", (double)st->commands_dropped);
	cJSON_AddNumberToObject(s, "bad_requests", (double)st->bad_requests);
	return 0;
}

static const struct {
	const char *op;
	int (*fn)(struct fc_hub *hub, const cJSON *req, cJSON *data, char *err, size_t errlen);
	bool changes_devices; /* bridge/devices is republished after it succeeds */
} requests[] = {
	{"device/rename", req_rename, true},
	{"device/remove", req_remove, true},
	{"health", req_health, false},
};

static bool is_admin(struct fc_hub *hub, const struct fc_client *c)
{
	char users[16][256];
	int n = fc_config_list(hub->cfg, "core", "admin_users", users, 16);
	for (int i = 0; c && c->username && i < n; i++)
		if (strcmp(users[i], c->username) == 0)
			return true;
	return false;
}

/* <vendor>/<op>: the vendor's own (admin-only) requests. 1 if op names a vendor. */
static int vendor_request(struct fc_hub *hub, const struct fc_client *c, const char *op, const cJSON *req,
			  cJSON *data, char *err, size_t errlen, int *rc)
{
	const char *slash = strchr(op, '/');
	char vname[32];
	size_t n = slash ? (size_t)(slash - op) : 0;
	if (!slash || n == 0 || n >= sizeof vname)
		return 0;
	memcpy(vname, op, n);
	vname[n] = 0;
	const struct fc_vendor *v = fc_vendor_find(hub->vendors, vname);
	if (!v)
		return 0;
	if (!v->broker || !v->broker->bridge_request)
		snprintf(err, errlen, "vendor %s has no bridge requests", vname);
	else if (!is_admin(hub, c))
		snprintf(err, errlen, "%.64s is admin only (core.admin_users); user '%s' may not send it", op,
			 c && c->username ? c->username : "-");
	else
		*rc = v->broker->bridge_request(hub, fc_hub_vendor_state(hub, v), slash + 1, req, data, err, errlen);
	return 1;
}

void hub_bridge_request(struct fc_hub *hub, const struct fc_client *c, const char *op, const void *payload, size_t len)
{
	cJSON *req = hub_parse_json(payload, len);
	cJSON *resp = cJSON_CreateObject();
	cJSON *data = cJSON_CreateObject();
	char err[256] = "";
	int rc = -1;
	bool changes = true;
	if (!cJSON_IsObject(req)) {
		snprintf(err, sizeof err, "request body must be a JSON object");
	} else if (vendor_request(hub, c, op, req, data, err, sizeof err, &rc)) {
		/* handled (or refused) by the vendor */
	} else {
		size_t i;
		for (i = 0; i < sizeof requests / sizeof requests[0]; i++)
			if (strcmp(op, requests[i].op) == 0)
				break;
		if (i == sizeof requests / sizeof requests[0])
			snprintf(err, sizeof err, "unknown request '%.64s'", op);
		else {
			rc = requests[i].fn(hub, req, data, err, sizeof err);
			changes = requests[i].changes_devices;
		}
	}
	if (rc != 0)
		hub->stats.bad_requests++;
	cJSON_AddStringToObject(resp, "status", rc == 0 ? "ok" : "error");
	cJSON_AddItemToObject(resp, "data", data);
	if (rc != 0)
		cJSON_AddStringToObject(resp, "error", err);
	const cJSON *tr = cJSON_GetObjectItemCaseSensitive(req, "transaction");
	if (tr)
		cJSON_AddItemToObject(resp, "transaction", cJSON_Duplicate(tr, true));
	char topic[300];
	snprintf(topic, sizeof topic, "%s/bridge/response/%.128s", hub->base, op);
	hub_publish_json(hub, topic, resp, false);
	if (rc != 0)
		fc_hub_bridge_log(hub, FC_LOG_WARN, NULL, "bridge request %.64s failed: %s", op, err);
	else if (changes)
		hub_publish_devices(hub);
	cJSON_Delete(resp);
	cJSON_Delete(req);
}
