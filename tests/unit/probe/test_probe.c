/*
 * lib/probe.c and lib/probe_local.c: recording checks, the TestResult
 * document, probe names, the policed curl handle (file:// only, no network)
 * and the local probe in a scratch directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
/* CLONE_NEWNS without _GNU_SOURCE (glibc only defines it for GNU). */
#include <linux/sched.h>

#include "bd_limits.h"
#include "clock.h"
#include "probe/probe.h"

/* ------------------------------------------------------ result basics */

static void
fresh(struct probe_result *r)
{
	memset(r, 0, sizeof(*r));
	r->ok = true;
	r->failed = -1;
}

static void
test_check_names(void **state)
{
	static const char *const want[CHECK__MAX] = { "connect", "auth",
		"target", "write", "read", "delete" };
	int i;

	(void)state;
	for (i = 0; i < CHECK__MAX; i++)
		assert_string_equal(probe_check_name((enum probe_check)i),
		    want[i]);
	assert_string_equal(probe_check_name(CHECK__MAX), "unknown");
}

static const char *
str_at(json_object *o, const char *key)
{
	json_object *v;

	assert_true(json_object_object_get_ex(o, key, &v));
	assert_true(json_object_is_type(v, json_type_string));
	return json_object_get_string(v);
}

/* capacity: the counts (null where not reported) and the low-space
 * warnings (min_free_bytes, 10 %). */
static void
test_capacity(void **state)
{
	struct cfg cf;
	struct probe_env env;
	struct probe_result r;
	json_object *o, *c, *v;

	(void)state;
	memset(&cf, 0, sizeof(cf));
	memset(&env, 0, sizeof(env));
	cf.min_free_bytes = 1000;
	env.cfg = &cf;
	fresh(&r);
	probe_capacity(&r, &env, 100000, 40000, 60000);
	assert_int_equal(r.nwarnings, 0);
	o = probe_result_json(&r);
	c = json_object_object_get(o, "capacity");
	assert_true(json_object_is_type(c, json_type_object));
	assert_int_equal(json_object_get_int64(json_object_object_get(c,
	    "totalBytes")), 100000);
	assert_int_equal(json_object_get_int64(json_object_object_get(c,
	    "usedBytes")), 40000);
	assert_int_equal(json_object_get_int64(json_object_object_get(c,
	    "freeBytes")), 60000);
	json_object_put(o);
	/* Under 10 % of total. */
	fresh(&r);
	probe_capacity(&r, &env, 100000, 95000, 5000);
	assert_int_equal(r.nwarnings, 1);
	assert_non_null(strstr(r.warnings[0], "less than 10 %"));
	assert_true(r.ok);
	/* Under min_free_bytes (takes precedence; one warning). */
	fresh(&r);
	probe_capacity(&r, &env, 100000, 99500, 500);
	assert_int_equal(r.nwarnings, 1);
	assert_non_null(strstr(r.warnings[0], "min_free_bytes"));
	/* Only free reported (quota without a total): no 10 % rule. */
	fresh(&r);
	probe_capacity(&r, &env, -1, -1, 5000);
	assert_int_equal(r.nwarnings, 0);
	o = probe_result_json(&r);
	c = json_object_object_get(o, "capacity");
	assert_true(json_object_object_get_ex(c, "totalBytes", &v));
	assert_null(v);
	assert_int_equal(json_object_get_int64(json_object_object_get(c,
	    "freeBytes")), 5000);
	json_object_put(o);
	/* Nothing reported about free: no warning. */
	fresh(&r);
	probe_capacity(&r, &env, 100000, -1, -1);
	assert_int_equal(r.nwarnings, 0);
}

