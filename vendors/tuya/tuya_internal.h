/* Private to vendors/tuya. The Tuya vendor (../shared/protocols/tuya.md):
 *  codec.c     pure wire formats (ATOP HTTP, url_config, TLS-PSK identities, MQTT 2.1/2.2/2.3)
 *  store.c     the device record in the keystore: import, activation (mints devId/secKey/localKey once)
 *  schema.c    the device's DP schema -> exposes, DP values <-> plain-topic attributes
 *  http.c      fakecloud-httpd side: url_config, ATOP /d.json and /gw.json, TLS-PSK key hook
 *  broker.c    broker side: device login, ACL, reports -> state, /set -> protocol 5
 *  lan.c       LAN frames (55AA, protocol 3.3) and the AP-mode config datagram
 *  provision.c `fakecloud provision tuya ap|wifi`
 *  cli.c       `fakecloud device add tuya`, `fakecloud device export tuya`, bridge request
 *
 * Keystore layout: vendor "tuya", vid = the factory uuid (what the owner imports), alias = devId (set
 * at activation, fc_ks_device_set_alias). Secrets (redacted from logs): authKey, pskKey, secKey,
 * localKey. Meta (not secret; devId appears in logs and topics): devId, schemaId, schema (the schema
 * JSON text), dp_names ({"<dp id>": "<attribute>"} overrides), protocolVer ("2.1" | "2.2" | "2.3"),
 * softVer, productKey, activated (epoch), ip, model, firmware, exposes (hub-maintained). */
#ifndef FC_TUYA_INTERNAL_H
#define FC_TUYA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/exposes.h"
#include "core/secret.h"
#include "core/vendor.h"
#include "vendors/tuya/codec.h"

struct cJSON;
struct fc_keystore;
struct fc_device_row;

extern const struct fc_vendor tuya_vendor;

#define TUYA_UUID_MAX 64     /* factory uuid: 16 chars (12 after cloudcutter); accepted 8..64 [A-Za-z0-9] */
#define TUYA_DEVID_MAX 32    /* 20 or 22 chars */
#define TUYA_LOCALKEY_LEN 16
#define TUYA_SECKEY_LEN 16
#define TUYA_DEVID_LEN 22    /* what fakecloud mints: "fc" + 20 [0-9a-z] */

/* ---- store.c --------------------------------------------------------------------------------------- */

/* One device as stored. Keys are fc_secret so they cannot reach a printf by mistake. */
struct tuya_dev {
	char uuid[TUYA_UUID_MAX + 1];
	char name[128];
	char dev_id[TUYA_DEVID_MAX + 1]; /* "" before activation */
	struct fc_secret auth_key;       /* 32 chars (16 after cloudcutter); may be empty for a device
					    imported by devId + localKey only */
	struct fc_secret psk_key;        /* 37 chars or empty */
	struct fc_secret sec_key;        /* 16 chars or empty before activation */
	struct fc_secret local_key;      /* 16 chars or empty before activation */
	char schema_id[33];
	char *schema;                    /* schema JSON text (malloc'd) or NULL: none imported */
	struct cJSON *dp_names;          /* object or NULL (owned) */
	char pv[4];                      /* MQTT payload version "2.1"/"2.2"/"2.3"; "" = unknown (2.2) */
	char soft_ver[32];
	char product_key[33];
};

void tuya_dev_free(struct tuya_dev *d);
/* From a keystore row of vendor "tuya". 0, or -1 when the row is unusable (reason in err). */
int tuya_dev_from_row(const struct fc_device_row *row, struct tuya_dev *out, char *err, size_t errlen);
/* Lookups: FC_KS_OK (filled), FC_KS_NOTFOUND, FC_KS_ERR. */
int tuya_dev_by_uuid(struct fc_keystore *ks, const char *uuid, struct tuya_dev *out);
int tuya_dev_by_devid(struct fc_keystore *ks, const char *dev_id, struct tuya_dev *out);

/* What an owner imports (CLI `device add tuya`, bridge request tuya/device/add). NULL = not given. */
struct tuya_import {
	const char *uuid;       /* required */
	const char *auth_key;   /* required unless dev_id + local_key are given (a device already activated
				   elsewhere whose authKey is unknown) */
	const char *psk_key;
	const char *dev_id;     /* keep the devId the device already has (e.g. from the real cloud) */
	const char *sec_key;
	const char *local_key;
	const char *schema;     /* schema JSON text (validated with tuya_schema_parse) */
	const char *schema_id;
	const struct cJSON *dp_names; /* object {"1":"state"} */
	const char *name;       /* friendly name ("" or NULL = default) */
	const char *pv;         /* "2.1" | "2.2" | "2.3" */
};
/* Validate and store (insert, or update the given fields of an existing device; keys already minted
 * stay unless replaced explicitly). Sets the alias when dev_id is given. 0, or -1 with a specific reason
 * in err ("--auth-key must be 16 or 32 characters"). Writes nothing on failure. */
