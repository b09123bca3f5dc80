/*
 * lib/probe_sftp.c's helpers, without a network: SFTP URLs and quote
 * commands from config paths, host key pins and fingerprints, what a
 * private key's text says about itself, curl's login text read into flags,
 * the classification of a login's outcome, and the temporary key file.
 * The file is included so its static helpers can be called directly; the
 * probe itself is proven against OpenSSH in
 * tests/integration/test_probe_sftp.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "probe/probe_sftp.c"

/* ------------------------------------------------------------ paths */

static void
test_paths(void **state)
{
	static const struct {
		const char *path, *url, *raw;
	} cases[] = {
		{ "/srv/backup", "/srv/backup", "/srv/backup" },
		{ "/srv/backup/", "/srv/backup", "/srv/backup" },
		{ "//srv//backup//", "/srv/backup", "/srv/backup" },
		{ "/", "", "/" },
		{ "/srv/back up", "/srv/back%20up", "/srv/back up" },
		{ "/a/%20/b", "/a/%2520/b", "/a/%20/b" },
		{ "/a/../b", "/a/%2E%2E/b", "/a/../b" },
		{ "/a/./b", "/a/%2E/b", "/a/./b" },
		{ "/a/.x/b~", "/a/.x/b~", "/a/.x/b~" },
		{ "/a/\"q\"", "/a/%22q%22", "/a/\"q\"" },
		{ "/d/\xc3\xa9t\xc3\xa9", "/d/%C3%A9t%C3%A9", "/d/\xc3\xa9t\xc3\xa9" },
		{ "/a?b#c", "/a%3Fb%23c", "/a?b#c" },
		/* Relative: the home directory, "/~" in URLs, "" in quotes. */
		{ "", "/~", "" },
		{ "~", "/~", "" },
		{ "~/", "/~", "" },
		{ "backups", "/~/backups", "backups" },
		{ "~/backups/", "/~/backups", "backups" },
		{ "backups/daily", "/~/backups/daily", "backups/daily" },
		{ "~user/x", "/~/~user/x", "~user/x" },
	};
	char url[256], raw[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(build_paths(cases[i].path, url, sizeof(url), raw,
		    sizeof(raw)));
		assert_string_equal(url, cases[i].url);
		assert_string_equal(raw, cases[i].raw);
	}
	/* Too long for the buffers: refused, not cut. */
	assert_false(build_paths("/abcdefghij", url, 8, raw, sizeof(raw)));
	assert_false(build_paths("/abcdefghij", url, sizeof(url), raw, 8));
	assert_false(build_paths("/a b", url, 5, raw, sizeof(raw)));
}

static void
test_urls(void **state)
{
	static const struct {
		const char *host;
		long port;
		const char *dir, *name, *want;
	} cases[] = {
		{ "nas.lan", 22, "/srv", "", "sftp://nas.lan:22/srv/" },
		{ "nas.lan", 2222, "/~", ".p", "sftp://nas.lan:2222/~/.p" },
		{ "10.0.0.5", 22, "", "", "sftp://10.0.0.5:22/" },
		{ "fd00::5", 22, "/x", "", "sftp://[fd00::5]:22/x/" },
		{ "[fd00::5]", 22, "/x", "", "sftp://[fd00::5]:22/x/" },
	};
	char out[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(build_url(out, sizeof(out), cases[i].host,
		    cases[i].port, cases[i].dir, cases[i].name));
		assert_string_equal(out, cases[i].want);
	}
	assert_false(build_url(out, 10, "nas.lan", 22, "/srv", ""));
}

static void
test_rm(void **state)
{
	static const struct {
		const char *dir, *want;
	} cases[] = {
		{ "/srv/b", "rm \"/srv/b/.p\"" },
		{ "/", "rm \"/.p\"" },
		{ "", "rm \".p\"" },
		{ "backups", "rm \"backups/.p\"" },
		{ "/a b/\"q\"", "rm \"/a b/\\\"q\\\"/.p\"" },
		{ "/a\\b", "rm \"/a\\\\b/.p\"" },
	};
	char out[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(build_rm(out, sizeof(out), cases[i].dir, ".p"));
		assert_string_equal(out, cases[i].want);
	}
	assert_false(build_rm(out, 12, "/srv/backups", ".p"));
}

/* --------------------------------------------------------- host keys */

