"""Azurite (npm `azurite`, tests/peers/node_modules) as the Azure Blob peer,
plus a tiny independent Blob client for the tests.

Used by tests/integration/test_probe_azure_blob.py:

    peer = AzuritePeer(root, host="127.0.0.2", pki=os.environ["BACKUPD_TEST_PKI"],
                       accounts={"devstoreaccount1": DEVSTORE_KEY, ...})
    peer.start()
    peer.endpoint("devstoreaccount1")            # http://127.0.0.2:<p>/devstoreaccount1
    peer.endpoint("devstoreaccount1", tls=True)  # https://... (the test CA)
    c = peer.client("devstoreaccount1")          # BlobClient with SharedKey
    c.create_container("backups")
    peer.stop()

Two Azurite processes run: one over http, one over https with the test CA's
server certificate. Both validate SharedKey and SAS signatures (Azurite does
so always; no --loose, no --skipApiVersionCheck: requests with an unknown
x-ms-version or an unsupported header are refused as Azure would). Accounts
come from AZURITE_ACCOUNTS ("name:key;name:key"). Everything lives under
`root`; each process runs in its own session and stop() ends exactly those
process groups.

The client's SharedKey signer and SAS generators are written from
Microsoft's documentation ("Authorize with Shared Key", "Create a service
SAS", "Create an account SAS"), independently of lib/probe_azure_blob.c: a
container the client creates and Azurite accepts double-checks the doc
reading the C code relies on.

By hand: /usr/bin/python3 tests/peers/azure_blob/azurite_peer.py <root> <pki-dir>
starts it and prints the endpoints until Ctrl-C.
"""

import base64
import datetime as dt
import email.utils
import hashlib
import hmac
import importlib.util
import os
import re
import sys
import urllib.parse
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[3]
AZURITE = REPO / "tests" / "peers" / "node_modules" / ".bin" / "azurite-blob"
VERSION = "2021-08-06"
# Microsoft's published development-storage account and key.
DEVSTORE = "devstoreaccount1"
DEVSTORE_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6"
                "tq/K1SZFPTOtr/KBHBeksoGMGw==")

# tests/peers/peerlib.py, loaded by path under a name of its own.
_spec = importlib.util.spec_from_file_location(
    "backupd_peerlib", REPO / "tests" / "peers" / "peerlib.py")
peerlib = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(peerlib)


# ------------------------------------------------------------ signing

def _hmac_b64(key_b64, text):
    key = base64.b64decode(key_b64)
    return base64.b64encode(hmac.new(key, text.encode("utf-8"),
                                     hashlib.sha256).digest()).decode()


def sharedkey_string_to_sign(method, account, path, query, headers):
    """Microsoft, "Authorize with Shared Key", Blob service 2009-09-19+.
    path: the encoded URI path as sent; query: list of (name, value)
    already decoded; headers: dict of the headers sent."""
    h = {k.lower(): str(v) for k, v in headers.items()}

    def std(name):
        v = h.get(name, "")
        if name == "content-length" and v == "0":
            return ""
        return v

    lines = [method.upper()] + [std(n) for n in (
        "content-encoding", "content-language", "content-length",
        "content-md5", "content-type", "date", "if-modified-since",
        "if-match", "if-none-match", "if-unmodified-since", "range")]
    canon_h = "".join("%s:%s\n" % (k, " ".join(h[k].split()))
                      for k in sorted(h) if k.startswith("x-ms-"))
    res = "/%s%s" % (account, path or "/")
    params = {}
    for k, v in query:
        params.setdefault(k.lower(), []).append(v)
    for k in sorted(params):
        res += "\n%s:%s" % (k, ",".join(sorted(params[k])))
    return "\n".join(lines) + "\n" + canon_h + res


def service_sas(account, key_b64, container, permissions, *,
                expiry=None, start=None, protocol="https,http", se=None):
    """A container (sr=c) service SAS, signed per "Create a service SAS"
    for version 2020-12-06 and later. Returns the query string. se: the
    signed expiry exactly as written (any documented form), instead of
    expiry."""
    expiry = expiry or (dt.datetime.now(dt.timezone.utc) +
                        dt.timedelta(hours=2))
    se = se or expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
    st = start.strftime("%Y-%m-%dT%H:%M:%SZ") if start else ""
    sts = "\n".join([
        permissions, st, se, "/blob/%s/%s" % (account, container),
        "",          # signedIdentifier
        "",          # signedIP
        protocol, VERSION, "c",
        "",          # signedSnapshotTime
        "",          # signedEncryptionScope
        "", "", "", "", ""])  # rscc, rscd, rsce, rscl, rsct
    q = [("sv", VERSION), ("sr", "c"), ("sp", permissions), ("se", se)]
    if st:
        q.append(("st", st))
    q += [("spr", protocol), ("sig", _hmac_b64(key_b64, sts))]
    return urllib.parse.urlencode(q)


