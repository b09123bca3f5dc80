/* The store's pure parts: the exact org comparison every row read back
 * passes (issue 13 item 1), and the timestamp format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "store.h"

static void
test_org_exact(void **state)
{
	static const struct {
		const char *row;
		size_t len;
		bool want;
	} c[] = {
		{"acme", 4, true},
		{"acme ", 5, false},     /* PAD SPACE collations match this */
		{"acme\0", 5, false},    /* a NUL inside the value */
		{"acm", 3, false},
		{"ACME", 4, false},
		{"acme", 3, false},      /* length is what was read */
		{"", 0, false},
		{NULL, 0, false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		print_message("case %zu\n", i);
		assert_int_equal(store_org_exact("acme", c[i].row, c[i].len,
		    "id"), c[i].want);
	}
	assert_true(store_org_exact("", "", 0, NULL));
}

static void
test_format_ms(void **state)
{
	char out[32];

	(void)state;
	store_format_ms(1764990000123LL, out);
	assert_string_equal(out, "2025-12-06 03:00:00.123");
	store_format_ms(0, out);
	assert_string_equal(out, "1970-01-01 00:00:00.000");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_org_exact),
		cmocka_unit_test(test_format_ms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
