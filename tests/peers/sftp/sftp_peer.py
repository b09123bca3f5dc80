"""OpenSSH's sshd (Debian's openssh-server) as an SFTP peer.

Used by tests/integration/test_probe_sftp.py:

    peer = SftpPeer(root, host="127.0.0.2")
    peer.start()
    peer.port, peer.rsa_port, peer.nodelete_port
    peer.password                 # the test user's password (fresh per start)
    peer.key("ed25519")           # private key text: ed25519, ed25519-pass,
                                  # rsa, rsa-pem
    peer.fingerprint("host1")     # "SHA256:..." of a host key
    peer.restart(hostkey="host2") # same ports, another host key
    peer.dir("writable")          # writable, readonly; "missing" is absent
    peer.stop()

sshd runs as root in the foreground (-D -e) in its own session, with its
own config (sshd_config.in), host keys, pid file and log, all under `root`;
stop() ends that process group and nothing else. It listens on `host` on
three free ports: `port` with Debian's defaults, `rsa_port` that also
accepts ssh-rsa (SHA-1) signatures, `nodelete_port` whose SFTP server
refuses deletes.

The test user: sshd logs in real system accounts only, so the peer creates
a system user USER (no login shell, home /var/lib/USER) the first time and
leaves it in place (`userdel -r backupd-sftp-test` removes it). Each start
gives it a fresh random password; stop() locks the password again, so the
account has no usable password between runs. Root is never used. The user
is shared by every stack on the machine, so a peer holds an exclusive lock
(LOCK_FILE, flock) from start() to stop(): two suites running at once take
turns instead of changing each other's password.

By hand: /usr/bin/python3 tests/peers/sftp/sftp_peer.py <root> starts it and
prints the ports, password and fingerprints until Ctrl-C.
"""

import fcntl
import importlib.util
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "sshd_config.in"
SSHD = "/usr/sbin/sshd"
USER = "backupd-sftp-test"
HOME = "/var/lib/" + USER
PASSPHRASE = "kp-" + secrets.token_hex(8)
# name -> (ssh-keygen arguments, passphrase)
CLIENT_KEYS = {
    "ed25519": (["-t", "ed25519"], ""),
    "ed25519-pass": (["-t", "ed25519"], PASSPHRASE),
    "rsa": (["-t", "rsa", "-b", "3072"], ""),
    "rsa-pem": (["-t", "rsa", "-b", "3072", "-m", "PEM"], ""),
}
SYS_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
LOCK_FILE = ("/run/lock" if os.path.isdir("/run/lock") else "/tmp") + \
    "/backupd-sftp-test.lock"
LOCK_WAIT = 900  # seconds: another suite's whole SFTP module may run first

# tests/peers/peerlib.py, loaded by path under a name of its own.
_spec = importlib.util.spec_from_file_location("backupd_peerlib",
                                               HERE.parent / "peerlib.py")
peerlib = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(peerlib)


