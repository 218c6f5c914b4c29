/* Meross codec: see codec.h. Facts: ../shared/protocols/meross.md §1 (credentials), §2 (message format).
 *
 * Parsing rules (all refusals, never silent repair):
 *  - at most MEROSS_MAX_MESSAGE bytes, no NUL byte anywhere, exactly one JSON value followed only by JSON
 *    whitespace (space, tab, CR, LF). cJSON_ParseWithLengthOpts is called with require_null_terminated = 0
 *    and the tail is checked here: with require_null_terminated = 1 cJSON fails every buffer that is not
 *    itself NUL-terminated within len, and it counts any byte <= 0x20 (control bytes, NUL) as whitespace.
 *  - object lookups are case-sensitive (cJSON_GetObjectItemCaseSensitive; first of duplicate keys wins).
 *  - a string field longer than its struct buffer is refused, not truncated.
 *  - numbers are read from valuedouble, must be integral and in range; timestamp 0..2^53 (beyond 2^53 a
 *    double is no longer the integer that was sent, so the value and the signed decimal would disagree).
 *
 * Output: timestamps are emitted as raw decimal text (cJSON prints numbers with %1.15g, which gives
 * "1e+15" for 10^15), and the printed text is copied into a plain malloc'd buffer so that free() is right
 * even if someone installs cJSON hooks. */
#include "vendors/meross/codec.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"

#define DEVICE_PREFIX "fmware:"
#define APP_PREFIX "app:"
#define CLIENT_SUFFIX_MAX 64  /* "_<suffix>": observed 16 [A-Za-z0-9] ("random" in older meross_lan) */
#define APP_ID_MAX 64
#define USER_ID_MAX_DIGITS 19
#define TIMESTAMP_MAX 9007199254740992.0 /* 2^53: largest range where every integer is an exact double */
#define CAP(field) sizeof(((struct meross_msg *)0)->field) /* buffer size of a parsed field */

/* ---- small helpers ------------------------------------------------------------------------------ */

static bool is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

static bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

static char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; }

/* Number of leading [0-9A-Za-z] characters of s. */
static size_t alnum_span(const char *s)
{
	size_t n = 0;
	while (is_alnum(s[n]))
		n++;
	return n;
}


/* ---- credentials (§1) ---------------------------------------------------------------------------- */

int meross_parse_device_client_id(const char *client_id, char uuid[MEROSS_UUID_LEN + 1])
{
	if (!client_id || !uuid)
		return -1;
	const size_t plen = sizeof DEVICE_PREFIX - 1;
	if (strncmp(client_id, DEVICE_PREFIX, plen) != 0)
		return -1;
	const char *u = client_id + plen;
	if (alnum_span(u) != MEROSS_UUID_LEN)
		return -1;
	const char *rest = u + MEROSS_UUID_LEN;
	if (*rest != '\0') {
		if (*rest != '_')
			return -1;
		size_t n = alnum_span(rest + 1);
		if (n == 0 || n > CLIENT_SUFFIX_MAX || rest[1 + n] != '\0')
			return -1;
	}
	memcpy(uuid, u, MEROSS_UUID_LEN);
	uuid[MEROSS_UUID_LEN] = '\0';
	return 0;
}

int meross_parse_app_client_id(const char *client_id, char *app_id, size_t cap)
{
	if (!client_id || !app_id)
		return -1;
	const size_t plen = sizeof APP_PREFIX - 1;
	if (strncmp(client_id, APP_PREFIX, plen) != 0)
		return -1;
	const char *a = client_id + plen;
	size_t n = alnum_span(a);
	if (n == 0 || n > APP_ID_MAX || a[n] != '\0' || n >= cap)
		return -1;
	memcpy(app_id, a, n);
	app_id[n] = '\0';
	return 0;
}

/* Leading zeros are accepted and kept as sent ("007" stays "007"): the userId is an opaque string in the
 * protocol (Config.Key sends it as a string). 19 digits can exceed INT64_MAX; callers that convert must
 * check. md5hex is returned lowercased so it can be compared with fc_md5_hex output directly. */
