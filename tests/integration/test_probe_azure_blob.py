"""The Azure Blob probe (issue 3) against a real server: Azurite 3.37 (npm
`azurite`, tests/peers/azure_blob/), started for this module on
$BACKUPD_TEST_PEER_HOST over http and over https (the test CA's certificate,
trusted by the service through BACKUPD_CA_FILE). Azurite validates SharedKey
and SAS signatures; it runs in its default strict mode (no --loose, no
--skipApiVersionCheck).

Containers are created, and SAS tokens signed, by an independent Python
client (tests/peers/azure_blob/azurite_peer.py) written from Microsoft's docs.

Proven here: SharedKey success on the emulator's path-style endpoint (the
default dev account and an account of our own, http and https), the probe
blob gone afterwards; account SAS and container SAS success; a wrong account
key -> auth; an unknown account -> auth; a missing container -> target (key
and SAS); a read-only SAS (sp=r) -> write; a SAS without delete (sp=rcw) ->
success with a delete warning, the probe blob left under the prefix; a
write-only SAS -> read; an expired or forged SAS -> auth; nothing listening
-> connect, fast; a server that accepts and never answers -> bounded by
probe_timeout; the SSRF spellings refused before any connection; no account
key or SAS token and no Azurite text in any response or log.

Issue 9 (items 4 and 5): the SAS token's se becomes observed.
credentialsExpireAt (every documented form, signed and accepted by
Azurite); within 14 days a warning and statusReason credentials_expiring
with status active (create, GET, POST /test, the ?status=active list); an
expired SAS fails auth before any request, and one that expires during the
test is refused by Azurite itself (AuthorizationFailure) and named as
expired; each step refused for a missing SAS permission names the letter
it needs; immutability (time-based policy, legal hold) through
tests/peers/azure_blob/azure_front.py, a documented-behaviour front before
the real Azurite, which does not implement immutable storage; and, from
that front's request log, that the probe never leaves the container and
prefix (key and container-scoped SAS).
"""

import base64
import datetime as dt
import os
import re
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import (PLACEHOLDER, REPO, SEEN_BODIES, assert_problem,
                      assert_test_result, register_secrets, uname)
from probe_helpers import (PROBE_TIMEOUT, ScriptedHttp, SilentServer,
                           assert_bounded,
                           assert_placeholder_refused,
                           assert_fast_refusal,
                           assert_listeners_count, assert_no_loopback_hit,
                           assert_sentences, created, dest_body, detail_of,
                           free_port, peer_host, refused, running,
                           service_logs)
from probe_helpers import URL_SSRF_HOSTS as SSRF_HOSTS

sys.path.insert(0, str(REPO / "tests" / "peers" / "azure_blob"))
from azurite_peer import (DEVSTORE, DEVSTORE_KEY, AzuritePeer,  # noqa: E402
                  account_sas, service_sas)
from azure_front import AzureFront  # noqa: E402

LIST = "/backup-destinations"
ALL_CHECKS = ["connect", "auth", "target", "write", "read", "delete"]
HTTP_WARNING = "plain http"

# An account of our own next to the emulator's default one.
OWN = "backupdtest1"
OWN_KEY = base64.b64encode(os.urandom(64)).decode()
# Sentinel secrets, valid base64 as accountKey must be: recognisable bytes.
WRONG_KEY = base64.b64encode(
    ("SENTINEL-azure-key-%s" % uuid.uuid4().hex).encode().ljust(64, b"!")
).decode()
FORGED_SIG = "SENTINELsas%s" % uuid.uuid4().hex
# Every secret this module hands the service; none may come back.
SECRETS = [OWN_KEY, WRONG_KEY, FORGED_SIG, DEVSTORE_KEY]
register_secrets("azure_blob", *SECRETS)
# Azurite's / Azure's texts and XML must never leak into a detail.
SERVER_TEXT = re.compile(
    r"[<>]|xml|RequestId|Server failed|The specified|This request is not|"
    r"Make sure|Azurite|<Code>|<Message>")


def remember(secret):
    """A SAS token made by a test is a secret too."""
    m = re.search(r"sig=([^&]+)", secret)
    SECRETS.append(secret)
    if m:
        SECRETS.append(m.group(1))
    register_secrets("azure_blob", *SECRETS)
    return secret


@pytest.fixture(scope="module")
def peer(env):
    host, pki = peer_host()
    root = Path(env["BACKUPD_STACK_DIR"]) / "peers" / "azure_blob"
    yield from running(AzuritePeer(root, host, pki, {DEVSTORE: DEVSTORE_KEY,
                                                     OWN: OWN_KEY}))


