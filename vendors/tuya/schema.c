/* Tuya DP schema (tuya.md §1.5 "Schema string") -> exposes, and DP values <-> plain-topic attributes.
 *
 * Attribute names, in order of precedence:
 *   1. the owner's dp_names override ({"<id>": "<attr>"}): refused when invalid or not unique;
 *   2. a known code (known_codes[] below, one row per code, with unit and Home Assistant classes);
 *   3. any other code, lowercased, with bytes outside [a-z0-9_] turned into '_';
 *   4. no code: "state" for a bool DP 1 (the tuya-convert default schema), else "dp_<id>".
 * The schema belongs to the device, so naming clashes inside it never fail: the later DP falls back to
 * "dp_<id>" (and, should even that be taken, "dp_<id>_<n>"). Only the owner's own dp_names can be wrong.
 *
 * Numbers: a value DP carries an integer in device units; the attribute is value / 10^scale. Dividing by
 * an exact power of ten (never multiplying by 0.1, which gives 0.30000000000000004 for 3) yields exactly
 * the double a JSON reader gets for the decimal (2305 -> 230.5, 123 -> 0.123), and round(v * 10^scale)
 * gives the integer back.
 *
 * Modes (Tuya's three): "rw" reported and settable, "ro" reported only, "wr" settable only. Note that
 * "wr" contains an 'r' but is write-only, so modes are matched whole, not by letter. */
#include "vendors/tuya/tuya_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DP_ID_MAX 255
#define SCALE_MAX 9
#define INT32_LO (-2147483648.0)
#define INT32_HI 2147483647.0
#define NAME_MAX_LEN (sizeof(((struct tuya_dp *)0)->prop) - 1)
#define READABLE (FC_ACCESS_STATE | FC_ACCESS_GET)

/* ---- data: known codes and unit spellings ------------------------------------------------------ */

struct known_code {
	const char *code;
	const char *prop;
	const char *unit;         /* default when the schema gives none (value DPs only) */
	const char *device_class; /* Home Assistant, value DPs only */
	const char *state_class;
	const char *category;     /* "" | "config" | "diagnostic" */
	const char *gang_code;    /* when the schema also has this code... */
	const char *gang_prop;    /* ...the attribute is this one (switch_1 of a multi-gang device) */
};

#define MEAS "measurement"
static const struct known_code known_codes[] = {
	{"switch", "state"},
	{"switch_1", "state", .gang_code = "switch_2", .gang_prop = "state_l1"},
	{"switch_2", "state_l2"},
	{"switch_3", "state_l3"},
	{"switch_4", "state_l4"},
	{"switch_5", "state_l5"},
	{"switch_6", "state_l6"},
	{"switch_7", "state_l7"},
	{"switch_8", "state_l8"},
	{"switch_led", "state"},
	{"led_switch", "state"},
	{"bright_value", "brightness"},
	{"bright_value_v2", "brightness"},
	{"temp_value", "color_temp"},
	{"temp_value_v2", "color_temp"},
	{"work_mode", "mode"},
	{"colour_data", "color"},
	{"colour_data_v2", "color"},
	{"cur_power", "power", "W", "power", MEAS},
	{"cur_voltage", "voltage", "V", "voltage", MEAS},
	{"cur_current", "current", "mA", "current", MEAS},
	{"add_ele", "energy", "kWh", "energy", "total_increasing"},
	{"temp_current", "temperature", "°C", "temperature", MEAS},
	{"va_temperature", "temperature", "°C", "temperature", MEAS},
	{"humidity_value", "humidity", "%", "humidity", MEAS},
	{"va_humidity", "humidity", "%", "humidity", MEAS},
	{"countdown", "countdown", "s", .category = "config"},
	{"countdown_1", "countdown", "s", .category = "config"},
	{"battery_percentage", "battery", "%", "battery", MEAS, "diagnostic"},
	{"child_lock", "child_lock", .category = "config"},
	{"relay_status", "power_on_behavior", .category = "config"},
};

/* Spellings found in real schemas (Tuya product definitions are often Chinese) -> what Home Assistant
 * accepts for the device classes above. */
