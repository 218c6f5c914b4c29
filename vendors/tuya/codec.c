/* Tuya codec: see codec.h. Facts: ../shared/protocols/tuya.md §1.2-1.5, §2, §3.
 *
 * Parsing rules (all refusals, never silent repair):
 *  - every input is bounded (TUYA_*_MAX) before anything else is done with it;
 *  - JSON text must be exactly one value followed only by JSON whitespace, with no NUL byte anywhere:
 *    cJSON_ParseWithLengthOpts is called with require_null_terminated = 0 and the tail is checked here
 *    (cJSON ignores trailing garbage, and with require_null_terminated = 1 it treats any byte <= 0x20 as
 *    whitespace). Object lookups are case-sensitive; numbers are read from valuedouble (valueint
 *    saturates) and must be integral and within 2^53;
 *  - a string field longer than its struct buffer is refused, not truncated.
 *
 * Output: integers (t, s) are emitted as raw decimal text, not through cJSON's %1.15g, and printed JSON is
 * copied into a plain malloc'd buffer so free() is right even if someone installs cJSON hooks. Buffers
 * that held key material or plaintext derived from it are wiped before they are freed. */
#include "vendors/tuya/codec.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"

#define INT_EXACT_MAX 9007199254740992.0 /* 2^53 */
#define PV_HDR_LEN 3
#define PV21_HDR_LEN 19 /* "2.1" + sig16 */
#define PV22_HDR_LEN 15 /* "2.2" + crc + seq + source */
#define PV23_AAD_LEN 12 /* "2.3" + seq + from + reserved */
#define URLCFG_MAX_ENTRIES 64
#define SIGN_MAX_PARAMS 256

/* ---- small helpers ------------------------------------------------------------------------------ */

static void set_err(char *err, size_t errlen, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
static void set_err(char *err, size_t errlen, const char *fmt, va_list ap)
{
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_err(err, errlen, fmt, ap);
	va_end(ap);
	return TUYA_EFORMAT;
}

static int fail_key(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_key(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_err(err, errlen, fmt, ap);
	va_end(ap);
	return TUYA_EKEY;
}

static void clear_err(char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; }

static bool json_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static bool key_ok(const char *key, size_t keylen) { return key && keylen >= TUYA_AES_KEY_LEN; }

static void hex_upper(const uint8_t *in, size_t n, char *out)
{
	static const char dig[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = dig[in[i] >> 4];
		out[2 * i + 1] = dig[in[i] & 15];
	}
	out[2 * n] = '\0';
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

/* Free a buffer that held plaintext or key-derived bytes. */
static void wipe_free(void *p, size_t n)
{
	if (!p)
		return;
	fc_wipe(p, n);
	free(p);
}

/* malloc'd NUL-terminated copy of n bytes. */
static char *dup_mem(const void *p, size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		return NULL;
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}


/* Copy printed JSON into plain malloc memory (see the file comment). */
static char *print_json(const cJSON *root)
{
	char *printed = cJSON_PrintUnformatted(root);
	if (!printed)
		return NULL;
	char *res = dup_mem(printed, strlen(printed));
	cJSON_free(printed);
	return res;
}

static bool add_int64_raw(cJSON *obj, const char *name, int64_t v)
{
	char num[24];
	snprintf(num, sizeof num, "%" PRId64, v);
	return cJSON_AddRawToObject(obj, name, num) != NULL;
}

/* Parse text[0..len) as exactly one JSON object. Returns 0 and *root, else TUYA_EFORMAT with a reason
 * prefixed by `what`. */
static int parse_json_object(const char *text, size_t len, const char *what, cJSON **root, char *err,
			     size_t errlen)
{
	*root = NULL;
	if (len == 0)
		return fail(err, errlen, "%s empty", what);
	if (len > TUYA_MAX_JSON)
		return fail(err, errlen, "%s too large (%zu > %d bytes)", what, len, TUYA_MAX_JSON);
	if (memchr(text, '\0', len))
		return fail(err, errlen, "NUL byte in %s", what);
	const char *end = NULL;
	cJSON *r = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!r)
		return fail(err, errlen, "%s not JSON (error at byte %ld)", what,
			    end && end >= text && end <= text + len ? (long)(end - text) : -1L);
	if (!end || end < text || end > text + len) {
		cJSON_Delete(r);
		return fail(err, errlen, "%s not JSON", what);
	}
	for (const char *p = end; p < text + len; p++) {
		if (!json_ws((unsigned char)*p)) {
			cJSON_Delete(r);
			return fail(err, errlen, "trailing data after %s JSON at byte %ld", what, (long)(p - text));
		}
	}
	if (!cJSON_IsObject(r)) {
		cJSON_Delete(r);
		return fail(err, errlen, "%s not a JSON object", what);
	}
	*root = r;
	return 0;
}

/* Does decrypted text look like JSON at all (object or array)? Used to call a failed parse of decrypted
 * bytes a key problem (garbage that happened to have valid padding) rather than a format problem (the
 * device sent bad or non-object JSON). */
static bool looks_like_json(const char *text, size_t len)
{
	size_t i = 0;
	while (i < len && json_ws((unsigned char)text[i]))
		i++;
	return i < len && (text[i] == '{' || text[i] == '[');
}

/* An integral number in [min, max], or (when allow_string) a decimal string of such a number.
 * 1 found, 0 absent, TUYA_EFORMAT (with err) malformed. */
static int get_int(const cJSON *obj, const char *name, bool allow_string, double min, double max, int64_t *out,
		   char *err, size_t errlen)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (!it)
		return 0;
	double v;
	if (cJSON_IsNumber(it)) {
		v = it->valuedouble;
	} else if (allow_string && cJSON_IsString(it) && it->valuestring) {
		const char *s = it->valuestring;
		size_t i = s[0] == '-' ? 1 : 0, n = strlen(s);
		if (n == i || n - i > 16)
			return fail(err, errlen, "%s not an integer", name);
		for (size_t k = i; k < n; k++)
			if (s[k] < '0' || s[k] > '9')
				return fail(err, errlen, "%s not an integer", name);
		v = strtod(s, NULL);
	} else {
		return fail(err, errlen, "%s not a number", name);
	}
	if (!(v >= min && v <= max)) /* also catches NaN */
		return fail(err, errlen, "%s out of range", name);
	int64_t i = (int64_t)v;
	if ((double)i != v)
		return fail(err, errlen, "%s not an integer", name);
	*out = i;
	return 1;
}

/* Optional string member copied into dst[cap]; 1 copied, 0 absent, TUYA_EFORMAT wrong type / too long. */
static int get_str(const cJSON *obj, const char *name, char *dst, size_t cap, char *err, size_t errlen)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
	dst[0] = '\0';
	if (!it)
		return 0;
	if (!cJSON_IsString(it) || !it->valuestring)
		return fail(err, errlen, "%s not a string", name);
	size_t n = strlen(it->valuestring);
	if (n >= cap)
		return fail(err, errlen, "%s too long (%zu > %zu)", name, n, cap - 1);
	memcpy(dst, it->valuestring, n + 1);
	return 1;
}

/* ---- ATOP query ---------------------------------------------------------------------------------- */

void tuya_atop_query_init(struct tuya_atop_query *q)
{
	if (!q)
		return;
	memset(q, 0, sizeof *q);
	q->enc = TUYA_ET_NONE;
}

static enum tuya_et et_from_string(const char *v)
{
	if (strcmp(v, "1") == 0)
		return TUYA_ET_ECB;
	if (strcmp(v, "3") == 0)
		return TUYA_ET_GCM;
	if (strcmp(v, "0") == 0)
		return TUYA_ET_NONE;
	return TUYA_ET_UNKNOWN;
}

