/* fakecloud.so: thin Mosquitto 2.0.x glue. Options, callback registration, and the fc_broker interface
 * on the plugin API; every decision is made by the hub (core/hub.c) and the vendors behind it.
 *
 *   plugin /usr/local/lib/fakecloud/fakecloud.so
 *   plugin_opt_config /var/lib/fakecloud/fakecloud.conf
 *
 * mosquitto_broker.h must come before mosquitto_plugin.h on 2.0.11. */
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <mosquitto.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "broker-plugin/memstat.h"
#include "core/config.h"
#include "core/hub.h"
#include "core/keystore.h"
#include "core/log.h"
#include "core/vendor.h"

struct plugin {
	mosquitto_plugin_id_t *id;
	struct fc_config cfg;
	struct fc_keystore *ks;
	struct fc_hub *hub;
};

/* ---- fc_broker on the plugin API ---- */

static int b_publish(void *ctx, const char *topic, const void *payload, size_t len, int qos, bool retain)
{
	(void)ctx;
	return mosquitto_broker_publish_copy(NULL, topic, (int)len, payload, qos, retain, NULL) == MOSQ_ERR_SUCCESS ? 0 : -1;
}

static int b_publish_to(void *ctx, const char *client_id, const char *topic, const void *payload, size_t len, int qos)
{
	(void)ctx;
	return mosquitto_broker_publish_copy(client_id, topic, (int)len, payload, qos, false, NULL) == MOSQ_ERR_SUCCESS
		       ? 0
		       : -1;
}

static int b_kick(void *ctx, const char *client_id)
{
	(void)ctx;
	return mosquitto_kick_client_by_clientid(client_id, false) == MOSQ_ERR_SUCCESS ? 0 : -1;
}

static int64_t b_now_ms(void *ctx)
{
	(void)ctx;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t b_heap_bytes(void *ctx)
{
	(void)ctx;
	return fc_memstat_heap_bytes();
}

static const struct fc_broker_ops broker_ops = {b_publish, b_publish_to, b_kick, b_now_ms, b_heap_bytes};

static void log_sink(void *ctx, enum fc_log_level level, const char *line)
{
	(void)ctx;
	static const int map[] = {MOSQ_LOG_DEBUG, MOSQ_LOG_INFO, MOSQ_LOG_WARNING, MOSQ_LOG_ERR};
	mosquitto_log_printf(map[level], "fakecloud: %s", line);
}

static struct fc_client client_of(struct mosquitto *c)
{
	struct fc_client fc = {
		.handle = c,
		.id = mosquitto_client_id(c),
		.username = mosquitto_client_username(c),
		.address = mosquitto_client_address(c),
		.protocol_version = mosquitto_client_protocol_version(c),
	};
	return fc;
}

/* ---- callbacks ---- */

static int on_basic_auth(int event, void *event_data, void *userdata)
{
	(void)event;
	struct mosquitto_evt_basic_auth *ev = event_data;
	struct plugin *p = userdata;
	struct fc_client c = client_of(ev->client);
	switch (fc_hub_on_auth(p->hub, &c, ev->username, ev->password)) {
	case FC_ALLOW:
		return MOSQ_ERR_SUCCESS;
	case FC_DENY:
		return MOSQ_ERR_AUTH;
	default:
		return MOSQ_ERR_PLUGIN_DEFER;
	}
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
	(void)event;
	struct mosquitto_evt_acl_check *ev = event_data;
	struct plugin *p = userdata;
	struct fc_client c = client_of(ev->client);
	switch (fc_hub_on_acl(p->hub, &c, ev->topic, ev->access)) {
	case FC_ALLOW:
		return MOSQ_ERR_SUCCESS;
	case FC_DENY:
		return MOSQ_ERR_ACL_DENIED;
	default:
		return MOSQ_ERR_PLUGIN_DEFER;
	}
}

static int on_message(int event, void *event_data, void *userdata)
{
	(void)event;
	struct mosquitto_evt_message *ev = event_data;
	struct plugin *p = userdata;
	struct fc_client c = client_of(ev->client);
	enum fc_verdict r = fc_hub_on_message(p->hub, &c, ev->topic, ev->payload, (size_t)ev->payloadlen, ev->retain);
	/* ACL_DENIED drops the message without disconnecting the publisher. */
	return r == FC_DENY ? MOSQ_ERR_ACL_DENIED : MOSQ_ERR_SUCCESS;
}

static int on_psk_key(int event, void *event_data, void *userdata)
{
	(void)event;
	struct mosquitto_evt_psk_key *ev = event_data;
	struct plugin *p = userdata;
	struct fc_client c = client_of(ev->client);
	if (ev->max_key_len <= 0)
		return MOSQ_ERR_AUTH;
	return fc_hub_on_psk_key(p->hub, &c, ev->hint, ev->identity, ev->key, (size_t)ev->max_key_len) == 0
		       ? MOSQ_ERR_SUCCESS
		       : MOSQ_ERR_AUTH;
}

static int on_tick(int event, void *event_data, void *userdata)
{
	(void)event;
	(void)event_data;
	fc_hub_on_tick(((struct plugin *)userdata)->hub);
	return MOSQ_ERR_SUCCESS;
}

static int on_disconnect(int event, void *event_data, void *userdata)
{
	(void)event;
	struct mosquitto_evt_disconnect *ev = event_data;
	struct plugin *p = userdata;
	struct fc_client c = client_of(ev->client);
	fc_hub_on_disconnect(p->hub, &c);
	return MOSQ_ERR_SUCCESS;
}

static int on_reload(int event, void *event_data, void *userdata)
{
	(void)event;
	(void)event_data;
	(void)userdata;
	/* Options are read only at start; return DEFER so other plugins' reload callbacks still run. */
	return MOSQ_ERR_PLUGIN_DEFER;
}

static const struct {
	int event;
	MOSQ_FUNC_generic_callback cb;
} callbacks[] = {
	{MOSQ_EVT_BASIC_AUTH, on_basic_auth}, {MOSQ_EVT_ACL_CHECK, on_acl_check}, {MOSQ_EVT_MESSAGE, on_message},
	{MOSQ_EVT_PSK_KEY, on_psk_key},       {MOSQ_EVT_TICK, on_tick},           {MOSQ_EVT_DISCONNECT, on_disconnect},
	{MOSQ_EVT_RELOAD, on_reload},
};

/* ---- entry points ---- */

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	for (int i = 0; i < supported_version_count; i++)
		if (supported_versions[i] == 5)
			return 5;
	return -1;
}