@pytest.fixture(scope="module")
def front(peer):
    """The documented-behaviour front before the http Azurite
    (tests/peers/azure_blob/azure_front.py): immutability, a request log,
    a delay."""
    f = AzureFront(peer.host, peer.host, peer.http_port, DEVSTORE).start()
    try:
        yield f
    finally:
        f.close()


def rfc(se):
    """An se of the form YYYY-MM-DDThh:mm:ssZ as the service writes
    instants (RFC 3339 with milliseconds)."""
    return se[:-1] + ".000Z"


def container(peer, account=DEVSTORE, tls=False):
    """A fresh container created by the independent client."""
    name = "c" + uuid.uuid4().hex[:16]
    peer.client(account, tls).create_container(name)
    return name


def body(endpoint, cont, *, account=DEVSTORE, key=None, sas=None,
         prefix=None, name=None):
    return dest_body("azure_blob", "az", name, accountName=account,
                     container=cont, endpoint=endpoint, accountKey=key,
                     sasToken=sas, prefix=prefix)


def assert_clean(tr):
    assert_sentences(tr, SECRETS, SERVER_TEXT)


def probe_blobs(peer, cont, account=DEVSTORE, tls=False):
    """Probe blobs in a container (the http and https Azurites are two
    processes with separate storage)."""
    return [n for n in peer.client(account, tls).list_blobs(cont)
            if ".backupd-probe-" in n]


def create_ok(api, b, checks=ALL_CHECKS):
    r, d, tr = created(api, b, checks, SECRETS)
    assert_clean(tr)
    for k in ("accountKey", "sasToken"):
        if k in b["config"]:
            assert d["config"][k] == PLACEHOLDER, d["config"]
    return d, tr


def create_fails(api, b, check):
    r, p, tr = refused(api, b, check, SECRETS, SERVER_TEXT)
    assert_clean(tr)
    return p, tr


# ------------------------------------------------------------- success


def test_sharedkey_success_http(api, peer):
    cont = container(peer)
    d, tr = create_ok(api, body(peer.endpoint(DEVSTORE), cont,
                                key=DEVSTORE_KEY, prefix="nightly/db"))
    assert "account key was accepted" in detail_of(tr, "auth"), tr
    assert "'%s' exists" % cont in detail_of(tr, "target"), tr
    assert "plain HTTP" in detail_of(tr, "connect"), tr
    assert any(HTTP_WARNING in w for w in tr["warnings"]), tr
    assert probe_blobs(peer, cont) == [], "probe blob left behind"

    r = api.post("%s/%s/test" % (LIST, d["id"]))
    assert r.status_code == 200, r.text
    tr2 = r.json()
    assert assert_test_result(tr2, ok=True) == ALL_CHECKS, tr2
    assert_clean(tr2)
    assert probe_blobs(peer, cont) == []


def test_sharedkey_own_account_https(api, peer):
    cont = container(peer, OWN, tls=True)
    d, tr = create_ok(api, body(peer.endpoint(OWN, tls=True), cont,
                                account=OWN, key=OWN_KEY))
    assert "HTTPS" in detail_of(tr, "connect"), tr
    assert not any(HTTP_WARNING in w for w in tr["warnings"]), tr
    assert probe_blobs(peer, cont, OWN, tls=True) == []
    r = api.post("%s/%s/test" % (LIST, d["id"]))
    assert r.status_code == 200, r.text


def test_account_sas_success(api, peer):
    cont = container(peer, tls=True)
    sas = remember("?" + account_sas(DEVSTORE, DEVSTORE_KEY, "rwdlac"))
    d, tr = create_ok(api, body(peer.endpoint(DEVSTORE, tls=True), cont,
                                sas=sas, prefix="/sas/"))
    assert "SAS token was accepted" in detail_of(tr, "auth"), tr
    assert probe_blobs(peer, cont, tls=True) == []
    r = api.post("%s/%s/test" % (LIST, d["id"]))
    assert r.status_code == 200, r.text
    assert_clean(r.json())


def test_container_sas_success(api, peer):
    # A container SAS may not read container properties; the probe proves
    # the container through the probe blob instead.
    cont = container(peer)
    sas = remember(service_sas(DEVSTORE, DEVSTORE_KEY, cont, "racwd"))
    d, tr = create_ok(api, body(peer.endpoint(DEVSTORE), cont, sas=sas))
    assert "'%s' exists" % cont in detail_of(tr, "target"), tr
    assert probe_blobs(peer, cont) == []


