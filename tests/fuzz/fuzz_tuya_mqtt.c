/* Fuzz the Tuya MQTT payload decoder (vendors/tuya/codec.h, tuya.md §3), lenient and strict, with one fixed
 * localKey (the seeds are encrypted with it). A decoded message is re-encoded in its own version with its
 * own seq/source — as JSON text and through the envelope builder — and must decode back unchanged. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[128];
	struct tuya_mqtt_msg m, s, r;
	int rc = tuya_mqtt_decode(data, size, FUZZ_KEY, 16, 0, &m, err, sizeof err);
	int src = tuya_mqtt_decode(data, size, FUZZ_KEY, 16, TUYA_MQTT_STRICT, &s, err, sizeof err);
	if (rc != 0) {
		require((rc == TUYA_EFORMAT || rc == TUYA_EKEY) && !m.root && !m.json && !m.data && err[0]);
		require(src != 0 && !s.root);
		return 0;
	}
	require(m.root && m.data && m.json && strlen(m.json) == m.json_len && m.protocol >= 0);
	require(m.pv == TUYA_PV_21 || m.pv == TUYA_PV_22 || m.pv == TUYA_PV_23);
	require((src == 0) == m.integrity_ok);
	if (src == 0) {
		require(s.json_len == m.json_len && memcmp(s.json, m.json, m.json_len) == 0);
		tuya_mqtt_msg_free(&s);
	}

	struct tuya_mqtt_out o = {.pv = m.pv, .seq = m.seq, .source = m.source};
	uint8_t *out = NULL;
	size_t n = 0;
	require(tuya_mqtt_encode_json(&o, m.json, m.json_len, FUZZ_KEY, 16, &out, &n, err, sizeof err) == 0);
	require(n <= TUYA_MQTT_MAX || m.pv == TUYA_PV_21);
	if (n <= TUYA_MQTT_MAX) {
		require(tuya_mqtt_decode(out, n, FUZZ_KEY, 16, TUYA_MQTT_STRICT, &r, err, sizeof err) == 0);
		require(r.pv == m.pv && r.seq == m.seq && r.source == m.source && r.protocol == m.protocol);
		require(r.json_len == m.json_len && memcmp(r.json, m.json, m.json_len) == 0);
		tuya_mqtt_msg_free(&r);
	}
	free(out);

	if (m.has_t) {
		if (tuya_mqtt_encode(&o, m.protocol, m.data, m.t, FUZZ_KEY, 16, &out, &n, err, sizeof err) == 0) {
			if (n <= TUYA_MQTT_MAX) {
				require(tuya_mqtt_decode(out, n, FUZZ_KEY, 16, TUYA_MQTT_STRICT, &r, err, sizeof err) == 0);
				require(r.protocol == m.protocol && r.has_t && r.t == m.t);
				/* compare printed forms: cJSON prints inf (from 1e400) as null */
				char *pr = cJSON_PrintUnformatted(r.data), *pm = cJSON_PrintUnformatted(m.data);
				require(pr && pm && strcmp(pr, pm) == 0);
				cJSON_free(pr);
				cJSON_free(pm);
				if (m.pv == TUYA_PV_21)
					require(r.has_s && r.s == (int64_t)m.seq);
				tuya_mqtt_msg_free(&r);
			}
			free(out);
		} else {
			require(err[0]); /* only a plaintext that outgrew TUYA_MAX_JSON after re-printing */
		}
	}
	tuya_mqtt_msg_free(&m);
	tuya_mqtt_msg_free(&m);
	return 0;
}
