/* The libmicrohttpd side: a daemon without a listen socket (every connection, plain or the plaintext
 * end of a TLS pump, is injected with MHD_add_connection), request accumulation with the [http]
 * limits, GET /healthz, and dispatch to the vendors' route tables.
 *
 * Connection facts MHD cannot know (TLS, PSK identity, the slot to release) travel in a
 * struct httpd_conninfo: registered by MHD-side socket before MHD_add_connection, claimed into the
 * connection's socket context when MHD starts the connection, freed when MHD closes it. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "core/keystore.h"
#include "core/log.h"
#include "httpd/httpd.h"

#define PENDING_STALE_MS 30000

struct req {
	char *raw_uri;  /* as received, with the query string (URI log callback) */
	bool started;   /* the headers-only first call happened */
	bool rejected;  /* an error response is queued (or owed): discard the rest of the body */
	bool owe_413;   /* a chunked body went over http.max_body: answer 413 once it ends */
	size_t discarded;
	uint8_t *body;
	size_t len, cap;
};

/* ---- connection registry ---- */

static struct httpd_conninfo *pending_unlink_fd(struct httpd *h, int fd)
{
	for (struct httpd_conninfo **pp = &h->pending; *pp; pp = &(*pp)->next) {
		if ((*pp)->fd == fd) {
			struct httpd_conninfo *i = *pp;
			*pp = i->next;
			i->next = NULL;
			return i;
		}
	}
	return NULL;
}

static bool pending_unlink(struct httpd *h, struct httpd_conninfo *info)
{
	for (struct httpd_conninfo **pp = &h->pending; *pp; pp = &(*pp)->next) {
		if (*pp == info) {
			*pp = info->next;
			info->next = NULL;
			return true;
		}
	}
	return false;
}

static void conninfo_free(struct httpd *h, struct httpd_conninfo *info)
{
	if (!info)
		return;
	if (info->holds_slot)
		httpd_conn_release(h, info->ip);
	free(info);
}

int httpd_mhd_inject(struct httpd *h, int fd, const struct sockaddr *sa, socklen_t salen,
		     struct httpd_conninfo *info)
{
	info->fd = fd;
	info->registered_ms = httpd_mono_ms();
	pthread_mutex_lock(&h->lock);
	/* A leftover with the same descriptor number belongs to a socket MHD already closed. */
	struct httpd_conninfo *stale = pending_unlink_fd(h, fd);
	info->next = h->pending;
	h->pending = info;
	pthread_mutex_unlock(&h->lock);
	conninfo_free(h, stale);

	if (MHD_add_connection(h->mhd, fd, sa, salen) == MHD_YES)
		return 0;
	int e = errno;
	pthread_mutex_lock(&h->lock);
	bool mine = pending_unlink(h, info);
	pthread_mutex_unlock(&h->lock);
	fc_warn("httpd: cannot hand the connection from %s to the HTTP server: %s", info->ip, strerror(e));
	if (mine)
		conninfo_free(h, info);
	return -1;
}

void httpd_mhd_sweep(struct httpd *h)
{
	struct httpd_conninfo *dead = NULL;
	int64_t now = httpd_mono_ms();
	pthread_mutex_lock(&h->lock);
	for (struct httpd_conninfo **pp = &h->pending; *pp;) {
		if (now - (*pp)->registered_ms > PENDING_STALE_MS) {
			struct httpd_conninfo *i = *pp;
			*pp = i->next;
			i->next = dead;
			dead = i;
		} else {
			pp = &(*pp)->next;
		}
	}
	pthread_mutex_unlock(&h->lock);
	while (dead) {
		struct httpd_conninfo *n = dead->next;
		fc_debug("httpd: dropping a connection from %s that the HTTP server never started", dead->ip);
		conninfo_free(h, dead);
		dead = n;
	}
}

/* MHD's socket context of a connection: its conninfo, and the request state the URI log callback
 * created for the request being read. MHD calls the completion callback only for requests that reached
 * on_request; one it answers by itself (e.g. a request line or head its memory pool cannot hold) never
 * gets there, so that state is freed when the next request starts or the connection closes. */
struct mhd_conn {
	struct httpd_conninfo *info;
	struct req *uri_req;
};

