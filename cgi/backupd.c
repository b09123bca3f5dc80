/*
 * backupd: the FastCGI service behind /backup-destinations.
 *
 * Modes (DESIGN.md "Shape"):
 *  - spawned: stdin is a listening socket (spawn-fcgi, mod_fcgid): serve
 *    it in this process;
 *  - CGI: started with CGI variables and no socket (shared hosting): serve
 *    one request from the environment and stdin, then exit;
 *  - pool (default): open `listen` (or take the socket systemd passed,
 *    LISTEN_FDS) and run the process manager over workers that share it
 *    (README "Process manager"): pm static / dynamic / ondemand, respawn
 *    with backoff, admission slots in a shared scoreboard; SIGTERM/SIGINT
 *    stop, SIGQUIT stops gracefully, SIGHUP and SIGUSR2 reload the config
 *    and replace the workers, SIGUSR1 reopens log_file.
 */
#define _GNU_SOURCE /* accept4 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <fcgiapp.h>
#include <sodium.h>

#include "clock.h"
#include "commalist.h"
#include "app.h"
#include "bd_limits.h"
#include "fdio.h"
#include "listenaddr.h"
#include "log.h"
#include "wipe.h"
#include "scoreboard.h"
#include "status.h"
#include "oauth_cookie.h"

extern char **environ;

static volatile sig_atomic_t worker_quit;
/* How this process runs, for the status page: pool, spawned or cgi. */
static const char *run_mode = "pool";
/* The master's signalfd (closed in workers). */
static int sig_fd = -1;

/* Where a request's variables and body come from. */
struct transport {
	const char *(*param)(void *ctx, const char *name);
	size_t (*read)(void *ctx, char *buf, size_t n);
	void (*write)(void *ctx, const char *buf, size_t n);
	void *ctx;
};

/* Read one request through t, handle it, write the answer. */
static void
serve(struct app *app, const struct transport *t)
{
	struct request req;
	struct response resp;
	char path[2048], *body = NULL, *out;
	const char *uri, *v;
	size_t len = 0, outlen = 0;

	memset(&req, 0, sizeof(req));
	resp_init(&resp);
	req.start_ms = clock_mono_ms();
	req_set_id(&req, (v = t->param(t->ctx, "REQUEST_ID")) ? v :
	    t->param(t->ctx, "HTTP_X_REQUEST_ID"));
	req.method = t->param(t->ctx, "REQUEST_METHOD");
	req.query = t->param(t->ctx, "QUERY_STRING");
	req.content_type = t->param(t->ctx, "CONTENT_TYPE");
	req.authorization = t->param(t->ctx, "HTTP_AUTHORIZATION");
	req.if_match = t->param(t->ctx, "HTTP_IF_MATCH");
	req.remote_addr = t->param(t->ctx, "REMOTE_ADDR");
	req.cookie = t->param(t->ctx, "HTTP_COOKIE");
	req.https = oauth_cookie_https(t->param(t->ctx, "HTTPS"));
	if ((uri = t->param(t->ctx, "REQUEST_URI")) != NULL) {
		snprintf(path, sizeof(path), "%.*s", (int)strcspn(uri, "?"),
		    uri);
	} else {
		/* CGI servers without REQUEST_URI: SCRIPT_NAME + PATH_INFO. */
		const char *sn = t->param(t->ctx, "SCRIPT_NAME");
		const char *pi = t->param(t->ctx, "PATH_INFO");
		snprintf(path, sizeof(path), "%s%s", sn ? sn : "",
		    pi ? pi : "");
	}
	req.path = path;
	req.content_length = -1;
	if ((v = t->param(t->ctx, "CONTENT_LENGTH")) != NULL && *v != '\0') {
		char *end;
		errno = 0;
		long n = strtol(v, &end, 10);
		req.content_length = (errno || *end || n < 0) ? -1 : n;
	}
	if (req.content_length > app->cfg.max_body) {
		req.body_too_large = true;
	} else if (req.content_length > 0) {
		/* One byte more than the limit tells an overlong body. */
		size_t cap = (size_t)req.content_length;
		if ((body = malloc(cap + 1)) != NULL) {
			size_t got;
			while (len < cap &&
			    (got = t->read(t->ctx, body + len, cap - len)) > 0)
				len += got;
			body[len] = '\0';
		}
	}
	req.body = body;
	req.body_len = len;

	{
		char route[SB_ROUTE_MAX];
		snprintf(route, sizeof(route), "%.7s %.31s",
		    req.method ? req.method : "-", path);
		sb_note_route(route, NULL);
	}
	if (!status_serve(&app->cfg, app->db, run_mode, &req, &resp))
		app_handle(app, &req, &resp);
	if ((out = resp_serialize(&resp, &req, &outlen)) != NULL) {
		t->write(t->ctx, out, outlen);
		free(out);
	}
	/* The body may hold secrets (a config being created). */
	wipe_free(body, len);
	resp_clear(&resp);
}

/* FastCGI transport. */
static const char *
fcgx_param(void *ctx, const char *name)
{
	return FCGX_GetParam(name, ((FCGX_Request *)ctx)->envp);
}

static size_t
fcgx_read(void *ctx, char *buf, size_t n)
{
	int got = FCGX_GetStr(buf, n > 65536 ? 65536 : (int)n,
	    ((FCGX_Request *)ctx)->in);
	return got > 0 ? (size_t)got : 0;
}

