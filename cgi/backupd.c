/*
 * backupd: the FastCGI service behind /backup-destinations.
 *
 * Modes (DESIGN.md "Shape"):
 *  - spawned: stdin is a listening socket (spawn-fcgi, mod_fcgid): serve
 *    it in this process;
 *  - CGI: started with CGI variables and no socket (shared hosting): serve
 *    one request from the environment and stdin, then exit;
 *  - pool (default): open `listen` (or take the socket systemd passed,
 *    LISTEN_FDS), fork `workers` workers that share it,
 *    respawn them with backoff; SIGTERM/SIGINT stop, SIGQUIT stops
 *    gracefully, SIGHUP reloads the config and replaces the workers.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netdb.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <fcgiapp.h>
#include <sodium.h>

#include "clock.h"
#include "app.h"
#include "bd_limits.h"
#include "log.h"
#include "oauth_cookie.h"

extern char **environ;

static volatile sig_atomic_t worker_quit;

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

	app_handle(app, &req, &resp);
	if ((out = resp_serialize(&resp, &req, &outlen)) != NULL) {
		t->write(t->ctx, out, outlen);
		free(out);
	}
	if (body != NULL) {
		/* The body may hold secrets (a config being created). */
		sodium_memzero(body, len);
		free(body);
	}
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
	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		buf += w;
		n -= (size_t)w;
	}
}

static void
on_worker_quit(int sig)
{
	(void)sig;
	worker_quit = 1;
}

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
 * worker_loop); SIGTERM/SIGINT kill; SIGALRM is the request_timeout. */
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
	sigemptyset(&all);
	sigaddset(&all, SIGQUIT);
	sigprocmask(SIG_SETMASK, &all, NULL);
}

/*
 * Serve FastCGI requests on fd until told to stop or max_requests.
 *
 * A SIGQUIT must never cut into a request: libfcgi reads with plain read(2),
 * so an EINTR in the middle of a body or the params would truncate or drop
 * the request. SIGQUIT is therefore blocked except while the worker waits
 * for a connection in pselect(2), which unblocks it atomically. The socket
 * is non-blocking so that a worker that lost the race for a connection to
 * another worker returns (-EAGAIN) to pselect instead of sleeping in
 * accept(2) with SIGQUIT blocked.
 */
