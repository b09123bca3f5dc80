"""A counting (and optionally delaying) TCP relay between backupd and a test
peer (issue 9 item 6: one connection per host per probe).

Relay(host, target_host, target_port, delay=0.0) listens on host (a free
port, .port), and forwards every connection it accepts to the target, byte
for byte (TLS stays end to end: the certificate still names the peer's
address). It counts:
  .accepted  connections accepted (what a probe opened to this host)
  .turns     answered turns: server bytes that follow client bytes (a
             request and its answer, a TLS or SSH handshake flight and the
             reply); over one connection, the round trips the protocol
             needed (a server-first banner and a close nobody answers are
             not counted)
With delay (seconds, one way) it models a distant server: a new connection
waits one round trip (2 * delay: the TCP handshake) before anything moves,
then every chunk, either way, arrives `delay` after it was read, in order.

Run standalone: relay.py --listen HOST:PORT --target HOST:PORT
[--delay-ms N] (prints "port N" once listening; Ctrl-C stops).
"""

import argparse
import queue
import socket
import threading
import time

CHUNK = 65536


class Relay:
    def __init__(self, host, target_host, target_port, delay=0.0, port=0):
        self.target = (target_host, target_port)
        self.delay = float(delay)
        self._mu = threading.Lock()
        self.accepted = 0
        self.turns = 0
        self._socks = set()
        self._closing = False
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, port))
        self.lsock.listen(64)
        self.host, self.port = self.lsock.getsockname()[:2]
        self._t = threading.Thread(target=self._accept_loop, daemon=True)
        self._t.start()

    def reset(self):
        """Zero the counters (between probes); returns the old ones."""
        with self._mu:
            old = (self.accepted, self.turns)
            self.accepted = self.turns = 0
        return old

    def _track(self, s):
        with self._mu:
            self._socks.add(s)

    def _accept_loop(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            with self._mu:
                if self._closing:
                    c.close()
                    return
                self.accepted += 1
            self._track(c)
            threading.Thread(target=self._connection, args=(c,),
                             daemon=True).start()

    def _connection(self, c):
        if self.delay:
            time.sleep(2 * self.delay)  # the handshake's round trip
        try:
            u = socket.create_connection(self.target, timeout=10)
            u.settimeout(None)
        except OSError:
            c.close()
            return
        self._track(u)
        state = {"last": None}
        for src, dst, side in ((c, u, "client"), (u, c, "server")):
            threading.Thread(target=self._pump, args=(src, dst, side, state),
                             daemon=True).start()

    def _pump(self, src, dst, side, state):
        """Read src, forward to dst (after the delay, in order); on EOF
        half-close dst, on error close both."""
        q = queue.Queue()

        def writer():
            while True:
                due, data = q.get()
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                try:
                    if data is None:
                        dst.shutdown(socket.SHUT_WR)
                        return
                    dst.sendall(data)
                except OSError:
                    _close(src, dst)
                    return

        if self.delay:
            threading.Thread(target=writer, daemon=True).start()
        while True:
            try:
                data = src.recv(CHUNK)
            except OSError:
                data = b""
            with self._mu:
                if data and side == "server" and state["last"] == "client":
                    self.turns += 1
                if data:
                    state["last"] = side
            if self.delay:
                q.put((time.monotonic() + self.delay, data or None))
            else:
                try:
                    if data:
                        dst.sendall(data)
                    else:
                        dst.shutdown(socket.SHUT_WR)
                except OSError:
                    _close(src, dst)
                    return
            if not data:
                return

    def close(self):
        with self._mu:
            self._closing = True
            socks = list(self._socks)
        try:
            self.lsock.close()
        except OSError:
            pass
        for s in socks:
            _close(s)


def _close(*socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def _addr(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", required=True, help="HOST:PORT (0: free)")
    ap.add_argument("--target", required=True, help="HOST:PORT")
    ap.add_argument("--delay-ms", type=float, default=0.0)
    a = ap.parse_args()
    lh, lp = _addr(a.listen)
    th, tp = _addr(a.target)
    r = Relay(lh, th, tp, a.delay_ms / 1000.0, port=lp)
    print("port %d" % r.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        r.close()


if __name__ == "__main__":
    main()
