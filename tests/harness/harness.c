/* Integration harness: real `fakecloud init`, real mosquitto with the real plugin, real fakecloud-httpd,
 * free loopback ports, processes stopped by PID. */
#include "harness/harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/keystore.h"
#include "harness/spy.h"

int64_t fc_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fc_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

int fc_free_port(void)
{
	/* Bind port 0 and read the assigned port; ports are handed out sequentially by the kernel within the
	 * ephemeral range, so a short-lived reservation is good enough for tests. Avoid handing out the same
	 * port twice in one process. */
	static int used[64];
	static int n_used;
	for (int attempt = 0; attempt < 50; attempt++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			return -1;
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t al = sizeof a;
		if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
			close(fd);
			return -1;
		}
		close(fd);
		int port = ntohs(a.sin_port);
		int dup = 0;
		for (int i = 0; i < n_used; i++)
			dup |= used[i] == port;
		if (dup)
			continue;
		if (n_used < 64)
			used[n_used++] = port;
		return port;
	}
	return -1;
}

bool fc_port_open(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return false;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

/* Run argv, capture stdout+stderr into out; returns exit status (or -1). */
static int run_capture(char *const argv[], char *out, size_t outlen)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	size_t used = 0;
	char tmp[4096];
	ssize_t r;
	while ((r = read(p[0], tmp, sizeof tmp)) > 0) {
		if (out && used + 1 < outlen) {
			size_t k = (size_t)r < outlen - 1 - used ? (size_t)r : outlen - 1 - used;
			memcpy(out + used, tmp, k);
			used += k;
		}
	}
	close(p[0]);
	if (out && outlen)
		out[used] = 0;
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int read_file(const char *path, char *out, size_t outlen)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(out, 1, outlen - 1, f);
	out[n] = 0;
	fclose(f);
	return (int)n;
}

int fc_env_init(struct fc_env *e, const char *name, const char *const *extra_set)
{
	memset(e, 0, sizeof *e);
	const char *bin = getenv("FC_BIN_DIR");
	if (!bin) {
		fprintf(stderr, "harness: FC_BIN_DIR is not set (run through ctest)\n");
		return -1;
	}
	snprintf(e->bin_dir, sizeof e->bin_dir, "%s", bin);
	snprintf(e->name, sizeof e->name, "%s", name);
	snprintf(e->dir, sizeof e->dir, "/tmp/fc-%s-XXXXXX", name);
	if (!mkdtemp(e->dir)) {
		perror("mkdtemp");
		return -1;
	}
	chmod(e->dir, 0755);
	snprintf(e->conf, sizeof e->conf, "%s/fakecloud.conf", e->dir);
	snprintf(e->mosq_conf, sizeof e->mosq_conf, "%s/mosquitto.conf", e->dir);
	snprintf(e->ca_cert, sizeof e->ca_cert, "%s/certs/ca.crt", e->dir);
	snprintf(e->broker_log, sizeof e->broker_log, "%s/broker.log", e->dir);
	snprintf(e->httpd_log, sizeof e->httpd_log, "%s/httpd.log", e->dir);
	snprintf(e->admin_user, sizeof e->admin_user, "admin");
	e->mqtt_port = fc_free_port();
	e->tls_port = fc_free_port();
	e->psk_port = fc_free_port();
	e->http_port = fc_free_port();
	e->https_port = fc_free_port();

	char *argv[96];
	char sets[16][64];
	char plugin[600], exe[600], passfile[300];
	int n = 0;
	snprintf(exe, sizeof exe, "%s/fakecloud", e->bin_dir);
	snprintf(plugin, sizeof plugin, "%s/fakecloud.so", e->bin_dir);
	snprintf(passfile, sizeof passfile, "%s/admin.pass", e->dir);
	argv[n++] = exe;
	argv[n++] = "init";
	argv[n++] = "--dir";
	argv[n++] = e->dir;
	argv[n++] = "--plugin";
	argv[n++] = plugin;
	argv[n++] = "--admin-password-file";
	argv[n++] = passfile;
	/* Test brokers run as the invoking user: the plugin, keystore and certs stay ours. */
	argv[n++] = "--broker-user";
	argv[n++] = geteuid() == 0 ? "root" : getenv("USER") ? getenv("USER") : "root";
	int k = 0;
	snprintf(sets[k++], 64, "mqtt.port=%d", e->mqtt_port);
	snprintf(sets[k++], 64, "mqtt.tls_port=%d", e->tls_port);
	snprintf(sets[k++], 64, "mqtt.psk_port=%d", e->psk_port);
	snprintf(sets[k++], 64, "mqtt.listen=127.0.0.1");
	snprintf(sets[k++], 64, "http.http_port=%d", e->http_port);
	snprintf(sets[k++], 64, "http.https_port=%d", e->https_port);
	snprintf(sets[k++], 64, "http.listen=127.0.0.1");
	snprintf(sets[k++], 64, "core.log_level=debug");
	snprintf(sets[k++], 64, "tls.key_type=ec"); /* fast key generation; RSA is covered by certs tests */
	for (int i = 0; i < k; i++) {
		argv[n++] = "--set";
		argv[n++] = sets[i];
	}
	for (size_t i = 0; extra_set && extra_set[i] && n < 90; i++) {
		argv[n++] = "--set";
		argv[n++] = (char *)extra_set[i];
	}
	argv[n] = NULL;
	char out[8192];
	int rc = run_capture(argv, out, sizeof out);
	if (rc != 0) {
		fprintf(stderr, "harness: fakecloud init failed (%d):\n%s\n", rc, out);
		return -1;
	}
	char pass[sizeof e->admin_pass];
	if (read_file(passfile, pass, sizeof pass) <= 0) {
		fprintf(stderr, "harness: no admin password file after init\n%s\n", out);
		return -1;
	}
	pass[strcspn(pass, "\r\n")] = 0;
	snprintf(e->admin_pass, sizeof e->admin_pass, "%s", pass);
	return 0;
}

