/* `fakecloud`: the command line. This file is the dispatcher: global options, the command table,
 * messages and option parsing shared by the command files. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "core/vendor.h"
#include "provision/cli.h"

struct cli_cmd {
	const char *name;
	const char *summary;
	int (*run)(struct cli *c, int argc, char **argv);
};

static int cmd_version(struct cli *c, int argc, char **argv);

static const struct cli_cmd commands[] = {
	{"init", "create or update the state directory (config, keystore, certificates, Mosquitto files)",
	 cmd_init},
	{"certs", "create the CA and server certificate if needed; --show describes them", cmd_certs},
	{"device", "list, add, remove, rename devices; export their keys (admin only)", cmd_device},
	{"provision", "re-home a device to fakecloud (vendor specific)", cmd_provision},
	{"config", "print the effective configuration, or the defaults", cmd_config},
	{"dns", "print a dnsmasq snippet pointing vendor cloud host names at fakecloud", cmd_dns},
	{"version", "print the version and the vendors of this build", cmd_version},
	{NULL, NULL, NULL},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: fakecloud [--config FILE] <command> [options]\n"
		   "\n"
		   "fakecloud impersonates IoT vendor clouds so appliances run offline; this tool manages its\n"
		   "state directory, certificates and devices.\n"
		   "\n"
		   "Global options:\n"
		   "  --config FILE   configuration file (default: $FAKECLOUD_CONFIG, else %s)\n"
		   "  -h, --help      this help; every command also has --help\n"
		   "  --version       same as 'fakecloud version'\n"
		   "\n"
		   "Commands:\n",
		CLI_DEFAULT_CONFIG);
	for (const struct cli_cmd *k = commands; k->name; k++)
		fprintf(f, "  %-10s %s\n", k->name, k->summary);
	fprintf(f, "\n"
		   "Exit status: 0 success, 1 failure, 2 usage error.\n");
}

static int cmd_version(struct cli *c, int argc, char **argv)
{
	(void)c;
	struct cli_parse p;
	cli_parse_begin(&p, "version", argc, argv);
	for (int o; (o = cli_parse_next(&p, (const struct cli_opt[]){{NULL, false}})) != CLI_P_END;) {
		if (o == CLI_P_HELP) {
			printf("usage: fakecloud version\n\nPrints the version and the vendors built in.\n");
			return CLI_OK;
		}
		if (o == CLI_P_ERR)
			return CLI_USAGE;
		return cli_usage_error("version", "unexpected argument '%s'", p.arg);
	}
	printf("fakecloud %s\nvendors:", FC_VERSION);
	for (size_t i = 0; fc_vendors[i]; i++)
		printf(" %s", fc_vendors[i]->name);
	printf("%s\n", fc_vendors[0] ? "" : " (none in this build)");
	return CLI_OK;
}

int main(int argc, char **argv)
{
	struct cli c = {0};
	const char *env = getenv("FAKECLOUD_CONFIG");
	if (env && *env) {
		c.config_path = env;
		c.config_from_env = true;
	} else {
		c.config_path = CLI_DEFAULT_CONFIG;
	}
	/* Files written by any command are private to the state directory's owner and group. */
	umask(027);
	/* Library chatter (schema upgrades...) is for the daemons' logs; commands report for themselves. */
	fc_log_set_level(FC_LOG_WARN);

	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return CLI_OK;
		} else if (!strcmp(a, "--version")) {
			return cmd_version(&c, 1, (char *[]){"version", NULL});
		} else if (!strcmp(a, "--config")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "fakecloud: --config needs a FILE (see 'fakecloud --help')\n");
				return CLI_USAGE;
			}
			c.config_path = argv[++i];
			c.config_given = true;
		} else if (!strncmp(a, "--config=", 9)) {
			c.config_path = a + 9;
			c.config_given = true;
		} else {
			fprintf(stderr, "fakecloud: unknown option '%s' (see 'fakecloud --help')\n", a);
			return CLI_USAGE;
		}
		if (!*c.config_path) {
			fprintf(stderr, "fakecloud: --config needs a FILE (see 'fakecloud --help')\n");
			return CLI_USAGE;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "fakecloud: missing command (see 'fakecloud --help')\n");
		return CLI_USAGE;
	}
	for (const struct cli_cmd *k = commands; k->name; k++)
		if (!strcmp(k->name, argv[i]))
			return k->run(&c, argc - i, argv + i);
	fprintf(stderr, "fakecloud: unknown command '%s' (see 'fakecloud --help')\n", argv[i]);
	return CLI_USAGE;
}

