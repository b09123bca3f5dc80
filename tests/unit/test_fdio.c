/* Unit tests for lib/fdio.c: write_all and read_all over short transfers
 * and failures. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdio.h"

#define BIG (1024 * 1024) /* many times a pipe's buffer: short writes */

/* A pipe that a child drains: each write(2) takes at most a pipe's buffer. */
static void
test_pipe_short_writes(void **state)
{
	unsigned char *buf = malloc(BIG), *back = malloc(BIG);
	size_t got = 0;
	ssize_t n;
	int fds[2], status;
	pid_t pid;
	size_t i;

	assert_non_null(buf);
	assert_non_null(back);
	for (i = 0; i < BIG; i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		_exit(write_all(fds[1], buf, BIG) == 0 ? 0 : 1);
	}
	close(fds[1]);
	while ((n = read(fds[0], back + got, BIG - got)) > 0)
		got += (size_t)n;
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(got, BIG);
	assert_memory_equal(buf, back, BIG);
	free(buf);
	free(back);
}

/* A regular file gets every byte; zero bytes is a success. */
static void
test_file(void **state)
{
	char path[] = "/tmp/test_fdioXXXXXX", back[16];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, "hello, world", 12), 0);
	assert_int_equal(write_all(fd, "", 0), 0);
	assert_int_equal(pread(fd, back, sizeof(back), 0), 12);
	assert_memory_equal(back, "hello, world", 12);
	close(fd);
	unlink(path);
}

/* Failures: -1 with errno from write(2). */
static void
test_errors(void **state)
{
	int fds[2];
	int fd = open("/dev/null", O_RDONLY);
	void (*old)(int);

	assert_true(fd >= 0);
	errno = 0;
	assert_int_equal(write_all(fd, "x", 1), -1);
	assert_int_equal(errno, EBADF);
	close(fd);
	errno = 0;
	assert_int_equal(write_all(-1, "x", 1), -1);
	assert_int_equal(errno, EBADF);

	/* A pipe with no reader: EPIPE (SIGPIPE ignored for the test). */
	old = signal(SIGPIPE, SIG_IGN);
	assert_int_equal(pipe(fds), 0);
	close(fds[0]);
	errno = 0;
	assert_int_equal(write_all(fds[1], "x", 1), -1);
	assert_int_equal(errno, EPIPE);
	close(fds[1]);
	signal(SIGPIPE, old);

	/* /dev/full: ENOSPC. */
	if ((fd = open("/dev/full", O_WRONLY)) >= 0) {
		errno = 0;
		assert_int_equal(write_all(fd, "x", 1), -1);
		assert_int_equal(errno, ENOSPC);
		close(fd);
	}
}

/* read_all gathers a pipe's many short reads, stops at end of file with
 * what it got, and reports errors. */
static void
test_read_all(void **state)
{
	unsigned char *buf = malloc(BIG), *back = malloc(BIG + 16);
	int fds[2], status;
	pid_t pid;
	size_t i;

	assert_non_null(buf);
	assert_non_null(back);
	for (i = 0; i < BIG; i++)
		buf[i] = (unsigned char)(i * 13 + 1);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		/* Dribble: many writes of odd sizes. */
		for (i = 0; i < BIG; i += 4093)
			if (write_all(fds[1], buf + i,
			    BIG - i < 4093 ? BIG - i : 4093) != 0)
				_exit(1);
		_exit(0);
	}
	close(fds[1]);
	/* Asking for more than there is: all of it, then EOF. */
	assert_int_equal(read_all(fds[0], back, BIG + 16), BIG);
	assert_memory_equal(buf, back, BIG);
	assert_int_equal(read_all(fds[0], back, 1), 0);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(read_all(fds[0], back, 0), 0);

	errno = 0;
	assert_int_equal(read_all(-1, back, 1), -1);
	assert_int_equal(errno, EBADF);
	free(buf);
	free(back);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipe_short_writes),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_read_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
