/* `fakecloud config`: print the effective configuration, the defaults, or one value. */
#include <stdlib.h>
#include <string.h>

#include "provision/cli.h"

static const char *CMD = "config";

static const char *type_name(enum fc_config_type t)
{
	switch (t) {
	case FC_CFG_STRING: return "string";
	case FC_CFG_INT: return "integer";
	case FC_CFG_BOOL: return "true|false";
	case FC_CFG_PORT: return "port";
	case FC_CFG_PATH: return "path";
	case FC_CFG_LIST: return "list";
	}
	return "?";
}

static void usage(void)
{
	printf("usage: fakecloud config [--defaults | --get section.key]\n"
	       "\n"
	       "Prints the effective configuration (the file given by --config, with every other key at its\n"
	       "default, all commented), ready to be used as a configuration file.\n"
	       "\n"
	       "  --defaults          print the built-in defaults instead (no file needed)\n"
	       "  --get section.key   print one effective value\n"
	       "\n"
	       "A configuration that does not parse makes this command fail with one line naming the file,\n"
	       "line and key. Relative paths are relative to the configuration file's directory.\n"
	       "\n"
	       "Keys (section.key, type, default, meaning):\n");
	for (const struct fc_config_key *const *t = cli_config_tables(); *t; t++)
		for (const struct fc_config_key *k = *t; k->key; k++)
			printf("  %s.%s (%s, default '%s')\n      %s\n", k->section, k->key, type_name(k->type),
			       k->def ? k->def : "", k->help ? k->help : "");
}

static int get_value(const struct fc_config *cfg, const char *name)
{
	const char *dot = strchr(name, '.');
	if (!dot || dot == name || !dot[1])
		return cli_usage_error(CMD, "--get: expected section.key, got '%s'", name);
	for (const struct fc_config_key *const *t = cli_config_tables(); *t; t++) {
		for (const struct fc_config_key *k = *t; k->key; k++) {
			if (strlen(k->section) != (size_t)(dot - name) || strncmp(k->section, name, (size_t)(dot - name)) ||
			    strcmp(k->key, dot + 1))
				continue;
			/* PATH values come back resolved against the configuration file's directory. */
			printf("%s\n", fc_config_str(cfg, k->section, k->key));
			return CLI_OK;
		}
	}
	return cli_usage_error(CMD, "--get: unknown key '%s'", name);
}

int cmd_config(struct cli *c, int argc, char **argv)
{
	static const struct cli_opt opts[] = {{"defaults", false}, {"get", true}, {NULL, false}};
	struct cli_args a;
	int rc = cli_parse_args(CMD, argc, argv, opts, 0, usage, &a);
	if (rc != CLI_OK)
		return rc == CLI_P_HELP ? CLI_OK : rc;
	bool defaults = a.given[0];
	const char *get = a.value[1];
	if (defaults && get)
		return cli_usage_error(CMD, "--defaults and --get exclude each other");
	struct fc_config *cfg = defaults ? cli_config_defaults(NULL) : cli_config_load(c, CMD);
	if (!cfg)
		return CLI_FAIL;
	if (get) {
		rc = get_value(cfg, get);
	} else {
		char *text = malloc(FC_CONFIG_MAX_FILE);
		if (!text || fc_config_write_default(cfg, text, FC_CONFIG_MAX_FILE) < 0)
			rc = cli_fail(CMD, "cannot format the configuration");
		else
			fputs(text, stdout);
		free(text);
	}
	cli_config_free(cfg);
	return rc;
}
