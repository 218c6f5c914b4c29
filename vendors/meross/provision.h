/* `fakecloud provision meross ...`: re-home a Meross device to fakecloud over its local HTTP API
 * (POST /config, /work/shared/protocols/meross.md §5). Also the small HTTP/1.x response parser the
 * command uses, exposed for unit tests and fuzzing: some firmware sends malformed HTTP. */
#ifndef FC_MEROSS_PROVISION_H
#define FC_MEROSS_PROVISION_H

#include <stdbool.h>
#include <stddef.h>

struct fc_cli;

/* The provision hook (argv[0] = "meross", argv[1] = setup | rehome | info) and its usage lines. */
int meross_provision(struct fc_cli *cli, int argc, char **argv);
extern const char meross_provision_usage[];

/* ---- HTTP responses from device firmware ---- */

#define MEROSS_HTTP_MAX_HEAD 16384         /* status line + headers */
#define MEROSS_HTTP_MAX_BODY (128 * 1024)  /* decoded body (an encrypted 64 KiB message is ~87 KiB) */

struct meross_http_resp {
	int status;        /* 100..599 */
	char *body;        /* malloc'd, NUL-terminated (the body may itself contain NULs); free with _free */
	size_t body_len;
	char quirk[128];   /* first deviation from HTTP/1.1 that was tolerated ("" when none) */
};

/* Parses one response from buf[0..len). `eof`: the peer has closed the connection, so a body without
 * a length ends here. Returns 1 when complete (r filled), 0 when more bytes are needed, -1 when the
 * bytes cannot be an answer (reason in err; r is left empty).
 *
 * Tolerated (recorded in r->quirk): bare LF or mixed line endings, blank lines before the status line,
 * a missing reason phrase, header lines without a colon, blanks before the colon, a missing or
 * conflicting Content-Length (the body then runs to the end of the connection), a connection closed
 * before the announced Content-Length (the partial body is returned), a bare JSON body with no status
 * line or headers at all. Interim 1xx responses are skipped; "Transfer-Encoding: chunked" is decoded.
 * Bounded: a head over MEROSS_HTTP_MAX_HEAD or a body over MEROSS_HTTP_MAX_BODY is an error. */
int meross_http_parse_response(const void *buf, size_t len, bool eof, struct meross_http_resp *r, char *err,
			       size_t errlen);
void meross_http_resp_free(struct meross_http_resp *r);

#endif
