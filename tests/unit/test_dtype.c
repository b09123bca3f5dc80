/*
 * lib/dtype.c: the registry, DestinationInput validation, placeholders and
 * redaction. Table-driven; no DB, no network.
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

#define MAXPTRS 8

/* serviceAccountJson values, written as they appear inside a JSON string
 * in a C string literal: \\\" is a quote of the inner document, \\\\n a
 * "\n" escape inside it, and \\n a real newline (pretty-printed file). */
#define SA_OK                                                                \
	"{\\n\\\"type\\\":\\\"service_account\\\",\\n"                        \
	"\\\"client_email\\\":\\\"b@p.iam.gserviceaccount.com\\\",\\n"         \
	"\\\"private_key\\\":\\\"-----BEGIN PRIVATE KEY-----\\\\nMIIB\\\\n"    \
	"-----END PRIVATE KEY-----\\\\n\\\",\\n"                               \
	"\\\"token_uri\\\":\\\"https://oauth2.googleapis.com/token\\\"}\\n"
#define HOSTKEY "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
#define PEM "-----BEGIN OPENSSH PRIVATE KEY-----\\nb3Blbn\\n" \
	"-----END OPENSSH PRIVATE KEY-----\\n"
#define AZKEY "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq" \
	"/K1SZFPTOtr/KBHBeksoGMGw=="

/* ------------------------------------------------------------ helpers */

static json_object *
parse(const char *s)
{
	json_object *o = json_tokener_parse(s);

	assert_non_null(o);
	return o;
}

static json_object *
body_of(const char *name, const char *type, const char *config)
{
	char buf[8192];
	int n;

	n = snprintf(buf, sizeof(buf),
	    "{\"name\":\"%s\",\"destinationType\":\"%s\",\"config\":%s}",
	    name, type, config);
	assert_true(n > 0 && (size_t)n < sizeof(buf));
	return parse(buf);
}

static bool
has_ptr(const struct verrs *e, const char *ptr)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (strcmp(e->v[i].pointer, ptr) == 0)
			return true;
	return false;
}

static const char *
msg_at(const struct verrs *e, const char *ptr)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (strcmp(e->v[i].pointer, ptr) == 0)
			return e->v[i].message;
	return NULL;
}

static void
dump(const char *what, const struct verrs *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		print_message("  %s: %s -> %s\n", what, e->v[i].pointer,
		    e->v[i].message);
}

/* Exactly the listed pointers (in any order), NULL-terminated list. */
static void
expect_ptrs(const char *what, const struct verrs *e,
    const char *const *want)
{
	size_t n = 0;

	for (; want[n] != NULL; n++)
		if (!has_ptr(e, want[n])) {
			print_message("%s: missing error at '%s'\n", what,
			    want[n]);
			dump(what, e);
			fail();
		}
	if (e->n != n) {
		print_message("%s: %zu errors, want %zu\n", what, e->n, n);
		dump(what, e);
		fail();
	}
}

/* ----------------------------------------------------- valid configs */

static const struct {
	const char *type;
	const char *config;
} valid[] = {
	{ "s3", "{\"region\":\"us-east-1\",\"bucket\":\"my-bucket\","
	    "\"accessKeyId\":\"AKIAEXAMPLE\",\"secretAccessKey\":\"s3cr3t\"}" },
	{ "s3", "{\"endpoint\":\"https://minio.lan:9000\",\"region\":\"garage\","
	    "\"bucket\":\"Legacy_Bucket.v2\",\"prefix\":\"backups/nightly/\","
	    "\"accessKeyId\":\"minio\",\"secretAccessKey\":\"x y\","
	    "\"sessionToken\":\"FwoGZXIvYXdzE\",\"forcePathStyle\":true,"
	    "\"storageClass\":\"STANDARD_IA\"}" },
	{ "s3", "{\"endpoint\":\"HTTP://[::1]:9000/base?x=1\",\"region\":\"auto\","
	    "\"bucket\":\"b12\",\"accessKeyId\":\"k\",\"secretAccessKey\":\"s\","
	    "\"forcePathStyle\":false}" },
	{ "s3", "{\"region\":\"r\",\"bucket\":\"bkt\",\"prefix\":\"\","
	    "\"accessKeyId\":\"k\",\"secretAccessKey\":\"s\"}" },
	{ "gcs", "{\"bucket\":\"my_bucket\",\"serviceAccountJson\":\"" SA_OK
	    "\"}" },
	{ "gcs", "{\"bucket\":\"my_bucket\",\"prefix\":\"\","
	    "\"serviceAccountJson\":\"" SA_OK "\"}" },
	{ "azure_blob", "{\"accountName\":\"acct01\",\"container\":\"ccc\","
	    "\"prefix\":\"\",\"accountKey\":\"" AZKEY "\"}" },
	{ "gcs", "{\"bucket\":\"my.bucket.example.com\",\"prefix\":\"p/\","
	    "\"serviceAccountJson\":\"" SA_OK "\"}" },
	{ "azure_blob", "{\"accountName\":\"devstoreaccount1\","
	    "\"container\":\"backups\",\"accountKey\":\"" AZKEY "\"}" },
	{ "azure_blob", "{\"accountName\":\"acct01\",\"container\":\"$root\","
	    "\"sasToken\":\"?sv=2022-11-02&ss=b&sig=abc%2Bdef\","
	    "\"prefix\":\"x/\",\"endpoint\":\"http://10.0.0.5:10000/acct01\"}" },
	{ "sftp", "{\"host\":\"nas.lan\",\"username\":\"backup\","
	    "\"path\":\"backups\",\"password\":\"pw\"}" },
	{ "sftp", "{\"host\":\"192.168.1.10\",\"port\":2222,\"username\":\"b\","
	    "\"password\":\"pw\",\"privateKey\":\"" PEM "\","
	    "\"privateKeyPassphrase\":\"pp\",\"hostKeySha256\":\"" HOSTKEY "\","
	    "\"path\":\"/srv/backup\"}" },
	{ "sftp", "{\"host\":\"[2001:db8::1]\",\"username\":\"b\","
	    "\"privateKey\":\"" PEM "\",\"path\":\"/\",\"hostKeySha256\":"
	    "\"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"}" },
	{ "sftp", "{\"host\":\"2001:db8::2\",\"username\":\"b\","
	    "\"password\":\"p\",\"path\":\"/\",\"port\":65535}" },
	{ "sftp", "{\"host\":\"h\",\"username\":\"b\",\"password\":\"p\","
	    "\"path\":\"/\",\"hostKeySha256\":\"SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\","
	    "\"hostKeySha256Alternates\":[\"SHA256:X2PBQKuE3McQ+hVwaboqstijk/l13I62I+OCvL+7vS8\",\"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"]}" },
	{ "sftp", "{\"host\":\"h\",\"username\":\"b\",\"password\":\"p\","
	    "\"path\":\"/\",\"hostKeySha256\":\"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\","
	    "\"hostKeySha256Alternates\":[]}" },
	{ "ftp", "{\"host\":\"ftp.example.com\",\"username\":\"u\","
	    "\"password\":\"p\",\"path\":\"/up\"}" },
	{ "ftp", "{\"host\":\"ftp.example.com\",\"port\":990,\"username\":\"u\","
	    "\"password\":\"p\",\"tls\":\"implicit\",\"path\":\"/up\"}" },
	{ "ftp", "{\"host\":\"h\",\"port\":1,\"username\":\"u\","
	    "\"password\":\"p\",\"tls\":\"none\",\"path\":\"x\"}" },
	{ "webdav", "{\"url\":\"https://dav.example.com/remote.php/dav/\"}" },
	{ "webdav", "{\"url\":\"http://nas:5005/backups\",\"username\":\"u\","
	    "\"password\":\"p\"}" },
	{ "google_drive", "{}" },
	{ "google_drive", "{\"folderId\":\"1AbC_d-E\",\"clientId\":"
	    "\"123-abc.apps.googleusercontent.com\",\"clientSecret\":\"cs\"}" },
	{ "onedrive", "{}" },
	{ "onedrive", "{\"folderPath\":\"/Backups/Server 1\",\"driveId\":"
	    "\"b!AbC-123_x\",\"tenant\":\"contoso.onmicrosoft.com\","
	    "\"clientId\":\"00000000-0000-0000-0000-000000000000\","
	    "\"clientSecret\":\"cs\"}" },
	{ "local", "{\"path\":\"/srv/backups\"}" },
	{ "local", "{\"path\":\"/srv/backups/h\xc3\xa9llo w\"}" },
	{ "smb", "{\"host\":\"nas.lan\",\"share\":\"backups\","
	    "\"username\":\"u\",\"password\":\"p\"}" },
	{ "smb", "{\"host\":\"nas.lan\",\"share\":\"backups\",\"path\":\"\","
	    "\"username\":\"u\",\"password\":\"p\"}" },
	{ "smb", "{\"host\":\"10.0.0.9\",\"port\":1445,\"share\":\"Data $\","
	    "\"path\":\"srv\\\\nightly/./a\",\"domain\":\"CORP\","
	    "\"username\":\"u\",\"password\":\"p\","
	    "\"requireEncryption\":true}" },
	{ "dropbox", "{}" },
	{ "dropbox", "{\"folderPath\":\"/Backups/Server 1\",\"clientId\":"
	    "\"abcd1234efgh\",\"clientSecret\":\"cs\"}" },
};

