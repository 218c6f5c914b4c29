/* bench_tuya: single-threaded epoll load generator for Tuya activations (docs/BENCHMARKS.md).
 *
 * One process, one thread, one epoll set, loopback only. N + B Tuya devices (-n, -b; B defaults to N)
 * are imported into the keystore (<dir>/fakecloud.db, tuya_import, with a one-DP schema) before
 * fakecloud-httpd and the broker start; importing is not measured. Then, against the production
 * fakecloud-httpd and mosquitto + plugin as `fakecloud init` generates them (core.log_level=info;
 * http.max_per_ip raised to http.max_connections because every connection comes from 127.0.0.1):
 *
 *   1. ATOP activations: devices 0..N-1, at most -c at a time (closed loop), each one
 *      POST /d.json?a=tuya.device.active&et=1&t=..&uuid=..&v=4.4&sign=.. with the AES-ECB body under
 *      its authKey over plain HTTP; the reply is opened (sign checked) and must carry devId, secKey
 *      and localKey. One TCP connection per request with "Connection: close" (what firmware does), or
 *      with -k persistent connections (one per slot, reused across devices).
 *   2. First boot: devices N..N+B-1, at most -c at a time: url_config over TLS-PSK (identity 1, PSK
 *      derived as the device does; a new TLS connection per device), tuya.device.active, then the six
 *      follow-ups of tuya.md §1.6 (dynamic.config.get, uuid.pskkey.get, upgrade.silent.get,
 *      timer.count, atop.online.debug.log, info.sync), every reply opened and checked.
 *   3. MQTT logins of the N devices activated in 1 (client id = user = devId, password
 *      md5(secKey)[8:24], MQTT 3.1.1, CONNECT -> CONNACK) with at most -m CONNECTs in flight; an admin
 *      client counts the "online" messages on fakecloud/<name>/availability. The same CONNECTs against
 *      a bare mosquitto (allow_anonymous, no plugin) in the same run give the ratio.
 *   Per phase: wall time, CPU seconds of the generator, fakecloud-httpd (total and its busiest thread:
 *   libmicrohttpd's single request thread) and the broker, the system's TCP listen-queue overflows and
 *   SYN retransmissions, and fakecloud-httpd's VmRSS / VmHWM (/proc/<pid>/status).
 *
 * Buffers are fixed per connection (4 KiB out, 16 KiB in); no thread per device. The figures are
 * printed as "RESULT" lines and a summary; nothing is asserted (benchmarks never assert timings). */
#include "core/crypto.h"
#include "core/keystore.h"
#include "harness/harness.h"
#include "vendors/tuya/codec.h"
#include "vendors/tuya/tuya_internal.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TX_MAX 4096
#define RX_MAX 16384
#define REQ_TIMEOUT_NS (30LL * 1000000000LL)
#define MQTT_KEEPALIVE 600
#define NAME_PREFIX "tuyabench"
#define SCHEMA "[{\"id\":1,\"type\":\"obj\",\"mode\":\"rw\",\"code\":\"switch_1\",\"property\":{\"type\":\"bool\"}}]"
#define URLCFG_BODY                                                                                                    \
	"{\"region\":\"AA\",\"env\":\"\",\"config\":[{\"key\":\"httpUrl\",\"need_ca\":false},{\"key\":\"mqttUrl\","    \
	"\"need_ca\":false},{\"key\":\"httpsPSKUrl\",\"need_ca\":false},{\"key\":\"mqttsPSKUrl\",\"need_ca\":false}]}"

enum { K_HTTP = 1, K_MQTT, K_ADMIN };
enum { PH_ATOP, PH_BOOT };
enum { HC_CLOSED, HC_CONNECTING, HC_HANDSHAKE, HC_SEND, HC_RECV, HC_IDLE };
/* Steps of one device's sequence. */
enum { S_URLCFG = 0, S_ACTIVE, S_FU0 /* .. S_FU0 + 5 */, S_DONE = S_FU0 + 6 };

/* The follow-ups of tuya.md §1.6, as the simulator (tests/sim/tuya_sim.c) sends them. */
static const struct {
	const char *a, *v;
	bool by_uuid;	   /* uuid + authKey (else devId + secKey) */
	const char *body;  /* JSON members before "t" ("%s" = devId where needed) */
	const char *check; /* member of "result" that must be present ("" = only success:true) */
} FU[6] = {
	{"tuya.device.dynamic.config.get", "2.0", false, "\"type\":\"[\\\"timezone\\\"]\",", "config"},
	{"tuya.device.uuid.pskkey.get", "1.0", true, "", "pskKey"},
	{"tuya.device.upgrade.silent.get", "4.4", false, "\"subId\":null,", ""},
	{"tuya.device.timer.count", "4.0", false, "\"devId\":\"%s\",\"lastFetchTime\":\"0\",", "count"},
	{"atop.online.debug.log", NULL, false, "\"data\":\"4\",", ""},
	{"tuya.device.info.sync", "1.0", false, "", "status"},
};

struct io {
	int kind;
	int fd;
	uint32_t evmask;
};

struct dev {
	char uuid[17], auth[33], name[24];
	char dev_id[TUYA_DEVID_MAX + 1], sec[TUYA_SECKEY_LEN + 1], local[TUYA_LOCALKEY_LEN + 1];
	bool activated, failed, online_seen;
};

struct hconn {
	struct io io; /* first member: epoll data.ptr points here */
	int st;
	bool tls, peer_closed;
	bool ssl_live;
	mbedtls_ssl_context ssl;
	mbedtls_ssl_config conf; /* per connection: the client PSK lives in the config (mbedtls 2.28) */
	char tx[TX_MAX];
	size_t txlen, txoff;
	char rx[RX_MAX + 1];
	size_t rxlen;
	struct slot *slot;
};

struct slot {
	struct hconn c;
	int dev; /* -1 = idle */
	int step;
	int64_t t_seq, t_req, t_step_start;
	int64_t t_url, t_act, t_fu; /* boot: durations of the parts */
};

struct mconn {
	struct io io;
	int st; /* 0 closed, 1 connecting, 2 waiting for CONNACK, 3 up */
	int dev;
	uint8_t rx[8];
	size_t rxlen;
	int64_t t0;
};

struct admin {
	struct io io;
	int st; /* 0 closed, 1 connecting, 2 CONNACK wait, 3 SUBACK wait, 4 ready */
	uint8_t rx[65536];
	size_t rxlen;
	int64_t last_rx;
	long online_msgs, msgs;
};

struct lat {
	int64_t *v;
	long n;
};

struct cpu {
	int64_t wall_ns;
	long overflows, synretrans;
	double sys_busy_s, sys_steal_s; /* /proc/stat: all CPUs */
	double gen_s, httpd_s, broker_s;
	int nthreads;
	int tids[4096];
	double tcpu[4096];
};

struct cpu_delta {
	double wall_s, gen_s, httpd_s, broker_s, busiest_s;
	double other_s, steal_s;    /* CPU of every other process on the machine (noise), hypervisor steal */
	long overflows, synretrans; /* TcpExt ListenOverflows / TCPSynRetrans during the phase */
};

struct atop_res {
	long done, failed;
	double secs, rate;
	double p50, p99, max; /* ms */
	struct cpu_delta cpu;
	long hwm_kb;
};

struct boot_res {
	long done, failed;
	double secs, rate;
	double p50, p99, max;		 /* whole sequence, ms */
	double url_p50, act_p50, fu_p50; /* parts, ms */
	double url_mean, act_mean, fu_mean;
	struct cpu_delta cpu;
	long hwm_kb;
};

struct mqtt_res {
	long n, ok, refused, failed;
	double secs, rate;
	double online_secs; /* plugin: until the last "online" availability */
	long online;
	double p50, p99; /* CONNECT -> CONNACK, ms */
	long slow;	 /* CONNACKs after more than 500 ms (a dropped SYN is retransmitted after 1 s) */
	struct cpu_delta cpu;
};

static struct {
	int n, nboot, ndevs, conc, mconc;
	bool keepalive, bare;
	int http_port, https_port, mqtt_port;
	int ep;
	struct dev *devs; /* 2n */
	struct slot *slots;
	struct mconn *mc;
	struct admin adm;
	int phase;
	int next_dev, dev_end;
	long done, failed;
	int err_prints;
	struct lat lat_seq, lat_url, lat_act, lat_fu;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	int psk_suites[2];
	pid_t httpd_pid, broker_pid;
	/* mqtt phase */
	long m_inflight, m_ok, m_refused, m_failed, online;
	int64_t t_last_online, t_last_connack;
	struct lat lat_conn;
	char admin_user[64], admin_pass[160];
} G;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void note_error(int dev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_error(int dev, const char *fmt, ...)
{
	if (G.err_prints++ >= 8)
		return;
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "bench: device %d: %s\n", dev, msg);
}

/* ---------------------------------------------------------------- identities */

