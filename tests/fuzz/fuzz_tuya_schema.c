/* Fuzz the Tuya DP schema (vendors/tuya/schema.c, tuya.md §1.5 "Schema string").
 * Input: schema text [ NUL dps-object [ NUL dp_names-object ] ]. The schema is parsed without and (when
 * given) with the dp_names; a parsed schema must be self-consistent, name every DP uniquely and
 * validly, expose what it holds, and carry synthetic device values for every DP through
 *   dps -> dps_to_state -> fc_expose_coerce (what the user path does) -> set_to_dps -> the same dps,
 * TOGGLE must flip, read-only and unknown attributes must be refused. The dps part, when it is JSON, is
 * pushed through dps_to_state and back through set_to_dps only for crashes and typing. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/exposes.h"
#include "vendors/tuya/tuya_internal.h"

#define INT32_LO (-2147483648.0)
#define INT32_HI 2147483647.0
#define VARIANTS 3

static struct tuya_schema S, S2; /* ~45 KB each */

static void require(bool ok)
{
	if (!ok)
		abort();
}

static double p10(int scale)
{
	double p = 1;
	for (int i = 0; i < scale; i++)
		p *= 10;
	return p;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 47)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static double lo_of(const struct tuya_dp *dp) { return dp->has_range ? dp->min : INT32_LO; }
static double hi_of(const struct tuya_dp *dp) { return dp->has_range ? dp->max : INT32_HI; }
static double bitmap_hi(const struct tuya_dp *dp)
{
	return dp->maxlen > 0 && dp->maxlen < 32 ? ldexp(1, dp->maxlen) - 1 : 4294967295.0;
}

static void check_dp(const struct tuya_schema *s, const struct tuya_dp *dp)
{
	require(dp->id >= 1 && dp->id <= 255);
	require(tuya_schema_dp(s, dp->id) == dp && tuya_schema_prop(s, dp->prop) == dp);
	require(name_ok(dp->prop));
	require(strlen(dp->code) < sizeof dp->code && strlen(dp->unit) < sizeof dp->unit);
	require(dp->readable || dp->writable);
	require(dp->maxlen >= 0 && dp->maxlen <= TUYA_MAX_JSON);
	switch (dp->type) {
	case TUYA_DP_VALUE:
		require(dp->scale >= 0 && dp->scale <= 9 && dp->step >= 1 && dp->step == floor(dp->step));
		require(!dp->has_range || (dp->min <= dp->max && dp->min >= INT32_LO && dp->max <= INT32_HI &&
					   dp->min == floor(dp->min) && dp->max == floor(dp->max)));
		break;
	case TUYA_DP_ENUM:
		require(dp->n_range >= 1 && dp->n_range <= TUYA_SCHEMA_MAX_RANGE);
		for (size_t k = 0; k < dp->n_range; k++)
			require(strlen(dp->range[k]) < sizeof dp->range[k]);
		break;
	case TUYA_DP_BOOL:
	case TUYA_DP_STRING:
	case TUYA_DP_BITMAP:
	case TUYA_DP_RAW:
		break;
	}
}

static void check_schema(const struct tuya_schema *s)
{
	require(s->n <= TUYA_SCHEMA_MAX_DPS);
	for (size_t i = 0; i < s->n; i++) {
		check_dp(s, &s->dp[i]); /* the lookups returning this very entry prove ids and names unique */
		require(s->dp[i].prop[0]);
	}
	require(!tuya_schema_prop(s, "Not-A-DP") && !tuya_schema_dp(s, 0) && !tuya_schema_dp(s, 256));
}

