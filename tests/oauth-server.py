#!/usr/bin/env python3
"""oauth-server.py - a local OAuth2 provider for the XOAUTH2 integration tests.

It plays both halves a real provider has: the token endpoint otpbridge
calls (the refresh-token grant, RFC 6749 section 6) and the introspection
endpoint Dovecot's oauth2 passdb calls (RFC 7662, introspection_mode =
post), so a token the daemon obtained is the one Dovecot accepts.

  --port N            port on 127.0.0.1 (0: any free port); always loopback
  --port-file F       write the bound port to F (atomically, once listening)
  --log F             append one JSON line per request (see below)
  --tokens-file F     append every secret this server issues (access tokens,
                      rotated refresh tokens), one per line, so a test can
                      check that none of them shows up in a log
  --client-id ID      the only client_id accepted
  --client-secret S   when given, client_secret must equal S (absent or
                      wrong: 401 invalid_client); when not, it is not checked
  --refresh-token R   the refresh token accepted (wrong: 400 invalid_grant)
  --expires-in N      lifetime of an issued access token in s (default 3600)
  --user NAME         the username introspection reports (default bot)
  --rotate            each refresh also returns a new refresh_token; the one
                      used stops working

Onboarding (otpbridge oauth) -- the provider's other half:
  GET  /authorize     the authorization endpoint (code flow, RFC 6749 4.1 +
                      PKCE, RFC 7636): client_id must be ours (else 400, no
                      redirect), redirect_uri a loopback http URL with a
                      port (RFC 8252 7.3), response_type=code, a 43..128
                      character code_challenge with code_challenge_method
                      S256, a state.  The user always consents: 302 to
                      redirect_uri?code=..&state=<the state, echoed>; with
                      /control authorize=deny: ?error=access_denied&state=..
                      The code lives 60 s and works once.
  POST /devicecode    the device authorization endpoint (RFC 8628 3.1):
                      client_id (else 400 invalid_client), scope.  Replies
                      device_code, user_code, verification_uri, expires_in
                      (/control device_expires_in, default 900), interval
                      (/control device_interval, default 1) and message.
  POST /token         also grant_type=authorization_code (code, redirect_uri
                      as authorized, code_verifier whose S256 is the
                      challenge: else invalid_grant) and grant_type=
                      urn:ietf:params:oauth:grant-type:device_code
                      (device_code): each poll takes the next outcome of
                      /control device_script (comma-separated: pending,
                      slow_down, ok, denied, expired; the last one repeats;
                      default ok); a poll sooner than the interval (less
                      0.2 s) is answered slow_down whatever the script
                      says, and slow_down adds 5 s to the interval (RFC
                      8628 3.5).  Both grants return a new refresh token,
                      which the refresh grant accepts from then on.
  /control            also authorize=ok|deny, pkce_tamper=0|1 (the next codes
                      are bound to a challenge no verifier matches: the
                      exchange fails as a mismatched verifier does),
                      device_script=..., device_expires_in=N,
                      device_interval=N.
  Every code, verifier, device code and token issued or received is
  appended to --tokens-file.  Log lines of polls carry "gap" (s since the
  previous poll of that device code) and "interval" (the one in force).

Endpoints:
  POST /token         form-encoded grant_type=refresh_token, refresh_token,
                      client_id[, client_secret][, scope].  Client credentials
                      in HTTP Basic are accepted too (RFC 6749 2.3.1), not
                      both at once.  200 {"access_token","token_type":"Bearer",
                      "expires_in"[,"refresh_token"]}, or 400/401 {"error",
                      "error_description"}.
  POST /introspect    form-encoded token=...: {"active":true,"username":USER,
                      "exp":..} for a known unexpired token, else
                      {"active":false}.
  POST /revoke-all    forgets every issued access token.
  POST /control       form-encoded expires_in=N and/or rotate=0|1: changes
                      those settings for the tokens issued from now on;
                      introspect_down=0|1: /introspect answers 503 (an
                      outage of the provider, as Dovecot sees it).
  GET  /stats         {"refresh_ok","refresh_fail","introspect_ok",
                      "introspect_fail","issued","expires_in","rotate"}.

A log line has: ts (unix time), peer, method, path, status, outcome
(ok | invalid_request | invalid_client | invalid_grant |
unsupported_grant_type | active | inactive-unknown | inactive-expired |
revoked | ...), fields (the sorted names of the form fields present, never
their values), client_auth (form | basic | none), and for /token the seq
of the token issued, for /introspect the seq of the token asked about
(null when unknown).  Access tokens are numbered 1, 2, ... in the order
issued, so a test can tell which token a login used without seeing it.

SIGTERM (or SIGINT) ends the process at once (after any log line being
written); it writes its pid nowhere.  Python 3 standard library only, and
testserver.py next to this file (the server, its start-up, the log).
"""

