/* fakecloud's configuration: see config.h.
 *
 * The parser works on (pointer, length), line by line, with every line bounded by FC_CONFIG_MAX_LINE.
 * A parse works on a copy of the configuration that replaces the caller's only when the whole text is
 * valid, so a bad file (or a bad reload) never leaves a half-applied configuration behind. */
#include "core/config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define LIST_ITEM_MAX 256 /* including the NUL, as in fc_config_list's items[][256] */

/* ---- key tables ------------------------------------------------------------------------------------ */

/* Calls fn for every key of the core table and of each extra table, in order; stops when fn returns
 * non-zero and returns that value. */
static int each_key(const struct fc_config_key *const *extra, int (*fn)(void *ctx, const struct fc_config_key *k),
		    void *ctx)
{
	for (const struct fc_config_key *k = fc_core_config_keys; k->key; k++) {
		int r = fn(ctx, k);
		if (r)
			return r;
	}
	for (size_t t = 0; extra && extra[t]; t++) {
		for (const struct fc_config_key *k = extra[t]; k->key; k++) {
			int r = fn(ctx, k);
			if (r)
				return r;
		}
	}
	return 0;
}

struct key_query {
	const char *section, *key;
	const struct fc_config_key *found;
};

static int match_key(void *ctx, const struct fc_config_key *k)
{
	struct key_query *q = ctx;
	if (strcmp(k->section, q->section) != 0 || (q->key && strcmp(k->key, q->key) != 0))
		return 0;
	q->found = k;
	return 1;
}

/* The definition of section.key (key NULL: any key of that section), or NULL. */
static const struct fc_config_key *find_def(const struct fc_config *c, const char *section, const char *key)
{
	struct key_query q = {section, key, NULL};
	each_key(c->extra, match_key, &q);
	return q.found;
}

static int find_entry(const struct fc_config *c, const char *section, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->e[i].section, section) == 0 && strcmp(c->e[i].key, key) == 0)
			return (int)i;
	return -1;
}

