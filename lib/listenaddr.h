/*
 * Splitting a listen address (cfg "listen"): "unix:/path", "host:port" or
 * "[v6]:port". Shared by the daemon (bind) and backupctl status (connect).
 * Only splits: the host and port are checked by getaddrinfo (numeric
 * service), the full form by cfg's validator.
 */
#ifndef BD_LISTENADDR_H
#define BD_LISTENADDR_H

#include <stddef.h>

enum listenaddr_kind {
	LISTENADDR_BAD = -1,	/* no port separator, unclosed '[' */
	LISTENADDR_UNIX = 0,	/* *path points into where (after "unix:") */
	LISTENADDR_INET = 1	/* host copied into host, *port into where */
};

/*
 * Split where. For "unix:" sets *path; otherwise copies the host (without
 * brackets, truncated to hostsz - 1) into host and points *port at the
 * text after the separating ':'. "[v6]" not followed by ':' and a string
 * without ':' are LISTENADDR_BAD.
 */
enum listenaddr_kind listenaddr_split(const char *where, const char **path,
    char *host, size_t hostsz, const char **port);

#endif
