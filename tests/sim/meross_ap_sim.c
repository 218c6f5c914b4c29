/* Meross AP-mode / LAN device simulator: see meross_ap_sim.h. Independent of vendors/ (built from the
 * fact sheet, /work/shared/protocols/meross.md §2 and §5, with core/crypto and mbedtls only). One thread
 * accepts and serves connections one at a time, as the small HTTP servers of device firmware do. */
#include "sim/meross_ap_sim.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/ecp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/crypto.h"

#define MAX_HEAD 8192
#define MAX_BODY (192 * 1024)
#define IO_TIMEOUT_MS 5000
#define NS_SLOTS 32
#define ERR_SIGN 5001
#define ERR_OTHER 5000 /* undocumented: the code a device uses for other refusals is not known */

struct ns_count {
	char method[8];
	char ns[64];
	long n;
};

struct meross_ap_sim {
	struct meross_ap_sim_opts o;
	int lfd, port;
	pthread_t thread;
	pthread_mutex_t mu;
	bool stop; /* under mu */
	/* device state: the serving thread only, except `rx` and `nsc` (under mu) */
	char key[257];       /* key the device booted with: signs, checks, derives */
	char user_id[24];
	char server[256];
	long server_port;
	bool configured;     /* booted with a key (a re-home applies Config.Key at once) */
	bool have_session;   /* ENC_*: session key available */
	char session[33];
	mbedtls_ecp_group grp;
	mbedtls_mpi dev_d;
	mbedtls_ecp_point dev_q;
	struct meross_ap_received rx;
	struct ns_count nsc[NS_SLOTS];
};

/* ---------------------------------------------------------------- small helpers */

static int rng(void *ctx, unsigned char *buf, size_t len)
{
	(void)ctx;
	return fc_random(buf, len) == 0 ? 0 : -1;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void violation(struct meross_ap_sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void violation(struct meross_ap_sim *s, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&s->mu);
	s->rx.violations++;
	snprintf(s->rx.last_violation, sizeof s->rx.last_violation, "%s", buf);
	pthread_mutex_unlock(&s->mu);
	fprintf(stderr, "meross_ap_sim: violation: %s\n", buf);
}

static void count_ns(struct meross_ap_sim *s, const char *method, const char *ns)
{
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < NS_SLOTS; i++) {
		struct ns_count *c = &s->nsc[i];
		if (!c->ns[0]) {
			snprintf(c->method, sizeof c->method, "%s", method);
			snprintf(c->ns, sizeof c->ns, "%s", ns);
		}
		if (!strcmp(c->method, method) && !strcmp(c->ns, ns)) {
			c->n++;
			break;
		}
	}
	pthread_mutex_unlock(&s->mu);
}

static bool is_lhex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

static bool is_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f') || (p[i] >= 'A' && p[i] <= 'F')))
			return false;
	return true;
}

static bool all_digits(const char *p)
{
	size_t n = 0;
	for (; p[n]; n++)
		if (p[n] < '0' || p[n] > '9')
			return false;
	return n >= 1 && n <= 19;
}

/* Integral JSON number in [lo, hi] -> *out. */
static bool jint(const cJSON *it, double lo, double hi, long long *out)
{
	if (!cJSON_IsNumber(it))
		return false;
	double v = it->valuedouble;
	if (!(v >= lo && v <= hi) || (double)(long long)v != v)
		return false;
	*out = (long long)v;
	return true;
}

/* A port: number or numeric string, 1..65535; -1 when not. */
static long jport(const cJSON *it)
{
	long long v;
	if (jint(it, 1, 65535, &v))
		return (long)v;
	if (cJSON_IsString(it) && it->valuestring[0] && strlen(it->valuestring) <= 5 && all_digits(it->valuestring)) {
		long p = strtol(it->valuestring, NULL, 10);
		return p >= 1 && p <= 65535 ? p : -1;
	}
	return -1;
}

/* md5hex(s1 + s2 + ...), NULL-terminated list. */
static void md5_cat(char out[33], ...)
{
	char buf[1024];
	size_t n = 0;
	va_list ap;
	va_start(ap, out);
	for (const char *p; (p = va_arg(ap, const char *));) {
		size_t k = strlen(p);
		if (n + k > sizeof buf)
			k = sizeof buf - n;
		memcpy(buf + n, p, k);
		n += k;
	}
	va_end(ap);
	fc_md5_hex(buf, n, out);
}

/* Python s[a:b] into out. */
static void pyslice(const char *s, size_t a, size_t b, char *out, size_t cap)
{
	size_t n = strlen(s);
	size_t from = a < n ? a : n, to = b < n ? b : n;
	size_t k = to > from ? to - from : 0;
	if (k >= cap)
		k = cap - 1;
	memcpy(out, s + from, k);
	out[k] = '\0';
}

/* md5hex(uuid[3:22] + key[1:9] + mac + key[10:28]) with the booted key. */
static void direct_key(struct meross_ap_sim *s, char out[33])
{
	char u[32], k1[16], k2[32];
	pyslice(s->o.uuid, 3, 22, u, sizeof u);
	pyslice(s->key, 1, 9, k1, sizeof k1);
	pyslice(s->key, 10, 28, k2, sizeof k2);
	md5_cat(out, u, k1, s->o.mac, k2, (const char *)NULL);
}

