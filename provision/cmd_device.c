/* `fakecloud device`: list, add, remove, rename devices in the keystore; export a vendor's keys. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "core/hub.h"
#include "core/keystore.h"
#include "core/vendor.h"
#include "provision/cli.h"

static void usage(void)
{
	printf("usage: fakecloud device <subcommand> [options]\n"
	       "\n"
	       "  list [--json]                   devices in the keystore: name, vendor, id, created (no secrets)\n"
	       "  add <vendor> ...                register a device with its keys (vendor specific; see\n"
	       "                                  'fakecloud device add --help')\n"
	       "  remove <name> --forget-keys     delete a device and its keys\n"
	       "  rename <from> <to>              change a device's friendly name (its topics follow)\n"
	       "  export <vendor> ...             print a vendor's devices WITH their keys (admin only)\n"
	       "\n"
	       "add, remove and rename tell the running broker (best effort); if it is not running it loads\n"
	       "the change when it starts. Each subcommand has --help.\n");
}

/* ---- shared ---- */

/* Opens the configuration and keystore and finds the device called `name` in it: CLI_OK (close with
 * dev_close), or CLI_FAIL after printing why (nothing left open). */
static int dev_open_named(struct cli *c, const char *cmd, const char *name, struct cli_store *s,
			  struct fc_device_row *row)
{
	if (cli_store_open(c, cmd, s) != CLI_OK)
		return CLI_FAIL;
	int r = fc_ks_device_get_by_name(s->ks, name, row);
	if (r == FC_KS_OK)
		return CLI_OK;
	if (r == FC_KS_NOTFOUND)
		cli_fail(cmd, "no device named '%s' (see 'fakecloud device list')", name);
	else
		cli_fail(cmd, "cannot read the keystore");
	cli_store_close(s);
	return CLI_FAIL;
}

static void dev_close(struct cli_store *s, struct fc_device_row *row)
{
	fc_device_row_free(row);
	cli_store_close(s);
}

/* Tells the running broker that this device changed. */
static void dev_notify(const struct cli_store *s, const struct fc_device_row *row)
{
	struct cli_change ch;
	snprintf(ch.vendor, sizeof ch.vendor, "%s", row->vendor);
	snprintf(ch.vid, sizeof ch.vid, "%s", row->vid);
	cli_notify(s->cfg, s->ks, &ch, 1);
}

static void format_time(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, outlen, "-");
}

/* ---- list ---- */

struct list_row {
	char name[128], vendor[32], vid[128], created[32];
};

struct list_acc {
	struct list_row *v;
	size_t n, cap;
	bool oom;
};

static int list_cb(void *ctx, const struct fc_device_row *row)
{
	struct list_acc *a = ctx;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 32;
		struct list_row *v = realloc(a->v, cap * sizeof *v);
		if (!v) {
			a->oom = true;
			return 1;
		}
		a->v = v;
		a->cap = cap;
	}
	struct list_row *r = &a->v[a->n++];
	snprintf(r->name, sizeof r->name, "%s", row->name);
	snprintf(r->vendor, sizeof r->vendor, "%s", row->vendor);
	snprintf(r->vid, sizeof r->vid, "%s", row->vid);
	format_time(row->created, r->created, sizeof r->created);
	return 0;
}

static void list_help(void)
{
	printf("usage: fakecloud device list [--json]\n"
	       "\n"
	       "Lists the devices in the keystore: name, vendor, id and when it was added (UTC). Never\n"
	       "prints keys. --json prints an array of {\"name\",\"vendor\",\"id\",\"created\"}.\n");
}