def test_update_keeps_stored_key_and_retests(api, peer):
    cont = container(peer)
    ep = peer.endpoint(DEVSTORE)
    d, _ = create_ok(api, body(ep, cont, key=DEVSTORE_KEY))
    path = "%s/%s" % (LIST, d["id"])
    r = api.put(path, json=body(ep, cont, key=PLACEHOLDER, name=d["name"]))
    assert r.status_code == 200, r.text
    assert r.json()["lastTest"]["ok"] is True
    r = api.put(path, json=body(ep, cont, key=WRONG_KEY, name=d["name"]))
    p = assert_problem(r, 422)
    assert p["failedCheck"] == "auth", p
    assert WRONG_KEY not in r.text and DEVSTORE_KEY not in r.text
    r = api.post(path + "/test")
    assert r.status_code == 200, r.text


def test_prefix_with_odd_characters(api, peer):
    cont = container(peer)
    create_ok(api, body(peer.endpoint(DEVSTORE), cont, key=DEVSTORE_KEY,
                        prefix="m\u00fcll ?#%+&=/x"))
    assert probe_blobs(peer, cont) == []


# ------------------------------------------------------------- failures


@pytest.mark.parametrize("tls", [False, True])
def test_wrong_account_key_is_auth(api, peer, tls):
    cont = container(peer)
    p, tr = create_fails(api, body(peer.endpoint(DEVSTORE, tls), cont,
                                   key=WRONG_KEY), "auth")
    assert "account key does not match" in detail_of(tr, "auth"), tr
    assert [c["name"] for c in tr["checks"]] == ["connect", "auth"], tr


def test_key_of_another_account_is_auth(api, peer):
    cont = container(peer)
    create_fails(api, body(peer.endpoint(DEVSTORE), cont, key=OWN_KEY),
                 "auth")


def test_unknown_account_is_auth(api, peer):
    p, tr = create_fails(api, body(peer.endpoint("nosuchaccount"), "probe-c1",
                                   account="nosuchaccount",
                                   key=DEVSTORE_KEY), "auth")
    assert "'nosuchaccount' was not found" in detail_of(tr, "auth"), tr


def test_forged_sas_is_auth(api, peer):
    cont = container(peer)
    sas = "sv=2021-08-06&sr=c&sp=racwd&se=2099-01-01T00%3A00%3A00Z" \
          "&spr=https%2Chttp&sig=" + FORGED_SIG
    p, tr = create_fails(api, body(peer.endpoint(DEVSTORE), cont, sas=sas),
                         "auth")
    assert "SAS token was refused" in detail_of(tr, "auth"), tr


def test_expired_sas_is_auth(api, peer, front):
    """Issue 9: an expired SAS fails auth before anything is sent, and
    says when it expired."""
    cont = container(peer)
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    se = past.strftime("%Y-%m-%dT%H:%M:%SZ")
    sas = remember(account_sas(DEVSTORE, DEVSTORE_KEY, "rwdlac",
                               expiry=past))
    n0 = front.count()
    p, tr = create_fails(api, body(front.endpoint(), cont, sas=sas), "auth")
    assert [c["name"] for c in tr["checks"]] == ["auth"], tr
    assert detail_of(tr, "auth") == \
        "the SAS token expired on %s; create a new one" % rfc(se), tr
    assert tr["observed"] == {"credentialsExpireAt": rfc(se)}, tr
    assert front.log_since(n0) == [], "a request was sent with it"


def test_missing_container_is_target(api, peer):
    p, tr = create_fails(api, body(peer.endpoint(DEVSTORE), "no-such-box",
                                   key=DEVSTORE_KEY), "target")
    assert "'no-such-box' does not exist" in detail_of(tr, "target"), tr
    assert [c["name"] for c in tr["checks"]] == ["connect", "auth",
                                                 "target"], tr


@pytest.mark.parametrize("kind", ["account", "container"])
def test_missing_container_with_sas_is_target(api, peer, kind):
    if kind == "account":
        sas = account_sas(DEVSTORE, DEVSTORE_KEY, "rwdlac")
    else:
        sas = service_sas(DEVSTORE, DEVSTORE_KEY, "no-such-box", "racwd")
    p, tr = create_fails(api, body(peer.endpoint(DEVSTORE), "no-such-box",
                                   sas=remember(sas)), "target")
    assert "'no-such-box' does not exist" in detail_of(tr, "target"), tr


