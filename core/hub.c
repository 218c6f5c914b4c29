/* The hub: device registry, client sessions, dispatch of broker events to vendor hooks, plain topics,
 * availability. Bridge requests live in bridge.c, Home Assistant discovery in discovery.c. */
#include "core/hub_internal.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/keystore.h"
#include "core/ratelimit.h"

#define MAX_PAYLOAD (256 * 1024)

/* ---------------------------------------------------------------- helpers */

int64_t fc_hub_now_ms(struct fc_hub *hub) { return fc_broker_now_ms(&hub->broker); }
const struct fc_broker *fc_hub_broker(struct fc_hub *hub) { return &hub->broker; }
const struct fc_config *fc_hub_config(struct fc_hub *hub) { return hub->cfg; }
struct fc_keystore *fc_hub_keystore(struct fc_hub *hub) { return hub->ks; }
const char *fc_hub_base_topic(struct fc_hub *hub) { return hub->base; }

/* ---- compact JSON writer: byte for byte what cJSON_PrintUnformatted (1.7.15) prints, without its costs
 * per message: cJSON prints every number with sprintf("%1.15g") and re-reads it with sscanf, and measures
 * its buffer with strlen after every value. Integral numbers below 10^15 (what devices send: timestamps,
 * channels, on/off) are printed as integers here, which is exactly what "%1.15g" gives for them; every
 * other number goes through cJSON's own rule. */

struct jw {
	char *p;
	size_t n, cap;
	bool heap, fail;
};

static bool jw_reserve(struct jw *w, size_t more)
{
	if (w->fail)
		return false;
	if (w->n + more < w->cap)
		return true;
	size_t cap = w->cap * 2;
	while (cap <= w->n + more)
		cap *= 2;
	char *np = w->heap ? realloc(w->p, cap) : malloc(cap);
	if (!np) {
		w->fail = true;
		return false;
	}
	if (!w->heap)
		memcpy(np, w->p, w->n);
	w->p = np;
	w->cap = cap;
	w->heap = true;
	return true;
}

static void jw_put(struct jw *w, const char *s, size_t n)
{
	if (jw_reserve(w, n)) {
		memcpy(w->p + w->n, s, n);
		w->n += n;
	}
}

static void jw_string(struct jw *w, const char *s)
{
	if (!s) {
		jw_put(w, "\"\"", 2);
		return;
	}
	static const char hex[] = "0123456789abcdef";
	jw_put(w, "\"", 1);
	const char *run = s;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 32 && c != '"' && c != '\\')
			continue;
		jw_put(w, run, (size_t)(s - run));
		run = s + 1;
		char esc[6] = {'\\', 0};
		size_t n = 2;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
		}
		jw_put(w, esc, n);
	}
	jw_put(w, run, (size_t)(s - run));
	jw_put(w, "\"", 1);
}

static void jw_number(struct jw *w, double d)
{
	char buf[32];
	int n;
	if (isnan(d) || isinf(d)) {
		n = snprintf(buf, sizeof buf, "null");
	} else if (d == floor(d) && fabs(d) < 1e15 && !(d == 0 && signbit(d))) {
		/* an integer of at most 15 digits: "%1.15g" prints exactly its digits */
		int64_t v = (int64_t)d;
		uint64_t u = v < 0 ? (uint64_t)(-v) : (uint64_t)v;
		char *e = buf + sizeof buf, *q = e;
		do {
			*--q = (char)('0' + u % 10);
			u /= 10;
		} while (u);
		if (v < 0)
			*--q = '-';
		jw_put(w, q, (size_t)(e - q));
		return;
	} else {
		/* cJSON's rule: 15 significant digits if that reads back as the same double, else 17 */
		n = snprintf(buf, sizeof buf, "%1.15g", d);
		double test = strtod(buf, NULL);
		double maxv = fabs(test) > fabs(d) ? fabs(test) : fabs(d);
		if (!(fabs(test - d) <= maxv * DBL_EPSILON))
			n = snprintf(buf, sizeof buf, "%1.17g", d);
	}
	if (n > 0)
		jw_put(w, buf, (size_t)n);
}

static void jw_value(struct jw *w, const cJSON *j)
{
	switch (j->type & 0xFF) {
	case cJSON_NULL: jw_put(w, "null", 4); break;
	case cJSON_False: jw_put(w, "false", 5); break;
	case cJSON_True: jw_put(w, "true", 4); break;
	case cJSON_Number: jw_number(w, j->valuedouble); break;
	case cJSON_Raw:
		if (!j->valuestring)
			w->fail = true;
		else
			jw_put(w, j->valuestring, strlen(j->valuestring));
		break;
	case cJSON_String: jw_string(w, j->valuestring); break;
	case cJSON_Array:
	case cJSON_Object: {
		bool obj = (j->type & 0xFF) == cJSON_Object;
		jw_put(w, obj ? "{" : "[", 1);
		for (const cJSON *c = j->child; c && !w->fail; c = c->next) {
			if (c != j->child)
				jw_put(w, ",", 1);
			if (obj) {
				jw_string(w, c->string);
				jw_put(w, ":", 1);
			}
			jw_value(w, c);
		}
		jw_put(w, obj ? "}" : "]", 1);
		break;
	}
	default: w->fail = true;
	}
}

char *hub_json_print(const cJSON *json, size_t *len)
{
	char first[256];
	struct jw w = {first, 0, sizeof first, false, false};
	if (json)
		jw_value(&w, json);
	else
		w.fail = true;
	char *out = NULL;
	if (!w.fail && (out = malloc(w.n + 1)) != NULL) {
		memcpy(out, w.p, w.n);
		out[w.n] = 0;
		if (len)
			*len = w.n;
	}
	if (w.heap)
		free(w.p);
	return out;
}

void hub_publish_json(struct fc_hub *hub, const char *topic, const cJSON *json, bool retain)
{
	char first[2048];
	struct jw w = {first, 0, sizeof first, false, false};
	if (json)
		jw_value(&w, json);
	if (json && !w.fail)
		fc_broker_publish(&hub->broker, topic, w.p, w.n, 0, retain);
	if (w.heap)
		free(w.p);
}

void hub_publish_json_array(struct fc_hub *hub, const char *topic, size_t n,
			    struct cJSON *(*item)(void *ctx, size_t i), void *ctx, bool retain)
{
	char first[2048];
	struct jw w = {first, 0, sizeof first, false, false};
	jw_put(&w, "[", 1);
	for (size_t i = 0; i < n && !w.fail; i++) {
		cJSON *j = item(ctx, i);
		if (!j) {
			w.fail = true;
			break;
		}
		if (i)
			jw_put(&w, ",", 1);
		jw_value(&w, j);
		cJSON_Delete(j);
	}
	jw_put(&w, "]", 1);
	if (!w.fail)
		fc_broker_publish(&hub->broker, topic, w.p, w.n, 0, retain);
	else
		fc_error("out of memory printing %s; not published", topic);
	if (w.heap)
		free(w.p);
}

