/* Private to the hub's files (hub.c, bridge.c, discovery.c). */
#ifndef FC_HUB_INTERNAL_H
#define FC_HUB_INTERNAL_H

#include <uthash.h>

#include "core/hub.h"
#include "core/secret.h"

#define FC_HUB_MAX_VENDORS 16
/* Client connections whose command budget is tracked at once (least recently active reused beyond). */
#define FC_HUB_RL_CLIENTS 4096

struct dev_node {
	struct fc_device d; /* first: a struct fc_device * is a struct dev_node * */
	UT_hash_handle hh_key, hh_name;
	char key[];         /* "<vendor>\x1f<vid>", allocated to its length */
};
#define HUB_KEY_MAX 200

/* One exposes list shared by every device that has exactly this list (devices of one model): a device's
 * exposes.e points at e[] here, with exposes.cap = 0 < exposes.n marking it as shared (see hub.c). */
struct shared_exposes {
	UT_hash_handle hh; /* keyed by the bytes of e[0..n) */
	unsigned refs;
	size_t n;
	struct fc_expose e[];
};

struct session {
	const void *handle;
	const struct fc_vendor *vendor; /* NULL for the internal client */
	struct fc_device *dev;
	bool internal;
	UT_hash_handle hh;
};

struct fc_hub {
	struct fc_broker broker;
	const struct fc_config *cfg;
	struct fc_keystore *ks;
	const struct fc_vendor *const *vendors;
	size_t n_vendors;
	void *vstate[FC_HUB_MAX_VENDORS];
	char base[128];
	char ha_prefix[128];
	bool discovery;
	bool started;
	struct fc_secret internal_pw;
	struct dev_node *by_key;
	struct dev_node *by_name;
	size_t n_devices;
	struct shared_exposes *exposes_pool;
	struct session *sessions;
	struct session *sess_last; /* the last one session_find returned (hub.c) */
	struct fc_rl *cmd_rl; /* core.command_rate per client connection */
	long cmd_rate, cmd_burst;
	bool devices_dirty;
	int64_t devices_published_ms;
	struct fc_hub_stats stats;
};

/* Publishes json as cJSON_PrintUnformatted would print it (same bytes; see hub_json_print). */
void hub_publish_json(struct fc_hub *hub, const char *topic, const struct cJSON *json, bool retain);
/* The bytes cJSON_PrintUnformatted gives for json, without its per-number sprintf/sscanf round trip.
 * malloc'd (free()), NUL-terminated; *len (optional) = its length. NULL on failure. */
char *hub_json_print(const struct cJSON *json, size_t *len);
/* Publishes the JSON array of item(ctx, 0..n-1), each built, printed and freed in turn (one element's
 * tree at a time, not the whole list's). The same bytes as hub_publish_json of the whole array. */
void hub_publish_json_array(struct fc_hub *hub, const char *topic, size_t n,
			    struct cJSON *(*item)(void *ctx, size_t i), void *ctx, bool retain);
void hub_publish_str(struct fc_hub *hub, const char *topic, const char *s, bool retain);
void hub_topic(struct fc_hub *hub, char *out, size_t cap, const char *name, const char *suffix);
struct cJSON *hub_parse_json(const void *payload, size_t len);
void hub_publish_availability(struct fc_hub *hub, struct fc_device *d);
void hub_touch(struct fc_hub *hub, struct fc_device *d);
void hub_publish_state(struct fc_hub *hub, struct fc_device *d);
void hub_remove_device(struct fc_hub *hub, struct fc_device *d);
void hub_rename_device(struct fc_hub *hub, struct fc_device *d, const char *to);
void hub_reload_device(struct fc_hub *hub, const struct fc_vendor *v, const char *vid);

/* bridge.c */
void hub_bridge_request(struct fc_hub *hub, const struct fc_client *c, const char *op, const void *payload, size_t len);
void hub_publish_info(struct fc_hub *hub);
void hub_publish_devices(struct fc_hub *hub);
struct cJSON *hub_device_json(struct fc_hub *hub, const struct fc_device *d);

/* discovery.c: publish the device's entries; entries of `old` exposes that are gone are cleared. */
void hub_discovery_publish(struct fc_hub *hub, struct fc_device *d, const struct fc_exposes *old);
void hub_discovery_clear(struct fc_hub *hub, struct fc_device *d, const struct fc_exposes *x);

#endif