static void
test_valid_configs(void **state)
{
	struct dest_input in;
	struct verrs e;
	json_object *b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		b = body_of("nightly", valid[i].type, valid[i].config);
		if (dtype_validate_input(b, false, &in, &e) != BD_OK) {
			print_message("valid[%zu] (%s) rejected\n", i,
			    valid[i].type);
			dump("valid", &e);
			fail();
		}
		assert_int_equal(e.n, 0);
		assert_string_equal(in.name, "nightly");
		assert_non_null(in.type);
		assert_string_equal(in.type->name, valid[i].type);
		assert_ptr_equal(in.config,
		    json_object_object_get(b, "config"));
		json_object_put(b);
	}
}

/* Every type has at least one minimal and one fuller valid config above. */
static void
test_every_type_covered(void **state)
{
	const struct dtype *t;
	size_t i, n;

	(void)state;
	for (t = dtype_table; t->name != NULL; t++) {
		for (i = n = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
			n += strcmp(valid[i].type, t->name) == 0;
		if (n < 2)
			print_message("type %s: %zu valid cases\n", t->name, n);
		assert_true(n >= 2);
	}
}

/* ------------------------------------------------------------ registry */

static void
test_registry(void **state)
{
	const struct dfield *f, *g;
	const struct dtype *t, *u;
	size_t n = 0;

	(void)state;
	/* Every row is complete and found by its own name; nothing here names
	 * a type, so a new row is checked without touching this test. */
	for (t = dtype_table; t->name != NULL; t++, n++) {
		print_message("type %s\n", t->name);
		assert_true(t->name[0] != '\0');
		assert_ptr_equal(dtype_find(t->name), t);
		assert_non_null(t->fields);
		assert_non_null(t->probe);
		assert_true(t->oauth < OAUTH__MAX);
		assert_int_equal(oauth_provider_of(t->name), t->oauth);
		for (u = dtype_table; u != t; u++)
			assert_true(strcmp(u->name, t->name) != 0 &&
			    (t->oauth == OAUTH_NONE || u->oauth != t->oauth));
		for (f = t->fields; f->name != NULL; f++) {
			if (f->type == DF_STRING)
				assert_true(f->maxlen == LIM_SHORT_MAX ||
				    f->maxlen == LIM_FIELD_MAX);
			if (f->type == DF_INT)
				assert_true(f->min == 1 && f->max == 65535);
			/* A secret never decides where secrets go. */
			assert_false((f->flags & DF_SECRET) &&
			    (f->flags & DF_LOCATING));
			for (g = t->fields; g != f; g++)
				assert_true(strcmp(g->name, f->name) != 0);
		}
	}
	assert_true(n >= 1);
	assert_null(dtype_find("S3"));
	assert_null(dtype_find("cifs"));
	assert_null(dtype_find(""));
	assert_null(dtype_find(NULL));
	assert_int_equal(oauth_provider_of("cifs"), OAUTH_NONE);
	assert_int_equal(oauth_provider_of(NULL), OAUTH_NONE);
}

/* The "must be one of" message and the OAuth list come from the table. */
static void
test_names(void **state)
{
	char all[512], oauth[256], small[8], want[512] = "";
	const struct dtype *t;
	size_t at = 0;

	(void)state;
	dtype_names(all, sizeof(all), false, ", ");
	dtype_names(oauth, sizeof(oauth), true, " and ");
	for (t = dtype_table; t->name != NULL; t++) {
		at += (size_t)snprintf(want + at, sizeof(want) - at, "%s%s",
		    t == dtype_table ? "" : ", ", t->name);
		if (t->oauth != OAUTH_NONE)
			assert_non_null(strstr(oauth, t->name));
		else
			assert_null(strstr(oauth, t->name));
	}
	assert_string_equal(all, want);
	assert_string_equal(oauth, "google_drive, onedrive and dropbox");
	dtype_names(small, sizeof(small), false, ", ");
	assert_true(strlen(small) < sizeof(small));
}

/* Availability is the row's rule: local follows the probe's own reading of
 * local_roots (" , " configures nothing), the others are always there. */
static void
test_available(void **state)
{
	static const struct {
		const char *roots;
		bool local;
	} c[] = {
		{NULL, false}, {"", false}, {" , ", false}, {",\t,", false},
		{"/srv/backups", true}, {" , /srv/backups", true},
	};
	const struct dtype *t, *local = dtype_find("local");
	struct dtype noprobe = {.name = "x", .fields = local->fields};
	struct cfg cf;
	char why[192];

	(void)state;
	memset(&cf, 0, sizeof(cf));
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		cf.local_roots = (char *)c[i].roots;
		why[0] = '\0';
		assert_int_equal(dtype_available(local, &cf, why, sizeof(why)),
		    c[i].local);
		if (!c[i].local)
			assert_non_null(strstr(why, "local_roots"));
		for (t = dtype_table; t->name != NULL; t++)
			if (t->unavailable == NULL)
				assert_true(dtype_available(t, &cf, why,
				    sizeof(why)));
	}
	assert_false(dtype_available(&noprobe, &cf, why, sizeof(why)));
	assert_non_null(strstr(why, "cannot be tested"));
}

/* The secret flags match the contract's x-secret markers exactly. */
static void
test_secret_flags(void **state)
{
	static const char *const secrets[] = { "s3.secretAccessKey",
		"s3.sessionToken", "gcs.serviceAccountJson",
		"azure_blob.accountKey", "azure_blob.sasToken", "sftp.password",
		"sftp.privateKey", "sftp.privateKeyPassphrase", "ftp.password",
		"webdav.password", "google_drive.clientSecret",
		"onedrive.clientSecret", "smb.password", "dropbox.clientSecret",
		NULL };
	const struct dtype *t;
	const struct dfield *f;
	char full[128];
	size_t i, n = 0;
	bool listed;

	(void)state;
	for (t = dtype_table; t->name != NULL; t++)
		for (f = t->fields; f->name != NULL; f++) {
			snprintf(full, sizeof(full), "%s.%s", t->name, f->name);
			for (listed = false, i = 0; secrets[i] != NULL; i++)
				listed |= strcmp(secrets[i], full) == 0;
			if (listed != ((f->flags & DF_SECRET) != 0)) {
				print_message("secret flag wrong: %s\n", full);
				fail();
			}
			n += listed;
		}
	assert_int_equal(n, 14);
}

