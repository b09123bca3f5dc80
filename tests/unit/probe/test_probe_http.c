/*
 * lib/probe_http.c: capped JSON answers, error codes, bearer lines, base
 * URLs, status sentences and the upload / read-back / delete records of the
 * REST probes. No network: answers are set into a probe_xfer by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bd_limits.h"
#include "probe/probe_http.h"
#include "wipe.h"

/* A result as probe_run() starts it. */
static const struct probe_result fresh = { .ok = true, .failed = -1 };

/* A transfer whose answer is `body` (no handle: nothing was sent). */
static void
answer(struct probe_xfer *x, const char *body)
{
	memset(x, 0, sizeof(*x));
	x->body = (char *)body;
	x->len = strlen(body);
}

static void
test_json_object(void **state)
{
	static const struct {
		const char *body;
		bool object;
	} cases[] = {
		{ "{\"a\":\"b\"}", true },
		{ "[1,2]", false },
		{ "\"text\"", false },
		{ "not json", false },
		{ "{\"a\":", false },
		{ "", false },
		/* 17 levels: deeper than PROBE_JSON_DEPTH */
		{ "{\"a\":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}", false },
		{ "{\"a\":[[[[[[[[[[[[[[1]]]]]]]]]]]]]]}", true },
	};
	json_object *o;
	size_t i;
	char *big;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		o = probe_json_object(cases[i].body, strlen(cases[i].body));
		assert_int_equal(o != NULL, cases[i].object);
		json_object_put(o);
	}
	assert_null(probe_json_object(NULL, 3));
	/* Past the response cap: not parsed at all. */
	big = calloc(1, (size_t)LIM_PROBE_MAX_RESPONSE + 2);
	assert_non_null(big);
	memset(big, ' ', (size_t)LIM_PROBE_MAX_RESPONSE + 1);
	big[0] = '{';
	big[LIM_PROBE_MAX_RESPONSE] = '}';
	assert_null(probe_json_object(big, (size_t)LIM_PROBE_MAX_RESPONSE + 1));
	free(big);
}

static void
test_json_members(void **state)
{
	static const char doc[] = "{\"s\":\"v\",\"e\":\"\",\"n\":1,"
	    "\"k\":\"secret\"}";
	json_object *o = probe_json_object(doc, sizeof(doc) - 1);

	(void)state;
	assert_non_null(o);
	assert_string_equal(probe_json_string(o, "s"), "v");
	assert_string_equal(probe_json_string(o, "e"), "");
	assert_null(probe_json_string(o, "n"));
	assert_null(probe_json_string(o, "missing"));
	assert_null(probe_json_string(NULL, "s"));
	assert_string_equal(probe_json_nonempty(o, "s"), "v");
	assert_null(probe_json_nonempty(o, "e"));
	assert_null(probe_json_nonempty(o, "n"));
	probe_json_wipe(o, "k");
	assert_memory_equal(probe_json_string(o, "k"), "\0\0\0\0\0\0", 6);
	probe_json_wipe(o, "missing");
	probe_json_wipe(NULL, "k");
	json_object_put(o);
}

static void
test_code_copy(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "invalid_grant", "invalid_grant" },
		{ "storage.quota-1", "storage.quota-1" },
		{ "has space", "" },
		{ "<b>x</b>", "" },
		{ "", "" },
		{ NULL, "" },
		/* 39 bytes fit, 40 do not */
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "" },
	};
	char out[PROBE_CODE_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		probe_code_copy(cases[i].in, out);
		assert_string_equal(out, cases[i].want);
	}
}

static void
test_google_reason(void **state)
{
	static const struct {
		const char *body, *want;
	} cases[] = {
		{ "{\"error\":{\"code\":403,\"message\":\"Nope (prose)\","
		  "\"errors\":[{\"reason\":\"forbidden\",\"message\":\"x\"}]}}",
		  "forbidden" },
		{ "{\"error\":{\"errors\":[]}}", "" },
		{ "{\"error\":{\"errors\":[{\"reason\":\"two words\"}]}}", "" },
		{ "{\"error\":\"invalid_grant\"}", "" },
		{ "<html>Not Found</html>", "" },
	};
	struct probe_xfer x;
	char out[PROBE_CODE_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		answer(&x, cases[i].body);
		probe_google_reason(&x, out);
		assert_string_equal(out, cases[i].want);
	}
}

static void
test_visible(void **state)
{
	(void)state;
	assert_true(probe_visible("ya29.abc-_~+/=", 64));
	assert_true(probe_visible("abcd", 4));
	assert_false(probe_visible("abcde", 4));
	assert_false(probe_visible("", 4));
	assert_false(probe_visible(NULL, 4));
	assert_false(probe_visible("a b", 4));
	assert_false(probe_visible("a\r\n", 4));
	assert_false(probe_visible("\xc3\xa9", 4));
}

static void
test_strings(void **state)
{
	static const struct {
		const char *configured, *want;
	} bases[] = {
		{ "http://127.0.0.2:18998/google/", "http://127.0.0.2:18998/google" },
		{ "https://graph.example/v1.0//", "https://graph.example/v1.0" },
		{ "https://api.example", "https://api.example" },
		{ "", "https://default.example" },
		{ NULL, "https://default.example" },
	};
	char *s;
	size_t i;

	(void)state;
	s = probe_concat("a", NULL, "bc", "");
	assert_string_equal(s, "abc");
	free(s);
	s = probe_concat(NULL, NULL, NULL, NULL);
	assert_string_equal(s, "");
	free(s);
	for (i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		s = probe_base_url(bases[i].configured,
		    "https://default.example/");
		assert_string_equal(s, bases[i].want);
		free(s);
	}
	assert_true(probe_plain_http("HTTP://x"));
	assert_false(probe_plain_http("https://x"));
	assert_false(probe_plain_http(NULL));
	s = probe_bearer_line("tok");
	assert_string_equal(s, "Authorization: Bearer tok");
	wipe_str_free(s);
	wipe_str_free(NULL);
}

