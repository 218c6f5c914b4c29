/* core/http.c: the response helpers vendor handlers use. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "unit/t.h"

static void init(struct fc_http_resp *r)
{
	memset(r, 0, sizeof *r);
	r->status = 200;
	strcpy(r->content_type, "application/json");
}

int main(void)
{
	struct fc_http_resp r;
	init(&r);

	/* set_body copies, NUL-terminates, replaces, keeps the content type when NULL */
	char src[] = "abc";
	CHECK_INT(fc_http_resp_set_body(&r, 201, "text/plain", src, 3), 0);
	src[0] = 'x';
	CHECK_INT(r.status, 201);
	CHECK_STR(r.content_type, "text/plain");
	CHECK_INT(r.body_len, 3);
	CHECK_STR(r.body, "abc");
	CHECK_INT(fc_http_resp_set_body(&r, 0, NULL, "\0z", 2), 0);
	CHECK_INT(r.status, 201);
	CHECK_STR(r.content_type, "text/plain");
	CHECK_INT(r.body_len, 2);
	CHECK(r.body[0] == 0 && r.body[1] == 'z' && r.body[2] == 0);
	CHECK_INT(fc_http_resp_set_body(&r, 200, NULL, NULL, 0), 0);
	CHECK_INT(r.body_len, 0);
	CHECK_STR(r.body, "");
	CHECK_INT(fc_http_resp_set_body(&r, 200, NULL, NULL, 5), -1);
	CHECK_INT(fc_http_resp_set_body(&r, 200, "text/plain\r\nX-Evil: 1", "a", 1), -1);
	char longtype[100];
	memset(longtype, 't', sizeof longtype - 1);
	longtype[sizeof longtype - 1] = 0;
	CHECK_INT(fc_http_resp_set_body(&r, 200, longtype, "a", 1), -1);
	CHECK_STR(r.content_type, "text/plain");

	/* json */
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "k", "v\"q");
	cJSON_AddNumberToObject(o, "n", 1732200000123.0);
	CHECK_INT(fc_http_resp_json(&r, 202, o), 0);
	cJSON_Delete(o);
	CHECK_INT(r.status, 202);
	CHECK_STR(r.content_type, "application/json");
	CHECK_STR(r.body, "{\"k\":\"v\\\"q\",\"n\":1732200000123}");
	CHECK_INT(r.body_len, strlen(r.body));
	CHECK_INT(fc_http_resp_json(&r, 200, NULL), -1);

	/* error */
	CHECK_INT(fc_http_resp_error(&r, 404, "no route for GET /x"), 0);
	CHECK_INT(r.status, 404);
	CHECK_STR(r.body, "{\"error\":\"no route for GET /x\"}");
	CHECK_INT(fc_http_resp_error(&r, 500, NULL), 0);
	CHECK_STR(r.body, "{\"error\":\"\"}");

	/* headers: bounded, no injection */
	CHECK_INT(fc_http_resp_add_header(&r, "X-Token", "abc"), 0);
	CHECK_INT(r.n_headers, 1);
	CHECK_STR(r.headers[0][0], "X-Token");
	CHECK_STR(r.headers[0][1], "abc");
	CHECK_INT(fc_http_resp_add_header(&r, "X-Bad", "a\r\nSet-Cookie: x"), -1);
	CHECK_INT(fc_http_resp_add_header(&r, "X Bad", "a"), -1);
	CHECK_INT(fc_http_resp_add_header(&r, "X-Bad:", "a"), -1);
	CHECK_INT(fc_http_resp_add_header(&r, "", "a"), -1);
	char longval[200];
	memset(longval, 'v', sizeof longval - 1);
	longval[sizeof longval - 1] = 0;
	CHECK_INT(fc_http_resp_add_header(&r, "X-Long", longval), -1);
	CHECK_INT(r.n_headers, 1);
	for (int i = 1; i < FC_HTTP_MAX_RESP_HEADERS; i++)
		CHECK_INT(fc_http_resp_add_header(&r, "X-N", "1"), 0);
	CHECK_INT(fc_http_resp_add_header(&r, "X-Over", "1"), -1);
	CHECK_INT(r.n_headers, FC_HTTP_MAX_RESP_HEADERS);

	free(r.body);
	return t_done();
}
