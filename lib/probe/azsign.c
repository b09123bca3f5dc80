/*
 * Azure SharedKey signing; see azsign.h. The string-to-sign follows
 * Microsoft's "Authorize with Shared Key" (Blob, Queue, and File services);
 * for the emulator's path-style URLs ("/devstoreaccount1/container") the
 * documented rule yields "/devstoreaccount1/devstoreaccount1/container":
 * the account once for the rule and once because it is part of the path.
 * Azurite validates exactly that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "azsign.h"
#include "clock.h"
#include "url.h"
#include "wipe.h"

/* ------------------------------------------------------ string buffer */

struct sbuf {
	char *p;
	size_t len;
	bool oom;
};

/* url_append wipes the old buffer as it grows: the string-to-sign and the
 * Authorization line are secrets' neighbours. */
static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (!b->oom && !url_append(&b->p, &b->len, s, n))
		b->oom = true;
}

static void
sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void
sb_chr(struct sbuf *b, char c)
{
	sb_add(b, &c, 1);
}

/* The built string (caller frees), "" when nothing was added, NULL on OOM. */
static char *
sb_take(struct sbuf *b)
{
	if (!b->oom && b->p == NULL)
		sb_add(b, "", 0);
	if (b->oom) {
		wipe_free(b->p, b->len);
		b->p = NULL;
	}
	return b->p;
}

/* ------------------------------------------------------------ helpers */

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool
is_lws(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Split one curl header line into name and value. "Name: value" is sent;
 * "Name:" with nothing after it is curl's way of removing a header (not
 * sent: returns false); "Name;" sends the header empty. The value is trimmed
 * of surrounding blanks.
 */
static bool
header_split(const char *line, const char **name, size_t *nlen,
    const char **val, size_t *vlen)
{
	size_t n = strcspn(line, ":;");
	const char *v, *e;

	if (line[n] == '\0' || n == 0)
		return false;
	*name = line;
	*nlen = n;
	if (line[n] == ';') {
		if (line[n + 1] != '\0')
			return false;
		*val = line + n;
		*vlen = 0;
		return true;
	}
	v = line + n + 1;
	while (is_lws(*v))
		v++;
	if (*v == '\0')
		return false;
	e = v + strlen(v);
	while (e > v && is_lws(e[-1]))
		e--;
	*val = v;
	*vlen = (size_t)(e - v);
	return true;
}

/* Value of header `name` (case-insensitive) in the list, or NULL. */
static bool
header_find(const struct curl_slist *h, const char *name, const char **val,
    size_t *vlen)
{
	const char *n;
	size_t nlen;

	for (; h != NULL; h = h->next)
		if (header_split(h->data, &n, &nlen, val, vlen) &&
		    nlen == strlen(name) && strncasecmp(n, name, nlen) == 0)
			return true;
	return false;
}

/* ------------------------------------------------- canonicalization */

/* The standard headers of the string-to-sign, in order (Microsoft, "Blob,
 * Queue, and File services (Shared Key authorization)"). */
static const char *const std_headers[] = {
	"Content-Encoding", "Content-Language", "Content-Length",
	"Content-MD5", "Content-Type", "Date", "If-Modified-Since",
	"If-Match", "If-None-Match", "If-Unmodified-Since", "Range",
};

struct kv {
	char *name;      /* lower-cased, malloc'd */
	char *val;       /* malloc'd */
	size_t order;    /* position in the input: keeps the sort stable */
};

static int
kv_cmp(const void *pa, const void *pb)
{
	const struct kv *a = pa, *b = pb;
	int c = strcmp(a->name, b->name);

	if (c != 0)
		return c;
	return a->order < b->order ? -1 : a->order > b->order;
}

/* Query parameters sort by name, then by value (repeated names). */
static int
kv_cmp_val(const void *pa, const void *pb)
{
	const struct kv *a = pa, *b = pb;
	int c = strcmp(a->name, b->name);

	return c != 0 ? c : strcmp(a->val, b->val);
}

/*
 * Append an entry that takes over name and val (malloc'd; NULL after a
 * failed allocation) to v[*n], growing *cap. False when out of memory;
 * what was taken over is then freed, now or by kv_free().
 */
static bool
kv_push(struct kv **v, size_t *n, size_t *cap, char *name, char *val)
{
	struct kv *p;
	size_t want = *cap ? *cap * 2 : 8;

	if (*n == *cap) {
		if ((p = realloc(*v, want * sizeof(**v))) == NULL) {
			free(name);
			free(val);
			return false;
		}
		*v = p;
		*cap = want;
	}
	(*v)[*n].name = name;
	(*v)[*n].val = val;
	(*v)[*n].order = *n;
	(*n)++;
	return name != NULL && val != NULL;
}

