"""The S3 probe (issue 3) against a real server: s3rver (npm) for the S3
protocol flow, behind tests/peers/s3/sigv4_front.py, which recomputes every
request's Signature Version 4 with AWS's own botocore and rejects what AWS
would reject (InvalidAccessKeyId, SignatureDoesNotMatch, unsigned x-amz-*
headers, a missing or wrong x-amz-content-sha256, a wrong session token, a
wrong region with its x-amz-bucket-region hint) before s3rver sees it. Keys
with denied operations stand in for IAM policies. Both run on
$BACKUPD_TEST_PEER_HOST, over http and https (the test CA).

Proven here: success over https and http (with the plain-http warning), the
probe object written under the prefix, read back and gone afterwards; the
object escaping of odd prefixes (the signature still verifies); a wrong
secret, an unknown key id, a missing/wrong/expired session token -> auth;
a missing bucket -> target; a wrong region -> target naming the bucket's
region (and an invalid region header is never echoed); no PutObject ->
write; no ListBucket -> still ok (backups do not need it); no GetObject ->
read; no DeleteObject -> ok with a warning; storageClass sent as
x-amz-storage-class (and refused when unknown); nothing listening ->
connect, fast; a server that never answers -> bounded by probe_timeout;
SSRF spellings refused before connecting; no secret, token or S3 XML in
any response or log.

Issue 9 (items 4, 5): observed.bucketRegion from x-amz-bucket-region; a
301 PermanentRedirect (another region's bucket) and an
AuthorizationHeaderMalformed (wrong signing region) say which region to
set; Object Lock (the front emulates versioning and Object Lock per
bucket) becomes observed.objectLock and a warning that the probe object
stays until its retention ends; a versioned bucket gets its probe version
deleted; a key scoped to one prefix (the front decides as IAM would for
the policy of docs/destinations/s3.md) passes, and the front's full
request log of a probe holds only ListObjectsV2/PutObject/GetObject/
DeleteObject(Version) under the prefix, never ListBuckets, CreateBucket or
HeadBucket; each step's 403 names the permission it needs.
"""

import base64
import hashlib
import os
import re
import time
import uuid
from pathlib import Path
from urllib.parse import unquote

import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import (PLACEHOLDER, SEEN_BODIES, assert_problem,
                      assert_test_result, register_secrets)
from probe_helpers import (PEERS, PROBE_TIMEOUT, ScriptedHttp, SilentServer,
                           assert_bounded, assert_placeholder_refused,
                           assert_fast_refusal, assert_listeners_count,
                           assert_no_loopback_hit, assert_sentences, created,
                           dest_body, detail_of, free_port, load_by_path,
                           peer_host, refused, running, service_logs)
from probe_helpers import URL_SSRF_HOSTS as SSRF_HOSTS

S3Peer = load_by_path("backupd_s3_peer", PEERS / "s3" / "s3_peer.py").S3Peer

LIST = "/backup-destinations"
REGION = "eu-west-1"
BUCKET = "backupd-test"
# Buckets the front treats specially (tests/peers/s3/sigv4_front.py).
MOVED = "moved-bucket"            # in eu-central-1: 301 PermanentRedirect
VERSIONED = "versioned-bucket"    # versioning enabled
LOCKED = "locked-bucket"          # Object Lock, COMPLIANCE 1 day default
SCOPE = "scoped/"                 # AKIDSCOPED may use only this prefix
# Sentinel secrets: they must never show up in a response or a log.
SECRET = "s3secret-%s" % uuid.uuid4().hex
WRONG = "s3wrong-%s" % uuid.uuid4().hex
TOKEN = "s3token-%s" % uuid.uuid4().hex
SENTINELS = (SECRET, WRONG, TOKEN)
register_secrets("s3", *SENTINELS)
ALL_CHECKS = ["connect", "auth", "target", "write", "read", "delete"]
# observed.tls of every test over https (test_probe_connections.py).
TLS = {"version": "TLSv1.3", "verified": True}
# S3's error documents (and the front's messages) must never reach a detail.
S3_TEXT = re.compile(
    r"[<>]|xml|Error|Message|RequestId|calculated|signing method|"
    r"does not exist in our records|malformed|Access Denied|"
    r"specified bucket|Check your key")

KEYS = {
    "AKIDMAIN": {"secret": SECRET},
    "AKIDREADONLY": {"secret": SECRET, "deny": ["put"]},
    "AKIDNOREAD": {"secret": SECRET, "deny": ["get"]},
    "AKIDNODELETE": {"secret": SECRET, "deny": ["delete"]},
    "AKIDNOLIST": {"secret": SECRET, "deny": ["list"]},
    "AKIDNOLISTNOPUT": {"secret": SECRET, "deny": ["list", "put"]},
    "AKIDTOKEN": {"secret": SECRET, "token": TOKEN},
    "AKIDEXPIRED": {"secret": SECRET, "token": TOKEN, "expired": True},
    "AKIDSLOWDOWN": {"secret": SECRET, "errors": {"list": [503, "SlowDown"]}},
    "AKIDGARBLED": {"secret": SECRET,
                    "errors": {"put": [500, "No Such<b>Code</b>"]}},
    "AKIDDELETE409": {"secret": SECRET,
                      "errors": {"delete": [409, "OperationAborted"]}},
    "AKIDNOVERSIONDELETE": {"secret": SECRET, "deny": ["delete-version"]},
    "AKIDNORETENTION": {"secret": SECRET,
                        "deny": ["get-retention", "get-legal-hold"]},
    "AKIDSCOPED": {"secret": SECRET, "prefix": SCOPE, "bucket": BUCKET},
}
BUCKET_CONFIG = {
    MOVED: {"region": "eu-central-1"},
    VERSIONED: {"versioning": True},
    LOCKED: {"object_lock": {"mode": "COMPLIANCE", "days": 1}},
}
# What a probe may call (item 5): nothing else, ever.
PROBE_OPS = {"ListObjectsV2", "PutObject", "GetObject", "DeleteObject",
             "DeleteObjectVersion"}


