/*
 * lib/probe/probe_local.c as a probe, issue 13: per-org local roots (local_per_org:
 * a path must lie under {root}/{org}), which org ids can be a directory,
 * and no "exists" / "does not exist" oracle outside the roots through a
 * symlink inside one. The scratch tree:
 *
 *   base/root/acme/sub              the org's directory and a subdirectory
 *   base/root/acme/to-evil   -> ../evil         (inside the root, other org)
 *   base/root/acme/out-there -> base/outside    (exists, outside)
 *   base/root/acme/out-gone  -> base/outside/no (missing, outside)
 *   base/root/evil                  another org's directory
 *   base/root/linked -> acme        an org directory that is a symlink
 *   base/root/there -> ../outside, base/root/gone -> ../outside/no
 *   base/outside
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "probe/probe.h"

static char base[64];
static char p_root[128], p_acme[128], p_out[128];

static int
mk(const char *rel, const char *link_to)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	return link_to != NULL ? symlink(link_to, p) : mkdir(p, 0700);
}

static int
setup_tree(void **state)
{
	char out_gone[160];

	(void)state;
	snprintf(base, sizeof(base), "/tmp/bd-local-org.XXXXXX");
	if (mkdtemp(base) == NULL)
		return -1;
	snprintf(p_root, sizeof(p_root), "%s/root", base);
	snprintf(p_acme, sizeof(p_acme), "%s/root/acme", base);
	snprintf(p_out, sizeof(p_out), "%s/outside", base);
	snprintf(out_gone, sizeof(out_gone), "%s/outside/no", base);
	if (mk("root", NULL) || mk("outside", NULL) || mk("root/acme", NULL) ||
	    mk("root/acme/sub", NULL) || mk("root/evil", NULL) ||
	    mk("root/acme/to-evil", "../evil") ||
	    mk("root/acme/out-there", p_out) ||
	    mk("root/acme/out-gone", out_gone) ||
	    mk("root/linked", "acme") || mk("root/there", "../outside") ||
	    mk("root/gone", "../outside/no"))
		return -1;
	return 0;
}

static int
teardown_tree(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

/* Probe base/<rel> as org (per_org on or off); the target detail into
 * detail (when it failed). Returns whether the probe passed. */
static bool
run(int per_org, const char *org, const char *rel, char *detail,
    size_t len)
{
	static struct cfg cfg;
	struct probe_env env = { .cfg = &cfg, .org = org };
	struct probe_result r;
	json_object *config = json_object_new_object();
	char path[256];
	bool ok;

	memset(&cfg, 0, sizeof(cfg));
	cfg.local_roots = p_root;
	cfg.local_per_org = per_org;
	snprintf(path, sizeof(path), "%s/%s", base, rel);
	json_object_object_add(config, "path", json_object_new_string(path));
	probe_run(probe_local, &env, config, &r);
	json_object_put(config);
	ok = r.ok;
	detail[0] = '\0';
	if (!ok) {
		assert_int_equal(r.failed, CHECK_TARGET);
		snprintf(detail, len, "%s", r.checks[r.nchecks - 1].detail);
		/* Where a symlink leads is never revealed. */
		assert_null(strstr(detail, p_out));
	}
	probe_result_clear(&r);
	return ok;
}

