"""Tenant isolation: another organization's destination is a 404, never a
403, and nothing of it leaks or changes (DESIGN.md "Auth")."""

import jwt
import pytest

from conftest import assert_problem, etag_of, local_body, new_org

LIST = "/backup-destinations"


@pytest.fixture
def two_orgs(make_api, env):
    a = make_api(org=new_org())
    b = make_api(org=new_org())
    r = a.create(local_body(env, org=a.org))
    return a, b, r.json(), etag_of(r)


def _a_unchanged(a, d, etag):
    g = a.get("%s/%s" % (LIST, d["id"]))
    assert g.status_code == 200, g.text
    assert g.json() == d
    assert etag_of(g) == etag


def test_other_org_cannot_get(two_orgs):
    a, b, d, e = two_orgs
    p = assert_problem(b.get("%s/%s" % (LIST, d["id"])), 404)
    assert d["name"] not in str(p) and d["config"]["path"] not in str(p)
    _a_unchanged(a, d, e)


def test_other_org_cannot_put(two_orgs, env):
    a, b, d, e = two_orgs
    path = "%s/%s" % (LIST, d["id"])
    assert_problem(b.put(path, json=local_body(env, org=b.org)), 404)
    assert_problem(b.put(path, json=local_body(env, org=b.org),
                         headers={"If-Match": "*"}), 404)
    assert_problem(b.put(path, json=local_body(env, org=b.org),
                         headers={"If-Match": e}), 404)
    _a_unchanged(a, d, e)
    assert b.list() == []


def test_other_org_cannot_delete(two_orgs):
    a, b, d, e = two_orgs
    assert_problem(b.delete("%s/%s" % (LIST, d["id"])), 404)
    _a_unchanged(a, d, e)


def test_other_org_cannot_test(two_orgs):
    a, b, d, e = two_orgs
    assert_problem(b.post("%s/%s/test" % (LIST, d["id"])), 404)
    _a_unchanged(a, d, e)


def test_other_org_cannot_start_oauth(make_api, env):
    a = make_api(org=new_org())
    b = make_api(org=new_org())
    d = a.create({"name": "gd", "destinationType": "google_drive",
                  "config": {}}).json()
    assert_problem(b.post("%s/%s/oauth" % (LIST, d["id"])), 404)


def test_other_org_list_excludes(two_orgs, env):
    a, b, d, e = two_orgs
    assert b.list() == []
    mine = b.create_local(env)
    assert [x["id"] for x in b.list()] == [mine["id"]]
    assert [x["id"] for x in a.list()] == [d["id"]]
    assert [x["id"] for x in b.list(destinationType="local")] == [mine["id"]]


def test_same_name_in_two_orgs(two_orgs, env):
    a, b, d, e = two_orgs
    r = b.post(LIST, json=local_body(env, org=b.org, name=d["name"]))
    assert r.status_code == 201, r.text
    other = r.json()
    assert other["id"] != d["id"] and other["name"] == d["name"]
    # and deleting B's does not touch A's
    assert b.delete("%s/%s" % (LIST, other["id"])).status_code == 200
    _a_unchanged(a, d, e)


def test_same_sub_different_org(make_api, env):
    """The org comes from the token, not from the user: one sub in two orgs
    sees two different sets."""
    a = make_api(org=new_org(), sub="same-user")
    b = make_api(org=new_org(), sub="same-user")
    d = a.create_local(env)
    assert b.list() == []
    assert_problem(b.get("%s/%s" % (LIST, d["id"])), 404)


def test_org_in_header_ignored(two_orgs):
    """The org is taken from the token's claim only."""
    a, b, d, e = two_orgs
    org_a = jwt.decode(a.tok, options={"verify_signature": False})["org_id"]
    r = b.get(LIST, headers={"X-Org-Id": org_a, "X-Org": org_a})
    assert r.status_code == 200 and r.json() == []


def _padded_row_not_found(make_api, env, db, logged):
    org = new_org()
    a = make_api(org=org)
    d = a.create(local_body(env, org=org)).json()
    db("UPDATE backup_destinations SET org_id = CONCAT(org_id, ' ') "
       "WHERE id = '%s'" % d["id"])
    try:
        path = "%s/%s" % (LIST, d["id"])
        assert_problem(a.get(path), 404)
        assert a.list() == []
        assert_problem(a.put(path, json=local_body(env, org=org)), 404)
        assert_problem(a.post(path + "/test"), 404)
        assert_problem(a.delete(path), 404)
        rows = db("SELECT CONCAT('[', org_id, ']'), version FROM "
                  "backup_destinations WHERE id = '%s'" % d["id"])
        assert rows == [["[%s ]" % org, "1"]], rows
        with open(env["BACKUPD_LOG"], encoding="utf-8") as f:
            assert any(d["id"] in line and "another org" in line
                       for line in f) == logged
    finally:
        # The config is sealed for the real org: give the row back, so that
        # a later rekey of the whole database can open it.
        db("UPDATE backup_destinations SET org_id = '%s' WHERE id = '%s'"
           % (org, d["id"]))
    assert a.get(path).status_code == 200


def test_row_of_a_padded_org_is_not_found(make_api, env, db):
    """Issue 13 item 1: a row whose org differs from the token's only by
    trailing spaces is another org's row: not found for every route, not
    listed, not changed. The database itself compares org ids byte for
    byte (sql/006: utf8mb4_nopad_bin), so the row never reaches the
    service."""
    _padded_row_not_found(make_api, env, db, logged=False)


def test_row_of_a_padded_org_defence_in_depth(make_api, env, db):
    """Defence in depth: with the column back on a PAD SPACE collation (as
    before sql/006), the database returns the padded row for the token's
    org; the service compares the row's org byte for byte, answers 404 and
    logs the mismatch (id only)."""
    db("ALTER TABLE backup_destinations MODIFY org_id VARCHAR(128) "
       "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL")
    try:
        _padded_row_not_found(make_api, env, db, logged=True)
    finally:
        db("ALTER TABLE backup_destinations MODIFY org_id VARCHAR(128) "
           "CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL")