static const struct {
	const char *from, *to;
} unit_aliases[] = {
	{"\xe2\x84\x83", "°C"}, /* U+2103 DEGREE CELSIUS */
	{"\xe2\x84\x89", "°F"}, /* U+2109 DEGREE FAHRENHEIT */
	{"kW·h", "kWh"},
	{"度", "kWh"},           /* "degree", the everyday Chinese word for kWh */
	{"秒", "s"},
	{"分钟", "min"},
};

static const double pow10_table[SCALE_MAX + 1] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

static double scale_div(const struct tuya_dp *dp) { return pow10_table[dp->scale]; }

static const struct known_code *known(const char *code)
{
	for (size_t i = 0; code[0] && i < sizeof known_codes / sizeof known_codes[0]; i++)
		if (strcmp(known_codes[i].code, code) == 0)
			return &known_codes[i];
	return NULL;
}

static const char *unit_alias(const char *unit)
{
	for (size_t i = 0; i < sizeof unit_aliases / sizeof unit_aliases[0]; i++)
		if (strcmp(unit_aliases[i].from, unit) == 0)
			return unit_aliases[i].to;
	return unit;
}

/* ---- small helpers ------------------------------------------------------------------------------ */

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Object member, with JSON null read as absent (exports write "code":null for DPs without one). */
static const cJSON *member(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNull(v) ? NULL : v;
}

/* An integral JSON number within [lo, hi] (valuedouble: valueint saturates). */
static bool json_int(const cJSON *v, double lo, double hi, double *out)
{
	if (!cJSON_IsNumber(v))
		return false;
	double d = v->valuedouble;
	if (!(d >= lo && d <= hi) || d != floor(d))
		return false;
	*out = d;
	return true;
}

/* "1".."255" exactly as devices write DP ids (no sign, no leading zero); -1 otherwise. */
static int dp_key(const char *k)
{
	if (!k || k[0] < '1' || k[0] > '9')
		return -1;
	int id = 0;
	for (size_t i = 0; k[i]; i++) {
		if (i >= 3 || k[i] < '0' || k[i] > '9')
			return -1;
		id = id * 10 + (k[i] - '0');
	}
	return id <= DP_ID_MAX ? id : -1;
}

static bool name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* Replace (not duplicate) o[k]: a dps object may repeat a key, and patches are merged into state. */
static void put(cJSON *o, const char *k, cJSON *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, k);
	cJSON_AddItemToObject(o, k, v);
}

/* ---- parsing ------------------------------------------------------------------------------------ */

/* Where we are in the schema array, so that every refusal names the entry (1-based) and its DP. */
struct entry {
	size_t no;
	int id; /* 0 until read */
	char *err;
	size_t errlen;
};

