/* Meross codec (vendors/meross/codec.h) against the vectors of ../shared/protocols/meross.md §1/§2 and
 * the parsing rules in codec.c. Expected signs are recomputed here from the concatenated string with
 * fc_md5_hex, not with the codec's own helpers. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/hub_internal.h"
#include "t.h"
#include "vendors/meross/codec.h"

#define KEY "0123456789abcdef0123456789abcdef"
#define UUID "2012317778118925583748e1e943e9bc"
#define MID "a1605224f8b808178c8bdac5d8e239dc"

/* md5hex(message_id + key + decimal ts), computed without the codec. */
static void ref_sign(const char *mid, const char *key, size_t keylen, int64_t ts, char out[33])
{
	char buf[1024];
	size_t a = strlen(mid);
	memcpy(buf, mid, a);
	memcpy(buf + a, key, keylen);
	int n = snprintf(buf + a + keylen, sizeof buf - a - keylen, "%" PRId64, ts);
	fc_md5_hex(buf, a + keylen + (size_t)n, out);
}

static int parse_str(const char *s, struct meross_msg *m, char *err, size_t errlen)
{
	return meross_msg_parse(s, strlen(s), m, err, errlen);
}

/* Parse must fail, and the reason must contain `want` (when given). */
static void expect_reject(const char *s, size_t len, const char *want, int line)
{
	struct meross_msg m;
	char err[128] = "";
	int rc = meross_msg_parse(s, len, &m, err, sizeof err);
	if (rc == 0) {
		t_failed++;
		fprintf(stderr, "FAIL line %d: parse accepted %.80s\n", line, s);
		meross_msg_free(&m);
		return;
	}
	if (m.root || m.payload || m.header) {
		t_failed++;
		fprintf(stderr, "FAIL line %d: failed parse left pointers\n", line);
	}
	if (want && !strstr(err, want)) {
		t_failed++;
		fprintf(stderr, "FAIL line %d: reason \"%s\" lacks \"%s\"\n", line, err, want);
		return;
	}
	t_passed++;
}
#define REJECT(s, want) expect_reject((s), strlen(s), (want), __LINE__)

/* ---- §1 credentials ----------------------------------------------------------------------------- */

static void test_password_vectors(void)
{
	/* Published: user 1234, key "testkey", mac 34:29:8f:ff:ff:ff -> 1234_5ac868a81f2f21b4a87f7d2bb3467cb5 */
	char h[33];
	meross_device_password_hash("34:29:8f:ff:ff:ff", "testkey", 7, h);
	CHECK_STR(h, "5ac868a81f2f21b4a87f7d2bb3467cb5");
	char pw[64];
	snprintf(pw, sizeof pw, "%s_%s", "1234", h);
	CHECK_STR(pw, "1234_5ac868a81f2f21b4a87f7d2bb3467cb5");
	char ref[33];
	fc_md5_hex("34:29:8f:ff:ff:fftestkey", 24, ref);
	CHECK_STR(h, ref);

	char uid[24], md5[33];
	CHECK_INT(meross_parse_device_password("1234_5ac868a81f2f21b4a87f7d2bb3467cb5", uid, sizeof uid, md5), 0);
	CHECK_STR(uid, "1234");
	CHECK_STR(md5, "5ac868a81f2f21b4a87f7d2bb3467cb5");

	/* App password md5hex(userId + key); value from coreutils md5sum of "1234testkey". */
	meross_app_password("1234", "testkey", 7, h);
	CHECK_STR(h, "8f6eacd91b391dedc2e1ca83f2c4fd7d");
	fc_md5_hex("1234testkey", 11, ref);
	CHECK_STR(h, ref);
	/* keylen counts, not strlen: a key with a NUL inside. */
	meross_app_password("7", "a\0b", 3, h);
	fc_md5_hex("7a\0b", 4, ref);
	CHECK_STR(h, ref);
	/* Empty key. */
	meross_device_password_hash("48:e1:e9:43:e9:bc", "", 0, h);
	fc_md5_hex("48:e1:e9:43:e9:bc", 17, ref);
	CHECK_STR(h, ref);
	meross_device_password_hash("48:e1:e9:43:e9:bc", NULL, 0, h);
	CHECK_STR(h, ref);
}

static void test_password_parse(void)
{
	char uid[24], md5[33];
	const char *hex = "5ac868a81f2f21b4a87f7d2bb3467cb5";
	char pw[128];

	snprintf(pw, sizeof pw, "0_%s", hex); /* userId 0 = unset */
	CHECK_INT(meross_parse_device_password(pw, uid, sizeof uid, md5), 0);
	CHECK_STR(uid, "0");
	CHECK_STR(md5, hex);
	/* Upper-case hex accepted, returned lowercase. */
	CHECK_INT(meross_parse_device_password("42_5AC868A81F2F21B4A87F7D2BB3467CB5", uid, sizeof uid, md5), 0);
	CHECK_STR(uid, "42");
	CHECK_STR(md5, hex);
	/* 19 digits ok, 20 not. */
	snprintf(pw, sizeof pw, "9999999999999999999_%s", hex);
	CHECK_INT(meross_parse_device_password(pw, uid, sizeof uid, md5), 0);
	CHECK_STR(uid, "9999999999999999999");
	snprintf(pw, sizeof pw, "99999999999999999999_%s", hex);
	CHECK_INT(meross_parse_device_password(pw, uid, sizeof uid, md5), -1);
	/* userId does not fit the caller's buffer: refused, not truncated. */
	snprintf(pw, sizeof pw, "12345_%s", hex);
	CHECK_INT(meross_parse_device_password(pw, uid, 5, md5), -1);
	CHECK_INT(meross_parse_device_password(pw, uid, 6, md5), 0);
	CHECK_STR(uid, "12345");

	snprintf(pw, sizeof pw, "12a4_%s", hex); /* non-digit */
	CHECK_INT(meross_parse_device_password(pw, uid, sizeof uid, md5), -1);
	snprintf(pw, sizeof pw, "-1_%s", hex);
	CHECK_INT(meross_parse_device_password(pw, uid, sizeof uid, md5), -1);
	snprintf(pw, sizeof pw, "_%s", hex); /* empty userId */
	CHECK_INT(meross_parse_device_password(pw, uid, sizeof uid, md5), -1);
	snprintf(pw, sizeof pw, "1234%s", hex); /* missing underscore */
	CHECK_INT(meross_parse_device_password(pw, uid, sizeof uid, md5), -1);
	snprintf(pw, sizeof pw, "1234-%s", hex);
	CHECK_INT(meross_parse_device_password(pw, uid, sizeof uid, md5), -1);
	CHECK_INT(meross_parse_device_password("1234_5ac868a81f2f21b4a87f7d2bb3467cb", uid, sizeof uid, md5), -1);
	CHECK_INT(meross_parse_device_password("1234_5ac868a81f2f21b4a87f7d2bb3467cb55", uid, sizeof uid, md5), -1);
	CHECK_INT(meross_parse_device_password("1234_5ac868a81f2f21b4a87f7d2bb3467cbg", uid, sizeof uid, md5), -1);
	CHECK_INT(meross_parse_device_password("1234_", uid, sizeof uid, md5), -1);
	snprintf(pw, sizeof pw, "1234_%s ", hex); /* trailing space */
	CHECK_INT(meross_parse_device_password(pw, uid, sizeof uid, md5), -1);
	snprintf(pw, sizeof pw, "1234__%s", hex);
	CHECK_INT(meross_parse_device_password(pw, uid, sizeof uid, md5), -1);
	CHECK_INT(meross_parse_device_password("", uid, sizeof uid, md5), -1);
	CHECK_INT(meross_parse_device_password(NULL, uid, sizeof uid, md5), -1);
}