static void
kv_free(struct kv *v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++) {
		free(v[i].name);
		free(v[i].val);
	}
	free(v);
}

/*
 * CanonicalizedHeaders: every x-ms-* header, name lower-cased, sorted
 * ascending, "name:value\n"; runs of blanks in the value become one space
 * and the value is trimmed (Microsoft, "Constructing the canonicalized
 * headers string", steps 1-6).
 */
static void
canon_headers(struct sbuf *b, const struct curl_slist *headers)
{
	const struct curl_slist *h;
	struct kv *v = NULL;
	const char *name, *val;
	size_t n = 0, cap = 0, nlen, vlen, i, j, o;
	bool ok = false;

	for (h = headers; h != NULL; h = h->next) {
		if (!header_split(h->data, &name, &nlen, &val, &vlen) ||
		    nlen < 5 || strncasecmp(name, "x-ms-", 5) != 0)
			continue;
		if (!kv_push(&v, &n, &cap, malloc(nlen + 1), malloc(vlen + 1)))
			goto out;
		for (i = 0; i < nlen; i++)
			v[n - 1].name[i] = lower(name[i]);
		v[n - 1].name[nlen] = '\0';
		for (i = 0, o = 0; i < vlen; i = j) {
			if (is_lws(val[i])) {
				for (j = i; j < vlen && is_lws(val[j]); j++)
					;
				v[n - 1].val[o++] = ' ';
			} else {
				v[n - 1].val[o++] = val[i];
				j = i + 1;
			}
		}
		v[n - 1].val[o] = '\0';
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), kv_cmp);
	for (i = 0; i < n; i++) {
		sb_str(b, v[i].name);
		sb_chr(b, ':');
		sb_str(b, v[i].val);
		sb_chr(b, '\n');
	}
	ok = true;
out:
	if (!ok)
		b->oom = true;
	kv_free(v, n);
}

/*
 * CanonicalizedResource: "/" account path, then per query parameter
 * "\nname:value" — names URL-decoded and lower-cased, sorted; a name given
 * more than once lists its values sorted and joined by ',' (Microsoft,
 * "Shared Key format for 2009-09-19 and later").
 */
static void
canon_resource(struct sbuf *b, const char *account, const char *path,
    const char *query)
{
	struct kv *v = NULL;
	const char *p, *end, *eq;
	size_t n = 0, cap = 0, i;
	bool ok = false;
	char *s, *name, *val;

	sb_chr(b, '/');
	sb_str(b, account);
	sb_str(b, path != NULL && path[0] != '\0' ? path : "/");
	for (p = query; p != NULL && *p != '\0'; p = *end ? end + 1 : end) {
		end = p + strcspn(p, "&");
		if (end == p)
			continue;
		eq = memchr(p, '=', (size_t)(end - p));
		name = url_unescape(p, (size_t)((eq != NULL ? eq : end) - p),
		    true, NULL);
		val = eq != NULL ? url_unescape(eq + 1,
		    (size_t)(end - eq - 1), true, NULL) :
		    url_unescape("", 0, true, NULL);
		if (!kv_push(&v, &n, &cap, name, val))
			goto out;
		for (s = v[n - 1].name; *s; s++)
			*s = lower(*s);
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), kv_cmp_val);
	for (i = 0; i < n; i++) {
		if (i > 0 && strcmp(v[i].name, v[i - 1].name) == 0) {
			sb_chr(b, ',');
		} else {
			sb_chr(b, '\n');
			sb_str(b, v[i].name);
			sb_chr(b, ':');
		}
		sb_str(b, v[i].val);
	}
	ok = true;
out:
	if (!ok)
		b->oom = true;
	kv_free(v, n);
}

/* See azsign.h. */
char *
azsign_string_to_sign(const char *method, const char *account,
    const char *path, const char *query, const struct curl_slist *headers)
{
	struct sbuf b = { NULL, 0, false };
	const char *val;
	size_t vlen, i;

	sb_str(&b, method);
	sb_chr(&b, '\n');
	for (i = 0; i < sizeof(std_headers) / sizeof(std_headers[0]); i++) {
		if (header_find(headers, std_headers[i], &val, &vlen) &&
		    !(strcmp(std_headers[i], "Content-Length") == 0 &&
		    vlen == 1 && val[0] == '0'))
			sb_add(&b, val, vlen);
		sb_chr(&b, '\n');
	}
	canon_headers(&b, headers);
	canon_resource(&b, account, path, query);
	return sb_take(&b);
}

/* See azsign.h. */
bool
azsign_sign(const unsigned char *key, size_t keylen, const char *sts,
    char *out, size_t outsz)
{
	crypto_auth_hmacsha256_state st;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	bool ok = false;

	if (outsz < AZSIGN_SIG_MAX)
		goto out;
	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)sts,
	    strlen(sts));
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2base64(out, outsz, mac, sizeof(mac),
	    sodium_base64_VARIANT_ORIGINAL);
	ok = true;