static void sanitizer_env(void)
{
	/* The sanitizer build's plugin is loaded by an uninstrumented mosquitto: preload the runtime. */
	const char *san = getenv("FC_SANITIZE");
	if (!san || strcmp(san, "1") != 0)
		return;
	char asan[512] = "", ubsan[512] = "", pre[1100];
	char *a1[] = {"/bin/sh", "-c", "gcc -print-file-name=libasan.so", NULL};
	char *a2[] = {"/bin/sh", "-c", "gcc -print-file-name=libubsan.so", NULL};
	run_capture(a1, asan, sizeof asan);
	run_capture(a2, ubsan, sizeof ubsan);
	asan[strcspn(asan, "\n")] = 0;
	ubsan[strcspn(ubsan, "\n")] = 0;
	snprintf(pre, sizeof pre, "%s:%s", asan, ubsan);
	setenv("LD_PRELOAD", pre, 1);
	/* mosquitto itself is not built for leak checking; fakecloud's own leaks are caught by the unit and
	 * httpd runs. */
	setenv("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=1", 1);
}

pid_t fc_spawn_logged(char *const argv[], const char *log, bool preload)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		setpgid(0, 0);
		if (preload)
			sanitizer_env();
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

static bool alive(pid_t pid)
{
	int st;
	return pid > 0 && waitpid(pid, &st, WNOHANG) == 0;
}

/* The '#' recorder follows every broker the test starts (a new connection each time). */
static void spy_attach(struct fc_env *e)
{
	if (e->no_recorder)
		return;
	if (!e->spy && !(e->spy = fc_spy_new())) {
		snprintf(e->spy_error, sizeof e->spy_error, "out of memory");
		return;
	}
	char why[160];
	if (fc_spy_attach(e->spy, e->mqtt_port, e->admin_user, e->admin_pass, why, sizeof why) != 0 &&
	    !e->spy_error[0])
		snprintf(e->spy_error, sizeof e->spy_error, "%s", why);
}

int fc_env_start_broker(struct fc_env *e)
{
	char *argv[] = {"/usr/sbin/mosquitto", "-c", e->mosq_conf, NULL};
	e->broker_pid = fc_spawn_logged(argv, e->broker_log, true);
	int64_t end = fc_mono_ms() + 15000;
	while (fc_mono_ms() < end) {
		if (!alive(e->broker_pid)) {
			char log[8192];
			read_file(e->broker_log, log, sizeof log);
			fprintf(stderr, "harness: mosquitto exited during start:\n%s\n", log);
			e->broker_pid = 0;
			return -1;
		}
		if (fc_port_open(e->mqtt_port) && fc_port_open(e->tls_port)) {
			spy_attach(e);
			return 0;
		}
		fc_sleep_ms(20);
	}
	fprintf(stderr, "harness: mosquitto did not open port %d\n", e->mqtt_port);
	return -1;
}

