/*
 * lib/probe/azsign.c: the SharedKey string-to-sign (canonicalized headers
 * and resource), the HMAC signature and the x-ms-date format; and
 * lib/probe/probe_azure_blob.c: probe blob paths, error codes, the SAS token's
 * se and sp, the sentences of a refused step and the immutability facts. No
 * network, fixed clock.
 *
 * The canonicalized-resource vectors are Microsoft's own examples
 * ("Authorize with Shared Key", Blob service, 2009-09-19 and later). The
 * full string-to-sign is written out by hand from the documented layout; its
 * signature was computed independently with Python's hmac/hashlib/base64
 * from that string and the emulator's published account key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <sodium.h>

#include "probe/azsign.h"
/* The probe's static helpers (blob paths, error codes): the file is
 * included, as every test under tests/unit/probe/ does for static helpers;
 * its one public function then comes from here, not the library. */
#include "probe/probe_azure_blob.c"

/* Azurite's well-known development account key (published by Microsoft). */
#define DEVSTORE_KEY "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2U" \
	"VErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

/* The 11 standard header slots of a request with none of them set. */
#define NO_STD "\n\n\n\n\n\n\n\n\n\n\n"

static struct curl_slist *
slist(const char *const *lines)
{
	struct curl_slist *h = NULL, *n;

	for (; *lines != NULL; lines++) {
		n = curl_slist_append(h, *lines);
		assert_non_null(n);
		h = n;
	}
	return h;
}

static void
assert_sts(const char *method, const char *account, const char *path,
    const char *query, const char *const *lines, const char *want)
{
	struct curl_slist *h = slist(lines);
	char *got = azsign_string_to_sign(method, account, path, query, h);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
	curl_slist_free_all(h);
}

/* --------------------------------------------- canonicalized resource */

static void
test_canonical_resource(void **state)
{
	static const char *const none[] = { NULL };
	static const struct {
		const char *path, *query, *want;
	} cases[] = {
		/* Microsoft's examples. */
		{ "/mycontainer", "restype=container&comp=metadata",
		    "/myaccount/mycontainer\ncomp:metadata\nrestype:container" },
		{ "/mycontainer", "restype=container&comp=list&"
		    "include=snapshots&include=metadata&include=uncommittedblobs",
		    "/myaccount/mycontainer\ncomp:list\n"
		    "include:metadata,snapshots,uncommittedblobs\n"
		    "restype:container" },
		{ "/mycontainer/myblob", NULL, "/myaccount/mycontainer/myblob" },
		/* Names are lower-cased; names and values URL-decoded. */
		{ "/c", "RESTYPE=container&Comp=list&prefix=a%2Fb%20c+d",
		    "/myaccount/c\ncomp:list\nprefix:a/b c d\n"
		    "restype:container" },
		/* Empty pieces are skipped; a name without '=' has an empty
		 * value; a broken escape stays literal. */
		{ "/c", "&b&&a=%zz&", "/myaccount/c\na:%zz\nb:" },
		/* No path at all is the root. */
		{ "", "comp=list", "/myaccount/\ncomp:list" },
		/* The encoded path is signed exactly as sent. */
		{ "/myaccount/c/a%20b/%C3%BC", "",
		    "/myaccount/myaccount/c/a%20b/%C3%BC" },
	};
	char want[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(want, sizeof(want), "GET\n" NO_STD "%s",
		    cases[i].want);
		assert_sts("GET", "myaccount", cases[i].path, cases[i].query,
		    none, want);
	}
}

/* ---------------------------------------------- canonicalized headers */

