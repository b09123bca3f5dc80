/* dest.c's pure parts: the status names, the Destination representation
 * (redacted from the registry) and the delete answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dest.h"

static void
test_status_names(void **state)
{
	(void)state;
	for (int s = 0; s < DEST_STATUS__MAX; s++) {
		const char *n = dest_status_name((enum dest_status)s);
		assert_non_null(n);
		assert_int_equal(dest_status_of(n), s);
	}
	assert_string_equal(dest_status_name(DEST_PENDING),
	    "pending_authorization");
	assert_string_equal(dest_status_name(DEST_ACTIVE), "active");
	assert_string_equal(dest_status_name(DEST_ERROR), "error");
	assert_string_equal(dest_status_name(DEST_STATUS__MAX), "error");
	assert_int_equal(dest_status_of("Active"), DEST_ERROR);
	assert_int_equal(dest_status_of(NULL), DEST_ERROR);
}

/* ?status= is strict; every reason name round-trips; none is null. */
static void
test_status_parse_and_reasons(void **state)
{
	enum dest_status s = DEST_STATUS__MAX;

	(void)state;
	assert_true(dest_status_parse("pending_authorization", &s));
	assert_int_equal(s, DEST_PENDING);
	assert_true(dest_status_parse("error", &s));
	assert_int_equal(s, DEST_ERROR);
	assert_false(dest_status_parse("Error", &s));
	assert_false(dest_status_parse("", &s));
	assert_false(dest_status_parse("active ", &s));
	assert_false(dest_status_parse(NULL, &s));
	assert_null(dest_reason_name(DEST_REASON_NONE));
	assert_null(dest_reason_name(DEST_REASON__MAX));
	for (int r = 1; r < DEST_REASON__MAX; r++) {
		const char *n = dest_reason_name((enum dest_reason)r);
		assert_non_null(n);
		assert_int_equal(dest_reason_of(n), r);
	}
	assert_string_equal(dest_reason_name(DEST_REASON_REAUTH),
	    "reauthorization_required");
	assert_int_equal(dest_reason_of(NULL), DEST_REASON_NONE);
	assert_int_equal(dest_reason_of("nope"), DEST_REASON_NONE);
}

/* What a test's outcome leaves as the reason. */
static void
test_test_reason(void **state)
{
	(void)state;
	/* A pass clears every reason. */
	assert_int_equal(dest_test_reason(true, false, false,
	    DEST_REASON_TEST_FAILED), DEST_REASON_NONE);
	assert_int_equal(dest_test_reason(true, true, false,
	    DEST_REASON_REAUTH), DEST_REASON_NONE);
	/* A plain failure. */
	assert_int_equal(dest_test_reason(false, false, false,
	    DEST_REASON_NONE), DEST_REASON_TEST_FAILED);
	/* A refresh that found the grant revoked. */
	assert_int_equal(dest_test_reason(false, true, true,
	    DEST_REASON_NONE), DEST_REASON_REAUTH);
	/* Waiting for consent keeps why. */
	assert_int_equal(dest_test_reason(false, true, false,
	    DEST_REASON_REAUTH), DEST_REASON_REAUTH);
	assert_int_equal(dest_test_reason(false, true, false,
	    DEST_REASON_NOT_AUTHORIZED), DEST_REASON_NOT_AUTHORIZED);
	assert_int_equal(dest_test_reason(false, true, false,
	    DEST_REASON_NONE), DEST_REASON_NOT_AUTHORIZED);
}

static const char *
member(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ?
	    json_object_get_string(v) : NULL;
}

/* The contract's Destination: every member, secrets redacted, internal
 * members ("_oauth") and unknown fields dropped. */
static void
test_json(void **state)
{
	struct dest d = {
		.id = "0b9a6c7e-3f1d-4e55-9a57-2f1c8d0e4b21", .org = "acme",
		.name = "n", .type = "s3", .status = "active",
		.last_test_json = "{\"ok\":true}", .version = 3,
		.created_at = "2026-01-01T00:00:00.000Z",
		.updated_at = "2026-01-02T00:00:00.000Z",
		.active_schedules = 2,
	};
	json_object *config = json_tokener_parse("{\"region\":\"r\","
	    "\"bucket\":\"bkt\",\"accessKeyId\":\"k\",\"secretAccessKey\":"
	    "\"SENTINEL\",\"_oauth\":{\"accessToken\":\"SENTINEL\"}}");
	json_object *o, *c, *v;
	const char *s;

	(void)state;
	o = dest_json(&d, dtype_find("s3"), config);
	s = json_object_to_json_string(o);
	assert_null(strstr(s, "SENTINEL"));
	assert_string_equal(member(o, "id"), d.id);
	assert_string_equal(member(o, "name"), "n");
	assert_string_equal(member(o, "destinationType"), "s3");
	assert_string_equal(member(o, "status"), "active");
	assert_string_equal(member(o, "createdAt"), d.created_at);
	assert_string_equal(member(o, "updatedAt"), d.updated_at);
	assert_true(json_object_object_get_ex(o, "activeScheduleCount", &v));
	assert_int_equal(json_object_get_int(v), 2);
	assert_true(json_object_object_get_ex(o, "lastTest", &v));
	assert_true(json_object_is_type(v, json_type_object));
	assert_true(json_object_object_get_ex(o, "config", &c));
	assert_string_equal(member(c, "secretAccessKey"), DTYPE_PLACEHOLDER);
	assert_string_equal(member(c, "bucket"), "bkt");
	assert_false(json_object_object_get_ex(c, "_oauth", NULL));
	assert_false(json_object_object_get_ex(o, "org", NULL));
	/* Healthy: statusReason and lastSuccessAt null, no failures. */
	assert_true(json_object_object_get_ex(o, "statusReason", &v));
	assert_null(v);
	assert_true(json_object_object_get_ex(o, "lastSuccessAt", &v));
	assert_null(v);
	assert_true(json_object_object_get_ex(o, "consecutiveFailures", &v));
	assert_int_equal(json_object_get_int(v), 0);
	json_object_put(o);
	d.status = "error";
	d.status_reason = "test_failed";
	d.consecutive_failures = 3;
	snprintf(d.last_success_at, sizeof(d.last_success_at), "%s",
	    "2026-01-01T10:00:00.000Z");
	o = dest_json(&d, dtype_find("s3"), config);
	assert_string_equal(member(o, "statusReason"), "test_failed");
	assert_string_equal(member(o, "lastSuccessAt"),
	    "2026-01-01T10:00:00.000Z");
	assert_true(json_object_object_get_ex(o, "consecutiveFailures", &v));
	assert_int_equal(json_object_get_int(v), 3);
	json_object_put(o);
	/* No config (not opened) or no type: {}; never tested: null. */
	d.last_test_json = NULL;
	o = dest_json(&d, NULL, config);
	assert_true(json_object_object_get_ex(o, "config", &c));
	assert_int_equal(json_object_object_length(c), 0);
	assert_true(json_object_object_get_ex(o, "lastTest", &v));
	assert_null(v);
	json_object_put(o);
	json_object_put(config);
}

static void
test_deleted_json(void **state)
{
	json_object *o = dest_deleted_json("x"), *v;

	(void)state;
	assert_string_equal(member(o, "id"), "x");
	assert_true(json_object_object_get_ex(o, "deleted", &v));
	assert_true(json_object_get_boolean(v));
	json_object_put(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_status_parse_and_reasons),
		cmocka_unit_test(test_test_reason),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_deleted_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
