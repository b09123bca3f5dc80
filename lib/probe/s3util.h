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
 * The code of an S3 error document: the text of the first <Code> element
 * in body[0..len), when it is a short [A-Za-z0-9.] token. Nothing else of
 * the document is looked at. Returns true and fills out; false and out = ""
 * otherwise. body need not be NUL-terminated.
 */
bool s3util_error_code(const char *body, size_t len,
    char out[S3UTIL_CODE_MAX]);

/* Whether v[0..len) is a region name safe to quote: [a-z0-9-]{1,32}. */
bool s3util_region_ok(const char *v, size_t len);

#endif
