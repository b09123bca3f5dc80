/*
 * Egress policy: CIDR deny/allow lists checked on the address curl is about
 * to connect to. See egress.h for the contract and DESIGN.md ("Talking to
 * destinations") for why private ranges are allowed by default.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "egress.h"
#include "commalist.h"

/*
 * Built-in deny list. Every range here is one no backup destination lives in
 * but that reaches this host, its metadata service or something a tenant
 * must not be able to probe. IPv4-mapped IPv6 (::ffff:0:0/96) is absent on
 * purpose: mapped addresses are matched as IPv4, so the IPv4 rows cover them.
 *
 *   0.0.0.0/8        "this network"; 0.0.0.0 connects to the local host
 *   127.0.0.0/8      loopback (RFC 1122 §3.2.1.3)
 *   169.254.0.0/16   link-local, incl. the cloud metadata service
 *                    169.254.169.254 (RFC 3927)
 *   100.64.0.0/10    shared address space / CGNAT (RFC 6598)
 *   224.0.0.0/4      multicast
 *   240.0.0.0/4      reserved, incl. limited broadcast 255.255.255.255
 *   192.0.0.0/24     IETF protocol assignments (RFC 6890)
 *   ::/128, ::1/128  unspecified and loopback (RFC 4291 §2.5.2, §2.5.3)
 *   ::/96            IPv4-compatible (deprecated, RFC 4291 §2.5.5.1):
 *                    ::127.0.0.1 is not normalised to IPv4 here, and Linux's
 *                    sit0 routes this prefix into an IPv4 tunnel
 *   fe80::/10        link-local
 *   ff00::/8         multicast
 *   64:ff9b::/96     NAT64 well-known prefix (RFC 6052): 64:ff9b::7f00:1 is
 *                    127.0.0.1 behind a translator that does not filter
 *   64:ff9b:1::/48   NAT64 local-use prefix (RFC 8215), same reason
 *   2002::/16        6to4 (RFC 3056, deprecated by RFC 7526): the prefix
 *                    embeds an IPv4 address (2002:7f00:1::/48 is 127.0.0.1,
 *                    2002:a9fe:a9fe::/48 the metadata service) and a host
 *                    with a 6to4 interface sends the packet to it over IPv4
 *   100::/64         discard-only (RFC 6666)
 *   ::ffff:0:0:0/96  SIIT IPv4-translated (RFC 2765 §2.1): ::ffff:0:7f00:1
 *                    is 127.0.0.1 to a stateless translator on the path
 *   2001::/32        Teredo (RFC 4380): embeds the server's and the client's
 *                    (obfuscated) IPv4 addresses, relayed over IPv4
 *   fec0::/10        site-local (deprecated by RFC 3879): still routed to
 *                    internal networks by legacy configurations
 *
 * Cloud metadata endpoints outside 169.254.0.0/16:
 *   fd00:ec2::/64    AWS: the IPv6 instance metadata service (fd00:ec2::254)
 *                    and DNS resolver (fd00:ec2::253), the Time Sync Service
 *                    (fd00:ec2::123) and the IPv6 IMDS companions
 *                    (fd00:ec2::23)
 *   fd20:ce::254     GCP: the metadata server over IPv6
 *   168.63.129.16    Azure: the WireServer (VM agent, extension config,
 *                    health probes), a public address every VM reaches
 */
const char EGRESS_DEFAULT_DENY[] =
    "0.0.0.0/8, 127.0.0.0/8, 169.254.0.0/16, 100.64.0.0/10, 224.0.0.0/4, "
    "240.0.0.0/4, 192.0.0.0/24, "
    "::/128, ::1/128, ::/96, fe80::/10, ff00::/8, 64:ff9b::/96, "
    "64:ff9b:1::/48, 2002::/16, 100::/64, ::ffff:0:0:0/96, 2001::/32, "
    "fec0::/10, "
    "fd00:ec2::/64, fd20:ce::254/128, 168.63.129.16/32";

/* A CIDR item is at most an IPv6 literal with a prefix; longer is garbage. */
#define CIDR_ITEM_MAX (INET6_ADDRSTRLEN + 4)

static const unsigned char v4mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
};

/* Zero the bits of addr beyond prefix so matching can compare whole bytes. */
static void
cidr_mask(struct cidr *c)
{
	unsigned len = c->family == AF_INET ? 4 : 16;
	unsigned full = c->prefix / 8, rest = c->prefix % 8;

	if (full < len) {
		c->addr[full] &= (unsigned char)(0xff00 >> rest);
		memset(c->addr + full + 1, 0, len - full - 1);
	}
}

