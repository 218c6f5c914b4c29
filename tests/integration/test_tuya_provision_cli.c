/* `fakecloud provision tuya ap | wifi` (the real CLI binary) against the LAN-side device simulator
 * (tests/sim/tuya_lan_sim.h), which checks every datagram and frame it gets. No broker needed. */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/keystore.h"
#include "harness/harness.h"
#include "sim/tuya_lan_sim.h"
#include "unit/t.h"

#define KEY "Kx7LocalKey4Test" /* the simulated device's localKey */
#define OTHER_KEY "Wr0ngLocalKey16c"
#define UUID "11ab55dde1907a26"
#define AUTH_KEY "0123456789abcdef0123456789abcdef"
#define DEV_ID "bf0123456789abcdefghij"

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

static struct tuya_lan_sim *sim(void (*tweak)(struct tuya_lan_sim_opts *))
{
	struct tuya_lan_sim_opts o;
	tuya_lan_sim_opts_init(&o);
	snprintf(o.local_key, sizeof o.local_key, "%s", KEY);
	if (tweak)
		tweak(&o);
	struct tuya_lan_sim *s = tuya_lan_sim_start(&o);
	CHECK(s != NULL);
	if (!s)
		exit(1);
	return s;
}

static struct tuya_lan_sim_received rx(struct tuya_lan_sim *s)
{
	struct tuya_lan_sim_received r;
	tuya_lan_sim_received(s, &r);
	if (r.violations)
		fprintf(stderr, "simulator violations: %ld, last: %s\n", r.violations, r.last_violation);
	return r;
}

static void t_refuse(struct tuya_lan_sim_opts *o)
{
	o->wifi_retcode = 1;
	snprintf(o->wifi_reply_json, sizeof o->wifi_reply_json, "%s", "{\"err\":\"no such network\"}");
}
static void t_reply_json(struct tuya_lan_sim_opts *o)
{
	snprintf(o->wifi_reply_json, sizeof o->wifi_reply_json, "%s", "{\"result\":\"ok\"}");
	o->close_after_wifi = true;
}
static void t_silent(struct tuya_lan_sim_opts *o) { o->silent = true; }

/* A device row written with the keystore API directly, in the layout tuya_internal.h documents (vid =
 * uuid, alias = devId, secrets.localKey, meta.devId): independent of `device add tuya`. */
static bool put_row(const char *vendor, const char *vid, const char *name, const char *dev_id, const char *local_key)
{
	char path[512], err[256] = "";
	snprintf(path, sizeof path, "%s/fakecloud.db", e.dir);
	struct fc_keystore *ks = fc_keystore_open(path, err, sizeof err);
	if (!ks) {
		fprintf(stderr, "cannot open %s: %s\n", path, err);
		return false;
	}
	cJSON *secrets = cJSON_CreateObject(), *meta = cJSON_CreateObject();
	if (local_key)
		cJSON_AddStringToObject(secrets, "localKey", local_key);
	if (dev_id)
		cJSON_AddStringToObject(meta, "devId", dev_id);
	bool ok = fc_ks_device_put(ks, vendor, vid, name, secrets, meta) == FC_KS_OK &&
		  (!dev_id || fc_ks_device_set_alias(ks, vendor, vid, dev_id) == FC_KS_OK);
	cJSON_Delete(secrets);
	cJSON_Delete(meta);
	fc_keystore_close(ks);
	return ok;
}

