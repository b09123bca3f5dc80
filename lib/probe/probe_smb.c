/*
 * The SMB probe (destination type smb): SMB 2/3 through libsmbclient
 * (Samba 4.17, Debian's libsmbclient), never SMB1.
 *
 * libsmbclient opens its own sockets, so the egress policy is applied the
 * way DESIGN.md ("Talking to destinations") asks for such a library:
 *
 *   - `host` is resolved ONCE here with getaddrinfo(); every address it
 *     gives is checked with egress_permits(), and one denied address refuses
 *     the destination (a name must not resolve to a mix).
 *   - libsmbclient is handed the checked address as an IP literal, so it
 *     never resolves a name itself. Kerberos is off (NTLMSSP only), so no
 *     target name is needed by the session and none is sent to a KDC.
 *   - Every other way the library finds servers is switched off by a
 *     private configuration instead of the host's smb.conf: libsmbclient
 *     reads $HOME/.smb/smb.conf INSTEAD of /etc/samba/smb.conf when that file
 *     exists (SMBC_module_init, source3/libsmb/libsmb_context.c), so the
 *     probe points HOME at a private directory holding one while it creates
 *     its context. That file says: client min protocol = SMB2_02, client max
 *     protocol = SMB3, disable netbios (no port 139, no NetBIOS session),
 *     name resolve order = wins with no wins server (every name lookup fails
 *     without sending a packet: no DNS, lmhosts, WINS or broadcast; an IP
 *     literal needs no lookup). A DFS referral or "msdfs proxy" that names
 *     another server by name therefore cannot be followed.
 *   - One that names another server by IP address is stopped by connect()
 *     itself: this file defines connect(2) for the process (the executable's
 *     definition comes first in the dynamic symbol lookup, so it is the one
 *     libsmbclient's Samba libraries call). Outside a probe it is the system
 *     call unchanged; while libsmbclient runs (smb_guard set, this thread)
 *     an internet socket may connect to the checked address and port only,
 *     anything else fails with EACCES before a packet is sent and fails the
 *     connect check. After every library call the probe also looks at the
 *     sockets the library opened (/proc/self/fd): one that leads anywhere
 *     but the checked address fails the connect check too (sock_audit), in
 *     case a build ever binds connect() elsewhere.
 *
 * Deadline: every libsmbclient call blocks. A watchdog thread shuts down,
 * at the probe deadline (probe_ms_left), every socket the probe opened
 * (connecting ones included), so a server that stalls or answers slowly
 * cannot hold the worker past probe_timeout: the blocked call returns. The
 * context's own timeout (each SMB request's) is what is left of the
 * deadline when it is created plus a second, so that the watchdog, not the
 * library, ends a stall and the detail says so.
 *
 * The steps share one SMB session (libsmbclient caches the connection per
 * server and share): connect + auth + target (stat of the share, then of the
 * directory), write (create exclusively, write, close), read (open, read,
 * compare), delete (unlink; refused = warning), and the share's space
 * (SMB2 FileFsFullSizeInformation through smbc_statvfs on the same
 * session) as TestResult.capacity and in the target detail.
 *
 * requireEncryption: the context requires SMB3 encryption (signing too).
 * Samba 4.17's libsmbclient does not fail a session the server cannot
 * encrypt, it only prints so to stdout; the probe captures stdout while the
 * library runs (stdout_capture) and fails the connect check itself.
 *
 * Secrets: the password is copied only into libsmbclient's buffers through
 * the auth callback; the copy of the config's string is never logged. The
 * library's own debug output goes to a callback that drops it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/statvfs.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <libsmbclient.h>
#include <sodium.h>

#include "bd_limits.h"
#include "clock.h"
#include "probe.h"
#include "probe_http.h"
#include "probe_smb.h"

#define SMB_DEFAULT_PORT 445
/* <linux/memfd.h>; <sys/mman.h> declares it only with _GNU_SOURCE. */
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif

/* The private smb.conf (see the header comment). */
static const char smb_conf[] =
	"[global]\n"
	"\tclient min protocol = SMB2_02\n"
	"\tclient max protocol = SMB3\n"
	"\tclient ipc min protocol = SMB2_02\n"
	"\tclient ipc max protocol = SMB3\n"
	"\tdisable netbios = yes\n"
	"\tsmb ports = 445\n"
	"\tname resolve order = wins\n"
	"\twins server =\n"
	"\tclient use kerberos = off\n"
	"\tlog level = 0\n";

/* The sockets of this process, by inode, before the probe began. */
struct sockset {
	unsigned long *ino;
	size_t n, cap;
};

