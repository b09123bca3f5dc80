/* Wipe-and-free for secrets: see wipe.h. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "wipe.h"

/* See wipe.h. */
void
wipe_free(void *p, size_t n)
{
	if (p == NULL)
		return;
	sodium_memzero(p, n);
	free(p);
}

/* See wipe.h. */
void
wipe_str_free(char *s)
{
	if (s == NULL)
		return;
	sodium_memzero(s, strlen(s));
	free(s);
}

/* Zero the strings under o without touching its reference count. */
static void
wipe_json_strings(json_object *o)
{
	size_t i, n;

	switch (json_object_get_type(o)) {
	case json_type_string:
		sodium_memzero((char *)json_object_get_string(o),
		    (size_t)json_object_get_string_len(o));
		break;
	case json_type_object: {
		json_object_object_foreach(o, k, v) {
			(void)k;
			wipe_json_strings(v);
		}
		break;
	}
	case json_type_array:
		n = json_object_array_length(o);
		for (i = 0; i < n; i++)
			wipe_json_strings(json_object_array_get_idx(o, i));
		break;
	default:
		break;
	}
}

/* See wipe.h. */
void
wipe_json_put(json_object *o)
{
	if (o == NULL)
		return;
	wipe_json_strings(o);
	json_object_put(o);
}
