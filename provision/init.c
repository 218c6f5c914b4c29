/* `fakecloud init`: create or update the state directory. Idempotent: a second run keeps the
 * configuration, keystore, certificates, password and ACL files, and only regenerates mosquitto.conf. */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/hub.h"
#include "core/keystore.h"
#include "provision/cli.h"

#define ADMIN_PASSWORD_LEN 24
#define INTERNAL_PASSWORD_LEN 32
#define DEFAULT_PLUGIN "/usr/local/lib/fakecloud/fakecloud.so"

struct init_opts {
	const char *dir;
	const char *plugin;
	char **sets;
	size_t nsets;
	long offset;
	const char *broker_user;
	const char *admin_user;
	const char *admin_password_file;
	bool force;
};

/* Who the broker runs as, and who therefore owns the state directory. */
struct owner {
	char name[64];
	long uid, gid; /* -1: leave ownership alone (not root) */
};

static const char *CMD = "init";

static void usage(void)
{
	printf("usage: fakecloud init [--dir DIR] [--plugin PATH] [--set section.key=value]...\n"
	       "                      [--unprivileged-offset N] [--broker-user USER] [--admin-user NAME]\n"
	       "                      [--admin-password-file FILE] [--force]\n"
	       "\n"
	       "Creates or updates fakecloud's state directory. Safe to run again: existing files are kept.\n"
	       "\n"
	       "  DIR/fakecloud.conf      configuration with every key commented (created if absent; --set\n"
	       "                          updates keys of an existing one; --force rewrites it from defaults)\n"
	       "  DIR/fakecloud.db        keystore (devices, keys, fakecloud's internal MQTT password)\n"
	       "  DIR/certs/              CA and server certificate ([tls] section; reissued when the\n"
	       "                          host names or IPs change)\n"
	       "  DIR/mosquitto/passwd    Mosquitto password file with the admin user (created if absent;\n"
	       "                          the generated password is printed once)\n"
	       "  DIR/mosquitto/acl       Mosquitto ACL: the admin user may read and write everything\n"
	       "  DIR/mosquitto.conf      broker configuration, regenerated from fakecloud.conf every time\n"
	       "\n"
	       "Options:\n"
	       "  --dir DIR                   state directory (default ./var; created mode 0750)\n"
	       "  --plugin PATH               fakecloud.so for mosquitto.conf (default: next to this program,\n"
	       "                              else ../lib/fakecloud/ beside it, else %s)\n"
	       "  --set section.key=value     set a configuration key (repeatable); see 'fakecloud config --help'\n"
	       "  --unprivileged-offset N     add N to every configured port below 1024 (to run without root)\n"
	       "  --broker-user USER          user the broker runs as (default: mosquitto when run as root and\n"
	       "                              that user exists, else the current user); as root, the state\n"
	       "                              directory is given to this user\n"
	       "  --admin-user NAME           Mosquitto admin user created with the password file (default admin)\n"
	       "  --admin-password-file FILE  also write the new admin password to FILE (mode 0600)\n"
	       "  --force                     rewrite fakecloud.conf from the defaults (plus --set)\n"
	       "\n"
	       "The configuration file used by the other commands is DIR/fakecloud.conf; init ignores\n"
	       "--config and $FAKECLOUD_CONFIG.\n",
	       DEFAULT_PLUGIN);
}

static void report(const char *what, const char *path, const char *note)
{
	printf("  %-8s %s%s%s%s\n", what, path, note ? " (" : "", note ? note : "", note ? ")" : "");
}

/* ---- options ---- */

