"""Destinations that explain themselves (issue 9 items 1-2): statusReason,
lastSuccessAt, consecutiveFailures kept by every test (route, OAuth callback
and refresh, backupctl test-all), the ?status= list filter, re-running the
OAuth flow on a connected destination, and `backupctl test-all`.

Uses the OAuth stub (fixed port): run under the integration flock."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import assert_problem, assert_rfc3339, local_body, sql
# The OAuth stub and its helpers (module-scoped fixture, started here too).
from test_oauth import (AGAIN, REVOKE_GOOGLE, callback, connect, consent,
                        error, probe_fails, probe_ok, row, start, stub,
                        tokens_expire_soon)
from test_oauth import create as oauth_create

__all__ = ["stub", "tokens_expire_soon"]  # fixtures used by name

LIST = "/backup-destinations"
SQL_007 = Path(__file__).resolve().parents[2] / "sql" / \
    "007_destination_health.sql"


def get(api, d):
    r = api.get("%s/%s" % (LIST, d["id"]))
    assert r.status_code == 200, r.text
    return r.json()


def run_test(api, d):
    return api.post("%s/%s/test" % (LIST, d["id"]))


def health(g):
    return (g["status"], g["statusReason"], g["consecutiveFailures"])


# ------------------------------------------------ the three new members

def test_created_destination_is_healthy(api, env):
    d = api.create_local(env)
    assert health(d) == ("active", None, 0), d
    # The create's own test is the last success.
    assert d["lastSuccessAt"] == d["lastTest"]["testedAt"], d
    assert_rfc3339(d["lastSuccessAt"])
    g = get(api, d)
    assert health(g) == ("active", None, 0)
    assert g["lastSuccessAt"] == d["lastSuccessAt"]


def test_failures_count_then_recover(api, env):
    d = api.create_local(env)
    ok_at = d["lastSuccessAt"]
    path = d["config"]["path"]
    shutil.rmtree(path)
    for n in (1, 2, 3):
        p = assert_problem(run_test(api, d), 422)
        assert p["failedCheck"] == "target", p
        g = get(api, d)
        assert health(g) == ("error", "test_failed", n), g
        # A failure does not move the last success.
        assert g["lastSuccessAt"] == ok_at, g
        assert g["lastTest"]["ok"] is False
    os.makedirs(path)
    os.chmod(path, 0o777)
    r = run_test(api, d)
    assert r.status_code == 200, r.text
    g = get(api, d)
    assert health(g) == ("active", None, 0), g
    assert g["lastSuccessAt"] == r.json()["testedAt"] == \
        g["lastTest"]["testedAt"]
    assert assert_rfc3339(g["lastSuccessAt"]) > assert_rfc3339(ok_at)
    # The list shows the same members.
    [li] = [x for x in api.list() if x["id"] == d["id"]]
    assert (li["statusReason"], li["lastSuccessAt"],
            li["consecutiveFailures"]) == (None, g["lastSuccessAt"], 0)


def test_put_with_passing_test_resets_health(api, env):
    d = api.create_local(env)
    shutil.rmtree(d["config"]["path"])
    assert_problem(run_test(api, d), 422)
    assert_problem(run_test(api, d), 422)
    assert health(get(api, d)) == ("error", "test_failed", 2)
    body = local_body(env, name=d["name"], org=api.org)
    r = api.put("%s/%s" % (LIST, d["id"]), json=body)
    assert r.status_code == 200, r.text
    g = r.json()
    assert health(g) == ("active", None, 0), g
    assert g["lastSuccessAt"] == g["lastTest"]["testedAt"]


# ------------------------------------------------------ ?status= filter

def test_status_filter(api, env):
    good = api.create_local(env)
    bad = api.create_local(env)
    shutil.rmtree(bad["config"]["path"])
    assert_problem(run_test(api, bad), 422)
    gd = oauth_create(api, "google_drive")
    ids = lambda xs: {x["id"] for x in xs}  # noqa: E731
    assert ids(api.list(status="active")) == {good["id"]}
    assert ids(api.list(status="error")) == {bad["id"]}
    pend = api.list(status="pending_authorization")
    assert ids(pend) == {gd["id"]}
    assert pend[0]["statusReason"] == "not_authorized", pend
    assert pend[0]["lastSuccessAt"] is None
    assert pend[0]["consecutiveFailures"] == 0
    assert ids(api.list()) == {good["id"], bad["id"], gd["id"]}
    # Combined with destinationType.
    assert ids(api.list(status="error", destinationType="local")) == \
        {bad["id"]}
    assert api.list(status="error", destinationType="google_drive") == []
    assert ids(api.list(status="pending_authorization",
                        destinationType="google_drive")) == {gd["id"]}


@pytest.mark.parametrize("q", ["status=Active", "status=", "status=ok",
                               "status=active%20", "status=error&status=error",
                               "status=active&destinationType=nope"])
def test_status_filter_bad_values(api, env, q):
    api.create_local(env)
    r = api.get(LIST + "?" + q)
    p = assert_problem(r, 400)
    assert "status" in p["detail"] or "destinationType" in p["detail"], p


# ------------------------------------------------------------ migration

def test_migration_fills_existing_rows(api, env):
    """007's UPDATE gives rows written before it the values their status
    and last test imply (run here on rows reset to the pre-007 state)."""
    ok = api.create_local(env)
    bad = api.create_local(env)
    shutil.rmtree(bad["config"]["path"])
    assert_problem(run_test(api, bad), 422)
    pend = oauth_create(api, "onedrive")
    ids = "'%s','%s','%s'" % (ok["id"], bad["id"], pend["id"])
    sql(env, "UPDATE backup_destinations SET status_reason = NULL, "
        "last_success_at = NULL, consecutive_failures = 0 WHERE id IN (%s)"
        % ids)
    update = SQL_007.read_text().split("UPDATE backup_destinations", 1)[1]
    sql(env, "UPDATE backup_destinations" + update)
    assert health(get(api, ok)) == ("active", None, 0)
    assert get(api, ok)["lastSuccessAt"] == ok["lastTest"]["testedAt"]
    g = get(api, bad)
    assert health(g) == ("error", "test_failed", 1), g
    # The old schema kept only the last test: an earlier success is unknown.
    assert g["lastSuccessAt"] is None, g
    g = get(api, pend)
    assert health(g) == ("pending_authorization", "not_authorized", 0), g
    assert g["lastSuccessAt"] is None


# ---------------------------------------------------------------- OAuth

def test_oauth_reasons(api, stub, env, tokens_expire_soon):
    d = oauth_create(api, "google_drive", clientId=REVOKE_GOOGLE[0],
                     clientSecret=REVOKE_GOOGLE[1])
    assert health(d) == ("pending_authorization", "not_authorized", 0), d
    # A test before consent fails and says so; the reason stays.
    probe_fails(api, d["id"], "auth")
    g = get(api, d)
    assert health(g) == ("pending_authorization", "not_authorized", 1), g
    connect(api, stub, d["id"])
    g = get(api, d)
    assert health(g) == ("active", None, 0), g
    assert g["lastSuccessAt"] == g["lastTest"]["testedAt"]
    ok_at = g["lastSuccessAt"]
    # The grant dies at the provider: the refresh before the next test
    # finds out, and the destination waits for a new consent.
    stub.control("/revoke", client_id=REVOKE_GOOGLE[0])
    p = probe_fails(api, d["id"], "auth")
    assert AGAIN in p["checks"][-1]["detail"], p
    g = get(api, d)
    assert health(g) == ("pending_authorization",
                         "reauthorization_required", 1), g
    assert g["lastSuccessAt"] == ok_at
    # Testing again keeps the reason (no refresh is attempted).
    probe_fails(api, d["id"], "auth")
    g = get(api, d)
    assert health(g) == ("pending_authorization",
                         "reauthorization_required", 2), g
    [li] = api.list(status="pending_authorization",
                    destinationType="google_drive")
    assert li["id"] == d["id"] and \
        li["statusReason"] == "reauthorization_required"
    # Authorizing again recovers.
    stub.control(expires_in=3600)
    connect(api, stub, d["id"])
    assert health(get(api, d)) == ("active", None, 0)


def test_reauthorize_connected_keeps_config_until_done(api, stub, env):
    """POST /{id}/oauth on a connected destination: allowed; the config and
    tokens stay until the new flow completes, then only the tokens change."""
    d = oauth_create(api, "google_drive", folderId="root")
    b1, _ = connect(api, stub, d["id"])
    g1 = stub.grant(b1["state"])
    before = get(api, d)
    assert health(before) == ("active", None, 0)
    rbefore = row(env, d["id"])
    # Start a second flow: nothing changes yet.
    b2 = start(api, d["id"])
    assert row(env, d["id"]) == rbefore
    # The user refuses this time: the old tokens still work.
    stub.control(deny_next="access_denied")
    error(callback(api, stub, consent(b2["authorizationUrl"])),
          "access_denied", d["id"])
    assert row(env, d["id"]) == rbefore
    probe_ok(api, d["id"])
    # A third flow completes: new tokens, same config.
    b3, _ = connect(api, stub, d["id"])
    after = get(api, d)
    assert after["config"] == before["config"], (before, after)
    assert after["name"] == before["name"]
    assert health(after) == ("active", None, 0)
    # The old grant is no longer what the destination uses: revoking it
    # changes nothing, the new grant's token is used.
    stub.control("/revoke", grant=g1["id"])
    probe_ok(api, d["id"])
    stub.control("/revoke", grant=stub.grant(b3["state"])["id"])
    probe_fails(api, d["id"], "auth")


# ------------------------------------------------------ backupctl test-all

BIN_DIR = Path(os.environ.get("BACKUPD_BIN_DIR") or
               Path(__file__).resolve().parents[2] / "build")


def ctl_test_all(env, *args):
    """Run backupctl [--json] test-all args...; (exit code, stdout)."""
    e = dict(os.environ)
    e["BACKUPD_CONFIG"] = env["BACKUPD_CONFIG"]
    r = subprocess.run([str(BIN_DIR / "backupctl")] + ["test-all"] +
                       [str(a) for a in args], env=e, capture_output=True,
                       text=True, timeout=300)
    return r.returncode, r.stdout, r.stderr


def ctl_test_all_json(env, *args):
    rc, out, err = ctl_test_all(env, "--json", *args)
    doc = json.loads(out)
    assert set(doc) >= {"passed", "failed", "skipped", "error",
                        "results"}, doc
    return rc, doc, err


def by_id(doc):
    return {x["id"]: x for x in doc["results"]}


def test_test_all_records_like_the_route(api, env, org):
    good = api.create_local(env)
    bad = api.create_local(env)
    shutil.rmtree(bad["config"]["path"])
    rc, doc, err = ctl_test_all_json(env, "--org", org)
    assert rc == 3, (rc, doc, err)
    assert (doc["passed"], doc["failed"], doc["skipped"], doc["error"]) == \
        (1, 1, 0, 0), doc
    res = by_id(doc)
    assert set(res) == {good["id"], bad["id"]}, doc
    assert res[good["id"]]["result"] == "passed"
    b = res[bad["id"]]
    assert b["result"] == "failed" and b["detail"].startswith("target: "), b
    assert (b["status"], b["statusReason"], b["consecutiveFailures"]) == \
        ("error", "test_failed", 1), b
    assert b["orgId"] == org and b["name"] == bad["name"]
    # Recorded as POST /test records it.
    g = get(api, good)
    assert health(g) == ("active", None, 0)
    assert assert_rfc3339(g["lastTest"]["testedAt"]) > \
        assert_rfc3339(good["lastTest"]["testedAt"])
    assert g["lastSuccessAt"] == g["lastTest"]["testedAt"]
    g = get(api, bad)
    assert health(g) == ("error", "test_failed", 1), g
    assert g["lastTest"]["ok"] is False
    assert g["lastSuccessAt"] == bad["lastSuccessAt"]
    rows = sql(env, "SELECT destination_id, actor, outcome FROM audit_log "
               "WHERE org_id = '%s' AND action = 'destination.test' "
               "ORDER BY id" % org)
    assert sorted(rows) == sorted([[good["id"], "backupctl test-all",
                                    "success"],
                                   [bad["id"], "backupctl test-all",
                                    "failure"]]), rows
    # Fixed: the next run passes and exits 0; the text output ends with a
    # summary line.
    os.makedirs(bad["config"]["path"])
    os.chmod(bad["config"]["path"], 0o777)
    rc, out, err = ctl_test_all(env, "--org", org)
    assert rc == 0, (rc, out, err)
    lines = out.strip().splitlines()
    assert lines[-1] == \
        "2 tested: 2 passed, 0 failed, 0 skipped, 0 errors", out
    assert sorted(ln.split("\t")[:2] for ln in lines[:-1]) == \
        sorted([["passed", good["id"]], ["passed", bad["id"]]]), out
    assert health(get(api, bad)) == ("active", None, 0)


def test_test_all_older_than_skips_fresh(api, env, org):
    old = api.create_local(env)
    fresh = api.create_local(env)
    # Both were tested on create, just now: nothing is older than an hour.
    rc, doc, _ = ctl_test_all_json(env, "--org", org, "--older-than", "1h")
    assert rc == 0 and doc["results"] == [], doc
    sql(env, "UPDATE backup_destinations SET last_test_at = "
        "UTC_TIMESTAMP(3) - INTERVAL 2 HOUR WHERE id = '%s'" % old["id"])
    rc, doc, _ = ctl_test_all_json(env, "--org", org, "--older-than", "1h")
    assert rc == 0, doc
    assert list(by_id(doc)) == [old["id"]], doc
    assert get(api, fresh)["lastTest"] == fresh["lastTest"]
    assert get(api, old)["lastTest"] != old["lastTest"]
    # Another org's destinations are not touched by --org.
    other = api.create_local(env)
    rc, doc, _ = ctl_test_all_json(env, "--org", org + "-other")
    assert rc == 0 and doc["results"] == [], doc
    assert get(api, other)["lastTest"] == other["lastTest"]


def test_test_all_concurrency(api, env, org):
    ds = [api.create_local(env) for _ in range(6)]
    rc, doc, err = ctl_test_all_json(env, "--org", org, "--concurrency", "4")
    assert rc == 0, (doc, err)
    assert set(by_id(doc)) == {d["id"] for d in ds}
    assert doc["passed"] == 6
    for d in ds:
        assert os.listdir(d["config"]["path"]) == []


@pytest.mark.parametrize("args", [["--concurrency", "0"],
                                  ["--concurrency", "17"],
                                  ["--concurrency", "x"],
                                  ["--older-than", "soon"],
                                  ["--older-than", "-1h"],
                                  ["--org", ""], ["extra"], ["--nope"]])
def test_test_all_usage(env, args):
    rc, out, err = ctl_test_all(env, *args)
    assert rc == 2, (rc, out, err)
    assert out == ""


def test_test_all_oauth_refresh_and_revocation(api, stub, env, org,
                                               tokens_expire_soon):
    d = oauth_create(api, "google_drive", clientId=REVOKE_GOOGLE[0],
                     clientSecret=REVOKE_GOOGLE[1])
    waiting = oauth_create(api, "onedrive")
    b, _ = connect(api, stub, d["id"])
    assert stub.grant(b["state"])["refreshes"] == 0
    # The access token expires within the minute: test-all refreshes it
    # (this is what keeps an idle refresh token alive).
    rc, doc, err = ctl_test_all_json(env, "--org", org)
    assert rc == 0, (doc, err)
    res = by_id(doc)
    assert res[d["id"]]["result"] == "passed", doc
    # Never authorized: not probed, not a failure.
    assert res[waiting["id"]]["result"] == "skipped", doc
    assert res[waiting["id"]]["statusReason"] == "not_authorized"
    assert stub.grant(b["state"])["refreshes"] == 1
    assert health(get(api, waiting)) == \
        ("pending_authorization", "not_authorized", 0)
    # The grant dies: the next run finds out and exits 3.
    stub.control("/revoke", client_id=REVOKE_GOOGLE[0])
    rc, doc, err = ctl_test_all_json(env, "--org", org)
    assert rc == 3, (doc, err)
    x = by_id(doc)[d["id"]]
    assert x["result"] == "failed" and AGAIN in x["detail"], x
    assert (x["status"], x["statusReason"]) == \
        ("pending_authorization", "reauthorization_required"), x
    g = stub.grant(b["state"])
    assert g["refresh_failures"] == 1, g
    # Until someone authorizes again every run says so, without asking
    # the provider again.
    rc, doc, err = ctl_test_all_json(env, "--org", org)
    assert rc == 3 and by_id(doc)[d["id"]]["result"] == "failed", doc
    assert stub.grant(b["state"])["refresh_failures"] == 1


# -------------------------------------------------------------- capacity

def test_local_capacity(api, env):
    d = api.create_local(env)
    path = d["config"]["path"]
    cap = d["lastTest"]["capacity"]
    sv = os.statvfs(path)
    assert cap["totalBytes"] == sv.f_blocks * sv.f_frsize, cap
    # free and used move with whatever else writes to the disk meanwhile.
    assert abs(cap["freeBytes"] - sv.f_bavail * sv.f_frsize) < 512 << 20, cap
    assert abs(cap["usedBytes"] - (sv.f_blocks - sv.f_bfree) *
               sv.f_frsize) < 512 << 20, cap
    low = [w for w in d["lastTest"]["warnings"] if "GiB" in w]
    free = sv.f_bavail * sv.f_frsize
    expect_low = free < (1 << 30) or free < sv.f_blocks * sv.f_frsize / 10
    assert bool(low) == expect_low, (d["lastTest"], free)
    r = run_test(api, d)
    assert r.status_code == 200 and \
        r.json()["capacity"]["totalBytes"] == cap["totalBytes"], r.text


def test_capacity_null_where_not_reported(api, env):
    """A failed test that never reached the target reports no capacity."""
    d = api.create_local(env)
    shutil.rmtree(d["config"]["path"])
    p = assert_problem(run_test(api, d), 422)
    assert p["lastTest"]["capacity"] is None, p
