/* `fakecloud provision meross` (the real CLI binary) against the AP-mode / LAN device simulator
 * (tests/sim/meross_ap_sim.h), which checks every message it gets. Then end to end: the credentials
 * setup wrote into the simulated device make a simulated Meross device (tests/sim/meross_sim.h) bind
 * to the real broker + plugin, also after a re-home to another account. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/harness.h"
#include "sim/meross_ap_sim.h"
#include "sim/meross_sim.h"
#include "unit/t.h"

#define SETUP "provision meross setup --device 127.0.0.1:%d "
#define UUID "2012317778118925583748e1e943e9bc"
#define MAC "48:e1:e9:43:e9:bc"
#define OTHER_UID "7654321"
#define OTHER_KEY "fedcba9876543210fedcba9876543210"

static struct fc_env e;
static char out[32768];

/* The CLI with --config; FC_VERBOSE=1 prints each command line and its output. */
static int cli(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int cli(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	int rc = fc_env_cli(&e, out, sizeof out, "%s", line);
	if (strstr(out, "Sanitizer") || strstr(out, "runtime error")) { /* the ASan/UBSan build of the CLI */
		t_failed++;
		fprintf(stderr, "sanitizer report from 'fakecloud %s':\n%s\n", line, out);
	}
	const char *v = getenv("FC_VERBOSE");
	if (v && !strcmp(v, "1"))
		fprintf(stderr, "$ fakecloud %s  -> %d\n%s\n", line, rc, out);
	return rc;
}

static bool has(const char *needle)
{
	if (strstr(out, needle))
		return true;
	fprintf(stderr, "output lacks \"%s\":\n%s\n", needle, out);
	return false;
}

static bool lacks(const char *needle)
{
	if (!strstr(out, needle))
		return true;
	fprintf(stderr, "output must not contain \"%s\":\n%s\n", needle, out);
	return false;
}

static struct meross_ap_sim *ap_start(void (*tweak)(struct meross_ap_sim_opts *))
{
	struct meross_ap_sim_opts o;
	meross_ap_sim_opts_init(&o);
	if (tweak)
		tweak(&o);
	struct meross_ap_sim *s = meross_ap_sim_start(&o);
	CHECK(s != NULL);
	return s;
}

static struct meross_ap_received rx(struct meross_ap_sim *s)
{
	struct meross_ap_received r;
	meross_ap_sim_received(s, &r);
	if (r.violations)
		fprintf(stderr, "simulator violations: %ld, last: %s\n", r.violations, r.last_violation);
	return r;
}

/* userId and key of the account named `name` from `device export meross`. */
static bool account(const char *name, char uid[24], char key[300])
{
	char buf[4096];
	if (fc_env_cli(&e, buf, sizeof buf, "device export meross") != 0)
		return false;
	for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
		char u[24], k[300], n[64] = "";
		if (sscanf(l, "account\t%23[^\t]\t%299[^\t]\t%63s", u, k, n) >= 2 && !strcmp(n, name)) {
			snprintf(uid, 24, "%s", u);
			snprintf(key, 300, "%s", k);
			return true;
		}
	}
	return false;
}

static void t_wifix(struct meross_ap_sim_opts *o)
{
	o->wifix = true;
	o->wifilist = false;
}
static void t_quirky(struct meross_ap_sim_opts *o)
{
	o->quirks = MEROSS_AP_Q_BARE_LF | MEROSS_AP_Q_NO_REASON | MEROSS_AP_Q_JUNK_HEADER;
}
static void t_nolength(struct meross_ap_sim_opts *o) { o->quirks = MEROSS_AP_Q_NO_LENGTH; }
static void t_reboot_early(struct meross_ap_sim_opts *o) { o->quirks = MEROSS_AP_Q_REBOOT_EARLY; }
static void t_silent(struct meross_ap_sim_opts *o) { o->quirks = MEROSS_AP_Q_SILENT; }
static void t_direct(struct meross_ap_sim_opts *o)
{
	o->crypto = MEROSS_AP_ENC_DIRECT;
	o->wifix = true;
}
static void t_ecdhe(struct meross_ap_sim_opts *o)
{
	o->crypto = MEROSS_AP_ENC_ECDHE;
	o->ecdhe_expect_preshared = true;
	o->wifix = true;
}
static void t_ecdhe_nosign(struct meross_ap_sim_opts *o)
{
	t_ecdhe(o);
	o->check_sign = false;
}
static void t_configured(struct meross_ap_sim_opts *o)
{
	snprintf(o->key, sizeof o->key, "%s", "cloud-key-0123456789abcdef01234");
	snprintf(o->user_id, sizeof o->user_id, "42");
	snprintf(o->server, sizeof o->server, "mqtt-eu.meross.com");
	o->server_port = 443;
}

