/* TLS termination with mbedtls 2.28: one configuration serves certificate clients (tls.cert/tls.key)
 * and TLS-PSK clients (keys from the vendors' psk_key hooks) on the same port, TLS 1.0..1.2.
 *
 * Each accepted connection gets a pump thread: handshake (bounded in time), then a socketpair whose
 * far end is handed to MHD with the client's real address, then plaintext is copied both ways with
 * back-pressure (nothing is read from one side until the other side took the previous chunk). The
 * pump owns the client socket and the acceptor slot; it ends when either side is done, on idle
 * timeout, or when the daemon stops. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/x509_crt.h>

#include "core/keystore.h"
#include "core/log.h"
#include "httpd/httpd.h"

#define PUMP_BUF 16384
#define KS_POOL_MAX 8
#define HANDSHAKE_MAX_MS 15000

struct httpd_tls {
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_x509_crt cert;
	mbedtls_pk_context key;
	mbedtls_ssl_config conf;
	int *suites;
	int handshake_ms;

	pthread_mutex_t lock; /* pumps count, keystore pool */
	pthread_cond_t idle;
	long n_pumps;
	struct fc_keystore *pool[KS_POOL_MAX];
	int pool_n;
};

struct pump {
	struct httpd *h;
	int fd;
	struct sockaddr_storage sa;
	socklen_t salen;
	char ip[64];
	mbedtls_ssl_context ssl;
	struct fc_keystore *ks; /* borrowed from the pool by the PSK callback */
	bool psk;
	const char *psk_vendor;
	uint8_t identity[128];
	size_t identity_len;
	uint8_t in[PUMP_BUF];  /* TLS -> MHD */
	uint8_t out[PUMP_BUF]; /* MHD -> TLS */
};

static void tls_strerror(int rc, char *buf, size_t len)
{
	mbedtls_strerror(rc, buf, len);
	size_t n = strlen(buf);
	snprintf(buf + n, len - n, " (-0x%04x)", (unsigned)-rc);
}

/* ---- keystore handles for PSK lookups on pump threads ---- */

static struct fc_keystore *ks_get(struct httpd *h)
{
	struct httpd_tls *t = h->tls;
	struct fc_keystore *ks = NULL;
	pthread_mutex_lock(&t->lock);
	if (t->pool_n > 0)
		ks = t->pool[--t->pool_n];
	pthread_mutex_unlock(&t->lock);
	if (ks)
		return ks;
	char err[256] = "";
	ks = fc_keystore_open(h->store_path, err, sizeof err);
	if (!ks)
		fc_error("httpd: cannot open the keystore %s for a TLS-PSK lookup: %s", h->store_path, err);
	return ks;
}

static void ks_put(struct httpd *h, struct fc_keystore *ks)
{
	struct httpd_tls *t = h->tls;
	if (!ks)
		return;
	pthread_mutex_lock(&t->lock);
	if (t->pool_n < KS_POOL_MAX) {
		t->pool[t->pool_n++] = ks;
		ks = NULL;
	}
	pthread_mutex_unlock(&t->lock);
	if (ks)
		fc_keystore_close(ks);
}

/* ---- mbedtls callbacks ---- */

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct pump *p = ctx;
	if (len > INT_MAX)
		len = INT_MAX;
	ssize_t n = send(p->fd, buf, len, MSG_NOSIGNAL);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	if (errno == EPIPE || errno == ECONNRESET)
		return MBEDTLS_ERR_NET_CONN_RESET;
	return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct pump *p = ctx;
	if (len > INT_MAX)
		len = INT_MAX;
	ssize_t n = recv(p->fd, buf, len, 0);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_READ;
	if (errno == ECONNRESET)
		return MBEDTLS_ERR_NET_CONN_RESET;
	return MBEDTLS_ERR_NET_RECV_FAILED;
}

static struct pump *pump_of(mbedtls_ssl_context *ssl)
{
	return (struct pump *)(void *)((char *)ssl - offsetof(struct pump, ssl));
}

