"""Secrets: redaction in every response, the PUT placeholder rule, and
sentinel secrets absent from the database dump, every file of the stack and
every response body (DESIGN.md "Secrets", contract PUT description)."""

import os
import time
import uuid

import conftest
from conftest import (PLACEHOLDER, assert_destination, assert_problem,
                      error_pointers, etag_of, mariadb_dump, sql_quote, uname)

LIST = "/backup-destinations"

# Every sentinel this module ever sent; the scan test checks all of them.
SENTINELS = []


def sentinel(tag):
    s = "SNTL%s%s" % (tag, uuid.uuid4().hex)
    SENTINELS.append(s)
    conftest.register_secrets("google_drive", s)  # and onedrive: one set
    conftest.register_secrets("onedrive", s)
    return s


def _row(db, dest_id):
    rows = db("SELECT HEX(config_ciphertext), LENGTH(config_ciphertext), "
              "version, key_id FROM backup_destinations WHERE id = %s"
              % sql_quote(dest_id))
    assert len(rows) == 1, rows
    hexblob, length, version, key_id = rows[0]
    return {"hex": hexblob, "len": int(length), "version": int(version),
            "key_id": key_id}


def _assert_blob_shape(row, *secrets):
    """vault.h: 0x01 || key_id_len || key_id || nonce(24) || box."""
    raw = bytes.fromhex(row["hex"])
    assert raw[0] == 1, "blob version byte"
    kl = raw[1]
    assert raw[2:2 + kl].decode() == row["key_id"]
    assert len(raw) > 2 + kl + 24 + 16
    for s in secrets:
        assert s.encode() not in raw, "secret stored in clear"


def _redacted(d, secret_fields, secrets):
    for f in secret_fields:
        assert d["config"].get(f) == PLACEHOLDER, d
    text = repr(d)
    for s in secrets:
        assert s not in text


def _gd(name, **config):
    return {"name": name, "destinationType": "google_drive", "config": config}


def _od(name, **config):
    return {"name": name, "destinationType": "onedrive", "config": config}


def test_redacted_on_create_get_list_put(api, db):
    sg, so = sentinel("gd"), sentinel("od")
    r = api.create(_gd(uname(), clientId="cid-1.apps", clientSecret=sg))
    gd = assert_destination(r.json())
    assert sg not in r.text
    assert gd["status"] == "pending_authorization" and gd["lastTest"] is None
    assert gd["config"] == {"clientId": "cid-1.apps",
                            "clientSecret": PLACEHOLDER}, gd["config"]

    r = api.create(_od(uname(), clientSecret=so, tenant="common",
                       folderPath="/Backups"))
    od = r.json()
    assert so not in r.text
    assert od["config"].get("clientSecret") == PLACEHOLDER
    assert od["config"].get("tenant") == "common"
    assert od["config"].get("folderPath") == "/Backups"

    for d in (gd, od):
        g = api.get("%s/%s" % (LIST, d["id"]))
        assert g.status_code == 200
        _redacted(g.json(), ["clientSecret"], [sg, so])
    lst = api.list()
    assert len(lst) == 2
    for d in lst:
        _redacted(d, ["clientSecret"], [sg, so])

    for d, s in ((gd, sg), (od, so)):
        _assert_blob_shape(_row(db, d["id"]), s)


def test_placeholder_keeps_stored_secret(api, db):
    sg = sentinel("keep")
    r = api.create(_gd(uname(), clientId="cid-2", clientSecret=sg))
    gd = r.json()
    path = "%s/%s" % (LIST, gd["id"])
    row0 = _row(db, gd["id"])

    # 1: placeholder PUT (rename only) -> re-encrypted, same plaintext size
    r = api.put(path, json=_gd(uname(), clientId="cid-2",
                               clientSecret=PLACEHOLDER))
    assert r.status_code == 200, r.text
    _redacted(r.json(), ["clientSecret"], [sg])
    row1 = _row(db, gd["id"])
    assert row1["hex"] != row0["hex"], "PUT must re-encrypt (fresh nonce)"
    assert row1["len"] == row0["len"], \
        "placeholder replaced the stored secret (plaintext length changed)"
    assert row1["version"] == row0["version"] + 1

    # 2: again: still a stored value to keep
    r = api.put(path, json=_gd(uname(), clientId="cid-2",
                               clientSecret=PLACEHOLDER))
    assert r.status_code == 200, r.text
    row2 = _row(db, gd["id"])
    assert row2["hex"] != row1["hex"] and row2["len"] == row0["len"]

    # 3: a new, longer secret changes the plaintext length by exactly that
    sg2 = sentinel("keep2") + "x" * 17
    SENTINELS.append(sg2)
    r = api.put(path, json=_gd(uname(), clientId="cid-2", clientSecret=sg2))
    assert r.status_code == 200, r.text
    assert sg2 not in r.text
    _redacted(r.json(), ["clientSecret"], [sg, sg2])
    row3 = _row(db, gd["id"])
    assert row3["len"] == row0["len"] + len(sg2) - len(sg)

    # 4: placeholder keeps the new one
    r = api.put(path, json=_gd(uname(), clientId="cid-2",
                               clientSecret=PLACEHOLDER))
    assert r.status_code == 200, r.text
    row4 = _row(db, gd["id"])
    assert row4["len"] == row3["len"] and row4["hex"] != row3["hex"]

    # 5: dropping the secret field removes it (plaintext shrinks)
    r = api.put(path, json=_gd(uname(), clientId="cid-2"))
    assert r.status_code == 200, r.text
    assert "clientSecret" not in r.json()["config"], r.json()
    row5 = _row(db, gd["id"])
    assert row5["len"] < row4["len"]
    # ...so a placeholder now has nothing to keep
    r = api.put(path, json=_gd(uname(), clientId="cid-2",
                               clientSecret=PLACEHOLDER))
    p = assert_problem(r, 422)
    assert "/config/clientSecret" in error_pointers(p)
    assert _row(db, gd["id"])["hex"] == row5["hex"]
    for row in (row1, row2, row3, row4, row5):
        _assert_blob_shape(row, sg, sg2)