static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct init_opts *o)
{
	static const struct cli_opt opts[] = {
		{"dir", true},        {"plugin", true},     {"set", true},
		{"unprivileged-offset", true},              {"broker-user", true},
		{"admin-user", true}, {"admin-password-file", true},
		{"force", false},     {NULL, false},
	};
	struct cli_parse p;
	cli_parse_begin(&p, CMD, argc, argv);
	for (int k; (k = cli_parse_next(&p, opts)) != CLI_P_END;) {
		switch (k) {
		case CLI_P_HELP:
			usage();
			return -1;
		case CLI_P_ERR:
			return CLI_USAGE;
		case CLI_P_POS:
			return cli_usage_error(CMD, "unexpected argument '%s'", p.arg);
		case 0: o->dir = p.arg; break;
		case 1: o->plugin = p.arg; break;
		case 2: o->sets[o->nsets++] = (char *)p.arg; break;
		case 3:
			if (parse_long(p.arg, 0, 64511, &o->offset) != 0)
				return cli_usage_error(CMD, "--unprivileged-offset: '%s' is not a number 0-64511", p.arg);
			break;
		case 4: o->broker_user = p.arg; break;
		case 5: o->admin_user = p.arg; break;
		case 6: o->admin_password_file = p.arg; break;
		case 7: o->force = true; break;
		}
	}
	if (!*o->dir)
		return cli_usage_error(CMD, "--dir needs a directory");
	const char *u = o->admin_user;
	bool ok = *u && strlen(u) <= 64 && strcmp(u, FC_INTERNAL_USER) != 0;
	for (const char *s = u; ok && *s; s++)
		ok = *s > ' ' && *s != ':' && *s != 0x7f;
	if (!ok)
		return cli_usage_error(CMD, "--admin-user: '%s' is not a usable user name", u);
	return 0;
}

static int resolve_owner(const struct init_opts *o, struct owner *w)
{
	w->uid = w->gid = -1;
	const struct passwd *pw;
	if (geteuid() == 0) {
		const char *name = o->broker_user ? o->broker_user : "mosquitto";
		pw = getpwnam(name);
		if (!pw && o->broker_user)
			return cli_fail(CMD, "--broker-user: no user named '%s'", o->broker_user);
		if (!pw)
			pw = getpwuid(0);
		if (!pw)
			return cli_fail(CMD, "cannot look up the root user");
		w->uid = (long)pw->pw_uid;
		w->gid = (long)pw->pw_gid;
		snprintf(w->name, sizeof w->name, "%s", pw->pw_name);
		return 0;
	}
	pw = getpwuid(geteuid());
	if (o->broker_user) {
		snprintf(w->name, sizeof w->name, "%s", o->broker_user);
		if (!pw || strcmp(pw->pw_name, o->broker_user) != 0)
			cli_warn(CMD, "not running as root: files stay owned by you; the broker ignores 'user %s' "
				 "unless it is started as root", o->broker_user);
	} else if (pw) {
		snprintf(w->name, sizeof w->name, "%s", pw->pw_name);
	} else {
		snprintf(w->name, sizeof w->name, "%ld", (long)geteuid());
	}
	return 0;
}

static void resolve_plugin(const struct init_opts *o, char *out, size_t outlen)
{
	if (o->plugin) {
		char *rp = realpath(o->plugin, NULL);
		if (rp) {
			snprintf(out, outlen, "%s", rp);
			free(rp);
		} else {
			char cwd[PATH_MAX];
			if (o->plugin[0] == '/' || !getcwd(cwd, sizeof cwd) ||
			    cli_fmt(out, outlen, "%s/%s", cwd, o->plugin) != 0)
				snprintf(out, outlen, "%s", o->plugin);
		}
		return;
	}
	char exe[PATH_MAX], dir[PATH_MAX], cand[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		cli_dirname(exe, dir, sizeof dir);
		static const char *const rel[] = {"/fakecloud.so", "/../lib/fakecloud/fakecloud.so"};
		for (size_t i = 0; i < 2; i++) {
			snprintf(cand, sizeof cand, "%s%s", dir, rel[i]);
			char *rp = realpath(cand, NULL);
			if (rp) {
				snprintf(out, outlen, "%s", rp);
				free(rp);
				return;
			}
		}
	}
	snprintf(out, outlen, "%s", DEFAULT_PLUGIN);
}

/* ---- fakecloud.conf ---- */

static const struct fc_config_key *find_key(const char *section, const char *key)
{
	const struct fc_config_key *const *t = cli_config_tables();
	for (; *t; t++)
		for (const struct fc_config_key *k = *t; k->key; k++)
			if (!strcmp(k->section, section) && !strcmp(k->key, key))
				return k;
	return NULL;
}

