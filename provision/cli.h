/* The `fakecloud` command line: shared pieces of the command files (option parsing, messages, config
 * and keystore access, small file helpers). Internal to provision/. */
#ifndef FC_CLI_H
#define FC_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "core/config.h"

struct fc_keystore;
struct fc_vendor;

/* Exit codes of every command. */
#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

#define CLI_DEFAULT_CONFIG "./var/fakecloud.conf"

/* Global options, resolved by main.c before a command runs. */
struct cli {
	const char *config_path; /* --config, else $FAKECLOUD_CONFIG, else ./var/fakecloud.conf */
	bool config_from_env;    /* chosen by $FAKECLOUD_CONFIG */
	bool config_given;       /* chosen by --config */
};

/* ---- commands (argv[0] is the command name) ---- */
int cmd_init(struct cli *c, int argc, char **argv);
int cmd_certs(struct cli *c, int argc, char **argv);
int cmd_device(struct cli *c, int argc, char **argv);
int cmd_provision(struct cli *c, int argc, char **argv);
int cmd_config(struct cli *c, int argc, char **argv);
int cmd_dns(struct cli *c, int argc, char **argv);

/* ---- messages ----
 * Every error is one line on stderr, prefixed "fakecloud <cmd>: ". */
/* Prints "fakecloud <cmd>: <message> (see 'fakecloud <cmd> --help')", returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "fakecloud <cmd>: <message>", returns CLI_FAIL. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "fakecloud <cmd>: warning: <message>". */
void cli_warn(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints each line of `text` (or `fallback` when text is NULL) prefixed by `prefix`. For vendor
 * usage strings, which are whole command lines ("fakecloud device add <vendor> ..."). */
void cli_print_lines(const char *prefix, const char *text, const char *fallback);
/* True when argv[1..] holds -h or --help before any "--" (arguments meant for a vendor hook). */
bool cli_wants_help(int argc, char **argv);

/* ---- option parsing ----
 * Long options only ("--name value" or "--name=value"), plus -h/--help everywhere. Options and
 * positionals may be mixed; "--" ends the options. */
struct cli_opt {
	const char *name; /* without the leading "--" */
	bool has_arg;
};

#define CLI_P_END (-1)  /* no more arguments */
#define CLI_P_POS (-2)  /* a positional argument, in p->arg */
#define CLI_P_HELP (-3) /* -h / --help */
#define CLI_P_ERR (-4)  /* usage error (already printed) */

struct cli_parse {
	const char *cmd; /* for messages: "init", "device rename" */
	int argc;
	char **argv;
	int i;
	bool only_pos;
	const char *arg; /* option value or positional */
};

void cli_parse_begin(struct cli_parse *p, const char *cmd, int argc, char **argv);
/* Index into opts (a {NULL} terminated table), or one of CLI_P_*. */
int cli_parse_next(struct cli_parse *p, const struct cli_opt *opts);

/* The usual loop over cli_parse_next: flags, options whose last value wins, a few positionals. */
#define CLI_ARGS_MAX_OPTS 8
#define CLI_ARGS_MAX_POS 4
struct cli_args {
	bool given[CLI_ARGS_MAX_OPTS];        /* opts[i] was given */
	const char *value[CLI_ARGS_MAX_OPTS]; /* its value, the last one given (options with has_arg) */
	const char *pos[CLI_ARGS_MAX_POS];
	size_t npos;
};
/* Parses argv (argv[0] = the command) against opts (at most CLI_ARGS_MAX_OPTS entries), taking up to
 * max_pos (<= CLI_ARGS_MAX_POS) positionals; one more is an "unexpected argument". Stops at the first
 * problem, in argument order. Returns CLI_OK to go on, CLI_USAGE after printing the error, or CLI_P_HELP
 * after help() printed the usage (the command then exits CLI_OK). */
int cli_parse_args(const char *cmd, int argc, char **argv, const struct cli_opt *opts, size_t max_pos,
		   void (*help)(void), struct cli_args *a);

/* ---- config and keystore ---- */
/* Loads the configuration chosen by the global options (core + vendor keys). NULL after printing
 * a one-line error (missing file: says how to create it). Free with cli_config_free. */
struct fc_config *cli_config_load(const struct cli *c, const char *cmd);
/* Defaults of core + vendor keys, without a file; `path` (may be NULL) anchors relative paths. */
struct fc_config *cli_config_defaults(const char *path);
void cli_config_free(struct fc_config *cfg);
/* Every key table of this build: core first, then each vendor's. NULL-terminated. */
const struct fc_config_key *const *cli_config_tables(void);
/* The vendor called `name` in this build; NULL after printing
 * "unknown vendor 'x' (known: a, b)" as a usage error. */
const struct fc_vendor *cli_vendor(const char *cmd, const char *name);
/* A vendor's usage lines for `fakecloud <form> <vendor> ...` (form: "device add", "provision"), each
 * prefixed; "fakecloud <form> <vendor> ..." when the vendor gives none. */
void cli_print_vendor_usage(const char *prefix, const char *form, const char *vendor, const char *usage);

/* Opens the keystore named by core.store. NULL after printing a one-line error. */
struct fc_keystore *cli_keystore_open(const struct fc_config *cfg, const char *cmd);
/* Closes it and, when running as root, gives the database files to the owner of their directory
 * (the broker's user after `fakecloud init`), so the broker can still write them. */
void cli_keystore_close(struct fc_keystore *ks, const struct fc_config *cfg);
/* chown of the database file and its -wal/-shm companions (those that exist). 0 or -1 with errno. */
int cli_keystore_chown(const char *path, long uid, long gid);

/* The configuration and the keystore it names, for commands that need both. */
struct cli_store {
	struct fc_config *cfg;
	struct fc_keystore *ks;
};
/* cli_config_load + cli_keystore_open: CLI_OK, or CLI_FAIL after printing a one-line error (then nothing
 * is left open). */
int cli_store_open(const struct cli *c, const char *cmd, struct cli_store *s);
/* cli_keystore_close + cli_config_free. */
void cli_store_close(struct cli_store *s);

/* When running as root: uid/gid owning the directory of the config file (the state directory), so
 * files written for the broker stay readable by it. Otherwise -1/-1. */
void cli_state_owner(const struct fc_config *cfg, long *uid, long *gid);

/* ---- files ---- */
/* Reads a whole file (at most max bytes) into a NUL-terminated malloc'd buffer. -1 with errno. */
int cli_read_file(const char *path, size_t max, char **data, size_t *len);
/* Writes atomically (temporary file in the same directory, fsync, rename) with `mode`. -1 with errno. */
int cli_write_file(const char *path, const void *data, size_t len, mode_t mode);
/* mkdir -p with `mode` for the directories it creates. -1 with errno. */
int cli_mkdirs(const char *path, mode_t mode);
/* snprintf that fails (-1, errno ENAMETOOLONG) instead of truncating; for building paths. */
int cli_fmt(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Directory part of path into out ("." when there is none). */
void cli_dirname(const char *path, char *out, size_t outlen);
bool cli_exists(const char *path);
/* chown when both ids are >= 0 and the file exists; -1 with errno on failure. */
int cli_chown(const char *path, long uid, long gid);

/* ---- certificates (cmd_certs.c) ---- */
/* fc_certs_ensure() for the [tls] section (creating the certificate directories, files owned by
 * uid/gid when >= 0); prints the report lines to stdout, each prefixed by `indent`. CLI_OK or
 * CLI_FAIL (message printed). */
int cli_certs_ensure(const struct fc_config *cfg, long uid, long gid, const char *cmd, const char *indent);

/* ---- Mosquitto's files (mosquitto_files.c) ---- */
/* Mosquitto 2.0's password_file line for user/password: "user:$7$101$<salt>$<hash>\n"
 * (PBKDF2-HMAC-SHA512, 101 iterations, 12-byte random salt, 64-byte hash, base64). 0 or -1. */
int cli_mosq_passwd_line(const char *user, const char *password, char *out, size_t outlen);
/* The initial acl_file: full access for the admin user, with comments on adding users. */
int cli_mosq_acl_text(const char *admin_user, const char *passwd_path, const char *acl_path, char *out,
		      size_t outlen);
struct cli_mosq_conf {
	const char *dir;         /* absolute state directory */
	const char *config_path; /* absolute fakecloud.conf */
	const char *plugin;      /* absolute fakecloud.so */
	const char *user;        /* broker user (privileges are dropped to it when started as root) */
};
/* The generated mosquitto.conf (listeners from the [mqtt] and [tls] sections). 0 or -1. */
int cli_mosq_conf_text(const struct fc_config *cfg, const struct cli_mosq_conf *m, char *out, size_t outlen);

/* ---- notification of the running broker (notify.c) ---- */
struct fc_cli;

struct cli_change {
	char vendor[32];
	char vid[128];
};

/* Best effort: tells the running broker that these devices changed in the keystore, by publishing
 * {"vendor":..,"vid":..} at QoS 1 on $fakecloud/internal/core/device-changed as fakecloud's internal
 * MQTT user (mqtt.host, mqtt.port). Prints one line about the outcome to stdout. 0 when every
 * notification was acknowledged, 1 otherwise (never fatal for a command). */
int cli_notify(const struct fc_config *cfg, struct fc_keystore *ks, const struct cli_change *ch, size_t n);

/* Runs a vendor CLI hook (device_add, provision) with argv[0] = the vendor name, then notifies the
 * broker of every device of that vendor the hook added, changed or removed. Returns the hook's exit
 * code. */
int cli_run_vendor_hook(struct fc_cli *cli, const char *vendor, int (*hook)(struct fc_cli *, int, char **),
			int argc, char **argv);

#endif