static void
test_per_org(void **state)
{
	static const struct {
		int per_org;
		const char *org, *rel;
		const char *detail; /* NULL: passes */
	} cases[] = {
		{1, "acme", "root/acme", NULL},
		{1, "acme", "root/acme/sub", NULL},
		{1, "acme", "root/acme/sub/../sub", NULL},
		/* another org's directory, the root itself, a sibling */
		{1, "acme", "root/evil", "this organization's directory"},
		{1, "acme", "root", "this organization's directory"},
		{1, "acme", "root/acme/../evil", "this organization's directory"},
		{1, "acme", "root/acmex", "this organization's directory"},
		/* a symlink inside the org's directory to another org's */
		{1, "acme", "root/acme/to-evil", "outside the allowed"},
		/* the org's directory may not be a symlink */
		{1, "linked", "root/linked/sub", "symbolic link"},
		/* an org without a directory yet */
		{1, "newco", "root/newco", "does not exist"},
		/* org ids that cannot be one directory name */
		{1, "..", "root/..", "not available to this organization"},
		{1, ".hidden", "root/.hidden", "not available"},
		{1, "a/b", "root/a/b", "not available"},
		{1, "acme ", "root/acme ", "not available"},
		{1, "", "root", "not available"},
		{1, NULL, "root/acme", "not available"},
		/* local_per_org = off: one tenant, every root is shared */
		{0, "acme", "root/evil", NULL},
		{0, "acme", "root", NULL},
		{0, NULL, "root/acme/sub", NULL},
		{0, "a/b", "root/acme", NULL},
	};
	char detail[256];
	size_t i;
	bool ok;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ok = run(cases[i].per_org, cases[i].org, cases[i].rel, detail,
		    sizeof(detail));
		if (ok != (cases[i].detail == NULL) || (cases[i].detail !=
		    NULL && strstr(detail, cases[i].detail) == NULL))
			fail_msg("case %zu (%s as %s): ok=%d '%s'", i,
			    cases[i].rel, cases[i].org ? cases[i].org : "NULL",
			    ok, detail);
	}
}

/* A symlink inside a root that leads outside answers one sentence whether
 * its target exists or not, per org and without. */
static void
test_no_oracle_outside(void **state)
{
	static const struct {
		int per_org;
		const char *there, *gone;
	} pairs[] = {
		{1, "root/acme/out-there", "root/acme/out-gone"},
		{1, "root/acme/out-there/x", "root/acme/out-gone/x"},
		{0, "root/there", "root/gone"},
		{0, "root/there/x", "root/gone/x"},
		{0, "root/acme/out-there", "root/acme/out-gone"},
	};
	char a[256], b[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		assert_false(run(pairs[i].per_org, "acme", pairs[i].there, a,
		    sizeof(a)));
		assert_false(run(pairs[i].per_org, "acme", pairs[i].gone, b,
		    sizeof(b)));
		if (strcmp(a, b) != 0)
			fail_msg("pair %zu: '%s' vs '%s'", i, a, b);
		assert_non_null(strstr(a, "outside the allowed local roots"));
	}
}

static void
test_org_ok(void **state)
{
	static const struct {
		const char *org;
		bool ok;
	} cases[] = {
		{"acme", true}, {"42", true}, {"org-1_a.b", true},
		{"ACME", true}, {"-x", true},
		{NULL, false}, {"", false}, {".", false}, {"..", false},
		{".acme", false}, {"a/b", false}, {"a b", false},
		{"acme ", false}, {"a\\b", false}, {"\xc3\xa9", false},
		{"a\nb", false}, {"a:b", false},
	};
	char big[300];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (probe_local_org_ok(cases[i].org) != cases[i].ok)
			fail_msg("'%s'", cases[i].org ? cases[i].org : "NULL");
	memset(big, 'a', sizeof(big));
	big[255] = '\0';
	assert_true(probe_local_org_ok(big));
	big[255] = 'a';
	big[256] = '\0';
	assert_false(probe_local_org_ok(big));
}

static void
test_unavailable(void **state)
{
	struct cfg c;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_non_null(strstr(probe_local_unavailable(&c), "disabled"));
	assert_non_null(probe_local_unavailable(NULL));
	c.local_roots = " , ";
	assert_non_null(probe_local_unavailable(&c));
	c.local_roots = "/srv/backups";
	assert_null(probe_local_unavailable(&c));
	assert_null(probe_local_org_unavailable(&c, "acme"));
	assert_null(probe_local_org_unavailable(&c, "a b"));
	c.local_per_org = 1;
	assert_null(probe_local_org_unavailable(&c, "acme"));
	assert_non_null(strstr(probe_local_org_unavailable(&c, "a b"),
	    "directory name"));
	assert_non_null(probe_local_org_unavailable(&c, NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_per_org, setup_tree,
		    teardown_tree),
		cmocka_unit_test_setup_teardown(test_no_oracle_outside,
		    setup_tree, teardown_tree),
		cmocka_unit_test(test_org_ok),
		cmocka_unit_test(test_unavailable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