static void
test_canonical_headers(void **state)
{
	static const struct {
		const char *lines[8];
		const char *want;
	} cases[] = {
		/* Lower-cased, sorted, trimmed; blank runs become one space. */
		{ { "X-MS-Version: 2021-08-06", "x-ms-meta-Name:   a \t b  ",
		    "x-ms-date:Sun, 06 Nov 1994 08:49:37 GMT", NULL },
		    "GET\n" NO_STD "x-ms-date:Sun, 06 Nov 1994 08:49:37 GMT\n"
		    "x-ms-meta-name:a b\nx-ms-version:2021-08-06\n/a/c" },
		/* "Name:" removes a header in curl (not sent, not signed);
		 * "Name;" sends it empty. Non-x-ms headers are not listed. */
		{ { "x-ms-gone:", "x-ms-empty;", "Accept: */*",
		    "x-ms-a: 1", NULL },
		    "GET\n" NO_STD "x-ms-a:1\nx-ms-empty:\n/a/c" },
		/* Standard headers in their slots, found case-insensitively;
		 * Content-Length 0 is empty (2015-02-21 and later). */
		{ { "content-type: text/plain", "Content-Length: 0",
		    "Range: bytes=0-63", "IF-MATCH: \"0x1\"", NULL },
		    "GET\n\n\n\n\ntext/plain\n\n\n\"0x1\"\n\n\nbytes=0-63\n/a/c" },
		{ { "Content-Encoding: gzip", "Content-Language: de",
		    "Content-Length: 10", "Content-MD5: eHh4", "Date: D",
		    "If-Modified-Since: M", "If-Unmodified-Since: U", NULL },
		    "GET\ngzip\nde\n10\neHh4\n\nD\nM\n\n\nU\n\n/a/c" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_sts("GET", "a", "/c", NULL, cases[i].lines,
		    cases[i].want);
}

/* ------------------------------------------------ full request + sign */

static const char put_sts[] =
    "PUT\n\n\n64\n\napplication/octet-stream\n\n\n\n*\n\n\n"
    "x-ms-blob-type:BlockBlob\n"
    "x-ms-date:Sun, 06 Nov 1994 08:49:37 GMT\n"
    "x-ms-version:2021-08-06\n"
    "/devstoreaccount1/devstoreaccount1/backups/daily/"
    ".backupd-probe-0011223344556677";

/* The probe's Put Blob against the emulator, header lines as the probe
 * hands them to curl. */
static void
test_put_blob_string_to_sign(void **state)
{
	static const char *const lines[] = {
		"x-ms-date: Sun, 06 Nov 1994 08:49:37 GMT",
		"x-ms-version: 2021-08-06",
		"Expect:",
		"x-ms-blob-type: BlockBlob",
		"Content-Type: application/octet-stream",
		"If-None-Match: *",
		"Content-Length: 64",
		NULL
	};

	(void)state;
	assert_sts("PUT", "devstoreaccount1",
	    "/devstoreaccount1/backups/daily/.backupd-probe-0011223344556677",
	    NULL, lines, put_sts);
}

static void
test_signature(void **state)
{
	static const struct {
		const char *key_b64; /* NULL: key is the raw `raw` */
		const char *raw, *msg, *want;
	} cases[] = {
		{ DEVSTORE_KEY, NULL, put_sts,
		    "cD5eCqmut+S3RDK3h315BCOtEZkpwa44xyftvijAOz8=" },
		/* The classic HMAC-SHA256 example vector, base64. */
		{ NULL, "key", "The quick brown fox jumps over the lazy dog",
		    "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg=" },
		/* A key longer than the hash block (hashed first). */
		{ NULL, "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
		    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", "abc",
		    "tYsraU/boN122j6+mRdPco0ydWDzbs4iTpCGeXJHmSI=" },
	};
	unsigned char key[128];
	size_t keylen, i;
	char sig[64];

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].key_b64 != NULL) {
			assert_int_equal(sodium_base642bin(key, sizeof(key),
			    cases[i].key_b64, strlen(cases[i].key_b64), NULL,
			    &keylen, NULL, sodium_base64_VARIANT_ORIGINAL), 0);
			assert_int_equal(keylen, 64);
		} else {
			keylen = strlen(cases[i].raw);
			memcpy(key, cases[i].raw, keylen);
		}
		assert_true(azsign_sign(key, keylen, cases[i].msg, sig,
		    sizeof(sig)));
		assert_string_equal(sig, cases[i].want);
	}
	/* Too small an output buffer is refused. */
	assert_false(azsign_sign(key, keylen, "x", sig, 44));
}

/* The Authorization line is the signature of the string-to-sign over
 * exactly the headers given. */