/* -------------------------------------------- missing required fields */

/* For each type, take its fullest valid config and drop each required
 * field in turn: an error at exactly that field's pointer. */
static void
test_missing_required(void **state)
{
	const struct dtype *t;
	const struct dfield *f;
	struct dest_input in;
	struct verrs e;
	json_object *b, *cfg;
	char ptr[128];
	size_t i, best;

	(void)state;
	for (t = dtype_table; t->name != NULL; t++) {
		best = SIZE_MAX;
		for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
			if (strcmp(valid[i].type, t->name) == 0)
				best = i;
		assert_true(best != SIZE_MAX);
		for (f = t->fields; f->name != NULL; f++) {
			if (!(f->flags & DF_REQUIRED))
				continue;
			b = body_of("n", t->name, valid[best].config);
			cfg = json_object_object_get(b, "config");
			json_object_object_del(cfg, f->name);
			assert_int_equal(dtype_validate_input(b, false, &in, &e),
			    BD_ERR_INVALID);
			snprintf(ptr, sizeof(ptr), "/config/%s", f->name);
			if (!has_ptr(&e, ptr)) {
				print_message("%s: no error at %s\n", t->name,
				    ptr);
				dump("missing", &e);
				fail();
			}
			assert_string_equal(msg_at(&e, ptr), "is required");
			assert_null(in.type);
			json_object_put(b);
		}
	}
}

/* ------------------------------------------------- invalid inputs */

struct bad {
	const char *desc;
	const char *body; /* the whole request body */
	const char *ptrs[MAXPTRS];
};

#define S3_MIN "\"region\":\"us-east-1\",\"bucket\":\"bkt\"," \
	"\"accessKeyId\":\"k\",\"secretAccessKey\":\"s\""
#define SFTP_MIN "\"host\":\"h\",\"username\":\"u\",\"path\":\"/p\""
#define FTP_MIN "\"host\":\"h\",\"username\":\"u\",\"password\":\"p\"," \
	"\"path\":\"/p\""
#define BODY(type, cfg) \
	"{\"name\":\"n\",\"destinationType\":\"" type "\",\"config\":{" cfg "}}"

