"""Create / read / list / update / delete of destinations (contract paths
/backup-destinations and /backup-destinations/{id}; BEHAVIOUR.md)."""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import uuid

import pytest

from conftest import (DEST_TYPES, OAUTH_TYPES, UUID_RE, assert_destination,
                      assert_problem, assert_rfc3339, assert_test_result,
                      error_pointers, etag_of, fresh_dir, local_body,
                      missing_dir, org_dir, uname)

LIST = "/backup-destinations"


def _path(d):
    return "%s/%s" % (LIST, d["id"])


def _put_body(d, **over):
    b = {"name": d["name"], "destinationType": d["destinationType"],
         "config": dict(d["config"])}
    b.update(over)
    return b


# ------------------------------------------------------------------ create

def test_create_local(api, env):
    body = local_body(env, org=api.org)
    r = api.post(LIST, json=body)
    assert r.status_code == 201, r.text
    assert r.headers.get("Content-Type", "").split(";")[0] == "application/json"
    d = assert_destination(r.json())
    assert UUID_RE.match(d["id"])
    assert uuid.UUID(d["id"]).version == 7, "ids are UUIDv7 (DESIGN.md)"
    assert r.headers.get("Location") == "%s/%s" % (LIST, d["id"])
    etag_of(r)
    assert r.headers.get("X-Request-Id")
    assert d["name"] == body["name"]
    assert d["destinationType"] == "local"
    assert d["config"] == {"path": body["config"]["path"]}
    assert d["status"] == "active"
    assert d["activeScheduleCount"] == 0
    names = assert_test_result(d["lastTest"], ok=True)
    for c in ("target", "write", "read", "delete"):
        assert c in names, names
    created = assert_rfc3339(d["createdAt"])
    updated = assert_rfc3339(d["updatedAt"])
    assert updated >= created
    # the probe file was cleaned up
    assert os.listdir(body["config"]["path"]) == []


def test_get_one(api, env):
    r = api.create(local_body(env, org=api.org))
    d = r.json()
    g = api.get(_path(d))
    assert g.status_code == 200, g.text
    assert g.headers.get("Content-Type", "").split(";")[0] == "application/json"
    assert etag_of(g) == etag_of(r)
    assert g.headers.get("X-Request-Id")
    assert assert_destination(g.json()) == d


def test_list_newest_first(api, env):
    ids = [api.create_local(env)["id"] for _ in range(3)]
    lst = api.list()
    assert [x["id"] for x in lst] == list(reversed(ids))
    for x in lst:
        assert_destination(x)


def test_list_empty_for_new_org(api):
    assert api.list() == []


def test_list_filter_by_type(api, env):
    loc = api.create_local(env)
    gd = api.create({"name": uname(), "destinationType": "google_drive",
                     "config": {}}).json()
    od = api.create({"name": uname(), "destinationType": "onedrive",
                     "config": {}}).json()
    assert [x["id"] for x in api.list(destinationType="local")] == [loc["id"]]
    assert [x["id"] for x in api.list(destinationType="google_drive")] == [gd["id"]]
    assert [x["id"] for x in api.list(destinationType="onedrive")] == [od["id"]]
    assert api.list(destinationType="s3") == []
    assert [x["id"] for x in api.list()] == [od["id"], gd["id"], loc["id"]]


@pytest.mark.parametrize("value", ["bogus", "", "LOCAL", "local,s3",
                                   "local'--", "google-drive"])
def test_list_filter_bad_value(api, env, value):
    api.create_local(env)
    r = api.get(LIST, params={"destinationType": value})
    assert_problem(r, 400)


# ------------------------------------------------------------------ update

def test_update_without_if_match(api, env):
    r0 = api.create(local_body(env, org=api.org))
    d = r0.json()
    new_dir = fresh_dir(env, api.org)
    new_name = uname("upd")
    r = api.put(_path(d), json=_put_body(d, name=new_name,
                                         config={"path": new_dir}))
    assert r.status_code == 200, r.text
    u = assert_destination(r.json())
    assert u["id"] == d["id"]
    assert u["name"] == new_name
    assert u["config"] == {"path": new_dir}
    assert u["createdAt"] == d["createdAt"]
    assert assert_rfc3339(u["updatedAt"]) >= assert_rfc3339(d["updatedAt"])
    assert_test_result(u["lastTest"], ok=True)
    assert assert_rfc3339(u["lastTest"]["testedAt"]) >= \
        assert_rfc3339(d["lastTest"]["testedAt"])
    e1 = etag_of(r)
    assert e1 != etag_of(r0)
    g = api.get(_path(d))
    assert g.json()["name"] == new_name
    assert etag_of(g) == e1


