/* Typed secrets (see secret.h). Every value set here is registered with the log redactor. */
#include "core/secret.h"

#include <string.h>

#include <mbedtls/platform_util.h>

#include "core/crypto.h"
#include "core/log.h"

int fc_secret_set(struct fc_secret *s, const void *bytes, size_t len)
{
	if (!s)
		return -1;
	if (len > FC_SECRET_MAX || (!bytes && len)) {
		fc_secret_wipe(s);
		return -1;
	}
	if (len)
		memmove(s->b, bytes, len); /* bytes may point into s itself */
	/* clear the rest, including what a longer previous value left behind */
	mbedtls_platform_zeroize(s->b + len, sizeof s->b - len);
	s->len = len;
	fc_log_register_secret((const char *)s->b, len);
	return 0;
}

int fc_secret_set_str(struct fc_secret *s, const char *str)
{
	if (!str) {
		if (s)
			fc_secret_wipe(s);
		return -1;
	}
	return fc_secret_set(s, str, strlen(str));
}

void fc_secret_wipe(struct fc_secret *s)
{
	if (!s)
		return;
	/* Not a plain memset: the compiler may not drop it as a dead store. */
	mbedtls_platform_zeroize(s->b, sizeof s->b);
	s->len = 0;
}

int fc_secret_equals(const struct fc_secret *s, const void *cand, size_t len)
{
	if (!s || (!cand && len))
		return 0;
	/* The length is not secret (it shows in every protocol message anyway); the bytes are. */
	if (len != s->len)
		return 0;
	return fc_ct_equal(s->b, cand, len);
}
