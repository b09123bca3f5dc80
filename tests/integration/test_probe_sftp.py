"""The SFTP probe (issue 3) against a real server: OpenSSH's sshd from Debian
(tests/peers/sftp/), started for this module on $BACKUPD_TEST_PEER_HOST with
its own config, host keys and a dedicated test user.

Proven here: password, ed25519 key, RSA keys (OpenSSH and PEM format; with
a server that accepts ssh-rsa, and the explained refusal by a default
OpenSSH), a passphrase-protected key with the right, a wrong and a missing
passphrase, a key that fails falling back to the password (with a warning),
a pinned host key (with and without "SHA256:" and padding), a wrong pin
(the detail names both fingerprints), trust on first use (the first test
stores the key; after the server's key changes the test fails naming both),
a read-only directory (write), a missing directory (target), a path relative
to the home directory, a refused delete (warning), a wrong password (auth),
nothing listening (connect, fast), a server that accepts and never answers
(bounded by probe_timeout), observed.hostKeySha256 / hostKeyType /
serverSoftware on success and failure, hostKeySha256Alternates accepting a
rotated key (and its validation), the SSRF spellings refused before any
connection, the private key's temporary file (private while it exists, gone
after every probe), and no secret in any response or log.
"""

import os
import re
import socket
import stat
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import (PLACEHOLDER, REPO, SEEN_BODIES, assert_problem,
                      assert_test_result, register_secrets)
from probe_helpers import (PROBE_TIMEOUT, SilentServer, Tripwire,
                           assert_placeholder_refused,
                           assert_fast_refusal, created, dest_body, detail_of,
                           details, free_port, peer_host, probe_files, refused,
                           running, service_logs)

sys.path.insert(0, str(REPO / "tests" / "peers" / "sftp"))
from sftp_peer import USER, SftpPeer  # noqa: E402

LIST = "/backup-destinations"
ALL_CHECKS = ["connect", "auth", "target", "write", "read", "delete"]
# Sentinel secrets: they must never show up in a response or a log.
WRONG = "sftp-wrong-%s" % uuid.uuid4().hex
WRONG_PASSPHRASE = "kp-wrong-%s" % uuid.uuid4().hex
FP = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")
# What the server or libssh2 says must never leak into a detail.
SERVER_TEXT = re.compile(
    r"SSH-2\.0|OpenSSH_|libssh2|Permission denied|No such file|"
    r"Wrong passphrase|publickey,|keyboard-interactive|[{}<>]")
TMP_PREFIX = "backupd-sftp-"


@pytest.fixture(scope="module")
def peer(env):
    host = peer_host(pki=False)
    root = Path(env["BACKUPD_STACK_DIR"]) / "peers" / "sftp"
    p = SftpPeer(root, host)
    p.start()
    try:
        register_secrets("sftp", p.password, p.key_passphrase(),
                         *(p.key(k) for k in ("ed25519", "ed25519-pass",
                                              "rsa", "rsa-pem")))
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="module")
def worker_tmp(env):
    """The temporary directory the service's workers use ($TMPDIR of the
    running backupd, else /tmp): where a key file must never appear."""
    pid_file = Path(env["BACKUPD_STACK_DIR"]) / "run" / "backupd.pid"
    tmp = "/tmp"
    try:
        pid = int(pid_file.read_text().strip())
        raw = Path("/proc/%d/environ" % pid).read_bytes()
        for item in raw.split(b"\0"):
            if item.startswith(b"TMPDIR="):
                v = item[len(b"TMPDIR="):].decode()
                if v.startswith("/"):
                    tmp = v
    except (OSError, ValueError):
        pass
    return Path(tmp)


def secrets_of(peer):
    out = [peer.password, WRONG, WRONG_PASSPHRASE, peer.key_passphrase()]
    for name in ("ed25519", "ed25519-pass", "rsa", "rsa-pem"):
        # Any line of the key's base64 body.
        out += [ln for ln in peer.key(name).splitlines()
                if ln and not ln.startswith("-----") and len(ln) > 20]
    return out


