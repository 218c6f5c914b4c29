/* The `fakecloud` CLI end to end: init creates the state directory with the right modes and is
 * idempotent; the generated Mosquitto files work with the real broker (admin password accepted, a wrong
 * one refused); device commands, notifications of the running broker, config errors, dns, --help and
 * usage errors. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/harness.h"
#include "unit/t.h"

#define WAIT 5000

static struct fc_env e;
static char out[16384];

static int mode_of(const char *rel)
{
	char path[600];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", e.dir, rel);
	if (stat(path, &st) != 0) {
		fprintf(stderr, "missing %s\n", path);
		return -1;
	}
	return (int)(st.st_mode & 07777);
}

/* Whole file into a malloc'd NUL-terminated buffer (NULL if missing). */
static char *slurp(const char *rel, size_t *len)
{
	char path[600];
	snprintf(path, sizeof path, "%s/%s", e.dir, rel);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(1 << 20);
	size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
	fclose(f);
	if (buf)
		buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

#define HAS(hay, needle) CHECK(strstr((hay), (needle)) != NULL)
#define HASNT(hay, needle) CHECK(strstr((hay), (needle)) == NULL)

static void check_modes_and_contents(void)
{
	CHECK_INT(mode_of("fakecloud.conf"), 0640);
	CHECK_INT(mode_of("fakecloud.db"), 0640);
	CHECK_INT(mode_of("mosquitto"), 0750);
	CHECK_INT(mode_of("mosquitto/passwd"), 0640);
	CHECK_INT(mode_of("mosquitto/acl"), 0640);
	CHECK_INT(mode_of("mosquitto.conf"), 0640);
	CHECK_INT(mode_of("admin.pass"), 0600);
	CHECK_INT(mode_of("certs"), 0750);
	CHECK_INT(mode_of("certs/ca.crt"), 0644);
	CHECK_INT(mode_of("certs/ca.key"), 0640);
	CHECK_INT(mode_of("certs/server.crt"), 0644);
	CHECK_INT(mode_of("certs/server.key"), 0640);

	char *pw = slurp("mosquitto/passwd", NULL);
	CHECK(pw != NULL);
	if (pw) {
		CHECK(strncmp(pw, "admin:$7$101$", 13) == 0);
		CHECK_INT(count_lines(pw), 1);
		HASNT(pw, e.admin_pass); /* stored hashed */
	}
	free(pw);

	char *acl = slurp("mosquitto/acl", NULL);
	CHECK(acl != NULL);
	if (acl) {
		HAS(acl, "\nuser admin\ntopic readwrite #\ntopic read $SYS/#\n");
		HAS(acl, "mosquitto_passwd");
	}
	free(acl);

	char *mc = slurp("mosquitto.conf", NULL);
	CHECK(mc != NULL);
	if (mc) {
		char want[700];
		HAS(mc, "\nper_listener_settings false\n");
		HAS(mc, "\nallow_anonymous false\n");
		HAS(mc, "\npersistence true\n");
		HAS(mc, "\nlog_dest stderr\n");
		HASNT(mc, "\npsk_file");
		snprintf(want, sizeof want, "\npassword_file %s/mosquitto/passwd\n", e.dir);
		HAS(mc, want);
		snprintf(want, sizeof want, "\nacl_file %s/mosquitto/acl\n", e.dir);
		HAS(mc, want);
		snprintf(want, sizeof want, "\nplugin_opt_config %s/fakecloud.conf\n", e.dir);
		HAS(mc, want);
		snprintf(want, sizeof want, "\nlistener %d 127.0.0.1\n", e.mqtt_port);
		HAS(mc, want);
		snprintf(want, sizeof want, "\nlistener %d 127.0.0.1\ncertfile %s/certs/server.crt\nkeyfile %s/certs/server.key\n",
			 e.tls_port, e.dir, e.dir);
		HAS(mc, want);
		/* The PSK listener has the hint and no certificate (2.0.11 would disable PSK). */
		snprintf(want, sizeof want, "\nlistener %d 127.0.0.1\npsk_hint 1dHRsc2NjbHltbGx3eWh50000000000000000\n", e.psk_port);
		const char *psk = strstr(mc, want);
		CHECK(psk != NULL);
		if (psk)
			CHECK(strstr(psk, "certfile") == NULL && strstr(psk, "\nlistener") == strstr(psk, want));
	}
	free(mc);
}

/* The broker user init was given by the harness, read back from mosquitto.conf. */
static void broker_user(char *user, size_t len)
{
	char *mc = slurp("mosquitto.conf", NULL);
	const char *u = mc ? strstr(mc, "\nuser ") : NULL;
	snprintf(user, len, "%.*s", u ? (int)strcspn(u + 6, "\n") : 0, u ? u + 6 : "");
	free(mc);
}

static void check_second_init(void)
{
	static const char *const files[] = {"fakecloud.conf", "mosquitto/passwd", "mosquitto/acl", "mosquitto.conf",
					    "admin.pass", "certs/ca.crt", "certs/ca.key", "certs/server.crt",
					    "certs/server.key"};
	enum { NF = sizeof files / sizeof files[0] };
	char *before[NF];
	size_t blen[NF];
	for (size_t i = 0; i < NF; i++)
		before[i] = slurp(files[i], &blen[i]);

	char user[64];
	broker_user(user, sizeof user);
	CHECK(user[0] != '\0');
	CHECK_INT(fc_env_cli(&e, out, sizeof out,
			     "init --dir %s --plugin %s/fakecloud.so --admin-password-file %s/admin.pass --broker-user %s",
			     e.dir, e.bin_dir, e.dir, user),
		  0);
	HASNT(out, "admin password");
	HASNT(out, e.admin_pass);
	HAS(out, "kept");
	HASNT(out, "created");

	for (size_t i = 0; i < NF; i++) {
		size_t alen;
		char *after = slurp(files[i], &alen);
		bool same = before[i] && after && alen == blen[i] && memcmp(before[i], after, alen) == 0;
		if (!same)
			fprintf(stderr, "second init changed %s\n", files[i]);
		CHECK(same);
		free(after);
		free(before[i]);
	}

	/* --set on an existing config updates that key and keeps the others. */
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "init --dir %s --plugin %s/fakecloud.so --broker-user %s --set core.timezone=Europe/Paris",
			     e.dir, e.bin_dir, user),
		  0);
	HAS(out, "updated");
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "config --get core.timezone"), 0);
	CHECK_STR(out, "Europe/Paris\n");
	char want[32];
	snprintf(want, sizeof want, "%d\n", e.mqtt_port);
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "config --get mqtt.port"), 0);
	CHECK_STR(out, want);
}

