"""A documented-behaviour front before the real Azurite: immutable storage,
a request log, and a delay.

Why it exists. Azurite 3.37 (tests/peers/node_modules/azurite) does not
implement immutable storage: Set Blob Immutability Policy, Delete Blob
Immutability Policy and Set Blob Legal Hold throw NotImplementedError
(dist/src/blob/handlers/BlobHandler.js), and Get Blob never reports a
policy or a hold. Azure's behaviour is documented, so this front adds
exactly that and nothing else:

- Get Blob / Get Blob Properties of a blob in a container with a rule
  {"until": datetime or None, "mode": "unlocked"|"locked", "legal_hold":
  bool} answer as Azurite does, plus the response headers Microsoft
  documents for version 2020-06-12 and later ("Get Blob", "Get Blob
  Properties"): x-ms-immutability-policy-until-date (RFC 1123),
  x-ms-immutability-policy-mode and x-ms-legal-hold.
- Delete Blob of such a blob answers 409 with the documented error codes
  ("Blob service error codes"): BlobImmutableDueToLegalHold while a legal
  hold is set, else BlobImmutableDueToPolicy while the policy's date lies
  ahead; in Azure's error document shape and with x-ms-error-code. Azure
  authorizes a request before it looks at the blob, so the 409 is answered
  only for a request Azure would have authorized: a SharedKey request, or a
  SAS whose sp grants d. Any other delete goes to Azurite, which answers the
  authorization error itself. (The front does not re-check a SharedKey
  signature: the tests reach delete only after Azurite accepted the same
  credentials for the upload and the read.)

Everything else passes through unchanged (method, path, query, headers,
body), so SharedKey and SAS signatures stay Azurite's to validate.

It also logs every request it forwards or answers, for the least-privilege
tests: method, path, the query's parameter NAMES (never values: a SAS
signature is a secret), the status and the x-ms-error-code of the answer
and whether the front itself answered. A rule {"delay": seconds} holds
requests for a container that long before forwarding (a SAS can then expire
between the probe's own check and Azurite's).

Only plain http; the front runs in the test process (start()/close()).
"""

import email.utils
import http.client
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer",
       "upgrade", "proxy-connection"}
MESSAGES = {
    "BlobImmutableDueToLegalHold": "This operation is not permitted as the "
                                   "blob is immutable due to one or more "
                                   "legal holds.",
    "BlobImmutableDueToPolicy": "This operation is not permitted as the "
                                "blob is immutable due to a policy.",
}


class AzureFront:
    def __init__(self, host, upstream_host, upstream_port, account):
        self.upstream = (upstream_host, upstream_port)
        self.account = account
        self.rules = {}        # container -> dict (see the module doc)
        self.requests = []     # the log, dicts
        self.lock = threading.Lock()
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_GET(self):
                front.handle(self)

            do_HEAD = do_PUT = do_DELETE = do_POST = do_GET

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.host = host
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)

    def start(self):
        self.thread.start()
        return self

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def endpoint(self):
        return "http://%s:%d/%s" % (self.host, self.port, self.account)

    def log_since(self, n):
        with self.lock:
            return list(self.requests[n:])

    def count(self):
        with self.lock:
            return len(self.requests)

    # ---------------------------------------------------------------- core

    def _split(self, raw_path):
        """(container, blob) of a path-style URL /<account>/<c>[/<blob>]."""
        segs = raw_path.split("/", 3)
        container = urllib.parse.unquote(segs[2]) if len(segs) > 2 else ""
        blob = urllib.parse.unquote(segs[3]) if len(segs) > 3 else ""
        return container, blob

    def _log(self, h, u, status, code, answered_here):
        names = sorted(k for k, _ in urllib.parse.parse_qsl(
            u.query, keep_blank_values=True))
        with self.lock:
            self.requests.append({
                "method": h.command, "path": u.path, "query": names,
                "status": status, "code": code, "front": answered_here,
                "t": time.time()})

    def _authorized_delete(self, h, q):
        if h.headers.get("Authorization", "").startswith("SharedKey "):
            return True
        return "sig" in q and "d" in q.get("sp", [""])[0]

    def handle(self, h):
        u = urllib.parse.urlsplit(h.path)
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n) if n else b""
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        container, blob = self._split(u.path)
        rule = self.rules.get(container, {})
        is_blob_op = bool(blob) and "comp" not in q and "restype" not in q
        if rule.get("delay"):
            time.sleep(rule["delay"])
        if (h.command == "DELETE" and is_blob_op and
                self._authorized_delete(h, q)):
            code = self._immutable_code(rule)
            if code:
                return self._refuse(h, u, code)
        status, headers, data, length = self._forward(h, body)
        if (h.command in ("GET", "HEAD") and is_blob_op and
                status in (200, 206) and
                (rule.get("until") or rule.get("legal_hold") is not None)):
            if rule.get("until"):
                headers.append(("x-ms-immutability-policy-until-date",
                                email.utils.format_datetime(
                                    rule["until"], usegmt=True)))
                headers.append(("x-ms-immutability-policy-mode",
                                rule.get("mode", "unlocked")))
            headers.append(("x-ms-legal-hold",
                            "true" if rule.get("legal_hold") else "false"))
        code = next((v for k, v in headers
                     if k.lower() == "x-ms-error-code"), None)
        self._log(h, u, status, code, False)
        h.send_response(status)
        for k, v in headers:
            h.send_header(k, v)
        h.send_header("Content-Length", length if h.command == "HEAD" and
                      length else str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)

    @staticmethod
    def _immutable_code(rule):
        if rule.get("legal_hold"):
            return "BlobImmutableDueToLegalHold"
        until = rule.get("until")
        if until is not None and until.timestamp() > time.time():
            return "BlobImmutableDueToPolicy"
        return None

    def _refuse(self, h, u, code):
        doc = ('<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code>'
               '<Message>%s\nRequestId:front\nTime:%s</Message></Error>'
               % (code, MESSAGES[code],
                  time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
        data = doc.encode()
        self._log(h, u, 409, code, True)
        h.send_response(409)
        h.send_header("Content-Type", "application/xml")
        h.send_header("x-ms-error-code", code)
        h.send_header("x-ms-version", h.headers.get("x-ms-version", ""))
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _forward(self, h, body):
        c = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            headers = {k: v for k, v in h.headers.items()
                       if k.lower() not in HOP}
            c.request(h.command, h.path, body=body if body else None,
                      headers=headers)
            r = c.getresponse()
            data = r.read()
            out = [(k, v) for k, v in r.getheaders()
                   if k.lower() not in HOP and k.lower() != "content-length"]
            return r.status, out, data, r.getheader("Content-Length")
        finally:
            c.close()
