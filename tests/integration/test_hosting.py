"""Shared hosting, proven: the three recipes of docs/hosting.md (read from
that file, the site paths replaced by a private directory) under a real
Apache 2.4 started here (own config, port on 127.0.0.2, pid file; never
Debian's service) and a real nginx + fcgiwrap:

  apache-cgi      mod_cgid, CGIPassAuth, the RewriteRule, the wrapper
  apache-fcgid    mod_fcgid spawning backupd (spawned mode) via FcgidWrapper
  nginx-fcgiwrap  nginx -> fcgiwrap -> backupd in CGI mode

Each passes the same flow against the suite's database: create, read,
update, list, connection test of a local destination, delete, and the
OAuth callback's 302 to the settings page. max_requests is 2: every
process that exits after it is replaced by its supervisor (mod_fcgid,
Apache's CGI daemon, fcgiwrap), so every request of the flow is answered
and, under mod_fcgid, by several processes in turn.

Apache's workers and fcgiwrap run as www-data, the site's files belong to
www-data with suexec's modes (suexec itself is not used: its document root
is compiled in).
"""
import grp
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

from conftest import REPO, make_token, new_org
from test_pool_modes import BACKUPD

import importlib.util
_spec = importlib.util.spec_from_file_location(
    "backupd_peerlib", REPO / "tests" / "peers" / "peerlib.py")
peerlib = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(peerlib)

DOC = REPO / "docs" / "hosting.md"
HOST = "127.0.0.2"
SITE = "/home/site/backupd"
USER = "www-data"
SETTINGS = "https://ui.example.test/settings"
MODULES = "/usr/lib/apache2/modules"


def recipe(name):
    """The fenced block after `<!-- recipe: name -->` in docs/hosting.md."""
    m = re.search(r"<!-- recipe: %s -->\s*```[a-z]*\n(.*?)```" %
                  re.escape(name), DOC.read_text(), re.S)
    assert m, "docs/hosting.md has no recipe %r" % name
    return m.group(1)


def site_text(text, site):
    assert SITE in text, "the recipe no longer names %s" % SITE
    return text.replace(SITE, str(site))


def config_value(path, key):
    for line in Path(path).read_text().splitlines():
        k, _, v = line.partition("=")
        if not line.lstrip().startswith("#") and k.strip() == key:
            return v.strip()
    return None


class Site:
    """The private directory: the site's files (owned by www-data, suexec's
    modes), run/ and log/ for the servers."""

    def __init__(self, env):
        self.env = env
        self.root = Path(tempfile.mkdtemp(prefix="bd-hosting-"))
        os.chmod(self.root, 0o755)
        self.site = self.root / "site"
        self.port = None
        self.procs = []
        pw = pwd.getpwnam(USER)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        for d in ("site", "run", "log", "htdocs", "local"):
            (self.root / d).mkdir()
        os.chown(self.root / "run", self.uid, self.gid)
        os.chown(self.root / "log", self.uid, self.gid)
        shutil.copy(BACKUPD, self.site / "backupd")
        ring = config_value(env["BACKUPD_CONFIG"], "keyring_file")
        shutil.copy(ring, self.site / "keyring")
        self.write("wrapper", site_text(recipe("wrapper"), self.site), 0o755)

    def write(self, name, text, mode):
        p = self.site / name
        p.write_text(text)
        os.chmod(p, mode)
        os.chown(p, self.uid, self.gid)

    def configure(self, port):
        self.port = port
        e = self.env
        self.write("backupd.conf", "\n".join([
            "db_socket = %s" % e["BACKUPD_DB_SOCKET"],
            "db_user = %s" % e["BACKUPD_DB_USER"],
            "db_password = %s" % e["BACKUPD_DB_PASSWORD"],
            "db_name = %s" % e["BACKUPD_DB_NAME"],
            "keyring_file = %s/keyring" % self.site,
            "jwt_key = %s" % e["BACKUPD_JWT_KEY"],
            "max_requests = 2",
            "local_roots = %s" % (self.root / "local"),
            "settings_url = %s" % SETTINGS,
            "oauth_redirect_uri = http://%s:%d/backup-destinations/oauth/"
            "callback" % (HOST, port),
            "google_client_id = hosting-test",
            "google_client_secret = hosting-test-secret",
            ""]), 0o600)
        for f in ("backupd", "keyring"):
            os.chown(self.site / f, self.uid, self.gid)
        os.chmod(self.site / "keyring", 0o600)
        os.chown(self.site, self.uid, self.gid)
        os.chown(self.root / "local", self.uid, self.gid)

    def url(self, path="/backup-destinations"):
        return "http://%s:%d%s" % (HOST, self.port, path)

    def log_tail(self):
        out = []
        for p in sorted((self.root / "log").glob("*")):
            out += ["== %s" % p.name] + \
                p.read_text(errors="replace").splitlines()[-40:]
        return "\n".join(out)

    def pids_served(self):
        """pids of backupd request log lines (backupd's stderr)."""
        pids = set()
        for p in (self.root / "log").glob("*"):
            for m in re.finditer(r'"pid":(\d+),"requestId"',
                                 p.read_text(errors="replace")):
                pids.add(int(m.group(1)))
        return pids

    def stop(self):
        peerlib.stop_groups(self.procs)
        self.procs = []
        shutil.rmtree(self.root, ignore_errors=True)


