"""The SMB probe (issue 10) against a real server: Samba's smbd from Debian
(tests/peers/smb/), two instances started for this module on
$BACKUPD_TEST_PEER_HOST with their own config, state and passdb: one that
offers SMB3 encryption, one that cannot encrypt.

Proven here: the whole life of an smb destination (create with every check,
GET redacted, PUT keeping the password with the placeholder, test, delete),
user/password with and without a domain, a wrong password (auth), a missing
share and a missing directory or a file in its place (target), a read-only
share (write, naming the share), requireEncryption against a server that
offers encryption (passes, encrypted) and one that does not (refused),
paths that leave the share (refused at validation), nothing listening
(connect, fast), a server that accepts and never answers (bounded by
probe_timeout), the SSRF spellings refused before any connection (a
listener on loopback records that none arrived), no probe file left
behind, and no secret in any response or log. Capacity (issue 9): the
share's disk as smbd reports it (statvfs of the real disk for `data`;
smbd's `dfree command` for `small`, so the numbers, the low-space
warnings and a server that cannot tell are exact), read over the same
session.
"""

import os
import re
import socket
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import (PLACEHOLDER, REPO, SEEN_BODIES, assert_problem,
                      assert_test_result)
from probe_helpers import (PROBE_TIMEOUT, SilentServer, Tripwire,
                           assert_fast_refusal, created, dest_body, detail_of,
                           details, free_port, peer_host, probe_files, refused,
                           running, service_logs)

sys.path.insert(0, str(REPO / "tests" / "peers" / "smb"))
from smb_peer import USER, WORKGROUP, SmbPeer  # noqa: E402

LIST = "/backup-destinations"
ALL_CHECKS = ["connect", "auth", "target", "write", "read", "delete"]
WRONG = "smb-wrong-%s" % uuid.uuid4().hex
# What the server or libsmbclient says must never reach a detail.
SERVER_TEXT = re.compile(r"NT_STATUS|Samba|smbd|libsmb|BKSMBPEER|[{}<>]")


@pytest.fixture(scope="module")
def peer(env):
    host = peer_host(pki=False)
    root = Path(env["BACKUPD_STACK_DIR"]) / "peers" / "smb"
    yield from running(SmbPeer(root, host))


def body(peer, name=None, **cfg):
    return dest_body("smb", "smb", name, **{
        "host": peer.host, "port": peer.port, "share": "data",
        "username": USER, "password": peer.password, **cfg})


def secrets_of(peer):
    return [peer.password, WRONG]


def assert_clean(peer, tr, text=""):
    for d in details(tr):
        assert not SERVER_TEXT.search(d), "server text in detail: %r" % d
        for s in secrets_of(peer):
            assert s not in d, "secret in detail %r" % d
    for s in secrets_of(peer):
        assert s not in text, "secret in response"


def create_ok(api, peer, b):
    r, d, tr = created(api, b)
    assert_clean(peer, tr, r.text)
    assert d["config"]["password"] == PLACEHOLDER, d["config"]
    return d, tr


def create_fails(api, peer, b, check):
    r, p, tr = refused(api, b, check)
    assert_clean(peer, tr, r.text)
    assert api.list() == [], "a failed create stored something"
    return p, tr


# ------------------------------------------------------------- success


