#!/usr/bin/python3
"""A stub of Dropbox's OAuth 2 endpoints and API v2, for backupd's dropbox
tests (the real Dropbox cannot be reached from here). Modelled on
tests/peers/oauth/oauth_stub.py.

It follows Dropbox's documented behaviour ("OAuth Guide", "HTTP
Documentation" at www.dropbox.com/developers/documentation/http):

- Authorization: GET /oauth2/authorize (the www.dropbox.com host). The
  client_id (app key) must be registered and redirect_uri one of the
  registered URIs EXACTLY (otherwise an error page, never a redirect). Then
  response_type=code, code_challenge_method=S256 with a 43-character
  base64url code_challenge (PKCE; "plain" is refused here, the service
  never uses it), token_access_type offline|online|legacy, and scope (when
  given) made of scopes Dropbox knows. As Dropbox does after the user
  consents, it answers 302 to redirect_uri?code=...&state=... (or
  ?error=...&state=...). A refresh token is issued only for
  token_access_type=offline. The code lives 10 minutes and is single use.
- Token: POST /api/oauth2/token (the api.dropboxapi.com host), form-encoded;
  client authentication by client_id + client_secret in the form or HTTP
  Basic; a bad client is 400 invalid_client. grant_type=authorization_code
  checks the code, the EXACT redirect_uri and the code_verifier;
  grant_type=refresh_token answers a new short-lived access token. Dropbox
  keeps the refresh token; this stub ROTATES it by default (each refresh
  issues a new one and kills the old, as a provider may), `rotate: false`
  gives Dropbox's own behaviour. Answers: {"access_token": "sl....",
  "token_type": "bearer", "expires_in", "refresh_token", "scope", "uid",
  "account_id"}; errors {"error", "error_description"}.
- users/get_current_account answers a FullAccount (account_id, name
  {given_name, surname, familiar_name, display_name, abbreviated_name},
  email, email_verified, ...); users/get_space_usage a SpaceUsage {used,
  allocation: {".tag": "individual", allocated} or {".tag": "team", used,
  allocated, user_within_team_space_allocated,
  user_within_team_space_limit_type, ...}}. Both need the
  account_info.read scope: a token without it gets 401 {"error":
  {".tag": "missing_scope", "required_scope": ...}} (AuthError /
  TokenScopeError), as every endpoint does for its scope.
- RPC endpoints under /api/2/ (POST; Bearer token; JSON arguments in the
  body with Content-Type application/json, or no body for the endpoints
  without arguments): users/get_current_account, users/get_space_usage,
  files/get_metadata, files/delete_v2. Content endpoints under
  /content/2/ (POST; arguments as JSON in the Dropbox-API-Arg header, which
  must be pure ASCII, non-ASCII characters escaped as \\uXXXX):
  files/upload (body = the file, Content-Type application/octet-stream),
  files/download (no body; the answer is the file, its metadata in the
  Dropbox-API-Result header). An RPC endpoint asked on the content host or
  the other way round is 400, as at Dropbox. Malformed input is 400 with a
  plain-text message; auth errors are 401 {"error_summary":
  "invalid_access_token/..", "error": {".tag": ...}} (expired_access_token
  for an expired token); endpoint errors are 409 {"error_summary":
  "path/not_found/...", "error": {...}} with the shapes of the API docs.

Control endpoints, for the tests only (the service never calls them):
  GET  /_control/state      requests, authorize requests, token requests,
                            grants and their tokens, files
  POST /_control            {"expires_in": N, "rotate": bool,
                             "token_error": {"status", "error"} or null,
                             "quota": bytes, "used": bytes,
                             "allocation": a SpaceAllocation answered as is
                             (e.g. {".tag": "team", ...}) or null (the
                             individual one of "quota"),
                             "account": {"email", "display_name"} or null,
                             "space_error": HTTP status or null,
                             "account_error": an AccessError tag (e.g.
                             "invalid_account_type": 403 from
                             get_current_account) or null}
  POST /_control/scope      {"grant": id, "scope": "a b"}: the scopes the
                            grant's tokens carry from now on (a grant made
                            before the app had a permission)
  POST /_control/revoke     {"client_id": X} or {"grant": id}
  POST /_control/expire     {"grant": id}: its access tokens expire now
  POST /_control/folder     {"path", "kind": "folder"|"file",
                             "read_only", "no_delete"} -> {"id"}

Every error message carries the marker "(dropbox-stub)".

Usage: dropbox_stub.py --config CONFIG.json
Config: {"host": "127.0.0.2", "port": 18997,
         "redirect_uris": [...], "clients": {"app key": "app secret"},
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

MARK = "(dropbox-stub)"
SCOPES = {"account_info.read", "account_info.write", "files.metadata.read",
          "files.metadata.write", "files.content.read",
          "files.content.write", "sharing.read", "sharing.write",
          "file_requests.read", "file_requests.write", "contacts.read",
          "contacts.write"}
CODE_TTL = 600
CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
VERIFIER_RE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
RPC = {"users/get_current_account", "users/get_space_usage",
       "files/get_metadata", "files/delete_v2"}
NO_ARGS = {"users/get_current_account", "users/get_space_usage"}
CONTENT = {"files/upload", "files/download"}
ACCOUNT_ID = "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"


def rnd(n=32):
    return base64.urlsafe_b64encode(secrets.token_bytes(n)).rstrip(
        b"=").decode()


def s256(verifier):
    d = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(d).rstrip(b"=").decode()


class State:
    def __init__(self, cfg):
        self.lock = threading.RLock()
        self.clients = dict(cfg["clients"])
        self.redirect_uris = list(cfg["redirect_uris"])
        self.expires_in = 14400
        self.rotate = True
        self.token_error = None
        self.quota = 2 * 1024 ** 3
        self.used = 123 * 1024 ** 2
        self.allocation = None
        self.account = None
        self.space_error = None
        self.account_error = None
        self.requests = []
        self.authorize = []
        self.token_requests = []
        self.codes = {}
        self.grants = {}
        self.access = {}
        self.refresh = {}
        # path_lower -> entry; the root "" exists implicitly
        self.files = {}
        self.seq = 0

    def next_id(self):
        self.seq += 1
        return "id:stub%06d%s" % (self.seq, rnd(6).replace("-", "x")
                                  .replace("_", "y"))

    def dump(self):
        files = {k: {kk: vv for kk, vv in v.items() if kk != "data"}
                 | {"size": len(v.get("data", b""))}
                 for k, v in self.files.items()}
        return {"requests": self.requests, "authorize": self.authorize,
                "token_requests": self.token_requests,
                "grants": self.grants,
                "access_tokens": sorted(self.access),
                "refresh_tokens": sorted(self.refresh),
                "files": files, "expires_in": self.expires_in}

    def issue(self, g, first):
        at = "sl.stub-" + rnd(48)
        self.access[at] = {"grant": g["id"], "exp": time.time() +
                           self.expires_in}
        g["access_tokens"].append(at)
        out = {"access_token": at, "token_type": "bearer",
               "expires_in": self.expires_in, "scope": g["scope"],
               "uid": "12345", "account_id": ACCOUNT_ID}
        if g["offline"] and (first or self.rotate):
            if g["refresh_token"] is not None:
                self.refresh[g["refresh_token"]]["current"] = False
            rt = "stub-rt-" + rnd(40)
            self.refresh[rt] = {"grant": g["id"], "current": True}
            g["refresh_token"] = rt
            g["refresh_tokens"].append(rt)
            out["refresh_token"] = rt
        return out

    def by_path(self, path):
        return self.files.get(path.lower())

    def by_id_or_path(self, p):
        if p.startswith("id:"):
            for f in self.files.values():
                if f["id"] == p:
                    return f
            return None
        return self.by_path(p)

    def parent_flags(self, path):
        """Flags of the nearest existing ancestor folder."""
        parts = path.lower().split("/")
        while len(parts) > 1:
            parts.pop()
            f = self.files.get("/".join(parts))
            if f is not None:
                return f["flags"]
        return []


def metadata(f):
    m = {".tag": "folder" if f["folder"] else "file", "name": f["name"],
         "path_lower": f["path_lower"], "path_display": f["path_display"],
         "id": f["id"]}
    if not f["folder"]:
        m.update({"client_modified": "2026-12-06T00:00:00Z",
                  "server_modified": "2026-12-06T00:00:00Z",
                  "rev": "a1c10ce0dd78", "size": len(f["data"]),
                  "is_downloadable": True,
                  "content_hash": hashlib.sha256(f["data"]).hexdigest()})
    return m


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None
    server_version = "dropbox-stub/1"

    def log_message(self, fmt, *args):
        pass

    # ------------------------------------------------------------ helpers

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send(self, status, obj=None, headers=None, raw=None, ctype=None):
        if raw is None and obj is not None:
            raw = json.dumps(obj).encode()
            ctype = ctype or "application/json"
        raw = raw or b""
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)
        with self.state.lock:
            self.entry["status"] = status

    def bad_input(self, endpoint, why):
        """400: Dropbox's plain-text answer to malformed input."""
        self.send(400, raw=('Error in call to API function "%s": %s %s'
                            % (endpoint, why, MARK)).encode(),
                  ctype="text/plain; charset=utf-8")

    def endpoint_error(self, summary, error):
        self.send(409, {"error_summary": summary, "error": error,
                        "user_message": {"text": "stub text " + MARK,
                                         "locale": "en"}})

    def auth_error(self, tag):
        self.send(401, {"error_summary": tag + "/..",
                        "error": {".tag": tag}},
                  headers={"WWW-Authenticate": 'Bearer realm="Dropbox-API"'})

    def oauth_error(self, status, error, desc):
        self.send(status, {"error": error,
                           "error_description": "%s %s" % (desc, MARK)})

    def begin(self):
        u = urllib.parse.urlsplit(self.path)
        self.rawpath = u.path
        self.query = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        self.entry = {"method": self.command, "path": u.path,
                      "query": sorted(self.query), "t": time.time(),
                      "auth_header": "Authorization" in self.headers,
                      "arg_header": self.headers.get("Dropbox-API-Arg")}
        with self.state.lock:
            self.state.requests.append(self.entry)

    def q(self, name):
        v = self.query.get(name)
        return v[0] if v else None

    def bearer(self):
        """(grant, error tag): the grant behind a valid token, or None and
        invalid_access_token / expired_access_token. Under the lock."""
        st = self.state
        h = self.headers.get("Authorization", "")
        if not h.startswith("Bearer "):
            self.entry["auth"] = "none" if not h else "malformed"
            return None, "invalid_access_token"
        tok = st.access.get(h[7:])
        g = st.grants.get(tok["grant"]) if tok else None
        if g is None or g["revoked"]:
            self.entry["auth"] = "invalid"
            return None, "invalid_access_token"
        if time.time() >= tok["exp"]:
            self.entry["auth"] = "expired"
            return None, "expired_access_token"
        self.entry["auth"] = "valid"
        self.entry["grant"] = g["id"]
        return g, None

    # ------------------------------------------------------------ routing

    def do_GET(self):
        self.begin()
        if self.rawpath == "/oauth2/authorize":
            return self.authorize()
        if self.rawpath == "/_control/state":
            with self.state.lock:
                data = json.dumps(self.state.dump()).encode()
            return self.send(200, raw=data, ctype="application/json")
        self.send(404, raw=b"not found", ctype="text/plain")

    def do_POST(self):
        self.begin()
        p = self.rawpath
        if p == "/api/oauth2/token":
            return self.token()
        if p.startswith("/_control"):
            return self.control(p)
        m = re.match(r"^/(api|content)/2/([a-z_]+/[a-z_0-9]+)$", p)
        if m:
            host, endpoint = m[1], m[2]
            if endpoint not in RPC | CONTENT:
                return self.send(404, raw=b"Unknown API function",
                                 ctype="text/plain")
            if (host == "api") != (endpoint in RPC):
                return self.bad_input(endpoint, "wrong host for this "
                                      "endpoint")
            return self.api(endpoint)
        self.send(404, raw=b"not found", ctype="text/plain")

    # ------------------------------------------------------------ authorize

    def authorize(self):
        st = self.state
        params = {k: v[0] if len(v) == 1 else v for k, v in self.query.items()}
        rec = {"params": params, "t": time.time(), "outcome": None}
        with st.lock:
            st.authorize.append(rec)
        client_id = self.q("client_id")
        redirect_uri = self.q("redirect_uri")
        if any(len(v) != 1 for v in self.query.values()):
            rec["outcome"] = "page:invalid_request"
            return self.send(400, raw=b"repeated parameter",
                             ctype="text/plain")
        if client_id not in st.clients:
            rec["outcome"] = "page:invalid_client"
            return self.send(400, raw=b"Invalid client_id",
                             ctype="text/plain")
        if redirect_uri not in st.redirect_uris:
            rec["outcome"] = "page:invalid_redirect_uri"
            return self.send(400, raw=b"Invalid redirect_uri",
                             ctype="text/plain")
        state = self.q("state")

        def back(**kv):
            if state is not None:
                kv["state"] = state
            sep = "&" if "?" in redirect_uri else "?"
            rec["outcome"] = kv.get("error") or "code"
            self.send(302, headers={"Location": redirect_uri + sep +
                                    urllib.parse.urlencode(kv)})

        if self.q("response_type") != "code":
            return back(error="unsupported_response_type",
                        error_description="response_type must be code")
        tat = self.q("token_access_type")
        if tat not in (None, "offline", "online", "legacy"):
            return back(error="invalid_request",
                        error_description="token_access_type")
        scope = self.q("scope")
        scopes = set(scope.split()) if scope is not None else \
            {"account_info.read", "files.metadata.read",
             "files.content.read", "files.content.write"}
        if not scopes or not scopes <= SCOPES:
            return back(error="invalid_scope",
                        error_description="unknown scope")
        if self.q("code_challenge_method") != "S256" or \
                not CHALLENGE_RE.match(self.q("code_challenge") or ""):
            return back(error="invalid_request",
                        error_description="PKCE S256 required")
        code = "stub-code-" + rnd()
        with st.lock:
            st.codes[code] = {
                "client_id": client_id, "redirect_uri": redirect_uri,
                "challenge": self.q("code_challenge"),
                "scope": " ".join(sorted(scopes)),
                "offline": tat == "offline", "state": state,
                "exp": time.time() + CODE_TTL, "used": False,
                "grant": None}
            rec["code"] = code
        back(code=code)

    # ---------------------------------------------------------------- token

    def token(self):
        st = self.state
        ctype = (self.headers.get("Content-Type") or "").split(";")[0]
        form = urllib.parse.parse_qs(self.body().decode(errors="replace"),
                                     keep_blank_values=True)

        def f(k):
            v = form.get(k)
            return v[0] if v and len(v) == 1 else None

        rec = {"grant_type": f("grant_type"), "client_id": f("client_id"),
               "redirect_uri": f("redirect_uri"),
               "has_verifier": f("code_verifier") is not None,
               "code": f("code"), "result": None, "grant": None,
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
        cid, secret = f("client_id"), f("client_secret")
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                u, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                cid, secret = u, pw
            except Exception:
                return err(400, "invalid_client", "bad Basic credentials")
        rec["client_id"] = cid
        if cid not in st.clients or secret is None or \
                not secrets.compare_digest(st.clients[cid], secret):
            return err(400, "invalid_client", "Invalid client_id or "
                       "client_secret")
        gt = f("grant_type")
        with st.lock:
            if gt == "authorization_code":
                return self.token_code(cid, f, rec, err)
            if gt == "refresh_token":
                return self.token_refresh(cid, f, rec, err)
        return err(400, "unsupported_grant_type", "grant_type")

    def token_code(self, cid, f, rec, err):
        """Under the lock."""
        st = self.state
        c = st.codes.get(f("code") or "")
        if c is None:
            return err(400, "invalid_grant", "code doesn't exist or has "
                       "expired")
        if c["used"]:
            if c["grant"] in st.grants:
                st.grants[c["grant"]]["revoked"] = True
            return err(400, "invalid_grant", "code has already been used")
        c["used"] = True
        if time.time() > c["exp"] or c["client_id"] != cid:
            return err(400, "invalid_grant", "code doesn't exist or has "
                       "expired")
        if f("redirect_uri") != c["redirect_uri"]:
            return err(400, "invalid_grant", "redirect_uri mismatch")
        v = f("code_verifier")
        if v is None or not VERIFIER_RE.match(v) or \
                s256(v) != c["challenge"]:
            rec["pkce"] = "mismatch"
            return err(400, "invalid_grant", "invalid code verifier")
        rec["pkce"] = "ok"
        g = {"id": "grant-%d" % (len(st.grants) + 1), "client_id": cid,
             "scope": c["scope"], "offline": c["offline"],
             "state": c["state"], "revoked": False, "refresh_token": None,
             "refresh_tokens": [], "access_tokens": [], "refreshes": 0,
             "refresh_failures": 0, "refresh_presented": []}
        st.grants[g["id"]] = g
        c["grant"] = g["id"]
        rec["result"] = "ok"
        rec["grant"] = g["id"]
        self.send(200, st.issue(g, first=True))

    def token_refresh(self, cid, f, rec, err):
        """Under the lock."""
        st = self.state
        rt = f("refresh_token")
        r = st.refresh.get(rt or "")
        g = st.grants.get(r["grant"]) if r else None
        if g is not None:
            rec["grant"] = g["id"]
            g["refresh_presented"].append(rt)
        bad = None
        if g is None:
            bad = "refresh token is malformed"
        elif g["client_id"] != cid:
            bad = "refresh token of another app"
        elif g["revoked"]:
            bad = "refresh token has been revoked"
        elif not r["current"]:
            bad = "refresh token was rotated"
        if bad:
            if g is not None:
                g["refresh_failures"] += 1
            return err(400, "invalid_grant", bad)
        g["refreshes"] += 1
        rec["result"] = "ok"
        self.send(200, st.issue(g, first=False))

    # ------------------------------------------------------------------ API

    def api(self, endpoint):
        st = self.state
        raw = self.body()
        ctype = (self.headers.get("Content-Type") or "").split(";")[0] \
            .strip().lower()
        if endpoint in RPC:
            if raw and ctype != "application/json":
                return self.bad_input(endpoint, 'Bad HTTP "Content-Type" '
                                      'header: expecting application/json')
            if raw.strip() in (b"", b"null"):
                arg = None
            else:
                try:
                    arg = json.loads(raw)
                except ValueError:
                    return self.bad_input(endpoint, "could not decode "
                                          "input as JSON")
            if (arg is None) != (endpoint in NO_ARGS):
                return self.bad_input(endpoint, "request body: missing or "
                                      "unexpected arguments")
        else:
            h = self.headers.get("Dropbox-API-Arg")
            if h is None:
                return self.bad_input(endpoint, "missing Dropbox-API-Arg")
            try:
                h.encode("ascii")
            except UnicodeEncodeError:
                return self.bad_input(endpoint, "Dropbox-API-Arg header "
                                      "contains non-ASCII characters")
            try:
                arg = json.loads(h)
            except ValueError:
                return self.bad_input(endpoint, "could not decode "
                                      "Dropbox-API-Arg")
            if endpoint == "files/upload" and \
                    ctype != "application/octet-stream":
                return self.bad_input(endpoint, 'Bad HTTP "Content-Type" '
                                      'header: expecting '
                                      'application/octet-stream')
            if endpoint == "files/download" and raw:
                return self.bad_input(endpoint, "unexpected request body")
        if arg is not None and (not isinstance(arg, dict) or
                                not isinstance(arg.get("path"), str)):
            return self.bad_input(endpoint, "missing path")
        with st.lock:
            g, tag = self.bearer()
            if g is None:
                return self.auth_error(tag)
            scopes = set(g["scope"].split())
            need = {"users/get_current_account": "account_info.read",
                    "users/get_space_usage": "account_info.read",
                    "files/get_metadata": "files.metadata.read",
                    "files/delete_v2": "files.content.write",
                    "files/upload": "files.content.write",
                    "files/download": "files.content.read"}[endpoint]
            if need not in scopes:
                return self.send(401, {
                    "error_summary": "missing_scope/..",
                    "error": {".tag": "missing_scope",
                              "required_scope": need}})
            return getattr(self, "ep_" + endpoint.replace("/", "_"))(
                arg, raw)

    def check_path(self, endpoint, p, allow_id):
        if p.startswith("id:") and allow_id:
            return True
        if p == "" or not p.startswith("/") or p.endswith("/") or \
                "//" in p or any(s in (".", "..") for s in p.split("/")[1:]):
            self.endpoint_error("path/malformed_path/...",
                                {".tag": "path", "path":
                                 {".tag": "malformed_path"}})
            return False
        return True

    def ep_users_get_current_account(self, arg, raw):
        tag = self.state.account_error
        if tag:
            # 403: AccessError ("Errors": the account may not use this
            # endpoint or feature).
            return self.send(403, {"error_summary": tag + "/endpoint/..",
                                   "error": {".tag": tag, tag: {
                                       ".tag": "endpoint"}}})
        acc = dict({"email": "stub@example.com",
                    "display_name": "Stub User"}, **(self.state.account or {}))
        self.send(200, {"account_id": ACCOUNT_ID, "name": {
            "given_name": "Stub", "surname": "User",
            "familiar_name": "Stub", "display_name": acc["display_name"],
            "abbreviated_name": "SU"}, "email": acc["email"],
            "email_verified": True, "disabled": False, "locale": "en",
            "country": "DE", "is_paired": False,
            "account_type": {".tag": "basic"},
            "root_info": {".tag": "user", "root_namespace_id": "3235641",
                          "home_namespace_id": "3235641"}})

    def ep_users_get_space_usage(self, arg, raw):
        st = self.state
        if st.space_error:
            return self.send(int(st.space_error), raw=b"stub failure " +
                             MARK.encode(), ctype="text/plain")
        self.send(200, {"used": st.used, "allocation": st.allocation or {
            ".tag": "individual", "allocated": st.quota}})

    def ep_files_get_metadata(self, arg, raw):
        p = arg["path"]
        if p == "":
            return self.bad_input("files/get_metadata", "Error in call to "
                                  "API function: request body: path: The "
                                  "root folder is unsupported.")
        if not self.check_path("files/get_metadata", p, True):
            return
        f = self.state.by_id_or_path(p)
        if f is None:
            return self.endpoint_error("path/not_found/..", {
                ".tag": "path", "path": {".tag": "not_found"}})
        self.send(200, metadata(f))

    def ep_files_upload(self, arg, raw):
        st = self.state
        p = arg["path"]
        if not self.check_path("files/upload", p, False):
            return
        mode = arg.get("mode", "add")
        if isinstance(mode, dict):
            mode = mode.get(".tag")
        flags = st.parent_flags(p)
        fail = None
        if "read_only" in flags:
            fail = "no_write_permission"
        elif st.used + len(raw) > st.quota:
            fail = "insufficient_space"
        elif st.by_path(p) is not None and mode == "add" and \
                not arg.get("autorename"):
            fail = "conflict"
        if fail:
            reason = {".tag": fail}
            if fail == "conflict":
                reason["conflict"] = {".tag": "file"}
            return self.endpoint_error(
                "path/%s/..." % fail,
                {".tag": "path", "path": {"reason": reason,
                                          "upload_session_id": rnd(8)}})
        # Dropbox creates missing parent folders on upload.
        parts = p.split("/")
        for i in range(2, len(parts)):
            sub = "/".join(parts[:i])
            if st.by_path(sub) is None:
                st.files[sub.lower()] = {
                    "id": st.next_id(), "name": parts[i - 1],
                    "path_lower": sub.lower(), "path_display": sub,
                    "folder": True, "data": b"", "flags": []}
            elif not st.by_path(sub)["folder"]:
                return self.endpoint_error(
                    "path/conflict/folder/...",
                    {".tag": "path", "path": {"reason": {
                        ".tag": "conflict", "conflict": {".tag": "folder"}}}})
        f = {"id": st.next_id(), "name": parts[-1], "path_lower": p.lower(),
             "path_display": p, "folder": False, "data": raw,
             "flags": list(flags)}
        st.files[p.lower()] = f
        st.used += len(raw)
        self.send(200, metadata(f))

    def ep_files_download(self, arg, raw):
        p = arg["path"]
        if not self.check_path("files/download", p, True):
            return
        f = self.state.by_id_or_path(p)
        if f is None or f["folder"]:
            tag = "not_found" if f is None else "not_file"
            return self.endpoint_error("path/%s/.." % tag, {
                ".tag": "path", "path": {".tag": tag}})
        self.send(200, raw=f["data"], ctype="application/octet-stream",
                  headers={"Dropbox-API-Result":
                           json.dumps(metadata(f), ensure_ascii=True)})

    def ep_files_delete_v2(self, arg, raw):
        st = self.state
        p = arg["path"]
        if not self.check_path("files/delete_v2", p, True):
            return
        f = st.by_id_or_path(p)
        if f is None:
            return self.endpoint_error("path_lookup/not_found/..", {
                ".tag": "path_lookup", "path_lookup": {".tag": "not_found"}})
        if "no_delete" in f["flags"] or "read_only" in f["flags"]:
            return self.endpoint_error(
                "path_write/no_write_permission/..",
                {".tag": "path_write", "path_write": {
                    ".tag": "no_write_permission"}})
        m = metadata(f)
        prefix = f["path_lower"]
        for k in [k for k in st.files
                  if k == prefix or k.startswith(prefix + "/")]:
            st.used -= len(st.files[k]["data"])
            del st.files[k]
        self.send(200, {"metadata": m})

    # -------------------------------------------------------------- control

    def control(self, p):
        st = self.state
        try:
            req = json.loads(self.body() or b"{}")
        except ValueError:
            return self.send(400, {"error": "bad json"})
        with st.lock:
            if p == "/_control":
                for k in ("expires_in", "quota", "used"):
                    if k in req:
                        setattr(st, k, int(req[k]))
                for k in ("allocation", "account", "space_error",
                          "account_error"):
                    if k in req:
                        setattr(st, k, req[k])
                if "rotate" in req:
                    st.rotate = bool(req["rotate"])
                if "token_error" in req:
                    st.token_error = req["token_error"]
                return self.send(200, {"expires_in": st.expires_in})
            if p == "/_control/revoke":
                n = 0
                for g in st.grants.values():
                    if g["id"] == req.get("grant") or \
                            g["client_id"] == req.get("client_id"):
                        g["revoked"] = True
                        n += 1
                return self.send(200, {"revoked": n})
            if p == "/_control/scope":
                g = st.grants.get(req.get("grant"))
                if g is not None:
                    g["scope"] = req["scope"]
                return self.send(200, {"ok": g is not None})
            if p == "/_control/expire":
                g = st.grants.get(req.get("grant"))
                for at in (g["access_tokens"] if g else []):
                    st.access[at]["exp"] = 0
                return self.send(200, {"ok": g is not None})
            if p == "/_control/folder":
                path = req["path"].rstrip("/")
                parts = path.split("/")
                for i in range(2, len(parts) + 1):
                    sub = "/".join(parts[:i])
                    last = i == len(parts)
                    f = st.by_path(sub)
                    if f is None:
                        f = {"id": st.next_id(), "name": parts[i - 1],
                             "path_lower": sub.lower(), "path_display": sub,
                             "folder": not last or
                             req.get("kind", "folder") == "folder",
                             "data": b"x" if last and
                             req.get("kind") == "file" else b"",
                             "flags": []}
                        st.files[sub.lower()] = f
                    if last:
                        f["flags"] = [k for k in ("read_only", "no_delete")
                                      if req.get(k)]
                return self.send(200, {"id": f["id"]})
        self.send(404, {"error": "no such control"})


if __name__ == "__main__":
    peerlib.stub_main(Handler, State)