static void test_ap(void)
{
	struct tuya_lan_sim *s = sim(NULL);
	int port = tuya_lan_sim_udp_port(s);
	struct tuya_lan_sim_received r;

	/* the defaults: token AAAAAAAA, 4 datagrams; exact JSON */
	int rc = cli("provision tuya ap --ssid home --password pw --device 127.0.0.1 --port %d", port);
	CHECK_INT(rc, 0);
	CHECK(has("sent the Wi-Fi settings for 'home' to the Tuya device at 127.0.0.1:"));
	CHECK(has("4 datagrams, 50 ms apart"));
	CHECK(has("docs/vendors/tuya.md"));
	CHECK(has("h3.iot-dns.com"));
	CHECK(has("warning: WPA passwords have 8-63 characters"));
	CHECK(tuya_lan_sim_wait_datagrams(s, 4, 3000));
	r = rx(s);
	CHECK_INT(r.datagrams, 4);
	CHECK_INT(r.ap_configs, 4);
	CHECK_INT(r.violations, 0);
	CHECK_STR(r.ap_json, "{\"ssid\":\"home\",\"token\":\"AAAAAAAA\",\"passwd\":\"pw\"}");

	/* a token, one datagram, a password that must not be printed */
	rc = cli("provision tuya ap --ssid Caf\"e\\ --password hunter2222 --token US12345678abcd --device 127.0.0.1 "
		 "--port %d --repeat 1",
		 port);
	CHECK_INT(rc, 0);
	CHECK(has("1 datagram;"));
	CHECK(lacks("hunter2222"));
	CHECK(tuya_lan_sim_wait_datagrams(s, 5, 3000));
	r = rx(s);
	CHECK_INT(r.ap_configs, 5);
	CHECK_INT(r.violations, 0);
	CHECK_STR(r.ap_json, "{\"ssid\":\"Caf\\\"e\\\\\",\"token\":\"US12345678abcd\",\"passwd\":\"hunter2222\"}");
	CHECK_STR(r.ap_ssid, "Caf\"e\\");
	CHECK_STR(r.ap_passwd, "hunter2222");

	/* no password: "passwd" left out (an open network) */
	rc = cli("provision tuya ap --ssid open-net --device 127.0.0.1 --port %d --repeat 2", port);
	CHECK_INT(rc, 0);
	CHECK(tuya_lan_sim_wait_datagrams(s, 7, 3000));
	r = rx(s);
	CHECK_INT(r.ap_configs, 7);
	CHECK_STR(r.ap_json, "{\"ssid\":\"open-net\",\"token\":\"AAAAAAAA\"}");
	CHECK(!r.ap_has_passwd);
	CHECK_INT(r.violations, 0);

	/* usage errors: nothing sent */
	CHECK_INT(cli("provision tuya ap --device 127.0.0.1 --port %d", port), 2);
	CHECK(has("missing --ssid"));
	CHECK_INT(cli("provision tuya ap --ssid 0123456789abcdef0123456789abcdefX --port %d", port), 2);
	CHECK(has("--ssid must have 1-32 bytes"));
	CHECK_INT(cli("provision tuya ap --ssid home --password "
		      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdefX --port %d",
		      port),
		  2);
	CHECK_INT(cli("provision tuya ap --ssid home --repeat 0 --device 127.0.0.1 --port %d", port), 2);
	CHECK(has("--repeat"));
	CHECK_INT(cli("provision tuya ap --ssid home --device 127.0.0.1 --port 70000"), 2);
	CHECK(has("--port"));
	CHECK_INT(cli("provision tuya ap --ssid home --frobnicate 1"), 2);
	CHECK(has("unknown option"));
	CHECK_INT(cli("provision tuya ap --ssid home stray"), 2);
	/* quotes escape to two bytes each: 64 of them fit beside a short ssid and token, not beside the longest */
	char quotes[65];
	memset(quotes, '"', 64);
	quotes[64] = '\0';
	CHECK_INT(cli("provision tuya ap --ssid home --password %s --device 127.0.0.1 --port %d", quotes, port), 0);
	CHECK_INT(cli("provision tuya ap --ssid 0123456789abcdef0123456789abcdef --token "
		      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef --password %s --device 127.0.0.1 "
		      "--port %d",
		      quotes, port),
		  2);
	CHECK(has("232"));
	CHECK(tuya_lan_sim_wait_datagrams(s, 11, 3000));
	r = rx(s);
	CHECK_INT(r.datagrams, 11); /* only the accepted one above sent (4 datagrams) */
	CHECK_INT(r.violations, 0);
	tuya_lan_sim_stop(s);

	/* an address nothing can be sent to */
	CHECK_INT(cli("provision tuya ap --ssid home --device no-such-host.invalid --port 6669"), 1);
	CHECK(has("cannot resolve 'no-such-host.invalid'"));
}

