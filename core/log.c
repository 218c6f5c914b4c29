/* Logging with redaction of registered secrets (see log.h).
 *
 * Redaction rules, applied to every formatted line before it reaches the sink:
 *  - A registered value made only of token characters [A-Za-z0-9+/=_-] (the usual shape of keys, tokens
 *    and base64) is replaced when it is a whole token, or a whole piece of a token delimited by the
 *    token's own punctuation (+ / = _ -), so that "key=SECRET", "/devices/SECRET/x" and "SECRET==" are
 *    caught too. It is not replaced inside a longer run of letters and digits ("xSECRET", "SECRETx").
 *  - A registered value containing other characters (a password with '!' or a space, a JWT with '.')
 *    can never be a whole token; it is replaced wherever it occurs as a substring.
 * Each match becomes "***". Redaction only ever shortens a line, so it is done in place.
 *
 * Lines are formatted in full (up to FORMAT_MAX), redacted, then cut to LINE_MAX bytes: a secret that
 * straddles the cut is therefore still recognised. A format result longer than FORMAT_MAX loses its
 * trailing partial token before redaction, for the same reason. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem (the build defines it; hand builds may not) */
#endif
#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uthash.h>

#define LINE_MAX_BYTES 2048       /* a delivered line, including its NUL */
#define FORMAT_STACK 4096         /* first formatting attempt, on the stack */
#define FORMAT_MAX (16 * 1024)    /* longer format results are cut before redaction */
#define SECRET_MIN 8              /* shorter values are not registered (log.h) */
#define TOKEN_SECRET_MAX 512      /* longer token-shaped values are matched as substrings instead */
#define REDACTED "***"

/* ---- level and sink ---- */

static atomic_int min_level = FC_LOG_INFO;
static pthread_mutex_t sink_mu = PTHREAD_MUTEX_INITIALIZER;
static fc_log_sink_fn sink_fn;
static void *sink_ctx;
/* Set while this thread is inside the sink: a sink that logs gets the default sink (no deadlock). */
static _Thread_local bool in_sink;

static const char *level_upper(enum fc_log_level level)
{
	switch (level) {
	case FC_LOG_DEBUG: return "DEBUG";
	case FC_LOG_INFO: return "INFO";
	case FC_LOG_WARN: return "WARN";
	case FC_LOG_ERROR: return "ERROR";
	}
	return "LOG";
}

static void default_sink(enum fc_log_level level, const char *line)
{
	/* One fprintf call: stdio locks the stream for its duration, so lines from threads do not mix. */
	fprintf(stderr, "fakecloud: %s: %s\n", level_upper(level), line);
}

void fc_log_set_sink(fc_log_sink_fn fn, void *ctx)
{
	pthread_mutex_lock(&sink_mu);
	sink_fn = fn;
	sink_ctx = fn ? ctx : NULL;
	pthread_mutex_unlock(&sink_mu);
}

void fc_log_set_level(enum fc_log_level min) { atomic_store_explicit(&min_level, (int)min, memory_order_relaxed); }

enum fc_log_level fc_log_get_level(void)
{
	return (enum fc_log_level)atomic_load_explicit(&min_level, memory_order_relaxed);
}

int fc_log_level_parse(const char *s, enum fc_log_level *out)
{
	static const struct {
		const char *name;
		enum fc_log_level level;
	} names[] = {{"debug", FC_LOG_DEBUG}, {"info", FC_LOG_INFO},   {"warn", FC_LOG_WARN},
		     {"warning", FC_LOG_WARN}, {"error", FC_LOG_ERROR}};
	if (!s)
		return -1;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			if (out)
				*out = names[i].level;
			return 0;
		}
	}
	return -1;
}

const char *fc_log_level_name(enum fc_log_level level)
{
	switch (level) {
	case FC_LOG_DEBUG: return "debug";
	case FC_LOG_INFO: return "info";
	case FC_LOG_WARN: return "warn";
	case FC_LOG_ERROR: return "error";
	}
	return "unknown";
}

/* ---- secret registry ---- */

struct secret {
	UT_hash_handle hh;
	size_t len;
	char v[]; /* len bytes, not NUL-terminated */
};

static pthread_rwlock_t reg_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct secret *tok_set;  /* token-shaped values, len <= TOKEN_SECRET_MAX */
static struct secret *sub_set;  /* everything else: matched as substrings */
static unsigned tok_len_count[TOKEN_SECRET_MAX + 1]; /* how many token values have each length */
static size_t tok_max_len;