static void check_unprivileged_offset(void)
{
	char user[64];
	broker_user(user, sizeof user);
	CHECK_INT(fc_env_cli(&e, out, sizeof out,
			     "init --dir %s/off --plugin %s/fakecloud.so --broker-user %s --set tls.key_type=ec "
			     "--unprivileged-offset 10000",
			     e.dir, e.bin_dir, user),
		  0);
	HAS(out, "admin password: ");
	char conf[400];
	snprintf(conf, sizeof conf, "%s/off/fakecloud.conf", e.dir);
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "--config %s config --get http.http_port", conf), 0);
	CHECK_STR(out, "10080\n");
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "--config %s config --get http.https_port", conf), 0);
	CHECK_STR(out, "10443\n");
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "--config %s config --get mqtt.port", conf), 0);
	CHECK_STR(out, "1883\n"); /* not privileged: unchanged */
	/* Idempotent: a second run does not add the offset again. */
	CHECK_INT(fc_env_cli(&e, out, sizeof out,
			     "init --dir %s/off --plugin %s/fakecloud.so --broker-user %s --unprivileged-offset 10000",
			     e.dir, e.bin_dir, user),
		  0);
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "--config %s config --get http.http_port", conf), 0);
	CHECK_STR(out, "10080\n");
	/* Two listeners on one port are refused, and the config stays as it was. */
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "init --dir %s/off --plugin %s/fakecloud.so --broker-user %s --set "
			     "mqtt.tls_port=10443", e.dir, e.bin_dir, user),
		  1);
	HAS(out, "mqtt.tls_port and http.https_port are both 10443");
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "--config %s config --get mqtt.tls_port", conf), 0);
	CHECK_STR(out, "8883\n");
}

