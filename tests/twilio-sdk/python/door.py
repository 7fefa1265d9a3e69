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
