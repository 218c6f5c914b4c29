/* Private to vendors/meross. */
#ifndef FC_MEROSS_INTERNAL_H
#define FC_MEROSS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/hub.h"
#include "core/secret.h"
#include "vendors/meross/codec.h"

#include <cjson/cJSON.h>
#include <math.h>

extern const struct fc_vendor meross_vendor;

/* Small JSON readers for device payloads: a member by exact name, and a finite number member. */
static inline const cJSON *mjget(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }
static inline bool mjnum(const cJSON *o, const char *k, double *out)
{
	const cJSON *v = mjget(o, k);
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return false;
	*out = v->valuedouble;
	return true;
}

#define MEROSS_MAX_CHANNELS 8
#define MEROSS_MAX_PENDING 32 /* requests waiting for a reply, per device */
#define MEROSS_MAX_SUBS 16    /* sub-devices per hub */
/* Device client ids: "fmware:" + 32-character uuid + optional "_" + at most 64 characters (codec.c). */
#define MEROSS_CLIENT_ID_MAX (7 + MEROSS_UUID_LEN + 1 + 64)

/* One Meross account: userId + key. Devices configured with it sign with the key. */
struct meross_account {
	char user_id[24];
	struct fc_secret key;
};

/* A request fakecloud sent and is waiting on (matched by messageId). */
struct meross_pending {
	char message_id[33];
	char target[128];    /* hub sub-device the request is about ("" = the device itself) */
	char namespace_[96];
	struct cJSON *set;   /* normalised attributes a SET carries; applied to the state on SETACK */
	int64_t sent_ms;
	bool user;           /* came from a plain-topic command: errors and timeouts go to bridge/log */
	bool app;            /* an app client's SET (app.c): no timeout log, the app waits for its reply */
	struct cJSON *app_set; /* that SET's payload: applied to the state like a PUSH when the SETACK arrives */
	struct meross_pending *next;
};

/* Per-device data (fc_device.vdata). */
struct meross_dev {
	char uuid[MEROSS_UUID_LEN + 1];
	char user_id[24];
	const struct fc_secret *key; /* the account key it signs with: shared (meross_key_hold), never NULL */
	char mac[18];
	char client_id[MEROSS_CLIENT_ID_MAX + 1]; /* current connection's client id (before the device is online too) */
	const void *conn;      /* current connection's handle: the latest successful login */
	bool bound;
	unsigned abilities;    /* bit i = meross_namespaces[i] is in the device's ability list */
	struct cJSON *ability_args[16]; /* that namespace's ability object (e.g. Light capacity), owned; NULL
					 * when it is {} (most are: one cJSON copy per namespace per device
					 * was ~100 bytes each for nothing) */
	int channels;          /* ToggleX channels seen (>= 1) */
	int64_t next_poll_ms;  /* next System.All poll */
	struct meross_pending *pending;
	unsigned bad_signs;
	/* Hub sub-devices (MS100 sensors, MTS100 valves): they have no connection of their own; every
	 * message goes through their hub. For a sub-device, uuid is the HUB's uuid (the topic used) and
	 * sub_id its own id. A hub lists its sub-devices' ids. */
	bool sub;
	char sub_id[33];
	char subtype[16];
	char (*sub_ids)[33];   /* MEROSS_MAX_SUBS ids, allocated for hubs only (NULL until one is listed) */
	int n_subs;
	/* For the app API's device list (http.c), kept in the device's meta. */
	char hw_subtype[16];   /* System.All hardware.subType ("eu", "us"...): meta "sub_type" */
	char hw_version[32];   /* hardware.version: meta "hw_version" */
	bool meta_online;      /* what meta "online" says: written only when availability changes */
};

struct meross_vs {
	int64_t electricity_interval_ms;
	int64_t command_timeout_ms;
	bool time_sync;
	char timezone[64];
	uint64_t bad_signs, malformed;
};

/* accounts.c: accounts live in the keystore (vendor "meross", account_id = userId, secrets {"key"}).
 * Lookups go to SQLite (microseconds; only at login). */
int meross_account_get(struct fc_keystore *ks, const char *user_id, struct meross_account *out);
/* Create the default account (random userId and 32-hex key) when there is none. */
int meross_account_ensure_default(struct fc_keystore *ks);
/* Store an account; user_id/key NULL or "" = generate. Prints nothing. */
int meross_account_put(struct fc_keystore *ks, const char *user_id, const char *key, const char *name,
		       char user_id_out[24]);