struct smb {
	const struct probe_env *env;
	struct probe_result *res;
	SMBCCTX *ctx;
	const char *user, *domain, *password, *share;
	struct sockaddr_storage addr; /* the checked address */
	socklen_t addrlen;
	char *root;        /* smb://addr:port/share */
	char *dir;         /* root + escaped path */
	char *obj;         /* dir + "/" + name */
	char path[LIM_SHORT_MAX + 2]; /* "/a/b" for details, "/" for the root */
	char name[32];
	struct sockset before;
	bool connected;    /* the connect check passed */
	bool foreign;      /* the library connected somewhere else */
	bool created;      /* the probe file was created */
	bool encrypt;      /* requireEncryption */
	bool enc_refused;  /* the library said it could not encrypt */
	int saved_stdout;  /* fd 1 while the library runs; -1 when not */
	int capture;       /* what fd 1 is meanwhile (memfd) */
	/* watchdog */
	pthread_t wd;
	bool wd_running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;         /* under mu: the probe finished, stop watching */
	bool fired;        /* under mu: the deadline passed, sockets shut */
};

/* ------------------------------------------------------ connect guard */

/* The one address libsmbclient may connect to while a probe runs; NULL
 * outside. Workers are single-threaded; _Thread_local keeps any other
 * thread (the watchdog) out of it. */
static _Thread_local const struct sockaddr_storage *smb_guard;
static _Thread_local bool smb_guard_denied;

static bool same_peer(const struct sockaddr_storage *,
    const struct sockaddr_storage *);

/*
 * connect(2) for the whole process (see the header comment): the system
 * call, except that under smb_guard an AF_INET/AF_INET6 connection to any
 * other address or port is refused with EACCES. Other families (the Unix
 * sockets Samba uses for winbind and its own messaging) pass.
 */
int
connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct sockaddr_storage to;

	if (smb_guard != NULL && sa != NULL &&
	    (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)) {
		memset(&to, 0, sizeof(to));
		memcpy(&to, sa, len < sizeof(to) ? len : sizeof(to));
		if (!same_peer(&to, smb_guard)) {
			smb_guard_denied = true;
			errno = EACCES;
			return -1;
		}
	}
	return (int)syscall(SYS_connect, fd, sa, len);
}

/* ---------------------------------------------------------- socket list */

/* The inode of fd's socket ("socket:[1234]"), 0 when fd is not one. */
static unsigned long
sock_inode(const char *fdname)
{
	char p[64], link[64];
	ssize_t n;
	char *end;
	unsigned long v;

	if (snprintf(p, sizeof(p), "/proc/self/fd/%s", fdname) >=
	    (int)sizeof(p))
		return 0;
	if ((n = readlink(p, link, sizeof(link) - 1)) <= 0)
		return 0;
	link[n] = '\0';
	if (strncmp(link, "socket:[", 8) != 0)
		return 0;
	errno = 0;
	v = strtoul(link + 8, &end, 10);
	if (errno != 0 || *end != ']')
		return 0;
	return v;
}

static bool
sockset_has(const struct sockset *s, unsigned long ino)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->ino[i] == ino)
			return true;
	return false;
}

/* Fill s with the inodes of the process's sockets. False when out of
 * memory or /proc is unreadable. */
static bool
sockset_fill(struct sockset *s)
{
	DIR *d;
	struct dirent *e;
	unsigned long ino, *grown;
	bool ok = false;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return false;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || (ino = sock_inode(e->d_name)) == 0)
			continue;
		if (s->n == s->cap) {
			size_t cap = s->cap ? 2 * s->cap : 32;
			if ((grown = realloc(s->ino, cap * sizeof(*grown))) ==
			    NULL)
				goto out;
			s->ino = grown;
			s->cap = cap;
		}
		s->ino[s->n++] = ino;
	}
	ok = true;
out:
	closedir(d);
	return ok;
}

/*
 * For each socket opened since `before` (fd numbers of sockets whose inode
 * is not in it), call fn(fd, arg). Returns false when /proc is unreadable.
 */
static bool
sock_each_new(const struct sockset *before, void (*fn)(int, void *),
    void *arg)
{
	DIR *d;
	struct dirent *e;
	unsigned long ino;
	char *end;
	long fd;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return false;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || (ino = sock_inode(e->d_name)) == 0 ||
		    sockset_has(before, ino))
			continue;
		errno = 0;
		fd = strtol(e->d_name, &end, 10);
		if (errno != 0 || *end != '\0' || fd < 0 || fd > INT_MAX ||
		    fd == dirfd(d))
			continue;
		fn((int)fd, arg);
	}
	closedir(d);
	return true;
}

/* Whether two socket addresses are the same IP address and port. */
static bool
same_peer(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a,
		    *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
	}
	return false;
}

/* sock_each_new callback: an internet socket the library connected to
 * anything but the checked address marks the probe. */
