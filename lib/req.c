#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "bd_limits.h"
#include "req.h"
#include "url.h"

void
req_set_id(struct request *r, const char *p)
{
	size_t n = p ? strlen(p) : 0;
	bool ok = n > 0 && n <= REQ_ID_MAX;
	unsigned char rnd[16];

	for (size_t i = 0; ok && i < n; i++)
		ok = isalnum((unsigned char)p[i]) || p[i] == '-' ||
		    p[i] == '_' || p[i] == '.';
	if (ok) {
		memcpy(r->request_id, p, n + 1);
		return;
	}
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(r->request_id, sizeof(r->request_id), rnd, sizeof(rnd));
}

char *
req_query_param(const char *q, const char *name, bool *dup)
{
	size_t nl = strlen(name);
	char *found = NULL;

	if (dup != NULL)
		*dup = false;
	while (q != NULL && *q != '\0') {
		size_t len = strcspn(q, "&");
		const char *eq = memchr(q, '=', len);
		size_t kl = eq ? (size_t)(eq - q) : len;
		if (kl == nl && strncmp(q, name, nl) == 0) {
			if (found != NULL) {
				if (dup != NULL)
					*dup = true;
			} else {
				/* '+' is a space in a query (form encoding) */
				found = eq ? url_unescape(eq + 1, len - kl - 1,
				    true, NULL) : url_unescape("", 0, true, NULL);
			}
		}
		q += len;
		if (*q == '&')
			q++;
	}
	return found;
}

bool
req_is_json(const struct request *r)
{
	const char *ct = r->content_type;
	size_t n;

	if (ct == NULL)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	n = strcspn(ct, "; \t");
	return n == strlen("application/json") &&
	    strncasecmp(ct, "application/json", n) == 0;
}

/* json-c 0.16 accepts single-quoted strings even in strict mode; RFC 8259
 * does not. True when a quote character appears outside a string. */
static bool
has_single_quote(const char *s, size_t n)
{
	bool in_str = false;

	for (size_t i = 0; i < n; i++) {
		if (in_str) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_str = false;
		} else if (s[i] == '"') {
			in_str = true;
		} else if (s[i] == '\'') {
			return true;
		}
	}
	return false;
}

/* json-c reads NaN and Infinity, which RFC 8259 has no spelling for. */
static bool
has_non_finite(json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_double:
		return !isfinite(json_object_get_double(o));
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			if (has_non_finite(json_object_array_get_idx(o, i)))
				return true;
		return false;
	case json_type_object: {
		json_object_object_foreach(o, k, v) {
			(void)k;
			if (has_non_finite(v))
				return true;
		}
		return false;
	}
	default:
		return false;
	}
}

enum bd_err
req_parse_json(const struct request *r, json_object **out, const char **why)
{
	struct json_tokener *tok;
	json_object *v = NULL;
	enum bd_err rc = BD_ERR_BAD_REQUEST;
	size_t off;

	*out = NULL;
	*why = "the body is not valid JSON";
	if (r->body == NULL || r->body_len == 0) {
		*why = "the body is empty";
		return rc;
	}
	if ((tok = json_tokener_new_ex(LIM_JSON_DEPTH)) == NULL)
		return BD_ERR_NOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	if (has_single_quote(r->body, r->body_len))
		goto out;
	/* The terminating NUL is passed too, so that a bare scalar at the
	 * very end ("1", "true") completes instead of waiting for more. */
	v = json_tokener_parse_ex(tok, r->body, (int)r->body_len + 1);
	if (v == NULL || json_tokener_get_error(tok) != json_tokener_success) {
		if (json_tokener_get_error(tok) == json_tokener_error_depth)
			*why = "the body is nested too deeply";
		goto out;
	}
	if (has_non_finite(v))
		goto out;
	off = json_tokener_get_parse_end(tok);
	for (; off < r->body_len; off++)
		if (!isspace((unsigned char)r->body[off])) {
			*why = "the body has data after the JSON value";
			goto out;
		}
	*out = v;
	v = NULL;
	rc = BD_OK;
out:
	if (v != NULL)
		json_object_put(v);
	json_tokener_free(tok);
	return rc;
}

/*
 * See req.h. entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE (RFC 9110 §8.8.3).
 * If-Match uses the strong comparison (§13.1.1): both tags strong and the
 * same octets, so a weak tag ("W/\"7\"") is well-formed but never matches.
 */
