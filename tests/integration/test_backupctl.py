"""backupctl, the operator tool (DESIGN.md "Secrets", "Configuration"):
check-config names the bad key and never prints a secret; token mints a JWT
the service accepts; migrate is re-runnable; keygen + rekey re-encrypt every
row under the newest key while the service keeps serving, and a keyring that
lacks a key in use stops rekey before it changes anything.

backupctl runs against the stack's config (BACKUPD_CONFIG from `stack.sh
env`) or a copy of it in a temporary directory. The rekey test appends a key
to the stack's keyring and sends SIGHUP to the stack's master so its workers
load the new ring (DESIGN.md: SIGHUP reloads the config and replaces the
workers); everything else leaves the shared stack alone.
"""

import base64
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import jwt
import pytest

from conftest import (REPO, Api, assert_problem, local_body, make_token,
                      new_org, sql_quote, wait_for)
from fcgi_client import proc_alive, proc_children

LIST = "/backup-destinations"
BIN_DIR = Path(os.environ.get("BACKUPD_BIN_DIR") or REPO / "build")
BACKUPCTL = BIN_DIR / "backupctl"

SENTINEL = "S3ntinel-" + uuid.uuid4().hex


def ctl(*args, config=None, drop=(), extra_env=None, timeout=120):
    """Run backupctl [-c config] args... from the repository root."""
    e = dict(os.environ)
    e.pop("BACKUPD_CONFIG", None)
    for k in drop:
        e.pop(k, None)
    if extra_env:
        e.update(extra_env)
    cmd = [str(BACKUPCTL)] + (["-c", str(config)] if config else []) \
        + [str(a) for a in args]
    return subprocess.run(cmd, env=e, cwd=str(REPO), capture_output=True,
                          text=True, timeout=timeout)


def config_value(path, key):
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line.startswith("#") or "=" not in line:
            continue
        k, v = line.split("=", 1)
        if k.strip() == key:
            v = v.strip()
            if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
                v = v[1:-1]
            return v
    return None


def write_config(path, text):
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w") as fh:
        fh.write(text)
    return str(path)


def config_with(env, dest, set_keys=None, extra_lines=()):
    """A copy of the stack's config at dest: keys in set_keys replaced (or
    appended), extra_lines appended verbatim. Returns (path, lines)."""
    set_keys = dict(set_keys or {})
    out = []
    for line in Path(env["BACKUPD_CONFIG"]).read_text().splitlines():
        s = line.strip()
        if s and not s.startswith("#") and "=" in s:
            k = s.split("=", 1)[0].strip()
            if k in set_keys:
                out.append("%s = %s" % (k, set_keys.pop(k)))
                continue
        out.append(line)
    for k, v in set_keys.items():
        out.append("%s = %s" % (k, v))
    out.extend(extra_lines)
    return write_config(dest, "\n".join(out) + "\n"), out


def keyring_path(env):
    return os.environ.get("BACKUPD_KEYRING_FILE") or \
        config_value(env["BACKUPD_CONFIG"], "keyring_file")


def key_ids(path):
    ids = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            ids.append(line.split()[0])
    return ids


