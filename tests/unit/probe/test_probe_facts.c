/*
 * lib/probe/probe_facts.c: byte counts as JSON integers or Google's int64
 * strings, and which account value is shown (only text that
 * probe_banner_clean leaves unchanged: json-c passes any bytes through)
 * (issue 9 items 3, 4).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "probe/probe.h"
#include "probe/probe_facts.h"

static void
test_bytes(void **state)
{
	static const struct {
		const char *member;
		int64_t want;
	} cases[] = {
		{ "0", 0 },
		{ "5368709120", 5368709120LL },
		{ "\"16106127360\"", 16106127360LL },
		{ "\"0\"", 0 },
		{ "\"999999999999999999\"", 999999999999999999LL },
		{ "9223372036854775806", 9223372036854775806LL },
		{ "\"9999999999999999999\"", -1 },     /* 19 digits */
		{ "9223372036854775807", -1 },         /* INT64_MAX */
		{ "18446744073709551615", -1 },
		{ "-1", -1 },
		{ "\"-1\"", -1 },
		{ "\"+1\"", -1 },
		{ "\" 1\"", -1 },
		{ "\"12a\"", -1 },
		{ "\"\"", -1 },
		{ "1.5", -1 },
		{ "1e9", -1 },
		{ "null", -1 },
		{ "true", -1 },
		{ "{}", -1 },
	};
	char body[128];
	json_object *o;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(body, sizeof(body), "{\"n\":%s}", cases[i].member);
		o = json_tokener_parse(body);
		assert_non_null(o);
		assert_true(probe_facts_bytes(o, "n") == cases[i].want);
		assert_true(probe_facts_bytes(o, "other") == -1);
		json_object_put(o);
	}
	assert_true(probe_facts_bytes(NULL, "n") == -1);
}

static void
test_account(void **state)
{
	static const struct {
		const char *email, *name, *want;
	} cases[] = {
		{ "ada@example.com", "Ada Lovelace", "ada@example.com" },
		{ NULL, "Ada Lovelace", "Ada Lovelace" },
		{ "", "J\xc3\xbcrgen", "J\xc3\xbcrgen" },
		{ "not an address", "Ada", "Ada" },
		{ "ada@", "Ada", "Ada" },
		{ "@example.com", "Ada", "Ada" },
		{ "ada@exa\tmple.com", "Ada", "Ada" },
		{ "ada@example.com\n", NULL, NULL },
		{ NULL, "Ada\x1b[31m", NULL },
		{ NULL, "", NULL },
		/* not UTF-8: truncated, surrogate, overlong, past U+10FFFF,
		 * a stray continuation byte */
		{ "ada@ex\xc3", "J\xc3\xbc", "J\xc3\xbc" },
		{ NULL, "a\xed\xa0\x80", NULL },
		{ NULL, "a\xc0\xaf", NULL },
		{ NULL, "a\xe0\x80\xaf", NULL },
		{ NULL, "a\xf4\x90\x80\x80", NULL },
		{ NULL, "a\x80", NULL },
		{ NULL, "\xf0\x9f\x98\x80 Ada", "\xf0\x9f\x98\x80 Ada" },
		/* what probe_banner_clean would change: a bidirectional
		 * override (U+202E), a C1 control (U+0085), doubled or
		 * surrounding spaces */
		{ NULL, "Ada \xe2\x80\xae" "ecalevol", NULL },
		{ NULL, "Ada\xc2\x85", NULL },
		{ NULL, "Ada  Lovelace", NULL },
		{ "ada@example.com", " Ada", "ada@example.com" },
		{ NULL, "Ada ", NULL },
		{ NULL, NULL, NULL },
	};
	struct probe_result r;
	json_object *v;
	char longer[LIM_PROBE_BANNER_MAX + 2];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&r, 0, sizeof(r));
		assert_int_equal(probe_facts_account(&r, cases[i].email,
		    cases[i].name), cases[i].want != NULL);
		if (cases[i].want == NULL) {
			assert_null(r.observed);
			continue;
		}
		assert_true(json_object_object_get_ex(r.observed, "account",
		    &v));
		assert_string_equal(json_object_get_string(v), cases[i].want);
		assert_int_equal(json_object_object_length(r.observed), 1);
		probe_result_clear(&r);
	}
	/* At most LIM_PROBE_BANNER_MAX bytes, shown whole or not at all. */
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	longer[10] = '@';
	assert_false(probe_facts_account_ok(longer, true));
	longer[LIM_PROBE_BANNER_MAX] = '\0';
	assert_true(probe_facts_account_ok(longer, true));
	assert_true(probe_facts_account_ok(longer, false));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_account),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
