/* Meross device sessions on the broker (meross.md §1-§4): login, confinement, the bind handshake,
 * signature checks, state, commands. Runs on the broker thread; talks to core only. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/keystore.h"
#include "core/log.h"
#include "vendors/meross/meross_internal.h"

#include <uthash.h>

#define NS_BIND "Appliance.Control.Bind"
#define NS_CLOCK "Appliance.System.Clock"
#define NS_ALL "Appliance.System.All"
#define NS_ABILITY "Appliance.System.Ability"
#define NS_TIME "Appliance.System.Time"
#define NS_CONSUMPTION_CONFIG "Appliance.Control.ConsumptionConfig"
#define NS_SUBDEVICE_LIST "Appliance.Hub.SubdeviceList"

/* Online devices, for polling and timeouts in tick. */
struct online {
	struct fc_device *dev;
	struct online *next;
};

struct session_vs {
	struct meross_vs cfg;
	int64_t next_sweep_ms;
	struct online *online;
	struct meross_apps *apps; /* app clients connected, per account (app.c) */
};

static struct session_vs *SV(void *vs) { return vs; }
static struct meross_dev *MD(struct fc_device *dev) { return dev ? dev->vdata : NULL; }

static void online_add(struct session_vs *sv, struct fc_device *dev)
{
	for (struct online *o = sv->online; o; o = o->next)
		if (o->dev == dev)
			return;
	struct online *o = calloc(1, sizeof *o);
	if (!o)
		return;
	o->dev = dev;
	o->next = sv->online;
	sv->online = o;
}

static void online_del(struct session_vs *sv, struct fc_device *dev)
{
	for (struct online **p = &sv->online; *p; p = &(*p)->next)
		if ((*p)->dev == dev) {
			struct online *o = *p;
			*p = o->next;
			free(o);
			return;
		}
}

/* ---------------------------------------------------------------- pending requests */

static void pending_free(struct meross_pending *p)
{
	cJSON_Delete(p->set);
	cJSON_Delete(p->app_set);
	free(p);
}

static void pending_clear(struct meross_dev *md)
{
	while (md->pending) {
		struct meross_pending *p = md->pending;
		md->pending = p->next;
		pending_free(p);
	}
}

static struct meross_pending *pending_take(struct meross_dev *md, const char *message_id)
{
	for (struct meross_pending **pp = &md->pending; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->message_id, message_id) == 0) {
			struct meross_pending *p = *pp;
			*pp = p->next;
			return p;
		}
	return NULL;
}

struct key_node {
	UT_hash_handle hh; /* keyed by s.b[0..s.len) */
	unsigned refs;
	struct fc_secret s;
};
static struct key_node *held_keys; /* the broker thread only */
static const struct fc_secret no_key;

const struct fc_secret *meross_key_hold(const struct fc_secret *k)
{
	if (!k || fc_secret_len(k) == 0)
		return &no_key;
	struct key_node *n = NULL;
	HASH_FIND(hh, held_keys, fc_secret_reveal(k), fc_secret_len(k), n);
	if (!n) {
		if (!(n = calloc(1, sizeof *n)))
			return &no_key;
		if (fc_secret_set(&n->s, fc_secret_reveal(k), fc_secret_len(k)) != 0) {
			free(n);
			return &no_key;
		}
		HASH_ADD_KEYPTR(hh, held_keys, n->s.b, n->s.len, n);
	}
	n->refs++;
	return &n->s;
}

void meross_key_drop(const struct fc_secret *k)
{
	if (!k || k == &no_key)
		return;
	struct key_node *n = (struct key_node *)((const char *)k - offsetof(struct key_node, s));
	if (--n->refs > 0)
		return;
	HASH_DELETE(hh, held_keys, n);
	fc_secret_wipe(&n->s);
	free(n);
}

static void free_md(void *vdata)
{
	struct meross_dev *md = vdata;
	if (!md)
		return;
	pending_clear(md);
	for (size_t i = 0; i < sizeof md->ability_args / sizeof md->ability_args[0]; i++)
		cJSON_Delete(md->ability_args[i]);
	free(md->sub_ids);
	meross_key_drop(md->key);
	free(md);
}

/* ---------------------------------------------------------------- sending */

static void topic_of(const struct meross_dev *md, const char *leaf, char *out, size_t cap)
{
	snprintf(out, cap, "/appliance/%s/%s", md->uuid, leaf);
}

static int publish(struct fc_hub *hub, struct meross_dev *md, char *json)
{
	if (!json)
		return -1;
	char topic[96];
	topic_of(md, "subscribe", topic, sizeof topic);
	int rc = fc_broker_publish_to(fc_hub_broker(hub), md->client_id, topic, json, strlen(json), 1);
	free(json);
	return rc;
}

static int send_msg(struct fc_hub *hub, struct meross_dev *md, const char *ns, const char *method, const cJSON *payload,
		    const char *message_id, char id_out[33])
{
	int64_t now = fc_hub_now_ms(hub);
	char from[96];
	topic_of(md, "publish", from, sizeof from);
	struct meross_out o = {.namespace_ = ns,
			       .method = method,
			       .from = from,
			       .message_id = message_id,
			       .trigger_src = "CloudControl",
			       .timestamp = now / 1000,
			       .timestamp_ms = (int)(now % 1000)};
	return publish(hub, md, meross_msg_build(&o, payload, fc_secret_reveal(md->key), fc_secret_len(md->key), id_out));
}