static int entry_fail(const struct entry *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int entry_fail(const struct entry *c, const char *fmt, ...)
{
	char msg[192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (c->id)
		return fail(c->err, c->errlen, "schema entry %zu (dp %d): %s", c->no, c->id, msg);
	return fail(c->err, c->errlen, "schema entry %zu: %s", c->no, msg);
}

/* Optional bounded string member -> dst ("" when absent). Over-long text is refused, not truncated. */
static int entry_str(const struct entry *c, const cJSON *o, const char *k, char *dst, size_t cap)
{
	const cJSON *v = member(o, k);
	dst[0] = '\0';
	if (!v)
		return 0;
	if (!cJSON_IsString(v))
		return entry_fail(c, "%s is not a string", k);
	size_t n = strlen(v->valuestring);
	if (n >= cap)
		return entry_fail(c, "%s is %zu bytes long (%zu supported)", k, n, cap - 1);
	memcpy(dst, v->valuestring, n + 1);
	return 0;
}

static int parse_id(const struct entry *c, const cJSON *o, int *id)
{
	const cJSON *v = member(o, "id");
	double d;
	if (!v)
		return entry_fail(c, "id missing");
	if (!cJSON_IsNumber(v))
		return entry_fail(c, "id is not a number");
	if (!json_int(v, 1, DP_ID_MAX, &d))
		return entry_fail(c, "id %.10g outside 1..%d", v->valuedouble, DP_ID_MAX);
	*id = (int)d;
	return 0;
}

static int parse_mode(const struct entry *c, const cJSON *o, struct tuya_dp *dp)
{
	const cJSON *v = member(o, "mode");
	const char *m = v ? cJSON_GetStringValue(v) : "rw"; /* no mode: assume the common case */
	if (!m)
		return entry_fail(c, "mode is not a string");
	if (strcmp(m, "rw") == 0 || strcmp(m, "ro") == 0 || strcmp(m, "wr") == 0) {
		dp->readable = m[0] == 'r';
		dp->writable = m[0] == 'w' || m[1] == 'w';
		return 0;
	}
	return entry_fail(c, "mode \"%.16s\" unknown (rw, ro or wr)", m);
}

static int parse_maxlen(const struct entry *c, const cJSON *prop, struct tuya_dp *dp)
{
	const cJSON *v = prop ? member(prop, "maxlen") : NULL;
	double d = 0;
	if (v && !json_int(v, 0, TUYA_MAX_JSON, &d))
		return entry_fail(c, "maxlen is not an integer 0..%d", TUYA_MAX_JSON);
	dp->maxlen = (int)d;
	return 0;
}

static int parse_value(const struct entry *c, const cJSON *prop, struct tuya_dp *dp)
{
	const cJSON *mn = member(prop, "min"), *mx = member(prop, "max"), *sc = member(prop, "scale"),
		    *st = member(prop, "step");
	if (mn || mx) {
		if (!mn || !mx)
			return entry_fail(c, "value has %s but no %s", mn ? "min" : "max", mn ? "max" : "min");
		if (!json_int(mn, INT32_LO, INT32_HI, &dp->min) || !json_int(mx, INT32_LO, INT32_HI, &dp->max))
			return entry_fail(c, "min and max must be 32-bit integers");
		if (dp->min > dp->max)
			return entry_fail(c, "min %.0f is above max %.0f", dp->min, dp->max);
		dp->has_range = true;
	}
	double d = 0;
	if (sc && !json_int(sc, 0, SCALE_MAX, &d))
		return entry_fail(c, "scale is not an integer 0..%d", SCALE_MAX);
	dp->scale = (int)d;
	dp->step = 1;
	if (st && !json_int(st, 0, INT32_HI, &d))
		return entry_fail(c, "step is not a non-negative integer");
	if (st && d > 0) /* "step":0 appears in exports; it means no constraint, i.e. 1 */
		dp->step = d;
	if (entry_str(c, prop, "unit", dp->unit, sizeof dp->unit) != 0)
		return -1;
	const char *alias = unit_alias(dp->unit);
	if (alias != dp->unit)
		snprintf(dp->unit, sizeof dp->unit, "%s", alias);
	return 0;
}

static int parse_enum(const struct entry *c, const cJSON *prop, struct tuya_dp *dp)
{
	const cJSON *r = member(prop, "range");
	if (!cJSON_IsArray(r))
		return entry_fail(c, "enum has no range array");
	int n = cJSON_GetArraySize(r);
	if (n == 0)
		return entry_fail(c, "enum range is empty");
	if (n > TUYA_SCHEMA_MAX_RANGE)
		return entry_fail(c, "enum range has %d values (%d supported)", n, TUYA_SCHEMA_MAX_RANGE);
	const cJSON *v;
	cJSON_ArrayForEach(v, r)
	{
		const char *s = cJSON_GetStringValue(v);
		if (!s)
			return entry_fail(c, "enum value %zu is not a string", dp->n_range + 1);
		if (strlen(s) >= sizeof dp->range[0])
			return entry_fail(c, "enum value %zu is %zu bytes long (%zu supported)", dp->n_range + 1,
					  strlen(s), sizeof dp->range[0] - 1);
		memcpy(dp->range[dp->n_range++], s, strlen(s) + 1);
	}
	return 0;
}

static const struct {
	const char *name;
	enum tuya_dp_type type;
} prop_types[] = {
	{"bool", TUYA_DP_BOOL},     {"value", TUYA_DP_VALUE},   {"enum", TUYA_DP_ENUM},
	{"string", TUYA_DP_STRING}, {"bitmap", TUYA_DP_BITMAP}, {"raw", TUYA_DP_RAW},
};

/* Type and type-specific members. Entries whose top-level "type" is not "obj" (Tuya's "raw") are raw
 * DPs whatever their property says; "obj" entries are typed by property.type. */
static int parse_property(const struct entry *c, const cJSON *o, struct tuya_dp *dp)
{
	const cJSON *top = member(o, "type"), *prop = member(o, "property");
	if (top && !cJSON_IsString(top))
		return entry_fail(c, "type is not a string");
	if (prop && !cJSON_IsObject(prop))
		return entry_fail(c, "property is not an object");
	if (top && strcmp(top->valuestring, "obj") != 0) {
		dp->type = TUYA_DP_RAW;
		return parse_maxlen(c, prop, dp);
	}
	if (!prop)
		return entry_fail(c, "property missing");
	const char *t = cJSON_GetStringValue(member(prop, "type"));
	if (!t)
		return entry_fail(c, "property type missing");
	size_t i = 0;
	while (i < sizeof prop_types / sizeof prop_types[0] && strcmp(prop_types[i].name, t) != 0)
		i++;
	if (i == sizeof prop_types / sizeof prop_types[0])
		return entry_fail(c, "property type \"%.16s\" unknown", t);
	dp->type = prop_types[i].type;
	switch (dp->type) {
	case TUYA_DP_VALUE:
		return parse_value(c, prop, dp);
	case TUYA_DP_ENUM:
		return parse_enum(c, prop, dp);
	case TUYA_DP_STRING:
	case TUYA_DP_BITMAP: /* "label" (bit names) is informative only */
	case TUYA_DP_RAW:
		return parse_maxlen(c, prop, dp);
	case TUYA_DP_BOOL:
		break;
	}
	return 0;
}

/* One array entry; seen[id] holds the entry number that already claimed id. */
static int parse_entry(struct entry *c, const cJSON *o, struct tuya_dp *dp, size_t seen[DP_ID_MAX + 1])
{
	if (!cJSON_IsObject(o))
		return entry_fail(c, "not an object");
	if (parse_id(c, o, &dp->id) != 0)
		return -1;
	c->id = dp->id;
	if (seen[dp->id])
		return entry_fail(c, "duplicate id (also entry %zu)", seen[dp->id]);
	seen[dp->id] = c->no;
	if (parse_mode(c, o, dp) != 0 || entry_str(c, o, "code", dp->code, sizeof dp->code) != 0)
		return -1;
	return parse_property(c, o, dp);
}

/* text[0..len) as exactly one JSON array (cJSON ignores trailing bytes, so the tail is checked here). */
static int parse_array(const char *text, size_t len, cJSON **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!text || len == 0)
		return fail(err, errlen, "schema empty");
	if (len > TUYA_MAX_JSON)
		return fail(err, errlen, "schema too large (%zu > %d bytes)", len, TUYA_MAX_JSON);
	if (memchr(text, '\0', len))
		return fail(err, errlen, "NUL byte in schema");
	const char *end = NULL;
	cJSON *r = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!r || !end || end < text || end > text + len) {
		long at = end && end >= text && end <= text + len ? (long)(end - text) : -1L;
		cJSON_Delete(r);
		return fail(err, errlen, "schema is not JSON (error at byte %ld)", at);
	}
	for (const char *p = end; p < text + len; p++) {
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
			cJSON_Delete(r);
			return fail(err, errlen, "trailing data after the schema at byte %ld", (long)(p - text));
		}
	}
	if (!cJSON_IsArray(r)) {
		cJSON_Delete(r);
		return fail(err, errlen, "schema is not a JSON array");
	}
	*out = r;
	return 0;
}