/* Ask each vendor's psk_key hook in list order. */
static int psk_cb(void *arg, mbedtls_ssl_context *ssl, const unsigned char *id, size_t idlen)
{
	struct httpd *h = arg;
	struct pump *p = pump_of(ssl);
	char shown[200];
	httpd_printable(shown, sizeof shown, id, idlen);
	if (idlen == 0 || idlen > sizeof p->identity) {
		fc_info("httpd: TLS-PSK identity '%s' from %s refused: %zu bytes (1..%zu accepted)", shown, p->ip,
			idlen, sizeof p->identity);
		return -1;
	}
	if (!p->ks)
		p->ks = ks_get(h);
	if (!p->ks)
		return -1;
	struct fc_http_ctx ctx = {
		.ks = p->ks,
		.cfg = h->cfg,
		.notify = httpd_mqtt_notify,
		.notify_ctx = h,
		.now_ms = httpd_now_ms,
	};
	for (size_t i = 0; h->vendors[i]; i++) {
		const struct fc_vendor *v = h->vendors[i];
		if (!v->http || !v->http->psk_key)
			continue;
		uint8_t key[MBEDTLS_PSK_MAX_LEN];
		size_t keylen = sizeof key;
		int rc = v->http->psk_key(&ctx, id, idlen, key, &keylen);
		if (rc == 1)
			continue;
		if (rc == 0 && (keylen == 0 || keylen > sizeof key)) {
			fc_error("httpd: %s returned a %zu-byte PSK for '%s' (1..%zu allowed)", v->name, keylen, shown,
				 sizeof key);
			rc = -1;
		}
		if (rc == 0) {
			int r = mbedtls_ssl_set_hs_psk(ssl, key, keylen);
			mbedtls_platform_zeroize(key, sizeof key);
			if (r != 0) {
				char e[160];
				tls_strerror(r, e, sizeof e);
				fc_error("httpd: cannot use the PSK of '%s': %s", shown, e);
				return -1;
			}
			p->psk = true;
			p->psk_vendor = v->name;
			memcpy(p->identity, id, idlen);
			p->identity_len = idlen;
			fc_debug("httpd: TLS-PSK identity '%s' from %s: key from %s", shown, p->ip, v->name);
			return 0;
		}
		mbedtls_platform_zeroize(key, sizeof key);
		return -1; /* this vendor's identity, refused (the vendor logged why) */
	}
	fc_info("httpd: TLS-PSK identity '%s' from %s is not known to any vendor", shown, p->ip);
	return -1;
}

/* ---- setup ---- */

/* Plain PSK suites that old devices offer; appended to the default list when it lacks them. */
static const char *const psk_suite_names[] = {
	"TLS-PSK-WITH-AES-128-GCM-SHA256", "TLS-PSK-WITH-AES-256-GCM-SHA384", "TLS-PSK-WITH-AES-128-CBC-SHA256",
	"TLS-PSK-WITH-AES-256-CBC-SHA384", "TLS-PSK-WITH-AES-128-CBC-SHA",    "TLS-PSK-WITH-AES-256-CBC-SHA",
	"TLS-PSK-WITH-AES-128-CCM",        "TLS-PSK-WITH-AES-256-CCM",        "TLS-PSK-WITH-CHACHA20-POLY1305-SHA256",
};

static int build_suites(struct httpd_tls *t, char *err, size_t errlen)
{
	const int *def = mbedtls_ssl_list_ciphersuites();
	size_t n = 0, extra = sizeof psk_suite_names / sizeof psk_suite_names[0];
	while (def[n])
		n++;
	t->suites = calloc(n + extra + 1, sizeof *t->suites);
	if (!t->suites) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(t->suites, def, n * sizeof *def);
	for (size_t i = 0; i < extra; i++) {
		const mbedtls_ssl_ciphersuite_t *cs = mbedtls_ssl_ciphersuite_from_string(psk_suite_names[i]);
		if (!cs)
			continue;
		bool have = false;
		for (size_t j = 0; j < n && !have; j++)
			have = t->suites[j] == cs->id;
		if (!have)
			t->suites[n++] = cs->id;
	}
	t->suites[n] = 0;
	static const char *const required[] = {"TLS-PSK-WITH-AES-128-CBC-SHA256", "TLS-PSK-WITH-AES-128-CBC-SHA"};
	for (size_t i = 0; i < 2; i++)
		if (!mbedtls_ssl_ciphersuite_from_string(required[i]))
			fc_warn("httpd: this mbedtls lacks %s: some TLS-PSK devices will not connect", required[i]);
	return 0;
}

