/*
 * What the OAuth probes (probe_google_drive.c, probe_onedrive.c,
 * probe_dropbox.c) read beyond their checks: the byte counts of a
 * provider's quota answer for probe_capacity(), and the account the grant
 * belongs to for observed.account (issue 9 items 3 and 4).
 *
 * The account is personal data, not a secret: one value only (the e-mail
 * address, else the display name), recorded in the result and never
 * logged by a probe.
 */
#ifndef BD_PROBE_FACTS_H
#define BD_PROBE_FACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "probe.h"

/* The member `key` of o as a byte count: a JSON integer >= 0 or a string
 * of 1..18 decimal digits (Google's int64 fields are strings). -1 when o
 * is NULL, the member is absent or is anything else. */
int64_t probe_facts_bytes(json_object *o, const char *key);

/* Whether s may be shown as the account: text that probe_banner_clean()
 * leaves as it is (valid UTF-8, no control, separator or bidirectional
 * characters, no runs of spaces, at most LIM_PROBE_BANNER_MAX bytes):
 * shown whole or not at all, never mangled. An e-mail (`email` true) also
 * has an '@' inside and no space. */
bool probe_facts_account_ok(const char *s, bool email);

/* Record observed.account: email when it is one (probe_facts_account_ok),
 * else name when that is one, else nothing. Either may be NULL. Returns
 * whether something was recorded. */
bool probe_facts_account(struct probe_result *res, const char *email,
    const char *name);

#endif