#define FP1 "PyT1DY3wT5olpGZ7/hVtq79LwA1ICR0nOFkSzyEZf+8"
/* ssh-keygen -l of this public key prints SHA256:FP1. */
static const char host_pub[] =
    "AAAAC3NzaC1lZDI1NTE5AAAAIEVLF0Lvh/fC/gu+cvpqVwGjqfZtfzpLk1yQc7DVZKd1";

static void
test_pins(void **state)
{
	static const struct {
		const char *in;
		bool ok;
	} cases[] = {
		{ "SHA256:" FP1, true },
		{ FP1, true },
		{ FP1 "=", true },
		{ "SHA256:" FP1 "=", true },
		{ FP1 "==", false },
		{ "SHA256:", false },
		{ "", false },
		{ "sha256:" FP1, false },
		{ "MD5:" FP1, false },
	};
	char out[FP_LEN + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(probe_sftp_fingerprint(cases[i].in, out), cases[i].ok);
		if (cases[i].ok)
			assert_string_equal(out, FP1);
	}
}

static void
test_hostkey(void **state)
{
	unsigned char blob[128];
	size_t len = 0;
	struct sftp_state st;
	const char *other = "X2PBQKuE3McQ+hVwaboqstijk/l13I62I+OCvL+7vS8";

	(void)state;
	assert_int_equal(sodium_base642bin(blob, sizeof(blob), host_pub,
	    strlen(host_pub), NULL, &len, NULL,
	    sodium_base64_VARIANT_ORIGINAL), 0);

	/* No pin: the first key is accepted and remembered. */
	memset(&st, 0, sizeof(st));
	assert_int_equal(on_hostkey(&st, CURLKHTYPE_ED25519,
	    (const char *)blob, len), CURLKHMATCH_OK);
	assert_true(st.key_seen && st.key_ok);
	assert_string_equal(st.seen, FP1);
	assert_string_equal(st.seen_type, "ED25519");
	/* A second connection of the same probe must show the same key. */
	blob[len - 1] ^= 1;
	assert_int_equal(on_hostkey(&st, CURLKHTYPE_ED25519,
	    (const char *)blob, len), CURLKHMATCH_MISMATCH);
	assert_false(st.key_ok);
	blob[len - 1] ^= 1;

	/* The right pin. */
	memset(&st, 0, sizeof(st));
	st.pin = FP1;
	assert_int_equal(on_hostkey(&st, CURLKHTYPE_ED25519,
	    (const char *)blob, len), CURLKHMATCH_OK);

	/* A wrong pin: refused, and the key seen is known for the detail. */
	memset(&st, 0, sizeof(st));
	st.pin = other;
	assert_int_equal(on_hostkey(&st, CURLKHTYPE_RSA,
	    (const char *)blob, len), CURLKHMATCH_MISMATCH);
	assert_true(st.key_seen);
	assert_false(st.key_ok);
	assert_string_equal(st.seen, FP1);
	assert_string_equal(st.seen_type, "RSA");

	/* No key at all is never accepted. */
	memset(&st, 0, sizeof(st));
	assert_int_equal(on_hostkey(&st, CURLKHTYPE_ED25519, NULL, 0),
	    CURLKHMATCH_MISMATCH);
}

/* Alternates: the pin or any alternate passes, and which one is known. */
static void
test_alternates(void **state)
{
	unsigned char blob[128];
	size_t len = 0;
	struct sftp_state st;
	char alts[2][FP_LEN + 1] = {
		"X2PBQKuE3McQ+hVwaboqstijk/l13I62I+OCvL+7vS8", FP1 };
	const char *other = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";

	(void)state;
	assert_int_equal(sodium_base642bin(blob, sizeof(blob), host_pub,
	    strlen(host_pub), NULL, &len, NULL,
	    sodium_base64_VARIANT_ORIGINAL), 0);

	memset(&st, 0, sizeof(st));
	st.pin = other;
	st.alts = (const char (*)[FP_LEN + 1])alts;
	st.nalts = 2;
	assert_int_equal(on_hostkey(&st, CURLKHTYPE_ED25519,
	    (const char *)blob, len), CURLKHMATCH_OK);
	assert_int_equal(st.matched, 2);
	assert_string_equal(st.seen_alg, "ssh-ed25519");
	/* Only the first alternate: the key is refused. */
	memset(&st, 0, sizeof(st));
	st.pin = other;
	st.alts = (const char (*)[FP_LEN + 1])alts;
	st.nalts = 1;
	assert_int_equal(on_hostkey(&st, CURLKHTYPE_ED25519,
	    (const char *)blob, len), CURLKHMATCH_MISMATCH);
	assert_true(st.key_seen);
	assert_string_equal(st.seen, FP1);
	/* The pin itself still matches with alternates set (matched 0). */
	memset(&st, 0, sizeof(st));
	st.pin = FP1;
	st.alts = (const char (*)[FP_LEN + 1])alts;
	st.nalts = 1;
	assert_int_equal(on_hostkey(&st, CURLKHTYPE_ED25519,
	    (const char *)blob, len), CURLKHMATCH_OK);
	assert_int_equal(st.matched, 0);
	/* Without a pin, alternates are not consulted: trust on first use. */
	memset(&st, 0, sizeof(st));
	st.alts = (const char (*)[FP_LEN + 1])alts;
	st.nalts = 1;
	assert_int_equal(on_hostkey(&st, CURLKHTYPE_ED25519,
	    (const char *)blob, len), CURLKHMATCH_OK);
	/* No session seen on this thread: no software. */
	assert_string_equal(st.software, "");
}

