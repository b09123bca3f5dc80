/*
 * Egress policy: which addresses a probe may connect to. Checked at connect
 * time (CURLOPT_OPENSOCKETFUNCTION), on the address curl actually connects to,
 * so a host name resolving to a denied address (DNS rebinding included) is
 * refused too. IPv4-mapped IPv6 (::ffff:a.b.c.d) is matched as IPv4.
 * Allow wins over deny.
 *
 * The host's own addresses (every address of every interface, read with
 * getifaddrs(3) by egress_init, so at start and on reload) are denied too:
 * a service bound to 0.0.0.0 on this host must not be reachable through its
 * LAN address. Such an address is permitted only when egress_allow names it
 * exactly (a /32 or /128 entry); a wider allow range (10.0.0.0/8 for the
 * LAN's NAS) does not open the host itself. Addresses the built-in list
 * already denies (loopback, link-local) keep their usual rule.
 */
#ifndef BD_EGRESS_H
#define BD_EGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "err.h"

struct cidr {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned prefix;
};

struct egress {
	struct cidr *deny, *allow;
	size_t ndeny, nallow;
	struct cidr *host;   /* this host's own addresses (/32, /128) */
	size_t nhost;
};

struct ifaddrs;

/* The built-in deny list (DESIGN.md "Talking to destinations"). */
extern const char EGRESS_DEFAULT_DENY[];

/* Parse "a/n, b/m, c" (bare address = host route) into a malloc'd array.
 * BD_ERR_CONFIG with the offending item named in err. Empty/NULL -> 0 items. */
enum bd_err egress_parse(const char *list, struct cidr **out, size_t *n,
    char *err, size_t errlen);

/* deny NULL or "" -> EGRESS_DEFAULT_DENY. Also denies the host's own
 * addresses (egress_deny_host with getifaddrs' list); BD_ERR_CONFIG when
 * they cannot be listed. */
enum bd_err egress_init(struct egress *e, const char *deny, const char *allow,
    char *err, size_t errlen);

/* Add every AF_INET/AF_INET6 address of `list` (getifaddrs' shape) that the
 * built-in deny list does not already cover to e's host addresses. BD_OK or
 * BD_ERR_NOMEM. For egress_init, and for tests with a list of their own. */
enum bd_err egress_deny_host(struct egress *e, const struct ifaddrs *list,
    char *err, size_t errlen);
void egress_free(struct egress *e);

/* True when a connection to sa is permitted. */
bool egress_permits(const struct egress *e, const struct sockaddr *sa);

/* Install on a curl handle: CURLOPT_OPENSOCKETFUNCTION with *gate as
 * clientp. gate->denied tells whether the last connection curl tried was
 * refused (an allowed one clears it); reset it before each transfer on a
 * reused handle. */
struct egress_gate {
	const struct egress *policy;
	bool denied;
};
void egress_attach(CURL *h, struct egress_gate *gate);

#endif