static void
fcgx_write(void *ctx, const char *buf, size_t n)
{
	FCGX_PutStr(buf, (int)n, ((FCGX_Request *)ctx)->out);
}

/* CGI transport: the process environment and stdio. */
static const char *
cgi_param(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
}

static size_t
cgi_read(void *ctx, char *buf, size_t n)
{
	ssize_t got;

	(void)ctx;
	do
		got = read(STDIN_FILENO, buf, n);
	while (got < 0 && errno == EINTR);
	return got > 0 ? (size_t)got : 0;
}

static void
cgi_write(void *ctx, const char *buf, size_t n)
{
	(void)ctx;
	(void)write_all(STDOUT_FILENO, buf, n);
}

/* ---- the listening socket ---- */

/* uid/gid from a name or a number; false when unknown. */
static bool
owner_id(const char *name, bool group, unsigned *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(name, &end, 10);
	if (errno == 0 && *end == '\0' && end != name) {
		*out = (unsigned)n;
		return true;
	}
	if (group) {
		struct group *g = getgrnam(name);
		if (g != NULL)
			*out = g->gr_gid;
		return g != NULL;
	}
	struct passwd *p = getpwnam(name);
	if (p != NULL)
		*out = p->pw_uid;
	return p != NULL;
}

/* listen_owner, listen_group and listen_mode on a unix socket path. */
static int
socket_perms(const struct cfg *c, const char *path)
{
	unsigned uid = (unsigned)-1, gid = (unsigned)-1;
	mode_t mode = (mode_t)strtol(c->listen_mode, NULL, 8);

	if (c->listen_owner != NULL && !owner_id(c->listen_owner, false, &uid)) {
		log_msg(LOG_ERROR, "listen_owner: no such user");
		errno = EINVAL;
		return -1;
	}
	if (c->listen_group != NULL && !owner_id(c->listen_group, true, &gid)) {
		log_msg(LOG_ERROR, "listen_group: no such group");
		errno = EINVAL;
		return -1;
	}
	if ((uid != (unsigned)-1 || gid != (unsigned)-1) &&
	    chown(path, (uid_t)uid, (gid_t)gid) != 0)
		return -1;
	return chmod(path, mode);
}

/*
 * Open the listening socket for `listen` (validated by cfg): "unix:/path",
 * "host:port" or "[v6]:port". libfcgi's FCGX_OpenSocket would take
 * "[::1]:9000" for a unix socket path, so the socket is made here; libfcgi
 * accepts on any listening descriptor.
 */
static int
open_listener(const struct cfg *cfg)
{
	struct addrinfo hints, *ai = NULL, *p;
	const char *where = cfg->listen;
	char host[256];
	const char *port;
	int fd = -1, one = 1, rc;

	const char *path = NULL;
	enum listenaddr_kind kind = listenaddr_split(where, &path, host,
	    sizeof(host), &port);

	if (kind == LISTENADDR_UNIX) {
		struct sockaddr_un sun;
		struct stat st;

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
		/* A socket left by a previous run would make bind fail. */
		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(path);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
		    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
		    socket_perms(cfg, path) != 0 ||
		    listen(fd, LIM_LISTEN_BACKLOG) != 0)
			goto fail;
		return fd;
	}
	if (kind == LISTENADDR_BAD) {
		log_msg(LOG_ERROR, "cannot listen on %s: not host:port",
		    where);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		log_msg(LOG_ERROR, "cannot listen on %s: %s", where,
		    gai_strerror(rc));
		return -1;
	}
	for (p = ai; p != NULL; p = p->ai_next) {
		fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC,
		    p->ai_protocol);
		if (fd >= 0 &&
		    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one)) == 0 &&
		    bind(fd, p->ai_addr, p->ai_addrlen) == 0 &&
		    listen(fd, LIM_LISTEN_BACKLOG) == 0)
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd >= 0)
		return fd;
fail:
	log_msg(LOG_ERROR, "cannot listen on %s: %s", where, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/*
 * Connections waiting on a listening unix socket, from sock_diag (what
 * `ss -xl` shows as Recv-Q; the backlog size in *max), or -1.
 */
static int
unix_queue(int fd, int *max)
{
	static int nl = -1;
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req r;
	} req;
	union {
		char buf[1024];
		struct nlmsghdr align;
	} u;
	struct stat st;
	ssize_t n;

	*max = -1;
	if (fstat(fd, &st) != 0)
		return -1;
	if (nl < 0 && (nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
	    NETLINK_SOCK_DIAG)) < 0)
		return -1;
	memset(&req, 0, sizeof(req));
	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST;
	req.r.sdiag_family = AF_UNIX;
	req.r.udiag_states = ~0u;
	req.r.udiag_ino = (unsigned)st.st_ino;
	req.r.udiag_show = UDIAG_SHOW_RQLEN;
	req.r.udiag_cookie[0] = req.r.udiag_cookie[1] = ~0u;
	if (send(nl, &req, sizeof(req), 0) < 0 ||
	    (n = recv(nl, u.buf, sizeof(u.buf), MSG_DONTWAIT)) <= 0)
		return -1;
	for (struct nlmsghdr *h = &u.align; NLMSG_OK(h, (size_t)n);
	    h = NLMSG_NEXT(h, n)) {
		struct unix_diag_msg *m;
		struct rtattr *a;
		size_t len;

		if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
			return -1;
		m = NLMSG_DATA(h);
		len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
		for (a = (struct rtattr *)(m + 1); RTA_OK(a, len);
		    a = RTA_NEXT(a, len)) {
			if (a->rta_type == UNIX_DIAG_RQLEN &&
			    RTA_PAYLOAD(a) >= sizeof(struct unix_diag_rqlen)) {
				struct unix_diag_rqlen *q = RTA_DATA(a);
				*max = (int)q->udiag_wqueue;
				return (int)q->udiag_rqueue;
			}
		}
	}
	return -1;
}