def test_placeholder_with_type_change_422(api, db):
    sg = sentinel("chg")
    r = api.create(_gd(uname(), clientSecret=sg))
    gd = r.json()
    e0 = etag_of(r)
    row0 = _row(db, gd["id"])
    path = "%s/%s" % (LIST, gd["id"])
    r = api.put(path, json=_od(gd["name"], clientSecret=PLACEHOLDER))
    p = assert_problem(r, 422)
    assert error_pointers(p) == ["/config/clientSecret"], p
    assert sg not in r.text
    g = api.get(path)
    assert g.json() == gd and etag_of(g) == e0
    assert _row(db, gd["id"]) == row0


def test_placeholder_without_stored_value_422(api, db):
    r = api.create(_gd(uname(), clientId="cid-3"))
    gd = r.json()
    row0 = _row(db, gd["id"])
    r = api.put("%s/%s" % (LIST, gd["id"]),
                json=_gd(gd["name"], clientId="cid-3",
                         clientSecret=PLACEHOLDER))
    p = assert_problem(r, 422)
    assert error_pointers(p) == ["/config/clientSecret"], p
    assert _row(db, gd["id"]) == row0


def test_error_responses_do_not_echo_secrets(api, env):
    s1, s2, s3, s4 = (sentinel("e1"), sentinel("e2"), sentinel("e3"),
                      sentinel("e4"))
    cases = [
        _gd(uname(), clientSecret=s1, bogus=1),
        _gd("", clientSecret=s2),
        {"name": uname(), "destinationType": "s3",
         "config": {"region": "eu-west-1", "bucket": "b",
                    "accessKeyId": "AKIA", "secretAccessKey": s3}},
        {"name": uname(), "destinationType": "s3",
         "config": {"region": "eu-west-1", "bucket": "b",
                    "accessKeyId": "AKIA", "secretAccessKey": s4,
                    "sessionToken": 12345}},
        {"name": uname(), "destinationType": "google_drive",
         "config": {"clientSecret": {"nested": s1}}},
        {"name": uname(), "destinationType": "google_drive",
         "config": {"clientSecret": s2 * 500}},  # over the field limit
    ]
    for body in cases:
        r = api.post(LIST, json=body)
        assert_problem(r, 422)
        for s in (s1, s2, s3, s4):
            assert s not in r.text, r.text
    assert api.list() == []


def _scan_file(path, needles):
    """Return the needles found in the file (read in overlapping chunks)."""
    found = set()
    overlap = max(len(n) for n in needles)
    tail = b""
    try:
        with open(path, "rb") as fh:
            while True:
                chunk = fh.read(8 << 20)
                if not chunk:
                    break
                buf = tail + chunk
                for n in needles:
                    if n in buf:
                        found.add(n)
                tail = buf[-overlap:]
    except (PermissionError, FileNotFoundError, IsADirectoryError):
        pass
    return found


def test_sentinels_absent_everywhere(api, env, db, token):
    # make sure this test has its own secrets flowing through every path
    sg, so = sentinel("scan-gd"), sentinel("scan-od")
    gd = api.create(_gd(uname(), clientSecret=sg)).json()
    od = api.create(_od(uname(), clientSecret=so)).json()
    for d, mk in ((gd, _gd), (od, _od)):
        path = "%s/%s" % (LIST, d["id"])
        assert api.put(path, json=mk(uname(), clientSecret=PLACEHOLDER)) \
            .status_code == 200
        assert api.get(path).status_code == 200
        assert_problem(api.post(path + "/test"), 422)  # not authorized yet
    assert api.post(LIST, json=_gd(uname(), clientSecret=sentinel("bad"),
                                   x=1)).status_code == 422
    api.list()
    time.sleep(0.5)  # let log writers flush

    needles = [s.encode() for s in SENTINELS]
    problems = []

    dump = mariadb_dump(env)
    assert b"backup_destinations" in dump and gd["id"].encode() in dump, \
        "dump does not hold the data"
    for n in needles:
        if n in dump:
            problems.append("mariadb-dump contains %s" % n.decode())

    stack = env.get("BACKUPD_STACK_DIR") or os.environ.get("BACKUPD_STACK_DIR")
    assert stack and os.path.isdir(stack), "BACKUPD_STACK_DIR unknown"
    nfiles = 0
    for dirpath, dirnames, filenames in os.walk(stack, followlinks=False):
        for fn in filenames:
            p = os.path.join(dirpath, fn)
            if not os.path.isfile(p) or os.path.islink(p):
                continue
            nfiles += 1
            for n in _scan_file(p, needles):
                problems.append("%s contains %s" % (p, n.decode()))
    assert nfiles > 5, "stack dir holds almost nothing: %s" % stack
    for extra in ("BACKUPD_LOG", "BACKUPD_NGINX_ACCESS_LOG",
                  "BACKUPD_NGINX_ERROR_LOG", "BACKUPD_MYSQL_LOG"):
        p = env.get(extra)
        if p and os.path.isfile(p):
            for n in _scan_file(p, needles):
                problems.append("%s contains %s" % (p, n.decode()))

    with conftest._SEEN_LOCK:
        bodies = list(conftest.SEEN_BODIES)
    assert bodies
    for b in bodies:
        for n in needles:
            if n in b:
                problems.append("a response body contains %s: %r"
                                % (n.decode(), b[:300]))
    assert not problems, "\n".join(sorted(set(problems)))