/* namespaces.c: the data-driven table of namespaces <-> normalised attributes. */
struct meross_ns {
	const char *name;                  /* "Appliance.Control.ToggleX" */
	/* Add this namespace's exposes for a device with `channels` channels. */
	void (*exposes)(struct fc_exposes *x, const struct meross_dev *md, const struct cJSON *ability);
	/* A GETACK/SETACK/PUSH payload of this namespace -> state attributes added to `patch`. */
	void (*to_state)(const struct cJSON *payload, struct cJSON *patch, struct meross_dev *md);
	/* Payload of a GET (NULL: not gettable). */
	struct cJSON *(*get_payload)(const struct meross_dev *md);
	/* Does this namespace carry attribute `prop` on SET? */
	bool (*sets)(const char *prop);
	/* Build the SET payload for the attributes of `set` this namespace carries; `state` is the current
	 * normalised state (for TOGGLE and partial updates). NULL when nothing applies; err on a bad value. */
	struct cJSON *(*set_payload)(const struct meross_dev *md, const struct cJSON *set, const struct cJSON *state,
				     char *err, size_t errlen);
	int poll;                           /* 1: GET it every meross.electricity_interval (plugs don't push it) */
};

extern const struct meross_ns meross_namespaces[];
extern const size_t meross_n_namespaces;
const struct meross_ns *meross_ns_find(const char *name, size_t *index);
/* Exposes for a device from its abilities bitmask and channel count. */
void meross_build_exposes(const struct meross_dev *md, struct fc_exposes *x);

/* session.c: send a request to a device (through `dev`'s connection) and remember it so the reply
 * can be matched; `set` (may be NULL) is applied to `target` (NULL = dev) on SETACK. */
int meross_request(struct fc_hub *hub, struct fc_device *dev, const char *ns, const char *method,
		   const struct cJSON *payload, const struct cJSON *set, bool user, struct fc_device *target);
struct meross_dev *meross_md_new(void);
/* Account keys are held once per distinct key, reference-counted: every device of an account signs with
 * the same one (a copy per device was 264 bytes). hold returns the shared copy of k's bytes (an empty
 * key if k is empty or memory is short); drop releases one hold and wipes the key with its last. */
const struct fc_secret *meross_key_hold(const struct fc_secret *k);
void meross_key_drop(const struct fc_secret *k);

/* An app client's verified SET to `dev` (app.c): remembered so that the device's SETACK applies the SET's
 * payload to the normalised state, as a PUSH would (devices that do not PUSH after a SET stay in step). */
void meross_track_app_set(struct fc_hub *hub, struct fc_device *dev, const struct meross_msg *m);

/* app.c: Meross app MQTT clients (meross.md §1): client id "app:<appId>", username = userId, password =
 * md5hex(userId + key). They read /app/<userId>/subscribe and /app/<userId>-<appId>/subscribe and write
 * only to /appliance/<uuid>/subscribe of their own account's devices. */
struct meross_apps; /* the app clients connected, per account */
struct meross_apps *meross_apps_new(void);
void meross_apps_free(struct meross_apps *a);
/* Connected app clients of the account user_id (0 for NULL). */
unsigned meross_apps_online(const struct meross_apps *a, const char *user_id);
/* A connection ended (or authenticates again): uncounted if it was a counted app client, else nothing. */
void meross_apps_drop(struct meross_apps *a, const void *handle);
/* FC_DEFER when c is not an app client; FC_ALLOW counts it in apps until meross_apps_drop. */
enum fc_verdict meross_app_auth(struct fc_hub *hub, struct meross_apps *apps, const struct fc_client *c,
				const char *username, const char *password);
enum fc_verdict meross_app_acl(struct fc_hub *hub, const struct fc_client *c, const char *topic, int access);
enum fc_verdict meross_app_message(struct fc_hub *hub, const struct fc_client *c, const char *topic,
				   const void *payload, size_t len);
/* A verified device PUSH (the bytes as the device sent them) to its account's /app/<userId>/subscribe,
 * when at least one app client of that account is connected (nothing is published otherwise). */
void meross_app_forward(struct fc_hub *hub, const struct meross_apps *apps, const struct meross_dev *md,
			const void *payload, size_t len);
