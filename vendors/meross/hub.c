/* MSH300 hubs: their sub-devices (MS100 temperature/humidity sensors, MTS100 radiator valves) become
 * fakecloud devices of their own, reached through the hub's connection (meross.md §4, Hub.*).
 *
 *   ms100*            temperature °C, humidity %, battery %            (Hub.Sensor.All, Hub.Battery)
 *   mts100* / mts150  state ON/OFF, local_temperature °C, target_temperature °C (5-35), battery %
 *                     (Hub.Mts100.All, Hub.ToggleX, Hub.Mts100.Temperature, Hub.Battery)
 * Temperatures and humidity travel ×10 on the wire. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/keystore.h"
#include "core/log.h"
#include "vendors/meross/meross_internal.h"

#define RO (FC_ACCESS_STATE | FC_ACCESS_GET)
#define RW (FC_ACCESS_STATE | FC_ACCESS_SET | FC_ACCESS_GET)

static struct meross_dev *MD(struct fc_device *d) { return d ? d->vdata : NULL; }


static bool is_valve(const char *type) { return strncmp(type, "mts1", 4) == 0; }
static bool is_sensor(const char *type) { return strncmp(type, "ms1", 3) == 0; }

static bool valid_sub_id(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return false;
	}
	return true;
}

static void sub_exposes(const char *type, struct fc_exposes *x)
{
	if (is_valve(type)) {
		fc_exposes_binary(x, "state", RW);
		fc_expose_ha(fc_exposes_numeric(x, "local_temperature", RO, "°C"), "temperature", "measurement");
		fc_expose_range(fc_exposes_numeric(x, "target_temperature", RW, "°C"), 5, 35, 0.5);
	} else {
		fc_expose_ha(fc_exposes_numeric(x, "temperature", RO, "°C"), "temperature", "measurement");
		fc_expose_ha(fc_exposes_numeric(x, "humidity", RO, "%"), "humidity", "measurement");
	}
	struct fc_expose *b = fc_expose_ha(fc_exposes_numeric(x, "battery", RO, "%"), "battery", "measurement");
	if (b)
		snprintf(b->category, sizeof b->category, "diagnostic");
}

/* The sub-device with this id, if it belongs to hubdev. */
static struct fc_device *sub_of(struct fc_hub *hub, struct fc_device *hubdev, const char *id)
{
	struct fc_device *d = id ? fc_hub_device(hub, &meross_vendor, id) : NULL;
	struct meross_dev *md = MD(d);
	return md && md->sub && strcmp(md->uuid, MD(hubdev)->uuid) == 0 ? d : NULL;
}

/* Copy the hub's transport (connection, key, account) into a sub-device. */
static void inherit(struct meross_dev *sub, const struct meross_dev *h)
{
	snprintf(sub->uuid, sizeof sub->uuid, "%s", h->uuid);
	snprintf(sub->user_id, sizeof sub->user_id, "%s", h->user_id);
	snprintf(sub->mac, sizeof sub->mac, "%s", h->mac);
	snprintf(sub->client_id, sizeof sub->client_id, "%s", h->client_id);
	const struct fc_secret *key = meross_key_hold(h->key);
	meross_key_drop(sub->key);
	sub->key = key;
	sub->bound = h->bound;
}

