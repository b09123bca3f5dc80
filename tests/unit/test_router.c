/* Router: table-driven matches, 404 vs 405 with Allow, literal shadowing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "router.h"

static void h(struct app *a, struct request *q, struct response *r) {}

static const struct route routes[] = {
	{"GET", "/backup-destinations", h, ROLE_VIEWER, "list"},
	{"POST", "/backup-destinations", h, ROLE_ADMIN, "create"},
	{"GET", "/backup-destinations/oauth/callback", h, ROLE_NONE, "cb"},
	{"GET", "/backup-destinations/{id}", h, ROLE_VIEWER, "get"},
	{"PUT", "/backup-destinations/{id}", h, ROLE_ADMIN, "update"},
	{"DELETE", "/backup-destinations/{id}", h, ROLE_ADMIN, "delete"},
	{"POST", "/backup-destinations/{id}/oauth", h, ROLE_ADMIN, "oauth"},
	{"POST", "/backup-destinations/{id}/test", h, ROLE_MEMBER, "test"},
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
		const struct route *rt = NULL;
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
	const struct route *rt = NULL;
	char id[8], allow[64], path[256];

	(void)state;
	snprintf(path, sizeof(path), "/backup-destinations/%s",
	    "0123456789abcdef");
	/* A segment that does not fit the id buffer is no match. */
	assert_int_equal(router_match(routes, 8, "GET", path, &rt, id,
	    sizeof(id), allow, sizeof(allow)), BD_ERR_NOT_FOUND);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_long_segment),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