static void
audit_one(int fd, void *arg)
{
	struct smb *s = arg;
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);

	memset(&peer, 0, sizeof(peer));
	if (getpeername(fd, (struct sockaddr *)&peer, &len) != 0)
		return;
	if (peer.ss_family != AF_INET && peer.ss_family != AF_INET6)
		return;
	if (!same_peer(&peer, &s->addr))
		s->foreign = true;
}

/* After a library call: did it connect anywhere but the checked address
 * (a DFS referral or msdfs proxy naming another server by address)? */
static bool
sock_audit(struct smb *s)
{
	s->foreign = false;
	sock_each_new(&s->before, audit_one, s);
	return !s->foreign;
}

/* ------------------------------------------------------------- watchdog */

static void
shut_one(int fd, void *arg)
{
	(void)arg;
	/* Also aborts a connect in progress (inet_shutdown, SYN_SENT). */
	shutdown(fd, SHUT_RDWR);
}

/* The watchdog: wait for the deadline or the end of the probe; at the
 * deadline shut down every socket the probe opened. */
static void *
watchdog(void *arg)
{
	struct smb *s = arg;
	struct timespec until;
	long long left;
	bool fire = false;

	if ((left = probe_ms_left(s->env)) < 0)
		left = 0;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(left / 1000);
	until.tv_nsec += (long)(left % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->mu);
	while (!s->done)
		if (pthread_cond_timedwait(&s->cv, &s->mu, &until) ==
		    ETIMEDOUT) {
			fire = !s->done;
			break;
		}
	if (fire)
		s->fired = true;
	pthread_mutex_unlock(&s->mu);
	if (fire)
		sock_each_new(&s->before, shut_one, NULL);
	return NULL;
}

static bool
watchdog_start(struct smb *s)
{
	pthread_condattr_t ca;
	bool ok = false;

	if (pthread_condattr_init(&ca) != 0)
		return false;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
	    pthread_cond_init(&s->cv, &ca) == 0) {
		if (pthread_mutex_init(&s->mu, NULL) != 0)
			pthread_cond_destroy(&s->cv);
		else if (pthread_create(&s->wd, NULL, watchdog, s) != 0) {
			pthread_mutex_destroy(&s->mu);
			pthread_cond_destroy(&s->cv);
		} else
			ok = s->wd_running = true;
	}
	pthread_condattr_destroy(&ca);
	return ok;
}

static void
watchdog_stop(struct smb *s)
{
	if (!s->wd_running)
		return;
	pthread_mutex_lock(&s->mu);
	s->done = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->wd, NULL);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	s->wd_running = false;
}

static bool
timed_out(struct smb *s)
{
	bool f = false;

	if (s->wd_running) {
		pthread_mutex_lock(&s->mu);
		f = s->fired;
		pthread_mutex_unlock(&s->mu);
	}
	return f || probe_ms_left(s->env) <= 0;
}

/* --------------------------------------------------------- the context */

/* libsmbclient's debug lines may quote the server: dropped. */
static void
drop_log(void *priv, int level, const char *msg)
{
	(void)priv;
	(void)level;
	(void)msg;
}

/*
 * libsmbclient also prints to stdout (d_printf), which in CGI mode is the
 * HTTP response. While the probe uses the library, fd 1 is an anonymous
 * memory file (memfd_create(2) through syscall(2): no _GNU_SOURCE);
 * stdout_restore() flushes stdio into it and puts fd 1 back. One line is
 * read from it: Samba 4.17's libsmbclient, asked to require encryption by a
 * server that does not offer it, prints "Encryption required and server
 * doesn't support SMB3 encryption - failing connect" (or "Encryption
 * required and setup failed ...", cli_cm_force_encryption_creds) and then
 * carries on with an unencrypted session (seen against smbd with "server
 * smb encrypt = off"). stdout_scan() finds it and check_share() fails the
 * connect check.
 */
static bool
stdout_capture(struct smb *s)
{
	int fd;

	s->saved_stdout = -1;
	fflush(stdout);
	if ((fd = (int)syscall(SYS_memfd_create, "backupd-smb-out",
	    MFD_CLOEXEC)) < 0)
		return false;
	if ((s->saved_stdout = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3)) < 0 ||
	    dup2(fd, STDOUT_FILENO) < 0) {
		if (s->saved_stdout >= 0)
			close(s->saved_stdout);
		s->saved_stdout = -1;
		close(fd);
		return false;
	}
	s->capture = fd;
	return true;
}

/* Whether the library printed that it could not require encryption. */
static bool
stdout_scan(struct smb *s)
{
	char buf[4096];
	ssize_t n;

	if (s->saved_stdout < 0)
		return false;
	fflush(stdout);
	if ((n = pread(s->capture, buf, sizeof(buf) - 1, 0)) <= 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, "Encryption required") != NULL;
}

