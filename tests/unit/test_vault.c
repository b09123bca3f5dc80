/*
 * lib/vault.c: keyring parsing, seal/open with the row binding, rotation,
 * tampering, keygen. Files live in a private mkdtemp directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "vault.h"

/* Test keys: bytes 0x00..0x1f and 0x20..0x3f. */
#define K1 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define K2 "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
#define ORG "org-1"
#define ID "0190a0b0-0000-7000-8000-000000000001"
#define SECRET "{\"secret_access_key\":\"sentinel-S3CR3T\"}"

static char dir[] = "/tmp/test_vault_XXXXXX";

static const char *
path_of(const char *name)
{
	static char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

static const char *
write_file(const char *name, const char *text)
{
	const char *p = path_of(name);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return p;
}

static int
contains(const unsigned char *hay, size_t n, const char *needle)
{
	size_t i, m = strlen(needle);

	for (i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return 1;
	return 0;
}

static struct vault *
load(const char *text)
{
	struct vault *v = NULL;
	char err[256] = "";

	if (vault_load(&v, write_file("ring", text), err, sizeof(err)) !=
	    BD_OK)
		fail_msg("vault_load: %s", err);
	return v;
}

static void
seal(const struct vault *v, const char *org, const char *id,
    unsigned char **b, size_t *n)
{
	assert_int_equal(vault_seal(v, org, id, SECRET, strlen(SECRET), b, n),
	    BD_OK);
}

static void
test_round_trip(void **state)
{
	struct vault *v = load("k1 " K1 "\n");
	unsigned char *b1, *b2;
	size_t n1, n2, len;
	char *out, kid[LIM_KEY_ID_MAX + 1];

	seal(v, ORG, ID, &b1, &n1);
	assert_int_equal(n1, 2 + 2 + 24 + 16 + strlen(ORG) + 1 + strlen(ID) +
	    1 + strlen(SECRET));
	assert_int_equal(b1[0], 1);
	assert_int_equal(b1[1], 2);
	assert_memory_equal(b1 + 2, "k1", 2);
	/* The secret is not visible in the blob. */
	assert_false(contains(b1, n1, "sentinel"));

	assert_int_equal(vault_open(v, ORG, ID, b1, n1, &out, &len), BD_OK);
	assert_int_equal(len, strlen(SECRET));
	assert_string_equal(out, SECRET);
	vault_wipe_free(out, len);

	/* A fresh nonce per seal: same input, different blob. */
	seal(v, ORG, ID, &b2, &n2);
	assert_int_equal(n1, n2);
	assert_memory_not_equal(b1, b2, n1);
	assert_memory_not_equal(b1 + 4, b2 + 4, 24);

	assert_int_equal(vault_blob_key_id(b1, n1, kid), BD_OK);
	assert_string_equal(kid, "k1");

	/* Empty payload. */
	free(b2);
	assert_int_equal(vault_seal(v, ORG, ID, "", 0, &b2, &n2), BD_OK);
	assert_int_equal(vault_open(v, ORG, ID, b2, n2, &out, &len), BD_OK);
	assert_int_equal(len, 0);
	assert_string_equal(out, "");
	vault_wipe_free(out, len);
	vault_wipe_free(NULL, 0);

	free(b1);
	free(b2);
	vault_free(v);
	vault_free(NULL);
}

static void
test_tamper(void **state)
{
	struct vault *v = load("k1 " K1 "\nk2 " K2 "\n");
	unsigned char *b, *t;
	size_t n, len, i;
	char *out;
	const struct {
		const char *region;
		size_t off; /* from the start; SIZE_MAX: last byte */
	} cases[] = {
		{"version", 0},
		{"key id length", 1},
		{"key id", 2},
		{"key id (k2 -> k1)", 3},
		{"nonce first", 4},
		{"nonce last", 4 + 23},
		{"mac", 4 + 24},
		{"ciphertext", 4 + 24 + 16 + 3},
		{"ciphertext last", SIZE_MAX},
	};

	seal(v, ORG, ID, &b, &n);
	assert_memory_equal(b + 2, "k2", 2);
	t = malloc(n);
	assert_non_null(t);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t off = cases[i].off == SIZE_MAX ? n - 1 : cases[i].off;

		memcpy(t, b, n);
		/* "k2" -> "k1" names a real key: the MAC still fails. */
		t[off] ^= cases[i].off == 3 ? ('2' ^ '1') : 0x01;
		out = NULL;
		if (vault_open(v, ORG, ID, t, n, &out, &len) != BD_ERR_CRYPTO)
			fail_msg("tampered %s opened", cases[i].region);
		assert_null(out);
	}
	/* Truncated anywhere, or empty. */
	for (i = 0; i < n; i++)
		assert_int_equal(vault_open(v, ORG, ID, b, i, &out, &len),
		    BD_ERR_CRYPTO);
	assert_int_equal(vault_open(v, ORG, ID, NULL, 0, &out, &len),
	    BD_ERR_CRYPTO);
	/* One byte appended. */
	t = realloc(t, n + 1);
	assert_non_null(t);
	memcpy(t, b, n);
	t[n] = 0;
	assert_int_equal(vault_open(v, ORG, ID, t, n + 1, &out, &len),
	    BD_ERR_CRYPTO);
	free(t);
	free(b);
	vault_free(v);
}

static void
test_binding(void **state)
{
	struct vault *v = load("k1 " K1 "\n");
	unsigned char *b;
	size_t n, len, i;
	char *out;
	const struct {
		const char *org, *id;
	} wrong[] = {
		{"org-2", ID},
		{"org-", ID},
		{"org-11", ID},
		{ORG, "0190a0b0-0000-7000-8000-000000000002"},
		{ORG, "0190a0b0-0000-7000-8000-00000000000"},
		{ID, ORG},
		{"", ID},
		{ORG, ""},
		{"org-1\n" ID, ""},
	};

	seal(v, ORG, ID, &b, &n);
	for (i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		out = NULL;
		if (vault_open(v, wrong[i].org, wrong[i].id, b, n, &out,
		    &len) != BD_ERR_CRYPTO)
			fail_msg("opened for (%s, %s)", wrong[i].org,
			    wrong[i].id);
		assert_null(out);
	}
	free(b);
	/* A newline in org or id would make the framing ambiguous. */
	assert_int_not_equal(vault_seal(v, "org\n1", ID, "x", 1, &b, &n),
	    BD_OK);
	assert_null(b);
	assert_int_not_equal(vault_seal(v, ORG, "", "x", 1, &b, &n), BD_OK);
	vault_free(v);
}

static void
test_rotation(void **state)
{
	struct vault *v1 = load("k1 " K1 "\n");
	struct vault *v2 = load("# rotated\nk1 " K1 "\nk2 " K2 "\n");
	struct vault *v3 = load("k2 " K2 "\n");
	unsigned char *b1, *b2;
	size_t n1, n2, len;
	char *out, kid[LIM_KEY_ID_MAX + 1];

	assert_string_equal(vault_current_key_id(v1), "k1");
	assert_string_equal(vault_current_key_id(v2), "k2");
	assert_true(vault_has_key(v2, "k1"));
	assert_true(vault_has_key(v2, "k2"));
	assert_false(vault_has_key(v1, "k2"));
	assert_false(vault_has_key(v2, "k"));
	assert_false(vault_has_key(v2, "k22"));

	seal(v1, ORG, ID, &b1, &n1);
	seal(v2, ORG, ID, &b2, &n2);
	assert_int_equal(vault_blob_key_id(b2, n2, kid), BD_OK);
	assert_string_equal(kid, "k2");

	/* The new ring opens old blobs and its own. */
	assert_int_equal(vault_open(v2, ORG, ID, b1, n1, &out, &len), BD_OK);
	assert_string_equal(out, SECRET);
	vault_wipe_free(out, len);
	assert_int_equal(vault_open(v2, ORG, ID, b2, n2, &out, &len), BD_OK);
	vault_wipe_free(out, len);
	/* Unknown key id: the old ring, and a ring that dropped k1. */
	assert_int_equal(vault_open(v1, ORG, ID, b2, n2, &out, &len),
	    BD_ERR_CRYPTO);
	assert_int_equal(vault_open(v3, ORG, ID, b1, n1, &out, &len),
	    BD_ERR_CRYPTO);

	/* Same id, different key bytes: does not open. */
	vault_free(v3);
	v3 = load("k1 " K2 "\n");
	assert_int_equal(vault_open(v3, ORG, ID, b1, n1, &out, &len),
	    BD_ERR_CRYPTO);

	free(b1);
	free(b2);
	vault_free(v1);
	vault_free(v2);
	vault_free(v3);
}

/* The ring's ids in file order; a re-seal moves a blob to the current key
 * and fails, changing nothing, on a blob the ring cannot open. */
static void
test_reseal(void **state)
{
	struct vault *v1 = load("k1 " K1 "\n");
	struct vault *v2 = load("# rotated\nk1 " K1 "\nk2 " K2 "\n");
	unsigned char *b1, *b2 = NULL, *b3 = (unsigned char *)"x";
	size_t n1, n2 = 0, n3 = 1, len;
	char *out, kid[LIM_KEY_ID_MAX + 1];

	(void)state;
	assert_int_equal(vault_key_count(v2), 2);
	assert_string_equal(vault_key_id(v2, 0), "k1");
	assert_string_equal(vault_key_id(v2, 1), "k2");
	assert_null(vault_key_id(v2, 2));
	assert_int_equal(vault_key_count(NULL), 0);

	seal(v1, ORG, ID, &b1, &n1);
	assert_int_equal(vault_reseal(v2, ORG, ID, b1, n1, &b2, &n2), BD_OK);
	assert_int_equal(vault_blob_key_id(b2, n2, kid), BD_OK);
	assert_string_equal(kid, "k2");
	assert_int_equal(vault_open(v2, ORG, ID, b2, n2, &out, &len), BD_OK);
	assert_string_equal(out, SECRET);
	vault_wipe_free(out, len);
	/* Sealed for another row, or under a key the ring lacks. */
	assert_int_equal(vault_reseal(v2, ORG, "other", b1, n1, &b3, &n3),
	    BD_ERR_CRYPTO);
	assert_null(b3);
	assert_int_equal(n3, 0);
	assert_int_equal(vault_reseal(v1, ORG, ID, b2, n2, &b3, &n3),
	    BD_ERR_CRYPTO);
	assert_null(b3);
	free(b1);
	free(b2);
	vault_free(v1);
	vault_free(v2);
}

static void
test_keyring_parse(void **state)
{
	static const struct {
		const char *name, *text, *err; /* err NULL: loads */
		size_t nkeys;
		const char *current;
	} cases[] = {
		{"one key", "k1 " K1 "\n", NULL, 1, "k1"},
		{"comments, blanks, CRLF, tabs, no final newline",
		    "# keys\n\n  \r\nk1\t" K1 "  \r\n# k9 x\nk.2_-Z " K2,
		    NULL, 2, "k.2_-Z"},
		{"empty", "", "no key", 0, NULL},
		{"comments only", "# nothing\n\n", "no key", 0, NULL},
		{"bad base64", "k1 " K1 "\nk2 !!!notbase64!!!\n", "base64", 0,
		    NULL},
		{"base64 with space",
		    "k1 AAECAwQFBgcICQoLDA0O DxAREhMUFRYXGBkaGxwdHh8=\n",
		    "base64", 0, NULL},
		{"missing padding",
		    "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n",
		    "base64", 0, NULL},
		{"16 bytes", "k1 AAECAwQFBgcICQoLDA0ODw==\n", "32 bytes", 0,
		    NULL},
		{"33 bytes",
		    "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g\n",
		    "32 bytes", 0, NULL},
		{"long line", "k1 " K1 K1 K1 K1 K1 K1 K1 "\n", "32 bytes", 0,
		    NULL},
		{"duplicate id", "k1 " K1 "\nk2 " K2 "\nk1 " K2 "\n",
		    "duplicate key id 'k1'", 0, NULL},
		{"no key bytes", "k1\n", "no key bytes", 0, NULL},
		{"key without id", K1 "\n", "bad key id", 0, NULL},
		{"bad id char", "k/1 " K1 "\n", "bad key id", 0, NULL},
		{"id too long",
		    "k23456789012345678901234567890123 " K1 "\n", "bad key id",
		    0, NULL},
	};
	struct vault *v;
	char err[256];
	const char *p;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p = write_file("parse", cases[i].text);
		v = NULL;
		err[0] = '\0';
		if (cases[i].err == NULL) {
			if (vault_load(&v, p, err, sizeof(err)) != BD_OK)
				fail_msg("%s: %s", cases[i].name, err);
			assert_string_equal(vault_current_key_id(v),
			    cases[i].current);
			vault_free(v);
			continue;
		}
		if (vault_load(&v, p, err, sizeof(err)) != BD_ERR_CONFIG)
			fail_msg("%s: loaded", cases[i].name);
		assert_null(v);
		if (strstr(err, cases[i].err) == NULL)
			fail_msg("%s: reason '%s'", cases[i].name, err);
		/* Reasons name the file, never key material. */
		assert_non_null(strstr(err, p));
		assert_null(strstr(err, "AAEC"));
		assert_null(strstr(err, "ICEi"));
	}

	v = NULL;
	assert_int_equal(vault_load(&v, path_of("missing"), err, sizeof(err)),
	    BD_ERR_CONFIG);
	assert_non_null(strstr(err, "keyring_file"));
	assert_int_equal(vault_load(&v, NULL, err, sizeof(err)),
	    BD_ERR_CONFIG);
	assert_int_equal(vault_load(&v, dir, err, sizeof(err)), BD_ERR_CONFIG);
	assert_null(v);
}