int meross_parse_device_password(const char *password, char *user_id, size_t cap, char md5hex[33])
{
	if (!password || !user_id || !md5hex)
		return -1;
	size_t d = 0;
	while (password[d] >= '0' && password[d] <= '9')
		d++;
	if (d == 0 || d > USER_ID_MAX_DIGITS || password[d] != '_' || d >= cap)
		return -1;
	const char *h = password + d + 1;
	size_t hn = 0;
	while (hn <= 32 && is_hex(h[hn]))
		hn++;
	if (hn != 32 || h[32] != '\0')
		return -1;
	memcpy(user_id, password, d);
	user_id[d] = '\0';
	for (size_t i = 0; i < 32; i++)
		md5hex[i] = to_lower(h[i]);
	md5hex[32] = '\0';
	return 0;
}

void meross_device_password_hash(const char *mac, const char *key, size_t keylen, char out[33])
{
	const struct fc_part parts[] = {{mac, mac ? strlen(mac) : 0}, {key, key ? keylen : 0}};
	fc_md5_parts_hex(parts, 2, out);
}

void meross_app_password(const char *user_id, const char *key, size_t keylen, char out[33])
{
	const struct fc_part parts[] = {{user_id, user_id ? strlen(user_id) : 0}, {key, key ? keylen : 0}};
	fc_md5_parts_hex(parts, 2, out);
}

bool meross_mac_valid(const char *mac)
{
	if (!mac)
		return false;
	for (size_t i = 0; i < 17; i++) {
		if (i % 3 == 2) {
			if (mac[i] != ':')
				return false;
		} else if (!is_lower_hex(mac[i])) {
			return false; /* also stops at the NUL of a short string */
		}
	}
	return mac[17] == '\0';
}

/* ---- signing (§2) -------------------------------------------------------------------------------- */

void meross_sign(const char *message_id, const char *key, size_t keylen, int64_t timestamp, char out[33])
{
	char ts[24];
	int tn = snprintf(ts, sizeof ts, "%" PRId64, timestamp);
	const struct fc_part parts[] = {
		{message_id, message_id ? strlen(message_id) : 0},
		{key, key ? keylen : 0},
		{ts, (size_t)tn},
	};
	fc_md5_parts_hex(parts, 3, out);
}

int meross_msg_verify(const struct meross_msg *m, const char *key, size_t keylen)
{
	if (!m || (!key && keylen))
		return 0;
	if (strnlen(m->sign, sizeof m->sign) != 32)
		return 0;
	char want[33], got[33];
	meross_sign(m->message_id, key, keylen, m->timestamp, want);
	if (want[0] == '\0')
		return 0;
	for (size_t i = 0; i < 32; i++)
		got[i] = to_lower(m->sign[i]);
	got[32] = '\0';
	return fc_ct_equal(want, got, 32);
}

/* ---- parsing ------------------------------------------------------------------------------------- */

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* A string member of the header into dst[cap]. Returns 1 when copied, 0 when absent (only if !required),
 * -1 (with err) when missing-but-required, not a string, shorter than minlen or too long for dst. */
static int get_str(const cJSON *obj, const char *name, bool required, size_t minlen, char *dst, size_t cap,
		   char *err, size_t errlen)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
	dst[0] = '\0';
	if (!it) {
		if (required)
			return fail(err, errlen, "header.%s missing", name);
		return 0;
	}
	if (!cJSON_IsString(it) || !it->valuestring)
		return fail(err, errlen, "header.%s not a string", name);
	size_t n = strlen(it->valuestring);
	if (n >= cap)
		return fail(err, errlen, "header.%s too long (%zu > %zu)", name, n, cap - 1);
	if (n < minlen)
		return fail(err, errlen, "header.%s empty", name);
	memcpy(dst, it->valuestring, n + 1);
	return 1;
}

