"""The suite-wide secret scan (runs after every module that sends secrets,
before test_zz_db_down stops the database): every secret any test sent for
a destination, of every type (conftest.register_secrets), is absent from
the database dump, from every file the service's stack holds (database
files, logs, config, runtime files, the local root), and from every
response the suite saw. The test peers' own state (peers/, which holds the
passwords they check) and the test CA (pki/) are not the service's files."""

import os
import sys
from pathlib import Path

import conftest
from conftest import mariadb_dump

# Modules that send secrets of these types; when they ran in this session,
# their type must have registered secrets (a module that stops registering
# would otherwise quietly shrink the scan).
MODULE_TYPES = {
    "test_probe_s3": "s3", "test_probe_gcs": "gcs",
    "test_probe_azure_blob": "azure_blob", "test_probe_sftp": "sftp",
    "test_probe_ftp": "ftp", "test_probe_webdav": "webdav",
    "test_secrets": "google_drive", "test_oauth": "google_drive",
}
NOT_THE_SERVICES = ("peers", "pki")


def _scan(path, needles):
    try:
        data = Path(path).read_bytes()
    except (PermissionError, FileNotFoundError, IsADirectoryError):
        return []
    return [n for n in needles if n in data]


def test_every_types_secrets_absent_everywhere(env):
    ran = {m for m in MODULE_TYPES if m in sys.modules}
    for m in ran:
        t = MODULE_TYPES[m]
        assert conftest.SECRETS_BY_TYPE.get(t), \
            "%s ran but no %s secret was registered" % (m, t)
    needles = {}
    for t, vals in conftest.SECRETS_BY_TYPE.items():
        for v in vals:
            if len(v) >= 8:
                needles[v.encode()] = t
    assert needles or not ran
    problems = []

    dump = mariadb_dump(env)
    assert b"backup_destinations" in dump
    for n in needles:
        if n in dump:
            problems.append("the database dump holds a %s secret %s..."
                            % (needles[n], n[:10]))

    stack = Path(env["BACKUPD_STACK_DIR"])
    nfiles = 0
    for dirpath, dirnames, filenames in os.walk(stack, followlinks=False):
        if Path(dirpath) == stack:
            dirnames[:] = [d for d in dirnames if d not in NOT_THE_SERVICES]
        for fn in filenames:
            p = os.path.join(dirpath, fn)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            nfiles += 1
            for n in _scan(p, needles):
                problems.append("%s holds a %s secret %s..."
                                % (p, needles[n], n[:10]))
    assert nfiles > 5, nfiles

    with conftest._SEEN_LOCK:
        bodies = list(conftest.SEEN_BODIES)
    for b in bodies:
        for n in needles:
            if n in b:
                problems.append("a response holds a %s secret %s...: %r"
                                % (needles[n], n[:10], b[:200]))
    assert not problems, "\n".join(sorted(set(problems))[:50])