/* AES-256-CBC, IV "0000000000000000", key = 32 ASCII chars. Encrypt pads with zero bytes to a whole block
 * (none when already aligned: the bytespider v1 / device-side choice is not documented, so the sim takes
 * the other one than the CLI). */
static char *aes_b64_encrypt(const char key[33], const char *text)
{
	size_t n = strlen(text);
	size_t padded = (n + 15) / 16 * 16;
	if (padded == 0)
		padded = 16;
	uint8_t *buf = calloc(1, padded);
	size_t cap = padded / 3 * 4 + 8;
	char *out = malloc(cap);
	uint8_t iv[16];
	memcpy(iv, "0000000000000000", 16);
	size_t m = 0, bl = 0;
	if (!buf || !out) {
		free(buf);
		free(out);
		return NULL;
	}
	memcpy(buf, text, n);
	if (fc_aes_cbc_encrypt((const uint8_t *)key, 32, iv, FC_PAD_NONE, buf, padded, buf, padded, &m) != 0 ||
	    fc_base64_encode(buf, m, out, cap, &bl) != 0) {
		free(buf);
		free(out);
		return NULL;
	}
	free(buf);
	return out;
}

/* base64 -> AES -> strip trailing zeros. Returns malloc'd NUL-terminated text or NULL. *raw_len = the
 * ciphertext length. Fails when the plaintext has a NUL before its zero padding. */
static char *aes_b64_decrypt(const char key[33], const char *b64, size_t len, size_t *out_len, size_t *raw_len)
{
	size_t cap = len / 4 * 3 + 4;
	uint8_t *buf = malloc(cap + 1);
	if (!buf)
		return NULL;
	size_t n = 0;
	uint8_t iv[16];
	memcpy(iv, "0000000000000000", 16);
	if (fc_base64_decode(b64, len, buf, cap, &n) != 0 || n == 0 || n % 16 != 0 ||
	    fc_aes_cbc_decrypt((const uint8_t *)key, 32, iv, FC_PAD_NONE, buf, n, buf, n, &n) != 0) {
		free(buf);
		return NULL;
	}
	if (raw_len)
		*raw_len = n;
	while (n && buf[n - 1] == 0)
		n--;
	if (memchr(buf, 0, n)) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*out_len = n;
	return (char *)buf;
}

/* ---------------------------------------------------------------- messages */

static char *build(struct meross_ap_sim *s, const char *mid, const char *ns, const char *method, cJSON *payload)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char tstr[24], sign[33];
	snprintf(tstr, sizeof tstr, "%lld", (long long)ts.tv_sec);
	md5_cat(sign, mid, s->key, tstr, (const char *)NULL);
	cJSON *root = cJSON_CreateObject();
	cJSON *h = cJSON_AddObjectToObject(root, "header");
	cJSON_AddStringToObject(h, "messageId", mid);
	cJSON_AddStringToObject(h, "namespace", ns);
	cJSON_AddStringToObject(h, "method", method);
	cJSON_AddNumberToObject(h, "payloadVersion", 1);
	cJSON_AddStringToObject(h, "from", "http://10.10.10.1/config");
	cJSON_AddRawToObject(h, "timestamp", tstr);
	cJSON_AddNumberToObject(h, "timestampMs", (double)(ts.tv_nsec / 1000000));
	cJSON_AddStringToObject(h, "sign", sign);
	cJSON_AddItemToObject(root, "payload", payload ? payload : cJSON_CreateObject());
	char *text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return text;
}

static char *error_reply(struct meross_ap_sim *s, const char *mid, const char *ns, int code, const char *detail)
{
	cJSON *pl = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(pl, "error");
	cJSON_AddNumberToObject(e, "code", code);
	cJSON_AddStringToObject(e, "detail", detail);
	return build(s, mid, ns, "ERROR", pl);
}

static cJSON *system_all(struct meross_ap_sim *s)
{
	cJSON *pl = cJSON_CreateObject();
	cJSON *all = cJSON_AddObjectToObject(pl, "all");
	cJSON *sys = cJSON_AddObjectToObject(all, "system");
	cJSON *hw = cJSON_AddObjectToObject(sys, "hardware");
	cJSON_AddStringToObject(hw, "type", s->o.type);
	cJSON_AddStringToObject(hw, "subType", "eu");
	cJSON_AddStringToObject(hw, "version", s->o.hw_version);
	cJSON_AddStringToObject(hw, "chipType", "mt7686");
	cJSON_AddStringToObject(hw, "uuid", s->o.uuid);
	cJSON_AddStringToObject(hw, "macAddress", s->o.mac);
	cJSON *fw = cJSON_AddObjectToObject(sys, "firmware");
	cJSON_AddStringToObject(fw, "version", s->o.fw_version);
	cJSON_AddStringToObject(fw, "compileTime", "2021/04/07-16:08:36");
	if (s->o.wifix)
		cJSON_AddNumberToObject(fw, "encrypt", 1);
	cJSON_AddStringToObject(fw, "wifiMac", "de:ad:00:00:be:ef");
	cJSON_AddStringToObject(fw, "innerIp", "10.10.10.1");
	cJSON_AddStringToObject(fw, "server", s->server);
	cJSON_AddNumberToObject(fw, "port", (double)s->server_port);
	cJSON_AddNumberToObject(fw, "userId", s->user_id[0] ? strtod(s->user_id, NULL) : 0);
	cJSON *t = cJSON_AddObjectToObject(sys, "time");
	cJSON_AddNumberToObject(t, "timestamp", 4);
	cJSON_AddStringToObject(t, "timezone", "");
	cJSON_AddArrayToObject(t, "timeRule");
	cJSON *on = cJSON_AddObjectToObject(sys, "online");
	cJSON_AddNumberToObject(on, "status", 0);
	cJSON *dg = cJSON_AddObjectToObject(all, "digest");
	cJSON *tx = cJSON_AddArrayToObject(dg, "togglex");
	cJSON *c0 = cJSON_CreateObject();
	cJSON_AddNumberToObject(c0, "channel", 0);
	cJSON_AddNumberToObject(c0, "onoff", 0);
	cJSON_AddNumberToObject(c0, "lmTime", 0);
	cJSON_AddItemToArray(tx, c0);
	cJSON_AddArrayToObject(dg, "triggerx");
	cJSON_AddArrayToObject(dg, "timerx");
	return pl;
}

