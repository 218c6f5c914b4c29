/* core/crypto: published test vectors (FIPS-197, SP 800-38A, GCM spec, RFC 4231, RFC 4648), PKCS7
 * round trips and rejections, bounds, and an independent cross-check of PBKDF2 against mosquitto_passwd. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/crypto.h"
#include "unit/t.h"

/* Local hex decoder for expected values (independent of fc_hex_decode, which is under test). */
static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s) / 2;
	if (n > cap) {
		fprintf(stderr, "unhex: vector too long\n");
		exit(2);
	}
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			exit(2);
		out[i] = (uint8_t)v;
	}
	return n;
}

static void test_hashes(void)
{
	char hex[65];
	fc_md5_hex("", 0, hex);
	CHECK_STR(hex, "d41d8cd98f00b204e9800998ecf8427e");
	fc_md5_hex("abc", 3, hex);
	CHECK_STR(hex, "900150983cd24fb0d6963f7d28e17f72");
	fc_sha256_hex("abc", 3, hex);
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	fc_sha256_hex("", 0, hex);
	CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

	uint8_t d[32], want[32];
	fc_sha256("abc", 3, d);
	unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want, sizeof want);
	CHECK_MEM(d, want, 32);
	uint8_t m5[16], w5[16];
	fc_md5("abc", 3, m5);
	unhex("900150983cd24fb0d6963f7d28e17f72", w5, sizeof w5);
	CHECK_MEM(m5, w5, 16);

	/* RFC 4231 test cases 1 and 2 */
	uint8_t key1[20];
	memset(key1, 0x0b, sizeof key1);
	fc_hmac_sha256_hex(key1, sizeof key1, "Hi There", 8, hex);
	CHECK_STR(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	fc_hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, hex);
	CHECK_STR(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	fc_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d);
	unhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", want, sizeof want);
	CHECK_MEM(d, want, 32);
}

static void test_pbkdf2(void)
{
	uint8_t out[64], want[64];
	CHECK_INT(fc_pbkdf2_sha512("password", 8, "salt", 4, 1, out, sizeof out), 0);
	unhex("867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252"
	      "c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce",
	      want, sizeof want);
	CHECK_MEM(out, want, 64);
	CHECK_INT(fc_pbkdf2_sha512("password", 8, "salt", 4, 2, out, sizeof out), 0);
	unhex("e1d9c16aa681708a45f5c7c4e215ceb66e011a2e9f0040713f18aefdb866d53c"
	      "f76cab2868a39b9f7840edce4fef5a82be67335c77a6068e04112754f27ccf4e",
	      want, sizeof want);
	CHECK_MEM(out, want, 64);
	/* A shorter output is a prefix of the longer one (single-block PBKDF2). */
	uint8_t shortout[20];
	CHECK_INT(fc_pbkdf2_sha512("password", 8, "salt", 4, 2, shortout, sizeof shortout), 0);
	CHECK_MEM(shortout, want, sizeof shortout);
	CHECK_INT(fc_pbkdf2_sha512("password", 8, "salt", 4, 0, out, sizeof out), FC_CRYPTO_EINVAL);
	CHECK_INT(fc_pbkdf2_sha512("password", 8, "salt", 4, 1, NULL, 64), FC_CRYPTO_EINVAL);
}

/* Mosquitto's password_file "$7$" lines are PBKDF2-SHA512: let mosquitto_passwd make one and check that
 * our derivation reproduces its hash. Skipped when the tool is not installed. */