int meross_request(struct fc_hub *hub, struct fc_device *dev, const char *ns, const char *method, const cJSON *payload,
		   const cJSON *set, bool user, struct fc_device *target)
{
	struct meross_dev *md = MD(dev);
	int waiting = 0;
	for (struct meross_pending *q = md->pending; q; q = q->next)
		waiting++;
	if (waiting >= MEROSS_MAX_PENDING) {
		fc_hub_bridge_log(hub, FC_LOG_WARN, dev, "%d requests are waiting for a reply; %s %s not sent", waiting,
				  method, ns);
		return -1;
	}
	char id[33];
	if (send_msg(hub, md, ns, method, payload, NULL, id) != 0)
		return -1;
	struct meross_pending *p = calloc(1, sizeof *p);
	if (!p)
		return 0;
	snprintf(p->message_id, sizeof p->message_id, "%s", id);
	snprintf(p->namespace_, sizeof p->namespace_, "%s", ns);
	if (target && target != dev)
		snprintf(p->target, sizeof p->target, "%s", target->vid);
	p->set = set ? cJSON_Duplicate(set, true) : NULL;
	p->sent_ms = fc_hub_now_ms(hub);
	p->user = user;
	p->next = md->pending;
	md->pending = p;
	return 0;
}

static int request(struct fc_hub *hub, struct fc_device *dev, const char *ns, const char *method, const cJSON *payload,
		   const cJSON *set, bool user)
{
	return meross_request(hub, dev, ns, method, payload, set, user, NULL);
}

void meross_track_app_set(struct fc_hub *hub, struct fc_device *dev, const struct meross_msg *m)
{
	struct meross_dev *md = MD(dev);
	int waiting = 0;
	for (struct meross_pending *q = md->pending; q; q = q->next)
		waiting++;
	/* Apps may not crowd out fakecloud's own requests: at most half the slots. */
	if (waiting >= MEROSS_MAX_PENDING / 2 || strlen(m->message_id) >= sizeof md->pending->message_id)
		return;
	struct meross_pending *p = calloc(1, sizeof *p);
	if (!p)
		return;
	snprintf(p->message_id, sizeof p->message_id, "%.32s", m->message_id); /* fits: checked above */
	snprintf(p->namespace_, sizeof p->namespace_, "%s", m->namespace_);
	p->app = true;
	p->app_set = cJSON_Duplicate(m->payload, true);
	p->sent_ms = fc_hub_now_ms(hub);
	p->next = md->pending;
	md->pending = p;
}

struct meross_dev *meross_md_new(void)
{
	struct meross_dev *md = calloc(1, sizeof *md);
	if (md) {
		md->channels = 1;
		md->key = &no_key;
	}
	return md;
}

/* GET every namespace of the device that has a GET (all = false: only the polled ones). */
static void get_all(struct fc_hub *hub, struct fc_device *dev, bool all)
{
	struct meross_dev *md = MD(dev);
	for (size_t i = 0; i < meross_n_namespaces; i++) {
		const struct meross_ns *ns = &meross_namespaces[i];
		if (!(md->abilities & (1u << i)) || !ns->get_payload || (!all && !ns->poll))
			continue;
		cJSON *p = ns->get_payload(md);
		request(hub, dev, ns->name, "GET", p, NULL, false);
		cJSON_Delete(p);
	}
}

/* ---------------------------------------------------------------- lifecycle */

static int m_init(struct fc_hub *hub, void **vs)
{
	struct session_vs *sv = calloc(1, sizeof *sv);
	if (!sv)
		return -1;
	const struct fc_config *cfg = fc_hub_config(hub);
	sv->cfg.electricity_interval_ms = fc_config_int(cfg, "meross", "electricity_interval") * 1000;
	sv->cfg.command_timeout_ms = fc_config_int(cfg, "meross", "command_timeout") * 1000;
	sv->cfg.time_sync = fc_config_bool(cfg, "meross", "time_sync");
	snprintf(sv->cfg.timezone, sizeof sv->cfg.timezone, "%s", fc_config_str(cfg, "core", "timezone"));
	sv->apps = meross_apps_new();
	if (!sv->apps || meross_account_ensure_default(fc_hub_keystore(hub)) < 0) {
		meross_apps_free(sv->apps);
		free(sv);
		return -1;
	}
	meross_app_reset_online(fc_hub_keystore(hub)); /* left over from a broker that did not stop cleanly */
	*vs = sv;
	return 0;
}

static void m_cleanup(struct fc_hub *hub, void *vs)
{
	struct session_vs *sv = vs;
	meross_app_reset_online(fc_hub_keystore(hub)); /* nothing stays connected */
	while (sv->online)
		online_del(sv, sv->online->dev);
	meross_apps_free(sv->apps);
	free(sv);
}

/* ---------------------------------------------------------------- auth + ACL */

