/*
 * lib/probe/probe_google_drive.c without a network: the API base and the
 * encoded folder id it builds, the sentence for an unexpected answer (only
 * Drive's short reason code is named, never its message), the capacity
 * and account read from about.get (issue 9). A missing token
 * is probe_oauth_bearer's, tested in test_probe_http.c. The file is
 * included so its static helpers can be called (the one way
 * tests/unit/probe/ tests static helpers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "probe/probe_google_drive.c"

static void
test_make_urls(void **state)
{
	static const struct {
		const char *api, *folder, *want_api, *want_folder;
	} cases[] = {
		{ NULL, "root", "https://www.googleapis.com", "root" },
		{ "http://127.0.0.2:18998/google/", "1AbC-_x",
		    "http://127.0.0.2:18998/google", "1AbC-_x" },
		{ "https://g.example//", "a/b?c#d e",
		    "https://g.example", "a%2Fb%3Fc%23d%20e" },
	};
	struct cfg cfg;
	struct probe_env env;
	struct gd g;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&cfg, 0, sizeof(cfg));
		cfg.google_api_url = (char *)cases[i].api;
		memset(&env, 0, sizeof(env));
		env.cfg = &cfg;
		memset(&g, 0, sizeof(g));
		g.env = &env;
		g.folder = cases[i].folder;
		assert_true(make_urls(&g));
		assert_string_equal(g.api, cases[i].want_api);
		assert_string_equal(g.folder_esc, cases[i].want_folder);
		free(g.api);
		curl_free(g.folder_esc);
	}
}

static void
test_unexpected(void **state)
{
	static const struct {
		const char *body, *want;
	} cases[] = {
		{ "{\"error\":{\"code\":403,\"message\":\"The user does not have "
		    "sufficient permissions for file x.\",\"errors\":[{\"domain\":"
		    "\"global\",\"reason\":\"insufficientFilePermissions\","
		    "\"message\":\"secret prose\"}]}}", "Google Drive answered "
		    "HTTP 403 (insufficientFilePermissions) while listing" },
		{ "{\"error\":{\"errors\":[{\"reason\":\"no spaces allowed\"}]}}",
		    "Google Drive answered HTTP 500 while listing" },
		{ "<html>Server Error</html>",
		    "Google Drive answered HTTP 502 while listing" },
	};
	static const long status[] = { 403, 500, 502 };
	struct probe_xfer x;
	struct probe_result r;
	struct gd g;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&r, 0, sizeof(r));
		r.ok = true;
		r.failed = -1;
		memset(&g, 0, sizeof(g));
		g.res = &r;
		memset(&x, 0, sizeof(x));
		x.body = (char *)cases[i].body;
		x.len = strlen(cases[i].body);
		unexpected(&g, CHECK_TARGET, status[i], &x, "listing");
		assert_false(r.ok);
		assert_int_equal(r.failed, CHECK_TARGET);
		assert_string_equal(r.checks[0].detail, cases[i].want);
		assert_null(strstr(r.checks[0].detail, "prose"));
	}
}

/* about_facts over one answer, with min_free_bytes 1 GiB. */
static void
about(const char *body, struct probe_result *r)
{
	struct cfg cfg;
	struct probe_env env;
	struct probe_xfer x;
	struct gd g;

	memset(&cfg, 0, sizeof(cfg));
	cfg.min_free_bytes = 1L << 30;
	memset(&env, 0, sizeof(env));
	env.cfg = &cfg;
	memset(r, 0, sizeof(*r));
	r->ok = true;
	r->failed = -1;
	memset(&g, 0, sizeof(g));
	g.res = r;
	g.env = &env;
	memset(&x, 0, sizeof(x));
	x.body = (char *)body;
	x.len = strlen(body);
	about_facts(&g, &x);
}

static void
test_about_facts(void **state)
{
	/* Drive API "About" resource: int64 values are strings. */
	static const struct {
		const char *body, *account;
		bool known;
		int64_t total, used, free;
		int warnings;
	} cases[] = {
		{ "{\"storageQuota\":{\"limit\":\"16106127360\",\"usage\":"
		    "\"5368709120\",\"usageInDrive\":\"1073741824\","
		    "\"usageInDriveTrash\":\"0\"},\"user\":{\"kind\":"
		    "\"drive#user\",\"displayName\":\"Ada Lovelace\","
		    "\"emailAddress\":\"ada@example.com\"}}",
		    "ada@example.com", true, 16106127360LL, 5368709120LL,
		    10737418240LL, 0 },
		/* Unlimited: no limit, so neither total nor free. */
		{ "{\"storageQuota\":{\"usage\":\"123\",\"usageInDrive\":"
		    "\"100\"},\"user\":{\"displayName\":\"Ada\"}}", "Ada",
		    true, -1, 123, -1, 0 },
		/* 512 MiB left: below min_free_bytes. */
		{ "{\"storageQuota\":{\"limit\":\"16106127360\",\"usage\":"
		    "\"15569256448\"}}", NULL, true, 16106127360LL,
		    15569256448LL, 536870912LL, 1 },
		/* Over quota: nothing free. */
		{ "{\"storageQuota\":{\"limit\":\"100\",\"usage\":\"150\"}}",
		    NULL, true, 100, 150, 0, 1 },
		/* Numbers that are not int64 strings report nothing. */
		{ "{\"storageQuota\":{\"limit\":\"1e9\",\"usage\":null},"
		    "\"user\":{\"emailAddress\":\"a@b\"}}", "a@b", false, 0,
		    0, 0, 0 },
		{ "{\"user\":{\"emailAddress\":\"\",\"displayName\":\"\"}}",
		    NULL, false, 0, 0, 0, 0 },
		{ "<html>", NULL, false, 0, 0, 0, 0 },
	};
	struct probe_result r;
	json_object *v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		about(cases[i].body, &r);
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
		assert_true(r.ok);
		probe_result_clear(&r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_make_urls),
		cmocka_unit_test(test_unexpected),
		cmocka_unit_test(test_about_facts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
