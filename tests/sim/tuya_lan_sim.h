/* Tuya device, LAN side, for provisioning tests (`fakecloud provision tuya ap | wifi`): on 127.0.0.1 only,
 *  - a UDP port that takes AP-mode config datagrams (tuya.md §4.2) and records the decoded JSON;
 *  - a TCP port that speaks LAN protocol 3.3 (§5) with a given localKey: it answers WIFI_INFO (0x0F) with
 *    a device frame carrying a return code (0 by default) and records ssid/passwd; HEART_BEAT is answered
 *    too; a frame it cannot decrypt gets no answer at all (what a device with another key does).
 *
 * Independent of vendors/ (frames, CRC and AES are written here from the fact sheet with core/crypto.h), so
 * a bug in vendors/tuya/lan.c is not mirrored. It CHECKS what it gets and counts each failed check as a
 * violation:
 *  - AP datagram: 000055AA, frame_num 0, frame_type 1, len = JSON + 8, JSON <= 0xE8 bytes, crc32 over all
 *    bytes before it, 0000AA55; JSON one object with string "ssid" (1-32 bytes), string "token" (<= 64)
 *    and optionally string "passwd" (1-64 bytes: an empty one must be left out), nothing else;
 *  - LAN frame: 000055AA, len sane, crc32, 0000AA55, no return code (client -> device); WIFI_INFO with the
 *    clear header "3.3" + 12 zero bytes then whole AES blocks; decrypted JSON one object with string
 *    "ssid" (1-32 bytes) and optionally string "passwd" (1-64 bytes), nothing else; any command other
 *    than WIFI_INFO and HEART_BEAT is a violation (and not answered).
 * The answer to WIFI_INFO echoes the request's seq, has cmd 0x0F, the return code, and either no payload
 * or (wifi_reply_json) "3.3" + 12 zero bytes + AES(localKey, that JSON).
 *
 * Threading: one thread serves everything (poll); all functions are safe from any thread. */
#ifndef FC_TUYA_LAN_SIM_H
#define FC_TUYA_LAN_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tuya_lan_sim_opts {
	char local_key[17];        /* 16 characters (default "0123456789abcdef") */
	int udp_port;              /* 0 = a free port */
	int tcp_port;              /* 0 = a free port */
	uint32_t wifi_retcode;     /* return code of the WIFI_INFO answer (default 0) */
	char wifi_reply_json[128]; /* "" (default) = no payload in the answer; else this JSON, encrypted */
	bool silent;               /* record only, never answer */
	bool close_after_wifi;     /* close the connection right after answering WIFI_INFO (default false) */
};
void tuya_lan_sim_opts_init(struct tuya_lan_sim_opts *o);

struct tuya_lan_sim;
/* Binds 127.0.0.1 (UDP and TCP) and starts the thread. NULL (reason on stderr) on failure. */
struct tuya_lan_sim *tuya_lan_sim_start(const struct tuya_lan_sim_opts *o);
int tuya_lan_sim_udp_port(struct tuya_lan_sim *s);
int tuya_lan_sim_tcp_port(struct tuya_lan_sim *s);
void tuya_lan_sim_stop(struct tuya_lan_sim *s); /* NULL is a no-op */

/* What the simulator saw (a snapshot). */
struct tuya_lan_sim_received {
	/* UDP */
	long datagrams;            /* datagrams read */
	long ap_configs;           /* ... that passed every check */
	char ap_json[300];         /* the last valid one's JSON, exactly as received */
	char ap_ssid[33];
	char ap_token[65];
	char ap_passwd[65];
	bool ap_has_passwd;
	/* TCP */
	long connections;          /* accepted */
	long frames;               /* complete frames read */
	long undecryptable;        /* frames whose payload does not decrypt with local_key (not answered) */
	long wifi_infos;           /* valid WIFI_INFO commands */
	long answers;              /* frames sent */
	uint32_t last_seq;         /* seq of the last frame read */
	char wifi_ssid[33];
	char wifi_passwd[65];
	bool wifi_has_passwd;
	/* checks */
	long violations;
	char last_violation[256];
};
void tuya_lan_sim_received(struct tuya_lan_sim *s, struct tuya_lan_sim_received *out);
/* Wait until at least `n` datagrams were read (true) or timeout_ms passed (false). */
bool tuya_lan_sim_wait_datagrams(struct tuya_lan_sim *s, long n, int timeout_ms);
/* Same for complete TCP frames. */
bool tuya_lan_sim_wait_frames(struct tuya_lan_sim *s, long n, int timeout_ms);

#endif
