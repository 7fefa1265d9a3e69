"""The official twilio-python SDK pointed at otpgate the documented way: a custom HTTP client
(advanced-examples/custom-http-client.md) that sends Twilio's addresses to otpgate's host."""

import os
import re

from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

BASE = os.environ["OTPGATE_BASE_URL"]
TWILIO_VERIFY = re.compile(r"^https://verify(\.[A-Za-z0-9-]+)*\.twilio\.com")


class OtpgateHttpClient(TwilioHttpClient):
    def request(self, method, url, *args, **kwargs):
        return super().request(method, TWILIO_VERIFY.sub(BASE, url), *args, **kwargs)


def client(account_sid, api_key):
    """A Twilio client for an otpgate tenant: its account SID and one of its API keys."""
    return Client(account_sid, api_key, http_client=OtpgateHttpClient())


TENANT = (os.environ["OTPGATE_TWILIO_ACCOUNT_SID"], os.environ["OTPGATE_TWILIO_KEY"])
OTHER = (os.environ["OTPGATE_TWILIO_OTHER_ACCOUNT_SID"], os.environ["OTPGATE_TWILIO_OTHER_KEY"])


def code_for(to):
    """The newest code otpgate sent `to` (test keys deliver to the test outbox)."""
    import json
    import urllib.parse
    import urllib.request

    request = urllib.request.Request(
        f"{BASE}/api/v1/test/messages?to={urllib.parse.quote(to)}",
        headers={"X-API-Key": TENANT[1]},
    )
    with urllib.request.urlopen(request) as answer:
        messages = json.load(answer)
    return messages[0]["code"]


def wrong(code):
    return ("0" if code[0] == "9" else str(int(code[0]) + 1)) + code[1:]


_counter = [0]


def phone():
    """A phone number of its own for each test."""
    import time

    _counter[0] += 1
    return f"+1415555{(int(time.time() * 1000) + _counter[0] * 7919 + 5000) % 10000:04d}"
