/* Unit tests for lib/uuid.c: UUIDv7 layout, ordering, uuid_valid(). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "uuid.h"

#define MANY 10000

static void
test_format(void **state)
{
	char id[UUID_STR_LEN + 1];
	size_t i, j;

	for (i = 0; i < 100; i++) {
		memset(id, 'x', sizeof(id));
		uuid_v7(id);
		assert_int_equal(strlen(id), UUID_STR_LEN);
		assert_true(uuid_valid(id));
		for (j = 0; j < UUID_STR_LEN; j++) {
			if (j == 8 || j == 13 || j == 18 || j == 23)
				assert_int_equal(id[j], '-');
			else
				assert_non_null(strchr("0123456789abcdef",
				    id[j]));
		}
		/* RFC 9562 §4.2: version nibble; §4.1: variant 10xx. */
		assert_int_equal(id[14], '7');
		assert_non_null(strchr("89ab", id[19]));
	}
}

/* The 48-bit timestamp is the current Unix time in milliseconds. */
static void
test_timestamp(void **state)
{
	char id[UUID_STR_LEN + 1], hex[13];
	unsigned long long ms, now;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (unsigned long long)ts.tv_sec * 1000 +
	    (unsigned long long)ts.tv_nsec / 1000000;
	uuid_v7(id);
	memcpy(hex, id, 8);
	memcpy(hex + 8, id + 9, 4);
	hex[12] = '\0';
	ms = strtoull(hex, NULL, 16);
	assert_true(ms + 5000 >= now && ms <= now + 5000);
}

/* Monotonic within the process, also within one millisecond. */
static void
test_increasing(void **state)
{
	char (*ids)[UUID_STR_LEN + 1];
	size_t i;

	assert_non_null(ids = calloc(MANY, sizeof(*ids)));
	for (i = 0; i < MANY; i++)
		uuid_v7(ids[i]);
	for (i = 1; i < MANY; i++)
		if (strcmp(ids[i - 1], ids[i]) >= 0)
			fail_msg("id %zu '%s' not after '%s'", i, ids[i],
			    ids[i - 1]);
	free(ids);
}

static void
test_valid(void **state)
{
	static const struct {
		const char *s;
		bool valid;
	} cases[] = {
		{"0190b6f4-6f3c-7a1e-8b2c-0123456789ab", true},
		{"0190B6F4-6F3C-7A1E-8B2C-0123456789AB", true},
		{"00000000-0000-0000-0000-000000000000", true},
		{"123e4567-e89b-12d3-a456-426614174000", true},
		{"ffffffff-ffff-ffff-ffff-ffffffffffff", true},
		{"", false},
		{"0190b6f4-6f3c-7a1e-8b2c-0123456789a", false},
		{"0190b6f4-6f3c-7a1e-8b2c-0123456789abc", false},
		{"0190b6f46f3c7a1e8b2c0123456789ab", false},
		{"0190b6f4-6f3c-7a1e-8b2c0-123456789ab", false},
		{"0190b6f4_6f3c_7a1e_8b2c_0123456789ab", false},
		{"0190b6f4-6f3c-7a1e-8b2c-0123456789ag", false},
		{"g190b6f4-6f3c-7a1e-8b2c-0123456789ab", false},
		{"{0190b6f4-6f3c-7a1e-8b2c-0123456789ab}", false},
		{"urn:uuid:0190b6f4-6f3c-7a1e-8b2c-0123456789ab", false},
		{" 0190b6f4-6f3c-7a1e-8b2c-0123456789ab", false},
		{"0190b6f4-6f3c-7a1e-8b2c-0123456789ab ", false},
		{"0190b6f4-6f3c-7a1e-8b2c-0123456789ab\n", false},
		{"0190b6f4-6f3c-7a1e-8b2c-+123456789ab", false},
		{"../../../etc/passwd", false},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (uuid_valid(cases[i].s) != cases[i].valid)
			fail_msg("'%s': expected %s", cases[i].s,
			    cases[i].valid ? "valid" : "invalid");
	assert_false(uuid_valid(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_timestamp),
		cmocka_unit_test(test_increasing),
		cmocka_unit_test(test_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
