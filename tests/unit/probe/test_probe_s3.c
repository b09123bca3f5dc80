/*
 * lib/s3util.c, the pure helpers of the S3 probe: request URLs
 * (virtual-hosted vs path-style, default AWS endpoint, key escaping), the
 * key prefix, the ListObjectsV2 query, <Code> extraction and the region
 * header check. No network.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "probe/probe_http.h"
#include "probe/s3util.h"

static void
test_url(void **state)
{
	static const struct {
		const char *endpoint, *region, *bucket;
		bool force;
		const char *key, *query, *want;
	} cases[] = {
		/* AWS default endpoint, virtual-hosted */
		{ NULL, "eu-west-1", "my-bucket", false, NULL,
		    "list-type=2&max-keys=1",
		    "https://my-bucket.s3.eu-west-1.amazonaws.com/"
		    "?list-type=2&max-keys=1" },
		{ "", "us-east-1", "my-bucket", false, "a/.backupd-probe-1",
		    NULL,
		    "https://my-bucket.s3.us-east-1.amazonaws.com/"
		    "a/.backupd-probe-1" },
		/* China partition */
		{ NULL, "cn-north-1", "bkt", false, "k", NULL,
		    "https://bkt.s3.cn-north-1.amazonaws.com.cn/k" },
		/* forced path style on AWS */
		{ NULL, "eu-west-1", "my-bucket", true, "k", NULL,
		    "https://s3.eu-west-1.amazonaws.com/my-bucket/k" },
		{ NULL, "eu-west-1", "my-bucket", true, NULL, "q=1",
		    "https://s3.eu-west-1.amazonaws.com/my-bucket?q=1" },
		/* a dotted bucket over https cannot be a wildcard label */
		{ NULL, "eu-west-1", "my.bucket", false, "k", NULL,
		    "https://s3.eu-west-1.amazonaws.com/my.bucket/k" },
		/* ...over http it can */
		{ "http://minio.lan:9000", "us-east-1", "my.bucket", false,
		    "k", NULL, "http://my.bucket.minio.lan:9000/k" },
		/* legacy names (upper case, '_') are path style only */
		{ NULL, "us-east-1", "My_Bucket", false, "k", NULL,
		    "https://s3.us-east-1.amazonaws.com/My_Bucket/k" },
		/* custom endpoint, virtual-hosted */
		{ "https://storage.example.com", "auto", "bkt", false, "k",
		    NULL, "https://bkt.storage.example.com/k" },
		/* custom endpoint with a path and trailing slashes */
		{ "https://gw.example.com/s3//", "auto", "bkt", true, "k",
		    NULL, "https://gw.example.com/s3/bkt/k" },
		{ "https://gw.example.com/s3/", "auto", "bkt", false, "k",
		    NULL, "https://bkt.gw.example.com/s3/k" },
		/* IP literals are always path style */
		{ "http://127.0.0.2:9000", "us-east-1", "bkt", false, "k",
		    NULL, "http://127.0.0.2:9000/bkt/k" },
		{ "http://[fd00::1]:9000", "us-east-1", "bkt", false, "k",
		    NULL, "http://[fd00::1]:9000/bkt/k" },
		/* scheme case is normalised */
		{ "HTTPS://Host.Example", "r", "bkt", true, NULL, NULL,
		    "https://Host.Example/bkt" },
		/* each segment escaped on its own, '/' kept, empty kept */
		{ "http://h", "r", "bkt", true, "a b/c+d//\xc3\xa9/~x.y_z-", NULL,
		    "http://h/bkt/a%20b/c%2Bd//%C3%A9/~x.y_z-" },
		{ "http://h", "r", "bkt", true, "pre?fix/#x%", NULL,
		    "http://h/bkt/pre%3Ffix/%23x%25" },
		{ "http://h", "r", "bkt", true, "", NULL, "http://h/bkt/" },
		/* unusable endpoints */
		{ "http://h/?x=1", "r", "bkt", true, "k", NULL, NULL },
		{ "http://h#f", "r", "bkt", true, "k", NULL, NULL },
		{ "ftp://h", "r", "bkt", true, "k", NULL, NULL },
		{ "http:///path", "r", "bkt", true, "k", NULL, NULL },
		{ "http://u@h", "r", "bkt", true, "k", NULL, NULL },
		{ NULL, "", "bkt", true, "k", NULL, NULL },
		{ NULL, "r", "", true, "k", NULL, NULL },
	};
	size_t i;
	char *got;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct s3util_loc loc = { cases[i].endpoint, cases[i].region,
			cases[i].bucket, cases[i].force };

		got = s3util_url(&loc, cases[i].key, cases[i].query);
		if (cases[i].want == NULL) {
			if (got != NULL)
				fail_msg("case %zu: want NULL, got %s", i, got);
		} else {
			if (got == NULL)
				fail_msg("case %zu: got NULL", i);
			if (strcmp(got, cases[i].want) != 0)
				fail_msg("case %zu: got %s want %s", i, got,
				    cases[i].want);
		}
		free(got);
	}
}