/* An integral number member in [min, max] (both exactly representable as double). Same returns. */
static int get_int(const cJSON *obj, const char *name, bool required, double min, double max, int64_t *out,
		   char *err, size_t errlen)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (!it) {
		if (required)
			return fail(err, errlen, "header.%s missing", name);
		return 0;
	}
	if (!cJSON_IsNumber(it))
		return fail(err, errlen, "header.%s not a number", name);
	double v = it->valuedouble;
	if (!(v >= min && v <= max)) /* also catches NaN */
		return fail(err, errlen, "header.%s out of range", name);
	int64_t i = (int64_t)v;
	if ((double)i != v)
		return fail(err, errlen, "header.%s not an integer", name);
	*out = i;
	return 1;
}

static bool json_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int meross_msg_parse(const void *buf, size_t len, struct meross_msg *out, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!out)
		return fail(err, errlen, "no output");
	memset(out, 0, sizeof *out);
	out->timestamp_ms = -1;
	out->payload_version = -1;
	if (!buf && len)
		return fail(err, errlen, "no input");
	if (len > MEROSS_MAX_MESSAGE)
		return fail(err, errlen, "message too large (%zu > %d bytes)", len, MEROSS_MAX_MESSAGE);
	if (len == 0)
		return fail(err, errlen, "empty message");
	if (memchr(buf, '\0', len))
		return fail(err, errlen, "NUL byte in message");

	const char *text = buf, *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!root)
		return fail(err, errlen, "not JSON (error at byte %ld)", end ? (long)(end - text) : -1L);
	if (!end || end < text || end > text + len) {
		cJSON_Delete(root);
		return fail(err, errlen, "not JSON");
	}
	for (const char *p = end; p < text + len; p++) {
		if (!json_ws((unsigned char)*p)) {
			cJSON_Delete(root);
			return fail(err, errlen, "trailing data after JSON at byte %ld", (long)(p - text));
		}
	}

	const char *why = NULL;
	cJSON *header = NULL, *payload = NULL;
	if (cJSON_IsObject(root)) {
		header = cJSON_GetObjectItemCaseSensitive(root, "header");
		payload = cJSON_GetObjectItemCaseSensitive(root, "payload");
	}
	if (!cJSON_IsObject(root))
		why = "message not an object";
	else if (!header)
		why = "header missing";
	else if (!cJSON_IsObject(header))
		why = "header not an object";
	else if (!payload)
		why = "payload missing";
	else if (!cJSON_IsObject(payload))
		why = "payload not an object";
	if (why) {
		cJSON_Delete(root);
		return fail(err, errlen, "%s", why);
	}

	int64_t v = 0;
	if (get_str(header, "messageId", true, 0, out->message_id, sizeof out->message_id, err, errlen) < 0 ||
	    get_str(header, "namespace", true, 1, out->namespace_, sizeof out->namespace_, err, errlen) < 0 ||
	    get_str(header, "method", true, 1, out->method, sizeof out->method, err, errlen) < 0 ||
	    get_str(header, "sign", true, 0, out->sign, sizeof out->sign, err, errlen) < 0 ||
	    get_str(header, "from", false, 0, out->from, sizeof out->from, err, errlen) < 0 ||
	    get_str(header, "triggerSrc", false, 0, out->trigger_src, sizeof out->trigger_src, err, errlen) < 0 ||
	    get_str(header, "uuid", false, 0, out->uuid, sizeof out->uuid, err, errlen) < 0)
		goto bad;
	if (get_int(header, "timestamp", true, 0, TIMESTAMP_MAX, &v, err, errlen) < 0)
		goto bad;
	out->timestamp = v;
	int r = get_int(header, "timestampMs", false, 0, 999, &v, err, errlen);
	if (r < 0)
		goto bad;
	if (r > 0)
		out->timestamp_ms = v;
	r = get_int(header, "payloadVersion", false, 0, INT_MAX, &v, err, errlen);
	if (r < 0)
		goto bad;
	if (r > 0)
		out->payload_version = (int)v; /* absent: -1 */

	out->header = header;
	out->payload = payload;
	out->root = root;
	return 0;
bad:
	cJSON_Delete(root);
	memset(out, 0, sizeof *out);
	out->timestamp_ms = -1;
	out->payload_version = -1;
	return -1;
}

void meross_msg_free(struct meross_msg *m)
{
	if (!m)
		return;
	cJSON_Delete(m->root);
	m->root = m->header = m->payload = NULL;
}

