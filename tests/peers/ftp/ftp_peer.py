"""FTP test peers for tests/integration/test_probe_ftp.py.

- Vsftpd: Debian's /usr/sbin/vsftpd, one standalone instance per TLS mode,
  started with its own config file (vsftpd.conf.in beside this file),
  listening on the peer host (127.0.0.2) and a free port, in the foreground,
  stopped with its children at the end. Never the system service.
- ensure_user(): vsftpd logs local users in through PAM (Debian's
  /etc/pam.d/vsftpd: pam_unix, pam_shells, /etc/ftpusers), so the tests
  need a real system account. user_for(stack dir) names one per stack
  directory ("bkftp-" + 8 hex digits), so suites running side by side with
  different stack dirs never change each other's password. ensure_user()
  creates it if it does not exist (system account, home "/" because vsftpd
  must chdir to the home before local_root, shell /bin/sh because
  pam_shells wants one from /etc/shells) and sets a fresh random password
  (chpasswd on stdin, never on a command line or in a file);
  remove_user() deletes it at the end. Needs root, like vsftpd itself.
- SilentServer: accepts TCP connections and never says a word (no FTP 220
  greeting, no TLS handshake).
- PasvElsewhereServer: a tiny fake FTP server whose PASV reply points at
  another address (EPSV refused so PASV is used), to prove the probe opens
  the data connection to the control connection's address instead.
- Listener: counts TCP connections arriving at an address (SSRF cases).

Run it by hand for development:
  sudo /usr/bin/python3 tests/peers/ftp/ftp_peer.py /tmp/ftp-dev [pki-dir]
"""

import hashlib
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "vsftpd.conf.in"
VSFTPD = "/usr/sbin/vsftpd"
USER_PREFIX = "bkftp-"

# tests/peers/peerlib.py, loaded by path under a name of its own.
_spec = importlib.util.spec_from_file_location("backupd_peerlib",
                                               HERE.parent / "peerlib.py")
peerlib = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(peerlib)


# ------------------------------------------------------------------ helpers


def user_for(stack_dir):
    """The test account of the suite whose stack lives in stack_dir."""
    h = hashlib.sha256(str(Path(stack_dir).resolve()).encode()).hexdigest()
    return USER_PREFIX + h[:8]


def ensure_user(user, password):
    """Create the test account if needed and give it `password`; returns
    its (uid, gid)."""
    if os.geteuid() != 0:
        raise PermissionError("the FTP peer needs root (vsftpd, useradd)")
    if not user.startswith(USER_PREFIX):
        raise ValueError("not a test account: %r" % user)
    r = subprocess.run(["getent", "passwd", user], capture_output=True)
    if r.returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home",
                        "--home-dir", "/", "--shell", "/bin/sh",
                        "--comment", "backupd FTP probe tests", user],
                       check=True, capture_output=True)
    subprocess.run(["chpasswd"], input="%s:%s\n" % (user, password),
                   text=True, check=True, capture_output=True)
    pw = subprocess.run(["getent", "passwd", user], capture_output=True,
                        text=True, check=True).stdout.strip().split(":")
    return int(pw[2]), int(pw[3])


def remove_user(user):
    """Delete a test account made by ensure_user (nothing else)."""
    if not user.startswith(USER_PREFIX):
        raise ValueError("not a test account: %r" % user)
    subprocess.run(["userdel", user], capture_output=True)


def self_signed(dirpath, host):
    """A certificate for `host` signed by nobody anyone trusts."""
    cert, key = Path(dirpath) / "selfsigned.pem", Path(dirpath) / "selfsigned.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-days", "2", "-subj", "/CN=%s" % host,
                    "-addext", "subjectAltName=IP:%s,DNS:localhost" % host,
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    return str(cert), str(key)