static void test_client_ids(void)
{
	char uuid[MEROSS_UUID_LEN + 1];
	/* The real example from bytespider #41. */
	CHECK_INT(meross_parse_device_client_id("fmware:2012317778118925583748e1e943e9bc_bVUplGdeu4lGBUtb", uuid), 0);
	CHECK_STR(uuid, UUID);
	/* No suffix (MerossIot: the suffix may be omitted). */
	memset(uuid, 'x', sizeof uuid);
	CHECK_INT(meross_parse_device_client_id("fmware:" UUID, uuid), 0);
	CHECK_STR(uuid, UUID);
	/* Non-hex uuid seen in the wild (bytespider #40). */
	CHECK_INT(meross_parse_device_client_id("fmware:19011804581223251h0434298f1a4b07_abc", uuid), 0);
	CHECK_STR(uuid, "19011804581223251h0434298f1a4b07");
	CHECK_INT(meross_parse_device_client_id("fmware:" UUID "_random", uuid), 0);

	/* Wrong prefixes. */
	CHECK_INT(meross_parse_device_client_id("app:" UUID, uuid), -1);
	CHECK_INT(meross_parse_device_client_id("FMWARE:" UUID, uuid), -1);
	CHECK_INT(meross_parse_device_client_id("fmware" UUID, uuid), -1);
	CHECK_INT(meross_parse_device_client_id(" fmware:" UUID, uuid), -1);
	/* 31 / 33 chars. */
	CHECK_INT(strlen(UUID), 32);
	CHECK_INT(meross_parse_device_client_id("fmware:2012317778118925583748e1e943e9b", uuid), -1);
	CHECK_INT(meross_parse_device_client_id("fmware:2012317778118925583748e1e943e9b_abc", uuid), -1);
	CHECK_INT(meross_parse_device_client_id("fmware:" UUID "0", uuid), -1);
	CHECK_INT(meross_parse_device_client_id("fmware:" UUID "0_abc", uuid), -1);
	/* Empty / degenerate. */
	CHECK_INT(meross_parse_device_client_id("", uuid), -1);
	CHECK_INT(meross_parse_device_client_id("fmware:", uuid), -1);
	CHECK_INT(meross_parse_device_client_id(NULL, uuid), -1);
	CHECK_INT(meross_parse_device_client_id("fmware:" UUID "_", uuid), -1);       /* empty suffix */
	CHECK_INT(meross_parse_device_client_id("fmware:" UUID "_ab-cd", uuid), -1);  /* non-alnum suffix */
	CHECK_INT(meross_parse_device_client_id("fmware:" UUID "_ab_cd", uuid), -1);
	CHECK_INT(meross_parse_device_client_id("fmware:" UUID "x", uuid), -1);
	CHECK_INT(meross_parse_device_client_id("fmware:2012317778118925583748e1e943e9b-", uuid), -1);
	/* Suffix bounded at 64. */
	char id[128], sfx[70];
	memset(sfx, 'a', 64);
	sfx[64] = '\0';
	snprintf(id, sizeof id, "fmware:%s_%s", UUID, sfx);
	CHECK_INT(meross_parse_device_client_id(id, uuid), 0);
	snprintf(id, sizeof id, "fmware:%s_%sa", UUID, sfx);
	CHECK_INT(meross_parse_device_client_id(id, uuid), -1);

	/* App client ids. */
	char app[65];
	CHECK_INT(meross_parse_app_client_id("app:0a1b2c3d4e5f60718293a4b5c6d7e8f9", app, sizeof app), 0);
	CHECK_STR(app, "0a1b2c3d4e5f60718293a4b5c6d7e8f9");
	CHECK_INT(meross_parse_app_client_id("app:x", app, sizeof app), 0);
	CHECK_STR(app, "x");
	CHECK_INT(meross_parse_app_client_id("app:", app, sizeof app), -1);
	CHECK_INT(meross_parse_app_client_id("app:ab_cd", app, sizeof app), -1);
	CHECK_INT(meross_parse_app_client_id("App:abc", app, sizeof app), -1);
	CHECK_INT(meross_parse_app_client_id("fmware:" UUID, app, sizeof app), -1);
	CHECK_INT(meross_parse_app_client_id("app:abcd", app, 4), -1); /* does not fit: refused */
	CHECK_INT(meross_parse_app_client_id("app:abcd", app, 5), 0);
	snprintf(id, sizeof id, "app:%s", sfx); /* 64 ok */
	CHECK_INT(meross_parse_app_client_id(id, app, sizeof app), 0);
	snprintf(id, sizeof id, "app:%sa", sfx); /* 65 not */
	CHECK_INT(meross_parse_app_client_id(id, app, sizeof app), -1);
}

static void test_mac(void)
{
	CHECK(meross_mac_valid("48:e1:e9:43:e9:bc"));
	CHECK(meross_mac_valid("34:29:8f:ff:ff:ff"));
	CHECK(meross_mac_valid("00:00:00:00:00:00"));
	CHECK(!meross_mac_valid("48:E1:E9:43:E9:BC"));
	CHECK(!meross_mac_valid("48-e1-e9-43-e9-bc"));
	CHECK(!meross_mac_valid("48e1e943e9bc"));
	CHECK(!meross_mac_valid("48:e1:e9:43:e9:b"));
	CHECK(!meross_mac_valid("48:e1:e9:43:e9:bc:"));
	CHECK(!meross_mac_valid("48:e1:e9:43:e9:bcd"));
	CHECK(!meross_mac_valid("48:e1:e9:43:e9:bg"));
	CHECK(!meross_mac_valid("48:e1:e9:43:e9"));
	CHECK(!meross_mac_valid("4:8e1:e9:43:e9:bc"));
	CHECK(!meross_mac_valid(""));
	CHECK(!meross_mac_valid(NULL));
}

/* ---- §2 signing --------------------------------------------------------------------------------- */

static void test_sign(void)
{
	char s[33], ref[33];
	/* Published: empty key, messageId "", ts 0 -> md5("0"). */
	meross_sign("", "", 0, 0, s);
	CHECK_STR(s, "cfcd208495d565ef66e7dff9f98764da");
	meross_sign("", NULL, 0, 0, s);
	CHECK_STR(s, "cfcd208495d565ef66e7dff9f98764da");
	fc_md5_hex("0", 1, ref);
	CHECK_STR(s, ref);

	/* Independent: md5 of the literal concatenation. */
	const char *cat = MID KEY "1714061186";
	fc_md5_hex(cat, strlen(cat), ref);
	meross_sign(MID, KEY, strlen(KEY), 1714061186, s);
	CHECK_STR(s, ref);
	cat = MID "4"; /* empty key, uptime timestamp */
	fc_md5_hex(cat, strlen(cat), ref);
	meross_sign(MID, "", 0, 4, s);
	CHECK_STR(s, ref);
	/* The key is (pointer, length). */
	fc_md5_hex("ida\0b5", 6, ref);
	meross_sign("id", "a\0b", 3, 5, s);
	CHECK_STR(s, ref);
	/* A key longer than the codec's stack buffer. */
	static char big[2000], cat2[2100];
	memset(big, 'k', sizeof big);
	memcpy(cat2, "m", 1);
	memcpy(cat2 + 1, big, sizeof big);
	memcpy(cat2 + 1 + sizeof big, "123", 3);
	fc_md5_hex(cat2, 1 + sizeof big + 3, ref);
	meross_sign("m", big, sizeof big, 123, s);
	CHECK_STR(s, ref);
	/* Large (but exact) timestamps print as plain decimals. */
	ref_sign(MID, KEY, strlen(KEY), 1000000000000000, ref);
	cat = MID KEY "1000000000000000";
	char ref2[33];
	fc_md5_hex(cat, strlen(cat), ref2);
	CHECK_STR(ref, ref2);
	meross_sign(MID, KEY, strlen(KEY), 1000000000000000, s);
	CHECK_STR(s, ref2);
}

/* ---- build / parse / verify --------------------------------------------------------------------- */