int httpd_tls_init(struct httpd *h, char *err, size_t errlen)
{
	struct httpd_tls *t = calloc(1, sizeof *t);
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	h->tls = t;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->idle, NULL);
	mbedtls_entropy_init(&t->entropy);
	mbedtls_ctr_drbg_init(&t->drbg);
	mbedtls_x509_crt_init(&t->cert);
	mbedtls_pk_init(&t->key);
	mbedtls_ssl_config_init(&t->conf);

	char e[200];
	static const char pers[] = "fakecloud-httpd";
	int rc = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy, (const unsigned char *)pers,
				       sizeof pers - 1);
	if (rc != 0) {
		tls_strerror(rc, e, sizeof e);
		snprintf(err, errlen, "cannot seed the random generator: %s", e);
		return -1;
	}
	const char *cert = fc_config_str(h->cfg, "tls", "cert");
	const char *key = fc_config_str(h->cfg, "tls", "key");
	if (!cert || !*cert || !key || !*key) {
		snprintf(err, errlen, "tls.cert and tls.key must be set (run `fakecloud init` to create them)");
		return -1;
	}
	rc = mbedtls_x509_crt_parse_file(&t->cert, cert);
	if (rc != 0) {
		tls_strerror(rc, e, sizeof e);
		snprintf(err, errlen, "cannot load tls.cert %s: %s", cert, e);
		return -1;
	}
	rc = mbedtls_pk_parse_keyfile(&t->key, key, NULL);
	if (rc != 0) {
		tls_strerror(rc, e, sizeof e);
		snprintf(err, errlen, "cannot load tls.key %s: %s", key, e);
		return -1;
	}
	if (mbedtls_pk_check_pair(&t->cert.pk, &t->key) != 0) {
		snprintf(err, errlen, "tls.key %s does not belong to tls.cert %s", key, cert);
		return -1;
	}
	rc = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
					 MBEDTLS_SSL_PRESET_DEFAULT);
	if (rc == 0)
		rc = mbedtls_ssl_conf_own_cert(&t->conf, &t->cert, &t->key);
	if (rc != 0) {
		tls_strerror(rc, e, sizeof e);
		snprintf(err, errlen, "TLS setup failed: %s", e);
		return -1;
	}
	if (build_suites(t, err, errlen) < 0)
		return -1;
	mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
	mbedtls_ssl_conf_psk_cb(&t->conf, psk_cb, h);
	mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3, h->tls_min_minor);
	mbedtls_ssl_conf_max_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_ciphersuites(&t->conf, t->suites);
	t->handshake_ms = (int)h->timeout_s * 1000;
	if (t->handshake_ms > HANDSHAKE_MAX_MS)
		t->handshake_ms = HANDSHAKE_MAX_MS;
	return 0;
}

void httpd_tls_free(struct httpd *h)
{
	struct httpd_tls *t = h->tls;
	if (!t)
		return;
	for (int i = 0; i < t->pool_n; i++)
		fc_keystore_close(t->pool[i]);
	mbedtls_ssl_config_free(&t->conf);
	mbedtls_pk_free(&t->key);
	mbedtls_x509_crt_free(&t->cert);
	mbedtls_ctr_drbg_free(&t->drbg);
	mbedtls_entropy_free(&t->entropy);
	free(t->suites);
	pthread_cond_destroy(&t->idle);
	pthread_mutex_destroy(&t->lock);
	free(t);
	h->tls = NULL;
}

/* ---- per connection ---- */