int fc_env_start_httpd(struct fc_env *e)
{
	char exe[600];
	snprintf(exe, sizeof exe, "%s/fakecloud-httpd", e->bin_dir);
	char *argv[] = {exe, "--config", e->conf, NULL};
	e->httpd_pid = fc_spawn_logged(argv, e->httpd_log, false);
	int64_t end = fc_mono_ms() + 15000;
	char body[2048];
	while (fc_mono_ms() < end) {
		if (!alive(e->httpd_pid)) {
			char log[8192];
			read_file(e->httpd_log, log, sizeof log);
			fprintf(stderr, "harness: fakecloud-httpd exited during start:\n%s\n", log);
			e->httpd_pid = 0;
			return -1;
		}
		if (fc_http_request(e->http_port, "GET", "/healthz", NULL, body, sizeof body) == 200)
			return 0;
		fc_sleep_ms(20);
	}
	fprintf(stderr, "harness: fakecloud-httpd did not answer /healthz on %d\n", e->http_port);
	return -1;
}

static int stop_pid(pid_t *pidp, int sig)
{
	pid_t pid = *pidp;
	if (pid <= 0)
		return -1;
	kill(pid, sig);
	int st = 0;
	int64_t end = fc_mono_ms() + 10000;
	while (fc_mono_ms() < end) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid) {
			*pidp = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		fc_sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	*pidp = 0;
	fprintf(stderr, "harness: pid %d did not stop on signal %d, killed\n", (int)pid, sig);
	return -1;
}

int fc_env_stop_broker(struct fc_env *e)
{
	int rc = stop_pid(&e->broker_pid, SIGTERM);
	fc_spy_detach(e->spy);
	return rc;
}

int fc_env_stop_httpd(struct fc_env *e) { return stop_pid(&e->httpd_pid, SIGTERM); }

int fc_env_kill_broker(struct fc_env *e)
{
	int rc = stop_pid(&e->broker_pid, SIGKILL);
	fc_spy_detach(e->spy);
	return rc;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* ---- every test: no stored secret in any log or published message ---- */

/* Shorter values (test passwords like "pw") would match unrelated text. */
#define LEAK_MIN_LEN 8

struct secret {
	char *value;
	size_t len;
	char kind[64];   /* the secrets key ("localKey", "key", ...) or what it is */
	char owner[200]; /* "device <name>", "account <vendor>/<id>", ... */
	int in_broker_log, in_httpd_log, in_messages;
	char first_topic[300]; /* where it was published first (the secret itself masked) */
	bool in_topic_name;
};

struct secret_list {
	struct secret *s;
	size_t n, cap;
};

static void secret_add(struct secret_list *l, const char *v, const char *kind, const char *owner)
{
	if (!v || strlen(v) < LEAK_MIN_LEN)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct secret *n = realloc(l->s, cap * sizeof *n);
		if (!n)
			return;
		l->s = n;
		l->cap = cap;
	}
	struct secret *x = &l->s[l->n];
	memset(x, 0, sizeof *x);
	if (!(x->value = strdup(v)))
		return;
	x->len = strlen(v);
	snprintf(x->kind, sizeof x->kind, "%s", kind ? kind : "?");
	snprintf(x->owner, sizeof x->owner, "%s", owner);
	l->n++;
}

static void collect_values(struct secret_list *l, const cJSON *v, const char *owner)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, v)
	{
		if (cJSON_IsObject(it) || cJSON_IsArray(it))
			collect_values(l, it, owner);
		else
			secret_add(l, cJSON_GetStringValue(it), it->string, owner);
	}
}

static int collect_device(void *ctx, const struct fc_device_row *row)
{
	char owner[200];
	snprintf(owner, sizeof owner, "%s device '%s'", row->vendor, row->name);
	collect_values(ctx, row->secrets, owner);
	return 0;
}

static int collect_account(void *ctx, const struct fc_account_row *row)
{
	char owner[200];
	snprintf(owner, sizeof owner, "%s account '%s'", row->vendor, row->account_id);
	collect_values(ctx, row->secrets, owner);
	return 0;
}

/* Every secret the keystore holds at the end of a test (device and account keys, the internal MQTT
 * password), plus the admin password. */