static void
test_result_json(void **state)
{
	struct probe_result r;
	json_object *o, *checks, *c, *w, *v;

	(void)state;
	fresh(&r);
	probe_pass(&r, CHECK_CONNECT, "connected to %s", "nas.lan");
	probe_pass(&r, CHECK_AUTH, NULL);
	r.tested_at_ms = 1795953600123LL; /* fixed clock */
	r.latency_ms = 42;
	o = probe_result_json(&r);
	assert_non_null(o);
	assert_true(json_object_get_boolean(json_object_object_get(o, "ok")));
	assert_string_equal(str_at(o, "testedAt"), "2026-11-29T12:00:00.123Z");
	v = json_object_object_get(o, "latencyMs");
	assert_true(json_object_is_type(v, json_type_int));
	assert_int_equal(json_object_get_int64(v), 42);
	checks = json_object_object_get(o, "checks");
	assert_int_equal(json_object_array_length(checks), 2);
	c = json_object_array_get_idx(checks, 0);
	assert_string_equal(str_at(c, "name"), "connect");
	assert_true(json_object_get_boolean(json_object_object_get(c, "ok")));
	assert_string_equal(str_at(c, "detail"), "connected to nas.lan");
	c = json_object_array_get_idx(checks, 1);
	assert_string_equal(str_at(c, "name"), "auth");
	assert_false(json_object_object_get_ex(c, "detail", NULL));
	/* warnings is always there, even empty. */
	w = json_object_object_get(o, "warnings");
	assert_non_null(w);
	assert_true(json_object_is_type(w, json_type_array));
	assert_int_equal(json_object_array_length(w), 0);
	/* Exactly the contract's members; capacity null when not reported. */
	assert_int_equal(json_object_object_length(o), 6);
	assert_true(json_object_object_get_ex(o, "capacity", &v));
	assert_null(v);
	json_object_put(o);

	probe_warn(&r, "could not delete '%s'", "x");
	probe_fail(&r, CHECK_TARGET, "bucket '%s' does not exist", "b");
	r.tested_at_ms = 0;
	o = probe_result_json(&r);
	assert_false(json_object_get_boolean(json_object_object_get(o, "ok")));
	assert_string_equal(str_at(o, "testedAt"), "1970-01-01T00:00:00.000Z");
	w = json_object_object_get(o, "warnings");
	assert_int_equal(json_object_array_length(w), 1);
	assert_string_equal(json_object_get_string(
	    json_object_array_get_idx(w, 0)), "could not delete 'x'");
	c = json_object_array_get_idx(json_object_object_get(o, "checks"), 2);
	assert_string_equal(str_at(c, "name"), "target");
	assert_false(json_object_get_boolean(json_object_object_get(c, "ok")));
	json_object_put(o);

	r.tested_at_ms = -500; /* before the epoch: still well formed */
	o = probe_result_json(&r);
	assert_string_equal(str_at(o, "testedAt"), "1969-12-31T23:59:59.500Z");
	json_object_put(o);
}

static void
test_fail_stops_ok(void **state)
{
	struct probe_result r;
	int i;

	(void)state;
	fresh(&r);
	probe_pass(&r, CHECK_CONNECT, NULL);
	assert_true(r.ok);
	assert_int_equal(r.failed, -1);
	probe_fail(&r, CHECK_AUTH, "wrong password");
	assert_false(r.ok);
	assert_int_equal(r.failed, CHECK_AUTH);
	/* A later failure does not replace the first; a pass does not heal. */
	probe_fail(&r, CHECK_TARGET, NULL);
	probe_pass(&r, CHECK_WRITE, NULL);
	assert_false(r.ok);
	assert_int_equal(r.failed, CHECK_AUTH);
	assert_int_equal(r.nchecks, 4);
	/* More entries than fit are not listed but still count. */
	for (i = 0; i < 10; i++)
		probe_pass(&r, CHECK_READ, NULL);
	assert_int_equal(r.nchecks, CHECK__MAX);
	for (i = 0; i < 10; i++)
		probe_warn(&r, "w%d", i);
	assert_int_equal(r.nwarnings, PROBE_WARN_MAX);
}

static void
test_detail_truncation(void **state)
{
	struct probe_result r;
	char big[3 * PROBE_DETAIL_MAX];
	size_t i, len;

	(void)state;
	fresh(&r);
	for (i = 0; i + 3 < sizeof(big); i += 3)
		memcpy(big + i, "\xe2\x82\xac", 3);
	big[i] = '\0';
	probe_fail(&r, CHECK_TARGET, "x%s", big);
	len = strlen(r.checks[0].detail);
	assert_true(len < PROBE_DETAIL_MAX);
	assert_int_equal((len - 1) % 3, 0); /* no half character */
	probe_warn(&r, "%s", big);
	assert_int_equal(strlen(r.warnings[0]) % 3, 0);
}