static void
stdout_restore(struct smb *s)
{
	if (s->saved_stdout < 0)
		return;
	fflush(stdout);
	dup2(s->saved_stdout, STDOUT_FILENO);
	close(s->saved_stdout);
	close(s->capture);
	s->saved_stdout = -1;
}

/* The auth callback: the destination's domain, user and password. */
static void
auth_fn(SMBCCTX *c, const char *srv, const char *shr, char *wg, int wglen,
    char *un, int unlen, char *pw, int pwlen)
{
	const struct smb *s = smbc_getOptionUserData(c);

	(void)srv;
	(void)shr;
	if (s == NULL)
		return;
	if (s->domain != NULL && wglen > 0)
		snprintf(wg, (size_t)wglen, "%s", s->domain);
	if (unlen > 0)
		snprintf(un, (size_t)unlen, "%s", s->user);
	if (pwlen > 0)
		snprintf(pw, (size_t)pwlen, "%s", s->password);
}

/* Write the private smb.conf under a fresh directory; dir receives its
 * path (caller removes it with conf_remove). */
static bool
conf_make(char dir[PATH_MAX])
{
	char p[PATH_MAX];
	const char *tmp = getenv("TMPDIR");
	FILE *f = NULL;
	bool ok = false;

	if (tmp == NULL || tmp[0] != '/')
		tmp = "/tmp";
	if (snprintf(dir, PATH_MAX, "%s/backupd-smb-XXXXXX", tmp) >= PATH_MAX ||
	    mkdtemp(dir) == NULL)
		return false;
	if (snprintf(p, sizeof(p), "%s/.smb", dir) >= (int)sizeof(p) ||
	    mkdir(p, 0700) != 0)
		goto out;
	if (snprintf(p, sizeof(p), "%s/.smb/smb.conf", dir) >= (int)sizeof(p) ||
	    (f = fopen(p, "wx")) == NULL)
		goto out;
	ok = fwrite(smb_conf, 1, sizeof(smb_conf) - 1, f) ==
	    sizeof(smb_conf) - 1;
	ok = (fclose(f) == 0) && ok;
out:
	return ok;
}

static void
conf_remove(const char *dir)
{
	char p[PATH_MAX];

	if (snprintf(p, sizeof(p), "%s/.smb/smb.conf", dir) < (int)sizeof(p))
		unlink(p);
	if (snprintf(p, sizeof(p), "%s/.smb", dir) < (int)sizeof(p))
		rmdir(p);
	rmdir(dir);
}

/*
 * A libsmbclient context with the private configuration (HOME points at it
 * while the context, and with the first context of the process the
 * library's module, is initialised; then HOME is put back). NULL on
 * failure.
 */
static SMBCCTX *
context_new(struct smb *s)
{
	char dir[PATH_MAX], *home = NULL;
	const char *h = getenv("HOME");
	SMBCCTX *c = NULL;
	long long left;
	bool made;

	if (h != NULL && (home = strdup(h)) == NULL)
		return NULL;
	if ((made = conf_make(dir)) && setenv("HOME", dir, 1) == 0)
		c = smbc_new_context();
	if (home != NULL)
		setenv("HOME", home, 1);
	else
		unsetenv("HOME");
	free(home);
	if (made)
		conf_remove(dir);
	if (c == NULL)
		return NULL;
	smbc_setLogCallback(c, NULL, drop_log);
	smbc_setDebug(c, 0);
	left = probe_ms_left(s->env);
	/* A second past the deadline: the watchdog, which fires at the
	 * deadline, always comes first, so a stall is reported as one (the
	 * library's own timeout ends the connection with ECONNABORTED). */
	left += 1000;
	if (left < 1)
		left = 1;
	if (left > INT_MAX)
		left = INT_MAX;
	smbc_setTimeout(c, (int)left);
	smbc_setOptionNoAutoAnonymousLogin(c, 1);
	smbc_setOptionUseKerberos(c, 0);
	smbc_setOptionFallbackAfterKerberos(c, 1);
	smbc_setOptionUseCCache(c, 0);
	smbc_setOptionOneSharePerServer(c, 1);
	smbc_setOptionProtocols(c, "SMB2_02", "SMB3");
	smbc_setOptionSmbEncryptionLevel(c, s->encrypt ?
	    SMBC_ENCRYPTLEVEL_REQUIRE : SMBC_ENCRYPTLEVEL_NONE);
	smbc_setOptionUserData(c, s);
	smbc_setFunctionAuthDataWithContext(c, auth_fn);
	if (smbc_init_context(c) == NULL) {
		smbc_free_context(c, 1);
		return NULL;
	}
	return c;
}

/* ----------------------------------------------------------------- URLs */

