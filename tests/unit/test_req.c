/* Requests and responses: JSON body parsing, query params, content type,
 * If-Match-free helpers, problem documents and serialisation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "req.h"

static void
test_parse_json(void **state)
{
	static const struct {
		const char *body;
		enum bd_err want;
	} cases[] = {
		{"{}", BD_OK},
		{" {\"a\":1} \n", BD_OK},
		{"[1,2]", BD_OK},          /* a value; "not an object" is the
		                              handler's 400 */
		{"", BD_ERR_BAD_REQUEST},
		{"{", BD_ERR_BAD_REQUEST},
		{"{} {}", BD_ERR_BAD_REQUEST},
		{"{}x", BD_ERR_BAD_REQUEST},
		{"{'a':1}", BD_ERR_BAD_REQUEST},
		{"{\"a\":1,}", BD_ERR_BAD_REQUEST},
		{"{\"a\":\"\xff\"}", BD_ERR_BAD_REQUEST},
		{"[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]", BD_ERR_BAD_REQUEST},
		{"NaN", BD_ERR_BAD_REQUEST},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct request r;
		json_object *o = NULL;
		const char *why = NULL;
		memset(&r, 0, sizeof(r));
		r.body = cases[i].body;
		r.body_len = strlen(cases[i].body);
		print_message("case %zu\n", i);
		assert_int_equal(req_parse_json(&r, &o, &why), cases[i].want);
		if (cases[i].want == BD_OK)
			assert_non_null(o);
		else
			assert_non_null(why);
		json_object_put(o);
	}
}

static void
test_content_type(void **state)
{
	static const struct {
		const char *ct;
		bool json;
	} cases[] = {
		{"application/json", true},
		{"application/json; charset=utf-8", true},
		{"Application/JSON", true},
		{"application/jsonx", false},
		{"application/problem+json", false},
		{"text/plain", false},
		{"", false},
		{NULL, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct request r;
		memset(&r, 0, sizeof(r));
		r.content_type = cases[i].ct;
		assert_int_equal(req_is_json(&r), cases[i].json);
	}
}

static void
test_query(void **state)
{
	bool dup;
	char *v;

	v = req_query_param("destinationType=s3&x=1", "destinationType", &dup);
	assert_string_equal(v, "s3");
	assert_false(dup);
	free(v);
	v = req_query_param("a=%41%2f+b&a=2", "a", &dup);
	assert_string_equal(v, "A/ b");
	assert_true(dup);
	free(v);
	assert_null(req_query_param("ab=1", "a", &dup));
	assert_null(req_query_param(NULL, "a", &dup));
	v = req_query_param("a", "a", &dup);
	assert_string_equal(v, "");
	free(v);
	v = req_query_param("a=%zz%4", "a", &dup);
	assert_string_equal(v, "%zz%4");
	free(v);
}

static void
test_request_id(void **state)
{
	struct request r;

	memset(&r, 0, sizeof(r));
	req_set_id(&r, "abc-123_x.y");
	assert_string_equal(r.request_id, "abc-123_x.y");
	req_set_id(&r, "bad id\r\n");
	assert_int_equal(strlen(r.request_id), 32);
	req_set_id(&r, NULL);
	assert_int_equal(strlen(r.request_id), 32);
}

static void
test_problem(void **state)
{
	struct request r;
	struct response resp;
	size_t len = 0;
	char *out;

	memset(&r, 0, sizeof(r));
	req_set_id(&r, "rid1");
	r.authorization = "Bearer x";
	resp_init(&resp);
	resp_problem(&resp, &r, BD_ERR_UNAUTHORIZED, "token %s", "expired");
	out = resp_serialize(&resp, &r, &len);
	assert_non_null(out);
	assert_non_null(strstr(out, "Status: 401 Unauthorized\r\n"));
	assert_non_null(strstr(out,
	    "Content-Type: application/problem+json\r\n"));
	assert_non_null(strstr(out, "WWW-Authenticate: Bearer"));
	assert_non_null(strstr(out, "X-Request-Id: rid1\r\n"));
	assert_non_null(strstr(out, "\"requestId\":\"rid1\""));
	assert_non_null(strstr(out, "\"status\":401"));
	assert_non_null(strstr(out, "\"detail\":\"token expired\""));
	free(out);
	/* A header value with CR/LF is dropped, never injected. */
	resp_header(&resp, "X-Test", "a\r\nSet-Cookie: x");
	assert_null(strstr(resp.headers, "Set-Cookie"));
	resp_clear(&resp);
}

/* If-Match (RFC 9110 §13.1.1) against the strong tag "7": the strong
 * comparison, so a weak tag never matches; syntax errors are 400. */
static void
test_if_match(void **state)
{
	static const struct {
		const char *h;
		enum bd_err want;
	} c[] = {
		{NULL, BD_OK},
		{"*", BD_OK},
		{"\"7\"", BD_OK},
		{" \"7\" ", BD_OK},
		{"\"1\", \"7\"", BD_OK},
		{"\"1\",\"7\"", BD_OK},
		{"W/\"7\", \"7\"", BD_OK},
		{"\"8\"", BD_ERR_PRECONDITION},
		{"\"70\"", BD_ERR_PRECONDITION},
		{"\"07\"", BD_ERR_PRECONDITION},
		{"W/\"7\"", BD_ERR_PRECONDITION},
		{"W/\"7\", W/\"8\"", BD_ERR_PRECONDITION},
		{"w/\"7\"", BD_ERR_BAD_REQUEST},
		{"", BD_ERR_BAD_REQUEST},
		{" , ", BD_ERR_BAD_REQUEST},
		{"7", BD_ERR_BAD_REQUEST},
		{"W/", BD_ERR_BAD_REQUEST},
		{"W/7", BD_ERR_BAD_REQUEST},
		{"\"7", BD_ERR_BAD_REQUEST},
		{"\"1\" \"7\"", BD_ERR_BAD_REQUEST},
		{"\"1\",,garbage", BD_ERR_BAD_REQUEST},
		{"*x", BD_ERR_BAD_REQUEST},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		print_message("case %zu: %s\n", i, c[i].h ? c[i].h : "(null)");
		assert_int_equal(req_if_match(c[i].h, 7), c[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_json),
		cmocka_unit_test(test_content_type),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_request_id),
		cmocka_unit_test(test_problem),
		cmocka_unit_test(test_if_match),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
