/* Meross codec: pure functions on buffers (no I/O, no broker, no keystore).
 * Facts: ../shared/protocols/meross.md §1 (credentials), §2 (message format and signing). */
#ifndef FC_MEROSS_CODEC_H
#define FC_MEROSS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;

#define MEROSS_UUID_LEN 32
#define MEROSS_MAX_MESSAGE (64 * 1024) /* larger device messages are refused unparsed */

/* ---- credentials (§1) ---- */

/* "fmware:<uuid>[_<suffix>]" -> uuid (32 chars of [0-9A-Za-z]). 0 on success, -1 if not this shape. */
int meross_parse_device_client_id(const char *client_id, char uuid[MEROSS_UUID_LEN + 1]);
/* "app:<appId>" -> appId ([0-9A-Za-z], 1..64 chars). 0 / -1. */
int meross_parse_app_client_id(const char *client_id, char *app_id, size_t cap);
/* Device password "<userId>_<md5hex>": userId decimal (1..19 digits, "0" allowed), md5hex 32 hex chars
 * (any case). 0 / -1. */
int meross_parse_device_password(const char *password, char *user_id, size_t cap, char md5hex[33]);
/* md5hex(mac + key), lowercase: the second half of a device password. */
void meross_device_password_hash(const char *mac, const char *key, size_t keylen, char out[33]);
/* App client password: md5hex(userId + key). */
void meross_app_password(const char *user_id, const char *key, size_t keylen, char out[33]);
/* MAC as devices send it: 6 colon-separated lowercase hex pairs. */
bool meross_mac_valid(const char *mac);

/* ---- messages (§2) ---- */

/* sign = md5hex(messageId + key + decimal(timestamp)) */
void meross_sign(const char *message_id, const char *key, size_t keylen, int64_t timestamp, char out[33]);

struct meross_msg {
	char message_id[64];
	char namespace_[96];
	char method[16];       /* GET GETACK SET SETACK PUSH ERROR (as sent, not validated beyond length) */
	char from[256];
	char sign[64];
	char trigger_src[32];
	char uuid[64];
	int64_t timestamp;     /* seconds (devices without time send uptime) */
	int64_t timestamp_ms;  /* 0..999 when present, else -1 */
	int payload_version;
	bool has_from;         /* the header had "from" / "triggerSrc" (the fields cannot tell "" from absent) */
	bool has_trigger_src;
	struct cJSON *header;  /* the parsed header object (owned by root), or NULL: see meross_msg_parse */
	struct cJSON *payload; /* the payload object (owned by root); never NULL after a successful parse */
	struct cJSON *root;    /* owner of everything; free with meross_msg_free */
	/* Private to the codec: where the /raw text is in the parsed bytes (stop == 0: not recorded). */
	struct meross_raw_cut {
		size_t start, cut_from, cut_to, stop;
	} raw_cut;
};

/* Parse one message. Bounded: refuses len > MEROSS_MAX_MESSAGE, non-objects, missing header/payload,
 * missing or non-string messageId/namespace/method/sign, non-integer timestamp, over-long fields.
 * On failure returns -1 and writes a short specific reason to err (e.g. "header.namespace missing").
 * Messages as devices send them (strict JSON, header strings without escapes, integer numbers) are
 * read without a cJSON tree for the header: then `header` is NULL and `root` is the payload. Anything
 * else goes through a full cJSON tree (`header` set, `root` the whole message); both give the same
 * fields and payload. */
int meross_msg_parse(const void *buf, size_t len, struct meross_msg *out, char *err, size_t errlen);
/* The full-tree path alone (for tests that hold the two paths to the same result). */
int meross_msg_parse_tree(const void *buf, size_t len, struct meross_msg *out, char *err, size_t errlen);
void meross_msg_free(struct meross_msg *m);
/* The text published on fakecloud/<name>/raw for a device message: the message's own bytes (without
 * surrounding whitespace) with the header's "sign" member cut out together with one adjacent comma, so
 * that no re-serialisation is needed. A small bounded scanner checks the whole text as strict JSON
 * (RFC 8259 grammar: JSON whitespace only, no raw control bytes in strings, strict numbers) and finds
 * the byte span of the first "sign" member of the first top-level "header" object, as cJSON's
 * case-sensitive lookups do. It gives up (returns 0; callers fall back to the tree: meross_msg_parse,
 * delete header.sign, print) on anything it cannot prove equal, as a JSON value, to that: no header
 * or sign, escapes in keys of the top level or the header, an escaped NUL (backslash u0000) in any
 * string (cJSON cuts the string there), a number cJSON would not read whole or could read as
 * infinite, nesting deeper than 64, len > MEROSS_MAX_MESSAGE, cap too small. Otherwise writes the text
 * to out (not NUL-terminated; cap >= len always suffices) and returns its length. */
size_t meross_msg_unsigned_text(const void *buf, size_t len, char *out, size_t cap);
/* The same for a message m that meross_msg_parse read from exactly buf/len: from the cut it recorded
 * while parsing when it has one (no second scan), else meross_msg_unsigned_text. */
