/*
 * The probe's connection session (issue 9 item 6): inside probe_run every
 * probe_curl handle shares one connection per host, the egress gate still
 * judges every new connection, and nothing outlives the probe. Against a
 * small keep-alive HTTP server on 127.0.0.2 (loopback only; the denied
 * address never sees a packet: the gate refuses before a socket exists).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "probe/probe.h"

#define MAX_CLIENTS 8

/* The server: counts accepted and closed connections; answers every
 * request head with a 2-byte keep-alive 200. */
struct server {
	int lfd, port;
	int wake[2];
	pthread_t tid;
	pthread_mutex_t mu;
	int accepted, closed;
};

static struct server srv;

static void
bump(int *n)
{
	pthread_mutex_lock(&srv.mu);
	(*n)++;
	pthread_mutex_unlock(&srv.mu);
}

static int
count(const int *n)
{
	int v;

	pthread_mutex_lock(&srv.mu);
	v = *n;
	pthread_mutex_unlock(&srv.mu);
	return v;
}

/* Read what arrived on fd; answer one response per complete request head
 * (the test's requests have no body). False when the peer closed. */
static bool
serve(int fd, char *buf, size_t *have, size_t size)
{
	static const char ans[] =
	    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	ssize_t n;
	char *end;
	size_t used;

	n = read(fd, buf + *have, size - 1 - *have);
	if (n <= 0)
		return false;
	*have += (size_t)n;
	buf[*have] = '\0';
	while ((end = strstr(buf, "\r\n\r\n")) != NULL) {
		/* "/stall": read, never answered. */
		if (strncmp(buf, "GET /stall ", 11) != 0 &&
		    write(fd, ans, sizeof(ans) - 1) != (ssize_t)sizeof(ans) - 1)
			return false;
		used = (size_t)(end + 4 - buf);
		memmove(buf, buf + used, *have - used + 1);
		*have -= used;
	}
	return *have < size - 1;
}

static void *
server_main(void *arg)
{
	struct pollfd p[2 + MAX_CLIENTS];
	char bufs[MAX_CLIENTS][1024];
	size_t have[MAX_CLIENTS];
	int fds[MAX_CLIENTS], i, fd;

	(void)arg;
	for (i = 0; i < MAX_CLIENTS; i++)
		fds[i] = -1;
	for (;;) {
		p[0].fd = srv.lfd;
		p[0].events = POLLIN;
		p[1].fd = srv.wake[0];
		p[1].events = POLLIN;
		for (i = 0; i < MAX_CLIENTS; i++) {
			p[2 + i].fd = fds[i];
			p[2 + i].events = POLLIN;
		}
		if (poll(p, 2 + MAX_CLIENTS, -1) < 0)
			break;
		if (p[1].revents != 0)
			break;
		if (p[0].revents & POLLIN) {
			fd = accept(srv.lfd, NULL, NULL);
			for (i = 0; fd >= 0 && i < MAX_CLIENTS; i++)
				if (fds[i] < 0) {
					fds[i] = fd;
					have[i] = 0;
					bump(&srv.accepted);
					fd = -1;
				}
			if (fd >= 0)
				close(fd);
		}
		for (i = 0; i < MAX_CLIENTS; i++)
			if (fds[i] >= 0 && p[2 + i].revents != 0 &&
			    !serve(fds[i], bufs[i], &have[i], sizeof(bufs[i]))) {
				close(fds[i]);
				fds[i] = -1;
				bump(&srv.closed);
			}
	}
	for (i = 0; i < MAX_CLIENTS; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return NULL;
}

static int
server_start(void **state)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);

	(void)state;
	memset(&srv, 0, sizeof(srv));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(0x7f000002);
	if ((srv.lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(srv.lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(srv.lfd, 8) != 0 ||
	    getsockname(srv.lfd, (struct sockaddr *)&a, &alen) != 0 ||
	    pipe(srv.wake) != 0)
		return -1;
	srv.port = ntohs(a.sin_port);
	pthread_mutex_init(&srv.mu, NULL);
	return pthread_create(&srv.tid, NULL, server_main, NULL) == 0 ? 0 : -1;
}

static int
server_stop(void **state)
{
	(void)state;
	if (write(srv.wake[1], "x", 1) != 1)
		return -1;
	pthread_join(srv.tid, NULL);
	close(srv.lfd);
	close(srv.wake[0]);
	close(srv.wake[1]);
	pthread_mutex_destroy(&srv.mu);
	return 0;
}

/* Wait up to 2 s for the server to have seen n connections closed. */
static void
wait_closed(int n)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int i;

	for (i = 0; i < 200 && count(&srv.closed) < n; i++)
		nanosleep(&ts, NULL);
	assert_int_equal(count(&srv.closed), n);
}