static int dev_list(struct cli *c, int argc, char **argv)
{
	static const struct cli_opt opts[] = {{"json", false}, {NULL, false}};
	struct cli_args args;
	int rc = cli_parse_args("device list", argc, argv, opts, 0, list_help, &args);
	if (rc != CLI_OK)
		return rc == CLI_P_HELP ? CLI_OK : rc;
	struct cli_store d;
	if ((rc = cli_store_open(c, "device list", &d)) != CLI_OK)
		return rc;
	struct list_acc a = {0};
	if (fc_ks_device_each(d.ks, NULL, list_cb, &a) < 0 || a.oom) {
		rc = cli_fail("device list", "cannot read the keystore");
	} else if (args.given[0]) {
		cJSON *arr = cJSON_CreateArray();
		for (size_t i = 0; arr && i < a.n; i++) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "name", a.v[i].name);
			cJSON_AddStringToObject(o, "vendor", a.v[i].vendor);
			cJSON_AddStringToObject(o, "id", a.v[i].vid);
			cJSON_AddStringToObject(o, "created", a.v[i].created);
			cJSON_AddItemToArray(arr, o);
		}
		char *s = arr ? cJSON_Print(arr) : NULL;
		if (s)
			printf("%s\n", s);
		else
			rc = cli_fail("device list", "out of memory");
		cJSON_free(s);
		cJSON_Delete(arr);
	} else if (a.n == 0) {
		printf("no devices (add one with 'fakecloud device add <vendor> ...', or provision one)\n");
	} else {
		int wn = 4, wv = 6, wi = 2;
		for (size_t i = 0; i < a.n; i++) {
			int l;
			if ((l = (int)strlen(a.v[i].name)) > wn)
				wn = l;
			if ((l = (int)strlen(a.v[i].vendor)) > wv)
				wv = l;
			if ((l = (int)strlen(a.v[i].vid)) > wi)
				wi = l;
		}
		printf("%-*s  %-*s  %-*s  %s\n", wn, "NAME", wv, "VENDOR", wi, "ID", "CREATED");
		for (size_t i = 0; i < a.n; i++)
			printf("%-*s  %-*s  %-*s  %s\n", wn, a.v[i].name, wv, a.v[i].vendor, wi, a.v[i].vid,
			       a.v[i].created);
	}
	free(a.v);
	cli_store_close(&d);
	return rc;
}

/* ---- add / export (vendor hooks) ---- */

static void add_help(void)
{
	printf("usage: fakecloud device add <vendor> ...\n"
	       "\n"
	       "Registers a device and its keys in the keystore (how depends on the vendor), then tells the\n"
	       "running broker. Forms:\n");
	bool any = false;
	for (size_t i = 0; fc_vendors[i]; i++) {
		const struct fc_vendor_cli *vc = fc_vendors[i]->cli;
		if (vc && vc->device_add) {
			cli_print_vendor_usage("  ", "device add", fc_vendors[i]->name, vc->add_usage);
			any = true;
		}
	}
	if (!any)
		printf("  (no vendor of this build adds devices by hand)\n");
	printf("\n'fakecloud device add <vendor> --help' shows one vendor's form.\n");
}

static void export_help(void)
{
	printf("usage: fakecloud device export <vendor> ...\n"
	       "\n"
	       "ADMIN ONLY: prints the vendor's devices including their secret keys, e.g. to move them to\n"
	       "another fakecloud or to use a vendor tool. Whoever can read the keystore can do this; keep\n"
	       "the output private. Vendors that can export: ");
	bool any = false;
	for (size_t i = 0; fc_vendors[i]; i++) {
		const struct fc_vendor_cli *vc = fc_vendors[i]->cli;
		if (vc && vc->device_export) {
			printf("%s%s", any ? ", " : "", fc_vendors[i]->name);
			any = true;
		}
	}
	printf("%s.\n", any ? "" : "none");
}

/* `device add` and `device export`: argv[1] is the vendor; the rest goes to the vendor's hook. */
static int dev_vendor(struct cli *c, int argc, char **argv, bool add)
{
	const char *cmd = add ? "device add" : "device export";
	if (argc < 2)
		return cli_usage_error(cmd, "missing <vendor>");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		add ? add_help() : export_help();
		return CLI_OK;
	}
	const struct fc_vendor *v = cli_vendor(cmd, argv[1]);
	if (!v)
		return CLI_USAGE;
	int (*hook)(struct fc_cli *, int, char **) =
		!v->cli ? NULL : add ? v->cli->device_add : v->cli->device_export;
	if (!hook)
		return cli_usage_error(cmd, "vendor '%s' does not support '%s'", v->name, cmd);
	if (cli_wants_help(argc - 1, argv + 1)) {
		if (add)
			cli_print_vendor_usage("usage: ", "device add", v->name, v->cli->add_usage);
		else
			export_help();
		return CLI_OK;
	}
	struct cli_store d;
	int rc = cli_store_open(c, cmd, &d);
	if (rc)
		return rc;
	struct fc_cli fc = {.ks = d.ks, .cfg = d.cfg, .out = stdout, .err = stderr};
	if (add)
		rc = cli_run_vendor_hook(&fc, v->name, hook, argc - 1, argv + 1);
	else
		rc = hook(&fc, argc - 1, argv + 1);
	cli_store_close(&d);
	return rc;
}

/* ---- remove ---- */

static void remove_help(void)
{
	printf("usage: fakecloud device remove <name> --forget-keys\n"
	       "\n"
	       "Deletes the device and everything fakecloud stored for it, keys included. Without those keys\n"
	       "fakecloud can no longer talk to the device: it has to be added or provisioned again. That is\n"
	       "why --forget-keys is required; without it nothing is deleted and the command lists what\n"
	       "would be lost (exit status 1). A device that still connects and registers itself comes back.\n");
}

