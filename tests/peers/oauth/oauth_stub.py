#!/usr/bin/python3
"""A stub of Google's and Microsoft's OAuth 2.0 endpoints, the Google Drive
v3 API and Microsoft Graph's OneDrive API, for backupd's OAuth tests (the
real providers cannot be reached from here).

It follows the providers' documented behaviour:

- Authorization endpoints ("OAuth 2.0 for Web Server Applications",
  Google; "Microsoft identity platform and OAuth 2.0 authorization code
  flow"): GET /google/o/oauth2/v2/auth and
  GET /microsoft/{tenant}/oauth2/v2.0/authorize. The client_id must be
  registered and the redirect_uri must be one of the registered URIs
  EXACTLY (otherwise an error page, never a redirect). Then
  response_type=code, a scope the provider knows, code_challenge_method=S256
  with a 43-character base64url code_challenge (PKCE, RFC 7636 §4.2; "plain"
  is refused), and for Microsoft response_mode=query. As a real provider
  does after the user consents, it answers 302 to
  redirect_uri?code=...&state=... (or ?error=...&state=... for a request
  error, or when a test asked for the next consent to be denied). The code is
  bound to the client, the redirect_uri, the challenge, the scope and (for
  Microsoft) the tenant; it lives 10 minutes and is single use.
- Token endpoints: POST /google/token and
  POST /microsoft/{tenant}/oauth2/v2.0/token, form-encoded. Client
  authentication by client_id + client_secret in the form (or HTTP Basic);
  a bad client is 401 invalid_client. grant_type=authorization_code checks
  the code (known, unused, unexpired, issued to this client, and for
  Microsoft at this tenant), the EXACT redirect_uri and the code_verifier
  against the stored challenge (base64url(sha256(verifier))); a code used
  twice also revokes what it issued (RFC 6749 §4.1.2).
  grant_type=refresh_token rotates (unless a test turns rotation off): each
  refresh issues a new refresh token and invalidates the old one; an old,
  unknown or revoked one is 400 invalid_grant. A refresh token is issued only for offline access
  (Google access_type=offline, Microsoft scope offline_access). Answers are
  {"access_token", "expires_in", "refresh_token", "token_type": "Bearer",
  "scope"}; errors are RFC 6749 §5.2 {"error", "error_description"}.
- Drive v3 under /google (Bearer tokens of Google grants with a Drive scope
  only, else 401 authError): GET /drive/v3/files/{id} (metadata; "root" is
  the alias of My Drive), GET ...?alt=media (content),
  POST /upload/drive/v3/files?uploadType=multipart (multipart/related:
  JSON metadata {name, parents: [folderId]} then the content),
  DELETE /drive/v3/files/{id} (204), GET /drive/v3/about ("about: get":
  the fields parameter is required, else 400 required; partial-response
  syntax "storageQuota,user(displayName,emailAddress)"; an unknown field
  is 400 invalidParameter; storageQuota's int64 values are strings and
  limit is absent for unlimited storage; user has kind, displayName,
  photoLink, me, permissionId, emailAddress). Errors are Drive's
  {"error": {"code", "message", "errors": [{"domain", "reason", "message"}]}}.
- Graph under /graph/v1.0 (Bearer tokens of Microsoft grants with a Files
  scope only, else 401 InvalidAuthenticationToken): GET /me/drive and
  /drives/{driveId} (the drive resource with owner {"user": {"displayName",
  "id"[, "email"]}} and quota {"deleted", "remaining", "state", "total",
  "used"}, Int64 numbers, state normal / nearing (< 10 % left) / critical
  (< 1 %) / exceeded, per "quota resource type"); on either drive base GET /root, /root:/{path}[:],
  /items/{id}; PUT /root:/{path}/{name}:/content (simple upload, 201 with
  the driveItem); GET /items/{id}/content answers 302 to a pre-authenticated
  download URL on this stub (/download/{token}) as Graph does, and that URL
  refuses requests carrying an Authorization header; DELETE /items/{id}
  (204). Errors are Graph's {"error": {"code", "message"}}.

Control endpoints, for the tests only (the service never calls them):
  GET  /_control/state      everything: requests, authorize requests, token
                            requests, grants and their tokens, files
  POST /_control            {"expires_in": N, "token_delay": seconds,
                             "deny_next": "access_denied",
                             "download_base": "http://host:port" or null,
                             "rotate": bool, "token_error": {"status": 503,
                             "error": "temporarily_unavailable"} or null,
                             "drive_quota": {"limit": n or null, "usage",
                             "usageInDrive", "usageInDriveTrash"},
                             "google_user": {"displayName", "emailAddress"
                             (null: left out)}, "about_error": {"status",
                             "reason"} or null, "graph_quota": {"total",
                             "used", "deleted"[, "remaining"]} or null (no
                             quota facet), "graph_owner": {"user": {...}},
                             "reset_facts": true (those back to default)}
                            (settings; download_base is where Graph's 302
                            for content points, GET /bounce/download/{t}
                            redirects once more; rotate false = refresh
                            answers without a new refresh token, as Google
                            usually does; token_error = every token request
                            fails so)
  POST /_control/revoke     {"client_id": X} or {"grant": id}: revoke grants
                            (refresh -> invalid_grant, access tokens -> 401)
  POST /_control/expire     {"grant": id}: expire the grant's access tokens
  POST /_control/folder     Google: {"provider": "google", "name", "parent",
                            "kind": "folder"|"file", "trashed", "read_only",
                            "no_delete"} -> {"id"}; Microsoft:
                            {"provider": "microsoft", "path", "drive",
                            "kind", "read_only", "no_delete"} -> {"id"}

Every error message carries the marker "(oauth-stub)", so tests can prove no
raw remote message reaches a response.

Usage: oauth_stub.py --config CONFIG.json
Config: {"host": "127.0.0.2", "port": 18998,
         "redirect_uris": ["http://.../backup-destinations/oauth/callback"],
         "clients": {"google": {"id": "secret"}, "microsoft": {"id": "secret"}},
         "ready_file": path written once listening}
"""

