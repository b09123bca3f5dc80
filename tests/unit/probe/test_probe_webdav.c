/*
 * lib/probe_webdav.c: the collection URL, the PROPFIND answer's
 * resourcetype, the status sentences, and the probe's refusals that happen
 * before any connection (no network: the egress policy denies everything
 * the tests aim at). The file is included so its static helpers can be
 * called; its one public function then comes from here, not the library.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "probe/probe_webdav.c"

/* ------------------------------------------------------ collection_url */

static void
test_collection_url(void **state)
{
	static const struct {
		const char *in, *coll, *path, *err;
	} cases[] = {
		{ "https://nas.lan/dav", "https://nas.lan/dav/", "/dav/", NULL },
		{ "https://nas.lan/dav/", "https://nas.lan/dav/", "/dav/", NULL },
		{ "http://10.0.0.5:8080/a/b/c", "http://10.0.0.5:8080/a/b/c/",
		    "/a/b/c/", NULL },
		{ "https://nas.lan", "https://nas.lan/", "/", NULL },
		{ "https://nas.lan:443/", "https://nas.lan:443/", "/", NULL },
		{ "https://[2001:db8::1]:8443/remote.php/dav/files/u",
		    "https://[2001:db8::1]:8443/remote.php/dav/files/u/",
		    "/remote.php/dav/files/u/", NULL },
		{ "https://nas.lan/dav?x=1", NULL, NULL, "query" },
		{ "https://nas.lan/dav/?", NULL, NULL, "query" },
		{ "nas.lan/dav", NULL, NULL, "http" },
	};
	size_t i, off;
	const char *err;
	char *out;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err = collection_url(cases[i].in, &out, &off);
		if (cases[i].err != NULL) {
			assert_non_null(err);
			assert_non_null(strstr(err, cases[i].err));
			assert_null(out);
			continue;
		}
		assert_null(err);
		assert_string_equal(out, cases[i].coll);
		assert_string_equal(out + off, cases[i].path);
		free(out);
	}
}

/* --------------------------------------------------- RFC 4331 quota */

