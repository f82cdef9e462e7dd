"""Microsoft 365 mailboxes end to end: connect, backfill, scan and send against the emulator.

What it is: the Odoo side of the Microsoft provider driven through the sync engine
(``_run_guarded`` with ``_backfill_step`` and ``_scan_step``) and the connect flow, against
``emulators.graph`` over TLS; the last class clicks "Connect Microsoft 365" in Chromium.

How it works: see ``microsoft_common.py``. Retry-After and budget waits advance the
emulator's clock, so storms and token expiry cost no real time.
"""

import email
import hashlib
import html
import json
import re
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged

from ..core.provider import TemporaryError
from ..core.providers.graph import GraphProvider
from ..models import trail_mailbox_microsoft
from .capture_common import make_raw
from .microsoft_common import (
    ADA,
    CLIENT_ID,
    CLIENT_SECRET,
    MicrosoftCase,
    callback_params,
    configure_microsoft,
    sign_in,
    start_emulator,
)
from .test_mime import CASES, EXPECTED

CLIENT = "client@client.example"
HIDDEN = "hidden@client.example"
# Outlook's answer when more than four requests run on one mailbox at once (429).
# The Graph emulator's MIME reader fails on this case's raw 8-bit attachment name (its
# analysis answers 500), so it stays out of the corpus served through Graph.
EMULATOR_UNREADABLE = {"022-raw-8bit-filename.eml"}
MAILBOX_CONCURRENCY = {
    "error": {
        "code": "ApplicationThrottled",
        "message": "Application is over its MailboxConcurrency limit.",
    }
}


def refresh_secret(cache):
    return next(iter(json.loads(cache)["RefreshToken"].values()))["secret"]