int tuya_atop_query_add(struct tuya_atop_query *q, const char *key, size_t keylen, const char *value,
			size_t valuelen, char *err, size_t errlen)
{
	if (!q || (!key && keylen) || (!value && valuelen))
		return fail(err, errlen, "no input");
	if (keylen == 0)
		return fail(err, errlen, "empty parameter name");
	if (memchr(key, '\0', keylen) || (valuelen && memchr(value, '\0', valuelen)))
		return fail(err, errlen, "NUL byte in query");
	if (q->count >= TUYA_QUERY_MAX_PARAMS)
		return fail(err, errlen, "too many query parameters (> %d)", TUYA_QUERY_MAX_PARAMS);
	for (size_t i = 0; i < q->count; i++)
		if (strlen(q->params[i].key) == keylen && memcmp(q->params[i].key, key, keylen) == 0)
			return fail(err, errlen, "duplicate parameter \"%.32s\"", q->params[i].key);
	if (keylen + valuelen + 2 > sizeof q->buf - q->used)
		return fail(err, errlen, "query too large");

	char *k = q->buf + q->used;
	memcpy(k, key, keylen);
	k[keylen] = '\0';
	char *v = k + keylen + 1;
	if (valuelen)
		memcpy(v, value, valuelen);
	v[valuelen] = '\0';
	q->used += keylen + valuelen + 2;
	q->params[q->count].key = k;
	q->params[q->count].value = v;
	q->count++;

	static const struct {
		const char *name;
		size_t off;
	} known[] = {
		{"a", offsetof(struct tuya_atop_query, a)},         {"devId", offsetof(struct tuya_atop_query, dev_id)},
		{"gwId", offsetof(struct tuya_atop_query, gw_id)},  {"uuid", offsetof(struct tuya_atop_query, uuid)},
		{"et", offsetof(struct tuya_atop_query, et)},       {"t", offsetof(struct tuya_atop_query, t)},
		{"v", offsetof(struct tuya_atop_query, v)},         {"sign", offsetof(struct tuya_atop_query, sign)},
		{"other", offsetof(struct tuya_atop_query, other)},
	};
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
		if (strcmp(k, known[i].name) == 0) {
			const char **slot = (const char **)((char *)q + known[i].off);
			*slot = v;
			break;
		}
	}
	if (q->et == v)
		q->enc = et_from_string(v);
	return 0;
}

/* %XX-decode s[0..n) into out (at most n bytes); returns the decoded length. */
static size_t pct_decode(const char *s, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < n && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)s[i + 2])) >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	return o;
}

int tuya_atop_query_parse(const void *query, size_t len, struct tuya_atop_query *out, char *err, size_t errlen)
{
	clear_err(err, errlen);
	if (!out)
		return fail(err, errlen, "no output");
	tuya_atop_query_init(out);
	if (!query && len)
		return fail(err, errlen, "no input");
	if (len > TUYA_QUERY_MAX)
		return fail(err, errlen, "query too large (%zu > %d bytes)", len, TUYA_QUERY_MAX);
	const char *s = query;
	if (len && memchr(s, '\0', len))
		return fail(err, errlen, "NUL byte in query");
	size_t i = 0;
	if (len && s[0] == '?')
		i = 1;
	char scratch[TUYA_QUERY_MAX];
	while (i < len) {
		const char *seg = s + i;
		const char *amp = memchr(seg, '&', len - i);
		size_t seglen = amp ? (size_t)(amp - seg) : len - i;
		i += seglen + 1;
		if (seglen == 0)
			continue;
		const char *eq = memchr(seg, '=', seglen);
		size_t kraw = eq ? (size_t)(eq - seg) : seglen;
		size_t klen = pct_decode(seg, kraw, scratch);
		size_t vlen = eq ? pct_decode(eq + 1, seglen - kraw - 1, scratch + klen) : 0;
		int rc = tuya_atop_query_add(out, scratch, klen, scratch + klen, vlen, err, errlen);
		if (rc != 0) {
			tuya_atop_query_init(out);
			return rc;
		}
	}
	return 0;
}

const char *tuya_atop_query_get(const struct tuya_atop_query *q, const char *key)
{
	if (!q || !key)
		return NULL;
	for (size_t i = 0; i < q->count && i < TUYA_QUERY_MAX_PARAMS; i++)
		if (strcmp(q->params[i].key, key) == 0)
			return q->params[i].value;
	return NULL;
}

static int cmp_param(const void *a, const void *b)
{
	const struct tuya_query_param *x = *(const struct tuya_query_param *const *)a;
	const struct tuya_query_param *y = *(const struct tuya_query_param *const *)b;
	int c = strcmp(x->key, y->key);
	return c ? c : strcmp(x->value, y->value);
}

int tuya_atop_sign_params(const struct tuya_query_param *params, size_t n, const char *key, size_t keylen,
			  char out[33])
{
	if (out)
		out[0] = '\0';
	if (!out || (!params && n) || (!key && keylen) || n > SIGN_MAX_PARAMS)
		return TUYA_EFORMAT;
	const struct tuya_query_param *sorted[SIGN_MAX_PARAMS];
	size_t m = 0, total = keylen;
	for (size_t i = 0; i < n; i++) {
		if (!params[i].key || !params[i].value)
			return TUYA_EFORMAT;
		if (strcmp(params[i].key, "sign") == 0)
			continue;
		sorted[m++] = &params[i];
		total += strlen(params[i].key) + strlen(params[i].value) + 3; /* "=" and "||" */
	}
	if (m > 1)
		qsort(sorted, m, sizeof sorted[0], cmp_param);
	char *buf = malloc(total + 1);
	if (!buf)
		return TUYA_EFORMAT;
	size_t off = 0;
	for (size_t i = 0; i < m; i++) {
		size_t kl = strlen(sorted[i]->key), vl = strlen(sorted[i]->value);
		memcpy(buf + off, sorted[i]->key, kl);
		off += kl;
		buf[off++] = '=';
		memcpy(buf + off, sorted[i]->value, vl);
		off += vl;
		memcpy(buf + off, "||", 2);
		off += 2;
	}
	if (keylen)
		memcpy(buf + off, key, keylen);
	off += keylen;
	fc_md5_hex(buf, off, out);
	wipe_free(buf, total + 1);
	return 0;
}

int tuya_atop_query_sign(const struct tuya_atop_query *q, const char *key, size_t keylen, char out[33])
{
	if (!q || q->count > TUYA_QUERY_MAX_PARAMS) {
		if (out)
			out[0] = '\0';
		return TUYA_EFORMAT;
	}
	return tuya_atop_sign_params(q->params, q->count, key, keylen, out);
}

enum tuya_sign_check tuya_atop_query_verify(const struct tuya_atop_query *q, const char *key, size_t keylen,
					    const char **reason)
{
	const char *dummy;
	if (!reason)
		reason = &dummy;
	if (!q || !q->sign) {
		*reason = "sign missing";
		return TUYA_SIGN_MISSING;
	}
	char got[33];
	size_t n = strlen(q->sign);
	bool hex = n == 32;
	for (size_t i = 0; hex && i < 32; i++) {
		hex = hexval((unsigned char)q->sign[i]) >= 0;
		got[i] = to_lower(q->sign[i]);
	}
	if (!hex) {
		*reason = "sign not 32 hex digits";
		return TUYA_SIGN_MALFORMED;
	}
	got[32] = '\0';
	char want[33];
	if (tuya_atop_query_sign(q, key, keylen, want) == 0 && fc_ct_equal(want, got, 32)) {
		*reason = "sign ok";
		return TUYA_SIGN_OK;
	}
	if (keylen > TUYA_AES_KEY_LEN && tuya_atop_query_sign(q, key, TUYA_AES_KEY_LEN, want) == 0 &&
	    fc_ct_equal(want, got, 32)) {
		*reason = "sign ok with key[0:16]";
		return TUYA_SIGN_OK;
	}
	*reason = "sign mismatch";
	return TUYA_SIGN_MISMATCH;
}

/* ---- ATOP body ----------------------------------------------------------------------------------- */

void tuya_atop_body_free(struct tuya_atop_body *b)
{
	if (!b)
		return;
	cJSON_Delete(b->root);
	wipe_free(b->json, b->json ? b->json_len + 1 : 0);
	b->root = NULL;
	b->json = NULL;
	b->json_len = 0;
}

/* Take ownership of plaintext p[0..n) (malloc'd with room for a NUL) and parse it into out. `decrypted`
 * selects the key heuristic for garbage. */