static void free_plugin(struct plugin *p)
{
	if (!p)
		return;
	fc_hub_free(p->hub);
	fc_keystore_close(p->ks);
	free(p);
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata, struct mosquitto_opt *opts,
			  int opt_count)
{
	/* Before anything allocates with cJSON: its blocks count as the plugin's heap (memstat.c). */
	cJSON_Hooks hooks = {fc_memstat_malloc, fc_memstat_free};
	cJSON_InitHooks(&hooks);
	fc_log_set_sink(log_sink, NULL);
	const char *config_path = NULL;
	for (int i = 0; i < opt_count; i++) {
		if (strcmp(opts[i].key, "config") == 0)
			config_path = opts[i].value;
		else
			fc_warn("unknown plugin option plugin_opt_%s ignored (known: config)", opts[i].key);
	}
	if (!config_path) {
		fc_error("plugin_opt_config is not set: add 'plugin_opt_config /path/to/fakecloud.conf' after the plugin line");
		return MOSQ_ERR_INVAL;
	}
	struct plugin *p = calloc(1, sizeof *p);
	if (!p)
		return MOSQ_ERR_NOMEM;
	p->id = identifier;
	char err[512];
	fc_config_init(&p->cfg, fc_vendor_config_tables(fc_vendors));
	if (fc_config_load(&p->cfg, config_path, err, sizeof err) != 0) {
		fc_error("%s", err);
		free_plugin(p);
		return MOSQ_ERR_INVAL;
	}
	enum fc_log_level lvl;
	if (fc_log_level_parse(fc_config_str(&p->cfg, "core", "log_level"), &lvl) == 0)
		fc_log_set_level(lvl);
	p->ks = fc_keystore_open(fc_config_str(&p->cfg, "core", "store"), err, sizeof err);
	if (!p->ks) {
		fc_error("cannot open the keystore: %s", err);
		free_plugin(p);
		return MOSQ_ERR_UNKNOWN;
	}
	struct fc_broker broker = {&broker_ops, p};
	p->hub = fc_hub_new(&broker, &p->cfg, p->ks, fc_vendors, err, sizeof err);
	if (!p->hub) {
		fc_error("%s", err);
		free_plugin(p);
		return MOSQ_ERR_UNKNOWN;
	}
	for (size_t i = 0; i < sizeof callbacks / sizeof callbacks[0]; i++) {
		int rc = mosquitto_callback_register(identifier, callbacks[i].event, callbacks[i].cb, NULL, p);
		if (rc != MOSQ_ERR_SUCCESS) {
			fc_error("cannot register callback for event %d (rc %d)", callbacks[i].event, rc);
			free_plugin(p);
			return rc;
		}
	}
	*userdata = p;
	fc_info("fakecloud %s loaded (config %s)", FC_VERSION, config_path);
	return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *opts, int opt_count)
{
	(void)opts;
	(void)opt_count;
	struct plugin *p = userdata;
	if (!p)
		return MOSQ_ERR_SUCCESS;
	fc_hub_stop(p->hub);
	for (size_t i = 0; i < sizeof callbacks / sizeof callbacks[0]; i++)
		mosquitto_callback_unregister(p->id, callbacks[i].event, callbacks[i].cb, NULL);
	free_plugin(p);
	fc_log_set_sink(NULL, NULL);
	/* Mosquitto unloads the plugin next; another plugin's later cJSON calls must not land in it. */
	cJSON_InitHooks(NULL);
	return MOSQ_ERR_SUCCESS;
}
