/* Reads a Home Assistant discovery config the way Home Assistant does, so tests assert what a consumer
 * sees (command topic "fakecloud/desk lamp/set") rather than the bytes fakecloud chose to send.
 *
 * Home Assistant (homeassistant/components/mqtt/discovery.py) first replaces abbreviated keys: the
 * top level and each availability entry with ABBREVIATIONS, "dev" with DEVICE_ABBREVIATIONS, "o" with
 * ORIGIN_ABBREVIATIONS (homeassistant/components/mqtt/abbreviations.py); then it takes out "~" and puts
 * its value in place of a "~" at the start or the end of every top-level value whose key ends in
 * "topic", and of every availability entry's "topic".
 *
 * The tables hold only the abbreviations fakecloud uses, copied by meaning from those published tables.
 * ha_unknown_key() reports a key that is none of them once expanded: an abbreviation Home Assistant
 * would not know, or a key fakecloud never meant to send. */
#ifndef FC_TEST_HA_DISCOVERY_H
#define FC_TEST_HA_DISCOVERY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ha_abbr {
	const char *abbr, *full;
};

/* Top level and availability entries. */
static const struct ha_abbr HA_ABBR[] = {
	{"avty", "availability"},
	{"avty_mode", "availability_mode"},
	{"cmd_t", "command_topic"},
	{"dev", "device"},
	{"dev_cla", "device_class"},
	{"ent_cat", "entity_category"},
	{"max", "max"},
	{"min", "min"},
	{"name", "name"},
	{"o", "origin"},
	{"obj_id", "object_id"},
	{"ops", "options"},
	{"pl_off", "payload_off"},
	{"pl_on", "payload_on"},
	{"stat_cla", "state_class"},
	{"stat_off", "state_off"},
	{"stat_on", "state_on"},
	{"stat_t", "state_topic"},
	{"step", "step"},
	{"t", "topic"},
	{"uniq_id", "unique_id"},
	{"unit_of_meas", "unit_of_measurement"},
	{"val_tpl", "value_template"},
	{NULL, NULL},
};
/* "dev"; via_device has no abbreviation. */
static const struct ha_abbr HA_DEV_ABBR[] = {
	{"ids", "identifiers"}, {"name", "name"}, {"mf", "manufacturer"}, {"mdl", "model"},
	{"sw", "sw_version"},   {"via_device", "via_device"}, {NULL, NULL},
};
/* "o" */
static const struct ha_abbr HA_ORIGIN_ABBR[] = {{"name", "name"}, {"sw", "sw_version"}, {NULL, NULL}};

static inline void ha_expand_keys(cJSON *obj, const struct ha_abbr *tab)
{
	if (!cJSON_IsObject(obj))
		return;
	for (const struct ha_abbr *a = tab; a->abbr; a++) {
		if (strcmp(a->abbr, a->full) == 0 || !cJSON_GetObjectItemCaseSensitive(obj, a->abbr))
			continue;
		cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(obj, a->abbr);
		cJSON_DeleteItemFromObjectCaseSensitive(obj, a->full); /* the abbreviation wins, as in HA */
		cJSON_AddItemToObject(obj, a->full, v);
	}
}

static inline bool ha_ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* "~" at the start or the end of a topic value becomes base (both checks look at the original value). */
static inline void ha_expand_base(cJSON *item, const char *base)
{
	const char *v = cJSON_GetStringValue(item);
	if (!v || !v[0])
		return;
	size_t n = strlen(v), nb = strlen(base);
	char *out = NULL;
	if (v[n - 1] == '~') {
		out = malloc(n + nb);
		memcpy(out, v, n - 1);
		memcpy(out + n - 1, base, nb + 1);
	} else if (v[0] == '~') {
		out = malloc(n + nb);
		memcpy(out, base, nb);
		memcpy(out + nb, v + 1, n);
	}
	if (out) {
		cJSON_SetValuestring(item, out);
		free(out);
	}
}

