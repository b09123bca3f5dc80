/*
 * The SFTP probe: libcurl's SFTP (libssh2 backend, as in Debian's
 * libcurl4). One easy handle runs the four transfers, so curl reuses the
 * SSH session: list the directory (connect, auth, target), upload the probe
 * object (write), download it (read), "rm" it as a quote command (delete),
 * then, best effort, the "statvfs" quote command (the statvfs@openssh.com
 * extension; curl hands its answer to the header callback) for
 * TestResult.capacity.
 *
 * Host key: decided in CURLOPT_SSH_HOSTKEYFUNCTION, which sees the raw key
 * blob; its SHA-256 in unpadded base64 is what `ssh-keygen -l` prints. With
 * a pin (hostKeySha256) the key must match it or one of the
 * hostKeySha256Alternates (a server that rotates its key, or offers several
 * key types); without one the key is accepted and, when the whole test
 * succeeds, returned in res->config_update so the service stores it (trust
 * on first use). Whatever the outcome, once the server showed a key,
 * TestResult.observed names it: hostKeySha256 ("SHA256:..."), hostKeyType
 * (the key's algorithm name, "ssh-ed25519") and serverSoftware (the
 * software part of the server's identification string, see
 * libssh2_session_hostkey() below).
 * CURLOPT_SSH_HOST_PUBLIC_KEY_SHA256 is deliberately not used: curl 7.88
 * (lib/vssh/libssh2.c, ssh_check_fingerprint) skips the host key callback
 * whenever that option is set and reports a mismatch only in its error
 * buffer, so the probe could not name the key the server presented. The
 * callback is always installed: without it and without
 * CURLOPT_SSH_KNOWNHOSTS, libcurl accepts any host key.
 *
 * Paths (SftpConfig.path): "/srv/backup" is absolute; anything else
 * ("backups", "~/backups", "~", "") is relative to the login's home
 * directory, which curl spells "/~/" in an SFTP URL (curl's
 * docs/libcurl/libcurl-tutorial "SFTP": a path starting with /~/ is
 * relative to the home directory).
 *
 * A private key is handed to libcurl as a file (CURLOPT_SSH_PRIVATE_KEYFILE
 * takes a path only, and libssh2 opens it by name): it is written to an
 * anonymous memory file (memfd_create(2), close-on-exec) named by
 * "/proc/self/fd/<n>". Nothing ever reaches a file system, so a worker
 * killed mid-probe (request timeout, SIGTERM, crash) leaves no copy of the
 * key behind: the memory goes with the process. On every normal path the
 * file is overwritten with zeros, truncated and closed before the probe
 * returns.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bd_limits.h"
#include "probe.h"
#include "probe_banner.h"
#include "wipe.h"
#include "fdio.h"
#include "url.h"

/* Unpadded base64 of a SHA-256 digest: 43 characters. */
#define FP_LEN PROBE_SFTP_FP_LEN

/* What the key text says about itself (see key_info()). */
enum key_kind { KEY_UNKNOWN, KEY_RSA, KEY_ECDSA, KEY_ED25519, KEY_DSA };

struct key_info {
	enum key_kind kind;
	bool encrypted;
};

/* Everything the curl callbacks learn during the transfers. */
struct sftp_state {
	/* host key */
	const char *pin;           /* FP_LEN chars, or NULL: trust on first use */
	const char (*alts)[FP_LEN + 1]; /* more accepted keys (with a pin) */
	size_t nalts;
	int matched;               /* 0: the pin, i > 0: alts[i - 1] */
	bool key_seen;             /* the host key callback ran */
	bool key_ok;               /* ... and accepted the key */
	char seen[FP_LEN + 1];     /* fingerprint of the key the server showed */
	const char *seen_type;     /* "ED25519", ... (static) */
	char seen_alg[48];         /* "ssh-ed25519", ... from the key; "" */
	char software[LIM_PROBE_BANNER_MAX + 1]; /* observed.serverSoftware */
	/* login, from curl's informational text (CURLINFO_TEXT) */
	bool auth_done;            /* "Authentication complete" */
	bool key_failed;           /* public key authentication failed */
	bool key_unusable;         /* ... because the key file did not load */
	bool methods_known;        /* the server's method list was seen */
	bool offers_password;      /* password or keyboard-interactive */
	bool offers_publickey;
	/* body sink */
	bool listing;              /* stop after the first directory entry */
	bool listed;               /* an entry arrived */
	size_t listlen;            /* bytes of the listing read */
	unsigned char got[LIM_PROBE_BYTES + 1];
	size_t gotlen;
	bool overflow;             /* more than LIM_PROBE_BYTES arrived */
	/* upload source */
	const unsigned char *src;
	size_t srcleft;
	/* the "statvfs" quote command's answer (header callback) */
	char vfs[1024];
	size_t vfslen;
};

/* --------------------------------------------------------- host key */

static const char *
key_type_name(int t)
{
	switch (t) {
	case CURLKHTYPE_RSA:
	case CURLKHTYPE_RSA1:
		return "RSA";
	case CURLKHTYPE_DSS:
		return "DSA";
	case CURLKHTYPE_ECDSA:
		return "ECDSA";
	case CURLKHTYPE_ED25519:
		return "ED25519";
	default:
		return "SSH";
	}
}

/*
 * The server's identification string ("SSH-2.0-OpenSSH_9.2p1 Debian-2",
 * RFC 4253 §4.2) is known to libssh2 only (libssh2_session_banner_get), and
 * libcurl gives no access to its libssh2 session. So this file defines
 * libssh2_session_hostkey() for the process (the executable's definition
 * comes first in the dynamic symbol lookup, as for connect() in
 * probe_smb.c): libcurl 7.88 calls it in ssh_check_fingerprint()
 * (lib/vssh/libssh2.c) right before it hands the key to
 * CURLOPT_SSH_HOSTKEYFUNCTION, on the same thread. The definition calls
 * libssh2's own function (looked up in the libssh2 libcurl already loaded)
 * and notes the session for this thread; on_hostkey() then reads the
 * banner. A libcurl with another SSH backend never calls it: no
 * serverSoftware then, nothing else changes.
 */
#define LIBSSH2_SONAME "libssh2.so.1"

typedef const char *(*ssh_hostkey_fn)(void *, size_t *, int *);
typedef const char *(*ssh_banner_fn)(void *);

static _Thread_local void *ssh_session_seen;

/* A function of the already-loaded libssh2 (never loads it). */
static void *
libssh2_sym(const char *name)
{
	void *lib = dlopen(LIBSSH2_SONAME, RTLD_LAZY | RTLD_NOLOAD);
	void *f;

	if (lib == NULL)
		return NULL;
	f = dlsym(lib, name);
	/* libcurl keeps the library loaded; the handle only counted. */
	dlclose(lib);
	return f;
}