def test_read_only_sas_is_write(api, peer):
    cont = container(peer)
    sas = remember(service_sas(DEVSTORE, DEVSTORE_KEY, cont, "r"))
    p, tr = create_fails(api, body(peer.endpoint(DEVSTORE), cont, sas=sas),
                         "write")
    assert [c["name"] for c in tr["checks"]] == ["connect", "auth",
                                                 "target", "write"], tr
    assert detail_of(tr, "write") == (
        "uploading the probe object was refused "
        "(AuthorizationPermissionMismatch): the SAS token needs the c "
        "(create) or w (write) permission; it grants 'r'"), tr
    assert probe_blobs(peer, cont) == []


def test_sas_without_delete_succeeds_with_warning(api, peer):
    cont = container(peer)
    sas = remember(service_sas(DEVSTORE, DEVSTORE_KEY, cont, "rcw"))
    d, tr = create_ok(api, body(peer.endpoint(DEVSTORE), cont, sas=sas,
                                prefix="keep/me"))
    assert "kept" in detail_of(tr, "delete"), tr
    left = probe_blobs(peer, cont)
    assert len(left) == 1 and left[0].startswith("keep/me/.backupd-probe-"), \
        left
    assert any(left[0].split("/")[-1] in w and w.startswith(
        "deleting the probe object was refused "
        "(AuthorizationPermissionMismatch): the SAS token needs the d "
        "(delete) permission; it grants 'rcw'") for w in tr["warnings"]), tr
    peer.client(DEVSTORE).delete_blob(cont, left[0])


def test_write_only_sas_is_read(api, peer):
    cont = container(peer)
    sas = remember(service_sas(DEVSTORE, DEVSTORE_KEY, cont, "cw"))
    p, tr = create_fails(api, body(peer.endpoint(DEVSTORE), cont, sas=sas),
                         "read")
    assert [c["name"] for c in tr["checks"]] == ALL_CHECKS[:5], tr
    assert detail_of(tr, "read") == (
        "reading the probe object back was refused "
        "(AuthorizationPermissionMismatch): the SAS token needs the r (read) "
        "permission; it grants 'cw'"), tr
    # It could not delete its blob either, and says so.
    assert any("left in container" in w for w in tr["warnings"]), tr
    for n in probe_blobs(peer, cont):
        peer.client(DEVSTORE).delete_blob(cont, n)


def test_prefix_with_dot_segments_is_target(api, peer):
    cont = container(peer)
    p, tr = create_fails(api, body(peer.endpoint(DEVSTORE), cont,
                                   key=DEVSTORE_KEY, prefix="a/../b"),
                         "target")
    assert "'..'" in detail_of(tr, "target"), tr


def test_endpoint_without_account_segment_is_refused(api, peer):
    cont = container(peer)
    ep = "http://%s:%d" % (peer.host, peer.http_port)
    p, tr = create_fails(api, body(ep, cont, key=DEVSTORE_KEY), "auth")
    assert "devstoreaccount1" in detail_of(tr, "auth"), tr


def test_endpoint_with_query_is_connect(api, peer):
    cont = container(peer)
    create_fails(api, body(peer.endpoint(DEVSTORE) + "?x=1", cont,
                           key=DEVSTORE_KEY), "connect")


def test_tls_to_plain_port_is_connect(api, peer):
    ep = "https://%s:%d/%s" % (peer.host, peer.http_port, DEVSTORE)
    create_fails(api, body(ep, "probe-c1", key=DEVSTORE_KEY), "connect")


def test_nothing_listening_is_connect_and_fast(api, peer):
    port = free_port(peer.host)
    t0 = time.monotonic()
    p, tr = create_fails(api, body("http://%s:%d/%s" % (
        peer.host, port, DEVSTORE), "probe-c1", key=DEVSTORE_KEY), "connect")
    assert_fast_refusal(t0, tr)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_accepts_and_never_answers_is_bounded(api, peer, scheme):
    srv = SilentServer(peer.host)
    try:
        t0 = time.monotonic()
        p, tr = create_fails(api, body("%s://%s:%d/%s" % (
            scheme, peer.host, srv.port, DEVSTORE), "probe-c1",
            key=DEVSTORE_KEY), "connect")
        assert_bounded(t0, srv, tr)
    finally:
        srv.close()


# ------------------------------------------------------------------ SSRF