static void dev_init(int i, struct dev *d)
{
	memset(d, 0, sizeof *d);
	snprintf(d->uuid, sizeof d->uuid, "tb%014d", i);
	char seed[48];
	snprintf(seed, sizeof seed, "bench-authkey-%d", i);
	fc_md5_hex(seed, strlen(seed), d->auth); /* 32 characters, like a real authKey */
	snprintf(d->name, sizeof d->name, NAME_PREFIX "%06d", i);
}

/* ---------------------------------------------------------------- /proc */

static long status_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	long kb = -1;
	size_t kl = strlen(key);
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, key, kl) == 0)
			kb = strtol(line + kl, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

/* A TcpExt counter of /proc/net/netstat (system-wide; -1 when missing). ListenOverflows and
 * TCPSynRetrans show SYNs dropped by a full accept queue and the 1 s retransmissions that follow. */
static long tcpext(const char *key)
{
	FILE *f = fopen("/proc/net/netstat", "r");
	if (!f)
		return -1;
	static char names[8192], vals[8192];
	long v = -1;
	while (fgets(names, sizeof names, f) && fgets(vals, sizeof vals, f)) {
		if (strncmp(names, "TcpExt:", 7) != 0)
			continue;
		char *sn = NULL, *sv = NULL;
		char *n = strtok_r(names, " \n", &sn), *x = strtok_r(vals, " \n", &sv);
		while (n && x) {
			if (strcmp(n, key) == 0) {
				v = strtol(x, NULL, 10);
				break;
			}
			n = strtok_r(NULL, " \n", &sn);
			x = strtok_r(NULL, " \n", &sv);
		}
		break;
	}
	fclose(f);
	return v;
}

/* utime + stime of /proc/<path>/stat in seconds (-1 when unreadable). */
static double stat_cpu(const char *path)
{
	char buf[1024];
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *p = strrchr(buf, ')'); /* comm may hold spaces */
	if (!p)
		return -1;
	unsigned long ut = 0, st = 0;
	/* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Busy (user+nice+system+irq+softirq) and steal seconds of all CPUs since boot. */
static void sys_cpu(double *busy, double *steal)
{
	unsigned long long u = 0, n = 0, sy = 0, id = 0, io = 0, irq = 0, sirq = 0, st = 0;
	FILE *f = fopen("/proc/stat", "r");
	if (f &&
	    fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &u, &n, &sy, &id, &io, &irq, &sirq, &st) == 8) {
		double hz = (double)sysconf(_SC_CLK_TCK);
		*busy = (double)(u + n + sy + irq + sirq) / hz;
		*steal = (double)st / hz;
	}
	if (f)
		fclose(f);
}

static double proc_cpu(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	return stat_cpu(path);
}

static void cpu_snap(struct cpu *c)
{
	memset(c, 0, sizeof *c);
	c->overflows = tcpext("ListenOverflows");
	c->synretrans = tcpext("TCPSynRetrans");
	c->wall_ns = now_ns();
	sys_cpu(&c->sys_busy_s, &c->sys_steal_s);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	c->gen_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
		   ru.ru_stime.tv_usec / 1e6;
	c->httpd_s = G.httpd_pid > 0 ? proc_cpu(G.httpd_pid) : 0;
	c->broker_s = G.broker_pid > 0 ? proc_cpu(G.broker_pid) : 0;
	char dir[64];
	snprintf(dir, sizeof dir, "/proc/%d/task", (int)G.httpd_pid);
	DIR *d = G.httpd_pid > 0 ? opendir(dir) : NULL;
	struct dirent *e;
	while (d && (e = readdir(d)) && c->nthreads < 4096) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char path[400];
		snprintf(path, sizeof path, "%s/%s/stat", dir, e->d_name);
		double v = stat_cpu(path);
		if (v < 0)
			continue;
		c->tids[c->nthreads] = atoi(e->d_name);
		c->tcpu[c->nthreads] = v;
		c->nthreads++;
	}
	if (d)
		closedir(d);
}

/* Deltas from a to b; the busiest httpd thread is the one alive in both with the largest delta (the
 * long-lived threads: main, acceptor, MHD, MQTT client; TLS pumps live for one connection). */
static struct cpu_delta cpu_diff(const struct cpu *a, const struct cpu *b)
{
	struct cpu_delta d = {
		.wall_s = (double)(b->wall_ns - a->wall_ns) / 1e9,
		.gen_s = b->gen_s - a->gen_s,
		.httpd_s = b->httpd_s - a->httpd_s,
		.broker_s = b->broker_s - a->broker_s,
		.overflows = b->overflows - a->overflows,
		.synretrans = b->synretrans - a->synretrans,
		.steal_s = b->sys_steal_s - a->sys_steal_s,
	};
	d.other_s = (b->sys_busy_s - a->sys_busy_s) - d.gen_s - d.httpd_s - d.broker_s;
	if (d.other_s < 0)
		d.other_s = 0;
	for (int i = 0; i < b->nthreads; i++)
		for (int j = 0; j < a->nthreads; j++)
			if (a->tids[j] == b->tids[i] && b->tcpu[i] - a->tcpu[j] > d.busiest_s)
				d.busiest_s = b->tcpu[i] - a->tcpu[j];
	return d;
}

/* ---------------------------------------------------------------- latency arrays */

static void lat_add(struct lat *l, int64_t ns) { l->v[l->n++] = ns; }

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static double lat_q(struct lat *l, double q) /* ms; sorts */
{
	if (!l->n)
		return 0;
	qsort(l->v, (size_t)l->n, sizeof *l->v, cmp64);
	long i = (long)((double)l->n * q);
	if (i >= l->n)
		i = l->n - 1;
	return (double)l->v[i] / 1e6;
}

static double lat_mean(const struct lat *l)
{
	if (!l->n)
		return 0;
	double s = 0;
	for (long i = 0; i < l->n; i++)
		s += (double)l->v[i];
	return s / (double)l->n / 1e6;
}

/* ---------------------------------------------------------------- epoll plumbing */

static void set_mask(struct io *io, uint32_t m)
{
	if (io->fd < 0 || m == io->evmask)
		return;
	struct epoll_event ev = {.events = m, .data.ptr = io};
	epoll_ctl(G.ep, EPOLL_CTL_MOD, io->fd, &ev);
	io->evmask = m;
}

