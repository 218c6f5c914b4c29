/* Tuya codec: pure functions on buffers (no I/O, no broker, no keystore, no clock: every `t` is passed in).
 * Facts: ../shared/protocols/tuya.md §1.2 (url_config), §1.3 (ATOP request, query sign, body encryption),
 * §1.4 (ATOP response), §2 (TLS-PSK identity and PSK v1), §3 (MQTT payloads 2.1 / 2.2 / 2.3).
 *
 * Conventions
 *  - Every parser takes (pointer, length), never trusts a length inside the data and refuses input over
 *    its TUYA_*_MAX bound. No input may contain a NUL byte where text is expected.
 *  - Failing functions return TUYA_EFORMAT (malformed input / bad argument) or TUYA_EKEY (the bytes are
 *    well formed but did not decrypt: bad PKCS7 padding, GCM tag mismatch, or ECB plaintext that does not
 *    even start like JSON ('{' or '[') — i.e. most likely the wrong key; the caller may retry with its other
 *    key, §1.3 "Key choice")
 *    and write a short specific reason to err (e.g. "2.2 ciphertext not a multiple of 16").
 *  - Keys are passed as the key *string* the device knows (authKey 32 or 16 chars, secKey / localKey 16
 *    chars). AES always uses its first 16 bytes (keylen must be >= 16); signatures use the whole string.
 *    Which key to use is the caller's business.
 *  - Outputs that are strings are malloc'd, NUL-terminated and released with free(); parsed objects are
 *    released with their *_free function (safe on a zeroed or already freed struct). */
#ifndef FC_TUYA_CODEC_H
#define FC_TUYA_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;

#define TUYA_EFORMAT (-1)
#define TUYA_EKEY (-2)

#define TUYA_MAX_JSON (64 * 1024)   /* largest plaintext JSON accepted or produced */
#define TUYA_AES_KEY_LEN 16
#define TUYA_GCM_NONCE_LEN 12
#define TUYA_GCM_TAG_LEN 16

/* ---- ATOP HTTP: query string (§1.3) ------------------------------------------------------------ */

/* Value of the `et` query parameter: how the request body and the reply are encrypted. */
enum tuya_et {
	TUYA_ET_UNKNOWN = -1, /* et present with another value: refuse to guess */
	TUYA_ET_NONE = 0,     /* et absent (G1 gw.json): plaintext reply */
	TUYA_ET_ECB = 1,      /* AES-128-ECB + PKCS7, body uppercase hex, reply base64 */
	TUYA_ET_GCM = 3,      /* AES-128-GCM nonce(12) || ct || tag(16), no AAD (TuyaOpen) */
};

#define TUYA_QUERY_MAX 4096        /* raw query string bytes */
#define TUYA_QUERY_MAX_PARAMS 32

struct tuya_query_param {
	const char *key;   /* percent-decoded, NUL-terminated, inside the owning tuya_atop_query */
	const char *value; /* "" for "key" or "key=" */
};

/* A parsed query. Self-contained (no heap) but holds pointers into itself: never copy it by value. */
struct tuya_atop_query {
	size_t count;
	struct tuya_query_param params[TUYA_QUERY_MAX_PARAMS]; /* in received order */
	/* Shortcuts to well-known values (NULL when absent); keys are case-sensitive. */
	const char *a, *dev_id, *gw_id, *uuid, *et, *t, *v, *sign, *other;
	enum tuya_et enc; /* from `et` */
	size_t used;
	char buf[TUYA_QUERY_MAX + 2 * TUYA_QUERY_MAX_PARAMS];
};

/* Parse "a=tuya.device.active&et=1&t=58&uuid=...&v=4.4&sign=..." (a single leading '?' is skipped).
 * Splits on '&', the first '=' separates key and value, %XX is decoded in keys and values ('+' stays a
 * '+': devices sign the raw characters they send), a '%' not followed by two hex digits stays literal.
 * Empty segments ("&&", trailing '&') are skipped. Refused: more than TUYA_QUERY_MAX bytes or
 * TUYA_QUERY_MAX_PARAMS parameters, an empty key, a NUL (raw or %00), a duplicate key. */
