/* Tuya LAN frames (55AA, protocol 3.3) and the AP-mode config datagram. Interface: tuya_internal.h, section
 * "lan.c". Facts: ../shared/protocols/tuya.md §5 (frame layout, 3.3 header, command numbers) and §4.2 (the
 * AP config datagram, cloudcutter's build_network_config_packet). Pure functions on buffers: no I/O.
 *
 * 55AA frame (all integers big-endian):
 *   000055AA | seq | cmd | len | [retcode, device -> client only] | payload | crc32 | 0000AA55
 *   len = bytes after the len field (retcode + payload + crc + suffix); crc32 (zlib) over prefix..payload.
 *   Protocol 3.3 payload = ["3.3" + 12 x 0x00] + AES-128-ECB(localKey[0:16], PKCS7(json)); the clear
 *   15-byte header is left out for DP_QUERY, DP_QUERY_NEW, UPDATEDPS, HEART_BEAT and LAN_EXT_STREAM (§5).
 *   Devices may fill the 12 bytes after "3.3" (their "source header": CRC, seq, source id); the decoder
 *   skips the 15 bytes whatever they hold.
 *
 * Decisions the sources leave open, taken here:
 *  - an empty JSON (len 0) is an empty payload (no header, no ciphertext): what devices send back when a
 *    command's answer is just the return code;
 *  - the decrypted payload must look like JSON ('{' or '[' first, after whitespace) — otherwise TUYA_EKEY,
 *    as in codec.h — and must not contain a NUL byte (TUYA_EFORMAT). The encoder refuses what the decoder
 *    would refuse, so decode -> encode -> decode is the identity on (seq, cmd, retcode, payload);
 *  - a device frame's retcode must be < 256: that is what lets a decoder tell it from a payload
 *    (tuya_internal.h), so the encoder refuses larger ones.
 *
 * Buffers that held plaintext are wiped before they are freed (the AP datagram and WIFI_INFO carry Wi-Fi
 * passwords). */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "vendors/tuya/tuya_internal.h"

#define LAN_PREFIX 0x000055AAu
#define LAN_SUFFIX 0x0000AA55u
#define HEAD_LEN 16   /* prefix seq cmd len */
#define TAIL_LEN 8    /* crc suffix */
#define RETCODE_LEN 4
#define V33_HDR_LEN 15 /* "3.3" + 12 bytes */
#define RETCODE_MAX 255u

#define AP_JSON_MAX 0xE8 /* cloudcutter MAX_CONFIG_PACKET_PAYLOAD_LEN */
#define AP_FRAME_TYPE 1u
#define AP_SSID_MAX 32
#define AP_PASSWD_MAX 64
#define AP_TOKEN_MAX 64

/* Commands sent without the clear "3.3" header (§5). */
#define CMD_DP_QUERY_NEW 0x10u
#define CMD_UPDATEDPS 0x12u
#define CMD_LAN_EXT_STREAM 0x40u

/* ---- helpers ------------------------------------------------------------------------------------ */

static int fail(char *err, size_t errlen, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static bool json_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static bool looks_like_json(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n && json_ws(p[i]))
		i++;
	return i < n && (p[i] == '{' || p[i] == '[');
}

/* The key string has at least 16 bytes (AES uses the first 16). */
static bool key_ok(const char *key) { return key && strnlen(key, TUYA_AES_KEY_LEN) == TUYA_AES_KEY_LEN; }

static bool has_v33_header(uint32_t cmd)
{
	return cmd != TUYA_LAN_DP_QUERY && cmd != CMD_DP_QUERY_NEW && cmd != CMD_UPDATEDPS && cmd != TUYA_LAN_HEART_BEAT &&
	       cmd != CMD_LAN_EXT_STREAM;
}

static void wipe_free(void *p, size_t n)
{
	if (!p)
		return;
	fc_wipe(p, n);
	free(p);
}

/* ---- 55AA frames (§5) ---------------------------------------------------------------------------- */

