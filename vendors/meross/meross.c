/* The Meross vendor: device-side MQTT session logic (session.c, namespaces.c, hub.c), app MQTT clients
 * (app.c), the cloud app API (http.c), accounts and app users (accounts.c, users.c) and CLI. */
#include "vendors/meross/meross_internal.h"

extern const struct fc_vendor_broker meross_broker;
extern const struct fc_vendor_cli meross_cli;

static const struct fc_config_key meross_config_keys[] = {
	{"meross", "electricity_interval", FC_CFG_INT, "30", 5, 3600,
	 "Seconds between Electricity/ConsumptionX reads (plugs do not push them)"},
	{"meross", "command_timeout", FC_CFG_INT, "10", 1, 300, "Seconds to wait for a device's SETACK before logging an error"},
	{"meross", "time_sync", FC_CFG_BOOL, "true", 0, 0, "Send Appliance.System.Time (core.timezone) after each bind"},
	{"meross", "api_domain", FC_CFG_STRING, "", 0, 0,
	 "App API base URL returned at sign-in (empty: https://<first tls.hostnames>[:http.https_port])"},
	{"meross", "mqtt_domain", FC_CFG_STRING, "", 0, 0,
	 "Broker host[:port] apps are sent to (empty: first tls.hostnames, plus :mqtt.tls_port unless 443 is a TLS port)"},
	{"meross", "token_days", FC_CFG_INT, "365", 1, 3650, "Days an app API login token stays valid"},
	{NULL, NULL, 0, NULL, 0, 0, NULL},
};

const struct fc_vendor meross_vendor = {
	.name = "meross",
	.title = "Meross",
	.manufacturer = "Meross",
	.config_keys = meross_config_keys,
	.broker = &meross_broker,
	.http = &meross_http,
	.cli = &meross_cli,
};