static void check_exposes(const struct tuya_schema *s, struct fc_exposes *x)
{
	tuya_schema_exposes(s, x);
	size_t k = 0;
	for (size_t i = 0; i < s->n; i++) {
		const struct tuya_dp *dp = &s->dp[i];
		if (dp->type == TUYA_DP_RAW && !dp->readable)
			continue;
		require(k < x->n);
		const struct fc_expose *e = &x->e[k++];
		require(strcmp(e->property, dp->prop) == 0);
		require(((e->access & FC_ACCESS_STATE) != 0) == dp->readable);
		require(((e->access & FC_ACCESS_SET) != 0) == (dp->writable && dp->type != TUYA_DP_RAW));
		static const enum fc_expose_type want[] = {
			[TUYA_DP_BOOL] = FC_EXPOSE_BINARY, [TUYA_DP_VALUE] = FC_EXPOSE_NUMERIC, [TUYA_DP_ENUM] = FC_EXPOSE_ENUM,
			[TUYA_DP_STRING] = FC_EXPOSE_TEXT, [TUYA_DP_BITMAP] = FC_EXPOSE_TEXT,   [TUYA_DP_RAW] = FC_EXPOSE_TEXT,
		};
		require(e->type == want[dp->type]);
		if (dp->type == TUYA_DP_VALUE)
			require(e->has_min && e->has_max && e->min == lo_of(dp) / p10(dp->scale) &&
				e->max == hi_of(dp) / p10(dp->scale));
		if (dp->type == TUYA_DP_ENUM)
			require(e->n_values == dp->n_range);
	}
	require(k == x->n);
	cJSON *j = fc_exposes_to_json(x);
	struct fc_exposes back = {0};
	require(j && fc_exposes_from_json(&back, j) == 0 && fc_exposes_equal(x, &back));
	fc_exposes_free(&back);
	cJSON_Delete(j);
}

/* A device value for dp; variant picks among the interesting ones. */
static cJSON *device_value(const struct tuya_dp *dp, int variant)
{
	switch (dp->type) {
	case TUYA_DP_BOOL:
		return cJSON_CreateBool(variant & 1);
	case TUYA_DP_VALUE: {
		double lo = lo_of(dp), hi = hi_of(dp);
		return cJSON_CreateNumber(variant == 0 ? lo : variant == 1 ? hi : floor(lo / 2 + hi / 2));
	}
	case TUYA_DP_ENUM:
		return cJSON_CreateString(dp->range[(size_t)variant % dp->n_range]);
	case TUYA_DP_STRING: {
		char buf[41];
		size_t n = variant == 0 ? 0 : dp->maxlen > 0 && dp->maxlen < 40 ? (size_t)dp->maxlen : 40;
		memset(buf, 'a' + variant, n);
		buf[n] = '\0';
		return cJSON_CreateString(buf);
	}
	case TUYA_DP_BITMAP:
		return cJSON_CreateNumber(variant == 0 ? 0 : variant == 1 ? bitmap_hi(dp) : 1);
	case TUYA_DP_RAW:
		return cJSON_CreateString("AAEC");
	}
	return cJSON_CreateNull();
}

/* The attribute dps_to_state must have made of device value v. */
static void check_attr(const struct tuya_dp *dp, const cJSON *v, const cJSON *a)
{
	require(a != NULL);
	switch (dp->type) {
	case TUYA_DP_BOOL:
		require(strcmp(cJSON_GetStringValue(a), cJSON_IsTrue(v) ? "ON" : "OFF") == 0);
		break;
	case TUYA_DP_VALUE:
		require(cJSON_IsNumber(a) && a->valuedouble == v->valuedouble / p10(dp->scale));
		break;
	case TUYA_DP_BITMAP:
		require(cJSON_IsNumber(a) && a->valuedouble == v->valuedouble);
		break;
	case TUYA_DP_ENUM:
	case TUYA_DP_STRING:
	case TUYA_DP_RAW:
		require(cJSON_IsString(a) && strcmp(a->valuestring, v->valuestring) == 0);
		break;
	}
}

/* set_to_dps({dp->prop: in}) with state; NULL when refused. */
static cJSON *set_one(const struct tuya_schema *s, const struct tuya_dp *dp, cJSON *in, const cJSON *state,
		      char *err, size_t errlen)
{
	cJSON *set = cJSON_CreateObject();
	require(set != NULL);
	cJSON_AddItemToObject(set, dp->prop, in);
	err[0] = '\0';
	cJSON *dps = tuya_schema_set_to_dps(s, set, state, err, errlen);
	require(dps || err[0]);
	cJSON_Delete(set);
	return dps;
}

/* What the user path sends back for the attribute a: coerce it against the DP's expose. */
static cJSON *user_value(const struct fc_expose *e, const struct tuya_dp *dp, const cJSON *a)
{
	char err[256], num[32];
	cJSON *in = NULL;
	if (dp->type == TUYA_DP_BITMAP) { /* exposed as text, shown as a number: the user types the digits */
		snprintf(num, sizeof num, "%.0f", a->valuedouble);
		in = cJSON_CreateString(num);
	}
	cJSON *v = fc_expose_coerce(e, in ? in : a, err, sizeof err);
	cJSON_Delete(in);
	require(v != NULL);
	return v;
}