static void setup_wifix(const char *password, size_t cipher_len)
{
	struct meross_ap_sim *s = ap_start(t_wifix);
	int rc = cli(SETUP "--ssid HomeNet --password %s", meross_ap_sim_port(s), password);
	CHECK_INT(rc, 0);
	CHECK(has("Wi-Fi password: Appliance.Config.WifiX"));
	CHECK(has("SET Appliance.Config.WifiX: accepted"));
	struct meross_ap_received r = rx(s);
	CHECK(r.wifi_set && r.wifi_x);
	CHECK_STR(r.password, password);
	CHECK_INT(r.password_len, strlen(password));
	CHECK_INT(r.password_cipher_len, cipher_len);
	CHECK_INT(r.channel, -1); /* no WifiList on this device: nothing copied */
	CHECK_INT(r.violations, 0);
	CHECK(lacks(password));
	meross_ap_sim_stop(s);
}

static struct meross_sim *device(const char *uid, const char *key, int port)
{
	struct meross_sim_opts o;
	meross_sim_opts_init(&o, MEROSS_SIM_PLUG);
	snprintf(o.uuid, sizeof o.uuid, "%s", UUID);
	snprintf(o.mac, sizeof o.mac, "%s", MAC);
	snprintf(o.user_id, sizeof o.user_id, "%s", uid);
	snprintf(o.key, sizeof o.key, "%s", key);
	o.port = port;
	o.bind_retry_ms = 700;
	o.reconnect_ms = 300;
	return meross_sim_start(&o);
}

