/*
 * Azure Storage SharedKey signing, kept apart from the Azure Blob probe
 * (probe_azure_blob.c) as s3util is from the S3 probe, so it can be unit
 * tested without a network: the string-to-sign (Microsoft, "Authorize with
 * Shared Key", Blob service version 2009-09-19 and later), its HMAC-SHA256
 * signature, the Authorization header line, and the x-ms-date format; and
 * the two plain fields of a SAS token the probe reads (its expiry `se` and
 * permissions `sp`), never its signature.
 */
#ifndef BD_AZSIGN_H
#define BD_AZSIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

/* base64 of an HMAC-SHA256, NUL included (45 bytes). */
#define AZSIGN_SIG_MAX sodium_base64_ENCODED_LEN( \
    crypto_auth_hmacsha256_BYTES, sodium_base64_VARIANT_ORIGINAL)

/*
 * The SharedKey string-to-sign of one request:
 *   VERB \n Content-Encoding \n Content-Language \n Content-Length \n
 *   Content-MD5 \n Content-Type \n Date \n If-Modified-Since \n If-Match \n
 *   If-None-Match \n If-Unmodified-Since \n Range \n
 *   CanonicalizedHeaders CanonicalizedResource
 * Content-Length is empty when 0 (version 2015-02-21 and later);
 * CanonicalizedHeaders are the x-ms-* headers, names lower-cased, sorted,
 * "name:value\n" each; CanonicalizedResource is "/" + account + the
 * request's encoded URI path, then "\nname:value" per query parameter
 * (names lower-cased, sorted, values URL-decoded, repeated names joined by
 * ','). method: "GET", "PUT", ...; path: the encoded URI path exactly as
 * sent; query: without '?' (NULL or "" for none); headers: the list handed
 * to curl (CURLOPT_HTTPHEADER). Returns a malloc'd string the caller frees;
 * NULL when out of memory. Pure: no clock, no network.
 */
char *azsign_string_to_sign(const char *method, const char *account,
    const char *path, const char *query, const struct curl_slist *headers);

/*
 * base64(HMAC-SHA256(key, sts)) into out (outsz >= AZSIGN_SIG_MAX). The key
 * may have any length (crypto_auth_hmacsha256_init hashes long keys as HMAC
 * requires). Returns false when out is too small.
 */
bool azsign_sign(const unsigned char *key, size_t keylen, const char *sts,
    char *out, size_t outsz);

/*
 * The header line "Authorization: SharedKey <account>:<signature>" for the
 * request described as for azsign_string_to_sign(). Returns a malloc'd
 * string the caller wipes and frees (wipe_str_free, wipe.h); NULL when
 * out of memory. Every intermediate is wiped.
 */
char *azsign_authorization(const unsigned char *key, size_t keylen,
    const char *method, const char *account, const char *path,
    const char *query, const struct curl_slist *headers);

/*
 * t as an RFC 1123 date in GMT ("Sun, 06 Nov 1994 08:49:37 GMT"), the
 * x-ms-date format. Day and month names come from fixed tables: strftime's
 * %a/%b follow the locale. False when outsz is too small or t is out of
 * range.
 */
bool azsign_date(time_t t, char *out, size_t outsz);

/* Room for a SAS token's `sp` (permission letters), NUL included. */
#define AZSIGN_SAS_PERMS_MAX 32

/*
 * What the probe reads of a SAS token, never its signature: `se` (signed
 * expiry) and `sp` (signed permissions). Neither is a secret: both are
 * spelled out in the token, and Azure documents them as plain fields.
 */
struct azsign_sas {
	bool has_expiry;       /* se present in a form Azure documents */
	bool bad_expiry;       /* se present in another form */
	long long expiry_ms;   /* unix ms (UTC) when has_expiry */
	char perms[AZSIGN_SAS_PERMS_MAX]; /* sp, "" when absent or odd */
	bool account;          /* srt present: an account SAS */
};

/*
 * A SAS `se` value (already URL-decoded) as unix ms. The forms Microsoft
 * documents ("Create a service SAS", "Specify the signature validity
 * interval"; UTC): YYYY-MM-DD, YYYY-MM-DDThh:mmZ, YYYY-MM-DDThh:mm:ssZ and
 * YYYY-MM-DDThh:mm:ss.fffffffZ. A date alone is its midnight UTC. False,
 * *ms untouched, for anything else (another zone, no 'Z' after a time, an
 * impossible date, trailing text). Pure: no clock.
 */
bool azsign_sas_time(const char *s, long long *ms);

/*
 * Read `se`, `sp` and `srt` of a SAS token (its query string, a leading
 * '?' allowed) into *out. Parameter names are matched case-sensitively, as
 * Azure does; the first occurrence counts. Returns false only when out of
 * memory (then *out says nothing is known). Pure: no clock.
 */
bool azsign_sas_parse(const char *sas, struct azsign_sas *out);

#endif
