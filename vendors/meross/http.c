/* The Meross cloud app API (meross.md §6) as fakecloud-httpd serves it, on http.http_port and
 * http.https_port: what MerossIot, meross-cloud (npm), meross_lan and the Meross app call to log in and
 * list devices before they talk MQTT to the broker (app.c).
 *
 *   POST /v1/Auth/signIn        {email, password (md5hex with "encryption":1, else clear)} -> token, key,
 *                               userid, email, domain, mqttDomain, mfaLockExpire
 *   POST /v1/Auth/Login         legacy login {email, password (clear)}; same data
 *   POST /v1/log/user           token check (MerossIot validates cached credentials with it)
 *   POST /v1/Device/devList     the account's devices (uuid, onlineStatus, devName, deviceType, domain...)
 *   POST /v1/Hub/getSubDevices  {uuid}: a hub's sub-devices
 *   POST /v1/Profile/logout     drops the token
 *
 * Paths match case-insensitively. Every request is the signed envelope {params: base64(JSON), timestamp
 * (s or ms, number or string), nonce, sign = md5hex(SECRET + timestamp + nonce + params)} as JSON or as an
 * x-www-form-urlencoded body; every answer is HTTP 200 with {"apiStatus","sysStatus","info","timeStamp",
 * "data"}. Tokens are 64 random hex characters; the keystore keeps only their SHA-256.
 *
 * Device online state comes from the device's meta ("online", "last_seen"), which the broker plugin writes
 * when a device binds or goes away (app.c): the httpd has no view of the broker's sessions. */
#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/crypto.h"
#include "core/keystore.h"
#include "core/log.h"
#include "vendors/meross/meross_internal.h"

#define API_MAX_BODY (1024 * 1024) /* on top of http.max_body */
#define TOKEN_MAX 128

/* Meross apiStatus codes (meross.md §6) */
#define API_OK 0
#define API_MISSING_PASSWORD 1001
#define API_TOO_FREQUENT 1028
#define API_NO_ACCOUNT 1002
#define API_WRONG_CREDENTIALS 1004
#define API_EMAIL_NOT_REGISTERED 1008
#define API_TOKEN_INVALID 1019
#define API_TOKEN_ERROR 1022
#define API_TOKEN_EXPIRED 1200
#define API_GENERIC 5000

/* ---------------------------------------------------------------- form bodies */

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode body[from..to) into out (cap > 0, including the NUL). Length, or -2 with out = "". */
static int form_decode(const uint8_t *b, size_t from, size_t to, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = from; i < to; i++) {
		int c = b[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (to - i < 3 || hexval(b[i + 1]) < 0 || hexval(b[i + 2]) < 0)
				goto bad;
			c = hexval(b[i + 1]) * 16 + hexval(b[i + 2]);
			i += 2;
		}
		if (c == 0 || o + 1 >= cap)
			goto bad;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (int)o;
bad:
	out[0] = '\0';
	return -2;
}

int meross_form_value(const uint8_t *body, size_t len, const char *key, char *out, size_t cap)
{
	if (!body || !key || !out || cap == 0 || len > API_MAX_BODY)
		return -2;
	out[0] = '\0';
	size_t i = 0;
	while (i <= len) {
		size_t end = i;
		while (end < len && body[end] != '&')
			end++;
		size_t eq = i;
		while (eq < end && body[eq] != '=')
			eq++;
		char name[64];
		/* A pair whose name does not decode (or is long) is not the one asked for, but a malformed
		 * name that might be it makes the body unusable. */
		int nl = form_decode(body, i, eq, name, sizeof name);
		if (nl >= 0 && strcmp(name, key) == 0)
			return eq < end ? form_decode(body, eq + 1, end, out, cap) : (out[0] = '\0', 0);
		if (nl == -2 && eq - i < sizeof name)
			return -2;
		i = end + 1;
	}
	return -1;
}

/* ---------------------------------------------------------------- the signed envelope */

