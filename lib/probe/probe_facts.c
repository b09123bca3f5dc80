/*
 * Quota numbers and the account of the OAuth providers' answers; see
 * probe_facts.h.
 */
#include <string.h>

#include "bd_limits.h"
#include "probe_banner.h"
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

/* See probe_facts.h. */
bool
probe_facts_account_ok(const char *s, bool email)
{
	char clean[LIM_PROBE_BANNER_MAX + 1];
	size_t n;

	if (s == NULL || (n = strlen(s)) == 0 || n > LIM_PROBE_BANNER_MAX ||
	    probe_banner_clean(clean, sizeof(clean), s, n) != n ||
	    memcmp(clean, s, n) != 0)
		return false;
	return !email || (strchr(s, ' ') == NULL && strchr(s, '@') != NULL &&
	    s[0] != '@' && s[n - 1] != '@');
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
