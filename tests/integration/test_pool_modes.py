"""backupd's modes and its pool (DESIGN.md "Shape"): workers and respawn,
max_requests, request_timeout, the signals (SIGQUIT graceful, SIGTERM /
SIGINT, SIGHUP reload), spawned mode (stdin is a listening socket, or
systemd's LISTEN_FDS), CGI mode, and no core dumps.

A test that needs signals or limits starts its OWN backupd with the stack's
config (-c $BACKUPD_CONFIG, or a copy it controls) and BACKUPD_* overrides,
listening on a socket under /tmp, talks FastCGI to it directly
(fcgi_client.py) and kills it in a finalizer: the shared stack is never
signalled here. Destinations are created through the shared stack's HTTP API;
row locks are held from a mariadb client on the stack's database.
"""

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import (REPO, Api, _mariadb_base, local_body, make_token,
                      new_org, sql, sql_quote, wait_for)
from fcgi_client import (FcgiError, fcgi_call, parse_cgi_response,
                         proc_alive, proc_children, proc_stat,
                         read_json_lines)

LIST = "/backup-destinations"
BIN_DIR = Path(os.environ.get("BACKUPD_BIN_DIR") or REPO / "build")
BACKUPD = BIN_DIR / "backupd"

# Variables of the test process that must not leak into a backupd started
# here (they would pick its mode or override what the test sets).
_NOT_INHERITED = ("BACKUPD_CONFIG", "BACKUPD_LISTEN", "GATEWAY_INTERFACE",
                  "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES",
                  "REQUEST_METHOD", "REQUEST_URI", "CONTENT_TYPE",
                  "CONTENT_LENGTH", "HTTP_AUTHORIZATION", "QUERY_STRING",
                  "SCRIPT_NAME", "PATH_INFO")


def service_env(env, drop=(), **overrides):
    """The environment the stack's backupd sees (every BACKUPD_* given at
    `up` is in ours too under scripts/integration.sh), minus mode-selecting
    variables and `drop`, plus BACKUPD_<KEY>=value for each override."""
    e = dict(os.environ)
    for k in _NOT_INHERITED + tuple(drop):
        e.pop(k, None)
    if not e.get("BACKUPD_LOCAL_ROOTS"):
        e["BACKUPD_LOCAL_ROOTS"] = env["LOCAL_ROOT"]
    for k, v in overrides.items():
        e["BACKUPD_" + k.upper()] = str(v)
    return e


def copy_config(env, dest_dir, extra=""):
    """A copy of the stack's config in dest_dir (0600), `extra` appended."""
    path = os.path.join(dest_dir, "backupd.conf")
    text = Path(env["BACKUPD_CONFIG"]).read_text()
    if not text.endswith("\n"):
        text += "\n"
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
              "w") as fh:
        fh.write(text + extra)
    return path


def append_config(path, text):
    with open(path, "a") as fh:
        fh.write(text)


def _tail(path, n=30):
    try:
        with open(path, "rb") as fh:
            lines = fh.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


