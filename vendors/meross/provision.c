/* `fakecloud provision meross setup | rehome | info`: points a Meross device at fakecloud's broker with
 * a fakecloud account, over the device's local HTTP API (/work/shared/protocols/meross.md §5).
 *
 * Transport: one POST /config per message, over a small HTTP/1.1 client written here (connect, send
 * and receive with deadlines, "Connection: close") because some firmware sends malformed HTTP that
 * strict parsers refuse. Messages are built, signed and parsed with codec.h. Devices that list
 * Appliance.Encrypt.ECDHE get the encrypted transport: both published key derivations are tried,
 * (b) first, then (a) (see codec.h).
 *
 * Secrets: the account key and the Wi-Fi password are never printed (--dry-run shows placeholders in
 * their place; a message's sign covers only messageId, key and timestamp, so the printed signs are the
 * real ones). Buffers that held them are wiped. */
#include "vendors/meross/provision.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/keystore.h"
#include "vendors/meross/meross_internal.h"

#define DEFAULT_TIMEOUT_S 8
#define MAX_ACCOUNTS 64
#define NS_ALL "Appliance.System.All"
#define NS_ABILITY "Appliance.System.Ability"
#define NS_KEY "Appliance.Config.Key"
#define NS_WIFI "Appliance.Config.Wifi"
#define NS_WIFIX "Appliance.Config.WifiX"
#define NS_WIFILIST "Appliance.Config.WifiList"
#define NS_ECDHE "Appliance.Encrypt.ECDHE"
#define HIDDEN_KEY "<account key, not shown>"
#define HIDDEN_PASSWORD "<Wi-Fi password, not shown>"

const char meross_provision_usage[] =
	"fakecloud provision meross setup --device HOST[:PORT] --ssid SSID --password PASSWORD [--broker HOST:PORT] "
	"[--secondary HOST:PORT] [--account USERID] [--sign-key KEY] [--timeout SECONDS] [--dry-run]\n"
	"fakecloud provision meross rehome --device HOST[:PORT] --key CURRENT_KEY [--broker HOST:PORT] "
	"[--secondary HOST:PORT] [--account USERID] [--timeout SECONDS] [--dry-run]\n"
	"fakecloud provision meross info --device HOST[:PORT] [--key KEY] [--account USERID] [--timeout SECONDS]\n"
	"  (setup: the device in setup mode, this computer on its Meross_xx_xxxx Wi-Fi, --device 10.10.10.1;\n"
	"   rehome: a configured device on the LAN and its current key. The broker defaults to the first tls.ips\n"
	"   entry and mqtt.tls_port, the account to the one named 'default'. See docs/vendors/meross.md)";

/* ================================================================================================
 * HTTP response parser (pure)
 * ============================================================================================== */

static int perr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static void quirk(struct meross_http_resp *r, const char *what)
{
	if (!r->quirk[0])
		snprintf(r->quirk, sizeof r->quirk, "%s", what);
}

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

static bool ieq(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

static bool icontains(const char *s, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; k <= n && i <= n - k; i++)
		if (ieq(s + i, k, needle))
			return true;
	return false;
}

/* A printable, bounded excerpt of s for error messages. */
static void excerpt(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 5 < cap && i < 100; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
	}
	out[o] = '\0';
}

static int set_body(struct meross_http_resp *r, const char *p, size_t n, char *err, size_t errlen)
{
	r->body = malloc(n + 1);
	if (!r->body)
		return perr(err, errlen, "out of memory");
	if (n)
		memcpy(r->body, p, n);
	r->body[n] = '\0';
	r->body_len = n;
	return 1;
}

/* Strict-enough decimal (no sign, at most 9 digits) surrounded by blanks. -1 when not one. */
static long parse_len(const char *v, size_t n)
{
	while (n && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n == 0 || n > 9)
		return -1;
	long x = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	return x;
}

/* Chunked body starting at p. Same returns as the parser. */
static int parse_chunked(const char *p, const char *end, bool eof, struct meross_http_resp *r, char *err,
			 size_t errlen)
{
	/* First pass: validate and measure; second: copy. Both walk the same grammar. */
	for (int pass = 0; pass < 2; pass++) {
		size_t total = 0;
		const char *q = p;
		for (;;) {
			const char *nl = memchr(q, '\n', (size_t)(end - q));
			if (!nl) {
				if ((size_t)(end - q) > 64)
					return perr(err, errlen, "malformed chunk size line");
				return eof ? perr(err, errlen, "the connection closed inside a chunked body") : 0;
			}
			size_t size = 0, digits = 0;
			const char *c = q;
			while (c < nl && (*c == ' ' || *c == '\t'))
				c++;
			for (; c < nl; c++, digits++) {
				char h = lower(*c);
				int v = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : -1;
				if (v < 0)
					break;
				if (size > MEROSS_HTTP_MAX_BODY)
					return perr(err, errlen, "chunk too large");
				size = size * 16 + (size_t)v;
			}
			if (digits == 0 || (c < nl && *c != ';' && *c != ' ' && *c != '\t' && *c != '\r'))
				return perr(err, errlen, "malformed chunk size line");
			q = nl + 1;
			if (size == 0) { /* trailers, if any, are not needed */
				if (pass == 0) {
					r->body = malloc(total + 1);
					if (!r->body)
						return perr(err, errlen, "out of memory");
					r->body_len = 0;
				} else {
					r->body[r->body_len] = '\0';
					return 1;
				}
				break;
			}
			if (size > MEROSS_HTTP_MAX_BODY - total)
				return perr(err, errlen, "body larger than %d bytes", MEROSS_HTTP_MAX_BODY);
			if ((size_t)(end - q) < size + 1) {
				if (eof)
					return perr(err, errlen, "the connection closed inside a chunked body");
				return 0;
			}
			if (pass == 1) {
				memcpy(r->body + r->body_len, q, size);
				r->body_len += size;
			}
			total += size;
			q += size;
			if (*q == '\r') {
				if ((size_t)(end - q) < 2)
					return eof ? perr(err, errlen, "the connection closed inside a chunked body") : 0;
				q++;
			}
			if (*q != '\n')
				return perr(err, errlen, "chunk not followed by a line end");
			q++;
		}
	}
	return perr(err, errlen, "internal error");
}