void hub_publish_str(struct fc_hub *hub, const char *topic, const char *s, bool retain)
{
	fc_broker_publish(&hub->broker, topic, s, strlen(s), 0, retain);
}

void hub_topic(struct fc_hub *hub, char *out, size_t cap, const char *name, const char *suffix)
{
	if (suffix)
		snprintf(out, cap, "%s/%s/%s", hub->base, name, suffix);
	else
		snprintf(out, cap, "%s/%s", hub->base, name);
}

/* Parse a JSON payload that is not NUL-terminated; the whole buffer must be one value. */
cJSON *hub_parse_json(const void *payload, size_t len)
{
	if (len == 0 || len > MAX_PAYLOAD)
		return NULL;
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(payload, len, &end, 0);
	if (!j)
		return NULL;
	const char *p = end, *stop = (const char *)payload + len;
	while (p < stop && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == 0))
		p++;
	if (p != stop) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

bool fc_name_valid(const char *name, char *err, size_t errlen)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > 100) {
		snprintf(err, errlen, "a name must have 1 to 100 characters");
		return false;
	}
	if (strpbrk(name, "/+#") || name[0] == '$') {
		snprintf(err, errlen, "'%s' is not a valid name: no '/', '+', '#' or leading '$'", name);
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20) {
			snprintf(err, errlen, "a name may not contain control characters");
			return false;
		}
	if (strcmp(name, "bridge") == 0) {
		snprintf(err, errlen, "'bridge' is reserved");
		return false;
	}
	return true;
}

void fc_hub_bridge_log(struct fc_hub *hub, enum fc_log_level level, const struct fc_device *dev, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fc_log_redact(msg, sizeof msg);
	if (dev)
		fc_log(level, "%s: %s", dev->name, msg);
	else
		fc_log(level, "%s", msg);
	if (!hub->started)
		return;
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return;
	cJSON_AddStringToObject(o, "level", fc_log_level_name(level));
	cJSON_AddStringToObject(o, "message", msg);
	if (dev)
		cJSON_AddStringToObject(o, "device", dev->name);
	char topic[256];
	snprintf(topic, sizeof topic, "%s/bridge/log", hub->base);
	hub_publish_json(hub, topic, o, false);
	cJSON_Delete(o);
}

/* ---------------------------------------------------------------- registry */

static void dev_key(char *out, size_t cap, const struct fc_vendor *v, const char *vid)
{
	snprintf(out, cap, "%s\x1f%s", v->name, vid);
}

struct fc_device *fc_hub_device(struct fc_hub *hub, const struct fc_vendor *v, const char *vid)
{
	char key[HUB_KEY_MAX];
	dev_key(key, sizeof key, v, vid);
	struct dev_node *n = NULL;
	HASH_FIND(hh_key, hub->by_key, key, strlen(key), n);
	return n ? &n->d : NULL;
}

struct fc_device *fc_hub_device_by_name(struct fc_hub *hub, const char *name)
{
	struct dev_node *n = NULL;
	HASH_FIND(hh_name, hub->by_name, name, strlen(name), n);
	return n ? &n->d : NULL;
}

void hub_index_name(struct fc_hub *hub, struct dev_node *n, bool add)
{
	if (add)
		HASH_ADD_KEYPTR(hh_name, hub->by_name, n->d.name, strlen(n->d.name), n);
	else
		HASH_DELETE(hh_name, hub->by_name, n);
}

/* ---- exposes shared between devices: a device's list is read-only; identical lists (every device of
 * a model) are kept once, reference-counted, instead of ~800 bytes per expose per device. */

static void exposes_release(struct fc_hub *hub, struct fc_exposes *x)
{
	if (x->n > x->cap) {
		struct shared_exposes *s =
			(struct shared_exposes *)((char *)x->e - offsetof(struct shared_exposes, e));
		if (--s->refs == 0) {
			HASH_DELETE(hh, hub->exposes_pool, s);
			free(s);
		}
		*x = (struct fc_exposes){0};
	} else {
		fc_exposes_free(x);
	}
}

/* dst (released) becomes the shared copy of src. -1 (dst unchanged) when out of memory. */
static int exposes_share(struct fc_hub *hub, struct fc_exposes *dst, const struct fc_exposes *src)
{
	struct shared_exposes *s = NULL;
	size_t len = src->n * sizeof src->e[0];
	if (src->n) {
		HASH_FIND(hh, hub->exposes_pool, src->e, len, s);
		if (!s) {
			if (!(s = malloc(sizeof *s + len)))
				return -1;
			memcpy(s->e, src->e, len);
			s->n = src->n;
			s->refs = 0;
			HASH_ADD_KEYPTR(hh, hub->exposes_pool, s->e, len, s);
		}
		s->refs++; /* before the release: src may be dst's own list */
	}
	exposes_release(hub, dst);
	if (s) {
		dst->e = s->e;
		dst->n = s->n;
		dst->cap = 0;
	}
	return 0;
}

static const char *json_str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The device strings (struct fc_device): "" is shared, anything else is one exact-size block. */
static const char no_str[] = "";

static void dev_str_free(const char *s)
{
	if (s && s != no_str)
		free((char *)s);
}

/* Sets *dst to the first max-1 characters of v. 1 if it changed, 0 if not, -1 out of memory (unchanged). */
static int dev_str_set(const char **dst, const char *v, size_t max)
{
	size_t n = strnlen(v ? v : "", max - 1);
	if (*dst && strncmp(*dst, v ? v : "", n) == 0 && (*dst)[n] == 0)
		return 0;
	const char *s = no_str;
	if (n > 0) {
		char *c = malloc(n + 1);
		if (!c)
			return -1;
		memcpy(c, v, n);
		c[n] = 0;
		s = c;
	}
	dev_str_free(*dst);
	*dst = s;
	return 1;
}

static void dev_node_free(struct dev_node *n)
{
	struct fc_device *d = &n->d;
	/* vid points into n->key */
	dev_str_free(d->name);
	dev_str_free(d->model);
	dev_str_free(d->firmware);
	dev_str_free(d->ip);
	dev_str_free(d->client_id);
	free(n);
}

