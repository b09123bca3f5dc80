/*
 * lib/probe/probe_gcs.c without a network: the object name and encoded
 * path parts, how a later answer settles the earlier checks, the token
 * endpoint's refusals as sentences, a key that cannot sign, and a
 * token_uri with control characters refused before any connection. The
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

#include "probe/probe_gcs.c"

static void
fresh(struct probe_result *r, struct gcs *g)
{
	memset(r, 0, sizeof(*r));
	r->ok = true;
	r->failed = -1;
	memset(g, 0, sizeof(*g));
	g->res = r;
	g->connect_detail = "reached the token endpoint";
}

static void
test_make_names(void **state)
{
	static const struct {
		const char *prefix, *bucket, *object_start, *esc_start;
	} cases[] = {
		{ NULL, "bkt", ".backupd-probe-", ".backupd-probe-" },
		{ "", "bkt", ".backupd-probe-", ".backupd-probe-" },
		{ "/backups", "bkt", "backups/.backupd-probe-",
		    "backups%2F.backupd-probe-" },
		{ "a b/c/", "my.bucket", "a b/c/.backupd-probe-",
		    "a%20b%2Fc%2F.backupd-probe-" },
	};
	struct probe_result r;
	struct gcs g;
	CURL *h = curl_easy_init();
	size_t i;

	(void)state;
	assert_non_null(h);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fresh(&r, &g);
		g.bucket = cases[i].bucket;
		assert_true(make_names(&g, h, cases[i].prefix));
		assert_string_equal(g.api, GCS_DEFAULT_API);
		assert_string_equal(g.bucket_esc, cases[i].bucket);
		assert_memory_equal(g.object, cases[i].object_start,
		    strlen(cases[i].object_start));
		assert_int_equal(strlen(g.object),
		    strlen(cases[i].object_start) + 16);
		assert_memory_equal(g.object_esc, cases[i].esc_start,
		    strlen(cases[i].esc_start));
		free(g.api);
		free(g.object);
		curl_free(g.object_esc);
		curl_free(g.bucket_esc);
	}
	curl_easy_cleanup(h);
}

/* An answer at a later step passes the open checks before it, in order. */
static void
test_settle(void **state)
{
	struct probe_result r;
	struct gcs g;

	(void)state;
	fresh(&r, &g);
	snprintf(g.target_detail, sizeof(g.target_detail), "bucket 'b'");
	pass_at(&g, CHECK_WRITE, "wrote");
	assert_int_equal(r.nchecks, 4);
	assert_int_equal(r.checks[0].check, CHECK_CONNECT);
	assert_int_equal(r.checks[1].check, CHECK_AUTH);
	assert_int_equal(r.checks[2].check, CHECK_TARGET);
	assert_string_equal(r.checks[2].detail, "bucket 'b'");
	assert_int_equal(r.checks[3].check, CHECK_WRITE);
	assert_true(r.ok);
	/* settled once only */
	pass_at(&g, CHECK_READ, "read");
	assert_int_equal(r.nchecks, 5);

	fresh(&r, &g);
	fail_at(&g, CHECK_AUTH, "refused");
	assert_int_equal(r.nchecks, 2);
	assert_int_equal(r.failed, CHECK_AUTH);
	assert_true(r.checks[0].ok);
}

static void
test_token_refused(void **state)
{
	static const struct {
		const char *body;
		long status;
		const char *want;
	} cases[] = {
		{ "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid "
		    "JWT Signature.\"}", 400, "the service account key was "
		    "rejected (the account or key is unknown or deleted, or this "
		    "server's clock is off)" },
		{ "{\"error\":\"disabled_client\"}", 401,
		    "the service account or its key is disabled" },
		{ "{\"error\":\"some_new_code\"}", 400,
		    "the token endpoint answered HTTP 400 (some_new_code)" },
		{ "{\"error\":\"free text, <b>quoted</b>\"}", 400,
		    "the token endpoint answered HTTP 400" },
		{ "not json", 503, "the token endpoint answered HTTP 503" },
	};
	struct probe_result r;
	struct probe_xfer x;
	struct gcs g;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fresh(&r, &g);
		memset(&x, 0, sizeof(x));
		x.body = (char *)cases[i].body;
		x.len = strlen(cases[i].body);
		token_refused(&g, cases[i].status, &x);
		assert_int_equal(r.failed, CHECK_AUTH);
		assert_string_equal(r.checks[r.nchecks - 1].detail,
		    cases[i].want);
	}
}

static void
test_assertion_needs_rsa(void **state)
{
	(void)state;
	assert_null(make_assertion("sa@p.iam.gserviceaccount.com",
	    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	    "kid", "https://oauth2.googleapis.com/token"));
}

/* Issue 13 item 5: also a key file stored before the validator refused
 * control characters never gets its token_uri near a request line. */
static void
test_token_uri_control_characters(void **state)
{
	static const char *const uris[] = {
		"https://oauth2.googleapis.com/token\r\nX-Injected: 1",
		"https://oauth2.googleapis.com/to\tken",
		"ftp://oauth2.googleapis.com/token",
	};
	struct cfg cfg;
	struct egress eg;
	struct probe_env env = { .cfg = &cfg, .egress = &eg };
	struct probe_result r;
	json_object *key, *c;
	size_t i;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	memset(&eg, 0, sizeof(eg));
	for (i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
		key = json_object_new_object();
		json_object_object_add(key, "client_email",
		    json_object_new_string("sa@p.iam.gserviceaccount.com"));
		json_object_object_add(key, "private_key",
		    json_object_new_string("-----BEGIN PRIVATE KEY-----\n"));
		json_object_object_add(key, "token_uri",
		    json_object_new_string(uris[i]));
		c = json_object_new_object();
		json_object_object_add(c, "bucket", json_object_new_string("b"));
		json_object_object_add(c, "serviceAccountJson",
		    json_object_new_string(json_object_to_json_string(key)));
		probe_run(probe_gcs, &env, c, &r);
		assert_int_equal(r.failed, CHECK_AUTH);
		assert_int_equal(r.nchecks, 1);
		assert_non_null(strstr(r.checks[0].detail, "token_uri"));
		json_object_put(c);
		json_object_put(key);
		probe_result_clear(&r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_make_names),
		cmocka_unit_test(test_settle),
		cmocka_unit_test(test_token_refused),
		cmocka_unit_test(test_assertion_needs_rsa),
		cmocka_unit_test(test_token_uri_control_characters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