static void req_free(struct req *r)
{
	if (r) {
		free(r->raw_uri);
		free(r->body);
		free(r);
	}
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct httpd *h = cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		struct httpd_conninfo *info = NULL;
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci) {
			pthread_mutex_lock(&h->lock);
			info = pending_unlink_fd(h, ci->connect_fd);
			pthread_mutex_unlock(&h->lock);
		}
		if (!info && (info = calloc(1, sizeof *info))) {
			const union MHD_ConnectionInfo *ai = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
			httpd_addr_ip(ai ? ai->client_addr : NULL, (socklen_t)sizeof(struct sockaddr_storage), info->ip,
				      sizeof info->ip);
			httpd_local_ip(ci ? ci->connect_fd : -1, info->local_ip, sizeof info->local_ip);
		}
		struct mhd_conn *mc = calloc(1, sizeof *mc);
		if (mc)
			mc->info = info;
		else
			conninfo_free(h, info);
		*socket_context = mc;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		struct mhd_conn *mc = *socket_context;
		if (mc) {
			req_free(mc->uri_req);
			conninfo_free(h, mc->info);
			free(mc);
		}
		*socket_context = NULL;
	}
}

static struct mhd_conn *mhd_conn(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

static const struct httpd_conninfo *conn_info(struct MHD_Connection *c)
{
	struct mhd_conn *mc = mhd_conn(c);
	return mc ? mc->info : NULL;
}

/* ---- responses ---- */

static void resp_init(struct fc_http_resp *r)
{
	memset(r, 0, sizeof *r);
	r->status = 200;
	snprintf(r->content_type, sizeof r->content_type, "application/json");
}

static enum MHD_Result queue(struct MHD_Connection *c, struct fc_http_resp *r, bool close_conn)
{
	struct MHD_Response *mr;
	if (r->body && r->body_len) {
		mr = MHD_create_response_from_buffer(r->body_len, r->body, MHD_RESPMEM_MUST_FREE);
		if (mr)
			r->body = NULL; /* MHD frees it */
	} else {
		mr = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	free(r->body);
	r->body = NULL;
	if (!mr)
		return MHD_NO;
	MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
				r->content_type[0] ? r->content_type : "application/json");
	for (size_t i = 0; i < r->n_headers && i < FC_HTTP_MAX_RESP_HEADERS; i++)
		if (MHD_add_response_header(mr, r->headers[i][0], r->headers[i][1]) != MHD_YES)
			fc_warn("httpd: response header '%s' rejected", r->headers[i][0]);
	if (close_conn)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result ret = MHD_queue_response(c, (unsigned int)r->status, mr);
	MHD_destroy_response(mr);
	return ret;
}

static enum MHD_Result queue_error(struct MHD_Connection *c, int status, const char *message, bool close_conn)
{
	struct fc_http_resp r;
	resp_init(&r);
	if (fc_http_resp_error(&r, status, message) < 0)
		r.status = status;
	return queue(c, &r, close_conn);
}

/* ---- request pieces for handlers ---- */

static const char *req_header(const struct fc_http_req *r, const char *name)
{
	if (!r || !name)
		return NULL;
	return MHD_lookup_connection_value((struct MHD_Connection *)r->impl, MHD_HEADER_KIND, name);
}

static const char *req_arg(const struct fc_http_req *r, const char *name)
{
	if (!r || !name)
		return NULL;
	return MHD_lookup_connection_value((struct MHD_Connection *)r->impl, MHD_GET_ARGUMENT_KIND, name);
}

/* ---- routes ---- */

static void healthz(struct httpd *h, struct fc_http_resp *resp)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *vs = cJSON_CreateArray();
	bool ok = o && vs && cJSON_AddStringToObject(o, "status", "ok") &&
		  cJSON_AddStringToObject(o, "version", FC_VERSION) &&
		  cJSON_AddStringToObject(o, "broker", httpd_mqtt_connected(h) ? "connected" : "disconnected");
	for (size_t i = 0; ok && h->vendors[i]; i++) {
		cJSON *s = cJSON_CreateString(h->vendors[i]->name);
		ok = s && cJSON_AddItemToArray(vs, s);
		if (!ok)
			cJSON_Delete(s);
	}
	if (ok && cJSON_AddItemToObject(o, "vendors", vs))
		vs = NULL;
	else
		ok = false;
	if (!ok || fc_http_resp_json(resp, 200, o) < 0)
		fc_http_resp_error(resp, 500, "out of memory");
	cJSON_Delete(vs);
	cJSON_Delete(o);
}

static bool path_match(const struct fc_http_route *rt, const char *path)
{
	bool casei = rt->flags & FC_ROUTE_CASEI;
	if (rt->flags & FC_ROUTE_PREFIX) {
		size_t n = strlen(rt->path);
		return casei ? strncasecmp(path, rt->path, n) == 0 : strncmp(path, rt->path, n) == 0;
	}
	return casei ? strcasecmp(path, rt->path) == 0 : strcmp(path, rt->path) == 0;
}

