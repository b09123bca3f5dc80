/*
 * Routes are data: a table of method + pattern + handler + required role.
 * Patterns are literal segments and "{id}" (any one non-empty segment).
 * A literal route wins over a "{id}" route of the same shape because the
 * table is scanned in order.
 */
#ifndef BD_ROUTER_H
#define BD_ROUTER_H

#include <stddef.h>

#include "auth.h"
#include "err.h"
#include "req.h"

struct app;
typedef void (*handler_fn)(struct app *, struct request *, struct response *);

struct route {
	const char *method;
	const char *pattern;
	handler_fn handler;
	enum role role;     /* ROLE_NONE: no Authorization needed */
	const char *name;   /* for the log line ("destinations.get") */
};

/*
 * Find the route for (method, path) in routes[0..n). BD_OK: *out set and the
 * {id} segment copied to id (idlen bytes, truncated segments are rejected as
 * not found). BD_ERR_METHOD: the path exists with other methods, listed
 * comma-separated in allow. BD_ERR_NOT_FOUND otherwise.
 */
enum bd_err router_match(const struct route *routes, size_t n,
    const char *method, const char *path, const struct route **out,
    char *id, size_t idlen, char *allow, size_t allowlen);

#endif