static bool printable_token(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* timestamp text as sent: 1..18 digits; its value (seconds are scaled to ms). */
static bool timestamp_ok(const char *s, int64_t *ms)
{
	size_t n = strlen(s);
	if (n == 0 || n > 18)
		return false;
	int64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	/* Below 10^11 it is seconds (year 5138 in seconds; 1973 in milliseconds). */
	*ms = v < 100000000000LL ? v * 1000 : v;
	return true;
}

void meross_api_req_free(struct meross_api_req *r)
{
	if (!r)
		return;
	cJSON_Delete(r->params);
	r->params = NULL;
}

static int bad(char *info, size_t infolen, const char *why)
{
	snprintf(info, infolen, "%s", why);
	return API_GENERIC;
}

/* The fields of a JSON envelope, copied out. */
static int json_fields(const uint8_t *body, size_t len, char **params, char *sign, size_t signcap, char *ts,
		       size_t tscap, char *nonce, size_t noncecap, char *info, size_t infolen)
{
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts((const char *)body, len, &end, 0);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return bad(info, infolen, "the body is not a JSON object");
	}
	for (const char *p = end; p < (const char *)body + len; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
			cJSON_Delete(j);
			return bad(info, infolen, "trailing data after the JSON body");
		}
	int rc = API_GENERIC;
	const char *pa = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "params"));
	const char *si = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "sign"));
	const char *no = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "nonce"));
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "timestamp");
	if (!pa || !si || !no || !t) {
		bad(info, infolen, "params, sign, timestamp and nonce are required");
	} else if (strlen(si) >= signcap || strlen(no) >= noncecap) {
		bad(info, infolen, "sign or nonce too long");
	} else if (cJSON_IsString(t) && strlen(t->valuestring) < tscap) {
		snprintf(ts, tscap, "%s", t->valuestring);
		rc = 0;
	} else if (cJSON_IsNumber(t) && isfinite(t->valuedouble) && t->valuedouble >= 0 &&
		   t->valuedouble < 9007199254740992.0 && t->valuedouble == floor(t->valuedouble)) {
		/* The sign covers the number as sent; clients send plain integers. */
		snprintf(ts, tscap, "%lld", (long long)t->valuedouble);
		rc = 0;
	} else {
		bad(info, infolen, "timestamp must be an integer (seconds or milliseconds)");
	}
	if (rc == 0) {
		snprintf(sign, signcap, "%s", si);
		snprintf(nonce, noncecap, "%s", no);
		if (!(*params = strdup(pa)))
			rc = bad(info, infolen, "out of memory");
	}
	cJSON_Delete(j);
	return rc;
}

static int form_fields(const uint8_t *body, size_t len, char **params, char *sign, size_t signcap, char *ts,
		       size_t tscap, char *nonce, size_t noncecap, char *info, size_t infolen)
{
	char *pa = malloc(len + 1);
	if (!pa)
		return bad(info, infolen, "out of memory");
	if (meross_form_value(body, len, "params", pa, len + 1) < 0 ||
	    meross_form_value(body, len, "sign", sign, signcap) < 0 ||
	    meross_form_value(body, len, "timestamp", ts, tscap) < 0 ||
	    meross_form_value(body, len, "nonce", nonce, noncecap) < 0) {
		free(pa);
		return bad(info, infolen, "params, sign, timestamp and nonce are required (form body)");
	}
	/* base64 has '+', which a form body should send as %2B; a bare '+' decodes to a space. */
	for (char *p = pa; *p; p++)
		if (*p == ' ')
			*p = '+';
	*params = pa;
	return 0;
}