class Pool:
    """A private backupd pool: its own socket and log under workdir."""

    def __init__(self, env, workdir, config, drop=(), sock=None,
                 **overrides):
        """sock: the socket `listen` in config names (then BACKUPD_LISTEN
        is not set); default: <workdir>/p.sock through BACKUPD_LISTEN."""
        self.sock = sock or os.path.join(workdir, "p.sock")
        self.log = os.path.join(workdir, "backupd.log")
        self.config = config
        self.nworkers = int(overrides.get("workers", 0)) or None
        # `workers` is the alias of pm = static; the stack's config says
        # pm = dynamic, which an explicit `workers` does not override.
        if self.nworkers and "pm" not in overrides:
            overrides["pm"] = "static"
        if sock is None:
            overrides["listen"] = "unix:" + self.sock
        self.env = service_env(env, drop=drop, **overrides)
        self.proc = None
        self._logfh = None

    def start(self, wait=True):
        self._logfh = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [str(BACKUPD), "-c", self.config], env=self.env,
            stdin=subprocess.DEVNULL, stdout=self._logfh,
            stderr=subprocess.STDOUT, start_new_session=True)
        if wait:
            self.wait_ready()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def workers(self):
        return proc_children(self.pid)

    def wait_ready(self, timeout=10.0):
        n = self.nworkers

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("backupd exited (%s):\n%s"
                                     % (self.proc.returncode,
                                        self.log_tail()))
            return (os.path.exists(self.sock)
                    and (n is None or len(self.workers()) == n))
        assert wait_for(ready, timeout=timeout, interval=0.05), \
            "pool not ready: workers %r\n%s" % (self.workers(),
                                                self.log_tail())

    def call(self, method, uri, tok=None, **kw):
        return fcgi_call(self.sock, method, uri, tok, **kw)

    def get_list(self, tok, rid=None, timeout=10.0):
        return self.call("GET", LIST, tok, request_id=rid, timeout=timeout)

    def lines(self):
        return read_json_lines(self.log)

    def log_tail(self, n=30):
        return _tail(self.log, n)

    def messages(self):
        return [x.get("msg", "") for x in self.lines() if "msg" in x]

    def pid_for(self, rid, timeout=3.0):
        """pid in the request-log line of request rid."""
        def find():
            for x in self.lines():
                if x.get("requestId") == rid and "status" in x:
                    return x["pid"]
            return None
        return wait_for(find, timeout=timeout, interval=0.05)

    def signal(self, sig):
        os.kill(self.pid, sig)

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        """SIGKILL the master, then each worker it had (by pid)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            ws = self.workers()
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
            for w in ws:
                try:
                    os.kill(w, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        if self._logfh is not None:
            self._logfh.close()
            self._logfh = None


@pytest.fixture
def workdir():
    # Short paths: a unix socket path must stay under ~100 bytes.
    d = tempfile.mkdtemp(prefix="bdpool-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def start_pool(env, workdir):
    """start_pool(config=None, wait=True, drop=(), **overrides) -> Pool.
    Every pool started is killed at teardown."""
    pools = []

    def _start(config=None, wait=True, drop=(), sock=None, **overrides):
        sub = tempfile.mkdtemp(dir=workdir)
        p = Pool(env, sub, config or env["BACKUPD_CONFIG"], drop=drop,
                 sock=sock, **overrides)
        pools.append(p)
        return p.start(wait)
    yield _start
    for p in pools:
        p.kill()
    # A crash is a failure: no worker of these pools died of a signal or
    # an error unless the test killed workers on purpose (it sets
    # p.deaths_expected), and no sanitizer report, ever.
    import crash_check
    for p in pools:
        bad = [(n, ln) for n, ln in crash_check.scan(p.log)
               if crash_check.SANITIZER.search(ln)
               or not getattr(p, "deaths_expected", False)]
        assert not bad, "crashed workers or sanitizer reports in %s: %r" \
            % (p.log, bad[:10])


@pytest.fixture
def owned_procs():
    """A list to append Popen objects to; each still running is killed."""
    procs = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            pass


class RowLock:
    """BEGIN; SELECT ... FOR UPDATE on one destination row from a mariadb
    client whose transaction stays open until release()."""

    def __init__(self, env, dest_id):
        cmd, pe = _mariadb_base(env)
        cmd += ["--batch", "--skip-column-names", "--unbuffered",
                env["BACKUPD_DB_NAME"]]
        self.p = subprocess.Popen(cmd, env=pe, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.p.stdin.write(
            ("BEGIN; SELECT 'locked', id FROM backup_destinations "
             "WHERE id = %s FOR UPDATE;\n" % sql_quote(dest_id)).encode())
        self.p.stdin.flush()
        ready, _, _ = select.select([self.p.stdout], [], [], 15)
        line = self.p.stdout.readline() if ready else b""
        if not line.startswith(b"locked\t" + dest_id.encode()):
            self.release()
            raise AssertionError("could not lock %s: %r %r"
                                 % (dest_id, line, self.p.stderr.read()))

    def release(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write(b"ROLLBACK;\n")
                self.p.stdin.close()
            except OSError:
                pass
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def lock_waiters(env):
    """Statements of the service's DB user waiting on a FOR UPDATE now
    (the processlist shows the user's own threads without PROCESS)."""
    rows = sql(env, "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
               "WHERE ID <> CONNECTION_ID() AND COMMAND <> 'Sleep' "
               "AND INFO LIKE '%FOR UPDATE%'")
    return int(rows[0][0])


def wait_blocked(env, before, timeout=5.0):
    """Until one more statement waits on a row lock than `before` (or a
    second passed when the processlist does not show it)."""
    if wait_for(lambda: lock_waiters(env) > before, timeout=timeout,
                interval=0.05):
        return True
    return False


def stack_api(env, org):
    return Api(env["BACKUPD_URL"], make_token(env, org=org))


def put_body(d, name=None):
    return {"name": name or d["name"], "destinationType": "local",
            "config": d["config"]}


def rid(prefix="pm"):
    return "%s-%s" % (prefix, uuid.uuid4().hex)


# ------------------------------------------------------------------ pool

def test_pool_starts_n_workers_and_answers(start_pool, env):
    p = start_pool(workers=3)
    ws = p.workers()
    assert len(ws) == 3, ws
    for w in ws:
        assert proc_stat(w)[1] == p.pid
        assert Path("/proc/%d/exe" % w).resolve() == BACKUPD.resolve()
    # the socket is the one configured, group-accessible only
    assert os.stat(p.sock).st_mode & 0o777 == 0o660

    org = new_org()
    tok = make_token(env, org=org)
    r_id = rid()
    r = p.get_list(tok, r_id)
    assert r.status == 200, r
    assert r.json() == []
    assert r.headers.get("x-request-id") == r_id
    assert r.headers.get("content-type", "").startswith("application/json")
    assert p.pid_for(r_id) in ws

    # same data as the shared stack: a destination created there is listed
    d = stack_api(env, org).create_local(env)
    r = p.get_list(tok)
    assert [x["id"] for x in r.json()] == [d["id"]]

    # no token: 401 from the pool too
    r = p.get_list(None)
    assert r.status == 401
    assert r.headers.get("www-authenticate", "").startswith("Bearer")

    started = [m for m in p.messages() if "pool started" in m]
    assert started and "3 workers" in started[0], p.log_tail()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_pool_listens_on_tcp(start_pool, env, host):
    """listen = host:port and [v6]:port: a TCP socket on that address
    (libfcgi alone would have made "[::1]:port" a unix socket file)."""
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    spelled = "[%s]:%d" % (host, port) if ":" in host else \
        "%s:%d" % (host, port)
    p = start_pool(wait=False, sock="(tcp)", workers=2, listen=spelled)
    tok = make_token(env, org=new_org())
    assert wait_for(lambda: _answers((host, port), tok), timeout=10,
                    interval=0.1), p.log_tail()
    assert not os.path.exists(spelled), "a unix socket file was created"
    assert fcgi_call((host, port), "GET", LIST, tok).status == 200


def _answers(address, tok):
    try:
        return fcgi_call(address, "GET", LIST, tok, timeout=2).status == 200
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGQUIT])
def test_signal_mid_request_does_not_cut_it(start_pool, env, sig):
    """A reload (SIGHUP: the old workers get SIGQUIT) or a graceful stop
    that lands while a worker is in the middle of reading a request body
    lets that request finish intact (libfcgi's reads are plain read(2):
    an EINTR there would truncate the body)."""
    p = start_pool(workers=1)
    org = new_org()
    tok = make_token(env, org=org)
    body = local_body(env, org=org, name="mid-" + uuid.uuid4().hex[:8])

    def signal_now():
        p.signal(sig)
        time.sleep(1.0)

    r = p.call("POST", LIST, tok, json=body, midway=signal_now,
               timeout=20)
    assert r.status == 201, r
    if sig == signal.SIGQUIT:
        assert p.wait_exit(10) == 0, p.log_tail()
    else:
        assert p.get_list(tok).status == 200


