/* A typed secret: keys, tokens and passwords travel in this struct so that they cannot be handed to a
 * printf-style format by mistake. fc_secret_reveal() is the one way to the bytes. */
#ifndef FC_SECRET_H
#define FC_SECRET_H

#include <stddef.h>
#include <stdint.h>

#define FC_SECRET_MAX 256

struct fc_secret {
	size_t len;
	unsigned char b[FC_SECRET_MAX + 1]; /* always NUL-terminated after len bytes */
};

/* Set from bytes; returns -1 (and leaves *s empty) when len > FC_SECRET_MAX. Registers the value with the
 * log redactor. */
int fc_secret_set(struct fc_secret *s, const void *bytes, size_t len);
int fc_secret_set_str(struct fc_secret *s, const char *str);
/* Zero the bytes (registration is kept: a value once secret stays redacted). */
void fc_secret_wipe(struct fc_secret *s);
static inline const char *fc_secret_reveal(const struct fc_secret *s) { return (const char *)s->b; }
static inline size_t fc_secret_len(const struct fc_secret *s) { return s->len; }
/* Constant-time comparison with a candidate; 1 when equal. */
int fc_secret_equals(const struct fc_secret *s, const void *cand, size_t len);

#endif
