/* `fakecloud provision tuya ap | wifi` (tuya_internal.h, "provision.c / cli.c"). Facts: tuya.md §4.2 (AP
 * mode), §4.3 (what cloudcutter does), §5 (LAN protocol 3.3).
 *
 *  ap    The device in AP mode (slow blink), this computer on its SmartLife-XXXX Wi-Fi: the plaintext AP
 *        config datagram {"ssid","token","passwd"} to UDP 192.168.175.1:6669, a few times (UDP; a device
 *        never answers it). The device then joins that Wi-Fi and looks for its cloud: the network's DNS
 *        must send the Tuya host names to fakecloud, and fakecloud must know the device (uuid + authKey).
 *  wifi  An activated device on the LAN: command 0x0F WIFI_INFO {"ssid","passwd"} over TCP 6668 in LAN
 *        protocol 3.3, encrypted with its localKey (from the keystore by name or devId, or --local-key).
 *        That is how cloudcutter moves a device from its own AP to the owner's Wi-Fi.
 *
 * Only the address given (or the AP-mode default) is contacted: no broadcast, no scanning. The localKey
 * and the Wi-Fi password are never printed; buffers that held them are wiped. Exit codes: 0 done,
 * 1 failure, 2 usage. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/keystore.h"
#include "core/secret.h"
#include "vendors/tuya/tuya_internal.h"

#define AP_DEFAULT_TOKEN "AAAAAAAA" /* what cloudcutter sends: region "AA" (§1.2) */
#define AP_DEFAULT_REPEAT 4
#define AP_GAP_MS 50
#define AP_REPEAT_MAX 100
#define SSID_MAX 32
#define PASSWORD_MAX 64
#define TOKEN_MAX 64
#define CONNECT_TIMEOUT_MS 5000
#define REPLY_TIMEOUT_MS 5000
#define WIFI_SEQ 1

const char tuya_provision_usage[] =
	"fakecloud provision tuya ap --ssid SSID [--password PASSWORD] [--token TOKEN] [--device IP] [--port PORT] "
	"[--repeat N]\n"
	"fakecloud provision tuya wifi --device IP --ssid SSID --password PASSWORD (--name NAME | --dev-id DEVID | "
	"--local-key KEY) [--port PORT]\n"
	"  (ap: the device in AP mode (slow blink), this computer on its SmartLife-XXXX Wi-Fi; sends the Wi-Fi\n"
	"   settings to " TUYA_AP_ADDRESS ":6669, token default " AP_DEFAULT_TOKEN ", 4 times 50 ms apart.\n"
	"   wifi: an activated device on the LAN; moves it to another Wi-Fi over the LAN protocol 3.3 (port 6668)\n"
	"   with its localKey: from the keystore by --name or --dev-id, or given with --local-key.\n"
	"   See docs/vendors/tuya.md)";

/* ---- messages ----------------------------------------------------------------------------------- */

