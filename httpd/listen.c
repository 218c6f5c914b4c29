/* Listening sockets and the acceptor thread. Every accepted connection first takes a slot: at most
 * http.max_connections in total and http.max_per_ip per client address; an excess connection is
 * closed at once with a (rate-limited) warning naming the address. Plain connections go straight to
 * MHD; TLS connections go to a pump thread (tls.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uthash.h>

#include "core/log.h"
#include "httpd/httpd.h"

struct httpd_ipcount {
	char ip[64];
	long n;
	UT_hash_handle hh;
};

void httpd_addr_ip(const struct sockaddr *sa, socklen_t len, char *out, size_t outlen)
{
	snprintf(out, outlen, "?");
	if (!sa)
		return;
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, out, (socklen_t)outlen);
	} else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], out, (socklen_t)outlen);
		else
			inet_ntop(AF_INET6, &in6->sin6_addr, out, (socklen_t)outlen);
	} else if (sa->sa_family == AF_UNIX) {
		snprintf(out, outlen, "unix");
	}
}

void httpd_local_ip(int fd, char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		snprintf(out, outlen, "%s", "");
		return;
	}
	httpd_addr_ip((struct sockaddr *)&ss, sl, out, outlen);
	if (strcmp(out, "?") == 0 || strcmp(out, "unix") == 0)
		out[0] = 0;
}

static int open_listener(const char *host, int port, char *name, size_t namecap, char *err, size_t errlen)
{
	char portstr[16];
	snprintf(portstr, sizeof portstr, "%d", port);
	snprintf(name, namecap, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);

	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	int grc = getaddrinfo(*host ? host : NULL, portstr, &hints, &res);
	if (grc != 0 || !res) {
		snprintf(err, errlen, "cannot resolve http.listen '%s': %s", host, gai_strerror(grc));
		return -1;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a socket for %s: %s", name, strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	int one = 1, zero = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero); /* "::" also takes IPv4 */
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
		int e = errno;
		const char *hint = "";
		if (e == EACCES && port < 1024)
			hint = " \xe2\x80\x94 run as root or choose ports >= 1024 in [http]";
		else if (e == EADDRINUSE)
			hint = " \xe2\x80\x94 another program uses it: stop it or choose another port in [http]";
		else if (e == EADDRNOTAVAIL)
			hint = " \xe2\x80\x94 http.listen must be an address of this host (or 0.0.0.0)";
		snprintf(err, errlen, "cannot bind %s: %s%s", name, strerror(e), hint);
		close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	if (listen(fd, 128) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int httpd_listen_open(struct httpd *h, char *err, size_t errlen)
{
	const char *host = fc_config_str(h->cfg, "http", "listen");
	if (!host)
		host = "0.0.0.0";
	h->http_fd = open_listener(host, (int)fc_config_int(h->cfg, "http", "http_port"), h->http_name,
				   sizeof h->http_name, err, errlen);
	if (h->http_fd < 0)
		return -1;
	h->https_fd = open_listener(host, (int)fc_config_int(h->cfg, "http", "https_port"), h->https_name,
				    sizeof h->https_name, err, errlen);
	if (h->https_fd < 0) {
		close(h->http_fd);
		h->http_fd = -1;
		return -1;
	}
	return 0;
}

void httpd_listen_close(struct httpd *h)
{
	if (h->http_fd >= 0)
		close(h->http_fd);
	if (h->https_fd >= 0)
		close(h->https_fd);
	h->http_fd = h->https_fd = -1;
	struct httpd_ipcount *c, *tmp;
	pthread_mutex_lock(&h->lock);
	HASH_ITER(hh, h->ips, c, tmp)
	{
		HASH_DEL(h->ips, c);
		free(c);
	}
	pthread_mutex_unlock(&h->lock);
}

/* Take a slot for a new connection from ip. NULL when granted, else the reason it is refused. */
static const char *conn_acquire(struct httpd *h, const char *ip, long *count)
{
	const char *why = NULL;
	pthread_mutex_lock(&h->lock);
	struct httpd_ipcount *c = NULL;
	HASH_FIND_STR(h->ips, ip, c);
	if (h->n_conns >= h->max_conns) {
		why = "http.max_connections";
		*count = h->n_conns;
	} else if (c && c->n >= h->max_per_ip) {
		why = "http.max_per_ip";
		*count = c->n;
	} else {
		if (!c) {
			c = calloc(1, sizeof *c);
			if (!c) {
				why = "out of memory";
				*count = 0;
				goto out;
			}
			snprintf(c->ip, sizeof c->ip, "%s", ip);
			HASH_ADD_STR(h->ips, ip, c);
		}
		c->n++;
		h->n_conns++;
	}
out:
	pthread_mutex_unlock(&h->lock);
	return why;
}

void httpd_conn_release(struct httpd *h, const char *ip)
{
	pthread_mutex_lock(&h->lock);
	struct httpd_ipcount *c = NULL;
	HASH_FIND_STR(h->ips, ip, c);
	if (c) {
		if (--c->n <= 0) {
			HASH_DEL(h->ips, c);
			free(c);
		}
		if (h->n_conns > 0)
			h->n_conns--;
	}
	pthread_mutex_unlock(&h->lock);
}

/* Refusals are logged at most once a second; the next line says how many were not logged. */
struct refuse_log {
	int64_t last_ms;
	unsigned long suppressed;
};

static void log_refusal(struct httpd *h, struct refuse_log *rl, const char *ip, const char *why, long count)
{
	int64_t now = httpd_mono_ms();
	if (rl->last_ms && now - rl->last_ms < 1000) {
		rl->suppressed++;
		return;
	}
	char more[64] = "";
	if (rl->suppressed)
		snprintf(more, sizeof more, " (%lu more refused since the last message)", rl->suppressed);
	if (strcmp(why, "http.max_per_ip") == 0)
		fc_warn("httpd: refusing connection from %s: %ld connections from this address are open "
			"(http.max_per_ip = %ld)%s",
			ip, count, h->max_per_ip, more);
	else if (strcmp(why, "http.max_connections") == 0)
		fc_warn("httpd: refusing connection from %s: %ld connections are open (http.max_connections = %ld)%s",
			ip, count, h->max_conns, more);
	else
		fc_warn("httpd: refusing connection from %s: %s%s", ip, why, more);
	rl->last_ms = now;
	rl->suppressed = 0;
}

/* Accept what is queued on one listener. */
static void accept_ready(struct httpd *h, int lfd, bool tls, struct refuse_log *rl, int64_t *last_err_ms)
{
	for (int i = 0; i < 64 && !atomic_load(&h->stopping); i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			int64_t now = httpd_mono_ms();
			if (now - *last_err_ms >= 1000) {
				fc_error("httpd: accept on %s failed: %s", tls ? h->https_name : h->http_name,
					 strerror(errno));
				*last_err_ms = now;
			}
			/* Out of descriptors or memory: let connections finish before trying again. */
			struct timespec ts = {0, 50 * 1000 * 1000};
			nanosleep(&ts, NULL);
			return;
		}
		char ip[64];
		httpd_addr_ip((struct sockaddr *)&ss, sl, ip, sizeof ip);
		long count = 0;
		const char *why = conn_acquire(h, ip, &count);
		if (why) {
			close(fd);
			log_refusal(h, rl, ip, why, count);
			continue;
		}
		if (tls) {
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
			httpd_tls_accept(h, fd, (struct sockaddr *)&ss, sl, ip);
			continue;
		}
		struct httpd_conninfo *info = calloc(1, sizeof *info);
		if (!info) {
			close(fd);
			httpd_conn_release(h, ip);
			continue;
		}
		snprintf(info->ip, sizeof info->ip, "%s", ip);
		httpd_local_ip(fd, info->local_ip, sizeof info->local_ip);
		info->holds_slot = true;
		httpd_mhd_inject(h, fd, (struct sockaddr *)&ss, sl, info);
	}
}

