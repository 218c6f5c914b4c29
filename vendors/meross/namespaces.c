/* Meross namespaces <-> normalised attributes, as data: one row per namespace with its exposes, its
 * payload -> state converter, its GET payload and its SET builder (meross.md §4).
 *
 *   Appliance.Control.ToggleX      state (channel 0), state_l<n> (channel n)       ON/OFF
 *   Appliance.Control.Toggle       state (legacy single channel)                    ON/OFF
 *   Appliance.Control.Electricity  power W (mW/1000), voltage V (dV/10), current A (mA/1000), polled
 *   Appliance.Control.ConsumptionX energy kWh: today's consumption (Wh/1000), polled
 *   Appliance.Control.Light        brightness 0-100 (luminance), color_temp 1-100, color "#rrggbb"
 *   Appliance.Control.Spray        spray off | continuous | intermittent
 *   Appliance.GarageDoor.State     door OPEN/CLOSED (set OPEN/CLOSE)
 *   Appliance.System.DNDMode       do_not_disturb ON/OFF (LED off)
 *   Appliance.Control.Thermostat.Mode (MTS200)  state, system_mode heat|cool|economy|auto|manual,
 *                                  target_temperature / local_temperature °C (×10 on the wire)
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vendors/meross/meross_internal.h"

#define RW (FC_ACCESS_STATE | FC_ACCESS_SET | FC_ACCESS_GET)
#define RO (FC_ACCESS_STATE | FC_ACCESS_GET)



static double round3(double v) { return round(v * 1000.0) / 1000.0; }

/* "state" for channel 0, "state_l<n>" for channel n. */
static void channel_prop(int ch, char *out, size_t cap)
{
	if (ch == 0)
		snprintf(out, cap, "state");
	else
		snprintf(out, cap, "state_l%d", ch);
}

/* -1 if prop is not a channel state attribute. */
static int prop_channel(const char *prop)
{
	if (strcmp(prop, "state") == 0)
		return 0;
	if (strncmp(prop, "state_l", 7) != 0 || !prop[7])
		return -1;
	char *end;
	long ch = strtol(prop + 7, &end, 10);
	return *end || ch < 1 || ch >= MEROSS_MAX_CHANNELS ? -1 : (int)ch;
}

static bool is_channel_prop(const char *prop) { return prop_channel(prop) >= 0; }

/* Value of a binary attribute to send: TOGGLE flips the current state. */
static int onoff_value(const cJSON *want, const cJSON *state, const char *prop)
{
	const char *w = cJSON_GetStringValue(want);
	if (w && strcmp(w, "TOGGLE") == 0) {
		const char *cur = cJSON_GetStringValue(mjget(state, prop));
		return cur && strcmp(cur, "ON") == 0 ? 0 : 1;
	}
	return w && strcmp(w, "ON") == 0 ? 1 : 0;
}

/* ---- ToggleX ---- */

static void togglex_exposes(struct fc_exposes *x, const struct meross_dev *md, const cJSON *ability)
{
	(void)ability;
	char prop[16];
	for (int ch = 0; ch < md->channels && ch < MEROSS_MAX_CHANNELS; ch++) {
		channel_prop(ch, prop, sizeof prop);
		fc_exposes_binary(x, prop, RW);
	}
}

static void togglex_item(const cJSON *it, cJSON *patch, struct meross_dev *md)
{
	double ch = 0, onoff;
	if (!mjnum(it, "onoff", &onoff))
		return;
	mjnum(it, "channel", &ch);
	if (ch < 0 || ch >= MEROSS_MAX_CHANNELS || ch != floor(ch))
		return;
	char prop[16];
	channel_prop((int)ch, prop, sizeof prop);
	cJSON_DeleteItemFromObjectCaseSensitive(patch, prop);
	cJSON_AddStringToObject(patch, prop, onoff != 0 ? "ON" : "OFF");
	if ((int)ch + 1 > md->channels)
		md->channels = (int)ch + 1;
}

static void togglex_state(const cJSON *payload, cJSON *patch, struct meross_dev *md)
{
	const cJSON *t = mjget(payload, "togglex");
	if (cJSON_IsArray(t)) {
		const cJSON *it;
		cJSON_ArrayForEach(it, t) togglex_item(it, patch, md);
	} else if (cJSON_IsObject(t)) {
		togglex_item(t, patch, md);
	}
}

static cJSON *togglex_get(const struct meross_dev *md)
{
	(void)md;
	cJSON *p = cJSON_CreateObject();
	cJSON_AddArrayToObject(p, "togglex");
	return p;
}

