/* The Tuya cloud as fakecloud-httpd serves it (../shared/protocols/tuya.md §1, §2):
 *
 *   POST /v1/url_config, /v2/url_config   endpoint discovery (plaintext JSON inside TLS-PSK, §1.2)
 *   *    /device/url_config               the 2018 SDK's form (plain-string URLs)
 *   GET|POST /d.json, /gw.json            ATOP: ?a=<action>&(uuid|devId|gwId)=..&et=..&t=..&v=..&sign=..
 *                                         with body data=<HEX> (§1.3); replies encrypted and signed with the
 *                                         request's key and mode (§1.4)
 *   psk_key                               TLS-PSK identities 0x01 (derived, §2) and 0x02 (imported pskKey)
 *
 * Paths match case-insensitively. Every ATOP action the fact sheet lists has one row in `actions` below
 * (what it answers and why); an action not in the table gets the generic success reply and a log line
 * naming it, which is what cloudcutter does ("usually okay").
 *
 * Keys: a request that carries `uuid` is keyed by the device's authKey, one with `devId`/`gwId` by its
 * secKey (§1.3); a body that does not decrypt with that key is retried with the other one. Unknown
 * devices and undecryptable bodies get a plaintext error (there is no key the device would share) and a
 * log line that says what the owner must import. Nothing here logs a key.
 *
 * Time zone: answers carry the offsets and DST intervals of core.timezone, computed with localtime_r
 * under TZ. fakecloud-httpd is its own process and nothing else in it depends on TZ, so TZ is set (once:
 * again only if the configured name changes) at the first request that needs it. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/hub.h"
#include "core/keystore.h"
#include "core/log.h"
#include "vendors/tuya/tuya_internal.h"

#define ATOP_CONTENT_TYPE "application/json;charset=UTF-8"
#define DEVICE_CHANGED_TOPIC FC_INTERNAL_TOPIC_PREFIX "core/device-changed"

/* Error codes of the plaintext error replies (§1.4). An unknown devId deliberately gets NOT_EXISTS as
 * well, not GATEWAY_NOT_EXISTS: connect-kit maps GATEWAY_NOT_EXISTS to "device unbound" and resets the
 * device to pairing mode, which would throw away the devId/localKey an owner can still import. */
#define ERR_UNKNOWN_DEVICE "NOT_EXISTS"
#define ERR_DECRYPT "DECRYPT_FAILED"
#define ERR_NO_KEY "KEY_NOT_EXISTS"
#define ERR_SYSTEM "SYSTEM_ERROR"

#define G1_UID "00000000000000000000" /* what tuya-convert sends as the owner's uid */
#define G1_ETAG "0000000000"

static int64_t now_s(const struct fc_http_ctx *ctx)
{
	int64_t ms = ctx && ctx->now_ms ? ctx->now_ms() : 0;
	if (ms <= 0)
		ms = (int64_t)time(NULL) * 1000;
	return ms / 1000;
}

/* Printable, bounded copy of untrusted text for a log line. */
static void shown(char *out, size_t cap, const char *s)
{
	size_t o = 0;
	for (size_t i = 0; s && s[i] && o + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		out[o++] = (c >= 0x20 && c < 0x7f && c != '\'') ? (char)c : '?';
		if (i >= 96 && o + 4 < cap) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
	}
	out[o] = 0;
}

static const char *client_ip(const struct fc_http_req *req)
{
	return req->client_ip[0] ? req->client_ip : "?";
}

/* ------------------------------------------------------------------------------------------------ */
/* configuration: the address and ports handed to devices */

struct endpoints {
	char host[256];
	unsigned http_port, mqtt_port, https_port, mqtt_psk_port;
	bool psk_urls;
};

static bool host_usable(const char *h)
{
	size_t n = strlen(h);
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z') ||
		      h[i] == '.' || h[i] == '-'))
			return false;
	return true;
}

/* 0, or -1 after logging why no address can be given. */
static int endpoints_get(const struct fc_http_ctx *ctx, const struct fc_http_req *req, struct endpoints *e)
{
	memset(e, 0, sizeof *e);
	const struct fc_config *cfg = ctx->cfg;
	const char *addr = cfg ? fc_config_str(cfg, "tuya", "address") : NULL;
	if (addr && addr[0]) {
		snprintf(e->host, sizeof e->host, "%s", addr);
		if (!host_usable(e->host)) {
			char s[128];
			shown(s, sizeof s, addr);
			fc_error("tuya: tuya.address '%s' is not an IPv4 address or host name: devices cannot be told "
				 "where fakecloud is",
				 s);
			return -1;
		}
	} else {
		snprintf(e->host, sizeof e->host, "%s", req->local_ip);
		if (!host_usable(e->host)) {
			char s[80];
			shown(s, sizeof s, req->local_ip);
			fc_error("tuya: cannot tell the device at %s where fakecloud is: it connected to '%s', which is "
				 "not an IPv4 address; set tuya.address to the IPv4 address (or name) devices should use",
				 client_ip(req), s);
			return -1;
		}
	}
	long http = cfg ? fc_config_int(cfg, "tuya", "http_port") : 0;
	long mqtt = cfg ? fc_config_int(cfg, "tuya", "mqtt_port") : 0;
	e->http_port = (unsigned)(http > 0 ? http : cfg ? fc_config_int(cfg, "http", "http_port") : 80);
	e->mqtt_port = (unsigned)(mqtt > 0 ? mqtt : cfg ? fc_config_int(cfg, "mqtt", "port") : 1883);
	e->https_port = (unsigned)(cfg ? fc_config_int(cfg, "http", "https_port") : 443);
	e->mqtt_psk_port = (unsigned)(cfg ? fc_config_int(cfg, "mqtt", "psk_port") : 8886);
	e->psk_urls = cfg ? fc_config_bool(cfg, "tuya", "psk_urls") : false;
	return 0;
}

/* "http://host[:port]/<file>" (scheme "http" omits 80, "https" omits 443). */
static void url_of(char *out, size_t cap, const char *scheme, const char *host, unsigned port, const char *file)
{
	bool dflt = (strcmp(scheme, "http") == 0 && port == 80) || (strcmp(scheme, "https") == 0 && port == 443);
	if (dflt)
		snprintf(out, cap, "%s://%s/%s", scheme, host, file);
	else
		snprintf(out, cap, "%s://%s:%u/%s", scheme, host, port, file);
}

/* ------------------------------------------------------------------------------------------------ */
/* time zone (core.timezone) */

#define TZ_MAX_INTERVALS 4

struct tz_info {
	char std[8]; /* standard offset "+01:00" */
	char cur[8]; /* offset in force now (DST included) */
	size_t n;
	int64_t iv[TZ_MAX_INTERVALS][2]; /* DST periods starting this year and next: [start, end) epochs */
};

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;
static char tz_applied[128];
static bool tz_is_set;
/* The last answer, valid for the rest of its minute: computing it walks two years day by day (~800
 * localtime_r calls), and every activation asks for it. Zone transitions fall on whole minutes. */
