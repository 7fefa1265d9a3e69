"""Services through twilio-python: create, fetch, update, list across pages, delete; Twilio's
exceptions for wrong credentials, another tenant's service, a wrong parameter."""

import datetime
import unittest

from twilio.base.exceptions import TwilioRestException

from door import OTHER, TENANT, client


class Services(unittest.TestCase):
    def setUp(self):
        self.verify = client(*TENANT).verify.v2

    def assertTwilioError(self, call, status, code):
        with self.assertRaises(TwilioRestException) as raised:
            call()
        self.assertEqual((raised.exception.status, raised.exception.code), (status, code))
        return raised.exception

    def test_created_fetched_updated_deleted(self):
        created = self.verify.services.create(friendly_name="Python App", code_length=8)
        self.assertRegex(created.sid, r"^VA[0-9a-f]{32}$")
        self.assertEqual(created.account_sid, TENANT[0])
        self.assertEqual(created.code_length, 8)
        # twilio-python parses only 2015-07-30T20:00:00Z; anything else stays a string.
        self.assertIsInstance(created.date_created, datetime.datetime)
        self.assertIsInstance(created.date_updated, datetime.datetime)
        fetched = self.verify.services(created.sid).fetch()
        self.assertEqual(fetched.friendly_name, "Python App")
        updated = self.verify.services(created.sid).update(friendly_name="Renamed")
        self.assertEqual((updated.friendly_name, updated.code_length), ("Renamed", 8))
        self.assertTrue(self.verify.services(created.sid).delete())
        self.assertTwilioError(lambda: self.verify.services(created.sid).fetch(), 404, 20404)

    def test_listed_across_pages(self):
        made = [self.verify.services.create(friendly_name=f"Paged {n}").sid for n in range(5)]
        listed = [s.sid for s in self.verify.services.list(page_size=2)]
        self.assertEqual([sid for sid in listed if sid in made], made)
        streamed = [s.sid for s in self.verify.services.stream(page_size=2, limit=3)]
        self.assertEqual(len(streamed), 3)
        for sid in made:
            self.verify.services(sid).delete()

    def test_wrong_credentials_are_20003(self):
        stranger = client(TENANT[0], "sk_test_nottherightkeyatall0000000000").verify.v2
        self.assertTwilioError(
            lambda: stranger.services.create(friendly_name="x"), 401, 20003
        )
        mixed = client(TENANT[0], OTHER[1]).verify.v2
        self.assertTwilioError(lambda: mixed.services.create(friendly_name="x"), 401, 20003)

    def test_another_tenants_service_does_not_exist_here(self):
        theirs = client(*OTHER).verify.v2.services.create(friendly_name="Theirs")
        self.assertTwilioError(lambda: self.verify.services(theirs.sid).fetch(), 404, 20404)
        self.assertTwilioError(lambda: self.verify.services(theirs.sid).delete(), 404, 20404)

    def test_wrong_parameter_is_60200(self):
        error = self.assertTwilioError(
            lambda: self.verify.services.create(friendly_name="x", code_length=11), 400, 60200
        )
        self.assertIn("CodeLength", error.msg)


if __name__ == "__main__":
    unittest.main()
