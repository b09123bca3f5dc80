/* Reading a small file that holds secrets: see secret_file.h. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "fdio.h"
#include "secret_file.h"

/* See secret_file.h. */
enum bd_err
secret_file_read_fd(int fd, const char *name, size_t max, unsigned flags,
    char **buf, size_t *len, char *err, size_t errlen)
{
	enum bd_err rc = BD_ERR_CONFIG;
	struct stat st;
	char *b = NULL, extra;
	size_t size;
	ssize_t n, more;

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
	/* All the size said, then one byte more must find the end. */
	if (lseek(fd, 0, SEEK_SET) != 0 || (n = read_all(fd, b, size)) < 0 ||
	    (more = read_all(fd, &extra, 1)) < 0) {
		err_set(err, errlen, "%s: %s", name, strerror(errno));
		goto out;
	}
	if ((size_t)n != size || more != 0) {
		err_set(err, errlen, "%s: changed while being read", name);
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
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
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
