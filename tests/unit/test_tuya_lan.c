/* Tuya LAN frames (protocol 3.3) and the AP-mode config datagram (vendors/tuya/lan.c; tuya.md §5, §4.2).
 * The sheet publishes no LAN vector, so expected bytes are built here independently: the layout by hand
 * and AES-128-ECB straight with mbedtls, never with the code under test. */
#include <mbedtls/aes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "unit/t.h"
#include "vendors/tuya/tuya_internal.h"

#define KEY "0123456789abcdef"
#define KEY2 "fedcba9876543210"

/* ---- independent builders ---- */

struct buf {
	uint8_t b[8192];
	size_t n;
};

static void be32(struct buf *b, uint32_t v)
{
	b->b[b->n++] = (uint8_t)(v >> 24);
	b->b[b->n++] = (uint8_t)(v >> 16);
	b->b[b->n++] = (uint8_t)(v >> 8);
	b->b[b->n++] = (uint8_t)v;
}

static void bytes(struct buf *b, const void *p, size_t n)
{
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

/* AES-128-ECB + PKCS7 with mbedtls directly. */
static size_t aes_ecb(const char *key, const void *in, size_t len, uint8_t *out)
{
	uint8_t tmp[4096 + 16];
	size_t padded = (len / 16 + 1) * 16;
	memcpy(tmp, in, len);
	memset(tmp + len, (int)(padded - len), padded - len);
	mbedtls_aes_context c;
	mbedtls_aes_init(&c);
	mbedtls_aes_setkey_enc(&c, (const unsigned char *)key, 128);
	for (size_t i = 0; i < padded; i += 16)
		mbedtls_aes_crypt_ecb(&c, MBEDTLS_AES_ENCRYPT, tmp + i, out + i);
	mbedtls_aes_free(&c);
	return padded;
}

/* Raw ciphertext of exactly `len` bytes (no padding added; len % 16 == 0). */
static void aes_ecb_raw(const char *key, const void *in, size_t len, uint8_t *out)
{
	mbedtls_aes_context c;
	mbedtls_aes_init(&c);
	mbedtls_aes_setkey_enc(&c, (const unsigned char *)key, 128);
	for (size_t i = 0; i < len; i += 16)
		mbedtls_aes_crypt_ecb(&c, MBEDTLS_AES_ENCRYPT, (const uint8_t *)in + i, out + i);
	mbedtls_aes_free(&c);
}

/* A whole frame: prefix seq cmd len [retcode] [hdr15] [ct] crc suffix. retcode < 0: none. */
static void frame(struct buf *b, uint32_t seq, uint32_t cmd, long retcode, const uint8_t *hdr15, const uint8_t *ct,
		  size_t ctlen)
{
	b->n = 0;
	size_t body = (retcode >= 0 ? 4 : 0) + (hdr15 ? 15 : 0) + ctlen;
	be32(b, 0x000055AA);
	be32(b, seq);
	be32(b, cmd);
	be32(b, (uint32_t)(body + 8));
	if (retcode >= 0)
		be32(b, (uint32_t)retcode);
	if (hdr15)
		bytes(b, hdr15, 15);
	if (ctlen)
		bytes(b, ct, ctlen);
	be32(b, fc_crc32(b->b, b->n));
	be32(b, 0x0000AA55);
}

static const uint8_t HDR33[15] = {'3', '.', '3', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

static bool same(const uint8_t *got, size_t gn, const struct buf *want)
{
	if (gn != want->n) {
		fprintf(stderr, "length %zu, expected %zu\n", gn, want->n);
		return false;
	}
	for (size_t i = 0; i < gn; i++)
		if (got[i] != want->b[i]) {
			fprintf(stderr, "byte %zu: %02x, expected %02x\n", i, got[i], want->b[i]);
			return false;
		}
	return true;
}

static int decode(const struct buf *b, const char *key, struct tuya_lan_frame *f, char *err)
{
	return tuya_lan_decode(b->b, b->n, key, f, err, 200);
}

/* ---- 55AA frames ---- */

static void test_encode_layout(void)
{
	const char *json = "{\"ssid\":\"new\",\"passwd\":\"pw2\"}";
	uint8_t ct[64];
	size_t cl = aes_ecb(KEY, json, strlen(json), ct);
	struct buf want;
	frame(&want, 1, 0x0f, -1, HDR33, ct, cl);
	uint8_t *out = NULL;
	size_t n = 0;
	char err[200];
	CHECK_INT(tuya_lan_encode(1, TUYA_LAN_WIFI_INFO, false, 0, json, strlen(json), KEY, &out, &n, err, sizeof err), 0);
	CHECK(same(out, n, &want));
	CHECK_INT(n, 16 + 15 + 32 + 8);
	CHECK_INT(out[15], 15 + 32 + 8); /* len counts header + payload + crc + suffix */
	free(out);

	/* commands sent without the clear header (§5) */
	const uint32_t nohdr[] = {0x09, 0x0a, 0x10, 0x12, 0x40};
	for (size_t i = 0; i < sizeof nohdr / sizeof nohdr[0]; i++) {
		const char *q = "{\"gwId\":\"x\",\"devId\":\"x\"}";
		cl = aes_ecb(KEY, q, strlen(q), ct);
		frame(&want, 7, nohdr[i], -1, NULL, ct, cl);
		CHECK_INT(tuya_lan_encode(7, nohdr[i], false, 0, q, strlen(q), KEY, &out, &n, err, sizeof err), 0);
		CHECK(same(out, n, &want));
		free(out);
	}
	/* CONTROL carries it */
	cl = aes_ecb(KEY, "{}", 2, ct);
	frame(&want, 0xdeadbeef, 0x07, -1, HDR33, ct, cl);
	CHECK_INT(tuya_lan_encode(0xdeadbeef, TUYA_LAN_CONTROL, false, 0, "{}", 2, KEY, &out, &n, err, sizeof err), 0);
	CHECK(same(out, n, &want));
	free(out);

	/* device side: a return code, an empty payload is just the return code */
	frame(&want, 1, 0x0f, 0, NULL, NULL, 0);
	CHECK_INT(tuya_lan_encode(1, TUYA_LAN_WIFI_INFO, true, 0, NULL, 0, KEY, &out, &n, err, sizeof err), 0);
	CHECK(same(out, n, &want));
	CHECK_INT(n, 28);
	free(out);
	cl = aes_ecb(KEY, "{\"err\":1}", 9, ct);
	frame(&want, 3, 0x0f, 255, HDR33, ct, cl);
	CHECK_INT(tuya_lan_encode(3, TUYA_LAN_WIFI_INFO, true, 255, "{\"err\":1}", 9, KEY, &out, &n, err, sizeof err), 0);
	CHECK(same(out, n, &want));
	free(out);
	/* a block-aligned JSON gets a whole block of padding */
	const char *j16 = "{\"a\":\"12345678\"}";
	CHECK_INT(strlen(j16), 16);
	cl = aes_ecb(KEY, j16, 16, ct);
	CHECK_INT(cl, 32);
	frame(&want, 2, 0x0a, -1, NULL, ct, cl);
	CHECK_INT(tuya_lan_encode(2, TUYA_LAN_DP_QUERY, false, 0, j16, 16, KEY, &out, &n, err, sizeof err), 0);
	CHECK(same(out, n, &want));
	free(out);
	/* a key string longer than 16: AES uses the first 16 */
	CHECK_INT(tuya_lan_encode(2, TUYA_LAN_DP_QUERY, false, 0, j16, 16, KEY "XYZ", &out, &n, err, sizeof err), 0);
	CHECK(same(out, n, &want));
	free(out);
}

static void test_encode_refusals(void)
{
	uint8_t *out = (uint8_t *)"x";
	size_t n = 9;
	char err[200];
	CHECK_INT(tuya_lan_encode(1, 7, false, 0, "{}", 2, "short", &out, &n, err, sizeof err), TUYA_EFORMAT);
	CHECK(out == NULL && n == 0 && err[0]);
	CHECK_INT(tuya_lan_encode(1, 7, false, 0, "{}", 2, NULL, &out, &n, err, sizeof err), TUYA_EFORMAT);
	CHECK_INT(tuya_lan_encode(1, 7, false, 0, "{\0}", 3, KEY, &out, &n, err, sizeof err), TUYA_EFORMAT);
	CHECK(strstr(err, "NUL") != NULL);
	CHECK_INT(tuya_lan_encode(1, 7, false, 0, "hello", 5, KEY, &out, &n, err, sizeof err), TUYA_EFORMAT);
	CHECK_INT(tuya_lan_encode(1, 7, false, 0, NULL, 3, KEY, &out, &n, err, sizeof err), TUYA_EFORMAT);
	CHECK_INT(tuya_lan_encode(1, 7, true, 256, "{}", 2, KEY, &out, &n, err, sizeof err), TUYA_EFORMAT);
	CHECK(strstr(err, "256") != NULL);
	CHECK_INT(tuya_lan_encode(1, 7, false, 0, "{}", 2, KEY, NULL, &n, err, sizeof err), TUYA_EFORMAT);
	/* size: the largest JSON that fits TUYA_LAN_MAX, and one byte more */
	static char big[TUYA_LAN_MAX + 2];
	memset(big, ' ', sizeof big);
	big[0] = '{';
	/* with header and retcode: 16 + 4 + 15 + ct + 8 <= 4096 -> ct <= 4053 -> 4048 -> json <= 4047 */
	big[4046] = '}';
	CHECK_INT(tuya_lan_encode(1, 7, true, 0, big, 4047, KEY, &out, &n, err, sizeof err), 0);
	CHECK_INT(n, 16 + 4 + 15 + 4048 + 8);
	CHECK_INT(tuya_lan_frame_len(out, n), (long)n);
	free(out);
	big[4046] = ' ';
	big[4047] = '}';
	CHECK_INT(tuya_lan_encode(1, 7, true, 0, big, 4048, KEY, &out, &n, err, sizeof err), TUYA_EFORMAT);
	CHECK(out == NULL);
	CHECK_INT(tuya_lan_encode(1, 7, true, 0, big, sizeof big, KEY, &out, &n, err, sizeof err), TUYA_EFORMAT);
}

static void test_decode(void)
{
	char err[200];
	struct tuya_lan_frame f;
	struct buf b;
	uint8_t ct[128];
	const char *json = "{\"ssid\":\"new\",\"passwd\":\"pw2\"}";
	size_t cl = aes_ecb(KEY, json, strlen(json), ct);

	/* client frame, with the 3.3 header */
	frame(&b, 42, 0x0f, -1, HDR33, ct, cl);
	CHECK_INT(decode(&b, KEY, &f, err), 0);
	CHECK_INT(f.seq, 42);
	CHECK_INT(f.cmd, 0x0f);
	CHECK(!f.has_retcode);
	CHECK_INT(f.payload_len, strlen(json));
	CHECK_STR((const char *)f.payload, json);
	tuya_lan_frame_free(&f);
	tuya_lan_frame_free(&f); /* twice is harmless */
	CHECK(f.payload == NULL && f.payload_len == 0);

	/* device frame: retcode + header */
	frame(&b, 9, 0x08, 0, HDR33, ct, cl);
	CHECK_INT(decode(&b, KEY, &f, err), 0);
	CHECK(f.has_retcode);
	CHECK_INT(f.retcode, 0);
	CHECK_STR((const char *)f.payload, json);
	tuya_lan_frame_free(&f);
	/* device frame: retcode, no header (DP_QUERY answer) */
	frame(&b, 9, 0x0a, 1, NULL, ct, cl);
	CHECK_INT(decode(&b, KEY, &f, err), 0);
	CHECK(f.has_retcode);
	CHECK_INT(f.retcode, 1);
	CHECK_STR((const char *)f.payload, json);
	tuya_lan_frame_free(&f);
	/* device frame: retcode only */
	frame(&b, 5, 0x0f, 2, NULL, NULL, 0);
	CHECK_INT(decode(&b, KEY, &f, err), 0);
	CHECK(f.has_retcode);
	CHECK_INT(f.retcode, 2);
	CHECK(f.payload == NULL);
	CHECK_INT(f.payload_len, 0);
	CHECK_INT(f.seq, 5);
	/* client frame without payload */
	frame(&b, 5, 0x09, -1, NULL, NULL, 0);
	CHECK_INT(decode(&b, KEY, &f, err), 0);
	CHECK(!f.has_retcode && f.payload_len == 0);
	/* a device's "source header": "3.3" + CRC + seq + source id, skipped whatever it holds */
	const uint8_t src[15] = {'3', '.', '3', 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 7, 0, 0, 0, 1};
	frame(&b, 9, 0x08, 0, src, ct, cl);
	CHECK_INT(decode(&b, KEY, &f, err), 0);
	CHECK_STR((const char *)f.payload, json);
	tuya_lan_frame_free(&f);
	/* a client frame whose ciphertext happens to start below 256: still no retcode ((len - 4) % 16 == 12) */
	uint8_t lowct[32];
	memcpy(lowct, ct, sizeof lowct);
	lowct[0] = lowct[1] = lowct[2] = 0; /* not decryptable any more: only the guess is tested */
	frame(&b, 1, 0x0a, -1, NULL, lowct, 32);
	CHECK(decode(&b, KEY, &f, err) != 0); /* EKEY, not a retcode misread as such */
	CHECK(strstr(err, "whole AES blocks") == NULL);

	/* the wrong key */
	frame(&b, 1, 0x0f, -1, HDR33, ct, cl);
	CHECK_INT(decode(&b, KEY2, &f, err), TUYA_EKEY);
	CHECK(strstr(err, "wrong key") != NULL);
	CHECK(f.payload == NULL);
	frame(&b, 1, 0x0f, 0, HDR33, ct, cl);
	CHECK_INT(decode(&b, KEY2, &f, err), TUYA_EKEY);
	/* decrypts (padding fine) but is not JSON: the wrong key too */
	uint8_t nj[32];
	size_t nl = aes_ecb(KEY, "hello world", 11, nj);
	frame(&b, 1, 0x0f, -1, HDR33, nj, nl);
	CHECK_INT(decode(&b, KEY, &f, err), TUYA_EKEY);
	/* JSON-looking with a NUL byte: a format error */
	nl = aes_ecb(KEY, "{\"a\":\0}", 7, nj);
	frame(&b, 1, 0x0f, -1, HDR33, nj, nl);
	CHECK_INT(decode(&b, KEY, &f, err), TUYA_EFORMAT);
	CHECK(strstr(err, "NUL") != NULL);
	/* bad padding byte with the right key */
	uint8_t plain[16], badpad[16];
	memcpy(plain, "{\"a\":1}\x09\x09\x09\x09\x09\x09\x09\x11", 16);
	aes_ecb_raw(KEY, plain, 16, badpad);
	frame(&b, 1, 0x0f, -1, HDR33, badpad, 16);
	CHECK_INT(decode(&b, KEY, &f, err), TUYA_EKEY);
	/* a short key is refused, not read past */
	frame(&b, 1, 0x0f, -1, HDR33, ct, cl);
	CHECK_INT(decode(&b, "0123", &f, err), TUYA_EFORMAT);
	CHECK_INT(decode(&b, NULL, &f, err), TUYA_EFORMAT);
}

static void test_decode_refusals(void)
{
	char err[200];
	struct tuya_lan_frame f;
	struct buf b, g;
	uint8_t ct[64];
	size_t cl = aes_ecb(KEY, "{\"dps\":{\"1\":true}}", 18, ct);
	frame(&b, 1, 0x07, -1, HDR33, ct, cl);

	g = b;
	g.b[20] ^= 1; /* inside the header: CRC no longer matches */
	CHECK_INT(decode(&g, KEY, &f, err), TUYA_EFORMAT);
	CHECK(strstr(err, "CRC") != NULL);
	g = b;
	g.b[g.n - 5] ^= 0x80; /* the CRC itself */
	CHECK_INT(decode(&g, KEY, &f, err), TUYA_EFORMAT);
	g = b;
	g.b[2] = 0x66; /* prefix */
	CHECK_INT(decode(&g, KEY, &f, err), TUYA_EFORMAT);
	g = b;
	g.b[g.n - 1] = 0x56; /* suffix */
	CHECK_INT(decode(&g, KEY, &f, err), TUYA_EFORMAT);
	CHECK(strstr(err, "suffix") != NULL);
	/* truncation at every length */
	int ok = 0;
	for (size_t n = 0; n < b.n; n++)
		ok += tuya_lan_decode(b.b, n, KEY, &f, err, sizeof err) == TUYA_EFORMAT;
	CHECK_INT(ok, b.n);
	/* length field that lies (frame re-CRC'd so only the length is wrong) */
	g = b;
	g.b[15] += 16;
	uint32_t crc = fc_crc32(g.b, g.n - 8);
	g.b[g.n - 8] = (uint8_t)(crc >> 24);
	g.b[g.n - 7] = (uint8_t)(crc >> 16);
	g.b[g.n - 6] = (uint8_t)(crc >> 8);
	g.b[g.n - 5] = (uint8_t)crc;
	CHECK_INT(decode(&g, KEY, &f, err), TUYA_EFORMAT);
	CHECK(strstr(err, "length") != NULL);
	/* trailing garbage after the frame */
	g = b;
	g.b[g.n++] = 0;
	CHECK_INT(decode(&g, KEY, &f, err), TUYA_EFORMAT);
	/* not whole AES blocks */
	frame(&g, 1, 0x07, -1, HDR33, ct, cl - 1);
	CHECK_INT(decode(&g, KEY, &f, err), TUYA_EFORMAT);
	CHECK(strstr(err, "blocks") != NULL);
	/* the header without ciphertext */
	frame(&g, 1, 0x07, -1, HDR33, NULL, 0);
	CHECK_INT(decode(&g, KEY, &f, err), TUYA_EFORMAT);
	/* garbage */
	uint8_t junk[64];
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	CHECK_INT(tuya_lan_decode(junk, sizeof junk, KEY, &f, err, sizeof err), TUYA_EFORMAT);
	CHECK_INT(tuya_lan_decode(NULL, 5, KEY, &f, err, sizeof err), TUYA_EFORMAT);
	CHECK_INT(tuya_lan_decode(b.b, b.n, KEY, NULL, err, sizeof err), TUYA_EFORMAT);
	/* oversize: a well-formed frame over TUYA_LAN_MAX */
	static uint8_t bigct[TUYA_LAN_MAX];
	static char bigjson[TUYA_LAN_MAX];
	memset(bigjson, ' ', sizeof bigjson);
	bigjson[0] = '{';
	bigjson[4079] = '}';
	size_t bl = aes_ecb(KEY, bigjson, 4080, bigct); /* 4096 bytes of ciphertext */
	static struct buf huge;
	frame(&huge, 1, 0x07, -1, HDR33, bigct, bl);
	CHECK(huge.n > TUYA_LAN_MAX);
	CHECK_INT(tuya_lan_decode(huge.b, huge.n, KEY, &f, err, sizeof err), TUYA_EFORMAT);
	CHECK(strstr(err, "limit") != NULL);
	CHECK_INT(tuya_lan_frame_len(huge.b, huge.n), -1);
	/* no error string buffer: still refused */
	CHECK_INT(tuya_lan_decode(junk, sizeof junk, KEY, &f, NULL, 0), TUYA_EFORMAT);
}

static void test_frame_len(void)
{
	struct buf b;
	uint8_t ct[32];
	size_t cl = aes_ecb(KEY, "{}", 2, ct);
	frame(&b, 1, 0x07, -1, HDR33, ct, cl);
	CHECK_INT(tuya_lan_frame_len(b.b, 0), 0);
	CHECK_INT(tuya_lan_frame_len(NULL, 0), 0);
	CHECK_INT(tuya_lan_frame_len(NULL, 3), -1);
	for (size_t n = 1; n < b.n; n++)
		if (tuya_lan_frame_len(b.b, n) != 0) {
			CHECK_INT(tuya_lan_frame_len(b.b, n), 0);
			break;
		}
	CHECK_INT(tuya_lan_frame_len(b.b, b.n), (long)b.n);
	/* a second frame behind it: only the first one's length */
	struct buf two = b;
	memcpy(two.b + b.n, b.b, b.n);
	two.n = 2 * b.n;
	CHECK_INT(tuya_lan_frame_len(two.b, two.n), (long)b.n);
	/* not a 55AA frame, already from the first bytes */
	const uint8_t http[] = "HTTP/1.1 200";
	CHECK_INT(tuya_lan_frame_len(http, 1), -1);
	CHECK_INT(tuya_lan_frame_len(http, 12), -1);
	const uint8_t p2[] = {0x00, 0x00, 0x55};
	CHECK_INT(tuya_lan_frame_len(p2, 3), 0);
	const uint8_t p6699[] = {0x00, 0x00, 0x66, 0x99};
	CHECK_INT(tuya_lan_frame_len(p6699, 4), -1);
	/* length fields out of range */
	struct buf g = b;
	g.b[12] = g.b[13] = g.b[14] = 0;
	g.b[15] = 7; /* < crc + suffix */
	CHECK_INT(tuya_lan_frame_len(g.b, 16), -1);
	g.b[15] = 8;
	CHECK_INT(tuya_lan_frame_len(g.b, 16), 0);
	CHECK_INT(tuya_lan_frame_len(g.b, 24), 24);
	g.b[14] = 0x0f;
	g.b[15] = 0xf0; /* 4080: 16 + 4080 = 4096, the limit */
	CHECK_INT(tuya_lan_frame_len(g.b, 16), 0);
	g.b[15] = 0xf1;
	CHECK_INT(tuya_lan_frame_len(g.b, 16), -1);
	g.b[12] = 0xff; /* huge: no overflow */
	CHECK_INT(tuya_lan_frame_len(g.b, 16), -1);
}

static void test_round_trip(void)
{
	const char *jsons[] = {"{}", "{\"dps\":{\"1\":true,\"2\":\"\\u00e9t\\u00e9\"}}", "[1,2,3]",
			       "  {\"x\":\"0123456789abcdef0123456789abcdef\"}  "};
	const uint32_t cmds[] = {TUYA_LAN_CONTROL, TUYA_LAN_DP_QUERY, TUYA_LAN_HEART_BEAT, TUYA_LAN_STATUS,
				 TUYA_LAN_WIFI_INFO, 0x10, 0x40, 0x25};
	char err[200];
	int bad = 0, n = 0;
	for (size_t j = 0; j < sizeof jsons / sizeof jsons[0]; j++)
		for (size_t c = 0; c < sizeof cmds / sizeof cmds[0]; c++)
			for (int dev = 0; dev < 2; dev++)
				for (int empty = 0; empty < 2; empty++) {
					const char *js = empty ? "" : jsons[j];
					uint8_t *out = NULL;
					size_t ol = 0;
					uint32_t rc = dev ? (uint32_t)(c * 31 % 256) : 0;
					n++;
					if (tuya_lan_encode((uint32_t)(j * 1000 + c), cmds[c], dev, rc, js, strlen(js), KEY,
							    &out, &ol, err, sizeof err) != 0) {
						bad++;
						continue;
					}
					struct tuya_lan_frame f;
					if (tuya_lan_frame_len(out, ol) != (long)ol ||
					    tuya_lan_decode(out, ol, KEY, &f, err, sizeof err) != 0 ||
					    f.seq != (uint32_t)(j * 1000 + c) || f.cmd != cmds[c] || f.has_retcode != (dev == 1) ||
					    f.retcode != rc || f.payload_len != strlen(js) ||
					    (f.payload_len && memcmp(f.payload, js, f.payload_len) != 0)) {
						bad++;
						fprintf(stderr, "round trip failed: json %zu cmd %zu dev %d empty %d: %s\n", j, c,
							dev, empty, err);
					}
					tuya_lan_frame_free(&f);
					free(out);
				}
	CHECK_INT(bad, 0);
	CHECK_INT(n, 4 * 8 * 2 * 2);
}

/* ---- AP config datagram (§4.2) ---- */

static void ap_expected(struct buf *b, const char *json)
{
	b->n = 0;
	be32(b, 0x000055AA);
	be32(b, 0);                          /* frame_num */
	be32(b, 1);                          /* frame_type */
	be32(b, (uint32_t)strlen(json) + 8); /* payload + 8 */
	bytes(b, json, strlen(json));
	be32(b, fc_crc32(b->b, b->n)); /* crc32 over everything before it */
	be32(b, 0x0000AA55);
}

static void test_ap_config(void)
{
	uint8_t out[512];
	size_t n = 0;
	char err[200];
	struct buf want;

	CHECK_INT(tuya_ap_config_encode("home", "pw", "AAAAAAAA", out, sizeof out, &n, err, sizeof err), 0);
	ap_expected(&want, "{\"ssid\":\"home\",\"token\":\"AAAAAAAA\",\"passwd\":\"pw\"}");
	CHECK(same(out, n, &want));
	/* byte by byte, the header spelled out */
	const uint8_t head[16] = {0, 0, 0x55, 0xAA, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 48 + 8};
	CHECK_MEM(out, head, 16);
	CHECK_INT(n, 16 + 48 + 8);
	CHECK_MEM(out + n - 4, "\x00\x00\xAA\x55", 4);
	/* zlib crc32 of the first 64 bytes, big-endian */
	uint32_t crc = fc_crc32(out, 64);
	const uint8_t crcb[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8), (uint8_t)crc};
	CHECK_MEM(out + 64, crcb, 4);

	/* passwd omitted when empty (and when NULL) */
	ap_expected(&want, "{\"ssid\":\"cafe\",\"token\":\"AAAAAAAA\"}");
	CHECK_INT(tuya_ap_config_encode("cafe", "", "AAAAAAAA", out, sizeof out, &n, err, sizeof err), 0);
	CHECK(same(out, n, &want));
	CHECK_INT(tuya_ap_config_encode("cafe", NULL, "AAAAAAAA", out, sizeof out, &n, err, sizeof err), 0);
	CHECK(same(out, n, &want));
	/* escaping: quotes, backslashes, control characters; UTF-8 passes through */
	ap_expected(&want, "{\"ssid\":\"a\\\"b\\\\c\",\"token\":\"US12345678abcd\",\"passwd\":\"x\\ny\\u0001\"}");
	CHECK_INT(tuya_ap_config_encode("a\"b\\c", "x\ny\x01", "US12345678abcd", out, sizeof out, &n, err, sizeof err),
		  0);
	CHECK(same(out, n, &want));
	ap_expected(&want, "{\"ssid\":\"caf\xc3\xa9\",\"token\":\"\"}");
	CHECK_INT(tuya_ap_config_encode("caf\xc3\xa9", NULL, NULL, out, sizeof out, &n, err, sizeof err), 0);
	CHECK(same(out, n, &want));

	/* limits */
	char s33[34], p65[66], t65[66], q64[65];
	memset(s33, 's', 33);
	s33[33] = '\0';
	memset(p65, 'p', 65);
	p65[65] = '\0';
	memset(t65, 't', 65);
	t65[65] = '\0';
	memset(q64, '"', 64);
	q64[64] = '\0';
	CHECK_INT(tuya_ap_config_encode("", "pw", "T", out, sizeof out, &n, err, sizeof err), TUYA_EFORMAT);
	CHECK_INT(n, 0);
	CHECK_INT(tuya_ap_config_encode(NULL, "pw", "T", out, sizeof out, &n, err, sizeof err), TUYA_EFORMAT);
	CHECK_INT(tuya_ap_config_encode(s33, "pw", "T", out, sizeof out, &n, err, sizeof err), TUYA_EFORMAT);
	CHECK(strstr(err, "ssid") != NULL);
	s33[32] = '\0';
	CHECK_INT(tuya_ap_config_encode(s33, p65 + 1, t65 + 1, out, sizeof out, &n, err, sizeof err), 0);
	CHECK_INT(n, 16 + 8 + strlen("{\"ssid\":\"\",\"token\":\"\",\"passwd\":\"\"}") + 32 + 64 + 64);
	CHECK_INT(strlen("{\"ssid\":\"\",\"token\":\"\",\"passwd\":\"\"}"), 34);
	CHECK_INT(tuya_ap_config_encode("s", p65, "T", out, sizeof out, &n, err, sizeof err), TUYA_EFORMAT);
	CHECK(strstr(err, "password") != NULL);
	CHECK_INT(tuya_ap_config_encode("s", "pw", t65, out, sizeof out, &n, err, sizeof err), TUYA_EFORMAT);
	CHECK(strstr(err, "token") != NULL);
	/* 64 quotes escape to 128 bytes: the JSON outgrows 0xE8 */
	CHECK_INT(tuya_ap_config_encode(s33, q64, t65 + 1, out, sizeof out, &n, err, sizeof err), TUYA_EFORMAT);
	CHECK(strstr(err, "232") != NULL);
	/* 0xE8 exactly is fine: {"ssid":"<32>","token":"<64>","passwd":"<64>"} is 34 + 160 = 194 bytes;
	 * each '"' in the password adds one (its backslash) */
	char p[65];
	for (int k = 37; k <= 39; k++) {
		memset(p, 'p', 64);
		memset(p, '"', (size_t)k);
		p[64] = '\0';
		int rc = tuya_ap_config_encode(s33, p, t65 + 1, out, sizeof out, &n, err, sizeof err);
		CHECK_INT(rc, k <= 38 ? 0 : TUYA_EFORMAT);
		CHECK_INT(n, k <= 38 ? 16 + 194 + (size_t)k + 8 : 0);
	}
	/* output buffer too small */
	CHECK_INT(tuya_ap_config_encode("home", "pw", "AAAAAAAA", out, 71, &n, err, sizeof err), TUYA_EFORMAT);
	CHECK_INT(tuya_ap_config_encode("home", "pw", "AAAAAAAA", out, 72, &n, err, sizeof err), 0);
	CHECK_INT(tuya_ap_config_encode("home", "pw", "AAAAAAAA", NULL, 72, &n, err, sizeof err), TUYA_EFORMAT);
}

static void test_ap_decode(void)
{
	uint8_t out[512];
	size_t n = 0;
	char err[200], *json = NULL;
	CHECK_INT(tuya_ap_config_encode("home", "pw", "AAAAAAAA", out, sizeof out, &n, err, sizeof err), 0);
	CHECK_INT(tuya_ap_config_decode(out, n, &json, err, sizeof err), 0);
	CHECK_STR(json, "{\"ssid\":\"home\",\"token\":\"AAAAAAAA\",\"passwd\":\"pw\"}");
	free(json);

	struct buf b;
	/* whitespace around the object is fine (Python's json.dumps style too) */
	ap_expected(&b, "{\"ssid\": \"x\", \"token\": \"AAAAAAAA\"}\n");
	CHECK_INT(tuya_ap_config_decode(b.b, b.n, &json, err, sizeof err), 0);
	CHECK_STR(json, "{\"ssid\": \"x\", \"token\": \"AAAAAAAA\"}\n");
	free(json);
	/* refusals */
	struct buf g = b;
	g.b[20] ^= 1;
	CHECK_INT(tuya_ap_config_decode(g.b, g.n, &json, err, sizeof err), TUYA_EFORMAT);
	CHECK(strstr(err, "CRC") != NULL && json == NULL);
	g = b;
	g.b[11] = 0x14; /* AP_CONFIG_NEW: format unknown */
	CHECK_INT(tuya_ap_config_decode(g.b, g.n, &json, err, sizeof err), TUYA_EFORMAT);
	g = b;
	g.b[g.n - 1] = 0;
	CHECK_INT(tuya_ap_config_decode(g.b, g.n, &json, err, sizeof err), TUYA_EFORMAT);
	for (size_t k = 0; k < b.n; k++)
		if (tuya_ap_config_decode(b.b, k, &json, err, sizeof err) != TUYA_EFORMAT) {
			CHECK(!"truncated AP datagram accepted");
			break;
		}
	ap_expected(&g, "[\"ssid\"]");
	CHECK_INT(tuya_ap_config_decode(g.b, g.n, &json, err, sizeof err), TUYA_EFORMAT);
	ap_expected(&g, "{\"ssid\":\"x\"} {}");
	CHECK_INT(tuya_ap_config_decode(g.b, g.n, &json, err, sizeof err), TUYA_EFORMAT);
	ap_expected(&g, "{\"ssid\":\"x\"");
	CHECK_INT(tuya_ap_config_decode(g.b, g.n, &json, err, sizeof err), TUYA_EFORMAT);
	g.n = 0;
	be32(&g, 0x000055AA);
	be32(&g, 0);
	be32(&g, 1);
	be32(&g, 8 + 4);
	bytes(&g, "{\0}\n", 4);
	be32(&g, fc_crc32(g.b, g.n));
	be32(&g, 0x0000AA55);
	CHECK_INT(tuya_ap_config_decode(g.b, g.n, &json, err, sizeof err), TUYA_EFORMAT);
	char big[300];
	memset(big, ' ', sizeof big);
	big[0] = '{';
	big[232] = '}';
	big[233] = '\0';
	ap_expected(&g, big);
	CHECK_INT(tuya_ap_config_decode(g.b, g.n, &json, err, sizeof err), TUYA_EFORMAT);
	big[231] = '}';
	big[232] = '\0';
	ap_expected(&g, big);
	CHECK_INT(tuya_ap_config_decode(g.b, g.n, &json, err, sizeof err), 0);
	free(json);
	CHECK_INT(tuya_ap_config_decode(b.b, b.n, NULL, err, sizeof err), TUYA_EFORMAT);
	/* a LAN frame is not an AP datagram */
	uint8_t *lan = NULL;
	size_t ll = 0;
	CHECK_INT(tuya_lan_encode(0, TUYA_LAN_CONTROL, false, 0, "{}", 2, KEY, &lan, &ll, err, sizeof err), 0);
	CHECK_INT(tuya_ap_config_decode(lan, ll, &json, err, sizeof err), TUYA_EFORMAT);
	free(lan);
}

/* The fuzz seeds were built with Python's zlib and `openssl enc -aes-128-ecb` (key 16 x '0'): a third,
 * independent encoder. Each must decode to what was put in. */
static bool read_seed(const char *name, struct buf *b)
{
	const char *src = getenv("FC_SOURCE_DIR");
	char path[1024];
	snprintf(path, sizeof path, "%s/tests/fuzz/corpus/fuzz_tuya_lan/%s", src ? src : ".", name);
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		fprintf(stderr, "cannot open %s\n", path);
		return false;
	}
	b->n = fread(b->b, 1, sizeof b->b, fp);
	fclose(fp);
	return b->n > 0;
}

