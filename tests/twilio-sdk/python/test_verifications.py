"""Verifications through twilio-python, as a program written for Twilio Verify calls them:
create → pending; wrong code → pending/valid false; right → approved; then gone (20404); five
wrong then right → 60202; cancel then check → 20404; create again while pending → the same SID,
two send attempts, the newest code works; Twilio's codes for wrong input."""

import time
import unittest

from twilio.base.exceptions import TwilioRestException

from door import OTHER, TENANT, client, code_for, phone, wrong


class Verifications(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        verify = client(*TENANT).verify.v2
        cls.service = verify.services(verify.services.create(friendly_name="Python Shop").sid)

    def assertTwilioError(self, call, status, code):
        with self.assertRaises(TwilioRestException) as raised:
            call()
        self.assertEqual((raised.exception.status, raised.exception.code), (status, code))
        return raised.exception

    def test_each_channel_pending_wrong_right_then_gone(self):
        for channel in ["sms", "whatsapp", "email"]:
            with self.subTest(channel=channel):
                to = f"py-{time.time_ns()}@example.com" if channel == "email" else phone()
                started = self.service.verifications.create(to=to, channel=channel)
                self.assertRegex(started.sid, r"^VE[0-9a-f]{32}$")
                self.assertEqual((started.status, started.valid), ("pending", False))
                self.assertEqual(len(started.send_code_attempts), 1)
                code = code_for(to)
                missed = self.service.verification_checks.create(to=to, code=wrong(code))
                self.assertEqual((missed.status, missed.valid), ("pending", False))
                approved = self.service.verification_checks.create(to=to, code=code)
                self.assertEqual((approved.status, approved.valid), ("approved", True))
                self.assertTwilioError(
                    lambda: self.service.verification_checks.create(to=to, code=code), 404, 20404
                )
                self.assertTwilioError(
                    lambda: self.service.verifications(started.sid).fetch(), 404, 20404
                )

    def test_five_wrong_checks_then_60202(self):
        to = phone()
        started = self.service.verifications.create(to=to, channel="sms")
        code = code_for(to)
        for _ in range(5):
            missed = self.service.verification_checks.create(
                verification_sid=started.sid, code=wrong(code)
            )
            self.assertEqual(missed.status, "pending")
        self.assertTwilioError(
            lambda: self.service.verification_checks.create(to=to, code=code), 429, 60202
        )

    def test_cancel_then_not_found(self):
        to = phone()
        started = self.service.verifications.create(to=to, channel="sms")
        code = code_for(to)
        self.assertEqual(self.service.verifications(started.sid).fetch().status, "pending")
        canceled = self.service.verifications(started.sid).update(status="canceled")
        self.assertEqual(canceled.status, "canceled")
        self.assertTwilioError(
            lambda: self.service.verification_checks.create(to=to, code=code), 404, 20404
        )

    def test_create_again_while_pending(self):
        to = phone()
        first = self.service.verifications.create(to=to, channel="sms")
        self.assertTwilioError(
            lambda: self.service.verifications.create(to=to, channel="sms"), 429, 20429
        )
        time.sleep(31)
        again = self.service.verifications.create(to=to, channel="sms")
        self.assertEqual(again.sid, first.sid)
        self.assertEqual(len(again.send_code_attempts), 2)
        approved = self.service.verification_checks.create(to=to, code=code_for(to))
        self.assertEqual(approved.status, "approved")

    def test_twilio_codes_for_wrong_input(self):
        error = self.assertTwilioError(
            lambda: self.service.verifications.create(to="12345", channel="sms"), 400, 60200
        )
        self.assertIn("To", error.msg)
        self.assertTwilioError(
            lambda: self.service.verifications.create(to=phone(), channel="call"), 400, 60223
        )
        self.assertTwilioError(
            lambda: self.service.verification_checks.create(code="123456"), 400, 60221
        )
        started = self.service.verifications.create(to=phone(), channel="sms")
        theirs = client(*OTHER).verify.v2.services(started.service_sid)
        self.assertTwilioError(lambda: theirs.verifications(started.sid).fetch(), 404, 20404)


if __name__ == "__main__":
    unittest.main()
