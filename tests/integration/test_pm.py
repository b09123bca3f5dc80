"""The process manager (DESIGN.md "Process manager", issue 8): pm static /
dynamic / ondemand sizing, admission control (429 per org and per host, in
pool, spawned and CGI modes, slots released when a probing worker dies),
the ping and status pages (JSON and OpenMetrics), the signals (USR1 reopens
the log, USR2/HUP reload under load), the slow log, and the listening
socket's client list, owner, group and mode (issue 13 item 9).

Like test_pool_modes.py, every test that needs signals or its own limits
starts its OWN backupd (start_pool) on a socket under /tmp and talks
FastCGI to it; slow probes go to a peer on 127.0.0.2 that accepts TCP
connections and never answers (the egress policy of the test stack allows
127.0.0.2 only).
"""

import grp
import json
import os
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import (Api, local_body, make_token, new_org, org_of, sql,
                      sql_quote,
                      uname, wait_for)
from fcgi_client import FcgiError, fcgi_call, parse_cgi_response, \
    proc_alive
from test_pool_modes import (BACKUPD, LIST, copy_config, service_env,  # noqa
                             start_pool, workdir)

PING = "/backup-destinations-ping"
STATUS = "/backup-destinations-status"
PEER_HOST = "127.0.0.2"


class SilentPeer:
    """A TCP server on 127.0.0.2 that accepts and never answers."""

    def __init__(self):
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((PEER_HOST, 0))
        self.ls.listen(256)
        self.port = self.ls.getsockname()[1]
        self.conns = []
        self.stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        self.ls.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.ls.accept()
                self.conns.append(c)
            except socket.timeout:
                continue
            except OSError:
                return

    @property
    def url(self):
        return "http://%s:%d/dav/" % (PEER_HOST, self.port)

    def close(self):
        self.stop = True
        self.t.join(2)
        for c in self.conns:
            c.close()
        self.ls.close()


@pytest.fixture
def silent():
    p = SilentPeer()
    yield p
    p.close()


def webdav_body(url, name=None):
    return {"name": name or uname("slow"), "destinationType": "webdav",
            "config": {"url": url}}


# Every pool of this file: short probes, generous request_timeout, the
# per-org limit of the default (the test stack lifts it for its own
# concurrency tests).
BASE = dict(probe_timeout=4, probe_connect_timeout=2, request_timeout=30,
            probe_slots_per_org=2, request_slowlog_timeout=0)


def pool(start_pool, **kw):
    o = dict(BASE)
    o.update(kw)
    return start_pool(**o)


def status(p):
    r = p.call("GET", STATUS)
    assert r.status == 200, r
    return r.json()


def total(p):
    return status(p)["totalProcesses"]


def bg(fn, n):
    """Run fn(i) for i < n in threads; returns the executor's futures."""
    ex = ThreadPoolExecutor(max_workers=n)
    futs = [ex.submit(fn, i) for i in range(n)]
    ex.shutdown(wait=False)
    return futs


def count_rows(env, org):
    return int(sql(env, "SELECT COUNT(*) FROM backup_destinations WHERE "
                   "org_id = %s" % sql_quote(org))[0][0])


def audit_rows(env, org, outcome):
    return int(sql(env, "SELECT COUNT(*) FROM audit_log WHERE org_id = %s "
                   "AND outcome = %s" % (sql_quote(org),
                                         sql_quote(outcome)))[0][0])


# ---------------------------------------------------------------- sizing

def test_static_keeps_exactly_max_children(start_pool, env, silent):
    p = pool(start_pool, pm="static", pm_max_children=3,
             pm_reserved_for_reads=1, wait=False)
    assert wait_for(lambda: len(p.workers()) == 3, timeout=10), p.log_tail()
    s = status(p)
    assert s["processManager"] == "static"
    assert s["maxChildren"] == 3
    # busy workers do not make a static pool grow
    tok = make_token(env, org=new_org())
    futs = bg(lambda i: p.call("POST", LIST, tok,
                               json=webdav_body(silent.url), timeout=20), 2)
    assert wait_for(lambda: status(p)["probingProcesses"] == 2, timeout=5)
    assert len(p.workers()) == 3
    for f in futs:
        assert f.result(20).status == 422


