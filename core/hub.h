/* The hub: fakecloud's broker-side runtime, vendor-neutral and free of Mosquitto headers. It owns the
 * device registry, routes broker events to vendor hooks, implements the plain topics (state, set, get,
 * raw, availability), the bridge topics and Home Assistant discovery. broker-plugin/ is only glue that
 * turns Mosquitto callbacks into the fc_hub_on_* calls below; unit tests drive it with a fake broker. */
#ifndef FC_HUB_H
#define FC_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/broker.h"
#include "core/config.h"
#include "core/exposes.h"
#include "core/log.h"
#include "core/vendor.h"

struct cJSON;
struct fc_keystore;

#define FC_INTERNAL_USER "fakecloud-internal"
#define FC_INTERNAL_TOPIC_PREFIX "$fakecloud/internal/"
#define FC_SETTING_INTERNAL_PASSWORD "internal_mqtt_password"

#define FC_DEV_VID_MAX 128
#define FC_DEV_NAME_MAX 128
#define FC_DEV_INFO_MAX 64 /* model, firmware, ip */
#define FC_DEV_CLIENT_ID_MAX 256

struct fc_device {
	const struct fc_vendor *vendor;
	/* Strings owned by the hub, never NULL ("" when unknown), each allocated to its length; change them
	 * only through the hub (fc_hub_device_set_info, rename). At most FC_DEV_*_MAX - 1 characters. */
	const char *vid;
	const char *name;
	const char *model;
	const char *firmware;
	const char *ip;
	bool online;
	int64_t last_seen_ms;
	const void *session;   /* handle of the client that made it online */
	const char *client_id; /* that client's id (for publish_to) */
	struct fc_exposes exposes; /* read-only (shared by devices with the same list): fc_hub_device_set_exposes */
	struct cJSON *state;   /* normalised state object, published retained on <base>/<name> */
	void *vdata;           /* vendor per-device data */
};

struct fc_hub;

/* Create with a broker implementation, the config, an open keystore (the hub uses it only on the
 * broker thread) and the vendor list. Loads every stored device. */
struct fc_hub *fc_hub_new(const struct fc_broker *broker, const struct fc_config *cfg, struct fc_keystore *ks,
			  const struct fc_vendor *const *vendors, char *err, size_t errlen);
void fc_hub_free(struct fc_hub *hub);

/* Publishes bridge/state online, bridge/info, bridge/devices and every device's availability and
 * discovery. Call once the broker can publish (first tick). */
void fc_hub_start(struct fc_hub *hub);
/* Publishes bridge/state offline and every device offline (broker shutting down). */
void fc_hub_stop(struct fc_hub *hub);

/* ---- broker events (return values map 1:1 to Mosquitto's) ---- */
enum fc_verdict fc_hub_on_auth(struct fc_hub *hub, const struct fc_client *c, const char *username,
			       const char *password);
enum fc_verdict fc_hub_on_acl(struct fc_hub *hub, const struct fc_client *c, const char *topic, int access);
/* FC_DENY: drop the message (it is not delivered); FC_ALLOW/FC_DEFER: deliver. */
enum fc_verdict fc_hub_on_message(struct fc_hub *hub, const struct fc_client *c, const char *topic,
				  const void *payload, size_t len, bool retain);
/* 0 and hexkey filled; -1 refused. */
int fc_hub_on_psk_key(struct fc_hub *hub, const struct fc_client *c, const char *hint, const char *identity,
		      char *hexkey, size_t cap);
void fc_hub_on_disconnect(struct fc_hub *hub, const struct fc_client *c);
void fc_hub_on_tick(struct fc_hub *hub);

/* ---- for vendor logic ---- */
const struct fc_broker *fc_hub_broker(struct fc_hub *hub);
const struct fc_config *fc_hub_config(struct fc_hub *hub);
struct fc_keystore *fc_hub_keystore(struct fc_hub *hub);
int64_t fc_hub_now_ms(struct fc_hub *hub);
const char *fc_hub_base_topic(struct fc_hub *hub);

struct fc_device *fc_hub_device(struct fc_hub *hub, const struct fc_vendor *v, const char *vid);
struct fc_device *fc_hub_device_by_name(struct fc_hub *hub, const char *name);
/* Register a device (persisting it with `secrets`/`meta` if it is new; an existing device is returned
 * unchanged). NULL on a keystore error (logged). */
struct fc_device *fc_hub_device_ensure(struct fc_hub *hub, const struct fc_vendor *v, const char *vid,
				       const struct cJSON *secrets, const struct cJSON *meta);
/* Availability (retained <base>/<name>/availability, bridge/devices). `c` becomes the device's session
 * when going online. */
void fc_hub_device_set_online(struct fc_hub *hub, struct fc_device *dev, const struct fc_client *c, bool online);
/* Descriptive info; NULL leaves a field unchanged. Persisted to device meta when it changes. */
void fc_hub_device_set_info(struct fc_hub *hub, struct fc_device *dev, const char *model, const char *firmware,
			    const char *ip);
/* Replace the exposes list (copied); republishes discovery when it changed; persisted in meta. */
void fc_hub_device_set_exposes(struct fc_hub *hub, struct fc_device *dev, const struct fc_exposes *x);
/* Merge normalised attributes into the state and publish it (retained) if anything changed. */
void fc_hub_device_update_state(struct fc_hub *hub, struct fc_device *dev, const struct cJSON *patch);
/* Publish a verified, decrypted device message on <base>/<name>/raw. */
void fc_hub_device_raw(struct fc_hub *hub, struct fc_device *dev, const struct cJSON *raw);
/* The same for a message that is already JSON text (published as given, len bytes). */
void fc_hub_device_raw_text(struct fc_hub *hub, struct fc_device *dev, const char *json, size_t len);
/* Log (fc_log) and publish on bridge/log. `dev` may be NULL. Never pass secrets. */
void fc_hub_bridge_log(struct fc_hub *hub, enum fc_log_level level, const struct fc_device *dev, const char *fmt,
		       ...) __attribute__((format(printf, 4, 5)));
/* The vendor state (from init) for vendor v. */
void *fc_hub_vendor_state(struct fc_hub *hub, const struct fc_vendor *v);

/* Counters (for tests and bridge/info). */
struct fc_hub_stats {
	uint64_t auth_ok, auth_denied, acl_denied, messages, commands, command_errors, bad_requests;
	uint64_t commands_dropped; /* over core.command_rate */
};
void fc_hub_stats(struct fc_hub *hub, struct fc_hub_stats *out);

/* Valid friendly names: 1..100 chars, no '/', '+', '#', no leading '$', not "bridge". */
bool fc_name_valid(const char *name, char *err, size_t errlen);

#endif