static const struct bad bad[] = {
	/* wrong JSON types */
	{ "port as string", BODY("sftp", SFTP_MIN ",\"password\":\"p\","
	    "\"port\":\"22\""), { "/config/port" } },
	{ "port as float", BODY("sftp", SFTP_MIN ",\"password\":\"p\","
	    "\"port\":22.0"), { "/config/port" } },
	{ "port as bool", BODY("ftp", FTP_MIN ",\"port\":true"),
	    { "/config/port" } },
	{ "bucket as number", BODY("s3", "\"region\":\"r\",\"bucket\":42,"
	    "\"accessKeyId\":\"k\",\"secretAccessKey\":\"s\""),
	    { "/config/bucket" } },
	{ "bool as string", BODY("s3", S3_MIN ",\"forcePathStyle\":\"true\""),
	    { "/config/forcePathStyle" } },
	{ "bool as number", BODY("s3", S3_MIN ",\"forcePathStyle\":1"),
	    { "/config/forcePathStyle" } },
	{ "null value", BODY("s3", S3_MIN ",\"prefix\":null"),
	    { "/config/prefix" } },
	{ "object value", BODY("webdav", "\"url\":{\"a\":1}"),
	    { "/config/url" } },
	{ "array value", BODY("local", "\"path\":[\"/a\"]"),
	    { "/config/path" } },
	/* ranges and enums */
	{ "port 0", BODY("sftp", SFTP_MIN ",\"password\":\"p\",\"port\":0"),
	    { "/config/port" } },
	{ "port 65536", BODY("ftp", FTP_MIN ",\"port\":65536"),
	    { "/config/port" } },
	{ "port huge", BODY("ftp", FTP_MIN ",\"port\":99999999999999999999"),
	    { "/config/port" } },
	{ "port negative", BODY("ftp", FTP_MIN ",\"port\":-21"),
	    { "/config/port" } },
	{ "tls unknown", BODY("ftp", FTP_MIN ",\"tls\":\"starttls\""),
	    { "/config/tls" } },
	{ "tls case", BODY("ftp", FTP_MIN ",\"tls\":\"Explicit\""),
	    { "/config/tls" } },
	{ "empty string", BODY("s3", S3_MIN ",\"storageClass\":\"\""),
	    { "/config/storageClass" } },
	/* unknown fields */
	{ "unknown config field", BODY("s3", S3_MIN ",\"foo\":1"),
	    { "/config/foo" } },
	{ "unknown config field escaped", BODY("s3", S3_MIN ",\"a/b~c\":1"),
	    { "/config/a~1b~0c" } },
	{ "unknown top-level", "{\"name\":\"n\",\"destinationType\":\"local\","
	    "\"config\":{\"path\":\"/x\"},\"status\":\"active\"}",
	    { "/status" } },
	{ "unknown top-level escaped", "{\"name\":\"n\",\"destinationType\":"
	    "\"local\",\"config\":{\"path\":\"/x\"},\"~/\":1}", { "/~0~1" } },
	{ "gdrive accessToken", BODY("google_drive", "\"accessToken\":\"ya29\""),
	    { "/config/accessToken" } },
	{ "gdrive refreshToken", BODY("google_drive", "\"folderId\":\"f\","
	    "\"refreshToken\":\"1//0g\",\"accessToken\":\"a\""),
	    { "/config/refreshToken", "/config/accessToken" } },
	{ "onedrive tokens", BODY("onedrive", "\"refreshToken\":\"x\""),
	    { "/config/refreshToken" } },
	{ "field of another type", BODY("local", "\"path\":\"/x\","
	    "\"bucket\":\"b\""), { "/config/bucket" } },
	/* several at once */
	{ "several", "{\"name\":\"\",\"destinationType\":\"s3\",\"config\":"
	    "{\"region\":\"r\",\"bucket\":1,\"extra\":true,"
	    "\"endpoint\":\"ftp://x\"},\"id\":\"x\"}",
	    { "/id", "/name", "/config/extra", "/config/endpoint",
	      "/config/bucket", "/config/accessKeyId",
	      "/config/secretAccessKey" } },
	/* top level */
	{ "missing everything", "{}",
	    { "/name", "/destinationType", "/config" } },
	{ "not an object", "[1,2]", { "" } },
	{ "type unknown, config fields not judged",
	    "{\"name\":\"n\",\"destinationType\":\"cifs\",\"config\":"
	    "{\"foo\":1}}", { "/destinationType" } },
	{ "type unknown, config not object",
	    "{\"name\":\"n\",\"destinationType\":\"cifs\",\"config\":\"x\"}",
	    { "/destinationType", "/config" } },
	{ "type not string", "{\"name\":\"n\",\"destinationType\":3,"
	    "\"config\":{}}", { "/destinationType" } },
	{ "type with NUL", "{\"name\":\"n\",\"destinationType\":\"s3\\u0000x\","
	    "\"config\":{}}", { "/destinationType" } },
	{ "config null", "{\"name\":\"n\",\"destinationType\":\"local\","
	    "\"config\":null}", { "/config" } },
	{ "config array", "{\"name\":\"n\",\"destinationType\":\"local\","
	    "\"config\":[]}", { "/config" } },
	/* name */
	{ "name empty", "{\"name\":\"\",\"destinationType\":\"local\","
	    "\"config\":{\"path\":\"/x\"}}", { "/name" } },
	{ "name blank", "{\"name\":\" \\u00a0\\u3000 \",\"destinationType\":"
	    "\"local\",\"config\":{\"path\":\"/x\"}}", { "/name" } },
	{ "name control", "{\"name\":\"a\\u0007b\",\"destinationType\":"
	    "\"local\",\"config\":{\"path\":\"/x\"}}", { "/name" } },
	{ "name newline", "{\"name\":\"a\\nb\",\"destinationType\":"
	    "\"local\",\"config\":{\"path\":\"/x\"}}", { "/name" } },
	{ "name C1 control", "{\"name\":\"a\\u0085b\",\"destinationType\":"
	    "\"local\",\"config\":{\"path\":\"/x\"}}", { "/name" } },
	{ "name number", "{\"name\":5,\"destinationType\":\"local\","
	    "\"config\":{\"path\":\"/x\"}}", { "/name" } },
	/* strings */
	{ "control char in password", BODY("ftp", "\"host\":\"h\","
	    "\"username\":\"u\",\"password\":\"p\\r\\nQUIT\",\"path\":\"/p\""),
	    { "/config/password" } },
	{ "NUL in local path", BODY("local", "\"path\":\"/srv\\u0000/etc\""),
	    { "/config/path" } },
	{ "newline in username", BODY("sftp", "\"host\":\"h\",\"username\":"
	    "\"u\\n\",\"path\":\"/p\",\"password\":\"p\""),
	    { "/config/username" } },
	/* per-field validators */
	{ "url userinfo", BODY("webdav", "\"url\":\"https://u:p@dav.x/\""),
	    { "/config/url" } },
	{ "url userinfo no password", BODY("s3", S3_MIN ",\"endpoint\":"
	    "\"http://key@minio.lan\""), { "/config/endpoint" } },
	{ "url scheme", BODY("webdav", "\"url\":\"ftp://dav.x/\""),
	    { "/config/url" } },
	{ "url file", BODY("webdav", "\"url\":\"file:///etc/passwd\""),
	    { "/config/url" } },
	{ "url no host", BODY("webdav", "\"url\":\"https:///path\""),
	    { "/config/url" } },
	{ "url only port", BODY("webdav", "\"url\":\"https://:443/\""),
	    { "/config/url" } },
	{ "url space", BODY("webdav", "\"url\":\"https://dav.x/a b\""),
	    { "/config/url" } },
	{ "url tab", BODY("webdav", "\"url\":\"https://dav.x/\\tb\""),
	    { "/config/url" } },
	{ "url backslash", BODY("webdav", "\"url\":\"https://a\\\\@b/\""),
	    { "/config/url" } },
	{ "url bad port", BODY("webdav", "\"url\":\"https://dav.x:0/\""),
	    { "/config/url" } },
	{ "url port too big", BODY("webdav", "\"url\":\"https://dav.x:70000\""),
	    { "/config/url" } },
	{ "url numeric host", BODY("webdav", "\"url\":\"http://0x7f000001/\""),
	    { "/config/url" } },
	{ "url short ipv4", BODY("webdav", "\"url\":\"http://127.1/\""),
	    { "/config/url" } },
	{ "url bad ipv6", BODY("webdav", "\"url\":\"http://[::g]/\""),
	    { "/config/url" } },
	{ "region charset", BODY("s3", "\"region\":\"us east\","
	    "\"bucket\":\"bkt\",\"accessKeyId\":\"k\","
	    "\"secretAccessKey\":\"s\""), { "/config/region" } },
	{ "bucket charset", BODY("s3", "\"region\":\"r\",\"bucket\":\"a/b\","
	    "\"accessKeyId\":\"k\",\"secretAccessKey\":\"s\""),
	    { "/config/bucket" } },
	{ "bucket too short", BODY("gcs", "\"bucket\":\"ab\","
	    "\"serviceAccountJson\":\"" SA_OK "\""), { "/config/bucket" } },
	{ "container upper", BODY("azure_blob", "\"accountName\":\"acct\","
	    "\"container\":\"Backups\",\"accountKey\":\"" AZKEY "\""),
	    { "/config/container" } },
	{ "container double dash", BODY("azure_blob", "\"accountName\":\"acct\","
	    "\"container\":\"a--b\",\"accountKey\":\"" AZKEY "\""),
	    { "/config/container" } },
	{ "account charset", BODY("azure_blob", "\"accountName\":\"my-acct\","
	    "\"container\":\"abc\",\"accountKey\":\"" AZKEY "\""),
	    { "/config/accountName" } },
	{ "account key not base64", BODY("azure_blob", "\"accountName\":"
	    "\"acct\",\"container\":\"abc\",\"accountKey\":\"not base64!\""),
	    { "/config/accountKey" } },
	{ "sas without sig", BODY("azure_blob", "\"accountName\":\"acct\","
	    "\"container\":\"abc\",\"sasToken\":\"sv=2022&ss=b\""),
	    { "/config/sasToken" } },
	{ "host with scheme", BODY("sftp", "\"host\":\"sftp://h\","
	    "\"username\":\"u\",\"path\":\"/p\",\"password\":\"p\""),
	    { "/config/host" } },
	{ "host with slash", BODY("ftp", "\"host\":\"h/x\",\"username\":\"u\","
	    "\"password\":\"p\",\"path\":\"/p\""), { "/config/host" } },
	{ "host with space", BODY("ftp", "\"host\":\"h x\",\"username\":\"u\","
	    "\"password\":\"p\",\"path\":\"/p\""), { "/config/host" } },
	{ "host with port", BODY("ftp", "\"host\":\"h:21\",\"username\":\"u\","
	    "\"password\":\"p\",\"path\":\"/p\""), { "/config/host" } },
	{ "host with user", BODY("ftp", "\"host\":\"u@h\",\"username\":\"u\","
	    "\"password\":\"p\",\"path\":\"/p\""), { "/config/host" } },
	{ "host label dash", BODY("ftp", "\"host\":\"-h.x\",\"username\":\"u\","
	    "\"password\":\"p\",\"path\":\"/p\""), { "/config/host" } },
	{ "host bad ipv4", BODY("ftp", "\"host\":\"10.0.0.256\","
	    "\"username\":\"u\",\"password\":\"p\",\"path\":\"/p\""),
	    { "/config/host" } },
	{ "host key short", BODY("sftp", SFTP_MIN ",\"password\":\"p\","
	    "\"hostKeySha256\":\"SHA256:abc\""), { "/config/hostKeySha256" } },
	{ "host key hex", BODY("sftp", SFTP_MIN ",\"password\":\"p\","
	    "\"hostKeySha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b"
	    "934ca495991b7852b855\""), { "/config/hostKeySha256" } },
	{ "host key bad chars", BODY("sftp", SFTP_MIN ",\"password\":\"p\","
	    "\"hostKeySha256\":\"47DEQpj8HBSa-_TImW+5JCeuQeRkm5NMpJWZG3hSuFU\""),
	    { "/config/hostKeySha256" } },
	{ "host key md5 prefix", BODY("sftp", SFTP_MIN ",\"password\":\"p\","
	    "\"hostKeySha256\":\"MD5:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSu\""),
	    { "/config/hostKeySha256" } },
	{ "alternates not an array", BODY("sftp", SFTP_MIN
	    ",\"password\":\"p\",\"hostKeySha256\":\"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\","
	    "\"hostKeySha256Alternates\":\"X2PBQKuE3McQ+hVwaboqstijk/l13I62I+OCvL+7vS8\""),
	    { "/config/hostKeySha256Alternates" } },
	{ "alternates null", BODY("sftp", SFTP_MIN
	    ",\"password\":\"p\",\"hostKeySha256\":\"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\","
	    "\"hostKeySha256Alternates\":null"),
	    { "/config/hostKeySha256Alternates" } },
	{ "alternates five", BODY("sftp", SFTP_MIN
	    ",\"password\":\"p\",\"hostKeySha256\":\"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\","
	    "\"hostKeySha256Alternates\":[\"X2PBQKuE3McQ+hVwaboqstijk/l13I62I+OCvL+7vS8\",\"X2PBQKuE3McQ+hVwaboqstijk/l13I62I+OCvL+7vS8\",\"X2PBQKuE3McQ+hVwaboqstijk/l13I62I+OCvL+7vS8\","
	    "\"X2PBQKuE3McQ+hVwaboqstijk/l13I62I+OCvL+7vS8\",\"X2PBQKuE3McQ+hVwaboqstijk/l13I62I+OCvL+7vS8\"]"), { "/config/hostKeySha256Alternates" } },
	{ "alternates bad items", BODY("sftp", SFTP_MIN
	    ",\"password\":\"p\",\"hostKeySha256\":\"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\","
	    "\"hostKeySha256Alternates\":[\"X2PBQKuE3McQ+hVwaboqstijk/l13I62I+OCvL+7vS8\",\"SHA256:abc\",7,\"\"]"),
	    { "/config/hostKeySha256Alternates/1",
	    "/config/hostKeySha256Alternates/2",
	    "/config/hostKeySha256Alternates/3" } },
	{ "alternates duplicate", BODY("sftp", SFTP_MIN
	    ",\"password\":\"p\",\"hostKeySha256\":\"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\","
	    "\"hostKeySha256Alternates\":[\"SHA256:X2PBQKuE3McQ+hVwaboqstijk/l13I62I+OCvL+7vS8\",\"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\","
	    "\"X2PBQKuE3McQ+hVwaboqstijk/l13I62I+OCvL+7vS8=\"]"), { "/config/hostKeySha256Alternates/2" } },
	{ "alternates without a pin", BODY("sftp", SFTP_MIN
	    ",\"password\":\"p\",\"hostKeySha256Alternates\":[\"X2PBQKuE3McQ+hVwaboqstijk/l13I62I+OCvL+7vS8\"]"),
	    { "/config/hostKeySha256Alternates" } },
	{ "private key not PEM", BODY("sftp", SFTP_MIN ",\"privateKey\":"
	    "\"hunter2\""), { "/config/privateKey" } },
	{ "local relative", BODY("local", "\"path\":\"srv/backups\""),
	    { "/config/path" } },
	{ "onedrive folderPath relative", BODY("onedrive",
	    "\"folderPath\":\"Backups\""), { "/config/folderPath" } },
	{ "onedrive tenant", BODY("onedrive", "\"tenant\":\"a/b\""),
	    { "/config/tenant" } },
	{ "gdrive folderId slash", BODY("google_drive",
	    "\"folderId\":\"../x\""), { "/config/folderId" } },
	{ "s3 storage class", BODY("s3", S3_MIN ",\"storageClass\":\"a b\""),
	    { "/config/storageClass" } },
	/* cross-field rules */
	{ "azure neither", BODY("azure_blob", "\"accountName\":\"acct\","
	    "\"container\":\"abc\""), { "/config" } },
	{ "azure both", BODY("azure_blob", "\"accountName\":\"acct\","
	    "\"container\":\"abc\",\"accountKey\":\"" AZKEY "\","
	    "\"sasToken\":\"sig=x\""), { "/config/sasToken" } },
	{ "sftp neither", BODY("sftp", SFTP_MIN), { "/config" } },
	{ "sftp passphrase without key", BODY("sftp", SFTP_MIN
	    ",\"password\":\"p\",\"privateKeyPassphrase\":\"pp\""),
	    { "/config/privateKeyPassphrase" } },
	{ "sftp passphrase only", BODY("sftp", SFTP_MIN
	    ",\"privateKeyPassphrase\":\"pp\""),
	    { "/config", "/config/privateKeyPassphrase" } },
	/* placeholder on create */
	{ "placeholder on create", BODY("s3", "\"region\":\"r\","
	    "\"bucket\":\"bkt\",\"accessKeyId\":\"k\","
	    "\"secretAccessKey\":\"********\""),
	    { "/config/secretAccessKey" } },
};