static void test_wifi(void)
{
	struct tuya_lan_sim *s = sim(NULL);
	int port = tuya_lan_sim_tcp_port(s);
	struct tuya_lan_sim_received r;

	/* --local-key: the device decrypts it and answers return code 0 */
	int rc = cli("provision tuya wifi --device 127.0.0.1 --port %d --ssid new --password pw2 --local-key " KEY, port);
	CHECK_INT(rc, 0);
	CHECK(has("the device accepted the new Wi-Fi settings (return code 0)"));
	CHECK(has("'new'"));
	CHECK(lacks(KEY));
	CHECK(lacks("pw2"));
	r = rx(s);
	CHECK_INT(r.connections, 1);
	CHECK_INT(r.frames, 1);
	CHECK_INT(r.wifi_infos, 1);
	CHECK_INT(r.answers, 1);
	CHECK_INT(r.last_seq, 1);
	CHECK_STR(r.wifi_ssid, "new");
	CHECK_STR(r.wifi_passwd, "pw2");
	CHECK_INT(r.violations, 0);

	/* the wrong key: the device drops the frame; the CLI says so after 5 s */
	rc = cli("provision tuya wifi --device 127.0.0.1 --port %d --ssid new --password pw2 --local-key " OTHER_KEY,
		 port);
	CHECK_INT(rc, 1);
	CHECK(has("no answer from the device within 5 s"));
	CHECK(has("local key is wrong"));
	CHECK(lacks(OTHER_KEY));
	r = rx(s);
	CHECK_INT(r.undecryptable, 1);
	CHECK_INT(r.wifi_infos, 1);
	CHECK_INT(r.violations, 0);

	/* from the keystore: `device add tuya`, then by --name and by --dev-id */
	rc = cli("device add tuya --uuid " UUID " --auth-key " AUTH_KEY " --dev-id " DEV_ID " --local-key " KEY
		 " --name lamp");
	CHECK_INT(rc, 0);
	rc = cli("provision tuya wifi --device 127.0.0.1 --port %d --ssid byname --password secret-pass --name lamp",
		 port);
	CHECK_INT(rc, 0);
	CHECK(has("'lamp' (devId " DEV_ID ")"));
	CHECK(has("return code 0"));
	CHECK(lacks(KEY));
	CHECK(lacks("secret-pass"));
	r = rx(s);
	CHECK_INT(r.wifi_infos, 2);
	CHECK_STR(r.wifi_ssid, "byname");
	CHECK_STR(r.wifi_passwd, "secret-pass");
	rc = cli("provision tuya wifi --device 127.0.0.1 --port %d --ssid bydevid --password secret-pass --dev-id " DEV_ID,
		 port);
	CHECK_INT(rc, 0);
	CHECK(lacks(KEY));
	r = rx(s);
	CHECK_INT(r.wifi_infos, 3);
	CHECK_STR(r.wifi_ssid, "bydevid");

	/* a row written straight into the keystore (only devId + localKey) */
	CHECK(put_row("tuya", "feedfacefeedface", "plug2", "bf9999999999999999zzzz", KEY));
	rc = cli("provision tuya wifi --device 127.0.0.1 --port %d --ssid rowdirect --password secret-pass --dev-id "
		 "bf9999999999999999zzzz",
		 port);
	CHECK_INT(rc, 0);
	CHECK(has("'plug2' (devId bf9999999999999999zzzz)"));
	r = rx(s);
	CHECK_INT(r.wifi_infos, 4);
	CHECK_STR(r.wifi_ssid, "rowdirect");
	/* --local-key overrides the stored one */
	rc = cli("provision tuya wifi --device 127.0.0.1 --port %d --ssid x --password secret-pass --name lamp "
		 "--local-key " OTHER_KEY,
		 port);
	CHECK_INT(rc, 1);
	CHECK(lacks(OTHER_KEY));
	CHECK(lacks(KEY));
	r = rx(s);
	CHECK_INT(r.undecryptable, 2);

	/* keystore refusals: exit 1, naming what was asked for */
	rc = cli("provision tuya wifi --device 127.0.0.1 --port %d --ssid x --password secret-pass --name no-such-lamp",
		 port);
	CHECK_INT(rc, 1);
	CHECK(has("no device named 'no-such-lamp'"));
	rc = cli("provision tuya wifi --device 127.0.0.1 --port %d --ssid x --password secret-pass --dev-id bfnope", port);
	CHECK_INT(rc, 1);
	CHECK(has("no Tuya device with devId 'bfnope'"));
	CHECK(put_row("tuya", "0000111122223333", "fresh", NULL, NULL));
	rc = cli("provision tuya wifi --device 127.0.0.1 --port %d --ssid x --password secret-pass --name fresh", port);
	CHECK_INT(rc, 1);
	CHECK(has("'fresh' has no localKey yet"));
	CHECK(put_row("fctest", "fct-1", "not-tuya", NULL, KEY));
	rc = cli("provision tuya wifi --device 127.0.0.1 --port %d --ssid x --password secret-pass --name not-tuya", port);
	CHECK_INT(rc, 1);
	CHECK(has("'not-tuya' is a fctest device, not a Tuya one"));
	CHECK(lacks(KEY));
	r = rx(s);
	CHECK_INT(r.frames, 6); /* nothing sent for the refusals */
	CHECK_INT(r.violations, 0);
	tuya_lan_sim_stop(s);

	/* the device refuses: its return code (and what it said) */
	s = sim(t_refuse);
	rc = cli("provision tuya wifi --device 127.0.0.1 --port %d --ssid new --password pw2 --local-key " KEY,
		 tuya_lan_sim_tcp_port(s));
	CHECK_INT(rc, 1);
	CHECK(has("the device refused WIFI_INFO: return code 1"));
	CHECK(has("no such network"));
	CHECK_INT(rx(s).wifi_infos, 1);
	tuya_lan_sim_stop(s);

	/* an answer with an encrypted payload, then the device hangs up */
	s = sim(t_reply_json);
	rc = cli("provision tuya wifi --device 127.0.0.1 --port %d --ssid new --password pw2 --local-key " KEY,
		 tuya_lan_sim_tcp_port(s));
	CHECK_INT(rc, 0);
	CHECK(has("return code 0"));
	CHECK_INT(rx(s).violations, 0);
	tuya_lan_sim_stop(s);

	/* the device reads and never answers (it may be switching networks already) */
	s = sim(t_silent);
	rc = cli("provision tuya wifi --device 127.0.0.1 --port %d --ssid new --password pw2 --local-key " KEY,
		 tuya_lan_sim_tcp_port(s));
	CHECK_INT(rc, 1);
	CHECK(has("no answer from the device within 5 s"));
	CHECK_INT(rx(s).wifi_infos, 1);
	tuya_lan_sim_stop(s);

	/* nothing listens */
	rc = cli("provision tuya wifi --device 127.0.0.1 --port %d --ssid new --password pw2 --local-key " KEY,
		 fc_free_port());
	CHECK_INT(rc, 1);
	CHECK(has("cannot connect to 127.0.0.1:"));
	CHECK(has("Connection refused"));

	/* usage errors */
	CHECK_INT(cli("provision tuya wifi --ssid new --password pw2 --local-key " KEY), 2);
	CHECK(has("missing --device"));
	CHECK_INT(cli("provision tuya wifi --device 127.0.0.1 --password pw2 --local-key " KEY), 2);
	CHECK_INT(cli("provision tuya wifi --device 127.0.0.1 --ssid new --local-key " KEY), 2);
	CHECK_INT(cli("provision tuya wifi --device 127.0.0.1 --ssid new --password pw2"), 2);
	CHECK(has("which device?"));
	CHECK_INT(cli("provision tuya wifi --device 127.0.0.1 --ssid new --password pw2 --name a --dev-id b"), 2);
	CHECK(has("not both"));
	CHECK_INT(cli("provision tuya wifi --device 127.0.0.1 --ssid new --password pw2 --local-key short"), 2);
	CHECK(has("--local-key must have 16 characters"));
	CHECK_INT(cli("provision tuya wifi --device 127.0.0.1 --ssid new --password pw2 --local-key " KEY " --port 0"),
		  2);
	CHECK_INT(cli("provision tuya wifi --device 127.0.0.1 --ssid new --password pw2 --local-key " KEY " --repeat 2"),
		  2);
	CHECK(has("unknown option"));
	CHECK_INT(cli("provision tuya frobnicate"), 2);
	CHECK(has("unknown subcommand 'frobnicate'"));
	CHECK_INT(cli("provision tuya"), 2);
	CHECK_INT(cli("provision tuya --help"), 0);
	CHECK(has("provision tuya ap --ssid SSID"));
	CHECK(has("provision tuya wifi --device IP"));
}

int main(void)
{
	if (fc_env_init(&e, "tuya-prov", NULL) != 0)
		return 1;
	test_ap();
	test_wifi();
	fc_env_cleanup(&e);
	return t_done();
}
