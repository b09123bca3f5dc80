/*
 * Embedding JSON text we wrote ourselves into a json-c tree without parsing
 * it: the stored lastTest of every row of a list is copied to the answer
 * as it is, instead of being parsed into objects and serialised again (two
 * allocations per member, and json-c's per-parse locale switch).
 *
 * Only for text this service produced and stored (json-c's own output):
 * it is written out verbatim.
 */
#ifndef BD_RAWJSON_H
#define BD_RAWJSON_H

#include <json-c/json.h>

/* A json_object that serialises as `text` (copied). NULL text or no
 * memory: NULL (which serialises as null). */
json_object *rawjson_new(const char *text);

#endif