int tuya_atop_query_parse(const void *query, size_t len, struct tuya_atop_query *out, char *err, size_t errlen);
/* For hosts whose HTTP library already split and decoded the arguments: start empty, add pairs (same
 * checks as the parser: NUL, empty key, duplicates, capacity). */
void tuya_atop_query_init(struct tuya_atop_query *q);
int tuya_atop_query_add(struct tuya_atop_query *q, const char *key, size_t keylen, const char *value,
			size_t valuelen, char *err, size_t errlen);
/* Value of `key` or NULL. */
const char *tuya_atop_query_get(const struct tuya_atop_query *q, const char *key);

/* Request sign over explicit parameters: entries named "sign" are skipped, the rest sorted by key
 * (bytewise), S = "k1=v1||k2=v2||...||" + key string, out = lowercase md5hex(S). 0 / TUYA_EFORMAT. */
int tuya_atop_sign_params(const struct tuya_query_param *params, size_t n, const char *key, size_t keylen,
			  char out[33]);
int tuya_atop_query_sign(const struct tuya_atop_query *q, const char *key, size_t keylen, char out[33]);

enum tuya_sign_check {
	TUYA_SIGN_OK = 0,
	TUYA_SIGN_MISSING,   /* no sign parameter */
	TUYA_SIGN_MALFORMED, /* not 32 hex digits */
	TUYA_SIGN_MISMATCH,
};
/* Lenient verification: never a reason to refuse a request (§7 "never validate t/sign"), but a reason to
 * log. Hex case is ignored. With a key longer than 16 characters a mismatch is retried with its first 16
 * (§1.4: which authKey string a device signs with is a HYPOTHESIS); *reason then says so. *reason (optional)
 * receives a static string. */
enum tuya_sign_check tuya_atop_query_verify(const struct tuya_atop_query *q, const char *key, size_t keylen,
					    const char **reason);

/* ---- ATOP HTTP: request body (§1.3) ------------------------------------------------------------ */

#define TUYA_BODY_MAX (2 * (TUYA_MAX_JSON + TUYA_GCM_NONCE_LEN + TUYA_GCM_TAG_LEN + 16) + 1024)

struct tuya_atop_body {
	char *json;          /* decrypted plaintext (malloc'd, NUL-terminated); NULL for an empty body */
	size_t json_len;
	struct cJSON *root;  /* the parsed JSON object; NULL for an empty body */
	enum tuya_et enc;    /* how it was actually decoded */
};

/* Decode a request body "data=<HEX>" (form-encoded; other fields ignored; trailing CR/LF/space ignored).
 *  et ECB: AES-128-ECB(key[0:16]) + PKCS7 of hex(upper or lower case).
 *  et GCM: hex(nonce(12) || ct || tag(16)), AES-128-GCM(key[0:16]), no AAD.
 *  et NONE (G1): the body may be plaintext — "data=<JSON>" (percent-decoded) or bare JSON — or, as G1
 *    logs show even without et, hex of ECB ciphertext: hex is tried with the key (when keylen >= 16)
 *    before falling back to plaintext. An empty body (G1 GET) succeeds with json == root == NULL.
 *  et UNKNOWN: refused.
 * The plaintext must be one JSON object (no NUL, nothing but whitespace after it). */
int tuya_atop_body_decode(const void *body, size_t len, enum tuya_et et, const char *key, size_t keylen,
			  struct tuya_atop_body *out, char *err, size_t errlen);
void tuya_atop_body_free(struct tuya_atop_body *b);

