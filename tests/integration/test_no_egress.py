"""The second line behind the egress policy (egress_guard.py, the session
fixture no_egress): every non-local address a test names is blackholed and
every real-world name a test uses resolves to a blackholed address, so no
test result depends on this machine's network, and nothing leaves it. A
test that names a new address or host name must add it to egress_guard."""

import errno
import ipaddress
import re
import socket
from pathlib import Path

import pytest

import egress_guard

HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize("addr", egress_guard.BLACKHOLES)
def test_blackholed_address_cannot_be_reached(no_egress, addr):
    assert egress_guard.blackholed(addr), addr
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        with pytest.raises(OSError) as e:
            s.connect((addr, 443))
        assert e.value.errno in (errno.EINVAL, errno.ENETUNREACH,
                                 errno.EHOSTUNREACH), e.value


@pytest.mark.parametrize("name", egress_guard.NAMES)
def test_real_world_name_resolves_to_a_blackhole(no_egress, name):
    got = {ai[4][0] for ai in socket.getaddrinfo(name, 443,
                                                 proto=socket.IPPROTO_TCP)}
    assert got and got <= {egress_guard.ELSEWHERE4, egress_guard.ELSEWHERE6}, \
        (name, got)


IPV4 = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?![\w./])")
NAME = re.compile(r"(?<![\w.-])((?:[a-z0-9-]+\.)+(?:com|net|org|io|cloud))\b(?=[\"'/:])")
# Names the tests only write into data that is never looked up (claims,
# key file fields, tenants sent to the stub, URLs the browser would open).
NEVER_LOOKED_UP = {"p.iam.gserviceaccount.com",
                   "test-project.iam.gserviceaccount.com",
                   "example.com", "contoso.onmicrosoft.com",
                   "www.googleapis.com", "accounts.google.com",
                   ".blob.core.windows.net",
                   "s3.amazonaws.com"}  # an XML namespace in a test body


def test_every_address_and_name_in_the_tests_is_covered():
    """A scan of the test files: an IPv4 literal outside loopback and
    0.0.0.0, or a real-world host name, must be blackholed (or listed as
    never looked up)."""
    missing = []
    for f in sorted(HERE.glob("*.py")):
        text = f.read_text()
        for a in IPV4.findall(text):
            try:
                ip = ipaddress.ip_address(a)
            except ValueError:
                continue
            if ip.is_loopback or ip.is_unspecified:
                continue
            if a not in egress_guard.BLACKHOLES + \
                    egress_guard.LOCAL_TEST_ADDRS:
                missing.append((f.name, a))
        for n in NAME.findall(text):
            if n.startswith(("alice@", "svc@")) or n in NEVER_LOOKED_UP:
                continue
            if n not in egress_guard.NAMES:
                missing.append((f.name, n))
    assert not missing, missing