static int parse_response(const void *buf, size_t len, bool eof, struct meross_http_resp *r, char *err,
			  size_t errlen)
{
	if (!buf && len)
		return perr(err, errlen, "no input");
	const char *s = buf, *end = s + len, *p = s;

	for (int interim = 0;; interim++) {
		while (p < end && (*p == '\r' || *p == '\n'))
			p++;
		if (p > s && interim == 0)
			quirk(r, "blank lines before the status line");
		if (p == end) {
			if (len > MEROSS_HTTP_MAX_HEAD)
				return perr(err, errlen, "too many blank lines");
			return eof ? perr(err, errlen, len ? "only blank lines" : "the connection closed without an answer")
				   : 0;
		}
		if (*p == '{' && interim == 0) { /* a bare body: HTTP/0.9 style */
			if ((size_t)(end - p) > MEROSS_HTTP_MAX_BODY)
				return perr(err, errlen, "body larger than %d bytes", MEROSS_HTTP_MAX_BODY);
			if (!eof)
				return 0;
			quirk(r, "no status line or headers");
			r->status = 200;
			return set_body(r, p, (size_t)(end - p), err, errlen);
		}

		/* ---- head ---- */
		bool first = true, saw_crlf = false, saw_lf = false, chunked = false, cl_conflict = false;
		long cl = -1;
		const char *body = NULL;
		const char *line = p;
		while (!body) {
			const char *nl = memchr(line, '\n', (size_t)(end - line));
			if (!nl) {
				if ((size_t)(end - s) > MEROSS_HTTP_MAX_HEAD && (size_t)(end - p) > MEROSS_HTTP_MAX_HEAD)
					return perr(err, errlen, "response head longer than %d bytes", MEROSS_HTTP_MAX_HEAD);
				if (eof) {
					char ex[200];
					excerpt(p, (size_t)(end - p), ex, sizeof ex);
					return perr(err, errlen, first ? "the connection closed in the status line \"%s\""
									: "the connection closed in the headers (\"%s\")",
						    ex);
				}
				return 0;
			}
			if ((size_t)(nl + 1 - p) > MEROSS_HTTP_MAX_HEAD)
				return perr(err, errlen, "response head longer than %d bytes", MEROSS_HTTP_MAX_HEAD);
			size_t n = (size_t)(nl - line);
			if (n && line[n - 1] == '\r')
				saw_crlf = true;
			else
				saw_lf = true;
			while (n && line[n - 1] == '\r')
				n--;
			if (first) {
				first = false;
				char ex[200];
				excerpt(line, n, ex, sizeof ex);
				if (n < 5 || !ieq(line, 5, "HTTP/"))
					return perr(err, errlen, "not an HTTP response: \"%s\"", ex);
				size_t i = 5;
				while (i < n && line[i] != ' ' && line[i] != '\t')
					i++;
				while (i < n && (line[i] == ' ' || line[i] == '\t'))
					i++;
				if (i + 3 > n || line[i] < '1' || line[i] > '5' || line[i + 1] < '0' || line[i + 1] > '9' ||
				    line[i + 2] < '0' || line[i + 2] > '9' || (i + 3 < n && line[i + 3] != ' ' && line[i + 3] != '\t'))
					return perr(err, errlen, "malformed status line \"%s\"", ex);
				r->status = (line[i] - '0') * 100 + (line[i + 1] - '0') * 10 + (line[i + 2] - '0');
				size_t j = i + 3;
				while (j < n && (line[j] == ' ' || line[j] == '\t'))
					j++;
				if (j == n)
					quirk(r, "no reason phrase");
			} else if (n == 0) {
				body = nl + 1;
			} else if (line[0] == ' ' || line[0] == '\t') {
				quirk(r, "folded header line");
			} else {
				const char *colon = memchr(line, ':', n);
				if (!colon) {
					quirk(r, "header line without a colon");
				} else {
					size_t nn = (size_t)(colon - line);
					if (nn && (line[nn - 1] == ' ' || line[nn - 1] == '\t')) {
						quirk(r, "blank before a header's colon");
						while (nn && (line[nn - 1] == ' ' || line[nn - 1] == '\t'))
							nn--;
					}
					const char *v = colon + 1;
					size_t vn = n - (size_t)(v - line);
					if (ieq(line, nn, "content-length")) {
						long x = parse_len(v, vn);
						if (x < 0 || (cl >= 0 && x != cl)) {
							cl_conflict = true;
						} else {
							if (x > MEROSS_HTTP_MAX_BODY)
								return perr(err, errlen, "announced body of %ld bytes is larger than %d",
									    x, MEROSS_HTTP_MAX_BODY);
							cl = x;
						}
					} else if (ieq(line, nn, "transfer-encoding") && icontains(v, vn, "chunked")) {
						chunked = true;
					}
				}
			}
			line = nl + 1;
		}
		if (saw_lf)
			quirk(r, saw_crlf ? "mixed CRLF and bare LF line endings" : "bare LF line endings");

		/* ---- body ---- */
		if (r->status < 200) { /* interim (100 Continue...): the real answer follows */
			if (interim >= 4)
				return perr(err, errlen, "too many interim responses");
			p = body;
			continue;
		}
		const size_t have = (size_t)(end - body);
		if (r->status == 204 || r->status == 304)
			return set_body(r, body, 0, err, errlen);
		if (chunked)
			return parse_chunked(body, end, eof, r, err, errlen);
		if (cl_conflict) {
			quirk(r, "missing, malformed or conflicting Content-Length");
			cl = -1;
		}
		if (cl >= 0) {
			if (have >= (size_t)cl)
				return set_body(r, body, (size_t)cl, err, errlen);
			if (!eof)
				return 0;
			quirk(r, "the connection closed before the announced Content-Length");
			return set_body(r, body, have, err, errlen);
		}
		if (have > MEROSS_HTTP_MAX_BODY)
			return perr(err, errlen, "body larger than %d bytes", MEROSS_HTTP_MAX_BODY);
		if (!eof)
			return 0;
		quirk(r, "no Content-Length (body up to the end of the connection)");
		return set_body(r, body, have, err, errlen);
	}
}

int meross_http_parse_response(const void *buf, size_t len, bool eof, struct meross_http_resp *r, char *err,
			       size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!r)
		return perr(err, errlen, "no output");
	memset(r, 0, sizeof *r);
	int rc = parse_response(buf, len, eof, r, err, errlen);
	if (rc != 1) { /* nothing half-filled */
		free(r->body);
		memset(r, 0, sizeof *r);
	}
	return rc;
}

void meross_http_resp_free(struct meross_http_resp *r)
{
	if (!r)
		return;
	if (r->body)
		fc_wipe(r->body, r->body_len);
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

/* ================================================================================================
 * TCP + HTTP client
 * ============================================================================================== */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* poll() one fd until `deadline`; 1 ready, 0 timed out, -1 error (errno). */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return 0;
		struct pollfd pfd = {.fd = fd, .events = events};
		int rc = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -1;
		if (rc > 0)
			return 1;
	}
}

/* Connected non-blocking socket, or -1 with a reason. */
static int tcp_connect(const char *host, const char *port, int64_t deadline, char *why, size_t whylen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	int gr = getaddrinfo(host, port, &hints, &res);
	if (gr != 0) {
		perr(why, whylen, "cannot resolve '%s': %s", host, gai_strerror(gr));
		return -1;
	}
	int fd = -1, last = 0;
	bool timed_out = false;
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		int s = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (s < 0) {
			last = errno;
			continue;
		}
		int rc = connect(s, ai->ai_addr, ai->ai_addrlen);
		if (rc != 0 && errno == EINPROGRESS) {
			int w = wait_fd(s, POLLOUT, deadline);
			if (w == 1) {
				int e = 0;
				socklen_t el = sizeof e;
				rc = getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0 ? 0 : -1;
				errno = e ? e : errno;
			} else {
				timed_out = w == 0;
				rc = -1;
				errno = w == 0 ? ETIMEDOUT : errno;
			}
		}
		if (rc == 0) {
			fd = s;
		} else {
			last = errno;
			close(s);
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (timed_out)
			perr(why, whylen, "no connection within the timeout (nothing answers at that address)");
		else
			perr(why, whylen, "cannot connect: %s", strerror(last ? last : ECONNREFUSED));
	}
	return fd;
}

static int send_all(int fd, const char *p, size_t n, int64_t deadline, char *why, size_t whylen)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rc = wait_fd(fd, POLLOUT, deadline);
			if (rc == 0)
				return perr(why, whylen, "the device did not take the request within the timeout");
			if (rc < 0)
				return perr(why, whylen, "sending failed: %s", strerror(errno));
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return perr(why, whylen, "sending failed: %s", w < 0 ? strerror(errno) : "connection closed");
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

enum xkind {
	XK_OK = 0,
	XK_DRY,     /* --dry-run: printed, not sent */
	XK_NET,     /* no connection / no answer / transport broke */
	XK_HTTP,    /* an HTTP status other than 200 */
	XK_BAD,     /* an answer that is not a usable Meross message */
	XK_DEVERR,  /* the device answered method ERROR */
};

struct xfail {
	enum xkind kind;
	long code;        /* XK_DEVERR: payload.error.code (-1 when absent) */
	bool sent;        /* the whole request went out */
	bool answered;    /* XK_NET: some bytes arrived before the failure */
	bool timed_out;   /* XK_NET: a deadline passed */
	char why[512];
};

/* POST /config; *resp filled on success (0). -1 with f filled. */
static int http_post(const char *host, const char *port, const char *hosthdr, int timeout_ms, const char *ctype,
		     const char *body, size_t blen, struct meross_http_resp *resp, struct xfail *f)
{
	const int64_t deadline = mono_ms() + timeout_ms;
	f->kind = XK_NET;
	int fd = tcp_connect(host, port, deadline, f->why, sizeof f->why);
	if (fd < 0) {
		f->timed_out = mono_ms() >= deadline;
		return -1;
	}
	char head[768];
	int hn = snprintf(head, sizeof head,
			  "POST /config HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nAccept: */*\r\n"
			  "Content-Length: %zu\r\nConnection: close\r\nUser-Agent: fakecloud/%s\r\n\r\n",
			  hosthdr, ctype, blen, FC_VERSION);
	if (hn < 0 || (size_t)hn >= sizeof head) {
		close(fd);
		perr(f->why, sizeof f->why, "request head too long");
		return -1;
	}
	if (send_all(fd, head, (size_t)hn, deadline, f->why, sizeof f->why) != 0 ||
	    send_all(fd, body, blen, deadline, f->why, sizeof f->why) != 0) {
		f->timed_out = mono_ms() >= deadline;
		close(fd);
		return -1;
	}
	f->sent = true;
	const size_t cap = MEROSS_HTTP_MAX_HEAD + MEROSS_HTTP_MAX_BODY + 16384; /* + chunk framing */
	size_t used = 0, alloc = 8192;
	char *buf = malloc(alloc);
	int rc = -1;
	if (!buf) {
		perr(f->why, sizeof f->why, "out of memory");
		close(fd);
		return -1;
	}
	char perr_buf[256];
	for (;;) {
		if (used == alloc) {
			if (alloc >= cap) {
				perr(f->why, sizeof f->why, "the answer is larger than %zu bytes", cap);
				f->kind = XK_BAD;
				break;
			}
			size_t na = alloc * 2 > cap ? cap : alloc * 2;
			char *nb = realloc(buf, na);
			if (!nb) {
				perr(f->why, sizeof f->why, "out of memory");
				break;
			}
			buf = nb;
			alloc = na;
		}
		ssize_t r = recv(fd, buf + used, alloc - used, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int w = wait_fd(fd, POLLIN, deadline);
			if (w == 1)
				continue;
			f->answered = used > 0;
			f->timed_out = w == 0;
			if (w == 0 && used)
				perr(f->why, sizeof f->why, "the answer stopped after %zu bytes (timeout)", used);
			else if (w == 0)
				perr(f->why, sizeof f->why, "no answer within %d s", timeout_ms / 1000);
			else
				perr(f->why, sizeof f->why, "receiving failed: %s", strerror(errno));
			break;
		}
		bool eof = r == 0;
		if (r < 0) { /* a reset after a complete answer is still an answer */
			int e = errno;
			int pr = meross_http_parse_response(buf, used, true, resp, perr_buf, sizeof perr_buf);
			if (pr == 1) {
				rc = 0;
				break;
			}
			meross_http_resp_free(resp);
			f->answered = used > 0;
			perr(f->why, sizeof f->why, "%s: %s", used ? "the connection broke during the answer" : "no answer",
			     strerror(e));
			break;
		}
		used += (size_t)r;
		int pr = meross_http_parse_response(buf, used, eof, resp, perr_buf, sizeof perr_buf);
		if (pr == 1) {
			rc = 0;
			break;
		}
		if (pr < 0 || eof) {
			f->answered = used > 0;
			f->kind = used ? XK_BAD : XK_NET;
			perr(f->why, sizeof f->why, "%s", pr < 0 ? perr_buf : "the answer ended early");
			break;
		}
	}
	fc_wipe(buf, used);
	free(buf);
	close(fd);
	return rc;
}

