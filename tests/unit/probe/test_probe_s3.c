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

static void
test_endpoint_region(void **state)
{
	static const struct {
		const char *host, *want;  /* NULL: none */
	} cases[] = {
		{ "bkt.s3.eu-central-1.amazonaws.com", "eu-central-1" },
		{ "s3.eu-central-1.amazonaws.com", "eu-central-1" },
		{ "wrong.region.bucket.s3-ap-southeast-2.amazonaws.com",
		    "ap-southeast-2" },
		{ "bkt.s3.dualstack.us-west-2.amazonaws.com", "us-west-2" },
		{ "bkt.s3-fips.us-gov-west-1.amazonaws.com", "us-gov-west-1" },
		{ "s3.amazonaws.com", "us-east-1" },
		{ "bkt.s3.amazonaws.com", "us-east-1" },
		{ "s3-external-1.amazonaws.com", "us-east-1" },
		{ "bkt.s3.cn-north-1.amazonaws.com.cn", "cn-north-1" },
		{ "BKT.S3.EU-WEST-1.AMAZONAWS.COM", NULL },  /* not a region */
		{ "s3.eu-central-1.example.com", NULL },
		{ "evil.com/s3.eu-central-1.amazonaws.com", NULL },
		{ "bkt.ec2.eu-central-1.amazonaws.com", NULL },
		{ "eu-central-1.amazonaws.com", NULL },
		{ ".amazonaws.com", NULL },
		{ "amazonaws.com", NULL },
		{ "s3.fips.amazonaws.com", NULL },
		{ "s3.x_y.amazonaws.com", NULL },
		{ "", NULL },
	};
	char out[S3UTIL_REGION_MAX];
	size_t i;
	bool ok;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ok = s3util_endpoint_region(cases[i].host,
		    strlen(cases[i].host), out);
		if (cases[i].want == NULL) {
			if (ok || out[0] != '\0')
				fail_msg("case %zu: want none, got %s", i, out);
		} else {
			if (!ok)
				fail_msg("case %zu (%s): none", i,
				    cases[i].host);
			assert_string_equal(out, cases[i].want);
		}
	}
	assert_false(s3util_endpoint_region(NULL, 0, out));
}

static void
test_error_region(void **state)
{
	static const struct {
		const char *body, *want;
	} cases[] = {
		/* 400 AuthorizationHeaderMalformed names the region */
		{ "<Error><Code>AuthorizationHeaderMalformed</Code><Message>"
		    "the region 'us-east-1' is wrong; expecting "
		    "'eu-central-1'</Message><Region>eu-central-1</Region>"
		    "<RequestId>X</RequestId></Error>", "eu-central-1" },
		/* 301 PermanentRedirect names the endpoint */
		{ "<Error><Code>PermanentRedirect</Code><Message>The bucket "
		    "...</Message><Bucket>b</Bucket><Endpoint>"
		    "b.s3.eu-central-1.amazonaws.com</Endpoint></Error>",
		    "eu-central-1" },
		{ "<Error><Code>PermanentRedirect</Code><Endpoint>"
		    "s3.amazonaws.com</Endpoint></Error>", "us-east-1" },
		/* <Region> first */
		{ "<Endpoint>s3.us-west-2.amazonaws.com</Endpoint>"
		    "<Region>eu-west-3</Region>", "eu-west-3" },
		/* a bad <Region> falls back to <Endpoint> */
		{ "<Region>EU_WEST;1</Region><Endpoint>"
		    "s3.us-west-2.amazonaws.com</Endpoint>", "us-west-2" },
		{ "<Region>eu-west-1<x></Region>", NULL },
		{ "<Region>eu</Region>", NULL },
		{ "<Region>a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q</Region>", NULL },
		{ "<Region></Region>", NULL },
		{ "<Region>eu-west-1", NULL },
		{ "<Endpoint>minio.lan</Endpoint>", NULL },
		{ "<Endpoint>b.s3.eu-west-1.amazonaws.com:443</Endpoint>",
		    NULL },
		{ "", NULL },
	};
	char out[S3UTIL_REGION_MAX];
	size_t i;
	bool ok;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 'x', sizeof(out));
		ok = s3util_error_region(cases[i].body, strlen(cases[i].body),
		    out);
		if (cases[i].want == NULL) {
			if (ok || out[0] != '\0')
				fail_msg("case %zu: want none, got %s", i, out);
		} else {
			if (!ok)
				fail_msg("case %zu: none", i);
			assert_string_equal(out, cases[i].want);
		}
	}
	/* bounded by len */
	assert_false(s3util_error_region("<Region>eu-west-1</Region>", 20,
	    out));
	assert_false(s3util_error_region(NULL, 0, out));
}