static void
on_worker_quit(int sig)
{
	(void)sig;
	worker_quit = 1;
}

/* request_timeout without a master (spawned and CGI modes): the pool's
 * master enforces it from the scoreboard instead, saving two alarm(2) a
 * request. */
static void
on_alarm(int sig)
{
	static const char msg[] = "{\"level\":\"error\",\"msg\":\"request "
	    "overran request_timeout; worker exits\"}\n";

	(void)sig;
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(3);
}

/* Signals of a worker: SIGQUIT finishes the request in flight and exits
 * (it stays blocked but while the worker waits for a connection, see
 * worker_loop); SIGTERM/SIGINT kill; SIGALRM is the request_timeout
 * without a master. Whatever the master ignores stays ignored. */
static void
worker_signals(void)
{
	struct sigaction sa;
	sigset_t all;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_worker_quit;
	sigaction(SIGQUIT, &sa, NULL);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sigemptyset(&all);
	sigaddset(&all, SIGQUIT);
	sigprocmask(SIG_SETMASK, &all, NULL);
}

/* ---- listen_allowed_clients (php-fpm's listen.allowed_clients) ---- */

struct clients {
	size_t n;
	struct in6_addr a[LIM_ALLOWED_CLIENTS];
};

static struct clients allowed;

/* IPv4 as ::ffff:a.b.c.d so that one comparison covers both families. */
static bool
to_v6(const char *s, struct in6_addr *out)
{
	struct in_addr v4;

	if (inet_pton(AF_INET6, s, out) == 1)
		return true;
	if (inet_pton(AF_INET, s, &v4) != 1)
		return false;
	memset(out, 0, sizeof(*out));
	out->s6_addr[10] = out->s6_addr[11] = 0xff;
	memcpy(&out->s6_addr[12], &v4, 4);
	return true;
}

static void
clients_parse(const char *list, struct clients *c)
{
	char one[INET6_ADDRSTRLEN + 1];
	const char *cur = list, *item;
	size_t len;

	c->n = 0;
	while (c->n < LIM_ALLOWED_CLIENTS &&
	    commalist_next(&cur, &item, &len)) {
		if (len == 0 || len >= sizeof(one))
			continue;
		memcpy(one, item, len);
		one[len] = '\0';
		if (to_v6(one, &c->a[c->n]))
			c->n++;
	}
}

/* A TCP peer is allowed when no list is set or it is on the list. Unix
 * socket peers are governed by the socket's owner, group and mode. */
static bool
client_ok(const struct sockaddr_storage *ss)
{
	struct in6_addr a;

	if (allowed.n == 0 || ss->ss_family == AF_UNIX)
		return true;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;
		memset(&a, 0, sizeof(a));
		a.s6_addr[10] = a.s6_addr[11] = 0xff;
		memcpy(&a.s6_addr[12], &s4->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr;
	} else {
		return false;
	}
	for (size_t i = 0; i < allowed.n; i++)
		if (memcmp(&a, &allowed.a[i], sizeof(a)) == 0)
			return true;
	return false;
}

/*
 * Accept one connection on the non-blocking listening socket fd: the fd,
 * or -1 with errno (EAGAIN: none pending). A peer not in
 * listen_allowed_clients is closed before a byte is read.
 */
static int
accept_one(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int c;

	for (;;) {
		sl = sizeof(ss);
		c = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		if (c < 0)
			return -1;
		if (client_ok(&ss))
			return c;
		close(c);
		if (sb() != NULL)
			atomic_fetch_add(&sb()->refused_clients, 1);
		log_msg(LOG_WARN, "connection from a client not in "
		    "listen_allowed_clients closed");
	}
}

/* SIGUSR1 reached the master: follow it to the new log file. */
static void
log_follow(const struct app *app, unsigned *seen)
{
	struct sb_pool *p = sb();
	unsigned g;

	if (p == NULL)
		return;
	g = atomic_load_explicit(&p->log_gen, memory_order_relaxed);
	if (g == *seen)
		return;
	*seen = g;
	(void)log_reopen(app->cfg.log_file);
}

/*
 * Serve FastCGI requests on fd until told to stop or max_requests.
 *
 * A SIGQUIT must never cut into a request: libfcgi reads with plain read(2),
 * so an EINTR in the middle of a body or the params would truncate or drop
 * the request. SIGQUIT is therefore blocked except while the worker waits
 * for a connection in pselect(2), which unblocks it atomically. The socket
 * is non-blocking: the worker accepts first and waits in pselect only when
 * nothing is pending (one syscall fewer a request under load), and a worker
 * that lost the race for a connection returns to pselect instead of
 * sleeping in accept(2) with SIGQUIT blocked. The worker accepts itself
 * (listen_allowed_clients) and hands the connection to libfcgi.
 */
