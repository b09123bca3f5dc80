"""One connection per host per probe (issue 9 item 6) and observed.tls
(issue 9 item 4), through a counting TCP relay (tests/peers/relay.py) put
between backupd and the real peers the other probe tests run: S3 (s3rver
behind the SigV4 front), Azure Blob (Azurite), WebDAV (Apache), FTP/FTPS
(vsftpd: the control connection; passive data connections go to vsftpd
directly and are new sockets by design), SFTP (OpenSSH) and SMB (Samba).

Proven here, per type and scheme: creating the destination (a probe) opens
exactly one TCP connection to the host, and so does a later test of it (a
probe never reuses the previous probe's connection: the session dies with
the probe); every check passed; observed.tls is {"version": "TLSv1.3",
"verified": true} over https/ftps and absent over http/ftp/ssh/smb.

Not here: GCS, Google Drive, OneDrive and Dropbox talk to server-wide stub
URLs on fixed ports (scripts/integration.sh) that a per-test relay cannot sit
in front of without a stack of its own; their probes go through the same
probe_curl()/probe_run() session (lib/probe/probe.c), which
tests/unit/probe/test_probe_session.c proves on its own (reuse across
handles, two handles alive at once, the egress gate refusing a denied
address in the middle of a probe).

With BACKUPD_BENCH_DELAY_MS set, test_bench exists (bench_probe_connections.sh
selects it with -k): each case through a relay delaying every chunk, results as JSON
lines in BACKUPD_BENCH_OUT (scripts/bench_probe_connections.sh).
"""

import json
import os
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest

from conftest import REPO, register_secrets
from probe_helpers import (PEERS, created, dest_body, load_by_path, peer_host,
                           probe_files, running)

# The FTP fixture (vsftpd instances, a local user) is test_probe_ftp's own.
from test_probe_ftp import PASSWORD as FTP_PASSWORD  # noqa: F401
from test_probe_ftp import ftp, new_dir  # noqa: F401

Relay = load_by_path("backupd_relay", PEERS / "relay.py").Relay
S3Peer = load_by_path("backupd_s3_peer", PEERS / "s3" / "s3_peer.py").S3Peer
WebdavPeer = load_by_path("backupd_webdav_peer", PEERS / "webdav" /
                          "webdav_peer.py").WebdavPeer
sys.path.insert(0, str(REPO / "tests" / "peers" / "azure_blob"))
sys.path.insert(0, str(REPO / "tests" / "peers" / "sftp"))
sys.path.insert(0, str(REPO / "tests" / "peers" / "smb"))
from azurite_peer import DEVSTORE, DEVSTORE_KEY, AzuritePeer  # noqa: E402
from sftp_peer import USER as SFTP_USER  # noqa: E402
from sftp_peer import SftpPeer  # noqa: E402
from smb_peer import USER as SMB_USER  # noqa: E402
from smb_peer import SmbPeer  # noqa: E402

LIST = "/backup-destinations"
BENCH_DELAY_MS = os.environ.get("BACKUPD_BENCH_DELAY_MS")
BENCH_OUT = os.environ.get("BACKUPD_BENCH_OUT")
BENCH_PROBES = int(os.environ.get("BACKUPD_BENCH_PROBES", "3"))
S3_REGION = "eu-west-1"
S3_BUCKET = "backupd-conn"
S3_SECRET = "s3conn-%s" % uuid.uuid4().hex
DAV_USER = "backup"
DAV_PASSWORD = "davconn-%s" % uuid.uuid4().hex
register_secrets("s3", S3_SECRET)
register_secrets("webdav", DAV_PASSWORD)
TLS13 = {"version": "TLSv1.3", "verified": True}

def stack_peer_root(env, name):
    return Path(env["BACKUPD_STACK_DIR"]) / "peers" / ("conn-" + name)


@pytest.fixture(scope="module")
def s3(env):
    host, pki = peer_host()
    yield from running(S3Peer(
        stack_peer_root(env, "s3"), host, pki, region=S3_REGION,
        buckets=[S3_BUCKET], keys={"AKIDCONN": {"secret": S3_SECRET}}))


