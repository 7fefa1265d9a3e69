#!/usr/bin/env python3
"""A webhook receiver for otpgate's tests, judging every delivery with the official Standard
Webhooks library (PyPI `standardwebhooks`), not with otpgate's own code.

It listens on 127.0.0.1:PORT and records each POST it receives — headers, body, and which of its
secrets verify the signature (`standardwebhooks.Webhook(secret).verify(body, headers)`, which
also checks the timestamp is within five minutes) — as one JSON line in --log, so that a
restarted receiver keeps what an earlier one received. A test steers it over HTTP:

  PUT  /_control/secrets   {"secrets": ["whsec_...", ...]}   the secrets to verify with
  PUT  /_control/answer    {"status": 503, "retry_after": "7", "delay": 0.0}  how to answer
                           deliveries from now on (default 204; delay in seconds before it)
  GET  /_control/received  every delivery recorded, oldest first

Usage: webhook_receiver.py --port PORT --log FILE [--secret whsec_...]...
"""
import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

lock = threading.Lock()
state = {"secrets": [], "status": 204, "retry_after": None, "delay": 0.0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet: the log file is the record
        pass

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(self, status, payload=None, headers=None):
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/_control/received":
            with open(self.server.log_path) as f:
                self.answer(200, [json.loads(line) for line in f if line.strip()])
        else:
            self.answer(404, {"error": "not found"})

    def do_PUT(self):
        body = json.loads(self.body() or b"{}")
        with lock:
            if self.path == "/_control/secrets":
                state["secrets"] = list(body["secrets"])
            elif self.path == "/_control/answer":
                state["status"] = int(body.get("status", 204))
                state["retry_after"] = body.get("retry_after")
                state["delay"] = float(body.get("delay", 0.0))
            else:
                return self.answer(404, {"error": "not found"})
        self.answer(200, {"ok": True})

    def do_POST(self):
        raw = self.body()
        text = raw.decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in self.headers.items()}
        with lock:
            secrets = list(state["secrets"])
            status, retry_after, delay = state["status"], state["retry_after"], state["delay"]
        verified_with = []
        for index, secret in enumerate(secrets):
            try:
                Webhook(secret).verify(raw, headers)
                verified_with.append(index)
            except WebhookVerificationError:
                pass
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        record = {
            "received_at": time.time(),
            "path": self.path,
            "id": headers.get("webhook-id"),
            "timestamp": headers.get("webhook-timestamp"),
            "signature": headers.get("webhook-signature"),
            "content_type": headers.get("content-type"),
            "user_agent": headers.get("user-agent"),
            "verified_with": verified_with,
            "answered": status,
            "body": text,
            "event": parsed,
        }
        with lock:
            with open(self.server.log_path, "a") as f:
                f.write(json.dumps(record) + "\n")
        if delay:
            time.sleep(delay)
        extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self.answer(status, {"received": True} if status != 204 else None, extra)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--secret", action="append", default=[])
    args = p.parse_args()
    state["secrets"] = args.secret
    open(args.log, "a").close()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.log_path = args.log
    print(f"webhook receiver on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