def apache_conf(site, port, body, modules):
    loads = "\n".join("LoadModule %s_module %s/mod_%s.so" % (m, MODULES, m)
                      for m in ["mpm_event", "authz_core", "alias",
                                "env"] + modules)
    return "\n".join([
        loads,
        "ServerName %s" % HOST,
        "Listen %s:%d" % (HOST, port),
        "PidFile %s/run/httpd.pid" % site.root,
        "DefaultRuntimeDir %s/run" % site.root,
        "ErrorLog %s/log/error.log" % site.root,
        "LogLevel warn",
        "User %s" % USER,
        "Group %s" % grp.getgrgid(site.gid).gr_name,
        "StartServers 1",
        "ServerLimit 2",
        "ThreadsPerChild 8",
        "MaxRequestWorkers 16",
        "Timeout 30",
        "DocumentRoot %s/htdocs" % site.root,
        "<Directory />",
        "    Require all denied",
        "</Directory>",
        "ScriptSock %s/run/cgid.sock" % site.root
        if "cgid" in modules else "",
        "FcgidIPCDir %s/run/fcgid" % site.root
        if "fcgid" in modules else "",
        "FcgidProcessTableFile %s/run/fcgid_shm" % site.root
        if "fcgid" in modules else "",
        body, ""])


def start_apache(site, name, modules):
    def attempt():
        port = peerlib.free_port(HOST)
        site.configure(port)
        conf = site.root / "httpd.conf"
        text = site_text(recipe(name), site.site)
        if "FcgidMaxRequestsPerProcess" in text:
            # The recipe's rule: the same number as max_requests (2 here).
            assert "FcgidMaxRequestsPerProcess 10000" in text
            text = text.replace("FcgidMaxRequestsPerProcess 10000",
                                "FcgidMaxRequestsPerProcess 2")
        conf.write_text(apache_conf(site, port, text, modules))
        check = subprocess.run(["/usr/sbin/apache2", "-t", "-f", str(conf)],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        p = peerlib.spawn(["/usr/sbin/apache2", "-f", str(conf),
                           "-DFOREGROUND"], site.root / "log" / "stderr.log",
                          env={"PATH": "/usr/sbin:/usr/bin:/bin",
                               "LANG": "C"})
        site.procs.append(p)
        peerlib.wait_until(lambda: peerlib.accepts(HOST, port), [p],
                           "apache2", site.log_tail)
    peerlib.retry(attempt, lambda: peerlib.stop_groups(site.procs))


def start_nginx_fcgiwrap(site):
    sock = site.root / "run" / "fcgiwrap.sock"

    def attempt():
        port = peerlib.free_port(HOST)
        site.configure(port)
        loc = site_text(recipe("nginx-fcgiwrap"), site.site)
        assert "unix:/run/fcgiwrap.socket" in loc
        loc = loc.replace("/run/fcgiwrap.socket", str(sock))
        shutil.copy("/etc/nginx/fastcgi_params", site.root / "fastcgi_params")
        (site.root / "nginx.conf").write_text("""
user %(user)s;
worker_processes 1;
pid %(root)s/run/nginx.pid;
error_log %(root)s/log/nginx-error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %(root)s/run/body;
    fastcgi_temp_path %(root)s/run/fastcgi;
    server {
        listen %(host)s:%(port)d;
        %(loc)s
    }
}
""" % {"user": USER, "root": site.root, "host": HOST, "port": port,
            "loc": loc})
        # fcgiwrap as the Debian unit runs it: as www-data, 2 children;
        # backupd's stderr goes to fcgiwrap's.
        fw = subprocess.Popen(
            ["/usr/sbin/fcgiwrap", "-c", "2", "-s", "unix:%s" % sock],
            stdin=subprocess.DEVNULL,
            stdout=open(site.root / "log" / "fcgiwrap.log", "ab"),
            stderr=subprocess.STDOUT, user=USER, group=site.gid,
            env={"PATH": "/usr/bin:/bin"}, start_new_session=True)
        site.procs.append(fw)
        peerlib.wait_until(sock.exists, [fw], "fcgiwrap", site.log_tail)
        ng = peerlib.spawn(["nginx", "-p", "%s/" % site.root, "-c",
                            str(site.root / "nginx.conf"), "-g",
                            "daemon off;"],
                           site.root / "log" / "nginx.log")
        site.procs.append(ng)
        peerlib.wait_until(lambda: peerlib.accepts(HOST, port), [ng],
                           "nginx", site.log_tail)
    peerlib.retry(attempt, lambda: peerlib.stop_groups(site.procs))


def flow(site, env):
    """CRUD + test of a local destination + the OAuth callback's 302."""
    org = new_org()
    tok = make_token(env, org=org)
    h = {"Authorization": "Bearer " + tok}
    s = requests.Session()
    tail = site.log_tail

    r = s.get(site.url(), headers=h, timeout=30)
    assert r.status_code == 200, (r.status_code, r.text, tail())
    assert r.json() == [] or r.json().get("items") == []
    r = s.get(site.url(), timeout=30)
    assert r.status_code == 401, (r.status_code, r.text)

    # Local paths are per organization ({root}/{org}) where enabled.
    path = site.root / "local" / org
    path.mkdir()
    os.chown(path, site.uid, site.gid)
    body = {"name": "hosting", "destinationType": "local",
            "config": {"path": str(path)}}
    r = s.post(site.url(), json=body, headers=h, timeout=60)
    assert r.status_code == 201, (r.status_code, r.text, tail())
    d = r.json()
    assert d["status"] == "active" and d["lastTest"]["ok"] is True
    one = site.url("/backup-destinations/" + d["id"])
    r = s.get(one, headers=h, timeout=30)
    assert r.status_code == 200 and r.json()["name"] == "hosting", r.text
    body["name"] = "hosting-renamed"
    r = s.put(one, json=body, headers=h, timeout=60)
    assert r.status_code == 200 and r.json()["name"] == "hosting-renamed", \
        (r.status_code, r.text)
    r = s.post(one + "/test", headers=h, timeout=60)
    assert r.status_code == 200 and r.json()["ok"] is True, r.text
    r = s.get(site.url() + "?destinationType=local", headers=h, timeout=30)
    assert r.status_code == 200, r.text
    items = r.json() if isinstance(r.json(), list) else r.json()["items"]
    assert [x["id"] for x in items] == [d["id"]]
    r = s.delete(one, headers=h, timeout=30)
    assert r.status_code in (200, 204), (r.status_code, r.text)
    r = s.get(one, headers=h, timeout=30)
    assert r.status_code == 404, r.text

    # The OAuth callback (no bearer: the state carries the context): a
    # forged state still ends on the settings page, never elsewhere.
    r = s.get(site.url("/backup-destinations/oauth/callback?") +
              urllib.parse.urlencode({"state": "x" * 43, "code": "c"}),
              allow_redirects=False, timeout=30)
    assert r.status_code == 302, (r.status_code, r.text, tail())
    assert r.headers["Location"].startswith(SETTINGS + "?"), r.headers
    assert "oauth=error" in r.headers["Location"]
    return 10   # requests answered by backupd


@pytest.fixture
def site(env):
    s = Site(env)
    yield s
    s.stop()


def test_recipes_are_in_the_docs():
    for name in ("wrapper", "apache-cgi", "apache-fcgid", "nginx-fcgiwrap"):
        assert SITE in recipe(name)
    assert "CGIPassAuth On" in recipe("apache-cgi")
    assert "FcgidWrapper" in recipe("apache-fcgid")


def test_apache_cgi(site, env):
    start_apache(site, "apache-cgi", ["cgid", "rewrite"])
    n = flow(site, env)
    # One process per request: all of them served, none left running.
    assert len(site.pids_served()) >= n - 1, site.log_tail()
    assert wait_no_backupd(site)


def test_apache_fcgid(site, env):
    start_apache(site, "apache-fcgid", ["fcgid"])
    n = flow(site, env)
    # max_requests = 2: each process served at most 2, and mod_fcgid
    # replaced every one that left.
    pids = site.pids_served()
    assert len(pids) >= n // 2, (pids, site.log_tail())
    for _ in range(4):
        r = requests.get(site.url(), headers={
            "Authorization": "Bearer " + make_token(env, org=new_org())},
            timeout=30)
        assert r.status_code == 200, (r.status_code, r.text)


def test_nginx_fcgiwrap(site, env):
    start_nginx_fcgiwrap(site)
    n = flow(site, env)
    assert len(site.pids_served()) >= n - 1, site.log_tail()
    assert wait_no_backupd(site)


def wait_no_backupd(site, timeout=5):
    """No backupd of this site is left running (CGI: one per request)."""
    me = str(site.site / "backupd")
    end = time.time() + timeout
    while time.time() < end:
        left = []
        for p in Path("/proc").iterdir():
            if p.name.isdigit():
                try:
                    if (p / "cmdline").read_bytes().split(b"\0")[0] == \
                            me.encode():
                        left.append(p.name)
                except OSError:
                    pass
        if not left:
            return True
        time.sleep(0.1)
    return False
