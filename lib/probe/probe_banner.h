/*
 * Remote-controlled text made fit for TestResult.observed.serverSoftware:
 * an SSH identification string, an FTP 220 greeting, an HTTP Server header.
 */
#ifndef BD_PROBE_BANNER_H
#define BD_PROBE_BANNER_H

#include <stddef.h>

#include "bd_limits.h"

/*
 * Copy the text in[0..len) into out (outsz bytes, NUL included) keeping
 * only printable characters: valid UTF-8 (RFC 3629) without C0/C1 control
 * characters, DEL, line/paragraph separators or bidirectional controls.
 * Every run of dropped characters and white space becomes one space; the
 * result is trimmed and holds at most LIM_PROBE_BANNER_MAX bytes (never
 * half a character). Returns its length (0: nothing printable; out is "").
 */
size_t probe_banner_clean(char *out, size_t outsz, const char *in,
    size_t len);

#endif
