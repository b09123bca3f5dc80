"""The OAuth flow (POST /{id}/oauth, GET /oauth/callback), token refresh and
the google_drive / onedrive probes, against a stub of Google's and
Microsoft's endpoints (tests/peers/oauth/oauth_stub.py; the real providers
cannot be reached from here).

The browser's part is played here: POST /{id}/oauth gives the
authorizationUrl; a GET of it at the stub answers 302 to
redirect_uri?code=...&state=... as a provider does after consent; the test
then GETs that callback URL through nginx and checks the 302 to the
settings page. The stub's token endpoint checks the code, the client
credentials, the exact redirect_uri and the PKCE verifier, and issues
short-lived access tokens and rotating refresh tokens; its Drive and Graph
endpoints accept only its own valid access tokens.

What the probes report beyond their checks (issue 9): Google Drive's
capacity and account from about.get (one request more), OneDrive's from
the drive resource the auth check reads anyway (none more), exactly as the
stub answered them, with the low-space warning and nulls where nothing is
reported.

The provider URLs are server-wide, so scripts/integration.sh exports them
(stub on http://127.0.0.2:18998) before `stack.sh up`.
"""

import base64
import datetime as dt
import hashlib
import json
import os
import re
import signal
import socket
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest
import requests

from conftest import (OAUTH_TYPES, SEEN_BODIES, Api, assert_problem,
                      assert_rfc3339, assert_test_result, mariadb_dump,
                      new_org, register_secrets, sql, uname)
from probe_helpers import PEERS, stub_process

STUB = PEERS / "oauth" / "oauth_stub.py"
LIST = "/backup-destinations"
GOOGLE_SCOPE = "https://www.googleapis.com/auth/drive.file"
MS_SCOPE = "offline_access Files.ReadWrite"
MARK = "(oauth-stub)"
NONCE_RE = r"[A-Za-z0-9_-]{43}"
CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
CHECKS = ["connect", "auth", "target", "write", "read", "delete"]
OTHER_DRIVE = "b!stubOtherDrive"
AGAIN = "authorize again"

# Clients registered at the stub besides the server's own: a destination's
# own client (override), and one whose grants a test revokes.
OWN_GOOGLE = ("own-google-client.apps.example", "own-google-secret-7f3a9c")
OWN_MS = ("0f7e3c1a-own-microsoft-client", "own-ms-secret-2b8d4e")
REVOKE_GOOGLE = ("revoke-google-client.apps.example", "revoke-secret-91ac")
REVOKE_MS = ("revoke-ms-client", "revoke-ms-secret-5e77")

# Every callback answer of the module (the leak check reads them too).
CALLBACKS = []

# OAuth types whose provider has a stub and a suite of their own instead of
# tests/peers/oauth/ (issue 10: Dropbox). Every other OAuth type of the
# registry runs the parametrized tests below against this module's stub.
OWN_SUITE = {"dropbox": "test_dropbox.py"}
STUB_TYPES = [t for t in OAUTH_TYPES if t not in OWN_SUITE]


# ------------------------------------------------------------------ setup

def read_conf(path):
    out = {}
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