import base64
import hashlib
import importlib.util
import json
import re
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler
from pathlib import Path

# tests/peers/peerlib.py, loaded by path under a name of its own.
_spec = importlib.util.spec_from_file_location(
    "backupd_peerlib", Path(__file__).resolve().parents[1] / "peerlib.py")
peerlib = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(peerlib)

MARK = "(oauth-stub)"
GOOGLE_SCOPES = {"https://www.googleapis.com/auth/drive.file",
                 "https://www.googleapis.com/auth/drive"}
MS_FILE_SCOPES = {"Files.ReadWrite", "Files.ReadWrite.All"}
MS_SCOPES = MS_FILE_SCOPES | {"offline_access", "openid", "profile",
                              "User.Read"}
FOLDER_MIME = "application/vnd.google-apps.folder"
CODE_TTL = 600
CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
VERIFIER_RE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
ME_DRIVE = "b!stubPersonalDrive"
OTHER_DRIVE = "b!stubOtherDrive"


def rnd(n=32):
    return base64.urlsafe_b64encode(secrets.token_bytes(n)).rstrip(
        b"=").decode()


def s256(verifier):
    d = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(d).rstrip(b"=").decode()


class State:
    def __init__(self, cfg):
        self.lock = threading.RLock()
        self.cfg = cfg
        self.clients = {p: dict(c) for p, c in cfg["clients"].items()}
        self.redirect_uris = list(cfg["redirect_uris"])
        self.expires_in = 3600
        self.token_delay = 0.0
        self.deny_next = None
        self.download_base = None  # where Graph's 302 points; None = here
        self.rotate = True         # refresh answers carry a new refresh token
        self.token_error = None    # {"status", "error"}: token endpoint down
        self.requests = []        # every request: method, path, auth, status
        self.authorize = []       # authorize requests with all parameters
        self.token_requests = []  # token requests, no secrets
        self.codes = {}           # code -> binding
        self.grants = {}          # grant id -> grant
        self.access = {}          # access token -> {grant, exp}
        self.refresh = {}         # refresh token -> {grant, current}
        self.inflight = {}        # grant id -> refreshes in progress
        self.downloads = {}       # download token -> {item, exp}
        # Drive: files by id; "root" is an alias of the root folder's id.
        self.drive_root = "0AStubMyDriveRootFolder"
        self.files = {self.drive_root: {
            "id": self.drive_root, "name": "My Drive",
            "mimeType": FOLDER_MIME, "parents": [], "trashed": False,
            "flags": []}}
        # Graph: items by id, per drive.
        self.items = {}
        self.drive_roots = {}
        for d in (ME_DRIVE, OTHER_DRIVE):
            rid = "ROOT-" + d[2:]
            self.drive_roots[d] = rid
            self.items[rid] = {"id": rid, "name": "root", "drive": d,
                               "parent": None, "folder": True, "data": b"",
                               "flags": []}
        self.seq = 0
        self.reset_facts()

    def reset_facts(self):
        # Drive about.storageQuota (bytes; limit None = unlimited) and
        # about.user; Graph drive.quota and drive.owner.
        self.drive_quota = {"limit": 15 << 30, "usage": 5 << 30,
                            "usageInDrive": 1 << 30,
                            "usageInDriveTrash": 1 << 20}
        self.google_user = {"displayName": "Stub User",
                            "emailAddress": "stub.user@example.com"}
        self.about_error = None
        self.graph_quota = {"total": 5 << 30, "used": 1 << 30,
                            "deleted": 1 << 20}
        self.graph_owner = {"user": {"displayName": "Stub User",
                                     "id": "5e6f7a8b9c0d1e2f"}}

    def next_id(self, prefix):
        self.seq += 1
        return "%s%06d%s" % (prefix, self.seq, rnd(6).replace("-", "x")
                             .replace("_", "y"))

    def dump(self):
        files = {k: {kk: vv for kk, vv in v.items() if kk != "data"}
                 | {"size": len(v.get("data", b""))}
                 for k, v in self.files.items()}
        items = {k: {kk: vv for kk, vv in v.items() if kk != "data"}
                 | {"size": len(v.get("data", b"")),
                    "path": self.item_path(v)}
                 for k, v in self.items.items()}
        return {"requests": self.requests, "authorize": self.authorize,
                "token_requests": self.token_requests,
                "grants": self.grants,
                "access_tokens": sorted(self.access),
                "refresh_tokens": sorted(self.refresh),
                "files": files, "items": items,
                "expires_in": self.expires_in,
                "token_delay": self.token_delay}

    def item_path(self, it):
        parts = []
        while it is not None and it["parent"] is not None:
            parts.append(it["name"])
            it = self.items.get(it["parent"])
        return "/" + "/".join(reversed(parts))

    def item_by_path(self, drive, path):
        it = self.items[self.drive_roots[drive]]
        for seg in [s for s in path.split("/") if s]:
            nxt = None
            for c in self.items.values():
                if c["drive"] == drive and c["parent"] == it["id"] and \
                        c["name"].lower() == seg.lower():
                    nxt = c
                    break
            if nxt is None:
                return None
            it = nxt
        return it

    def issue(self, grant, rotate=True):
        """A new access token for grant, and a new refresh token when the
        grant is offline and this is the first issue or rotation is on
        (Google usually keeps a refresh token; Microsoft rotates)."""
        g = grant
        pfx = "ya29.stub-" if g["provider"] == "google" else "EwB.stub-"
        at = pfx + rnd()
        self.access[at] = {"grant": g["id"], "exp": time.time() +
                           self.expires_in}
        g["access_tokens"].append(at)
        out = {"access_token": at, "expires_in": self.expires_in,
               "token_type": "Bearer", "scope": g["scope"]}
        if g["offline"] and (rotate or g["refresh_token"] is None):
            if g["refresh_token"] is not None:
                self.refresh[g["refresh_token"]]["current"] = False
            rpfx = "1//stub-" if g["provider"] == "google" else "M.C.stub-"
            rt = rpfx + rnd()
            self.refresh[rt] = {"grant": g["id"], "current": True}
            g["refresh_token"] = rt
            g["refresh_tokens"].append(rt)
            out["refresh_token"] = rt
        if g["provider"] == "microsoft":
            out["ext_expires_in"] = self.expires_in
        return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None
    server_version = "oauth-stub/1"

    def log_message(self, fmt, *args):
        pass

    # ------------------------------------------------------------ helpers

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send(self, status, obj=None, headers=None, raw=None, ctype=None):
        if raw is None and obj is not None:
            raw = json.dumps(obj).encode()
            ctype = ctype or "application/json; charset=UTF-8"
        raw = raw or b""
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(raw)
        self.record_status(status)

    def record_status(self, status):
        with self.state.lock:
            self.entry["status"] = status

    def redirect(self, url):
        self.send(302, headers={"Location": url})

    def oauth_error(self, status, error, desc):
        """RFC 6749 §5.2."""
        self.send(status, {"error": error,
                           "error_description": "%s %s" % (desc, MARK)},
                  headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def drive_error(self, code, reason, message):
        self.send(code, {"error": {
            "code": code, "message": "%s %s" % (message, MARK),
            "errors": [{"domain": "global", "reason": reason,
                        "message": "%s %s" % (message, MARK)}]}},
            headers={"WWW-Authenticate": 'Bearer realm="stub"'}
            if code == 401 else None)

    def graph_error(self, status, code, message):
        self.send(status, {"error": {
            "code": code, "message": "%s %s" % (message, MARK),
            "innerError": {"request-id": rnd(8)}}},
            headers={"WWW-Authenticate": 'Bearer realm=""'}
            if status == 401 else None)

    def bearer(self, provider):
        """The grant behind a valid bearer token of this provider, or None.
        Under the state lock."""
        st = self.state
        h = self.headers.get("Authorization", "")
        if not h.startswith("Bearer "):
            self.entry["auth"] = "none" if not h else "malformed"
            return None
        tok = st.access.get(h[7:])
        g = st.grants.get(tok["grant"]) if tok else None
        ok = (g is not None and not g["revoked"] and
              g["provider"] == provider and time.time() < tok["exp"])
        if ok and provider == "google":
            ok = bool(set(g["scope"].split()) & GOOGLE_SCOPES)
        if ok and provider == "microsoft":
            ok = bool(set(g["scope"].split()) & MS_FILE_SCOPES)
        self.entry["auth"] = "valid" if ok else (
            "expired" if tok and time.time() >= tok["exp"] else "invalid")
        if ok:
            self.entry["grant"] = g["id"]
        return g if ok else None

    def begin(self):
        u = urllib.parse.urlsplit(self.path)
        self.rawpath = u.path
        self.query = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        self.entry = {"method": self.command, "path": u.path,
                      "query": sorted(self.query), "t": time.time(),
                      "auth_header": "Authorization" in self.headers}
        with self.state.lock:
            self.state.requests.append(self.entry)

    def q(self, name):
        v = self.query.get(name)
        return v[0] if v else None

    # ------------------------------------------------------------ routing

    def do_GET(self):
        self.begin()
        p = self.rawpath
        if p == "/google/o/oauth2/v2/auth":
            return self.authorize("google", None)
        m = re.match(r"^/microsoft/([^/]+)/oauth2/v2\.0/authorize$", p)
        if m:
            return self.authorize("microsoft", urllib.parse.unquote(m[1]))
        m = re.match(r"^/google/drive/v3/files/([^/]+)$", p)
        if m:
            return self.drive_get(urllib.parse.unquote(m[1]))
        if p == "/google/drive/v3/about":
            return self.drive_about()
        if p.startswith("/graph/v1.0/"):
            return self.graph("GET", p[len("/graph/v1.0"):])
        m = re.match(r"^/download/([A-Za-z0-9_-]+)$", p)
        if m:
            return self.download(m[1])
        m = re.match(r"^/bounce(/download/[A-Za-z0-9_-]+)$", p)
        if m:
            # A download URL that redirects once more (the probe follows
            # exactly one redirect, Graph's own).
            return self.redirect(m[1])
        if p == "/_control/state":
            with self.state.lock:
                data = json.dumps(self.state.dump()).encode()
            return self.send(200, raw=data, ctype="application/json")
        self.send(404, {"error": "not_found %s" % MARK})

    def do_POST(self):
        self.begin()
        p = self.rawpath
        if p == "/google/token":
            return self.token("google", None)
        m = re.match(r"^/microsoft/([^/]+)/oauth2/v2\.0/token$", p)
        if m:
            return self.token("microsoft", urllib.parse.unquote(m[1]))
        if p == "/google/upload/drive/v3/files":
            return self.drive_upload()
        if p.startswith("/_control"):
            return self.control(p)
        self.send(404, {"error": "not_found %s" % MARK})

    def do_PUT(self):
        self.begin()
        p = self.rawpath
        if p.startswith("/graph/v1.0/"):
            return self.graph("PUT", p[len("/graph/v1.0"):])
        self.send(404, {"error": "not_found %s" % MARK})

    def do_DELETE(self):
        self.begin()
        p = self.rawpath
        m = re.match(r"^/google/drive/v3/files/([^/]+)$", p)
        if m:
            return self.drive_delete(urllib.parse.unquote(m[1]))
        if p.startswith("/graph/v1.0/"):
            return self.graph("DELETE", p[len("/graph/v1.0"):])
        self.send(404, {"error": "not_found %s" % MARK})

    # ------------------------------------------------------------ authorize

    def authorize(self, provider, tenant):
        st = self.state
        params = {k: v[0] if len(v) == 1 else v for k, v in self.query.items()}
        rec = {"provider": provider, "tenant": tenant, "params": params,
               "t": time.time(), "outcome": None}
        with st.lock:
            st.authorize.append(rec)
        dup = [k for k, v in self.query.items() if len(v) != 1]
        client_id = self.q("client_id")
        redirect_uri = self.q("redirect_uri")
        # Before the redirect URI is trusted: an error page, no redirect.
        if dup:
            rec["outcome"] = "page:invalid_request"
            return self.send(400, {"error": "invalid_request",
                                   "error_description": "repeated %s %s"
                                   % (dup, MARK)})
        if client_id not in st.clients.get(provider, {}):
            rec["outcome"] = "page:invalid_client"
            return self.send(401, {"error": "invalid_client",
                                   "error_description": "unknown client %s"
                                   % MARK})
        if redirect_uri not in st.redirect_uris:
            rec["outcome"] = "page:redirect_uri_mismatch"
            return self.send(400, {"error": "redirect_uri_mismatch",
                                   "error_description": "not registered %s"
                                   % MARK})
        state = self.q("state")

        def back(**kv):
            if state is not None:
                kv["state"] = state
            sep = "&" if "?" in redirect_uri else "?"
            rec["outcome"] = kv.get("error") or "code"
            self.redirect(redirect_uri + sep + urllib.parse.urlencode(kv))

        scope = self.q("scope") or ""
        scopes = set(scope.split())
        if self.q("response_type") != "code":
            return back(error="unsupported_response_type",
                        error_description="response_type must be code")
        if provider == "google":
            if not scopes or not scopes <= GOOGLE_SCOPES | {"openid",
                                                           "email"}:
                return back(error="invalid_scope",
                            error_description="unknown scope")
        else:
            if not scopes or not scopes <= MS_SCOPES:
                return back(error="invalid_scope",
                            error_description="unknown scope")
            if self.q("response_mode") not in (None, "query"):
                return back(error="invalid_request",
                            error_description="response_mode")
        if self.q("code_challenge_method") != "S256" or \
                not CHALLENGE_RE.match(self.q("code_challenge") or ""):
            return back(error="invalid_request",
                        error_description="PKCE S256 required")
        with st.lock:
            deny, st.deny_next = st.deny_next, None
        if deny:
            return back(error=deny, error_description="the user declined")
        if provider == "google":
            offline = self.q("access_type") == "offline"
        else:
            offline = "offline_access" in scopes
        code = ("4/0stub-" if provider == "google" else "M.R3_stub.") + rnd()
        with st.lock:
            st.codes[code] = {
                "provider": provider, "tenant": tenant,
                "client_id": client_id, "redirect_uri": redirect_uri,
                "challenge": self.q("code_challenge"),
                "scope": " ".join(sorted(scopes - {"offline_access"})),
                "offline": offline, "state": state,
                "exp": time.time() + CODE_TTL, "used": False,
                "grant": None}
            rec["code"] = code
        back(code=code)

    # ---------------------------------------------------------------- token

    def token(self, provider, tenant):
        st = self.state
        ctype = (self.headers.get("Content-Type") or "").split(";")[0]
        raw = self.body()
        form = urllib.parse.parse_qs(raw.decode(errors="replace"),
                                     keep_blank_values=True)

        def f(k):
            v = form.get(k)
            return v[0] if v and len(v) == 1 else None

        rec = {"provider": provider, "tenant": tenant,
               "grant_type": f("grant_type"), "client_id": f("client_id"),
               "redirect_uri": f("redirect_uri"), "scope": f("scope"),
               "has_verifier": f("code_verifier") is not None,
               "code": f("code"),
               "pkce": None, "result": None, "grant": None,
               "t": time.time()}
        with st.lock:
            st.token_requests.append(rec)

        def err(status, e, d):
            rec["result"] = e
            return self.oauth_error(status, e, d)

        with st.lock:
            down = st.token_error
        if down:
            return err(int(down["status"]), down["error"], "unavailable")
        if ctype.strip().lower() != "application/x-www-form-urlencoded":
            return err(400, "invalid_request", "form body required")
        if any(len(v) != 1 for v in form.values()):
            return err(400, "invalid_request", "repeated parameter")
        # Client authentication (RFC 6749 §2.3.1): Basic or the form.
        cid, secret = f("client_id"), f("client_secret")
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                u, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                cid, secret = (urllib.parse.unquote_plus(u),
                               urllib.parse.unquote_plus(pw))
            except Exception:
                return err(401, "invalid_client", "bad Basic credentials")
        rec["client_id"] = cid
        known = st.clients.get(provider, {})
        if cid not in known or secret is None or \
                not secrets.compare_digest(known[cid], secret):
            return err(401, "invalid_client", "client authentication failed")
        gt = f("grant_type")
        if gt == "authorization_code":
            return self.token_code(provider, tenant, cid, f, rec, err)
        if gt == "refresh_token":
            return self.token_refresh(provider, tenant, cid, f, rec, err)
        if gt is None:
            return err(400, "invalid_request", "grant_type missing")
        return err(400, "unsupported_grant_type", "grant_type unsupported")

    def token_code(self, provider, tenant, cid, f, rec, err):
        st = self.state
        code, verifier = f("code"), f("code_verifier")
        with st.lock:
            delay = st.token_delay
        if delay:
            # A slow exchange widens races around the callback.
            time.sleep(delay)
        if code is None:
            return err(400, "invalid_request", "code missing")
        with st.lock:
            c = st.codes.get(code)
            if c is None or c["provider"] != provider:
                return err(400, "invalid_grant", "unknown code")
            if c["used"]:
                # RFC 6749 §4.1.2: a code used twice revokes its grant.
                if c["grant"] in st.grants:
                    st.grants[c["grant"]]["revoked"] = True
                return err(400, "invalid_grant", "code already used")
            c["used"] = True
            if time.time() > c["exp"]:
                return err(400, "invalid_grant", "code expired")
            if c["client_id"] != cid:
                return err(400, "invalid_grant", "code of another client")
            if c["tenant"] != tenant:
                return err(400, "invalid_grant", "code of another tenant")
            if f("redirect_uri") != c["redirect_uri"]:
                return err(400, "invalid_grant", "redirect_uri mismatch")
            if verifier is None:
                rec["pkce"] = "missing"
                return err(400, "invalid_grant", "code_verifier missing")
            if not VERIFIER_RE.match(verifier) or \
                    s256(verifier) != c["challenge"]:
                rec["pkce"] = "mismatch"
                return err(400, "invalid_grant", "code_verifier mismatch")
            rec["pkce"] = "ok"
            g = {"id": st.next_id("grant-"), "provider": provider,
                 "tenant": tenant, "client_id": cid, "scope": c["scope"],
                 "offline": c["offline"], "state": c["state"],
                 "code": code, "revoked": False, "refresh_token": None,
                 "refresh_tokens": [], "access_tokens": [],
                 "refreshes": 0, "refresh_failures": 0,
                 "refresh_presented": [], "max_inflight": 0}
            st.grants[g["id"]] = g
            c["grant"] = g["id"]
            out = st.issue(g)
            rec["result"] = "ok"
            rec["grant"] = g["id"]
        self.send(200, out, headers={"Cache-Control": "no-store",
                                     "Pragma": "no-cache"})

    def token_refresh(self, provider, tenant, cid, f, rec, err):
        st = self.state
        rt = f("refresh_token")
        if rt is None:
            return err(400, "invalid_request", "refresh_token missing")
        with st.lock:
            r = st.refresh.get(rt)
            g = st.grants.get(r["grant"]) if r else None
            if g is not None:
                rec["grant"] = g["id"]
                g["refresh_presented"].append(rt)
                n = st.inflight.get(g["id"], 0) + 1
                st.inflight[g["id"]] = n
                g["max_inflight"] = max(g["max_inflight"], n)
            delay = st.token_delay
        try:
            # A slow token endpoint widens any race between two refreshes.
            if delay:
                time.sleep(delay)
            with st.lock:
                bad = None
                if g is None or g["provider"] != provider:
                    bad = "unknown refresh token"
                elif g["client_id"] != cid:
                    bad = "refresh token of another client"
                elif g["revoked"]:
                    bad = "the grant was revoked"
                elif not r["current"]:
                    bad = "the refresh token was rotated"
                elif provider == "microsoft" and g["tenant"] != tenant:
                    bad = "refresh token of another tenant"
                if bad:
                    if g is not None:
                        g["refresh_failures"] += 1
                    return err(400, "invalid_grant", bad)
                g["refreshes"] += 1
                out = st.issue(g, rotate=st.rotate)
                rec["result"] = "ok"
        finally:
            if g is not None:
                with st.lock:
                    st.inflight[g["id"]] -= 1
        self.send(200, out, headers={"Cache-Control": "no-store",
                                     "Pragma": "no-cache"})

    # ---------------------------------------------------------------- Drive

    def drive_file(self, fid):
        st = self.state
        if fid == "root":
            fid = st.drive_root
        return st.files.get(fid)

    @staticmethod
    def drive_resource(f, fields=None):
        r = {"kind": "drive#file", "id": f["id"], "name": f["name"],
             "mimeType": f["mimeType"], "trashed": f["trashed"],
             "parents": f["parents"]}
        if f["mimeType"] != FOLDER_MIME:
            r["size"] = str(len(f.get("data", b"")))
        if fields:
            want = {x.strip() for x in fields.split(",")}
            r = {k: v for k, v in r.items() if k in want}
        return r

    @staticmethod
    def parse_fields(fields):
        """Drive's partial-response syntax ("a,b(c,d)") as {name: None
        (all of it) or {sub: None, ...}}; None when malformed."""
        out, depth, cur, parts = {}, 0, "", []
        for ch in fields:
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
                continue
            depth += ch == "("
            depth -= ch == ")"
            if depth < 0:
                return None
            cur += ch
        parts.append(cur)
        if depth:
            return None
        for part in parts:
            m = re.fullmatch(r"\s*([A-Za-z]+)\s*(?:\((.*)\))?\s*", part)
            if not m:
                return None
            sub = None
            if m[2] is not None:
                sub = Handler.parse_fields(m[2])
                if sub is None:
                    return None
            out[m[1]] = sub
        return out

    def drive_about(self):
        """GET /drive/v3/about (Drive API "about: get")."""
        st = self.state
        with st.lock:
            if self.bearer("google") is None:
                return self.drive_error(401, "authError",
                                        "Invalid Credentials")
            if st.about_error:
                e = st.about_error
                return self.drive_error(int(e["status"]), e["reason"],
                                        "about failed")
            fields = self.q("fields")
            if not fields:
                return self.drive_error(400, "required", "The 'fields' "
                                        "parameter is required for this "
                                        "method.")
            want = self.parse_fields(fields)
            user = {"kind": "drive#user", "me": True,
                    "permissionId": "07437184652393837",
                    "photoLink": "https://lh3.example/photo.jpg"}
            user.update({k: v for k, v in st.google_user.items()
                         if v is not None})
            quota = {k: str(v) for k, v in st.drive_quota.items()
                     if v is not None}
            about = {"kind": "drive#about", "user": user,
                     "storageQuota": quota, "maxUploadSize": str(5 << 40),
                     "appInstalled": False, "canCreateDrives": False}
        if want is None or any(k not in about for k in want):
            return self.drive_error(400, "invalidParameter", "Invalid field "
                                    "selection")
        out = {}
        for k, sub in want.items():
            v = about[k]
            if sub is not None:
                if not isinstance(v, dict):
                    return self.drive_error(400, "invalidParameter",
                                            "Invalid field selection")
                v = {kk: vv for kk, vv in v.items() if kk in sub}
            out[k] = v
        self.send(200, out)

    def drive_get(self, fid):
        st = self.state
        with st.lock:
            if self.bearer("google") is None:
                return self.drive_error(401, "authError",
                                        "Invalid Credentials")
            f = self.drive_file(fid)
            if f is None:
                return self.drive_error(404, "notFound",
                                        "File not found: %s." % fid)
            if self.q("alt") == "media":
                if f["mimeType"] == FOLDER_MIME:
                    return self.drive_error(
                        403, "fileNotDownloadable",
                        "Only files with binary content can be downloaded")
                data = f["data"]
            else:
                return self.send(200, self.drive_resource(
                    f, self.q("fields")))
        self.send(200, raw=data, ctype="application/octet-stream")

    def drive_upload(self):
        st = self.state
        raw = self.body()
        with st.lock:
            if self.bearer("google") is None:
                return self.drive_error(401, "authError",
                                        "Invalid Credentials")
        if self.q("uploadType") != "multipart":
            return self.drive_error(400, "badRequest",
                                    "uploadType must be multipart here")
        ctype = self.headers.get("Content-Type", "")
        m = re.match(r'^multipart/related;\s*boundary="?([^";]+)"?', ctype,
                     re.I)
        if not m:
            return self.drive_error(400, "badContent",
                                    "multipart/related required")
        parts = self.multipart(raw, m[1].encode())
        if parts is None or len(parts) != 2:
            return self.drive_error(400, "badContent",
                                    "two parts required")
        (h1, meta_raw), (h2, data) = parts
        if not h1.get("content-type", "").startswith("application/json"):
            return self.drive_error(400, "badContent",
                                    "metadata part must be JSON")
        try:
            meta = json.loads(meta_raw)
        except ValueError:
            return self.drive_error(400, "parseError", "bad metadata")
        name = meta.get("name")
        parents = meta.get("parents") or ["root"]
        if not isinstance(name, str) or not name or \
                not isinstance(parents, list) or len(parents) != 1:
            return self.drive_error(400, "badRequest", "bad metadata")
        with st.lock:
            parent = self.drive_file(parents[0])
            if parent is None:
                return self.drive_error(404, "notFound",
                                        "File not found: %s." % parents[0])
            if parent["mimeType"] != FOLDER_MIME:
                return self.drive_error(400, "invalidParent",
                                        "The parent is not a folder")
            if "read_only" in parent["flags"]:
                return self.drive_error(
                    403, "insufficientFilePermissions",
                    "The user does not have sufficient permissions for "
                    "this file.")
            f = {"id": st.next_id("1stub"), "name": name,
                 "mimeType": h2.get("content-type",
                                    "application/octet-stream"),
                 "parents": [parent["id"]], "trashed": False,
                 "flags": [], "data": data}
            st.files[f["id"]] = f
            res = self.drive_resource(f, self.q("fields"))
        self.send(200, res)

    @staticmethod
    def multipart(raw, boundary):
        """Parts of a multipart body as [(headers, content)], or None."""
        delim = b"--" + boundary
        if not raw.startswith(delim):
            return None
        chunks = raw.split(b"\r\n" + delim)
        first = chunks[0][len(delim):]
        chunks = [first] + chunks[1:]
        if not chunks[-1].startswith(b"--"):
            return None
        out = []
        for c in chunks[:-1]:
            if not c.startswith(b"\r\n"):
                return None
            head, sep, content = c[2:].partition(b"\r\n\r\n")
            if not sep:
                return None
            hdrs = {}
            for line in head.decode(errors="replace").split("\r\n"):
                k, _, v = line.partition(":")
                hdrs[k.strip().lower()] = v.strip()
            out.append((hdrs, content))
        return out

    def drive_delete(self, fid):
        st = self.state
        with st.lock:
            if self.bearer("google") is None:
                return self.drive_error(401, "authError",
                                        "Invalid Credentials")
            f = self.drive_file(fid)
            if f is None:
                return self.drive_error(404, "notFound",
                                        "File not found: %s." % fid)
            parent = st.files.get((f["parents"] or [None])[0])
            if parent is not None and ("no_delete" in parent["flags"] or
                                       "read_only" in parent["flags"]):
                return self.drive_error(
                    403, "insufficientFilePermissions",
                    "The user does not have sufficient permissions for "
                    "this file.")
            del st.files[f["id"]]
        self.send(204)

    # ---------------------------------------------------------------- Graph

    def graph_item(self, it):
        st = self.state
        r = {"id": it["id"], "name": it["name"],
             "parentReference": {"driveId": it["drive"],
                                 "id": it["parent"]}}
        if it["parent"] is None:
            r["root"] = {}
        if it["folder"]:
            r["folder"] = {"childCount": sum(
                1 for c in st.items.values() if c["parent"] == it["id"])}
        else:
            r["file"] = {"mimeType": "application/octet-stream"}
            r["size"] = len(it["data"])
        return r

    def graph(self, method, p):
        st = self.state
        body = self.body() if method == "PUT" else b""
        with st.lock:
            if self.bearer("microsoft") is None:
                return self.graph_error(
                    401, "InvalidAuthenticationToken",
                    "Access token is empty or invalid.")
            m = re.match(r"^/(me/drive|drives/([^/:]+))(.*)$", p)
            if not m:
                return self.graph_error(400, "BadRequest",
                                        "Resource not found for the segment")
            drive = ME_DRIVE if m[1] == "me/drive" else \
                urllib.parse.unquote(m[2])
            rest = m[3]
            if drive not in st.drive_roots:
                return self.graph_error(404, "itemNotFound",
                                        "The drive cannot be found.")
            if rest == "" and method == "GET":
                r = {"id": drive, "driveType": "personal",
                     "owner": st.graph_owner}
                if st.graph_quota is not None:
                    r["quota"] = self.graph_quota_facet(st.graph_quota)
                return self.send(200, r)
            if rest == "/root" and method == "GET":
                return self.send(200, self.graph_item(
                    st.items[st.drive_roots[drive]]))
            mp = re.match(r"^/root:(/[^:]*?):?$", rest)
            if mp and method == "GET":
                it = st.item_by_path(drive, urllib.parse.unquote(mp[1]))
                if it is None:
                    return self.graph_error(404, "itemNotFound",
                                            "The resource could not be "
                                            "found.")
                return self.send(200, self.graph_item(it))
            mp = re.match(r"^/root:(/[^:]*):/content$", rest)
            if mp and method == "PUT":
                return self.graph_put(drive, urllib.parse.unquote(mp[1]),
                                      body)
            mi = re.match(r"^/items/([^/]+)(/content)?$", rest)
            if mi:
                it = st.items.get(urllib.parse.unquote(mi[1]))
                if it is None or it["drive"] != drive:
                    return self.graph_error(404, "itemNotFound",
                                            "Item does not exist")
                if method == "GET" and mi[2]:
                    if it["folder"]:
                        return self.graph_error(400, "invalidRequest",
                                                "folders have no content")
                    tok = rnd()
                    st.downloads[tok] = {"item": it["id"],
                                         "exp": time.time() + 300}
                    host, port = self.server.server_address[:2]
                    base = st.download_base or "http://%s:%d" % (host,
                                                                  port)
                    return self.redirect("%s/download/%s" % (base, tok))
                if method == "GET":
                    return self.send(200, self.graph_item(it))
                if method == "DELETE" and not mi[2]:
                    parent = st.items.get(it["parent"])
                    if parent is None or "no_delete" in parent["flags"] \
                            or "read_only" in parent["flags"]:
                        return self.graph_error(403, "accessDenied",
                                                "Access denied")
                    del st.items[it["id"]]
                    return self.send(204)
            return self.graph_error(400, "BadRequest",
                                    "Unsupported request")

    @staticmethod
    def graph_quota_facet(q):
        """Graph's quota resource: remaining = total - used unless given;
        state from the share left ("quota resource type")."""
        total, used = q["total"], q["used"]
        remaining = q.get("remaining", max(total - used, 0))
        if used > total:
            state = "exceeded"
        elif remaining < total / 100:
            state = "critical"
        elif remaining < total / 10:
            state = "nearing"
        else:
            state = "normal"
        return {"deleted": q.get("deleted", 0), "remaining": remaining,
                "state": state, "total": total, "used": used}

    def graph_put(self, drive, path, body):
        """Simple upload (PUT .../root:/{path}/{name}:/content). Under the
        state lock."""
        st = self.state
        folder, _, name = path.rpartition("/")
        if not name:
            return self.graph_error(400, "invalidRequest", "name missing")
        parent = st.item_by_path(drive, folder or "/")
        if parent is None:
            return self.graph_error(404, "itemNotFound",
                                    "The parent could not be found.")
        if not parent["folder"]:
            return self.graph_error(400, "invalidRequest",
                                    "The parent is not a folder.")
        if "read_only" in parent["flags"]:
            return self.graph_error(403, "accessDenied", "Access denied")
        old = st.item_by_path(drive, path)
        if old is not None:
            old["data"] = body
            return self.send(200, self.graph_item(old))
        it = {"id": st.next_id("01STUB"), "name": name, "drive": drive,
              "parent": parent["id"], "folder": False, "data": body,
              "flags": []}
        st.items[it["id"]] = it
        self.send(201, self.graph_item(it))

    def download(self, tok):
        st = self.state
        with st.lock:
            d = st.downloads.get(tok)
            it = st.items.get(d["item"]) if d else None
            # A pre-authenticated URL: a bearer token has no business here.
            if "Authorization" in self.headers:
                return self.send(401, {"error": "unexpected Authorization "
                                       "on a pre-authenticated URL %s"
                                       % MARK})
            if it is None or time.time() > d["exp"]:
                return self.send(404, {"error": "gone %s" % MARK})
            data = it["data"]
        self.send(200, raw=data, ctype="application/octet-stream")

    # -------------------------------------------------------------- control

    def control(self, p):
        st = self.state
        try:
            req = json.loads(self.body() or b"{}")
        except ValueError:
            return self.send(400, {"error": "bad json"})
        with st.lock:
            if p == "/_control":
                if "expires_in" in req:
                    st.expires_in = int(req["expires_in"])
                if "token_delay" in req:
                    st.token_delay = float(req["token_delay"])
                if "deny_next" in req:
                    st.deny_next = req["deny_next"]
                if "download_base" in req:
                    st.download_base = req["download_base"]
                if "rotate" in req:
                    st.rotate = bool(req["rotate"])
                if "token_error" in req:
                    st.token_error = req["token_error"]
                for k in ("drive_quota", "google_user", "about_error",
                          "graph_quota", "graph_owner"):
                    if k in req:
                        setattr(st, k, req[k])
                if req.get("reset_facts"):
                    st.reset_facts()
                return self.send(200, {"expires_in": st.expires_in,
                                       "token_delay": st.token_delay})
            if p == "/_control/revoke":
                n = 0
                for g in st.grants.values():
                    if g["id"] == req.get("grant") or \
                            g["client_id"] == req.get("client_id"):
                        g["revoked"] = True
                        n += 1
                return self.send(200, {"revoked": n})
            if p == "/_control/expire":
                g = st.grants.get(req.get("grant"))
                for at in (g["access_tokens"] if g else []):
                    st.access[at]["exp"] = 0
                return self.send(200, {"ok": g is not None})
            if p == "/_control/folder":
                return self.control_folder(req)
        self.send(404, {"error": "no such control"})

    def control_folder(self, req):
        """Under the state lock."""
        st = self.state
        flags = [k for k in ("read_only", "no_delete") if req.get(k)]
        kind = req.get("kind", "folder")
        if req.get("provider") == "google":
            parent = self.drive_file(req.get("parent", "root"))
            if parent is None:
                return self.send(404, {"error": "no parent"})
            f = {"id": st.next_id("1stubF"), "name": req["name"],
                 "mimeType": FOLDER_MIME if kind == "folder"
                 else "text/plain",
                 "parents": [parent["id"]], "trashed": bool(
                     req.get("trashed")), "flags": flags, "data": b"x"
                 if kind != "folder" else b""}
            st.files[f["id"]] = f
            return self.send(200, {"id": f["id"]})
        drive = req.get("drive", ME_DRIVE)
        parent = st.items[st.drive_roots[drive]]
        segs = [s for s in req["path"].split("/") if s]
        for i, seg in enumerate(segs):
            last = i == len(segs) - 1
            cur = st.item_by_path(drive, "/".join(segs[:i + 1]))
            if cur is None:
                cur = {"id": st.next_id("01STUBF"), "name": seg,
                       "drive": drive, "parent": parent["id"],
                       "folder": not last or kind == "folder",
                       "data": b"x" if last and kind != "folder" else b"",
                       "flags": []}
                st.items[cur["id"]] = cur
            if last:
                cur["flags"] = flags
            parent = cur
        return self.send(200, {"id": parent["id"]})


if __name__ == "__main__":
    peerlib.stub_main(Handler, State)