static cJSON *togglex_set(const struct meross_dev *md, const cJSON *set, const cJSON *state, char *err, size_t errlen)
{
	(void)md;
	(void)err;
	(void)errlen;
	cJSON *list = cJSON_CreateArray();
	const cJSON *item;
	cJSON_ArrayForEach(item, set)
	{
		int ch = prop_channel(item->string);
		if (ch < 0)
			continue;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "channel", ch);
		cJSON_AddNumberToObject(o, "onoff", onoff_value(item, state, item->string));
		cJSON_AddItemToArray(list, o);
	}
	if (cJSON_GetArraySize(list) == 0) {
		cJSON_Delete(list);
		return NULL;
	}
	cJSON *p = cJSON_CreateObject();
	/* A single channel goes as an object, which every firmware accepts; several as a list. */
	if (cJSON_GetArraySize(list) == 1) {
		cJSON_AddItemToObject(p, "togglex", cJSON_DetachItemFromArray(list, 0));
		cJSON_Delete(list);
	} else {
		cJSON_AddItemToObject(p, "togglex", list);
	}
	return p;
}

/* ---- Toggle (legacy) ---- */

static void toggle_exposes(struct fc_exposes *x, const struct meross_dev *md, const cJSON *ability)
{
	(void)ability;
	(void)md;
	if (!fc_exposes_find(x, "state"))
		fc_exposes_binary(x, "state", RW);
}

static void toggle_state(const cJSON *payload, cJSON *patch, struct meross_dev *md)
{
	(void)md;
	double onoff;
	if (mjnum(mjget(payload, "toggle"), "onoff", &onoff)) {
		cJSON_DeleteItemFromObjectCaseSensitive(patch, "state");
		cJSON_AddStringToObject(patch, "state", onoff != 0 ? "ON" : "OFF");
	}
}

static bool toggle_sets(const char *prop) { return strcmp(prop, "state") == 0; }

static cJSON *toggle_set(const struct meross_dev *md, const cJSON *set, const cJSON *state, char *err, size_t errlen)
{
	(void)md;
	(void)err;
	(void)errlen;
	const cJSON *v = mjget(set, "state");
	if (!v)
		return NULL;
	cJSON *p = cJSON_CreateObject();
	cJSON_AddNumberToObject(p, "channel", 0);
	cJSON_AddNumberToObject(cJSON_AddObjectToObject(p, "toggle"), "onoff", onoff_value(v, state, "state"));
	return p;
}

/* ---- Electricity ---- */

static void electricity_exposes(struct fc_exposes *x, const struct meross_dev *md, const cJSON *ability)
{
	(void)md;
	(void)ability;
	fc_expose_ha(fc_exposes_numeric(x, "power", RO, "W"), "power", "measurement");
	fc_expose_ha(fc_exposes_numeric(x, "voltage", RO, "V"), "voltage", "measurement");
	fc_expose_ha(fc_exposes_numeric(x, "current", RO, "A"), "current", "measurement");
}

static void electricity_state(const cJSON *payload, cJSON *patch, struct meross_dev *md)
{
	(void)md;
	const cJSON *e = mjget(payload, "electricity");
	double v;
	if (mjnum(e, "power", &v))
		cJSON_AddNumberToObject(patch, "power", round3(v / 1000.0));
	if (mjnum(e, "voltage", &v))
		cJSON_AddNumberToObject(patch, "voltage", round3(v / 10.0));
	if (mjnum(e, "current", &v))
		cJSON_AddNumberToObject(patch, "current", round3(v / 1000.0));
}

static cJSON *electricity_get(const struct meross_dev *md)
{
	(void)md;
	cJSON *p = cJSON_CreateObject();
	cJSON_AddNumberToObject(cJSON_AddObjectToObject(p, "electricity"), "channel", 0);
	return p;
}

/* ---- ConsumptionX ---- */

static void consumption_exposes(struct fc_exposes *x, const struct meross_dev *md, const cJSON *ability)
{
	(void)md;
	(void)ability;
	struct fc_expose *e = fc_expose_ha(fc_exposes_numeric(x, "energy", RO, "kWh"), "energy", "total_increasing");
	if (e)
		snprintf(e->label, sizeof e->label, "energy today");
}

static void consumption_state(const cJSON *payload, cJSON *patch, struct meross_dev *md)
{
	(void)md;
	const cJSON *list = mjget(payload, "consumptionx"), *it, *latest = NULL;
	double best = -1, t;
	cJSON_ArrayForEach(it, list)
	{
		if (mjnum(it, "time", &t) && t > best) {
			best = t;
			latest = it;
		}
	}
	double wh;
	if (latest && mjnum(latest, "value", &wh))
		cJSON_AddNumberToObject(patch, "energy", round3(wh / 1000.0));
}