static int usagef(struct fc_cli *cli, const char *sub, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int usagef(struct fc_cli *cli, const char *sub, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(cli->err, "provision tuya%s%s: ", sub ? " " : "", sub ? sub : "");
	vfprintf(cli->err, fmt, ap);
	fprintf(cli->err, "\n  (see 'fakecloud provision tuya --help')\n");
	va_end(ap);
	return 2;
}

static int failf(struct fc_cli *cli, const char *sub, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int failf(struct fc_cli *cli, const char *sub, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(cli->err, "provision tuya %s: error: ", sub);
	vfprintf(cli->err, fmt, ap);
	fputc('\n', cli->err);
	va_end(ap);
	return 1;
}

/* Decimal in [min, max], nothing else. 0 or -1. */
static int parse_num(const char *s, long min, long max, long *out)
{
	long v = 0;
	size_t i = 0;
	for (; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 9)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (i == 0 || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Printable, bounded excerpt of device text for a message. */
static void excerpt(const uint8_t *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n && i < 120 && o + 5 < cap; i++) {
		unsigned char c = s[i];
		if (c >= 0x20 && c < 0x7f)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
	}
	if (o < cap)
		out[o] = '\0';
}

/* ---- sockets ------------------------------------------------------------------------------------ */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* poll() one fd until `deadline`: 1 ready, 0 timed out, -1 error (errno). */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return 0;
		struct pollfd pfd = {.fd = fd, .events = events};
		int rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -1;
		if (rc > 0)
			return 1;
	}
}

static int resolve(const char *host, long port, int socktype, struct addrinfo **res, char *why, size_t whylen)
{
	char ps[8];
	snprintf(ps, sizeof ps, "%ld", port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = socktype, .ai_flags = AI_NUMERICSERV};
	int gr = getaddrinfo(host, ps, &hints, res);
	if (gr != 0) {
		snprintf(why, whylen, "cannot resolve '%s': %s", host, gai_strerror(gr));
		return -1;
	}
	return 0;
}

/* Connected non-blocking TCP socket to host:port within the deadline, or -1 with a reason. */
static int tcp_connect(const char *host, long port, int64_t deadline, char *why, size_t whylen)
{
	struct addrinfo *res = NULL;
	if (resolve(host, port, SOCK_STREAM, &res, why, whylen) != 0)
		return -1;
	int fd = -1, last = 0;
	bool timed_out = false;
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		int s = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (s < 0) {
			last = errno;
			continue;
		}
		int rc = connect(s, ai->ai_addr, ai->ai_addrlen);
		if (rc != 0 && errno == EINPROGRESS) {
			int w = wait_fd(s, POLLOUT, deadline);
			if (w == 1) {
				int e = 0;
				socklen_t el = sizeof e;
				if (getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
					e = errno;
				rc = e ? -1 : 0;
				errno = e;
			} else {
				timed_out = w == 0;
				rc = -1;
				if (w == 0)
					errno = ETIMEDOUT;
			}
		}
		if (rc == 0) {
			fd = s;
		} else {
			last = errno;
			close(s);
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (timed_out)
			snprintf(why, whylen, "no connection within %d s (nothing answers at that address)",
				 CONNECT_TIMEOUT_MS / 1000);
		else
			snprintf(why, whylen, "%s", strerror(last ? last : ECONNREFUSED));
	}
	return fd;
}

static int send_all(int fd, const uint8_t *p, size_t n, int64_t deadline, char *why, size_t whylen)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_fd(fd, POLLOUT, deadline);
			if (r == 1)
				continue;
			snprintf(why, whylen, "%s", r == 0 ? "sending timed out" : strerror(errno));
			return -1;
		}
		snprintf(why, whylen, "%s", strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- ap ----------------------------------------------------------------------------------------- */

static int cmd_ap(struct fc_cli *cli, int argc, char **argv)
{
	static const char *SUB = "ap";
	const char *ssid = NULL, *password = NULL, *token = NULL, *device = NULL, *port_s = NULL, *repeat_s = NULL;
	const struct fc_cli_opt opts[] = {{"ssid", &ssid},	{"password", &password}, {"token", &token},
					  {"device", &device}, {"port", &port_s},	  {"repeat", &repeat_s}};
	if (fc_cli_parse(cli, "provision tuya ap", argc, argv, opts, sizeof opts / sizeof opts[0]) != 0)
		return 2;
	if (!ssid)
		return usagef(cli, SUB, "missing --ssid SSID (the Wi-Fi network the device should join)");
	if (!ssid[0] || strlen(ssid) > SSID_MAX)
		return usagef(cli, SUB, "--ssid must have 1-%d bytes", SSID_MAX);
	if (password && strlen(password) > PASSWORD_MAX)
		return usagef(cli, SUB, "--password may have at most %d bytes", PASSWORD_MAX);
	if (token && strlen(token) > TOKEN_MAX)
		return usagef(cli, SUB, "--token may have at most %d bytes", TOKEN_MAX);
	long port = TUYA_AP_PORT, repeat = AP_DEFAULT_REPEAT;
	if (port_s && parse_num(port_s, 1, 65535, &port) != 0)
		return usagef(cli, SUB, "--port must be a number 1-65535");
	if (repeat_s && parse_num(repeat_s, 1, AP_REPEAT_MAX, &repeat) != 0)
		return usagef(cli, SUB, "--repeat must be a number 1-%d", AP_REPEAT_MAX);
	if (device && !device[0])
		return usagef(cli, SUB, "--device must not be empty");
	device = device ? device : TUYA_AP_ADDRESS;
	token = token ? token : AP_DEFAULT_TOKEN;

	uint8_t dg[512];
	size_t n = 0;
	char err[256];
	if (tuya_ap_config_encode(ssid, password, token, dg, sizeof dg, &n, err, sizeof err) != 0)
		return usagef(cli, SUB, "%s", err);
	if (password && password[0] && strlen(password) < 8)
		fprintf(cli->out, "warning: WPA passwords have 8-63 characters; sending the %zu given\n", strlen(password));

	struct addrinfo *res = NULL;
	if (resolve(device, port, SOCK_DGRAM, &res, err, sizeof err) != 0) {
		fc_wipe(dg, sizeof dg);
		return failf(cli, SUB, "%s", err);
	}
	int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
	int rc = 0;
	if (fd < 0) {
		rc = failf(cli, SUB, "cannot open a UDP socket: %s", strerror(errno));
	} else {
		for (long i = 0; i < repeat && rc == 0; i++) {
			if (i)
				sleep_ms(AP_GAP_MS);
			if (sendto(fd, dg, n, 0, res->ai_addr, res->ai_addrlen) != (ssize_t)n)
				rc = failf(cli, SUB,
					   "cannot send to %s:%ld: %s. Is this computer on the device's Wi-Fi (SmartLife-XXXX or "
					   "similar, the device at %s)?",
					   device, port, strerror(errno), TUYA_AP_ADDRESS);
		}
		close(fd);
	}
	freeaddrinfo(res);
	fc_wipe(dg, sizeof dg);
	if (rc)
		return rc;

	FILE *o = cli->out;
	fprintf(o, "sent the Wi-Fi settings for '%s' to the Tuya device at %s:%ld (%ld datagram%s%s; a device in AP mode "
		   "does not answer)\n",
		ssid, device, port, repeat, repeat == 1 ? "" : "s", repeat > 1 ? ", 50 ms apart" : "");
	fprintf(o, "next, if the device got them:\n"
		   "  1. it leaves AP mode (its own Wi-Fi disappears) and joins '%s';\n"
		   "  2. it looks for its cloud: h3.iot-dns.com (url_config over TLS-PSK, port 443), then\n"
		   "     tuya.device.active over HTTP, then MQTT. On '%s' the DNS must answer the Tuya host names with\n"
		   "     fakecloud's address (`fakecloud dns` prints a dnsmasq snippet), and fakecloud must know the\n"
		   "     device: import it first with `fakecloud device add tuya --uuid UUID --auth-key KEY`;\n"
		   "  3. once activated it shows up in `fakecloud device list`.\n"
		   "if it still blinks slowly after a minute, it did not get the settings (is this computer on its Wi-Fi?)\n"
		   "or could not join '%s' (wrong password, or a 5 GHz-only network): put it back in AP mode and run this\n"
		   "again. See docs/vendors/tuya.md.\n",
		ssid, ssid, ssid);
	return 0;
}

/* ---- wifi --------------------------------------------------------------------------------------- */

/* The localKey of a keystore device, by friendly name or devId. 0, or the exit code after a message. */
static int key_from_store(struct fc_cli *cli, const char *name, const char *dev_id, struct fc_secret *key,
			  char *label, size_t labelcap)
{
	static const char *SUB = "wifi";
	if (!cli->ks)
		return failf(cli, SUB, "no keystore open");
	struct fc_device_row row;
	memset(&row, 0, sizeof row);
	int rc = name ? fc_ks_device_get_by_name(cli->ks, name, &row)
		      : fc_ks_device_get_by_alias(cli->ks, "tuya", dev_id, &row);
	if (rc == FC_KS_NOTFOUND) {
		if (name)
			return failf(cli, SUB, "no device named '%s' in the keystore (see `fakecloud device list`; for a "
					      "device fakecloud does not know, give --local-key)",
				     name);
		return failf(cli, SUB, "no Tuya device with devId '%s' in the keystore (see `fakecloud device list`; for "
				      "a device fakecloud does not know, give --local-key)",
			     dev_id);
	}
	if (rc != FC_KS_OK)
		return failf(cli, SUB, "keystore error while looking up '%s'", name ? name : dev_id);
	int ret = 0;
	const char *what = name ? name : dev_id;
	const char *lk = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row.secrets, "localKey"));
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row.meta, "devId"));
	if (strcmp(row.vendor, "tuya") != 0) {
		ret = failf(cli, SUB, "'%s' is a %s device, not a Tuya one", what, row.vendor);
	} else if (!lk || !lk[0]) {
		ret = failf(cli, SUB,
			    "'%s' has no localKey yet: it has not activated with fakecloud (give --local-key if you know "
			    "its key)",
			    what);
	} else if (strlen(lk) != TUYA_LOCALKEY_LEN) {
		ret = failf(cli, SUB, "the stored localKey of '%s' does not have %d characters", what, TUYA_LOCALKEY_LEN);
	} else if (fc_secret_set_str(key, lk) != 0) {
		ret = failf(cli, SUB, "cannot hold the localKey of '%s'", what);
	} else {
		const char *dev = id && id[0] ? id : dev_id;
		if (dev && dev[0])
			snprintf(label, labelcap, "'%s' (devId %s)", row.name, dev);
		else
			snprintf(label, labelcap, "'%s'", row.name);
	}
	fc_device_row_free(&row);
	return ret;
}

