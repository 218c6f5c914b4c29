/* Meross device simulator for integration tests: one simulated appliance (plug, strip, bulb or hub)
 * that connects to an MQTT broker over TLS exactly like a real device bound to a private cloud
 * (/work/shared/protocols/meross.md §1–§4) and speaks the device side of the protocol.
 *
 * This is deliberately an independent implementation of the device side: it includes nothing from
 * vendors/ so that a bug in the fake cloud's Meross codec cannot be mirrored here.
 *
 * Threading: every simulator owns one thread that runs the libmosquitto network loop, the bind/retry
 * timers and all protocol handling. All functions below are safe to call from any thread. Device
 * originated messages requested by the test (press, set_light, push, ...) are queued and published by
 * that thread; they are dropped (and counted) while the device is not connected, as on a real device.
 *
 * Behaviour summary (details in meross_sim.c):
 *  - MQTT 3.1 (or 3.1.1), clean session, keepalive 30, no will, TLS 1.2, client id
 *    "fmware:<uuid>_<16 random alnum>" (stable for the simulator's lifetime), username = mac,
 *    password "<userId>_<md5hex(mac + key)>" (userId "0" when empty) unless password_override is set.
 *  - After SUBACK of /appliance/<uuid>/subscribe: Clock PUSH, ConsumptionConfig PUSH (STRIP), Bind SET
 *    (repeated every bind_retry_ms until a correctly signed Bind SETACK arrives). HUB then PUSHes
 *    Hub.SubdeviceList with needReply:1 every bind_retry_ms until the cloud answers.
 *  - Every incoming message is signature-checked; bad signs get ERROR 5001 and are not acted upon.
 *  - GET/SET are answered (to header.from) whether or not the device is bound yet: what a real device
 *    does before its Bind SETACK is not documented.
 *  - Lost connection / refused CONNACK: reconnect after reconnect_ms and start the sequence over.
 * meross_sim_stop() must not race with other calls on the same simulator. */
#ifndef FC_MEROSS_SIM_H
#define FC_MEROSS_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum meross_sim_kind {
	MEROSS_SIM_PLUG = 0, /* mss110: ToggleX, 1 channel */
	MEROSS_SIM_STRIP,    /* mss425e: ToggleX channels 0..3, Electricity + ConsumptionX on channel 0 */
	MEROSS_SIM_BULB,     /* msl120: ToggleX channel 0 + Light (rgb | temperature | luminance) */
	MEROSS_SIM_HUB,      /* msh300: Hub.* with ms100 "120027D21C19" and mts100v3 "01008C11" */
};

#define MEROSS_SIM_SENSOR_ID "120027D21C19"
#define MEROSS_SIM_VALVE_ID "01008C11"
#define MEROSS_SIM_MAX_CHANNELS 4

struct meross_sim_opts {
	enum meross_sim_kind kind;
	char uuid[33];                /* 32 chars [0-9A-Za-z] (required) */
	char mac[18];                 /* "48:e1:e9:xx:xx:xx" lowercase (required) */
	char user_id[24];             /* decimal; "" means "0" */
	char key[64];                 /* sign key and password key; may be "" */
	const char *host;             /* broker host (default "127.0.0.1"); copied */
	int port;                     /* broker TLS port (required) */
	const char *ca_file;          /* NULL: do not verify the server (as real devices); else verify chain +
					 host name against it; copied */
	int protocol;                 /* 3 = MQTT 3.1 (default, as real devices), 4 = MQTT 3.1.1 */
	int bind_retry_ms;            /* Bind SET / SubdeviceList repeat interval; default 10000 */
	int reconnect_ms;             /* delay before reconnecting after a failure/drop; default 1000 */
	int pub_qos;                  /* QoS of the device's publishes: 0 (default), 1 or 2; SUBSCRIBE uses 1 */
	bool legacy_toggle;           /* speak Appliance.Control.Toggle and the legacy System.All "control"
					 layout instead of ToggleX/digest */
	char password_override[128];  /* non-empty: use this MQTT password instead of the computed one */
	const char *hw_type;          /* NULL: the kind's default ("mss110", "mss425e", "msl120", "msh300") */
	const char *fw_version;       /* NULL: the kind's default */
};

/* Fill defaults for everything but uuid/mac/user_id/key/port. */
void meross_sim_opts_init(struct meross_sim_opts *o, enum meross_sim_kind kind);

struct meross_sim;

/* Validates the options, starts the simulator thread (which connects asynchronously and keeps
 * reconnecting). Returns NULL (with a reason on stderr) on invalid options or resource failure. */
struct meross_sim *meross_sim_start(const struct meross_sim_opts *o);
/* Sends DISCONNECT if connected, stops the thread, frees everything. NULL is a no-op. */
void meross_sim_stop(struct meross_sim *s);

/* ---- waiting ---- */
/* True once a correctly signed Bind SETACK was accepted in the current connection. */
bool meross_sim_wait_bound(struct meross_sim *s, int timeout_ms);
bool meross_sim_is_bound(struct meross_sim *s);
bool meross_sim_is_connected(struct meross_sim *s);   /* CONNACK accepted and not dropped since */