static void test_build_exact(void)
{
	struct meross_out o = {
		.namespace_ = "Appliance.Control.Bind",
		.method = "SETACK",
		.from = "/appliance/" UUID "/publish",
		.message_id = MID,
		.trigger_src = "CloudControl",
		.timestamp = 1714061186,
		.timestamp_ms = 0,
	};
	char sign[33], idout[33] = "junk";
	ref_sign(MID, KEY, strlen(KEY), 1714061186, sign);
	cJSON *pl = cJSON_CreateObject();
	char *s = meross_msg_build(&o, pl, KEY, strlen(KEY), idout);
	char want[1024];
	snprintf(want, sizeof want,
		 "{\"header\":{\"messageId\":\"" MID "\",\"namespace\":\"Appliance.Control.Bind\",\"method\":\"SETACK\","
		 "\"payloadVersion\":1,\"from\":\"/appliance/" UUID "/publish\",\"timestamp\":1714061186,"
		 "\"timestampMs\":0,\"sign\":\"%s\",\"triggerSrc\":\"CloudControl\"},\"payload\":{}}",
		 sign);
	CHECK_STR(s, want);
	CHECK_STR(idout, MID);
	/* The payload was copied, not consumed. */
	CHECK(cJSON_IsObject(pl) && pl->child == NULL);
	free(s);

	/* No triggerSrc; NULL payload = {}; timestampMs printed; a 16-digit timestamp stays an integer
	 * (cJSON alone prints 1e15 as "1e+15"). */
	o.trigger_src = NULL;
	o.timestamp = 1000000000000000;
	o.timestamp_ms = 999;
	ref_sign(MID, KEY, strlen(KEY), o.timestamp, sign);
	s = meross_msg_build(&o, NULL, KEY, strlen(KEY), NULL);
	snprintf(want, sizeof want,
		 "{\"header\":{\"messageId\":\"" MID "\",\"namespace\":\"Appliance.Control.Bind\",\"method\":\"SETACK\","
		 "\"payloadVersion\":1,\"from\":\"/appliance/" UUID "/publish\",\"timestamp\":1000000000000000,"
		 "\"timestampMs\":999,\"sign\":\"%s\"},\"payload\":{}}",
		 sign);
	CHECK_STR(s, want);
	CHECK(s && !strstr(s, "e+"));
	free(s);

	/* Ten-digit second timestamp: "timestamp":<digits>, no exponent, no fraction. */
	o.timestamp = 1999999999;
	cJSON_AddNumberToObject(pl, "n", 1);
	s = meross_msg_build(&o, pl, KEY, strlen(KEY), NULL);
	CHECK(s && strstr(s, "\"timestamp\":1999999999,\"timestampMs\":999,"));
	CHECK(s && strstr(s, "\"payload\":{\"n\":1}}"));
	free(s);
	cJSON_Delete(pl);
}

static void test_build_random_id(void)
{
	struct meross_out o = {"Appliance.System.Online", "PUSH", "/appliance/" UUID "/subscribe", NULL, NULL,
			       1700000000, 5};
	char id1[33], id2[33];
	cJSON *pl = cJSON_Parse("{\"online\":{\"status\":1}}");
	char *a = meross_msg_build(&o, pl, KEY, strlen(KEY), id1);
	char *b = meross_msg_build(&o, pl, KEY, strlen(KEY), id2);
	CHECK(a && b);
	CHECK_INT(strlen(id1), 32);
	CHECK_INT(strspn(id1, "0123456789abcdef"), 32);
	CHECK(strcmp(id1, id2) != 0);
	struct meross_msg m;
	char err[128];
	CHECK_INT(parse_str(a, &m, err, sizeof err), 0);
	CHECK_STR(m.message_id, id1);
	CHECK_INT(meross_msg_verify(&m, KEY, strlen(KEY)), 1);
	meross_msg_free(&m);
	free(a);
	free(b);
	cJSON_Delete(pl);
}

static void test_build_rejects(void)
{
	struct meross_out ok = {"Appliance.Control.Bind", "SETACK", "/x", MID, NULL, 1, 0};
	struct meross_out o = ok;
	char *s = meross_msg_build(&o, NULL, KEY, strlen(KEY), NULL);
	CHECK(s != NULL);
	free(s);
	o = ok, o.namespace_ = NULL;
	CHECK(meross_msg_build(&o, NULL, KEY, strlen(KEY), NULL) == NULL);
	o = ok, o.namespace_ = "";
	CHECK(meross_msg_build(&o, NULL, KEY, strlen(KEY), NULL) == NULL);
	o = ok, o.method = NULL;
	CHECK(meross_msg_build(&o, NULL, KEY, strlen(KEY), NULL) == NULL);
	o = ok, o.from = NULL;
	CHECK(meross_msg_build(&o, NULL, KEY, strlen(KEY), NULL) == NULL);
	o = ok, o.timestamp_ms = 1000;
	CHECK(meross_msg_build(&o, NULL, KEY, strlen(KEY), NULL) == NULL);
	o = ok, o.timestamp_ms = -1;
	CHECK(meross_msg_build(&o, NULL, KEY, strlen(KEY), NULL) == NULL);
	o = ok, o.timestamp = -1;
	CHECK(meross_msg_build(&o, NULL, KEY, strlen(KEY), NULL) == NULL);
	o = ok, o.message_id = MID "0"; /* 33 chars: does not fit message_id_out */
	CHECK(meross_msg_build(&o, NULL, KEY, strlen(KEY), NULL) == NULL);
	char longfrom[300];
	memset(longfrom, 'f', 256);
	longfrom[256] = '\0';
	o = ok, o.from = longfrom;
	CHECK(meross_msg_build(&o, NULL, KEY, strlen(KEY), NULL) == NULL);
	longfrom[255] = '\0';
	s = meross_msg_build(&o, NULL, KEY, strlen(KEY), NULL);
	CHECK(s != NULL);
	free(s);
	o = ok;
	cJSON *arr = cJSON_CreateArray();
	CHECK(meross_msg_build(&o, arr, KEY, strlen(KEY), NULL) == NULL);
	cJSON_Delete(arr);
	CHECK(meross_msg_build(NULL, NULL, KEY, strlen(KEY), NULL) == NULL);
}

static void test_round_trip(void)
{
	struct meross_out o = {"Appliance.Control.ToggleX", "SET", "/app/1234-abc/subscribe", MID, "Android",
			       1714061186, 123};
	cJSON *pl = cJSON_Parse("{\"togglex\":{\"channel\":0,\"onoff\":1}}");
	char *s = meross_msg_build(&o, pl, KEY, strlen(KEY), NULL);
	CHECK(s != NULL);
	struct meross_msg m;
	char err[128] = "";
	CHECK_INT(parse_str(s, &m, err, sizeof err), 0);
	CHECK_STR(err, "");
	CHECK_STR(m.message_id, MID);
	CHECK_STR(m.namespace_, "Appliance.Control.ToggleX");
	CHECK_STR(m.method, "SET");
	CHECK_STR(m.from, "/app/1234-abc/subscribe");
	CHECK_STR(m.trigger_src, "Android");
	CHECK_STR(m.uuid, "");
	CHECK_INT(m.timestamp, 1714061186);
	CHECK_INT(m.timestamp_ms, 123);
	CHECK_INT(m.payload_version, 1);
	CHECK(m.header == NULL); /* read without a tree (strict JSON, no escapes in the header) */
	const cJSON *tx = cJSON_GetObjectItemCaseSensitive(m.payload, "togglex");
	CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(tx, "onoff")));
	CHECK_INT(meross_msg_verify(&m, KEY, strlen(KEY)), 1);
	CHECK_INT(meross_msg_verify(&m, KEY, strlen(KEY) - 1), 0);           /* wrong key (prefix) */
	CHECK_INT(meross_msg_verify(&m, "fedcba9876543210fedcba9876543210", 32), 0);
	CHECK_INT(meross_msg_verify(&m, "", 0), 0);
	CHECK_INT(meross_msg_verify(NULL, KEY, strlen(KEY)), 0);
	/* Sign compare is case-insensitive. */
	struct meross_msg up = m;
	for (char *p = up.sign; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	CHECK_INT(meross_msg_verify(&up, KEY, strlen(KEY)), 1);
	up.sign[31] = '\0';
	CHECK_INT(meross_msg_verify(&up, KEY, strlen(KEY)), 0);
	meross_msg_free(&m);
	CHECK(m.root == NULL && m.payload == NULL && m.header == NULL);
	meross_msg_free(&m); /* idempotent */

	/* Tampered timestamp: still parses, no longer verifies. */
	char *at = strstr(s, "\"timestamp\":1714061186");
	CHECK(at != NULL);
	if (at) {
		at[strlen("\"timestamp\":1714061186") - 1] = '7';
		CHECK_INT(parse_str(s, &m, err, sizeof err), 0);
		CHECK_INT(m.timestamp, 1714061187);
		CHECK_INT(meross_msg_verify(&m, KEY, strlen(KEY)), 0);
		meross_msg_free(&m);
	}
	/* timestampMs is not signed. */
	at = strstr(s, "\"timestampMs\":123");
	if (at) {
		at[strlen("\"timestampMs\":12")] = '4';
		CHECK_INT(parse_str(s, &m, err, sizeof err), 0);
		CHECK_INT(m.timestamp_ms, 124);
		meross_msg_free(&m);
	}
	free(s);
	cJSON_Delete(pl);
}

