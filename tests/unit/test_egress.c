/* Unit tests for lib/egress.c: CIDR parsing, default policy, allow/deny. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "egress.h"

/* Fill ss from an address literal; fails the test on a bad literal. */
static const struct sockaddr *
sa_of(const char *addr, struct sockaddr_storage *ss)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (strchr(addr, ':') != NULL) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(443);
		assert_int_equal(inet_pton(AF_INET6, addr, &in6->sin6_addr), 1);
	} else {
		in->sin_family = AF_INET;
		in->sin_port = htons(443);
		assert_int_equal(inet_pton(AF_INET, addr, &in->sin_addr), 1);
	}
	return (const struct sockaddr *)ss;
}

struct verdict {
	const char *addr;
	bool permitted;
};

static void
check_verdicts(const struct egress *e, const struct verdict *v, size_t n)
{
	struct sockaddr_storage ss;
	size_t i;

	for (i = 0; i < n; i++) {
		bool got = egress_permits(e, sa_of(v[i].addr, &ss));

		if (got != v[i].permitted)
			fail_msg("%s: expected %s", v[i].addr,
			    v[i].permitted ? "permitted" : "denied");
	}
}

static void
test_default_policy(void **state)
{
	static const struct verdict cases[] = {
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"169.254.169.254", false},
		{"100.64.0.1", false},
		{"100.127.255.255", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"240.0.0.1", false},
		{"255.255.255.255", false},
		{"192.0.0.8", false},
		{"::1", false},
		{"::", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::ffff:0.0.0.0", false},
		{"::127.0.0.1", false},
		{"fe80::1", false},
		{"febf:ffff::1", false},
		{"ff02::1", false},
		{"64:ff9b::7f00:1", false},
		{"64:ff9b:1::a9fe:a9fe", false},
		{"2002:7f00:1::1", false},
		{"2002:a9fe:a9fe::1", false},
		{"100::1", false},
		{"::ffff:0:7f00:1", false},
		{"::ffff:0:a9fe:a9fe", false},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", false},
		{"2001::1", false},
		{"fec0::1", false},
		{"feff:ffff::1", false},
		/* Issue 13: metadata endpoints outside 169.254.0.0/16. */
		{"fd00:ec2::254", false},
		{"fd00:ec2::23", false},
		{"fd00:ec2::123", false},
		{"fd00:ec2:0:0:ffff:ffff:ffff:ffff", false},
		{"fd20:ce::254", false},
		{"168.63.129.16", false},
		{"::ffff:168.63.129.16", false},
		{"fd00:ec2:0:1::254", true},
		{"fd20:ce::253", true},
		{"168.63.129.17", true},
		{"10.0.0.1", true},
		{"172.16.0.1", true},
		{"172.31.255.255", true},
		{"192.168.1.1", true},
		{"8.8.8.8", true},
		{"100.63.255.255", true},
		{"100.128.0.0", true},
		{"126.255.255.255", true},
		{"128.0.0.0", true},
		{"169.253.255.255", true},
		{"223.255.255.255", true},
		{"192.0.1.1", true},
		{"2001:4860::8888", true},
		{"2001:4860:4860::8844", true},
		{"fc00::1", true},
		{"fd12:3456::1", true},
		{"2001:1::1", true},
		{"2001:db7:ffff::1", true},
		{"::fffe:0:7f00:1", true},
		{"::ffff:8.8.8.8", true},
		{"::ffff:10.0.0.1", true},
		{"64:ff9b:2::1", true},
		{"100:0:0:1::1", true},
	};
	struct egress e;
	char err[128];

	assert_int_equal(egress_init(&e, NULL, NULL, err, sizeof(err)), BD_OK);
	check_verdicts(&e, cases, sizeof(cases) / sizeof(cases[0]));
	egress_free(&e);

	/* Blank deny is the default list too. */
	assert_int_equal(egress_init(&e, "  ", "", err, sizeof(err)), BD_OK);
	check_verdicts(&e, cases, sizeof(cases) / sizeof(cases[0]));
	egress_free(&e);
}

