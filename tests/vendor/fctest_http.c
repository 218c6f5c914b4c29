/* The test vendor's HTTP side: an echo route that reports what the server knows about the request,
 * a case-insensitive route, and TLS-PSK keys for identities "fctest:<device id>" taken from the
 * device's secrets {"psk": "<hex>"}. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "core/crypto.h"
#include "core/http.h"
#include "core/keystore.h"
#include "core/log.h"

#define FCTEST_PSK_PREFIX "fctest:"

static int echo(const struct fc_http_ctx *ctx, const struct fc_http_req *req, struct fc_http_resp *resp)
{
	(void)ctx;
	char identity[sizeof req->psk_identity + 1];
	size_t n = req->psk_identity_len < sizeof req->psk_identity ? req->psk_identity_len : sizeof req->psk_identity;
	for (size_t i = 0; i < n; i++)
		identity[i] = req->psk_identity[i] ? (char)req->psk_identity[i] : '?';
	identity[n] = 0;

	cJSON *o = cJSON_CreateObject();
	if (!o)
		return -1;
	int rc = -1;
	if (cJSON_AddNumberToObject(o, "len", (double)req->body_len) && cJSON_AddBoolToObject(o, "tls", req->tls) &&
	    cJSON_AddBoolToObject(o, "psk", req->psk) && cJSON_AddStringToObject(o, "identity", identity) &&
	    cJSON_AddStringToObject(o, "ip", req->client_ip))
		rc = fc_http_resp_json(resp, 200, o);
	cJSON_Delete(o);
	return rc;
}

static int casei(const struct fc_http_ctx *ctx, const struct fc_http_req *req, struct fc_http_resp *resp)
{
	(void)ctx;
	(void)req;
	static const char ok[] = "{\"ok\":true}";
	return fc_http_resp_set_body(resp, 200, "application/json", ok, sizeof ok - 1);
}

static int psk_key(const struct fc_http_ctx *ctx, const uint8_t *identity, size_t idlen, uint8_t *key,
		   size_t *keylen)
{
	size_t plen = strlen(FCTEST_PSK_PREFIX);
	if (idlen <= plen || memcmp(identity, FCTEST_PSK_PREFIX, plen) != 0)
		return 1;
	/* The device id: printable, no quote, bounded (it also goes into a log line). */
	char vid[128];
	size_t n = idlen - plen;
	bool clean = n < sizeof vid;
	for (size_t i = 0; clean && i < n; i++)
		clean = identity[plen + i] > 0x20 && identity[plen + i] < 0x7f && identity[plen + i] != '\'';
	if (!clean) {
		fc_warn("fctest: PSK identity with an unusable device id (%zu bytes) refused", n);
		return -1;
	}
	memcpy(vid, identity + plen, n);
	vid[n] = 0;

	struct fc_device_row row;
	memset(&row, 0, sizeof row);
	int rc = ctx && ctx->ks ? fc_ks_device_get(ctx->ks, "fctest", vid, &row) : FC_KS_ERR;
	const cJSON *psk = rc == FC_KS_OK ? cJSON_GetObjectItemCaseSensitive(row.secrets, "psk") : NULL;
	int ret = -1;
	if (cJSON_IsString(psk) && psk->valuestring[0]) {
		size_t out = 0;
		if (fc_hex_decode(psk->valuestring, strlen(psk->valuestring), key, *keylen, &out) == 0 && out > 0) {
			*keylen = out;
			ret = 0;
		} else {
			fc_warn("fctest: device '%s' has an unusable psk (not hex, or longer than %zu bytes)", vid,
				*keylen);
		}
	} else {
		fc_warn("fctest: PSK identity for unknown device '%s': import its psk with `fakecloud device add "
			"fctest ...`",
			vid);
	}
	if (rc == FC_KS_OK)
		fc_device_row_free(&row);
	return ret;
}

static const struct fc_http_route fctest_routes[] = {
	{"POST", "/fctest/echo", 0, echo},
	{"GET", "/FcTest/Case", FC_ROUTE_CASEI, casei},
	{NULL, NULL, 0, NULL},
};

const struct fc_vendor_http fctest_http = {
	.routes = fctest_routes,
	.psk_key = psk_key,
};
