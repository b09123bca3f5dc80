/*
 * lib/probe/probe_local.c's pure path rules: lexical normalisation, the
 * component-wise "under a root" test, and finding the base (a root, or
 * {root}/{org}) a path lies under. The probe itself runs in a scratch directory in
 * test_probe.c. The file is included so its static helpers can be called
 * (the one way tests/unit/probe/ tests static helpers).
 */
/* probe_local.c needs O_PATH: before any system header. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "probe/probe_local.c"

static void
test_normalise(void **state)
{
	static const struct {
		const char *in, *want; /* want NULL: refused */
	} cases[] = {
		{ "/", "/" },
		{ "/srv/backups", "/srv/backups" },
		{ "//srv///backups//", "/srv/backups" },
		{ "/srv/./backups/.", "/srv/backups" },
		{ "/srv/x/../backups", "/srv/backups" },
		{ "/..", "/" },
		{ "/../../etc", "/etc" },
		{ "/srv/..", "/" },
		{ "/a/...", "/a/..." },
		{ "srv/backups", NULL },
		{ "", NULL },
		{ "./x", NULL },
	};
	char out[LOCAL_PATH_MAX], *long_path;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].want == NULL) {
			assert_false(normalise(cases[i].in,
			    strlen(cases[i].in), out));
			continue;
		}
		assert_true(normalise(cases[i].in, strlen(cases[i].in), out));
		assert_string_equal(out, cases[i].want);
	}
	/* Only inlen bytes are read. */
	assert_true(normalise("/srv/backups,/other", 12, out));
	assert_string_equal(out, "/srv/backups");
	/* Longer than PATH_MAX once normalised: refused, not cut. */
	long_path = malloc(LOCAL_PATH_MAX + 8);
	assert_non_null(long_path);
	memset(long_path, 'a', LOCAL_PATH_MAX + 7);
	long_path[0] = '/';
	long_path[LOCAL_PATH_MAX + 7] = '\0';
	assert_false(normalise(long_path, strlen(long_path), out));
	free(long_path);
}

static void
test_under(void **state)
{
	(void)state;
	assert_true(under("/srv/backups", "/srv/backups"));
	assert_true(under("/srv/backups/acme", "/srv/backups"));
	assert_true(under("/anything", "/"));
	assert_false(under("/srv/backups2", "/srv/backups"));
	assert_false(under("/srv", "/srv/backups"));
	assert_false(under("/srv/backup", "/srv/backups"));
}

/* The base a path lies under, lexically: a root as written or as it
 * resolves (a root missing on this host admits nothing), plus "/org". */
static void
test_find_base(void **state)
{
	struct base b;

	(void)state;
	assert_true(find_base("/nonexistent-bd-root, /tmp", NULL, "/tmp/x",
	    &b));
	assert_string_equal(b.real, "/tmp");
	assert_string_equal(b.rel, "x");
	assert_true(find_base(" /tmp/ ,/srv/c", NULL, "/tmp", &b));
	assert_string_equal(b.rel, ".");
	assert_false(find_base("/tmp", NULL, "/tmpx", &b));
	assert_false(find_base("relative, ,", NULL, "/relative", &b));
	assert_false(find_base("/nonexistent-bd-root", NULL,
	    "/nonexistent-bd-root/x", &b));
	/* per org: {root}/{org} and below only */
	assert_true(find_base("/tmp", "acme", "/tmp/acme/x/y", &b));
	assert_string_equal(b.real, "/tmp/acme");
	assert_string_equal(b.rel, "x/y");
	assert_true(find_base("/tmp", "acme", "/tmp/acme", &b));
	assert_string_equal(b.rel, ".");
	assert_false(find_base("/tmp", "acme", "/tmp", &b));
	assert_false(find_base("/tmp", "acme", "/tmp/evil", &b));
	assert_false(find_base("/tmp", "acme", "/tmp/acmex", &b));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalise),
		cmocka_unit_test(test_under),
		cmocka_unit_test(test_find_base),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