/* Non-blocking connect to 127.0.0.1:port, registered for EPOLLOUT. -1 on immediate failure. */
static int tcp_start(struct io *io, int kind, int port)
{
	io->kind = kind;
	io->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (io->fd < 0)
		return -1;
	int one = 1;
	setsockopt(io->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	io->evmask = EPOLLOUT;
	struct epoll_event ev = {.events = io->evmask, .data.ptr = io};
	epoll_ctl(G.ep, EPOLL_CTL_ADD, io->fd, &ev);
	if (connect(io->fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
		epoll_ctl(G.ep, EPOLL_CTL_DEL, io->fd, NULL);
		close(io->fd);
		io->fd = -1;
		return -1;
	}
	return 0;
}

static void io_close(struct io *io)
{
	if (io->fd < 0)
		return;
	epoll_ctl(G.ep, EPOLL_CTL_DEL, io->fd, NULL);
	close(io->fd);
	io->fd = -1;
	io->evmask = 0;
}

static int connect_error(int fd)
{
	int err = 0;
	socklen_t l = sizeof err;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
	return err;
}

/* ---------------------------------------------------------------- HTTP(S) client */

static int bio_send(void *ctx, const unsigned char *b, size_t l)
{
	struct hconn *c = ctx;
	ssize_t r = send(c->io.fd, b, l, MSG_NOSIGNAL);
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? MBEDTLS_ERR_SSL_WANT_WRITE
										 : MBEDTLS_ERR_NET_SEND_FAILED;
	return (int)r;
}

static int bio_recv(void *ctx, unsigned char *b, size_t l)
{
	struct hconn *c = ctx;
	ssize_t r = recv(c->io.fd, b, l, 0);
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? MBEDTLS_ERR_SSL_WANT_READ
										 : MBEDTLS_ERR_NET_RECV_FAILED;
	return (int)r;
}

static void hc_close(struct hconn *c)
{
	io_close(&c->io);
	if (c->ssl_live) {
		mbedtls_ssl_free(&c->ssl);
		mbedtls_ssl_config_free(&c->conf);
		c->ssl_live = false;
	}
	c->st = HC_CLOSED;
	c->rxlen = c->txlen = c->txoff = 0;
	c->peer_closed = false;
}

static void step_finished(struct slot *s, bool ok, const char *body, size_t blen, int status);
static void slot_fail(struct slot *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void slot_fail(struct slot *s, const char *fmt, ...)
{
	char msg[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	note_error(s->dev, "step %d: %s", s->step, msg);
	hc_close(&s->c);
	step_finished(s, false, NULL, 0, -1);
}

/* Length of a complete response in rx (head + Content-Length body), 0 = not yet, -1 = malformed. */
static long http_complete(const char *buf, size_t len, bool eof, size_t *body_off, size_t *body_len, int *status)
{
	const char *eoh = memmem(buf, len, "\r\n\r\n", 4);
	if (!eoh)
		return eof ? -1 : 0;
	if (len < 12 || sscanf(buf, "HTTP/1.%*c %d", status) != 1)
		return -1;
	*body_off = (size_t)(eoh + 4 - buf);
	const char *cl = NULL;
	for (const char *p = buf; p < eoh; p++)
		if (*p == '\n' && (size_t)(eoh - p) > 16 && strncasecmp(p + 1, "Content-Length:", 15) == 0) {
			cl = p + 16;
			break;
		}
	if (!cl) {
		if (!eof)
			return 0;
		*body_len = len - *body_off;
		return (long)len;
	}
	size_t want = strtoul(cl, NULL, 10);
	if (want > RX_MAX)
		return -1;
	if (len - *body_off < want)
		return eof ? -1 : 0;
	*body_len = want;
	return (long)(*body_off + want);
}

static bool head_says_close(const char *buf, size_t head_len)
{
	char h[2048];
	size_t n = head_len < sizeof h - 1 ? head_len : sizeof h - 1;
	memcpy(h, buf, n);
	h[n] = 0;
	return strcasestr(h, "\r\nConnection: close") != NULL;
}

static void hc_update_mask(struct hconn *c, bool want_write) { set_mask(&c->io, want_write ? EPOLLOUT : EPOLLIN); }

static void hc_recv(struct hconn *c)
{
	struct slot *s = c->slot;
	for (;;) {
		if (c->rxlen >= RX_MAX) {
			slot_fail(s, "response over %d bytes", RX_MAX);
			return;
		}
		ssize_t r;
		if (c->ssl_live) {
			r = mbedtls_ssl_read(&c->ssl, (unsigned char *)c->rx + c->rxlen, RX_MAX - c->rxlen);
			if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
				break;
			if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || r == MBEDTLS_ERR_NET_CONN_RESET) {
				c->peer_closed = true;
				break;
			}
			if (r < 0) {
				char e[120];
				mbedtls_strerror((int)r, e, sizeof e);
				slot_fail(s, "TLS read: %s", e);
				return;
			}
		} else {
			r = recv(c->io.fd, c->rx + c->rxlen, RX_MAX - c->rxlen, 0);
			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
				break;
			if (r == 0 || (r < 0 && errno == ECONNRESET)) {
				c->peer_closed = true;
				break;
			}
			if (r < 0) {
				slot_fail(s, "recv: %s", strerror(errno));
				return;
			}
		}
		c->rxlen += (size_t)r;
	}
	size_t off = 0, blen = 0;
	int status = 0;
	long full = http_complete(c->rx, c->rxlen, c->peer_closed, &off, &blen, &status);
	if (full < 0) {
		slot_fail(s, "no complete HTTP response (%zu bytes%s)", c->rxlen, c->peer_closed ? ", closed" : "");
		return;
	}
	if (full == 0) {
		if (c->peer_closed) {
			slot_fail(s, "connection closed before a response");
			return;
		}
		hc_update_mask(c, false);
		return;
	}
	c->rx[off + blen] = 0;
	bool reuse =
		G.keepalive && !c->tls && !c->peer_closed && !head_says_close(c->rx, off) && (size_t)full == c->rxlen;
	if (reuse) {
		c->st = HC_IDLE;
		c->rxlen = 0;
		hc_update_mask(c, false);
		/* the body is still in rx (rxlen reset only marks the buffer free for the next response) */
		step_finished(s, true, c->rx + off, blen, status);
	} else {
		/* Copy out before the connection (and its buffer) is released. */
		char *body = malloc(blen + 1);
		if (!body)
			abort();
		memcpy(body, c->rx + off, blen + 1);
		hc_close(c);
		step_finished(s, true, body, blen, status);
		free(body);
	}
}

static void hc_send(struct hconn *c)
{
	while (c->txoff < c->txlen) {
		ssize_t r;
		if (c->ssl_live) {
			r = mbedtls_ssl_write(&c->ssl, (const unsigned char *)c->tx + c->txoff, c->txlen - c->txoff);
			if (r == MBEDTLS_ERR_SSL_WANT_WRITE || r == MBEDTLS_ERR_SSL_WANT_READ) {
				hc_update_mask(c, r == MBEDTLS_ERR_SSL_WANT_WRITE);
				return;
			}
			if (r < 0) {
				slot_fail(c->slot, "TLS write failed");
				return;
			}
		} else {
			r = send(c->io.fd, c->tx + c->txoff, c->txlen - c->txoff, MSG_NOSIGNAL);
			if (r < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
					hc_update_mask(c, true);
					return;
				}
				slot_fail(c->slot, "send: %s", strerror(errno));
				return;
			}
		}
		c->txoff += (size_t)r;
	}
	c->st = HC_RECV;
	hc_recv(c);
}

static void hc_handshake(struct hconn *c)
{
	int r = mbedtls_ssl_handshake(&c->ssl);
	if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) {
		hc_update_mask(c, r == MBEDTLS_ERR_SSL_WANT_WRITE);
		return;
	}
	if (r != 0) {
		char e[120];
		mbedtls_strerror(r, e, sizeof e);
		slot_fail(c->slot, "TLS-PSK handshake: %s", e);
		return;
	}
	c->st = HC_SEND;
	hc_send(c);
}

/* TLS-PSK client setup for the slot's device (identity 1, PSK derived with the built-in hint). */
static int hc_tls_setup(struct hconn *c, const struct dev *d)
{
	uint8_t id[TUYA_PSK_ID_V1_LEN], psk[TUYA_PSK_LEN];
	char err[128];
	if (tuya_psk_id_v1_build(NULL, d->uuid, d->auth, id) != 0 ||
	    tuya_psk_v1_derive(id, sizeof id, TUYA_PSK_HINT, TUYA_PSK_HINT_LEN, psk, err, sizeof err) != 0)
		return -1;
	mbedtls_ssl_config_init(&c->conf);
	mbedtls_ssl_init(&c->ssl);
	c->ssl_live = true;
	if (mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
					MBEDTLS_SSL_PRESET_DEFAULT) != 0)
		return -1;
	mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &G.drbg);
	mbedtls_ssl_conf_min_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_ciphersuites(&c->conf, G.psk_suites);
	mbedtls_ssl_conf_session_tickets(&c->conf, MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
	int rc = mbedtls_ssl_conf_psk(&c->conf, psk, sizeof psk, id, sizeof id);
	fc_wipe(psk, sizeof psk);
	if (rc != 0 || mbedtls_ssl_setup(&c->ssl, &c->conf) != 0)
		return -1;
	mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
	return 0;
}

