"""schemathesis hooks for the admin API's conformance run (scripts/conformance-admin).

A name or an ID drawn at random names nothing, so every look-up would stop at 404. For
schema-valid cases, every other one is pointed at something real of the run's tenant: its name
(path `name`, query `tenant`), an address its sessions went to (`destination`), a session or single-SMS request just made with its test key
(`session_id`, `request_id`), a webhook endpoint of its own (`id` of the webhook operations,
pointing at a closed loopback port) and one of its deliveries, a channel and a built-in language
(`channel`, `locale` of the template operations), and a template that passes its checks. The rest of each case is
generated as schemathesis chooses, and checked as for every other.

Configured by the environment: OTPGATE_CONFORMANCE_URL (the public listener),
OTPGATE_CONFORMANCE_KEY (a test key of the tenant), OTPGATE_CONFORMANCE_TENANT, and
OTPGATE_CONFORMANCE_ADMIN_URL with OTPGATE_CONFORMANCE_ADMIN_TOKEN (the run's own token, to
make a new test key when the run has revoked the one in use).
"""

import itertools
import os

import requests
import schemathesis
from schemathesis import GenerationMode

BASE = os.environ.get("OTPGATE_CONFORMANCE_URL", "http://127.0.0.1:3000")
ADMIN = os.environ.get("OTPGATE_CONFORMANCE_ADMIN_URL", "http://127.0.0.1:3100")
TOKEN = os.environ.get("OTPGATE_CONFORMANCE_ADMIN_TOKEN", "")
TENANT = os.environ.get("OTPGATE_CONFORMANCE_TENANT", "")
HEADERS = {"X-API-Key": os.environ.get("OTPGATE_CONFORMANCE_KEY", "")}
counter = itertools.count()


def _new_key():
    """The run may revoke any key of its tenant (revoke_key is under test): make another."""
    response = requests.post(
        f"{ADMIN}/admin/v1/tenants/{TENANT}/keys",
        json={"kind": "test"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    response.raise_for_status()
    HEADERS["X-API-Key"] = response.json()["key"]


def _post(path, body):
    response = requests.post(f"{BASE}{path}", json=body, headers=HEADERS, timeout=10)
    if response.status_code == 401:
        _new_key()
        response = requests.post(f"{BASE}{path}", json=body, headers=HEADERS, timeout=10)
    response.raise_for_status()
    return response.json()


def _session(n):
    sent = _post(
        "/api/v1/otp/send",
        {"channels": ["email"], "recipients": {"email": f"admin-conformance-{n}@example.com"}},
    )
    return sent["session_id"]


def _request():
    return _post("/api/otp/initiate", {"phone_number": "+14155550100"})["request_id"]


def _admin(method, path, body=None):
    return requests.request(
        method,
        f"{ADMIN}{path}",
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )


# Where the run's endpoints point: a loopback port nothing listens on (the run's server allows
# private addresses, OTPGATE_WEBHOOKS_ALLOW_PRIVATE), so deliveries meet a refused connection.
NOWHERE = "http://127.0.0.1:9/conformance"
endpoint = {"id": None}


def _endpoint():
    """A webhook endpoint of the run's tenant (the run may delete it: then another)."""
    if endpoint["id"] is not None and _admin("GET", f"/admin/v1/webhooks/{endpoint['id']}").ok:
        return endpoint["id"]
    response = _admin("POST", f"/admin/v1/tenants/{TENANT}/webhooks", {"url": NOWHERE})
    response.raise_for_status()
    endpoint["id"] = response.json()["id"]
    return endpoint["id"]


def _webhook_delivery(endpoint_id):
    """A delivery of the endpoint: a test event queued for it (enabled first)."""
    _admin("PATCH", f"/admin/v1/webhooks/{endpoint_id}", {"enabled": True})
    response = _admin(
        "POST", f"/admin/v1/webhooks/{endpoint_id}/test", {"type": "verification.verified"}
    )
    response.raise_for_status()
    return response.json()["delivery"]


CHANNELS = ["email", "sms", "whatsapp"]
LANGUAGES = ["en", "ar", "es", "fr", "de", "pt", "hi", "id", "tr", "ru", "zh", "fa"]
TEMPLATES = {
    "email": {
        "subject": "{{ code }} is your {{ app_name }} code",
        "text": "Your code: {{ code }}",
        "html": "<p>Your code: <b>{{ code }}</b></p>",
    },
    "sms": {"text": "{{ app_name }}: {{ code }}"},
    "whatsapp": {"whatsapp_template": "otp_code", "whatsapp_language": "en_US"},
}

WEBHOOK_OPERATIONS = {
    "read_webhook",
    "change_webhook",
    "delete_webhook",
    "rotate_webhook_secret",
    "test_webhook",
    "list_webhook_deliveries",
    "resend_webhook_delivery",
    "replay_webhooks",
}


@schemathesis.hook
def map_case(ctx, case):
    meta = case.meta
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE:
        return case
    if meta.phase.name == "stateful":
        return case
    n = next(counter)
    if n % 2:
        return case
    operation = case.operation.definition.raw.get("operationId")
    path = case.path_parameters or {}
    query = case.query or {}
    if "name" in path:
        path["name"] = TENANT
    if "tenant" in query:
        query["tenant"] = TENANT
    if operation in ("look_up_destination", "unlock_destination") and isinstance(case.body, dict):
        case.body["destination"] = f"admin-conformance-{n}@example.com"
    if operation == "read_session":
        path["session_id"] = _session(n)
    elif operation == "read_sms_request":
        path["request_id"] = _request()
    elif operation in WEBHOOK_OPERATIONS:
        path["id"] = str(_endpoint())
        if operation == "resend_webhook_delivery":
            path["delivery"] = str(_webhook_delivery(path["id"]))
    if "channel" in path and "locale" in path:
        path["channel"] = CHANNELS[n // 2 % len(CHANNELS)]
        path["locale"] = LANGUAGES[n // 6 % len(LANGUAGES)]
        if operation == "save_template":
            case.body = dict(TEMPLATES[path["channel"]])
    if operation in ("create_webhook", "change_webhook") and isinstance(case.body, dict):
        if "url" in case.body or operation == "create_webhook":
            case.body["url"] = f"{NOWHERE}/{n}"
    return case