static void secret_names(const cJSON *secrets, char *out, size_t outlen)
{
	size_t len = 0;
	out[0] = '\0';
	const cJSON *it;
	cJSON_ArrayForEach(it, secrets)
	{
		if (!it->string || len >= outlen)
			continue;
		int w = snprintf(out + len, outlen - len, "%s%s", len ? ", " : "", it->string);
		if (w > 0)
			len += (size_t)w;
	}
}

static int dev_remove(struct cli *c, int argc, char **argv)
{
	static const struct cli_opt opts[] = {{"forget-keys", false}, {NULL, false}};
	const char *cmd = "device remove";
	struct cli_args a;
	int rc = cli_parse_args(cmd, argc, argv, opts, 1, remove_help, &a);
	if (rc != CLI_OK)
		return rc == CLI_P_HELP ? CLI_OK : rc;
	if (a.npos != 1)
		return cli_usage_error(cmd, "missing <name>");
	struct cli_store d;
	struct fc_device_row row;
	if ((rc = dev_open_named(c, cmd, a.pos[0], &d, &row)) != CLI_OK)
		return rc;
	if (!a.given[0]) {
		char names[512];
		secret_names(row.secrets, names, sizeof names);
		rc = cli_fail(cmd,
			      "not removed: '%s' (%s %s) has stored keys [%s]; removing it forgets them and the device "
			      "must be added or provisioned again; rerun with --forget-keys to remove it",
			      row.name, row.vendor, row.vid, names[0] ? names : "none");
	} else if (fc_ks_device_delete(d.ks, row.vendor, row.vid) != FC_KS_OK) {
		rc = cli_fail(cmd, "cannot delete '%s' from the keystore", row.name);
	} else {
		printf("removed '%s' (%s %s) and its keys\n", row.name, row.vendor, row.vid);
		dev_notify(&d, &row);
	}
	dev_close(&d, &row);
	return rc;
}

/* ---- rename ---- */

static void rename_help(void)
{
	printf("usage: fakecloud device rename <from> <to>\n"
	       "\n"
	       "Changes a device's friendly name; its plain topics move from fakecloud/<from>/... to\n"
	       "fakecloud/<to>/... (base topic: core.base_topic). Names are 1-100 characters without '/',\n"
	       "'+', '#', a leading '$', and not 'bridge'; they are unique across vendors.\n");
}

static int dev_rename(struct cli *c, int argc, char **argv)
{
	static const struct cli_opt opts[] = {{NULL, false}};
	const char *cmd = "device rename";
	struct cli_args a;
	int rc = cli_parse_args(cmd, argc, argv, opts, 2, rename_help, &a);
	if (rc != CLI_OK)
		return rc == CLI_P_HELP ? CLI_OK : rc;
	if (a.npos != 2)
		return cli_usage_error(cmd, "expected <from> <to>");
	const char *to = a.pos[1];
	char err[256] = "";
	if (!fc_name_valid(to, err, sizeof err))
		return cli_usage_error(cmd, "invalid name '%s': %s", to, err[0] ? err : "not allowed");
	struct cli_store d;
	struct fc_device_row row;
	if ((rc = dev_open_named(c, cmd, a.pos[0], &d, &row)) != CLI_OK)
		return rc;
	if (!strcmp(row.name, to)) {
		printf("'%s' already has that name\n", row.name);
	} else {
		int w = fc_ks_device_rename(d.ks, row.vendor, row.vid, to);
		if (w == FC_KS_EXISTS) {
			rc = cli_fail(cmd, "the name '%s' is already taken", to);
		} else if (w != FC_KS_OK) {
			rc = cli_fail(cmd, "cannot rename '%s' in the keystore", row.name);
		} else {
			printf("renamed '%s' to '%s' (%s %s)\n", row.name, to, row.vendor, row.vid);
			dev_notify(&d, &row);
		}
	}
	dev_close(&d, &row);
	return rc;
}

/* ---- dispatch ---- */

int cmd_device(struct cli *c, int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("device", "missing subcommand (list, add, remove, rename, export)");
	const char *sub = argv[1];
	if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
		usage();
		return CLI_OK;
	}
	if (!strcmp(sub, "list"))
		return dev_list(c, argc - 1, argv + 1);
	if (!strcmp(sub, "add"))
		return dev_vendor(c, argc - 1, argv + 1, true);
	if (!strcmp(sub, "remove"))
		return dev_remove(c, argc - 1, argv + 1);
	if (!strcmp(sub, "rename"))
		return dev_rename(c, argc - 1, argv + 1);
	if (!strcmp(sub, "export"))
		return dev_vendor(c, argc - 1, argv + 1, false);
	return cli_usage_error("device", "unknown subcommand '%s' (list, add, remove, rename, export)", sub);
}