def key_material(path):
    return [line.split()[1] for line in Path(path).read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def stack_master(env):
    pidfile = Path(env["BACKUPD_STACK_DIR"]) / "run" / "backupd.pid"
    return int(pidfile.read_text().split()[0])


def blob_key_id(hexblob):
    """vault.h: 0x01 || key_id_len || key_id || nonce(24) || box."""
    raw = bytes.fromhex(hexblob)
    assert raw[0] == 1, raw[:4]
    return raw[2:2 + raw[1]].decode()


@pytest.fixture
def tmpdir_short():
    d = tempfile.mkdtemp(prefix="bdctl-", dir="/tmp")
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


# ----------------------------------------------------------- check-config

def test_check_config_accepts_the_stack_config(env):
    r = ctl("check-config", config=env["BACKUPD_CONFIG"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "config ok"
    # the same through $BACKUPD_CONFIG
    r = ctl("check-config",
            extra_env={"BACKUPD_CONFIG": env["BACKUPD_CONFIG"]})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "config ok"
    # nothing secret on the way
    out = r.stdout + r.stderr
    for k in ("db_password", "jwt_key"):
        v = config_value(env["BACKUPD_CONFIG"], k)
        if v:
            assert v not in out


def test_check_config_names_an_unknown_key_and_its_line(env, tmpdir_short):
    path, lines = config_with(env, tmpdir_short / "c.conf",
                              extra_lines=["frobnicate = 1"])
    r = ctl("check-config", config=path)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "config ok" not in r.stdout
    assert "frobnicate" in r.stderr, r.stderr
    assert "%s:%d:" % (path, len(lines)) in r.stderr, r.stderr
    assert "unknown key" in r.stderr


@pytest.mark.parametrize("key,value", [
    ("workers", "0"),
    ("workers", "many"),
    ("max_requests", "-1"),
    ("request_timeout", "0"),
    ("max_body", "10"),
    ("listen", "relative.sock"),
    ("jwt_alg", "none"),
    ("egress_deny", "10.0.0.0/33"),
    ("local_roots", "relative/dir"),
    ("settings_url", "not a url"),
])
def test_check_config_names_the_key_with_a_bad_value(env, tmpdir_short, key,
                                                     value):
    path, lines = config_with(env, tmpdir_short / "c.conf", {key: value})
    r = ctl("check-config", config=path)
    assert r.returncode == 1, (key, value, r.stdout, r.stderr)
    assert "config ok" not in r.stdout
    assert "'%s'" % key in r.stderr, r.stderr
    lineno = [i for i, l in enumerate(lines, 1)
              if l.startswith(key + " =")][0]
    assert "%s:%d:" % (path, lineno) in r.stderr, r.stderr


def test_check_config_names_a_bad_environment_override(env):
    r = ctl("check-config", config=env["BACKUPD_CONFIG"],
            extra_env={"BACKUPD_WORKERS": "0"})
    assert r.returncode == 1, r.stdout
    assert "BACKUPD_WORKERS" in r.stderr, r.stderr


def test_check_config_duplicate_key(env, tmpdir_short):
    path, lines = config_with(env, tmpdir_short / "c.conf",
                              extra_lines=["workers = 2"])
    r = ctl("check-config", config=path)
    assert r.returncode == 1
    assert "'workers'" in r.stderr and "duplicate" in r.stderr, r.stderr


def test_check_config_missing_keyring_names_it(env, tmpdir_short):
    missing = str(tmpdir_short / "no-such-keyring")
    path, _ = config_with(env, tmpdir_short / "c.conf",
                          {"keyring_file": missing})
    r = ctl("check-config", config=path, drop=("BACKUPD_KEYRING_FILE",))
    assert r.returncode == 1, r.stdout
    # It names both the key and the file it could not read.
    assert "keyring_file" in r.stderr and missing in r.stderr, r.stderr


# Each case: config changes that hold the sentinel and break the file.
SECRET_CASES = {
    "password-then-broken-line": (
        {"db_password": SENTINEL}, ["this line is not a setting"]),
    "password-then-unknown-key": (
        {"db_password": SENTINEL}, ["frobnicate = 1"]),
    "duplicate-password": (
        {"db_password": SENTINEL}, ["db_password = " + SENTINEL + "2"]),
    "unterminated-quoted-password": (
        {"db_password": '"' + SENTINEL}, []),
    "jwt-key-then-bad-value": (
        {"jwt_key": SENTINEL, "workers": "0"}, []),
    "jwt-key-not-a-pem-for-rs256": (
        {"jwt_key": SENTINEL, "jwt_alg": "RS256"}, []),
    "client-secrets-then-broken": (
        {"google_client_secret": SENTINEL,
         "microsoft_client_secret": SENTINEL}, ["=oops"]),
}


@pytest.mark.parametrize("case", sorted(SECRET_CASES))
def test_check_config_never_prints_a_secret(env, tmpdir_short, case):
    changes, extra = SECRET_CASES[case]
    path, _ = config_with(env, tmpdir_short / "c.conf", changes, extra)
    r = ctl("check-config", config=path,
            drop=("BACKUPD_JWT_KEY", "BACKUPD_DB_PASSWORD",
                  "BACKUPD_WORKERS", "BACKUPD_JWT_ALG"))
    assert r.returncode == 1, (case, r.stdout, r.stderr)
    out = r.stdout + r.stderr
    assert SENTINEL not in out, out
    assert SENTINEL[:12] not in out, out
    assert r.stderr.strip(), "no reason given"


def test_check_config_never_prints_key_material(env, tmpdir_short):
    """A keyring line with a key of the wrong length is an error that does
    not show the key."""
    bad = base64.b64encode((SENTINEL * 2).encode()[:31]).decode()
    ring = tmpdir_short / "ring"
    write_config(ring, "k1 %s\n" % bad)
    path, _ = config_with(env, tmpdir_short / "c.conf",
                          {"keyring_file": str(ring)})
    r = ctl("check-config", config=path, drop=("BACKUPD_KEYRING_FILE",))
    assert r.returncode == 1, r.stdout
    out = r.stdout + r.stderr
    assert bad not in out and bad[:16] not in out, out


# ------------------------------------------------------------------ token

def test_token_is_accepted_by_the_service(env):
    org = new_org()
    r = ctl("token", "--org", org, "--sub", "ctl-user", "--ttl", "120",
            config=env["BACKUPD_CONFIG"])
    assert r.returncode == 0, r.stderr
    tok = r.stdout.strip()
    assert tok.count(".") == 2 and "\n" not in tok, r.stdout
    claims = jwt.decode(tok, env["BACKUPD_JWT_KEY"].encode(),
                        algorithms=["HS256"])
    assert claims["org_id"] == org and claims["sub"] == "ctl-user"
    assert 0 < claims["exp"] - time.time() <= 125

    api = Api(env["BACKUPD_URL"], tok)
    try:
        r = api.get(LIST)
        assert r.status_code == 200, r.text
        assert r.json() == []
        assert api.create(local_body(env, org=api.org)).status_code == 201
    finally:
        api.close()

    # a viewer token: reads, cannot write
    r = ctl("token", "--org", org, "--role", "viewer",
            config=env["BACKUPD_CONFIG"])
    assert r.returncode == 0, r.stderr
    viewer = Api(env["BACKUPD_URL"], r.stdout.strip())
    try:
        assert len(viewer.list()) == 1
        assert_problem(viewer.post(LIST, json=local_body(env, org=viewer.org)), 403)
    finally:
        viewer.close()


@pytest.mark.parametrize("args", [
    ["token"],
    ["token", "--org", "o", "--ttl", "0"],
    ["token", "--org", "o", "--ttl", "abc"],
    ["token", "--org", "o", "stray"],
])
def test_token_usage_errors(env, args):
    r = ctl(*args, config=env["BACKUPD_CONFIG"])
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert r.stdout == ""


# ---------------------------------------------------------------- migrate

def _migrations(db):
    return db("SELECT version, name, applied_at FROM schema_migrations "
              "ORDER BY version")


def test_migrate_twice_applies_nothing(env, db):
    before = _migrations(db)
    files = sorted(p.name for p in (REPO / "sql").glob("[0-9][0-9][0-9]_*.sql"))
    assert [int(r[0]) for r in before] == [1] + [int(f[:3]) for f in files]

    r1 = ctl("migrate", "sql", config=env["BACKUPD_CONFIG"])
    assert r1.returncode == 0, r1.stderr
    # the stack ran scripts/migrate.sh: backupctl agrees nothing is pending
    assert "0 migration(s) applied" in r1.stderr, r1.stderr
    r2 = ctl("migrate", "sql", config=env["BACKUPD_CONFIG"])
    assert r2.returncode == 0, r2.stderr
    assert "0 migration(s) applied" in r2.stderr, r2.stderr
    assert "applying" not in r2.stderr
    assert _migrations(db) == before


def _admin(env, query):
    """Run SQL as the OS user over the stack's socket (unix_socket auth,
    as scripts/stack.sh does); None when that is not possible."""
    r = subprocess.run(["mariadb", "--no-defaults",
                        "--socket=%s" % env["BACKUPD_DB_SOCKET"],
                        "--batch", "--skip-column-names", "-e", query],
                       capture_output=True, text=True, timeout=30)
    return r if r.returncode == 0 else None


@pytest.fixture
def scratch_db(env):
    """An empty database the service's DB user may use; dropped after."""
    name = "bdmig_%s" % uuid.uuid4().hex[:10]
    user = env.get("BACKUPD_DB_USER") or "backupd"
    if _admin(env, "CREATE DATABASE `%s`; GRANT ALL PRIVILEGES ON `%s`.* "
              "TO %s@'localhost'" % (name, name, sql_quote(user))) is None:
        # Not a skip: the stack is made by scripts/stack.sh as this very
        # user, with unix_socket authentication, so this always works where
        # `make test` runs; when it does not, the migration tests did not
        # run and the run must say so.
        r = subprocess.run(["mariadb", "--no-defaults",
                            "--socket=%s" % env["BACKUPD_DB_SOCKET"],
                            "-e", "SELECT 1"],
                           capture_output=True, text=True, timeout=30)
        pytest.fail("no administrative access to the stack's MariaDB as "
                    "this OS user (unix_socket): %s" % r.stderr.strip())
    yield name
    _admin(env, "DROP DATABASE IF EXISTS `%s`" % name)


def test_migrate_a_fresh_database_then_again(env, scratch_db):
    files = sorted(p.name for p in (REPO / "sql").glob("[0-9][0-9][0-9]_*.sql"))
    over = {"BACKUPD_DB_NAME": scratch_db}
    r = ctl("migrate", "sql", config=env["BACKUPD_CONFIG"], extra_env=over)
    assert r.returncode == 0, r.stderr
    assert "%d migration(s) applied" % len(files) in r.stderr, r.stderr
    for f in files:
        assert "applying %s" % f in r.stderr
    rows = _admin(env, "SELECT version, name FROM `%s`.schema_migrations "
                  "ORDER BY version" % scratch_db).stdout.split("\n")
    assert [x.split("\t")[0] for x in rows if x] == \
        ["1"] + [str(int(f[:3])) for f in files]
    tables = _admin(env, "SHOW TABLES FROM `%s`" % scratch_db).stdout.split()
    for t in ("backup_destinations", "backup_schedules", "oauth_states",
              "audit_log", "schema_migrations"):
        assert t in tables, tables

    r = ctl("migrate", "sql", config=env["BACKUPD_CONFIG"], extra_env=over)
    assert r.returncode == 0, r.stderr
    assert "0 migration(s) applied" in r.stderr, r.stderr


def test_concurrent_migrations_serialise(env, scratch_db):
    over = dict(os.environ, BACKUPD_DB_NAME=scratch_db)
    over.pop("BACKUPD_CONFIG", None)
    procs = [subprocess.Popen([str(BACKUPCTL), "-c", env["BACKUPD_CONFIG"],
                               "migrate", "sql"], env=over, cwd=str(REPO),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    applied = [int(re.search(r"(\d+) migration\(s\) applied", e).group(1))
               for _, e in outs]
    files = list((REPO / "sql").glob("[0-9][0-9][0-9]_*.sql"))
    assert sorted(applied) == [0, 0, len(files)], outs
    n = _admin(env, "SELECT COUNT(*), COUNT(DISTINCT version) FROM "
               "`%s`.schema_migrations" % scratch_db).stdout.split()
    assert n == [str(len(files) + 1)] * 2


def test_migrate_missing_directory_fails(env, tmpdir_short):
    r = ctl("migrate", str(tmpdir_short / "nope"),
            config=env["BACKUPD_CONFIG"])
    assert r.returncode == 1
    assert "nope" in r.stderr


# ------------------------------------------------------------ keygen/rekey

def test_keygen_creates_and_appends(tmpdir_short):
    ring = tmpdir_short / "ring"
    r = ctl("keygen", "--keyring", ring, "--id", "first")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "key first appended to %s" % ring
    assert os.stat(ring).st_mode & 0o777 == 0o600
    r = ctl("keygen", "--keyring", ring)
    assert r.returncode == 0, r.stderr
    ids = key_ids(ring)
    assert ids[0] == "first" and len(ids) == 2
    for k in key_material(ring):
        assert len(base64.b64decode(k)) == 32
        assert k not in r.stdout + r.stderr
    # an id already in the ring, and a bad id, are refused
    r = ctl("keygen", "--keyring", ring, "--id", "first")
    assert r.returncode == 1 and "first" in r.stderr
    r = ctl("keygen", "--keyring", ring, "--id", "bad id!")
    assert r.returncode == 1
    assert key_ids(ring) == ids


def _rows(db):
    return db("SELECT id, org_id, key_id, HEX(config_ciphertext), version "
              "FROM backup_destinations ORDER BY id")


def _replaced(master, old, n):
    def check():
        w = proc_children(master)
        return w if len(w) >= n and not set(w) & set(old) else None
    return check


def test_keygen_and_rekey_while_the_service_runs(env, db):
    org = new_org()
    tok = make_token(env, org=org)
    api = Api(env["BACKUPD_URL"], tok)
    dests = [api.create_local(env) for _ in range(6)]
    by_id = {d["id"]: d for d in dests}
    keyring = keyring_path(env)
    assert keyring and os.path.isfile(keyring), keyring
    old_ids = key_ids(keyring)
    before = {r[0]: r for r in _rows(db)}
    for d in dests:
        assert before[d["id"]][2] == old_ids[-1]

    # keygen: a new last line, which becomes the sealing key
    r = ctl("keygen", "--keyring", keyring)
    assert r.returncode == 0, r.stderr
    m = re.fullmatch(r"key (\S+) appended to (.+)", r.stdout.strip())
    assert m and m.group(2) == keyring, r.stdout
    new_id = m.group(1)
    assert key_ids(keyring) == old_ids + [new_id]
    assert os.stat(keyring).st_mode & 0o077 == 0
    for k in key_material(keyring):
        assert k not in r.stdout + r.stderr

    # SIGHUP: the workers are replaced by ones that hold the new ring
    master = stack_master(env)
    assert proc_alive(master)
    old_workers = proc_children(master)
    assert old_workers
    os.kill(master, signal.SIGHUP)
    new_workers = wait_for(_replaced(master, old_workers, len(old_workers)),
                           timeout=10)
    assert new_workers, (old_workers, proc_children(master))
    assert wait_for(lambda: not any(proc_alive(w) for w in old_workers),
                    timeout=10)

    # rekey while a client keeps reading and writing those destinations
    stop = threading.Event()
    failures, done = [], []

    def load(seed):
        a = Api(env["BACKUPD_URL"], tok)
        i = seed
        try:
            while not stop.is_set():
                d = dests[i % len(dests)]
                path = "%s/%s" % (LIST, d["id"])
                g = a.get(path)
                if g.status_code != 200 or g.json()["config"] != d["config"]:
                    failures.append(("GET", g.status_code, g.text[:200]))
                lst = a.get(LIST)
                if lst.status_code != 200 or len(lst.json()) != len(dests):
                    failures.append(("LIST", lst.status_code, lst.text[:200]))
                p = a.put(path, json={"name": d["name"],
                                      "destinationType": "local",
                                      "config": d["config"]})
                if p.status_code != 200:
                    failures.append(("PUT", p.status_code, p.text[:200]))
                done.append(i)
                i += 1
        except Exception as e:  # noqa: BLE001 - a failure like any other
            failures.append(("exception", repr(e)))
        finally:
            a.close()

    threads = [threading.Thread(target=load, args=(k,), daemon=True)
               for k in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        r = ctl("rekey", config=env["BACKUPD_CONFIG"])
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert r.returncode == 0, r.stderr
    assert "under key '%s'" % new_id in r.stderr, r.stderr
    for k in key_material(keyring):
        assert k not in r.stdout + r.stderr
    assert not failures, failures[:5]
    assert len(done) >= 6, len(done)

    # every row uses the new key, in its column and in its blob
    rows = _rows(db)
    assert rows
    assert {x[2] for x in rows} == {new_id}, {x[2] for x in rows}
    for x in rows:
        assert blob_key_id(x[3]) == new_id
        if x[0] in before and before[x[0]][2] != new_id:
            assert x[3] != before[x[0]][3], "ciphertext unchanged: %s" % x[0]
    # rekey does not touch versions: ETags of rows nobody wrote stay valid
    untouched = [x for x in rows if x[0] in before and x[0] not in by_id]
    for x in untouched:
        assert x[4] == before[x[0]][4]

    # every destination still reads back with its config
    for d in dests:
        g = api.get("%s/%s" % (LIST, d["id"]))
        assert g.status_code == 200, g.text
        assert g.json()["config"] == d["config"]
        assert g.json()["name"] == d["name"]

    # a new destination is sealed with the new key
    nd = api.create_local(env)
    row = db("SELECT key_id FROM backup_destinations WHERE id = %s"
             % sql_quote(nd["id"]))
    assert row == [[new_id]]

    # nothing left to do
    r = ctl("rekey", config=env["BACKUPD_CONFIG"])
    assert r.returncode == 0, r.stderr
    assert "0 destination(s) re-encrypted" in r.stderr, r.stderr
    api.close()


def test_rekey_with_a_missing_key_changes_nothing(env, db, tmpdir_short):
    api = Api(env["BACKUPD_URL"], make_token(env, org=new_org()))
    try:
        api.create_local(env)
        api.create_local(env)
    finally:
        api.close()
    ring = tmpdir_short / "ring"
    r = ctl("keygen", "--keyring", ring, "--id",
            "fresh-" + uuid.uuid4().hex[:8])
    assert r.returncode == 0, r.stderr
    conf, _ = config_with(env, tmpdir_short / "c.conf",
                          {"keyring_file": str(ring)})
    before = _rows(db)
    assert before

    r = ctl("rekey", config=conf, drop=("BACKUPD_KEYRING_FILE",))
    assert r.returncode == 1, (r.stdout, r.stderr)
    m = re.search(r"destination (\S+) does not decrypt", r.stderr)
    assert m, r.stderr
    assert m.group(1) == before[0][0], (m.group(1), before[0][0])
    assert _rows(db) == before
    out = r.stdout + r.stderr
    for k in key_material(ring) + key_material(keyring_path(env)):
        assert k not in out
    assert "re-encrypted under" not in out


def test_rekey_usage(env):
    r = ctl("rekey", "extra", config=env["BACKUPD_CONFIG"])
    assert r.returncode == 2
    r = ctl("no-such-command", config=env["BACKUPD_CONFIG"])
    assert r.returncode == 2


# ------------------------------------------------- the operator CLI (issue 12)

import json  # noqa: E402

COMMANDS = ["check-config", "config show", "config keys", "migrate",
            "keygen", "keys list", "rekey", "destinations list",
            "destinations show", "destinations test", "audit list",
            "audit prune", "token", "help", "completion"]


def test_version_and_help_exit_0():
    version = (REPO / "VERSION").read_text().strip()
    r = ctl("--version")
    assert r.returncode == 0 and r.stdout.strip() == "backupctl " + version
    r = subprocess.run([str(BIN_DIR / "backupd"), "--version"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == "backupd " + version
    r = subprocess.run([str(BIN_DIR / "backupd"), "--help"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "usage: backupd" in r.stdout
    r = ctl("--help")
    assert r.returncode == 0, r.stderr
    for c in COMMANDS:
        assert "  " + c + " " in r.stdout, c
    # Each command's own help, generated from the same table.
    for c in COMMANDS:
        r = ctl(*c.split(), "--help")
        assert r.returncode == 0, (c, r.stderr)
        assert r.stdout.startswith("usage: backupctl [-c FILE] [--json] " +
                                   c), r.stdout
    r = ctl("destinations", "--help")
    assert r.returncode == 0 and r.stdout.count("usage:") == 3
    # Usage errors: 2, on stderr.
    for args in (["nope"], ["destinations"], ["destinations", "list"],
                 ["destinations", "show", "--org", "o", "not-a-uuid"],
                 ["audit", "prune", "--older-than", "soon"],
                 ["audit", "list", "--limit", "0"], []):
        r = ctl(*args)
        assert r.returncode == 2, (args, r.returncode, r.stdout)
        assert r.stdout == "" and "usage" in r.stderr, args


def test_completion_comes_from_the_command_table():
    r = ctl("completion", "bash")
    assert r.returncode == 0
    script = r.stdout
    assert "complete -F _backupctl backupctl" in script
    for c in COMMANDS:
        assert c.split()[0] in script
    assert "'list show test '" in script
    # bash accepts it, and completes a second word from the table.
    probe = script + ('\nCOMP_WORDS=(backupctl destinations t); COMP_CWORD=2;'
                      ' _backupctl; echo "${COMPREPLY[@]}"\n')
    r = subprocess.run(["bash", "-c", probe], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and r.stdout.split() == ["test"], r


def test_config_keys_cover_the_key_table(env):
    r = ctl("--json", "config", "keys")
    assert r.returncode == 0, r.stderr   # exit 1 names an undocumented key
    keys = json.loads(r.stdout)["keys"]
    names = [k["name"] for k in keys]
    assert "db_password" in names and "listen" in names
    assert all(k["doc"] for k in keys)
    assert {k["name"] for k in keys if k["secret"]} >= {
        "db_password", "jwt_key", "google_client_secret",
        "microsoft_client_secret"}
    conf = ctl("config", "keys", "--format", "conf").stdout
    for n in names:
        assert "\n#%s = " % n in conf, n
    # The example parses as a config (everything commented out).
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
        f.write(conf)
        f.flush()
        r = ctl("config", "show", config=f.name)
        assert r.returncode == 0, r.stderr


def test_config_show_redacts_secrets(env, tmpdir_short):
    conf, _ = config_with(env, tmpdir_short / "c.conf",
                          {"google_client_secret": SENTINEL})
    for args in (["config", "show"], ["--json", "config", "show"]):
        r = ctl(*args, config=conf)
        assert r.returncode == 0, r.stderr
        assert SENTINEL not in r.stdout + r.stderr
        assert "********" in r.stdout
    shown = json.loads(ctl("--json", "config", "show",
                           config=conf).stdout)["keys"]
    assert shown["google_client_secret"] == "********"
    assert shown["db_password"] == "********"
    assert shown["workers"] == 4 or isinstance(shown["workers"], int)
    assert shown["jwt_issuer"] is None


def test_secret_file_variants_and_modes(env, tmpdir_short):
    """db_password_file (LoadCredential=): read, and refused with exit 4
    (check-config) when others may read it."""
    pw = config_value(env["BACKUPD_CONFIG"], "db_password")
    secret = tmpdir_short / "db_password"
    write_config(secret, pw + "\n")
    os.chmod(secret, 0o640)
    text = "".join(l + "\n" for l in
                   Path(env["BACKUPD_CONFIG"]).read_text().splitlines()
                   if not l.startswith("db_password"))
    conf = write_config(tmpdir_short / "c.conf",
                        text + "db_password_file = %s\n" % secret)
    r = ctl("check-config", config=conf)
    assert r.returncode == 0, r.stderr
    r = ctl("--json", "migrate", "--status", config=conf)
    assert r.returncode == 0, r.stderr   # the database took the password
    assert json.loads(r.stdout)["pending"] == 0
    os.chmod(secret, 0o644)
    r = ctl("check-config", config=conf)
    assert r.returncode == 4 and str(secret) in r.stderr, r
    assert pw not in r.stdout + r.stderr
    os.chmod(secret, 0o600)
    # The config itself holds jwt_key: others may not read it.
    os.chmod(conf, 0o644)
    r = ctl("check-config", config=conf)
    assert r.returncode == 4 and conf in r.stderr, r
    os.chmod(conf, 0o600)
    ring = config_value(env["BACKUPD_CONFIG"], "keyring_file")
    ring_copy = tmpdir_short / "ring"
    shutil.copy(ring, ring_copy)
    os.chmod(ring_copy, 0o660)
    r = ctl("check-config", config=conf,
            extra_env={"BACKUPD_KEYRING_FILE": str(ring_copy)})
    assert r.returncode == 4 and "writable by its group" in r.stderr, r
    os.chmod(ring_copy, 0o640)
    r = ctl("check-config", config=conf,
            extra_env={"BACKUPD_KEYRING_FILE": str(ring_copy)})
    assert r.returncode == 0, r.stderr


def test_json_on_every_command(env, tmpdir_short):
    conf = env["BACKUPD_CONFIG"]
    ring = tmpdir_short / "ring"
    outs = {
        "check-config": ctl("--json", "check-config", config=conf),
        "keygen": ctl("keygen", "--keyring", ring, "--json"),
        "token": ctl("--json", "token", "--org", "o1", config=conf),
        "migrate": ctl("--json", "migrate", REPO / "sql", config=conf),
        "migrate --status": ctl("--json", "migrate", "--status",
                                REPO / "sql", config=conf),
        "keys list": ctl("--json", "keys", "list", config=conf),
        "destinations list": ctl("--json", "destinations", "list", "--org",
                                 new_org(), config=conf),
        "audit list": ctl("--json", "audit", "list", "--limit", "3",
                          config=conf),
        "config keys": ctl("--json", "config", "keys"),
        "config show": ctl("--json", "config", "show", config=conf),
    }
    for name, r in outs.items():
        assert r.returncode == 0, (name, r.stderr)
        json.loads(r.stdout)   # one JSON document
    assert json.loads(outs["check-config"].stdout)["ok"] is True
    assert json.loads(outs["keygen"].stdout)["keyring"] == str(ring)
    assert json.loads(outs["migrate"].stdout) == {"applied": []}
    assert json.loads(outs["destinations list"].stdout) == {"items": []}


def test_destinations_list_show_test(env, tmpdir_short):
    org = new_org()
    api = Api(env["BACKUPD_URL"], make_token(env, org=org))
    body = local_body(env, org=org)
    secret_free = api.post(LIST, json=body)
    assert secret_free.status_code == 201, secret_free.text
    d = secret_free.json()
    conf = env["BACKUPD_CONFIG"]
    r = ctl("destinations", "list", "--org", org, config=conf)
    assert r.returncode == 0 and d["id"] in r.stdout and "ok" in r.stdout
    items = json.loads(ctl("--json", "destinations", "list", "--org", org,
                           config=conf).stdout)["items"]
    assert [x["id"] for x in items] == [d["id"]]
    shown = json.loads(ctl("--json", "destinations", "show", "--org", org,
                           d["id"], config=conf).stdout)
    assert shown["config"] == d["config"] and shown["name"] == d["name"]
    # Another org does not see it.
    r = ctl("destinations", "show", "--org", new_org(), d["id"],
            config=conf)
    assert r.returncode == 1 and "no destination" in r.stderr
    # The test runs from this host and records nothing.
    before = api.get(LIST + "/" + d["id"]).json()["lastTest"]
    r = ctl("--json", "destinations", "test", "--org", org, d["id"],
            config=conf)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["test"]["ok"] is True
    assert api.get(LIST + "/" + d["id"]).json()["lastTest"] == before
    # A directory gone: the test fails, exit 3.
    os.rmdir(body["config"]["path"])
    r = ctl("--json", "destinations", "test", "--org", org, d["id"],
            config=conf)
    assert r.returncode == 3, (r.returncode, r.stderr)
    t = json.loads(r.stdout)["test"]
    assert t["ok"] is False


def test_keys_list_counts_rows(env):
    conf = env["BACKUPD_CONFIG"]
    api = Api(env["BACKUPD_URL"], make_token(env, org=new_org()))
    assert api.post(LIST, json=local_body(env, org=api.org)).status_code \
        == 201
    keys = json.loads(ctl("--json", "keys", "list", config=conf).stdout)[
        "keys"]
    current = [k for k in keys if k["current"]]
    assert len(current) == 1 and current[0]["destinations"] >= 1
    assert not current[0]["removable"]
    assert all(k["inKeyring"] for k in keys)
    total = int(subprocess.run(
        ["mariadb", "--no-defaults", "--socket=" + env["BACKUPD_DB_SOCKET"],
         "--user=" + env["BACKUPD_DB_USER"],
         "--password=" + env["BACKUPD_DB_PASSWORD"], env["BACKUPD_DB_NAME"],
         "-N", "-e", "SELECT COUNT(*) FROM backup_destinations"],
        capture_output=True, text=True, timeout=30).stdout)
    assert sum(k["destinations"] for k in keys) == total


def test_audit_list_and_prune(env):
    conf = env["BACKUPD_CONFIG"]
    org = new_org()
    api = Api(env["BACKUPD_URL"], make_token(env, org=org))
    assert api.post(LIST, json=local_body(env, org=api.org)).status_code \
        == 201
    entries = json.loads(ctl("--json", "audit", "list", "--org", org,
                             config=conf).stdout)["entries"]
    assert [e["action"] for e in entries] == ["destination.create"]
    assert entries[0]["orgId"] == org and entries[0]["outcome"] == "success"
    # Age an entry of this org only, then prune what is older than 90 days.
    subprocess.run(
        ["mariadb", "--no-defaults", "--socket=" + env["BACKUPD_DB_SOCKET"],
         "--user=" + env["BACKUPD_DB_USER"],
         "--password=" + env["BACKUPD_DB_PASSWORD"], env["BACKUPD_DB_NAME"],
         "-e", "UPDATE audit_log SET at = at - INTERVAL 91 DAY WHERE "
         "org_id = %s" % sql_quote(org)], check=True, timeout=30)
    r = ctl("--json", "audit", "prune", "--older-than", "90d", config=conf)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["deleted"] >= 1 and out["olderThanSeconds"] == 90 * 86400
    assert json.loads(ctl("--json", "audit", "list", "--org", org,
                          config=conf).stdout)["entries"] == []