def test_dynamic_grows_while_probes_run_and_shrinks_after(start_pool, env,
                                                          silent):
    p = pool(start_pool, pm="dynamic", pm_max_children=8,
             pm_start_servers=2, pm_min_spare=2, pm_max_spare=3,
             pm_reserved_for_reads=2, probe_slots_per_org=6, wait=False)
    assert wait_for(lambda: len(p.workers()) == 2, timeout=10), p.log_tail()
    time.sleep(0.5)
    assert len(p.workers()) == 2
    tok = make_token(env, org=new_org())
    futs = bg(lambda i: p.call("POST", LIST, tok,
                               json=webdav_body(silent.url), timeout=20), 4)
    # probing workers count as busy: the pool keeps 2 spare beside them
    assert wait_for(lambda: status(p)["probingProcesses"] == 4, timeout=5), \
        status(p)
    assert wait_for(lambda: len(p.workers()) >= 6, timeout=5), \
        (p.workers(), status(p))
    # (the status request itself keeps one of the spares busy)
    s = status(p)
    assert s["idleProcesses"] + s["activeProcesses"] - \
        s["probingProcesses"] >= 2, s
    # reads are served at once beside the probes
    t0 = time.monotonic()
    assert p.get_list(tok).status == 200
    assert time.monotonic() - t0 < 1.0
    for f in futs:
        assert f.result(20).status == 422
    # then idle workers beyond pm_max_spare leave, one a second
    assert wait_for(lambda: len(p.workers()) == 3, timeout=10), \
        (p.workers(), status(p))
    time.sleep(1.5)
    assert len(p.workers()) == 3


def test_dynamic_counts_max_children_reached(start_pool, env, silent):
    # three probes fill all three children: the spare dynamic wants
    # cannot be had
    p = pool(start_pool, pm="dynamic", pm_max_children=3,
             pm_start_servers=1, pm_min_spare=1, pm_max_spare=2,
             pm_reserved_for_reads=0, probe_slots_per_org=3, wait=False)
    tok = make_token(env, org=new_org())
    assert wait_for(lambda: len(p.workers()) == 1, timeout=10)
    futs = bg(lambda i: p.call("POST", LIST, tok,
                               json=webdav_body(silent.url), timeout=20), 3)
    assert wait_for(lambda: status(p)["maxChildrenReached"] >= 1,
                    timeout=6), status(p)
    assert len(p.workers()) == 3
    for f in futs:
        f.result(20)
    assert any("pm_max_children (3) reached" in m for m in p.messages())


def test_ondemand_forks_on_connection_and_retires_idle(start_pool, env):
    p = pool(start_pool, pm="ondemand", pm_max_children=4,
             pm_process_idle_timeout=1, wait=False)
    assert wait_for(lambda: os.path.exists(p.sock), timeout=10)
    time.sleep(0.5)
    assert p.workers() == [], "ondemand starts no worker"
    tok = make_token(env, org=new_org())
    t0 = time.monotonic()
    r = p.get_list(tok)
    assert r.status == 200, r
    assert time.monotonic() - t0 < 3.0
    assert len(p.workers()) == 1
    # four at once: more workers, never more than pm_max_children
    with ThreadPoolExecutor(8) as ex:
        codes = list(ex.map(lambda i: p.get_list(tok).status, range(16)))
    assert codes == [200] * 16
    assert 1 <= len(p.workers()) <= 4
    # idle for pm_process_idle_timeout: retired
    assert wait_for(lambda: p.workers() == [], timeout=6), p.workers()
    assert p.get_list(tok).status == 200


# ------------------------------------------------------------- admission

def _slow_create(p, tok, silent, timeout=20):
    try:
        return p.call("POST", LIST, tok, json=webdav_body(silent.url),
                      timeout=timeout)
    except (FcgiError, OSError) as e:
        return e


