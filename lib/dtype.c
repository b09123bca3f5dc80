/*
 * The destination type registry and everything that walks it: validation of
 * a DestinationInput, the PUT placeholder rule and redaction. The rows follow
 * the contract's per-type schemas (api/openapi.yaml, S3Config ... LocalConfig)
 * field for field; a field not listed here is unknown (422) on input and is
 * dropped on output.
 *
 * Messages are static sentences: they never contain a submitted value, so a
 * secret typed into the wrong field cannot come back in a 422.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "dtype.h"
#include "probe/probe_smb.h"
#include "url.h"
#include "utf8.h"

/*
 * File-local field flag: the value may contain \n, \r and \t (a PEM private
 * key, a pretty-printed JSON key file). Every other string rejects all
 * control characters. Kept out of dtype.h: only this file interprets it.
 */
#define DF_MULTILINE 0x100u

#define PLACEHOLDER_LEN (sizeof(DTYPE_PLACEHOLDER) - 1)
#define VERRS_FULL_MSG "too many errors; the rest are not listed"

/* ---------------------------------------------------------------- UTF-8 */

static bool
is_control(uint32_t c, bool multiline)
{
	if (multiline && (c == '\n' || c == '\r' || c == '\t'))
		return false;
	return utf8_is_control(c);
}

/* Unicode White_Space plus the invisible zero-width characters: a name made
 * of these alone shows as nothing in a list. */
static bool
is_blank(uint32_t c)
{
	return c == ' ' || (c >= 0x09 && c <= 0x0d) || c == 0x85 ||
	    c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200d) ||
	    c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
	    c == 0x2060 || c == 0x3000 || c == 0xfeff;
}

struct scan {
	size_t chars;  /* code points */
	bool invalid;  /* not UTF-8 */
	bool control;  /* a control character (NUL included) */
	bool blank;    /* only whitespace (true for "") */
};

static void
utf8_scan(const char *str, size_t len, bool multiline, struct scan *r)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, n;
	uint32_t c;

	memset(r, 0, sizeof(*r));
	r->blank = true;
	while (i < len) {
		if ((n = utf8_next(s + i, len - i, &c)) == 0) {
			r->invalid = true;
			return;
		}
		if (is_control(c, multiline))
			r->control = true;
		if (!is_blank(c))
			r->blank = false;
		r->chars++;
		i += n;
	}
}

/*
 * Copy src[0..len) into dst (size dstsz >= 1), always NUL-terminated,
 * cutting only between characters; bytes that are not UTF-8 become U+FFFD,
 * so the output is valid UTF-8 whatever came in. With escape, '~' and '/'
 * are written "~0" and "~1" (RFC 6901 §3, a reference token).
 */
static void
utf8_copy(char *dst, size_t dstsz, const char *src, size_t len, bool escape)
{
	static const char repl[] = "\xef\xbf\xbd";
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, o = 0, n;
	const char *piece;
	size_t plen;
	uint32_t c;

	while (i < len) {
		if ((n = utf8_next(s + i, len - i, &c)) == 0) {
			piece = repl, plen = 3, n = 1;
		} else if (escape && c == '~') {
			piece = "~0", plen = 2;
		} else if (escape && c == '/') {
			piece = "~1", plen = 2;
		} else {
			piece = src + i, plen = n;
		}
		if (o + plen >= dstsz)
			break;
		memcpy(dst + o, piece, plen);
		o += plen;
		i += n;
	}
	dst[o] = '\0';
}

/* base + "/" + escaped member into out (a verr pointer buffer). */
static void
ptr_join(char *out, size_t outsz, const char *base, const char *member)
{
	size_t b = strlen(base);

	if (b + 2 > outsz) {
		utf8_copy(out, outsz, base, b, false);
		return;
	}
	memcpy(out, base, b);
	out[b] = '/';
	utf8_copy(out + b + 1, outsz - b - 1, member, strlen(member), true);
}

/* ------------------------------------------------------- error list */

/*
 * Append one error. Pointer and message are cut to their buffers between
 * characters (never inside a UTF-8 sequence). When the list is full, its
 * last entry becomes a marker at "" (the whole document, RFC 6901) saying
 * that more errors exist, and later errors are dropped.
 */