@pytest.fixture(scope="module")
def peer(env):
    host, pki = peer_host()
    root = Path(env["BACKUPD_STACK_DIR"]) / "peers" / "s3"
    yield from running(S3Peer(
        root, host, pki, region=REGION, buckets=[BUCKET, VERSIONED, LOCKED],
        keys=KEYS, region_hint={"weird-region": "EU_WEST;1<x>"},
        bucket_config=BUCKET_CONFIG))


def body(peer, tls=True, name=None, **cfg):
    """cfg overrides the defaults; None leaves a member out."""
    return dest_body("s3", "s3", name, **{
        "endpoint": peer.url(tls), "region": REGION, "bucket": BUCKET,
        "prefix": "it/%s" % uuid.uuid4().hex[:8],
        "accessKeyId": "AKIDMAIN", "secretAccessKey": SECRET,
        "forcePathStyle": True, **cfg})


def assert_clean(tr):
    assert_sentences(tr, SENTINELS, S3_TEXT)


def create_ok(api, b):
    r, d, tr = created(api, b, secrets=SENTINELS)
    assert_clean(tr)
    assert d["config"]["secretAccessKey"] == PLACEHOLDER, d["config"]
    return d, tr


def create_fails(api, b, check):
    r, p, tr = refused(api, b, check, SENTINELS, S3_TEXT)
    assert_clean(tr)
    return p, tr


def since(peer, tls, n):
    return peer.requests(tls)[n:]


def assert_least_privilege(reqs, bucket, prefix):
    """Every request of a probe is one of PROBE_OPS on `bucket`, each
    object key and the list prefix under `prefix` (a folder)."""
    assert reqs, "no request"
    for q in reqs:
        assert q["op"] in PROBE_OPS, q
        assert q["path"].split("/")[1] == bucket, q
        if q["op"] == "ListObjectsV2":
            assert (q["list_prefix"] or "").startswith(prefix), q
            assert "max-keys=1" in q["query"].split("&"), q
        else:
            assert q["key"].startswith(prefix), q
            assert q["key"][len(prefix):].startswith(".backupd-probe-"), q


def ops(reqs):
    return [(q["op"], q["status"]) for q in reqs]


def kept(peer, bucket):
    """The probe objects s3rver holds in bucket (it keeps 3 files each)."""
    return sorted({re.sub(r"\._S3rver_.*$", "", f)
                   for f in peer.probe_objects(bucket)})


def remove_probe_objects(peer, bucket):
    for f in peer.probe_objects(bucket):
        os.unlink(f)


# ------------------------------------------------------------- success


def test_success_https(api, peer):
    n = len(peer.requests(True))
    b = body(peer)
    d, tr = create_ok(api, b)
    assert tr["warnings"] == [], tr
    # the front answers the listing with x-amz-bucket-region
    assert tr["observed"] == {"bucketRegion": REGION, "tls": TLS}, tr
    assert tr["capacity"] is None, tr
    assert detail_of(tr, "target") == "bucket '%s' exists" % BUCKET, tr
    assert detail_of(tr, "auth") == "the credentials were accepted", tr
    assert peer.probe_objects(BUCKET) == [], "probe object left behind"

    # What the verifying front saw: four requests, each signed by AWS's
    # rules (it rejects anything else), the payload hash signed with them.
    reqs = since(peer, True, n)
    assert [(q["method"], q["status"]) for q in reqs] == [
        ("GET", 200), ("PUT", 200), ("GET", 200), ("DELETE", 204)], reqs
    prefix = b["config"]["prefix"] + "/"
    assert reqs[0]["path"] == "/" + BUCKET, reqs[0]
    assert reqs[0]["query"] == "list-type=2&max-keys=1&prefix=%s" % \
        prefix.replace("/", "%2F"), reqs[0]
    key = reqs[1]["path"]
    assert re.match(r"^/%s/%s\.backupd-probe-[0-9a-f]{16}$" % (
        BUCKET, re.escape(prefix)), key), key
    assert all(q["path"] == key for q in reqs[1:]), reqs
    for q in reqs:
        assert q["region"] == REGION and q["akid"] == "AKIDMAIN", q
        for h in ("host", "x-amz-date", "x-amz-content-sha256"):
            assert h in q["signed"], q
    assert reqs[1]["body_len"] == 64, reqs[1]
    assert peer.last_put(True) == key
    # a plain upload carries no flexible checksum (S3-compatible servers
    # that predate them refuse the headers); only Object Lock asks for it
    assert not any(h.startswith("x-amz-checksum-") or
                   h == "x-amz-sdk-checksum-algorithm"
                   for h in reqs[1]["amz_headers"]), reqs[1]
    assert [q["op"] for q in reqs] == ["ListObjectsV2", "PutObject",
                                       "GetObject", "DeleteObject"], reqs
    assert_least_privilege(reqs, BUCKET, prefix)

    r = api.post("%s/%s/test" % (LIST, d["id"]))
    assert r.status_code == 200, r.text
    tr2 = r.json()
    assert assert_test_result(tr2, ok=True) == ALL_CHECKS, tr2
    assert_clean(tr2)
    assert peer.probe_objects(BUCKET) == []