/*
 * The share-relative path: split on '/' and '\', empty and "." segments
 * dropped; ".." is refused (it would leave the share, or the directory the
 * destination names). display gets "/a/b" ("/" for the root), esc the
 * segments percent-encoded ("/a%20b"). Returns SMB_PATH_OK or why not.
 */
enum smb_path_rc
smb_path_split(const char *path, char *display, size_t dlen, char *esc,
    size_t elen)
{
	size_t dn = 0, en = 0, n;
	const char *p = path != NULL ? path : "";
	char *e;
	int w;

	if (dlen < 2 || elen < 1)
		return SMB_PATH_LONG;
	for (; *p != '\0'; p += n) {
		while (*p == '/' || *p == '\\')
			p++;
		if ((n = strcspn(p, "/\\")) == 0)
			break;
		if (n == 1 && p[0] == '.')
			continue;
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return SMB_PATH_DOTDOT;
		if (dn + n + 2 > dlen)
			return SMB_PATH_LONG;
		display[dn++] = '/';
		memcpy(display + dn, p, n);
		dn += n;
		if ((e = curl_easy_escape(NULL, p, (int)n)) == NULL)
			return SMB_PATH_LONG;
		w = snprintf(esc + en, elen - en, "/%s", e);
		curl_free(e);
		if (w < 0 || (size_t)w >= elen - en)
			return SMB_PATH_LONG;
		en += (size_t)w;
	}
	if (dn == 0)
		display[dn++] = '/';
	display[dn] = '\0';
	esc[en] = '\0';
	return SMB_PATH_OK;
}

/* A share name: 1..80 characters, none of the ones Windows forbids in
 * share names ("/\[]:|<>+=;,*?), no control characters. */
bool
smb_share_ok(const char *share)
{
	size_t n = share != NULL ? strlen(share) : 0, i;

	if (n == 0 || n > 80)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)share[i] < 0x20 || share[i] == 0x7f ||
		    strchr("\"/\\[]:|<>+=;,*?", share[i]) != NULL)
			return false;
	return true;
}

/* s->root, s->dir, s->obj from the checked address and the config. */
static bool
make_urls(struct smb *s, const char *esc_path)
{
	char ip[INET6_ADDRSTRLEN], hostport[INET6_ADDRSTRLEN + 40];
	char *share = NULL;
	unsigned port;
	bool ok = false;

	if (s->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)&s->addr;
		char *c;

		/* libsmbclient 4.17's URL parser refuses "[::1]"; it takes the
		 * Windows UNC spelling of an IPv6 literal, "0--1.ipv6-literal.net"
		 * (':' as '-'), and treats it as an address, not a name
		 * (interpret_string_addr in lib/util/util_net.c). */
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		for (c = ip; *c != '\0'; c++)
			if (*c == ':')
				*c = '-';
		port = ntohs(a->sin6_port);
		snprintf(hostport, sizeof(hostport), "%s.ipv6-literal.net:%u", ip,
		    port);
	} else {
		const struct sockaddr_in *a = (const void *)&s->addr;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		port = ntohs(a->sin_port);
		snprintf(hostport, sizeof(hostport), "%s:%u", ip, port);
	}
	if ((share = curl_easy_escape(NULL, s->share, 0)) == NULL)
		goto out;
	s->root = probe_concat("smb://", hostport, "/", share);
	if (s->root == NULL)
		goto out;
	s->dir = probe_concat(s->root, esc_path, NULL, NULL);
	if (s->dir == NULL)
		goto out;
	s->obj = probe_concat(s->dir, "/", s->name, NULL);
	ok = s->obj != NULL;
out:
	curl_free(share);
	return ok;
}

/* ------------------------------------------------------------- connect */

/*
 * Resolve host once and check every address against the egress policy.
 * Fills s->addr with the first one. Records the connect failure and
 * returns false when the name does not resolve or an address is denied.
 */
static bool
resolve(struct smb *s, const char *host, long port)
{
	struct addrinfo hints, *ai = NULL, *p;
	char hostbuf[LIM_SHORT_MAX + 1], portstr[16];
	size_t n = strlen(host);
	bool ok = false;
	int rc;

	/* An IPv6 literal may come in brackets. */
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']' &&
	    n - 2 < sizeof(hostbuf)) {
		memcpy(hostbuf, host + 1, n - 2);
		hostbuf[n - 2] = '\0';
		host = hostbuf;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%ld", port);
	if ((rc = getaddrinfo(host, portstr, &hints, &ai)) != 0 || ai == NULL) {
		probe_fail(s->res, CHECK_CONNECT, "the host name does not "
		    "resolve");
		goto out;
	}
	for (p = ai; p != NULL; p = p->ai_next) {
		if ((p->ai_family != AF_INET && p->ai_family != AF_INET6) ||
		    !egress_permits(s->env->egress, p->ai_addr)) {
			probe_fail(s->res, CHECK_CONNECT, "the destination's "
			    "address is not allowed by this server's egress "
			    "policy (loopback, link-local and metadata "
			    "addresses are refused)");
			goto out;
		}
	}
	memcpy(&s->addr, ai->ai_addr, ai->ai_addrlen);
	s->addrlen = ai->ai_addrlen;
	ok = true;
out:
	if (ai != NULL)
		freeaddrinfo(ai);
	return ok;
}

