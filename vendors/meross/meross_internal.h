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

/* One Meross account: userId + key. Devices configured with it sign with the key. */
struct meross_account {
	char user_id[24];
	struct fc_secret key;
};

/* A request fakecloud sent and is waiting on (matched by messageId). */
struct meross_pending {
	char message_id[33];
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
	char client_id[256];   /* current connection (before the device is online too) */
	bool bound;
	unsigned abilities;    /* bit i = meross_namespaces[i] is in the device's ability list */
	struct cJSON *ability_args[16]; /* that namespace's ability object (e.g. Light capacity), owned */
	int channels;          /* ToggleX channels seen (>= 1) */
	int64_t next_poll_ms[16];
	struct meross_pending *pending;
	unsigned bad_signs;
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

/* session.c: send a signed message to a device; returns 0 and the id used. */
int meross_send(struct fc_hub *hub, struct fc_device *dev, const char *ns, const char *method,
		const struct cJSON *payload, char message_id_out[33]);

#endif