/* Wait for events on the client socket (and the stop pipe) until deadline. 1 ready, 0 timeout/stop. */
static int wait_fds(struct httpd *h, struct pollfd *pf, int n, int64_t deadline)
{
	pf[n].fd = h->stop_pipe[0];
	pf[n].events = POLLIN;
	pf[n].revents = 0;
	for (;;) {
		int64_t left = deadline - httpd_mono_ms();
		if (left <= 0 || atomic_load(&h->stopping))
			return 0;
		int r = poll(pf, (nfds_t)n + 1, (int)(left > 60000 ? 60000 : left));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return 0;
		if (pf[n].revents)
			return 0;
		if (r > 0)
			return 1;
	}
}

static const char *alert_hint(int alert)
{
	switch (alert) {
	case 42: /* bad_certificate */
	case 45: /* certificate_expired */
	case 46: /* certificate_unknown */
	case 48: /* unknown_ca */
		return ": the client does not accept fakecloud's certificate (install the CA on it, add its host "
		       "name to tls.hostnames, or use TLS-PSK)";
	case 70: /* protocol_version */
		return ": no common TLS version (see http.tls_min_version)";
	case 40: /* handshake_failure */
	case 71: /* insufficient_security */
		return ": no common cipher suite";
	default:
		return "";
	}
}

/* After a failed handshake: let the alert reach the client instead of a reset caused by closing a
 * socket with unread data (the client's last flight). Bounded in time and bytes. */
static void linger_close(struct pump *p)
{
	shutdown(p->fd, SHUT_WR);
	int64_t deadline = httpd_mono_ms() + 500;
	char junk[4096];
	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(p->fd, junk, sizeof junk, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			return;
		if (n > 0)
			continue;
		struct pollfd pf[2] = {{.fd = p->fd, .events = POLLIN}};
		if (!wait_fds(p->h, pf, 1, deadline))
			return;
	}
}

static bool looks_like_http(const unsigned char *hdr)
{
	static const char *const methods[] = {"GET ", "POST", "PUT ", "HEAD", "DELE", "OPTI", "PATC"};
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if (memcmp(hdr, methods[i], 4) == 0)
			return true;
	return false;
}

static int handshake(struct pump *p)
{
	struct httpd *h = p->h;
	int64_t deadline = httpd_mono_ms() + h->tls->handshake_ms;
	for (;;) {
		int rc = mbedtls_ssl_handshake(&p->ssl);
		if (rc == 0)
			return 0;
		if (rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE) {
			if (rc == MBEDTLS_ERR_SSL_CONN_EOF || rc == MBEDTLS_ERR_NET_CONN_RESET) {
				fc_debug("httpd: %s closed the connection during the TLS handshake", p->ip);
			} else if (rc == MBEDTLS_ERR_SSL_UNKNOWN_IDENTITY) {
				/* psk_cb or the vendor already said why */
				fc_debug("httpd: TLS-PSK handshake with %s refused", p->ip);
			} else if (rc == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && p->ssl.in_msg) {
				int alert = p->ssl.in_msg[1];
				fc_info("httpd: TLS handshake with %s failed: the client sent alert %d%s", p->ip, alert,
					alert_hint(alert));
			} else if (p->psk && (rc == MBEDTLS_ERR_SSL_INVALID_MAC || rc == MBEDTLS_ERR_SSL_BAD_HS_FINISHED)) {
				char shown[200];
				httpd_printable(shown, sizeof shown, p->identity, p->identity_len);
				fc_info("httpd: TLS-PSK handshake with %s failed: identity '%s' is known to %s but the client "
					"uses a different key",
					p->ip, shown, p->psk_vendor);
			} else if (p->ssl.in_hdr && looks_like_http(p->ssl.in_hdr)) {
				fc_info("httpd: %s sent plain HTTP to the HTTPS port", p->ip);
			} else {
				char e[200];
				tls_strerror(rc, e, sizeof e);
				fc_info("httpd: TLS handshake with %s failed: %s", p->ip, e);
			}
			linger_close(p);
			return -1;
		}
		struct pollfd pf[2] = {
			{.fd = p->fd, .events = rc == MBEDTLS_ERR_SSL_WANT_READ ? POLLIN : POLLOUT},
		};
		if (!wait_fds(h, pf, 1, deadline)) {
			if (!atomic_load(&h->stopping))
				fc_info("httpd: TLS handshake with %s timed out", p->ip);
			return -1;
		}
	}
}

