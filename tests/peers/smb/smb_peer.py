r"""Samba's smbd (Debian's samba package) as an SMB 2/3 peer.

Used by tests/integration/test_probe_smb.py:

    peer = SmbPeer(root, host="127.0.0.2")
    peer.start()
    peer.port          # smbd offering SMB3 encryption ("desired")
    peer.noenc_port    # smbd that cannot encrypt ("server smb encrypt = off")
    peer.password      # the test user's Samba password (fresh per start)
    peer.dir("data")   # the share directories: data, small, ro
    peer.set_disk(total_kib, free_kib)  # what share `small` reports
    peer.stop()

Each smbd runs as root in the foreground (`smbd -F --no-process-group`) in
a session of its own, with its own smb.conf (smb.conf.in), state, lock,
cache, pid and private directories, passdb (tdbsam) and log, all under
`root`; stop() ends those process groups (smbd forks one child per
connection) and nothing else. Each listens on `host` only (`bind
interfaces only`, `interfaces = host/8`: Samba matches the entry against
lo's network), on a free port (`smb ports`), with NetBIOS off and no
printing.

Shares (both servers): `data` (writable by the test user, with a
subdirectory `sub` and a file `afile`), `small` (writable, its disk size
whatever set_disk() says: smbd's `dfree command` reads it from
root/dfree.txt), `ro` (read only), `proxy` (an
`msdfs proxy` stand-in for \\127.0.0.1\data) and `dfs` (a DFS root whose
link `away` points at \\127.0.0.1\data). SMB1 is off on the server too
(`server min protocol = SMB2_02`).

The test user: smbd maps a Samba account to a system account, so the peer
creates a system user USER (no login shell, no home) the first time and
leaves it in place (`userdel backupd-smb-test` removes it). Its Samba
password lives in this peer's private passdb only, so several stacks can
share the account without changing each other's password.

By hand: /usr/bin/python3 tests/peers/smb/smb_peer.py <root> starts it and
prints the ports and password until Ctrl-C.
"""

import importlib.util
import os
import pwd
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "smb.conf.in"
SMBD = "/usr/sbin/smbd"
SMBPASSWD = "/usr/bin/smbpasswd"
USER = "backupd-smb-test"
WORKGROUP = "BKTESTDOM"
SYS_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}

_spec = importlib.util.spec_from_file_location("backupd_peerlib",
                                               HERE.parent / "peerlib.py")
peerlib = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(peerlib)


def _run(args, **kw):
    return subprocess.run(args, check=True, capture_output=True, timeout=60,
                          env=SYS_ENV, **kw)


def ensure_user():
    """Create the test user once (idempotent; a concurrent creation by
    another suite is fine); returns its passwd entry."""
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        pass
    r = subprocess.run(["useradd", "--system", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell",
                        "/usr/sbin/nologin", "--comment",
                        "backupd SMB probe tests", USER],
                       capture_output=True, timeout=60, env=SYS_ENV)
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        raise RuntimeError("useradd %s: %s" % (USER, r.stderr.decode(
            errors="replace")))


