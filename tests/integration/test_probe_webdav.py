"""The WebDAV probe (issue 3) against a real server: Apache httpd from Debian
with mod_dav / mod_dav_fs (tests/peers/webdav/), started for this module on
$BACKUPD_TEST_PEER_HOST over http and https (the test CA's certificate,
trusted by the service through BACKUPD_CA_FILE).

Proven here: Basic and Digest auth, https, a wrong password -> auth, a
missing collection -> target, a read-only collection -> write, a refused
DELETE -> success with a warning, the plain-http warning, nothing listening
-> connect (fast), a server that accepts and never answers -> bounded by
probe_timeout, the SSRF spellings refused before any connection, no secret
and no Apache error page text in any response; observed.serverSoftware is
Apache's Server header (on success and on a refused login), and a hostile
Server header leaves only its cleaned, capped text.
"""

import os
import re
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import (PLACEHOLDER, SEEN_BODIES, assert_problem,
                      assert_test_result, register_secrets)
from probe_helpers import (PEERS, PROBE_TIMEOUT, ScriptedHttp,
                           SilentServer, assert_bounded,
                           assert_fast_refusal, assert_listeners_count,
                           assert_no_loopback_hit, assert_sentences, created,
                           dest_body, detail_of, free_port, load_by_path,
                           peer_host, probe_files, redirect_to, refused,
                           running, service_logs, wait)
from probe_helpers import URL_SSRF_HOSTS as SSRF_HOSTS

# Loaded by path under its own name: other peers have helper modules too.
WebdavPeer = load_by_path("backupd_webdav_peer", PEERS / "webdav" /
                          "webdav_peer.py").WebdavPeer

LIST = "/backup-destinations"
USER = "backup"
# Sentinel secrets: they must never show up in a response or a log.
PASSWORD = "davpw-%s" % uuid.uuid4().hex
WRONG = "davwrong-%s" % uuid.uuid4().hex
register_secrets("webdav", PASSWORD, WRONG)
ALL_CHECKS = ["connect", "auth", "target", "write", "read", "delete"]
HTTP_WARNING = "plain http://"
# Apache's error pages (and XML) must never leak into a detail.
APACHE_PAGE = re.compile(
    r"[<>]|DOCTYPE|html|Unauthorized|could not verify|Not Found|"
    r"Method Not Allowed|Forbidden|Bad Request|You don't have permission|"
    r"The requested|multistatus|resourcetype|Apache|Server at")


@pytest.fixture(scope="module")
def peer(env):
    host, pki = peer_host()
    root = Path(env["BACKUPD_STACK_DIR"]) / "peers" / "webdav"
    yield from running(WebdavPeer(root, host, pki, username=USER,
                                  password=PASSWORD))


def body(url, user=None, password=None, name=None):
    return dest_body("webdav", "dav", name, url=url, username=user,
                     password=password)


def assert_clean(tr):
    assert_sentences(tr, (PASSWORD, WRONG), APACHE_PAGE)


def access_log(peer):
    p = peer.root / "log" / "access.log"
    return p.read_text() if p.exists() else ""


def create_ok(api, b):
    r, d, tr = created(api, b)
    assert_clean(tr)
    if "password" in b["config"]:
        assert d["config"]["password"] == PLACEHOLDER, d["config"]
    return d, tr


def create_fails(api, b, check):
    r, p, tr = refused(api, b, check, (PASSWORD, WRONG), APACHE_PAGE)
    assert_clean(tr)
    return p, tr


# ------------------------------------------------------------ observed


def apache_server_header(peer):
    """The Server header Apache sends, read here over a socket."""
    with socket.create_connection((peer.host, peer.http_port), timeout=3) as s:
        s.sendall(b"HEAD /dav/ HTTP/1.0\r\n\r\n")
        s.settimeout(3)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    for line in data.split(b"\r\n"):
        if line.lower().startswith(b"server:"):
            return line[7:].strip().decode("ascii")
    raise AssertionError("no Server header: %r" % data)