@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("host", SSRF_HOSTS)
@pytest.mark.parametrize("cred", ["key", "sas"])
def test_ssrf_refused_before_connecting(api, loopback_listeners, host,
                                        scheme, cred):
    v4, v6 = loopback_listeners
    ep = "%s://%s:%d/%s" % (scheme, host, v4.port, DEVSTORE)
    if cred == "key":
        b = body(ep, "probe-c1", key=WRONG_KEY)
    else:
        b = body(ep, "probe-c1", sas="sv=2021-08-06&sp=r&sig=" + FORGED_SIG)
    r = api.post(LIST, json=b)
    p = assert_problem(r, 422)
    if "failedCheck" in p:
        assert p["failedCheck"] == "connect", p
        assert "egress policy" in detail_of(p["lastTest"], "connect"), p
        assert [c["name"] for c in p["checks"]] == ["connect"], p
        assert_clean(p["lastTest"])
    else:
        # Refused by the config validator: also never connected.
        assert any(e["pointer"] == "/config/endpoint"
                   for e in p["errors"]), p
    assert WRONG_KEY not in r.text and FORGED_SIG not in r.text
    assert_no_loopback_hit(v4, v6)


def test_default_endpoint_is_azure_and_fails_at_connect(api):
    """Without an endpoint the probe goes to <account>.blob.core.windows.net;
    for an account that does not exist (or without network) that fails at
    connect, whatever the machine's network."""
    r = api.post(LIST, json={"name": uname("az"),
                             "destinationType": "azure_blob",
                             "config": {"accountName": "backupdnowhere1",
                                        "container": "probe-c1",
                                        "accountKey": WRONG_KEY}})
    p = assert_problem(r, 422)
    assert p.get("failedCheck") == "connect", p
    # The name resolves to a blackholed address for the run (egress_guard):
    # the connection itself failed, whatever the machine's network.
    assert "does not resolve" not in detail_of(p["lastTest"], "connect"), p
    assert WRONG_KEY not in r.text


def test_ssrf_listener_works(loopback_listeners):
    """The listeners do see a real connection (so 0 above means none)."""
    assert_listeners_count(*loopback_listeners)


# ------------------------------------------------------------- secrets


def test_zz_secrets_never_in_responses_or_logs(env, api, peer):
    cont = container(peer)
    d, _ = create_ok(api, body(peer.endpoint(DEVSTORE), cont,
                               key=DEVSTORE_KEY))
    r = api.get("%s/%s" % (LIST, d["id"]))
    assert r.json()["config"]["accountKey"] == PLACEHOLDER
    time.sleep(0.3)  # let log writers flush
    needles = [s.encode() for s in SECRETS]
    for b in list(SEEN_BODIES):
        for n in needles:
            assert n not in b, (n, b[:300])
    for k, data in service_logs(env):
        for n in needles:
            assert n not in data, (k, n)


# ------------------------------------------------------------- redirects


@pytest.mark.parametrize("status", [301, 302, 307])
def test_redirect_is_not_followed(api, peer, status):
    """An endpoint that answers with a redirect fails (the first request is
    the container check, signed: auth) and says so; the redirect's target,
    which would take the signed request, sees nothing."""
    target = ScriptedHttp(peer.host, lambda m, p: (0, 200, {}, b""))
    srv = ScriptedHttp(peer.host, lambda m, p: (
        0, status, {"Location": target.url(p)}, b""))
    try:
        p, tr = create_fails(api, body(srv.url("/" + DEVSTORE), "probe-c1",
                                       key=DEVSTORE_KEY), "auth")
        assert "redirect (HTTP %d)" % status in detail_of(tr, "auth"), tr
        assert len(srv.requests) == 1, srv.requests
        time.sleep(0.1)
        assert target.requests == [], target.requests
    finally:
        srv.close()
        target.close()


# --------------------------------------------------- placeholder vs location