static void
test_quota(void **state)
{
	static const char ok[] =
	    "<?xml version=\"1.0\"?><D:multistatus xmlns:D=\"DAV:\">"
	    "<D:response><D:href>/dav/</D:href><D:propstat><D:prop>"
	    "<D:resourcetype><D:collection/></D:resourcetype>"
	    "<D:quota-available-bytes> 5368709120 </D:quota-available-bytes>"
	    "<lp1:quota-used-bytes xmlns:lp1=\"DAV:\">1024"
	    "</lp1:quota-used-bytes></D:prop></D:propstat></D:response>"
	    "</D:multistatus>";
	static const char missing[] =
	    "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:propstat>"
	    "<D:prop><D:resourcetype><D:collection/></D:resourcetype>"
	    "</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>"
	    "<D:propstat><D:prop><D:quota-available-bytes/>"
	    "<D:quota-used-bytes/></D:prop>"
	    "<D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>"
	    "</D:response></D:multistatus>";
	static const char *const bad[] = {
	    "<D:quota-used-bytes>-5</D:quota-used-bytes>",
	    "<D:quota-used-bytes>12x</D:quota-used-bytes>",
	    "<D:quota-used-bytes></D:quota-used-bytes>",
	    "<D:quota-used-bytes>99999999999999999999</D:quota-used-bytes>",
	    "<D:quota-used-bytes>12",
	    "<D:quota-used-bytes",
	};

	(void)state;
	assert_true(dav_prop_bytes(ok, sizeof(ok) - 1,
	    "quota-available-bytes") == 5368709120LL);
	assert_true(dav_prop_bytes(ok, sizeof(ok) - 1, "quota-used-bytes") ==
	    1024);
	assert_true(dav_prop_bytes(missing, sizeof(missing) - 1,
	    "quota-available-bytes") == -1);
	assert_true(dav_prop_bytes(missing, sizeof(missing) - 1,
	    "quota-used-bytes") == -1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_true(dav_prop_bytes(bad[i], strlen(bad[i]),
		    "quota-used-bytes") == -1);
	/* Only the bytes received are read. */
	assert_true(dav_prop_bytes(ok, 60, "quota-available-bytes") == -1);
}

/* --------------------------------------------------- dav_is_collection */

static void
test_is_collection(void **state)
{
	static const struct {
		const char *body;
		int want;
	} cases[] = {
		/* Apache mod_dav (lp1: prefix for live properties). */
		{ "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
		  "<D:multistatus xmlns:D=\"DAV:\" xmlns:ns0=\"DAV:\">\n"
		  "<D:response xmlns:lp1=\"DAV:\">\n<D:href>/dav/</D:href>\n"
		  "<D:propstat>\n<D:prop>\n"
		  "<lp1:resourcetype><D:collection/></lp1:resourcetype>\n"
		  "</D:prop>\n<D:status>HTTP/1.1 200 OK</D:status>\n"
		  "</D:propstat>\n</D:response>\n</D:multistatus>\n", 1 },
		/* Apache, a file: an empty resourcetype. */
		{ "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:propstat>"
		  "<D:prop><lp1:resourcetype/></D:prop></D:propstat>"
		  "</D:response></D:multistatus>", 0 },
		/* nginx dav-ext / Nextcloud style, lower-case prefix. */
		{ "<d:multistatus xmlns:d=\"DAV:\"><d:response><d:propstat>"
		  "<d:prop><d:resourcetype><d:collection /></d:resourcetype>"
		  "</d:prop></d:propstat></d:response></d:multistatus>", 1 },
		/* Default namespace, no prefix, whitespace inside. */
		{ "<multistatus xmlns=\"DAV:\"><response><propstat><prop>"
		  "<resourcetype>\n  <collection/>\n</resourcetype>"
		  "</prop></propstat></response></multistatus>", 1 },
		/* An open-close pair without content: not a collection. */
		{ "<D:prop><D:resourcetype></D:resourcetype></D:prop>", 0 },
		/* Another type inside (e.g. a calendar) but no collection. */
		{ "<D:resourcetype><C:calendar/></D:resourcetype>", 0 },
		/* "collection" outside resourcetype does not count. */
		{ "<D:href>/collection/</D:href><D:collection/>"
		  "<D:resourcetype/>", 0 },
		/* A prefix that merely ends in "collection". */
		{ "<D:resourcetype><X:mycollection/></D:resourcetype>", 0 },
		/* No resourcetype at all / cut short / empty. */
		{ "<D:multistatus><D:response/></D:multistatus>", -1 },
		{ "<D:resourcetype><D:colle", -1 },
		{ "<D:resourcetype", -1 },
		{ "", -1 },
		{ "<<<>>>/<>", -1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (dav_is_collection(cases[i].body, strlen(cases[i].body)) !=
		    cases[i].want)
			fail_msg("case %zu: want %d", i, cases[i].want);
	}
	/* Only len bytes are read: a collection past len is not seen. */
	assert_int_equal(dav_is_collection(
	    "<D:resourcetype><D:collection/>", 17), -1);
}

/* -------------------------------------------------------- status texts */

static void
test_status_texts(void **state)
{
	const struct status_text *tables[] = { put_texts, get_texts,
		delete_texts };
	const struct status_text *t;
	char code[16];
	size_t i;

	(void)state;
	assert_non_null(strstr(status_text(put_texts, 403), "forbids writing"));
	assert_non_null(strstr(status_text(put_texts, 507), "storage"));
	assert_non_null(strstr(status_text(put_texts, 405), "PUT"));
	assert_null(status_text(put_texts, 500));
	assert_null(status_text(get_texts, 200));
	assert_non_null(strstr(status_text(delete_texts, 403), "deleting"));
	/* Every sentence names the status it explains. */
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		for (t = tables[i]; t->text != NULL; t++) {
			snprintf(code, sizeof(code), "(HTTP %ld)", t->status);
			if (strstr(t->text, code) == NULL)
				fail_msg("'%s' does not say %s", t->text, code);
		}
}

/* ------------------------------------------- refusals before connecting */

static json_object *
config(const char *url, const char *user, const char *pass)
{
	json_object *o = json_object_new_object();

	if (url != NULL)
		json_object_object_add(o, "url", json_object_new_string(url));
	if (user != NULL)
		json_object_object_add(o, "username",
		    json_object_new_string(user));
	if (pass != NULL)
		json_object_object_add(o, "password",
		    json_object_new_string(pass));
	return o;
}

static void
test_probe_refusals(void **state)
{
	static const struct {
		const char *url, *user, *pass;
		enum probe_check failed;
		const char *detail;
		int nwarnings;
	} cases[] = {
		{ NULL, NULL, NULL, CHECK_CONNECT, "no url", 0 },
		{ "ftp://nas.lan/dav", NULL, NULL, CHECK_CONNECT, "http", 0 },
		{ "https://nas.lan/dav?a=b", NULL, NULL, CHECK_TARGET, "query",
		    0 },
		{ "https://nas.lan/dav", NULL, "pw", CHECK_AUTH,
		    "without a username", 0 },
		{ "https://nas.lan/dav", "", "pw", CHECK_AUTH,
		    "without a username", 0 },
		/* Denied by the policy before any connection; http warns. */
		{ "http://127.0.0.1:9/dav", "u", "pw", CHECK_CONNECT,
		    "egress policy", 1 },
		{ "https://127.0.0.1:9/dav", NULL, NULL, CHECK_CONNECT,
		    "egress policy", 0 },
		{ "https://[::1]:9/dav", NULL, NULL, CHECK_CONNECT,
		    "egress policy", 0 },
		{ "https://[::ffff:127.0.0.1]:9/", NULL, NULL, CHECK_CONNECT,
		    "egress policy", 0 },
		/* Spellings curl turns into 127.0.0.1, and a name that
		 * resolves to loopback (/etc/hosts, no DNS needed). */
		{ "https://2130706433:9/", NULL, NULL, CHECK_CONNECT,
		    "egress policy", 0 },
		{ "https://0177.0.0.1:9/", NULL, NULL, CHECK_CONNECT,
		    "egress policy", 0 },
		{ "https://localhost:9/dav", NULL, NULL, CHECK_CONNECT,
		    "egress policy", 0 },
		{ "https://169.254.169.254/latest/", NULL, NULL, CHECK_CONNECT,
		    "egress policy", 0 },
	};
	struct egress eg;
	struct cfg c;
	struct probe_env env;
	struct probe_result r;
	json_object *o;
	char err[128];
	size_t i;
	int k;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.probe_connect_timeout = 2;
	c.probe_timeout = 3;
	assert_int_equal(egress_init(&eg, NULL, NULL, err, sizeof(err)),
	    BD_OK);
	memset(&env, 0, sizeof(env));
	env.cfg = &c;
	env.egress = &eg;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		o = config(cases[i].url, cases[i].user, cases[i].pass);
		probe_run(probe_webdav, &env, o, &r);
		assert_false(r.ok);
		if (r.failed != (int)cases[i].failed)
			fail_msg("case %zu: failed %d", i, r.failed);
		k = r.nchecks - 1;
		assert_true(k >= 0);
		if (strstr(r.checks[k].detail, cases[i].detail) == NULL)
			fail_msg("case %zu: detail '%s'", i, r.checks[k].detail);
		assert_int_equal(r.nwarnings, cases[i].nwarnings);
		for (k = 0; k < r.nwarnings; k++) {
			assert_non_null(strstr(r.warnings[k], "http://"));
			assert_null(strstr(r.warnings[k], "pw"));
		}
		probe_result_clear(&r);
		json_object_put(o);
	}
	egress_free(&eg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_collection_url),
		cmocka_unit_test(test_is_collection),
		cmocka_unit_test(test_quota),
		cmocka_unit_test(test_status_texts),
		cmocka_unit_test(test_probe_refusals),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
