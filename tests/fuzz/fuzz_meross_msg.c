/* Fuzz the Meross codec (vendors/meross/codec.h). The input is parsed as a device message; on success it
 * is verified with a fixed key, echoed back and used to build a signed reply, and both outputs are
 * parsed again to check the codec's own invariants (abort on violation). The parse (fast path: header
 * read without a tree) must agree with the full-tree parse, and the /raw text spliced from the input
 * bytes (meross_msg_unsigned_text) must, whenever the splice succeeds, parse with cJSON and equal what
 * the tree path publishes (header.sign deleted from the tree, printed as the hub prints). The same
 * input, NUL-terminated, whole and line by line, goes through the credential parsers and hashers. */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/hub_internal.h"
#include "vendors/meross/codec.h"

#define FUZZ_KEY "0123456789abcdef0123456789abcdef" /* the seeds in corpus/fuzz_meross_msg are signed with it */
#define FUZZ_KEYLEN (sizeof FUZZ_KEY - 1)

static void require(bool ok)
{
	if (!ok)
		abort();
}

static void fuzz_credentials(const char *s, const uint8_t *raw, size_t rawlen)
{
	size_t n = strlen(s);
	char uuid[MEROSS_UUID_LEN + 1];
	if (meross_parse_device_client_id(s, uuid) == 0)
		require(strlen(uuid) == MEROSS_UUID_LEN && memcmp(s + 7, uuid, MEROSS_UUID_LEN) == 0);

	char app[65], tiny[4];
	if (meross_parse_app_client_id(s, app, sizeof app) == 0)
		require(strlen(app) >= 1 && strcmp(s + 4, app) == 0);
	if (meross_parse_app_client_id(s, tiny, sizeof tiny) == 0)
		require(strlen(tiny) < sizeof tiny);

	char uid[24], md5[33];
	if (meross_parse_device_password(s, uid, sizeof uid, md5) == 0) {
		require(strlen(uid) >= 1 && strlen(uid) <= 19 && strlen(md5) == 32);
		require(n == strlen(uid) + 33);
	}
	if (meross_parse_device_password(s, tiny, sizeof tiny, md5) == 0)
		require(strlen(tiny) < sizeof tiny);

	if (meross_mac_valid(s))
		require(n == 17);

	char h[33];
	meross_device_password_hash(s, (const char *)raw, rawlen, h);
	require(strlen(h) == 32);
	meross_app_password(s, s, n, h);
	require(strlen(h) == 32);
	meross_sign(s, (const char *)raw, rawlen, (int64_t)rawlen, h);
	require(strlen(h) == 32);
}

/* Parse a codec output again: it must be accepted unless it outgrew the size bound. Returns 1 when
 * parsed into *m (caller frees). */
static int reparse(const char *out, struct meross_msg *m)
{
	size_t n = strlen(out);
	char err[128];
	int rc = meross_msg_parse(out, n, m, err, sizeof err);
	if (n > MEROSS_MAX_MESSAGE) { /* raw control bytes in the input are re-escaped six times larger */
		require(rc == -1);
		return 0;
	}
	require(rc == 0);
	return 1;
}

/* Printed as /raw prints (hub_json_print); "" for NULL. Caller frees. */
static char *print(const cJSON *j)
{
	char *s = j ? hub_json_print(j, NULL) : NULL;
	return s ? s : calloc(1, 1);
}

/* cJSON_Compare looks members up by name, so it cannot tell trees with duplicate keys apart. */
static bool has_dup_keys(const cJSON *j)
{
	for (const cJSON *c = j ? j->child : NULL; c; c = c->next) {
		if (cJSON_IsObject(j))
			for (const cJSON *d = c->next; d; d = d->next)
				if (c->string && d->string && strcmp(c->string, d->string) == 0)
					return true;
		if (has_dup_keys(c))
			return true;
	}
	return false;
}

static bool same_text(const cJSON *a, const cJSON *b)
{
	char *x = print(a), *y = print(b);
	bool same = strcmp(x, y) == 0;
	free(x);
	free(y);
	return same;
}

/* The fast path and the full tree read the same message the same way (or fail with the same reason). */
static void check_paths(const uint8_t *data, size_t size, int rc, const struct meross_msg *m, const char *err,
			struct meross_msg *t)
{
	char terr[128];
	int trc = meross_msg_parse_tree(data, size, t, terr, sizeof terr);
	require(trc == rc);
	if (rc != 0) {
		require(strcmp(terr, err) == 0);
		return;
	}
	require(cJSON_IsObject(t->header) && t->root != t->payload);
	require(!strcmp(m->message_id, t->message_id) && !strcmp(m->namespace_, t->namespace_) &&
		!strcmp(m->method, t->method) && !strcmp(m->sign, t->sign) && !strcmp(m->from, t->from) &&
		!strcmp(m->trigger_src, t->trigger_src) && !strcmp(m->uuid, t->uuid));
	require(m->timestamp == t->timestamp && m->timestamp_ms == t->timestamp_ms &&
		m->payload_version == t->payload_version && m->has_from == t->has_from &&
		m->has_trigger_src == t->has_trigger_src);
	require(same_text(m->payload, t->payload)); /* not cJSON_Compare: the payload may hold inf (1e999) */
}

