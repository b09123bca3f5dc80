"""Issue 13, reproduced against the running stack: org identity is byte
exact, the host's own addresses and the cloud metadata endpoints outside
169.254.0.0/16 are refused, local destinations live under {root}/{org},
and the nginx snippet keeps the OAuth callback's query out of the access
log.

Every test that aims a probe at a remote address first routes it into a
blackhole (removed afterwards), so nothing leaves this machine even if the
policy under test fails; the host's own address is tested with a listener
bound on this machine.
"""

import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests

from conftest import (REPO, assert_problem, local_body,
                      new_org, org_dir, sql_quote, uname)
from probe_helpers import SilentServer, detail_of, wait

LIST = "/backup-destinations"


# ------------------------------------------------------- 1. org identity

ORG_SPELLINGS = ["%s ", " %s", "%s\t", "%s\u00a0", "%s\u3000", "\ufeff%s",
                 "%s\u0085", "%s\n"]


@pytest.mark.parametrize("spelling", ORG_SPELLINGS,
                         ids=["trailing-space", "leading-space", "tab",
                              "nbsp", "ideographic-space", "bom", "nel",
                              "newline"])
def test_org_with_outer_whitespace_is_not_the_org(make_api, env, spelling):
    """A token for "acme " neither sees nor touches "acme"'s
    destinations: it is refused outright (401)."""
    org = "acme-" + uuid.uuid4().hex[:12]
    real = make_api(org=org)
    d = real.create_local(env)
    before = real.get("%s/%s" % (LIST, d["id"]))
    fake = make_api(org=spelling % org)
    path = "%s/%s" % (LIST, d["id"])
    for r in (fake.get(LIST), fake.get(path),
              fake.put(path, json={"name": d["name"],
                                   "destinationType": "local",
                                   "config": d["config"]}),
              fake.post(path + "/test"), fake.delete(path),
              fake.post(LIST, json=local_body(env, org=org))):
        assert_problem(r, 401)
    after = real.get(path)
    assert after.status_code == 200
    assert after.json() == before.json()
    assert after.headers["ETag"] == before.headers["ETag"]
    # the real org still decrypts and tests it
    t = real.post(path + "/test")
    assert t.status_code == 200, t.text
    assert [x["id"] for x in real.list()] == [d["id"]]


@pytest.mark.parametrize("sub", ["user ", " user", "user\u00a0", "us\u0085er"])
def test_sub_with_outer_whitespace_or_control_refused(make_api, sub):
    assert_problem(make_api(sub=sub).get(LIST), 401)


def test_inner_space_and_non_ascii_org_accepted(make_api, env):
    a = make_api(org="Acme Corp \u00e9-" + uuid.uuid4().hex[:6])
    assert a.get(LIST).status_code == 200


def test_integer_org_claim_is_its_decimal_string(make_api, env, token):
    n = random.randint(10 ** 12, 10 ** 13)
    as_int = make_api(tok=token(org=n))
    as_str = make_api(tok=token(org=str(n)))
    r = as_int.create({"name": uname(), "destinationType": "google_drive",
                       "config": {}})
    d = r.json()
    g = as_str.get("%s/%s" % (LIST, d["id"]))
    assert g.status_code == 200 and g.json()["id"] == d["id"]
    assert_problem(make_api(tok=token(org=str(n) + " ")).get(LIST), 401)


def test_org_columns_are_byte_exact(db):
    """Every org_id column this service owns compares bytes (NO PAD)."""
    rows = db("SELECT TABLE_NAME, COLLATION_NAME FROM information_schema."
              "COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME = "
              "'org_id' ORDER BY TABLE_NAME")
    got = dict((t, c) for t, c in rows)
    for t in ("audit_log", "backup_destinations", "oauth_states"):
        assert got.get(t) == "utf8mb4_nopad_bin", got
    name = db("SELECT COLLATION_NAME FROM information_schema.COLUMNS WHERE "
              "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = "
              "'backup_destinations' AND COLUMN_NAME = 'name'")
    assert name == [["utf8mb4_bin"]], name