static cJSON *ability(struct meross_ap_sim *s)
{
	static const char *const base[] = {"Appliance.Config.Key",     "Appliance.Config.Wifi",
					   "Appliance.Config.Trace",   "Appliance.System.All",
					   "Appliance.System.Ability", "Appliance.System.Time",
					   "Appliance.System.Clock",   "Appliance.Control.ToggleX",
					   "Appliance.Control.Bind",   "Appliance.Control.Unbind"};
	cJSON *pl = cJSON_CreateObject();
	cJSON_AddNumberToObject(pl, "payloadVersion", 1);
	cJSON *ab = cJSON_AddObjectToObject(pl, "ability");
	for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
		cJSON_AddObjectToObject(ab, base[i]);
	if (s->o.wifix)
		cJSON_AddObjectToObject(ab, "Appliance.Config.WifiX");
	if (s->o.wifilist)
		cJSON_AddObjectToObject(ab, "Appliance.Config.WifiList");
	if (s->o.crypto != MEROSS_AP_PLAIN)
		cJSON_AddObjectToObject(ab, "Appliance.Encrypt.ECDHE");
	return pl;
}

static void add_ap(cJSON *list, const char *ssid, const char *bssid, int signal, int ch, int enc, int cipher)
{
	char b64[64];
	size_t n = 0;
	fc_base64_encode(ssid, strlen(ssid), b64, sizeof b64, &n);
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "ssid", b64);
	cJSON_AddStringToObject(e, "bssid", bssid);
	cJSON_AddNumberToObject(e, "signal", signal);
	cJSON_AddNumberToObject(e, "channel", ch);
	cJSON_AddNumberToObject(e, "encryption", enc);
	cJSON_AddNumberToObject(e, "cipher", cipher);
	cJSON_AddItemToArray(list, e);
}

static cJSON *wifi_list(struct meross_ap_sim *s)
{
	cJSON *pl = cJSON_CreateObject();
	cJSON *l = cJSON_AddArrayToObject(pl, "wifiList");
	add_ap(l, "NeighbourNet", "11:22:33:44:55:66", 40, 11, 8, 4);
	add_ap(l, s->o.ap_ssid, "00:00:00:00:00:01", 20, 1, 6, 3); /* same ssid, weaker: must not be chosen */
	add_ap(l, s->o.ap_ssid, s->o.ap_bssid, 90, s->o.ap_channel, s->o.ap_encryption, s->o.ap_cipher);
	return pl;
}

/* ---- SET handlers: NULL payload + *code/detail set = refuse ---- */

struct refusal {
	int code;
	char detail[160];
};

static cJSON *refuse(struct meross_ap_sim *s, struct refusal *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static cJSON *refuse(struct meross_ap_sim *s, struct refusal *r, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof r->detail, fmt, ap);
	va_end(ap);
	r->code = code;
	violation(s, "%s", r->detail);
	return NULL;
}

