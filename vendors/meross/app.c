/* Meross app MQTT clients on the broker (meross.md §1, §8.2-8.4): MerossIot, meross-cloud (npm),
 * meross_lan's cloud profile and the Meross app log in as "app:<appId>" with username = userId and
 * password = md5hex(userId + key) of a Meross account fakecloud knows.
 *
 *   read/subscribe  /app/<userId>/subscribe            device PUSHes of the account, System.Online
 *                   /app/<userId>-<appId>/subscribe    replies to this app's requests (devices publish
 *                                                      them to the request's header.from)
 *   publish         /appliance/<uuid>/subscribe        only devices of the same account
 *
 * Every verified device PUSH is forwarded unchanged to /app/<userId>/subscribe while an app client of
 * that account is connected, and fakecloud announces devices coming and going with a signed
 * Appliance.System.Online PUSH there. An app's SET reaches the device like any message on its command
 * topic; fakecloud remembers it so that the device's SETACK updates the plain-topic state too
 * (session.c). Runs on the broker thread. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/keystore.h"
#include "core/log.h"
#include "vendors/meross/meross_internal.h"

#include <uthash.h>

#define APP_ID_CAP 65

/* ---------------------------------------------------------------- connected app clients
 *
 * Who is connected, per account: device PUSHes are forwarded only to accounts with at least one app
 * client online (a forward nobody receives still costs Mosquitto a QoS 1 publish and its routing).
 * Keyed by connection handle, not client id: a client that takes over an id (MQTT session takeover)
 * authenticates first and the connection it replaces disconnects afterwards, and only connections
 * counted here are ever uncounted, so neither a superseded duplicate nor a client that never
 * authenticated can drive a count wrong. */
struct app_conn {
	const void *handle;
	struct app_user *user;
	UT_hash_handle hh;
};

struct app_user {
	char user_id[24];
	unsigned n; /* connected app clients of this account; the entry goes at 0 */
	UT_hash_handle hh;
};

struct meross_apps {
	struct app_conn *conns; /* by handle */
	struct app_user *users; /* by user id */
};

struct meross_apps *meross_apps_new(void) { return calloc(1, sizeof(struct meross_apps)); }

void meross_apps_drop(struct meross_apps *a, const void *handle)
{
	struct app_conn *c = NULL;
	if (!a)
		return;
	HASH_FIND_PTR(a->conns, &handle, c);
	if (!c)
		return;
	HASH_DEL(a->conns, c);
	if (c->user && --c->user->n == 0) {
		HASH_DEL(a->users, c->user);
		free(c->user);
	}
	free(c);
}

/* A connection authenticated as an app client of user_id (a re-authentication replaces the entry). */
static void apps_add(struct meross_apps *a, const void *handle, const char *user_id)
{
	if (!a)
		return;
	meross_apps_drop(a, handle);
	struct app_user *u = NULL;
	HASH_FIND_STR(a->users, user_id, u);
	if (!u) {
		if (!(u = calloc(1, sizeof *u)))
			return;
		snprintf(u->user_id, sizeof u->user_id, "%s", user_id);
		HASH_ADD_STR(a->users, user_id, u);
	}
	struct app_conn *c = calloc(1, sizeof *c);
	if (!c) {
		if (u->n == 0) {
			HASH_DEL(a->users, u);
			free(u);
		}
		return;
	}
	c->handle = handle;
	c->user = u;
	u->n++;
	HASH_ADD_PTR(a->conns, handle, c);
}

unsigned meross_apps_online(const struct meross_apps *a, const char *user_id)
{
	struct app_user *u = NULL;
	if (!a || !user_id)
		return 0;
	HASH_FIND_STR(a->users, user_id, u);
	return u ? u->n : 0;
}

void meross_apps_free(struct meross_apps *a)
{
	if (!a)
		return;
	struct app_conn *c, *ct;
	HASH_ITER(hh, a->conns, c, ct)
	{
		HASH_DEL(a->conns, c);
		free(c);
	}
	struct app_user *u, *ut;
	HASH_ITER(hh, a->users, u, ut)
	{
		HASH_DEL(a->users, u);
		free(u);
	}
	free(a);
}

/* ---------------------------------------------------------------- login, ACL, messages */

static bool user_id_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 19)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* The app id and userId of an app client, from what it logged in with. */
static bool app_of(const struct fc_client *c, char app[APP_ID_CAP])
{
	return c->id && meross_parse_app_client_id(c->id, app, APP_ID_CAP) == 0 && user_id_ok(c->username);
}