def _banner(host, port):
    """True once an SSH server answers with its identification line."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.settimeout(0.5)
            return s.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def _run(args, **kw):
    return subprocess.run(args, check=True, capture_output=True, timeout=60,
                          env=SYS_ENV, **kw)


def ensure_user():
    """Create the test user once (idempotent); returns its passwd entry."""
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        pass
    _run(["useradd", "--system", "--create-home", "--home-dir", HOME,
          "--shell", "/usr/sbin/nologin", "--comment",
          "backupd SFTP probe tests", USER])
    return pwd.getpwnam(USER)


class SftpPeer:
    def __init__(self, root, host):
        self.root = Path(root)
        self.host = host
        self.proc = None
        self.port = self.rsa_port = self.nodelete_port = None
        self.password = None
        self.hostkey = "host1"
        self.pw = None
        self.home_dir = None   # a scratch directory in the user's home
        self.lock_fd = None

    # ------------------------------------------------------------ layout

    def dir(self, name):
        return self.root / "data" / name

    def key(self, name):
        return (self.root / "keys" / name).read_text()

    def key_passphrase(self):
        return PASSPHRASE

    def fingerprint(self, name):
        """"SHA256:..." as ssh-keygen -l prints it."""
        out = _run(["ssh-keygen", "-l", "-E", "sha256", "-f",
                    str(self.root / "keys" / (name + ".pub"))]).stdout
        return out.decode().split()[1]

    def _keygen(self, name, args, passphrase):
        path = self.root / "keys" / name
        _run(["ssh-keygen", "-q", *args, "-N", passphrase, "-C",
              "backupd-test-" + name, "-f", str(path)])

    def _layout(self):
        self.pw = ensure_user()
        if self.root.exists():
            shutil.rmtree(self.root)
        for d in ("keys", "log", "authorized_keys", "data"):
            (self.root / d).mkdir(parents=True)
        os.chmod(self.root, 0o755)
        for d in ("keys", "log"):
            os.chmod(self.root / d, 0o700)
        for d in ("authorized_keys", "data"):
            os.chmod(self.root / d, 0o755)
        for name in ("host1", "host2"):
            self._keygen(name, ["-t", "ed25519"], "")
        for name, (args, pp) in CLIENT_KEYS.items():
            self._keygen(name, args, pp)
        ak = self.root / "authorized_keys" / USER
        ak.write_text("".join((self.root / "keys" / (n + ".pub")).read_text()
                              for n in CLIENT_KEYS))
        # sshd reads the file as the user.
        os.chown(ak, self.pw.pw_uid, self.pw.pw_gid)
        os.chmod(ak, 0o600)
        w = self.dir("writable")
        w.mkdir()
        os.chown(w, self.pw.pw_uid, self.pw.pw_gid)
        os.chmod(w, 0o755)
        ro = self.dir("readonly")
        ro.mkdir()
        os.chmod(ro, 0o755)  # root's: the user may list, not write
        # A directory relative to the user's home ("path": "<name>").
        self.home_dir = Path(self.pw.pw_dir) / ("probe-" + secrets.token_hex(4))
        self.home_dir.mkdir()
        os.chown(self.home_dir, self.pw.pw_uid, self.pw.pw_gid)
        self.password = "sftp-pw-" + secrets.token_hex(12)
        _run(["chpasswd"], input=("%s:%s\n" % (USER, self.password)).encode())
        # sshd's privilege separation directory (Debian creates it from
        # its service unit, which is not running).
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)

    def _write_config(self):
        conf = TEMPLATE.read_text()
        for k, v in {"HOST": self.host, "PORT": str(self.port),
                     "RSA_PORT": str(self.rsa_port),
                     "NODELETE_PORT": str(self.nodelete_port),
                     "HOSTKEY": str(self.root / "keys" / self.hostkey),
                     "ROOT": str(self.root), "USER": USER}.items():
            conf = conf.replace("@%s@" % k, v)
        (self.root / "sshd_config").write_text(conf)

    # ----------------------------------------------------------- process

    def _lock(self):
        fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        end = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.lock_fd = fd
                return
            except BlockingIOError:
                if time.monotonic() > end:
                    os.close(fd)
                    raise RuntimeError("another SFTP peer held %s for %ds"
                                       % (LOCK_FILE, LOCK_WAIT))
                time.sleep(0.5)

    def _unlock(self):
        fd, self.lock_fd = self.lock_fd, None
        if fd is not None:
            os.close(fd)  # releases the flock

    def start(self, timeout=20.0):
        if os.geteuid() != 0:
            raise RuntimeError("the SFTP peer needs root (sshd switches to "
                               "the test user)")
        self._lock()
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout):
        self._layout()

        def attempt():
            self.port = peerlib.free_port(self.host)
            self.rsa_port = peerlib.free_port(self.host)
            self.nodelete_port = peerlib.free_port(self.host)
            self._spawn(timeout)
            return self
        return peerlib.retry(attempt, self._stop_sshd)

    def restart(self, hostkey, timeout=20.0):
        """The same ports, another host key (a server that was reinstalled
        or an attacker in the middle)."""
        self._stop_sshd()
        self.hostkey = hostkey
        self._spawn(timeout)

    def _spawn(self, timeout):
        self._write_config()
        cfg = str(self.root / "sshd_config")
        r = subprocess.run([SSHD, "-t", "-f", cfg], capture_output=True,
                           env=SYS_ENV, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("sshd -t: %s" % r.stderr.decode(errors="replace"))
        # sshd needs an absolute path to re-execute itself.
        self.proc = peerlib.spawn([SSHD, "-D", "-e", "-f", cfg],
                                  self.root / "log" / "sshd.log",
                                  env=SYS_ENV, append=True)
        peerlib.wait_until(
            lambda: all(_banner(self.host, p) for p in
                        (self.port, self.rsa_port, self.nodelete_port)),
            [self.proc], "sshd", self.log_tail, timeout)

    def log_text(self):
        p = self.root / "log" / "sshd.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def log_tail(self, n=20):
        return "\n".join(self.log_text().splitlines()[-n:])

    def _stop_sshd(self):
        """Stop sshd and its per-connection children (its process group)."""
        p, self.proc = self.proc, None
        if p is not None:
            peerlib.stop_groups([p])

    def stop(self):
        """Stop sshd, lock the test user's password, drop the scratch
        directory in its home."""
        self._stop_sshd()
        if self.pw is not None:
            subprocess.run(["usermod", "--lock", USER], capture_output=True,
                           env=SYS_ENV, timeout=60)
        if self.home_dir is not None:
            shutil.rmtree(self.home_dir, ignore_errors=True)
            self.home_dir = None
        self._unlock()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: sftp_peer.py <root>")
    peer = SftpPeer(sys.argv[1], "127.0.0.2").start()
    peerlib.wait_interrupted(peer.stop, [
        "ports: %d (defaults), %d (ssh-rsa), %d (no delete)"
        % (peer.port, peer.rsa_port, peer.nodelete_port),
        "user %s password %s" % (USER, peer.password),
        "host key %s" % peer.fingerprint("host1"),
        "keys in %s (passphrase %s)" % (peer.root / "keys", PASSPHRASE)])


if __name__ == "__main__":
    main()