static void
test_allow_wins(void **state)
{
	static const struct verdict cases[] = {
		{"127.0.0.1", true},
		{"127.1.2.3", true},
		{"::ffff:127.0.0.1", true},
		{"::1", false},
		{"169.254.169.254", false},
		{"8.8.8.8", true},
	};
	struct egress e;
	char err[128];

	assert_int_equal(egress_init(&e, NULL, "127.0.0.0/8", err,
	    sizeof(err)), BD_OK);
	check_verdicts(&e, cases, sizeof(cases) / sizeof(cases[0]));
	egress_free(&e);
}

/* A configured deny list adds to the defaults; it does not replace them. */
static void
test_deny_adds_to_defaults(void **state)
{
	static const struct verdict cases[] = {
		{"10.0.0.1", false},
		{"192.168.1.1", false},
		{"fd00::1", false},
		{"127.0.0.1", false},
		{"169.254.169.254", false},
		{"172.16.0.1", true},
		{"8.8.8.8", true},
	};
	static const struct verdict lifted[] = {
		{"10.0.0.1", true},
		{"10.0.0.2", false},
		{"169.254.169.254", true},
		{"169.254.169.253", false},
	};
	struct egress e;
	char err[128];

	assert_int_equal(egress_init(&e, "10.0.0.0/8, 192.168.0.0/16,fc00::/7",
	    NULL, err, sizeof(err)), BD_OK);
	check_verdicts(&e, cases, sizeof(cases) / sizeof(cases[0]));
	egress_free(&e);

	assert_int_equal(egress_init(&e, "10.0.0.0/8",
	    "10.0.0.1, 169.254.169.254/32", err, sizeof(err)), BD_OK);
	check_verdicts(&e, lifted, sizeof(lifted) / sizeof(lifted[0]));
	egress_free(&e);
}

static void
test_init_errors(void **state)
{
	struct egress e;
	char err[128];

	assert_int_equal(egress_init(&e, "10.0.0.0/8, bogus", NULL, err,
	    sizeof(err)), BD_ERR_CONFIG);
	assert_string_equal(err, "invalid CIDR 'bogus'");
	assert_null(e.deny);
	assert_null(e.allow);
	assert_int_equal(egress_init(&e, NULL, "1.2.3.4/40", err,
	    sizeof(err)), BD_ERR_CONFIG);
	assert_string_equal(err, "invalid CIDR '1.2.3.4/40'");
	egress_free(&e);
}

