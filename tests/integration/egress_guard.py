"""Nothing the suite does leaves this machine, whatever the machine's network.

The egress policy under test is the first line; this is the second, for the
case where the policy is broken: every non-local address a test names gets a
blackhole route (`ip route replace blackhole ADDR`, IPv4 and IPv6), and the
real-world host names the tests use (AWS, Azure, example.com ...) resolve,
through /etc/hosts entries added for the run, to a blackholed address of
their own. So "connect fails" is the same answer on a laptop, on a cloud CI
host with a metadata service, and on a machine without DNS.

Several suites may run at once (one per worktree): each registers its pid
under REG_DIR, under a lock, and the last one to leave removes the routes and
the hosts lines (only the lines it marked). Used by the session fixture
`no_egress` in conftest.py.
"""

import fcntl
import ipaddress
import os
import subprocess
from pathlib import Path

# Addresses of the real world the tests name (cloud metadata services).
METADATA = ["169.254.169.254", "fd00:ec2::254", "fd00:ec2::23", "fd20:ce::254",
            "168.63.129.16"]
# Where the real-world names below resolve during the run: documentation
# addresses (RFC 5737, RFC 3849) the egress policy does not deny, so a probe
# does try them, and the blackhole routes make that connect fail at once.
ELSEWHERE4 = "198.51.100.77"
ELSEWHERE6 = "2001:db8:bd::77"
BLACKHOLES = METADATA + [ELSEWHERE4, ELSEWHERE6]
# Addresses a test gives this machine itself (test_security's dummy
# interface when the machine has no address of its own but loopback): local,
# never routed anywhere.
LOCAL_TEST_ADDRS = ["192.0.2.77"]
# The routes cover each address with a prefix one bit shorter than the
# address itself: another suite running at the same time may add and then
# delete a blackhole route for exactly the address (169.254.169.254/32), and
# that deletion must not take ours away.
ROUTES = [str(ipaddress.ip_network("%s/%d" % (a, 127 if ":" in a else 31),
                                   strict=False)) for a in BLACKHOLES]
# Every real-world host name a test makes the service (or a peer) look up.
NAMES = [
    "sftp.example.com", "ftp.example.com", "dav.example.com", "smb.example.com",
    "s3.eu-west-1.amazonaws.com", "my-bucket.s3.eu-west-1.amazonaws.com",
    "acct.blob.core.windows.net", "backupdnowhere1.blob.core.windows.net",
    "oauth2.googleapis.com",
]

# A second name for the test peers' address (127.0.0.2): a test that changes
# a destination's host without changing where it points uses it.
PEER_ALIAS = "peer-alias.backupd.test"
PEER_ADDR = "127.0.0.2"

HOSTS = Path("/etc/hosts")
MARK = "# backupd-test-egress"
REG_DIR = Path("/run/backupd-test-egress")
LOCK = Path("/run/backupd-test-egress.lock")


def _ip(*args):
    v6 = ":" in args[-1]
    r = subprocess.run(["ip"] + (["-6"] if v6 else []) + list(args),
                       capture_output=True, text=True)
    return r


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _others():
    """Pids of the other live suites registered (stale files removed)."""
    out = []
    for f in REG_DIR.iterdir():
        try:
            pid = int(f.name)
        except ValueError:
            continue
        if pid == os.getpid():
            continue
        if _alive(pid):
            out.append(pid)
        else:
            f.unlink(missing_ok=True)
    return out


def _hosts_lines():
    return ["%s %s %s" % (ip, " ".join(NAMES), MARK)
            for ip in (ELSEWHERE4, ELSEWHERE6)] + \
        ["%s %s %s" % (PEER_ADDR, PEER_ALIAS, MARK)]


def _write_hosts(lines):
    # In place (not a rename): /etc/hosts may be a bind mount.
    with open(HOSTS, "r+") as f:
        f.seek(0)
        f.write("\n".join(lines) + "\n")
        f.truncate()


def _locked(fn):
    LOCK.touch(exist_ok=True)
    with open(LOCK) as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        try:
            return fn()
        finally:
            fcntl.flock(lk, fcntl.LOCK_UN)


def enter():
    """Add the routes and the hosts lines (once for all suites running);
    returns a list of what went wrong (empty when all is in place)."""
    def go():
        errors = []
        REG_DIR.mkdir(exist_ok=True)
        (REG_DIR / str(os.getpid())).touch()
        for a in ROUTES:
            r = _ip("route", "replace", "blackhole", a)
            if r.returncode != 0:
                errors.append("ip route replace blackhole %s: %s"
                              % (a, r.stderr.strip()))
        lines = HOSTS.read_text().splitlines()
        if not any(MARK in ln for ln in lines):
            _write_hosts(lines + _hosts_lines())
        return errors
    return _locked(go)


def leave():
    """Unregister; the last suite out removes the routes and its lines."""
    def go():
        (REG_DIR / str(os.getpid())).unlink(missing_ok=True)
        if _others():
            return
        for a in ROUTES:
            _ip("route", "del", "blackhole", a)
        lines = HOSTS.read_text().splitlines()
        if any(MARK in ln for ln in lines):
            _write_hosts([ln for ln in lines if MARK not in ln])
    _locked(go)


def blackholed(addr):
    """Whether the kernel refuses to route to addr (a blackhole route)."""
    r = _ip("route", "get", addr)
    return r.returncode != 0 or r.stdout.startswith("blackhole")