static enum fc_verdict m_auth(struct fc_hub *hub, void *vs, const struct fc_client *c, const char *username,
			      const char *password, struct fc_device **dev)
{
	struct meross_apps *apps = SV(vs)->apps;
	/* A connection that authenticates (again) is only what this login makes it: if it was counted as
	 * an app client before, it is not any more (meross_app_auth counts it again if it is one). */
	meross_apps_drop(apps, c->handle);
	enum fc_verdict app = meross_app_auth(hub, apps, c, username, password);
	if (app != FC_DEFER)
		return app; /* an app client: a session without a device */
	char uuid[MEROSS_UUID_LEN + 1];
	if (!c->id || meross_parse_device_client_id(c->id, uuid) != 0)
		return FC_DEFER;
	char uid[24], hash[33], want[33];
	if (!username || !meross_mac_valid(username)) {
		fc_warn("meross: refused device %s: its username must be its MAC address (aa:bb:cc:dd:ee:ff)", uuid);
		return FC_DENY;
	}
	if (!password || meross_parse_device_password(password, uid, sizeof uid, hash) != 0) {
		fc_warn("meross: refused device %s: its password is not of the form <userId>_<md5>", uuid);
		return FC_DENY;
	}
	struct meross_account acct;
	int rc = meross_account_get(fc_hub_keystore(hub), uid, &acct);
	if (rc != FC_KS_OK) {
		fc_warn("meross: refused device %s: it is configured for userId %s, which fakecloud does not know; "
			"import that account with `fakecloud device add meross-account --user-id %s --key <key>` "
			"(see docs/vendors/meross.md)",
			uuid, uid, uid);
		return FC_DENY;
	}
	meross_device_password_hash(username, fc_secret_reveal(&acct.key), fc_secret_len(&acct.key), want);
	for (char *p = hash; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'F' ? *p + 32 : *p);
	if (!fc_ct_equal(hash, want, 32)) {
		fc_warn("meross: refused device %s: wrong password for userId %s (the device was configured with "
			"another key for that account)",
			uuid, uid);
		fc_secret_wipe(&acct.key);
		return FC_DENY;
	}
	/* A known uuid stays with the account and MAC it registered with: a holder of another account's key
	 * (or a copied uuid) cannot take the device over. Re-homing to another account = remove it first. */
	struct fc_device_row row;
	rc = fc_ks_device_get(fc_hub_keystore(hub), "meross", uuid, &row);
	bool known = rc == FC_KS_OK, record = !known;
	if (known) {
		const char *su = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row.meta, "user_id"));
		const char *sm = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row.meta, "mac"));
		const char *why = su && strcmp(su, uid) != 0 ? "userId" : sm && strcmp(sm, username) != 0 ? "MAC" : NULL;
		if (why) {
			fc_warn("meross: refused device %s: it is registered with %s %s but logged in with %s; if it was "
				"re-homed on purpose, remove it first (bridge request device/remove with forget_keys)",
				uuid, why, !strcmp(why, "MAC") ? sm : su, !strcmp(why, "MAC") ? username : uid);
			fc_device_row_free(&row);
			fc_secret_wipe(&acct.key);
			return FC_DENY;
		}
		record = !su || !sm;
		fc_device_row_free(&row);
	} else if (rc != FC_KS_NOTFOUND) {
		fc_secret_wipe(&acct.key);
		return FC_DENY;
	}
	cJSON *meta = cJSON_CreateObject();
	cJSON_AddStringToObject(meta, "mac", username);
	cJSON_AddStringToObject(meta, "user_id", uid);
	*dev = fc_hub_device_ensure(hub, &meross_vendor, uuid, NULL, meta);
	if (*dev && record && known) /* only when something is missing: no write on every login */
		fc_ks_device_merge_meta(fc_hub_keystore(hub), "meross", uuid, meta);
	cJSON_Delete(meta);
	if (!*dev) {
		fc_warn("meross: refused device %s: it could not be registered (see the keystore error above)", uuid);
		fc_secret_wipe(&acct.key);
		return FC_DENY;
	}
	struct meross_dev *md = MD(*dev);
	if (!md) {
		md = meross_md_new();
		if (!md) {
			fc_secret_wipe(&acct.key);
			return FC_DENY;
		}
		(*dev)->vdata = md;
	}
	snprintf(md->uuid, sizeof md->uuid, "%s", uuid);
	snprintf(md->user_id, sizeof md->user_id, "%s", uid);
	snprintf(md->mac, sizeof md->mac, "%s", username);
	snprintf(md->client_id, sizeof md->client_id, "%s", c->id);
	md->conn = c->handle;
	const struct fc_secret *key = meross_key_hold(&acct.key);
	meross_key_drop(md->key);
	md->key = key;
	fc_secret_wipe(&acct.key);
	md->bound = false;
	pending_clear(md);
	return FC_ALLOW;
}

static bool topic_is(const char *topic, const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b);
	return strncmp(topic, a, la) == 0 && strncmp(topic + la, b, lb) == 0 && strcmp(topic + la + lb, c) == 0;
}

static enum fc_verdict m_acl(struct fc_hub *hub, void *vs, const struct fc_client *c, struct fc_device *dev,
			     const char *topic, int access)
{
	(void)vs;
	if (!dev)
		return meross_app_acl(hub, c, topic, access);
	struct meross_dev *md = MD(dev);
	if (!md)
		return FC_DENY;
	if (access == FC_ACL_WRITE) {
		if (topic_is(topic, "/appliance/", md->uuid, "/publish"))
			return FC_ALLOW;
		/* Replies to app requests go to the app's topic of the device's own account (§1). */
		char app[48];
		snprintf(app, sizeof app, "/app/%s", md->user_id);
		size_t n = strlen(app);
		if (strncmp(topic, app, n) == 0 && topic[n] == '-' && strchr(topic + n + 1, '/') &&
		    strcmp(strchr(topic + n + 1, '/'), "/subscribe") == 0)
			return FC_ALLOW;
		return FC_DENY;
	}
	return topic_is(topic, "/appliance/", md->uuid, "/subscribe") ? FC_ALLOW : FC_DENY;
}

