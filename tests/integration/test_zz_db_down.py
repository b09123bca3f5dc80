"""Database outage: fast 503 problems while MariaDB is down, recovery without
restarting backupd. Named test_zz_* so that it runs last."""

import time
from concurrent.futures import ThreadPoolExecutor

from conftest import (Api, assert_problem, local_body, make_token, run_stack)

LIST = "/backup-destinations"


def _timed(fn):
    t0 = time.monotonic()
    r = fn()
    return r, time.monotonic() - t0


def test_db_down_then_recovers(api, env):
    d = api.create_local(env)
    assert api.get(LIST).status_code == 200

    stop = run_stack(env, "db-stop")
    try:
        assert stop.returncode == 0, stop.stderr[-2000:]

        # several requests, so that several workers notice
        for _ in range(4):
            r, took = _timed(lambda: api.get(LIST, timeout=15))
            assert_problem(r, 503)
            assert took < 5.0, "503 took %.1fs" % took
        r, took = _timed(lambda: api.get("%s/%s" % (LIST, d["id"]),
                                         timeout=15))
        assert_problem(r, 503)
        assert took < 5.0
        r, took = _timed(lambda: api.post(LIST, json=local_body(env, org=api.org),
                                          timeout=15))
        assert_problem(r, 503)
        assert took < 5.0

        # auth needs no database: a bad token is still a 401
        bad = make_token(env, org="x", key="not-the-key")
        r, took = _timed(lambda: api.get(LIST, token=bad, timeout=15))
        assert_problem(r, 401)
        assert took < 5.0
    finally:
        start = run_stack(env, "db-start", timeout=180)
    assert start.returncode == 0, start.stderr[-2000:]

    # the workers reconnect by themselves: within ~10 s every worker answers
    deadline = time.monotonic() + 15
    last = None
    ok_once = False
    while time.monotonic() < deadline:
        r = api.get(LIST, timeout=10)
        last = (r.status_code, r.text[:200])
        if r.status_code == 200:
            ok_once = True
            break
        time.sleep(0.5)
    assert ok_once, "no 200 within 15 s after db-start: %r" % (last,)

    def burst():
        def one(_):
            a = Api(env["BACKUPD_URL"], api.tok)
            try:
                return a.get(LIST, timeout=10).status_code
            finally:
                a.close()
        with ThreadPoolExecutor(max_workers=8) as ex:
            return list(ex.map(one, range(8)))

    codes = burst()
    while codes != [200] * 8 and time.monotonic() < deadline:
        time.sleep(0.5)
        codes = burst()
    assert codes == [200] * 8, codes

    # data survived and writes work again
    lst = api.list()
    assert [x["id"] for x in lst] == [d["id"]]
    assert api.create(local_body(env, org=api.org)).status_code == 201