/* One GET of path on host; returns curl's code and the number of new
 * connections the transfer opened. x stays set up for the caller. */
static CURLcode
get(struct probe_xfer *x, const struct probe_env *env, const char *host,
    const char *path, long *connects)
{
	char url[96];
	CURLcode cc;

	assert_int_equal(probe_curl(x, env, "http"), BD_OK);
	snprintf(url, sizeof(url), "http://%s:%d%s", host, srv.port, path);
	curl_easy_setopt(x->h, CURLOPT_URL, url);
	cc = curl_easy_perform(x->h);
	*connects = -1;
	curl_easy_getinfo(x->h, CURLINFO_NUM_CONNECTS, connects);
	return cc;
}

/* A probe with several steps: sequential handles, two alive at once, and
 * a step towards a denied address in the middle. */
static void
steps_probe(const struct probe_env *env, json_object *config,
    struct probe_result *res)
{
	struct probe_xfer a, b, c;
	long n;

	(void)config;
	assert_non_null(env->session);
	assert_int_equal(get(&a, env, "127.0.0.2", "/1", &n), CURLE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(a.body, "ok");
	probe_xfer_cleanup(&a);
	/* The next step, a new handle: the same connection. */
	assert_int_equal(get(&b, env, "127.0.0.2", "/2", &n), CURLE_OK);
	assert_int_equal(n, 0);
	/* A third handle while the second is still alive (not performing):
	 * the connection is idle again and is reused. */
	assert_int_equal(get(&c, env, "127.0.0.2", "/3", &n), CURLE_OK);
	assert_int_equal(n, 0);
	assert_string_equal(c.body, "ok");
	probe_xfer_cleanup(&c);
	/* A denied address in the same probe: the gate still refuses it; a
	 * connection in the session's cache does not help. */
	assert_int_equal(get(&c, env, "127.0.0.1", "/4", &n),
	    CURLE_COULDNT_CONNECT);
	assert_true(c.gate.denied);
	probe_xfer_cleanup(&c);
	/* And the allowed host again, on the handle kept alive: still the
	 * one connection. */
	assert_int_equal(curl_easy_perform(b.h), CURLE_OK);
	curl_easy_getinfo(b.h, CURLINFO_NUM_CONNECTS, &n);
	assert_int_equal(n, 0);
	probe_xfer_cleanup(&b);
	probe_pass(res, CHECK_CONNECT, NULL);
}

/* A step that times out on the reused connection: the server accepted it
 * (in an earlier step), so the detail says it did not answer, not that the
 * connection timed out. */
static void
stall_probe(const struct probe_env *env, json_object *config,
    struct probe_result *res)
{
	struct probe_xfer a;
	long n;
	CURLcode cc;

