/* The exposes model: builders, JSON form, and validation of user values. */
#include "core/exposes.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const type_names[] = {"binary", "numeric", "enum", "text"};

/* A list with n > cap is one the hub shares between devices (core/hub.c): not ours to free or grow. */
void fc_exposes_free(struct fc_exposes *x)
{
	if (x->n <= x->cap)
		free(x->e);
	x->e = NULL;
	x->n = x->cap = 0;
}

static struct fc_expose *add(struct fc_exposes *x, enum fc_expose_type t, const char *property, unsigned access)
{
	if (x->n >= FC_EXPOSES_MAX || !property || !*property || x->n > x->cap)
		return NULL;
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 4;
		struct fc_expose *e = realloc(x->e, cap * sizeof *e);
		if (!e)
			return NULL;
		x->e = e;
		x->cap = cap;
	}
	struct fc_expose *e = &x->e[x->n++];
	memset(e, 0, sizeof *e);
	e->type = t;
	e->access = access;
	snprintf(e->property, sizeof e->property, "%s", property);
	snprintf(e->label, sizeof e->label, "%s", property);
	return e;
}

struct fc_expose *fc_exposes_binary(struct fc_exposes *x, const char *property, unsigned access)
{
	struct fc_expose *e = add(x, FC_EXPOSE_BINARY, property, access);
	if (e) {
		snprintf(e->value_on, sizeof e->value_on, "ON");
		snprintf(e->value_off, sizeof e->value_off, "OFF");
	}
	return e;
}

struct fc_expose *fc_exposes_numeric(struct fc_exposes *x, const char *property, unsigned access, const char *unit)
{
	struct fc_expose *e = add(x, FC_EXPOSE_NUMERIC, property, access);
	if (e && unit)
		snprintf(e->unit, sizeof e->unit, "%s", unit);
	return e;
}

struct fc_expose *fc_exposes_enum(struct fc_exposes *x, const char *property, unsigned access,
				  const char *const *values, size_t n)
{
	struct fc_expose *e = add(x, FC_EXPOSE_ENUM, property, access);
	if (!e)
		return NULL;
	for (size_t i = 0; i < n && i < FC_EXPOSE_MAX_ENUM; i++)
		snprintf(e->values[e->n_values++], sizeof e->values[0], "%s", values[i]);
	return e;
}

struct fc_expose *fc_exposes_text(struct fc_exposes *x, const char *property, unsigned access)
{
	return add(x, FC_EXPOSE_TEXT, property, access);
}

struct fc_expose *fc_expose_range(struct fc_expose *e, double min, double max, double step)
{
	if (e) {
		e->has_min = e->has_max = true;
		e->min = min;
		e->max = max;
		e->step = step;
	}
	return e;
}

struct fc_expose *fc_expose_ha(struct fc_expose *e, const char *device_class, const char *state_class)
{
	if (e) {
		snprintf(e->device_class, sizeof e->device_class, "%s", device_class ? device_class : "");
		snprintf(e->state_class, sizeof e->state_class, "%s", state_class ? state_class : "");
	}
	return e;
}

const struct fc_expose *fc_exposes_find(const struct fc_exposes *x, const char *property)
{
	for (size_t i = 0; i < x->n; i++)
		if (strcmp(x->e[i].property, property) == 0)
			return &x->e[i];
	return NULL;
}

int fc_exposes_copy(struct fc_exposes *dst, const struct fc_exposes *src)
{
	struct fc_exposes tmp = {0};
	if (src->n) {
		tmp.e = malloc(src->n * sizeof *tmp.e);
		if (!tmp.e)
			return -1;
		memcpy(tmp.e, src->e, src->n * sizeof *tmp.e);
		tmp.n = tmp.cap = src->n;
	}
	fc_exposes_free(dst);
	*dst = tmp;
	return 0;
}

