/* TLS termination with OpenSSL 3: one SSL_CTX serves certificate clients (tls.cert/tls.key, RSA or EC)
 * and TLS-PSK clients (keys from the vendors' psk_key hooks, up to FC_PSK_KEY_MAX bytes: Tuya's
 * identity 2 uses a 37-byte pskKey) on the same port, TLS 1.0..1.2 (lowest from http.tls_min_version).
 * TLS 1.3 is not offered: its PSK works differently (session-style PSKs, another callback) and the
 * devices that need PSK here all speak TLS 1.2 or older.
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

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/keystore.h"
#include "core/log.h"
#include "httpd/httpd.h"

#define PUMP_BUF 16384
#define KS_POOL_MAX 8
#define HANDSHAKE_MAX_MS 15000
#define FC_PSK_KEY_MAX 64 /* the key buffer offered to the vendors' psk_key hooks */

struct httpd_tls {
	SSL_CTX *ctx;
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
	SSL *ssl;
	bool fatal;             /* a fatal TLS error happened: no close_notify may be sent */
	uint8_t hdr[4];         /* the client's first bytes (peeked), to recognise plain HTTP */
	size_t hdr_len;
	struct fc_keystore *ks; /* borrowed from the pool by the PSK callback */
	bool psk;
	const char *psk_vendor;
	uint8_t identity[128];
	size_t identity_len;
	uint8_t in[PUMP_BUF];  /* TLS -> MHD */
	uint8_t out[PUMP_BUF]; /* MHD -> TLS */
};

/* Empty this thread's OpenSSL error queue into text ("reason; reason", at most a few) and return the
 * last SSL-library error code (or the last code of any library, 0 when the queue was empty). */
