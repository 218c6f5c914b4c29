/* Meross device in setup (AP) mode, or configured on the LAN, for provisioning tests: an HTTP server on
 * 127.0.0.1 (a free port) answering POST /config like /work/shared/protocols/meross.md §5 describes.
 *
 * Independent of vendors/ (like meross_sim): message checks, signing, the WifiX password decryption and
 * both local-encryption key derivations are written here from the fact sheet, so a bug in the codec
 * is not mirrored. It CHECKS every message and counts each failed check as a violation (answered with
 * ERROR, or HTTP 400/404 when the request is not even a Meross message):
 *  - HTTP: "POST /config", CRLF line endings, a Content-Length that matches, a Content-Type that matches
 *    the body (application/json for JSON; text/plain or application/octet-stream for encrypted bodies);
 *  - header: messageId (32 lowercase hex), namespace, method GET/SET, payloadVersion 1, integer
 *    timestamp, from (non-empty string), sign (32 hex); payload an object;
 *  - sign = md5(messageId + key + timestamp) when check_sign is set (else ERROR 5001 "sign error"), with
 *    the key the device booted with (a Config.Key takes effect at the next "reboot");
 *  - Config.Key: key.gateway.{host, port, secondHost, secondPort} present and valid (ports 1-65535,
 *    number or numeric string), key.key a string, key.userId a string of 1-19 digits;
 *  - Config.Wifi / WifiX: ssid base64 of 1-32 bytes; Wifi password base64; WifiX password base64 of
 *    whole AES blocks that decrypt (key md5hex(type + uuid + mac), IV "0000000000000000") to at most 64
 *    bytes followed only by zero bytes; WifiX only when the ability list has it, and Wifi refused when
 *    it has WifiX; optional bssid (string) and channel/encryption/cipher (integers);
 *  - with encryption (crypto != PLAIN): only System.All, System.Ability and Encrypt.ECDHE may come in
 *    plain text; everything else must be encrypted with the session key, and the answers are.
 * A successful Config.Wifi/WifiX "reboots" the device: the received Config.Key becomes its key, userId
 * and broker. A Config.Key on a device that already had a key (a re-home) takes effect at once.
 * Answers to unencrypted requests are plain JSON; ERRORs are signed with the device's key. */
#ifndef FC_MEROSS_AP_SIM_H
#define FC_MEROSS_AP_SIM_H

#include <stdbool.h>
#include <stddef.h>

enum meross_ap_crypto {
	MEROSS_AP_PLAIN = 0,   /* no Appliance.Encrypt.ECDHE ability */
	MEROSS_AP_ENC_DIRECT,  /* lists it; session key md5hex(uuid[3:22] + key[1:9] + mac + key[10:28]) */
	MEROSS_AP_ENC_ECDHE,   /* lists it; session key md5hex(P-256 shared x) after SET Encrypt.ECDHE */
};

/* HTTP answer quirks (bit set). */
#define MEROSS_AP_Q_BARE_LF 1u      /* status line and headers end with LF only (and one CRLF mixed in) */
#define MEROSS_AP_Q_NO_REASON 2u    /* "HTTP/1.1 200" */
#define MEROSS_AP_Q_JUNK_HEADER 4u  /* a header line without a colon, and "Content-Length : N" */
#define MEROSS_AP_Q_NO_LENGTH 8u    /* "HTTP/1.0", no Content-Length: the body ends with the connection */
#define MEROSS_AP_Q_SILENT 16u      /* read the request, never answer (until the client gives up) */
#define MEROSS_AP_Q_REBOOT_EARLY 32u /* close without an answer after accepting Config.Wifi/WifiX */

struct meross_ap_sim_opts {
	char type[32];            /* hardware.type, e.g. "mss310" */
	char hw_version[16];
	char fw_version[16];
	char uuid[33];            /* 32 [0-9A-Za-z] */
	char mac[18];             /* lowercase aa:bb:cc:dd:ee:ff */
	char key[257];            /* the device's key: "" = unconfigured (setup mode) */
	char user_id[24];         /* its userId ("" = none) */
	char server[64];          /* its broker ("" = none) */
	int server_port;
	bool check_sign;          /* refuse messages not signed with `key` (ERROR 5001) */
	bool wifix;               /* lists Appliance.Config.WifiX */
	bool wifilist;            /* lists Appliance.Config.WifiList: a decoy network and `ap_*` */
	char ap_ssid[33];
	char ap_bssid[18];
	int ap_channel, ap_encryption, ap_cipher;
	enum meross_ap_crypto crypto;
	bool ecdhe_expect_preshared; /* ENC_ECDHE: refuse (ERROR) a client public key other than the one of
					the preshared scalar (ASCII of md5hex(uuid[3:22] + key[1:9] + mac +
					key[10:28])), as bytespider sends by default */
	unsigned quirks;
};

/* Defaults: mss310 hw 6.0.0 fw 6.1.8, uuid 2012317778118925583748e1e943e9bc, mac 48:e1:e9:43:e9:bc,
 * key "", check_sign on, no WifiX, WifiList with ap_ssid "HomeNet" (bssid de:ad:00:00:be:ef, channel 3,
 * encryption 6, cipher 3), PLAIN, no quirks. */
void meross_ap_sim_opts_init(struct meross_ap_sim_opts *o);

struct meross_ap_sim;
/* Listens on 127.0.0.1:<free port> and serves connections one at a time on its own thread. NULL (reason
 * on stderr) on failure. */
struct meross_ap_sim *meross_ap_sim_start(const struct meross_ap_sim_opts *o);
int meross_ap_sim_port(struct meross_ap_sim *s);
void meross_ap_sim_stop(struct meross_ap_sim *s); /* NULL is a no-op */

/* What the simulator saw (a snapshot; thread-safe). */
struct meross_ap_received {
	long connections;           /* TCP connections accepted */
	long requests;              /* HTTP requests read completely */
	long violations;            /* failed checks (see above) */
	char last_violation[256];
	long bad_signs;             /* subset of violations: wrong or missing sign */
	long encrypted;             /* requests that arrived encrypted and decrypted fine */
	bool ecdhe_done;            /* a valid SET Encrypt.ECDHE exchange happened */
	/* the last valid Config.Key */
	bool key_set;
	char gw_host[256], gw_host2[256];
	long gw_port, gw_port2, redirect;
	char key[257];
	char user_id[24];
	/* the last valid Config.Wifi / WifiX */
	bool wifi_set, wifi_x;
	char ssid[33];
	char password[65];          /* decoded (Wifi) or decrypted (WifiX), trailing zero bytes removed */
	size_t password_len;
	size_t password_cipher_len; /* WifiX: bytes of ciphertext */
	char bssid[40];
	long channel, encryption, cipher; /* -1 when absent */
	bool rebooted;
};
void meross_ap_sim_received(struct meross_ap_sim *s, struct meross_ap_received *out);
/* Requests received (whatever their outcome) by method and namespace. */
long meross_ap_sim_count(struct meross_ap_sim *s, const char *method, const char *ns);

#endif
