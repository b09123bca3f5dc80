"""Shared fixtures and helpers for the backupd integration suite.

The suite drives the real stack (nginx -> backupd -> MariaDB) over HTTP.
scripts/integration.sh exports BACKUPD_STACK_DIR, BACKUPD_HTTP_PORT and
BACKUPD_LOCAL_ROOTS, runs `scripts/stack.sh up`, then pytest from the repo
root. Everything the tests need about the stack comes from `stack.sh env`.

Every test works in its own organization (uuid4), so tests are independent
and may run in any order; test_zz_db_down.py stops the database and is named
to run last.
"""

import base64
import datetime as dt
import hashlib
import hmac
import json as jsonlib
import os
import re
import shlex
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import jwt
import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
STACK_SH = REPO / "scripts" / "stack.sh"

PLACEHOLDER = "********"
CHECK_NAMES = ["connect", "auth", "target", "write", "read", "delete"]
BIN_DIR = Path(os.environ.get("BACKUPD_BIN_DIR") or REPO / "build")


def registry_types(*args):
    """The destination types of the service's registry (`backupctl types`),
    so that no test keeps a type list of its own: a new registry row is
    picked up by every test that iterates these."""
    out = subprocess.run([str(BIN_DIR / "backupctl"), "types", *args],
                         check=True, capture_output=True, text=True).stdout
    return out.split()


DEST_TYPES = registry_types()
OAUTH_TYPES = registry_types("--oauth")
RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
UUID_RE = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
STRONG_ETAG = re.compile(r'^"\d+"$')

# Sentinel to leave a claim out of a token: token(sub=OMIT).
OMIT = object()

# Every response body the suite has seen (test_secrets greps them).
SEEN_BODIES = []
_SEEN_LOCK = threading.Lock()

# Every secret the suite sent for a destination, by destination type
# (register_secrets); test_zy_secret_scan.py looks for each in the database
# dump, every file of the stack, the logs and every response.
SECRETS_BY_TYPE = {}


def register_secrets(dtype, *values):
    """Remember secret values sent for destinations of type dtype. A PEM
    private key is remembered by each line of its body (that is what a
    leak in a file or a JSON string would show)."""
    for v in values:
        if not v:
            continue
        if "-----BEGIN" in v:
            lines = [ln.strip() for ln in v.replace("\\n", "\n").splitlines()
                     if ln.strip() and "-----" not in ln and ":" not in ln
                     and len(ln.strip()) >= 40]
            SECRETS_BY_TYPE.setdefault(dtype, set()).update(lines)
        else:
            SECRETS_BY_TYPE.setdefault(dtype, set()).add(v)


# ---------------------------------------------------------------- stack env

def _parse_env_lines(text):
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].strip()
        if "=" not in line:
            continue
        key, val = line.split("=", 1)
        key = key.strip()
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            continue
        val = val.strip()
        if val[:1] in ("'", '"'):
            try:
                parts = shlex.split(val)
                val = parts[0] if parts else ""
            except ValueError:
                val = val.strip("'\"")
        out[key] = val
    return out


def _local_roots_from_config(path):
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            k, v = line.split("=", 1)
            if k.strip() == "local_roots" and v.strip():
                return v.strip()
    return None


def stack_cmd_env(env):
    """Environment for running scripts/stack.sh against the suite's stack."""
    e = dict(os.environ)
    if env.get("BACKUPD_STACK_DIR") and not e.get("BACKUPD_STACK_DIR"):
        e["BACKUPD_STACK_DIR"] = env["BACKUPD_STACK_DIR"]
    return e


