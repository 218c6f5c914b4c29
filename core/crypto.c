/* Crypto wrappers on mbedtls 2.28 (see crypto.h). Nothing here allocates; every write into a caller
 * buffer is checked against its capacity first. */
#include "core/crypto.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/aes.h>
#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/ecp.h>
#include <mbedtls/gcm.h>
#include <mbedtls/md.h>
#include <mbedtls/md5.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

#define AES_BLOCK 16

/* ---- hashes ---- */

void fc_md5(const void *in, size_t len, uint8_t out[16])
{
	/* mbedtls can only fail here with an alternative (hardware) implementation; zero the digest then so
	 * that the caller never compares against uninitialised bytes. */
	if (mbedtls_md5_ret(in, len, out) != 0)
		memset(out, 0, 16);
}

void fc_md5_hex(const void *in, size_t len, char out[33])
{
	uint8_t d[16];
	fc_md5(in, len, d);
	fc_hex_encode(d, sizeof d, out);
}

void fc_sha256(const void *in, size_t len, uint8_t out[32])
{
	if (mbedtls_sha256_ret(in, len, out, 0) != 0)
		memset(out, 0, 32);
}

void fc_sha256_hex(const void *in, size_t len, char out[65])
{
	uint8_t d[32];
	fc_sha256(in, len, d);
	fc_hex_encode(d, sizeof d, out);
}

void fc_hmac_sha256(const void *key, size_t keylen, const void *in, size_t len, uint8_t out[32])
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	if (!md || mbedtls_md_hmac(md, key, keylen, in, len, out) != 0)
		memset(out, 0, 32);
}

void fc_hmac_sha256_hex(const void *key, size_t keylen, const void *in, size_t len, char out[65])
{
	uint8_t d[32];
	fc_hmac_sha256(key, keylen, in, len, d);
	fc_hex_encode(d, sizeof d, out);
}

int fc_pbkdf2_sha512(const void *pw, size_t pwlen, const void *salt, size_t saltlen, unsigned iterations,
		     uint8_t *out, size_t outlen)
{
	if ((!pw && pwlen) || (!salt && saltlen) || !out || outlen == 0 || iterations == 0)
		return FC_CRYPTO_EINVAL;
	/* mbedtls takes 32-bit lengths here. */
	if (outlen > UINT32_MAX)
		return FC_CRYPTO_EINVAL;
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA512);
	if (!md)
		return FC_CRYPTO_EFAIL;
	mbedtls_md_context_t ctx;
	mbedtls_md_init(&ctx);
	int rc = FC_CRYPTO_EFAIL;
	if (mbedtls_md_setup(&ctx, md, 1) == 0 &&
	    mbedtls_pkcs5_pbkdf2_hmac(&ctx, pw, pwlen, salt, saltlen, iterations, (uint32_t)outlen, out) == 0)
		rc = 0;
	mbedtls_md_free(&ctx);
	return rc;
}

/* ---- hex, base64 ---- */

static const char hexdig[] = "0123456789abcdef";

