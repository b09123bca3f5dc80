/*
 * Azure Storage SharedKey signing, kept apart from the Azure Blob probe
 * (probe_azure_blob.c) as s3util is from the S3 probe, so it can be unit
 * tested without a network: the string-to-sign (Microsoft, "Authorize with
 * Shared Key", Blob service version 2009-09-19 and later), its HMAC-SHA256
 * signature, the Authorization header line, and the x-ms-date format.
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

#endif