/* ---- echo (§3.2, §3.3) ------------------------------------------------------------------------------ */

static void test_echo(void)
{
	/* A Clock PUSH as a current device sends it (uuid in the header), signed with KEY. */
	char sign[33], req[1024];
	ref_sign(MID, KEY, strlen(KEY), 4, sign);
	snprintf(req, sizeof req,
		 "{\"header\":{\"messageId\":\"" MID "\",\"namespace\":\"Appliance.System.Clock\",\"method\":\"PUSH\","
		 "\"payloadVersion\":1,\"from\":\"/appliance/" UUID "/publish\",\"uuid\":\"" UUID "\","
		 "\"timestamp\":4,\"timestampMs\":257,\"sign\":\"%s\",\"triggerSrc\":\"DevBoot\"},"
		 "\"payload\":{\"clock\":{\"timestamp\":4}}}",
		 sign);
	struct meross_msg m;
	char err[128];
	CHECK_INT(parse_str(req, &m, err, sizeof err), 0);
	CHECK_STR(m.uuid, UUID);
	CHECK_STR(m.trigger_src, "DevBoot");
	CHECK_INT(meross_msg_verify(&m, KEY, strlen(KEY)), 1);

	cJSON *pl = cJSON_Parse("{\"clock\":{\"timestamp\":1714061186}}");
	char *s = meross_msg_echo(&m, "PUSH", "CloudControl", NULL, pl);
	char want[1024];
	snprintf(want, sizeof want,
		 "{\"header\":{\"messageId\":\"" MID "\",\"namespace\":\"Appliance.System.Clock\",\"method\":\"PUSH\","
		 "\"payloadVersion\":1,\"from\":\"/appliance/" UUID "/publish\",\"timestamp\":4,\"timestampMs\":257,"
		 "\"sign\":\"%s\",\"triggerSrc\":\"CloudControl\"},\"payload\":{\"clock\":{\"timestamp\":1714061186}}}",
		 sign);
	CHECK_STR(s, want);
	CHECK(s && !strstr(s, "\"uuid\""));
	struct meross_msg e;
	CHECK_INT(parse_str(s, &e, err, sizeof err), 0);
	CHECK_STR(e.message_id, m.message_id);
	CHECK_STR(e.sign, m.sign);
	CHECK_INT(e.timestamp, 4);
	CHECK_INT(e.timestamp_ms, 257);
	CHECK_STR(e.uuid, "");
	CHECK_INT(meross_msg_verify(&e, KEY, strlen(KEY)), 1); /* the device's own sign still verifies */
	meross_msg_free(&e);
	free(s);

	/* All NULL: method, from and triggerSrc of the request are kept. */
	s = meross_msg_echo(&m, NULL, NULL, NULL, NULL);
	CHECK(s && strstr(s, "\"method\":\"PUSH\",\"payloadVersion\":1,\"from\":\"/appliance/" UUID "/publish\""));
	CHECK(s && strstr(s, "\"triggerSrc\":\"DevBoot\"},\"payload\":{}}"));
	CHECK(s && !strstr(s, "uuid"));
	free(s);
	/* Replace method and from. */
	s = meross_msg_echo(&m, "SETACK", NULL, "/cloud/hook/subscribe", pl);
	CHECK_INT(parse_str(s ? s : "", &e, err, sizeof err), 0);
	CHECK_STR(e.method, "SETACK");
	CHECK_STR(e.from, "/cloud/hook/subscribe");
	CHECK_STR(e.trigger_src, "DevBoot");
	CHECK_STR(e.sign, sign);
	meross_msg_free(&e);
	free(s);
	/* Bad arguments. */
	CHECK(meross_msg_echo(&m, "", NULL, NULL, NULL) == NULL);
	CHECK(meross_msg_echo(&m, "METHODTOOLONGXXXX", NULL, NULL, NULL) == NULL);
	CHECK(meross_msg_echo(NULL, "PUSH", NULL, NULL, NULL) == NULL);
	cJSON *arr = cJSON_CreateArray();
	CHECK(meross_msg_echo(&m, "PUSH", NULL, NULL, arr) == NULL);
	cJSON_Delete(arr);
	meross_msg_free(&m);
	CHECK(meross_msg_echo(&m, "PUSH", NULL, NULL, NULL) == NULL); /* freed message */

	/* A request without timestampMs / triggerSrc / from / payloadVersion (old fw): echo omits
	 * timestampMs, from and triggerSrc, writes payloadVersion 1. ConsumptionConfig: same payload back. */
	snprintf(req, sizeof req,
		 "{\"header\":{\"messageId\":\"" MID "\",\"namespace\":\"Appliance.Control.ConsumptionConfig\","
		 "\"method\":\"PUSH\",\"timestamp\":437,\"sign\":\"%s\"},"
		 "\"payload\":{\"config\":{\"voltageRatio\":188,\"electricityRatio\":102,\"maxElectricityCurrent\":11000}}}",
		 sign);
	CHECK_INT(parse_str(req, &m, err, sizeof err), 0);
	CHECK_INT(m.timestamp_ms, -1);
	CHECK_INT(m.payload_version, -1);
	s = meross_msg_echo(&m, NULL, "CloudControl", NULL, m.payload);
	snprintf(want, sizeof want,
		 "{\"header\":{\"messageId\":\"" MID "\",\"namespace\":\"Appliance.Control.ConsumptionConfig\","
		 "\"method\":\"PUSH\",\"payloadVersion\":1,\"timestamp\":437,\"sign\":\"%s\",\"triggerSrc\":\"CloudControl\"},"
		 "\"payload\":{\"config\":{\"voltageRatio\":188,\"electricityRatio\":102,\"maxElectricityCurrent\":11000}}}",
		 sign);
	CHECK_STR(s, want);
	free(s);
	meross_msg_free(&m);
	cJSON_Delete(pl);
}

/* ---- parse: accepts ------------------------------------------------------------------------------ */

#define H0 "{\"header\":{\"messageId\":\"m\",\"namespace\":\"N\",\"method\":\"GET\",\"sign\":\"s\",\"timestamp\":"

static void test_parse_accepts(void)
{
	struct meross_msg m;
	char err[128];
	/* Minimal header; trailing JSON whitespace; timestamp 0. */
	CHECK_INT(parse_str(H0 "0},\"payload\":{}} \r\n\t", &m, err, sizeof err), 0);
	CHECK_INT(m.timestamp, 0);
	CHECK_INT(m.timestamp_ms, -1);
	CHECK_INT(m.payload_version, -1);
	CHECK_STR(m.from, "");
	CHECK(m.payload && m.payload->child == NULL);
	meross_msg_free(&m);
	/* Leading whitespace, 2^53 is the largest timestamp. */
	CHECK_INT(parse_str("\n " H0 "9007199254740992},\"payload\":{}}", &m, err, sizeof err), 0);
	CHECK_INT(m.timestamp, 9007199254740992LL);
	meross_msg_free(&m);
	/* 4.0 and 4e0 are the integer 4 (JSON cannot tell; a sender that signed "4.0" fails verify). */
	CHECK_INT(parse_str(H0 "4.0},\"payload\":{}}", &m, err, sizeof err), 0);
	CHECK_INT(m.timestamp, 4);
	meross_msg_free(&m);
	/* Duplicate keys: the first wins (cJSON). */
	CHECK_INT(parse_str(H0 "5,\"timestamp\":6},\"payload\":{}}", &m, err, sizeof err), 0);
	CHECK_INT(m.timestamp, 5);
	meross_msg_free(&m);
	/* Unknown header fields and extra top-level members are ignored. */
	CHECK_INT(parse_str(H0 "5,\"x\":[1]},\"payload\":{\"a\":1},\"extra\":true}", &m, err, sizeof err), 0);
	meross_msg_free(&m);
	/* Field lengths: limit - 1 fits. */
	char buf[1024], f95[96];
	memset(f95, 'n', 95);
	f95[95] = '\0';
	snprintf(buf, sizeof buf,
		 "{\"header\":{\"messageId\":\"m\",\"namespace\":\"%s\",\"method\":\"GETACKGETACKGET\",\"sign\":\"s\","
		 "\"timestamp\":1},\"payload\":{}}",
		 f95);
	CHECK_INT(parse_str(buf, &m, err, sizeof err), 0);
	CHECK_INT(strlen(m.namespace_), 95);
	CHECK_INT(strlen(m.method), 15);
	meross_msg_free(&m);
	/* Input without a NUL terminator, in an exact-size heap buffer (ASan catches overreads). */
	const char *src = H0 "7},\"payload\":{}}";
	size_t n = strlen(src);
	char *exact = malloc(n);
	memcpy(exact, src, n);
	CHECK_INT(meross_msg_parse(exact, n, &m, err, sizeof err), 0);
	CHECK_INT(m.timestamp, 7);
	meross_msg_free(&m);
	free(exact);
	/* err may be NULL. */
	CHECK_INT(meross_msg_parse("x", 1, &m, NULL, 0), -1);
}