const char *libssh2_session_hostkey(void *session, size_t *len, int *type);

const char *
libssh2_session_hostkey(void *session, size_t *len, int *type)
{
	ssh_hostkey_fn real;
	void *f = libssh2_sym("libssh2_session_hostkey");

	ssh_session_seen = session;
	if (f == NULL || f == (void *)libssh2_session_hostkey) {
		if (len != NULL)
			*len = 0;
		return NULL;
	}
	memcpy(&real, &f, sizeof(real));
	return real(session, len, type);
}

/* The software part of the identification string of the session
 * libssh2_session_hostkey() saw on this thread, cleaned into out; "" when
 * unknown. */
static void
ssh_server_software(char out[LIM_PROBE_BANNER_MAX + 1])
{
	void *session = ssh_session_seen, *f;
	ssh_banner_fn banner_get;
	const char *b, *sw;

	out[0] = '\0';
	ssh_session_seen = NULL;
	if (session == NULL ||
	    (f = libssh2_sym("libssh2_session_banner_get")) == NULL)
		return;
	memcpy(&banner_get, &f, sizeof(banner_get));
	if ((b = banner_get(session)) == NULL)
		return;
	/* "SSH-protoversion-softwareversion SP comments": from the software
	 * version on. */
	sw = b;
	if (strncmp(b, "SSH-", 4) == 0 && (sw = strchr(b + 4, '-')) != NULL)
		sw++;
	else
		sw = b;
	(void)probe_banner_clean(out, LIM_PROBE_BANNER_MAX + 1, sw,
	    strnlen(sw, 255));
}

static void key_alg(const unsigned char *blob, size_t len, char *out,
    size_t outsz);

/* Whether fp is a key this probe accepts; sets st->matched. */
static bool
key_accepted(struct sftp_state *st, const char *fp)
{
	size_t i;

	if (st->pin == NULL)
		/* Trust on first use: a second connection of the same probe
		 * must show the same key. */
		return !st->key_seen || strcmp(fp, st->seen) == 0;
	if (strcmp(fp, st->pin) == 0) {
		st->matched = 0;
		return true;
	}
	for (i = 0; i < st->nalts; i++)
		if (strcmp(fp, st->alts[i]) == 0) {
			st->matched = (int)i + 1;
			return true;
		}
	return false;
}

/*
 * CURLOPT_SSH_HOSTKEYFUNCTION (curl 7.84+): key is the raw public key blob
 * the server sent (libssh2_session_hostkey). Its fingerprint is
 * base64(SHA-256(blob)) without padding, as OpenSSH prints it
 * (sshkey_fingerprint(), SSH_FP_BASE64). Accept when it equals the pin or
 * an alternate, or, without a pin, when it is the first key seen in this
 * probe.
 */
static int
on_hostkey(void *clientp, int keytype, const char *key, size_t keylen)
{
	struct sftp_state *st = clientp;
	unsigned char md[crypto_hash_sha256_BYTES];
	char fp[FP_LEN + 1], sw[LIM_PROBE_BANNER_MAX + 1];

	ssh_server_software(sw);
	if (sw[0] != '\0')
		memcpy(st->software, sw, sizeof(st->software));
	if (key == NULL || keylen == 0)
		return CURLKHMATCH_MISMATCH;
	crypto_hash_sha256(md, (const unsigned char *)key, keylen);
	sodium_bin2base64(fp, sizeof(fp), md, sizeof(md),
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	/* Compare before recording: the first key seen is compared with. */
	st->key_ok = key_accepted(st, fp);
	memcpy(st->seen, fp, sizeof(st->seen));
	st->seen_type = key_type_name(keytype);
	key_alg((const unsigned char *)key, keylen, st->seen_alg,
	    sizeof(st->seen_alg));
	st->key_seen = true;
	return st->key_ok ? CURLKHMATCH_OK : CURLKHMATCH_MISMATCH;
}

/* See probe.h. */
bool
probe_sftp_fingerprint(const char *v, char out[FP_LEN + 1])
{
	size_t len;

	if (strncmp(v, "SHA256:", 7) == 0)
		v += 7;
	len = strlen(v);
	if (len == FP_LEN + 1 && v[FP_LEN] == '=')
		len = FP_LEN;
	if (len != FP_LEN)
		return false;
	memcpy(out, v, FP_LEN);
	out[FP_LEN] = '\0';
	return true;
}

/* ------------------------------------------------ curl's login story */

/* Whether the comma-separated list [p, p+len) names `m`. */
static bool
list_has(const char *p, size_t len, const char *m)
{
	size_t mlen = strlen(m), i = 0, n;

	while (i < len) {
		n = 0;
		while (i + n < len && p[i + n] != ',' && p[i + n] != '\n' &&
		    p[i + n] != '\r' && p[i + n] != ' ')
			n++;
		if (n == mlen && memcmp(p + i, m, mlen) == 0)
			return true;
		i += n + 1;
	}
	return false;
}

static bool
starts(const char *p, size_t len, const char *s)
{
	size_t n = strlen(s);

	return len >= n && memcmp(p, s, n) == 0;
}

static bool
contains(const char *p, size_t len, const char *s)
{
	size_t n = strlen(s), i;

	for (i = 0; i + n <= len; i++)
		if (memcmp(p + i, s, n) == 0)
			return true;
	return false;
}

/*
 * CURLOPT_DEBUGFUNCTION: libcurl reports the course of an SSH login only as
 * informational text (lib/vssh/libssh2.c, states SSH_AUTHLIST,
 * SSH_AUTH_PKEY, SSH_AUTH_DONE). The lines below are read into flags and
 * nothing else: none of this text is ever stored, logged or returned (the
 * method list comes from the server). Protocol data (headers, payload) is
 * ignored.
 */
static int
on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *userp)
{
	struct sftp_state *st = userp;
	static const char methods[] = "SSH authentication methods available: ";

	(void)h;
	if (type != CURLINFO_TEXT || data == NULL)
		return 0;
	if (starts(data, size, "Authentication complete"))
		st->auth_done = true;
	else if (starts(data, size, "SSH public key authentication failed")) {
		st->key_failed = true;
		/* libssh2: "Unable to extract public key from private key
		 * file: Wrong passphrase or invalid/unrecognized private key
		 * file format" (userauth.c / openssl.c). */
		if (contains(data, size, "private key file"))
			st->key_unusable = true;
	} else if (starts(data, size, methods)) {
		data += sizeof(methods) - 1;
		size -= sizeof(methods) - 1;
		st->methods_known = true;
		st->offers_password = list_has(data, size, "password") ||
		    list_has(data, size, "keyboard-interactive");
		st->offers_publickey = list_has(data, size, "publickey");
	}
	return 0;
}