static void
hdr(struct s3util_headers *h, const char *line)
{
	s3util_header(h, line, strlen(line));
}

static void
test_headers(void **state)
{
	struct s3util_headers h;
	char big[S3UTIL_VERSION_MAX + 40];

	(void)state;
	s3util_headers_init(&h);
	assert_int_equal(h.legal_hold, -1);
	hdr(&h, "HTTP/1.1 200 OK\r\n");
	hdr(&h, "Content-Type: application/xml\r\n");
	hdr(&h, "X-Amz-Bucket-Region:  eu-central-1 \r\n");
	hdr(&h, "x-amz-version-id: 3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY\r\n");
	hdr(&h, "x-amz-delete-marker: true\r\n");
	hdr(&h, "x-amz-object-lock-mode: COMPLIANCE\r\n");
	hdr(&h, "x-amz-object-lock-retain-until-date: "
	    "2026-12-07T18:00:00.000Z\r\n");
	hdr(&h, "x-amz-object-lock-legal-hold: OFF\r\n");
	assert_true(h.region_seen);
	assert_string_equal(h.region, "eu-central-1");
	assert_string_equal(h.version, "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY");
	assert_true(h.delete_marker);
	assert_int_equal(h.lock_mode, S3UTIL_LOCK_COMPLIANCE);
	assert_string_equal(s3util_lock_mode_name(h.lock_mode), "COMPLIANCE");
	assert_true(h.retain_seen);
	assert_true(h.retain_until_ms == 1796666400000LL);
	assert_int_equal(h.legal_hold, 0);

	/* a new response (after a 100 Continue) starts over */
	hdr(&h, "HTTP/1.1 204 No Content\r\n");
	assert_false(h.region_seen);
	assert_false(h.delete_marker);
	assert_int_equal(h.legal_hold, -1);
	assert_string_equal(h.version, "");

	/* values that are not what S3 sends are not kept */
	hdr(&h, "x-amz-bucket-region: EU_WEST;1<x>\r\n");
	assert_true(h.region_seen);
	assert_string_equal(h.region, "");
	hdr(&h, "x-amz-version-id: null\r\n");
	assert_string_equal(h.version, "");
	hdr(&h, "x-amz-version-id: a b\r\n");
	assert_string_equal(h.version, "");
	hdr(&h, "x-amz-version-id: a\x7f\r\n");
	assert_string_equal(h.version, "");
	memset(big, 'v', sizeof(big));
	memcpy(big, "x-amz-version-id: ", 18);
	big[sizeof(big) - 1] = '\0';
	hdr(&h, big);
	assert_string_equal(h.version, "");
	hdr(&h, "x-amz-delete-marker: false\r\n");
	assert_false(h.delete_marker);
	hdr(&h, "x-amz-object-lock-mode: compliance-ish\r\n");
	assert_int_equal(h.lock_mode, S3UTIL_LOCK_NONE);
	assert_null(s3util_lock_mode_name(h.lock_mode));
	hdr(&h, "x-amz-object-lock-mode: GOVERNANCE\r\n");
	assert_int_equal(h.lock_mode, S3UTIL_LOCK_GOVERNANCE);
	hdr(&h, "x-amz-object-lock-retain-until-date: tomorrow\r\n");
	assert_false(h.retain_seen);
	hdr(&h, "x-amz-object-lock-retain-until-date: "
	    "2026-02-30T00:00:00Z\r\n");
	assert_false(h.retain_seen);
	hdr(&h, "x-amz-object-lock-legal-hold: ON\r\n");
	assert_int_equal(h.legal_hold, 1);
	hdr(&h, "x-amz-object-lock-legal-hold: maybe\r\n");
	assert_int_equal(h.legal_hold, -1);
	/* a prefix of a known name is another header */
	hdr(&h, "x-amz-bucket-region-x: eu-west-1\r\n");
	hdr(&h, "x-amz-bucket-regio: eu-west-1\r\n");
	assert_string_equal(h.region, "");
	hdr(&h, "x-amz-bucket-region\r\n");
	hdr(&h, "");
	s3util_header(&h, NULL, 0);
	assert_string_equal(h.region, "");
}

static void
test_version_query(void **state)
{
	char *q;

	(void)state;
	q = s3util_version_query("3/L4kq+J.x_y~z");
	assert_non_null(q);
	assert_string_equal(q, "versionId=3%2FL4kq%2BJ.x_y~z");
	free(q);
	assert_null(s3util_version_query(NULL));
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
		cmocka_unit_test(test_endpoint_region),
		cmocka_unit_test(test_error_region),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_version_query),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