/*
 * Parse one trimmed item of `len` bytes into *c. Addresses go through
 * inet_pton only, so the forms inet_aton would also accept ("0177.0.0.1",
 * "2130706433", "127.1") are errors rather than silently different hosts.
 * An IPv4-mapped IPv6 CIDR of /96 or longer becomes the IPv4 CIDR it
 * denotes, because addresses are matched that way; a shorter one could
 * never match anything and is an error (*why says so; it stays NULL for a
 * plain syntax error).
 */
static bool
cidr_parse_item(const char *item, size_t len, struct cidr *c,
    const char **why)
{
	char buf[CIDR_ITEM_MAX + 1];
	char *slash, *end;
	unsigned max;
	long prefix;

	*why = NULL;
	if (len == 0 || len > CIDR_ITEM_MAX)
		return false;
	memcpy(buf, item, len);
	buf[len] = '\0';

	memset(c, 0, sizeof(*c));
	if ((slash = strchr(buf, '/')) != NULL)
		*slash = '\0';
	if (strchr(buf, ':') != NULL) {
		c->family = AF_INET6;
		max = 128;
	} else {
		c->family = AF_INET;
		max = 32;
	}
	if (inet_pton(c->family, buf, c->addr) != 1)
		return false;

	c->prefix = max;
	if (slash != NULL) {
		/* Digits only: strtol alone would take "+8", " 8" or "". */
		if (slash[1] == '\0' || strspn(slash + 1, "0123456789") !=
		    strlen(slash + 1) || strlen(slash + 1) > 3)
			return false;
		prefix = strtol(slash + 1, &end, 10);
		if (*end != '\0' || prefix < 0 || prefix > (long)max)
			return false;
		c->prefix = (unsigned)prefix;
	}

	if (c->family == AF_INET6 && c->prefix < 96 &&
	    memcmp(c->addr, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
		*why = "an IPv4-mapped prefix must be /96 or longer";
		return false;
	}
	if (c->family == AF_INET6 && c->prefix >= 96 &&
	    memcmp(c->addr, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
		memmove(c->addr, c->addr + 12, 4);
		memset(c->addr + 4, 0, 12);
		c->family = AF_INET;
		c->prefix -= 96;
	}
	cidr_mask(c);
	return true;
}

/* Copy at most a short, printable prefix of an offending item into err,
 * followed by why (NULL: no reason). */
static void
parse_error(char *err, size_t errlen, const char *item, size_t len,
    const char *why)
{
	char shown[CIDR_ITEM_MAX + 1];
	size_t i, n = len < CIDR_ITEM_MAX ? len : CIDR_ITEM_MAX;

	for (i = 0; i < n; i++)
		shown[i] = isprint((unsigned char)item[i]) ? item[i] : '?';
	shown[n] = '\0';
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "invalid CIDR '%s%s'%s%s", shown,
		    len > n ? "..." : "", why != NULL ? ": " : "",
		    why != NULL ? why : "");
}

/*
 * Parse a comma-separated CIDR list. On success *out is a malloc'd array the
 * caller frees (NULL when *n is 0). On error returns BD_ERR_CONFIG naming
 * the offending item in err, and leaves *out NULL and *n 0.
 */
enum bd_err
egress_parse(const char *list, struct cidr **out, size_t *n, char *err,
    size_t errlen)
{
	enum bd_err rc = BD_ERR_CONFIG;
	struct cidr *v = NULL, *nv;
	size_t count = 0, cap = 0, len;
	const char *cur, *item, *why;

	*out = NULL;
	*n = 0;
	if (list == NULL || list[strspn(list, " \t\r\n")] == '\0') {
		rc = BD_OK;
		goto out;
	}

	cur = list;
	while (commalist_next(&cur, &item, &len)) {
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				rc = BD_ERR_NOMEM;
				if (err != NULL && errlen > 0)
					snprintf(err, errlen, "out of memory");
				goto out;
			}
			v = nv;
		}
		if (!cidr_parse_item(item, len, &v[count], &why)) {
			if (len == 0 && err != NULL && errlen > 0)
				snprintf(err, errlen, "empty item in CIDR list");
			else
				parse_error(err, errlen, item, len, why);
			goto out;
		}
		count++;
	}

	*out = v;
	*n = count;
	v = NULL;
	rc = BD_OK;
