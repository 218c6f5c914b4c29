/* `fakecloud dns`: a dnsmasq snippet answering the vendor cloud host names with fakecloud's address. */
#include <arpa/inet.h>
#include <string.h>

#include "provision/cli.h"

#define MAX_NAMES 64

static const char *CMD = "dns";

static void usage(void)
{
	printf("usage: fakecloud dns [--ip IP]\n"
	       "\n"
	       "Prints a dnsmasq snippet with 'address=/<host>/<ip>' for every tls.hostnames entry that\n"
	       "contains a dot (the vendor cloud host names), so that devices reach fakecloud instead of the\n"
	       "vendor cloud. Add vendor hosts with: fakecloud init --set tls.hostnames=fakecloud,localhost,<host>...\n"
	       "\n"
	       "  --ip IP   address to answer with (default: the first tls.ips entry); use this host's LAN\n"
	       "            address, the one the devices can reach\n");
}

int cmd_dns(struct cli *c, int argc, char **argv)
{
	static const struct cli_opt opts[] = {{"ip", true}, {NULL, false}};
	struct cli_args a;
	int rc = cli_parse_args(CMD, argc, argv, opts, 0, usage, &a);
	if (rc != CLI_OK)
		return rc == CLI_P_HELP ? CLI_OK : rc;
	const char *ip = a.value[0];
	unsigned char addr[sizeof(struct in6_addr)];
	if (ip && inet_pton(AF_INET, ip, addr) != 1 && inet_pton(AF_INET6, ip, addr) != 1)
		return cli_usage_error(CMD, "--ip: '%s' is not an IP address", ip);
	struct fc_config *cfg = cli_config_load(c, CMD);
	if (!cfg)
		return CLI_FAIL;
	static char hosts[MAX_NAMES][256], ips[MAX_NAMES][256];
	int nh = fc_config_list(cfg, "tls", "hostnames", hosts, MAX_NAMES);
	int ni = fc_config_list(cfg, "tls", "ips", ips, MAX_NAMES);
	if (nh < 0 || ni < 0) {
		rc = cli_fail(CMD, "tls.hostnames or tls.ips has more than %d entries", MAX_NAMES);
		goto out;
	}
	if (!ip && ni == 0) {
		rc = cli_fail(CMD, "tls.ips is empty: pass --ip IP");
		goto out;
	}
	if (!ip)
		ip = ips[0];
	printf("# dnsmasq snippet from `fakecloud dns` (%s).\n"
	       "# It makes the vendor cloud host names resolve to fakecloud at %s. Save it as\n"
	       "# /etc/dnsmasq.d/fakecloud.conf (or paste it into your router's dnsmasq options), restart\n"
	       "# dnsmasq, and make sure the devices use that dnsmasq as their DNS server (DHCP option 6).\n",
	       cfg->path, ip);
	if (!strncmp(ip, "127.", 4) || !strcmp(ip, "::1"))
		printf("# %s is a loopback address: devices cannot reach it; rerun with --ip <this host's LAN address>.\n",
		       ip);
	size_t n = 0;
	for (int i = 0; i < nh; i++) {
		if (!strchr(hosts[i], '.'))
			continue;
		if (strspn(hosts[i], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_*") !=
		    strlen(hosts[i])) {
			printf("# skipped '%s': not a host name\n", hosts[i]);
			continue;
		}
		printf("address=/%s/%s\n", hosts[i], ip);
		n++;
	}
	if (n == 0)
		printf("# tls.hostnames has no vendor host name (no entry with a dot): nothing to redirect yet.\n");
out:
	cli_config_free(cfg);
	return rc;
}
