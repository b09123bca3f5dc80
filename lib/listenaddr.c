/* Splitting "unix:/path", "host:port", "[v6]:port" (see listenaddr.h). */
#include <stdio.h>
#include <string.h>

#include "listenaddr.h"

enum listenaddr_kind
listenaddr_split(const char *where, const char **path, char *host,
    size_t hostsz, const char **port)
{
	const char *sep;

	if (strncmp(where, "unix:", 5) == 0) {
		*path = where + 5;
		return LISTENADDR_UNIX;
	}
	if (where[0] == '[') {
		const char *rb = strchr(where, ']');

		if (rb == NULL || rb[1] != ':')
			return LISTENADDR_BAD;
		snprintf(host, hostsz, "%.*s", (int)(rb - where - 1),
		    where + 1);
		sep = rb + 1;
	} else {
		if ((sep = strrchr(where, ':')) == NULL)
			return LISTENADDR_BAD;
		snprintf(host, hostsz, "%.*s", (int)(sep - where), where);
	}
	*port = sep + 1;
	return LISTENADDR_INET;
}
