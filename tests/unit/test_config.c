/* Configuration: defaults, a full valid file, the exact one-line error of every kind of mistake, path
 * resolution, value bounds, lists, vendor tables, and write_default round-tripping through the parser. */
#include "core/config.h"
#include "unit/t.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static struct fc_config cfg, cfg2;
static char err[512];
static char cwd[PATH_MAX];

static int parse(struct fc_config *c, const char *text)
{
	err[0] = '\0';
	return fc_config_parse(c, "t.conf", text, strlen(text), err, sizeof err);
}

/* Parses `text` into a fresh configuration and checks it fails with exactly `msg`. */
#define CHECK_ERR(text, msg)                                      \
	do {                                                      \
		fc_config_init(&cfg, NULL);                       \
		CHECK_INT(parse(&cfg, text), -1);                 \
		CHECK_STR(err, msg);                              \
	} while (0)

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(text, 1, strlen(text), f) != strlen(text))
		abort();
	fclose(f);
}

static void test_defaults(void)
{
	char expect[PATH_MAX + 64], items[4][256];
	fc_config_init(&cfg, NULL);
	CHECK_STR(fc_config_str(&cfg, "core", "base_topic"), "fakecloud");
	CHECK_STR(fc_config_str(&cfg, "mqtt", "host"), "127.0.0.1");
	CHECK_INT(fc_config_int(&cfg, "mqtt", "port"), 1883);
	CHECK_INT(fc_config_int(&cfg, "http", "https_port"), 443);
	CHECK_INT(fc_config_int(&cfg, "http", "max_body"), 65536);
	CHECK(fc_config_bool(&cfg, "homeassistant", "discovery"));
	CHECK(!fc_config_is_set(&cfg, "mqtt", "port"));
	/* PATH defaults without a file: relative to the current directory. */
	snprintf(expect, sizeof expect, "%s/fakecloud.db", cwd);
	CHECK_STR(fc_config_str(&cfg, "core", "store"), expect);
	snprintf(expect, sizeof expect, "%s/certs/ca.crt", cwd);
	CHECK_STR(fc_config_str(&cfg, "tls", "ca_cert"), expect);
	CHECK_INT(fc_config_list(&cfg, "tls", "hostnames", items, 4), 2);
	CHECK_STR(items[0], "fakecloud");
	CHECK_STR(items[1], "localhost");
	/* Every core key has a value. */
	size_t n = 0;
	for (const struct fc_config_key *k = fc_core_config_keys; k->key; k++, n++)
		CHECK(fc_config_str(&cfg, k->section, k->key) != NULL);
	CHECK_INT(cfg.n, n);
}

