"""The FTP probe (issue 3) against a real server: Debian's vsftpd
(tests/peers/ftp/), one standalone instance per case below, started for
this module on $BACKUPD_TEST_PEER_HOST with its own config files, a test
CA's certificate and a dedicated system user `bkftp-<8 hex>` named after
the stack dir (created if missing, given a fresh password every run,
deleted at the end; vsftpd logs local users in through PAM, so it needs a
real account and root).

Proven here: plain FTP (with the "unencrypted" warning), explicit TLS (AUTH
TLS, the default) and implicit TLS (ftps://) with a certificate signed by
the CA the service trusts through ca_file; a path relative to the login
directory, an absolute path (the "%2F" URL form) and one with spaces and
non-ASCII characters; a certificate nobody trusts (connect); explicit TLS
asked of a server without TLS (connect, "does not offer TLS"); implicit
TLS against a plain server (connect); a wrong password (auth); a missing
directory (target); a read-only directory (write); downloads refused
(read, and the probe object cleaned up); DELE refused (a warning, the
object kept); a PASV reply naming another address (the data connection
still goes to the control connection's address: nothing arrives at the
address named); nothing listening (connect, fast); a server that accepts
and never answers, plain and implicit TLS (bounded by probe_timeout); the
SSRF spellings refused before any connection; no secret and no server
reply text in any response, and no secret in the peers' logs;
observed.serverSoftware is the 220 greeting (plain, explicit and implicit
TLS, and on a failed login), and a hostile greeting (control characters,
JSON, 300 bytes) before replies that echo the user name and password
leaves only its cleaned, capped first line there, never a reply to a
command.
"""

import os
import re
import secrets
import shutil
import socket
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import (PLACEHOLDER, REPO, assert_problem, assert_test_result,
                      error_pointers, register_secrets)
from probe_helpers import (SilentServer, assert_bounded, assert_fast_refusal,
                           assert_placeholder_refused, dest_body,
                           detail_of, details, free_port, peer_host,
                           probe_files)

sys.path.insert(0, str(REPO / "tests" / "peers" / "ftp"))
import ftp_peer  # noqa: E402
from ftp_peer import PasvElsewhereServer, SilentServer, Vsftpd  # noqa: E402

LIST = "/backup-destinations"
ALL_CHECKS = ["connect", "auth", "target", "write", "read", "delete"]
CONNECT_TIMEOUT = int(os.environ.get("BACKUPD_PROBE_CONNECT_TIMEOUT", "3"))
# Sentinel secrets: never in a response, a detail or a log.
PASSWORD = "ftp-pw-%s" % uuid.uuid4().hex
WRONG = "ftp-wrong-%s" % uuid.uuid4().hex
register_secrets("ftp", PASSWORD, WRONG)
# What vsftpd or curl say must never reach a detail: the banner every
# instance sends, vsftpd's reply texts, curl's error buffer phrasing, and
# anything looking like markup or JSON.
SERVER_TEXT = re.compile(
    r"backupd-ftp-peer|vsftpd|OOPS|Login incorrect|Please specify|"
    r"Permission denied|Failed to change directory|Could not create file|"
    r"Proceed with negotiation|Please login|Access denied|"
    r"Server denied|QUOT string|RETR response|Failed FTP upload|"
    r"OpenSSL|SSL routines|[{}<>]")


class Peers:
    pass


@pytest.fixture(scope="module")
def ftp(env):
    host, pki = peer_host()
    if os.geteuid() != 0:
        # Not a skip: `make test` runs as root (scripts/setup.sh installs
        # packages), and a suite that quietly drops 46 tests proves less
        # than it claims.
        pytest.fail("the FTP tests need root: vsftpd with local users "
                    "(PAM, setuid) and useradd; run the suite as root")
    base = Path(env["BACKUPD_STACK_DIR"]) / "peers" / "ftp"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    user = ftp_peer.user_for(env["BACKUPD_STACK_DIR"])
    uid, gid = ftp_peer.ensure_user(user, PASSWORD)
    # The login directory: root-owned, so read-only for the FTP user.
    root = base / "root"
    root.mkdir(mode=0o755)
    cert, key = ftp_peer.self_signed(base, host)
    server = (os.path.join(pki, "server.pem"), os.path.join(pki, "server.key"))

    p = Peers()
    p.host, p.base, p.root, p.uid, p.gid = host, base, root, uid, gid
    p.user = user
    p.all = []

    def start(name, tls="none", crt=None, extra=()):
        v = Vsftpd(base, name, host, root, tls, *(crt or (None, None)),
                   extra=extra)
        p.all.append(v)
        return v.start()

    try:
        p.plain = start("plain")
        p.explicit = start("explicit", "explicit", server)
        p.implicit = start("implicit", "implicit", server)
        p.selfsigned = start("selfsigned", "explicit", (cert, key))
        p.nodelete = start("nodelete", extra=["cmds_denied=DELE"])
        p.noread = start("noread", extra=["download_enable=NO"])
        yield p
    finally:
        for v in p.all:
            v.stop()
        ftp_peer.remove_user(user)