/* ---------------------------------------------------- body callbacks */

/* Listing: note that an entry arrived; read on to the end up to
 * LIM_SFTP_LIST_BYTES, so that curl keeps the connection for the next
 * steps, and stop beyond (a backup directory can hold thousands of files;
 * one entry proves it is listable). Download: keep
 * at most LIM_PROBE_BYTES + 1 bytes, stop beyond. A short return makes curl
 * end the transfer with CURLE_WRITE_ERROR. */
static size_t
on_data(char *data, size_t size, size_t nmemb, void *userp)
{
	struct sftp_state *st = userp;
	size_t len = size * nmemb, room;

	if (st->listing) {
		st->listed = true;
		st->listlen += len;
		return st->listlen > (size_t)LIM_SFTP_LIST_BYTES ? 0 : len;
	}
	room = sizeof(st->got) - st->gotlen;
	if (len > room) {
		memcpy(st->got + st->gotlen, data, room);
		st->gotlen += room;
		st->overflow = true;
		return 0;
	}
	memcpy(st->got + st->gotlen, data, len);
	st->gotlen += len;
	if (st->gotlen > LIM_PROBE_BYTES) {
		st->overflow = true;
		return 0;
	}
	return len;
}

static size_t
on_read(char *buf, size_t size, size_t nitems, void *userp)
{
	struct sftp_state *st = userp;
	size_t n = size * nitems;

	if (n > st->srcleft)
		n = st->srcleft;
	memcpy(buf, st->src, n);
	st->src += n;
	st->srcleft -= n;
	return n;
}

/* ------------------------------------------------------------ paths */

/* Append s (len n) to buf at *o; false when it does not fit. */
static bool
put(char *buf, size_t size, size_t *o, const char *s, size_t n)
{
	if (n >= size - *o)
		return false;
	memcpy(buf + *o, s, n);
	*o += n;
	buf[*o] = '\0';
	return true;
}

/*
 * The directory of the config's path, twice: as an escaped URL path
 * ("/srv/back%20up" or "/~/backups", the home directory itself "/~") and as
 * the raw path an SFTP quote command takes ("/srv/back up", or "backups"
 * and "" for the home directory: curl 7.88 expands "/~/" only in unquoted
 * quote arguments, and an SFTP server resolves a relative path against the
 * login's home directory, draft-ietf-secsh-filexfer-02 §6.2). Neither ends
 * in '/'. Empty segments ("a//b", a trailing '/') are dropped; "~" and
 * "~/" prefixes mean home. Segments are percent-encoded (url.h), a segment
 * of dots whole, so that curl's dot-segment removal (RFC 3986 §5.2.4)
 * leaves the user's path alone.
 */
static bool
build_paths(const char *path, char *url, size_t urlsize, char *raw,
    size_t rawsize)
{
	const char *p = path, *seg;
	size_t uo = 0, ro = 0, n;

	url[0] = raw[0] = '\0';
	if (p[0] != '/') {
		if (p[0] == '~' && (p[1] == '\0' || p[1] == '/'))
			p++;
		if (!put(url, urlsize, &uo, "/~", 2))
			return false;
	}
	while (*p != '\0') {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		seg = p;
		n = strcspn(p, "/");
		p += n;
		if (!put(url, urlsize, &uo, "/", 1) ||
		    !url_escape_buf(url, urlsize, &uo, seg, n, true) ||
		    (ro > 0 && !put(raw, rawsize, &ro, "/", 1)) ||
		    (ro == 0 && path[0] == '/' &&
		    !put(raw, rawsize, &ro, "/", 1)) ||
		    !put(raw, rawsize, &ro, seg, n))
			return false;
	}
	return path[0] != '/' || ro > 0 || put(raw, rawsize, &ro, "/", 1);
}

/* "sftp://host:port" + dirurl + "/" + name (name "" for the directory). */
static bool
build_url(char *out, size_t size, const char *host, long port,
    const char *dirurl, const char *name)
{
	bool v6 = strchr(host, ':') != NULL && host[0] != '[';
	int n;

	n = snprintf(out, size, "sftp://%s%s%s:%ld%s/%s", v6 ? "[" : "", host,
	    v6 ? "]" : "", port, dirurl, name);
	return n > 0 && (size_t)n < size;
}

/*
 * "rm <path>" for CURLOPT_QUOTE. curl parses the argument like OpenSSH's
 * sftp does (lib/curl_path.c, Curl_get_pathname): in double quotes, with
 * '"' and '\' escaped by '\'; a leading "/~/" means the home directory.
 */
static bool
build_rm(char *out, size_t size, const char *rawdir, const char *name)
{
	size_t o = 0;
	const char *parts[2] = { rawdir, name };
	int i;

	if (!put(out, size, &o, "rm \"", 4))
		return false;
	for (i = 0; i < 2; i++) {
		for (const char *p = parts[i]; *p != '\0'; p++) {
			if ((*p == '"' || *p == '\\') &&
			    !put(out, size, &o, "\\", 1))
				return false;
			if (!put(out, size, &o, p, 1))
				return false;
		}
		/* "" is the home directory, "/" the root. */
		if (i == 0 && o > 4 && out[o - 1] != '/' &&
		    !put(out, size, &o, "/", 1))
			return false;
	}
	return put(out, size, &o, "\"", 1);
}

/* "statvfs <dir>" for CURLOPT_QUOTE, quoted as build_rm() quotes ("" is
 * the home directory: "."). */
static bool
build_statvfs(char *out, size_t size, const char *rawdir)
{
	size_t o = 0;
	const char *dir = rawdir[0] != '\0' ? rawdir : ".";

	if (!put(out, size, &o, "statvfs \"", 9))
		return false;
	for (const char *p = dir; *p != '\0'; p++) {
		if ((*p == '"' || *p == '\\') && !put(out, size, &o, "\\", 1))
			return false;
		if (!put(out, size, &o, p, 1))
			return false;
	}
	return put(out, size, &o, "\"", 1);
}

/* The value of "name: N" in curl's statvfs answer ("statvfs:\nf_bsize:
 * 4096\nf_frsize: 4096\n..."), or -1. */
static int64_t
vfs_field(const char *text, size_t len, const char *name)
{
	size_t n = strlen(name);
	const char *p = text, *end = text + len;
	int64_t v = 0;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *q = p + n;

		if (eol == NULL)
			eol = end;
		if ((size_t)(eol - p) > n + 1 && memcmp(p, name, n) == 0 &&
		    q[0] == ':') {
			for (q++; q < eol && *q == ' '; q++)
				;
			if (q == eol)
				return -1;
			for (; q < eol && *q >= '0' && *q <= '9'; q++) {
				if (v > (INT64_MAX - (*q - '0')) / 10)
					return -1;
				v = v * 10 + (*q - '0');
			}
			return q == eol || *q == '\r' ? v : -1;
		}
		p = eol + 1;
	}
	return -1;
}