static void test_valid_file(void)
{
	const char *text = "\xef\xbb\xbf# fakecloud test configuration\r\n"
			   "; another comment style\r\n"
			   "\r\n"
			   "[core]\r\n"
			   "base_topic = home/fc\r\n"
			   "  log_level=debug  \r\n"
			   "store = /var/lib/fakecloud/fc.db\r\n"
			   "[mqtt]   # trailing comment\n"
			   "\tport = 1884\n"
			   "tls_port = \"8884\"\n"
			   "psk_hint = \"  hint with spaces  \"\n"
			   "host = \"\"\n"
			   "[http]\n"
			   "max_body = 1048576\n"
			   "timeout = +45\n"
			   "[tls]\n"
			   "hostnames = a.example, b.example ,iot.meross.com\n"
			   "[homeassistant]\n"
			   "discovery = Off\n"
			   "[mqtt]\n"
			   "listen = 127.0.0.1"; /* no newline at the end */
	fc_config_init(&cfg, NULL);
	CHECK_INT(parse(&cfg, text), 0);
	CHECK_STR(err, "");
	CHECK_STR(fc_config_str(&cfg, "core", "base_topic"), "home/fc");
	CHECK_STR(fc_config_str(&cfg, "core", "log_level"), "debug");
	CHECK_STR(fc_config_str(&cfg, "core", "store"), "/var/lib/fakecloud/fc.db");
	CHECK_INT(fc_config_int(&cfg, "mqtt", "port"), 1884);
	CHECK_INT(fc_config_int(&cfg, "mqtt", "tls_port"), 8884); /* quotes removed */
	CHECK_STR(fc_config_str(&cfg, "mqtt", "psk_hint"), "  hint with spaces  ");
	CHECK_STR(fc_config_str(&cfg, "mqtt", "host"), "");
	CHECK_STR(fc_config_str(&cfg, "mqtt", "listen"), "127.0.0.1");
	CHECK_INT(fc_config_int(&cfg, "http", "max_body"), 1048576);
	CHECK_INT(fc_config_int(&cfg, "http", "timeout"), 45);
	CHECK_STR(fc_config_str(&cfg, "http", "timeout"), "45"); /* stored canonical */
	CHECK(!fc_config_bool(&cfg, "homeassistant", "discovery"));
	CHECK_STR(fc_config_str(&cfg, "homeassistant", "discovery"), "false");
	CHECK(fc_config_is_set(&cfg, "mqtt", "port"));
	CHECK(!fc_config_is_set(&cfg, "mqtt", "psk_port"));
	CHECK_INT(fc_config_int(&cfg, "mqtt", "psk_port"), 8886);
	char items[4][256];
	CHECK_INT(fc_config_list(&cfg, "tls", "hostnames", items, 4), 3);
	CHECK_STR(items[1], "b.example");
	CHECK_STR(items[2], "iot.meross.com");
	CHECK_STR(fc_config_str(&cfg, "tls", "hostnames"), "a.example, b.example ,iot.meross.com"); /* as given */

	/* Empty text and comment-only text are valid. */
	fc_config_init(&cfg, NULL);
	CHECK_INT(fc_config_parse(&cfg, "t.conf", NULL, 0, err, sizeof err), 0);
	CHECK_INT(parse(&cfg, "# nothing\n\n; here\n"), 0);
}