static void test_pbkdf2_mosquitto(void)
{
	if (access("/usr/bin/mosquitto_passwd", X_OK) != 0) {
		printf("skip: mosquitto_passwd not installed\n");
		return;
	}
	char dir[] = "/tmp/fc_test_crypto_XXXXXX";
	if (!mkdtemp(dir)) {
		CHECK(0);
		return;
	}
	char file[128], cmd[512], line[512] = "";
	snprintf(file, sizeof file, "%s/pw", dir);
	snprintf(cmd, sizeof cmd, "/usr/bin/mosquitto_passwd -c -b %s alice 'correct horse' 2>/dev/null", file);
	int st = system(cmd);
	FILE *f = fopen(file, "r");
	CHECK(st == 0 && f != NULL);
	if (f) {
		if (!fgets(line, sizeof line, f))
			line[0] = '\0';
		fclose(f);
	}
	unlink(file);
	rmdir(dir);
	/* alice:$7$<iterations>$<salt b64>$<hash b64> */
	unsigned iters = 0;
	char salt64[128] = "", hash64[256] = "";
	int n = sscanf(line, "alice:$7$%u$%127[^$]$%255[^\n]", &iters, salt64, hash64);
	CHECK_INT(n, 3);
	if (n != 3)
		return;
	uint8_t salt[96], hash[192], mine[192];
	size_t saltlen = 0, hashlen = 0;
	CHECK_INT(fc_base64_decode(salt64, strlen(salt64), salt, sizeof salt, &saltlen), 0);
	CHECK_INT(fc_base64_decode(hash64, strlen(hash64), hash, sizeof hash, &hashlen), 0);
	CHECK_INT(hashlen, 64);
	CHECK_INT(fc_pbkdf2_sha512("correct horse", 13, salt, saltlen, iters, mine, hashlen), 0);
	CHECK_MEM(mine, hash, hashlen);
}

static void test_hex(void)
{
	char s[16];
	const uint8_t b[] = {0x00, 0x0a, 0xff, 0x7e};
	fc_hex_encode(b, sizeof b, s);
	CHECK_STR(s, "000aff7e");
	fc_hex_encode(NULL, 0, s);
	CHECK_STR(s, "");

	uint8_t out[8];
	size_t n = 99;
	CHECK_INT(fc_hex_decode("000aFf7E", 8, out, sizeof out, &n), 0);
	CHECK_INT(n, 4);
	CHECK_MEM(out, b, 4);
	CHECK_INT(fc_hex_decode("", 0, out, sizeof out, &n), 0);
	CHECK_INT(n, 0);
	CHECK_INT(fc_hex_decode("abc", 3, out, sizeof out, &n), FC_CRYPTO_EINVAL);  /* odd length */
	CHECK_INT(fc_hex_decode("0g", 2, out, sizeof out, &n), FC_CRYPTO_EINVAL);   /* bad digit */
	CHECK_INT(fc_hex_decode("g0", 2, out, sizeof out, &n), FC_CRYPTO_EINVAL);
	CHECK_INT(fc_hex_decode(" 0", 2, out, sizeof out, &n), FC_CRYPTO_EINVAL);
	CHECK_INT(fc_hex_decode("0x", 2, out, sizeof out, &n), FC_CRYPTO_EINVAL);
	/* inlen bounds the read: the bytes after it are not looked at */
	CHECK_INT(fc_hex_decode("01zz", 2, out, sizeof out, &n), 0);
	CHECK_INT(n, 1);
	memset(out, 0xAA, sizeof out);
	CHECK_INT(fc_hex_decode("0102030405", 10, out, 4, &n), FC_CRYPTO_ESPACE);
	CHECK_INT(out[0], 0xAA); /* nothing written */
}