/* Set section.key to value; *changed when the effective value differs. CLI_OK / CLI_USAGE. */
static int set_value(struct fc_config *cfg, const char *what, const char *section, const char *key,
		     const char *value, bool *changed)
{
	if (!find_key(section, key))
		return cli_usage_error(CMD, "%s: unknown key '%s.%s'", what, section, key);
	char before[FC_CONFIG_MAX_LINE];
	const char *b = fc_config_str(cfg, section, key);
	snprintf(before, sizeof before, "%s", b ? b : "");
	char err[512] = "";
	if (fc_config_set(cfg, section, key, value, err, sizeof err) != 0)
		return cli_usage_error(CMD, "%s: %s", what, err[0] ? err : "invalid value");
	const char *a = fc_config_str(cfg, section, key);
	if (strcmp(before, a ? a : "") != 0)
		*changed = true;
	return CLI_OK;
}

static int apply_sets(struct fc_config *cfg, const struct init_opts *o, bool *changed)
{
	for (size_t i = 0; i < o->nsets; i++) {
		const char *s = o->sets[i];
		const char *eq = strchr(s, '=');
		const char *dot = eq ? memchr(s, '.', (size_t)(eq - s)) : NULL;
		char section[32], key[48];
		if (!eq || !dot || dot == s || dot + 1 == eq || (size_t)(dot - s) >= sizeof section ||
		    (size_t)(eq - dot - 1) >= sizeof key)
			return cli_usage_error(CMD, "--set: expected section.key=value, got '%s'", s);
		snprintf(section, sizeof section, "%.*s", (int)(dot - s), s);
		snprintf(key, sizeof key, "%.*s", (int)(eq - dot - 1), dot + 1);
		int rc = set_value(cfg, "--set", section, key, eq + 1, changed);
		if (rc)
			return rc;
	}
	if (o->offset == 0)
		return CLI_OK;
	for (const struct fc_config_key *const *t = cli_config_tables(); *t; t++) {
		for (const struct fc_config_key *k = *t; k->key; k++) {
			if (k->type != FC_CFG_PORT)
				continue;
			long port = fc_config_int(cfg, k->section, k->key);
			if (port <= 0 || port >= 1024)
				continue;
			if (port + o->offset > 65535)
				return cli_usage_error(CMD, "--unprivileged-offset %ld: %s.%s %ld would exceed 65535",
						       o->offset, k->section, k->key, port);
			char v[24], what[128];
			snprintf(v, sizeof v, "%ld", port + o->offset);
			snprintf(what, sizeof what, "--unprivileged-offset %ld", o->offset);
			int rc = set_value(cfg, what, k->section, k->key, v, changed);
			if (rc)
				return rc;
		}
	}
	return CLI_OK;
}

static int write_config(const struct fc_config *cfg, const char *path, const struct owner *w)
{
	char *text = malloc(FC_CONFIG_MAX_FILE);
	if (!text)
		return cli_fail(CMD, "out of memory");
	int rc = CLI_OK;
	if (fc_config_write_default(cfg, text, FC_CONFIG_MAX_FILE) < 0)
		rc = cli_fail(CMD, "cannot format the configuration");
	else if (cli_write_file(path, text, strlen(text), 0640) != 0)
		rc = cli_fail(CMD, "cannot write %s: %s", path, strerror(errno));
	else if (cli_chown(path, w->uid, w->gid) != 0)
		rc = cli_fail(CMD, "cannot give %s to %s: %s", path, w->name, strerror(errno));
	free(text);
	return rc;
}

