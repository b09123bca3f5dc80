/*
 * The local-disk probe. The type is enabled only when the server configures
 * local_roots (comma-separated absolute directories); a destination's path
 * must lie under one of them both as written and once every symlink is
 * resolved, so neither "/srv/backups/../../etc" nor a symlink inside a root
 * pointing elsewhere reaches outside. Roots compare by path components:
 * "/srv/backups2" is not under "/srv/backups".
 *
 * connect and auth do not apply to a local directory and are not listed;
 * the checks are target, write, read, delete. Details quote the path the
 * user configured, never the resolved one (which would reveal the server's
 * layout).
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "bd_limits.h"
#include "probe.h"
#include "fdio.h"
#include "commalist.h"

/* realpath() never returns more than PATH_MAX. */
#define LOCAL_PATH_MAX PATH_MAX

/*
 * Lexical normalisation of an absolute path into out (size LOCAL_PATH_MAX):
 * repeated '/', "." and ".." segments collapsed ("/.." stays "/"), no
 * trailing '/'. Returns false for a relative or too long path.
 */
static bool
normalise(const char *in, size_t inlen, char *out)
{
	size_t o = 0, seg;
	const char *p = in, *end = in + inlen;

	if (inlen == 0 || in[0] != '/')
		return false;
	while (p < end) {
		while (p < end && *p == '/')
			p++;
		if (p == end)
			break;
		seg = 0;
		while (p + seg < end && p[seg] != '/')
			seg++;
		if (seg == 1 && p[0] == '.') {
			/* nothing */
		} else if (seg == 2 && p[0] == '.' && p[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else {
			if (o + 1 + seg >= LOCAL_PATH_MAX)
				return false;
			out[o++] = '/';
			memcpy(out + o, p, seg);
			o += seg;
		}
		p += seg;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return true;
}

/* Whether path equals root or lies below it, component-wise. */
static bool
under(const char *path, const char *root)
{
	size_t n = strlen(root);

	if (strcmp(root, "/") == 0)
		return true;
	return strncmp(path, root, n) == 0 &&
	    (path[n] == '\0' || path[n] == '/');
}

/*
 * For each configured root: whether `lexical` (the normalised path as
 * written) lies under the root as written or resolved, and whether
 * `resolved` (the path's realpath; NULL: not known yet) lies under the
 * root's realpath. A root that does not resolve (missing on this host)
 * admits nothing real.
 */
static void
match_roots(const char *roots, const char *lexical, const char *resolved,
    bool *lex_ok, bool *real_ok)
{
	char root[LOCAL_PATH_MAX], *real;
	const char *cur = roots, *p;
	size_t len;

	*lex_ok = *real_ok = false;
	while (commalist_next(&cur, &p, &len)) {
		if (len > 0 && normalise(p, len, root)) {
			if (under(lexical, root))
				*lex_ok = true;
			if ((real = realpath(root, NULL)) != NULL) {
				/* A root given through a symlink also admits
				 * its target spelled out. */
				if (under(lexical, real))
					*lex_ok = true;
				if (resolved != NULL && under(resolved, real))
					*real_ok = true;
				free(real);
			}
		}
	}
}

/*
 * match_roots() as the target check: whether lexical (resolved NULL), or
 * else resolved, lies under a root. Records the failure when not.
 */
static bool
inside_roots(const char *roots, const char *lexical, const char *resolved,
    struct probe_result *res)
{
	bool lex_ok, real_ok;

	match_roots(roots, lexical, resolved, &lex_ok, &real_ok);
	if (resolved == NULL ? lex_ok : real_ok)
		return true;
	probe_fail(res, CHECK_TARGET,
	    "path resolves outside the allowed local roots");
	return false;
}

/*
 * Whether the open descriptor fd really lies under a root: its path as the
 * kernel knows it (realpath of /proc/self/fd/<fd>) is checked like a
 * resolved path. This catches an intermediate directory swapped for a
 * symlink between realpath() and open(), which stat() and open() would
 * both follow. False also when the path cannot be learnt.
 */
static bool
fd_inside_roots(const char *roots, const char *lexical, int fd)
{
	char link[64], *real = NULL;
	bool lex_ok = false, real_ok = false;
	int n;

	n = snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if (n > 0 && (size_t)n < sizeof(link) &&
	    (real = realpath(link, NULL)) != NULL)
		match_roots(roots, lexical, real, &lex_ok, &real_ok);
	free(real);
	return real_ok;
}

static bool
is_permission(int e)
{
	return e == EACCES || e == EPERM || e == EROFS;
}

static bool
is_space(int e)
{
	return e == ENOSPC || e == EDQUOT;
}

/* The registry row's availability rule: the target check's own test, so a
 * server the probe would refuse refuses the type up front. */
const char *
probe_local_unavailable(const struct cfg *c)
{
	if (c != NULL && commalist_any(c->local_roots))
		return NULL;
	return "local destinations are disabled on this server (no "
	    "local_roots configured)";
}

/*
 * target: resolve and confine `path`; on success *dirfd is an open
 * descriptor on the directory. Returns false after recording the failure.
 */
static bool
check_target(const struct probe_env *env, const char *path, size_t pathlen,
    struct probe_result *res, int *dirfd)
{
	char lexical[LOCAL_PATH_MAX], *resolved = NULL;
	const char *roots = env != NULL && env->cfg != NULL ?
	    env->cfg->local_roots : NULL;
	struct stat st, fst;
	bool ok = false;
	int fd = -1, e;

	*dirfd = -1;
	if (!commalist_any(roots)) {
		probe_fail(res, CHECK_TARGET, "local destinations are not "
		    "enabled on this server (no local roots configured)");
		goto out;
	}
	if (strlen(path) != pathlen || !normalise(path, pathlen, lexical)) {
		probe_fail(res, CHECK_TARGET, "the path must be absolute");
		goto out;
	}
	/* Confine before touching the file system: whether something exists
	 * outside the roots is none of the caller's business. */
	if (!inside_roots(roots, lexical, NULL, res))
		goto out;
	if ((resolved = realpath(path, NULL)) == NULL) {
		e = errno;
		if (e == ENOENT)
			probe_fail(res, CHECK_TARGET,
			    "directory '%s' does not exist", path);
		else if (e == ENOTDIR)
			probe_fail(res, CHECK_TARGET,
			    "'%s' is not a directory", path);
		else if (is_permission(e))
			probe_fail(res, CHECK_TARGET,
			    "no permission to reach '%s'", path);
		else if (e == ELOOP)
			probe_fail(res, CHECK_TARGET,
			    "too many symbolic links in '%s'", path);
		else
			probe_fail(res, CHECK_TARGET,
			    "cannot resolve '%s'", path);
		goto out;
	}
	if (!inside_roots(roots, lexical, resolved, res))
		goto out;
	if (stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode)) {
		probe_fail(res, CHECK_TARGET, "'%s' is not a directory", path);
		goto out;
	}
	/* Work through a descriptor from here on, and make sure it is the
	 * directory that was checked (not one swapped in since). */
	fd = open(resolved, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &fst) != 0 || fst.st_dev != st.st_dev ||
	    fst.st_ino != st.st_ino) {
		if (fd < 0 && is_permission(errno))
			probe_fail(res, CHECK_TARGET,
			    "no permission to open '%s'", path);
		else
			probe_fail(res, CHECK_TARGET,
			    "'%s' changed while it was being tested", path);
		goto out;
	}
	/* The probe file is created with openat() relative to this
	 * descriptor, so where the descriptor is decides where it goes. */
	if (!fd_inside_roots(roots, lexical, fd)) {
		probe_fail(res, CHECK_TARGET,
		    "'%s' changed while it was being tested", path);
		goto out;
	}
	probe_pass(res, CHECK_TARGET, "directory '%s' exists", path);
	*dirfd = fd;
	fd = -1;
	ok = true;
out:
	if (fd >= 0)
		close(fd);
	free(resolved);
	return ok;
}

/* write, read, delete of one probe file in dirfd. */
static void
check_io(int dirfd, const char *path, struct probe_result *res)
{
	unsigned char data[LIM_PROBE_BYTES], back[LIM_PROBE_BYTES + 1];
	char name[32];
	bool created = false;
	ssize_t n;
	int fd = -1, e;

	randombytes_buf(data, sizeof(data));
	probe_object_name(name);

	fd = openat(dirfd, name,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		e = errno;
		if (is_permission(e))
			probe_fail(res, CHECK_WRITE,
			    "no permission to write in '%s'", path);
		else if (is_space(e))
			probe_fail(res, CHECK_WRITE,
			    "no space left in '%s'", path);
		else
			probe_fail(res, CHECK_WRITE,
			    "cannot create a file in '%s'", path);
		goto out;
	}
	created = true;
	if (write_all(fd, data, sizeof(data)) != 0 || fsync(fd) != 0) {
		e = errno;
		probe_fail(res, CHECK_WRITE, is_space(e) ?
		    "no space left in '%s'" : "cannot write to '%s'", path);
		goto out;
	}
	e = close(fd);
	fd = -1;
	if (e != 0) {
		probe_fail(res, CHECK_WRITE, "cannot write to '%s'", path);
		goto out;
	}
	probe_pass(res, CHECK_WRITE, "wrote a %d-byte probe file", LIM_PROBE_BYTES);

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || (n = read_all(fd, back, sizeof(back))) < 0) {
		probe_fail(res, CHECK_READ,
		    "cannot read the probe file back from '%s'", path);
		goto out;
	}
	if (n != LIM_PROBE_BYTES || memcmp(back, data, LIM_PROBE_BYTES) != 0) {
		probe_fail(res, CHECK_READ,
		    "the probe file read back differs from what was written");
		goto out;
	}
	probe_pass(res, CHECK_READ, "read the probe file back intact");

	created = false;
	if (unlinkat(dirfd, name, 0) != 0) {
		/* The contract: a refused delete is a warning, not a failure. */
		probe_pass(res, CHECK_DELETE,
		    "the probe file could not be deleted");
		probe_warn(res, "could not delete the probe file '%s' in '%s'; "
		    "remove it by hand", name, path);
		goto out;
	}
	probe_pass(res, CHECK_DELETE, "deleted the probe file");
out:
	if (fd >= 0)
		close(fd);
	/* After a failed write or read, leave nothing behind (best effort). */
	if (created)
		(void)unlinkat(dirfd, name, 0);
	sodium_memzero(back, sizeof(back));
}

/* See probe.h: target, then write / read / delete of a probe file. */
void
probe_local(const struct probe_env *env, json_object *config,
    struct probe_result *res)
{
	json_object *v;
	int dirfd = -1;

	if (!json_object_object_get_ex(config, "path", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		probe_fail(res, CHECK_TARGET, "the config has no path");
		goto out;
	}
	if (!check_target(env, json_object_get_string(v),
	    (size_t)json_object_get_string_len(v), res, &dirfd))
		goto out;
	check_io(dirfd, json_object_get_string(v), res);
out:
	if (dirfd >= 0)
		close(dirfd);
}