def test_update_with_matching_if_match(api, env):
    r0 = api.create(local_body(env, org=api.org))
    d = r0.json()
    r = api.put(_path(d), json=_put_body(d, name=uname()),
                headers={"If-Match": etag_of(r0)})
    assert r.status_code == 200, r.text
    assert etag_of(r) != etag_of(r0)


def test_update_same_name_is_not_a_conflict(api, env):
    d = api.create_local(env)
    r = api.put(_path(d), json=_put_body(d))
    assert r.status_code == 200, r.text
    assert r.json()["name"] == d["name"]


def test_if_match_mismatch_412(api, env):
    r0 = api.create(local_body(env, org=api.org))
    d = r0.json()
    for bad in ('"999999"', '"0"', 'W/"999999"'):
        r = api.put(_path(d), json=_put_body(d, name=uname()),
                    headers={"If-Match": bad})
        assert_problem(r, 412)
    g = api.get(_path(d))
    assert g.json()["name"] == d["name"]
    assert etag_of(g) == etag_of(r0)


def test_if_match_stale_after_update_412(api, env):
    r0 = api.create(local_body(env, org=api.org))
    d = r0.json()
    old = etag_of(r0)
    assert api.put(_path(d), json=_put_body(d, name=uname())).status_code == 200
    r = api.put(_path(d), json=_put_body(d, name=uname()),
                headers={"If-Match": old})
    assert_problem(r, 412)


def test_if_match_star(api, env):
    d = api.create_local(env)
    r = api.put(_path(d), json=_put_body(d, name=uname()),
                headers={"If-Match": "*"})
    assert r.status_code == 200, r.text


def test_if_match_list(api, env):
    r0 = api.create(local_body(env, org=api.org))
    d = r0.json()
    e = etag_of(r0)
    r = api.put(_path(d), json=_put_body(d, name=uname()),
                headers={"If-Match": '"123456", %s' % e})
    assert r.status_code == 200, r.text
    e2 = etag_of(r)
    r = api.put(_path(d), json=_put_body(d, name=uname()),
                headers={"If-Match": 'W/%s, %s' % (e2, e2)})
    assert r.status_code == 200, r.text


def test_if_match_weak_never_matches_412(api, env):
    # RFC 9110 13.1.1: If-Match uses the strong comparison, so W/"<current>"
    # is well-formed (not 400) but never matches (issue 13 item 6).
    r0 = api.create(local_body(env, org=api.org))
    d = r0.json()
    r = api.put(_path(d), json=_put_body(d, name=uname()),
                headers={"If-Match": "W/" + etag_of(r0)})
    assert_problem(r, 412)
    g = api.get(_path(d))
    assert g.json()["name"] == d["name"] and etag_of(g) == etag_of(r0)


@pytest.mark.parametrize("garbled", ["abc", '"unterminated', "12", '"1" "2"',
                                     "W/", '"1",,garbage'])
def test_if_match_garbled_400(api, env, garbled):
    r0 = api.create(local_body(env, org=api.org))
    d = r0.json()
    r = api.put(_path(d), json=_put_body(d, name=uname()),
                headers={"If-Match": garbled})
    assert_problem(r, 400)
    g = api.get(_path(d))
    assert g.json()["name"] == d["name"] and etag_of(g) == etag_of(r0)


def test_update_unknown_id_404(api, env):
    r = api.put("%s/%s" % (LIST, uuid.uuid4()), json=local_body(env, org=api.org))
    assert_problem(r, 404)


def test_update_failed_test_changes_nothing(api, env):
    r0 = api.create(local_body(env, org=api.org))
    d = r0.json()
    missing = missing_dir(env, api.org)
    r = api.put(_path(d), json=_put_body(d, name=uname(),
                                         config={"path": missing}))
    p = assert_problem(r, 422)
    assert p.get("failedCheck") == "target", p
    g = api.get(_path(d))
    assert g.json() == d
    assert etag_of(g) == etag_of(r0)


