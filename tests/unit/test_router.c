/* Router: table-driven matches, 404 vs 405 with Allow, literal shadowing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "router.h"

static const struct route_def routes[] = {
	{"GET", "/backup-destinations", ROLE_VIEWER, 0, "list"},
	{"POST", "/backup-destinations", ROLE_ADMIN, 0, "create"},
	{"GET", "/backup-destinations/oauth/callback", ROLE_NONE, 0, "cb"},
	{"GET", "/backup-destinations/{id}", ROLE_VIEWER, 0, "get"},
	{"PUT", "/backup-destinations/{id}", ROLE_ADMIN, 0, "update"},
	{"DELETE", "/backup-destinations/{id}", ROLE_ADMIN, 0, "delete"},
	{"POST", "/backup-destinations/{id}/oauth", ROLE_ADMIN, 0, "oauth"},
	{"POST", "/backup-destinations/{id}/test", ROLE_MEMBER, 0, "test"},
};

static const struct {
	const char *method, *path;
	enum bd_err want;
	const char *name, *id, *allow;
} cases[] = {
	{"GET", "/backup-destinations", BD_OK, "list", "", NULL},
	{"POST", "/backup-destinations", BD_OK, "create", "", NULL},
	{"DELETE", "/backup-destinations", BD_ERR_METHOD, NULL, NULL,
	    "GET, POST"},
	{"GET", "/backup-destinations/abc", BD_OK, "get", "abc", NULL},
	{"PATCH", "/backup-destinations/abc", BD_ERR_METHOD, NULL, NULL,
	    "GET, PUT, DELETE"},
	{"POST", "/backup-destinations/x/test", BD_OK, "test", "x", NULL},
	{"GET", "/backup-destinations/x/test", BD_ERR_METHOD, NULL, NULL,
	    "POST"},
	{"GET", "/backup-destinations/oauth/callback", BD_OK, "cb", "", NULL},
	{"POST", "/backup-destinations/oauth/callback", BD_ERR_METHOD, NULL,
	    NULL, "GET"},
	{"POST", "/backup-destinations/oauth/oauth", BD_OK, "oauth", "oauth",
	    NULL},
	{"GET", "/backup-destinations/", BD_ERR_NOT_FOUND, NULL, NULL, NULL},
	{"GET", "/backup-destinations//test", BD_ERR_NOT_FOUND, NULL, NULL,
	    NULL},
	{"GET", "/backup-destinations/a/b/c", BD_ERR_NOT_FOUND, NULL, NULL,
	    NULL},
	{"GET", "/backup-destinationsX", BD_ERR_NOT_FOUND, NULL, NULL, NULL},
	{"GET", "/", BD_ERR_NOT_FOUND, NULL, NULL, NULL},
	{"GET", "", BD_ERR_NOT_FOUND, NULL, NULL, NULL},
	{"get", "/backup-destinations", BD_ERR_METHOD, NULL, NULL,
	    "GET, POST"},
};

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct route_def *rt = NULL;
		char id[64] = "unset", allow[64];
		enum bd_err rc = router_match(routes,
		    sizeof(routes) / sizeof(routes[0]), cases[i].method,
		    cases[i].path, &rt, id, sizeof(id), allow, sizeof(allow));
		print_message("case %zu: %s %s\n", i, cases[i].method,
		    cases[i].path);
		assert_int_equal(rc, cases[i].want);
		if (cases[i].name != NULL) {
			assert_non_null(rt);
			assert_string_equal(rt->name, cases[i].name);
			assert_string_equal(id, cases[i].id);
		} else {
			assert_null(rt);
		}
		if (cases[i].allow != NULL)
			assert_string_equal(allow, cases[i].allow);
	}
}

static void
test_long_segment(void **state)
{
	const struct route_def *rt = NULL;
	char id[8], allow[64], path[256];

	(void)state;
	snprintf(path, sizeof(path), "/backup-destinations/%s",
	    "0123456789abcdef");
	/* A segment that does not fit the id buffer is no match. */
	assert_int_equal(router_match(routes, 8, "GET", path, &rt, id,
	    sizeof(id), allow, sizeof(allow)), BD_ERR_NOT_FOUND);
}

/* The API's own table: every enum value is its row, found by its own
 * method and shape; only the routes that open outbound connections carry
 * ROUTE_OUTBOUND. */
static void
test_route_table(void **state)
{
	static const struct {
		const char *method, *path;
		enum route want;
		bool outbound;
	} c[] = {
		{"GET", "/backup-destinations", ROUTE_LIST, false},
		{"POST", "/backup-destinations", ROUTE_CREATE, true},
		{"GET", "/backup-destinations/oauth/callback",
		    ROUTE_OAUTH_CALLBACK, true},
		{"GET", "/backup-destinations/x", ROUTE_GET, false},
		{"PUT", "/backup-destinations/x", ROUTE_UPDATE, true},
		{"DELETE", "/backup-destinations/x", ROUTE_DELETE, false},
		{"POST", "/backup-destinations/x/oauth", ROUTE_OAUTH_START,
		    false},
		{"POST", "/backup-destinations/x/test", ROUTE_TEST, true},
	};
	char id[64], allow[64];
	enum route r;

	(void)state;
	assert_int_equal(sizeof(c) / sizeof(c[0]), ROUTE__MAX);
	for (size_t i = 0; i < ROUTE__MAX; i++) {
		assert_non_null(route_table[i].method);
		assert_non_null(route_table[i].name);
		assert_int_equal(route_find(c[i].method, c[i].path, &r, id,
		    sizeof(id), allow, sizeof(allow)), BD_OK);
		assert_int_equal(r, c[i].want);
		assert_int_equal((route_table[r].flags & ROUTE_OUTBOUND) != 0,
		    c[i].outbound);
	}
	assert_int_equal(route_find("PATCH", "/backup-destinations/x", &r, id,
	    sizeof(id), allow, sizeof(allow)), BD_ERR_METHOD);
	assert_int_equal(r, ROUTE__MAX);
	assert_string_equal(allow, "GET, PUT, DELETE");
	assert_int_equal(route_find("GET", "/nope", &r, id, sizeof(id), allow,
	    sizeof(allow)), BD_ERR_NOT_FOUND);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_long_segment),
		cmocka_unit_test(test_route_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
