/* Tuya device simulator for integration tests: one Wi-Fi module (TuyaOS 2.x style, ../shared/protocols/
 * tuya.md §1.6) that discovers its cloud with url_config over TLS-PSK, activates with
 * tuya.device.active, runs the follow-up ATOP actions, logs in to MQTT with devId / md5(secKey)[8:24],
 * reports DPs (protocol 4) and applies DP commands (protocol 5) in payload version 2.2 (or 2.1 / 2.3).
 *
 * It uses vendors/tuya/codec.h for the wire formats (the codec is unit-tested against the published
 * vectors); everything a device decides — call order, keys chosen, what it accepts — is its own.
 *
 * Threading: tuya_sim_start() runs the whole sequence on the simulator's own thread (HTTP steps
 * synchronously, then the libmosquitto loop). All functions are safe from any thread. */
#ifndef FC_TUYA_SIM_H
#define FC_TUYA_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tuya_sim_opts {
	char uuid[65];           /* required */
	char auth_key[65];       /* required (32 or 16 chars) */
	char psk_key[65];        /* "" = PSK identity v1 (derived); else identity v2 with this key */
	const char *host;        /* fakecloud host for url_config (default "127.0.0.1") */
	int https_port;          /* TLS-PSK url_config port (required) */
	const char *url_config_path; /* default "/v1/url_config" */
	int pv;                  /* MQTT payload version 21, 22 (default) or 23; sent as protocolVer */
	bool mqtt_psk;           /* use mqttsPSKUrl when the reply offers it (identity v1) */
	const char *initial_dps; /* JSON object of the device's DPs, default {"1":false} */
	const char *soft_ver;    /* default "1.1.7" */
	const char *product_key; /* default "keyfakecloudsim1" */
	int reconnect_ms;        /* default 500 */
	int report_qos;          /* 0 or 1 (default 1) */
	/* Mount a bad actor: publish to this topic instead of smart/device/out/<devId> ("" = normal). */
	char publish_topic_override[128];
};
void tuya_sim_opts_init(struct tuya_sim_opts *o);

struct tuya_sim;

/* Start: url_config -> active -> follow-ups -> MQTT. Returns NULL on invalid options. Failures of a
 * step are recorded (tuya_sim_last_error) and the step is retried after reconnect_ms. */
struct tuya_sim *tuya_sim_start(const struct tuya_sim_opts *o);
void tuya_sim_stop(struct tuya_sim *s);

enum tuya_sim_stage {
	TUYA_SIM_URL_CONFIG = 0, /* waiting for url_config */
	TUYA_SIM_ACTIVATING,     /* url_config done, active not yet */
	TUYA_SIM_ACTIVATED,      /* active + follow-ups done, MQTT not connected */
	TUYA_SIM_ONLINE,         /* MQTT connected and subscribed */
};
enum tuya_sim_stage tuya_sim_stage(struct tuya_sim *s);
bool tuya_sim_wait_stage(struct tuya_sim *s, enum tuya_sim_stage st, int timeout_ms);

enum tuya_sim_counter {
	TSC_URL_CONFIG_OK = 0,
	TSC_ACTIVE_OK,
	TSC_ATOP_CALLS,          /* ATOP requests answered success:true */
	TSC_ATOP_ERRORS,         /* ATOP replies success:false, undecryptable, bad sign, HTTP errors */
	TSC_CONNECTS,            /* accepted CONNACKs */
	TSC_CONNECT_REFUSED,     /* refused CONNACKs */
	TSC_REPORTS,             /* protocol 4 published */
	TSC_COMMANDS,            /* protocol 5 decoded and applied */
	TSC_BAD_MESSAGES,        /* undecodable or unexpected messages received */
	TSC_OTHER_PROTOCOLS,     /* decoded messages with other protocol numbers */
	TSC__COUNT
};
long tuya_sim_counter(struct tuya_sim *s, enum tuya_sim_counter c);
bool tuya_sim_wait_counter(struct tuya_sim *s, enum tuya_sim_counter c, long min, int timeout_ms);
void tuya_sim_last_error(struct tuya_sim *s, char *out, size_t outlen);
/* Last CONNACK code (-1 none). */
int tuya_sim_last_connack(struct tuya_sim *s);

/* What activation gave the device ("" before). */
void tuya_sim_dev_id(struct tuya_sim *s, char *out, size_t cap);
void tuya_sim_local_key(struct tuya_sim *s, char *out, size_t cap);
void tuya_sim_sec_key(struct tuya_sim *s, char *out, size_t cap);
/* The schema text and the "t" of the active reply (0 before). */
void tuya_sim_schema(struct tuya_sim *s, char *out, size_t cap);
int64_t tuya_sim_server_time(struct tuya_sim *s);
/* Every ATOP action called so far, comma-separated in order ("tuya.device.active,tuya.device...."). */
void tuya_sim_actions(struct tuya_sim *s, char *out, size_t cap);

/* DPs: current values as a JSON object text; change DPs locally (like a button press) and report them
 * (protocol 4) when online. */
void tuya_sim_dps(struct tuya_sim *s, char *out, size_t cap);
int tuya_sim_set_dps(struct tuya_sim *s, const char *dps_json);
/* Last protocol 5 "dps" object received and its JSON "t" (the envelope's) and header seq. */
void tuya_sim_last_command(struct tuya_sim *s, char *dps_out, size_t cap, int64_t *t, uint32_t *seq);
/* Publish raw bytes as the device to `topic`. */
int tuya_sim_publish_raw(struct tuya_sim *s, const char *topic, const void *payload, size_t len);
/* Drop the MQTT connection (reconnects after reconnect_ms). */
void tuya_sim_drop(struct tuya_sim *s);

/* One-shot helpers for tests of the HTTP side: a TLS-PSK POST of `body` to path, response body into
 * out. identity/psk as given. Returns the HTTP status or -1 (reason in err). */
int tuya_sim_psk_post(const char *host, int port, const uint8_t *identity, size_t idlen, const uint8_t *psk,
		      size_t psklen, const char *path, const char *body, char *out, size_t cap, char *err,
		      size_t errlen);

#endif
