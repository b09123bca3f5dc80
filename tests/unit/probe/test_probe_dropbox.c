/*
 * lib/probe/probe_dropbox.c: the Dropbox-API-Arg header's JSON escaping,
 * the error codes read from Dropbox error documents, the folder path, and
 * the probe's refusal without a token (no network).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "probe/probe.h"
#include "probe/probe_dropbox.h"

static void
test_header_json(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "{\"path\":\"/a b\"}", "{\"path\":\"/a b\"}" },
		{ "", "" },
		{ "\xc3\xa4", "\\u00e4" },
		{ "\xe2\x98\x83", "\\u2603" },
		{ "\xf0\x9f\x98\x80", "\\ud83d\\ude00" },
		{ "a\x7f" "b", "a\\u007fb" },
		{ "/B\xc3\xa4" "ckups", "/B\\u00e4ckups" },
		/* invalid UTF-8: truncated, stray continuation, overlong,
		 * surrogate, above U+10FFFF */
		{ "\xc3", NULL },
		{ "\x80", NULL },
		{ "\xc0\xaf", NULL },
		{ "\xed\xa0\x80", NULL },
		{ "\xf4\x90\x80\x80", NULL },
	};
	size_t i;
	char *s;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = dropbox_header_json(cases[i].in);
		if (cases[i].out == NULL) {
			assert_null(s);
			continue;
		}
		assert_non_null(s);
		assert_string_equal(s, cases[i].out);
		free(s);
	}
}

static void
test_error_code(void **state)
{
	static const struct {
		const char *body, *code;
	} cases[] = {
		{ "{\"error_summary\":\"path/not_found/..\",\"error\":{\".tag\":"
		    "\"path\",\"path\":{\".tag\":\"not_found\"}}}",
		    "path/not_found" },
		{ "{\"error_summary\":\"path/no_write_permission/...\"}",
		    "path/no_write_permission" },
		{ "{\"error_summary\":\"expired_access_token/..\",\"error\":"
		    "{\".tag\":\"expired_access_token\"}}",
		    "expired_access_token" },
		{ "{\"error_summary\":\"path_lookup/not_found/.\"}",
		    "path_lookup/not_found" },
		{ "{\"error_summary\":\"path/conflict/file/more/..\"}",
		    "path/conflict/file" },
		/* A localised message after the codes is never kept. */
		{ "{\"error_summary\":\"other/Something went wrong {x}\"}",
		    "other" },
		{ "{\"error_summary\":\"<b>x</b>/y\"}", "" },
		/* Without a summary: the .tag chain. */
		{ "{\"error\":{\".tag\":\"path\",\"path\":{\".tag\":"
		    "\"insufficient_space\"}}}", "path/insufficient_space" },
		{ "{\"error\":{\".tag\":\"path\",\"path\":{\"reason\":{}}}}",
		    "path" },
		{ "{\"error\":\"invalid_grant\"}", "" },
		{ "Error in call to API function", "" },
		{ "", "" },
	};
	char out[PROBE_CODE_MAX * 3];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		dropbox_error_code(cases[i].body, strlen(cases[i].body), out);
		if (strcmp(out, cases[i].code) != 0)
			print_message("case %zu: '%s'\n", i, out);
		assert_string_equal(out, cases[i].code);
	}
}

static void
test_folder(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ NULL, "" }, { "/", "" }, { "//", "" }, { "/a", "/a" },
		{ "/a//b/", "/a/b" }, { "a", "/a" }, { "/B\xc3\xa4 x", "/B\xc3\xa4 x" },
		{ "/a/../b", NULL }, { "/./", NULL }, { "/..", NULL },
		{ "/...", "/..." },
	};
	char out[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool ok = dropbox_folder(cases[i].in, out, sizeof(out));
		assert_int_equal(ok, cases[i].out != NULL);
		if (ok)
			assert_string_equal(out, cases[i].out);
	}
	assert_false(dropbox_folder("/abcdef", out, 4));
}

static void
test_no_token(void **state)
{
	struct cfg c;
	struct egress e;
	struct probe_env env;
	struct probe_result res;
	char err[128];
	json_object *o = json_tokener_parse("{\"folderPath\":\"/x\"}");

	(void)state;
	memset(&c, 0, sizeof(c));
	c.probe_timeout = 5;
	assert_int_equal(egress_init(&e, NULL, NULL, err, sizeof(err)), BD_OK);
	env.cfg = &c;
	env.egress = &e;
	env.deadline_ms = clock_mono_ms() + 5000;
	probe_run(probe_dropbox, &env, o, &res);
	assert_false(res.ok);
	assert_int_equal(res.failed, CHECK_AUTH);
	probe_result_clear(&res);
	egress_free(&e);
	json_object_put(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_json),
		cmocka_unit_test(test_error_code),
		cmocka_unit_test(test_folder),
		cmocka_unit_test(test_no_token),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