int tuya_import(struct fc_keystore *ks, const struct tuya_import *in, char *err, size_t errlen);

/* tuya.device.active: the device `uuid` (already loaded in *d) activates with request body `body`
 * (may be NULL). Mints devId/secKey/localKey when the device has none, else keeps them; records
 * softVer, productKey, protocolVer from the body; sets the alias. *d is updated. 0, or -1 with a reason
 * (keystore failure: nothing half-written — secrets first, alias last; a retry repairs a missing
 * alias). */
int tuya_activate(struct fc_keystore *ks, struct tuya_dev *d, const struct cJSON *body, const char *ip,
		  char *err, size_t errlen);

/* The schema sent at activation when the owner imported none: one writable bool DP 1 (what
 * tuya-convert sends). */
#define TUYA_DEFAULT_SCHEMA "[{\"id\":1,\"type\":\"obj\",\"mode\":\"rw\",\"property\":{\"type\":\"bool\"}}]"
#define TUYA_DEFAULT_SCHEMA_ID "fakecloud1"

/* ---- schema.c -------------------------------------------------------------------------------------- */

#define TUYA_SCHEMA_MAX_DPS 64
#define TUYA_SCHEMA_MAX_RANGE 16

enum tuya_dp_type { TUYA_DP_BOOL, TUYA_DP_VALUE, TUYA_DP_ENUM, TUYA_DP_STRING, TUYA_DP_BITMAP, TUYA_DP_RAW };

struct tuya_dp {
	int id;                /* 1..255 */
	enum tuya_dp_type type;
	bool readable;         /* mode "rw" or "ro": the device reports it ("wr" is write-only) */
	bool writable;         /* mode "rw" or "wr" */
	char code[48];         /* schema "code" when present (e.g. "switch_1", "cur_power"), else "" */
	char prop[48];         /* attribute name in the state / in /set/<prop> */
	/* value */
	int scale;             /* device integer = value * 10^scale */
	double min, max, step; /* in device units (before scale) */
	bool has_range;
	char unit[16];
	/* enum */
	size_t n_range;
	char range[TUYA_SCHEMA_MAX_RANGE][32];
	/* string/raw/bitmap */
	int maxlen;
};

struct tuya_schema {
	size_t n;
	struct tuya_dp dp[TUYA_SCHEMA_MAX_DPS];
};

/* Parse a schema (JSON array text, §1.5 "Schema string"): entries {"id":n,"type":"obj","mode":"rw|ro|wr",
 * "property":{"type":"bool"|"value"|"enum"|"string"|"bitmap"|"raw",...}[,"code":"..."]}. Entries of other
 * "type" (e.g. "raw" top-level type) are accepted as TUYA_DP_RAW. Bounded (<= TUYA_SCHEMA_MAX_DPS, each
 * string bounded). Duplicate ids and malformed entries are refused (0, or -1 with a reason). `dp_names`
 * (optional object {"<id>":"<attr>"}) overrides attribute names; names must be valid attribute names
 * ([a-z0-9_], 1..47 chars) and unique, else -1.
 * Naming without an override: a known code maps to a common attribute (switch/switch_1/switch_led ->
 * "state", switch_2.. -> "state_l2"..., bright_value -> "brightness", cur_power -> "power",
 * cur_voltage -> "voltage", cur_current -> "current", add_ele -> "energy", temp_current ->
 * "temperature", humidity_value -> "humidity", ...); another code -> itself (sanitised); no code ->
 * "dp_<id>", except that DP 1 of type bool -> "state". */
int tuya_schema_parse(const char *json, size_t len, const struct cJSON *dp_names, struct tuya_schema *out,
		      char *err, size_t errlen);
const struct tuya_dp *tuya_schema_dp(const struct tuya_schema *s, int id);
const struct tuya_dp *tuya_schema_prop(const struct tuya_schema *s, const char *prop);
/* Exposes: bool -> binary (ON/OFF), value -> numeric with scaled min/max/step and unit (HA device classes
 * for power/voltage/current/energy/temperature/humidity), enum -> enum, string/bitmap/raw -> text (read
 * only for raw). Access: readable -> STATE|GET, writable -> SET. */
void tuya_schema_exposes(const struct tuya_schema *s, struct fc_exposes *x);
/* A device "dps" object ({"1":true,"2":123,...}) -> attributes added to `patch`: bool -> "ON"/"OFF",
 * value -> number / 10^scale, enum/string -> string, bitmap -> number, raw -> string as sent. DPs missing
 * from the schema are added as "dp_<id>" with the value unchanged (so nothing a device says is lost).
 * Values of the wrong JSON type for their DP are skipped. Returns the number of attributes added. */
