/* The vendor interface. Each vendor folder exposes one `const struct fc_vendor` with the hooks it has;
 * vendors/vendors.c lists them. Hosts (broker-plugin, httpd, CLI) only see this table. */
#ifndef FC_VENDOR_H
#define FC_VENDOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/config.h"
#include "core/http.h"

struct cJSON;
struct fc_hub;
struct fc_device;
struct fc_keystore;

enum fc_verdict { FC_DEFER = 0, FC_ALLOW = 1, FC_DENY = 2 };

/* ACL access bits (same values as Mosquitto's). */
#define FC_ACL_READ 1
#define FC_ACL_WRITE 2
#define FC_ACL_SUBSCRIBE 4
#define FC_ACL_UNSUBSCRIBE 8

/* A connected MQTT client as the broker reports it. `handle` is opaque and unique per connection. */
struct fc_client {
	const void *handle;
	const char *id;
	const char *username;
	const char *address;
	int protocol_version; /* 3 = MQTT 3.1, 4 = 3.1.1, 5 */
};

/* Device-side session logic for MQTT devices. Every hook is optional. `vs` is the vendor state
 * returned by init. Hooks run on the broker thread and must not block. */
struct fc_vendor_broker {
	int (*init)(struct fc_hub *hub, void **vs);
	void (*cleanup)(struct fc_hub *hub, void *vs);
	/* Connect. FC_DEFER when the client is not this vendor's (by client id / username shape). FC_ALLOW
	 * and *dev set to the (registered) device, or FC_DENY after logging why (naming the device, never
	 * the secret). Clients of a vendor that are not devices (e.g. app clients) may be allowed with
	 * *dev = NULL. */
	enum fc_verdict (*auth)(struct fc_hub *hub, void *vs, const struct fc_client *c, const char *username,
				const char *password, struct fc_device **dev);
	/* ACL for this vendor's own clients (those it allowed). FC_DEFER is treated as deny. */
	enum fc_verdict (*acl)(struct fc_hub *hub, void *vs, const struct fc_client *c, struct fc_device *dev,
			       const char *topic, int access);
	/* True if `topic` is a topic only fakecloud may write (a device's command topic). */
	bool (*is_protected_topic)(const char *topic);
	/* A message published by one of this vendor's clients (after ACL). FC_DENY drops it. */
	enum fc_verdict (*message)(struct fc_hub *hub, void *vs, const struct fc_client *c, struct fc_device *dev,
				   const char *topic, const void *payload, size_t len);
	/* TLS-PSK for MQTT listeners: write the key as lowercase hex into hexkey (cap bytes). 0 = done,
	 * 1 = not this vendor's identity, -1 = this vendor's but refused (logged). */
	int (*psk_key)(struct fc_hub *hub, void *vs, const char *hint, const char *identity, char *hexkey,
		       size_t cap);
	void (*disconnect)(struct fc_hub *hub, void *vs, const struct fc_client *c, struct fc_device *dev);
	void (*tick)(struct fc_hub *hub, void *vs, int64_t now_ms);
	/* Plain-topic commands. `set` is an object of already validated, normalised {property: value}
	 * (see fc_expose_coerce). Send the native command; return 0, or -1 with a reason in err. */
	int (*command)(struct fc_hub *hub, void *vs, struct fc_device *dev, const struct cJSON *set, char *err,
		       size_t errlen);
	/* /get: `props` is an object whose keys name properties to refresh (empty = everything). */
	int (*refresh)(struct fc_hub *hub, void *vs, struct fc_device *dev, const struct cJSON *props, char *err,
		       size_t errlen);
	/* /raw/set: a vendor-native body. */
	int (*raw_command)(struct fc_hub *hub, void *vs, struct fc_device *dev, const struct cJSON *body,
			   char *err, size_t errlen);
	/* A message from fakecloud-httpd on $fakecloud/internal/<vendor>/<op>. */
	void (*internal)(struct fc_hub *hub, void *vs, const char *op, const void *payload, size_t len);
	/* The device is being removed (vendor drops its per-device data in dev->vdata). */
	void (*device_removed)(struct fc_hub *hub, void *vs, struct fc_device *dev);
	/* Load vendor per-device data when the hub loads a device from the keystore (optional). */
	void (*device_loaded)(struct fc_hub *hub, void *vs, struct fc_device *dev, const struct cJSON *secrets,
			      const struct cJSON *meta);
	void (*free_vdata)(void *vdata);
	/* Bridge request <base>/bridge/request/<vendor>/<op> (e.g. meross/account/add). Admin only: the hub
	 * passes only requests from users listed in core.admin_users. Fill `data` (never with a secret:
	 * responses are plain topics) or write err and return -1. */
	int (*bridge_request)(struct fc_hub *hub, void *vs, const char *op, const struct cJSON *req, struct cJSON *data,
			      char *err, size_t errlen);
};

/* The CLI side. `fakecloud device add <vendor> ...`, `fakecloud device export <vendor>`,
 * `fakecloud provision <vendor> ...`. Each returns a process exit code (0 ok, 1 failure, 2 usage). */
struct fc_cli {
	struct fc_keystore *ks;
	const struct fc_config *cfg;
	FILE *out;
	FILE *err;
};

/* "--name value" options of a vendor CLI hook (the CLI handles --help before calling the hook). Each
 * option sets *value to its argument. Unknown options and stray arguments print one line on cli->err
 * ("<cmd>: unknown option '--x'") and return 2; otherwise 0. argv[0] is the command word. */
struct fc_cli_opt {
	const char *name;
	const char **value;
};
int fc_cli_parse(struct fc_cli *cli, const char *cmd, int argc, char **argv, const struct fc_cli_opt *opts,
		 size_t n_opts);

struct fc_vendor_cli {
	const char *add_usage;       /* one usage line per form, shown by `device add --help` */
	int (*device_add)(struct fc_cli *cli, int argc, char **argv);
	int (*device_export)(struct fc_cli *cli, int argc, char **argv);
	const char *provision_usage;
	int (*provision)(struct fc_cli *cli, int argc, char **argv);
};

struct fc_vendor {
	const char *name;          /* lowercase, [a-z0-9]: used in topics, config sections, keystore */
	const char *title;         /* "Meross" */
	const char *manufacturer;  /* HA device block */
	const struct fc_config_key *config_keys; /* NULL-key terminated, section = name; may be NULL */
	const struct fc_vendor_broker *broker;
	const struct fc_vendor_http *http;
	const struct fc_vendor_cli *cli;
};

/* The vendor list of a build: NULL-terminated. Production builds link vendors/vendors.c; test builds
 * add the test vendor. */
extern const struct fc_vendor *const fc_vendors[];

const struct fc_vendor *fc_vendor_find(const struct fc_vendor *const *list, const char *name);
/* NULL-terminated list of the vendors' config tables (static storage, built on first call). */
const struct fc_config_key *const *fc_vendor_config_tables(const struct fc_vendor *const *list);

#endif
