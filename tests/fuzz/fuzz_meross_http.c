/* Fuzz the Meross app API request parsing (vendors/meross/http.c): the bounded x-www-form-urlencoded
 * reader and the signed envelope (JSON or form body, params = base64 JSON, sign = md5(SECRET + timestamp
 * + nonce + params)). Invariants are checked (abort on violation). The seeds in corpus/fuzz_meross_http
 * are correctly signed, so mutations reach the params decoding. */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vendors/meross/meross_internal.h"

static void require(bool ok)
{
	if (!ok)
		abort();
}

static void form(const uint8_t *data, size_t size, const char *key, size_t cap)
{
	char *out = malloc(cap ? cap : 1);
	if (!out)
		abort();
	int n = meross_form_value(data, size, key, out, cap);
	require(n >= -2);
	if (n >= 0) {
		require((size_t)n < cap && strlen(out) == (size_t)n);
		require((size_t)n <= size); /* decoding never grows */
	} else if (cap > 0) {
		require(out[0] == '\0'); /* absent or malformed: an empty string, never a partial value */
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = {"params", "sign", "timestamp", "nonce", "p", "%70arams"};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		form(data, size, keys[i], size + 1);
		form(data, size, keys[i], 4);
		form(data, size, keys[i], 1);
	}
	form(data, size, "params", 0);

	struct meross_api_req r;
	char info[160];
	int rc = meross_api_parse(data, size, &r, info, sizeof info);
	if (rc == 0) {
		require(cJSON_IsObject(r.params));
		require(r.timestamp[0] && strspn(r.timestamp, "0123456789") == strlen(r.timestamp));
		require(r.timestamp_ms >= 0 && r.nonce[0]);
		/* the decoded params survive a print/parse round trip */
		char *s = cJSON_PrintUnformatted(r.params);
		require(s != NULL);
		cJSON *again = cJSON_Parse(s);
		require(cJSON_IsObject(again));
		cJSON_Delete(again);
		cJSON_free(s);
	} else {
		require(rc == 5000 && r.params == NULL && info[0]);
	}
	meross_api_req_free(&r);
	/* A tiny info buffer must not overflow either. */
	char tiny[2];
	rc = meross_api_parse(data, size, &r, tiny, sizeof tiny);
	meross_api_req_free(&r);
	return 0;
}
