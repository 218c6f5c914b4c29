/* hub_json_print (core/hub.c) prints exactly what cJSON_PrintUnformatted prints: every retained and
 * plain-topic payload went through cJSON before, and subscribers must see the same bytes. */
#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/hub_internal.h"
#include "unit/t.h"

static int same(const cJSON *j)
{
	char *want = cJSON_PrintUnformatted(j);
	size_t n = 0;
	char *got = hub_json_print(j, &n);
	int ok = want && got && strcmp(want, got) == 0 && n == strlen(want);
	if (!ok)
		fprintf(stderr, "  cJSON: %s\n  ours:  %s\n", want ? want : "(null)", got ? got : "(null)");
	cJSON_free(want);
	free(got);
	return ok;
}

static void numbers(void)
{
	const double v[] = {0,
			    -0.0,
			    1,
			    -1,
			    7,
			    42,
			    255,
			    1000,
			    2147483647.0,
			    2147483648.0,
			    -2147483649.0,
			    1732200000,
			    1732200000123.0,
			    999999999999999.0,
			    -999999999999999.0,
			    1e15,
			    1e15 + 1,
			    9007199254740992.0,
			    1732200000123456.0,
			    1.7322000001234568e18,
			    1e300,
			    -1e300,
			    0.5,
			    0.1,
			    1.0 / 3,
			    2.675,
			    123.456,
			    -0.001,
			    1e-7,
			    5e-324,
			    DBL_MAX,
			    -DBL_MAX,
			    DBL_MIN,
			    100.25,
			    3.14159265358979,
			    HUGE_VAL,
			    -HUGE_VAL,
			    NAN};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		cJSON *n = cJSON_CreateNumber(v[i]);
		CHECK(same(n));
		cJSON_Delete(n);
	}
	/* a spread of integers and fractions */
	uint64_t x = 88172645463325252ULL;
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		double d;
		switch (i % 4) {
		case 0: d = (double)(int64_t)(x % 2000000000000000ULL) - 1e15; break;
		case 1: d = (double)(x % 100000); break;
		case 2: d = (double)(int64_t)x / 1e6; break;
		default: d = ldexp((double)(x >> 11), (int)(x % 200) - 100); break;
		}
		cJSON *n = cJSON_CreateNumber(d);
		int ok = same(n);
		if (!ok)
			fprintf(stderr, "  value %.17g\n", d);
		CHECK(ok);
		cJSON_Delete(n);
	}
}

static void strings(void)
{
	const char *s[] = {"", "ON", "a\"b", "back\\slash", "tab\there", "nl\nx\r\f\b", "\x01\x02\x1f\x7f",
			   "caf\xc3\xa9 \xe2\x82\xac", "/slash/", "{{ value_json['state'] }}"};
	for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
		cJSON *j = cJSON_CreateString(s[i]);
		CHECK(same(j));
		cJSON_Delete(j);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, s[i], s[i]);
		CHECK(same(o));
		cJSON_Delete(o);
	}
}

static void structures(void)
{
	const char *docs[] = {
		"{}",
		"[]",
		"[[],{},[{}]]",
		"null",
		"true",
		"{\"a\":false,\"b\":null,\"c\":[1,2.5,\"x\",true]}",
		"{\"header\":{\"messageId\":\"0123456789abcdef0123456789abcdef\",\"namespace\":\"Appliance.Control."
		"ToggleX\",\"method\":\"PUSH\",\"payloadVersion\":1,\"from\":\"/appliance/x/publish\",\"timestamp\":"
		"1732200000,\"timestampMs\":123},\"payload\":{\"togglex\":[{\"channel\":0,\"onoff\":1,\"lmTime\":"
		"1732200000}]}}",
		"{\"power\":12.5,\"voltage\":230.1,\"current\":0.054,\"energy\":1234.567,\"list\":[{\"k\":[1,[2,[3]]]}]}",
	};
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		cJSON *j = cJSON_Parse(docs[i]);
		CHECK(j != NULL);
		CHECK(same(j));
		cJSON_Delete(j);
	}
	/* raw members (how 64-bit integers are emitted exactly) */
	cJSON *o = cJSON_CreateObject();
	cJSON_AddRawToObject(o, "ts", "12345678901234567890");
	CHECK(same(o));
	cJSON_Delete(o);
	/* larger than the writer's first buffers */
	cJSON *big = cJSON_CreateArray();
	for (int i = 0; i < 3000; i++) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "name", "a device with a long enough name");
		cJSON_AddNumberToObject(e, "last_seen", 1732200000123.0 + i);
		cJSON_AddNumberToObject(e, "x", i / 7.0);
		cJSON_AddItemToArray(big, e);
	}
	CHECK(same(big));
	cJSON_Delete(big);
	CHECK(hub_json_print(NULL, NULL) == NULL);
}

int main(void)
{
	numbers();
	strings();
	structures();
	return t_done();
}