static void test_errors(void)
{
	CHECK_ERR("[http]\nlisten = 0.0.0.0\nhttps_port = 70000\n", "t.conf:3: http.https_port: '70000' is not a port (1-65535)");
	CHECK_ERR("[nope]\n", "t.conf:1: unknown section 'nope'");
	CHECK_ERR("[mqtt]\nnope = 1\n", "t.conf:2: mqtt.nope: unknown key");
	CHECK_ERR("[mqtt]\nport = 1\n# c\nport = 2\n", "t.conf:4: mqtt.port: duplicate key (first set on line 2)");
	CHECK_ERR("[mqtt]\nport = 1\n[core]\n[mqtt]\nport = 1\n", "t.conf:5: mqtt.port: duplicate key (first set on line 2)");
	CHECK_ERR("port = 1\n", "t.conf:1: key 'port' before any [section]");
	CHECK_ERR("[mqtt]\njust words\n", "t.conf:2: expected 'key = value', a [section] or a comment");
	CHECK_ERR("[mqtt]\n = 5\n", "t.conf:2: missing key before '='");
	CHECK_ERR("[mqtt\n", "t.conf:1: missing ']' in section header");
	CHECK_ERR("[ ]\n", "t.conf:1: empty section name");
	CHECK_ERR("[mqtt] port = 1\n", "t.conf:1: unexpected text after section header");
	CHECK_ERR("[mqtt]\nhost = \"abc\n", "t.conf:2: mqtt.host: unbalanced double quote");
	CHECK_ERR("[mqtt]\nhost = \"\n", "t.conf:2: mqtt.host: unbalanced double quote");
	CHECK_ERR("[http]\nmax_body = 12k\n", "t.conf:2: http.max_body: '12k' is not an integer");
	CHECK_ERR("[http]\nmax_body = 100\n", "t.conf:2: http.max_body: '100' is out of range (256-16777216)");
	CHECK_ERR("[http]\nmax_body = 99999999999999999999999\n",
		  "t.conf:2: http.max_body: '99999999999999999999999' is not an integer");
	CHECK_ERR("[homeassistant]\ndiscovery = maybe\n",
		  "t.conf:2: homeassistant.discovery: 'maybe' is not a boolean (true/false, yes/no, on/off, 1/0)");
	CHECK_ERR("[mqtt]\nhost = a\x1b[31mb\n", "t.conf:2: control character 0x1b in line");
	CHECK_ERR("[mqtt]\nhost = a\rb\n", "t.conf:2: control character 0x0d in line");

	/* NUL byte: the length is explicit, so the NUL is seen. */
	fc_config_init(&cfg, NULL);
	const char nul[] = "[mqtt]\nhost = a\0b\n";
	CHECK_INT(fc_config_parse(&cfg, "t.conf", nul, sizeof nul - 1, err, sizeof err), -1);
	CHECK_STR(err, "t.conf:2: NUL byte in line");

	/* Line length: FC_CONFIG_MAX_LINE bytes are fine (CRLF not counted), one more is not. */
	static char big[FC_CONFIG_MAX_LINE + 64];
	size_t prefix = strlen("[mqtt]\nhost=");
	memcpy(big, "[mqtt]\nhost=", prefix);
	memset(big + prefix, 'h', FC_CONFIG_MAX_LINE - 5);
	strcpy(big + prefix + FC_CONFIG_MAX_LINE - 5, "\r\n");
	fc_config_init(&cfg, NULL);
	CHECK_INT(parse(&cfg, big), -1); /* 1024-byte line parses, but the value cannot be written back */
	CHECK_STR(err, "t.conf:2: mqtt.host: value too long (at most 1015 bytes)");
	memset(big + prefix, 'h', FC_CONFIG_MAX_LINE - 1);
	strcpy(big + prefix + FC_CONFIG_MAX_LINE - 1, "\n");
	CHECK_ERR(big, "t.conf:2: line too long (more than 1024 bytes)");
	memset(big + prefix, 'h', 1015);
	strcpy(big + prefix + 1015, "\n");
	fc_config_init(&cfg, NULL);
	CHECK_INT(parse(&cfg, big), 0);
	CHECK_INT(strlen(fc_config_str(&cfg, "mqtt", "host")), 1015);

	/* Too large a text. */
	char *huge = calloc(1, FC_CONFIG_MAX_FILE + 2);
	memset(huge, '\n', FC_CONFIG_MAX_FILE + 1);
	fc_config_init(&cfg, NULL);
	CHECK_INT(fc_config_parse(&cfg, "t.conf", huge, FC_CONFIG_MAX_FILE + 1, err, sizeof err), -1);
	CHECK_STR(err, "t.conf: larger than 262144 bytes");
	CHECK_INT(fc_config_parse(&cfg, "t.conf", huge, FC_CONFIG_MAX_FILE, err, sizeof err), 0);
	free(huge);

	/* Long or odd values are shortened and made printable in messages: still one line. */
	fc_config_init(&cfg, NULL);
	CHECK_INT(parse(&cfg, "[http]\nmax_body = 1111111111222222222233333333334444444444555555555566666666667777777777x\n"), -1);
	CHECK_STR(err, "t.conf:2: http.max_body: '1111111111222222222233333333334444444444555555555566666666667777...' "
		       "is not an integer");
	char small[16];
	CHECK_INT(fc_config_parse(&cfg, "t.conf", "[x]", 3, small, sizeof small), -1);
	CHECK_STR(small, "t.conf:1: unkno");

	/* A failed parse changes nothing, even the keys before the bad line. */
	fc_config_init(&cfg, NULL);
	CHECK_INT(parse(&cfg, "[mqtt]\nport = 1999\nhost = x\n[http]\ntimeout = 0\n"), -1);
	CHECK_STR(err, "t.conf:5: http.timeout: '0' is out of range (1-3600)");
	CHECK_INT(fc_config_int(&cfg, "mqtt", "port"), 1883);
	CHECK(!fc_config_is_set(&cfg, "mqtt", "port"));
	CHECK_STR(fc_config_str(&cfg, "mqtt", "host"), "127.0.0.1");

	/* A second text may set keys the first one set (duplicates are per text). */
	CHECK_INT(parse(&cfg, "[mqtt]\nport = 1999\n"), 0);
	CHECK_INT(parse(&cfg, "[mqtt]\nport = 2000\n"), 0);
	CHECK_INT(fc_config_int(&cfg, "mqtt", "port"), 2000);
}

