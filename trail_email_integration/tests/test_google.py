import json
import re
from datetime import datetime, timedelta, timezone
from unittest.mock import patch
from urllib.parse import parse_qs, urlparse

import requests

from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged

from ..core.providers import gmail
from .capture_common import make_raw
from .google_common import ADA, CLIENT_ID, GoogleCase, configure_google
from .test_mime import CASES, EXPECTED

RATE_LIMITED = {
    "error": {
        "code": 403,
        "message": "User Rate Limit Exceeded",
        "errors": [
            {"message": "User Rate Limit Exceeded", "domain": "usageLimits",
             "reason": "userRateLimitExceeded"}
        ],
        "status": "PERMISSION_DENIED",
    }
}  # fmt: skip
TOO_MANY = {
    "error": {
        "code": 429,
        "message": "Too many concurrent requests for user",
        "errors": [
            {"message": "Too many concurrent requests for user", "domain": "global",
             "reason": "rateLimitExceeded"}
        ],
        "status": "RESOURCE_EXHAUSTED",
    }
}  # fmt: skip


@tagged("post_install", "-at_install")
class TestGmailEndToEnd(GoogleCase):
    def load_corpus(self):
        """The real shared cases, spread over the years and over inbox, sent and archive."""
        now = datetime.now(timezone.utc)
        labels = [("INBOX",), ("SENT",), ()]
        sources = {}
        for index, name in enumerate(sorted(EXPECTED)):
            when = now - timedelta(days=30 * index + 1)
            gmail_id = self.emulator.add_message(
                ADA, (CASES / name).read_bytes(), labels[index % 3], when
            )
            sources[gmail_id] = name
        return sources

    def test_backfill_scan_and_send_through_the_gmail_api(self):
        sources = self.load_corpus()
        mailbox = self.connected_mailbox()
        self.run_backfill(mailbox)
        self.assertEqual(mailbox.state, "active", mailbox.last_error)

        Location = self.env["trail.mail.location"]
        for gmail_id, name in sources.items():
            location = Location.search(
                [("mailbox_id", "=", mailbox.id), ("provider_id", "=", gmail_id)]
            )
            self.assertEqual(len(location), 1, name)
            self.assertEqual(location.mail_id.original_id.raw, (CASES / name).read_bytes(), name)
        self.assertEqual(mailbox.captured_count, len(sources))
        sent = Location.search([("mailbox_id", "=", mailbox.id), ("labels", "like", "SENT")])
        self.assertTrue(sent)
        self.assertEqual(set(sent.mail_id.mapped("direction")), {"outgoing"})

        self.run_scan(mailbox)
        new_id = self.emulator.add_message(ADA, make_raw("Fresh news", to=ADA), ("INBOX",))
        self.run_scan(mailbox)
        fresh = Location.search([("mailbox_id", "=", mailbox.id), ("provider_id", "=", new_id)])
        self.assertEqual(fresh.mail_id.subject, "Fresh news")

        raw = make_raw("Reply from Odoo", sender=ADA, to="client@example.com", cc="cc@x.example")
        raw = raw.replace(b"Subject:", b"Bcc: hidden@x.example\r\nSubject:", 1)
        result = mailbox._make_provider().send(raw)
        self.assertIn("SENT", self.emulator.get_message(ADA, result.provider_id).label_ids)
        self.run_scan(mailbox)
        copy = Location.search(
            [("mailbox_id", "=", mailbox.id), ("provider_id", "=", result.provider_id)]
        ).mail_id
        self.assertEqual(copy.direction, "outgoing")
        self.assertIn("hidden@x.example", copy.email_bcc)

    def test_user_labels_are_kept_by_name(self):
        first = self.emulator.add_message(
            ADA, make_raw("Labelled", to=ADA), ("INBOX", "Clients/Lovelace")
        )
        mailbox = self.connected_mailbox()
        self.run_backfill(mailbox)
        self.run_scan(mailbox)
        Location = self.env["trail.mail.location"]
        location = Location.search([("mailbox_id", "=", mailbox.id), ("provider_id", "=", first)])
        self.assertEqual(location.labels, "INBOX,Clients/Lovelace")
        self.assertEqual(location.mail_id.labels, "INBOX,Clients/Lovelace")

        # A label made after the backfill, seen by the scan, reads by name too.
        self.emulator.modify_labels(ADA, first, add=["Tax 2025"], remove=["INBOX"])
        second = self.emulator.add_message(ADA, make_raw("Tax", to=ADA), ("INBOX", "Tax 2025"))
        with patch.object(gmail, "LABELS_RETRY_SECONDS", 0):
            self.run_scan(mailbox)
        self.assertEqual(location.labels, "Clients/Lovelace,Tax 2025")
        self.assertEqual(
            Location.search(
                [("mailbox_id", "=", mailbox.id), ("provider_id", "=", second)]
            ).mail_id.labels,
            "INBOX,Tax 2025",
        )

    def test_revoked_grant_needs_reconnect_and_an_activity(self):
        self.emulator.add_message(ADA, make_raw("One", to=ADA), ("INBOX",))
        mailbox = self.connected_mailbox()
        self.emulator.revoke(ADA)
        self.emulator.expire_tokens(ADA)
        self.run_backfill(mailbox)
        self.assertEqual(mailbox.state, "needs_reconnect")
        self.assertEqual(len(mailbox.activity_ids), 1)
        self.assertIn("Reconnect", mailbox.state_message)

    def test_history_404_recovers_with_nothing_lost_or_duplicated(self):
        for index in range(7):
            self.emulator.add_message(ADA, make_raw(f"Old {index}", to=ADA), ("INBOX",))
        mailbox = self.connected_mailbox()
        self.run_backfill(mailbox)
        self.run_scan(mailbox)
        self.emulator.add_message(ADA, make_raw("While the cursor expired", to=ADA), ("INBOX",))
        self.emulator.expire_history(ADA)
        self.run_scan(mailbox)
        self.assertEqual(mailbox.state, "backfilling")
        self.run_backfill(mailbox)
        self.run_scan(mailbox)
        mails = self.env["trail.mail"].search([("location_ids.mailbox_id", "=", mailbox.id)])
        self.assertEqual(len(mails), 8)
        self.assertEqual(len(mails.location_ids), 8)
        self.assertEqual(mailbox.state, "active")

    def test_rate_limit_storm_finishes_with_nothing_lost_under_quota(self):
        for index in range(120):
            self.emulator.add_message(ADA, make_raw(f"Storm {index}", to=ADA), ("INBOX",))
        self.env["ir.config_parameter"].sudo().set_param(
            "trail_email_integration.google_quota_per_minute", "600"
        )
        self.emulator.set_quota(units_per_minute=600)
        storm = [(429, TOO_MANY, 2), (403, RATE_LIMITED, 1)] * 6
        self.emulator.inject_errors(r"/gmail/v1/users/me/messages/[^/?]+\?format=raw", storm)
        self.emulator.inject_errors(r"/gmail/v1/users/me/messages\?", storm[:4])
        mailbox = self.connected_mailbox()
        for _round in range(20):
            self.run_backfill(mailbox)
            if mailbox.state == "active":
                break
            mailbox.retry_after = False
        self.assertEqual(mailbox.state, "active", mailbox.last_error)
        mails = self.env["trail.mail"].search([("location_ids.mailbox_id", "=", mailbox.id)])
        self.assertEqual(len(mails), 120)
        self.assertEqual(mailbox.failed_count, 0)
        self.assertLessEqual(self.emulator.peak_minute_units(ADA), 600)