@pytest.fixture(scope="module")
def azure(env):
    host, pki = peer_host()
    yield from running(AzuritePeer(stack_peer_root(env, "azure"), host, pki,
                                   {DEVSTORE: DEVSTORE_KEY}))


@pytest.fixture(scope="module")
def webdav(env):
    host, pki = peer_host()
    yield from running(WebdavPeer(stack_peer_root(env, "webdav"), host, pki,
                                  username=DAV_USER, password=DAV_PASSWORD))


@pytest.fixture(scope="module")
def sftp(env):
    p = SftpPeer(stack_peer_root(env, "sftp"), peer_host(pki=False))
    p.start()
    try:
        register_secrets("sftp", p.password)
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="module")
def smb(env):
    p = SmbPeer(stack_peer_root(env, "smb"), peer_host(pki=False))
    p.start()
    try:
        register_secrets("smb", p.password)
        yield p
    finally:
        p.stop()


def relayed(url, port):
    """url with its port replaced by port (same host)."""
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(u._replace(
        netloc="%s:%d" % (u.hostname, port)))


def url_target(url):
    u = urllib.parse.urlsplit(url)
    return u.hostname, u.port


# A case: (fixture, tls, target(peer) -> (host, port),
#          body(peer, relay_port) -> destination body, probe files dir or
#          None). Each body gets a fresh place to write.
def _s3(tls):
    return ("s3", tls, lambda p: url_target(p.url(tls)),
            lambda p, port: dest_body(
                "s3", "conn-s3", None, endpoint=relayed(p.url(tls), port),
                region=S3_REGION, bucket=S3_BUCKET,
                prefix="conn/%s" % uuid.uuid4().hex[:8],
                accessKeyId="AKIDCONN", secretAccessKey=S3_SECRET,
                forcePathStyle=True), None)


def _azure_body(p, port, tls):
    cont = "c" + uuid.uuid4().hex[:16]
    p.client(DEVSTORE, tls).create_container(cont)
    return dest_body("azure_blob", "conn-az", None, accountName=DEVSTORE,
                     container=cont, accountKey=DEVSTORE_KEY,
                     endpoint=relayed(p.endpoint(DEVSTORE, tls), port))


def _azure(tls):
    return ("azure", tls, lambda p: url_target(p.endpoint(DEVSTORE, tls)),
            lambda p, port: _azure_body(p, port, tls), None)


def _webdav(tls, loc="basic"):
    return ("webdav", tls, lambda p: url_target(p.url(loc, tls)),
            lambda p, port: dest_body(
                "webdav", "conn-dav", None,
                url=relayed(p.url(loc, tls), port), username=DAV_USER,
                password=DAV_PASSWORD), lambda p: p.dir(loc))


def _ftp(which, tls):
    def body(f, port):
        return dest_body("ftp", "conn-ftp", None, host=f.host, port=port,
                         username=f.user, password=FTP_PASSWORD,
                         path=new_dir(f), tls=tls)
    return ("ftp", tls != "none",
            lambda f: (f.host, getattr(f, which).port), body, None)


CASES = {
    "s3-https": _s3(True),
    "s3-http": _s3(False),
    "azure-https": _azure(True),
    "azure-http": _azure(False),
    "webdav-https": _webdav(True),
    "webdav-http": _webdav(False),
    "webdav-digest-https": _webdav(True, "digest"),
    "ftp-explicit": _ftp("explicit", "explicit"),
    "ftp-implicit": _ftp("implicit", "implicit"),
    "ftp-plain": _ftp("plain", "none"),
    "sftp": ("sftp", False, lambda p: (p.host, p.port),
             lambda p, port: dest_body("sftp", "conn-sftp", None,
                                       host=p.host, port=port,
                                       username=SFTP_USER,
                                       password=p.password,
                                       path=str(p.dir("writable"))),
             lambda p: p.dir("writable")),
    "smb": ("smb", False, lambda p: (p.host, p.port),
            lambda p, port: dest_body("smb", "conn-smb", None, host=p.host,
                                      port=port, share="data",
                                      username=SMB_USER,
                                      password=p.password), None),
}
# What the benchmark measures: each remote type over its usual scheme.
BENCH_CASES = ["s3-https", "azure-https", "webdav-https", "ftp-explicit",
               "sftp", "smb"]