static struct tz_info tz_cached;
static int64_t tz_cached_minute = -1;
static char tz_warned[128];

static bool tz_name_ok(const char *n)
{
	size_t len = strlen(n);
	if (len == 0 || len >= 64 || n[0] == '/' || strstr(n, ".."))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'z') || (n[i] >= 'A' && n[i] <= 'Z') ||
		      n[i] == '/' || n[i] == '_' || n[i] == '+' || n[i] == '-'))
			return false;
	return true;
}

static bool tz_is_utc(const char *n)
{
	static const char *const utc[] = {"UTC", "Etc/UTC", "GMT", "Etc/GMT", "UCT", "Zulu", "Universal"};
	for (size_t i = 0; i < sizeof utc / sizeof utc[0]; i++)
		if (strcmp(n, utc[i]) == 0)
			return true;
	return false;
}

/* The zone to apply: core.timezone when it names an installed zone, else UTC (warned once per name). */
static void tz_choose(const struct fc_config *cfg, char *out, size_t cap)
{
	const char *want = cfg ? fc_config_str(cfg, "core", "timezone") : NULL;
	if (!want || !want[0])
		want = "UTC";
	const char *why = NULL;
	if (!tz_name_ok(want)) {
		why = "is not a time zone name (like Europe/Berlin)";
	} else if (!tz_is_utc(want)) {
		const char *dir = getenv("TZDIR");
		char path[320];
		snprintf(path, sizeof path, "%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo", want);
		if (access(path, R_OK) != 0)
			why = "is not installed (no zone file; install the tzdata package)";
	}
	if (!why) {
		snprintf(out, cap, "%s", want);
		return;
	}
	if (strcmp(tz_warned, want) != 0) {
		char s[80];
		shown(s, sizeof s, want);
		fc_warn("tuya: core.timezone '%s' %s: devices are told UTC", s, why);
		snprintf(tz_warned, sizeof tz_warned, "%s", want);
	}
	snprintf(out, cap, "UTC");
}

static void fmt_offset(char out[8], long gmtoff)
{
	long a = gmtoff < 0 ? -gmtoff : gmtoff;
	if (a > 24 * 3600)
		a = 0;
	snprintf(out, 8, "%c%02ld:%02ld", gmtoff < 0 ? '-' : '+', a / 3600, (a % 3600) / 60);
}

static bool is_dst_at(int64_t t, long *gmtoff)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!localtime_r(&tt, &tm)) {
		if (gmtoff)
			*gmtoff = 0;
		return false;
	}
	if (gmtoff)
		*gmtoff = tm.tm_gmtoff;
	return tm.tm_isdst > 0;
}

/* First second in (lo, hi] whose DST state differs from lo's (which differs at hi). */
static int64_t tz_edge(int64_t lo, int64_t hi)
{
	bool at_lo = is_dst_at(lo, NULL);
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;
		if (is_dst_at(mid, NULL) == at_lo)
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

static int64_t year_start_utc(int year)
{
	struct tm tm = {.tm_year = year - 1900, .tm_mon = 0, .tm_mday = 1};
	return (int64_t)timegm(&tm);
}

/* Caller holds tz_lock and TZ is applied. */
static void tz_compute_locked(int64_t now, struct tz_info *z)
{
	memset(z, 0, sizeof *z);
	long off_now = 0;
	is_dst_at(now, &off_now);
	fmt_offset(z->cur, off_now);

	time_t tt = (time_t)now;
	struct tm tm;
	int year = localtime_r(&tt, &tm) ? tm.tm_year + 1900 : 1970;
	int64_t from = year_start_utc(year) - 86400, to = year_start_utc(year + 2) + 366 * 86400LL;
	const int64_t step = 86400;
	/* Transitions, in order: [time, became_dst]. At most a few per year. */
	int64_t tr[16];
	bool tr_dst[16];
	size_t ntr = 0;
	/* The standard offset: that of the standard-time day nearest to now (zones change it rarely). */
	long std_off = off_now;
	int64_t std_dist = INT64_MAX;
	bool prev = is_dst_at(from, NULL);
	for (int64_t t = from + step; t <= to; t += step) {
		long off = 0;
		bool cur = is_dst_at(t, &off);
		int64_t dist = t > now ? t - now : now - t;
		if (!cur && dist < std_dist) {
			std_off = off;
			std_dist = dist;
		}
		if (cur != prev && ntr < sizeof tr / sizeof tr[0]) {
			tr[ntr] = tz_edge(t - step, t);
			tr_dst[ntr] = cur;
			ntr++;
		}
		prev = cur;
	}
	fmt_offset(z->std, std_off);
	int64_t lo = year_start_utc(year), hi = year_start_utc(year + 2);
	for (size_t i = 0; i < ntr && z->n < TZ_MAX_INTERVALS; i++) {
		if (!tr_dst[i] || tr[i] < lo || tr[i] >= hi)
			continue;
		for (size_t j = i + 1; j < ntr; j++) {
			if (!tr_dst[j]) {
				z->iv[z->n][0] = tr[i];
				z->iv[z->n][1] = tr[j];
				z->n++;
				break;
			}
		}
	}
}

static void tz_compute(const struct fc_config *cfg, int64_t now, struct tz_info *z)
{
	pthread_mutex_lock(&tz_lock);
	char name[128];
	tz_choose(cfg, name, sizeof name);
	if (!tz_is_set || strcmp(name, tz_applied) != 0) {
		setenv("TZ", name, 1);
		tzset();
		snprintf(tz_applied, sizeof tz_applied, "%s", name);
		tz_is_set = true;
		tz_cached_minute = -1;
	}
	int64_t minute = now >= 0 ? now / 60 : -2;
	if (minute >= 0 && minute == tz_cached_minute) {
		*z = tz_cached;
	} else {
		tz_compute_locked(now, z);
		tz_cached = *z;
		tz_cached_minute = minute;
	}
	pthread_mutex_unlock(&tz_lock);
}

static cJSON *dst_array(const struct tz_info *z)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; a && i < z->n; i++) {
		cJSON *pair = cJSON_CreateArray();
		cJSON *s = cJSON_CreateNumber((double)z->iv[i][0]), *e = cJSON_CreateNumber((double)z->iv[i][1]);
		if (!pair || !s || !e || !cJSON_AddItemToArray(pair, s)) {
			cJSON_Delete(pair);
			cJSON_Delete(s);
			cJSON_Delete(e);
			cJSON_Delete(a);
			return NULL;
		}
		if (!cJSON_AddItemToArray(pair, e)) {
			cJSON_Delete(e);
			cJSON_Delete(pair);
			cJSON_Delete(a);
			return NULL;
		}
		if (!cJSON_AddItemToArray(a, pair)) {
			cJSON_Delete(pair);
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

static bool add_item(cJSON *o, const char *k, cJSON *v)
{
	if (!v)
		return false;
	if (!cJSON_AddItemToObject(o, k, v)) {
		cJSON_Delete(v);
		return false;
	}
	return true;
}

/* ------------------------------------------------------------------------------------------------ */
/* url_config (§1.2) */

struct v1_find {
	const struct tuya_psk_id *id;
	char uuid[128];
	char name[128];
};

static bool row_removed(const struct fc_device_row *row)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row->meta, "removed"));
}

