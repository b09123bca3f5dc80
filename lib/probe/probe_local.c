/*
 * The local-disk probe. The type is enabled only when the server configures
 * local_roots (comma-separated absolute directories). With local_per_org
 * (the default) each organization has its own directory under every root,
 * {root}/{org id}, and a destination's path must lie under it; the org id
 * must then be one safe directory name (probe_local_org_ok). With it off,
 * every org shares the roots (single-tenant servers only).
 *
 * Confinement: the path must lie under its base both as written (checked
 * before the file system is touched) and once resolved. Resolution happens
 * beneath the base with openat2(RESOLVE_BENEATH): a symlink that leads out
 * fails the same way whether its target exists or not, so nothing outside
 * the roots is looked up and the error text is no oracle for it. Where the
 * kernel has no openat2 (before 5.6), realpath() is used and every failure
 * to resolve answers one sentence. Roots compare by path components:
 * "/srv/backups2" is not under "/srv/backups".
 *
 * connect and auth do not apply to a local directory and are not listed;
 * the checks are target, write, read, delete. Details quote the path the
 * user configured, never the resolved one (which would reveal the server's
 * layout).
 */
/* O_PATH */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>
#include <sodium.h>

#include "bd_limits.h"
#include "probe.h"
#include "fdio.h"
#include "commalist.h"

/* realpath() never returns more than PATH_MAX. */
#define LOCAL_PATH_MAX PATH_MAX
/* An org id used as a directory name: one path segment (NAME_MAX). */
#define LOCAL_ORG_MAX 255

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

