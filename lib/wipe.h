/*
 * Wipe-and-free for secrets (STYLE.md habit 9): the bytes are overwritten
 * with sodium_memzero(), which the compiler may not elide, before the memory
 * goes back to the allocator, so a later core dump or heap reuse does not
 * show them. Every function accepts NULL as a no-op, like free().
 */
#ifndef BD_WIPE_H
#define BD_WIPE_H

#include <stddef.h>

#include <json-c/json.h>

/* Zero n bytes at p, then free(p). Takes ownership of p (malloc'd). */
void wipe_free(void *p, size_t n);

/* Zero strlen(s) bytes of the NUL-terminated s, then free(s). Takes
 * ownership of s (malloc'd). For buffers holding more than the string (a
 * secret after an embedded NUL), use wipe_free() with the buffer's size. */
void wipe_str_free(char *s);

/*
 * Zero every string value in the tree under o (object members and array
 * elements, recursively), then drop the caller's reference with
 * json_object_put(). Takes the caller's reference. Strings are wiped in
 * place, so another holder of a reference to a sub-object (or to o) sees
 * them zeroed too: call this only on trees whose secrets nobody else still
 * needs. Object keys are not wiped (they are field names, not secrets).
 */
void wipe_json_put(json_object *o);

#endif