/* ---- parse: rejects ------------------------------------------------------------------------------ */

static void test_parse_rejects(void)
{
	REJECT("", "empty");
	REJECT("not json", "not JSON");
	REJECT("{\"header\":", "not JSON");
	REJECT("[]", "not an object");
	REJECT("\"header\"", "not an object");
	REJECT("{}", "header missing");
	REJECT(H0 "1},\"payload\":{}}x", "trailing");
	REJECT(H0 "1},\"payload\":{}}{}", "trailing");
	REJECT(H0 "1},\"payload\":{}}\x01", "trailing");   /* cJSON would call this whitespace */
	REJECT(H0 "1},\"payload\":{}}\x0b", "trailing");   /* VT is not JSON whitespace */
	expect_reject(H0 "1},\"payload\":{}}\0", strlen(H0 "1},\"payload\":{}}") + 1, "NUL", __LINE__);
	static const char nul_in_string[] = "{\"header\":{\"messageId\":\"a\0b\"}}";
	expect_reject(nul_in_string, sizeof nul_in_string - 1, "NUL", __LINE__);
	REJECT("{\"header\":[],\"payload\":{}}", "header not an object");
	REJECT("{\"header\":\"h\",\"payload\":{}}", "header not an object");
	REJECT("{\"header\":null,\"payload\":{}}", "header not an object");
	REJECT("{\"Header\":{},\"payload\":{}}", "header missing"); /* case-sensitive */
	REJECT(H0 "1}}", "payload missing");
	REJECT(H0 "1},\"Payload\":{}}", "payload missing");
	REJECT(H0 "1},\"payload\":[]}", "payload not an object");
	REJECT(H0 "1},\"payload\":null}", "payload not an object");

	/* timestamp */
	REJECT(H0 "\"1714061186\"},\"payload\":{}}", "header.timestamp not a number");
	REJECT(H0 "4.5},\"payload\":{}}", "header.timestamp not an integer");
	REJECT(H0 "0.000001},\"payload\":{}}", "header.timestamp not an integer");
	REJECT(H0 "-1},\"payload\":{}}", "header.timestamp out of range");
	REJECT(H0 "1e300},\"payload\":{}}", "header.timestamp out of range");
	REJECT(H0 "1e400},\"payload\":{}}", "header.timestamp out of range"); /* inf */
	REJECT(H0 "9007199254740994},\"payload\":{}}", "header.timestamp out of range");
	REJECT(H0 "null},\"payload\":{}}", "header.timestamp not a number");
	REJECT(H0 "true},\"payload\":{}}", "header.timestamp not a number");
	REJECT("{\"header\":{\"messageId\":\"m\",\"namespace\":\"N\",\"method\":\"GET\",\"sign\":\"s\"},\"payload\":{}}",
	       "header.timestamp missing");
	REJECT("{\"header\":{\"messageId\":\"m\",\"namespace\":\"N\",\"method\":\"GET\",\"sign\":\"s\",\"Timestamp\":1},"
	       "\"payload\":{}}",
	       "header.timestamp missing");
	/* timestampMs (optional, 0..999) and payloadVersion (optional integer) */
	REJECT(H0 "1,\"timestampMs\":1000},\"payload\":{}}", "header.timestampMs out of range");
	REJECT(H0 "1,\"timestampMs\":-1},\"payload\":{}}", "header.timestampMs out of range");
	REJECT(H0 "1,\"timestampMs\":1.5},\"payload\":{}}", "header.timestampMs not an integer");
	REJECT(H0 "1,\"timestampMs\":\"0\"},\"payload\":{}}", "header.timestampMs not a number");
	REJECT(H0 "1,\"payloadVersion\":\"1\"},\"payload\":{}}", "header.payloadVersion not a number");
	REJECT(H0 "1,\"payloadVersion\":1.5},\"payload\":{}}", "header.payloadVersion not an integer");

	/* required strings */
	REJECT("{\"header\":{\"namespace\":\"N\",\"method\":\"GET\",\"sign\":\"s\",\"timestamp\":1},\"payload\":{}}",
	       "header.messageId missing");
	REJECT("{\"header\":{\"messageId\":1,\"namespace\":\"N\",\"method\":\"GET\",\"sign\":\"s\",\"timestamp\":1},"
	       "\"payload\":{}}",
	       "header.messageId not a string");
	REJECT("{\"header\":{\"messageId\":\"m\",\"method\":\"GET\",\"sign\":\"s\",\"timestamp\":1},\"payload\":{}}",
	       "header.namespace missing");
	REJECT("{\"header\":{\"messageId\":\"m\",\"namespace\":\"\",\"method\":\"GET\",\"sign\":\"s\",\"timestamp\":1},"
	       "\"payload\":{}}",
	       "header.namespace empty");
	REJECT("{\"header\":{\"messageId\":\"m\",\"namespace\":\"N\",\"sign\":\"s\",\"timestamp\":1},\"payload\":{}}",
	       "header.method missing");
	REJECT("{\"header\":{\"messageId\":\"m\",\"namespace\":\"N\",\"method\":\"GET\",\"timestamp\":1},\"payload\":{}}",
	       "header.sign missing");
	REJECT("{\"header\":{\"messageId\":\"m\",\"namespace\":\"N\",\"method\":\"GET\",\"sign\":null,\"timestamp\":1},"
	       "\"payload\":{}}",
	       "header.sign not a string");
	REJECT(H0 "1,\"from\":7},\"payload\":{}}", "header.from not a string");
	REJECT(H0 "1,\"uuid\":[]},\"payload\":{}}", "header.uuid not a string");

	/* over-long fields: refused, not truncated */
	char buf[2048], f[300];
	memset(f, 'n', 96);
	f[96] = '\0';
	snprintf(buf, sizeof buf,
		 "{\"header\":{\"messageId\":\"m\",\"namespace\":\"%s\",\"method\":\"GET\",\"sign\":\"s\",\"timestamp\":1},"
		 "\"payload\":{}}",
		 f);
	REJECT(buf, "header.namespace too long");
	snprintf(buf, sizeof buf,
		 "{\"header\":{\"messageId\":\"m\",\"namespace\":\"N\",\"method\":\"GETACKGETACKGETA\",\"sign\":\"s\","
		 "\"timestamp\":1},\"payload\":{}}");
	REJECT(buf, "header.method too long");
	memset(f, 'a', 64);
	f[64] = '\0';
	snprintf(buf, sizeof buf,
		 "{\"header\":{\"messageId\":\"%s\",\"namespace\":\"N\",\"method\":\"GET\",\"sign\":\"s\",\"timestamp\":1},"
		 "\"payload\":{}}",
		 f);
	REJECT(buf, "header.messageId too long");
	snprintf(buf, sizeof buf,
		 "{\"header\":{\"messageId\":\"m\",\"namespace\":\"N\",\"method\":\"GET\",\"sign\":\"%s\",\"timestamp\":1},"
		 "\"payload\":{}}",
		 f);
	REJECT(buf, "header.sign too long");
	snprintf(buf, sizeof buf, H0 "1,\"uuid\":\"%s\"},\"payload\":{}}", f);
	REJECT(buf, "header.uuid too long");
	memset(f, 't', 32);
	f[32] = '\0';
	snprintf(buf, sizeof buf, H0 "1,\"triggerSrc\":\"%s\"},\"payload\":{}}", f);
	REJECT(buf, "header.triggerSrc too long");
	memset(f, '/', 256);
	f[256] = '\0';
	snprintf(buf, sizeof buf, H0 "1,\"from\":\"%s\"},\"payload\":{}}", f);
	REJECT(buf, "header.from too long");
	f[255] = '\0';
	snprintf(buf, sizeof buf, H0 "1,\"from\":\"%s\"},\"payload\":{}}", f);
	struct meross_msg m;
	char err[128];
	CHECK_INT(parse_str(buf, &m, err, sizeof err), 0);
	meross_msg_free(&m);

	/* Size bound: exactly 64 KiB parses, 64 KiB + 1 is refused unparsed. */
	const char *base = H0 "1},\"payload\":{}}";
	size_t bl = strlen(base);
	char *big = malloc(MEROSS_MAX_MESSAGE + 1);
	memcpy(big, base, bl);
	memset(big + bl, ' ', MEROSS_MAX_MESSAGE + 1 - bl);
	CHECK_INT(meross_msg_parse(big, MEROSS_MAX_MESSAGE, &m, err, sizeof err), 0);
	meross_msg_free(&m);
	expect_reject(big, MEROSS_MAX_MESSAGE + 1, "too large", __LINE__);
	free(big);
}

