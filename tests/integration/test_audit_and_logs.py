"""Audit rows and the request log (BEHAVIOUR.md: one audit_log row per
mutation / test, success and failure; one JSON line per request in backupd's
log; no token ever in a log)."""

import os
import shutil
import time
import uuid

from conftest import (assert_problem, local_body, make_token, missing_dir,
                      sql_quote,
                      wait_for)
from fcgi_client import read_json_lines

LIST = "/backup-destinations"


def _audit_rows(db, org):
    rows = db("SELECT action, request_id, outcome, actor, "
              "IFNULL(destination_id, ''), "
              "TIMESTAMPDIFF(SECOND, at, UTC_TIMESTAMP(3)) "
              "FROM audit_log WHERE org_id = %s ORDER BY id" % sql_quote(org))
    return [{"action": r[0], "rid": r[1], "outcome": r[2], "actor": r[3],
             "dest": r[4], "age": int(r[5])} for r in rows]


def _log_line_for(env, rid, timeout=5.0):
    def find():
        for obj in read_json_lines(env["BACKUPD_LOG"]):
            if obj.get("requestId") == rid and "status" in obj:
                return obj
        return None
    return wait_for(find, timeout=timeout, interval=0.2)


def test_audit_rows_for_mutations(make_api, env, db, org):
    sub = "auditor-" + uuid.uuid4().hex[:8]
    api = make_api(org=org, sub=sub)

    r_create = api.create(local_body(env, org=api.org))
    d = r_create.json()
    path = "%s/%s" % (LIST, d["id"])
    r_update = api.put(path, json={"name": d["name"] + "-2",
                                   "destinationType": "local",
                                   "config": d["config"]})
    assert r_update.status_code == 200
    r_test = api.post(path + "/test")
    assert r_test.status_code == 200
    r_delete = api.delete(path)
    assert r_delete.status_code == 200

    # failures are audited too
    f = api.create_local(env)
    shutil.rmtree(f["config"]["path"])
    r_test_fail = api.post("%s/%s/test" % (LIST, f["id"]))
    assert_problem(r_test_fail, 422)
    missing = missing_dir(env, api.org)
    r_create_fail = api.post(LIST, json=local_body(env, org=api.org, path=missing))
    assert_problem(r_create_fail, 422)
    check = _checker(db, org, sub)
    check(r_create, "destination.create", "success", d["id"])
    check(r_update, "destination.update", "success", d["id"])
    check(r_test, "destination.test", "success", d["id"])
    check(r_delete, "destination.delete", "success", d["id"])
    check(r_test_fail, "destination.test", "failure", f["id"])
    check(r_create_fail, "destination.create", "failure", None)


def test_audit_rows_for_conflicts(make_api, env, db, org):
    """A refused mutation (409) is a failure and is audited too."""
    sub = "auditor-" + uuid.uuid4().hex[:8]
    api = make_api(org=org, sub=sub)
    a = api.create_local(env)
    b = api.create_local(env)
    r_dup = api.post(LIST, json=local_body(env, org=api.org, name=a["name"]))
    assert_problem(r_dup, 409)
    r_ren = api.put("%s/%s" % (LIST, b["id"]),
                    json={"name": a["name"], "destinationType": "local",
                          "config": b["config"]})
    assert_problem(r_ren, 409)
    check = _checker(db, org, sub)
    check(r_dup, "destination.create", "failure", None)
    check(r_ren, "destination.update", "failure", b["id"])


def _checker(db, org, sub):
    rows = _audit_rows(db, org)
    by_rid = {}
    for row in rows:
        by_rid.setdefault(row["rid"], []).append(row)

    def one(resp, action, outcome, dest):
        rid = resp.headers.get("X-Request-Id")
        assert rid, resp.headers
        got = by_rid.get(rid, [])
        assert len(got) == 1, "audit rows for %s %s: %r" % (action, rid, rows)
        row = got[0]
        assert row["action"] == action, row
        assert row["actor"] == sub, row
        if outcome == "success":
            assert row["outcome"] == "success", row
        else:
            assert row["outcome"] in ("failure", "conflict"), row
        if dest is not None:
            assert row["dest"] == dest, row
        assert -5 <= row["age"] < 600, "audit time is not UTC now: %r" % row
    return one


