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

/* ---- the strict scanner: /raw text without re-serialising, header without a tree ------------------ */

/* A strict, bounded JSON scanner over [p, end): it never reads outside the buffer, recurses at most
 * SCAN_DEPTH levels and fails (false) on anything outside RFC 8259 or outside what it can vouch for
 * (see meross_msg_unsigned_text in codec.h). The root object and the first "header" in it are scanned
 * with their keys looked at: the first "header" and "payload" of the root, and the first member of
 * each header field meross_msg_parse reads, are recorded; everything else is only checked and
 * skipped. Whatever it records is what cJSON's first-match, case-sensitive lookups would find, because
 * keys with escapes at those two levels make it give up. */
#define SCAN_DEPTH 64

enum scan_field { F_MESSAGE_ID, F_NAMESPACE, F_METHOD, F_SIGN, F_FROM, F_TRIGGER_SRC, F_UUID, F_TIMESTAMP,
		  F_TIMESTAMP_MS, F_PAYLOAD_VERSION, N_FIELDS };
static const struct {
	const char *name;
	size_t len;
} scan_fields[N_FIELDS] = {
#define SF(s) {s, sizeof s - 1}
	SF("messageId"), SF("namespace"), SF("method"), SF("sign"), SF("from"), SF("triggerSrc"), SF("uuid"),
	SF("timestamp"), SF("timestampMs"), SF("payloadVersion"),
#undef SF
};

enum scan_kind { K_NONE, K_STRING, K_NUMBER, K_LITERAL, K_OBJECT, K_ARRAY };

struct span {
	const unsigned char *p, *end; /* the value's bytes (a string with its quotes) */
	enum scan_kind kind;
	bool escaped; /* a string with a backslash escape */
	bool integer; /* a number without fraction or exponent */
};

struct scan {
	const unsigned char *p, *end;
	/* what the last scan_value saw (for the member it was called for) */
	enum scan_kind kind;
	bool escaped, integer;
	struct span header, payload, field[N_FIELDS];
	/* the first "sign" member of the header */
	const unsigned char *sign_key;   /* its opening quote */
	const unsigned char *sign_comma; /* the comma before it (NULL: first member) */
	const unsigned char *sign_next;  /* opening quote of the member after it (NULL: last member) */
	const unsigned char *start, *stop; /* the root object */
};

enum scan_role { SCAN_VALUE, SCAN_ROOT, SCAN_HEADER };

/* Called between all tokens, nearly always with nothing to skip (devices send compact JSON): inlined. */
static inline __attribute__((always_inline)) void scan_ws(struct scan *s)
{
	while (s->p < s->end && *s->p <= ' ' && json_ws(*s->p))
		s->p++;
}