static void
fake_probe(const struct probe_env *env, json_object *config,
    struct probe_result *res)
{
	(void)env;
	(void)config;
	probe_pass(res, CHECK_CONNECT, "fake");
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long seen_deadline;

static void
deadline_probe(const struct probe_env *env, json_object *config,
    struct probe_result *res)
{
	(void)config;
	(void)res;
	seen_deadline = env->deadline_ms;
}

/* probe_run gives the whole probe probe_timeout: the env the probe sees
 * carries a deadline that far ahead, and the caller's env is untouched. */
static void
test_probe_deadline(void **state)
{
	struct cfg cfg;
	struct probe_env env;
	struct probe_result r;
	struct timespec now;
	long long t;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.probe_timeout = 7;
	memset(&env, 0, sizeof(env));
	env.cfg = &cfg;
	clock_gettime(CLOCK_MONOTONIC, &now);
	t = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	probe_run(deadline_probe, &env, NULL, &r);
	assert_true(seen_deadline >= t + 7000 && seen_deadline <= t + 7000 + 500);
	assert_int_equal(env.deadline_ms, 0);
	/* A deadline set by the caller is kept. */
	env.deadline_ms = 42;
	probe_run(deadline_probe, &env, NULL, &r);
	assert_int_equal(seen_deadline, 42);
	probe_result_clear(&r);
}

/* Every transfer's time: probe_timeout, cut to what is left of the one
 * deadline; nothing (<= 0) once it has passed. */
static void
test_ms_left(void **state)
{
	struct cfg cfg;
	struct probe_env env;
	long long now = clock_mono_ms();
	long left;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	memset(&env, 0, sizeof(env));
	assert_int_equal(probe_ms_left(NULL), LIM_PROBE_TIMEOUT_DEFAULT * 1000);
	assert_int_equal(probe_ms_left(&env), LIM_PROBE_TIMEOUT_DEFAULT * 1000);
	env.cfg = &cfg;
	cfg.probe_timeout = 7;
	assert_int_equal(probe_ms_left(&env), 7000);
	/* a deadline further than probe_timeout does not lengthen it */
	env.deadline_ms = now + 60000;
	assert_int_equal(probe_ms_left(&env), 7000);
	env.deadline_ms = now + 3000;
	left = probe_ms_left(&env);
	assert_true(left <= 3000 && left > 2500);
	env.deadline_ms = now - 10;
	assert_true(probe_ms_left(&env) <= 0);
	env.deadline_ms = 1;
	assert_true(probe_ms_left(&env) <= 0);
}

static void
test_probe_run(void **state)
{
	struct probe_result r;
	int64_t before, after;

	(void)state;
	memset(&r, 0x5a, sizeof(r)); /* garbage: probe_run zeroes it */
	before = now_ms();
	probe_run(fake_probe, NULL, NULL, &r);
	after = now_ms();
	assert_true(r.ok);
	assert_int_equal(r.failed, -1);
	assert_int_equal(r.nchecks, 1);
	assert_int_equal(r.nwarnings, 0);
	assert_null(r.config_update);
	assert_true(r.tested_at_ms >= before && r.tested_at_ms <= after);
	assert_true(r.latency_ms >= 0 && r.latency_ms <= after - before + 1);
	probe_result_clear(&r);

	probe_run(NULL, NULL, NULL, &r);
	assert_false(r.ok);
	assert_int_equal(r.failed, CHECK_CONNECT);
	r.config_update = json_object_new_object();
	probe_result_clear(&r);
	assert_null(r.config_update);
	probe_result_clear(&r);
}

static void
test_object_name(void **state)
{
	char a[32], b[32];
	size_t i;

	(void)state;
	probe_object_name(a);
	probe_object_name(b);
	assert_int_equal(strlen(a), 31);
	assert_memory_equal(a, ".backupd-probe-", 15);
	for (i = 15; i < 31; i++)
		assert_non_null(strchr("0123456789abcdef", a[i]));
	assert_string_not_equal(a, b);
}

/* ------------------------------------- a denied address, then another */

/* A port on 127.0.0.2 that refuses connections: bound, never listening.
 * The socket stays open (fd) so no one else takes the port. */
static int
refusing_port(int *fd)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(0x7f000002);
	*fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(*fd >= 0);
	assert_int_equal(bind(*fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(*fd, (struct sockaddr *)&a, &alen), 0);
	return ntohs(a.sin_port);
}

/*
 * Issue 13 item 8: a name resolving to a denied address (::1) and then to
 * an allowed one (127.0.0.2) where nothing listens fails because nothing
 * listens, not because of the policy; and a later transfer on the same
 * handle starts with a clean gate. Only loopback is touched, and the denied
 * address never sees a packet (the gate refuses before a socket exists).
 */
static void
test_denied_then_refused(void **state)
{
	struct cfg cfg;
	struct egress eg;
	struct probe_env env = { .cfg = &cfg, .egress = &eg };
	struct probe_xfer x;
	struct probe_result r;
	struct curl_slist *resolve = NULL;
	char err[128], url[96], entry[96];
	int fd, port;
	CURLcode cc;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.probe_connect_timeout = 2;
	cfg.probe_timeout = 4;
	assert_int_equal(egress_init(&eg, "::1/128", "127.0.0.2/32", err,
	    sizeof(err)), BD_OK);
	port = refusing_port(&fd);
	snprintf(entry, sizeof(entry), "probe.test:%d:[::1],127.0.0.2", port);
	snprintf(url, sizeof(url), "http://probe.test:%d/", port);
	assert_non_null(resolve = curl_slist_append(NULL, entry));

	assert_int_equal(probe_curl(&x, &env, "http"), BD_OK);
	curl_easy_setopt(x.h, CURLOPT_RESOLVE, resolve);
	curl_easy_setopt(x.h, CURLOPT_URL, url);
	cc = curl_easy_perform(x.h);
	assert_int_equal(cc, CURLE_COULDNT_CONNECT);
	fresh(&r);
	assert_int_equal(probe_fail_curl(&r, &x, cc, CHECK_TARGET, "listing"),
	    CHECK_CONNECT);
	assert_non_null(strstr(r.checks[0].detail, "nothing accepts"));
	assert_null(strstr(r.checks[0].detail, "egress"));
	probe_xfer_cleanup(&x);

	/* Only the denied address: the policy is the reason. */
	curl_slist_free_all(resolve);
	snprintf(entry, sizeof(entry), "probe.test:%d:[::1]", port);
	assert_non_null(resolve = curl_slist_append(NULL, entry));
	assert_int_equal(probe_curl(&x, &env, "http"), BD_OK);
	curl_easy_setopt(x.h, CURLOPT_RESOLVE, resolve);
	curl_easy_setopt(x.h, CURLOPT_URL, url);
	cc = curl_easy_perform(x.h);
	assert_int_not_equal(cc, CURLE_OK);
	assert_true(x.gate.denied);
	fresh(&r);
	probe_fail_curl(&r, &x, cc, CHECK_TARGET, "listing");
	assert_non_null(strstr(r.checks[0].detail, "egress policy"));
	/* The same handle, the next transfer to an allowed address: the
	 * earlier refusal does not colour its failure. */
	snprintf(url, sizeof(url), "http://127.0.0.2:%d/", port);
	curl_easy_setopt(x.h, CURLOPT_URL, url);
	cc = curl_easy_perform(x.h);
	assert_int_equal(cc, CURLE_COULDNT_CONNECT);
	assert_false(x.gate.denied);
	probe_xfer_cleanup(&x);

	curl_slist_free_all(resolve);
	close(fd);
	egress_free(&eg);
}

/* ------------------------------------------------ probe_curl (file://) */

static int
write_file(const char *path, size_t len)
{
	FILE *f = fopen(path, "w");
	size_t i;

	if (f == NULL)
		return -1;
	for (i = 0; i < len; i++)
		fputc('a' + (int)(i % 26), f);
	return fclose(f);
}

static void
test_curl(void **state)
{
	struct cfg cfg;
	struct egress eg;
	struct probe_env env = { .cfg = &cfg, .egress = &eg };
	struct probe_xfer x;
	char dir[] = "/tmp/bd-curl.XXXXXX", small[128], big[128], url[160];
	CURLcode cc;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	memset(&eg, 0, sizeof(eg));
	cfg.probe_connect_timeout = 2;
	cfg.probe_timeout = 5;
	assert_non_null(mkdtemp(dir));
	snprintf(small, sizeof(small), "%s/small", dir);
	snprintf(big, sizeof(big), "%s/big", dir);
	assert_int_equal(write_file(small, 100), 0);
	assert_int_equal(write_file(big, LIM_PROBE_MAX_RESPONSE + 5000), 0);

	assert_int_equal(probe_curl(&x, &env, "file"), BD_OK);
	assert_non_null(x.body);
	assert_string_equal(x.body, "");
	snprintf(url, sizeof(url), "file://%s", small);
	curl_easy_setopt(x.h, CURLOPT_URL, url);
	assert_int_equal(curl_easy_perform(x.h), CURLE_OK);
	assert_int_equal(x.len, 100);
	assert_int_equal(strlen(x.body), 100);
	assert_false(x.truncated);
	assert_false(x.gate.denied);
	assert_ptr_equal(x.gate.policy, &eg);
	probe_xfer_cleanup(&x);
	assert_null(x.h);
	assert_null(x.body);
	probe_xfer_cleanup(&x); /* twice is fine */

	/* Past the cap: what fits is kept, the transfer aborts. */
	assert_int_equal(probe_curl(&x, &env, "file"), BD_OK);
	snprintf(url, sizeof(url), "file://%s", big);
	curl_easy_setopt(x.h, CURLOPT_URL, url);
	cc = curl_easy_perform(x.h);
	assert_int_equal(cc, CURLE_WRITE_ERROR);
	assert_true(x.truncated);
	assert_int_equal(x.len, LIM_PROBE_MAX_RESPONSE);
	probe_xfer_cleanup(&x);

	/* A protocol not in the list is refused, and a CA file is accepted. */
	cfg.ca_file = "/nonexistent/ca.pem";
	assert_int_equal(probe_curl(&x, &env, "https"), BD_OK);
	snprintf(url, sizeof(url), "file://%s", small);
	curl_easy_setopt(x.h, CURLOPT_URL, url);
	assert_int_equal(curl_easy_perform(x.h), CURLE_UNSUPPORTED_PROTOCOL);
	assert_true(x.errbuf[0] != '\0');
	probe_xfer_cleanup(&x);

	/* Never unpoliced. */
	env.egress = NULL;
	assert_int_equal(probe_curl(&x, &env, "https"), BD_ERR_INTERNAL);
	probe_xfer_cleanup(&x);

	unlink(small);
	unlink(big);
	rmdir(dir);
}

/* --------------------------------------------------------- local probe */

static char base[64];       /* /tmp/bd-local.XXXXXX */
static char p_root[128], p_root2[128], p_out[128], p_sub[128], p_file[128],
    p_escape[128], p_inner[128], p_ro[128], p_rootlink[128];

static int
setup_tree(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "/tmp/bd-local.XXXXXX");
	if (mkdtemp(base) == NULL)
		return -1;
	snprintf(p_root, sizeof(p_root), "%s/root", base);
	snprintf(p_root2, sizeof(p_root2), "%s/root2", base);
	snprintf(p_out, sizeof(p_out), "%s/outside", base);
	snprintf(p_sub, sizeof(p_sub), "%s/root/sub", base);
	snprintf(p_file, sizeof(p_file), "%s/root/file", base);
	snprintf(p_escape, sizeof(p_escape), "%s/root/escape", base);
	snprintf(p_inner, sizeof(p_inner), "%s/root/inner", base);
	snprintf(p_ro, sizeof(p_ro), "%s/root/ro", base);
	snprintf(p_rootlink, sizeof(p_rootlink), "%s/rootlink", base);
	if (mkdir(p_root, 0700) || mkdir(p_root2, 0700) ||
	    mkdir(p_out, 0700) || mkdir(p_sub, 0700) || mkdir(p_ro, 0700) ||
	    write_file(p_file, 10) || symlink("../outside", p_escape) ||
	    symlink("sub", p_inner) || symlink("root", p_rootlink))
		return -1;
	return 0;
}