/* Users may not write anything devices or Meross apps read or trust: device command topics, device
 * reply topics (which app clients see) and app topics. */
static bool m_protected(const char *topic)
{
	return strncmp(topic, "/appliance/", 11) == 0 || strncmp(topic, "/app/", 5) == 0;
}

/* ---------------------------------------------------------------- device messages */

static void apply_state(struct fc_hub *hub, struct fc_device *dev, const char *ns_name, const cJSON *payload)
{
	const struct meross_ns *ns = meross_ns_find(ns_name, NULL);
	if (!ns || !ns->to_state)
		return;
	cJSON *patch = cJSON_CreateObject();
	ns->to_state(payload, patch, MD(dev));
	if (cJSON_GetArraySize(patch) > 0)
		fc_hub_device_update_state(hub, dev, patch);
	cJSON_Delete(patch);
}

/* Abilities and channel count are kept in the device's meta so that after a broker restart commands
 * work as soon as the device binds, before its Ability reply arrives. */
static void persist_caps(struct fc_hub *hub, struct fc_device *dev)
{
	struct meross_dev *md = MD(dev);
	cJSON *patch = cJSON_CreateObject();
	cJSON *ab = cJSON_AddObjectToObject(patch, "abilities");
	for (size_t i = 0; i < meross_n_namespaces; i++)
		if (md->abilities & (1u << i))
			cJSON_AddItemToObject(ab, meross_namespaces[i].name,
					      md->ability_args[i] ? cJSON_Duplicate(md->ability_args[i], true)
								  : cJSON_CreateObject());
	cJSON_AddNumberToObject(patch, "channels", md->channels);
	fc_ks_device_merge_meta(fc_hub_keystore(hub), "meross", dev->vid, patch);
	cJSON_Delete(patch);
}

static void set_abilities(struct meross_dev *md, const cJSON *ab)
{
	md->abilities = 0;
	for (size_t i = 0; i < meross_n_namespaces && i < sizeof md->ability_args / sizeof md->ability_args[0]; i++) {
		cJSON_Delete(md->ability_args[i]);
		md->ability_args[i] = NULL;
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(ab, meross_namespaces[i].name);
		if (!a)
			continue;
		md->abilities |= 1u << i;
		if (!cJSON_IsObject(a) || a->child) /* {} is kept as NULL: namespaces read both the same */
			md->ability_args[i] = cJSON_Duplicate(a, true);
	}
}

static void rebuild_exposes(struct fc_hub *hub, struct fc_device *dev)
{
	struct meross_dev *md = MD(dev);
	if (!md->abilities)
		return;
	persist_caps(hub, dev);
	struct fc_exposes x = {0};
	meross_build_exposes(md, &x);
	fc_hub_device_set_exposes(hub, dev, &x);
	fc_exposes_free(&x);
}

static const cJSON *path(const cJSON *o, const char *a, const char *b, const char *c)
{
	o = cJSON_GetObjectItemCaseSensitive(o, a);
	if (b)
		o = cJSON_GetObjectItemCaseSensitive(o, b);
	if (c)
		o = cJSON_GetObjectItemCaseSensitive(o, c);
	return o;
}

static void on_all(struct fc_hub *hub, struct fc_device *dev, const cJSON *payload, const struct fc_client *c)
{
	struct meross_dev *md = MD(dev);
	const cJSON *sys = path(payload, "all", "system", NULL);
	const char *type = cJSON_GetStringValue(path(sys, "hardware", "type", NULL));
	const char *fw = cJSON_GetStringValue(path(sys, "firmware", "version", NULL));
	const char *ip = cJSON_GetStringValue(path(sys, "firmware", "innerIp", NULL));
	fc_hub_device_set_info(hub, dev, type, fw, ip);
	/* subType and hardware version only matter to the app API's devList: kept in meta on a change. */
	const char *st = cJSON_GetStringValue(path(sys, "hardware", "subType", NULL));
	const char *hv = cJSON_GetStringValue(path(sys, "hardware", "version", NULL));
	cJSON *hw = cJSON_CreateObject();
	if (st && strncmp(md->hw_subtype, st, sizeof md->hw_subtype - 1) != 0) {
		snprintf(md->hw_subtype, sizeof md->hw_subtype, "%s", st);
		cJSON_AddStringToObject(hw, "sub_type", md->hw_subtype);
	}
	if (hv && strncmp(md->hw_version, hv, sizeof md->hw_version - 1) != 0) {
		snprintf(md->hw_version, sizeof md->hw_version, "%s", hv);
		cJSON_AddStringToObject(hw, "hw_version", md->hw_version);
	}
	if (cJSON_GetArraySize(hw) > 0)
		fc_ks_device_merge_meta(fc_hub_keystore(hub), "meross", dev->vid, hw);
	cJSON_Delete(hw);
	int before = md->channels;
	const cJSON *digest = path(payload, "all", "digest", NULL);
	cJSON *tx = cJSON_CreateObject();
	cJSON_AddItemReferenceToObject(tx, "togglex", (cJSON *)cJSON_GetObjectItemCaseSensitive(digest, "togglex"));
	apply_state(hub, dev, "Appliance.Control.ToggleX", tx);
	cJSON_Delete(tx);
	/* Legacy firmware: "control":{"toggle":{...}} instead of digest. */
	const cJSON *control = path(payload, "all", "control", NULL);
	if (control)
		apply_state(hub, dev, "Appliance.Control.Toggle", control);
	if (md->channels != before)
		rebuild_exposes(hub, dev);
	const cJSON *hubd = cJSON_GetObjectItemCaseSensitive(digest, "hub");
	if (cJSON_IsObject(hubd))
		meross_hub_digest(hub, dev, hubd, c);
}