/* Device side (simulators, tests): "data=" + UPPERCASE hex of the encrypted json. nonce: 12 bytes for
 * GCM, NULL = random. et NONE gives "data=" + json with '%', '&', '+', '#', space, control and non-ASCII
 * bytes as %XX (what tuya_atop_body_decode reads back). NULL on error (reason in err). */
char *tuya_atop_body_encode(const char *json, size_t len, enum tuya_et et, const char *key, size_t keylen,
			    const uint8_t *nonce, char *err, size_t errlen);

/* ---- ATOP HTTP: response (§1.4) ---------------------------------------------------------------- */

/* Response sign: md5hex("result=" + b64 + "||t=" + decimal(t) + "||" + key)[8:24] (16 lowercase hex). */
void tuya_atop_response_sign(const char *b64, size_t b64len, int64_t t, const char *key, size_t keylen,
			     char out[17]);

/* Inner plaintext, keys in the order of the published reply (tuya-convert):
 * {"result":<copy of result>,"t":t,"success":true}; result NULL -> no "result" key (what cloudcutter sends
 * for unknown actions); pass a cJSON null for "result":null. NULL on allocation failure / t < 0. */
char *tuya_atop_inner_ok(const struct cJSON *result, int64_t t);
/* {"success":false,"errorCode":code,"errorMsg":msg,"t":t} (msg NULL -> omitted). */
char *tuya_atop_inner_error(const char *code, const char *msg, int64_t t);

/* Wrap an inner plaintext for the device: et ECB/GCM -> {"result":"<base64(ciphertext)>","t":t,
 * "sign":"<16 hex>"} with the request's key and mode (GCM: nonce 12 bytes or NULL = random, sent as
 * nonce||ct||tag). et NONE -> the inner JSON unchanged (G1 firmware takes plaintext replies). `t` must be the
 * real epoch: devices set their clock from it. NULL on error (reason in err). */
char *tuya_atop_envelope(const char *inner, size_t len, enum tuya_et et, int64_t t, const char *key,
			 size_t keylen, const uint8_t *nonce, char *err, size_t errlen);

/* One call for the usual reply: et ECB/GCM -> envelope(inner_ok(result, t)); et NONE -> the G1 plaintext
 * form {"t":t,"e":false,"success":true,"result":<result>} (result omitted when NULL). */
char *tuya_atop_response(const struct cJSON *result, enum tuya_et et, int64_t t, const char *key, size_t keylen,
			 char *err, size_t errlen);

/* Device side / tests: open an encrypted envelope. Decrypts "result" into out (inner JSON object),
 * *t receives the outer t, *sign_ok whether "sign" matched (both optional). 0 / TUYA_EFORMAT / TUYA_EKEY. */
int tuya_atop_response_open(const void *buf, size_t len, enum tuya_et et, const char *key, size_t keylen,
			    struct tuya_atop_body *out, int64_t *t, bool *sign_ok, char *err, size_t errlen);

/* OTA file hmac for tuya.device.upgrade.get (§1.5): HEX_UPPER(HMAC-SHA256(key = secKey string,
 * msg = HEX_UPPER(sha256 of the file))). out: 64 uppercase hex + NUL. */
void tuya_ota_hmac(const uint8_t file_sha256[32], const char *seckey, size_t keylen, char out[65]);

/* ---- url_config discovery (§1.2) --------------------------------------------------------------- */

#define TUYA_URLCFG_MAX 8192

/* Bits for the config keys a device asks for. */
#define TUYA_URLCFG_HTTP 0x01u        /* httpUrl */
#define TUYA_URLCFG_MQTT 0x02u        /* mqttUrl */
#define TUYA_URLCFG_HTTPS_PSK 0x04u   /* httpsPSKUrl */
#define TUYA_URLCFG_MQTTS_PSK 0x08u   /* mqttsPSKUrl */
#define TUYA_URLCFG_HTTPS_SELF 0x10u  /* httpsSelfUrl (cert TLS, connect-kit) */
#define TUYA_URLCFG_MQTTS_SELF 0x20u  /* mqttsSelfUrl */
#define TUYA_URLCFG_OTHER 0x40u       /* any other key */