def test_per_org_limit_answers_429_and_changes_nothing(start_pool, env,
                                                       silent):
    p = pool(start_pool, pm="dynamic", pm_max_children=8,
             pm_reserved_for_reads=2, probe_slots_per_org=2)
    org = new_org()
    tok = make_token(env, org=org)
    before = count_rows(env, org)
    denied_before = audit_rows(env, org, "denied")
    futs = bg(lambda i: _slow_create(p, tok, silent), 2)
    assert wait_for(lambda: status(p)["probingProcesses"] == 2, timeout=5)
    t0 = time.monotonic()
    r = p.call("POST", LIST, tok, json=local_body(env, org=org_of(tok)))
    took = time.monotonic() - t0
    assert r.status == 429, r
    assert took < 1.0, took
    assert r.headers["content-type"].startswith("application/problem+json")
    pb = r.json()
    assert pb["status"] == 429
    assert isinstance(pb["retryAfter"], int) and 1 <= pb["retryAfter"] <= 4
    assert r.headers["retry-after"] == str(pb["retryAfter"])
    assert pb["limit"] == "organization"
    # nothing stored; an audit row says it was refused
    assert count_rows(env, org) == before
    assert wait_for(lambda: audit_rows(env, org, "denied") ==
                    denied_before + 1, timeout=3)
    # another org is not affected
    other = make_token(env, org=new_org())
    assert p.call("POST", LIST, other, json=local_body(env, org=org_of(other))).status == 201
    s = status(p)
    assert s["tooManyRequests"]["organization"] >= 1
    assert s["probesInFlight"].get("webdav") == 2
    for f in futs:
        assert f.result(20).status == 422
    # slots came back
    assert p.call("POST", LIST, tok, json=local_body(env, org=org_of(tok))).status == 201


def test_per_host_limit_answers_429(start_pool, env, silent):
    p = pool(start_pool, pm="static", pm_max_children=5,
             pm_reserved_for_reads=3, probe_slots_per_org=2)
    assert status(p)["probeSlots"] == 2
    a, b, c = new_org(), new_org(), new_org()
    futs = bg(lambda i: _slow_create(p, make_token(env, org=(a, b)[i]),
                                     silent), 2)
    assert wait_for(lambda: status(p)["probingProcesses"] == 2, timeout=5)
    tok = make_token(env, org=c)
    before = count_rows(env, c)
    r = p.call("POST", LIST, tok, json=local_body(env, org=org_of(tok)))
    assert r.status == 429, r
    assert r.json()["limit"] == "server"
    assert int(r.headers["retry-after"]) >= 1
    assert count_rows(env, c) == before
    # reads still answer: the reserved workers are never given to probes
    for _ in range(5):
        assert p.get_list(tok).status == 200
    for f in futs:
        f.result(20)


def test_test_route_and_update_take_slots(start_pool, env, silent):
    """POST /{id}/test and PUT take a slot; a 400/422 costs none."""
    p = pool(start_pool, pm="static", pm_max_children=6,
             pm_reserved_for_reads=2, probe_slots_per_org=1)
    org = new_org()
    tok = make_token(env, org=org)
    d = p.call("POST", LIST, tok, json=local_body(env, org=org_of(tok))).json()
    fut = bg(lambda i: _slow_create(p, tok, silent), 1)[0]
    assert wait_for(lambda: status(p)["probingProcesses"] == 1, timeout=5)
    r = p.call("POST", "%s/%s/test" % (LIST, d["id"]), tok)
    assert r.status == 429, r
    r = p.call("PUT", "%s/%s" % (LIST, d["id"]), tok,
               json={"name": d["name"], "destinationType": "local",
                     "config": d["config"]})
    assert r.status == 429, r
    # invalid input is answered as before, without a slot
    r = p.call("POST", LIST, tok, json={"name": "x"})
    assert r.status == 422, r
    r = p.call("POST", LIST, tok, body=b"{", content_type="application/json")
    assert r.status == 400, r
    assert fut.result(20).status == 422
    assert p.call("POST", "%s/%s/test" % (LIST, d["id"]), tok).status == 200


def test_kill_9_of_a_probing_worker_frees_its_slot(start_pool, env, silent):
    p = pool(start_pool, pm="static", pm_max_children=4,
             pm_reserved_for_reads=1, probe_slots_per_org=1)
    org = new_org()
    tok = make_token(env, org=org)
    fut = bg(lambda i: _slow_create(p, tok, silent), 1)[0]
    assert wait_for(lambda: status(p)["probingProcesses"] == 1, timeout=5)
    prober = [w for w in status(p)["workers"] if w["state"] == "probing"]
    assert len(prober) == 1 and prober[0]["org"] == org, prober
    assert p.call("POST", LIST, tok, json=local_body(env, org=org_of(tok))).status == 429
    os.kill(prober[0]["pid"], signal.SIGKILL)
    assert isinstance(fut.result(10), Exception)
    assert wait_for(lambda: status(p)["probingProcesses"] == 0, timeout=3)
    r = p.call("POST", LIST, tok, json=local_body(env, org=org_of(tok)))
    assert r.status == 201, r
    assert any("slot reclaimed" in m for m in p.messages()), p.log_tail()