def test_killed_worker_is_respawned(start_pool, env):
    p = start_pool(workers=2)
    p.deaths_expected = True  # it kills workers
    before = p.workers()
    victim, survivor = before
    tok = make_token(env, org=new_org())
    assert p.get_list(tok).status == 200

    os.kill(victim, signal.SIGKILL)
    t0 = time.monotonic()

    def replaced():
        w = p.workers()
        return w if len(w) == 2 and victim not in w else None
    after = wait_for(replaced, timeout=3.0, interval=0.05)
    took = time.monotonic() - t0
    assert after, "no respawn: %r\n%s" % (p.workers(), p.log_tail())
    assert took < 2.0, "respawn took %.2fs" % took
    assert survivor in after
    assert wait_for(lambda: any("worker %d died" % victim in m
                                for m in p.messages()), timeout=2)

    for _ in range(8):
        r = p.get_list(tok)
        assert r.status == 200, r
    assert p.proc.poll() is None


def test_max_requests_recycles_the_worker(start_pool, env):
    p = start_pool(workers=1, max_requests=3)
    tok = make_token(env, org=new_org())
    rids = [rid("mr%d" % i) for i in range(7)]
    for r_id in rids:
        r = p.get_list(tok, r_id)
        assert r.status == 200, (r_id, r)
    pids = [p.pid_for(r_id) for r_id in rids]
    assert None not in pids, (pids, p.log_tail())
    changes = sum(1 for a, b in zip(pids, pids[1:]) if a != b)
    assert changes >= 2, pids
    # exactly three requests a worker, one worker at a time
    assert pids[0] == pids[1] == pids[2], pids
    assert pids[3] == pids[4] == pids[5], pids
    assert len({pids[0], pids[3], pids[6]}) == 3, pids
    # a recycled worker exits cleanly: no "died" warning
    assert not [m for m in p.messages() if "died" in m], p.log_tail()
    assert len(p.workers()) == 1