int meross_api_parse(const uint8_t *body, size_t len, struct meross_api_req *out, char *info, size_t infolen)
{
	memset(out, 0, sizeof *out);
	if (info && infolen)
		info[0] = '\0';
	if (!body || len > API_MAX_BODY)
		return bad(info, infolen, "request body missing or too large");
	size_t i = 0;
	while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
		i++;
	char *params = NULL, sign[40], nonce[sizeof out->nonce];
	int rc = i < len && body[i] == '{'
			 ? json_fields(body, len, &params, sign, sizeof sign, out->timestamp, sizeof out->timestamp, nonce,
				       sizeof nonce, info, infolen)
			 : form_fields(body, len, &params, sign, sizeof sign, out->timestamp, sizeof out->timestamp, nonce,
				       sizeof nonce, info, infolen);
	if (rc != 0)
		return rc;
	if (!timestamp_ok(out->timestamp, &out->timestamp_ms)) {
		rc = bad(info, infolen, "timestamp must be an integer (seconds or milliseconds)");
		goto out;
	}
	if (!printable_token(nonce, sizeof nonce - 1)) {
		rc = bad(info, infolen, "nonce must be 1 to 64 printable characters");
		goto out;
	}
	snprintf(out->nonce, sizeof out->nonce, "%s", nonce);
	/* sign = md5hex(SECRET + timestamp + nonce + params), all as sent */
	size_t pl = strlen(params), sl = strlen(MEROSS_API_SECRET), tl = strlen(out->timestamp), nl = strlen(nonce);
	char *buf = malloc(sl + tl + nl + pl + 1);
	if (!buf) {
		rc = bad(info, infolen, "out of memory");
		goto out;
	}
	memcpy(buf, MEROSS_API_SECRET, sl);
	memcpy(buf + sl, out->timestamp, tl);
	memcpy(buf + sl + tl, nonce, nl);
	memcpy(buf + sl + tl + nl, params, pl);
	char want[33];
	fc_md5_hex(buf, sl + tl + nl + pl, want);
	free(buf);
	bool same = strlen(sign) == 32;
	for (size_t k = 0; same && k < 32; k++)
		same = (sign[k] >= 'A' && sign[k] <= 'F' ? sign[k] + 32 : sign[k]) == want[k];
	if (!same) {
		rc = bad(info, infolen, "sign does not match md5(secret + timestamp + nonce + params)");
		goto out;
	}
	/* params: base64 of a JSON object ("" is taken as {}) */
	size_t dl = 0;
	uint8_t *dec = malloc(pl + 1);
	if (!dec) {
		rc = bad(info, infolen, "out of memory");
		goto out;
	}
	if (pl && fc_base64_decode(params, pl, dec, pl + 1, &dl) != 0) {
		free(dec);
		rc = bad(info, infolen, "params is not base64");
		goto out;
	}
	const char *end = NULL;
	out->params = dl ? cJSON_ParseWithLengthOpts((const char *)dec, dl, &end, 0) : cJSON_CreateObject();
	bool trailing = false;
	for (const char *p = end; dl && out->params && p < (const char *)dec + dl; p++)
		trailing |= *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n';
	free(dec);
	if (!cJSON_IsObject(out->params) || trailing) {
		meross_api_req_free(out);
		rc = bad(info, infolen, "params is not a base64 JSON object");
	}
out:
	free(params);
	return rc;
}

/* ---------------------------------------------------------------- answers */

static int64_t now_ms(const struct fc_http_ctx *ctx) { return ctx->now_ms ? ctx->now_ms() : 0; }

/* The envelope; `data` is consumed (NULL: {}). */
static int reply(const struct fc_http_ctx *ctx, struct fc_http_resp *resp, int api, const char *info, cJSON *data)
{
	cJSON *o = cJSON_CreateObject();
	if (!data)
		data = cJSON_CreateObject();
	if (!o || !data || !cJSON_AddNumberToObject(o, "apiStatus", api) || !cJSON_AddNumberToObject(o, "sysStatus", 0) ||
	    !cJSON_AddStringToObject(o, "info", info ? info : "") ||
	    !cJSON_AddNumberToObject(o, "timeStamp", (double)(now_ms(ctx) / 1000))) {
		cJSON_Delete(o);
		cJSON_Delete(data);
		return -1;
	}
	cJSON_AddItemToObject(o, "data", data);
	int rc = fc_http_resp_json(resp, 200, o);
	cJSON_Delete(o);
	return rc;
}

