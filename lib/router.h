/*
 * Routes are data (kcgi style): `enum route` names every route of the API
 * and route_table[ROUTE__MAX] holds, per route, its method, its pattern,
 * the role it requires and its flags. The transport layer (cgi/) keeps only
 * the array of handlers indexed by enum route.
 *
 * Patterns are literal segments and "{id}" (any one non-empty segment). A
 * literal route wins over a "{id}" route of the same shape.
 */
#ifndef BD_ROUTER_H
#define BD_ROUTER_H

#include <stddef.h>

#include "auth.h"
#include "err.h"

enum route {
	ROUTE_LIST,
	ROUTE_CREATE,
	ROUTE_OAUTH_CALLBACK,
	ROUTE_GET,
	ROUTE_UPDATE,
	ROUTE_DELETE,
	ROUTE_OAUTH_START,
	ROUTE_TEST,
	ROUTE__MAX
};

/* The route opens outbound connections (a probe, a token endpoint): what
 * admission control counts. */
#define ROUTE_OUTBOUND 0x1u

struct route_def {
	const char *method;
	const char *pattern;
	enum role role;     /* ROLE_NONE: no Authorization needed */
	unsigned flags;     /* ROUTE_* */
	const char *name;   /* for the log line ("destinations.get") */
};

/* The API's routes, indexed by enum route. */
extern const struct route_def route_table[ROUTE__MAX];

/*
 * Find the route for (method, path) in table[0..n). BD_OK: *out set and the
 * {id} segment copied to id (idlen bytes, truncated segments are rejected as
 * not found). BD_ERR_METHOD: the path exists with other methods, listed
 * comma-separated in allow. BD_ERR_NOT_FOUND otherwise.
 */
enum bd_err router_match(const struct route_def *table, size_t n,
    const char *method, const char *path, const struct route_def **out,
    char *id, size_t idlen, char *allow, size_t allowlen);

/* router_match over route_table; *out is the route's enum value. */
enum bd_err route_find(const char *method, const char *path,
    enum route *out, char *id, size_t idlen, char *allow, size_t allowlen);

#endif