def test_request_timeout_kills_the_worker(start_pool, env):
    org = new_org()
    tok = make_token(env, org=org)
    api = stack_api(env, org)
    d = api.create_local(env)
    v0 = api.get("%s/%s" % (LIST, d["id"])).headers.get("ETag")
    p = start_pool(workers=1, request_timeout=2)
    p.deaths_expected = True  # request_timeout ends the worker (status 3)
    (w0,) = p.workers()
    assert p.get_list(tok).status == 200

    with RowLock(env, d["id"]):
        t0 = time.monotonic()
        try:
            r = p.call("PUT", "%s/%s" % (LIST, d["id"]), tok,
                       json=put_body(d, name=d["name"] + "-x"), timeout=20)
            outcome = r.status
        except FcgiError as e:
            outcome = "closed: %s" % e
        took = time.monotonic() - t0
    # no successful answer: the connection closes (or a 5xx at most)
    assert isinstance(outcome, str) or outcome >= 500, outcome
    assert took < 4.0, "request ran %.1fs (request_timeout is 2)" % took
    assert took >= 1.5, "answered after %.1fs: %r" % (took, outcome)

    # the worker died and another one serves
    assert wait_for(lambda: not proc_alive(w0), timeout=2)
    w1 = wait_for(lambda: p.workers(), timeout=3)
    assert w1 and w0 not in w1, (w1, p.log_tail())
    r_id = rid("after")
    r = p.get_list(tok, r_id)
    assert r.status == 200
    assert p.pid_for(r_id) == w1[0]
    assert any("request_timeout" in m for m in p.messages()), p.log_tail()

    # nothing was written by the PUT that timed out
    g = api.get("%s/%s" % (LIST, d["id"]))
    assert g.status_code == 200
    assert g.json()["name"] == d["name"]
    assert g.headers.get("ETag") == v0


# --------------------------------------------------------------- signals