/* ---- naming ------------------------------------------------------------------------------------- */

static bool has_code(const struct tuya_schema *s, const char *code)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->dp[i].code, code) == 0)
			return true;
	return false;
}

static bool name_taken(const struct tuya_schema *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->dp[i].prop, name) == 0)
			return true;
	return false;
}

/* The name a DP gets without an override, before clashes are resolved. */
static void auto_name(const struct tuya_schema *s, const struct tuya_dp *dp, char *out, size_t cap)
{
	const struct known_code *k = known(dp->code);
	if (k && k->gang_code && has_code(s, k->gang_code))
		snprintf(out, cap, "%s", k->gang_prop);
	else if (k)
		snprintf(out, cap, "%s", k->prop);
	else if (dp->code[0]) {
		size_t i = 0;
		for (; dp->code[i] && i + 1 < cap; i++) {
			char ch = dp->code[i];
			if (ch >= 'A' && ch <= 'Z')
				ch = (char)(ch - 'A' + 'a');
			out[i] = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ? ch : '_';
		}
		out[i] = '\0';
	} else if (dp->id == 1 && dp->type == TUYA_DP_BOOL)
		snprintf(out, cap, "state");
	else
		snprintf(out, cap, "dp_%d", dp->id);
}

static void name_dp(struct tuya_schema *s, struct tuya_dp *dp)
{
	char want[sizeof dp->prop];
	auto_name(s, dp, want, sizeof want);
	if (name_taken(s, want))
		snprintf(want, sizeof want, "dp_%d", dp->id);
	/* Only reachable when a code or an override spells another DP's "dp_<id>"; still deterministic. */
	for (int n = 2; name_taken(s, want); n++)
		snprintf(want, sizeof want, "dp_%d_%d", dp->id, n);
	memcpy(dp->prop, want, sizeof want);
}