/* See probe.h. */
bool
probe_local_org_ok(const char *org)
{
	size_t n;

	if (org == NULL || org[0] == '\0' || org[0] == '.')
		return false;
	n = strlen(org);
	return n <= LOCAL_ORG_MAX && strspn(org, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
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

/* See probe.h. */
const char *
probe_local_org_unavailable(const struct cfg *c, const char *org)
{
	if (c != NULL && c->local_per_org && !probe_local_org_ok(org))
		return "local destinations are not available to this "
		    "organization: its id cannot be used as a directory name";
	return NULL;
}

/*
 * Where a destination path may live: one root's directory for it (the root,
 * or {root}/{org} with local_per_org), as the kernel knows it (`real`), and
 * the path relative to it (`rel`, "." for the directory itself).
 */
struct base {
	char real[LOCAL_PATH_MAX];
	char rel[LOCAL_PATH_MAX];
};

/* dst = a + "/" + b (b NULL: a); false when it does not fit. */
static bool
join(char *dst, const char *a, const char *b)
{
	int n = b == NULL ? snprintf(dst, LOCAL_PATH_MAX, "%s", a) :
	    snprintf(dst, LOCAL_PATH_MAX, "%s%s%s", a,
	    strcmp(a, "/") == 0 ? "" : "/", b);

	return n > 0 && n < LOCAL_PATH_MAX;
}

/*
 * Find the root `lexical` (a normalised absolute path) lies under, as the
 * root is written or as it resolves, extended by "/org" when org is not
 * NULL. Lexical only: nothing is resolved but the roots themselves, so
 * whether something exists outside them is never looked at. A root that
 * does not resolve (missing on this host) admits nothing.
 */
static bool
find_base(const char *roots, const char *org, const char *lexical,
    struct base *b)
{
	char root[LOCAL_PATH_MAX], cand[LOCAL_PATH_MAX], *real;
	const char *cur = roots, *p, *rest;
	size_t len;
	bool found = false;
	int i;

	while (!found && commalist_next(&cur, &p, &len)) {
		if (len > 0 && normalise(p, len, root) &&
		    (real = realpath(root, NULL)) != NULL) {
			/* A root given through a symlink also admits its
			 * target spelled out. */
			for (i = 0; i < 2 && !found; i++) {
				if (!join(cand, i == 0 ? root : real, org) ||
				    !under(lexical, cand))
					continue;
				rest = lexical + strlen(cand);
				if (strcmp(cand, "/") == 0)
					rest = lexical;
				while (*rest == '/')
					rest++;
				found = join(b->real, real, org) &&
				    join(b->rel, *rest != '\0' ? rest : ".",
				    NULL);
			}
			free(real);
		}
	}
	return found;
}

/*
 * Whether the open descriptor fd really lies under base: its path as the
 * kernel knows it (realpath of /proc/self/fd/<fd>). This catches a
 * directory swapped for a symlink between the checks and open(). False
 * also when the path cannot be learnt.
 */
static bool
fd_under(int fd, const char *base)
{
	char link[64], *real = NULL;
	bool ok = false;
	int n;

	n = snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if (n > 0 && (size_t)n < sizeof(link) &&
	    (real = realpath(link, NULL)) != NULL)
		ok = under(real, base);
	free(real);
	return ok;
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

/* openat2(2) with RESOLVE_BENEATH: -1 with errno ENOSYS where the kernel
 * (before 5.6) or a seccomp filter does not offer it. */
static int
open_beneath(int dirfd, const char *rel, int flags, unsigned long long how)
{
#ifdef SYS_openat2
	struct open_how oh;

	memset(&oh, 0, sizeof(oh));
	oh.flags = (unsigned long long)(flags | O_CLOEXEC);
	oh.resolve = how;
	return (int)syscall(SYS_openat2, dirfd, rel, &oh, sizeof(oh));
#else
	(void)dirfd;
	(void)rel;
	(void)flags;
	(void)how;
	errno = ENOSYS;
	return -1;
#endif
}

/* The target failure for errno e while resolving `path` inside its base. */
static void
fail_resolve(struct probe_result *res, const char *path, int e)
{
	if (e == ENOENT)
		probe_fail(res, CHECK_TARGET, "directory '%s' does not exist",
		    path);
	else if (e == ENOTDIR)
		probe_fail(res, CHECK_TARGET, "'%s' is not a directory", path);
	else if (is_permission(e))
		probe_fail(res, CHECK_TARGET, "no permission to reach '%s'",
		    path);
	else if (e == ELOOP)
		probe_fail(res, CHECK_TARGET,
		    "too many symbolic links in '%s'", path);
	else
		probe_fail(res, CHECK_TARGET, "cannot resolve '%s'", path);
}

/*
 * Open b->rel beneath b->real with openat2(RESOLVE_BENEATH): a symlink that
 * leads out of the base fails with EXDEV whether or not its target exists,
 * so nothing outside the roots is ever looked up. The {root}/{org}
 * directory itself must not be a symlink. Returns the descriptor, or -1
 * with errno (ENOSYS: openat2 is not available, use the fallback).
 */
static int
open_in_base(const struct base *b, const char *org)
{
	char root[LOCAL_PATH_MAX];
	int rfd = -1, ofd = -1, fd = -1, e;
	const char *slash;

	if (org != NULL) {
		/* b->real is realpath(root) + "/" + org. */
		slash = strrchr(b->real, '/');
		snprintf(root, sizeof(root), "%.*s", slash == b->real ? 1 :
		    (int)(slash - b->real), b->real);
		if ((rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
			goto out;
		ofd = open_beneath(rfd, org, O_PATH | O_DIRECTORY,
		    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		    RESOLVE_NO_MAGICLINKS);
	} else
		ofd = open(b->real, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (ofd < 0)
		goto out;
	fd = open_beneath(ofd, b->rel, O_RDONLY | O_DIRECTORY,
	    RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
out:
	e = errno;
	if (rfd >= 0)
		close(rfd);
	if (ofd >= 0)
		close(ofd);
	errno = e;
	return fd;
}

/*
 * Without openat2: realpath() would follow a symlink out of the roots and
 * tell "missing" from "present but outside" by its error. Every failure to
 * resolve and every result outside the base answer one sentence, so the
 * error text is no oracle for what exists outside. Returns an open
 * descriptor or -1 after recording the failure.
 */
static int
open_fallback(const struct base *b, const char *path,
    struct probe_result *res)
{
	char full[LOCAL_PATH_MAX], *resolved = NULL;
	struct stat st, fst;
	int fd = -1;

	if (!join(full, b->real, strcmp(b->rel, ".") == 0 ? NULL : b->rel) ||
	    (resolved = realpath(full, NULL)) == NULL ||
	    !under(resolved, b->real) || stat(resolved, &st) != 0 ||
	    !S_ISDIR(st.st_mode)) {
		probe_fail(res, CHECK_TARGET, "'%s' is not a directory this "
		    "server may use (it does not exist, is not a directory, or "
		    "leads outside the allowed local roots)", path);
		goto out;
	}
	fd = open(resolved, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &fst) != 0 || fst.st_dev != st.st_dev ||
	    fst.st_ino != st.st_ino) {
		if (fd < 0 && is_permission(errno))
			probe_fail(res, CHECK_TARGET,
			    "no permission to open '%s'", path);
		else
			probe_fail(res, CHECK_TARGET,
			    "'%s' changed while it was being tested", path);
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
out:
	free(resolved);
	return fd;
}

/*
 * target: confine `path` to its base (a root, or {root}/{org} with
 * local_per_org) and open it; on success *dirfd is an open descriptor on
 * the directory. Returns false after recording the failure.
 */
static bool
check_target(const struct probe_env *env, const char *path, size_t pathlen,
    struct probe_result *res, int *dirfd)
{
	char lexical[LOCAL_PATH_MAX];
	const struct cfg *cfg = env != NULL ? env->cfg : NULL;
	const char *org = NULL, *why;
	struct base b;
	bool ok = false;
	int fd = -1;

	*dirfd = -1;
	if (cfg == NULL || !commalist_any(cfg->local_roots)) {
		probe_fail(res, CHECK_TARGET, "local destinations are not "
		    "enabled on this server (no local roots configured)");
		goto out;
	}
	if ((why = probe_local_org_unavailable(cfg, env->org)) != NULL) {
		probe_fail(res, CHECK_TARGET, "%s", why);
		goto out;
	}
	if (cfg->local_per_org)
		org = env->org;
	if (strlen(path) != pathlen || !normalise(path, pathlen, lexical)) {
		probe_fail(res, CHECK_TARGET, "the path must be absolute");
		goto out;
	}
	/* Confine before touching the file system: whether something exists
	 * outside the roots is none of the caller's business. */
	if (!find_base(cfg->local_roots, org, lexical, &b)) {
		probe_fail(res, CHECK_TARGET, org != NULL ? "path resolves "
		    "outside the allowed local roots: it must lie in this "
		    "organization's directory of a local root "
		    "(<root>/<organization id>)" :
		    "path resolves outside the allowed local roots");
		goto out;
	}
	fd = open_in_base(&b, org);
	if (fd < 0 && errno == ENOSYS) {
		if ((fd = open_fallback(&b, path, res)) < 0)
			goto out;
	} else if (fd < 0) {
		if (errno == EXDEV)
			probe_fail(res, CHECK_TARGET, "path resolves outside "
			    "the allowed local roots");
		else if (errno == ELOOP && org != NULL)
			probe_fail(res, CHECK_TARGET, "the organization's "
			    "directory of the local root is a symbolic link");
		else
			fail_resolve(res, path, errno);
		goto out;
	}
	/* The probe file is created with openat() relative to this
	 * descriptor, so where the descriptor is decides where it goes. */
	if (!fd_under(fd, b.real)) {
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

/* The file system's space (statvfs: free is what an unprivileged writer
 * may use, used counts every block in use). */
static void
capacity(const struct probe_env *env, int dirfd, struct probe_result *res)
{
	struct statvfs sv;
	int64_t bs;

	if (fstatvfs(dirfd, &sv) != 0)
		return;
	bs = (int64_t)sv.f_frsize;
	probe_capacity(res, env, (int64_t)sv.f_blocks * bs,
	    (int64_t)(sv.f_blocks - sv.f_bfree) * bs, (int64_t)sv.f_bavail * bs);
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
	capacity(env, dirfd, res);
	check_io(dirfd, json_object_get_string(v), res);
out:
	if (dirfd >= 0)
		close(dirfd);
}