/* ---- building ------------------------------------------------------------------------------------ */

/* The fields of an outgoing header, in emission order. NULL strings / negative numbers are omitted. */
struct hdr {
	const char *message_id, *namespace_, *method;
	int payload_version;
	const char *from;
	int64_t timestamp;
	int64_t timestamp_ms;
	const char *sign, *trigger_src;
};

static bool add_int64_raw(cJSON *obj, const char *name, int64_t v)
{
	char num[24];
	snprintf(num, sizeof num, "%" PRId64, v);
	return cJSON_AddRawToObject(obj, name, num) != NULL;
}

/* {"header":{...},"payload":<copy of payload, {} when NULL>} printed compactly into a malloc'd string. */
static char *print_message(const struct hdr *h, const cJSON *payload)
{
	if (payload && !cJSON_IsObject(payload))
		return NULL;
	char *res = NULL;
	cJSON *root = cJSON_CreateObject();
	cJSON *header = cJSON_AddObjectToObject(root, "header");
	if (!header)
		goto out;
	if (!cJSON_AddStringToObject(header, "messageId", h->message_id) ||
	    !cJSON_AddStringToObject(header, "namespace", h->namespace_) ||
	    !cJSON_AddStringToObject(header, "method", h->method) ||
	    (h->payload_version >= 0 && !cJSON_AddNumberToObject(header, "payloadVersion", h->payload_version)) ||
	    (h->from && !cJSON_AddStringToObject(header, "from", h->from)) ||
	    !add_int64_raw(header, "timestamp", h->timestamp) ||
	    (h->timestamp_ms >= 0 && !add_int64_raw(header, "timestampMs", h->timestamp_ms)) ||
	    !cJSON_AddStringToObject(header, "sign", h->sign) ||
	    (h->trigger_src && !cJSON_AddStringToObject(header, "triggerSrc", h->trigger_src)))
		goto out;
	cJSON *pl = payload ? cJSON_Duplicate(payload, 1) : cJSON_CreateObject();
	if (!pl)
		goto out;
	if (!cJSON_AddItemToObject(root, "payload", pl)) {
		cJSON_Delete(pl);
		goto out;
	}
	char *printed = cJSON_PrintUnformatted(root);
	if (!printed)
		goto out;
	size_t n = strlen(printed);
	res = malloc(n + 1);
	if (res)
		memcpy(res, printed, n + 1);
	cJSON_free(printed);
out:
	cJSON_Delete(root);
	return res;
}

static bool fits(const char *s, size_t cap) { return s && strlen(s) < cap; }

char *meross_msg_build(const struct meross_out *o, const struct cJSON *payload, const char *key, size_t keylen,
		       char message_id_out[33])
{
	if (message_id_out)
		message_id_out[0] = '\0';
	if (!o || (!key && keylen))
		return NULL;
	/* Everything we send must be parseable by meross_msg_parse (same field limits). */
	if (!fits(o->namespace_, CAP(namespace_)) || !o->namespace_[0] ||
	    !fits(o->method, CAP(method)) || !o->method[0] || !fits(o->from, CAP(from)) ||
	    (o->trigger_src && !fits(o->trigger_src, CAP(trigger_src))) ||
	    (o->message_id && !fits(o->message_id, 33)) || o->timestamp < 0 ||
	    (double)o->timestamp > TIMESTAMP_MAX || o->timestamp_ms < 0 || o->timestamp_ms > 999)
		return NULL;
	char id[33];
	if (o->message_id) {
		memcpy(id, o->message_id, strlen(o->message_id) + 1);
	} else if (fc_random_hex(id, 32) != 0) {
		return NULL;
	}
	char sign[33];
	meross_sign(id, key, keylen, o->timestamp, sign);
	if (!sign[0])
		return NULL;
	const struct hdr h = {id, o->namespace_, o->method, 1, o->from, o->timestamp, o->timestamp_ms, sign,
			      o->trigger_src};
	char *res = print_message(&h, payload);
	if (res && message_id_out)
		memcpy(message_id_out, id, strlen(id) + 1);
	return res;
}