static void check_broker_login(void)
{
	CHECK_INT(fc_env_start_broker(&e), 0);
	struct fc_mq *admin = fc_mq_connect_admin(&e, "cli-admin");
	CHECK(admin != NULL);
	int rc = 0;
	struct fc_mq *bad = fc_mq_connect(&e, "cli-bad", e.admin_user, "not-the-password", 4, &rc);
	CHECK(bad == NULL);
	CHECK_INT(rc, 5);
	rc = 0;
	struct fc_mq *anon = fc_mq_connect(&e, "cli-anon", NULL, NULL, 4, &rc);
	CHECK(anon == NULL);
	CHECK_INT(rc, 5);
	if (bad)
		fc_mq_close(bad);
	if (anon)
		fc_mq_close(anon);
	if (!admin)
		return;

	/* The admin may read $SYS (acl_file) and everything else. */
	CHECK_INT(fc_mq_subscribe(admin, "$SYS/broker/version", 0), 0);
	CHECK(fc_mq_wait(admin, "$SYS/broker/version", WAIT, NULL));
	CHECK_INT(fc_mq_subscribe(admin, "fakecloud/bridge/devices", 0), 0);

	/* device add/rename/remove tell the running broker. */
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device add fctest --id clidev --password cli-pass-0123456789 --name lamp"),
		  0);
	HAS(out, "broker notified");
	CHECK(fc_mq_wait_payload(admin, "fakecloud/bridge/devices", "\"lamp\"", WAIT, NULL));
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device list"), 0);
	HAS(out, "lamp");
	HAS(out, "fctest");
	HAS(out, "clidev");
	HASNT(out, "cli-pass-0123456789");
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device list --json"), 0);
	HAS(out, "\"name\":\t\"lamp\"");
	HASNT(out, "cli-pass-0123456789");

	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device rename lamp desk"), 0);
	HAS(out, "broker notified");
	CHECK(fc_mq_wait_payload(admin, "fakecloud/bridge/devices", "\"desk\"", WAIT, NULL));
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device rename desk bad/name"), 2);
	HAS(out, "invalid name");

	/* remove refuses without --forget-keys and says what would be lost */
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device remove desk"), 1);
	HAS(out, "--forget-keys");
	HAS(out, "password");
	HASNT(out, "cli-pass-0123456789");
	CHECK_INT(count_lines(out), 1);
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device list"), 0);
	HAS(out, "desk");

	/* export is the admin path that prints secrets */
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device export fctest"), 0);
	HAS(out, "cli-pass-0123456789");

	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device remove desk --forget-keys"), 0);
	HAS(out, "removed 'desk'");
	HAS(out, "broker notified");
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device list --json"), 0);
	CHECK_STR(out, "[]\n");
	fc_mq_close(admin);

	/* Broker down: the change is still made, the CLI says so and succeeds. */
	CHECK_INT(fc_env_stop_broker(&e), 0);
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device add fctest --id offline1 --password cli-pass-abcdefgh"), 0);
	HAS(out, "broker not reachable; it will load the change when it starts");
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device remove fctest_offline1 --forget-keys"), 0);
}