/* Build an in-memory device from a keystore row. */
static struct fc_device *load_row(struct fc_hub *hub, const struct fc_vendor *v, const struct fc_device_row *row)
{
	char key[HUB_KEY_MAX];
	dev_key(key, sizeof key, v, row->vid);
	size_t klen = strlen(key);
	struct dev_node *n = calloc(1, sizeof *n + klen + 1);
	if (!n)
		return NULL;
	memcpy(n->key, key, klen + 1);
	struct fc_device *d = &n->d;
	d->vendor = v;
	d->vid = n->key + strlen(v->name) + 1; /* the key is "<vendor>\x1f<vid>" */
	d->name = d->model = d->firmware = d->ip = d->client_id = no_str;
	if (dev_str_set(&d->name, row->name, FC_DEV_NAME_MAX) < 0 ||
	    dev_str_set(&d->model, json_str(row->meta, "model"), FC_DEV_INFO_MAX) < 0 ||
	    dev_str_set(&d->firmware, json_str(row->meta, "firmware"), FC_DEV_INFO_MAX) < 0 ||
	    dev_str_set(&d->ip, json_str(row->meta, "ip"), FC_DEV_INFO_MAX) < 0) {
		dev_node_free(n);
		return NULL;
	}
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(row->meta, "exposes");
	struct fc_exposes stored = {0};
	if (x && fc_exposes_from_json(&stored, x) != 0)
		fc_warn("%s: stored exposes are malformed; waiting for the device to report them again", d->name);
	else if (x)
		exposes_share(hub, &d->exposes, &stored);
	fc_exposes_free(&stored);
	d->state = cJSON_CreateObject();
	HASH_ADD(hh_key, hub->by_key, key, klen, n);
	hub_index_name(hub, n, true);
	hub->n_devices++;
	if (v->broker && v->broker->device_loaded)
		v->broker->device_loaded(hub, fc_hub_vendor_state(hub, v), d, row->secrets, row->meta);
	hub->devices_dirty = true;
	return d;
}

struct load_ctx {
	struct fc_hub *hub;
};

static int load_cb(void *ctx, const struct fc_device_row *row)
{
	struct fc_hub *hub = ((struct load_ctx *)ctx)->hub;
	const struct fc_vendor *v = fc_vendor_find(hub->vendors, row->vendor);
	if (!v) {
		fc_warn("keystore: device %s belongs to vendor '%s', which this build does not have; skipped",
			row->name, row->vendor);
		return 0;
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row->meta, "removed")))
		return 0;
	load_row(hub, v, row);
	return 0;
}

/* (Re)load one device from the keystore: used after the CLI or httpd changed it. */
/* Model, firmware and ip as another process stored them (fakecloud-httpd's Tuya activation stores the
 * device's ip): the hub's copy follows, so the device's next login does not write them again. */
static void refresh_info(struct fc_hub *hub, struct fc_device *d, const cJSON *meta)
{
	const char *model = json_str(meta, "model"), *firmware = json_str(meta, "firmware"), *ip = json_str(meta, "ip");
	bool described = model && dev_str_set(&d->model, model, FC_DEV_INFO_MAX) == 1;
	if (firmware && dev_str_set(&d->firmware, firmware, FC_DEV_INFO_MAX) == 1)
		described = true;
	bool moved = ip && dev_str_set(&d->ip, ip, FC_DEV_INFO_MAX) == 1;
	if (described || moved)
		hub->devices_dirty = true;
	if (described && hub->started)
		hub_discovery_publish(hub, d, NULL);
}

void hub_reload_device(struct fc_hub *hub, const struct fc_vendor *v, const char *vid)
{
	struct fc_device *old = fc_hub_device(hub, v, vid);
	struct fc_device_row row;
	int rc = fc_ks_device_get(hub->ks, v->name, vid, &row);
	bool gone = rc == FC_KS_NOTFOUND || (rc == FC_KS_OK && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row.meta, "removed")));
	if (rc != FC_KS_OK && rc != FC_KS_NOTFOUND)
		return;
	if (old && !gone && rc == FC_KS_OK)
		refresh_info(hub, old, row.meta);
	if (old && gone) {
		hub_remove_device(hub, old);
	} else if (old && rc == FC_KS_OK && strcmp(old->name, row.name) != 0) {
		hub_rename_device(hub, old, row.name);
	} else if (!old && rc == FC_KS_OK && !gone) {
		struct fc_device *d = load_row(hub, v, &row);
		if (d && hub->started) {
			hub_publish_availability(hub, d);
			hub_discovery_publish(hub, d, NULL);
		}
	} else if (old && rc == FC_KS_OK && v->broker && v->broker->device_loaded) {
		v->broker->device_loaded(hub, fc_hub_vendor_state(hub, v), old, row.secrets, row.meta);
	}
	if (rc == FC_KS_OK)
		fc_device_row_free(&row);
}

struct fc_device *fc_hub_device_ensure(struct fc_hub *hub, const struct fc_vendor *v, const char *vid,
				       const cJSON *secrets, const cJSON *meta)
{
	struct fc_device *d = fc_hub_device(hub, v, vid);
	if (d)
		return d;
	struct fc_device_row row;
	int rc = fc_ks_device_get(hub->ks, v->name, vid, &row);
	if (rc == FC_KS_NOTFOUND) {
		rc = fc_ks_device_put(hub->ks, v->name, vid, "", secrets, meta);
		if (rc == FC_KS_EXISTS) {
			/* Another device was renamed to this one's default name: register it under a variant. */
			char name[128], tag[5];
			fc_random_hex(tag, 4);
			snprintf(name, sizeof name, "%s_%.80s_%s", v->name, vid, tag);
			fc_warn("the default name of new %s device %s is taken; registering it as '%s'", v->title, vid, name);
			rc = fc_ks_device_put(hub->ks, v->name, vid, name, secrets, meta);
		}
		if (rc != FC_KS_OK) {
			fc_error("could not register %s device %s in the keystore", v->title, vid);
			return NULL;
		}
		rc = fc_ks_device_get(hub->ks, v->name, vid, &row);
		if (rc == FC_KS_OK)
			fc_hub_bridge_log(hub, FC_LOG_INFO, NULL, "new %s device %s registered as '%s'", v->title, vid,
					  row.name);
	} else if (rc == FC_KS_OK && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row.meta, "removed"))) {
		cJSON *patch = cJSON_CreateObject();
		cJSON_AddNullToObject(patch, "removed");
		fc_ks_device_merge_meta(hub->ks, v->name, vid, patch);
		cJSON_Delete(patch);
		cJSON_DeleteItemFromObjectCaseSensitive(row.meta, "removed");
	}
	if (rc != FC_KS_OK)
		return NULL;
	d = load_row(hub, v, &row);
	fc_device_row_free(&row);
	if (d && hub->started) {
		hub_publish_availability(hub, d);
		hub_discovery_publish(hub, d, NULL);
	}
	return d;
}

