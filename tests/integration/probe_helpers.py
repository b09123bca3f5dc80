"""Helpers shared by the probe tests (test_probe_*.py, test_oauth.py): loading
a peer by path, the peer host from the environment, peers and stubs that run
for a module, silent servers and loopback tripwires for the "never answers"
and SSRF cases, and the plumbing of the secret scans. What a test asserts
stays in the test; these only set up and look.

The conftest fixture `loopback_listeners` is built on Tripwire.
"""

import contextlib
import errno
import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CHECK_NAMES, assert_problem, assert_test_result, uname

REPO = Path(__file__).resolve().parents[2]
PEERS = REPO / "tests" / "peers"

# The probe timeout scripts/integration.sh gives the stack.
PROBE_TIMEOUT = int(os.environ.get("BACKUPD_PROBE_TIMEOUT", "6"))
# Loopback and metadata spellings for the URL-configured types: every one
# must be refused before a connection is made.
URL_SSRF_HOSTS = ["127.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0",
                  "169.254.169.254", "2130706433", "0177.0.0.1", "localhost",
                  "LOCALHOST", "127.1"]
# The service's logs the secret scans read (keys of `scripts/stack.sh env`).
LOG_KEYS = ("BACKUPD_LOG", "BACKUPD_NGINX_ACCESS_LOG",
            "BACKUPD_NGINX_ERROR_LOG")


def load_by_path(name, path):
    """The module at path under `name`, registered in sys.modules: peers
    live in plain directories and share file names (*_peer.py helpers), and
    one pytest run shares sys.modules, so each gets a name of its own."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


peerlib = load_by_path("backupd_peerlib", PEERS / "peerlib.py")
free_port = peerlib.free_port
# Accepts connections (counted in .accepted, kept in .conns) and never
# answers.
SilentServer = peerlib.TcpServer


def peer_host(pki=True):
    """BACKUPD_TEST_PEER_HOST (and BACKUPD_TEST_PKI: returns (host, pki)),
    or the module fails: scripts/integration.sh exports them."""
    host = os.environ.get("BACKUPD_TEST_PEER_HOST")
    if not pki:
        if not host:
            pytest.fail("BACKUPD_TEST_PEER_HOST is not set "
                        "(scripts/integration.sh exports it)")
        return host
    tls = os.environ.get("BACKUPD_TEST_PKI")
    if not host or not tls:
        pytest.fail("BACKUPD_TEST_PEER_HOST / BACKUPD_TEST_PKI are not set "
                    "(scripts/integration.sh exports them)")
    return host, tls


def running(peer):
    """For a fixture: `yield from running(p)` starts p, yields it and stops
    it afterwards whatever happened."""
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


@contextlib.contextmanager
def stub_process(argv, state, ready, what):
    """Run a stub (argv) with its output in state/stub.log until the with
    block ends; the block starts once the file `ready` exists. Fails the
    test, quoting the log, when the stub exits or is not ready in 15 s."""
    log = open(state / "stub.log", "wb")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=log, start_new_session=True)
    try:
        end = time.monotonic() + 15
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > end:
                pytest.fail("%s did not start: %s"
                            % (what, (state / "stub.log").read_text()[-2000:]))
            time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


class Tripwire:
    """Silent servers on 127.0.0.1 and, when this host has it, ::1, on one
    port (.port): a connection the probe opened to any loopback spelling
    lands on .v4 or .v6 and counts in .hits."""

    def __init__(self):
        self.v4 = self.v6 = None
        for _ in range(20):
            self.v4 = SilentServer("127.0.0.1")
            try:
                self.v6 = SilentServer("::1", self.v4.port, socket.AF_INET6)
                break
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    self.v4.close()
                    continue
                self.v6 = None  # no IPv6 loopback here
                break
        self.port = self.v4.port

    @property
    def hits(self):
        return self.v4.accepted + (self.v6.accepted if self.v6 else 0)

    def close(self):
        self.v4.close()
        if self.v6 is not None:
            self.v6.close()


def wait(pred, timeout=3.0):
    """pred() became true within timeout seconds (polled every 20 ms)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def assert_listeners_count(v4, v6):
    """The loopback listeners do see a real connection, so a count of 0 in
    the SSRF cases means none was made."""
    n4 = v4.accepted
    with socket.create_connection(("127.0.0.1", v4.port), timeout=2):
        pass
    assert wait(lambda: v4.accepted == n4 + 1)
    if v6 is not None:
        n6 = v6.accepted
        with socket.create_connection(("::1", v6.port), timeout=2):
            pass
        assert wait(lambda: v6.accepted == n6 + 1)


def assert_bounded(t0, srv, tr):
    """A probe started at t0 against srv, which accepts and never answers:
    it connected, failed connect, and gave up within probe_timeout."""
    took = time.monotonic() - t0
    assert took < PROBE_TIMEOUT + 4, "took %.1fs" % took
    assert srv.accepted >= 1, "the probe never connected"
    assert "did not answer in time" in detail_of(tr, "connect") or \
        "timed out" in detail_of(tr, "connect"), tr


def assert_fast_refusal(t0, tr):
    """A probe started at t0 against a port nothing listens on failed
    connect at once, saying so."""
    assert time.monotonic() - t0 < 3, "took %.1fs" % (time.monotonic() - t0)
    assert "nothing accepts connections" in detail_of(tr, "connect"), tr