static unsigned long drain_errors(char *buf, size_t len)
{
	unsigned long e, last = 0, last_ssl = 0;
	size_t used = 0;
	int shown = 0;
	if (len)
		buf[0] = 0;
	while ((e = ERR_get_error()) != 0) {
		last = e;
		if (ERR_GET_LIB(e) == ERR_LIB_SSL)
			last_ssl = e;
		if (shown >= 4 || used + 1 >= len)
			continue;
		const char *r = ERR_reason_error_string(e);
		int n = r ? snprintf(buf + used, len - used, "%s%s", shown ? "; " : "", r)
			  : snprintf(buf + used, len - used, "%sOpenSSL error %08lx", shown ? "; " : "", e);
		if (n > 0)
			used += (size_t)n < len - used ? (size_t)n : len - used - 1;
		shown++;
	}
	if (len && !buf[0])
		snprintf(buf, len, "unknown error");
	return last_ssl ? last_ssl : last;
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

/* ---- PSK ---- */

/* OpenSSL's server PSK callback (TLS <= 1.2): ask each vendor's psk_key hook in list order. Returns the
 * key length written to psk, 0 to refuse (the client then gets alert unknown_psk_identity). OpenSSL
 * hands the identity over as a C string: Tuya firmware never puts a 0x00 byte in one (§2). */
static unsigned int psk_server_cb(SSL *ssl, const char *identity, unsigned char *psk, unsigned int max_psk_len)
{
	struct pump *p = SSL_get_app_data(ssl);
	if (!p || !identity || !psk)
		return 0;
	struct httpd *h = p->h;
	const uint8_t *id = (const uint8_t *)identity;
	size_t idlen = strlen(identity);
	char shown[200];
	httpd_printable(shown, sizeof shown, id, idlen);
	if (idlen == 0 || idlen > sizeof p->identity) {
		fc_info("httpd: TLS-PSK identity '%s' from %s refused: %zu bytes (1..%zu accepted)", shown, p->ip,
			idlen, sizeof p->identity);
		return 0;
	}
	if (!p->ks)
		p->ks = ks_get(h);
	if (!p->ks)
		return 0;
	struct fc_http_ctx ctx = {
		.ks = p->ks,
		.cfg = h->cfg,
		.notify = httpd_mqtt_notify,
		.notify_ctx = h,
		.now_ms = httpd_now_ms,
	};
	size_t cap = max_psk_len < FC_PSK_KEY_MAX ? max_psk_len : FC_PSK_KEY_MAX;
	for (size_t i = 0; h->vendors[i]; i++) {
		const struct fc_vendor *v = h->vendors[i];
		if (!v->http || !v->http->psk_key)
			continue;
		uint8_t key[FC_PSK_KEY_MAX];
		size_t keylen = cap;
		int rc = v->http->psk_key(&ctx, id, idlen, key, &keylen);
		if (rc == 1)
			continue;
		if (rc == 0 && (keylen == 0 || keylen > cap)) {
			fc_error("httpd: %s returned a %zu-byte PSK for '%s' (1..%zu allowed)", v->name, keylen, shown, cap);
			rc = -1;
		}
		if (rc == 0) {
			memcpy(psk, key, keylen);
			OPENSSL_cleanse(key, sizeof key);
			p->psk = true;
			p->psk_vendor = v->name;
			memcpy(p->identity, id, idlen);
			p->identity_len = idlen;
			fc_debug("httpd: TLS-PSK identity '%s' from %s: key from %s", shown, p->ip, v->name);
			return (unsigned int)keylen;
		}
		OPENSSL_cleanse(key, sizeof key);
		return 0; /* this vendor's identity, refused (the vendor logged why) */
	}
	fc_info("httpd: TLS-PSK identity '%s' from %s is not known to any vendor", shown, p->ip);
	return 0;
}

/* ---- setup ---- */

/* Server preference order. Certificate clients: ECDHE first, then RSA key exchange for old clients.
 * TLS-PSK clients: the suites old devices offer (Tuya firmware: PSK-AES128-CBC-SHA256, TLS 1.2), as
 * mbedtls names them TLS-PSK-WITH-AES-128-CBC-SHA256 etc., plus ECDHE-PSK. SHA-1 suites stay for TLS 1.0
 * clients. */
static const char cipher_list[] =
	"ECDHE+AESGCM:ECDHE+CHACHA20:ECDHE+AES:kRSA+AESGCM:kRSA+AES:"
	"ECDHE-PSK-CHACHA20-POLY1305:ECDHE-PSK-AES128-CBC-SHA256:ECDHE-PSK-AES256-CBC-SHA384:"
	"ECDHE-PSK-AES128-CBC-SHA:ECDHE-PSK-AES256-CBC-SHA:"
	"PSK-AES128-GCM-SHA256:PSK-AES256-GCM-SHA384:PSK-AES128-CBC-SHA256:PSK-AES256-CBC-SHA384:"
	"PSK-AES128-CBC-SHA:PSK-AES256-CBC-SHA:PSK-AES128-CCM:PSK-AES256-CCM:PSK-CHACHA20-POLY1305:"
	"!aNULL:!eNULL";

static bool ctx_has_cipher(SSL_CTX *ctx, const char *name)
{
	STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(ctx);
	for (int i = 0; sk && i < sk_SSL_CIPHER_num(sk); i++)
		if (strcmp(SSL_CIPHER_get_name(sk_SSL_CIPHER_value(sk, i)), name) == 0)
			return true;
	return false;
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

	char e[300];
	const char *cert = fc_config_str(h->cfg, "tls", "cert");
	const char *key = fc_config_str(h->cfg, "tls", "key");
	if (!cert || !*cert || !key || !*key) {
		snprintf(err, errlen, "tls.cert and tls.key must be set (run `fakecloud init` to create them)");
		return -1;
	}
	ERR_clear_error();
	t->ctx = SSL_CTX_new(TLS_server_method());
	if (!t->ctx) {
		drain_errors(e, sizeof e);
		snprintf(err, errlen, "TLS setup failed: %s", e);
		return -1;
	}
	if (SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1) {
		drain_errors(e, sizeof e);
		snprintf(err, errlen, "cannot load tls.cert %s: %s", cert, e);
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1) {
		drain_errors(e, sizeof e);
		snprintf(err, errlen, "cannot load tls.key %s: %s", key, e);
		return -1;
	}
	if (SSL_CTX_check_private_key(t->ctx) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "tls.key %s does not belong to tls.cert %s", key, cert);
		return -1;
	}
	/* http.tls_min_version (1.0, 1.1, 1.2) .. TLS 1.2 */
	int min = h->tls_min_minor == 1 ? TLS1_VERSION : h->tls_min_minor == 2 ? TLS1_1_VERSION : TLS1_2_VERSION;
	if (SSL_CTX_set_min_proto_version(t->ctx, min) != 1 ||
	    SSL_CTX_set_max_proto_version(t->ctx, TLS1_2_VERSION) != 1) {
		drain_errors(e, sizeof e);
		snprintf(err, errlen, "cannot set the TLS versions: %s", e);
		return -1;
	}
	/* Security level, set here so that the system's OpenSSL configuration (Debian: SECLEVEL=2) does not
	 * decide it. OpenSSL 3 counts the SHA-1/MD5 handshake signatures of TLS 1.0 and 1.1 as too weak at
	 * any level above 0, so old devices on those versions need level 0; what is offered is then bounded
	 * by cipher_list above (no NULL, anonymous, export, RC4 or 3DES suite). TLS 1.2 only: level 1. */
	SSL_CTX_set_security_level(t->ctx, h->tls_min_minor < 3 ? 0 : 1);
	if (SSL_CTX_set_cipher_list(t->ctx, cipher_list) != 1) {
		drain_errors(e, sizeof e);
		snprintf(err, errlen, "cannot set the TLS cipher suites: %s", e);
		return -1;
	}
	static const char *const required[] = {"PSK-AES128-CBC-SHA256", "PSK-AES128-CBC-SHA"};
	for (size_t i = 0; i < 2; i++)
		if (!ctx_has_cipher(t->ctx, required[i]))
			fc_warn("httpd: this OpenSSL lacks %s: some TLS-PSK devices will not connect", required[i]);
	/* Server order decides; no renegotiation; no session resumption (tickets or cache): a resumed
	 * session skips the PSK callback, so the connection would not know its PSK identity. */
	SSL_CTX_set_options(t->ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
					    SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
	/* Non-blocking pump: a write may be taken in part, and retried from a moved position. */
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_psk_server_callback(t->ctx, psk_server_cb);

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
	SSL_CTX_free(t->ctx);
	ERR_clear_error();
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
	static const char *const methods[] = {"GET ", "POST", "PUT ", "HEAD", "DELE", "OPTI", "PATC", "CONN"};
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if (memcmp(hdr, methods[i], 4) == 0)
			return true;
	return false;
}

/* One log line for a failed handshake, as specific as the error allows. */
static void handshake_failed(struct pump *p, int ssl_err, int saved_errno)
{
	char e[300];
	unsigned long code = drain_errors(e, sizeof e);
	int reason = ERR_GET_LIB(code) == ERR_LIB_SSL ? ERR_GET_REASON(code) : 0;

	if (ssl_err == SSL_ERROR_ZERO_RETURN || (ssl_err == SSL_ERROR_SYSCALL && code == 0) ||
	    reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		if (p->hdr_len == sizeof p->hdr && looks_like_http(p->hdr))
			fc_info("httpd: %s sent plain HTTP to the HTTPS port", p->ip);
		else
			fc_debug("httpd: %s closed the connection during the TLS handshake%s", p->ip,
				 saved_errno == ECONNRESET ? " (reset)" : "");
	} else if (reason == SSL_R_PSK_IDENTITY_NOT_FOUND) {
		/* psk_server_cb or the vendor already said why */
		fc_debug("httpd: TLS-PSK handshake with %s refused", p->ip);
	} else if (reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) {
		int alert = reason - SSL_AD_REASON_OFFSET;
		fc_info("httpd: TLS handshake with %s failed: the client sent alert %d%s", p->ip, alert, alert_hint(alert));
	} else if (p->psk && (reason == SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC || reason == SSL_R_DECRYPTION_FAILED ||
			      reason == SSL_R_DIGEST_CHECK_FAILED)) {
		char shown[200];
		httpd_printable(shown, sizeof shown, p->identity, p->identity_len);
		fc_info("httpd: TLS-PSK handshake with %s failed: identity '%s' is known to %s but the client uses a "
			"different key",
			p->ip, shown, p->psk_vendor);
	} else if (reason == SSL_R_HTTP_REQUEST || reason == SSL_R_HTTPS_PROXY_REQUEST ||
		   (p->hdr_len == sizeof p->hdr && looks_like_http(p->hdr))) {
		fc_info("httpd: %s sent plain HTTP to the HTTPS port", p->ip);
	} else if (reason == SSL_R_NO_SHARED_CIPHER) {
		fc_info("httpd: TLS handshake with %s failed: %s: no common cipher suite", p->ip, e);
	} else if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_PACKET_LENGTH_TOO_LONG) {
		fc_info("httpd: TLS handshake with %s failed: %s: the client does not speak TLS (another protocol sent "
			"to the HTTPS port?)",
			p->ip, e);
	} else if (reason == SSL_R_UNSUPPORTED_PROTOCOL || reason == SSL_R_VERSION_TOO_LOW) {
		fc_info("httpd: TLS handshake with %s failed: %s: no common TLS version (fakecloud-httpd serves TLS 1.%d to "
			"1.2, see http.tls_min_version)",
			p->ip, e, p->h->tls_min_minor - 1);
	} else if (ssl_err == SSL_ERROR_SYSCALL) {
		fc_info("httpd: TLS handshake with %s failed: %s (%s)", p->ip, e, strerror(saved_errno));
	} else {
		fc_info("httpd: TLS handshake with %s failed: %s", p->ip, e);
	}
}