@tagged("post_install", "-at_install")
class TestGraphEndToEnd(MicrosoftCase):
    def mails(self, mailbox):
        return self.env["trail.mail"].search([("location_ids.mailbox_id", "=", mailbox.id)])

    def location(self, mailbox, provider_id):
        return self.env["trail.mail.location"].search(
            [("mailbox_id", "=", mailbox.id), ("provider_id", "=", provider_id)]
        )

    def test_backfill_of_several_folders_is_byte_exact_and_skips_system_folders(self):
        self.emulator.add_folder(ADA, "Clients/Acme")
        now = datetime.now(timezone.utc)
        folders = ("inbox", "sentitems", "Clients/Acme")
        sources = {}
        for index, name in enumerate(sorted(set(EXPECTED) - EMULATOR_UNREADABLE)):
            folder = folders[index % 3]
            graph_id = self.emulator.add_message(
                ADA, (CASES / name).read_bytes(), folder, now - timedelta(days=30 * index + 1)
            )
            sources[graph_id] = (name, folder)
        for folder in ("junkemail", "deleteditems", "drafts"):
            self.emulator.add_message(ADA, make_raw(f"Never captured: {folder}", to=ADA), folder)

        mailbox = self.connected_mailbox()
        self.assertEqual(mailbox.state, "backfilling")
        self.run_backfill(mailbox)
        self.assertEqual(mailbox.state, "active", mailbox.last_error)

        for graph_id, (name, folder) in sources.items():
            location = self.location(mailbox, graph_id)
            self.assertEqual(len(location), 1, name)
            self.assertEqual(location.labels, folder, name)
            self.assertEqual(
                location.mail_id.original_id.raw, self.emulator.message(ADA, graph_id).raw, name
            )
            self.assertEqual(location.mail_id.original_id.raw, (CASES / name).read_bytes(), name)
        self.assertEqual(mailbox.captured_count, len(sources))
        self.assertFalse(self.mails(mailbox).filtered(lambda m: "Never captured" in m.subject))
        self.assertEqual(mailbox.failed_count, 0)

    def test_scan_picks_up_new_mail_and_counts_a_move_once(self):
        self.emulator.add_folder(ADA, "Clients")
        moving = self.emulator.add_message(ADA, make_raw("Will move", to=ADA), "inbox")
        mailbox = self.connected_mailbox()
        self.run_backfill(mailbox)
        self.run_scan(mailbox)
        self.assertEqual(self.location(mailbox, moving).labels, "inbox")

        fresh = self.emulator.add_message(ADA, make_raw("Fresh news", to=ADA), "inbox")
        self.emulator.move_message(ADA, moving, "Clients")
        self.run_scan(mailbox)

        self.assertEqual(self.location(mailbox, fresh).mail_id.subject, "Fresh news")
        moved = self.mails(mailbox).filtered(lambda m: m.subject == "Will move")
        self.assertEqual(len(moved), 1)
        self.assertEqual(len(moved.location_ids), 1)
        self.assertEqual(moved.location_ids.labels, "Clients")
        self.assertEqual(mailbox.captured_count, 2)
        self.assertEqual(mailbox.state, "active")

    def test_expired_delta_recovers_with_nothing_lost_or_duplicated(self):
        for index in range(5):
            self.emulator.add_message(ADA, make_raw(f"Old {index}", to=ADA), "inbox")
        mailbox = self.connected_mailbox()
        self.run_backfill(mailbox)
        self.run_scan(mailbox)
        self.emulator.add_message(ADA, make_raw("While the delta expired", to=ADA), "inbox")
        self.emulator.expire_delta(ADA, "inbox")
        self.run_scan(mailbox)
        self.run_scan(mailbox)

        mails = self.mails(mailbox)
        self.assertEqual(len(mails), 6)
        self.assertEqual(len(mails.location_ids), 6)
        self.assertEqual(mailbox.state, "active", mailbox.last_error)

    def test_mailbox_concurrency_storm_loses_nothing_and_the_mailbox_stays_up(self):
        for index in range(60):
            self.emulator.add_message(ADA, make_raw(f"Storm {index}", to=ADA), "inbox")
        self.emulator.set_throttle(concurrency=2)
        self.emulator.set_latency(0.01)
        self.emulator.inject_errors(r"/\$value$", [(429, MAILBOX_CONCURRENCY, 17)] * 12)
        self.emulator.inject_errors(r"/messages/delta", [(429, MAILBOX_CONCURRENCY, 5)] * 3)
        mailbox = self.connected_mailbox()
        for _round in range(20):
            self.run_backfill(mailbox)
            if mailbox.state != "backfilling":
                break
            mailbox.retry_after = False
        self.assertEqual(mailbox.state, "active", mailbox.last_error)

        self.assertEqual(len(self.mails(mailbox)), 60)
        self.assertEqual(mailbox.failed_count, 0)
        throttled = sum(user["throttled"] for user in self.emulator.stats()["users"].values())
        self.assertGreaterEqual(throttled, 15)

    def test_revoked_grant_needs_reconnect_and_one_activity(self):
        self.emulator.add_message(ADA, make_raw("One", to=ADA), "inbox")
        mailbox = self.connected_mailbox()
        self.emulator.revoke_user(ADA)
        self.emulator.expire_tokens(ADA)
        self.run_backfill(mailbox)
        self.assertEqual(mailbox.state, "needs_reconnect")
        mailbox._run_guarded(mailbox._scan_step)
        self.assertEqual(len(mailbox.activity_ids), 1)
        self.assertIn("Reconnect", mailbox.state_message)

        # Connecting again resumes the import and clears the reminder.
        mailbox._microsoft_finish_connect(self.connect(mailbox))
        self.assertEqual(mailbox.state, "backfilling")
        self.assertFalse(mailbox.activity_ids)
        self.run_backfill(mailbox)
        self.assertEqual(mailbox.captured_count, 1)

    def test_rotated_token_cache_is_saved_even_when_the_step_rolls_back(self):
        self.emulator.add_message(ADA, make_raw("Before", to=ADA), "inbox")
        mailbox = self.connected_mailbox()
        first = mailbox.sudo().microsoft_token_cache
        self.emulator.expire_tokens(ADA)
        self.run_backfill(mailbox)
        second = mailbox.sudo().microsoft_token_cache
        self.assertNotEqual(refresh_secret(second), refresh_secret(first))
        self.assertEqual(mailbox.captured_count, 1)

        # A refresh, then a wait too long to take inline: the step and its write roll back.
        self.emulator.add_message(ADA, make_raw("After", to=ADA), "inbox")
        self.emulator.expire_tokens(ADA)
        self.emulator.inject_errors(r"/\$value$", [(429, MAILBOX_CONCURRENCY, 3600)])
        self.run_scan(mailbox)
        self.assertTrue(mailbox.retry_after)
        self.assertEqual(mailbox.sudo().microsoft_token_cache, second)
        _base, rotated = trail_mailbox_microsoft._ROTATED[mailbox.id]
        self.assertNotEqual(refresh_secret(rotated), refresh_secret(second))

        # The replaced refresh token stops working after a grace period; the kept one works.
        self.emulator.clock.advance(600)
        self.emulator.expire_tokens(ADA)
        mailbox.retry_after = False
        self.run_scan(mailbox)
        self.assertEqual(mailbox.state, "active", mailbox.last_error)
        self.assertEqual(mailbox.captured_count, 2)
        self.assertNotIn(
            refresh_secret(mailbox.sudo().microsoft_token_cache),
            (refresh_secret(first), refresh_secret(second)),
        )

    def test_cloud_link_is_kept_as_a_url_attachment_beside_the_files(self):
        url = "https://contoso.sharepoint.example/budget.xlsx"
        xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        raw = make_raw("Budget", to=ADA, attachments=[("quote.pdf", b"%PDF-1.4 quote")])
        linked = self.emulator.add_message(ADA, raw, "inbox")
        self.emulator.add_reference_attachment(ADA, linked, "Budget 2024.xlsx", url, xlsx)
        # The same email filed again elsewhere only gains a location, not a second link.
        copy = self.emulator.add_message(ADA, raw, "archive")
        self.emulator.add_reference_attachment(ADA, copy, "Budget 2024.xlsx", url, xlsx)
        for index in range(8):
            self.emulator.add_message(ADA, make_raw(f"Plain {index}", to=ADA), "inbox")
        mailbox = self.connected_mailbox()
        self.emulator.reset_stats()
        self.run_backfill(mailbox)
        self.assertEqual(mailbox.state, "active", mailbox.last_error)
        self.assertEqual(mailbox.failed_count, 0)

        mail = self.location(mailbox, linked).mail_id
        self.assertEqual(mail, self.location(mailbox, copy).mail_id)
        files = mail.attachment_ids.filtered(lambda a: a.type == "binary")
        links = mail.attachment_ids.filtered(lambda a: a.type == "url")
        self.assertEqual(files.mapped("name"), ["quote.pdf"])
        self.assertEqual(files.raw, b"%PDF-1.4 quote")
        self.assertEqual(
            [(a.name, a.url, a.mimetype) for a in links], [("Budget 2024.xlsx", url, xlsx)]
        )
        self.assertEqual((links.res_model, links.res_id), ("trail.mail", mail.id))
        self.assertEqual(mail.attachment_count, 2)
        self.assertFalse(mail.parse_notes)

        # Only the two copies with attachments were listed, none of the eight plain messages.
        listings = sum(
            user["routes"].get("attachments", {}).get("requests", 0)
            for user in self.emulator.stats()["users"].values()
        )
        self.assertEqual(listings, 2)
        self.assertEqual(len(self.mails(mailbox)), 9)

    def test_unreadable_cloud_links_do_not_lose_the_email(self):
        raw = make_raw("Links", to=ADA, attachments=[("quote.pdf", b"%PDF-1.4 quote")])
        linked = self.emulator.add_message(ADA, raw, "inbox")
        self.emulator.add_reference_attachment(ADA, linked, "Plan.docx", "https://x.example/p")
        not_found = {"error": {"code": "ErrorItemNotFound", "message": "Not found."}}
        self.emulator.inject_errors(r"/attachments\?", [(404, not_found, None)])
        mailbox = self.connected_mailbox()
        self.run_backfill(mailbox)
        self.assertEqual(mailbox.state, "active", mailbox.last_error)
        self.assertEqual(mailbox.failed_count, 0)

        mail = self.location(mailbox, linked).mail_id
        self.assertEqual(mail.attachment_ids.mapped("name"), ["quote.pdf"])
        self.assertEqual(mail.attachment_count, 1)
        self.assertIn("cloud links attached to this email could not be read", mail.parse_notes)

        # Nor does a listing that fails as a whole: the email comes, with the same note.
        def unavailable(provider, refs):
            raise TemporaryError("Graph is unavailable")

        self.patch(GraphProvider, "link_attachments", unavailable)
        raw = make_raw("More links", to=ADA, attachments=[("plan.pdf", b"%PDF-1.4 plan")])
        fresh = self.emulator.add_message(ADA, raw, "inbox")
        self.emulator.add_reference_attachment(ADA, fresh, "Plan.docx", "https://x.example/q")
        self.run_scan(mailbox)
        self.assertEqual(mailbox.state, "active", mailbox.last_error)
        self.assertFalse(mailbox.retry_after)
        mail = self.location(mailbox, fresh).mail_id
        self.assertEqual(mail.attachment_ids.mapped("name"), ["plan.pdf"])
        self.assertIn("cloud links attached to this email could not be read", mail.parse_notes)

    def test_send_keeps_bcc_only_in_the_sent_copy(self):
        for user in (CLIENT, HIDDEN):
            self.reset_user(user)
        mailbox = self.connected_mailbox()
        self.run_backfill(mailbox)
        raw = make_raw("Reply from Odoo", sender=ADA, to=CLIENT)
        raw = raw.replace(b"Subject:", f"Bcc: {HIDDEN}\r\nSubject:".encode(), 1)
        result = mailbox._make_provider().send(raw)

        copy = self.emulator.message(ADA, result.provider_id)
        self.assertEqual(copy.folder_id, self.emulator.folder(ADA, "sentitems").id)
        self.assertIn(HIDDEN.encode(), copy.raw)
        for user in (CLIENT, HIDDEN):
            [received] = self.emulator.user(user).messages.values()
            self.assertNotIn(b"Bcc:", received.raw)

        self.run_scan(mailbox)
        captured = self.location(mailbox, result.provider_id).mail_id
        self.assertEqual(captured.direction, "outgoing")
        self.assertIn(HIDDEN, captured.email_bcc)

    def test_send_with_a_10_mb_attachment_uses_an_upload_session(self):
        self.reset_user(CLIENT)
        mailbox = self.connected_mailbox()
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = ADA, CLIENT, "Annual report"
        message["Message-ID"] = "<annual-report@firm.example>"
        message.set_content("The report is attached.")
        data = hashlib.sha256(b"report").digest() * (10 * 1024 * 1024 // 32)
        message.add_attachment(data, maintype="application", subtype="pdf", filename="report.pdf")
        result = mailbox._make_provider().send(message.as_bytes())

        sent_copy = self.emulator.message(ADA, result.provider_id)
        self.assertIn(b"<annual-report@firm.example>", sent_copy.raw)
        [delivered] = self.emulator.user(CLIENT).messages.values()
        parts = [p for p in email.message_from_bytes(delivered.raw).walk() if p.get_filename()]
        self.assertEqual(parts[0].get_payload(decode=True), data)
        uploads = self.emulator.stats()["users"]["-"]["routes"]["upload"]["requests"]
        self.assertGreaterEqual(uploads, 4)  # 10 MB in chunks of 3.125 MiB


@tagged("post_install", "-at_install")
class TestMicrosoftConnect(MicrosoftCase):
    def test_missing_client_id_is_a_clear_message(self):
        self.env["ir.config_parameter"].sudo().set_param(
            "trail_email_integration.microsoft_client_id", ""
        )
        mailbox = self.env["trail.mailbox"].create({"provider": "microsoft"})
        with self.assertRaisesRegex(UserError, r"application \(client\) id and secret"):
            mailbox.action_connect_microsoft()

    def test_state_is_signed_and_tied_to_the_user(self):
        mailbox = self.env["trail.mailbox"].create({"provider": "microsoft"})
        state = mailbox._microsoft_state()
        self.assertEqual(mailbox._microsoft_check_state(state), mailbox)
        forged = json.loads(state)
        forged["p"] = forged["p"].replace(f'"mailbox":{mailbox.id}', '"mailbox":999')
        with self.assertRaisesRegex(AccessError, "invalid"):
            mailbox._microsoft_check_state(json.dumps(forged))
        with self.assertRaisesRegex(AccessError, "invalid"):
            # Signed for Google is not signed for Microsoft.
            mailbox._microsoft_check_state(mailbox._google_state())
        other = self.env["res.users"].create({"name": "Other", "login": "other-ms-adviser"})
        with self.assertRaisesRegex(AccessError, "another user"):
            mailbox.with_user(other)._microsoft_check_state(state)

    def test_sign_in_url_asks_for_mail_by_redirect_with_pkce(self):
        mailbox = self.env["trail.mailbox"].create({"provider": "microsoft", "address": ADA})
        url = mailbox.action_connect_microsoft()["url"]
        query = callback_params(url)
        self.assertTrue(url.startswith(self.emulator.authority("common")))
        self.assertEqual(query["client_id"], CLIENT_ID)
        self.assertEqual(query["response_mode"], "query")
        self.assertEqual(query["code_challenge_method"], "S256")
        self.assertEqual(query["login_hint"], ADA)
        self.assertLessEqual(
            {"Mail.ReadWrite", "Mail.Send", "User.Read", "offline_access"},
            set(query["scope"].split()),
        )
        self.assertEqual(mailbox._microsoft_check_state(query["state"]), mailbox)
        self.assertEqual(json.loads(mailbox.sudo().microsoft_auth_flow)["state"], query["state"])

    def test_finish_connect_stores_the_cache_and_starts_the_backfill(self):
        mailbox = self.env["trail.mailbox"].create({"provider": "microsoft"})
        mailbox._microsoft_finish_connect(self.connect(mailbox))
        self.assertEqual(mailbox.address, ADA)
        self.assertEqual(mailbox.state, "backfilling")
        self.assertTrue(json.loads(mailbox.sudo().microsoft_token_cache)["RefreshToken"])
        self.assertFalse(mailbox.sudo().microsoft_auth_flow)
        adviser = self.env["res.users"].create(
            {
                "name": "Adviser",
                "login": "ms-adviser-no-admin",
                "groups_id": [(6, 0, [self.env.ref("base.group_user").id])],
            }
        )
        for field in ("microsoft_token_cache", "microsoft_auth_flow"):
            with self.assertRaises(AccessError):
                mailbox.with_user(adviser).read([field])

    def test_reconnect_after_a_finished_backfill_goes_back_to_active(self):
        mailbox = self.connected_mailbox()
        self.run_backfill(mailbox)
        mailbox.state = "needs_reconnect"
        mailbox._notify_owner_to_reconnect()
        mailbox._microsoft_finish_connect(self.connect(mailbox))
        self.assertEqual(mailbox.state, "active")
        self.assertFalse(mailbox.activity_ids)

    def test_wrong_account_is_refused(self):
        mailbox = self.env["trail.mailbox"].create({"provider": "microsoft", "address": ADA})
        self.emulator.add_user("someone.else@firm.example")
        url = mailbox.action_connect_microsoft()["url"].replace(
            "login_hint=ada.adviser%40firm.example", "login_hint=someone.else%40firm.example"
        )
        params = callback_params(sign_in(self.emulator, url))
        with self.assertRaisesRegex(UserError, r"someone\.else@firm\.example.*ada\.adviser"):
            mailbox._microsoft_finish_connect(params)
        self.assertFalse(mailbox.sudo().microsoft_token_cache)

    def test_an_address_already_connected_is_refused(self):
        first = self.connected_mailbox()
        second = self.env["trail.mailbox"].create({"provider": "microsoft"})
        with self.assertRaisesRegex(UserError, "already connected"):
            second._microsoft_finish_connect(self.connect(second))
        self.assertFalse(second.sudo().microsoft_token_cache)
        self.assertEqual(first.state, "backfilling")

    def test_preferences_button_connects_the_users_own_mailbox(self):
        adviser = self.env["res.users"].create(
            {
                "name": "Ms Adviser",
                "login": "ms-adviser-preferences",
                "groups_id": [(6, 0, [self.env.ref("base.group_user").id])],
            }
        )
        action = adviser.with_user(adviser).action_trail_connect_microsoft()
        mailbox = self.env["trail.mailbox"].search([("user_id", "=", adviser.id)])
        self.assertEqual(mailbox.provider, "microsoft")
        self.assertTrue(action["url"].startswith(self.emulator.authority("common")))
        adviser.with_user(adviser).action_trail_connect_microsoft()
        self.assertEqual(self.env["trail.mailbox"].search_count([("user_id", "=", adviser.id)]), 1)


@tagged("post_install", "-at_install")
class TestMicrosoftConnectInBrowser(HttpCase):
    """The callback over HTTP, and "Connect Microsoft 365" clicked in real Chromium."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.emulator = start_emulator()
        cls.addClassCleanup(cls.emulator.stop)
        configure_microsoft(cls.env, cls.emulator, base_url=cls.base_url())
        cls.admin = cls.env.ref("base.user_admin")

    def setUp(self):
        super().setUp()
        self.emulator.identity.auto_consent = "accept"

    def authenticate(self, user, password, browser=None):
        if browser is not None:
            # The sign-in redirect passes through the emulator's HTTPS page, whose certificate
            # comes from a CA made at start. Odoo's ChromeBrowser has no switch for extra
            # Chromium flags, so this DevTools command makes this browser session accept it.
            browser._websocket_request(
                "Security.setIgnoreCertificateErrors", params={"ignore": True}
            )
        return super().authenticate(user, password, browser=browser)

    def new_mailbox(self):
        return self.env["trail.mailbox"].create({"provider": "microsoft", "user_id": self.admin.id})

    def test_connect_microsoft_tour(self):
        mailbox = self.new_mailbox()
        self.start_tour(
            f"/odoo/action-trail_email_integration.action_mailboxes/{mailbox.id}",
            "trail_connect_microsoft",
            login="admin",
        )
        mailbox.invalidate_recordset()
        self.assertEqual(mailbox.address, ADA)
        self.assertEqual(mailbox.state, "backfilling")

    def test_denied_consent_comes_back_as_a_message(self):
        self.emulator.identity.auto_consent = "cancel"
        mailbox = self.new_mailbox()
        self.authenticate("admin", "admin")
        url = mailbox.with_user(self.admin).action_connect_microsoft()["url"]
        location = sign_in(self.emulator, url)
        answer = self.url_open(re.sub(r"^https?://[^/]+", "", location), allow_redirects=False)
        self.assertIn(answer.status_code, (302, 303))
        self.assertTrue(answer.headers["Location"].endswith(f"/{mailbox.id}"))
        mailbox.invalidate_recordset()
        self.assertIn("denied", mailbox.last_error)
        self.assertEqual(mailbox.state, "connecting")

    def test_form_post_answer_is_accepted_without_a_csrf_token(self):
        from ..core.providers.graph_oauth import initiate_auth_code_flow
        from ..core.providers.graph_wire import make_session

        mailbox = self.new_mailbox()
        self.authenticate("admin", "admin")
        flow = initiate_auth_code_flow(
            CLIENT_ID,
            CLIENT_SECRET,
            "common",
            mailbox._microsoft_redirect_uri(),
            mailbox.with_user(self.admin)._microsoft_state(),
            endpoints=mailbox._microsoft_endpoints(),
            response_mode="form_post",
        )
        mailbox.sudo().microsoft_auth_flow = json.dumps(flow)
        session = make_session(self.emulator.ca_bundle)
        self.addCleanup(session.close)
        page = session.get(flow["auth_uri"], allow_redirects=False, timeout=10).text
        fields = {
            name: html.unescape(value)
            for name, value in re.findall(r'name="([^"]+)" value="([^"]*)"', page)
        }
        answer = self.url_open(
            "/trail_email/microsoft/callback", data=fields, allow_redirects=False
        )
        self.assertIn(answer.status_code, (302, 303))
        mailbox.invalidate_recordset()
        self.assertEqual(mailbox.address, ADA, mailbox.last_error)
        self.assertEqual(mailbox.state, "backfilling")

    def test_forged_state_is_refused(self):
        self.authenticate("admin", "admin")
        answer = self.url_open("/trail_email/microsoft/callback?state=forged&code=x")
        self.assertEqual(answer.status_code, 403)
        self.assertIn("invalid", answer.text)
