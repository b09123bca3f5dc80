/*
 * lib/probe/probe_smb.c: the share-relative path, share names, the
 * share's space from libsmbclient's statvfs (issue 9), and the
 * probe's refusals that happen before any connection (no network: the
 * egress policy denies every address the tests aim at, and a path that
 * leaves the share is refused before resolving anything).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "probe/probe.h"
#include "probe/probe_smb.h"

static void
test_path_split(void **state)
{
	static const struct {
		const char *in, *display, *esc;
		enum smb_path_rc rc;
	} cases[] = {
		{ NULL, "/", "", SMB_PATH_OK },
		{ "", "/", "", SMB_PATH_OK },
		{ "/", "/", "", SMB_PATH_OK },
		{ "a", "/a", "/a", SMB_PATH_OK },
		{ "/a/b/", "/a/b", "/a/b", SMB_PATH_OK },
		{ "a\\b", "/a/b", "/a/b", SMB_PATH_OK },
		{ "//a//./b/.", "/a/b", "/a/b", SMB_PATH_OK },
		{ "Server 1/n%x", "/Server 1/n%x", "/Server%201/n%25x",
		    SMB_PATH_OK },
		{ "h\xc3\xa9", "/h\xc3\xa9", "/h%C3%A9", SMB_PATH_OK },
		{ "..", NULL, NULL, SMB_PATH_DOTDOT },
		{ "a/..", NULL, NULL, SMB_PATH_DOTDOT },
		{ "a\\..\\..\\b", NULL, NULL, SMB_PATH_DOTDOT },
		{ "/./../x", NULL, NULL, SMB_PATH_DOTDOT },
		{ "...", "/...", "/...", SMB_PATH_OK },
		{ "a..b", "/a..b", "/a..b", SMB_PATH_OK },
	};
	char d[64], e[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum smb_path_rc rc = smb_path_split(cases[i].in, d, sizeof(d), e,
		    sizeof(e));
		if (rc != cases[i].rc)
			print_message("case %zu (%s): rc %d\n", i,
			    cases[i].in ? cases[i].in : "NULL", (int)rc);
		assert_int_equal(rc, cases[i].rc);
		if (rc != SMB_PATH_OK)
			continue;
		assert_string_equal(d, cases[i].display);
		assert_string_equal(e, cases[i].esc);
	}
	/* Buffers too small. */
	assert_int_equal(smb_path_split("abcdef", d, 4, e, sizeof(e)),
	    SMB_PATH_LONG);
	assert_int_equal(smb_path_split("a b c", d, sizeof(d), e, 6),
	    SMB_PATH_LONG);
}

static void
test_share_ok(void **state)
{
	static const char *const good[] = { "data", "Data $", "backup-01",
		"h\xc3\xa9llo", "IPC$", NULL };
	static const char *const bad[] = { "", "a/b", "a\\b", "x:y", "*", "a?",
		"[a]", "a|b", "a<b", "a=b", "a;b", "a,b", "a+b", "\"a\"",
		"a\tb", "a\x7f", NULL };
	char longname[82];
	size_t i;

	(void)state;
	for (i = 0; good[i] != NULL; i++)
		assert_true(smb_share_ok(good[i]));
	for (i = 0; bad[i] != NULL; i++) {
		if (smb_share_ok(bad[i]))
			print_message("accepted: %s\n", bad[i]);
		assert_false(smb_share_ok(bad[i]));
	}
	assert_false(smb_share_ok(NULL));
	memset(longname, 'a', 81);
	longname[81] = '\0';
	assert_false(smb_share_ok(longname));
	longname[80] = '\0';
	assert_true(smb_share_ok(longname));
}

/* The probe with a default policy, on a config built from JSON text. */
static void
run(const char *config, struct probe_result *res)
{
	struct cfg c;
	struct egress e;
	struct probe_env env;
	char err[128];
	json_object *o = json_tokener_parse(config);

	assert_non_null(o);
	memset(&c, 0, sizeof(c));
	c.probe_timeout = 5;
	c.probe_connect_timeout = 2;
	assert_int_equal(egress_init(&e, NULL, NULL, err, sizeof(err)), BD_OK);
	env.cfg = &c;
	env.egress = &e;
	env.deadline_ms = clock_mono_ms() + 5000;
	probe_run(probe_smb, &env, o, res);
	egress_free(&e);
	json_object_put(o);
}