char *meross_msg_echo(const struct meross_msg *req, const char *method, const char *trigger_src, const char *from,
		      const struct cJSON *payload)
{
	if (!req || !req->header)
		return NULL;
	if ((method && (!fits(method, CAP(method)) || !method[0])) ||
	    (trigger_src && !fits(trigger_src, CAP(trigger_src))) || (from && !fits(from, CAP(from))))
		return NULL;
	/* Optional request fields are echoed only when the request had them (the struct cannot tell "" from
	 * absent). */
	const bool had_from = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(req->header, "from"));
	const bool had_trigger = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(req->header, "triggerSrc"));
	const struct hdr h = {
		req->message_id,
		req->namespace_,
		method ? method : req->method,
		req->payload_version >= 0 ? req->payload_version : 1,
		from ? from : (had_from ? req->from : NULL),
		req->timestamp,
		req->timestamp_ms,
		req->sign,
		trigger_src ? trigger_src : (had_trigger ? req->trigger_src : NULL),
	};
	return print_message(&h, payload);
}

/* ---- local provisioning crypto (§5) ---------------------------------------------------------------- */

#define AES_BLOCK 16

/* md5hex of a NUL-free string concatenation. */
void meross_wifix_key(const char *type, const char *uuid, const char *mac, char out[33])
{
	const struct fc_part parts[] = {{type, type ? strlen(type) : 0},
				     {uuid, uuid ? strlen(uuid) : 0},
				     {mac, mac ? strlen(mac) : 0}};
	fc_md5_parts_hex(parts, 3, out);
}

/* AES-256-CBC (IV "0000000000000000") of in + 1..16 zero bytes, base64 into out (NUL-terminated). */
static int zero_pad_encrypt_b64(const char key[33], const void *in, size_t len, char *out, size_t cap,
				size_t *outlen)
{
	const size_t padded = (len / AES_BLOCK + 1) * AES_BLOCK;
	if (len > SIZE_MAX / 2 - AES_BLOCK || cap < 4 * ((padded + 2) / 3) + 1)
		return -1;
	uint8_t *buf = calloc(1, padded);
	if (!buf)
		return -1;
	if (len)
		memcpy(buf, in, len);
	uint8_t iv[AES_BLOCK];
	memcpy(iv, MEROSS_AES_IV, AES_BLOCK);
	size_t n = 0, b64len = 0;
	int rc = fc_aes_cbc_encrypt((const uint8_t *)key, 32, iv, FC_PAD_NONE, buf, padded, buf, padded, &n);
	if (rc == 0)
		rc = fc_base64_encode(buf, n, out, cap, &b64len);
	fc_wipe(buf, padded);
	free(buf);
	if (rc != 0)
		return -1;
	if (outlen)
		*outlen = b64len;
	return 0;
}

int meross_wifix_password(const char *type, const char *uuid, const char *mac, const char *password, size_t len,
			  char *out, size_t cap)
{
	if (!out || !cap)
		return -1;
	out[0] = '\0';
	if (!type || !uuid || !mac || (!password && len) || len > MEROSS_WIFI_PASSWORD_MAX ||
	    (len && memchr(password, '\0', len)))
		return -1;
	char key[33];
	meross_wifix_key(type, uuid, mac, key);
	int rc = key[0] ? zero_pad_encrypt_b64(key, password, len, out, cap, NULL) : -1;
	fc_wipe(key, sizeof key);
	if (rc != 0)
		out[0] = '\0';
	return rc;
}

/* s[from:to] with Python semantics for 0 <= from <= to. */
static struct fc_part py_slice(const char *s, size_t n, size_t from, size_t to)
{
	struct fc_part p = {s, 0};
	if (!s || from >= n)
		return p;
	p.p = s + from;
	p.n = (to < n ? to : n) - from;
	return p;
}

void meross_local_key_direct(const char *uuid, const char *key, size_t keylen, const char *mac, char out[33])
{
	const size_t ulen = uuid ? strlen(uuid) : 0;
	if (!key)
		keylen = 0;
	const struct fc_part parts[] = {py_slice(uuid, ulen, 3, 22), py_slice(key, keylen, 1, 9),
				     {mac, mac ? strlen(mac) : 0}, py_slice(key, keylen, 10, 28)};
	fc_md5_parts_hex(parts, 4, out);
}