def new_dir(ftp, name=None, writable=True):
    """A fresh directory under the login directory; its name."""
    name = name or "d-%s" % uuid.uuid4().hex[:10]
    d = ftp.root / name
    d.mkdir(mode=0o755)
    if writable:
        os.chown(d, ftp.uid, ftp.gid)
    return name


def body(ftp, peer, path, name=None, **cfg):
    tls = getattr(peer, "tls", "none")
    return dest_body("ftp", "ftp", name, **{
        "host": ftp.host, "port": peer.port, "username": ftp.user,
        "password": PASSWORD, "path": path,
        "tls": tls if tls != "explicit" else None, **cfg})


def assert_clean(r):
    """No secret anywhere in the response; details are our sentences."""
    assert PASSWORD not in r.text and WRONG not in r.text, \
        "a secret in a response"
    try:
        j = r.json()
    except ValueError:
        return
    tr = j.get("lastTest") if isinstance(j, dict) and "lastTest" in j else j
    if isinstance(tr, dict):
        for d in details(tr):
            assert not SERVER_TEXT.search(d), "server text in %r" % d


def create_ok(api, b):
    r = api.create(b)
    assert_clean(r)
    d = r.json()
    assert d["status"] == "active", d
    assert d["config"]["password"] == PLACEHOLDER, d["config"]
    assert assert_test_result(d["lastTest"], ok=True) == ALL_CHECKS
    return d


def retest_ok(api, d):
    r = api.post("%s/%s/test" % (LIST, d["id"]))
    assert_clean(r)
    assert r.status_code == 200, r.text
    assert assert_test_result(r.json(), ok=True) == ALL_CHECKS
    return r.json()


def create_fails(api, b, check):
    """Create answers 422 with failedCheck `check`; nothing is stored."""
    before = api.list()
    r = api.post(LIST, json=b)
    assert_clean(r)
    p = assert_problem(r, 422)
    assert p.get("failedCheck") == check, p
    names = [c["name"] for c in p["checks"]]
    assert names == ALL_CHECKS[:names.index(check) + 1], names
    assert all(c["ok"] for c in p["checks"][:-1]), p["checks"]
    assert p["checks"][-1]["ok"] is False
    assert api.list() == before, "a failed create stored something"
    return p


# ------------------------------------------------------------ observed

@pytest.mark.parametrize("which", ["plain", "explicit", "implicit"])
def test_greeting_is_observed_server_software(api, ftp, which):
    peer = getattr(ftp, which)
    d = create_ok(api, body(ftp, peer, new_dir(ftp)))
    want = {"serverSoftware": "backupd-ftp-peer %s" % which}
    if which != "plain":  # observed.tls (test_probe_connections.py)
        want["tls"] = {"version": "TLSv1.3", "verified": True}
    assert d["lastTest"]["observed"] == want, d["lastTest"]
    assert retest_ok(api, d)["observed"] == want


def test_greeting_observed_on_failed_login(api, ftp):
    p = create_fails(api, body(ftp, ftp.plain, new_dir(ftp), password=WRONG),
                     "auth")
    assert p["lastTest"]["observed"] == \
        {"serverSoftware": "backupd-ftp-peer plain"}, p["lastTest"]


def test_nothing_listening_observes_nothing(api, ftp):
    p = create_fails(api, body(ftp, ftp.plain, "x",
                               port=free_port(ftp.host)), "connect")
    assert "observed" not in p["lastTest"], p["lastTest"]


