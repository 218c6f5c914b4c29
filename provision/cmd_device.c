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

struct dev_ctx {
	struct fc_config *cfg;
	struct fc_keystore *ks;
};

static int dev_open(struct cli *c, const char *cmd, struct dev_ctx *d)
{
	d->ks = NULL;
	d->cfg = cli_config_load(c, cmd);
	if (!d->cfg)
		return CLI_FAIL;
	d->ks = cli_keystore_open(d->cfg, cmd);
	if (!d->ks) {
		cli_config_free(d->cfg);
		return CLI_FAIL;
	}
	return CLI_OK;
}

static void dev_close(struct dev_ctx *d)
{
	cli_keystore_close(d->ks, d->cfg);
	cli_config_free(d->cfg);
}

/* Options of `opts` set flags[index]; collects up to max positionals. Returns -1 after printing help,
 * else an exit code. */
static int simple_args(const char *cmd, int argc, char **argv, const struct cli_opt *opts, bool *flags,
		       const char **pos, size_t max, size_t *npos, void (*help)(void))
{
	struct cli_parse p;
	size_t n = 0;
	cli_parse_begin(&p, cmd, argc, argv);
	*npos = 0;
	for (int k; (k = cli_parse_next(&p, opts)) != CLI_P_END;) {
		if (k == CLI_P_HELP) {
			help();
			return -1;
		}
		if (k == CLI_P_ERR)
			return CLI_USAGE;
		if (k == CLI_P_POS) {
			if (n >= max)
				return cli_usage_error(cmd, "unexpected argument '%s'", p.arg);
			pos[n++] = p.arg;
			*npos = n;
		} else if (k >= 0) {
			flags[k] = true;
		}
	}
	return CLI_OK;
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
	bool flags[1] = {false};
	const char *pos[1];
	size_t npos;
	int rc = simple_args("device list", argc, argv, opts, flags, pos, 0, &npos, list_help);
	if (rc)
		return rc < 0 ? CLI_OK : rc;
	struct dev_ctx d;
	if ((rc = dev_open(c, "device list", &d)) != CLI_OK)
		return rc;
	struct list_acc a = {0};
	if (fc_ks_device_each(d.ks, NULL, list_cb, &a) < 0 || a.oom) {
		rc = cli_fail("device list", "cannot read the keystore");
	} else if (flags[0]) {
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
	dev_close(&d);
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
			char fallback[96];
			snprintf(fallback, sizeof fallback, "fakecloud device add %s ...", fc_vendors[i]->name);
			cli_print_lines("  ", vc->add_usage, fallback);
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
		if (add) {
			char fallback[96];
			snprintf(fallback, sizeof fallback, "fakecloud device add %s ...", v->name);
			cli_print_lines("usage: ", v->cli->add_usage, fallback);
		}
		else
			export_help();
		return CLI_OK;
	}
	struct dev_ctx d;
	int rc = dev_open(c, cmd, &d);
	if (rc)
		return rc;
	struct fc_cli fc = {.ks = d.ks, .cfg = d.cfg, .out = stdout, .err = stderr};
	if (add)
		rc = cli_run_vendor_hook(&fc, v->name, hook, argc - 1, argv + 1);
	else
		rc = hook(&fc, argc - 1, argv + 1);
	dev_close(&d);
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
	bool flags[1] = {false};
	const char *pos[1];
	size_t npos;
	int rc = simple_args(cmd, argc, argv, opts, flags, pos, 1, &npos, remove_help);
	if (rc)
		return rc < 0 ? CLI_OK : rc;
	if (npos != 1)
		return cli_usage_error(cmd, "missing <name>");
	struct dev_ctx d;
	if ((rc = dev_open(c, cmd, &d)) != CLI_OK)
		return rc;
	struct fc_device_row row;
	memset(&row, 0, sizeof row);
	int r = fc_ks_device_get_by_name(d.ks, pos[0], &row);
	if (r == FC_KS_NOTFOUND) {
		rc = cli_fail(cmd, "no device named '%s' (see 'fakecloud device list')", pos[0]);
	} else if (r != FC_KS_OK) {
		rc = cli_fail(cmd, "cannot read the keystore");
	} else if (!flags[0]) {
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
		struct cli_change ch;
		snprintf(ch.vendor, sizeof ch.vendor, "%s", row.vendor);
		snprintf(ch.vid, sizeof ch.vid, "%s", row.vid);
		cli_notify(d.cfg, d.ks, &ch, 1);
	}
	if (r == FC_KS_OK)
		fc_device_row_free(&row);
	dev_close(&d);
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
	bool flags[1];
	const char *pos[2];
	size_t npos;
	int rc = simple_args(cmd, argc, argv, opts, flags, pos, 2, &npos, rename_help);
	if (rc)
		return rc < 0 ? CLI_OK : rc;
	if (npos != 2)
		return cli_usage_error(cmd, "expected <from> <to>");
	char err[256] = "";
	if (!fc_name_valid(pos[1], err, sizeof err))
		return cli_usage_error(cmd, "invalid name '%s': %s", pos[1], err[0] ? err : "not allowed");
	struct dev_ctx d;
	if ((rc = dev_open(c, cmd, &d)) != CLI_OK)
		return rc;
	struct fc_device_row row;
	memset(&row, 0, sizeof row);
	int r = fc_ks_device_get_by_name(d.ks, pos[0], &row);
	if (r == FC_KS_NOTFOUND) {
		rc = cli_fail(cmd, "no device named '%s' (see 'fakecloud device list')", pos[0]);
	} else if (r != FC_KS_OK) {
		rc = cli_fail(cmd, "cannot read the keystore");
	} else if (!strcmp(row.name, pos[1])) {
		printf("'%s' already has that name\n", row.name);
	} else {
		int w = fc_ks_device_rename(d.ks, row.vendor, row.vid, pos[1]);
		if (w == FC_KS_EXISTS) {
			rc = cli_fail(cmd, "the name '%s' is already taken", pos[1]);
		} else if (w != FC_KS_OK) {
			rc = cli_fail(cmd, "cannot rename '%s' in the keystore", row.name);
		} else {
			printf("renamed '%s' to '%s' (%s %s)\n", row.name, pos[1], row.vendor, row.vid);
			struct cli_change ch;
			snprintf(ch.vendor, sizeof ch.vendor, "%s", row.vendor);
			snprintf(ch.vid, sizeof ch.vid, "%s", row.vid);
			cli_notify(d.cfg, d.ks, &ch, 1);
		}
	}
	if (r == FC_KS_OK)
		fc_device_row_free(&row);
	dev_close(&d);
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