void
verrs_add(struct verrs *e, const char *pointer, const char *fmt, ...)
{
	char msg[512];
	struct verr *v;
	va_list ap;
	int n;

	if (e == NULL)
		return;
	if (e->n >= LIM_VERRS_MAX) {
		v = &e->v[LIM_VERRS_MAX - 1];
		v->pointer[0] = '\0';
		utf8_copy(v->message, sizeof(v->message), VERRS_FULL_MSG,
		    sizeof(VERRS_FULL_MSG) - 1, false);
		e->n = LIM_VERRS_MAX;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		msg[0] = '\0';
	v = &e->v[e->n++];
	pointer = pointer ? pointer : "";
	utf8_copy(v->pointer, sizeof(v->pointer), pointer, strlen(pointer),
	    false);
	utf8_copy(v->message, sizeof(v->message), msg, strlen(msg), false);
}

/* [{"pointer": ..., "message": ...}, ...]; new reference, NULL on OOM. */
json_object *
verrs_json(const struct verrs *e)
{
	json_object *arr, *o;
	size_t i;

	if ((arr = json_object_new_array()) == NULL)
		return NULL;
	for (i = 0; e != NULL && i < e->n && i < LIM_VERRS_MAX; i++) {
		if ((o = json_object_new_object()) == NULL)
			goto fail;
		json_object_object_add(o, "pointer",
		    json_object_new_string(e->v[i].pointer));
		json_object_object_add(o, "message",
		    json_object_new_string(e->v[i].message));
		if (json_object_array_add(arr, o) != 0) {
			json_object_put(o);
			goto fail;
		}
	}
	return arr;
fail:
	json_object_put(arr);
	return NULL;
}

/* ------------------------------------------------ per-value validators */

static bool
is_alnum(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z');
}

static bool
all_in(const char *s, const char *extra, bool upper)
{
	for (; *s; s++) {
		if (!upper && *s >= 'A' && *s <= 'Z')
			return false;
		if (!is_alnum((unsigned char)*s) && strchr(extra, *s) == NULL)
			return false;
	}
	return true;
}

/* sftp/ftp host: a name or an IP literal, nothing else (no scheme, port,
 * path, user). IPv6 may be written bare or in brackets. */
static const char *
check_host(const char *v)
{
	size_t len = strlen(v);

	if (strchr(v, ':') != NULL) {
		if (v[0] == '[' && len > 2 && v[len - 1] == ']' &&
		    url_ipv6_ok(v + 1, len - 2))
			return NULL;
		if (url_ipv6_ok(v, len))
			return NULL;
	} else if (url_host_ok(v, len))
		return NULL;
	return "must be a host name or IP address, without scheme, port, "
	    "user or path";
}

/* endpoint / url / token_uri: the service's one URL rule (url.h), with a
 * query allowed and the host as written checked (URL_STRICT_HOST). */
static const char *
check_url(const char *v)
{
	enum url_err e = url_parse(v, URL_QUERY | URL_STRICT_HOST, NULL);

	return e == URL_OK ? NULL : url_strerror(e);
}

/* AWS and S3-compatible region names ("us-east-1", "auto", "garage"). */
static const char *
check_region(const char *v)
{
	if (strlen(v) > 64 || !all_in(v, "-_", true))
		return "may contain only letters, digits, '-' and '_'";
	return NULL;
}

/*
 * S3 and GCS bucket names: 3..222 of letters, digits, '.', '-', '_',
 * starting and ending with a letter or digit. Upper case and '_' are legacy
 * S3 / GCS forms that still exist.
 */
static const char *
check_bucket(const char *v)
{
	size_t len = strlen(v);

	if (len < 3 || len > 222 || !all_in(v, ".-_", true) ||
	    !is_alnum((unsigned char)v[0]) ||
	    !is_alnum((unsigned char)v[len - 1]))
		return "must be 3 to 222 letters, digits, '.', '-' or '_', "
		    "starting and ending with a letter or digit";
	return NULL;
}

/* Azure container: 3..63 of [a-z0-9-], no "--", alnum at both ends; or one
 * of the special containers (Azure "Naming and referencing containers"). */
static const char *
check_container(const char *v)
{
	size_t len = strlen(v);

	if (strcmp(v, "$root") == 0 || strcmp(v, "$web") == 0 ||
	    strcmp(v, "$logs") == 0)
		return NULL;
	if (len < 3 || len > 63 || !all_in(v, "-", false) ||
	    strstr(v, "--") != NULL || v[0] == '-' || v[len - 1] == '-')
		return "must be 3 to 63 lower-case letters, digits and single "
		    "'-', starting and ending with a letter or digit";
	return NULL;
}

/* Azure storage account: 3..24 lower-case letters and digits. */
static const char *
check_account(const char *v)
{
	size_t len = strlen(v);

	if (len < 3 || len > 24 || !all_in(v, "", false))
		return "must be 3 to 24 lower-case letters and digits";
	return NULL;
}

static const char *
check_storage_class(const char *v)
{
	if (strlen(v) > 64 || !all_in(v, "_-", true))
		return "may contain only letters, digits, '_' and '-'";
	return NULL;
}

/* Identifiers that end up inside URL paths or headers (client ids, drive
 * and folder ids, access key ids): visible ASCII, none of / ? # % \ . */
static const char *
check_token(const char *v)
{
	for (; *v; v++)
		if ((unsigned char)*v <= 0x20 || (unsigned char)*v >= 0x7f ||
		    strchr("/?#%\\", *v) != NULL)
			return "may contain only visible ASCII characters "
			    "other than / ? # % and \\";
	return NULL;
}

/* Entra ID tenant: "common", "organizations", "consumers", a GUID or a
 * domain name. */
static const char *
check_tenant(const char *v)
{
	if (strlen(v) > 253 || !all_in(v, ".-", true))
		return "must be common, organizations, consumers, a tenant id "
		    "or a domain name";
	return NULL;
}

static const char *
check_abs_path(const char *v)
{
	if (v[0] != '/')
		return "must be an absolute path";
	return NULL;
}

static const char *
check_folder_path(const char *v)
{
	if (v[0] != '/')
		return "must start with '/'";
	return NULL;
}

/* Base64 (standard alphabet, padding optional) decoding to exactly want
 * bytes, or to any non-zero length when want is 0. libsodium rejects
 * non-zero trailing bits, so one key has one spelling. */
static bool
b64_ok(const char *s, size_t len, size_t want)
{
	unsigned char bin[128];
	size_t binlen = 0;
	const char *end = NULL;
	int variant = (len > 0 && s[len - 1] == '=') ?
	    sodium_base64_VARIANT_ORIGINAL :
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING;

	if (len == 0 || len > 4 * sizeof(bin) / 3)
		return false;
	if (sodium_base642bin(bin, sizeof(bin), s, len, NULL, &binlen, &end,
	    variant) != 0 || end != s + len)
		return false;
	sodium_memzero(bin, sizeof(bin));
	return want == 0 ? binlen > 0 : binlen == want;
}

/* The way `ssh-keygen -l` prints a host key: base64 SHA-256, 43 characters
 * (optionally a trailing '='), optionally prefixed "SHA256:". */
static const char *
check_host_key(const char *v)
{
	size_t len;

	if (strncmp(v, "SHA256:", 7) == 0)
		v += 7;
	len = strlen(v);
	if ((len != 43 && !(len == 44 && v[43] == '=')) || !b64_ok(v, len, 32))
		return "must be a base64 SHA-256 fingerprint as ssh-keygen -l "
		    "prints it (SHA256:...)";
	return NULL;
}

static const char *
check_private_key(const char *v)
{
	v += strspn(v, " \t\r\n");
	if (strncmp(v, "-----BEGIN ", 11) != 0 ||
	    strstr(v, "PRIVATE KEY-----") == NULL)
		return "must be an OpenSSH or PEM private key";
	return NULL;
}

/* Azure account keys are base64 (64 bytes for real accounts). */
static const char *
check_account_key(const char *v)
{
	if (!b64_ok(v, strlen(v), 0))
		return "must be the base64 account key";
	return NULL;
}

/* A SAS token is a query string ("sv=...&sig=..."), with or without '?'. */
static const char *
check_sas(const char *v)
{
	const char *p;

	if (*v == '?')
		v++;
	for (p = v; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    *p == '#')
			return "must be a SAS token (a query string with sig=)";
	if (strncmp(v, "sig=", 4) != 0 && strstr(v, "&sig=") == NULL)
		return "must be a SAS token (a query string with sig=)";
	return NULL;
}

static bool
member_is_nonempty_string(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string) &&
	    json_object_get_string_len(v) > 0;
}