@tagged("post_install", "-at_install")
class TestGoogleConnect(GoogleCase):
    auto_consent = "allow"

    def test_missing_client_id_is_a_clear_message(self):
        self.env["ir.config_parameter"].sudo().set_param(
            "trail_email_integration.google_client_id", ""
        )
        mailbox = self.env["trail.mailbox"].create({"provider": "google"})
        with self.assertRaisesRegex(UserError, "OAuth client id and secret"):
            mailbox.action_connect_google()

    def test_state_is_signed_and_tied_to_the_user(self):
        mailbox = self.env["trail.mailbox"].create({"provider": "google"})
        state = mailbox._google_state()
        self.assertEqual(mailbox._google_check_state(state), mailbox)
        forged = json.loads(state)
        forged["p"] = forged["p"].replace(f'"mailbox":{mailbox.id}', '"mailbox":999')
        with self.assertRaisesRegex(AccessError, "invalid"):
            mailbox._google_check_state(json.dumps(forged))
        other = self.env["res.users"].create({"name": "Other", "login": "other-adviser"})
        with self.assertRaisesRegex(AccessError, "another user"):
            mailbox.with_user(other)._google_check_state(state)

    def test_authorization_url_asks_offline_read_and_send_only(self):
        mailbox = self.env["trail.mailbox"].create({"provider": "google", "address": ADA})
        url = mailbox.action_connect_google()["url"]
        query = parse_qs(urlparse(url).query)
        self.assertEqual(query["access_type"], ["offline"])
        self.assertEqual(query["client_id"], [CLIENT_ID])
        self.assertEqual(
            sorted(query["scope"][0].split()),
            [
                "https://www.googleapis.com/auth/gmail.readonly",
                "https://www.googleapis.com/auth/gmail.send",
            ],
        )

    def consent_code(self, mailbox):
        url = mailbox.action_connect_google()["url"]
        answer = requests.get(url, allow_redirects=False, timeout=10)
        location = answer.headers["Location"]
        return parse_qs(urlparse(location).query)["code"][0]

    def test_finish_connect_stores_the_grant_and_starts_the_backfill(self):
        mailbox = self.env["trail.mailbox"].create({"provider": "google"})
        mailbox._google_finish_connect(self.consent_code(mailbox))
        self.assertEqual(mailbox.address, ADA)
        self.assertEqual(mailbox.aliases, "ada@firm.example")
        self.assertEqual(mailbox.state, "backfilling")
        self.assertTrue(mailbox.sudo().google_refresh_token)
        adviser = self.env["res.users"].create(
            {
                "name": "Adviser",
                "login": "adviser-no-admin",
                "groups_id": [(6, 0, [self.env.ref("base.group_user").id])],
            }
        )
        with self.assertRaises(AccessError):
            mailbox.with_user(adviser).read(["google_refresh_token"])

    def test_wrong_account_is_refused(self):
        mailbox = self.env["trail.mailbox"].create({"provider": "google", "address": ADA})
        self.emulator.add_user("someone.else@firm.example")
        url = mailbox.action_connect_google()["url"].replace(
            "login_hint=ada.adviser%40firm.example", "login_hint=someone.else%40firm.example"
        )
        location = requests.get(url, allow_redirects=False, timeout=10).headers["Location"]
        code = parse_qs(urlparse(location).query)["code"][0]
        with self.assertRaisesRegex(UserError, "someone.else@firm.example"):
            mailbox._google_finish_connect(code)
        self.assertFalse(mailbox.sudo().google_refresh_token)

    def test_an_account_already_connected_is_refused_in_words(self):
        first = self.connected_mailbox()
        second = self.env["trail.mailbox"].create({"provider": "google"})
        with self.assertRaisesRegex(UserError, "ada.adviser@firm.example is already connected"):
            second._google_finish_connect(self.consent_code(second))
        self.assertFalse(second.sudo().google_refresh_token)
        self.assertEqual(first.state, "backfilling")


