/* `fakecloud provision <vendor> ...`: re-home a device to fakecloud with the vendor's own procedure
 * (AP-mode setup, commissioning...). */
#include <string.h>

#include "core/keystore.h"
#include "core/vendor.h"
#include "provision/cli.h"

static const char *CMD = "provision";

static void usage(void)
{
	printf("usage: fakecloud provision <vendor> ...\n"
	       "\n"
	       "Points a device at fakecloud instead of its vendor's cloud and stores its keys; how depends on\n"
	       "the vendor (usually: put the device in setup mode and join its Wi-Fi access point first).\n"
	       "Devices it adds are announced to the running broker. Vendors with provisioning:\n");
	bool any = false;
	for (size_t i = 0; fc_vendors[i]; i++) {
		const struct fc_vendor_cli *vc = fc_vendors[i]->cli;
		if (vc && vc->provision) {
			cli_print_vendor_usage("  ", "provision", fc_vendors[i]->name, vc->provision_usage);
			any = true;
		}
	}
	if (!any)
		printf("  (none in this build)\n");
	printf("\n'fakecloud provision <vendor> --help' shows one vendor's form. See docs/vendors/.\n");
}

int cmd_provision(struct cli *c, int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error(CMD, "missing <vendor>");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage();
		return CLI_OK;
	}
	const struct fc_vendor *v = cli_vendor(CMD, argv[1]);
	if (!v)
		return CLI_USAGE;
	if (!v->cli || !v->cli->provision)
		return cli_usage_error(CMD, "vendor '%s' has no provisioning", v->name);
	if (cli_wants_help(argc - 1, argv + 1)) {
		cli_print_vendor_usage("usage: ", "provision", v->name, v->cli->provision_usage);
		return CLI_OK;
	}
	struct cli_store s;
	if (cli_store_open(c, CMD, &s) != CLI_OK)
		return CLI_FAIL;
	struct fc_cli fc = {.ks = s.ks, .cfg = s.cfg, .out = stdout, .err = stderr};
	int rc = cli_run_vendor_hook(&fc, v->name, v->cli->provision, argc - 1, argv + 1);
	cli_store_close(&s);
	return rc;
}