/* ================================================================================================
 * The provisioning session
 * ============================================================================================== */

struct prov {
	struct fc_cli *cli;
	const char *sub;             /* setup | rehome | info */
	char host[256], port[8];     /* --device */
	char hosthdr[280];           /* Host: header, and the base of header.from */
	char from[300];              /* header.from: http://HOST[:PORT]/config */
	int timeout_ms;
	bool dry_run;
	const char *sign_key;        /* signs every message of the run */
	size_t sign_keylen;
	bool encrypted;              /* local API encryption negotiated */
	char aes[33];
	int step;
	/* from System.All */
	char type[32], hw_version[32], fw_version[32], uuid[MEROSS_UUID_LEN + 1], mac[18], inner_ip[64];
	char cur_user[24], cur_server[256], cur_second[256];
	/* from System.Ability */
	bool have_ability, has_wifix, has_ecdhe, has_wifilist;
	int n_abilities;
};

struct account {
	char user_id[24];
	char name[128];
	struct fc_secret key;
	bool placeholder; /* no account in the keystore yet: the default one is created when needed */
};

static void outf(struct prov *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(struct prov *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(p->cli->out, fmt, ap);
	va_end(ap);
	fflush(p->cli->out);
}

/* "fakecloud provision meross <sub>: <message>" on stderr. Returns 1 (the failure exit code). */
static int failf(struct prov *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int failf(struct prov *p, const char *fmt, ...)
{
	fflush(p->cli->out);
	fprintf(p->cli->err, "fakecloud provision meross %s: ", p->sub);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(p->cli->err, fmt, ap);
	va_end(ap);
	fputc('\n', p->cli->err);
	fflush(p->cli->err);
	return 1;
}

static int usagef(struct fc_cli *cli, const char *sub, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int usagef(struct fc_cli *cli, const char *sub, const char *fmt, ...)
{
	fprintf(cli->err, "fakecloud provision meross%s%s: ", sub ? " " : "", sub ? sub : "");
	va_list ap;
	va_start(ap, fmt);
	vfprintf(cli->err, fmt, ap);
	va_end(ap);
	fprintf(cli->err, " (see 'fakecloud provision meross --help')\n");
	return 2;
}

static const char *ack_of(const char *method) { return !strcmp(method, "GET") ? "GETACK" : "SETACK"; }

/* One request and its answer. XK_OK: *reply holds the ACK (free with meross_msg_free). XK_DRY: printed.
 * Otherwise f says what went wrong. `shown` (may be NULL) is the payload printed by --dry-run in place
 * of `payload` (secrets replaced). */
static enum xkind exchange(struct prov *p, const char *ns, const char *method, const cJSON *payload,
			   const cJSON *shown, struct meross_msg *reply, struct xfail *f)
{
	memset(f, 0, sizeof *f);
	memset(reply, 0, sizeof *reply);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	const struct meross_out o = {.namespace_ = ns,
				     .method = method,
				     .from = p->from,
				     .timestamp = (int64_t)ts.tv_sec,
				     .timestamp_ms = (int)(ts.tv_nsec / 1000000)};
	char *text = meross_msg_build(&o, p->dry_run && shown ? shown : payload, p->sign_key, p->sign_keylen, NULL);
	if (!text) {
		perr(f->why, sizeof f->why, "could not build the message");
		return f->kind = XK_BAD;
	}
	if (p->dry_run) {
		outf(p, "  POST http://%s/config %s\n", p->hosthdr, text);
		free(text);
		return f->kind = XK_DRY;
	}
	size_t tlen = strlen(text);
	char *body = text;
	size_t blen = tlen;
	if (p->encrypted) {
		body = meross_local_encrypt(p->aes, text, tlen, &blen);
		fc_wipe(text, tlen);
		free(text);
		text = NULL;
		if (!body) {
			perr(f->why, sizeof f->why, "could not encrypt the message");
			return f->kind = XK_BAD;
		}
	}
	struct meross_http_resp resp;
	int rc = http_post(p->host, p->port, p->hosthdr, p->timeout_ms,
			   p->encrypted ? "text/plain" : "application/json", body, blen, &resp, f);
	fc_wipe(body, blen);
	free(body);
	if (rc != 0)
		return f->kind;
	if (resp.status != 200) {
		char ex[200];
		excerpt(resp.body, resp.body_len, ex, sizeof ex);
		perr(f->why, sizeof f->why, "the device answered HTTP %d%s%s%s", resp.status, ex[0] ? " (\"" : "", ex,
		     ex[0] ? "\")" : "");
		meross_http_resp_free(&resp);
		return f->kind = XK_HTTP;
	}
	char *plain = resp.body;
	size_t plen = resp.body_len;
	char *dec = NULL;
	if (p->encrypted) {
		char derr[128];
		size_t dlen = 0;
		dec = meross_local_decrypt(p->aes, resp.body, resp.body_len, &dlen, derr, sizeof derr);
		if (dec) {
			plain = dec;
			plen = dlen;
		} else if (!(resp.body_len && resp.body[0] == '{')) {
			perr(f->why, sizeof f->why, "could not decrypt the answer (%s)", derr);
			meross_http_resp_free(&resp);
			return f->kind = XK_BAD;
		} /* else: a plain JSON answer to an encrypted request (e.g. an ERROR); parse it as is */
	}
	char perr_buf[160];
	int pr = meross_msg_parse(plain, plen, reply, perr_buf, sizeof perr_buf);
	if (dec) {
		fc_wipe(dec, plen);
		free(dec);
	}
	meross_http_resp_free(&resp);
	if (pr != 0) {
		perr(f->why, sizeof f->why, "the answer is not a Meross message (%s)", perr_buf);
		return f->kind = XK_BAD;
	}
	if (!strcmp(reply->method, "ERROR")) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(reply->payload, "error");
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
		const char *detail = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "detail"));
		f->code = cJSON_IsNumber(code) ? (long)code->valuedouble : -1;
		char ex[160] = "";
		if (detail)
			excerpt(detail, strnlen(detail, 120), ex, sizeof ex);
		perr(f->why, sizeof f->why, "the device answered ERROR %ld%s%s%s", f->code, ex[0] ? " (\"" : "", ex,
		     ex[0] ? "\")" : "");
		meross_msg_free(reply);
		return f->kind = XK_DEVERR;
	}
	if (strcmp(reply->method, ack_of(method)) != 0) {
		perr(f->why, sizeof f->why, "the device answered %s %s instead of %s", reply->method, reply->namespace_,
		     ack_of(method));
		meross_msg_free(reply);
		return f->kind = XK_BAD;
	}
	return XK_OK;
}

