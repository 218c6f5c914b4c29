/* Shared helpers of the command files: configuration and keystore access, small file utilities. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/keystore.h"
#include "core/vendor.h"
#include "provision/cli.h"

/* ---- options ---- */

int cli_parse_args(const char *cmd, int argc, char **argv, const struct cli_opt *opts, size_t max_pos,
		   void (*help)(void), struct cli_args *a)
{
	struct cli_parse p;
	memset(a, 0, sizeof *a);
	cli_parse_begin(&p, cmd, argc, argv);
	for (int k; (k = cli_parse_next(&p, opts)) != CLI_P_END;) {
		if (k == CLI_P_HELP) {
			help();
			return CLI_P_HELP;
		}
		if (k == CLI_P_ERR)
			return CLI_USAGE;
		if (k == CLI_P_POS) {
			if (a->npos >= max_pos || a->npos >= CLI_ARGS_MAX_POS)
				return cli_usage_error(cmd, "unexpected argument '%s'", p.arg);
			a->pos[a->npos++] = p.arg;
		} else if (k >= 0 && k < CLI_ARGS_MAX_OPTS) {
			a->given[k] = true;
			if (opts[k].has_arg)
				a->value[k] = p.arg;
		}
	}
	return CLI_OK;
}

/* ---- configuration ---- */

const struct fc_config_key *const *cli_config_tables(void)
{
	static const struct fc_config_key *tables[64];
	if (!tables[0]) {
		size_t n = 0;
		tables[n++] = fc_core_config_keys;
		const struct fc_config_key *const *extra = fc_vendor_config_tables(fc_vendors);
		for (size_t i = 0; extra && extra[i] && n + 1 < sizeof tables / sizeof tables[0]; i++)
			tables[n++] = extra[i];
		tables[n] = NULL;
	}
	return tables;
}

struct fc_config *cli_config_defaults(const char *path)
{
	struct fc_config *cfg = calloc(1, sizeof *cfg);
	if (!cfg) {
		fprintf(stderr, "fakecloud: out of memory\n");
		exit(CLI_FAIL);
	}
	fc_config_init(cfg, fc_vendor_config_tables(fc_vendors));
	if (path)
		snprintf(cfg->path, sizeof cfg->path, "%s", path);
	return cfg;
}

struct fc_config *cli_config_load(const struct cli *c, const char *cmd)
{
	struct stat st;
	if (stat(c->config_path, &st) != 0) {
		int e = errno;
		const char *why = c->config_given ? "given by --config"
				  : c->config_from_env ? "from $FAKECLOUD_CONFIG"
						       : "the default";
		if (e == ENOENT)
			cli_fail(cmd, "no configuration at %s (%s); create one with 'fakecloud init' or pass --config FILE",
				 c->config_path, why);
		else
			cli_fail(cmd, "cannot read %s: %s", c->config_path, strerror(e));
		return NULL;
	}
	struct fc_config *cfg = cli_config_defaults(NULL);
	char err[512] = "";
	if (fc_config_load(cfg, c->config_path, err, sizeof err) != 0) {
		cli_fail(cmd, "%s", err[0] ? err : "invalid configuration");
		free(cfg);
		return NULL;
	}
	return cfg;
}

void cli_config_free(struct fc_config *cfg) { free(cfg); }

const struct fc_vendor *cli_vendor(const char *cmd, const char *name)
{
	const struct fc_vendor *v = fc_vendor_find(fc_vendors, name);
	if (v)
		return v;
	/* "<vendor>-<kind>" (e.g. meross-account) goes to <vendor>'s hooks, which see the whole word. */
	const char *dash = strchr(name, '-');
	if (dash && (size_t)(dash - name) < 32) {
		char prefix[32];
		memcpy(prefix, name, (size_t)(dash - name));
		prefix[dash - name] = 0;
		if ((v = fc_vendor_find(fc_vendors, prefix)))
			return v;
	}
	char known[512] = "";
	size_t len = 0;
	for (size_t i = 0; fc_vendors[i] && len < sizeof known; i++) {
		int w = snprintf(known + len, sizeof known - len, "%s%s", i ? ", " : "", fc_vendors[i]->name);
		if (w > 0)
			len += (size_t)w;
	}
	cli_usage_error(cmd, "unknown vendor '%s' (known: %s)", name, known[0] ? known : "none");
	return NULL;
}