static struct tuya_dp *find_dp(struct tuya_schema *s, int id)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->dp[i].id == id)
			return &s->dp[i];
	return NULL;
}

/* The owner's dp_names. Ids not (or no longer) in the schema are ignored: a schema may be re-imported
 * after the names were given, and that must not make the device unusable. */
static int apply_overrides(struct tuya_schema *s, const cJSON *names, char *err, size_t errlen)
{
	if (!names || cJSON_IsNull(names))
		return 0;
	if (!cJSON_IsObject(names))
		return fail(err, errlen, "dp_names is not an object {\"<dp id>\": \"<attribute>\"}");
	if (cJSON_GetArraySize(names) > DP_ID_MAX)
		return fail(err, errlen, "dp_names has more than %d entries", DP_ID_MAX);
	const cJSON *it;
	cJSON_ArrayForEach(it, names)
	{
		int id = dp_key(it->string);
		if (id < 0)
			return fail(err, errlen, "dp_names: \"%.16s\" is not a dp id (1..%d)", it->string, DP_ID_MAX);
		const char *name = cJSON_GetStringValue(it);
		if (!name || !name_valid(name))
			return fail(err, errlen, "dp_names: dp %d: not a valid attribute name ([a-z0-9_], 1..%zu characters)",
				    id, NAME_MAX_LEN);
		for (const cJSON *prev = names->child; prev != it; prev = prev->next) {
			if (dp_key(prev->string) == id)
				return fail(err, errlen, "dp_names: dp %d is named twice", id);
			if (strcmp(prev->valuestring, name) == 0)
				return fail(err, errlen, "dp_names: \"%s\" is given to both dp %s and dp %d", name,
					    prev->string, id);
		}
		struct tuya_dp *dp = find_dp(s, id);
		if (dp)
			snprintf(dp->prop, sizeof dp->prop, "%s", name);
	}
	return 0;
}

/* Overrides first so that they win over any automatic name, then the rest in schema order. */
static int assign_names(struct tuya_schema *s, const cJSON *dp_names, char *err, size_t errlen)
{
	if (apply_overrides(s, dp_names, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < s->n; i++)
		if (!s->dp[i].prop[0])
			name_dp(s, &s->dp[i]);
	return 0;
}

int tuya_schema_parse(const char *json, size_t len, const cJSON *dp_names, struct tuya_schema *out, char *err,
		      size_t errlen)
{
	memset(out, 0, sizeof *out);
	cJSON *arr;
	if (parse_array(json, len, &arr, err, errlen) != 0)
		return -1;
	int rc = 0;
	int n = cJSON_GetArraySize(arr);
	if (n > TUYA_SCHEMA_MAX_DPS)
		rc = fail(err, errlen, "schema has %d data points (%d supported)", n, TUYA_SCHEMA_MAX_DPS);
	size_t seen[DP_ID_MAX + 1] = {0};
	const cJSON *o;
	cJSON_ArrayForEach(o, arr)
	{
		if (rc != 0)
			break;
		struct entry c = {.no = out->n + 1, .err = err, .errlen = errlen};
		rc = parse_entry(&c, o, &out->dp[out->n], seen);
		out->n++;
	}
	cJSON_Delete(arr);
	if (rc == 0)
		rc = assign_names(out, dp_names, err, errlen);
	if (rc != 0)
		memset(out, 0, sizeof *out);
	return rc;
}

const struct tuya_dp *tuya_schema_dp(const struct tuya_schema *s, int id)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (s->dp[i].id == id)
			return &s->dp[i];
	return NULL;
}

