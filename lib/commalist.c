/* Walking a comma-separated list: see commalist.h. */
#include <ctype.h>
#include <string.h>

#include "commalist.h"

/* See commalist.h. */
bool
commalist_next(const char **cur, const char **item, size_t *len)
{
	const char *p = *cur, *end;
	size_t n;

	if (p == NULL)
		return false;
	if ((end = strchr(p, ',')) == NULL)
		end = p + strlen(p);
	while (p < end && isspace((unsigned char)*p))
		p++;
	n = (size_t)(end - p);
	while (n > 0 && isspace((unsigned char)p[n - 1]))
		n--;
	*item = p;
	*len = n;
	*cur = *end == ',' ? end + 1 : NULL;
	return true;
}

/* See commalist.h. */
bool
commalist_any(const char *list)
{
	const char *cur = list, *item;
	size_t len;

	while (commalist_next(&cur, &item, &len))
		if (len > 0)
			return true;
	return false;
}