def test_update_invalid_body_changes_nothing(api, env):
    r0 = api.create(local_body(env, org=api.org))
    d = r0.json()
    r = api.put(_path(d), json={"name": "", "destinationType": "local",
                                "config": {"path": d["config"]["path"]}})
    p = assert_problem(r, 422)
    assert "/name" in error_pointers(p)
    g = api.get(_path(d))
    assert g.json() == d and etag_of(g) == etag_of(r0)


# ------------------------------------------------------------------ delete

def test_delete(api, env):
    d = api.create_local(env)
    other = api.create_local(env)
    r = api.delete(_path(d))
    assert r.status_code == 200, r.text
    assert r.json() == {"id": d["id"], "deleted": True}
    assert_problem(api.get(_path(d)), 404)
    assert_problem(api.delete(_path(d)), 404)
    assert_problem(api.put(_path(d), json=_put_body(d)), 404)
    assert_problem(api.post(_path(d) + "/test"), 404)
    assert [x["id"] for x in api.list()] == [other["id"]]


def test_delete_unknown_404(api):
    assert_problem(api.delete("%s/%s" % (LIST, uuid.uuid4())), 404)


def test_name_reusable_after_delete(api, env):
    d = api.create_local(env)
    assert api.delete(_path(d)).status_code == 200
    api.create(local_body(env, org=api.org, name=d["name"]))


# --------------------------------------------------------------- conflicts

def test_duplicate_name_on_create_409(api, env):
    d = api.create_local(env)
    r = api.post(LIST, json=local_body(env, org=api.org, name=d["name"]))
    assert_problem(r, 409)
    assert [x["id"] for x in api.list()] == [d["id"]]


def test_duplicate_name_across_types_409(api, env):
    d = api.create_local(env)
    r = api.post(LIST, json={"name": d["name"], "destinationType": "onedrive",
                             "config": {}})
    assert_problem(r, 409)
    assert len(api.list()) == 1


def test_update_to_existing_name_409(api, env):
    a = api.create_local(env)
    r1 = api.create(local_body(env, org=api.org))
    b = r1.json()
    r = api.put(_path(b), json=_put_body(b, name=a["name"]))
    assert_problem(r, 409)
    g = api.get(_path(b))
    assert g.json()["name"] == b["name"] and etag_of(g) == etag_of(r1)


# ------------------------------------------------------------------ types

@pytest.mark.parametrize("dtype,config", [
    ("google_drive", {}),
    ("google_drive", {"folderId": "abc123", "clientId": "cid.apps"}),
    ("onedrive", {}),
    ("onedrive", {"folderPath": "/Backups", "tenant": "common"}),
    ("dropbox", {}),
    ("dropbox", {"folderPath": "/Backups", "clientId": "appkey123"}),
])
def test_oauth_types_pending(api, dtype, config):
    r = api.post(LIST, json={"name": uname(), "destinationType": dtype,
                             "config": config})
    assert r.status_code == 201, r.text
    d = assert_destination(r.json())
    etag_of(r)
    assert r.headers.get("Location") == "%s/%s" % (LIST, d["id"])
    assert d["status"] == "pending_authorization"
    assert d["lastTest"] is None
    assert d["destinationType"] == dtype
    for k, v in config.items():
        assert d["config"].get(k) == v, d["config"]
    for k in d["config"]:
        assert "token" not in k.lower(), d["config"]


REMOTE_SECRET = "remoteSecret7f3a9c"
REMOTE_B64 = base64.b64encode(REMOTE_SECRET.encode() * 4).decode()
GCS_KEY = json.dumps({
    "type": "service_account", "project_id": "p",
    "client_email": "svc@p.iam.gserviceaccount.com",
    "private_key": "-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----\n"
                   % REMOTE_SECRET,
    "token_uri": "https://oauth2.googleapis.com/token"})
REMOTE_CONFIGS = {
    "s3": {"region": "eu-west-1", "bucket": "my-bucket", "prefix": "backups/",
           "accessKeyId": "AKIAEXAMPLE", "secretAccessKey": REMOTE_SECRET,
           "forcePathStyle": False},
    "gcs": {"bucket": "my-bucket",
            "serviceAccountJson": GCS_KEY},
    "azure_blob": {"accountName": "acct", "accountKey": REMOTE_B64,
                   "container": "backups"},
    "sftp": {"host": "sftp.example.com", "username": "u",
             "password": REMOTE_SECRET, "path": "/backups"},
    "ftp": {"host": "ftp.example.com", "username": "u",
            "password": REMOTE_SECRET, "path": "/backups"},
    "webdav": {"url": "https://dav.example.com/backups", "username": "u",
               "password": REMOTE_SECRET},
    "smb": {"host": "smb.example.com", "share": "backups", "username": "u",
            "password": REMOTE_SECRET},
}


