#include <stdarg.h>
#include <stdio.h>

#include "err.h"

static const struct {
	const char *name;
	int status;
	const char *title;
	const char *type;
} errs[BD_ERR__MAX] = {
	[BD_OK] = {"BD_OK", 200, "OK", "about:blank"},
	[BD_ERR_NOMEM] = {"BD_ERR_NOMEM", 500, "Internal Server Error", "about:blank"},
	[BD_ERR_INTERNAL] = {"BD_ERR_INTERNAL", 500, "Internal Server Error", "about:blank"},
	[BD_ERR_BAD_REQUEST] = {"BD_ERR_BAD_REQUEST", 400, "Bad Request", "urn:backupd:problem:bad-request"},
	[BD_ERR_UNAUTHORIZED] = {"BD_ERR_UNAUTHORIZED", 401, "Unauthorized", "urn:backupd:problem:unauthorized"},
	[BD_ERR_FORBIDDEN] = {"BD_ERR_FORBIDDEN", 403, "Forbidden", "urn:backupd:problem:forbidden"},
	[BD_ERR_NOT_FOUND] = {"BD_ERR_NOT_FOUND", 404, "Not Found", "urn:backupd:problem:not-found"},
	[BD_ERR_METHOD] = {"BD_ERR_METHOD", 405, "Method Not Allowed", "urn:backupd:problem:method-not-allowed"},
	[BD_ERR_CONFLICT] = {"BD_ERR_CONFLICT", 409, "Conflict", "urn:backupd:problem:conflict"},
	[BD_ERR_PRECONDITION] = {"BD_ERR_PRECONDITION", 412, "Precondition Failed", "urn:backupd:problem:precondition-failed"},
	[BD_ERR_TOO_LARGE] = {"BD_ERR_TOO_LARGE", 413, "Content Too Large", "urn:backupd:problem:too-large"},
	[BD_ERR_MEDIA_TYPE] = {"BD_ERR_MEDIA_TYPE", 415, "Unsupported Media Type", "urn:backupd:problem:unsupported-media-type"},
	[BD_ERR_INVALID] = {"BD_ERR_INVALID", 422, "Validation Failed", "urn:backupd:problem:validation"},
	[BD_ERR_TEST_FAILED] = {"BD_ERR_TEST_FAILED", 422, "Connection Test Failed", "urn:backupd:problem:connection-test-failed"},
	[BD_ERR_DB_DOWN] = {"BD_ERR_DB_DOWN", 503, "Service Unavailable", "urn:backupd:problem:unavailable"},
	[BD_ERR_CRYPTO] = {"BD_ERR_CRYPTO", 500, "Internal Server Error", "about:blank"},
	[BD_ERR_CONFIG] = {"BD_ERR_CONFIG", 500, "Internal Server Error", "about:blank"},
	[BD_ERR_TIMEOUT] = {"BD_ERR_TIMEOUT", 504, "Gateway Timeout", "urn:backupd:problem:timeout"},
	[BD_ERR_BUSY] = {"BD_ERR_BUSY", 429, "Too Many Requests", "urn:backupd:problem:busy"},
};

static unsigned
idx(enum bd_err e)
{
	return (unsigned)e < BD_ERR__MAX ? (unsigned)e : BD_ERR_INTERNAL;
}

int err_status(enum bd_err e) { return errs[idx(e)].status; }
const char *err_title(enum bd_err e) { return errs[idx(e)].title; }
const char *err_type(enum bd_err e) { return errs[idx(e)].type; }
const char *err_name(enum bd_err e) { return errs[idx(e)].name; }

void
err_set(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
