/* `fakecloud certs`: the CA and server certificate of the [tls] section. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "certs/certs.h"
#include "provision/cli.h"

#define MAX_NAMES 64

int cli_certs_ensure(const struct fc_config *cfg, long uid, long gid, const char *cmd, const char *indent)
{
	const char *paths[4];
	static const char *const keys[4] = {"ca_cert", "ca_key", "cert", "key"};
	for (size_t i = 0; i < 4; i++) {
		paths[i] = fc_config_str(cfg, "tls", keys[i]);
		if (!paths[i][0])
			return cli_fail(cmd, "tls.%s is empty", keys[i]);
		char dir[PATH_MAX];
		cli_dirname(paths[i], dir, sizeof dir);
		if (!cli_exists(dir)) {
			if (cli_mkdirs(dir, 0750) != 0)
				return cli_fail(cmd, "cannot create %s: %s", dir, strerror(errno));
			if (cli_chown(dir, uid, gid) != 0)
				return cli_fail(cmd, "cannot chown %s: %s", dir, strerror(errno));
		}
	}
	static char hbuf[MAX_NAMES][256], ibuf[MAX_NAMES][256];
	const char *hosts[MAX_NAMES], *ips[MAX_NAMES];
	int nh = fc_config_list(cfg, "tls", "hostnames", hbuf, MAX_NAMES);
	int ni = fc_config_list(cfg, "tls", "ips", ibuf, MAX_NAMES);
	if (nh < 0 || ni < 0)
		return cli_fail(cmd, "tls.hostnames or tls.ips has more than %d entries", MAX_NAMES);
	for (int i = 0; i < nh; i++)
		hosts[i] = hbuf[i];
	for (int i = 0; i < ni; i++)
		ips[i] = ibuf[i];
	struct fc_certs_opts o = {
		.ca_cert = paths[0],
		.ca_key = paths[1],
		.cert = paths[2],
		.key = paths[3],
		.hostnames = hosts,
		.n_hostnames = (size_t)nh,
		.ips = ips,
		.n_ips = (size_t)ni,
		.ec = strcmp(fc_config_str(cfg, "tls", "key_type"), "ec") == 0,
		.owner_uid = uid,
		.owner_gid = gid,
	};
	const char *kt = fc_config_str(cfg, "tls", "key_type");
	if (strcmp(kt, "ec") != 0 && strcmp(kt, "rsa") != 0)
		return cli_fail(cmd, "tls.key_type: '%s' is not rsa or ec", kt);
	if (o.n_hostnames + o.n_ips == 0)
		return cli_fail(cmd, "tls.hostnames and tls.ips are both empty: the server certificate needs a name");
	char report[4096] = "", err[512] = "";
	if (fc_certs_ensure(&o, report, sizeof report, err, sizeof err) < 0)
		return cli_fail(cmd, "certificates: %s", err[0] ? err : "failed");
	/* The report has one line per file; indent each. */
	char *save = NULL;
	for (char *l = strtok_r(report, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		printf("%s%s\n", indent, l);
	return CLI_OK;
}

static void usage(void)
{
	printf("usage: fakecloud certs [--show]\n"
	       "\n"
	       "Creates the CA (tls.ca_cert, tls.ca_key) if it is missing and (re)issues the server\n"
	       "certificate (tls.cert, tls.key) when it is missing, expires within 30 days, is not signed by\n"
	       "the CA, or does not name exactly tls.hostnames and tls.ips. Otherwise changes nothing.\n"
	       "Restart the broker and fakecloud-httpd after a new server certificate.\n"
	       "\n"
	       "  --show   also describe the CA and server certificates (subject, names, expiry, issuer)\n"
	       "\n"
	       "Devices that verify the server need the CA certificate (tls.ca_cert); never copy tls.ca_key.\n");
}

int cmd_certs(struct cli *c, int argc, char **argv)
{
	static const struct cli_opt opts[] = {{"show", false}, {NULL, false}};
	struct cli_args a;
	int rc = cli_parse_args("certs", argc, argv, opts, 0, usage, &a);
	if (rc != CLI_OK)
		return rc == CLI_P_HELP ? CLI_OK : rc;
	struct fc_config *cfg = cli_config_load(c, "certs");
	if (!cfg)
		return CLI_FAIL;
	long uid, gid;
	cli_state_owner(cfg, &uid, &gid);
	rc = cli_certs_ensure(cfg, uid, gid, "certs", "");
	if (rc == CLI_OK && a.given[0]) {
		static const char *const keys[2] = {"ca_cert", "cert"};
		static const char *const titles[2] = {"CA certificate", "server certificate"};
		for (size_t i = 0; i < 2 && rc == CLI_OK; i++) {
			const char *path = fc_config_str(cfg, "tls", keys[i]);
			char out[4096] = "", err[512] = "";
			if (fc_certs_describe(path, out, sizeof out, err, sizeof err) != 0) {
				rc = cli_fail("certs", "%s: %s", path, err[0] ? err : "cannot describe");
				break;
			}
			printf("\n%s %s:\n%s", titles[i], path, out);
			if (out[0] && out[strlen(out) - 1] != '\n')
				printf("\n");
		}
	}
	cli_config_free(cfg);
	return rc;
}
