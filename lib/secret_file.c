/* Reading a small file that holds secrets: see secret_file.h. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "secret_file.h"

/* pread until len bytes or EOF from off; returns the count, -1 on error. */
static ssize_t
pread_full(int fd, char *buf, size_t len, off_t off)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = pread(fd, buf + got, len - got, off + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* See secret_file.h. */
enum bd_err
secret_file_read_fd(int fd, const char *name, size_t max, unsigned flags,
    char **buf, size_t *len, char *err, size_t errlen)
{
	enum bd_err rc = BD_ERR_CONFIG;
	struct stat st;
	char *b = NULL, extra;
	size_t size;
	ssize_t n;

	*buf = NULL;
	*len = 0;
	if (sodium_init() < 0) {
		err_set(err, errlen, "%s: libsodium failed to initialise",
		    name);
		return BD_ERR_INTERNAL;
	}
	if (fstat(fd, &st) != 0) {
		err_set(err, errlen, "%s: %s", name, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		err_set(err, errlen, "%s: is a directory", name);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(err, errlen, "%s: not a regular file", name);
		goto out;
	}
	if (st.st_size < 0 || (unsigned long long)st.st_size > max) {
		err_set(err, errlen, "%s: larger than %zu bytes", name, max);
		goto out;
	}
	size = (size_t)st.st_size;
	if ((b = sodium_malloc(size + 1)) == NULL) {
		rc = BD_ERR_NOMEM;
		err_set(err, errlen, "%s: out of memory", name);
		goto out;
	}
	if ((n = pread_full(fd, b, size, 0)) < 0 ||
	    (size_t)n != size ||
	    (n = pread_full(fd, &extra, 1, (off_t)size)) != 0) {
		if (n < 0)
			err_set(err, errlen, "%s: %s", name, strerror(errno));
		else
			err_set(err, errlen, "%s: changed while being read",
			    name);
		goto out;
	}
	b[size] = '\0';
	if ((flags & SECRET_FILE_TEXT) && memchr(b, '\0', size) != NULL) {
		err_set(err, errlen, "%s: contains a NUL byte", name);
		goto out;
	}
	*buf = b;
	*len = size;
	b = NULL;
	rc = BD_OK;
out:
	secret_file_free(b);
	return rc;
}

/* See secret_file.h. */
enum bd_err
secret_file_read(const char *path, size_t max, unsigned flags, char **buf,
    size_t *len, char *err, size_t errlen)
{
	enum bd_err rc;
	int fd;

	*buf = NULL;
	*len = 0;
	/* O_NONBLOCK: a FIFO opens at once (and is refused) instead of
	 * waiting for a writer; it changes nothing for a regular file. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) < 0) {
		err_set(err, errlen, "%s: %s", path, strerror(errno));
		return BD_ERR_CONFIG;
	}
	rc = secret_file_read_fd(fd, path, max, flags, buf, len, err, errlen);
	close(fd);
	return rc;
}

/* See secret_file.h. */
void
secret_file_free(char *buf)
{
	if (buf != NULL)
		sodium_free(buf); /* wipes */
}