static int v1_find_cb(void *vctx, const struct fc_device_row *row)
{
	struct v1_find *f = vctx;
	bool match = f->id->version == 1 ? tuya_psk_id_v1_matches(f->id, row->vid, NULL)
					 : tuya_psk_id_v2_matches(f->id, row->vid);
	if (row_removed(row) || !match)
		return 0;
	snprintf(f->uuid, sizeof f->uuid, "%s", row->vid);
	snprintf(f->name, sizeof f->name, "%s", row->name);
	return 1;
}

/* The imported device a PSK identity (1: md5(uuid), 2: sha256(uuid)) names; f->uuid "" when none. */
static void psk_identity_device(struct fc_keystore *ks, const uint8_t *identity, size_t len, struct v1_find *f)
{
	memset(f, 0, sizeof *f);
	struct tuya_psk_id id;
	if (!ks || tuya_psk_id_parse(identity, len, &id, NULL, 0) != 0)
		return;
	f->id = &id;
	fc_ks_device_each(ks, "tuya", v1_find_cb, f);
	f->id = NULL;
}

static int url_config(const struct fc_http_ctx *ctx, const struct fc_http_req *req, struct fc_http_resp *resp,
		      const char *which, bool legacy)
{
	struct tuya_url_config_req rq;
	char why[160] = "";
	bool parsed = req->body_len > 0 && tuya_url_config_parse(req->body, req->body_len, &rq, why, sizeof why) == 0;
	if (!parsed) {
		memset(&rq, 0, sizeof rq);
		/* Answer anyway: the reply does not depend on the request, and refusing a device whose SDK
		 * writes a field differently would keep it off fakecloud. */
		if (req->body_len > 0)
			fc_info("tuya: %s from %s has a body fakecloud does not understand (%s); answering anyway", which,
				client_ip(req), why);
	}
	struct endpoints e;
	if (endpoints_get(ctx, req, &e) != 0)
		return fc_http_resp_error(resp, 503, "fakecloud does not know its own address (set tuya.address)");

	struct tuya_url_config_opts o = {
		.host = e.host,
		.http_port = (uint16_t)e.http_port,
		.mqtt_port = (uint16_t)e.mqtt_port,
		.https_psk_port = e.psk_urls ? (uint16_t)e.https_port : 0,
		.mqtts_psk_port = e.psk_urls ? (uint16_t)e.mqtt_psk_port : 0,
		.legacy = legacy,
	};
	char err[160] = "";
	char *reply = tuya_url_config_reply(&o, err, sizeof err);
	if (!reply) {
		fc_error("tuya: cannot build the %s reply: %s", which, err);
		return fc_http_resp_error(resp, 500, "internal error");
	}

	/* Who asked: v2 names its uuid; a v1 PSK identity carries md5(uuid). */
	char who[300] = "";
	char region[16], uuid[80];
	shown(region, sizeof region, rq.region[0] ? rq.region : "-");
	if (rq.uuid[0]) {
		shown(uuid, sizeof uuid, rq.uuid);
		struct tuya_dev d;
		int rc = ctx->ks ? tuya_dev_by_uuid(ctx->ks, rq.uuid, &d) : FC_KS_NOTFOUND;
		snprintf(who, sizeof who, "uuid %s%s%s%s", uuid, rc == FC_KS_OK ? " = device '" : " (not imported)",
			 rc == FC_KS_OK ? d.name : "", rc == FC_KS_OK ? "'" : "");
		if (rc == FC_KS_OK)
			tuya_dev_free(&d);
	} else if (req->psk && req->psk_identity_len && (req->psk_identity[0] == 1 || req->psk_identity[0] == 2) &&
		   fc_log_get_level() <= FC_LOG_DEBUG) {
		/* Naming the device walks every imported one (the identity holds only a hash of its uuid):
		 * worth it for debugging, too slow for every boot of every device on httpd's request thread. */
		struct v1_find f;
		psk_identity_device(ctx->ks, req->psk_identity, req->psk_identity_len, &f);
		if (f.uuid[0])
			snprintf(who, sizeof who, "device '%s' (uuid %s)", f.name, f.uuid);
		else
			snprintf(who, sizeof who, "a device not imported yet");
	} else {
		snprintf(who, sizeof who, "%s",
			 req->psk ? "a TLS-PSK client (core.log_level debug names the device)"
				  : req->tls ? "a TLS client" : "a client");
	}
	char atop[300];
	url_of(atop, sizeof atop, "http", e.host, e.http_port, "d.json");
	fc_info("tuya: %s from %s, %s, region %s: sent ATOP %s, MQTT %s:%u%s", which, client_ip(req), who, region, atop,
		e.host, e.mqtt_port, e.psk_urls ? " (+ TLS-PSK URLs)" : "");
	int rc = fc_http_resp_set_body(resp, 200, ATOP_CONTENT_TYPE, reply, strlen(reply));
	free(reply);
	return rc;
}

static int h_url_config_v1(const struct fc_http_ctx *ctx, const struct fc_http_req *req, struct fc_http_resp *resp)
{
	return url_config(ctx, req, resp, "url_config v1", false);
}

static int h_url_config_v2(const struct fc_http_ctx *ctx, const struct fc_http_req *req, struct fc_http_resp *resp)
{
	return url_config(ctx, req, resp, "url_config v2", false);
}

static int h_url_config_legacy(const struct fc_http_ctx *ctx, const struct fc_http_req *req,
			       struct fc_http_resp *resp)
{
	return url_config(ctx, req, resp, "device/url_config", true);
}

/* ------------------------------------------------------------------------------------------------ */
/* ATOP (§1.3-§1.5) */

struct key_ref {
	const struct fc_secret *s;
	const char *name; /* "authKey" / "secKey" */
};

static bool key_usable(const struct key_ref *k)
{
	return k->s && fc_secret_len(k->s) >= TUYA_AES_KEY_LEN;
}

struct atop_call {
	const struct fc_http_ctx *ctx;
	const struct fc_http_req *req;
	const struct tuya_atop_query *q;
	const char *action;  /* printable copy */
	int64_t now;
	struct tuya_dev *d;  /* NULL for actions that need no device */
	const char *id_name; /* "uuid" / "devId" / "gwId" the device was found by */
	const cJSON *body;   /* decrypted request object or NULL */
	struct key_ref key;  /* the key of the reply */
	/* set by actions */
	bool notify;           /* tell the broker the device changed (after replying) */
	const char *fail_code; /* reply success:false */
	const char *fail_msg;
};

/* Returns 0 with *result (NULL = no result member), or -1 on an internal failure (500). */
typedef int (*atop_fn)(struct atop_call *c, cJSON **result);

#define A_PLAIN 0x1u     /* reply in the G1 plaintext form whatever `et` says (tuya-convert never encrypts it) */
#define A_NO_DEVICE 0x2u /* no device lookup: the reply holds no secret and needs no key */
#define A_ANY_BODY 0x4u  /* a body that does not decode is ignored (G1 activation: key unknown) */