static int handshake(struct pump *p)
{
	struct httpd *h = p->h;
	int64_t deadline = httpd_mono_ms() + h->tls->handshake_ms;

	/* The client speaks first. Peek at its first bytes: OpenSSL consumes them, and they tell plain
	 * HTTP sent to this port apart from a broken TLS client in the log. */
	struct pollfd pf0[2] = {{.fd = p->fd, .events = POLLIN}};
	if (!wait_fds(h, pf0, 1, deadline)) {
		if (!atomic_load(&h->stopping))
			fc_info("httpd: TLS handshake with %s timed out", p->ip);
		return -1;
	}
	ssize_t n = recv(p->fd, p->hdr, sizeof p->hdr, MSG_PEEK);
	p->hdr_len = n > 0 ? (size_t)n : 0;

	for (;;) {
		ERR_clear_error();
		errno = 0;
		int rc = SSL_accept(p->ssl);
		if (rc == 1)
			return 0;
		int saved_errno = errno;
		int se = SSL_get_error(p->ssl, rc);
		if (se != SSL_ERROR_WANT_READ && se != SSL_ERROR_WANT_WRITE) {
			p->fatal = true;
			handshake_failed(p, se, saved_errno);
			linger_close(p);
			return -1;
		}
		struct pollfd pf[2] = {
			{.fd = p->fd, .events = se == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT},
		};
		if (!wait_fds(h, pf, 1, deadline)) {
			if (!atomic_load(&h->stopping))
				fc_info("httpd: TLS handshake with %s timed out", p->ip);
			return -1;
		}
	}
}