void fc_hex_encode(const void *in, size_t len, char *out)
{
	const uint8_t *p = in;
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hexdig[p[i] >> 4];
		out[2 * i + 1] = hexdig[p[i] & 15];
	}
	out[2 * len] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int fc_hex_decode(const char *in, size_t inlen, uint8_t *out, size_t outcap, size_t *outlen)
{
	if (outlen)
		*outlen = 0;
	if ((!in && inlen) || inlen % 2)
		return FC_CRYPTO_EINVAL;
	if (inlen / 2 > outcap)
		return FC_CRYPTO_ESPACE;
	for (size_t i = 0; i < inlen / 2; i++) {
		int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return FC_CRYPTO_EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	if (outlen)
		*outlen = inlen / 2;
	return 0;
}

int fc_base64_encode(const void *in, size_t len, char *out, size_t outcap, size_t *outlen)
{
	if (outlen)
		*outlen = 0;
	if ((!in && len) || (!out && outcap))
		return FC_CRYPTO_EINVAL;
	size_t n = 0;
	/* mbedtls checks dlen (which must include room for the NUL) before writing anything. */
	int rc = mbedtls_base64_encode((unsigned char *)out, outcap, &n, in, len);
	if (rc == MBEDTLS_ERR_BASE64_BUFFER_TOO_SMALL)
		return FC_CRYPTO_ESPACE;
	if (rc != 0)
		return FC_CRYPTO_EFAIL;
	if (n >= outcap) /* cannot happen: mbedtls wrote a NUL after n bytes */
		return FC_CRYPTO_ESPACE;
	out[n] = '\0';
	if (outlen)
		*outlen = n;
	return 0;
}

int fc_base64_decode(const char *in, size_t len, uint8_t *out, size_t outcap, size_t *outlen)
{
	if (outlen)
		*outlen = 0;
	if ((!in && len) || (!out && outcap))
		return FC_CRYPTO_EINVAL;
	/* mbedtls 2.28 accepts unpadded input and silently drops a trailing partial group ("Zg" decodes to
	 * nothing): insist on whole 4-character groups, not counting the line breaks it tolerates. */
	size_t sig = 0;
	for (size_t i = 0; i < len; i++)
		sig += in[i] != '\n' && in[i] != '\r' && in[i] != ' ';
	if (sig % 4)
		return FC_CRYPTO_EINVAL;
	size_t n = 0;
	int rc = mbedtls_base64_decode(out, outcap, &n, (const unsigned char *)in, len);
	if (rc == MBEDTLS_ERR_BASE64_BUFFER_TOO_SMALL)
		return FC_CRYPTO_ESPACE;
	if (rc != 0)
		return FC_CRYPTO_EINVAL;
	if (outlen)
		*outlen = n;
	return 0;
}

/* ---- CRC-32 (reflected polynomial 0xEDB88320, as zlib) ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t fc_crc32_update(uint32_t crc, const void *in, size_t len)
{
	pthread_once(&crc_once, crc_init);
	const uint8_t *p = in;
	crc = ~crc;
	for (size_t i = 0; i < len; i++)
		crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

uint32_t fc_crc32(const void *in, size_t len) { return fc_crc32_update(0, in, len); }

/* ---- AES ECB / CBC ---- */

static int aes_keylen_ok(const uint8_t *key, size_t keylen)
{
	return key && (keylen == 16 || keylen == 24 || keylen == 32);
}

/* Common argument checks; computes the output size of an encryption. */
static int enc_prepare(const uint8_t *key, size_t keylen, enum fc_padding pad, const uint8_t *in, size_t len,
		       const uint8_t *out, size_t outcap, size_t *need)
{
	if (!aes_keylen_ok(key, keylen) || (!in && len) || (pad != FC_PAD_NONE && pad != FC_PAD_PKCS7))
		return FC_CRYPTO_EINVAL;
	if (pad == FC_PAD_NONE) {
		if (len % AES_BLOCK)
			return FC_CRYPTO_EPAD;
		*need = len;
	} else {
		if (len > SIZE_MAX - AES_BLOCK)
			return FC_CRYPTO_EINVAL;
		*need = len - len % AES_BLOCK + AES_BLOCK;
	}
	if (*need > outcap)
		return FC_CRYPTO_ESPACE;
	if (!out && *need)
		return FC_CRYPTO_EINVAL;
	return 0;
}

/* The final padded block: the trailing len % 16 input bytes followed by PKCS7 padding. Copied first, so
 * this is safe when out == in. */
static void pkcs7_last_block(const uint8_t *in, size_t len, uint8_t blk[AES_BLOCK])
{
	size_t rem = len % AES_BLOCK;
	if (rem)
		memcpy(blk, in + (len - rem), rem);
	memset(blk + rem, (int)(AES_BLOCK - rem), AES_BLOCK - rem);
}

/* Checks the PKCS7 padding of a decrypted last block without data-dependent branches (a padding oracle
 * should not also be a timing oracle). Returns the pad length 1..16, or 0 when invalid. */
static size_t pkcs7_check(const uint8_t blk[AES_BLOCK])
{
	unsigned n = blk[AES_BLOCK - 1];
	unsigned bad = (unsigned)((n - 1u) >> 8) | (unsigned)((16u - n) >> 8); /* n == 0 or n > 16 */
	for (unsigned i = 0; i < AES_BLOCK; i++) {
		/* mask = all ones when byte i is part of the padding (i >= 16 - n) */
		unsigned inpad = 0u - (((unsigned)(AES_BLOCK - 1) - i - n) >> 8 & 1u);
		bad |= inpad & (blk[i] ^ n);
	}
	return bad ? 0 : n;
}

/* Decrypt-side output handling shared by ECB and CBC: `last` is the decrypted final block, `body` bytes
 * (len - 16) were already written to out. */
static int dec_finish(enum fc_padding pad, const uint8_t last[AES_BLOCK], size_t body, uint8_t *out, size_t outcap,
		      size_t *outlen)
{
	size_t keep = AES_BLOCK;
	if (pad == FC_PAD_PKCS7) {
		size_t n = pkcs7_check(last);
		if (!n)
			return FC_CRYPTO_EPAD;
		keep = AES_BLOCK - n;
	}
	if (body + keep > outcap)
		return FC_CRYPTO_ESPACE;
	if (keep)
		memcpy(out + body, last, keep);
	*outlen = body + keep;
	return 0;
}

static int dec_prepare(const uint8_t *key, size_t keylen, enum fc_padding pad, const uint8_t *in, size_t len,
		       const uint8_t *out, size_t outcap)
{
	if (!aes_keylen_ok(key, keylen) || (!in && len) || (pad != FC_PAD_NONE && pad != FC_PAD_PKCS7))
		return FC_CRYPTO_EINVAL;
	if (len % AES_BLOCK || (pad == FC_PAD_PKCS7 && len == 0))
		return FC_CRYPTO_EPAD;
	/* All but the last block go straight to out; the last one is checked in a scratch block first, so
	 * an exact-size buffer for the unpadded plaintext is enough. */
	if (len && len - AES_BLOCK > outcap)
		return FC_CRYPTO_ESPACE;
	if (!out && len > AES_BLOCK)
		return FC_CRYPTO_EINVAL;
	return 0;
}

int fc_aes_ecb_encrypt(const uint8_t *key, size_t keylen, enum fc_padding pad, const uint8_t *in, size_t len,
		       uint8_t *out, size_t outcap, size_t *outlen)
{
	size_t need = 0, dummy;
	if (!outlen)
		outlen = &dummy;
	*outlen = 0;
	int rc = enc_prepare(key, keylen, pad, in, len, out, outcap, &need);
	if (rc)
		return rc;
	mbedtls_aes_context aes;
	mbedtls_aes_init(&aes);
	rc = FC_CRYPTO_EFAIL;
	if (mbedtls_aes_setkey_enc(&aes, key, (unsigned)keylen * 8) != 0)
		goto done;
	size_t full = len - len % AES_BLOCK;
	for (size_t off = 0; off < full; off += AES_BLOCK)
		if (mbedtls_aes_crypt_ecb(&aes, MBEDTLS_AES_ENCRYPT, in + off, out + off) != 0)
			goto done;
	if (pad == FC_PAD_PKCS7) {
		uint8_t blk[AES_BLOCK];
		pkcs7_last_block(in, len, blk);
		int r = mbedtls_aes_crypt_ecb(&aes, MBEDTLS_AES_ENCRYPT, blk, out + full);
		mbedtls_platform_zeroize(blk, sizeof blk);
		if (r != 0)
			goto done;
	}
	*outlen = need;
	rc = 0;
done:
	mbedtls_aes_free(&aes);
	return rc;
}

int fc_aes_ecb_decrypt(const uint8_t *key, size_t keylen, enum fc_padding pad, const uint8_t *in, size_t len,
		       uint8_t *out, size_t outcap, size_t *outlen)
{
	size_t dummy;
	if (!outlen)
		outlen = &dummy;
	*outlen = 0;
	int rc = dec_prepare(key, keylen, pad, in, len, out, outcap);
	if (rc || len == 0)
		return rc;
	mbedtls_aes_context aes;
	mbedtls_aes_init(&aes);
	uint8_t last[AES_BLOCK];
	rc = FC_CRYPTO_EFAIL;
	if (mbedtls_aes_setkey_dec(&aes, key, (unsigned)keylen * 8) != 0)
		goto done;
	size_t body = len - AES_BLOCK;
	for (size_t off = 0; off < body; off += AES_BLOCK)
		if (mbedtls_aes_crypt_ecb(&aes, MBEDTLS_AES_DECRYPT, in + off, out + off) != 0)
			goto done;
	if (mbedtls_aes_crypt_ecb(&aes, MBEDTLS_AES_DECRYPT, in + body, last) != 0)
		goto done;
	rc = dec_finish(pad, last, body, out, outcap, outlen);
done:
	mbedtls_platform_zeroize(last, sizeof last);
	mbedtls_aes_free(&aes);
	return rc;
}

int fc_aes_cbc_encrypt(const uint8_t *key, size_t keylen, const uint8_t iv[16], enum fc_padding pad,
		       const uint8_t *in, size_t len, uint8_t *out, size_t outcap, size_t *outlen)
{
	size_t need = 0, dummy;
	if (!outlen)
		outlen = &dummy;
	*outlen = 0;
	if (!iv)
		return FC_CRYPTO_EINVAL;
	int rc = enc_prepare(key, keylen, pad, in, len, out, outcap, &need);
	if (rc)
		return rc;
	uint8_t ivc[AES_BLOCK]; /* mbedtls advances the IV in place; the caller's stays const */
	memcpy(ivc, iv, AES_BLOCK);
	mbedtls_aes_context aes;
	mbedtls_aes_init(&aes);
	rc = FC_CRYPTO_EFAIL;
	if (mbedtls_aes_setkey_enc(&aes, key, (unsigned)keylen * 8) != 0)
		goto done;
	size_t full = len - len % AES_BLOCK;
	/* The partial tail is copied out before the full blocks are encrypted (in-place safety). */
	uint8_t blk[AES_BLOCK];
	if (pad == FC_PAD_PKCS7)
		pkcs7_last_block(in, len, blk);
	if (full && mbedtls_aes_crypt_cbc(&aes, MBEDTLS_AES_ENCRYPT, full, ivc, in, out) != 0)
		goto wipe;
	if (pad == FC_PAD_PKCS7 && mbedtls_aes_crypt_cbc(&aes, MBEDTLS_AES_ENCRYPT, AES_BLOCK, ivc, blk, out + full) != 0)
		goto wipe;
	*outlen = need;
	rc = 0;
wipe:
	mbedtls_platform_zeroize(blk, sizeof blk);
done:
	mbedtls_aes_free(&aes);
	return rc;
}

int fc_aes_cbc_decrypt(const uint8_t *key, size_t keylen, const uint8_t iv[16], enum fc_padding pad,
		       const uint8_t *in, size_t len, uint8_t *out, size_t outcap, size_t *outlen)
{
	size_t dummy;
	if (!outlen)
		outlen = &dummy;
	*outlen = 0;
	if (!iv)
		return FC_CRYPTO_EINVAL;
	int rc = dec_prepare(key, keylen, pad, in, len, out, outcap);
	if (rc || len == 0)
		return rc;
	uint8_t ivc[AES_BLOCK], cblk[AES_BLOCK], last[AES_BLOCK];
	memcpy(ivc, iv, AES_BLOCK);
	size_t body = len - AES_BLOCK;
	/* Keep the last ciphertext block: with out == in, decrypting the body does not touch it, but be
	 * explicit rather than rely on that. */
	memcpy(cblk, in + body, AES_BLOCK);
	mbedtls_aes_context aes;
	mbedtls_aes_init(&aes);
	rc = FC_CRYPTO_EFAIL;
	if (mbedtls_aes_setkey_dec(&aes, key, (unsigned)keylen * 8) != 0)
		goto done;
	if (body && mbedtls_aes_crypt_cbc(&aes, MBEDTLS_AES_DECRYPT, body, ivc, in, out) != 0)
		goto done;
	/* ivc now holds the ciphertext block before the last one (or the original IV). */
	if (mbedtls_aes_crypt_cbc(&aes, MBEDTLS_AES_DECRYPT, AES_BLOCK, ivc, cblk, last) != 0)
		goto done;
	rc = dec_finish(pad, last, body, out, outcap, outlen);
done:
	mbedtls_platform_zeroize(last, sizeof last);
	mbedtls_aes_free(&aes);
	return rc;
}

/* ---- AES-GCM ---- */

static int gcm_args_ok(const uint8_t *key, size_t keylen, const uint8_t *iv, size_t ivlen, const uint8_t *aad,
		       size_t aadlen, const uint8_t *in, size_t len, const uint8_t *out, const uint8_t *tag,
		       size_t taglen)
{
	return aes_keylen_ok(key, keylen) && iv && ivlen > 0 && (aad || !aadlen) && (in || !len) &&
	       (out || !len) && tag && taglen >= 4 && taglen <= 16;
}

int fc_aes_gcm_encrypt(const uint8_t *key, size_t keylen, const uint8_t *iv, size_t ivlen, const uint8_t *aad,
		       size_t aadlen, const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag, size_t taglen)
{
	if (!gcm_args_ok(key, keylen, iv, ivlen, aad, aadlen, in, len, out, tag, taglen))
		return FC_CRYPTO_EINVAL;
	mbedtls_gcm_context g;
	mbedtls_gcm_init(&g);
	int rc = FC_CRYPTO_EFAIL;
	if (mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, key, (unsigned)keylen * 8) == 0 &&
	    mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT, len, iv, ivlen, aad, aadlen, in, out, taglen, tag) == 0)
		rc = 0;
	mbedtls_gcm_free(&g);
	return rc;
}