/* The device was heard from. bridge/devices carries last_seen; it is republished for that at most once
 * a minute (whole-list messages are not worth sending per device message). */
void hub_touch(struct fc_hub *hub, struct fc_device *d)
{
	d->last_seen_ms = fc_hub_now_ms(hub);
	if (d->last_seen_ms - hub->devices_published_ms >= 60000)
		hub->devices_dirty = true;
}

void hub_publish_availability(struct fc_hub *hub, struct fc_device *d)
{
	char topic[300];
	hub_topic(hub, topic, sizeof topic, d->name, "availability");
	hub_publish_str(hub, topic, d->online ? "online" : "offline", true);
}

void hub_publish_state(struct fc_hub *hub, struct fc_device *d)
{
	char topic[300];
	hub_topic(hub, topic, sizeof topic, d->name, NULL);
	hub_publish_json(hub, topic, d->state, true);
}

void fc_hub_device_set_online(struct fc_hub *hub, struct fc_device *d, const struct fc_client *c, bool online)
{
	if (online && c) {
		d->session = c->handle;
		dev_str_set(&d->client_id, c->id, FC_DEV_CLIENT_ID_MAX);
	} else if (!online) {
		d->session = NULL;
	}
	hub_touch(hub, d);
	if (d->online == online)
		return;
	d->online = online;
	fc_info("%s (%s %s) is %s", d->name, d->vendor->name, d->vid, online ? "online" : "offline");
	hub_publish_availability(hub, d);
	hub->devices_dirty = true;
}

static void merge_meta(struct fc_hub *hub, struct fc_device *d, cJSON *patch)
{
	if (cJSON_GetArraySize(patch) > 0)
		fc_ks_device_merge_meta(hub->ks, d->vendor->name, d->vid, patch);
	cJSON_Delete(patch);
}

void fc_hub_device_set_info(struct fc_hub *hub, struct fc_device *d, const char *model, const char *firmware,
			    const char *ip)
{
	cJSON *patch = cJSON_CreateObject();
	struct {
		const char *val, *key;
		const char **dst;
	} f[] = {{model, "model", &d->model}, {firmware, "firmware", &d->firmware}, {ip, "ip", &d->ip}};
	bool describe = false;
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		if (!f[i].val || dev_str_set(f[i].dst, f[i].val, FC_DEV_INFO_MAX) != 1)
			continue;
		cJSON_AddStringToObject(patch, f[i].key, *f[i].dst);
		describe |= i < 2; /* model and firmware appear in the HA device block */
	}
	if (cJSON_GetArraySize(patch) > 0)
		hub->devices_dirty = true;
	merge_meta(hub, d, patch);
	if (describe && hub->started)
		hub_discovery_publish(hub, d, NULL);
}

void fc_hub_device_set_exposes(struct fc_hub *hub, struct fc_device *d, const struct fc_exposes *x)
{
	if (fc_exposes_equal(&d->exposes, x))
		return;
	struct fc_exposes old = {0};
	fc_exposes_copy(&old, &d->exposes);
	if (exposes_share(hub, &d->exposes, x) != 0) {
		fc_exposes_free(&old);
		return;
	}
	cJSON *patch = cJSON_CreateObject();
	cJSON_AddItemToObject(patch, "exposes", fc_exposes_to_json(x));
	merge_meta(hub, d, patch);
	hub->devices_dirty = true;
	if (hub->started)
		hub_discovery_publish(hub, d, &old);
	fc_exposes_free(&old);
}

void fc_hub_device_update_state(struct fc_hub *hub, struct fc_device *d, const cJSON *patch)
{
	bool changed = false;
	const cJSON *item;
	cJSON_ArrayForEach(item, patch)
	{
		cJSON *cur = cJSON_GetObjectItemCaseSensitive(d->state, item->string);
		if (cur && cJSON_Compare(cur, item, true))
			continue;
		cJSON *copy = cJSON_Duplicate(item, true);
		if (!copy)
			continue;
		if (cur)
			cJSON_ReplaceItemInObjectCaseSensitive(d->state, item->string, copy);
		else
			cJSON_AddItemToObject(d->state, item->string, copy);
		changed = true;
	}
	hub_touch(hub, d);
	if (changed)
		hub_publish_state(hub, d);
}

void fc_hub_device_raw(struct fc_hub *hub, struct fc_device *d, const cJSON *raw)
{
	char topic[300];
	hub_topic(hub, topic, sizeof topic, d->name, "raw");
	hub_publish_json(hub, topic, raw, false);
}

void fc_hub_device_raw_text(struct fc_hub *hub, struct fc_device *d, const char *json, size_t len)
{
	char topic[300];
	hub_topic(hub, topic, sizeof topic, d->name, "raw");
	fc_broker_publish(&hub->broker, topic, json, len, 0, false);
}

void *fc_hub_vendor_state(struct fc_hub *hub, const struct fc_vendor *v)
{
	for (size_t i = 0; i < hub->n_vendors; i++)
		if (hub->vendors[i] == v)
			return hub->vstate[i];
	return NULL;
}

void hub_remove_device(struct fc_hub *hub, struct fc_device *d)
{
	struct dev_node *n = (struct dev_node *)d;
	const struct fc_vendor *v = d->vendor;
	if (d->online && d->client_id[0])
		fc_broker_kick(&hub->broker, d->client_id);
	hub_discovery_clear(hub, d, &d->exposes);
	char topic[300];
	hub_topic(hub, topic, sizeof topic, d->name, NULL);
	hub_publish_str(hub, topic, "", true);
	hub_topic(hub, topic, sizeof topic, d->name, "availability");
	hub_publish_str(hub, topic, "", true);
	/* Sessions that point at this device forget it. */
	struct session *s, *tmp;
	HASH_ITER(hh, hub->sessions, s, tmp)
	if (s->dev == d)
		s->dev = NULL;
	if (v->broker && v->broker->device_removed)
		v->broker->device_removed(hub, fc_hub_vendor_state(hub, v), d);
	if (d->vdata && v->broker && v->broker->free_vdata)
		v->broker->free_vdata(d->vdata);
	HASH_DELETE(hh_key, hub->by_key, n);
	hub_index_name(hub, n, false);
	hub->n_devices--;
	exposes_release(hub, &d->exposes);
	cJSON_Delete(d->state);
	dev_node_free(n);
	hub->devices_dirty = true;
}