class EchoingFtp:
    """A hostile FTP server: a multi-line greeting full of control
    characters, JSON and a 300-byte line, then replies that quote the
    user name and the password back."""

    GREETING = (b"220-\x1b[31mEvil\x07FTP\t\"},\"x\":{\x00" +
                b"y" * 300 + b"\r\r\n220 second line\r\n")

    def __init__(self, host):
        self.sock = socket.create_server((host, 0))
        self.port = self.sock.getsockname()[1]
        self.got = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        try:
            c, _ = self.sock.accept()
        except OSError:
            return
        with c:
            c.settimeout(5)
            c.sendall(self.GREETING)
            f = c.makefile("rb")
            for line in f:
                cmd = line.decode(errors="replace").strip()
                self.got.append(cmd)
                if cmd.startswith("USER "):
                    c.sendall(b"331 Password required for %s\r\n" %
                              cmd[5:].encode())
                elif cmd.startswith("PASS "):
                    c.sendall(b"530 Login incorrect: %s\r\n" %
                              cmd[5:].encode())
                else:
                    c.sendall(b"500 %s\r\n" % cmd.encode())

    def close(self):
        self.sock.close()
        self.thread.join(5)


def test_hostile_greeting_is_cleaned_and_never_echoes_secrets(api, ftp):
    s = EchoingFtp(ftp.host)
    try:
        b = body(ftp, ftp.plain, "x", port=s.port)
        p = create_fails(api, b, "auth")
        r_text = str(p)
    finally:
        s.close()
    assert "PASS " + PASSWORD in s.got, s.got  # the server did see it
    obs = p["lastTest"]["observed"]
    # Control characters become one space; capped at 100 bytes.
    head = '[31mEvil FTP "},"x":{ '
    assert obs == {"serverSoftware": head + "y" * (100 - len(head))}, obs
    assert PASSWORD not in r_text and ftp.user not in str(obs)


# -------------------------------------------------------------- success

def test_plain_ok_with_unencrypted_warning(api, ftp):
    name = new_dir(ftp)
    d = create_ok(api, body(ftp, ftp.plain, name))
    tr = d["lastTest"]
    assert any("unencrypted" in w for w in tr["warnings"]), tr["warnings"]
    assert "no TLS" in detail_of(tr, "connect")
    assert probe_files(ftp.root / name) == []
    tr = retest_ok(api, d)
    assert any("unencrypted" in w for w in tr["warnings"])
    assert probe_files(ftp.root / name) == []


def test_explicit_tls_is_the_default(api, ftp):
    # No "tls" in the config; an absolute path (ftp://host/%2F...).
    name = new_dir(ftp)
    b = body(ftp, ftp.explicit, str(ftp.root / name))
    assert "tls" not in b["config"]
    d = create_ok(api, b)
    tr = d["lastTest"]
    assert tr["warnings"] == [], tr
    assert "explicit TLS" in detail_of(tr, "connect")
    assert str(ftp.root / name) in detail_of(tr, "target")
    retest_ok(api, d)
    assert probe_files(ftp.root / name) == []


def test_explicit_tls_relative_path(api, ftp):
    name = new_dir(ftp)
    d = create_ok(api, body(ftp, ftp.explicit, name, tls="explicit"))
    assert d["lastTest"]["warnings"] == []
    assert probe_files(ftp.root / name) == []


def test_implicit_tls(api, ftp):
    name = new_dir(ftp)
    d = create_ok(api, body(ftp, ftp.implicit, name))
    assert d["config"]["tls"] == "implicit"
    assert "implicit TLS" in detail_of(d["lastTest"], "connect")
    retest_ok(api, d)
    assert probe_files(ftp.root / name) == []


def test_path_with_spaces_and_unicode(api, ftp):
    outer = new_dir(ftp, "with space %41;type=a")
    inner = ftp.root / outer / "ünï cødé"
    inner.mkdir()
    os.chown(inner, ftp.uid, ftp.gid)
    path = "%s/ünï cødé/" % outer
    d = create_ok(api, body(ftp, ftp.plain, path))
    assert probe_files(inner) == []
    # The same directory written absolute, with doubled slashes.
    create_ok(api, body(ftp, ftp.plain, "/" + str(inner).lstrip("/")
                        .replace("/", "//", 1)))
    assert probe_files(inner) == []
    assert d["config"]["path"] == path


def test_login_directory_itself(api, ftp):
    # "." is the login directory: read-only here, so the write fails,
    # which proves the probe went there (target passed).
    p = create_fails(api, body(ftp, ftp.plain, "."), "write")
    assert "no permission to write" in p["checks"][-1]["detail"]


# ------------------------------------------------------------- failures

def test_untrusted_certificate(api, ftp):
    p = create_fails(api, body(ftp, ftp.selfsigned, new_dir(ftp)), "connect")
    assert "certificate is not trusted" in p["checks"][0]["detail"], p


def test_explicit_tls_against_server_without_tls(api, ftp):
    p = create_fails(api, body(ftp, ftp.plain, new_dir(ftp), tls="explicit"),
                     "connect")
    assert "does not offer TLS" in p["checks"][0]["detail"], p