def body(peer, name=None, **cfg):
    return dest_body("sftp", "sftp", name, **{
        "host": peer.host, "port": peer.port, "username": USER,
        "path": str(peer.dir("writable")), **cfg})


def assert_clean(peer, tr, text=""):
    """Details and warnings are our sentences: no secret, no server text."""
    for d in details(tr):
        assert not SERVER_TEXT.search(d), "server text in detail: %r" % d
        for s in secrets_of(peer):
            assert s not in d, "secret in detail %r" % d
    for s in secrets_of(peer):
        assert s not in text, "secret in response"


def create_ok(api, peer, b):
    r, d, tr = created(api, b)
    assert_clean(peer, tr, r.text)
    for k in ("password", "privateKey", "privateKeyPassphrase"):
        if k in b["config"]:
            assert d["config"][k] == PLACEHOLDER, d["config"]
    return d, tr


def create_fails(api, peer, b, check):
    r, p, tr = refused(api, b, check)
    assert_clean(peer, tr, r.text)
    assert api.list() == [], "a failed create stored something"
    return p, tr


# ------------------------------------------------------------- success


def test_password_success_pins_on_first_use(api, peer):
    w = peer.dir("writable")
    d, tr = create_ok(api, peer, body(peer, password=peer.password))
    fp = peer.fingerprint("host1")
    # Trust on first use: the key seen is stored and returned.
    assert d["config"]["hostKeySha256"] == fp, d["config"]
    assert fp in detail_of(tr, "connect"), tr
    assert "trust on first use" in detail_of(tr, "connect"), tr
    assert "password" in detail_of(tr, "auth"), tr
    assert str(w) in detail_of(tr, "target"), tr
    assert probe_files(w) == [], "probe object left behind"
    assert tr["warnings"] == [], tr
    # OpenSSH's statvfs extension: the directory's file system (issue 9).
    sv = os.statvfs(w)
    cap = tr["capacity"]
    assert cap["totalBytes"] == sv.f_blocks * sv.f_frsize, cap
    assert abs(cap["freeBytes"] - sv.f_bavail * sv.f_frsize) < 512 << 20, cap
    # The stored config round-trips: GET shows the pin, the test uses it.
    g = api.get("%s/%s" % (LIST, d["id"]))
    assert g.status_code == 200 and g.json()["config"]["hostKeySha256"] == fp
    r = api.post("%s/%s/test" % (LIST, d["id"]))
    assert r.status_code == 200, r.text
    tr2 = r.json()
    assert assert_test_result(tr2, ok=True) == ALL_CHECKS
    assert "matches the pinned " + fp in detail_of(tr2, "connect"), tr2
    assert_clean(peer, tr2, r.text)
    assert probe_files(w) == []
    # The server saw a password login for the test user.
    assert "Accepted password for %s" % USER in peer.log_text()


def test_ed25519_key(api, peer):
    d, tr = create_ok(api, peer, body(peer, privateKey=peer.key("ed25519")))
    assert "private key" in detail_of(tr, "auth"), tr
    assert "Accepted publickey for %s" % USER in peer.log_text()
    r = api.post("%s/%s/test" % (LIST, d["id"]))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("name", ["rsa", "rsa-pem"])
def test_rsa_key(api, peer, name):
    create_ok(api, peer, body(peer, port=peer.rsa_port,
                              privateKey=peer.key(name)))


def test_rsa_key_refused_by_default_openssh_is_explained(api, peer):
    # libssh2 1.10 signs RSA keys with ssh-rsa (SHA-1); OpenSSH >= 8.8
    # refuses that unless configured otherwise. The detail says so.
    p, tr = create_fails(api, peer, body(peer, privateKey=peer.key("rsa")),
                         "auth")
    d = detail_of(tr, "auth")
    assert "refused the key for user '%s'" % USER in d, d
    assert "ssh-rsa" in d and "ed25519" in d, d


def test_passphrase_key_right(api, peer):
    create_ok(api, peer, body(peer, privateKey=peer.key("ed25519-pass"),
                              privateKeyPassphrase=peer.key_passphrase()))


