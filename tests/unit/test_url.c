/*
 * lib/url.c: the one URL parser (what it accepts and refuses, with and
 * without URL_QUERY / URL_STRICT_HOST, and the parts it gives back) and the
 * percent-coding helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "url.h"

#define Q URL_QUERY
#define S URL_STRICT_HOST
/* A refused input: nothing to compare but the error. */
#define NO(in, flags, err) { in, flags, err, NULL, NULL, NULL, NULL, false, false }

static void
test_parse(void **state)
{
	static const struct {
		const char *in;
		unsigned flags;
		enum url_err want;
		const char *origin, *authority, *path, *query;
		bool https, ip;
	} cases[] = {
		{ "https://nas.lan/dav", S, URL_OK, "https://nas.lan", "nas.lan",
		    "/dav", NULL, true, false },
		{ "HTTPS://Host.Example", S, URL_OK, "https://Host.Example",
		    "Host.Example", "/", NULL, true, false },
		{ "http://10.0.0.5:8080/a/b/", S, URL_OK,
		    "http://10.0.0.5:8080", "10.0.0.5:8080", "/a/b/", NULL,
		    false, true },
		{ "http://[fd00::1]:9000", S, URL_OK, "http://[fd00::1]:9000",
		    "[fd00::1]:9000", "/", NULL, false, true },
		{ "https://nas.lan:443/", S, URL_OK, "https://nas.lan:443",
		    "nas.lan:443", "/", NULL, true, false },
		{ "HTTP://[::1]:9000/base?x=1", Q | S, URL_OK,
		    "http://[::1]:9000", "[::1]:9000", "/base", "x=1", false,
		    true },
		{ "https://nas.lan/dav/?", Q, URL_OK, "https://nas.lan",
		    "nas.lan", "/dav/", "", true, false },
		{ "http://a_b.lan/x", S, URL_OK, "http://a_b.lan", "a_b.lan",
		    "/x", NULL, false, false },
		/* curl's reading of the host without URL_STRICT_HOST */
		{ "http://2130706433", 0, URL_OK, "http://127.0.0.1",
		    "127.0.0.1", "/", NULL, false, true },
		NO("http://2130706433", S, URL_ERR_HOST),
		NO("http://127.1/", S, URL_ERR_HOST),
		NO("http://0x7f000001/", S, URL_ERR_HOST),
		/* a query only with URL_QUERY, a bare '?' included */
		NO("https://nas.lan/dav?x=1", 0, URL_ERR_QUERY),
		NO("https://nas.lan/dav/?", 0, URL_ERR_QUERY),
		NO("http://h?x", S, URL_ERR_QUERY),
		/* control characters anywhere, issue 13 item 5 */
		NO("https://oauth2.googleapis.com/token\r\n", Q | S,
		    URL_ERR_CHARS),
		NO("https://oauth2.googleapis.com/token\r\nX-A: b", Q,
		    URL_ERR_CHARS),
		NO("https://h/a\tb", Q, URL_ERR_CHARS),
		NO("https://h/a\x7f", Q, URL_ERR_CHARS),
		NO("https://h/?a=\x01", Q, URL_ERR_CHARS),
		NO("https://h/a b", Q, URL_ERR_CHARS),
		NO("https://h/a\\b", Q, URL_ERR_CHARS),
		NO("https://h/\xc3\xa9", Q, URL_ERR_CHARS),
		NO("http://h#f", Q, URL_ERR_CHARS),
		NO("https://a\\@b/", Q, URL_ERR_CHARS),
		/* scheme */
		NO("ftp://x", Q, URL_ERR_SCHEME),
		NO("file:///etc/passwd", Q, URL_ERR_SCHEME),
		NO("nas.lan/dav", Q, URL_ERR_SCHEME),
		NO("", Q, URL_ERR_SCHEME),
		NO(NULL, Q, URL_ERR_SCHEME),
		NO("https:", Q, URL_ERR_SCHEME),
		/* host and userinfo */
		NO("https://", Q, URL_ERR_NO_HOST),
		NO("https:///path", Q, URL_ERR_NO_HOST),
		NO("https://:443/", Q, URL_ERR_NO_HOST),
		NO("https://?x", Q, URL_ERR_NO_HOST),
		NO("http://u@h", Q, URL_ERR_USERINFO),
		NO("https://u:p@dav.x/", Q, URL_ERR_USERINFO),
		NO("http://[::g]/", Q, URL_ERR_HOST),
		NO("http://[fe80::1%25eth0]/", Q, URL_ERR_HOST),
		NO("http://[::1]x/", Q, URL_ERR_HOST),
		NO("http://[::1/", Q, URL_ERR_HOST),
		NO("http://a..b/", S, URL_ERR_HOST),
		NO("http://-a/", S, URL_ERR_HOST),
		/* port */
		NO("https://dav.x:0/", Q, URL_ERR_PORT),
		NO("https://dav.x:70000", Q, URL_ERR_PORT),
		NO("https://dav.x:99999999999999999999", Q, URL_ERR_PORT),
		NO("https://dav.x:/", Q, URL_ERR_PORT),
		NO("https://dav.x:8a/", Q, URL_ERR_PORT),
		NO("https://[::1]:/", Q, URL_ERR_PORT),
	};
	struct url u;
	enum url_err rc;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = url_parse(cases[i].in, cases[i].flags, &u);
		if (rc != cases[i].want)
			fail_msg("case %zu (%s): got %d want %d", i,
			    cases[i].in ? cases[i].in : "NULL", rc,
			    cases[i].want);
		assert_int_equal(url_parse(cases[i].in, cases[i].flags, NULL),
		    rc);
		if (rc != URL_OK) {
			assert_null(u.origin);
			assert_null(u.path);
			continue;
		}
		assert_string_equal(u.origin, cases[i].origin);
		assert_string_equal(u.authority, cases[i].authority);
		assert_string_equal(u.path, cases[i].path);
		if (cases[i].query == NULL)
			assert_null(u.query);
		else
			assert_string_equal(u.query, cases[i].query);
		assert_int_equal(u.https, cases[i].https);
		assert_int_equal(u.ip, cases[i].ip);
		url_clear(&u);
		assert_null(u.origin);
		url_clear(&u);
	}
}