static cJSON *empty_get(const struct meross_dev *md)
{
	(void)md;
	return cJSON_CreateObject();
}

/* ---- Light ---- */

#define LIGHT_RGB 1
#define LIGHT_TEMP 2
#define LIGHT_LUM 4

static unsigned light_capacity(const cJSON *ability)
{
	double c;
	return mjnum(ability, "capacity", &c) && c > 0 ? (unsigned)c : LIGHT_RGB | LIGHT_TEMP | LIGHT_LUM;
}

static void light_exposes(struct fc_exposes *x, const struct meross_dev *md, const cJSON *ability)
{
	(void)md;
	unsigned cap = light_capacity(ability);
	if (!fc_exposes_find(x, "state"))
		fc_exposes_binary(x, "state", RW);
	if (cap & LIGHT_LUM)
		fc_expose_range(fc_exposes_numeric(x, "brightness", RW, "%"), 0, 100, 1);
	if (cap & LIGHT_TEMP)
		fc_expose_range(fc_exposes_numeric(x, "color_temp", RW, NULL), 1, 100, 1);
	if (cap & LIGHT_RGB)
		fc_exposes_text(x, "color", RW);
}

static void light_state(const cJSON *payload, cJSON *patch, struct meross_dev *md)
{
	const cJSON *l = mjget(payload, "light");
	double v;
	if (mjnum(l, "luminance", &v))
		cJSON_AddNumberToObject(patch, "brightness", v);
	if (mjnum(l, "temperature", &v))
		cJSON_AddNumberToObject(patch, "color_temp", v);
	if (mjnum(l, "rgb", &v) && v >= 0 && v <= 0xffffff) {
		char hex[8];
		snprintf(hex, sizeof hex, "#%06x", (unsigned)v);
		cJSON_AddStringToObject(patch, "color", hex);
	}
	/* Bulbs without ToggleX carry on/off in the light payload. */
	size_t tx = 0;
	meross_ns_find("Appliance.Control.ToggleX", &tx);
	if (mjnum(l, "onoff", &v) && !(md->abilities & (1u << tx)))
		cJSON_AddStringToObject(patch, "state", v != 0 ? "ON" : "OFF");
}

/* "state" too: the table tries ToggleX and Toggle first, so Light only carries it on bulbs without them. */
static bool light_sets(const char *prop)
{
	return !strcmp(prop, "brightness") || !strcmp(prop, "color_temp") || !strcmp(prop, "color") ||
	       !strcmp(prop, "state");
}

static cJSON *light_set(const struct meross_dev *md, const cJSON *set, const cJSON *state, char *err, size_t errlen)
{
	cJSON *l = cJSON_CreateObject();
	unsigned cap = 0;
	const cJSON *v;
	bool onoff = false;
	if ((v = mjget(set, "state"))) {
		cJSON_AddNumberToObject(l, "onoff", onoff_value(v, state, "state"));
		onoff = true;
	}
	if ((v = mjget(set, "brightness"))) {
		cJSON_AddNumberToObject(l, "luminance", round(v->valuedouble));
		cap |= LIGHT_LUM;
	}
	if ((v = mjget(set, "color_temp"))) {
		cJSON_AddNumberToObject(l, "temperature", round(v->valuedouble));
		cap |= LIGHT_TEMP;
	}
	if ((v = mjget(set, "color"))) {
		const char *s = cJSON_GetStringValue(v);
		char *end = NULL;
		long rgb = s && s[0] == '#' && strlen(s) == 7 ? strtol(s + 1, &end, 16) : -1;
		if (rgb < 0 || !end || *end) {
			snprintf(err, errlen, "color: expected \"#rrggbb\"");
			cJSON_Delete(l);
			return NULL;
		}
		cJSON_AddNumberToObject(l, "rgb", (double)rgb);
		cap |= LIGHT_RGB;
	}
	if (!cap && !onoff) {
		cJSON_Delete(l);
		return NULL;
	}
	(void)md;
	cJSON_AddNumberToObject(l, "channel", 0);
	cJSON_AddNumberToObject(l, "capacity", cap);
	cJSON_AddNumberToObject(l, "gradual", 0);
	cJSON *p = cJSON_CreateObject();
	cJSON_AddItemToObject(p, "light", l);
	return p;
}

/* ---- Spray (diffusers) ---- */

static const char *const spray_modes[] = {"off", "continuous", "intermittent"};

