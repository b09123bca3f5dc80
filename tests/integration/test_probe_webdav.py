"""The WebDAV probe (issue 3) against a real server: Apache httpd from Debian
with mod_dav / mod_dav_fs (tests/peers/webdav/), started for this module on
$BACKUPD_TEST_PEER_HOST over http and https (the test CA's certificate,
trusted by the service through BACKUPD_CA_FILE).

Proven here: Basic and Digest auth, https, a wrong password -> auth, a
missing collection -> target, a read-only collection -> write, a refused
DELETE -> success with a warning, the plain-http warning, nothing listening
-> connect (fast), a server that accepts and never answers -> bounded by
probe_timeout, the SSRF spellings refused before any connection, no secret
and no Apache error page text in any response.
"""

import errno
import importlib.util
import os
import re
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import (PLACEHOLDER, REPO, SEEN_BODIES, assert_problem,
                      assert_test_result, uname)

# Loaded by path under its own name: other peers have helper modules too.
_spec = importlib.util.spec_from_file_location(
    "webdav_peer", REPO / "tests" / "peers" / "webdav" / "webdav_peer.py")
webdav_peer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(webdav_peer)
WebdavPeer, free_port = webdav_peer.WebdavPeer, webdav_peer.free_port

LIST = "/backup-destinations"
USER = "backup"
# Sentinel secrets: they must never show up in a response or a log.
PASSWORD = "davpw-%s" % uuid.uuid4().hex
WRONG = "davwrong-%s" % uuid.uuid4().hex
ALL_CHECKS = ["connect", "auth", "target", "write", "read", "delete"]
PROBE_TIMEOUT = int(os.environ.get("BACKUPD_PROBE_TIMEOUT", "6"))
HTTP_WARNING = "plain http://"
# Apache's error pages (and XML) must never leak into a detail.
APACHE_PAGE = re.compile(
    r"[<>]|DOCTYPE|html|Unauthorized|could not verify|Not Found|"
    r"Method Not Allowed|Forbidden|Bad Request|You don't have permission|"
    r"The requested|multistatus|resourcetype|Apache|Server at")


@pytest.fixture(scope="module")
def peer(env):
    host = os.environ.get("BACKUPD_TEST_PEER_HOST")
    pki = os.environ.get("BACKUPD_TEST_PKI")
    if not host or not pki:
        pytest.fail("BACKUPD_TEST_PEER_HOST / BACKUPD_TEST_PKI are not set "
                    "(scripts/integration.sh exports them)")
    root = Path(env["BACKUPD_STACK_DIR"]) / "peers" / "webdav"
    p = WebdavPeer(root, host, pki, username=USER, password=PASSWORD)
    p.start()
    try:
        yield p
    finally:
        p.stop()


def body(url, user=None, password=None, name=None):
    cfg = {"url": url}
    if user is not None:
        cfg["username"] = user
    if password is not None:
        cfg["password"] = password
    return {"name": name or uname("dav"), "destinationType": "webdav",
            "config": cfg}


def details(tr):
    return [c.get("detail", "") for c in tr["checks"]] + \
        list(tr.get("warnings", []))


def assert_clean(tr):
    """Details and warnings are our sentences: no secret, no server text."""
    for d in details(tr):
        assert PASSWORD not in d and WRONG not in d, d
        assert not APACHE_PAGE.search(d), "server text in detail: %r" % d


def probe_files(d):
    return sorted(f for f in os.listdir(d) if f.startswith(".backupd-probe-"))


def access_log(peer):
    p = peer.root / "log" / "access.log"
    return p.read_text() if p.exists() else ""


def create_ok(api, b):
    r = api.create(b)
    d = r.json()
    assert d["destinationType"] == "webdav"
    assert d["status"] == "active", d
    tr = d["lastTest"]
    assert assert_test_result(tr, ok=True) == ALL_CHECKS, tr
    assert_clean(tr)
    if "password" in b["config"]:
        assert d["config"]["password"] == PLACEHOLDER, d["config"]
    return d, tr


