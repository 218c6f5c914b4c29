/* Fuzz the Tuya LAN frame decoder (55AA, protocol 3.3) and the AP-mode config datagram decoder
 * (vendors/tuya/lan.c; tuya.md §5, §4.2) with one fixed localKey (the seeds are encrypted with it).
 *
 * Each input is decoded as it is, and once more "repaired" (prefix, length field, CRC and suffix made
 * right) so that mutations reach the return-code guess, the 3.3 header, decryption and the JSON checks
 * instead of stopping at the CRC. A decoded frame is re-encoded with its own seq/cmd/retcode/payload and
 * must decode back unchanged; a decoded AP config is rebuilt from its ssid/passwd/token and must carry
 * the same values. */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "vendors/tuya/tuya_internal.h"

#define FUZZ_KEY "0000000000000000"

static void require(bool ok)
{
	if (!ok)
		abort();
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void check_lan(const uint8_t *data, size_t size)
{
	char err[160];
	struct tuya_lan_frame f;
	long fl = tuya_lan_frame_len(data, size);
	require(fl >= -1 && fl <= (long)size && fl <= TUYA_LAN_MAX);
	int rc = tuya_lan_decode(data, size, FUZZ_KEY, &f, err, sizeof err);
	if (rc != 0) {
		require((rc == TUYA_EFORMAT || rc == TUYA_EKEY) && err[0] && !f.payload && !f.payload_len);
		return;
	}
	/* a decodable frame is exactly one whole frame */
	require(fl == (long)size);
	require(size == 0 || tuya_lan_frame_len(data, size - 1) == 0);
	require(!f.has_retcode || f.retcode <= 255);
	require(f.has_retcode || f.retcode == 0);
	require((f.payload == NULL) == (f.payload_len == 0));
	if (f.payload)
		require(f.payload[f.payload_len] == '\0' && strlen((const char *)f.payload) == f.payload_len);

	uint8_t *out = NULL;
	size_t n = 0;
	rc = tuya_lan_encode(f.seq, f.cmd, f.has_retcode, f.retcode, (const char *)f.payload, f.payload_len, FUZZ_KEY,
			     &out, &n, err, sizeof err);
	if (rc != 0) {
		/* only when the 3.3 header the command needs pushes it over the limit */
		require(rc == TUYA_EFORMAT && !out && size + 15 > TUYA_LAN_MAX);
	} else {
		struct tuya_lan_frame r;
		require(tuya_lan_frame_len(out, n) == (long)n);
		require(tuya_lan_decode(out, n, FUZZ_KEY, &r, err, sizeof err) == 0);
		require(r.seq == f.seq && r.cmd == f.cmd && r.has_retcode == f.has_retcode && r.retcode == f.retcode);
		require(r.payload_len == f.payload_len &&
			(!f.payload_len || memcmp(r.payload, f.payload, f.payload_len) == 0));
		tuya_lan_frame_free(&r);
		free(out);
	}
	tuya_lan_frame_free(&f);
	tuya_lan_frame_free(&f);
}

static const char *member(const cJSON *o, const char *name, bool *bad)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	if (!v)
		return NULL;
	if (!cJSON_IsString(v)) {
		*bad = true;
		return NULL;
	}
	return v->valuestring;
}

static void check_ap(const uint8_t *data, size_t size)
{
	char err[160], *json = NULL;
	int rc = tuya_ap_config_decode(data, size, &json, err, sizeof err);
	if (rc != 0) {
		require(rc == TUYA_EFORMAT && !json && err[0]);
		return;
	}
	require(json && strlen(json) == size - 24);
	cJSON *o = cJSON_Parse(json);
	require(cJSON_IsObject(o));
	bool bad = false;
	const char *ssid = member(o, "ssid", &bad), *passwd = member(o, "passwd", &bad), *token = member(o, "token", &bad);
	uint8_t out[512];
	size_t n = 0;
	if (!bad && ssid &&
	    tuya_ap_config_encode(ssid, passwd, token, out, sizeof out, &n, err, sizeof err) == 0) {
		char *back = NULL;
		require(n <= 256 && tuya_ap_config_decode(out, n, &back, err, sizeof err) == 0);
		cJSON *b = cJSON_Parse(back);
		bool bbad = false;
		const char *s2 = member(b, "ssid", &bbad), *p2 = member(b, "passwd", &bbad), *t2 = member(b, "token", &bbad);
		require(!bbad && s2 && t2 && strcmp(s2, ssid) == 0 && strcmp(t2, token ? token : "") == 0);
		require(passwd && passwd[0] ? p2 && strcmp(p2, passwd) == 0 : p2 == NULL);
		cJSON_Delete(b);
		free(back);
	}
	cJSON_Delete(o);
	free(json);
}

/* The input with a right prefix, length field, CRC and suffix (>= 24 bytes only). */
static void repaired(const uint8_t *data, size_t size, bool ap)
{
	if (size < 24 || size > TUYA_LAN_MAX)
		return;
	uint8_t *b = malloc(size);
	require(b != NULL);
	memcpy(b, data, size);
	put_be32(b, 0x000055AA);
	if (ap) {
		put_be32(b + 4, 0);
		put_be32(b + 8, 1);
	}
	put_be32(b + 12, (uint32_t)(size - 16));
	put_be32(b + size - 8, fc_crc32(b, size - 8));
	put_be32(b + size - 4, 0x0000AA55);
	if (ap)
		check_ap(b, size);
	else
		check_lan(b, size);
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_lan(data, size);
	check_ap(data, size);
	repaired(data, size, false);
	repaired(data, size, true);
	return 0;
}