/* ----------------------------------------------------- the key file */

struct keyfile {
	int fd;          /* the memory file, -1 when not created */
	char path[64];   /* "/proc/self/fd/<fd>", "" when not created */
	size_t len;      /* bytes written, overwritten on removal */
};

static bool keyfile_remove(struct keyfile *kf);

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif

/*
 * Write key (len bytes, plus a final newline if it lacks one) to a fresh
 * anonymous memory file (memfd_create(2) through syscall(2): no
 * _GNU_SOURCE); kf->path names it for the life of this process. False on
 * any failure (whatever was created is already closed then).
 */
static bool
keyfile_create(struct keyfile *kf, const char *key, size_t len)
{
	bool ok = false;
	long fd;
	int n;

	memset(kf, 0, sizeof(*kf));
	kf->fd = -1;
	fd = syscall(SYS_memfd_create, "backupd-key", MFD_CLOEXEC);
	if (fd < 0)
		goto out;
	kf->fd = (int)fd;
	n = snprintf(kf->path, sizeof(kf->path), "/proc/self/fd/%d", kf->fd);
	if (n < 0 || (size_t)n >= sizeof(kf->path)) {
		kf->path[0] = '\0';
		goto out;
	}
	kf->len = len;
	if (write_all(kf->fd, key, len) != 0)
		goto out;
	if (len == 0 || key[len - 1] != '\n') {
		kf->len++;
		if (write_all(kf->fd, "\n", 1) != 0)
			goto out;
	}
	ok = true;
out:
	if (!ok)
		keyfile_remove(kf);
	return ok;
}

/* Overwrite the key file with zeros, truncate and close it. Safe on a
 * struct keyfile_create() set up or that was zeroed with fd -1. False
 * when the key could not be wiped. */
static bool
keyfile_remove(struct keyfile *kf)
{
	unsigned char zeros[512];
	size_t left, n;
	bool ok = true;

	if (kf->fd >= 0) {
		memset(zeros, 0, sizeof(zeros));
		if (lseek(kf->fd, 0, SEEK_SET) != 0)
			ok = false;
		for (left = kf->len; ok && left > 0; left -= n) {
			n = left < sizeof(zeros) ? left : sizeof(zeros);
			if (write_all(kf->fd, zeros, n) != 0)
				ok = false;
		}
		if (ftruncate(kf->fd, 0) != 0)
			ok = false;
		if (close(kf->fd) != 0)
			ok = false;
		kf->fd = -1;
	}
	kf->path[0] = '\0';
	kf->len = 0;
	return ok;
}

/*
 * What a private key's text tells without decrypting it: the type and
 * whether it is encrypted. OpenSSH's format (PROTOCOL.key: "openssh-key-v1"
 * NUL, cipher name, KDF name, KDF options, key count, then the public keys
 * in the clear) gives both; PEM gives them in its label and headers
 * (RFC 1421 "Proc-Type: 4,ENCRYPTED", RFC 5958 "ENCRYPTED PRIVATE KEY").
 */
static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* Next SSH "string" at *off in buf[len]: sets *s and *slen; false if short. */
static bool
ssh_string(const unsigned char *buf, size_t len, size_t *off,
    const unsigned char **s, size_t *slen)
{
	uint32_t n;

	if (len - *off < 4)
		return false;
	n = be32(buf + *off);
	*off += 4;
	if (n > len - *off)
		return false;
	*s = buf + *off;
	*slen = n;
	*off += n;
	return true;
}

static bool
str_is(const unsigned char *s, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* The algorithm name a public key blob starts with (RFC 4253 §6.6:
 * "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"), or "" when it is not
 * a short name of lower-case letters, digits and "-.@". */
static void
key_alg(const unsigned char *blob, size_t len, char *out, size_t outsz)
{
	const unsigned char *t;
	size_t off = 0, tl, i;

	out[0] = '\0';
	if (!ssh_string(blob, len, &off, &t, &tl) || tl == 0 || tl >= outsz)
		return;
	for (i = 0; i < tl; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') ||
		    (t[i] >= '0' && t[i] <= '9') || t[i] == '-' ||
		    t[i] == '.' || t[i] == '@'))
			return;
	memcpy(out, t, tl);
	out[tl] = '\0';
}