def test_server_header_is_observed(api, peer):
    want = {"serverSoftware": apache_server_header(peer)}
    assert want["serverSoftware"].startswith("Apache"), want
    d, tr = create_ok(api, body(peer.url("basic"), USER, PASSWORD))
    assert tr["observed"] == want, tr
    r = api.post("%s/%s/test" % (LIST, d["id"]))
    assert r.status_code == 200 and r.json()["observed"] == want, r.text
    # A refused login still got an answer with the header.
    p, tr = create_fails(api, body(peer.url("basic"), USER, WRONG), "auth")
    assert tr["observed"] == want, tr
    p, tr = create_fails(api, body("http://%s:%d/dav/" % (
        peer.host, free_port(peer.host))), "connect")
    assert "observed" not in tr, tr


class HostileServerHeader:
    """Answers PROPFIND as a collection with a Server header full of
    control characters, JSON and 300 bytes; refuses everything else."""

    SERVER = b"\x1bEvil\x7f\x01DAV\t\"},{\xff\xfe" + b"z" * 300

    def __init__(self, host):
        self.sock = socket.create_server((host, 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                c.settimeout(5)
                try:
                    self.one(c)
                except OSError:
                    pass

    def one(self, c):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = c.recv(4096)
            if not chunk:
                return
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        need = int(m.group(1)) if m else 0
        while len(rest) < need:
            chunk = c.recv(4096)
            if not chunk:
                return
            rest += chunk
        if head.startswith(b"PROPFIND "):
            status, payload = b"207 Multi-Status", MULTISTATUS
        else:
            status, payload = b"403 Forbidden", b""
        c.sendall(b"HTTP/1.1 " + status + b"\r\nServer: " + self.SERVER +
                  b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                  % len(payload) + payload)

    def url(self):
        return "http://%s:%d/dav/" % (self.sock.getsockname()[0], self.port)

    def close(self):
        self.sock.close()
        self.thread.join(5)


def test_hostile_server_header_is_cleaned(api, peer):
    srv = HostileServerHeader(peer.host)
    try:
        p, tr = create_fails(api, body(srv.url()), "write")
    finally:
        srv.close()
    head = 'Evil DAV "},{ '
    assert tr["observed"] == {"serverSoftware": head + "z" * (100 - len(head))
                              }, tr


# ------------------------------------------------------------- success


def test_basic_auth_success_http(api, peer):
    before = len(access_log(peer).splitlines())
    d, tr = create_ok(api, body(peer.url("basic"), USER, PASSWORD))
    assert "basic" in detail_of(tr, "auth"), tr
    assert "/dav/basic/" in detail_of(tr, "target"), tr
    # Debian's Apache 2.4 mod_dav_fs answers the RFC 4331 quota properties
    # 404: no capacity (issue 9), and no warning about it.
    assert tr["capacity"] is None, tr
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
    assert_fast_refusal(t0, tr)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_accepts_and_never_answers_is_bounded(api, peer, scheme):
    srv = SilentServer(peer.host)
    try:
        t0 = time.monotonic()
        p, tr = create_fails(api, body("%s://%s:%d/dav/" % (
            scheme, peer.host, srv.port), USER, PASSWORD), "connect")
        assert_bounded(t0, srv, tr)
    finally:
        srv.close()


# ------------------------------------------------------------------ SSRF

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
    assert_no_loopback_hit(v4, v6)


def test_ssrf_listener_works(loopback_listeners):
    """The listeners do see a real connection (so 0 above means none)."""
    assert_listeners_count(*loopback_listeners)


# ------------------------------------------------------------- secrets


def test_zz_password_never_in_responses_or_logs(env, api, peer):
    d, _ = create_ok(api, body(peer.url("basic"), USER, PASSWORD))
    r = api.get("%s/%s" % (LIST, d["id"]))
    assert r.json()["config"]["password"] == PLACEHOLDER
    for b in list(SEEN_BODIES):
        assert PASSWORD.encode() not in b and WRONG.encode() not in b
    for k, data in service_logs(env):
        assert PASSWORD.encode() not in data, k
        assert WRONG.encode() not in data, k


def test_placeholder_does_not_follow_a_new_url(api, peer):
    """An admin who points a destination at a server of their own and sends
    the password back as "********" does not get the stored password: the
    placeholder keeps a secret only for the URL it was stored with (422 at
    /config/url), and the new server sees no request at all."""
    import http.server
    import threading

    seen = []

    class Catch(http.server.BaseHTTPRequestHandler):
        def do_PROPFIND(self):
            seen.append(dict(self.headers))
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="x"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer((peer.host, 0), Catch)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        d, _ = create_ok(api, body(peer.url("basic"), USER, PASSWORD))
        evil = "http://%s:%d/dav/" % (peer.host, srv.server_address[1])
        r = api.put("%s/%s" % (LIST, d["id"]),
                    json=body(evil, USER, PLACEHOLDER, name=d["name"]))
        p = assert_problem(r, 422)
        assert [e["pointer"] for e in p["errors"]] == ["/config/url"], p
        assert seen == [], seen
        assert PASSWORD not in r.text
        # Nothing changed: the destination still points at the real server.
        g = api.get("%s/%s" % (LIST, d["id"])).json()
        assert g["config"]["url"].startswith(peer.url("basic")[:20]), g
        # Sending the password itself for the new URL is the owner's call.
        r = api.put("%s/%s" % (LIST, d["id"]),
                    json=body(evil, USER, "typed-again", name=d["name"]))
        assert r.status_code == 422 and seen, (r.status_code, seen)
    finally:
        srv.shutdown()
        srv.server_close()


# ------------------------------------------------ one deadline, redirects

MULTISTATUS = (b'<?xml version="1.0" encoding="utf-8"?>\n'
               b'<D:multistatus xmlns:D="DAV:"><D:response><D:href>/dav/'
               b'</D:href><D:propstat><D:prop><D:resourcetype>'
               b'<D:collection/></D:resourcetype></D:prop>'
               b'<D:status>HTTP/1.1 200 OK</D:status></D:propstat>'
               b'</D:response></D:multistatus>\n')


def test_one_deadline_for_the_whole_probe(api, peer):
    """probe_timeout bounds the whole probe, not each transfer: a server
    that answers PROPFIND at once, takes most of the time on PUT, then
    never answers GET. The GET gets only what is left: the test ends within
    probe_timeout (plus a margin), where one timeout per transfer would
    take PUT's delay plus a whole probe_timeout more."""
    put_delay = PROBE_TIMEOUT - 2.0

    def answer(method, path):
        if method == "PROPFIND":
            return 0, 207, {"Content-Type": "application/xml"}, MULTISTATUS
        if method == "PUT":
            return put_delay, 201, {}, b""
        if method == "GET":
            return None  # never answers
        return 0, 204, {}, b""

    srv = ScriptedHttp(peer.host, answer)
    try:
        t0 = time.monotonic()
        p, tr = create_fails(api, body(srv.url("/dav/")), "read")
        took = time.monotonic() - t0
        methods = [m for m, _, _ in srv.requests]
        assert methods[:3] == ["PROPFIND", "PUT", "GET"], methods
        assert took < PROBE_TIMEOUT + 1.5, \
            "the probe took %.1fs; probe_timeout is %ds" % (took,
                                                          PROBE_TIMEOUT)
        # The GET itself was cut to what was left, not given a timeout of
        # its own.
        t_get = srv.requests[2][2]
        assert time.monotonic() - t_get < 2.0 + 1.5, srv.requests
        assert detail_of(tr, "read") == (
            "the server accepted the connection but did not answer in time "
            "while reading the probe object back"), tr
    finally:
        srv.close()


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_is_not_followed(api, peer, status):
    """A collection that answers with a redirect fails the target check and
    says so; the redirect's target sees nothing."""
    target = ScriptedHttp(peer.host, lambda m, p: (0, 207, {}, MULTISTATUS))
    srv = ScriptedHttp(peer.host, lambda m, p: (
        0, status, {"Location": target.url(p)}, b"moved"))
    try:
        p, tr = create_fails(api, body(srv.url("/dav/"), USER, PASSWORD),
                             "target")
        assert "redirect" in detail_of(tr, "target"), tr
        assert [m for m, _, _ in srv.requests] == ["PROPFIND"], srv.requests
        time.sleep(0.1)
        assert target.requests == [], target.requests
    finally:
        srv.close()
        target.close()
