/*
 * One error enum for the whole service and its one mapping to HTTP.
 * Library functions return enum bd_err (BD_OK == 0); handlers turn an error
 * into a problem document (RFC 9457) with err_status()/err_title() and never
 * pick a status code ad hoc for an internal failure.
 */
#ifndef BD_ERR_H
#define BD_ERR_H

#include <stddef.h>

enum bd_err {
	BD_OK = 0,
	BD_ERR_NOMEM,        /* 500 */
	BD_ERR_INTERNAL,     /* 500 */
	BD_ERR_BAD_REQUEST,  /* 400: body not JSON / not an object, bad header */
	BD_ERR_UNAUTHORIZED, /* 401 */
	BD_ERR_FORBIDDEN,    /* 403 */
	BD_ERR_NOT_FOUND,    /* 404 */
	BD_ERR_METHOD,       /* 405 */
	BD_ERR_CONFLICT,     /* 409 */
	BD_ERR_PRECONDITION, /* 412 */
	BD_ERR_TOO_LARGE,    /* 413 */
	BD_ERR_MEDIA_TYPE,   /* 415 */
	BD_ERR_INVALID,      /* 422: validation */
	BD_ERR_TEST_FAILED,  /* 422: connection test failed */
	BD_ERR_DB_DOWN,      /* 503: database unreachable */
	BD_ERR_CRYPTO,       /* 500: decryption/forgery; never says more */
	BD_ERR_CONFIG,       /* 500: server misconfiguration */
	BD_ERR_TIMEOUT,      /* 504 */
	BD_ERR_BUSY,         /* 429: admission control (probe slots) */
	BD_ERR__MAX
};

/* HTTP status for an error (BD_OK -> 200). */
int err_status(enum bd_err);
/* Short, fixed problem title ("Not Found"); static storage. */
const char *err_title(enum bd_err);
/* Problem "type" URI; static storage. */
const char *err_type(enum bd_err);
/* Enum name ("BD_ERR_NOT_FOUND") for logs and tests; static storage. */
const char *err_name(enum bd_err);

/* Write a printf-style reason into err (errlen bytes; NULL/0: nothing), for
 * the functions that explain a BD_ERR_CONFIG to an operator. */
void err_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