bool fc_exposes_equal(const struct fc_exposes *a, const struct fc_exposes *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		cJSON *ja = NULL, *jb = NULL;
		/* Compare through the JSON form: padding bytes make memcmp unreliable. */
		struct fc_exposes one_a = {1, 1, &a->e[i]}, one_b = {1, 1, &b->e[i]};
		ja = fc_exposes_to_json(&one_a);
		jb = fc_exposes_to_json(&one_b);
		bool eq = ja && jb && cJSON_Compare(ja, jb, true);
		cJSON_Delete(ja);
		cJSON_Delete(jb);
		if (!eq)
			return false;
	}
	return true;
}

static void add_str_if(cJSON *o, const char *k, const char *v)
{
	if (v && *v)
		cJSON_AddStringToObject(o, k, v);
}

cJSON *fc_exposes_to_json(const struct fc_exposes *x)
{
	cJSON *arr = cJSON_CreateArray();
	if (!arr)
		return NULL;
	for (size_t i = 0; i < x->n; i++) {
		const struct fc_expose *e = &x->e[i];
		cJSON *o = cJSON_CreateObject();
		if (!o)
			break;
		cJSON_AddStringToObject(o, "type", type_names[e->type]);
		cJSON_AddStringToObject(o, "property", e->property);
		cJSON_AddStringToObject(o, "name", e->property);
		if (strcmp(e->label, e->property) != 0)
			cJSON_AddStringToObject(o, "label", e->label);
		cJSON_AddNumberToObject(o, "access", e->access);
		add_str_if(o, "unit", e->unit);
		add_str_if(o, "device_class", e->device_class);
		add_str_if(o, "state_class", e->state_class);
		add_str_if(o, "category", e->category);
		if (e->has_min)
			cJSON_AddNumberToObject(o, "value_min", e->min);
		if (e->has_max)
			cJSON_AddNumberToObject(o, "value_max", e->max);
		if (e->step > 0)
			cJSON_AddNumberToObject(o, "value_step", e->step);
		if (e->type == FC_EXPOSE_BINARY) {
			cJSON_AddStringToObject(o, "value_on", e->value_on);
			cJSON_AddStringToObject(o, "value_off", e->value_off);
			cJSON_AddStringToObject(o, "value_toggle", "TOGGLE");
		}
		if (e->type == FC_EXPOSE_ENUM) {
			cJSON *v = cJSON_AddArrayToObject(o, "values");
			for (size_t k = 0; v && k < e->n_values; k++)
				cJSON_AddItemToArray(v, cJSON_CreateString(e->values[k]));
		}
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static void copy_str(char *dst, size_t cap, const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (cJSON_IsString(v))
		snprintf(dst, cap, "%s", v->valuestring);
}

int fc_exposes_from_json(struct fc_exposes *x, const cJSON *arr)
{
	if (!cJSON_IsArray(arr))
		return -1;
	struct fc_exposes tmp = {0};
	const cJSON *o;
	cJSON_ArrayForEach(o, arr)
	{
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
		const cJSON *prop = cJSON_GetObjectItemCaseSensitive(o, "property");
		const cJSON *acc = cJSON_GetObjectItemCaseSensitive(o, "access");
		if (!cJSON_IsString(type) || !cJSON_IsString(prop) || !cJSON_IsNumber(acc))
			goto bad;
		int t = -1;
		for (int k = 0; k < 4; k++)
			if (strcmp(type->valuestring, type_names[k]) == 0)
				t = k;
		if (t < 0)
			goto bad;
		struct fc_expose *e = add(&tmp, (enum fc_expose_type)t, prop->valuestring, (unsigned)acc->valuedouble & 7u);
		if (!e)
			goto bad;
		copy_str(e->label, sizeof e->label, o, "label");
		copy_str(e->unit, sizeof e->unit, o, "unit");
		copy_str(e->device_class, sizeof e->device_class, o, "device_class");
		copy_str(e->state_class, sizeof e->state_class, o, "state_class");
		copy_str(e->category, sizeof e->category, o, "category");
		copy_str(e->value_on, sizeof e->value_on, o, "value_on");
		copy_str(e->value_off, sizeof e->value_off, o, "value_off");
		const cJSON *mn = cJSON_GetObjectItemCaseSensitive(o, "value_min");
		const cJSON *mx = cJSON_GetObjectItemCaseSensitive(o, "value_max");
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "value_step");
		if (cJSON_IsNumber(mn)) {
			e->has_min = true;
			e->min = mn->valuedouble;
		}
		if (cJSON_IsNumber(mx)) {
			e->has_max = true;
			e->max = mx->valuedouble;
		}
		if (cJSON_IsNumber(st))
			e->step = st->valuedouble;
		const cJSON *vals = cJSON_GetObjectItemCaseSensitive(o, "values");
		const cJSON *v;
		cJSON_ArrayForEach(v, vals)
		{
			if (cJSON_IsString(v) && e->n_values < FC_EXPOSE_MAX_ENUM)
				snprintf(e->values[e->n_values++], sizeof e->values[0], "%s", v->valuestring);
		}
	}
	fc_exposes_free(x);
	*x = tmp;
	return 0;
bad:
	fc_exposes_free(&tmp);
	return -1;
}

cJSON *fc_expose_coerce(const struct fc_expose *e, const cJSON *in, char *err, size_t errlen)
{
	if (!(e->access & FC_ACCESS_SET)) {
		snprintf(err, errlen, "%s is read-only", e->property);
		return NULL;
	}
	switch (e->type) {
	case FC_EXPOSE_BINARY: {
		if (cJSON_IsBool(in))
			return cJSON_CreateString(cJSON_IsTrue(in) ? e->value_on : e->value_off);
		if (cJSON_IsString(in)) {
			const char *s = in->valuestring;
			if (strcasecmp(s, e->value_on) == 0 || strcasecmp(s, "on") == 0 || strcasecmp(s, "true") == 0)
				return cJSON_CreateString(e->value_on);
			if (strcasecmp(s, e->value_off) == 0 || strcasecmp(s, "off") == 0 || strcasecmp(s, "false") == 0)
				return cJSON_CreateString(e->value_off);
			if (strcasecmp(s, "toggle") == 0)
				return cJSON_CreateString("TOGGLE");
		}
		snprintf(err, errlen, "%s: expected %s, %s or TOGGLE", e->property, e->value_on, e->value_off);
		return NULL;
	}
	case FC_EXPOSE_NUMERIC: {
		double v;
		if (cJSON_IsNumber(in)) {
			v = in->valuedouble;
		} else if (cJSON_IsString(in) && *in->valuestring) {
			char *end;
			v = strtod(in->valuestring, &end);
			if (*end) {
				snprintf(err, errlen, "%s: '%.32s' is not a number", e->property, in->valuestring);
				return NULL;
			}
		} else {
			snprintf(err, errlen, "%s: expected a number", e->property);
			return NULL;
		}
		if (!isfinite(v)) {
			snprintf(err, errlen, "%s: expected a finite number", e->property);
			return NULL;
		}
		if (e->has_min && v < e->min) {
			snprintf(err, errlen, "%s: %g is below the minimum %g", e->property, v, e->min);
			return NULL;
		}
		if (e->has_max && v > e->max) {
			snprintf(err, errlen, "%s: %g is above the maximum %g", e->property, v, e->max);
			return NULL;
		}
		return cJSON_CreateNumber(v);
	}
	case FC_EXPOSE_ENUM:
		if (cJSON_IsString(in))
			for (size_t i = 0; i < e->n_values; i++)
				if (strcasecmp(in->valuestring, e->values[i]) == 0)
					return cJSON_CreateString(e->values[i]);
		snprintf(err, errlen, "%s: expected one of the values listed in its exposes", e->property);
		return NULL;
	case FC_EXPOSE_TEXT:
		if (cJSON_IsString(in))
			return cJSON_CreateString(in->valuestring);
		snprintf(err, errlen, "%s: expected a string", e->property);
		return NULL;
	}
	snprintf(err, errlen, "%s: unsupported type", e->property);
	return NULL;
}