static void test_base64(void)
{
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (int i = 0; i < 7; i++) {
		char out[16];
		size_t n = 99;
		CHECK_INT(fc_base64_encode(plain[i], strlen(plain[i]), out, sizeof out, &n), 0);
		CHECK_STR(out, enc[i]);
		CHECK_INT(n, strlen(enc[i]));
		uint8_t dec[16];
		CHECK_INT(fc_base64_decode(enc[i], strlen(enc[i]), dec, sizeof dec, &n), 0);
		CHECK_INT(n, strlen(plain[i]));
		CHECK_MEM(dec, plain[i], n);
		/* exactly the encoded length leaves no room for the NUL */
		char tight[16];
		memset(tight, 'X', sizeof tight);
		CHECK_INT(fc_base64_encode(plain[i], strlen(plain[i]), tight, strlen(enc[i]), &n), FC_CRYPTO_ESPACE);
		CHECK(strlen(enc[i]) == 0 || tight[0] == 'X');
	}
	char out[16];
	size_t n;
	CHECK_INT(fc_base64_encode("foobar", 6, out, 9, &n), 0); /* 8 chars + NUL */
	CHECK_STR(out, "Zm9vYmFy");
	uint8_t dec[16];
	CHECK_INT(fc_base64_decode("Zm9v!mFy", 8, dec, sizeof dec, &n), FC_CRYPTO_EINVAL);
	CHECK_INT(fc_base64_decode("Zm9vYmFy", 8, dec, 5, &n), FC_CRYPTO_ESPACE);
	CHECK_INT(fc_base64_decode("Zg=a", 4, dec, sizeof dec, &n), FC_CRYPTO_EINVAL);
	/* unpadded / partial groups are refused, not silently shortened */
	CHECK_INT(fc_base64_decode("Zg", 2, dec, sizeof dec, &n), FC_CRYPTO_EINVAL);
	CHECK_INT(fc_base64_decode("Zm9vY", 5, dec, sizeof dec, &n), FC_CRYPTO_EINVAL);
	CHECK_INT(fc_base64_decode("Z", 1, dec, sizeof dec, &n), FC_CRYPTO_EINVAL);
	CHECK_INT(fc_base64_decode("Zg==Zg==", 8, dec, sizeof dec, &n), FC_CRYPTO_EINVAL);
	/* line breaks (PEM style) are tolerated */
	CHECK_INT(fc_base64_decode("Zm9v\nYmFy", 9, dec, sizeof dec, &n), 0);
	CHECK_INT(n, 6);
	CHECK_MEM(dec, "foobar", 6);
	uint8_t bin[256];
	for (int i = 0; i < 256; i++)
		bin[i] = (uint8_t)i;
	char big[400];
	uint8_t back[256];
	CHECK_INT(fc_base64_encode(bin, sizeof bin, big, sizeof big, &n), 0);
	CHECK_INT(n, 344);
	CHECK_INT(fc_base64_decode(big, n, back, sizeof back, &n), 0);
	CHECK_INT(n, 256);
	CHECK_MEM(back, bin, 256);
}

static void test_crc32(void)
{
	CHECK_INT(fc_crc32("123456789", 9), 0xCBF43926u);
	CHECK_INT(fc_crc32("", 0), 0);
	CHECK_INT(fc_crc32("The quick brown fox jumps over the lazy dog", 43), 0x414FA339u);
	uint32_t c = fc_crc32_update(0, "1234", 4);
	c = fc_crc32_update(c, "56789", 5);
	CHECK_INT(c, 0xCBF43926u);
}

