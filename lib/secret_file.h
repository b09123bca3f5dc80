/*
 * Reading a small file that holds secrets (the config file, the JWT key
 * file, the keyring) in one checked step. The rules are the union of what
 * cfg, auth and vault each checked before: the file must be a regular file
 * (not a directory, FIFO or device: a FIFO would block start-up, /dev/zero
 * would never end), at most `max` bytes, read whole (a file that changes size
 * while it is read is refused rather than half parsed), and with
 * SECRET_FILE_TEXT free of NUL bytes (a C string would end early). The
 * content lands in sodium_malloc'd memory (guard pages, kept out of swap
 * where the system allows, wiped on release). What a caller does with a
 * trailing newline is its own rule (auth strips it from an HMAC secret).
 */
#ifndef BD_SECRET_FILE_H
#define BD_SECRET_FILE_H

#include <stddef.h>

#include "err.h"

/* flags */
#define SECRET_FILE_TEXT 0x1u /* refuse a file with a NUL byte in it */

/*
 * Read the file at path. On BD_OK *buf is a NUL-terminated copy of the
 * content (*len bytes before the NUL) that the caller releases with
 * secret_file_free(*buf). Otherwise *buf is NULL and the return is
 * BD_ERR_CONFIG with "<path>: <reason>" in err (reason: the system's
 * strerror text, "is a directory", "not a regular file", "larger than N
 * bytes", "changed while being read", "contains a NUL byte"; never the
 * content), BD_ERR_NOMEM, or BD_ERR_INTERNAL when libsodium does not start.
 */
enum bd_err secret_file_read(const char *path, size_t max, unsigned flags,
    char **buf, size_t *len, char *err, size_t errlen);

/*
 * secret_file_read() on an open descriptor, from offset 0 whatever the
 * file offset was (it is left at the end of the file; a descriptor opened
 * O_APPEND for a later write works). fd stays open and borrowed; name only
 * labels the reasons.
 */
enum bd_err secret_file_read_fd(int fd, const char *name, size_t max,
    unsigned flags, char **buf, size_t *len, char *err, size_t errlen);

/* Wipe and release a buffer from secret_file_read*(); NULL is a no-op. */
void secret_file_free(char *buf);

#endif
