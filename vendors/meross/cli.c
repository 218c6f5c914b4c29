/* `fakecloud device add meross-account ...` and `fakecloud device export meross`. */
#include <cjson/cJSON.h>
#include <string.h>

#include "core/keystore.h"
#include "vendors/meross/meross_internal.h"
#include "vendors/meross/provision.h"

static int add_account(struct fc_cli *cli, int argc, char **argv)
{
	const char *uid = NULL, *key = NULL, *name = "";
	const struct fc_cli_opt opts[] = {{"user-id", &uid}, {"key", &key}, {"name", &name}};
	if (fc_cli_parse(cli, "meross-account", argc, argv, opts, 3) != 0)
		return 2;
	char out[24];
	int rc = meross_account_put(cli->ks, uid, key, name, out);
	if (rc == FC_KS_EINVAL) {
		fprintf(cli->err, "meross-account: --user-id must be a decimal number and --key at most 256 characters\n");
		return 2;
	}
	if (rc != FC_KS_OK) {
		fprintf(cli->err, "meross-account: keystore error\n");
		return 1;
	}
	fprintf(cli->out, "meross account %s stored%s\n", out,
		key ? "" : " with a new random key (see `fakecloud device export meross`)");
	return 0;
}

static int device_add(struct fc_cli *cli, int argc, char **argv)
{
	if (argc > 0 && strcmp(argv[0], "meross-account") == 0)
		return add_account(cli, argc, argv);
	if (argc > 0 && strcmp(argv[0], "meross-user") == 0)
		return meross_user_cli_add(cli, argc, argv);
	fprintf(cli->err, "meross devices register themselves when they log in with a known account's "
			  "credentials; add the account with `fakecloud device add meross-account` (see "
			  "docs/vendors/meross.md)\n");
	return 2;
}

static int export_account(void *ctx, const struct fc_account_row *row)
{
	struct fc_cli *cli = ctx;
	const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row->secrets, "key"));
	fprintf(cli->out, "account\t%s\t%s\t%s\n", row->account_id, key ? key : "", row->name);
	return 0;
}

static int export_device(void *ctx, const struct fc_device_row *row)
{
	struct fc_cli *cli = ctx;
	const char *mac = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row->meta, "mac"));
	const char *uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row->meta, "user_id"));
	fprintf(cli->out, "device\t%s\t%s\t%s\t%s\n", row->name, row->vid, mac ? mac : "", uid ? uid : "");
	return 0;
}

static int device_export(struct fc_cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(cli->out, "# account\tuserId\tkey\tname\n# device\tname\tuuid\tmac\tuserId\n");
	if (fc_ks_account_each(cli->ks, "meross", export_account, cli) < 0 ||
	    fc_ks_device_each(cli->ks, "meross", export_device, cli) < 0)
		return 1;
	return 0;
}

const struct fc_vendor_cli meross_cli = {
	.add_usage = "fakecloud device add meross-account [--user-id ID] [--key KEY] [--name NAME]\n"
		     "  (no --user-id/--key: a new account with a random userId and key; give the real ones to\n"
		     "   keep devices that are still bound to the Meross cloud working through DNS alone)\n"
		     "fakecloud device add meross-user --email EMAIL (--password PASSWORD | --password-file FILE) [--account USERID]\n"
		     "  (a login for Meross apps and libraries at the app API; FILE '-' = stdin; without --account: the\n"
		     "   account named 'default', else the only one)",
	.device_add = device_add,
	.device_export = device_export,
	.provision_usage = meross_provision_usage, .provision = meross_provision,
};