const struct tuya_dp *tuya_schema_prop(const struct tuya_schema *s, const char *prop)
{
	for (size_t i = 0; s && prop && i < s->n; i++)
		if (strcmp(s->dp[i].prop, prop) == 0)
			return &s->dp[i];
	return NULL;
}

/* ---- exposes ------------------------------------------------------------------------------------ */

static struct fc_expose *value_expose(struct fc_exposes *x, const struct tuya_dp *dp, unsigned access,
				      const struct known_code *k)
{
	const char *unit = dp->unit[0] ? dp->unit : k ? k->unit : NULL;
	struct fc_expose *e = fc_exposes_numeric(x, dp->prop, access, unit);
	/* Without a schema range the DP is still a 32-bit integer: exposing that range keeps
	 * fc_expose_coerce from accepting what value_to_dp must refuse. */
	double p = scale_div(dp);
	double lo = dp->has_range ? dp->min : INT32_LO, hi = dp->has_range ? dp->max : INT32_HI;
	fc_expose_range(e, lo / p, hi / p, dp->step / p);
	if (k && k->device_class)
		fc_expose_ha(e, k->device_class, k->state_class);
	return e;
}

static struct fc_expose *dp_expose(struct fc_exposes *x, const struct tuya_dp *dp, unsigned access,
				   const struct known_code *k)
{
	switch (dp->type) {
	case TUYA_DP_BOOL:
		return fc_exposes_binary(x, dp->prop, access);
	case TUYA_DP_VALUE:
		return value_expose(x, dp, access, k);
	case TUYA_DP_ENUM: {
		const char *values[TUYA_SCHEMA_MAX_RANGE];
		for (size_t i = 0; i < dp->n_range; i++)
			values[i] = dp->range[i];
		return fc_exposes_enum(x, dp->prop, access, values, dp->n_range);
	}
	case TUYA_DP_STRING:
	case TUYA_DP_BITMAP:
		return fc_exposes_text(x, dp->prop, access);
	case TUYA_DP_RAW: /* base64 of device-specific bytes: shown, not composed by hand */
		return fc_exposes_text(x, dp->prop, access & ~(unsigned)FC_ACCESS_SET);
	}
	return NULL;
}

/* The label is the attribute, except that a DP pushed to "dp_<id>" by a clash shows its code. */
static void set_label(struct fc_expose *e, const struct tuya_dp *dp)
{
	if (dp->code[0] && strncmp(dp->prop, "dp_", 3) == 0 && strcmp(dp->code, dp->prop) != 0)
		snprintf(e->label, sizeof e->label, "%s", dp->code);
}

void tuya_schema_exposes(const struct tuya_schema *s, struct fc_exposes *x)
{
	for (size_t i = 0; s && i < s->n; i++) {
		const struct tuya_dp *dp = &s->dp[i];
		unsigned access = (dp->readable ? READABLE : 0u) | (dp->writable ? (unsigned)FC_ACCESS_SET : 0u);
		if (dp->type == TUYA_DP_RAW && !dp->readable)
			continue; /* a write-only raw DP: nothing anyone could read or set */
		const struct known_code *k = known(dp->code);
		struct fc_expose *e = dp_expose(x, dp, access, k);
		if (!e)
			continue;
		set_label(e, dp);
		if (k && k->category)
			snprintf(e->category, sizeof e->category, "%s", k->category);
	}
}

/* ---- device values -> state --------------------------------------------------------------------- */