/* ------------------------------------------------------- error mapping */

/*
 * Fail after a library call failed with errno e while `what` (a step
 * phrase). Connection-level errors fail connect until it passed, the
 * running step after; everything else fails `step`, with strerror's text
 * (libc's words, never the server's).
 */
static void
fail_errno(struct smb *s, int e, enum probe_check step, const char *what)
{
	enum probe_check c = s->connected ? step : CHECK_CONNECT;

	if (smb_guard_denied || !sock_audit(s)) {
		probe_fail(s->res, c, "the server referred the "
		    "probe to another server (DFS or msdfs proxy), which is not "
		    "allowed: the egress policy admits the checked address "
		    "only");
		return;
	}
	if (timed_out(s) || e == ETIMEDOUT) {
		if (s->connected)
			probe_fail(s->res, c, "the server did not answer in "
			    "time while %s", what);
		else
			probe_fail(s->res, c, "the server accepted the "
			    "connection but did not answer in time while %s",
			    what);
		return;
	}
	switch (e) {
	case ECONNREFUSED:
		probe_fail(s->res, c, "nothing accepts connections at the "
		    "destination's address and port");
		break;
	case EHOSTUNREACH:
	case ENETUNREACH:
		probe_fail(s->res, c, "the destination's address cannot be "
		    "reached");
		break;
	case ECONNRESET:
	case ECONNABORTED:
	case EPIPE:
	case EIO:
		probe_fail(s->res, c, "the connection broke while %s", what);
		break;
	default:
		probe_fail(s->res, step, "%s failed (%s)", what, strerror(e));
		break;
	}
}

static bool
conn_error(int e)
{
	return e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH ||
	    e == ECONNRESET || e == ECONNABORTED || e == EPIPE ||
	    e == ETIMEDOUT || e == EIO;
}

/* ---------------------------------------------------------------- steps */

/*
 * connect, auth and the share: the first call opens the connection,
 * negotiates SMB 2/3, sets up the session (NTLMSSP) and connects the tree.
 * libsmbclient reports them all through errno: EACCES/EPERM = the session
 * or the tree connect was refused, ENOENT = no such share
 * (NT_STATUS_BAD_NETWORK_NAME).
 */
static bool
check_share(struct smb *s)
{
	struct stat st;
	int rc, e;

	rc = smbc_getFunctionStat(s->ctx)(s->ctx, s->root, &st);
	e = errno;
	s->enc_refused = s->encrypt && stdout_scan(s);
	if (rc == 0 && !smb_guard_denied && sock_audit(s)) {
		if (s->enc_refused) {
			probe_fail(s->res, CHECK_CONNECT, "the server does not "
			    "offer SMB3 encryption, which requireEncryption "
			    "asks for");
			return false;
		}
		s->connected = true;
		probe_pass(s->res, CHECK_CONNECT, "SMB 2/3 session established%s",
		    s->encrypt ? ", encrypted" : "");
		probe_pass(s->res, CHECK_AUTH, "the server accepted the "
		    "credentials for share '%s'", s->share);
		return true;
	}
	if (s->enc_refused) {
		probe_fail(s->res, CHECK_CONNECT, "the server does not offer "
		    "SMB3 encryption, which requireEncryption asks for");
		return false;
	}
	if (s->foreign || smb_guard_denied || timed_out(s) || conn_error(e)) {
		fail_errno(s, e, CHECK_CONNECT, "connecting to the share");
		return false;
	}
	switch (e) {
	case EACCES:
	case EPERM:
		s->connected = true;
		probe_pass(s->res, CHECK_CONNECT, "the server answered");
		probe_fail(s->res, CHECK_AUTH, "the server refused the user "
		    "name or password, or the user may not use share '%s'",
		    s->share);
		break;
	case ENOENT:
	case ENODEV:
		s->connected = true;
		probe_pass(s->res, CHECK_CONNECT, "the server answered");
		probe_pass(s->res, CHECK_AUTH, "the server accepted the "
		    "credentials");
		probe_fail(s->res, CHECK_TARGET, "share '%s' does not exist",
		    s->share);
		break;
	default:
		/* A server that speaks only SMB1 ends the negotiation. */
		probe_fail(s->res, CHECK_CONNECT, "no SMB 2/3 session could be "
		    "set up (%s)", strerror(e));
		break;
	}
	return false;
}