@tagged("post_install", "-at_install")
class TestGoogleConnectInBrowser(HttpCase):
    """Clicks "Connect Google" in real Chromium; the emulator consents at once."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        from emulators.gmail import GmailEmulator

        cls.emulator = GmailEmulator(
            client_id=CLIENT_ID, client_secret="trail-test-secret", auto_consent="allow",
            default_user=ADA,
        ).start()  # fmt: skip
        cls.addClassCleanup(cls.emulator.stop)
        cls.emulator.add_user(ADA, "Ada Adviser")
        configure_google(cls.env, cls.emulator, base_url=cls.base_url())

    def test_connect_google_tour(self):
        mailbox = self.env["trail.mailbox"].create(
            {"provider": "google", "user_id": self.env.ref("base.user_admin").id}
        )
        self.start_tour(
            f"/odoo/action-trail_email_integration.action_mailboxes/{mailbox.id}",
            "trail_connect_google",
            login="admin",
        )
        mailbox.invalidate_recordset()
        self.assertEqual(mailbox.address, ADA)
        self.assertEqual(mailbox.state, "backfilling")

    def test_denied_consent_comes_back_as_a_message(self):
        self.emulator.oauth.auto_consent = "deny"
        self.addCleanup(setattr, self.emulator.oauth, "auto_consent", "allow")
        mailbox = self.env["trail.mailbox"].create(
            {"provider": "google", "user_id": self.env.ref("base.user_admin").id}
        )
        self.authenticate("admin", "admin")
        admin = self.env.ref("base.user_admin")
        url = mailbox.with_user(admin).action_connect_google()["url"]
        location = requests.get(url, allow_redirects=False, timeout=10).headers["Location"]
        answer = self.url_open(re.sub(r"^https?://[^/]+", "", location), allow_redirects=False)
        self.assertIn(answer.status_code, (302, 303))
        mailbox.invalidate_recordset()
        self.assertIn("denied", mailbox.last_error)
        self.assertEqual(mailbox.state, "connecting")
