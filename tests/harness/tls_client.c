/* mbedtls TLS client for integration tests (see tls_client.h). */
#include "harness/tls_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/x509_crt.h>

#define MAX_SUITES 32

static void set_err(char *err, size_t errlen, const char *what, int rc)
{
	if (!err || !errlen)
		return;
	char e[160] = "";
	if (rc)
		mbedtls_strerror(rc, e, sizeof e);
	if (rc)
		snprintf(err, errlen, "%s: %s (-0x%04x)", what, e, (unsigned)-rc);
	else
		snprintf(err, errlen, "%s", what);
}

/* Read the whole response (until close or until Content-Length is satisfied) into a growing buffer. */
static int read_all(mbedtls_ssl_context *ssl, char **buf, size_t *len, char *err, size_t errlen)
{
	size_t cap = 8192;
	*len = 0;
	*buf = malloc(cap);
	if (!*buf) {
		set_err(err, errlen, "out of memory", 0);
		return -1;
	}
	for (;;) {
		if (cap - *len < 4096) {
			char *nb = realloc(*buf, cap * 2);
			if (!nb) {
				set_err(err, errlen, "out of memory", 0);
				return -1;
			}
			*buf = nb;
			cap *= 2;
		}
		int r = mbedtls_ssl_read(ssl, (unsigned char *)*buf + *len, cap - *len - 1);
		if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
			continue;
		if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || r == MBEDTLS_ERR_NET_CONN_RESET)
			break;
		if (r < 0) {
			if (*len > 0 && r == MBEDTLS_ERR_SSL_TIMEOUT)
				break;
			set_err(err, errlen, "read", r);
			return -1;
		}
		*len += (size_t)r;
		(*buf)[*len] = 0;
		/* Stop early once the body announced by Content-Length is complete. */
		char *eoh = strstr(*buf, "\r\n\r\n");
		if (eoh) {
			const char *cl = strcasestr(*buf, "\r\nContent-Length:");
			if (cl && cl < eoh) {
				size_t want = strtoul(cl + 17, NULL, 10);
				if ((size_t)(*buf + *len - (eoh + 4)) >= want)
					break;
			}
		}
	}
	(*buf)[*len] = 0;
	return 0;
}

