/*
 * backupctl [--json] status [--openmetrics]: asks the pool's own socket
 * (`listen`) for status_path over FastCGI, as nginx would, and prints it:
 * a summary by default, the JSON document with --json, the OpenMetrics
 * text with --openmetrics. Works where nginx does not expose the page.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl.h"
#include "fdio.h"
#include "listenaddr.h"

#define FCGI_VERSION 1
#define FCGI_BEGIN_REQUEST 1
#define FCGI_END_REQUEST 3
#define FCGI_PARAMS 4
#define FCGI_STDIN 5
#define FCGI_STDOUT 6
#define FCGI_RESPONDER 1
#define STATUS_TIMEOUT_S 10
#define STATUS_MAX (4L * 1024 * 1024)

static int
connect_listen(const char *where)
{
	struct addrinfo hints, *ai = NULL, *p;
	struct timeval tv = {STATUS_TIMEOUT_S, 0};
	char host[256];
	const char *port;
	int fd = -1;

	const char *path = NULL;
	enum listenaddr_kind kind = listenaddr_split(where, &path, host,
	    sizeof(host), &port);

	if (kind == LISTENADDR_BAD)
		return -1;
	if (kind == LISTENADDR_UNIX) {
		struct sockaddr_un sun;
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
			close(fd);
			return -1;
		}
	} else {
		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICSERV;
		if (getaddrinfo(host, port, &hints, &ai) != 0)
			return -1;
		for (p = ai; p != NULL; p = p->ai_next) {
			fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC,
			    p->ai_protocol);
			if (fd >= 0 && connect(fd, p->ai_addr,
			    p->ai_addrlen) == 0)
				break;
			if (fd >= 0)
				close(fd);
			fd = -1;
		}
		freeaddrinfo(ai);
		if (fd < 0)
			return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static void
rec_header(unsigned char *h, int type, size_t len)
{
	h[0] = FCGI_VERSION;
	h[1] = (unsigned char)type;
	h[2] = 0;
	h[3] = 1; /* request id 1 */
	h[4] = (unsigned char)(len >> 8);
	h[5] = (unsigned char)len;
	h[6] = 0;
	h[7] = 0;
}

/* One name-value pair, both shorter than 128 bytes. */
static size_t
nv(unsigned char *out, const char *n, const char *v)
{
	size_t nl = strlen(n), vl = strlen(v);

	out[0] = (unsigned char)nl;
	out[1] = (unsigned char)vl;
	memcpy(out + 2, n, nl);
	memcpy(out + 2 + nl, v, vl);
	return 2 + nl + vl;
}

/* GET path?query over FastCGI; the CGI answer (headers + body) in *out. */
static int
fcgi_get(int fd, const char *path, const char *query, char **out,
    size_t *outlen)
{
	unsigned char msg[2048], *p = msg, h[8], body[65536 + 256];
	char uri[512];
	size_t plen = 0, len = 0, cap = 0;
	char *buf = NULL;

	snprintf(uri, sizeof(uri), "%s%s%s", path, query[0] ? "?" : "", query);
	rec_header(p, FCGI_BEGIN_REQUEST, 8);
	memset(p + 8, 0, 8);
	p[9] = FCGI_RESPONDER;
	p += 16;
	unsigned char *params = p + 8;
	plen += nv(params + plen, "REQUEST_METHOD", "GET");
	plen += nv(params + plen, "REQUEST_URI", uri);
	plen += nv(params + plen, "SCRIPT_NAME", path);
	plen += nv(params + plen, "QUERY_STRING", query);
	plen += nv(params + plen, "REMOTE_ADDR", "127.0.0.1");
	plen += nv(params + plen, "GATEWAY_INTERFACE", "CGI/1.1");
	rec_header(p, FCGI_PARAMS, plen);
	p += 8 + plen;
	rec_header(p, FCGI_PARAMS, 0);
	p += 8;
	rec_header(p, FCGI_STDIN, 0);
	p += 8;
	if (write_all(fd, msg, (size_t)(p - msg)) != 0)
		return -1;
	for (;;) {
		size_t clen, pad;
		if (read_all(fd, h, 8) != 8)
			goto fail;
		clen = ((size_t)h[4] << 8) | h[5];
		pad = h[6];
		if (read_all(fd, body, clen + pad) != (ssize_t)(clen + pad))
			goto fail;
		if (h[1] == FCGI_END_REQUEST)
			break;
		if (h[1] != FCGI_STDOUT || clen == 0)
			continue;
		if (len + clen + 1 > cap) {
			size_t ncap = (len + clen + 1) * 2;
			char *nb;
			if (ncap > (size_t)STATUS_MAX ||
			    (nb = realloc(buf, ncap)) == NULL)
				goto fail;
			buf = nb;
			cap = ncap;
		}
		memcpy(buf + len, body, clen);
		len += clen;
		buf[len] = '\0';
	}
	if (buf == NULL)
		return -1;
	*out = buf;
	*outlen = len;
	return 0;
fail:
	free(buf);
	return -1;
}