static cJSON *set_key(struct meross_ap_sim *s, const cJSON *payload, struct refusal *r)
{
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(payload, "key");
	const cJSON *gw = cJSON_GetObjectItemCaseSensitive(k, "gateway");
	if (!cJSON_IsObject(k) || !cJSON_IsObject(gw))
		return refuse(s, r, ERR_OTHER, "Config.Key: payload.key.gateway missing");
	const char *host = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(gw, "host"));
	const char *host2 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(gw, "secondHost"));
	long port = jport(cJSON_GetObjectItemCaseSensitive(gw, "port"));
	long port2 = jport(cJSON_GetObjectItemCaseSensitive(gw, "secondPort"));
	const cJSON *redirect = cJSON_GetObjectItemCaseSensitive(gw, "redirect");
	const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(k, "key"));
	const cJSON *uid = cJSON_GetObjectItemCaseSensitive(k, "userId");
	long long rd = -1;
	if (!host || !host[0] || strlen(host) > 255)
		return refuse(s, r, ERR_OTHER, "Config.Key: gateway.host missing or invalid");
	if (!host2 || !host2[0] || strlen(host2) > 255)
		return refuse(s, r, ERR_OTHER, "Config.Key: gateway.secondHost missing (devices stall without it)");
	if (port < 0 || port2 < 0)
		return refuse(s, r, ERR_OTHER, "Config.Key: gateway.port/secondPort missing or not 1-65535");
	if (redirect && !jint(redirect, 0, 9, &rd))
		return refuse(s, r, ERR_OTHER, "Config.Key: gateway.redirect not a small integer");
	if (!key || strlen(key) > 256)
		return refuse(s, r, ERR_OTHER, "Config.Key: key.key missing or too long");
	if (!cJSON_IsString(uid) || !all_digits(uid->valuestring))
		return refuse(s, r, ERR_OTHER, "Config.Key: key.userId must be a string of digits");
	pthread_mutex_lock(&s->mu);
	s->rx.key_set = true;
	snprintf(s->rx.gw_host, sizeof s->rx.gw_host, "%s", host);
	snprintf(s->rx.gw_host2, sizeof s->rx.gw_host2, "%s", host2);
	s->rx.gw_port = port;
	s->rx.gw_port2 = port2;
	s->rx.redirect = (long)rd;
	snprintf(s->rx.key, sizeof s->rx.key, "%s", key);
	snprintf(s->rx.user_id, sizeof s->rx.user_id, "%s", uid->valuestring);
	pthread_mutex_unlock(&s->mu);
	if (s->configured) { /* a re-home: the device reconnects with the new settings */
		snprintf(s->key, sizeof s->key, "%s", key);
		snprintf(s->user_id, sizeof s->user_id, "%s", uid->valuestring);
		snprintf(s->server, sizeof s->server, "%s", host);
		s->server_port = port;
	}
	return cJSON_CreateObject();
}

static cJSON *set_wifi(struct meross_ap_sim *s, bool x, const cJSON *payload, struct refusal *r)
{
	if (x && !s->o.wifix)
		return refuse(s, r, ERR_OTHER, "Config.WifiX sent to a device that does not list it");
	if (!x && s->o.wifix)
		return refuse(s, r, ERR_OTHER, "Config.Wifi sent to a device that lists Config.WifiX");
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(payload, "wifi");
	const char *ssid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "ssid"));
	const char *pw = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "password"));
	if (!cJSON_IsObject(w) || !ssid || !pw)
		return refuse(s, r, ERR_OTHER, "Config.Wifi%s: wifi.ssid/password missing", x ? "X" : "");
	uint8_t sbuf[64];
	size_t sn = 0;
	if (strlen(ssid) > 64 || fc_base64_decode(ssid, strlen(ssid), sbuf, sizeof sbuf, &sn) != 0 || sn < 1 || sn > 32 ||
	    memchr(sbuf, 0, sn))
		return refuse(s, r, ERR_OTHER, "wifi.ssid is not base64 of 1-32 bytes");
	char plain[65] = "";
	size_t pn = 0, raw = 0;
	if (x) {
		char k[33];
		md5_cat(k, s->o.type, s->o.uuid, s->o.mac, (const char *)NULL);
		char *d = strlen(pw) <= 4 * 96 ? aes_b64_decrypt(k, pw, strlen(pw), &pn, &raw) : NULL;
		if (!d || pn > 64) {
			free(d);
			return refuse(s, r, ERR_OTHER, "WifiX password does not decrypt with md5(type+uuid+mac)");
		}
		memcpy(plain, d, pn + 1);
		free(d);
	} else {
		uint8_t pb[100];
		if (strlen(pw) > 128 || fc_base64_decode(pw, strlen(pw), pb, sizeof pb, &pn) != 0 || pn > 64 ||
		    memchr(pb, 0, pn))
			return refuse(s, r, ERR_OTHER, "wifi.password is not base64 of at most 64 bytes");
		memcpy(plain, pb, pn);
		plain[pn] = '\0';
	}
	const cJSON *bssid = cJSON_GetObjectItemCaseSensitive(w, "bssid");
	if (bssid && (!cJSON_IsString(bssid) || strlen(bssid->valuestring) > 39))
		return refuse(s, r, ERR_OTHER, "wifi.bssid not a string");
	long long vals[3] = {-1, -1, -1};
	static const char *const nums[3] = {"channel", "encryption", "cipher"};
	for (int i = 0; i < 3; i++) {
		const cJSON *it = cJSON_GetObjectItemCaseSensitive(w, nums[i]);
		if (it && !jint(it, 0, 255, &vals[i]))
			return refuse(s, r, ERR_OTHER, "wifi.%s not a small integer", nums[i]);
	}
	pthread_mutex_lock(&s->mu);
	s->rx.wifi_set = true;
	s->rx.wifi_x = x;
	memcpy(s->rx.ssid, sbuf, sn);
	s->rx.ssid[sn] = '\0';
	memcpy(s->rx.password, plain, pn + 1);
	s->rx.password_len = pn;
	s->rx.password_cipher_len = raw;
	snprintf(s->rx.bssid, sizeof s->rx.bssid, "%s", bssid ? bssid->valuestring : "");
	s->rx.channel = (long)vals[0];
	s->rx.encryption = (long)vals[1];
	s->rx.cipher = (long)vals[2];
	s->rx.rebooted = true;
	/* "reboot": the received Config.Key becomes the device's configuration */
	if (s->rx.key_set) {
		snprintf(s->key, sizeof s->key, "%s", s->rx.key);
		snprintf(s->user_id, sizeof s->user_id, "%s", s->rx.user_id);
		snprintf(s->server, sizeof s->server, "%s", s->rx.gw_host);
		s->server_port = s->rx.gw_port;
		s->configured = true;
	}
	pthread_mutex_unlock(&s->mu);
	s->have_session = false;
	return cJSON_CreateObject();
}

