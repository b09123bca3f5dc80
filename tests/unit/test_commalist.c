/* Unit tests for lib/commalist.c: splitting, trimming, empty items. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "commalist.h"

/* The items of list joined by '|', e.g. "a||b" for "a,,b". */
static void
joined(const char *list, char *out, size_t outsz)
{
	const char *cur = list, *item;
	size_t len, o = 0;
	int first = 1;

	out[0] = '\0';
	while (commalist_next(&cur, &item, &len)) {
		assert_true(o + len + 2 < outsz);
		if (!first)
			out[o++] = '|';
		memcpy(out + o, item, len);
		o += len;
		out[o] = '\0';
		first = 0;
	}
}

static void
test_split(void **state)
{
	static const struct {
		const char *list, *items;
		int any;
	} cases[] = {
		{ "a", "a", 1 },
		{ "a,b", "a|b", 1 },
		{ " a , b\t,\tc ", "a|b|c", 1 },
		{ "10.0.0.0/8,\r\n192.168.0.0/16\n", "10.0.0.0/8|192.168.0.0/16",
		    1 },
		/* Every comma separates: empty items are reported. */
		{ "", "", 0 },
		{ "   ", "", 0 },
		{ ",", "|", 0 },
		{ " , ", "|", 0 },
		{ "a,", "a|", 1 },
		{ ",a", "|a", 1 },
		{ "a,,b", "a||b", 1 },
		/* Inner white space belongs to the item. */
		{ "/srv/back up , /x", "/srv/back up|/x", 1 },
	};
	char out[128];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		joined(cases[i].list, out, sizeof(out));
		if (strcmp(out, cases[i].items) != 0)
			fail_msg("'%s': '%s'", cases[i].list, out);
		if (commalist_any(cases[i].list) != (bool)cases[i].any)
			fail_msg("'%s': any", cases[i].list);
	}
}

/* The empty string is one (empty) item; NULL has none. */
static void
test_counts(void **state)
{
	const char *cur, *item = NULL;
	size_t len = 99, n;

	cur = "";
	assert_true(commalist_next(&cur, &item, &len));
	assert_int_equal(len, 0);
	assert_false(commalist_next(&cur, &item, &len));
	cur = NULL;
	item = NULL;
	assert_false(commalist_next(&cur, &item, &len));
	assert_null(item);
	assert_false(commalist_any(NULL));
	cur = "a,b,c,d";
	for (n = 0; commalist_next(&cur, &item, &len); n++)
		assert_int_equal(len, 1);
	assert_int_equal(n, 4);
	/* Items point into the list. */
	cur = "xy, zw";
	assert_true(commalist_next(&cur, &item, &len));
	assert_true(commalist_next(&cur, &item, &len));
	assert_int_equal(len, 2);
	assert_int_equal(strncmp(item, "zw", 2), 0);
	assert_null(cur);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_counts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
