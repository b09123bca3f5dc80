#!/usr/bin/python3
"""The S3 test peer: s3rver (npm, tests/peers/node_modules) for the protocol
flow, behind sigv4_front.py, which verifies every request's SigV4 signature
with botocore before anything reaches s3rver. One front serves http, one
https (the test CA's server certificate); both share one s3rver.

    p = S3Peer(root, "127.0.0.2", pki_dir, keys={...})
    p.start(); p.url(tls=True); ...; p.stop()

Run by hand: s3_peer.py <root> <pki-dir> (Ctrl-C stops).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = HERE.parent
S3RVER = PEERS / "node_modules" / ".bin" / "s3rver"
FRONT = HERE / "sigv4_front.py"
PYTHON = "/usr/bin/python3"


def free_port(host):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _accepts(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class S3Peer:
    def __init__(self, root, host, pki, *, region, buckets, keys,
                 region_hint=None):
        self.root = Path(root)
        self.host = host
        self.pki = Path(pki)
        self.region = region
        self.buckets = list(buckets)
        self.keys = keys
        self.region_hint = region_hint or {}
        self.procs = []
        self.s3rver_port = self.http_port = self.https_port = None

    # ------------------------------------------------------------ layout

    @property
    def data(self):
        return self.root / "data"

    def state(self, tls):
        return self.root / ("state-https" if tls else "state-http")

    def url(self, tls=True):
        return "%s://%s:%d" % ("https" if tls else "http", self.host,
                               self.https_port if tls else self.http_port)

    def _layout(self):
        if self.root.exists():
            shutil.rmtree(self.root)
        for d in (self.data, self.state(False), self.state(True),
                  self.root / "log"):
            d.mkdir(parents=True)
        (self.root / "keys.json").write_text(json.dumps({
            "region": self.region, "keys": self.keys,
            "region_hint": self.region_hint}))
        os.chmod(self.root / "keys.json", 0o600)

    # ------------------------------------------------------------ process

    def start(self, timeout=30.0):
        last = None
        for _ in range(3):  # a picked port may be taken meanwhile: retry
            self.s3rver_port = free_port(self.host)
            self.http_port = free_port(self.host)
            self.https_port = free_port(self.host)
            self._layout()
            try:
                self._spawn(timeout)
                return self
            except RuntimeError as e:
                last = e
                self.stop()
        raise last

    def _popen(self, name, argv):
        node = shutil.which("node") or "/usr/bin/node"
        env = {"PATH": "%s:/usr/bin:/bin" % os.path.dirname(node),
               "LANG": "C", "HOME": str(self.root)}
        log = open(self.root / "log" / ("%s.log" % name), "wb")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, env=env,
                             start_new_session=True)
        log.close()
        p.peer_name = name
        self.procs.append(p)
        return p

    def _spawn(self, timeout):
        argv = [str(S3RVER), "-d", str(self.data), "-a", self.host,
                "-p", str(self.s3rver_port)]
        for b in self.buckets:
            argv += ["--configure-bucket", b]
        self._popen("s3rver", argv)
        up = "%s:%d" % (self.host, self.s3rver_port)
        keys = str(self.root / "keys.json")
        self._popen("front-http", [
            PYTHON, str(FRONT), "--listen", "%s:%d" % (self.host,
                                                      self.http_port),
            "--upstream", up, "--keys", keys,
            "--state", str(self.state(False))])
        self._popen("front-https", [
            PYTHON, str(FRONT), "--listen", "%s:%d" % (self.host,
                                                      self.https_port),
            "--upstream", up, "--keys", keys,
            "--state", str(self.state(True)),
            "--cert", str(self.pki / "server.pem"),
            "--key", str(self.pki / "server.key")])
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError("%s exited (%d): %s" % (
                        p.peer_name, p.returncode, self.log_tail()))
            if all(_accepts(self.host, port) for port in (
                    self.s3rver_port, self.http_port, self.https_port)):
                return
            time.sleep(0.1)
        raise RuntimeError("the S3 peer did not start listening: %s"
                           % self.log_tail())

    def log_tail(self, n=20):
        out = []
        for p in sorted((self.root / "log").glob("*.log")):
            out.append("--- %s" % p.name)
            out += p.read_text(errors="replace").splitlines()[-n:]
        return "\n".join(out)

    def stop(self):
        """Stop every process (each leads its own group) and wait."""
        procs, self.procs = self.procs, []
        for p in procs:
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(p.pid, signal.SIGKILL)  # anything left over
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    # ------------------------------------------------------------ inspect

    def requests(self, tls):
        """The front's log of verified requests (list of dicts)."""
        p = self.state(tls) / "requests.jsonl"
        if not p.exists():
            return []
        return [json.loads(ln) for ln in p.read_text().splitlines() if ln]

    def last_put(self, tls):
        p = self.state(tls) / "last_put"
        return p.read_text() if p.exists() else None

    def probe_objects(self, bucket):
        """Names of files s3rver holds for probe objects in bucket."""
        out = []
        for dirpath, _, files in os.walk(self.data / bucket):
            out += [os.path.join(dirpath, f) for f in files
                    if ".backupd-probe-" in f]
        return sorted(out)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: s3_peer.py <root> <pki-dir>")
    p = S3Peer(sys.argv[1], "127.0.0.2", sys.argv[2], region="eu-west-1",
               buckets=["backupd-test"],
               keys={"AKIDTEST": {"secret": "test-secret"}})
    p.start()
    print("http %s  https %s  (key AKIDTEST / test-secret, region "
          "eu-west-1, bucket backupd-test)" % (p.url(False), p.url(True)))
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        p.stop()


if __name__ == "__main__":
    main()
