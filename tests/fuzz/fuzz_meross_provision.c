/* Fuzz what `fakecloud provision meross` parses from a device: the tolerant HTTP response parser
 * (vendors/meross/provision.h) and the encrypted-body decoder (codec.h meross_local_decrypt). The input
 * is parsed whole with eof = false and eof = true, and some of its prefixes as the client sees them while
 * bytes arrive; every buffer is an exact-size copy, so ASan catches a read past len. Invariants are
 * checked (abort on violation). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vendors/meross/codec.h"
#include "vendors/meross/provision.h"

static void require(bool ok)
{
	if (!ok)
		abort();
}

static void check(const uint8_t *data, size_t size, bool eof)
{
	/* an exact-size copy: ASan catches any read past len */
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return;
	if (size)
		memcpy(copy, data, size);
	struct meross_http_resp r;
	char err[160];
	int rc = meross_http_parse_response(copy, size, eof, &r, err, sizeof err);
	require(rc == -1 || rc == 0 || rc == 1);
	if (rc == 1) {
		require(r.status >= 100 && r.status <= 599);
		require(r.body != NULL && r.body[r.body_len] == '\0');
		require(r.body_len <= MEROSS_HTTP_MAX_BODY && r.body_len <= size);
		require(strlen(r.quirk) < sizeof r.quirk);
		/* the body, as an encrypted Meross body */
		size_t n = 0;
		char derr[96];
		char *dec = meross_local_decrypt("0123456789abcdef0123456789abcdef", r.body, r.body_len, &n, derr,
						 sizeof derr);
		if (dec) {
			require(dec[n] == '\0' && strlen(dec) == n && n <= MEROSS_MAX_MESSAGE);
			free(dec);
		}
	} else {
		require(r.body == NULL && r.body_len == 0);
		if (rc == -1)
			require(err[0] != '\0');
	}
	meross_http_resp_free(&r);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > MEROSS_HTTP_MAX_HEAD + MEROSS_HTTP_MAX_BODY)
		return 0;
	check(data, size, false);
	check(data, size, true);
	/* a few prefixes, as the client sees them while bytes arrive */
	for (size_t cut = 1; cut < size && cut < 64; cut += 7)
		check(data, cut, false);
	/* the raw input as an encrypted body */
	size_t n = 0;
	char *dec = meross_local_decrypt("0123456789abcdef0123456789abcdef", data, size, &n, NULL, 0);
	free(dec);
	return 0;
}