static int finish_body(char *p, size_t n, enum tuya_et enc, bool decrypted, struct tuya_atop_body *out,
		       const char *what, char *err, size_t errlen)
{
	p[n] = '\0';
	cJSON *root = NULL;
	int rc = parse_json_object(p, n, what, &root, err, errlen);
	if (rc != 0) {
		if (decrypted && !looks_like_json(p, n))
			rc = fail_key(err, errlen, "decrypted %s is not JSON (wrong key?)", what);
		wipe_free(p, n + 1);
		return rc;
	}
	out->json = p;
	out->json_len = n;
	out->root = root;
	out->enc = enc;
	return 0;
}

/* Decrypt raw ciphertext bytes (ECB: PKCS7 blocks; GCM: nonce || ct || tag) into a malloc'd plaintext
 * with room for a NUL. */
static int decrypt_raw(const uint8_t *in, size_t n, enum tuya_et et, const char *key, const char *what,
		       char **plain, size_t *plainlen, char *err, size_t errlen)
{
	*plain = NULL;
	*plainlen = 0;
	const uint8_t *k = (const uint8_t *)key;
	if (et == TUYA_ET_ECB) {
		if (n == 0)
			return fail(err, errlen, "%s ciphertext empty", what);
		if (n % 16)
			return fail(err, errlen, "%s ciphertext not a multiple of 16 (%zu bytes)", what, n);
		char *p = malloc(n + 1);
		if (!p)
			return fail(err, errlen, "out of memory");
		size_t m = 0;
		int rc = fc_aes_ecb_decrypt(k, TUYA_AES_KEY_LEN, FC_PAD_PKCS7, in, n, (uint8_t *)p, n, &m);
		if (rc != 0) {
			wipe_free(p, n + 1);
			if (rc == FC_CRYPTO_EPAD)
				return fail_key(err, errlen, "%s bad padding (wrong key?)", what);
			return fail(err, errlen, "%s decryption failed", what);
		}
		*plain = p;
		*plainlen = m;
		return 0;
	}
	if (et == TUYA_ET_GCM) {
		if (n < TUYA_GCM_NONCE_LEN + TUYA_GCM_TAG_LEN)
			return fail(err, errlen, "%s shorter than GCM nonce+tag (%zu bytes)", what, n);
		size_t m = n - TUYA_GCM_NONCE_LEN - TUYA_GCM_TAG_LEN;
		char *p = malloc(m + 1);
		if (!p)
			return fail(err, errlen, "out of memory");
		int rc = fc_aes_gcm_decrypt(k, TUYA_AES_KEY_LEN, in, TUYA_GCM_NONCE_LEN, NULL, 0, in + TUYA_GCM_NONCE_LEN,
					    m, (uint8_t *)p, in + n - TUYA_GCM_TAG_LEN, TUYA_GCM_TAG_LEN);
		if (rc != 0) {
			wipe_free(p, m + 1);
			if (rc == FC_CRYPTO_EAUTH)
				return fail_key(err, errlen, "%s GCM tag mismatch (wrong key?)", what);
			return fail(err, errlen, "%s decryption failed", what);
		}
		*plain = p;
		*plainlen = m;
		return 0;
	}
	return fail(err, errlen, "unsupported et");
}

/* Locate the value of form field `name` in s[0..n): 1 found (*v, *vlen), 0 absent. */
static int form_field(const char *s, size_t n, const char *name, const char **v, size_t *vlen)
{
	size_t nl = strlen(name), i = 0;
	while (i < n) {
		const char *seg = s + i;
		const char *amp = memchr(seg, '&', n - i);
		size_t seglen = amp ? (size_t)(amp - seg) : n - i;
		i += seglen + 1;
		if (seglen > nl && memcmp(seg, name, nl) == 0 && seg[nl] == '=') {
			*v = seg + nl + 1;
			*vlen = seglen - nl - 1;
			return 1;
		}
	}
	return 0;
}

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (hexval((unsigned char)s[i]) < 0)
			return false;
	return true;
}

int tuya_atop_body_decode(const void *body, size_t len, enum tuya_et et, const char *key, size_t keylen,
			  struct tuya_atop_body *out, char *err, size_t errlen)
{
	clear_err(err, errlen);
	if (!out)
		return fail(err, errlen, "no output");
	memset(out, 0, sizeof *out);
	out->enc = et;
	if (!body && len)
		return fail(err, errlen, "no input");
	if (len > TUYA_BODY_MAX)
		return fail(err, errlen, "body too large (%zu > %d bytes)", len, TUYA_BODY_MAX);
	const char *s = body;
	if (len && memchr(s, '\0', len))
		return fail(err, errlen, "NUL byte in body");
	if (et != TUYA_ET_NONE && et != TUYA_ET_ECB && et != TUYA_ET_GCM)
		return fail(err, errlen, "unsupported et");
	while (len && json_ws((unsigned char)s[len - 1]))
		len--;
	while (len && json_ws((unsigned char)*s)) {
		s++;
		len--;
	}
	if (len == 0)
		return 0; /* G1 GET: nothing to decode */
	if ((et == TUYA_ET_ECB || et == TUYA_ET_GCM) && !key_ok(key, keylen))
		return fail(err, errlen, "key shorter than 16 bytes");

	if (et == TUYA_ET_NONE && s[0] == '{') { /* bare JSON */
		char *p = dup_mem(s, len);
		if (!p)
			return fail(err, errlen, "out of memory");
		return finish_body(p, len, TUYA_ET_NONE, false, out, "body", err, errlen);
	}
	const char *v = NULL;
	size_t vlen = 0;
	if (!form_field(s, len, "data", &v, &vlen))
		return fail(err, errlen, "body has no data= field");
	if (vlen == 0)
		return fail(err, errlen, "body data= empty");

	if (et == TUYA_ET_NONE) {
		/* G1: plaintext, or hex ciphertext even without et (tried first when a key is given). */
		if (key_ok(key, keylen) && vlen % 32 == 0 && all_hex(v, vlen)) {
			uint8_t *raw = malloc(vlen / 2);
			size_t rn = 0;
			if (raw && fc_hex_decode(v, vlen, raw, vlen / 2, &rn) == 0) {
				char *p = NULL;
				size_t pn = 0;
				char scratch[8];
				if (decrypt_raw(raw, rn, TUYA_ET_ECB, key, "body", &p, &pn, scratch, sizeof scratch) == 0) {
					struct tuya_atop_body tmp;
					memset(&tmp, 0, sizeof tmp);
					if (finish_body(p, pn, TUYA_ET_ECB, true, &tmp, "body", scratch, sizeof scratch) == 0) {
						free(raw);
						*out = tmp;
						return 0;
					}
				}
			}
			free(raw);
		}
		char *p = malloc(vlen + 1);
		if (!p)
			return fail(err, errlen, "out of memory");
		size_t pn = pct_decode(v, vlen, p);
		return finish_body(p, pn, TUYA_ET_NONE, false, out, "body", err, errlen);
	}

	if (vlen % 2)
		return fail(err, errlen, "body hex has odd length %zu", vlen);
	if (!all_hex(v, vlen))
		return fail(err, errlen, "body data= not hex");
	uint8_t *raw = malloc(vlen / 2 ? vlen / 2 : 1);
	if (!raw)
		return fail(err, errlen, "out of memory");
	size_t rn = 0;
	if (fc_hex_decode(v, vlen, raw, vlen / 2, &rn) != 0) {
		free(raw);
		return fail(err, errlen, "body data= not hex");
	}
	char *p = NULL;
	size_t pn = 0;
	int rc = decrypt_raw(raw, rn, et, key, "body", &p, &pn, err, errlen);
	free(raw);
	if (rc != 0)
		return rc;
	return finish_body(p, pn, et, true, out, "body", err, errlen);
}

