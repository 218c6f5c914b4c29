/* The exposes model: what a device can do, as typed capabilities with access flags (zigbee2mqtt style).
 * The exposes list alone drives the `exposes` array in fakecloud/bridge/devices, Home Assistant
 * discovery, and validation of plain-topic commands. */
#ifndef FC_EXPOSES_H
#define FC_EXPOSES_H

#include <stdbool.h>
#include <stddef.h>

struct cJSON;

/* Access bits, as in zigbee2mqtt: published in state / settable via /set / refreshable via /get. */
#define FC_ACCESS_STATE 1
#define FC_ACCESS_SET 2
#define FC_ACCESS_GET 4

enum fc_expose_type {
	FC_EXPOSE_BINARY,   /* value_on / value_off (default "ON"/"OFF") */
	FC_EXPOSE_NUMERIC,  /* number with optional min/max/step/unit */
	FC_EXPOSE_ENUM,     /* one of values[] */
	FC_EXPOSE_TEXT,     /* free text */
};

#define FC_EXPOSE_MAX_ENUM 16

struct fc_expose {
	enum fc_expose_type type;
	char property[48];     /* attribute name in the state JSON and in /set/<property> */
	char label[64];        /* human name (HA entity name); defaults to property */
	unsigned access;       /* FC_ACCESS_* */
	char unit[16];         /* "W", "V", "A", "kWh", "°C", "%"... */
	char device_class[32]; /* HA device_class (power, voltage, current, energy, temperature...) */
	char state_class[32];  /* HA state_class (measurement, total_increasing) */
	bool has_min, has_max;
	double min, max, step;
	char value_on[16], value_off[16];
	size_t n_values;
	char values[FC_EXPOSE_MAX_ENUM][32];
	char category[16];     /* "" | "config" | "diagnostic" */
};

#define FC_EXPOSES_MAX 64

/* Heap array; fc_exposes_free() releases it. A zero-initialised struct is an empty list. */
struct fc_exposes {
	size_t n, cap;
	struct fc_expose *e;
};
void fc_exposes_free(struct fc_exposes *x);
int fc_exposes_copy(struct fc_exposes *dst, const struct fc_exposes *src);
/* True when both lists are equal (used to skip republishing discovery). */
bool fc_exposes_equal(const struct fc_exposes *a, const struct fc_exposes *b);

/* Builders; each returns the new entry (or NULL when full) so callers can refine it. */
struct fc_expose *fc_exposes_binary(struct fc_exposes *x, const char *property, unsigned access);
struct fc_expose *fc_exposes_numeric(struct fc_exposes *x, const char *property, unsigned access,
				     const char *unit);
struct fc_expose *fc_exposes_enum(struct fc_exposes *x, const char *property, unsigned access,
				  const char *const *values, size_t n);
struct fc_expose *fc_exposes_text(struct fc_exposes *x, const char *property, unsigned access);
struct fc_expose *fc_expose_range(struct fc_expose *e, double min, double max, double step);
struct fc_expose *fc_expose_ha(struct fc_expose *e, const char *device_class, const char *state_class);

const struct fc_expose *fc_exposes_find(const struct fc_exposes *x, const char *property);

/* JSON form published in bridge/devices: [{"type":"binary","property":"state","access":7,...}, ...]. */
struct cJSON *fc_exposes_to_json(const struct fc_exposes *x);
/* Inverse (used when exposes are persisted in device meta). -1 on malformed input. */
int fc_exposes_from_json(struct fc_exposes *x, const struct cJSON *arr);

/* Validate and normalise a value a user sent for `e` (from /set JSON or /set/<attr> text).
 * On success returns a new cJSON value (number for numeric, string for binary/enum/text; binary also
 * accepts true/false, "on"/"off" case-insensitively and "TOGGLE"); on failure returns NULL and writes a
 * specific reason ("brightness: 300 is above the maximum 255"). */
struct cJSON *fc_expose_coerce(const struct fc_expose *e, const struct cJSON *in, char *err, size_t errlen);

#endif