static int
teardown_tree(void **state)
{
	char cmd[128];

	(void)state;
	chmod(p_ro, 0700);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

/* Files in dir (probe files must not be left behind). */
static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
run_local(const char *roots, const char *path, struct probe_result *r)
{
	static struct cfg cfg;
	struct probe_env env = { .cfg = &cfg, .egress = NULL };
	json_object *config = json_object_new_object();

	memset(&cfg, 0, sizeof(cfg));
	cfg.local_roots = (char *)roots;
	if (path != NULL)
		json_object_object_add(config, "path",
		    json_object_new_string(path));
	probe_run(probe_local, &env, config, r);
	json_object_put(config);
}

static void
expect_success(const char *roots, const char *path, const char *dir)
{
	static const enum probe_check order[] = { CHECK_TARGET, CHECK_WRITE,
		CHECK_READ, CHECK_DELETE };
	struct probe_result r;
	int i, before = count_entries(dir);

	run_local(roots, path, &r);
	if (!r.ok) {
		print_message("%s under %s: %s failed: %s\n", path, roots,
		    probe_check_name((enum probe_check)r.failed),
		    r.checks[r.nchecks - 1].detail);
		fail();
	}
	assert_int_equal(r.failed, -1);
	assert_int_equal(r.nchecks, 4);
	for (i = 0; i < 4; i++) {
		assert_int_equal(r.checks[i].check, order[i]);
		assert_true(r.checks[i].ok);
		assert_true(r.checks[i].detail[0] != '\0');
	}
	assert_int_equal(r.nwarnings, 0);
	assert_int_equal(count_entries(dir), before);
	probe_result_clear(&r);
}

static void
test_local_success(void **state)
{
	char roots[512], path[256];

	(void)state;
	expect_success(p_root, p_sub, p_sub);
	expect_success(p_root, p_root, p_root);
	/* A symlink that stays inside the root is fine. */
	expect_success(p_root, p_inner, p_sub);
	/* Several roots, with blanks and empty items; a missing root is
	 * skipped. */
	snprintf(roots, sizeof(roots), " /nonexistent/x ,, %s/ , %s ", p_root2,
	    p_root);
	expect_success(roots, p_sub, p_sub);
	/* Redundant separators and dots in the path. */
	snprintf(path, sizeof(path), "%s//./sub/", p_root);
	expect_success(p_root, path, p_sub);
	/* A root configured through a symlink admits both spellings. */
	expect_success(p_rootlink, p_sub, p_sub);
	snprintf(path, sizeof(path), "%s/sub", p_rootlink);
	expect_success(p_rootlink, path, p_sub);
	/* "/" as a root admits everything. */
	expect_success("/", p_out, p_out);
}

struct local_bad {
	const char *desc;
	const char *roots;  /* "@" = the scratch root */
	const char *path;   /* relative to base unless absolute-looking */
	const char *detail; /* a substring of the target detail */
};

static const struct local_bad local_bad[] = {
	{ "outside", "@", "outside", "outside the allowed local roots" },
	{ "prefix trick", "@", "root2", "outside the allowed local roots" },
	{ "prefix trick file", "@", "root2/x", "outside the allowed local roots" },
	{ "dot-dot escape", "@", "root/../outside",
	    "outside the allowed local roots" },
	{ "dot-dot escape to base", "@", "root/sub/../..",
	    "outside the allowed local roots" },
	{ "symlink escape", "@", "root/escape",
	    "path resolves outside the allowed local roots" },
	{ "symlink escape below", "@", "root/escape/.",
	    "path resolves outside the allowed local roots" },
	{ "missing", "@", "root/nope", "does not exist" },
	{ "missing parent", "@", "root/nope/deeper", "does not exist" },
	{ "not a directory", "@", "root/file", "is not a directory" },
	{ "below a file", "@", "root/file/x", "is not a directory" },
	{ "no roots", "", "root", "not enabled" },
	{ "no roots, blanks", " , ", "root", "not enabled" },
	{ "no roots, NULL", NULL, "root", "not enabled" },
	{ "relative path", "@", "=root/sub", "must be absolute" },
	{ "no path", "@", NULL, "no path" },
	/* Nothing outside the roots is looked at: a missing directory there
	 * says "outside", not "does not exist". */
	{ "missing outside", "@", "nope", "outside the allowed local roots" },
};

static void
test_local_failures(void **state)
{
	struct probe_result r;
	char path[256];
	const char *roots, *p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(local_bad) / sizeof(local_bad[0]); i++) {
		roots = local_bad[i].roots;
		if (roots != NULL && strcmp(roots, "@") == 0)
			roots = p_root;
		p = local_bad[i].path;
		if (p != NULL && p[0] == '=')
			p++;
		else if (p != NULL) {
			snprintf(path, sizeof(path), "%s/%s", base, p);
			p = path;
		}
		run_local(roots, p, &r);
		if (r.ok || r.failed != CHECK_TARGET || r.nchecks != 1 ||
		    strstr(r.checks[0].detail, local_bad[i].detail) == NULL) {
			print_message("%s: ok=%d failed=%d n=%d detail='%s'\n",
			    local_bad[i].desc, r.ok, r.failed, r.nchecks,
			    r.nchecks > 0 ? r.checks[0].detail : "");
			fail();
		}
		assert_int_equal(r.checks[0].check, CHECK_TARGET);
		assert_false(r.checks[0].ok);
		/* The resolved path of a symlink is not revealed. */
		assert_null(strstr(r.checks[0].detail, p_out));
		probe_result_clear(&r);
	}
	assert_int_equal(count_entries(p_out), 0);
}