int fc_aes_gcm_decrypt(const uint8_t *key, size_t keylen, const uint8_t *iv, size_t ivlen, const uint8_t *aad,
		       size_t aadlen, const uint8_t *in, size_t len, uint8_t *out, const uint8_t *tag, size_t taglen)
{
	if (!gcm_args_ok(key, keylen, iv, ivlen, aad, aadlen, in, len, out, tag, taglen))
		return FC_CRYPTO_EINVAL;
	mbedtls_gcm_context g;
	mbedtls_gcm_init(&g);
	int rc = FC_CRYPTO_EFAIL;
	if (mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, key, (unsigned)keylen * 8) == 0) {
		/* On a tag mismatch mbedtls zeroes the output. */
		int r = mbedtls_gcm_auth_decrypt(&g, len, iv, ivlen, aad, aadlen, tag, taglen, in, out);
		rc = r == 0 ? 0 : r == MBEDTLS_ERR_GCM_AUTH_FAILED ? FC_CRYPTO_EAUTH : FC_CRYPTO_EFAIL;
	}
	mbedtls_gcm_free(&g);
	return rc;
}

/* ---- CSPRNG ----
 * One process-wide CTR-DRBG behind a mutex. Seeded lazily on first use (a failed seed is retried on
 * the next call) and reseeded after fork(), so that a parent and child never share an output stream. */