def test_row_of_a_padded_org_is_not_visible(make_api, env, db):
    """A row stored for org "acme " (say by an earlier version, or another
    writer) is not org "acme"'s: not listed, not readable, not deletable;
    and a schedule of "acme " does not count for "acme"."""
    org = "acme-" + uuid.uuid4().hex[:12]
    api = make_api(org=org)
    mine = api.create_local(env)
    other = str(uuid.uuid4())
    db("INSERT INTO backup_destinations (id, org_id, name, destination_type,"
       " config_ciphertext, key_id, status, created_at, updated_at) SELECT "
       "%s, %s, %s, destination_type, config_ciphertext, key_id, status, "
       "created_at, updated_at FROM backup_destinations WHERE id = %s"
       % (sql_quote(other), sql_quote(org + " "), sql_quote(uname("pad")),
          sql_quote(mine["id"])))
    db("INSERT INTO backup_schedules (id, org_id, destination_id, name, "
       "active) VALUES (%s, %s, %s, 'padded', 1)"
       % (sql_quote(str(uuid.uuid4())), sql_quote(org + " "),
          sql_quote(mine["id"])))
    try:
        assert [x["id"] for x in api.list()] == [mine["id"]]
        assert_problem(api.get("%s/%s" % (LIST, other)), 404)
        assert_problem(api.delete("%s/%s" % (LIST, other)), 404)
        g = api.get("%s/%s" % (LIST, mine["id"]))
        assert g.json()["activeScheduleCount"] == 0, g.json()
        # and the same name may exist once per byte-distinct org
        assert db("SELECT COUNT(*) FROM backup_destinations WHERE id = %s"
                  % sql_quote(other)) == [["1"]]
        assert api.delete("%s/%s" % (LIST, mine["id"])).status_code == 200
        assert db("SELECT COUNT(*) FROM backup_schedules WHERE "
                  "CAST(org_id AS BINARY) = %s" % sql_quote(org + " ")
                  ) == [["1"]]
    finally:
        db("DELETE FROM backup_destinations WHERE id = %s" % sql_quote(other))
        db("DELETE FROM backup_schedules WHERE destination_id = %s"
           % sql_quote(mine["id"]))


# --------------------------------------- 2. the host's own addresses

def _own_addresses():
    """This machine's non-loopback, non-link-local addresses (ip -o addr)."""
    out = subprocess.run(["ip", "-o", "addr"], capture_output=True,
                         text=True, check=True).stdout
    addrs = []
    for line in out.splitlines():
        f = line.split()
        fam, cidr = f[2], f[3]
        a = cidr.split("/")[0]
        if fam == "inet" and not a.startswith("127."):
            addrs.append((socket.AF_INET, a))
        elif fam == "inet6" and a != "::1" and not a.startswith("fe80"):
            addrs.append((socket.AF_INET6, a))
    return addrs


def _reload_service(env):
    """SIGHUP the stack's backupd master: it reads its interfaces again."""
    pidf = Path(env["BACKUPD_STACK_DIR"]) / "run" / "backupd.pid"
    os.kill(int(pidf.read_text().split()[0]), 1)
    time.sleep(2)


@pytest.fixture(scope="module")
def own_addresses(env):
    """At least one IPv4 address of this machine that is not loopback; a
    dummy interface with 192.0.2.77 when the machine has none (the service
    reloads to see it; removed afterwards)."""
    addrs = _own_addresses()
    made = False
    if not any(f == socket.AF_INET for f, _ in addrs):
        subprocess.run(["ip", "link", "add", "bdtest0", "type", "dummy"],
                       check=True)
        made = True
        subprocess.run(["ip", "addr", "add", "192.0.2.77/32", "dev",
                        "bdtest0"], check=True)
        subprocess.run(["ip", "link", "set", "bdtest0", "up"], check=True)
        _reload_service(env)
        addrs = _own_addresses()
    try:
        yield addrs
    finally:
        if made:
            subprocess.run(["ip", "link", "del", "bdtest0"], check=False)
            _reload_service(env)


def _url_host(fam, a):
    return "[%s]" % a if fam == socket.AF_INET6 else a


def test_own_address_refused_and_never_connected(api, own_addresses):
    """A WebDAV probe aimed at a service bound on this host's own LAN
    address is refused by the egress policy; the listener sees nothing."""
    for fam, addr in own_addresses:
        srv = SilentServer(addr, 0, fam)
        try:
            url = "http://%s:%d/dav/" % (_url_host(fam, addr), srv.port)
            r = api.post(LIST, json={"name": uname("own"),
                                     "destinationType": "webdav",
                                     "config": {"url": url}})
            p = assert_problem(r, 422)
            assert p.get("failedCheck") == "connect", p
            assert "egress policy" in detail_of(p["lastTest"], "connect"), p
            time.sleep(0.1)
            assert srv.accepted == 0, "the probe reached %s" % addr
            # the listener does see a real connection
            with socket.create_connection((addr, srv.port), timeout=2):
                pass
            assert wait(lambda: srv.accepted == 1)
        finally:
            srv.close()
    assert api.list() == []


