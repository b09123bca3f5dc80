/*
 * The destination type registry: one row per type of the contract carrying
 * everything that differs per type: its config fields (JSON type, required,
 * secret, locating, limits, validator), its cross-field rule, its probe,
 * its availability rule on this server and its OAuth provider. Validation,
 * redaction, the PUT placeholder rule, the "must be one of" message and
 * the OAuth flow all walk the same rows, so nothing else in the tree names
 * a type. Adding a type = one row + one probe file + tests
 * (.dev/ADDING_A_TYPE.md).
 */
#ifndef BD_DTYPE_H
#define BD_DTYPE_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "bd_limits.h"
#include "cfg.h"
#include "err.h"
#include "oauth.h"
#include "probe/probe.h"

/* The literal every secret is redacted to, and which PUT may send back. */
#define DTYPE_PLACEHOLDER "********"

/* DF_STRLIST: an array of at most `max` strings, each checked as a
 * DF_STRING of the same row (maxlen, check). */
enum dfield_type { DF_STRING, DF_INT, DF_BOOL, DF_STRLIST };

#define DF_REQUIRED 0x1u
#define DF_SECRET 0x2u
/* The field decides where the secrets are sent (host, port, URL, endpoint,
 * TLS mode, pinned host key): a PUT that changes it cannot keep a stored
 * secret with "********", or an admin could redirect a destination and
 * receive its secret. */
#define DF_LOCATING 0x4u
/* "" is a valid value (a prefix or path whose default is ''): the field's
 * other checks do not apply to it. */
#define DF_EMPTY_OK 0x8u

struct dfield {
	const char *name;
	enum dfield_type type;
	unsigned flags;
	size_t maxlen;            /* DF_STRING: max bytes; min 1 unless DF_EMPTY_OK */
	long min, max;            /* DF_INT: inclusive range; DF_STRLIST:
	                             max items */
	const char *const *oneof; /* DF_STRING: allowed values, NULL-terminated */
	/* Extra per-value check; NULL when fine, else a static message. */
	const char *(*check)(const char *value);
};

/* One validation error: JSON pointer (RFC 6901) and a message. */
struct verr {
	char pointer[128];
	char message[192];
};
struct verrs {
	size_t n;
	struct verr v[LIM_VERRS_MAX];
};
void verrs_add(struct verrs *, const char *pointer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The problem's "errors" array (new reference). */
json_object *verrs_json(const struct verrs *);

struct dtype {
	const char *name;
	const struct dfield *fields; /* terminated by a row with name NULL */
	/* Cross-field rule (e.g. exactly one of accountKey/sasToken); adds to
	 * errs. A placeholder counts as present. May be NULL. */
	void (*check)(json_object *config, struct verrs *errs);
	probe_fn probe;              /* NULL: no probe implemented yet */
	/* Whether this server can use the type (in the probe's file): NULL
	 * when it can, else the reason (static). NULL rule: always. */
	const char *(*unavailable)(const struct cfg *);
	/* OAUTH_NONE, or the provider whose consent gives the tokens (the
	 * type is then created pending_authorization, without a test). */
	enum oauth_provider oauth;
};

/*
 * Whether this server can create and test destinations of type t: true, or
 * false with a sentence for the 422 at /destinationType in why.
 */
bool dtype_available(const struct dtype *t, const struct cfg *c, char *why,
    size_t whylen);

/* The type names joined with ", " (the last with last_sep), only the OAuth
 * ones when oauth_only: "s3, gcs, ..." for messages. Cut to outlen. */
void dtype_names(char *out, size_t outlen, bool oauth_only,
    const char *last_sep);

/* The registry row for a type name; NULL if unknown. */
const struct dtype *dtype_find(const char *name);
/* All rows, terminated by a row with name NULL. */
extern const struct dtype dtype_table[];

/* A validated DestinationInput. Borrowed pointers into the body. */
struct dest_input {
	const char *name;
	const struct dtype *type;
	json_object *config;
};

/*
 * Validate a DestinationInput body (an object): name (1..128 chars, no
 * control characters), destinationType (known), config (object of the type's
 * fields; unknown fields, wrong JSON types, missing required fields, out of
 * range values are each one error). allow_placeholder: whether a secret
 * field may be "********" (PUT). Every problem found is listed, by pointer
 * ("/name", "/config/bucket", "/unexpectedField"). Returns BD_OK and fills
 * *in, or BD_ERR_INVALID with errs filled.
 */
enum bd_err dtype_validate_input(json_object *body, bool allow_placeholder,
    struct dest_input *in, struct verrs *errs);

/*
 * PUT: replace every "********" secret in `config` (modified in place) with
 * the value in `stored` (same type). A placeholder with no stored value is an
 * error at its pointer. Returns BD_OK or BD_ERR_INVALID.
 */
enum bd_err dtype_merge_placeholders(const struct dtype *, json_object *config,
    json_object *stored, struct verrs *errs);

/* True when config holds any placeholder secret (a type change forbids it). */
bool dtype_has_placeholder(const struct dtype *, json_object *config);

/* A new object with the type's fields only, each secret as "********".
 * Fields not in the registry (internal ones such as OAuth tokens) are left
 * out. Returns a new reference. */
json_object *dtype_redact(const struct dtype *, json_object *config);

#endif