void hub_rename_device(struct fc_hub *hub, struct fc_device *d, const char *to)
{
	struct dev_node *n = (struct dev_node *)d;
	char topic[300];
	hub_topic(hub, topic, sizeof topic, d->name, NULL);
	hub_publish_str(hub, topic, "", true);
	hub_topic(hub, topic, sizeof topic, d->name, "availability");
	hub_publish_str(hub, topic, "", true);
	hub_index_name(hub, n, false);
	if (dev_str_set(&d->name, to, FC_DEV_NAME_MAX) < 0)
		fc_error("%s: out of memory renaming it to '%s'; the old name stays", d->name, to);
	hub_index_name(hub, n, true);
	hub_publish_availability(hub, d);
	if (cJSON_GetArraySize(d->state) > 0)
		hub_publish_state(hub, d);
	hub_discovery_publish(hub, d, NULL);
	hub->devices_dirty = true;
}

/* ---------------------------------------------------------------- lifecycle */

struct fc_hub *fc_hub_new(const struct fc_broker *broker, const struct fc_config *cfg, struct fc_keystore *ks,
			  const struct fc_vendor *const *vendors, char *err, size_t errlen)
{
	struct fc_hub *hub = calloc(1, sizeof *hub);
	if (!hub) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	hub->broker = *broker;
	hub->cfg = cfg;
	hub->ks = ks;
	hub->vendors = vendors;
	snprintf(hub->base, sizeof hub->base, "%s", fc_config_str(cfg, "core", "base_topic"));
	snprintf(hub->ha_prefix, sizeof hub->ha_prefix, "%s", fc_config_str(cfg, "homeassistant", "prefix"));
	hub->discovery = fc_config_bool(cfg, "homeassistant", "discovery");
	hub->cmd_rate = fc_config_int(cfg, "core", "command_rate");
	hub->cmd_burst = fc_config_int(cfg, "core", "command_burst");
	hub->cmd_rl = fc_rl_new((unsigned)(hub->cmd_rate > 0 ? hub->cmd_rate : 0),
				(unsigned)(hub->cmd_burst > 0 ? hub->cmd_burst : 1), FC_HUB_RL_CLIENTS);
	if (!hub->cmd_rl) {
		snprintf(err, errlen, "out of memory");
		free(hub);
		return NULL;
	}
	if (!hub->base[0] || strpbrk(hub->base, "+#")) {
		snprintf(err, errlen, "core.base_topic '%s' is not a valid topic base", hub->base);
		fc_rl_free(hub->cmd_rl);
		free(hub);
		return NULL;
	}

	char pw[33], stored[128];
	fc_random_alnum(pw, 32);
	if (fc_ks_setting_ensure(ks, FC_SETTING_INTERNAL_PASSWORD, pw, stored, sizeof stored) != FC_KS_OK) {
		snprintf(err, errlen, "cannot read or create the internal MQTT credential in the keystore");
		fc_rl_free(hub->cmd_rl);
		free(hub);
		return NULL;
	}
	fc_secret_set_str(&hub->internal_pw, stored);

	for (size_t i = 0; vendors[i] && i < FC_HUB_MAX_VENDORS; i++) {
		const struct fc_vendor *v = vendors[i];
		hub->n_vendors = i + 1;
		if (v->broker && v->broker->init && v->broker->init(hub, &hub->vstate[i]) != 0) {
			snprintf(err, errlen, "vendor %s failed to initialise", v->name);
			hub->n_vendors = i; /* do not clean up the one that failed */
			fc_hub_free(hub);
			return NULL;
		}
	}
	struct load_ctx lc = {hub};
	if (fc_ks_device_each(ks, NULL, load_cb, &lc) < 0) {
		snprintf(err, errlen, "cannot read devices from the keystore");
		fc_hub_free(hub);
		return NULL;
	}
	fc_info("hub: %zu devices loaded, %zu vendors, base topic '%s'", hub->n_devices, hub->n_vendors, hub->base);
	return hub;
}

static void session_del(struct fc_hub *hub, struct session *s);

void fc_hub_free(struct fc_hub *hub)
{
	if (!hub)
		return;
	HASH_CLEAR(hh_name, hub->by_name);
	struct dev_node *n, *tmp;
	HASH_ITER(hh_key, hub->by_key, n, tmp)
	{
		const struct fc_vendor *v = n->d.vendor;
		if (n->d.vdata && v->broker && v->broker->free_vdata)
			v->broker->free_vdata(n->d.vdata);
		HASH_DELETE(hh_key, hub->by_key, n);
		exposes_release(hub, &n->d.exposes);
		cJSON_Delete(n->d.state);
		dev_node_free(n);
	}
	struct session *s, *stmp;
	HASH_ITER(hh, hub->sessions, s, stmp)
	session_del(hub, s);
	for (size_t i = 0; i < hub->n_vendors; i++)
		if (hub->vendors[i]->broker && hub->vendors[i]->broker->cleanup)
			hub->vendors[i]->broker->cleanup(hub, hub->vstate[i]);
	fc_secret_wipe(&hub->internal_pw);
	fc_rl_free(hub->cmd_rl);
	free(hub);
}

void fc_hub_start(struct fc_hub *hub)
{
	hub->started = true;
	char topic[256];
	snprintf(topic, sizeof topic, "%s/bridge/state", hub->base);
	hub_publish_str(hub, topic, "online", true);
	hub_publish_info(hub);
	struct dev_node *n, *tmp;
	HASH_ITER(hh_key, hub->by_key, n, tmp)
	{
		hub_publish_availability(hub, &n->d);
		hub_discovery_publish(hub, &n->d, NULL);
	}
	hub_publish_devices(hub);
}

void fc_hub_stop(struct fc_hub *hub)
{
	if (!hub->started)
		return;
	struct dev_node *n, *tmp;
	HASH_ITER(hh_key, hub->by_key, n, tmp)
	{
		n->d.online = false;
		hub_publish_availability(hub, &n->d);
	}
	char topic[256];
	snprintf(topic, sizeof topic, "%s/bridge/state", hub->base);
	hub_publish_str(hub, topic, "offline", true);
	hub->started = false;
}

void fc_hub_stats(struct fc_hub *hub, struct fc_hub_stats *out) { *out = hub->stats; }

/* ---------------------------------------------------------------- sessions */

/* A device's message comes with an ACL check and then the message event for the same client: the
 * last session found answers the second lookup. */