import base64
import hashlib
import json
import os
import secrets
import signal
import sys
import threading
import time
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True      # no __pycache__ among the tests
import testserver  # noqa: E402  (found through the line above)

BODY_MAX = 1 << 16
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class State:
    def __init__(self, args):
        self.client_id = args.client_id
        self.client_secret = args.client_secret
        self.refresh_token = args.refresh_token
        self.expires_in = args.expires_in
        self.user = args.user
        self.rotate = args.rotate
        self.introspect_down = False
        self.log = args.log
        self.tokens_file = args.tokens_file
        self.lock = threading.Lock()
        self.tokens = {}        # access token -> (seq, expiry as time.time())
        self.seq = 0
        self.stats = {"refresh_ok": 0, "refresh_fail": 0,
                      "introspect_ok": 0, "introspect_fail": 0,
                      "authorized": 0, "exchanged": 0, "device_started": 0}
        self.onboarded = set()  # refresh tokens issued by the two grants
        self.codes = {}         # code -> (challenge, redirect_uri, expiry)
        self.devices = {}       # device_code -> dict (see devicecode())
        self.authorize = "ok"
        self.pkce_tamper = False
        self.device_script = ["ok"]
        self.device_expires_in = 900
        self.device_interval = 1

    def record(self, entry):
        if self.log is None:
            return
        line = json.dumps(entry, separators=(",", ":"))
        with self.lock:
            testserver.append_line(self.log, line)

    def remember_secret(self, s):
        """Called with self.lock held."""
        if self.tokens_file is None:
            return
        testserver.append_line(self.tokens_file, s)