static const char *api_text(int api)
{
	switch (api) {
	case API_MISSING_PASSWORD: return "Wrong or missing password";
	case API_NO_ACCOUNT: return "Account does not exist";
	case API_WRONG_CREDENTIALS: return "Wrong email or password";
	case API_EMAIL_NOT_REGISTERED: return "This email is not registered";
	case API_TOKEN_INVALID: return "Token expired";
	case API_TOKEN_ERROR: return "Token error";
	case API_TOKEN_EXPIRED: return "Token has expired";
	case API_TOO_FREQUENT: return "Requested too frequently";
	default: return "Unknown or generic error";
	}
}

static int fail(const struct fc_http_ctx *ctx, const struct fc_http_req *req, struct fc_http_resp *resp, int api,
		const char *why)
{
	fc_info("meross: app API %s from %s refused (%d): %s", req->path, req->client_ip[0] ? req->client_ip : "?", api,
		why && *why ? why : api_text(api));
	return reply(ctx, resp, api, why && *why ? why : api_text(api), NULL);
}

/* ---------------------------------------------------------------- domains */

/* The first tls.hostnames entry (the certificate's CN). */
static void first_hostname(const struct fc_config *cfg, char *out, size_t cap)
{
	char names[64][256];
	int n = fc_config_list(cfg, "tls", "hostnames", names, 64);
	snprintf(out, cap, "%s", n > 0 ? names[0] : "localhost");
}

/* signIn "domain": meross.api_domain, else https://<first tls.hostnames>[:http.https_port]. */
static void api_domain(const struct fc_config *cfg, char *out, size_t cap)
{
	const char *d = fc_config_str(cfg, "meross", "api_domain");
	if (d && *d) {
		snprintf(out, cap, "%s%s", strstr(d, "://") ? "" : "https://", d);
		return;
	}
	char host[256];
	first_hostname(cfg, host, sizeof host);
	long port = fc_config_int(cfg, "http", "https_port");
	if (port == 443)
		snprintf(out, cap, "https://%s", host);
	else
		snprintf(out, cap, "https://%s:%ld", host, port);
}

/* Broker address apps dial ("mqttDomain", devList "domain"): meross.mqtt_domain as given, else the first
 * tls.hostnames entry, with ":<mqtt.tls_port>" unless the TLS listener also has 443 (MerossIot and
 * meross_lan default to 443; meross-cloud always dials 2001 and needs a bare host: set mqtt_domain). */
static void mqtt_domain(const struct fc_config *cfg, char *out, size_t cap)
{
	const char *d = fc_config_str(cfg, "meross", "mqtt_domain");
	if (d && *d) {
		snprintf(out, cap, "%s", d);
		return;
	}
	char host[256];
	first_hostname(cfg, host, sizeof host);
	long port = fc_config_int(cfg, "mqtt", "tls_port");
	bool has443 = port == 443;
	char extra[64][256];
	int n = fc_config_list(cfg, "mqtt", "tls_extra_ports", extra, 64);
	for (int i = 0; i < n; i++)
		has443 |= strcmp(extra[i], "443") == 0;
	if (has443)
		snprintf(out, cap, "%s", host);
	else
		snprintf(out, cap, "%s:%ld", host, port);
}

/* ---------------------------------------------------------------- sessions */

/* "Authorization: Basic <token>" -> token; false when absent or malformed. */
static bool bearer(const struct fc_http_req *req, char tok[TOKEN_MAX + 1])
{
	const char *h = req->header ? req->header(req, "Authorization") : NULL;
	if (!h || strncasecmp(h, "Basic ", 6) != 0)
		return false;
	h += 6;
	while (*h == ' ')
		h++;
	size_t n = strlen(h);
	while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
		n--;
	if (n == 0 || n > TOKEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return false;
		tok[i] = c;
	}
	tok[n] = '\0';
	return true;
}

