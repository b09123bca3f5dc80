/*
 * libFuzzer driver: the bytes are a backupd.conf. cfg_load reads a path, so
 * the bytes go into a memfd (no file system traffic) named by
 * /proc/self/fd/N; no environment.
 *
 * Properties checked beyond "no crash": an error comes with a message and a
 * zeroed struct; a success leaves every number in its documented range.
 * cfg_free twice (the header promises it is safe on a freed cfg).
 */
#define _GNU_SOURCE /* memfd_create */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cfg.h"

#include "fuzz_fixtures.h"

static int fd = -1;
static char path[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if ((fd = memfd_create("backupd.conf", MFD_CLOEXEC)) < 0) {
		perror("fuzz_cfg: memfd_create");
		abort();
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return 0;
}

static int
all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg c;
	char err[512];
	size_t off = 0;
	ssize_t n;

	if (ftruncate(fd, 0) != 0)
		abort();
	while (off < size) {
		if ((n = pwrite(fd, data + off, size - off, (off_t)off)) <= 0)
			abort();
		off += (size_t)n;
	}

	memset(err, 0, sizeof(err));
	if (cfg_load(&c, path, NULL, err, sizeof(err)) == BD_OK) {
		if (c.workers < 1 || c.workers > 256 || c.max_requests < 1 ||
		    c.request_timeout < 1 || c.request_timeout > 3600 ||
		    c.db_port < 1 || c.db_port > 65535 ||
		    c.jwt_leeway < 0 || c.jwt_leeway > 3600 ||
		    c.probe_connect_timeout < 1 ||
		    c.probe_connect_timeout > 120 || c.probe_timeout < 1 ||
		    c.probe_timeout > 600 || c.max_body < 1024 ||
		    c.max_body > 16L * 1024 * 1024 || c.listen == NULL ||
		    c.jwt_alg == NULL || c.jwt_org_claim == NULL)
			abort();
	} else if (err[0] == '\0' || !all_zero(&c, sizeof(c))) {
		abort();
	}
	cfg_free(&c);
	cfg_free(&c);
	return 0;
}