static void
test_authorization(void **state)
{
	static const char *const lines[] = { "x-ms-date: Sun, 06 Nov 1994 "
	    "08:49:37 GMT", "x-ms-version: 2021-08-06", "Content-Length: 64",
	    NULL };
	struct curl_slist *h = slist(lines);
	unsigned char key[64];
	size_t keylen;
	char sig[AZSIGN_SIG_MAX], want[160], *sts, *got;

	(void)state;
	assert_int_equal(sodium_base642bin(key, sizeof(key), DEVSTORE_KEY,
	    strlen(DEVSTORE_KEY), NULL, &keylen, NULL,
	    sodium_base64_VARIANT_ORIGINAL), 0);
	sts = azsign_string_to_sign("PUT", "devstoreaccount1",
	    "/devstoreaccount1/c/b", "comp=block&blockid=AA%3D%3D", h);
	assert_non_null(sts);
	assert_true(azsign_sign(key, keylen, sts, sig, sizeof(sig)));
	snprintf(want, sizeof(want), "Authorization: SharedKey "
	    "devstoreaccount1:%s", sig);
	got = azsign_authorization(key, keylen, "PUT", "devstoreaccount1",
	    "/devstoreaccount1/c/b", "comp=block&blockid=AA%3D%3D", h);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
	free(sts);
	curl_slist_free_all(h);
}

/* --------------------------------------------------------- blob paths */

static void
test_blob_path(void **state)
{
	static const struct {
		const char *prefix, *want; /* want NULL: refused */
	} cases[] = {
		{ NULL, "/acct/c/.p" },
		{ "", "/acct/c/.p" },
		{ "/", "/acct/c/.p" },
		{ "backups", "/acct/c/backups/.p" },
		{ "/backups/daily/", "/acct/c/backups/daily/.p" },
		{ "a//b///c", "/acct/c/a/b/c/.p" },
		{ "my backups/\xc3\xbc?#%", "/acct/c/my%20backups/%C3%BC%3F%23%25/.p" },
		{ "v1.2/x~y_z-", "/acct/c/v1.2/x~y_z-/.p" },
		{ "...", "/acct/c/.../.p" },
		{ "a/../b", NULL },
		{ "./a", NULL },
		{ "a/..", NULL },
		{ "..", NULL },
	};
	char *got;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = probe_azure_blob_path("/acct/c", cases[i].prefix, ".p");
		if (cases[i].want == NULL) {
			assert_null(got);
		} else {
			assert_non_null(got);
			assert_string_equal(got, cases[i].want);
		}
		free(got);
	}
}

/* --------------------------------------------------------- error codes */

static void
test_error_code(void **state)
{
	static const struct {
		const char *body, *want; /* want NULL: none */
	} cases[] = {
		{ "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>"
		    "ContainerNotFound</Code><Message>The specified container "
		    "does not exist.\nRequestId:1</Message></Error>",
		    "ContainerNotFound" },
		{ "<Error><Code>Weird.Code2</Code></Error>", "Weird.Code2" },
		{ "<Error><Code>a b</Code></Error>", NULL },
		{ "<Error><Code><script></Code></Error>", NULL },
		{ "<Error><Code></Code></Error>", NULL },
		{ "<Error><Code>NoEnd", NULL },
		{ "", NULL },
		{ NULL, NULL },
		{ "<Error><Code>AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA</Code></Error>",
		    NULL },
	};
	char code[65];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].want == NULL) {
			assert_false(probe_azure_error_code(cases[i].body, code,
			    sizeof(code)));
			assert_string_equal(code, "");
		} else {
			assert_true(probe_azure_error_code(cases[i].body, code,
			    sizeof(code)));
			assert_string_equal(code, cases[i].want);
		}
	}
	/* A code longer than the buffer is not cut, it is dropped. */
	assert_false(probe_azure_error_code("<Code>ContainerNotFound</Code>",
	    code, 8));
}

/* ---------------------------------------------------------------- date */

static void
test_date(void **state)
{
	static const struct {
		time_t t;
		const char *want;
	} cases[] = {
		{ 784111777, "Sun, 06 Nov 1994 08:49:37 GMT" }, /* RFC 7231 */
		{ 0, "Thu, 01 Jan 1970 00:00:00 GMT" },
		{ 1795953600, "Sun, 29 Nov 2026 12:00:00 GMT" },
	};
	char buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(azsign_date(cases[i].t, buf, sizeof(buf)));
		assert_string_equal(buf, cases[i].want);
	}
	assert_false(azsign_date(0, buf, 10));
}

/* ----------------------------------------------------- SAS se and sp */