/* See probe_smb.h. */
bool
smb_space(const struct statvfs *v, int64_t *total, int64_t *used,
    int64_t *avail)
{
	unsigned long long unit, lim;

	unit = (unsigned long long)v->f_bsize * (v->f_frsize ? v->f_frsize : 1);
	if (unit == 0 || v->f_blocks == 0 || v->f_bsize > UINT32_MAX ||
	    v->f_frsize > UINT32_MAX)
		return false;
	lim = (unsigned long long)INT64_MAX / unit;
	if (v->f_blocks > lim || v->f_bfree > v->f_blocks ||
	    v->f_bavail > v->f_blocks)
		return false;
	*total = (int64_t)(unit * v->f_blocks);
	*used = (int64_t)(unit * (v->f_blocks - v->f_bfree));
	*avail = (int64_t)(unit * v->f_bavail);
	return true;
}

/* target: the directory exists and is one; its share's space
 * (TestResult.capacity and the detail; reading it never fails the
 * test). */
static bool
check_dir(struct smb *s)
{
	struct stat st;
	struct statvfs vfs;
	int64_t total, used, avail;
	char space[64] = "";

	if (smbc_getFunctionStat(s->ctx)(s->ctx, s->dir, &st) != 0) {
		if (smb_guard_denied)
			fail_errno(s, errno, CHECK_TARGET, "looking up the "
			    "directory");
		else if (errno == ENOENT || errno == ENOTDIR)
			probe_fail(s->res, CHECK_TARGET, "directory '%s' does "
			    "not exist on share '%s'", s->path, s->share);
		else if (errno == EACCES || errno == EPERM)
			probe_fail(s->res, CHECK_TARGET, "access to directory "
			    "'%s' on share '%s' was refused", s->path,
			    s->share);
		else
			fail_errno(s, errno, CHECK_TARGET, "looking up the "
			    "directory");
		return false;
	}
	if (!S_ISDIR(st.st_mode)) {
		probe_fail(s->res, CHECK_TARGET, "'%s' on share '%s' is a file, "
		    "not a directory", s->path, s->share);
		return false;
	}
	memset(&vfs, 0, sizeof(vfs));
	if (smbc_getFunctionStatVFS(s->ctx)(s->ctx, s->dir, &vfs) == 0 &&
	    smb_space(&vfs, &total, &used, &avail)) {
		snprintf(space, sizeof(space), " (%lld of %lld MiB free)",
		    (long long)(avail >> 20), (long long)(total >> 20));
		probe_capacity(s->res, s->env, total, used, avail);
	}
	probe_pass(s->res, CHECK_TARGET, "directory '%s' exists on share "
	    "'%s'%s", s->path, s->share, space);
	return true;
}