static void
test_parse(void **state)
{
	static const struct {
		const char *list;
		enum bd_err rc;
		size_t n;
		const char *err;
	} cases[] = {
		{NULL, BD_OK, 0, NULL},
		{"", BD_OK, 0, NULL},
		{" \t ", BD_OK, 0, NULL},
		{"1.2.3.4", BD_OK, 1, NULL},
		{" 10.0.0.0/8 ,\t::1 ", BD_OK, 2, NULL},
		{"0.0.0.0/0,::/0", BD_OK, 2, NULL},
		{"1.2.3.4/32,::1/128", BD_OK, 2, NULL},
		{"1.2.3.4/33", BD_ERR_CONFIG, 0, "invalid CIDR '1.2.3.4/33'"},
		{"::1/129", BD_ERR_CONFIG, 0, "invalid CIDR '::1/129'"},
		{"abc", BD_ERR_CONFIG, 0, "invalid CIDR 'abc'"},
		{"0177.0.0.1", BD_ERR_CONFIG, 0, "invalid CIDR '0177.0.0.1'"},
		{"2130706433", BD_ERR_CONFIG, 0, "invalid CIDR '2130706433'"},
		{"127.1", BD_ERR_CONFIG, 0, "invalid CIDR '127.1'"},
		{"0x7f.0.0.1", BD_ERR_CONFIG, 0, "invalid CIDR '0x7f.0.0.1'"},
		{"1.2.3.4/", BD_ERR_CONFIG, 0, "invalid CIDR '1.2.3.4/'"},
		{"1.2.3.4/+8", BD_ERR_CONFIG, 0, "invalid CIDR '1.2.3.4/+8'"},
		{"1.2.3.4/-1", BD_ERR_CONFIG, 0, "invalid CIDR '1.2.3.4/-1'"},
		{"1.2.3.4/ 8", BD_ERR_CONFIG, 0, "invalid CIDR '1.2.3.4/ 8'"},
		{"1.2.3.4/0008", BD_ERR_CONFIG, 0, "invalid CIDR '1.2.3.4/0008'"},
		{"1.2.3.4/8/8", BD_ERR_CONFIG, 0, "invalid CIDR '1.2.3.4/8/8'"},
		{"fe80::1%eth0", BD_ERR_CONFIG, 0, "invalid CIDR 'fe80::1%eth0'"},
		{"1.2.3.4 5.6.7.8", BD_ERR_CONFIG, 0,
		    "invalid CIDR '1.2.3.4 5.6.7.8'"},
		{"10.0.0.0/8,,1.2.3.4", BD_ERR_CONFIG, 0,
		    "empty item in CIDR list"},
		{"10.0.0.0/8,", BD_ERR_CONFIG, 0, "empty item in CIDR list"},
		{"a\x01", BD_ERR_CONFIG, 0, "invalid CIDR 'a?'"},
		/* Mapped addresses are matched as IPv4: a mapped prefix
		 * shorter than /96 could never match. */
		{"::ffff:10.0.0.0/95", BD_ERR_CONFIG, 0, "invalid CIDR "
		    "'::ffff:10.0.0.0/95': an IPv4-mapped prefix must be /96 "
		    "or longer"},
		{"::ffff:0:0/80", BD_ERR_CONFIG, 0, "invalid CIDR "
		    "'::ffff:0:0/80': an IPv4-mapped prefix must be /96 or "
		    "longer"},
		{"::ffff:10.0.0.0/96", BD_OK, 1, NULL},
		{"::ffff:10.0.0.0/104", BD_OK, 1, NULL},
		{"::ffff:0:0:0/96", BD_OK, 1, NULL},
	};
	struct cidr *v;
	char err[128];
	size_t i, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		v = (struct cidr *)&err; /* must be reset to NULL */
		n = 99;
		if (egress_parse(cases[i].list, &v, &n, err, sizeof(err)) !=
		    cases[i].rc)
			fail_msg("case %zu: '%s'", i, cases[i].list);
		assert_int_equal(n, cases[i].n);
		if (cases[i].n == 0)
			assert_null(v);
		if (cases[i].err != NULL)
			assert_string_equal(err, cases[i].err);
		free(v);
	}
}

static void
test_parse_normalises(void **state)
{
	struct cidr *v = NULL;
	size_t n = 0;
	char err[128];
	static const unsigned char ten[4] = {10, 0, 0, 0};
	static const unsigned char lo[4] = {127, 0, 0, 0};

	/* Host bits beyond the prefix are cleared. */
	assert_int_equal(egress_parse("10.1.2.3/8", &v, &n, err, sizeof(err)),
	    BD_OK);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].family, AF_INET);
	assert_int_equal(v[0].prefix, 8);
	assert_memory_equal(v[0].addr, ten, 4);
	free(v);

	/* An IPv4-mapped CIDR is stored as the IPv4 CIDR it denotes. */
	assert_int_equal(egress_parse("::ffff:127.0.0.1/104", &v, &n, err,
	    sizeof(err)), BD_OK);
	assert_int_equal(v[0].family, AF_INET);
	assert_int_equal(v[0].prefix, 8);
	assert_memory_equal(v[0].addr, lo, 4);
	free(v);

	/* A bare address is a host route. */
	assert_int_equal(egress_parse("::1", &v, &n, err, sizeof(err)), BD_OK);
	assert_int_equal(v[0].family, AF_INET6);
	assert_int_equal(v[0].prefix, 128);
	free(v);
}

/* Policy with exactly these deny/allow lists, no defaults. */
static void
make_policy(struct egress *e, const char *deny, const char *allow)
{
	char err[128];

	memset(e, 0, sizeof(*e));
	assert_int_equal(egress_parse(deny, &e->deny, &e->ndeny, err,
	    sizeof(err)), BD_OK);
	assert_int_equal(egress_parse(allow, &e->allow, &e->nallow, err,
	    sizeof(err)), BD_OK);
}