def start_case(request, name, delay=0.0):
    fixture, tls, target, make_body, files = CASES[name]
    peer = request.getfixturevalue(fixture)
    host, port = target(peer)
    relay = Relay(host, host, port, delay)
    request.addfinalizer(relay.close)
    return peer, tls, relay, make_body(peer, relay.port), files


@pytest.mark.parametrize("name", list(CASES))
def test_one_connection_per_probe(api, request, name):
    peer, tls, relay, b, files = start_case(request, name)
    # Creating runs the probe: one connection to the host.
    r, d, tr = created(api, b)
    assert relay.accepted == 1, (name, relay.accepted, tr)
    if tls:
        assert tr.get("observed", {}).get("tls") == TLS13, tr
    else:
        assert "tls" not in tr.get("observed", {}), tr
    if files is not None:
        assert probe_files(files(peer)) == []
    # A later test is a new probe: a connection of its own, one again
    # (nothing of the first probe's session is left to reuse).
    relay.reset()
    r = api.post("%s/%s/test" % (LIST, d["id"]))
    assert r.status_code == 200, r.text
    tr2 = r.json()
    assert tr2["ok"], tr2
    assert relay.accepted == 1, (name, relay.accepted, tr2)
    if tls:
        assert tr2["observed"]["tls"] == TLS13, tr2
    else:
        assert "tls" not in tr2.get("observed", {}), tr2


def test_untrusted_certificate_is_no_observation(api, request, ftp):
    """A TLS connection whose certificate fails verification ends the probe
    at connect; observed says nothing about TLS (only connections that
    completed their handshake, so were verified, are reported)."""
    relay = Relay(ftp.host, ftp.host, ftp.selfsigned.port)
    request.addfinalizer(relay.close)
    b = dest_body("ftp", "conn-ftp", None, host=ftp.host, port=relay.port,
                  username=ftp.user, password=FTP_PASSWORD,
                  path=new_dir(ftp))
    r = api.post(LIST, json=b)
    assert r.status_code == 422, r.text
    p = r.json()
    assert p["failedCheck"] == "connect", p
    assert "tls" not in p["lastTest"].get("observed", {}), p
    assert relay.accepted == 1


def bench(api, request):
    """One JSON line per case: connections and request turns per probe,
    probe latency and client wall time (ms), over BENCH_PROBES probes (the
    create and BENCH_PROBES - 1 tests)."""
    delay = float(BENCH_DELAY_MS) / 1000.0
    out = []
    for name in BENCH_CASES:
        peer, tls, relay, b, files = start_case(request, name, delay)
        runs = []
        t0 = time.monotonic()
        r = api.post(LIST, json=b)
        wall = (time.monotonic() - t0) * 1000
        assert r.status_code == 201, r.text
        d = r.json()
        runs.append((relay.reset(), d["lastTest"]["latencyMs"], wall,
                     d["lastTest"]["ok"]))
        for _ in range(BENCH_PROBES - 1):
            t0 = time.monotonic()
            r = api.post("%s/%s/test" % (LIST, d["id"]))
            wall = (time.monotonic() - t0) * 1000
            assert r.status_code == 200, r.text
            runs.append((relay.reset(), r.json()["latencyMs"], wall,
                         r.json()["ok"]))
        api.delete("%s/%s" % (LIST, d["id"]))
        relay.close()
        out.append({
            "case": name, "tls": tls, "delayMs": float(BENCH_DELAY_MS),
            "connections": [c for (c, _), _, _, _ in runs],
            "turns": [t for (_, t), _, _, _ in runs],
            "latencyMs": [lat for _, lat, _, _ in runs],
            "wallMs": [round(w) for _, _, w, _ in runs],
            "ok": all(ok for _, _, _, ok in runs)})
    if BENCH_OUT:
        with open(BENCH_OUT, "w") as f:
            for o in out:
                f.write(json.dumps(o) + "\n")


# Only in a benchmark run (defined, not skipped, so that the suite has no
# skip: conftest ALLOWED_SKIPS).
if BENCH_DELAY_MS:
    test_bench = bench
