/* Home Assistant MQTT discovery, generated purely from a device's exposes.
 *
 * One entity per expose: <prefix>/<component>/fakecloud_<vendor>_<id>/<property>/config (retained).
 *   binary  + set -> switch         binary -> binary_sensor
 *   numeric + set -> number         numeric -> sensor
 *   enum    + set -> select         enum -> sensor
 *   text    + set -> text           text -> sensor
 * Availability requires both the bridge and the device to be online. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "core/hub_internal.h"

static const char *component(const struct fc_expose *e)
{
	bool set = e->access & FC_ACCESS_SET;
	switch (e->type) {
	case FC_EXPOSE_BINARY:
		return set ? "switch" : "binary_sensor";
	case FC_EXPOSE_NUMERIC:
		return set ? "number" : "sensor";
	case FC_EXPOSE_ENUM:
		return set ? "select" : "sensor";
	case FC_EXPOSE_TEXT:
		return set ? "text" : "sensor";
	}
	return "sensor";
}

/* HA node and object ids allow [a-zA-Z0-9_-]; everything else becomes '_'. */
static void sanitize(char *out, size_t cap, const char *in)
{
	size_t i = 0;
	for (; in[i] && i + 1 < cap; i++) {
		char ch = in[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
			  ch == '-';
		out[i] = ok ? ch : '_';
	}
	out[i] = 0;
}

static void node_id(const struct fc_device *d, char *out, size_t cap)
{
	char raw[200];
	snprintf(raw, sizeof raw, "fakecloud_%s_%s", d->vendor->name, d->vid);
	sanitize(out, cap, raw);
}

static void config_topic(struct fc_hub *hub, const struct fc_device *d, const struct fc_expose *e, char *out,
			 size_t cap)
{
	char node[200], obj[64];
	node_id(d, node, sizeof node);
	sanitize(obj, sizeof obj, e->property);
	snprintf(out, cap, "%s/%s/%s/%s/config", hub->ha_prefix, component(e), node, obj);
}

/* A topic below the device's state topic, written as "~<rest>" when the config carries "~". */
static void add_dev_topic(cJSON *o, const char *key, bool tilde, const char *state_topic, const char *rest)
{
	char t[400];
	snprintf(t, sizeof t, "%s%s", tilde ? "~" : state_topic, rest);
	cJSON_AddStringToObject(o, key, t);
}

/* Consumers replace a "~" at the start or the end of every *_topic value (and availability topic), so
 * "~" is only used when no topic written out in full, and no property in "~/set/<property>", could
 * carry one there. Always true with the default base topic and fakecloud's property names. */
static bool tilde_safe(const char *s, bool check_start)
{
	size_t n = strlen(s);
	return n && s[n - 1] != '~' && !(check_start && s[0] == '~');
}

/* The config uses Home Assistant's discovery abbreviations (homeassistant/components/mqtt/abbreviations.py:
 * ABBREVIATIONS, DEVICE_ABBREVIATIONS, ORIGIN_ABBREVIATIONS) and the "~" base topic, because Mosquitto
 * keeps every retained config in memory. Expanded, it is the same config as with the long names.
 *   ~ = fakecloud/<name>; stat_t "~"; cmd_t "~/set" or "~/set/<property>"
 *   avty [{t: <base>/bridge/state}, {t: <base>/<name>/availability}] stay in full: older (Gson-based)
 *   versions of openHAB's Home Assistant binding do not expand "~" inside availability entries. */
static cJSON *entity_config(struct fc_hub *hub, const struct fc_device *d, const struct fc_expose *e)
{
	char node[200], buf[512], state_topic[300], bridge_state[300], dev_avail[320];
	node_id(d, node, sizeof node);
	hub_topic(hub, state_topic, sizeof state_topic, d->name, NULL);
	snprintf(bridge_state, sizeof bridge_state, "%s/bridge/state", hub->base);
	hub_topic(hub, dev_avail, sizeof dev_avail, d->name, "availability");
	bool tilde = tilde_safe(bridge_state, true) && tilde_safe(dev_avail, true) && tilde_safe(e->property, false);
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	if (tilde)
		cJSON_AddStringToObject(o, "~", state_topic);
	cJSON_AddStringToObject(o, "name", e->label[0] ? e->label : e->property);
	snprintf(buf, sizeof buf, "%s_%s", node, e->property);
	cJSON_AddStringToObject(o, "uniq_id", buf);
	snprintf(buf, sizeof buf, "%s_%s", d->name, e->property);
	char obj[256];
	sanitize(obj, sizeof obj, buf);
	cJSON_AddStringToObject(o, "obj_id", obj);
	add_dev_topic(o, "stat_t", tilde, state_topic, "");
	snprintf(buf, sizeof buf, "{{value_json['%s']}}", e->property);
	cJSON_AddStringToObject(o, "val_tpl", buf);

	cJSON *av = cJSON_AddArrayToObject(o, "avty");
	cJSON *a1 = cJSON_CreateObject(), *a2 = cJSON_CreateObject();
	cJSON_AddStringToObject(a1, "t", bridge_state);
	cJSON_AddStringToObject(a2, "t", dev_avail);
	cJSON_AddItemToArray(av, a1);
	cJSON_AddItemToArray(av, a2);
	cJSON_AddStringToObject(o, "avty_mode", "all");

	cJSON *dev = cJSON_AddObjectToObject(o, "dev");
	cJSON *ids = cJSON_AddArrayToObject(dev, "ids");
	cJSON_AddItemToArray(ids, cJSON_CreateString(node));
	cJSON_AddStringToObject(dev, "name", d->name);
	cJSON_AddStringToObject(dev, "mf", d->vendor->manufacturer ? d->vendor->manufacturer : d->vendor->title);
	if (d->model[0])
		cJSON_AddStringToObject(dev, "mdl", d->model);
	if (d->firmware[0])
		cJSON_AddStringToObject(dev, "sw", d->firmware);
	cJSON_AddStringToObject(dev, "via_device", "fakecloud_bridge"); /* has no abbreviation */
	cJSON *origin = cJSON_AddObjectToObject(o, "o");
	cJSON_AddStringToObject(origin, "name", "fakecloud");
	cJSON_AddStringToObject(origin, "sw", FC_VERSION);

	if (e->unit[0])
		cJSON_AddStringToObject(o, "unit_of_meas", e->unit);
	if (e->device_class[0])
		cJSON_AddStringToObject(o, "dev_cla", e->device_class);
	if (e->state_class[0])
		cJSON_AddStringToObject(o, "stat_cla", e->state_class);
	if (e->category[0])
		cJSON_AddStringToObject(o, "ent_cat", e->category);

	const char *comp = component(e);
	if (strcmp(comp, "switch") == 0) {
		add_dev_topic(o, "cmd_t", tilde, state_topic, "/set");
		snprintf(buf, sizeof buf, "{\"%s\":\"%s\"}", e->property, e->value_on);
		cJSON_AddStringToObject(o, "pl_on", buf);
		snprintf(buf, sizeof buf, "{\"%s\":\"%s\"}", e->property, e->value_off);
		cJSON_AddStringToObject(o, "pl_off", buf);
		cJSON_AddStringToObject(o, "stat_on", e->value_on);
		cJSON_AddStringToObject(o, "stat_off", e->value_off);
	} else if (strcmp(comp, "binary_sensor") == 0) {
		cJSON_AddStringToObject(o, "pl_on", e->value_on);
		cJSON_AddStringToObject(o, "pl_off", e->value_off);
	} else if (e->access & FC_ACCESS_SET) {
		char rest[64];
		snprintf(rest, sizeof rest, "/set/%s", e->property);
		add_dev_topic(o, "cmd_t", tilde, state_topic, rest);
		if (e->type == FC_EXPOSE_NUMERIC) {
			if (e->has_min)
				cJSON_AddNumberToObject(o, "min", e->min);
			if (e->has_max)
				cJSON_AddNumberToObject(o, "max", e->max);
			if (e->step > 0)
				cJSON_AddNumberToObject(o, "step", e->step);
		}
	}
	if (e->type == FC_EXPOSE_ENUM && (e->access & FC_ACCESS_SET)) {
		cJSON *opts = cJSON_AddArrayToObject(o, "ops");
		for (size_t i = 0; i < e->n_values; i++)
			cJSON_AddItemToArray(opts, cJSON_CreateString(e->values[i]));
	}
	return o;
}

void hub_discovery_publish(struct fc_hub *hub, struct fc_device *d, const struct fc_exposes *old)
{
	if (!hub->discovery)
		return;
	char topic[512];
	if (old) {
		/* Entities that disappeared, or changed component, are cleared. */
		for (size_t i = 0; i < old->n; i++) {
			const struct fc_expose *now = fc_exposes_find(&d->exposes, old->e[i].property);
			if (now && strcmp(component(now), component(&old->e[i])) == 0)
				continue;
			config_topic(hub, d, &old->e[i], topic, sizeof topic);
			hub_publish_str(hub, topic, "", true);
		}
	}
	for (size_t i = 0; i < d->exposes.n; i++) {
		cJSON *cfg = entity_config(hub, d, &d->exposes.e[i]);
		if (!cfg)
			continue;
		config_topic(hub, d, &d->exposes.e[i], topic, sizeof topic);
		hub_publish_json(hub, topic, cfg, true);
		cJSON_Delete(cfg);
	}
}

void hub_discovery_clear(struct fc_hub *hub, struct fc_device *d, const struct fc_exposes *x)
{
	if (!hub->discovery)
		return;
	char topic[512];
	for (size_t i = 0; i < x->n; i++) {
		config_topic(hub, d, &x->e[i], topic, sizeof topic);
		hub_publish_str(hub, topic, "", true);
	}
}