enum meross_sim_counter {
	MSC_CONNECTS = 0,        /* accepted CONNACKs */
	MSC_CONNECT_FAILS,       /* socket/TLS failures and refused CONNACKs */
	MSC_DISCONNECTS,         /* connection losses after an accepted CONNACK */
	MSC_BIND_ATTEMPTS,       /* Bind SETs published */
	MSC_SETACK_OK,           /* correctly signed Bind SETACKs accepted */
	MSC_BAD_SIGN,            /* incoming messages with a missing or wrong sign */
	MSC_ERRORS_SENT,         /* ERROR replies published (bad sign, unknown namespace, bad request) */
	MSC_CLOCK_PUSHES,        /* Clock PUSHes published */
	MSC_CLOCK_REPLIES,       /* cloud Clock PUSHes with the messageId of one of ours */
	MSC_CONSUMPTION_CONFIG_REPLIES, /* cloud ConsumptionConfig PUSHes with the messageId of ours */
	MSC_SUBDEVLIST_PUSHES,   /* HUB: Hub.SubdeviceList needReply PUSHes published */
	MSC_SUBDEVLIST_REPLIES,  /* HUB: correctly signed non-GET/SET Hub.SubdeviceList messages received */
	MSC_MALFORMED,           /* ignored: oversize, not JSON, trailing garbage, missing header fields */
	MSC_RECEIVED,            /* all messages received on the command topic */
	MSC_ACKS_SENT,           /* GETACK/SETACK published */
	MSC_PUSHES_SENT,         /* PUSHes published (all namespaces, incl. Clock/Bind-time ones) */
	MSC_UNKNOWN_NS,          /* requests for namespaces this kind does not support */
	MSC_TIME_SETS,           /* System.Time SET/PUSH accepted */
	MSC_UNBINDS,             /* correctly signed Appliance.Control.Unbind PUSH received: like a real
				    device (factory reset, pairing mode) the simulator disconnects and stays
				    offline until meross_sim_stop() */
	MSC_DROPPED,             /* queued device messages discarded because not connected */
	MSC__COUNT
};
long meross_sim_counter(struct meross_sim *s, enum meross_sim_counter c);
/* Wait until counter >= min. */
bool meross_sim_wait_counter(struct meross_sim *s, enum meross_sim_counter c, long min, int timeout_ms);
/* Correctly signed requests received, by method ("GET", "SET", "PUSH", ...) and namespace. */
long meross_sim_count(struct meross_sim *s, const char *method, const char *ns);
bool meross_sim_wait_count(struct meross_sim *s, const char *method, const char *ns, long min, int timeout_ms);
/* Last CONNACK return code (0 accepted, 5 not authorised, ...; -1 none yet). */
int meross_sim_last_connack(struct meross_sim *s);
/* Copy of the last error text ("" if none): connect failures, refused CONNACK/SUBACK, and the reason
 * of the last ERROR reply sent. */
void meross_sim_last_error(struct meross_sim *s, char *out, size_t outlen);
/* The MQTT client id and password the simulator uses. */
void meross_sim_client_id(struct meross_sim *s, char *out, size_t outlen);
void meross_sim_password(struct meross_sim *s, char *out, size_t outlen);

/* ---- device state ---- */
int meross_sim_onoff(struct meross_sim *s, int channel);  /* 0/1, -1 bad channel; HUB: valve togglex */
/* Local change ("button press"): toggle the channel (HUB: the valve) and PUSH the new state
 * (ToggleX, Toggle when legacy_toggle, Hub.ToggleX for HUB) with triggerSrc "Device".
 * Returns the new onoff or -1 on a bad channel. */
int meross_sim_press(struct meross_sim *s, int channel);
/* Local change to a given value; PUSHes like meross_sim_press. Returns 0 or -1. */
int meross_sim_set_onoff(struct meross_sim *s, int channel, int onoff);

struct meross_sim_light {
	int capacity;     /* last mode bits: rgb=1 temperature=2 luminance=4 */
	int rgb;          /* 0xRRGGBB */
	int temperature;  /* 1..100 */
	int luminance;    /* 0..100 */
	int onoff;        /* channel 0 */
};
int meross_sim_get_light(struct meross_sim *s, struct meross_sim_light *out);      /* -1 if not BULB */
/* Local light change; PUSHes Appliance.Control.Light. -1 if not BULB. */
int meross_sim_set_light(struct meross_sim *s, const struct meross_sim_light *l);

struct meross_sim_power {
	int current_ma;
	int voltage_dv;
	int power_mw;
};
int meross_sim_get_power(struct meross_sim *s, struct meross_sim_power *out);  /* -1 if not STRIP */
int meross_sim_set_power(struct meross_sim *s, int current_ma, int voltage_dv, int power_mw); /* no PUSH */

/* HUB valve (mts100v3) state; temperatures are x10 °C. */
struct meross_sim_valve {
	int onoff, mode;
	int room, current_set, custom, comfort, economy, away;
};
int meross_sim_get_valve(struct meross_sim *s, struct meross_sim_valve *out);  /* -1 if not HUB */
/* HUB sensor (ms100) readings, x10 (°C, %RH). No PUSH. -1 if not HUB. */
int meross_sim_set_sensor(struct meross_sim *s, int temperature_x10, int humidity_x10);

/* Last System.Time received (timezone "" and timestamp 0 when none). */
void meross_sim_get_time(struct meross_sim *s, char *tz, size_t tzlen, int64_t *timestamp);

/* ---- raw ---- */
/* PUSH an arbitrary payload (a JSON object text) on namespace ns, device-signed, to
 * /appliance/<uuid>/publish. Returns 0 when queued, -1 on invalid JSON. */
int meross_sim_push(struct meross_sim *s, const char *ns, const char *payload_json);
/* Publish `payload` verbatim to `topic` (e.g. to test the cloud's handling of bad device messages). */
int meross_sim_publish_raw(struct meross_sim *s, const char *topic, const char *payload);
/* Force a connection drop (DISCONNECT); the simulator reconnects after reconnect_ms. */
void meross_sim_drop(struct meross_sim *s);

#endif
