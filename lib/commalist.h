/*
 * Walking a comma-separated list in place ("10.0.0.0/8, 192.168.0.0/16",
 * local_roots): no copy, no allocation, the list is only borrowed. Items are
 * trimmed of white space (isspace: blanks, tabs, CR, LF) on both sides.
 * Every comma separates, so "" is one empty item, "a," is "a" then an empty
 * item and " , " is two empty ones: a caller that forbids empty items
 * (a config check) sees them, a caller that skips them (a matcher) skips
 * them. Items cannot contain a comma (there is no quoting).
 *
 *	const char *cur = list, *item;
 *	size_t len;
 *
 *	while (commalist_next(&cur, &item, &len))
 *		use(item, len);
 */
#ifndef BD_COMMALIST_H
#define BD_COMMALIST_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Take the next item of the list at *cur: sets *item (pointing into the
 * list, not NUL-terminated at the item's end) and *len, moves *cur past the
 * item's comma, and returns true; returns false (and leaves *item, *len
 * alone) when the list is used up. Start with *cur = the list; a NULL list
 * has no items.
 */
bool commalist_next(const char **cur, const char **item, size_t *len);

/* True when the list has at least one non-empty item. NULL: false. */
bool commalist_any(const char *list);

#endif