/* The device came online (bound) or went away: signed Appliance.System.Online PUSH to its account's apps,
 * and meta "online"/"last_seen" for the app API's device list (written only on a change). */
void meross_app_availability(struct fc_hub *hub, struct fc_device *dev, bool online);
/* meta "online" = false for every Meross device (broker start and stop: nothing is connected). */
void meross_app_reset_online(struct fc_keystore *ks);

/* users.c: app users (email + password) that log in to the app API (http.c). Stored in the keystore's
 * accounts table under the vendor name MEROSS_USER_STORE, keyed by the lowercased email, with a salted
 * PBKDF2-HMAC-SHA512 of md5hex(password) (what apps send with "encryption":1) and the userId of the
 * Meross account they belong to. */
#define MEROSS_USER_STORE "meross-user"
#define MEROSS_EMAIL_MAX 127
/* Store (or replace) a user. `account` NULL or "": the account named "default", else the only account
 * (created when there is none). 0, or -1 with a reason in err. */
int meross_user_put(struct fc_keystore *ks, const char *email, const char *password, const char *account,
		    char user_id_out[24], char *err, size_t errlen);
enum meross_login { MEROSS_LOGIN_OK = 0, MEROSS_LOGIN_NO_USER, MEROSS_LOGIN_BAD_PASSWORD, MEROSS_LOGIN_ERROR };
/* Check a login: pw_md5 is md5hex(password) (any case). On OK, user_id and email (as stored) are filled. */
enum meross_login meross_user_login(struct fc_keystore *ks, const char *email, const char *pw_md5, char user_id[24],
				    char email_out[MEROSS_EMAIL_MAX + 1]);
/* `fakecloud device add meross-user --email E (--password P | --password-file F) [--account USERID]`
 * (argv[0] is "meross-user"). Returns an exit code. */
int meross_user_cli_add(struct fc_cli *cli, int argc, char **argv);

/* http.c: the Meross cloud app API (meross.md §6) served by fakecloud-httpd. */
extern const struct fc_vendor_http meross_http;
/* One value of an application/x-www-form-urlencoded body, decoded ('+' is a space, %XX a byte). Returns
 * its length, -1 when the key is absent, -2 when the body is malformed around it, the value contains a
 * NUL, or it does not fit cap (with its NUL). Never reads outside body[0..len). */
int meross_form_value(const uint8_t *body, size_t len, const char *key, char *out, size_t cap);
/* The signed request envelope {params, sign, timestamp, nonce} as JSON or a form body. */
#define MEROSS_API_SECRET "23x17ahWarFH6w29"
struct meross_api_req {
	struct cJSON *params;  /* the decoded params object (owned) */
	char timestamp[24];    /* as sent (a JSON number as its integer digits) */
	int64_t timestamp_ms;  /* seconds are scaled to milliseconds */
	char nonce[65];
};
/* 0 and *out filled, or a Meross apiStatus (5000) with a reason in info. */
int meross_api_parse(const uint8_t *body, size_t len, struct meross_api_req *out, char *info, size_t infolen);
void meross_api_req_free(struct meross_api_req *r);

/* bridge.c */
int meross_bridge_request(struct fc_hub *hub, void *vs, const char *op, const struct cJSON *req, struct cJSON *data,
			  char *err, size_t errlen);

/* hub.c: MSH300 hubs and their sub-devices */
/* System.All digest.hub of a hub device: registers sub-devices, sets their online state, asks for
 * their readings. */
void meross_hub_digest(struct fc_hub *hub, struct fc_device *hubdev, const struct cJSON *digest_hub,
		       const struct fc_client *c);
/* A Hub.* payload from a hub (PUSH or reply): routed to the sub-devices by id. true if handled. */
bool meross_hub_payload(struct fc_hub *hub, struct fc_device *hubdev, const char *ns, const struct cJSON *payload);
/* Periodic/initial reads of a hub's sub-devices. */
void meross_hub_poll(struct fc_hub *hub, struct fc_device *hubdev);
/* The hub went away / came back: its sub-devices follow. */
void meross_hub_set_online(struct fc_hub *hub, struct fc_device *hubdev, const struct fc_client *c, bool online);
int meross_hub_command(struct fc_hub *hub, struct fc_device *sub, const struct cJSON *set, char *err, size_t errlen);
int meross_hub_refresh(struct fc_hub *hub, struct fc_device *sub, char *err, size_t errlen);

#endif