static void
openssh_key_info(const char *b64, size_t b64len, struct key_info *ki)
{
	static const char magic[] = "openssh-key-v1";
	unsigned char *bin;
	const unsigned char *s;
	size_t binlen = 0, off, n, tl;
	const unsigned char *t;

	if ((bin = malloc(b64len)) == NULL)
		return;
	if (sodium_base642bin(bin, b64len, b64, b64len, " \t\r\n", &binlen,
	    NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    binlen < sizeof(magic) || memcmp(bin, magic, sizeof(magic)) != 0)
		goto out;
	off = sizeof(magic); /* includes the NUL */
	if (!ssh_string(bin, binlen, &off, &s, &n))       /* cipher */
		goto out;
	ki->encrypted = !str_is(s, n, "none");
	if (!ssh_string(bin, binlen, &off, &s, &n) ||     /* kdf */
	    !ssh_string(bin, binlen, &off, &s, &n) ||     /* kdf options */
	    binlen - off < 4)
		goto out;
	off += 4;                                          /* key count */
	if (!ssh_string(bin, binlen, &off, &s, &n))       /* public key */
		goto out;
	off = 0;
	if (!ssh_string(s, n, &off, &t, &tl))
		goto out;
	if (str_is(t, tl, "ssh-rsa"))
		ki->kind = KEY_RSA;
	else if (str_is(t, tl, "ssh-ed25519"))
		ki->kind = KEY_ED25519;
	else if (str_is(t, tl, "ssh-dss"))
		ki->kind = KEY_DSA;
	else if (tl > 11 && memcmp(t, "ecdsa-sha2-", 11) == 0)
		ki->kind = KEY_ECDSA;
out:
	wipe_free(bin, b64len);
}

static void
key_info(const char *key, struct key_info *ki)
{
	static const char begin[] = "-----BEGIN ";
	const char *p, *body, *end;

	ki->kind = KEY_UNKNOWN;
	ki->encrypted = false;
	if ((p = strstr(key, begin)) == NULL)
		return;
	p += sizeof(begin) - 1;
	if (strncmp(p, "OPENSSH PRIVATE KEY-----", 24) == 0) {
		body = p + 24;
		if ((end = strstr(body, "-----END ")) != NULL)
			openssh_key_info(body, (size_t)(end - body), ki);
		return;
	}
	if (strncmp(p, "RSA ", 4) == 0)
		ki->kind = KEY_RSA;
	else if (strncmp(p, "EC ", 3) == 0)
		ki->kind = KEY_ECDSA;
	else if (strncmp(p, "DSA ", 4) == 0)
		ki->kind = KEY_DSA;
	ki->encrypted = strncmp(p, "ENCRYPTED ", 10) == 0 ||
	    strstr(p, "Proc-Type: 4,ENCRYPTED") != NULL;
}

/* ------------------------------------------------------------ probe */

struct sftp_probe {
	struct probe_xfer x;
	struct sftp_state st;
	struct probe_result *res;
	const char *user, *path;
	const char *shown;         /* path as details quote it ("~" = home) */
	bool password, privkey;
	struct key_info ki;
	const struct probe_env *env; /* its deadline bounds every transfer */
	bool connect_passed, auth_passed;
	int connect_idx;           /* index of the connect check in res */
	/* What the steps share, set by sftp_prepare(). */
	const char *host, *password_value, *key, *passphrase;
	long port;
	struct keyfile kf;
	char pinbuf[FP_LEN + 1], name[32];
	char altbuf[LIM_SFTP_ALT_KEYS][FP_LEN + 1];
	char url_dir[LIM_SFTP_URL_MAX], url_obj[LIM_SFTP_URL_MAX];
	char rm[LIM_SFTP_PATH_MAX + 64];
	char statvfs[LIM_SFTP_PATH_MAX + 64];
	unsigned char data[LIM_PROBE_BYTES];
	bool created;              /* a probe object may be left behind */
};

static bool
opt_string(json_object *config, const char *key, const char **out)
{
	json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(config, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return false;
	*out = json_object_get_string(v);
	return true;
}

/* One transfer on the probe's handle, within the probe's one deadline
 * (probe_ms_left; 1 ms once it has passed, so it fails as a timeout), with
 * a clean egress gate. */
static CURLcode
perform(struct sftp_probe *p)
{
	long left = probe_ms_left(p->env);

	/* A refusal by the egress gate belongs to the transfer it ended. */
	p->x.gate.denied = false;
	curl_easy_setopt(p->x.h, CURLOPT_TIMEOUT_MS, left > 0 ? left : 1L);
	return curl_easy_perform(p->x.h);
}

/* The detail of a refused login. */
static void
fail_auth(struct sftp_probe *p)
{
	const struct sftp_state *st = &p->st;
	const char *u = p->user;

	if (p->privkey && st->key_unusable) {
		if (p->ki.encrypted)
			probe_fail(p->res, CHECK_AUTH, "the private key "
			    "passphrase is wrong or missing");
		else
			probe_fail(p->res, CHECK_AUTH, "the private key could "
			    "not be loaded (unsupported key type or format)");
	} else if (st->methods_known && p->password && !p->privkey &&
	    !st->offers_password)
		probe_fail(p->res, CHECK_AUTH, "the server does not accept "
		    "password logins for user '%s'", u);
	else if (st->methods_known && p->privkey && !p->password &&
	    !st->offers_publickey)
		probe_fail(p->res, CHECK_AUTH, "the server does not accept "
		    "key logins for user '%s'", u);
	else if (p->privkey && p->ki.kind == KEY_RSA)
		/* libssh2 1.10 signs with ssh-rsa (SHA-1) only, which
		 * OpenSSH 8.8+ refuses by default (OpenSSH release notes
		 * 8.8, "ssh-rsa disabled"). */
		probe_fail(p->res, CHECK_AUTH, "the server refused the %skey "
		    "for user '%s'; note: RSA keys are signed with ssh-rsa "
		    "(SHA-1), which OpenSSH 8.8+ refuses by default - use an "
		    "ed25519 key", p->password ? "password and the " : "", u);
	else if (p->privkey && p->password)
		probe_fail(p->res, CHECK_AUTH, "the server refused the key and "
		    "the password for user '%s'", u);
	else
		probe_fail(p->res, CHECK_AUTH, "the server refused the %s for "
		    "user '%s'", p->privkey ? "key" : "password", u);
}

/*
 * Record what the first transfer(s) proved about connect and auth, once
 * each. Returns false after recording a failure (cc says which).
 */
static bool
login_checks(struct sftp_probe *p, CURLcode cc, const char *what)
{
	struct sftp_state *st = &p->st;

	if (!p->connect_passed) {
		if (st->key_seen && !st->key_ok) {
			if (p->st.pin != NULL && st->nalts > 0)
				probe_fail(p->res, CHECK_CONNECT, "host key does "
				    "not match the pinned SHA256:%s or one of its "
				    "%zu alternates; the server presented "
				    "SHA256:%s", st->pin, st->nalts, st->seen);
			else if (p->st.pin != NULL)
				probe_fail(p->res, CHECK_CONNECT, "host key does "
				    "not match the pinned SHA256:%s; the server "
				    "presented SHA256:%s", st->pin, st->seen);
			else
				probe_fail(p->res, CHECK_CONNECT, "the server's "
				    "host key changed during the test (SHA256:%s)",
				    st->seen);
			return false;
		}
		if (!st->key_seen) {
			if (cc == CURLE_OK)
				/* Cannot happen: the callback decides every
				 * host key. Refuse rather than trust. */
				probe_fail(p->res, CHECK_CONNECT, "the server's "
				    "host key could not be checked");
			else if ((cc == CURLE_SSH || cc == CURLE_FAILED_INIT) &&
			    !p->x.gate.denied)
				/* curl 7.88: "Failure establishing ssh
				 * session" is CURLE_FAILED_INIT. */
				probe_fail(p->res, CHECK_CONNECT, "the SSH "
				    "handshake failed (not an SSH server, or no "
				    "host key or key exchange algorithm in "
				    "common)");
			else
				probe_fail_curl(p->res, &p->x, cc, CHECK_CONNECT,
				    "starting the SSH session");
			return false;
		}
		p->connect_idx = p->res->nchecks;
		if (st->pin != NULL && st->matched > 0)
			probe_pass(p->res, CHECK_CONNECT, "the server's %s host "
			    "key matches the alternate SHA256:%s",
			    st->seen_type, st->alts[st->matched - 1]);
		else if (st->pin != NULL)
			probe_pass(p->res, CHECK_CONNECT, "the server's %s host "
			    "key matches the pinned SHA256:%s", st->seen_type,
			    st->pin);
		else
			probe_pass(p->res, CHECK_CONNECT, "the server's %s host "
			    "key is SHA256:%s; it is pinned once a test "
			    "succeeds", st->seen_type, st->seen);
		p->connect_passed = true;
	}
	if (!p->auth_passed) {
		/* Past a refused login everything curl reports is about the
		 * SFTP session, so these codes also prove the login. */
		if (!st->auth_done && cc != CURLE_OK &&
		    cc != CURLE_REMOTE_FILE_NOT_FOUND &&
		    cc != CURLE_REMOTE_ACCESS_DENIED &&
		    cc != CURLE_WRITE_ERROR && cc != CURLE_QUOTE_ERROR &&
		    cc != CURLE_UPLOAD_FAILED && cc != CURLE_REMOTE_DISK_FULL) {
			if (cc == CURLE_LOGIN_DENIED)
				fail_auth(p);
			else if (cc == CURLE_OPERATION_TIMEDOUT)
				probe_fail(p->res, CHECK_AUTH, "the server did "
				    "not answer in time while logging in");
			else
				probe_fail(p->res, CHECK_AUTH, "logging in "
				    "failed (%s)", curl_easy_strerror(cc));
			return false;
		}
		if (p->privkey && p->password && st->key_failed)
			probe_pass(p->res, CHECK_AUTH, "logged in as '%s' with "
			    "the password", p->user);
		else
			probe_pass(p->res, CHECK_AUTH, "logged in as '%s' with "
			    "the %s", p->user, p->privkey ? "private key" :
			    "password");
		if (p->privkey && p->password && st->key_failed)
			probe_warn(p->res, st->key_unusable ? "the private key "
			    "could not be loaded (wrong passphrase?); the "
			    "password was used instead" : "the server refused "
			    "the private key; the password was used instead");
		p->auth_passed = true;
	}
	return true;
}

/* A failure after login: a sentence for check c. */
static void
fail_after_login(struct sftp_probe *p, CURLcode cc, enum probe_check c,
    const char *what)
{
	if (cc == CURLE_PEER_FAILED_VERIFICATION && p->st.key_seen &&
	    !p->st.key_ok) {
		/* A reconnect of this probe met a different host key. */
		probe_fail(p->res, c, "the server's host key changed during "
		    "the test (now SHA256:%s)", p->st.seen);
		return;
	}
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		probe_fail(p->res, c, "the server did not answer in time while "
		    "%s", what);
		break;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
		probe_fail(p->res, c, "the connection broke while %s", what);
		break;
	default:
		probe_fail(p->res, c, "%s failed (%s)", what,
		    curl_easy_strerror(cc));
		break;
	}
}

/* Common handle options: callbacks and credentials. */
static bool
setup(struct sftp_probe *p, const char *password, const char *keyfile,
    const char *passphrase)
{
	CURL *h = p->x.h;
	long types = 0;

	/*
	 * Only the methods the config provides: CURLSSH_AUTH_ANY would also
	 * try an ssh-agent from the worker's environment and ~/.ssh keys.
	 * keyboard-interactive answers a single prompt with the password
	 * (lib/vssh/libssh2.c kbd_callback), for servers that offer only it.
	 */
	if (p->privkey)
		types |= CURLSSH_AUTH_PUBLICKEY;
	if (p->password)
		types |= CURLSSH_AUTH_PASSWORD | CURLSSH_AUTH_KEYBOARD;
	if (curl_easy_setopt(h, CURLOPT_USERNAME, p->user) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_SSH_AUTH_TYPES, types) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_SSH_HOSTKEYFUNCTION, on_hostkey) !=
	    CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_SSH_HOSTKEYDATA, &p->st) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_DEBUGDATA, &p->st) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_VERBOSE, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, &p->st) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_READDATA, &p->st) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_NEW_FILE_PERMS, 0600L) != CURLE_OK)
		return false;
	if (p->password &&
	    curl_easy_setopt(h, CURLOPT_PASSWORD, password) != CURLE_OK)
		return false;
	if (p->privkey &&
	    curl_easy_setopt(h, CURLOPT_SSH_PRIVATE_KEYFILE, keyfile) !=
	    CURLE_OK)
		return false;
	/* libssh2 derives the public key from the private one when no
	 * public key file is given (CURLOPT_SSH_PUBLIC_KEYFILE ""). */
	if (p->privkey &&
	    curl_easy_setopt(h, CURLOPT_SSH_PUBLIC_KEYFILE, "") != CURLE_OK)
		return false;
	if (passphrase != NULL &&
	    curl_easy_setopt(h, CURLOPT_KEYPASSWD, passphrase) != CURLE_OK)
		return false;
	return true;
}