static void test_bounds(void)
{
	static const struct {
		const char *value;
		int ok;
		long expect;
	} ports[] = {{"0", 0, 0}, {"1", 1, 1}, {"65535", 1, 65535}, {"65536", 0, 0}, {"-1", 0, 0},
		     {"0x50", 0, 0}, {"80 ", 1, 80}, {"8o", 0, 0}, {"", 0, 0}, {"+443", 1, 443},
		     {"\" 80\"", 0, 0}, {"\"80 \"", 0, 0}, {"\"80\"", 1, 80}};
	char text[128];
	for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++) {
		fc_config_init(&cfg, NULL);
		snprintf(text, sizeof text, "[mqtt]\nport = %s\n", ports[i].value);
		int rc = parse(&cfg, text);
		CHECK_INT(rc, ports[i].ok ? 0 : -1);
		if (ports[i].ok)
			CHECK_INT(fc_config_int(&cfg, "mqtt", "port"), ports[i].expect);
		else
			CHECK(strstr(err, "is not a port (1-65535)") != NULL);
	}

	static const struct {
		const char *value;
		int ok;
	} ints[] = {{"255", 0}, {"256", 1}, {"16777216", 1}, {"16777217", 0}, {"-5", 0}, {"1e3", 0}, {"1024", 1}};
	for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
		fc_config_init(&cfg, NULL);
		snprintf(text, sizeof text, "[http]\nmax_body = %s\n", ints[i].value);
		CHECK_INT(parse(&cfg, text), ints[i].ok ? 0 : -1);
		if (ints[i].ok)
			CHECK_INT(fc_config_int(&cfg, "http", "max_body"), strtol(ints[i].value, NULL, 10));
	}

	static const struct {
		const char *value;
		int ok, expect;
	} bools[] = {{"true", 1, 1}, {"false", 1, 0}, {"yes", 1, 1}, {"no", 1, 0}, {"on", 1, 1}, {"off", 1, 0},
		     {"1", 1, 1}, {"0", 1, 0}, {"TRUE", 1, 1}, {"No", 1, 0}, {"2", 0, 0}, {"", 0, 0}, {"y", 0, 0}};
	for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
		fc_config_init(&cfg, NULL);
		snprintf(text, sizeof text, "[homeassistant]\ndiscovery = %s\n", bools[i].value);
		CHECK_INT(parse(&cfg, text), bools[i].ok ? 0 : -1);
		if (bools[i].ok)
			CHECK_INT(fc_config_bool(&cfg, "homeassistant", "discovery"), bools[i].expect);
	}

	/* fc_config_set validates like the file. */
	fc_config_init(&cfg, NULL);
	CHECK_INT(fc_config_set(&cfg, "mqtt", "port", "70000", err, sizeof err), -1);
	CHECK_STR(err, "mqtt.port: '70000' is not a port (1-65535)");
	CHECK_INT(fc_config_set(&cfg, "mqtt", "nope", "1", err, sizeof err), -1);
	CHECK_STR(err, "mqtt.nope: unknown key");
	CHECK_INT(fc_config_set(&cfg, "mqtt", "host", "a\nb", err, sizeof err), -1);
	CHECK_STR(err, "mqtt.host: control character 0x0a in value");
	CHECK(!fc_config_is_set(&cfg, "mqtt", "port"));
	CHECK_INT(fc_config_set(&cfg, "mqtt", "port", "1885", err, sizeof err), 0);
	CHECK_INT(fc_config_int(&cfg, "mqtt", "port"), 1885);
	CHECK(fc_config_is_set(&cfg, "mqtt", "port"));
}