out:
	free(v);
	return rc;
}

/*
 * Build a policy. The deny list is EGRESS_DEFAULT_DENY plus `deny` (NULL or
 * blank: nothing more): an operator who writes egress_deny = 10.0.0.0/8 to
 * close the LAN must not reopen loopback and the metadata service by doing
 * so. A default entry is lifted with egress_allow, which wins. `allow` NULL
 * or blank: nothing. On success the caller owns *e and releases it with
 * egress_free(); on error *e is left empty.
 */
enum bd_err
egress_init(struct egress *e, const char *deny, const char *allow, char *err,
    size_t errlen)
{
	enum bd_err rc;
	struct cidr *extra = NULL, *v;
	struct ifaddrs *ifs = NULL;
	size_t nextra = 0;

	memset(e, 0, sizeof(*e));
	if ((rc = egress_parse(EGRESS_DEFAULT_DENY, &e->deny, &e->ndeny, err,
	    errlen)) != BD_OK)
		goto out;
	if ((rc = egress_parse(deny, &extra, &nextra, err, errlen)) != BD_OK)
		goto out;
	if (nextra > 0) {
		rc = BD_ERR_NOMEM;
		v = realloc(e->deny, (e->ndeny + nextra) * sizeof(*v));
		if (v == NULL) {
			if (err != NULL && errlen > 0)
				snprintf(err, errlen, "out of memory");
			goto out;
		}
		memcpy(v + e->ndeny, extra, nextra * sizeof(*v));
		e->deny = v;
		e->ndeny += nextra;
	}
	if ((rc = egress_parse(allow, &e->allow, &e->nallow, err, errlen)) !=
	    BD_OK)
		goto out;
	rc = BD_ERR_CONFIG;
	if (getifaddrs(&ifs) != 0) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "cannot list this host's "
			    "addresses (getifaddrs: %s)", strerror(errno));
		goto out;
	}
	if ((rc = egress_deny_host(e, ifs, err, errlen)) != BD_OK)
		goto out;
	rc = BD_OK;
out:
	if (ifs != NULL)
		freeifaddrs(ifs);
	free(extra);
	if (rc != BD_OK)
		egress_free(e);
	return rc;
}

/* Release the lists of *e; safe on a zeroed or already-freed policy. */
void
egress_free(struct egress *e)
{
	if (e == NULL)
		return;
	free(e->deny);
	free(e->allow);
	free(e->host);
	memset(e, 0, sizeof(*e));
}