class Stub:
    def __init__(self, url, settings, redirect):
        self.url = url
        self.settings = settings
        self.redirect = redirect
        self.google_client = (os.environ["BACKUPD_GOOGLE_CLIENT_ID"],
                              os.environ["BACKUPD_GOOGLE_CLIENT_SECRET"])
        self.ms_client = (os.environ["BACKUPD_MICROSOFT_CLIENT_ID"],
                          os.environ["BACKUPD_MICROSOFT_CLIENT_SECRET"])

    def state(self):
        r = requests.get(self.url + "/_control/state", timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def control(self, where="", /, **kw):
        r = requests.post(self.url + "/_control" + where, json=kw,
                          timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def folder(self, **kw):
        return self.control("/folder", **kw)["id"]

    def grant(self, state):
        """The grant issued for the flow with this state."""
        gs = [g for g in self.state()["grants"].values()
              if g["state"] == state]
        assert len(gs) == 1, gs
        return gs[0]

    def token_requests(self, **match):
        return [t for t in self.state()["token_requests"]
                if all(t.get(k) == v for k, v in match.items())]

    def requests_since(self, n):
        return self.state()["requests"][n:]


@pytest.fixture(scope="module")
def stub(env):
    need = ("BACKUPD_GOOGLE_AUTH_URL", "BACKUPD_GOOGLE_TOKEN_URL",
            "BACKUPD_GOOGLE_API_URL", "BACKUPD_MICROSOFT_LOGIN_URL",
            "BACKUPD_MICROSOFT_GRAPH_URL", "BACKUPD_GOOGLE_CLIENT_ID",
            "BACKUPD_GOOGLE_CLIENT_SECRET", "BACKUPD_MICROSOFT_CLIENT_ID",
            "BACKUPD_MICROSOFT_CLIENT_SECRET")
    missing = [k for k in need if not os.environ.get(k)]
    if missing:
        pytest.fail("%s not set: scripts/integration.sh exports the OAuth "
                    "stub URLs before `stack.sh up`" % missing)
    u = urllib.parse.urlsplit(os.environ["BACKUPD_GOOGLE_API_URL"])
    url = "%s://%s" % (u.scheme, u.netloc)
    conf = read_conf(env["BACKUPD_CONFIG"])
    settings, redirect = conf["settings_url"], conf["oauth_redirect_uri"]
    stack = env.get("BACKUPD_STACK_DIR") or os.environ["BACKUPD_STACK_DIR"]
    state = Path(stack) / "peers" / "oauth"
    state.mkdir(parents=True, exist_ok=True)
    ready = state / "ready"
    if ready.exists():
        ready.unlink()
    cfg = {
        "host": u.hostname, "port": u.port, "ready_file": str(ready),
        "redirect_uris": [redirect],
        "clients": {
            "google": dict([(os.environ["BACKUPD_GOOGLE_CLIENT_ID"],
                             os.environ["BACKUPD_GOOGLE_CLIENT_SECRET"]),
                            OWN_GOOGLE, REVOKE_GOOGLE]),
            "microsoft": dict([(os.environ["BACKUPD_MICROSOFT_CLIENT_ID"],
                                os.environ["BACKUPD_MICROSOFT_CLIENT_SECRET"]),
                               OWN_MS, REVOKE_MS]),
        },
    }
    (state / "config.json").write_text(json.dumps(cfg))
    with stub_process(["/usr/bin/python3", str(STUB), "--config",
                       str(state / "config.json")], state, ready,
                      "oauth stub"):
        yield Stub(url, settings, redirect)


@pytest.fixture
def tokens_expire_soon(stub):
    """Access tokens issued from now on expire in 5 s (the service refreshes
    any that expire within a minute)."""
    stub.control(expires_in=5)
    yield
    stub.control(expires_in=3600, token_delay=0, rotate=True,
                 token_error=None)


# ---------------------------------------------------------------- helpers

def create(api, dtype, **config):
    r = api.create({"name": uname(dtype[:6]), "destinationType": dtype,
                    "config": config})
    d = r.json()
    assert d["status"] == "pending_authorization", d
    assert d["lastTest"] is None, d
    return d


def start(api, dest_id):
    r = api.post("%s/%s/oauth" % (LIST, dest_id))
    assert r.status_code == 200, (r.status_code, r.text)
    b = r.json()
    assert set(b) == {"authorizationUrl", "state", "expiresAt"}, b
    return b


def consent(url):
    """The user's browser at the provider: consent, then the provider's
    302 back to redirect_uri. Returns that Location."""
    r = requests.get(url, allow_redirects=False, timeout=10)
    assert r.status_code == 302, (r.status_code, r.text)
    return r.headers["Location"]


def callback(browser, stub, url=None, query=None):
    """GET the service's callback (through nginx) from `browser`: the Api
    whose session started the flow (it holds the backupd_oauth cookie that
    POST /{id}/oauth set), or None for a browser without cookies. Every
    answer is a 302 to the settings page and nowhere else, with no-referrer
    and no-store. Returns the Location's query as a dict."""
    if url is None:
        url = stub.redirect + ("?" + query if query is not None else "")
    get_ = browser.s.get if browser is not None else requests.get
    r = get_(url, allow_redirects=False, timeout=60)
    CALLBACKS.append(r)
    assert r.status_code == 302, (r.status_code, r.text)
    loc = r.headers.get("Location", "")
    assert loc.startswith(stub.settings + "?"), loc
    su, lu = urllib.parse.urlsplit(stub.settings), urllib.parse.urlsplit(loc)
    assert (lu.scheme, lu.netloc, lu.path) == (su.scheme, su.netloc, su.path)
    assert r.headers.get("Referrer-Policy") == "no-referrer", r.headers
    assert "no-store" in r.headers.get("Cache-Control", ""), r.headers
    q = urllib.parse.parse_qs(lu.query, keep_blank_values=True,
                              strict_parsing=True)
    assert all(len(v) == 1 for v in q.values()), loc
    out = {k: v[0] for k, v in q.items()}
    assert set(out) <= {"destinationId", "oauth", "reason"}, loc
    return out


def connected(q, dest_id):
    assert q == {"destinationId": dest_id, "oauth": "connected"}, q


def error(q, reason, dest_id=None):
    want = {"oauth": "error", "reason": reason}
    if dest_id is not None:
        want["destinationId"] = dest_id
    assert q == want, q


def connect(api, stub, dest_id):
    """The whole flow in api's browser; returns (start body, callback
    URL)."""
    b = start(api, dest_id)
    cb = consent(b["authorizationUrl"])
    connected(callback(api, stub, cb), dest_id)
    return b, cb


def with_query(base, /, **params):
    """base with its query parameters replaced/added (raw strings)."""
    u = urllib.parse.urlsplit(base)
    q = urllib.parse.parse_qsl(u.query, keep_blank_values=True)
    q = [(k, v) for k, v in q if k not in params]
    q += [(k, v) for k, v in params.items() if v is not None]
    return urllib.parse.urlunsplit(u._replace(
        query=urllib.parse.urlencode(q)))


def url_params(url):
    u = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
    assert all(len(v) == 1 for v in q.values()), url
    return u, {k: v[0] for k, v in q.items()}


def row(env, dest_id):
    r = sql(env, "SELECT status, oauth_connected_at, HEX(config_ciphertext), "
            "version, last_test_at FROM backup_destinations WHERE id = '%s'"
            % dest_id)
    assert len(r) == 1, r
    return r[0]


def get(api, dest_id):
    r = api.get("%s/%s" % (LIST, dest_id))
    assert r.status_code == 200, r.text
    return r.json()


def probe_ok(api, dest_id):
    r = api.post("%s/%s/test" % (LIST, dest_id))
    assert r.status_code == 200, (r.status_code, r.text)
    tr = r.json()
    assert assert_test_result(tr, ok=True) == CHECKS, tr
    return tr


def probe_fails(api, dest_id, check):
    r = api.post("%s/%s/test" % (LIST, dest_id))
    p = assert_problem(r, 422)
    assert p.get("failedCheck") == check, p
    assert_test_result(p["lastTest"], ok=False)
    assert p["checks"][-1]["name"] == check and not p["checks"][-1]["ok"], p
    assert all(c["ok"] for c in p["checks"][:-1]), p
    for c in p["checks"]:
        d = c.get("detail", "")
        assert MARK not in d and '{"' not in d and "ya29." not in d, c
    return p


def exchanges_of(stub, code):
    return [t for t in stub.state()["token_requests"]
            if t["grant_type"] == "authorization_code" and t["code"] == code]


def code_of(cb):
    return url_params(cb)[1]["code"]


# ----------------------------------------------------- authorization URLs

def test_google_authorization_url(api, stub, env):
    d = create(api, "google_drive")
    t0 = dt.datetime.now(dt.timezone.utc)
    b = start(api, d["id"])
    exp = assert_rfc3339(b["expiresAt"])
    assert 540 <= (exp - t0).total_seconds() <= 660, b["expiresAt"]
    u, p = url_params(b["authorizationUrl"])
    au = urllib.parse.urlsplit(os.environ["BACKUPD_GOOGLE_AUTH_URL"])
    assert (u.scheme, u.netloc, u.path) == (au.scheme, au.netloc, au.path)
    assert set(p) == {"client_id", "redirect_uri", "response_type", "scope",
                      "access_type", "prompt", "state", "code_challenge",
                      "code_challenge_method"}, p
    assert p["client_id"] == stub.google_client[0]
    assert p["redirect_uri"] == stub.redirect
    assert p["response_type"] == "code"
    assert p["scope"] == GOOGLE_SCOPE
    assert p["access_type"] == "offline"
    assert p["prompt"] == "consent"
    assert p["state"] == b["state"]
    assert re.fullmatch(r"%s:google_drive:%s" % (d["id"], NONCE_RE),
                        b["state"]), b["state"]
    assert CHALLENGE_RE.match(p["code_challenge"]), p
    assert p["code_challenge_method"] == "S256"
    # A second start (in a second browser of the same user: one browser
    # holds one backupd_oauth binding): a fresh nonce and a fresh PKCE pair.
    second = Api(env["BACKUPD_URL"], api.tok)
    b2 = start(second, d["id"])
    assert b2["state"] != b["state"]
    assert url_params(b2["authorizationUrl"])[1]["code_challenge"] != \
        p["code_challenge"]
    # The stub's token endpoint accepted the verifier for this challenge
    # (base64url(sha256(verifier)) == code_challenge) and the exact URI.
    cb = consent(b["authorizationUrl"])
    connected(callback(api, stub, cb), d["id"])
    ex = exchanges_of(stub, code_of(cb))
    assert len(ex) == 1, ex
    assert ex[0]["result"] == "ok" and ex[0]["pkce"] == "ok", ex
    assert ex[0]["redirect_uri"] == stub.redirect
    assert ex[0]["client_id"] == stub.google_client[0]
    g = stub.grant(b["state"])
    assert g["offline"] and g["refresh_tokens"], g
    # The other state of this destination is still usable once.
    connected(callback(second, stub, consent(b2["authorizationUrl"])),
              d["id"])
    second.close()


@pytest.mark.parametrize("tenant", [None, "contoso.onmicrosoft.com"],
                         ids=["common", "tenant"])
def test_microsoft_authorization_url(api, stub, tenant):
    cfg = {"tenant": tenant} if tenant else {}
    d = create(api, "onedrive", **cfg)
    b = start(api, d["id"])
    u, p = url_params(b["authorizationUrl"])
    lu = urllib.parse.urlsplit(os.environ["BACKUPD_MICROSOFT_LOGIN_URL"])
    assert (u.scheme, u.netloc) == (lu.scheme, lu.netloc)
    assert u.path == "%s/%s/oauth2/v2.0/authorize" % (
        lu.path.rstrip("/"), tenant or "common"), u.path
    assert set(p) == {"client_id", "redirect_uri", "response_type", "scope",
                      "response_mode", "state", "code_challenge",
                      "code_challenge_method"}, p
    assert p["client_id"] == stub.ms_client[0]
    assert p["redirect_uri"] == stub.redirect
    assert p["response_type"] == "code"
    assert p["scope"] == MS_SCOPE
    assert p["response_mode"] == "query"
    assert p["state"] == b["state"]
    assert re.fullmatch(r"%s:onedrive:%s" % (d["id"], NONCE_RE),
                        b["state"]), b["state"]
    assert CHALLENGE_RE.match(p["code_challenge"]), p
    assert p["code_challenge_method"] == "S256"
    cb = consent(b["authorizationUrl"])
    connected(callback(api, stub, cb), d["id"])
    ex = exchanges_of(stub, code_of(cb))
    assert len(ex) == 1 and ex[0]["result"] == "ok", ex
    assert ex[0]["pkce"] == "ok" and ex[0]["redirect_uri"] == stub.redirect
    # The code was redeemed at the same tenant's token endpoint.
    assert ex[0]["tenant"] == (tenant or "common"), ex


@pytest.mark.parametrize("dtype,own,server", [
    ("google_drive", OWN_GOOGLE, "google_client"),
    ("onedrive", OWN_MS, "ms_client")])
def test_destination_client_overrides_server(api, stub, dtype, own, server):
    d = create(api, dtype, clientId=own[0], clientSecret=own[1])
    assert d["config"]["clientSecret"] == "********", d
    b = start(api, d["id"])
    p = url_params(b["authorizationUrl"])[1]
    assert p["client_id"] == own[0] != getattr(stub, server)[0]
    cb = consent(b["authorizationUrl"])
    connected(callback(api, stub, cb), d["id"])
    ex = exchanges_of(stub, code_of(cb))
    # The stub authenticated the destination's client with its secret.
    assert len(ex) == 1 and ex[0]["result"] == "ok", ex
    assert ex[0]["client_id"] == own[0]
    assert stub.grant(b["state"])["client_id"] == own[0]
    assert get(api, d["id"])["status"] == "active"


def test_every_oauth_type_has_a_suite():
    """A type with a suite of its own is an OAuth type of the registry and
    that suite exists; the rest are the parametrized tests' STUB_TYPES."""
    here = Path(__file__).resolve().parent
    for t, f in OWN_SUITE.items():
        assert t in OAUTH_TYPES, t
        assert (here / f).is_file(), f
    assert STUB_TYPES and set(STUB_TYPES) | set(OWN_SUITE) == \
        set(OAUTH_TYPES)


# -------------------------------------------------------------- happy path

@pytest.mark.parametrize("dtype", STUB_TYPES)
def test_happy_path(api, stub, env, dtype):
    d = create(api, dtype)
    n = len(stub.state()["requests"])
    b, cb = connect(api, stub, d["id"])
    got = get(api, d["id"])
    assert got["status"] == "active", got
    assert "_oauth" not in got["config"], got
    assert set(got["config"]) <= {"folderId", "folderPath", "driveId",
                                  "tenant", "clientId", "clientSecret"}
    tr = got["lastTest"]
    assert assert_test_result(tr, ok=True) == CHECKS, tr
    by = {c["name"]: c.get("detail", "") for c in tr["checks"]}
    if dtype == "google_drive":
        assert "My Drive" in by["target"], by
    else:
        assert by["target"] == "folder '/' exists", by
    assert any("plain http" in w for w in tr["warnings"]), tr
    st, conn_at, _, _, _ = row(env, d["id"])
    assert st == "active" and conn_at is not None
    # The probe used the stub's API with a valid token, and cleaned up.
    seen = stub.requests_since(n)
    api_calls = [r for r in seen if r["path"].startswith(
        ("/google/drive", "/google/upload", "/graph/"))]
    assert api_calls and all(r["auth"] == "valid" for r in api_calls), seen
    methods = [r["method"] for r in api_calls]
    assert "DELETE" in methods and ("POST" in methods or "PUT" in methods)
    if dtype == "onedrive":
        dl = [r for r in seen if r["path"].startswith("/download/")]
        assert len(dl) == 1 and dl[0]["status"] == 200, dl
        # No bearer token on the pre-authenticated URL.
        assert dl[0]["auth_header"] is False, dl
    s = stub.state()
    assert not [f for f in s["files"].values()
                if f["name"].startswith(".backupd-probe-")], s["files"]
    assert not [i for i in s["items"].values()
                if i["name"].startswith(".backupd-probe-")], s["items"]
    # A test now works with the stored token, without a refresh.
    g0 = stub.grant(b["state"])
    probe_ok(api, d["id"])
    assert stub.grant(b["state"])["refreshes"] == g0["refreshes"] == 0
    # The tokens are stored, encrypted: not in the dump, nor in answers.
    dump = mariadb_dump(env)
    g = stub.grant(b["state"])
    for t in g["access_tokens"] + g["refresh_tokens"]:
        assert t.encode() not in dump
        for body in SEEN_BODIES:
            assert t.encode() not in body


# ---------------------------------------------------------- state misuse

def test_replayed_state(api, stub, env):
    d = create(api, "google_drive")
    b, cb = connect(api, stub, d["id"])
    before = row(env, d["id"])
    error(callback(api, stub, cb), "invalid_state")
    # The replay changed nothing and exchanged nothing, and is audited
    # (with the precise word).
    assert row(env, d["id"]) == before
    assert len(exchanges_of(stub, code_of(cb))) == 1
    rows = sql(env, "SELECT outcome, detail FROM audit_log WHERE "
               "destination_id = '%s' AND action = 'oauth.callback' "
               "ORDER BY id" % d["id"])
    assert rows == [["success", None], ["failure", "state_used"]], rows


def test_forged_states(api, stub, env):
    a = create(api, "google_drive")
    other = create(api, "google_drive")
    od = create(api, "onedrive")
    b = start(api, a["id"])
    cb = consent(b["authorizationUrl"])
    code = code_of(cb)
    nonce = b["state"].rsplit(":", 1)[1]
    forged = [
        "%s:google_drive" % a["id"],                      # no nonce
        "%s:google_drive:" % a["id"],
        "%s:google_drive:%s" % (a["id"],
                                base64.urlsafe_b64encode(os.urandom(32))
                                .rstrip(b"=").decode()),  # random nonce
        "%s:onedrive:%s" % (a["id"], nonce),              # wrong provider
        "%s:google_drive:%s" % (other["id"], nonce),      # other destination
        "%s:onedrive:%s" % (od["id"], nonce),             # other dest + type
        "%s:s3:%s" % (a["id"], nonce),
        "%s:google_drive:%s:x" % (a["id"], nonce),
        "%s:google_drive:%s" % (a["id"].upper(), nonce),
        nonce,
        a["id"],
        "",
        "x" * 5000,
    ]
    for s in forged:
        error(callback(api, stub, with_query(cb, state=s)), "invalid_state")
    # A state given twice is refused too, and burns nothing.
    error(callback(api, stub, cb + "&state=" + urllib.parse.quote(b["state"])),
          "invalid_state")
    error(callback(api, stub, stub.redirect + "?code=" + code), "invalid_state")
    # None of those exchanged the code or touched a destination.
    assert exchanges_of(stub, code) == []
    for x in (a, other, od):
        assert row(env, x["id"])[0] == "pending_authorization"
    # The real flow still works afterwards.
    connected(callback(api, stub, cb), a["id"])
    assert row(env, other["id"])[0] == "pending_authorization"


def test_expired_state(api, stub, env):
    d = create(api, "onedrive")
    b = start(api, d["id"])
    sql(env, "UPDATE oauth_states SET expires_at = UTC_TIMESTAMP(3) - "
        "INTERVAL 1 SECOND WHERE destination_id = '%s'" % d["id"])
    cb = consent(b["authorizationUrl"])
    error(callback(api, stub, cb), "expired_state")
    assert exchanges_of(stub, code_of(cb)) == []
    st, conn_at, _, _, _ = row(env, d["id"])
    assert st == "pending_authorization" and conn_at is None


def test_provider_access_denied(api, stub, env):
    d = create(api, "google_drive")
    before = row(env, d["id"])
    b = start(api, d["id"])
    stub.control(deny_next="access_denied")
    cb = consent(b["authorizationUrl"])
    _, p = url_params(cb)
    assert p["error"] == "access_denied" and p["state"] == b["state"], p
    assert "code" not in p
    error(callback(api, stub, cb), "access_denied", d["id"])
    # Nothing stored: same ciphertext, version, status, no test.
    assert row(env, d["id"]) == before
    got = get(api, d["id"])
    assert got["status"] == "pending_authorization" and \
        got["lastTest"] is None, got
    # The state is spent: a code for it later is refused.
    error(callback(api, stub, with_query(cb, error=None, error_description=None,
                                    code="4/0stub-late")), "invalid_state")
    # Another provider error (RFC 6749, the authorization error response) passes through as the
    # provider's own code, with nothing stored; one that is not a short
    # [a-z0-9_] token is invalid_request, and is neither echoed nor audited.
    for perr, want in (("server_error", "server_error"),
                       ("temporarily_unavailable", "temporarily_unavailable"),
                       ("invalid_scope", "invalid_scope"),
                       ("x" * 64, "x" * 64),
                       ("x" * 65, "invalid_request"),
                       ("x y<script>", "invalid_request"),
                       ("Server_Error", "invalid_request"),
                       ("a&reason=access_denied", "invalid_request"),
                       ("\r\nLocation: https://evil.example/", "invalid_request"),
                       ("", "invalid_request")):
        b2 = start(api, d["id"])
        q = "error=%s&error_description=%s&state=%s" % (
            urllib.parse.quote(perr), urllib.parse.quote("x <script> " + MARK),
            urllib.parse.quote(b2["state"]))
        error(callback(api, stub, query=q), want, d["id"])
        assert row(env, d["id"]) == before
    details = [r[0] for r in sql(
        env, "SELECT detail FROM audit_log WHERE destination_id = '%s' AND "
        "action = 'oauth.callback' AND outcome = 'failure' ORDER BY id"
        % d["id"])]
    assert details == ["access_denied", "state_used",
                       "provider_error: server_error",
                       "provider_error: temporarily_unavailable",
                       "provider_error: invalid_scope",
                       "provider_error: " + "x" * 64] + \
        ["provider_error: not a code"] * 6, details
    # And the user can try again.
    connect(api, stub, d["id"])


def test_missing_code_and_failed_exchange(api, stub, env):
    d = create(api, "onedrive")
    before = row(env, d["id"])
    b = start(api, d["id"])
    error(callback(api, stub, query="state=" + urllib.parse.quote(b["state"])),
          "exchange_failed", d["id"])
    b = start(api, d["id"])
    error(callback(api, stub, query="code=&state=" +
                   urllib.parse.quote(b["state"])), "exchange_failed", d["id"])
    # A code the provider never issued: the exchange fails, nothing stored.
    b = start(api, d["id"])
    n = len(stub.state()["token_requests"])
    error(callback(api, stub, query="code=M.R3_stub.forged&state=" +
                   urllib.parse.quote(b["state"])), "exchange_failed",
          d["id"])
    t = stub.state()["token_requests"][n:]
    assert len(t) == 1 and t[0]["result"] == "invalid_grant", t
    assert row(env, d["id"]) == before


def test_open_redirect_attempts(api, stub, env):
    evil = "https://evil.example/steal"
    d = create(api, "google_drive")
    b = start(api, d["id"])
    cb = consent(b["authorizationUrl"])
    extra = {"redirect_uri": evil, "next": evil, "url": evil,
             "return_to": "//evil.example", "redirect": evil,
             "settings_url": evil}
    # Failures with the extras, and a state that is a URL.
    for s in (evil, "%s:google_drive:%s" % (evil, "A" * 43),
              "javascript:alert(1)", "//evil.example/%2F.."):
        q = callback(api, stub, with_query(cb, state=s, **extra))
        error(q, "invalid_state")
    error(callback(api, stub, query=urllib.parse.urlencode(
        dict(extra, error="access_denied"))), "invalid_state")
    # Header injection attempts in the query go nowhere either.
    error(callback(api, stub, query="state=%0d%0aLocation:%20" + evil),
          "invalid_state")
    # A successful flow with the extras still lands on the settings page.
    q = callback(api, stub, with_query(cb, **extra))
    connected(q, d["id"])
    for r in CALLBACKS:
        assert "evil" not in r.headers.get("Location", "")
        assert r.headers["Location"].startswith(stub.settings + "?")


def test_six_concurrent_callbacks(api, stub, env):
    d = create(api, "google_drive")
    b = start(api, d["id"])
    cb = consent(b["authorizationUrl"])
    barrier = threading.Barrier(6)
    out, errs = [], []

    def one():
        try:
            barrier.wait(timeout=10)
            out.append(callback(api, stub, cb))
        except Exception as e:  # surfaced below
            errs.append(e)

    ts = [threading.Thread(target=one) for _ in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=90)
    assert not errs, errs
    assert len(out) == 6
    won = [q for q in out if q.get("oauth") == "connected"]
    assert len(won) == 1, out
    connected(won[0], d["id"])
    assert all(q == {"oauth": "error", "reason": "invalid_state"}
               for q in out if q is not won[0]), out
    assert len(exchanges_of(stub, code_of(cb))) == 1
    n = sql(env, "SELECT outcome, COUNT(*) FROM audit_log WHERE "
            "destination_id = '%s' AND action = 'oauth.callback' GROUP BY "
            "outcome ORDER BY outcome" % d["id"])
    assert n == [["failure", "5"], ["success", "1"]], n


def test_put_during_callback_keeps_both(api, stub, env, tokens_expire_soon):
    """A PUT that lands while the callback exchanges the code (the token
    endpoint is slow) is neither lost nor loses the tokens: the callback
    seals the tokens into the config as it is after the PUT."""
    d = create(api, "google_drive")
    b = start(api, d["id"])
    cb = consent(b["authorizationUrl"])
    stub.control(token_delay=2.0)
    out = []
    t = threading.Thread(target=lambda: out.append(callback(api, stub, cb)))
    t.start()
    time.sleep(0.7)  # the callback is now waiting on the token endpoint
    new_name = uname("renamed")
    r = api.put("%s/%s" % (LIST, d["id"]), json={
        "name": new_name, "destinationType": "google_drive",
        "config": {"folderId": "root"}})
    assert r.status_code == 200, r.text
    t.join(timeout=60)
    stub.control(token_delay=0)
    assert out, "callback did not answer"
    connected(out[0], d["id"])
    g = get(api, d["id"])
    assert g["name"] == new_name, g
    assert g["config"] == {"folderId": "root"}, g
    assert g["status"] == "active", g
    probe_ok(api, d["id"])  # the tokens survived the PUT


# --------------------------------------------------------------- refresh

@pytest.mark.parametrize("dtype", STUB_TYPES)
def test_refresh_keeps_rotated_token(api, stub, env, tokens_expire_soon,
                                     dtype):
    d = create(api, dtype)
    b, _ = connect(api, stub, d["id"])
    g = stub.grant(b["state"])
    assert g["refreshes"] == 0 and len(g["refresh_tokens"]) == 1
    rt0 = g["refresh_tokens"][0]
    # The access token expires in 5 s, within the minute: /test refreshes.
    probe_ok(api, d["id"])
    g = stub.grant(b["state"])
    assert g["refreshes"] == 1 and g["refresh_presented"] == [rt0], g
    rt1 = g["refresh_tokens"][1]
    # The second refresh presents the ROTATED token and succeeds.
    probe_ok(api, d["id"])
    g = stub.grant(b["state"])
    assert g["refreshes"] == 2 and g["refresh_presented"] == [rt0, rt1], g
    assert g["refresh_failures"] == 0
    # The first one is dead at the provider (rotation).
    client = stub.google_client if dtype == "google_drive" else \
        stub.ms_client
    tok_url = os.environ["BACKUPD_GOOGLE_TOKEN_URL"] \
        if dtype == "google_drive" else \
        os.environ["BACKUPD_MICROSOFT_LOGIN_URL"] + \
        "/common/oauth2/v2.0/token"
    r = requests.post(tok_url, timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": rt0,
        "client_id": client[0], "client_secret": client[1]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    got = get(api, d["id"])
    assert got["status"] == "active", got
    rows = sql(env, "SELECT outcome FROM audit_log WHERE destination_id = "
               "'%s' AND action = 'oauth.refresh'" % d["id"])
    assert rows == [["success"], ["success"]], rows


def test_refresh_without_rotation_keeps_token(api, stub, env,
                                             tokens_expire_soon):
    """Google usually answers a refresh without a new refresh token: the
    stored one is kept and used again."""
    stub.control(rotate=False)
    d = create(api, "google_drive")
    b, _ = connect(api, stub, d["id"])
    rt0 = stub.grant(b["state"])["refresh_tokens"][0]
    probe_ok(api, d["id"])
    probe_ok(api, d["id"])
    g = stub.grant(b["state"])
    assert g["refreshes"] == 2 and g["refresh_tokens"] == [rt0], g
    assert g["refresh_presented"] == [rt0, rt0], g


def test_token_endpoint_down_keeps_tokens(api, stub, env, tokens_expire_soon):
    d = create(api, "onedrive")
    b, _ = connect(api, stub, d["id"])
    rt0 = stub.grant(b["state"])["refresh_tokens"][0]
    stub.control(token_error={"status": 503,
                              "error": "temporarily_unavailable"})
    p = probe_fails(api, d["id"], "connect")
    assert "token endpoint" in p["checks"][-1]["detail"], p
    assert get(api, d["id"])["status"] == "error"
    stub.control(token_error=None)
    # The stored refresh token survived the outage.
    probe_ok(api, d["id"])
    g = stub.grant(b["state"])
    assert g["refreshes"] == 1 and g["refresh_presented"] == [rt0], g
    assert get(api, d["id"])["status"] == "active"


def test_client_refused_keeps_tokens(api, stub, env, tokens_expire_soon):
    """invalid_client on refresh (a wrong clientSecret) is not a revoked
    grant: the tokens stay, and fixing the secret makes them work again."""
    d = create(api, "google_drive", clientId=OWN_GOOGLE[0],
               clientSecret=OWN_GOOGLE[1])
    b, _ = connect(api, stub, d["id"])
    rt0 = stub.grant(b["state"])["refresh_tokens"][0]
    put_config(api, d, "google_drive", clientId=OWN_GOOGLE[0],
               clientSecret="not-the-secret")
    p = probe_fails(api, d["id"], "auth")
    assert "client" in p["checks"][-1]["detail"], p
    assert get(api, d["id"])["status"] == "error"
    put_config(api, d, "google_drive", clientId=OWN_GOOGLE[0],
               clientSecret=OWN_GOOGLE[1])
    probe_ok(api, d["id"])
    g = stub.grant(b["state"])
    assert g["refreshes"] == 1 and g["refresh_presented"] == [rt0], g


def test_concurrent_tests_refresh_once(api, stub, env, tokens_expire_soon):
    d = create(api, "onedrive")
    b, _ = connect(api, stub, d["id"])
    # Fresh tokens will live an hour; the token endpoint is slow, so two
    # unlocked refreshes would overlap there.
    stub.control(expires_in=3600, token_delay=1.5)
    codes, errs = [], []
    barrier = threading.Barrier(2)

    def one():
        try:
            barrier.wait(timeout=10)
            r = api.post("%s/%s/test" % (LIST, d["id"]), timeout=60)
            codes.append(r.status_code)
        except Exception as e:
            errs.append(e)

    ts = [threading.Thread(target=one) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=90)
    assert not errs and codes == [200, 200], (codes, errs)
    g = stub.grant(b["state"])
    assert g["refreshes"] == 1, g
    assert g["max_inflight"] == 1, g
    assert g["refresh_failures"] == 0, g


@pytest.mark.parametrize("dtype,client", [("google_drive", REVOKE_GOOGLE),
                                          ("onedrive", REVOKE_MS)])
def test_revocation(api, stub, env, tokens_expire_soon, dtype, client):
    d = create(api, dtype, clientId=client[0], clientSecret=client[1])
    b, _ = connect(api, stub, d["id"])
    stub.control("/revoke", client_id=client[0])
    p = probe_fails(api, d["id"], "auth")
    assert AGAIN in p["checks"][-1]["detail"], p
    assert AGAIN in p["detail"], p
    got = get(api, d["id"])
    assert got["status"] == "pending_authorization", got
    assert got["lastTest"]["ok"] is False
    g = stub.grant(b["state"])
    assert g["refresh_failures"] == 1 and g["refreshes"] == 0, g
    rows = sql(env, "SELECT outcome FROM audit_log WHERE destination_id = "
               "'%s' AND action = 'oauth.refresh'" % d["id"])
    assert rows == [["failure"]], rows
    # No refresh is attempted again; the test says to authorize.
    p = probe_fails(api, d["id"], "auth")
    assert stub.grant(b["state"])["refresh_failures"] == 1
    # Authorizing again recovers.
    stub.control(expires_in=3600)
    connect(api, stub, d["id"])
    assert get(api, d["id"])["status"] == "active"
    probe_ok(api, d["id"])


def test_revoked_access_token_fails_auth(api, stub, env):
    """A live-looking access token the provider revoked: the API's 401
    fails the auth check with a sentence that says to authorize again."""
    d = create(api, "google_drive")
    b, _ = connect(api, stub, d["id"])
    stub.control("/revoke", grant=stub.grant(b["state"])["id"])
    p = probe_fails(api, d["id"], "auth")
    assert AGAIN in p["checks"][-1]["detail"], p
    assert [c["name"] for c in p["checks"]] == ["connect", "auth"], p
    d2 = create(api, "onedrive")
    b2, _ = connect(api, stub, d2["id"])
    stub.control("/revoke", grant=stub.grant(b2["state"])["id"])
    p = probe_fails(api, d2["id"], "auth")
    assert AGAIN in p["checks"][-1]["detail"], p


# -------------------------------------------------------- who may start

def test_roles_and_orgs(make_api, stub, env, org):
    admin = make_api(org=org)
    d = create(admin, "google_drive")
    states = "SELECT COUNT(*) FROM oauth_states WHERE destination_id = '%s'"
    for role in ("viewer", "member"):
        r = make_api(org=org, role=role).post("%s/%s/oauth" % (LIST,
                                                               d["id"]))
        assert_problem(r, 403)
    assert sql(env, states % d["id"]) == [["0"]]
    r = make_api(org=new_org()).post("%s/%s/oauth" % (LIST, d["id"]))
    assert_problem(r, 404)
    r = make_api(org=org).post("%s/%s/oauth" % (LIST, uuid.uuid4()))
    assert_problem(r, 404)
    r = make_api(org=org, tok=None).post("%s/%s/oauth" % (LIST, d["id"]))
    assert_problem(r, 401)
    assert sql(env, states % d["id"]) == [["0"]]
    for role in ("admin", "owner"):
        connect(make_api(org=org, role=role), stub, d["id"])


def test_not_an_oauth_type(api, env):
    loc = api.create_local(env)
    r = api.post("%s/%s/oauth" % (LIST, loc["id"]))
    p = assert_problem(r, 422)
    assert [e["pointer"] for e in p["errors"]] == ["/destinationType"], p
    # An s3 row (its type changed in the database: creating one needs a
    # reachable S3) is refused the same way, before anything is decrypted.
    other = api.create_local(env)
    sql(env, "UPDATE backup_destinations SET destination_type = 's3' "
        "WHERE id = '%s'" % other["id"])
    p = assert_problem(api.post("%s/%s/oauth" % (LIST, other["id"])), 422)
    assert [e["pointer"] for e in p["errors"]] == ["/destinationType"], p
    n = sql(env, "SELECT COUNT(*) FROM oauth_states WHERE destination_id IN "
            "('%s', '%s')" % (loc["id"], other["id"]))
    assert n == [["0"]]


def test_audit_rows(make_api, stub, env, org):
    a = make_api(org=org, sub="alice@example.com")
    d = create(a, "onedrive")
    b, _ = connect(a, stub, d["id"])
    b2 = start(a, d["id"])
    error(callback(a, stub, query="error=access_denied&state=" +
                   urllib.parse.quote(b2["state"])), "access_denied",
          d["id"])
    rows = sql(env, "SELECT action, outcome, actor, org_id, "
               "COALESCE(detail, '') FROM audit_log WHERE destination_id = "
               "'%s' ORDER BY id" % d["id"])
    acts = [(r[0], r[1]) for r in rows]
    assert acts.count(("oauth.start", "success")) == 2, rows
    assert ("oauth.callback", "success") in acts, rows
    assert ("oauth.callback", "failure") in acts, rows
    for r in rows:
        if r[0].startswith("oauth."):
            # The callback has no token: org and actor come from the state.
            assert r[2] == "alice@example.com" and r[3] == org, r
    assert [r[4] for r in rows if r[:2] == ["oauth.callback", "failure"]] \
        == ["access_denied"], rows
    g = stub.grant(b["state"])
    allrows = json.dumps(sql(env, "SELECT * FROM audit_log"))
    for t in g["access_tokens"] + g["refresh_tokens"] + [b["state"]]:
        assert t not in allrows


# ---------------------------------------------------------------- probes

@pytest.fixture(scope="module")
def drive_dest(env, stub, token):
    """One connected Google Drive destination; tests PUT its folder."""
    from conftest import Api
    org = new_org()
    a = Api(env["BACKUPD_URL"], token(org=org))
    d = create(a, "google_drive")
    connect(a, stub, d["id"])
    yield a, d
    a.close()


@pytest.fixture(scope="module")
def onedrive_dest(env, stub, token):
    from conftest import Api
    org = new_org()
    a = Api(env["BACKUPD_URL"], token(org=org))
    d = create(a, "onedrive")
    connect(a, stub, d["id"])
    yield a, d
    a.close()


def put_config(a, d, dtype, **config):
    r = a.put("%s/%s" % (LIST, d["id"]), json={
        "name": d["name"], "destinationType": dtype, "config": config})
    assert r.status_code == 200, r.text
    # The tokens stay (internal), the status is kept, nothing tested.
    assert r.json()["status"] in ("active", "error"), r.json()


@pytest.mark.parametrize("case", ["ok", "missing", "file", "trashed",
                                  "readonly", "nodelete"])
def test_drive_folder(drive_dest, stub, case):
    a, d = drive_dest
    name = "it-%s-%s" % (case, uuid.uuid4().hex[:8])
    if case == "missing":
        fid = "1NoSuchFolder" + uuid.uuid4().hex
    else:
        fid = stub.folder(provider="google", name=name,
                          kind="file" if case == "file" else "folder",
                          trashed=case == "trashed",
                          read_only=case == "readonly",
                          no_delete=case == "nodelete")
    put_config(a, d, "google_drive", folderId=fid)
    if case in ("ok", "nodelete"):
        tr = probe_ok(a, d["id"])
        by = {c["name"]: c.get("detail", "") for c in tr["checks"]}
        assert by["target"] == "folder '%s' exists" % fid, by
        kept = [w for w in tr["warnings"] if "could not be deleted" in w]
        files = [f for f in stub.state()["files"].values()
                 if f["parents"] == [fid]]
        if case == "ok":
            assert not kept and files == [], (tr, files)
            assert "deleted" in by["delete"]
        else:
            assert len(kept) == 1 and "kept" in by["delete"], tr
            assert len(files) == 1 and \
                files[0]["name"].startswith(".backupd-probe-"), files
        return
    check = "write" if case == "readonly" else "target"
    p = probe_fails(a, d["id"], check)
    detail = p["checks"][-1]["detail"]
    want = {"missing": "does not exist", "file": "is a file, not a folder",
            "trashed": "is in the trash",
            "readonly": "may not create files"}[case]
    assert want in detail, detail
    assert a.get("%s/%s" % (LIST, d["id"])).json()["status"] == "error"


@pytest.mark.parametrize("case", ["ok", "nested", "missing", "file",
                                  "readonly", "nodelete", "drive",
                                  "nodrive"])
def test_onedrive_folder(onedrive_dest, stub, case):
    a, d = onedrive_dest
    path = "/Backups/it %s-%s" % (case, uuid.uuid4().hex[:8])
    cfg = {"folderPath": path}
    if case == "nested":
        stub.folder(provider="microsoft", path=path + "/sub dir")
        cfg["folderPath"] = path + "/sub dir/"
        path = path + "/sub dir"
    elif case == "drive":
        stub.folder(provider="microsoft", path=path, drive=OTHER_DRIVE)
        cfg["driveId"] = OTHER_DRIVE
    elif case == "nodrive":
        cfg["driveId"] = "b!NoSuchDrive"
    elif case != "missing":
        stub.folder(provider="microsoft", path=path,
                    kind="file" if case == "file" else "folder",
                    read_only=case == "readonly",
                    no_delete=case == "nodelete")
    put_config(a, d, "onedrive", **cfg)
    n = len(stub.state()["requests"])
    if case in ("ok", "nested", "nodelete", "drive"):
        tr = probe_ok(a, d["id"])
        by = {c["name"]: c.get("detail", "") for c in tr["checks"]}
        assert by["target"] == "folder '%s' exists" % path, by
        seen = stub.requests_since(n)
        drives = {r["path"].split("/")[3] for r in seen
                  if r["path"].startswith("/graph/")}
        assert drives == ({"drives"} if case == "drive" else {"me"}), seen
        dl = [r for r in seen if r["path"].startswith("/download/")]
        assert len(dl) == 1 and not dl[0]["auth_header"], dl
        kept = [w for w in tr["warnings"] if "could not be deleted" in w]
        assert bool(kept) == (case == "nodelete"), tr
        return
    check = "write" if case == "readonly" else "target"
    p = probe_fails(a, d["id"], check)
    detail = p["checks"][-1]["detail"]
    want = {"missing": "does not exist", "file": "is a file, not a folder",
            "readonly": "may not create files",
            "nodrive": "drive 'b!NoSuchDrive' does not exist"}[case]
    assert want in detail, detail


def test_onedrive_download_redirect_policy(onedrive_dest, stub, env):
    """The pre-authenticated URL goes through the egress policy, and only
    Graph's one redirect is followed."""
    a, d = onedrive_dest
    put_config(a, d, "onedrive", folderPath="/")
    lsn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(8)
    lsn.settimeout(0.5)
    port = lsn.getsockname()[1]
    try:
        stub.control(download_base="http://127.0.0.1:%d" % port)
        p = probe_fails(a, d["id"], "read")
        assert "egress policy" in p["checks"][-1]["detail"], p
        with pytest.raises(socket.timeout):
            lsn.accept()
        stub.control(download_base=stub.url + "/bounce")
        p = probe_fails(a, d["id"], "read")
        assert "HTTP 302" in p["checks"][-1]["detail"], p
    finally:
        stub.control(download_base=None)
        lsn.close()
    # The probe objects of the failed reads were cleaned up.
    assert not [i for i in stub.state()["items"].values()
                if i["path"].startswith("/.backupd-probe-")]
    probe_ok(a, d["id"])


# ------------------------------------------------- capacity and account

GiB = 1 << 30
MiB = 1 << 20
GOOGLE_ACCOUNT = "stub.user@example.com"


@pytest.fixture
def facts_reset(stub):
    yield
    stub.control(reset_facts=True)


def cap(total, used, free):
    return {"totalBytes": total, "usedBytes": used, "freeBytes": free}


def space_warnings(tr):
    return [w for w in tr["warnings"] if "free at the destination" in w]


def api_requests(stub, n, prefix):
    return [r for r in stub.requests_since(n) if r["path"].startswith(prefix)]


def test_drive_capacity_and_account(drive_dest, stub, facts_reset):
    """about.get's storageQuota (limit, usage: all services) and
    user.emailAddress, exactly; one about request per test, asking for the
    fields it reads."""
    a, d = drive_dest
    put_config(a, d, "google_drive")
    n = len(stub.state()["requests"])
    tr = probe_ok(a, d["id"])
    assert tr["capacity"] == cap(15 * GiB, 5 * GiB, 10 * GiB), tr
    assert tr["observed"] == {"account": GOOGLE_ACCOUNT}, tr
    assert space_warnings(tr) == [], tr
    seen = api_requests(stub, n, "/google/")
    about = [r for r in seen if r["path"] == "/google/drive/v3/about"]
    assert len(about) == 1 and about[0]["status"] == 200, about
    assert about[0]["query"] == ["fields"] and about[0]["auth"] == "valid"
    # files.get, about.get, upload, download, delete: nothing else.
    assert len(seen) == 5, seen
    got = get(a, d["id"])["lastTest"]
    assert got["capacity"] == tr["capacity"], got
    assert got["observed"] == tr["observed"], got


@pytest.mark.parametrize("case", ["unlimited", "min_free", "ten_percent",
                                  "no_email", "about_fails"])
def test_drive_capacity_cases(drive_dest, stub, facts_reset, case):
    a, d = drive_dest
    put_config(a, d, "google_drive")
    if case == "unlimited":
        # "limit: not present if the user has unlimited storage"
        stub.control(drive_quota={"usage": 5 * GiB, "usageInDrive": GiB})
    elif case == "min_free":
        stub.control(drive_quota={"limit": 15 * GiB,
                                  "usage": 15 * GiB - 512 * MiB})
    elif case == "ten_percent":
        stub.control(drive_quota={"limit": 100 * GiB, "usage": 95 * GiB})
    elif case == "no_email":
        stub.control(google_user={"displayName": "Stub User",
                                  "emailAddress": None})
    else:
        stub.control(about_error={"status": 500, "reason": "backendError"})
    tr = probe_ok(a, d["id"])
    want = {
        "unlimited": (cap(None, 5 * GiB, None), []),
        "min_free": (cap(15 * GiB, 15 * GiB - 512 * MiB, 512 * MiB),
                     ["only 0.50 GiB free at the destination, below the "
                      "server's min_free_bytes (1.00 GiB)"]),
        "ten_percent": (cap(100 * GiB, 95 * GiB, 5 * GiB),
                        ["only 5.00 GiB of 100.00 GiB free at the "
                         "destination (less than 10 %)"]),
        "no_email": (cap(15 * GiB, 5 * GiB, 10 * GiB), []),
        "about_fails": (None, []),
    }[case]
    assert tr["capacity"] == want[0], tr
    assert space_warnings(tr) == want[1], tr
    if case == "about_fails":
        # Nothing reported, nothing failed, no warning about it.
        assert "observed" not in tr, tr
        assert [w for w in tr["warnings"] if "plain http" not in w] == [], tr
    else:
        assert tr["observed"] == {"account": "Stub User" if case ==
                                  "no_email" else GOOGLE_ACCOUNT}, tr
    assert get(a, d["id"])["status"] == "active"


def test_drive_account_on_a_failed_target(drive_dest, stub, facts_reset):
    """A folder the app cannot see: the test fails, and says which account
    it looked in (about.get runs once Drive accepted the token)."""
    a, d = drive_dest
    put_config(a, d, "google_drive", folderId="1NoSuch" + uuid.uuid4().hex)
    p = probe_fails(a, d["id"], "target")
    assert p["lastTest"]["observed"] == {"account": GOOGLE_ACCOUNT}, p
    assert p["lastTest"]["capacity"] == cap(15 * GiB, 5 * GiB, 10 * GiB), p


def test_onedrive_capacity_and_account(onedrive_dest, stub, facts_reset):
    """drive.quota (total, used, remaining) and drive.owner.user, from the
    GET of the drive the auth check makes anyway: no request more."""
    a, d = onedrive_dest
    put_config(a, d, "onedrive", folderPath="/")
    n = len(stub.state()["requests"])
    tr = probe_ok(a, d["id"])
    assert tr["capacity"] == cap(5 * GiB, GiB, 4 * GiB), tr
    # A personal account's identity has no e-mail: the display name.
    assert tr["observed"] == {"account": "Stub User"}, tr
    assert space_warnings(tr) == [], tr
    seen = api_requests(stub, n, "/graph/")
    # drive, folder, upload, content (302), delete: as before issue 9.
    assert [(r["method"], r["path"]) for r in seen][:2] == [
        ("GET", "/graph/v1.0/me/drive"), ("GET", "/graph/v1.0/me/drive/root")]
    assert len(seen) == 5, seen


@pytest.mark.parametrize("case", ["email", "min_free", "ten_percent",
                                  "no_quota", "drive"])
def test_onedrive_capacity_cases(onedrive_dest, stub, facts_reset, case):
    a, d = onedrive_dest
    cfg = {"folderPath": "/"}
    if case == "email":
        # OneDrive for Business sends the owner's e-mail.
        stub.control(graph_owner={"user": {
            "displayName": "Ryan Gregg", "id": "efee1b77",
            "email": "ryan@example.com"}})
    elif case == "min_free":
        stub.control(graph_quota={"total": 5 * GiB,
                                  "used": 5 * GiB - 256 * MiB})
    elif case == "ten_percent":
        stub.control(graph_quota={"total": 100 * GiB, "used": 95 * GiB,
                                  "deleted": GiB})
    elif case == "no_quota":
        stub.control(graph_quota=None)
    else:
        stub.folder(provider="microsoft", path="/caps", drive=OTHER_DRIVE)
        cfg = {"folderPath": "/caps", "driveId": OTHER_DRIVE}
    put_config(a, d, "onedrive", **cfg)
    tr = probe_ok(a, d["id"])
    want = {
        "email": (cap(5 * GiB, GiB, 4 * GiB), []),
        "min_free": (cap(5 * GiB, 5 * GiB - 256 * MiB, 256 * MiB),
                     ["only 0.25 GiB free at the destination, below the "
                      "server's min_free_bytes (1.00 GiB)"]),
        "ten_percent": (cap(100 * GiB, 95 * GiB, 5 * GiB),
                        ["only 5.00 GiB of 100.00 GiB free at the "
                         "destination (less than 10 %)"]),
        "no_quota": (None, []),
        "drive": (cap(5 * GiB, GiB, 4 * GiB), []),
    }[case]
    assert tr["capacity"] == want[0], tr
    assert space_warnings(tr) == want[1], tr
    assert tr["observed"] == {"account": "ryan@example.com" if case ==
                              "email" else "Stub User"}, tr


def test_never_authorized(drive_dest, stub, env):
    """Pending destinations say to authorize; a never-authorized one does
    not reach the provider at all."""
    a, _ = drive_dest
    d = create(a, "onedrive")
    n = len(stub.state()["requests"])
    p = probe_fails(a, d["id"], "auth")
    assert "not authorized yet" in p["checks"][-1]["detail"], p
    assert stub.requests_since(n) == [] or all(
        r["path"] == "/_control/state" for r in stub.requests_since(n))


# ------------------------------------------------------------------ leaks

# ------------------------------------- browser binding (issue 13, item 7)

COOKIE = "backupd_oauth"
COOKIE_PATH = "/backup-destinations/oauth/callback"


def _set_cookie(r):
    """The backupd_oauth Set-Cookie of a start answer: (value, attrs) with
    attribute names lower-cased."""
    raw = r.headers.get("Set-Cookie", "")
    parts = [x.strip() for x in raw.split(";")]
    name, _, value = parts[0].partition("=")
    assert name == COOKIE, raw
    attrs = {}
    for a in parts[1:]:
        k, _, v = a.partition("=")
        attrs[k.strip().lower()] = v.strip()
    return value, attrs


def _state_row(env, state):
    nonce = state.rsplit(":", 1)[1]
    h = hashlib.sha256(nonce.encode()).hexdigest()
    r = sql(env, "SELECT HEX(browser_sha256), used_at IS NULL FROM "
            "oauth_states WHERE nonce_sha256 = UNHEX('%s')" % h)
    assert len(r) == 1, r
    return r[0]


def test_start_sets_the_binding_cookie(api, stub, env):
    d = create(api, "google_drive")
    r = api.post("%s/%s/oauth" % (LIST, d["id"]))
    assert r.status_code == 200, r.text
    value, attrs = _set_cookie(r)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value), value
    assert attrs.get("path") == COOKIE_PATH, attrs
    assert attrs.get("max-age") == "600", attrs
    assert "httponly" in attrs and attrs.get("samesite") == "Lax", attrs
    assert "secure" not in attrs, attrs  # the stack is plain http
    assert value not in r.text
    # only the hash is stored, with the state
    stored, unused = _state_row(env, r.json()["state"])
    assert stored == hashlib.sha256(value.encode()).hexdigest().upper()
    assert unused == "1"
    # a second start: a new value
    r2 = api.post("%s/%s/oauth" % (LIST, d["id"]))
    assert _set_cookie(r2)[0] != value


def _backupd_socket(env):
    for line in Path(env["BACKUPD_CONFIG"]).read_text().splitlines():
        k, _, v = line.partition("=")
        if k.strip() == "listen" and v.strip().startswith("unix:"):
            return v.strip()[5:]
    pytest.skip("the stack's backupd does not listen on a unix socket")


def test_start_over_https_sets_a_secure_cookie(api, stub, env):
    """Secure when the request came over https: the FastCGI variable HTTPS
    (nginx's fastcgi_params sets it from $https), sent here straight to
    backupd's socket."""
    from fcgi_client import fcgi_call
    d = create(api, "google_drive")
    sock = _backupd_socket(env)
    for https, secure in (("on", True), (None, False), ("", False),
                          ("off", False)):
        r = fcgi_call(sock, "POST", "%s/%s/oauth" % (LIST, d["id"]),
                      token=api.tok,
                      extra={"HTTPS": https} if https is not None else None)
        assert r.status == 200, r
        sc = r.headers.get("set-cookie", "")
        assert sc.startswith(COOKIE + "="), sc
        assert ("; Secure" in sc) == secure, (https, sc)


def test_callback_without_the_cookie_is_browser_mismatch(api, stub, env):
    """A forwarded authorization link finished in another browser (no
    cookie): refused, nothing consumed or exchanged; the right browser can
    still finish it."""
    d = create(api, "google_drive")
    before = row(env, d["id"])
    b = start(api, d["id"])
    cb = consent(b["authorizationUrl"])
    error(callback(None, stub, cb), "browser_mismatch")
    assert exchanges_of(stub, code_of(cb)) == []
    assert row(env, d["id"]) == before
    assert _state_row(env, b["state"])[1] == "1", "the state was consumed"
    rows = sql(env, "SELECT outcome, detail FROM audit_log WHERE "
               "destination_id = '%s' AND action = 'oauth.callback' "
               "ORDER BY id" % d["id"])
    assert rows == [["failure", "browser_mismatch"]], rows
    connected(callback(api, stub, cb), d["id"])
    assert len(exchanges_of(stub, code_of(cb))) == 1


def test_callback_with_a_wrong_cookie_then_the_right_one(api, stub, env):
    d = create(api, "google_drive")
    b = start(api, d["id"])
    cb = consent(b["authorizationUrl"])
    # another browser of the same user, holding its own (valid) binding
    other = Api(env["BACKUPD_URL"], api.tok)
    d2 = create(api, "onedrive")
    start(other, d2["id"])
    error(callback(other, stub, cb), "browser_mismatch")
    # forged values: right shape, wrong value; junk; several cookies
    forged = Api(env["BACKUPD_URL"], None)
    for v in ("A" * 43, "x", "", '"%s"' % ("B" * 43)):
        forged.s.cookies.set(COOKIE, v, path=COOKIE_PATH)
        error(callback(forged, stub, cb), "browser_mismatch")
    assert exchanges_of(stub, code_of(cb)) == []
    assert _state_row(env, b["state"])[1] == "1"
    # the right browser, after all that
    connected(callback(api, stub, cb), d["id"])
    other.close()
    forged.close()


def _set_bind_browser(env, value):
    """Write oauth_bind_browser into the stack's config and reload it
    (SIGHUP); None removes the line. Returns when the workers are new."""
    conf = Path(env["BACKUPD_CONFIG"])
    lines = [x for x in conf.read_text().splitlines()
             if x.split("=", 1)[0].strip() != "oauth_bind_browser"]
    if value is not None:
        lines.append("oauth_bind_browser = %s" % value)
    conf.write_text("\n".join(lines) + "\n")
    log = Path(env["BACKUPD_LOG"])
    n = log.read_text().count("configuration reloaded")
    stack = env.get("BACKUPD_STACK_DIR") or os.environ["BACKUPD_STACK_DIR"]
    pid = int((Path(stack) / "run" / "backupd.pid").read_text().split()[0])
    os.kill(pid, signal.SIGHUP)
    end = time.monotonic() + 15
    while log.read_text().count("configuration reloaded") == n:
        assert time.monotonic() < end, "backupd did not reload"
        time.sleep(0.1)
    time.sleep(0.5)  # the old workers finish and leave


def test_bind_browser_off_accepts_a_callback_without_cookie(api, stub, env):
    """oauth_bind_browser = off: the weaker flow of a cross-site settings
    page, where the state alone binds the callback."""
    _set_bind_browser(env, "off")
    try:
        d = create(api, "onedrive")
        b = start(api, d["id"])
        cb = consent(b["authorizationUrl"])
        connected(callback(None, stub, cb), d["id"])
    finally:
        _set_bind_browser(env, None)
    # and on again: a callback without the cookie is refused
    d = create(api, "onedrive")
    b = start(api, d["id"])
    error(callback(None, stub, consent(b["authorizationUrl"])),
          "browser_mismatch")


def test_zz_no_token_leaks(env, stub):
    """Every access and refresh token the stub ever issued, and the
    destinations' own client secrets, are absent from the database dump,
    every response of the suite and the service's logs."""
    s = stub.state()
    toks = s["access_tokens"] + s["refresh_tokens"]
    assert len(toks) > 20, len(toks)
    secrets_ = [t.encode() for t in toks] + [
        OWN_GOOGLE[1].encode(), OWN_MS[1].encode(), REVOKE_GOOGLE[1].encode(),
        REVOKE_MS[1].encode()]
    dump = mariadb_dump(env)
    answers = list(SEEN_BODIES) + [
        r.content + json.dumps(dict(r.headers)).encode() for r in CALLBACKS]
    logs = b""
    stack = env.get("BACKUPD_STACK_DIR") or os.environ["BACKUPD_STACK_DIR"]
    for f in sorted((Path(stack) / "log").glob("*")):
        if f.is_file():
            logs += f.read_bytes()
    assert logs, "no log files found"
    for sec in secrets_:
        assert sec not in dump, sec[:12]
        assert sec not in logs, sec[:12]
        for a in answers:
            assert sec not in a, sec[:12]
    # Nor a PKCE verifier: the stub saw them only in token requests, and
    # the states' verifiers are encrypted in the database.
    assert b"code_verifier" not in logs
    # The accounts are personal data: in test results, never in a log.
    for acct in (GOOGLE_ACCOUNT, "ryan@example.com"):
        assert acct.encode() not in logs, acct
    # Nor, in any log, an authorization code or a state nonce (they travel
    # in the callback's query string), the server-wide client secrets or
    # the JWT key.
    codes = [a["code"] for a in s["authorize"] if a.get("code")]
    states = [a["params"]["state"] for a in s["authorize"]
              if isinstance(a.get("params", {}).get("state"), str)]
    assert len(codes) > 5 and len(states) > 5, (len(codes), len(states))
    server_wide = [os.environ["BACKUPD_GOOGLE_CLIENT_SECRET"],
                   os.environ["BACKUPD_MICROSOFT_CLIENT_SECRET"],
                   env["BACKUPD_JWT_KEY"]]
    for sec in codes + states + server_wide:
        assert sec.encode() not in logs, sec[:8]
    # The tokens go to the suite-wide scan too (every file of the stack).
    register_secrets("google_drive", *toks, OWN_GOOGLE[1], REVOKE_GOOGLE[1])
    register_secrets("onedrive", OWN_MS[1], REVOKE_MS[1])