/* Every listener needs its own port (the broker's and fakecloud-httpd's listeners share the host). */
static int check_ports(const struct fc_config *cfg)
{
	static const char *const keys[][2] = {{"mqtt", "port"},      {"mqtt", "tls_port"},   {"mqtt", "psk_port"},
					      {"http", "http_port"}, {"http", "https_port"}};
	const size_t n = sizeof keys / sizeof keys[0];
	char names[5 + 16][48];
	long ports[5 + 16];
	size_t count = 0;
	for (size_t i = 0; i < n; i++, count++) {
		snprintf(names[count], sizeof names[0], "%s.%s", keys[i][0], keys[i][1]);
		ports[count] = fc_config_int(cfg, keys[i][0], keys[i][1]);
	}
	char extra[16][256];
	int n_extra = fc_config_list(cfg, "mqtt", "tls_extra_ports", extra, 16);
	if (n_extra < 0)
		return cli_fail(CMD, "mqtt.tls_extra_ports: at most 16 ports");
	for (int i = 0; i < n_extra; i++, count++) {
		char *end;
		long p = strtol(extra[i], &end, 10);
		if (*end || p < 1 || p > 65535)
			return cli_fail(CMD, "mqtt.tls_extra_ports: '%s' is not a port (1-65535)", extra[i]);
		snprintf(names[count], sizeof names[0], "mqtt.tls_extra_ports");
		ports[count] = p;
	}
	for (size_t i = 0; i < count; i++)
		for (size_t j = i + 1; j < count; j++)
			if (ports[i] == ports[j])
				return cli_fail(CMD, "%s and %s are both %ld: every listener needs its own port", names[i],
						names[j], ports[i]);
	return CLI_OK;
}

/* Loads or creates DIR/fakecloud.conf; *cfgp is the effective configuration. */
static int ensure_config(const struct init_opts *o, const char *path, const struct owner *w,
			 struct fc_config **cfgp)
{
	struct fc_config *cfg;
	bool existed = cli_exists(path), changed = false;
	int rc;
	if (existed && !o->force) {
		char err[512] = "";
		*cfgp = cfg = cli_config_defaults(NULL);
		if (fc_config_load(cfg, path, err, sizeof err) != 0)
			return cli_fail(CMD, "%s (fix it, or rerun with --force to replace the file with the defaults)",
					err);
	} else {
		cfg = cli_config_defaults(path);
	}
	*cfgp = cfg;
	if ((rc = apply_sets(cfg, o, &changed)) != CLI_OK)
		return rc;
	if ((rc = check_ports(cfg)) != CLI_OK)
		return rc;
	if (existed && !o->force && !changed) {
		report("kept", path, NULL);
		return cli_chown(path, w->uid, w->gid) == 0 ? CLI_OK
			: cli_fail(CMD, "cannot give %s to %s: %s", path, w->name, strerror(errno));
	}
	if ((rc = write_config(cfg, path, w)) != CLI_OK)
		return rc;
	report(!existed ? "created" : o->force ? "replaced" : "updated", path, NULL);
	/* Read it back: this is what the broker and httpd will see (relative paths resolved against
	 * the file's directory), and it proves the written file parses. */
	cli_config_free(cfg);
	struct cli c = {.config_path = path, .config_given = true};
	*cfgp = cfg = cli_config_load(&c, CMD);
	return cfg ? CLI_OK : CLI_FAIL;
}

/* ---- keystore ---- */

static int ensure_keystore(const struct fc_config *cfg, const struct owner *w)
{
	const char *path = fc_config_str(cfg, "core", "store");
	char dir[PATH_MAX];
	cli_dirname(path, dir, sizeof dir);
	bool existed = cli_exists(path);
	if (!cli_exists(dir)) {
		if (cli_mkdirs(dir, 0750) != 0)
			return cli_fail(CMD, "cannot create %s: %s", dir, strerror(errno));
		cli_chown(dir, w->uid, w->gid);
	}
	struct fc_keystore *ks = cli_keystore_open(cfg, CMD);
	if (!ks)
		return CLI_FAIL;
	char fresh[INTERNAL_PASSWORD_LEN + 1], stored[128];
	int rc = CLI_OK;
	if (fc_random_alnum(fresh, INTERNAL_PASSWORD_LEN) != 0)
		rc = cli_fail(CMD, "no randomness available");
	else if (fc_ks_setting_ensure(ks, FC_SETTING_INTERNAL_PASSWORD, fresh, stored, sizeof stored) != FC_KS_OK)
		rc = cli_fail(CMD, "cannot store the internal MQTT password in %s", path);
	memset(fresh, 0, sizeof fresh);
	memset(stored, 0, sizeof stored);
	fc_keystore_close(ks);
	if (rc)
		return rc;
	if (cli_keystore_chown(path, w->uid, w->gid) != 0)
		return cli_fail(CMD, "cannot give %s to %s: %s", path, w->name, strerror(errno));
	report(existed ? "kept" : "created", path, existed ? NULL : "keystore with the internal MQTT password");
	return CLI_OK;
}