enum fc_verdict meross_app_auth(struct fc_hub *hub, struct meross_apps *apps, const struct fc_client *c,
				const char *username, const char *password)
{
	char app[APP_ID_CAP];
	if (!c->id || meross_parse_app_client_id(c->id, app, sizeof app) != 0)
		return FC_DEFER;
	if (!user_id_ok(username)) {
		fc_warn("meross: refused app client %s: its username must be the userId of a Meross account", c->id);
		return FC_DENY;
	}
	struct meross_account acct;
	if (meross_account_get(fc_hub_keystore(hub), username, &acct) != FC_KS_OK) {
		fc_warn("meross: refused app client %s: userId %s is not an account fakecloud knows (`fakecloud device "
			"add meross-account`)",
			c->id, username);
		return FC_DENY;
	}
	char want[33], got[33] = "";
	meross_app_password(username, fc_secret_reveal(&acct.key), fc_secret_len(&acct.key), want);
	fc_secret_wipe(&acct.key);
	size_t n = password ? strlen(password) : 0;
	for (size_t i = 0; n == 32 && i < 32; i++)
		got[i] = (char)(password[i] >= 'A' && password[i] <= 'F' ? password[i] + 32 : password[i]);
	got[n == 32 ? 32 : 0] = '\0';
	bool ok = n == 32 && fc_ct_equal(got, want, 32);
	fc_wipe(want, sizeof want);
	fc_wipe(got, sizeof got);
	if (!ok) {
		fc_warn("meross: refused app client %s: wrong password for userId %s (it must be md5(userId + key))",
			c->id, username);
		return FC_DENY;
	}
	apps_add(apps, c->handle, username);
	fc_info("meross: app client %s of account %s connected from %s (%u of this account online)", c->id, username,
		c->address ? c->address : "?", meross_apps_online(apps, username));
	return FC_ALLOW;
}

/* "/appliance/<uuid>/subscribe" -> uuid */
static bool command_topic(const char *topic, char uuid[MEROSS_UUID_LEN + 1])
{
	static const char pre[] = "/appliance/", post[] = "/subscribe";
	size_t lp = sizeof pre - 1;
	if (strncmp(topic, pre, lp) != 0)
		return false;
	const char *u = topic + lp;
	size_t n = 0;
	while (n <= MEROSS_UUID_LEN && ((u[n] >= '0' && u[n] <= '9') || (u[n] >= 'a' && u[n] <= 'z') ||
					(u[n] >= 'A' && u[n] <= 'Z')))
		n++;
	if (n != MEROSS_UUID_LEN || strcmp(u + n, post) != 0)
		return false;
	memcpy(uuid, u, n);
	uuid[n] = '\0';
	return true;
}

/* A device of this account, by the uuid of its command topic (not a hub sub-device). */
static struct fc_device *own_device(struct fc_hub *hub, const char *uid, const char *topic)
{
	char uuid[MEROSS_UUID_LEN + 1];
	if (!command_topic(topic, uuid))
		return NULL;
	struct fc_device *dev = fc_hub_device(hub, &meross_vendor, uuid);
	struct meross_dev *md = dev ? dev->vdata : NULL;
	return md && !md->sub && md->user_id[0] && strcmp(md->user_id, uid) == 0 ? dev : NULL;
}

enum fc_verdict meross_app_acl(struct fc_hub *hub, const struct fc_client *c, const char *topic, int access)
{
	char app[APP_ID_CAP];
	if (!app_of(c, app))
		return FC_DENY;
	if (access == FC_ACL_UNSUBSCRIBE)
		return FC_ALLOW;
	if (access == FC_ACL_WRITE)
		return own_device(hub, c->username, topic) ? FC_ALLOW : FC_DENY;
	/* read / subscribe: exactly the account's push topic and this app's reply topic (no wildcards) */
	char mine[128];
	snprintf(mine, sizeof mine, "/app/%s/subscribe", c->username);
	if (strcmp(topic, mine) == 0)
		return FC_ALLOW;
	snprintf(mine, sizeof mine, "/app/%s-%s/subscribe", c->username, app);
	return strcmp(topic, mine) == 0 ? FC_ALLOW : FC_DENY;
}