@pytest.mark.parametrize("cred", ["key", "sas"])
def test_placeholder_does_not_follow_a_new_endpoint(api, peer, cred):
    """The account key or SAS token is kept by "********" only for the
    endpoint and account it was stored with: a new endpoint (a server of
    one's own) or another account name with placeholders is refused at that
    field, and the new server sees nothing."""
    cont = container(peer)
    if cred == "key":
        b = body(peer.endpoint(DEVSTORE), cont, key=DEVSTORE_KEY)
    else:
        b = body(peer.endpoint(DEVSTORE), cont,
                 sas=remember(account_sas(DEVSTORE, DEVSTORE_KEY, "rwdlac")))
    d, _ = create_ok(api, b)
    secret = "accountKey" if cred == "key" else "sasToken"
    evil = ScriptedHttp(peer.host, lambda m, p: (0, 200, {}, b""))
    try:
        nb = body(evil.url("/" + DEVSTORE), cont, name=d["name"])
        nb["config"][secret] = PLACEHOLDER
        assert_placeholder_refused(api, d, nb, ["/config/endpoint"], evil)
        nb = body(peer.endpoint(DEVSTORE), cont, name=d["name"],
                  account="otheraccount")
        nb["config"][secret] = PLACEHOLDER
        assert_placeholder_refused(api, d, nb, ["/config/accountName"])
    finally:
        evil.close()


def test_stalled_upload_fails_write_within_the_deadline(api, peer):
    """An endpoint that answers the container check at once and never
    answers the upload: the write check fails (not a second, out-of-order
    connect check), within probe_timeout."""
    srv = ScriptedHttp(peer.host, lambda m, p: None if m == "PUT"
                       else (0, 200, {}, b""))
    try:
        t0 = time.monotonic()
        p, tr = create_fails(api, body(srv.url("/" + DEVSTORE), "probe-c1",
                                       key=DEVSTORE_KEY), "write")
        assert time.monotonic() - t0 < PROBE_TIMEOUT + 1.5
        assert [c["name"] for c in tr["checks"]] == \
            ["connect", "auth", "target", "write"], tr
        assert "did not answer in time" in detail_of(tr, "write"), tr
    finally:
        srv.close()


# ------------------------------------------- issue 9: SAS expiry (se)

def _now():
    return dt.datetime.now(dt.timezone.utc)


