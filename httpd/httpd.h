/* fakecloud-httpd internals, shared by the files of this directory only.
 *
 *   main.c    arguments, configuration, signals, privilege drop, start/stop order
 *   listen.c  listening sockets and the acceptor thread; connection limits (total, per address)
 *   tls.c     OpenSSL termination (certificate + PSK on one port): one pump thread per connection
 *             between the TLS socket and one end of a socketpair whose other end goes to MHD
 *   mhd.c     libmicrohttpd daemon (no listen socket: every connection is injected), request
 *             accumulation, limits, /healthz and vendor route dispatch
 *   mqtt.c    libmosquitto client of the broker (internal user), used by handlers' notify()
 */
#ifndef FC_HTTPD_H
#define FC_HTTPD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/config.h"
#include "core/vendor.h"

struct fc_keystore;
struct MHD_Daemon;
struct httpd_tls;
struct httpd_mqtt;
struct httpd_ipcount;

/* What MHD's request handler needs to know about a connection that MHD only sees as a socket. */
struct httpd_conninfo {
	char ip[64];
	char local_ip[64];           /* our address the client reached (getsockname), "" unknown */
	bool tls;
	bool psk;
	uint8_t identity[128];
	size_t identity_len;
	const char *psk_vendor;
	bool holds_slot;             /* plain connection: release the acceptor slot when MHD closes it */
	int fd;                      /* MHD-side socket while pending */
	int64_t registered_ms;
	struct httpd_conninfo *next; /* pending list (registered, not yet started by MHD) */
};

struct httpd {
	struct fc_config *cfg;
	const struct fc_vendor *const *vendors;
	char store_path[1024];

	/* [http] limits */
	size_t max_body, max_header;
	long max_conns, max_per_ip;
	unsigned timeout_s;
	int tls_min_minor; /* 1 = TLS 1.0, 2 = 1.1, 3 = 1.2 */

	/* listeners */
	int http_fd, https_fd;
	char http_name[96], https_name[96];
	int stop_pipe[2];         /* readable once stopping: every poller includes stop_pipe[0] */
	atomic_bool stopping;
	pthread_t acceptor;
	bool acceptor_running;

	/* connection accounting (lock) */
	pthread_mutex_t lock;
	long n_conns;
	struct httpd_ipcount *ips;
	struct httpd_conninfo *pending;

	/* TLS */
	struct httpd_tls *tls;

	/* MHD */
	struct MHD_Daemon *mhd;
	struct fc_keystore *mhd_ks; /* opened lazily by and used only on the MHD thread */

	/* MQTT */
	struct httpd_mqtt *mqtt;
};

int64_t httpd_now_ms(void);
int64_t httpd_mono_ms(void);
/* Printable copy of untrusted bytes for a log line (non-printables become '?', capped). */
void httpd_printable(char *out, size_t outcap, const void *in, size_t len);

/* listen.c */
int httpd_listen_open(struct httpd *h, char *err, size_t errlen);
int httpd_acceptor_start(struct httpd *h, char *err, size_t errlen);
void httpd_acceptor_stop(struct httpd *h);
void httpd_listen_close(struct httpd *h);
void httpd_conn_release(struct httpd *h, const char *ip);
/* Text form of a socket address (IPv4-mapped IPv6 shown as IPv4). */
void httpd_addr_ip(const struct sockaddr *sa, socklen_t len, char *out, size_t outlen);
/* Text form of the local address of a connected socket ("" when unknown). */
void httpd_local_ip(int fd, char *out, size_t outlen);

/* tls.c */
int httpd_tls_init(struct httpd *h, char *err, size_t errlen);
/* Takes over fd and the acceptor slot held for ip (released when the connection ends). */
void httpd_tls_accept(struct httpd *h, int fd, const struct sockaddr *sa, socklen_t salen, const char *ip);
/* Wait (bounded) for the pump threads to end; call after stopping is set. True when all ended. */
bool httpd_tls_drain(struct httpd *h, int timeout_ms);
void httpd_tls_free(struct httpd *h);

/* mhd.c */
int httpd_mhd_start(struct httpd *h, char *err, size_t errlen);
/* Hand a connected socket to MHD. `info` (malloc'd) is owned by the call. Returns 0, or -1 when MHD
 * refused it (the socket is closed either way; a slot the info holds is released). */
int httpd_mhd_inject(struct httpd *h, int fd, const struct sockaddr *sa, socklen_t salen,
		     struct httpd_conninfo *info);
/* Drop pending registrations that MHD never started (it closed the socket without telling us). */
void httpd_mhd_sweep(struct httpd *h);
void httpd_mhd_stop(struct httpd *h);

/* mqtt.c */
int httpd_mqtt_start(struct httpd *h, struct fc_keystore *ks, char *err, size_t errlen);
bool httpd_mqtt_connected(const struct httpd *h);
int httpd_mqtt_notify(void *ctx, const char *topic, const void *payload, size_t len);
void httpd_mqtt_stop(struct httpd *h);

#endif