static int
worker_loop(struct app *app, int fd)
{
	FCGX_Request r;
	struct transport t = {fcgx_param, fcgx_read, fcgx_write, &r};
	sigset_t waiting;
	fd_set rfds;
	long served = 0;
	unsigned log_seen = sb() ? atomic_load(&sb()->log_gen) : 0;
	bool master = sb() != NULL;
	int a, fl, c;

	sigemptyset(&waiting);
	if ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fd >= FD_SETSIZE ||
	    FCGX_Init() != 0 || FCGX_InitRequest(&r, -1, 0) != 0) {
		log_msg(LOG_ERROR, "FastCGI initialisation failed");
		return 1;
	}
	/* After FCGX_Init: libfcgi installs its own SIGTERM/SIGUSR1 handlers
	 * there, and SIGTERM must keep killing the worker at once. */
	worker_signals();
	/* A request allocates and frees the same few hundred KiB each time:
	 * keep them instead of trimming the heap back to the kernel after
	 * every answer (glibc's dynamic thresholds would otherwise move). */
	mallopt(M_TRIM_THRESHOLD, LIM_WORKER_HEAP_KEEP);
	mallopt(M_TOP_PAD, LIM_WORKER_HEAP_KEEP / 4);
	mallopt(M_MMAP_THRESHOLD, LIM_WORKER_HEAP_KEEP / 4);
	clients_parse(app->cfg.listen_allowed_clients, &allowed);
	/* Warm: connect and prepare before the first request. */
	if (db_open(&app->db, &app->cfg) == BD_ERR_NOMEM)
		return 1;
	sb_note_idle();
	while (!worker_quit) {
		if ((c = accept_one(fd)) < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				break;
			FD_ZERO(&rfds);
			FD_SET(fd, &rfds);
			if (pselect(fd + 1, &rfds, NULL, NULL, NULL,
			    &waiting) < 0 && errno != EINTR)
				break;
			continue;
		}
		log_follow(app, &log_seen);
		sb_note_request("-");
		/* libfcgi closes a kept connection only when told to: it
		 * must not close the one just handed to it. */
		r.ipcFd = c;
		r.keepConnection = 1;
		/* libfcgi knows no listening socket (-1 above): when the
		 * connection closes before a request, it cannot go on to
		 * accept one itself, past listen_allowed_clients; it fails
		 * with EBADF and the loop accepts the next one. */
		a = FCGX_Accept_r(&r);
		if (a < 0) {
			sb_note_idle();
			continue;
		}
		if (!master)
			alarm((unsigned)app->cfg.request_timeout);
		serve(app, &t);
		FCGX_Finish_r(&r);
		if (!master)
			alarm(0);
		sb_note_idle();
		if (app->cfg.max_requests > 0 &&
		    ++served >= app->cfg.max_requests)
			break;
	}
	db_close(app->db);
	app->db = NULL;
	return 0;
}

/* Build the warm state from a loaded config (keys, policy). */
static int
app_init(struct app *app, char *err, size_t errlen)
{
	if (app->cfg.keyring_file == NULL) {
		snprintf(err, errlen, "keyring_file is not set");
		return -1;
	}
	if (vault_load(&app->vault, app->cfg.keyring_file, err, errlen) != BD_OK)
		return -1;
	if (auth_init(&app->auth, &app->cfg, err, errlen) != BD_OK)
		return -1;
	if (egress_init(&app->egress, app->cfg.egress_deny,
	    app->cfg.egress_allow, err, errlen) != BD_OK)
		return -1;
	return 0;
}

static void
app_fini(struct app *app)
{
	vault_free(app->vault);
	auth_free(app->auth);
	egress_free(&app->egress);
	cfg_free(&app->cfg);
	memset(app, 0, sizeof(*app));
}

/* Load config and warm state; on failure the reason goes to err (no
 * value of any key, see cfg.h) and the log. */
static int
load(struct app *app, const char *path, char *err, size_t errlen)
{
	memset(app, 0, sizeof(*app));
	if (cfg_load(&app->cfg, path, environ, err, errlen) != BD_OK ||
	    cfg_check_files(&app->cfg, path, err, errlen) != BD_OK ||
	    app_init(app, err, errlen) != 0) {
		log_msg(LOG_ERROR, "configuration: %s", err);
		app_fini(app);
		return -1;
	}
	return 0;
}

/* ---- the pool: master and process manager ---- */

enum pm_mode { PM_STATIC, PM_DYNAMIC, PM_ONDEMAND };

static enum pm_mode
pm_of(const struct cfg *c)
{
	if (strcmp(c->pm, "static") == 0)
		return PM_STATIC;
	return strcmp(c->pm, "ondemand") == 0 ? PM_ONDEMAND : PM_DYNAMIC;
}

struct master {
	struct app *app;
	struct sb_pool *sb;
	int fd;                  /* the listening socket */
	bool tcp;
	unsigned gen;
	bool stopping;
	long long spawn_after;   /* monotonic ms: respawn backoff */
	long long backoff;
	long long last_retire;   /* monotonic ms: dynamic retires 1/s */
	bool at_max;             /* max_children reached, counted once */
};

