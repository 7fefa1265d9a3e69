#!/usr/bin/env python3
"""Creates OTP sessions for bench/run and writes them to a file, one "token code" per line.

Each session has one email channel (a unique address, so the test outbox lookup finds exactly
its message) and max_attempts 20. With --codes the real code is read from the test outbox;
without it the code column is left empty (the wrong-code scenario does not need it).
Standard library only; a few keep-alive connections in parallel.
"""
import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

_local = threading.local()


def conn(host, port):
    c = getattr(_local, "conn", None)
    if c is None:
        c = _local.conn = http.client.HTTPConnection(host, port, timeout=30)
    return c


def call(args, method, path, body=None):
    headers = {"X-API-Key": args.key}
    data = None
    if body is not None:
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    for attempt in range(20):
        c = conn(args.host, args.port)
        try:
            c.request(method, path, body=data, headers=headers)
            r = c.getresponse()
            payload = r.read()
        except (http.client.HTTPException, OSError):
            c.close()
            _local.conn = None
            time.sleep(0.1)
            continue
        if r.status == 429:  # rate limited: honour Retry-After and try again
            time.sleep(min(float(r.getheader("Retry-After") or 1), 5))
            continue
        if r.status != 200:
            raise SystemExit(f"prepare: {method} {path} answered {r.status}: {payload[:200]!r}")
        return json.loads(payload)
    raise SystemExit(f"prepare: {method} {path} kept failing")


def one(args, i):
    email = f"{args.prefix}-{i}@example.com"
    sent = call(args, "POST", "/api/v1/otp/send",
                {"channels": ["email"], "recipients": {"email": email}, "max_attempts": 20})
    token = sent["session_token"]
    code = ""
    if args.codes:
        msgs = call(args, "GET", "/api/v1/test/messages?to=" + urllib.parse.quote(email))
        if not msgs:
            raise SystemExit(f"prepare: no outbox message for {email}")
        code = msgs[0]["code"]
    return f"{token} {code}".rstrip()


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--base", required=True, help="http://127.0.0.1:PORT")
    p.add_argument("--key", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--prefix", required=True, help="makes the email addresses unique")
    p.add_argument("--codes", action="store_true", help="read each code from the test outbox")
    p.add_argument("--out", required=True)
    p.add_argument("--jobs", type=int, default=4)
    args = p.parse_args()
    u = urllib.parse.urlsplit(args.base)
    args.host, args.port = u.hostname, u.port or 80

    start = time.monotonic()
    with ThreadPoolExecutor(args.jobs) as pool:
        lines = list(pool.map(lambda i: one(args, i), range(args.count)))
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"prepare: {args.count} sessions{' with codes' if args.codes else ''} "
          f"in {time.monotonic() - start:.1f}s -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
