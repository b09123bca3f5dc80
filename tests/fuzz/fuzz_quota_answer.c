/*
 * libFuzzer driver for what the OAuth probes read beyond their checks
 * (issue 9): the byte counts of a quota answer (probe_facts_bytes over
 * every member, Dropbox's dropbox_space over the whole answer) and the
 * account value (probe_facts_account over every pair of string members).
 * The input is an answer body as a probe collects it.
 *
 * Properties beyond "no crash": a count is -1 or 0..INT64_MAX-1; Dropbox's
 * free space never exceeds its total; an account that is recorded is at
 * most LIM_PROBE_BANNER_MAX bytes without a control character, and the
 * observed object serialises to JSON that json-c reads back.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "probe/probe_dropbox.h"
#include "probe/probe_facts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_account(const char *a, const char *b)
{
	struct probe_result r;
	json_object *v, *back;
	const char *s, *text;
	size_t i, n;

	memset(&r, 0, sizeof(r));
	if (!probe_facts_account(&r, a, b))
		goto out;
	if (!json_object_object_get_ex(r.observed, "account", &v))
		abort();
	s = json_object_get_string(v);
	if ((n = strlen(s)) == 0 || n > LIM_PROBE_BANNER_MAX)
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			abort();
	text = json_object_to_json_string(r.observed);
	if ((back = json_tokener_parse(text)) == NULL)
		abort();
	json_object_put(back);
out:
	probe_result_clear(&r);
}

static void
walk(json_object *o, int depth, const char **last)
{
	int64_t n;
	size_t i, len;

	if (o == NULL || depth > PROBE_JSON_DEPTH + 1)
		return;
	if (json_object_is_type(o, json_type_string)) {
		check_account(json_object_get_string(o), *last);
		*last = json_object_get_string(o);
	} else if (json_object_is_type(o, json_type_array)) {
		len = json_object_array_length(o);
		for (i = 0; i < len && i < 64; i++)
			walk(json_object_array_get_idx(o, i), depth + 1, last);
	} else if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v) {
			n = probe_facts_bytes(o, k);
			if (n < -1 || n == INT64_MAX)
				abort();
			walk(v, depth + 1, last);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_object *o;
	const char *last = NULL;
	int64_t total, used, avail;

	o = probe_json_object((const char *)data, size);
	dropbox_space(o, &total, &used, &avail);
	if (total < -1 || used < -1 || avail < -1 ||
	    (total >= 0 && avail > total))
		abort();
	walk(o, 0, &last);
	json_object_put(o);
	return 0;
}