static void
sb_publish_cfg(struct master *m)
{
	const struct cfg *c = &m->app->cfg;

	sb_lock(m->sb);
	sb_copy(m->sb->pm, sizeof(m->sb->pm), c->pm);
	m->sb->max_children = c->pm_max_children;
	m->sb->probe_slots = c->probe_slots;
	m->sb->probe_slots_per_org = c->probe_slots_per_org;
	m->sb->reserved_for_reads = c->pm_reserved_for_reads;
	m->sb->probe_timeout = c->probe_timeout;
	sb_unlock(m->sb);
}

static long long
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Fork a worker into a free scoreboard slot. */
static pid_t
spawn(struct master *m)
{
	struct sb_worker *w = NULL;
	int i;
	pid_t pid;

	for (i = 0; i < LIM_SB_WORKERS; i++)
		if (atomic_load(&m->sb->w[i].pid) == 0) {
			w = &m->sb->w[i];
			break;
		}
	if (w == NULL)
		return -1;
	sb_lock(m->sb);
	memset(w, 0, sizeof(*w));
	sb_unlock(m->sb);
	w->gen = m->gen;
	w->started_ms = wall_ms();
	atomic_store(&w->state, SB_STARTING);
	atomic_store(&w->idle_since, clock_mono_ms());
	atomic_store(&w->pid, -1); /* taken; the real pid follows */
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		log_set_pid((long)getpid());
		sb_attach_worker(i);
		atomic_store(&w->pid, (int)getpid());
		close(sig_fd);
		_exit(worker_loop(m->app, m->fd));
	}
	if (pid < 0) {
		log_msg(LOG_ERROR, "fork failed: %s", strerror(errno));
		atomic_store(&w->pid, 0);
		atomic_store(&w->state, SB_EMPTY);
		m->spawn_after = clock_mono_ms() + 1000;
		return -1;
	}
	atomic_store(&w->pid, (int)pid);
	return pid;
}

/* Workers of the current generation that are not leaving, by state. */
struct census {
	int total, idle, starting, busy, probing;
};

static void
census(const struct master *m, struct census *c)
{
	memset(c, 0, sizeof(*c));
	for (int i = 0; i < LIM_SB_WORKERS; i++) {
		const struct sb_worker *w = &m->sb->w[i];
		if (atomic_load(&w->pid) == 0 || w->gen != m->gen ||
		    atomic_load(&w->quitting))
			continue;
		c->total++;
		switch (atomic_load(&w->state)) {
		case SB_STARTING: c->starting++; break;
		case SB_IDLE: c->idle++; break;
		case SB_PROBING: c->probing++; c->busy++; break;
		default: c->busy++; break;
		}
	}
}

static size_t
alive(const struct master *m)
{
	size_t n = 0;

	for (int i = 0; i < LIM_SB_WORKERS; i++)
		n += atomic_load(&m->sb->w[i].pid) != 0;
	return n;
}

static void
signal_all(struct master *m, int sig, bool old_only)
{
	for (int i = 0; i < LIM_SB_WORKERS; i++) {
		struct sb_worker *w = &m->sb->w[i];
		int pid = atomic_load(&w->pid);
		if (pid <= 0 || (old_only && w->gen == m->gen))
			continue;
		if (sig == SIGQUIT)
			atomic_store(&w->quitting, 1);
		kill(pid, sig);
	}
}

/* Ask the current-generation idle worker idle longest (and at least
 * min_idle_ms) to leave; true when one was asked. */
static bool
retire_idle(struct master *m, long long min_idle_ms)
{
	struct sb_worker *best = NULL;
	long long now = clock_mono_ms(), oldest = 0;

	for (int i = 0; i < LIM_SB_WORKERS; i++) {
		struct sb_worker *w = &m->sb->w[i];
		long long since;
		if (atomic_load(&w->pid) <= 0 || w->gen != m->gen ||
		    atomic_load(&w->quitting) ||
		    atomic_load(&w->state) != SB_IDLE)
			continue;
		since = atomic_load(&w->idle_since);
		if (now - since < min_idle_ms)
			continue;
		if (best == NULL || since < oldest) {
			best = w;
			oldest = since;
		}
	}
	if (best == NULL)
		return false;
	atomic_store(&best->quitting, 1);
	kill(atomic_load(&best->pid), SIGQUIT);
	return true;
}

/* Reap exited workers: free their slots, give back a probe slot a dead
 * worker held, and schedule the respawn backoff for workers that die
 * young. */
static void
reap(struct master *m)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (int i = 0; i < LIM_SB_WORKERS; i++) {
			struct sb_worker *w = &m->sb->w[i];
			if (atomic_load(&w->pid) != (int)pid)
				continue;
			bool clean = WIFEXITED(st) && WEXITSTATUS(st) == 0;
			bool current = w->gen == m->gen &&
			    !atomic_load(&w->quitting) && !m->stopping;
			long long now = clock_mono_ms();
			long long lived = wall_ms() - w->started_ms;
			sb_lock(m->sb);
			if (w->probing)
				log_msg(LOG_WARN, "worker %d died holding a "
				    "probe slot (%s, org %s); slot reclaimed",
				    (int)pid, w->probe_type, w->probe_org);
			w->probing = 0;
			atomic_store(&w->state, SB_EMPTY);
			atomic_store(&w->pid, 0);
			sb_unlock(m->sb);
			if (!current)
				break;
			/* A worker that dies young is restarted ever
			 * slower. */
			if (clean || lived > 10000)
				m->backoff = 0;
			else
				m->backoff = m->backoff ? m->backoff * 2 : 100;
			if (m->backoff > LIM_RESPAWN_BACKOFF_MAX_MS)
				m->backoff = LIM_RESPAWN_BACKOFF_MAX_MS;
			m->spawn_after = now + m->backoff;
			if (!clean) {
				atomic_fetch_add(&m->sb->respawns, 1);
				log_msg(LOG_WARN, "worker %d died (%s %d); "
				    "respawn in %lld ms", (int)pid,
				    WIFSIGNALED(st) ? "signal" : "status",
				    WIFSIGNALED(st) ? WTERMSIG(st) :
				    WEXITSTATUS(st), m->backoff);
			}
			break;
		}
	}
}