/* The 4 hex digits at q as a number, or -1. */
static long scan_hex4(const unsigned char *q)
{
	long v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned char c = q[i];
		if (!is_hex((char)c))
			return -1;
		v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

/* At the opening quote; s->escaped tells whether the string had a backslash escape. */
static bool scan_string(struct scan *s)
{
	bool escaped = false;
	const unsigned char *p = s->p + 1, *end = s->end;
	for (;;) {
		/* 8 bytes at a time while none of them is '"', '\\' or below 0x20 (SWAR: a byte b of v is
		 * flagged when b == '"', b == '\\' or b < 0x20, with no false negatives) */
		while (end - p >= 8) {
			uint64_t v;
			memcpy(&v, p, 8);
			const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
			uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
			uint64_t hit = ((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v);
			if (hit & highs)
				break;
			p += 8;
		}
		while (p < end && *p != '"' && *p != '\\' && *p >= 0x20)
			p++;
		if (p >= end || *p < 0x20) /* unterminated, or a raw control byte (cJSON takes it, JSON does not) */
			return false;
		if (*p == '"')
			break;
		escaped = true;
		if (end - p < 2)
			return false;
		switch (p[1]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
			p += 2;
			break;
		case 'u': {
			/* As cJSON decodes it: a low surrogate alone fails, a high one needs a low one after it.
			 * An escaped NUL would end a cJSON string early (the tree path prints it cut there). */
			long c = end - p >= 6 ? scan_hex4(p + 2) : -1;
			if (c <= 0 || (c >= 0xDC00 && c <= 0xDFFF))
				return false;
			if (c >= 0xD800 && c <= 0xDBFF) {
				long d = end - p >= 12 && p[6] == '\\' && p[7] == 'u' ? scan_hex4(p + 8) : -1;
				if (d < 0xDC00 || d > 0xDFFF)
					return false;
				p += 6;
			}
			p += 6;
			break;
		}
		default:
			return false;
		}
	}
	s->p = p + 1;
	s->escaped = escaped;
	s->kind = K_STRING;
	return true;
}

static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? that cJSON reads whole (it copies at most 63 bytes of a
 * number) and finite: an exponent large enough to overflow a double gives up (cJSON would hold inf,
 * printed as null on the tree path). */
static bool scan_number(struct scan *s)
{
	const unsigned char *p = s->p, *end = s->end, *start = p;
	bool integer = true;
	if (p < end && *p == '-')
		p++;
	if (p >= end || !is_digit(*p))
		return false;
	long mag = 0; /* digits before the point */
	if (*p == '0') {
		p++;
	} else {
		while (p < end && is_digit(*p)) {
			p++;
			mag++;
		}
	}
	if (p < end && *p == '.') {
		integer = false;
		p++;
		if (p >= end || !is_digit(*p))
			return false;
		while (p < end && is_digit(*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		integer = false;
		p++;
		bool neg = false;
		if (p < end && (*p == '+' || *p == '-'))
			neg = *p++ == '-';
		if (p >= end || !is_digit(*p))
			return false;
		long e = 0;
		while (p < end && is_digit(*p)) {
			if (e < 100000)
				e = e * 10 + (*p - '0');
			p++;
		}
		if (!neg && e + mag > 300) /* < 10^301: far from DBL_MAX (1.8e308); larger are left to the tree */
			return false;
	}
	if (p - start > 63)
		return false;
	s->p = p;
	s->kind = K_NUMBER;
	s->integer = integer;
	return true;
}

static bool scan_literal(struct scan *s, const char *lit, size_t n)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
		return false;
	s->p += n;
	s->kind = K_LITERAL;
	return true;
}

static bool scan_value(struct scan *s, int depth, enum scan_role role);

/* Length and first byte first: at most one memcmp per key. */
static inline bool key_is(const unsigned char *quote, const unsigned char *after, const char *name, size_t n)
{
	return (size_t)(after - quote) == n + 2 && quote[1] == (unsigned char)name[0] &&
	       memcmp(quote + 1, name, n) == 0;
}

/* The first occurrence of a member is the one cJSON finds: record the value just scanned. */
static void scan_record(const struct scan *s, struct span *sp, const unsigned char *value)
{
	if (sp->kind != K_NONE)
		return;
	sp->p = value;
	sp->end = s->p;
	sp->kind = s->kind;
	sp->escaped = s->escaped;
	sp->integer = s->integer;
}

/* At '{'. Root: records the first "header" (scanned as SCAN_HEADER) and "payload"; header: records the
 * fields meross_msg_parse reads and the span of the first "sign" member. */
static bool scan_object(struct scan *s, int depth, enum scan_role role)
{
	s->p++;
	scan_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		s->kind = K_OBJECT;
		return true;
	}
	const unsigned char *comma = NULL;
	bool just_signed = false;
	for (;;) {
		if (s->p >= s->end || *s->p != '"')
			return false;
		const unsigned char *key = s->p;
		if (!scan_string(s))
			return false;
		if (s->escaped && role != SCAN_VALUE) /* an escaped "sign" is "sign" to cJSON: not worth decoding */
			return false;
		const unsigned char *key_end = s->p;
		if (just_signed) {
			s->sign_next = key;
			just_signed = false;
		}
		scan_ws(s);
		if (s->p >= s->end || *s->p != ':')
			return false;
		s->p++;
		scan_ws(s);
		const unsigned char *value = s->p;
		if (role == SCAN_ROOT) {
			bool is_header = s->header.kind == K_NONE && key_is(key, key_end, "header", 6);
			if (!scan_value(s, depth + 1, is_header ? SCAN_HEADER : SCAN_VALUE))
				return false;
			if (is_header)
				scan_record(s, &s->header, value);
			else if (key_is(key, key_end, "payload", 7))
				scan_record(s, &s->payload, value);
		} else {
			if (!scan_value(s, depth + 1, SCAN_VALUE))
				return false;
			if (role == SCAN_HEADER) {
				for (int f = 0; f < N_FIELDS; f++) {
					if (!key_is(key, key_end, scan_fields[f].name, scan_fields[f].len))
						continue;
					if (f == F_SIGN && s->field[f].kind == K_NONE) {
						s->sign_key = key;
						s->sign_comma = comma;
						just_signed = true;
					}
					scan_record(s, &s->field[f], value);
					break;
				}
			}
		}
		scan_ws(s);
		if (s->p >= s->end)
			return false;
		if (*s->p == '}') {
			s->p++;
			s->kind = K_OBJECT;
			return true;
		}
		if (*s->p != ',')
			return false;
		comma = s->p++;
		scan_ws(s);
	}
}

static bool scan_array(struct scan *s, int depth)
{
	s->p++;
	scan_ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		s->kind = K_ARRAY;
		return true;
	}
	for (;;) {
		if (!scan_value(s, depth + 1, SCAN_VALUE))
			return false;
		scan_ws(s);
		if (s->p >= s->end)
			return false;
		if (*s->p == ']') {
			s->p++;
			s->kind = K_ARRAY;
			return true;
		}
		if (*s->p != ',')
			return false;
		s->p++;
		scan_ws(s);
	}
}

static bool scan_value(struct scan *s, int depth, enum scan_role role)
{
	if (depth > SCAN_DEPTH || s->p >= s->end)
		return false;
	switch (*s->p) {
	case '{': return scan_object(s, depth, role);
	case '[': return scan_array(s, depth);
	case '"': return scan_string(s);
	case 't': return scan_literal(s, "true", 4);
	case 'f': return scan_literal(s, "false", 5);
	case 'n': return scan_literal(s, "null", 4);
	default: return scan_number(s);
	}
}

/* The whole message: one object, JSON whitespace around it. */
static bool scan_message(struct scan *s, const void *buf, size_t len)
{
	memset(s, 0, sizeof *s);
	s->p = buf;
	s->end = s->p + len;
	scan_ws(s);
	s->start = s->p;
	if (s->p >= s->end || *s->p != '{' || !scan_value(s, 0, SCAN_ROOT))
		return false;
	s->stop = s->p;
	scan_ws(s);
	return s->p == s->end;
}

/* Where the sign member and one comma go (see meross_msg_unsigned_text): the member with the comma
 * after it (up to the next key), or, when it is the last member, with the comma before it; the only
 * member leaves "{}". false when there is no sign member. */
static bool scan_cut(const struct scan *s, const unsigned char **from, const unsigned char **to)
{
	if (!s->sign_key)
		return false;
	*from = s->sign_key;
	*to = s->field[F_SIGN].end;
	if (s->sign_next)
		*to = s->sign_next;
	else if (s->sign_comma)
		*from = s->sign_comma;
	return true;
}

static size_t splice(const char *start, size_t a, const char *rest, size_t b, char *out, size_t cap)
{
	if (a + b > cap || a + b == 0)
		return 0;
	memcpy(out, start, a);
	memcpy(out + a, rest, b);
	return a + b;
}

size_t meross_msg_unsigned_text(const void *buf, size_t len, char *out, size_t cap)
{
	struct scan s;
	const unsigned char *from, *to;
	if (!buf || !out || len > MEROSS_MAX_MESSAGE || !scan_message(&s, buf, len) || s.header.kind != K_OBJECT ||
	    !scan_cut(&s, &from, &to))
		return 0;
	return splice((const char *)s.start, (size_t)(from - s.start), (const char *)to, (size_t)(s.stop - to), out,
		      cap);
}

size_t meross_msg_raw_text(const struct meross_msg *m, const void *buf, size_t len, char *out, size_t cap)
{
	if (!m || !buf || !out)
		return 0;
	const struct meross_raw_cut *r = &m->raw_cut;
	if (r->stop && r->stop <= len && r->cut_to <= r->stop && r->start <= r->cut_from && r->cut_from <= r->cut_to)
		return splice((const char *)buf + r->start, r->cut_from - r->start, (const char *)buf + r->cut_to,
			      r->stop - r->cut_to, out, cap);
	return meross_msg_unsigned_text(buf, len, out, cap);
}

/* The fast path of meross_msg_parse: the header's fields straight from the scanned bytes, a cJSON tree
 * only for the payload. It takes only what it can read exactly as the tree path would (strings without
 * escapes, integers of at most 16 digits) and returns false on anything else, including every error:
 * the tree path then decides, with its own error messages. */
static bool fast_str(const struct span *sp, bool required, size_t minlen, char *dst, size_t cap, bool *had)
{
	dst[0] = '\0';
	if (sp->kind == K_NONE)
		return !required;
	if (sp->kind != K_STRING || sp->escaped)
		return false;
	size_t n = (size_t)(sp->end - sp->p) - 2;
	if (n >= cap || n < minlen)
		return false;
	memcpy(dst, sp->p + 1, n);
	dst[n] = '\0';
	if (had)
		*had = true;
	return true;
}

/* -1 absent (and allowed), 0 bad, 1 read into *out. */
static int fast_int(const struct span *sp, bool required, int64_t max, int64_t *out)
{
	if (sp->kind == K_NONE)
		return required ? 0 : -1;
	if (sp->kind != K_NUMBER || !sp->integer)
		return 0;
	const unsigned char *p = sp->p;
	if (*p == '-') /* "-0" is 0 to strtod as to us; anything else negative is out of range */
		p++;
	if (sp->end - p > 16) /* <= 16 digits: exact below 2^53, and no overflow here */
		return 0;
	int64_t v = 0;
	for (; p < sp->end; p++)
		v = v * 10 + (*p - '0');
	if (v > max || (v != 0 && *sp->p == '-'))
		return 0;
	*out = v;
	return 1;
}

static bool fast_parse(const void *buf, size_t len, struct meross_msg *out)
{
	struct scan s;
	if (!scan_message(&s, buf, len) || s.header.kind != K_OBJECT || s.payload.kind != K_OBJECT)
		return false;
	const struct span *f = s.field;
	int64_t ts = 0, ms = -1, pv = -1;
	if (!fast_str(&f[F_MESSAGE_ID], true, 0, out->message_id, sizeof out->message_id, NULL) ||
	    !fast_str(&f[F_NAMESPACE], true, 1, out->namespace_, sizeof out->namespace_, NULL) ||
	    !fast_str(&f[F_METHOD], true, 1, out->method, sizeof out->method, NULL) ||
	    !fast_str(&f[F_SIGN], true, 0, out->sign, sizeof out->sign, NULL) ||
	    !fast_str(&f[F_FROM], false, 0, out->from, sizeof out->from, &out->has_from) ||
	    !fast_str(&f[F_TRIGGER_SRC], false, 0, out->trigger_src, sizeof out->trigger_src, &out->has_trigger_src) ||
	    !fast_str(&f[F_UUID], false, 0, out->uuid, sizeof out->uuid, NULL) ||
	    fast_int(&f[F_TIMESTAMP], true, (int64_t)TIMESTAMP_MAX, &ts) <= 0 ||
	    fast_int(&f[F_TIMESTAMP_MS], false, 999, &ms) == 0 ||
	    fast_int(&f[F_PAYLOAD_VERSION], false, INT_MAX, &pv) == 0)
		return false;
	const char *pl = (const char *)s.payload.p, *pend = NULL;
	cJSON *payload = cJSON_ParseWithLengthOpts(pl, (size_t)(s.payload.end - s.payload.p), &pend, 0);
	if (!cJSON_IsObject(payload) || pend != (const char *)s.payload.end) { /* cannot happen: it scanned */
		cJSON_Delete(payload);
		return false;
	}
	out->timestamp = ts;
	out->timestamp_ms = ms;
	out->payload_version = (int)pv;
	out->header = NULL;
	out->payload = out->root = payload;
	const unsigned char *from, *to, *base = buf;
	if (scan_cut(&s, &from, &to)) {
		out->raw_cut.start = (size_t)(s.start - base);
		out->raw_cut.cut_from = (size_t)(from - base);
		out->raw_cut.cut_to = (size_t)(to - base);
		out->raw_cut.stop = (size_t)(s.stop - base);
	}
	return true;
}

static int parse(const void *buf, size_t len, struct meross_msg *out, char *err, size_t errlen, bool fast)
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
	if (fast && fast_parse(buf, len, out))
		return 0;
	memset(out, 0, sizeof *out); /* the full tree decides, errors included */
	out->timestamp_ms = -1;
	out->payload_version = -1;

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
	int r;
	if (get_str(header, "messageId", true, 0, out->message_id, sizeof out->message_id, err, errlen) < 0 ||
	    get_str(header, "namespace", true, 1, out->namespace_, sizeof out->namespace_, err, errlen) < 0 ||
	    get_str(header, "method", true, 1, out->method, sizeof out->method, err, errlen) < 0 ||
	    get_str(header, "sign", true, 0, out->sign, sizeof out->sign, err, errlen) < 0 ||
	    (r = get_str(header, "from", false, 0, out->from, sizeof out->from, err, errlen)) < 0)
		goto bad;
	out->has_from = r > 0;
	if ((r = get_str(header, "triggerSrc", false, 0, out->trigger_src, sizeof out->trigger_src, err, errlen)) < 0)
		goto bad;
	out->has_trigger_src = r > 0;
	if (get_str(header, "uuid", false, 0, out->uuid, sizeof out->uuid, err, errlen) < 0)
		goto bad;
	if (get_int(header, "timestamp", true, 0, TIMESTAMP_MAX, &v, err, errlen) < 0)
		goto bad;
	out->timestamp = v;
	r = get_int(header, "timestampMs", false, 0, 999, &v, err, errlen);
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

int meross_msg_parse(const void *buf, size_t len, struct meross_msg *out, char *err, size_t errlen)
{
	return parse(buf, len, out, err, errlen, true);
}

int meross_msg_parse_tree(const void *buf, size_t len, struct meross_msg *out, char *err, size_t errlen)
{
	return parse(buf, len, out, err, errlen, false);
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
	if (!req || !req->payload)
		return NULL;
	if ((method && (!fits(method, CAP(method)) || !method[0])) ||
	    (trigger_src && !fits(trigger_src, CAP(trigger_src))) || (from && !fits(from, CAP(from))))
		return NULL;
	/* Optional request fields are echoed only when the request had them. */
	const bool had_from = req->has_from, had_trigger = req->has_trigger_src;
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
