#!/usr/bin/env python3
"""endpoint.py - a local TOTP push endpoint for the integration tests.

It enforces the push contract of SPEC 1.1 (what Skyvern's
POST /v1/credentials/totp accepts) and records every request, so a test
can check exactly what otpbridge sent and how often.

  --port N          port on 127.0.0.1 (0: any free port); always loopback
  --port-file F     write the bound port to F (atomically, once listening)
  --key KEY         x-api-key must equal KEY, else 403 {"detail":"Invalid credentials"}
  --script S        comma-separated replies, one per request, in order; after
                    the script, 200.  A number is the status to answer (a 200
                    still needs a valid request); "hang" reads the request and
                    never answers, keeping the connection open; "close" closes
                    the connection without a reply; "422u", "422p" and
                    "422h" answer 422 echoing the content with its digits
                    JSON-escaped, percent-encoded or as HTML entities;
                    "STATUS@SECONDS" answers STATUS after SECONDS (a 200 is
                    stored, and logged, when the request is read: a reply
                    the client gave up on).
  --delay SECONDS   wait this long before each reply
  --log F           append one JSON line per request: peer (ip:port, so
                    keep-alive reuse shows), method, path, headers
                    (names lower-cased), body (the exact string), status
                    (null for hang/close), action (reply|hang|close),
                    violation (why a request broke the contract, or null).
                    The line is written once the request is read and the
                    answer decided, before any delay, so a test can see a
                    push that is in flight.

A contract violation is answered 422 (403 for a bad key) whatever the script
says; the script token is consumed all the same.  A 200 answers
{"totp_code_id":"tc_<n>","totp_identifier":..,"code":..,"status":"stored"}
where n counts accepted pushes.  SIGTERM (or SIGINT) ends the process at
once; it writes its pid nowhere.  Python 3 standard library only, and
testserver.py next to this file (the server, its start-up, the log).
"""

import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True      # no __pycache__ among the tests
import testserver  # noqa: E402  (found through the line above)

PATH = "/v1/credentials/totp"
REQUIRED = ("totp_identifier", "content")
OPTIONAL = ("task_id", "workflow_id", "workflow_run_id", "expired_at")
KNOWN = set(REQUIRED) | set(OPTIONAL) | {"source"}
BODY_MAX = 1 << 20


class Violation(Exception):
    def __init__(self, status, detail):
        super().__init__(detail)
        self.status = status
        self.detail = detail


class State:
    def __init__(self, args):
        self.key = args.key
        self.script = [t.strip() for t in args.script.split(",") if t.strip()] \
            if args.script else []
        self.delay = args.delay
        self.log = args.log
        self.lock = threading.Lock()
        self.accepted = 0
        self.hang = threading.Event()   # never set: hung requests wait forever

    def next_token(self):
        with self.lock:
            return self.script.pop(0) if self.script else "200"

    def record(self, entry):
        if self.log is None:
            return
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
        with self.lock:
            testserver.append_line(self.log, line)