@pytest.mark.parametrize("passphrase", [WRONG_PASSPHRASE, None])
def test_passphrase_key_wrong_or_missing(api, peer, passphrase):
    p, tr = create_fails(api, peer, body(
        peer, privateKey=peer.key("ed25519-pass"),
        privateKeyPassphrase=passphrase), "auth")
    assert detail_of(tr, "auth") == \
        "the private key passphrase is wrong or missing", tr
    assert "passphrase is wrong or missing" in p["detail"]


def test_unusable_key_falls_back_to_password_with_warning(api, peer):
    d, tr = create_ok(api, peer, body(
        peer, password=peer.password, privateKey=peer.key("ed25519-pass"),
        privateKeyPassphrase=WRONG_PASSPHRASE))
    assert "password" in detail_of(tr, "auth"), tr
    assert any("private key could not be loaded" in w
               for w in tr["warnings"]), tr


# ---------------------------------------------------------- host keys


@pytest.mark.parametrize("spelling", ["prefixed", "bare", "padded"])
def test_pinned_host_key_matches(api, peer, spelling):
    fp = peer.fingerprint("host1")
    pin = {"prefixed": fp, "bare": fp[len("SHA256:"):],
           "padded": fp[len("SHA256:"):] + "="}[spelling]
    d, tr = create_ok(api, peer, body(peer, password=peer.password,
                                      hostKeySha256=pin))
    assert "matches the pinned " + fp in detail_of(tr, "connect"), tr
    # A pinned key is stored as the user gave it, not replaced.
    assert d["config"]["hostKeySha256"] == pin


def test_wrong_pin_names_both_fingerprints(api, peer):
    seen = peer.fingerprint("host1")
    pin = peer.fingerprint("host2")
    before = peer.log_text().count("Accepted ")
    p, tr = create_fails(api, peer, body(peer, password=peer.password,
                                         hostKeySha256=pin), "connect")
    d = detail_of(tr, "connect")
    assert d == ("host key does not match the pinned %s; the server "
                 "presented %s" % (pin, seen)), d
    assert [c["name"] for c in tr["checks"]] == ["connect"]
    # No login was attempted against a server with the wrong key.
    assert peer.log_text().count("Accepted ") == before


def test_trust_on_first_use_then_changed_key(api, peer):
    fp1, fp2 = peer.fingerprint("host1"), peer.fingerprint("host2")
    d, tr = create_ok(api, peer, body(peer, password=peer.password))
    assert d["config"]["hostKeySha256"] == fp1
    did = d["id"]
    try:
        peer.restart(hostkey="host2")
        r = api.post("%s/%s/test" % (LIST, did))
        p = assert_problem(r, 422)
        assert p["failedCheck"] == "connect", p
        det = detail_of(p["lastTest"], "connect")
        assert det == ("host key does not match the pinned %s; the server "
                       "presented %s" % (fp1, fp2)), det
        assert_clean(peer, p["lastTest"], r.text)
        g = api.get("%s/%s" % (LIST, did)).json()
        # The pin stays; the destination is marked as failing.
        assert g["config"]["hostKeySha256"] == fp1, g["config"]
        assert g["status"] == "error", g
        assert g["lastTest"]["ok"] is False
        # A new destination without a pin trusts the new key.
        d2, tr2 = create_ok(api, peer, body(peer, password=peer.password))
        assert d2["config"]["hostKeySha256"] == fp2
    finally:
        peer.restart(hostkey="host1")
    r = api.post("%s/%s/test" % (LIST, did))
    assert r.status_code == 200, r.text


def test_failed_test_does_not_pin(api, peer):
    d, _ = create_ok(api, peer, body(peer, password=peer.password,
                                     hostKeySha256=peer.fingerprint("host1")))
    # Drop the pin and break the password: the failing test must not pin.
    cfg = dict(d["config"])
    cfg.pop("hostKeySha256")
    cfg["password"] = peer.password
    r = api.put("%s/%s" % (LIST, d["id"]), json={
        "name": d["name"], "destinationType": "sftp", "config": cfg})
    assert r.status_code == 200, r.text
    assert r.json()["config"]["hostKeySha256"] == peer.fingerprint("host1")
    cfg.pop("hostKeySha256", None)
    cfg["password"] = WRONG
    r = api.put("%s/%s" % (LIST, d["id"]), json={
        "name": d["name"], "destinationType": "sftp", "config": cfg})
    p = assert_problem(r, 422)
    assert p["failedCheck"] == "auth"
    assert "once a test succeeds" in detail_of(p["lastTest"], "connect")