static void on_ability(struct fc_hub *hub, struct fc_device *dev, const cJSON *payload)
{
	struct meross_dev *md = MD(dev);
	const cJSON *ab = cJSON_GetObjectItemCaseSensitive(payload, "ability");
	if (!cJSON_IsObject(ab))
		return;
	set_abilities(md, ab);
	rebuild_exposes(hub, dev);
	get_all(hub, dev, true); /* initial state */
}

static void on_bound(struct fc_hub *hub, struct session_vs *sv, struct fc_device *dev, const struct fc_client *c)
{
	struct meross_dev *md = MD(dev);
	bool first = !md->bound;
	md->bound = true;
	fc_hub_device_set_online(hub, dev, c, true);
	online_add(sv, dev);
	meross_app_availability(hub, dev, true);
	if (!first)
		return;
	cJSON *empty = cJSON_CreateObject();
	request(hub, dev, NS_ALL, "GET", empty, NULL, false);
	request(hub, dev, NS_ABILITY, "GET", empty, NULL, false);
	cJSON_Delete(empty);
	if (sv->cfg.time_sync) {
		/* Timezone and time. timeRule (DST transitions) is omitted, as some published clients do: an empty
		 * list could pin device timers to UTC (meross.md §3). */
		cJSON *t = cJSON_CreateObject();
		cJSON *time = cJSON_AddObjectToObject(t, "time");
		cJSON_AddNumberToObject(time, "timestamp", (double)(fc_hub_now_ms(hub) / 1000));
		cJSON_AddStringToObject(time, "timezone", sv->cfg.timezone);
		request(hub, dev, NS_TIME, "SET", t, NULL, false);
		cJSON_Delete(t);
	}
	md->next_poll_ms = fc_hub_now_ms(hub) + sv->cfg.electricity_interval_ms;
}

static void on_reply(struct fc_hub *hub, struct fc_device *dev, const struct meross_msg *m, const struct fc_client *c)
{
	struct meross_dev *md = MD(dev);
	struct meross_pending *p = pending_take(md, m->message_id);
	if (strcmp(m->method, "ERROR") == 0) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(m->payload, "error");
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
		const char *detail = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "detail"));
		fc_hub_bridge_log(hub, p && p->user ? FC_LOG_ERROR : FC_LOG_WARN, dev,
				  "%s %s refused by the device: error %g%s%s", m->namespace_,
				  p && p->app ? "app request" : p ? "request" : "message",
				  cJSON_IsNumber(code) ? code->valuedouble : -1.0, detail ? ", " : "", detail ? detail : "");
	} else if (strcmp(m->namespace_, NS_ALL) == 0) {
		if (p) /* only answers to our own requests: unsolicited replies must not trigger work */
			on_all(hub, dev, m->payload, c);
	} else if (strcmp(m->namespace_, NS_ABILITY) == 0) {
		if (p)
			on_ability(hub, dev, m->payload);
	} else {
		if (!meross_hub_payload(hub, dev, m->namespace_, m->payload))
			apply_state(hub, dev, m->namespace_, m->payload);
		struct fc_device *target = p && p->target[0] ? fc_hub_device(hub, &meross_vendor, p->target) : dev;
		if (p && p->set && target && strcmp(m->method, "SETACK") == 0)
			fc_hub_device_update_state(hub, target, p->set);
		/* An app's SET acknowledged: the state follows it as it would a PUSH with the same payload. */
		if (p && p->app_set && strcmp(m->method, "SETACK") == 0 &&
		    !meross_hub_payload(hub, dev, m->namespace_, p->app_set))
			apply_state(hub, dev, m->namespace_, p->app_set);
	}
	if (p)
		pending_free(p);
}

static bool truthy(const cJSON *v)
{
	return cJSON_IsTrue(v) || (cJSON_IsNumber(v) && v->valuedouble != 0);
}

/* Where "needReply" sits in a Hub.SubdeviceList PUSH is not documented (meross.md §3.5): accept it at
 * the top of the payload or one object below. */
static bool needs_reply(const cJSON *payload)
{
	if (truthy(cJSON_GetObjectItemCaseSensitive(payload, "needReply")))
		return true;
	const cJSON *child;
	cJSON_ArrayForEach(child, payload)
	{
		if (cJSON_IsObject(child) && truthy(cJSON_GetObjectItemCaseSensitive(child, "needReply")))
			return true;
	}
	return false;
}

