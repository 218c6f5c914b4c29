/* The Tuya vendor (../shared/protocols/tuya.md): devices discover fakecloud with url_config, activate
 * over ATOP (fakecloud-httpd, http.c), then log in to MQTT as their devId (broker.c). See
 * tuya_internal.h for the file map and the keystore layout. */
#include "vendors/tuya/tuya_internal.h"

static const struct fc_config_key tuya_config_keys[] = {
	{"tuya", "address", FC_CFG_STRING, "", 0, 0,
	 "Host or IP given to devices in url_config replies (empty: the address the device connected to)"},
	{"tuya", "psk_urls", FC_CFG_BOOL, "false", 0, 0,
	 "Also offer httpsPSKUrl/mqttsPSKUrl in url_config (devices then use TLS-PSK for ATOP and MQTT)"},
	{"tuya", "mqtt_port", FC_CFG_INT, "0", 0, 65535, "MQTT port given to devices (0: mqtt.port)"},
	{"tuya", "http_port", FC_CFG_INT, "0", 0, 65535, "Plain HTTP port given to devices (0: http.http_port)"},
	{NULL, NULL, 0, NULL, 0, 0, NULL},
};

const struct fc_vendor tuya_vendor = {
	.name = "tuya",
	.title = "Tuya",
	.manufacturer = "Tuya",
	.config_keys = tuya_config_keys,
	.broker = &tuya_broker,
	.http = &tuya_http,
	.cli = &tuya_cli,
};