/* Programming errors (a lookup of a key no table declares, a broken key table) stop the process. */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("fakecloud config: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

static const struct fc_config_entry *lookup(const struct fc_config *c, const char *section, const char *key,
					    const struct fc_config_key **def)
{
	int i = (section && key) ? find_entry(c, section, key) : -1;
	if (i < 0)
		die("unknown key %s.%s", section ? section : "(null)", key ? key : "(null)");
	*def = find_def(c, section, key);
	if (!*def)
		die("key %s.%s has no definition", section, key);
	return &c->e[i];
}

/* ---- values ---------------------------------------------------------------------------------------- */

/* A value quoted in an error message: at most 64 bytes, non-printable bytes shown as '?'. */
static void show_value(const char *v, char *out, size_t cap)
{
	size_t n = 0, len = strlen(v);
	const size_t max = 64;
	for (size_t i = 0; i < len && i < max && n + 1 < cap; i++) {
		unsigned char ch = (unsigned char)v[i];
		out[n++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	out[n] = '\0';
	if (len > max && n + 4 < cap)
		strcpy(out + n, "...");
}

static bool parse_long(const char *s, long *out)
{
	if (!s[0] || s[0] == ' ' || s[0] == '\t') /* strtol would skip leading blanks */
		return false;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end != '\0' || end == s)
		return false;
	*out = v;
	return true;
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* Directory that relative paths are resolved against: that of the config file if one was loaded,
 * else the current directory. "" when neither is known. */
static void base_dir(const struct fc_config *c, char *out, size_t cap)
{
	out[0] = '\0';
	if (c->path[0]) {
		const char *slash = strrchr(c->path, '/');
		if (slash) {
			size_t n = (size_t)(slash - c->path);
			if (n == 0)
				n = 1; /* "/fakecloud.conf" -> "/" */
			if (n < cap) {
				memcpy(out, c->path, n);
				out[n] = '\0';
			}
			return;
		}
	}
	if (!getcwd(out, cap))
		out[0] = '\0';
}

/* Relative path `v` resolved against `base` ("" base: left as is). -1 when it does not fit. */
static int resolve_path(const char *base, const char *v, char *out, size_t cap)
{
	int n;
	if (v[0] == '/' || v[0] == '\0' || base[0] == '\0') {
		n = snprintf(out, cap, "%s", v);
	} else {
		while (v[0] == '.' && v[1] == '/') {
			v += 2;
			while (*v == '/')
				v++;
		}
		if (strcmp(v, ".") == 0 || v[0] == '\0')
			n = snprintf(out, cap, "%s", base);
		else
			n = snprintf(out, cap, "%s%s%s", base, base[strlen(base) - 1] == '/' ? "" : "/", v);
	}
	return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

/* The longest value that still writes back as one line `key = "value"` (see fc_config_write_default). */
static size_t value_max(const struct fc_config_key *k)
{
	return FC_CONFIG_MAX_LINE - strlen(k->key) - 5;
}

/* Validates `v` for key k and writes the value to store (canonical for INT/BOOL/PORT, resolved for
 * PATH, as given otherwise) into out. On failure returns -1 with the problem in `problem`. */
static int check_value(const struct fc_config_key *k, const char *v, const char *base, char *out, size_t cap,
		       char *problem, size_t plen)
{
	char shown[80];
	long n;
	bool b;
	show_value(v, shown, sizeof shown);
	for (const char *p = v; *p; p++) {
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f) {
			snprintf(problem, plen, "control character 0x%02x in value", (unsigned char)*p);
			return -1;
		}
	}
	switch (k->type) {
	case FC_CFG_INT:
		if (!parse_long(v, &n)) {
			snprintf(problem, plen, "'%s' is not an integer", shown);
			return -1;
		}
		if ((k->min || k->max) && (n < k->min || n > k->max)) {
			snprintf(problem, plen, "'%s' is out of range (%ld-%ld)", shown, k->min, k->max);
			return -1;
		}
		snprintf(out, cap, "%ld", n);
		return 0;
	case FC_CFG_PORT:
		if (!parse_long(v, &n) || n < 1 || n > 65535) {
			snprintf(problem, plen, "'%s' is not a port (1-65535)", shown);
			return -1;
		}
		snprintf(out, cap, "%ld", n);
		return 0;
	case FC_CFG_BOOL:
		if (!parse_bool(v, &b)) {
			snprintf(problem, plen, "'%s' is not a boolean (true/false, yes/no, on/off, 1/0)", shown);
			return -1;
		}
		snprintf(out, cap, "%s", b ? "true" : "false");
		return 0;
	case FC_CFG_PATH:
		if (resolve_path(base, v, out, cap) || strlen(out) > value_max(k)) {
			snprintf(problem, plen, "path too long (at most %zu bytes once resolved)", value_max(k));
			return -1;
		}
		return 0;
	case FC_CFG_LIST:
		for (const char *p = v; *p;) {
			const char *comma = strchr(p, ',');
			size_t len = comma ? (size_t)(comma - p) : strlen(p);
			const char *a = p, *z = p + len;
			while (a < z && (*a == ' ' || *a == '\t'))
				a++;
			while (z > a && (z[-1] == ' ' || z[-1] == '\t'))
				z--;
			if ((size_t)(z - a) >= LIST_ITEM_MAX) {
				snprintf(problem, plen, "list item longer than %d bytes", LIST_ITEM_MAX - 1);
				return -1;
			}
			p = comma ? comma + 1 : p + len;
		}
		break;
	case FC_CFG_STRING:
		break;
	default:
		snprintf(problem, plen, "key has an unknown type");
		return -1;
	}
	if (strlen(v) > value_max(k) || strlen(v) >= cap) {
		snprintf(problem, plen, "value too long (at most %zu bytes)", value_max(k));
		return -1;
	}
	snprintf(out, cap, "%s", v);
	return 0;
}

/* ---- init ------------------------------------------------------------------------------------------ */

struct init_ctx {
	struct fc_config *c;
	char base[sizeof ((struct fc_config *)0)->path];
};

static int add_default(void *ctx, const struct fc_config_key *k)
{
	struct init_ctx *ic = ctx;
	struct fc_config *c = ic->c;
	struct fc_config_entry *e;
	char problem[256];

	if (!k->section || strlen(k->section) >= sizeof e->section || strlen(k->key) >= sizeof e->key)
		die("key %s.%s: section or key name too long", k->section ? k->section : "(null)", k->key);
	if (find_entry(c, k->section, k->key) >= 0)
		die("key %s.%s is declared twice", k->section, k->key);
	if (c->n >= FC_CONFIG_MAX_ENTRIES)
		die("more than %d keys", FC_CONFIG_MAX_ENTRIES);
	e = &c->e[c->n];
	memset(e, 0, sizeof *e);
	snprintf(e->section, sizeof e->section, "%s", k->section);
	snprintf(e->key, sizeof e->key, "%s", k->key);
	if (check_value(k, k->def ? k->def : "", ic->base, e->value, sizeof e->value, problem, sizeof problem))
		die("default of %s.%s: %s", k->section, k->key, problem);
	c->n++;
	return 0;
}

void fc_config_init(struct fc_config *c, const struct fc_config_key *const *extra)
{
	struct init_ctx ic = {c, ""};
	memset(c, 0, sizeof *c);
	c->extra = extra;
	base_dir(c, ic.base, sizeof ic.base);
	each_key(extra, add_default, &ic);
}

/* Re-resolves the defaults of PATH keys that the file did not set (after c->path changed). */
static void resolve_default_paths(struct fc_config *c)
{
	char base[sizeof c->path];
	base_dir(c, base, sizeof base);
	for (size_t i = 0; i < c->n; i++) {
		struct fc_config_entry *e = &c->e[i];
		const struct fc_config_key *k = find_def(c, e->section, e->key);
		char value[sizeof e->value], problem[256];
		if (!e->set && k && k->type == FC_CFG_PATH &&
		    check_value(k, k->def ? k->def : "", base, value, sizeof value, problem, sizeof problem) == 0)
			memcpy(e->value, value, sizeof value);
	}
}

/* ---- parse ----------------------------------------------------------------------------------------- */

struct parser {
	struct fc_config *c;
	const char *name;
	unsigned line;
	char *err;
	size_t errlen;
	char base[sizeof ((struct fc_config *)0)->path];
	char section[sizeof ((struct fc_config_entry *)0)->section];
	bool in_section;
	unsigned first_line[FC_CONFIG_MAX_ENTRIES]; /* where each key was set in this text (duplicates) */
};

static int perr(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(struct parser *ps, const char *fmt, ...)
{
	char problem[FC_CONFIG_MAX_LINE + 256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(problem, sizeof problem, fmt, ap);
	va_end(ap);
	if (ps->err && ps->errlen)
		snprintf(ps->err, ps->errlen, "%s:%u: %s", ps->name, ps->line, problem);
	return -1;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* Trims blanks around [*a, *z). */
static void trim(const char **a, const char **z)
{
	while (*a < *z && is_blank(**a))
		(*a)++;
	while (*z > *a && is_blank((*z)[-1]))
		(*z)--;
}

static int parse_section(struct parser *ps, const char *a, const char *z)
{
	const char *close = memchr(a, ']', (size_t)(z - a));
	if (!close)
		return perr(ps, "missing ']' in section header");
	const char *rest = close + 1, *rest_end = z;
	trim(&rest, &rest_end);
	if (rest < rest_end && *rest != '#' && *rest != ';')
		return perr(ps, "unexpected text after section header");
	const char *na = a + 1, *nz = close;
	trim(&na, &nz);
	size_t len = (size_t)(nz - na);
	if (len == 0)
		return perr(ps, "empty section name");
	char name[FC_CONFIG_MAX_LINE + 1];
	memcpy(name, na, len);
	name[len] = '\0';
	char shown[80];
	show_value(name, shown, sizeof shown);
	if (len >= sizeof ps->section || !find_def(ps->c, name, NULL))
		return perr(ps, "unknown section '%s'", shown);
	memcpy(ps->section, name, len + 1);
	ps->in_section = true;
	return 0;
}

static int parse_assignment(struct parser *ps, const char *a, const char *z)
{
	const char *eq = memchr(a, '=', (size_t)(z - a));
	if (!eq)
		return perr(ps, "expected 'key = value', a [section] or a comment");
	const char *ka = a, *kz = eq, *va = eq + 1, *vz = z;
	trim(&ka, &kz);
	trim(&va, &vz);
	if (ka == kz)
		return perr(ps, "missing key before '='");

	char key[FC_CONFIG_MAX_LINE + 1], value[FC_CONFIG_MAX_LINE + 1], shown[80];
	memcpy(key, ka, (size_t)(kz - ka));
	key[kz - ka] = '\0';
	show_value(key, shown, sizeof shown);
	if (!ps->in_section)
		return perr(ps, "key '%s' before any [section]", shown);
	int i = strlen(key) < sizeof ps->c->e[0].key ? find_entry(ps->c, ps->section, key) : -1;
	if (i < 0)
		return perr(ps, "%s.%s: unknown key", ps->section, shown);
	if (ps->first_line[i])
		return perr(ps, "%s.%s: duplicate key (first set on line %u)", ps->section, key, ps->first_line[i]);

	if (va < vz && *va == '"') {
		if (vz - va < 2 || vz[-1] != '"')
			return perr(ps, "%s.%s: unbalanced double quote", ps->section, key);
		va++;
		vz--;
	}
	memcpy(value, va, (size_t)(vz - va));
	value[vz - va] = '\0';

	struct fc_config_entry *e = &ps->c->e[i];
	const struct fc_config_key *k = find_def(ps->c, ps->section, key);
	char problem[256];
	if (!k || check_value(k, value, ps->base, e->value, sizeof e->value, problem, sizeof problem))
		return perr(ps, "%s.%s: %s", ps->section, key, k ? problem : "no definition");
	e->set = true;
	ps->first_line[i] = ps->line;
	return 0;
}

/* One line without its terminator: length and content already checked. */
static int parse_line(struct parser *ps, const char *a, const char *z)
{
	trim(&a, &z);
	if (a == z || *a == '#' || *a == ';')
		return 0;
	if (*a == '[')
		return parse_section(ps, a, z);
	return parse_assignment(ps, a, z);
}

static int parse_text(struct parser *ps, const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) /* UTF-8 byte order mark */
		p += 3;
	while (p < end) {
		ps->line++;
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		if (le > p && le[-1] == '\r')
			le--;
		if (le - p > FC_CONFIG_MAX_LINE)
			return perr(ps, "line too long (more than %d bytes)", FC_CONFIG_MAX_LINE);
		for (const char *q = p; q < le; q++) {
			unsigned char ch = (unsigned char)*q;
			if (ch == '\0')
				return perr(ps, "NUL byte in line");
			if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
				return perr(ps, "control character 0x%02x in line", ch);
		}
		if (parse_line(ps, p, le))
			return -1;
		p = nl ? nl + 1 : end;
	}
	return 0;
}

/* Parses into a copy of c (with `path` as the new config file when given) and commits on success. */
static int parse_commit(struct fc_config *c, const char *path, const char *name, const char *text, size_t len,
			char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!name)
		name = "(config)";
	if (!text && len) {
		if (err && errlen)
			snprintf(err, errlen, "%s: no text", name);
		return -1;
	}
	if (len > FC_CONFIG_MAX_FILE) {
		if (err && errlen)
			snprintf(err, errlen, "%s: larger than %d bytes", name, FC_CONFIG_MAX_FILE);
		return -1;
	}
	struct fc_config *tmp = malloc(sizeof *tmp);
	struct parser *ps = calloc(1, sizeof *ps);
	int rc = -1;
	if (!tmp || !ps) {
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory", name);
		goto out;
	}
	memcpy(tmp, c, sizeof *tmp);
	if (path) {
		snprintf(tmp->path, sizeof tmp->path, "%s", path);
		resolve_default_paths(tmp);
	}
	ps->c = tmp;
	ps->name = name;
	ps->err = err;
	ps->errlen = errlen;
	base_dir(tmp, ps->base, sizeof ps->base);
	rc = parse_text(ps, text, len);
	if (rc == 0)
		memcpy(c, tmp, sizeof *c);
out:
	free(tmp);
	free(ps);
	return rc;
}

int fc_config_parse(struct fc_config *c, const char *name, const char *text, size_t len, char *err, size_t errlen)
{
	return parse_commit(c, NULL, name, text, len, err, errlen);
}

int fc_config_load(struct fc_config *c, const char *path, char *err, size_t errlen)
{
	char abs[sizeof c->path];
	if (err && errlen)
		err[0] = '\0';
	if (!path || !path[0]) {
		if (err && errlen)
			snprintf(err, errlen, "(config): no path given");
		return -1;
	}
	/* Keep the file's absolute path so relative values still resolve after a chdir. */
	char cwd[sizeof c->path];
	if (path[0] == '/' || !getcwd(cwd, sizeof cwd))
		cwd[0] = '\0';
	if (resolve_path(cwd, path, abs, sizeof abs)) {
		if (err && errlen)
			snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}

	FILE *f = fopen(path, "rb");
	if (!f) {
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	struct stat sb;
	if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
		if (err && errlen)
			snprintf(err, errlen, "%s: not a regular file", path);
		fclose(f);
		return -1;
	}
	char *buf = malloc(FC_CONFIG_MAX_FILE + 1);
	if (!buf) {
		fclose(f);
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	size_t n = fread(buf, 1, FC_CONFIG_MAX_FILE + 1, f);
	int read_error = ferror(f);
	fclose(f);
	int rc;
	if (read_error) {
		if (err && errlen)
			snprintf(err, errlen, "%s: read error", path);
		rc = -1;
	} else {
		rc = parse_commit(c, abs, path, buf, n, err, errlen);
	}
	free(buf);
	return rc;
}

/* ---- lookups --------------------------------------------------------------------------------------- */

const char *fc_config_str(const struct fc_config *c, const char *section, const char *key)
{
	const struct fc_config_key *k;
	return lookup(c, section, key, &k)->value;
}

long fc_config_int(const struct fc_config *c, const char *section, const char *key)
{
	const struct fc_config_key *k;
	const struct fc_config_entry *e = lookup(c, section, key, &k);
	long v;
	if (k->type != FC_CFG_INT && k->type != FC_CFG_PORT)
		die("fc_config_int of %s.%s, which is not an integer key", section, key);
	if (!parse_long(e->value, &v))
		die("%s.%s holds '%s', not an integer", section, key, e->value);
	return v;
}

bool fc_config_bool(const struct fc_config *c, const char *section, const char *key)
{
	const struct fc_config_key *k;
	const struct fc_config_entry *e = lookup(c, section, key, &k);
	bool v;
	if (k->type != FC_CFG_BOOL)
		die("fc_config_bool of %s.%s, which is not a boolean key", section, key);
	if (!parse_bool(e->value, &v))
		die("%s.%s holds '%s', not a boolean", section, key, e->value);
	return v;
}

bool fc_config_is_set(const struct fc_config *c, const char *section, const char *key)
{
	const struct fc_config_key *k;
	return lookup(c, section, key, &k)->set;
}

int fc_config_list(const struct fc_config *c, const char *section, const char *key, char items[][256], size_t max)
{
	const struct fc_config_key *k;
	const struct fc_config_entry *e = lookup(c, section, key, &k);
	if (k->type != FC_CFG_LIST)
		die("fc_config_list of %s.%s, which is not a list key", section, key);
	size_t n = 0;
	for (const char *p = e->value; *p;) {
		const char *comma = strchr(p, ',');
		const char *a = p, *z = comma ? comma : p + strlen(p);
		p = comma ? comma + 1 : z;
		trim(&a, &z);
		if (a == z)
			continue; /* "a,,b" and a trailing comma are harmless */
		if (n == max)
			return -1;
		size_t len = (size_t)(z - a);
		if (len >= LIST_ITEM_MAX)
			len = LIST_ITEM_MAX - 1; /* cannot happen: checked when the value was set */
		memcpy(items[n], a, len);
		items[n][len] = '\0';
		n++;
	}
	return (int)n;
}

int fc_config_set(struct fc_config *c, const char *section, const char *key, const char *value, char *err,
		  size_t errlen)
{
	char problem[256], base[sizeof c->path], shown[80];
	if (err && errlen)
		err[0] = '\0';
	int i = (section && key) ? find_entry(c, section, key) : -1;
	const struct fc_config_key *k = i >= 0 ? find_def(c, section, key) : NULL;
	if (!k) {
		show_value(key ? key : "(null)", shown, sizeof shown);
		if (err && errlen)
			snprintf(err, errlen, "%s.%s: unknown key", section ? section : "(null)", shown);
		return -1;
	}
	struct fc_config_entry *e = &c->e[i];
	char stored[sizeof e->value];
	base_dir(c, base, sizeof base);
	if (check_value(k, value ? value : "", base, stored, sizeof stored, problem, sizeof problem)) {
		if (err && errlen)
			snprintf(err, errlen, "%s.%s: %s", section, key, problem);
		return -1;
	}
	memcpy(e->value, stored, sizeof stored);
	e->set = true;
	return 0;
}

/* ---- writing --------------------------------------------------------------------------------------- */

struct writer {
	const struct fc_config *c;
	char *out;
	size_t cap, len;
	bool overflow;
};

static void wr(struct writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wr(struct writer *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(w->out + w->len, w->len < w->cap ? w->cap - w->len : 0, fmt, ap);
	va_end(ap);
	if (n < 0 || w->len + (size_t)n >= w->cap)
		w->overflow = true;
	else
		w->len += (size_t)n;
}

/* Writes one section (the first time one of its keys is met): its header and all its keys. */
static int write_section(void *ctx, const struct fc_config_key *first)
{
	struct writer *w = ctx;
	struct key_query q = {first->section, NULL, NULL};
	each_key(w->c->extra, match_key, &q);
	if (q.found != first)
		return 0; /* not the section's first key: already written */
	wr(w, "%s[%s]\n", w->len ? "\n" : "", first->section);
	for (size_t i = 0; i < w->c->n; i++) {
		const struct fc_config_entry *e = &w->c->e[i];
		if (strcmp(e->section, first->section) != 0)
			continue;
		const struct fc_config_key *k = find_def(w->c, e->section, e->key);
		/* Unset PATH keys keep their relative default so the file resolves next to itself. */
		const char *v = (!e->set && k && k->type == FC_CFG_PATH) ? (k->def ? k->def : "") : e->value;
		size_t vl = strlen(v);
		bool quote = vl && (v[0] == '"' || is_blank(v[0]) || is_blank(v[vl - 1]));
		if (k && k->help)
			wr(w, "# %s\n", k->help);
		wr(w, "%s = %s%s%s\n", e->key, quote ? "\"" : "", v, quote ? "\"" : "");
	}
	return w->overflow ? -1 : 0;
}

int fc_config_write_default(const struct fc_config *c, char *out, size_t outlen)
{
	struct writer w = {c, out, outlen, 0, false};
	if (!out || !outlen)
		return -1;
	out[0] = '\0';
	wr(&w, "# fakecloud configuration. Relative paths are relative to this file's directory.\n");
	each_key(c->extra, write_section, &w);
	if (w.overflow) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}
