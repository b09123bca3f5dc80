/*
 * libFuzzer driver for the two parsers of the request line: the query
 * string (req_query_param) and the router (router_match over the service's
 * route_table). The same bytes serve both: the whole input is the
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
	static const struct route_def sentinel;
	const struct route_def *r = &sentinel; /* router_match must reset it */
	char id[64], allow[64];
	enum bd_err rc;

	memset(id, 'x', sizeof(id));
	memset(allow, 'x', sizeof(allow));
	rc = router_match(route_table, ROUTE__MAX, method, path, &r, id, idlen,
	    allow, allowlen);
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