static bool
check_write(struct smb *s, const unsigned char *data, size_t len)
{
	SMBCFILE *f;
	ssize_t n;
	int e;

	f = smbc_getFunctionOpen(s->ctx)(s->ctx, s->obj,
	    O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (f == NULL) {
		e = errno;
		if (smb_guard_denied)
			fail_errno(s, e, CHECK_WRITE, "creating the probe file");
		else if (e == EACCES || e == EPERM || e == EROFS)
			probe_fail(s->res, CHECK_WRITE, "share '%s' refused to "
			    "create a file in '%s' (read-only share or no "
			    "write permission)", s->share, s->path);
		else if (e == ENOSPC)
			probe_fail(s->res, CHECK_WRITE, "share '%s' is full",
			    s->share);
		else
			fail_errno(s, e, CHECK_WRITE, "creating the probe file");
		return false;
	}
	s->created = true;
	n = smbc_getFunctionWrite(s->ctx)(s->ctx, f, data, len);
	e = errno;
	if (smbc_getFunctionClose(s->ctx)(s->ctx, f) != 0 && n == (ssize_t)len) {
		n = -1;
		e = errno;
	}
	if (n != (ssize_t)len) {
		if (e == ENOSPC)
			probe_fail(s->res, CHECK_WRITE, "share '%s' is full",
			    s->share);
		else
			fail_errno(s, e, CHECK_WRITE, "writing the probe file");
		return false;
	}
	probe_pass(s->res, CHECK_WRITE, "wrote a %zu-byte probe file '%s'",
	    len, s->name);
	return true;
}

static bool
check_read(struct smb *s, const unsigned char *data, size_t len)
{
	SMBCFILE *f;
	unsigned char buf[LIM_PROBE_BYTES + 1];
	size_t got = 0;
	ssize_t n;
	bool ok = false;

	if ((f = smbc_getFunctionOpen(s->ctx)(s->ctx, s->obj, O_RDONLY, 0)) ==
	    NULL) {
		fail_errno(s, errno, CHECK_READ, "opening the probe file");
		return false;
	}
	while (got < sizeof(buf)) {
		n = smbc_getFunctionRead(s->ctx)(s->ctx, f, buf + got,
		    sizeof(buf) - got);
		if (n < 0) {
			fail_errno(s, errno, CHECK_READ, "reading the probe "
			    "file");
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got != len || sodium_memcmp(buf, data, len) != 0) {
		probe_fail(s->res, CHECK_READ, "the probe file read back "
		    "differs from what was written");
		goto out;
	}
	probe_pass(s->res, CHECK_READ, "read the probe file back intact");
	ok = true;
out:
	smbc_getFunctionClose(s->ctx)(s->ctx, f);
	return ok;
}

/* delete: a refusal keeps the file and is a warning. `record` false:
 * cleanup after a failed read. */
static void
check_delete(struct smb *s, bool record)
{
	int rc = smbc_getFunctionUnlink(s->ctx)(s->ctx, s->obj);
	int e = errno;

	if (rc == 0 || e == ENOENT) {
		if (record)
			probe_pass(s->res, CHECK_DELETE, "deleted the probe "
			    "file");
		return;
	}
	probe_warn(s->res, "the probe file '%s' could not be deleted from "
	    "'%s' on share '%s' and was left there", s->name, s->path,
	    s->share);
	if (record)
		probe_pass(s->res, CHECK_DELETE, "the share refused to delete "
		    "the probe file; it was kept");
}

/* ------------------------------------------------------------- the probe */

/* See probe.h and the header comment. */
void
probe_smb(const struct probe_env *env, json_object *config,
    struct probe_result *res)
{
	struct smb s;
	json_object *v;
	unsigned char data[LIM_PROBE_BYTES];
	char esc[3 * LIM_SHORT_MAX + 2];
	const char *host = probe_json_string(config, "host");
	long port = SMB_DEFAULT_PORT;

	memset(&s, 0, sizeof(s));
	s.saved_stdout = -1;
	s.env = env;
	s.res = res;
	s.share = probe_json_string(config, "share");
	s.user = probe_json_string(config, "username");
	s.password = probe_json_string(config, "password");
	s.domain = probe_json_string(config, "domain");
	if (s.domain != NULL && s.domain[0] == '\0')
		s.domain = NULL;
	if (json_object_object_get_ex(config, "port", &v))
		port = (long)json_object_get_int64(v);
	if (json_object_object_get_ex(config, "requireEncryption", &v))
		s.encrypt = json_object_get_boolean(v);
	probe_object_name(s.name);
	randombytes_buf(data, sizeof(data));
	if (host == NULL || s.user == NULL || s.password == NULL ||
	    !smb_share_ok(s.share) || port < 1 || port > 65535) {
		probe_fail(res, CHECK_CONNECT, "the configuration is incomplete");
		goto out;
	}
	switch (smb_path_split(probe_json_string(config, "path"), s.path,
	    sizeof(s.path), esc, sizeof(esc))) {
	case SMB_PATH_OK:
		break;
	case SMB_PATH_DOTDOT:
		probe_fail(res, CHECK_TARGET, "path may not contain '..' "
		    "segments: it must stay inside share '%s'", s.share);
		goto out;
	default:
		probe_fail(res, CHECK_TARGET, "path is too long");
		goto out;
	}
	if (!resolve(&s, host, port))
		goto out;
	if (!make_urls(&s, esc) || !sockset_fill(&s.before)) {
		probe_fail(res, CHECK_CONNECT, "out of memory");
		goto out;
	}
	if (!stdout_capture(&s)) {
		probe_fail(res, CHECK_CONNECT, "could not set up the SMB client "
		    "library's output");
		goto out;
	}
	if (!watchdog_start(&s)) {
		probe_fail(res, CHECK_CONNECT, "could not start the probe's "
		    "timer");
		goto out;
	}
	smb_guard = &s.addr;
	smb_guard_denied = false;
	if ((s.ctx = context_new(&s)) == NULL) {
		probe_fail(res, CHECK_CONNECT, "the SMB client library could "
		    "not be initialised");
		goto out;
	}
	if (!check_share(&s) || !check_dir(&s))
		goto out;
	if (!check_write(&s, data, sizeof(data))) {
		/* Created but not written: remove what is there. */
		if (s.created)
			check_delete(&s, false);
		goto out;
	}
	if (!check_read(&s, data, sizeof(data))) {
		check_delete(&s, false);
		goto out;
	}
	check_delete(&s, true);
out:
	if (s.ctx != NULL)
		smbc_free_context(s.ctx, 1);
	smb_guard = NULL;
	stdout_restore(&s);
	watchdog_stop(&s);
	free(s.before.ino);
	free(s.root);
	free(s.dir);
	free(s.obj);
}
