"""Request validation: 400 / 413 / 415 / 422 / 405 / 404 (BEHAVIOUR.md order:
routing, auth, role, content type, body, id lookup, validation)."""

import json
import uuid

import pytest

from conftest import assert_problem, error_pointers, local_body, uname

LIST = "/backup-destinations"


@pytest.fixture
def seeded(api, env):
    """One destination in the org; returns (destination, list before)."""
    d = api.create_local(env)
    return d, api.list()


def _unchanged(api, before):
    assert api.list() == before, "a rejected request changed the data"


def _targets(d):
    """(method, path) of the two routes that take a DestinationInput."""
    return [("POST", LIST), ("PUT", "%s/%s" % (LIST, d["id"]))]


# -------------------------------------------------------------------- 400

BAD_BODIES = {
    "invalid-json": b'{"name": ',
    "invalid-token": b"{name: 'x'}",
    "array": b'[{"name": "x", "destinationType": "local", "config": {}}]',
    "empty-array": b"[]",
    "string": b'"a string"',
    "number": b"42",
    "null": b"null",
    "true": b"true",
    "empty": b"",
    "trailing-garbage": b'{"name": "x", "destinationType": "local", '
                        b'"config": {"path": "/x"}} garbage',
    "two-objects": b'{"name": "x"}{"name": "y"}',
    "unclosed-string": b'{"name": "x',
    "nul-byte": b'{"name": "x"}\x00',
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
@pytest.mark.parametrize("target", [0, 1], ids=["POST", "PUT"])
def test_bad_body_400(api, seeded, case, target):
    d, before = seeded
    method, path = _targets(d)[target]
    r = api.request(method, path, data=BAD_BODIES[case],
                    content_type="application/json")
    assert_problem(r, 400)
    _unchanged(api, before)


def test_deep_nesting_rejected(api, seeded):
    d, before = seeded
    deep = b'{"name": "x", "destinationType": "local", "config": {"path": ' \
        + b"[" * 5000 + b"]" * 5000 + b"}}"
    r = api.post(LIST, data=deep, content_type="application/json")
    assert r.status_code in (400, 422), (r.status_code, r.text[:300])
    assert_problem(r, r.status_code)
    _unchanged(api, before)


# -------------------------------------------------------------------- 415

@pytest.mark.parametrize("ctype", [None, "text/plain", "application/xml",
                                   "application/x-www-form-urlencoded",
                                   "text/json", "application/jsonx",
                                   "multipart/form-data; boundary=x"])
@pytest.mark.parametrize("target", [0, 1], ids=["POST", "PUT"])
def test_unsupported_media_type_415(api, env, seeded, ctype, target):
    d, before = seeded
    method, path = _targets(d)[target]
    body = json.dumps(local_body(env, org=api.org)).encode()
    r = api.request(method, path, data=body, content_type=ctype)
    assert_problem(r, 415)
    _unchanged(api, before)


def test_415_before_400(api, seeded):
    d, before = seeded
    r = api.post(LIST, data=b"{not json", content_type="text/plain")
    assert_problem(r, 415)
    _unchanged(api, before)


@pytest.mark.parametrize("ctype", ["application/json; charset=utf-8",
                                   "Application/JSON",
                                   "application/json;charset=UTF-8",
                                   "APPLICATION/JSON; Charset=\"utf-8\""])
def test_json_content_type_variants_accepted(api, env, ctype):
    body = local_body(env, org=api.org)
    r = api.post(LIST, data=json.dumps(body).encode(), content_type=ctype)
    assert r.status_code == 201, (r.status_code, r.text)
    assert r.json()["name"] == body["name"]


def test_trailing_whitespace_accepted(api, env):
    body = local_body(env, org=api.org)
    r = api.post(LIST, data=json.dumps(body).encode() + b"\n  \r\n",
                 content_type="application/json")
    assert r.status_code == 201, r.text


# -------------------------------------------------------------------- 413

def _big_body(env, size, org):
    body = local_body(env, org=org)
    raw = json.dumps(body).encode()
    pad = size - len(raw)
    assert pad > 0
    # whitespace before the closing brace keeps it valid JSON
    return raw[:-1] + b" " * pad + b"}"


@pytest.mark.parametrize("target", [0, 1], ids=["POST", "PUT"])
def test_too_large_413(api, env, seeded, target):
    d, before = seeded
    method, path = _targets(d)[target]
    data = _big_body(env, 70000, api.org)
    assert len(data) == 70000
    r = api.request(method, path, data=data, content_type="application/json")
    assert_problem(r, 413)
    _unchanged(api, before)


def test_too_large_chunked_413(api, env, seeded):
    d, before = seeded
    data = _big_body(env, 70000, api.org)
    chunks = (data[i:i + 4096] for i in range(0, len(data), 4096))
    r = api.post(LIST, data=chunks, content_type="application/json")
    assert_problem(r, 413)
    _unchanged(api, before)


def test_large_but_allowed_body(api, env):
    """A valid body just under the 64 KiB limit is accepted."""
    data = _big_body(env, 65000, api.org)
    r = api.post(LIST, data=data, content_type="application/json")
    assert r.status_code == 201, (r.status_code, r.text[:500])


# -------------------------------------------------------------------- 422

def _valid(env, org):
    return local_body(env, org=org)


def _gd(**config):
    return {"name": uname(), "destinationType": "google_drive",
            "config": config}


def _case(env, name, org):
    """(body, expected pointers) for each 422 case."""
    b = _valid(env, org)
    path = b["config"]["path"]
    if name == "missing-name":
        del b["name"]
        return b, ["/name"]
    if name == "missing-destinationType":
        del b["destinationType"]
        return b, ["/destinationType"]
    if name == "missing-config":
        del b["config"]
        return b, ["/config"]
    if name == "missing-config-path":
        b["config"] = {}
        return b, ["/config/path"]
    if name == "unknown-top-level":
        b["status"] = "active"
        return b, ["/status"]
    if name == "unknown-top-level-id":
        b["id"] = str(uuid.uuid4())
        return b, ["/id"]
    if name == "unknown-config-field":
        b["config"]["x"] = 1
        return b, ["/config/x"]
    if name == "name-number":
        b["name"] = 5
        return b, ["/name"]
    if name == "name-null":
        b["name"] = None
        return b, ["/name"]
    if name == "name-object":
        b["name"] = {"x": 1}
        return b, ["/name"]
    if name == "type-number":
        b["destinationType"] = 5
        return b, ["/destinationType"]
    if name == "config-string":
        b["config"] = "path=" + path
        return b, ["/config"]
    if name == "config-array":
        b["config"] = [path]
        return b, ["/config"]
    if name == "config-null":
        b["config"] = None
        return b, ["/config"]
    if name == "path-number":
        b["config"]["path"] = 5
        return b, ["/config/path"]
    if name == "path-bool":
        b["config"]["path"] = True
        return b, ["/config/path"]
    if name == "path-empty":
        b["config"]["path"] = ""
        return b, ["/config/path"]
    if name == "unknown-type":
        b["destinationType"] = "cifs"
        return b, ["/destinationType"]
    if name == "type-wrong-case":
        b["destinationType"] = "Local"
        return b, ["/destinationType"]
    if name == "name-129":
        b["name"] = "n" * 129
        return b, ["/name"]
    if name == "name-129-multibyte":
        b["name"] = "\u00e9" * 129
        return b, ["/name"]
    if name == "name-empty":
        b["name"] = ""
        return b, ["/name"]
    if name == "name-control-char":
        b["name"] = "bad\nname"
        return b, ["/name"]
    if name == "gd-access-token":
        return _gd(accessToken="ya29.client-supplied"), ["/config/accessToken"]
    if name == "gd-refresh-token":
        return _gd(refreshToken="1//client-supplied"), ["/config/refreshToken"]
    if name == "gd-both-tokens":
        return (_gd(accessToken="a", refreshToken="r"),
                ["/config/accessToken", "/config/refreshToken"])
    if name == "gd-placeholder-secret":
        return _gd(clientId="cid", clientSecret="********"), \
            ["/config/clientSecret"]
    if name == "od-placeholder-secret":
        return ({"name": uname(), "destinationType": "onedrive",
                 "config": {"clientSecret": "********"}},
                ["/config/clientSecret"])
    if name == "gd-folder-number":
        return _gd(folderId=5), ["/config/folderId"]
    if name == "od-tenant-bool":
        return ({"name": uname(), "destinationType": "onedrive",
                 "config": {"tenant": False}}, ["/config/tenant"])
    raise KeyError(name)


CASES_422 = [
    "missing-name", "missing-destinationType", "missing-config",
    "missing-config-path", "unknown-top-level", "unknown-top-level-id",
    "unknown-config-field", "name-number", "name-null", "name-object",
    "type-number", "config-string", "config-array", "config-null",
    "path-number", "path-bool", "path-empty", "unknown-type",
    "type-wrong-case", "name-129", "name-129-multibyte", "name-empty",
    "name-control-char", "gd-access-token", "gd-refresh-token",
    "gd-both-tokens", "gd-placeholder-secret", "od-placeholder-secret",
    "gd-folder-number", "od-tenant-bool",
]


@pytest.mark.parametrize("case", CASES_422)
def test_unprocessable_422_on_create(api, env, seeded, case):
    d, before = seeded
    body, pointers = _case(env, case, api.org)
    r = api.post(LIST, json=body)
    p = assert_problem(r, 422)
    assert sorted(error_pointers(p)) == sorted(pointers), p
    assert "failedCheck" not in p, p
    _unchanged(api, before)


@pytest.mark.parametrize("case", ["missing-name", "unknown-config-field",
                                  "name-129", "unknown-type", "path-number",
                                  "gd-access-token", "unknown-top-level"])
def test_unprocessable_422_on_update(api, env, seeded, case):
    d, before = seeded
    body, pointers = _case(env, case, api.org)
    r = api.put("%s/%s" % (LIST, d["id"]), json=body)
    p = assert_problem(r, 422)
    assert sorted(error_pointers(p)) == sorted(pointers), p
    _unchanged(api, before)


def test_several_errors_listed(api, env, seeded):
    d, before = seeded
    body = {"name": "", "destinationType": "local",
            "config": {"path": 5, "bogus": 1}, "extra": True}
    p = assert_problem(api.post(LIST, json=body), 422)
    ptrs = error_pointers(p)
    for want in ("/name", "/config/path", "/config/bogus", "/extra"):
        assert want in ptrs, p
    assert len(ptrs) == len(set(ptrs)), "each error once: %r" % ptrs
    _unchanged(api, before)


def test_all_missing_listed(api, seeded):
    d, before = seeded
    p = assert_problem(api.post(LIST, json={}), 422)
    assert sorted(error_pointers(p)) == ["/config", "/destinationType", "/name"]
    _unchanged(api, before)


@pytest.mark.parametrize("name", ["n" * 128, "\u00e9" * 128,
                                  "\U0001F4BE" * 128, "x",
                                  "name with spaces / and 'quotes' \"\\"])
def test_name_boundaries_accepted(api, env, name):
    r = api.post(LIST, json=local_body(env, org=api.org, name=name))
    assert r.status_code == 201, (r.status_code, r.text[:300])
    d = r.json()
    assert d["name"] == name
    assert api.get("%s/%s" % (LIST, d["id"])).json()["name"] == name


# -------------------------------------------------------------------- 405

ALLOW_ID = {"GET", "PUT", "DELETE"}
ALLOW_LIST = {"GET", "POST"}
ALLOW_TEST = {"POST"}
ALLOW_OAUTH = {"POST"}
ALLOW_CALLBACK = {"GET"}


def _allow_set(r):
    v = r.headers.get("Allow")
    assert v is not None, "405 without Allow: %r" % dict(r.headers)
    return {m.strip().upper() for m in v.split(",") if m.strip()} \
        - {"HEAD", "OPTIONS"}


@pytest.mark.parametrize("method,suffix,allowed", [
    ("PATCH", "/{id}", ALLOW_ID),
    ("POST", "/{id}", ALLOW_ID),
    ("DELETE", "", ALLOW_LIST),
    ("PUT", "", ALLOW_LIST),
    ("PATCH", "", ALLOW_LIST),
    ("GET", "/{id}/test", ALLOW_TEST),
    ("PUT", "/{id}/test", ALLOW_TEST),
    ("DELETE", "/{id}/test", ALLOW_TEST),
    # The OAuth routes, against the real server (the router's unit test
    # only sees a copy of the table).
    ("GET", "/{id}/oauth", ALLOW_OAUTH),
    ("PUT", "/{id}/oauth", ALLOW_OAUTH),
    ("DELETE", "/{id}/oauth", ALLOW_OAUTH),
    ("POST", "/oauth/callback", ALLOW_CALLBACK),
    ("PUT", "/oauth/callback", ALLOW_CALLBACK),
    ("DELETE", "/oauth/callback", ALLOW_CALLBACK),
])
@pytest.mark.parametrize("authed", [True, False], ids=["auth", "noauth"])
def test_method_not_allowed_405(api, env, seeded, method, suffix, allowed,
                                authed):
    d, before = seeded
    path = LIST + suffix.replace("{id}", d["id"])
    kw = {} if authed else {"token": None}
    if method in ("PUT", "PATCH", "POST"):
        kw["json"] = local_body(env, org=api.org)
    r = api.request(method, path, **kw)
    assert_problem(r, 405)
    assert _allow_set(r) == allowed
    _unchanged(api, before)


# -------------------------------------------------------------------- 404

MALFORMED_IDS = ["not-a-uuid", "12345",
                 "00000000-0000-0000-0000-00000000000",      # 35 chars
                 "00000000-0000-0000-0000-0000000000000",    # 37 chars
                 "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
                 "%27%20OR%20%271%27%3D%271",
                 "0190a000-0000-7000-8000-00000000000g"]


@pytest.mark.parametrize("bad", MALFORMED_IDS)
def test_malformed_id_404(api, env, seeded, bad):
    d, before = seeded
    path = "%s/%s" % (LIST, bad)
    assert_problem(api.get(path), 404)
    assert_problem(api.delete(path), 404)
    assert_problem(api.put(path, json=local_body(env, org=api.org)), 404)
    assert_problem(api.post(path + "/test"), 404)
    _unchanged(api, before)


def test_unknown_uuid_404(api, env, seeded):
    d, before = seeded
    path = "%s/%s" % (LIST, uuid.uuid4())
    assert_problem(api.get(path), 404)
    assert_problem(api.delete(path), 404)
    assert_problem(api.put(path, json=local_body(env, org=api.org)), 404)
    assert_problem(api.post(path + "/test"), 404)
    _unchanged(api, before)


@pytest.mark.parametrize("suffix", ["/{id}/foo", "/{id}/test/extra",
                                    "/{id}/tests", "/a/b/c",
                                    "/{id}/oauth/extra"])
@pytest.mark.parametrize("authed", [True, False], ids=["auth", "noauth"])
def test_unknown_sub_path_404(api, seeded, suffix, authed):
    d, before = seeded
    path = LIST + suffix.replace("{id}", d["id"])
    kw = {} if authed else {"token": None}
    assert_problem(api.get(path, **kw), 404)
    assert_problem(api.post(path, **kw), 404)
    _unchanged(api, before)


def test_404_for_id_checked_before_validation(api, seeded):
    """id lookup (404) comes before body validation (422)."""
    d, before = seeded
    r = api.put("%s/%s" % (LIST, uuid.uuid4()), json={"bogus": 1})
    assert_problem(r, 404)
    _unchanged(api, before)


def test_body_checked_before_id(api, seeded):
    """Body parse errors (400) come before the id lookup (404)."""
    d, before = seeded
    r = api.put("%s/%s" % (LIST, uuid.uuid4()), data=b"{oops",
                content_type="application/json")
    assert_problem(r, 400)
    _unchanged(api, before)