static int
worker_loop(struct app *app, int fd)
{
	FCGX_Request r;
	struct transport t = {fcgx_param, fcgx_read, fcgx_write, &r};
	sigset_t waiting;
	fd_set rfds;
	long served = 0;
	int a, fl;

	sigemptyset(&waiting);
	if ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fd >= FD_SETSIZE ||
	    FCGX_Init() != 0 || FCGX_InitRequest(&r, fd, 0) != 0) {
		log_msg(LOG_ERROR, "FastCGI initialisation failed");
		return 1;
	}
	/* After FCGX_Init: libfcgi installs its own SIGTERM/SIGUSR1 handlers
	 * there, and SIGTERM must keep killing the worker at once. */
	worker_signals();
	/* Warm: connect and prepare before the first request. */
	if (db_open(&app->db, &app->cfg) == BD_ERR_NOMEM)
		return 1;
	while (!worker_quit) {
		FD_ZERO(&rfds);
		FD_SET(fd, &rfds);
		if (pselect(fd + 1, &rfds, NULL, NULL, NULL, &waiting) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		a = FCGX_Accept_r(&r);
		if (a == -EAGAIN || a == -EWOULDBLOCK || a == -EINTR ||
		    a == -ECONNABORTED)
			continue;
		if (a < 0)
			break;
		alarm((unsigned)app->cfg.request_timeout);
		serve(app, &t);
		FCGX_Finish_r(&r);
		alarm(0);
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

static int
load(struct app *app, const char *path)
{
	char err[512];

	memset(app, 0, sizeof(*app));
	if (cfg_load(&app->cfg, path, environ, err, sizeof(err)) != BD_OK ||
	    cfg_check_files(&app->cfg, path, err, sizeof(err)) != BD_OK ||
	    app_init(app, err, sizeof(err)) != 0) {
		log_msg(LOG_ERROR, "configuration: %s", err);
		app_fini(app);
		return -1;
	}
	return 0;
}

/* ---- the pool ---- */

struct slot {
	pid_t pid;           /* 0: empty, waiting for respawn_at */
	unsigned gen;        /* config generation it was started with */
	long long started, respawn_at, backoff;
};

static struct slot *slots;
static size_t nslots;

static pid_t
spawn(struct app *app, int fd, struct slot *s, unsigned gen)
{
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		_exit(worker_loop(app, fd));
	}
	if (pid < 0) {
		log_msg(LOG_ERROR, "fork failed: %s", strerror(errno));
		s->respawn_at = clock_mono_ms() + 1000;
		return -1;
	}
	s->pid = pid;
	s->gen = gen;
	s->started = clock_mono_ms();
	return pid;
}

static struct slot *
add_slot(void)
{
	struct slot *n = realloc(slots, (nslots + 1) * sizeof(*n));

	if (n == NULL)
		return NULL;
	slots = n;
	memset(&slots[nslots], 0, sizeof(slots[0]));
	return &slots[nslots++];
}

static void
signal_gen(int sig, unsigned below_gen)
{
	for (size_t i = 0; i < nslots; i++)
		if (slots[i].pid > 0 && slots[i].gen < below_gen)
			kill(slots[i].pid, sig);
}

static size_t
alive(void)
{
	size_t n = 0;

	for (size_t i = 0; i < nslots; i++)
		n += slots[i].pid > 0;
	return n;
}

/* Reap exited workers; schedule a respawn for current-generation ones
 * unless the pool is stopping. Old-generation slots are dropped. */
static void
reap(unsigned gen, bool stopping)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (size_t i = 0; i < nslots; i++) {
			struct slot *s = &slots[i];
			if (s->pid != pid)
				continue;
			s->pid = 0;
			if (stopping || s->gen != gen) {
				slots[i] = slots[--nslots];
				break;
			}
			long long now = clock_mono_ms(), lived = now - s->started;
			bool clean = WIFEXITED(st) && WEXITSTATUS(st) == 0;
			/* A worker that dies young is restarted ever slower. */
			if (clean || lived > 10000)
				s->backoff = 0;
			else
				s->backoff = s->backoff ? s->backoff * 2 : 100;
			if (s->backoff > LIM_RESPAWN_BACKOFF_MAX_MS)
				s->backoff = LIM_RESPAWN_BACKOFF_MAX_MS;
			s->respawn_at = now + s->backoff;
			if (!clean)
				log_msg(LOG_WARN, "worker %d died (%s %d); "
				    "respawn in %lld ms", (int)pid,
				    WIFSIGNALED(st) ? "signal" : "status",
				    WIFSIGNALED(st) ? WTERMSIG(st) :
				    WEXITSTATUS(st), s->backoff);
			break;
		}
	}
}

/*
 * Open the listening socket for `listen` (validated by cfg): "unix:/path",
 * "host:port" or "[v6]:port". libfcgi's FCGX_OpenSocket would take
 * "[::1]:9000" for a unix socket path, so the socket is made here; libfcgi
 * accepts on any listening descriptor.
 */