int meross_ecdhe_public(const uint8_t priv[32], uint8_t pub[65])
{
	return priv && pub ? fc_p256_public(priv, pub) : -1;
}

int meross_ecdhe_session_key(const uint8_t priv[32], const uint8_t *peer, size_t peerlen, char out[33])
{
	if (!out)
		return -1;
	out[0] = '\0';
	uint8_t secret[32];
	if (!priv || !peer || fc_p256_shared(priv, peer, peerlen, secret) != 0)
		return -1;
	fc_md5_hex(secret, sizeof secret, out); /* variant (a): the AES key is md5hex of the shared secret */
	fc_wipe(secret, sizeof secret);
	return 0;
}

char *meross_local_encrypt(const char key[33], const void *msg, size_t len, size_t *outlen)
{
	if (outlen)
		*outlen = 0;
	if (!key || strnlen(key, 33) != 32 || (!msg && len) || len > MEROSS_MAX_MESSAGE)
		return NULL;
	const size_t padded = (len / AES_BLOCK + 1) * AES_BLOCK;
	const size_t cap = 4 * ((padded + 2) / 3) + 1;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	if (zero_pad_encrypt_b64(key, msg, len, out, cap, outlen) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

static bool ascii_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

char *meross_local_decrypt(const char key[33], const void *body, size_t len, size_t *outlen, char *err,
			   size_t errlen)
{
	if (outlen)
		*outlen = 0;
	if (err && errlen)
		err[0] = '\0';
	if (!key || strnlen(key, 33) != 32 || (!body && len)) {
		fail(err, errlen, "bad arguments");
		return NULL;
	}
	const unsigned char *b = body;
	while (len && ascii_ws(b[0])) {
		b++;
		len--;
	}
	while (len && ascii_ws(b[len - 1]))
		len--;
	if (len == 0) {
		fail(err, errlen, "empty body");
		return NULL;
	}
	/* base64 of MEROSS_MAX_MESSAGE plus one padding block */
	const size_t max_b64 = 4 * ((MEROSS_MAX_MESSAGE + AES_BLOCK + 2) / 3);
	if (len > max_b64) {
		fail(err, errlen, "encrypted body too large (%zu bytes)", len);
		return NULL;
	}
	const size_t cap = len / 4 * 3 + 3;
	uint8_t *buf = malloc(cap + 1);
	if (!buf) {
		fail(err, errlen, "out of memory");
		return NULL;
	}
	size_t n = 0;
	if (fc_base64_decode((const char *)b, len, buf, cap, &n) != 0) {
		free(buf);
		fail(err, errlen, "not base64");
		return NULL;
	}
	if (n == 0 || n % AES_BLOCK != 0) {
		free(buf);
		fail(err, errlen, "%zu bytes is not a whole number of AES blocks", n);
		return NULL;
	}
	uint8_t iv[AES_BLOCK];
	memcpy(iv, MEROSS_AES_IV, AES_BLOCK);
	size_t m = 0;
	if (fc_aes_cbc_decrypt((const uint8_t *)key, 32, iv, FC_PAD_NONE, buf, n, buf, n, &m) != 0) {
		fc_wipe(buf, cap);
		free(buf);
		fail(err, errlen, "decryption failed");
		return NULL;
	}
	while (m && buf[m - 1] == 0)
		m--;
	bool binary = false; /* JSON text has no control bytes but blanks: a wrong key almost always does */
	for (size_t i = 0; i < m && !binary; i++)
		binary = buf[i] < 0x20 && buf[i] != '\t' && buf[i] != '\n' && buf[i] != '\r';
	if (m == 0 || binary || m > MEROSS_MAX_MESSAGE) {
		fc_wipe(buf, cap);
		free(buf);
		fail(err, errlen, m == 0 ? "decrypted to nothing" : "decrypted to binary data (wrong key?)");
		return NULL;
	}
	buf[m] = '\0';
	if (outlen)
		*outlen = m;
	return (char *)buf;
}
