/* Unit tests for lib/clock.c: the clocks, and time text both ways. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "clock.h"

static void
test_clocks(void **state)
{
	long long a = clock_mono_ms(), b = clock_mono_ms(), now;
	struct timespec ts;

	assert_true(a > 0 && b >= a);
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (long long)ts.tv_sec * 1000;
	assert_true(clock_real_ms() >= now - 5000 &&
	    clock_real_ms() <= now + 5000);
}

static void
test_format(void **state)
{
	static const struct {
		long long ms;
		const char *rfc, *sql;
	} cases[] = {
		{ 0, "1970-01-01T00:00:00.000Z", "1970-01-01 00:00:00.000" },
		{ 1, "1970-01-01T00:00:00.001Z", "1970-01-01 00:00:00.001" },
		{ 1796040000123LL, "2026-11-30T12:00:00.123Z",
		    "2026-11-30 12:00:00.123" },
		/* 2024 is a leap year. */
		{ 1709208000999LL, "2024-02-29T12:00:00.999Z",
		    "2024-02-29 12:00:00.999" },
		{ 253402300799999LL, "9999-12-31T23:59:59.999Z",
		    "9999-12-31 23:59:59.999" },
		/* Negative ms round down: -1 is the last ms of 1969. */
		{ -1, "1969-12-31T23:59:59.999Z", "1969-12-31 23:59:59.999" },
		{ -1000, "1969-12-31T23:59:59.000Z",
		    "1969-12-31 23:59:59.000" },
		/* Past year 9999 RFC 3339 has no form: the epoch. */
		{ 253402300800000LL, "1970-01-01T00:00:00.000Z",
		    "1970-01-01 00:00:00.000" },
		{ 9223372036854775807LL, "1970-01-01T00:00:00.000Z",
		    "1970-01-01 00:00:00.000" },
	};
	char out[CLOCK_TEXT_MAX];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 'x', sizeof(out));
		clock_format_ms(cases[i].ms, CLOCK_RFC3339, out);
		if (strcmp(out, cases[i].rfc) != 0)
			fail_msg("%lld: '%s'", cases[i].ms, out);
		clock_format_ms(cases[i].ms, CLOCK_SQL, out);
		if (strcmp(out, cases[i].sql) != 0)
			fail_msg("%lld: '%s'", cases[i].ms, out);
	}
}

static void
test_parse(void **state)
{
	static const struct {
		const char *in;
		long long ms;
	} good[] = {
		{ "1970-01-01T00:00:00.000Z", 0 },
		{ "2026-11-30T12:00:00.123Z", 1796040000123LL },
		{ "2026-11-30 12:00:00.123", 1796040000123LL },
		{ "2026-11-30t12:00:00.123z", 1796040000123LL },
		/* The database's %f: microseconds, cut (not rounded). */
		{ "2026-11-30T12:00:00.123999", 1796040000123LL },
		{ "2026-11-30T12:00:00.123456789Z", 1796040000123LL },
		{ "2026-11-30T12:00:00.1", 1796040000100LL },
		{ "2026-11-30T12:00:00", 1796040000000LL },
		{ "2026-11-30T12:00:00Z", 1796040000000LL },
		{ "2024-02-29T00:00:00Z", 1709164800000LL },
		{ "1969-12-31T23:59:59.999Z", -1 },
	};
	static const char *bad[] = {
		"", "2026", "2026-11-30", "2026-11-30T12:00",
		"2026-11-30T12:00:00.", "2026-11-30T12:00:00.1234567890",
		"2026-11-30T12:00:00+01:00", "2026-11-30T12:00:00Zjunk",
		"2026-11-30T12:00:00.123Z ", " 2026-11-30T12:00:00Z",
		"2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z",
		"2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z",
		"2026-11-31T00:00:00Z", "2026-11-30T24:00:00Z",
		"2026-11-30T12:60:00Z", "2026-11-30T12:00:60Z",
		"2026/11/30T12:00:00Z", "2026-11-30X12:00:00Z",
		"2026-1-30T12:00:00Z", "+026-11-30T12:00:00Z",
	};
	long long ms;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ms = 42;
		if (!clock_parse_ms(good[i].in, &ms) || ms != good[i].ms)
			fail_msg("'%s': %lld", good[i].in, ms);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms = 42;
		if (clock_parse_ms(bad[i], &ms) || ms != 42)
			fail_msg("'%s' accepted", bad[i]);
	}
	assert_false(clock_parse_ms(NULL, &ms));
}

/* Text written by one form parses back to the same instant. */
static void
test_round_trip(void **state)
{
	char out[CLOCK_TEXT_MAX];
	long long ms, back;

	for (ms = -86400000LL * 400; ms < 4102444800000LL;
	    ms += 86400000LL * 37 + 3600000 * 5 + 60000 * 7 + 1234 + 1) {
		clock_format_ms(ms, CLOCK_RFC3339, out);
		assert_true(clock_parse_ms(out, &back));
		assert_true(back == ms);
		clock_format_ms(ms, CLOCK_SQL, out);
		assert_true(clock_parse_ms(out, &back));
		assert_true(back == ms);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clocks),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
