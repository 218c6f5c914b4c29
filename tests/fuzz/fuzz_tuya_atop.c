/* Fuzz the Tuya cloud's HTTP side (vendors/tuya/http.c) without sockets: the url_config routes, the
 * ATOP dispatch on /d.json and /gw.json (query parsing, device lookup, key choice and retry, body
 * decryption, every action of the table, reply encryption) and the TLS-PSK key hook.
 *
 * Input: "METHOD\nPATH\nQUERY\nBODY" (missing parts are empty; BODY is the rest, any bytes). The route is
 * chosen like fakecloud-httpd does (method + case-insensitive path); an input that matches no route goes
 * to the /d.json handler. The keystore is in memory and holds two devices: one activated with known keys
 * (so the seeds can be encrypted) and one that only has its authKey (so activation runs). The same input
 * is also offered to the PSK hook as an identity.
 *
 * Invariants (abort on violation): the handler returns 0 or a negative code; on 0 the response has a
 * status 100..599, a sane content type, a NUL-terminated body of body_len bytes, and never contains an
 * authKey or pskKey the request did not carry; ATOP answers with status 200 are JSON objects. The PSK
 * hook returns -1, 0 or 1 and a key of 1..cap bytes. */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/http.h"
#include "core/keystore.h"
#include "core/log.h"
#include "vendors/tuya/tuya_internal.h"

#define UUID1 "fuzzuuid00000001"
#define AUTH1 "0123456789abcdef0123456789abcdef"
#define DEVID1 "fz0123456789abcdefghij"
#define SEC1 "secretkey0123456"
#define LOCAL1 "localkey01234567"
#define PSK1 "LZh9navyE1i5BR9SqDDSCU6THligfoaqd0qXZ"
#define UUID2 "fuzzuuid00000002"
#define AUTH2 "fedcba9876543210"

static void require(bool ok)
{
	if (!ok)
		abort();
}

static void quiet(void *ctx, enum fc_log_level level, const char *line)
{
	(void)ctx, (void)level, (void)line;
}

static int notified;
static int notify(void *c, const char *topic, const void *payload, size_t len)
{
	(void)c, (void)topic;
	require(payload && len > 0 && memchr(payload, 0, len) == NULL);
	notified++;
	return 0;
}

static int64_t now_ms(void) { return 1700000000000; }

static struct fc_keystore *ks;
static struct fc_config cfg;
static struct fc_http_ctx ctx;

static void setup(void)
{
	fc_log_set_sink(quiet, NULL);
	fc_log_set_level(FC_LOG_DEBUG); /* reach the debug-only paths too */
	static const struct fc_config_key *tables[2];
	tables[0] = tuya_vendor.config_keys;
	tables[1] = NULL;
	fc_config_init(&cfg, tables);
	char err[256];
	ks = fc_keystore_open(":memory:", err, sizeof err);
	require(ks != NULL);
	struct tuya_import a = {.uuid = UUID1, .auth_key = AUTH1, .psk_key = PSK1, .dev_id = DEVID1,
				.sec_key = SEC1, .local_key = LOCAL1, .name = "fz1"};
	require(tuya_import(ks, &a, err, sizeof err) == 0);
	struct tuya_import b = {.uuid = UUID2, .auth_key = AUTH2, .name = "fz2"};
	require(tuya_import(ks, &b, err, sizeof err) == 0);
	ctx = (struct fc_http_ctx){.ks = ks, .cfg = &cfg, .notify = notify, .notify_ctx = NULL, .now_ms = now_ms};
}

static const char *header(const struct fc_http_req *r, const char *name)
{
	(void)r, (void)name;
	return NULL;
}

/* Split data at the first three '\n' into NUL-terminated copies. */
static char *part(const uint8_t **p, const uint8_t *end, bool rest)
{
	const uint8_t *nl = rest ? NULL : memchr(*p, '\n', (size_t)(end - *p));
	const uint8_t *stop = nl ? nl : end;
	size_t n = (size_t)(stop - *p);
	char *s = malloc(n + 1);
	require(s != NULL);
	memcpy(s, *p, n);
	s[n] = 0;
	*p = nl ? nl + 1 : end;
	return s;
}