def test_every_remote_type_has_a_case():
    """Every plain type of the registry but local has a config above, so a
    new type cannot skip the test below."""
    remote = set(DEST_TYPES) - set(OAUTH_TYPES) - {"local"}
    assert remote == set(REMOTE_CONFIGS), remote ^ set(REMOTE_CONFIGS)


def test_unknown_type_names_every_registry_type(api):
    r = api.post(LIST, json={"name": uname(), "destinationType": "cifs",
                             "config": {}})
    p = assert_problem(r, 422)
    msg = [e["message"] for e in p["errors"]
           if e["pointer"] == "/destinationType"]
    assert msg == ["must be one of " + ", ".join(DEST_TYPES)], p


@pytest.mark.parametrize("dtype", sorted(REMOTE_CONFIGS))
def test_remote_type_unreachable_stores_nothing(api, env, dtype):
    """Every remote type is tested for real before it is stored: these hosts
    cannot be reached from here (no network, and egress allows only the
    test peers), so the create fails at the connect check, stores nothing,
    and echoes no secret."""
    keep = api.create_local(env)
    r = api.post(LIST, json={"name": uname(), "destinationType": dtype,
                             "config": REMOTE_CONFIGS[dtype]})
    p = assert_problem(r, 422)
    # The gcs key above is not a real RSA key: it fails to sign the token
    # request (auth) before any connection is tried.
    want = "auth" if dtype == "gcs" else "connect"
    assert p["failedCheck"] == want, p
    assert [c["name"] for c in p["checks"]][-1] == want, p
    if want == "connect":
        # The names resolve to a blackholed address for the run
        # (egress_guard): the connection itself failed, on any machine.
        assert "does not resolve" not in p["checks"][-1]["detail"], p
    assert REMOTE_SECRET not in r.text and REMOTE_B64 not in r.text
    assert [x["id"] for x in api.list()] == [keep["id"]]


# ------------------------------------------------------- local path checks

@pytest.fixture
def cleanup():
    paths = []
    yield paths
    for p in paths:
        if os.path.islink(p):
            os.unlink(p)
        elif os.path.isdir(p):
            shutil.rmtree(p, ignore_errors=True)


def _outside_dir(cleanup):
    d = tempfile.mkdtemp(prefix="backupd-outside-")
    os.chmod(d, 0o777)
    cleanup.append(d)
    return d


def _case_outside(env, org, cleanup):
    return _outside_dir(cleanup)


def _case_traversal(env, org, cleanup):
    out = _outside_dir(cleanup)
    rel = os.path.relpath(out, org_dir(env, org))
    return os.path.join(org_dir(env, org), rel)  # <root>/<org>/../../../tmp/..


def _case_symlink(env, org, cleanup):
    out = _outside_dir(cleanup)
    link = os.path.join(org_dir(env, org), "link-" + uuid.uuid4().hex)
    os.symlink(out, link)
    cleanup.append(link)
    return link


def _case_prefix_sibling(env, org, cleanup):
    # "<root>-evil-..." starts with the root's string but is not under it
    sib = env["LOCAL_ROOT"].rstrip("/") + "-evil-" + uuid.uuid4().hex[:6]
    os.makedirs(sib)
    os.chmod(sib, 0o777)
    cleanup.append(sib)
    return sib


def _case_root_parent(env, org, cleanup):
    return os.path.dirname(env["LOCAL_ROOT"].rstrip("/"))


def _probe_files(path):
    try:
        return [n for n in os.listdir(path) if n.startswith(".backupd-probe")]
    except OSError:
        return []


@pytest.mark.parametrize("case", [_case_outside, _case_traversal,
                                  _case_symlink, _case_prefix_sibling,
                                  _case_root_parent],
                         ids=["outside", "dotdot", "symlink", "prefix-sibling",
                              "root-parent"])