static void *acceptor_main(void *arg)
{
	struct httpd *h = arg;
	struct refuse_log rl = {0, 0};
	int64_t last_err_ms = 0, last_sweep = httpd_mono_ms();
	struct pollfd p[3] = {
		{.fd = h->http_fd, .events = POLLIN},
		{.fd = h->https_fd, .events = POLLIN},
		{.fd = h->stop_pipe[0], .events = POLLIN},
	};
	while (!atomic_load(&h->stopping)) {
		int n = poll(p, 3, 1000);
		if (n < 0 && errno != EINTR) {
			fc_error("httpd: poll: %s", strerror(errno));
			struct timespec ts = {0, 100 * 1000 * 1000};
			nanosleep(&ts, NULL);
			continue;
		}
		if (n > 0 && p[2].revents)
			break;
		if (n > 0 && (p[0].revents & POLLIN))
			accept_ready(h, h->http_fd, false, &rl, &last_err_ms);
		if (n > 0 && (p[1].revents & POLLIN))
			accept_ready(h, h->https_fd, true, &rl, &last_err_ms);
		int64_t now = httpd_mono_ms();
		if (now - last_sweep >= 1000) {
			httpd_mhd_sweep(h);
			last_sweep = now;
		}
	}
	return NULL;
}

int httpd_acceptor_start(struct httpd *h, char *err, size_t errlen)
{
	int rc = pthread_create(&h->acceptor, NULL, acceptor_main, h);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the acceptor thread: %s", strerror(rc));
		return -1;
	}
	h->acceptor_running = true;
	return 0;
}

void httpd_acceptor_stop(struct httpd *h)
{
	if (!h->acceptor_running)
		return;
	pthread_join(h->acceptor, NULL);
	h->acceptor_running = false;
}