def test_success_http_warns(api, peer):
    d, tr = create_ok(api, body(peer, tls=False))
    assert any("plain http" in w and "unencrypted" in w
               for w in tr["warnings"]), tr
    assert peer.probe_objects(BUCKET) == []


def test_ip_endpoint_without_force_path_style_uses_path_style(api, peer):
    """An IP-literal endpoint cannot carry <bucket>. in front: the probe
    falls back to path style on its own (as AWS SDKs do)."""
    n = len(peer.requests(True))
    create_ok(api, body(peer, forcePathStyle=None))
    assert since(peer, True, n)[0]["path"] == "/" + BUCKET


def test_prefix_is_honoured_and_escaped(api, peer):
    """A prefix with spaces and reserved characters: each key segment is
    percent-encoded once, as SigV4 for S3 wants, or the front refuses the
    signature. The object lands under the prefix."""
    prefix = "/team a+b/nightly (x)/ü~"
    n = len(peer.requests(True))
    create_ok(api, body(peer, prefix=prefix))
    reqs = since(peer, True, n)
    put = [q for q in reqs if q["method"] == "PUT"]
    assert len(put) == 1, reqs
    assert put[0]["path"].startswith(
        "/%s/team%%20a%%2Bb/nightly%%20%%28x%%29/%%C3%%BC~/.backupd-probe-"
        % BUCKET), put
    assert unquote(put[0]["path"]).startswith(
        "/%s/team a+b/nightly (x)/ü~/.backupd-probe-" % BUCKET)
    assert "prefix=team%20a%2Bb%2Fnightly%20%28x%29%2F%C3%BC~%2F" in \
        reqs[0]["query"], reqs[0]
    assert peer.probe_objects(BUCKET) == []


def test_prefix_empty_writes_at_bucket_root(api, peer):
    n = len(peer.requests(True))
    create_ok(api, body(peer, prefix=None))
    reqs = since(peer, True, n)
    assert reqs[0]["query"] == "list-type=2&max-keys=1", reqs[0]
    assert re.match(r"^/%s/\.backupd-probe-[0-9a-f]{16}$" % BUCKET,
                    reqs[1]["path"]), reqs[1]


def test_session_token_is_sent_signed(api, peer):
    n = len(peer.requests(True))
    d, tr = create_ok(api, body(peer, accessKeyId="AKIDTOKEN",
                                sessionToken=TOKEN))
    assert d["config"]["sessionToken"] == PLACEHOLDER, d["config"]
    reqs = since(peer, True, n)
    assert len(reqs) == 4 and all(q["token_signed"] for q in reqs), reqs


def test_storage_class_is_sent(api, peer):
    n = len(peer.requests(True))
    create_ok(api, body(peer, storageClass="STANDARD_IA"))
    reqs = since(peer, True, n)
    put = [q for q in reqs if q["method"] == "PUT"][0]
    assert put["storage_class"] == "STANDARD_IA", put
    assert "x-amz-storage-class" in put["signed"], put
    # only on the upload
    assert all(q["storage_class"] is None for q in reqs
               if q["method"] != "PUT"), reqs


def test_update_keeps_secret_and_retests(api, peer):
    d, _ = create_ok(api, body(peer))
    cfg = dict(d["config"])
    assert cfg["secretAccessKey"] == PLACEHOLDER
    n = len(peer.requests(True))
    r = api.put("%s/%s" % (LIST, d["id"]),
                json={"name": d["name"], "destinationType": "s3",
                      "config": cfg})
    assert r.status_code == 200, r.text
    assert assert_test_result(r.json()["lastTest"], ok=True) == ALL_CHECKS
    assert len(since(peer, True, n)) == 4
    # a wrong secret on update: 422 auth, the stored config is unchanged
    cfg["secretAccessKey"] = WRONG
    r = api.put("%s/%s" % (LIST, d["id"]),
                json={"name": d["name"], "destinationType": "s3",
                      "config": cfg})
    p = assert_problem(r, 422)
    assert p["failedCheck"] == "auth", p
    assert WRONG not in r.text and SECRET not in r.text
    r = api.post("%s/%s/test" % (LIST, d["id"]))
    assert r.status_code == 200, r.text


# ------------------------------------------------------------- failures


