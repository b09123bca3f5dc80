/*
 * Quota numbers and the account of the OAuth providers' answers; see
 * probe_facts.h.
 */
#include <string.h>

#include "bd_limits.h"
#include "probe_facts.h"

/* See probe_facts.h. 18 digits keep the value below INT64_MAX. */
int64_t
probe_facts_bytes(json_object *o, const char *key)
{
	json_object *v;
	const char *s;
	int64_t n = 0;
	size_t i, len;

	if (o == NULL || !json_object_object_get_ex(o, key, &v))
		return -1;
	if (json_object_is_type(v, json_type_int)) {
		n = json_object_get_int64(v);
		return n >= 0 && n < INT64_MAX ? n : -1;
	}
	if (!json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (len == 0 || len > 18 || strspn(s, "0123456789") != len)
		return -1;
	for (i = 0; i < len; i++)
		n = n * 10 + (s[i] - '0');
	return n;
}

/* RFC 3629 §4: shortest forms only, no surrogates, nothing past
 * U+10FFFF. (dtype.c's scanner is private to the registry.) */
static bool
utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0, k, len;
	unsigned cp;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf) {
			len = 2;
			cp = s[i] & 0x1f;
		} else if ((s[i] & 0xf0) == 0xe0) {
			len = 3;
			cp = s[i] & 0x0f;
		} else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
			len = 4;
			cp = s[i] & 0x07;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 &&
		    cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 ||
		    cp > 0x10ffff)))
			return false;
		i += len;
	}
	return true;
}

/* See probe_facts.h. */
bool
probe_facts_account_ok(const char *s, bool email)
{
	size_t n, i;

	if (s == NULL || (n = strlen(s)) == 0 || n > LIM_PROBE_ACCOUNT_MAX)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f ||
		    (email && s[i] == ' '))
			return false;
	if (!utf8_ok((const unsigned char *)s, n))
		return false;
	return !email || (strchr(s, '@') != NULL && s[0] != '@' &&
	    s[n - 1] != '@');
}

/* See probe_facts.h. */
bool
probe_facts_account(struct probe_result *res, const char *email,
    const char *name)
{
	const char *v = probe_facts_account_ok(email, true) ? email :
	    probe_facts_account_ok(name, false) ? name : NULL;

	if (v == NULL)
		return false;
	probe_observe_string(res, "account", v);
	return true;
}