static bool
cidr_contains(const struct cidr *c, int family, const unsigned char *addr)
{
	unsigned full = c->prefix / 8, rest = c->prefix % 8;
	unsigned char mask;

	if (c->family != family)
		return false;
	if (memcmp(c->addr, addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (unsigned char)(0xff00 >> rest);
	return (addr[full] & mask) == c->addr[full];
}

static bool
list_contains(const struct cidr *v, size_t n, int family,
    const unsigned char *addr)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (cidr_contains(&v[i], family, addr))
			return true;
	return false;
}

/* Whether the allow list names exactly this one address (a host entry). */
static bool
host_named(const struct egress *e, int family, const unsigned char *addr)
{
	unsigned max = family == AF_INET ? 32 : 128;
	size_t i;

	for (i = 0; i < e->nallow; i++)
		if (e->allow[i].prefix == max &&
		    cidr_contains(&e->allow[i], family, addr))
			return true;
	return false;
}

/*
 * See egress.h. The built-in list is parsed again to tell which addresses
 * it covers already (loopback, link-local): those keep the usual rule, so
 * egress_allow = 127.0.0.0/8 still opens loopback for a test stack. Each
 * address is stored once, as a host route.
 */
enum bd_err
egress_deny_host(struct egress *e, const struct ifaddrs *list, char *err,
    size_t errlen)
{
	enum bd_err rc = BD_ERR_NOMEM;
	struct cidr *builtin = NULL, *v, c;
	size_t nbuiltin = 0;
	const struct ifaddrs *i;

	if ((rc = egress_parse(EGRESS_DEFAULT_DENY, &builtin, &nbuiltin, err,
	    errlen)) != BD_OK)
		goto out;
	for (i = list; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL)
			continue;
		memset(&c, 0, sizeof(c));
		if (i->ifa_addr->sa_family == AF_INET) {
			c.family = AF_INET;
			c.prefix = 32;
			memcpy(c.addr, &((const struct sockaddr_in *)
			    (const void *)i->ifa_addr)->sin_addr, 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			c.family = AF_INET6;
			c.prefix = 128;
			memcpy(c.addr, &((const struct sockaddr_in6 *)
			    (const void *)i->ifa_addr)->sin6_addr, 16);
			if (memcmp(c.addr, v4mapped_prefix,
			    sizeof(v4mapped_prefix)) == 0) {
				memmove(c.addr, c.addr + 12, 4);
				memset(c.addr + 4, 0, 12);
				c.family = AF_INET;
				c.prefix = 32;
			}
		} else
			continue;
		if (list_contains(builtin, nbuiltin, c.family, c.addr) ||
		    list_contains(e->host, e->nhost, c.family, c.addr))
			continue;
		rc = BD_ERR_NOMEM;
		if ((v = realloc(e->host, (e->nhost + 1) * sizeof(*v))) ==
		    NULL) {
			if (err != NULL && errlen > 0)
				snprintf(err, errlen, "out of memory");
			goto out;
		}
		e->host = v;
		e->host[e->nhost++] = c;
	}
	rc = BD_OK;
out:
	free(builtin);
	return rc;
}

/*
 * True when a connection to sa is permitted: one of this host's own
 * addresses only when the allow list names it exactly; otherwise allow list
 * first (allow wins), then deny list; an address in neither is permitted. Anything that is not
 * AF_INET/AF_INET6 (AF_UNIX included), and a NULL policy, is refused.
 */
bool
egress_permits(const struct egress *e, const struct sockaddr *sa)
{
	unsigned char addr[16];
	int family;

	if (e == NULL || sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		memcpy(addr, &in->sin_addr, 4);
		family = AF_INET;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
		    (const struct sockaddr_in6 *)sa;

		memcpy(addr, &in6->sin6_addr, 16);
		family = AF_INET6;
		if (memcmp(addr, v4mapped_prefix, sizeof(v4mapped_prefix)) ==
		    0) {
			memmove(addr, addr + 12, 4);
			family = AF_INET;
		}
	} else
		return false;

	if (list_contains(e->host, e->nhost, family, addr))
		return host_named(e, family, addr);
	if (list_contains(e->allow, e->nallow, family, addr))
		return true;
	return !list_contains(e->deny, e->ndeny, family, addr);
}

/*
 * CURLOPT_OPENSOCKETFUNCTION: called for every connection curl opens, with
 * the resolved address, so names resolving to a denied address are caught
 * whatever DNS answered. Refusing makes the transfer fail with
 * CURLE_COULDNT_CONNECT; gate->denied tells the probe why. It says whether
 * the LAST address curl tried was refused: a name resolving to a denied
 * address and then to an allowed one that does not answer fails for the
 * second reason (issue 13 item 8).
 */
static curl_socket_t
egress_opensocket(void *clientp, curlsocktype purpose,
    struct curl_sockaddr *address)
{
	struct egress_gate *gate = clientp;
	int type;

	if (gate == NULL || address == NULL ||
	    address->addrlen < sizeof(sa_family_t) ||
	    (address->family == AF_INET &&
	    address->addrlen < sizeof(struct sockaddr_in)) ||
	    (address->family == AF_INET6 &&
	    address->addrlen < sizeof(struct sockaddr_in6)) ||
	    address->addr.sa_family != address->family ||
	    !egress_permits(gate->policy, &address->addr)) {
		if (gate != NULL)
			gate->denied = true;
		return CURL_SOCKET_BAD;
	}
	/* An allowed address after a refused one: what happens next (refused,
	 * timed out, answered) is this address's story, not the policy's. */
	gate->denied = false;
	type = address->socktype;
#ifdef SOCK_CLOEXEC
	type |= SOCK_CLOEXEC;
#endif
	return socket(address->family, type, address->protocol);
}

/*
 * Install the gate on h. Also clears CURLOPT_PROXY: a proxy taken from the
 * environment (https_proxy, all_proxy) would make the checked address the
 * proxy's, not the destination's. A caller that really wants a proxy sets it
 * after this call. Borrows gate, which must outlive the transfer.
 */
void
egress_attach(CURL *h, struct egress_gate *gate)
{
	gate->denied = false;
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, egress_opensocket);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, gate);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
}