def test_request_timeout_frees_the_slot(start_pool, env, silent):
    p = pool(start_pool, pm="static", pm_max_children=3,
             pm_reserved_for_reads=1, probe_slots_per_org=1,
             request_timeout=2, probe_timeout=10)
    org = new_org()
    tok = make_token(env, org=org)
    # Issue 13: a request's outbound work shares one deadline inside
    # request_timeout (here half of it, 1 s), so the probe gives up by
    # itself before the worker would be killed: 422, connect, well within
    # request_timeout, and the slot is free. (A worker killed mid-probe
    # frees its slot too: test_kill_9_of_a_probing_worker_frees_its_slot.)
    t0 = time.monotonic()
    r = _slow_create(p, tok, silent)
    took = time.monotonic() - t0
    assert not isinstance(r, Exception) and r.status == 422, r
    assert r.json()["failedCheck"] == "connect", r
    assert took < 2.0, took
    assert wait_for(lambda: status(p)["probingProcesses"] == 0, timeout=3)
    r = p.call("POST", LIST, tok, json=local_body(env, org=org_of(tok)))
    assert r.status == 201, r
    assert not any("request_timeout" in m for m in p.messages())


def test_noisy_neighbour_small(start_pool, env, silent):
    """Org A floods slow tests; org B's reads and tests stay fast."""
    p = pool(start_pool, pm="dynamic", pm_max_children=10,
             pm_start_servers=3, pm_min_spare=2, pm_max_spare=4,
             pm_reserved_for_reads=4, probe_slots_per_org=2)
    a, b = new_org(), new_org()
    ta, tb = make_token(env, org=a), make_token(env, org=b)
    # A floods creates of destinations on the silent peer
    before_a = count_rows(env, a)
    db = p.call("POST", LIST, tb, json=local_body(env, org=org_of(tb))).json()
    results = []
    lock = threading.Lock()

    def flood(i):
        t0 = time.monotonic()
        r = _slow_create(p, ta, silent)
        with lock:
            results.append((getattr(r, "status", repr(r)),
                            time.monotonic() - t0))
    futs = bg(flood, 8)
    time.sleep(0.5)
    reads, tests = [], []
    for _ in range(10):
        t0 = time.monotonic()
        assert p.get_list(tb).status == 200
        reads.append(time.monotonic() - t0)
        t0 = time.monotonic()
        r = p.call("POST", "%s/%s/test" % (LIST, db["id"]), tb)
        assert r.status == 200, r
        tests.append(time.monotonic() - t0)
    for f in futs:
        f.result(30)
    assert max(reads) < 1.0, reads
    assert max(tests) < 2.0, tests
    codes = [c for c, _ in results]
    assert codes.count(429) >= 5, results
    assert max(t for _, t in results) < 4 + 1 + 1, results
    assert count_rows(env, a) == before_a


# ------------------------------------------------- spawned and CGI modes

def _spawned(env, workdir, procs, n, **over):
    path = os.path.join(workdir, "sp.sock")
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(64)
    e = service_env(env, **dict(BASE, **over))
    log = open(os.path.join(workdir, "sp.log"), "ab")
    for _ in range(n):
        procs.append(subprocess.Popen(
            [str(BACKUPD), "-c", env["BACKUPD_CONFIG"]], env=e,
            stdin=ls.fileno(), stdout=log, stderr=subprocess.STDOUT))
    ls.close()
    log.close()
    return path


@pytest.fixture
def procs():
    ps = []
    yield ps
    for p in ps:
        if p.poll() is None:
            p.kill()
        p.wait(10)


def test_admission_in_spawned_mode_holds_across_processes(env, workdir,
                                                          procs, silent):
    sock = _spawned(env, workdir, procs, 3, probe_slots_per_org=1)
    org = new_org()
    tok = make_token(env, org=org)
    assert wait_for(lambda: _ok(sock, tok), timeout=10)
    fut = bg(lambda i: fcgi_call(sock, "POST", LIST, tok,
                                 json=webdav_body(silent.url),
                                 timeout=20), 1)[0]
    time.sleep(1.0)
    before = count_rows(env, org)
    r = fcgi_call(sock, "POST", LIST, tok, json=local_body(env, org=org_of(tok)))
    assert r.status == 429, r
    assert r.json()["limit"] == "organization"
    assert int(r.headers["retry-after"]) >= 1
    assert count_rows(env, org) == before
    other = make_token(env, org=new_org())
    assert fcgi_call(sock, "POST", LIST, other,
                     json=local_body(env, org=org_of(other))).status == 201
    assert fut.result(20).status == 422
    assert fcgi_call(sock, "POST", LIST, tok,
                     json=local_body(env, org=org_of(tok))).status == 201
    # status in spawned mode says so
    s = fcgi_call(sock, "GET", STATUS).json()
    assert s["mode"] == "spawned" and s["database"]["up"] is True