@pytest.mark.parametrize("tls", [True, False])
def test_wrong_secret_is_auth(api, peer, tls):
    p, tr = create_fails(api, body(peer, tls=tls, secretAccessKey=WRONG),
                         "auth")
    assert detail_of(tr, "auth") == \
        "the secret access key does not match the access key id", tr
    assert [c["name"] for c in tr["checks"]] == ["connect", "auth"], tr


def test_unknown_key_is_auth(api, peer):
    p, tr = create_fails(api, body(peer, accessKeyId="AKIDUNKNOWN"), "auth")
    assert detail_of(tr, "auth") == \
        "the access key id is not known to the server", tr


def test_token_missing_or_wrong_is_auth(api, peer):
    p, tr = create_fails(api, body(peer, accessKeyId="AKIDTOKEN"), "auth")
    assert "session token" in detail_of(tr, "auth"), tr
    p, tr = create_fails(api, body(peer, accessKeyId="AKIDTOKEN",
                                   sessionToken=WRONG), "auth")
    assert "session token is not valid" in detail_of(tr, "auth"), tr


def test_expired_token_is_auth(api, peer):
    p, tr = create_fails(api, body(peer, accessKeyId="AKIDEXPIRED",
                                   sessionToken=TOKEN), "auth")
    assert detail_of(tr, "auth") == "the session token has expired", tr


def test_missing_bucket_is_target(api, peer):
    p, tr = create_fails(api, body(peer, bucket="no-such-bucket-here"),
                         "target")
    assert detail_of(tr, "target") == \
        "bucket 'no-such-bucket-here' does not exist", tr
    assert detail_of(tr, "auth") == "the credentials were accepted", tr


def test_wrong_region_names_the_buckets_region(api, peer):
    """400 AuthorizationHeaderMalformed (signed for us-east-1, the bucket
    answers from eu-west-1): the detail says which region to set."""
    p, tr = create_fails(api, body(peer, region="us-east-1"), "target")
    assert detail_of(tr, "target") == \
        "bucket '%s' is in region '%s', not 'us-east-1': set region to " \
        "'%s'" % (BUCKET, REGION, REGION), tr
    assert tr["observed"] == {"bucketRegion": REGION, "tls": TLS}, tr


def test_permanent_redirect_names_the_region_to_set(api, peer):
    """A bucket of another region reached through this region's endpoint:
    301 PermanentRedirect with x-amz-bucket-region and <Endpoint>. The
    redirect is not followed; the detail says to set the region (and,
    the endpoint being configured, one of that region)."""
    n = len(peer.requests(True))
    p, tr = create_fails(api, body(peer, bucket=MOVED), "target")
    assert detail_of(tr, "target") == (
        "bucket '%s' is in region 'eu-central-1', not '%s': set region to "
        "'eu-central-1' and an endpoint of that region" % (MOVED, REGION)), tr
    assert tr["observed"] == {"bucketRegion": "eu-central-1", "tls": TLS}, \
        tr
    assert [c["name"] for c in tr["checks"]] == ["connect", "target"], tr
    reqs = since(peer, True, n)
    assert ops(reqs) == [("ListObjectsV2", 301)], reqs


def test_invalid_region_header_is_not_echoed(api, peer):
    """The front answers this bucket with x-amz-bucket-region: EU_WEST;1<x>
    — not a region name, so it is not quoted nor observed; the region
    comes from the error's <Region> element instead (issue 9 item 4)."""
    p, tr = create_fails(api, body(peer, region="us-east-1",
                                   bucket="weird-region"), "target")
    d = detail_of(tr, "target")
    assert d == "bucket 'weird-region' is in region '%s', not " \
        "'us-east-1': set region to '%s'" % (REGION, REGION), tr
    assert tr["observed"] == {"bucketRegion": REGION, "tls": TLS}, tr
    assert "EU_WEST" not in p["detail"] and "EU_WEST" not in str(p)


def test_readonly_key_is_write(api, peer):
    b = body(peer, accessKeyId="AKIDREADONLY")
    p, tr = create_fails(api, b, "write")
    assert detail_of(tr, "write") == "uploading the probe object was " \
        "refused (AccessDenied): the key needs s3:PutObject on %s/%s/*" % (
            BUCKET, b["config"]["prefix"]), tr
    assert peer.probe_objects(BUCKET) == []


def test_unknown_storage_class_is_write(api, peer):
    p, tr = create_fails(api, body(peer, storageClass="NO_SUCH_CLASS"),
                         "write")
    assert detail_of(tr, "write") == \
        "the server does not accept storage class 'NO_SUCH_CLASS'", tr


def test_no_read_permission_is_read_and_cleans_up(api, peer):
    b = body(peer, accessKeyId="AKIDNOREAD")
    p, tr = create_fails(api, b, "read")
    assert "s3:GetObject" in detail_of(tr, "read"), tr
    assert detail_of(tr, "read") == "reading the probe object back was " \
        "refused (AccessDenied): the key needs s3:GetObject on %s/%s/*, " \
        "which restores need" % (BUCKET, b["config"]["prefix"]), tr
    # the probe object written before the failed read is removed
    assert peer.probe_objects(BUCKET) == []