/* A hint for what to try, by failure and step. */
static const char *hint(struct prov *p, const struct xfail *f, bool first)
{
	if (f->kind == XK_NET && !f->answered && first)
		return !strcmp(p->sub, "setup")
			       ? "is this computer on the device's Wi-Fi (Meross_xx_xxxx; the device is 10.10.10.1) and the "
				 "device in setup mode (LED alternating amber/green; hold its button ~5 s)? Check --device"
			       : "is the device on and reachable at that address (same LAN)? Check --device";
	if (f->kind == XK_NET && f->sent)
		return "the request reached the device but its answer did not come back: it may have applied it "
		       "(a device that reboots drops the connection); check with 'fakecloud provision meross info', or "
		       "run the command again (with more --timeout if it is slow)";
	if (f->kind == XK_NET && f->timed_out)
		return "devices sometimes stall: try again, or give more time with --timeout";
	if (f->kind == XK_NET)
		return "try again; if it persists, power-cycle the device";
	if (f->kind == XK_HTTP)
		return "is that a Meross device? Its local API is POST /config on port 80";
	if (f->kind == XK_DEVERR && f->code == 5001)
		return !strcmp(p->sub, "setup")
			       ? "the device checks signatures, so it is not in setup mode with an empty key: if it is "
				 "configured, use 'rehome --key CURRENT_KEY'; some tools sign setup with \"meross\" "
				 "(--sign-key meross)"
			       : "--key is not the key the device is configured with (the key of the account it is bound to: "
				 "see 'fakecloud device export meross', or the key meross_lan uses)";
	if (f->kind == XK_DEVERR)
		return "the device refused this request; run 'fakecloud provision meross info' to see what it supports";
	return "the device's firmware may speak a variant fakecloud does not know; please report it with the model "
	       "and firmware version";
}

static int step_fail(struct prov *p, const char *what, const struct xfail *f)
{
	return failf(p, "step %d (%s) failed: %s. Try: %s", p->step, what, f->why, hint(p, f, p->step == 1));
}

/* ---- device facts ---- */

static const char *jstr(const cJSON *o, const char *k)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
	return s ? s : "";
}

static void copy_str(char *dst, size_t cap, const char *s)
{
	size_t n = strnlen(s, cap - 1);
	memcpy(dst, s, n);
	dst[n] = '\0';
	for (size_t i = 0; i < n; i++) /* printed later: keep it one clean line */
		if ((unsigned char)dst[i] < 0x20 || dst[i] == 0x7f)
			dst[i] = '?';
}

/* A number or a numeric string (devices send both for ports and userIds); -1 when neither. */
static long jlong(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
	if (cJSON_IsNumber(it) && it->valuedouble >= 0 && it->valuedouble < 1e15)
		return (long)it->valuedouble;
	if (cJSON_IsString(it) && it->valuestring[0]) {
		long v = parse_len(it->valuestring, strlen(it->valuestring));
		return v;
	}
	return -1;
}

static bool uuid_ok(const char *u)
{
	size_t n = 0;
	for (; u[n]; n++)
		if (!((u[n] >= '0' && u[n] <= '9') || (u[n] >= 'a' && u[n] <= 'z') || (u[n] >= 'A' && u[n] <= 'Z')))
			return false;
	return n == MEROSS_UUID_LEN;
}

static bool mac_ok(const char *m)
{
	if (strlen(m) != 17)
		return false;
	for (size_t i = 0; i < 17; i++) {
		char c = lower(m[i]);
		if (i % 3 == 2 ? (c != ':' && c != '-') : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

/* System.All GETACK -> p's facts. 0, or -1 with why. */
static int read_system_all(struct prov *p, const cJSON *payload, char *why, size_t whylen)
{
	const cJSON *sys = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(payload, "all"), "system");
	const cJSON *hw = cJSON_GetObjectItemCaseSensitive(sys, "hardware");
	const cJSON *fw = cJSON_GetObjectItemCaseSensitive(sys, "firmware");
	if (!cJSON_IsObject(hw))
		return perr(why, whylen, "the answer has no all.system.hardware");
	copy_str(p->type, sizeof p->type, jstr(hw, "type"));
	copy_str(p->hw_version, sizeof p->hw_version, jstr(hw, "version"));
	const char *uuid = jstr(hw, "uuid"), *mac = jstr(hw, "macAddress");
	if (!uuid_ok(uuid))
		return perr(why, whylen, "hardware.uuid is missing or not 32 letters/digits");
	if (!mac_ok(mac))
		return perr(why, whylen, "hardware.macAddress is missing or not a MAC address");
	if (!p->type[0])
		return perr(why, whylen, "hardware.type is missing");
	memcpy(p->uuid, uuid, MEROSS_UUID_LEN + 1);
	memcpy(p->mac, mac, 18);
	copy_str(p->fw_version, sizeof p->fw_version, jstr(fw, "version"));
	copy_str(p->inner_ip, sizeof p->inner_ip, jstr(fw, "innerIp"));
	copy_str(p->cur_server, sizeof p->cur_server, jstr(fw, "server"));
	copy_str(p->cur_second, sizeof p->cur_second, jstr(fw, "secondServer"));
	/* "host:port" for messages; the port only when the device gave one */
	long port = jlong(fw, "port"), port2 = jlong(fw, "secondPort");
	if (p->cur_server[0] && port >= 0)
		snprintf(p->cur_server + strlen(p->cur_server), sizeof p->cur_server - strlen(p->cur_server), ":%ld",
			 port);
	if (p->cur_second[0] && port2 >= 0)
		snprintf(p->cur_second + strlen(p->cur_second), sizeof p->cur_second - strlen(p->cur_second), ":%ld",
			 port2);
	long uid = jlong(fw, "userId");
	if (uid >= 0)
		snprintf(p->cur_user, sizeof p->cur_user, "%ld", uid);
	return 0;
}

static void read_ability(struct prov *p, const cJSON *payload)
{
	const cJSON *ab = cJSON_GetObjectItemCaseSensitive(payload, "ability");
	p->have_ability = cJSON_IsObject(ab);
	p->n_abilities = cJSON_GetArraySize(ab);
	p->has_wifix = cJSON_GetObjectItemCaseSensitive(ab, NS_WIFIX) != NULL;
	p->has_ecdhe = cJSON_GetObjectItemCaseSensitive(ab, NS_ECDHE) != NULL;
	p->has_wifilist = cJSON_GetObjectItemCaseSensitive(ab, NS_WIFILIST) != NULL;
}

/* Steps 1 and 2: System.All and System.Ability. 0 or the exit code. */
static int query_device(struct prov *p, bool ability_required)
{
	struct meross_msg m;
	struct xfail f;
	p->step++;
	if (exchange(p, NS_ALL, "GET", NULL, NULL, &m, &f) != XK_OK)
		return step_fail(p, "GET " NS_ALL, &f);
	char why[160];
	int rc = read_system_all(p, m.payload, why, sizeof why);
	meross_msg_free(&m);
	if (rc != 0)
		return failf(p, "step %d (GET " NS_ALL ") failed: %s. Try: %s", p->step, why,
			     "check that --device is a Meross device; please report the model and firmware");
	char cur[400] = "not configured";
	if (p->cur_server[0])
		snprintf(cur, sizeof cur, "configured for userId %s, broker %s", p->cur_user[0] ? p->cur_user : "?",
			 p->cur_server);
	outf(p, "[%d] GET %s: %s (hardware %s, firmware %s), uuid %s, MAC %s; %s\n", p->step, NS_ALL, p->type,
	     p->hw_version[0] ? p->hw_version : "?", p->fw_version[0] ? p->fw_version : "?", p->uuid, p->mac, cur);

	p->step++;
	if (exchange(p, NS_ABILITY, "GET", NULL, NULL, &m, &f) != XK_OK) {
		if (ability_required)
			return step_fail(p, "GET " NS_ABILITY, &f);
		outf(p, "[%d] GET %s: no usable answer (%s)\n", p->step, NS_ABILITY, f.why);
		return 0;
	}
	read_ability(p, m.payload);
	meross_msg_free(&m);
	if (!p->have_ability)
		return failf(p, "step %d (GET " NS_ABILITY ") failed: the answer has no \"ability\" object. Try: %s", p->step,
			     "please report the model and firmware version");
	outf(p, "[%d] GET %s: %d abilities; Wi-Fi password: %s; local API encryption: %s\n", p->step, NS_ABILITY,
	     p->n_abilities, p->has_wifix ? NS_WIFIX " (AES)" : NS_WIFI " (base64)",
	     p->has_ecdhe ? NS_ECDHE : "none");
	return 0;
}

/* ---- encrypted local API ---- */

/* A GET System.All over the encrypted transport that must come back intact. */
static bool probe_encrypted(struct prov *p, struct xfail *f)
{
	struct meross_msg m;
	if (exchange(p, NS_ALL, "GET", NULL, NULL, &m, f) != XK_OK)
		return false;
	const cJSON *hw = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m.payload, "all"), "system"),
		"hardware");
	bool same = !strcmp(jstr(hw, "uuid"), p->uuid);
	meross_msg_free(&m);
	if (!same)
		perr(f->why, sizeof f->why, "the encrypted answer is for another uuid");
	return same;
}