/*
 * A service-account key file as Google issues it: a JSON object with type
 * "service_account", client_email, private_key and token_uri. The value is a
 * secret: no message says anything about its content beyond which member is
 * wrong.
 */
static const char *
check_sa_json(const char *v)
{
	const char *msg = "must be a service account key file (JSON object "
	    "with type \"service_account\", client_email, private_key and "
	    "token_uri)";
	json_tokener *tok;
	json_object *o = NULL, *t;
	size_t len;

	if ((tok = json_tokener_new_ex(LIM_JSON_DEPTH)) == NULL)
		return "could not be checked";
	len = strlen(v);
	o = json_tokener_parse_ex(tok, v, (int)len);
	/* Key files end with a newline: trailing whitespace is fine, any
	 * other trailing byte is not. */
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    v[json_tokener_get_parse_end(tok) +
	    strspn(v + json_tokener_get_parse_end(tok), " \t\r\n")] != '\0') {
		msg = "is not valid JSON";
		goto out;
	}
	if (!json_object_is_type(o, json_type_object))
		goto out;
	if (!json_object_object_get_ex(o, "type", &t) ||
	    !json_object_is_type(t, json_type_string) ||
	    strcmp(json_object_get_string(t), "service_account") != 0)
		goto out;
	if (!member_is_nonempty_string(o, "client_email") ||
	    !member_is_nonempty_string(o, "private_key") ||
	    !member_is_nonempty_string(o, "token_uri"))
		goto out;
	json_object_object_get_ex(o, "token_uri", &t);
	if (check_url(json_object_get_string(t)) != NULL) {
		msg = "must have an http(s) token_uri";
		goto out;
	}
	msg = NULL;
out:
	json_object_put(o);
	json_tokener_free(tok);
	return msg;
}

/* ------------------------------------------------------ cross checks */

static bool
has(json_object *o, const char *key)
{
	return json_object_object_get_ex(o, key, NULL);
}

/* AzureBlobConfig: exactly one of accountKey and sasToken. */
static void
cross_azure(json_object *c, struct verrs *e)
{
	bool key = has(c, "accountKey"), sas = has(c, "sasToken");

	if (!key && !sas)
		verrs_add(e, "/config",
		    "one of accountKey and sasToken is required");
	else if (key && sas)
		verrs_add(e, "/config/sasToken",
		    "must not be set together with accountKey");
}