/* NULL when the device sent the wrong JSON type for the DP (skipped, not guessed). */
static cJSON *dp_to_attr(const struct tuya_dp *dp, const cJSON *v)
{
	switch (dp->type) {
	case TUYA_DP_BOOL:
		return cJSON_IsBool(v) ? cJSON_CreateString(cJSON_IsTrue(v) ? "ON" : "OFF") : NULL;
	case TUYA_DP_VALUE:
		return cJSON_IsNumber(v) && isfinite(v->valuedouble) ? cJSON_CreateNumber(v->valuedouble / scale_div(dp))
								       : NULL;
	case TUYA_DP_BITMAP:
		return cJSON_IsNumber(v) && isfinite(v->valuedouble) ? cJSON_CreateNumber(v->valuedouble) : NULL;
	case TUYA_DP_ENUM:
	case TUYA_DP_STRING:
	case TUYA_DP_RAW:
		return cJSON_IsString(v) ? cJSON_CreateString(v->valuestring) : NULL;
	}
	return NULL;
}

int tuya_schema_dps_to_state(const struct tuya_schema *s, const cJSON *dps, cJSON *patch)
{
	if (!cJSON_IsObject(dps) || !cJSON_IsObject(patch))
		return 0;
	int added = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, dps)
	{
		int id = dp_key(it->string);
		if (id < 0)
			continue;
		const struct tuya_dp *dp = tuya_schema_dp(s, id);
		char name[16] = "";
		cJSON *v;
		if (dp) {
			v = dp_to_attr(dp, it);
		} else {
			snprintf(name, sizeof name, "dp_%d", id);
			/* a schema DP may own that name (a code "dp_7"): never overwrite its value */
			v = tuya_schema_prop(s, name) ? NULL : cJSON_Duplicate(it, true);
		}
		if (!v)
			continue;
		put(patch, dp ? dp->prop : name, v);
		added++;
	}
	return added;
}

/* ---- /set attributes -> device values ----------------------------------------------------------- */

static cJSON *bool_to_dp(const struct tuya_dp *dp, const cJSON *v, const cJSON *state, char *err, size_t errlen)
{
	if (cJSON_IsBool(v))
		return cJSON_CreateBool(cJSON_IsTrue(v));
	const char *w = cJSON_GetStringValue(v);
	if (w && strcmp(w, "ON") == 0)
		return cJSON_CreateTrue();
	if (w && strcmp(w, "OFF") == 0)
		return cJSON_CreateFalse();
	if (w && strcmp(w, "TOGGLE") == 0) {
		const char *cur = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(state, dp->prop));
		if (cur && strcmp(cur, "ON") == 0)
			return cJSON_CreateFalse();
		if (cur && strcmp(cur, "OFF") == 0)
			return cJSON_CreateTrue();
		fail(err, errlen, "%s: current value unknown, cannot TOGGLE", dp->prop);
		return NULL;
	}
	fail(err, errlen, "%s: expected ON, OFF or TOGGLE", dp->prop);
	return NULL;
}

/* Range checked on the device integer (what the device itself checks), reported in user units. */
static cJSON *value_to_dp(const struct tuya_dp *dp, const cJSON *v, char *err, size_t errlen)
{
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
		fail(err, errlen, "%s: expected a number", dp->prop);
		return NULL;
	}
	double p = scale_div(dp);
	double d = round(v->valuedouble * p);
	double lo = dp->has_range ? dp->min : INT32_LO, hi = dp->has_range ? dp->max : INT32_HI;
	if (d < lo) {
		fail(err, errlen, "%s: %.10g is below the minimum %.10g", dp->prop, v->valuedouble, lo / p);
		return NULL;
	}
	if (d > hi) {
		fail(err, errlen, "%s: %.10g is above the maximum %.10g", dp->prop, v->valuedouble, hi / p);
		return NULL;
	}
	return cJSON_CreateNumber(d == 0 ? 0 : d); /* no "-0" on the wire */
}