def assert_no_loopback_hit(v4, v6):
    """Nothing reached the loopback listeners (after a moment for a
    connection in flight to land)."""
    time.sleep(0.05)
    assert v4.accepted == 0, "a connection reached 127.0.0.1"
    assert v6 is None or v6.accepted == 0, "a connection reached ::1"


def dest_body(dtype, prefix, name, /, **config):
    """A destination of type dtype, named `name` or else a fresh
    "<prefix>-..." name, with the config members that are not None
    (positional-only: a config member may be called "prefix" or "name")."""
    return {"name": name or uname(prefix), "destinationType": dtype,
            "config": {k: v for k, v in config.items() if v is not None}}


def created(api, b, checks=CHECK_NAMES, secrets=()):
    """Create b: 201, active, exactly `checks` ran and passed, none of
    `secrets` in the response. Returns (response, destination, lastTest);
    the caller looks at the details."""
    r = api.create(b)
    d = r.json()
    assert d["destinationType"] == b["destinationType"]
    assert d["status"] == "active", d
    tr = d["lastTest"]
    assert assert_test_result(tr, ok=True) == checks, tr
    for s in secrets:
        assert s not in r.text
    return r, d, tr


def refused(api, b, check, secrets=(), server_text=None):
    """POST b: 422 with failedCheck `check`, the last check run and failed;
    none of `secrets` in the response and no match of the server_text
    regex (when given) in the problem's detail. Returns (response, problem,
    lastTest); the caller looks at the details."""
    r = api.post("/backup-destinations", json=b)
    p = assert_problem(r, 422)
    assert p.get("failedCheck") == check, p
    tr = p["lastTest"]
    assert_test_result(tr, ok=False)
    assert tr["checks"][-1]["name"] == check and not tr["checks"][-1]["ok"]
    for s in secrets:
        assert s not in r.text
    if server_text is not None:
        assert not server_text.search(p["detail"].split(":", 1)[1]), \
            p["detail"]
    return r, p, tr


def assert_sentences(tr, secrets, server_text):
    """Details and warnings are our sentences: none of `secrets` in them,
    no match of the server_text regex."""
    for d in details(tr):
        for s in secrets:
            assert s not in d, d
        assert not server_text.search(d), "server text in detail: %r" % d


def details(tr):
    """Every check detail and warning of a TestResult."""
    return [c.get("detail", "") for c in tr.get("checks", [])] + \
        list(tr.get("warnings", []))


def detail_of(tr, check):
    return next(c.get("detail", "") for c in tr["checks"]
                if c["name"] == check)


def probe_files(d):
    """The probe objects left in directory d."""
    return sorted(f for f in os.listdir(d) if f.startswith(".backupd-probe-"))


def service_logs(env):
    """(key, contents) of each of the service's logs that exists."""
    out = []
    for k in LOG_KEYS:
        f = env.get(k)
        if f and os.path.exists(f):
            out.append((k, Path(f).read_bytes()))
    return out


class ScriptedHttp:
    """A plain HTTP/1.1 server on host (any free port) whose answers a test
    writes: answer(method, path) returns (delay_seconds, status, headers,
    body), or None to read the request and never answer. Every request is
    recorded in .requests as (method, path, monotonic time)."""

    def __init__(self, host, answer):
        import http.server
        import threading
        srv = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_one_request(self):
                self.raw_requestline = self.rfile.readline(65537)
                if not self.raw_requestline or not self.parse_request():
                    self.close_connection = True
                    return
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                srv.requests.append((self.command, self.path,
                                     time.monotonic()))
                a = answer(self.command, self.path)
                if a is None:
                    srv._stop.wait(60)
                    self.close_connection = True
                    return
                delay, status, headers, body = a
                if delay:
                    srv._stop.wait(delay)
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                body = body or b""
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

        self._stop = threading.Event()
        self.requests = []
        self.httpd = http.server.ThreadingHTTPServer((host, 0), H)
        self.httpd.daemon_threads = True
        self.host, self.port = self.httpd.server_address[:2]
        self._t = threading.Thread(target=self.httpd.serve_forever,
                                   daemon=True)
        self._t.start()

    def url(self, path="/"):
        return "http://%s:%d%s" % (self.host, self.port, path)

    def close(self):
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def redirect_to(target_url):
    """An answer for ScriptedHttp: 301 to target_url for every request."""
    return lambda method, path: (0, 301, {"Location": target_url + path},
                                 b"moved")


def assert_placeholder_refused(api, d, new_body, pointers, listener=None):
    """PUT new_body (secrets as "********", location changed) to the stored
    destination d: 422 with errors at exactly `pointers`, the stored
    config unchanged, and the listener on the new address (a SilentServer
    or ScriptedHttp, when given) saw nothing."""
    from conftest import PLACEHOLDER, error_pointers
    path = "/backup-destinations/%s" % d["id"]
    before = api.get(path).json()
    assert PLACEHOLDER in new_body["config"].values(), new_body
    r = api.put(path, json=new_body)
    p = assert_problem(r, 422)
    assert sorted(error_pointers(p)) == sorted(pointers), p
    assert "lastTest" not in p, "a probe ran: %r" % p
    time.sleep(0.1)
    if listener is not None:
        seen = getattr(listener, "requests", None)
        if seen is None:
            seen = listener.accepted
        assert not seen, "the new address was contacted: %r" % (seen,)
    after = api.get(path).json()
    assert after["config"] == before["config"], (before, after)
    assert after["updatedAt"] == before["updatedAt"], (before, after)
    return p