static void
test_bad_inputs(void **state)
{
	struct dest_input in;
	struct verrs e;
	json_object *b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = json_tokener_parse(bad[i].body);
		if (b == NULL) {
			print_message("%s: body does not parse\n", bad[i].desc);
			fail();
		}
		assert_int_equal(dtype_validate_input(b, false, &in, &e),
		    BD_ERR_INVALID);
		expect_ptrs(bad[i].desc, &e, bad[i].ptrs);
		for (size_t k = 0; k < e.n; k++)
			assert_true(e.v[k].message[0] != '\0');
		json_object_put(b);
	}
}

static void
test_messages(void **state)
{
	struct dest_input in;
	struct verrs e;
	json_object *b;

	(void)state;
	b = parse(BODY("s3", S3_MIN ",\"foo\":1,\"port\":1"));
	assert_int_equal(dtype_validate_input(b, false, &in, &e),
	    BD_ERR_INVALID);
	assert_string_equal(msg_at(&e, "/config/foo"), "unknown field");
	json_object_put(b);

	b = parse(BODY("s3", "\"region\":\"r\",\"bucket\":\"bkt\","
	    "\"accessKeyId\":\"k\",\"secretAccessKey\":\"********\""));
	assert_int_equal(dtype_validate_input(b, false, &in, &e),
	    BD_ERR_INVALID);
	assert_string_equal(msg_at(&e, "/config/secretAccessKey"),
	    "placeholder only allowed when updating");
	json_object_put(b);

	b = parse(BODY("ftp", FTP_MIN ",\"tls\":\"ssl\""));
	assert_int_equal(dtype_validate_input(b, false, &in, &e),
	    BD_ERR_INVALID);
	assert_string_equal(msg_at(&e, "/config/tls"),
	    "must be one of none, explicit, implicit");
	json_object_put(b);

	b = parse(BODY("sftp", SFTP_MIN ",\"password\":\"p\",\"port\":0"));
	assert_int_equal(dtype_validate_input(b, false, &in, &e),
	    BD_ERR_INVALID);
	assert_string_equal(msg_at(&e, "/config/port"),
	    "must be between 1 and 65535");
	json_object_put(b);
}

/* A body with a NUL or invalid UTF-8 built directly (JSON text cannot
 * carry invalid UTF-8 through every parser). */
static void
test_invalid_utf8(void **state)
{
	struct dest_input in;
	struct verrs e;
	json_object *b, *cfg;

	(void)state;
	b = parse(BODY("local", "\"path\":\"/x\""));
	json_object_object_add(b, "name",
	    json_object_new_string_len("ab\xc3", 3));
	assert_int_equal(dtype_validate_input(b, false, &in, &e),
	    BD_ERR_INVALID);
	expect_ptrs("name utf8", &e, (const char *const[]){ "/name", NULL });
	json_object_object_add(b, "name",
	    json_object_new_string_len("\xc0\xaf", 2)); /* overlong '/' */
	assert_int_equal(dtype_validate_input(b, false, &in, &e),
	    BD_ERR_INVALID);
	json_object_object_add(b, "name",
	    json_object_new_string_len("\xed\xa0\x80", 3)); /* surrogate */
	assert_int_equal(dtype_validate_input(b, false, &in, &e),
	    BD_ERR_INVALID);
	json_object_object_add(b, "name", json_object_new_string("ok"));
	cfg = json_object_object_get(b, "config");
	json_object_object_add(cfg, "path",
	    json_object_new_string_len("/x\xff", 3));
	assert_int_equal(dtype_validate_input(b, false, &in, &e),
	    BD_ERR_INVALID);
	expect_ptrs("path utf8", &e,
	    (const char *const[]){ "/config/path", NULL });
	assert_string_equal(e.v[0].message, "must be valid UTF-8");
	json_object_put(b);
}

/* Length limits: short fields at LIM_SHORT_MAX bytes, keys/JSON at
 * LIM_FIELD_MAX. */