static cJSON *set_ecdhe(struct meross_ap_sim *s, const cJSON *payload, struct refusal *r)
{
	if (s->o.crypto != MEROSS_AP_ENC_ECDHE)
		return refuse(s, r, ERR_OTHER, "SET Encrypt.ECDHE on a device without the exchange");
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(payload, "ecdhe");
	long long step = 0;
	const char *pk = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "pubkey"));
	if (!jint(cJSON_GetObjectItemCaseSensitive(e, "step"), 1, 1, &step) || !pk || strlen(pk) > 200)
		return refuse(s, r, ERR_OTHER, "Encrypt.ECDHE: ecdhe.step 1 and ecdhe.pubkey expected");
	uint8_t pub[160];
	size_t pn = 0;
	if (fc_base64_decode(pk, strlen(pk), pub, sizeof pub, &pn) != 0 || pn != 65)
		return refuse(s, r, ERR_OTHER, "Encrypt.ECDHE: pubkey is not base64 of a 65-byte point");
	if (s->o.ecdhe_expect_preshared) {
		char d[33];
		direct_key(s, d);
		mbedtls_mpi x;
		mbedtls_ecp_point q;
		mbedtls_mpi_init(&x);
		mbedtls_ecp_point_init(&q);
		uint8_t want[65];
		size_t wn = 0;
		int rc = mbedtls_mpi_read_binary(&x, (const unsigned char *)d, 32) ||
			 mbedtls_ecp_mul(&s->grp, &q, &x, &s->grp.G, rng, NULL) ||
			 mbedtls_ecp_point_write_binary(&s->grp, &q, MBEDTLS_ECP_PF_UNCOMPRESSED, &wn, want, sizeof want);
		mbedtls_mpi_free(&x);
		mbedtls_ecp_point_free(&q);
		if (rc || wn != 65 || memcmp(want, pub, 65) != 0)
			return refuse(s, r, ERR_OTHER, "Encrypt.ECDHE: not the preshared client public key");
	}
	mbedtls_ecp_point peer;
	mbedtls_mpi z;
	mbedtls_ecp_point_init(&peer);
	mbedtls_mpi_init(&z);
	uint8_t secret[32];
	int rc = mbedtls_ecp_point_read_binary(&s->grp, &peer, pub, pn) || mbedtls_ecp_check_pubkey(&s->grp, &peer) ||
		 mbedtls_ecdh_compute_shared(&s->grp, &z, &peer, &s->dev_d, rng, NULL) ||
		 mbedtls_mpi_write_binary(&z, secret, sizeof secret);
	mbedtls_ecp_point_free(&peer);
	mbedtls_mpi_free(&z);
	if (rc)
		return refuse(s, r, ERR_OTHER, "Encrypt.ECDHE: pubkey is not a P-256 point");
	fc_md5_hex(secret, sizeof secret, s->session);
	s->have_session = true;
	uint8_t mine[65];
	size_t mn = 0;
	mbedtls_ecp_point_write_binary(&s->grp, &s->dev_q, MBEDTLS_ECP_PF_UNCOMPRESSED, &mn, mine, sizeof mine);
	char b64[128];
	size_t bn = 0;
	fc_base64_encode(mine, mn, b64, sizeof b64, &bn);
	pthread_mutex_lock(&s->mu);
	s->rx.ecdhe_done = true;
	pthread_mutex_unlock(&s->mu);
	cJSON *out = cJSON_CreateObject();
	cJSON *oe = cJSON_AddObjectToObject(out, "ecdhe");
	cJSON_AddNumberToObject(oe, "step", 1);
	cJSON_AddStringToObject(oe, "pubkey", b64);
	return out;
}

/* ---------------------------------------------------------------- one request */

static bool plain_allowed(const char *ns)
{
	return !strcmp(ns, "Appliance.System.All") || !strcmp(ns, "Appliance.System.Ability") ||
	       !strcmp(ns, "Appliance.Encrypt.ECDHE");
}

static bool timestamp_text(const cJSON *ts, char out[32])
{
	long long v;
	if (!jint(ts, 1, 9007199254740992.0, &v))
		return false;
	snprintf(out, 32, "%lld", v);
	return true;
}

/* The answer body for one request body; *status is the HTTP status, *encrypt whether to encrypt it with
 * reply_key (the key the request was encrypted with: a "reboot" in between must not change it). */