/* ---- /raw text: the device's bytes without header.sign (meross_msg_unsigned_text) ------------------ */

/* What /raw showed before the splice (and still shows when the codec gives up): the whole message
 * parsed by cJSON, the header's first "sign" deleted, printed as the hub prints. NULL if not JSON. */
static char *tree_raw(const char *buf, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(buf, len);
	if (!root)
		return NULL;
	cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "header"), "sign");
	char *s = hub_json_print(root, NULL);
	cJSON_Delete(root);
	return s;
}

/* Splice buf (copied to an exact-size heap buffer: ASan sees overreads) and compare with tree_raw as
 * JSON values. want: the exact expected text, or NULL when the splice must give up. */
static void expect_unsigned(const char *buf, const char *want, int line)
{
	size_t len = strlen(buf);
	char *exact = malloc(len ? len : 1), *out = malloc(len ? len : 1);
	memcpy(exact, buf, len);
	size_t n = meross_msg_unsigned_text(exact, len, out, len);
	if (!want) {
		if (n != 0) {
			t_failed++;
			fprintf(stderr, "FAIL line %d: splice should give up on %s, gave %.*s\n", line, buf, (int)n, out);
		} else {
			t_passed++;
		}
		free(exact);
		free(out);
		return;
	}
	if (n != strlen(want) || memcmp(out, want, n) != 0) {
		t_failed++;
		fprintf(stderr, "FAIL line %d: splice of %s\n  gave %.*s\n  want %s\n", line, buf, (int)n, out, want);
	} else {
		t_passed++;
	}
	/* equal, as a JSON value, to the tree path's output: printed the same, and cJSON_Compare (which
	 * cannot tell trees with duplicate keys apart) agrees */
	char *tree = tree_raw(buf, len);
	cJSON *a = n ? cJSON_ParseWithLength(out, n) : NULL, *b = tree ? cJSON_Parse(tree) : NULL;
	char *printed = a ? hub_json_print(a, NULL) : NULL;
	if (!a || !b || !printed || strcmp(printed, tree) != 0 || !(cJSON_Compare(a, b, true) || strstr(want, "dup"))) {
		t_failed++;
		fprintf(stderr, "FAIL line %d: splice %.*s differs from tree %s\n", line, (int)n, out, tree ? tree : "(none)");
	} else {
		t_passed++;
	}
	/* one byte less of room is too little (no partial output), a larger buffer changes nothing */
	CHECK(n == 0 || meross_msg_unsigned_text(exact, len, out, n - 1) == 0);
	cJSON_Delete(a);
	cJSON_Delete(b);
	free(printed);
	free(tree);
	free(exact);
	free(out);
}
#define UNSIGNED(buf, want) expect_unsigned((buf), (want), __LINE__)