/* Best-effort removal of a probe object left after a failed read. */
static void
remove_quietly(struct sftp_probe *p, const char *dirurl_full,
    const char *rm)
{
	struct curl_slist *q;

	if ((q = curl_slist_append(NULL, rm)) == NULL)
		return;
	curl_easy_setopt(p->x.h, CURLOPT_UPLOAD, 0L);
	curl_easy_setopt(p->x.h, CURLOPT_URL, dirurl_full);
	curl_easy_setopt(p->x.h, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(p->x.h, CURLOPT_QUOTE, q);
	(void)perform(p);
	curl_easy_setopt(p->x.h, CURLOPT_QUOTE, NULL);
	curl_slist_free_all(q);
}

/* hostKeySha256Alternates (validated by dtype) into p->altbuf; false after
 * recording why not. */
static bool
read_alternates(struct sftp_probe *p, json_object *config)
{
	json_object *a, *v;
	size_t i, n;

	if (!json_object_object_get_ex(config, "hostKeySha256Alternates", &a) ||
	    a == NULL)
		return true;
	n = json_object_is_type(a, json_type_array) ?
	    json_object_array_length(a) : SIZE_MAX;
	if (n > LIM_SFTP_ALT_KEYS)
		goto bad;
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(a, i);
		if (!json_object_is_type(v, json_type_string) ||
		    !probe_sftp_fingerprint(json_object_get_string(v), p->altbuf[i]))
			goto bad;
	}
	p->st.alts = (const char (*)[FP_LEN + 1])p->altbuf;
	p->st.nalts = n;
	return true;
bad:
	probe_fail(p->res, CHECK_CONNECT, "the alternate host keys are not "
	    "SHA256 fingerprints as ssh-keygen -l prints them");
	return false;
}

/* The config's values, URLs and key file into *p; false after recording
 * why not. Nothing is sent yet. */