class SmbPeer:
    # name -> "server smb encrypt"
    SERVERS = {"main": "desired", "noenc": "off"}

    def __init__(self, root, host):
        self.root = Path(root)
        self.host = host
        self.procs = {}
        self.ports = {}
        self.password = None
        self.pw = None

    @property
    def port(self):
        return self.ports["main"]

    @property
    def noenc_port(self):
        return self.ports["noenc"]

    def dir(self, name):
        return self.root / "shares" / name

    # ------------------------------------------------------------ layout

    def _layout(self):
        self.pw = ensure_user()
        if self.root.exists():
            shutil.rmtree(self.root)
        (self.root / "shares").mkdir(parents=True)
        os.chmod(self.root, 0o755)
        os.chmod(self.root / "shares", 0o755)
        data = self.dir("data")
        data.mkdir()
        (data / "sub").mkdir()
        (data / "afile").write_text("not a directory\n")
        for p in (data, data / "sub", data / "afile"):
            os.chown(p, self.pw.pw_uid, self.pw.pw_gid)
        os.chmod(data, 0o755)
        small = self.dir("small")
        small.mkdir()
        os.chown(small, self.pw.pw_uid, self.pw.pw_gid)
        os.chmod(small, 0o755)
        dfree = self.root / "dfree.sh"
        dfree.write_text("#!/bin/sh\n# smb.conf dfree command: \"total free\" "
                         "in 1 KiB blocks\nexec cat %s\n"
                         % (self.root / "dfree.txt"))
        os.chmod(dfree, 0o755)
        self.set_disk(100 << 20, 50 << 20)
        ro = self.dir("ro")
        ro.mkdir()
        os.chmod(ro, 0o755)  # root's: the user may list, not write
        # A DFS root whose link "away" points at another server.
        dfs = self.dir("dfs")
        dfs.mkdir()
        os.chmod(dfs, 0o755)
        os.symlink("msdfs:127.0.0.1\\data", dfs / "away")
        for name in self.SERVERS:
            for d in ("state", "lock", "cache", "pid", "private", "log",
                      "ncalrpc"):
                p = self.root / name / d
                p.mkdir(parents=True)
                os.chmod(p, 0o700 if d == "private" else 0o755)
        self.password = "smb-pw-" + secrets.token_hex(12)

    def set_disk(self, total_kib, free_kib):
        """The size share `small` reports from now on, in 1 KiB blocks
        (smbd answers the same count as the caller's and the actual free
        space)."""
        p = self.root / "dfree.txt"
        p.write_text("%d %d\n" % (total_kib, free_kib))
        os.chmod(p, 0o644)

    def conf(self, name):
        return self.root / name / "smb.conf"

    def _write_config(self, name):
        text = TEMPLATE.read_text()
        for k, v in {"HOST": self.host, "PORT": str(self.ports[name]),
                     "DIR": str(self.root / name),
                     "SHARES": str(self.root / "shares"),
                     "ROOT": str(self.root),
                     "ENCRYPT": self.SERVERS[name], "USER": USER,
                     "WORKGROUP": WORKGROUP}.items():
            text = text.replace("@%s@" % k, v)
        self.conf(name).write_text(text)
        _run(["testparm", "-s", str(self.conf(name))])
        _run([SMBPASSWD, "-c", str(self.conf(name)), "-s", "-a", USER],
             input=("%s\n%s\n" % (self.password, self.password)).encode())

    # ----------------------------------------------------------- process

    def start(self, timeout=20.0):
        if os.geteuid() != 0:
            raise RuntimeError("the SMB peer needs root (smbd switches to "
                               "the test user)")
        try:
            self._layout()
            for name in self.SERVERS:
                self._start_one(name, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_one(self, name, timeout):
        def attempt():
            self.ports[name] = peerlib.free_port(self.host)
            self._write_config(name)
            p = peerlib.spawn([SMBD, "-F", "--no-process-group", "-s",
                               str(self.conf(name))],
                              self.root / name / "log" / "stdout.log",
                              env=SYS_ENV, append=True)
            p.peer_name = "smbd (%s)" % name
            self.procs[name] = p
            peerlib.wait_until(
                lambda: peerlib.accepts(self.host, self.ports[name]),
                [p], "smbd", lambda: self.log_tail(name), timeout)

        def undo():
            p = self.procs.pop(name, None)
            if p is not None:
                peerlib.stop_groups([p])
        peerlib.retry(attempt, undo)

    def log_tail(self, name="main"):
        out = []
        for f in ("stdout.log", "smbd.log"):
            p = self.root / name / "log" / f
            if p.exists():
                out.append(p.read_text(errors="replace")[-1500:])
        return "\n".join(out)

    def stop(self):
        procs, self.procs = list(self.procs.values()), {}
        peerlib.stop_groups(procs)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "/tmp/backupd-smb-peer"
    peer = SmbPeer(root, os.environ.get("BACKUPD_TEST_PEER_HOST",
                                        "127.0.0.2")).start()
    peerlib.wait_interrupted(peer.stop, [
        "smbd on %s: port %d (encryption offered), %d (none)"
        % (peer.host, peer.port, peer.noenc_port),
        "user %s password %s workgroup %s" % (USER, peer.password,
                                              WORKGROUP),
        "shares: data (writable), ro (read only)"])


if __name__ == "__main__":
    main()