def test_lifecycle(api, peer):
    data = peer.dir("data")
    d, tr = create_ok(api, peer, body(peer))
    assert "SMB 2/3 session" in detail_of(tr, "connect"), tr
    assert detail_of(tr, "target").startswith(
        "directory '/' exists on share 'data' ("), tr
    assert "MiB free" in detail_of(tr, "target"), tr
    assert tr["warnings"] == [], tr
    assert probe_files(data) == [], "probe file left behind"
    # GET: redacted, every other field as given.
    g = api.get("%s/%s" % (LIST, d["id"]))
    assert g.status_code == 200, g.text
    cfg = g.json()["config"]
    assert cfg["password"] == PLACEHOLDER and cfg["share"] == "data", cfg
    assert cfg["host"] == peer.host and cfg["port"] == peer.port, cfg
    assert peer.password not in g.text
    # PUT with the placeholder keeps the stored password; the new path is
    # tested with it.
    cfg["path"] = "sub"
    r = api.put("%s/%s" % (LIST, d["id"]), json={
        "name": d["name"], "destinationType": "smb", "config": cfg})
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["config"]["password"] == PLACEHOLDER, u
    assert u["config"]["path"] == "sub"
    assert assert_test_result(u["lastTest"], ok=True) == ALL_CHECKS
    assert "directory '/sub' exists" in detail_of(u["lastTest"], "target")
    assert probe_files(data / "sub") == []
    # POST /test.
    r = api.post("%s/%s/test" % (LIST, d["id"]))
    assert r.status_code == 200, r.text
    assert assert_test_result(r.json(), ok=True) == ALL_CHECKS
    assert_clean(peer, r.json(), r.text)
    # A placeholder with a changed host is refused (locating field).
    cfg2 = dict(cfg, host="127.0.0.3")
    r = api.put("%s/%s" % (LIST, d["id"]), json={
        "name": d["name"], "destinationType": "smb", "config": cfg2})
    assert_problem(r, 422)
    # DELETE.
    r = api.delete("%s/%s" % (LIST, d["id"]))
    assert r.status_code == 200 and r.json()["deleted"] is True, r.text
    assert api.get("%s/%s" % (LIST, d["id"])).status_code == 404


# ------------------------------------------------------------- capacity

GiB = 1 << 30
MiB = 1 << 20


def space_warnings(tr):
    return [w for w in tr["warnings"] if "free at the destination" in w]


def test_capacity_of_the_real_disk(api, peer):
    """smbd answers FileFsFullSizeInformation from statfs(2) of the
    share's directory: the total is the disk's, free moves with the rest
    of the machine, and smbd reports the caller's free space as the actual
    free space too, so used = total - free."""
    d, tr = create_ok(api, peer, body(peer))
    v = os.statvfs(peer.dir("data"))
    c = tr["capacity"]
    assert c["totalBytes"] == v.f_blocks * v.f_frsize, (c, v)
    assert abs(c["freeBytes"] - v.f_bavail * v.f_frsize) < 256 * MiB, (c, v)
    assert c["usedBytes"] == c["totalBytes"] - c["freeBytes"], c
    assert detail_of(tr, "target") == \
        "directory '/' exists on share 'data' (%d of %d MiB free)" % (
            c["freeBytes"] >> 20, c["totalBytes"] >> 20), tr
    assert "observed" not in tr, tr


@pytest.mark.parametrize("disk,want,warning", [
    ((100 << 20, 50 << 20), (100 * GiB, 50 * GiB, 50 * GiB), None),
    ((100 << 20, 5 << 20), (100 * GiB, 95 * GiB, 5 * GiB),
     "only 5.00 GiB of 100.00 GiB free at the destination (less than 10 %)"),
    ((1 << 20, 100 << 10), (GiB, GiB - 100 * MiB, 100 * MiB),
     "only 0.10 GiB free at the destination, below the server's "
     "min_free_bytes (1.00 GiB)"),
])
def test_capacity_exact_and_low_space_warning(api, peer, disk, want,
                                              warning):
    """The numbers smbd's dfree command gives, exactly; a nearly full
    share passes with a warning. (A server that cannot tell is a unit
    test, test_probe_smb.c: smbd always answers, falling back to statfs
    when the command says nothing.)"""
    peer.set_disk(*disk)
    try:
        d, tr = create_ok(api, peer, body(peer, share="small"))
    finally:
        peer.set_disk(100 << 20, 50 << 20)
    assert tr["capacity"] == {"totalBytes": want[0], "usedBytes": want[1],
                              "freeBytes": want[2]}, tr
    assert detail_of(tr, "target") == \
        "directory '/' exists on share 'small' (%d of %d MiB free)" % (
            want[2] >> 20, want[0] >> 20), tr
    assert space_warnings(tr) == ([warning] if warning else []), tr
    assert tr["warnings"] == space_warnings(tr), tr
    assert probe_files(peer.dir("small")) == []