static bool
sftp_prepare(struct sftp_probe *p, json_object *config)
{
	struct probe_result *res = p->res;
	char dirurl[LIM_SFTP_URL_MAX], rawdir[LIM_SFTP_PATH_MAX];
	const char *pin = NULL;
	json_object *v;

	if (!opt_string(config, "host", &p->host) ||
	    !opt_string(config, "username", &p->user) ||
	    !opt_string(config, "path", &p->path)) {
		probe_fail(res, CHECK_CONNECT, "the config lacks host, username "
		    "or path");
		return false;
	}
	p->shown = p->path[0] == '\0' || strcmp(p->path, "~") == 0 ||
	    strcmp(p->path, "~/") == 0 ? "~" : p->path;
	p->port = 22;
	if (json_object_object_get_ex(config, "port", &v) &&
	    json_object_is_type(v, json_type_int))
		p->port = (long)json_object_get_int64(v);
	p->password = opt_string(config, "password", &p->password_value);
	p->privkey = opt_string(config, "privateKey", &p->key);
	(void)opt_string(config, "privateKeyPassphrase", &p->passphrase);
	if (opt_string(config, "hostKeySha256", &pin) && pin[0] != '\0') {
		if (!probe_sftp_fingerprint(pin, p->pinbuf)) {
			probe_fail(res, CHECK_CONNECT, "the pinned host key is "
			    "not a SHA256 fingerprint as ssh-keygen -l prints "
			    "it");
			return false;
		}
		p->st.pin = p->pinbuf;
		if (!read_alternates(p, config))
			return false;
	}
	if (!p->password && !p->privkey) {
		probe_fail(res, CHECK_AUTH, "the config has neither a password "
		    "nor a private key");
		return false;
	}
	probe_object_name(p->name);
	if (!build_paths(p->path, dirurl, sizeof(dirurl), rawdir,
	    sizeof(rawdir)) ||
	    !build_url(p->url_dir, sizeof(p->url_dir), p->host, p->port, dirurl,
	    "") ||
	    !build_url(p->url_obj, sizeof(p->url_obj), p->host, p->port, dirurl,
	    p->name) ||
	    !build_rm(p->rm, sizeof(p->rm), rawdir, p->name) ||
	    !build_statvfs(p->statvfs, sizeof(p->statvfs), rawdir)) {
		probe_fail(res, CHECK_TARGET, "the path is too long");
		return false;
	}
	if (p->privkey) {
		key_info(p->key, &p->ki);
		if (!keyfile_create(&p->kf, p->key,
		    (size_t)json_object_get_string_len(
		    json_object_object_get(config, "privateKey")))) {
			probe_fail(res, CHECK_AUTH, "the private key could not "
			    "be prepared for use (no memory file)");
			return false;
		}
	}
	return true;
}

/* connect, auth, target: list the directory. */
static bool
step_list(struct sftp_probe *p)
{
	struct probe_result *res = p->res;
	const char *what = "listing the directory";
	CURLcode cc;

	p->st.listing = true;
	curl_easy_setopt(p->x.h, CURLOPT_URL, p->url_dir);
	curl_easy_setopt(p->x.h, CURLOPT_DIRLISTONLY, 1L);
	cc = perform(p);
	p->st.listing = false;
	curl_easy_setopt(p->x.h, CURLOPT_DIRLISTONLY, 0L);
	if (cc == CURLE_WRITE_ERROR && p->st.listed)
		cc = CURLE_OK;
	if (!login_checks(p, cc, what))
		return false;
	if (cc == CURLE_REMOTE_FILE_NOT_FOUND) {
		probe_fail(res, CHECK_TARGET, "directory '%s' does not exist "
		    "(or is not a directory)", p->shown);
		return false;
	}
	if (cc == CURLE_REMOTE_ACCESS_DENIED) {
		/* Writing may still work (a drop-box directory); say so and
		 * let the write check decide. */
		probe_pass(res, CHECK_TARGET, "directory '%s' may not be "
		    "listed", p->shown);
		probe_warn(res, "the directory '%s' cannot be listed; backups "
		    "that prune old files need to list it", p->shown);
	} else if (cc != CURLE_OK) {
		fail_after_login(p, cc, CHECK_TARGET, what);
		return false;
	} else
		probe_pass(res, CHECK_TARGET, "directory '%s' exists", p->shown);
	return true;
}