static void check_device_errors(void)
{
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device list"), 0);
	HAS(out, "no devices");
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device list --json"), 0);
	CHECK_STR(out, "[]\n");
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device rename ghost other"), 1);
	HAS(out, "no device named 'ghost'");
	CHECK_INT(count_lines(out), 1);
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device remove ghost --forget-keys"), 1);
	HAS(out, "no device named 'ghost'");
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device add nope --id x"), 2);
	HAS(out, "unknown vendor 'nope' (known: meross, tuya, fctest)");
	CHECK_INT(count_lines(out), 1);
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device frobnicate"), 2);
	CHECK_INT(count_lines(out), 1);
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device rename onlyone"), 2);
	CHECK_INT(count_lines(out), 1);
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "provision fctest"), 2);
	HAS(out, "has no provisioning");
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "init --bogus"), 2);
	HAS(out, "unknown option '--bogus'");
	CHECK_INT(count_lines(out), 1);
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "init --set nodot=1"), 2);
	CHECK_INT(count_lines(out), 1);
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "frobnicate"), 2);
	CHECK_INT(count_lines(out), 1);
}

static void check_help(void)
{
	static const char *const cmds[] = {
		"--help",	      "init --help",	      "certs --help",	"device --help",
		"device list --help", "device add --help",    "device add fctest --help",
		"device remove --help", "device rename --help", "device export --help", "provision --help",
		"config --help",      "dns --help",	      "version --help", "version",
	};
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		int rc = fc_env_cli(&e, out, sizeof out, "%s", cmds[i]);
		if (rc != 0)
			fprintf(stderr, "'fakecloud %s' exited %d:\n%s\n", cmds[i], rc, out);
		CHECK_INT(rc, 0);
		CHECK(strstr(out, "usage: ") != NULL || strstr(out, "fakecloud " FC_VERSION) != NULL);
	}
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "device add --help"), 0);
	HAS(out, "fakecloud device add fctest --id ID");
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "config --help"), 0);
	HAS(out, "http.https_port");
	HAS(out, "HTTPS port");
}

static void check_config(void)
{
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "config"), 0);
	HAS(out, "[mqtt]");
	char want[64];
	snprintf(want, sizeof want, "\nport = %d\n", e.mqtt_port);
	HAS(out, want);
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "config --defaults"), 0);
	HAS(out, "\nport = 1883\n");
	HAS(out, "\nhttps_port = 443\n");

	char bad[400];
	snprintf(bad, sizeof bad, "%s/bad.conf", e.dir);
	FILE *f = fopen(bad, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("[http]\nhttps_port = 70000\n", f);
		fclose(f);
	}
	/* A later --config wins over the harness's. */
	int rc = fc_env_cli(&e, out, sizeof out, "--config %s config", bad);
	CHECK(rc != 0);
	CHECK_INT(count_lines(out), 1);
	HAS(out, "https_port");
	HAS(out, "70000");
	HAS(out, "bad.conf:2");

	snprintf(bad, sizeof bad, "%s/absent.conf", e.dir);
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "--config %s device list", bad), 1);
	HAS(out, "fakecloud init");
	CHECK_INT(count_lines(out), 1);
}

static void check_dns(void)
{
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "dns --ip 192.168.7.7"), 0);
	HAS(out, "\naddress=/iot.example.com/192.168.7.7\n");
	HAS(out, "\naddress=/a1.vendor.test/192.168.7.7\n");
	HASNT(out, "address=/localhost/");
	HASNT(out, "address=/fakecloud/");
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "dns"), 0);
	HAS(out, "\naddress=/iot.example.com/127.0.0.1\n");
	HAS(out, "loopback");
	CHECK_INT(fc_env_cli(&e, out, sizeof out, "dns --ip not-an-ip"), 2);
	CHECK_INT(count_lines(out), 1);
}

int main(void)
{
	static const char *const sets[] = {"tls.hostnames=fakecloud,localhost,iot.example.com,a1.vendor.test", NULL};
	if (fc_env_init(&e, "cli", sets) != 0)
		return 1;
	check_modes_and_contents();
	check_second_init();
	check_device_errors();
	check_broker_login();
	check_help();
	check_config();
	check_dns();
	check_unprivileged_offset();
	fc_env_cleanup(&e);
	return t_done();
}