/* What a probe of a directory it cannot write in must answer: NULL when
 * right, else what is wrong (a plain function: it also runs in a child,
 * where cmocka's asserts cannot be used). */
static const char *
readonly_wrong(const struct probe_result *r)
{
	if (r->ok)
		return "the probe passed";
	if (r->failed != CHECK_WRITE)
		return "the probe did not fail its write check";
	if (r->nchecks != 2 || !r->checks[0].ok)
		return "not exactly target (passed) then write (failed)";
	if (strstr(r->checks[1].detail, "no permission to write in") == NULL)
		return "the write detail does not say why";
	if (count_entries(p_ro) != 0)
		return "something was created in the directory";
	return NULL;
}

/*
 * Root writes through permission bits, so for root the directory is made
 * read-only the way root cannot write through either: a read-only bind
 * mount of it onto itself, in a child with a mount namespace of its own
 * (nothing outside the child sees the mount, and it goes with the child).
 * Both users run the test; a root that cannot make the mount fails it,
 * saying why, rather than skip it.
 */
static void
test_local_readonly(void **state)
{
	struct probe_result r;
	const char *wrong;
	int status;
	pid_t kid;

	(void)state;
	if (geteuid() != 0) {
		assert_int_equal(chmod(p_ro, 0555), 0);
		run_local(p_root, p_ro, &r);
		chmod(p_ro, 0700);
		wrong = readonly_wrong(&r);
		if (wrong != NULL)
			fail_msg("read-only directory: %s", wrong);
		probe_result_clear(&r);
		return;
	}
	fflush(NULL);
	kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		if (syscall(SYS_unshare, CLONE_NEWNS) != 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
		    mount(p_ro, p_ro, NULL, MS_BIND, NULL) != 0 ||
		    mount(NULL, p_ro, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY,
		    NULL) != 0) {
			fprintf(stderr, "read-only bind mount of %s: %s\n", p_ro,
			    strerror(errno));
			_exit(2);
		}
		run_local(p_root, p_ro, &r);
		wrong = readonly_wrong(&r);
		if (wrong != NULL) {
			fprintf(stderr, "read-only directory (root): %s\n",
			    wrong);
			_exit(1);
		}
		probe_result_clear(&r);
		_exit(0);
	}
	assert_int_equal(waitpid(kid, &status, 0), kid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the read-only check as root failed (status %d, see "
		    "stderr)", status);
	/* The mount was the child's only: the directory is writable again. */
	assert_int_equal(access(p_ro, W_OK), 0);
}