/* Variant (a): P-256 exchange with the preshared private scalar (as bytespider does by default). */
static bool ecdhe_exchange(struct prov *p, const char direct[33], struct xfail *f)
{
	uint8_t priv[32], pub[65];
	memcpy(priv, direct, 32);
	bool ok = false;
	char b64[128];
	size_t bn = 0;
	if (meross_ecdhe_public(priv, pub) != 0 || fc_base64_encode(pub, sizeof pub, b64, sizeof b64, &bn) != 0) {
		memset(f, 0, sizeof *f);
		f->kind = XK_BAD;
		perr(f->why, sizeof f->why, "could not compute the ECDH public key");
		fc_wipe(priv, sizeof priv);
		return false;
	}
	cJSON *pl = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(pl, "ecdhe");
	cJSON_AddNumberToObject(e, "step", 1);
	cJSON_AddStringToObject(e, "pubkey", b64);
	struct meross_msg m;
	p->encrypted = false;
	if (exchange(p, NS_ECDHE, "SET", pl, NULL, &m, f) == XK_OK) {
		const char *peer = jstr(cJSON_GetObjectItemCaseSensitive(m.payload, "ecdhe"), "pubkey");
		uint8_t pb[80];
		size_t pn = 0;
		if (fc_base64_decode(peer, strlen(peer), pb, sizeof pb, &pn) != 0 ||
		    meross_ecdhe_session_key(priv, pb, pn, p->aes) != 0) {
			f->kind = XK_BAD;
			perr(f->why, sizeof f->why, "the device's ecdhe.pubkey is not a P-256 point");
		} else {
			p->encrypted = true;
			ok = probe_encrypted(p, f);
		}
		meross_msg_free(&m);
	}
	cJSON_Delete(pl);
	fc_wipe(priv, sizeof priv);
	return ok;
}

/* Negotiates the encrypted transport when the device lists Appliance.Encrypt.ECDHE. 0 or exit code. */
static int negotiate_encryption(struct prov *p)
{
	if (!p->has_ecdhe)
		return 0;
	p->step++;
	char direct[33];
	meross_local_key_direct(p->uuid, p->sign_key, p->sign_keylen, p->mac, direct);
	struct xfail fb, fa;
	memcpy(p->aes, direct, sizeof direct);
	p->encrypted = true;
	if (probe_encrypted(p, &fb)) {
		outf(p, "[%d] local API encryption: variant (b) works (key md5(uuid/key/MAC), no exchange)\n", p->step);
		fc_wipe(direct, sizeof direct);
		return 0;
	}
	p->encrypted = false;
	bool ok = ecdhe_exchange(p, direct, &fa);
	fc_wipe(direct, sizeof direct);
	if (ok) {
		outf(p, "[%d] local API encryption: variant (a) works (ECDHE P-256 key exchange); variant (b) did not: %s\n",
		     p->step, fb.why);
		return 0;
	}
	p->encrypted = false;
	return failf(p,
		     "step %d (local API encryption, %s) failed: neither published key derivation works: (b) md5 of "
		     "uuid/key/MAC: %s; (a) ECDHE exchange: %s. Try: the derivations use the signing key (%s); if the "
		     "device was set up before, give its current key; otherwise please report the model and firmware",
		     p->step, NS_ECDHE, fb.why, fa.why, !strcmp(p->sub, "setup") ? "--sign-key" : "--key");
}

/* ---- accounts ---- */

struct acct_list {
	char id[MAX_ACCOUNTS][128];
	char name[MAX_ACCOUNTS][128];
	int n;
	int total;
};

static int list_cb(void *ctx, const struct fc_account_row *row)
{
	struct acct_list *l = ctx;
	if (l->n < MAX_ACCOUNTS) {
		snprintf(l->id[l->n], sizeof l->id[0], "%s", row->account_id);
		snprintf(l->name[l->n], sizeof l->name[0], "%s", row->name);
		l->n++;
	}
	l->total++;
	return 0;
}

static void list_text(const struct acct_list *l, char *out, size_t cap)
{
	size_t o = 0;
	out[0] = '\0';
	for (int i = 0; i < l->n && o + 1 < cap; i++) {
		int w = snprintf(out + o, cap - o, "%s%s%s%s%s", i ? ", " : "", l->id[i], l->name[i][0] ? " ('" : "",
				 l->name[i], l->name[i][0] ? "')" : "");
		if (w < 0)
			break;
		o += (size_t)w;
	}
}

/* The account to configure: --account, else the one named "default", else the only one; none at all:
 * create the default account (or, when !may_create, a placeholder). 0 or exit code. */
static int pick_account(struct prov *p, const char *want, bool may_create, struct account *a)
{
	memset(a, 0, sizeof *a);
	struct acct_list *l = calloc(1, sizeof *l);
	if (!l)
		return failf(p, "out of memory");
	int rc = 0;
	if (fc_ks_account_each(p->cli->ks, "meross", list_cb, l) < 0) {
		rc = failf(p, "cannot read the Meross accounts from the keystore");
		goto out;
	}
	const char *id = want;
	if (!id) {
		for (int i = 0; i < l->n && !id; i++)
			if (!strcmp(l->name[i], "default"))
				id = l->id[i];
		if (!id && l->total == 1)
			id = l->id[0];
	}
	if (!id && l->total == 0) {
		if (!may_create) {
			a->placeholder = true;
			snprintf(a->user_id, sizeof a->user_id, "<new>");
			snprintf(a->name, sizeof a->name, "default");
			goto out;
		}
		if (meross_account_ensure_default(p->cli->ks) != FC_KS_OK) {
			rc = failf(p, "cannot create the default Meross account in the keystore");
			goto out;
		}
		l->n = l->total = 0;
		if (fc_ks_account_each(p->cli->ks, "meross", list_cb, l) < 0 || l->n < 1) {
			rc = failf(p, "cannot read the new default Meross account");
			goto out;
		}
		id = l->id[0];
		outf(p, "created the default Meross account: userId %s\n", id);
	}
	if (!id) {
		char names[1024];
		list_text(l, names, sizeof names);
		rc = failf(p, "there are %d Meross accounts and none is named 'default': choose one with --account USERID "
			      "(%s%s)",
			   l->total, names, l->total > l->n ? ", ..." : "");
		goto out;
	}
	struct meross_account ma;
	memset(&ma, 0, sizeof ma);
	int kr = meross_account_get(p->cli->ks, id, &ma);
	if (kr == FC_KS_NOTFOUND) {
		char names[1024];
		list_text(l, names, sizeof names);
		rc = failf(p, "no Meross account with userId '%s'%s%s%s; add it with 'fakecloud device add meross-account "
			      "--user-id %s --key KEY'",
			   id, l->n ? " (known: " : "", names, l->n ? ")" : "", id);
		goto out;
	}
	if (kr != FC_KS_OK) {
		rc = failf(p, "cannot read Meross account %s from the keystore", id);
		goto out;
	}
	snprintf(a->user_id, sizeof a->user_id, "%s", ma.user_id);
	for (int i = 0; i < l->n; i++)
		if (!strcmp(l->id[i], id))
			snprintf(a->name, sizeof a->name, "%s", l->name[i]);
	a->key = ma.key;
	fc_secret_wipe(&ma.key);
out:
	free(l);
	return rc;
}

/* The placeholder of a run without any account becomes the new default account (created only once the
 * device has answered, so a failed run leaves the keystore alone). */
static int ensure_account(struct prov *p, struct account *a)
{
	if (!a->placeholder)
		return 0;
	return pick_account(p, NULL, true, a);
}

static void account_label(const struct account *a, char *out, size_t cap)
{
	if (a->placeholder)
		snprintf(out, cap, "a new default account");
	else
		snprintf(out, cap, "account %s%s%s%s", a->user_id, a->name[0] ? " ('" : "", a->name, a->name[0] ? "')" : "");
}

/* ---- broker addresses ---- */

/* "host", "host:port", "[v6]:port" -> host, port (default_port when absent and > 0). 0 / -1 with why. */
static int parse_hostport(const char *s, int default_port, char *host, size_t hostcap, int *port, char *why,
			  size_t whylen)
{
	if (strstr(s, "://"))
		return perr(why, whylen, "'%s': give HOST[:PORT] without a scheme", s);
	const char *h = s, *colon = NULL;
	size_t hn;
	if (*s == '[') {
		const char *rb = strchr(s, ']');
		if (!rb)
			return perr(why, whylen, "'%s': missing ']'", s);
		h = s + 1;
		hn = (size_t)(rb - h);
		if (rb[1] == ':')
			colon = rb + 1;
		else if (rb[1])
			return perr(why, whylen, "'%s': unexpected text after ']'", s);
	} else {
		colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon)
			return perr(why, whylen, "'%s': write IPv6 addresses as [ADDRESS]:PORT", s);
		hn = colon ? (size_t)(colon - s) : strlen(s);
	}
	if (hn == 0 || hn >= hostcap || hn > 253)
		return perr(why, whylen, "'%s': missing or too long host", s);
	for (size_t i = 0; i < hn; i++) {
		char c = h[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == '-' ||
		      (c == ':' && *s == '[')))
			return perr(why, whylen, "'%s': the host may only hold letters, digits, '.' and '-'", s);
	}
	memcpy(host, h, hn);
	host[hn] = '\0';
	if (colon) {
		long v = parse_len(colon + 1, strlen(colon + 1));
		if (v < 1 || v > 65535)
			return perr(why, whylen, "'%s': the port must be 1-65535", s);
		*port = (int)v;
	} else if (default_port > 0) {
		*port = default_port;
	} else {
		return perr(why, whylen, "'%s': missing :PORT", s);
	}
	return 0;
}

