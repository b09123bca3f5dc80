"""Bearer JWT authentication and role checks (contract: securitySchemes;
BEHAVIOUR.md: 401 with WWW-Authenticate, roles viewer/member/admin/owner)."""

import time

import pytest

from conftest import (OMIT, assert_problem, hand_token, local_body,
                      make_token, uname)

LIST = "/backup-destinations"


def _ok(r):
    assert r.status_code == 200, (r.status_code, r.text[:500])
    assert isinstance(r.json(), list)


def _unauth(r, tok=None):
    p = assert_problem(r, 401)
    if tok:
        assert tok not in r.text, "401 echoes the token"
        sig = tok.split(".")[-1]
        if len(sig) >= 16:
            assert sig not in r.text, "401 echoes the signature"
    return p


def _payload(org, **extra):
    now = int(time.time())
    p = {"sub": "tester", "org_id": org, "exp": now + 300, "iat": now}
    p.update(extra)
    return p


# ------------------------------------------------------------ header shape

def test_missing_authorization_header(api):
    _unauth(api.get(LIST, token=None))


def test_missing_header_on_every_route(api, env):
    d = api.create_local(env)
    path = "/backup-destinations/" + d["id"]
    for method, p, with_body in (("GET", path, False), ("PUT", path, True),
                                 ("DELETE", path, False),
                                 ("POST", path + "/test", False),
                                 ("POST", LIST, True)):
        kw = {"json": local_body(env, org=api.org)} if with_body else {}
        _unauth(api.request(method, p, token=None, **kw))
    # nothing happened
    r = api.get(path)
    assert r.status_code == 200 and r.json()["name"] == d["name"]
    assert len(api.list()) == 1


@pytest.mark.parametrize("scheme", ["Basic", "Token", "JWT", "Bearer:", "Bearerx"])
def test_wrong_scheme(api, scheme):
    tok = api.tok
    _unauth(api.get(LIST, auth_header="%s %s" % (scheme, tok)), tok)


def test_token_without_scheme(api):
    _unauth(api.get(LIST, auth_header=api.tok), api.tok)


@pytest.mark.parametrize("value", ["Bearer", "Bearer ", "Bearer  ", "",
                                   "Basic dXNlcjpwYXNz"])
def test_empty_or_basic_credentials(api, value):
    _unauth(api.get(LIST, auth_header=value))


@pytest.mark.parametrize("garbage", [
    "abc", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9", "eyJhbGciOiJIUzI1NiJ9..",
    "e30.e30.", "%%%.%%%.%%%", "x" * 5000,
])
def test_garbage_token(api, garbage):
    _unauth(api.get(LIST, auth_header="Bearer " + garbage))


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
def test_scheme_is_case_insensitive(api, scheme):
    _ok(api.get(LIST, auth_header="%s %s" % (scheme, api.tok)))


def test_token_in_query_string_not_accepted(api):
    r = api.get(LIST, token=None, params={"access_token": api.tok})
    _unauth(r, api.tok)


def test_valid_token_sanity(api):
    _ok(api.get(LIST))


# ------------------------------------------------------------- time claims

def test_expired(api, token, org):
    tok = token(org=org, exp=int(time.time()) - 3600)
    _unauth(api.get(LIST, token=tok), tok)


def test_exp_missing(api, token, org):
    tok = token(org=org, exp=OMIT)
    _unauth(api.get(LIST, token=tok), tok)


@pytest.mark.parametrize("kind", ["string", "numeric-string", "null", "bool"])
def test_exp_not_an_integer(api, token, org, kind):
    now = int(time.time())
    exp = {"string": "tomorrow", "numeric-string": str(now + 300),
           "null": None, "bool": True}[kind]
    tok = token(org=org, exp=exp)
    _unauth(api.get(LIST, token=tok), tok)


def test_nbf_in_future(api, token, org):
    tok = token(org=org, nbf=int(time.time()) + 3600)
    _unauth(api.get(LIST, token=tok), tok)


def test_nbf_within_leeway_accepted(api, token, org):
    _ok(api.get(LIST, token=token(org=org, nbf=int(time.time()) + 20)))


def test_iat_in_future(api, token, org):
    tok = token(org=org, iat=int(time.time()) + 3600)
    _unauth(api.get(LIST, token=tok), tok)


def test_iat_within_leeway_accepted(api, token, org):
    _ok(api.get(LIST, token=token(org=org, iat=int(time.time()) + 20)))


# ------------------------------------------------------------- signatures

def test_wrong_signature(api, env, org):
    tok = make_token(env, org=org, key="definitely-not-the-server-key")
    _unauth(api.get(LIST, token=tok), tok)


def test_tampered_payload(api, env, org, token):
    good = token(org=org)
    other = token(org="org-someone-else", sub="mallory")
    h, _, s = good.split(".")
    forged = "%s.%s.%s" % (h, other.split(".")[1], s)
    _unauth(api.get(LIST, token=forged), forged)


def test_stripped_signature(api, org, token):
    good = token(org=org)
    h, p, _ = good.split(".")
    _unauth(api.get(LIST, token="%s.%s." % (h, p)))
    _unauth(api.get(LIST, token="%s.%s" % (h, p)))