/* WIFI_INFO frame: {"ssid":..,"passwd":..} ("passwd" left out when empty, as cloudcutter does). */
static int wifi_frame(const char *ssid, const char *password, const struct fc_secret *key, uint8_t **frame,
		      size_t *n, char *err, size_t errlen)
{
	cJSON *o = cJSON_CreateObject();
	if (!o || !cJSON_AddStringToObject(o, "ssid", ssid) ||
	    (password[0] && !cJSON_AddStringToObject(o, "passwd", password))) {
		cJSON_Delete(o);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	char *json = cJSON_PrintUnformatted(o);
	cJSON_Delete(o); /* holds the password: cJSON frees without wiping, the printed copy is wiped below */
	if (!json) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	size_t jl = strlen(json);
	int rc = tuya_lan_encode(WIFI_SEQ, TUYA_LAN_WIFI_INFO, false, 0, json, jl, fc_secret_reveal(key), frame, n, err,
				 errlen);
	fc_wipe(json, jl);
	cJSON_free(json);
	return rc == 0 ? 0 : -1;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Reads frames until the answer to WIFI_INFO; 0 accepted, else the exit code after a message. */
static int wifi_answer(struct fc_cli *cli, int fd, const char *ssid, const struct fc_secret *key)
{
	static const char *SUB = "wifi";
	static uint8_t buf[2 * TUYA_LAN_MAX];
	size_t have = 0;
	int others = 0;
	const int64_t deadline = mono_ms() + REPLY_TIMEOUT_MS;
	for (;;) {
		long fl = tuya_lan_frame_len(buf, have);
		if (fl < 0) {
			if (have >= 4 && be32(buf) == 0x00006699)
				return failf(cli, SUB, "the device answered in LAN protocol 3.5 (6699 frames), which this command "
						      "does not speak");
			char ex[200];
			excerpt(buf, have, ex, sizeof ex);
			return failf(cli, SUB, "the device answered with something that is not a Tuya LAN frame: \"%s\"", ex);
		}
		if (fl > 0) {
			struct tuya_lan_frame f;
			char err[200];
			int rc = tuya_lan_decode(buf, (size_t)fl, fc_secret_reveal(key), &f, err, sizeof err);
			uint32_t cmd = be32(buf + 8);
			if (rc == 0 && f.cmd != TUYA_LAN_WIFI_INFO) { /* e.g. a status push: not the answer */
				tuya_lan_frame_free(&f);
				others++;
				memmove(buf, buf + fl, have - (size_t)fl);
				have -= (size_t)fl;
				continue;
			}
			if (rc != 0) {
				/* A return code is readable without the key (§5: first 4 bytes after len). */
				bool has_rc = fl >= 28 && be32(buf + 16) <= 255;
				if (cmd == TUYA_LAN_WIFI_INFO && has_rc && be32(buf + 16) != 0)
					return failf(cli, SUB, "the device refused WIFI_INFO: return code %u (and its answer does "
							      "not decrypt with this local key: %s)",
						     be32(buf + 16), err);
				if (rc == TUYA_EKEY)
					return failf(cli, SUB, "the device's answer does not decrypt with this local key (%s): "
							      "it is not the key of the device at this address",
						     err);
				return failf(cli, SUB, "unreadable answer from the device: %s", err);
			}
			uint32_t code = f.has_retcode ? f.retcode : 0;
			char ex[200] = "";
			if (f.payload_len)
				excerpt(f.payload, f.payload_len, ex, sizeof ex);
			tuya_lan_frame_free(&f);
			if (code != 0)
				return failf(cli, SUB, "the device refused WIFI_INFO: return code %u%s%s%s", code,
					     ex[0] ? " (\"" : "", ex, ex[0] ? "\")" : "");
			if (others)
				fprintf(cli->out, "(%d other frame%s from the device ignored)\n", others, others == 1 ? "" : "s");
			fprintf(cli->out,
				"the device accepted the new Wi-Fi settings (return code 0): it now leaves this network and joins "
				"'%s'. It keeps its devId and keys; expect it to reconnect to fakecloud from there within a "
				"minute or two (its IP address changes).\n",
				ssid);
			return 0;
		}
		if (have == sizeof buf) /* cannot happen: frame_len refuses frames over TUYA_LAN_MAX */
			return failf(cli, SUB, "answer too large");
		int w = wait_fd(fd, POLLIN, deadline);
		if (w == 0)
			return failf(cli, SUB,
				     "no answer from the device within %d s. Most likely the local key is wrong: a Tuya device "
				     "silently drops a frame it cannot decrypt. Or it switched to '%s' before answering: then "
				     "it shows up there within a minute or two.",
				     REPLY_TIMEOUT_MS / 1000, ssid);
		if (w < 0)
			return failf(cli, SUB, "waiting for the answer: %s", strerror(errno));
		ssize_t r = recv(fd, buf + have, sizeof buf - have, 0);
		if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (r <= 0)
			return failf(cli, SUB,
				     "the device closed the connection without answering%s%s. Either the local key is wrong, "
				     "or it is switching to '%s' already: then it shows up there within a minute or two.",
				     r < 0 ? ": " : "", r < 0 ? strerror(errno) : "", ssid);
		have += (size_t)r;
	}
}

static int cmd_wifi(struct fc_cli *cli, int argc, char **argv)
{
	static const char *SUB = "wifi";
	const char *device = NULL, *ssid = NULL, *password = NULL, *name = NULL, *dev_id = NULL, *port_s = NULL,
		   *local_key = NULL;
	const struct fc_cli_opt opts[] = {{"device", &device}, {"ssid", &ssid},	  {"password", &password},
					  {"name", &name},     {"dev-id", &dev_id}, {"port", &port_s},
					  {"local-key", &local_key}};
	if (fc_cli_parse(cli, "provision tuya wifi", argc, argv, opts, sizeof opts / sizeof opts[0]) != 0)
		return 2;
	if (!device || !device[0])
		return usagef(cli, SUB, "missing --device IP (the device's address on its current network)");
	if (!ssid)
		return usagef(cli, SUB, "missing --ssid SSID (the Wi-Fi network the device should move to)");
	if (!password)
		return usagef(cli, SUB, "missing --password PASSWORD (of '%s'; empty for an open network)", ssid);
	if (!ssid[0] || strlen(ssid) > SSID_MAX)
		return usagef(cli, SUB, "--ssid must have 1-%d bytes", SSID_MAX);
	if (strlen(password) > PASSWORD_MAX)
		return usagef(cli, SUB, "--password may have at most %d bytes", PASSWORD_MAX);
	if (name && dev_id)
		return usagef(cli, SUB, "give --name or --dev-id, not both");
	if (!name && !dev_id && !local_key)
		return usagef(cli, SUB, "which device? --name NAME or --dev-id DEVID (its localKey comes from the keystore), "
					"or --local-key KEY");
	if ((name && !name[0]) || (dev_id && !dev_id[0]))
		return usagef(cli, SUB, "--%s must not be empty", name ? "name" : "dev-id");
	if (local_key && strlen(local_key) != TUYA_LOCALKEY_LEN)
		return usagef(cli, SUB, "--local-key must have %d characters", TUYA_LOCALKEY_LEN);
	long port = TUYA_LAN_PORT;
	if (port_s && parse_num(port_s, 1, 65535, &port) != 0)
		return usagef(cli, SUB, "--port must be a number 1-65535");

	struct fc_secret key;
	memset(&key, 0, sizeof key);
	char label[300] = "";
	int rc;
	if (local_key) { /* overrides the keystore */
		if (fc_secret_set_str(&key, local_key) != 0)
			return usagef(cli, SUB, "--local-key is too long");
		if (name)
			snprintf(label, sizeof label, "'%s'", name);
		else if (dev_id)
			snprintf(label, sizeof label, "devId %s", dev_id);
	} else if ((rc = key_from_store(cli, name, dev_id, &key, label, sizeof label)) != 0) {
		return rc;
	}
	if (password[0] && strlen(password) < 8)
		fprintf(cli->out, "warning: WPA passwords have 8-63 characters; sending the %zu given\n", strlen(password));

	uint8_t *frame = NULL;
	size_t n = 0;
	char why[300];
	if (wifi_frame(ssid, password, &key, &frame, &n, why, sizeof why) != 0) {
		fc_secret_wipe(&key);
		return failf(cli, SUB, "cannot build the WIFI_INFO frame: %s", why);
	}
	fprintf(cli->out, "moving the Tuya device %s%sat %s:%ld to the Wi-Fi network '%s' (LAN protocol 3.3, WIFI_INFO)\n",
		label, label[0] ? " " : "", device, port, ssid);
	fflush(cli->out);
	int fd = tcp_connect(device, port, mono_ms() + CONNECT_TIMEOUT_MS, why, sizeof why);
	if (fd < 0) {
		rc = failf(cli, SUB,
			   "cannot connect to %s:%ld: %s. Is the device on this network at that address? (Tuya devices "
			   "take few local connections: close other apps that talk to it locally, e.g. tinytuya or "
			   "localtuya.)",
			   device, port, why);
	} else if (send_all(fd, frame, n, mono_ms() + REPLY_TIMEOUT_MS, why, sizeof why) != 0) {
		rc = failf(cli, SUB, "cannot send to %s:%ld: %s", device, port, why);
	} else {
		rc = wifi_answer(cli, fd, ssid, &key);
	}
	if (fd >= 0)
		close(fd);
	fc_wipe(frame, n);
	free(frame);
	fc_secret_wipe(&key);
	return rc;
}

/* ---- entry -------------------------------------------------------------------------------------- */

int tuya_provision(struct fc_cli *cli, int argc, char **argv)
{
	/* The host passes argv[0] = the vendor word and argv[1] = the subcommand (as for every vendor's
	 * hook); a vector that starts with the subcommand itself is taken too. Either way the subcommand
	 * ends up in argv[0], which fc_cli_parse skips. */
	if (argc >= 1 && argv[0] && strcmp(argv[0], "ap") != 0 && strcmp(argv[0], "wifi") != 0) {
		argc--;
		argv++;
	}
	if (argc < 1)
		return usagef(cli, NULL, "missing subcommand (ap, wifi)");
	if (!strcmp(argv[0], "ap"))
		return cmd_ap(cli, argc, argv);
	if (!strcmp(argv[0], "wifi"))
		return cmd_wifi(cli, argc, argv);
	return usagef(cli, NULL, "unknown subcommand '%s' (ap, wifi)", argv[0]);
}