out:
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(mac, sizeof(mac));
	return ok;
}

/* See azsign.h. */
char *
azsign_authorization(const unsigned char *key, size_t keylen,
    const char *method, const char *account, const char *path,
    const char *query, const struct curl_slist *headers)
{
	struct sbuf b = { NULL, 0, false };
	char sig[AZSIGN_SIG_MAX], *sts, *out = NULL;

	sig[0] = '\0';
	sts = azsign_string_to_sign(method, account, path, query, headers);
	if (sts == NULL || !azsign_sign(key, keylen, sts, sig, sizeof(sig)))
		goto out;
	sb_str(&b, "Authorization: SharedKey ");
	sb_str(&b, account);
	sb_chr(&b, ':');
	sb_str(&b, sig);
	out = sb_take(&b);
out:
	wipe_str_free(sts);
	sodium_memzero(sig, sizeof(sig));
	return out;
}

/* See azsign.h. */
bool
azsign_date(time_t t, char *out, size_t outsz)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu",
		"Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May",
		"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	int n;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_wday < 0 || tm.tm_wday > 6 ||
	    tm.tm_mon < 0 || tm.tm_mon > 11)
		return false;
	n = snprintf(out, outsz, "%s, %02d %s %04d %02d:%02d:%02d GMT",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec);
	return n > 0 && (size_t)n < outsz;
}

/* ------------------------------------------------------- SAS fields */

/* See azsign.h. Each documented form is brought to the one that
 * clock_parse_ms() reads, "YYYY-MM-DDThh:mm:ss[.fraction]Z". */
bool
azsign_sas_time(const char *s, long long *ms)
{
	char buf[40];
	size_t n;
	int w;

	if (s == NULL)
		return false;
	n = strlen(s);
	if (n == 10)
		w = snprintf(buf, sizeof(buf), "%sT00:00:00Z", s);
	else if (n == 17 && s[10] == 'T' && s[16] == 'Z')
		w = snprintf(buf, sizeof(buf), "%.16s:00Z", s);
	else if (n >= 20 && n < sizeof(buf) && s[10] == 'T' &&
	    s[n - 1] == 'Z')
		w = snprintf(buf, sizeof(buf), "%s", s);
	else
		return false;
	/* clock_parse_ms() also takes 't', ' ' and no zone: the checks above
	 * keep to what Azure documents, and the 'T' of a date alone would
	 * sit at [10], which a 10-byte string does not have. */
	if (w <= 0 || (size_t)w >= sizeof(buf) || buf[10] != 'T')
		return false;
	return clock_parse_ms(buf, ms);
}

/* Whether s is 1..max-1 lower-case letters (the documented permission
 * letters of a SAS are all lower-case ASCII). */
static bool
perm_letters(const char *s, size_t max)
{
	size_t n = strlen(s), i;

	if (n == 0 || n >= max)
		return false;
	for (i = 0; i < n; i++)
		if (s[i] < 'a' || s[i] > 'z')
			return false;
	return true;
}

/* See azsign.h. */
bool
azsign_sas_parse(const char *sas, struct azsign_sas *out)
{
	const char *p, *end, *eq;
	bool se_seen = false, sp_seen = false, ok = false;
	size_t nlen;
	char *val = NULL;

	memset(out, 0, sizeof(*out));
	if (sas != NULL && sas[0] == '?')
		sas++;
	for (p = sas; p != NULL && *p != '\0'; p = *end ? end + 1 : end) {
		end = p + strcspn(p, "&");
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq == NULL)
			continue;
		nlen = (size_t)(eq - p);
		if (nlen == 3 && memcmp(p, "srt", 3) == 0) {
			out->account = true;
			continue;
		}
		if (nlen != 2 || (memcmp(p, "se", 2) != 0 &&
		    memcmp(p, "sp", 2) != 0))
			continue;
		if ((p[1] == 'e' && se_seen) || (p[1] == 'p' && sp_seen))
			continue;
		if ((val = url_unescape(eq + 1, (size_t)(end - eq - 1), false,
		    NULL)) == NULL) {
			memset(out, 0, sizeof(*out));
			goto out;
		}
		if (p[1] == 'e') {
			se_seen = true;
			out->has_expiry = azsign_sas_time(val, &out->expiry_ms);
			out->bad_expiry = !out->has_expiry;
		} else {
			sp_seen = true;
			if (perm_letters(val, sizeof(out->perms)))
				memcpy(out->perms, val, strlen(val) + 1);
		}
		free(val);
		val = NULL;
	}
	ok = true;
out:
	free(val);
	return ok;
}