/* Copy plaintext between TLS and MHD's socket until one side is finished. */
static void pump_loop(struct pump *p, int sfd)
{
	struct httpd *h = p->h;
	size_t in_len = 0, in_off = 0, out_len = 0, out_off = 0;
	bool tls_eof = false, mhd_eof = false, shut_sent = false;
	bool mhd_deaf = false; /* MHD stopped reading (e.g. it answered 413 before the body ended) */
	int64_t idle_ms = (int64_t)h->timeout_s * 1000 + 1000;
	int64_t deadline = httpd_mono_ms() + idle_ms;

	for (;;) {
		short cev = 0, sev = 0;
		bool progress = false;

		/* client -> MHD */
		if (in_len == 0 && !tls_eof) {
			int r = mbedtls_ssl_read(&p->ssl, p->in, sizeof p->in);
			if (r > 0) {
				in_len = (size_t)r;
				in_off = 0;
				progress = true;
			} else if (r == MBEDTLS_ERR_SSL_WANT_READ) {
				cev |= POLLIN;
			} else if (r == MBEDTLS_ERR_SSL_WANT_WRITE) {
				cev |= POLLOUT;
			} else if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
				tls_eof = true;
				progress = true;
			} else {
				if (r != MBEDTLS_ERR_NET_CONN_RESET && r != MBEDTLS_ERR_SSL_CONN_EOF) {
					char e[200];
					tls_strerror(r, e, sizeof e);
					fc_debug("httpd: TLS read from %s: %s", p->ip, e);
				}
				return;
			}
		}
		if (in_len > 0 && mhd_deaf) {
			in_len = in_off = 0; /* the rest of the request goes nowhere; the answer still goes out */
			progress = true;
		} else if (in_len > 0) {
			ssize_t w = send(sfd, p->in + in_off, in_len - in_off, MSG_NOSIGNAL);
			if (w > 0) {
				in_off += (size_t)w;
				if (in_off == in_len)
					in_len = in_off = 0;
				progress = true;
			} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
				sev |= POLLOUT;
			} else {
				/* MHD closed its side, possibly with an answer still to forward: keep going until
				 * it is read (mhd_eof) instead of dropping it. */
				mhd_deaf = true;
				in_len = in_off = 0;
				progress = true;
			}
		}
		if (tls_eof && in_len == 0 && !shut_sent && !mhd_deaf) {
			shutdown(sfd, SHUT_WR);
			shut_sent = true;
		}

		/* MHD -> client */
		if (out_len == 0 && !mhd_eof) {
			ssize_t r = recv(sfd, p->out, sizeof p->out, 0);
			if (r > 0) {
				out_len = (size_t)r;
				out_off = 0;
				progress = true;
			} else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
				sev |= POLLIN;
			} else {
				mhd_eof = true;
				progress = true;
			}
		}
		if (out_len > 0) {
			int w = mbedtls_ssl_write(&p->ssl, p->out + out_off, out_len - out_off);
			if (w > 0) {
				out_off += (size_t)w;
				if (out_off == out_len)
					out_len = out_off = 0;
				progress = true;
			} else if (w == MBEDTLS_ERR_SSL_WANT_WRITE) {
				cev |= POLLOUT;
			} else if (w == MBEDTLS_ERR_SSL_WANT_READ) {
				cev |= POLLIN;
			} else {
				return;
			}
		}
		if (mhd_eof && out_len == 0)
			return; /* MHD is done with the connection and everything it wrote was sent */
		if (progress) {
			deadline = httpd_mono_ms() + idle_ms;
			continue;
		}
		struct pollfd pf[3] = {
			{.fd = p->fd, .events = cev},
			{.fd = sfd, .events = sev},
		};
		if (!wait_fds(h, pf, 2, deadline))
			return;
	}
}

static void pump_end(struct pump *p)
{
	struct httpd *h = p->h;
	struct httpd_tls *t = h->tls;
	ks_put(h, p->ks);
	mbedtls_ssl_free(&p->ssl);
	close(p->fd);
	httpd_conn_release(h, p->ip);
	free(p);
	pthread_mutex_lock(&t->lock);
	if (--t->n_pumps == 0)
		pthread_cond_broadcast(&t->idle);
	pthread_mutex_unlock(&t->lock);
}

