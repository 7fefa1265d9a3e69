"""schemathesis hooks for the Twilio-compatible door's conformance run (scripts/conformance-twilio).

A SID drawn at random names nothing, so every call on a service or verification would stop at
404. For schema-valid cases these hooks put real ones in the path (a service made through the
door, a verification started under it) and a real number or address in `To`, so the run
reaches the door's logic: sends, checks, cancels, approvals.

Configured by the environment: OTPGATE_CONFORMANCE_URL, OTPGATE_CONFORMANCE_ACCOUNT_SID and
OTPGATE_CONFORMANCE_KEY (a test key of the account's tenant).
"""

import itertools
import os
import pathlib

import requests
import schemathesis
from schemathesis import GenerationMode

HERE = pathlib.Path(__file__).parent
PHONES = [
    line.strip()
    for line in (HERE / "phones.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]

BASE = os.environ.get("OTPGATE_CONFORMANCE_URL", "http://127.0.0.1:3000")
AUTH = (
    os.environ.get("OTPGATE_CONFORMANCE_ACCOUNT_SID", ""),
    os.environ.get("OTPGATE_CONFORMANCE_KEY", ""),
)
counter = itertools.count()


def _post(path, form):
    response = requests.post(f"{BASE}{path}", data=form, auth=AUTH, timeout=10)
    response.raise_for_status()
    return response.json()


def _service(n):
    return _post("/v2/Services", {"FriendlyName": f"Conformance {n}"})["sid"]


def _recipient(channel, n):
    if channel == "email":
        return f"twilio-conformance-{n}@example.com"
    return PHONES[n % len(PHONES)]


def _verification(service, n):
    return _post(
        f"/v2/Services/{service}/Verifications",
        {"To": _recipient("sms", n), "Channel": "sms"},
    )


@schemathesis.hook
def map_case(ctx, case):
    meta = case.meta
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE:
        return case
    if meta.phase.name == "stateful":
        return case
    n = next(counter)
    params = case.path_parameters or {}
    if "Sid" in params and "ServiceSid" not in params:
        params["Sid"] = _service(n)
    if "ServiceSid" in params:
        service = _service(n)
        params["ServiceSid"] = service
        if "Sid" in params:
            params["Sid"] = _verification(service, n)["sid"]
    body = case.body if isinstance(case.body, dict) else None
    operation = case.operation.definition.raw.get("operationId")
    if body is not None and operation == "twilio_create_verification":
        channel = str(body.get("Channel", "sms")).lower()
        if channel in ("sms", "whatsapp", "email"):
            body["To"] = _recipient(channel, n)
    if body is not None and operation == "twilio_check_verification" and "To" in body:
        started = _verification(params["ServiceSid"], n)
        body["To"] = started["to"]
        body.pop("VerificationSid", None)
    return case