def run_stack(env, *args, timeout=120):
    return subprocess.run([str(STACK_SH), *args], cwd=str(REPO),
                          env=stack_cmd_env(env), capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def env():
    """KEY=value lines of `scripts/stack.sh env`, plus LOCAL_ROOT."""
    if not STACK_SH.exists():
        pytest.fail("scripts/stack.sh does not exist")
    r = subprocess.run([str(STACK_SH), "env"], cwd=str(REPO),
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        pytest.fail("scripts/stack.sh env failed (%d): %s"
                    % (r.returncode, r.stderr.strip()[-2000:]))
    e = _parse_env_lines(r.stdout)
    for k in ("BACKUPD_URL", "BACKUPD_JWT_KEY", "BACKUPD_DB_SOCKET",
              "BACKUPD_DB_NAME"):
        if not e.get(k):
            pytest.fail("scripts/stack.sh env does not print %s" % k)
    if not e.get("BACKUPD_STACK_DIR") and os.environ.get("BACKUPD_STACK_DIR"):
        e["BACKUPD_STACK_DIR"] = os.environ["BACKUPD_STACK_DIR"]
    roots = (os.environ.get("BACKUPD_LOCAL_ROOTS")
             or e.get("BACKUPD_LOCAL_ROOTS")
             or (_local_roots_from_config(e["BACKUPD_CONFIG"])
                 if e.get("BACKUPD_CONFIG") else None))
    if not roots:
        pytest.fail("BACKUPD_LOCAL_ROOTS is not set (scripts/integration.sh "
                    "exports it)")
    root = roots.split(",")[0].strip()
    if not os.path.isabs(root) or not os.path.isdir(root):
        pytest.fail("local root %r is not an existing absolute directory"
                    % root)
    e["LOCAL_ROOT"] = root
    e["BACKUPD_URL"] = e["BACKUPD_URL"].rstrip("/")
    return e


# -------------------------------------------------------------------- SQL

def sql_quote(v):
    if v is None:
        return "NULL"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    s = str(v).replace("\\", "\\\\").replace("'", "\\'")
    return "'%s'" % s


def _mariadb_base(env, prog="mariadb"):
    cmd = [prog, "--socket=%s" % env["BACKUPD_DB_SOCKET"]]
    if env.get("BACKUPD_DB_USER"):
        cmd.append("--user=%s" % env["BACKUPD_DB_USER"])
    pe = dict(os.environ)
    pe.pop("MYSQL_PWD", None)
    if env.get("BACKUPD_DB_PASSWORD"):
        pe["MYSQL_PWD"] = env["BACKUPD_DB_PASSWORD"]
    return cmd, pe


def sql(env, query):
    """Run one or more statements; the rows of the last result as lists of
    strings (NULL reads as None)."""
    cmd, pe = _mariadb_base(env)
    cmd += ["--batch", "--skip-column-names", "--raw",
            env["BACKUPD_DB_NAME"], "-e", query]
    r = subprocess.run(cmd, env=pe, capture_output=True, text=True,
                       timeout=30)
    if r.returncode != 0:
        raise AssertionError("SQL failed: %s\n%s" % (query, r.stderr))
    rows = []
    for line in r.stdout.splitlines():
        rows.append([None if c == "NULL" else c for c in line.split("\t")])
    return rows


def mariadb_dump(env):
    cmd, pe = _mariadb_base(env, "mariadb-dump")
    cmd += ["--single-transaction", env["BACKUPD_DB_NAME"]]
    r = subprocess.run(cmd, env=pe, capture_output=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("mariadb-dump failed: %s"
                             % r.stderr.decode(errors="replace"))
    return r.stdout


@pytest.fixture(scope="session")
def db(env):
    """db(query) -> rows; a thin wrapper over sql()."""
    return lambda q: sql(env, q)


# ------------------------------------------------------------------ tokens

def b64url(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def make_token(env, org=OMIT, role=None, sub="tester", *, key=None,
               alg="HS256", headers=None, ttl=300, **claims):
    """A JWT signed with the stack's key (or `key`). role None = no role
    claim; a claim given as OMIT is left out; exp = now + ttl unless given."""
    now = int(time.time())
    payload = {"exp": now + ttl}
    if sub is not OMIT:
        payload["sub"] = sub
    if org is not OMIT:
        payload["org_id"] = org
    if role is not None and role is not OMIT:
        payload["role"] = role
    for k, v in claims.items():
        if v is OMIT:
            payload.pop(k, None)
        else:
            payload[k] = v
    k = key if key is not None else env["BACKUPD_JWT_KEY"]
    if isinstance(k, str):
        k = k.encode()
    tok = jwt.encode(payload, k, algorithm=alg, headers=headers)
    return tok.decode() if isinstance(tok, bytes) else tok


def hand_token(header, payload, key=None, sig=None):
    """Build a JWT by hand: header/payload dicts (or raw strings); signature
    HMAC-SHA256 over them with `key` unless `sig` (string) is given."""
    h = b64url(header if isinstance(header, str) else jsonlib.dumps(header))
    p = b64url(payload if isinstance(payload, str) else jsonlib.dumps(payload))
    if sig is None:
        if key is None:
            sig = ""
        else:
            k = key.encode() if isinstance(key, str) else key
            sig = b64url(hmac.new(k, ("%s.%s" % (h, p)).encode(),
                                  hashlib.sha256).digest())
    return "%s.%s.%s" % (h, p, sig)


@pytest.fixture(scope="session")
def token(env):
    """token(org=..., role=..., sub=..., **claims) -> HS256 JWT string."""
    def _token(org=OMIT, role=None, sub="tester", **kw):
        return make_token(env, org=org, role=role, sub=sub, **kw)
    return _token


# --------------------------------------------------------------------- API

_UNSET = object()


class Api:
    """A requests.Session bound to the stack's URL and one bearer token."""

    def __init__(self, base, tok=None, timeout=30):
        self.base = base
        self.tok = tok
        self.timeout = timeout
        self.s = requests.Session()
        # The token's org (for its local directory); None without one.
        self.org = None
        if tok:
            try:
                org = jwt.decode(tok, options={"verify_signature": False}
                                 ).get("org_id")
                self.org = None if org is None else str(org)
            except jwt.PyJWTError:
                pass

    def url(self, path):
        return self.base + path

    def request(self, method, path, *, json=_UNSET, data=None, headers=None,
                token=_UNSET, auth_header=_UNSET, params=None, timeout=None,
                content_type=_UNSET):
        h = {}
        tok = self.tok if token is _UNSET else token
        if auth_header is not _UNSET:
            if auth_header is not None:
                h["Authorization"] = auth_header
        elif tok:
            h["Authorization"] = "Bearer " + tok
        body = data
        if json is not _UNSET:
            body = jsonlib.dumps(json).encode()
            h["Content-Type"] = "application/json"
        if content_type is not _UNSET:
            if content_type is None:
                h.pop("Content-Type", None)
            else:
                h["Content-Type"] = content_type
        if headers:
            h.update(headers)
        r = self.s.request(method, self.url(path), data=body, headers=h,
                           params=params,
                           timeout=timeout if timeout else self.timeout,
                           allow_redirects=False)
        with _SEEN_LOCK:
            SEEN_BODIES.append(r.content)
        return r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def list(self, **params):
        r = self.get("/backup-destinations", params=params or None)
        assert r.status_code == 200, r.text
        body = r.json()
        assert isinstance(body, list), body
        return body

    def create(self, body, expect=201):
        r = self.post("/backup-destinations", json=body)
        assert r.status_code == expect, (r.status_code, r.text)
        return r

    def create_local(self, env, name=None):
        """Create a valid local destination; returns the response body."""
        r = self.create(local_body(env, name, org=self.org))
        return r.json()

    def close(self):
        self.s.close()


def new_org():
    return "org-" + str(uuid.uuid4())


def uname(prefix="dest"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def org_dir(env, org):
    """The organization's directory under the local root, {root}/{org}
    (local_per_org, on by default), created writable by the service."""
    assert org, "local destinations live under {root}/{org}: name the org"
    d = os.path.join(env["LOCAL_ROOT"], org)
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o777)
    return d


def fresh_dir(env, org):
    """A new empty directory in org's directory under the local root,
    writable by the service."""
    d = tempfile.mkdtemp(prefix="it-", dir=org_dir(env, org))
    os.chmod(d, 0o777)
    return d


def org_of(tok):
    """The org_id claim of a token (as a string), for its local directory."""
    org = jwt.decode(tok, options={"verify_signature": False})["org_id"]
    return str(org)


def missing_dir(env, org):
    """A path in org's directory under the local root that does not
    exist."""
    return os.path.join(org_dir(env, org), "missing-" + uuid.uuid4().hex)


def local_body(env, name=None, path=None, org=None):
    """A local destination; without `path`, a fresh directory of `org`."""
    return {"name": name or uname(),
            "destinationType": "local",
            "config": {"path": path or fresh_dir(env, org)}}


@pytest.fixture
def org():
    return new_org()


@pytest.fixture
def make_api(env, token):
    """make_api(org=None, role=None, sub="tester", tok=...) -> Api."""
    made = []

    def _make(org=None, role=None, sub="tester", tok=_UNSET, **claims):
        if tok is _UNSET:
            tok = token(org=org or new_org(), role=role, sub=sub, **claims)
        a = Api(env["BACKUPD_URL"], tok)
        made.append(a)
        return a
    yield _make
    for a in made:
        a.close()


@pytest.fixture
def api(make_api, org):
    """An admin (no role claim) of this test's own organization."""
    return make_api(org=org)


@pytest.fixture
def loopback_listeners():
    """(v4, v6): silent listeners on 127.0.0.1 and ::1 (same port; v6 None
    when this host has no ::1). A connection the probe opened to any
    loopback spelling lands here. One pair per test, so a count of 0 is
    about this test only, whatever ran before it."""
    from probe_helpers import Tripwire  # it imports this module
    trip = Tripwire()
    try:
        yield trip.v4, trip.v6
    finally:
        trip.close()


# ----------------------------------------------------------------- asserts

def assert_problem(r, status, *, www_auth=None):
    """r is an RFC 9457 problem with this status; returns the parsed body."""
    assert r.status_code == status, (r.status_code, r.text[:2000])
    ct = r.headers.get("Content-Type", "")
    assert ct.split(";")[0].strip().lower() == "application/problem+json", \
        "content-type %r for %d: %s" % (ct, status, r.text[:500])
    body = r.json()
    assert isinstance(body, dict), body
    assert body.get("status") == status, body
    assert isinstance(body.get("title"), str) and body["title"], body
    assert isinstance(body.get("type"), str) and body["type"], body
    assert isinstance(body.get("detail"), str), body
    rid = body.get("requestId")
    assert isinstance(rid, str) and rid, body
    assert r.headers.get("X-Request-Id") == rid, \
        (r.headers.get("X-Request-Id"), rid)
    if status == 401:
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), \
            r.headers
    return body


def error_pointers(problem):
    errs = problem.get("errors")
    assert isinstance(errs, list) and errs, problem
    for e in errs:
        assert isinstance(e.get("pointer"), str), e
        assert isinstance(e.get("message"), str) and e["message"], e
    return [e["pointer"] for e in errs]


def assert_rfc3339(s, near_now=True):
    assert isinstance(s, str) and RFC3339.match(s), s
    t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    assert t.tzinfo is not None
    if near_now:
        delta = abs((dt.datetime.now(dt.timezone.utc) - t).total_seconds())
        assert delta < 600, "timestamp %s is %ds away from now" % (s, delta)
    return t


def assert_test_result(tr, ok=True):
    assert isinstance(tr, dict), tr
    assert tr.get("ok") is ok, tr
    assert_rfc3339(tr.get("testedAt"))
    if "latencyMs" in tr:
        assert isinstance(tr["latencyMs"], int) and tr["latencyMs"] >= 0, tr
    checks = tr.get("checks")
    assert isinstance(checks, list) and checks, tr
    idx = []
    for c in checks:
        assert c.get("name") in CHECK_NAMES, c
        assert isinstance(c.get("ok"), bool), c
        if "detail" in c:
            assert isinstance(c["detail"], str), c
        idx.append(CHECK_NAMES.index(c["name"]))
    assert idx == sorted(idx) and len(set(idx)) == len(idx), \
        "checks out of order: %r" % [c["name"] for c in checks]
    if ok:
        assert all(c["ok"] for c in checks), tr
    else:
        assert any(not c["ok"] for c in checks), tr
    if "warnings" in tr:
        assert isinstance(tr["warnings"], list), tr
    return [c["name"] for c in checks]


def assert_destination(d):
    """Shape of a Destination (any type)."""
    assert isinstance(d, dict), d
    assert isinstance(d.get("id"), str) and UUID_RE.match(d["id"]), d
    assert isinstance(d.get("name"), str) and d["name"], d
    assert d.get("destinationType") in DEST_TYPES, d
    assert isinstance(d.get("config"), dict), d
    assert d.get("status") in ("active", "pending_authorization", "error"), d
    assert "lastTest" in d, d
    assert isinstance(d.get("activeScheduleCount"), int) \
        and d["activeScheduleCount"] >= 0, d
    assert_rfc3339(d.get("createdAt"))
    assert_rfc3339(d.get("updatedAt"))
    return d


def etag_of(r):
    e = r.headers.get("ETag")
    assert e and STRONG_ETAG.match(e), "ETag %r" % e
    return e


def wait_for(pred, timeout=5.0, interval=0.1):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(interval)


# ------------------------------------------------------------- no egress

@pytest.fixture(scope="session", autouse=True)
def no_egress():
    """Blackhole routes for every non-local address the tests name, and the
    real-world names they use resolving to a blackholed address, for the
    whole run (egress_guard.py): nothing leaves even if the egress policy
    under test is broken."""
    import egress_guard
    if os.geteuid() != 0:
        pytest.fail("the suite needs root: it adds blackhole routes and "
                    "/etc/hosts entries so that nothing leaves the machine")
    errors = egress_guard.enter()
    try:
        if errors:
            pytest.fail("could not blackhole: %s" % "; ".join(errors))
        yield egress_guard
    finally:
        egress_guard.leave()


# ------------------------------------------------------------ skip guard

# A skipped test proves nothing, and a skip that depends on who runs the
# suite (root or not, which packages, which network) lets `make test` pass
# while proving less than it claims. A test that cannot run here fails with
# the reason instead. The only skips allowed are listed here, by node id
# prefix, each with the reason it does not depend on the machine or user;
# any other skip fails the run (pytest_sessionfinish below).
ALLOWED_SKIPS = {
    # "tests/integration/test_x.py::test_y": "why this skip is fine",
}
_UNEXPECTED_SKIPS = []


def _skip_allowed(nodeid):
    return any(nodeid == k or nodeid.startswith(k + "[")
               or nodeid.startswith(k + "::") for k in ALLOWED_SKIPS)


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail") \
            and not _skip_allowed(report.nodeid):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) \
            else str(report.longrepr)
        _UNEXPECTED_SKIPS.append((report.nodeid, reason))


def pytest_terminal_summary(terminalreporter):
    if _UNEXPECTED_SKIPS:
        tr = terminalreporter
        tr.section("skips that are not allowed (conftest ALLOWED_SKIPS)",
                   red=True)
        for nodeid, reason in _UNEXPECTED_SKIPS:
            tr.line("%s: %s" % (nodeid, reason), red=True)


def pytest_sessionfinish(session, exitstatus):
    if _UNEXPECTED_SKIPS and exitstatus == 0:
        session.exitstatus = 1


# ------------------------------------------------------------ crash check

@pytest.fixture
def deaths_expected(env):
    """For a test that makes the stack's own workers die on purpose: call
    deaths_expected(label) as a context manager around what it does; the
    markers it writes into the service's log tell scripts/integration.sh's
    crash check (crash_check.py) that the deaths in between are wanted."""
    import contextlib

    import crash_check

    @contextlib.contextmanager
    def _window(label):
        with open(env["BACKUPD_LOG"], "a") as f:
            f.write('{"msg":"%s%s"}\n' % (crash_check.BEGIN, label))
        try:
            yield
        finally:
            time.sleep(0.5)  # the master's "died" line comes after the death
            with open(env["BACKUPD_LOG"], "a") as f:
                f.write('{"msg":"%s%s"}\n' % (crash_check.END, label))
    return _window