def test_domain(api, peer):
    create_ok(api, peer, body(peer, domain=WORKGROUP, path="/sub/"))


@pytest.mark.parametrize("path", ["", "/", "sub", "\\sub", "./sub/."])
def test_path_spellings(api, peer, path):
    # "" is the contract's default (the share's root), like "/".
    create_ok(api, peer, body(peer, path=path))


def test_encryption_required_and_offered(api, peer):
    d, tr = create_ok(api, peer, body(peer, requireEncryption=True))
    assert "encrypted" in detail_of(tr, "connect"), tr


def test_encryption_required_encrypts_the_session(api, peer):
    """With requireEncryption the probe's SMB traffic after the session
    setup travels in SMB3 TRANSFORM messages (protocol id 0xFD 'SMB'): the
    probe file's name never crosses the wire in clear. Without it, against
    the server without encryption, the name is visible (the proxy can
    see a name at all)."""
    name = ".backupd-probe-".encode("utf-16-le")
    px = SlowProxy(peer.host, peer.port)
    try:
        create_ok(api, peer, body(peer, port=px.port, requireEncryption=True))
        assert b"\xfdSMB" in px.client_bytes
        assert name not in px.client_bytes
    finally:
        px.close()
    px = SlowProxy(peer.host, peer.noenc_port)
    try:
        create_ok(api, peer, body(peer, port=px.port))
        assert b"\xfdSMB" not in px.client_bytes
        assert name in px.client_bytes
    finally:
        px.close()


def test_encryption_required_but_not_offered(api, peer):
    # The server works without encryption ...
    d, tr = create_ok(api, peer, body(peer, port=peer.noenc_port))
    assert "encrypted" not in detail_of(tr, "connect")
    assert api.delete("%s/%s" % (LIST, d["id"])).status_code == 200
    # ... and is refused when encryption is required.
    p, tr = create_fails(api, peer, body(peer, port=peer.noenc_port,
                                         requireEncryption=True), "connect")
    assert detail_of(tr, "connect") == "the server does not offer SMB3 " \
        "encryption, which requireEncryption asks for", tr


# ---------------------------------------------------------- failures


def test_wrong_password_is_auth(api, peer):
    p, tr = create_fails(api, peer, body(peer, password=WRONG), "auth")
    assert [c["name"] for c in tr["checks"]] == ["connect", "auth"]
    assert "refused the user name or password" in detail_of(tr, "auth")


def test_unknown_user_is_auth(api, peer):
    create_fails(api, peer, body(peer, username="nobody-" +
                                 uuid.uuid4().hex[:8]), "auth")


def test_missing_share_is_target(api, peer):
    p, tr = create_fails(api, peer, body(peer, share="nosuchshare"),
                         "target")
    assert detail_of(tr, "target") == "share 'nosuchshare' does not exist"


def test_missing_directory_is_target(api, peer):
    p, tr = create_fails(api, peer, body(peer, path="missing/dir"), "target")
    assert detail_of(tr, "target") == \
        "directory '/missing/dir' does not exist on share 'data'", tr


def test_file_is_target(api, peer):
    p, tr = create_fails(api, peer, body(peer, path="afile"), "target")
    assert "is a file, not a directory" in detail_of(tr, "target"), tr


def test_readonly_share_is_write(api, peer):
    p, tr = create_fails(api, peer, body(peer, share="ro"), "write")
    assert "share 'ro' refused to create a file" in detail_of(tr, "write")
    assert probe_files(peer.dir("ro")) == []


@pytest.mark.parametrize("path", ["..", "../etc", "sub/../../x",
                                  "..\\..\\windows", "/a/./../.."])