static void test_lists(void)
{
	char items[3][256], text[600];
	fc_config_init(&cfg, NULL);
	CHECK_INT(parse(&cfg, "[tls]\nhostnames = a , b,,c ,\nips =\n"), 0);
	CHECK_INT(fc_config_list(&cfg, "tls", "hostnames", items, 3), 3);
	CHECK_STR(items[0], "a");
	CHECK_STR(items[1], "b");
	CHECK_STR(items[2], "c");
	CHECK_INT(fc_config_list(&cfg, "tls", "hostnames", items, 2), -1); /* more items than room */
	CHECK_INT(fc_config_list(&cfg, "tls", "ips", items, 3), 0);

	char item[300];
	memset(item, 'x', 255);
	item[255] = '\0';
	snprintf(text, sizeof text, "[tls]\nhostnames = ok, %s\n", item);
	fc_config_init(&cfg, NULL);
	CHECK_INT(parse(&cfg, text), 0);
	CHECK_INT(fc_config_list(&cfg, "tls", "hostnames", items, 3), 2);
	CHECK_INT(strlen(items[1]), 255);
	strcat(item, "y");
	snprintf(text, sizeof text, "[tls]\nhostnames = ok, %s\n", item);
	CHECK_ERR(text, "t.conf:2: tls.hostnames: list item longer than 255 bytes");
}

static void test_paths(void)
{
	char dir[] = "/tmp/fc_test_config_XXXXXX", sub[128], conf[256], expect[512];
	if (!mkdtemp(dir)) {
		CHECK(0);
		return;
	}
	snprintf(sub, sizeof sub, "%s/etc", dir);
	CHECK(mkdir(sub, 0700) == 0);
	snprintf(conf, sizeof conf, "%s/fakecloud.conf", sub);
	write_file(conf, "[core]\nstore = data/fc.db\n[tls]\nca_cert = /etc/ssl/ca.crt\ncert = ./server.crt\n"
			 "key = ../keys/k.pem\n");
	fc_config_init(&cfg, NULL);
	CHECK_INT(fc_config_load(&cfg, conf, err, sizeof err), 0);
	CHECK_STR(err, "");
	CHECK_STR(cfg.path, conf);
	snprintf(expect, sizeof expect, "%s/data/fc.db", sub);
	CHECK_STR(fc_config_str(&cfg, "core", "store"), expect);
	CHECK_STR(fc_config_str(&cfg, "tls", "ca_cert"), "/etc/ssl/ca.crt");
	snprintf(expect, sizeof expect, "%s/server.crt", sub);
	CHECK_STR(fc_config_str(&cfg, "tls", "cert"), expect);
	snprintf(expect, sizeof expect, "%s/../keys/k.pem", sub);
	CHECK_STR(fc_config_str(&cfg, "tls", "key"), expect);
	/* defaults of PATH keys follow the file too */
	snprintf(expect, sizeof expect, "%s/certs/ca.key", sub);
	CHECK_STR(fc_config_str(&cfg, "tls", "ca_key"), expect);
	/* fc_config_set resolves against the loaded file's directory */
	CHECK_INT(fc_config_set(&cfg, "tls", "ca_key", "other.key", err, sizeof err), 0);
	snprintf(expect, sizeof expect, "%s/other.key", sub);
	CHECK_STR(fc_config_str(&cfg, "tls", "ca_key"), expect);

	/* A config path relative to the current directory: values still end up absolute. */
	if (chdir(dir) == 0) {
		fc_config_init(&cfg, NULL);
		CHECK_INT(fc_config_load(&cfg, "etc/fakecloud.conf", err, sizeof err), 0);
		snprintf(expect, sizeof expect, "%s/data/fc.db", sub);
		CHECK_STR(fc_config_str(&cfg, "core", "store"), expect);
		/* errors name the file as it was given */
		write_file("bad.conf", "[core]\n\nstore = x\nlog_level = info\nnope = 1\n");
		fc_config_init(&cfg, NULL);
		CHECK_INT(fc_config_load(&cfg, "bad.conf", err, sizeof err), -1);
		CHECK_STR(err, "bad.conf:5: core.nope: unknown key");
		CHECK(!fc_config_is_set(&cfg, "core", "store"));
		CHECK(cfg.path[0] == '\0'); /* a failed load leaves the configuration as it was */
		CHECK_INT(fc_config_load(&cfg, "missing.conf", err, sizeof err), -1);
		CHECK_STR(err, "missing.conf: cannot open: No such file or directory");
		CHECK_INT(fc_config_load(&cfg, "etc", err, sizeof err), -1);
		CHECK_STR(err, "etc: not a regular file");
		unlink("bad.conf");
		CHECK(chdir(cwd) == 0);
	}

	/* Write the defaults next to a config file, load them back: paths resolve next to the file. */
	fc_config_init(&cfg, NULL);
	static char text[64 * 1024];
	CHECK_INT(fc_config_write_default(&cfg, text, sizeof text), 0);
	write_file(conf, text);
	fc_config_init(&cfg2, NULL);
	CHECK_INT(fc_config_load(&cfg2, conf, err, sizeof err), 0);
	snprintf(expect, sizeof expect, "%s/fakecloud.db", sub);
	CHECK_STR(fc_config_str(&cfg2, "core", "store"), expect);
	CHECK(fc_config_is_set(&cfg2, "core", "store"));
	unlink(conf);
	rmdir(sub);
	rmdir(dir);
}