def create_fails(api, b, check):
    r = api.post(LIST, json=b)
    p = assert_problem(r, 422)
    assert p.get("failedCheck") == check, p
    tr = p["lastTest"]
    assert_test_result(tr, ok=False)
    assert tr["checks"][-1]["name"] == check and not tr["checks"][-1]["ok"]
    assert_clean(tr)
    assert PASSWORD not in r.text and WRONG not in r.text
    assert not APACHE_PAGE.search(p["detail"].split(":", 1)[1]), p["detail"]
    return p, tr


def detail_of(tr, check):
    return next(c.get("detail", "") for c in tr["checks"]
                if c["name"] == check)


# ------------------------------------------------------------- success


def test_basic_auth_success_http(api, peer):
    before = len(access_log(peer).splitlines())
    d, tr = create_ok(api, body(peer.url("basic"), USER, PASSWORD))
    assert "basic" in detail_of(tr, "auth"), tr
    assert "/dav/basic/" in detail_of(tr, "target"), tr
    # Plain http with a password: the warning says so.
    assert any(HTTP_WARNING in w and "password" in w
               for w in tr["warnings"]), tr
    assert probe_files(peer.dir("basic")) == [], "probe object left behind"
    # Apache saw the probe's requests, with the auth challenge answered
    # (its access log is written after the answer: wait for the lines).
    wanted = {("PROPFIND", "401"), ("PROPFIND", "207"), ("PUT", "201"),
              ("GET", "200"), ("DELETE", "204")}

    def seen():
        lines = access_log(peer).splitlines()[before:]
        return {(m, s) for m, s in re.findall(
            r'"(\w+) /dav/basic/[^ ]* HTTP/1\.1" (\d+)', "\n".join(lines))}
    assert wait(lambda: wanted <= seen()), (wanted, seen())
    assert ".backupd-probe-" in access_log(peer)

    r = api.post("%s/%s/test" % (LIST, d["id"]))
    assert r.status_code == 200, r.text
    tr2 = r.json()
    assert assert_test_result(tr2, ok=True) == ALL_CHECKS, tr2
    assert_clean(tr2)
    assert probe_files(peer.dir("basic")) == []


def test_digest_auth_success(api, peer):
    d, tr = create_ok(api, body(peer.url("digest"), USER, PASSWORD))
    assert "digest" in detail_of(tr, "auth"), tr
    assert probe_files(peer.dir("digest")) == []
    r = api.post("%s/%s/test" % (LIST, d["id"]))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("loc", ["basic", "digest"])
def test_https_with_test_ca(api, peer, loc):
    # The URL without its trailing slash: the probe adds it.
    url = peer.url(loc, tls=True).rstrip("/")
    d, tr = create_ok(api, body(url, USER, PASSWORD))
    assert "HTTPS" in detail_of(tr, "connect"), tr
    assert loc in detail_of(tr, "auth"), tr
    assert not any(HTTP_WARNING in w for w in tr["warnings"]), tr
    assert probe_files(peer.dir(loc)) == []


def test_open_collection_without_credentials(api, peer):
    d, tr = create_ok(api, body(peer.url("open")))
    assert "no credentials" in detail_of(tr, "auth"), tr
    assert any(HTTP_WARNING in w for w in tr["warnings"]), tr
    assert probe_files(peer.dir("open")) == []


def test_update_keeps_stored_password_and_retests(api, peer):
    d, _ = create_ok(api, body(peer.url("basic"), USER, PASSWORD))
    path = "%s/%s" % (LIST, d["id"])
    # "********" keeps the stored password: the re-test passes.
    b = body(peer.url("basic"), USER, PLACEHOLDER, name=d["name"])
    r = api.put(path, json=b)
    assert r.status_code == 200, r.text
    assert r.json()["lastTest"]["ok"] is True
    # A wrong password on update: 422 auth, nothing changes.
    r = api.put(path, json=body(peer.url("basic"), USER, WRONG,
                                name=d["name"]))
    p = assert_problem(r, 422)
    assert p["failedCheck"] == "auth", p
    assert WRONG not in r.text and PASSWORD not in r.text
    r = api.post(path + "/test")
    assert r.status_code == 200, r.text


