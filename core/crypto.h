/* Crypto wrappers on mbedtls 2.28. Every function works on (pointer, length) buffers, never allocates
 * unless it says so, and returns 0 on success or a negative FC_CRYPTO_E* code. */
#ifndef FC_CRYPTO_H
#define FC_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define FC_CRYPTO_EINVAL (-1)   /* bad key/iv length, NULL where not allowed */
#define FC_CRYPTO_ESPACE (-2)   /* output buffer too small */
#define FC_CRYPTO_EPAD (-3)     /* bad padding on decrypt, or length not a block multiple */
#define FC_CRYPTO_EAUTH (-4)    /* GCM tag mismatch */
#define FC_CRYPTO_EFAIL (-5)    /* underlying library error */

/* Hashes. `hex` outputs are lowercase and NUL-terminated (33 / 65 bytes). */
void fc_md5(const void *in, size_t len, uint8_t out[16]);
void fc_md5_hex(const void *in, size_t len, char out[33]);
void fc_sha256(const void *in, size_t len, uint8_t out[32]);
void fc_sha256_hex(const void *in, size_t len, char out[65]);
void fc_hmac_sha256(const void *key, size_t keylen, const void *in, size_t len, uint8_t out[32]);
void fc_hmac_sha256_hex(const void *key, size_t keylen, const void *in, size_t len, char out[65]);
/* MD5 of the concatenation of (pointer, length) parts, streamed: no joined copy of key material is
 * made. A part with n == 0 may have p == NULL. */
struct fc_part {
	const void *p;
	size_t n;
};
void fc_md5_parts(const struct fc_part *parts, size_t count, uint8_t out[16]);
void fc_md5_parts_hex(const struct fc_part *parts, size_t count, char out[33]);
/* PBKDF2-HMAC-SHA512 (used for Mosquitto's password_file format). */
int fc_pbkdf2_sha512(const void *pw, size_t pwlen, const void *salt, size_t saltlen, unsigned iterations,
		     uint8_t *out, size_t outlen);

/* Hex and base64. fc_hex_encode writes 2*len chars + NUL (out must hold 2*len+1). fc_hex_decode accepts
 * upper and lower case, needs an even length, writes *outlen bytes. */
void fc_hex_encode(const void *in, size_t len, char *out);
int fc_hex_decode(const char *in, size_t inlen, uint8_t *out, size_t outcap, size_t *outlen);
/* Base64 (standard alphabet, padded). encode writes a NUL-terminated string; *outlen excludes the NUL. */
int fc_base64_encode(const void *in, size_t len, char *out, size_t outcap, size_t *outlen);
int fc_base64_decode(const char *in, size_t len, uint8_t *out, size_t outcap, size_t *outlen);

uint32_t fc_crc32(const void *in, size_t len); /* IEEE 802.3 (zlib) CRC-32 */
uint32_t fc_crc32_update(uint32_t crc, const void *in, size_t len); /* start with crc = 0 */

/* AES. key length 16 or 32 (24 also accepted). */
enum fc_padding { FC_PAD_NONE = 0, FC_PAD_PKCS7 = 1 };

/* ECB / CBC. Encrypt: with FC_PAD_PKCS7 the output is len rounded up to the next block (always adds
 * 1..16 bytes); with FC_PAD_NONE len must be a multiple of 16. Decrypt: len must be a block multiple;
 * PKCS7 padding is checked and removed. *outlen receives the output size. In-place (out == in) works. */
int fc_aes_ecb_encrypt(const uint8_t *key, size_t keylen, enum fc_padding pad, const uint8_t *in, size_t len,
		       uint8_t *out, size_t outcap, size_t *outlen);
int fc_aes_ecb_decrypt(const uint8_t *key, size_t keylen, enum fc_padding pad, const uint8_t *in, size_t len,
		       uint8_t *out, size_t outcap, size_t *outlen);
int fc_aes_cbc_encrypt(const uint8_t *key, size_t keylen, const uint8_t iv[16], enum fc_padding pad,
		       const uint8_t *in, size_t len, uint8_t *out, size_t outcap, size_t *outlen);
int fc_aes_cbc_decrypt(const uint8_t *key, size_t keylen, const uint8_t iv[16], enum fc_padding pad,
		       const uint8_t *in, size_t len, uint8_t *out, size_t outcap, size_t *outlen);
/* GCM: out holds len bytes; tag of taglen (4..16) bytes written/checked separately. */
int fc_aes_gcm_encrypt(const uint8_t *key, size_t keylen, const uint8_t *iv, size_t ivlen, const uint8_t *aad,
		       size_t aadlen, const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag, size_t taglen);
int fc_aes_gcm_decrypt(const uint8_t *key, size_t keylen, const uint8_t *iv, size_t ivlen, const uint8_t *aad,
		       size_t aadlen, const uint8_t *in, size_t len, uint8_t *out, const uint8_t *tag, size_t taglen);

/* CSPRNG (mbedtls CTR-DRBG seeded from the OS entropy source). Thread-safe. Returns 0 or FC_CRYPTO_EFAIL. */
int fc_random(void *out, size_t len);
/* `len` random characters from [0-9a-f] (hex) or [A-Za-z0-9] (alnum), NUL-terminated (out holds len+1). */
int fc_random_hex(char *out, size_t len);
int fc_random_alnum(char *out, size_t len);

/* ECDH on P-256. priv: 32-byte big-endian scalar in [1, n-1]; pub / peer: uncompressed points (65 bytes,
 * 0x04 || X || Y). fc_p256_shared writes the 32-byte X coordinate of priv * peer. 0 or -1. */
int fc_p256_public(const uint8_t priv[32], uint8_t pub[65]);
int fc_p256_shared(const uint8_t priv[32], const uint8_t *peer, size_t peerlen, uint8_t secret[32]);

/* Zero memory in a way the compiler cannot drop (for key material in local buffers). */
void fc_wipe(void *p, size_t len);

/* Constant-time equality; 1 when equal. */
int fc_ct_equal(const void *a, const void *b, size_t len);

#endif