def test_hand_built_hs256_accepted(api, env, org):
    """Control for the hand-built tokens below: the builder itself works."""
    tok = hand_token({"alg": "HS256", "typ": "JWT"}, _payload(org),
                     key=env["BACKUPD_JWT_KEY"])
    _ok(api.get(LIST, token=tok))


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signed", [False, True])
def test_alg_none(api, env, org, alg, signed):
    tok = hand_token({"alg": alg, "typ": "JWT"}, _payload(org),
                     key=env["BACKUPD_JWT_KEY"] if signed else None)
    _unauth(api.get(LIST, token=tok))


def test_alg_header_missing(api, env, org):
    tok = hand_token({"typ": "JWT"}, _payload(org), key=env["BACKUPD_JWT_KEY"])
    _unauth(api.get(LIST, token=tok))


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_hmac_alg_rejected_when_hs256_pinned(api, env, org, alg):
    tok = make_token(env, org=org, alg=alg)
    _unauth(api.get(LIST, token=tok), tok)


@pytest.mark.parametrize("alg", ["hs256", "HS256 ", "RS256", "ES256"])
def test_alg_not_exactly_pinned(api, env, org, alg):
    """Header alg differs from the pinned one although the signature is a
    valid HMAC-SHA256 with the server key (alg confusion)."""
    tok = hand_token({"alg": alg, "typ": "JWT"}, _payload(org),
                     key=env["BACKUPD_JWT_KEY"])
    _unauth(api.get(LIST, token=tok))


# ------------------------------------------------------- required claims

def test_missing_sub(api, token, org):
    tok = token(org=org, sub=OMIT)
    _unauth(api.get(LIST, token=tok), tok)


def test_missing_org_id(api, token):
    tok = token(org=OMIT)
    _unauth(api.get(LIST, token=tok), tok)


def test_org_under_another_claim_name(api, token, org):
    tok = token(org=OMIT, orgId=org)
    _unauth(api.get(LIST, token=tok), tok)


def test_401_does_not_touch_data(api, env, token, org):
    d = api.create_local(env)
    bad = token(org=org, exp=int(time.time()) - 3600)
    r = api.delete("/backup-destinations/" + d["id"], token=bad)
    _unauth(r, bad)
    assert api.get("/backup-destinations/" + d["id"]).status_code == 200


# ------------------------------------------------------------------ roles

@pytest.mark.parametrize("role", ["superuser", "root", "guest", "Viewer2"])
def test_unknown_role_forbidden(make_api, org, role):
    who = make_api(org=org, role=role)
    assert_problem(who.get(LIST), 403)


def test_unknown_role_cannot_create(api, make_api, org, env):
    who = make_api(org=org, role="superuser")
    assert_problem(who.post(LIST, json=local_body(env, org=who.org)), 403)
    assert api.list() == []


ALL_OPS = {"list", "get", "create", "update", "test", "delete"}
ALLOWED = {
    "viewer": {"list", "get"},
    "member": {"list", "get", "test"},
    "admin": ALL_OPS,
    "owner": ALL_OPS,
    None: ALL_OPS,
}


@pytest.mark.parametrize("role", ["viewer", "member", "admin", "owner", None])
def test_role_matrix(role, api, make_api, org, env):
    d = api.create_local(env)
    path = "/backup-destinations/" + d["id"]
    who = make_api(org=org, role=role, sub="user-%s" % role)
    allowed = ALLOWED[role]

    r = who.get(LIST)
    assert r.status_code == 200 and [x["id"] for x in r.json()] == [d["id"]]

    r = who.get(path)
    assert r.status_code == 200 and r.json()["id"] == d["id"]

    body = local_body(env, org=who.org)
    r = who.post(LIST, json=body)
    if "create" in allowed:
        assert r.status_code == 201, r.text
    else:
        assert_problem(r, 403)
        assert body["name"] not in [x["name"] for x in api.list()]

    new_name = uname("renamed")
    r = who.put(path, json={"name": new_name, "destinationType": "local",
                            "config": d["config"]})
    if "update" in allowed:
        assert r.status_code == 200, r.text
        assert r.json()["name"] == new_name
    else:
        assert_problem(r, 403)
        assert api.get(path).json()["name"] == d["name"]

    r = who.post(path + "/test")
    if "test" in allowed:
        assert r.status_code == 200, r.text
        assert r.json()["ok"] is True
    else:
        assert_problem(r, 403)

    r = who.delete(path)
    if "delete" in allowed:
        assert r.status_code == 200, r.text
        assert api.get(path).status_code == 404
    else:
        assert_problem(r, 403)
        assert api.get(path).status_code == 200


def test_viewer_forbidden_before_body_checks(make_api, org):
    """Role (403) is decided before content type (415) and body (400)."""
    who = make_api(org=org, role="viewer")
    r = who.post(LIST, data=b"not json", content_type="text/plain")
    assert_problem(r, 403)
    r = who.post(LIST, data=b"{not json", content_type="application/json")
    assert_problem(r, 403)


def test_unauthenticated_before_body_checks(api):
    r = api.post(LIST, data=b"{not json", content_type="text/plain",
                 token=None)
    _unauth(r)
