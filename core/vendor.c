/* Vendor list helpers. */
#include "core/vendor.h"

#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

const struct fc_vendor *fc_vendor_find(const struct fc_vendor *const *list, const char *name)
{
	for (size_t i = 0; list && list[i]; i++)
		if (strcmp(list[i]->name, name) == 0)
			return list[i];
	return NULL;
}

#define MAX_VENDORS 32
static const struct fc_config_key *tables[MAX_VENDORS + 1];
static pthread_mutex_t tables_mu = PTHREAD_MUTEX_INITIALIZER;

const struct fc_config_key *const *fc_vendor_config_tables(const struct fc_vendor *const *list)
{
	pthread_mutex_lock(&tables_mu);
	size_t n = 0;
	for (size_t i = 0; list && list[i] && n < MAX_VENDORS; i++)
		if (list[i]->config_keys)
			tables[n++] = list[i]->config_keys;
	tables[n] = NULL;
	pthread_mutex_unlock(&tables_mu);
	return tables;
}

int fc_cli_parse(struct fc_cli *cli, const char *cmd, int argc, char **argv, const struct fc_cli_opt *opts,
		 size_t n_opts)
{
	struct option lo[17];
	if (n_opts > 16)
		return 2;
	for (size_t i = 0; i < n_opts; i++)
		lo[i] = (struct option){opts[i].name, required_argument, NULL, (int)i};
	lo[n_opts] = (struct option){0, 0, 0, 0};
	optind = 1;
	opterr = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		if (ch >= 0 && (size_t)ch < n_opts) {
			*opts[ch].value = optarg;
		} else if (ch == ':') {
			fprintf(cli->err, "%s: option '%s' needs a value\n", cmd, argv[optind - 1]);
			return 2;
		} else {
			fprintf(cli->err, "%s: unknown option '%s'\n", cmd, argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(cli->err, "%s: unexpected argument '%s'\n", cmd, argv[optind]);
		return 2;
	}
	return 0;
}