def refused_clean(api, peer, b, check):
    """refused() with clean details (other destinations may exist)."""
    r, p, tr = refused(api, b, check)
    assert_clean(peer, tr, r.text)
    return p, tr


def ssh_software(host, port):
    """The software part of the server's identification line (RFC 4253
    4.2: "SSH-2.0-<software> <comments>"), read here over a socket."""
    with socket.create_connection((host, port), timeout=3) as s:
        s.settimeout(3)
        line = b""
        while not line.endswith(b"\n"):
            chunk = s.recv(1)
            if not chunk:
                break
            line += chunk
    text = line.decode("ascii").rstrip("\r\n")
    assert text.startswith("SSH-2.0-"), text
    return text[len("SSH-2.0-"):]


def observed_of(peer, key):
    return {"hostKeySha256": peer.fingerprint(key),
            "hostKeyType": "ssh-ed25519",
            "serverSoftware": ssh_software(peer.host, peer.port)}


def test_observed_on_success_and_failure(api, peer):
    """observed names the key the server presented whenever the key
    exchange happened (issue 9 item 4), and the server's software."""
    want = observed_of(peer, "host1")
    assert want["serverSoftware"].startswith("OpenSSH_"), want
    # Success (trust on first use), then a re-test with the pin.
    d, tr = create_ok(api, peer, body(peer, password=peer.password))
    assert tr["observed"] == want, tr
    r = api.post("%s/%s/test" % (LIST, d["id"]))
    assert r.status_code == 200 and r.json()["observed"] == want, r.text
    # A wrong pin (connect fails), a wrong password (auth fails).
    p, tr = refused_clean(api, peer, body(
        peer, password=peer.password,
        hostKeySha256=peer.fingerprint("host2")), "connect")
    assert tr["observed"] == want, tr
    p, tr = refused_clean(api, peer, body(peer, password=WRONG), "auth")
    assert tr["observed"] == want, tr
    # No key exchange, nothing observed.
    p, tr = refused_clean(api, peer, body(peer, port=free_port(peer.host),
                                         password=peer.password), "connect")
    assert "observed" not in tr, tr


