/* dest.c's pure parts: the status names, the Destination representation
 * (redacted from the registry) and the delete answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
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
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_deleted_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
