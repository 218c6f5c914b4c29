/* fakecloud-httpd: the companion HTTPS responder. Arguments, configuration, signals, privilege drop,
 * and the start/stop order of the pieces (see httpd.h). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/keystore.h"
#include "core/log.h"
#include "core/vendor.h"
#include "httpd/httpd.h"

static const char usage_text[] =
	"Usage: fakecloud-httpd --config FILE [--user USER]\n"
	"\n"
	"fakecloud's companion HTTP(S) daemon: it answers the vendor cloud APIs that devices (and vendor\n"
	"apps) call once DNS points the vendor host names at fakecloud.\n"
	"\n"
	"Options:\n"
	"  -c, --config FILE  fakecloud configuration file (the one the broker plugin uses)\n"
	"  -u, --user USER    after binding the ports, switch to this user (when started as root)\n"
	"  -h, --help         show this help and exit\n"
	"  -V, --version      show the version and exit\n"
	"\n"
	"It serves, from the [http] section of the configuration:\n"
	"  http.http_port    plain HTTP\n"
	"  http.https_port   HTTPS on one port for both certificate clients (tls.cert / tls.key) and\n"
	"                    TLS-PSK clients (keys from the keystore, per vendor); TLS 1.0 to 1.2,\n"
	"                    lowest version from http.tls_min_version\n"
	"  GET /healthz      {\"status\":\"ok\",\"version\":...,\"broker\":\"connected\"|\"disconnected\",\n"
	"                    \"vendors\":[...]}\n"
	"  the vendors' cloud routes (device and app APIs) of this build\n"
	"Limits: http.max_body, http.max_header, http.max_connections, http.max_per_ip, http.timeout.\n"
	"It connects to the broker at mqtt.host:mqtt.port as the internal user to pass events to the\n"
	"fakecloud plugin, and logs to stderr at core.log_level. SIGTERM or SIGINT stops it.\n";

int64_t httpd_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t httpd_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void httpd_printable(char *out, size_t outcap, const void *in, size_t len)
{
	const unsigned char *s = in;
	size_t o = 0;
	if (!outcap)
		return;
	for (size_t i = 0; i < len && o + 1 < outcap; i++) {
		if (o + 4 >= outcap && i + 1 < len) {
			snprintf(out + o, outcap - o, "...");
			return;
		}
		out[o++] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\'') ? (char)s[i] : '?';
	}
	out[o] = 0;
}

static int parse_tls_min(const char *v)
{
	if (!v || !*v || strcmp(v, "1.0") == 0)
		return 1;
	if (strcmp(v, "1.1") == 0)
		return 2;
	if (strcmp(v, "1.2") == 0)
		return 3;
	return -1;
}

static int drop_privileges(const char *user, char *err, size_t errlen)
{
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		snprintf(err, errlen, "--user %s: no such user", user);
		return -1;
	}
	if (geteuid() != 0) {
		if (pw->pw_uid != geteuid())
			fc_warn("httpd: --user %s ignored: not running as root", user);
		return 0;
	}
	if (initgroups(user, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
		snprintf(err, errlen, "cannot switch to user %s: %s", user, strerror(errno));
		return -1;
	}
	if (pw->pw_uid != 0 && setuid(0) == 0) {
		snprintf(err, errlen, "privileges were not dropped (setuid(0) still works)");
		return -1;
	}
	fc_info("httpd: running as user %s", user);
	return 0;
}

struct args {
	const char *config;
	const char *user;
};

/* 0 = run, 1 = exit 0 (help/version printed), 2 = usage error (printed). */
static int parse_args(int argc, char **argv, struct args *a)
{
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		const char **dst = NULL;
		const char *val = NULL;
		if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
			fputs(usage_text, stdout);
			return 1;
		}
		if (strcmp(s, "-V") == 0 || strcmp(s, "--version") == 0) {
			printf("fakecloud-httpd %s\n", FC_VERSION);
			return 1;
		}
		if (strcmp(s, "-c") == 0 || strcmp(s, "--config") == 0)
			dst = &a->config;
		else if (strcmp(s, "-u") == 0 || strcmp(s, "--user") == 0)
			dst = &a->user;
		else if (strncmp(s, "--config=", 9) == 0)
			dst = &a->config, val = s + 9;
		else if (strncmp(s, "--user=", 7) == 0)
			dst = &a->user, val = s + 7;
		if (!dst) {
			fprintf(stderr, "fakecloud-httpd: unknown argument '%s' (see --help)\n", s);
			return 2;
		}
		if (!val) {
			if (i + 1 >= argc) {
				fprintf(stderr, "fakecloud-httpd: %s needs a value (see --help)\n", s);
				return 2;
			}
			val = argv[++i];
		}
		if (!*val) {
			fprintf(stderr, "fakecloud-httpd: %s needs a value (see --help)\n", s);
			return 2;
		}
		*dst = val;
	}
	if (!a->config) {
		fprintf(stderr, "fakecloud-httpd: --config FILE is required (see --help)\n");
		return 2;
	}
	return 0;
}