void cli_print_vendor_usage(const char *prefix, const char *form, const char *vendor, const char *usage)
{
	char fallback[96];
	snprintf(fallback, sizeof fallback, "fakecloud %s %s ...", form, vendor);
	cli_print_lines(prefix, usage, fallback);
}

/* ---- keystore ---- */

struct fc_keystore *cli_keystore_open(const struct fc_config *cfg, const char *cmd)
{
	const char *path = fc_config_str(cfg, "core", "store");
	if (!path[0]) {
		cli_fail(cmd, "core.store is empty: no keystore");
		return NULL;
	}
	char err[512] = "";
	struct fc_keystore *ks = fc_keystore_open(path, err, sizeof err);
	if (!ks)
		cli_fail(cmd, "cannot open keystore %s: %s", path, err[0] ? err : "unknown error");
	return ks;
}

int cli_keystore_chown(const char *path, long uid, long gid)
{
	static const char *const suffix[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < 3; i++) {
		char f[PATH_MAX];
		if (cli_fmt(f, sizeof f, "%s%s", path, suffix[i]) != 0 || cli_chown(f, uid, gid) != 0)
			return -1;
	}
	return 0;
}

void cli_keystore_close(struct fc_keystore *ks, const struct fc_config *cfg)
{
	if (!ks)
		return;
	fc_keystore_close(ks);
	if (geteuid() != 0)
		return;
	const char *path = fc_config_str(cfg, "core", "store");
	char dir[PATH_MAX];
	struct stat st;
	cli_dirname(path, dir, sizeof dir);
	if (stat(dir, &st) == 0)
		cli_keystore_chown(path, (long)st.st_uid, (long)st.st_gid);
}

int cli_store_open(const struct cli *c, const char *cmd, struct cli_store *s)
{
	s->ks = NULL;
	s->cfg = cli_config_load(c, cmd);
	if (!s->cfg)
		return CLI_FAIL;
	s->ks = cli_keystore_open(s->cfg, cmd);
	if (!s->ks) {
		cli_config_free(s->cfg);
		return CLI_FAIL;
	}
	return CLI_OK;
}

void cli_store_close(struct cli_store *s)
{
	cli_keystore_close(s->ks, s->cfg);
	cli_config_free(s->cfg);
}

void cli_state_owner(const struct fc_config *cfg, long *uid, long *gid)
{
	*uid = *gid = -1;
	if (geteuid() != 0)
		return;
	char dir[PATH_MAX];
	cli_dirname(cfg->path[0] ? cfg->path : "./x", dir, sizeof dir);
	struct stat st;
	if (stat(dir, &st) == 0) {
		*uid = (long)st.st_uid;
		*gid = (long)st.st_gid;
	}
}

/* ---- files ---- */

int cli_read_file(const char *path, size_t max, char **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	if (!buf) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	for (;;) {
		if (n == cap) {
			if (cap >= max) {
				free(buf);
				close(fd);
				errno = EFBIG;
				return -1;
			}
			cap = cap * 2 > max ? max : cap * 2;
			char *nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				close(fd);
				errno = ENOMEM;
				return -1;
			}
			buf = nb;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(buf);
			close(fd);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return 0;
}

int cli_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = mkstemp(tmp);
	if (fd < 0)
		return -1;
	int e = 0;
	if (fchmod(fd, mode) != 0)
		e = errno;
	const char *p = data;
	size_t left = len;
	while (!e && left) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			e = errno;
			break;
		}
		p += w;
		left -= (size_t)w;
	}
	if (!e && fsync(fd) != 0)
		e = errno;
	if (close(fd) != 0 && !e)
		e = errno;
	if (!e && rename(tmp, path) != 0)
		e = errno;
	if (e) {
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

int cli_mkdirs(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	size_t n = strlen(buf);
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';
	for (char *s = buf + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return -1;
		*s = c;
		if (!c)
			break;
	}
	struct stat st;
	if (stat(buf, &st) != 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

int cli_fmt(char *out, size_t outlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, outlen, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

void cli_dirname(const char *path, char *out, size_t outlen)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(out, outlen, ".");
	else if (slash == path)
		snprintf(out, outlen, "/");
	else
		snprintf(out, outlen, "%.*s", (int)(slash - path), path);
}

bool cli_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

int cli_chown(const char *path, long uid, long gid)
{
	if (uid < 0 || gid < 0)
		return 0;
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	if (st.st_uid == (uid_t)uid && st.st_gid == (gid_t)gid)
		return 0;
	return lchown(path, (uid_t)uid, (gid_t)gid); /* never follows a link planted in the directory */
}
