"""The dropbox type (issue 10): its OAuth flow (authorization code + PKCE
S256 + token_access_type=offline), token refresh with rotation, revocation,
and the probe (users/get_current_account, files/get_metadata,
users/get_space_usage, files/upload and files/download on the content
host, files/delete_v2) with what it reports beyond its checks (issue 9:
capacity from get_space_usage, observed.account from
get_current_account, no request more), against a stub of Dropbox's documented HTTP API
(tests/peers/dropbox/dropbox_stub.py; Dropbox cannot be reached from here).

The browser's part is played here as in test_oauth.py: POST /{id}/oauth
gives the authorizationUrl, a GET of it at the stub answers 302 to
redirect_uri?code=...&state=..., the test GETs that callback through nginx.

The Dropbox URLs are server-wide, so scripts/integration.sh exports them
(stub on http://127.0.0.2:18997) before `stack.sh up`; runs of this file
take /tmp/bd-integration.lock like the other fixed-port stubs.
"""

import json
import os
import re
import urllib.parse
import uuid
from pathlib import Path

import pytest
import requests

from conftest import (PLACEHOLDER, SEEN_BODIES, assert_problem,
                      assert_test_result, mariadb_dump, sql, uname)
from probe_helpers import PEERS, stub_process

STUB = PEERS / "dropbox" / "dropbox_stub.py"
LIST = "/backup-destinations"
CHECKS = ["connect", "auth", "target", "write", "read", "delete"]
MARK = "(dropbox-stub)"
SCOPES = {"account_info.read", "files.metadata.read", "files.content.read",
          "files.content.write"}
