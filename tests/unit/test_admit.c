/*
 * Admission in the scoreboard (pool mode): per-org and per-host limits,
 * Retry-After, release, and a dead worker's slot taken back. The lock mode
 * (MariaDB named locks) is covered by the integration tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "admit.h"
#include "scoreboard.h"

static struct cfg c;

static enum bd_err
enter_as(int worker, const char *org, struct admit_ticket *t)
{
	sb_attach_worker(worker);
	atomic_store(&sb()->w[worker].pid, 1000 + worker);
	return admit_enter(NULL, &c, org, "webdav", t);
}

static void
test_limits(void **state)
{
	struct admit_ticket t[6];
	int counts[SB_STATE__MAX];

	(void)state;
	memset(&c, 0, sizeof(c));
	c.probe_slots = 3;
	c.probe_slots_per_org = 2;
	c.probe_timeout = 20;
	assert_non_null(sb_create());

	assert_int_equal(enter_as(0, "acme", &t[0]), BD_OK);
	assert_int_equal(enter_as(1, "acme", &t[1]), BD_OK);
	/* acme has its two */
	assert_int_equal(enter_as(2, "acme", &t[2]), BD_ERR_BUSY);
	assert_string_equal(t[2].limit, "organization");
	assert_true(t[2].retry_after >= 1 && t[2].retry_after <= 20);
	assert_false(t[2].held);
	/* "acme " is another org, byte for byte */
	assert_int_equal(enter_as(2, "acme ", &t[2]), BD_OK);
	/* the host has its three */
	assert_int_equal(enter_as(3, "other", &t[3]), BD_ERR_BUSY);
	assert_string_equal(t[3].limit, "server");
	assert_int_equal(atomic_load(&sb()->busy_org), 1);
	assert_int_equal(atomic_load(&sb()->busy_host), 1);
	sb_count(sb(), counts);
	assert_int_equal(counts[SB_PROBING], 3);

	/* release (twice is harmless), then there is room */
	sb_attach_worker(1);
	admit_leave(NULL, &t[1]);
	admit_leave(NULL, &t[1]);
	assert_int_equal(enter_as(3, "other", &t[3]), BD_OK);
	assert_int_equal(enter_as(4, "acme", &t[4]), BD_ERR_BUSY);

	/* a dead worker's slot: the master clears its entry */
	sb_lock(sb());
	sb()->w[0].probing = 0;
	atomic_store(&sb()->w[0].pid, 0);
	sb_unlock(sb());
	assert_int_equal(enter_as(4, "acme", &t[4]), BD_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