struct atop_action {
	const char *name;
	unsigned flags;
	const char *result; /* constant result (JSON text); NULL = none: {"success":true,"t":..} */
	atop_fn fn;         /* computed result (wins over `result`) */
};

static const char *dev_label(const struct tuya_dev *d, char *buf, size_t cap)
{
	if (d->dev_id[0])
		snprintf(buf, cap, "'%s' (uuid %s, devId %s)", d->name, d->uuid, d->dev_id);
	else
		snprintf(buf, cap, "'%s' (uuid %s)", d->name, d->uuid);
	return buf;
}

/* The schema sent at activation and its id. */
static const char *schema_text(const struct tuya_dev *d) { return d->schema ? d->schema : TUYA_DEFAULT_SCHEMA; }

static const char *schema_id(const struct tuya_dev *d)
{
	return d->schema && d->schema_id[0] ? d->schema_id : TUYA_DEFAULT_SCHEMA_ID;
}

static void log_default_schema(const struct tuya_dev *d)
{
	if (d->schema)
		return;
	fc_info("tuya: device '%s' (uuid %s) has no DP schema imported: it got the default one (DP 1 = switch). "
		"Import its real schema so that every data point works: fakecloud device add tuya --uuid %s "
		"--schema-file <schema.json>",
		d->name, d->uuid, d->uuid);
}

static void notify_changed(const struct fc_http_ctx *ctx, const struct tuya_dev *d)
{
	if (!ctx->notify)
		return;
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;
	if (o && cJSON_AddStringToObject(o, "vendor", "tuya") && cJSON_AddStringToObject(o, "vid", d->uuid))
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!text || ctx->notify(ctx->notify_ctx, DEVICE_CHANGED_TOPIC, text, strlen(text)) != 0)
		fc_warn("tuya: could not tell the broker that device '%s' (uuid %s) activated; it picks the device up "
			"when it restarts",
			d->name, d->uuid);
	cJSON_free(text);
}

/* tuya.device.active (§1.5): keys minted once (tuya_activate), the schema, the time zone. */
static int act_active(struct atop_call *c, cJSON **result)
{
	struct tuya_dev *d = c->d;
	char err[200] = "";
	if (tuya_activate(c->ctx->ks, d, c->body, c->req->client_ip, err, sizeof err) != 0) {
		fc_error("tuya: activation of device '%s' (uuid %s) failed: %s", d->name, d->uuid, err);
		c->fail_code = ERR_SYSTEM;
		c->fail_msg = "activation could not be stored";
		return 0;
	}
	struct tz_info z;
	tz_compute(c->ctx->cfg, c->now, &z);
	cJSON *r = cJSON_CreateObject();
	bool ok = r && cJSON_AddStringToObject(r, "schema", schema_text(d)) &&
		  cJSON_AddStringToObject(r, "devId", d->dev_id) && cJSON_AddFalseToObject(r, "resetFactory") &&
		  cJSON_AddStringToObject(r, "timeZone", z.cur) && cJSON_AddNumberToObject(r, "capability", 1025) &&
		  cJSON_AddStringToObject(r, "secKey", fc_secret_reveal(&d->sec_key)) &&
		  cJSON_AddStringToObject(r, "stdTimeZone", z.std) &&
		  cJSON_AddStringToObject(r, "schemaId", schema_id(d)) && add_item(r, "dstIntervals", dst_array(&z)) &&
		  cJSON_AddStringToObject(r, "localKey", fc_secret_reveal(&d->local_key));
	if (!ok) {
		cJSON_Delete(r);
		return -1;
	}
	/* The reply keys are the secKey-era keys; a later request under devId uses secKey. */
	c->notify = true;
	const char *pv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c->body, "protocolVer"));
	const char *sv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c->body, "softVer"));
	char pvs[16], svs[40];
	shown(pvs, sizeof pvs, pv ? pv : "?");
	shown(svs, sizeof svs, sv ? sv : "?");
	fc_info("tuya: device '%s' (uuid %s) activated from %s: devId %s, MQTT payload %s, firmware %s", d->name,
		d->uuid, client_ip(c->req), d->dev_id, pvs, svs);
	log_default_schema(d);
	*result = r;
	return 0;
}

/* s.gw.dev.pk.active (G1, §1.5): the device keeps its gwId as devId (the reply has none), so the first
 * activation records gwId as the devId before the keys are minted. */
static int act_g1_active(struct atop_call *c, cJSON **result)
{
	struct tuya_dev *d = c->d;
	const char *gw = c->q->gw_id ? c->q->gw_id : c->q->dev_id;
	if (!d->dev_id[0] && gw && strcmp(gw, d->uuid) == 0) {
		struct tuya_import in = {.uuid = d->uuid, .dev_id = gw, .name = d->name};
		char err[200] = "";
		if (tuya_import(c->ctx->ks, &in, err, sizeof err) != 0)
			fc_warn("tuya: cannot keep gwId %s as the devId of device '%s': %s; a new devId is minted", gw,
				d->name, err);
	}
	char err[200] = "";
	if (tuya_activate(c->ctx->ks, d, c->body, c->req->client_ip, err, sizeof err) != 0) {
		fc_error("tuya: activation of device '%s' (uuid %s) failed: %s", d->name, d->uuid, err);
		c->fail_code = ERR_SYSTEM;
		c->fail_msg = "activation could not be stored";
		return 0;
	}
	if (gw && strcmp(gw, d->dev_id) != 0)
		fc_warn("tuya: G1 device '%s' activated with gwId %s but its devId is %s: it will log in to MQTT as "
			"%s, which fakecloud does not know (re-import it with --dev-id %s)",
			d->name, gw, d->dev_id, gw, gw);
	cJSON *r = cJSON_CreateObject();
	bool ok = r && cJSON_AddStringToObject(r, "schema", schema_text(d)) &&
		  cJSON_AddStringToObject(r, "uid", G1_UID) && cJSON_AddStringToObject(r, "devEtag", G1_ETAG) &&
		  cJSON_AddStringToObject(r, "secKey", fc_secret_reveal(&d->sec_key)) &&
		  cJSON_AddStringToObject(r, "schemaId", schema_id(d)) &&
		  cJSON_AddStringToObject(r, "localKey", fc_secret_reveal(&d->local_key));
	if (!ok) {
		cJSON_Delete(r);
		return -1;
	}
	c->notify = true;
	fc_info("tuya: G1 device '%s' (uuid %s) activated from %s: devId %s", d->name, d->uuid, client_ip(c->req),
		d->dev_id);
	log_default_schema(d);
	*result = r;
	return 0;
}

/* tuya.device.uuid.pskkey.get: always "" (§2, as cloudcutter answers). An empty pskKey keeps (or moves)
 * the device on PSK identity 1, whose key fakecloud derives from the identity alone, so the device keeps
 * working even if its record is lost or re-imported without a pskKey. Handing out a pskKey would pin the
 * device on identity 2, which needs that exact key on every TLS connection. Devices that already use
 * identity 2 (a pskKey from the factory) work when that pskKey is imported: both fakecloud-httpd and the
 * broker's PSK listener take 37-byte keys. */