size_t meross_msg_raw_text(const struct meross_msg *m, const void *buf, size_t len, char *out, size_t cap);
/* 1 when sign == md5(messageId + key + timestamp) (case-insensitive hex compare), else 0. */
int meross_msg_verify(const struct meross_msg *m, const char *key, size_t keylen);

struct meross_out {
	const char *namespace_;
	const char *method;
	const char *from;          /* reply-to topic, e.g. "/appliance/<uuid>/publish" */
	const char *message_id;    /* NULL: a fresh random 32-hex id (written to message_id_out) */
	const char *trigger_src;   /* NULL: omitted */
	int64_t timestamp;         /* seconds */
	int timestamp_ms;          /* 0..999 */
};

/* Build a signed message {"header":{...},"payload":payload}. `payload` is not consumed (copied).
 * Returns a malloc'd NUL-terminated JSON string (free with free()), or NULL. message_id_out (33 bytes,
 * optional) receives the id used. */
char *meross_msg_build(const struct meross_out *o, const struct cJSON *payload, const char *key, size_t keylen,
		       char message_id_out[33]);
/* A reply carrying the request's own header back (same messageId, timestamp, timestampMs and sign;
 * `uuid` dropped; method/triggerSrc/from replaced when non-NULL) with a new payload. This is how the
 * cloud answers Clock and ConsumptionConfig PUSHes (§3.2, §3.3): no key needed. */
char *meross_msg_echo(const struct meross_msg *req, const char *method, const char *trigger_src, const char *from,
		      const struct cJSON *payload);

/* ---- local provisioning crypto (§5) ----
 * All AES here is AES-256-CBC with IV = 16 ASCII '0' bytes and zero-byte padding (no PKCS#7); keys are
 * the 32 ASCII characters of an md5hex string. */

#define MEROSS_AES_IV "0000000000000000"
#define MEROSS_WIFI_PASSWORD_MAX 64 /* longest Wi-Fi password accepted (WPA passphrase / 64-hex PSK) */

/* Key of the Config.WifiX password: md5hex(type + uuid + mac), all as System.All reports them. */
void meross_wifix_key(const char *type, const char *uuid, const char *mac, char out[33]);
/* Config.WifiX password field: base64(AES(meross_wifix_key, password + 1..16 zero bytes)). A password
 * whose length is a multiple of 16 gets a whole zero block (as bytespider v2 and meross_lan do), so the
 * decrypted block always holds a terminating NUL. Writes NUL-terminated base64 into out; 0, or -1 when
 * password is longer than MEROSS_WIFI_PASSWORD_MAX, contains a NUL, or cap is too small (out = ""). */
int meross_wifix_password(const char *type, const char *uuid, const char *mac, const char *password, size_t len,
			  char *out, size_t cap);

/* Encrypted local HTTP API (firmware with Appliance.Encrypt.ECDHE). Two published key derivations:
 * (b) meross_lan: the session key is meross_local_key_direct() itself;
 * (a) bytespider: P-256 ECDH. The client's private scalar defaults to the 32 ASCII bytes of
 *     meross_local_key_direct() read as a big-endian number; its public key goes to the device in
 *     SET Appliance.Encrypt.ECDHE {"ecdhe":{"step":1,"pubkey":<base64 of the 65-byte uncompressed
 *     point>}}, the device answers its own "pubkey", and the session key is md5hex(x-coordinate of the
 *     shared point, 32 bytes big-endian). */

/* md5hex(uuid[3:22] + key[1:9] + mac + key[10:28]), slices with Python semantics: a slice past the end
 * of a short string is shorter or empty (an empty key gives md5hex(uuid[3:22] + mac)). */
void meross_local_key_direct(const char *uuid, const char *key, size_t keylen, const char *mac, char out[33]);
/* Uncompressed P-256 public point (0x04 | X | Y) of the private scalar priv (32 bytes, big-endian).
 * 0, or -1 when priv is not in [1, n-1]. */
int meross_ecdhe_public(const uint8_t priv[32], uint8_t pub[65]);
/* Session key of variant (a): md5hex of the x-coordinate of priv * peer. peer is the device's public key
 * as a 65-byte uncompressed point; it must be a valid point on P-256. 0 / -1. */
int meross_ecdhe_session_key(const uint8_t priv[32], const uint8_t *peer, size_t peerlen, char out[33]);
/* Encrypted body: base64(AES(key, msg + 1..16 zero bytes)). Returns a malloc'd NUL-terminated string
 * (*outlen = its length, optional) or NULL (len > MEROSS_MAX_MESSAGE, allocation failure). */
char *meross_local_encrypt(const char key[33], const void *msg, size_t len, size_t *outlen);
/* Decrypts an encrypted body: base64 (surrounding ASCII whitespace ignored) -> AES -> trailing NUL
 * bytes removed. Returns a malloc'd NUL-terminated buffer (*outlen = length without the NUL) or NULL
 * with a reason in err: not base64, not a whole number of blocks, empty, larger than
 * MEROSS_MAX_MESSAGE once decoded, or control bytes other than tab/CR/LF before the padding (what a
 * wrong key usually gives; when it does not, callers see non-JSON). */
char *meross_local_decrypt(const char key[33], const void *body, size_t len, size_t *outlen, char *err,
			   size_t errlen);

#endif