static void check_sent(const struct tuya_dp *dp, const cJSON *dps, const cJSON *orig)
{
	char key[8];
	snprintf(key, sizeof key, "%d", dp->id);
	const cJSON *got = cJSON_GetObjectItemCaseSensitive(dps, key);
	require(got && cJSON_GetArraySize(dps) == 1);
	if (dp->type == TUYA_DP_ENUM) /* coerce picks the first case-insensitive spelling */
		require(cJSON_IsString(got) && strcasecmp(got->valuestring, orig->valuestring) == 0);
	else
		require(cJSON_Compare(got, orig, true));
}

static void round_trip_dp(const struct tuya_schema *s, const struct fc_exposes *x, const struct tuya_dp *dp,
			  const cJSON *dev, const cJSON *state)
{
	char err[256];
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(state, dp->prop);
	check_attr(dp, dev, a);
	if (!dp->writable || dp->type == TUYA_DP_RAW) {
		cJSON *r = set_one(s, dp, cJSON_Duplicate(a, true), state, err, sizeof err);
		require(!r && (strstr(err, "read-only") || strstr(err, "raw")));
		return;
	}
	const struct fc_expose *e = fc_exposes_find(x, dp->prop);
	require(e && (e->access & FC_ACCESS_SET));
	cJSON *dps = set_one(s, dp, user_value(e, dp, a), state, err, sizeof err);
	require(dps != NULL);
	check_sent(dp, dps, dev);
	cJSON_Delete(dps);
	if (dp->type == TUYA_DP_BOOL) {
		dps = set_one(s, dp, cJSON_CreateString("TOGGLE"), state, err, sizeof err);
		require(dps && cJSON_IsBool(dps->child) && cJSON_IsTrue(dps->child) != cJSON_IsTrue(dev));
		cJSON_Delete(dps);
		require(!set_one(s, dp, cJSON_CreateString("TOGGLE"), NULL, err, sizeof err));
		require(strstr(err, "cannot TOGGLE"));
	}
	if (dp->type == TUYA_DP_VALUE && hi_of(dp) < INT32_HI) {
		dps = set_one(s, dp, cJSON_CreateNumber((hi_of(dp) + 1) / p10(dp->scale)), state, err, sizeof err);
		require(!dps && strstr(err, "above the maximum"));
	}
}

static void round_trips(const struct tuya_schema *s, const struct fc_exposes *x)
{
	char err[256];
	for (int variant = 0; variant < VARIANTS; variant++) {
		cJSON *dps = cJSON_CreateObject(), *state = cJSON_CreateObject();
		require(dps && state);
		for (size_t i = 0; i < s->n; i++) {
			char key[8];
			snprintf(key, sizeof key, "%d", s->dp[i].id);
			cJSON_AddItemToObject(dps, key, device_value(&s->dp[i], variant));
		}
		require(tuya_schema_dps_to_state(s, dps, state) == (int)s->n);
		require(cJSON_GetArraySize(state) == (int)s->n);
		for (size_t i = 0; i < s->n; i++) {
			char key[8];
			snprintf(key, sizeof key, "%d", s->dp[i].id);
			round_trip_dp(s, x, &s->dp[i], cJSON_GetObjectItemCaseSensitive(dps, key), state);
		}
		cJSON *set = cJSON_CreateObject();
		cJSON_AddNumberToObject(set, "Not-A-DP", 1);
		require(!tuya_schema_set_to_dps(s, set, state, err, sizeof err) && strstr(err, "not a data point"));
		cJSON_Delete(set);
		cJSON_Delete(dps);
		cJSON_Delete(state);
	}
}

/* Overrides the fuzzer did not write: rename the first DP; give two DPs one name (must fail). */
static void check_overrides(const char *text, size_t len, const struct tuya_schema *s)
{
	char err[256], key[8], key2[8];
	if (s->n == 0)
		return;
	snprintf(key, sizeof key, "%d", s->dp[0].id);
	cJSON *names = cJSON_CreateObject();
	cJSON_AddStringToObject(names, key, "fuzz_renamed");
	require(tuya_schema_parse(text, len, names, &S2, err, sizeof err) == 0);
	check_schema(&S2);
	require(strcmp(S2.dp[0].prop, "fuzz_renamed") == 0);
	if (s->n >= 2) {
		snprintf(key2, sizeof key2, "%d", s->dp[1].id);
		cJSON_AddStringToObject(names, key2, "fuzz_renamed");
		require(tuya_schema_parse(text, len, names, &S2, err, sizeof err) == -1 && S2.n == 0 && err[0]);
	}
	cJSON_Delete(names);
}