static void find_route(struct httpd *h, const char *method, const char *path, const struct fc_vendor **vendor,
		       const struct fc_http_route **route, bool *path_known)
{
	*vendor = NULL;
	*route = NULL;
	*path_known = false;
	for (size_t i = 0; h->vendors[i]; i++) {
		const struct fc_vendor *v = h->vendors[i];
		if (!v->http || !v->http->routes)
			continue;
		for (const struct fc_http_route *rt = v->http->routes; rt->path; rt++) {
			if (!rt->handler || !path_match(rt, path))
				continue;
			if (rt->method && strcmp(rt->method, method) != 0) {
				*path_known = true;
				continue;
			}
			*vendor = v;
			*route = rt;
			return;
		}
	}
}

static enum MHD_Result dispatch(struct httpd *h, struct MHD_Connection *c, struct req *r, const char *url,
				const char *method)
{
	const struct httpd_conninfo *info = conn_info(c);
	char shown[200];
	httpd_printable(shown, sizeof shown, url, strlen(url));
	struct fc_http_resp resp;
	resp_init(&resp);
	const char *vendor_name = "-";

	if ((strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) && strcmp(url, "/healthz") == 0) {
		healthz(h, &resp);
	} else {
		const struct fc_vendor *v;
		const struct fc_http_route *rt;
		bool path_known;
		find_route(h, method, url, &v, &rt, &path_known);
		char msg[300];
		if (!rt) {
			char m[24];
			httpd_printable(m, sizeof m, method, strlen(method));
			snprintf(msg, sizeof msg, path_known ? "method %s not allowed for %s" : "no route for %s %s",
				 m, shown);
			fc_info("httpd: %s from %s", msg, info ? info->ip : "?");
			fc_http_resp_error(&resp, path_known ? 405 : 404, msg);
		} else {
			vendor_name = v->name;
			if (!h->mhd_ks) {
				char err[256] = "";
				h->mhd_ks = fc_keystore_open(h->store_path, err, sizeof err);
				if (!h->mhd_ks)
					fc_error("httpd: cannot open the keystore %s: %s", h->store_path, err);
			}
			if (!h->mhd_ks) {
				fc_http_resp_error(&resp, 503, "keystore unavailable");
			} else {
				const char *q = r->raw_uri ? strchr(r->raw_uri, '?') : NULL;
				struct fc_http_ctx ctx = {
					.ks = h->mhd_ks,
					.cfg = h->cfg,
					.notify = httpd_mqtt_notify,
					.notify_ctx = h,
					.now_ms = httpd_now_ms,
				};
				struct fc_http_req req = {
					.method = method,
					.path = url,
					.query = q ? q + 1 : "",
					.body = r->body ? r->body : (const uint8_t *)"",
					.body_len = r->len,
					.header = req_header,
					.arg = req_arg,
					.impl = c,
				};
				if (info) {
					snprintf(req.client_ip, sizeof req.client_ip, "%s", info->ip);
					snprintf(req.local_ip, sizeof req.local_ip, "%s", info->local_ip);
					req.tls = info->tls;
					req.psk = info->psk;
					memcpy(req.psk_identity, info->identity, info->identity_len);
					req.psk_identity_len = info->identity_len;
					req.psk_vendor = info->psk_vendor;
				}
				int rc = rt->handler(&ctx, &req, &resp);
				if (rc < 0) {
					fc_error("httpd: %s handler for %s %s failed (%d)", v->name, method, shown, rc);
					free(resp.body);
					resp_init(&resp);
					fc_http_resp_error(&resp, 500, "internal error");
				} else if (resp.status < 100 || resp.status > 599) {
					fc_error("httpd: %s handler for %s %s returned status %d", v->name, method, shown,
						 resp.status);
					free(resp.body);
					resp_init(&resp);
					fc_http_resp_error(&resp, 500, "internal error");
				}
			}
		}
	}
	fc_debug("httpd: %s %s %s%s -> %d (%s)", info ? info->ip : "?", method, shown,
		 info && info->tls ? (info->psk ? " [tls-psk]" : " [tls]") : "", resp.status, vendor_name);
	return queue(c, &resp, false);
}