struct tuya_url_config_req {
	char region[8];   /* "" when absent (first 2 chars of the pairing token, e.g. "AA", "US") */
	char env[32];
	char uuid[64];    /* v2 only, "" otherwise */
	char sign[128];   /* v2 only; never verified (fake servers do not) */
	bool has_ts;
	int64_t ts;       /* v2 "ts" (uptime-like, e.g. 57) */
	unsigned keys;    /* TUYA_URLCFG_* asked for */
	unsigned need_ca; /* TUYA_URLCFG_* asked for with "need_ca":true */
	size_t n_config;  /* entries in "config" */
};

/* Parse a /v1|v2/url_config request body: one JSON object; optional string members region/env/uuid/sign
 * (over-long is refused, not truncated), optional integer ts, optional array "config" (<= 64 entries) of
 * objects {"key":string,"need_ca":bool}. Refuses wrong member types. 0 / TUYA_EFORMAT. */
int tuya_url_config_parse(const void *buf, size_t len, struct tuya_url_config_req *out, char *err,
			  size_t errlen);

struct tuya_url_config_opts {
	const char *host;        /* required: IPv4 literal or DNS name ([A-Za-z0-9.-], <= 253 chars) */
	uint16_t http_port;      /* 0 = 80 (omitted from the URL) */
	uint16_t mqtt_port;      /* 0 = 1883 */
	uint16_t https_psk_port; /* 0 = no httpsPSKUrl (cloudcutter omits it on purpose, §1.2) */
	uint16_t mqtts_psk_port; /* 0 = no mqttsPSKUrl */
	int ttl;                 /* 0 = 600 */
	bool legacy;             /* /device/url_config: plain strings instead of {"addr","ips"} objects */
};

/* Plain (unencrypted) reply, e.g. {"caArr":null,"httpUrl":{"addr":"http://10.204.0.1/d.json","ips":
 * ["10.204.0.1"]},"mqttUrl":{"addr":"10.204.0.1:1883","ips":["10.204.0.1"]},"ttl":600} ("ips" only for an
 * IPv4 host). NULL on bad options (reason in err). */
char *tuya_url_config_reply(const struct tuya_url_config_opts *o, char *err, size_t errlen);

/* ---- TLS-PSK (§2) ------------------------------------------------------------------------------ */

#define TUYA_PSK_HINT "1dHRsc2NjbHltbGx3eWh5" "0000000000000000" /* 37 bytes, no NUL sent */
#define TUYA_PSK_HINT_LEN 37
#define TUYA_PSK_ID_ESP_PREFIX "BAohbmd6aG91IFR1"
#define TUYA_PSK_ID_V1_LEN 50 /* 0x01 || 16 || md5(uuid) || '_' || md5(authKey) */
#define TUYA_PSK_ID_V2_LEN 49 /* 0x02 || 16 random || sha256(uuid) */
#define TUYA_PSK_ID_MAX 128
#define TUYA_PSK_LEN 32       /* v1 derived PSK */

/* Identity fields as received. Devices replace every 0x00 byte of the identity they build by '?'
 * (so hashes inside it may hold '?' where the digest had 0x00); the *_matches helpers apply the same
 * replacement to the digest they compute. */
struct tuya_psk_id {
	int version;            /* 1 or 2 */
	bool esp_prefix;        /* v1: bytes 1..16 are TUYA_PSK_ID_ESP_PREFIX */
	uint8_t head[16];       /* bytes 1..16: v1 prefix (ESP) or random, v2 random */
	uint8_t uuid_md5[16];   /* v1 bytes 17..32 */
	uint8_t authkey_md5[16];/* v1 bytes 34..49 */
	uint8_t uuid_sha256[32];/* v2 bytes 17..48 */
};