def test_path_outside_share_refused(api, peer, path):
    r = api.post(LIST, json=body(peer, path=path))
    p = assert_problem(r, 422)
    assert "failedCheck" not in p, p
    assert [e["pointer"] for e in p["errors"]] == ["/config/path"], p
    assert "inside the share" in p["errors"][0]["message"]
    assert api.list() == []


@pytest.mark.parametrize("share", ["a/b", "a\\b", "x:y", "*"])
def test_bad_share_names_refused(api, peer, share):
    r = api.post(LIST, json=body(peer, share=share))
    p = assert_problem(r, 422)
    assert [e["pointer"] for e in p["errors"]] == ["/config/share"], p


def test_nothing_listening_is_connect_and_fast(api, peer):
    port = free_port(peer.host)
    t0 = time.monotonic()
    p, tr = create_fails(api, peer, body(peer, port=port), "connect")
    assert_fast_refusal(t0, tr)


def test_accepts_and_never_answers_is_bounded(api, peer):
    srv = SilentServer(peer.host)
    try:
        t0 = time.monotonic()
        p, tr = create_fails(api, peer, body(peer, port=srv.port), "connect")
        took = time.monotonic() - t0
        assert took < PROBE_TIMEOUT + 4, "took %.1fs" % took
        assert srv.conns, "the probe never connected"
        assert "did not answer in time" in detail_of(tr, "connect"), tr
    finally:
        srv.close()


class SlowProxy:
    """A TCP proxy on the peer host in front of smbd. `delay`: each answer
    of the server is held that long (a slow server that answers every
    step); `stall_on`: once the client sends these bytes, nothing more of
    the server reaches it (a server that stops answering mid-session)."""

    def __init__(self, host, port, delay=0.0, stall_on=None):
        self.target = (host, port)
        self.delay, self.stall_on = delay, stall_on
        self.stalled = threading.Event()
        self.client_bytes = bytearray()  # everything the client sent
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            u = socket.create_connection(self.target, timeout=5)
            u.settimeout(None)
            c.settimeout(None)
            self.conns += [c, u]
            threading.Thread(target=self._pump, args=(c, u, False),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, True),
                             daemon=True).start()

    def _pump(self, src, dst, from_server):
        try:
            while not self._stop.is_set():
                data = src.recv(65536)
                if not data:
                    break
                if not from_server:
                    self.client_bytes += data
                if not from_server and self.stall_on and \
                        self.stall_on in data:
                    self.stalled.set()
                if from_server:
                    if self.stalled.is_set():
                        continue
                    time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self):
        self._stop.set()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.sock.close()