static char *handle(struct meross_ap_sim *s, const char *ctype, const char *body, size_t len, int *status,
		    bool *encrypt, char reply_key[33])
{
	*status = 200;
	*encrypt = false;
	reply_key[0] = '\0';
	char *json = NULL;
	size_t jlen = 0;
	bool enc = len && body[0] != '{';
	if (enc) {
		if (s->o.crypto == MEROSS_AP_PLAIN) {
			violation(s, "encrypted (non-JSON) body to a device without encryption");
			*status = 400;
			return NULL;
		}
		if (!strstr(ctype, "text/plain") && !strstr(ctype, "application/octet-stream"))
			violation(s, "encrypted body sent as Content-Type '%s'", ctype);
		char dk[33];
		const char *k = NULL;
		if (s->have_session) {
			k = s->session;
		} else if (s->o.crypto == MEROSS_AP_ENC_DIRECT) {
			direct_key(s, dk);
			k = dk;
		}
		json = k ? aes_b64_decrypt(k, body, len, &jlen, NULL) : NULL;
		if (!json || jlen == 0 || json[0] != '{') {
			free(json);
			violation(s, "encrypted body does not decrypt with the session key%s",
				  k ? "" : " (no ECDHE exchange yet)");
			return error_reply(s, "", "Appliance.System.All", ERR_OTHER, "decrypt error");
		}
		*encrypt = true;
		memcpy(reply_key, k, 33);
		pthread_mutex_lock(&s->mu);
		s->rx.encrypted++;
		pthread_mutex_unlock(&s->mu);
	} else {
		if (!strstr(ctype, "application/json"))
			violation(s, "JSON body sent as Content-Type '%s'", ctype);
		json = malloc(len + 1);
		if (!json)
			return NULL;
		memcpy(json, body, len);
		json[len] = '\0';
		jlen = len;
	}
	char *answer = NULL;
	cJSON *root = cJSON_ParseWithLength(json, jlen);
	free(json);
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(root, "header");
	const cJSON *payload = cJSON_GetObjectItemCaseSensitive(root, "payload");
	const char *mid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "messageId"));
	const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "namespace"));
	const char *method = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "method"));
	const char *sign = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "sign"));
	const char *from = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "from"));
	long long pv = 0;
	char ts[32];
	if (!cJSON_IsObject(root) || !cJSON_IsObject(h) || !cJSON_IsObject(payload)) {
		violation(s, "not a {header, payload} message");
		*status = 400;
		goto out;
	}
	if (!mid || strlen(mid) != 32 || !is_lhex(mid, 32) || !ns || !ns[0] || strlen(ns) > 63 || !method ||
	    (strcmp(method, "GET") && strcmp(method, "SET")) || !jint(cJSON_GetObjectItemCaseSensitive(h, "payloadVersion"), 1, 1, &pv) ||
	    !timestamp_text(cJSON_GetObjectItemCaseSensitive(h, "timestamp"), ts) || !from || !from[0] || !sign) {
		violation(s, "header fields missing or invalid (messageId/namespace/method/payloadVersion/timestamp/from/sign)");
		answer = error_reply(s, mid && strlen(mid) <= 64 ? mid : "", ns && strlen(ns) < 64 ? ns : "", ERR_OTHER,
				     "invalid header");
		goto out;
	}
	count_ns(s, method, ns);
	if (s->o.crypto != MEROSS_AP_PLAIN && !enc && !plain_allowed(ns)) {
		violation(s, "%s %s in plain text on a device that requires encryption", method, ns);
		answer = error_reply(s, mid, ns, ERR_OTHER, "encryption required");
		goto out;
	}
	if (s->o.check_sign) {
		char want[33];
		md5_cat(want, mid, s->key, ts, (const char *)NULL);
		if (strlen(sign) != 32 || !is_hex(sign, 32) || strncasecmp(sign, want, 32) != 0) {
			pthread_mutex_lock(&s->mu);
			s->rx.bad_signs++;
			pthread_mutex_unlock(&s->mu);
			violation(s, "%s %s: sign error", method, ns);
			answer = error_reply(s, mid, ns, ERR_SIGN, "sign error");
			goto out;
		}
	}
	struct refusal rf = {0};
	cJSON *reply = NULL;
	const char *ack = !strcmp(method, "GET") ? "GETACK" : "SETACK";
	if (!strcmp(method, "GET") && !strcmp(ns, "Appliance.System.All"))
		reply = system_all(s);
	else if (!strcmp(method, "GET") && !strcmp(ns, "Appliance.System.Ability"))
		reply = ability(s);
	else if (!strcmp(method, "GET") && !strcmp(ns, "Appliance.Config.WifiList") && s->o.wifilist)
		reply = wifi_list(s);
	else if (!strcmp(method, "SET") && !strcmp(ns, "Appliance.Config.Key"))
		reply = set_key(s, payload, &rf);
	else if (!strcmp(method, "SET") && !strcmp(ns, "Appliance.Config.Wifi"))
		reply = set_wifi(s, false, payload, &rf);
	else if (!strcmp(method, "SET") && !strcmp(ns, "Appliance.Config.WifiX"))
		reply = set_wifi(s, true, payload, &rf);
	else if (!strcmp(method, "SET") && !strcmp(ns, "Appliance.Encrypt.ECDHE"))
		reply = set_ecdhe(s, payload, &rf);
	else
		refuse(s, &rf, ERR_OTHER, "unsupported: %s %s", method, ns);
	if (!reply) {
		answer = error_reply(s, mid, ns, rf.code, rf.detail);
		goto out;
	}
	answer = build(s, mid, ns, ack, reply);
	if (!strcmp(ns, "Appliance.Encrypt.ECDHE"))
		*encrypt = false; /* the exchange answers in plain text */