int tuya_lan_encode(uint32_t seq, uint32_t cmd, bool from_device, uint32_t retcode, const char *json, size_t len,
		    const char *local_key, uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!out || !outlen)
		return fail(err, errlen, TUYA_EFORMAT, "no output");
	*out = NULL;
	*outlen = 0;
	if (!json && len)
		return fail(err, errlen, TUYA_EFORMAT, "no input");
	if (!key_ok(local_key))
		return fail(err, errlen, TUYA_EFORMAT, "local key shorter than 16 characters");
	if (from_device && retcode > RETCODE_MAX)
		return fail(err, errlen, TUYA_EFORMAT, "return code %u over %u", retcode, RETCODE_MAX);
	if (len > TUYA_LAN_MAX)
		return fail(err, errlen, TUYA_EFORMAT, "JSON too large (%zu bytes)", len);
	if (len && memchr(json, '\0', len))
		return fail(err, errlen, TUYA_EFORMAT, "NUL byte in JSON");
	if (len && !looks_like_json((const uint8_t *)json, len))
		return fail(err, errlen, TUYA_EFORMAT, "payload is not JSON");

	const bool hdr = len && has_v33_header(cmd);
	const size_t ct = len ? (len / 16 + 1) * 16 : 0;
	const size_t body = (from_device ? RETCODE_LEN : 0) + (hdr ? V33_HDR_LEN : 0) + ct;
	const size_t total = HEAD_LEN + body + TAIL_LEN;
	if (total > TUYA_LAN_MAX)
		return fail(err, errlen, TUYA_EFORMAT, "frame of %zu bytes over the %d-byte limit", total, TUYA_LAN_MAX);
	uint8_t *b = calloc(1, total);
	if (!b)
		return fail(err, errlen, TUYA_EFORMAT, "out of memory");
	put_be32(b, LAN_PREFIX);
	put_be32(b + 4, seq);
	put_be32(b + 8, cmd);
	put_be32(b + 12, (uint32_t)(body + TAIL_LEN));
	uint8_t *p = b + HEAD_LEN;
	if (from_device) {
		put_be32(p, retcode);
		p += RETCODE_LEN;
	}
	if (hdr) {
		memcpy(p, "3.3", 3); /* the other 12 bytes stay 0 */
		p += V33_HDR_LEN;
	}
	if (len) {
		size_t n = 0;
		if (fc_aes_ecb_encrypt((const uint8_t *)local_key, TUYA_AES_KEY_LEN, FC_PAD_PKCS7, (const uint8_t *)json,
				       len, p, ct, &n) != 0 ||
		    n != ct) {
			wipe_free(b, total);
			return fail(err, errlen, TUYA_EFORMAT, "encryption failed");
		}
		p += ct;
	}
	put_be32(p, fc_crc32(b, (size_t)(p - b)));
	put_be32(p + 4, LAN_SUFFIX);
	*out = b;
	*outlen = total;
	return 0;
}

long tuya_lan_frame_len(const void *buf, size_t len)
{
	static const uint8_t prefix[4] = {0x00, 0x00, 0x55, 0xAA};
	if (!buf)
		return len ? -1 : 0;
	const uint8_t *p = buf;
	if (memcmp(p, prefix, len < 4 ? len : 4) != 0)
		return -1;
	if (len < HEAD_LEN)
		return 0;
	uint32_t n = get_be32(p + 12);
	if (n < TAIL_LEN || n > (uint32_t)(TUYA_LAN_MAX - HEAD_LEN))
		return -1;
	if (len < HEAD_LEN + (size_t)n)
		return 0;
	return (long)(HEAD_LEN + (size_t)n);
}