int main(void)
{
	if (fc_env_init(&e, "meross-prov", NULL) != 0)
		return 1;
	struct meross_ap_sim *s;
	struct meross_ap_received r;
	int rc;
	char uid[24] = "", key[300] = "";

	/* ---- --dry-run sends nothing, creates nothing, prints no secret ---- */
	s = ap_start(NULL);
	rc = cli(SETUP "--ssid HomeNet --password hunter22 --dry-run", meross_ap_sim_port(s));
	CHECK_INT(rc, 0);
	CHECK(has("\"namespace\":\"Appliance.System.All\""));
	CHECK(has("\"namespace\":\"Appliance.Config.Key\""));
	CHECK(has("\"namespace\":\"Appliance.Config.Wifi\""));
	CHECK(has("\"sign\":\""));
	CHECK(has("<account key, not shown>"));
	CHECK(has("<Wi-Fi password, not shown>"));
	CHECK(lacks("hunter22"));
	CHECK(lacks("aHVudGVyMjI=")); /* base64("hunter22") */
	r = rx(s);
	CHECK_INT(r.connections, 0);
	CHECK(!account("default", uid, key)); /* not created by a dry run */
	meross_ap_sim_stop(s);

	/* ---- unreachable device: the step, the reason, what to try ---- */
	int dead = fc_free_port();
	rc = cli(SETUP "--ssid HomeNet --password hunter22", dead);
	CHECK_INT(rc, 1);
	CHECK(has("step 1 (GET Appliance.System.All) failed"));
	CHECK(has("Connection refused"));
	CHECK(has("Try: is this computer on the device's Wi-Fi"));
	CHECK(!account("default", uid, key)); /* nothing was configured: no account created either */

	/* ---- a device that never answers ---- */
	s = ap_start(t_silent);
	rc = cli("provision meross info --device 127.0.0.1:%d --timeout 1", meross_ap_sim_port(s));
	CHECK_INT(rc, 1);
	CHECK(has("step 1 (GET Appliance.System.All) failed: no answer within 1 s"));
	meross_ap_sim_stop(s);

	/* ---- info on a device in setup mode ---- */
	s = ap_start(NULL);
	rc = cli("provision meross info --device 127.0.0.1:%d", meross_ap_sim_port(s));
	CHECK_INT(rc, 0);
	CHECK(has("type       mss310 (hardware 6.0.0)"));
	CHECK(has("firmware   6.1.8"));
	CHECK(has("MAC        " MAC));
	CHECK(has("uuid       " UUID));
	CHECK(has("Wi-Fi with Appliance.Config.Wifi; local API encryption: none"));
	CHECK(has("account    none yet"));
	CHECK_INT(rx(s).violations, 0);
	meross_ap_sim_stop(s);

	/* ---- setup with Config.Wifi (bssid/channel/... copied from the WifiList) ---- */
	s = ap_start(NULL);
	rc = cli(SETUP "--ssid HomeNet --password hunter22", meross_ap_sim_port(s));
	CHECK_INT(rc, 0);
	CHECK(account("default", uid, key));
	char line[256];
	snprintf(line, sizeof line, "created the default Meross account: userId %s", uid);
	CHECK(has(line));
	CHECK(has("[1] GET Appliance.System.All: mss310"));
	CHECK(has("[2] GET Appliance.System.Ability"));
	CHECK(has("[3] GET Appliance.Config.WifiList: 'HomeNet' found (bssid de:ad:00:00:be:ef, channel 3"));
	CHECK(has("[4] SET Appliance.Config.Key: accepted"));
	CHECK(has("[5] SET Appliance.Config.Wifi: accepted"));
	CHECK(has("done: the device reboots now"));
	CHECK(has("username   " MAC));
	snprintf(line, sizeof line, "password   %s_<md5(MAC + key of account %s)>", uid, uid);
	CHECK(has(line));
	CHECK(key[0] && lacks(key));
	CHECK(lacks("hunter22"));
	r = rx(s);
	CHECK_INT(r.violations, 0);
	CHECK(r.key_set);
	CHECK_STR(r.gw_host, "127.0.0.1"); /* the first tls.ips entry */
	CHECK_INT(r.gw_port, e.tls_port);
	CHECK_STR(r.gw_host2, "127.0.0.1");
	CHECK_INT(r.gw_port2, e.tls_port);
	CHECK_INT(r.redirect, 1);
	CHECK_STR(r.user_id, uid);
	CHECK_STR(r.key, key);
	CHECK(r.wifi_set && !r.wifi_x);
	CHECK_STR(r.ssid, "HomeNet");
	CHECK_STR(r.password, "hunter22");
	CHECK_STR(r.bssid, "de:ad:00:00:be:ef");
	CHECK_INT(r.channel, 3);
	CHECK_INT(r.encryption, 6);
	CHECK_INT(r.cipher, 3);
	CHECK(r.rebooted);
	/* the "rebooted" device now has the new key: info signed with it shows the new configuration */
	rc = cli("provision meross info --device 127.0.0.1:%d --key %s", meross_ap_sim_port(s),
			key);
	CHECK_INT(rc, 0);
	snprintf(line, sizeof line, "now        userId %s, broker 127.0.0.1:%d", uid, e.tls_port);
	CHECK(has(line));
	CHECK(has("(it is configured for this userId already)"));
	CHECK_INT(rx(s).violations, 0);
	struct meross_ap_sim *homed = s; /* kept for the re-home below */

	/* ---- setup with Config.WifiX: unaligned and aligned password lengths ---- */
	setup_wifix("hunter22", 16);
	setup_wifix("0123456789abcdef", 32); /* aligned: a whole zero block follows */
	setup_wifix("a-longer-passphrase-of-37-characters!", 48);

	/* ---- a device with malformed HTTP headers ---- */
	s = ap_start(t_quirky);
	rc = cli(SETUP "--ssid Elsewhere --password hunter22", meross_ap_sim_port(s));
	CHECK_INT(rc, 0);
	CHECK(has("'Elsewhere' is not among the 3 networks the device sees"));
	r = rx(s);
	CHECK(r.wifi_set && r.key_set);
	CHECK_STR(r.ssid, "Elsewhere");
	CHECK_INT(r.channel, -1);
	CHECK_STR(r.bssid, "");
	CHECK_INT(r.violations, 0);
	meross_ap_sim_stop(s);
	s = ap_start(t_nolength);
	rc = cli("provision meross info --device 127.0.0.1:%d", meross_ap_sim_port(s));
	CHECK_INT(rc, 0);
	CHECK(has("uuid       " UUID));
	meross_ap_sim_stop(s);

	/* a device that reboots before answering Config.Wifi: not confirmed, not a failure */
	s = ap_start(t_reboot_early);
	rc = cli(SETUP "--ssid HomeNet --password hunter22", meross_ap_sim_port(s));
	CHECK_INT(rc, 0);
	CHECK(has("[5] SET Appliance.Config.Wifi: sent, but not confirmed"));
	CHECK(has("done: the device reboots now"));
	r = rx(s);
	CHECK(r.wifi_set && r.key_set);
	CHECK_INT(r.violations, 0);
	meross_ap_sim_stop(s);

	/* ---- encrypted local API: variant (b), then variant (a) ---- */
	s = ap_start(t_direct);
	rc = cli(SETUP "--ssid HomeNet --password hunter22", meross_ap_sim_port(s));
	CHECK_INT(rc, 0);
	CHECK(has("local API encryption: variant (b) works"));
	r = rx(s);
	CHECK_INT(r.violations, 0);
	CHECK(r.encrypted >= 4); /* probe, WifiList, Key, WifiX */
	CHECK(r.wifi_x);
	CHECK_STR(r.password, "hunter22");
	CHECK_STR(r.key, key);
	meross_ap_sim_stop(s);
	s = ap_start(t_ecdhe);
	rc = cli(SETUP "--ssid HomeNet --password hunter22", meross_ap_sim_port(s));
	CHECK_INT(rc, 0);
	CHECK(has("local API encryption: variant (a) works (ECDHE P-256 key exchange)"));
	r = rx(s);
	CHECK(r.ecdhe_done);
	CHECK_INT(r.violations, 1); /* only the variant (b) probe, which such a device cannot decrypt */
	CHECK(strstr(r.last_violation, "does not decrypt") || strstr(r.last_violation, "decrypt"));
	CHECK(r.wifi_x && r.key_set);
	CHECK_STR(r.password, "hunter22");
	meross_ap_sim_stop(s);

	/* neither derivation works (the derivations use the sign key, and this one is not the device's) */
	s = ap_start(t_ecdhe_nosign);
	rc = cli(SETUP "--ssid HomeNet --password hunter22 --sign-key meross", meross_ap_sim_port(s));
	CHECK_INT(rc, 1);
	CHECK(has("step 3 (local API encryption, Appliance.Encrypt.ECDHE) failed: neither published key derivation works"));
	CHECK(!rx(s).key_set);
	meross_ap_sim_stop(s);

	/* ---- setup of a device that checks signs with a key we do not have ---- */
	s = ap_start(t_configured);
	rc = cli(SETUP "--ssid HomeNet --password hunter22", meross_ap_sim_port(s));
	CHECK_INT(rc, 1);
	CHECK(has("ERROR 5001"));
	CHECK(has("use 'rehome --key CURRENT_KEY'"));

	/* ---- rehome: wrong key refused with a clear error, nothing changed; the right key works ---- */
	rc = cli("provision meross rehome --device 127.0.0.1:%d --key wrong-key",
			meross_ap_sim_port(s));
	CHECK_INT(rc, 1);
	CHECK(has("step 1 (GET Appliance.System.All) failed: the device answered ERROR 5001 (\"sign error\")"));
	CHECK(has("--key is not the key the device is configured with"));
	CHECK(!rx(s).key_set);
	rc = cli("provision meross rehome --device 127.0.0.1:%d --key %s --account 999",
			meross_ap_sim_port(s), "cloud-key-0123456789abcdef01234");
	CHECK_INT(rc, 1);
	CHECK(has("no Meross account with userId '999'"));
	rc = cli("provision meross rehome --device 127.0.0.1:%d --key %s --dry-run",
			meross_ap_sim_port(s), "cloud-key-0123456789abcdef01234");
	CHECK_INT(rc, 0);
	CHECK(has("\"namespace\":\"Appliance.Config.Key\""));
	CHECK(lacks("Appliance.Config.Wifi"));
	rc = cli("provision meross rehome --device 127.0.0.1:%d --key %s",
			meross_ap_sim_port(s), "cloud-key-0123456789abcdef01234");
	CHECK_INT(rc, 0);
	CHECK(has("configured for userId 42, broker mqtt-eu.meross.com:443"));
	CHECK(has("SET Appliance.Config.Key: accepted"));
	r = rx(s);
	CHECK(r.key_set && !r.wifi_set);
	CHECK_STR(r.user_id, uid);
	CHECK_STR(r.key, key);
	CHECK_INT(r.gw_port, e.tls_port);
	CHECK_INT(r.violations, 2); /* the refused setup and the wrong key above */
	CHECK_INT(r.bad_signs, 2);
	meross_ap_sim_stop(s);

	/* ---- usage errors ---- */
	CHECK_INT(cli("provision meross setup --device 127.0.0.1 --ssid x"), 2);
	CHECK_INT(cli("provision meross rehome --device 127.0.0.1 --key k --ssid x"), 2);
	CHECK_INT(cli("provision meross setup --device http://10.10.10.1 --ssid x --password y"), 2);
	CHECK(has("without a scheme"));
	CHECK_INT(cli("provision meross frobnicate"), 2);

	/* ---- end to end: the written credentials bind on the real broker ---- */
	r = rx(homed);
	CHECK_INT(fc_env_start_broker(&e), 0);
	struct meross_sim *dev = device(r.user_id, r.key, (int)r.gw_port);
	CHECK(dev != NULL);
	CHECK(dev && meross_sim_wait_bound(dev, 10000));
	if (dev && !meross_sim_is_bound(dev)) {
		char err[256];
		meross_sim_last_error(dev, err, sizeof err);
		fprintf(stderr, "device did not bind: %s (connack %d)\n", err, meross_sim_last_connack(dev));
	}
	meross_sim_stop(dev);

	/* ---- re-home the now registered device to another account: its registration follows ---- */
	CHECK_INT(cli("device add meross-account --user-id " OTHER_UID " --key " OTHER_KEY
						  " --name other"),
		  0);
	rc = cli("provision meross rehome --device 127.0.0.1:%d --key %s --account " OTHER_UID,
			meross_ap_sim_port(homed), key);
	CHECK_INT(rc, 0);
	snprintf(line, sizeof line, "userId " OTHER_UID " (was %s)", uid);
	CHECK(has(line));
	r = rx(homed);
	CHECK_STR(r.user_id, OTHER_UID);
	CHECK_STR(r.key, OTHER_KEY);
	CHECK_INT(r.violations, 0);
	dev = device(r.user_id, r.key, (int)r.gw_port);
	CHECK(dev && meross_sim_wait_bound(dev, 10000));
	meross_sim_stop(dev);
	CHECK_INT(fc_env_broker_log_count(&e, "refused device"), 0);
	meross_ap_sim_stop(homed);

	fc_env_cleanup(&e);
	return t_done();
}