static pthread_mutex_t rng_mu = PTHREAD_MUTEX_INITIALIZER;
static mbedtls_entropy_context rng_entropy;
static mbedtls_ctr_drbg_context rng_drbg;
static int rng_ready;
static pid_t rng_pid;

static int rng_seed_locked(void)
{
	static const unsigned char pers[] = "fakecloud-rng";
	mbedtls_entropy_init(&rng_entropy);
	mbedtls_ctr_drbg_init(&rng_drbg);
	if (mbedtls_ctr_drbg_seed(&rng_drbg, mbedtls_entropy_func, &rng_entropy, pers, sizeof pers - 1) != 0) {
		mbedtls_ctr_drbg_free(&rng_drbg);
		mbedtls_entropy_free(&rng_entropy);
		return -1;
	}
	rng_ready = 1;
	rng_pid = getpid();
	return 0;
}

int fc_random(void *out, size_t len)
{
	if (!out && len)
		return FC_CRYPTO_EINVAL;
	int rc = 0;
	pthread_mutex_lock(&rng_mu);
	if (!rng_ready && rng_seed_locked() != 0) {
		rc = FC_CRYPTO_EFAIL;
		goto out;
	}
	if (rng_pid != getpid()) {
		if (mbedtls_ctr_drbg_reseed(&rng_drbg, NULL, 0) != 0) {
			rc = FC_CRYPTO_EFAIL;
			goto out;
		}
		rng_pid = getpid();
	}
	unsigned char *p = out;
	while (len) {
		size_t n = len < MBEDTLS_CTR_DRBG_MAX_REQUEST ? len : MBEDTLS_CTR_DRBG_MAX_REQUEST;
		if (mbedtls_ctr_drbg_random(&rng_drbg, p, n) != 0) {
			rc = FC_CRYPTO_EFAIL;
			goto out;
		}
		p += n;
		len -= n;
	}
out:
	pthread_mutex_unlock(&rng_mu);
	return rc;
}