static void test_aes_ecb(void)
{
	uint8_t key[32], pt[16], want[16], out[32];
	size_t n;
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	unhex("00112233445566778899aabbccddeeff", pt, sizeof pt);

	/* FIPS-197 C.1, C.2, C.3 */
	static const char *const ct[3] = {"69c4e0d86a7b0430d8cdb78070b4c55a", "dda97ca4864cdfe06eaf70a0ec0d7191",
					  "8ea2b7ca516745bfeafc49904b496089"};
	static const size_t klen[3] = {16, 24, 32};
	for (int i = 0; i < 3; i++) {
		unhex(ct[i], want, sizeof want);
		CHECK_INT(fc_aes_ecb_encrypt(key, klen[i], FC_PAD_NONE, pt, 16, out, sizeof out, &n), 0);
		CHECK_INT(n, 16);
		CHECK_MEM(out, want, 16);
		CHECK_INT(fc_aes_ecb_decrypt(key, klen[i], FC_PAD_NONE, want, 16, out, sizeof out, &n), 0);
		CHECK_INT(n, 16);
		CHECK_MEM(out, pt, 16);
	}
	/* in place */
	uint8_t buf[16];
	memcpy(buf, pt, 16);
	CHECK_INT(fc_aes_ecb_encrypt(key, 16, FC_PAD_NONE, buf, 16, buf, sizeof buf, &n), 0);
	unhex(ct[0], want, sizeof want);
	CHECK_MEM(buf, want, 16);

	/* bad key length, bad block multiple */
	CHECK_INT(fc_aes_ecb_encrypt(key, 15, FC_PAD_NONE, pt, 16, out, sizeof out, &n), FC_CRYPTO_EINVAL);
	CHECK_INT(fc_aes_ecb_encrypt(NULL, 16, FC_PAD_NONE, pt, 16, out, sizeof out, &n), FC_CRYPTO_EINVAL);
	CHECK_INT(fc_aes_ecb_encrypt(key, 16, FC_PAD_NONE, pt, 15, out, sizeof out, &n), FC_CRYPTO_EPAD);
	CHECK_INT(fc_aes_ecb_decrypt(key, 16, FC_PAD_NONE, pt, 15, out, sizeof out, &n), FC_CRYPTO_EPAD);
	/* PKCS7 of 16 bytes needs 32 */
	memset(out, 0x5A, sizeof out);
	CHECK_INT(fc_aes_ecb_encrypt(key, 16, FC_PAD_PKCS7, pt, 16, out, 31, &n), FC_CRYPTO_ESPACE);
	CHECK_INT(out[0], 0x5A);
	/* a full padding block: second block is E(16 x 0x10) */
	uint8_t pad16[16], epad[16];
	memset(pad16, 16, sizeof pad16);
	CHECK_INT(fc_aes_ecb_encrypt(key, 16, FC_PAD_NONE, pad16, 16, epad, sizeof epad, &n), 0);
	CHECK_INT(fc_aes_ecb_encrypt(key, 16, FC_PAD_PKCS7, pt, 16, out, 32, &n), 0);
	CHECK_INT(n, 32);
	CHECK_MEM(out, want, 16);
	CHECK_MEM(out + 16, epad, 16);
}

static void test_aes_cbc(void)
{
	uint8_t iv[16], pt[64], key[32], want[64], out[80];
	size_t n;
	for (int i = 0; i < 16; i++)
		iv[i] = (uint8_t)i;
	unhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
	      "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
	      pt, sizeof pt);

	/* SP 800-38A F.2.1 (CBC-AES128) */
	unhex("2b7e151628aed2a6abf7158809cf4f3c", key, sizeof key);
	unhex("7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
	      "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7",
	      want, sizeof want);
	CHECK_INT(fc_aes_cbc_encrypt(key, 16, iv, FC_PAD_NONE, pt, 64, out, sizeof out, &n), 0);
	CHECK_INT(n, 64);
	CHECK_MEM(out, want, 64);
	CHECK_INT(fc_aes_cbc_encrypt(key, 16, iv, FC_PAD_NONE, pt, 16, out, sizeof out, &n), 0);
	CHECK_MEM(out, want, 16);
	CHECK_INT(fc_aes_cbc_decrypt(key, 16, iv, FC_PAD_NONE, want, 64, out, sizeof out, &n), 0);
	CHECK_INT(n, 64);
	CHECK_MEM(out, pt, 64);
	/* the IV argument is not modified */
	CHECK_INT(iv[15], 15);

	/* SP 800-38A F.2.5 (CBC-AES256) */
	unhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", key, sizeof key);
	unhex("f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
	      "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b",
	      want, sizeof want);
	CHECK_INT(fc_aes_cbc_encrypt(key, 32, iv, FC_PAD_NONE, pt, 64, out, sizeof out, &n), 0);
	CHECK_MEM(out, want, 64);
	/* in place, both directions */
	uint8_t buf[64];
	memcpy(buf, pt, 64);
	CHECK_INT(fc_aes_cbc_encrypt(key, 32, iv, FC_PAD_NONE, buf, 64, buf, sizeof buf, &n), 0);
	CHECK_MEM(buf, want, 64);
	CHECK_INT(fc_aes_cbc_decrypt(key, 32, iv, FC_PAD_NONE, buf, 64, buf, sizeof buf, &n), 0);
	CHECK_MEM(buf, pt, 64);
	CHECK_INT(fc_aes_cbc_encrypt(key, 32, NULL, FC_PAD_NONE, pt, 64, out, sizeof out, &n), FC_CRYPTO_EINVAL);

	/* a short output buffer is refused before anything is written past its capacity */
	for (int pad = 0; pad < 2; pad++) {
		uint8_t small[64];
		memset(small, 0xCC, sizeof small);
		CHECK_INT(fc_aes_cbc_decrypt(key, 32, iv, (enum fc_padding)pad, want, 64, small, 16, &n), FC_CRYPTO_ESPACE);
		CHECK_INT(fc_aes_ecb_decrypt(key, 32, (enum fc_padding)pad, want, 64, small, 16, &n), FC_CRYPTO_ESPACE);
		int touched = 0;
		for (size_t i = 16; i < sizeof small; i++)
			touched += small[i] != 0xCC;
		CHECK_INT(touched, 0);
		CHECK_INT(n, 0);
	}
}