def test_listing_not_permitted_is_fine(api, peer):
    """Backups need PutObject/GetObject/DeleteObject, not ListBucket: a key
    without it passes, the upload confirming the bucket."""
    d, tr = create_ok(api, body(peer, accessKeyId="AKIDNOLIST"))
    assert detail_of(tr, "target") == "bucket '%s' exists (listing not " \
        "permitted: s3:ListBucket on '%s' is optional, backups do not need " \
        "it)" % (BUCKET, BUCKET), tr
    assert peer.probe_objects(BUCKET) == []


def test_listing_not_permitted_missing_bucket_is_target(api, peer):
    p, tr = create_fails(api, body(peer, accessKeyId="AKIDNOLIST",
                                   bucket="no-such-bucket-here"), "target")
    assert detail_of(tr, "target") == \
        "bucket 'no-such-bucket-here' does not exist", tr


def test_neither_list_nor_put_is_write(api, peer):
    p, tr = create_fails(api, body(peer, accessKeyId="AKIDNOLISTNOPUT",
                                   prefix=None), "write")
    assert detail_of(tr, "write") == "uploading the probe object was " \
        "refused (AccessDenied): the key needs s3:PutObject on %s/*" % \
        BUCKET, tr
    # the bucket was never confirmed, so no target check claims it
    assert "target" not in [c["name"] for c in tr["checks"]], tr


def test_refused_delete_is_a_warning(api, peer):
    b = body(peer, accessKeyId="AKIDNODELETE")
    d, tr = create_ok(api, b)
    assert detail_of(tr, "delete") == \
        "the probe object was kept: deleting is not permitted", tr
    assert len(tr["warnings"]) == 1, tr
    assert "could not delete the probe object" in tr["warnings"][0], tr
    assert "remove it by hand" in tr["warnings"][0], tr
    prefix = b["config"]["prefix"] + "/"
    assert re.fullmatch(
        r"could not delete the probe object '%s\.backupd-probe-[0-9a-f]{16}' "
        r"in bucket '%s': deleting was refused \(AccessDenied\): the key "
        r"needs s3:DeleteObject on %s/%s\*; remove it by hand" % (
            re.escape(prefix), BUCKET, BUCKET, re.escape(prefix)),
        tr["warnings"][0]), tr
    left = peer.probe_objects(BUCKET)
    assert left, "the object should still be there"
    for f in left:
        os.unlink(f)


def test_unexpected_answer_names_a_clean_code(api, peer):
    p, tr = create_fails(api, body(peer, accessKeyId="AKIDSLOWDOWN"),
                         "target")
    assert detail_of(tr, "target") == "the server answered HTTP 503 " \
        "(SlowDown) while listing the bucket", tr


def test_unexpected_answer_never_echoes_an_odd_code(api, peer):
    p, tr = create_fails(api, body(peer, accessKeyId="AKIDGARBLED"), "write")
    assert detail_of(tr, "write") == "the server answered HTTP 500 while " \
        "uploading the probe object", tr
    assert "Such" not in str(p)


def test_other_delete_refusal_is_a_warning(api, peer):
    d, tr = create_ok(api, body(peer, accessKeyId="AKIDDELETE409"))
    assert "kept" in detail_of(tr, "delete"), tr
    assert len(tr["warnings"]) == 1, tr
    assert "HTTP 409 (OperationAborted)" in tr["warnings"][0], tr
    for f in peer.probe_objects(BUCKET):
        os.unlink(f)


# ------------------------------------------------------------- transport


def test_tls_to_plain_port_is_connect(api, peer):
    b = body(peer, tls=False)
    b["config"]["endpoint"] = b["config"]["endpoint"].replace("http://",
                                                              "https://")
    create_fails(api, b, "connect")


def test_nothing_listening_is_connect_and_fast(api, peer):
    port = free_port(peer.host)
    b = body(peer)
    b["config"]["endpoint"] = "http://%s:%d" % (peer.host, port)
    t0 = time.monotonic()
    p, tr = create_fails(api, b, "connect")
    assert_fast_refusal(t0, tr)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_accepts_and_never_answers_is_bounded(api, peer, scheme):
    srv = SilentServer(peer.host)
    try:
        b = body(peer)
        b["config"]["endpoint"] = "%s://%s:%d" % (scheme, peer.host,
                                                  srv.port)
        t0 = time.monotonic()
        p, tr = create_fails(api, b, "connect")
        assert_bounded(t0, srv, tr)
    finally:
        srv.close()


# ------------------------------------------------------------------ SSRF

@pytest.mark.parametrize("path_style", [True, False])
@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("host", SSRF_HOSTS)
def test_ssrf_refused_before_connecting(api, peer, loopback_listeners, host,
                                        scheme, path_style):
    v4, v6 = loopback_listeners
    b = body(peer, forcePathStyle=path_style)
    b["config"]["endpoint"] = "%s://%s:%d" % (scheme, host, v4.port)
    r = api.post(LIST, json=b)
    p = assert_problem(r, 422)
    if "failedCheck" in p:
        assert p["failedCheck"] == "connect", p
        d = detail_of(p["lastTest"], "connect")
        if not path_style and host.lower() == "localhost":
            # virtual-hosted: <bucket>.localhost, which this host's
            # resolver may not know; either way nothing connected
            assert "egress policy" in d or "does not resolve" in d, p
        else:
            assert "egress policy" in d, p
        assert [c["name"] for c in p["checks"]] == ["connect"], p
        assert_clean(p["lastTest"])
    else:
        # Refused by the config validator: also never connected.
        assert any(e["pointer"] == "/config/endpoint"
                   for e in p["errors"]), p
    for s in SENTINELS:
        assert s not in r.text
    assert_no_loopback_hit(v4, v6)