/* Load and check the configuration. 0, or 2 after printing the one-line reason. */
static int load_config(struct httpd *h, const char *path)
{
	char err[1200] = "";
	fc_config_init(h->cfg, fc_vendor_config_tables(fc_vendors));
	if (fc_config_load(h->cfg, path, err, sizeof err) != 0) {
		fprintf(stderr, "fakecloud-httpd: %s\n", err[0] ? err : path);
		return 2;
	}
	const char *lvl = fc_config_str(h->cfg, "core", "log_level");
	enum fc_log_level level = FC_LOG_INFO;
	if (lvl && *lvl && fc_log_level_parse(lvl, &level) != 0) {
		fprintf(stderr, "fakecloud-httpd: %s: core.log_level: '%s' is not one of debug | info | warn | error\n",
			path, lvl);
		return 2;
	}
	fc_log_set_level(level);
	const char *tmin = fc_config_str(h->cfg, "http", "tls_min_version");
	h->tls_min_minor = parse_tls_min(tmin);
	if (h->tls_min_minor < 0) {
		fprintf(stderr, "fakecloud-httpd: %s: http.tls_min_version: '%s' is not one of 1.0 | 1.1 | 1.2\n", path,
			tmin);
		return 2;
	}
	h->max_body = (size_t)fc_config_int(h->cfg, "http", "max_body");
	h->max_header = (size_t)fc_config_int(h->cfg, "http", "max_header");
	h->max_conns = fc_config_int(h->cfg, "http", "max_connections");
	h->max_per_ip = fc_config_int(h->cfg, "http", "max_per_ip");
	h->timeout_s = (unsigned)fc_config_int(h->cfg, "http", "timeout");
	const char *store = fc_config_str(h->cfg, "core", "store");
	if (!store || !*store || strlen(store) >= sizeof h->store_path) {
		fprintf(stderr, "fakecloud-httpd: %s: core.store: missing or too long\n", path);
		return 2;
	}
	snprintf(h->store_path, sizeof h->store_path, "%s", store);
	return 0;
}

/* A TLS connection uses three descriptors (client, both socketpair ends): make room for the limit. */
static void raise_fd_limit(const struct httpd *h)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	rlim_t want = (rlim_t)h->max_conns * 3 + 64;
	if (rl.rlim_cur >= want)
		return;
	rlim_t cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
	rl.rlim_cur = cur;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (cur < want)
		fc_warn("httpd: the open-file limit (%llu) is too low for http.max_connections = %ld; "
			"expect refused connections under load (raise `ulimit -n` to %llu)",
			(unsigned long long)cur, h->max_conns, (unsigned long long)want);
}

int main(int argc, char **argv)
{
	struct args a = {NULL, NULL};
	int prc = parse_args(argc, argv, &a);
	if (prc)
		return prc == 1 ? 0 : 2;

	signal(SIGPIPE, SIG_IGN);
	static struct httpd hs; /* large (the configuration): not on the stack */
	struct httpd *h = &hs;
	h->http_fd = h->https_fd = -1;
	h->stop_pipe[0] = h->stop_pipe[1] = -1;
	h->vendors = fc_vendors;
	atomic_init(&h->stopping, false);
	pthread_mutex_init(&h->lock, NULL);
	h->cfg = calloc(1, sizeof *h->cfg);
	if (!h->cfg) {
		fprintf(stderr, "fakecloud-httpd: out of memory\n");
		return 1;
	}
	int rc = load_config(h, a.config);
	if (rc) {
		free(h->cfg);
		return rc;
	}

	raise_fd_limit(h);

	/* Signals are taken synchronously by the main thread; every thread started later inherits the mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	char err[1200] = "";
	struct fc_keystore *ks = NULL;
	int exit_code = 1;
	if (pipe2(h->stop_pipe, O_CLOEXEC) != 0) {
		fc_error("httpd: pipe: %s", strerror(errno));
		goto out;
	}
	if (httpd_listen_open(h, err, sizeof err) != 0 || httpd_tls_init(h, err, sizeof err) != 0) {
		fc_error("httpd: %s", err);
		goto out;
	}
	if (a.user && drop_privileges(a.user, err, sizeof err) != 0) {
		fc_error("httpd: %s", err);
		goto out;
	}
	ks = fc_keystore_open(h->store_path, err, sizeof err);
	if (!ks) {
		fc_error("httpd: cannot open the keystore %s: %s", h->store_path, err);
		goto out;
	}
	if (httpd_mqtt_start(h, ks, err, sizeof err) != 0) {
		fc_error("httpd: %s", err);
		goto out;
	}
	fc_keystore_close(ks); /* handlers and TLS threads open their own */
	ks = NULL;
	if (httpd_mhd_start(h, err, sizeof err) != 0 || httpd_acceptor_start(h, err, sizeof err) != 0) {
		fc_error("httpd: %s", err);
		goto out;
	}
	size_t nv = 0;
	while (h->vendors[nv])
		nv++;
	fc_info("httpd: fakecloud-httpd %s: HTTP on %s, HTTPS (certificate and TLS-PSK) on %s, %zu vendor(s)",
		FC_VERSION, h->http_name, h->https_name, nv);

	for (;;) {
		int sig = 0;
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			fc_info("httpd: SIGHUP ignored (restart to apply configuration changes)");
			continue;
		}
		fc_info("httpd: %s received, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	}
	exit_code = 0;

out:
	atomic_store(&h->stopping, true);
	if (h->stop_pipe[1] >= 0) {
		ssize_t w = write(h->stop_pipe[1], "x", 1);
		(void)w;
	}
	httpd_acceptor_stop(h);
	bool drained = httpd_tls_drain(h, 1500);
	if (!drained) {
		/* A TLS thread is stuck (e.g. in a slow keystore lookup): do not free what it may use. */
		httpd_mqtt_stop(h);
		fc_info("httpd: stopped");
		_exit(exit_code);
	}
	httpd_mhd_stop(h);
	httpd_mqtt_stop(h);
	if (ks)
		fc_keystore_close(ks);
	httpd_tls_free(h);
	httpd_listen_close(h);
	if (h->stop_pipe[0] >= 0)
		close(h->stop_pipe[0]);
	if (h->stop_pipe[1] >= 0)
		close(h->stop_pipe[1]);
	if (exit_code == 0)
		fc_info("httpd: stopped");
	free(h->cfg);
	pthread_mutex_destroy(&h->lock);
	return exit_code;
}
