#!/usr/bin/python3
"""A stub of Google's OAuth 2.0 token endpoint and the Cloud Storage JSON API,
for backupd's GCS probe tests (Google cannot be reached from here).

It follows Google's documented behaviour:

- Token endpoint ("Using OAuth 2.0 for Server to Server Applications",
  HTTP/REST): POST application/x-www-form-urlencoded
  grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>.
  The assertion must be RS256, signed by one of the service account's keys
  (the header's kid picks the key when present), with iss = the account's
  email, aud = the token endpoint's own URL, a scope, and iat/exp a
  short-lived window (exp - iat <= 1 h, not expired, not issued in the
  future beyond a little clock skew). The signature is verified against the
  account's PUBLIC key only: the stub never sees a private key. Success:
  200 {"access_token", "expires_in", "token_type": "Bearer"}; failure:
  400 {"error": "invalid_grant" | "invalid_scope" | "unsupported_grant_type"
  | "invalid_request", "error_description": ...}.
- JSON API (Cloud Storage "JSON API" reference): bearer tokens issued above
  only (else 401 authError); buckets.get, objects.insert (uploadType=media),
  objects.get (alt=media or metadata), objects.list (prefix), objects.delete;
  object names in the path must be percent-encoded, '/' included; unknown
  bucket 404 notFound; error documents
  {"error": {"code", "message", "errors": [{"domain", "reason", "message"}]}}.

Test rules per bucket (config "buckets": {"name": ["rule", ...]}):
  no_bucket_get  buckets.get answers 403 (a key with object rights only)
  read_only      objects.insert answers 403
  no_read        objects.get answers 403
  no_delete      objects.delete answers 403
  moved          every request for the bucket answers 301 to /elsewhere/...
                 on this stub (for "redirects are not followed" tests)
  retention      a bucket retention policy (Cloud Storage "Retention
                 policies"): objects carry retentionExpirationTime (upload
                 time + RETENTION_DAYS) and objects.delete answers 403
                 retentionPolicyNotMet
  prefix=P       the account's role is granted with an IAM condition
                 resource.name.startsWith(".../objects/P") (Cloud Storage
                 "IAM Conditions"): objects outside P answer 403 for every
                 method, and buckets.get answers 403 (a condition on object
                 names grants no bucket permission)

A 403 for a missing permission is Google's documented shape: reason
"forbidden", message "<email> does not have <permission> access to the
Google Cloud Storage <bucket|object>. Permission '<permission>' denied on
resource (or it may not exist)." (Cloud Storage "Troubleshooting", 403).
The probe must name the permission from the step, never from this text.

Every error message carries the marker "(gcs-stub)", so tests can prove no
raw remote message reaches a response.

Usage: gcs_stub.py --config CONFIG.json --state-dir DIR
Config: {"host": "127.0.0.2", "port": 18999, "tls_port": 0 (optional),
         "tls_cert": PEM path, "tls_key": PEM path,
         "accounts": {"email": {"kid": "PUBLIC KEY PEM", ...}},
         "buckets": {"name": ["rule", ...]}}
State dir: ready (written once listening, holds {"port", "tls_port"}),
tokens.txt (issued access tokens, one a line, for leak checks),
assertions.jsonl (what each token request carried, no secrets),
requests.jsonl (method and raw path of every request).
"""

import argparse
import json
import os
import secrets
import signal
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE_RW = "https://www.googleapis.com/auth/devstorage.read_write"
SCOPE_FULL = "https://www.googleapis.com/auth/devstorage.full_control"
SCOPE_RO = "https://www.googleapis.com/auth/devstorage.read_only"
SCOPE_CLOUD = "https://www.googleapis.com/auth/cloud-platform"
MARK = "(gcs-stub)"
SKEW = 300          # seconds of clock skew tolerated on iat
MAX_LIFETIME = 3600  # Google: "a short-lived token (60 minutes)"
MAX_BODY = 1 << 20
RETENTION_DAYS = 30


class State:
    def __init__(self, cfg, state_dir):
        self.lock = threading.RLock()  # resource() reads under it too
        self.state_dir = state_dir
        self.accounts = {}
        for email, keys in cfg.get("accounts", {}).items():
            self.accounts[email] = {
                kid: load_pem_public_key(pem.encode())
                for kid, pem in keys.items()}
        self.buckets = {b: set(r) for b, r in cfg.get("buckets", {}).items()}
        self.objects = {b: {} for b in self.buckets}
        self.created = {}  # (bucket, name) -> upload time
        self.tokens = {}  # token -> (email, scopes, expires)

    def append(self, name, line):
        with self.lock:
            with open(os.path.join(self.state_dir, name), "a") as f:
                f.write(line + "\n")


