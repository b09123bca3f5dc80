#!/usr/bin/python3
"""The S3 test peer: s3rver (npm, tests/peers/node_modules) for the protocol
flow, behind sigv4_front.py, which verifies every request's SigV4 signature
with botocore before anything reaches s3rver. One front serves http, one
https (the test CA's server certificate); both share one s3rver.

    p = S3Peer(root, "127.0.0.2", pki_dir, keys={...})
    p.start(); p.url(tls=True); ...; p.stop()

Run by hand: s3_peer.py <root> <pki-dir> (Ctrl-C stops).
"""

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = HERE.parent
S3RVER = PEERS / "node_modules" / ".bin" / "s3rver"
FRONT = HERE / "sigv4_front.py"
PYTHON = "/usr/bin/python3"

# tests/peers/peerlib.py, loaded by path under a name of its own.
_spec = importlib.util.spec_from_file_location("backupd_peerlib",
                                               PEERS / "peerlib.py")
peerlib = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(peerlib)


class S3Peer:
    def __init__(self, root, host, pki, *, region, buckets, keys,
                 region_hint=None, bucket_config=None):
        self.root = Path(root)
        self.host = host
        self.pki = Path(pki)
        self.region = region
        self.buckets = list(buckets)
        self.keys = keys
        self.region_hint = region_hint or {}
        # per bucket: another region, versioning, Object Lock (the front)
        self.bucket_config = bucket_config or {}
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
            "region_hint": self.region_hint,
            "buckets": self.bucket_config}))
        os.chmod(self.root / "keys.json", 0o600)

    # ------------------------------------------------------------ process

    def start(self, timeout=30.0):
        def attempt():
            self.s3rver_port = peerlib.free_port(self.host)
            self.http_port = peerlib.free_port(self.host)
            self.https_port = peerlib.free_port(self.host)
            self._layout()
            self._spawn(timeout)
            return self
        return peerlib.retry(attempt, self.stop)

    def _popen(self, name, argv):
        node = shutil.which("node") or "/usr/bin/node"
        env = {"PATH": "%s:/usr/bin:/bin" % os.path.dirname(node),
               "LANG": "C", "HOME": str(self.root)}
        p = peerlib.spawn(argv, self.root / "log" / ("%s.log" % name),
                          env=env)
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
        peerlib.wait_until(
            lambda: all(peerlib.accepts(self.host, port) for port in (
                self.s3rver_port, self.http_port, self.https_port)),
            self.procs, "the S3 peer", self.log_tail, timeout)

    def log_tail(self, n=20):
        out = []
        for p in sorted((self.root / "log").glob("*.log")):
            out.append("--- %s" % p.name)
            out += p.read_text(errors="replace").splitlines()[-n:]
        return "\n".join(out)

    def stop(self):
        """Stop every process (each leads its own group) and wait."""
        procs, self.procs = self.procs, []
        peerlib.stop_groups(procs)

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
    peerlib.wait_interrupted(p.stop, [
        "http %s  https %s  (key AKIDTEST / test-secret, region eu-west-1, "
        "bucket backupd-test)" % (p.url(False), p.url(True))])


if __name__ == "__main__":
    main()