struct gateway {
	char host[256], host2[256];
	int port, port2;
};

static bool loopback(const char *h)
{
	return !strncmp(h, "127.", 4) || !strcmp(h, "::1") || !strcmp(h, "localhost");
}

static int pick_gateway(struct prov *p, const char *broker, const char *secondary, struct gateway *g)
{
	char why[300];
	const int tls_port = (int)fc_config_int(p->cli->cfg, "mqtt", "tls_port");
	if (broker) {
		if (parse_hostport(broker, tls_port, g->host, sizeof g->host, &g->port, why, sizeof why) != 0)
			return usagef(p->cli, p->sub, "--broker %s", why);
	} else {
		char ips[8][256];
		int n = fc_config_list(p->cli->cfg, "tls", "ips", ips, 8);
		if (n < 1 || !ips[0][0])
			return failf(p, "no broker address: tls.ips is empty; pass --broker HOST:PORT (fakecloud's LAN address "
					"and mqtt.tls_port)");
		snprintf(g->host, sizeof g->host, "%s", ips[0]);
		g->port = tls_port;
	}
	if (secondary) {
		if (parse_hostport(secondary, tls_port, g->host2, sizeof g->host2, &g->port2, why, sizeof why) != 0)
			return usagef(p->cli, p->sub, "--secondary %s", why);
	} else { /* an empty secondHost makes some devices stall (§1): repeat the primary */
		snprintf(g->host2, sizeof g->host2, "%s", g->host);
		g->port2 = g->port;
	}
	return 0;
}

static void gateway_warnings(struct prov *p, const struct gateway *g)
{
	const int tls_port = (int)fc_config_int(p->cli->cfg, "mqtt", "tls_port");
	if (loopback(g->host) || loopback(g->host2))
		outf(p, "warning: broker address %s is a loopback address of this host: a device cannot reach it; give "
			"fakecloud's LAN address with --broker or in tls.ips\n",
		     loopback(g->host) ? g->host : g->host2);
	const long plain = fc_config_int(p->cli->cfg, "mqtt", "port");
	if (g->port == plain || g->port2 == plain)
		outf(p, "warning: port %ld is fakecloud's plain MQTT port; Meross devices only speak TLS (mqtt.tls_port is "
			"%d)\n",
		     plain, tls_port);
}

/* ---- Config.Key ---- */

static cJSON *key_payload(const struct gateway *g, const struct account *a, bool hide)
{
	cJSON *pl = cJSON_CreateObject();
	cJSON *k = cJSON_AddObjectToObject(pl, "key");
	cJSON *gw = cJSON_AddObjectToObject(k, "gateway");
	cJSON_AddStringToObject(gw, "host", g->host);
	cJSON_AddNumberToObject(gw, "port", g->port);
	cJSON_AddStringToObject(gw, "secondHost", g->host2);
	cJSON_AddNumberToObject(gw, "secondPort", g->port2);
	cJSON_AddNumberToObject(gw, "redirect", 1);
	cJSON_AddStringToObject(k, "key", hide || a->placeholder ? HIDDEN_KEY : fc_secret_reveal(&a->key));
	cJSON_AddStringToObject(k, "userId", a->user_id);
	return pl;
}

/* Wipes every string of a payload tree before freeing it (the account key, the Wi-Fi password). */
static void delete_wiped(cJSON *j)
{
	for (cJSON *c = j; c; c = c->next) {
		if (cJSON_IsString(c) && c->valuestring)
			fc_wipe(c->valuestring, strlen(c->valuestring));
		if (c->child)
			delete_wiped(c->child);
	}
}

static void payload_free(cJSON *j)
{
	if (j)
		delete_wiped(j->child);
	cJSON_Delete(j);
}

static int send_key(struct prov *p, const struct gateway *g, const struct account *a)
{
	cJSON *pl = key_payload(g, a, false), *shown = key_payload(g, a, true);
	struct meross_msg m;
	struct xfail f;
	p->step++;
	enum xkind k = exchange(p, NS_KEY, "SET", pl, shown, &m, &f);
	payload_free(pl);
	cJSON_Delete(shown);
	if (k == XK_DRY)
		return 0;
	if (k != XK_OK)
		return step_fail(p, "SET " NS_KEY, &f);
	meross_msg_free(&m);
	outf(p, "[%d] SET %s: accepted: broker %s:%d, secondary %s:%d, userId %s (account key not shown)\n", p->step,
	     NS_KEY, g->host, g->port, g->host2, g->port2, a->user_id);
	return 0;
}

/* After a re-home to another account, the keystore's registration of the uuid (userId, MAC) must
 * follow, or the broker refuses the device's login as a take-over. */
static void update_registration(struct prov *p, const struct account *a)
{
	struct fc_device_row row;
	int rc = fc_ks_device_get(p->cli->ks, "meross", p->uuid, &row);
	if (rc == FC_KS_NOTFOUND) {
		outf(p, "the device registers itself as meross_%s at its first login\n", p->uuid);
		return;
	}
	if (rc != FC_KS_OK) {
		outf(p, "warning: cannot read the device's registration from the keystore\n");
		return;
	}
	const char *su = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row.meta, "user_id"));
	const char *sm = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row.meta, "mac"));
	char name[sizeof row.name];
	snprintf(name, sizeof name, "%s", row.name);
	char old[24];
	snprintf(old, sizeof old, "%s", su ? su : "-");
	/* the MAC stays what the device logged in with (its username); only say when it looks different */
	bool mac_differs = false;
	for (size_t i = 0; sm && i < 18 && !mac_differs; i++) {
		char x = lower(sm[i]), y = lower(p->mac[i]);
		mac_differs = i % 3 == 2 && x && y ? !((x == ':' || x == '-') && (y == ':' || y == '-')) : x != y;
	}
	const bool same_user = su && !strcmp(su, a->user_id);
	fc_device_row_free(&row); /* su and sm die here */
	if (mac_differs)
		outf(p, "warning: %s is registered with another MAC than the %s this device reports; if its login is "
			"refused, run 'fakecloud device remove %s --forget-keys'\n",
		     name, p->mac, name);
	if (same_user) {
		outf(p, "the device is registered as %s with this account already\n", name);
		return;
	}
	cJSON *patch = cJSON_CreateObject();
	cJSON_AddStringToObject(patch, "user_id", a->user_id);
	rc = fc_ks_device_merge_meta(p->cli->ks, "meross", p->uuid, patch);
	cJSON_Delete(patch);
	if (rc == FC_KS_OK)
		outf(p, "updated the registration of %s: userId %s (was %s), so that its next login is accepted\n", name,
		     a->user_id, old);
	else
		outf(p, "warning: could not update the registration of %s (userId %s); if its login is refused, run "
			"'fakecloud device remove %s --forget-keys'\n",
		     name, old, name);
}

static void expect_lines(struct prov *p, const struct gateway *g, const struct account *a)
{
	outf(p, "  broker     %s:%d (TLS), secondary %s:%d\n", g->host, g->port, g->host2, g->port2);
	outf(p, "  client id  fmware:%s_<suffix>\n", p->uuid);
	outf(p, "  username   %s\n", p->mac);
	outf(p, "  password   %s_<md5(MAC + key of account %s)> (the key is not shown)\n", a->user_id, a->user_id);
	outf(p, "  It shows up as fakecloud/meross_%s (or the name you gave it) once bound.\n", p->uuid);
}

/* ---- Config.Wifi / WifiX ---- */

struct ap_info {
	bool found;
	char bssid[40];
	long channel, encryption, cipher;
	int seen;
};

/* Strongest WifiList entry whose (base64) ssid decodes to `ssid`. */
static void find_ap(const cJSON *payload, const char *ssid, struct ap_info *ap)
{
	memset(ap, 0, sizeof *ap);
	ap->channel = ap->encryption = ap->cipher = -1;
	long best = -1;
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(payload, "wifiList");
	const cJSON *e;
	cJSON_ArrayForEach(e, list)
	{
		ap->seen++;
		const char *b = jstr(e, "ssid");
		uint8_t dec[64];
		size_t n = 0;
		size_t bl = strlen(b);
		if (bl == 0 || bl > 64 || fc_base64_decode(b, bl, dec, sizeof dec, &n) != 0)
			continue;
		if (n != strlen(ssid) || memcmp(dec, ssid, n) != 0)
			continue;
		long signal = jlong(e, "signal");
		if (ap->found && signal <= best)
			continue;
		best = signal;
		ap->found = true;
		copy_str(ap->bssid, sizeof ap->bssid, jstr(e, "bssid"));
		ap->channel = jlong(e, "channel");
		ap->encryption = jlong(e, "encryption");
		ap->cipher = jlong(e, "cipher");
	}
}

