#!/usr/bin/python3
"""A tiny WebDAV-enough server for scripts/bench_neighbour.sh.

    bench_peer.py HOST PORT PORTFILE

Answers the four requests backupd's WebDAV probe sends (PROPFIND Depth 0 ->
207 collection, PUT -> 201, GET -> the bytes PUT, DELETE -> 204). On SIGUSR1
it turns silent: it keeps accepting TCP connections on the same port and
never answers one, which is the slow host of the noisy-neighbour scenario.
Writes the bound port to PORTFILE when ready. Bench tooling only.
"""
import http.server
import signal
import socket
import socketserver
import sys
import threading

MULTISTATUS = (b'<?xml version="1.0" encoding="utf-8"?>'
               b'<D:multistatus xmlns:D="DAV:"><D:response><D:href>/dav/'
               b'</D:href><D:propstat><D:prop><D:resourcetype><D:collection/>'
               b'</D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK'
               b'</D:status></D:propstat></D:response></D:multistatus>')
store = {}
silent = threading.Event()


class Dav(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, code, body=b"", ctype="application/octet-stream"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PROPFIND(self):
        self._body()
        self._send(207, MULTISTATUS, 'application/xml; charset="utf-8"')

    def do_PUT(self):
        store[self.path] = self._body()
        self._send(201)

    def do_GET(self):
        if self.path in store:
            self._send(200, store[self.path])
        else:
            self._send(404)

    def do_DELETE(self):
        self._send(204 if store.pop(self.path, None) is not None else 404)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512


def main():
    host, port, portfile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    srv = Server((host, port), Dav)
    held = []

    def go_silent(*_):
        silent.set()

    signal.signal(signal.SIGUSR1, go_silent)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    with open(portfile, "w") as fh:
        fh.write(str(srv.server_address[1]))
    silent.wait()
    srv.shutdown()
    srv.server_close()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, srv.server_address[1]))
    ls.listen(1024)
    with open(portfile + ".silent", "w") as fh:
        fh.write("silent\n")
    while True:
        c, _ = ls.accept()
        held.append(c)


if __name__ == "__main__":
    main()