static void collect_secrets(struct fc_env *e, struct secret_list *l)
{
	char path[600];
	snprintf(path, sizeof path, "%s/fakecloud.db", e->dir);
	if (access(path, R_OK) == 0) {
		struct fc_keystore *ks = fc_keystore_open(path, NULL, 0);
		if (ks) {
			fc_ks_device_each(ks, NULL, collect_device, l);
			fc_ks_account_each(ks, NULL, collect_account, l);
			char pw[256];
			if (fc_ks_setting_get(ks, "internal_mqtt_password", pw, sizeof pw) == FC_KS_OK)
				secret_add(l, pw, "internal MQTT password", "fakecloud");
			fc_keystore_close(ks);
		}
	}
	secret_add(l, e->admin_pass, "admin password", "the admin user");
}

/* Many secrets against much text: Rabin-Karp, one rolling hash per distinct secret length, each with a
 * small open-addressing table of the secrets of that length. */
struct len_table {
	size_t len;
	uint64_t pow;   /* B^(len-1) */
	size_t mask;
	uint64_t *hash; /* per slot */
	int32_t *idx;   /* per slot: secret index, -1 empty */
};

struct matcher {
	const struct secret_list *l;
	struct len_table *t;
	size_t n;
};

#define RK_BASE 1099511628211ULL

static uint64_t rk_hash(const uint8_t *p, size_t len)
{
	uint64_t h = 0;
	for (size_t i = 0; i < len; i++)
		h = h * RK_BASE + p[i];
	return h;
}

static void matcher_free(struct matcher *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->t[i].hash);
		free(m->t[i].idx);
	}
	free(m->t);
	m->t = NULL;
	m->n = 0;
}

static int matcher_build(struct matcher *m, const struct secret_list *l)
{
	memset(m, 0, sizeof *m);
	m->l = l;
	for (size_t i = 0; i < l->n; i++) {
		size_t k = 0;
		while (k < m->n && m->t[k].len != l->s[i].len)
			k++;
		if (k < m->n)
			continue;
		struct len_table *nt = realloc(m->t, (m->n + 1) * sizeof *nt);
		if (!nt)
			return -1;
		m->t = nt;
		memset(&m->t[m->n], 0, sizeof m->t[m->n]);
		m->t[m->n++].len = l->s[i].len;
	}
	for (size_t k = 0; k < m->n; k++) {
		struct len_table *t = &m->t[k];
		size_t count = 0;
		for (size_t i = 0; i < l->n; i++)
			count += l->s[i].len == t->len;
		size_t slots = 16;
		while (slots < count * 2)
			slots *= 2;
		t->mask = slots - 1;
		t->hash = calloc(slots, sizeof *t->hash);
		t->idx = malloc(slots * sizeof *t->idx);
		if (!t->hash || !t->idx)
			return -1;
		for (size_t j = 0; j < slots; j++)
			t->idx[j] = -1;
		t->pow = 1;
		for (size_t j = 1; j < t->len; j++)
			t->pow *= RK_BASE;
		for (size_t i = 0; i < l->n; i++) {
			if (l->s[i].len != t->len)
				continue;
			uint64_t h = rk_hash((const uint8_t *)l->s[i].value, t->len);
			size_t j = (size_t)(h ^ (h >> 29)) & t->mask;
			while (t->idx[j] >= 0)
				j = (j + 1) & t->mask;
			t->hash[j] = h;
			t->idx[j] = (int32_t)i;
		}
	}
	return 0;
}

/* Calls hit(ctx, secret index) for every occurrence of every secret in buf. */
static void matcher_scan(const struct matcher *m, const uint8_t *buf, size_t len, void (*hit)(void *ctx, size_t i),
			 void *ctx)
{
	for (size_t k = 0; k < m->n; k++) {
		const struct len_table *t = &m->t[k];
		if (len < t->len)
			continue;
		uint64_t h = rk_hash(buf, t->len);
		for (size_t pos = 0;; pos++) {
			for (size_t j = (size_t)(h ^ (h >> 29)) & t->mask; t->idx[j] >= 0; j = (j + 1) & t->mask)
				if (t->hash[j] == h && memcmp(m->l->s[t->idx[j]].value, buf + pos, t->len) == 0)
					hit(ctx, (size_t)t->idx[j]);
			if (pos + t->len >= len)
				break;
			h = (h - buf[pos] * t->pow) * RK_BASE + buf[pos + t->len];
		}
	}
}

static uint8_t *slurp(const char *path, size_t *len)
{
	*len = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 65536, n = 0;
	uint8_t *b = malloc(cap);
	size_t r;
	while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			uint8_t *nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				b = NULL;
				break;
			}
			b = nb;
			cap *= 2;
		}
	}
	fclose(f);
	*len = n;
	return b;
}

