/* Fuzz the Tuya ATOP body decoder and response opener (vendors/tuya/codec.h, tuya.md §1.3/§1.4). The input
 * is decoded as a request body with et absent, 1 and 3 and opened as an encrypted response envelope
 * (ECB, GCM), all with one fixed key (the seeds are encrypted with it). Whatever decodes is re-encoded
 * (body and response envelope) and must decode back to the same plaintext. */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vendors/tuya/codec.h"

#define FUZZ_KEY "0000000000000000"

static void require(bool ok)
{
	if (!ok)
		abort();
}

static void roundtrip(const struct tuya_atop_body *b, enum tuya_et et)
{
	static const uint8_t nonce[12] = "0123456789ab";
	char err[128];
	char *enc = tuya_atop_body_encode(b->json, b->json_len, et, FUZZ_KEY, 16, nonce, err, sizeof err);
	require(enc != NULL);
	struct tuya_atop_body b2;
	require(tuya_atop_body_decode(enc, strlen(enc), et, FUZZ_KEY, 16, &b2, err, sizeof err) == 0);
	require(b2.json_len == b->json_len && memcmp(b2.json, b->json, b->json_len) == 0);
	tuya_atop_body_free(&b2);
	free(enc);

	if (et == TUYA_ET_NONE)
		return;
	char *env = tuya_atop_envelope(b->json, b->json_len, et, 1700000000, FUZZ_KEY, 16, NULL, err, sizeof err);
	require(env != NULL);
	int64_t t = 0;
	bool ok = false;
	require(tuya_atop_response_open(env, strlen(env), et, FUZZ_KEY, 16, &b2, &t, &ok, err, sizeof err) == 0);
	require(ok && t == 1700000000 && b2.json_len == b->json_len && memcmp(b2.json, b->json, b->json_len) == 0);
	tuya_atop_body_free(&b2);
	free(env);

	char *resp = tuya_atop_response(b->root, et, 1700000001, FUZZ_KEY, 16, err, sizeof err);
	if (!resp) { /* re-printing escapes raw control bytes (\u00XX) and may outgrow TUYA_MAX_JSON */
		require(strstr(err, "too large") != NULL);
		return;
	}
	require(tuya_atop_response_open(resp, strlen(resp), et, FUZZ_KEY, 16, &b2, &t, &ok, err, sizeof err) == 0);
	require(ok && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b2.root, "success")));
	tuya_atop_body_free(&b2);
	free(resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum tuya_et ets[] = {TUYA_ET_NONE, TUYA_ET_ECB, TUYA_ET_GCM, TUYA_ET_UNKNOWN};
	char err[128];
	struct tuya_atop_body b;
	for (size_t i = 0; i < sizeof ets / sizeof ets[0]; i++) {
		int rc = tuya_atop_body_decode(data, size, ets[i], FUZZ_KEY, 16, &b, err, sizeof err);
		if (rc != 0) {
			require((rc == TUYA_EFORMAT || rc == TUYA_EKEY) && !b.json && !b.root && err[0]);
			continue;
		}
		require(ets[i] != TUYA_ET_UNKNOWN);
		if (b.json) {
			require(cJSON_IsObject(b.root) && strlen(b.json) == b.json_len && b.json_len <= TUYA_MAX_JSON);
			roundtrip(&b, b.enc);
		} else {
			require(!b.root);
		}
		tuya_atop_body_free(&b);
	}
	/* Without a key, et absent can only yield plaintext. */
	if (tuya_atop_body_decode(data, size, TUYA_ET_NONE, NULL, 0, &b, err, sizeof err) == 0) {
		require(b.enc == TUYA_ET_NONE);
		tuya_atop_body_free(&b);
	}
	for (size_t i = 1; i < 3; i++) {
		int64_t t;
		bool ok;
		int rc = tuya_atop_response_open(data, size, ets[i], FUZZ_KEY, 16, &b, &t, &ok, err, sizeof err);
		if (rc == 0) {
			require(cJSON_IsObject(b.root) && t >= 0);
			tuya_atop_body_free(&b);
		} else {
			require(!b.json && !b.root && err[0]);
		}
	}
	return 0;
}