static int act_pskkey(struct atop_call *c, cJSON **result)
{
	cJSON *r = cJSON_CreateObject();
	if (!r || !cJSON_AddStringToObject(r, "pskKey", "")) {
		cJSON_Delete(r);
		return -1;
	}
	if (c->d && fc_secret_len(&c->d->psk_key))
		fc_info("tuya: device '%s' (uuid %s) asked for its pskKey: answered \"\" so that it keeps using TLS-PSK "
			"identity 1, which fakecloud can always serve",
			c->d->name, c->d->uuid);
	*result = r;
	return 0;
}

/* The body of dynamic.config.get: {"ackId","validTime","time","config":{stdTimeZone,dstIntervals}}. */
static cJSON *dyn_config_obj(const struct tz_info *z, int64_t now)
{
	cJSON *o = cJSON_CreateObject(), *cfg = cJSON_CreateObject();
	bool ok = o && cfg && cJSON_AddStringToObject(o, "ackId", "0-0") && cJSON_AddNumberToObject(o, "validTime", 1800) &&
		  cJSON_AddNumberToObject(o, "time", (double)now) && cJSON_AddStringToObject(cfg, "stdTimeZone", z->std) &&
		  add_item(cfg, "dstIntervals", dst_array(z));
	if (ok && cJSON_AddItemToObject(o, "config", cfg))
		return o;
	cJSON_Delete(cfg);
	cJSON_Delete(o);
	return NULL;
}

/* tuya.device.dynamic.config.get: cloudcutter's "double payload" (the same object again under
 * "timezone") satisfies both the T and the N SDK (§1.5, issue #44). */
static int act_dynamic_config(struct atop_call *c, cJSON **result)
{
	struct tz_info z;
	tz_compute(c->ctx->cfg, c->now, &z);
	cJSON *r = dyn_config_obj(&z, c->now);
	if (!r || !add_item(r, "timezone", dyn_config_obj(&z, c->now))) {
		cJSON_Delete(r);
		return -1;
	}
	*result = r;
	return 0;
}

/* timer.count: {"devId","count":0,"lastFetchTime":0}: no cloud timers. */
static int act_timer_count(struct atop_call *c, cJSON **result)
{
	const char *id = c->d && c->d->dev_id[0] ? c->d->dev_id : c->q->gw_id ? c->q->gw_id : c->q->dev_id;
	cJSON *r = cJSON_CreateObject();
	if (!r || !cJSON_AddStringToObject(r, "devId", id ? id : "") || !cJSON_AddNumberToObject(r, "count", 0) ||
	    !cJSON_AddNumberToObject(r, "lastFetchTime", 0)) {
		cJSON_Delete(r);
		return -1;
	}
	*result = r;
	return 0;
}

/* s.gw.token.get (G1) and tuya.device.config.get (G2, §1.2): where the cloud is, and the time zone.
 * s.gw.token.get is answered unencrypted as tuya-convert does; mqttsUrl/mqttsPSKUrl stay empty unless
 * tuya.psk_urls (cloudcutter's reply has them empty). */
static int act_token_get(struct atop_call *c, cJSON **result)
{
	struct endpoints e;
	if (endpoints_get(c->ctx, c->req, &e) != 0) {
		c->fail_code = ERR_SYSTEM;
		c->fail_msg = "fakecloud does not know its own address";
		return 0;
	}
	struct tz_info z;
	tz_compute(c->ctx->cfg, c->now, &z);
	char api[300], psk[300];
	const char *file = strcasecmp(c->req->path, "/gw.json") == 0 ? "gw.json" : "d.json";
	url_of(api, sizeof api, "http", e.host, e.http_port, file);
	url_of(psk, sizeof psk, "https", e.host, e.https_port, file);
	const char *mqtts = e.psk_urls ? e.host : "";
	cJSON *r = cJSON_CreateObject();
	bool ok = r && cJSON_AddStringToObject(r, "gwApiUrl", api) && cJSON_AddStringToObject(r, "stdTimeZone", z.std) &&
		  cJSON_AddStringToObject(r, "mqttRanges", "") && cJSON_AddStringToObject(r, "timeZone", z.cur) &&
		  cJSON_AddStringToObject(r, "httpsPSKUrl", psk) && cJSON_AddStringToObject(r, "mediaMqttUrl", e.host) &&
		  cJSON_AddStringToObject(r, "gwMqttUrl", e.host) && add_item(r, "dstIntervals", dst_array(&z));
	if (ok && c->q->enc != TUYA_ET_NONE)
		ok = cJSON_AddStringToObject(r, "mqttsUrl", mqtts) && cJSON_AddStringToObject(r, "mqttsPSKUrl", mqtts) &&
		     cJSON_AddStringToObject(r, "mediaMqttsUrl", mqtts) && cJSON_AddStringToObject(r, "aispeech", e.host);
	if (!ok) {
		cJSON_Delete(r);
		return -1;
	}
	if (e.mqtt_port != 1883)
		fc_warn("tuya: %s: G1 devices take only a host for MQTT and always use port 1883, but devices are "
			"given MQTT port %u (tuya.mqtt_port / mqtt.port)",
			c->action, e.mqtt_port);
	fc_info("tuya: %s from %s (%s %s): sent ATOP %s, MQTT %s", c->action, client_ip(c->req), c->id_name,
		c->q->gw_id ? c->q->gw_id : c->q->uuid ? c->q->uuid : "-", api, e.host);
	*result = r;
	return 0;
}

/* tuya.device.mesh.get: cloudcutter answers success:false (no mesh). */
static int act_no_mesh(struct atop_call *c, cJSON **result)
{
	(void)result;
	c->fail_code = "NOT_SUPPORT";
	c->fail_msg = NULL;
	return 0;
}

/* tuya.device.reset / s.gw.reset: the device says it was reset (factory reset or unbind). Its keys
 * stay: the next activation gives it the same devId and keys back. */
static int act_reset(struct atop_call *c, cJSON **result)
{
	(void)result;
	char label[300];
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c->body, "type"));
	char ts[40];
	shown(ts, sizeof ts, type ? type : "");
	fc_info("tuya: device %s reports a reset%s%s (%s); it keeps its devId and keys in fakecloud and gets them "
		"back when it activates again",
		dev_label(c->d, label, sizeof label), type ? " of type " : "", ts, c->action);
	return 0;
}

/* upgrade.status.update: log what the device reports (fakecloud offers no update). */
static int act_upgrade_status(struct atop_call *c, cJSON **result)
{
	(void)result;
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(c->body, "upgradeStatus");
	char label[300];
	fc_debug("tuya: device %s upgrade status %d", dev_label(c->d, label, sizeof label),
		 cJSON_IsNumber(st) ? st->valueint : -1);
	return 0;
}