/* The algorithm name at the start of a key blob, and only a clean one. */
static void
test_key_alg(void **state)
{
	unsigned char blob[64];
	char out[48];

	(void)state;
	memcpy(blob, "\0\0\0\x13" "ecdsa-sha2-nistp256\0\0\0\x08", 27);
	key_alg(blob, 27, out, sizeof(out));
	assert_string_equal(out, "ecdsa-sha2-nistp256");
	key_alg(blob, 10, out, sizeof(out));          /* truncated */
	assert_string_equal(out, "");
	memcpy(blob, "\0\0\0\x04ssh\n", 8);            /* control char */
	key_alg(blob, 8, out, sizeof(out));
	assert_string_equal(out, "");
	memcpy(blob, "\0\0\0\x07ssh-rsa", 11);
	key_alg(blob, 11, out, 7);                      /* does not fit */
	assert_string_equal(out, "");
	key_alg(blob, 11, out, 8);
	assert_string_equal(out, "ssh-rsa");
	memcpy(blob, "\0\0\0\0", 4);                     /* empty */
	key_alg(blob, 4, out, sizeof(out));
	assert_string_equal(out, "");
}

/* ------------------------------------------------------ private keys */

/* Throwaway keys made for this test (ssh-keygen -t ed25519, -N "" / "pp"). */
static const char ed_plain[] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACBFSxdC74f3wv4LvnL6alcBo6n2bX86S5NckHOw1WSndQAAAIh7feAve33g\n"
    "LwAAAAtzc2gtZWQyNTUxOQAAACBFSxdC74f3wv4LvnL6alcBo6n2bX86S5NckHOw1WSndQ\n"
    "AAAEAKj4Ab14DHYH221xjHXdKbMirDB6+a+XK/VLuUyalCNUVLF0Lvh/fC/gu+cvpqVwGj\n"
    "qfZtfzpLk1yQc7DVZKd1AAAAAXQBAgME\n"
    "-----END OPENSSH PRIVATE KEY-----\n";
static const char ed_pass[] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\r\n"
    "b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABDkQljRrP\r\n"
    "DO1mydWaLhwtE5AAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIILIs6Y6wIfncQks\r\n"
    "i3gnclY6ZLzER13rRANnoNsGKA5fAAAAkF/RR84w3LgKjBKuhewsiZ1uJnGNFiNfRIv+LX\r\n"
    "s3m2wEwUnxZALV5QNJ72SCoEbMnbgYy5zU4lnMnJMdRF7s5268XZZ85sXLsWMe3//WCd8t\r\n"
    "3klELRkLU5wX8tt/7CiyReJd1JY3JhzrYSciIvK2dW0ob6wUddap0lDIKsbp0nimK9nWww\r\n"
    "bk56a57C8aZcW8rA==\r\n"
    "-----END OPENSSH PRIVATE KEY-----\r\n";

static size_t
put_str(unsigned char *p, const void *s, size_t n)
{
	p[0] = (unsigned char)(n >> 24);
	p[1] = (unsigned char)(n >> 16);
	p[2] = (unsigned char)(n >> 8);
	p[3] = (unsigned char)n;
	memcpy(p + 4, s, n);
	return 4 + n;
}