def test_implicit_tls_against_plain_server(api, ftp):
    p = create_fails(api, body(ftp, ftp.plain, new_dir(ftp), tls="implicit"),
                     "connect")
    assert "TLS" in p["checks"][0]["detail"], p


def test_plain_against_tls_only_server(api, ftp):
    # vsftpd refuses a login without TLS when force_local_logins_ssl is on
    # (530): that is the auth check, with a hint.
    p = create_fails(api, body(ftp, ftp.explicit, new_dir(ftp), tls="none"),
                     "auth")
    assert "without TLS" in p["checks"][-1]["detail"], p


def test_wrong_password(api, ftp):
    p = create_fails(api, body(ftp, ftp.explicit, new_dir(ftp),
                               password=WRONG), "auth")
    assert "refused the user name or password" in p["checks"][-1]["detail"]
    assert p["checks"][0]["name"] == "connect" and p["checks"][0]["ok"]


def test_wrong_password_on_put(api, ftp):
    name = new_dir(ftp)
    d = create_ok(api, body(ftp, ftp.plain, name))
    b = body(ftp, ftp.plain, name, name=d["name"], password=WRONG)
    r = api.put("%s/%s" % (LIST, d["id"]), json=b)
    assert_clean(r)
    assert assert_problem(r, 422).get("failedCheck") == "auth"
    # The stored password is still the right one.
    retest_ok(api, d)


def test_wrong_password_on_test_route(api, ftp):
    """POST /{id}/test with a stored password the server no longer takes
    (the account's password changed): 422, failed at auth, and
    the destination becomes "error"; back to active once it works again."""
    name = new_dir(ftp)
    d = create_ok(api, body(ftp, ftp.plain, name))
    ftp_peer.ensure_user(ftp.user, WRONG)
    try:
        r = api.post("%s/%s/test" % (LIST, d["id"]))
        assert_clean(r)
        p = assert_problem(r, 422)
        assert p.get("failedCheck") == "auth", p
        tr = p["lastTest"]
        assert assert_test_result(tr, ok=False) == ["connect", "auth"], tr
        assert not tr["checks"][-1]["ok"], tr
        assert api.get("%s/%s" % (LIST, d["id"])).json()["status"] == \
            "error"
    finally:
        ftp_peer.ensure_user(ftp.user, PASSWORD)
    retest_ok(api, d)
    assert api.get("%s/%s" % (LIST, d["id"])).json()["status"] == "active"


def test_missing_directory(api, ftp):
    p = create_fails(api, body(ftp, ftp.plain, "no-such-dir-%s"
                               % uuid.uuid4().hex[:6]), "target")
    assert "does not exist or cannot be entered" in p["checks"][-1]["detail"]
    # Absolute, below a directory that does exist.
    p = create_fails(api, body(ftp, ftp.explicit, str(ftp.root / "nope" /
                                                      "deeper")), "target")
    assert "does not exist or cannot be entered" in p["checks"][-1]["detail"]


def test_read_only_directory(api, ftp):
    name = new_dir(ftp, writable=False)
    p = create_fails(api, body(ftp, ftp.explicit, name), "write")
    assert p["checks"][-1]["detail"] == \
        "no permission to write in '%s'" % name, p
    assert os.listdir(ftp.root / name) == []


def test_downloads_refused_read_fails_and_cleans_up(api, ftp):
    name = new_dir(ftp)
    p = create_fails(api, body(ftp, ftp.noread, name), "read")
    assert "refused to send the probe object back" in \
        p["checks"][-1]["detail"], p
    assert probe_files(ftp.root / name) == [], "probe object left behind"


def test_delete_refused_is_a_warning(api, ftp):
    name = new_dir(ftp)
    d = create_ok(api, body(ftp, ftp.nodelete, name))
    tr = d["lastTest"]
    assert "kept" in detail_of(tr, "delete"), tr
    left = probe_files(ftp.root / name)
    assert len(left) == 1, left
    assert any(left[0] in w and "remove it by hand" in w
               for w in tr["warnings"]), tr["warnings"]


def test_pasv_reply_pointing_elsewhere_is_not_followed(api, ftp):
    # EPSV refused, PASV names 127.0.0.1: with CURLOPT_FTP_SKIP_PASV_IP the
    # data connection goes to the control connection's address, where the
    # fake server lists the directory; its STOR answer 553 fails write.
    fake = PasvElsewhereServer(ftp.host, "127.0.0.1")
    try:
        b = body(ftp, fake, "x", tls="none")
        b["config"]["port"] = fake.port
        p = create_fails(api, b, "write")
        assert fake.data_accepted >= 1, "no data connection at the server"
        assert fake.decoy.accepted == 0, \
            "the probe connected to the address in the PASV reply"
    finally:
        fake.close()