/* One row per action of §1.5. `result` NULL and no fn = {"success":true,"t":..} with no result. */
static const struct atop_action actions[] = {
	/* G2+ (TuyaOS) */
	{"tuya.device.active", 0, NULL, act_active},
	{"tuya.device.uuid.pskkey.get", 0, NULL, act_pskkey},
	{"tuya.device.dynamic.config.get", 0, NULL, act_dynamic_config},
	{"tuya.device.dynamic.config.ack", 0, NULL, NULL},
	{"tuya.device.timer.count", 0, NULL, act_timer_count},
	{"tuya.device.upgrade.silent.get", 0, NULL, NULL}, /* no update */
	{"tuya.device.upgrade.get", 0, NULL, NULL},        /* no update */
	{"tuya.device.upgrade.status.update", 0, NULL, act_upgrade_status},
	{"atop.online.debug.log", 0, "true", NULL},
	{"tuya.device.info.sync", 0, "{\"status\":\"enable\"}", NULL}, /* "reset"/"reset_factory" would reset it */
	{"tuya.device.property.save", 0, NULL, NULL},
	{"tuya.device.versions.update", 0, NULL, NULL},
	{"tuya.device.timer.astronomical.list", 0, "{\"code\":200,\"data\":{}}", NULL},
	{"tuya.device.mesh.get", 0, NULL, act_no_mesh},
	{"tuya.device.beacon.key.fetch", 0, NULL, NULL},
	{"tuya.device.reset", 0, NULL, act_reset},
	{"tuya.device.dev.dp.get", 0, NULL, NULL},
	{"tuya.device.log.report", 0, NULL, NULL},
	{"tuya.device.meta.save", 0, NULL, NULL},
	{"tuya.device.config.get", 0, NULL, act_token_get}, /* G2 variant of s.gw.token.get (§1.2) */
	/* G1 (2018 ESP SDK, gw.json) */
	{"s.gw.token.get", A_PLAIN | A_NO_DEVICE, NULL, act_token_get},
	{"s.gw.dev.pk.active", A_PLAIN | A_ANY_BODY, NULL, act_g1_active},
	{"s.gw.dev.fk.active", A_PLAIN | A_ANY_BODY, NULL, act_g1_active},
	{"s.gw.dev.timer.count", 0, NULL, act_timer_count},
	{"s.gw.dev.timer.get", 0, NULL, NULL},
	{"s.gw.upgrade", 0, NULL, NULL},     /* no update */
	{"s.gw.upgrade.get", 0, NULL, NULL}, /* no update */
	{"s.gw.upgrade.updatestatus", 0, NULL, NULL},
	{"s.gw.update", 0, NULL, NULL},
	{"s.gw.dev.update", 0, NULL, NULL},
	{"s.gw.reset", 0, NULL, act_reset},
};

static const struct atop_action *find_action(const char *a)
{
	for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
		if (strcmp(actions[i].name, a) == 0)
			return &actions[i];
	return NULL;
}

/* A plaintext reply (error forms, G1 forms). */
static int send_text(struct fc_http_resp *resp, int status, char *text /* owned */)
{
	if (!text)
		return -1;
	int rc = fc_http_resp_set_body(resp, status, ATOP_CONTENT_TYPE, text, strlen(text));
	free(text);
	return rc;
}

static int send_plain_error(struct fc_http_resp *resp, const char *code, const char *msg, int64_t now)
{
	return send_text(resp, 200, tuya_atop_inner_error(code, msg, now));
}

static int bad_request(const struct fc_http_req *req, struct fc_http_resp *resp, const char *why)
{
	char q[120], m[16], p[64];
	shown(q, sizeof q, req->query);
	shown(m, sizeof m, req->method);
	shown(p, sizeof p, req->path);
	fc_info("tuya: malformed ATOP request from %s (%s %s?%s): %s", client_ip(req), m, p, q, why);
	char msg[200];
	snprintf(msg, sizeof msg, "malformed request: %s", why);
	return fc_http_resp_error(resp, 400, msg);
}

/* Unknown device: plaintext error plus what the owner must import. */
static int unknown_device(const struct atop_call *c, struct fc_http_resp *resp, const char *id_name, const char *id)
{
	char s[80];
	shown(s, sizeof s, id);
	if (strcmp(id_name, "uuid") == 0)
		fc_warn("tuya: %s from %s: unknown device uuid %s. Import it with its authKey from the flash dump (or "
			"cloudcutter's output): fakecloud device add tuya --uuid %s --auth-key <authKey>",
			c->action, client_ip(c->req), s, s);
	else
		fc_warn("tuya: %s from %s: unknown device %s %s. Import it with the keys it already has: fakecloud "
			"device add tuya --uuid <uuid> --dev-id %s --local-key <localKey> --sec-key <secKey> (or with "
			"--auth-key <authKey> and pair it again)",
			c->action, client_ip(c->req), id_name, s, s);
	return send_plain_error(resp, ERR_UNKNOWN_DEVICE, "device not known to fakecloud", c->now);
}

/* Find the device a request is about. FC_KS_OK (*by set), FC_KS_NOTFOUND (*by = the id tried first),
 * FC_KS_ERR. */
static int lookup(struct fc_keystore *ks, const struct tuya_atop_query *q, struct tuya_dev *d, const char **by,
		  const char **id)
{
	const char *devid = q->dev_id ? q->dev_id : q->gw_id;
	const char *devid_name = q->dev_id ? "devId" : "gwId";
	*by = NULL;
	*id = NULL;
	if (devid) {
		*by = devid_name;
		*id = devid;
		int rc = tuya_dev_by_devid(ks, devid, d);
		if (rc != FC_KS_NOTFOUND)
			return rc;
		/* G1 before activation: its gwId is the factory id the owner imported as uuid. */
		if (q->gw_id && !q->dev_id) {
			rc = tuya_dev_by_uuid(ks, q->gw_id, d);
			if (rc == FC_KS_OK)
				*by = "uuid";
			if (rc != FC_KS_NOTFOUND)
				return rc;
		}
	}
	if (q->uuid) {
		int rc = tuya_dev_by_uuid(ks, q->uuid, d);
		if (rc == FC_KS_OK || !devid) {
			*by = "uuid";
			*id = q->uuid;
		}
		return rc;
	}
	return FC_KS_NOTFOUND;
}

/* Decode the body with the primary key, then (only when it did not decrypt) with the other one. */
static int decode_body(struct atop_call *c, const struct key_ref *primary, const struct key_ref *other,
		       struct tuya_atop_body *b, char *why, size_t whylen)
{
	const struct fc_http_req *req = c->req;
	int rc = TUYA_EKEY;
	if (key_usable(primary) || c->q->enc == TUYA_ET_NONE) {
		const struct fc_secret *s = key_usable(primary) ? primary->s : NULL;
		rc = tuya_atop_body_decode(req->body, req->body_len, c->q->enc, s ? fc_secret_reveal(s) : NULL,
					   s ? fc_secret_len(s) : 0, b, why, whylen);
		if (rc == 0) {
			c->key = *primary;
			return 0;
		}
	}
	if (rc == TUYA_EKEY && key_usable(other)) {
		char why2[160];
		int rc2 = tuya_atop_body_decode(req->body, req->body_len, c->q->enc, fc_secret_reveal(other->s),
						fc_secret_len(other->s), b, why2, sizeof why2);
		if (rc2 == 0) {
			char label[300];
			fc_info("tuya: device %s encrypted %s with its %s, not its %s; answering with the %s",
				dev_label(c->d, label, sizeof label), c->action, other->name, primary->name, other->name);
			c->key = *other;
			return 0;
		}
	}
	c->key = *primary;
	return rc;
}