static void
note_max_reached(struct master *m, bool reached)
{
	if (reached && !m->at_max) {
		atomic_fetch_add(&m->sb->max_children_reached, 1);
		log_msg(LOG_WARN, "pm_max_children (%d) reached; consider "
		    "raising it", m->app->cfg.pm_max_children);
	}
	m->at_max = reached;
}

/* How many workers to add now, by pm mode (ondemand adds on readiness of
 * the listening socket, see pool()). */
static void
size_pool(struct master *m)
{
	const struct cfg *c = &m->app->cfg;
	long long now = clock_mono_ms();
	struct census k;
	int want = 0;

	census(m, &k);
	switch (pm_of(c)) {
	case PM_STATIC:
		want = c->pm_max_children - k.total;
		break;
	case PM_DYNAMIC:
		if (k.idle + k.starting < c->pm_min_spare) {
			want = c->pm_min_spare - k.idle - k.starting;
			note_max_reached(m, k.total + want >
			    c->pm_max_children);
			if (k.total + want > c->pm_max_children)
				want = c->pm_max_children - k.total;
		} else {
			note_max_reached(m, false);
			if (k.idle > c->pm_max_spare &&
			    now - m->last_retire >= 1000 &&
			    retire_idle(m, 0))
				m->last_retire = now;
		}
		break;
	case PM_ONDEMAND:
		if (k.idle > 0)
			retire_idle(m, c->pm_process_idle_timeout * 1000LL);
		break;
	}
	if (want > 0 && now < m->spawn_after)
		return;
	for (; want > 0; want--)
		if (spawn(m) < 0)
			break;
}

/* request_timeout (kill the worker: php-fpm's request_terminate_timeout)
 * and the slow log, from the scoreboard. */
static void
watch(struct master *m)
{
	const struct cfg *c = &m->app->cfg;
	long long now = clock_mono_ms();

	for (int i = 0; i < LIM_SB_WORKERS; i++) {
		struct sb_worker *w = &m->sb->w[i];
		int pid = atomic_load(&w->pid), st = atomic_load(&w->state);
		long long rs = atomic_load(&w->req_start), el;
		char route[SB_ROUTE_MAX], org[LIM_ORG_MAX + 1];

		if (pid <= 0 || rs == 0 || st < SB_READING)
			continue;
		el = now - rs;
		sb_copy(route, sizeof(route), w->route);
		sb_copy(org, sizeof(org), w->org);
		if (el > c->request_timeout * 1000LL) {
			if (atomic_exchange(&w->slow_logged, 2) == 2)
				continue;
			log_msg(LOG_ERROR, "worker %d: request overran "
			    "request_timeout (%d s; route %s, org %s, state "
			    "%s); worker killed", pid, c->request_timeout,
			    route, org[0] ? org : "-",
			    sb_state_name((enum sb_state)st));
			kill(pid, SIGKILL);
			continue;
		}
		if (c->request_slowlog_timeout > 0 &&
		    el > c->request_slowlog_timeout * 1000LL &&
		    atomic_load(&w->slow_logged) == 0) {
			atomic_store(&w->slow_logged, 1);
			atomic_fetch_add(&m->sb->slow_requests, 1);
			json_object *o = json_object_new_object();
			if (o == NULL)
				continue;
			json_object_object_add(o, "msg",
			    json_object_new_string("slow request"));
			json_object_object_add(o, "workerPid",
			    json_object_new_int(pid));
			json_object_object_add(o, "route",
			    json_object_new_string(route));
			json_object_object_add(o, "org", org[0] ?
			    json_object_new_string(org) : NULL);
			json_object_object_add(o, "state",
			    json_object_new_string(
			    sb_state_name((enum sb_state)st)));
			json_object_object_add(o, "elapsedMs",
			    json_object_new_int64(el));
			log_json(LOG_WARN, o);
			json_object_put(o);
		}
	}
}

/* The listen backlog: TCP_INFO for TCP (tcpi_unacked is the queue,
 * tcpi_sacked its size on a listening socket); sock_diag for unix. */
static void
listen_queue(struct master *m)
{
	int q = -1, max = -1;

	if (m->tcp) {
		struct tcp_info ti;
		socklen_t l = sizeof(ti);
		if (getsockopt(m->fd, IPPROTO_TCP, TCP_INFO, &ti, &l) == 0) {
			q = (int)ti.tcpi_unacked;
			max = (int)ti.tcpi_sacked;
		}
	} else {
		q = unix_queue(m->fd, &max);
	}
	atomic_store(&m->sb->listen_queue, q);
	atomic_store(&m->sb->listen_queue_max, max);
}