def test_ssrf_listener_works(loopback_listeners):
    """The listeners do see a real connection (so 0 above means none)."""
    assert_listeners_count(*loopback_listeners)


# ------------------------------------------------------------- secrets


def test_zz_secrets_never_in_responses_or_logs(env, api, peer):
    d, _ = create_ok(api, body(peer, accessKeyId="AKIDTOKEN",
                               sessionToken=TOKEN))
    r = api.get("%s/%s" % (LIST, d["id"]))
    assert r.json()["config"]["secretAccessKey"] == PLACEHOLDER
    assert r.json()["config"]["sessionToken"] == PLACEHOLDER
    for s in SENTINELS:
        enc = s.encode()
        assert not any(enc in b for b in SEEN_BODIES), \
            "a sentinel secret appeared in a response"
    for key, data in service_logs(env):
        for s in SENTINELS:
            assert s.encode() not in data, "%s in %s" % (s, key)


# ------------------------------------------------------------- redirects


def test_redirect_is_not_followed(api, peer):
    """An endpoint that answers 301 (S3's answer for a bucket to be reached
    elsewhere) fails the target check and says so; the redirect's target,
    which would take the signed request, sees nothing."""
    target = ScriptedHttp(peer.host, lambda m, p: (0, 200, {}, b""))
    srv = ScriptedHttp(peer.host, lambda m, p: (
        0, 301, {"Location": target.url(p)}, b""))
    try:
        p, tr = create_fails(api, body(peer, endpoint=srv.url("")), "target")
        assert detail_of(tr, "target") == (
            "bucket '%s' must be addressed through another endpoint or "
            "region than '%s'" % (BUCKET, REGION)), tr
        assert len(srv.requests) == 1, srv.requests
        time.sleep(0.1)
        assert target.requests == [], target.requests
    finally:
        srv.close()
        target.close()


@pytest.mark.parametrize("status", [302, 307, 308])
def test_other_redirects_are_not_followed(api, peer, status):
    target = ScriptedHttp(peer.host, lambda m, p: (0, 200, {}, b""))
    srv = ScriptedHttp(peer.host, lambda m, p: (
        0, status, {"Location": target.url(p)}, b""))
    try:
        p, tr = create_fails(api, body(peer, endpoint=srv.url("")),
                             "target")
        assert detail_of(tr, "target") == \
            "the server answered HTTP %d while listing the bucket" % status
        assert len(srv.requests) == 1, srv.requests
        time.sleep(0.1)
        assert target.requests == [], target.requests
    finally:
        srv.close()
        target.close()


# --------------------------------------------------- placeholder vs location


def test_placeholder_does_not_follow_a_new_endpoint(api, peer):
    """The secret access key and the session token are kept by "********"
    only for the endpoint they were stored with: pointing the destination
    at a server of one's own with placeholders is refused at
    /config/endpoint, and that server sees nothing."""
    d, _ = create_ok(api, body(peer, accessKeyId="AKIDTOKEN",
                               sessionToken=TOKEN))
    evil = ScriptedHttp(peer.host, lambda m, p: (0, 200, {}, b""))
    try:
        b = body(peer, name=d["name"], endpoint=evil.url(""),
                 prefix=d["config"]["prefix"], accessKeyId="AKIDTOKEN",
                 secretAccessKey=PLACEHOLDER, sessionToken=PLACEHOLDER)
        assert_placeholder_refused(api, d, b, ["/config/endpoint"], evil)
        # Leaving the endpoint out (AWS's default) is a change too.
        b["config"].pop("endpoint")
        assert_placeholder_refused(api, d, b, ["/config/endpoint"], evil)
    finally:
        evil.close()


def test_stalled_upload_fails_write_within_the_deadline(api, peer):
    """An endpoint that answers the bucket listing at once and never
    answers the upload: the write check fails (not a second, out-of-order
    connect check), within probe_timeout."""
    def answer(method, path):
        if method == "PUT":
            return None
        return 0, 200, {"Content-Type": "application/xml"}, (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult '
            b'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>%s'
            b'</Name><KeyCount>0</KeyCount></ListBucketResult>'
            % BUCKET.encode())
    srv = ScriptedHttp(peer.host, answer)
    try:
        t0 = time.monotonic()
        p, tr = create_fails(api, body(peer, endpoint=srv.url("")), "write")
        assert time.monotonic() - t0 < PROBE_TIMEOUT + 1.5
        assert [c["name"] for c in tr["checks"]] == \
            ["connect", "auth", "target", "write"], tr
        assert "did not answer in time" in detail_of(tr, "write"), tr
    finally:
        srv.close()


