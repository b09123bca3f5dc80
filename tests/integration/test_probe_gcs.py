"""The gcs probe against a stub of Google's token endpoint and the Cloud
Storage JSON API (tests/peers/gcs/gcs_stub.py; Google cannot be reached from
here). The stub verifies each RS256 assertion against the service account's
PUBLIC key, generated here at runtime, and accepts only the access tokens it
issued.

gcs_api_url is a server-wide key, so the stack must be started with
BACKUPD_GCS_API_URL=http://127.0.0.2:18999 (scripts/integration.sh exports
it); the stub listens there. The key file's token_uri points at the stub too
(or, for the SSRF cases, at addresses the egress policy refuses).
"""

import datetime as dt
import json
import os
import time
import urllib.parse
import uuid
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import (SEEN_BODIES, assert_problem, assert_test_result,
                      register_secrets)
from probe_helpers import (PEERS, PROBE_TIMEOUT, ScriptedHttp, SilentServer,
                           Tripwire,
                           assert_fast_refusal, dest_body, free_port,
                           service_logs, stub_process)

STUB = PEERS / "gcs" / "gcs_stub.py"
PEER_HOST = os.environ.get("BACKUPD_TEST_PEER_HOST", "127.0.0.2")
EMAIL = "backupd-probe@test-project.iam.gserviceaccount.com"
KID = "0123456789abcdef0123456789abcdef01234567"
SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"
MARK = "(gcs-stub)"
BUCKETS = {
    "probe-ok": [],
    "probe-ro": ["read_only"],
    "probe-nodelete": ["no_delete"],
    "probe-nometa": ["no_bucket_get"],
    "probe-noread": ["no_read"],
    "probe-moved": ["moved"],
    "probe-retention": ["retention"],
    "probe-scoped": ["prefix=team-a/"],
}
LIST = "/backup-destinations"
EGRESS = "egress policy"


def rsa_pair():
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    priv = k.private_bytes(serialization.Encoding.PEM,
                           serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption()).decode()
    pub = k.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return priv, pub


