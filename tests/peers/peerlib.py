"""What the test peers (tests/peers/*/*_peer.py) have in common, and the
integration tests use too: a free port, waiting until a peer listens,
starting a peer process in a session of its own with its output in a log,
stopping such process groups, a threaded TCP server that accepts and says
nothing (or what a subclass's handle() says), the wait of a peer run by
hand, and the main() of the HTTP stubs (--config JSON, ready_file).

Loaded by path under a name of its own, as the tests load the peers (one
pytest run shares sys.modules, and the peer directories are no packages):

    _spec = importlib.util.spec_from_file_location(
        "backupd_peerlib", Path(__file__).resolve().parents[1] / "peerlib.py")
    peerlib = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(peerlib)
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import threading
import time
from http.server import ThreadingHTTPServer


def free_port(host):
    """A TCP port nothing listens on at host right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def accepts(host, port):
    """Whether host:port accepts a connection now."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def spawn(argv, log, *, env=None, cwd=None, append=False):
    """Start argv in a session of its own (stop_groups() ends exactly that
    process group), stdin from /dev/null, stdout and stderr to the file
    `log` (appended to when `append`). Returns the Popen."""
    out = open(log, "ab" if append else "wb")
    try:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, env=env, cwd=cwd,
            start_new_session=True)
    finally:
        out.close()


def wait_until(ready, procs, what, tail=lambda: "", timeout=20.0,
               interval=0.1):
    """Poll ready() until it is true. RuntimeError, with tail() (the end of
    the peer's logs), when one of procs exits first or after timeout
    seconds. A process's name in the message is its peer_name attribute,
    else `what`."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError("%s exited (%d): %s" % (
                    getattr(p, "peer_name", what), p.returncode, tail()))
        if ready():
            return
        time.sleep(interval)
    raise RuntimeError("%s did not start listening: %s" % (what, tail()))


def retry(attempt, undo, tries=3):
    """attempt() until it does not raise RuntimeError, calling undo() after
    each failure: ports picked free may be taken before the peer binds
    them. Returns what attempt() returned; raises the last failure."""
    last = None
    for _ in range(tries):
        try:
            return attempt()
        except RuntimeError as e:
            last = e
            undo()
    raise last


def stop_groups(procs, timeout=10):
    """Stop processes started by spawn(): SIGTERM to each one's process
    group, wait, then SIGKILL whatever is left in the group, and reap."""
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(p.pid, signal.SIGKILL)  # anything left over
        except (ProcessLookupError, PermissionError):
            pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def wait_interrupted(stop, lines=()):
    """A peer run by hand: print lines, wait for Ctrl-C (SIGTERM, e.g. from
    timeout(1), counts as one), then call stop()."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        for line in lines:
            print(line)
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        stop()


class TcpServer:
    """Listens on host:port (0: any free port) and accepts in a thread until
    close(), counting the connections (accepted) and keeping them open
    (conns). handle(conn) is called for each; by default it does nothing: a
    server that accepts and never answers."""

    def __init__(self, host, port=0, family=socket.AF_INET):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, port))
            self.sock.listen(16)
        except OSError:
            self.sock.close()
            raise
        self.sock.settimeout(0.2)
        self.host, self.port = self.sock.getsockname()[:2]
        self.accepted = 0
        self.conns = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            self.conns.append(c)
            self.handle(c)

    def handle(self, conn):
        pass

    def close(self):
        self._stop.set()
        self._t.join(5)
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.sock.close()


class StubHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def stub_main(handler, make_state):
    """main() of an HTTP stub (oauth_stub.py, dropbox_stub.py): reads the
    JSON file named by --config, sets handler.state = make_state(cfg),
    serves on cfg host:port (port 0: any free one) until SIGTERM or SIGINT,
    and when cfg names a ready_file writes {"port": N} to it atomically
    once listening."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    a = ap.parse_args()
    with open(a.config) as f:
        cfg = json.load(f)
    handler.state = make_state(cfg)
    srv = StubHttpServer((cfg["host"], int(cfg["port"])), handler)

    def stop(signum, frame):
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if cfg.get("ready_file"):
        tmp = cfg["ready_file"] + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"port": srv.server_address[1]}, f)
        os.replace(tmp, cfg["ready_file"])
    srv.serve_forever()
    srv.server_close()