/* Encrypt plaintext into a malloc'd raw buffer (ECB: padded ct; GCM: nonce || ct || tag). */
static int encrypt_raw(const char *plain, size_t n, enum tuya_et et, const char *key, const uint8_t *nonce,
		       uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	*out = NULL;
	*outlen = 0;
	const uint8_t *k = (const uint8_t *)key;
	if (et == TUYA_ET_ECB) {
		size_t cap = (n / 16 + 1) * 16;
		uint8_t *c = malloc(cap);
		if (!c)
			return fail(err, errlen, "out of memory");
		size_t m = 0;
		if (fc_aes_ecb_encrypt(k, TUYA_AES_KEY_LEN, FC_PAD_PKCS7, (const uint8_t *)plain, n, c, cap, &m) != 0) {
			free(c);
			return fail(err, errlen, "encryption failed");
		}
		*out = c;
		*outlen = m;
		return 0;
	}
	if (et == TUYA_ET_GCM) {
		size_t m = TUYA_GCM_NONCE_LEN + n + TUYA_GCM_TAG_LEN;
		uint8_t *c = malloc(m);
		if (!c)
			return fail(err, errlen, "out of memory");
		if (nonce)
			memcpy(c, nonce, TUYA_GCM_NONCE_LEN);
		else if (fc_random(c, TUYA_GCM_NONCE_LEN) != 0) {
			free(c);
			return fail(err, errlen, "no randomness");
		}
		if (fc_aes_gcm_encrypt(k, TUYA_AES_KEY_LEN, c, TUYA_GCM_NONCE_LEN, NULL, 0, (const uint8_t *)plain, n,
				       c + TUYA_GCM_NONCE_LEN, c + TUYA_GCM_NONCE_LEN + n, TUYA_GCM_TAG_LEN) != 0) {
			free(c);
			return fail(err, errlen, "encryption failed");
		}
		*out = c;
		*outlen = m;
		return 0;
	}
	return fail(err, errlen, "unsupported et");
}

/* Common checks for text we are asked to send. */
static int check_plain(const char *s, size_t n, char *err, size_t errlen)
{
	if (!s && n)
		return fail(err, errlen, "no input");
	if (n > TUYA_MAX_JSON)
		return fail(err, errlen, "JSON too large (%zu > %d bytes)", n, TUYA_MAX_JSON);
	if (n && memchr(s, '\0', n))
		return fail(err, errlen, "NUL byte in JSON");
	return 0;
}

char *tuya_atop_body_encode(const char *json, size_t len, enum tuya_et et, const char *key, size_t keylen,
			    const uint8_t *nonce, char *err, size_t errlen)
{
	clear_err(err, errlen);
	if (check_plain(json, len, err, errlen) != 0)
		return NULL;
	if (et == TUYA_ET_NONE) { /* form-encoded: %XX for '%', '&', '+', '#', space, controls, non-ASCII */
		char *r = malloc(5 + 3 * len + 1);
		if (!r) {
			fail(err, errlen, "out of memory");
			return NULL;
		}
		static const char dig[] = "0123456789ABCDEF";
		memcpy(r, "data=", 5);
		size_t o = 5;
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)json[i];
			if (c <= 0x20 || c >= 0x7f || c == '%' || c == '&' || c == '+' || c == '#') {
				r[o++] = '%';
				r[o++] = dig[c >> 4];
				r[o++] = dig[c & 15];
			} else {
				r[o++] = (char)c;
			}
		}
		r[o] = '\0';
		return r;
	}
	if (et != TUYA_ET_ECB && et != TUYA_ET_GCM) {
		fail(err, errlen, "unsupported et");
		return NULL;
	}
	if (!key_ok(key, keylen)) {
		fail(err, errlen, "key shorter than 16 bytes");
		return NULL;
	}
	uint8_t *raw = NULL;
	size_t rn = 0;
	if (encrypt_raw(json, len, et, key, nonce, &raw, &rn, err, errlen) != 0)
		return NULL;
	char *r = malloc(5 + 2 * rn + 1);
	if (r) {
		memcpy(r, "data=", 5);
		hex_upper(raw, rn, r + 5);
	} else {
		fail(err, errlen, "out of memory");
	}
	free(raw);
	return r;
}

/* ---- ATOP response ------------------------------------------------------------------------------- */

void tuya_atop_response_sign(const char *b64, size_t b64len, int64_t t, const char *key, size_t keylen,
			     char out[17])
{
	char ts[48];
	int tn = snprintf(ts, sizeof ts, "||t=%" PRId64 "||", t);
	const struct fc_part parts[] = {
		{"result=", 7},
		{b64, b64 ? b64len : 0},
		{ts, (size_t)tn},
		{key, key ? keylen : 0},
	};
	char h[33];
	fc_md5_parts_hex(parts, 4, h);
	memcpy(out, h + 8, 16);
	out[16] = '\0';
}

char *tuya_atop_inner_ok(const cJSON *result, int64_t t)
{
	if (t < 0)
		return NULL;
	char *res = NULL;
	cJSON *root = cJSON_CreateObject();
	if (!root)
		return NULL;
	if (result) {
		cJSON *copy = cJSON_Duplicate(result, 1);
		if (!copy || !cJSON_AddItemToObject(root, "result", copy)) {
			cJSON_Delete(copy);
			goto out;
		}
	}
	if (!add_int64_raw(root, "t", t) || !cJSON_AddTrueToObject(root, "success"))
		goto out;
	res = print_json(root);
out:
	cJSON_Delete(root);
	return res;
}

char *tuya_atop_inner_error(const char *code, const char *msg, int64_t t)
{
	if (!code || t < 0)
		return NULL;
	char *res = NULL;
	cJSON *root = cJSON_CreateObject();
	if (!root)
		return NULL;
	if (!cJSON_AddFalseToObject(root, "success") || !cJSON_AddStringToObject(root, "errorCode", code) ||
	    (msg && !cJSON_AddStringToObject(root, "errorMsg", msg)) || !add_int64_raw(root, "t", t))
		goto out;
	res = print_json(root);
out:
	cJSON_Delete(root);
	return res;
}

char *tuya_atop_envelope(const char *inner, size_t len, enum tuya_et et, int64_t t, const char *key,
			 size_t keylen, const uint8_t *nonce, char *err, size_t errlen)
{
	clear_err(err, errlen);
	if (check_plain(inner, len, err, errlen) != 0)
		return NULL;
	if (t < 0) {
		fail(err, errlen, "negative t");
		return NULL;
	}
	if (et == TUYA_ET_NONE) {
		char *r = dup_mem(inner, len);
		if (!r)
			fail(err, errlen, "out of memory");
		return r;
	}
	if (et != TUYA_ET_ECB && et != TUYA_ET_GCM) {
		fail(err, errlen, "unsupported et");
		return NULL;
	}
	if (!key_ok(key, keylen)) {
		fail(err, errlen, "key shorter than 16 bytes");
		return NULL;
	}
	uint8_t *raw = NULL;
	size_t rn = 0;
	if (encrypt_raw(inner, len, et, key, nonce, &raw, &rn, err, errlen) != 0)
		return NULL;
	size_t cap = 4 * ((rn + 2) / 3) + 1, bn = 0;
	char *b64 = malloc(cap);
	char *res = NULL;
	cJSON *root = NULL;
	if (!b64 || fc_base64_encode(raw, rn, b64, cap, &bn) != 0) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	char sign[17];
	tuya_atop_response_sign(b64, bn, t, key, keylen, sign);
	root = cJSON_CreateObject();
	if (!root || !cJSON_AddStringToObject(root, "result", b64) || !add_int64_raw(root, "t", t) ||
	    !cJSON_AddStringToObject(root, "sign", sign)) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	res = print_json(root);
	if (!res)
		fail(err, errlen, "out of memory");
out:
	cJSON_Delete(root);
	free(b64);
	free(raw);
	return res;
}