static void hit_broker_log(void *ctx, size_t i) { ((struct secret_list *)ctx)->s[i].in_broker_log++; }
static void hit_httpd_log(void *ctx, size_t i) { ((struct secret_list *)ctx)->s[i].in_httpd_log++; }

struct msg_scan {
	const struct matcher *m;
	struct secret_list *l;
	const char *topic;
	size_t tlen;
	bool in_topic;
	size_t *seen; /* per secret: last message number counted, so a message counts once */
	size_t msg_no;
};

/* topic with every occurrence of secret s replaced by "<secret>" */
static void masked_topic(const char *topic, size_t tlen, const struct secret *s, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < tlen && o + 1 < cap;) {
		if (i + s->len <= tlen && memcmp(topic + i, s->value, s->len) == 0) {
			o += (size_t)snprintf(out + o, cap - o, "<secret>");
			if (o >= cap)
				o = cap - 1;
			i += s->len;
		} else {
			unsigned char c = (unsigned char)topic[i++];
			out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		}
	}
	out[o < cap ? o : cap - 1] = 0;
}

static void hit_message(void *ctx, size_t i)
{
	struct msg_scan *ms = ctx;
	struct secret *s = &ms->l->s[i];
	if (ms->seen[i] == ms->msg_no)
		return;
	ms->seen[i] = ms->msg_no;
	if (!s->in_messages++) {
		masked_topic(ms->topic, ms->tlen, s, s->first_topic, sizeof s->first_topic);
		s->in_topic_name = ms->in_topic;
	}
}

static void scan_message(void *ctx, const char *topic, size_t tlen, const uint8_t *payload, size_t plen)
{
	struct msg_scan *ms = ctx;
	ms->msg_no++;
	ms->topic = topic;
	ms->tlen = tlen;
	ms->in_topic = true;
	matcher_scan(ms->m, (const uint8_t *)topic, tlen, hit_message, ms);
	ms->in_topic = false;
	matcher_scan(ms->m, payload, plen, hit_message, ms);
}

/* Returns the number of findings (each printed without the secret). */
static int scan_stored_secrets(struct fc_env *e)
{
	struct secret_list l = {0};
	collect_secrets(e, &l);
	struct matcher m;
	int findings = 0;
	const char *test = e->name[0] ? e->name : "?";
	if (l.n && matcher_build(&m, &l) == 0) {
		size_t len;
		uint8_t *b = slurp(e->broker_log, &len);
		if (b)
			matcher_scan(&m, b, len, hit_broker_log, &l);
		free(b);
		if ((b = slurp(e->httpd_log, &len)))
			matcher_scan(&m, b, len, hit_httpd_log, &l);
		free(b);
		size_t n_msgs = 0, n_dropped = 0;
		struct msg_scan ms = {.m = &m, .l = &l, .seen = calloc(l.n, sizeof(size_t))};
		if (e->spy && ms.seen)
			fc_spy_each(e->spy, scan_message, &ms, &n_msgs, &n_dropped);
		free(ms.seen);
		if (n_dropped)
			fprintf(stderr, "harness: %s: the '#' recorder kept %zu of %zu distinct published messages (64 MiB cap); "
				"the rest were not scanned\n", test, n_msgs - n_dropped, n_msgs);
		for (size_t i = 0; i < l.n; i++) {
			struct secret *s = &l.s[i];
			if (s->in_broker_log || s->in_httpd_log) {
				fprintf(stderr, "harness: %s: secret '%s' of %s found in the logs (broker %d, httpd %d)\n",
					test, s->kind, s->owner, s->in_broker_log, s->in_httpd_log);
				findings++;
			}
			if (s->in_messages) {
				fprintf(stderr, "harness: %s: secret '%s' of %s was published in %d message(s), first %s '%s'\n",
					test, s->kind, s->owner, s->in_messages,
					s->in_topic_name ? "in the topic name" : "in the payload on topic", s->first_topic);
				findings++;
			}
		}
		matcher_free(&m);
	} else if (l.n) {
		fprintf(stderr, "harness: %s: out of memory for the secret scan\n", test);
		findings++;
	}
	for (size_t i = 0; i < l.n; i++) {
		memset(l.s[i].value, 0, l.s[i].len);
		free(l.s[i].value);
	}
	free(l.s);
	return findings;
}