static struct session *session_find(struct fc_hub *hub, const void *handle)
{
	struct session *s = hub->sess_last;
	if (s && s->handle == handle)
		return s;
	s = NULL;
	HASH_FIND_PTR(hub->sessions, &handle, s);
	if (s)
		hub->sess_last = s;
	return s;
}

static void session_del(struct fc_hub *hub, struct session *s)
{
	if (hub->sess_last == s)
		hub->sess_last = NULL;
	HASH_DEL(hub->sessions, s);
	free(s);
}

static struct session *session_add(struct fc_hub *hub, const struct fc_client *c)
{
	struct session *s = session_find(hub, c->handle);
	if (!s) {
		s = calloc(1, sizeof *s);
		if (!s)
			return NULL;
		s->handle = c->handle;
		HASH_ADD_PTR(hub->sessions, handle, s);
	}
	s->vendor = NULL;
	s->dev = NULL;
	s->internal = false;
	return s;
}

enum fc_verdict fc_hub_on_auth(struct fc_hub *hub, const struct fc_client *c, const char *username,
			       const char *password)
{
	if (username && strcmp(username, FC_INTERNAL_USER) == 0) {
		if (password && fc_secret_equals(&hub->internal_pw, password, strlen(password))) {
			struct session *s = session_add(hub, c);
			if (s)
				s->internal = true;
			hub->stats.auth_ok++;
			return FC_ALLOW;
		}
		hub->stats.auth_denied++;
		fc_warn("refused %s from %s: wrong password for the internal user", c->id ? c->id : "?",
			c->address ? c->address : "?");
		return FC_DENY;
	}
	/* fakecloud's own client ids are not for anyone else (a taker-over would kick the internal client). */
	if (c->id && strncmp(c->id, "fakecloud-", 10) == 0) {
		hub->stats.auth_denied++;
		fc_warn("refused client %s (user %s): client ids starting with 'fakecloud-' are reserved",
			c->id, username ? username : "-");
		return FC_DENY;
	}
	for (size_t i = 0; i < hub->n_vendors; i++) {
		const struct fc_vendor *v = hub->vendors[i];
		if (!v->broker || !v->broker->auth)
			continue;
		struct fc_device *dev = NULL;
		enum fc_verdict r = v->broker->auth(hub, hub->vstate[i], c, username, password, &dev);
		if (r == FC_DEFER)
			continue;
		if (r == FC_ALLOW) {
			struct session *s = session_add(hub, c);
			if (s) {
				s->vendor = v;
				s->dev = dev;
			}
			hub->stats.auth_ok++;
			return FC_ALLOW;
		}
		hub->stats.auth_denied++;
		return FC_DENY;
	}
	/* Users and automations: Mosquitto's password_file decides. No fakecloud rights from an earlier
	 * connection that had this handle may survive. */
	struct session *stale = session_find(hub, c->handle);
	if (stale)
		session_del(hub, stale);
	return FC_DEFER;
}

void fc_hub_on_disconnect(struct fc_hub *hub, const struct fc_client *c)
{
	fc_rl_forget(hub->cmd_rl, c->handle);
	struct session *s = session_find(hub, c->handle);
	if (!s)
		return;
	if (s->vendor) {
		void *vs = fc_hub_vendor_state(hub, s->vendor);
		if (s->vendor->broker->disconnect)
			s->vendor->broker->disconnect(hub, vs, c, s->dev);
		/* A device goes offline only when the connection that brought it online ends (a reconnect with
		 * the same client id may already have taken over). */
		if (s->dev && s->dev->session == c->handle)
			fc_hub_device_set_online(hub, s->dev, NULL, false);
	}
	session_del(hub, s);
}

/* ---------------------------------------------------------------- ACL */

static bool starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

/* Topics under the base that users may write: bridge requests and device set/get/raw-set. Everything
 * else there (state, availability, raw, bridge outputs) is fakecloud's to publish. */
static bool plain_topic_writable(struct fc_hub *hub, const char *topic)
{
	const char *rest = topic + strlen(hub->base) + 1;
	if (starts_with(rest, "bridge/"))
		return starts_with(rest, "bridge/request/");
	const char *slash = strchr(rest, '/');
	if (!slash)
		return false;
	const char *tail = slash + 1;
	return strcmp(tail, "set") == 0 || starts_with(tail, "set/") || strcmp(tail, "get") == 0 ||
	       starts_with(tail, "get/") || strcmp(tail, "raw/set") == 0;
}

static bool under_base(struct fc_hub *hub, const char *topic)
{
	size_t n = strlen(hub->base);
	return strncmp(topic, hub->base, n) == 0 && topic[n] == '/';
}

static bool is_discovery_topic(struct fc_hub *hub, const char *topic)
{
	size_t n = strlen(hub->ha_prefix);
	if (strncmp(topic, hub->ha_prefix, n) != 0 || topic[n] != '/')
		return false;
	const char *comp_end = strchr(topic + n + 1, '/');
	return comp_end && starts_with(comp_end + 1, "fakecloud_");
}

enum fc_verdict fc_hub_on_acl(struct fc_hub *hub, const struct fc_client *c, const char *topic, int access)
{
	struct session *s = session_find(hub, c->handle);
	if (s && s->internal)
		return FC_ALLOW;
	if (s && s->vendor) {
		enum fc_verdict r = FC_DENY;
		if (s->vendor->broker->acl)
			r = s->vendor->broker->acl(hub, fc_hub_vendor_state(hub, s->vendor), c, s->dev, topic, access);
		if (r == FC_ALLOW)
			return FC_ALLOW;
		hub->stats.acl_denied++;
		static const char *const what[] = {"?", "read", "write", "?", "subscribe", "?", "?", "?", "unsubscribe"};
		fc_warn("ACL: refused %s of '%s' by %s client %s (device %s)", what[access & 8 ? 8 : access & 7], topic,
			s->vendor->name, c->id ? c->id : "?", s->dev ? s->dev->name : "-");
		return FC_DENY;
	}
	/* Users and automations (not fakecloud's clients). */
	if (starts_with(topic, "$fakecloud/")) {
		hub->stats.acl_denied++;
		fc_warn("ACL: refused %s (user %s) access to internal topic '%s'", c->id ? c->id : "?",
			c->username ? c->username : "-", topic);
		return FC_DENY;
	}
	if (access == FC_ACL_WRITE) {
		for (size_t i = 0; i < hub->n_vendors; i++) {
			const struct fc_vendor *v = hub->vendors[i];
			if (v->broker && v->broker->is_protected_topic && v->broker->is_protected_topic(topic)) {
				hub->stats.acl_denied++;
				fc_hub_bridge_log(hub, FC_LOG_WARN, NULL,
						  "refused: client %s (user %s) may not write the %s device topic '%s'; "
						  "only fakecloud writes there (use %s/<name>/set)",
						  c->id ? c->id : "?", c->username ? c->username : "-", v->title, topic,
						  hub->base);
				return FC_DENY;
			}
		}
		if ((under_base(hub, topic) && !plain_topic_writable(hub, topic)) ||
		    (hub->discovery && is_discovery_topic(hub, topic))) {
			hub->stats.acl_denied++;
			fc_warn("ACL: refused %s (user %s) writing '%s': fakecloud publishes there",
				c->id ? c->id : "?", c->username ? c->username : "-", topic);
			return FC_DENY;
		}
	}
	return FC_DEFER; /* Mosquitto's acl_file decides */
}

