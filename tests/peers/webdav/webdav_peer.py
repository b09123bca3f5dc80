"""Apache httpd (Debian's apache2 with mod_dav / mod_dav_fs) as a WebDAV peer.

Used by tests/integration/test_probe_webdav.py:

    peer = WebdavPeer(root, host="127.0.0.2", pki=os.environ["BACKUPD_TEST_PKI"],
                      password="...")
    peer.start()
    peer.url("basic")           # http://127.0.0.2:<port>/dav/basic/
    peer.url("digest", tls=True)
    peer.dir("basic")           # the directory behind /dav/basic/
    peer.stop()

Everything lives under `root` (config, pid file, runtime dir, logs, lock DB,
password files, the served directories). httpd runs in the foreground in its
own session as root (it must, to drop to `user`); stop() ends that process
group and nothing else. Ports are picked free on `host` at start().

By hand: /usr/bin/python3 tests/peers/webdav/webdav_peer.py <root> <pki-dir>
starts it and prints the URLs until Ctrl-C.
"""

import hashlib
import importlib.util
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "httpd.conf.in"
APACHE = "/usr/sbin/apache2"
REALM = "backupd-test"
LOCATIONS = ("basic", "digest", "open", "readonly", "nodelete", "forbidden")

# tests/peers/peerlib.py, loaded by path under a name of its own.
_spec = importlib.util.spec_from_file_location("backupd_peerlib",
                                               HERE.parent / "peerlib.py")
peerlib = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(peerlib)


class WebdavPeer:
    def __init__(self, root, host, pki, username="backup", password="secret",
                 user="www-data"):
        self.root = Path(root)
        self.host = host
        self.pki = Path(pki)
        self.username = username
        self.password = password
        self.user = user
        self.proc = None
        self.http_port = self.https_port = None

    # ------------------------------------------------------------ layout

    def dir(self, location):
        """The directory served at /dav/<location>/."""
        return self.root / "dav" / location

    def url(self, location, tls=False, path=""):
        if tls:
            return "https://%s:%d/dav/%s/%s" % (self.host, self.https_port,
                                                location, path)
        return "http://%s:%d/dav/%s/%s" % (self.host, self.http_port,
                                           location, path)

    def plain_url(self):
        return "http://%s:%d/plain/" % (self.host, self.http_port)

    def _write_auth(self):
        auth = self.root / "auth"
        auth.mkdir(parents=True, exist_ok=True)
        htpasswd = auth / "htpasswd"
        if shutil.which("htpasswd"):
            # -i reads the password from stdin (not visible in ps); -B bcrypt.
            subprocess.run(["htpasswd", "-ciB", str(htpasswd), self.username],
                           input=self.password.encode(), check=True,
                           capture_output=True, timeout=30)
        else:
            import base64
            digest = base64.b64encode(
                hashlib.sha1(self.password.encode()).digest()).decode()
            htpasswd.write_text("%s:{SHA}%s\n" % (self.username, digest))
        # htdigest only prompts on a terminal: the line is
        # user:realm:MD5(user:realm:password) (mod_auth_digest docs).
        ha1 = hashlib.md5(("%s:%s:%s" % (self.username, REALM,
                                         self.password)).encode()).hexdigest()
        (auth / "htdigest").write_text("%s:%s:%s\n" % (self.username, REALM,
                                                       ha1))
        for f in (htpasswd, auth / "htdigest"):
            os.chmod(f, 0o644)

    def _layout(self):
        if self.root.exists():
            shutil.rmtree(self.root)
        for d in ("run", "log", "lock", "htdocs", "plain"):
            (self.root / d).mkdir(parents=True)
        for loc in LOCATIONS:
            self.dir(loc).mkdir(parents=True)
        (self.root / "plain" / "index.txt").write_text("not webdav\n")
        self._write_auth()
        pw = pwd.getpwnam(self.user)
        for d in [self.root / "dav", self.root / "lock", self.root / "run"] + \
                [self.dir(loc) for loc in LOCATIONS]:
            os.chown(d, pw.pw_uid, pw.pw_gid)
        conf = TEMPLATE.read_text()
        for k, v in {"DIR": str(self.root), "HOST": self.host,
                     "HTTP_PORT": str(self.http_port),
                     "HTTPS_PORT": str(self.https_port),
                     "PKI": str(self.pki), "REALM": REALM,
                     "USER": self.user,
                     "GROUP": self._group_name(pw.pw_gid)}.items():
            conf = conf.replace("@%s@" % k, v)
        (self.root / "httpd.conf").write_text(conf)

    @staticmethod
    def _group_name(gid):
        import grp
        return grp.getgrgid(gid).gr_name

    # ----------------------------------------------------------- process

    def start(self, timeout=20.0):
        def attempt():
            self.http_port = peerlib.free_port(self.host)
            self.https_port = peerlib.free_port(self.host)
            self._layout()
            self._spawn(timeout)
            return self
        return peerlib.retry(attempt, self.stop)

    def _spawn(self, timeout):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
        self.proc = peerlib.spawn(
            [APACHE, "-f", str(self.root / "httpd.conf"), "-DFOREGROUND"],
            self.root / "log" / "stderr.log", env=env)
        peerlib.wait_until(
            lambda: peerlib.accepts(self.host, self.http_port) and
            peerlib.accepts(self.host, self.https_port),
            [self.proc], "apache2", self.log_tail, timeout)

    def log_tail(self, n=20):
        out = []
        for name in ("stderr.log", "error.log"):
            p = self.root / "log" / name
            if p.exists():
                out += p.read_text(errors="replace").splitlines()[-n:]
        return "\n".join(out)

    def stop(self):
        """Stop httpd (the process group it leads) and wait for it."""
        p, self.proc = self.proc, None
        if p is not None:
            peerlib.stop_groups([p])


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: webdav_peer.py <root> <pki-dir>")
    peer = WebdavPeer(sys.argv[1], "127.0.0.2", sys.argv[2]).start()
    peerlib.wait_interrupted(peer.stop, [
        "%s %s" % (peer.url(loc), peer.url(loc, tls=True))
        for loc in LOCATIONS] + [peer.plain_url()])


if __name__ == "__main__":
    main()