static void
test_prefixes(void **state)
{
	static const struct {
		const char *deny;
		struct verdict v;
	} cases[] = {
		{"0.0.0.0/0", {"8.8.8.8", false}},
		{"0.0.0.0/0", {"255.255.255.255", false}},
		{"0.0.0.0/0", {"::ffff:8.8.8.8", false}},
		{"0.0.0.0/0", {"2001:db8::1", true}},
		{"::/0", {"2001:db8::1", false}},
		{"::/0", {"::1", false}},
		{"::/0", {"8.8.8.8", true}},
		{"100.64.0.0/10", {"100.64.0.0", false}},
		{"100.64.0.0/10", {"100.127.255.255", false}},
		{"100.64.0.0/10", {"100.128.0.0", true}},
		{"100.64.0.0/10", {"100.63.255.255", true}},
		{"172.16.0.0/12", {"172.31.255.255", false}},
		{"172.16.0.0/12", {"172.32.0.0", true}},
		{"172.16.0.0/12", {"172.15.255.255", true}},
		{"10.0.0.0/31", {"10.0.0.0", false}},
		{"10.0.0.0/31", {"10.0.0.1", false}},
		{"10.0.0.0/31", {"10.0.0.2", true}},
		{"10.0.0.1/32", {"10.0.0.1", false}},
		{"10.0.0.1/32", {"10.0.0.0", true}},
		{"10.1.2.3/8", {"10.200.0.1", false}},
		{"fe80::/10", {"febf::1", false}},
		{"fe80::/10", {"fec0::1", true}},
		{"fe80::/10", {"fe7f::1", true}},
		{"2001:db8::/33", {"2001:db8:7fff::1", false}},
		{"2001:db8::/33", {"2001:db8:8000::1", true}},
		{"::ffff:127.0.0.0/104", {"127.0.0.1", false}},
		{"::ffff:127.0.0.0/104", {"::ffff:127.0.0.1", false}},
		{"127.0.0.0/8", {"::127.0.0.1", true}},
		{"", {"127.0.0.1", true}},
	};
	struct egress e;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		make_policy(&e, cases[i].deny, NULL);
		check_verdicts(&e, &cases[i].v, 1);
		egress_free(&e);
	}
}

static void
test_refused_families(void **state)
{
	struct sockaddr_un sun;
	struct sockaddr_storage ss;
	struct egress e;

	make_policy(&e, "", "0.0.0.0/0, ::/0");
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, "/tmp/x", 7);
	assert_false(egress_permits(&e, (const struct sockaddr *)&sun));
	assert_false(egress_permits(&e, NULL));
	assert_false(egress_permits(NULL, sa_of("8.8.8.8", &ss)));
	assert_true(egress_permits(&e, sa_of("8.8.8.8", &ss)));
	egress_free(&e);
	egress_free(&e);
}

/*
 * The gate refuses before any socket exists: curl never sends a packet.
 * Only denied destinations are used, so this needs no network.
 */
static void
test_attach(void **state)
{
	static const struct {
		const char *url;
		const char *unix_path;
	} cases[] = {
		{"http://127.0.0.1:9/", NULL},
		{"http://[::1]:9/", NULL},
		{"http://169.254.169.254/latest/meta-data/", NULL},
		{"http://localhost/", "/nonexistent/egress-test.sock"},
	};
	struct egress e;
	struct egress_gate gate;
	char err[128];
	CURL *h;
	size_t i;

	assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	assert_int_equal(egress_init(&e, NULL, NULL, err, sizeof(err)), BD_OK);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_non_null(h = curl_easy_init());
		gate.policy = &e;
		gate.denied = false;
		egress_attach(h, &gate);
		curl_easy_setopt(h, CURLOPT_URL, cases[i].url);
		if (cases[i].unix_path != NULL)
			curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH,
			    cases[i].unix_path);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 500L);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1000L);
		assert_int_not_equal(curl_easy_perform(h), CURLE_OK);
		if (!gate.denied)
			fail_msg("%s: not denied by the gate", cases[i].url);
		curl_easy_cleanup(h);
	}
	egress_free(&e);
	curl_global_cleanup();
}

/* A getifaddrs-shaped list of the given literals (one interface each). */
static struct ifaddrs *
fake_ifaddrs(const char *const *addrs, size_t n,
    struct sockaddr_storage *store)
{
	struct ifaddrs *v = calloc(n, sizeof(*v));
	size_t i;