static void
summary(json_object *o)
{
	json_object *w;

	json_object_object_foreach(o, k, v) {
		if (v == NULL || json_object_is_type(v, json_type_array))
			continue;
		printf("%-22s %s\n", k, json_object_to_json_string_ext(v,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	}
	if (!json_object_object_get_ex(o, "workers", &w) ||
	    !json_object_is_type(w, json_type_array))
		return;
	printf("\n%-8s %-9s %9s %9s  %s\n", "pid", "state", "requests",
	    "elapsed", "route (org)");
	for (size_t i = 0; i < json_object_array_length(w); i++) {
		json_object *x = json_object_array_get_idx(w, i), *f;
		const char *route = "", *org = "";
		long long el = -1;
		if (json_object_object_get_ex(x, "route", &f) && f)
			route = json_object_get_string(f);
		if (json_object_object_get_ex(x, "org", &f) && f)
			org = json_object_get_string(f);
		if (json_object_object_get_ex(x, "elapsedMs", &f) && f)
			el = json_object_get_int64(f);
		json_object_object_get_ex(x, "pid", &f);
		printf("%-8d ", json_object_get_int(f));
		json_object_object_get_ex(x, "state", &f);
		printf("%-9s ", json_object_get_string(f));
		json_object_object_get_ex(x, "requests", &f);
		printf("%9lld ", (long long)json_object_get_int64(f));
		if (el >= 0)
			printf("%7lldms  %s%s%s%s\n", el, route,
			    org[0] ? " (" : "", org, org[0] ? ")" : "");
		else
			printf("%9s\n", "-");
	}
}

int
ctl_status(const struct cfg *c, bool json, int argc, char **argv)
{
	bool om = false;
	char *raw = NULL, *body;
	size_t len = 0;
	int fd, rc = 1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--openmetrics") == 0)
			om = true;
		else {
			fprintf(stderr, "usage: backupctl status [--json | "
			    "--openmetrics]\n");
			return CTL_USAGE;
		}
	}
	if ((fd = connect_listen(c->listen)) < 0) {
		fprintf(stderr, "backupctl: cannot connect to %s: %s\n",
		    c->listen, strerror(errno));
		return 1;
	}
	if (fcgi_get(fd, c->status_path, om ? "openmetrics" : "", &raw,
	    &len) != 0) {
		fprintf(stderr, "backupctl: no answer from %s\n", c->listen);
		goto out;
	}
	if (strncmp(raw, "Status: 200", 11) != 0 ||
	    (body = strstr(raw, "\r\n\r\n")) == NULL) {
		fprintf(stderr, "backupctl: the status page answered: %.*s\n",
		    (int)strcspn(raw, "\r\n"), raw);
		goto out;
	}
	body += 4;
	if (json || om) {
		fputs(body, stdout);
		if (json)
			fputc('\n', stdout);
		rc = 0;
		goto out;
	}
	json_object *o = json_tokener_parse(body);
	if (o == NULL) {
		fprintf(stderr, "backupctl: the status page is not JSON\n");
		goto out;
	}
	summary(o);
	json_object_put(o);
	rc = 0;
out:
	free(raw);
	close(fd);
	return rc;
}
