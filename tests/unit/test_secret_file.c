/*
 * Unit tests for lib/secret_file.c: what is read, what is refused and why,
 * and that a reason never shows the content.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secret_file.h"

#define SENTINEL "S3cr3t-sentinel-7f1c"

static char dir[] = "/tmp/test_secret_fileXXXXXX";

static const char *
path_of(const char *name)
{
	static char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

static void
put(const char *name, const void *data, size_t len)
{
	int fd = open(path_of(name), O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static int
setup(void **state)
{
	if (mkdtemp(dir) == NULL)
		return -1;
	put("key", SENTINEL "\n", sizeof(SENTINEL));
	put("empty", "", 0);
	put("nul", SENTINEL "\0tail", sizeof(SENTINEL) + 4);
	put("max", "0123456789", 10);
	if (mkfifo(path_of("fifo"), 0600) != 0)
		return -1;
	if (mkdir(path_of("sub"), 0700) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	const char *names[] = { "key", "empty", "nul", "max" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(path_of(names[i]));
	unlink(path_of("fifo"));
	rmdir(path_of("sub"));
	rmdir(dir);
	return 0;
}

/* A regular file is read whole, NUL-terminated, newline and all. */
static void
test_reads(void **state)
{
	char err[256] = "", *buf = NULL;
	size_t len = 0;

	assert_int_equal(secret_file_read(path_of("key"), 1024,
	    SECRET_FILE_TEXT, &buf, &len, err, sizeof(err)), BD_OK);
	assert_int_equal(len, sizeof(SENTINEL));
	assert_memory_equal(buf, SENTINEL "\n", len + 1);
	secret_file_free(buf);

	/* Empty is fine: what an empty secret means is the caller's call. */
	assert_int_equal(secret_file_read(path_of("empty"), 1024, 0, &buf,
	    &len, err, sizeof(err)), BD_OK);
	assert_int_equal(len, 0);
	assert_string_equal(buf, "");
	secret_file_free(buf);

	/* Exactly max bytes is allowed; max - 1 is not. */
	assert_int_equal(secret_file_read(path_of("max"), 10, 0, &buf, &len,
	    err, sizeof(err)), BD_OK);
	assert_int_equal(len, 10);
	secret_file_free(buf);
	secret_file_free(NULL);
}

/* Binary content is kept (an HMAC secret may hold any byte)... */
static void
test_binary(void **state)
{
	char err[256], *buf = NULL;
	size_t len = 0;

	assert_int_equal(secret_file_read(path_of("nul"), 1024, 0, &buf, &len,
	    err, sizeof(err)), BD_OK);
	assert_int_equal(len, sizeof(SENTINEL) + 4);
	assert_memory_equal(buf, SENTINEL "\0tail", len + 1);
	secret_file_free(buf);
}

/* Each refusal: its return, its reason, the path named, no content. */
static void
test_refusals(void **state)
{
	const struct {
		const char *name;
		size_t max;
		unsigned flags;
		enum bd_err rc;
		const char *reason;
	} cases[] = {
		{ "missing", 1024, 0, BD_ERR_CONFIG,
		    ": No such file or directory" },
		{ "sub", 1024, 0, BD_ERR_CONFIG, ": is a directory" },
		{ "fifo", 1024, 0, BD_ERR_CONFIG, ": not a regular file" },
		{ "max", 9, 0, BD_ERR_CONFIG, ": larger than 9 bytes" },
		{ "key", 0, 0, BD_ERR_CONFIG, ": larger than 0 bytes" },
		{ "nul", 1024, SECRET_FILE_TEXT, BD_ERR_CONFIG,
		    ": contains a NUL byte" },
	};
	char err[256], want[512], *buf;
	size_t i, len;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf = (char *)1;
		len = 7;
		err[0] = '\0';
		if (secret_file_read(path_of(cases[i].name), cases[i].max,
		    cases[i].flags, &buf, &len, err, sizeof(err)) !=
		    cases[i].rc)
			fail_msg("%s: accepted", cases[i].name);
		assert_null(buf);
		assert_int_equal(len, 0);
		snprintf(want, sizeof(want), "%s%s", path_of(cases[i].name),
		    cases[i].reason);
		if (strcmp(err, want) != 0)
			fail_msg("%s: '%s'", cases[i].name, err);
		assert_null(strstr(err, SENTINEL));
	}
	/* No room for a reason is fine. */
	assert_int_equal(secret_file_read(path_of("missing"), 1, 0, &buf,
	    &len, NULL, 0), BD_ERR_CONFIG);
}

/* Not regular, though open(2) succeeds: devices, and /proc files whose
 * size says 0 but which hold text (refused as changing under the read). */
static void
test_special_files(void **state)
{
	char err[256], *buf;
	size_t len;

	assert_int_equal(secret_file_read("/dev/null", 1024, 0, &buf, &len,
	    err, sizeof(err)), BD_ERR_CONFIG);
	assert_string_equal(err, "/dev/null: not a regular file");
	assert_int_equal(secret_file_read("/proc/self/status", 1 << 20, 0,
	    &buf, &len, err, sizeof(err)), BD_ERR_CONFIG);
	assert_string_equal(err,
	    "/proc/self/status: changed while being read");
	assert_null(buf);
}

/* The descriptor form reads from offset 0 wherever the offset is, on a
 * descriptor opened for appending, and leaves the descriptor open. */
static void
test_fd(void **state)
{
	char err[256], *buf;
	size_t len;
	int fd = open(path_of("key"), O_RDWR | O_APPEND);

	assert_true(fd >= 0);
	assert_true(lseek(fd, 0, SEEK_END) > 0);
	assert_int_equal(secret_file_read_fd(fd, "the ring", 1024,
	    SECRET_FILE_TEXT, &buf, &len, err, sizeof(err)), BD_OK);
	assert_int_equal(len, sizeof(SENTINEL));
	assert_memory_equal(buf, SENTINEL "\n", len);
	secret_file_free(buf);
	assert_true(fcntl(fd, F_GETFD) >= 0);
	close(fd);

	/* A write-only descriptor cannot be read: the system's reason. */
	fd = open(path_of("key"), O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(secret_file_read_fd(fd, "the ring", 1024, 0, &buf,
	    &len, err, sizeof(err)), BD_ERR_CONFIG);
	assert_string_equal(err, "the ring: Bad file descriptor");
	close(fd);
	assert_int_equal(secret_file_read_fd(-1, "nothing", 1024, 0, &buf,
	    &len, err, sizeof(err)), BD_ERR_CONFIG);
	assert_string_equal(err, "nothing: Bad file descriptor");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads),
		cmocka_unit_test(test_binary),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_special_files),
		cmocka_unit_test(test_fd),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