static void check_parsed(const char *text, size_t len)
{
	char err[256];
	check_schema(&S);
	require(tuya_schema_parse(text, len, NULL, &S2, err, sizeof err) == 0 && S2.n == S.n);
	for (size_t i = 0; i < S.n; i++) /* deterministic */
		require(S2.dp[i].id == S.dp[i].id && strcmp(S2.dp[i].prop, S.dp[i].prop) == 0);
	struct fc_exposes x = {0};
	check_exposes(&S, &x);
	round_trips(&S, &x);
	fc_exposes_free(&x);
	check_overrides(text, len, &S);
}

static cJSON *part_json(const uint8_t *p, size_t n)
{
	return n && n <= TUYA_MAX_JSON ? cJSON_ParseWithLength((const char *)p, n) : NULL;
}

/* Arbitrary device report against the schema (or none): typing and no crash. */
static void feed_dps(const struct tuya_schema *s, const cJSON *dps)
{
	cJSON *state = cJSON_CreateObject();
	int n = tuya_schema_dps_to_state(s, dps, state);
	require(n >= 0 && cJSON_GetArraySize(state) <= n);
	require(cJSON_IsObject(dps) || n == 0);
	for (size_t i = 0; s && i < s->n; i++) {
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(state, s->dp[i].prop);
		if (!a)
			continue;
		if (s->dp[i].type == TUYA_DP_BOOL)
			require(cJSON_IsString(a) && (!strcmp(a->valuestring, "ON") || !strcmp(a->valuestring, "OFF")));
		else if (s->dp[i].type == TUYA_DP_VALUE || s->dp[i].type == TUYA_DP_BITMAP)
			require(cJSON_IsNumber(a) && isfinite(a->valuedouble));
		else
			require(cJSON_IsString(a));
	}
	char err[256] = "";
	cJSON *out = tuya_schema_set_to_dps(s, state, state, err, sizeof err);
	require(out || err[0]);
	const cJSON *it;
	cJSON_ArrayForEach(it, out)
	{
		char *end;
		long id = strtol(it->string, &end, 10);
		const struct tuya_dp *dp = tuya_schema_dp(s, (int)id);
		require(!*end && dp && dp->writable);
	}
	cJSON_Delete(out);
	cJSON_Delete(state);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t slen = nul ? (size_t)(nul - data) : size;
	const char *text = (const char *)data;
	char err[256] = "";

	int rc = tuya_schema_parse(text, slen, NULL, &S, err, sizeof err);
	require(rc == 0 || (rc == -1 && S.n == 0 && err[0]));
	if (nul)
		require(tuya_schema_parse(text, size, NULL, &S2, err, sizeof err) == -1 && S2.n == 0);
	if (rc == 0)
		check_parsed(text, slen);

	const uint8_t *rest = nul ? nul + 1 : NULL;
	size_t rlen = nul ? size - slen - 1 : 0;
	const uint8_t *nul2 = rest ? memchr(rest, 0, rlen) : NULL;
	cJSON *dps = part_json(rest, nul2 ? (size_t)(nul2 - rest) : rlen);
	cJSON *names = nul2 ? part_json(nul2 + 1, rlen - (size_t)(nul2 - rest) - 1) : NULL;
	if (dps) {
		feed_dps(rc == 0 ? &S : NULL, dps);
		cJSON_Delete(dps);
	}
	if (names && rc == 0) {
		int nrc = tuya_schema_parse(text, slen, names, &S2, err, sizeof err);
		require(nrc == 0 || (nrc == -1 && S2.n == 0 && err[0]));
		if (nrc == 0) {
			check_schema(&S2);
			const cJSON *it;
			cJSON_ArrayForEach(it, names)
			{
				const struct tuya_dp *dp = tuya_schema_dp(&S2, atoi(it->string));
				if (dp) /* a valid override is always applied as given */
					require(strcmp(dp->prop, it->valuestring) == 0);
			}
		}
	}
	cJSON_Delete(names);
	return 0;
}