/* The signed envelope plus a valid token. 0 with *a, uid and tok filled; else an apiStatus (answered). */
static int session(const struct fc_http_ctx *ctx, const struct fc_http_req *req, struct fc_http_resp *resp,
		   struct meross_api_req *a, char uid[24], char tok[TOKEN_MAX + 1], int *rc)
{
	char info[160];
	int api = meross_api_parse(req->body, req->body_len, a, info, sizeof info);
	if (api) {
		*rc = fail(ctx, req, resp, api, info);
		return api;
	}
	if (!bearer(req, tok))
		api = API_TOKEN_ERROR;
	else if ((api = fc_ks_token_check(ctx->ks, "meross", tok, now_ms(ctx) / 1000, uid, 24)) == FC_KS_OK)
		return 0;
	else if (api == FC_KS_NOTFOUND) /* expired rather than unknown when valid at the start of time */
		api = fc_ks_token_check(ctx->ks, "meross", tok, INT64_MIN, NULL, 0) == FC_KS_OK ? API_TOKEN_EXPIRED
												 : API_TOKEN_INVALID;
	else
		api = API_GENERIC;
	meross_api_req_free(a);
	*rc = fail(ctx, req, resp, api, NULL);
	return api;
}

/* ---------------------------------------------------------------- handlers */

/* Password checks cost ~0.1 s of the one HTTP thread that devices use too: at most LOGIN_BURST in a row,
 * refilled at LOGIN_RATE per second, so a flood of sign-ins cannot stall it (answered 1028). Process
 * state, shared by the handler thread(s). */
#define LOGIN_BURST 10.0
#define LOGIN_RATE 5.0
static pthread_mutex_t login_mu = PTHREAD_MUTEX_INITIALIZER;
static double login_budget = LOGIN_BURST;
static int64_t login_at_ms;

static bool login_allowed(int64_t now)
{
	pthread_mutex_lock(&login_mu);
	if (login_at_ms && now > login_at_ms)
		login_budget += (double)(now - login_at_ms) * LOGIN_RATE / 1000.0;
	if (login_budget > LOGIN_BURST)
		login_budget = LOGIN_BURST;
	login_at_ms = now;
	bool ok = login_budget >= 1.0;
	if (ok)
		login_budget -= 1.0;
	pthread_mutex_unlock(&login_mu);
	return ok;
}

static const char *param_str(const cJSON *params, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(params, k));
}