static cJSON *enum_to_dp(const struct tuya_dp *dp, const cJSON *v, char *err, size_t errlen)
{
	const char *w = cJSON_GetStringValue(v);
	for (size_t i = 0; w && i < dp->n_range; i++)
		if (strcmp(w, dp->range[i]) == 0)
			return cJSON_CreateString(dp->range[i]);
	/* the same leniency as fc_expose_coerce, so both paths accept the same words */
	for (size_t i = 0; w && i < dp->n_range; i++)
		if (strcasecmp(w, dp->range[i]) == 0)
			return cJSON_CreateString(dp->range[i]);
	char list[256] = "";
	size_t used = 0;
	for (size_t i = 0; i < dp->n_range && used < sizeof list; i++) {
		int k = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", dp->range[i]);
		used += k > 0 ? (size_t)k : 0;
	}
	if (w)
		fail(err, errlen, "%s: \"%.32s\" is not one of %s", dp->prop, w, list);
	else
		fail(err, errlen, "%s: expected one of %s", dp->prop, list);
	return NULL;
}

static cJSON *string_to_dp(const struct tuya_dp *dp, const cJSON *v, char *err, size_t errlen)
{
	const char *w = cJSON_GetStringValue(v);
	if (!w) {
		fail(err, errlen, "%s: expected a string", dp->prop);
		return NULL;
	}
	size_t n = strlen(w);
	if (dp->maxlen > 0 && n > (size_t)dp->maxlen) {
		fail(err, errlen, "%s: %zu bytes, at most %d", dp->prop, n, dp->maxlen);
		return NULL;
	}
	return cJSON_CreateString(w);
}

/* Bitmaps are exposed as text (the state shows the number), so the decimal text comes back here. */
static cJSON *bitmap_to_dp(const struct tuya_dp *dp, const cJSON *v, char *err, size_t errlen)
{
	double d = -1;
	const char *w = cJSON_GetStringValue(v);
	if (cJSON_IsNumber(v)) {
		d = v->valuedouble;
	} else if (w && *w && strlen(w) <= 10 && strspn(w, "0123456789") == strlen(w)) {
		d = strtod(w, NULL);
	}
	double hi = dp->maxlen > 0 && dp->maxlen < 32 ? ldexp(1, dp->maxlen) - 1 : 4294967295.0;
	if (!(d >= 0 && d <= hi) || d != floor(d)) {
		fail(err, errlen, "%s: expected an integer 0..%.0f (bitmap)", dp->prop, hi);
		return NULL;
	}
	return cJSON_CreateNumber(d);
}

static cJSON *attr_to_dp(const struct tuya_dp *dp, const cJSON *v, const cJSON *state, char *err, size_t errlen)
{
	switch (dp->type) {
	case TUYA_DP_BOOL:
		return bool_to_dp(dp, v, state, err, errlen);
	case TUYA_DP_VALUE:
		return value_to_dp(dp, v, err, errlen);
	case TUYA_DP_ENUM:
		return enum_to_dp(dp, v, err, errlen);
	case TUYA_DP_STRING:
		return string_to_dp(dp, v, err, errlen);
	case TUYA_DP_BITMAP:
		return bitmap_to_dp(dp, v, err, errlen);
	case TUYA_DP_RAW:
		break;
	}
	fail(err, errlen, "%s: raw data point, not settable", dp->prop);
	return NULL;
}

cJSON *tuya_schema_set_to_dps(const struct tuya_schema *s, const cJSON *set, const cJSON *state, char *err,
			      size_t errlen)
{
	if (!cJSON_IsObject(set) || !set->child) {
		fail(err, errlen, "set: expected an object with at least one attribute");
		return NULL;
	}
	cJSON *dps = cJSON_CreateObject();
	if (!dps) {
		fail(err, errlen, "set: out of memory");
		return NULL;
	}
	const cJSON *it;
	cJSON_ArrayForEach(it, set)
	{
		const struct tuya_dp *dp = tuya_schema_prop(s, it->string);
		cJSON *v = NULL;
		if (!dp)
			fail(err, errlen, "%.64s: not a data point of this device", it->string);
		else if (!dp->writable)
			fail(err, errlen, "%s: read-only", dp->prop);
		else
			v = attr_to_dp(dp, it, state, err, errlen);
		if (!v) {
			cJSON_Delete(dps);
			return NULL;
		}
		char key[8];
		snprintf(key, sizeof key, "%d", dp->id);
		put(dps, key, v);
	}
	return dps;
}