class Peer:
    def __init__(self, api_url, state, tls_port):
        self.api_url = api_url.rstrip("/")
        self.state = state
        self.token_uri = self.api_url + "/token"
        self.tls_token_uri = "https://%s:%d/token" % (PEER_HOST, tls_port)
        self.priv, self.pub = rsa_pair()
        self.wrong_priv, _ = rsa_pair()

    def key_file(self, token_uri=None, private_key=None, kid=KID,
                 email=EMAIL):
        """A key file as Google's console writes it."""
        k = {"type": "service_account", "project_id": "test-project"}
        if kid is not None:
            k["private_key_id"] = kid
        k.update({
            "private_key": private_key or self.priv,
            "client_email": email,
            "client_id": "106843279813547890123",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri or self.token_uri,
            "auth_provider_x509_cert_url":
                "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/"
                                    "metadata/x509/backupd-probe",
        })
        return json.dumps(k, indent=2) + "\n"

    def own_token(self):
        """An access token for the tests' own look at the stub's buckets."""
        now = int(time.time())
        a = jwt.encode({"iss": EMAIL, "scope": SCOPE, "aud": self.token_uri,
                        "iat": now, "exp": now + 600}, self.priv,
                       algorithm="RS256", headers={"kid": KID})
        r = requests.post(self.token_uri, timeout=10, data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": a})
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def objects(self, bucket, prefix):
        r = requests.get("%s/storage/v1/b/%s/o" % (self.api_url, bucket),
                         params={"prefix": prefix}, timeout=10,
                         headers={"Authorization": "Bearer "
                                  + self.own_token()})
        assert r.status_code == 200, r.text
        return [o["name"] for o in r.json().get("items", [])]

    def _lines(self, name):
        p = self.state / name
        if not p.exists():
            return []
        return [ln for ln in p.read_text().splitlines() if ln.strip()]

    def assertions(self):
        return [json.loads(ln) for ln in self._lines("assertions.jsonl")]

    def requests(self):
        return [json.loads(ln) for ln in self._lines("requests.jsonl")]

    def tokens(self):
        return set(self._lines("tokens.txt"))


@pytest.fixture(scope="module")
def gcs(env):
    api_url = os.environ.get("BACKUPD_GCS_API_URL", "")
    if not api_url:
        pytest.fail("BACKUPD_GCS_API_URL is not set: scripts/integration.sh "
                    "must export BACKUPD_GCS_API_URL=http://127.0.0.2:18999 "
                    "before `stack.sh up` (gcs_api_url is server-wide)")
    u = urllib.parse.urlsplit(api_url)
    assert u.scheme == "http" and u.hostname == PEER_HOST and u.port, api_url
    stack = env.get("BACKUPD_STACK_DIR") or os.environ["BACKUPD_STACK_DIR"]
    state = Path(stack) / "peers" / "gcs"
    state.mkdir(parents=True, exist_ok=True)
    for f in state.iterdir():
        f.unlink()
    pki = Path(os.environ["BACKUPD_TEST_PKI"])
    tls_port = free_port(PEER_HOST)
    peer = Peer(api_url, state, tls_port)
    _, other_pub = rsa_pair()
    cfg = {
        "host": PEER_HOST, "port": u.port, "tls_port": tls_port,
        "tls_cert": str(pki / "server.pem"), "tls_key": str(pki / "server.key"),
        # The account has two keys, as rotated accounts do: without a kid
        # the stub tries both, with one it takes that key only.
        "accounts": {EMAIL: {KID: peer.pub, "fedcba9876543210": other_pub}},
        "buckets": BUCKETS,
    }
    (state / "config.json").write_text(json.dumps(cfg))
    with stub_process(["/usr/bin/python3", str(STUB), "--config",
                       str(state / "config.json"), "--state-dir", str(state)],
                      state, state / "ready", "gcs stub"):
        register_secrets("gcs", peer.priv)
        try:
            yield peer
        finally:
            register_secrets("gcs", *peer.tokens())


def gcs_body(key_json, bucket="probe-ok", prefix=None):
    return dest_body("gcs", "gcs", None, bucket=bucket,
                     serviceAccountJson=key_json, prefix=prefix)


def prefix_():
    return "it/%s" % uuid.uuid4().hex[:12]


def assert_sentences(checks, warnings=()):
    """Details are our sentences, never the stub's JSON or messages."""
    for text in [c.get("detail", "") for c in checks] + list(warnings):
        assert "{" not in text and "}" not in text, text
        assert MARK not in text and "error_description" not in text, text
        assert "ya29." not in text and "PRIVATE KEY" not in text, text


def failed(api, body, check):
    r = api.post(LIST, json=body)
    p = assert_problem(r, 422)
    assert p.get("failedCheck") == check, p
    assert_test_result(p["lastTest"], ok=False)
    assert p["checks"] == p["lastTest"]["checks"], p
    # Every check before the failed one passed; nothing ran after it.
    assert p["checks"][-1]["name"] == check and not p["checks"][-1]["ok"], p
    assert all(c["ok"] for c in p["checks"][:-1]), p
    assert_sentences(p["checks"], p["lastTest"].get("warnings", []))
    assert MARK not in p["detail"], p
    return p


# ------------------------------------------------------------------ success

@pytest.mark.parametrize("kid", [KID, None], ids=["kid", "no-kid"])
def test_success_and_object_gone(api, gcs, kid):
    pfx = prefix_()
    before = len(gcs.assertions())
    r = api.create(gcs_body(gcs.key_file(kid=kid), prefix=pfx))
    d = r.json()
    assert d["status"] == "active", d
    tr = d["lastTest"]
    names = assert_test_result(tr, ok=True)
    assert names == ["connect", "auth", "target", "write", "read", "delete"]
    by = {c["name"]: c.get("detail", "") for c in tr["checks"]}
    assert by["target"] == "bucket 'probe-ok' exists", by
    assert by["delete"] == "deleted the probe object", by
    # Both the token endpoint and the API are plain http here.
    assert len(tr["warnings"]) == 2, tr["warnings"]
    assert all("plain http" in w for w in tr["warnings"]), tr["warnings"]
    assert_sentences(tr["checks"], tr["warnings"])
    assert d["config"]["serviceAccountJson"] == "********", d["config"]
    assert gcs.objects("probe-ok", pfx) == [], "probe object left behind"

    # The assertion is Google's: RS256, kid when the key file has one,
    # iss/aud/scope, a one-hour lifetime, no sub (no impersonation).
    a = gcs.assertions()[before]
    assert a["result"] == "ok", a
    assert a["alg"] == "RS256" and a["typ"] == "JWT", a
    assert a["kid"] == kid, a
    assert a["iss"] == EMAIL and a["aud"] == gcs.token_uri, a
    assert a["scope"] == SCOPE, a
    assert a["exp"] - a["iat"] == 3600, a
    assert abs(a["iat"] - time.time()) < 120, a
    assert a["sub"] is None, a

    r = api.post("%s/%s/test" % (LIST, d["id"]))
    assert r.status_code == 200, r.text
    assert_test_result(r.json(), ok=True)
    assert gcs.objects("probe-ok", pfx) == []


def test_object_name_under_prefix_percent_encoded(api, gcs):
    pfx = "/" + prefix_()  # a leading '/' is dropped, a '/' is added
    n0 = len(gcs.requests())
    api.create(gcs_body(gcs.key_file(), prefix=pfx))
    reqs = [q for q in gcs.requests()[n0:] if q["path"] != "/token"]
    methods = [q["method"] for q in reqs]
    assert methods == ["GET", "POST", "GET", "DELETE"], reqs
    enc = urllib.parse.quote(pfx.lstrip("/") + "/", safe="")
    up = urllib.parse.urlsplit(reqs[1]["path"])
    assert up.path == "/upload/storage/v1/b/probe-ok/o", up
    q = urllib.parse.parse_qs(up.query)
    assert q["uploadType"] == ["media"], q
    name = q["name"][0]
    assert name.startswith(pfx.lstrip("/") + "/.backupd-probe-"), name
    assert len(name.rsplit("-", 1)[1]) == 16, name
    assert reqs[0]["path"] == "/storage/v1/b/probe-ok"
    obj = "/storage/v1/b/probe-ok/o/" + enc
    assert reqs[2]["path"].startswith(obj + ".backupd-probe-"), reqs[2]
    assert reqs[2]["path"].endswith("?alt=media"), reqs[2]
    assert reqs[3]["path"].startswith(obj + ".backupd-probe-"), reqs[3]


def test_token_endpoint_over_tls(api, gcs):
    """https token_uri through the private CA (ca_file): only the API URL,
    still plain http, is warned about."""
    pfx = prefix_()
    before = len(gcs.assertions())
    d = api.create(gcs_body(gcs.key_file(token_uri=gcs.tls_token_uri),
                            prefix=pfx)).json()
    tr = d["lastTest"]
    assert_test_result(tr, ok=True)
    assert len(tr["warnings"]) == 1, tr["warnings"]
    assert "API" in tr["warnings"][0], tr["warnings"]
    assert gcs.assertions()[before]["aud"] == gcs.tls_token_uri
    assert gcs.objects("probe-ok", pfx) == []


def test_key_without_bucket_metadata_rights_is_enough(api, gcs):
    """roles/storage.objectAdmin has no storage.buckets.get: a 403 on the
    bucket lookup is not a failure; the upload proves the bucket."""
    pfx = prefix_()
    d = api.create(gcs_body(gcs.key_file(), "probe-nometa", pfx)).json()
    tr = d["lastTest"]
    assert_test_result(tr, ok=True)
    by = {c["name"]: c.get("detail", "") for c in tr["checks"]}
    assert "metadata" in by["target"], by
    assert "storage.buckets.get" in by["target"], by
    assert gcs.objects("probe-nometa", pfx) == []


def test_delete_refused_is_a_warning(api, gcs):
    pfx = prefix_()
    d = api.create(gcs_body(gcs.key_file(), "probe-nodelete", pfx)).json()
    tr = d["lastTest"]
    assert_test_result(tr, ok=True)
    assert d["status"] == "active"
    dc = [c for c in tr["checks"] if c["name"] == "delete"][0]
    assert dc["ok"] and "kept" in dc["detail"], dc
    left = gcs.objects("probe-nodelete", pfx)
    assert len(left) == 1 and left[0].startswith(pfx + "/.backupd-probe-")
    w = [x for x in tr["warnings"] if "remove it by hand" in x]
    assert len(w) == 1 and left[0] in w[0] and "probe-nodelete" in w[0], \
        tr["warnings"]
    assert w[0].startswith("deleting the probe object was refused: the "
                           "service account needs storage.objects.delete"), w
    assert_sentences(tr["checks"], tr["warnings"])


# ----------------------------------------------------------------- failures

def test_wrong_key_fails_auth(api, gcs):
    """Same account and kid, another private key: the signature does not
    verify against the account's public key."""
    n0 = len(gcs.tokens())
    p = failed(api, gcs_body(gcs.key_file(private_key=gcs.wrong_priv)),
               "auth")
    assert [c["name"] for c in p["checks"]] == ["connect", "auth"], p
    assert p["checks"][1]["detail"].startswith(
        "the service account key was rejected"), p
    assert len(gcs.tokens()) == n0, "a token was issued for a wrong key"


def test_wrong_key_without_kid_fails_auth(api, gcs):
    p = failed(api, gcs_body(gcs.key_file(private_key=gcs.wrong_priv,
                                          kid=None)), "auth")
    assert p["checks"][1]["detail"].startswith(
        "the service account key was rejected"), p


def test_unknown_account_fails_auth(api, gcs):
    p = failed(api, gcs_body(gcs.key_file(
        email="nobody@test-project.iam.gserviceaccount.com")), "auth")
    assert p["checks"][1]["detail"].startswith(
        "the service account key was rejected"), p


def test_unusable_private_key_fails_auth_without_a_request(api, gcs):
    n0 = len(gcs.requests())
    bad = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
    p = failed(api, gcs_body(gcs.key_file(private_key=bad)), "auth")
    assert [c["name"] for c in p["checks"]] == ["auth"], p
    assert "private key" in p["checks"][0]["detail"], p
    assert len(gcs.requests()) == n0


def test_missing_bucket_fails_target(api, gcs):
    p = failed(api, gcs_body(gcs.key_file(), "probe-missing"), "target")
    assert [c["name"] for c in p["checks"]] == ["connect", "auth", "target"]
    assert p["checks"][2]["detail"] == \
        "bucket 'probe-missing' does not exist", p


def test_read_only_bucket_fails_write(api, gcs):
    pfx = prefix_()
    p = failed(api, gcs_body(gcs.key_file(), "probe-ro", pfx), "write")
    assert "storage.objects.create" in p["checks"][-1]["detail"], p
    assert gcs.objects("probe-ro", pfx) == []


def test_unreadable_bucket_fails_read_and_cleans_up(api, gcs):
    pfx = prefix_()
    p = failed(api, gcs_body(gcs.key_file(), "probe-noread", pfx), "read")
    assert "storage.objects.get" in p["checks"][-1]["detail"], p
    assert gcs.objects("probe-noread", pfx) == [], "probe object left behind"


def test_nothing_listening_at_token_uri_is_connect_and_fast(api, gcs):
    port = free_port(PEER_HOST)
    t0 = time.monotonic()
    p = failed(api, gcs_body(gcs.key_file(
        token_uri="http://%s:%d/token" % (PEER_HOST, port))), "connect")
    assert_fast_refusal(t0, p)


def test_token_endpoint_that_never_answers_is_bounded(api, gcs):
    srv = SilentServer(PEER_HOST)
    held = srv.conns  # accepted, never answered
    try:
        t0 = time.monotonic()
        p = failed(api, gcs_body(gcs.key_file(
            token_uri="http://%s:%d/token" % (PEER_HOST, srv.port))),
            "connect")
        took = time.monotonic() - t0
        assert took < PROBE_TIMEOUT + 4, "took %.1fs" % took
        assert held, "the probe never connected"
        assert "did not answer in time" in p["checks"][0]["detail"], p
    finally:
        srv.close()


# --------------------------------------------------------------------- SSRF

@pytest.fixture
def listener():
    """Counts connections on 127.0.0.1:port and [::1]:port (hits)."""
    li = Tripwire()
    yield li
    li.close()


MUST_REACH_GATE = ["127.0.0.1", "localhost", "169.254.169.254", "[::1]",
                   "[::ffff:127.0.0.1]", "0.0.0.0"]
# Decimal and octal IPv4 spellings: the key file validator may refuse them
# (422 at /config/serviceAccountJson); if it lets one through, the egress
# gate must refuse it.
OTHER_SPELLINGS = ["2130706433", "0177.0.0.1"]


@pytest.mark.parametrize("host", MUST_REACH_GATE + OTHER_SPELLINGS)
def test_token_uri_ssrf_refused(api, gcs, listener, host):
    uri = "http://%s:%d/token" % (host, listener.port)
    n0 = len(gcs.requests())
    r = api.post(LIST, json=gcs_body(gcs.key_file(token_uri=uri)))
    p = assert_problem(r, 422)
    if host in MUST_REACH_GATE or "failedCheck" in p:
        assert p.get("failedCheck") == "connect", p
        assert EGRESS in p["checks"][0]["detail"], p
        assert_sentences(p["checks"])
    else:  # the validator refused the spelling before any probe
        assert [e["pointer"] for e in p["errors"]] == \
            ["/config/serviceAccountJson"], p
    assert listener.hits == 0, "a connection reached %s" % uri
    # Nothing went on to the API either.
    assert len(gcs.requests()) == n0


@pytest.mark.parametrize("suffix", ["\r\n", "\r\nX-Injected: 1", "\t",
                                    "\x7f"])
def test_token_uri_with_control_characters_refused(api, gcs, suffix):
    """Issue 13 item 5: a control character anywhere in token_uri is a
    validation error at /config/serviceAccountJson; no probe runs, nothing
    reaches the token endpoint."""
    n0 = len(gcs.requests())
    r = api.post(LIST, json=gcs_body(gcs.key_file(
        token_uri=gcs.token_uri + suffix)))
    p = assert_problem(r, 422)
    assert "failedCheck" not in p, p
    assert [e["pointer"] for e in p["errors"]] == \
        ["/config/serviceAccountJson"], p
    assert len(gcs.requests()) == n0


def test_metadata_address_default_port_refused(api, gcs):
    p = failed(api, gcs_body(gcs.key_file(
        token_uri="http://169.254.169.254/computeMetadata/v1/token")),
        "connect")
    assert EGRESS in p["checks"][0]["detail"], p


# ------------------------------------------------------------------ secrets

def _needles(gcs):
    out = []
    for pem in (gcs.priv, gcs.wrong_priv):
        body = [ln for ln in pem.splitlines() if "PRIVATE KEY" not in ln]
        out += [ln.encode() for ln in body if len(ln) >= 32]
        out.append("".join(body)[:48].encode())
    out += [t.encode() for t in gcs.tokens()]
    out.append(MARK.encode())
    return out


def test_zz_no_secret_or_remote_text_in_any_response(api, gcs, env):
    """Runs last in this file: nothing any test saw holds a line of the
    private keys, an access token the stub issued, or the stub's messages;
    neither does the service's log."""
    # One more round trip so the GET path is covered too.
    d = api.create(gcs_body(gcs.key_file(), prefix=prefix_())).json()
    g = api.get("%s/%s" % (LIST, d["id"]))
    assert g.json()["config"]["serviceAccountJson"] == "********"
    needles = _needles(gcs)
    assert len(gcs.tokens()) > 0
    bodies = [b.replace(b"\\/", b"/") for b in SEEN_BODIES]
    for b in bodies:
        for n in needles:
            assert n not in b, "secret or remote text in a response: %r" \
                % b[:300]
    for k, data in service_logs(env):
        text = data.replace(b"\\/", b"/")
        for n in needles:
            assert n not in text, "secret in %s" % k


# ------------------------------------------------------------- redirects


def test_api_redirect_is_not_followed(api, gcs):
    """The Cloud Storage API answering 301 for the bucket fails the target
    check and says so; the redirect's target (elsewhere on the stub) sees
    nothing, and the bearer token goes nowhere else."""
    n0 = len(gcs.requests())
    p = failed(api, gcs_body(gcs.key_file(), bucket="probe-moved"), "target")
    assert "301" in p["checks"][-1]["detail"], p
    time.sleep(0.1)
    paths = [q["path"] for q in gcs.requests()[n0:]]
    assert not [x for x in paths if x.startswith("/elsewhere")], paths
    assert len([x for x in paths if "probe-moved" in x]) == 1, paths


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_token_uri_redirect_is_not_followed(api, gcs, status):
    """A token endpoint that answers with a redirect fails auth; the
    redirect's target, which would take the signed assertion, sees
    nothing."""
    target = ScriptedHttp(PEER_HOST, lambda m, p: (0, 200, {}, b"{}"))
    srv = ScriptedHttp(PEER_HOST, lambda m, p: (
        0, status, {"Location": target.url(p)}, b""))
    try:
        p = failed(api, gcs_body(gcs.key_file(token_uri=srv.url("/token"))),
                   "auth")
        assert str(status) in p["checks"][-1]["detail"], p
        assert len(srv.requests) == 1, srv.requests
        time.sleep(0.1)
        assert target.requests == [], target.requests
    finally:
        srv.close()
        target.close()


# --------------------------------------------------- placeholder vs location


def test_placeholder_keeps_the_key_file_whole(api, gcs):
    """gcs has no location field of its own: the API is server-wide and the
    token endpoint (token_uri) is inside the secret key file, which
    "********" keeps whole. So a PUT with the placeholder and another bucket
    is allowed, and its token request goes to the stored token_uri (the
    stub), never to an address of the caller's choosing: a listener the
    caller might name elsewhere sees nothing."""
    d = api.create(gcs_body(gcs.key_file(), prefix=prefix_())).json()
    n0 = len(gcs.assertions())
    evil = ScriptedHttp(PEER_HOST, lambda m, p: (0, 200, {}, b"{}"))
    try:
        b = gcs_body("********", bucket="probe-nodelete",
                     prefix=d["config"].get("prefix"))
        b["name"] = d["name"]
        # The only way to name another token endpoint is a new key file;
        # a placeholder *inside* one is just an invalid key file.
        r = api.put("%s/%s" % (LIST, d["id"]), json=b)
        assert r.status_code == 200, r.text
        assert len(gcs.assertions()) == n0 + 1
        assert gcs.assertions()[n0]["aud"] == gcs.token_uri
        bad = json.loads(gcs.key_file(token_uri=evil.url("/token")))
        bad["private_key"] = "********"
        b2 = gcs_body(json.dumps(bad), bucket="probe-ok")
        b2["name"] = d["name"]
        p = assert_problem(api.put("%s/%s" % (LIST, d["id"]), json=b2), 422)
        assert evil.requests == [], evil.requests
    finally:
        evil.close()


# ------------------------------------------ issue 9: least privilege, 403s

def _api_requests(gcs, n0):
    return [q for q in gcs.requests()[n0:] if q["path"] != "/token"]


@pytest.mark.parametrize("bucket,pfx", [("probe-ok", "lp/x"),
                                        ("probe-scoped", "team-a/nightly")])
def test_probe_stays_inside_the_bucket_and_prefix(api, gcs, bucket, pfx):
    """The stub's request log: the bucket's own metadata and objects under
    the prefix, nothing else (no buckets.list GET /storage/v1/b?project=,
    no buckets.insert POST /storage/v1/b, no objects.list). A key whose
    role is granted only under one prefix (IAM condition; it cannot read
    bucket metadata either) passes."""
    n0 = len(gcs.requests())
    d = api.create(gcs_body(gcs.key_file(), bucket, pfx)).json()
    tr = d["lastTest"]
    assert_test_result(tr, ok=True)
    reqs = _api_requests(gcs, n0)
    enc = urllib.parse.quote(pfx + "/.backupd-probe-", safe="")
    for q in reqs:
        u = urllib.parse.urlsplit(q["path"])
        if u.path == "/storage/v1/b/" + bucket:
            assert q["method"] == "GET" and not u.query, q
        elif u.path == "/upload/storage/v1/b/%s/o" % bucket:
            assert q["method"] == "POST", q
            assert urllib.parse.parse_qs(u.query)["name"][0].startswith(
                pfx + "/.backupd-probe-"), q
        else:
            assert u.path.startswith("/storage/v1/b/%s/o/%s" % (bucket,
                                                                 enc)), q
            assert q["method"] in ("GET", "DELETE"), q
    assert [q["method"] for q in reqs] == ["GET", "POST", "GET", "DELETE"]
    assert gcs.objects(bucket, pfx) == []
    if bucket == "probe-scoped":
        by = {c["name"]: c.get("detail", "") for c in tr["checks"]}
        assert "storage.buckets.get" in by["target"], by


def test_prefix_scoped_key_outside_its_prefix_names_the_permission(api, gcs):
    p = failed(api, gcs_body(gcs.key_file(), "probe-scoped", "team-b"),
               "write")
    assert p["checks"][-1]["detail"] == (
        "the service account may not create objects in bucket "
        "'probe-scoped' (it needs storage.objects.create)"), p


def test_retention_policy_keeps_the_probe_object(api, gcs):
    """A delete refused with 403 retentionPolicyNotMet: the test passes,
    observed.objectLock carries the object's retentionExpirationTime, a
    warning says until when it stays."""
    pfx = prefix_()
    t0 = time.time()
    d = api.create(gcs_body(gcs.key_file(), "probe-retention", pfx)).json()
    tr = d["lastTest"]
    assert_test_result(tr, ok=True)
    assert d["status"] == "active", d
    [left] = gcs.objects("probe-retention", pfx)
    lock = tr["observed"]["objectLock"]
    assert set(lock) == {"mode", "retainUntil", "legalHold"} and \
        lock["legalHold"] is False and lock["mode"] is None, lock
    until = dt.datetime.strptime(lock["retainUntil"],
                                 "%Y-%m-%dT%H:%M:%S.000Z").replace(
        tzinfo=dt.timezone.utc).timestamp()
    assert abs(until - (t0 + 30 * 86400)) < 60, lock
    by = {c["name"]: c.get("detail", "") for c in tr["checks"]}
    assert by["delete"] == "the probe object was kept: the bucket's " \
        "retention policy refuses deleting it", by
    assert ["the probe object '%s' stays in bucket 'probe-retention' until "
            "its retention ends on %s; delete it then"
            % (left, lock["retainUntil"])] == \
        [w for w in tr["warnings"] if "stays in bucket" in w], tr
    assert_sentences(tr["checks"], tr["warnings"])