def test_alternate_host_key_accepts_a_rotated_key(api, peer):
    """Pinned key A plus alternate B: the server may present either; without
    B the same server fails with the mismatch detail."""
    fp1, fp2 = peer.fingerprint("host1"), peer.fingerprint("host2")
    # Any spelling of the alternate (bare, padded) is accepted and stored
    # as given.
    alt = fp2[len("SHA256:"):] + "="
    d, tr = create_ok(api, peer, body(peer, password=peer.password,
                                      hostKeySha256=fp1,
                                      hostKeySha256Alternates=[alt]))
    assert "matches the pinned " + fp1 in detail_of(tr, "connect"), tr
    assert d["config"]["hostKeySha256Alternates"] == [alt], d["config"]
    g = api.get("%s/%s" % (LIST, d["id"])).json()
    assert g["config"]["hostKeySha256Alternates"] == [alt], g["config"]
    did = d["id"]
    try:
        peer.restart(hostkey="host2")
        r = api.post("%s/%s/test" % (LIST, did))
        assert r.status_code == 200, r.text
        tr = r.json()
        assert detail_of(tr, "connect") == (
            "the server's ED25519 host key matches the alternate %s" % fp2), tr
        assert tr["observed"] == observed_of(peer, "host2"), tr
        # The pin is not replaced by the alternate that matched.
        g = api.get("%s/%s" % (LIST, did)).json()
        assert g["config"]["hostKeySha256"] == fp1, g["config"]
        assert g["status"] == "active", g
        # Without the alternate: the existing mismatch detail.
        p, tr = refused_clean(api, peer, body(peer, password=peer.password,
                                             hostKeySha256=fp1), "connect")
        assert detail_of(tr, "connect") == (
            "host key does not match the pinned %s; the server presented "
            "%s" % (fp1, fp2)), tr
        # With an alternate that is not the server's key either.
        p, tr = refused_clean(api, peer, body(
            peer, password=peer.password, hostKeySha256=fp1,
            hostKeySha256Alternates=[fp1]), "connect")
        assert detail_of(tr, "connect") == (
            "host key does not match the pinned %s or one of its 1 "
            "alternates; the server presented %s" % (fp1, fp2)), tr
        assert tr["observed"]["hostKeySha256"] == fp2, tr
    finally:
        peer.restart(hostkey="host1")
    r = api.post("%s/%s/test" % (LIST, did))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("alts,pointers", [
    ("SHA256:x", ["/config/hostKeySha256Alternates"]),
    ({"a": 1}, ["/config/hostKeySha256Alternates"]),
    (None, ["/config/hostKeySha256Alternates"]),
    (["k"] * 5, ["/config/hostKeySha256Alternates"]),
    ([1, "SHA256:abc", "", "MD5:x"],
     ["/config/hostKeySha256Alternates/%d" % i for i in range(4)]),
    (["@2", "@1", "@2="], ["/config/hostKeySha256Alternates/2"]),
])
def test_alternates_validation(api, peer, alts, pointers):
    fp1, fp2 = peer.fingerprint("host1"), peer.fingerprint("host2")

    def sub(v):
        return {"@1": fp1, "@2": fp2, "@2=": fp2[7:] + "="}.get(v, v)
    if isinstance(alts, list):
        alts = [sub(a) for a in alts]
    b = body(peer, password=peer.password, hostKeySha256=fp1)
    b["config"]["hostKeySha256Alternates"] = alts  # null included
    r = api.post(LIST, json=b)
    p = assert_problem(r, 422)
    assert sorted(e["pointer"] for e in p["errors"]) == sorted(pointers), p
    assert api.list() == []
    # Alternates need a pin to add to.
    r = api.post(LIST, json=body(peer, password=peer.password,
                                 hostKeySha256Alternates=[fp2]))
    p = assert_problem(r, 422)
    assert [e["pointer"] for e in p["errors"]] == \
        ["/config/hostKeySha256Alternates"], p
    assert api.list() == []


# ---------------------------------------------------------- failures


def test_wrong_password_is_auth(api, peer):
    p, tr = create_fails(api, peer, body(peer, password=WRONG), "auth")
    assert detail_of(tr, "auth") == \
        "the server refused the password for user '%s'" % USER, tr
    assert [c["name"] for c in tr["checks"]] == ["connect", "auth"]
    assert "Failed password for %s" % USER in peer.log_text()


def test_unknown_user_is_auth(api, peer):
    p, tr = create_fails(api, peer, body(peer, username="nobody-" +
                                         uuid.uuid4().hex[:8],
                                         password=WRONG), "auth")
    assert "refused the password" in detail_of(tr, "auth")


def test_missing_directory_is_target(api, peer):
    missing = str(peer.dir("missing"))
    p, tr = create_fails(api, peer, body(peer, password=peer.password,
                                         path=missing), "target")
    assert detail_of(tr, "target") == \
        "directory '%s' does not exist (or is not a directory)" % missing


def test_readonly_directory_is_write(api, peer):
    ro = str(peer.dir("readonly"))
    p, tr = create_fails(api, peer, body(peer, password=peer.password,
                                         path=ro), "write")
    assert detail_of(tr, "write") == "no permission to write in '%s'" % ro
    assert detail_of(tr, "target") == "directory '%s' exists" % ro
    assert probe_files(ro) == []


def test_path_relative_to_home(api, peer):
    name = peer.home_dir.name
    for path in (name, "~/" + name + "/"):
        d, tr = create_ok(api, peer, body(peer, password=peer.password,
                                          path=path))
        assert "'%s'" % path in detail_of(tr, "target"), tr
        assert probe_files(peer.home_dir) == []
    # The same directory spelled absolutely.
    create_ok(api, peer, body(peer, password=peer.password,
                              path=str(peer.home_dir)))


