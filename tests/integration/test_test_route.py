"""POST /backup-destinations/{id}/test (contract; BEHAVIOUR.md: 200 TestResult
or 422 with failedCheck and checks, outcome recorded as lastTest/status)."""

import os
import shutil
import tempfile
import time
import uuid

from conftest import (assert_problem, assert_rfc3339, assert_test_result,
                      local_body)

LIST = "/backup-destinations"


def _test(api, d, **kw):
    return api.post("%s/%s/test" % (LIST, d["id"]), **kw)


def test_local_test_ok(api, env):
    d = api.create_local(env)
    time.sleep(0.01)
    r = _test(api, d)
    assert r.status_code == 200, r.text
    assert r.headers.get("Content-Type", "").split(";")[0] == "application/json"
    tr = r.json()
    names = assert_test_result(tr, ok=True)
    for c in ("target", "write", "read", "delete"):
        assert c in names, names
    assert assert_rfc3339(tr["testedAt"]) >= \
        assert_rfc3339(d["lastTest"]["testedAt"])
    assert os.listdir(d["config"]["path"]) == [], "probe file left behind"
    g = api.get("%s/%s" % (LIST, d["id"])).json()
    assert g["status"] == "active"
    assert g["lastTest"] == tr


def test_test_needs_no_body_or_content_type(api, env):
    d = api.create_local(env)
    r = api.post("%s/%s/test" % (LIST, d["id"]), data=None, content_type=None)
    assert r.status_code == 200, r.text


def test_test_with_json_body_is_fine(api, env):
    d = api.create_local(env)
    r = _test(api, d, json={})
    assert r.status_code == 200, r.text


def test_failure_recorded_then_recovers(api, env):
    r0 = api.create(local_body(env, org=api.org))
    d = r0.json()
    path = d["config"]["path"]
    shutil.rmtree(path)

    r = _test(api, d)
    p = assert_problem(r, 422)
    assert p.get("failedCheck") == "target", p
    checks = p.get("checks")
    assert isinstance(checks, list) and checks, p
    assert [c["name"] for c in checks][-1] == "target"
    assert checks[-1]["ok"] is False
    assert all(c["ok"] for c in checks[:-1]), checks

    g = api.get("%s/%s" % (LIST, d["id"]))
    gd = g.json()
    assert gd["status"] == "error", gd
    assert_test_result(gd["lastTest"], ok=False)
    assert [c["name"] for c in gd["lastTest"]["checks"]][-1] == "target"
    assert not os.path.exists(path), "the test recreated the directory"

    # the failed test did not turn the config away: it is still there
    assert gd["config"] == d["config"] and gd["name"] == d["name"]

    os.makedirs(path)
    os.chmod(path, 0o777)
    r = _test(api, d)
    assert r.status_code == 200, r.text
    assert_test_result(r.json(), ok=True)
    gd = api.get("%s/%s" % (LIST, d["id"])).json()
    assert gd["status"] == "active", gd
    assert gd["lastTest"]["ok"] is True


def test_path_replaced_by_file(api, env):
    d = api.create_local(env)
    path = d["config"]["path"]
    shutil.rmtree(path)
    with open(path, "w") as fh:
        fh.write("not a dir")
    try:
        p = assert_problem(_test(api, d), 422)
        assert p.get("failedCheck") == "target", p
        assert api.get("%s/%s" % (LIST, d["id"])).json()["status"] == "error"
    finally:
        os.unlink(path)


def test_path_replaced_by_symlink_outside_root(api, env):
    d = api.create_local(env)
    path = d["config"]["path"]
    outside = tempfile.mkdtemp(prefix="backupd-outside-")
    os.chmod(outside, 0o777)
    shutil.rmtree(path)
    os.symlink(outside, path)
    try:
        p = assert_problem(_test(api, d), 422)
        assert p.get("failedCheck") == "target", p
        assert p["checks"][-1]["detail"].endswith(
            "resolves outside the allowed local roots"), p
        assert os.listdir(outside) == [], "probe wrote outside the root"
    finally:
        os.unlink(path)
        shutil.rmtree(outside, ignore_errors=True)


def test_oauth_pending_fails_auth(api):
    r = api.create({"name": "gd-" + uuid.uuid4().hex[:8],
                    "destinationType": "google_drive", "config": {}})
    d = r.json()
    p = assert_problem(_test(api, d), 422)
    assert p.get("failedCheck") == "auth", p
    g = api.get("%s/%s" % (LIST, d["id"])).json()
    assert g["lastTest"] is not None and g["lastTest"]["ok"] is False, g


def test_onedrive_pending_fails_auth(api):
    r = api.create({"name": "od-" + uuid.uuid4().hex[:8],
                    "destinationType": "onedrive", "config": {}})
    p = assert_problem(_test(api, r.json()), 422)
    assert p.get("failedCheck") == "auth", p


def test_test_unknown_and_malformed_id(api):
    assert_problem(api.post("%s/%s/test" % (LIST, uuid.uuid4())), 404)
    assert_problem(api.post("%s/not-a-uuid/test" % LIST), 404)
