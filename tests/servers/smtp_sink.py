"""A real SMTP server for otpgate's tests, with an HTTP API to read what arrived.

otpgate sends one-time codes by e-mail. To test that path end to end (STARTTLS, AUTH,
permanent and transient refusals) the tests need a real SMTP server on this machine,
and a way for Rust, Playwright and shell tests to read the mails it received. This is
that server: aiosmtpd for SMTP, the stdlib `http.server` for the read API. Nothing is
relayed anywhere; messages are kept in memory (and optionally appended to a JSON-lines
file).

Listeners (all on --host, 127.0.0.1 by default; port 0 picks a free port):
  --smtp-port   SMTP offering STARTTLS (AUTH after TLS when --user is given)
  --smtps-port  implicit TLS (SMTPS), AUTH when --user is given
  --plain-port  SMTP offering no STARTTLS at all, no AUTH: a client that insists on
                TLS must refuse to send through it
  --http-port   the read API:
                  GET    /healthz                          {"ok": true}
                  GET    /messages[?to=ADDR]               newest first
                  GET    /messages/wait?to=ADDR&after=ID&timeout=S
                         the oldest message to ADDR with id > ID, waiting up to S
                         seconds (default 10); 404 {"error": "timeout"} otherwise
                  DELETE /messages                         forget all messages

Started for tests by scripts/smtp-server, which also makes the test CA
(tests/servers/make-test-ca). Stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import hmac
import json
import logging
import os
import signal
import ssl
import sys
import threading
import time
import warnings
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

log = logging.getLogger("smtp_sink")

# What a refused RCPT answers, by the class of the code given in --fail-rcpt.
REFUSAL_TEXT = {"4": "4.3.0 try again later", "5": "5.1.1 mailbox unavailable"}


class Store:
    """The received messages, shared by the SMTP loop and the HTTP threads.

    A Condition (not just a lock) so that /messages/wait can sleep until a new
    message is added instead of polling.
    """

    def __init__(self, path: str | None) -> None:
        self._cond = threading.Condition()
        self._messages: list[dict] = []
        self._next_id = 1
        self._path = path

    def add(self, message: dict) -> dict:
        with self._cond:
            # Ids keep increasing across DELETE so that a test's "after" stays valid.
            message = {"id": self._next_id, **message}
            self._next_id += 1
            self._messages.append(message)
            if self._path:
                with open(self._path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(message, ensure_ascii=False) + "\n")
            self._cond.notify_all()
            return message

    def clear(self) -> None:
        with self._cond:
            self._messages.clear()

    def list(self, to: str | None) -> list[dict]:
        with self._cond:
            return [m for m in reversed(self._messages) if _addressed_to(m, to)]

    def wait(self, to: str | None, after: int, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self._messages:  # oldest first: a test reads mails in order
                    if m["id"] > after and _addressed_to(m, to):
                        return m
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)


def _addressed_to(message: dict, to: str | None) -> bool:
    if not to:
        return True
    return any(r.lower() == to.lower() for r in message["rcpt_tos"])


def parse_message(raw: bytes) -> dict:
    """The parts of a mail that tests assert on, decoded (RFC 2047, charsets, CTE)."""
    msg = email.message_from_bytes(raw, policy=policy.default)
    headers: dict[str, str] = {}
    for name in msg.keys():
        # Group case-insensitively (keep the first spelling): "To" and "to" are one header.
        if any(k.lower() == name.lower() for k in headers):
            continue
        headers[name] = ", ".join(str(v) for v in msg.get_all(name, []))

    def body(subtype: str) -> str | None:
        part = msg.get_body(preferencelist=(subtype,))
        if part is None:
            return None
        # SMTP lines end in CRLF; tests compare text, so give them plain newlines.
        return part.get_content().replace("\r\n", "\n")

    def header(name: str) -> str | None:
        value = msg[name]
        return None if value is None else str(value)

    return {
        "subject": header("Subject"),
        "from": header("From"),
        "to": header("To"),
        "text": body("plain") or "",
        "html": body("html"),
        "headers": headers,
        "raw": raw.decode("utf-8", errors="replace"),
    }


class Handler:
    """aiosmtpd hooks: refuse the recipients --fail-rcpt names, store what DATA brings."""

    def __init__(self, store: Store, fail_rcpt: list[tuple[str, int]]) -> None:
        self.store = store
        self.fail_rcpt = fail_rcpt

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        for substring, code in self.fail_rcpt:
            if substring.lower() in address.lower():
                log.info("refusing RCPT %s with %d", address, code)
                return f"{code} {REFUSAL_TEXT[str(code)[0]]}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        received_at = time.time()
        # Works for STARTTLS (the transport is then the TLS one) and for implicit TLS,
        # where aiosmtpd's session.ssl stays None.
        tls = server.transport.get_extra_info("ssl_object") is not None
        peer = session.peer
        try:
            parsed = parse_message(envelope.original_content or envelope.content)
        except Exception:  # a sink must not lose a mail because a test sent odd MIME
            log.exception("could not parse message")
            raw = envelope.original_content or b""
            parsed = {"subject": None, "from": None, "to": None, "text": "",
                      "html": None, "headers": {},
                      "raw": raw.decode("utf-8", errors="replace")}
        stored = self.store.add({
            "received_at": received_at,
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "tls": tls,
            "auth_user": session.auth_data if session.authenticated else None,
            "peer": f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer),
            **parsed,
        })
        log.info("stored message %d from %s to %s (tls=%s)", stored["id"],
                 envelope.mail_from, ",".join(envelope.rcpt_tos), tls)
        return "250 Message accepted for delivery"


def make_authenticator(user: str, password: str):
    def authenticate(server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", errors="replace")
        pw = auth_data.password.decode("utf-8", errors="replace")
        ok = hmac.compare_digest(login, user) and hmac.compare_digest(pw, password)
        if not ok:
            # handled=False makes aiosmtpd answer 535 itself; with the default
            # (handled=True) it would send nothing and the client would hang.
            return AuthResult(success=False, handled=False)
        # auth_data becomes session.auth_data, which DATA reports as auth_user.
        return AuthResult(success=True, auth_data=login)
    return authenticate


class ApiHandler(BaseHTTPRequestHandler):
    store: Store  # set on the subclass made in start_http

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/healthz":
            self._json(200, {"ok": True})
        elif url.path == "/messages":
            self._json(200, self.store.list(query.get("to")))
        elif url.path == "/messages/wait":
            try:
                after = int(query.get("after", "0"))
                timeout = min(float(query.get("timeout", "10")), 300.0)
            except ValueError:
                self._json(400, {"error": "after must be an integer, timeout a number"})
                return
            message = self.store.wait(query.get("to"), after, timeout)
            if message is None:
                self._json(404, {"error": "timeout"})
            else:
                self._json(200, message)
        else:
            self._json(404, {"error": "not found"})

    def do_DELETE(self) -> None:
        if urlsplit(self.path).path == "/messages":
            self.store.clear()
            self._json(200, {"ok": True})
        else:
            self._json(404, {"error": "not found"})

    def _json(self, status: int, body) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:
        log.info("http %s " + format, self.address_string(), *args)


def start_http(host: str, port: int, store: Store) -> ThreadingHTTPServer:
    handler = type("BoundApiHandler", (ApiHandler,), {"store": store})
    httpd = ThreadingHTTPServer((host, port), handler)
    # Daemon threads: a /messages/wait still sleeping must not hold up the exit.
    httpd.daemon_threads = True
    # A short poll interval: shutdown() waits for it, and tests stop the sink often.
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                     name="http", daemon=True).start()
    return httpd


def parse_fail_rcpt(value: str) -> tuple[str, int]:
    substring, sep, code = value.rpartition("=")
    if not sep or not substring or not code.isdigit() or code[0] not in REFUSAL_TEXT \
            or len(code) != 3:
        raise argparse.ArgumentTypeError(f"expected SUBSTRING=4xx|5xx, got {value!r}")
    return substring, int(code)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1", help="address of every listener")
    p.add_argument("--smtp-port", type=int, default=0, help="SMTP + STARTTLS (0: free port)")
    p.add_argument("--smtps-port", type=int, help="implicit-TLS listener (omit: none)")
    p.add_argument("--plain-port", type=int, help="listener without STARTTLS (omit: none)")
    p.add_argument("--http-port", type=int, default=0, help="read API (0: free port)")
    p.add_argument("--cert", required=True, help="server certificate chain, PEM")
    p.add_argument("--key", required=True, help="server private key, PEM")
    p.add_argument("--user", help="require AUTH with this user (after TLS)")
    p.add_argument("--password", help="the password for --user")
    p.add_argument("--require-starttls", action="store_true",
                   help="the STARTTLS listener refuses MAIL before STARTTLS")
    p.add_argument("--fail-rcpt", type=parse_fail_rcpt, action="append", default=[],
                   metavar="SUBSTRING=CODE", help="refuse matching RCPT TO with CODE")
    p.add_argument("--ready-file", help="write the actual ports here as JSON once up")
    p.add_argument("--store", help="also append every message to this JSON-lines file")
    args = p.parse_args(argv)
    if (args.user is None) != (args.password is None):
        p.error("--user and --password go together")
    return args


def quiet_resets(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    # A client that drops a STARTTLS connection abruptly (smtplib does, in our checks)
    # leaves asyncio a reset that it reports as an ERROR with a traceback, often only
    # when the loop shuts down. For a test sink that is routine: log one line.
    if isinstance(context.get("exception"), ConnectionResetError):
        log.info("connection reset by a client")
    else:
        loop.default_exception_handler(context)


async def serve(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(quiet_resets)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(args.cert, args.key)
    store = Store(args.store)
    handler = Handler(store, args.fail_rcpt)
    auth = {}
    if args.user is not None:
        auth = {"auth_required": True,
                "authenticator": make_authenticator(args.user, args.password)}

    def smtp(**kwargs):
        # hostname given: aiosmtpd would otherwise call socket.getfqdn(), which can hang
        # for seconds on a machine without DNS. SMTPUTF8 on: accept raw UTF-8 headers.
        return lambda: SMTP(handler, hostname="localhost", enable_SMTPUTF8=True,
                            loop=loop, **kwargs)

    factories = {"smtp": (args.smtp_port, smtp(tls_context=tls,
                                               require_starttls=args.require_starttls,
                                               **auth), None)}
    if args.smtps_port is not None:
        # The session is already under TLS, but aiosmtpd only knows about STARTTLS: tell
        # it not to demand TLS before AUTH, or it would refuse AUTH here.
        factories["smtps"] = (args.smtps_port, smtp(auth_require_tls=False, **auth), tls)
    if args.plain_port is not None:
        factories["plain"] = (args.plain_port, smtp(), None)

    servers = []
    ports = {}
    for name, (port, factory, server_tls) in factories.items():
        server = await loop.create_server(factory, args.host, port, ssl=server_tls)
        servers.append(server)
        ports[name] = server.sockets[0].getsockname()[1]
    httpd = start_http(args.host, args.http_port, store)
    ports["http"] = httpd.server_address[1]

    if args.ready_file:
        # Write then rename, so a script polling for the file never reads half of it.
        with open(args.ready_file + ".tmp", "w", encoding="utf-8") as f:
            json.dump(ports, f)
        os.replace(args.ready_file + ".tmp", args.ready_file)
    log.info("listening: %s", json.dumps(ports))

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()

    log.info("stopping")
    for server in servers:
        server.close()
    httpd.shutdown()
    httpd.server_close()
    if args.ready_file:
        # A ready file must mean "up": don't leave one behind for the next start to trust.
        try:
            os.unlink(args.ready_file)
        except FileNotFoundError:
            pass


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # aiosmtpd warns that AUTH without TLS is unsafe when auth_require_tls is False; on
    # the implicit-TLS listener (the only one where it is False) TLS is already there.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    # aiosmtpd logs every command at INFO under "mail.log": keep its warnings and errors
    # only, minus two that it repeats on every connection and that mean nothing here
    # (the one above, and a deprecation that aiosmtpd's own AUTH code triggers).
    noise = ("auth_require_tls == False", "Session.login_data is deprecated")
    mail_log = logging.getLogger("mail.log")
    mail_log.setLevel(logging.WARNING)
    mail_log.addFilter(lambda record: not any(n in record.getMessage() for n in noise))
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
