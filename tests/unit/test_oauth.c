/* oauth.c's pure parts: the state, PKCE, the client choice and the
 * authorization URL. No network, no clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "dtype.h"
#include "oauth.h"

#define ID "0b9a6c7e-3f1d-4e55-9a57-2f1c8d0e4b21"
#define NONCE "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdE"

static void
test_state_round_trip(void **state)
{
	char s[OAUTH_STATE_MAX], id[37], type[32], nonce[64];
	const struct dtype *t;

	(void)state;
	for (t = dtype_table; t->name != NULL; t++) {
		if (t->oauth == OAUTH_NONE)
			continue;
		oauth_state_make(s, ID, t->name, NONCE);
		assert_true(oauth_state_parse(s, id, type, nonce));
		assert_string_equal(id, ID);
		assert_string_equal(type, t->name);
		assert_string_equal(nonce, NONCE);
	}
}

static void
test_state_refused(void **state)
{
	static const char *const bad[] = {
		NULL, "", ":::",
		ID ":s3:" NONCE,                         /* not an OAuth type */
		ID ":cifs:" NONCE,                       /* not a type */
		ID ":onedrive:" NONCE ":x",              /* a fourth part */
		ID ":onedrive:" NONCE "A",               /* 44 chars */
		ID ":onedrive:" "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCd",
		ID ":onedrive:" "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbC=",
		ID ":onedrive:" "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789+/AbCd",
		"0b9a6c7e-3f1d-4e55-9a57-2f1c8d0e4b2X:onedrive:" NONCE,
		"0b9a6c7e-3f1d-4e55-9a57-2f1c8d0e4b2:onedrive:" NONCE,
		ID "::" NONCE,
		ID ":onedrive_and_a_very_long_type_name:" NONCE,
		ID ":ONEDRIVE:" NONCE,
	};
	char id[37], type[32], nonce[64];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("case %zu\n", i);
		assert_false(oauth_state_parse(bad[i], id, type, nonce));
	}
}

/* RFC 7636 Appendix B's example, then fresh pairs. */
static void
test_pkce(void **state)
{
	char v[64], c[64], again[64];

	(void)state;
	oauth_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", c);
	assert_string_equal(c, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
	oauth_pkce(v, c);
	assert_int_equal(strlen(v), 43);
	assert_int_equal(strlen(c), 43);
	assert_int_equal(strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
	    "OPQRSTUVWXYZ0123456789-_"), 43);
	oauth_pkce_challenge(v, again);
	assert_string_equal(again, c);
	oauth_pkce(again, c);
	assert_string_not_equal(again, v);
	oauth_nonce(v);
	assert_int_equal(strlen(v), OAUTH_NONCE_LEN);
}

static struct cfg
test_cfg(void)
{
	struct cfg c;

	memset(&c, 0, sizeof(c));
	c.oauth_redirect_uri = "https://api.example/backup-destinations/oauth/"
	    "callback";
	c.google_client_id = "gid";
	c.google_client_secret = "gsecret";
	c.google_auth_url = "https://accounts.example/o/oauth2/v2/auth";
	c.microsoft_client_id = "mid";
	c.microsoft_login_url = "https://login.example";
	c.dropbox_client_id = "did";
	c.dropbox_client_secret = "dsecret";
	c.dropbox_auth_url = "https://www.dropbox.example/oauth2/authorize";
	c.dropbox_api_url = "https://api.dropbox.example/";
	return c;
}

/* The destination's own client replaces the server's as a pair. */
static void
test_client_of(void **state)
{
	struct cfg c = test_cfg();
	struct oauth_client cl;
	json_object *own = json_tokener_parse("{\"clientId\":\"own\","
	    "\"tenant\":\"contoso.example\"}");
	json_object *none = json_object_new_object();

	(void)state;
	oauth_client_of(&c, OAUTH_GOOGLE, none, &cl);
	assert_string_equal(cl.id, "gid");
	assert_string_equal(cl.secret, "gsecret");
	assert_string_equal(cl.tenant, "common");
	oauth_client_of(&c, OAUTH_MICROSOFT, none, &cl);
	assert_string_equal(cl.id, "mid");
	assert_null(cl.secret);
	oauth_client_of(&c, OAUTH_DROPBOX, none, &cl);
	assert_string_equal(cl.id, "did");
	assert_string_equal(cl.secret, "dsecret");
	oauth_client_of(&c, OAUTH_GOOGLE, own, &cl);
	assert_string_equal(cl.id, "own");
	assert_null(cl.secret);
	assert_string_equal(cl.tenant, "contoso.example");
	json_object_put(own);
	json_object_put(none);
}

static void
test_authorization_url(void **state)
{
	struct cfg c = test_cfg();
	struct oauth_client g = {"gid", "gsecret", "common"};
	struct oauth_client m = {"mid", NULL, "contoso.example"};
	char *u;

	(void)state;
	u = oauth_authorization_url(&c, OAUTH_GOOGLE, &g, ID ":google_drive:"
	    NONCE, "CHAL");
	assert_non_null(u);
	assert_string_equal(u, "https://accounts.example/o/oauth2/v2/auth"
	    "?client_id=gid"
	    "&redirect_uri=https%3A%2F%2Fapi.example%2Fbackup-destinations"
	    "%2Foauth%2Fcallback"
	    "&response_type=code"
	    "&scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fdrive.file"
	    "&access_type=offline&prompt=consent"
	    "&state=" ID "%3Agoogle_drive%3A" NONCE
	    "&code_challenge=CHAL&code_challenge_method=S256");
	/* The secret never goes into the browser's URL. */
	assert_null(strstr(u, "gsecret"));
	free(u);
	u = oauth_authorization_url(&c, OAUTH_MICROSOFT, &m, "s", "CHAL");
	assert_non_null(u);
	assert_string_equal(u, "https://login.example/contoso.example/oauth2/"
	    "v2.0/authorize?client_id=mid"
	    "&redirect_uri=https%3A%2F%2Fapi.example%2Fbackup-destinations"
	    "%2Foauth%2Fcallback"
	    "&response_type=code&scope=offline_access%20Files.ReadWrite"
	    "&response_mode=query&state=s"
	    "&code_challenge=CHAL&code_challenge_method=S256");
	free(u);
	/* Dropbox ("OAuth Guide"): offline access asks for a refresh token;
	 * the four scopes the probe and backups need, nothing more. */
	u = oauth_authorization_url(&c, OAUTH_DROPBOX, &g, "s", "CHAL");
	assert_non_null(u);
	assert_string_equal(u, "https://www.dropbox.example/oauth2/authorize"
	    "?client_id=gid"
	    "&redirect_uri=https%3A%2F%2Fapi.example%2Fbackup-destinations"
	    "%2Foauth%2Fcallback"
	    "&response_type=code&scope=account_info.read%20"
	    "files.metadata.read%20files.content.read%20files.content.write"
	    "&token_access_type=offline&state=s"
	    "&code_challenge=CHAL&code_challenge_method=S256");
	free(u);
	/* A configured URL that already has a query gets '&'. */
	c.google_auth_url = "https://accounts.example/auth?hd=example.com";
	u = oauth_authorization_url(&c, OAUTH_GOOGLE, &g, "s", "C");
	assert_non_null(u);
	assert_non_null(strstr(u, "/auth?hd=example.com&client_id=gid&"));
	free(u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_round_trip),
		cmocka_unit_test(test_state_refused),
		cmocka_unit_test(test_pkce),
		cmocka_unit_test(test_client_of),
		cmocka_unit_test(test_authorization_url),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