def test_spawned_mode_kill_9_releases_the_lock(env, workdir, procs, silent):
    sock = _spawned(env, workdir, procs, 2, probe_slots_per_org=1)
    org = new_org()
    tok = make_token(env, org=org)
    assert wait_for(lambda: _ok(sock, tok), timeout=10)
    fut = bg(lambda i: _slow_create_sock(sock, tok, silent), 1)[0]
    time.sleep(1.0)
    assert fcgi_call(sock, "POST", LIST, tok,
                     json=local_body(env, org=org_of(tok))).status == 429
    for pr in procs:
        pr.kill()
    fut.result(10)
    for pr in procs:
        pr.wait(5)
    procs.clear()
    os.unlink(sock)
    sock = _spawned(env, workdir, procs, 1, probe_slots_per_org=1)
    assert wait_for(lambda: _ok(sock, tok), timeout=10)
    assert fcgi_call(sock, "POST", LIST, tok,
                     json=local_body(env, org=org_of(tok))).status == 201


def _slow_create_sock(sock, tok, silent):
    try:
        return fcgi_call(sock, "POST", LIST, tok, json=webdav_body(silent.url),
                         timeout=20)
    except (FcgiError, OSError) as e:
        return e


def _ok(sock, tok):
    try:
        return fcgi_call(sock, "GET", LIST, tok, timeout=2).status == 200
    except OSError:
        return False


