"""testserver.py - what the integration tests' local HTTP servers
(endpoint.py, oauth-server.py) share: the server, a quiet HTTP/1.1 handler
base, the start-up a test waits on (--port-file), and their JSON-lines log.
Each imports it from its own directory.  Python 3 standard library only.
"""

import argparse
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Server(ThreadingHTTPServer):
    """A threading server; one thread per connection, never waited for."""
    allow_reuse_address = True
    daemon_threads = True
    # socketserver's listen backlog is 5: a sixth connection opened at
    # once waits for a SYN retransmit (1 s), which a test would take for
    # the client's delay.
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # A client that hangs up (its timeout, a killed daemon) is normal
        # here; anything else is printed, once, to stderr.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive), and no access log: the JSON log is the record."""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass


def arguments(description):
    """An argument parser with the options serve() needs: --port (on
    127.0.0.1, 0: any free port) and --port-file."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    return ap


def serve(srv, port_file):
    """Writes the port srv is bound to into port_file, when given
    (atomically, so a test that sees the file non-empty can connect), then
    serves until the process ends; whatever ends serve_forever ends the
    process at once (hung handler threads must not hold it up)."""
    if port_file:
        tmp = port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(tmp, port_file)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        os._exit(0)


def append_line(path, line):
    """Appends line to the file at path and syncs it, so a test reading the
    file sees it whole.  The caller holds the lock that orders its lines."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())