static void
test_strerror(void **state)
{
	int e;

	(void)state;
	for (e = 0; e <= URL_ERR__MAX; e++)
		assert_non_null(url_strerror((enum url_err)e));
	assert_string_equal(url_strerror(URL_ERR_SCHEME),
	    "must be an http:// or https:// URL");
	assert_non_null(strstr(url_strerror(URL_ERR_CHARS),
	    "control characters"));
}

static void
test_host_ok(void **state)
{
	(void)state;
	assert_true(url_host_ok("nas.lan", 7));
	assert_true(url_host_ok("nas.lan.", 8));
	assert_true(url_host_ok("10.0.0.1", 8));
	assert_false(url_host_ok("127.1", 5));
	assert_false(url_host_ok("a-.b", 4));
	assert_false(url_host_ok("", 0));
	assert_false(url_host_ok("a b", 3));
}

static void
test_escape(void **state)
{
	static const struct {
		const char *in;
		bool dots;
		const char *want;
	} cases[] = {
		{ "a b/c+d", false, "a%20b%2Fc%2Bd" },
		{ "~x.y_z-", false, "~x.y_z-" },
		{ "\xc3\xa9?#%;", false, "%C3%A9%3F%23%25%3B" },
		{ "..", false, ".." },
		{ "..", true, "%2E%2E" },
		{ ".", true, "%2E" },
		{ "...x", true, "...x" },
		{ "", true, "" },
	};
	char *buf;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf = NULL;
		n = 0;
		assert_true(url_escape_append(&buf, &n, cases[i].in,
		    strlen(cases[i].in), cases[i].dots));
		assert_string_equal(buf, cases[i].want);
		assert_int_equal(n, strlen(cases[i].want));
		free(buf);
	}
	/* appends, and only len bytes */
	buf = NULL;
	n = 0;
	assert_true(url_escape_append(&buf, &n, "a/", 1, false));
	assert_true(url_escape_append(&buf, &n, "b c", 3, false));
	assert_string_equal(buf, "ab%20c");
	free(buf);
}

static void
test_unescape(void **state)
{
	static const struct {
		const char *in;
		bool plus;
		const char *want;
	} cases[] = {
		{ "a%20b", false, "a b" },
		{ "a+b%2B", true, "a b+" },
		{ "a+b", false, "a+b" },
		{ "%zz%4", false, "%zz%4" },
		{ "sig%3D%3d", false, "sig==" },
		{ "", true, "" },
	};
	size_t i, len;
	char *out;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		out = url_unescape(cases[i].in, strlen(cases[i].in),
		    cases[i].plus, &len);
		assert_non_null(out);
		assert_string_equal(out, cases[i].want);
		assert_int_equal(len, strlen(cases[i].want));
		free(out);
	}
	out = url_unescape("a%00b", 5, false, &len);
	assert_non_null(out);
	assert_int_equal(len, 3);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_host_ok),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_unescape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
