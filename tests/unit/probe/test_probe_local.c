/*
 * lib/probe/probe_local.c's pure path rules: lexical normalisation, the
 * component-wise "under a root" test, and matching against the list of
 * roots as written. The probe itself runs in a scratch directory in
 * test_probe.c. The file is included so its static helpers can be called
 * (the one way tests/unit/probe/ tests static helpers).
 */
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

/* Lexically under a root as written, whether or not it exists here. */
static void
test_match_roots_lexical(void **state)
{
	bool lex, real;

	(void)state;
	match_roots("/nonexistent-bd-root, /srv/b", "/nonexistent-bd-root/x",
	    NULL, &lex, &real);
	assert_true(lex);
	assert_false(real);
	match_roots(" /srv/b/ ,/srv/c", "/srv/c", NULL, &lex, &real);
	assert_true(lex);
	match_roots("/srv/b", "/srv/bb", NULL, &lex, &real);
	assert_false(lex);
	match_roots("relative, ,", "/relative", NULL, &lex, &real);
	assert_false(lex);
	assert_false(real);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalise),
		cmocka_unit_test(test_under),
		cmocka_unit_test(test_match_roots_lexical),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