def google_error(code, reason, message):
    return {"error": {"code": code, "message": "%s %s" % (message, MARK),
                      "errors": [{"domain": "global", "reason": reason,
                                  "message": "%s %s" % (message, MARK)}]}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gcs-stub/1"
    state = None  # set on the class by main()

    def log_message(self, fmt, *args):  # quiet
        pass

    # ------------------------------------------------------------ helpers

    def own_url(self, path):
        host, port = self.server.server_address[:2]
        scheme = "https" if self.server.tls else "http"
        return "%s://%s:%d%s" % (scheme, host, port, path)

    def body(self):
        n = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
                if len(data) > MAX_BODY:
                    raise ValueError("too large")
            return data
        n = int(n or 0)
        if n > MAX_BODY:
            raise ValueError("too large")
        return self.rfile.read(n) if n else b""

    def send(self, status, payload=b"", ctype="application/json"):
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload).encode()
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if status != 204 and self.command != "HEAD":
            self.wfile.write(payload)

    def oauth_error(self, status, error, description):
        self.send(status, {"error": error,
                           "error_description": "%s %s" % (description,
                                                           MARK)})

    def log_request_line(self):
        self.state.append("requests.jsonl", json.dumps(
            {"method": self.command, "path": self.path,
             "tls": bool(self.server.tls), "t": time.time()}))

    # ------------------------------------------------------------- routing

    def do_POST(self):
        self.log_request_line()
        u = urllib.parse.urlsplit(self.path)
        if u.path == "/token":
            return self.token()
        if u.path.startswith("/upload/storage/v1/b/"):
            return self.api("POST", u)
        self.body()
        self.send(404, google_error(404, "notFound", "Not Found"))

    def do_GET(self):
        self.log_request_line()
        u = urllib.parse.urlsplit(self.path)
        if u.path.startswith("/storage/v1/b/"):
            return self.api("GET", u)
        self.send(404, google_error(404, "notFound", "Not Found"))

    def do_DELETE(self):
        self.log_request_line()
        u = urllib.parse.urlsplit(self.path)
        if u.path.startswith("/storage/v1/b/"):
            return self.api("DELETE", u)
        self.send(404, google_error(404, "notFound", "Not Found"))

    # -------------------------------------------------------------- token

    def token(self):
        try:
            raw = self.body()
        except ValueError:
            return self.oauth_error(400, "invalid_request", "Bad request.")
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
        if ctype.lower() != "application/x-www-form-urlencoded":
            return self.oauth_error(400, "invalid_request",
                                    "Bad content type.")
        form = urllib.parse.parse_qs(raw.decode("ascii", "replace"),
                                     keep_blank_values=True)
        if form.get("grant_type", [""])[0] != GRANT_TYPE:
            return self.oauth_error(400, "unsupported_grant_type",
                                    "Invalid grant_type.")
        assertion = form.get("assertion", [""])[0]
        if not assertion:
            return self.oauth_error(400, "invalid_request",
                                    "Missing required parameter: assertion")
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return self.oauth_error(400, "invalid_grant", "Invalid JWT.")
        record = {"alg": header.get("alg"), "typ": header.get("typ"),
                  "kid": header.get("kid"), "iss": claims.get("iss"),
                  "aud": claims.get("aud"), "scope": claims.get("scope"),
                  "iat": claims.get("iat"), "exp": claims.get("exp"),
                  "sub": claims.get("sub"), "result": None}
        status, out = self.check_assertion(assertion, header, claims)
        record["result"] = out.get("error", "ok")
        self.state.append("assertions.jsonl", json.dumps(record))
        if status != 200:
            return self.oauth_error(status, out["error"], out["desc"])
        self.send(200, out)

    def check_assertion(self, assertion, header, claims):
        st = self.state

        def bad(error, desc, status=400):
            return status, {"error": error, "desc": desc}

        if header.get("alg") != "RS256":
            return bad("invalid_grant", "Invalid JWT Signature.")
        keys = st.accounts.get(claims.get("iss"))
        if keys is None:
            return bad("invalid_grant", "Invalid email or User ID")
        kid = header.get("kid")
        if kid is not None:
            if kid not in keys:
                return bad("invalid_grant", "Invalid JWT Signature.")
            candidates = [keys[kid]]
        else:
            candidates = list(keys.values())
        verified = None
        for k in candidates:
            try:
                verified = jwt.decode(
                    assertion, k, algorithms=["RS256"],
                    audience=self.own_url("/token"),
                    options={"require": ["iss", "aud", "iat", "exp"],
                             "verify_exp": False, "verify_iat": False})
                break
            except jwt.InvalidAudienceError:
                return bad("invalid_grant", "Invalid JWT: audience.")
            except jwt.MissingRequiredClaimError:
                return bad("invalid_grant", "Invalid JWT: claims.")
            except jwt.PyJWTError:
                continue
        if verified is None:
            return bad("invalid_grant", "Invalid JWT Signature.")
        now = int(time.time())
        iat, exp = verified.get("iat"), verified.get("exp")
        if (not isinstance(iat, int) or not isinstance(exp, int)
                or exp <= now or iat > now + SKEW or exp <= iat
                or exp - iat > MAX_LIFETIME):
            return bad("invalid_grant", "Invalid JWT: Token must be a "
                       "short-lived token (60 minutes) and in a reasonable "
                       "timeframe.")
        scope = verified.get("scope")
        if not isinstance(scope, str) or not scope.strip():
            return bad("invalid_scope", "Empty or missing scope not allowed.")
        scopes = set(scope.split())
        if not scopes & {SCOPE_RW, SCOPE_FULL, SCOPE_RO, SCOPE_CLOUD}:
            return bad("invalid_scope", "Invalid OAuth scope.")
        tok = "ya29.stub-" + secrets.token_urlsafe(32)
        with st.lock:
            st.tokens[tok] = (verified["iss"], scopes, now + 3600)
        st.append("tokens.txt", tok)
        return 200, {"access_token": tok, "expires_in": 3599,
                     "token_type": "Bearer"}

    # ---------------------------------------------------------------- API

    def caller(self, write):
        """The token's entry (email, scopes, expiry) when its scopes allow
        this call, else None after an error was sent."""
        h = self.headers.get("Authorization", "")
        tok = h[7:] if h.startswith("Bearer ") else None
        with self.state.lock:
            ent = self.state.tokens.get(tok) if tok else None
        if ent is None or ent[2] < time.time():
            self.send(401, google_error(401, "authError",
                                        "Invalid Credentials"))
            return None
        need = {SCOPE_RW, SCOPE_FULL, SCOPE_CLOUD}
        if not write:
            need.add(SCOPE_RO)
        if not ent[1] & need:
            self.send(403, google_error(403, "insufficientPermissions",
                                        "Insufficient Permission"))
            return None
        return ent

    def api(self, method, u):
        try:
            data = self.body() if method == "POST" else b""
        except ValueError:
            return self.send(413, google_error(413, "uploadTooLarge",
                                               "Upload too large"))
        ent = self.caller(method != "GET")
        if ent is None:
            return
        st = self.state
        upload = u.path.startswith("/upload/")
        rest = u.path[len("/upload/storage/v1/b/" if upload
                          else "/storage/v1/b/"):]
        bucket_enc, _, tail = rest.partition("/")
        bucket = urllib.parse.unquote(bucket_enc)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        if bucket not in st.buckets:
            return self.send(404, google_error(
                404, "notFound", "The specified bucket does not exist."))
        rules = st.buckets[bucket]
        if "moved" in rules:
            # A redirect to elsewhere on this stub (no such API path): a
            # client that followed it would show up in requests.jsonl.
            self.send_response(301)
            self.send_header("Location", self.own_url("/elsewhere" +
                                                      self.path))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        def denied(perm, kind="object"):
            return google_error(
                403, "forbidden", "%s does not have %s access to the Google "
                "Cloud Storage %s. Permission '%s' denied on resource (or it "
                "may not exist)." % (ent[0], perm, kind, perm))

        scoped = [r[len("prefix="):] for r in rules
                  if r.startswith("prefix=")]

        def outside(name):
            return bool(scoped) and not name.startswith(scoped[0])

        if upload:
            if tail != "o" or q.get("uploadType", [""])[0] != "media" \
                    or not q.get("name", [""])[0]:
                return self.send(400, google_error(400, "invalid",
                                                   "Bad upload request."))
            name = q["name"][0]
            if "read_only" in rules or outside(name):
                return self.send(403, denied("storage.objects.create"))
            with st.lock:
                st.objects[bucket][name] = data
                st.created[(bucket, name)] = time.time()
            return self.send(200, self.resource(bucket, name, data))

        if tail == "" and method == "GET":
            if "no_bucket_get" in rules or scoped:
                return self.send(403, denied("storage.buckets.get",
                                             "bucket"))
            return self.send(200, {"kind": "storage#bucket", "id": bucket,
                                   "name": bucket, "location": "EU"})
        if tail == "o" and method == "GET":
            prefix = q.get("prefix", [""])[0]
            if outside(prefix):
                return self.send(403, denied("storage.objects.list",
                                             "bucket"))
            with st.lock:
                items = [self.resource(bucket, n, d)
                         for n, d in sorted(st.objects[bucket].items())
                         if n.startswith(prefix)]
            return self.send(200, {"kind": "storage#objects",
                                   "items": items})
        if not tail.startswith("o/") or len(tail) == 2:
            return self.send(404, google_error(404, "notFound", "Not Found"))
        enc = tail[2:]
        # An object name goes into the path percent-encoded, '/' too: a raw
        # '/' makes a different (unknown) path.
        if "/" in enc:
            return self.send(404, google_error(404, "notFound", "Not Found"))
        name = urllib.parse.unquote(enc)
        with st.lock:
            data = st.objects[bucket].get(name)
        if method == "GET":
            if "no_read" in rules or outside(name):
                return self.send(403, denied("storage.objects.get"))
            if data is None:
                return self.send(404, google_error(404, "notFound",
                                                   "No such object."))
            if q.get("alt", [""])[0] == "media":
                return self.send(200, data, "application/octet-stream")
            return self.send(200, self.resource(bucket, name, data))
        if method == "DELETE":
            if "no_delete" in rules or outside(name):
                return self.send(403, denied("storage.objects.delete"))
            if data is None:
                return self.send(404, google_error(404, "notFound",
                                                   "No such object."))
            until = self.retention_until(bucket, name)
            if until is not None and until > time.time():
                return self.send(403, google_error(
                    403, "retentionPolicyNotMet", "Object '%s/%s' is subject "
                    "to bucket's retention policy or object retention and "
                    "cannot be deleted or overwritten until %s"
                    % (bucket, name, self.rfc3339(until))))
            with st.lock:
                st.objects[bucket].pop(name, None)
            return self.send(204)
        self.send(405, google_error(405, "methodNotAllowed",
                                    "Method not allowed"))

    def retention_until(self, bucket, name):
        if "retention" not in self.state.buckets.get(bucket, ()):
            return None
        with self.state.lock:
            t = self.state.created.get((bucket, name))
        return None if t is None else int(t) + RETENTION_DAYS * 86400

    @staticmethod
    def rfc3339(t):
        return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))

    def resource(self, bucket, name, data):
        r = {"kind": "storage#object", "bucket": bucket, "name": name,
             "id": "%s/%s/1" % (bucket, name), "size": str(len(data)),
             "contentType": "application/octet-stream"}
        until = self.retention_until(bucket, name)
        if until is not None:
            r["retentionExpirationTime"] = self.rfc3339(until)
            r["temporaryHold"] = False
            r["eventBasedHold"] = False
        return r


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    tls = False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--state-dir", required=True)
    a = ap.parse_args()
    with open(a.config) as f:
        cfg = json.load(f)
    os.makedirs(a.state_dir, exist_ok=True)
    Handler.state = State(cfg, a.state_dir)

    servers = [Server((cfg["host"], int(cfg["port"])), Handler)]
    if cfg.get("tls_port") is not None:
        s = Server((cfg["host"], int(cfg["tls_port"])), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cfg["tls_cert"], cfg["tls_key"])
        s.socket = ctx.wrap_socket(s.socket, server_side=True)
        s.tls = True
        servers.append(s)

    def stop(signum, frame):
        for srv in servers:
            threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threads = [threading.Thread(target=s.serve_forever, daemon=True)
               for s in servers]
    for t in threads:
        t.start()
    ready = {"port": servers[0].server_address[1],
             "tls_port": servers[1].server_address[1] if len(servers) > 1
             else None}
    tmp = os.path.join(a.state_dir, "ready.tmp")
    with open(tmp, "w") as f:
        json.dump(ready, f)
    os.replace(tmp, os.path.join(a.state_dir, "ready"))
    for t in threads:
        t.join()
    for s in servers:
        s.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
