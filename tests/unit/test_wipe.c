/*
 * Unit tests for lib/wipe.c. The binary is linked with -Wl,--wrap=free (see
 * the Makefile), so wipe.o's free() lands in __wrap_free below, which looks
 * at the bytes it is handed before releasing them: that is the only moment
 * a test can see whether a secret was zeroed before it went back to the heap.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "wipe.h"

void __real_free(void *p);
void __wrap_free(void *p);

/* The buffer under watch, and what __wrap_free saw of it. */
static const void *watch;
static size_t watch_len;
static int watch_freed;
static int watch_zero;

void
__wrap_free(void *p)
{
	size_t i;

	if (p != NULL && p == watch) {
		watch_freed++;
		watch_zero = 1;
		for (i = 0; i < watch_len; i++)
			if (((const unsigned char *)p)[i] != 0)
				watch_zero = 0;
	}
	__real_free(p);
}

static void
watch_set(const void *p, size_t n)
{
	watch = p;
	watch_len = n;
	watch_freed = 0;
	watch_zero = 0;
}

static int
all_zero(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* NULL is a no-op for the whole family, as for free(). */
static void
test_null(void **state)
{
	watch_set(NULL, 0);
	wipe_free(NULL, 0);
	wipe_free(NULL, 100);
	wipe_str_free(NULL);
	wipe_json_put(NULL);
	assert_int_equal(watch_freed, 0);
}

/* wipe_free zeroes all n bytes, embedded NULs included, then frees once. */
static void
test_free_zeroes(void **state)
{
	static const char secret[] = "hunter2\0after-the-nul";
	char *p = malloc(sizeof(secret));

	assert_non_null(p);
	memcpy(p, secret, sizeof(secret));
	watch_set(p, sizeof(secret));
	wipe_free(p, sizeof(secret));
	assert_int_equal(watch_freed, 1);
	assert_int_equal(watch_zero, 1);
}

/* n = 0 frees without touching anything. */
static void
test_free_zero_len(void **state)
{
	char *p = malloc(4);

	assert_non_null(p);
	memcpy(p, "abc", 4);
	watch_set(p, 0);
	wipe_free(p, 0);
	assert_int_equal(watch_freed, 1);
}

/* wipe_str_free zeroes strlen(s) bytes, then frees. */
static void
test_str_free_zeroes(void **state)
{
	char *s = strdup("Bearer eyJhbGciOiJIUzI1NiJ9.secret");
	size_t n;

	assert_non_null(s);
	n = strlen(s);
	watch_set(s, n);
	wipe_str_free(s);
	assert_int_equal(watch_freed, 1);
	assert_int_equal(watch_zero, 1);
}

/* The empty string is freed (nothing to wipe). */
static void
test_str_free_empty(void **state)
{
	char *s = strdup("");

	assert_non_null(s);
	watch_set(s, 0);
	wipe_str_free(s);
	assert_int_equal(watch_freed, 1);
}

/*
 * wipe_json_put zeroes every string in the tree: top-level members, nested
 * objects, arrays, arrays of objects, short strings stored inline by json-c
 * and long ones stored on the heap. An extra reference on each string keeps
 * it alive after the put so the test can look at it; the put must still
 * drop the caller's reference on the root (checked by the root's count).
 */
static void
test_json_wipes_tree(void **state)
{
	static const char *text =
	    "{\"type\":\"s3\",\"secret_access_key\":\"AKIAshort\","
	    "\"long\":\"0123456789012345678901234567890123456789-long\","
	    "\"n\":42,\"ok\":true,\"none\":null,\"d\":1.5,"
	    "\"nested\":{\"password\":\"pw\",\"deeper\":{\"k\":\"v\"}},"
	    "\"list\":[\"a1\",{\"token\":\"t1\"},[\"x\"],7]}";
	json_object *root, *keep[8], *v;
	const char *paths[][4] = {
		{ "type" }, { "secret_access_key" }, { "long" },
		{ "nested", "password" }, { "nested", "deeper", "k" },
	};
	size_t i, j, k = 0, lens[8];

	root = json_tokener_parse(text);
	assert_non_null(root);
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		v = root;
		for (j = 0; j < 4 && paths[i][j] != NULL; j++)
			assert_true(json_object_object_get_ex(v, paths[i][j],
			    &v));
		keep[k++] = json_object_get(v);
	}
	assert_true(json_object_object_get_ex(root, "list", &v));
	keep[k++] = json_object_get(json_object_array_get_idx(v, 0));
	assert_true(json_object_object_get_ex(
	    json_object_array_get_idx(v, 1), "token", &keep[k]));
	json_object_get(keep[k++]);
	keep[k++] = json_object_get(json_object_array_get_idx(
	    json_object_array_get_idx(v, 2), 0));
	assert_int_equal(k, 8);
	for (i = 0; i < k; i++) {
		lens[i] = (size_t)json_object_get_string_len(keep[i]);
		assert_true(lens[i] > 0);
		assert_false(all_zero(json_object_get_string(keep[i]),
		    lens[i]));
	}

	/* Hold the root too, to see that the put released one reference. */
	json_object_get(root);
	wipe_json_put(root);
	for (i = 0; i < k; i++)
		assert_true(all_zero(json_object_get_string(keep[i]),
		    lens[i]));
	/* Non-string values are left as they were. */
	assert_true(json_object_object_get_ex(root, "n", &v));
	assert_int_equal(json_object_get_int(v), 42);
	/* The caller's reference is gone: ours is the last one. */
	assert_int_equal(json_object_put(root), 1);
	for (i = 0; i < k; i++)
		assert_int_equal(json_object_put(keep[i]), 1);
}

/* A bare string and an empty container are handled too. */
static void
test_json_scalars(void **state)
{
	json_object *s = json_object_new_string("lonely-secret");
	json_object *e = json_object_new_object();
	json_object *a = json_object_new_array();

	assert_non_null(s);
	json_object_get(s);
	wipe_json_put(s);
	assert_true(all_zero(json_object_get_string(s), 13));
	assert_int_equal(json_object_put(s), 1);
	wipe_json_put(e);
	wipe_json_put(a);
	wipe_json_put(json_object_new_int(5));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null),
		cmocka_unit_test(test_free_zeroes),
		cmocka_unit_test(test_free_zero_len),
		cmocka_unit_test(test_str_free_zeroes),
		cmocka_unit_test(test_str_free_empty),
		cmocka_unit_test(test_json_wipes_tree),
		cmocka_unit_test(test_json_scalars),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
