/* Fuzz the Tuya url_config request parser (vendors/tuya/codec.h, tuya.md §1.2). A parsed request must
 * respect its bounds; the reply builder is exercised with the input (NUL-terminated) as the host name and
 * must either refuse it or produce JSON that parses. */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vendors/tuya/codec.h"

static void require(bool ok)
{
	if (!ok)
		abort();
}

static void check_reply(const struct tuya_url_config_opts *o)
{
	char err[128];
	char *r = tuya_url_config_reply(o, err, sizeof err);
	if (!r) {
		require(err[0] != '\0');
		return;
	}
	cJSON *j = cJSON_Parse(r);
	require(cJSON_IsObject(j) && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "caArr")));
	require(cJSON_GetObjectItemCaseSensitive(j, "httpUrl") && cJSON_GetObjectItemCaseSensitive(j, "mqttUrl"));
	cJSON_Delete(j);
	free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[128];
	struct tuya_url_config_req r;
	if (tuya_url_config_parse(data, size, &r, err, sizeof err) == 0) {
		require(strlen(r.region) < sizeof r.region && strlen(r.env) < sizeof r.env);
		require(strlen(r.uuid) < sizeof r.uuid && strlen(r.sign) < sizeof r.sign);
		require(r.n_config <= 64 && (r.need_ca & ~r.keys) == 0 && r.keys <= 0x7f);
		require(r.has_ts || r.ts == 0);
		struct tuya_url_config_opts o = {.host = "10.204.0.1", .https_psk_port = r.keys & 4 ? 443 : 0,
						 .mqtts_psk_port = r.keys & 8 ? 8886 : 0, .legacy = r.region[0] == 'L'};
		check_reply(&o);
	} else {
		require(err[0] != '\0' && r.keys == 0 && r.region[0] == '\0');
	}

	char *host = malloc(size + 1);
	require(host != NULL);
	if (size)
		memcpy(host, data, size);
	host[size] = '\0';
	struct tuya_url_config_opts o = {.host = host, .http_port = (uint16_t)size, .https_psk_port = 4433,
					 .mqtts_psk_port = 8886, .legacy = size & 1};
	check_reply(&o);
	free(host);
	return 0;
}