int fc_tls_request(const struct fc_tls_opts *o, const char *method, const char *path, const char *body,
		   char *out, size_t outlen, struct fc_tls_info *info, char *err, size_t errlen)
{
	mbedtls_net_context net;
	mbedtls_ssl_context ssl;
	mbedtls_ssl_config conf;
	mbedtls_x509_crt ca;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	int suites[MAX_SUITES + 1];
	char *resp = NULL, *req = NULL;
	size_t resp_len = 0;
	int status = -1, rc;

	if (out && outlen)
		out[0] = 0;
	if (err && errlen)
		err[0] = 0;
	if (info)
		memset(info, 0, sizeof *info);
	mbedtls_net_init(&net);
	mbedtls_ssl_init(&ssl);
	mbedtls_ssl_config_init(&conf);
	mbedtls_x509_crt_init(&ca);
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);

	if ((rc = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, (const unsigned char *)"fc-test", 7))) {
		set_err(err, errlen, "drbg seed", rc);
		goto done;
	}
	if ((rc = mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
					      MBEDTLS_SSL_PRESET_DEFAULT))) {
		set_err(err, errlen, "config", rc);
		goto done;
	}
	mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
	mbedtls_ssl_conf_min_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, o->min_minor ? o->min_minor : 1);
	mbedtls_ssl_conf_max_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, o->max_minor ? o->max_minor : 3);
	mbedtls_ssl_conf_read_timeout(&conf, (uint32_t)(o->timeout_ms > 0 ? o->timeout_ms : 5000));
	if (o->ca_file) {
		if ((rc = mbedtls_x509_crt_parse_file(&ca, o->ca_file))) {
			set_err(err, errlen, "CA file", rc);
			goto done;
		}
		mbedtls_ssl_conf_ca_chain(&conf, &ca, NULL);
		mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	} else {
		mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_NONE);
	}
	static const char *const plain_psk[] = {"TLS-PSK-WITH-AES-128-CBC-SHA256", "TLS-PSK-WITH-AES-128-CBC-SHA",
						NULL};
	const char *const *names = o->ciphersuites ? o->ciphersuites : (o->psk ? plain_psk : NULL);
	if (names) {
		size_t n = 0;
		for (size_t i = 0; names[i] && n < MAX_SUITES; i++) {
			const mbedtls_ssl_ciphersuite_t *cs = mbedtls_ssl_ciphersuite_from_string(names[i]);
			if (!cs) {
				snprintf(err, errlen, "unknown ciphersuite %s", names[i]);
				goto done;
			}
			suites[n++] = cs->id;
		}
		suites[n] = 0;
		mbedtls_ssl_conf_ciphersuites(&conf, suites);
	}
	if (o->psk) {
		const char *id = o->psk_identity ? o->psk_identity : "";
		if ((rc = mbedtls_ssl_conf_psk(&conf, o->psk, o->psklen, (const unsigned char *)id, strlen(id)))) {
			set_err(err, errlen, "psk", rc);
			goto done;
		}
	}
	if ((rc = mbedtls_ssl_setup(&ssl, &conf)) || (rc = mbedtls_ssl_set_hostname(&ssl, "localhost"))) {
		set_err(err, errlen, "setup", rc);
		goto done;
	}
	char port[16];
	snprintf(port, sizeof port, "%d", o->port);
	if ((rc = mbedtls_net_connect(&net, "127.0.0.1", port, MBEDTLS_NET_PROTO_TCP))) {
		set_err(err, errlen, "connect", rc);
		goto done;
	}
	mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, NULL, mbedtls_net_recv_timeout);
	while ((rc = mbedtls_ssl_handshake(&ssl)) != 0) {
		if (rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE) {
			set_err(err, errlen, "handshake", rc);
			goto done;
		}
	}
	if (info) {
		snprintf(info->version, sizeof info->version, "%s", mbedtls_ssl_get_version(&ssl));
		snprintf(info->ciphersuite, sizeof info->ciphersuite, "%s", mbedtls_ssl_get_ciphersuite(&ssl));
	}

	size_t blen = body ? strlen(body) : 0;
	const char *extra = o->extra_headers ? o->extra_headers : "";
	size_t rlen = strlen(method) + strlen(path) + strlen(extra) + blen + 200;
	req = malloc(rlen);
	if (!req) {
		set_err(err, errlen, "out of memory", 0);
		goto done;
	}
	int hl;
	if (body)
		hl = snprintf(req, rlen,
			      "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%sContent-Type: "
			      "application/json\r\nContent-Length: %zu\r\n\r\n",
			      method, path, extra, blen);
	else
		hl = snprintf(req, rlen, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s\r\n", method,
			      path, extra);
	if (hl < 0 || (size_t)hl + blen >= rlen) {
		set_err(err, errlen, "request too long", 0);
		goto done;
	}
	if (body)
		memcpy(req + hl, body, blen);
	size_t total = (size_t)hl + blen, sent = 0;
	while (sent < total) {
		rc = mbedtls_ssl_write(&ssl, (const unsigned char *)req + sent, total - sent);
		if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
			continue;
		if (rc < 0) {
			set_err(err, errlen, "write", rc);
			goto done;
		}
		sent += (size_t)rc;
	}
	if (read_all(&ssl, &resp, &resp_len, err, errlen) < 0)
		goto done;
	int code = 0;
	if (sscanf(resp, "HTTP/1.%*c %d", &code) != 1 || code < 100) {
		snprintf(err, errlen, "no HTTP status in %zu bytes of response", resp_len);
		goto done;
	}
	status = code;
	if (out && outlen) {
		const char *b = strstr(resp, "\r\n\r\n");
		snprintf(out, outlen, "%s", b ? b + 4 : "");
	}
	mbedtls_ssl_close_notify(&ssl);

done:
	free(req);
	free(resp);
	mbedtls_ssl_free(&ssl);
	mbedtls_net_free(&net);
	mbedtls_ssl_config_free(&conf);
	mbedtls_x509_crt_free(&ca);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	return status;
}

int fc_tls_http(int port, const char *ca_file, const uint8_t *psk, size_t psklen, const char *psk_identity,
		int max_minor, const char *method, const char *path, const char *body, char *out, size_t outlen,
		char *err, size_t errlen)
{
	struct fc_tls_opts o = {
		.port = port,
		.ca_file = ca_file,
		.psk = psk,
		.psklen = psklen,
		.psk_identity = psk_identity,
		.max_minor = max_minor,
	};
	return fc_tls_request(&o, method, path, body, out, outlen, NULL, err, errlen);
}