/* For each length 0..33: PKCS7 output size, padding bytes (seen by decrypting without unpadding), round
 * trip, in-place round trip, and an exact-size output buffer on decrypt. */
static void test_pkcs7(void)
{
	uint8_t key[16], iv[16];
	for (int i = 0; i < 16; i++) {
		key[i] = (uint8_t)(0xA0 + i);
		iv[i] = (uint8_t)(0x30 + i);
	}
	int bad = 0;
	for (size_t len = 0; len <= 33; len++) {
		uint8_t pt[40], ct[48], raw[48], back[48], inplace[48];
		for (size_t i = 0; i < len; i++)
			pt[i] = (uint8_t)(i * 7 + len);
		size_t want = (len / 16 + 1) * 16, n = 0, m = 0;
		for (int mode = 0; mode < 2; mode++) {
			int rc = mode ? fc_aes_cbc_encrypt(key, 16, iv, FC_PAD_PKCS7, pt, len, ct, sizeof ct, &n)
				      : fc_aes_ecb_encrypt(key, 16, FC_PAD_PKCS7, pt, len, ct, sizeof ct, &n);
			if (rc != 0 || n != want) {
				bad++;
				continue;
			}
			rc = mode ? fc_aes_cbc_decrypt(key, 16, iv, FC_PAD_NONE, ct, n, raw, sizeof raw, &m)
				  : fc_aes_ecb_decrypt(key, 16, FC_PAD_NONE, ct, n, raw, sizeof raw, &m);
			if (rc != 0 || m != want || memcmp(raw, pt, len) != 0)
				bad++;
			for (size_t i = len; i < want; i++)
				if (raw[i] != want - len)
					bad++;
			/* exact-size buffer for the plaintext */
			rc = mode ? fc_aes_cbc_decrypt(key, 16, iv, FC_PAD_PKCS7, ct, n, back, len, &m)
				  : fc_aes_ecb_decrypt(key, 16, FC_PAD_PKCS7, ct, n, back, len, &m);
			if (rc != 0 || m != len || memcmp(back, pt, len) != 0)
				bad++;
			if (len > 0) {
				rc = mode ? fc_aes_cbc_decrypt(key, 16, iv, FC_PAD_PKCS7, ct, n, back, len - 1, &m)
					  : fc_aes_ecb_decrypt(key, 16, FC_PAD_PKCS7, ct, n, back, len - 1, &m);
				if (rc != FC_CRYPTO_ESPACE)
					bad++;
			}
			/* in place */
			memcpy(inplace, pt, len);
			rc = mode ? fc_aes_cbc_encrypt(key, 16, iv, FC_PAD_PKCS7, inplace, len, inplace, sizeof inplace, &n)
				  : fc_aes_ecb_encrypt(key, 16, FC_PAD_PKCS7, inplace, len, inplace, sizeof inplace, &n);
			if (rc != 0 || n != want || memcmp(inplace, ct, want) != 0)
				bad++;
			rc = mode ? fc_aes_cbc_decrypt(key, 16, iv, FC_PAD_PKCS7, inplace, n, inplace, sizeof inplace, &m)
				  : fc_aes_ecb_decrypt(key, 16, FC_PAD_PKCS7, inplace, n, inplace, sizeof inplace, &m);
			if (rc != 0 || m != len || memcmp(inplace, pt, len) != 0)
				bad++;
		}
	}
	CHECK_INT(bad, 0);
}