/* An OpenSSH key file's text with the given cipher and public key type
 * (PROTOCOL.key); the private part is irrelevant to key_info(). */
static char *
openssh_text(const char *cipher, const char *type)
{
	unsigned char bin[256], pub[64];
	size_t n = 0, pn;
	char b64[400], *out;

	memcpy(bin, "openssh-key-v1", 15);
	n = 15;
	n += put_str(bin + n, cipher, strlen(cipher));
	n += put_str(bin + n, "bcrypt", 6);
	n += put_str(bin + n, "", 0);
	memcpy(bin + n, "\0\0\0\1", 4);
	n += 4;
	pn = put_str(pub, type, strlen(type));
	pn += put_str(pub + pn, "xyz", 3);
	n += put_str(bin + n, pub, pn);
	n += put_str(bin + n, "private", 7);
	sodium_bin2base64(b64, sizeof(b64), bin, n,
	    sodium_base64_VARIANT_ORIGINAL);
	out = malloc(600);
	assert_non_null(out);
	snprintf(out, 600, "-----BEGIN OPENSSH PRIVATE KEY-----\n%s\n"
	    "-----END OPENSSH PRIVATE KEY-----\n", b64);
	return out;
}

static void
test_key_info(void **state)
{
	static const struct {
		const char *cipher, *type;
		enum key_kind kind;
		bool enc;
	} synth[] = {
		{ "none", "ssh-rsa", KEY_RSA, false },
		{ "aes256-ctr", "ssh-rsa", KEY_RSA, true },
		{ "none", "ecdsa-sha2-nistp256", KEY_ECDSA, false },
		{ "none", "ssh-dss", KEY_DSA, false },
		{ "aes256-ctr", "ssh-ed25519", KEY_ED25519, true },
		{ "none", "sk-ssh-ed25519@openssh.com", KEY_UNKNOWN, false },
	};
	static const struct {
		const char *text;
		enum key_kind kind;
		bool enc;
	} pem[] = {
		{ "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n", KEY_RSA, false },
		{ "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
		    "DEK-Info: AES-128-CBC,00\n\nMIIE\n", KEY_RSA, true },
		{ "-----BEGIN EC PRIVATE KEY-----\nMHc\n", KEY_ECDSA, false },
		{ "-----BEGIN DSA PRIVATE KEY-----\nMIIB\n", KEY_DSA, false },
		{ "-----BEGIN PRIVATE KEY-----\nMIIE\n", KEY_UNKNOWN, false },
		{ "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIF\n", KEY_UNKNOWN,
		    true },
		{ "not a key", KEY_UNKNOWN, false },
		/* A damaged OpenSSH body: nothing known, nothing read past. */
		{ "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn!!\n"
		    "-----END OPENSSH PRIVATE KEY-----\n", KEY_UNKNOWN, false },
		{ "-----BEGIN OPENSSH PRIVATE KEY-----\n"
		    "b3BlbnNzaC1rZXktdjEAAAAABG5v\n"
		    "-----END OPENSSH PRIVATE KEY-----\n", KEY_UNKNOWN, false },
		{ "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl", KEY_UNKNOWN,
		    false },
	};
	struct key_info ki;
	size_t i;
	char *t;

	(void)state;
	key_info(ed_plain, &ki);
	assert_int_equal(ki.kind, KEY_ED25519);
	assert_false(ki.encrypted);
	key_info(ed_pass, &ki);
	assert_int_equal(ki.kind, KEY_ED25519);
	assert_true(ki.encrypted);
	for (i = 0; i < sizeof(synth) / sizeof(synth[0]); i++) {
		t = openssh_text(synth[i].cipher, synth[i].type);
		key_info(t, &ki);
		assert_int_equal(ki.kind, synth[i].kind);
		assert_int_equal(ki.encrypted, synth[i].enc);
		free(t);
	}
	for (i = 0; i < sizeof(pem) / sizeof(pem[0]); i++) {
		key_info(pem[i].text, &ki);
		assert_int_equal(ki.kind, pem[i].kind);
		assert_int_equal(ki.encrypted, pem[i].enc);
	}
}

/* ------------------------------------------------- curl's login text */

static void
feed(struct sftp_state *st, const char *line)
{
	on_debug(NULL, CURLINFO_TEXT, (char *)line, strlen(line), st);
}