/* ---------------------------------------------------------------- PSK, tick */

int fc_hub_on_psk_key(struct fc_hub *hub, const struct fc_client *c, const char *hint, const char *identity,
		      char *hexkey, size_t cap)
{
	(void)c;
	for (size_t i = 0; i < hub->n_vendors; i++) {
		const struct fc_vendor *v = hub->vendors[i];
		if (!v->broker || !v->broker->psk_key)
			continue;
		int r = v->broker->psk_key(hub, hub->vstate[i], hint, identity, hexkey, cap);
		if (r == 0)
			return 0;
		if (r < 0)
			return -1;
	}
	fc_warn("PSK: no vendor recognises the identity offered on the PSK listener (hint '%s')", hint ? hint : "");
	return -1;
}

void fc_hub_on_tick(struct fc_hub *hub)
{
	if (!hub->started)
		fc_hub_start(hub);
	int64_t now = fc_hub_now_ms(hub);
	for (size_t i = 0; i < hub->n_vendors; i++)
		if (hub->vendors[i]->broker && hub->vendors[i]->broker->tick)
			hub->vendors[i]->broker->tick(hub, hub->vstate[i], now);
	/* bridge/devices is a whole-list message: coalesce changes, at most ~4 per second. */
	if (hub->devices_dirty && now - hub->devices_published_ms >= 250)
		hub_publish_devices(hub);
}

/* ---------------------------------------------------------------- messages */