static void test_pkcs7_reject(void)
{
	uint8_t key[16] = {1, 2, 3}, iv[16] = {9};
	uint8_t blk[32], ct[32], out[32];
	size_t n;
	/* Each case: a last plaintext block with invalid padding, encrypted raw, must fail to unpad. */
	static const struct {
		uint8_t last;   /* last byte */
		uint8_t fill;   /* bytes before it in the padding area */
		int cover;      /* how many bytes before the last one get `fill` */
	} cases[] = {
		{0, 0, 0},        /* pad value 0 */
		{17, 17, 15},     /* pad value > 16 */
		{0xff, 0xff, 15}, /* pad value 255 */
		{3, 2, 2},        /* ... 02 02 03: inconsistent */
		{16, 16, 14},     /* 16 claimed, first byte differs */
		{2, 1, 1},        /* ... 01 02 */
	};
	int bad = 0;
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		memset(blk, 0x41, sizeof blk);
		blk[31] = cases[c].last;
		for (int i = 0; i < cases[c].cover; i++)
			blk[30 - i] = cases[c].fill;
		if (fc_aes_cbc_encrypt(key, 16, iv, FC_PAD_NONE, blk, 32, ct, sizeof ct, &n) != 0)
			bad++;
		if (fc_aes_cbc_decrypt(key, 16, iv, FC_PAD_PKCS7, ct, 32, out, sizeof out, &n) != FC_CRYPTO_EPAD)
			bad++;
		if (fc_aes_ecb_encrypt(key, 16, FC_PAD_NONE, blk, 32, ct, sizeof ct, &n) != 0)
			bad++;
		if (fc_aes_ecb_decrypt(key, 16, FC_PAD_PKCS7, ct, 32, out, sizeof out, &n) != FC_CRYPTO_EPAD)
			bad++;
	}
	CHECK_INT(bad, 0);
	/* valid edge: exactly 16 bytes of 0x10 */
	memset(blk + 16, 16, 16);
	CHECK_INT(fc_aes_ecb_encrypt(key, 16, FC_PAD_NONE, blk, 32, ct, sizeof ct, &n), 0);
	CHECK_INT(fc_aes_ecb_decrypt(key, 16, FC_PAD_PKCS7, ct, 32, out, sizeof out, &n), 0);
	CHECK_INT(n, 16);
	/* lengths that are not block multiples, and empty input with PKCS7 */
	CHECK_INT(fc_aes_cbc_decrypt(key, 16, iv, FC_PAD_PKCS7, ct, 31, out, sizeof out, &n), FC_CRYPTO_EPAD);
	CHECK_INT(fc_aes_cbc_decrypt(key, 16, iv, FC_PAD_PKCS7, ct, 0, out, sizeof out, &n), FC_CRYPTO_EPAD);
	CHECK_INT(fc_aes_ecb_decrypt(key, 16, FC_PAD_PKCS7, ct, 0, out, sizeof out, &n), FC_CRYPTO_EPAD);
	CHECK_INT(fc_aes_ecb_decrypt(key, 16, FC_PAD_NONE, ct, 0, out, sizeof out, &n), 0);
	CHECK_INT(n, 0);
}

