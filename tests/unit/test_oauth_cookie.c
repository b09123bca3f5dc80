/* Unit tests for lib/oauth_cookie.c: the OAuth browser-binding cookie. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "oauth_cookie.h"

static void
test_new_and_header(void **state)
{
	char v1[OAUTH_COOKIE_VALUE_LEN + 1], v2[OAUTH_COOKIE_VALUE_LEN + 1];
	unsigned char h1[OAUTH_COOKIE_HASH_LEN], h2[OAUTH_COOKIE_HASH_LEN];
	unsigned char want[OAUTH_COOKIE_HASH_LEN];
	char hdr[256], want_hdr[256];

	(void)state;
	oauth_cookie_new(v1, h1);
	oauth_cookie_new(v2, h2);
	assert_int_equal(strlen(v1), OAUTH_COOKIE_VALUE_LEN);
	assert_string_not_equal(v1, v2);
	crypto_hash_sha256(want, (const unsigned char *)v1, strlen(v1));
	assert_memory_equal(h1, want, sizeof(want));

	assert_true(oauth_cookie_header(hdr, sizeof(hdr), v1, false));
	snprintf(want_hdr, sizeof(want_hdr), "backupd_oauth=%s; Max-Age=600; "
	    "Path=/backup-destinations/oauth/callback; HttpOnly; "
	    "SameSite=Lax", v1);
	assert_string_equal(hdr, want_hdr);
	assert_true(oauth_cookie_header(hdr, sizeof(hdr), v1, true));
	assert_non_null(strstr(hdr, "; Secure"));
	assert_false(oauth_cookie_header(hdr, 40, v1, false));
	assert_false(oauth_cookie_header(hdr, sizeof(hdr), "x;y", false));
	assert_false(oauth_cookie_header(hdr, sizeof(hdr), NULL, false));
	assert_non_null(strstr(oauth_cookie_clear_header(true), "Max-Age=0"));
	assert_non_null(strstr(oauth_cookie_clear_header(true), "Secure"));
	assert_null(strstr(oauth_cookie_clear_header(false), "Secure"));
}

static void
test_https(void **state)
{
	(void)state;
	assert_true(oauth_cookie_https("on"));
	assert_true(oauth_cookie_https("ON"));
	assert_true(oauth_cookie_https("1"));
	assert_false(oauth_cookie_https(NULL));
	assert_false(oauth_cookie_https(""));
	assert_false(oauth_cookie_https("off"));
	assert_false(oauth_cookie_https("Off"));
}

static void
test_matches(void **state)
{
	char v[OAUTH_COOKIE_VALUE_LEN + 1], o[OAUTH_COOKIE_VALUE_LEN + 1];
	unsigned char h[OAUTH_COOKIE_HASH_LEN], oh[OAUTH_COOKIE_HASH_LEN];
	char hdr[512];
	/* pre + value + post; value: 'v' the right one, 'o' another, 't' the
	 * right one less its last character, '-' none. */
	static const struct {
		const char *pre;
		char value;
		const char *post;
		bool match;
	} cases[] = {
		{"backupd_oauth=", 'v', "", true},
		{"a=1; backupd_oauth=", 'v', "; b=2", true},
		{"a=1;backupd_oauth=", 'v', "", true},
		{"backupd_oauth=\"", 'v', "\"", true},
		{"backupd_oauth=", 'v', " ", true},
		/* a foreign cookie of the same name first */
		{"backupd_oauth=xyz; backupd_oauth=", 'v', "", true},
		{"backupd_oauth=", 'o', "", false},
		{"Backupd_oauth=", 'v', "", false},
		{"xbackupd_oauth=", 'v', "", false},
		{"backupd_oauth =", 'v', "", false},
		{"backupd_oauth=", 'v', "x", false},
		{"backupd_oauth=", 't', "", false},
		{"backupd_oauth=", '-', "", false},
		{"backupd_oauth", '-', "", false},
		{"", '-', "", false},
	};
	size_t i;

	(void)state;
	oauth_cookie_new(v, h);
	oauth_cookie_new(o, oh);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(hdr, sizeof(hdr), "%s%.*s%s", cases[i].pre,
		    cases[i].value == '-' ? 0 : cases[i].value == 't' ?
		    OAUTH_COOKIE_VALUE_LEN - 1 : OAUTH_COOKIE_VALUE_LEN,
		    cases[i].value == 'o' ? o : v, cases[i].post);
		if (oauth_cookie_matches(hdr, h, sizeof(h)) != cases[i].match)
			fail_msg("case %zu: '%s'", i, hdr);
	}
	snprintf(hdr, sizeof(hdr), "backupd_oauth=%s", v);
	assert_false(oauth_cookie_matches(hdr, oh, sizeof(oh)));
	assert_false(oauth_cookie_matches(hdr, h, sizeof(h) - 1));
	assert_false(oauth_cookie_matches(hdr, NULL, sizeof(h)));
	assert_false(oauth_cookie_matches(NULL, h, sizeof(h)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_and_header),
		cmocka_unit_test(test_https),
		cmocka_unit_test(test_matches),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