out:
	cJSON_Delete(root);
	return answer;
}

/* ---------------------------------------------------------------- connections */

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static bool stopping(struct meross_ap_sim *s)
{
	pthread_mutex_lock(&s->mu);
	bool st = s->stop;
	pthread_mutex_unlock(&s->mu);
	return st;
}

/* Reads until the head and Content-Length bytes are in; returns the total or -1. */
static long read_request(struct meross_ap_sim *s, int fd, char *buf, size_t cap, size_t *head_len, long *clen,
			 char *ctype, size_t ctcap)
{
	size_t used = 0;
	*head_len = 0;
	*clen = -1;
	int64_t deadline = mono_ms() + IO_TIMEOUT_MS;
	for (;;) {
		if (!*head_len) {
			buf[used] = '\0';
			char *e = strstr(buf, "\r\n\r\n");
			if (e) {
				*head_len = (size_t)(e + 4 - buf);
				*e = '\0';
				for (const char *q = buf; (q = strchr(q, '\n')); q++)
					if (q == buf || q[-1] != '\r') {
						violation(s, "request head line ends without CR");
						break;
					}
				for (char *l = buf; l && *l; l = strstr(l, "\r\n") ? strstr(l, "\r\n") + 2 : NULL) {
					if (!strncasecmp(l, "Content-Length:", 15))
						*clen = strtol(l + 15, NULL, 10);
					if (!strncasecmp(l, "Content-Type:", 13)) {
						const char *v = l + 13;
						while (*v == ' ')
							v++;
						size_t k = strcspn(v, "\r");
						snprintf(ctype, ctcap, "%.*s", (int)k, v);
					}
				}
				if (strncmp(buf, "POST /config HTTP/1.", 20) != 0)
					return -2;
				if (*clen < 0 || *clen > MAX_BODY)
					return -3;
				*e = '\r';
			} else if (used >= MAX_HEAD) {
				return -1;
			}
		}
		if (*head_len && used >= *head_len + (size_t)*clen)
			return (long)used;
		if (used + 1 >= cap)
			return -1;
		int64_t left = deadline - mono_ms();
		if (left <= 0 || stopping(s))
			return -1;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int pr = poll(&pfd, 1, left > 100 ? 100 : (int)left);
		if (pr <= 0)
			continue;
		ssize_t r = recv(fd, buf + used, cap - 1 - used, 0);
		if (r <= 0)
			return -1;
		used += (size_t)r;
	}
}

static void respond(struct meross_ap_sim *s, int fd, int status, const char *body, const char *ctype)
{
	const unsigned q = s->o.quirks;
	const char *reason = status == 200 ? "OK" : status == 400 ? "Bad Request" : "Not Found";
	size_t bl = body ? strlen(body) : 0;
	char head[512];
	int n;
	if (q & MEROSS_AP_Q_NO_LENGTH) {
		n = snprintf(head, sizeof head, "HTTP/1.0 %d %s\r\nContent-Type: %s\r\n\r\n", status, reason, ctype);
	} else {
		const char *eol = q & MEROSS_AP_Q_BARE_LF ? "\n" : "\r\n";
		n = snprintf(head, sizeof head, "HTTP/1.1 %d%s%s%sServer: Meross\r\nContent-Type: %s%s%s%s%s: %zu%s%s",
			     status, q & MEROSS_AP_Q_NO_REASON ? "" : " ", q & MEROSS_AP_Q_NO_REASON ? "" : reason, eol,
			     ctype, eol, q & MEROSS_AP_Q_JUNK_HEADER ? "X-Firmware-Junk-Line" : "",
			     q & MEROSS_AP_Q_JUNK_HEADER ? eol : "",
			     q & MEROSS_AP_Q_JUNK_HEADER ? "Content-Length " : "Content-Length", bl, eol, eol);
	}
	if (n > 0 && (size_t)n < sizeof head && send_all(fd, head, (size_t)n) == 0 && bl)
		send_all(fd, body, bl);
}

static void serve(struct meross_ap_sim *s, int fd)
{
	char *buf = malloc(MAX_HEAD + MAX_BODY + 1);
	if (!buf)
		return;
	size_t head_len = 0;
	long clen = -1;
	char ctype[128] = "";
	long total = read_request(s, fd, buf, MAX_HEAD + MAX_BODY + 1, &head_len, &clen, ctype, sizeof ctype);
	if (total == -2 || total == -3) {
		violation(s, total == -2 ? "not POST /config" : "missing or too large Content-Length");
		respond(s, fd, total == -2 ? 404 : 400, "", "text/plain");
		free(buf);
		return;
	}
	if (total < 0) {
		free(buf);
		return;
	}
	if ((size_t)total != head_len + (size_t)clen)
		violation(s, "%ld bytes after the head, Content-Length said %ld", total - (long)head_len, clen);
	pthread_mutex_lock(&s->mu);
	s->rx.requests++;
	pthread_mutex_unlock(&s->mu);
	if (s->o.quirks & MEROSS_AP_Q_SILENT) {
		int64_t end = mono_ms() + 30000; /* until the client gives up */
		while (mono_ms() < end && !stopping(s)) {
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			if (poll(&pfd, 1, 100) > 0) {
				char tmp[256];
				if (recv(fd, tmp, sizeof tmp, 0) <= 0)
					break;
			}
		}
		free(buf);
		return;
	}
	int status = 200;
	bool enc = false;
	char rkey[33];
	pthread_mutex_lock(&s->mu);
	bool was_rebooted = s->rx.rebooted;
	pthread_mutex_unlock(&s->mu);
	char *answer = handle(s, ctype, buf + head_len, (size_t)clen, &status, &enc, rkey);
	free(buf);
	pthread_mutex_lock(&s->mu);
	bool reboot_now = !was_rebooted && s->rx.rebooted;
	pthread_mutex_unlock(&s->mu);
	if (reboot_now && (s->o.quirks & MEROSS_AP_Q_REBOOT_EARLY)) {
		cJSON_free(answer);
		return;
	}
	if (answer && enc) {
		char *e = aes_b64_encrypt(rkey, answer);
		cJSON_free(answer);
		answer = NULL;
		respond(s, fd, status, e ? e : "", "text/plain");
		free(e);
		return;
	}
	respond(s, fd, status, answer ? answer : "", "application/json");
	cJSON_free(answer);
}