def _cgi(env, method, uri, tok, body=b"", **over):
    e = service_env(env, **dict(BASE, **over))
    path, _, query = uri.partition("?")
    e.update({"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": method,
              "REQUEST_URI": uri, "SCRIPT_NAME": path, "QUERY_STRING": query,
              "REMOTE_ADDR": "127.0.0.1",
              "HTTP_AUTHORIZATION": "Bearer " + tok})
    if body:
        e["CONTENT_TYPE"] = "application/json"
        e["CONTENT_LENGTH"] = str(len(body))
    return subprocess.Popen([str(BACKUPD), "-c", env["BACKUPD_CONFIG"]],
                            env=e, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_admission_in_cgi_mode(env, silent):
    org = new_org()
    tok = make_token(env, org=org)
    slow = _cgi(env, "POST", LIST, tok,
                json.dumps(webdav_body(silent.url)).encode(),
                probe_slots_per_org=1)
    slow.stdin.write(json.dumps(webdav_body(silent.url)).encode())
    slow.stdin.close()
    time.sleep(1.5)
    try:
        body = json.dumps(local_body(env, org=org_of(tok))).encode()
        fast = _cgi(env, "POST", LIST, tok, body, probe_slots_per_org=1)
        out, _ = fast.communicate(body, timeout=10)
        st, hd, b = parse_cgi_response(out)
        assert st == 429, out
        assert json.loads(b)["limit"] == "organization"
        assert int(hd["retry-after"]) >= 1
    finally:
        slow.kill()
        slow.wait(10)
    body = json.dumps(local_body(env, org=org_of(tok))).encode()
    again = _cgi(env, "POST", LIST, tok, body, probe_slots_per_org=1)
    out, _ = again.communicate(body, timeout=10)
    assert parse_cgi_response(out)[0] == 201, out


# ------------------------------------------------------- ping and status

def test_ping_and_status_through_nginx(env):
    base = env["BACKUPD_URL"]
    import requests
    r = requests.get(base + PING, timeout=5)
    assert r.status_code == 200 and r.text == "pong\n"
    assert r.headers["content-type"].startswith("text/plain")
    r = requests.get(base + STATUS, timeout=5)
    assert r.status_code == 200, r.text
    s = r.json()
    for k in ("pool", "processManager", "startTime", "acceptedConnections",
              "listenQueue", "idleProcesses", "activeProcesses",
              "probingProcesses", "totalProcesses", "maxChildrenReached",
              "slowRequests", "respawns", "reloads", "lastReload",
              "probesInFlight", "tooManyRequests", "database", "workers"):
        assert k in s, k
    assert s["mode"] == "pool"
    assert s["processManager"] == "dynamic"
    assert s["database"]["up"] is True
    assert isinstance(s["database"]["destinationsByKeyId"], dict)
    assert s["totalProcesses"] == len(s["workers"]) >= 1
    assert s["listenQueue"] >= 0
    # no token needed, and none leaks: no Authorization echoed anywhere
    assert "Bearer" not in r.text

    r = requests.get(base + STATUS + "?openmetrics", timeout=5)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(
        "application/openmetrics-text")
    from prometheus_client.openmetrics.parser import \
        text_string_to_metric_families
    fams = {f.name: f for f in text_string_to_metric_families(r.text)}
    assert fams["backupd_accepted_connections"].type == "counter"
    assert fams["backupd_processes"].type == "gauge"
    states = {s.labels["state"] for s in fams["backupd_processes"].samples}
    assert {"idle", "reading", "handling", "probing"} <= states
    assert fams["backupd_database_up"].samples[0].value == 1
    assert "backupd_too_many_requests" in fams
    assert r.text.endswith("# EOF\n")


def test_status_is_refused_to_other_addresses(env):
    """nginx allows 127.0.0.1 only: a client from 127.0.0.2 gets 403."""
    port = int(env["BACKUPD_URL"].rsplit(":", 1)[1])
    for path in (PING, STATUS):
        s = socket.create_connection(("127.0.0.1", port), timeout=5,
                                     source_address=(PEER_HOST, 0))
        s.sendall(("GET %s HTTP/1.0\r\nHost: x\r\n\r\n" % path).encode())
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        assert data.split(b"\r\n", 1)[0].split()[1] == b"403", data[:200]


def test_backupctl_status(start_pool, env):
    p = pool(start_pool, pm="static", pm_max_children=2)
    ctl = BACKUPD.parent / "backupctl"
    e = service_env(env, listen="unix:" + p.sock)
    r = subprocess.run([str(ctl), "-c", env["BACKUPD_CONFIG"], "status",
                        "--json"], env=e, capture_output=True, timeout=20)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["totalProcesses"] == 2 and s["processManager"] == "static"
    r = subprocess.run([str(ctl), "-c", env["BACKUPD_CONFIG"], "status"],
                       env=e, capture_output=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert b"totalProcesses" in r.stdout and b"idle" in r.stdout
    r = subprocess.run([str(ctl), "-c", env["BACKUPD_CONFIG"], "status",
                        "--openmetrics"], env=e, capture_output=True,
                       timeout=20)
    assert r.returncode == 0 and r.stdout.endswith(b"# EOF\n")


# --------------------------------------------------------------- signals

def _load(p, tok, stop, results):
    while not stop.is_set():
        try:
            results.append(p.get_list(tok, timeout=10).status)
        except Exception as e:  # noqa: BLE001 - counted as a failure
            results.append(repr(e))


@pytest.mark.parametrize("sig", [signal.SIGUSR2, signal.SIGHUP])
@pytest.mark.parametrize("pm", ["dynamic", "ondemand"])
def test_reload_under_load_drops_nothing(start_pool, env, sig, pm):
    p = pool(start_pool, pm=pm, pm_max_children=6, pm_start_servers=2,
             pm_min_spare=1, pm_max_spare=3, wait=False)
    assert wait_for(lambda: os.path.exists(p.sock), timeout=10)
    tok = make_token(env, org=new_org())
    assert p.get_list(tok).status == 200
    old = p.workers()
    stop, results = threading.Event(), []
    ts = [threading.Thread(target=_load, args=(p, tok, stop, results),
                           daemon=True) for _ in range(3)]
    for t in ts:
        t.start()
    try:
        time.sleep(0.5)
        p.signal(sig)
        assert wait_for(lambda: status(p)["reloads"] == 1, timeout=5)
        assert wait_for(lambda: not set(p.workers()) & set(old),
                        timeout=5), (old, p.workers())
        time.sleep(0.5)
    finally:
        stop.set()
        for t in ts:
            t.join(20)
    failed = [x for x in results if x != 200]
    assert not failed, failed[:5]
    assert len(results) >= 20
    s = status(p)
    assert s["lastReload"]["ok"] is True
    assert p.proc.poll() is None


def test_failed_reload_is_on_the_status_page(start_pool, env, workdir):
    conf = copy_config(env, workdir)
    p = pool(start_pool, config=conf, pm="static", pm_max_children=2)
    Path(conf).write_text(Path(conf).read_text() + "pm_max_spare = many\n")
    p.signal(signal.SIGUSR2)
    assert wait_for(lambda: status(p)["lastReload"]["ok"] is False,
                    timeout=5), p.log_tail()
    s = status(p)
    assert "pm_max_spare" in s["lastReload"]["message"]
    assert s["reloads"] == 0
    assert p.get_list(make_token(env, org=new_org())).status == 200


def test_usr1_reopens_a_rotated_log(start_pool, env, workdir):
    log = os.path.join(workdir, "service.log")
    p = pool(start_pool, pm="static", pm_max_children=2, log_file=log)
    tok = make_token(env, org=new_org())
    assert p.get_list(tok, "before-rotate").status == 200
    assert wait_for(lambda: "before-rotate" in Path(log).read_text())
    os.rename(log, log + ".1")
    p.signal(signal.SIGUSR1)
    assert wait_for(lambda: os.path.exists(log), timeout=3)
    for i in range(4):  # reaches every worker
        assert p.get_list(tok, "after-rotate-%d" % i).status == 200
    assert wait_for(lambda: Path(log).read_text().count("after-rotate") == 4,
                    timeout=3), Path(log).read_text()
    assert "after-rotate" not in Path(log + ".1").read_text()
    assert p.proc.poll() is None


def test_stray_signals_do_not_end_the_master(start_pool, env):
    p = pool(start_pool, pm="static", pm_max_children=1)
    for sig in (signal.SIGPIPE, signal.SIGALRM, signal.SIGVTALRM,
                signal.SIGPROF, signal.SIGXFSZ, signal.SIGTTIN,
                signal.SIGTTOU, signal.SIGPOLL, signal.SIGUSR1,
                signal.SIGRTMIN + 3, signal.SIGPWR):
        p.signal(sig)
        time.sleep(0.05)
    time.sleep(0.3)
    assert p.proc.poll() is None
    assert p.get_list(make_token(env, org=new_org())).status == 200


# ------------------------------------------------------------- slow log

def test_slowlog_logs_a_slow_request_once(start_pool, env, silent):
    p = pool(start_pool, pm="static", pm_max_children=2,
             request_slowlog_timeout=1)
    org = new_org()
    tok = make_token(env, org=org)
    r = _slow_create(p, tok, silent)
    assert r.status == 422
    slow = [x for x in p.lines() if x.get("msg") == "slow request"]
    assert len(slow) == 1, slow
    assert slow[0]["org"] == org
    assert slow[0]["state"] == "probing"
    assert slow[0]["elapsedMs"] >= 1000
    assert "POST" in slow[0]["route"] or "create" in slow[0]["route"]
    assert status(p)["slowRequests"] == 1


# ------------------------------------------- the socket (issue 13 item 9)

def _tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_listen_allowed_clients_closes_others_at_accept(start_pool, env):
    port = _tcp_port()
    p = pool(start_pool, pm="static", pm_max_children=1, wait=False,
             sock="(tcp)", listen="127.0.0.1:%d" % port,
             listen_allowed_clients="127.0.0.2, ::1")
    tok = make_token(env, org=new_org())
    assert wait_for(lambda: len(p.workers()) == 1, timeout=10)
    time.sleep(0.3)
    # from 127.0.0.1 (not listed): closed without an answer
    with pytest.raises((FcgiError, OSError)):
        fcgi_call(("127.0.0.1", port), "GET", LIST, tok, timeout=5)
    # from 127.0.0.2 (listed): served
    s = socket.create_connection(("127.0.0.1", port), timeout=5,
                                 source_address=(PEER_HOST, 0))
    s.close()
    assert wait_for(lambda: any("listen_allowed_clients" in m
                                for m in p.messages()), timeout=3)
    assert status_tcp(port) is None  # the status page is refused too
    # the same pool with 127.0.0.1 listed serves it
    port2 = _tcp_port()
    p2 = pool(start_pool, pm="static", pm_max_children=1, wait=False,
              sock="(tcp)", listen="127.0.0.1:%d" % port2,
              listen_allowed_clients="127.0.0.1")
    assert wait_for(lambda: _ok(("127.0.0.1", port2), tok), timeout=10), \
        p2.log_tail()
    assert status_tcp(port2).status == 200


def status_tcp(port):
    try:
        return fcgi_call(("127.0.0.1", port), "GET", STATUS, timeout=3)
    except (FcgiError, OSError):
        return None


def test_listen_mode_and_group(start_pool, env):
    g = grp.getgrgid(os.getgid()).gr_name
    p = pool(start_pool, pm="static", pm_max_children=1, listen_mode="0600",
             listen_group=g)
    st = os.stat(p.sock)
    assert st.st_mode & 0o777 == 0o600
    assert st.st_gid == os.getgid()
    assert p.get_list(make_token(env, org=new_org())).status == 200


def test_listen_group_unknown_refuses_to_start(start_pool, env):
    p = pool(start_pool, pm="static", pm_max_children=1, wait=False,
             listen_group="no-such-group-bd")
    assert p.wait_exit(10) == 1
    assert any("listen_group" in m for m in p.messages()), p.log_tail()


# ------------------------------- respawn and max_requests in every mode

@pytest.mark.parametrize("pm", ["dynamic", "ondemand"])
def test_max_requests_and_respawn_in_other_modes(start_pool, env, pm):
    p = pool(start_pool, pm=pm, pm_max_children=3, pm_start_servers=1,
             pm_min_spare=1, pm_max_spare=2, max_requests=2, wait=False)
    assert wait_for(lambda: os.path.exists(p.sock), timeout=10)
    tok = make_token(env, org=new_org())
    rids = ["mr-%s-%d" % (pm, i) for i in range(6)]
    for r_id in rids:
        assert p.get_list(tok, r_id).status == 200
    pids = [p.pid_for(r_id) for r_id in rids]
    assert None not in pids and len(set(pids)) >= 3, pids
    assert not [m for m in p.messages() if "died" in m], p.log_tail()
    # a worker killed is replaced (dynamic keeps its spare; ondemand forks
    # on the next connection)
    assert p.get_list(tok, "mr-%s-last" % pm).status == 200
    victim = p.pid_for("mr-%s-last" % pm)
    assert victim and proc_alive(victim)
    os.kill(victim, signal.SIGKILL)
    assert wait_for(lambda: any("worker %d died" % victim in m
                                for m in p.messages()), timeout=3)
    assert p.get_list(tok).status == 200
    assert victim not in p.workers()
    assert status(p)["respawns"] >= 1


def test_listen_allowed_clients_after_an_aborted_connection(start_pool, env):
    """An allowed connection that closes before its request must not let
    libfcgi accept the next pending connection itself (past the check)."""
    port = _tcp_port()
    p = pool(start_pool, pm="static", pm_max_children=1, wait=False,
             sock="(tcp)", listen="127.0.0.1:%d" % port,
             listen_allowed_clients="127.0.0.2")
    assert wait_for(lambda: len(p.workers()) == 1, timeout=10)
    assert wait_for(lambda: status_tcp_from(port, PEER_HOST) is not None,
                    timeout=10)
    # the only worker reads an allowed connection that sends nothing...
    held = socket.create_connection(("127.0.0.1", port), timeout=5,
                                    source_address=(PEER_HOST, 0))
    time.sleep(0.3)
    # ...while a refused client's complete request waits in the backlog
    result = {}

    def refused():
        try:
            result["r"] = fcgi_call(("127.0.0.1", port), "GET", STATUS,
                                    timeout=5)
        except (FcgiError, OSError) as e:
            result["r"] = e
    t = threading.Thread(target=refused)
    t.start()
    time.sleep(0.3)
    held.close()
    t.join(10)
    assert isinstance(result.get("r"), Exception), result


def status_tcp_from(port, source):
    """The status page asked from `source`; None when refused."""
    import struct
    from fcgi_client import FCGI_BEGIN_REQUEST, FCGI_RESPONDER, \
        cgi_params, _record, _stream, FCGI_PARAMS, FCGI_STDIN, encode_params
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5,
                                     source_address=(source, 0))
    except OSError:
        return None
    try:
        msg = (_record(FCGI_BEGIN_REQUEST,
                       struct.pack(">HB5x", FCGI_RESPONDER, 0))
               + _stream(FCGI_PARAMS, encode_params(cgi_params("GET",
                                                                 STATUS)))
               + _stream(FCGI_STDIN, b""))
        s.sendall(msg)
        data = s.recv(65536)
        return data or None
    except OSError:
        return None
    finally:
        s.close()