static int login(const struct fc_http_ctx *ctx, const struct fc_http_req *req, struct fc_http_resp *resp, bool legacy)
{
	struct meross_api_req a;
	char info[160];
	int api = meross_api_parse(req->body, req->body_len, &a, info, sizeof info);
	if (api)
		return fail(ctx, req, resp, api, info);
	const char *email = param_str(a.params, "email"), *pw = param_str(a.params, "password");
	const cJSON *enc = cJSON_GetObjectItemCaseSensitive(a.params, "encryption");
	bool hashed = (cJSON_IsNumber(enc) && enc->valuedouble == 1) ||
		      (cJSON_IsString(enc) && !strcmp(enc->valuestring, "1"));
	char md5[33], uid[24], shown[MEROSS_EMAIL_MAX + 1];
	int rc;
	if (!email || !*email) {
		rc = fail(ctx, req, resp, API_EMAIL_NOT_REGISTERED, "email missing");
		goto out;
	}
	if (!pw || !*pw) {
		rc = fail(ctx, req, resp, API_MISSING_PASSWORD, NULL);
		goto out;
	}
	if (hashed)
		snprintf(md5, sizeof md5, "%.32s", strlen(pw) == 32 ? pw : "");
	else
		fc_md5_hex(pw, strlen(pw), md5);
	char ip[64];
	snprintf(ip, sizeof ip, "%s", req->client_ip[0] ? req->client_ip : "?");
	if (!login_allowed(now_ms(ctx))) {
		rc = fail(ctx, req, resp, API_TOO_FREQUENT, "too many sign-ins; try again in a second");
		goto out;
	}
	switch (meross_user_login(ctx->ks, email, md5, uid, shown)) {
	case MEROSS_LOGIN_OK: break;
	case MEROSS_LOGIN_NO_USER:
		fc_warn("meross: app login from %s refused: no app user '%.*s' (add it with `fakecloud device add "
			"meross-user`)",
			ip, MEROSS_EMAIL_MAX, email);
		rc = reply(ctx, resp, API_EMAIL_NOT_REGISTERED, api_text(API_EMAIL_NOT_REGISTERED), NULL);
		goto out;
	case MEROSS_LOGIN_BAD_PASSWORD:
		fc_warn("meross: app login from %s refused: wrong password for '%.*s'", ip, MEROSS_EMAIL_MAX, email);
		rc = reply(ctx, resp, API_WRONG_CREDENTIALS, api_text(API_WRONG_CREDENTIALS), NULL);
		goto out;
	default:
		rc = fail(ctx, req, resp, API_GENERIC, "keystore error");
		goto out;
	}
	struct meross_account acct;
	if (meross_account_get(ctx->ks, uid, &acct) != FC_KS_OK) {
		fc_warn("meross: app user '%s' belongs to account %s, which does not exist (any more)", shown, uid);
		rc = reply(ctx, resp, API_NO_ACCOUNT, api_text(API_NO_ACCOUNT), NULL);
		goto out;
	}
	char token[65];
	long days = fc_config_int(ctx->cfg, "meross", "token_days");
	int64_t expires = now_ms(ctx) / 1000 + (int64_t)days * 86400;
	if (fc_random_hex(token, 64) != 0 || fc_ks_token_put(ctx->ks, "meross", token, uid, "app", expires) != FC_KS_OK) {
		fc_secret_wipe(&acct.key);
		rc = fail(ctx, req, resp, API_GENERIC, "cannot issue a token");
		goto out;
	}
	char dom[300], mdom[300];
	api_domain(ctx->cfg, dom, sizeof dom);
	mqtt_domain(ctx->cfg, mdom, sizeof mdom);
	cJSON *d = cJSON_CreateObject();
	if (d) {
		cJSON_AddStringToObject(d, "token", token);
		cJSON_AddStringToObject(d, "key", fc_secret_reveal(&acct.key));
		cJSON_AddStringToObject(d, "userid", uid);
		cJSON_AddStringToObject(d, "email", shown);
		cJSON_AddStringToObject(d, "domain", dom);
		cJSON_AddStringToObject(d, "mqttDomain", mdom);
		cJSON_AddNumberToObject(d, "mfaLockExpire", 0);
	}
	fc_secret_wipe(&acct.key);
	fc_info("meross: app user %s (account %s) signed in from %s%s", shown, uid, ip, legacy ? " (legacy Login)" : "");
	rc = d ? reply(ctx, resp, API_OK, "", d) : -1;
	if (d) {
		/* the response body holds its copy; wipe ours */
		fc_wipe(token, sizeof token);
	}
out:
	fc_wipe(md5, sizeof md5);
	meross_api_req_free(&a);
	return rc;
}

static int h_signin(const struct fc_http_ctx *ctx, const struct fc_http_req *req, struct fc_http_resp *resp)
{
	return login(ctx, req, resp, false);
}

static int h_login(const struct fc_http_ctx *ctx, const struct fc_http_req *req, struct fc_http_resp *resp)
{
	return login(ctx, req, resp, true);
}

static int h_log_user(const struct fc_http_ctx *ctx, const struct fc_http_req *req, struct fc_http_resp *resp)
{
	struct meross_api_req a;
	char uid[24], tok[TOKEN_MAX + 1];
	int rc;
	if (session(ctx, req, resp, &a, uid, tok, &rc))
		return rc;
	meross_api_req_free(&a);
	return reply(ctx, resp, API_OK, "", NULL);
}