/* v1: exactly 50 bytes with '_' at byte 33; v2: exactly 49 bytes. 0 / TUYA_EFORMAT. */
int tuya_psk_id_parse(const void *identity, size_t len, struct tuya_psk_id *out, char *err, size_t errlen);
/* PSK v1: id = identity[1:]; key = md5(hint[-16:]); iv = md5(id); PSK = AES-128-CBC(key, iv, id[0:32]).
 * Works on the identity bytes exactly as received (the device derived its PSK from the same bytes it sent),
 * any length 33..TUYA_PSK_ID_MAX, any version byte (cloudcutter applies it to every identity when no pskKey
 * is known). hint NULL = TUYA_PSK_HINT; otherwise hintlen >= 16. 0 / TUYA_EFORMAT. */
int tuya_psk_v1_derive(const void *identity, size_t len, const void *hint, size_t hintlen,
		       uint8_t psk[TUYA_PSK_LEN], char *err, size_t errlen);
/* 1 when a v1 identity carries md5(uuid) (and md5(authkey) when authkey is not NULL), 0 otherwise. */
int tuya_psk_id_v1_matches(const struct tuya_psk_id *id, const char *uuid, const char *authkey);
/* 1 when a v2 identity carries sha256(uuid). The PSK is then the device's 37-char pskKey. */
int tuya_psk_id_v2_matches(const struct tuya_psk_id *id, const char *uuid);
/* Replace every 0x00 byte by '?' in place (what firmware does to the identity it builds). */
void tuya_psk_id_mask_nul(uint8_t *buf, size_t len);
/* Client side (simulators, tests): build a masked identity. head NULL = random bytes. */
int tuya_psk_id_v1_build(const uint8_t *head16, const char *uuid, const char *authkey,
			 uint8_t out[TUYA_PSK_ID_V1_LEN]);
int tuya_psk_id_v2_build(const uint8_t *head16, const char *uuid, uint8_t out[TUYA_PSK_ID_V2_LEN]);

/* ---- MQTT (§3) --------------------------------------------------------------------------------- */

#define TUYA_MQTT_MAX (128 * 1024)

enum tuya_pv { TUYA_PV_21 = 21, TUYA_PV_22 = 22, TUYA_PV_23 = 23 };

/* Protocol numbers (mqc_app.h). */
enum {
	TUYA_PROTO_DP_REPORT = 4,
	TUYA_PROTO_DP_CMD = 5,
	TUYA_PROTO_UNBIND = 8,
	TUYA_PROTO_RESET = 11,
	TUYA_PROTO_TIMER_UPDATE = 13,
	TUYA_PROTO_UPGRADE = 15,
	TUYA_PROTO_UPGRADE_PROGRESS = 16,
	TUYA_PROTO_ONLINE_STATE = 25,
	TUYA_PROTO_CMD_ACK = 26,
	TUYA_PROTO_QUERY_DP = 31,
	TUYA_PROTO_ACTIVE_TOKEN = 46,
};

/* "2.1" / "2.2" / "2.3" (e.g. the device's protocolVer from tuya.device.active) -> 0 and *pv; else -1. */
int tuya_pv_parse(const char *s, enum tuya_pv *pv);

/* MQTT password of an activated device: md5hex(secKey)[8:24]. */
void tuya_mqtt_password(const char *seckey, size_t keylen, char out[17]);

struct tuya_mqtt_msg {
	enum tuya_pv pv;
	uint32_t seq;        /* 2.2 / 2.3 header sequence (big-endian on the wire); 2.1: 0 */
	uint32_t source;     /* 2.2 source / 2.3 from (read big-endian; connect-kit writes 2.2 source in host
				order, so 1 may arrive as 0x01000000); 2.1: 0 */
	bool integrity_ok;   /* 2.1 sig16 / 2.2 CRC32 matched; 2.3: true (the GCM tag is always enforced) */
	int protocol;        /* JSON "protocol" */
	bool has_t;
	int64_t t;           /* JSON "t" (number or decimal string) */
	bool has_s;
	int64_t s;           /* JSON "s" when present (number or decimal string) */
	char *json;          /* decrypted plaintext, malloc'd, NUL-terminated */
	size_t json_len;
	struct cJSON *root;  /* parsed envelope (owner) */
	struct cJSON *data;  /* root's "data" member (any JSON type); never NULL after success */
};