/* After SSL_read/SSL_write returned r <= 0: 1 want read, 2 want write, 0 clean close (close_notify),
 * -1 connection over (a debug line says why unless it was a plain end of the socket). */
static int io_status(struct pump *p, int r, const char *what)
{
	int saved_errno = errno;
	int se = SSL_get_error(p->ssl, r);
	switch (se) {
	case SSL_ERROR_WANT_READ:
		return 1;
	case SSL_ERROR_WANT_WRITE:
		return 2;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		break;
	}
	p->fatal = true;
	char e[300];
	unsigned long code = drain_errors(e, sizeof e);
	bool plain_end = (se == SSL_ERROR_SYSCALL && code == 0 &&
			  (saved_errno == 0 || saved_errno == ECONNRESET || saved_errno == EPIPE)) ||
			 (ERR_GET_LIB(code) == ERR_LIB_SSL && ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING);
	if (!plain_end)
		fc_debug("httpd: TLS %s %s: %s", what, p->ip, code ? e : strerror(saved_errno));
	return -1;
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
			ERR_clear_error();
			errno = 0;
			int r = SSL_read(p->ssl, p->in, sizeof p->in);
			if (r > 0) {
				in_len = (size_t)r;
				in_off = 0;
				progress = true;
			} else {
				int st = io_status(p, r, "read from");
				if (st < 0)
					return;
				if (st == 0) {
					tls_eof = true; /* close_notify: the client sent everything */
					progress = true;
				} else {
					cev |= st == 1 ? POLLIN : POLLOUT;
				}
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
			ERR_clear_error();
			errno = 0;
			int w = SSL_write(p->ssl, p->out + out_off, (int)(out_len - out_off));
			if (w > 0) {
				out_off += (size_t)w;
				if (out_off == out_len)
					out_len = out_off = 0;
				progress = true;
			} else {
				int st = io_status(p, w, "write to");
				if (st <= 0)
					return;
				cev |= st == 1 ? POLLIN : POLLOUT;
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

/* on_pump_thread: also release this thread's OpenSSL state (before the count drops, after which the
 * daemon may free the SSL_CTX and exit). */
static void pump_end(struct pump *p, bool on_pump_thread)
{
	struct httpd *h = p->h;
	struct httpd_tls *t = h->tls;
	ks_put(h, p->ks);
	SSL_free(p->ssl);
	close(p->fd);
	httpd_conn_release(h, p->ip);
	free(p);
	if (on_pump_thread) {
		ERR_clear_error();
		OPENSSL_thread_stop();
	}
	pthread_mutex_lock(&t->lock);
	if (--t->n_pumps == 0)
		pthread_cond_broadcast(&t->idle);
	pthread_mutex_unlock(&t->lock);
}

static void *pump_main(void *arg)
{
	struct pump *p = arg;
	struct httpd *h = p->h;
	ERR_clear_error();
	p->ssl = SSL_new(h->tls->ctx);
	if (!p->ssl || SSL_set_fd(p->ssl, p->fd) != 1 || SSL_set_app_data(p->ssl, p) != 1) {
		char e[300];
		drain_errors(e, sizeof e);
		fc_error("httpd: TLS setup for %s failed: %s", p->ip, e);
		pump_end(p, true);
		return NULL;
	}
	if (handshake(p) != 0) {
		pump_end(p, true);
		return NULL;
	}
	/* Give the keystore handle back now: the connection may live long. */
	ks_put(h, p->ks);
	p->ks = NULL;
	fc_debug("httpd: TLS from %s: %s %s%s%s", p->ip, SSL_get_version(p->ssl), SSL_get_cipher_name(p->ssl),
		 p->psk ? ", PSK via " : "", p->psk ? p->psk_vendor : "");

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
		if (!p->fatal) {
			ERR_clear_error();
			SSL_shutdown(p->ssl); /* close_notify: best effort, non-blocking */
			ERR_clear_error();
		}
		/* A client may still be sending (e.g. a body we answered 413 to early): drain it briefly so it
		 * can read our answer instead of getting a reset. */
		linger_close(p);
	}
	pump_end(p, true);
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
		pump_end(p, false);
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