static void test_gcm(void)
{
	uint8_t k[32], iv[12], pt[64], aad[20], want[64], tag[16], wtag[16], out[64];
	unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", k, sizeof k);
	unhex("cafebabefacedbaddecaf888", iv, sizeof iv);
	unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
	      pt, sizeof pt);
	unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2", aad, sizeof aad);

	/* GCM spec test case 3 (AES-128, no AAD) */
	unhex("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	      "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
	      want, sizeof want);
	unhex("4d5c2af327cd64a62cf35abd2ba6fab4", wtag, sizeof wtag);
	CHECK_INT(fc_aes_gcm_encrypt(k, 16, iv, 12, NULL, 0, pt, 64, out, tag, 16), 0);
	CHECK_MEM(out, want, 64);
	CHECK_MEM(tag, wtag, 16);
	CHECK_INT(fc_aes_gcm_decrypt(k, 16, iv, 12, NULL, 0, want, 64, out, wtag, 16), 0);
	CHECK_MEM(out, pt, 64);

	/* test case 4 (AES-128, 60 bytes, AAD) */
	unhex("5bc94fbc3221a5db94fae95ae7121a47", wtag, sizeof wtag);
	CHECK_INT(fc_aes_gcm_encrypt(k, 16, iv, 12, aad, 20, pt, 60, out, tag, 16), 0);
	CHECK_MEM(out, want, 60);
	CHECK_MEM(tag, wtag, 16);
	/* truncated tags are prefixes */
	CHECK_INT(fc_aes_gcm_encrypt(k, 16, iv, 12, aad, 20, pt, 60, out, tag, 12), 0);
	CHECK_MEM(tag, wtag, 12);
	CHECK_INT(fc_aes_gcm_decrypt(k, 16, iv, 12, aad, 20, want, 60, out, wtag, 12), 0);
	CHECK_MEM(out, pt, 60);
	/* tampering: tag, ciphertext, AAD */
	uint8_t bt[16];
	memcpy(bt, wtag, 16);
	bt[0] ^= 1;
	CHECK_INT(fc_aes_gcm_decrypt(k, 16, iv, 12, aad, 20, want, 60, out, bt, 16), FC_CRYPTO_EAUTH);
	uint8_t bc[64];
	memcpy(bc, want, 64);
	bc[59] ^= 0x80;
	CHECK_INT(fc_aes_gcm_decrypt(k, 16, iv, 12, aad, 20, bc, 60, out, wtag, 16), FC_CRYPTO_EAUTH);
	CHECK_INT(fc_aes_gcm_decrypt(k, 16, iv, 12, aad, 19, want, 60, out, wtag, 16), FC_CRYPTO_EAUTH);
	/* tag length bounds */
	CHECK_INT(fc_aes_gcm_encrypt(k, 16, iv, 12, aad, 20, pt, 60, out, tag, 3), FC_CRYPTO_EINVAL);
	CHECK_INT(fc_aes_gcm_encrypt(k, 16, iv, 12, aad, 20, pt, 60, out, tag, 17), FC_CRYPTO_EINVAL);
	CHECK_INT(fc_aes_gcm_encrypt(k, 16, iv, 0, aad, 20, pt, 60, out, tag, 16), FC_CRYPTO_EINVAL);

	/* test case 15 (AES-256, no AAD) and 16 (AES-256, AAD) */
	unhex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	      "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
	      want, sizeof want);
	unhex("b094dac5d93471bdec1a502270e3cc6c", wtag, sizeof wtag);
	CHECK_INT(fc_aes_gcm_encrypt(k, 32, iv, 12, NULL, 0, pt, 64, out, tag, 16), 0);
	CHECK_MEM(out, want, 64);
	CHECK_MEM(tag, wtag, 16);
	unhex("76fc6ece0f4e1768cddf8853bb2d551b", wtag, sizeof wtag);
	CHECK_INT(fc_aes_gcm_encrypt(k, 32, iv, 12, aad, 20, pt, 60, out, tag, 16), 0);
	CHECK_MEM(out, want, 60);
	CHECK_MEM(tag, wtag, 16);
	/* in place decrypt */
	uint8_t buf[64];
	memcpy(buf, want, 60);
	CHECK_INT(fc_aes_gcm_decrypt(k, 32, iv, 12, aad, 20, buf, 60, buf, wtag, 16), 0);
	CHECK_MEM(buf, pt, 60);
}