static void hc_event(struct hconn *c, uint32_t ev)
{
	(void)ev;
	switch (c->st) {
	case HC_CONNECTING: {
		int err = connect_error(c->io.fd);
		if (err) {
			slot_fail(c->slot, "connect: %s", strerror(err));
			return;
		}
		if (c->tls) {
			c->st = HC_HANDSHAKE;
			hc_handshake(c);
		} else {
			c->st = HC_SEND;
			hc_send(c);
		}
		return;
	}
	case HC_HANDSHAKE: hc_handshake(c); return;
	case HC_SEND: hc_send(c); return;
	case HC_RECV: hc_recv(c); return;
	case HC_IDLE: {
		/* Server closed an idle keep-alive connection (or sent something unexpected): drop it. */
		char b[256];
		ssize_t r = recv(c->io.fd, b, sizeof b, MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
			hc_close(c);
		return;
	}
	default: return;
	}
}

/* ---------------------------------------------------------------- requests */

static const char *step_action(int step)
{
	return step == S_ACTIVE			? "tuya.device.active"
	       : step >= S_FU0 && step < S_DONE ? FU[step - S_FU0].a
						: "url_config";
}

/* Build the slot's next request into c->tx. 0 or -1. */
static int build_request(struct slot *s)
{
	struct hconn *c = &s->c;
	struct dev *d = &G.devs[s->dev];
	if (s->step == S_URLCFG) {
		int n = snprintf(
			c->tx, sizeof c->tx,
			"POST /v1/url_config HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
			"Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
			G.https_port, strlen(URLCFG_BODY), URLCFG_BODY);
		if (n <= 0 || (size_t)n >= sizeof c->tx)
			return -1;
		c->txlen = (size_t)n;
		c->txoff = 0;
		return 0;
	}
	long long t = (long long)time(NULL);
	char ts[24], json[1024];
	snprintf(ts, sizeof ts, "%lld", t);
	const char *a, *v;
	bool by_uuid;
	if (s->step == S_ACTIVE) {
		a = "tuya.device.active";
		v = "4.4";
		by_uuid = true;
		snprintf(
			json, sizeof json,
			"{\"token\":\"AAAAAA\",\"softVer\":\"1.1.7\",\"productKey\":\"keyfakecloudsim1\",\"protocolVer\":"
			"\"2.2\",\"baselineVer\":\"40.00\",\"productKeyStr\":\"keyfakecloudsim1\",\"hid\":\"%012x\","
			"\"modules\":\"[{\\\"otaChannel\\\":9,\\\"softVer\\\":\\\"1.1.7\\\",\\\"online\\\":true}]\","
			"\"devAttribute\":579,\"cadVer\":\"1.0.3\",\"cdVer\":\"1.0.0\","
			"\"options\":\"{\\\"isFK\\\":true,\\\"otaChannel\\\":0}\",\"t\":%lld}",
			(unsigned)s->dev, t);
	} else {
		int k = s->step - S_FU0;
		a = FU[k].a;
		v = FU[k].v;
		by_uuid = FU[k].by_uuid;
		char members[256];
		snprintf(members, sizeof members, FU[k].body, d->dev_id);
		snprintf(json, sizeof json, "{%s\"t\":%lld}", members, t);
	}
	const char *key = by_uuid ? d->auth : d->sec;
	struct tuya_query_param p[6];
	size_t n = 0;
	p[n++] = (struct tuya_query_param){"a", a};
	if (!by_uuid)
		p[n++] = (struct tuya_query_param){"devId", d->dev_id};
	p[n++] = (struct tuya_query_param){"et", "1"};
	p[n++] = (struct tuya_query_param){"t", ts};
	if (by_uuid)
		p[n++] = (struct tuya_query_param){"uuid", d->uuid};
	if (v)
		p[n++] = (struct tuya_query_param){"v", v};
	char sign[33], target[512];
	if (tuya_atop_sign_params(p, n, key, strlen(key), sign) != 0)
		return -1;
	size_t tl = (size_t)snprintf(target, sizeof target, "/d.json?");
	for (size_t i = 0; i < n; i++)
		tl += (size_t)snprintf(target + tl, sizeof target - tl, "%s=%s&", p[i].key, p[i].value);
	snprintf(target + tl, sizeof target - tl, "sign=%s", sign);
	char err[160];
	char *body = tuya_atop_body_encode(json, strlen(json), TUYA_ET_ECB, key, strlen(key), NULL, err, sizeof err);
	if (!body)
		return -1;
	size_t blen = strlen(body);
	int hn = snprintf(c->tx, sizeof c->tx,
			  "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: TUYA_IOT_SDK\r\nContent-Type: "
			  "application/x-www-form-urlencoded;charset=UTF-8\r\nContent-Length: %zu\r\n%s\r\n",
			  target, G.http_port, blen, G.keepalive ? "" : "Connection: close\r\n");
	if (hn <= 0 || (size_t)hn + blen >= sizeof c->tx) {
		free(body);
		return -1;
	}
	memcpy(c->tx + hn, body, blen);
	free(body);
	c->txlen = (size_t)hn + blen;
	c->txoff = 0;
	return 0;
}

/* Send the slot's current step: on its idle keep-alive connection, or on a new one. */
static void start_step(struct slot *s)
{
	struct hconn *c = &s->c;
	s->t_req = now_ns();
	bool tls = s->step == S_URLCFG;
	bool reuse = c->st == HC_IDLE && !tls && G.keepalive;
	if (!reuse)
		hc_close(c);
	if (build_request(s) != 0) {
		slot_fail(s, "cannot build the %s request", step_action(s->step));
		return;
	}
	if (reuse) {
		c->st = HC_SEND;
		hc_send(c);
		return;
	}
	c->tls = tls;
	if (tls && hc_tls_setup(c, &G.devs[s->dev]) != 0) {
		slot_fail(s, "TLS-PSK client setup failed");
		return;
	}
	if (tcp_start(&c->io, K_HTTP, tls ? G.https_port : G.http_port) != 0) {
		slot_fail(s, "connect: %s", strerror(errno));
		return;
	}
	c->st = HC_CONNECTING;
}

static const char *jstr(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static bool key_ok(const char *v, size_t min, size_t max)
{
	size_t n = v ? strlen(v) : 0;
	return v && n >= min && n <= max;
}

/* Check one reply. true = fine (device record updated for active). */
static bool check_reply(struct slot *s, const char *body, size_t blen, int status, char *why, size_t whylen)
{
	struct dev *d = &G.devs[s->dev];
	if (status != 200) {
		snprintf(why, whylen, "HTTP %d: %.120s", status, body ? body : "");
		return false;
	}
	if (s->step == S_URLCFG) {
		cJSON *r = cJSON_ParseWithLength(body, blen);
		const cJSON *h = cJSON_GetObjectItemCaseSensitive(r, "httpUrl");
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "mqttUrl");
		char want[96];
		snprintf(want, sizeof want, "http://127.0.0.1:%d/d.json", G.http_port);
		bool ok = jstr(h, "addr") && strcmp(jstr(h, "addr"), want) == 0 && jstr(m, "addr");
		if (!ok)
			snprintf(why, whylen, "url_config reply without the expected httpUrl/mqttUrl: %.160s", body);
		cJSON_Delete(r);
		return ok;
	}
	bool by_uuid = s->step == S_ACTIVE || FU[s->step - S_FU0].by_uuid;
	const char *key = by_uuid ? d->auth : d->sec;
	struct tuya_atop_body in;
	int64_t t = 0;
	bool sign_ok = false;
	char err[160];
	if (tuya_atop_response_open(body, blen, TUYA_ET_ECB, key, strlen(key), &in, &t, &sign_ok, err, sizeof err) !=
	    0) {
		snprintf(why, whylen, "%s reply does not open: %.100s: %.60s", step_action(s->step), err, body);
		return false;
	}
	bool ok = false;
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(in.root, "result");
	if (!sign_ok) {
		snprintf(why, whylen, "%s reply sign is wrong", step_action(s->step));
	} else if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(in.root, "success"))) {
		snprintf(why, whylen, "%s answered success:false (%s)", step_action(s->step),
			 jstr(in.root, "errorCode") ? jstr(in.root, "errorCode") : "?");
	} else if (s->step == S_ACTIVE) {
		const char *id = jstr(res, "devId"), *sec = jstr(res, "secKey"), *local = jstr(res, "localKey");
		if (!key_ok(id, 10, TUYA_DEVID_MAX) || !key_ok(sec, 16, 16) || !key_ok(local, 16, 16)) {
			snprintf(why, whylen, "active reply lacks devId/secKey/localKey");
		} else {
			snprintf(d->dev_id, sizeof d->dev_id, "%s", id);
			snprintf(d->sec, sizeof d->sec, "%s", sec);
			snprintf(d->local, sizeof d->local, "%s", local);
			d->activated = true;
			ok = true;
		}
	} else {
		const char *need = FU[s->step - S_FU0].check;
		ok = !need[0] || cJSON_GetObjectItemCaseSensitive(res, need);
		if (!ok)
			snprintf(why, whylen, "%s reply has no result.%s", step_action(s->step), need);
	}
	tuya_atop_body_free(&in);
	return ok;
}

static void assign_next(struct slot *s);

static void step_finished(struct slot *s, bool transport_ok, const char *body, size_t blen, int status)
{
	int64_t now = now_ns();
	char why[300] = "";
	bool ok = transport_ok && check_reply(s, body, blen, status, why, sizeof why);
	if (transport_ok && !ok)
		note_error(s->dev, "%s", why);
	if (ok) {
		if (s->step == S_URLCFG)
			s->t_url = now - s->t_req;
		else if (s->step == S_ACTIVE)
			s->t_act = now - s->t_req;
		if (G.phase == PH_ATOP && s->step == S_ACTIVE) {
			lat_add(&G.lat_act, now - s->t_req);
			s->step = S_DONE;
		} else {
			s->step++;
		}
	}
	if (!ok) {
		G.devs[s->dev].failed = true;
		G.failed++;
		if (s->c.st != HC_IDLE)
			hc_close(&s->c);
		assign_next(s);
		return;
	}
	if (s->step >= S_DONE) {
		if (G.phase == PH_BOOT) {
			lat_add(&G.lat_seq, now - s->t_seq);
			lat_add(&G.lat_url, s->t_url);
			lat_add(&G.lat_act, s->t_act);
			lat_add(&G.lat_fu, now - s->t_seq - s->t_url - s->t_act);
		}
		G.done++;
		assign_next(s);
		return;
	}
	start_step(s);
}

static void assign_next(struct slot *s)
{
	if (G.next_dev >= G.dev_end) {
		s->dev = -1;
		if (s->c.st == HC_IDLE)
			hc_close(&s->c);
		return;
	}
	s->dev = G.next_dev++;
	s->step = G.phase == PH_ATOP ? S_ACTIVE : S_URLCFG;
	s->t_seq = now_ns();
	start_step(s);
}