/* SftpConfig: at least one of password and privateKey; a passphrase only
 * means something with a key; alternate host keys only beside a pinned
 * one (they add to the pin; without one the first test pins the key it
 * sees), and none twice. */
static void
cross_sftp(json_object *c, struct verrs *e)
{
	char ptr[64], a[PROBE_SFTP_FP_LEN + 1], b[PROBE_SFTP_FP_LEN + 1];
	json_object *alts, *x, *y;
	size_t n, i, j;

	if (!has(c, "password") && !has(c, "privateKey"))
		verrs_add(e, "/config",
		    "at least one of password and privateKey is required");
	if (has(c, "privateKeyPassphrase") && !has(c, "privateKey"))
		verrs_add(e, "/config/privateKeyPassphrase",
		    "is only allowed together with privateKey");
	if (!json_object_object_get_ex(c, "hostKeySha256Alternates", &alts))
		return;
	if (!has(c, "hostKeySha256"))
		verrs_add(e, "/config/hostKeySha256Alternates",
		    "is only allowed together with hostKeySha256");
	if (!json_object_is_type(alts, json_type_array) ||
	    (n = json_object_array_length(alts)) > LIM_SFTP_ALT_KEYS)
		return;
	for (i = 0; i < n; i++) {
		x = json_object_array_get_idx(alts, i);
		if (!json_object_is_type(x, json_type_string) ||
		    check_host_key(json_object_get_string(x)) != NULL ||
		    !probe_sftp_fingerprint(json_object_get_string(x), a))
			continue;
		for (j = 0; j < i; j++) {
			y = json_object_array_get_idx(alts, j);
			if (!json_object_is_type(y, json_type_string) ||
			    check_host_key(json_object_get_string(y)) != NULL ||
			    !probe_sftp_fingerprint(json_object_get_string(y),
			    b))
				continue;
			if (strcmp(a, b) == 0) {
				snprintf(ptr, sizeof(ptr),
				    "/config/hostKeySha256Alternates/%zu", i);
				verrs_add(e, ptr, "repeats item %zu", j);
				break;
			}
		}
	}
}

/* ------------------------------------------------------------ registry */

#define S_REQ(n, len, fn) { n, DF_STRING, DF_REQUIRED, len, 0, 0, NULL, fn }
#define S_OPT(n, len, fn) { n, DF_STRING, 0, len, 0, 0, NULL, fn }
/* An optional prefix or path where "" means the default (none). */
#define S_EMPTY(n, len, fn) { n, DF_STRING, DF_EMPTY_OK, len, 0, 0, NULL, fn }
#define LOC_REQ(n, len, fn) \
	{ n, DF_STRING, DF_REQUIRED | DF_LOCATING, len, 0, 0, NULL, fn }
#define LOC_OPT(n, len, fn) { n, DF_STRING, DF_LOCATING, len, 0, 0, NULL, fn }
#define SECRET_REQ(n, len, fn) \
	{ n, DF_STRING, DF_REQUIRED | DF_SECRET, len, 0, 0, NULL, fn }
#define SECRET_OPT(n, len, fn) { n, DF_STRING, DF_SECRET, len, 0, 0, NULL, fn }
#define PORT(n) { n, DF_INT, DF_LOCATING, 0, 1, 65535, NULL, NULL }
#define BOOL(n) { n, DF_BOOL, 0, 0, 0, 0, NULL, NULL }
#define END { NULL, DF_STRING, 0, 0, 0, 0, NULL, NULL }

static const char *const ftp_tls[] = { "none", "explicit", "implicit", NULL };

static const struct dfield f_s3[] = {
	LOC_OPT("endpoint", LIM_SHORT_MAX, check_url),
	S_REQ("region", LIM_SHORT_MAX, check_region),
	S_REQ("bucket", LIM_SHORT_MAX, check_bucket),
	S_EMPTY("prefix", LIM_SHORT_MAX, NULL),
	S_REQ("accessKeyId", LIM_SHORT_MAX, check_token),
	SECRET_REQ("secretAccessKey", LIM_SHORT_MAX, NULL),
	SECRET_OPT("sessionToken", LIM_FIELD_MAX, NULL),
	BOOL("forcePathStyle"),
	S_OPT("storageClass", LIM_SHORT_MAX, check_storage_class),
	END
};

static const struct dfield f_gcs[] = {
	S_REQ("bucket", LIM_SHORT_MAX, check_bucket),
	S_EMPTY("prefix", LIM_SHORT_MAX, NULL),
	{ "serviceAccountJson", DF_STRING,
	    DF_REQUIRED | DF_SECRET | DF_MULTILINE, LIM_FIELD_MAX, 0, 0, NULL,
	    check_sa_json },
	END
};

static const struct dfield f_azure[] = {
	LOC_REQ("accountName", LIM_SHORT_MAX, check_account),
	SECRET_OPT("accountKey", LIM_SHORT_MAX, check_account_key),
	SECRET_OPT("sasToken", LIM_FIELD_MAX, check_sas),
	S_REQ("container", LIM_SHORT_MAX, check_container),
	S_EMPTY("prefix", LIM_SHORT_MAX, NULL),
	LOC_OPT("endpoint", LIM_SHORT_MAX, check_url),
	END
};