/* A seed file of the fuzz corpus: real device messages (meross.md §2-§3 captures). */
static char *read_vector(const char *name, size_t *len)
{
	const char *src = getenv("FC_SOURCE_DIR");
	char path[1024];
	snprintf(path, sizeof path, "%s/tests/fuzz/corpus/fuzz_meross_msg/%s", src ? src : ".", name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	static char buf[65536];
	*len = fread(buf, 1, sizeof buf - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static void test_unsigned_vectors(void)
{
	static const char *const names[] = {"bind_set.json", "bind_setack.json", "clock_push.json",
					    "consumptionconfig_push.json", "error_5001.json", "system_all_getack.json",
					    "togglex_push.json"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		size_t len = 0;
		char *v = read_vector(names[i], &len);
		CHECK(v != NULL);
		if (!v)
			continue;
		/* the vector parses on the fast path, and its /raw is its own text minus ,"sign":"<32 hex>" */
		struct meross_msg m;
		char err[128];
		CHECK_INT(meross_msg_parse(v, len, &m, err, sizeof err), 0);
		CHECK(m.header == NULL && cJSON_IsObject(m.payload));
		char want[65536], got[65536];
		char *at = strstr(v, ",\"sign\":\"");
		CHECK(at != NULL);
		if (!at) {
			meross_msg_free(&m);
			continue;
		}
		size_t cut = strlen(",\"sign\":\"") + 32 + 1;
		size_t end = len;
		while (end && (v[end - 1] == '\n' || v[end - 1] == '\r' || v[end - 1] == ' '))
			end--;
		memcpy(want, v, (size_t)(at - v));
		memcpy(want + (at - v), at + cut, end - (size_t)(at - v) - cut);
		want[end - cut] = '\0';
		UNSIGNED(v, want);
		size_t n = meross_msg_raw_text(&m, v, len, got, sizeof got);
		CHECK(n == strlen(want) && memcmp(got, want, n) == 0);
		meross_msg_free(&m);
	}
	/* The bench's and the simulator's ToggleX PUSH (uuid, sign last). */
	UNSIGNED("{\"header\":{\"messageId\":\"" MID "\",\"namespace\":\"Appliance.Control.ToggleX\",\"method\":\"PUSH\","
		 "\"payloadVersion\":1,\"from\":\"/appliance/" UUID "/publish\",\"uuid\":\"" UUID "\",\"timestamp\":1714061186,"
		 "\"timestampMs\":0,\"sign\":\"" MID "\"},\"payload\":{\"togglex\":[{\"channel\":0,\"onoff\":1,\"lmTime\":1}]}}",
		 "{\"header\":{\"messageId\":\"" MID "\",\"namespace\":\"Appliance.Control.ToggleX\",\"method\":\"PUSH\","
		 "\"payloadVersion\":1,\"from\":\"/appliance/" UUID "/publish\",\"uuid\":\"" UUID "\",\"timestamp\":1714061186,"
		 "\"timestampMs\":0},\"payload\":{\"togglex\":[{\"channel\":0,\"onoff\":1,\"lmTime\":1}]}}");
}

static void test_unsigned_tricky(void)
{
	/* position of sign in the header: first, last, middle, only */
	UNSIGNED("{\"header\":{\"sign\":\"s\",\"messageId\":\"m\"},\"payload\":{}}",
		 "{\"header\":{\"messageId\":\"m\"},\"payload\":{}}");
	UNSIGNED("{\"header\":{\"messageId\":\"m\",\"sign\":\"s\"},\"payload\":{}}",
		 "{\"header\":{\"messageId\":\"m\"},\"payload\":{}}");
	UNSIGNED("{\"header\":{\"a\":1,\"sign\":\"s\",\"b\":2},\"payload\":{}}", "{\"header\":{\"a\":1,\"b\":2},\"payload\":{}}");
	UNSIGNED("{\"header\":{\"sign\":\"s\"},\"payload\":{}}", "{\"header\":{},\"payload\":{}}");
	UNSIGNED("{\"payload\":{},\"header\":{\"sign\":\"s\"}}", "{\"payload\":{},\"header\":{}}");
	/* whitespace everywhere (kept, except around the whole value) */
	UNSIGNED(" \r\n\t{ \"header\" : { \"a\" : 1 ,\n \"sign\" : \"s\" , \"b\" : [ 1 , 2 ] } , \"payload\" : { } }\n",
		 "{ \"header\" : { \"a\" : 1 ,\n \"b\" : [ 1 , 2 ] } , \"payload\" : { } }");
	UNSIGNED("{ \"header\" : { \"a\" : 1 , \"sign\" : \"s\" } }", "{ \"header\" : { \"a\" : 1  } }");
	UNSIGNED("{ \"header\" : {\n\"sign\" : \"s\"\n} }", "{ \"header\" : {\n\n} }");
	UNSIGNED("{\"header\":{\"sign\" :\"s\"\t,\t\"m\":1}}", "{\"header\":{\"m\":1}}");
	/* "sign" inside strings and in the payload is not the header's */
	UNSIGNED("{\"payload\":{\"sign\":\"x\",\"v\":\"\\\"sign\\\":\\\"y\\\"\"},\"header\":{\"x\":\"sign\",\"sign\":\"s\"}}",
		 "{\"payload\":{\"sign\":\"x\",\"v\":\"\\\"sign\\\":\\\"y\\\"\"},\"header\":{\"x\":\"sign\"}}");
	UNSIGNED("{\"payload\":{\"header\":{\"sign\":\"p\"}},\"header\":{\"sign\":\"s\"}}",
		 "{\"payload\":{\"header\":{\"sign\":\"p\"}},\"header\":{}}");
	UNSIGNED("{\"header\":{\"signs\":1,\"Sign\":2,\"sig\":3,\"sign\":\"s\"}}", "{\"header\":{\"signs\":1,\"Sign\":2,\"sig\":3}}");
	UNSIGNED("{\"header\":{\"x\":{\"sign\":1},\"sign\":\"s\"}}", "{\"header\":{\"x\":{\"sign\":1}}}");
	/* escaped quotes and backslashes in values, other escapes, UTF-8 */
	UNSIGNED("{\"header\":{\"from\":\"a\\\"b\\\\\",\"sign\":\"s\\\"q\\\\\",\"t\":\"\\\\\"},\"payload\":{\"t\":\"\\\\\\\"\"}}",
		 "{\"header\":{\"from\":\"a\\\"b\\\\\",\"t\":\"\\\\\"},\"payload\":{\"t\":\"\\\\\\\"\"}}");
	UNSIGNED("{\"header\":{\"sign\":\"s\",\"u\":\"\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\"},\"payload\":{\"x\":\"\xc3\xa9\"}}",
		 "{\"header\":{\"u\":\"\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\"},\"payload\":{\"x\":\"\xc3\xa9\"}}");
	/* the value of sign may be anything; numbers, literals and nesting elsewhere */
	UNSIGNED("{\"header\":{\"sign\":{\"sign\":[1,{\"a\":\"}\"}]},\"m\":1}}", "{\"header\":{\"m\":1}}");
	UNSIGNED("{\"header\":{\"n\":-0.5e-3,\"z\":0,\"t\":true,\"f\":false,\"u\":null,\"sign\":1E+2},\"p\":[[],{},-1.25E2]}",
		 "{\"header\":{\"n\":-0.5e-3,\"z\":0,\"t\":true,\"f\":false,\"u\":null},\"p\":[[],{},-1.25E2]}");
	/* duplicates: cJSON's lookups take the first header and its first sign */
	UNSIGNED("{\"header\":{\"sign\":\"a\",\"sign\":\"b\"}}", "{\"header\":{\"sign\":\"b\"}}");
	UNSIGNED("{\"header\":{\"sign\":\"a\"},\"header\":{\"sign\":\"dup\"}}", "{\"header\":{},\"header\":{\"sign\":\"dup\"}}");

	/* gives up: not found */
	UNSIGNED("{\"header\":{\"messageId\":\"m\"},\"payload\":{\"sign\":\"s\"}}", NULL);
	UNSIGNED("{\"payload\":{\"header\":{\"sign\":\"s\"}}}", NULL);
	UNSIGNED("{\"header\":[{\"sign\":\"s\"}]}", NULL);
	UNSIGNED("{\"header\":\"sign\"}", NULL);
	UNSIGNED("[{\"header\":{\"sign\":\"s\"}}]", NULL);
	/* gives up: keys with escapes at the levels it looks at (cJSON decodes them) */
	UNSIGNED("{\"header\":{\"si\\u0067n\":\"s\",\"sign\":\"t\"}}", NULL);
	UNSIGNED("{\"head\\u0065r\":{\"sign\":\"x\"},\"header\":{\"sign\":\"s\"}}", NULL);
	UNSIGNED("{\"header\":{\"sign\":\"s\"},\"payload\":{\"k\\\"ey\":1}}", "{\"header\":{},\"payload\":{\"k\\\"ey\":1}}");
	/* gives up: what the tree path would print differently, or what is not strict JSON */
	UNSIGNED("{\"header\":{\"sign\":\"s\",\"x\":\"a\\u0000b\"}}", NULL); /* cJSON cuts the string */
	UNSIGNED("{\"header\":{\"sign\":\"s\",\"x\":\"\\ud800\"}}", NULL);   /* cJSON refuses these */
	UNSIGNED("{\"header\":{\"sign\":\"s\",\"x\":\"\\udc00\\ud800\"}}", NULL);
	UNSIGNED("{\"header\":{\"sign\":\"s\",\"x\":\"\\ud800\\u0041\"}}", NULL);
	UNSIGNED("{\"header\":{\"sign\":\"s\"},\"p\":1e400}", NULL);       /* inf: printed as null */
	UNSIGNED("{\"header\":{\"sign\":\"s\"},\"p\":1e300}", NULL);       /* too close to call */
	UNSIGNED("{\"header\":{\"sign\":\"s\"},\"p\":1e-400}", "{\"header\":{},\"p\":1e-400}");
	UNSIGNED("{\"header\":{\"sign\":\"s\"},\"p\":012}", NULL);
	UNSIGNED("{\"header\":{\"sign\":\"s\"},\"p\":1.}", NULL);
	UNSIGNED("{\"header\":{\"sign\":\"s\"},\"p\":-}", NULL);
	UNSIGNED("{\"header\":{\"sign\":\"s\"},\"p\":+1}", NULL);
	UNSIGNED("{\"header\":{\"sign\":\"s\"},\"p\":1234567890123456789012345678901234567890123456789012345678901234}",
		 NULL); /* 64 digits: more than cJSON reads */
	UNSIGNED("{\"header\":{\"sign\":\"s\",\"x\":\"a\tb\"}}", NULL);  /* raw control byte in a string */
	UNSIGNED("{\"header\":{\"sign\":\"s\"},\f\"p\":1}", NULL);        /* cJSON skips any byte <= 0x20 */
	UNSIGNED("\xef\xbb\xbf{\"header\":{\"sign\":\"s\"}}", NULL);     /* BOM */
	UNSIGNED("{\"header\":{\"sign\":\"s\"}} x", NULL);
	UNSIGNED("{\"header\":{\"sign\":\"s\"}}{}", NULL);
	UNSIGNED("{\"header\":{\"sign\":\"s\",}}", NULL);
	UNSIGNED("{\"header\":{\"sign\":\"s\" \"m\":1}}", NULL);
	UNSIGNED("{\"header\":{\"sign\":\"s\"},\"x\":tru}", NULL);
	UNSIGNED("{\"header\":{\"sign\":\"s\",\"x\":\"\\x\"}}", NULL);
	UNSIGNED("", NULL);
	UNSIGNED("   ", NULL);
	/* nesting: 64 levels below the root are fine, 65 are not */
	{
		char deep[512];
		for (int levels = 64; levels <= 65; levels++) {
			int n = snprintf(deep, sizeof deep, "{\"header\":{\"sign\":\"s\"},\"p\":");
			for (int i = 0; i < levels; i++)
				deep[n++] = '[';
			for (int i = 0; i < levels; i++)
				deep[n++] = ']';
			deep[n++] = '}';
			deep[n] = '\0';
			size_t len = (size_t)n;
			char out[512];
			CHECK_INT(meross_msg_unsigned_text(deep, len, out, sizeof out) != 0, levels == 64);
		}
	}
	/* every prefix of a message is refused, without reading past it (exact-size copies for ASan) */
	const char *full = "{\"header\":{\"a\":\"x\\\"y\",\"sign\":\"s\",\"n\":[1,-2.5e3,{\"k\":null}]},\"payload\":{\"t\":true}}";
	for (size_t k = 0; k < strlen(full); k++) {
		char *p = malloc(k ? k : 1), out[256];
		memcpy(p, full, k);
		CHECK_INT(meross_msg_unsigned_text(p, k, out, sizeof out), 0);
		free(p);
	}
	/* bad arguments and the size bound */
	char out[64];
	CHECK_INT(meross_msg_unsigned_text(NULL, 5, out, sizeof out), 0);
	CHECK_INT(meross_msg_unsigned_text("{\"header\":{\"sign\":1}}", 21, NULL, 0), 0);
	char *big = malloc(MEROSS_MAX_MESSAGE + 2), *bigout = malloc(MEROSS_MAX_MESSAGE + 2);
	const char *head = "{\"header\":{\"sign\":\"s\"}}";
	memcpy(big, head, strlen(head));
	memset(big + strlen(head), ' ', MEROSS_MAX_MESSAGE + 2 - strlen(head));
	CHECK_INT(meross_msg_unsigned_text(big, MEROSS_MAX_MESSAGE, bigout, MEROSS_MAX_MESSAGE), strlen("{\"header\":{}}"));
	CHECK_INT(meross_msg_unsigned_text(big, MEROSS_MAX_MESSAGE + 1, bigout, MEROSS_MAX_MESSAGE + 1), 0);
	free(big);
	free(bigout);
}

/* ---- parse: the fast path (header without a tree) and the full tree agree --------------------------- */

static void expect_same_parse(const char *buf, bool fast, int line)
{
	struct meross_msg a, b;
	char ea[128] = "", eb[128] = "";
	size_t len = strlen(buf);
	int ra = meross_msg_parse(buf, len, &a, ea, sizeof ea), rb = meross_msg_parse_tree(buf, len, &b, eb, sizeof eb);
	bool same = ra == rb && strcmp(ea, eb) == 0;
	if (same && ra == 0) {
		same = !strcmp(a.message_id, b.message_id) && !strcmp(a.namespace_, b.namespace_) &&
		       !strcmp(a.method, b.method) && !strcmp(a.from, b.from) && !strcmp(a.sign, b.sign) &&
		       !strcmp(a.trigger_src, b.trigger_src) && !strcmp(a.uuid, b.uuid) && a.timestamp == b.timestamp &&
		       a.timestamp_ms == b.timestamp_ms && a.payload_version == b.payload_version &&
		       a.has_from == b.has_from && a.has_trigger_src == b.has_trigger_src &&
		       cJSON_Compare(a.payload, b.payload, true) && cJSON_IsObject(b.header);
		if ((a.header == NULL) != fast) {
			fprintf(stderr, "FAIL line %d: expected the %s path\n", line, fast ? "fast" : "tree");
			same = false;
		}
	}
	if (!same) {
		t_failed++;
		fprintf(stderr, "FAIL line %d: parse paths differ on %s (%d \"%s\" / %d \"%s\")\n", line, buf, ra, ea, rb, eb);
	} else {
		t_passed++;
	}
	meross_msg_free(&a);
	meross_msg_free(&b);
}
#define SAME_PARSE(buf, fast) expect_same_parse((buf), (fast), __LINE__)

static void test_parse_paths(void)
{
	SAME_PARSE(H0 "1},\"payload\":{}}", true);
	SAME_PARSE(H0 "1,\"from\":\"\",\"triggerSrc\":\"\",\"uuid\":\"u\",\"timestampMs\":999,\"payloadVersion\":2147483647},"
		      "\"payload\":{\"a\":[1,2,{\"b\":\"\\u00e9\"}]},\"extra\":[{}]}",
		   true);
	SAME_PARSE(H0 "9007199254740992},\"payload\":{}}", true);
	SAME_PARSE(H0 "-0,\"timestampMs\":-0},\"payload\":{}}", true);
	SAME_PARSE(H0 "5,\"timestamp\":6,\"sign\":\"t\",\"header\":1},\"payload\":{},\"payload\":[],\"header\":2}", true);
	SAME_PARSE(" {\"payload\":{\"x\":1} , \"header\":{\"sign\":\"s\",\"method\":\"PUSH\",\"namespace\":\"n\","
		   "\"timestamp\":1,\"messageId\":\"\"}}\n",
		   true);
	/* the tree decides: escapes in header strings or keys, non-integer numbers, lenient JSON */
	SAME_PARSE(H0 "1,\"from\":\"a\\/b\"},\"payload\":{}}", false);
	SAME_PARSE("{\"header\":{\"messageId\":\"\\u0041\",\"namespace\":\"N\",\"method\":\"GET\",\"sign\":\"s\","
		   "\"timestamp\":1},\"payload\":{}}",
		   false);
	SAME_PARSE(H0 "1,\"si\\u0067n\":\"x\"},\"payload\":{}}", false);
	SAME_PARSE(H0 "4.0},\"payload\":{}}", false);
	SAME_PARSE(H0 "4e0},\"payload\":{}}", false);
	SAME_PARSE(H0 "007},\"payload\":{}}", false);
	SAME_PARSE(H0 "9007199254740993},\"payload\":{}}", false); /* strtod rounds it to 2^53 */
	SAME_PARSE(H0 "1,\"x\":1e999},\"payload\":{}}", false);
	SAME_PARSE(H0 "1},\"payload\":{\"x\":\"a\x01" "b\"}}", false);
	SAME_PARSE(H0 "1},\x0b\"payload\":{}}", false);
	/* errors: identical on both (the tree path gives them) */
	SAME_PARSE(H0 "1,\"x\":\"\\ud800\"},\"payload\":{}}", false);
	SAME_PARSE(H0 "1},\"payload\":{},\"x\":\"\\udc00\"}", false);
	SAME_PARSE(H0 "1},\"payload\":{\"x\":\"\\ud800\"}}", false);
	SAME_PARSE(H0 "-1},\"payload\":{}}", false);
	SAME_PARSE(H0 "9007199254740994},\"payload\":{}}", false);
	SAME_PARSE(H0 "1,\"timestampMs\":1000},\"payload\":{}}", false);
	SAME_PARSE(H0 "1,\"from\":7},\"payload\":{}}", false);
	SAME_PARSE(H0 "1},\"payload\":[]}", false);
	SAME_PARSE(H0 "1}}", false);
	SAME_PARSE("{\"header\":{\"messageId\":\"m\",\"namespace\":\"\",\"method\":\"GET\",\"sign\":\"s\",\"timestamp\":1},"
		   "\"payload\":{}}",
		   false);
	SAME_PARSE("{\"header\":{\"namespace\":\"N\",\"method\":\"GET\",\"sign\":\"s\",\"timestamp\":1},\"payload\":{}}", false);
	/* echo keeps optional fields exactly when the request had them, on either path */
	struct meross_msg m;
	char err[128];
	CHECK_INT(parse_str(H0 "1,\"from\":\"\"},\"payload\":{}}", &m, err, sizeof err), 0);
	CHECK(m.header == NULL && m.has_from && !m.has_trigger_src);
	char *s = meross_msg_echo(&m, NULL, NULL, NULL, NULL);
	CHECK(s && strstr(s, "\"from\":\"\"") && !strstr(s, "triggerSrc"));
	free(s);
	meross_msg_free(&m);
	CHECK_INT(meross_msg_parse_tree(H0 "1,\"from\":\"\"},\"payload\":{}}", strlen(H0 "1,\"from\":\"\"},\"payload\":{}}"),
				       &m, err, sizeof err),
		  0);
	s = meross_msg_echo(&m, NULL, NULL, NULL, NULL);
	CHECK(s && strstr(s, "\"from\":\"\"") && !strstr(s, "triggerSrc"));
	free(s);
	/* /raw of a message read on the tree path: the splice scans again */
	char out[256];
	const char *t = H0 "1,\"from\":\"a\\/b\"},\"payload\":{}}";
	meross_msg_free(&m);
	CHECK_INT(meross_msg_parse(t, strlen(t), &m, err, sizeof err), 0);
	CHECK(m.header != NULL && m.raw_cut.stop == 0);
	size_t n = meross_msg_raw_text(&m, t, strlen(t), out, sizeof out);
	const char *want = "{\"header\":{\"messageId\":\"m\",\"namespace\":\"N\",\"method\":\"GET\",\"timestamp\":1,"
			   "\"from\":\"a\\/b\"},\"payload\":{}}";
	CHECK(n == strlen(want) && memcmp(out, want, n) == 0);
	meross_msg_free(&m);
}

int main(void)
{
	test_password_vectors();
	test_password_parse();
	test_client_ids();
	test_mac();
	test_sign();
	test_build_exact();
	test_build_random_id();
	test_build_rejects();
	test_round_trip();
	test_echo();
	test_parse_accepts();
	test_parse_rejects();
	test_unsigned_vectors();
	test_unsigned_tricky();
	test_parse_paths();
	return t_done();
}