static void command_error(struct fc_hub *hub, const struct fc_device *d, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void command_error(struct fc_hub *hub, const struct fc_device *d, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	hub->stats.command_errors++;
	fc_hub_bridge_log(hub, FC_LOG_ERROR, d, "%s", msg);
}

/* Turn /set/<attr> text into a JSON value: numbers stay numbers, everything else is a string. */
static cJSON *text_value(const void *payload, size_t len)
{
	char buf[512];
	if (len >= sizeof buf)
		return NULL;
	memcpy(buf, payload, len);
	buf[len] = 0;
	char *end;
	double v = strtod(buf, &end);
	if (len && *end == 0 && end != buf)
		return cJSON_CreateNumber(v);
	return cJSON_CreateString(buf);
}

static void handle_set(struct fc_hub *hub, struct fc_device *d, const char *attr, const void *payload, size_t len)
{
	const struct fc_vendor_broker *vb = d->vendor->broker;
	if (!d->online) {
		command_error(hub, d, "set: device is offline; command not sent");
		return;
	}
	cJSON *in = NULL;
	if (attr) {
		cJSON *val = text_value(payload, len);
		in = cJSON_CreateObject();
		if (val)
			cJSON_AddItemToObject(in, attr, val);
	} else {
		in = hub_parse_json(payload, len);
	}
	if (!cJSON_IsObject(in) || cJSON_GetArraySize(in) == 0) {
		command_error(hub, d, "set: expected a JSON object of attributes, e.g. {\"state\":\"ON\"}");
		goto out;
	}
	cJSON *set = cJSON_CreateObject();
	const cJSON *item;
	char err[256];
	cJSON_ArrayForEach(item, in)
	{
		const struct fc_expose *e = fc_exposes_find(&d->exposes, item->string);
		if (!e) {
			command_error(hub, d, "set: unknown attribute '%.64s' (see exposes in %s/bridge/devices)",
				      item->string, hub->base);
			cJSON_Delete(set);
			goto out;
		}
		cJSON *v = fc_expose_coerce(e, item, err, sizeof err);
		if (!v) {
			command_error(hub, d, "set: %s", err);
			cJSON_Delete(set);
			goto out;
		}
		cJSON_AddItemToObject(set, e->property, v);
	}
	if (!vb || !vb->command) {
		command_error(hub, d, "set: %s devices take no commands", d->vendor->title);
	} else if (vb->command(hub, fc_hub_vendor_state(hub, d->vendor), d, set, err, sizeof err) != 0) {
		command_error(hub, d, "set: %s", err);
	} else {
		hub->stats.commands++;
	}
	cJSON_Delete(set);
out:
	cJSON_Delete(in);
}

static void handle_get(struct fc_hub *hub, struct fc_device *d, const char *attr, const void *payload, size_t len)
{
	const struct fc_vendor_broker *vb = d->vendor->broker;
	cJSON *props = NULL;
	if (attr) {
		props = cJSON_CreateObject();
		cJSON_AddStringToObject(props, attr, "");
	} else if (len == 0) {
		props = cJSON_CreateObject();
	} else {
		props = hub_parse_json(payload, len);
	}
	char err[256];
	if (!cJSON_IsObject(props)) {
		command_error(hub, d, "get: expected a JSON object naming attributes, e.g. {\"state\":\"\"}");
		goto out;
	}
	const cJSON *item;
	cJSON_ArrayForEach(item, props)
	{
		if (!fc_exposes_find(&d->exposes, item->string)) {
			command_error(hub, d, "get: unknown attribute '%.64s'", item->string);
			goto out;
		}
	}
	if (!d->online)
		command_error(hub, d, "get: device is offline; request not sent");
	else if (!vb || !vb->refresh)
		command_error(hub, d, "get: %s devices cannot be asked for their state", d->vendor->title);
	else if (vb->refresh(hub, fc_hub_vendor_state(hub, d->vendor), d, props, err, sizeof err) != 0)
		command_error(hub, d, "get: %s", err);
out:
	cJSON_Delete(props);
}

static void handle_raw_set(struct fc_hub *hub, struct fc_device *d, const void *payload, size_t len)
{
	const struct fc_vendor_broker *vb = d->vendor->broker;
	cJSON *body = hub_parse_json(payload, len);
	char err[256];
	if (!cJSON_IsObject(body))
		command_error(hub, d, "raw/set: expected a JSON object (the vendor-native body)");
	else if (!d->online)
		command_error(hub, d, "raw/set: device is offline; command not sent");
	else if (!vb || !vb->raw_command)
		command_error(hub, d, "raw/set: %s devices take no raw commands", d->vendor->title);
	else if (vb->raw_command(hub, fc_hub_vendor_state(hub, d->vendor), d, body, err, sizeof err) != 0)
		command_error(hub, d, "raw/set: %s", err);
	else
		hub->stats.commands++;
	cJSON_Delete(body);
}

/* core.command_rate: false when this client's command budget is spent (the command is dropped).
 * fakecloud-httpd (the internal client, relaying app commands) has its own HTTP limits. */
static bool command_budget(struct fc_hub *hub, const struct fc_client *c, bool internal)
{
	if (internal || !fc_rl_enabled(hub->cmd_rl))
		return true;
	struct fc_rl_verdict v = fc_rl_take(hub->cmd_rl, c->handle, fc_hub_now_ms(hub));
	if (v.allowed)
		return true;
	hub->stats.commands_dropped++;
	if (v.notice)
		fc_hub_bridge_log(hub, FC_LOG_WARN, NULL,
				  "client '%s' (user %s) sends commands faster than core.command_rate allows (%ld/s, "
				  "burst %ld): %llu dropped; further drops are summed up every %d s",
				  c->id ? c->id : "?", c->username ? c->username : "-", hub->cmd_rate, hub->cmd_burst,
				  (unsigned long long)v.dropped, FC_RL_NOTICE_MS / 1000);
	return false;
}

/* Returns true when the message must not be delivered to subscribers (it may carry a secret). */
static bool handle_plain(struct fc_hub *hub, const struct fc_client *c, bool internal, const char *rest,
			 const void *payload, size_t len)
{
	if (starts_with(rest, "bridge/request/")) {
		const char *op = rest + strlen("bridge/request/");
		/* Vendor requests (<vendor>/<op>) can carry keys: they are consumed, never relayed, even when
		 * dropped for the rate limit. */
		bool consume = strchr(op, '/') && !starts_with(op, "device/");
		if (command_budget(hub, c, internal))
			hub_bridge_request(hub, c, op, payload, len);
		return consume;
	}
	const char *slash = strchr(rest, '/');
	if (!slash)
		return false;
	char name[128];
	size_t nl = (size_t)(slash - rest);
	if (nl == 0 || nl >= sizeof name)
		return false;
	memcpy(name, rest, nl);
	name[nl] = 0;
	const char *tail = slash + 1;
	bool is_set = strcmp(tail, "set") == 0 || starts_with(tail, "set/");
	bool is_get = strcmp(tail, "get") == 0 || starts_with(tail, "get/");
	bool is_raw = strcmp(tail, "raw/set") == 0;
	if (!is_set && !is_get && !is_raw)
		return false;
	if (!command_budget(hub, c, internal))
		return false;
	struct fc_device *d = fc_hub_device_by_name(hub, name);
	if (!d) {
		command_error(hub, NULL, "%s: no device named '%s'", tail, name);
		return false;
	}
	const char *attr = NULL;
	if ((is_set || is_get) && tail[3] == '/') {
		attr = tail + 4;
		if (!*attr || strchr(attr, '/')) {
			command_error(hub, d, "%s: malformed attribute topic", tail);
			return false;
		}
	}
	if (is_set)
		handle_set(hub, d, attr, payload, len);
	else if (is_get)
		handle_get(hub, d, attr, payload, len);
	else
		handle_raw_set(hub, d, payload, len);
	return false;
}

static void handle_internal(struct fc_hub *hub, const char *rest, const void *payload, size_t len)
{
	char vname[32];
	const char *slash = strchr(rest, '/');
	size_t n = slash ? (size_t)(slash - rest) : 0;
	if (!slash || n == 0 || n >= sizeof vname)
		return;
	memcpy(vname, rest, n);
	vname[n] = 0;
	const char *op = slash + 1;
	if (strcmp(vname, "core") == 0) {
		if (strcmp(op, "device-changed") == 0) {
			cJSON *j = hub_parse_json(payload, len);
			const char *vn = json_str(j, "vendor"), *vid = json_str(j, "vid");
			const struct fc_vendor *v = vn ? fc_vendor_find(hub->vendors, vn) : NULL;
			if (v && vid)
				hub_reload_device(hub, v, vid);
			else
				fc_warn("internal: malformed device-changed message ignored");
			cJSON_Delete(j);
		}
		return;
	}
	const struct fc_vendor *v = fc_vendor_find(hub->vendors, vname);
	if (v && v->broker && v->broker->internal)
		v->broker->internal(hub, fc_hub_vendor_state(hub, v), op, payload, len);
	else
		fc_warn("internal: no handler for '%s/%s'", vname, op);
}

enum fc_verdict fc_hub_on_message(struct fc_hub *hub, const struct fc_client *c, const char *topic,
				  const void *payload, size_t len, bool retain)
{
	(void)retain;
	hub->stats.messages++;
	struct session *s = session_find(hub, c->handle);
	if (s && s->internal && starts_with(topic, FC_INTERNAL_TOPIC_PREFIX)) {
		handle_internal(hub, topic + strlen(FC_INTERNAL_TOPIC_PREFIX), payload, len);
		return FC_DENY; /* consumed; nobody else needs to see it */
	}
	if (s && s->vendor) {
		if (s->dev)
			hub_touch(hub, s->dev);
		if (!s->vendor->broker->message)
			return FC_ALLOW;
		enum fc_verdict r = s->vendor->broker->message(hub, fc_hub_vendor_state(hub, s->vendor), c, s->dev, topic,
							       payload, len);
		return r == FC_DENY ? FC_DENY : FC_ALLOW;
	}
	if (under_base(hub, topic)) {
		if (handle_plain(hub, c, s && s->internal, topic + strlen(hub->base) + 1, payload, len))
			return FC_DENY;
	} else if (hub->discovery && strncmp(topic, hub->ha_prefix, strlen(hub->ha_prefix)) == 0 &&
		   strcmp(topic + strlen(hub->ha_prefix), "/status") == 0 && len == 6 && memcmp(payload, "online", 6) == 0) {
		/* Home Assistant restarted: send discovery and states again. */
		struct dev_node *n, *tmp;
		HASH_ITER(hh_key, hub->by_key, n, tmp)
		{
			hub_discovery_publish(hub, &n->d, NULL);
			hub_publish_availability(hub, &n->d);
			if (cJSON_GetArraySize(n->d.state) > 0)
				hub_publish_state(hub, &n->d);
		}
	}
	return FC_ALLOW;
}