/* ---- messages ---- */

static void vmsg(const char *cmd, const char *kind, const char *fmt, va_list ap, const char *tail)
{
	char line[1024];
	vsnprintf(line, sizeof line, fmt, ap);
	/* One line, always: a value quoted from a file must not break it. */
	for (char *s = line; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
	fprintf(stderr, "fakecloud %s: %s%s%s\n", cmd, kind, line, tail ? tail : "");
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	char tail[128];
	snprintf(tail, sizeof tail, " (see 'fakecloud %s --help')", cmd);
	va_list ap;
	va_start(ap, fmt);
	vmsg(cmd, "", fmt, ap, tail);
	va_end(ap);
	return CLI_USAGE;
}

int cli_fail(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(cmd, "", fmt, ap, NULL);
	va_end(ap);
	return CLI_FAIL;
}

void cli_warn(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(cmd, "warning: ", fmt, ap, NULL);
	va_end(ap);
}

void cli_print_lines(const char *prefix, const char *text, const char *fallback)
{
	const char *s = text ? text : fallback;
	while (*s) {
		size_t n = strcspn(s, "\n");
		printf("%s%.*s\n", prefix, (int)n, s);
		s += n;
		if (*s)
			s++;
	}
}

bool cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return true;
	return false;
}

/* ---- option parsing ---- */

void cli_parse_begin(struct cli_parse *p, const char *cmd, int argc, char **argv)
{
	memset(p, 0, sizeof *p);
	p->cmd = cmd;
	p->argc = argc;
	p->argv = argv;
	p->i = 1; /* argv[0] is the command itself */
}

int cli_parse_next(struct cli_parse *p, const struct cli_opt *opts)
{
	p->arg = NULL;
	if (p->i >= p->argc)
		return CLI_P_END;
	const char *a = p->argv[p->i++];
	if (p->only_pos || a[0] != '-' || !strcmp(a, "-")) {
		p->arg = a;
		return CLI_P_POS;
	}
	if (!strcmp(a, "--")) {
		p->only_pos = true;
		return cli_parse_next(p, opts);
	}
	if (!strcmp(a, "-h") || !strcmp(a, "--help"))
		return CLI_P_HELP;
	if (a[1] != '-') {
		cli_usage_error(p->cmd, "unknown option '%s'", a);
		return CLI_P_ERR;
	}
	const char *name = a + 2;
	const char *eq = strchr(name, '=');
	size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
	for (int k = 0; opts[k].name; k++) {
		if (strlen(opts[k].name) != nlen || strncmp(opts[k].name, name, nlen) != 0)
			continue;
		if (!opts[k].has_arg) {
			if (eq) {
				cli_usage_error(p->cmd, "option '--%s' takes no value", opts[k].name);
				return CLI_P_ERR;
			}
			return k;
		}
		if (eq) {
			p->arg = eq + 1;
		} else if (p->i < p->argc) {
			p->arg = p->argv[p->i++];
		} else {
			cli_usage_error(p->cmd, "option '--%s' needs a value", opts[k].name);
			return CLI_P_ERR;
		}
		return k;
	}
	cli_usage_error(p->cmd, "unknown option '%.*s'", (int)(nlen + 2), a);
	return CLI_P_ERR;
}
