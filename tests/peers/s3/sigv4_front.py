#!/usr/bin/python3
"""A SigV4-verifying front for s3rver.

s3rver (npm) speaks the S3 protocol but does not check Signature Version 4
signatures (its authentication middleware accepts any V4 request from a
known key). This front sits between the probe and s3rver and does what AWS
does before a request reaches a bucket: it recomputes the request's
signature with AWS's own botocore (botocore.auth.S3SigV4Auth) from the
method, the path, the query, the headers listed in SignedHeaders and the
x-amz-content-sha256 payload hash, compares it with the one in the
Authorization header (hmac.compare_digest), and answers S3-style XML errors:

  unknown access key id               403 InvalidAccessKeyId
  credential scope for another region 400 AuthorizationHeaderMalformed
                                          + x-amz-bucket-region
  signature mismatch                  403 SignatureDoesNotMatch
  payload hash missing / wrong        400 InvalidRequest /
                                          XAmzContentSHA256Mismatch
  an x-amz-* header not signed        403 AccessDenied
  session token missing / wrong       400 InvalidToken
  a key marked expired                400 ExpiredToken
  a key's denied operation            403 AccessDenied
  outside a prefix-scoped key's prefix 403 AccessDenied (IAM, see scope())
  a key's injected error              that status and <Code>
  a bucket of another region          301 PermanentRedirect + <Endpoint>
                                          + x-amz-bucket-region
  an upload to an Object Lock bucket  400 InvalidRequest
  without a checksum header
  x-amz-checksum-sha256 != the body   400 BadDigest

Versioned and Object Lock buckets are emulated here (s3rver has neither):
see Versions. Bucket answers (ListObjects, HeadBucket) carry
x-amz-bucket-region. Everything else goes to s3rver with the Authorization
header removed (s3rver only knows its own dummy key), and s3rver's answer
comes back unchanged.

Keys come from a JSON file (--keys):
  {"region": "eu-west-1",
   "keys": {"AKID": {"secret": "...", "token": "...", "expired": false,
                     "deny": ["put", "delete", "list", "delete-version",
                              "get-retention"],
                     "errors": {"list": [503, "SlowDown"]},
                     "prefix": "only/this/", "bucket": "b"}},
   "region_hint": {"bucket-name": "value sent as x-amz-bucket-region"},
   "buckets": {"moved": {"region": "eu-central-1"},
               "versioned": {"versioning": true},
               "locked": {"object_lock": {"mode": "COMPLIANCE",
                                          "days": 1}}}}

Every request that passed the signature check is appended to
<state>/requests.jsonl (method, path, query, the S3 operation, the object
key and list prefix, key id, region, signed headers, x-amz-* header names,
the storage class and the status; never a secret or token value) and the
path of the last successful PUT to <state>/last_put.
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import ssl
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

MAX_BODY = 1 << 20
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/"
    r"aws4_request,\s*SignedHeaders=([a-z0-9;\-]+),\s*Signature=([0-9a-f]{64})$")
# Hop-by-hop headers are not relayed (RFC 9110 section 7.6.1).
HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
       "te", "trailer", "upgrade"}

LOCK = threading.Lock()


def xml_error(code, message, extra=""):
    rid = uuid.uuid4().hex[:16].upper()
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            "<Error><Code>%s</Code><Message>%s</Message>%s"
            "<RequestId>%s</RequestId></Error>" % (code, message, extra, rid)
            ).encode()


class S3Error(Exception):
    def __init__(self, status, code, message, headers=None, extra=""):
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra = extra


def operation(method, path, query):
    """(name the deny lists use, S3 API operation) of a request."""
    parts = [p for p in path.split("/") if p]
    q = dict(parse_qsl(query, keep_blank_values=True))
    if not parts:
        # GET / is ListBuckets (S3 API Reference, ListBuckets)
        return ("list-buckets", "ListBuckets") if method == "GET" else \
            ("service", method + " /")
    if len(parts) == 1:
        if method == "GET":
            if "location" in q:
                return "location", "GetBucketLocation"
            return "list", ("ListObjectsV2" if q.get("list-type") == "2"
                            else "ListObjects")
        return {"HEAD": ("head-bucket", "HeadBucket"),
                "PUT": ("put-bucket", "CreateBucket"),
                "DELETE": ("delete-bucket", "DeleteBucket")}.get(
                    method, ("bucket", method + " bucket"))
    if method == "DELETE":
        return ("delete-version", "DeleteObjectVersion") \
            if "versionId" in q else ("delete", "DeleteObject")
    return {"PUT": ("put", "PutObject"), "GET": ("get", "GetObject"),
            "HEAD": ("get", "HeadObject")}.get(method, (method.lower(),
                                                        method))


def scope(key, op, bucket, objkey, query):
    """Whether a prefix-scoped key may do op, as IAM decides for the policy
    docs/destinations/s3.md gives (IAM User Guide, "Amazon S3: Allows
    read and write access to objects in a folder" / S3 User Guide,
    "Condition key examples", s3:prefix):

      Allow s3:PutObject, s3:GetObject, s3:DeleteObject,
            s3:DeleteObjectVersion on arn:aws:s3:::<bucket>/<prefix>*
      Allow s3:ListBucket on arn:aws:s3:::<bucket>
            if StringLike s3:prefix "<prefix>*"

    Anything else is an implicit deny: ListBuckets, CreateBucket, and
    HeadBucket (s3:ListBucket with no s3:prefix, so the condition fails).
    A key without "prefix" is not scoped."""
    prefix = key.get("prefix")
    if prefix is None:
        return True
    if key.get("bucket") not in (None, bucket):
        return False
    if op in ("put", "get", "delete", "delete-version"):
        return objkey.startswith(prefix)
    if op == "list":
        p = dict(parse_qsl(query, keep_blank_values=True)).get("prefix")
        return p is not None and p.startswith(prefix)
    return False


def iso(t):
    """S3's timestamp form, 2026-12-07T18:00:00.000Z."""
    return datetime.fromtimestamp(t, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")


class Versions:
    """Versioning and Object Lock of the buckets configured with them,
    for the probe's objects (one version per key: the probe writes each
    key once). S3 User Guide, "Using versioning in S3 buckets" and
    "Locking objects with Object Lock"; S3 API Reference, PutObject,
    GetObject, DeleteObject:

      PutObject            answers x-amz-version-id; in an Object Lock
                           bucket with a default retention the version
                           gets that retention (mode, now + days), and
                           the upload needs Content-MD5 or a checksum
      GetObject/HeadObject x-amz-version-id, and the Object Lock headers
                           x-amz-object-lock-mode / -retain-until-date
                           (for a key allowed s3:GetObjectRetention) and
                           -legal-hold (s3:GetObjectLegalHold); a key whose
                           current version is a delete marker: 404
                           NoSuchKey + x-amz-delete-marker: true
      DeleteObject         no versionId: a delete marker (204,
                           x-amz-delete-marker: true, its x-amz-version-id)
                           and the object's version stays
      DeleteObject         versionId: that version is removed for good;
        with versionId     a version under retention: 403 AccessDenied;
                           an unknown one: 404 NoSuchVersion
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.objs = {}      # (bucket, key) -> {"vid", "until", "mode",
        #                                       "marker"}


class Front(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sigv4-front"
    sys_version = ""

    def log_message(self, fmt, *args):  # quiet; requests.jsonl has it all
        pass

    # -------------------------------------------------------------- plumbing

    def _send(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body or "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _fail(self, e):
        h = {"Content-Type": "application/xml"}
        h.update(e.headers)
        self._send(e.status, xml_error(e.code, e.message, e.extra), h)

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise S3Error(411, "MissingContentLength",
                          "You must provide the Content-Length HTTP header.")
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > MAX_BODY:
            raise S3Error(400, "EntityTooLarge", "Your proposed upload "
                          "exceeds the maximum allowed size")
        return self.rfile.read(n) if n else b""

    def _record(self, entry):
        cfg = self.server.cfg
        with LOCK:
            with open(os.path.join(cfg["state"], "requests.jsonl"), "a") as f:
                f.write(json.dumps(entry) + "\n")

    # ---------------------------------------------------------- verification

    def _verify(self, path, query, body):
        """Check the request like S3 does; returns (key id, log entry)."""
        cfg = self.server.cfg
        auth = self.headers.get("Authorization")
        if auth is None:
            raise S3Error(403, "AccessDenied", "Access Denied")
        m = AUTH_RE.match(auth.strip())
        if not m:
            raise S3Error(400, "AuthorizationHeaderMalformed",
                          "The authorization header is malformed.")
        akid, date, region, service, signed, sig = m.groups()
        key = cfg["keys"].get(akid)
        if key is None:
            raise S3Error(403, "InvalidAccessKeyId", "The AWS Access Key Id "
                          "you provided does not exist in our records.")
        bucket = ([p for p in path.split("/") if p] or [""])[0]
        if region != cfg["region"]:
            hint = cfg.get("region_hint", {}).get(bucket, cfg["region"])
            raise S3Error(
                400, "AuthorizationHeaderMalformed",
                "The authorization header is malformed; the region '%s' is "
                "wrong; expecting '%s'" % (region, cfg["region"]),
                {"x-amz-bucket-region": hint},
                "<Region>%s</Region>" % cfg["region"])
        if service != "s3":
            raise S3Error(400, "AuthorizationHeaderMalformed",
                          "The authorization header is malformed; "
                          "incorrect service.")
        amz_date = self.headers.get("x-amz-date", "")
        if not re.match(r"^\d{8}T\d{6}Z$", amz_date) or amz_date[:8] != date:
            raise S3Error(403, "AccessDenied", "AWS authentication requires "
                          "a valid Date or x-amz-date header")
        t = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=timezone.utc).timestamp()
        if abs(time.time() - t) > 900:
            raise S3Error(403, "RequestTimeTooSkewed", "The difference "
                          "between the request time and the current time "
                          "is too large.")
        names = signed.split(";")
        if "host" not in names:
            raise S3Error(400, "AuthorizationHeaderMalformed",
                          "The authorization header is malformed; host "
                          "must be signed.")
        present = {k.lower() for k in self.headers.keys()}
        unsigned = sorted(h for h in present
                          if h.startswith("x-amz-") and h not in names)
        if unsigned:
            raise S3Error(403, "AccessDenied", "There were headers present "
                          "in the request which were not signed")
        missing = [h for h in names if h not in present]
        if missing:
            raise S3Error(403, "SignatureDoesNotMatch", "A signed header "
                          "is missing from the request.")
        payload = self.headers.get("x-amz-content-sha256")
        if payload is None:
            raise S3Error(400, "InvalidRequest", "Missing required header "
                          "for this request: x-amz-content-sha256")
        if payload != "UNSIGNED-PAYLOAD" and \
                payload != hashlib.sha256(body).hexdigest():
            raise S3Error(400, "XAmzContentSHA256Mismatch", "The provided "
                          "'x-amz-content-sha256' header does not match what "
                          "was computed.")

        # Rebuild the request from what was signed and let botocore sign it.
        # The canonical URI is the path decoded and encoded again (S3 does
        # not normalise "." or "//"), the query is decoded and botocore
        # encodes it, so a client that encodes differently from AWS fails.
        headers = {}
        for h in names:
            vals = self.headers.get_all(h) or []
            headers[h] = ",".join(" ".join(v.split()) for v in vals)
        canon_path = quote(unquote(path), safe="/-_.~")
        req = AWSRequest(method=self.command,
                         url="http://%s%s" % (headers["host"], canon_path),
                         headers=headers)
        req.params = parse_qsl(query, keep_blank_values=True)
        req.context["timestamp"] = amz_date
        signer = S3SigV4Auth(Credentials(akid, key["secret"]), "s3", region)
        cr = signer.canonical_request(req)
        want = signer.signature(signer.string_to_sign(req, cr), req)
        if not hmac.compare_digest(want.encode(), sig.encode()):
            raise S3Error(403, "SignatureDoesNotMatch", "The request "
                          "signature we calculated does not match the "
                          "signature you provided. Check your key and "
                          "signing method.")

        tok = self.headers.get("x-amz-security-token")
        if key.get("token") is not None:
            if tok is None or not hmac.compare_digest(
                    tok.encode(), key["token"].encode()):
                raise S3Error(400, "InvalidToken", "The provided token is "
                              "malformed or otherwise invalid.")
        elif tok is not None:
            raise S3Error(400, "InvalidToken", "The provided token is "
                          "malformed or otherwise invalid.")
        if key.get("expired"):
            raise S3Error(400, "ExpiredToken", "The provided token has "
                          "expired.")
        return akid, {
            "method": self.command, "path": path, "query": query,
            "akid": akid, "region": region, "signed": names,
            "amz_headers": sorted(h for h in present
                                  if h.startswith("x-amz-")),
            "storage_class": self.headers.get("x-amz-storage-class"),
            "token_signed": "x-amz-security-token" in names,
            "body_len": len(body),
        }

    # ------------------------------------------------------------- handling

    def _handle(self):
        cfg = self.server.cfg
        path, _, query = self.path.partition("?")
        parts = [p for p in path.split("/") if p]
        bucket = parts[0] if parts else ""
        objkey = unquote("/".join(path.split("/")[2:])) if len(parts) > 1 \
            else None
        bcfg = cfg.get("buckets", {}).get(bucket, {})
        entry = None
        try:
            body = self._read_body()
            akid, entry = self._verify(path, query, body)
            op, api = operation(self.command, path, query)
            q = dict(parse_qsl(query, keep_blank_values=True))
            entry.update({"op": api, "key": objkey,
                          "list_prefix": q.get("prefix")})
            key = cfg["keys"][akid]
            if op in key.get("deny", []) or \
                    not scope(key, op, bucket, objkey or "", query):
                entry["status"] = 403
                raise S3Error(403, "AccessDenied", "Access Denied")
            if op in key.get("errors", {}):
                status, code = key["errors"][op]
                entry["status"] = status
                raise S3Error(status, code, "Injected by the test.")
            if bcfg.get("region") not in (None, cfg["region"]):
                # The request reached the endpoint of another region than
                # the bucket's, signed for that endpoint's region: 301
                # PermanentRedirect naming the bucket's endpoint (S3 User
                # Guide, "Request redirection and the REST API"; S3 API
                # Reference, "Error responses": PermanentRedirect, 301)
                # and its region in x-amz-bucket-region (as HeadBucket).
                r = bcfg["region"]
                entry["status"] = 301
                raise S3Error(
                    301, "PermanentRedirect", "The bucket you are "
                    "attempting to access must be addressed using the "
                    "specified endpoint. Please send all future requests "
                    "to this endpoint.", {"x-amz-bucket-region": r},
                    "<Bucket>%s</Bucket><Endpoint>%s.s3.%s.amazonaws.com"
                    "</Endpoint>" % (bucket, bucket, r))
            if op == "put":
                self._check_upload(body, bcfg)
            versioned = bool(bcfg.get("versioning") or
                             bcfg.get("object_lock"))
            if versioned and op in ("get", "delete", "delete-version"):
                out = self._versioned(op, bucket, objkey, q, key, bcfg,
                                      path)
                if out is not None:
                    status, headers = out
                    entry["status"] = status
                    self._record(entry)
                    if isinstance(headers, S3Error):
                        self._fail(headers)
                    else:
                        self._send(status, b"", headers)
                    return
        except S3Error as e:
            if entry is not None:
                entry.setdefault("status", e.status)
                self._record(entry)
            self._fail(e)
            return
        fwd_query = "" if op == "delete-version" else query
        status, headers, rbody = self._forward(path, fwd_query, body)
        entry["status"] = status
        if op == "put" and status == 200 and versioned:
            headers.update(self._new_version(bucket, objkey, bcfg, entry))
        if op == "get" and versioned and status == 200:
            headers.update(self._version_headers(bucket, objkey, key))
        if op in ("list", "head-bucket") and status == 200:
            # HeadBucket: "x-amz-bucket-region — The Region that the
            # bucket is located" (S3 API Reference, HeadBucket); S3 sends
            # it on the bucket's other answers too.
            headers["x-amz-bucket-region"] = cfg["region"]
        self._record(entry)
        if self.command == "PUT" and status == 200 and op == "put":
            with LOCK:
                with open(os.path.join(cfg["state"], "last_put"), "w") as f:
                    f.write(path)
        self._send(status, rbody, headers)

    # ------------------------------------------- versioning and Object Lock

    def _check_upload(self, body, bcfg):
        h = {k.lower(): v for k, v in self.headers.items()}
        sha = h.get("x-amz-checksum-sha256")
        if sha is not None and sha != base64.b64encode(
                hashlib.sha256(body).digest()).decode():
            # S3 User Guide, "Checking object integrity": a checksum
            # that does not match the body fails the upload.
            raise S3Error(400, "BadDigest", "The SHA256 you specified did "
                          "not match the calculated checksum.")
        lock = bcfg.get("object_lock")
        if lock and lock.get("days") and "content-md5" not in h and \
                "x-amz-sdk-checksum-algorithm" not in h and \
                not any(k.startswith("x-amz-checksum-") for k in h):
            # S3 API Reference, PutObject: "The Content-MD5 or
            # x-amz-sdk-checksum-algorithm header is required for any
            # request to upload an object with a retention period
            # configured using Amazon S3 Object Lock."
            raise S3Error(400, "InvalidRequest", "Content-MD5 OR "
                          "x-amz-checksum- HTTP header is required for Put "
                          "Object requests with Object Lock parameters")

    def _new_version(self, bucket, objkey, bcfg, entry):
        vid = uuid.uuid4().hex
        lock = bcfg.get("object_lock") or {}
        o = {"vid": vid, "marker": None, "mode": None, "until": None}
        if lock.get("days"):
            o["mode"] = lock.get("mode", "GOVERNANCE")
            o["until"] = time.time() + 86400 * lock["days"]
            entry["retain_until"] = iso(o["until"])
        with self.server.versions.lock:
            self.server.versions.objs[(bucket, objkey)] = o
        return {"x-amz-version-id": vid}

    def _version_headers(self, bucket, objkey, key):
        with self.server.versions.lock:
            o = dict(self.server.versions.objs.get((bucket, objkey)) or {})
        if not o.get("vid"):
            return {}
        h = {"x-amz-version-id": o["vid"]}
        deny = key.get("deny", [])
        if o.get("until") and "get-retention" not in deny:
            h["x-amz-object-lock-mode"] = o["mode"]
            h["x-amz-object-lock-retain-until-date"] = iso(o["until"])
        if o.get("until") and "get-legal-hold" not in deny:
            h["x-amz-object-lock-legal-hold"] = "OFF"
        return h

    def _versioned(self, op, bucket, objkey, q, key, bcfg, path):
        """The answer for a GET/DELETE the versions decide, as (status,
        headers or S3Error), or None to forward to s3rver."""
        vs = self.server.versions
        with vs.lock:
            o = vs.objs.get((bucket, objkey))
            if op == "get":
                if o is not None and o["marker"] is not None:
                    return 404, S3Error(
                        404, "NoSuchKey", "The specified key does not "
                        "exist.", {"x-amz-delete-marker": "true",
                                   "x-amz-version-id": o["marker"]})
                return None
            if op == "delete":
                if o is None:
                    o = vs.objs[(bucket, objkey)] = {
                        "vid": None, "until": None, "mode": None,
                        "marker": None}
                o["marker"] = uuid.uuid4().hex
                return 204, {"x-amz-delete-marker": "true",
                             "x-amz-version-id": o["marker"]}
            vid = q.get("versionId")
            if o is not None and vid == o["marker"]:
                o["marker"] = None
                return 204, {"x-amz-delete-marker": "true",
                             "x-amz-version-id": vid}
            if o is None or vid != o["vid"]:
                return 404, S3Error(404, "NoSuchVersion", "The specified "
                                    "version does not exist.")
            if o["until"] is not None and o["until"] > time.time():
                return 403, S3Error(403, "AccessDenied", "Access Denied "
                                    "because object protected by object "
                                    "lock.")
            o["vid"] = None
            if o["marker"] is None:
                del vs.objs[(bucket, objkey)]
        st, _, _ = self._forward(path, "", b"")
        return (204 if st in (200, 204) else st), {"x-amz-version-id": vid}

    def _forward(self, path, query, body):
        host, port = self.server.cfg["upstream"]
        c = http.client.HTTPConnection(host, port, timeout=30)
        try:
            h = {}
            for k, v in self.headers.items():
                if k.lower() in HOP or k.lower() in ("authorization", "host"):
                    continue
                h[k] = v
            h["Host"] = "%s:%d" % (host, port)
            h["Content-Length"] = str(len(body))
            c.request(self.command, path + ("?" + query if query else ""),
                      body=body, headers=h)
            r = c.getresponse()
            rbody = r.read()
            out = {}
            for k, v in r.getheaders():
                if k.lower() in HOP or k.lower() in ("content-length",
                                                     "date", "server"):
                    continue
                out[k] = v
            if self.command == "HEAD":
                out["Content-Length"] = r.getheader("Content-Length", "0")
            return r.status, out, rbody
        finally:
            c.close()

    do_GET = do_PUT = do_DELETE = do_HEAD = do_POST = _handle


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", required=True, help="host:port")
    ap.add_argument("--upstream", required=True, help="s3rver host:port")
    ap.add_argument("--keys", required=True, help="JSON file, see above")
    ap.add_argument("--state", required=True, help="directory for logs")
    ap.add_argument("--cert", help="PEM certificate: serve HTTPS")
    ap.add_argument("--key", help="PEM private key for --cert")
    a = ap.parse_args()

    with open(a.keys) as f:
        cfg = json.load(f)
    uh, up = a.upstream.rsplit(":", 1)
    cfg["upstream"] = (uh, int(up))
    cfg["state"] = a.state
    os.makedirs(a.state, exist_ok=True)
    lh, lp = a.listen.rsplit(":", 1)
    srv = ThreadingHTTPServer((lh, int(lp)), Front)
    srv.daemon_threads = True
    srv.cfg = cfg
    srv.versions = Versions()
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("listening on %s:%d" % srv.server_address[:2], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
