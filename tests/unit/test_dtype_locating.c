/*
 * The placeholder rule for every type, by walking the registry: "********"
 * keeps a stored secret only for the place it was stored for. This file
 * holds its own answer to "which fields decide where the secrets are sent"
 * (LOCATING below, written from the contract and the probes, not read from
 * lib/dtype.c), and checks the registry against it through the public
 * functions only:
 *
 *   - every field of every type in dtype_table is classified here, so a new
 *     field cannot arrive without someone deciding whether it locates;
 *   - for every type with a secret and every locating field, a config that
 *     changes (or drops, or adds) that field while sending placeholders is
 *     refused, with an error at exactly that field's pointer;
 *   - a field that does not locate may change: the placeholders are merged.
 *
 * Removing a field from a type's location list (Azure's endpoint, SFTP's
 * host or port ...) makes the second point fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dtype.h"

struct classified {
	const char *type;
	const char *const *locating; /* NULL-terminated */
	const char *const *other;    /* the type's remaining fields */
};

#define L(...) (const char *const[]){ __VA_ARGS__, NULL }
#define NONE (const char *const[]){ NULL }

/* For the OAuth types, where the secrets go is server-wide (the provider's
 * URLs), and gcs's token_uri lives inside the secret key file itself. */
static const struct classified LOCATING[] = {
	{ "s3", L("endpoint"),
	    L("region", "bucket", "prefix", "accessKeyId", "secretAccessKey",
	    "sessionToken", "forcePathStyle", "storageClass") },
	{ "gcs", NONE, L("bucket", "prefix", "serviceAccountJson") },
	{ "azure_blob", L("accountName", "endpoint"),
	    L("accountKey", "sasToken", "container", "prefix") },
	{ "sftp", L("host", "port", "hostKeySha256", "hostKeySha256Alternates"),
	    L("username", "password", "privateKey", "privateKeyPassphrase",
	    "path") },
	{ "ftp", L("host", "port", "tls"),
	    L("username", "password", "path") },
	{ "webdav", L("url"), L("username", "password") },
	{ "google_drive", NONE, L("folderId", "clientId", "clientSecret") },
	{ "onedrive", NONE,
	    L("folderPath", "driveId", "tenant", "clientId", "clientSecret") },
	{ "local", NONE, L("path") },
	{ "smb", L("host", "port"),
	    L("share", "path", "domain", "username", "password",
	    "requireEncryption") },
	{ "dropbox", NONE, L("folderPath", "clientId", "clientSecret") },
};
#define NCLASSIFIED (sizeof(LOCATING) / sizeof(LOCATING[0]))

static const struct classified *
classified(const char *type)
{
	for (size_t i = 0; i < NCLASSIFIED; i++)
		if (strcmp(LOCATING[i].type, type) == 0)
			return &LOCATING[i];
	return NULL;
}

static bool
listed(const char *const *l, const char *name)
{
	for (; *l != NULL; l++)
		if (strcmp(*l, name) == 0)
			return true;
	return false;
}

static size_t
count(const char *const *l)
{
	size_t n = 0;

	while (l[n] != NULL)
		n++;
	return n;
}

/* A value of the field's JSON type; `which` picks one of two different
 * ones. Secrets get a stored value. */
static json_object *
value(const struct dfield *f, int which)
{
	char buf[64];

	switch (f->type) {
	case DF_INT:
		return json_object_new_int(which == 0 ? 2022 : 2222);
	case DF_BOOL:
		return json_object_new_boolean(which == 0);
	case DF_STRLIST: {
		json_object *a = json_object_new_array();
		snprintf(buf, sizeof(buf), "%s-item-%d", f->name, which);
		json_object_array_add(a, json_object_new_string(buf));
		return a;
	}
	case DF_STRING:
	default:
		snprintf(buf, sizeof(buf), "%s-value-%d", f->name, which);
		return json_object_new_string(buf);
	}
}

static bool
has_secret(const struct dtype *t)
{
	for (const struct dfield *f = t->fields; f->name != NULL; f++)
		if (f->flags & DF_SECRET)
			return true;
	return false;
}

/* The stored config: every field with value 0. */
static json_object *
stored_config(const struct dtype *t)
{
	json_object *o = json_object_new_object();

	for (const struct dfield *f = t->fields; f->name != NULL; f++)
		json_object_object_add(o, f->name, value(f, 0));
	return o;
}

/* The PUT config: every secret "********", every other field as stored,
 * except `changed`: value 1 (how 0), left out (how 1), or, when the stored
 * config lacks it, added (how 2). */
static json_object *
put_config(const struct dtype *t, const char *changed, int how)
{
	json_object *o = json_object_new_object();

	for (const struct dfield *f = t->fields; f->name != NULL; f++) {
		if (f->flags & DF_SECRET)
			json_object_object_add(o, f->name,
			    json_object_new_string(DTYPE_PLACEHOLDER));
		else if (changed == NULL || strcmp(f->name, changed) != 0)
			json_object_object_add(o, f->name, value(f, 0));
		else if (how == 0 || how == 2)
			json_object_object_add(o, f->name, value(f, 1));
	}
	return o;
}