/* ---- Mosquitto files ---- */

/* Writes `text` to path unless it exists (keep=true) or already holds exactly that text. */
static int put_file(const char *path, const char *text, mode_t mode, bool keep, const struct owner *w,
		    const char *note)
{
	bool existed = cli_exists(path);
	const char *what = "created";
	if (existed && keep) {
		what = "kept";
	} else {
		char *old = NULL;
		size_t oldlen = 0;
		if (existed && cli_read_file(path, 1 << 20, &old, &oldlen) == 0 && oldlen == strlen(text) &&
		    memcmp(old, text, oldlen) == 0) {
			what = "kept";
		} else {
			if (cli_write_file(path, text, strlen(text), mode) != 0) {
				free(old);
				return cli_fail(CMD, "cannot write %s: %s", path, strerror(errno));
			}
			if (existed)
				what = "updated";
		}
		free(old);
	}
	if (cli_chown(path, w->uid, w->gid) != 0)
		return cli_fail(CMD, "cannot give %s to %s: %s", path, w->name, strerror(errno));
	report(what, path, strcmp(what, "kept") ? note : NULL);
	return CLI_OK;
}

/* DIR/mosquitto/passwd with the admin user; the new password goes to `password` ("" when kept). */
static int ensure_passwd(const struct init_opts *o, const char *path, const struct owner *w, char *password,
			 size_t pwlen)
{
	password[0] = '\0';
	if (cli_exists(path))
		return put_file(path, "", 0640, true, w, NULL);
	if (pwlen <= ADMIN_PASSWORD_LEN || fc_random_alnum(password, ADMIN_PASSWORD_LEN) != 0)
		return cli_fail(CMD, "no randomness available");
	char line[512];
	if (cli_mosq_passwd_line(o->admin_user, password, line, sizeof line) != 0)
		return cli_fail(CMD, "cannot hash the admin password");
	char note[128];
	snprintf(note, sizeof note, "user %s", o->admin_user);
	int rc = put_file(path, line, 0640, true, w, note);
	if (rc == CLI_OK && o->admin_password_file) {
		char pwline[ADMIN_PASSWORD_LEN + 2];
		snprintf(pwline, sizeof pwline, "%s\n", password);
		if (cli_write_file(o->admin_password_file, pwline, strlen(pwline), 0600) != 0)
			rc = cli_fail(CMD, "cannot write %s: %s", o->admin_password_file, strerror(errno));
		memset(pwline, 0, sizeof pwline);
	}
	return rc;
}

static int ensure_mosquitto(const struct init_opts *o, const struct fc_config *cfg, const char *dir,
			    const char *conf_path, const struct owner *w, char *password, size_t pwlen)
{
	char mdir[PATH_MAX], passwd[PATH_MAX], acl[PATH_MAX], mconf[PATH_MAX], plugin[PATH_MAX];
	if (cli_fmt(mdir, sizeof mdir, "%s/mosquitto", dir) || cli_fmt(passwd, sizeof passwd, "%s/passwd", mdir) ||
	    cli_fmt(acl, sizeof acl, "%s/acl", mdir) || cli_fmt(mconf, sizeof mconf, "%s/mosquitto.conf", dir))
		return cli_fail(CMD, "%s: path too long", dir);
	if (cli_mkdirs(mdir, 0750) != 0)
		return cli_fail(CMD, "cannot create %s: %s", mdir, strerror(errno));
	if (cli_chown(mdir, w->uid, w->gid) != 0)
		return cli_fail(CMD, "cannot give %s to %s: %s", mdir, w->name, strerror(errno));

	int rc = ensure_passwd(o, passwd, w, password, pwlen);
	if (rc)
		return rc;

	char *text = malloc(1 << 16);
	if (!text)
		return cli_fail(CMD, "out of memory");
	if (cli_mosq_acl_text(o->admin_user, passwd, acl, text, 1 << 16) != 0)
		rc = cli_fail(CMD, "cannot format %s", acl);
	else
		rc = put_file(acl, text, 0640, true, w, NULL);

	if (rc == CLI_OK) {
		resolve_plugin(o, plugin, sizeof plugin);
		if (!cli_exists(plugin))
			cli_warn(CMD, "plugin %s does not exist yet (build it, or pass --plugin PATH)", plugin);
		struct cli_mosq_conf m = {.dir = dir, .config_path = conf_path, .plugin = plugin, .user = w->name};
		if (cli_mosq_conf_text(cfg, &m, text, 1 << 16) != 0)
			rc = cli_fail(CMD, "cannot format %s", mconf);
		else
			rc = put_file(mconf, text, 0640, false, w, "regenerated from fakecloud.conf");
	}
	free(text);
	return rc;
}