char *tuya_atop_response(const cJSON *result, enum tuya_et et, int64_t t, const char *key, size_t keylen,
			 char *err, size_t errlen)
{
	clear_err(err, errlen);
	if (t < 0) {
		fail(err, errlen, "negative t");
		return NULL;
	}
	if (et == TUYA_ET_NONE) { /* G1 plaintext form (tuya-convert reply(encrypted=False)) */
		char *res = NULL;
		cJSON *root = cJSON_CreateObject();
		if (!root || !add_int64_raw(root, "t", t) || !cJSON_AddFalseToObject(root, "e") ||
		    !cJSON_AddTrueToObject(root, "success"))
			goto out;
		if (result) {
			cJSON *copy = cJSON_Duplicate(result, 1);
			if (!copy || !cJSON_AddItemToObject(root, "result", copy)) {
				cJSON_Delete(copy);
				goto out;
			}
		}
		res = print_json(root);
	out:
		cJSON_Delete(root);
		if (!res)
			fail(err, errlen, "out of memory");
		return res;
	}
	char *inner = tuya_atop_inner_ok(result, t);
	if (!inner) {
		fail(err, errlen, "out of memory");
		return NULL;
	}
	char *res = tuya_atop_envelope(inner, strlen(inner), et, t, key, keylen, NULL, err, errlen);
	wipe_free(inner, strlen(inner));
	return res;
}

int tuya_atop_response_open(const void *buf, size_t len, enum tuya_et et, const char *key, size_t keylen,
			    struct tuya_atop_body *out, int64_t *t, bool *sign_ok, char *err, size_t errlen)
{
	clear_err(err, errlen);
	if (t)
		*t = -1;
	if (sign_ok)
		*sign_ok = false;
	if (!out)
		return fail(err, errlen, "no output");
	memset(out, 0, sizeof *out);
	out->enc = et;
	if (!buf && len)
		return fail(err, errlen, "no input");
	if (et != TUYA_ET_ECB && et != TUYA_ET_GCM)
		return fail(err, errlen, "unsupported et");
	if (!key_ok(key, keylen))
		return fail(err, errlen, "key shorter than 16 bytes");
	if (len > TUYA_BODY_MAX)
		return fail(err, errlen, "response too large (%zu > %d bytes)", len, TUYA_BODY_MAX);
	char *text = dup_mem(buf, len);
	if (!text)
		return fail(err, errlen, "out of memory");
	cJSON *root = NULL;
	int rc = parse_json_object(text, len, "response", &root, err, errlen);
	free(text);
	if (rc != 0)
		return rc;
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "result");
	const cJSON *sg = cJSON_GetObjectItemCaseSensitive(root, "sign");
	int64_t tv = 0;
	rc = TUYA_EFORMAT;
	if (!res)
		fail(err, errlen, "result missing");
	else if (!cJSON_IsString(res) || !res->valuestring)
		fail(err, errlen, "result not a string");
	else if (get_int(root, "t", false, 0, INT_EXACT_MAX, &tv, err, errlen) != 1) {
		if (!cJSON_GetObjectItemCaseSensitive(root, "t"))
			fail(err, errlen, "t missing");
	} else if (sg && (!cJSON_IsString(sg) || !sg->valuestring))
		fail(err, errlen, "sign not a string");
	else
		rc = 0;
	if (rc != 0) {
		cJSON_Delete(root);
		return rc;
	}
	const char *b64 = res->valuestring;
	size_t bl = strlen(b64);
	if (sg && sign_ok) {
		char want[17];
		tuya_atop_response_sign(b64, bl, tv, key, keylen, want);
		*sign_ok = strlen(sg->valuestring) == 16 && fc_ct_equal(want, sg->valuestring, 16);
	}
	if (t)
		*t = tv;
	uint8_t *raw = malloc(bl / 4 * 3 + 3);
	size_t rn = 0;
	if (!raw || fc_base64_decode(b64, bl, raw, bl / 4 * 3 + 3, &rn) != 0) {
		free(raw);
		cJSON_Delete(root);
		return fail(err, errlen, "result not base64");
	}
	cJSON_Delete(root);
	char *p = NULL;
	size_t pn = 0;
	rc = decrypt_raw(raw, rn, et, key, "result", &p, &pn, err, errlen);
	free(raw);
	if (rc != 0)
		return rc;
	return finish_body(p, pn, et, true, out, "result", err, errlen);
}

void tuya_ota_hmac(const uint8_t file_sha256[32], const char *seckey, size_t keylen, char out[65])
{
	char msg[65];
	hex_upper(file_sha256, 32, msg);
	uint8_t mac[32];
	fc_hmac_sha256(seckey, seckey ? keylen : 0, msg, 64, mac);
	hex_upper(mac, 32, out);
}

/* ---- url_config ---------------------------------------------------------------------------------- */

static const struct {
	const char *name;
	unsigned bit;
} urlcfg_keys[] = {
	{"httpUrl", TUYA_URLCFG_HTTP},          {"mqttUrl", TUYA_URLCFG_MQTT},
	{"httpsPSKUrl", TUYA_URLCFG_HTTPS_PSK}, {"mqttsPSKUrl", TUYA_URLCFG_MQTTS_PSK},
	{"httpsSelfUrl", TUYA_URLCFG_HTTPS_SELF}, {"mqttsSelfUrl", TUYA_URLCFG_MQTTS_SELF},
};

int tuya_url_config_parse(const void *buf, size_t len, struct tuya_url_config_req *out, char *err, size_t errlen)
{
	clear_err(err, errlen);
	if (!out)
		return fail(err, errlen, "no output");
	memset(out, 0, sizeof *out);
	if (!buf && len)
		return fail(err, errlen, "no input");
	if (len > TUYA_URLCFG_MAX)
		return fail(err, errlen, "url_config request too large (%zu > %d bytes)", len, TUYA_URLCFG_MAX);
	cJSON *root = NULL;
	int rc = parse_json_object(buf, len, "url_config request", &root, err, errlen);
	if (rc != 0)
		return rc;
	int64_t ts = 0;
	int r;
	if (get_str(root, "region", out->region, sizeof out->region, err, errlen) < 0 ||
	    get_str(root, "env", out->env, sizeof out->env, err, errlen) < 0 ||
	    get_str(root, "uuid", out->uuid, sizeof out->uuid, err, errlen) < 0 ||
	    get_str(root, "sign", out->sign, sizeof out->sign, err, errlen) < 0 ||
	    (r = get_int(root, "ts", false, 0, INT_EXACT_MAX, &ts, err, errlen)) < 0)
		goto bad;
	out->has_ts = r == 1;
	out->ts = r == 1 ? ts : 0;
	const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(root, "config");
	if (cfg) {
		if (!cJSON_IsArray(cfg)) {
			fail(err, errlen, "config not an array");
			goto bad;
		}
		int n = cJSON_GetArraySize(cfg);
		if (n > URLCFG_MAX_ENTRIES) {
			fail(err, errlen, "config has too many entries (%d > %d)", n, URLCFG_MAX_ENTRIES);
			goto bad;
		}
		size_t idx = 0;
		const cJSON *e;
		cJSON_ArrayForEach(e, cfg)
		{
			if (!cJSON_IsObject(e)) {
				fail(err, errlen, "config[%zu] not an object", idx);
				goto bad;
			}
			const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "key");
			const cJSON *ca = cJSON_GetObjectItemCaseSensitive(e, "need_ca");
			if (!k) {
				fail(err, errlen, "config[%zu].key missing", idx);
				goto bad;
			}
			if (!cJSON_IsString(k) || !k->valuestring) {
				fail(err, errlen, "config[%zu].key not a string", idx);
				goto bad;
			}
			if (ca && !cJSON_IsBool(ca)) {
				fail(err, errlen, "config[%zu].need_ca not a bool", idx);
				goto bad;
			}
			unsigned bit = TUYA_URLCFG_OTHER;
			for (size_t i = 0; i < sizeof urlcfg_keys / sizeof urlcfg_keys[0]; i++)
				if (strcmp(k->valuestring, urlcfg_keys[i].name) == 0)
					bit = urlcfg_keys[i].bit;
			out->keys |= bit;
			if (cJSON_IsTrue(ca))
				out->need_ca |= bit;
			idx++;
		}
		out->n_config = idx;
	}
	cJSON_Delete(root);
	return 0;
bad:
	cJSON_Delete(root);
	memset(out, 0, sizeof *out);
	return TUYA_EFORMAT;
}

static bool is_ipv4(const char *s)
{
	int parts = 0;
	while (*s) {
		int digits = 0, v = 0;
		while (*s >= '0' && *s <= '9') {
			v = v * 10 + (*s - '0');
			if (++digits > 3)
				return false;
			s++;
		}
		if (digits == 0 || v > 255 || (digits > 1 && s[-digits] == '0'))
			return false;
		parts++;
		if (*s == '.') {
			s++;
			if (!*s)
				return false;
		} else if (*s) {
			return false;
		}
	}
	return parts == 4;
}

