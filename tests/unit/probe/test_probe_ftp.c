/*
 * lib/probe_ftp.c without a network: the FTP URLs it builds (absolute and
 * relative paths, encoding, IPv6 hosts, default ports, overflow) and the
 * config checks that fail before any connection. The probe against a real
 * vsftpd is tests/integration/test_probe_ftp.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* The file is included so its static helpers can be called (the one way
 * tests/unit/probe/ tests static helpers); its public function then comes
 * from here, not the library. */
#include "probe/probe_ftp.c"

static const struct {
	const char *host;
	long port;
	bool implicit;
	const char *path, *name, *want;
} url_cases[] = {
	/* Relative to the login directory: one CWD per segment. */
	{ "ftp.example.com", 0, false, "backups", NULL,
	    "ftp://ftp.example.com:21/backups/" },
	{ "ftp.example.com", 2121, false, "a/b/", NULL,
	    "ftp://ftp.example.com:2121/a/b/" },
	{ "ftp.example.com", 0, false, "a/b", ".backupd-probe-0011",
	    "ftp://ftp.example.com:21/a/b/.backupd-probe-0011" },
	/* The login directory itself. */
	{ "h", 0, false, "", NULL, "ftp://h:21/" },
	{ "h", 0, false, ".", NULL, "ftp://h:21/./" },
	{ "h", 0, false, "", ".backupd-probe-1", "ftp://h:21/.backupd-probe-1" },
	/* Absolute: RFC 1738 %2F, extra leading slashes dropped. */
	{ "h", 0, false, "/srv/x", NULL, "ftp://h:21/%2Fsrv/x/" },
	{ "h", 0, false, "///srv/x/", NULL, "ftp://h:21/%2Fsrv/x/" },
	{ "h", 0, false, "/", NULL, "ftp://h:21/%2F/" },
	{ "h", 0, false, "/", "n", "ftp://h:21/%2F/n" },
	/* Implicit TLS: ftps:// and port 990 unless given. */
	{ "h", 0, true, "x", NULL, "ftps://h:990/x/" },
	{ "h", 21, true, "x", NULL, "ftps://h:21/x/" },
	{ "h", -1, false, "x", NULL, "ftp://h:21/x/" },
	/* Everything outside RFC 3986 unreserved is encoded, ';' too. */
	{ "h", 0, false, "with space %41;type=a/\xc3\xbc?#", NULL,
	    "ftp://h:21/with%20space%20%2541%3Btype%3Da/%C3%BC%3F%23/" },
	{ "h", 0, false, "a/../b", NULL, "ftp://h:21/a/../b/" },
	/* IPv6: brackets added when missing, kept when given. */
	{ "2001:db8::1", 0, false, "x", NULL, "ftp://[2001:db8::1]:21/x/" },
	{ "[2001:db8::1]", 0, true, "x", NULL, "ftps://[2001:db8::1]:990/x/" },
	{ "192.0.2.7", 0, false, "x", NULL, "ftp://192.0.2.7:21/x/" },
};

static void
test_urls(void **state)
{
	char out[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(url_cases) / sizeof(url_cases[0]); i++) {
		assert_true(probe_ftp_url(out, sizeof(out), url_cases[i].host,
		    url_cases[i].port, url_cases[i].implicit,
		    url_cases[i].path, url_cases[i].name));
		assert_string_equal(out, url_cases[i].want);
	}
}

static void
test_url_limits(void **state)
{
	char out[32], big[4096];

	(void)state;
	/* Exactly fits: "ftp://h:21/abc/" is 15 bytes + NUL. */
	assert_true(probe_ftp_url(out, 16, "h", 0, false, "abc", NULL));
	assert_string_equal(out, "ftp://h:21/abc/");
	assert_false(probe_ftp_url(out, 15, "h", 0, false, "abc", NULL));
	assert_string_equal(out, "");
	/* An encoding that does not fit is refused, not cut. */
	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_false(probe_ftp_url(out, sizeof(out), "h", 0, false, big,
	    NULL));
	assert_string_equal(out, "");
	assert_false(probe_ftp_url(out, sizeof(out), NULL, 0, false, "x",
	    NULL));
	assert_false(probe_ftp_url(out, sizeof(out), "", 0, false, "x", NULL));
	assert_false(probe_ftp_url(out, sizeof(out), "h", 0, false, NULL,
	    NULL));
	assert_false(probe_ftp_url(out, 0, "h", 0, false, "x", NULL));
}

/* Configs the probe turns away before it opens anything. */
static void
test_bad_configs(void **state)
{
	static const char *const configs[] = {
		"{}",
		"{\"host\":\"h\",\"username\":\"u\",\"password\":\"p\"}",
		"{\"host\":\"h\",\"username\":\"u\",\"path\":\"x\"}",
		"{\"host\":\"h\",\"username\":\"u\",\"password\":\"p\","
		    "\"path\":\"x\",\"tls\":\"sometimes\"}",
		"{\"host\":1,\"username\":\"u\",\"password\":\"p\","
		    "\"path\":\"x\"}",
	};
	struct egress eg;
	struct probe_env env = { .cfg = NULL, .egress = &eg };
	struct probe_result r;
	json_object *c;
	char err[128];
	size_t i;

	(void)state;
	assert_int_equal(egress_init(&eg, NULL, NULL, err, sizeof(err)),
	    BD_OK);
	for (i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
		c = json_tokener_parse(configs[i]);
		assert_non_null(c);
		probe_run(probe_ftp, &env, c, &r);
		assert_false(r.ok);
		assert_int_equal(r.failed, CHECK_CONNECT);
		assert_int_equal(r.nchecks, 1);
		assert_int_equal(r.nwarnings, 0);
		probe_result_clear(&r);
		json_object_put(c);
	}
	egress_free(&eg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_url_limits),
		cmocka_unit_test(test_bad_configs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