static void
test_debug_text(void **state)
{
	struct sftp_state st;
	char hdr[] = "Authentication complete";

	(void)state;
	memset(&st, 0, sizeof(st));
	feed(&st, "SSH authentication methods available: publickey,password\n");
	assert_true(st.methods_known && st.offers_password &&
	    st.offers_publickey);
	feed(&st, "SSH public key authentication failed: Unable to extract "
	    "public key from private key file: Wrong passphrase or "
	    "invalid/unrecognized private key file format\n");
	assert_true(st.key_failed && st.key_unusable);
	assert_false(st.auth_done);
	feed(&st, "Authentication complete\n");
	assert_true(st.auth_done);

	memset(&st, 0, sizeof(st));
	feed(&st, "SSH authentication methods available: publickey\n");
	assert_true(st.offers_publickey);
	assert_false(st.offers_password);
	feed(&st, "SSH public key authentication failed: Username/PublicKey "
	    "combination invalid\n");
	assert_true(st.key_failed);
	assert_false(st.key_unusable);

	memset(&st, 0, sizeof(st));
	feed(&st, "SSH authentication methods available: "
	    "keyboard-interactive\n");
	assert_true(st.offers_password);
	assert_false(st.offers_publickey);
	/* "passwordless" is not "password"; only text lines count. */
	memset(&st, 0, sizeof(st));
	feed(&st, "SSH authentication methods available: passwordless\n");
	assert_false(st.offers_password);
	on_debug(NULL, CURLINFO_HEADER_IN, hdr, strlen(hdr), &st);
	assert_false(st.auth_done);
}

/* ------------------------------------------------- login outcomes */

static void
fresh(struct sftp_probe *p, struct probe_result *r, bool pw, bool key)
{
	memset(p, 0, sizeof(*p));
	memset(r, 0, sizeof(*r));
	r->ok = true;
	r->failed = -1;
	p->res = r;
	p->user = "alice";
	p->password = pw;
	p->privkey = key;
	p->connect_idx = -1;
	p->st.key_seen = p->st.key_ok = true;
	memcpy(p->st.seen, FP1, sizeof(p->st.seen));
	p->st.seen_type = "ED25519";
}