void meross_hub_digest(struct fc_hub *hub, struct fc_device *hubdev, const cJSON *digest_hub, const struct fc_client *c)
{
	struct meross_dev *h = MD(hubdev);
	const cJSON *list = mjget(digest_hub, "subdevice"), *it;
	cJSON_ArrayForEach(it, list)
	{
		const char *id = cJSON_GetStringValue(mjget(it, "id"));
		if (!id || !valid_sub_id(id))
			continue;
		/* The type is the name of the member object carrying its readings ("ms100", "mts100v3"...). */
		const char *type = NULL;
		const cJSON *m;
		cJSON_ArrayForEach(m, it)
		{
			if (cJSON_IsObject(m) && (is_valve(m->string) || is_sensor(m->string)))
				type = m->string;
		}
		if (!type) {
			fc_debug("meross: %s: sub-device %s of an unsupported type skipped", hubdev->name, id);
			continue;
		}
		cJSON *meta = cJSON_CreateObject();
		cJSON_AddStringToObject(meta, "hub", h->uuid);
		cJSON_AddStringToObject(meta, "type", type);
		struct fc_device *d = fc_hub_device_ensure(hub, &meross_vendor, id, NULL, meta);
		cJSON_Delete(meta);
		if (!d)
			continue;
		struct meross_dev *md = MD(d);
		if (!md) {
			if (!(md = meross_md_new()))
				continue;
			d->vdata = md;
		}
		md->sub = true;
		snprintf(md->sub_id, sizeof md->sub_id, "%s", id);
		snprintf(md->subtype, sizeof md->subtype, "%s", type);
		inherit(md, h);
		bool listed = false;
		for (int i = 0; i < h->n_subs; i++)
			listed |= strcmp(h->sub_ids[i], id) == 0;
		if (!listed && !h->sub_ids)
			h->sub_ids = calloc(MEROSS_MAX_SUBS, sizeof h->sub_ids[0]);
		if (!listed && h->sub_ids && h->n_subs < MEROSS_MAX_SUBS)
			snprintf(h->sub_ids[h->n_subs++], sizeof h->sub_ids[0], "%s", id);
		struct fc_exposes x = {0};
		sub_exposes(type, &x);
		fc_hub_device_set_exposes(hub, d, &x);
		fc_exposes_free(&x);
		fc_hub_device_set_info(hub, d, type, NULL, NULL);
		double status = 1, onoff;
		mjnum(it, "status", &status);
		fc_hub_device_set_online(hub, d, c, status == 1);
		if (is_valve(type) && mjnum(it, "onoff", &onoff)) {
			cJSON *patch = cJSON_CreateObject();
			cJSON_AddStringToObject(patch, "state", onoff != 0 ? "ON" : "OFF");
			fc_hub_device_update_state(hub, d, patch);
			cJSON_Delete(patch);
		}
	}
	meross_hub_poll(hub, hubdev);
}

static void ask(struct fc_hub *hub, struct fc_device *hubdev, const char *ns, const char *key)
{
	cJSON *p = cJSON_CreateObject();
	cJSON_AddArrayToObject(p, key);
	meross_request(hub, hubdev, ns, "GET", p, NULL, false, NULL);
	cJSON_Delete(p);
}

void meross_hub_poll(struct fc_hub *hub, struct fc_device *hubdev)
{
	struct meross_dev *h = MD(hubdev);
	bool sensors = false, valves = false;
	for (int i = 0; i < h->n_subs; i++) {
		struct meross_dev *md = MD(sub_of(hub, hubdev, h->sub_ids[i]));
		if (md) {
			sensors |= is_sensor(md->subtype);
			valves |= is_valve(md->subtype);
		}
	}
	if (sensors)
		ask(hub, hubdev, "Appliance.Hub.Sensor.All", "all");
	if (valves)
		ask(hub, hubdev, "Appliance.Hub.Mts100.All", "all");
	if (sensors || valves)
		ask(hub, hubdev, "Appliance.Hub.Battery", "battery");
}

void meross_hub_set_online(struct fc_hub *hub, struct fc_device *hubdev, const struct fc_client *c, bool online)
{
	struct meross_dev *h = MD(hubdev);
	for (int i = 0; i < h->n_subs; i++) {
		struct fc_device *d = sub_of(hub, hubdev, h->sub_ids[i]);
		if (!d)
			continue;
		inherit(MD(d), h);
		if (!online)
			fc_hub_device_set_online(hub, d, NULL, false);
		else if (c)
			fc_hub_device_set_online(hub, d, c, true);
	}
}

static void add_x10(cJSON *patch, const char *prop, const cJSON *o, const char *k)
{
	double v;
	if (mjnum(o, k, &v))
		cJSON_AddNumberToObject(patch, prop, round(v) / 10.0);
}

/* One entry of a Hub.* list (keyed by "id") -> attributes of that sub-device. */
static void entry_state(const char *ns, const cJSON *it, cJSON *patch, double *online)
{
	double v;
	const cJSON *t = mjget(it, "temperature");
	if (mjnum(mjget(it, "online"), "status", &v))
		*online = v;
	if (!strcmp(ns, "Appliance.Hub.Sensor.All")) {
		add_x10(patch, "temperature", t, "latest");
		add_x10(patch, "humidity", mjget(it, "humidity"), "latest");
	} else if (!strcmp(ns, "Appliance.Hub.Mts100.All")) {
		if (mjnum(mjget(it, "togglex"), "onoff", &v))
			cJSON_AddStringToObject(patch, "state", v != 0 ? "ON" : "OFF");
		add_x10(patch, "local_temperature", t, "room");
		add_x10(patch, "target_temperature", t, "currentSet");
	} else if (!strcmp(ns, "Appliance.Hub.Mts100.Temperature")) {
		add_x10(patch, "local_temperature", it, "room");
		add_x10(patch, "target_temperature", it, "currentSet");
	} else if (!strcmp(ns, "Appliance.Hub.ToggleX")) {
		if (mjnum(it, "onoff", &v))
			cJSON_AddStringToObject(patch, "state", v != 0 ? "ON" : "OFF");
	} else if (!strcmp(ns, "Appliance.Hub.Battery")) {
		if (mjnum(it, "value", &v) && v >= 0 && v <= 100)
			cJSON_AddNumberToObject(patch, "battery", v);
	} else if (!strcmp(ns, "Appliance.Hub.Online")) {
		if (mjnum(it, "status", &v))
			*online = v;
	}
}