def test_sigquit_finishes_the_request_in_flight(start_pool, env):
    org = new_org()
    tok = make_token(env, org=org)
    api = stack_api(env, org)
    d = api.create_local(env)
    p = start_pool(workers=2, request_timeout=120)
    ws = p.workers()
    assert p.get_list(tok).status == 200
    new_name = d["name"] + "-q"
    result = {}

    def put():
        try:
            result["r"] = p.call("PUT", "%s/%s" % (LIST, d["id"]), tok,
                                 json=put_body(d, name=new_name), timeout=60)
        except Exception as e:  # noqa: BLE001 - reported below
            result["e"] = e

    lock = RowLock(env, d["id"])
    th = threading.Thread(target=put, daemon=True)
    try:
        before = lock_waiters(env)
        th.start()
        if not wait_blocked(env, before):
            time.sleep(1.0)
        assert th.is_alive(), result
        p.signal(signal.SIGQUIT)
        time.sleep(1.0)
        # still draining: the master waits for the busy worker
        assert p.proc.poll() is None, p.log_tail()
        assert th.is_alive(), result
    finally:
        lock.release()
    th.join(30)
    assert not th.is_alive()
    assert "e" not in result, "in-flight request failed: %r\n%s" % (
        result.get("e"), p.log_tail())
    r = result["r"]
    assert r.status == 200, (r, p.log_tail())
    assert r.json()["name"] == new_name

    rc = p.wait_exit(5)
    assert rc == 0, (rc, p.log_tail())
    assert not os.path.exists(p.sock)
    assert wait_for(lambda: not any(proc_alive(w) for w in ws), timeout=2)
    assert any("stopping gracefully" in m for m in p.messages())
    assert api.get("%s/%s" % (LIST, d["id"])).json()["name"] == new_name


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT],
                         ids=["SIGTERM", "SIGINT"])
def test_sigterm_stops_master_and_workers(start_pool, env, sig):
    p = start_pool(workers=3)
    ws = p.workers()
    tok = make_token(env, org=new_org())
    assert p.get_list(tok).status == 200
    t0 = time.monotonic()
    p.signal(sig)
    rc = p.wait_exit(3)
    took = time.monotonic() - t0
    assert rc is not None, p.log_tail()
    assert took < 2.0, "stop took %.1fs" % took
    assert rc == 0, (rc, p.log_tail())
    assert wait_for(lambda: not any(proc_alive(w) for w in ws),
                    timeout=2.0 - min(took, 1.5))
    assert not os.path.exists(p.sock)


def test_sigterm_does_not_wait_for_a_blocked_request(start_pool, env):
    org = new_org()
    tok = make_token(env, org=org)
    d = stack_api(env, org).create_local(env)
    p = start_pool(workers=1, request_timeout=120)
    ws = p.workers()
    result = {}

    def put():
        try:
            result["r"] = p.call("PUT", "%s/%s" % (LIST, d["id"]), tok,
                                 json=put_body(d, name=d["name"] + "-t"),
                                 timeout=30)
        except Exception as e:  # noqa: BLE001
            result["e"] = e

    with RowLock(env, d["id"]):
        th = threading.Thread(target=put, daemon=True)
        th.start()
        if not wait_blocked(env, 0):
            time.sleep(1.0)
        t0 = time.monotonic()
        p.signal(signal.SIGTERM)
        rc = p.wait_exit(3)
        took = time.monotonic() - t0
        th.join(5)
    assert rc is not None and took < 2.0, (took, p.log_tail())
    assert not any(proc_alive(w) for w in ws)
    assert not os.path.exists(p.sock)
    assert "e" in result or result["r"].status >= 500, result


def test_master_killed_takes_workers_along(start_pool, env):
    """PR_SET_PDEATHSIG: a master killed with SIGKILL leaves no workers
    behind; its stale socket does not stop the next pool."""
    p = start_pool(workers=2)
    ws = p.workers()
    p.proc.kill()
    p.proc.wait(5)
    assert wait_for(lambda: not any(proc_alive(w) for w in ws),
                    timeout=2.0), ws
    assert os.path.exists(p.sock)  # nobody removed it

    p2 = Pool(env, os.path.dirname(p.sock), env["BACKUPD_CONFIG"],
              workers=1)
    try:
        p2.start()
        assert p2.get_list(make_token(env, org=new_org())).status == 200
    finally:
        p2.kill()