/* ---------------------------------------------------------------- MQTT (devices and admin) */

static size_t put_str(uint8_t *p, const char *s, size_t l)
{
	p[0] = (uint8_t)(l >> 8);
	p[1] = (uint8_t)l;
	memcpy(p + 2, s, l);
	return l + 2;
}

/* CONNECT (3.1.1, clean session) into out; returns its length. */
static size_t mqtt_connect_packet(uint8_t *out, size_t cap, const char *cid, const char *user, const char *pass)
{
	uint8_t b[512];
	size_t n = 0;
	if (strlen(cid) + strlen(user) + strlen(pass) + 32 > sizeof b || cap < sizeof b + 5)
		return 0;
	n += put_str(b + n, "MQTT", 4);
	b[n++] = 4;
	b[n++] = 0x80 | 0x40 | 0x02;
	b[n++] = MQTT_KEEPALIVE >> 8;
	b[n++] = MQTT_KEEPALIVE & 255;
	n += put_str(b + n, cid, strlen(cid));
	n += put_str(b + n, user, strlen(user));
	n += put_str(b + n, pass, strlen(pass));
	size_t h = 0;
	out[h++] = 0x10;
	size_t v = n;
	do {
		uint8_t x = v % 128;
		v /= 128;
		out[h++] = x | (v ? 0x80 : 0);
	} while (v);
	memcpy(out + h, b, n);
	return h + n;
}

static bool send_all(int fd, const uint8_t *b, size_t n)
{
	/* Small packets on a fresh loopback socket: the send buffer always takes them whole. */
	return send(fd, b, n, MSG_NOSIGNAL) == (ssize_t)n;
}

static void mc_fail(struct mconn *m, const char *why)
{
	if (m->st == 1 || m->st == 2) {
		G.m_inflight--;
		G.m_failed++;
		G.devs[m->dev].failed = true;
		note_error(m->dev, "MQTT: %s", why);
	}
	io_close(&m->io);
	m->st = 0;
}

static void mc_event(struct mconn *m, uint32_t ev)
{
	(void)ev;
	struct dev *d = &G.devs[m->dev];
	if (m->st == 1) {
		int err = connect_error(m->io.fd);
		if (err) {
			mc_fail(m, strerror(err));
			return;
		}
		char pw[17];
		tuya_mqtt_password(d->sec, strlen(d->sec), pw);
		uint8_t pkt[600];
		size_t n = mqtt_connect_packet(pkt, sizeof pkt, d->dev_id, d->dev_id, pw);
		if (!n || !send_all(m->io.fd, pkt, n)) {
			mc_fail(m, "CONNECT not sent");
			return;
		}
		m->st = 2;
		set_mask(&m->io, EPOLLIN);
		return;
	}
	ssize_t r = recv(m->io.fd, m->rx + m->rxlen, sizeof m->rx - m->rxlen, 0);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (r <= 0) {
		if (m->st == 3) { /* the broker dropped an online device */
			io_close(&m->io);
			m->st = 0;
			G.m_failed++;
			note_error(m->dev, "MQTT: connection closed after CONNACK");
		} else {
			mc_fail(m, r == 0 ? "closed before CONNACK" : strerror(errno));
		}
		return;
	}
	m->rxlen += (size_t)r;
	if (m->st == 2 && m->rxlen >= 4) {
		G.m_inflight--;
		if (m->rx[0] != 0x20 || m->rx[1] != 2 || m->rx[3] != 0) {
			G.m_refused++;
			note_error(m->dev, "MQTT: CONNACK code %d", m->rx[3]);
			io_close(&m->io);
			m->st = 0;
			return;
		}
		int64_t t = now_ns();
		lat_add(&G.lat_conn, t - m->t0);
		G.t_last_connack = t;
		G.m_ok++;
		m->st = 3;
		m->rxlen = 0;
	} else if (m->st == 3) {
		m->rxlen = 0; /* nothing expected; ignore */
	}
}

static void admin_send(const uint8_t *b, size_t n)
{
	if (G.adm.io.fd >= 0 && !send_all(G.adm.io.fd, b, n))
		fprintf(stderr, "bench: admin send failed\n");
}

static void admin_publish(const char *topic, size_t tl, const char *payload, size_t pl)
{
	G.adm.msgs++;
	G.adm.last_rx = now_ns();
	const char *pre = "fakecloud/" NAME_PREFIX, *suf = "/availability";
	size_t prl = strlen(pre), sl = strlen(suf);
	if (tl <= prl + sl || memcmp(topic, pre, prl) != 0 || memcmp(topic + tl - sl, suf, sl) != 0)
		return;
	if (pl != 6 || memcmp(payload, "online", 6) != 0)
		return;
	G.adm.online_msgs++;
	char num[16];
	size_t nl = tl - prl - sl;
	if (nl >= sizeof num)
		return;
	memcpy(num, topic + prl, nl);
	num[nl] = 0;
	int i = atoi(num);
	if (i < 0 || i >= G.ndevs || G.devs[i].online_seen)
		return;
	G.devs[i].online_seen = true;
	G.online++;
	G.t_last_online = now_ns();
}

static void admin_parse(void)
{
	struct admin *a = &G.adm;
	size_t off = 0;
	while (a->rxlen - off >= 2) {
		size_t len = 0, mul = 1, i = 1;
		bool complete = false;
		for (; i < 5 && off + i < a->rxlen; i++) {
			len += (a->rx[off + i] & 127) * mul;
			mul *= 128;
			if (!(a->rx[off + i] & 128)) {
				complete = true;
				i++;
				break;
			}
		}
		if (!complete)
			break;
		if (len + i > sizeof a->rx) {
			fprintf(stderr, "bench: admin: packet of %zu bytes is over the buffer\n", len);
			io_close(&a->io);
			a->st = 0;
			return;
		}
		if (off + i + len > a->rxlen)
			break;
		const uint8_t *p = a->rx + off + i;
		uint8_t type = a->rx[off] >> 4;
		if (type == 2 && a->st == 2) { /* CONNACK */
			if (len >= 2 && p[1] == 0) {
				uint8_t sub[64];
				const char *f = "fakecloud/+/availability";
				size_t n = 0;
				sub[n++] = 0x82;
				sub[n++] = (uint8_t)(2 + 2 + strlen(f) + 1);
				sub[n++] = 0;
				sub[n++] = 1;
				n += put_str(sub + n, f, strlen(f));
				sub[n++] = 0;
				admin_send(sub, n);
				a->st = 3;
			} else {
				fprintf(stderr, "bench: admin login refused\n");
				a->st = 0;
			}
		} else if (type == 9 && a->st == 3) {
			a->st = 4;
		} else if (type == 3 && len >= 2) {
			size_t tl = ((size_t)p[0] << 8) | p[1];
			size_t hdr = 2 + tl + (((a->rx[off] >> 1) & 3) ? 2 : 0);
			if (hdr <= len)
				admin_publish((const char *)p + 2, tl, (const char *)p + hdr, len - hdr);
		}
		off += i + len;
	}
	memmove(a->rx, a->rx + off, a->rxlen - off);
	a->rxlen -= off;
}

static void admin_event(uint32_t ev)
{
	(void)ev;
	struct admin *a = &G.adm;
	if (a->st == 1) {
		if (connect_error(a->io.fd)) {
			io_close(&a->io);
			a->st = 0;
			return;
		}
		uint8_t pkt[600];
		size_t n = mqtt_connect_packet(pkt, sizeof pkt, "bench-tuya-admin", G.admin_user, G.admin_pass);
		admin_send(pkt, n);
		a->st = 2;
		set_mask(&a->io, EPOLLIN);
		return;
	}
	for (;;) {
		ssize_t r = recv(a->io.fd, a->rx + a->rxlen, sizeof a->rx - a->rxlen, 0);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (r <= 0) {
			fprintf(stderr, "bench: admin connection lost\n");
			io_close(&a->io);
			a->st = 0;
			return;
		}
		a->rxlen += (size_t)r;
		admin_parse();
		if (a->st == 0)
			return;
	}
}

/* ---------------------------------------------------------------- loop */

static void loop_once(int timeout_ms)
{
	struct epoll_event evs[256];
	int n = epoll_wait(G.ep, evs, 256, timeout_ms);
	for (int i = 0; i < n; i++) {
		struct io *io = evs[i].data.ptr;
		switch (io->kind) {
		case K_HTTP: hc_event((struct hconn *)io, evs[i].events); break;
		case K_MQTT: mc_event((struct mconn *)io, evs[i].events); break;
		case K_ADMIN: admin_event(evs[i].events); break;
		default: break;
		}
	}
}

/* ---------------------------------------------------------------- phases */