static void
reload_result(struct master *m, bool ok, const char *msg)
{
	sb_lock(m->sb);
	m->sb->last_reload_ok = ok;
	m->sb->last_reload_at = (long long)time(NULL);
	sb_copy(m->sb->last_reload_msg, sizeof(m->sb->last_reload_msg), msg);
	sb_unlock(m->sb);
	if (ok)
		atomic_fetch_add(&m->sb->reloads, 1);
}

/* Graceful reload (SIGHUP, SIGUSR2): new workers first, then the old ones
 * finish their request in flight and leave, so nothing is dropped. A
 * config that does not load keeps the running one. */
static void
reload(struct master *m, const char *cfgpath, const char *bound)
{
	struct app next;
	char err[512] = "";

	if (load(&next, cfgpath, err, sizeof(err)) != 0) {
		char msg[SB_MSG_MAX];
		log_msg(LOG_ERROR, "reload failed; keeping the running "
		    "configuration");
		snprintf(msg, sizeof(msg), "reload failed: %s", err);
		reload_result(m, false, msg);
		return;
	}
	if (strcmp(next.cfg.listen, bound) != 0)
		log_msg(LOG_WARN, "listen cannot change on reload; still "
		    "serving %s", bound);
	app_fini(m->app);
	*m->app = next;
	m->gen++;
	m->spawn_after = 0;
	m->backoff = 0;
	sb_publish_cfg(m);
	clients_parse(m->app->cfg.listen_allowed_clients, &allowed);
	if (m->app->cfg.log_file != NULL &&
	    log_reopen(m->app->cfg.log_file) != 0)
		log_msg(LOG_ERROR, "cannot open log_file: %s",
		    strerror(errno));
	int n = pm_of(&m->app->cfg) == PM_STATIC ?
	    m->app->cfg.pm_max_children :
	    pm_of(&m->app->cfg) == PM_DYNAMIC ? m->app->cfg.pm_start_servers :
	    0;
	for (int i = 0; i < n; i++)
		spawn(m);
	signal_all(m, SIGQUIT, true);
	reload_result(m, true, "configuration reloaded");
	log_msg(LOG_INFO, "configuration reloaded; workers replaced "
	    "(pm %s)", m->app->cfg.pm);
}

/*
 * The master's signals go through a signalfd: every signal it acts on is
 * blocked and read in the loop. Every other signal whose default action
 * would end the process is ignored, so a stray kill does not take the pool
 * down (SIGKILL and SIGSTOP cannot be).
 */