/* ---- the command ---- */

/* Prints a newly created admin password, once. */
static void print_password(char *password, const char *dir)
{
	if (!password[0])
		return;
	printf("admin password: %s (shown once; stored hashed in %s/mosquitto/passwd)\n", password, dir);
	memset(password, 0, strlen(password));
}

static int open_dir(const struct init_opts *o, const struct owner *w, char *abs, size_t abslen)
{
	bool existed = cli_exists(o->dir);
	if (cli_mkdirs(o->dir, 0750) != 0)
		return cli_fail(CMD, "cannot create %s: %s", o->dir, strerror(errno));
	char *rp = realpath(o->dir, NULL);
	if (!rp)
		return cli_fail(CMD, "cannot resolve %s: %s", o->dir, strerror(errno));
	snprintf(abs, abslen, "%s", rp);
	free(rp);
	struct stat st;
	if (stat(abs, &st) != 0)
		return cli_fail(CMD, "cannot stat %s: %s", abs, strerror(errno));
	if (st.st_mode & S_IWOTH)
		return cli_fail(CMD, "refusing the world-writable directory %s: use a directory of its own", abs);
	if (cli_chown(abs, w->uid, w->gid) != 0)
		return cli_fail(CMD, "cannot give %s to %s: %s", abs, w->name, strerror(errno));
	printf("fakecloud init: %s (%s; files owned by %s)\n", abs, existed ? "existing" : "created", w->name);
	return CLI_OK;
}

int cmd_init(struct cli *c, int argc, char **argv)
{
	(void)c;
	char **sets = calloc((size_t)argc + 1, sizeof *sets);
	if (!sets)
		return cli_fail(CMD, "out of memory");
	struct init_opts o = {.dir = "./var", .admin_user = "admin", .sets = sets};
	struct fc_config *cfg = NULL;
	struct owner w;
	char dir[PATH_MAX] = "", conf_path[PATH_MAX + 32], password[ADMIN_PASSWORD_LEN + 1] = "";
	int rc = parse_opts(argc, argv, &o);
	if (rc == -1) {
		rc = CLI_OK; /* --help */
		goto out;
	}
	if (rc)
		goto out;
	/* Validate every --set on the defaults before anything is created. */
	bool unused = false;
	cfg = cli_config_defaults(NULL);
	rc = apply_sets(cfg, &o, &unused);
	cli_config_free(cfg);
	cfg = NULL;
	if (rc || (rc = resolve_owner(&o, &w)) || (rc = open_dir(&o, &w, dir, sizeof dir)))
		goto out;
	snprintf(conf_path, sizeof conf_path, "%s/fakecloud.conf", dir);
	if ((rc = ensure_config(&o, conf_path, &w, &cfg)) || (rc = ensure_keystore(cfg, &w)) ||
	    (rc = cli_certs_ensure(cfg, w.uid, w.gid, CMD, "  ")) ||
	    (rc = ensure_mosquitto(&o, cfg, dir, conf_path, &w, password, sizeof password)))
		goto out;

	print_password(password, dir);
	printf("next: mosquitto -c %s/mosquitto.conf\n", dir);
	if (geteuid() == 0)
		printf("      fakecloud-httpd --config %s --user %s\n", conf_path, w.name);
	else
		printf("      fakecloud-httpd --config %s\n", conf_path);
	char *used = realpath(c->config_path, NULL);
	if (!used || strcmp(used, conf_path) != 0)
		printf("      fakecloud --config %s <command>\n", conf_path);
	free(used);
out:
	print_password(password, dir); /* a later step failed: the password still exists in the file */
	memset(password, 0, sizeof password);
	cli_config_free(cfg);
	free(sets);
	return rc;
}