static int
open_listener(const char *where)
{
	struct addrinfo hints, *ai = NULL, *p;
	char host[256];
	const char *port;
	int fd = -1, one = 1, rc;

	if (strncmp(where, "unix:", 5) == 0) {
		struct sockaddr_un sun;
		struct stat st;
		const char *path = where + 5;

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
		/* A socket left by a previous run would make bind fail. */
		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(path);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
		    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
		    chmod(path, 0660) != 0 || listen(fd, LIM_LISTEN_BACKLOG) != 0)
			goto fail;
		return fd;
	}
	if (where[0] == '[') {
		const char *rb = strchr(where, ']');
		snprintf(host, sizeof(host), "%.*s",
		    rb ? (int)(rb - where - 1) : 0, where + 1);
		port = rb ? rb + 2 : "";
	} else {
		const char *colon = strrchr(where, ':');
		snprintf(host, sizeof(host), "%.*s",
		    colon ? (int)(colon - where) : 0, where);
		port = colon ? colon + 1 : "";
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

static int systemd_fd(void);

/*
 * The pool's listening socket: the one systemd passed (socket activation,
 * backupd.socket), else `listen` opened here. An activated socket belongs
 * to systemd: `listen` is ignored and the socket file is never unlinked;
 * *activated says which. The LISTEN_* variables are dropped so that nothing
 * started later takes them for its own.
 */
static int
pool_listener(const char *listen_at, bool *activated)
{
	int fd = systemd_fd();

	*activated = fd >= 0;
	if (fd < 0)
		return open_listener(listen_at);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	log_msg(LOG_INFO, "serving the socket systemd passed; listen = %s is "
	    "not used", listen_at);
	return fd;
}

static int
pool(struct app *app, const char *cfgpath)
{
	sigset_t set;
	siginfo_t si;
	struct timespec tick = {0, 200 * 1000 * 1000};
	unsigned gen = 1;
	bool stopping = false, activated;
	int fd, sig;
	/* The socket opened here; a reload cannot move it. */
	char bound[4096];

	if ((fd = pool_listener(app->cfg.listen, &activated)) < 0)
		return 1;
	snprintf(bound, sizeof(bound), "%s", activated ? "the socket systemd "
	    "passed" : app->cfg.listen);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < app->cfg.workers; i++) {
		struct slot *s = add_slot();
		if (s != NULL)
			spawn(app, fd, s, gen);
	}
	log_msg(LOG_INFO, "backupd pool started on %s with %d workers",
	    app->cfg.listen, app->cfg.workers);

	for (;;) {
		sig = sigtimedwait(&set, &si, &tick);
		if (sig == SIGTERM || sig == SIGINT) {
			log_msg(LOG_INFO, "stopping (signal %d)", sig);
			stopping = true;
			signal_gen(SIGTERM, gen + 1);
		} else if (sig == SIGQUIT) {
			log_msg(LOG_INFO, "stopping gracefully");
			stopping = true;
			signal_gen(SIGQUIT, gen + 1);
		} else if (sig == SIGHUP && !stopping) {
			struct app next;
			if (load(&next, cfgpath) != 0) {
				log_msg(LOG_ERROR, "reload failed; keeping the "
				    "running configuration");
				continue;
			}
			if (strcmp(next.cfg.listen, bound) != 0)
				log_msg(LOG_WARN, "listen cannot change on "
				    "reload; still serving %s", bound);
			/* New workers first, then the old ones finish their
			 * request in flight and leave: nothing is dropped. */
			app_fini(app);
			*app = next;
			gen++;
			/* A slot still waiting out its respawn backoff belongs
			 * to the old configuration: the new workers replace
			 * it (respawned, it would be one worker too many). */
			for (size_t i = 0; i < nslots;) {
				if (slots[i].pid == 0)
					slots[i] = slots[--nslots];
				else
					i++;
			}
			for (int i = 0; i < app->cfg.workers; i++) {
				struct slot *s = add_slot();
				if (s != NULL)
					spawn(app, fd, s, gen);
			}
			signal_gen(SIGQUIT, gen);
			log_msg(LOG_INFO, "configuration reloaded; workers "
			    "replaced");
		}
		reap(gen, stopping);
		if (stopping) {
			if (alive() == 0)
				break;
			continue;
		}
		long long now = clock_mono_ms();
		for (size_t i = 0; i < nslots; i++)
			if (slots[i].pid == 0 && slots[i].respawn_at <= now)
				spawn(app, fd, &slots[i], gen);
	}
	if (strncmp(bound, "unix:", 5) == 0)
		unlink(bound + 5);
	free(slots);
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
	if (load(&app, cfgpath) != 0)
		return 1;

	/* Spawned: stdin is the listening socket. A socket systemd passes
	 * goes to the pool (pool_listener), which keeps its workers. */
	if (!FCGX_IsCGI()) {
		rc = worker_loop(&app, 0);
	} else if (getenv("GATEWAY_INTERFACE") != NULL) {
		struct transport t = {cgi_param, cgi_read, cgi_write, NULL};
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