	assert_non_null(v);
	for (i = 0; i < n; i++) {
		v[i].ifa_name = "bdtest0";
		v[i].ifa_flags = IFF_UP;
		v[i].ifa_addr = addrs[i] != NULL ?
		    (struct sockaddr *)sa_of(addrs[i], &store[i]) : NULL;
		v[i].ifa_next = i + 1 < n ? &v[i + 1] : NULL;
	}
	return v;
}

/* Issue 13: the host's own addresses are denied; only an exact allow entry
 * lifts one, a wider allow range does not. */
static void
test_host_addresses(void **state)
{
	static const char *const addrs[] = {
		"192.0.2.2", "10.1.2.3", "fd00::2", "127.0.0.1", "::1",
		"fe80::fc:ff:fe00:1", NULL, "::ffff:172.16.5.5", "192.0.2.2",
	};
	static const struct verdict deny[] = {
		{"192.0.2.2", false}, {"::ffff:192.0.2.2", false},
		{"10.1.2.3", false}, {"fd00::2", false},
		{"172.16.5.5", false},
		{"192.0.2.3", true}, {"10.1.2.4", true}, {"fd00::3", true},
		{"127.0.0.1", false}, {"::1", false},
	};
	static const struct verdict allowed[] = {
		/* exact entries lift exactly those */
		{"192.0.2.2", true}, {"fd00::2", true},
		/* 10.0.0.0/8 is allowed, the host's 10.1.2.3 is not */
		{"10.1.2.3", false}, {"10.1.2.4", true},
		/* loopback keeps its usual rule: a range allow opens it */
		{"127.0.0.1", true},
		{"172.16.5.5", false},
	};
	struct sockaddr_storage store[sizeof(addrs) / sizeof(addrs[0])];
	struct ifaddrs *ifs;
	struct egress e;
	char err[128];

	(void)state;
	ifs = fake_ifaddrs(addrs, sizeof(addrs) / sizeof(addrs[0]), store);
	assert_int_equal(egress_init(&e, NULL, NULL, err, sizeof(err)), BD_OK);
	assert_int_equal(egress_deny_host(&e, ifs, err, sizeof(err)), BD_OK);
	check_verdicts(&e, deny, sizeof(deny) / sizeof(deny[0]));
	egress_free(&e);

	assert_int_equal(egress_init(&e, NULL, "192.0.2.2/32, fd00::2, "
	    "10.0.0.0/8, 127.0.0.0/8, 172.16.5.0/24", err, sizeof(err)),
	    BD_OK);
	assert_int_equal(egress_deny_host(&e, ifs, err, sizeof(err)), BD_OK);
	check_verdicts(&e, allowed, sizeof(allowed) / sizeof(allowed[0]));
	egress_free(&e);
	free(ifs);
}

/* egress_init reads this machine's interfaces itself: every address of
 * every interface outside the built-in list is denied. */
static void
test_init_denies_this_host(void **state)
{
	struct ifaddrs *ifs = NULL, *i;
	struct egress e;
	char err[128], shown[INET6_ADDRSTRLEN];
	const void *a;

	(void)state;
	assert_int_equal(getifaddrs(&ifs), 0);
	assert_int_equal(egress_init(&e, NULL, NULL, err, sizeof(err)), BD_OK);
	for (i = ifs; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || (i->ifa_addr->sa_family != AF_INET &&
		    i->ifa_addr->sa_family != AF_INET6))
			continue;
		if (egress_permits(&e, i->ifa_addr)) {
			a = i->ifa_addr->sa_family == AF_INET ?
			    (const void *)&((struct sockaddr_in *)
			    (void *)i->ifa_addr)->sin_addr :
			    (const void *)&((struct sockaddr_in6 *)
			    (void *)i->ifa_addr)->sin6_addr;
			inet_ntop(i->ifa_addr->sa_family, a, shown,
			    sizeof(shown));
			fail_msg("%s (%s) is permitted", shown, i->ifa_name);
		}
	}
	egress_free(&e);
	freeifaddrs(ifs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_policy),
		cmocka_unit_test(test_allow_wins),
		cmocka_unit_test(test_deny_adds_to_defaults),
		cmocka_unit_test(test_init_errors),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_normalises),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_refused_families),
		cmocka_unit_test(test_attach),
		cmocka_unit_test(test_host_addresses),
		cmocka_unit_test(test_init_denies_this_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