# ------------------------------------------------------------- failures


@pytest.mark.parametrize("loc,tls", [("basic", False), ("digest", False),
                                     ("basic", True), ("digest", True)])
def test_wrong_password_is_auth(api, peer, loc, tls):
    p, tr = create_fails(api, body(peer.url(loc, tls=tls), USER, WRONG),
                         "auth")
    assert "username or password" in detail_of(tr, "auth"), tr


def test_unknown_user_is_auth(api, peer):
    p, tr = create_fails(api, body(peer.url("basic"), "nobody", PASSWORD),
                         "auth")


def test_no_credentials_on_protected_collection_is_auth(api, peer):
    p, tr = create_fails(api, body(peer.url("digest")), "auth")
    assert "requires a username and password" in detail_of(tr, "auth"), tr


def test_forbidden_collection_is_auth(api, peer):
    p, tr = create_fails(api, body(peer.url("forbidden")), "auth")
    assert "access to the collection is forbidden" in \
        detail_of(tr, "auth"), tr


def test_missing_collection_is_target(api, peer):
    url = peer.url("basic", path="no-such-dir/")
    p, tr = create_fails(api, body(url, USER, PASSWORD), "target")
    assert "does not exist" in detail_of(tr, "target"), tr
    assert "/dav/basic/no-such-dir/" in detail_of(tr, "target"), tr
    assert [c["name"] for c in tr["checks"]] == ["connect", "auth",
                                                 "target"], tr


def test_file_instead_of_collection_is_target(api, peer):
    f = peer.dir("open") / "a-file.txt"
    f.write_text("not a collection\n")
    try:
        create_fails(api, body(peer.url("open", path="a-file.txt")),
                     "target")
    finally:
        f.unlink()


def test_not_webdav_is_target(api, peer):
    p, tr = create_fails(api, body(peer.plain_url()), "target")
    assert "does not speak WebDAV" in detail_of(tr, "target"), tr


def test_readonly_collection_is_write(api, peer):
    p, tr = create_fails(api, body(peer.url("readonly")), "write")
    assert "forbids writing" in detail_of(tr, "write"), tr
    assert [c["name"] for c in tr["checks"]] == ["connect", "auth",
                                                 "target", "write"], tr
    assert probe_files(peer.dir("readonly")) == []


def test_refused_delete_is_a_warning(api, peer):
    d, tr = create_ok(api, body(peer.url("nodelete")))
    assert "kept" in detail_of(tr, "delete"), tr
    left = probe_files(peer.dir("nodelete"))
    assert len(left) == 1, left
    assert any(left[0] in w and "forbids deleting" in w
               for w in tr["warnings"]), tr
    for f in left:
        os.unlink(peer.dir("nodelete") / f)


def test_tls_to_plain_port_is_connect(api, peer):
    url = "https://%s:%d/dav/open/" % (peer.host, peer.http_port)
    create_fails(api, body(url), "connect")


def test_nothing_listening_is_connect_and_fast(api, peer):
    port = free_port(peer.host)
    t0 = time.monotonic()
    p, tr = create_fails(api, body("http://%s:%d/dav/" % (peer.host, port),
                                   USER, PASSWORD), "connect")
    assert time.monotonic() - t0 < 3, "took %.1fs" % (time.monotonic() - t0)
    assert "nothing accepts connections" in detail_of(tr, "connect"), tr