class Handler(testserver.Handler):
    server_version = "otpbridge-test-oauth/1"

    # ---- plumbing --------------------------------------------------------
    def read_form(self, entry):
        """The form fields as a dict, or raises ValueError (why).  Fills
        entry["fields"] with the names present."""
        length = self.headers.get("Content-Length")
        if length is None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                raise ValueError("chunked body not supported here")
            raise ValueError("no Content-Length")
        n = int(length)
        if n < 0 or n > BODY_MAX:
            raise ValueError("body too large")
        raw = self.rfile.read(n)
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            entry["fields"] = None
            raise ValueError("Content-Type must be application/x-www-form-urlencoded, got %r"
                             % ctype)
        try:
            pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True,
                              strict_parsing=bool(raw))
        except (UnicodeDecodeError, ValueError):
            entry["fields"] = None
            raise ValueError("body is not form-encoded")
        entry["fields"] = sorted({k for k, _ in pairs})
        form = {}
        for k, v in pairs:
            if k in form:   # RFC 6749 3.1: no parameter more than once
                raise ValueError("parameter %s repeated" % k)
            form[k] = v
        return form

    def drain(self):
        """Reads and drops a body nobody parses, so keep-alive stays in step."""
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = -1
        if 0 <= n <= BODY_MAX:
            self.rfile.read(n)
        else:
            self.close_connection = True

    def reply(self, status, obj, entry):
        entry["status"] = status
        self.server.state.record(entry)
        data = json.dumps(obj, separators=(",", ":")).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Pragma", "no-cache")
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="test"')
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def entry(self):
        return {"ts": round(time.time(), 3),
                "peer": "%s:%d" % self.client_address[:2],
                "method": self.command, "path": self.path,
                "status": None, "outcome": None, "fields": [],
                "client_auth": "none", "seq": None}

    def basic_auth(self):
        """(id, secret) from an Authorization: Basic header, None when
        there is none; raises ValueError when it is malformed."""
        h = self.headers.get("Authorization")
        if h is None:
            return None
        scheme, _, rest = h.partition(" ")
        if scheme.lower() != "basic":
            raise ValueError("Authorization scheme %r" % scheme)
        dec = base64.b64decode(rest.strip(), validate=True).decode("utf-8")
        cid, sep, sec = dec.partition(":")
        if not sep:
            raise ValueError("Basic credentials without ':'")
        # RFC 6749 2.3.1: form-urlencoded before base64.
        return unquote(cid.replace("+", " ")), unquote(sec.replace("+", " "))

    # ---- endpoints -------------------------------------------------------
    def token(self, e):
        st = self.server.state

        def fail(status, err, desc):
            e["outcome"] = err
            e["why"] = desc
            with st.lock:
                st.stats["refresh_fail"] += 1
            self.reply(status, {"error": err, "error_description": desc}, e)

        try:
            form = self.read_form(e)
            basic = self.basic_auth()
        except (ValueError, UnicodeDecodeError) as ex:
            return fail(400, "invalid_request", str(ex))
        if basic is not None:
            e["client_auth"] = "basic"
            if "client_secret" in form:
                return fail(400, "invalid_request",
                            "client credentials both in Basic and in the body")
            cid, csec = basic
        else:
            cid, csec = form.get("client_id"), form.get("client_secret")
            if csec is not None:
                e["client_auth"] = "form"
        gt = form.get("grant_type")
        if gt is None:
            return fail(400, "invalid_request", "Missing required parameter: grant_type")
        if gt in ("authorization_code", DEVICE_GRANT):
            if cid is None:
                return fail(400, "invalid_request", "Missing required parameter: client_id")
            if cid != st.client_id:
                return fail(401, "invalid_client", "The OAuth client was not found.")
            if st.client_secret is not None and \
                    (csec is None or not secrets.compare_digest(csec, st.client_secret)):
                return fail(401, "invalid_client", "Unauthorized")
            if gt == "authorization_code":
                return self.exchange(e, form, fail)
            return self.device_poll(e, form, fail)
        if gt != "refresh_token":
            return fail(400, "unsupported_grant_type", "Invalid grant_type: %s" % gt[:40])
        if cid is None:
            return fail(400, "invalid_request", "Missing required parameter: client_id")
        if cid != st.client_id:
            return fail(401, "invalid_client", "The OAuth client was not found.")
        if st.client_secret is not None and \
                (csec is None or not secrets.compare_digest(csec, st.client_secret)):
            return fail(401, "invalid_client", "Unauthorized")
        rt = form.get("refresh_token")
        if rt is None:
            return fail(400, "invalid_request", "Missing required parameter: refresh_token")
        with st.lock:
            good = (st.refresh_token is not None and
                    secrets.compare_digest(rt, st.refresh_token)) or rt in st.onboarded
            if good:
                st.seq += 1
                seq = st.seq
                tok = "ya29.test-%d-%s" % (seq, secrets.token_urlsafe(24))
                exp_in = st.expires_in
                st.tokens[tok] = (seq, time.time() + exp_in)
                st.remember_secret(tok)
                reply = {"access_token": tok, "token_type": "Bearer",
                         "expires_in": exp_in}
                if "scope" in form:
                    reply["scope"] = form["scope"]
                if st.rotate:
                    new_rt = "1//test-rt-%d-%s" % (seq, secrets.token_urlsafe(24))
                    st.refresh_token = new_rt
                    st.remember_secret(new_rt)
                    reply["refresh_token"] = new_rt
                st.stats["refresh_ok"] += 1
        if not good:
            return fail(400, "invalid_grant", "Token has been expired or revoked.")
        e["outcome"] = "ok"
        e["seq"] = seq
        e["expires_in"] = exp_in
        e["rotated"] = "refresh_token" in reply
        self.reply(200, reply, e)

    # ---- onboarding --------------------------------------------------------
    def issue(self, e, kind):
        """200 with an access token and a new refresh token (the refresh
        grant accepts it from now on)."""
        st = self.server.state
        with st.lock:
            st.seq += 1
            seq = st.seq
            tok = "ya29.test-%d-%s" % (seq, secrets.token_urlsafe(24))
            rt = "1//test-rt-onb-%d-%s" % (seq, secrets.token_urlsafe(24))
            st.tokens[tok] = (seq, time.time() + st.expires_in)
            st.onboarded.add(rt)
            st.remember_secret(tok)
            st.remember_secret(rt)
            st.stats["exchanged"] += 1
            exp_in = st.expires_in
        e["outcome"] = "ok"
        e["grant"] = kind
        e["seq"] = seq
        self.reply(200, {"access_token": tok, "token_type": "Bearer",
                         "expires_in": exp_in, "refresh_token": rt,
                         "scope": "https://mail.google.com/"}, e)

    def exchange(self, e, form, fail):
        st = self.server.state
        code = form.get("code")
        verifier = form.get("code_verifier")
        redirect_uri = form.get("redirect_uri")
        with st.lock:
            for v in (code, verifier):
                if v:
                    st.remember_secret(v)
            known = st.codes.pop(code, None) if code else None   # once only
        e["grant"] = "authorization_code"
        if code is None or verifier is None or redirect_uri is None:
            return fail(400, "invalid_request",
                        "Missing required parameter: code, code_verifier or redirect_uri")
        if known is None or time.time() > known[2]:
            return fail(400, "invalid_grant", "Malformed auth code.")
        challenge, want_uri, _ = known
        if redirect_uri != want_uri:
            return fail(400, "redirect_uri_mismatch", "Bad Request")
        if not 43 <= len(verifier) <= 128:
            return fail(400, "invalid_grant", "Invalid code verifier.")
        got = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()) \
            .decode().rstrip("=")
        if not secrets.compare_digest(got, challenge):
            e["pkce"] = "mismatch"
            return fail(400, "invalid_grant", "Invalid code verifier.")
        e["pkce"] = "ok"
        self.issue(e, "authorization_code")

    def authorize_ep(self, e):
        st = self.server.state
        q = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        e["fields"] = sorted(q)
        e["query"] = {k: q[k] for k in ("response_type", "client_id", "redirect_uri",
                                        "scope", "code_challenge_method",
                                        "access_type", "prompt", "login_hint")
                      if k in q}

        def page(status, why):
            e["outcome"] = "refused"
            e["why"] = why
            e["status"] = status
            st.record(e)
            data = ("<p>%s</p>\n" % why).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        if q.get("client_id") != st.client_id:
            return page(400, "invalid_client: The OAuth client was not found.")
        ru = q.get("redirect_uri", "")
        p = urlsplit(ru)
        if p.scheme != "http" or p.hostname not in ("127.0.0.1", "::1") or not p.port:
            return page(400, "redirect_uri_mismatch: not a loopback redirect")
        if q.get("response_type") != "code":
            return page(400, "unsupported_response_type")
        ch = q.get("code_challenge", "")
        if q.get("code_challenge_method") != "S256" or not 43 <= len(ch) <= 128:
            return page(400, "invalid_request: PKCE S256 required")
        state = q.get("state")
        if not state:
            return page(400, "invalid_request: no state")
        with st.lock:
            mode = st.authorize
            if mode == "deny":
                params = {"error": "access_denied",
                          "error_description": "The user denied access", "state": state}
                e["outcome"] = "denied"
            else:
                code = "4/0test-code-%s" % secrets.token_urlsafe(32)
                if st.pkce_tamper:
                    ch = base64.urlsafe_b64encode(hashlib.sha256(b"tampered").digest()) \
                        .decode().rstrip("=")
                st.codes[code] = (ch, ru, time.time() + 60)
                st.remember_secret(code)
                st.stats["authorized"] += 1
                params = {"code": code, "state": state,
                          "scope": q.get("scope", "")}
                e["outcome"] = "code"
        loc = ru + ("&" if "?" in ru else "?") + urlencode(params)
        e["status"] = 302
        st.record(e)
        self.send_response(302)
        self.send_header("Location", loc)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def devicecode(self, e):
        st = self.server.state
        try:
            form = self.read_form(e)
        except ValueError as ex:
            e["outcome"] = "invalid_request"
            return self.reply(400, {"error": "invalid_request",
                                    "error_description": str(ex)}, e)
        if form.get("client_id") != st.client_id:
            e["outcome"] = "invalid_client"
            return self.reply(400, {"error": "invalid_client",
                                    "error_description": "AADSTS700016: Application "
                                    "not found in the directory."}, e)
        e["scope"] = form.get("scope")
        dc = "test-device-code-%s" % secrets.token_urlsafe(32)
        uc = "TEST-%04d" % (secrets.randbelow(10000))
        with st.lock:
            st.remember_secret(dc)
            st.devices[dc] = {"interval": st.device_interval, "last": time.time(),
                              "expiry": time.time() + st.device_expires_in,
                              "script": list(st.device_script), "polls": 0}
            st.stats["device_started"] += 1
            exp_in, interval = st.device_expires_in, st.device_interval
        uri = "http://127.0.0.1:%d/device" % self.server.server_address[1]
        e["outcome"] = "ok"
        e["user_code"] = uc
        self.reply(200, {"device_code": dc, "user_code": uc, "verification_uri": uri,
                         "expires_in": exp_in, "interval": interval,
                         "message": "To sign in, use a web browser to open the page "
                         "%s and enter the code %s to authenticate." % (uri, uc)}, e)

    def device_poll(self, e, form, fail):
        st = self.server.state
        dc = form.get("device_code")
        now = time.time()
        e["grant"] = "device_code"
        with st.lock:
            d = st.devices.get(dc) if dc else None
            if d is not None:
                e["gap"] = round(now - d["last"], 2)
                e["interval"] = d["interval"]
                too_fast = now - d["last"] < d["interval"] - 0.2
                d["last"] = now
                d["polls"] += 1
                if too_fast:
                    step = "too_fast"
                elif now > d["expiry"]:
                    step = "expired"
                else:
                    step = d["script"].pop(0) if len(d["script"]) > 1 else d["script"][0]
                if step in ("too_fast", "slow_down"):
                    d["interval"] += 5
        if d is None:
            return fail(400, "invalid_grant", "The device code is unknown.")
        e["step"] = step
        if step == "pending":
            return fail(400, "authorization_pending",
                        "The user has not yet completed the sign-in.")
        if step in ("slow_down", "too_fast"):
            return fail(400, "slow_down", "Polling too fast.")
        if step == "denied":
            return fail(400, "access_denied", "The user declined the sign-in.")
        if step == "expired":
            return fail(400, "expired_token", "The device code has expired.")
        with st.lock:
            del st.devices[dc]
        self.issue(e, "device_code")

    def introspect(self, e):
        st = self.server.state
        try:
            form = self.read_form(e)
        except ValueError as ex:
            e["outcome"] = "invalid_request"
            e["why"] = str(ex)
            with st.lock:
                st.stats["introspect_fail"] += 1
            return self.reply(400, {"error": "invalid_request",
                                    "error_description": str(ex)}, e)
        tok = form.get("token")
        now = time.time()
        with st.lock:
            down = st.introspect_down
        if down:
            e["outcome"] = "down"
            return self.reply(503, {"error": "temporarily_unavailable"}, e)
        with st.lock:
            known = st.tokens.get(tok) if tok is not None else None
            if known is not None and now < known[1]:
                st.stats["introspect_ok"] += 1
                active = True
            else:
                st.stats["introspect_fail"] += 1
                active = False
        if tok is None:
            e["outcome"] = "inactive-no-token"
        elif known is None:
            e["outcome"] = "inactive-unknown"
        elif not active:
            e["outcome"] = "inactive-expired"
        else:
            e["outcome"] = "active"
        if known is not None:
            e["seq"] = known[0]
            e["remaining"] = round(known[1] - now, 1)
        if active:
            self.reply(200, {"active": True, "username": st.user,
                             "client_id": st.client_id, "token_type": "Bearer",
                             "exp": int(known[1])}, e)
        else:
            self.reply(200, {"active": False}, e)

    def revoke_all(self, e):
        st = self.server.state
        self.drain()
        with st.lock:
            n = len(st.tokens)
            st.tokens.clear()
        e["outcome"] = "revoked"
        e["count"] = n
        self.reply(200, {"revoked": n}, e)

    def control(self, e):
        st = self.server.state
        try:
            form = self.read_form(e)
            with st.lock:
                if "expires_in" in form:
                    st.expires_in = int(form["expires_in"])
                if "rotate" in form:
                    st.rotate = form["rotate"] not in ("", "0", "no", "false")
                if "introspect_down" in form:
                    st.introspect_down = form["introspect_down"] not in ("", "0", "no", "false")
                if "authorize" in form:
                    st.authorize = form["authorize"]
                if "pkce_tamper" in form:
                    st.pkce_tamper = form["pkce_tamper"] not in ("", "0", "no", "false")
                if "device_script" in form:
                    st.device_script = form["device_script"].split(",")
                if "device_expires_in" in form:
                    st.device_expires_in = int(form["device_expires_in"])
                if "device_interval" in form:
                    st.device_interval = int(form["device_interval"])
                now = {"expires_in": st.expires_in, "rotate": st.rotate}
        except ValueError as ex:
            e["outcome"] = "invalid_request"
            e["why"] = str(ex)
            return self.reply(400, {"error": "invalid_request",
                                    "error_description": str(ex)}, e)
        e["outcome"] = "ok"
        e.update(now)
        self.reply(200, now, e)

    def stats(self, e):
        st = self.server.state
        with st.lock:
            s = dict(st.stats)
            s["issued"] = st.seq
            s["expires_in"] = st.expires_in
            s["rotate"] = st.rotate
        e["outcome"] = "ok"
        self.reply(200, s, e)

    ROUTES = {("POST", "/token"): token, ("POST", "/introspect"): introspect,
              ("GET", "/authorize"): authorize_ep, ("POST", "/devicecode"): devicecode,
              ("POST", "/revoke-all"): revoke_all, ("POST", "/control"): control,
              ("GET", "/stats"): stats}

    def handle_any(self):
        e = self.entry()
        fn = self.ROUTES.get((self.command, self.path.split("?")[0]))
        if fn is None:
            e["outcome"] = "not-found"
            self.drain()
            return self.reply(404, {"error": "not_found"}, e)
        try:
            fn(self, e)
        except (ValueError, OSError) as ex:
            e["outcome"] = "error"
            e["why"] = str(ex)
            self.close_connection = True
            self.reply(400, {"error": "invalid_request"}, e)

    do_POST = handle_any
    do_GET = handle_any
    do_PUT = handle_any
    do_DELETE = handle_any


def main():
    ap = testserver.arguments("test OAuth2 token + introspection server")
    ap.add_argument("--log")
    ap.add_argument("--tokens-file")
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--client-secret")
    ap.add_argument("--refresh-token", required=True)
    ap.add_argument("--expires-in", type=int, default=3600)
    ap.add_argument("--user", default="bot")
    ap.add_argument("--rotate", action="store_true")
    args = ap.parse_args()

    srv = testserver.Server(("127.0.0.1", args.port), Handler)
    srv.state = State(args)

    def bye(*_):
        # Not in the middle of a log line: take the lock, then go.
        srv.state.lock.acquire()
        os._exit(0)
    signal.signal(signal.SIGTERM, bye)
    signal.signal(signal.SIGINT, bye)
    testserver.serve(srv, args.port_file)


if __name__ == "__main__":
    sys.exit(main())