/* ---- MHD callbacks ---- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	(void)cls;
	struct mhd_conn *mc = mhd_conn(c);
	if (mc) {
		/* The previous request of this connection never reached on_completed. */
		req_free(mc->uri_req);
		mc->uri_req = NULL;
	}
	struct req *r = calloc(1, sizeof *r);
	if (r && uri)
		r->raw_uri = strdup(uri);
	if (mc)
		mc->uri_req = r;
	return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)toe;
	struct req *r = *con_cls;
	struct mhd_conn *mc = mhd_conn(c);
	if (mc && mc->uri_req == r)
		mc->uri_req = NULL;
	req_free(r);
	*con_cls = NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
	struct httpd *h = cls;
	(void)version;
	struct req *r = *con_cls;
	if (!r) {
		if (!(r = calloc(1, sizeof *r)))
			return MHD_NO;
		*con_cls = r;
	}
	if (!url)
		url = "";
	if (!method)
		method = "";
	char msg[160];
	if (!r->started) {
		r->started = true;
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
		if (ci && ci->header_size > h->max_header) {
			r->rejected = true;
			snprintf(msg, sizeof msg, "request head of %zu bytes is larger than %zu (http.max_header)",
				 ci->header_size, h->max_header);
			return queue_error(c, 431, msg, true);
		}
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl) {
			char *end = NULL;
			errno = 0;
			unsigned long long n = strtoull(cl, &end, 10);
			if (errno == ERANGE || n > h->max_body) {
				r->rejected = true;
				snprintf(msg, sizeof msg, "request body larger than %zu bytes (http.max_body)", h->max_body);
				return queue_error(c, 413, msg, true);
			}
		}
		return MHD_YES;
	}
	if (r->rejected) {
		if (*upload_size) {
			/* libmicrohttpd 0.9.75 cannot answer in the middle of an upload: drop the rest of the
			 * body, within reason, and answer at its end. */
			r->discarded += *upload_size;
			*upload_size = 0;
			return r->discarded > h->max_body * 4 + 1048576 ? MHD_NO : MHD_YES;
		}
		if (r->owe_413) {
			r->owe_413 = false;
			snprintf(msg, sizeof msg, "request body larger than %zu bytes (http.max_body)", h->max_body);
			return queue_error(c, 413, msg, true);
		}
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;
		if (n > h->max_body || r->len > h->max_body - n) {
			r->rejected = r->owe_413 = true;
			r->discarded = n;
			*upload_size = 0;
			free(r->body);
			r->body = NULL;
			r->len = r->cap = 0;
			char shown[200];
			httpd_printable(shown, sizeof shown, url, strlen(url));
			fc_info("httpd: %s: body over http.max_body (%zu bytes), answering 413", shown, h->max_body);
			return MHD_YES;
		}
		if (r->len + n + 1 > r->cap) {
			size_t cap = r->cap ? r->cap : 1024;
			while (cap < r->len + n + 1)
				cap *= 2;
			uint8_t *nb = realloc(r->body, cap);
			if (!nb)
				return MHD_NO;
			r->body = nb;
			r->cap = cap;
		}
		memcpy(r->body + r->len, upload_data, n);
		r->len += n;
		r->body[r->len] = 0;
		*upload_size = 0;
		return MHD_YES;
	}
	return dispatch(h, c, r, url, method);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char line[512];
	vsnprintf(line, sizeof line, fmt, ap);
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = 0;
	/* Expected on the socketpairs of TLS connections (no TCP options there): not worth a line. */
	if (strstr(line, "TCP_NODELAY") || strstr(line, "TCP_CORK") || strstr(line, "push the data from buffers"))
		return;
	fc_debug("httpd: mhd: %s", line);
}

int httpd_mhd_start(struct httpd *h, char *err, size_t errlen)
{
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
	if (fc_log_get_level() <= FC_LOG_DEBUG)
		flags |= MHD_USE_ERROR_LOG;
	/* The pool holds the request head plus MHD's own bookkeeping and the response head; heads a bit
	 * over http.max_header still reach on_request, which answers 431 with a JSON body. */
	size_t mem = h->max_header * 2 + 8192;
	h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
				  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, (void *)h,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)mem,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)h->timeout_s,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned int)(h->max_conns + 16),
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, (void *)h,
				  MHD_OPTION_NOTIFY_CONNECTION, on_connection, (void *)h,
				  MHD_OPTION_URI_LOG_CALLBACK, on_uri, (void *)h,
				  MHD_OPTION_END);
	if (!h->mhd) {
		snprintf(err, errlen, "cannot start libmicrohttpd (%s)", strerror(errno));
		return -1;
	}
	return 0;
}

void httpd_mhd_stop(struct httpd *h)
{
	if (h->mhd) {
		MHD_stop_daemon(h->mhd);
		h->mhd = NULL;
	}
	pthread_mutex_lock(&h->lock);
	struct httpd_conninfo *left = h->pending;
	h->pending = NULL;
	pthread_mutex_unlock(&h->lock);
	while (left) {
		struct httpd_conninfo *n = left->next;
		conninfo_free(h, left);
		left = n;
	}
	if (h->mhd_ks) {
		fc_keystore_close(h->mhd_ks);
		h->mhd_ks = NULL;
	}
}
