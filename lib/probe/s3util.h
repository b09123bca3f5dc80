/*
 * Pure helpers of the S3 probe (probe_s3.c), kept apart so they can be unit
 * tested without a network: request URLs (virtual-hosted or path-style),
 * the ListObjectsV2 query, the key prefix, and the two things the probe
 * reads from an S3 answer — the error document's <Code> and the
 * x-amz-bucket-region header.
 */
#ifndef BD_S3UTIL_H
#define BD_S3UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "bd_limits.h"

/* An S3 error code we may name in a detail: [A-Za-z0-9.]{1,63} + NUL. */
#define S3UTIL_CODE_MAX LIM_PROBE_XML_CODE_MAX
/* A region name we may quote: [a-z0-9-]{1,32} + NUL. */
#define S3UTIL_REGION_MAX 33

/* Where a bucket lives. Every pointer is borrowed. */
struct s3util_loc {
	const char *endpoint;  /* NULL or "": AWS, https://s3.<region>... */
	const char *region;
	const char *bucket;
	bool force_path_style;
};

/*
 * The URL of object `key` (NULL: the bucket itself) followed by "?query"
 * when query is not NULL (already encoded, parameters sorted: curl signs
 * the query as written). Each '/'-separated segment of the key is
 * percent-encoded on its own (curl_easy_escape), which is also S3's
 * canonical form for SigV4. Returns a malloc'd string the caller frees;
 * NULL when the endpoint cannot be used (not http(s)://host[:port][/path],
 * or it has a query or fragment) or out of memory.
 */
char *s3util_url(const struct s3util_loc *loc, const char *key,
    const char *query);

/* Whether requests for loc go path-style (https://host/bucket/key) rather
 * than virtual-hosted (https://bucket.host/key). False also when the
 * endpoint is unusable. */
bool s3util_path_style(const struct s3util_loc *loc);

/*
 * The configured prefix as a folder: leading '/' dropped, a '/' appended
 * when it is not empty ("backups" and "/backups/" both give "backups/").
 * prefix NULL means "". Returns a malloc'd string; NULL when out of memory.
 */
char *s3util_prefix(const char *prefix);

/*
 * The ListObjectsV2 query for at most one key under `prefix` (a folder from
 * s3util_prefix): "list-type=2&max-keys=1[&prefix=<encoded>]", parameters
 * in SigV4 canonical (sorted) order. malloc'd; NULL when out of memory.
 */
char *s3util_list_query(const char *prefix);

/*
 * The query that names one version of an object (DeleteObject,
 * "versionId"): "versionId=<encoded>". malloc'd; NULL when out of memory.
 */
char *s3util_version_query(const char *version);

/*
 * The code of an S3 error document: the text of the first <Code> element
 * in body[0..len), when it is a short [A-Za-z0-9.] token. Nothing else of
 * the document is looked at. Returns true and fills out; false and out = ""
 * otherwise. body need not be NUL-terminated.
 */
bool s3util_error_code(const char *body, size_t len,
    char out[S3UTIL_CODE_MAX]);

/* Whether v[0..len) is a region name safe to quote: [a-z0-9-]{1,32}. */
bool s3util_region_ok(const char *v, size_t len);

/*
 * The region a wrong-region error document names (S3 API Reference, "Error
 * responses"): the <Region> element of an AuthorizationHeaderMalformed, or
 * else the region in the host name of a PermanentRedirect's <Endpoint>
 * (s3util_endpoint_region). Returns true and fills out with a name that
 * passed s3util_region_ok; false and out = "" otherwise. body need not be
 * NUL-terminated; nothing else of it is looked at.
 */
bool s3util_error_region(const char *body, size_t len,
    char out[S3UTIL_REGION_MAX]);

/*
 * The region of an AWS S3 host name h[0..len) as a PermanentRedirect's
 * <Endpoint> gives it (S3 User Guide, "Regions and endpoints"; legacy
 * dash forms too): "<bucket>.s3.eu-central-1.amazonaws.com",
 * "s3-ap-southeast-2.amazonaws.com", "s3.dualstack.<r>.amazonaws.com",
 * and the global "s3.amazonaws.com" / "s3-external-1.amazonaws.com"
 * (us-east-1); ".amazonaws.com.cn" likewise. True and out filled when h
 * is one of these and the region passes s3util_region_ok.
 */
bool s3util_endpoint_region(const char *h, size_t len,
    char out[S3UTIL_REGION_MAX]);

/* An x-amz-version-id we keep (S3 User Guide, "How S3 Versioning works":
 * "no more than 1,024 bytes long"): printable ASCII, + NUL. */
#define S3UTIL_VERSION_MAX 1025

/* x-amz-object-lock-mode (S3 API Reference, GetObject). */
enum s3util_lock_mode {
	S3UTIL_LOCK_NONE,
	S3UTIL_LOCK_GOVERNANCE,
	S3UTIL_LOCK_COMPLIANCE,
};

/*
 * What the probe reads from the headers of an S3 answer; everything else
 * is ignored. Every value is checked before it is kept, so each may be
 * quoted (the version id never is: it is only sent back).
 */
struct s3util_headers {
	/* x-amz-bucket-region (HeadBucket; also on errors and redirects):
	 * region_seen when present, region "" when not a region name */
	bool region_seen;
	char region[S3UTIL_REGION_MAX];
	/* x-amz-version-id of a versioned bucket ("" none or not usable;
	 * "null", the version of an unversioned object, is kept as "") */
	char version[S3UTIL_VERSION_MAX];
	/* x-amz-delete-marker: true (DeleteObject on a versioned bucket
	 * made a marker; GetObject met one) */
	bool delete_marker;
	/* Object Lock on the object (GetObject/HeadObject response headers
	 * x-amz-object-lock-mode, -retain-until-date, -legal-hold) */
	enum s3util_lock_mode lock_mode;
	bool retain_seen;               /* a valid retain-until-date */
	long long retain_until_ms;      /* unix ms */
	int legal_hold;                 /* -1 not reported, 0 OFF, 1 ON */
};

/* Start a header set: nothing seen (legal_hold -1). */
void s3util_headers_init(struct s3util_headers *h);

/*
 * Read one header line line[0..len) ("Name: value\r\n", as curl's
 * CURLOPT_HEADERFUNCTION hands it) into h when it is one of the above.
 * A status line resets h (curl hands every response of the transfer,
 * e.g. a 100 Continue before the answer).
 */
void s3util_header(struct s3util_headers *h, const char *line, size_t len);

/* "GOVERNANCE", "COMPLIANCE" or NULL (static). */
const char *s3util_lock_mode_name(enum s3util_lock_mode);

#endif