/* The whole TestResult of a local probe, as the handler will send it. */
static void
test_local_json(void **state)
{
	struct probe_result r;
	json_object *o, *checks;
	const char *ts;
	int i;

	(void)state;
	run_local(p_root, p_sub, &r);
	o = probe_result_json(&r);
	assert_true(json_object_get_boolean(json_object_object_get(o, "ok")));
	ts = json_object_get_string(json_object_object_get(o, "testedAt"));
	assert_int_equal(strlen(ts), 24);
	assert_true(ts[4] == '-' && ts[10] == 'T' && ts[19] == '.' &&
	    ts[23] == 'Z');
	checks = json_object_object_get(o, "checks");
	assert_int_equal(json_object_array_length(checks), 4);
	for (i = 0; i < 4; i++)
		assert_true(json_object_get_boolean(json_object_object_get(
		    json_object_array_get_idx(checks, (size_t)i), "ok")));
	json_object_put(o);
	probe_result_clear(&r);
}

/* renameat2(2) flag (linux/fs.h), without _GNU_SOURCE. */
#define X_RENAME_EXCHANGE (1 << 1)

/*
 * An intermediate directory swapped for a symlink to outside the root
 * between the probe's checks and its open (the child swaps "root/mid", a
 * directory, with "root/alt", a symlink to "race_out", as fast as it can):
 * every probe either works inside the root or fails its target check; no
 * probe file is ever created outside (inotify watches race_out/t).
 */
