/*
 * JSON and bearer-token helpers for the REST probes; see probe_http.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "bd_limits.h"
#include "oauth.h"
#include "probe_http.h"

/* ---------------------------------------------------------------- JSON */

/* See probe_http.h. */
json_object *
probe_json_object(const char *body, size_t len)
{
	json_tokener *tok;
	json_object *o = NULL;

	if (body == NULL || len == 0 || len > (size_t)LIM_PROBE_MAX_RESPONSE)
		return NULL;
	if ((tok = json_tokener_new_ex(PROBE_JSON_DEPTH)) == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (o != NULL && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* See probe_http.h. */
const char *
probe_json_string(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* See probe_http.h. */
const char *
probe_json_nonempty(json_object *o, const char *key)
{
	const char *s = probe_json_string(o, key);

	return s != NULL && s[0] != '\0' ? s : NULL;
}

/* See probe_http.h. */
void
probe_json_wipe(json_object *o, const char *key)
{
	json_object *v;

	if (o != NULL && json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string))
		sodium_memzero((char *)json_object_get_string(v),
		    (size_t)json_object_get_string_len(v));
}

/* See probe_http.h. */
void
probe_code_copy(const char *s, char out[PROBE_CODE_MAX])
{
	size_t n;

	out[0] = '\0';
	if (s == NULL)
		return;
	n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-");
	if (n == 0 || s[n] != '\0' || n >= PROBE_CODE_MAX)
		return;
	memcpy(out, s, n + 1);
}

/* See probe_http.h. */
void
probe_google_reason(const struct probe_xfer *x, char out[PROBE_CODE_MAX])
{
	json_object *o, *err, *errs;

	out[0] = '\0';
	if ((o = probe_json_object(x->body, x->len)) == NULL)
		return;
	if (json_object_object_get_ex(o, "error", &err) &&
	    json_object_is_type(err, json_type_object) &&
	    json_object_object_get_ex(err, "errors", &errs) &&
	    json_object_is_type(errs, json_type_array) &&
	    json_object_array_length(errs) > 0)
		probe_code_copy(probe_json_string(json_object_array_get_idx(
		    errs, 0), "reason"), out);
	json_object_put(o);
}

/* See probe_http.h. */
bool
probe_visible(const char *s, size_t max)
{
	size_t n;

	if (s == NULL || (n = strlen(s)) == 0 || n > max)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* ------------------------------------------------------------- strings */

/* See probe_http.h. */
char *
probe_concat(const char *a, const char *b, const char *c, const char *d)
{
	const char *parts[4] = { a, b, c, d };
	size_t len = 1, n, i;
	char *s, *p;

	for (i = 0; i < 4; i++)
		if (parts[i] != NULL)
			len += strlen(parts[i]);
	if ((s = malloc(len)) == NULL)
		return NULL;
	p = s;
	for (i = 0; i < 4; i++) {
		if (parts[i] == NULL)
			continue;
		n = strlen(parts[i]);
		memcpy(p, parts[i], n);
		p += n;
	}
	*p = '\0';
	return s;
}

/* See probe_http.h. */
char *
probe_base_url(const char *configured, const char *fallback)
{
	const char *url = configured != NULL && configured[0] != '\0' ?
	    configured : fallback;
	size_t len = strlen(url);
	char *s;

	while (len > 0 && url[len - 1] == '/')
		len--;
	if ((s = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(s, url, len);
	s[len] = '\0';
	return s;
}

/* See probe_http.h. */
bool
probe_plain_http(const char *url)
{
	return url != NULL && strncasecmp(url, "http://", 7) == 0;
}

/* ---------------------------------------------------------------- HTTP */

/* See probe_http.h. */
char *
probe_bearer_line(const char *token)
{
	return probe_concat("Authorization: Bearer ", token, NULL, NULL);
}

/* See probe_http.h. */
char *
probe_oauth_bearer(struct probe_result *res, json_object *config, size_t max)
{
	json_object *o = NULL;
	const char *tok;
	char *line;

	if (!json_object_object_get_ex(config, OAUTH_CONFIG_MEMBER, &o) ||
	    (tok = probe_json_string(o, "accessToken")) == NULL) {
		probe_fail(res, CHECK_AUTH, "not authorized yet: start the "
		    "OAuth flow with POST /backup-destinations/{id}/oauth");
		return NULL;
	}
	if (!probe_visible(tok, max)) {
		probe_fail(res, CHECK_AUTH, "the stored access token is "
		    "unusable: " PROBE_OAUTH_AGAIN);
		return NULL;
	}
	if ((line = probe_bearer_line(tok)) == NULL)
		probe_fail(res, CHECK_CONNECT, "out of memory");
	return line;
}

/* See probe_http.h. */
void
probe_headers_free(struct curl_slist *l)
{
	struct curl_slist *p;

	for (p = l; p != NULL; p = p->next)
		if (p->data != NULL)
			sodium_memzero(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

/* See probe_http.h. */
bool
probe_header_append(struct curl_slist **l, const char *line)
{
	struct curl_slist *t = curl_slist_append(*l, line);

	if (t == NULL)
		return false;
	*l = t;
	return true;
}

/* See probe_http.h. */
CURLcode
probe_http_call(struct probe_xfer *x, const struct probe_env *env,
    const char *protocols, const struct probe_http_req *rq, long *status)
{
	struct curl_slist *hdrs = NULL;
	CURLcode cc = CURLE_OUT_OF_MEMORY;
	char line[160];
	size_t i;

	*status = 0;
	if (probe_curl(x, env, protocols) != BD_OK)
		goto out;
	for (i = 0; rq->headers != NULL && rq->headers[i] != NULL; i++)
		if (!probe_header_append(&hdrs, rq->headers[i]))
			goto out;
	if (rq->data != NULL) {
		snprintf(line, sizeof(line), "Content-Type: %s", rq->ctype);
		if (!probe_header_append(&hdrs, line) ||
		    !probe_header_append(&hdrs, "Expect:"))
			goto out;
	}
	if ((cc = curl_easy_setopt(x->h, CURLOPT_URL, rq->url)) != CURLE_OK ||
	    (cc = curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, hdrs)) !=
	    CURLE_OK ||
	    (cc = curl_easy_setopt(x->h, CURLOPT_CUSTOMREQUEST, rq->method)) !=
	    CURLE_OK)
		goto out;
	if (rq->data != NULL &&
	    ((cc = curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, rq->data)) !=
	    CURLE_OK ||
	    (cc = curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)rq->len)) != CURLE_OK))
		goto out;
	if ((cc = curl_easy_perform(x->h)) == CURLE_OK)
		*status = probe_http_status(x);
out:
	if (x->h != NULL)
		curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, NULL);
	probe_headers_free(hdrs);
	return cc;
}

/* See probe_http.h. */
long
probe_http_status(const struct probe_xfer *x)
{
	long code = 0;

	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

/* See probe_http.h. probe_fail_curl() records into a scratch result; its
 * one check is the sentence. */
enum probe_check
probe_curl_detail(const struct probe_xfer *x, CURLcode cc,
    enum probe_check step, const char *what, char detail[PROBE_DETAIL_MAX])
{
	struct probe_result tmp;
	enum probe_check c;

	memset(&tmp, 0, sizeof(tmp));
	tmp.ok = true;
	tmp.failed = -1;
	c = probe_fail_curl(&tmp, x, cc, step, what);
	snprintf(detail, PROBE_DETAIL_MAX, "%s", tmp.nchecks > 0 ?
	    tmp.checks[0].detail : "the transfer failed");
	return c;
}

/* See probe_http.h. */
void
probe_fail_curl_step(struct probe_result *res, const struct probe_xfer *x,
    CURLcode cc, enum probe_check step, const char *what)
{
	char detail[PROBE_DETAIL_MAX];

	(void)probe_curl_detail(x, cc, step, what, detail);
	probe_fail(res, step, "%s", detail);
}

/* See probe_http.h. */
const char *
probe_status_text(char *buf, size_t size, long status, const char *code)
{
	if (code[0] != '\0')
		snprintf(buf, size, "HTTP %ld (%s)", status, code);
	else
		snprintf(buf, size, "HTTP %ld", status);
	return buf;
}

/* See probe_http.h. */
void
probe_fail_answer(struct probe_result *res, enum probe_check c,
    const char *who, long status, const char *code, const char *what)
{
	char st[96];

	probe_fail(res, c, "%s answered %s while %s", who,
	    probe_status_text(st, sizeof(st), status, code), what);
}

/* ------------------------------------------------------- probe object */

/* The "id" member of x's JSON answer (at most max visible bytes),
 * percent-encoded for a URL path: curl_free() it. NULL when there is none
 * or out of memory. */
static char *
probe_answer_id(const struct probe_xfer *x, size_t max)
{
	json_object *o = probe_json_object(x->body, x->len);
	const char *id = probe_json_string(o, "id");
	char *esc = NULL;

	if (probe_visible(id, max))
		esc = curl_easy_escape(x->h, id, 0);
	json_object_put(o);
	return esc;
}

/* See probe_http.h. */
bool
probe_record_upload(struct probe_result *res, const struct probe_xfer *x,
    size_t idmax, size_t len, const char *name, const char *noid,
    char **id_esc)
{
	if ((*id_esc = probe_answer_id(x, idmax)) == NULL) {
		probe_fail(res, CHECK_WRITE, "%s", noid);
		return false;
	}
	probe_pass(res, CHECK_WRITE, "uploaded a %zu-byte probe object '%s'",
	    len, name);
	return true;
}

/* See probe_http.h. The probe data is random, not secret; sodium_memcmp
 * all the same, as everywhere bytes are compared. */
bool
probe_read_back(struct probe_result *res, const struct probe_xfer *x,
    const unsigned char *data, size_t len)
{
	if (x->len != len || sodium_memcmp(x->body, data, len) != 0) {
		probe_fail(res, CHECK_READ, "the probe object read back "
		    "differs from what was written");
		return false;
	}
	probe_pass(res, CHECK_READ, "read the probe object back intact");
	return true;
}

/* See probe_http.h. */
void
probe_record_delete(struct probe_result *res, bool record, CURLcode cc,
    long status, const char *name, const char *folder)
{
	bool gone = cc == CURLE_OK && (status == 204 || status == 200 ||
	    status == 404);

	if (!gone)
		probe_warn(res, "the probe object '%s' in folder '%s' could "
		    "not be deleted; remove it by hand", name, folder);
	if (record && gone)
		probe_pass(res, CHECK_DELETE, status == 404 ? "the probe "
		    "object was already gone" : "deleted the probe object");
	else if (record)
		probe_pass(res, CHECK_DELETE, "the probe object was kept: "
		    "deleting it failed");
}
