/* Private to vendors/meross. */
#ifndef FC_MEROSS_INTERNAL_H
#define FC_MEROSS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/hub.h"
#include "core/secret.h"
#include "vendors/meross/codec.h"

struct cJSON;

extern const struct fc_vendor meross_vendor;

#define MEROSS_MAX_CHANNELS 8
#define MEROSS_MAX_PENDING 32 /* requests waiting for a reply, per device */

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
	struct meross_pending *next;
};

/* Per-device data (fc_device.vdata). */
struct meross_dev {
	char uuid[MEROSS_UUID_LEN + 1];
	char user_id[24];
	struct fc_secret key;
	char mac[18];
	char client_id[256];   /* current connection's client id (before the device is online too) */
	const void *conn;      /* current connection's handle: the latest successful login */
	bool bound;
	unsigned abilities;    /* bit i = meross_namespaces[i] is in the device's ability list */
	struct cJSON *ability_args[16]; /* that namespace's ability object (e.g. Light capacity), owned */
	int channels;          /* ToggleX channels seen (>= 1) */
	int64_t next_poll_ms[16];
	struct meross_pending *pending;
	unsigned bad_signs;
	/* Hub sub-devices (MS100 sensors, MTS100 valves): they have no connection of their own; every
	 * message goes through their hub. For a sub-device, uuid is the HUB's uuid (the topic used) and
	 * sub_id its own id. A hub lists its sub-devices' ids. */
	bool sub;
	char sub_id[33];
	char subtype[16];
	char sub_ids[16][33];
	int n_subs;
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