/* /raw shows the message without its signature: (messageId, timestamp, sign) triples are what old
 * firmware accepted as a key substitute (meross.md §2). Normally the device's own bytes with the sign
 * member cut out (codec.c); when the codec cannot vouch for that, the parsed tree printed without it. */
static void publish_raw(struct fc_hub *hub, struct fc_device *dev, struct meross_msg *m, const void *payload,
			size_t len)
{
	char small[2048];
	char *text = len <= sizeof small ? small : malloc(len);
	size_t n = text ? meross_msg_raw_text(m, payload, len, text, len) : 0;
	if (n) {
		fc_hub_device_raw_text(hub, dev, text, n);
	} else if (m->header) {
		cJSON_DeleteItemFromObjectCaseSensitive(m->header, "sign");
		fc_hub_device_raw(hub, dev, m->root);
	} else { /* read without a tree, so the cut is known: only an allocation can have failed */
		fc_warn("meross: %s: no memory for its /raw message (%zu bytes)", dev->name, len);
	}
	if (text != small)
		free(text);
}

static enum fc_verdict m_message(struct fc_hub *hub, void *vs, const struct fc_client *c, struct fc_device *dev,
				 const char *topic, const void *payload, size_t len)
{
	struct session_vs *sv = SV(vs);
	if (!dev)
		return meross_app_message(hub, c, topic, payload, len);
	struct meross_dev *md = MD(dev);
	if (!md)
		return FC_DENY;
	struct meross_msg m;
	char err[128];
	if (meross_msg_parse(payload, len, &m, err, sizeof err) != 0) {
		sv->cfg.malformed++;
		fc_warn("meross: %s: dropped a malformed message on %s: %s", dev->name, topic, err);
		return FC_DENY;
	}
	if (!meross_msg_verify(&m, fc_secret_reveal(md->key), fc_secret_len(md->key))) {
		sv->cfg.bad_signs++;
		md->bad_signs++;
		fc_hub_bridge_log(hub, FC_LOG_WARN, dev,
				  "dropped %s %s with a bad signature (%u so far): the device signs with another key "
				  "than its account's",
				  m.namespace_, m.method, md->bad_signs);
		meross_msg_free(&m);
		return FC_DENY;
	}
	if (c->handle != md->conn) {
		/* An older connection of a device that has logged in again: only the latest one speaks for it. */
		fc_debug("meross: %s: message from a superseded connection dropped", dev->name);
		meross_msg_free(&m);
		return FC_DENY;
	}
	bool push = strcmp(m.method, "PUSH") == 0;
	/* The account's apps see every verified PUSH, byte for byte (meross.md §1): when one is connected. */
	if (push && topic_is(topic, "/appliance/", md->uuid, "/publish"))
		meross_app_forward(hub, sv->apps, md, payload, len);
	publish_raw(hub, dev, &m, payload, len);
	int64_t now = fc_hub_now_ms(hub);
	if (strcmp(m.namespace_, NS_BIND) == 0 && strcmp(m.method, "SET") == 0) {
		cJSON *empty = cJSON_CreateObject();
		int sent = send_msg(hub, md, NS_BIND, "SETACK", empty, m.message_id, NULL);
		cJSON_Delete(empty);
		if (sent == 0)
			on_bound(hub, sv, dev, c);
		else
			fc_hub_bridge_log(hub, FC_LOG_ERROR, dev, "could not answer its Bind (messageId of %zu characters)",
					  strlen(m.message_id));
	} else if (strcmp(m.namespace_, NS_BIND) == 0 && push) {
		on_bound(hub, sv, dev, c); /* old firmware: Bind PUSH, no reply expected */
	} else if (strcmp(m.namespace_, NS_CLOCK) == 0 && push) {
		cJSON *p = cJSON_CreateObject();
		cJSON_AddNumberToObject(cJSON_AddObjectToObject(p, "clock"), "timestamp", (double)(now / 1000));
		publish(hub, md, meross_msg_echo(&m, "PUSH", "CloudControl", NULL, p));
		cJSON_Delete(p);
	} else if ((strcmp(m.namespace_, NS_CONSUMPTION_CONFIG) == 0 && push) ||
		   (strcmp(m.namespace_, NS_SUBDEVICE_LIST) == 0 && push && needs_reply(m.payload))) {
		/* Echo: the reply these devices wait for (§3.3, §3.5). */
		publish(hub, md, meross_msg_echo(&m, "PUSH", "CloudControl", NULL, m.payload));
	} else if (strcmp(m.method, "GETACK") == 0 || strcmp(m.method, "SETACK") == 0 || strcmp(m.method, "ERROR") == 0) {
		on_reply(hub, dev, &m, c);
	} else if (push && !meross_hub_payload(hub, dev, m.namespace_, m.payload)) {
		apply_state(hub, dev, m.namespace_, m.payload);
	}
	meross_msg_free(&m);
	return FC_ALLOW;
}

static void m_disconnect(struct fc_hub *hub, void *vs, const struct fc_client *c, struct fc_device *dev)
{
	if (!dev) {
		meross_apps_drop(SV(vs)->apps, c->handle); /* an app client */
		return;
	}
	struct meross_dev *md = MD(dev);
	if (!md || c->handle != md->conn)
		return; /* an older connection of a device that already logged in again */
	md->conn = NULL;
	md->bound = false;
	pending_clear(md);
	online_del(SV(vs), dev);
	meross_hub_set_online(hub, dev, NULL, false);
	meross_app_availability(hub, dev, false);
}