static void read_wifilist(struct prov *p, const char *ssid, struct ap_info *ap)
{
	memset(ap, 0, sizeof *ap);
	if (!p->has_wifilist)
		return;
	p->step++;
	struct meross_msg m;
	struct xfail f;
	const int saved = p->timeout_ms;
	p->timeout_ms = saved * 2; /* the device scans first */
	enum xkind k = exchange(p, NS_WIFILIST, "GET", NULL, NULL, &m, &f);
	p->timeout_ms = saved;
	if (k != XK_OK) {
		outf(p, "[%d] GET %s: no usable answer (%s); sending the Wi-Fi settings without bssid/channel\n", p->step,
		     NS_WIFILIST, f.why);
		return;
	}
	find_ap(m.payload, ssid, ap);
	meross_msg_free(&m);
	if (ap->found)
		outf(p, "[%d] GET %s: '%s' found (bssid %s, channel %ld, encryption %ld, cipher %ld)\n", p->step,
		     NS_WIFILIST, ssid, ap->bssid[0] ? ap->bssid : "?", ap->channel, ap->encryption, ap->cipher);
	else
		outf(p, "[%d] GET %s: '%s' is not among the %d networks the device sees (Meross devices use 2.4 GHz "
			"only); sending it anyway, without bssid/channel\n",
		     p->step, NS_WIFILIST, ssid, ap->seen);
}

static cJSON *wifi_payload(const char *ssid, const char *password_field, const struct ap_info *ap)
{
	char b64[64];
	size_t n = 0;
	cJSON *pl = cJSON_CreateObject();
	cJSON *w = cJSON_AddObjectToObject(pl, "wifi");
	fc_base64_encode(ssid, strlen(ssid), b64, sizeof b64, &n);
	cJSON_AddStringToObject(w, "ssid", b64);
	cJSON_AddStringToObject(w, "password", password_field);
	if (ap && ap->found) {
		if (ap->bssid[0])
			cJSON_AddStringToObject(w, "bssid", ap->bssid);
		if (ap->channel >= 0)
			cJSON_AddNumberToObject(w, "channel", (double)ap->channel);
		if (ap->encryption >= 0)
			cJSON_AddNumberToObject(w, "encryption", (double)ap->encryption);
		if (ap->cipher >= 0)
			cJSON_AddNumberToObject(w, "cipher", (double)ap->cipher);
	}
	return pl;
}

/* 0 accepted, 1 sent but not confirmed (the device may be rebooting), or the exit code (> 1 never: a
 * failure returns -1 after printing). */
static int send_wifi(struct prov *p, const char *ssid, const char *password, const struct ap_info *ap)
{
	char field[160];
	const bool x = p->has_wifix;
	const char *ns = x ? NS_WIFIX : NS_WIFI;
	size_t n = 0;
	int rc = x ? meross_wifix_password(p->type, p->uuid, p->mac, password, strlen(password), field, sizeof field)
		   : fc_base64_encode(password, strlen(password), field, sizeof field, &n);
	if (rc != 0) {
		fc_wipe(field, sizeof field);
		failf(p, "cannot encode the Wi-Fi password");
		return -1;
	}
	cJSON *pl = wifi_payload(ssid, field, ap), *shown = wifi_payload(ssid, HIDDEN_PASSWORD, ap);
	fc_wipe(field, sizeof field);
	struct meross_msg m;
	struct xfail f;
	p->step++;
	enum xkind k = exchange(p, ns, "SET", pl, shown, &m, &f);
	payload_free(pl);
	cJSON_Delete(shown);
	if (k == XK_DRY)
		return 0;
	if (k == XK_OK) {
		meross_msg_free(&m);
		outf(p, "[%d] SET %s: accepted: ssid '%s'%s\n", p->step, ns, ssid,
		     x ? " (password AES-encrypted for this device)" : "");
		return 0;
	}
	if (k == XK_NET && f.sent) { /* some firmware reboots before it answers */
		outf(p, "[%d] SET %s: sent, but not confirmed (%s): the device may be rebooting already\n", p->step, ns,
		     f.why);
		return 1;
	}
	step_fail(p, x ? "SET " NS_WIFIX : "SET " NS_WIFI, &f);
	return -1;
}

/* ================================================================================================
 * Commands
 * ============================================================================================== */

enum { O_DEVICE = 1, O_SSID, O_PASSWORD, O_BROKER, O_SECONDARY, O_ACCOUNT, O_SIGN_KEY, O_KEY, O_TIMEOUT, O_DRY_RUN,
       O__N };

struct args {
	const char *v[O__N];
	bool given[O__N];
};

static const char *const OPT_NAME[O__N] = {
	[O_DEVICE] = "device",   [O_SSID] = "ssid",        [O_PASSWORD] = "password", [O_BROKER] = "broker",
	[O_SECONDARY] = "secondary", [O_ACCOUNT] = "account", [O_SIGN_KEY] = "sign-key", [O_KEY] = "key",
	[O_TIMEOUT] = "timeout", [O_DRY_RUN] = "dry-run",
};

/* Which options each subcommand takes. */
static bool allowed(const char *sub, int o)
{
	switch (o) {
	case O_DEVICE:
	case O_ACCOUNT:
	case O_TIMEOUT:
		return true;
	case O_SSID:
	case O_PASSWORD:
	case O_SIGN_KEY:
		return !strcmp(sub, "setup");
	case O_KEY:
		return strcmp(sub, "setup") != 0;
	case O_BROKER:
	case O_SECONDARY:
	case O_DRY_RUN:
		return strcmp(sub, "info") != 0;
	default:
		return false;
	}
}

static int parse_args(struct fc_cli *cli, const char *sub, int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{"device", required_argument, 0, O_DEVICE},     {"ssid", required_argument, 0, O_SSID},
		{"password", required_argument, 0, O_PASSWORD}, {"broker", required_argument, 0, O_BROKER},
		{"secondary", required_argument, 0, O_SECONDARY}, {"account", required_argument, 0, O_ACCOUNT},
		{"sign-key", required_argument, 0, O_SIGN_KEY}, {"key", required_argument, 0, O_KEY},
		{"timeout", required_argument, 0, O_TIMEOUT},   {"dry-run", no_argument, 0, O_DRY_RUN},
		{0, 0, 0, 0}};
	memset(a, 0, sizeof *a);
	optind = 0; /* full re-initialisation (GNU getopt) */
	opterr = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		if (ch == ':')
			return usagef(cli, sub, "option '%s' needs a value", argv[optind - 1]);
		if (ch <= 0 || ch >= O__N)
			return usagef(cli, sub, "unknown option '%s'", argv[optind - 1]);
		if (!allowed(sub, ch))
			return usagef(cli, sub, "--%s is not an option of '%s'", OPT_NAME[ch], sub);
		a->given[ch] = true;
		a->v[ch] = optarg;
	}
	if (optind < argc)
		return usagef(cli, sub, "unexpected argument '%s'", argv[optind]);
	return 0;
}

static int init_prov(struct prov *p, struct fc_cli *cli, const char *sub, const struct args *a)
{
	memset(p, 0, sizeof *p);
	p->cli = cli;
	p->sub = sub;
	p->dry_run = a->given[O_DRY_RUN];
	p->timeout_ms = DEFAULT_TIMEOUT_S * 1000;
	if (!a->given[O_DEVICE])
		return usagef(cli, sub, "missing --device HOST[:PORT] (10.10.10.1 for a device in setup mode)");
	char why[300];
	int port = 80;
	if (parse_hostport(a->v[O_DEVICE], 80, p->host, sizeof p->host, &port, why, sizeof why) != 0)
		return usagef(cli, sub, "--device %s", why);
	snprintf(p->port, sizeof p->port, "%d", port);
	bool v6 = strchr(p->host, ':') != NULL;
	if (port == 80)
		snprintf(p->hosthdr, sizeof p->hosthdr, v6 ? "[%s]" : "%s", p->host);
	else
		snprintf(p->hosthdr, sizeof p->hosthdr, v6 ? "[%s]:%d" : "%s:%d", p->host, port);
	snprintf(p->from, sizeof p->from, "http://%s/config", p->hosthdr);
	if (a->given[O_TIMEOUT]) {
		long t = parse_len(a->v[O_TIMEOUT], strlen(a->v[O_TIMEOUT]));
		if (t < 1 || t > 300)
			return usagef(cli, sub, "--timeout must be 1-300 seconds");
		p->timeout_ms = (int)t * 1000;
	}
	const char *k = a->given[O_SIGN_KEY] ? a->v[O_SIGN_KEY] : a->given[O_KEY] ? a->v[O_KEY] : "";
	if (strlen(k) > FC_SECRET_MAX)
		return usagef(cli, sub, "the key may have at most %d characters", FC_SECRET_MAX);
	p->sign_key = k;
	p->sign_keylen = strlen(k);
	return 0;
}