def no_duplicates(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise Violation(422, "duplicate key %r" % k)
        obj[k] = v
    return obj


def check_body(raw):
    """Validates the push body (SPEC 1.1); returns the parsed object."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Violation(422, "body is not UTF-8")
    try:
        obj = json.loads(text, object_pairs_hook=no_duplicates)
    except Violation:
        raise
    except ValueError as e:
        raise Violation(422, "body is not JSON: %s" % e)
    if not isinstance(obj, dict):
        raise Violation(422, "body is not a JSON object")
    for k in REQUIRED:
        if k not in obj:
            raise Violation(422, "%s is required" % k)
        if not isinstance(obj[k], str):
            raise Violation(422, "%s must be a string" % k)
        if obj[k] == "":
            raise Violation(422, "%s must not be empty" % k)
    for k in OPTIONAL:
        if k in obj:
            if not isinstance(obj[k], str):
                raise Violation(422, "%s must be a string" % k)
            if obj[k] == "":
                raise Violation(422, "%s is \"\": omit an empty optional field" % k)
    if obj.get("source") != "email":
        raise Violation(422, "source must be \"email\", got %r" % (obj.get("source"),))
    unknown = sorted(set(obj) - KNOWN)
    if unknown:
        raise Violation(422, "unknown keys: %s" % ", ".join(unknown))
    return obj


class Handler(testserver.Handler):
    server_version = "otpbridge-test-endpoint/1"

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if te.lower() == "chunked":
            data = b""
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return data, None
                data += self.rfile.read(size)
                self.rfile.readline(65537)
                if len(data) > BODY_MAX:
                    raise Violation(413, "body too large")
        length = self.headers.get("Content-Length")
        if length is None:
            return b"", "no Content-Length"
        try:
            n = int(length)
        except ValueError:
            raise Violation(400, "bad Content-Length")
        if n < 0 or n > BODY_MAX:
            raise Violation(413, "body too large")
        return self.rfile.read(n), None

    def headers_lower(self):
        h = {}
        for name, value in self.headers.items():
            k = name.lower()
            h[k] = value if k not in h else h[k] + ", " + value
        return h

    def check(self, body, body_problem):
        st = self.server.state
        if self.command != "POST":
            raise Violation(422, "method must be POST, got %s" % self.command)
        if self.path != PATH:
            raise Violation(422, "path must be %s, got %s" % (PATH, self.path))
        keys = self.headers.get_all("x-api-key") or []
        if len(keys) != 1 or (st.key is not None and keys[0] != st.key):
            raise Violation(403, "Invalid credentials")
        ctypes = self.headers.get_all("Content-Type") or []
        if len(ctypes) != 1 or \
                ctypes[0].split(";")[0].strip().lower() != "application/json":
            raise Violation(422, "Content-Type must be application/json")
        if body_problem is not None:
            raise Violation(422, body_problem)
        return check_body(body)

    def handle_any(self):
        st = self.server.state
        token = st.next_token()
        late = 0.0                  # "STATUS@SECONDS": seconds before the reply
        violation = None
        obj = None
        try:
            body, body_problem = self.read_body()
        except Violation as v:
            body, body_problem = b"", None
            violation = v
        except (ValueError, OSError) as e:
            body, body_problem = b"", None
            violation = Violation(400, "unreadable body: %s" % e)
        if violation is None:
            try:
                obj = self.check(body, body_problem)
            except Violation as v:
                violation = v
        entry = {
            "t": time.time(),       # when the request was read (bench)
            "peer": "%s:%d" % self.client_address[:2],
            "method": self.command,
            "path": self.path,
            "headers": self.headers_lower(),
            "body": body.decode("utf-8", errors="replace"),
            "status": None,
            "action": "reply",
            "violation": violation.detail if violation is not None else None,
        }
        if violation is not None:
            status = violation.status
            reply = {"detail": violation.detail}
        elif token == "hang" or token == "close":
            entry["action"] = token
            status = None
            reply = None
        elif token in ("422u", "422p", "422h"):
            # A 422 that echoes the code re-encoded: every digit as a JSON
            # \\u escape (u), percent-encoded (p) or an HTML entity (h).
            status = 422
            enc = {"u": lambda c: "\\u%04x" % ord(c),
                   "p": lambda c: "%%%02X" % ord(c),
                   "h": lambda c: "&#%d;" % ord(c)}[token[3]]
            echoed = "".join(enc(c) if c.isdigit() else c
                             for c in obj["content"])
            reply = '{"detail":[{"msg":"scripted 422","input":"%s"}]}' % echoed
        else:
            if "@" in token:
                token, secs = token.split("@", 1)
                late = float(secs)
            try:
                status = int(token)
            except ValueError:
                status = 500
            if status == 200:
                with st.lock:
                    st.accepted += 1
                    n = st.accepted
                content = obj["content"]
                reply = {"totp_code_id": "tc_%d" % n,
                         "totp_identifier": obj["totp_identifier"],
                         "code": content if len(content.strip()) <= 10 else "",
                         "status": "stored"}
            elif status == 403:
                reply = {"detail": "Invalid credentials"}
            elif status == 422:
                # FastAPI echoes the offending input, code and all.
                reply = {"detail": [{"type": "value_error", "loc": ["body"],
                                     "msg": "scripted 422", "input": obj}]}
            else:
                reply = {"detail": "scripted %d" % status}
        entry["status"] = status
        st.record(entry)
        if entry["action"] == "hang":
            st.hang.wait()          # never set: the connection stays open
            return
        if entry["action"] == "close":
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        if st.delay > 0:
            time.sleep(st.delay)
        if entry["action"] == "reply" and violation is None and late > 0:
            time.sleep(late)
        data = (reply if isinstance(reply, str) else
                json.dumps(reply, separators=(",", ":"))).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:             # the client gave up (its timeout)
            self.close_connection = True

    do_POST = handle_any
    do_GET = handle_any
    do_PUT = handle_any
    do_DELETE = handle_any
    do_PATCH = handle_any
    do_HEAD = handle_any


def main():
    ap = testserver.arguments("test TOTP push endpoint")
    ap.add_argument("--key")
    ap.add_argument("--script", default="")
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--log")
    args = ap.parse_args()

    # SIGTERM ends us at once: hung handler threads must not hold us up,
    # and every log line is already on disk.
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    signal.signal(signal.SIGINT, lambda *a: os._exit(0))

    srv = testserver.Server(("127.0.0.1", args.port), Handler)
    srv.state = State(args)
    testserver.serve(srv, args.port_file)


if __name__ == "__main__":
    sys.exit(main())