static void
test_refused_before_connecting(void **state)
{
	static const char *const hosts[] = { "127.0.0.1", "::1", "[::1]",
		"::ffff:127.0.0.1", "169.254.169.254", "0.0.0.0", "2130706433",
		NULL };
	struct probe_result res;
	char cfg[256];
	size_t i;

	(void)state;
	for (i = 0; hosts[i] != NULL; i++) {
		snprintf(cfg, sizeof(cfg), "{\"host\":\"%s\",\"port\":1,"
		    "\"share\":\"s\",\"username\":\"u\",\"password\":\"pw-x\"}",
		    hosts[i]);
		run(cfg, &res);
		assert_false(res.ok);
		assert_int_equal(res.failed, CHECK_CONNECT);
		assert_int_equal(res.nchecks, 1);
		if (strstr(res.checks[0].detail, "egress policy") == NULL)
			print_message("%s: %s\n", hosts[i],
			    res.checks[0].detail);
		assert_non_null(strstr(res.checks[0].detail, "egress policy"));
		probe_result_clear(&res);
	}
	/* A path leaving the share: target, before anything is resolved. */
	run("{\"host\":\"127.0.0.1\",\"share\":\"s\",\"path\":\"a/../..\","
	    "\"username\":\"u\",\"password\":\"pw\"}", &res);
	assert_int_equal(res.failed, CHECK_TARGET);
	assert_non_null(strstr(res.checks[0].detail, "inside share 's'"));
	probe_result_clear(&res);
	/* Incomplete config (the validator prevents it; the probe copes). */
	run("{\"host\":\"127.0.0.1\",\"share\":\"a/b\",\"username\":\"u\","
	    "\"password\":\"pw\"}", &res);
	assert_int_equal(res.failed, CHECK_CONNECT);
	probe_result_clear(&res);
}

static void
test_space(void **state)
{
	/* f_bsize = bytes per sector, f_frsize = sectors per unit. */
	static const struct {
		unsigned long bsize, frsize;
		unsigned long long blocks, bfree, bavail;
		bool ok;
		int64_t total, used, free;
	} cases[] = {
		/* smbd: 512-byte sectors, 2 per unit (its 1 KiB block). */
		{ 512, 2, 104857600, 5242880, 5242880, true,
		    107374182400LL, 102005473280LL, 5368709120LL },
		/* Quota: less free to the caller than on the disk. */
		{ 512, 8, 1000, 600, 100, true, 4096000, 1638400, 409600 },
		{ 4096, 0, 10, 5, 5, true, 40960, 20480, 20480 },
		/* The query failed: the library left it zeroed. */
		{ 0, 0, 0, 0, 0, false, 0, 0, 0 },
		{ 512, 2, 0, 0, 0, false, 0, 0, 0 },
		/* Inconsistent or overflowing counts. */
		{ 512, 2, 10, 11, 5, false, 0, 0, 0 },
		{ 512, 2, 10, 5, 11, false, 0, 0, 0 },
		{ 4294967295UL, 4294967295UL, 2, 1, 1, false, 0, 0, 0 },
		{ 512, 1, 18014398509481984ULL, 0, 0, false, 0, 0, 0 },
	};
	struct statvfs v;
	int64_t total, used, avail;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&v, 0, sizeof(v));
		v.f_bsize = cases[i].bsize;
		v.f_frsize = cases[i].frsize;
		v.f_blocks = cases[i].blocks;
		v.f_bfree = cases[i].bfree;
		v.f_bavail = cases[i].bavail;
		assert_int_equal(smb_space(&v, &total, &used, &avail),
		    cases[i].ok);
		if (!cases[i].ok)
			continue;
		assert_true(total == cases[i].total);
		assert_true(used == cases[i].used);
		assert_true(avail == cases[i].free);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_split),
		cmocka_unit_test(test_share_ok),
		cmocka_unit_test(test_space),
		cmocka_unit_test(test_refused_before_connecting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