static const struct dfield f_sftp[] = {
	LOC_REQ("host", LIM_SHORT_MAX, check_host),
	PORT("port"),
	S_REQ("username", LIM_SHORT_MAX, NULL),
	SECRET_OPT("password", LIM_SHORT_MAX, NULL),
	{ "privateKey", DF_STRING, DF_SECRET | DF_MULTILINE, LIM_FIELD_MAX, 0,
	    0, NULL, check_private_key },
	SECRET_OPT("privateKeyPassphrase", LIM_SHORT_MAX, NULL),
	LOC_OPT("hostKeySha256", LIM_SHORT_MAX, check_host_key),
	{ "hostKeySha256Alternates", DF_STRLIST, DF_LOCATING, LIM_SHORT_MAX,
	    0, LIM_SFTP_ALT_KEYS, NULL, check_host_key },
	S_REQ("path", LIM_SHORT_MAX, NULL),
	END
};

static const struct dfield f_ftp[] = {
	LOC_REQ("host", LIM_SHORT_MAX, check_host),
	PORT("port"),
	S_REQ("username", LIM_SHORT_MAX, NULL),
	SECRET_REQ("password", LIM_SHORT_MAX, NULL),
	{ "tls", DF_STRING, DF_LOCATING, LIM_SHORT_MAX, 0, 0, ftp_tls, NULL },
	S_REQ("path", LIM_SHORT_MAX, NULL),
	END
};

static const struct dfield f_webdav[] = {
	LOC_REQ("url", LIM_SHORT_MAX, check_url),
	S_OPT("username", LIM_SHORT_MAX, NULL),
	SECRET_OPT("password", LIM_SHORT_MAX, NULL),
	END
};

static const struct dfield f_gdrive[] = {
	S_OPT("folderId", LIM_SHORT_MAX, check_token),
	S_OPT("clientId", LIM_SHORT_MAX, check_token),
	SECRET_OPT("clientSecret", LIM_SHORT_MAX, NULL),
	END
};

static const struct dfield f_onedrive[] = {
	S_OPT("folderPath", LIM_SHORT_MAX, check_folder_path),
	S_OPT("driveId", LIM_SHORT_MAX, check_token),
	S_OPT("tenant", LIM_SHORT_MAX, check_tenant),
	S_OPT("clientId", LIM_SHORT_MAX, check_token),
	SECRET_OPT("clientSecret", LIM_SHORT_MAX, NULL),
	END
};

/* SmbConfig: a share name Windows accepts; a path that stays inside the
 * share (no ".." segment, '/' or '\\' as separators). */
static const char *
check_share(const char *v)
{
	return smb_share_ok(v) ? NULL : "must be a share name (at most 80 "
	    "characters, none of \"/\\[]:|<>+=;,*?)";
}

static const char *
check_smb_path(const char *v)
{
	char d[LIM_SHORT_MAX + 2], e[3 * LIM_SHORT_MAX + 2];

	return smb_path_split(v, d, sizeof(d), e, sizeof(e)) == SMB_PATH_DOTDOT ?
	    "must stay inside the share (no '..' segments)" : NULL;
}

static const struct dfield f_smb[] = {
	LOC_REQ("host", LIM_SHORT_MAX, check_host),
	PORT("port"),
	S_REQ("share", LIM_SHORT_MAX, check_share),
	S_EMPTY("path", LIM_SHORT_MAX, check_smb_path),
	S_OPT("domain", LIM_SHORT_MAX, NULL),
	S_REQ("username", LIM_SHORT_MAX, NULL),
	SECRET_REQ("password", LIM_SHORT_MAX, NULL),
	BOOL("requireEncryption"),
	END
};

static const struct dfield f_dropbox[] = {
	S_OPT("folderPath", LIM_SHORT_MAX, check_folder_path),
	S_OPT("clientId", LIM_SHORT_MAX, check_token),
	SECRET_OPT("clientSecret", LIM_SHORT_MAX, NULL),
	END
};

static const struct dfield f_local[] = {
	S_REQ("path", LIM_SHORT_MAX, check_abs_path),
	END
};

/* Order = the contract's DestinationType enum. */
const struct dtype dtype_table[] = {
	{ .name = "s3", .fields = f_s3, .probe = probe_s3 },
	{ .name = "gcs", .fields = f_gcs, .probe = probe_gcs },
	{ .name = "azure_blob", .fields = f_azure, .check = cross_azure,
	    .probe = probe_azure_blob },
	{ .name = "sftp", .fields = f_sftp, .check = cross_sftp,
	    .probe = probe_sftp },
	{ .name = "ftp", .fields = f_ftp, .probe = probe_ftp },
	{ .name = "webdav", .fields = f_webdav, .probe = probe_webdav },
	{ .name = "google_drive", .fields = f_gdrive,
	    .probe = probe_google_drive, .oauth = OAUTH_GOOGLE },
	{ .name = "onedrive", .fields = f_onedrive, .probe = probe_onedrive,
	    .oauth = OAUTH_MICROSOFT },
	{ .name = "local", .fields = f_local, .probe = probe_local,
	    .unavailable = probe_local_unavailable },
	{ .name = "smb", .fields = f_smb, .probe = probe_smb },
	{ .name = "dropbox", .fields = f_dropbox, .probe = probe_dropbox,
	    .oauth = OAUTH_DROPBOX },
	{ .name = NULL }
};

