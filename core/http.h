/* Vendor-facing HTTP types: a request, a response, a route table, and the PSK-key hook. fakecloud-httpd
 * fills these from libmicrohttpd/mbedtls; vendors never see those libraries. */
#ifndef FC_HTTP_H
#define FC_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct fc_keystore;
struct fc_config;

struct fc_http_ctx {
	struct fc_keystore *ks;        /* the handler thread's own keystore handle */
	const struct fc_config *cfg;
	/* Publish to the broker as the privileged internal client (e.g. "$fakecloud/internal/<vendor>/..."
	 * to reach the plugin). Returns 0 when queued. */
	int (*notify)(void *notify_ctx, const char *topic, const void *payload, size_t len);
	void *notify_ctx;
	int64_t (*now_ms)(void);
};

struct fc_http_req {
	const char *method;       /* "GET", "POST"... */
	const char *path;         /* without the query string, as sent (not lowercased) */
	const char *query;        /* raw query string without '?', "" when none */
	const uint8_t *body;
	size_t body_len;
	char client_ip[64];
	/* The server address the client connected to (getsockname of the accepted socket, plain and TLS
	 * listeners alike; IPv4 dotted, IPv4-mapped IPv6 shown as IPv4, else IPv6 text); "" when unknown.
	 * Lets a vendor hand a device back the address it already reached (e.g. Tuya url_config). */
	char local_ip[64];
	bool tls;                 /* came through the TLS listener */
	bool psk;                 /* TLS with a pre-shared key */
	uint8_t psk_identity[128];
	size_t psk_identity_len;
	const char *psk_vendor;   /* which vendor's PSK hook accepted the identity */
	/* Header and query lookups (case-insensitive header names). NULL when absent. */
	const char *(*header)(const struct fc_http_req *r, const char *name);
	const char *(*arg)(const struct fc_http_req *r, const char *name);
	void *impl;
};

#define FC_HTTP_MAX_RESP_HEADERS 8

struct fc_http_resp {
	int status;                     /* default 200 */
	char content_type[64];          /* default "application/json" */
	char *body;                     /* malloc'd; the server frees it */
	size_t body_len;
	size_t n_headers;
	char headers[FC_HTTP_MAX_RESP_HEADERS][2][128];
};

/* Helpers for handlers: set body (copied) / JSON body / header. */
int fc_http_resp_set_body(struct fc_http_resp *r, int status, const char *content_type, const void *body,
			  size_t len);
int fc_http_resp_json(struct fc_http_resp *r, int status, const struct cJSON *json);
int fc_http_resp_error(struct fc_http_resp *r, int status, const char *message); /* {"error":message} */
int fc_http_resp_add_header(struct fc_http_resp *r, const char *name, const char *value);

#define FC_ROUTE_CASEI 1   /* match path case-insensitively */
#define FC_ROUTE_PREFIX 2  /* path is a prefix */

struct fc_http_route {
	const char *method;  /* NULL = any */
	const char *path;
	unsigned flags;
	/* Fill resp. Return 0; a negative return becomes a 500 with a logged reason. */
	int (*handler)(const struct fc_http_ctx *ctx, const struct fc_http_req *req, struct fc_http_resp *resp);
};

/* A vendor's HTTP side: its routes (NULL-path terminated) and an optional TLS-PSK key hook. */
struct fc_vendor_http {
	const struct fc_http_route *routes;
	/* Given a client's PSK identity, write the key to key[0..*keylen) (cap in *keylen on entry).
	 * Return 0 if this vendor recognises the identity and knows the key, 1 if the identity is not
	 * this vendor's (try the next vendor), -1 if it is this vendor's but cannot be answered (logged
	 * with what the owner must import). Runs on a TLS thread with its own keystore handle. */
	int (*psk_key)(const struct fc_http_ctx *ctx, const uint8_t *identity, size_t idlen, uint8_t *key,
		       size_t *keylen);
};

#endif
