/*
 * Requests and responses, independent of the transport (FastCGI or CGI).
 * The transport fills struct request from the CGI variables and body; a
 * handler fills struct response; the transport writes resp_serialize()'s
 * bytes. Errors are RFC 9457 problem documents (application/problem+json).
 *
 * Ownership: request strings are borrowed from the transport for the length
 * of one request; the response owns its body object and header buffer.
 */
#ifndef BD_REQ_H
#define BD_REQ_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "auth.h"
#include "err.h"

#define REQ_ID_MAX 64

struct request {
	const char *method, *path, *query;
	const char *content_type, *authorization, *if_match, *remote_addr;
	const char *cookie;  /* the Cookie header (HTTP_COOKIE), or NULL */
	bool https;          /* came over https (the HTTPS variable) */
	long content_length; /* -1: absent */
	bool body_too_large; /* over max_body: body not read */
	const char *body;    /* NUL-terminated, body_len bytes */
	size_t body_len;
	char request_id[REQ_ID_MAX + 1];
	char id[64];         /* the {id} path segment, "" if none */
	struct principal who;
	long long start_ms;  /* monotonic, for the log line */
};

struct response {
	int status;
	const char *content_type;
	json_object *body;   /* owned; NULL: no body */
	char *raw;           /* owned raw body (e.g. empty for 302); or NULL */
	char headers[2048];  /* extra "Name: value\r\n" lines */
	size_t hlen;
};

/* Take the request id from the proxy (REQUEST_ID / X-Request-Id) when it is
 * 1..64 chars of [A-Za-z0-9._-], else generate 32 hex chars. */
void req_set_id(struct request *, const char *from_proxy);

/* Look a parameter up in a query string ("a=1&b=2"); percent-decodes the
 * value into a malloc'd string (caller frees), NULL when absent.
 * *dup is set when the name occurs more than once. */
char *req_query_param(const char *query, const char *name, bool *dup);

/* True when content_type is application/json (parameters allowed). */
bool req_is_json(const struct request *);

/*
 * Parse the body as one JSON value: BD_OK with *out (new reference) or
 * BD_ERR_BAD_REQUEST with a short reason in *why (static). Depth is limited
 * to LIM_JSON_DEPTH; trailing non-whitespace is an error.
 */
enum bd_err req_parse_json(const struct request *, json_object **out,
    const char **why);

/*
 * If-Match (RFC 9110 §13.1.1): "*" or a comma-separated list of entity
 * tags, against the strong tag "<version>" with the strong comparison (a
 * weak tag never matches). BD_OK when the header is absent (NULL), "*" or
 * a tag matches, BD_ERR_PRECONDITION when none does, and
 * BD_ERR_BAD_REQUEST when the header is not a list of tags.
 */
enum bd_err req_if_match(const char *header, unsigned long version);

void resp_init(struct response *);
void resp_clear(struct response *);
/* Append a header line; silently dropped if the buffer is full (fixed
 * header names only; values never contain CR/LF: they are checked). */
void resp_header(struct response *, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Set a JSON body (takes ownership of body). */
void resp_json(struct response *, int status, json_object *body);
/*
 * Set a problem body for err with a detail (printf-style, may be NULL) and
 * return the problem object (borrowed) so a caller can add members such as
 * "errors". Adds WWW-Authenticate for 401.
 */
json_object *resp_problem(struct response *, const struct request *,
    enum bd_err err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Status line + headers + body as CGI output ("Status: 200 OK\r\n...").
 * Returns a malloc'd buffer and its length in *len. */
char *resp_serialize(const struct response *, const struct request *,
    size_t *len);

/* The reason phrase for a status code. */
const char *resp_reason(int status);

#endif