int tuya_lan_decode(const void *buf, size_t len, const char *local_key, struct tuya_lan_frame *out, char *err,
		    size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!out)
		return fail(err, errlen, TUYA_EFORMAT, "no output");
	memset(out, 0, sizeof *out);
	if (!buf && len)
		return fail(err, errlen, TUYA_EFORMAT, "no input");
	if (len > TUYA_LAN_MAX)
		return fail(err, errlen, TUYA_EFORMAT, "frame of %zu bytes over the %d-byte limit", len, TUYA_LAN_MAX);
	if (len < HEAD_LEN + TAIL_LEN)
		return fail(err, errlen, TUYA_EFORMAT, "frame truncated (%zu bytes)", len);
	const uint8_t *p = buf;
	if (get_be32(p) != LAN_PREFIX)
		return fail(err, errlen, TUYA_EFORMAT, "not a 55AA frame (prefix %08x)", get_be32(p));
	uint32_t n = get_be32(p + 12);
	if ((size_t)n != len - HEAD_LEN)
		return fail(err, errlen, TUYA_EFORMAT, "length field %u does not match the %zu bytes after it", n,
			    len - HEAD_LEN);
	if (get_be32(p + len - 4) != LAN_SUFFIX)
		return fail(err, errlen, TUYA_EFORMAT, "bad suffix %08x", get_be32(p + len - 4));
	if (fc_crc32(p, len - TAIL_LEN) != get_be32(p + len - TAIL_LEN))
		return fail(err, errlen, TUYA_EFORMAT, "CRC32 mismatch");
	if (!key_ok(local_key))
		return fail(err, errlen, TUYA_EFORMAT, "local key shorter than 16 characters");

	const uint8_t *body = p + HEAD_LEN;
	size_t blen = len - HEAD_LEN - TAIL_LEN;
	/* A device's return code: a small number followed by whole blocks, with or without the 15-byte
	 * header. A client payload is never mistaken for one: with the header it starts "3.3" (> 255) and
	 * (blen - 4) % 16 == 11; without, (blen - 4) % 16 == 12. */
	if (blen >= RETCODE_LEN && get_be32(body) <= RETCODE_MAX &&
	    ((blen - RETCODE_LEN) % 16 == 0 || (blen - RETCODE_LEN) % 16 == V33_HDR_LEN)) {
		out->has_retcode = true;
		out->retcode = get_be32(body);
		body += RETCODE_LEN;
		blen -= RETCODE_LEN;
	}
	/* The clear header only when whole blocks follow it (ciphertext starting with "3.3" by chance is
	 * then 1 byte off a block multiple). */
	if (blen >= V33_HDR_LEN + 16 && memcmp(body, "3.3", 3) == 0 && (blen - V33_HDR_LEN) % 16 == 0) {
		body += V33_HDR_LEN;
		blen -= V33_HDR_LEN;
	}
	out->seq = get_be32(p + 4);
	out->cmd = get_be32(p + 8);
	if (blen == 0)
		return 0;
	if (blen % 16) {
		memset(out, 0, sizeof *out);
		return fail(err, errlen, TUYA_EFORMAT, "payload of %zu bytes is not whole AES blocks", blen);
	}
	uint8_t *plain = malloc(blen + 1);
	if (!plain) {
		memset(out, 0, sizeof *out);
		return fail(err, errlen, TUYA_EFORMAT, "out of memory");
	}
	size_t pn = 0;
	int rc = fc_aes_ecb_decrypt((const uint8_t *)local_key, TUYA_AES_KEY_LEN, FC_PAD_PKCS7, body, blen, plain, blen,
				    &pn);
	if (rc != 0 || !looks_like_json(plain, pn)) {
		wipe_free(plain, blen + 1);
		memset(out, 0, sizeof *out);
		return fail(err, errlen, TUYA_EKEY, "%s",
			    rc != 0 ? "payload bad padding (wrong key?)" : "decrypted payload is not JSON (wrong key?)");
	}
	if (memchr(plain, '\0', pn)) {
		wipe_free(plain, blen + 1);
		memset(out, 0, sizeof *out);
		return fail(err, errlen, TUYA_EFORMAT, "NUL byte in the decrypted payload");
	}
	plain[pn] = '\0';
	out->payload = plain;
	out->payload_len = pn;
	return 0;
}

void tuya_lan_frame_free(struct tuya_lan_frame *f)
{
	if (!f)
		return;
	wipe_free(f->payload, f->payload ? f->payload_len + 1 : 0);
	f->payload = NULL;
	f->payload_len = 0;
}

/* ---- AP-mode config datagram (§4.2) ------------------------------------------------------------- */