static void
test_lengths(void **state)
{
	struct dest_input in;
	struct verrs e;
	json_object *b, *cfg;
	char *s;

	(void)state;
	s = malloc(LIM_FIELD_MAX + 2);
	assert_non_null(s);
	s[0] = '/';
	memset(s + 1, 'a', LIM_FIELD_MAX + 1);

	b = parse(BODY("local", "\"path\":\"/x\""));
	cfg = json_object_object_get(b, "config");
	json_object_object_add(cfg, "path",
	    json_object_new_string_len(s, LIM_SHORT_MAX));
	assert_int_equal(dtype_validate_input(b, false, &in, &e), BD_OK);
	json_object_object_add(cfg, "path",
	    json_object_new_string_len(s, LIM_SHORT_MAX + 1));
	assert_int_equal(dtype_validate_input(b, false, &in, &e),
	    BD_ERR_INVALID);
	expect_ptrs("path long", &e,
	    (const char *const[]){ "/config/path", NULL });
	json_object_put(b);

	b = parse(BODY("s3", S3_MIN));
	cfg = json_object_object_get(b, "config");
	json_object_object_add(cfg, "sessionToken",
	    json_object_new_string_len(s + 1, LIM_FIELD_MAX));
	assert_int_equal(dtype_validate_input(b, false, &in, &e), BD_OK);
	json_object_object_add(cfg, "sessionToken",
	    json_object_new_string_len(s + 1, LIM_FIELD_MAX + 1));
	assert_int_equal(dtype_validate_input(b, false, &in, &e),
	    BD_ERR_INVALID);
	expect_ptrs("token long", &e,
	    (const char *const[]){ "/config/sessionToken", NULL });
	json_object_put(b);
	free(s);
}

/* -------------------------------------------------------------- name */

static void
test_name_length(void **state)
{
	struct dest_input in;
	struct verrs e;
	json_object *b;
	char name[3 * 130 + 1];
	size_t i;

	(void)state;
	/* 128 two-byte characters (256 bytes): fine. */
	for (i = 0; i < 128; i++)
		memcpy(name + 2 * i, "\xc3\xa9", 2);
	name[256] = '\0';
	b = body_of(name, "local", "{\"path\":\"/x\"}");
	assert_int_equal(dtype_validate_input(b, false, &in, &e), BD_OK);
	assert_string_equal(in.name, name);
	json_object_put(b);

	/* 128 three-byte characters: fine; 129: too long. */
	for (i = 0; i < 129; i++)
		memcpy(name + 3 * i, "\xe2\x82\xac", 3);
	name[3 * 128] = '\0';
	b = body_of(name, "local", "{\"path\":\"/x\"}");
	assert_int_equal(dtype_validate_input(b, false, &in, &e), BD_OK);
	json_object_put(b);
	name[3 * 128] = '\xe2';
	name[3 * 129] = '\0';
	b = body_of(name, "local", "{\"path\":\"/x\"}");
	assert_int_equal(dtype_validate_input(b, false, &in, &e),
	    BD_ERR_INVALID);
	expect_ptrs("129 chars", &e, (const char *const[]){ "/name", NULL });
	assert_string_equal(e.v[0].message, "must be at most 128 characters");
	json_object_put(b);

	/* 128 ASCII ok, 129 not. */
	memset(name, 'a', 129);
	name[128] = '\0';
	b = body_of(name, "local", "{\"path\":\"/x\"}");
	assert_int_equal(dtype_validate_input(b, false, &in, &e), BD_OK);
	json_object_put(b);
	name[128] = 'a';
	name[129] = '\0';
	b = body_of(name, "local", "{\"path\":\"/x\"}");
	assert_int_equal(dtype_validate_input(b, false, &in, &e),
	    BD_ERR_INVALID);
	json_object_put(b);

	/* Emoji (4 bytes) and inner spaces are fine. */
	b = body_of("\xf0\x9f\x92\xbe backups", "local", "{\"path\":\"/x\"}");
	assert_int_equal(dtype_validate_input(b, false, &in, &e), BD_OK);
	json_object_put(b);
}

/* ------------------------------------------------------- placeholders */

static void
test_placeholder_allowed_on_update(void **state)
{
	struct dest_input in;
	struct verrs e;
	json_object *b;

	(void)state;
	b = parse(BODY("sftp", SFTP_MIN ",\"password\":\"********\","
	    "\"privateKey\":\"********\",\"privateKeyPassphrase\":\"********\""));
	assert_int_equal(dtype_validate_input(b, false, &in, &e),
	    BD_ERR_INVALID);
	expect_ptrs("create", &e, (const char *const[]){ "/config/password",
	    "/config/privateKey", "/config/privateKeyPassphrase", NULL });
	assert_int_equal(dtype_validate_input(b, true, &in, &e), BD_OK);
	assert_true(dtype_has_placeholder(in.type, in.config));
	json_object_put(b);

	/* A placeholder counts as present for the cross rules. */
	b = parse(BODY("azure_blob", "\"accountName\":\"acct\","
	    "\"container\":\"abc\",\"sasToken\":\"********\""));
	assert_int_equal(dtype_validate_input(b, true, &in, &e), BD_OK);
	json_object_put(b);

	/* The placeholder is only special in secret fields. */
	b = parse(BODY("local", "\"path\":\"********\""));
	assert_int_equal(dtype_validate_input(b, true, &in, &e),
	    BD_ERR_INVALID);
	expect_ptrs("non-secret", &e,
	    (const char *const[]){ "/config/path", NULL });
	json_object_put(b);
}

/* A placeholder keeps a secret only while the fields that decide where it
 * is sent stay as stored: otherwise an admin could point the destination
 * at their own server and receive the secret in the connection test. */