/* Uniform characters from `alphabet` (n <= 256 symbols) by rejection sampling of random bytes. */
static int random_chars(char *out, size_t len, const char *alphabet, unsigned n)
{
	if (!out)
		return FC_CRYPTO_EINVAL;
	unsigned limit = 256 - 256 % n; /* bytes >= limit would bias the result */
	uint8_t buf[64];
	size_t have = 0, used = 0;
	for (size_t i = 0; i < len;) {
		if (used == have) {
			if (fc_random(buf, sizeof buf) != 0) {
				out[0] = '\0';
				return FC_CRYPTO_EFAIL;
			}
			have = sizeof buf;
			used = 0;
		}
		unsigned b = buf[used++];
		if (b < limit)
			out[i++] = alphabet[b % n];
	}
	out[len] = '\0';
	mbedtls_platform_zeroize(buf, sizeof buf);
	return 0;
}

int fc_random_hex(char *out, size_t len) { return random_chars(out, len, hexdig, 16); }

int fc_random_alnum(char *out, size_t len)
{
	static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	return random_chars(out, len, alnum, (unsigned)(sizeof alnum - 1));
}

int fc_ct_equal(const void *a, const void *b, size_t len)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;
	for (size_t i = 0; i < len; i++)
		d |= (uint8_t)(x[i] ^ y[i]);
	return d == 0;
}