static void
test_oauth_bearer(void **state)
{
	static const struct {
		const char *config;
		const char *line;        /* NULL: refused */
		const char *detail;
	} cases[] = {
		{ "{\"_oauth\":{\"accessToken\":\"ya29.t\"}}",
		  "Authorization: Bearer ya29.t", NULL },
		{ "{}", NULL, "not authorized yet" },
		{ "{\"_oauth\":{}}", NULL, "not authorized yet" },
		{ "{\"_oauth\":{\"accessToken\":\"a b\"}}", NULL,
		  "unusable: authorize again" },
		{ "{\"_oauth\":{\"accessToken\":\"0123456789\"}}", NULL,
		  "unusable" },
	};
	struct probe_result r;
	json_object *config;
	char *line;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = fresh;
		config = json_tokener_parse(cases[i].config);
		assert_non_null(config);
		line = probe_oauth_bearer(&r, config, 8);
		if (cases[i].line != NULL) {
			assert_string_equal(line, cases[i].line);
			assert_int_equal(r.nchecks, 0);
		} else {
			assert_null(line);
			assert_int_equal(r.failed, CHECK_AUTH);
			assert_non_null(strstr(r.checks[0].detail,
			    cases[i].detail));
		}
		wipe_str_free(line);
		json_object_put(config);
	}
}

static void
test_status_sentences(void **state)
{
	struct probe_result r;
	char buf[96];

	(void)state;
	assert_string_equal(probe_status_text(buf, sizeof(buf), 500,
	    "InternalError"), "HTTP 500 (InternalError)");
	assert_string_equal(probe_status_text(buf, sizeof(buf), 404, ""),
	    "HTTP 404");
	r = fresh;
	probe_fail_answer(&r, CHECK_WRITE, "OneDrive", 500, "generalException",
	    "uploading the probe object");
	assert_int_equal(r.failed, CHECK_WRITE);
	assert_string_equal(r.checks[0].detail, "OneDrive answered HTTP 500 "
	    "(generalException) while uploading the probe object");
	r = fresh;
	probe_fail_answer(&r, CHECK_READ, "the server", 503, "", "reading");
	assert_string_equal(r.checks[0].detail,
	    "the server answered HTTP 503 while reading");
}

static void
test_upload_and_read_back(void **state)
{
	static const unsigned char data[4] = { 'a', 'b', 0, 'c' };
	struct probe_result r;
	struct probe_xfer x;
	char *esc = NULL;

	(void)state;
	r = fresh;
	answer(&x, "{\"id\":\"1 a/b\"}");
	assert_false(probe_record_upload(&r, &x, 256, 64, "n", "no id", &esc));
	assert_null(esc);
	assert_string_equal(r.checks[0].detail, "no id");
	r = fresh;
	answer(&x, "{\"id\":\"0B-x/y\"}");
	assert_true(probe_record_upload(&r, &x, 256, 64, ".backupd-probe-1",
	    "no id", &esc));
	assert_string_equal(esc, "0B-x%2Fy");
	curl_free(esc);
	assert_true(r.ok);
	assert_string_equal(r.checks[0].detail,
	    "uploaded a 64-byte probe object '.backupd-probe-1'");

	r = fresh;
	memset(&x, 0, sizeof(x));
	x.body = (char *)"ab\0c";
	x.len = 4;
	assert_true(probe_read_back(&r, &x, data, sizeof(data)));
	assert_string_equal(r.checks[0].detail,
	    "read the probe object back intact");
	x.len = 3;
	assert_false(probe_read_back(&r, &x, data, sizeof(data)));
	assert_int_equal(r.failed, CHECK_READ);
	assert_string_equal(r.checks[1].detail,
	    "the probe object read back differs from what was written");
}

static void
test_record_delete(void **state)
{
	static const struct {
		bool record;
		CURLcode cc;
		long status;
		int nchecks, nwarnings;
		const char *detail;
	} cases[] = {
		{ true, CURLE_OK, 204, 1, 0, "deleted the probe object" },
		{ true, CURLE_OK, 200, 1, 0, "deleted the probe object" },
		{ true, CURLE_OK, 404, 1, 0,
		  "the probe object was already gone" },
		{ true, CURLE_OK, 403, 1, 1,
		  "the probe object was kept: deleting it failed" },
		{ true, CURLE_COULDNT_CONNECT, 0, 1, 1,
		  "the probe object was kept: deleting it failed" },
		{ false, CURLE_OK, 204, 0, 0, NULL },
		{ false, CURLE_OK, 500, 0, 1, NULL },
	};
	struct probe_result r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = fresh;
		probe_record_delete(&r, cases[i].record, cases[i].cc,
		    cases[i].status, "obj", "/f");
		assert_true(r.ok);
		assert_int_equal(r.nchecks, cases[i].nchecks);
		assert_int_equal(r.nwarnings, cases[i].nwarnings);
		if (cases[i].detail != NULL)
			assert_string_equal(r.checks[0].detail,
			    cases[i].detail);
		if (cases[i].nwarnings > 0)
			assert_string_equal(r.warnings[0], "the probe object "
			    "'obj' in folder '/f' could not be deleted; remove "
			    "it by hand");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_object),
		cmocka_unit_test(test_json_members),
		cmocka_unit_test(test_code_copy),
		cmocka_unit_test(test_google_reason),
		cmocka_unit_test(test_visible),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_oauth_bearer),
		cmocka_unit_test(test_status_sentences),
		cmocka_unit_test(test_upload_and_read_back),
		cmocka_unit_test(test_record_delete),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