static void spray_exposes(struct fc_exposes *x, const struct meross_dev *md, const cJSON *ability)
{
	(void)md;
	(void)ability;
	fc_exposes_enum(x, "spray", RW, spray_modes, 3);
}

static void spray_state(const cJSON *payload, cJSON *patch, struct meross_dev *md)
{
	(void)md;
	const cJSON *s = mjget(payload, "spray");
	if (cJSON_IsArray(s))
		s = cJSON_GetArrayItem(s, 0);
	double m;
	if (mjnum(s, "mode", &m) && m >= 0 && m <= 2)
		cJSON_AddStringToObject(patch, "spray", spray_modes[(int)m]);
}

static bool spray_sets(const char *prop) { return strcmp(prop, "spray") == 0; }

static cJSON *spray_set(const struct meross_dev *md, const cJSON *set, const cJSON *state, char *err, size_t errlen)
{
	(void)md;
	(void)state;
	(void)err;
	(void)errlen;
	const char *m = cJSON_GetStringValue(mjget(set, "spray"));
	if (!m)
		return NULL;
	int mode = 0;
	for (int i = 0; i < 3; i++)
		if (strcmp(m, spray_modes[i]) == 0)
			mode = i;
	cJSON *p = cJSON_CreateObject();
	cJSON *s = cJSON_AddObjectToObject(p, "spray");
	cJSON_AddNumberToObject(s, "channel", 0);
	cJSON_AddNumberToObject(s, "mode", mode);
	return p;
}

/* ---- GarageDoor.State ---- */

static const char *const door_values[] = {"OPEN", "CLOSED", "CLOSE"};

static void door_exposes(struct fc_exposes *x, const struct meross_dev *md, const cJSON *ability)
{
	(void)md;
	(void)ability;
	fc_exposes_enum(x, "door", RW, door_values, 3);
}

static void door_state(const cJSON *payload, cJSON *patch, struct meross_dev *md)
{
	(void)md;
	const cJSON *s = mjget(payload, "state");
	if (cJSON_IsArray(s))
		s = cJSON_GetArrayItem(s, 0);
	double open;
	if (mjnum(s, "open", &open))
		cJSON_AddStringToObject(patch, "door", open != 0 ? "OPEN" : "CLOSED");
}

static bool door_sets(const char *prop) { return strcmp(prop, "door") == 0; }

static cJSON *door_set(const struct meross_dev *md, const cJSON *set, const cJSON *state, char *err, size_t errlen)
{
	(void)state;
	(void)err;
	(void)errlen;
	const char *v = cJSON_GetStringValue(mjget(set, "door"));
	if (!v)
		return NULL;
	cJSON *p = cJSON_CreateObject();
	cJSON *s = cJSON_AddObjectToObject(p, "state");
	cJSON_AddNumberToObject(s, "channel", 0);
	cJSON_AddNumberToObject(s, "open", strcmp(v, "OPEN") == 0 ? 1 : 0);
	cJSON_AddStringToObject(s, "uuid", md->uuid);
	return p;
}

/* ---- DNDMode ---- */

static void dnd_exposes(struct fc_exposes *x, const struct meross_dev *md, const cJSON *ability)
{
	(void)md;
	(void)ability;
	struct fc_expose *e = fc_exposes_binary(x, "do_not_disturb", RW);
	if (e)
		snprintf(e->category, sizeof e->category, "config");
}

static void dnd_state(const cJSON *payload, cJSON *patch, struct meross_dev *md)
{
	(void)md;
	double m;
	if (mjnum(mjget(payload, "DNDMode"), "mode", &m))
		cJSON_AddStringToObject(patch, "do_not_disturb", m != 0 ? "ON" : "OFF");
}

static bool dnd_sets(const char *prop) { return strcmp(prop, "do_not_disturb") == 0; }

static cJSON *dnd_set(const struct meross_dev *md, const cJSON *set, const cJSON *state, char *err, size_t errlen)
{
	(void)md;
	(void)err;
	(void)errlen;
	const cJSON *v = mjget(set, "do_not_disturb");
	if (!v)
		return NULL;
	cJSON *p = cJSON_CreateObject();
	cJSON_AddNumberToObject(cJSON_AddObjectToObject(p, "DNDMode"), "mode", onoff_value(v, state, "do_not_disturb"));
	return p;
}

/* ---- Thermostat.Mode (MTS200): modes as numbered by the published libraries (meross.md §4) ---- */

static const char *const thermo_modes[] = {"heat", "cool", "economy", "auto", "manual"};

