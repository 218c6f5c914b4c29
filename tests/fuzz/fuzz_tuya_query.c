/* Fuzz the Tuya ATOP query parser (vendors/tuya/codec.h, tuya.md §1.3). A parsed query must satisfy the
 * parser's own rules (bounded, non-empty unique keys, no NUL, shortcuts consistent with the parameter list);
 * it is signed and verified with a fixed key, and re-encoded with every byte percent-escaped, which must
 * parse back to the same parameters and the same sign. The same input also goes through query_add. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vendors/tuya/codec.h"

#define FUZZ_KEY "0123456789abcdef" /* the seeds' sign= values are made with it */

static void require(bool ok)
{
	if (!ok)
		abort();
}

static void check_query(const struct tuya_atop_query *q)
{
	require(q->count <= TUYA_QUERY_MAX_PARAMS && q->used <= sizeof q->buf);
	for (size_t i = 0; i < q->count; i++) {
		require(q->params[i].key[0] != '\0');
		require(q->params[i].key >= q->buf && q->params[i].value < q->buf + sizeof q->buf);
		for (size_t j = 0; j < i; j++)
			require(strcmp(q->params[i].key, q->params[j].key) != 0);
		require(tuya_atop_query_get(q, q->params[i].key) == q->params[i].value);
	}
	require(tuya_atop_query_get(q, "a") == q->a && tuya_atop_query_get(q, "devId") == q->dev_id &&
		tuya_atop_query_get(q, "uuid") == q->uuid && tuya_atop_query_get(q, "sign") == q->sign &&
		tuya_atop_query_get(q, "et") == q->et && tuya_atop_query_get(q, "other") == q->other);
	if (!q->et)
		require(q->enc == TUYA_ET_NONE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tuya_atop_query q, q2;
	char err[128];
	if (tuya_atop_query_parse(data, size, &q, err, sizeof err) != 0) {
		require(q.count == 0 && err[0] != '\0');
		return 0;
	}
	check_query(&q);

	char sign[33], sign16[33];
	require(tuya_atop_query_sign(&q, FUZZ_KEY, 16, sign) == 0 && strlen(sign) == 32);
	const char *why = NULL;
	enum tuya_sign_check c = tuya_atop_query_verify(&q, FUZZ_KEY, 16, &why);
	require(why != NULL && c >= TUYA_SIGN_OK && c <= TUYA_SIGN_MISMATCH);
	require((c == TUYA_SIGN_MISSING) == (q.sign == NULL));
	(void)tuya_atop_query_verify(&q, FUZZ_KEY FUZZ_KEY, 32, &why);

	/* Re-encode: every byte of every key and value as %XX (keys and values contain no NUL). */
	size_t cap = 6 * TUYA_QUERY_MAX + 16;
	char *enc = malloc(cap);
	require(enc != NULL);
	size_t off = 0;
	for (size_t i = 0; i < q.count; i++) {
		const char *parts[2] = {q.params[i].key, q.params[i].value};
		for (int p = 0; p < 2; p++) {
			for (const char *s = parts[p]; *s; s++)
				off += (size_t)snprintf(enc + off, cap - off, "%%%02X", (unsigned char)*s);
			enc[off++] = p == 0 ? '=' : '&';
		}
	}
	if (off <= TUYA_QUERY_MAX) {
		require(tuya_atop_query_parse(enc, off, &q2, err, sizeof err) == 0);
		require(q2.count == q.count && q2.enc == q.enc);
		for (size_t i = 0; i < q.count; i++)
			require(strcmp(q.params[i].key, q2.params[i].key) == 0 &&
				strcmp(q.params[i].value, q2.params[i].value) == 0);
		require(tuya_atop_query_sign(&q2, FUZZ_KEY, 16, sign16) == 0 && strcmp(sign, sign16) == 0);
	}
	free(enc);

	/* The same pairs through the host-decoded path. */
	tuya_atop_query_init(&q2);
	for (size_t i = 0; i < q.count; i++)
		require(tuya_atop_query_add(&q2, q.params[i].key, strlen(q.params[i].key), q.params[i].value,
					    strlen(q.params[i].value), err, sizeof err) == 0);
	check_query(&q2);
	require(tuya_atop_query_sign(&q2, FUZZ_KEY, 16, sign16) == 0 && strcmp(sign, sign16) == 0);
	return 0;
}
