#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "router.h"

const struct route_def route_table[ROUTE__MAX] = {
	[ROUTE_LIST] = {"GET", "/backup-destinations", ROLE_VIEWER, 0,
	    "destinations.list"},
	[ROUTE_CREATE] = {"POST", "/backup-destinations", ROLE_ADMIN,
	    ROUTE_OUTBOUND, "destinations.create"},
	[ROUTE_OAUTH_CALLBACK] = {"GET", "/backup-destinations/oauth/callback",
	    ROLE_NONE, ROUTE_OUTBOUND, "oauth.callback"},
	[ROUTE_GET] = {"GET", "/backup-destinations/{id}", ROLE_VIEWER, 0,
	    "destinations.get"},
	[ROUTE_UPDATE] = {"PUT", "/backup-destinations/{id}", ROLE_ADMIN,
	    ROUTE_OUTBOUND, "destinations.update"},
	[ROUTE_DELETE] = {"DELETE", "/backup-destinations/{id}", ROLE_ADMIN, 0,
	    "destinations.delete"},
	[ROUTE_OAUTH_START] = {"POST", "/backup-destinations/{id}/oauth",
	    ROLE_ADMIN, 0, "oauth.start"},
	[ROUTE_TEST] = {"POST", "/backup-destinations/{id}/test", ROLE_MEMBER,
	    ROUTE_OUTBOUND, "destinations.test"},
};

/* Compare one pattern to a path segment by segment; copy {id} into id. */
static bool
match(const char *pattern, const char *path, char *id, size_t idlen)
{
	const char *p = pattern, *s = path;

	while (*p != '\0' && *s != '\0') {
		if (*p != '/' || *s != '/')
			return false;
		p++, s++;
		size_t pl = strcspn(p, "/"), sl = strcspn(s, "/");
		if (pl == 4 && strncmp(p, "{id}", 4) == 0) {
			if (sl == 0 || sl >= idlen)
				return false;
			memcpy(id, s, sl);
			id[sl] = '\0';
		} else if (pl != sl || strncmp(p, s, pl) != 0) {
			return false;
		}
		p += pl, s += sl;
	}
	return *p == '\0' && *s == '\0';
}

static bool
literal(const struct route_def *r)
{
	return strchr(r->pattern, '{') == NULL;
}

enum bd_err
router_match(const struct route_def *routes, size_t n, const char *method,
    const char *path, const struct route_def **out, char *id, size_t idlen,
    char *allow, size_t allowlen)
{
	bool any_literal = false, path_known = false;
	size_t used = 0;
	char seg[128];

	*out = NULL;
	if (allowlen > 0)
		allow[0] = '\0';
	/* A literal route ("/oauth/callback") shadows every {id} route that
	 * would also match the same path. */
	for (size_t i = 0; i < n; i++)
		if (literal(&routes[i]) &&
		    match(routes[i].pattern, path, seg, sizeof(seg)))
			any_literal = true;
	for (size_t i = 0; i < n; i++) {
		if (literal(&routes[i]) != any_literal ||
		    !match(routes[i].pattern, path, seg, sizeof(seg)) ||
		    (!any_literal && strlen(seg) >= idlen))
			continue;
		path_known = true;
		if (*out == NULL && strcmp(routes[i].method, method) == 0) {
			*out = &routes[i];
			if (idlen > 0)
				snprintf(id, idlen, "%s",
				    any_literal ? "" : seg);
		}
		if (used < allowlen && strstr(allow, routes[i].method) == NULL) {
			int w = snprintf(allow + used, allowlen - used, "%s%s",
			    used ? ", " : "", routes[i].method);
			if (w > 0)
				used += (size_t)w;
		}
	}
	if (*out != NULL)
		return BD_OK;
	return path_known ? BD_ERR_METHOD : BD_ERR_NOT_FOUND;
}

enum bd_err
route_find(const char *method, const char *path, enum route *out, char *id,
    size_t idlen, char *allow, size_t allowlen)
{
	const struct route_def *r = NULL;
	enum bd_err rc;

	rc = router_match(route_table, ROUTE__MAX, method, path, &r, id, idlen,
	    allow, allowlen);
	*out = r != NULL ? (enum route)(r - route_table) : ROUTE__MAX;
	return rc;
}