static const struct {
	const char *ns, *list;
} hub_lists[] = {
	{"Appliance.Hub.Sensor.All", "all"},       {"Appliance.Hub.Mts100.All", "all"},
	{"Appliance.Hub.Mts100.Temperature", "temperature"}, {"Appliance.Hub.ToggleX", "togglex"},
	{"Appliance.Hub.Battery", "battery"},      {"Appliance.Hub.Online", "online"},
};

bool meross_hub_payload(struct fc_hub *hub, struct fc_device *hubdev, const char *ns, const cJSON *payload)
{
	const char *list = NULL;
	for (size_t i = 0; i < sizeof hub_lists / sizeof hub_lists[0]; i++)
		if (strcmp(ns, hub_lists[i].ns) == 0)
			list = hub_lists[i].list;
	if (!list)
		return false;
	const cJSON *it;
	cJSON_ArrayForEach(it, mjget(payload, list))
	{
		struct fc_device *d = sub_of(hub, hubdev, cJSON_GetStringValue(mjget(it, "id")));
		if (!d)
			continue;
		cJSON *patch = cJSON_CreateObject();
		double online = -1;
		entry_state(ns, it, patch, &online);
		if (online >= 0 && MD(hubdev)->bound)
			fc_hub_device_set_online(hub, d, NULL, online == 1);
		if (cJSON_GetArraySize(patch) > 0)
			fc_hub_device_update_state(hub, d, patch);
		cJSON_Delete(patch);
	}
	return true;
}

int meross_hub_command(struct fc_hub *hub, struct fc_device *sub, const cJSON *set, char *err, size_t errlen)
{
	struct meross_dev *md = MD(sub);
	struct fc_device *hubdev = fc_hub_device(hub, &meross_vendor, md->uuid);
	if (!hubdev || !MD(hubdev) || !MD(hubdev)->bound) {
		snprintf(err, errlen, "its hub is offline");
		return -1;
	}
	const cJSON *item;
	cJSON_ArrayForEach(item, set)
	{
		cJSON *p = cJSON_CreateObject(), *one = cJSON_CreateObject();
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "id", md->sub_id);
		const char *ns = NULL;
		if (!strcmp(item->string, "state")) {
			const char *v = cJSON_GetStringValue(item);
			const char *cur = cJSON_GetStringValue(mjget(sub->state, "state"));
			bool on = v && !strcmp(v, "TOGGLE") ? !(cur && !strcmp(cur, "ON")) : v && !strcmp(v, "ON");
			cJSON_AddNumberToObject(e, "onoff", on);
			cJSON_AddNumberToObject(e, "channel", 0);
			cJSON_AddItemToArray(cJSON_AddArrayToObject(p, "togglex"), e);
			cJSON_AddStringToObject(one, "state", on ? "ON" : "OFF");
			ns = "Appliance.Hub.ToggleX";
		} else if (!strcmp(item->string, "target_temperature")) {
			cJSON_AddNumberToObject(e, "custom", round(item->valuedouble * 10));
			cJSON_AddItemToArray(cJSON_AddArrayToObject(p, "temperature"), e);
			cJSON_AddNumberToObject(one, "target_temperature", round(item->valuedouble * 10) / 10.0);
			ns = "Appliance.Hub.Mts100.Temperature";
		} else {
			cJSON_Delete(e);
		}
		int rc = ns ? meross_request(hub, hubdev, ns, "SET", p, one, true, sub) : -1;
		cJSON_Delete(p);
		cJSON_Delete(one);
		if (rc != 0) {
			if (ns)
				snprintf(err, errlen, "could not queue the command");
			else
				snprintf(err, errlen, "%s cannot be set", item->string);
			return -1;
		}
	}
	return 0;
}

int meross_hub_refresh(struct fc_hub *hub, struct fc_device *sub, char *err, size_t errlen)
{
	struct fc_device *hubdev = fc_hub_device(hub, &meross_vendor, MD(sub)->uuid);
	if (!hubdev || !MD(hubdev) || !MD(hubdev)->bound) {
		snprintf(err, errlen, "its hub is offline");
		return -1;
	}
	meross_hub_poll(hub, hubdev);
	return 0;
}