static bool is_tok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
	       c == '/' || c == '=' || c == '_' || c == '-';
}

/* Token characters that are not letters or digits: they delimit pieces of a token. */
static bool is_tok_punct(unsigned char c) { return c == '+' || c == '/' || c == '=' || c == '_' || c == '-'; }

static bool all_tok(const char *v, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!is_tok((unsigned char)v[i]))
			return false;
	return true;
}

/* Values that can never appear intact in a formatted line are not worth a registry slot. */
static bool registrable(const char *value, size_t len)
{
	return value && len >= SECRET_MIN && len <= FORMAT_MAX && !memchr(value, '\0', len);
}

void fc_log_register_secret(const char *value, size_t len)
{
	if (!registrable(value, len))
		return;
	bool tok = len <= TOKEN_SECRET_MAX && all_tok(value, len);
	struct secret *e;
	pthread_rwlock_wrlock(&reg_lock);
	if (tok)
		HASH_FIND(hh, tok_set, value, len, e);
	else
		HASH_FIND(hh, sub_set, value, len, e);
	if (!e && (e = malloc(sizeof *e + len)) != NULL) {
		e->len = len;
		memcpy(e->v, value, len);
		if (tok) {
			HASH_ADD_KEYPTR(hh, tok_set, e->v, e->len, e);
			tok_len_count[len]++;
			if (len > tok_max_len)
				tok_max_len = len;
		} else {
			HASH_ADD_KEYPTR(hh, sub_set, e->v, e->len, e);
		}
	}
	pthread_rwlock_unlock(&reg_lock);
}

/* Caller holds the write lock. */
static void tok_len_drop(size_t len)
{
	tok_len_count[len]--;
	while (tok_max_len > 0 && tok_len_count[tok_max_len] == 0)
		tok_max_len--;
}

void fc_log_unregister_secret(const char *value, size_t len)
{
	if (!registrable(value, len))
		return;
	struct secret *e;
	pthread_rwlock_wrlock(&reg_lock);
	HASH_FIND(hh, tok_set, value, len, e);
	if (e) {
		HASH_DEL(tok_set, e);
		tok_len_drop(e->len);
		free(e);
	}
	HASH_FIND(hh, sub_set, value, len, e);
	if (e) {
		HASH_DEL(sub_set, e);
		free(e);
	}
	pthread_rwlock_unlock(&reg_lock);
}

void fc_log_clear_secrets(void)
{
	struct secret *e, *tmp;
	pthread_rwlock_wrlock(&reg_lock);
	HASH_ITER(hh, tok_set, e, tmp) {
		HASH_DEL(tok_set, e);
		free(e);
	}
	HASH_ITER(hh, sub_set, e, tmp) {
		HASH_DEL(sub_set, e);
		free(e);
	}
	memset(tok_len_count, 0, sizeof tok_len_count);
	tok_max_len = 0;
	pthread_rwlock_unlock(&reg_lock);
}

/* ---- redaction (caller holds the read lock) ---- */

/* Replace every occurrence of substring-matched values. Returns the new length. */
static size_t redact_substrings(char *line, size_t len, int *count)
{
	struct secret *e, *tmp;
	HASH_ITER(hh, sub_set, e, tmp) {
		size_t from = 0;
		while (from < len && len - from >= e->len) {
			char *hit = memmem(line + from, len - from, e->v, e->len);
			if (!hit)
				break;
			size_t at = (size_t)(hit - line);
			memcpy(line + at, REDACTED, 3);
			memmove(line + at + 3, line + at + e->len, len - at - e->len);
			len -= e->len - 3;
			from = at + 3;
			(*count)++;
		}
	}
	return len;
}

/* A piece boundary inside token [ts, te): its ends, and either side of a punctuation character. */
static bool piece_boundary(const char *line, size_t ts, size_t te, size_t p)
{
	return p == ts || p == te || is_tok_punct((unsigned char)line[p - 1]) ||
	       is_tok_punct((unsigned char)line[p]);
}

static bool tok_registered(const char *s, size_t n)
{
	if (n > tok_max_len || tok_len_count[n] == 0)
		return false;
	struct secret *e;
	HASH_FIND(hh, tok_set, s, n, e);
	return e != NULL;
}

/* Copy token line[ts, te) to line + w with registered pieces replaced; returns the new write position.
 * In place is safe: every write lands below w + (s - cursor) <= s, and every later read is at or after
 * the current match end (> s + 3), so nothing is read after it was overwritten. */