def test_refused_delete_is_a_warning(api, peer):
    w = peer.dir("writable")
    d, tr = create_ok(api, peer, body(peer, port=peer.nodelete_port,
                                      password=peer.password))
    assert detail_of(tr, "delete") == "the probe object could not be deleted"
    left = probe_files(w)
    assert len(left) == 1, left
    assert any(left[0] in x and "remove it by hand" in x
               for x in tr["warnings"]), tr
    os.unlink(w / left[0])


def test_nothing_listening_is_connect_and_fast(api, peer):
    port = free_port(peer.host)
    t0 = time.monotonic()
    p, tr = create_fails(api, peer, body(peer, port=port,
                                         password=peer.password), "connect")
    assert_fast_refusal(t0, tr)


def test_accepts_and_never_answers_is_bounded(api, peer):
    srv = SilentServer(peer.host)
    try:
        t0 = time.monotonic()
        p, tr = create_fails(api, peer, body(peer, port=srv.port,
                                             password=peer.password),
                             "connect")
        took = time.monotonic() - t0
        assert took < PROBE_TIMEOUT + 4, "took %.1fs" % took
        assert srv.conns, "the probe never connected"
        assert "did not answer in time" in detail_of(tr, "connect"), tr
    finally:
        srv.close()


def test_not_an_ssh_server_is_connect(api, peer):
    s = socket.socket()
    s.bind((peer.host, 0))
    s.listen(4)
    port = s.getsockname()[1]

    def answer():
        s.settimeout(10)
        try:
            c, _ = s.accept()
            c.recv(100)
            c.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            c.close()
        except OSError:
            pass
    t = threading.Thread(target=answer, daemon=True)
    t.start()
    try:
        p, tr = create_fails(api, peer, body(peer, port=port,
                                             password=peer.password),
                             "connect")
        assert "SSH handshake failed" in detail_of(tr, "connect"), tr
    finally:
        t.join(12)
        s.close()


# -------------------------------------------------------------- SSRF


SSRF_HOSTS = ["127.0.0.1", "::1", "[::1]", "::ffff:127.0.0.1", "0.0.0.0",
              "169.254.169.254", "2130706433", "0177.0.0.1", "localhost"]


@pytest.mark.parametrize("host", SSRF_HOSTS)
def test_ssrf_hosts_refused_before_connecting(api, peer, host):
    trip = Tripwire()
    try:
        r = api.post(LIST, json=body(peer, host=host, port=trip.port,
                                     password=peer.password))
        p = assert_problem(r, 422)
        if "failedCheck" in p:
            assert p["failedCheck"] == "connect", p
            assert "egress policy" in detail_of(p["lastTest"], "connect"), p
        else:
            # The validator refused the spelling: also never connected.
            assert any(e["pointer"] == "/config/host"
                       for e in p["errors"]), p
        time.sleep(0.3)
        assert trip.hits == 0, "a connection reached %s" % host
    finally:
        trip.close()


# ------------------------------------------------- temporary key file


def _key_dirs(tmp):
    """Entries a key file on disk would leave (the probe used to write one
    under $TMPDIR/backupd-sftp-XXXXXX; it must never again)."""
    try:
        return {n for n in os.listdir(tmp) if n.startswith(TMP_PREFIX)}
    except OSError:
        return set()


def _stack_pids(env):
    """backupd of this stack and all its descendants (the workers)."""
    pid_file = Path(env["BACKUPD_STACK_DIR"]) / "run" / "backupd.pid"
    try:
        root = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return set()
    parent = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat_line = Path("/proc/%s/stat" % d).read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces or ')'.
        parent[int(d)] = int(stat_line.rsplit(")", 1)[1].split()[1])
    out = {root}
    grew = True
    while grew:
        grew = False
        for pid, pp in parent.items():
            if pp in out and pid not in out:
                out.add(pid)
                grew = True
    return out


def _key_memfds(env):
    """(pid, fd) of every anonymous key file open in this stack."""
    out = set()
    for pid in _stack_pids(env):
        fd_dir = "/proc/%d/fd" % pid
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink("%s/%s" % (fd_dir, fd))
            except OSError:
                continue
            if target.startswith("/memfd:backupd-key"):
                out.add((pid, int(fd)))
    return out