/* The row for `name`, NULL when unknown or name is NULL (static storage). */
const struct dtype *
dtype_find(const char *name)
{
	const struct dtype *t;

	if (name == NULL)
		return NULL;
	for (t = dtype_table; t->name != NULL; t++)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

bool
dtype_available(const struct dtype *t, const struct cfg *c, char *why,
    size_t whylen)
{
	const char *no = t->unavailable != NULL ? t->unavailable(c) : NULL;

	if (no != NULL) {
		snprintf(why, whylen, "%s", no);
		return false;
	}
	if (t->oauth == OAUTH_NONE && t->probe == NULL) {
		snprintf(why, whylen, "destinations of type '%s' cannot be "
		    "tested by this server yet, so they cannot be saved",
		    t->name);
		return false;
	}
	return true;
}

void
dtype_names(char *out, size_t outlen, bool oauth_only, const char *last_sep)
{
	const struct dtype *t;
	size_t n = 0, i = 0, at = 0;
	int w;

	if (outlen == 0)
		return;
	out[0] = '\0';
	for (t = dtype_table; t->name != NULL; t++)
		n += !oauth_only || t->oauth != OAUTH_NONE;
	for (t = dtype_table; t->name != NULL && at < outlen; t++) {
		if (oauth_only && t->oauth == OAUTH_NONE)
			continue;
		w = snprintf(out + at, outlen - at, "%s%s", i == 0 ? "" :
		    i + 1 == n ? last_sep : ", ", t->name);
		if (w < 0)
			break;
		at += (size_t)w;
		i++;
	}
}

static const struct dfield *
field_find(const struct dtype *t, const char *name)
{
	const struct dfield *f;

	for (f = t->fields; f->name != NULL; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

static bool
is_placeholder(json_object *v)
{
	return v != NULL && json_object_is_type(v, json_type_string) &&
	    (size_t)json_object_get_string_len(v) == PLACEHOLDER_LEN &&
	    memcmp(json_object_get_string(v), DTYPE_PLACEHOLDER,
	    PLACEHOLDER_LEN) == 0;
}

/* --------------------------------------------------------- validation */

static void
check_string(const struct dfield *f, json_object *v, bool allow_placeholder,
    const char *ptr, struct verrs *e)
{
	const char *s = json_object_get_string(v), *msg;
	size_t len = (size_t)json_object_get_string_len(v);
	const char *const *o;
	struct scan sc;

	if ((f->flags & DF_SECRET) && is_placeholder(v)) {
		if (!allow_placeholder)
			verrs_add(e, ptr,
			    "placeholder only allowed when updating");
		return;
	}
	if (len == 0) {
		if (!(f->flags & DF_EMPTY_OK))
			verrs_add(e, ptr, "must not be empty");
		return;
	}
	if (len > f->maxlen) {
		verrs_add(e, ptr, "must be at most %zu bytes", f->maxlen);
		return;
	}
	utf8_scan(s, len, (f->flags & DF_MULTILINE) != 0, &sc);
	if (sc.invalid) {
		verrs_add(e, ptr, "must be valid UTF-8");
		return;
	}
	if (sc.control) {
		verrs_add(e, ptr, "must not contain control characters");
		return;
	}
	if (f->oneof != NULL) {
		for (o = f->oneof; *o != NULL; o++)
			if (strcmp(*o, s) == 0)
				break;
		if (*o == NULL) {
			char list[128] = "";
			size_t at = 0;
			for (o = f->oneof; *o != NULL && at < sizeof(list); o++)
				at += (size_t)snprintf(list + at,
				    sizeof(list) - at, "%s%s",
				    o == f->oneof ? "" : ", ", *o);
			verrs_add(e, ptr, "must be one of %s", list);
			return;
		}
	}
	if (f->check != NULL && (msg = f->check(s)) != NULL)
		verrs_add(e, ptr, "%s", msg);
}

/* DF_STRLIST: an array of at most f->max strings; each item's errors at
 * its own pointer ("/config/x/2"). Never a secret, so no placeholder. */
static void
check_list(const struct dfield *f, json_object *v, const char *ptr,
    struct verrs *e)
{
	char iptr[sizeof(e->v[0].pointer)];
	json_object *item;
	size_t n, i;

	if (!json_object_is_type(v, json_type_array)) {
		verrs_add(e, ptr, "must be an array");
		return;
	}
	if ((n = json_object_array_length(v)) > (size_t)f->max) {
		verrs_add(e, ptr, "must have at most %ld items", f->max);
		return;
	}
	for (i = 0; i < n; i++) {
		int w = snprintf(iptr, sizeof(iptr), "%s/%zu", ptr, i);

		if (w < 0 || (size_t)w >= sizeof(iptr))
			return;
		item = json_object_array_get_idx(v, i);
		if (!json_object_is_type(item, json_type_string))
			verrs_add(e, iptr, "must be a string");
		else
			check_string(f, item, false, iptr, e);
	}
}

static void
check_value(const struct dfield *f, json_object *v, bool allow_placeholder,
    const char *ptr, struct verrs *e)
{
	int64_t n;

	switch (f->type) {
	case DF_BOOL:
		if (!json_object_is_type(v, json_type_boolean))
			verrs_add(e, ptr, "must be a boolean");
		break;
	case DF_INT:
		/* json-c types 22.0 as double: the schema says integer. */
		if (!json_object_is_type(v, json_type_int)) {
			verrs_add(e, ptr, "must be an integer");
			break;
		}
		errno = 0;
		n = json_object_get_int64(v);
		if (f->min < f->max && (errno != 0 || n < f->min || n > f->max))
			verrs_add(e, ptr, "must be between %ld and %ld",
			    f->min, f->max);
		break;
	case DF_STRING:
		if (!json_object_is_type(v, json_type_string))
			verrs_add(e, ptr, "must be a string");
		else
			check_string(f, v, allow_placeholder, ptr, e);
		break;
	case DF_STRLIST:
		check_list(f, v, ptr, e);
		break;
	}
}

static void
validate_config(const struct dtype *t, json_object *config,
    bool allow_placeholder, struct verrs *e)
{
	char ptr[sizeof(e->v[0].pointer)];
	const struct dfield *f;
	json_object *v;

	json_object_object_foreach(config, key, val) {
		(void)val;
		if (field_find(t, key) == NULL) {
			ptr_join(ptr, sizeof(ptr), "/config", key);
			verrs_add(e, ptr, "unknown field");
		}
	}
	for (f = t->fields; f->name != NULL; f++) {
		ptr_join(ptr, sizeof(ptr), "/config", f->name);
		if (!json_object_object_get_ex(config, f->name, &v)) {
			if (f->flags & DF_REQUIRED)
				verrs_add(e, ptr, "is required");
			continue;
		}
		check_value(f, v, allow_placeholder, ptr, e);
	}
	if (t->check != NULL)
		t->check(config, e);
}

static void
check_name(json_object *v, struct verrs *e)
{
	struct scan sc;
	size_t len;

	if (v == NULL) {
		verrs_add(e, "/name", "is required");
		return;
	}
	if (!json_object_is_type(v, json_type_string)) {
		verrs_add(e, "/name", "must be a string");
		return;
	}
	len = (size_t)json_object_get_string_len(v);
	if (len == 0) {
		verrs_add(e, "/name", "must not be empty");
		return;
	}
	utf8_scan(json_object_get_string(v), len, false, &sc);
	if (sc.invalid)
		verrs_add(e, "/name", "must be valid UTF-8");
	else if (sc.chars > LIM_NAME_MAX)
		verrs_add(e, "/name", "must be at most %d characters",
		    LIM_NAME_MAX);
	else if (sc.control)
		verrs_add(e, "/name", "must not contain control characters");
	else if (sc.blank)
		verrs_add(e, "/name", "must not be only whitespace");
}

static const struct dtype *
check_type(json_object *v, struct verrs *e)
{
	const struct dtype *t = NULL;

	if (v == NULL)
		verrs_add(e, "/destinationType", "is required");
	else if (!json_object_is_type(v, json_type_string))
		verrs_add(e, "/destinationType", "must be a string");
	else if ((t = dtype_find(json_object_get_string(v))) == NULL ||
	    strlen(t->name) != (size_t)json_object_get_string_len(v)) {
		char names[256];

		t = NULL;
		dtype_names(names, sizeof(names), false, ", ");
		verrs_add(e, "/destinationType", "must be one of %s", names);
	}
	return t;
}

/*
 * See dtype.h. errs is reset first. Errors are listed in a stable order:
 * unknown top-level members, name, destinationType, then config (unknown
 * fields, then the type's fields in registry order, then cross-field rules).
 * With an unknown destinationType the config is only checked to be an
 * object: its fields cannot be judged without a type.
 */
enum bd_err
dtype_validate_input(json_object *body, bool allow_placeholder,
    struct dest_input *in, struct verrs *errs)
{
	char ptr[sizeof(errs->v[0].pointer)];
	enum bd_err rc = BD_ERR_INVALID;
	json_object *name = NULL, *type = NULL, *config = NULL;
	const struct dtype *t;

	errs->n = 0;
	memset(in, 0, sizeof(*in));
	if (!json_object_is_type(body, json_type_object)) {
		verrs_add(errs, "", "must be an object");
		goto out;
	}
	json_object_object_foreach(body, key, val) {
		(void)val;
		if (strcmp(key, "name") != 0 &&
		    strcmp(key, "destinationType") != 0 &&
		    strcmp(key, "config") != 0) {
			ptr_join(ptr, sizeof(ptr), "", key);
			verrs_add(errs, ptr, "unknown field");
		}
	}
	json_object_object_get_ex(body, "name", &name);
	json_object_object_get_ex(body, "destinationType", &type);
	json_object_object_get_ex(body, "config", &config);
	check_name(name, errs);
	t = check_type(type, errs);
	if (!json_object_object_get_ex(body, "config", NULL))
		verrs_add(errs, "/config", "is required");
	else if (!json_object_is_type(config, json_type_object))
		verrs_add(errs, "/config", "must be an object");
	else if (t != NULL)
		validate_config(t, config, allow_placeholder, errs);
	if (errs->n != 0)
		goto out;
	in->name = json_object_get_string(name);
	in->type = t;
	in->config = config;
	rc = BD_OK;
out:
	return rc;
}

/* ------------------------------------------------ placeholders, redaction */

/*
 * See dtype.h. Values are copied from `stored` (which stays unchanged).
 * BD_ERR_NOMEM if a copy cannot be made; BD_ERR_INVALID when a placeholder
 * has nothing stored behind it (one error per such field).
 */
enum bd_err
dtype_merge_placeholders(const struct dtype *t, json_object *config,
    json_object *stored, struct verrs *errs)
{
	char ptr[sizeof(errs->v[0].pointer)];
	enum bd_err rc = BD_ERR_INVALID;
	const struct dfield *f;
	json_object *v, *sv, *copy;
	size_t before = errs->n;

	if (t == NULL || !json_object_is_type(config, json_type_object))
		goto out;
	/* A placeholder keeps a secret only for the same place. */
	if (dtype_has_placeholder(t, config) &&
	    json_object_is_type(stored, json_type_object)) {
		for (f = t->fields; f->name != NULL; f++) {
			json_object *a = NULL, *b = NULL;
			if (!(f->flags & DF_LOCATING))
				continue;
			json_object_object_get_ex(config, f->name, &a);
			json_object_object_get_ex(stored, f->name, &b);
			if (json_object_equal(a, b))
				continue;
			ptr_join(ptr, sizeof(ptr), "/config", f->name);
			verrs_add(errs, ptr, "this changes where the stored "
			    "secrets are sent: send the secrets again instead of "
			    "\"********\"");
		}
	}
	for (f = t->fields; f->name != NULL; f++) {
		if (!(f->flags & DF_SECRET) ||
		    !json_object_object_get_ex(config, f->name, &v) ||
		    !is_placeholder(v))
			continue;
		sv = NULL;
		if (json_object_is_type(stored, json_type_object))
			json_object_object_get_ex(stored, f->name, &sv);
		if (sv == NULL || !json_object_is_type(sv, json_type_string) ||
		    json_object_get_string_len(sv) == 0 || is_placeholder(sv)) {
			ptr_join(ptr, sizeof(ptr), "/config", f->name);
			verrs_add(errs, ptr, "placeholder given but no value is "
			    "stored for this field");
			continue;
		}
		copy = json_object_new_string_len(json_object_get_string(sv),
		    json_object_get_string_len(sv));
		if (copy == NULL ||
		    json_object_object_add(config, f->name, copy) != 0) {
			json_object_put(copy);
			rc = BD_ERR_NOMEM;
			goto out;
		}
	}
	if (errs->n == before)
		rc = BD_OK;
out:
	return rc;
}

/* See dtype.h; false for a NULL type or a config that is not an object. */
bool
dtype_has_placeholder(const struct dtype *t, json_object *config)
{
	const struct dfield *f;
	json_object *v;

	if (t == NULL || !json_object_is_type(config, json_type_object))
		return false;
	for (f = t->fields; f->name != NULL; f++)
		if ((f->flags & DF_SECRET) &&
		    json_object_object_get_ex(config, f->name, &v) &&
		    is_placeholder(v))
			return true;
	return false;
}

/*
 * See dtype.h. The output is built from the registry, not from the input:
 * fields appear in registry order, a secret field present with any value is
 * "********", other fields are deep copies. An empty object for a NULL type
 * or a config that is not an object; NULL only when out of memory.
 */
json_object *
dtype_redact(const struct dtype *t, json_object *config)
{
	json_object *out, *v, *copy;
	const struct dfield *f;

	if ((out = json_object_new_object()) == NULL)
		return NULL;
	if (t == NULL || !json_object_is_type(config, json_type_object))
		return out;
	for (f = t->fields; f->name != NULL; f++) {
		if (!json_object_object_get_ex(config, f->name, &v))
			continue;
		copy = NULL;
		if (f->flags & DF_SECRET) {
			if ((copy = json_object_new_string(DTYPE_PLACEHOLDER))
			    == NULL)
				goto fail;
		} else if (v != NULL && json_object_deep_copy(v, &copy, NULL)
		    != 0) {
			goto fail;
		}
		/* v == NULL is a JSON null: copied as null. */
		if (json_object_object_add(out, f->name, copy) != 0) {
			json_object_put(copy);
			goto fail;
		}
	}
	return out;
fail:
	json_object_put(out);
	return NULL;
}