static int h_logout(const struct fc_http_ctx *ctx, const struct fc_http_req *req, struct fc_http_resp *resp)
{
	struct meross_api_req a;
	char uid[24], tok[TOKEN_MAX + 1];
	int rc;
	if (session(ctx, req, resp, &a, uid, tok, &rc))
		return rc;
	meross_api_req_free(&a);
	if (fc_ks_token_delete(ctx->ks, "meross", tok) < 0)
		return fail(ctx, req, resp, API_GENERIC, "keystore error");
	fc_wipe(tok, sizeof tok);
	fc_info("meross: app session of account %s logged out", uid);
	return reply(ctx, resp, API_OK, "", NULL);
}

static const char *meta_str(const cJSON *meta, const char *k, const char *def)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, k));
	return s ? s : def;
}

struct list_ctx {
	const char *uid;
	const char *domain;
	const char *hub;  /* getSubDevices: the hub's uuid */
	cJSON *out;
};

static bool listed(const struct fc_device_row *row)
{
	return !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row->meta, "removed"));
}

static int dev_cb(void *vctx, const struct fc_device_row *row)
{
	struct list_ctx *l = vctx;
	const cJSON *m = row->meta;
	/* Hub sub-devices have no account of their own (meta "hub"): getSubDevices lists them. */
	if (!listed(row) || strcmp(meta_str(m, "user_id", ""), l->uid) != 0 || cJSON_GetObjectItemCaseSensitive(m, "hub"))
		return 0;
	cJSON *d = cJSON_CreateObject();
	if (!d)
		return 1;
	const cJSON *ch = cJSON_GetObjectItemCaseSensitive(m, "channels");
	int channels = cJSON_IsNumber(ch) && ch->valuedouble >= 1 && ch->valuedouble <= MEROSS_MAX_CHANNELS
			       ? (int)ch->valuedouble
			       : 1;
	cJSON_AddStringToObject(d, "uuid", row->vid);
	cJSON_AddNumberToObject(d, "onlineStatus", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "online")) ? 1 : 2);
	cJSON_AddStringToObject(d, "devName", row->name);
	cJSON_AddStringToObject(d, "devIconId", "device001");
	cJSON_AddNumberToObject(d, "bindTime", (double)row->created);
	cJSON_AddStringToObject(d, "deviceType", meta_str(m, "model", ""));
	cJSON_AddStringToObject(d, "subType", meta_str(m, "sub_type", ""));
	/* one entry per channel: the device itself, then the outlets (meross.md §6) */
	cJSON *chs = cJSON_AddArrayToObject(d, "channels");
	for (int i = 0; chs && i < channels; i++) {
		cJSON *c = cJSON_CreateObject();
		if (c && i > 0) {
			char name[32];
			snprintf(name, sizeof name, "Switch %d", i);
			cJSON_AddStringToObject(c, "type", "Switch");
			cJSON_AddStringToObject(c, "devName", name);
			cJSON_AddStringToObject(c, "devIconId", "device001");
		}
		cJSON_AddItemToArray(chs, c);
	}
	cJSON_AddStringToObject(d, "region", "eu");
	cJSON_AddStringToObject(d, "fmwareVersion", meta_str(m, "firmware", ""));
	cJSON_AddStringToObject(d, "hdwareVersion", meta_str(m, "hw_version", ""));
	cJSON_AddStringToObject(d, "userDevIcon", "");
	cJSON_AddNumberToObject(d, "iconType", 1);
	cJSON_AddStringToObject(d, "skillNumber", "");
	cJSON_AddStringToObject(d, "domain", l->domain);
	cJSON_AddStringToObject(d, "reservedDomain", l->domain);
	cJSON_AddArrayToObject(d, "hardwareCapabilities");
	cJSON_AddItemToArray(l->out, d);
	return 0;
}