def account_sas(account, key_b64, permissions, *, services="b",
                resource_types="sco", expiry=None, protocol="https,http",
                se=None):
    """An account SAS per "Create an account SAS" (2020-12-06 and later)."""
    expiry = expiry or (dt.datetime.now(dt.timezone.utc) +
                        dt.timedelta(hours=2))
    se = se or expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
    sts = "\n".join([account, permissions, services, resource_types, "", se,
                     "", protocol, VERSION, "", ""])
    q = [("sv", VERSION), ("ss", services), ("srt", resource_types),
         ("sp", permissions), ("se", se), ("spr", protocol),
         ("sig", _hmac_b64(key_b64, sts))]
    return urllib.parse.urlencode(q)


class BlobClient:
    """Just enough of the Blob REST API for test setup and checks."""

    def __init__(self, endpoint, account, key_b64, verify=True):
        self.endpoint = endpoint.rstrip("/")
        self.base_path = urllib.parse.urlsplit(self.endpoint).path
        self.account = account
        self.key = key_b64
        self.verify = verify
        self.s = requests.Session()

    def request(self, method, path, query=(), data=b"", headers=None):
        """path below the endpoint ("/container/blob", already encoded)."""
        full_path = self.base_path + path
        h = {"x-ms-date": email.utils.formatdate(usegmt=True),
             "x-ms-version": VERSION}
        h.update(headers or {})
        if data or method in ("PUT", "POST"):
            h["Content-Length"] = str(len(data))
        sts = sharedkey_string_to_sign(method, self.account, full_path,
                                       list(query), h)
        h["Authorization"] = "SharedKey %s:%s" % (self.account,
                                                  _hmac_b64(self.key, sts))
        url = self.endpoint + path
        if query:
            url += "?" + urllib.parse.urlencode(list(query))
        return self.s.request(method, url, data=data, headers=h,
                              verify=self.verify, timeout=30)

    def create_container(self, name):
        r = self.request("PUT", "/" + name, [("restype", "container")])
        assert r.status_code in (201, 409), (r.status_code, r.text)

    def list_blobs(self, container, prefix=""):
        q = [("restype", "container"), ("comp", "list")]
        if prefix:
            q.append(("prefix", prefix))
        r = self.request("GET", "/" + container, q)
        assert r.status_code == 200, (r.status_code, r.text)
        return re.findall(r"<Name>([^<]*)</Name>", r.text)

    def delete_blob(self, container, name):
        r = self.request("DELETE", "/%s/%s" % (
            container, urllib.parse.quote(name)))
        assert r.status_code in (202, 404), (r.status_code, r.text)

    def put_blob(self, container, name, data):
        r = self.request("PUT", "/%s/%s" % (
            container, urllib.parse.quote(name)), data=data,
            headers={"x-ms-blob-type": "BlockBlob"})
        assert r.status_code == 201, (r.status_code, r.text)


# --------------------------------------------------------------- peer

class AzuritePeer:
    def __init__(self, root, host, pki, accounts):
        self.root = Path(root)
        self.host = host
        self.pki = Path(pki)
        self.accounts = dict(accounts)
        self.procs = []
        self.http_port = self.https_port = None

    def endpoint(self, account, tls=False):
        if tls:
            return "https://%s:%d/%s" % (self.host, self.https_port, account)
        return "http://%s:%d/%s" % (self.host, self.http_port, account)

    def client(self, account, tls=False):
        return BlobClient(self.endpoint(account, tls), account,
                          self.accounts[account],
                          verify=str(self.pki / "ca.pem") if tls else True)

    def _spawn(self, name, port, extra):
        loc = self.root / name
        loc.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["AZURITE_ACCOUNTS"] = ";".join(
            "%s:%s" % kv for kv in self.accounts.items())
        p = peerlib.spawn(
            [str(AZURITE), "--blobHost", self.host, "--blobPort", str(port),
             "--location", str(loc), "--silent", "--disableTelemetry"] +
            extra, self.root / ("%s.log" % name), env=env, cwd=str(loc),
            append=True)
        self.procs.append(p)
        return p

    def start(self, timeout=120):
        if not AZURITE.exists():
            raise RuntimeError("%s is missing (scripts/setup.sh installs "
                               "tests/peers/node_modules)" % AZURITE)
        self.root.mkdir(parents=True, exist_ok=True)
        self.http_port = peerlib.free_port(self.host)
        self.https_port = peerlib.free_port(self.host)
        try:
            self._spawn("http", self.http_port, [])
            self._spawn("https", self.https_port, [
                "--cert", str(self.pki / "server.pem"),
                "--key", str(self.pki / "server.key")])
            peerlib.wait_until(
                lambda: peerlib.accepts(self.host, self.http_port) and
                peerlib.accepts(self.host, self.https_port),
                self.procs, "azurite", lambda: "see %s" % self.root,
                timeout, interval=0.2)
        except BaseException:
            self.stop()
            raise

    def stop(self):
        procs, self.procs = self.procs, []
        peerlib.stop_groups(procs)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: azurite_peer.py <root> <pki-dir>")
    peer = AzuritePeer(sys.argv[1], "127.0.0.2", sys.argv[2],
                       {DEVSTORE: DEVSTORE_KEY})
    peer.start()
    peerlib.wait_interrupted(peer.stop, [
        "%s %s" % (peer.endpoint(DEVSTORE), peer.endpoint(DEVSTORE, tls=True)),
        "account %s key %s" % (DEVSTORE, DEVSTORE_KEY)])