int tuya_schema_dps_to_state(const struct tuya_schema *s, const struct cJSON *dps, struct cJSON *patch);
/* Normalised /set attributes (already coerced by fc_expose_coerce against tuya_schema_exposes) ->
 * a new dps object {"<id>": value} (bool, integer value * 10^scale rounded and range-checked, enum
 * string, string). "TOGGLE" for a bool DP uses `state` (current normalised state). Attributes that are
 * not DPs of the schema, or not writable, give NULL and a reason. */
struct cJSON *tuya_schema_set_to_dps(const struct tuya_schema *s, const struct cJSON *set,
				     const struct cJSON *state, char *err, size_t errlen);

/* ---- lan.c (§5, §4.2) ------------------------------------------------------------------------------ */

#define TUYA_LAN_PORT 6668
#define TUYA_AP_PORT 6669
#define TUYA_AP_ADDRESS "192.168.175.1"
#define TUYA_LAN_MAX 4096

enum {
	TUYA_LAN_AP_CONFIG = 0x01,
	TUYA_LAN_CONTROL = 0x07,
	TUYA_LAN_STATUS = 0x08,
	TUYA_LAN_HEART_BEAT = 0x09,
	TUYA_LAN_DP_QUERY = 0x0a,
	TUYA_LAN_WIFI_INFO = 0x0f,
};

struct tuya_lan_frame {
	uint32_t seq;
	uint32_t cmd;
	bool has_retcode;      /* device -> client frames carry a return code */
	uint32_t retcode;
	uint8_t *payload;      /* decrypted payload without the "3.3" + 12-byte header (malloc'd) */
	size_t payload_len;
};
/* 55AA frame, protocol 3.3: 000055AA seq cmd len [retcode] payload crc32 0000AA55 (big-endian);
 * payload = ["3.3" + 12 x 0x00 unless cmd is DP_QUERY, DP_QUERY_NEW (0x10), UPDATEDPS (0x12), HEART_BEAT
 * or LAN_EXT_STREAM (0x40), §5] + AES-128-ECB(localKey, PKCS7(json)); json of length 0 = no payload.
 * from_device adds a retcode (simulators). *out malloc'd. 0 / TUYA_EFORMAT. */
int tuya_lan_encode(uint32_t seq, uint32_t cmd, bool from_device, uint32_t retcode, const char *json, size_t len,
		    const char *local_key, uint8_t **out, size_t *outlen, char *err, size_t errlen);
/* Parse one whole frame (exactly `len` bytes; CRC checked; the 3.3 header is skipped when present;
 * has_retcode is guessed as the device side does: a payload whose first 4 bytes are < 256 and whose
 * remaining length is a multiple of 16 plus 0 or 15). 0 / TUYA_EFORMAT / TUYA_EKEY. */
int tuya_lan_decode(const void *buf, size_t len, const char *local_key, struct tuya_lan_frame *out, char *err,
		    size_t errlen);
void tuya_lan_frame_free(struct tuya_lan_frame *f);
/* Length of the first complete frame in buf (0 = need more bytes, -1 = not a 55AA frame / over
 * TUYA_LAN_MAX). */
long tuya_lan_frame_len(const void *buf, size_t len);

/* AP-mode config datagram (§4.2): 000055AA 0 1 len JSON crc32 0000AA55 with plaintext JSON
 * {"ssid":..,"token":..,"passwd":..} (cloudcutter's order; "passwd" omitted when empty). ssid 1..32
 * bytes, passwd 0..64, token 0..64 (default "AAAAAAAA" is the caller's choice); JSON <= 0xE8 bytes.
 * 0 / TUYA_EFORMAT. */
int tuya_ap_config_encode(const char *ssid, const char *passwd, const char *token, uint8_t *out, size_t cap,
			  size_t *outlen, char *err, size_t errlen);
/* Device side (simulators): parse it; *json malloc'd. 0 / TUYA_EFORMAT. */
int tuya_ap_config_decode(const void *buf, size_t len, char **json, char *err, size_t errlen);

/* ---- provision.c / cli.c --------------------------------------------------------------------------- */

int tuya_provision(struct fc_cli *cli, int argc, char **argv);
extern const char tuya_provision_usage[];

/* ---- http.c / broker.c ----------------------------------------------------------------------------- */

extern const struct fc_vendor_http tuya_http;
extern const struct fc_vendor_broker tuya_broker;
extern const struct fc_vendor_cli tuya_cli;
/* Bridge request tuya/device/add (admin only): same fields as `device add tuya`. */
int tuya_bridge_request(struct fc_hub *hub, void *vs, const char *op, const struct cJSON *req, struct cJSON *data,
			char *err, size_t errlen);

/* Internal notification httpd -> plugin after an activation: core device-changed with this vendor and
 * the uuid (the hub reloads the device, device_loaded indexes its devId). */

#endif
