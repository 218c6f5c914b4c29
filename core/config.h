/* fakecloud's configuration file, read by the broker plugin (path from `plugin_opt_config`),
 * fakecloud-httpd (--config) and the CLI (--config).
 *
 * Format (INI-like, bounded, line based):
 *     # comment            ; comment
 *     [section]
 *     key = value          (value runs to end of line, surrounding blanks trimmed; "double quotes"
 *                           optional and removed; no escapes)
 * Every key must be known: core keys are listed in config.c, vendor keys come from each vendor's
 * `config_keys` table (section = vendor name). A bad file fails with ONE line naming the file, line,
 * key and the problem, e.g.
 *     fakecloud.conf:12: http.https_port: '70000' is not a port (1-65535)
 */
#ifndef FC_CONFIG_H
#define FC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum fc_config_type { FC_CFG_STRING, FC_CFG_INT, FC_CFG_BOOL, FC_CFG_PORT, FC_CFG_PATH, FC_CFG_LIST };

struct fc_config_key {
	const char *section;   /* vendors use their own name as section */
	const char *key;
	enum fc_config_type type;
	const char *def;       /* default as text (NULL = empty/unset) */
	long min, max;         /* FC_CFG_INT bounds (ignored when min == max == 0) */
	const char *help;      /* one line, shown by `fakecloud config --help` and in docs */
};

#define FC_CONFIG_MAX_ENTRIES 256
#define FC_CONFIG_MAX_LINE 1024
#define FC_CONFIG_MAX_FILE (256 * 1024)

struct fc_config_entry {
	char section[32];
	char key[48];
	char value[FC_CONFIG_MAX_LINE];
	bool set;  /* given in the file (false: default) */
};

struct fc_config {
	char path[512];
	size_t n;
	struct fc_config_entry e[FC_CONFIG_MAX_ENTRIES];
	const struct fc_config_key *const *extra; /* NULL-terminated list of extra key tables (vendors) */
};

/* The core key table (NULL-key terminated). */
extern const struct fc_config_key fc_core_config_keys[];

/* Initialise with defaults for core keys and for every table in `extra` (NULL-terminated array of
 * NULL-key-terminated tables; may be NULL). */
void fc_config_init(struct fc_config *c, const struct fc_config_key *const *extra);
/* Parse text (bounded, not NUL-terminated needed). `name` is used in error messages. 0 or -1 with err. */
int fc_config_parse(struct fc_config *c, const char *name, const char *text, size_t len, char *err, size_t errlen);
/* Read and parse a file (at most FC_CONFIG_MAX_FILE bytes). */
int fc_config_load(struct fc_config *c, const char *path, char *err, size_t errlen);

/* Lookups (section, key). Unknown keys abort() in debug builds: they are programming errors. */
const char *fc_config_str(const struct fc_config *c, const char *section, const char *key);
long fc_config_int(const struct fc_config *c, const char *section, const char *key);
bool fc_config_bool(const struct fc_config *c, const char *section, const char *key);
bool fc_config_is_set(const struct fc_config *c, const char *section, const char *key);
/* Override a value programmatically (validated like the file). */
int fc_config_set(struct fc_config *c, const char *section, const char *key, const char *value, char *err,
		  size_t errlen);
/* Items of a FC_CFG_LIST key (comma-separated, blanks around items trimmed, empty items skipped) into
 * items[0..max). Returns the count, or -1 when the list has more than `max` items. A key that is not a
 * LIST key aborts like an unknown key. */
int fc_config_list(const struct fc_config *c, const char *section, const char *key, char items[][256], size_t max);

/* Write a commented default configuration (every known key with its help and default) to `out`. */
int fc_config_write_default(const struct fc_config *c, char *out, size_t outlen);

#endif