AGAIN = "authorize again"
OWN = ("own-dropbox-app-key", "own-dropbox-app-secret-3c9f")
REVOKE = ("revoke-dropbox-app", "revoke-dropbox-secret-77e1")
CALLBACKS = []
GiB = 1024 ** 3
MiB = 1024 ** 2
ACCOUNT = "stub@example.com"
API_PATHS = ["/api/2/users/get_current_account",
             "/api/2/users/get_space_usage", "/content/2/files/upload",
             "/content/2/files/download", "/api/2/files/delete_v2"]


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
        self.client = (os.environ["BACKUPD_DROPBOX_CLIENT_ID"],
                       os.environ["BACKUPD_DROPBOX_CLIENT_SECRET"])

    def state(self):
        r = requests.get(self.url + "/_control/state", timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def control(self, where="", /, **kw):
        r = requests.post(self.url + "/_control" + where, json=kw,
                          timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def grant(self, state):
        gs = [g for g in self.state()["grants"].values()
              if g["state"] == state]
        assert len(gs) == 1, gs
        return gs[0]

    def requests_since(self, n):
        return self.state()["requests"][n:]


@pytest.fixture(scope="module")
def stub(env):
    need = ("BACKUPD_DROPBOX_AUTH_URL", "BACKUPD_DROPBOX_API_URL",
            "BACKUPD_DROPBOX_CONTENT_URL", "BACKUPD_DROPBOX_CLIENT_ID",
            "BACKUPD_DROPBOX_CLIENT_SECRET")
    missing = [k for k in need if not os.environ.get(k)]
    if missing:
        pytest.fail("%s not set: scripts/integration.sh exports the Dropbox "
                    "stub URLs before `stack.sh up`" % missing)
    u = urllib.parse.urlsplit(os.environ["BACKUPD_DROPBOX_AUTH_URL"])
    url = "%s://%s" % (u.scheme, u.netloc)
    conf = read_conf(env["BACKUPD_CONFIG"])
    stack = env.get("BACKUPD_STACK_DIR") or os.environ["BACKUPD_STACK_DIR"]
    state = Path(stack) / "peers" / "dropbox"
    state.mkdir(parents=True, exist_ok=True)
    ready = state / "ready"
    if ready.exists():
        ready.unlink()
    cfg = {"host": u.hostname, "port": u.port, "ready_file": str(ready),
           "redirect_uris": [conf["oauth_redirect_uri"]],
           "clients": dict([(os.environ["BACKUPD_DROPBOX_CLIENT_ID"],
                             os.environ["BACKUPD_DROPBOX_CLIENT_SECRET"]),
                            OWN, REVOKE])}
    (state / "config.json").write_text(json.dumps(cfg))
    with stub_process(["/usr/bin/python3", str(STUB), "--config",
                       str(state / "config.json")], state, ready,
                      "dropbox stub"):
        yield Stub(url, conf["settings_url"], conf["oauth_redirect_uri"])


@pytest.fixture
def settings_reset(stub):
    yield
    stub.control(expires_in=14400, rotate=True, token_error=None,
                 quota=2 * 1024 ** 3, used=123 * 1024 ** 2, allocation=None,
                 account=None, space_error=None, account_error=None)


# ---------------------------------------------------------------- helpers

def create(api, **config):
    r = api.create({"name": uname("dbx"), "destinationType": "dropbox",
                    "config": config})
    d = r.json()
    assert d["status"] == "pending_authorization", d
    assert d["lastTest"] is None, d
    return d


def get(api, dest_id):
    r = api.get("%s/%s" % (LIST, dest_id))
    assert r.status_code == 200, r.text
    return r.json()


def start(api, dest_id):
    r = api.post("%s/%s/oauth" % (LIST, dest_id))
    assert r.status_code == 200, (r.status_code, r.text)
    b = r.json()
    assert set(b) == {"authorizationUrl", "state", "expiresAt"}, b
    return b


def consent(url):
    r = requests.get(url, allow_redirects=False, timeout=10)
    assert r.status_code == 302, (r.status_code, r.text)
    return r.headers["Location"]


def callback(stub, url, browser=None):
    """GET the callback from `browser`, the Api whose session started the
    flow and so holds its backupd_oauth cookie (None: a cookieless one)."""
    get_ = browser.s.get if browser is not None else requests.get
    r = get_(url, allow_redirects=False, timeout=60)
    CALLBACKS.append(r)
    assert r.status_code == 302, (r.status_code, r.text)
    loc = r.headers.get("Location", "")
    assert loc.startswith(stub.settings + "?"), loc
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)
    return {k: v[0] for k, v in q.items()}


def connect(api, stub, dest_id):
    b = start(api, dest_id)
    q = callback(stub, consent(b["authorizationUrl"]), api)
    assert q == {"destinationId": dest_id, "oauth": "connected"}, q
    return b


def probe_ok(api, dest_id):
    r = api.post("%s/%s/test" % (LIST, dest_id))
    assert r.status_code == 200, (r.status_code, r.text)
    tr = r.json()
    assert assert_test_result(tr, ok=True) == CHECKS, tr
    assert_clean(tr)
    return tr


def probe_fails(api, dest_id, check):
    r = api.post("%s/%s/test" % (LIST, dest_id))
    p = assert_problem(r, 422)
    assert p.get("failedCheck") == check, p
    assert_test_result(p["lastTest"], ok=False)
    assert p["checks"][-1]["name"] == check and not p["checks"][-1]["ok"], p
    assert all(c["ok"] for c in p["checks"][:-1]), p
    assert_clean(p["lastTest"])
    return p


def assert_clean(tr):
    """Our sentences: no stub text, no JSON, no token."""
    for c in tr["checks"]:
        d = c.get("detail", "")
        assert MARK not in d and "{\"" not in d and "sl.stub" not in d and \
            "error_summary" not in d, c
    for w in tr.get("warnings", []):
        assert MARK not in w and "{\"" not in w, w


def detail(tr, check):
    return next(c.get("detail", "") for c in tr["checks"]
                if c["name"] == check)


def put_config(api, d, **config):
    r = api.put("%s/%s" % (LIST, d["id"]), json={
        "name": d["name"], "destinationType": "dropbox", "config": config})
    assert r.status_code == 200, r.text
    return r.json()


def probe_files(stub, folder="/"):
    """Probe files left in folder (not below it)."""
    return [k for k in stub.state()["files"]
            if k.rsplit("/", 1)[0] + "/" == folder.rstrip("/").lower() + "/"
            and k.rsplit("/", 1)[-1].startswith(".backupd-probe-")]


# ------------------------------------------------------------------ tests

def test_authorization_url(api, stub):
    d = create(api)
    b = start(api, d["id"])
    u = urllib.parse.urlsplit(b["authorizationUrl"])
    au = urllib.parse.urlsplit(os.environ["BACKUPD_DROPBOX_AUTH_URL"])
    assert (u.scheme, u.netloc, u.path) == (au.scheme, au.netloc, au.path)
    q = urllib.parse.parse_qs(u.query)
    assert all(len(v) == 1 for v in q.values()), q
    p = {k: v[0] for k, v in q.items()}
    assert p["client_id"] == stub.client[0]
    assert p["redirect_uri"] == stub.redirect
    assert p["response_type"] == "code"
    assert p["token_access_type"] == "offline"
    assert p["code_challenge_method"] == "S256"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", p["code_challenge"])
    assert p["state"] == b["state"]
    assert set(p["scope"].split()) == SCOPES, p
    assert "client_secret" not in p


def test_lifecycle(api, stub, env):
    """create -> pending -> OAuth -> active with a passing test -> GET
    redacted -> PUT with placeholders keeps everything -> test -> delete."""
    d = create(api, folderPath="/", clientId=OWN[0], clientSecret=OWN[1])
    assert d["config"]["clientSecret"] == PLACEHOLDER, d
    n = len(stub.state()["requests"])
    b = connect(api, stub, d["id"])
    got = get(api, d["id"])
    assert got["status"] == "active", got
    assert set(got["config"]) == {"folderPath", "clientId", "clientSecret"}
    assert got["config"]["clientSecret"] == PLACEHOLDER
    tr = got["lastTest"]
    assert assert_test_result(tr, ok=True) == CHECKS, tr
    assert re.fullmatch(r"folder '/' exists \(\d+ of 2048 MiB free\)",
                        detail(tr, "target")), tr
    assert any("plain http" in w for w in tr["warnings"]), tr
    # The token exchange used the destination's own app and PKCE.
    ex = [t for t in stub.state()["token_requests"]
          if t["grant_type"] == "authorization_code" and
          t["grant"] == stub.grant(b["state"])["id"]]
    assert len(ex) == 1 and ex[0]["client_id"] == OWN[0] and \
        ex[0]["pkce"] == "ok", ex
    # The probe used each endpoint on its host, with a valid token.
    seen = [r for r in stub.requests_since(n)
            if r["path"].startswith(("/api/2/", "/content/2/"))]
    paths = [r["path"] for r in seen]
    for want in ("/api/2/users/get_current_account",
                 "/api/2/users/get_space_usage",
                 "/content/2/files/upload", "/content/2/files/download",
                 "/api/2/files/delete_v2"):
        assert want in paths, paths
    assert all(r["auth"] == "valid" and r["status"] == 200 for r in seen), \
        seen
    up = next(r for r in seen if r["path"] == "/content/2/files/upload")
    arg = json.loads(up["arg_header"])
    assert arg["mode"] == "add" and arg["autorename"] is False, arg
    assert arg["path"].startswith("/.backupd-probe-"), arg
    assert probe_files(stub) == []
    # PUT with the placeholder: the secret and the tokens stay.
    u = put_config(api, d, folderPath="/", clientId=OWN[0],
                   clientSecret=PLACEHOLDER)
    assert u["status"] == "active", u
    probe_ok(api, d["id"])
    # Tokens are encrypted at rest and never answered.
    g = stub.grant(b["state"])
    dump = mariadb_dump(env)
    for t in g["access_tokens"] + g["refresh_tokens"]:
        assert t.encode() not in dump
    r = api.delete("%s/%s" % (LIST, d["id"]))
    assert r.status_code == 200, r.text
    assert api.get("%s/%s" % (LIST, d["id"])).status_code == 404


@pytest.mark.parametrize("case", ["ok", "nested", "unicode", "missing",
                                  "file", "readonly", "nodelete", "full",
                                  "dots"])
def test_folder(api, stub, settings_reset, case):
    tag = uuid.uuid4().hex[:8]
    folder = {"unicode": "/B\u00e4ckups \u2603 \U0001F600 %s" % tag,
              "nested": "/Backups/%s/nightly/" % tag,
              "dots": "/a/../b"}.get(case, "/it-%s-%s" % (case, tag))
    if case in ("ok", "nested", "unicode", "file", "readonly", "nodelete"):
        stub.control("/folder", path=folder.rstrip("/"),
                     kind="file" if case == "file" else "folder",
                     read_only=case == "readonly",
                     no_delete=case == "nodelete")
    if case == "full":
        stub.control("/folder", path=folder)
        stub.control(used=2 * 1024 ** 3)
    d = create(api, folderPath=folder)
    connect(api, stub, d["id"])
    shown = folder.rstrip("/")
    if case in ("ok", "nested", "unicode"):
        tr = probe_ok(api, d["id"])
        assert detail(tr, "target").startswith(
            "folder '%s' exists (" % shown), tr
    elif case == "nodelete":
        tr = probe_ok(api, d["id"])
        assert detail(tr, "delete") == "the probe object was kept: " \
            "deleting it failed", tr
        assert any("remove it by hand" in w for w in tr["warnings"]), tr
    elif case == "missing":
        p = probe_fails(api, d["id"], "target")
        assert detail(p, "target") == "folder '%s' does not exist" % shown
    elif case == "file":
        p = probe_fails(api, d["id"], "target")
        assert detail(p, "target") == "'%s' is a file, not a folder" % shown
    elif case == "readonly":
        p = probe_fails(api, d["id"], "write")
        assert detail(p, "write") == \
            "the account may not write to folder '%s'" % shown
    elif case == "full":
        p = probe_fails(api, d["id"], "write")
        assert detail(p, "write") == "the Dropbox account is out of space"
        assert "(0 of 2048 MiB free)" in detail(p, "target"), p
    elif case == "dots":
        p = probe_fails(api, d["id"], "target")
        assert "'..'" in detail(p, "target"), p
    if case != "nodelete":
        assert probe_files(stub, folder) == []


# ------------------------------------------------- capacity and account


def api_paths(stub, n):
    return [r["path"] for r in stub.requests_since(n)
            if r["path"].startswith(("/api/2/", "/content/2/"))]


def cap(total, used, free):
    return {"totalBytes": total, "usedBytes": used, "freeBytes": free}


def space_warnings(tr):
    return [w for w in tr["warnings"] if "free at the destination" in w]


def test_capacity_and_account(api, stub, settings_reset):
    """capacity is get_space_usage's numbers exactly, observed.account the
    e-mail of get_current_account; both come from requests the probe made
    anyway: one of each endpoint, nothing more."""
    stub.control(quota=2 * GiB, used=123 * MiB)
    d = create(api)
    connect(api, stub, d["id"])
    n = len(stub.state()["requests"])
    tr = probe_ok(api, d["id"])
    assert tr["capacity"] == cap(2 * GiB, 123 * MiB, 2 * GiB - 123 * MiB), tr
    assert tr["observed"] == {"account": ACCOUNT}, tr
    assert space_warnings(tr) == [], tr
    assert api_paths(stub, n) == API_PATHS
    # Stored with the test.
    got = get(api, d["id"])["lastTest"]
    assert got["capacity"] == tr["capacity"], got
    assert got["observed"] == tr["observed"], got
    # No e-mail: the display name.
    stub.control(account={"email": ""})
    tr = probe_ok(api, d["id"])
    assert tr["observed"] == {"account": "Stub User"}, tr


@pytest.mark.parametrize("quota,used,warning", [
    (10 * GiB, 10 * GiB - 512 * MiB,
     "only 0.50 GiB free at the destination, below the server's "
     "min_free_bytes (1.00 GiB)"),
    (100 * GiB, 95 * GiB,
     "only 5.00 GiB of 100.00 GiB free at the destination (less than 10 %)"),
    (2 * GiB, 3 * GiB, None),
])
def test_nearly_full_warns(api, stub, settings_reset, quota, used, warning):
    """A nearly full account passes with a warning; one over its quota
    reports 0 free and fails the write."""
    stub.control(quota=quota, used=used)
    d = create(api)
    connect(api, stub, d["id"])
    if warning is None:
        p = probe_fails(api, d["id"], "write")
        tr = p["lastTest"]
        assert tr["capacity"] == cap(quota, used, 0), tr
        assert len(space_warnings(tr)) == 1, tr
        return
    tr = probe_ok(api, d["id"])
    assert tr["capacity"] == cap(quota, used, quota - used), tr
    assert space_warnings(tr) == [warning], tr
    assert get(api, d["id"])["status"] == "active"


@pytest.mark.parametrize("allocation,want", [
    # The team's pool, no limit of the member's own.
    ({".tag": "team", "used": 27 * GiB, "allocated": 100 * GiB,
      "user_within_team_space_allocated": 0,
      "user_within_team_space_limit_type": {".tag": "off"},
      "user_within_team_space_used_cached": 123 * MiB},
     cap(100 * GiB, 27 * GiB, 73 * GiB)),
    # A member limit that stops uploads: the member's numbers.
    ({".tag": "team", "used": 27 * GiB, "allocated": 100 * GiB,
      "user_within_team_space_allocated": 10 * GiB,
      "user_within_team_space_limit_type": {".tag": "stop_sync"},
      "user_within_team_space_used_cached": 123 * MiB},
     cap(10 * GiB, 123 * MiB, 10 * GiB - 123 * MiB)),
])
def test_team_allocation(api, stub, settings_reset, allocation, want):
    stub.control(used=123 * MiB, allocation=allocation)
    d = create(api)
    connect(api, stub, d["id"])
    tr = probe_ok(api, d["id"])
    assert tr["capacity"] == want, tr
    assert space_warnings(tr) == [], tr


def test_space_usage_failure_is_no_capacity(api, stub, settings_reset):
    """get_space_usage failing leaves capacity null and the test
    passing, without a warning; the account is still there."""
    stub.control(space_error=500)
    d = create(api)
    connect(api, stub, d["id"])
    tr = probe_ok(api, d["id"])
    assert tr["capacity"] is None, tr
    assert tr["observed"] == {"account": ACCOUNT}, tr
    assert tr["warnings"] == [w for w in tr["warnings"]
                              if "plain http" in w], tr
    assert detail(tr, "target") == "folder '/' exists", tr


def test_missing_account_scope(api, stub, settings_reset):
    """A grant without account_info.read (the app lacked the permission
    when the user authorized): Dropbox answers get_current_account with
    401 missing_scope. The token is good, so the test passes, without
    account or capacity (get_space_usage, which needs the same scope, is
    not asked) and with a warning that says how to get them."""
    d = create(api)
    b = connect(api, stub, d["id"])
    g = stub.grant(b["state"])
    stub.control("/scope", grant=g["id"], scope="files.metadata.read "
                 "files.content.read files.content.write")
    n = len(stub.state()["requests"])
    tr = probe_ok(api, d["id"])
    assert tr["capacity"] is None and "observed" not in tr, tr
    assert detail(tr, "auth") == "Dropbox accepted the access token", tr
    w = [w for w in tr["warnings"] if "account_info.read" in w]
    assert w == ["the authorization lacks the account_info.read "
                 "permission, so the account and its space are not "
                 "reported: add it to the app's permissions and authorize "
                 "again"], tr
    seen = [r for r in stub.requests_since(n)
            if r["path"].startswith(("/api/2/", "/content/2/"))]
    assert [r["path"] for r in seen] == [p for p in API_PATHS
                                         if "space_usage" not in p], seen
    assert seen[0]["status"] == 401, seen
    assert get(api, d["id"])["status"] == "active"


def test_access_error_fails_auth(api, stub, settings_reset):
    """403 AccessError from get_current_account (not a scope: that is
    401 missing_scope) fails auth naming Dropbox's code only."""
    d = create(api)
    connect(api, stub, d["id"])
    stub.control(account_error="invalid_account_type")
    p = probe_fails(api, d["id"], "auth")
    assert detail(p, "auth") == "Dropbox does not let this account use the " \
        "API (invalid_account_type/endpoint)", p
    assert "observed" not in p["lastTest"], p


def test_refresh_rotates(api, stub, env, settings_reset):
    stub.control(expires_in=5)
    d = create(api)
    b = connect(api, stub, d["id"])
    g = stub.grant(b["state"])
    rt0 = g["refresh_tokens"][0]
    # The access token expires within the service's margin: /test
    # refreshes, the rotated refresh token is stored and used next time.
    probe_ok(api, d["id"])
    g = stub.grant(b["state"])
    assert g["refreshes"] == 1 and g["refresh_presented"] == [rt0], g
    rt1 = g["refresh_tokens"][1]
    probe_ok(api, d["id"])
    g = stub.grant(b["state"])
    assert g["refreshes"] == 2 and g["refresh_presented"] == [rt0, rt1], g
    assert g["refresh_failures"] == 0
    r = requests.post(os.environ["BACKUPD_DROPBOX_API_URL"] +
                      "/oauth2/token", timeout=10, data={
                          "grant_type": "refresh_token",
                          "refresh_token": rt0,
                          "client_id": stub.client[0],
                          "client_secret": stub.client[1]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert get(api, d["id"])["status"] == "active"
    rows = sql(env, "SELECT outcome FROM audit_log WHERE destination_id = "
               "'%s' AND action = 'oauth.refresh'" % d["id"])
    assert rows == [["success"], ["success"]], rows


def test_refresh_without_rotation(api, stub, settings_reset):
    """Dropbox's own behaviour: the refresh answer has no refresh token;
    the stored one is kept."""
    stub.control(expires_in=5, rotate=False)
    d = create(api)
    b = connect(api, stub, d["id"])
    rt0 = stub.grant(b["state"])["refresh_tokens"][0]
    probe_ok(api, d["id"])
    probe_ok(api, d["id"])
    g = stub.grant(b["state"])
    assert g["refreshes"] == 2 and g["refresh_presented"] == [rt0, rt0], g


def test_revoked_grant_back_to_pending(api, stub, env, settings_reset):
    stub.control(expires_in=5)
    d = create(api, clientId=REVOKE[0], clientSecret=REVOKE[1])
    b = connect(api, stub, d["id"])
    stub.control("/revoke", client_id=REVOKE[0])
    p = probe_fails(api, d["id"], "auth")
    assert AGAIN in p["checks"][-1]["detail"], p
    got = get(api, d["id"])
    assert got["status"] == "pending_authorization", got
    assert stub.grant(b["state"])["refresh_failures"] == 1
    # Authorizing again recovers.
    stub.control(expires_in=14400)
    connect(api, stub, d["id"])
    assert get(api, d["id"])["status"] == "active"
    probe_ok(api, d["id"])


def test_expired_access_token_is_explained(api, stub):
    """Dropbox's 401 expired_access_token (a token the service believed
    valid) fails auth with a sentence saying so."""
    d = create(api)
    b = connect(api, stub, d["id"])
    stub.control("/expire", grant=stub.grant(b["state"])["id"])
    p = probe_fails(api, d["id"], "auth")
    assert [c["name"] for c in p["checks"]] == ["connect", "auth"], p
    assert "has expired" in detail(p, "auth") and AGAIN in detail(p, "auth")


def test_never_authorized(api, stub):
    d = create(api)
    n = len(stub.state()["requests"])
    p = probe_fails(api, d["id"], "auth")
    assert "not authorized yet" in p["checks"][-1]["detail"], p
    assert all(r["path"] == "/_control/state"
               for r in stub.requests_since(n))


@pytest.mark.parametrize("config,pointer", [
    ({"folderPath": "Backups"}, "/config/folderPath"),
    ({"accessToken": "sl.x"}, "/config/accessToken"),
    ({"refreshToken": "x"}, "/config/refreshToken"),
    ({"_oauth": {"accessToken": "x"}}, "/config/_oauth"),
    ({"clientId": ""}, "/config/clientId"),
])
def test_validation(api, config, pointer):
    r = api.post(LIST, json={"name": uname("dbx"),
                             "destinationType": "dropbox", "config": config})
    p = assert_problem(r, 422)
    assert pointer in [e["pointer"] for e in p["errors"]], p


def test_zz_no_token_leaks(env, stub):
    s = stub.state()
    toks = s["access_tokens"] + s["refresh_tokens"]
    assert len(toks) > 10, len(toks)
    secrets_ = [t.encode() for t in toks] + [
        OWN[1].encode(), REVOKE[1].encode(),
        os.environ["BACKUPD_DROPBOX_CLIENT_SECRET"].encode()]
    dump = mariadb_dump(env)
    answers = list(SEEN_BODIES) + [
        r.content + json.dumps(dict(r.headers)).encode() for r in CALLBACKS]
    logs = b""
    stack = env.get("BACKUPD_STACK_DIR") or os.environ["BACKUPD_STACK_DIR"]
    for f in sorted((Path(stack) / "log").glob("*")):
        if f.is_file():
            logs += f.read_bytes()
    assert logs
    # The account is personal data: in the test result, never in a log.
    assert ACCOUNT.encode() not in logs
    for sec in secrets_:
        assert sec not in dump, sec[:12]
        assert sec not in logs, sec[:12]
        for a in answers:
            assert sec not in a, sec[:12]