static void thermo_exposes(struct fc_exposes *x, const struct meross_dev *md, const cJSON *ability)
{
	(void)md;
	(void)ability;
	if (!fc_exposes_find(x, "state"))
		fc_exposes_binary(x, "state", RW);
	fc_exposes_enum(x, "system_mode", RW, thermo_modes, 5);
	fc_expose_range(fc_exposes_numeric(x, "target_temperature", RW, "°C"), 5, 35, 0.5);
	fc_expose_ha(fc_exposes_numeric(x, "local_temperature", RO, "°C"), "temperature", "measurement");
}

static void thermo_state(const cJSON *payload, cJSON *patch, struct meross_dev *md)
{
	(void)md;
	const cJSON *m = mjget(payload, "mode");
	if (cJSON_IsArray(m))
		m = cJSON_GetArrayItem(m, 0);
	double v;
	if (mjnum(m, "onoff", &v))
		cJSON_AddStringToObject(patch, "state", v != 0 ? "ON" : "OFF");
	if (mjnum(m, "mode", &v) && v >= 0 && v <= 4 && v == floor(v))
		cJSON_AddStringToObject(patch, "system_mode", thermo_modes[(int)v]);
	if (mjnum(m, "targetTemp", &v) || mjnum(m, "manualTemp", &v))
		cJSON_AddNumberToObject(patch, "target_temperature", v / 10.0);
	if (mjnum(m, "currentTemp", &v))
		cJSON_AddNumberToObject(patch, "local_temperature", v / 10.0);
}

static bool thermo_sets(const char *prop)
{
	return !strcmp(prop, "system_mode") || !strcmp(prop, "target_temperature") || !strcmp(prop, "state");
}

static cJSON *thermo_set(const struct meross_dev *md, const cJSON *set, const cJSON *state, char *err, size_t errlen)
{
	(void)md;
	(void)err;
	(void)errlen;
	cJSON *e = cJSON_CreateObject();
	cJSON_AddNumberToObject(e, "channel", 0);
	const cJSON *v;
	if ((v = mjget(set, "state")))
		cJSON_AddNumberToObject(e, "onoff", onoff_value(v, state, "state"));
	if ((v = mjget(set, "system_mode")))
		for (int i = 0; i < 5; i++)
			if (!strcmp(cJSON_GetStringValue(v) ? cJSON_GetStringValue(v) : "", thermo_modes[i]))
				cJSON_AddNumberToObject(e, "mode", i);
	if ((v = mjget(set, "target_temperature")))
		cJSON_AddNumberToObject(e, "manualTemp", round(v->valuedouble * 10));
	cJSON *p = cJSON_CreateObject();
	cJSON_AddItemToArray(cJSON_AddArrayToObject(p, "mode"), e);
	return p;
}

/* Order matters where namespaces share an attribute: ToggleX wins over Toggle and Light for "state". */
const struct meross_ns meross_namespaces[] = {
	{"Appliance.Control.ToggleX", togglex_exposes, togglex_state, togglex_get, is_channel_prop, togglex_set, 0},
	{"Appliance.Control.Toggle", toggle_exposes, toggle_state, empty_get, toggle_sets, toggle_set, 0},
	{"Appliance.Control.Electricity", electricity_exposes, electricity_state, electricity_get, NULL, NULL, 1},
	{"Appliance.Control.ConsumptionX", consumption_exposes, consumption_state, empty_get, NULL, NULL, 1},
	{"Appliance.Control.Light", light_exposes, light_state, empty_get, light_sets, light_set, 0},
	{"Appliance.Control.Spray", spray_exposes, spray_state, empty_get, spray_sets, spray_set, 0},
	{"Appliance.GarageDoor.State", door_exposes, door_state, empty_get, door_sets, door_set, 0},
	{"Appliance.System.DNDMode", dnd_exposes, dnd_state, empty_get, dnd_sets, dnd_set, 0},
	{"Appliance.Control.Thermostat.Mode", thermo_exposes, thermo_state, empty_get, thermo_sets, thermo_set, 0},
};
const size_t meross_n_namespaces = sizeof meross_namespaces / sizeof meross_namespaces[0];

const struct meross_ns *meross_ns_find(const char *name, size_t *index)
{
	for (size_t i = 0; i < meross_n_namespaces; i++)
		if (strcmp(meross_namespaces[i].name, name) == 0) {
			if (index)
				*index = i;
			return &meross_namespaces[i];
		}
	return NULL;
}

void meross_build_exposes(const struct meross_dev *md, struct fc_exposes *x)
{
	for (size_t i = 0; i < meross_n_namespaces; i++)
		if (md->abilities & (1u << i))
			meross_namespaces[i].exposes(x, md, md->ability_args[i]);
}
