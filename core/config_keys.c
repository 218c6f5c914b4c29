/* Every core configuration key, its type, default and one-line help. Vendors add their own tables
 * (section = vendor name). Relative paths are resolved against the config file's directory. */
#include "core/config.h"

const struct fc_config_key fc_core_config_keys[] = {
	{"core", "base_topic", FC_CFG_STRING, "fakecloud", 0, 0, "Base of every plain topic (fakecloud/<name>...)"},
	{"core", "store", FC_CFG_PATH, "fakecloud.db", 0, 0, "SQLite keystore shared by the plugin, httpd and CLI"},
	{"core", "log_level", FC_CFG_STRING, "info", 0, 0, "debug | info | warn | error"},
	{"core", "timezone", FC_CFG_STRING, "UTC", 0, 0, "IANA time zone sent to devices that want one"},
	{"core", "admin_users", FC_CFG_LIST, "admin", 0, 0,
	 "MQTT users allowed to send bridge requests that add or change secrets (e.g. meross/account/add)"},
	{"core", "command_rate", FC_CFG_INT, "50", 0, 1000000,
	 "Plain-topic commands (/set, /get, /raw/set, bridge requests) per second per MQTT connection; 0 = no limit"},
	{"core", "command_burst", FC_CFG_INT, "200", 1, 1000000,
	 "Commands one connection may send at once before core.command_rate applies"},

	{"mqtt", "host", FC_CFG_STRING, "127.0.0.1", 0, 0, "Broker address fakecloud-httpd connects to"},
	{"mqtt", "port", FC_CFG_PORT, "1883", 0, 0, "Plain MQTT listener (users, automations, fakecloud-httpd)"},
	{"mqtt", "listen", FC_CFG_STRING, "0.0.0.0", 0, 0, "Address the broker's listeners bind to"},
	{"mqtt", "tls_port", FC_CFG_PORT, "8883", 0, 0, "MQTT over TLS (certificate) for devices and users"},
	{"mqtt", "tls_extra_ports", FC_CFG_LIST, "", 0, 0,
	 "More ports for the same TLS listener, e.g. 443,2001 for DNS-redirected Meross devices"},
	{"mqtt", "psk_port", FC_CFG_PORT, "8886", 0, 0, "MQTT over TLS-PSK for devices whose keys fakecloud derives"},
	{"mqtt", "psk_hint", FC_CFG_STRING, "1dHRsc2NjbHltbGx3eWh50000000000000000", 0, 0,
	 "PSK identity hint of the PSK listener (default: the one Tuya devices expect, tuya.md §2)"},

	{"http", "listen", FC_CFG_STRING, "0.0.0.0", 0, 0, "Address fakecloud-httpd binds to"},
	{"http", "http_port", FC_CFG_PORT, "80", 0, 0, "Plain HTTP port (device APIs that use HTTP)"},
	{"http", "https_port", FC_CFG_PORT, "443", 0, 0, "HTTPS port: certificate and TLS-PSK on the same port"},
	{"http", "tls_min_version", FC_CFG_STRING, "1.0", 0, 0, "Lowest TLS version accepted: 1.0 | 1.1 | 1.2"},
	{"http", "max_body", FC_CFG_INT, "65536", 256, 16777216, "Largest request body in bytes (413 above)"},
	{"http", "max_header", FC_CFG_INT, "16384", 1024, 1048576, "Largest request head (line + headers) in bytes"},
	{"http", "max_connections", FC_CFG_INT, "256", 1, 65536, "Concurrent connections, all listeners"},
	{"http", "max_per_ip", FC_CFG_INT, "32", 1, 65536, "Concurrent connections from one address"},
	{"http", "timeout", FC_CFG_INT, "30", 1, 3600, "Seconds of inactivity before a connection is closed"},

	{"tls", "ca_cert", FC_CFG_PATH, "certs/ca.crt", 0, 0, "CA certificate (give it to clients that verify)"},
	{"tls", "ca_key", FC_CFG_PATH, "certs/ca.key", 0, 0, "CA private key (stays on this host)"},
	{"tls", "cert", FC_CFG_PATH, "certs/server.crt", 0, 0, "Server certificate (broker TLS and HTTPS)"},
	{"tls", "key", FC_CFG_PATH, "certs/server.key", 0, 0, "Server private key"},
	{"tls", "hostnames", FC_CFG_LIST, "fakecloud,localhost", 0, 0,
	 "Comma-separated DNS names for the server certificate (CN = first; vendor cloud hosts go here)"},
	{"tls", "ips", FC_CFG_LIST, "127.0.0.1", 0, 0, "Comma-separated IP addresses for the server certificate"},
	{"tls", "key_type", FC_CFG_STRING, "rsa", 0, 0, "Server key type: rsa (2048, widest device support) | ec"},

	{"homeassistant", "discovery", FC_CFG_BOOL, "true", 0, 0, "Publish Home Assistant MQTT discovery"},
	{"homeassistant", "prefix", FC_CFG_STRING, "homeassistant", 0, 0, "Home Assistant discovery prefix"},
	{NULL, NULL, 0, NULL, 0, 0, NULL},
};