static void *pump_main(void *arg)
{
	struct pump *p = arg;
	struct httpd *h = p->h;
	int rc = mbedtls_ssl_setup(&p->ssl, &h->tls->conf);
	if (rc != 0) {
		char e[200];
		tls_strerror(rc, e, sizeof e);
		fc_error("httpd: TLS setup for %s failed: %s", p->ip, e);
		pump_end(p);
		return NULL;
	}
	mbedtls_ssl_set_bio(&p->ssl, p, bio_send, bio_recv, NULL);
	if (handshake(p) != 0) {
		pump_end(p);
		return NULL;
	}
	/* Give the keystore handle back now: the connection may live long. */
	ks_put(h, p->ks);
	p->ks = NULL;
	fc_debug("httpd: TLS from %s: %s %s%s%s", p->ip, mbedtls_ssl_get_version(&p->ssl),
		 mbedtls_ssl_get_ciphersuite(&p->ssl), p->psk ? ", PSK via " : "", p->psk ? p->psk_vendor : "");

	int sp[2];
	struct httpd_conninfo *info = NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		fc_error("httpd: socketpair: %s", strerror(errno));
	} else if (!(info = calloc(1, sizeof *info))) {
		close(sp[0]);
		close(sp[1]);
	} else {
		snprintf(info->ip, sizeof info->ip, "%s", p->ip);
		httpd_local_ip(p->fd, info->local_ip, sizeof info->local_ip);
		info->tls = true;
		info->psk = p->psk;
		info->psk_vendor = p->psk_vendor;
		memcpy(info->identity, p->identity, p->identity_len);
		info->identity_len = p->identity_len;
		info->holds_slot = false; /* this thread holds the slot */
		fcntl(sp[0], F_SETFL, fcntl(sp[0], F_GETFL) | O_NONBLOCK);
		if (httpd_mhd_inject(h, sp[1], (struct sockaddr *)&p->sa, p->salen, info) == 0)
			pump_loop(p, sp[0]);
		close(sp[0]);
		mbedtls_ssl_close_notify(&p->ssl); /* best effort, non-blocking */
		/* A client may still be sending (e.g. a body we answered 413 to early): drain it briefly so it
		 * can read our answer instead of getting a reset. */
		linger_close(p);
	}
	pump_end(p);
	return NULL;
}

void httpd_tls_accept(struct httpd *h, int fd, const struct sockaddr *sa, socklen_t salen, const char *ip)
{
	struct httpd_tls *t = h->tls;
	struct pump *p = calloc(1, sizeof *p);
	if (!p) {
		close(fd);
		httpd_conn_release(h, ip);
		return;
	}
	p->h = h;
	p->fd = fd;
	if (salen > (socklen_t)sizeof p->sa)
		salen = sizeof p->sa;
	memcpy(&p->sa, sa, salen);
	p->salen = salen;
	snprintf(p->ip, sizeof p->ip, "%s", ip);
	mbedtls_ssl_init(&p->ssl);

	pthread_mutex_lock(&t->lock);
	t->n_pumps++;
	pthread_mutex_unlock(&t->lock);

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 512 * 1024);
	pthread_t tid;
	int rc = pthread_create(&tid, &attr, pump_main, p);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		fc_error("httpd: cannot start a TLS thread for %s: %s", ip, strerror(rc));
		pump_end(p);
	}
}

bool httpd_tls_drain(struct httpd *h, int timeout_ms)
{
	struct httpd_tls *t = h->tls;
	if (!t)
		return true;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&t->lock);
	while (t->n_pumps > 0)
		if (pthread_cond_timedwait(&t->idle, &t->lock, &ts) != 0)
			break;
	long left = t->n_pumps;
	pthread_mutex_unlock(&t->lock);
	if (left > 0)
		fc_warn("httpd: %ld TLS connection(s) did not end in time", left);
	return left == 0;
}