def test_audit_rows_scoped_to_org(make_api, env, db):
    a_org, b_org = "org-" + str(uuid.uuid4()), "org-" + str(uuid.uuid4())
    a = make_api(org=a_org, sub="alice-" + a_org[-8:])
    b = make_api(org=b_org, sub="mallory-" + b_org[-8:])
    d = a.create_local(env)
    assert_problem(b.delete("%s/%s" % (LIST, d["id"])), 404)
    assert_problem(b.post("%s/%s/test" % (LIST, d["id"])), 404)
    a_rows = _audit_rows(db, a_org)
    assert [r["action"] for r in a_rows] == ["destination.create"], a_rows
    assert all(r["actor"] == "alice-" + a_org[-8:] for r in a_rows), a_rows
    for row in _audit_rows(db, b_org):
        assert row["outcome"] != "success", row


def test_request_log_lines(make_api, env, org):
    api = make_api(org=org)
    d = api.create_local(env)
    reqs = [
        (api.get(LIST), "GET", 200),
        (api.get("%s/%s" % (LIST, d["id"])), "GET", 200),
        (api.get("%s/%s" % (LIST, uuid.uuid4())), "GET", 404),
        (api.post("%s/%s/test" % (LIST, d["id"])), "POST", 200),
        (api.delete("%s/%s" % (LIST, d["id"])), "DELETE", 200),
        (api.post(LIST, data=b"{", content_type="application/json"),
         "POST", 400),
    ]
    for r, method, status in reqs:
        assert r.status_code == status, (r.status_code, r.text[:200])
        rid = r.headers.get("X-Request-Id")
        assert rid
        line = _log_line_for(env, rid)
        assert line, "no log line with requestId %s in %s" % (
            rid, env["BACKUPD_LOG"])
        assert line.get("method") == method, line
        assert line.get("status") == status, line
        assert isinstance(line.get("durationMs"), (int, float)) \
            and line["durationMs"] >= 0, line
        assert isinstance(line.get("route"), str) and line["route"], line
        assert line.get("org") == org, line


def test_request_log_line_for_401(api, env):
    r = api.get(LIST, token=None)
    assert_problem(r, 401)
    line = _log_line_for(env, r.headers["X-Request-Id"])
    assert line and line.get("status") == 401 and line.get("method") == "GET"


def test_no_token_in_logs(make_api, env, org):
    sub = "log-" + uuid.uuid4().hex
    api = make_api(org=org, sub=sub)
    d = api.create_local(env)
    path = "%s/%s" % (LIST, d["id"])
    api.get(path)
    api.post(path + "/test")
    api.put(path, json={"name": d["name"], "destinationType": "local",
                        "config": d["config"]})
    bad = make_token(env, org=org, key="wrong-key-" + uuid.uuid4().hex)
    assert_problem(api.get(LIST, token=bad), 401)
    expired = make_token(env, org=org, exp=int(time.time()) - 3600)
    assert_problem(api.get(LIST, token=expired), 401)
    garbage = "garbage" + uuid.uuid4().hex + "." + uuid.uuid4().hex
    assert_problem(api.get(LIST, auth_header="Bearer " + garbage), 401)
    assert api.delete(path).status_code == 200
    time.sleep(0.5)

    needles = set()
    for t in (api.tok, bad, expired):
        needles.add(t)
        needles.add(t.split(".")[2])   # signature
        needles.add(t.split(".")[1])   # payload
    needles.add(garbage)
    needles = [n.encode() for n in needles if len(n) >= 16]

    logs = [env.get(k) for k in ("BACKUPD_LOG", "BACKUPD_NGINX_ACCESS_LOG",
                                 "BACKUPD_NGINX_ERROR_LOG",
                                 "BACKUPD_MYSQL_LOG")]
    logs = [p for p in logs if p]
    assert env.get("BACKUPD_LOG") and os.path.isfile(env["BACKUPD_LOG"])
    seen_any = False
    for p in logs:
        if not os.path.isfile(p):
            continue
        with open(p, "rb") as fh:
            data = fh.read()
        if b"/backup-destinations" in data:
            seen_any = True
        for n in needles:
            assert n not in data, "%s contains a token (%s...)" % (
                p, n[:12].decode())
    assert seen_any, "no log mentions any request at all"