void fc_env_cleanup(struct fc_env *e)
{
	if (e->httpd_pid > 0)
		fc_env_stop_httpd(e);
	if (e->broker_pid > 0)
		fc_env_stop_broker(e);
	int leaks = e->dir[0] ? scan_stored_secrets(e) : 0;
	bool spy_failed = e->spy_error[0] != 0;
	if (spy_failed)
		fprintf(stderr, "harness: %s: the '#' recorder could not follow the broker: %s\n",
			e->name[0] ? e->name : "?", e->spy_error);
	fc_spy_free(e->spy);
	e->spy = NULL;
	const char *keep = getenv("FC_KEEP");
	if (e->dir[0] && !(keep && strcmp(keep, "1") == 0))
		nftw(e->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	else if (e->dir[0])
		fprintf(stderr, "harness: kept %s\n", e->dir);
	e->dir[0] = 0;
	if (leaks || spy_failed) {
		/* Fails every integration test, whatever it checked itself. */
		if (leaks)
			fprintf(stderr, "harness: FAIL: %s: %d stored secret finding(s) in the logs or published "
				"messages\n", e->name[0] ? e->name : "?", leaks);
		exit(1);
	}
}

int fc_env_cli(struct fc_env *e, char *out, size_t outlen, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	char exe[600];
	snprintf(exe, sizeof exe, "%s/fakecloud", e->bin_dir);
	char *argv[128];
	int n = 0;
	argv[n++] = exe;
	argv[n++] = "--config";
	argv[n++] = e->conf;
	for (char *tok = strtok(line, " "); tok && n < 126; tok = strtok(NULL, " "))
		argv[n++] = tok;
	argv[n] = NULL;
	char dummy[1];
	return run_capture(argv, out ? out : dummy, out ? outlen : sizeof dummy);
}

static int count_in_file(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	int count = 0;
	char line[8192];
	while (fgets(line, sizeof line, f))
		for (char *p = line; (p = strstr(p, needle)); p += strlen(needle))
			count++;
	fclose(f);
	return count;
}

int fc_env_broker_log_count(struct fc_env *e, const char *needle) { return count_in_file(e->broker_log, needle); }
int fc_env_httpd_log_count(struct fc_env *e, const char *needle) { return count_in_file(e->httpd_log, needle); }

bool fc_env_wait_broker_log(struct fc_env *e, const char *needle, int count, int timeout_ms)
{
	int64_t end = fc_mono_ms() + timeout_ms;
	do {
		if (count_in_file(e->broker_log, needle) >= count)
			return true;
		fc_sleep_ms(20);
	} while (fc_mono_ms() < end);
	return false;
}

int fc_http_request(int port, const char *method, const char *path, const char *body, char *out, size_t outlen)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		return -1;
	}
	char req[8192];
	size_t blen = body ? strlen(body) : 0;
	int n = snprintf(req, sizeof req,
			 "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n",
			 method, path, blen);
	return fc_http_exchange(fd, req, (size_t)n, body, blen, out, outlen);
}

int fc_http_exchange(int fd, const char *head, size_t headlen, const char *body, size_t blen, char *out, size_t outlen)
{
	if (send(fd, head, headlen, MSG_NOSIGNAL) != (ssize_t)headlen ||
	    (blen && send(fd, body, blen, MSG_NOSIGNAL) != (ssize_t)blen)) {
		close(fd);
		return -1;
	}
	char buf[65536];
	size_t used = 0;
	ssize_t r;
	while (used < sizeof buf - 1 && (r = recv(fd, buf + used, sizeof buf - 1 - used, 0)) > 0)
		used += (size_t)r;
	close(fd);
	buf[used] = 0;
	int status = -1;
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	char *b = strstr(buf, "\r\n\r\n");
	if (out && outlen)
		snprintf(out, outlen, "%s", b ? b + 4 : "");
	return status;
}

int fc_env_scan_secrets(struct fc_env *e, struct fc_mq *spy, const char *const *secrets)
{
	int findings = 0;
	for (size_t i = 0; secrets[i]; i++) {
		if (!secrets[i][0])
			continue;
		int b = fc_env_broker_log_count(e, secrets[i]), h = fc_env_httpd_log_count(e, secrets[i]);
		int m = spy ? fc_mq_count_containing(spy, secrets[i]) : 0;
		if (b || h || m) {
			fprintf(stderr, "secret #%zu found: broker log %d, httpd log %d, MQTT messages %d\n", i, b, h, m);
			findings++;
		}
	}
	return findings;
}