static void
test_path_style(void **state)
{
	static const struct {
		const char *endpoint, *bucket;
		bool force, want;
	} cases[] = {
		{ NULL, "bucket", false, false },
		{ NULL, "bucket", true, true },
		{ NULL, "b.c.d", false, true },
		{ "http://minio:9000", "b.c.d", false, false },
		{ "http://minio:9000", "b..d", false, true },
		{ "http://minio:9000", "b.-d", false, true },
		{ "http://minio:9000", "-bd", false, true },
		{ "http://10.0.0.1", "bucket", false, true },
		{ "http://2130706433", "bucket", false, true },
		{ "http://[::1]", "bucket", false, true },
		{ "https://s3.example", "UPPER", false, true },
		{ "https://s3.example", "under_score", false, true },
		{ "https://s3.example", "ab", false, true },
		{ "https://s3.example",
		    "a123456789012345678901234567890123456789012345678901234567890"
		    "123", false, true },
		{ "nonsense", "bucket", false, false },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct s3util_loc loc = { cases[i].endpoint, "us-east-1",
			cases[i].bucket, cases[i].force };

		if (s3util_path_style(&loc) != cases[i].want)
			fail_msg("case %zu (%s, %s)", i,
			    cases[i].endpoint ? cases[i].endpoint : "aws",
			    cases[i].bucket);
	}
}

static void
test_is_http(void **state)
{
	(void)state;
	assert_true(probe_plain_http("http://h"));
	assert_true(probe_plain_http("HTTP://h"));
	assert_false(probe_plain_http("https://h"));
	assert_false(probe_plain_http(NULL));
	assert_false(probe_plain_http(""));
}

static void
test_prefix_and_query(void **state)
{
	static const struct {
		const char *prefix, *folder, *query;
	} cases[] = {
		{ NULL, "", "list-type=2&max-keys=1" },
		{ "", "", "list-type=2&max-keys=1" },
		{ "/", "", "list-type=2&max-keys=1" },
		{ "backups", "backups/",
		    "list-type=2&max-keys=1&prefix=backups%2F" },
		{ "//backups/", "backups/",
		    "list-type=2&max-keys=1&prefix=backups%2F" },
		{ "a b/c", "a b/c/",
		    "list-type=2&max-keys=1&prefix=a%20b%2Fc%2F" },
		{ "x&prefix=y", "x&prefix=y/",
		    "list-type=2&max-keys=1&prefix=x%26prefix%3Dy%2F" },
	};
	size_t i;
	char *f, *q;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f = s3util_prefix(cases[i].prefix);
		assert_non_null(f);
		assert_string_equal(f, cases[i].folder);
		q = s3util_list_query(f);
		assert_non_null(q);
		assert_string_equal(q, cases[i].query);
		free(f);
		free(q);
	}
}

static void
test_error_code(void **state)
{
	static const struct {
		const char *body;
		const char *want;  /* NULL: not found */
	} cases[] = {
		{ "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code>"
		    "<Message>The specified bucket does not exist</Message>"
		    "</Error>", "NoSuchBucket" },
		{ "<Error><Code>SignatureDoesNotMatch</Code></Error>",
		    "SignatureDoesNotMatch" },
		{ "<Error><Code>Some.Dotted.Code9</Code></Error>",
		    "Some.Dotted.Code9" },
		/* the first <Code> only */
		{ "<Error><Code>A</Code><Code>B</Code></Error>", "A" },
		/* not a token: never echoed */
		{ "<Error><Code>No Such</Code></Error>", NULL },
		{ "<Error><Code><script></Code></Error>", NULL },
		{ "<Error><Code>x\"y</Code></Error>", NULL },
		{ "<Error><Code></Code></Error>", NULL },
		{ "<Error><Code>Unterminated", NULL },
		{ "<Error><Code>Abc</Cod", NULL },
		{ "<Error><code>lower</code></Error>", NULL },
		{ "{\"error\":\"json\"}", NULL },
		{ "", NULL },
		/* 63 characters fit, 64 do not */
		{ "<Code>"
		    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk"
		    "</Code>",
		    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk" },
		{ "<Code>"
		    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl"
		    "</Code>", NULL },
	};
	char out[S3UTIL_CODE_MAX];
	size_t i;
	bool ok;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 'x', sizeof(out));
		ok = s3util_error_code(cases[i].body, strlen(cases[i].body),
		    out);
		if (cases[i].want == NULL) {
			if (ok || out[0] != '\0')
				fail_msg("case %zu: want none, got %s", i, out);
		} else {
			if (!ok)
				fail_msg("case %zu: not found", i);
			assert_string_equal(out, cases[i].want);
		}
	}
	/* bounded by len, not by a NUL */
	ok = s3util_error_code("<Code>Abc</Code>", 12, out);
	assert_false(ok);
	ok = s3util_error_code("<Code>Abc</Code>", 16, out);
	assert_true(ok);
	assert_string_equal(out, "Abc");
	assert_false(s3util_error_code(NULL, 0, out));
}

static void
test_region_ok(void **state)
{
	static const struct {
		const char *v;
		bool want;
	} cases[] = {
		{ "eu-west-1", true },
		{ "us-gov-west-1", true },
		{ "auto", true },
		{ "a", true },
		{ "abcdefghijklmnopqrstuvwxyz-12345", true },   /* 32 */
		{ "abcdefghijklmnopqrstuvwxyz-123456", false }, /* 33 */
		{ "", false },
		{ "EU-WEST-1", false },
		{ "eu_west_1", false },
		{ "eu-west-1\r", false },
		{ "eu west", false },
		{ "<b>", false },
		{ "eu-west-1'", false },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (s3util_region_ok(cases[i].v, strlen(cases[i].v)) !=
		    cases[i].want)
			fail_msg("case %zu: %s", i, cases[i].v);
	assert_false(s3util_region_ok(NULL, 3));
	/* length counts, not the NUL */
	assert_true(s3util_region_ok("eu-west-1 junk", 9));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_path_style),
		cmocka_unit_test(test_is_http),
		cmocka_unit_test(test_prefix_and_query),
		cmocka_unit_test(test_error_code),
		cmocka_unit_test(test_region_ok),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