	(void)config;
	assert_int_equal(get(&a, env, "127.0.0.2", "/1", &n), CURLE_OK);
	probe_xfer_cleanup(&a);
	assert_int_equal(probe_curl(&a, env, "http"), BD_OK);
	curl_easy_setopt(a.h, CURLOPT_TIMEOUT_MS, 300L);
	curl_easy_setopt(a.h, CURLOPT_URL, "http://127.0.0.2/stall");
	curl_easy_setopt(a.h, CURLOPT_PORT, (long)srv.port);
	cc = curl_easy_perform(a.h);
	assert_int_equal(cc, CURLE_OPERATION_TIMEDOUT);
	curl_easy_getinfo(a.h, CURLINFO_NUM_CONNECTS, &n);
	assert_int_equal(n, 0);
	probe_fail_curl(res, &a, cc, CHECK_READ, "reading the probe object");
	probe_xfer_cleanup(&a);
}

static void
env_init(struct probe_env *env, struct cfg *cfg, struct egress *eg)
{
	char err[128];

	memset(cfg, 0, sizeof(*cfg));
	cfg->probe_connect_timeout = 2;
	cfg->probe_timeout = 5;
	assert_int_equal(egress_init(eg, NULL, "127.0.0.2/32", err,
	    sizeof(err)), BD_OK);
	memset(env, 0, sizeof(*env));
	env->cfg = cfg;
	env->egress = eg;
}

/* One connection per probe; closed when probe_run returns; a second probe
 * never gets the first one's connection; no observed.tls over http. */
static void
test_one_connection_per_probe(void **state)
{
	struct cfg cfg;
	struct egress eg;
	struct probe_env env;
	struct probe_result r;

	(void)state;
	env_init(&env, &cfg, &eg);
	/* A stale pointer the caller left in the env is never used. */
	env.session = (struct probe_session *)&cfg;
	probe_run(steps_probe, &env, NULL, &r);
	assert_true(r.ok);
	assert_null(r.observed);
	assert_int_equal(count(&srv.accepted), 1);
	wait_closed(1);
	probe_result_clear(&r);

	probe_run(steps_probe, &env, NULL, &r);
	assert_true(r.ok);
	assert_int_equal(count(&srv.accepted), 2);
	wait_closed(2);
	probe_result_clear(&r);
	egress_free(&eg);
}

static void
test_stall_on_reused_connection(void **state)
{
	struct cfg cfg;
	struct egress eg;
	struct probe_env env;
	struct probe_result r;
	int base;

	(void)state;
	env_init(&env, &cfg, &eg);
	base = count(&srv.accepted);
	probe_run(stall_probe, &env, NULL, &r);
	assert_false(r.ok);
	assert_int_equal(r.failed, CHECK_CONNECT);
	assert_string_equal(r.checks[0].detail, "the server accepted the "
	    "connection but did not answer in time while reading the probe "
	    "object");
	assert_int_equal(count(&srv.accepted), base + 1);
	probe_result_clear(&r);
	egress_free(&eg);
}

/* Outside probe_run (the OAuth token exchange): no session, every handle
 * its own connection, closed with the handle, as before. */
static void
test_no_session(void **state)
{
	struct cfg cfg;
	struct egress eg;
	struct probe_env env;
	struct probe_xfer x;
	long n;
	int base;

	(void)state;
	env_init(&env, &cfg, &eg);
	base = count(&srv.accepted);
	assert_int_equal(get(&x, &env, "127.0.0.2", "/a", &n), CURLE_OK);
	assert_null(x.session);
	assert_int_equal(n, 1);
	probe_xfer_cleanup(&x);
	assert_int_equal(get(&x, &env, "127.0.0.2", "/b", &n), CURLE_OK);
	assert_int_equal(n, 1);
	probe_xfer_cleanup(&x);
	assert_int_equal(count(&srv.accepted), base + 2);
	wait_closed(base + 2);
	/* The gate as ever. */
	assert_int_equal(get(&x, &env, "127.0.0.1", "/c", &n),
	    CURLE_COULDNT_CONNECT);
	assert_true(x.gate.denied);
	probe_xfer_cleanup(&x);
	egress_free(&eg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_connection_per_probe),
		cmocka_unit_test(test_stall_on_reused_connection),
		cmocka_unit_test(test_no_session),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, server_start, server_stop);
}