static int
master_signals(sigset_t *set)
{
	static const int handled[] = {SIGCHLD, SIGTERM, SIGINT, SIGQUIT,
	    SIGHUP, SIGUSR1, SIGUSR2};
	static const int ignored[] = {SIGPIPE, SIGALRM, SIGVTALRM, SIGPROF,
	    SIGXFSZ, SIGXCPU, SIGTTIN, SIGTTOU, SIGIO, SIGSTKFLT, SIGPWR,
	    SIGTRAP, SIGSYS, SIGURG, SIGWINCH, SIGTSTP};
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		sigaction(ignored[i], &sa, NULL);
	for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
		sigaction(s, &sa, NULL);
	sigemptyset(set);
	for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
		sigaddset(set, handled[i]);
	sigprocmask(SIG_BLOCK, set, NULL);
	return signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static int systemd_fd(void);

/*
 * The pool's listening socket: the one systemd passed (socket activation,
 * backupd.socket), else `listen` opened here. An activated socket belongs
 * to systemd: `listen` (and listen_owner/group/mode) is ignored and the
 * socket file is never unlinked; *activated says which. The LISTEN_*
 * variables are dropped so that nothing started later takes them for its
 * own.
 */
static int
pool_listener(const struct cfg *cfg, bool *activated)
{
	int fd = systemd_fd();

	*activated = fd >= 0;
	if (fd < 0)
		return open_listener(cfg);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	log_msg(LOG_INFO, "serving the socket systemd passed; listen = %s is "
	    "not used", cfg->listen);
	return fd;
}

static int
pool(struct app *app, const char *cfgpath)
{
	struct master m;
	struct pollfd pf[2];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	sigset_t set;
	/* The socket opened here; a reload cannot move it. */
	char bound[4096];
	bool activated;
	int fd;

	if (app->cfg.log_file != NULL && log_reopen(app->cfg.log_file) != 0) {
		log_msg(LOG_ERROR, "cannot open log_file %s: %s",
		    app->cfg.log_file, strerror(errno));
		return 1;
	}
	if ((fd = pool_listener(&app->cfg, &activated)) < 0)
		return 1;
	snprintf(bound, sizeof(bound), "%s", activated ? "the socket systemd "
	    "passed" : app->cfg.listen);
	memset(&m, 0, sizeof(m));
	m.app = app;
	m.fd = fd;
	m.tcp = getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    ss.ss_family != AF_UNIX;
	m.gen = 1;
	if ((m.sb = sb_create()) == NULL ||
	    (sig_fd = master_signals(&set)) < 0) {
		log_msg(LOG_ERROR, "cannot start the pool: %s",
		    strerror(errno));
		return 1;
	}
	m.sb->start_time = (long long)time(NULL);
	sb_publish_cfg(&m);
	clients_parse(app->cfg.listen_allowed_clients, &allowed);
	{
		enum pm_mode pm = pm_of(&app->cfg);
		int n = pm == PM_STATIC ? app->cfg.pm_max_children :
		    pm == PM_DYNAMIC ? app->cfg.pm_start_servers : 0;
		for (int i = 0; i < n; i++)
			spawn(&m);
		log_msg(LOG_INFO, "backupd pool started on %s with %d workers "
		    "(pm %s, pm_max_children %d)", app->cfg.listen, n,
		    app->cfg.pm, app->cfg.pm_max_children);
	}

	for (;;) {
		struct signalfd_siginfo si;
		struct census k;
		bool want_listen;
		int npf = 1, timeout = 100;

		census(&m, &k);
		/* ondemand: wake when a connection waits and no worker is
		 * there to take it. */
		want_listen = !m.stopping && pm_of(&app->cfg) == PM_ONDEMAND &&
		    k.idle + k.starting == 0 &&
		    k.total < app->cfg.pm_max_children &&
		    clock_mono_ms() >= m.spawn_after;
		pf[0].fd = sig_fd;
		pf[0].events = POLLIN;
		if (want_listen) {
			pf[1].fd = fd;
			pf[1].events = POLLIN;
			npf = 2;
		}
		if (k.starting > 0)
			timeout = 10;
		if (poll(pf, (nfds_t)npf, timeout) < 0 && errno != EINTR)
			break;
		while (read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			int sig = (int)si.ssi_signo;
			if (sig == SIGTERM || sig == SIGINT) {
				log_msg(LOG_INFO, "stopping (signal %d)", sig);
				m.stopping = true;
				signal_all(&m, SIGTERM, false);
			} else if (sig == SIGQUIT) {
				log_msg(LOG_INFO, "stopping gracefully");
				m.stopping = true;
				signal_all(&m, SIGQUIT, false);
			} else if ((sig == SIGHUP || sig == SIGUSR2) &&
			    !m.stopping) {
				reload(&m, cfgpath, bound);
			} else if (sig == SIGUSR1) {
				if (log_reopen(app->cfg.log_file) != 0)
					log_msg(LOG_ERROR, "cannot reopen "
					    "log_file: %s", strerror(errno));
				else
					log_msg(LOG_INFO, "log reopened");
				atomic_fetch_add(&m.sb->log_gen, 1);
			}
		}
		reap(&m);
		if (m.stopping) {
			if (alive(&m) == 0)
				break;
			continue;
		}
		if (npf == 2 && (pf[1].revents & POLLIN)) {
			census(&m, &k);
			if (k.idle + k.starting == 0) {
				if (k.total < app->cfg.pm_max_children) {
					spawn(&m);
					note_max_reached(&m, false);
				} else {
					note_max_reached(&m, true);
				}
			}
		}
		size_pool(&m);
		watch(&m);
		listen_queue(&m);
	}
	if (strncmp(bound, "unix:", 5) == 0)
		unlink(bound + 5);
	close(sig_fd);
	log_msg(LOG_INFO, "backupd stopped");
	return 0;
}

/* fd of a socket passed by systemd (sd_listen_fds(3)), or -1. */
static int
systemd_fd(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");

	if (pid == NULL || fds == NULL || strtol(pid, NULL, 10) != getpid() ||
	    strtol(fds, NULL, 10) < 1)
		return -1;
	return 3;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: backupd [-c FILE] | --version | --help\n"
	    "  FILE: -c, else $BACKUPD_CONFIG, else %s\n"
	    "  pool mode by default (or on the socket systemd passes);\n"
	    "  spawned when stdin is a FastCGI socket; CGI when started with\n"
	    "  CGI variables (GATEWAY_INTERFACE). See backupd(8).\n",
	    BD_DEFAULT_CONFIG);
}

int
main(int argc, char *argv[])
{
	const char *cfgpath = NULL;
	struct rlimit nocore = {0, 0};
	struct app app;
	char err[512];
	int c, rc;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("backupd %s\n", BD_VERSION);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	while ((c = getopt(argc, argv, "c:h")) != -1) {
		if (c == 'c') {
			cfgpath = optarg;
		} else {
			usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : 2;
		}
	}
	cfgpath = cfg_pick_path(cfgpath);
	/* Secrets live in this process: no core dumps, no ptrace by peers. */
	setrlimit(RLIMIT_CORE, &nocore);
	prctl(PR_SET_DUMPABLE, 0);
	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		log_msg(LOG_ERROR, "library initialisation failed");
		return 1;
	}
	if (load(&app, cfgpath, err, sizeof(err)) != 0)
		return 1;

	/* Spawned: stdin is the listening socket. A socket systemd passes
	 * goes to the pool (pool_listener), which keeps its workers. */
	if (!FCGX_IsCGI()) {
		run_mode = "spawned";
		if (log_reopen(app.cfg.log_file) != 0)
			log_msg(LOG_ERROR, "cannot open log_file: %s",
			    strerror(errno));
		clients_parse(app.cfg.listen_allowed_clients, &allowed);
		rc = worker_loop(&app, 0);
	} else if (getenv("GATEWAY_INTERFACE") != NULL) {
		struct transport t = {cgi_param, cgi_read, cgi_write, NULL};
		run_mode = "cgi";
		alarm((unsigned)app.cfg.request_timeout);
		db_open(&app.db, &app.cfg);
		serve(&app, &t);
		db_close(app.db);
		app.db = NULL;
		rc = 0;
	} else {
		rc = pool(&app, cfgpath);
	}
	app_fini(&app);
	curl_global_cleanup();
	return rc;
}
