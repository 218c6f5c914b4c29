/* Response helpers for vendor HTTP handlers (see core/http.h). The server initialises a response to
 * status 200, content type "application/json" and no body, and frees `body` with free(). */
#include "core/http.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* Replace the body with a NUL-terminated malloc'd copy of body[0..len). */
static int resp_store(struct fc_http_resp *r, const void *body, size_t len)
{
	char *copy = malloc(len + 1);
	if (!copy)
		return -1;
	if (len)
		memcpy(copy, body, len);
	copy[len] = '\0';
	free(r->body);
	r->body = copy;
	r->body_len = len;
	return 0;
}

static int set_content_type(struct fc_http_resp *r, const char *content_type)
{
	size_t n = strlen(content_type);
	if (n >= sizeof(r->content_type) || strpbrk(content_type, "\r\n"))
		return -1;
	memcpy(r->content_type, content_type, n + 1);
	return 0;
}

int fc_http_resp_set_body(struct fc_http_resp *r, int status, const char *content_type, const void *body,
			  size_t len)
{
	if (!r || (!body && len))
		return -1;
	if (content_type && set_content_type(r, content_type) < 0)
		return -1;
	if (resp_store(r, body, len) < 0)
		return -1;
	if (status > 0)
		r->status = status;
	return 0;
}

int fc_http_resp_json(struct fc_http_resp *r, int status, const struct cJSON *json)
{
	if (!r || !json)
		return -1;
	char *text = cJSON_PrintUnformatted(json);
	if (!text)
		return -1;
	int rc = fc_http_resp_set_body(r, status, "application/json", text, strlen(text));
	cJSON_free(text);
	return rc;
}

int fc_http_resp_error(struct fc_http_resp *r, int status, const char *message)
{
	if (!r)
		return -1;
	cJSON *o = cJSON_CreateObject();
	if (!o || !cJSON_AddStringToObject(o, "error", message ? message : "")) {
		cJSON_Delete(o);
		return -1;
	}
	int rc = fc_http_resp_json(r, status, o);
	cJSON_Delete(o);
	return rc;
}

int fc_http_resp_add_header(struct fc_http_resp *r, const char *name, const char *value)
{
	if (!r || !name || !value || !*name || r->n_headers >= FC_HTTP_MAX_RESP_HEADERS)
		return -1;
	size_t nl = strlen(name), vl = strlen(value);
	if (nl >= sizeof(r->headers[0][0]) || vl >= sizeof(r->headers[0][1]))
		return -1;
	/* No header injection: a name is a token, a value has no CR/LF/NUL. */
	if (strpbrk(name, " \t\r\n:") || strpbrk(value, "\r\n"))
		return -1;
	memcpy(r->headers[r->n_headers][0], name, nl + 1);
	memcpy(r->headers[r->n_headers][1], value, vl + 1);
	r->n_headers++;
	return 0;
}