static void
test_keygen(void **state)
{
	struct vault *v = NULL;
	struct stat st;
	char err[256], kid[LIM_KEY_ID_MAX + 1];
	const char *p = path_of("keygen");
	unsigned char *b;
	size_t n, len;
	char *out;
	FILE *f;
	char line[256];
	int lines = 0;

	unlink(p);
	umask(022);
	assert_int_equal(vault_keygen(p, "k1", err, sizeof(err)), BD_OK);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(vault_load(&v, p, err, sizeof(err)), BD_OK);
	assert_string_equal(vault_current_key_id(v), "k1");
	seal(v, ORG, ID, &b, &n);
	vault_free(v);

	/* Appends: the new key seals, the old one still opens. */
	assert_int_equal(vault_keygen(p, "k2", err, sizeof(err)), BD_OK);
	assert_int_equal(vault_load(&v, p, err, sizeof(err)), BD_OK);
	assert_string_equal(vault_current_key_id(v), "k2");
	assert_int_equal(vault_open(v, ORG, ID, b, n, &out, &len), BD_OK);
	vault_wipe_free(out, len);
	vault_free(v);
	free(b);

	/* Duplicate and malformed ids are refused; the file is unchanged. */
	assert_int_equal(vault_keygen(p, "k1", err, sizeof(err)),
	    BD_ERR_CONFIG);
	assert_non_null(strstr(err, "k1"));
	assert_int_equal(vault_keygen(p, "bad id", err, sizeof(err)),
	    BD_ERR_CONFIG);
	assert_int_equal(vault_keygen(p, "", err, sizeof(err)), BD_ERR_CONFIG);

	/* id NULL: "k<unix time>". */
	assert_int_equal(vault_keygen(p, NULL, err, sizeof(err)), BD_OK);
	assert_int_equal(vault_load(&v, p, err, sizeof(err)), BD_OK);
	snprintf(kid, sizeof(kid), "%s", vault_current_key_id(v));
	assert_int_equal(kid[0], 'k');
	assert_true(strspn(kid + 1, "0123456789") == strlen(kid + 1));
	assert_true(strlen(kid) > 9);
	vault_free(v);

	f = fopen(p, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		lines++;
		assert_non_null(strchr(line, '\n'));
		assert_int_equal(strlen(line), strcspn(line, " ") + 1 + 44 + 1);
	}
	fclose(f);
	assert_int_equal(lines, 3);

	/* A ring whose last line lacks its newline keeps both keys apart. */
	p = write_file("nonl", "# ring\nk1 " K1);
	assert_int_equal(vault_keygen(p, "k2", err, sizeof(err)), BD_OK);
	assert_int_equal(vault_load(&v, p, err, sizeof(err)), BD_OK);
	assert_true(vault_has_key(v, "k1"));
	assert_string_equal(vault_current_key_id(v), "k2");
	vault_free(v);

	/* An existing but empty file is a ring to start. */
	p = write_file("empty", "");
	assert_int_equal(vault_keygen(p, "first", err, sizeof(err)), BD_OK);
	/* A broken ring is not appended to. */
	p = write_file("broken", "k1 nope\n");
	assert_int_equal(vault_keygen(p, "k2", err, sizeof(err)),
	    BD_ERR_CONFIG);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 8);
	/* Unwritable location. */
	assert_int_equal(vault_keygen(path_of("no/such/dir"), "k1", err,
	    sizeof(err)), BD_ERR_CONFIG);
}

static int
setup(void **state)
{
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	static const char *const names[] = {"ring", "parse", "keygen", "nonl",
	    "empty", "broken"};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(path_of(names[i]));
	return rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_binding),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_reseal),
		cmocka_unit_test(test_keyring_parse),
		cmocka_unit_test(test_keygen),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