def test_local_path_outside_root_422(api, env, case, cleanup):
    path = case(env, api.org, cleanup)
    root = os.path.realpath(env["LOCAL_ROOT"])
    assert not os.path.realpath(path).startswith(root + "/")
    r = api.post(LIST, json=local_body(env, org=api.org, path=path))
    p = assert_problem(r, 422)
    # The local probe judges the path in its target check, and names why.
    assert p.get("failedCheck") == "target", p
    assert "outside the allowed local roots" in p["checks"][-1]["detail"], p
    assert api.list() == []
    assert _probe_files(path) == [], "probe left a file outside the root"
    if os.path.realpath(path) in [os.path.realpath(c) for c in cleanup]:
        assert os.listdir(path) == [], "probe wrote outside the root"


def test_local_path_missing_422_target(api, env):
    missing = missing_dir(env, api.org)
    r = api.post(LIST, json=local_body(env, org=api.org, path=missing))
    p = assert_problem(r, 422)
    assert p.get("failedCheck") == "target", p
    checks = p.get("checks")
    assert isinstance(checks, list) and checks, p
    assert checks[-1]["name"] == "target" and checks[-1]["ok"] is False, p
    assert not os.path.exists(missing), "the probe created the directory"


def test_local_path_is_a_file_422(api, env):
    f = os.path.join(fresh_dir(env, api.org), "plainfile")
    with open(f, "w") as fh:
        fh.write("x")
    p = assert_problem(api.post(LIST, json=local_body(env, org=api.org, path=f)), 422)
    assert p.get("failedCheck") == "target", p


def test_local_path_relative_422(api, env):
    r = api.post(LIST, json=local_body(env, org=api.org, path="relative/dir"))
    p = assert_problem(r, 422)
    # Refused by validation, before any probe: an error at the field.
    assert error_pointers(p) == ["/config/path"], p
    assert "failedCheck" not in p and "lastTest" not in p, p
    assert api.list() == []


def test_local_write_refused_422_write(api, env):
    """A directory the service cannot write in fails the write check (and
    only it), stores nothing and leaves nothing. The service runs as this
    user: for root, permission bits do not stop a write, so the directory
    is a read-only bind mount of itself (root can write through no such
    mount); for another user, mode 0555. Either way the test runs."""
    d = fresh_dir(env, api.org)
    mounted = False
    if os.geteuid() == 0:
        subprocess.run(["mount", "--bind", d, d], check=True,
                       capture_output=True)
        mounted = True
    try:
        if mounted:
            subprocess.run(["mount", "-o", "remount,bind,ro", d], check=True,
                           capture_output=True)
        else:
            os.chmod(d, 0o555)
        with pytest.raises(OSError):
            open(os.path.join(d, "canary"), "w").close()
        r = api.post(LIST, json=local_body(env, path=d))
        p = assert_problem(r, 422)
        assert p.get("failedCheck") == "write", p
        assert [(c["name"], c["ok"]) for c in p["checks"]] == \
            [("target", True), ("write", False)], p
        assert p["checks"][-1]["detail"] == \
            "no permission to write in '%s'" % d, p
        assert api.list() == []
        assert os.listdir(d) == []
    finally:
        if mounted:
            subprocess.run(["umount", d], check=True, capture_output=True)
        os.chmod(d, 0o777)
    # The same directory, writable again, is accepted.
    api.create(local_body(env, path=d))


def test_failed_create_stores_nothing(api, env):
    keep = api.create_local(env)
    name = uname()
    missing = missing_dir(env, api.org)
    assert_problem(api.post(LIST, json=local_body(env, org=api.org, name=name,
                                                  path=missing)), 422)
    assert [x["id"] for x in api.list()] == [keep["id"]]
    # the name was not taken
    r = api.create(local_body(env, org=api.org, name=name))
    assert r.json()["name"] == name
    assert len(api.list()) == 2


def test_directory_removed_after_create_then_get_still_works(api, env):
    d = api.create_local(env)
    shutil.rmtree(d["config"]["path"])
    g = api.get(_path(d))
    assert g.status_code == 200 and g.json()["id"] == d["id"]


# ---------------------------------------------------------------- headers

def test_every_response_has_request_id(api, env):
    seen = set()
    for r in (api.post(LIST, json=local_body(env, org=api.org)), api.get(LIST),
              api.get("%s/%s" % (LIST, uuid.uuid4()))):
        rid = r.headers.get("X-Request-Id")
        assert rid, r.headers
        seen.add(rid)
    assert len(seen) == 3, "request ids must be unique per request"