static void run_http_phase(int phase, int first, int count)
{
	G.phase = phase;
	G.next_dev = first;
	G.dev_end = first + count;
	G.done = G.failed = 0;
	for (int i = 0; i < G.conc; i++) {
		struct slot *s = &G.slots[i];
		s->dev = -1;
	}
	for (int i = 0; i < G.conc && G.next_dev < G.dev_end; i++)
		assign_next(&G.slots[i]);
	int64_t last_print = now_ns();
	while (G.done + G.failed < count) {
		loop_once(50);
		int64_t now = now_ns();
		for (int i = 0; i < G.conc; i++) {
			struct slot *s = &G.slots[i];
			if (s->dev >= 0 && s->c.st != HC_IDLE && now - s->t_req > REQ_TIMEOUT_NS)
				slot_fail(s, "no answer within %lld s", REQ_TIMEOUT_NS / 1000000000LL);
		}
		if (now - last_print > 5000000000LL) {
			last_print = now;
			fprintf(stderr, "bench:   %ld/%d done, %ld failed\n", G.done, count, G.failed);
		}
	}
	for (int i = 0; i < G.conc; i++)
		hc_close(&G.slots[i].c);
}

static void phase_atop(struct atop_res *r)
{
	struct cpu a, b;
	G.lat_act.n = 0;
	cpu_snap(&a);
	run_http_phase(PH_ATOP, 0, G.n);
	cpu_snap(&b);
	r->done = G.done;
	r->failed = G.failed;
	r->cpu = cpu_diff(&a, &b);
	r->secs = r->cpu.wall_s;
	r->rate = r->done / r->secs;
	r->p50 = lat_q(&G.lat_act, 0.50);
	r->p99 = lat_q(&G.lat_act, 0.99);
	r->max = lat_q(&G.lat_act, 1.0);
	r->hwm_kb = status_kb(G.httpd_pid, "VmHWM:");
}

static void phase_boot(struct boot_res *r)
{
	struct cpu a, b;
	G.lat_seq.n = G.lat_url.n = G.lat_act.n = G.lat_fu.n = 0;
	cpu_snap(&a);
	run_http_phase(PH_BOOT, G.n, G.nboot);
	cpu_snap(&b);
	r->done = G.done;
	r->failed = G.failed;
	r->cpu = cpu_diff(&a, &b);
	r->secs = r->cpu.wall_s;
	r->rate = r->done / r->secs;
	r->p50 = lat_q(&G.lat_seq, 0.50);
	r->p99 = lat_q(&G.lat_seq, 0.99);
	r->max = lat_q(&G.lat_seq, 1.0);
	r->url_mean = lat_mean(&G.lat_url);
	r->act_mean = lat_mean(&G.lat_act);
	r->fu_mean = lat_mean(&G.lat_fu);
	r->url_p50 = lat_q(&G.lat_url, 0.5);
	r->act_p50 = lat_q(&G.lat_act, 0.5);
	r->fu_p50 = lat_q(&G.lat_fu, 0.5);
	r->hwm_kb = status_kb(G.httpd_pid, "VmHWM:");
}

static bool admin_connect(int port)
{
	memset(&G.adm, 0, sizeof G.adm);
	G.adm.io.fd = -1;
	if (tcp_start(&G.adm.io, K_ADMIN, port) != 0)
		return false;
	G.adm.st = 1;
	int64_t end = now_ns() + 10000000000LL;
	while (G.adm.st != 4 && G.adm.st != 0 && now_ns() < end)
		loop_once(20);
	if (G.adm.st != 4)
		return false;
	/* the retained availability of every device arrives first: wait until it stops */
	G.adm.last_rx = now_ns();
	while (now_ns() - G.adm.last_rx < 500000000LL && now_ns() < end + 20000000000LL)
		loop_once(20);
	return true;
}

/* N CONNECTs of the devices activated in the ATOP phase, -m in flight. */
static void phase_mqtt(int port, bool plugin, struct mqtt_res *r)
{
	memset(r, 0, sizeof *r);
	G.m_inflight = G.m_ok = G.m_refused = G.m_failed = G.online = 0;
	G.lat_conn.n = 0;
	for (int i = 0; i < G.ndevs; i++)
		G.devs[i].online_seen = false;
	int want = 0;
	for (int i = 0; i < G.n; i++)
		want += G.devs[i].activated;
	struct cpu a, b;
	cpu_snap(&a);
	int64_t t0 = a.wall_ns, last_progress = t0;
	G.t_last_connack = G.t_last_online = t0;
	int next = 0;
	long last_done = 0;
	for (;;) {
		while (G.m_inflight < G.mconc && next < G.n) {
			int i = next++;
			if (!G.devs[i].activated)
				continue;
			struct mconn *m = &G.mc[i];
			m->dev = i;
			m->rxlen = 0;
			m->t0 = now_ns();
			G.m_inflight++;
			m->st = 1;
			if (tcp_start(&m->io, K_MQTT, port) != 0)
				mc_fail(m, strerror(errno));
		}
		loop_once(20);
		long done = G.m_ok + G.m_refused + G.m_failed;
		bool all_acked = done >= want && next >= G.n;
		if (all_acked && (!plugin || G.online >= G.m_ok))
			break;
		long progress = done + G.online;
		if (progress != last_done) {
			last_done = progress;
			last_progress = now_ns();
		} else if (now_ns() - last_progress > 30000000000LL) {
			fprintf(stderr, "bench: MQTT: no progress for 30 s (%ld CONNACKs, %ld online)\n", G.m_ok,
				G.online);
			break;
		}
	}
	cpu_snap(&b);
	r->n = want;
	r->ok = G.m_ok;
	r->refused = G.m_refused;
	r->failed = G.m_failed;
	r->secs = (double)(G.t_last_connack - t0) / 1e9;
	r->rate = r->secs > 0 ? r->ok / r->secs : 0;
	r->online = G.online;
	r->online_secs = plugin ? (double)(G.t_last_online - t0) / 1e9 : 0;
	r->p50 = lat_q(&G.lat_conn, 0.5);
	r->p99 = lat_q(&G.lat_conn, 0.99);
	for (long i = 0; i < G.lat_conn.n; i++)
		r->slow += G.lat_conn.v[i] > 500000000LL;
	r->cpu = cpu_diff(&a, &b);
	/* Everyone goes offline again; let the broker finish publishing that before anything else runs. */
	for (int i = 0; i < G.n; i++)
		if (G.mc[i].st) {
			io_close(&G.mc[i].io);
			G.mc[i].st = 0;
		}
	if (plugin && G.adm.st == 4) {
		G.adm.last_rx = now_ns();
		int64_t end = now_ns() + 30000000000LL;
		while (now_ns() - G.adm.last_rx < 1000000000LL && now_ns() < end)
			loop_once(20);
	} else {
		usleep(1000000);
	}
}

/* ---------------------------------------------------------------- setup */

static int import_devices(const char *dir)
{
	char path[400], err[256];
	snprintf(path, sizeof path, "%s/fakecloud.db", dir);
	struct fc_keystore *ks = fc_keystore_open(path, err, sizeof err);
	if (!ks) {
		fprintf(stderr, "bench: cannot open %s: %s\n", path, err);
		return -1;
	}
	int64_t t0 = now_ns();
	for (int i = 0; i < G.ndevs; i++) {
		struct dev *d = &G.devs[i];
		struct tuya_import in = {
			.uuid = d->uuid, .auth_key = d->auth, .name = d->name, .schema = SCHEMA, .pv = "2.2"};
		if (tuya_import(ks, &in, err, sizeof err) != 0) {
			fprintf(stderr, "bench: import of %s failed: %s\n", d->uuid, err);
			fc_keystore_close(ks);
			return -1;
		}
	}
	fc_keystore_close(ks);
	fprintf(stderr, "bench: imported %d Tuya devices in %.1f s (not measured)\n", G.ndevs,
		(double)(now_ns() - t0) / 1e9);
	return 0;
}

static int conf_value(const char *file, const char *key, char *out, size_t cap)
{
	FILE *f = fopen(file, "r");
	char line[1024];
	size_t kl = strlen(key);
	int found = -1;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, key, kl) == 0 && line[kl] == ' ' && found < 0) {
			line[strcspn(line, "\r\n")] = 0;
			size_t l = strlen(line + kl + 1) < cap - 1 ? strlen(line + kl + 1) : cap - 1;
			memcpy(out, line + kl + 1, l);
			out[l] = 0;
			found = 0;
		}
	if (f)
		fclose(f);
	return found;
}

static pid_t start_bare(const char *dir, const char *user, int port)
{
	char conf[700], log[700];
	snprintf(conf, sizeof conf, "%s/mosquitto.conf", dir);
	snprintf(log, sizeof log, "%s/broker.log", dir);
	FILE *f = fopen(conf, "w");
	if (!f)
		return -1;
	fprintf(f,
		"# bare Mosquitto baseline for bench_tuya (no plugin)\n"
		"per_listener_settings false\nallow_anonymous true\npersistence false\nuser %s\n"
		"set_tcp_nodelay true\n"
		"log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
		"listener %d 127.0.0.1\n",
		user, port);
	fclose(f);
	char *argv[] = {"/usr/sbin/mosquitto", "-c", conf, NULL};
	pid_t pid = fc_spawn_logged(argv, log, false);
	for (int i = 0; i < 300 && !fc_port_open(port); i++)
		usleep(20000);
	return pid;
}

