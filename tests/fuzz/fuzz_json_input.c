/*
 * libFuzzer driver: a request body as the create/update handlers see it.
 * bytes -> struct request -> req_parse_json -> (object) dtype_validate_input
 * for POST (no placeholder) and PUT (placeholder allowed) -> on success
 * dtype_redact, dtype_has_placeholder, dtype_merge_placeholders; always
 * verrs_json. Everything is serialised (json-c walks it) and released: a
 * leak is a finding, like a crash.
 *
 * Property checked beyond "no crash": a redacted config holds no secret
 * field whose value is anything but the placeholder.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "dtype.h"
#include "req.h"

#include "fuzz_fixtures.h"

/* A stored config for the PUT merge: a value for every secret field name the
 * registry uses, so the merge takes its copy path too. */
static json_object *stored;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const struct dtype *t;
	const struct dfield *f;

	(void)argc;
	(void)argv;
	stored = json_object_new_object();
	for (t = dtype_table; t->name != NULL; t++)
		for (f = t->fields; f->name != NULL; f++)
			if (f->flags & DF_SECRET)
				json_object_object_add(stored, f->name,
				    json_object_new_string("stored-secret"));
	return 0;
}

/* Abort (a libFuzzer crash) when a secret field of the redacted copy is not
 * the placeholder. */
static void
check_redacted(const struct dtype *t, json_object *red)
{
	const struct dfield *f;
	json_object *v;

	for (f = t->fields; f->name != NULL; f++) {
		if (!(f->flags & DF_SECRET) ||
		    !json_object_object_get_ex(red, f->name, &v))
			continue;
		if (!json_object_is_type(v, json_type_string) ||
		    strcmp(json_object_get_string(v), DTYPE_PLACEHOLDER) != 0)
			abort();
	}
}

static void
validate(json_object *body, bool allow_placeholder)
{
	struct dest_input in;
	struct verrs errs;
	json_object *red, *arr;
	enum bd_err rc;

	memset(&errs, 0, sizeof(errs));
	rc = dtype_validate_input(body, allow_placeholder, &in, &errs);
	if (rc == BD_OK) {
		if (errs.n != 0 || in.type == NULL || in.config == NULL ||
		    in.name == NULL)
			abort();
		if ((red = dtype_redact(in.type, in.config)) != NULL) {
			check_redacted(in.type, red);
			(void)json_object_to_json_string_ext(red,
			    JSON_C_TO_STRING_PLAIN);
			json_object_put(red);
		}
		if (allow_placeholder &&
		    dtype_has_placeholder(in.type, in.config))
			(void)dtype_merge_placeholders(in.type, in.config,
			    stored, &errs);
	} else if (rc != BD_ERR_INVALID || errs.n == 0 ||
	    errs.n > LIM_VERRS_MAX) {
		abort();
	}
	if ((arr = verrs_json(&errs)) != NULL) {
		(void)json_object_to_json_string_ext(arr,
		    JSON_C_TO_STRING_PLAIN);
		json_object_put(arr);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request req;
	json_object *body = NULL;
	const char *why = NULL;
	char *copy;

	/* The transport hands over a NUL-terminated body of body_len bytes. */
	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.path = "/backup-destinations";
	req.content_type = "application/json";
	req.content_length = (long)size;
	req.body = copy;
	req.body_len = size;

	if (req_parse_json(&req, &body, &why) == BD_OK) {
		if (body == NULL)
			abort();
		if (json_object_is_type(body, json_type_object)) {
			validate(body, false);
			/* PUT last: its merge edits the body in place. */
			validate(body, true);
		}
		json_object_put(body);
	} else if (body != NULL || why == NULL) {
		abort();
	}
	free(copy);
	return 0;
}