static int cmd_setup(struct fc_cli *cli, const struct args *a)
{
	struct prov p;
	int rc = init_prov(&p, cli, "setup", a);
	if (rc)
		return rc;
	if (!a->given[O_SSID] || !a->given[O_PASSWORD])
		return usagef(cli, "setup", "missing --ssid and/or --password (the Wi-Fi network the device should join)");
	const char *ssid = a->v[O_SSID], *password = a->v[O_PASSWORD];
	if (!ssid[0] || strlen(ssid) > 32)
		return usagef(cli, "setup", "--ssid must have 1-32 bytes");
	if (strlen(password) > MEROSS_WIFI_PASSWORD_MAX)
		return usagef(cli, "setup", "--password may have at most %d characters", MEROSS_WIFI_PASSWORD_MAX);
	struct gateway g;
	memset(&g, 0, sizeof g);
	if ((rc = pick_gateway(&p, a->v[O_BROKER], a->v[O_SECONDARY], &g)) != 0)
		return rc;
	if (password[0] && strlen(password) < 8)
		outf(&p, "warning: WPA passwords have 8-63 characters; sending the %zu given\n", strlen(password));
	struct account acct;
	if ((rc = pick_account(&p, a->v[O_ACCOUNT], false, &acct)) != 0)
		return rc;
	char label[200];
	account_label(&acct, label, sizeof label);
	outf(&p, "Setting up the Meross device at %s for %s, broker %s:%d%s\n", p.hosthdr, label, g.host, g.port,
	     p.dry_run ? " (dry run)" : "");
	gateway_warnings(&p, &g);

	if (p.dry_run) {
		outf(&p, "dry run: nothing is sent. The messages, signed with the sign key (secrets replaced by <...>):\n");
		struct meross_msg m;
		struct xfail f;
		exchange(&p, NS_ALL, "GET", NULL, NULL, &m, &f);
		exchange(&p, NS_ABILITY, "GET", NULL, NULL, &m, &f);
		outf(&p, "  (then " NS_ECDHE " key negotiation if the device lists it, and GET " NS_WIFILIST
			 " to copy bssid/channel/encryption/cipher when it lists that)\n");
		send_key(&p, &g, &acct);
		send_wifi(&p, ssid, password, NULL);
		outf(&p, "  (" NS_WIFIX " instead of " NS_WIFI " when the device lists it: the same payload with the password "
			 "AES-encrypted with md5(type + uuid + MAC))\n");
		fc_secret_wipe(&acct.key);
		return 0;
	}

	if ((rc = query_device(&p, true)) != 0 || (rc = negotiate_encryption(&p)) != 0) {
		fc_secret_wipe(&acct.key);
		return rc;
	}
	struct ap_info ap;
	read_wifilist(&p, ssid, &ap);
	if ((rc = ensure_account(&p, &acct)) != 0)
		return rc;
	rc = send_key(&p, &g, &acct);
	if (rc) {
		fc_secret_wipe(&acct.key);
		return rc;
	}
	update_registration(&p, &acct);
	int w = send_wifi(&p, ssid, password, &ap);
	if (w < 0) {
		fc_secret_wipe(&acct.key);
		outf(&p, "note: the device has fakecloud's broker and account now, but no Wi-Fi settings; run setup again\n");
		return 1;
	}
	outf(&p, "done: the device reboots now and joins '%s'. Expect it at fakecloud within a minute or two:\n", ssid);
	expect_lines(&p, &g, &acct);
	outf(&p, "  If its LED keeps alternating amber/green, it could not join the Wi-Fi (wrong password, or a 5 GHz-only "
		 "network): it is back in setup mode; run setup again.\n");
	fc_secret_wipe(&acct.key);
	return 0;
}

static int cmd_rehome(struct fc_cli *cli, const struct args *a)
{
	struct prov p;
	int rc = init_prov(&p, cli, "rehome", a);
	if (rc)
		return rc;
	if (!a->given[O_KEY])
		return usagef(cli, "rehome", "missing --key CURRENT_KEY (the key the device is configured with)");
	struct gateway g;
	memset(&g, 0, sizeof g);
	if ((rc = pick_gateway(&p, a->v[O_BROKER], a->v[O_SECONDARY], &g)) != 0)
		return rc;
	struct account acct;
	if ((rc = pick_account(&p, a->v[O_ACCOUNT], false, &acct)) != 0)
		return rc;
	char label[200];
	account_label(&acct, label, sizeof label);
	outf(&p, "Re-homing the Meross device at %s to %s, broker %s:%d%s\n", p.hosthdr, label, g.host, g.port,
	     p.dry_run ? " (dry run)" : "");
	gateway_warnings(&p, &g);
	if (p.dry_run) {
		outf(&p, "dry run: nothing is sent. The messages, signed with --key (secrets replaced by <...>):\n");
		struct meross_msg m;
		struct xfail f;
		exchange(&p, NS_ALL, "GET", NULL, NULL, &m, &f);
		exchange(&p, NS_ABILITY, "GET", NULL, NULL, &m, &f);
		outf(&p, "  (then " NS_ECDHE " key negotiation if the device lists it)\n");
		send_key(&p, &g, &acct);
		fc_secret_wipe(&acct.key);
		return 0;
	}
	if ((rc = query_device(&p, true)) != 0 || (rc = negotiate_encryption(&p)) != 0 ||
	    (rc = ensure_account(&p, &acct)) != 0 || (rc = send_key(&p, &g, &acct)) != 0) {
		fc_secret_wipe(&acct.key);
		return rc;
	}
	update_registration(&p, &acct);
	outf(&p, "done: the device now connects to fakecloud (some firmware reboots first). Expect:\n");
	expect_lines(&p, &g, &acct);
	fc_secret_wipe(&acct.key);
	return 0;
}

static int cmd_info(struct fc_cli *cli, const struct args *a)
{
	struct prov p;
	int rc = init_prov(&p, cli, "info", a);
	if (rc)
		return rc;
	struct account acct;
	if ((rc = pick_account(&p, a->v[O_ACCOUNT], false, &acct)) != 0)
		return rc;
	fc_secret_wipe(&acct.key); /* only the userId is shown */
	if ((rc = query_device(&p, false)) != 0)
		return rc;
	outf(&p, "type       %s (hardware %s)\n", p.type, p.hw_version[0] ? p.hw_version : "?");
	outf(&p, "firmware   %s\n", p.fw_version[0] ? p.fw_version : "?");
	outf(&p, "MAC        %s\n", p.mac);
	outf(&p, "uuid       %s\n", p.uuid);
	if (p.inner_ip[0])
		outf(&p, "IP         %s\n", p.inner_ip);
	if (p.cur_server[0] && p.cur_second[0])
		outf(&p, "now        userId %s, broker %s, secondary %s\n", p.cur_user[0] ? p.cur_user : "?",
		     p.cur_server, p.cur_second);
	else if (p.cur_server[0])
		outf(&p, "now        userId %s, broker %s\n", p.cur_user[0] ? p.cur_user : "?", p.cur_server);
	else
		outf(&p, "now        no broker configured (setup mode, or an old firmware that does not say)\n");
	if (p.have_ability)
		outf(&p, "setup      Wi-Fi with %s; local API encryption: %s\n", p.has_wifix ? NS_WIFIX : NS_WIFI,
		     p.has_ecdhe ? NS_ECDHE " (negotiated by setup/rehome)" : "none");
	if (acct.placeholder) {
		outf(&p, "account    none yet: setup creates the default account\n");
	} else {
		char label[200];
		account_label(&acct, label, sizeof label);
		outf(&p, "with %s the device logs in to fakecloud as:\n", label);
		outf(&p, "  client id  fmware:%s_<suffix>\n", p.uuid);
		outf(&p, "  username   %s\n", p.mac);
		outf(&p, "  password   %s_<md5(MAC + key of account %s)> (the key is not shown)\n", acct.user_id,
		     acct.user_id);
		if (p.cur_user[0] && !strcmp(p.cur_user, acct.user_id))
			outf(&p, "  (it is configured for this userId already)\n");
	}
	return 0;
}

int meross_provision(struct fc_cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return usagef(cli, NULL, "missing subcommand (setup, rehome, info)");
	const char *sub = argv[1];
	if (strcmp(sub, "setup") != 0 && strcmp(sub, "rehome") != 0 && strcmp(sub, "info") != 0)
		return usagef(cli, NULL, "unknown subcommand '%s' (setup, rehome, info)", sub);
	struct args a;
	int rc = parse_args(cli, sub, argc - 1, argv + 1, &a);
	if (rc)
		return rc;
	if (!strcmp(sub, "setup"))
		return cmd_setup(cli, &a);
	if (!strcmp(sub, "rehome"))
		return cmd_rehome(cli, &a);
	return cmd_info(cli, &a);
}