def _se(delta):
    return (_now() + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_sas_expiring_soon_sets_credentials_expiring(api, peer):
    """A SAS that expires within 14 days: the test passes with a warning,
    observed.credentialsExpireAt, and statusReason credentials_expiring
    while status stays active; on create, GET, POST /test and in the
    list. A new SAS that lasts clears it."""
    cont = container(peer)
    se = _se(dt.timedelta(days=5, hours=1))
    sas = remember(service_sas(DEVSTORE, DEVSTORE_KEY, cont, "racwd", se=se))
    d, tr = create_ok(api, body(peer.endpoint(DEVSTORE), cont, sas=sas))
    assert tr["observed"] == {"credentialsExpireAt": rfc(se)}, tr
    want = "the SAS token expires on %s (in 5 days): renew it before then" \
        % rfc(se)
    assert want in tr["warnings"], tr
    assert (d["status"], d["statusReason"]) == \
        ("active", "credentials_expiring"), d
    path = "%s/%s" % (LIST, d["id"])
    g = api.get(path).json()
    assert (g["status"], g["statusReason"]) == \
        ("active", "credentials_expiring"), g
    assert g["lastTest"]["observed"] == tr["observed"], g
    r = api.post(path + "/test")
    assert r.status_code == 200, r.text
    assert r.json()["observed"] == {"credentialsExpireAt": rfc(se)}
    assert want in r.json()["warnings"]
    g = api.get(path).json()
    assert (g["status"], g["statusReason"], g["consecutiveFailures"]) == \
        ("active", "credentials_expiring", 0), g
    [li] = [x for x in api.list(status="active") if x["id"] == d["id"]]
    assert li["statusReason"] == "credentials_expiring", li

    # A SAS valid for 60 days: observed still, no warning, no reason.
    se2 = _se(dt.timedelta(days=60))
    sas2 = remember(service_sas(DEVSTORE, DEVSTORE_KEY, cont, "racwd",
                                se=se2))
    r = api.put(path, json=body(peer.endpoint(DEVSTORE), cont, sas=sas2,
                                name=d["name"]))
    assert r.status_code == 200, r.text
    g = r.json()
    assert (g["status"], g["statusReason"]) == ("active", None), g
    assert g["lastTest"]["observed"] == {"credentialsExpireAt": rfc(se2)}
    assert not any("expires on" in w for w in g["lastTest"]["warnings"]), g


@pytest.mark.parametrize("form", ["date", "minutes", "seconds", "fraction"])
def test_sas_expiry_forms(api, peer, form):
    """The se forms Microsoft documents, accepted by Azurite as signed,
    read by the probe to the same instant."""
    day = (_now() + dt.timedelta(days=40)).date().isoformat()
    se, want = {
        "date": (day, day + "T00:00:00.000Z"),
        "minutes": (day + "T10:30Z", day + "T10:30:00.000Z"),
        "seconds": (day + "T10:30:45Z", day + "T10:30:45.000Z"),
        "fraction": (day + "T10:30:45.1234567Z", day + "T10:30:45.123Z"),
    }[form]
    cont = container(peer)
    sas = remember(service_sas(DEVSTORE, DEVSTORE_KEY, cont, "racwd", se=se))
    d, tr = create_ok(api, body(peer.endpoint(DEVSTORE), cont, sas=sas))
    assert tr["observed"] == {"credentialsExpireAt": want}, tr
    assert d["statusReason"] is None, d


def test_account_key_reports_no_expiry(api, peer):
    cont = container(peer)
    d, tr = create_ok(api, body(peer.endpoint(DEVSTORE), cont,
                                key=DEVSTORE_KEY))
    assert "observed" not in tr or "credentialsExpireAt" not in \
        tr["observed"], tr
    assert d["statusReason"] is None, d


def test_sas_expiring_during_the_test_is_auth(api, peer, front):
    """The SAS is still valid when the probe looks at it, and has expired
    when Azurite sees the request (the front holds it 3.5 s): Azurite's
    own refusal (403 AuthorizationFailure; Azure says AuthenticationFailed)
    becomes "expired on", from the token's se."""
    cont = container(peer)
    front.rules[cont] = {"delay": 3.5}
    se = _se(dt.timedelta(seconds=2))
    sas = remember(service_sas(DEVSTORE, DEVSTORE_KEY, cont, "racwd", se=se))
    n0 = front.count()
    try:
        p, tr = create_fails(api, body(front.endpoint(), cont, sas=sas),
                             "auth")
    finally:
        del front.rules[cont]
    assert [c["name"] for c in tr["checks"]] == ["connect", "auth"], tr
    assert detail_of(tr, "auth") == \
        "the SAS token expired on %s; create a new one" % rfc(se), tr
    log = front.log_since(n0)
    assert [(q["status"], q["code"], q["front"]) for q in log] == \
        [(403, "AuthorizationFailure", False)], log


# ------------------------------------- issue 9: permissions per step

@pytest.mark.parametrize("perms", ["rcd", "rwd"])
def test_create_or_write_is_enough_to_write(api, peer, perms):
    """The minimum container SAS: r, d and either c or w."""
    cont = container(peer)
    sas = remember(service_sas(DEVSTORE, DEVSTORE_KEY, cont, perms))
    d, tr = create_ok(api, body(peer.endpoint(DEVSTORE), cont, sas=sas))
    assert probe_blobs(peer, cont) == []
    assert not [w for w in tr["warnings"] if "refused" in w], tr


def test_account_sas_without_object_resource_type_is_write(api, peer):
    """An account SAS with srt=sc reads the container but may not touch
    blobs: the write step names the missing resource type."""
    cont = container(peer)
    sas = remember(account_sas(DEVSTORE, DEVSTORE_KEY, "rwdlac",
                               resource_types="sc"))
    p, tr = create_fails(api, body(peer.endpoint(DEVSTORE), cont, sas=sas),
                         "write")
    assert detail_of(tr, "write") == (
        "uploading the probe object was refused "
        "(AuthorizationResourceTypeMismatch): the account SAS needs the o "
        "(object) resource type in srt"), tr


# ------------------------------------------ issue 9: immutable storage

def _worm(peer, front, **rule):
    cont = container(peer)
    front.rules[cont] = rule
    return cont


@pytest.mark.parametrize("cred", ["key", "sas"])
def test_immutability_policy_keeps_the_probe_object(api, peer, front, cred):
    """Delete Blob refused with 409 BlobImmutableDueToPolicy: the test
    passes, the delete check says the object was kept, a warning says until
    when, observed.objectLock carries the policy Get Blob reported."""
    until = (_now() + dt.timedelta(days=30)).replace(microsecond=0)
    cont = _worm(peer, front, until=until, mode="unlocked", legal_hold=False)
    if cred == "key":
        b = body(front.endpoint(), cont, key=DEVSTORE_KEY, prefix="worm")
    else:
        b = body(front.endpoint(), cont, prefix="worm", sas=remember(
            service_sas(DEVSTORE, DEVSTORE_KEY, cont, "racwd",
                        se=_se(dt.timedelta(days=90)))))
    n0 = front.count()
    d, tr = create_ok(api, b)
    ts = until.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert tr["observed"]["objectLock"] == {
        "mode": "unlocked", "retainUntil": ts, "legalHold": False}, tr
    assert detail_of(tr, "delete") == "the probe object was kept: an " \
        "immutability policy refuses deleting it", tr
    [left] = probe_blobs(peer, cont)
    assert left.startswith("worm/.backupd-probe-"), left
    w = [x for x in tr["warnings"] if "stays in container" in x]
    assert w == ["the probe object '%s' stays in container '%s' until its "
                 "retention ends on %s; delete it then"
                 % (left.split("/")[1], cont, ts)], tr
    assert d["status"] == "active" and d["statusReason"] is None, d
    refused_here = [q for q in front.log_since(n0) if q["front"]]
    assert [(q["method"], q["status"], q["code"]) for q in refused_here] == \
        [("DELETE", 409, "BlobImmutableDueToPolicy")], refused_here
    del front.rules[cont]
    peer.client(DEVSTORE).delete_blob(cont, left)


def test_legal_hold_keeps_the_probe_object(api, peer, front):
    cont = _worm(peer, front, legal_hold=True)
    d, tr = create_ok(api, body(front.endpoint(), cont, key=DEVSTORE_KEY))
    assert tr["observed"]["objectLock"] == {
        "mode": None, "retainUntil": None, "legalHold": True}, tr
    assert detail_of(tr, "delete") == \
        "the probe object was kept: a legal hold refuses deleting it", tr
    [left] = probe_blobs(peer, cont)
    assert ["the probe object '%s' stays in container '%s' until its legal "
            "hold is removed; delete it then" % (left, cont)] == \
        [x for x in tr["warnings"] if "stays in container" in x], tr
    del front.rules[cont]
    peer.client(DEVSTORE).delete_blob(cont, left)


def test_immutable_delete_without_d_is_the_permission(api, peer, front):
    """Azure authorizes before it looks at the blob: a SAS without d is
    refused for the permission (Azurite's own 403), not the policy."""
    until = _now() + dt.timedelta(days=3)
    cont = _worm(peer, front, until=until, legal_hold=False)
    sas = remember(service_sas(DEVSTORE, DEVSTORE_KEY, cont, "rcw"))
    d, tr = create_ok(api, body(front.endpoint(), cont, sas=sas))
    assert any(w.startswith("deleting the probe object was refused "
                            "(AuthorizationPermissionMismatch)")
               for w in tr["warnings"]), tr
    # Get Blob still reported the policy.
    assert tr["observed"]["objectLock"]["retainUntil"] is not None, tr
    del front.rules[cont]
    for n in probe_blobs(peer, cont):
        peer.client(DEVSTORE).delete_blob(cont, n)


# ------------------------------------------- issue 9: least privilege

@pytest.mark.parametrize("cred", ["key", "container-sas"])
def test_probe_stays_inside_the_container_and_prefix(api, peer, front, cred):
    """Every request a test makes (the front's log) is for the container
    or a blob under the prefix: no List Containers, no Create Container,
    no listing at all; a SAS scoped to the container alone passes."""
    cont = container(peer)
    if cred == "key":
        b = body(front.endpoint(), cont, key=DEVSTORE_KEY, prefix="a/b")
    else:
        b = body(front.endpoint(), cont, prefix="a/b", sas=remember(
            service_sas(DEVSTORE, DEVSTORE_KEY, cont, "rcwd")))
    n0 = front.count()
    d, tr = create_ok(api, b)
    r = api.post("%s/%s/test" % (LIST, d["id"]))
    assert r.status_code == 200, r.text
    log = front.log_since(n0)
    assert log, "nothing went through the front"
    cpath = "/%s/%s" % (DEVSTORE, cont)
    for q in log:
        assert "comp" not in q["query"], q  # no listing of any kind
        if q["path"] == cpath:
            # Get Container Properties only, never Create Container.
            assert (q["method"], q["query"][:1]) == ("GET", ["restype"]), q
        else:
            assert q["path"].startswith(cpath + "/a/b/.backupd-probe-"), q
            assert "restype" not in q["query"], q
    ops = [(q["method"], q["path"] == cpath) for q in log]
    if cred == "key":
        one = [("GET", True), ("PUT", False), ("GET", False),
               ("DELETE", False)]
    else:
        # Get Container Properties is refused to a container SAS; the
        # probe then asks for the (absent) probe blob.
        one = [("GET", True), ("GET", False), ("PUT", False),
               ("GET", False), ("DELETE", False)]
    assert ops == one * 2, log