/* /raw: the splice, when it succeeds, is JSON equal to the tree path's output (t = the tree parse). */
static void check_raw(const uint8_t *data, size_t size, const struct meross_msg *m, struct meross_msg *t)
{
	char *out = malloc(size ? size : 1), *out2 = malloc(size ? size : 1);
	require(out && out2);
	size_t n = meross_msg_unsigned_text(data, size, out, size);
	if (m) {
		/* the parse's own cut gives the same bytes; a message read without a tree always has one */
		size_t n2 = meross_msg_raw_text(m, data, size, out2, size);
		require(n2 == n && (n == 0 || memcmp(out, out2, n) == 0));
		require(m->header || n > 0);
	}
	if (n && t) {
		require(n < size); /* at least "sign":x went */
		cJSON *spliced = cJSON_ParseWithLength(out, n);
		require(spliced != NULL);
		cJSON_DeleteItemFromObjectCaseSensitive(t->header, "sign");
		require(same_text(spliced, t->root));
		require(cJSON_Compare(spliced, t->root, true) || has_dup_keys(t->root));
		cJSON_Delete(spliced);
	}
	free(out);
	free(out2);
}

static void fuzz_message(const uint8_t *data, size_t size)
{
	struct meross_msg m, t;
	char err[128];
	int rc = meross_msg_parse(data, size, &m, err, sizeof err);
	check_paths(data, size, rc, &m, err, &t);
	check_raw(data, size, rc == 0 ? &m : NULL, rc == 0 ? &t : NULL);
	meross_msg_free(&t);
	if (rc != 0) {
		require(m.root == NULL && m.header == NULL && m.payload == NULL && err[0] != '\0');
		meross_msg_free(&m);
		return;
	}
	require(m.root && (m.header == NULL || cJSON_IsObject(m.header)) && cJSON_IsObject(m.payload));
	require(m.timestamp >= 0 && m.timestamp_ms >= -1 && m.timestamp_ms <= 999);
	const int ok = meross_msg_verify(&m, FUZZ_KEY, FUZZ_KEYLEN);
	(void)meross_msg_verify(&m, "", 0);
	(void)meross_msg_verify(&m, NULL, 0);

	/* Echo (Clock / ConsumptionConfig answer): header fields survive, uuid does not, sign still valid. */
	char *echo = meross_msg_echo(&m, "PUSH", "CloudControl", NULL, m.payload);
	require(echo != NULL);
	struct meross_msg e;
	if (reparse(echo, &e)) {
		require(strcmp(e.message_id, m.message_id) == 0 && strcmp(e.namespace_, m.namespace_) == 0);
		require(strcmp(e.sign, m.sign) == 0 && strcmp(e.method, "PUSH") == 0);
		require(strcmp(e.trigger_src, "CloudControl") == 0 && strcmp(e.from, m.from) == 0);
		require(e.timestamp == m.timestamp && e.timestamp_ms == m.timestamp_ms && e.uuid[0] == '\0');
		require(meross_msg_verify(&e, FUZZ_KEY, FUZZ_KEYLEN) == ok);
		meross_msg_free(&e);
	}
	free(echo);
	echo = meross_msg_echo(&m, NULL, NULL, "/cloud/hook/subscribe", NULL);
	require(echo != NULL);
	free(echo);

	/* A signed reply built from the message's own fields and payload. */
	struct meross_out o = {
		.namespace_ = m.namespace_,
		.method = "SETACK",
		.from = m.from,
		.message_id = strlen(m.message_id) <= 32 ? m.message_id : NULL,
		.trigger_src = m.trigger_src[0] ? m.trigger_src : NULL,
		.timestamp = m.timestamp,
		.timestamp_ms = m.timestamp_ms >= 0 ? (int)m.timestamp_ms : 0,
	};
	char id[33];
	char *reply = meross_msg_build(&o, m.payload, FUZZ_KEY, FUZZ_KEYLEN, id);
	require(reply != NULL);
	struct meross_msg r;
	if (reparse(reply, &r)) {
		require(strcmp(r.message_id, id) == 0 && strcmp(r.namespace_, m.namespace_) == 0);
		require(r.timestamp == m.timestamp && r.payload_version == 1);
		require(meross_msg_verify(&r, FUZZ_KEY, FUZZ_KEYLEN) == 1);
		meross_msg_free(&r);
	}
	free(reply);
	meross_msg_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_message(data, size);

	char *s = malloc(size + 1);
	if (!s)
		return 0;
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	fuzz_credentials(s, data, size);
	for (char *line = s, *nl; line; line = nl) { /* a seed may hold one credential per line */
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		fuzz_credentials(line, data, size);
	}
	free(s);
	return 0;
}