static void
test_login_outcomes(void **state)
{
	static const struct {
		bool pw, key, key_unusable, key_failed, encrypted, rsa;
		const char *methods;
		CURLcode cc;
		bool ok;
		int failed;
		const char *detail; /* of the last check */
	} cases[] = {
		{ true, false, false, false, false, false, NULL,
		    CURLE_LOGIN_DENIED, false, CHECK_AUTH,
		    "the server refused the password for user 'alice'" },
		{ false, true, false, true, false, false, NULL,
		    CURLE_LOGIN_DENIED, false, CHECK_AUTH,
		    "the server refused the key for user 'alice'" },
		{ true, true, false, true, false, false, NULL,
		    CURLE_LOGIN_DENIED, false, CHECK_AUTH,
		    "the server refused the key and the password for user "
		    "'alice'" },
		{ false, true, true, true, true, false, NULL,
		    CURLE_LOGIN_DENIED, false, CHECK_AUTH,
		    "the private key passphrase is wrong or missing" },
		{ false, true, true, true, false, false, NULL,
		    CURLE_LOGIN_DENIED, false, CHECK_AUTH,
		    "the private key could not be loaded (unsupported key "
		    "type or format)" },
		{ true, false, false, false, false, false,
		    "SSH authentication methods available: publickey\n",
		    CURLE_LOGIN_DENIED, false, CHECK_AUTH,
		    "the server does not accept password logins for user "
		    "'alice'" },
		{ false, true, false, false, false, false,
		    "SSH authentication methods available: password\n",
		    CURLE_LOGIN_DENIED, false, CHECK_AUTH,
		    "the server does not accept key logins for user 'alice'" },
		{ true, false, false, false, false, false, NULL,
		    CURLE_OPERATION_TIMEDOUT, false, CHECK_AUTH,
		    "the server did not answer in time while logging in" },
		/* SFTP-level answers prove the login even without the text. */
		{ true, false, false, false, false, false, NULL,
		    CURLE_REMOTE_FILE_NOT_FOUND, true, -1,
		    "logged in as 'alice' with the password" },
		{ false, true, false, false, false, false, NULL,
		    CURLE_OK, true, -1,
		    "logged in as 'alice' with the private key" },
		{ true, true, true, true, true, false, NULL,
		    CURLE_OK, true, -1,
		    "logged in as 'alice' with the password" },
	};
	struct sftp_probe p;
	struct probe_result r;
	size_t i;
	int n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fresh(&p, &r, cases[i].pw, cases[i].key);
		p.st.key_unusable = cases[i].key_unusable;
		p.st.key_failed = cases[i].key_failed;
		p.ki.encrypted = cases[i].encrypted;
		p.ki.kind = cases[i].rsa ? KEY_RSA : KEY_ED25519;
		if (cases[i].methods != NULL)
			feed(&p.st, cases[i].methods);
		assert_int_equal(login_checks(&p, cases[i].cc, "listing"),
		    cases[i].ok);
		assert_int_equal(r.failed, cases[i].failed);
		n = r.nchecks;
		assert_int_equal(n, 2);
		assert_int_equal(r.checks[0].check, CHECK_CONNECT);
		assert_true(r.checks[0].ok);
		assert_non_null(strstr(r.checks[0].detail, FP1));
		assert_int_equal(r.checks[1].check, CHECK_AUTH);
		assert_string_equal(r.checks[1].detail, cases[i].detail);
	}
	/* The key fell back to the password: a warning says why. */
	assert_int_equal(r.nwarnings, 1);
	assert_non_null(strstr(r.warnings[0], "could not be loaded"));

	/* An RSA key refused: the detail explains ssh-rsa. */
	fresh(&p, &r, false, true);
	p.ki.kind = KEY_RSA;
	assert_false(login_checks(&p, CURLE_LOGIN_DENIED, "listing"));
	assert_non_null(strstr(r.checks[1].detail, "ssh-rsa (SHA-1)"));
	assert_non_null(strstr(r.checks[1].detail, "for user 'alice'"));

	/* A wrong pin names both keys; nothing after connect is recorded. */
	fresh(&p, &r, true, false);
	p.st.pin = "X2PBQKuE3McQ+hVwaboqstijk/l13I62I+OCvL+7vS8";
	p.st.key_ok = false;
	assert_false(login_checks(&p, CURLE_PEER_FAILED_VERIFICATION, "x"));
	assert_int_equal(r.nchecks, 1);
	assert_int_equal(r.failed, CHECK_CONNECT);
	assert_string_equal(r.checks[0].detail, "host key does not match the "
	    "pinned SHA256:X2PBQKuE3McQ+hVwaboqstijk/l13I62I+OCvL+7vS8; the "
	    "server presented SHA256:" FP1);

	/* No host key seen and curl says OK: refused, never trusted. */
	fresh(&p, &r, true, false);
	p.st.key_seen = p.st.key_ok = false;
	assert_false(login_checks(&p, CURLE_OK, "x"));
	assert_int_equal(r.failed, CHECK_CONNECT);

	/* Not an SSH server. */
	fresh(&p, &r, true, false);
	p.st.key_seen = p.st.key_ok = false;
	assert_false(login_checks(&p, CURLE_FAILED_INIT, "x"));
	assert_non_null(strstr(r.checks[0].detail, "SSH handshake failed"));

	/* Both recorded once: a second transfer adds nothing. */
	fresh(&p, &r, true, false);
	assert_true(login_checks(&p, CURLE_OK, "x"));
	assert_true(login_checks(&p, CURLE_OK, "y"));
	assert_int_equal(r.nchecks, 2);
}

/* ------------------------------------------------------ the key file */