static void *run(void *arg)
{
	struct meross_ap_sim *s = arg;
	while (!stopping(s)) {
		struct pollfd pfd = {.fd = s->lfd, .events = POLLIN};
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		int fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&s->mu);
		s->rx.connections++;
		pthread_mutex_unlock(&s->mu);
		serve(s, fd);
		shutdown(fd, SHUT_WR);
		close(fd);
	}
	return NULL;
}

/* ---------------------------------------------------------------- API */

void meross_ap_sim_opts_init(struct meross_ap_sim_opts *o)
{
	memset(o, 0, sizeof *o);
	snprintf(o->type, sizeof o->type, "mss310");
	snprintf(o->hw_version, sizeof o->hw_version, "6.0.0");
	snprintf(o->fw_version, sizeof o->fw_version, "6.1.8");
	snprintf(o->uuid, sizeof o->uuid, "2012317778118925583748e1e943e9bc");
	snprintf(o->mac, sizeof o->mac, "48:e1:e9:43:e9:bc");
	o->check_sign = true;
	o->wifilist = true;
	snprintf(o->ap_ssid, sizeof o->ap_ssid, "HomeNet");
	snprintf(o->ap_bssid, sizeof o->ap_bssid, "de:ad:00:00:be:ef");
	o->ap_channel = 3;
	o->ap_encryption = 6;
	o->ap_cipher = 3;
}

struct meross_ap_sim *meross_ap_sim_start(const struct meross_ap_sim_opts *o)
{
	struct meross_ap_sim *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->o = *o;
	snprintf(s->key, sizeof s->key, "%s", o->key);
	snprintf(s->user_id, sizeof s->user_id, "%s", o->user_id);
	snprintf(s->server, sizeof s->server, "%s", o->server);
	s->server_port = o->server_port;
	s->configured = o->key[0] != '\0';
	s->rx.channel = s->rx.encryption = s->rx.cipher = -1;
	pthread_mutex_init(&s->mu, NULL);
	mbedtls_ecp_group_init(&s->grp);
	mbedtls_mpi_init(&s->dev_d);
	mbedtls_ecp_point_init(&s->dev_q);
	if (mbedtls_ecp_group_load(&s->grp, MBEDTLS_ECP_DP_SECP256R1) != 0 ||
	    mbedtls_ecp_gen_keypair(&s->grp, &s->dev_d, &s->dev_q, rng, NULL) != 0) {
		fprintf(stderr, "meross_ap_sim: cannot create the device's P-256 key\n");
		goto fail;
	}
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->lfd, 8) != 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&a, &al) != 0) {
		fprintf(stderr, "meross_ap_sim: cannot listen: %s\n", strerror(errno));
		goto fail;
	}
	s->port = ntohs(a.sin_port);
	if (pthread_create(&s->thread, NULL, run, s) != 0) {
		fprintf(stderr, "meross_ap_sim: cannot start its thread\n");
		goto fail;
	}
	return s;
fail:
	if (s->lfd > 0)
		close(s->lfd);
	mbedtls_ecp_point_free(&s->dev_q);
	mbedtls_mpi_free(&s->dev_d);
	mbedtls_ecp_group_free(&s->grp);
	pthread_mutex_destroy(&s->mu);
	free(s);
	return NULL;
}

int meross_ap_sim_port(struct meross_ap_sim *s) { return s ? s->port : -1; }

void meross_ap_sim_stop(struct meross_ap_sim *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	close(s->lfd);
	mbedtls_ecp_point_free(&s->dev_q);
	mbedtls_mpi_free(&s->dev_d);
	mbedtls_ecp_group_free(&s->grp);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

void meross_ap_sim_received(struct meross_ap_sim *s, struct meross_ap_received *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->rx;
	pthread_mutex_unlock(&s->mu);
}

long meross_ap_sim_count(struct meross_ap_sim *s, const char *method, const char *ns)
{
	long n = 0;
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < NS_SLOTS; i++)
		if (!strcmp(s->nsc[i].method, method) && !strcmp(s->nsc[i].ns, ns))
			n = s->nsc[i].n;
	pthread_mutex_unlock(&s->mu);
	return n;
}