# ------------------------------------------- versioning and Object Lock


def test_versioned_bucket_deletes_the_probe_version(api, peer):
    """A versioned bucket: the upload answers x-amz-version-id, and the
    probe deletes that version (nothing stays, no delete marker)."""
    n = len(peer.requests(True))
    b = body(peer, bucket=VERSIONED)
    d, tr = create_ok(api, b)
    assert tr["warnings"] == [], tr
    assert detail_of(tr, "delete") == \
        "deleted the probe object and its version", tr
    assert tr["observed"] == {"bucketRegion": REGION, "tls": TLS}, tr
    reqs = since(peer, True, n)
    assert ops(reqs) == [("ListObjectsV2", 200), ("PutObject", 200),
                         ("GetObject", 200), ("DeleteObjectVersion", 204)]
    assert re.fullmatch(r"versionId=[0-9a-f]{32}", reqs[3]["query"]), reqs
    assert_least_privilege(reqs, VERSIONED, b["config"]["prefix"] + "/")
    assert peer.probe_objects(VERSIONED) == []


def test_versioned_bucket_without_version_delete_warns(api, peer):
    """Without s3:DeleteObjectVersion the version stays behind a delete
    marker: the test passes and the warning names the permission."""
    n = len(peer.requests(True))
    b = body(peer, bucket=VERSIONED, accessKeyId="AKIDNOVERSIONDELETE")
    d, tr = create_ok(api, b)
    prefix = b["config"]["prefix"] + "/"
    assert detail_of(tr, "delete") == "the probe object is hidden by a " \
        "delete marker; its version was kept", tr
    assert "objectLock" not in tr["observed"], tr
    key = since(peer, True, n)[1]["key"]
    assert tr["warnings"] == [
        "the probe object '%s' stays as an old version: deleting its "
        "version was refused (AccessDenied): the key needs "
        "s3:DeleteObjectVersion on %s/%s* (or Object Lock retains it)" % (
            key, VERSIONED, prefix)], tr
    reqs = since(peer, True, n)
    assert ops(reqs) == [("ListObjectsV2", 200), ("PutObject", 200),
                         ("GetObject", 200), ("DeleteObjectVersion", 403),
                         ("DeleteObject", 204)], reqs
    assert_least_privilege(reqs, VERSIONED, prefix)
    assert len(kept(peer, VERSIONED)) == 1
    remove_probe_objects(peer, VERSIONED)


def test_object_lock_is_observed_and_the_object_stays(api, peer):
    """Object Lock with a COMPLIANCE default retention: GetObject reports
    it (observed.objectLock), the probe does not try to delete the
    version S3 would refuse, hides the object behind a delete marker and
    warns that it stays until its retention ends."""
    n = len(peer.requests(True))
    b = body(peer, bucket=LOCKED)
    d, tr = create_ok(api, b)
    reqs = since(peer, True, n)
    # the first upload, without a checksum, is refused (InvalidRequest,
    # as S3 does for a bucket with a default retention); the probe sends
    # it once more with its SHA-256 checksum
    assert ops(reqs) == [("ListObjectsV2", 200), ("PutObject", 400),
                         ("PutObject", 200), ("GetObject", 200),
                         ("DeleteObject", 204)], reqs
    assert_least_privilege(reqs, LOCKED, b["config"]["prefix"] + "/")
    assert "x-amz-checksum-sha256" not in reqs[1]["amz_headers"], reqs[1]
    assert "x-amz-checksum-sha256" in reqs[2]["amz_headers"], reqs[2]
    until = reqs[2]["retain_until"]
    assert tr["observed"] == {
        "bucketRegion": REGION, "tls": TLS,
        "objectLock": {"mode": "COMPLIANCE", "retainUntil": until,
                       "legalHold": False}}, tr
    assert detail_of(tr, "delete") == "the probe object is hidden by a " \
        "delete marker; its version was kept", tr
    assert tr["warnings"] == [
        "the probe object '%s' in bucket '%s' stays until its retention "
        "ends on %s (Object Lock, COMPLIANCE mode); a delete marker hides "
        "it" % (reqs[1]["key"], LOCKED, until)], tr
    assert len(kept(peer, LOCKED)) == 1
    # the stored result says the same
    r = api.get("%s/%s" % (LIST, d["id"]))
    assert r.json()["lastTest"]["observed"] == tr["observed"], r.json()
    remove_probe_objects(peer, LOCKED)


def test_object_lock_unseen_refused_version_delete_warns(api, peer):
    """A key without s3:GetObjectRetention sees no Object Lock headers:
    it tries the version, which retention protects (403 AccessDenied),
    and the warning says the object stays, naming both causes."""
    n = len(peer.requests(True))
    b = body(peer, bucket=LOCKED, accessKeyId="AKIDNORETENTION")
    d, tr = create_ok(api, b)
    reqs = since(peer, True, n)
    assert ops(reqs) == [("ListObjectsV2", 200), ("PutObject", 400),
                         ("PutObject", 200), ("GetObject", 200),
                         ("DeleteObjectVersion", 403),
                         ("DeleteObject", 204)], reqs
    assert "objectLock" not in tr["observed"], tr
    assert len(tr["warnings"]) == 1, tr
    assert "stays as an old version" in tr["warnings"][0], tr
    assert "s3:DeleteObjectVersion" in tr["warnings"][0], tr
    assert "Object Lock retains it" in tr["warnings"][0], tr
    assert len(kept(peer, LOCKED)) == 1
    remove_probe_objects(peer, LOCKED)