static bool host_ok(const char *h)
{
	size_t n = h ? strlen(h) : 0;
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
		      c == '-'))
			return false;
	}
	return true;
}

/* Add "name": "addr" (legacy) or {"addr":addr,"ips":[host]} (ips only for an IPv4 host). */
static bool add_url(cJSON *root, const char *name, const char *addr, const char *host, bool legacy)
{
	if (legacy)
		return cJSON_AddStringToObject(root, name, addr) != NULL;
	cJSON *o = cJSON_AddObjectToObject(root, name);
	if (!o || !cJSON_AddStringToObject(o, "addr", addr))
		return false;
	if (is_ipv4(host)) {
		cJSON *ips = cJSON_AddArrayToObject(o, "ips");
		cJSON *ip = cJSON_CreateString(host);
		if (!ips || !ip || !cJSON_AddItemToArray(ips, ip)) {
			cJSON_Delete(ip);
			return false;
		}
	}
	return true;
}

char *tuya_url_config_reply(const struct tuya_url_config_opts *o, char *err, size_t errlen)
{
	clear_err(err, errlen);
	if (!o || !host_ok(o->host)) {
		fail(err, errlen, "bad host");
		return NULL;
	}
	if (o->ttl < 0) {
		fail(err, errlen, "negative ttl");
		return NULL;
	}
	const char *h = o->host;
	const unsigned http = o->http_port ? o->http_port : 80, mqtt = o->mqtt_port ? o->mqtt_port : 1883;
	char a_http[300], a_mqtt[300], a_https[300], a_mqtts[300];
	if (http == 80)
		snprintf(a_http, sizeof a_http, "http://%s/d.json", h);
	else
		snprintf(a_http, sizeof a_http, "http://%s:%u/d.json", h, http);
	snprintf(a_mqtt, sizeof a_mqtt, "%s:%u", h, mqtt);
	if (o->https_psk_port == 443)
		snprintf(a_https, sizeof a_https, "https://%s/d.json", h);
	else
		snprintf(a_https, sizeof a_https, "https://%s:%u/d.json", h, (unsigned)o->https_psk_port);
	snprintf(a_mqtts, sizeof a_mqtts, "%s:%u", h, (unsigned)o->mqtts_psk_port);

	char *res = NULL;
	cJSON *root = cJSON_CreateObject();
	if (!root || !cJSON_AddNullToObject(root, "caArr") || !add_url(root, "httpUrl", a_http, h, o->legacy) ||
	    !add_url(root, "mqttUrl", a_mqtt, h, o->legacy) ||
	    (o->https_psk_port && !add_url(root, "httpsPSKUrl", a_https, h, o->legacy)) ||
	    (o->mqtts_psk_port && !add_url(root, "mqttsPSKUrl", a_mqtts, h, o->legacy)) ||
	    (!o->legacy && !add_int64_raw(root, "ttl", o->ttl ? o->ttl : 600)))
		goto out;
	res = print_json(root);
out:
	cJSON_Delete(root);
	if (!res)
		fail(err, errlen, "out of memory");
	return res;
}

/* ---- TLS-PSK ------------------------------------------------------------------------------------- */

void tuya_psk_id_mask_nul(uint8_t *buf, size_t len)
{
	for (size_t i = 0; buf && i < len; i++)
		if (buf[i] == 0)
			buf[i] = '?';
}

int tuya_psk_id_parse(const void *identity, size_t len, struct tuya_psk_id *out, char *err, size_t errlen)
{
	clear_err(err, errlen);
	if (!out)
		return fail(err, errlen, "no output");
	memset(out, 0, sizeof *out);
	if (!identity && len)
		return fail(err, errlen, "no input");
	if (len == 0)
		return fail(err, errlen, "empty identity");
	if (len > TUYA_PSK_ID_MAX)
		return fail(err, errlen, "identity too long (%zu > %d bytes)", len, TUYA_PSK_ID_MAX);
	const uint8_t *p = identity;
	if (p[0] == 1) {
		if (len != TUYA_PSK_ID_V1_LEN)
			return fail(err, errlen, "v1 identity length %zu (want %d)", len, TUYA_PSK_ID_V1_LEN);
		if (p[33] != '_')
			return fail(err, errlen, "v1 identity separator not '_'");
		out->version = 1;
		memcpy(out->head, p + 1, 16);
		memcpy(out->uuid_md5, p + 17, 16);
		memcpy(out->authkey_md5, p + 34, 16);
		out->esp_prefix = memcmp(out->head, TUYA_PSK_ID_ESP_PREFIX, 16) == 0;
		return 0;
	}
	if (p[0] == 2) {
		if (len != TUYA_PSK_ID_V2_LEN)
			return fail(err, errlen, "v2 identity length %zu (want %d)", len, TUYA_PSK_ID_V2_LEN);
		out->version = 2;
		memcpy(out->head, p + 1, 16);
		memcpy(out->uuid_sha256, p + 17, 32);
		return 0;
	}
	return fail(err, errlen, "unknown identity version 0x%02x", p[0]);
}

int tuya_psk_v1_derive(const void *identity, size_t len, const void *hint, size_t hintlen,
		       uint8_t psk[TUYA_PSK_LEN], char *err, size_t errlen)
{
	clear_err(err, errlen);
	if (!psk)
		return fail(err, errlen, "no output");
	memset(psk, 0, TUYA_PSK_LEN);
	if (!identity && len)
		return fail(err, errlen, "no input");
	if (len < 33)
		return fail(err, errlen, "identity too short for PSK v1 (%zu < 33 bytes)", len);
	if (len > TUYA_PSK_ID_MAX)
		return fail(err, errlen, "identity too long (%zu > %d bytes)", len, TUYA_PSK_ID_MAX);
	if (!hint) {
		hint = TUYA_PSK_HINT;
		hintlen = TUYA_PSK_HINT_LEN;
	}
	if (hintlen < 16)
		return fail(err, errlen, "hint shorter than 16 bytes");
	const uint8_t *id = (const uint8_t *)identity + 1;
	uint8_t key[16], iv[16];
	fc_md5((const uint8_t *)hint + hintlen - 16, 16, key);
	fc_md5(id, len - 1, iv);
	size_t n = 0;
	int rc = fc_aes_cbc_encrypt(key, 16, iv, FC_PAD_NONE, id, 32, psk, TUYA_PSK_LEN, &n);
	fc_wipe(key, sizeof key);
	if (rc != 0 || n != TUYA_PSK_LEN) {
		memset(psk, 0, TUYA_PSK_LEN);
		return fail(err, errlen, "PSK derivation failed");
	}
	return 0;
}

int tuya_psk_id_v1_matches(const struct tuya_psk_id *id, const char *uuid, const char *authkey)
{
	if (!id || id->version != 1 || !uuid)
		return 0;
	uint8_t d[16];
	fc_md5(uuid, strlen(uuid), d);
	tuya_psk_id_mask_nul(d, 16);
	if (!fc_ct_equal(d, id->uuid_md5, 16))
		return 0;
	if (authkey) {
		fc_md5(authkey, strlen(authkey), d);
		tuya_psk_id_mask_nul(d, 16);
		if (!fc_ct_equal(d, id->authkey_md5, 16))
			return 0;
	}
	return 1;
}

int tuya_psk_id_v2_matches(const struct tuya_psk_id *id, const char *uuid)
{
	if (!id || id->version != 2 || !uuid)
		return 0;
	uint8_t d[32];
	fc_sha256(uuid, strlen(uuid), d);
	tuya_psk_id_mask_nul(d, 32);
	return fc_ct_equal(d, id->uuid_sha256, 32);
}

static int psk_head(const uint8_t *head16, uint8_t *dst)
{
	if (head16) {
		memcpy(dst, head16, 16);
		return 0;
	}
	return fc_random(dst, 16) == 0 ? 0 : -1;
}