static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
test_keyfile(void **state)
{
	char scratch[] = "/tmp/test_probe_sftp.XXXXXX", buf[64], link[64];
	const char *old = getenv("TMPDIR");
	char *saved = old != NULL ? strdup(old) : NULL;
	struct keyfile kf;
	struct stat st;
	FILE *f;
	size_t n;
	ssize_t ln;
	int dupfd;

	(void)state;
	assert_non_null(mkdtemp(scratch));
	assert_int_equal(setenv("TMPDIR", scratch, 1), 0);

	/* An anonymous memory file, named through /proc/self/fd. */
	assert_true(keyfile_create(&kf, "KEYTEXT", 7));
	assert_true(kf.fd >= 0);
	snprintf(buf, sizeof(buf), "/proc/self/fd/%d", kf.fd);
	assert_string_equal(kf.path, buf);
	ln = readlink(kf.path, link, sizeof(link) - 1);
	assert_true(ln > 0);
	link[ln] = '\0';
	assert_int_equal(strncmp(link, "/memfd:backupd-key", 18), 0);
	assert_int_equal(stat(kf.path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	/* Close-on-exec: a helper process never inherits the key. */
	assert_true(fcntl(kf.fd, F_GETFD) & FD_CLOEXEC);
	/* Nothing in TMPDIR (nor anywhere else on disk). */
	assert_int_equal(count_entries(scratch), 0);
	/* A final newline is added when missing (libssh2 reads lines);
	 * opening the path by name (as libssh2 does) reads it whole. */
	f = fopen(kf.path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_int_equal(n, 8);
	assert_memory_equal(buf, "KEYTEXT\n", 8);
	/* Removal wipes the contents (seen through a second descriptor). */
	dupfd = dup(kf.fd);
	assert_true(dupfd >= 0);
	assert_true(keyfile_remove(&kf));
	assert_int_equal(kf.fd, -1);
	assert_string_equal(kf.path, "");
	assert_int_equal(fstat(dupfd, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(close(dupfd), 0);
	assert_int_equal(count_entries(scratch), 0);
	/* Twice is harmless. */
	assert_true(keyfile_remove(&kf));

	/* A text that ends in a newline is written as is. */
	assert_true(keyfile_create(&kf, "K\n", 2));
	assert_int_equal(stat(kf.path, &st), 0);
	assert_int_equal(st.st_size, 2);
	assert_true(keyfile_remove(&kf));

	/* TMPDIR plays no part: even an unusable one works. */
	assert_int_equal(setenv("TMPDIR", "/nonexistent/dir", 1), 0);
	assert_true(keyfile_create(&kf, "K", 1));
	assert_true(keyfile_remove(&kf));

	if (saved != NULL)
		setenv("TMPDIR", saved, 1);
	else
		unsetenv("TMPDIR");
	free(saved);
	assert_int_equal(rmdir(scratch), 0);
}

/* The statvfs quote command and curl's answer to it. */
static void
test_statvfs(void **state)
{
	static const char ans[] = "statvfs:\nf_bsize: 4096\nf_frsize: 4096\n"
	    "f_blocks: 1000\nf_bfree: 300\nf_bavail: 250\nf_files: 7\n"
	    "f_ffree: 1\nf_favail: 1\nf_fsid: 0\nf_flag: 0\nf_namemax: 255\n";
	char out[64];

	(void)state;
	assert_true(build_statvfs(out, sizeof(out), "/srv/back up"));
	assert_string_equal(out, "statvfs \"/srv/back up\"");
	assert_true(build_statvfs(out, sizeof(out), ""));
	assert_string_equal(out, "statvfs \".\"");
	assert_true(build_statvfs(out, sizeof(out), "a\"b\\c"));
	assert_string_equal(out, "statvfs \"a\\\"b\\\\c\"");
	assert_false(build_statvfs(out, 12, "/a/long/path"));
	assert_true(vfs_field(ans, sizeof(ans) - 1, "f_frsize") == 4096);
	assert_true(vfs_field(ans, sizeof(ans) - 1, "f_blocks") == 1000);
	assert_true(vfs_field(ans, sizeof(ans) - 1, "f_bfree") == 300);
	assert_true(vfs_field(ans, sizeof(ans) - 1, "f_bavail") == 250);
	assert_true(vfs_field(ans, sizeof(ans) - 1, "f_nope") == -1);
	/* "f_b" is not "f_bsize"; a cut answer or a bad number is -1. */
	assert_true(vfs_field(ans, sizeof(ans) - 1, "f_b") == -1);
	assert_true(vfs_field(ans, 40, "f_blocks") == -1);
	assert_true(vfs_field("f_bfree: 12x\n", 13, "f_bfree") == -1);
	assert_true(vfs_field("f_bfree: \n", 10, "f_bfree") == -1);
	assert_true(vfs_field("f_bfree: 99999999999999999999\n", 30,
	    "f_bfree") == -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_rm),
		cmocka_unit_test(test_statvfs),
		cmocka_unit_test(test_pins),
		cmocka_unit_test(test_hostkey),
		cmocka_unit_test(test_alternates),
		cmocka_unit_test(test_key_alg),
		cmocka_unit_test(test_key_info),
		cmocka_unit_test(test_debug_text),
		cmocka_unit_test(test_login_outcomes),
		cmocka_unit_test(test_keyfile),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
