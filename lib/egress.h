/*
 * Egress policy: which addresses a probe may connect to. Checked at connect
 * time (CURLOPT_OPENSOCKETFUNCTION), on the address curl actually connects to,
 * so a host name resolving to a denied address (DNS rebinding included) is
 * refused too. IPv4-mapped IPv6 (::ffff:a.b.c.d) is matched as IPv4.
 * Allow wins over deny.
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
};

/* The built-in deny list (DESIGN.md "Talking to destinations"). */
extern const char EGRESS_DEFAULT_DENY[];

/* Parse "a/n, b/m, c" (bare address = host route) into a malloc'd array.
 * BD_ERR_CONFIG with the offending item named in err. Empty/NULL -> 0 items. */
enum bd_err egress_parse(const char *list, struct cidr **out, size_t *n,
    char *err, size_t errlen);

/* deny NULL or "" -> EGRESS_DEFAULT_DENY. */
enum bd_err egress_init(struct egress *e, const char *deny, const char *allow,
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
