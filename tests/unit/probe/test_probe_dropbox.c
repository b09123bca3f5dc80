/*
 * lib/probe/probe_dropbox.c: the Dropbox-API-Arg header's JSON escaping,
 * the error codes read from Dropbox error documents, the folder path, the
 * space of a get_space_usage answer (issue 9), and the probe's refusal
 * without a token (no network).
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

static void
test_space(void **state)
{
	/* users/get_space_usage (SpaceUsage, SpaceAllocation,
	 * TeamSpaceAllocation). */
	static const struct {
		const char *body;
		int64_t total, used, free;
	} cases[] = {
		{ "{\"used\":314159265,\"allocation\":{\".tag\":"
		    "\"individual\",\"allocated\":10000000000}}",
		    10000000000LL, 314159265, 9685840735LL },
		{ "{\"used\":3,\"allocation\":{\".tag\":\"individual\","
		    "\"allocated\":2}}", 2, 3, 0 },
		/* Team pool, no member limit: the team's numbers. */
		{ "{\"used\":1000,\"allocation\":{\".tag\":\"team\","
		    "\"used\":27000000000,\"allocated\":100000000000,"
		    "\"user_within_team_space_allocated\":0,"
		    "\"user_within_team_space_limit_type\":{\".tag\":\"off\"},"
		    "\"user_within_team_space_used_cached\":1000}}",
		    100000000000LL, 27000000000LL, 73000000000LL },
		/* A member limit that stops uploads: the member's numbers. */
		{ "{\"used\":4000,\"allocation\":{\".tag\":\"team\","
		    "\"used\":27000,\"allocated\":100000,"
		    "\"user_within_team_space_allocated\":10000,"
		    "\"user_within_team_space_limit_type\":{\".tag\":"
		    "\"stop_sync\"}}}", 10000, 4000, 6000 },
		/* ... capped by what is left of the pool. */
		{ "{\"used\":4000,\"allocation\":{\".tag\":\"team\","
		    "\"used\":98000,\"allocated\":100000,"
		    "\"user_within_team_space_allocated\":10000}}", 10000, 4000,
		    2000 },
		/* The member's own use unknown: no free space (found by
		 * fuzz_quota_answer: the pool's is not the member's). */
		{ "{\"allocation\":{\".tag\":\"team\",\"used\":27000,"
		    "\"allocated\":100000,\"user_within_team_space_allocated\":"
		    "10000}}", 10000, -1, -1 },
		/* A limit that only alerts does not count. */
		{ "{\"used\":4000,\"allocation\":{\".tag\":\"team\","
		    "\"used\":27000,\"allocated\":100000,"
		    "\"user_within_team_space_allocated\":10000,"
		    "\"user_within_team_space_limit_type\":{\".tag\":"
		    "\"alert_only\"}}}", 100000, 27000, 73000 },
		/* An allocation this code does not know: used only. */
		{ "{\"used\":7,\"allocation\":{\".tag\":\"other\"}}", -1, 7,
		    -1 },
		{ "{\"used\":\"7\"}", -1, 7, -1 },
		{ "{\"used\":-7,\"allocation\":{\".tag\":\"individual\","
		    "\"allocated\":10}}", 10, -1, -1 },
		{ "{}", -1, -1, -1 },
	};
	json_object *o;
	int64_t total, used, avail;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		o = json_tokener_parse(cases[i].body);
		assert_non_null(o);
		dropbox_space(o, &total, &used, &avail);
		assert_true(total == cases[i].total);
		assert_true(used == cases[i].used);
		assert_true(avail == cases[i].free);
		json_object_put(o);
	}
	dropbox_space(NULL, &total, &used, &avail);
	assert_true(total == -1 && used == -1 && avail == -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_json),
		cmocka_unit_test(test_error_code),
		cmocka_unit_test(test_folder),
		cmocka_unit_test(test_space),
		cmocka_unit_test(test_no_token),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