static void
test_sas_time(void **state)
{
	static const struct {
		const char *s;
		long long want; /* -1: refused */
	} cases[] = {
		/* The four forms Microsoft documents for se (UTC). */
		{ "2026-12-20", 1797724800000LL },
		{ "2026-12-20T10:30Z", 1797762600000LL },
		{ "2026-12-20T10:30:45Z", 1797762645000LL },
		{ "2026-12-20T10:30:45.1234567Z", 1797762645123LL },
		{ "2024-02-29T23:59:59Z", 1709251199000LL },
		/* No zone after a time, another zone, odd separators. */
		{ "2026-12-20T10:30:45", -1 },
		{ "2026-12-20T10:30", -1 },
		{ "2026-12-20T10:30:45+01:00", -1 },
		{ "2026-12-20 10:30:45Z", -1 },
		{ "2026-12-20t10:30:45Z", -1 },
		{ "2026-12-20T10:30:45z", -1 },
		/* Impossible or malformed dates, trailing text. */
		{ "2026-02-30", -1 },
		{ "2025-02-29T00:00Z", -1 },
		{ "2026-13-01", -1 },
		{ "2026-12-2x", -1 },
		{ "20261220", -1 },
		{ "2026-12-20T25:00Z", -1 },
		{ "2026-12-20T10:30:45ZZ", -1 },
		{ "2026-12-20Z", -1 },
		{ "", -1 },
		{ NULL, -1 },
	};
	long long ms;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ms = 42;
		if (cases[i].want < 0) {
			assert_false(azsign_sas_time(cases[i].s, &ms));
			assert_int_equal(ms, 42);
		} else {
			assert_true(azsign_sas_time(cases[i].s, &ms));
			assert_int_equal(ms, cases[i].want);
		}
	}
}

static void
test_sas_parse(void **state)
{
	static const struct {
		const char *sas;
		bool has, bad, account;
		long long ms;
		const char *perms;
	} cases[] = {
		{ "sv=2021-08-06&sr=c&sp=racwd&se=2026-12-20T10%3A30%3A45Z"
		    "&spr=https%2Chttp&sig=abc%2Bdef%3D", true, false, false,
		    1797762645000LL, "racwd" },
		{ "?sv=2021-08-06&ss=b&srt=sco&sp=rwdlac&se=2026-12-20"
		    "&sig=x", true, false, true, 1797724800000LL, "rwdlac" },
		/* A stored access policy carries neither. */
		{ "sv=2021-08-06&si=policy1&sr=c&sig=x", false, false, false, 0,
		    "" },
		{ "se=tomorrow&sp=r", false, true, false, 0, "r" },
		/* The first occurrence counts; names are case-sensitive. */
		{ "se=2026-12-20&se=2099-01-01&SP=rw&sp=w&sp=r", true, false,
		    false, 1797724800000LL, "w" },
		/* Permission letters only, or nothing. */
		{ "sp=r%20w&se=2026-12-20", true, false, false,
		    1797724800000LL, "" },
		{ "sp=RW", false, false, false, 0, "" },
		{ "sp=&se=", false, true, false, 0, "" },
		{ "&&=&sp", false, false, false, 0, "" },
		{ "", false, false, false, 0, "" },
		{ NULL, false, false, false, 0, "" },
	};
	struct azsign_sas sas;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(azsign_sas_parse(cases[i].sas, &sas));
		assert_int_equal(sas.has_expiry, cases[i].has);
		assert_int_equal(sas.bad_expiry, cases[i].bad);
		assert_int_equal(sas.account, cases[i].account);
		if (cases[i].has)
			assert_int_equal(sas.expiry_ms, cases[i].ms);
		assert_string_equal(sas.perms, cases[i].perms);
	}
}

/* The sentences of a SAS refused at a step; fixed expiries, so the real
 * clock only decides "long past" or "far ahead". */