int tuya_psk_id_v1_build(const uint8_t *head16, const char *uuid, const char *authkey,
			 uint8_t out[TUYA_PSK_ID_V1_LEN])
{
	if (!out || !uuid || !authkey)
		return TUYA_EFORMAT;
	out[0] = 1;
	if (psk_head(head16, out + 1) != 0)
		return TUYA_EFORMAT;
	fc_md5(uuid, strlen(uuid), out + 17);
	out[33] = '_';
	fc_md5(authkey, strlen(authkey), out + 34);
	tuya_psk_id_mask_nul(out + 1, TUYA_PSK_ID_V1_LEN - 1);
	return 0;
}

int tuya_psk_id_v2_build(const uint8_t *head16, const char *uuid, uint8_t out[TUYA_PSK_ID_V2_LEN])
{
	if (!out || !uuid)
		return TUYA_EFORMAT;
	out[0] = 2;
	if (psk_head(head16, out + 1) != 0)
		return TUYA_EFORMAT;
	fc_sha256(uuid, strlen(uuid), out + 17);
	tuya_psk_id_mask_nul(out + 1, TUYA_PSK_ID_V2_LEN - 1);
	return 0;
}

/* ---- MQTT ---------------------------------------------------------------------------------------- */

int tuya_pv_parse(const char *s, enum tuya_pv *pv)
{
	if (!s || !pv)
		return -1;
	if (strcmp(s, "2.1") == 0)
		*pv = TUYA_PV_21;
	else if (strcmp(s, "2.2") == 0)
		*pv = TUYA_PV_22;
	else if (strcmp(s, "2.3") == 0)
		*pv = TUYA_PV_23;
	else
		return -1;
	return 0;
}

void tuya_mqtt_password(const char *seckey, size_t keylen, char out[17])
{
	char h[33];
	fc_md5_hex(seckey ? seckey : "", seckey ? keylen : 0, h);
	memcpy(out, h + 8, 16);
	out[16] = '\0';
}

/* sig16 of a 2.1 payload: md5hex("data=" + b64 + "||pv=2.1||" + key)[8:24]. */
static void pv21_sig(const char *b64, size_t bl, const char *key, size_t keylen, char out[17])
{
	const struct fc_part parts[] = {{"data=", 5}, {b64, bl}, {"||pv=2.1||", 10}, {key, keylen}};
	char h[33];
	fc_md5_parts_hex(parts, 4, h);
	memcpy(out, h + 8, 16);
	out[16] = '\0';
}

void tuya_mqtt_msg_free(struct tuya_mqtt_msg *m)
{
	if (!m)
		return;
	cJSON_Delete(m->root);
	wipe_free(m->json, m->json ? m->json_len + 1 : 0);
	m->root = m->data = NULL;
	m->json = NULL;
	m->json_len = 0;
}

static int mqtt_decrypt(const uint8_t *p, size_t len, const char *key, size_t keylen, unsigned flags,
			struct tuya_mqtt_msg *out, char **plain, size_t *plainlen, char *err, size_t errlen)
{
	if (memcmp(p, "2.1", 3) == 0) {
		out->pv = TUYA_PV_21;
		if (len < PV21_HDR_LEN + 4)
			return fail(err, errlen, "2.1 payload truncated (%zu bytes)", len);
		const char *b64 = (const char *)p + PV21_HDR_LEN;
		size_t bl = len - PV21_HDR_LEN;
		if (memchr(p, '\0', len))
			return fail(err, errlen, "NUL byte in 2.1 payload");
		char want[17], got[17];
		pv21_sig(b64, bl, key, keylen, want);
		for (size_t i = 0; i < 16; i++)
			got[i] = to_lower((char)p[3 + i]);
		got[16] = '\0';
		out->integrity_ok = want[0] && fc_ct_equal(want, got, 16);
		if (!out->integrity_ok && (flags & TUYA_MQTT_STRICT))
			return fail(err, errlen, "2.1 signature mismatch");
		size_t cap = bl / 4 * 3 + 3, rn = 0;
		uint8_t *raw = malloc(cap);
		if (!raw)
			return fail(err, errlen, "out of memory");
		if (fc_base64_decode(b64, bl, raw, cap, &rn) != 0) {
			free(raw);
			return fail(err, errlen, "2.1 body not base64");
		}
		int rc = decrypt_raw(raw, rn, TUYA_ET_ECB, key, "2.1", plain, plainlen, err, errlen);
		free(raw);
		return rc;
	}
	if (memcmp(p, "2.2", 3) == 0) {
		out->pv = TUYA_PV_22;
		if (len < PV22_HDR_LEN + 16)
			return fail(err, errlen, "2.2 payload truncated (%zu bytes)", len);
		if ((len - PV22_HDR_LEN) % 16)
			return fail(err, errlen, "2.2 ciphertext not a multiple of 16 (%zu bytes)", len - PV22_HDR_LEN);
		uint32_t crc = get_be32(p + 3);
		out->seq = get_be32(p + 7);
		out->source = get_be32(p + 11);
		out->integrity_ok = fc_crc32(p + 7, len - 7) == crc;
		if (!out->integrity_ok && (flags & TUYA_MQTT_STRICT))
			return fail(err, errlen, "2.2 CRC32 mismatch");
		return decrypt_raw(p + PV22_HDR_LEN, len - PV22_HDR_LEN, TUYA_ET_ECB, key, "2.2", plain, plainlen, err,
				   errlen);
	}
	if (memcmp(p, "2.3", 3) == 0) {
		out->pv = TUYA_PV_23;
		if (len < PV23_AAD_LEN + TUYA_GCM_NONCE_LEN + TUYA_GCM_TAG_LEN)
			return fail(err, errlen, "2.3 payload truncated (%zu bytes)", len);
		out->seq = get_be32(p + 3);
		out->source = get_be32(p + 7);
		if (p[11] != 0)
			return fail(err, errlen, "2.3 reserved byte not 0");
		out->integrity_ok = true;
		size_t m = len - PV23_AAD_LEN - TUYA_GCM_NONCE_LEN - TUYA_GCM_TAG_LEN;
		char *pl = malloc(m + 1);
		if (!pl)
			return fail(err, errlen, "out of memory");
		int rc = fc_aes_gcm_decrypt((const uint8_t *)key, TUYA_AES_KEY_LEN, p + PV23_AAD_LEN, TUYA_GCM_NONCE_LEN, p,
					    PV23_AAD_LEN, p + PV23_AAD_LEN + TUYA_GCM_NONCE_LEN, m, (uint8_t *)pl,
					    p + len - TUYA_GCM_TAG_LEN, TUYA_GCM_TAG_LEN);
		if (rc != 0) {
			wipe_free(pl, m + 1);
			if (rc == FC_CRYPTO_EAUTH)
				return fail_key(err, errlen, "2.3 GCM tag mismatch (wrong key?)");
			return fail(err, errlen, "2.3 decryption failed");
		}
		*plain = pl;
		*plainlen = m;
		return 0;
	}
	return fail(err, errlen, "unknown version prefix %02x%02x%02x", p[0], p[1], p[2]);
}

int tuya_mqtt_decode(const void *buf, size_t len, const char *key, size_t keylen, unsigned flags,
		     struct tuya_mqtt_msg *out, char *err, size_t errlen)
{
	clear_err(err, errlen);
	if (!out)
		return fail(err, errlen, "no output");
	memset(out, 0, sizeof *out);
	if (!buf && len)
		return fail(err, errlen, "no input");
	if (len > TUYA_MQTT_MAX)
		return fail(err, errlen, "payload too large (%zu > %d bytes)", len, TUYA_MQTT_MAX);
	if (len < PV_HDR_LEN)
		return fail(err, errlen, "payload shorter than version prefix (%zu bytes)", len);
	if (!key_ok(key, keylen))
		return fail(err, errlen, "key shorter than 16 bytes");