def test_key_file_only_in_memory_while_used_and_gone(api, env, peer,
                                                     worker_tmp):
    """During a probe (held open by a silent server) the key exists only as
    an anonymous memory file of the worker (memfd "backupd-key"): nothing
    named backupd-sftp-* appears in the worker's TMPDIR, before, during or
    after; afterwards the memory file is closed."""
    srv = SilentServer(peer.host)
    before = _key_dirs(worker_tmp)
    on_disk = set()
    seen = set()
    result = {}

    def create():
        result["r"] = api.post(LIST, json=body(
            peer, port=srv.port, privateKey=peer.key("ed25519-pass"),
            privateKeyPassphrase=peer.key_passphrase()))
    t = threading.Thread(target=create)
    t.start()
    try:
        end = time.monotonic() + PROBE_TIMEOUT + 4
        while t.is_alive() and time.monotonic() < end:
            on_disk |= _key_dirs(worker_tmp) - before
            if not seen:
                seen = _key_memfds(env)
            time.sleep(0.02)
        t.join(PROBE_TIMEOUT + 10)
    finally:
        srv.close()
    assert_problem(result["r"], 422)
    assert on_disk == set(), "key file on disk in %s: %s" % (worker_tmp,
                                                             on_disk)
    assert seen, "no in-memory key file was seen during the probe"
    # Gone once the probe returned, and still nothing on disk.
    assert _key_memfds(env) & seen == set()
    assert _key_dirs(worker_tmp) - before == set()


def test_zz_no_key_file_left_behind(env, peer, worker_tmp):
    """After every key test of this module (success and failure), nothing
    named backupd-sftp-* is in the workers' TMPDIR (the key never goes to
    disk) and no in-memory key file is open in this stack. An older
    build's probe in another stack may hold a key directory for up to
    probe_timeout: anything still there after that is a leak."""
    left = _key_dirs(worker_tmp)
    end = time.monotonic() + PROBE_TIMEOUT + 2
    while left and time.monotonic() < end:
        time.sleep(0.2)
        left &= _key_dirs(worker_tmp)
    assert left == set(), "left behind in %s: %s" % (worker_tmp, left)
    assert _key_memfds(env) == set(), "in-memory key file still open"


def test_zz_secrets_never_in_responses_or_logs(env, peer):
    secrets = secrets_of(peer)
    for b in SEEN_BODIES:
        text = b.decode("utf-8", "replace")
        for s in secrets:
            assert s not in text, "a secret reached a response body"
    for key, data in service_logs(env):
        text = data.decode(errors="replace")
        for s in secrets:
            assert s not in text, "a secret reached %s" % key


# --------------------------------------------------- placeholder vs location


@pytest.mark.parametrize("change", ["port", "host+port", "host",
                                    "hostKeySha256"])
def test_placeholder_does_not_follow_a_new_host(api, peer, change):
    """The password and the private key are kept by "********" only for the
    host, port and pinned host key they were stored with: changing any of
    them with placeholders is refused at that field, and a server of one's
    own on the new address sees no connection."""
    import egress_guard
    d, tr = create_ok(api, peer, body(peer, password=peer.password,
                                      privateKey=peer.key("ed25519")))
    evil = SilentServer(peer.host)
    try:
        cfg = {"password": PLACEHOLDER, "privateKey": PLACEHOLDER,
               "hostKeySha256": d["config"].get("hostKeySha256")}
        want = []
        if "port" in change:
            cfg["port"] = evil.port
            want.append("/config/port")
        if change.startswith("host") and change != "hostKeySha256":
            cfg["host"] = egress_guard.PEER_ALIAS
            want.append("/config/host")
        if change == "hostKeySha256":
            cfg["hostKeySha256"] = "SHA256:" + "A" * 43
            want.append("/config/hostKeySha256")
        b = body(peer, name=d["name"], **cfg)
        b["config"] = {k: v for k, v in b["config"].items() if v is not None}
        assert_placeholder_refused(api, d, b, want, evil)
    finally:
        evil.close()
