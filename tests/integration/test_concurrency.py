"""Concurrent requests: unique names hold under races, optimistic locking
lets exactly one of N same-ETag PUTs win (BEHAVIOUR.md)."""

import threading
from concurrent.futures import ThreadPoolExecutor

from conftest import Api, assert_problem, etag_of, local_body, uname

LIST = "/backup-destinations"
N = 24


def _parallel(env, tok, calls):
    """Run calls (fn(api) -> response) at once, one Api each; responses in
    order."""
    barrier = threading.Barrier(len(calls))

    def run(fn):
        a = Api(env["BACKUPD_URL"], tok)
        try:
            barrier.wait(timeout=30)
            return fn(a)
        finally:
            a.close()

    with ThreadPoolExecutor(max_workers=len(calls)) as ex:
        return list(ex.map(run, calls))


def test_parallel_creates_distinct_names(api, env):
    bodies = [local_body(env, org=api.org, name=uname("par%02d" % i))
              for i in range(N)]
    rs = _parallel(env, api.tok,
                   [lambda a, b=b: a.post(LIST, json=b) for b in bodies])
    codes = [r.status_code for r in rs]
    assert codes == [201] * N, [(r.status_code, r.text[:200]) for r in rs]
    ids = {r.json()["id"] for r in rs}
    assert len(ids) == N
    lst = api.list()
    assert {x["id"] for x in lst} == ids
    assert sorted(x["name"] for x in lst) == sorted(b["name"] for b in bodies)
    # newest first holds for the list as stored
    created = [x["createdAt"] for x in lst]
    assert created == sorted(created, reverse=True)


def test_parallel_creates_same_name(api, env):
    name = uname("same")
    bodies = [local_body(env, org=api.org, name=name) for _ in range(N)]
    rs = _parallel(env, api.tok,
                   [lambda a, b=b: a.post(LIST, json=b) for b in bodies])
    codes = sorted(r.status_code for r in rs)
    assert codes == [201] + [409] * (N - 1), \
        [(r.status_code, r.text[:200]) for r in rs]
    for r in rs:
        if r.status_code == 409:
            assert_problem(r, 409)
    winner = [r for r in rs if r.status_code == 201][0].json()
    lst = api.list()
    assert [x["id"] for x in lst] == [winner["id"]]
    assert lst[0]["name"] == name


def test_etag_race(api, env):
    r0 = api.create(local_body(env, org=api.org))
    d = r0.json()
    e0 = etag_of(r0)
    path = "%s/%s" % (LIST, d["id"])
    names = [uname("race%d" % i) for i in range(8)]
    rs = _parallel(env, api.tok, [
        lambda a, n=n: a.put(path, json={"name": n, "destinationType": "local",
                                         "config": d["config"]},
                             headers={"If-Match": e0})
        for n in names])
    codes = sorted(r.status_code for r in rs)
    assert codes == [200] + [412] * 7, \
        [(r.status_code, r.text[:200]) for r in rs]
    for r in rs:
        if r.status_code == 412:
            assert_problem(r, 412)
    win = [r for r in rs if r.status_code == 200][0]
    g = api.get(path)
    assert g.json()["name"] == win.json()["name"]
    assert etag_of(g) == etag_of(win) != e0


def test_parallel_deletes_one_wins(api, env):
    d = api.create_local(env)
    path = "%s/%s" % (LIST, d["id"])
    rs = _parallel(env, api.tok, [lambda a: a.delete(path) for _ in range(8)])
    codes = sorted(r.status_code for r in rs)
    assert codes == [200] + [404] * 7, \
        [(r.status_code, r.text[:200]) for r in rs]
    assert api.list() == []


def test_parallel_unconditional_puts_and_reads(api, env):
    """PUT without If-Match is unconditional: concurrent ones all succeed
    (serialised by the row lock), never 412."""
    d = api.create_local(env)
    path = "%s/%s" % (LIST, d["id"])
    calls = []
    for i in range(16):
        if i % 2:
            calls.append(lambda a: a.get(path))
        else:
            calls.append(lambda a, i=i: a.put(path, json={
                "name": uname("rw%d" % i), "destinationType": "local",
                "config": d["config"]}))
    rs = _parallel(env, api.tok, calls)
    assert all(r.status_code == 200 for r in rs), \
        [(r.status_code, r.text[:200]) for r in rs]
    assert len(api.list()) == 1
