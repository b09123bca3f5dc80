/* UUIDv7 (RFC 9562 §5.7): time-ordered ids for InnoDB-friendly inserts. */
#ifndef BD_UUID_H
#define BD_UUID_H

#include <stdbool.h>

#define UUID_STR_LEN 36

/* Write a fresh lower-case UUIDv7 and NUL into out[UUID_STR_LEN + 1].
 * Monotonic within a process even within one millisecond. */
void uuid_v7(char out[UUID_STR_LEN + 1]);

/* True when s is a canonical 8-4-4-4-12 hex UUID (any version, any case). */
bool uuid_valid(const char *s);

#endif
