/*
 * A json-c string object with a custom serializer: the text is the
 * object's own string (json-c frees it), written out as it is.
 */
#include <string.h>

#include "rawjson.h"

static int
rawjson_write(json_object *o, struct printbuf *pb, int level, int flags)
{
	(void)level;
	(void)flags;
	return printbuf_memappend(pb, json_object_get_string(o),
	    json_object_get_string_len(o));
}

json_object *
rawjson_new(const char *text)
{
	json_object *o;

	if (text == NULL || (o = json_object_new_string(text)) == NULL)
		return NULL;
	json_object_set_serializer(o, rawjson_write, NULL, NULL);
	return o;
}