def _keep_requesting(p, tok, stop, results):
    while not stop.is_set():
        try:
            r = p.get_list(tok, timeout=10)
            results.append(r.status)
        except Exception as e:  # noqa: BLE001 - counted as a failure
            results.append(repr(e))


def test_sighup_replaces_workers_without_dropping_requests(
        start_pool, env, workdir):
    conf = copy_config(env, workdir)
    # the file's max_body must count: no BACKUPD_MAX_BODY from outside
    p = start_pool(config=conf, workers=2, drop=("BACKUPD_MAX_BODY",))
    old = p.workers()
    sighup_org = new_org()
    tok = make_token(env, org=sighup_org)
    big = json.dumps({"name": "big", "destinationType": "local",
                      "config": {"path": "/nonexistent"},
                      "pad": "x" * 4000}).encode()
    r = p.call("POST", LIST, tok, body=big, content_type="application/json")
    assert r.status != 413, r

    stop = threading.Event()
    results = []
    threads = [threading.Thread(target=_keep_requesting,
                                args=(p, tok, stop, results), daemon=True)
               for _ in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        append_config(conf, "max_body = 2048\n")
        p.signal(signal.SIGHUP)

        def replaced():
            w = p.workers()
            return w if len(w) == 2 and not set(w) & set(old) else None
        new = wait_for(replaced, timeout=5.0, interval=0.05)
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(20)
    assert new, "workers not replaced: old %r now %r\n%s" % (
        old, p.workers(), p.log_tail())
    failed = [x for x in results if x != 200]
    assert not failed, "%d of %d requests failed: %r" % (
        len(failed), len(results), failed[:5])
    assert len(results) >= 20, len(results)
    assert any("configuration reloaded" in m for m in p.messages())
    for w in old:
        assert not proc_alive(w)

    # the new setting is in force
    r = p.call("POST", LIST, tok, body=big, content_type="application/json")
    assert r.status == 413, r
    ok = p.call("POST", LIST, tok, json=local_body(env, org=sighup_org))
    assert ok.status == 201, ok
    assert p.proc.poll() is None


def test_sighup_with_a_broken_config_keeps_the_old_workers(
        start_pool, env, workdir):
    conf = copy_config(env, workdir)
    p = start_pool(config=conf, workers=2)
    old = p.workers()
    tok = make_token(env, org=new_org())
    nlines = len(Path(conf).read_text().splitlines())
    append_config(conf, "no_such_key = 1\n")
    p.signal(signal.SIGHUP)
    assert wait_for(lambda: any("reload failed" in m for m in p.messages()),
                    timeout=5), p.log_tail()
    errs = [m for m in p.messages() if "no_such_key" in m]
    assert errs and ":%d:" % (nlines + 1) in errs[0], p.log_tail()
    time.sleep(0.5)
    assert p.workers() == old
    for _ in range(4):
        assert p.get_list(tok).status == 200
    assert p.proc.poll() is None

    # fixed again: the next SIGHUP reloads
    Path(conf).write_text(Path(env["BACKUPD_CONFIG"]).read_text())
    os.chmod(conf, 0o600)
    p.signal(signal.SIGHUP)
    assert wait_for(lambda: len(p.workers()) == 2
                    and not set(p.workers()) & set(old), timeout=5), \
        p.log_tail()
    assert p.get_list(tok).status == 200


def test_sighup_cannot_move_the_socket(start_pool, env, workdir):
    """`listen` changed in the file and reloaded: the pool keeps serving the
    socket it opened, and at exit removes that one - not the path the new
    config names (which may be another pool's socket)."""
    sock = os.path.join(workdir, "a.sock")
    other = os.path.join(workdir, "b.sock")
    conf = copy_config(env, workdir)
    text = "".join(l for l in Path(conf).read_text().splitlines(True)
                   if not l.strip().startswith("listen"))
    Path(conf).write_text(text + "listen = unix:%s\n" % sock)
    p = start_pool(config=conf, sock=sock, workers=1,
                   drop=("BACKUPD_LISTEN",))
    tok = make_token(env, org=new_org())
    assert p.get_list(tok).status == 200
    # someone else's socket at the path the new config names
    squatter = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    squatter.bind(other)
    squatter.listen(1)
    try:
        Path(conf).write_text(text + "listen = unix:%s\n" % other)
        old = p.workers()
        p.signal(signal.SIGHUP)
        assert wait_for(lambda: p.workers() and
                        not set(p.workers()) & set(old), timeout=5), \
            p.log_tail()
        assert p.get_list(tok).status == 200
        assert any("listen cannot change" in m for m in p.messages()), \
            p.log_tail()
        p.signal(signal.SIGTERM)
        assert p.wait_exit(3) == 0, p.log_tail()
        assert not os.path.exists(sock), "its own socket was left behind"
        assert os.path.exists(other), "removed a socket it does not own"
    finally:
        squatter.close()


def test_sighup_while_a_worker_waits_for_respawn(start_pool, env):
    """A slot waiting out its respawn backoff at reload time must not add a
    worker beyond `workers`."""
    p = start_pool(workers=2)
    p.deaths_expected = True  # it kills workers
    # Kill the same slot's worker while it is young: its backoff doubles
    # (100, 200, 400, then 800 ms).
    victim = p.workers()[0]
    for _ in range(3):
        prev = set(p.workers())
        os.kill(victim, signal.SIGKILL)
        new = wait_for(lambda: [x for x in p.workers() if x not in prev],
                       timeout=4, interval=0.02)
        assert new, p.log_tail()
        victim = new[0]
    os.kill(victim, signal.SIGKILL)
    assert wait_for(lambda: len(p.workers()) == 1, timeout=1, interval=0.01)
    p.signal(signal.SIGHUP)  # within the 800 ms backoff
    time.sleep(2.0)
    assert len(p.workers()) == 2, (p.workers(), p.log_tail())
    assert p.get_list(make_token(env, org=new_org())).status == 200


# ------------------------------------------------------- spawned and CGI

def test_spawned_mode_serves_the_socket_on_stdin(env, workdir, owned_procs):
    path = os.path.join(workdir, "spawned.sock")
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(16)
    log = open(os.path.join(workdir, "spawned.log"), "wb")
    try:
        proc = subprocess.Popen([str(BACKUPD), "-c", env["BACKUPD_CONFIG"]],
                                env=service_env(env), stdin=ls.fileno(),
                                stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    finally:
        ls.close()
        log.close()
    owned_procs.append(proc)
    tok = make_token(env, org=new_org())
    for _ in range(3):
        r = fcgi_call(path, "GET", LIST, tok, timeout=10)
        assert r.status == 200, (r, _tail(log.name))
        assert r.json() == []
    # one process serving, no pool
    assert proc.poll() is None
    assert proc_children(proc.pid) == []
    assert not any("pool started" in (x.get("msg") or "")
                   for x in read_json_lines(log.name))
    # SIGQUIT: finishes and exits
    proc.send_signal(signal.SIGQUIT)
    assert proc.wait(3) == 0


def test_pool_takes_systemd_socket(env, workdir, owned_procs):
    """Socket activation (backupd.socket): the pool serves the socket
    systemd passes (LISTEN_FDS) with its workers, instead of opening
    `listen`, and never unlinks the socket file (it is systemd's)."""
    path = os.path.join(workdir, "sd.sock")
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(16)
    log = open(os.path.join(workdir, "sd.log"), "wb")
    # The socket becomes fd 3, stdin /dev/null, LISTEN_PID the pid that
    # execs backupd (sd_listen_fds(3)).
    script = ('exec 3<&0 </dev/null; export LISTEN_PID=$$ LISTEN_FDS=1; '
              'exec "$0" -c "$1"')
    e = service_env(env)
    e["BACKUPD_WORKERS"] = "2"
    e["BACKUPD_PM"] = "static"  # the stack's config says pm = dynamic
    e["BACKUPD_LISTEN"] = "unix:" + os.path.join(workdir, "unused.sock")
    try:
        proc = subprocess.Popen(["/bin/sh", "-c", script, str(BACKUPD),
                                 env["BACKUPD_CONFIG"]],
                                env=e, stdin=ls.fileno(),
                                stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    finally:
        ls.close()
        log.close()
    owned_procs.append(proc)
    r = fcgi_call(path, "GET", LIST, make_token(env, org=new_org()),
                  timeout=10)
    assert r.status == 200, (r, _tail(log.name))
    deadline = time.time() + 5
    while len(proc_children(proc.pid)) != 2 and time.time() < deadline:
        time.sleep(0.05)
    assert len(proc_children(proc.pid)) == 2, _tail(log.name)
    assert not os.path.exists(os.path.join(workdir, "unused.sock"))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) == 0
    # systemd's socket file stays.
    assert os.path.exists(path)


def _cgi(env, method, uri, tok=None, body=b"", content_type=None,
         extra=None, timeout=30):
    e = service_env(env)
    e.update({"GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1",
              "REQUEST_METHOD": method, "REMOTE_ADDR": "127.0.0.1",
              "CONTENT_LENGTH": str(len(body)) if body else ""})
    if uri is not None:
        e["REQUEST_URI"] = uri
        e["QUERY_STRING"] = uri.partition("?")[2]
    if content_type:
        e["CONTENT_TYPE"] = content_type
    if tok:
        e["HTTP_AUTHORIZATION"] = "Bearer " + tok
    if extra:
        e.update(extra)
    return subprocess.run([str(BACKUPD), "-c", env["BACKUPD_CONFIG"]],
                          env=e, input=body, capture_output=True,
                          timeout=timeout)


def test_cgi_mode_serves_one_request(env):
    org = new_org()
    tok = make_token(env, org=org)
    body = local_body(env, org=org)
    raw = json.dumps(body).encode()
    r = _cgi(env, "POST", LIST, tok, raw, "application/json")
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith(b"Status: 201 Created\r\n"), r.stdout[:300]
    assert r.stdout.count(b"Status:") == 1, r.stdout
    status, headers, rbody = parse_cgi_response(r.stdout)
    assert status == 201
    d = json.loads(rbody)
    assert d["name"] == body["name"] and d["status"] == "active"
    assert headers.get("location") == "%s/%s" % (LIST, d["id"])
    # one request-log line on stderr
    logged = [json.loads(x) for x in r.stderr.splitlines()
              if x.startswith(b"{") and b"requestId" in x]
    assert len(logged) == 1 and logged[0]["status"] == 201, r.stderr

    # the shared stack sees it
    api = stack_api(env, org)
    g = api.get("%s/%s" % (LIST, d["id"]))
    assert g.status_code == 200, g.text
    assert g.json()["config"] == body["config"]

    # GET one through SCRIPT_NAME + PATH_INFO (no REQUEST_URI)
    r = _cgi(env, "GET", None, tok,
             extra={"SCRIPT_NAME": LIST, "PATH_INFO": "/" + d["id"]})
    assert r.returncode == 0
    status, _, rbody = parse_cgi_response(r.stdout)
    assert status == 200, r.stdout[:300]
    assert json.loads(rbody)["id"] == d["id"]


def test_cgi_mode_without_token_is_401(env):
    org = new_org()
    body = json.dumps(local_body(env, org=org)).encode()
    r = _cgi(env, "POST", LIST, None, body, "application/json")
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith(b"Status: 401"), r.stdout[:300]
    status, headers, rbody = parse_cgi_response(r.stdout)
    assert status == 401
    assert headers.get("www-authenticate", "").startswith("Bearer")
    assert json.loads(rbody)["status"] == 401
    assert stack_api(env, org).list() == []


# ------------------------------------------------------------ core dumps

def _core_limit(pid):
    with open("/proc/%d/limits" % pid) as fh:
        for line in fh:
            if line.startswith("Max core file size"):
                return line.split()[4:6]
    return None


def test_no_core_dumps(start_pool, env):
    p = start_pool(workers=2)
    for pid in [p.pid] + p.workers():
        assert _core_limit(pid) == ["0", "0"], (pid, _core_limit(pid))