static void *rng_thread(void *arg)
{
	int *fails = arg;
	for (int i = 0; i < 2000; i++) {
		uint8_t b[48];
		if (fc_random(b, sizeof b) != 0)
			(*fails)++;
	}
	return NULL;
}

static void test_random(void)
{
	uint8_t a[32], b[32], zero[32] = {0};
	CHECK_INT(fc_random(a, sizeof a), 0);
	CHECK_INT(fc_random(b, sizeof b), 0);
	CHECK(memcmp(a, b, sizeof a) != 0);
	CHECK(memcmp(a, zero, sizeof a) != 0);
	/* more than one CTR-DRBG request */
	uint8_t *big = malloc(5000);
	CHECK(big != NULL);
	if (big) {
		memset(big, 0, 5000);
		CHECK_INT(fc_random(big, 5000), 0);
		CHECK(memcmp(big + 4968, zero, 32) != 0);
		free(big);
	}
	CHECK_INT(fc_random(NULL, 0), 0);

	char h[41], s[65];
	CHECK_INT(fc_random_hex(h, 40), 0);
	CHECK_INT(strlen(h), 40);
	CHECK(strspn(h, "0123456789abcdef") == 40);
	CHECK_INT(fc_random_alnum(s, 64), 0);
	CHECK_INT(strlen(s), 64);
	CHECK(strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") == 64);
	CHECK_INT(fc_random_hex(h, 0), 0);
	CHECK_STR(h, "");

	/* Threads */
	pthread_t th[4];
	int fails[4] = {0};
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, rng_thread, &fails[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	CHECK_INT(fails[0] + fails[1] + fails[2] + fails[3], 0);

	/* After fork, parent and child must not draw the same bytes. */
	int pfd[2];
	CHECK(pipe(pfd) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		uint8_t c[16];
		int ok = fc_random(c, sizeof c) == 0 && write(pfd[1], c, sizeof c) == (ssize_t)sizeof c;
		_exit(ok ? 0 : 1);
	}
	uint8_t mine[16], theirs[16];
	CHECK_INT(fc_random(mine, sizeof mine), 0);
	close(pfd[1]);
	CHECK(read(pfd[0], theirs, sizeof theirs) == (ssize_t)sizeof theirs);
	close(pfd[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(memcmp(mine, theirs, sizeof mine) != 0);
}

static void test_ct_equal(void)
{
	CHECK_INT(fc_ct_equal("abcdef", "abcdef", 6), 1);
	CHECK_INT(fc_ct_equal("abcdef", "abcdeg", 6), 0);
	CHECK_INT(fc_ct_equal("xbcdef", "abcdef", 6), 0);
	CHECK_INT(fc_ct_equal("a", "b", 0), 1);
}

int main(void)
{
	test_hashes();
	test_pbkdf2();
	test_pbkdf2_mosquitto();
	test_hex();
	test_base64();
	test_crc32();
	test_aes_ecb();
	test_aes_cbc();
	test_pkcs7();
	test_pkcs7_reject();
	test_gcm();
	test_random();
	test_ct_equal();
	return t_done();
}