# ------------------------------------------------------ least privilege


def signed(peer, method, path, query=""):
    """A request signed like an SDK would for AKIDSCOPED, sent to the
    front directly (to show what IAM, as the front emulates it, refuses)."""
    url = "%s%s%s" % (peer.url(False), path, "?" + query if query else "")
    req = AWSRequest(method=method, url=url, headers={
        "x-amz-content-sha256": hashlib.sha256(b"").hexdigest()})
    S3SigV4Auth(Credentials("AKIDSCOPED", SECRET), "s3", REGION).add_auth(req)
    return requests.request(method, url, headers=dict(req.headers),
                            timeout=10)


def test_prefix_scoped_key_passes_within_its_prefix(api, peer):
    """A key IAM allows only under scoped/ (object actions on
    bucket/scoped/*, s3:ListBucket with s3:prefix scoped/*): the probe
    passes, and its full request log is four calls under the prefix."""
    n = len(peer.requests(True))
    b = body(peer, accessKeyId="AKIDSCOPED",
             prefix="%s%s" % (SCOPE, uuid.uuid4().hex[:8]))
    d, tr = create_ok(api, b)
    assert tr["warnings"] == [], tr
    assert detail_of(tr, "target") == "bucket '%s' exists" % BUCKET, tr
    reqs = since(peer, True, n)
    assert ops(reqs) == [("ListObjectsV2", 200), ("PutObject", 200),
                         ("GetObject", 200), ("DeleteObject", 204)], reqs
    assert_least_privilege(reqs, BUCKET, b["config"]["prefix"] + "/")
    assert not any(q["op"] in ("ListBuckets", "CreateBucket", "HeadBucket")
                   for q in peer.requests(True) + peer.requests(False))
    assert peer.probe_objects(BUCKET) == []


def test_prefix_scoped_key_outside_its_prefix_names_the_permission(api,
                                                                   peer):
    b = body(peer, accessKeyId="AKIDSCOPED", prefix="elsewhere")
    n = len(peer.requests(True))
    p, tr = create_fails(api, b, "write")
    assert detail_of(tr, "write") == "uploading the probe object was " \
        "refused (AccessDenied): the key needs s3:PutObject on " \
        "%s/elsewhere/*" % BUCKET, tr
    assert ops(since(peer, True, n)) == [("ListObjectsV2", 403),
                                         ("PutObject", 403)]


def test_front_denies_what_a_prefix_scoped_key_may_not_do(peer):
    """The emulation itself: HeadBucket (no s3:prefix), ListBuckets,
    CreateBucket and a listing outside the prefix are refused for the
    scoped key, a listing inside it is not — so a probe that used any of
    them would fail test_prefix_scoped_key_passes_within_its_prefix."""
    assert signed(peer, "HEAD", "/" + BUCKET).status_code == 403
    assert signed(peer, "GET", "/").status_code == 403
    assert signed(peer, "PUT", "/new-bucket").status_code == 403
    r = signed(peer, "GET", "/" + BUCKET, "list-type=2&max-keys=1")
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text
    r = signed(peer, "GET", "/" + BUCKET,
               "list-type=2&max-keys=1&prefix=other%2F")
    assert r.status_code == 403
    r = signed(peer, "GET", "/" + BUCKET,
               "list-type=2&max-keys=1&prefix=scoped%2Fx%2F")
    assert r.status_code == 200, r.text
    assert r.headers["x-amz-bucket-region"] == REGION
    assert [q["op"] for q in peer.requests(False)[-6:]] == [
        "HeadBucket", "ListBuckets", "CreateBucket", "ListObjectsV2",
        "ListObjectsV2", "ListObjectsV2"]


def test_front_requires_a_checksum_for_object_lock_uploads(peer):
    """What made the probe send x-amz-checksum-sha256: an upload to an
    Object Lock bucket with a default retention needs a checksum header,
    and a wrong checksum is refused."""
    data = b"x" * 64
    key = "/%s/it/.backupd-probe-0000000000000000" % LOCKED

    def put(extra):
        url = peer.url(False) + key
        h = {"x-amz-content-sha256": hashlib.sha256(data).hexdigest(),
             **extra}
        req = AWSRequest(method="PUT", url=url, data=data, headers=h)
        S3SigV4Auth(Credentials("AKIDMAIN", SECRET), "s3",
                    REGION).add_auth(req)
        return requests.put(url, data=data, headers=dict(req.headers),
                            timeout=10)
    r = put({})
    assert r.status_code == 400 and "<Code>InvalidRequest</Code>" in r.text
    r = put({"x-amz-checksum-sha256": base64.b64encode(
        hashlib.sha256(b"other").digest()).decode()})
    assert r.status_code == 400 and "<Code>BadDigest</Code>" in r.text
    assert not any("0000000000000000" in f for f in kept(peer, LOCKED))