#define TUYA_MQTT_STRICT 0x1u /* refuse a 2.1 sig / 2.2 CRC mismatch instead of reporting it */

/* Decode a payload by its 3-byte version prefix:
 *  2.1: "2.1" || sig16 (16 hex) || base64(AES-ECB(key, PKCS7(json))); sig16 = md5hex("data=" + b64 +
 *       "||pv=2.1||" + key)[8:24].
 *  2.2: "2.2" || CRC32(4, BE) || seq(4, BE) || source(4) || AES-ECB(key, PKCS7(json));
 *       CRC32 (zlib) over seq || source || ciphertext.
 *  2.3: "2.3" || seq(4, BE) || from(4, BE) || 0x00 || nonce(12) || ct || tag(16); AES-128-GCM(key),
 *       AAD = the first 12 bytes; the reserved byte must be 0.
 * The JSON must be an object with an integer "protocol" (0..INT_MAX, number or decimal string) and a
 * "data" member; "t" and "s" are optional (reported via has_t / has_s). Without TUYA_MQTT_STRICT a sig/CRC
 * mismatch only clears integrity_ok. 0 / TUYA_EFORMAT / TUYA_EKEY. */
int tuya_mqtt_decode(const void *buf, size_t len, const char *key, size_t keylen, unsigned flags,
		     struct tuya_mqtt_msg *out, char *err, size_t errlen);
void tuya_mqtt_msg_free(struct tuya_mqtt_msg *m);

struct tuya_mqtt_out {
	enum tuya_pv pv;      /* the version the device itself uses */
	uint32_t seq;         /* 2.2/2.3 header sequence; 2.1: JSON "s" */
	uint32_t source;      /* 2.2 source / 2.3 from: fixed and non-zero (§3: source 0 disables the replay
				 check on LAN; HYPOTHESIS that MQTT behaves the same) */
	const uint8_t *nonce; /* 2.3: 12 bytes, NULL = random */
};

/* Wrap a ready JSON text (<= TUYA_MAX_JSON, no NUL) in a payload of version o->pv. *out is malloc'd
 * (free()), *outlen its size. 0 / TUYA_EFORMAT. */
int tuya_mqtt_encode_json(const struct tuya_mqtt_out *o, const char *json, size_t len, const char *key,
			  size_t keylen, uint8_t **out, size_t *outlen, char *err, size_t errlen);
/* Build the envelope and encode it. Key order as the sources send it:
 *  2.2 / 2.3: {"protocol":P,"t":T,"data":<data>} (SDK MQTT_REPORT_FMT / TuyaOpen pack)
 *  2.1:       {"data":<data>,"protocol":P,"s":seq,"t":T} (tuya-convert mq_pub_15.py)
 * data is copied (NULL -> {}); t >= 0 must be the real epoch. 0 / TUYA_EFORMAT. */
int tuya_mqtt_encode(const struct tuya_mqtt_out *o, int protocol, const struct cJSON *data, int64_t t,
		     const char *key, size_t keylen, uint8_t **out, size_t *outlen, char *err, size_t errlen);
/* Protocol 5 DP command: data = {"devId":dev_id,"dps":<copy of dps object>}. */
int tuya_mqtt_encode_dp_cmd(const struct tuya_mqtt_out *o, const char *dev_id, const struct cJSON *dps,
			    int64_t t, const char *key, size_t keylen, uint8_t **out, size_t *outlen, char *err,
			    size_t errlen);

#endif