static void
test_placeholder_bound_to_location(void **state)
{
	const struct {
		const char *type, *stored, *input;
		const char *const *want; /* NULL: accepted */
	} cases[] = {
		{"ftp", "{\"host\":\"h\",\"username\":\"u\",\"password\":\"s\","
		    "\"path\":\"/p\"}", "{\"host\":\"evil\",\"username\":\"u\","
		    "\"password\":\"********\",\"path\":\"/p\"}",
		    (const char *const[]){"/config/host", NULL}},
		{"ftp", "{\"host\":\"h\",\"username\":\"u\",\"password\":\"s\","
		    "\"path\":\"/p\"}", "{\"host\":\"h\",\"username\":\"u2\","
		    "\"password\":\"********\",\"path\":\"/q\",\"port\":21,"
		    "\"tls\":\"none\"}",
		    (const char *const[]){"/config/port", "/config/tls", NULL}},
		{"ftp", "{\"host\":\"h\",\"username\":\"u\",\"password\":\"s\","
		    "\"path\":\"/p\"}", "{\"host\":\"h\",\"username\":\"u2\","
		    "\"password\":\"********\",\"path\":\"/q\"}", NULL},
		{"webdav", "{\"url\":\"https://a/x/\",\"password\":\"s\"}",
		    "{\"url\":\"https://b/x/\",\"password\":\"********\"}",
		    (const char *const[]){"/config/url", NULL}},
		{"s3", "{\"region\":\"r\",\"bucket\":\"b\",\"accessKeyId\":\"k\","
		    "\"secretAccessKey\":\"s\"}", "{\"region\":\"r\",\"bucket\":"
		    "\"b2\",\"accessKeyId\":\"k\",\"secretAccessKey\":\"********\","
		    "\"endpoint\":\"https://evil\"}",
		    (const char *const[]){"/config/endpoint", NULL}},
		{"sftp", "{\"host\":\"h\",\"username\":\"u\",\"password\":\"s\","
		    "\"path\":\"/p\",\"hostKeySha256\":\"SHA256:"
		    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
		    "{\"host\":\"h\",\"username\":\"u\",\"password\":\"********\","
		    "\"path\":\"/p\"}",
		    (const char *const[]){"/config/hostKeySha256", NULL}},
		{"azure_blob", "{\"accountName\":\"a\",\"container\":\"c\","
		    "\"accountKey\":\"QUJD\"}", "{\"accountName\":\"evil\","
		    "\"container\":\"c\",\"accountKey\":\"********\"}",
		    (const char *const[]){"/config/accountName", NULL}},
		/* A changed location with the secret sent again is fine. */
		{"ftp", "{\"host\":\"h\",\"username\":\"u\",\"password\":\"s\","
		    "\"path\":\"/p\"}", "{\"host\":\"new\",\"username\":\"u\","
		    "\"password\":\"s2\",\"path\":\"/p\"}", NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct dtype *t = dtype_find(cases[i].type);
		json_object *cfg = parse(cases[i].input);
		json_object *stored = parse(cases[i].stored);
		struct verrs e;

		memset(&e, 0, sizeof(e));
		print_message("case %zu (%s)\n", i, cases[i].type);
		if (cases[i].want == NULL) {
			assert_int_equal(dtype_merge_placeholders(t, cfg, stored,
			    &e), BD_OK);
			assert_false(dtype_has_placeholder(t, cfg));
		} else {
			assert_int_equal(dtype_merge_placeholders(t, cfg, stored,
			    &e), BD_ERR_INVALID);
			expect_ptrs(cases[i].type, &e, cases[i].want);
		}
		json_object_put(cfg);
		json_object_put(stored);
	}
}

static void
test_merge_placeholders(void **state)
{
	const struct dtype *t = dtype_find("sftp");
	json_object *cfg, *stored, *v;
	struct verrs e = { 0 };

	(void)state;
	cfg = parse("{\"host\":\"h\",\"username\":\"u\",\"path\":\"/p\","
	    "\"password\":\"********\",\"privateKeyPassphrase\":\"new\"}");
	/* Same host: a placeholder never follows a changed location
	 * (test_placeholder_bound_to_location). */
	stored = parse("{\"host\":\"h\",\"username\":\"old\",\"path\":\"/p\","
	    "\"password\":\"stored-pw\",\"privateKeyPassphrase\":\"old\"}");
	assert_true(dtype_has_placeholder(t, cfg));
	assert_int_equal(dtype_merge_placeholders(t, cfg, stored, &e), BD_OK);
	assert_int_equal(e.n, 0);
	v = json_object_object_get(cfg, "password");
	assert_string_equal(json_object_get_string(v), "stored-pw");
	/* Non-placeholder values are the client's, not the stored ones. */
	assert_string_equal(json_object_get_string(
	    json_object_object_get(cfg, "privateKeyPassphrase")), "new");
	assert_string_equal(json_object_get_string(
	    json_object_object_get(cfg, "host")), "h");
	assert_false(dtype_has_placeholder(t, cfg));
	/* stored is untouched and independent. */
	assert_string_equal(json_object_get_string(
	    json_object_object_get(stored, "password")), "stored-pw");
	json_object_put(cfg);
	json_object_put(stored);

	/* Placeholder without a stored value: error at its pointer. */
	cfg = parse("{\"host\":\"h\",\"username\":\"u\",\"path\":\"/p\","
	    "\"password\":\"p\",\"privateKey\":\"********\"}");
	stored = parse("{\"host\":\"h\",\"username\":\"u\",\"path\":\"/p\","
	    "\"password\":\"p\"}");
	assert_int_equal(dtype_merge_placeholders(t, cfg, stored, &e),
	    BD_ERR_INVALID);
	expect_ptrs("no stored", &e,
	    (const char *const[]){ "/config/privateKey", NULL });
	json_object_put(cfg);
	e.n = 0;

	/* No stored config at all. */
	cfg = parse("{\"password\":\"********\"}");
	assert_int_equal(dtype_merge_placeholders(t, cfg, NULL, &e),
	    BD_ERR_INVALID);
	expect_ptrs("null stored", &e,
	    (const char *const[]){ "/config/password", NULL });
	json_object_put(cfg);
	json_object_put(stored);
	e.n = 0;

	/* Nothing to merge. */
	cfg = parse("{\"password\":\"x\"}");
	assert_int_equal(dtype_merge_placeholders(t, cfg, NULL, &e), BD_OK);
	assert_false(dtype_has_placeholder(t, cfg));
	assert_false(dtype_has_placeholder(NULL, cfg));
	json_object_put(cfg);
}

/* ---------------------------------------------------------- redaction */

#define SENTINEL "SENTINEL-7f3a9c-secret"

/* For every secret field of every type: the sentinel never survives
 * redaction and the field reads "********". */
static void
test_redact_every_secret(void **state)
{
	const struct dtype *t;
	const struct dfield *f, *g;
	json_object *cfg, *red, *v;
	const char *text;
	size_t n = 0;

	(void)state;
	for (t = dtype_table; t->name != NULL; t++) {
		for (f = t->fields; f->name != NULL; f++) {
			if (!(f->flags & DF_SECRET))
				continue;
			cfg = json_object_new_object();
			for (g = t->fields; g->name != NULL; g++)
				if (g->type == DF_STRING)
					json_object_object_add(cfg, g->name,
					    json_object_new_string(g == f ?
					    SENTINEL : "plain"));
			red = dtype_redact(t, cfg);
			assert_non_null(red);
			text = json_object_to_json_string(red);
			if (strstr(text, SENTINEL) != NULL) {
				print_message("%s.%s leaks: %s\n", t->name,
				    f->name, text);
				fail();
			}
			v = json_object_object_get(red, f->name);
			assert_non_null(v);
			assert_string_equal(json_object_get_string(v),
			    DTYPE_PLACEHOLDER);
			json_object_put(red);
			json_object_put(cfg);
			n++;
		}
	}
	assert_int_equal(n, 14);
}

static void
test_redact_shape(void **state)
{
	json_object *cfg, *red;
	const char *text;

	(void)state;
	/* Registry order, non-secrets copied, unknown/internal fields gone. */
	cfg = parse("{\"clientSecret\":\"cs\",\"accessToken\":\"" SENTINEL "\","
	    "\"refreshToken\":\"" SENTINEL "\",\"folderId\":\"f1\","
	    "\"tokenExpiresAt\":123}");
	red = dtype_redact(dtype_find("google_drive"), cfg);
	text = json_object_to_json_string_ext(red, JSON_C_TO_STRING_PLAIN);
	assert_string_equal(text,
	    "{\"folderId\":\"f1\",\"clientSecret\":\"********\"}");
	json_object_put(red);
	json_object_put(cfg);

	cfg = parse("{\"port\":2222,\"host\":\"h\",\"password\":\"pw\","
	    "\"hostKeySha256\":\"" HOSTKEY "\"}");
	red = dtype_redact(dtype_find("sftp"), cfg);
	text = json_object_to_json_string_ext(red,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	assert_string_equal(text, "{\"host\":\"h\",\"port\":2222,"
	    "\"password\":\"********\",\"hostKeySha256\":\"" HOSTKEY "\"}");
	json_object_put(red);
	json_object_put(cfg);

	cfg = parse("{\"forcePathStyle\":true,\"secretAccessKey\":42}");
	red = dtype_redact(dtype_find("s3"), cfg);
	text = json_object_to_json_string_ext(red, JSON_C_TO_STRING_PLAIN);
	assert_string_equal(text, "{\"secretAccessKey\":\"********\","
	    "\"forcePathStyle\":true}");
	json_object_put(red);

	/* Degenerate inputs give an empty object. */
	red = dtype_redact(NULL, cfg);
	assert_string_equal(json_object_to_json_string_ext(red,
	    JSON_C_TO_STRING_PLAIN), "{}");
	json_object_put(red);
	json_object_put(cfg);
}

/* -------------------------------------- secrets never in messages */

static void
test_sa_json_not_echoed(void **state)
{
	static const char *const sa[] = {
		"{\\\"type\\\":\\\"" SENTINEL "\\\"}",
		SENTINEL,
		"{\\\"type\\\":\\\"service_account\\\",\\\"client_email\\\":"
		    "\\\"" SENTINEL "\\\"}",
		"[\\\"" SENTINEL "\\\"]",
		"{\\\"type\\\":\\\"service_account\\\",\\\"client_email\\\":\\\"e"
		    "\\\",\\\"private_key\\\":\\\"" SENTINEL "\\\","
		    "\\\"token_uri\\\":\\\"ftp://x\\\"}",
		/* issue 13 item 5: a control character in token_uri */
		"{\\\"type\\\":\\\"service_account\\\",\\\"client_email\\\":\\\"e"
		    "\\\",\\\"private_key\\\":\\\"" SENTINEL "\\\","
		    "\\\"token_uri\\\":\\\"https://t.example/token\\\\r\\\\n\\\"}",
		"{\\\"a\\\":1} trailing " SENTINEL,
	};
	struct dest_input in;
	struct verrs e;
	json_object *b, *errs;
	char cfg[1024];
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(sa) / sizeof(sa[0]); i++) {
		snprintf(cfg, sizeof(cfg), "{\"bucket\":\"bkt\","
		    "\"serviceAccountJson\":\"%s\"}", sa[i]);
		b = body_of("n", "gcs", cfg);
		assert_int_equal(dtype_validate_input(b, false, &in, &e),
		    BD_ERR_INVALID);
		expect_ptrs("sa", &e, (const char *const[]){
		    "/config/serviceAccountJson", NULL });
		for (k = 0; k < e.n; k++)
			assert_null(strstr(e.v[k].message, SENTINEL));
		errs = verrs_json(&e);
		assert_null(strstr(json_object_to_json_string(errs), SENTINEL));
		json_object_put(errs);
		json_object_put(b);
	}
}

/* No message of any rejected secret field echoes its value. */
static void
test_secret_values_not_echoed(void **state)
{
	const struct dtype *t;
	const struct dfield *f;
	struct dest_input in;
	struct verrs e;
	json_object *b, *cfg;
	size_t k;

	(void)state;
	for (t = dtype_table; t->name != NULL; t++)
		for (f = t->fields; f->name != NULL; f++) {
			b = body_of("n", t->name, "{}");
			cfg = json_object_object_get(b, "config");
			/* A control char makes every string field invalid. */
			json_object_object_add(cfg, f->name,
			    json_object_new_string(SENTINEL "\x01"));
			dtype_validate_input(b, false, &in, &e);
			for (k = 0; k < e.n; k++)
				assert_null(strstr(e.v[k].message, SENTINEL));
			json_object_put(b);
		}
}

/* --------------------------------------------------------- verrs */

static void
test_verrs_overflow(void **state)
{
	struct dest_input in;
	struct verrs e;
	json_object *b, *errs;
	char key[16];
	int i;

	(void)state;
	b = parse(BODY("local", "\"path\":\"/x\""));
	for (i = 0; i < LIM_VERRS_MAX + 10; i++) {
		snprintf(key, sizeof(key), "x%d", i);
		json_object_object_add(b, key, json_object_new_int(i));
	}
	assert_int_equal(dtype_validate_input(b, false, &in, &e),
	    BD_ERR_INVALID);
	assert_int_equal(e.n, LIM_VERRS_MAX);
	assert_string_equal(e.v[0].pointer, "/x0");
	assert_string_equal(e.v[LIM_VERRS_MAX - 2].pointer, "/x30");
	assert_string_equal(e.v[LIM_VERRS_MAX - 1].pointer, "");
	assert_non_null(strstr(e.v[LIM_VERRS_MAX - 1].message, "too many"));
	errs = verrs_json(&e);
	assert_int_equal(json_object_array_length(errs), LIM_VERRS_MAX);
	json_object_put(errs);
	json_object_put(b);
}

static bool
valid_utf8(const char *s)
{
	json_tokener *tok = json_tokener_new();
	json_object *o;
	char buf[1024];
	bool ok;

	json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
	snprintf(buf, sizeof(buf), "\"%s\"", s);
	o = json_tokener_parse_ex(tok, buf, (int)strlen(buf));
	ok = o != NULL;
	json_object_put(o);
	json_tokener_free(tok);
	return ok;
}

static void
test_verrs_truncation(void **state)
{
	struct verrs e = { 0 };
	char longp[600], longm[600];
	json_object *b, *cfg;
	struct dest_input in;
	size_t i;

	(void)state;
	/* Multi-byte characters straddling the buffer ends are cut whole. */
	longp[0] = '/';
	for (i = 0; i < 199; i++)
		memcpy(longp + 1 + 3 * i, "\xe2\x82\xac", 3);
	longp[598] = '\0';
	memset(longm, 0, sizeof(longm));
	for (i = 0; i < 199; i++)
		memcpy(longm + 3 * i, "\xe2\x82\xac", 3);
	verrs_add(&e, longp, "%s", longm);
	assert_int_equal(e.n, 1);
	assert_true(strlen(e.v[0].pointer) < sizeof(e.v[0].pointer));
	assert_true(strlen(e.v[0].message) < sizeof(e.v[0].message));
	assert_true(strlen(e.v[0].pointer) % 3 == 1);
	assert_true(strlen(e.v[0].message) % 3 == 0);
	assert_true(valid_utf8(e.v[0].pointer));
	assert_true(valid_utf8(e.v[0].message));

	/* An unknown member with invalid UTF-8 and a long name. */
	b = parse(BODY("local", "\"path\":\"/x\""));
	cfg = json_object_object_get(b, "config");
	memset(longp, 'a', 500);
	memcpy(longp, "\xff~/", 3);
	longp[500] = '\0';
	json_object_object_add(cfg, longp, json_object_new_int(1));
	assert_int_equal(dtype_validate_input(b, false, &in, &e),
	    BD_ERR_INVALID);
	assert_int_equal(e.n, 1);
	assert_true(strncmp(e.v[0].pointer, "/config/\xef\xbf\xbd~0~1aaa",
	    sizeof("/config/\xef\xbf\xbd~0~1aaa") - 1) == 0);
	assert_true(valid_utf8(e.v[0].pointer));
	json_object_put(b);
}

static void
test_verrs_json(void **state)
{
	struct verrs e = { 0 };
	json_object *a, *o;

	(void)state;
	a = verrs_json(&e);
	assert_int_equal(json_object_array_length(a), 0);
	json_object_put(a);
	verrs_add(&e, "/config/bucket", "must be %s", "a string");
	verrs_add(&e, "/name", "is required");
	a = verrs_json(&e);
	assert_int_equal(json_object_array_length(a), 2);
	o = json_object_array_get_idx(a, 0);
	assert_string_equal(json_object_get_string(
	    json_object_object_get(o, "pointer")), "/config/bucket");
	assert_string_equal(json_object_get_string(
	    json_object_object_get(o, "message")), "must be a string");
	assert_string_equal(json_object_to_json_string_ext(a,
	    JSON_C_TO_STRING_PLAIN),
	    "[{\"pointer\":\"\\/config\\/bucket\",\"message\":\"must be a "
	    "string\"},{\"pointer\":\"\\/name\",\"message\":\"is required\"}]");
	json_object_put(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_available),
		cmocka_unit_test(test_secret_flags),
		cmocka_unit_test(test_every_type_covered),
		cmocka_unit_test(test_valid_configs),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_name_length),
		cmocka_unit_test(test_placeholder_allowed_on_update),
		cmocka_unit_test(test_merge_placeholders),
		cmocka_unit_test(test_redact_every_secret),
		cmocka_unit_test(test_redact_shape),
		cmocka_unit_test(test_sa_json_not_echoed),
		cmocka_unit_test(test_secret_values_not_echoed),
		cmocka_unit_test(test_placeholder_bound_to_location),
		cmocka_unit_test(test_verrs_overflow),
		cmocka_unit_test(test_verrs_truncation),
		cmocka_unit_test(test_verrs_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
