/*
 * libFuzzer driver for the JSON answers of the REST probes (probe_http.c):
 * the capped parser (probe_json_object), Google's error reason
 * (probe_google_reason), the short-code filter (probe_code_copy) over every
 * string member, the id/token check (probe_visible), and the upload and
 * read-back checks that read an answer (probe_record_upload,
 * probe_read_back). The input is the answer body as a probe collects it.
 *
 * Properties beyond "no crash": a code is empty or 1..PROBE_CODE_MAX-1 of
 * [A-Za-z0-9._-]; a detail never holds more than PROBE_DETAIL_MAX bytes;
 * an upload passes only with an id that probe_visible accepts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "probe/probe_http.h"

#include "fuzz_fixtures.h"

static void
check_code(const char *code)
{
	size_t n = strlen(code);

	if (n >= PROBE_CODE_MAX || strspn(code, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n)
		abort();
}

static void
each_member(json_object *o, int depth)
{
	char code[PROBE_CODE_MAX];
	size_t i, n;

	if (o == NULL || depth > PROBE_JSON_DEPTH + 1)
		return;
	if (json_object_is_type(o, json_type_string)) {
		probe_code_copy(json_object_get_string(o), code);
		check_code(code);
		(void)probe_visible(json_object_get_string(o), 64);
	} else if (json_object_is_type(o, json_type_array)) {
		n = json_object_array_length(o);
		for (i = 0; i < n && i < 64; i++)
			each_member(json_object_array_get_idx(o, i), depth + 1);
	} else if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v) {
			(void)k;
			each_member(v, depth + 1);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char probe[8] = "probe!!!";
	struct probe_xfer x;
	struct probe_result res;
	char code[PROBE_CODE_MAX], *esc = NULL;
	json_object *o;
	bool ok;

	memset(&x, 0, sizeof(x));
	if ((x.body = malloc(size + 1)) == NULL)
		return 0;
	memcpy(x.body, data, size);
	x.body[size] = '\0';
	x.len = size;

	o = probe_json_object(x.body, x.len);
	if (o != NULL && !json_object_is_type(o, json_type_object))
		abort();
	each_member(o, 0);
	json_object_put(o);

	probe_google_reason(&x, code);
	check_code(code);

	memset(&res, 0, sizeof(res));
	res.ok = true;
	res.failed = -1;
	ok = probe_record_upload(&res, &x, 256, sizeof(probe), ".p", "no id",
	    &esc);
	if (ok != (esc != NULL) || ok != res.ok || res.nchecks != 1 ||
	    strlen(res.checks[0].detail) >= PROBE_DETAIL_MAX)
		abort();
	curl_free(esc);

	memset(&res, 0, sizeof(res));
	res.ok = true;
	res.failed = -1;
	ok = probe_read_back(&res, &x, probe, sizeof(probe));
	if (ok != (size == sizeof(probe) && memcmp(data, probe, size) == 0))
		abort();
	free(x.body);
	return 0;
}