class SilentServer:
    """Accepts connections on host:port (0: any free port), counts them and
    never answers."""

    def __init__(self, host, port=0, family=socket.AF_INET):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, port))
            self.sock.listen(16)
        except OSError:
            self.sock.close()
            raise
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.conns = []
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop_ev.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            self.accepted += 1
            self.conns.append(c)

    def close(self):
        self.stop_ev.set()
        self.t.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_accepts_and_never_answers_is_bounded(api, peer, scheme):
    srv = SilentServer(peer.host)
    try:
        t0 = time.monotonic()
        p, tr = create_fails(api, body("%s://%s:%d/dav/" % (
            scheme, peer.host, srv.port), USER, PASSWORD), "connect")
        took = time.monotonic() - t0
        assert took < PROBE_TIMEOUT + 4, "took %.1fs" % took
        assert srv.accepted >= 1, "the probe never connected"
        assert "did not answer in time" in detail_of(tr, "connect") or \
            "timed out" in detail_of(tr, "connect"), tr
    finally:
        srv.close()


# ------------------------------------------------------------------ SSRF

SSRF_HOSTS = ["127.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0",
              "169.254.169.254", "2130706433", "0177.0.0.1", "localhost",
              "LOCALHOST", "127.1"]


@pytest.fixture(scope="module")
def loopback_listeners():
    """Listeners on 127.0.0.1 and ::1 (same port, when this host has ::1):
    a connection the probe opened to any loopback spelling lands here."""
    v4 = v6 = None
    for _ in range(20):
        v4 = SilentServer("127.0.0.1")
        try:
            v6 = SilentServer("::1", v4.port, socket.AF_INET6)
            break
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                v4.close()
                continue
            v6 = None  # no IPv6 loopback here
            break
    try:
        yield v4, v6
    finally:
        v4.close()
        if v6 is not None:
            v6.close()


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("host", SSRF_HOSTS)
def test_ssrf_refused_before_connecting(api, peer, loopback_listeners, host,
                                        scheme):
    v4, v6 = loopback_listeners
    url = "%s://%s:%d/dav/" % (scheme, host, v4.port)
    r = api.post(LIST, json=body(url, USER, PASSWORD))
    p = assert_problem(r, 422)
    if "failedCheck" in p:
        assert p["failedCheck"] == "connect", p
        assert "egress policy" in detail_of(p["lastTest"], "connect"), p
        assert [c["name"] for c in p["checks"]] == ["connect"], p
        assert_clean(p["lastTest"])
    else:
        # Refused by the config validator: also never connected. A host
        # name can only be judged once resolved, i.e. by the probe.
        assert host.lower() != "localhost", p
        assert any(e["pointer"] == "/config/url" for e in p["errors"]), p
    assert PASSWORD not in r.text
    time.sleep(0.05)
    assert v4.accepted == 0, "a connection reached 127.0.0.1"
    assert v6 is None or v6.accepted == 0, "a connection reached ::1"


def test_ssrf_listener_works(loopback_listeners):
    """The listeners do see a real connection (so 0 above means none)."""
    v4, v6 = loopback_listeners
    n4 = v4.accepted
    with socket.create_connection(("127.0.0.1", v4.port), timeout=2):
        pass
    assert wait(lambda: v4.accepted == n4 + 1)
    if v6 is not None:
        n6 = v6.accepted
        with socket.create_connection(("::1", v6.port), timeout=2):
            pass
        assert wait(lambda: v6.accepted == n6 + 1)


def wait(pred, timeout=3.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


# ------------------------------------------------------------- secrets


def test_zz_password_never_in_responses_or_logs(env, api, peer):
    d, _ = create_ok(api, body(peer.url("basic"), USER, PASSWORD))
    r = api.get("%s/%s" % (LIST, d["id"]))
    assert r.json()["config"]["password"] == PLACEHOLDER
    for b in list(SEEN_BODIES):
        assert PASSWORD.encode() not in b and WRONG.encode() not in b
    for k in ("BACKUPD_LOG", "BACKUPD_NGINX_ACCESS_LOG",
              "BACKUPD_NGINX_ERROR_LOG"):
        f = env.get(k)
        if f and os.path.exists(f):
            data = Path(f).read_bytes()
            assert PASSWORD.encode() not in data, k
            assert WRONG.encode() not in data, k