void fc_wipe(void *p, size_t len)
{
	if (p && len)
		mbedtls_platform_zeroize(p, len);
}

void fc_md5_parts(const struct fc_part *parts, size_t count, uint8_t out[16])
{
	mbedtls_md5_context c;
	mbedtls_md5_init(&c);
	mbedtls_md5_starts_ret(&c);
	for (size_t i = 0; i < count; i++)
		if (parts[i].n)
			mbedtls_md5_update_ret(&c, parts[i].p, parts[i].n);
	mbedtls_md5_finish_ret(&c, out);
	mbedtls_md5_free(&c); /* zeroizes the context */
}

void fc_md5_parts_hex(const struct fc_part *parts, size_t count, char out[33])
{
	uint8_t d[16];
	fc_md5_parts(parts, count, d);
	fc_hex_encode(d, 16, out);
}

/* mbedtls RNG callback (side-channel blinding of the scalar multiplication). */
static int p256_rng(void *ctx, unsigned char *buf, size_t len)
{
	(void)ctx;
	return fc_random(buf, len) == 0 ? 0 : -1;
}

/* Loads P-256 and priv (checked to be in [1, n-1]). 0 / -1. */
static int p256_load(mbedtls_ecp_group *grp, mbedtls_mpi *d, const uint8_t priv[32])
{
	if (mbedtls_ecp_group_load(grp, MBEDTLS_ECP_DP_SECP256R1) != 0 || mbedtls_mpi_read_binary(d, priv, 32) != 0)
		return -1;
	return mbedtls_ecp_check_privkey(grp, d) == 0 ? 0 : -1;
}

int fc_p256_public(const uint8_t priv[32], uint8_t pub[65])
{
	mbedtls_ecp_group grp;
	mbedtls_mpi d;
	mbedtls_ecp_point q;
	mbedtls_ecp_group_init(&grp);
	mbedtls_mpi_init(&d);
	mbedtls_ecp_point_init(&q);
	size_t n = 0;
	int rc = -1;
	if (p256_load(&grp, &d, priv) == 0 && mbedtls_ecp_mul(&grp, &q, &d, &grp.G, p256_rng, NULL) == 0 &&
	    mbedtls_ecp_point_write_binary(&grp, &q, MBEDTLS_ECP_PF_UNCOMPRESSED, &n, pub, 65) == 0 && n == 65)
		rc = 0;
	mbedtls_ecp_point_free(&q);
	mbedtls_mpi_free(&d);
	mbedtls_ecp_group_free(&grp);
	return rc;
}

int fc_p256_shared(const uint8_t priv[32], const uint8_t *peer, size_t peerlen, uint8_t secret[32])
{
	if (peerlen != 65 || peer[0] != 0x04)
		return -1;
	mbedtls_ecp_group grp;
	mbedtls_mpi d, z;
	mbedtls_ecp_point q;
	mbedtls_ecp_group_init(&grp);
	mbedtls_mpi_init(&d);
	mbedtls_mpi_init(&z);
	mbedtls_ecp_point_init(&q);
	int rc = -1;
	if (p256_load(&grp, &d, priv) == 0 && mbedtls_ecp_point_read_binary(&grp, &q, peer, peerlen) == 0 &&
	    mbedtls_ecp_check_pubkey(&grp, &q) == 0 && mbedtls_ecdh_compute_shared(&grp, &z, &q, &d, p256_rng, NULL) == 0 &&
	    mbedtls_mpi_write_binary(&z, secret, 32) == 0)
		rc = 0;
	mbedtls_ecp_point_free(&q);
	mbedtls_mpi_free(&z);
	mbedtls_mpi_free(&d);
	mbedtls_ecp_group_free(&grp);
	return rc;
}