def test_own_address_via_0_0_0_0_listener(api, own_addresses):
    """The case of the review: a service bound to 0.0.0.0 (every address
    of the host) is not reachable through the host's LAN address."""
    fam, addr = next(x for x in own_addresses if x[0] == socket.AF_INET)
    srv = SilentServer("0.0.0.0")
    try:
        url = "http://%s:%d/" % (addr, srv.port)
        r = api.post(LIST, json={"name": uname("own"),
                                 "destinationType": "webdav",
                                 "config": {"url": url}})
        p = assert_problem(r, 422)
        assert p.get("failedCheck") == "connect", p
        assert "egress policy" in detail_of(p["lastTest"], "connect"), p
        time.sleep(0.1)
        assert srv.accepted == 0
    finally:
        srv.close()


# ---------------------------------------- 3. cloud metadata endpoints

METADATA = ["168.63.129.16", "fd00:ec2::254", "fd00:ec2::23",
            "fd20:ce::254"]


@pytest.fixture(scope="module")
def blackholed():
    """Route every metadata address into a blackhole for the module."""
    done = []
    for a in METADATA:
        cmd = ["ip"] + (["-6"] if ":" in a else []) + \
            ["route", "replace", "blackhole", a]
        if subprocess.run(cmd, capture_output=True).returncode == 0:
            done.append(a)
    try:
        yield done
    finally:
        for a in done:
            subprocess.run(["ip"] + (["-6"] if ":" in a else []) +
                           ["route", "del", "blackhole", a],
                           capture_output=True)


@pytest.mark.parametrize("addr", METADATA)
def test_metadata_endpoint_refused(api, blackholed, addr):
    if addr not in blackholed:
        pytest.skip("cannot blackhole %s here (no IPv6 routing?)" % addr)
    host = "[%s]" % addr if ":" in addr else addr
    r = api.post(LIST, json={"name": uname("md"),
                             "destinationType": "webdav",
                             "config": {"url": "http://%s/metadata/" % host}})
    p = assert_problem(r, 422)
    assert p.get("failedCheck") == "connect", p
    assert "egress policy" in detail_of(p["lastTest"], "connect"), p


# ------------------------------------------------- 4. per-org local roots

def test_local_path_of_another_org_refused(make_api, env):
    """Org evil cannot create a local destination on acme's directory, nor
    on the shared root."""
    acme = make_api(org=new_org())
    evil = make_api(org=new_org())
    d = acme.create_local(env)
    target = d["config"]["path"]
    for path in (target, org_dir(env, acme.org), env["LOCAL_ROOT"]):
        r = evil.post(LIST, json=local_body(env, org=evil.org, path=path))
        p = assert_problem(r, 422)
        assert p.get("failedCheck") == "target", p
        assert "this organization's directory" in \
            detail_of(p["lastTest"], "target"), p
    assert evil.list() == []
    assert os.listdir(target) == []


def test_local_symlink_into_another_org_refused(make_api, env):
    acme = make_api(org=new_org())
    evil = make_api(org=new_org())
    d = acme.create_local(env)
    link = os.path.join(org_dir(env, evil.org), "to-acme")
    os.symlink(d["config"]["path"], link)
    r = evil.post(LIST, json=local_body(env, org=evil.org, path=link))
    p = assert_problem(r, 422)
    assert p.get("failedCheck") == "target", p
    assert os.listdir(d["config"]["path"]) == []


def test_local_symlink_outside_is_no_oracle(api, env):
    """A symlink inside the org's directory that leads outside the roots
    answers the same sentence whether its target exists or not."""
    outside = tempfile.mkdtemp(prefix="backupd-outside-")
    try:
        there = os.path.join(org_dir(env, api.org), "there")
        gone = os.path.join(org_dir(env, api.org), "gone")
        os.symlink(outside, there)
        os.symlink(os.path.join(outside, "no-such-dir"), gone)
        details = []
        for path in (there, gone, there + "/x", gone + "/x"):
            r = api.post(LIST, json=local_body(env, org=api.org, path=path))
            p = assert_problem(r, 422)
            assert p.get("failedCheck") == "target", p
            details.append(detail_of(p["lastTest"], "target")
                           .replace(path, "<path>"))
        assert len(set(details)) == 1, details
        assert outside not in details[0]
    finally:
        shutil.rmtree(outside)


def test_org_that_is_no_directory_name_gets_422(make_api, env):
    bad = make_api(org="acme/../" + uuid.uuid4().hex[:8])
    r = bad.post(LIST, json=local_body(env, org=new_org()))
    p = assert_problem(r, 422)
    assert any(e["pointer"] == "/config/path" and
               "directory name" in e["message"]
               for e in p.get("errors", [])), p
    assert bad.list() == []


# ----------------------------------------- 8. the callback's access log

NGINX_CONF = """
{user}
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {d}/cb;
    fastcgi_temp_path {d}/fc;
    proxy_temp_path {d}/px;
    uwsgi_temp_path {d}/uw;
    scgi_temp_path {d}/sc;
    # nginx's default format: the whole request line, query included
    access_log {d}/access.log combined;
    include {d}/upstream.conf;
    server {{
        listen 127.0.0.1:{port};
        include {d}/location.conf;
    }}
}}
"""


