/*
 * libFuzzer driver for the two parsers of the request line: the query
 * string (req_query_param) and the router (router_match over a table shaped
 * like cgi/handlers.c's). The same bytes serve both: the whole input is the
 * query; split at the first space it is "METHOD PATH" for the router, which
 * is also tried with a tiny id and Allow buffer to reach the truncation paths.
 *
 * Properties checked beyond "no crash": a decoded value is never longer than
 * the query; a match fills a NUL-terminated id that is a single non-empty
 * segment for {id} routes and empty otherwise; 405 lists at least one method.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "req.h"
#include "router.h"

#include "fuzz_fixtures.h"

static void h_stub(struct app *, struct request *, struct response *);

static void
h_stub(struct app *app, struct request *req, struct response *resp)
{
	(void)app;
	(void)req;
	(void)resp;
}

/* The shape of cgi/handlers.c's table (its handlers are static there). */
static const struct route routes[] = {
	{"GET", "/backup-destinations", h_stub, ROLE_VIEWER, "list"},
	{"POST", "/backup-destinations", h_stub, ROLE_ADMIN, "create"},
	{"GET", "/backup-destinations/oauth/callback", h_stub, ROLE_NONE,
	    "oauth.callback"},
	{"GET", "/backup-destinations/{id}", h_stub, ROLE_VIEWER, "get"},
	{"PUT", "/backup-destinations/{id}", h_stub, ROLE_ADMIN, "update"},
	{"DELETE", "/backup-destinations/{id}", h_stub, ROLE_ADMIN, "delete"},
	{"POST", "/backup-destinations/{id}/oauth", h_stub, ROLE_ADMIN,
	    "oauth.start"},
	{"POST", "/backup-destinations/{id}/test", h_stub, ROLE_MEMBER,
	    "test"},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static void
query(const char *q, const char *name)
{
	bool dup = true;
	char *v;

	v = req_query_param(q, name, &dup);
	if (v != NULL && strlen(v) > strlen(q))
		abort();
	if (v == NULL && dup)
		abort();
	free(v);
	free(req_query_param(q, name, NULL));
}

static void
route(const char *method, const char *path, size_t idlen, size_t allowlen)
{
	static const struct route sentinel;
	const struct route *r = &sentinel; /* router_match must reset it */
	char id[64], allow[64];
	enum bd_err rc;

	memset(id, 'x', sizeof(id));
	memset(allow, 'x', sizeof(allow));
	rc = router_match(routes, NROUTES, method, path, &r, id, idlen, allow,
	    allowlen);
	switch (rc) {
	case BD_OK:
		if (r == NULL || strcmp(r->method, method) != 0 ||
		    memchr(id, '\0', idlen) == NULL)
			abort();
		if (strchr(r->pattern, '{') != NULL ?
		    id[0] == '\0' || strchr(id, '/') != NULL : id[0] != '\0')
			abort();
		break;
	case BD_ERR_METHOD:
		if (r != NULL || memchr(allow, '\0', allowlen) == NULL ||
		    (allowlen > 8 && allow[0] == '\0'))
			abort();
		break;
	case BD_ERR_NOT_FOUND:
		if (r != NULL)
			abort();
		break;
	default:
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *sp;

	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';

	query(buf, "destinationType");
	query(buf, "a");

	if ((sp = strchr(buf, ' ')) != NULL) {
		*sp = '\0';
		route(buf, sp + 1, 64, 64);
		route(buf, sp + 1, 8, 6);
	} else {
		route("GET", buf, 64, 64);
	}
	free(buf);
	return 0;
}