static void test_write_default(void)
{
	static char text[64 * 1024];
	fc_config_init(&cfg, NULL);
	CHECK_INT(fc_config_set(&cfg, "mqtt", "port", "1884", err, sizeof err), 0);
	CHECK_INT(fc_config_set(&cfg, "core", "base_topic", "  spaced  ", err, sizeof err), 0);
	CHECK_INT(fc_config_set(&cfg, "mqtt", "psk_hint", "\"quoted\"", err, sizeof err), 0);
	CHECK_INT(fc_config_set(&cfg, "mqtt", "host", "", err, sizeof err), 0);
	CHECK_INT(fc_config_set(&cfg, "core", "store", "/abs/x.db", err, sizeof err), 0);
	CHECK_INT(fc_config_set(&cfg, "tls", "hostnames", "a, b", err, sizeof err), 0);
	CHECK_INT(fc_config_set(&cfg, "homeassistant", "discovery", "no", err, sizeof err), 0);
	CHECK_INT(fc_config_write_default(&cfg, text, sizeof text), 0);

	CHECK(strstr(text, "\n[mqtt]\n# Broker address fakecloud-httpd connects to\nhost = \n") != NULL);
	CHECK(strstr(text, "\nport = 1884\n") != NULL);
	CHECK(strstr(text, "\nbase_topic = \"  spaced  \"\n") != NULL);
	CHECK(strstr(text, "\nstore = /abs/x.db\n") != NULL);
	CHECK(strstr(text, "\nca_cert = certs/ca.crt\n") != NULL); /* unset path: relative default */
	CHECK(strstr(text, "\ndiscovery = false\n") != NULL);
	CHECK(strstr(text, "# port =") == NULL);
	/* every key appears once, as an actual assignment after its help line */
	for (const struct fc_config_key *k = fc_core_config_keys; k->key; k++) {
		char line[256];
		snprintf(line, sizeof line, "# %s\n%s = ", k->help, k->key);
		CHECK(strstr(text, line) != NULL);
	}

	fc_config_init(&cfg2, NULL);
	err[0] = '\0';
	CHECK_INT(fc_config_parse(&cfg2, "written.conf", text, strlen(text), err, sizeof err), 0);
	CHECK_STR(err, "");
	CHECK_INT(cfg2.n, cfg.n);
	for (size_t i = 0; i < cfg.n; i++) {
		CHECK_STR(cfg2.e[i].section, cfg.e[i].section);
		CHECK_STR(cfg2.e[i].key, cfg.e[i].key);
		CHECK_STR(cfg2.e[i].value, cfg.e[i].value);
		CHECK(cfg2.e[i].set);
	}
	CHECK_STR(fc_config_str(&cfg2, "mqtt", "psk_hint"), "\"quoted\"");

	char tiny[64];
	CHECK_INT(fc_config_write_default(&cfg, tiny, sizeof tiny), -1);
	CHECK_STR(tiny, "");
}

/* ---- vendor tables --------------------------------------------------------------------------------- */

