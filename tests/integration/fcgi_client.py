"""A minimal FastCGI client (responder role) for talking to backupd
directly, without nginx: BEGIN_REQUEST, PARAMS, STDIN records out; STDOUT /
STDERR records in until END_REQUEST. One connection per request (no
keep-conn), every socket operation under a timeout.

    r = fcgi_request(path, cgi_params("GET", "/backup-destinations", tok))
    r.status, r.headers, r.body, r.json()
"""

import json as jsonlib
import os
import socket
import struct
import time

FCGI_VERSION_1 = 1
FCGI_BEGIN_REQUEST = 1
FCGI_END_REQUEST = 3
FCGI_PARAMS = 4
FCGI_STDIN = 5
FCGI_STDOUT = 6
FCGI_STDERR = 7
FCGI_RESPONDER = 1
_HDR = struct.Struct(">BBHHBx")
_MAX_CONTENT = 65535
_REQ_ID = 1


class FcgiError(Exception):
    """The connection ended (or failed) without a complete answer."""


class FcgiResponse:
    def __init__(self, raw, stderr, app_status, elapsed):
        self.raw = raw
        self.stderr = stderr
        self.app_status = app_status
        self.elapsed = elapsed
        self.status, self.headers, self.body = parse_cgi_response(raw)

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return jsonlib.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<FcgiResponse %s %r>" % (self.status, self.body[:200])


def parse_cgi_response(raw):
    """(status, {lower-case header: value}, body) of a CGI response; a
    missing Status header means 200."""
    sep = raw.find(b"\r\n\r\n")
    skip = 4
    lf = raw.find(b"\n\n")
    if sep < 0 or (0 <= lf < sep):
        sep, skip = lf, 2
    if sep < 0:
        head, body = raw, b""
    else:
        head, body = raw[:sep], raw[sep + skip:]
    headers = {}
    for line in head.decode("latin-1").splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    status = 200
    if "status" in headers:
        status = int(headers["status"].split()[0])
    return status, headers, body


def _record(rtype, content=b""):
    pad = (-len(content)) % 8
    return (_HDR.pack(FCGI_VERSION_1, rtype, _REQ_ID, len(content), pad)
            + content + b"\0" * pad)


def _stream(rtype, data):
    out = []
    for i in range(0, len(data), _MAX_CONTENT):
        out.append(_record(rtype, data[i:i + _MAX_CONTENT]))
    out.append(_record(rtype))  # empty record ends the stream
    return b"".join(out)


def _nv_len(n):
    if n < 128:
        return bytes([n])
    return struct.pack(">I", n | 0x80000000)


def encode_params(params):
    out = []
    for k, v in params.items():
        if v is None:
            continue
        kb = k.encode() if isinstance(k, str) else k
        vb = v.encode() if isinstance(v, str) else bytes(v)
        out.append(_nv_len(len(kb)) + _nv_len(len(vb)) + kb + vb)
    return b"".join(out)


def cgi_params(method, uri, token=None, body=b"", content_type=None,
               request_id=None, extra=None):
    """The CGI variables nginx's fastcgi_params would pass."""
    path, _, query = uri.partition("?")
    p = {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_SOFTWARE": "pytest-fcgi",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "REQUEST_METHOD": method,
        "REQUEST_URI": uri,
        "SCRIPT_NAME": path,
        "DOCUMENT_URI": path,
        "QUERY_STRING": query,
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "CONTENT_TYPE": content_type or "",
    }
    if token:
        p["HTTP_AUTHORIZATION"] = "Bearer " + token
    if request_id:
        p["HTTP_X_REQUEST_ID"] = request_id
    if extra:
        p.update(extra)
    return p


def _connect(address, timeout):
    if isinstance(address, tuple):
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(address)
    except BaseException:
        s.close()
        raise
    return s


def _recv_exact(s, n, deadline):
    buf = bytearray()
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("FastCGI answer timed out")
        s.settimeout(left)
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise FcgiError("connection closed after %d of %d bytes"
                            % (len(buf), n))
        buf += chunk
    return bytes(buf)


def fcgi_request(address, params, body=b"", timeout=10.0, midway=None):
    """Send one request to address (unix socket path, or (host, port)) and
    return an FcgiResponse. Raises FcgiError when the server closes the
    connection before END_REQUEST, socket.timeout after `timeout` seconds
    in total, OSError when it cannot connect. midway: a callable run after
    the params and the first 10 bytes of the body were sent, before the
    rest (the server is then in the middle of reading the request)."""
    if isinstance(body, str):
        body = body.encode()
    t0 = time.monotonic()
    deadline = t0 + timeout
    s = _connect(address, timeout)
    try:
        begin = struct.pack(">HB5x", FCGI_RESPONDER, 0)
        msg = (_record(FCGI_BEGIN_REQUEST, begin)
               + _stream(FCGI_PARAMS, encode_params(params))
               + _stream(FCGI_STDIN, body))
        if midway is not None:
            cut = len(msg) - len(_stream(FCGI_STDIN, body)) + 8 + 10
            s.sendall(msg[:cut])
            midway()
            msg = msg[cut:]
        s.sendall(msg)
        out, err = bytearray(), bytearray()
        while True:
            try:
                hdr = _recv_exact(s, _HDR.size, deadline)
            except ConnectionResetError as e:
                raise FcgiError("connection reset: %s" % e)
            _ver, rtype, _rid, clen, plen = _HDR.unpack(hdr)
            content = _recv_exact(s, clen + plen, deadline)[:clen]
            if rtype == FCGI_STDOUT:
                out += content
            elif rtype == FCGI_STDERR:
                err += content
            elif rtype == FCGI_END_REQUEST:
                app_status = struct.unpack(">I", content[:4])[0]
                return FcgiResponse(bytes(out), bytes(err), app_status,
                                    time.monotonic() - t0)
    finally:
        s.close()


def fcgi_call(address, method, uri, token=None, json=None, body=b"",
              content_type=None, request_id=None, extra=None, timeout=10.0,
              midway=None):
    """fcgi_request with CGI variables built from method/uri/token; `json`
    (any JSON value) becomes the body with Content-Type application/json."""
    if json is not None:
        body = jsonlib.dumps(json).encode()
        content_type = content_type or "application/json"
    params = cgi_params(method, uri, token, body, content_type, request_id,
                        extra)
    return fcgi_request(address, params, body, timeout, midway)


# ------------------------------------------------ processes (for the pool)

def proc_stat(pid):
    """(state, ppid) of pid from /proc, or None when it does not exist."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            st = fh.read()
    except OSError:
        return None
    rest = st[st.rindex(")") + 2:].split()
    return rest[0], int(rest[1])


def proc_alive(pid):
    """pid exists and is not a zombie."""
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def proc_children(ppid):
    """Sorted pids of the live (non-zombie) children of ppid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        st = proc_stat(int(d))
        if st is not None and st[1] == ppid and st[0] not in ("Z", "X"):
            out.append(int(d))
    return sorted(out)


def read_json_lines(path):
    """The JSON-object lines of a log file (others skipped)."""
    out = []
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return out
    for line in data.splitlines():
        line = line.strip()
        if not line.startswith(b"{"):
            continue
        try:
            obj = jsonlib.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out
