/*
 * lib/probe/probe_onedrive.c without a network: the Graph URLs it builds
 * from driveId and folderPath (segments encoded one by one, dot segments
 * flagged), the error code it reads from a Graph error document, and the
 * capacity and account read from the drive resource (issue 9). The
 * file is included so its static helpers can be called (the one way
 * tests/unit/probe/ tests static helpers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "probe/probe_onedrive.c"

static void
od_free(struct od *d)
{
	free(d->drive);
	free(d->path);
	free(d->path_esc);
	memset(d, 0, sizeof(*d));
}

static void
test_make_urls(void **state)
{
	static const struct {
		const char *graph, *drive_id, *folder;
		const char *drive, *path, *path_esc;
		bool http, dots;
	} cases[] = {
		{ NULL, NULL, NULL, "https://graph.microsoft.com/v1.0/me/drive",
		    "/", "", false, false },
		{ "http://127.0.0.2:18998/graph/v1.0/", NULL, "/Backups/",
		    "http://127.0.0.2:18998/graph/v1.0/me/drive", "/Backups",
		    "/Backups", true, false },
		{ NULL, "b!x/y z", "a//b c/\xc3\xa9",
		    "https://graph.microsoft.com/v1.0/drives/b%21x%2Fy%20z",
		    "/a/b c/\xc3\xa9", "/a/b%20c/%C3%A9", false, false },
		{ NULL, NULL, "a/../b", "https://graph.microsoft.com/v1.0/me/"
		    "drive", "/a/../b", "/a/../b", false, true },
		{ NULL, NULL, "./x?#%", "https://graph.microsoft.com/v1.0/me/"
		    "drive", "/./x?#%", "/./x%3F%23%25", false, true },
	};
	struct cfg cfg;
	struct probe_env env;
	struct od d;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&cfg, 0, sizeof(cfg));
		cfg.microsoft_graph_url = (char *)cases[i].graph;
		memset(&env, 0, sizeof(env));
		env.cfg = &cfg;
		memset(&d, 0, sizeof(d));
		d.env = &env;
		d.drive_id = cases[i].drive_id;
		assert_true(make_urls(&d, cases[i].folder));
		assert_string_equal(d.drive, cases[i].drive);
		assert_string_equal(d.path, cases[i].path);
		assert_string_equal(d.path_esc, cases[i].path_esc);
		assert_int_equal(d.http, cases[i].http);
		assert_int_equal(d.dots, cases[i].dots);
		od_free(&d);
	}
}

static void
test_api_code(void **state)
{
	static const struct {
		const char *body, *want;
	} cases[] = {
		{ "{\"error\":{\"code\":\"itemNotFound\",\"message\":\"Item does "
		    "not exist\"}}", "itemNotFound" },
		{ "{\"error\":{\"code\":\"InvalidAuthenticationToken\","
		    "\"innerError\":{\"date\":\"x\"}}}",
		    "InvalidAuthenticationToken" },
		/* prose, markup and wrong shapes name nothing */
		{ "{\"error\":{\"code\":\"Access denied <b>\"}}", "" },
		{ "{\"error\":\"itemNotFound\"}", "" },
		{ "{\"error\":{\"code\":42}}", "" },
		{ "[\"itemNotFound\"]", "" },
		{ "<html>itemNotFound</html>", "" },
		{ "", "" },
	};
	struct probe_xfer x;
	char code[PROBE_CODE_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&x, 0, sizeof(x));
		x.body = (char *)cases[i].body;
		x.len = strlen(cases[i].body);
		api_code(&x, code);
		assert_string_equal(code, cases[i].want);
	}
}

static void
test_drive_facts(void **state)
{
	/* Graph "drive resource type": quota numbers are Int64 (JSON
	 * numbers); owner is an identitySet. */
	static const struct {
		const char *body, *account;
		bool known;
		int64_t total, used, free;
		int warnings;
	} cases[] = {
		{ "{\"id\":\"b!x\",\"driveType\":\"business\",\"owner\":"
		    "{\"user\":{\"id\":\"efee1b77\",\"displayName\":"
		    "\"Ryan Gregg\",\"email\":\"ryan@contoso.com\"}},"
		    "\"quota\":{\"deleted\":256938,\"remaining\":"
		    "1099447353539,\"state\":\"normal\",\"total\":"
		    "1099511627776,\"used\":64274237}}", "ryan@contoso.com", true,
		    1099511627776LL, 64274237, 1099447353539LL, 0 },
		/* Personal: no e-mail in the identity; nearly full. */
		{ "{\"owner\":{\"user\":{\"displayName\":\"Stub User\","
		    "\"id\":\"1\"}},\"quota\":{\"total\":5368709120,"
		    "\"used\":5100273664,\"remaining\":268435456,\"state\":"
		    "\"critical\"}}", "Stub User", true, 5368709120LL,
		    5100273664LL, 268435456, 1 },
		/* No remaining: total - used. */
		{ "{\"quota\":{\"total\":100,\"used\":40}}", NULL, true,
		    100, 40, 60, 1 },
		/* A group's drive: no user, no account. */
		{ "{\"owner\":{\"group\":{\"displayName\":\"Team\"}}}",
		    NULL, false, 0, 0, 0, 0 },
		{ "{\"quota\":{\"total\":\"x\"}}", NULL, false, 0, 0, 0, 0 },
		{ "", NULL, false, 0, 0, 0, 0 },
	};
	struct cfg cfg;
	struct probe_env env;
	struct probe_xfer x;
	struct probe_result r;
	struct od d;
	json_object *v;
	size_t i;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.min_free_bytes = 1L << 30;
	memset(&env, 0, sizeof(env));
	env.cfg = &cfg;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&r, 0, sizeof(r));
		r.ok = true;
		r.failed = -1;
		memset(&d, 0, sizeof(d));
		d.res = &r;
		d.env = &env;
		memset(&x, 0, sizeof(x));
		x.body = (char *)cases[i].body;
		x.len = strlen(cases[i].body);
		drive_facts(&d, &x);
		assert_int_equal(r.capacity.known, cases[i].known);
		if (cases[i].known) {
			assert_true(r.capacity.total == cases[i].total);
			assert_true(r.capacity.used == cases[i].used);
			assert_true(r.capacity.free == cases[i].free);
		}
		assert_int_equal(r.nwarnings, cases[i].warnings);
		if (cases[i].account != NULL) {
			assert_true(json_object_object_get_ex(r.observed,
			    "account", &v));
			assert_string_equal(json_object_get_string(v),
			    cases[i].account);
		} else {
			assert_null(r.observed);
		}
		probe_result_clear(&r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_make_urls),
		cmocka_unit_test(test_api_code),
		cmocka_unit_test(test_drive_facts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