int tuya_ap_config_encode(const char *ssid, const char *passwd, const char *token, uint8_t *out, size_t cap,
			  size_t *outlen, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (outlen)
		*outlen = 0;
	if (!out || !outlen)
		return fail(err, errlen, TUYA_EFORMAT, "no output");
	if (!ssid)
		return fail(err, errlen, TUYA_EFORMAT, "no ssid");
	passwd = passwd ? passwd : "";
	token = token ? token : "";
	size_t sl = strlen(ssid), pl = strlen(passwd), tl = strlen(token);
	if (sl < 1 || sl > AP_SSID_MAX)
		return fail(err, errlen, TUYA_EFORMAT, "ssid must have 1-%d bytes (has %zu)", AP_SSID_MAX, sl);
	if (pl > AP_PASSWD_MAX)
		return fail(err, errlen, TUYA_EFORMAT, "password may have at most %d bytes (has %zu)", AP_PASSWD_MAX, pl);
	if (tl > AP_TOKEN_MAX)
		return fail(err, errlen, TUYA_EFORMAT, "token may have at most %d bytes (has %zu)", AP_TOKEN_MAX, tl);

	/* Member order as cloudcutter's configure_wifi builds it; "passwd" only when there is one. cJSON does
	 * the escaping (quotes, backslashes, control characters). */
	cJSON *o = cJSON_CreateObject();
	if (!o || !cJSON_AddStringToObject(o, "ssid", ssid) || !cJSON_AddStringToObject(o, "token", token) ||
	    (pl && !cJSON_AddStringToObject(o, "passwd", passwd))) {
		cJSON_Delete(o);
		return fail(err, errlen, TUYA_EFORMAT, "out of memory");
	}
	char *json = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!json)
		return fail(err, errlen, TUYA_EFORMAT, "out of memory");
	size_t jl = strlen(json);
	int rc = 0;
	if (jl > AP_JSON_MAX) {
		rc = fail(err, errlen, TUYA_EFORMAT, "config JSON of %zu bytes is over the %d a device takes", jl,
			  AP_JSON_MAX);
	} else if (cap < HEAD_LEN + jl + TAIL_LEN) {
		rc = fail(err, errlen, TUYA_EFORMAT, "output buffer too small (%zu < %zu bytes)", cap,
			  HEAD_LEN + jl + TAIL_LEN);
	} else {
		put_be32(out, LAN_PREFIX);
		put_be32(out + 4, 0);             /* frame number */
		put_be32(out + 8, AP_FRAME_TYPE); /* frame type: AP config */
		put_be32(out + 12, (uint32_t)(jl + TAIL_LEN));
		memcpy(out + HEAD_LEN, json, jl);
		put_be32(out + HEAD_LEN + jl, fc_crc32(out, HEAD_LEN + jl));
		put_be32(out + HEAD_LEN + jl + 4, LAN_SUFFIX);
		*outlen = HEAD_LEN + jl + TAIL_LEN;
	}
	fc_wipe(json, jl);
	cJSON_free(json);
	return rc;
}

int tuya_ap_config_decode(const void *buf, size_t len, char **json, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!json)
		return fail(err, errlen, TUYA_EFORMAT, "no output");
	*json = NULL;
	if (!buf && len)
		return fail(err, errlen, TUYA_EFORMAT, "no input");
	if (len < HEAD_LEN + TAIL_LEN)
		return fail(err, errlen, TUYA_EFORMAT, "datagram truncated (%zu bytes)", len);
	if (len > HEAD_LEN + AP_JSON_MAX + TAIL_LEN)
		return fail(err, errlen, TUYA_EFORMAT, "datagram of %zu bytes over the %d-byte limit", len,
			    HEAD_LEN + AP_JSON_MAX + TAIL_LEN);
	const uint8_t *p = buf;
	if (get_be32(p) != LAN_PREFIX)
		return fail(err, errlen, TUYA_EFORMAT, "not a 55AA datagram (prefix %08x)", get_be32(p));
	if (get_be32(p + 8) != AP_FRAME_TYPE)
		return fail(err, errlen, TUYA_EFORMAT, "frame type %u is not AP config (1)", get_be32(p + 8));
	uint32_t n = get_be32(p + 12);
	if ((size_t)n != len - HEAD_LEN)
		return fail(err, errlen, TUYA_EFORMAT, "length field %u does not match the %zu bytes after it", n,
			    len - HEAD_LEN);
	if (get_be32(p + len - 4) != LAN_SUFFIX)
		return fail(err, errlen, TUYA_EFORMAT, "bad suffix %08x", get_be32(p + len - 4));
	if (fc_crc32(p, len - TAIL_LEN) != get_be32(p + len - TAIL_LEN))
		return fail(err, errlen, TUYA_EFORMAT, "CRC32 mismatch");
	const char *text = (const char *)p + HEAD_LEN;
	size_t tl = len - HEAD_LEN - TAIL_LEN;
	if (tl == 0)
		return fail(err, errlen, TUYA_EFORMAT, "empty config JSON");
	if (memchr(text, '\0', tl))
		return fail(err, errlen, TUYA_EFORMAT, "NUL byte in the config JSON");
	const char *end = NULL;
	cJSON *r = cJSON_ParseWithLengthOpts(text, tl, &end, 0);
	bool ok = r && cJSON_IsObject(r) && end && end >= text && end <= text + tl;
	for (const char *q = end; ok && q < text + tl; q++)
		ok = json_ws((unsigned char)*q);
	cJSON_Delete(r);
	if (!ok)
		return fail(err, errlen, TUYA_EFORMAT, "config is not one JSON object");
	char *s = malloc(tl + 1);
	if (!s)
		return fail(err, errlen, TUYA_EFORMAT, "out of memory");
	memcpy(s, text, tl);
	s[tl] = '\0';
	*json = s;
	return 0;
}