def _backupd_socket(env):
    conf = Path(env["BACKUPD_CONFIG"]).read_text()
    for line in conf.splitlines():
        k, _, v = line.partition("=")
        if k.strip() == "listen" and v.strip().startswith("unix:"):
            return v.strip()[5:]
    pytest.skip("the stack does not listen on a unix socket")


def test_snippet_logs_no_callback_query(env):
    """nginx/backupd-location.conf under an http{} block with the default
    'combined' access log: the callback's code and state stay out of it,
    other requests are logged as usual."""
    d = Path(tempfile.mkdtemp(prefix="bd-nginx-"))
    try:
        for sub in ("cb", "fc", "px", "uw", "sc"):
            (d / sub).mkdir()
        sock = _backupd_socket(env)
        up = (REPO / "nginx" / "backupd-upstream.conf").read_text()
        up = up.replace("unix:/run/backupd/backupd.sock", "unix:" + sock)
        (d / "upstream.conf").write_text(up)
        loc = (REPO / "nginx" / "backupd-location.conf").read_text()
        loc = loc.replace("include fastcgi_params;",
                          "include /etc/nginx/fastcgi_params;")
        (d / "location.conf").write_text(loc)
        port = SilentServer("127.0.0.1")
        p = port.port
        port.close()
        # as root, workers stay root to reach the stack's socket (as the
        # stack's own nginx does)
        user = "user root;" if os.getuid() == 0 else ""
        (d / "nginx.conf").write_text(NGINX_CONF.format(d=d, port=p,
                                                        user=user))
        r = subprocess.run(["nginx", "-q", "-p", str(d), "-c",
                            str(d / "nginx.conf")], capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stderr
        try:
            base = "http://127.0.0.1:%d" % p
            code, state = "CODE" + uuid.uuid4().hex, "STATE" + uuid.uuid4().hex
            r1 = requests.get(base + LIST + "/oauth/callback",
                              params={"code": code, "state": state},
                              allow_redirects=False, timeout=10)
            assert r1.status_code in (302, 500), r1.status_code
            r2 = requests.get(base + LIST, params={"marker": "M1"},
                              timeout=10)
            assert r2.status_code == 401
            log = d / "access.log"
            assert wait(lambda: log.exists() and
                        "marker=M1" in log.read_text(), timeout=5)
            text = log.read_text()
            assert code not in text and state not in text, text
        finally:
            subprocess.run(["nginx", "-q", "-p", str(d), "-c",
                            str(d / "nginx.conf"), "-s", "stop"],
                           capture_output=True)
            pidf = d / "nginx.pid"
            wait(lambda: not pidf.exists(), timeout=5)
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------ 8. short HS secrets refused

def _config_with_key(env, dest, key):
    out = []
    for line in Path(env["BACKUPD_CONFIG"]).read_text().splitlines():
        k = line.split("=", 1)[0].strip()
        if k in ("jwt_key", "jwt_key_file", "listen"):
            continue
        out.append(line)
    out.append("jwt_key = %s" % key)
    out.append("listen = unix:%s" % (dest.parent / "bd.sock"))
    dest.write_text("\n".join(out) + "\n")
    dest.chmod(0o600)
    return dest


def _run(args, timeout=20):
    e = {k: v for k, v in os.environ.items()
         if k not in ("BACKUPD_CONFIG", "BACKUPD_JWT_KEY",
                      "BACKUPD_JWT_KEY_FILE", "BACKUPD_LISTEN")}
    return subprocess.run(args, env=e, cwd=str(REPO), capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("length,ok", [(31, False), (12, False), (32, True)])
def test_short_hs_secret_refused(env, length, ok):
    """backupctl check-config and backupd's start refuse an HS secret of
    fewer than 32 bytes, naming the key and never the secret."""
    d = Path(tempfile.mkdtemp(prefix="bd-jwt-"))
    try:
        key = ("S3cr" + uuid.uuid4().hex * 2)[:length]
        conf = _config_with_key(env, d / "c.conf", key)
        r = _run([str(REPO / "build" / "backupctl"), "-c", str(conf),
                  "check-config"])
        out = r.stdout + r.stderr
        assert key not in out, out
        if ok:
            assert r.returncode == 0, out
            return
        assert r.returncode == 1, out
        assert "jwt_key" in out and "at least 32" in out, out
        r = _run([str(REPO / "build" / "backupd"), "-c", str(conf)])
        out = r.stdout + r.stderr
        assert r.returncode != 0, out
        assert "at least 32" in out and key not in out, out
        assert not (d / "bd.sock").exists()
    finally:
        shutil.rmtree(d, ignore_errors=True)
