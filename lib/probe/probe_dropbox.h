/*
 * The pure parts of the Dropbox probe (probe_dropbox.c), for its unit
 * tests.
 */
#ifndef BD_PROBE_DROPBOX_H
#define BD_PROBE_DROPBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "probe_http.h"

/*
 * JSON text made safe for an HTTP header (Dropbox "Formats": the
 * Dropbox-API-Arg header carries JSON in which every character above 0x7E
 * is escaped as \uXXXX, a surrogate pair above U+FFFF). in must be valid
 * UTF-8 (json-c's output of a validated config is). Returns a malloc'd
 * string, NULL on invalid UTF-8 or out of memory.
 */
char *dropbox_header_json(const char *in);

/*
 * The error of a Dropbox error document ({"error_summary":
 * "path/not_found/..", "error": {".tag": "path", "path": {".tag":
 * "not_found"}}}, Dropbox "Errors"), as "path/not_found": the code
 * segments of error_summary (else the ".tag" chain of error), at most
 * three, each a short code (probe_code_copy); never the summary's trailing
 * text. "" when the body is not one.
 */
void dropbox_error_code(const char *body, size_t len,
    char out[PROBE_CODE_MAX * 3]);

/*
 * folderPath (NULL = "/") as a Dropbox path: "" for the root, else "/a/b"
 * (empty segments dropped, no trailing '/'). False when a segment is "."
 * or ".." (Dropbox refuses them as malformed_path), or out is too small.
 */
bool dropbox_folder(const char *folder, char *out, size_t outlen);

/*
 * The space of a users/get_space_usage answer (SpaceUsage: used, and an
 * allocation tagged individual or team), for probe_capacity(): -1 where
 * not known. individual: allocated, used, allocated - used. team: the
 * team's pool (allocation.allocated, allocation.used, what is left of
 * it), unless the member has a limit of their own
 * (user_within_team_space_allocated > 0 with a limit type that stops
 * uploads, i.e. not "off" or "alert_only"): then that limit, the
 * member's own use, and the smaller of what is left of the limit and of
 * the pool (unknown when the member's use is). Free is never below 0 nor
 * above total.
 */
void dropbox_space(json_object *o, int64_t *total, int64_t *used,
    int64_t *avail);

#endif