def test_nothing_listening_fails_fast(api, ftp):
    port = free_port(ftp.host)
    t0 = time.monotonic()
    p = create_fails(api, body(ftp, ftp.plain, "x", port=port), "connect")
    assert_fast_refusal(t0, p)


@pytest.mark.parametrize("tls", ["none", "explicit", "implicit"])
def test_silent_server_is_bounded(api, ftp, tls):
    s = SilentServer(ftp.host)
    try:
        b = body(ftp, ftp.plain, "x", port=s.port, tls=tls)
        t0 = time.monotonic()
        p = create_fails(api, b, "connect")
        assert_bounded(t0, s, p)
    finally:
        s.close()


# ----------------------------------------------------------------- SSRF

SSRF_HOSTS = ["127.0.0.1", "::1", "[::1]", "::ffff:127.0.0.1",
              "[::ffff:127.0.0.1]", "0.0.0.0", "169.254.169.254",
              "2130706433", "0177.0.0.1", "0x7f000001", "127.1",
              "localhost"]


@pytest.mark.parametrize("tls", ["none", "implicit"])
@pytest.mark.parametrize("host", SSRF_HOSTS)
def test_ssrf_refused_before_connecting(api, ftp, loopback_listeners, host,
                                        tls):
    v4, v6 = loopback_listeners
    port, ls = v4.port, [lst for lst in (v4, v6) if lst is not None]
    b = body(ftp, ftp.plain, "x", host=host, port=port, tls=tls)
    r = api.post(LIST, json=b)
    assert_clean(r)
    p = assert_problem(r, 422)
    if "failedCheck" in p:
        assert p["failedCheck"] == "connect", p
        assert "egress policy" in p["checks"][0]["detail"], p
    else:
        assert error_pointers(p) == ["/config/host"], p
    time.sleep(0.05)
    assert [lst.accepted for lst in ls] == [0] * len(ls), \
        "a connection reached the loopback listener"
    assert api.list() == []


# ------------------------------------------------------------- secrets

def test_no_secret_in_peer_files_or_logs(api, ftp, env):
    # Make sure something was logged in both ways first.
    name = new_dir(ftp)
    create_ok(api, body(ftp, ftp.plain, name))
    create_fails(api, body(ftp, ftp.plain, name, password=WRONG), "auth")
    needles = [PASSWORD.encode(), WRONG.encode()]
    places = [ftp.base]
    for k in ("BACKUPD_LOG", "BACKUPD_NGINX_ACCESS_LOG",
              "BACKUPD_NGINX_ERROR_LOG"):
        if env.get(k):
            places.append(Path(env[k]))
    seen = 0
    for place in places:
        files = [place] if place.is_file() else \
            [f for f in place.rglob("*") if f.is_file() and not f.is_symlink()]
        for f in files:
            data = f.read_bytes()
            seen += 1
            for n in needles:
                assert n not in data, "%s contains a secret" % f
    assert seen > 3
    # The peers did log the logins (so the scan looked at real logs).
    assert b"OK LOGIN" in (ftp.base / "plain.log").read_bytes()
    assert b"FAIL LOGIN" in (ftp.base / "plain.log").read_bytes()


# --------------------------------------------------- placeholder vs location


@pytest.mark.parametrize("change", ["port", "host+port", "tls"])
def test_placeholder_does_not_follow_a_new_host(api, ftp, change):
    """The password is kept by "********" only for the host, port and TLS
    mode it was stored with (a plain-FTP "downgrade" sends it in clear
    text): changing one with a placeholder is refused at that field, and a
    server of one's own on the new address sees no connection."""
    import egress_guard
    name = new_dir(ftp)
    d = create_ok(api, body(ftp, ftp.explicit, name))
    evil = SilentServer(ftp.host)
    try:
        cfg = {"password": PLACEHOLDER}
        want = []
        if "port" in change:
            cfg["port"] = evil.port
            want.append("/config/port")
        if "host" in change:
            cfg["host"] = egress_guard.PEER_ALIAS
            want.append("/config/host")
        if change == "tls":
            cfg["tls"] = "none"
            want.append("/config/tls")
        b = body(ftp, ftp.explicit, name, name=d["name"], **cfg)
        assert_placeholder_refused(api, d, b, want, evil)
    finally:
        evil.close()