static void check_sign(const struct atop_call *c, bool loud)
{
	if (!key_usable(&c->key))
		return;
	const char *reason = NULL;
	enum tuya_sign_check sc =
		tuya_atop_query_verify(c->q, fc_secret_reveal(c->key.s), fc_secret_len(c->key.s), &reason);
	if (sc == TUYA_SIGN_OK)
		return;
	char label[300];
	if (sc == TUYA_SIGN_MISMATCH && loud)
		fc_info("tuya: %s from device %s: the request sign does not match its %s (answered anyway)", c->action,
			dev_label(c->d, label, sizeof label), c->key.name);
	else
		fc_debug("tuya: %s from device %s: %s (answered anyway)", c->action, dev_label(c->d, label, sizeof label),
			 reason ? reason : "sign not checked");
}

static int h_atop(const struct fc_http_ctx *ctx, const struct fc_http_req *req, struct fc_http_resp *resp)
{
	struct tuya_atop_query *q = malloc(sizeof *q); /* ~4.5 KiB: keep it off the MHD thread's stack */
	if (!q)
		return -1;
	struct atop_call c = {.ctx = ctx, .req = req, .q = q, .now = now_s(ctx)};
	struct tuya_dev d;
	memset(&d, 0, sizeof d);
	bool have_dev = false;
	struct tuya_atop_body b;
	memset(&b, 0, sizeof b);
	cJSON *result = NULL;
	char action[96] = "";
	int rc = -1;

	char why[200] = "";
	const char *query = req->query ? req->query : "";
	if (tuya_atop_query_parse(query, strlen(query), q, why, sizeof why) != 0) {
		rc = bad_request(req, resp, why);
		goto out;
	}
	if (!q->a || !q->a[0]) {
		rc = bad_request(req, resp, "no action (a=)");
		goto out;
	}
	shown(action, sizeof action, q->a);
	c.action = action;
	if (q->enc == TUYA_ET_UNKNOWN) {
		char e[40], w[120];
		shown(e, sizeof e, q->et);
		snprintf(w, sizeof w, "et=%s is not supported (1 = AES-ECB, 3 = AES-GCM)", e);
		rc = bad_request(req, resp, w);
		goto out;
	}
	const struct atop_action *act = find_action(q->a);
	unsigned flags = act ? act->flags : 0;

	struct key_ref primary = {NULL, "key"}, other = {NULL, "key"};
	if (!(flags & A_NO_DEVICE)) {
		if (!ctx->ks) {
			rc = fc_http_resp_error(resp, 503, "keystore unavailable");
			goto out;
		}
		const char *by = NULL, *id = NULL;
		int lrc = lookup(ctx->ks, q, &d, &by, &id);
		if (lrc == FC_KS_ERR) {
			fc_error("tuya: keystore error while looking up the device of %s from %s", action, client_ip(req));
			rc = fc_http_resp_error(resp, 503, "keystore unavailable");
			goto out;
		}
		if (!by) {
			rc = bad_request(req, resp, "no uuid, devId or gwId");
			goto out;
		}
		if (lrc != FC_KS_OK) {
			rc = unknown_device(&c, resp, by, id);
			goto out;
		}
		have_dev = true;
		c.d = &d;
		c.id_name = by;
		struct key_ref auth = {&d.auth_key, "authKey"}, sec = {&d.sec_key, "secKey"};
		primary = strcmp(by, "uuid") == 0 ? auth : sec;
		other = strcmp(by, "uuid") == 0 ? sec : auth;
		if (!key_usable(&primary) && key_usable(&other)) {
			struct key_ref t = primary;
			primary = other;
			other = t;
		}
		if (!key_usable(&primary) && q->enc != TUYA_ET_NONE && !(flags & A_PLAIN)) {
			char label[300];
			fc_warn("tuya: %s from device %s: fakecloud has neither its authKey nor its secKey. Import the "
				"authKey from the flash dump: fakecloud device add tuya --uuid %s --auth-key <authKey>",
				action, dev_label(&d, label, sizeof label), d.uuid);
			rc = send_plain_error(resp, ERR_NO_KEY, "no key for this device", c.now);
			goto out;
		}
	} else {
		c.id_name = q->gw_id ? "gwId" : q->uuid ? "uuid" : q->dev_id ? "devId" : "id";
	}

	/* The body. */
	if (c.d) {
		int brc = decode_body(&c, &primary, &other, &b, why, sizeof why);
		if (brc != 0 && (flags & A_ANY_BODY)) {
			fc_debug("tuya: %s body ignored: %s", action, why);
			tuya_atop_body_free(&b);
		} else if (brc == TUYA_EKEY) {
			char label[300];
			bool both = key_usable(&other);
			fc_warn("tuya: %s from device %s does not decrypt with its %s%s%s: the device has a different key "
				"than fakecloud. %s",
				action, dev_label(&d, label, sizeof label), primary.name, both ? " nor its " : "",
				both ? other.name : "",
				strcmp(primary.name, "authKey") == 0
					? "Read the authKey from the device's flash dump again and re-import it: fakecloud "
					  "device add tuya --uuid <uuid> --auth-key <authKey>"
					: "Re-import the secKey the device has (--sec-key), or reset the device and pair it "
					  "again");
			rc = send_plain_error(resp, ERR_DECRYPT, "request does not decrypt", c.now);
			goto out;
		} else if (brc != 0) {
			rc = bad_request(req, resp, why);
			goto out;
		}
	}
	c.body = b.root;
	if (c.d)
		check_sign(&c, act && act->fn == act_active);

	/* The answer. */
	if (act && act->fn) {
		if (act->fn(&c, &result) != 0)
			goto out;
	} else if (act && act->result) {
		result = cJSON_Parse(act->result);
		if (!result)
			goto out;
	}
	if (!act) {
		char v[24], label[300];
		shown(v, sizeof v, q->v ? q->v : "-");
		fc_info("tuya: unknown ATOP action '%s' (v=%s) from %s: answered the generic success", action, v,
			c.d ? dev_label(c.d, label, sizeof label) : client_ip(req));
	} else {
		char label[300];
		fc_debug("tuya: %s from %s%s", action, c.d ? dev_label(c.d, label, sizeof label) : client_ip(req),
			 c.fail_code ? " -> success:false" : "");
	}

	bool plain = (flags & A_PLAIN) || q->enc == TUYA_ET_NONE || !key_usable(&c.key);
	char err[160] = "";
	char *text;
	if (c.fail_code) {
		char *inner = tuya_atop_inner_error(c.fail_code, c.fail_msg, c.now);
		if (!inner || plain) {
			text = inner;
		} else {
			text = tuya_atop_envelope(inner, strlen(inner), q->enc, c.now, fc_secret_reveal(c.key.s),
						  fc_secret_len(c.key.s), NULL, err, sizeof err);
			fc_wipe(inner, strlen(inner));
			free(inner);
		}
	} else if (plain) {
		text = tuya_atop_response(result, TUYA_ET_NONE, c.now, NULL, 0, err, sizeof err);
	} else {
		text = tuya_atop_response(result, q->enc, c.now, fc_secret_reveal(c.key.s), fc_secret_len(c.key.s), err,
					  sizeof err);
	}
	if (!text) {
		fc_error("tuya: cannot build the reply to %s: %s", action, err[0] ? err : "out of memory");
		goto out;
	}
	size_t tl = strlen(text);
	rc = fc_http_resp_set_body(resp, 200, ATOP_CONTENT_TYPE, text, tl);
	fc_wipe(text, tl);
	free(text);
	if (rc == 0 && c.notify && have_dev)
		notify_changed(ctx, &d);
out:
	cJSON_Delete(result);
	tuya_atop_body_free(&b);
	if (have_dev)
		tuya_dev_free(&d);
	free(q);
	return rc;
}