static const struct fc_http_route *route_for(const char *method, const char *path)
{
	const struct fc_http_route *atop = NULL;
	for (const struct fc_http_route *rt = tuya_http.routes; rt->path; rt++) {
		if (strcasecmp(rt->path, "/d.json") == 0 && !atop)
			atop = rt;
		if (strcasecmp(rt->path, path) == 0 && (!rt->method || strcmp(rt->method, method) == 0))
			return rt;
	}
	require(atop != NULL);
	return atop;
}

/* A secret may be in a reply only when the request itself carried it (an error message may quote a
 * malformed parameter). */
static const uint8_t *cur_in;
static size_t cur_len;

static bool leaked(const char *body, const char *secret)
{
	return strstr(body, secret) && !memmem(cur_in, cur_len, secret, strlen(secret));
}

static void check_resp(const struct fc_http_route *rt, int rc, struct fc_http_resp *resp)
{
	require(rc <= 0);
	if (rc == 0) {
		require(resp->status >= 100 && resp->status <= 599);
		size_t ct = strnlen(resp->content_type, sizeof resp->content_type);
		require(ct > 0 && ct < sizeof resp->content_type && !strpbrk(resp->content_type, "\r\n"));
		require(resp->n_headers <= FC_HTTP_MAX_RESP_HEADERS);
		if (resp->body_len) {
			require(resp->body != NULL && resp->body[resp->body_len] == 0);
			require(strlen(resp->body) == resp->body_len);
			require(!leaked(resp->body, AUTH1) && !leaked(resp->body, AUTH2) && !leaked(resp->body, PSK1));
		}
		if (resp->status == 200 && strstr(rt->path, ".json")) {
			require(resp->body_len > 0);
			cJSON *j = cJSON_ParseWithLength(resp->body, resp->body_len);
			require(cJSON_IsObject(j));
			cJSON_Delete(j);
		}
	}
	free(resp->body);
	resp->body = NULL;
}

static void fuzz_psk(const uint8_t *data, size_t size)
{
	if (!tuya_http.psk_key || size == 0 || size > 128)
		return;
	static const size_t caps[] = {32, 64};
	for (size_t i = 0; i < 2; i++) {
		uint8_t key[64];
		size_t keylen = caps[i];
		int rc = tuya_http.psk_key(&ctx, data, size, key, &keylen);
		require(rc == -1 || rc == 0 || rc == 1);
		if (rc == 0)
			require(keylen >= 1 && keylen <= caps[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ks)
		setup();
	cur_in = data;
	cur_len = size;
	const uint8_t *p = data, *end = data + size;
	char *method = part(&p, end, false), *path = part(&p, end, false), *query = part(&p, end, false);
	const uint8_t *raw = p; /* the body exactly as given (may hold NUL bytes) */
	size_t raw_len = (size_t)(end - p);
	char *body = part(&p, end, true);

	const struct fc_http_route *rt = route_for(method, path);
	struct fc_http_req req = {
		.method = method,
		.path = path,
		.query = query,
		.body = (const uint8_t *)body,
		.body_len = strlen(body), /* what a text-only client would send */
		.header = header,
		.arg = NULL,
	};
	snprintf(req.client_ip, sizeof req.client_ip, "192.0.2.7");
	snprintf(req.local_ip, sizeof req.local_ip, "%s", size % 7 == 3 ? "::1" : "127.0.0.1");
	if (strncasecmp(path, "/v", 2) == 0 && size % 2 == 0) {
		req.tls = req.psk = true;
		require(tuya_psk_id_v1_build(NULL, UUID1, AUTH1, req.psk_identity) == 0);
		req.psk_identity_len = TUYA_PSK_ID_V1_LEN;
		req.psk_vendor = "tuya";
	}
	struct fc_http_resp resp;
	memset(&resp, 0, sizeof resp);
	resp.status = 200;
	snprintf(resp.content_type, sizeof resp.content_type, "application/json");
	int rc = rt->handler(&ctx, &req, &resp);
	check_resp(rt, rc, &resp);

	/* The same request with the raw body (NULs included) and no known local address. */
	req.body = raw_len ? raw : (const uint8_t *)"";
	req.body_len = raw_len;
	req.local_ip[0] = 0;
	memset(&resp, 0, sizeof resp);
	resp.status = 200;
	snprintf(resp.content_type, sizeof resp.content_type, "application/json");
	rc = rt->handler(&ctx, &req, &resp);
	check_resp(rt, rc, &resp);

	fuzz_psk(data, size);
	free(method);
	free(path);
	free(query);
	free(body);
	return 0;
}