static void test_seeds(void)
{
	static const struct {
		const char *file;
		uint32_t seq, cmd;
		long retcode;
		const char *payload;
	} v[] = {
		{"wifi_info_client.bin", 1, 0x0f, -1, "{\"ssid\":\"new\",\"passwd\":\"pw2\"}"},
		{"wifi_info_reply_empty.bin", 1, 0x0f, 0, ""},
		{"wifi_info_reply_err.bin", 1, 0x0f, 1, "{\"err\":\"bad ssid\"}"},
		{"status_source_header.bin", 77, 0x08, 0, "{\"dps\":{\"1\":true,\"2\":120},\"t\":1700000000}"},
		{"dp_query_reply.bin", 2, 0x0a, 0, "{\"devId\":\"bf0123456789abcdefghij\",\"dps\":{\"1\":false}}"},
		{"heart_beat.bin", 3, 0x09, -1, ""},
	};
	char err[200];
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct buf b;
		struct tuya_lan_frame f;
		CHECK(read_seed(v[i].file, &b));
		int rc = tuya_lan_decode(b.b, b.n, "0000000000000000", &f, err, sizeof err);
		CHECK_INT(rc, 0);
		if (rc != 0) {
			fprintf(stderr, "%s: %s\n", v[i].file, err);
			continue;
		}
		CHECK_INT(f.seq, v[i].seq);
		CHECK_INT(f.cmd, v[i].cmd);
		CHECK_INT(f.has_retcode, v[i].retcode >= 0);
		CHECK_INT(f.retcode, v[i].retcode >= 0 ? v[i].retcode : 0);
		CHECK_STR(f.payload ? (const char *)f.payload : "", v[i].payload);
		tuya_lan_frame_free(&f);
	}
	struct buf b;
	char *json = NULL;
	CHECK(read_seed("ap_config.bin", &b));
	CHECK_INT(tuya_ap_config_decode(b.b, b.n, &json, err, sizeof err), 0);
	CHECK_STR(json, "{\"ssid\":\"home\",\"token\":\"AAAAAAAA\",\"passwd\":\"pw\"}");
	free(json);
	/* and our encoder gives the very same bytes */
	uint8_t out[300];
	size_t n = 0;
	CHECK_INT(tuya_ap_config_encode("home", "pw", "AAAAAAAA", out, sizeof out, &n, err, sizeof err), 0);
	CHECK(same(out, n, &b));
	CHECK(read_seed("wifi_info_client.bin", &b));
	uint8_t *lan = NULL;
	CHECK_INT(tuya_lan_encode(1, TUYA_LAN_WIFI_INFO, false, 0, "{\"ssid\":\"new\",\"passwd\":\"pw2\"}", 29,
				  "0000000000000000", &lan, &n, err, sizeof err),
		  0);
	CHECK(lan && same(lan, n, &b));
	free(lan);
}

int main(void)
{
	CHECK_INT(fc_crc32("123456789", 9), 0xCBF43926u); /* the zlib CRC-32 the sheet means */
	test_encode_layout();
	test_encode_refusals();
	test_decode();
	test_decode_refusals();
	test_frame_len();
	test_round_trip();
	test_ap_config();
	test_ap_decode();
	test_seeds();
	return t_done();
}
