/*
 * JSON and bearer-token helpers for the REST probes (probe_gcs.c,
 * probe_google_drive.c, probe_onedrive.c), and the few steps the other HTTP
 * probes (azure_blob, s3, webdav, ftp) word the same way: reading a capped
 * JSON answer, building and wiping the "Authorization: Bearer" line, one
 * request with that line, the sentence for an unexpected status and the
 * read-back comparison.
 *
 * Each probe keeps its own decisions (which status fails which check, what a
 * detail says about its service); these helpers only do what is the same
 * for all of them. Like the probes, they never copy a remote message or a
 * secret into a detail.
 */
#ifndef BD_PROBE_HTTP_H
#define BD_PROBE_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "probe.h"

#define PROBE_JSON_DEPTH LIM_PROBE_JSON_DEPTH
#define PROBE_CODE_MAX LIM_PROBE_JSON_CODE_MAX
/* What an OAuth probe tells the user when the authorization is unusable. */
#define PROBE_OAUTH_AGAIN \
	"authorize again with POST /backup-destinations/{id}/oauth"

/* ---------------------------------------------------------------- JSON */

/* Parse a remote body of at most LIM_PROBE_MAX_RESPONSE bytes, nested at
 * most PROBE_JSON_DEPTH deep. Returns a new reference the caller puts, NULL
 * when the body is not one JSON object. */
json_object *probe_json_object(const char *body, size_t len);

/* The string member `key` of o (borrowed from o), NULL if o is NULL or the
 * member is absent or not a string. */
const char *probe_json_string(json_object *o, const char *key);

/* The same, and NULL for "" too. */
const char *probe_json_nonempty(json_object *o, const char *key);

/* Overwrite the string member `key` of o in place: a secret about to be
 * released with o. No-op when absent. */
void probe_json_wipe(json_object *o, const char *key);

/*
 * Copy s into out when it is a short code of letters, digits, '.', '_' and
 * '-' (Google's "reason" tokens, Graph's error codes and RFC 6749 §5.2
 * error codes look like that); anything else, prose included, and NULL give
 * "".
 */
void probe_code_copy(const char *s, char out[PROBE_CODE_MAX]);

/* The first errors[].reason of a Google JSON API error document
 * ({"error": {"code", "message", "errors": [{"reason"}]}}, Cloud Storage
 * "HTTP status and error codes for JSON", Drive API "Resolve errors") in
 * x's answer, through probe_code_copy; "" otherwise. */
void probe_google_reason(const struct probe_xfer *x,
    char out[PROBE_CODE_MAX]);

/* Whether s is a plausible id or bearer token (RFC 6750 §2.1 b64token,
 * loosely): visible ASCII, no spaces, 1..max bytes. */
bool probe_visible(const char *s, size_t max);

/* ------------------------------------------------------------- strings */

/* malloc'd concatenation of up to four strings (NULLs skipped); the caller
 * frees. NULL when out of memory. */
char *probe_concat(const char *a, const char *b, const char *c,
    const char *d);

/* malloc'd copy of the server-wide base URL `configured` (fallback when
 * NULL or "") without trailing '/'. NULL when out of memory. */
char *probe_base_url(const char *configured, const char *fallback);

/* Whether url is plain http:// (the probes warn about it). */
bool probe_plain_http(const char *url);

/* ---------------------------------------------------------------- HTTP */

/* malloc'd "Authorization: Bearer <token>"; the caller releases it with
 * wipe_str_free(). NULL when out of memory. */
char *probe_bearer_line(const char *token);

/*
 * The bearer line of an OAuth destination from config "_oauth".
 * "accessToken" (oauth.h; the service refreshed it before the probe), for a
 * token of at most max bytes. NULL after recording the failure: auth when
 * there is no usable token, connect when out of memory. The caller releases
 * the line with wipe_str_free().
 */
char *probe_oauth_bearer(struct probe_result *res, json_object *config,
    size_t max);

/* Append a copy of header line `line` to *l; false when out of memory
 * (then *l is unchanged). */
bool probe_header_append(struct curl_slist **l, const char *line);

/* Free a header list after wiping every entry (one may hold a token). */
void probe_headers_free(struct curl_slist *l);

/* One request of probe_http_call(). */
struct probe_http_req {
	const char *method;          /* "GET", "PUT", ... */
	const char *url;
	const char *const *headers;  /* header lines sent first, up to the
	                              * first NULL (e.g. the bearer line);
	                              * NULL for none */
	const char *ctype;           /* Content-Type of data */
	const void *data;            /* body to send; NULL for none */
	size_t len;
};

/*
 * One request on a fresh probe_curl() transfer (env's egress policy,
 * `protocols`, limits): rq's header lines, then with a body its
 * Content-Type and an empty "Expect:". Returns curl's code; on CURLE_OK
 * *status is the HTTP status and x holds the answer. The caller calls
 * probe_xfer_cleanup(x) in every case. The header list, which may hold a
 * token, is wiped and unhooked from the handle before returning.
 */
CURLcode probe_http_call(struct probe_xfer *x, const struct probe_env *env,
    const char *protocols, const struct probe_http_req *rq, long *status);

/* The HTTP status of x's answer, 0 without one. */
long probe_http_status(const struct probe_xfer *x);

/*
 * probe_fail_curl()'s sentence for a transfer that failed with cc, into
 * detail, without recording anything. Returns the check probe_fail_curl()
 * would have failed (connect for connection-level failures, else `step`).
 */
enum probe_check probe_curl_detail(const struct probe_xfer *x, CURLcode cc,
    enum probe_check step, const char *what,
    char detail[PROBE_DETAIL_MAX]);

/* A transfer after connect passed failed with cc: fail `step` with
 * probe_fail_curl()'s sentence (a connection-level failure now belongs to
 * the step that was running). */
void probe_fail_curl_step(struct probe_result *res,
    const struct probe_xfer *x, CURLcode cc, enum probe_check step,
    const char *what);

/* "HTTP 500 (InternalError)", or "HTTP 500" when code is "", into buf;
 * returns buf. */
const char *probe_status_text(char *buf, size_t size, long status,
    const char *code);

/* Fail check c with "<who> answered HTTP 500 (code) while <what>" (no
 * parenthesis when code is ""). */
void probe_fail_answer(struct probe_result *res, enum probe_check c,
    const char *who, long status, const char *code, const char *what);

/* ------------------------------------------------------- probe object */

/*
 * The write check after an upload answered 200 or 201: pass "uploaded a
 * <len>-byte probe object '<name>'" when the answer's "id" member is a
 * plausible id of at most idmax bytes, percent-encoded into *id_esc (the
 * caller curl_free()s it); else fail with `noid`. Returns whether it
 * passed.
 */
bool probe_record_upload(struct probe_result *res, const struct probe_xfer *x,
    size_t idmax, size_t len, const char *name, const char *noid,
    char **id_esc);

/* The read check: pass when x's answer is exactly data[0..len), else fail
 * "the probe object read back differs from what was written". Returns
 * whether it passed. */
bool probe_read_back(struct probe_result *res, const struct probe_xfer *x,
    const unsigned char *data, size_t len);

/*
 * The delete check after DELETE of the probe object `name` in `folder`
 * ended with (cc, status): gone on 200, 204 or 404. A probe object that
 * stays is a warning, never a failure. `record` false (cleanup after a
 * failed read) records only that warning.
 */
void probe_record_delete(struct probe_result *res, bool record, CURLcode cc,
    long status, const char *name, const char *folder);

#endif