static bool
has_ptr(const struct verrs *e, const char *ptr)
{
	for (size_t i = 0; i < e->n; i++)
		if (strcmp(e->v[i].pointer, ptr) == 0)
			return true;
	return false;
}

/* Every type and every field of the registry is classified here, and
 * every classified type and field is in the registry. */
static void
test_every_field_is_classified(void **state)
{
	size_t ntypes = 0;

	(void)state;
	for (const struct dtype *t = dtype_table; t->name != NULL; t++) {
		const struct classified *c = classified(t->name);
		size_t nfields = 0;

		if (c == NULL)
			fail_msg("type '%s' is not classified in LOCATING",
			    t->name);
		for (const struct dfield *f = t->fields; f->name != NULL; f++) {
			if (!listed(c->locating, f->name) &&
			    !listed(c->other, f->name))
				fail_msg("%s.%s is not classified: does it decide "
				    "where the secrets are sent?", t->name,
				    f->name);
			if (listed(c->locating, f->name) &&
			    (f->flags & DF_SECRET))
				fail_msg("%s.%s is a secret and locating",
				    t->name, f->name);
			nfields++;
		}
		assert_int_equal(nfields, count(c->locating) + count(c->other));
		ntypes++;
	}
	assert_int_equal(ntypes, NCLASSIFIED);
}

/* Changing, dropping or adding a locating field with placeholders: refused
 * at that field. */
static void
test_locating_change_refused(void **state)
{
	char ptr[128];
	size_t tried = 0;

	(void)state;
	for (const struct dtype *t = dtype_table; t->name != NULL; t++) {
		const struct classified *c = classified(t->name);

		assert_non_null(c);
		if (!has_secret(t))
			continue;
		for (const char *const *l = c->locating; *l != NULL; l++) {
			snprintf(ptr, sizeof(ptr), "/config/%s", *l);
			for (int how = 0; how < 3; how++) {
				json_object *stored = stored_config(t);
				json_object *cfg = put_config(t, *l, how);
				struct verrs e;

				if (how == 2)
					json_object_object_del(stored, *l);
				memset(&e, 0, sizeof(e));
				if (dtype_merge_placeholders(t, cfg, stored, &e) !=
				    BD_ERR_INVALID || !has_ptr(&e, ptr))
					fail_msg("%s: %s %s with \"********\" was "
					    "not refused at %s", t->name,
					    how == 0 ? "changing" : how == 1 ?
					    "dropping" : "adding", *l, ptr);
				assert_int_equal(e.n, 1);
				json_object_put(stored);
				json_object_put(cfg);
				tried++;
			}
		}
	}
	/* s3 1, azure 2, sftp 4, ftp 3, webdav 1, smb 2 fields; three ways
	 * each. */
	assert_int_equal(tried, 13 * 3);
}

/* The same place with placeholders: merged; and a field that does not
 * locate may change. */
static void
test_other_change_merges(void **state)
{
	(void)state;
	for (const struct dtype *t = dtype_table; t->name != NULL; t++) {
		const struct classified *c = classified(t->name);

		assert_non_null(c);
		if (!has_secret(t))
			continue;
		for (const char *const *o = c->other; ; o++) {
			const char *changed = *o; /* NULL: nothing changes */
			const struct dfield *cf = NULL;
			json_object *stored = stored_config(t);
			json_object *cfg;
			struct verrs e;

			for (const struct dfield *f = t->fields; changed != NULL &&
			    f->name != NULL; f++)
				if (strcmp(f->name, changed) == 0)
					cf = f;
			if (cf != NULL && (cf->flags & DF_SECRET)) {
				json_object_put(stored);
				continue;
			}
			cfg = put_config(t, changed, 0);
			memset(&e, 0, sizeof(e));
			if (dtype_merge_placeholders(t, cfg, stored, &e) != BD_OK)
				fail_msg("%s: changing %s with \"********\" was "
				    "refused (%s: %s)", t->name,
				    changed ? changed : "nothing",
				    e.n ? e.v[0].pointer : "", e.n ?
				    e.v[0].message : "");
			for (const struct dfield *f = t->fields; f->name != NULL;
			    f++) {
				json_object *v, *sv;

				if (!(f->flags & DF_SECRET))
					continue;
				assert_true(json_object_object_get_ex(cfg, f->name,
				    &v));
				assert_true(json_object_object_get_ex(stored,
				    f->name, &sv));
				assert_string_equal(json_object_get_string(v),
				    json_object_get_string(sv));
			}
			json_object_put(stored);
			json_object_put(cfg);
			if (changed == NULL)
				break;
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_field_is_classified),
		cmocka_unit_test(test_locating_change_refused),
		cmocka_unit_test(test_other_change_merges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
