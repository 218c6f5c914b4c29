/* Fuzz the Tuya TLS-PSK identity parser and the PSK v1 derivation (vendors/tuya/codec.h, tuya.md §2).
 * The parsed fields must be the input's bytes at the documented offsets; the derivation must be
 * deterministic, depend only on the last 16 bytes of the hint, and accept exactly lengths 33..MAX. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[128];
	struct tuya_psk_id id;
	if (tuya_psk_id_parse(data, size, &id, err, sizeof err) == 0) {
		require(id.version == 1 || id.version == 2);
		require(memcmp(id.head, data + 1, 16) == 0);
		if (id.version == 1) {
			require(size == TUYA_PSK_ID_V1_LEN && data[33] == '_');
			require(memcmp(id.uuid_md5, data + 17, 16) == 0 && memcmp(id.authkey_md5, data + 34, 16) == 0);
			require(id.esp_prefix == (memcmp(data + 1, TUYA_PSK_ID_ESP_PREFIX, 16) == 0));
		} else {
			require(size == TUYA_PSK_ID_V2_LEN && memcmp(id.uuid_sha256, data + 17, 32) == 0);
		}
		(void)tuya_psk_id_v1_matches(&id, "11ab55dde1907a26", "0123456789abcdef0123456789abcdef");
		(void)tuya_psk_id_v2_matches(&id, "11ab55dde1907a26");
	} else {
		require(id.version == 0 && err[0]);
	}

	uint8_t a[TUYA_PSK_LEN], b[TUYA_PSK_LEN];
	int rc = tuya_psk_v1_derive(data, size, NULL, 0, a, err, sizeof err);
	require((rc == 0) == (size >= 33 && size <= TUYA_PSK_ID_MAX));
	if (rc == 0) {
		require(tuya_psk_v1_derive(data, size, "xx" "0000000000000000", 18, b, err, sizeof err) == 0);
		require(memcmp(a, b, sizeof a) == 0);
		/* the identity as a hint: only its last 16 bytes count */
		require(tuya_psk_v1_derive(data, size, data, size, a, err, sizeof err) == 0);
		require(tuya_psk_v1_derive(data, size, data + size - 16, 16, b, err, sizeof err) == 0);
		require(memcmp(a, b, sizeof a) == 0);
	}

	/* Masking never leaves a NUL and changes nothing else. */
	uint8_t *copy = malloc(size ? size : 1);
	require(copy != NULL);
	if (size)
		memcpy(copy, data, size);
	tuya_psk_id_mask_nul(copy, size);
	for (size_t i = 0; i < size; i++)
		require(copy[i] == (data[i] ? data[i] : '?'));
	free(copy);
	return 0;
}