enum bd_err
req_if_match(const char *h, unsigned long version)
{
	char want[32];
	bool any = false, match = false, weak;
	const char *p = h, *e;
	size_t n;

	if (h == NULL)
		return BD_OK;
	n = (size_t)snprintf(want, sizeof(want), "\"%lu\"", version);
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		if (*p == '*') {
			match = true;
			p++;
		} else {
			weak = strncmp(p, "W/", 2) == 0;
			if (weak)
				p += 2;
			if (*p != '"' || (e = strchr(p + 1, '"')) == NULL)
				return BD_ERR_BAD_REQUEST;
			if (!weak && (size_t)(e - p) + 1 == n &&
			    strncmp(p, want, n) == 0)
				match = true;
			p = e + 1;
		}
		any = true;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '\0' && *p != ',')
			return BD_ERR_BAD_REQUEST;
	}
	if (!any)
		return BD_ERR_BAD_REQUEST;
	return match ? BD_OK : BD_ERR_PRECONDITION;
}

void
resp_init(struct response *r)
{
	memset(r, 0, sizeof(*r));
	r->status = 500;
}

void
resp_clear(struct response *r)
{
	if (r->body != NULL)
		json_object_put(r->body);
	free(r->raw);
	resp_init(r);
}

void
resp_header(struct response *r, const char *name, const char *fmt, ...)
{
	char v[1024];
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= sizeof(v) || strpbrk(v, "\r\n") != NULL)
		return;
	w = snprintf(r->headers + r->hlen, sizeof(r->headers) - r->hlen,
	    "%s: %s\r\n", name, v);
	if (w > 0 && (size_t)w < sizeof(r->headers) - r->hlen)
		r->hlen += (size_t)w;
	else
		r->headers[r->hlen] = '\0';
}

void
resp_json(struct response *r, int status, json_object *body)
{
	if (r->body != NULL)
		json_object_put(r->body);
	r->status = status;
	r->body = body;
	r->content_type = "application/json";
}

json_object *
resp_problem(struct response *r, const struct request *req, enum bd_err err,
    const char *fmt, ...)
{
	json_object *p = json_object_new_object();
	char detail[512];
	va_list ap;

	if (p == NULL)
		return NULL;
	json_object_object_add(p, "type", json_object_new_string(err_type(err)));
	json_object_object_add(p, "title",
	    json_object_new_string(err_title(err)));
	json_object_object_add(p, "status",
	    json_object_new_int(err_status(err)));
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
		json_object_object_add(p, "detail",
		    json_object_new_string(detail));
	}
	json_object_object_add(p, "requestId",
	    json_object_new_string(req->request_id));
	resp_json(r, err_status(err), p);
	r->content_type = "application/problem+json";
	if (err == BD_ERR_UNAUTHORIZED)
		resp_header(r, "WWW-Authenticate",
		    "Bearer realm=\"backupd\"%s",
		    req->authorization ? ", error=\"invalid_token\"" : "");
	return p;
}

const char *
resp_reason(int s)
{
	switch (s) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 302: return "Found";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Internal Server Error";
	}
}

char *
resp_serialize(const struct response *r, const struct request *req,
    size_t *len)
{
	const char *body = "";
	size_t blen = 0, cap;
	char *out;
	int w;

	if (r->body != NULL) {
		body = json_object_to_json_string_length(r->body,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
		    &blen);
	} else if (r->raw != NULL) {
		body = r->raw;
		blen = strlen(r->raw);
	}
	cap = 256 + r->hlen + blen + strlen(req->request_id);
	if ((out = malloc(cap)) == NULL)
		return NULL;
	w = snprintf(out, cap, "Status: %d %s\r\n%s%s%sX-Request-Id: %s\r\n"
	    "Cache-Control: no-store\r\nContent-Length: %zu\r\n%s\r\n",
	    r->status, resp_reason(r->status),
	    r->content_type ? "Content-Type: " : "",
	    r->content_type ? r->content_type : "",
	    r->content_type ? "\r\n" : "", req->request_id, blen,
	    r->headers);
	if (w < 0 || (size_t)w + blen >= cap) {
		free(out);
		return NULL;
	}
	memcpy(out + w, body, blen);
	*len = (size_t)w + blen;
	return out;
}
