"""schemathesis hooks for otpgate's conformance run (scripts/conformance).

Three things a schema cannot teach a generator:

- the `e164` string format: a phone number that exists in its country's numbering plan. The
  document says so in words and gives the E.164 pattern; here the generator draws from numbers
  otpgate accepts (phones.txt, checked by a Rust test against otpgate's own validation).
- realistic data: a session token or request ID drawn at random names nothing, so every call on
  a session would stop at 404. For schema-valid cases, this replaces the token (or request ID)
  with one from a real send (or initiate) and, every other time, the codes with the real ones
  read from the test outbox, so the run reaches verification itself: right codes, wrong codes,
  resends, cancellations.
- rules across fields: the `fallback` delivery strategy is for `any` sessions, and only it
  takes `after_secs` (otherwise 400, which the Rust tests cover), so a schema-valid fallback
  send asks for `any` and a parallel one gives no wait.

Configured by the environment: OTPGATE_CONFORMANCE_URL (the server) and OTPGATE_CONFORMANCE_KEY
(a test key of the tenant the run uses).
"""

import itertools
import os
import pathlib

import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode

HERE = pathlib.Path(__file__).parent
PHONES = [
    line.strip()
    for line in (HERE / "phones.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]

schemathesis.openapi.format("e164", st.sampled_from(PHONES))

BASE = os.environ.get("OTPGATE_CONFORMANCE_URL", "http://127.0.0.1:3000")
KEY = os.environ.get("OTPGATE_CONFORMANCE_KEY", "")
HEADERS = {"X-API-Key": KEY}
SESSION_OPERATIONS = {"verify_codes", "session_status", "resend_codes", "cancel_session"}
counter = itertools.count()


def _post(path, body):
    response = requests.post(f"{BASE}{path}", json=body, headers=HEADERS, timeout=10)
    response.raise_for_status()
    return response.json()


def _newest_code(to):
    response = requests.get(
        f"{BASE}/api/v1/test/messages", params={"to": to}, headers=HEADERS, timeout=10
    )
    response.raise_for_status()
    messages = response.json()
    return messages[0]["code"] if messages else None


def _real_session(n):
    """A new session on every channel; returns its token and the code of each channel."""
    recipients = {
        "email": f"conformance-{n}@example.com",
        "sms": PHONES[n % len(PHONES)],
        "whatsapp": PHONES[(n + 1) % len(PHONES)],
    }
    sent = _post("/api/v1/otp/send", {"channels": list(recipients), "recipients": recipients})
    codes = {channel: _newest_code(to) for channel, to in recipients.items()}
    return sent["session_token"], codes


def _real_request(n):
    phone = PHONES[n % len(PHONES)]
    started = _post("/api/otp/initiate", {"phone_number": phone})
    return started["request_id"], _newest_code(phone)


def _consistent_delivery(case):
    """A fallback send asks for `any`; a parallel one gives no wait."""
    delivery = case.body.get("delivery")
    if isinstance(delivery, dict):
        if delivery.get("strategy") == "fallback":
            case.body["verification_mode"] = "any"
        else:
            delivery.pop("after_secs", None)


@schemathesis.hook
def map_case(ctx, case):
    meta = case.meta
    operation = case.operation.definition.raw.get("operationId")
    # Every case meant to be valid (the examples phase's too, which may carry no metadata).
    negative = meta is not None and meta.generation.mode == GenerationMode.NEGATIVE
    if operation == "send_codes" and not negative and isinstance(case.body, dict):
        _consistent_delivery(case)
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE:
        return case
    n = next(counter)
    headers = case.headers or {}
    if "Idempotency-Key" in headers:
        # An integrator uses one key per intended send; reusing a key with another body is
        # refused by contract (422), which the Rust tests cover.
        headers["Idempotency-Key"] = f"conformance-{n}"
    if not isinstance(case.body, dict):
        return case
    if meta.phase.name == "stateful":
        # Stateful runs carry real tokens already, from the links of the document.
        return case
    if operation in SESSION_OPERATIONS and isinstance(case.body.get("session_token"), str):
        token, codes = _real_session(n)
        case.body["session_token"] = token
        otps = case.body.get("otps")
        if operation == "verify_codes" and isinstance(otps, dict) and n % 2 == 0:
            for channel in otps:
                if codes.get(channel):
                    otps[channel] = codes[channel]
    elif operation == "verify_single" and isinstance(case.body.get("request_id"), str):
        request_id, code = _real_request(n)
        case.body["request_id"] = request_id
        if n % 2 == 0 and code:
            case.body["code"] = code
    return case