/* write: upload LIM_PROBE_BYTES random bytes as the probe object. */
static bool
step_write(struct sftp_probe *p)
{
	struct probe_result *res = p->res;
	CURLcode cc;

	randombytes_buf(p->data, sizeof(p->data));
	p->st.src = p->data;
	p->st.srcleft = sizeof(p->data);
	curl_easy_setopt(p->x.h, CURLOPT_URL, p->url_obj);
	curl_easy_setopt(p->x.h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(p->x.h, CURLOPT_INFILESIZE_LARGE,
	    (curl_off_t)sizeof(p->data));
	cc = perform(p);
	curl_easy_setopt(p->x.h, CURLOPT_UPLOAD, 0L);
	if (!login_checks(p, cc, "uploading the probe object"))
		return false;
	if (cc == CURLE_OK) {
		p->created = true;
		probe_pass(res, CHECK_WRITE, "wrote a %d-byte probe object",
		    LIM_PROBE_BYTES);
		return true;
	}
	/* A partial upload may have created the file. */
	p->created = cc != CURLE_REMOTE_ACCESS_DENIED &&
	    cc != CURLE_REMOTE_FILE_NOT_FOUND;
	if (cc == CURLE_REMOTE_ACCESS_DENIED || cc == CURLE_UPLOAD_FAILED)
		probe_fail(res, CHECK_WRITE, "no permission to write in '%s'",
		    p->shown);
	else if (cc == CURLE_REMOTE_DISK_FULL)
		probe_fail(res, CHECK_WRITE, "no space left (or quota exceeded) "
		    "in '%s'", p->shown);
	else if (cc == CURLE_REMOTE_FILE_NOT_FOUND)
		probe_fail(res, CHECK_WRITE, "cannot create a file in '%s'",
		    p->shown);
	else
		fail_after_login(p, cc, CHECK_WRITE, "uploading the probe "
		    "object");
	return false;
}

/* read: download the probe object and compare. */
static bool
step_read(struct sftp_probe *p)
{
	struct probe_result *res = p->res;
	CURLcode cc;

	p->st.gotlen = 0;
	p->st.overflow = false;
	cc = perform(p);
	if (cc == CURLE_WRITE_ERROR && p->st.overflow) {
		probe_fail(res, CHECK_READ, "the probe object read back is "
		    "larger than what was written");
		return false;
	}
	if (cc == CURLE_REMOTE_ACCESS_DENIED) {
		probe_fail(res, CHECK_READ, "no permission to read the probe "
		    "object back from '%s'", p->shown);
		return false;
	}
	if (cc != CURLE_OK) {
		fail_after_login(p, cc, CHECK_READ,
		    "downloading the probe object");
		return false;
	}
	if (p->st.gotlen != sizeof(p->data) ||
	    sodium_memcmp(p->st.got, p->data, sizeof(p->data)) != 0) {
		probe_fail(res, CHECK_READ, "the probe object read back "
		    "differs from what was written");
		return false;
	}
	probe_pass(res, CHECK_READ, "read the probe object back intact");
	return true;
}

/* delete: "rm" as a quote command before an empty transfer on the
 * directory. A refused delete is a warning (the contract). */
static void
step_delete(struct sftp_probe *p)
{
	struct probe_result *res = p->res;
	struct curl_slist *quote;
	CURLcode cc;

	p->created = false;
	if ((quote = curl_slist_append(NULL, p->rm)) == NULL) {
		probe_fail(res, CHECK_DELETE, "out of memory");
		return;
	}
	curl_easy_setopt(p->x.h, CURLOPT_URL, p->url_dir);
	curl_easy_setopt(p->x.h, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(p->x.h, CURLOPT_QUOTE, quote);
	cc = perform(p);
	curl_easy_setopt(p->x.h, CURLOPT_QUOTE, NULL);
	curl_slist_free_all(quote);
	if (cc != CURLE_OK) {
		probe_pass(res, CHECK_DELETE, "the probe object could not be "
		    "deleted");
		probe_warn(res, "could not delete the probe object '%s' in "
		    "'%s'; remove it by hand", p->name, p->shown);
	} else
		probe_pass(res, CHECK_DELETE, "deleted the probe object");
}

static size_t
on_vfs(char *data, size_t size, size_t nmemb, void *userp)
{
	struct sftp_state *st = userp;
	size_t len = size * nmemb, room = sizeof(st->vfs) - st->vfslen;

	memcpy(st->vfs + st->vfslen, data, len < room ? len : room);
	st->vfslen += len < room ? len : room;
	return len;
}

/* capacity: the "statvfs" quote command (accepted to fail: a server
 * without statvfs@openssh.com reports nothing) before an empty transfer on
 * the directory. Never fails the test. */
static void
step_capacity(struct sftp_probe *p)
{
	struct curl_slist *quote;
	char cmd[sizeof(p->statvfs) + 1];
	int64_t frsize, blocks, bfree, bavail;
	CURLcode cc;

	snprintf(cmd, sizeof(cmd), "*%s", p->statvfs);
	if ((quote = curl_slist_append(NULL, cmd)) == NULL)
		return;
	p->st.vfslen = 0;
	curl_easy_setopt(p->x.h, CURLOPT_URL, p->url_dir);
	curl_easy_setopt(p->x.h, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(p->x.h, CURLOPT_QUOTE, quote);
	curl_easy_setopt(p->x.h, CURLOPT_HEADERFUNCTION, on_vfs);
	curl_easy_setopt(p->x.h, CURLOPT_HEADERDATA, &p->st);
	cc = perform(p);
	curl_easy_setopt(p->x.h, CURLOPT_HEADERFUNCTION, NULL);
	curl_easy_setopt(p->x.h, CURLOPT_HEADERDATA, NULL);
	curl_easy_setopt(p->x.h, CURLOPT_QUOTE, NULL);
	curl_slist_free_all(quote);
	if (cc != CURLE_OK)
		return;
	frsize = vfs_field(p->st.vfs, p->st.vfslen, "f_frsize");
	blocks = vfs_field(p->st.vfs, p->st.vfslen, "f_blocks");
	bfree = vfs_field(p->st.vfs, p->st.vfslen, "f_bfree");
	bavail = vfs_field(p->st.vfs, p->st.vfslen, "f_bavail");
	if (frsize <= 0 || blocks < 0 || bfree < 0 || bavail < 0 ||
	    bfree > blocks || bavail > blocks || blocks > INT64_MAX / frsize)
		return;
	probe_capacity(p->res, p->env, blocks * frsize,
	    (blocks - bfree) * frsize, bavail * frsize);
}

/* Trust on first use: the key is pinned only by a test that succeeded,
 * and the connect check says so. */
static void
pin_host_key(struct sftp_probe *p)
{
	struct probe_result *res = p->res;
	json_object *upd;
	char fp[FP_LEN + 8];

	if (!res->ok || p->st.pin != NULL || p->connect_idx < 0 ||
	    p->connect_idx >= CHECK__MAX)
		return;
	snprintf(fp, sizeof(fp), "SHA256:%s", p->st.seen);
	if ((upd = json_object_new_object()) == NULL)
		return;
	json_object_object_add(upd, "hostKeySha256",
	    json_object_new_string(fp));
	json_object_put(res->config_update);
	res->config_update = upd;
	snprintf(res->checks[p->connect_idx].detail,
	    sizeof(res->checks[p->connect_idx].detail),
	    "pinned the server's %s host key %s (trust on first use)",
	    p->st.seen_type, fp);
}

/* TestResult.observed: the key the server presented (on success and
 * failure alike, once the key exchange got that far) and its software. */
static void
observe(struct sftp_probe *p)
{
	char fp[FP_LEN + 8];

	if (p->st.software[0] != '\0')
		probe_observe_string(p->res, "serverSoftware", p->st.software);
	if (!p->st.key_seen)
		return;
	snprintf(fp, sizeof(fp), "SHA256:%s", p->st.seen);
	probe_observe_string(p->res, "hostKeySha256", fp);
	if (p->st.seen_alg[0] != '\0')
		probe_observe_string(p->res, "hostKeyType", p->st.seen_alg);
}

/* See probe.h: connect (host key), auth, target (list the directory),
 * write / read / delete of a probe object. */
void
probe_sftp(const struct probe_env *env, json_object *config,
    struct probe_result *res)
{
	struct sftp_probe *p;

	/* Zeroed: every pointer NULL, so the exit path frees what exists. */
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		probe_fail(res, CHECK_CONNECT, "out of memory");
		return;
	}
	p->kf.fd = -1;
	p->res = res;
	ssh_session_seen = NULL;
	p->env = env;
	p->connect_idx = -1;
	if (!sftp_prepare(p, config))
		goto out;
	if (probe_curl(&p->x, env, "sftp") != BD_OK ||
	    !setup(p, p->password_value, p->kf.path, p->passphrase)) {
		probe_fail(res, CHECK_CONNECT, "the connection could not be "
		    "set up");
		goto out;
	}
	if (!step_list(p) || !step_write(p) || !step_read(p))
		goto out;
	step_delete(p);
	if (p->res->ok)
		step_capacity(p);
	pin_host_key(p);
out:
	if (p->created && p->x.h != NULL)
		remove_quietly(p, p->url_dir, p->rm);
	probe_xfer_cleanup(&p->x);
	observe(p);
	/* After the handle is gone: curl may have kept the file name. */
	if (!keyfile_remove(&p->kf))
		probe_warn(res, "the in-memory copy of the private key could "
		    "not be wiped");
	wipe_free(p, sizeof(*p));
}
