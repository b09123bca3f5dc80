/* Unit tests for lib/listenaddr.c: splitting the listen address forms. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "listenaddr.h"

static void
test_split(void **state)
{
	static const struct {
		const char *where;
		enum listenaddr_kind kind;
		const char *path, *host, *port;
	} t[] = {
		{"unix:/run/backupd/backupd.sock", LISTENADDR_UNIX,
		    "/run/backupd/backupd.sock", NULL, NULL},
		{"127.0.0.1:9000", LISTENADDR_INET, NULL, "127.0.0.1", "9000"},
		{"localhost:8080", LISTENADDR_INET, NULL, "localhost", "8080"},
		{"[::1]:9000", LISTENADDR_INET, NULL, "::1", "9000"},
		{"[fe80::1]:1", LISTENADDR_INET, NULL, "fe80::1", "1"},
		/* The port is getaddrinfo's to refuse (numeric service). */
		{"127.0.0.1:http", LISTENADDR_INET, NULL, "127.0.0.1", "http"},
		{"127.0.0.1:", LISTENADDR_INET, NULL, "127.0.0.1", ""},
		{"127.0.0.1", LISTENADDR_BAD, NULL, NULL, NULL},
		{"[::1:9000", LISTENADDR_BAD, NULL, NULL, NULL},
		{"[::1]", LISTENADDR_BAD, NULL, NULL, NULL},
		{"[::1]9000", LISTENADDR_BAD, NULL, NULL, NULL},
		{"", LISTENADDR_BAD, NULL, NULL, NULL},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char host[64] = "untouched";
		const char *path = NULL, *port = NULL;
		enum listenaddr_kind k = listenaddr_split(t[i].where, &path,
		    host, sizeof(host), &port);

		if (k != t[i].kind)
			fail_msg("%s: kind %d, want %d", t[i].where, (int)k,
			    (int)t[i].kind);
		if (t[i].path != NULL)
			assert_string_equal(path, t[i].path);
		if (t[i].host != NULL) {
			assert_string_equal(host, t[i].host);
			assert_string_equal(port, t[i].port);
		}
	}
}

static void
test_host_truncated(void **state)
{
	char host[4];
	const char *path = NULL, *port = NULL;

	(void)state;
	assert_int_equal(listenaddr_split("example.org:80", &path, host,
	    sizeof(host), &port), LISTENADDR_INET);
	assert_string_equal(host, "exa");
	assert_string_equal(port, "80");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_host_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