static const struct fc_config_key vendor_keys[] = {
	{"acme", "cloud_key", FC_CFG_STRING, "abc", 0, 0, "Key the acme cloud signs with"},
	{"acme", "retries", FC_CFG_INT, "3", 0, 10, "How often to retry"},
	{"acme", "free", FC_CFG_INT, "-7", 0, 0, "Unbounded integer"},
	{"acme", "cache", FC_CFG_PATH, NULL, 0, 0, "Cache file (empty: none)"},
	{NULL, NULL, 0, NULL, 0, 0, NULL},
};
static const struct fc_config_key *const vendor_tables[] = {vendor_keys, NULL};

static void test_vendor_tables(void)
{
	static char text[64 * 1024];
	fc_config_init(&cfg, vendor_tables);
	CHECK_STR(fc_config_str(&cfg, "acme", "cloud_key"), "abc");
	CHECK_INT(fc_config_int(&cfg, "acme", "free"), -7);
	CHECK_STR(fc_config_str(&cfg, "acme", "cache"), "");
	CHECK_INT(parse(&cfg, "[acme]\nretries = 10\nfree = -99999\ncache = c.bin\n"), 0);
	CHECK_INT(fc_config_int(&cfg, "acme", "retries"), 10);
	CHECK_INT(fc_config_int(&cfg, "acme", "free"), -99999);
	CHECK_INT(parse(&cfg, "[acme]\nretries = 11\n"), -1);
	CHECK_STR(err, "t.conf:2: acme.retries: '11' is out of range (0-10)");
	CHECK_INT(fc_config_write_default(&cfg, text, sizeof text), 0);
	CHECK(strstr(text, "\n[acme]\n# Key the acme cloud signs with\ncloud_key = abc\n") != NULL);
	fc_config_init(&cfg2, vendor_tables);
	CHECK_INT(fc_config_parse(&cfg2, "w", text, strlen(text), err, sizeof err), 0);
	CHECK_STR(fc_config_str(&cfg2, "acme", "cache"), fc_config_str(&cfg, "acme", "cache"));
	/* without the vendor table the section is unknown */
	CHECK_ERR("[acme]\nretries = 1\n", "t.conf:1: unknown section 'acme'");
}

/* ---- programming errors abort ---------------------------------------------------------------------- */

enum misuse { STR_UNKNOWN, INT_UNKNOWN, BOOL_UNKNOWN, INT_OF_STRING, BOOL_OF_INT, LIST_OF_STRING, IS_SET_UNKNOWN };

static int aborts(enum misuse m)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stderr))
			_exit(3);
		char items[2][256];
		fc_config_init(&cfg, NULL);
		switch (m) {
		case STR_UNKNOWN: (void)fc_config_str(&cfg, "mqtt", "nope"); break;
		case INT_UNKNOWN: (void)fc_config_int(&cfg, "nope", "port"); break;
		case BOOL_UNKNOWN: (void)fc_config_bool(&cfg, "homeassistant", "nope"); break;
		case INT_OF_STRING: (void)fc_config_int(&cfg, "mqtt", "host"); break;
		case BOOL_OF_INT: (void)fc_config_bool(&cfg, "mqtt", "port"); break;
		case LIST_OF_STRING: (void)fc_config_list(&cfg, "mqtt", "host", items, 2); break;
		case IS_SET_UNKNOWN: (void)fc_config_is_set(&cfg, "mqtt", "nope"); break;
		}
		_exit(0);
	}
	int st = 0;
	if (waitpid(pid, &st, 0) != pid)
		return 0;
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

static void test_abort(void)
{
	CHECK(aborts(STR_UNKNOWN));
	CHECK(aborts(INT_UNKNOWN));
	CHECK(aborts(BOOL_UNKNOWN));
	CHECK(aborts(INT_OF_STRING));
	CHECK(aborts(BOOL_OF_INT));
	CHECK(aborts(LIST_OF_STRING));
	CHECK(aborts(IS_SET_UNKNOWN));
}

int main(void)
{
	if (!getcwd(cwd, sizeof cwd))
		return 1;
	test_defaults();
	test_valid_file();
	test_errors();
	test_bounds();
	test_lists();
	test_paths();
	test_write_default();
	test_vendor_tables();
	test_abort();
	return t_done();
}