static size_t redact_token(char *line, size_t ts, size_t te, size_t w, int *count)
{
	size_t cursor = ts; /* first byte of the token not yet copied */
	if (te - ts >= SECRET_MIN) {
		for (size_t s = ts; s + SECRET_MIN <= te; s++) {
			if (s < cursor || !piece_boundary(line, ts, te, s))
				continue;
			/* Longest match first, so that "SECRET==" wins over a registered "SECRET". */
			size_t hi = te - s < tok_max_len ? te : s + tok_max_len;
			for (size_t e = hi; e >= s + SECRET_MIN; e--) {
				if (!piece_boundary(line, ts, te, e) || !tok_registered(line + s, e - s))
					continue;
				memmove(line + w, line + cursor, s - cursor);
				w += s - cursor;
				memcpy(line + w, REDACTED, 3);
				w += 3;
				cursor = e;
				(*count)++;
				break;
			}
		}
	}
	memmove(line + w, line + cursor, te - cursor);
	return w + (te - cursor);
}

static size_t redact_tokens(char *line, size_t len, int *count)
{
	size_t r = 0, w = 0;
	while (r < len) {
		if (!is_tok((unsigned char)line[r])) {
			line[w++] = line[r++];
			continue;
		}
		size_t ts = r;
		while (r < len && is_tok((unsigned char)line[r]))
			r++;
		w = redact_token(line, ts, r, w, count);
	}
	return w;
}

/* Redacts line[0, len) and returns the new length (the caller terminates it). */
static size_t redact_buf(char *line, size_t len, int *count)
{
	pthread_rwlock_rdlock(&reg_lock);
	if (sub_set)
		len = redact_substrings(line, len, count);
	if (tok_set)
		len = redact_tokens(line, len, count);
	pthread_rwlock_unlock(&reg_lock);
	return len;
}

int fc_log_redact(char *line, size_t cap)
{
	if (!line || cap == 0)
		return 0;
	size_t len = strnlen(line, cap);
	if (len == cap) /* not terminated within cap: treat the last byte as the terminator */
		line[--len] = '\0';
	int count = 0;
	size_t n = redact_buf(line, len, &count);
	line[n] = '\0';
	return count;
}

/* ---- formatting ---- */

/* Control characters would let a device-supplied string forge extra log lines: show them as '?'. A
 * trailing newline (habit from printf) is dropped instead. */
static void sanitize(char *line, size_t *len)
{
	while (*len && (line[*len - 1] == '\n' || line[*len - 1] == '\r'))
		line[--*len] = '\0';
	for (size_t i = 0; i < *len; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			line[i] = '?';
	}
}

void fc_log(enum fc_log_level level, const char *fmt, ...)
{
	if ((int)level < atomic_load_explicit(&min_level, memory_order_relaxed) || !fmt)
		return;

	char stackbuf[FORMAT_STACK];
	char *buf = stackbuf, *heap = NULL;
	size_t cap = sizeof stackbuf;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	if (n < 0) {
		snprintf(buf, cap, "(log format error: %s)", fmt);
		n = (int)strlen(buf);
	} else if ((size_t)n >= cap) {
		size_t want = (size_t)n + 1 < FORMAT_MAX ? (size_t)n + 1 : FORMAT_MAX;
		heap = malloc(want);
		if (heap) {
			va_start(ap, fmt);
			vsnprintf(heap, want, fmt, ap);
			va_end(ap);
			buf = heap;
			cap = want;
		}
	}
	bool cut = (size_t)n >= cap;
	size_t len = cut ? cap - 1 : (size_t)n;
	if (cut) {
		/* The last token may be the front part of a secret that no longer matches: drop it. */
		while (len && is_tok((unsigned char)buf[len - 1]))
			len--;
	}

	int count = 0;
	len = redact_buf(buf, len, &count);
	if (cut || len >= LINE_MAX_BYTES) {
		if (len > LINE_MAX_BYTES - 4)
			len = LINE_MAX_BYTES - 4;
		memcpy(buf + len, "...", 3);
		len += 3;
	}
	buf[len] = '\0';
	sanitize(buf, &len);

	if (in_sink) {
		default_sink(level, buf);
	} else {
		pthread_mutex_lock(&sink_mu);
		in_sink = true;
		if (sink_fn)
			sink_fn(sink_ctx, level, buf);
		else
			default_sink(level, buf);
		in_sink = false;
		pthread_mutex_unlock(&sink_mu);
	}
	free(heap);
}
