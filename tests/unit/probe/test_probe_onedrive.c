/*
 * lib/probe/probe_onedrive.c without a network: the Graph URLs it builds
 * from driveId and folderPath (segments encoded one by one, dot segments
 * flagged), and the error code it reads from a Graph error document. The
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_make_urls),
		cmocka_unit_test(test_api_code),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