/* ------------------------------------------------------------------------------------------------ */
/* TLS-PSK (§2) */

struct v2_find {
	const struct tuya_psk_id *id;
	char uuid[128];
	char name[128];
	bool found;
	struct tuya_dev d; /* loaded when found */
	bool loaded;
};

static int v2_find_cb(void *vctx, const struct fc_device_row *row)
{
	struct v2_find *f = vctx;
	if (row_removed(row) || !tuya_psk_id_v2_matches(f->id, row->vid))
		return 0;
	f->found = true;
	snprintf(f->uuid, sizeof f->uuid, "%s", row->vid);
	snprintf(f->name, sizeof f->name, "%s", row->name);
	char err[128];
	f->loaded = tuya_dev_from_row(row, &f->d, err, sizeof err) == 0;
	return 1;
}

static int psk_key(const struct fc_http_ctx *ctx, const uint8_t *identity, size_t idlen, uint8_t *key,
		   size_t *keylen)
{
	if (!identity || idlen == 0 || !key || !keylen)
		return 1;
	if (identity[0] == 0x01) {
		/* Identity 1: the PSK follows from the identity and the hint. The device cannot use a hint we
		 * send (fakecloud-httpd sends none for plain PSK, and an mbedtls client sets its PSK before the
		 * handshake), so it derives with its built-in one, the hint tuya-convert and cloudcutter use. */
		if (idlen < 33 || idlen > TUYA_PSK_ID_MAX)
			return 1;
		if (*keylen < TUYA_PSK_LEN) {
			fc_error("tuya: TLS-PSK key buffer too small (%zu < %d)", *keylen, TUYA_PSK_LEN);
			return -1;
		}
		uint8_t psk[TUYA_PSK_LEN];
		char err[120];
		if (tuya_psk_v1_derive(identity, idlen, TUYA_PSK_HINT, TUYA_PSK_HINT_LEN, psk, err, sizeof err) != 0) {
			fc_info("tuya: TLS-PSK identity 1 refused: %s", err);
			return -1;
		}
		memcpy(key, psk, TUYA_PSK_LEN);
		fc_wipe(psk, sizeof psk);
		*keylen = TUYA_PSK_LEN;
		if (fc_log_get_level() <= FC_LOG_DEBUG) {
			struct v1_find f;
			psk_identity_device(ctx ? ctx->ks : NULL, identity, idlen, &f);
			if (f.uuid[0])
				fc_debug("tuya: TLS-PSK identity 1 of device '%s' (uuid %s)", f.name, f.uuid);
			else
				fc_debug("tuya: TLS-PSK identity 1 of a device not imported yet (%zu bytes)", idlen);
		}
		return 0;
	}
	if (identity[0] != 0x02 || idlen != TUYA_PSK_ID_V2_LEN)
		return 1;

	/* Identity 2: 0x02 || random(16) || sha256(uuid); the PSK is the device's own 37-char pskKey. */
	struct tuya_psk_id id;
	if (tuya_psk_id_parse(identity, idlen, &id, NULL, 0) != 0)
		return 1;
	if (!ctx || !ctx->ks)
		return -1;
	struct v2_find f;
	memset(&f, 0, sizeof f);
	f.id = &id;
	fc_ks_device_each(ctx->ks, "tuya", v2_find_cb, &f);
	int ret = -1;
	if (!f.found) {
		fc_warn("tuya: a device uses TLS-PSK identity 2, whose key is its own pskKey, and no imported device "
			"matches it. Import the device with the 37-character pskKey from its flash dump: fakecloud "
			"device add tuya --uuid <uuid> --auth-key <authKey> --psk-key <pskKey>");
	} else if (!f.loaded) {
		fc_error("tuya: device '%s' (uuid %s) uses TLS-PSK identity 2 but its stored record is unusable", f.name,
			 f.uuid);
	} else if (fc_secret_len(&f.d.psk_key) == 0) {
		fc_warn("tuya: device '%s' (uuid %s) uses TLS-PSK identity 2, whose key is its own pskKey, and no pskKey "
			"is imported. Import the 37-character pskKey from its flash dump: fakecloud device add tuya "
			"--uuid %s --auth-key <authKey> --psk-key <pskKey>",
			f.name, f.uuid, f.uuid);
	} else if (fc_secret_len(&f.d.psk_key) > *keylen) {
		fc_error("tuya: device '%s' (uuid %s) uses TLS-PSK identity 2 with its %zu-byte pskKey, but the TLS "
			 "server offered room for %zu bytes only: the handshake is refused",
			 f.name, f.uuid, fc_secret_len(&f.d.psk_key), *keylen);
	} else {
		size_t n = fc_secret_len(&f.d.psk_key);
		memcpy(key, fc_secret_reveal(&f.d.psk_key), n);
		*keylen = n;
		fc_debug("tuya: TLS-PSK identity 2 of device '%s' (uuid %s)", f.name, f.uuid);
		ret = 0;
	}
	if (f.loaded)
		tuya_dev_free(&f.d);
	return ret;
}

/* ------------------------------------------------------------------------------------------------ */

static const struct fc_http_route tuya_routes[] = {
	{"POST", "/v1/url_config", FC_ROUTE_CASEI, h_url_config_v1},
	{"POST", "/v2/url_config", FC_ROUTE_CASEI, h_url_config_v2},
	{NULL, "/device/url_config", FC_ROUTE_CASEI, h_url_config_legacy},
	{"POST", "/d.json", FC_ROUTE_CASEI, h_atop},
	{"GET", "/d.json", FC_ROUTE_CASEI, h_atop},
	{"POST", "/gw.json", FC_ROUTE_CASEI, h_atop},
	{"GET", "/gw.json", FC_ROUTE_CASEI, h_atop},
	{NULL, NULL, 0, NULL},
};

const struct fc_vendor_http tuya_http = {
	.routes = tuya_routes,
	.psk_key = psk_key,
};