static void m_loaded(struct fc_hub *hub, void *vs, struct fc_device *dev, const cJSON *secrets, const cJSON *meta)
{
	(void)hub;
	(void)vs;
	(void)secrets;
	struct meross_dev *md = MD(dev);
	if (!md && !(md = meross_md_new()))
		return;
	dev->vdata = md;
	const char *hubid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "hub"));
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "type"));
	if (hubid && type) {
		md->sub = true;
		snprintf(md->uuid, sizeof md->uuid, "%s", hubid);
		snprintf(md->sub_id, sizeof md->sub_id, "%.32s", dev->vid);
		snprintf(md->subtype, sizeof md->subtype, "%s", type);
		return;
	}
	snprintf(md->uuid, sizeof md->uuid, "%.32s", dev->vid);
	/* The account is known before the device logs in again: app clients may command it (app.c). */
	const char *uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "user_id"));
	if (uid && !md->conn)
		snprintf(md->user_id, sizeof md->user_id, "%s", uid);
	const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "sub_type"));
	const char *hv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "hw_version"));
	if (st)
		snprintf(md->hw_subtype, sizeof md->hw_subtype, "%s", st);
	if (hv)
		snprintf(md->hw_version, sizeof md->hw_version, "%s", hv);
	const cJSON *ab = cJSON_GetObjectItemCaseSensitive(meta, "abilities");
	if (cJSON_IsObject(ab))
		set_abilities(md, ab);
	const cJSON *ch = cJSON_GetObjectItemCaseSensitive(meta, "channels");
	if (cJSON_IsNumber(ch) && ch->valuedouble >= 1 && ch->valuedouble <= MEROSS_MAX_CHANNELS)
		md->channels = (int)ch->valuedouble;
}

static void m_removed(struct fc_hub *hub, void *vs, struct fc_device *dev)
{
	online_del(SV(vs), dev);
	struct meross_dev *md = MD(dev);
	/* The hub kicks devices that are online; one still connected but not bound goes too. */
	if (md && md->conn && !md->sub && md->client_id[0] && !dev->online)
		fc_broker_kick(fc_hub_broker(hub), md->client_id);
}

static void m_tick(struct fc_hub *hub, void *vs, int64_t now)
{
	struct session_vs *sv = SV(vs);
	/* Mosquitto 2.0 ticks on every pass of its event loop; polls and timeouts have second granularity,
	 * so walk the online devices at most every 200 ms (at 10,000 devices the walk was 14% of the CPU). */
	if (now < sv->next_sweep_ms)
		return;
	sv->next_sweep_ms = now + 200;
	for (struct online *o = sv->online; o; o = o->next) {
		struct fc_device *dev = o->dev;
		struct meross_dev *md = MD(dev);
		if (!md || !md->bound)
			continue;
		if (now >= md->next_poll_ms) {
			md->next_poll_ms = now + sv->cfg.electricity_interval_ms;
			get_all(hub, dev, false);
			if (md->n_subs)
				meross_hub_poll(hub, dev);
		}
		for (struct meross_pending **pp = &md->pending; *pp;) {
			struct meross_pending *p = *pp;
			if (now - p->sent_ms < sv->cfg.command_timeout_ms) {
				pp = &p->next;
				continue;
			}
			if (!p->app) /* the app times out its own requests */
				fc_hub_bridge_log(hub, p->user ? FC_LOG_ERROR : FC_LOG_WARN, dev, "no reply to %s within %lld s",
						  p->namespace_, (long long)(sv->cfg.command_timeout_ms / 1000));
			*pp = p->next;
			pending_free(p);
		}
	}
}

/* ---------------------------------------------------------------- plain-topic commands */

static const struct meross_ns *setter_for(const struct meross_dev *md, const char *prop)
{
	for (size_t i = 0; i < meross_n_namespaces; i++) {
		const struct meross_ns *ns = &meross_namespaces[i];
		if ((md->abilities & (1u << i)) && ns->sets && ns->set_payload && ns->sets(prop))
			return ns;
	}
	return NULL;
}