def test_one_connection_for_all_steps(api, peer):
    """Every step of a passing probe runs over one TCP connection (one
    negotiation, one session)."""
    px = SlowProxy(peer.host, peer.port)
    try:
        d, tr = create_ok(api, peer, body(peer, port=px.port))
        assert len(px.conns) == 2, "%d connections" % (len(px.conns) // 2)
    finally:
        px.close()


def test_slow_server_is_bounded_by_probe_timeout(api, peer):
    """Every answer 1.2 s late: each request is within its own timeout,
    but the probe as a whole stops at probe_timeout."""
    px = SlowProxy(peer.host, peer.port, delay=1.2)
    try:
        t0 = time.monotonic()
        r = api.post(LIST, json=body(peer, port=px.port))
        took = time.monotonic() - t0
        p = assert_problem(r, 422)
        assert took < PROBE_TIMEOUT + 4, "took %.1fs" % took
        assert "did not answer in time" in p["checks"][-1]["detail"], p
        assert api.list() == []
    finally:
        px.close()


def test_server_stalling_mid_session_is_bounded(api, peer):
    """The server stops answering once the probe file is created: the
    write step fails within probe_timeout, not after the library's own
    timeouts."""
    # The server without encryption: the proxy must see the file name.
    px = SlowProxy(peer.host, peer.noenc_port,
                   stall_on=".backupd-probe-".encode("utf-16-le"))
    try:
        t0 = time.monotonic()
        r = api.post(LIST, json=body(peer, port=px.port))
        took = time.monotonic() - t0
        p = assert_problem(r, 422)
        assert px.stalled.is_set(), "the probe never created its file"
        assert p["failedCheck"] == "write", p
        assert took < PROBE_TIMEOUT + 4, "took %.1fs" % took
        assert "did not answer in time" in p["checks"][-1]["detail"], p
    finally:
        px.close()
    # The file the stalled session created is left; remove it.
    for f in probe_files(peer.dir("data")):
        os.unlink(peer.dir("data") / f)


# -------------------------------------------------------------- SSRF


SSRF_HOSTS = ["127.0.0.1", "::1", "[::1]", "::ffff:127.0.0.1", "0.0.0.0",
              "169.254.169.254", "2130706433", "0177.0.0.1", "localhost"]


@pytest.mark.parametrize("host", SSRF_HOSTS)
def test_ssrf_hosts_refused_before_connecting(api, peer, host):
    trip = Tripwire()
    try:
        t0 = time.monotonic()
        r = api.post(LIST, json=body(peer, host=host, port=trip.port))
        p = assert_problem(r, 422)
        if "failedCheck" in p:
            assert p["failedCheck"] == "connect", p
            assert "egress policy" in detail_of(p["lastTest"], "connect"), p
            assert [c["name"] for c in p["lastTest"]["checks"]] == \
                ["connect"], p
        else:
            assert any(e["pointer"] == "/config/host"
                       for e in p["errors"]), p
        assert time.monotonic() - t0 < 3
        time.sleep(0.3)
        assert trip.hits == 0, "a connection reached %s" % host
    finally:
        trip.close()


# ------------------------------------------------ private configuration


def test_zz_no_private_config_left(env, peer):
    """The private smb.conf (a backupd-smb-XXXXXX directory in the
    workers' TMPDIR while a context is made) is gone after every probe of
    this module. Another stack's probe may hold one for milliseconds:
    what stays past probe_timeout is a leak."""
    tmp = "/tmp"
    try:
        pid = int((Path(env["BACKUPD_STACK_DIR"]) / "run" /
                   "backupd.pid").read_text().strip())
        for item in Path("/proc/%d/environ" % pid).read_bytes().split(b"\0"):
            if item.startswith(b"TMPDIR=/"):
                tmp = item[len(b"TMPDIR="):].decode()
    except (OSError, ValueError):
        pass

    def dirs():
        return {n for n in os.listdir(tmp) if n.startswith("backupd-smb-")}
    left = dirs()
    end = time.monotonic() + PROBE_TIMEOUT + 2
    while left and time.monotonic() < end:
        time.sleep(0.2)
        left &= dirs()
    assert left == set(), "left behind in %s: %s" % (tmp, left)


# ------------------------------------------------------------ secrets


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


# --------------------------------------------------------- DFS referrals


def _listeners_on_loopback(ports):
    """Silent servers on 127.0.0.1 at each port that can be bound (the
    referrals below aim there)."""
    out = []
    for p in ports:
        try:
            out.append(SilentServer("127.0.0.1", p))
        except OSError:
            pass
    return out


@pytest.mark.parametrize("share,path,check", [("proxy", None, "connect"),
                                              ("dfs", "away", "target")])
def test_referral_to_another_server_refused(api, peer, share, path, check):
    """An msdfs proxy share (at tree connect) and a DFS link (when the
    directory is looked up) both send the client to 127.0.0.1: the probe
    fails that step and no connection arrives there."""
    trips = _listeners_on_loopback([peer.port, 445])
    assert trips, "no loopback listener could be bound"
    try:
        p, tr = create_fails(api, peer, body(peer, share=share, path=path),
                             check)
        assert "referred the probe to another server" in \
            detail_of(tr, check), tr
        time.sleep(0.3)
        for t in trips:
            assert t.accepted == 0, "a connection reached 127.0.0.1:%d" % \
                t.port
    finally:
        for t in trips:
            t.close()