/* Parse a retained config payload and expand it; NULL if it is not a JSON object. */
static inline cJSON *ha_config(const char *payload)
{
	cJSON *cfg = payload ? cJSON_Parse(payload) : NULL;
	if (!cJSON_IsObject(cfg)) {
		cJSON_Delete(cfg);
		return NULL;
	}
	ha_expand_keys(cfg, HA_ABBR);
	ha_expand_keys(cJSON_GetObjectItemCaseSensitive(cfg, "device"), HA_DEV_ABBR);
	ha_expand_keys(cJSON_GetObjectItemCaseSensitive(cfg, "origin"), HA_ORIGIN_ABBR);
	cJSON *av = cJSON_GetObjectItemCaseSensitive(cfg, "availability"), *it;
	cJSON_ArrayForEach(it, av)
	{
		ha_expand_keys(it, HA_ABBR);
	}

	cJSON *tilde = cJSON_DetachItemFromObjectCaseSensitive(cfg, "~");
	const char *base = cJSON_GetStringValue(tilde);
	if (base) {
		cJSON_ArrayForEach(it, cfg)
		{
			if (ha_ends_with(it->string, "topic"))
				ha_expand_base(it, base);
		}
		cJSON_ArrayForEach(it, av)
		{
			ha_expand_base(cJSON_GetObjectItemCaseSensitive(it, "topic"), base);
		}
	}
	cJSON_Delete(tilde);
	return cfg;
}

static inline bool ha_known(const char *key, const struct ha_abbr *tab)
{
	for (const struct ha_abbr *a = tab; a->abbr; a++)
		if (strcmp(key, a->full) == 0)
			return true;
	return false;
}

static inline const char *ha_unknown_in(const cJSON *obj, const struct ha_abbr *tab)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, obj)
	{
		if (!ha_known(it->string, tab))
			return it->string;
	}
	return NULL;
}

/* The first key of an expanded config that is none of the above, or NULL. */
static inline const char *ha_unknown_key(const cJSON *cfg)
{
	static const struct ha_abbr avty_entry[] = {{"t", "topic"}, {NULL, NULL}};
	const cJSON *it;
	const char *k;
	cJSON_ArrayForEach(it, cfg)
	{
		if (strcmp(it->string, "topic") == 0 || !ha_known(it->string, HA_ABBR))
			return it->string;
	}
	if ((k = ha_unknown_in(cJSON_GetObjectItemCaseSensitive(cfg, "device"), HA_DEV_ABBR)) ||
	    (k = ha_unknown_in(cJSON_GetObjectItemCaseSensitive(cfg, "origin"), HA_ORIGIN_ABBR)))
		return k;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(cfg, "availability"))
	{
		if ((k = ha_unknown_in(it, avty_entry)))
			return k;
	}
	return NULL;
}

/* The value at a dotted path of an expanded config ("device.model", "availability.1.topic"): a string
 * as is, a number formatted with %g; NULL if absent. The result stays valid until the next call. */
static inline const char *ha_get(const cJSON *cfg, const char *path)
{
	static char num[64];
	char seg[64];
	const cJSON *cur = cfg;
	while (cur && *path) {
		size_t n = strcspn(path, ".");
		if (n >= sizeof seg)
			return NULL;
		memcpy(seg, path, n);
		seg[n] = 0;
		path += n + (path[n] == '.');
		if (cJSON_IsArray(cur))
			cur = cJSON_GetArrayItem(cur, atoi(seg));
		else
			cur = cJSON_GetObjectItemCaseSensitive(cur, seg);
	}
	if (cJSON_IsString(cur))
		return cur->valuestring;
	if (cJSON_IsNumber(cur)) {
		snprintf(num, sizeof num, "%g", cur->valuedouble);
		return num;
	}
	return NULL;
}

/* payload, expanded, has nothing unknown and has `want` at `path`. */
static inline bool ha_has(const char *payload, const char *path, const char *want)
{
	cJSON *cfg = ha_config(payload);
	const char *got = cfg && !ha_unknown_key(cfg) ? ha_get(cfg, path) : NULL;
	bool ok = got && strcmp(got, want) == 0;
	if (!ok)
		fprintf(stderr, "ha_has: %s is \"%s\", want \"%s\" (unknown key: %s) in %s\n", path, got ? got : "(none)",
			want, cfg && ha_unknown_key(cfg) ? ha_unknown_key(cfg) : "none", payload ? payload : "(null)");
	cJSON_Delete(cfg);
	return ok;
}

#endif