	char *plain = NULL;
	size_t pn = 0;
	int rc = mqtt_decrypt(buf, len, key, keylen, flags, out, &plain, &pn, err, errlen);
	if (rc != 0)
		goto bad;
	plain[pn] = '\0';
	cJSON *root = NULL;
	rc = parse_json_object(plain, pn, "payload", &root, err, errlen);
	if (rc != 0) {
		if (out->pv != TUYA_PV_23 && !looks_like_json(plain, pn))
			rc = fail_key(err, errlen, "decrypted %s payload is not JSON (wrong key?)",
				      out->pv == TUYA_PV_21 ? "2.1" : "2.2");
		goto bad;
	}
	out->json = plain;
	out->json_len = pn;
	out->root = root;
	plain = NULL;

	int64_t v = 0;
	int r = get_int(root, "protocol", true, 0, INT_MAX, &v, err, errlen);
	if (r == 0)
		rc = fail(err, errlen, "protocol missing");
	if (r <= 0)
		goto bad_parsed;
	out->protocol = (int)v;
	out->data = cJSON_GetObjectItemCaseSensitive(root, "data");
	if (!out->data) {
		rc = fail(err, errlen, "data missing");
		goto bad_parsed;
	}
	r = get_int(root, "t", true, 0, INT_EXACT_MAX, &v, err, errlen);
	if (r < 0)
		goto bad_parsed;
	out->has_t = r == 1;
	out->t = r == 1 ? v : 0;
	r = get_int(root, "s", true, -INT_EXACT_MAX, INT_EXACT_MAX, &v, err, errlen);
	if (r < 0)
		goto bad_parsed;
	out->has_s = r == 1;
	out->s = r == 1 ? v : 0;
	return 0;

bad_parsed:
	rc = TUYA_EFORMAT;
bad:
	if (plain)
		wipe_free(plain, pn + 1);
	tuya_mqtt_msg_free(out);
	memset(out, 0, sizeof *out);
	return rc;
}

int tuya_mqtt_encode_json(const struct tuya_mqtt_out *o, const char *json, size_t len, const char *key,
			  size_t keylen, uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	clear_err(err, errlen);
	if (!out || !outlen)
		return fail(err, errlen, "no output");
	*out = NULL;
	*outlen = 0;
	if (!o)
		return fail(err, errlen, "no options");
	if (check_plain(json, len, err, errlen) != 0)
		return TUYA_EFORMAT;
	if (!key_ok(key, keylen))
		return fail(err, errlen, "key shorter than 16 bytes");

	if (o->pv == TUYA_PV_21 || o->pv == TUYA_PV_22) {
		uint8_t *ct = NULL;
		size_t cn = 0;
		if (encrypt_raw(json, len, TUYA_ET_ECB, key, NULL, &ct, &cn, err, errlen) != 0)
			return TUYA_EFORMAT;
		uint8_t *res = NULL;
		size_t rn = 0;
		if (o->pv == TUYA_PV_22) {
			rn = PV22_HDR_LEN + cn;
			res = malloc(rn);
			if (res) {
				memcpy(res, "2.2", 3);
				put_be32(res + 7, o->seq);
				put_be32(res + 11, o->source);
				memcpy(res + PV22_HDR_LEN, ct, cn);
				put_be32(res + 3, fc_crc32(res + 7, rn - 7));
			}
		} else {
			size_t bcap = 4 * ((cn + 2) / 3) + 1, bn = 0;
			res = malloc(PV21_HDR_LEN + bcap);
			if (res && fc_base64_encode(ct, cn, (char *)res + PV21_HDR_LEN, bcap, &bn) == 0) {
				memcpy(res, "2.1", 3);
				char sig[17];
				pv21_sig((const char *)res + PV21_HDR_LEN, bn, key, keylen, sig);
				memcpy(res + 3, sig, 16);
				rn = PV21_HDR_LEN + bn;
			} else {
				free(res);
				res = NULL;
			}
		}
		free(ct);
		if (!res)
			return fail(err, errlen, "out of memory");
		*out = res;
		*outlen = rn;
		return 0;
	}
	if (o->pv == TUYA_PV_23) {
		size_t rn = PV23_AAD_LEN + TUYA_GCM_NONCE_LEN + len + TUYA_GCM_TAG_LEN;
		uint8_t *res = malloc(rn);
		if (!res)
			return fail(err, errlen, "out of memory");
		memcpy(res, "2.3", 3);
		put_be32(res + 3, o->seq);
		put_be32(res + 7, o->source);
		res[11] = 0;
		uint8_t *nonce = res + PV23_AAD_LEN;
		if (o->nonce)
			memcpy(nonce, o->nonce, TUYA_GCM_NONCE_LEN);
		else if (fc_random(nonce, TUYA_GCM_NONCE_LEN) != 0) {
			free(res);
			return fail(err, errlen, "no randomness");
		}
		uint8_t *ct = nonce + TUYA_GCM_NONCE_LEN;
		if (fc_aes_gcm_encrypt((const uint8_t *)key, TUYA_AES_KEY_LEN, nonce, TUYA_GCM_NONCE_LEN, res, PV23_AAD_LEN,
				       (const uint8_t *)json, len, ct, ct + len, TUYA_GCM_TAG_LEN) != 0) {
			free(res);
			return fail(err, errlen, "encryption failed");
		}
		*out = res;
		*outlen = rn;
		return 0;
	}
	return fail(err, errlen, "unsupported protocol version %d", (int)o->pv);
}

int tuya_mqtt_encode(const struct tuya_mqtt_out *o, int protocol, const cJSON *data, int64_t t, const char *key,
		     size_t keylen, uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	clear_err(err, errlen);
	if (out)
		*out = NULL;
	if (outlen)
		*outlen = 0;
	if (!o || !out || !outlen)
		return fail(err, errlen, "no output");
	if (o->pv != TUYA_PV_21 && o->pv != TUYA_PV_22 && o->pv != TUYA_PV_23)
		return fail(err, errlen, "unsupported protocol version %d", (int)o->pv);
	if (protocol < 0)
		return fail(err, errlen, "negative protocol");
	if (t < 0 || (double)t > INT_EXACT_MAX)
		return fail(err, errlen, "t out of range");
	cJSON *root = cJSON_CreateObject();
	cJSON *d = data ? cJSON_Duplicate(data, 1) : cJSON_CreateObject();
	int rc = fail(err, errlen, "out of memory");
	if (!root || !d)
		goto out;
	bool ok;
	if (o->pv == TUYA_PV_21) {
		ok = cJSON_AddItemToObject(root, "data", d);
		if (ok)
			d = NULL;
		ok = ok && add_int64_raw(root, "protocol", protocol) && add_int64_raw(root, "s", o->seq) &&
		     add_int64_raw(root, "t", t);
	} else {
		ok = add_int64_raw(root, "protocol", protocol) && add_int64_raw(root, "t", t) &&
		     cJSON_AddItemToObject(root, "data", d);
		if (ok)
			d = NULL;
	}
	if (!ok)
		goto out;
	char *json = print_json(root);
	if (!json)
		goto out;
	clear_err(err, errlen);
	rc = tuya_mqtt_encode_json(o, json, strlen(json), key, keylen, out, outlen, err, errlen);
	wipe_free(json, strlen(json));
out:
	cJSON_Delete(d);
	cJSON_Delete(root);
	return rc;
}

int tuya_mqtt_encode_dp_cmd(const struct tuya_mqtt_out *o, const char *dev_id, const cJSON *dps, int64_t t,
			    const char *key, size_t keylen, uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	clear_err(err, errlen);
	if (out)
		*out = NULL;
	if (outlen)
		*outlen = 0;
	if (!dev_id || !*dev_id)
		return fail(err, errlen, "devId missing");
	if (!cJSON_IsObject(dps))
		return fail(err, errlen, "dps not an object");
	cJSON *data = cJSON_CreateObject();
	cJSON *copy = cJSON_Duplicate(dps, 1);
	int rc = fail(err, errlen, "out of memory");
	if (data && copy && cJSON_AddStringToObject(data, "devId", dev_id) && cJSON_AddItemToObject(data, "dps", copy)) {
		copy = NULL;
		rc = tuya_mqtt_encode(o, TUYA_PROTO_DP_CMD, data, t, key, keylen, out, outlen, err, errlen);
	}
	cJSON_Delete(copy);
	cJSON_Delete(data);
	return rc;
}