static bool httpd_broker_connected(int http_port)
{
	char body[2048];
	for (int i = 0; i < 500; i++) {
		if (fc_http_request(http_port, "GET", "/healthz", NULL, body, sizeof body) == 200 &&
		    strstr(body, "\"broker\":\"connected\""))
			return true;
		usleep(20000);
	}
	return false;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Stop fakecloud-httpd and the broker and remove the directory (FC_KEEP=1 keeps it). Not
 * fc_env_cleanup: its test guard compares every stored secret with every log line, which takes minutes
 * with thousands of imported devices and is no part of a benchmark. */
static void env_done(struct fc_env *e)
{
	if (e->httpd_pid > 0)
		fc_env_stop_httpd(e);
	if (e->broker_pid > 0)
		fc_env_stop_broker(e);
	const char *keep = getenv("FC_KEEP");
	if (keep && strcmp(keep, "1") == 0)
		fprintf(stderr, "bench: kept %s\n", e->dir);
	else if (e->dir[0])
		nftw(e->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	e->dir[0] = 0;
}

/* ---------------------------------------------------------------- output */

static void print_cpu(const char *label, const struct cpu_delta *c, long items)
{
	printf("  %-10s wall %.2f s; CPU s (share of one core): generator %.2f (%.0f%%), fakecloud-httpd %.2f (%.0f%%, "
	       "busiest thread %.2f = %.0f%%), broker %.2f (%.0f%%); httpd CPU per item %.2f ms, broker %.2f ms\n",
	       label, c->wall_s, c->gen_s, 100 * c->gen_s / c->wall_s, c->httpd_s, 100 * c->httpd_s / c->wall_s,
	       c->busiest_s, 100 * c->busiest_s / c->wall_s, c->broker_s, 100 * c->broker_s / c->wall_s,
	       items ? 1000 * c->httpd_s / (double)items : 0, items ? 1000 * c->broker_s / (double)items : 0);
	printf("  %-10s other processes on the machine %.2f CPU s (%.0f%% of a core), steal %.2f s; TCP (system-wide): %ld "
	       "listen-queue overflows, %ld SYN retransmissions\n",
	       "", c->other_s, 100 * c->other_s / c->wall_s, c->steal_s, c->overflows, c->synretrans);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_tuya [-n DEVICES] [-b BOOT_DEVICES] [-c CONCURRENCY] [-m MQTT_IN_FLIGHT] [-k] [--no-bare]\n"
		"  -n  devices that activate over ATOP alone and then log in to MQTT (default 1000)\n"
		"  -b  further devices that do the full first boot (default: the same as -n; 0 skips that phase);\n"
		"      n + b devices are imported\n"
		"  -c  concurrent device sequences / HTTP connections (default 16)\n"
		"  -m  MQTT CONNECTs in flight (default 100)\n"
		"  -k  ATOP over persistent HTTP/1.1 connections (default: one connection per request, Connection:\n"
		"      close, as firmware does; url_config is always one TLS-PSK connection per device)\n"
		"  --no-bare  skip the bare-mosquitto MQTT baseline\n"
		"Environment: FC_BIN_DIR (fakecloud, fakecloud-httpd, fakecloud.so), FC_KEEP=1 keeps the directory.\n");
}

int main(int argc, char **argv)
{
	G.n = 1000;
	G.nboot = -1;
	G.conc = 16;
	G.mconc = 100;
	G.bare = true;
	static const struct option lo[] = {{"no-bare", no_argument, NULL, 'B'},
					   {"keepalive", no_argument, NULL, 'k'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	int ch;
	while ((ch = getopt_long(argc, argv, "n:b:c:m:kh", lo, NULL)) != -1) {
		switch (ch) {
		case 'n': G.n = atoi(optarg); break;
		case 'b': G.nboot = atoi(optarg); break;
		case 'c': G.conc = atoi(optarg); break;
		case 'm': G.mconc = atoi(optarg); break;
		case 'k': G.keepalive = true; break;
		case 'B': G.bare = false; break;
		default: usage(); return 2;
		}
	}
	if (G.nboot < 0)
		G.nboot = G.n;
	if (G.n < 1 || G.n > 200000 || G.nboot > 200000 || G.conc < 1 || G.conc > 200 || G.mconc < 1) {
		usage();
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	/* File descriptors: N MQTT connections here and in each broker (which inherit the limit). */
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rlim_t need = (rlim_t)G.n + 512;
	if (rl.rlim_max < need) {
		struct rlimit w = {need, need};
		if (setrlimit(RLIMIT_NOFILE, &w) == 0)
			rl = w;
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	printf("INFO devices=%d boot_devices=%d (imported %d) concurrency=%d mqtt_in_flight=%d http=%s nofile=%llu\n",
	       G.n, G.nboot, G.n + G.nboot, G.conc, G.mconc, G.keepalive ? "keep-alive" : "connection-per-request",
	       (unsigned long long)rl.rlim_cur);
	fflush(stdout);

	mbedtls_entropy_init(&G.entropy);
	mbedtls_ctr_drbg_init(&G.drbg);
	const mbedtls_ssl_ciphersuite_t *cs = mbedtls_ssl_ciphersuite_from_string("TLS-PSK-WITH-AES-128-CBC-SHA256");
	if (!cs ||
	    mbedtls_ctr_drbg_seed(&G.drbg, mbedtls_entropy_func, &G.entropy, (const unsigned char *)"bench", 5)) {
		fprintf(stderr, "bench: mbedtls setup failed\n");
		return 1;
	}
	G.psk_suites[0] = cs->id;
	G.psk_suites[1] = 0;

	G.ep = epoll_create1(EPOLL_CLOEXEC);
	G.ndevs = G.n + G.nboot;
	size_t nlat = (size_t)(G.n > G.nboot ? G.n : G.nboot) + 1;
	G.devs = calloc((size_t)G.ndevs, sizeof *G.devs);
	G.slots = calloc((size_t)G.conc, sizeof *G.slots);
	G.mc = calloc((size_t)G.n, sizeof *G.mc);
	G.lat_seq.v = calloc(nlat, sizeof(int64_t));
	G.lat_url.v = calloc(nlat, sizeof(int64_t));
	G.lat_act.v = calloc(nlat, sizeof(int64_t));
	G.lat_fu.v = calloc(nlat, sizeof(int64_t));
	G.lat_conn.v = calloc(nlat, sizeof(int64_t));
	if (G.ep < 0 || !G.devs || !G.slots || !G.mc || !G.lat_seq.v || !G.lat_url.v || !G.lat_act.v || !G.lat_fu.v ||
	    !G.lat_conn.v)
		return 1;
	for (int i = 0; i < G.ndevs; i++)
		dev_init(i, &G.devs[i]);
	for (int i = 0; i < G.conc; i++) {
		G.slots[i].c.io.fd = -1;
		G.slots[i].c.slot = &G.slots[i];
		G.slots[i].dev = -1;
	}
	for (int i = 0; i < G.n; i++)
		G.mc[i].io.fd = -1;

	/* All connections come from 127.0.0.1: the per-address limit (default 32) is raised to the total
	 * limit (default 256) so that it is not what is measured. */
	struct fc_env e;
	const char *sets[] = {"core.log_level=info", "http.max_per_ip=256", NULL};
	if (fc_env_init(&e, "bench-tuya", sets) != 0)
		return 1;
	e.no_recorder = true; /* no extra '#' subscriber: the bare run has none */
	G.http_port = e.http_port;
	G.https_port = e.https_port;
	G.mqtt_port = e.mqtt_port;
	snprintf(G.admin_user, sizeof G.admin_user, "%s", e.admin_user);
	snprintf(G.admin_pass, sizeof G.admin_pass, "%s", e.admin_pass);
	if (import_devices(e.dir) != 0) {
		env_done(&e);
		return 1;
	}
	if (fc_env_start_broker(&e) != 0 || fc_env_start_httpd(&e) != 0 || !httpd_broker_connected(e.http_port)) {
		fprintf(stderr, "bench: broker or fakecloud-httpd did not start (logs: %s, %s)\n", e.broker_log,
			e.httpd_log);
		env_done(&e);
		return 1;
	}
	G.httpd_pid = e.httpd_pid;
	G.broker_pid = e.broker_pid;
	usleep(500000);
	long rss0 = status_kb(G.httpd_pid, "VmRSS:");

	struct atop_res ra;
	struct boot_res rb;
	struct mqtt_res rp, rbare;
	memset(&ra, 0, sizeof ra);
	memset(&rb, 0, sizeof rb);
	memset(&rp, 0, sizeof rp);
	memset(&rbare, 0, sizeof rbare);

	fprintf(stderr, "bench: phase 1: %d ATOP activations, %d concurrent (%s)...\n", G.n, G.conc,
		G.keepalive ? "keep-alive" : "one connection per request");
	phase_atop(&ra);
	printf("RESULT atop devices=%d ok=%ld failed=%ld secs=%.2f rate=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f "
	       "httpd_cpu_s=%.2f httpd_busiest_thread_s=%.2f broker_cpu_s=%.2f gen_cpu_s=%.2f other_cpu_s=%.2f "
	       "httpd_rss0_kb=%ld httpd_hwm_kb=%ld\n",
	       G.n, ra.done, ra.failed, ra.secs, ra.rate, ra.p50, ra.p99, ra.max, ra.cpu.httpd_s, ra.cpu.busiest_s,
	       ra.cpu.broker_s, ra.cpu.gen_s, ra.cpu.other_s, rss0, ra.hwm_kb);
	fflush(stdout);

	if (G.nboot > 0) {
		fprintf(stderr,
			"bench: phase 2: %d first boots (url_config TLS-PSK + active + 6 follow-ups), %d concurrent...\n",
			G.nboot, G.conc);
		phase_boot(&rb);
	}
	if (G.nboot > 0)
		printf("RESULT boot devices=%d ok=%ld failed=%ld secs=%.2f rate=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f "
		       "url_config_mean_ms=%.2f active_mean_ms=%.2f followups_mean_ms=%.2f httpd_cpu_s=%.2f "
		       "httpd_busiest_thread_s=%.2f broker_cpu_s=%.2f gen_cpu_s=%.2f other_cpu_s=%.2f httpd_hwm_kb=%ld\n",
		       G.nboot, rb.done, rb.failed, rb.secs, rb.rate, rb.p50, rb.p99, rb.max, rb.url_mean, rb.act_mean,
		       rb.fu_mean, rb.cpu.httpd_s, rb.cpu.busiest_s, rb.cpu.broker_s, rb.cpu.gen_s, rb.cpu.other_s,
		       rb.hwm_kb);
	fflush(stdout);

	fprintf(stderr, "bench: phase 3: MQTT logins of the %ld activated devices, %d in flight...\n", ra.done,
		G.mconc);
	if (!admin_connect(e.mqtt_port))
		fprintf(stderr, "bench: admin client could not connect/subscribe: availability not counted\n");
	phase_mqtt(e.mqtt_port, true, &rp);
	io_close(&G.adm.io);
	printf("RESULT mqtt_plugin devices=%ld connack=%ld refused=%ld failed=%ld secs=%.2f rate=%.1f p50_ms=%.2f "
	       "p99_ms=%.2f slow=%ld online=%ld online_secs=%.2f broker_cpu_s=%.2f gen_cpu_s=%.2f other_cpu_s=%.2f "
	       "listen_overflows=%ld syn_retrans=%ld\n",
	       rp.n, rp.ok, rp.refused, rp.failed, rp.secs, rp.rate, rp.p50, rp.p99, rp.slow, rp.online, rp.online_secs,
	       rp.cpu.broker_s, rp.cpu.gen_s, rp.cpu.other_s, rp.cpu.overflows, rp.cpu.synretrans);
	fflush(stdout);

	if (G.bare) {
		char dir[600], user[64] = "root";
		conf_value(e.mosq_conf, "user", user, sizeof user);
		snprintf(dir, sizeof dir, "%s/bare", e.dir);
		mkdir(dir, 0755);
		int port = fc_free_port();
		pid_t pid = start_bare(dir, user, port);
		if (pid <= 0 || !fc_port_open(port)) {
			fprintf(stderr, "bench: bare mosquitto did not start (log: %s/broker.log)\n", dir);
		} else {
			pid_t fb = G.broker_pid;
			G.broker_pid = pid;
			fprintf(stderr, "bench: the same %ld CONNECTs against bare mosquitto...\n", rp.n);
			phase_mqtt(port, false, &rbare);
			G.broker_pid = fb;
			printf("RESULT mqtt_bare devices=%ld connack=%ld refused=%ld failed=%ld secs=%.2f rate=%.1f "
			       "p50_ms=%.2f p99_ms=%.2f slow=%ld broker_cpu_s=%.2f gen_cpu_s=%.2f other_cpu_s=%.2f listen_overflows=%ld "
			       "syn_retrans=%ld\n",
			       rbare.n, rbare.ok, rbare.refused, rbare.failed, rbare.secs, rbare.rate, rbare.p50,
			       rbare.p99, rbare.slow, rbare.cpu.broker_s, rbare.cpu.gen_s, rbare.cpu.other_s,
			       rbare.cpu.overflows, rbare.cpu.synretrans);
		}
		if (pid > 0) {
			kill(pid, SIGTERM);
			waitpid(pid, NULL, 0);
		}
	}

	printf("\n1. ATOP tuya.device.active over plain HTTP (%s), %d concurrent:\n",
	       G.keepalive ? "keep-alive" : "one connection per request", G.conc);
	printf("  %ld/%d activated, %ld failed in %.2f s: %.0f activations/s; latency p50 %.2f ms, p99 %.2f ms, max "
	       "%.2f ms\n",
	       ra.done, G.n, ra.failed, ra.secs, ra.rate, ra.p50, ra.p99, ra.max);
	print_cpu("phase 1", &ra.cpu, ra.done);
	if (G.nboot > 0) {
		printf("\n2. First boot (url_config over TLS-PSK + active + 6 follow-ups, 8 requests), %d concurrent:\n",
		       G.conc);
		printf("  %ld/%d booted, %ld failed in %.2f s: %.1f devices/s (%.0f requests/s); sequence p50 %.1f ms, p99 %.1f "
		       "ms, max %.1f ms\n",
		       rb.done, G.nboot, rb.failed, rb.secs, rb.rate, rb.rate * 8, rb.p50, rb.p99, rb.max);
		printf("  parts (mean / p50): url_config %.2f / %.2f ms, active %.2f / %.2f ms, 6 follow-ups %.2f / %.2f ms\n",
		       rb.url_mean, rb.url_p50, rb.act_mean, rb.act_p50, rb.fu_mean, rb.fu_p50);
		print_cpu("phase 2", &rb.cpu, rb.done);
	}
	printf("\n3. MQTT logins (%d in flight):\n", G.mconc);
	printf("  %-34s %12s %12s %8s\n", "figure", "plugin", "bare", "ratio");
	printf("  %-34s %12ld %12ld\n", "CONNACK accepted", rp.ok, rbare.ok);
	printf("  %-34s %12ld %12ld\n", "refused / failed", rp.refused + rp.failed, rbare.refused + rbare.failed);
	printf("  %-34s %12.2f %12.2f\n", "time to the last CONNACK (s)", rp.secs, rbare.secs);
	printf("  %-34s %12.0f %12.0f %8.2f\n", "connects/s", rp.rate, rbare.rate,
	       rbare.rate > 0 ? rp.rate / rbare.rate : 0);
	printf("  %-34s %12.2f %12.2f\n", "CONNECT->CONNACK p50 (ms)", rp.p50, rbare.p50);
	printf("  %-34s %12.2f %12.2f\n", "CONNECT->CONNACK p99 (ms)", rp.p99, rbare.p99);
	printf("  %-34s %12.2f %12.2f\n", "broker CPU s", rp.cpu.broker_s, rbare.cpu.broker_s);
	printf("  %-34s %12.0f %12.0f %8.2f\n", "broker CPU per connect (us)",
	       rp.ok ? 1e6 * rp.cpu.broker_s / rp.ok : 0, rbare.ok ? 1e6 * rbare.cpu.broker_s / rbare.ok : 0,
	       rbare.ok && rbare.cpu.broker_s > 0 ? (rp.cpu.broker_s / rp.ok) / (rbare.cpu.broker_s / rbare.ok) : 0);
	printf("  %-34s %12ld %12ld\n", "CONNACKs after > 500 ms", rp.slow, rbare.slow);
	printf("  %-34s %12ld %12ld\n", "listen overflows / SYN retransmits", rp.cpu.overflows + rp.cpu.synretrans,
	       rbare.cpu.overflows + rbare.cpu.synretrans);
	printf("  %-34s %12.2f %12.2f\n", "other processes' CPU s (noise)", rp.cpu.other_s, rbare.cpu.other_s);
	printf("  all %ld online on fakecloud/<name>/availability after %.2f s (%ld seen)\n", rp.ok, rp.online_secs,
	       rp.online);
	printf("\n4. fakecloud-httpd memory: VmRSS %ld KiB at start, VmHWM %ld KiB after phase 1", rss0, ra.hwm_kb);
	if (G.nboot > 0)
		printf(", %ld KiB after phase 2", rb.hwm_kb);
	printf("\n");

	env_done(&e);
	return 0;
}
