"""DELETE while backup schedules reference the destination (contract DELETE;
BEHAVIOUR.md: 409 with activeScheduleIds, inactive schedules detached,
activeScheduleCount, everything filtered by org)."""

import uuid

from conftest import assert_problem, new_org, sql_quote

LIST = "/backup-destinations"


def _add_schedule(db, org, dest_id, active):
    sid = str(uuid.uuid4())
    db("INSERT INTO backup_schedules (id, org_id, destination_id, name, active)"
       " VALUES (%s, %s, %s, %s, %d)"
       % (sql_quote(sid), sql_quote(org), sql_quote(dest_id),
          sql_quote("sched-" + sid[:8]), 1 if active else 0))
    return sid


def _dest_ids(db, ids):
    q = ("SELECT id, destination_id FROM backup_schedules WHERE id IN (%s)"
         % ", ".join(sql_quote(i) for i in ids))
    return {r[0]: r[1] for r in db(q)}


def test_delete_blocked_by_active_schedules(api, env, db, org):
    d = api.create_local(env)
    keep = api.create_local(env)
    path = "%s/%s" % (LIST, d["id"])
    active = [_add_schedule(db, org, d["id"], True) for _ in range(3)]
    inactive = [_add_schedule(db, org, d["id"], False) for _ in range(2)]
    # another org's active schedule pointing at the same id does not count
    foreign = _add_schedule(db, new_org(), d["id"], True)
    # a schedule of this org on another destination does not count either
    elsewhere = _add_schedule(db, org, keep["id"], True)

    g = api.get(path)
    assert g.status_code == 200
    assert g.json()["activeScheduleCount"] == 3
    by_id = {x["id"]: x for x in api.list()}
    assert by_id[d["id"]]["activeScheduleCount"] == 3
    assert by_id[keep["id"]]["activeScheduleCount"] == 1

    r = api.delete(path)
    p = assert_problem(r, 409)
    ids = p.get("activeScheduleIds")
    assert isinstance(ids, list), p
    assert sorted(ids) == sorted(active), p
    assert foreign not in ids and elsewhere not in ids
    assert api.get(path).status_code == 200
    # a refused delete detaches nothing
    assert _dest_ids(db, active + inactive) == \
        {i: d["id"] for i in active + inactive}

    # one left active: still 409, naming only that one
    db("UPDATE backup_schedules SET active = 0 WHERE id IN (%s, %s)"
       % (sql_quote(active[0]), sql_quote(active[1])))
    assert api.get(path).json()["activeScheduleCount"] == 1
    p = assert_problem(api.delete(path), 409)
    assert p.get("activeScheduleIds") == [active[2]], p

    db("UPDATE backup_schedules SET active = 0 WHERE id = %s"
       % sql_quote(active[2]))
    assert api.get(path).json()["activeScheduleCount"] == 0
    r = api.delete(path)
    assert r.status_code == 200, r.text
    assert r.json() == {"id": d["id"], "deleted": True}
    assert_problem(api.get(path), 404)

    mine = _dest_ids(db, active + inactive)
    assert mine == {i: None for i in active + inactive}, mine
    # other destinations' schedules are untouched
    assert _dest_ids(db, [elsewhere]) == {elsewhere: keep["id"]}
    assert api.get("%s/%s" % (LIST, keep["id"])).json()[
        "activeScheduleCount"] == 1


def test_only_foreign_active_schedule_does_not_block(api, env, db, org):
    d = api.create_local(env)
    _add_schedule(db, new_org(), d["id"], True)
    assert api.get("%s/%s" % (LIST, d["id"])).json()[
        "activeScheduleCount"] == 0
    r = api.delete("%s/%s" % (LIST, d["id"]))
    assert r.status_code == 200, r.text


def test_delete_with_only_inactive_schedules(api, env, db, org):
    d = api.create_local(env)
    inactive = [_add_schedule(db, org, d["id"], False) for _ in range(2)]
    assert api.get("%s/%s" % (LIST, d["id"])).json()[
        "activeScheduleCount"] == 0
    r = api.delete("%s/%s" % (LIST, d["id"]))
    assert r.status_code == 200, r.text
    assert _dest_ids(db, inactive) == {i: None for i in inactive}


def test_activeschedulecount_in_create_and_update(api, env, db, org):
    d = api.create_local(env)
    assert d["activeScheduleCount"] == 0
    _add_schedule(db, org, d["id"], True)
    _add_schedule(db, org, d["id"], True)
    r = api.put("%s/%s" % (LIST, d["id"]),
                json={"name": d["name"], "destinationType": "local",
                      "config": d["config"]})
    assert r.status_code == 200, r.text
    assert r.json()["activeScheduleCount"] == 2