static void
test_local_swap_race(void **state)
{
	char mid[160], alt[160], t_in[192], out[160], t_out[192], path[192];
	char evbuf[4096];
	struct probe_result r;
	struct timespec t0, now;
	int ino, wd, i, passed = 0, refused = 0, created = 0;
	ssize_t n;
	pid_t kid;

	(void)state;
	snprintf(mid, sizeof(mid), "%s/mid", p_root);
	snprintf(alt, sizeof(alt), "%s/alt", p_root);
	snprintf(t_in, sizeof(t_in), "%s/t", mid);
	snprintf(out, sizeof(out), "%s/race_out", base);
	snprintf(t_out, sizeof(t_out), "%s/t", out);
	snprintf(path, sizeof(path), "%s/mid/t", p_root);
	assert_int_equal(mkdir(mid, 0700), 0);
	assert_int_equal(mkdir(t_in, 0700), 0);
	assert_int_equal(mkdir(out, 0700), 0);
	assert_int_equal(mkdir(t_out, 0700), 0);
	assert_int_equal(symlink("../race_out", alt), 0);
	if (syscall(SYS_renameat2, AT_FDCWD, mid, AT_FDCWD, alt,
	    X_RENAME_EXCHANGE) != 0 ||
	    syscall(SYS_renameat2, AT_FDCWD, mid, AT_FDCWD, alt,
	    X_RENAME_EXCHANGE) != 0)
		skip(); /* no RENAME_EXCHANGE on this file system */
	ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	assert_true(ino >= 0);
	wd = inotify_add_watch(ino, t_out, IN_CREATE | IN_MOVED_TO);
	assert_true(wd >= 0);

	kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		for (;;)
			(void)syscall(SYS_renameat2, AT_FDCWD, mid, AT_FDCWD,
			    alt, X_RENAME_EXCHANGE);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 20000; i++) {
		run_local(p_root, path, &r);
		if (r.ok)
			passed++;
		else if (r.failed == CHECK_TARGET)
			refused++;
		probe_result_clear(&r);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= 2)
			break;
	}
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	while ((n = read(ino, evbuf, sizeof(evbuf))) > 0)
		created++;
	close(ino);
	print_message("swap race: %d probes passed, %d refused\n", passed,
	    refused);
	assert_int_equal(created, 0);
	assert_int_equal(count_entries(t_out), 0);
	assert_int_equal(count_entries(t_in), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_names),
		cmocka_unit_test(test_probe_deadline),
		cmocka_unit_test(test_ms_left),
		cmocka_unit_test(test_denied_then_refused),
		cmocka_unit_test(test_result_json),
		cmocka_unit_test(test_capacity),
		cmocka_unit_test(test_fail_stops_ok),
		cmocka_unit_test(test_detail_truncation),
		cmocka_unit_test(test_probe_run),
		cmocka_unit_test(test_object_name),
		cmocka_unit_test(test_curl),
		cmocka_unit_test_setup_teardown(test_local_success, setup_tree,
		    teardown_tree),
		cmocka_unit_test_setup_teardown(test_local_failures, setup_tree,
		    teardown_tree),
		cmocka_unit_test_setup_teardown(test_local_readonly, setup_tree,
		    teardown_tree),
		cmocka_unit_test_setup_teardown(test_local_json, setup_tree,
		    teardown_tree),
		cmocka_unit_test_setup_teardown(test_local_swap_race,
		    setup_tree, teardown_tree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