static void
test_sas_refusal_text(void **state)
{
	static const struct {
		const char *perms, *code;
		long long expiry_ms;
		const char *want;
	} cases[] = {
		{ "r", "AuthorizationPermissionMismatch", 32503680000000LL,
		    "uploading the probe object was refused "
		    "(AuthorizationPermissionMismatch): the SAS token needs the "
		    "c (create) or w (write) permission; it grants 'r'" },
		{ "", "AuthorizationFailure", 32503680000000LL,
		    "uploading the probe object was refused "
		    "(AuthorizationFailure): the SAS token needs the c (create) "
		    "or w (write) permission" },
		{ "", "", 32503680000000LL,
		    "uploading the probe object was refused (HTTP 403): the SAS "
		    "token needs the c (create) or w (write) permission" },
		{ "rwdl", "AuthorizationResourceTypeMismatch", 32503680000000LL,
		    "uploading the probe object was refused "
		    "(AuthorizationResourceTypeMismatch): the account SAS needs "
		    "the o (object) resource type in srt" },
		{ "rcw", "AuthorizationPermissionMismatch", 1000LL,
		    "uploading the probe object was refused: the SAS token "
		    "expired on 1970-01-01T00:00:01.000Z" },
	};
	struct az a;
	char out[PROBE_DETAIL_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&a, 0, sizeof(a));
		a.sas = "sig=x";
		a.sasinfo.has_expiry = true;
		a.sasinfo.expiry_ms = cases[i].expiry_ms;
		memcpy(a.sasinfo.perms, cases[i].perms,
		    strlen(cases[i].perms) + 1);
		assert_true(sas_step_refused(&a, 403, "AuthorizationFailure"));
		sas_refusal_text(&a, "uploading the probe object", 403,
		    cases[i].code, "c (create) or w (write)", out);
		assert_string_equal(out, cases[i].want);
	}
	/* Only 403 with a SAS, and only these codes. */
	assert_false(sas_step_refused(&a, 409, "AuthorizationFailure"));
	assert_false(sas_step_refused(&a, 403, "AuthenticationFailed"));
	a.sas = NULL;
	assert_false(sas_step_refused(&a, 403,
	    "AuthorizationPermissionMismatch"));
}

/* The immutability headers of a Get Blob answer and the delete refusal
 * become observed.objectLock. */
static void
test_object_lock(void **state)
{
	struct probe_result res;
	struct az a;
	json_object *lock;

	(void)state;
	memset(&res, 0, sizeof(res));
	memset(&a, 0, sizeof(a));
	res.failed = -1;
	a.res = &res;
	memcpy(a.name, ".backupd-probe-0123456789abcdef", 32);
	a.container = "worm";
	/* Nothing seen: nothing observed. */
	observe_lock(&a);
	assert_null(res.observed);

	a.lock.until_known = true;
	a.lock.until_ms = 1797724800000LL;
	memcpy(a.lock.mode, "unlocked", 9);
	kept_immutable(&a, "BlobImmutableDueToPolicy");
	observe_lock(&a);
	assert_int_equal(res.nchecks, 1);
	assert_true(res.checks[0].ok);
	assert_string_equal(res.checks[0].detail, "the probe object was kept: "
	    "an immutability policy refuses deleting it");
	assert_int_equal(res.nwarnings, 1);
	assert_string_equal(res.warnings[0], "the probe object "
	    "'.backupd-probe-0123456789abcdef' stays in container 'worm' until "
	    "its retention ends on 2026-12-20T00:00:00.000Z; delete it then");
	assert_true(json_object_object_get_ex(res.observed, "objectLock",
	    &lock));
	assert_string_equal(json_object_to_json_string_ext(lock,
	    JSON_C_TO_STRING_PLAIN), "{\"mode\":\"unlocked\",\"retainUntil\":"
	    "\"2026-12-20T00:00:00.000Z\",\"legalHold\":null}");
	probe_result_clear(&res);

	memset(&res, 0, sizeof(res));
	memset(&a.lock, 0, sizeof(a.lock));
	kept_immutable(&a, "BlobImmutableDueToLegalHold");
	observe_lock(&a);
	assert_string_equal(res.warnings[0], "the probe object "
	    "'.backupd-probe-0123456789abcdef' stays in container 'worm' until "
	    "its legal hold is removed; delete it then");
	assert_true(json_object_object_get_ex(res.observed, "objectLock",
	    &lock));
	assert_string_equal(json_object_to_json_string_ext(lock,
	    JSON_C_TO_STRING_PLAIN),
	    "{\"mode\":null,\"retainUntil\":null,\"legalHold\":true}");
	probe_result_clear(&res);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical_resource),
		cmocka_unit_test(test_canonical_headers),
		cmocka_unit_test(test_put_blob_string_to_sign),
		cmocka_unit_test(test_signature),
		cmocka_unit_test(test_authorization),
		cmocka_unit_test(test_blob_path),
		cmocka_unit_test(test_error_code),
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_sas_time),
		cmocka_unit_test(test_sas_parse),
		cmocka_unit_test(test_sas_refusal_text),
		cmocka_unit_test(test_object_lock),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