enum fc_verdict meross_app_message(struct fc_hub *hub, const struct fc_client *c, const char *topic,
				   const void *payload, size_t len)
{
	char app[APP_ID_CAP];
	struct fc_device *dev = app_of(c, app) ? own_device(hub, c->username, topic) : NULL;
	if (!dev)
		return FC_DENY; /* the ACL let nothing else through; a device session whose device was removed */
	struct meross_dev *md = dev->vdata;
	struct meross_msg m;
	char err[128];
	if (meross_msg_parse(payload, len, &m, err, sizeof err) != 0) {
		fc_warn("meross: app client %s: dropped a malformed message to %s: %s", c->id, dev->name, err);
		return FC_DENY;
	}
	/* A badly signed request still goes through: the device answers it with ERROR 5001, which tells the
	 * app more than silence would. Only verified SETs are tracked. */
	bool signed_ok = md->conn && meross_msg_verify(&m, fc_secret_reveal(md->key), fc_secret_len(md->key));
	fc_debug("meross: app client %s -> %s: %s %s%s", c->id, dev->name, m.method, m.namespace_,
		 md->conn ? (signed_ok ? "" : " (bad signature: the device will refuse it)") : " (device not connected)");
	if (signed_ok && strcmp(m.method, "SET") == 0)
		meross_track_app_set(hub, dev, &m);
	meross_msg_free(&m);
	return FC_ALLOW;
}

void meross_app_forward(struct fc_hub *hub, const struct meross_apps *apps, const struct meross_dev *md,
			const void *payload, size_t len)
{
	if (!md->user_id[0] || !meross_apps_online(apps, md->user_id))
		return; /* no app of the account to receive it: not even admins on /app/# see it then */
	char topic[64];
	snprintf(topic, sizeof topic, "/app/%s/subscribe", md->user_id);
	fc_broker_publish(fc_hub_broker(hub), topic, payload, len, 1, false);
}

void meross_app_availability(struct fc_hub *hub, struct fc_device *dev, bool online)
{
	struct meross_dev *md = dev->vdata;
	if (!md || md->sub || md->meta_online == online)
		return;
	md->meta_online = online;
	int64_t now = fc_hub_now_ms(hub);
	if (md->user_id[0]) {
		/* meross.md §1: what the cloud sends apps, signed with the account key (MerossIot drops unsigned). */
		char from[64], topic[64];
		snprintf(from, sizeof from, "/appliance/%s/subscribe", md->uuid);
		snprintf(topic, sizeof topic, "/app/%s/subscribe", md->user_id);
		cJSON *p = cJSON_CreateObject();
		cJSON_AddNumberToObject(cJSON_AddObjectToObject(p, "online"), "status", online ? 1 : 2);
		struct meross_out o = {.namespace_ = "Appliance.System.Online",
				       .method = "PUSH",
				       .from = from,
				       .timestamp = now / 1000,
				       .timestamp_ms = (int)(now % 1000)};
		char *msg = meross_msg_build(&o, p, fc_secret_reveal(md->key), fc_secret_len(md->key), NULL);
		cJSON_Delete(p);
		if (msg)
			fc_broker_publish(fc_hub_broker(hub), topic, msg, strlen(msg), 1, false);
		free(msg);
	}
	/* For the app API's devList (fakecloud-httpd reads the keystore, not the broker). One small write per
	 * availability change. */
	cJSON *patch = cJSON_CreateObject();
	cJSON_AddBoolToObject(patch, "online", online);
	cJSON_AddNumberToObject(patch, "last_seen", (double)(now / 1000));
	fc_ks_device_merge_meta(fc_hub_keystore(hub), "meross", dev->vid, patch);
	cJSON_Delete(patch);
}

struct stale {
	char (*vid)[128];
	size_t n, cap;
};

static int stale_cb(void *ctx, const struct fc_device_row *row)
{
	struct stale *s = ctx;
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row->meta, "online")))
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		char(*v)[128] = realloc(s->vid, cap * sizeof *v);
		if (!v)
			return 1;
		s->vid = v;
		s->cap = cap;
	}
	snprintf(s->vid[s->n++], sizeof s->vid[0], "%s", row->vid);
	return 0;
}

void meross_app_reset_online(struct fc_keystore *ks)
{
	struct stale s = {0};
	fc_ks_device_each(ks, "meross", stale_cb, &s); /* collect first: no writes inside the iteration */
	cJSON *patch = cJSON_CreateObject();
	cJSON_AddBoolToObject(patch, "online", false);
	for (size_t i = 0; i < s.n; i++)
		fc_ks_device_merge_meta(ks, "meross", s.vid[i], patch);
	cJSON_Delete(patch);
	free(s.vid);
}