def wait_accepting(host, port, timeout=10.0, proc=None, greeting=True):
    """Until host:port accepts (and, with greeting, sends a 220 line)."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("peer exited with %s" % proc.returncode)
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                if not greeting:
                    return
                s.settimeout(2)
                if s.recv(64).startswith(b"220"):
                    return
        except OSError as e:
            last = e
        time.sleep(0.05)
    raise RuntimeError("nothing accepts at %s:%d (%s)" % (host, port, last))


# ------------------------------------------------------------------- vsftpd

class Vsftpd:
    """One vsftpd listener. tls: "none", "explicit" or "implicit"; extra:
    more config lines (e.g. "cmds_denied=DELE")."""

    def __init__(self, base, name, host, local_root, tls="none", cert=None,
                 key=None, extra=()):
        self.base = Path(base)
        self.name = name
        self.host = host
        self.port = peerlib.free_port(host)
        self.tls = tls
        self.proc = None
        self.conf = self.base / ("%s.conf" % name)
        self.log = self.base / ("%s.log" % name)
        self.empty = self.base / "empty"
        pasv_min = 20000 + secrets.randbelow(40000)
        lines = TEMPLATE.read_text().format(
            host=host, port=self.port, empty=self.empty,
            local_root=local_root, log=self.log,
            pasv_min=pasv_min, pasv_max=pasv_min + 99,
            banner="backupd-ftp-peer %s" % name)
        if tls == "none":
            lines += "ssl_enable=NO\n"
        else:
            lines += ("ssl_enable=YES\n"
                      "implicit_ssl=%s\n"
                      "rsa_cert_file=%s\n"
                      "rsa_private_key_file=%s\n"
                      "ssl_ciphers=HIGH\n"
                      "ssl_tlsv1=YES\nssl_sslv2=NO\nssl_sslv3=NO\n"
                      "allow_anon_ssl=NO\n"
                      "force_local_logins_ssl=YES\n"
                      "force_local_data_ssl=YES\n"
                      # With TLS 1.3, OpenSSL's single-use session tickets
                      # make vsftpd's required session reuse fail at random
                      # for curl's data connections (522, then a dropped
                      # transfer): see the README section.
                      "require_ssl_reuse=NO\n"
                      % ("YES" if tls == "implicit" else "NO", cert, key))
        for e in extra:
            lines += e + "\n"
        self.conf.write_text(lines)
        # vsftpd refuses a config file others may write.
        os.chmod(self.conf, 0o600)

    def start(self):
        self.empty.mkdir(mode=0o755, exist_ok=True)
        os.chown(self.empty, 0, 0)
        self.proc = peerlib.spawn([VSFTPD, str(self.conf)],
                                  self.base / ("%s.out" % self.name),
                                  append=True)
        try:
            wait_accepting(self.host, self.port, proc=self.proc,
                           greeting=self.tls != "implicit")
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        if self.proc is not None:
            peerlib.stop_groups([self.proc], timeout=5)


# -------------------------------------------------------------- fake peers

class Listener(peerlib.TcpServer):
    """Counts connections; says nothing."""


class SilentServer(peerlib.TcpServer):
    """Accepts and never answers (the connections stay open until close)."""


class PasvElsewhereServer(peerlib.TcpServer):
    """Control connection on host; EPSV refused; PASV names `elsewhere` with
    a port on which this server also listens at `host` (the data socket).
    The directory listing works; STOR is refused with 553, so a probe that
    followed the PASV address would fail at target, one that used the
    control connection's address fails at write."""

    def __init__(self, host, elsewhere):
        self.elsewhere = elsewhere
        self.data = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.data.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.data.bind((host, 0))
        self.data.listen(4)
        self.data.settimeout(5)
        self.data_port = self.data.getsockname()[1]
        self.data_accepted = 0
        # Something at the PASV address with the same port, to prove
        # nothing went there.
        self.decoy = Listener(elsewhere, self.data_port)
        super().__init__(host)

    def handle(self, conn):
        threading.Thread(target=self._session, args=(conn,),
                         daemon=True).start()

    def _session(self, conn):
        f = conn.makefile("rb")

        def say(line):
            conn.sendall(line.encode() + b"\r\n")
        try:
            say("220 fake")
            while True:
                raw = f.readline()
                if not raw:
                    return
                cmd = raw.decode(errors="replace").strip()
                verb = cmd.split(" ", 1)[0].upper()
                if verb == "USER":
                    say("331 password please")
                elif verb == "PASS":
                    say("230 in")
                elif verb == "PWD":
                    say('257 "/" is the current directory')
                elif verb == "CWD":
                    say("250 ok")
                elif verb == "TYPE":
                    say("200 ok")
                elif verb == "EPSV":
                    say("500 EPSV not understood")
                elif verb == "PASV":
                    a = self.elsewhere.split(".")
                    say("227 Entering Passive Mode (%s,%s,%s,%s,%d,%d)"
                        % (a[0], a[1], a[2], a[3], self.data_port >> 8,
                           self.data_port & 255))
                elif verb in ("NLST", "LIST"):
                    try:
                        d, _ = self.data.accept()
                    except OSError:
                        say("425 no data connection")
                        continue
                    self.data_accepted += 1
                    say("150 here it comes")
                    d.sendall(b"one\r\ntwo\r\n")
                    d.close()
                    say("226 done")
                elif verb == "STOR":
                    say("553 not here")
                elif verb == "QUIT":
                    say("221 bye")
                    return
                else:
                    say("502 not implemented")
        except OSError:
            return
        finally:
            f.close()

    def close(self):
        super().close()
        self.decoy.close()
        self.data.close()


# ------------------------------------------------------------------ by hand

def main(argv):
    base = Path(argv[1] if len(argv) > 1 else "/tmp/ftp-dev").resolve()
    pki = argv[2] if len(argv) > 2 else None
    host = os.environ.get("BACKUPD_TEST_PEER_HOST", "127.0.0.2")
    password = secrets.token_urlsafe(18)
    user = user_for(base)
    uid, gid = ensure_user(user, password)
    base.mkdir(parents=True, exist_ok=True)
    root = base / "root"
    (root / "writable").mkdir(parents=True, exist_ok=True)
    os.chown(root / "writable", uid, gid)
    peers = [Vsftpd(base, "plain", host, root).start()]
    if pki:
        peers.append(Vsftpd(base, "explicit", host, root, "explicit",
                            pki + "/server.pem", pki + "/server.key").start())
        peers.append(Vsftpd(base, "implicit", host, root, "implicit",
                            pki + "/server.pem", pki + "/server.key").start())
    print("user %s password %s" % (user, password))
    for p in peers:
        print("%s: %s:%d" % (p.name, host, p.port))
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        for p in peers:
            p.stop()
        remove_user(user)
        shutil.rmtree(base / "empty", ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv)
