/*
 * lib/probe/probe_banner.c: what a server's banner may leave in
 * observed.serverSoftware. Fixed cases, then random bytes (a small fuzz run
 * inside the unit test) against the properties: valid UTF-8, no control or
 * direction character, no leading/trailing/double space, at most
 * LIM_PROBE_BANNER_MAX bytes, and nothing printable lost below the cap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "probe/probe_banner.h"

static void
test_cases(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "OpenSSH_9.2p1 Debian-2+deb12u3", "OpenSSH_9.2p1 Debian-2+deb12u3" },
		{ "(vsFTPd 3.0.3)\r\n", "(vsFTPd 3.0.3)" },
		{ "  Apache/2.4.62 (Debian)  ", "Apache/2.4.62 (Debian)" },
		{ "a\r\nb\tc\x1b[31md", "a b c [31md" },
		{ "a \x01\x02 \x7f b", "a b" },
		{ "caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac" },
		/* Invalid UTF-8: a lone continuation byte, an overlong '/', a
		 * surrogate, a truncated sequence. */
		{ "a\x80z", "a z" },
		{ "a\xc0\xafz", "a z" },
		{ "a\xed\xa0\x80z", "a z" },
		{ "az\xe2\x82", "az" },
		/* C1 NEL, line separator, right-to-left override, BOM. */
		{ "a\xc2\x85z", "a z" },
		{ "a\xe2\x80\xa8z", "a z" },
		{ "evil\xe2\x80\xaegnp.exe", "evil gnp.exe" },
		{ "\xef\xbb\xbfx", "x" },
		{ "\"quoted\" \\ {json}", "\"quoted\" \\ {json}" },
		{ "", "" },
		{ "\r\n\t ", "" },
	};
	char out[LIM_PROBE_BANNER_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = probe_banner_clean(out, sizeof(out), cases[i].in,
		    strlen(cases[i].in));
		print_message("case %zu\n", i);
		assert_string_equal(out, cases[i].out);
		assert_int_equal(n, strlen(cases[i].out));
	}
	/* A NUL inside the text is a control character like the others. */
	assert_int_equal(probe_banner_clean(out, sizeof(out), "a\0b", 3), 3);
	assert_string_equal(out, "a b");
	assert_int_equal(probe_banner_clean(out, sizeof(out), NULL, 5), 0);
	assert_int_equal(probe_banner_clean(out, 0, "x", 1), 0);
	assert_int_equal(probe_banner_clean(out, 1, "x", 1), 0);
	assert_string_equal(out, "");
}

static void
test_cap(void **state)
{
	char in[300], out[LIM_PROBE_BANNER_MAX + 50];
	size_t n;

	(void)state;
	memset(in, 'x', sizeof(in));
	n = probe_banner_clean(out, sizeof(out), in, sizeof(in));
	assert_int_equal(n, LIM_PROBE_BANNER_MAX);
	assert_int_equal(strlen(out), LIM_PROBE_BANNER_MAX);
	/* A smaller buffer caps earlier. */
	assert_int_equal(probe_banner_clean(out, 8, in, sizeof(in)), 7);
	/* Never half a character: 99 ASCII bytes then a 2-byte one. */
	memset(in, 'y', 99);
	memcpy(in + 99, "\xc3\xa9zz", 4);
	n = probe_banner_clean(out, sizeof(out), in, 103);
	assert_int_equal(n, 99);
	/* No trailing space when the cap falls on a gap. */
	memset(in, 'y', 99);
	memcpy(in + 99, " z", 2);
	n = probe_banner_clean(out, sizeof(out), in, 101);
	assert_int_equal(n, 99);
	assert_int_equal(out[98], 'y');
}

/* Properties of any output. */
static void
check_output(const char *out, size_t n)
{
	const unsigned char *s = (const unsigned char *)out;

	assert_true(n <= LIM_PROBE_BANNER_MAX);
	assert_int_equal(strlen(out), n);
	if (n > 0) {
		assert_true(s[0] != ' ');
		assert_true(s[n - 1] != ' ');
	}
	for (size_t i = 0; i < n; i++) {
		assert_true(s[i] >= 0x20 && s[i] != 0x7f);
		if (i > 0)
			assert_false(s[i] == ' ' && s[i - 1] == ' ');
	}
	/* Valid UTF-8 (json-c would otherwise pass the bytes through): the
	 * same function finds nothing to drop in its own output. */
	{
		char again[LIM_PROBE_BANNER_MAX + 1];
		assert_int_equal(probe_banner_clean(again, sizeof(again), out,
		    n), n);
		assert_memory_equal(again, out, n);
	}
}

static void
test_random(void **state)
{
	static const unsigned char alphabet[] = {
		'a', ' ', '\r', '\n', '\t', 0, 0x1b, 0x7f, 0x80, 0x85, 0xbf,
		0xc2, 0xc3, 0xe2, 0x80, 0xae, 0xa8, 0xed, 0xa0, 0xf0, 0x9f,
		0x98, 0x80, 0xf4, 0x90, 0xff, 0xfe, 0xef, 0xbb,
	};
	unsigned char in[400];
	char out[LIM_PROBE_BANNER_MAX + 1];

	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t len = randombytes_uniform(sizeof(in) + 1), n;

		randombytes_buf(in, len);
		/* Half the rounds from bytes that form (broken) sequences. */
		if (round % 2 == 0)
			for (size_t i = 0; i < len; i++)
				in[i] = alphabet[in[i] % sizeof(alphabet)];
		n = probe_banner_clean(out, sizeof(out), (const char *)in, len);
		check_output(out, n);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_random),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