static int m_command(struct fc_hub *hub, void *vs, struct fc_device *dev, const cJSON *set, char *err, size_t errlen)
{
	(void)vs;
	struct meross_dev *md = MD(dev);
	if (md && md->sub)
		return meross_hub_command(hub, dev, set, err, errlen);
	if (!md || !md->bound) {
		snprintf(err, errlen, "device has not completed its bind handshake");
		return -1;
	}
	/* Resolve TOGGLE into the value it will produce, so the SETACK updates the state correctly. */
	cJSON *resolved = cJSON_Duplicate(set, true);
	cJSON *item;
	cJSON_ArrayForEach(item, resolved)
	{
		const char *v = cJSON_GetStringValue(item);
		if (v && strcmp(v, "TOGGLE") == 0) {
			const char *cur = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(dev->state, item->string));
			cJSON_SetValuestring(item, cur && strcmp(cur, "ON") == 0 ? "OFF" : "ON");
		}
	}
	/* Group the attributes by the namespace that sets them; build every payload before sending any. */
	const struct meross_ns *used[16];
	cJSON *groups[16], *payloads[16];
	size_t n = 0;
	int rc = 0;
	cJSON_ArrayForEach(item, resolved)
	{
		const struct meross_ns *ns = setter_for(md, item->string);
		if (!ns) {
			snprintf(err, errlen, "%s cannot be set on this device", item->string);
			rc = -1;
			break;
		}
		size_t g;
		for (g = 0; g < n && used[g] != ns; g++)
			;
		if (g == n) {
			if (n == sizeof used / sizeof used[0])
				break;
			used[n] = ns;
			groups[n++] = cJSON_CreateObject();
		}
		cJSON_AddItemToObject(groups[g], item->string, cJSON_Duplicate(item, true));
	}
	for (size_t g = 0; g < n; g++) {
		payloads[g] = rc == 0 ? used[g]->set_payload(md, groups[g], dev->state, err, errlen) : NULL;
		if (rc == 0 && !payloads[g]) {
			if (!*err)
				snprintf(err, errlen, "nothing to send for %s", used[g]->name);
			rc = -1;
		}
	}
	for (size_t g = 0; g < n; g++) {
		if (rc == 0)
			rc = request(hub, dev, used[g]->name, "SET", payloads[g], groups[g], true);
		cJSON_Delete(payloads[g]);
		cJSON_Delete(groups[g]);
	}
	cJSON_Delete(resolved);
	if (rc != 0 && !*err)
		snprintf(err, errlen, "could not queue the command");
	return rc;
}

static int m_refresh(struct fc_hub *hub, void *vs, struct fc_device *dev, const cJSON *props, char *err, size_t errlen)
{
	(void)vs;
	struct meross_dev *md = MD(dev);
	if (md && md->sub)
		return meross_hub_refresh(hub, dev, err, errlen);
	if (!md || !md->bound) {
		snprintf(err, errlen, "device has not completed its bind handshake");
		return -1;
	}
	if (cJSON_GetArraySize(props) == 0) {
		get_all(hub, dev, true);
		return 0;
	}
	/* GET each namespace whose exposes contain a requested attribute (once). */
	for (size_t i = 0; i < meross_n_namespaces; i++) {
		const struct meross_ns *ns = &meross_namespaces[i];
		if (!(md->abilities & (1u << i)) || !ns->get_payload)
			continue;
		struct fc_exposes x = {0};
		ns->exposes(&x, md, md->ability_args[i]);
		bool wanted = false;
		const cJSON *item;
		cJSON_ArrayForEach(item, props) wanted |= fc_exposes_find(&x, item->string) != NULL;
		fc_exposes_free(&x);
		if (wanted) {
			cJSON *p = ns->get_payload(md);
			request(hub, dev, ns->name, "GET", p, NULL, true);
			cJSON_Delete(p);
		}
	}
	return 0;
}

static int m_raw(struct fc_hub *hub, void *vs, struct fc_device *dev, const cJSON *body, char *err, size_t errlen)
{
	(void)vs;
	struct meross_dev *md = MD(dev);
	const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "namespace"));
	const char *method = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "method"));
	const cJSON *payload = cJSON_GetObjectItemCaseSensitive(body, "payload");
	if (!ns || !method || !cJSON_IsObject(payload) || strlen(ns) >= 96) {
		snprintf(err, errlen, "expected {\"namespace\":\"Appliance...\",\"method\":\"GET|SET|PUSH\",\"payload\":{...}}");
		return -1;
	}
	if (strcmp(method, "GET") && strcmp(method, "SET") && strcmp(method, "PUSH")) {
		snprintf(err, errlen, "method must be GET, SET or PUSH");
		return -1;
	}
	/* Namespaces that factory-reset, re-key, re-network or re-flash a device are not for plain topics
	 * (meross.md §3.6: Unbind sends the device back to pairing mode). */
	static const char *const refused[] = {"Appliance.Control.Unbind", "Appliance.Config.Key", "Appliance.Config.Wifi",
					      "Appliance.Config.WifiX", "Appliance.Control.Upgrade"};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
		if (strcmp(ns, refused[i]) == 0) {
			snprintf(err, errlen, "%s is not allowed on raw/set (it would reset, re-key or re-flash the device)", ns);
			return -1;
		}
	struct fc_device *via = md && md->sub ? fc_hub_device(hub, &meross_vendor, md->uuid) : dev;
	if (!via || !MD(via) || !MD(via)->bound) {
		snprintf(err, errlen, "device has not completed its bind handshake");
		return -1;
	}
	if (strcmp(method, "PUSH") == 0) /* devices do not answer a PUSH: nothing to wait for */
		return send_msg(hub, MD(via), ns, method, payload, NULL, NULL);
	return request(hub, via, ns, method, payload, NULL, true);
}

const struct fc_vendor_broker meross_broker = {
	.init = m_init,
	.cleanup = m_cleanup,
	.auth = m_auth,
	.acl = m_acl,
	.is_protected_topic = m_protected,
	.message = m_message,
	.disconnect = m_disconnect,
	.tick = m_tick,
	.command = m_command,
	.refresh = m_refresh,
	.raw_command = m_raw,
	.device_removed = m_removed,
	.device_loaded = m_loaded,
	.bridge_request = meross_bridge_request,
	.free_vdata = free_md,
};