static int h_devlist(const struct fc_http_ctx *ctx, const struct fc_http_req *req, struct fc_http_resp *resp)
{
	struct meross_api_req a;
	char uid[24], tok[TOKEN_MAX + 1];
	int rc;
	if (session(ctx, req, resp, &a, uid, tok, &rc))
		return rc;
	meross_api_req_free(&a);
	char dom[300];
	mqtt_domain(ctx->cfg, dom, sizeof dom);
	struct list_ctx l = {uid, dom, NULL, cJSON_CreateArray()};
	if (!l.out || fc_ks_device_each(ctx->ks, "meross", dev_cb, &l) < 0) {
		cJSON_Delete(l.out);
		return fail(ctx, req, resp, API_GENERIC, "keystore error");
	}
	fc_debug("meross: devList for account %s: %d devices", uid, cJSON_GetArraySize(l.out));
	return reply(ctx, resp, API_OK, "", l.out);
}

static int sub_cb(void *vctx, const struct fc_device_row *row)
{
	struct list_ctx *l = vctx;
	if (!listed(row) || strcmp(meta_str(row->meta, "hub", ""), l->hub) != 0)
		return 0;
	cJSON *d = cJSON_CreateObject();
	if (!d)
		return 1;
	cJSON_AddStringToObject(d, "subDeviceId", row->vid);
	cJSON_AddStringToObject(d, "trueId", row->vid);
	cJSON_AddStringToObject(d, "subDeviceType", meta_str(row->meta, "type", ""));
	cJSON_AddStringToObject(d, "subDeviceVendor", "meross");
	cJSON_AddStringToObject(d, "subDeviceName", row->name);
	cJSON_AddStringToObject(d, "subDeviceIconId", "");
	cJSON_AddItemToArray(l->out, d);
	return 0;
}

static int h_subdevices(const struct fc_http_ctx *ctx, const struct fc_http_req *req, struct fc_http_resp *resp)
{
	struct meross_api_req a;
	char uid[24], tok[TOKEN_MAX + 1], hub[MEROSS_UUID_LEN + 1] = "";
	int rc;
	if (session(ctx, req, resp, &a, uid, tok, &rc))
		return rc;
	const char *u = param_str(a.params, "uuid");
	if (u && strlen(u) <= MEROSS_UUID_LEN)
		snprintf(hub, sizeof hub, "%s", u);
	meross_api_req_free(&a);
	struct list_ctx l = {uid, NULL, hub, cJSON_CreateArray()};
	if (!l.out)
		return -1;
	/* Only a hub of the caller's own account; anything else is an empty list (no probing). */
	struct fc_device_row row;
	int k = hub[0] ? fc_ks_device_get(ctx->ks, "meross", hub, &row) : FC_KS_NOTFOUND;
	bool mine = k == FC_KS_OK && listed(&row) && strcmp(meta_str(row.meta, "user_id", ""), uid) == 0;
	if (k == FC_KS_OK)
		fc_device_row_free(&row);
	if (mine && fc_ks_device_each(ctx->ks, "meross", sub_cb, &l) < 0) {
		cJSON_Delete(l.out);
		return fail(ctx, req, resp, API_GENERIC, "keystore error");
	}
	return reply(ctx, resp, API_OK, "", l.out);
}

static const struct fc_http_route meross_routes[] = {
	{"POST", "/v1/Auth/signIn", FC_ROUTE_CASEI, h_signin},
	{"POST", "/v1/Auth/Login", FC_ROUTE_CASEI, h_login},
	{"POST", "/v1/log/user", FC_ROUTE_CASEI, h_log_user},
	{"POST", "/v1/Device/devList", FC_ROUTE_CASEI, h_devlist},
	{"POST", "/v1/Hub/getSubDevices", FC_ROUTE_CASEI, h_subdevices},
	{"POST", "/v1/Profile/logout", FC_ROUTE_CASEI, h_logout},
	{NULL, NULL, 0, NULL},
};

const struct fc_vendor_http meross_http = {
	.routes = meross_routes,
};
