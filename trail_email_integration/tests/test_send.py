"""Sending from Odoo as the adviser: through Gmail, through Graph, and through Odoo's SMTP.

Each provider test posts on a client profile as the adviser (chatter or full composer, with
Cc, Bcc and two attachments), then reads what the emulator received: the recipients' copy
without Bcc, the adviser's Sent copy with it, and the copy captured and filed on the profile
once, even after the next scan. Failures are scripted in the emulators.
"""

import email
import email.policy
import socket
from contextlib import contextmanager
from datetime import timedelta
from unittest.mock import patch

from aiosmtpd.controller import Controller

from odoo import fields
from odoo.modules import module as odoo_module
from odoo.tests import HttpCase, TransactionCase, tagged

from emulators.gmail import GmailEmulator

from .capture_common import make_raw
from .google_common import ADA, CLIENT_ID, CLIENT_SECRET, GoogleCase, configure_google
from .microsoft_common import MicrosoftCase

CLIENT = "clara.client@example.com"
PARTNER_CC = "colin.cousin@example.com"
FREE_CC = "accountant@example.org"
HIDDEN = "hidden.bcc@example.net"


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def attachment_names(message):
    return sorted(part.get_filename() for part in message.iter_attachments())


class SendMixin:
    """An adviser, a client profile with a linked contact, and ways to write to it."""

    @classmethod
    def make_people(cls, login, address=ADA):
        # Posting on a contact's chatter takes write access to contacts.
        partner_manager = cls.env.ref("base.group_partner_manager")
        cls.adviser = (
            cls.env["res.users"]
            .with_context(no_reset_password=True)
            .create(
                {
                    "name": "Ada Adviser",
                    "login": login,
                    "password": login,
                    "email": address,
                    "groups_id": [(6, 0, (cls.env.ref("base.group_user") | partner_manager).ids)],
                }
            )
        )
        Partner = cls.env["res.partner"].with_context(tracking_disable=True)
        cls.client = Partner.create({"name": "Clara Client", "email": CLIENT})
        cls.client.email_address_ids.linked = True
        cls.cousin = Partner.create({"name": "Colin Cousin", "email": PARTNER_CC})
        cls.profile = Partner.create(
            {"name": "Client Family", "is_profile": True, "is_company": True}
        )
        cls.env["trail.profile.member"].create(
            {"profile_id": cls.profile.id, "contact_id": cls.client.id, "role": "participant"}
        )

    def compose(self, subject="Your annual review", **values):
        """Send through the full composer as the adviser; return the posted message."""
        Attachment = self.env["ir.attachment"].with_user(self.adviser)
        attachments = Attachment.create(
            [
                {"name": "review.pdf", "raw": b"%PDF-1.4 review", "mimetype": "application/pdf",
                 "res_model": "mail.compose.message", "res_id": 0},
                {"name": "figures.csv", "raw": b"year,total\n2024,12\n", "mimetype": "text/csv",
                 "res_model": "mail.compose.message", "res_id": 0},
            ]
        )  # fmt: skip
        composer = (
            self.env["mail.compose.message"]
            .with_user(self.adviser)
            .with_context(
                default_model="res.partner",
                default_res_ids=self.profile.ids,
                default_composition_mode="comment",
            )
            .create(
                {
                    "subject": subject,
                    "body": "<p>Please find your review attached.</p>",
                    "partner_ids": [(6, 0, self.client.ids)],
                    "attachment_ids": [(6, 0, attachments.ids)],
                    "trail_cc_partner_ids": [(6, 0, self.cousin.ids)],
                    "trail_email_cc": FREE_CC,
                    "trail_email_bcc": HIDDEN,
                    **values,
                }
            )
        )
        route = composer.trail_send_route
        composer.action_send_mail()
        message = self.env["mail.message"].search(
            [("model", "=", "res.partner"), ("res_id", "=", self.profile.id),
             ("subject", "=", subject)], limit=1,
        )  # fmt: skip
        return message, route

    def post(self, body="A quick note", **values):
        return self.profile.with_user(self.adviser).message_post(
            body=body,
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
            partner_ids=self.client.ids,
            **values,
        )

    def mails_of(self, message):
        return self.env["mail.mail"].sudo().search([("mail_message_id", "=", message.id)])

    def sends_of(self, record):
        """The send log rows of a mail.mail, or of the mail.mail of a mail.message."""
        return self.env["trail.mailbox.send"].search([("message_id", "=", record.message_id)])

    def captured_copy(self, message):
        return self.env["trail.mail"].search([("message_id", "=", message.message_id.strip("<>"))])

    def captured(self, mailbox, provider_id):
        return self.env["trail.mail.location"].search(
            [("mailbox_id", "=", mailbox.id), ("provider_id", "=", provider_id)]
        )

    def assert_captured_once(self, mailbox, subject):
        mails = self.env["trail.mail"].search([("subject", "=", subject)])
        self.assertEqual(len(mails), 1)
        self.assertEqual(len(mails.location_ids), 1)
        self.assertEqual(mails.location_ids.mailbox_id, mailbox)
        self.assertEqual(mails.direction, "outgoing")
        self.assertIn(self.profile, mails.profile_ids)
        self.assertIn(HIDDEN, mails.email_bcc)
        return mails

    def direct_mail(self, subject, **values):
        return (
            self.env["mail.mail"]
            .sudo()
            .create(
                {
                    "author_id": self.adviser.partner_id.id,
                    "email_from": self.adviser.email_formatted,
                    "email_to": CLIENT,
                    "subject": subject,
                    "body_html": f"<p>{subject}</p>",
                    "message_type": "email_outgoing",
                    **values,
                }
            )
        )


@tagged("post_install", "-at_install")
class TestSendThroughGmail(SendMixin, GoogleCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.make_people("ada-gmail-send")

    def setUp(self):
        super().setUp()
        self.emulator.outbox.clear()
        self.mailbox = self.connected_mailbox(user_id=self.adviser.id)
        # Take the scan's bookmark now, so the scan after a send lists the sent message.
        self.run_scan(self.mailbox)

    def test_composer_sends_through_gmail_with_cc_bcc_and_files_the_copy_once(self):
        message, route = self.compose()
        self.assertEqual(route, f"Sent from your Google mailbox {ADA}")

        self.assertEqual(len(self.emulator.outbox), 1)
        delivered = parse(self.emulator.outbox[0]["raw"])
        self.assertIn(ADA, delivered["From"])
        self.assertIn(CLIENT, delivered["To"])
        self.assertIn(PARTNER_CC, delivered["Cc"])
        self.assertIn(FREE_CC, delivered["Cc"])
        self.assertIsNone(delivered["Bcc"])
        self.assertNotIn(HIDDEN.encode(), self.emulator.outbox[0]["raw"])
        self.assertIn(HIDDEN, self.emulator.outbox[0]["to"])
        self.assertEqual(attachment_names(delivered), ["figures.csv", "review.pdf"])
        self.assertEqual(delivered["Message-ID"], message.message_id)

        location = self.env["trail.mail.location"].search([("mailbox_id", "=", self.mailbox.id)])
        self.assertEqual(len(location), 1)
        sent = self.emulator.get_message(ADA, location.provider_id)
        self.assertIn("SENT", sent.label_ids)
        self.assertIn(HIDDEN, parse(sent.raw)["Bcc"])
        self.assertFalse(self.mails_of(message), "sent notification mail is auto-deleted")
        self.assertEqual(message.notification_ids.mapped("notification_status"), ["sent"])

        self.assert_captured_once(self.mailbox, "Your annual review")
        self.run_scan(self.mailbox)
        self.assert_captured_once(self.mailbox, "Your annual review")

    def test_chatter_post_goes_out_from_the_mailbox(self):
        self.post(body="Short chatter reply")
        self.assertEqual(len(self.emulator.outbox), 1)
        delivered = parse(self.emulator.outbox[0]["raw"])
        self.assertIn(ADA, delivered["From"])
        self.assertEqual(self.emulator.outbox[0]["to"], [CLIENT])
        self.assertIn("Short chatter reply", delivered.get_body(("html",)).get_content())

    def test_sent_copy_follows_the_never_capture_list(self):
        self.env["trail.capture.block"].create({"pattern": "example.com", "note": "Clients"})
        self.direct_mail("Kept out when sent").send()
        self.assertEqual(len(self.emulator.outbox), 1, "the mail itself goes out")
        self.assertFalse(self.env["trail.mail"].search([("subject", "=", "Kept out when sent")]))
        kept_out = self.mailbox.skipped_ids
        self.assertEqual((kept_out.reason, kept_out.detail), ("never_capture", "@example.com"))
        self.assertEqual(self.mailbox.skipped_count, 1)
        # The scan meets the copy in the Sent folder and leaves it out too, without counting it
        # again.
        self.run_scan(self.mailbox)
        self.assertFalse(self.env["trail.mail"].search([("subject", "=", "Kept out when sent")]))
        self.assertEqual(self.mailbox.skipped_count, 1)

    def test_sent_copy_among_colleagues_follows_the_internal_mail_switch(self):
        colleague = self.env["res.users"].create(
            {"name": "Colleague", "login": "colleague-send", "email": "colleague@firm.example"}
        )
        self.direct_mail("Lunch on Friday", email_to=colleague.email).send()
        self.assertEqual(len(self.emulator.outbox), 1)
        self.assertFalse(self.env["trail.mail"].search([("subject", "=", "Lunch on Friday")]))
        self.assertEqual(self.mailbox.skipped_ids.reason, "internal")

    def test_reply_joins_the_gmail_thread_of_the_captured_email(self):
        incoming_id = self.emulator.add_message(
            ADA, make_raw("Question", sender=CLIENT, to=ADA, message_id="<q1@example.com>"),
            ("INBOX",),
        )  # fmt: skip
        self.run_scan(self.mailbox)
        thread = self.emulator.get_message(ADA, incoming_id).thread_id
        mail = self.direct_mail("Re: Question", references="<q1@example.com>")
        mail.send()
        sent = parse(self.emulator.outbox[-1]["raw"])
        self.assertEqual(sent["In-Reply-To"], "<q1@example.com>")
        location = self.captured(self.mailbox, mail.trail_provider_id)
        self.assertEqual(self.emulator.get_message(ADA, location.provider_id).thread_id, thread)

    def test_send_as_alias_when_the_mail_is_from_it(self):
        self.mailbox.aliases = "ada@firm.example"
        mail = self.direct_mail("From my alias", email_from="Ada <ada@firm.example>")
        mail.send()
        self.assertIn("ada@firm.example", parse(self.emulator.outbox[-1]["raw"])["From"])

    def test_server_error_is_an_exception_and_a_retry_sends_one_copy(self):
        self.emulator.fail_next(1, status=500, reason="backendError")
        message = self.post(body="Sent after a failure")
        mail = self.mails_of(message)
        self.assertEqual(mail.state, "exception")
        self.assertIn("500", mail.failure_reason)
        self.assertIn("Sent folder", mail.failure_reason)
        self.assertEqual(message.notification_ids.notification_status, "exception")
        self.assertEqual(self.emulator.outbox, [])

        mail.action_retry()
        self.env["mail.mail"].process_email_queue()
        self.assertEqual(len(self.emulator.outbox), 1)
        self.assertFalse(mail.exists())
        self.env["mail.mail"].process_email_queue()
        self.assertEqual(len(self.emulator.outbox), 1)
        self.assertEqual(message.notification_ids.notification_status, "sent")

    def test_an_unconfirmed_send_found_in_the_sent_folder_is_marked_sent(self):
        """Gmail sent it but its answer was lost: the next scan finds the copy and settles it."""
        self.emulator.fail_next(1, status=500, reason="backendError")
        message = self.post(body="Answer lost on the way back")
        mail = self.mails_of(message)
        self.assertEqual(mail.state, "exception")
        raw, _thread = mail._trail_build(self.mailbox)
        self.emulator.add_message(ADA, raw, ["SENT"])  # what Gmail did before its 500

        self.run_scan(self.mailbox)
        self.assertFalse(mail.exists(), "marked sent, then deleted as Odoo deletes sent mail")
        self.assertEqual(message.notification_ids.notification_status, "sent")
        (log,) = self.sends_of(message)
        self.assertEqual(log.state, "sent")
        self.assertEqual(log.provider_id, self.captured_copy(message).location_ids.provider_id)
        self.env["mail.mail"].process_email_queue()
        self.assertEqual(self.emulator.outbox, [], "never sent a second time")

    def test_an_unconfirmed_send_with_no_copy_waits_for_a_person(self):
        """No copy proves nothing (the rules may keep it out, Gmail may renumber it)."""
        self.emulator.fail_next(1, status=500, reason="backendError")
        mail = self.direct_mail("Outcome unknown", auto_delete=False)
        mail.send()
        unsure = mail.failure_reason
        self.assertIn("each scan looks for it in the Sent folder", unsure)
        (log,) = self.sends_of(mail)
        log.sent_at -= timedelta(days=2)
        self.run_scan(self.mailbox)
        self.assertEqual(
            (mail.state, mail.failure_reason, log.state), ("exception", unsure, "unknown")
        )

        # A week on the scans stop looking: even a copy that shows then is left to people.
        raw, _thread = mail._trail_build(self.mailbox)
        self.emulator.add_message(ADA, raw, ["SENT"])
        log.sent_at -= timedelta(days=6)
        self.run_scan(self.mailbox)
        self.assertEqual((mail.state, log.state), ("exception", "unknown"))
        self.assertEqual(self.emulator.outbox, [])

    def test_a_retry_waiting_in_the_queue_finds_the_send_settled(self):
        self.emulator.fail_next(1, status=500, reason="backendError")
        message = self.post(body="Retried too soon")
        mail = self.mails_of(message)
        raw, _thread = mail._trail_build(self.mailbox)
        mail.action_retry()
        self.assertEqual(mail.state, "outgoing")
        self.emulator.add_message(ADA, raw, ["SENT"])  # it had gone out after all

        self.run_scan(self.mailbox)
        self.env["mail.mail"].process_email_queue()
        self.assertEqual(self.emulator.outbox, [], "not sent a second time")
        self.assertFalse(mail.exists())
        self.assertEqual(message.notification_ids.notification_status, "sent")

    def test_a_copy_sent_to_other_recipients_with_the_same_message_id_settles_nothing(self):
        """Odoo sends one message per group of recipients, all with the same Message-ID."""
        shared_id = "<group-mail@odoo.example>"
        self.direct_mail("For the group", message_id=shared_id, auto_delete=False).send()
        self.emulator.fail_next(1, status=500, reason="backendError")
        other = self.direct_mail(
            "For the group", message_id=shared_id, email_to=PARTNER_CC, auto_delete=False
        )
        other.send()
        self.assertEqual(other.state, "exception")
        self.run_scan(self.mailbox)
        self.assertEqual(other.state, "exception", "the first group's copy is not this one")

        # Its own copy, when it shows, settles it.
        raw, _thread = other._trail_build(self.mailbox)
        self.emulator.add_message(ADA, raw, ["SENT"])
        self.run_scan(self.mailbox)
        self.assertEqual(other.state, "sent", other.failure_reason)
        self.assertEqual(len(self.emulator.outbox), 1)

    def test_an_answered_send_is_never_sent_again(self):
        mail = self.direct_mail("Only once", auto_delete=False)
        mail.send()
        mail.state = "outgoing"  # as if the transaction that marked it sent was lost
        mail.send()
        self.assertEqual(len(self.emulator.outbox), 1)
        self.assertEqual(mail.state, "sent")

    def test_throttled_send_waits_in_the_queue(self):
        self.emulator.fail_next(6, status=429, reason="rateLimitExceeded", retry_after=300)
        mail = self.direct_mail("Throttled", auto_delete=False)
        mail.send()
        self.assertEqual(mail.state, "outgoing")
        self.assertGreater(mail.scheduled_date, fields.Datetime.now() + timedelta(seconds=200))
        self.assertEqual(self.emulator.outbox, [])
        self.emulator.clear_failures()
        mail.scheduled_date = False
        self.env["mail.mail"].process_email_queue()
        self.assertEqual(mail.state, "sent")
        self.assertEqual(len(self.emulator.outbox), 1)

    def test_revoked_grant_asks_to_reconnect(self):
        self.emulator.revoke(ADA)
        self.emulator.expire_tokens(ADA)
        mail = self.direct_mail("After revocation", auto_delete=False)
        mail.send()
        self.assertEqual(mail.state, "exception")
        self.assertIn("Reconnect your mailbox", mail.failure_reason)
        self.assertEqual(self.mailbox.state, "needs_reconnect")
        self.assertEqual(self.emulator.outbox, [])

    def test_system_mail_and_switched_off_mailbox_keep_odoo_server(self):
        notice = self.direct_mail("Password reset", message_type="notification")
        root = self.direct_mail("From OdooBot", author_id=self.env.ref("base.partner_root").id)
        self.assertEqual(
            (notice | root)._trail_route(), {}, "system mail never leaves through a mailbox"
        )
        colleague = self.env["res.users"].create({"name": "Colleague", "login": "colleague-s"})
        internal = self.direct_mail(
            "Internal", email_to=False, recipient_ids=[(6, 0, colleague.partner_id.ids)]
        )
        self.assertEqual(internal._trail_route(), {})
        mail = self.direct_mail("Routed")
        self.assertEqual(mail._trail_route(), {mail.id: self.mailbox})
        self.mailbox.send_enabled = False
        self.assertEqual(mail._trail_route(), {})

    def test_pacing_queues_the_excess(self):
        self.env["ir.config_parameter"].sudo().set_param(
            "trail_email_integration.send_per_minute_google", "2"
        )
        mails = self.env["mail.mail"].sudo()
        for index in range(4):
            mails |= self.direct_mail(f"Mailing {index}", auto_delete=False)
        mails.send()
        self.assertEqual(len(self.emulator.outbox), 2)
        waiting = mails.filtered(lambda m: m.state == "outgoing")
        self.assertEqual(len(waiting), 2)
        self.assertTrue(all(m.scheduled_date > fields.Datetime.now() for m in waiting))


@tagged("post_install", "-at_install")
class TestSendThroughGraph(SendMixin, MicrosoftCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.make_people("ada-graph-send")

    def setUp(self):
        super().setUp()
        self.emulator.outbox.clear()
        self.reset_user(CLIENT, "Clara Client")
        self.mailbox = self.connected_mailbox(user_id=self.adviser.id)
        self.run_scan(self.mailbox)

    def test_composer_sends_through_graph_with_cc_bcc_and_files_the_copy_once(self):
        _message, route = self.compose(subject="Graph review")
        self.assertEqual(route, f"Sent from your Microsoft 365 mailbox {ADA}")

        self.assertEqual(len(self.emulator.outbox), 1)
        location = self.env["trail.mail.location"].search([("mailbox_id", "=", self.mailbox.id)])
        self.assertEqual(len(location), 1)
        sent = parse(self.emulator.message(ADA, location.provider_id).raw)
        self.assertIn(ADA, sent["From"])
        self.assertIn(HIDDEN, sent["Bcc"])
        self.assertEqual(attachment_names(sent), ["figures.csv", "review.pdf"])

        inbox = self.emulator.user(CLIENT).messages.values()
        self.assertEqual(len(inbox), 1)
        received = parse(next(iter(inbox)).raw)
        self.assertIsNone(received["Bcc"])
        self.assertIn(ADA, received["From"])
        self.assertIn(PARTNER_CC, received["Cc"])

        self.assert_captured_once(self.mailbox, "Graph review")
        self.run_scan(self.mailbox)
        self.assert_captured_once(self.mailbox, "Graph review")

    def test_server_error_is_an_exception_and_a_retry_sends_one_copy(self):
        self.emulator.fail_next(1, status=500, code="InternalServerError")
        mail = self.direct_mail("Graph failure", auto_delete=False)
        mail.send()
        self.assertEqual(mail.state, "exception")
        self.assertIn("500", mail.failure_reason)
        self.assertEqual(self.emulator.outbox, [])
        mail.action_retry()
        mail.send()
        mail.send()
        self.assertEqual(mail.state, "sent", mail.failure_reason)
        self.assertEqual(len(self.emulator.outbox), 1)

    def test_an_unconfirmed_send_found_in_sent_items_is_marked_sent(self):
        self.emulator.fail_next(1, status=500, code="InternalServerError")
        mail = self.direct_mail("Graph answer lost", auto_delete=False)
        mail.send()
        self.assertEqual(mail.state, "exception")
        raw, _thread = mail._trail_build(self.mailbox)
        self.emulator.add_message(ADA, raw, "sentitems")  # what Exchange did before its 500

        self.run_scan(self.mailbox)
        self.assertEqual(mail.state, "sent", mail.failure_reason)
        (log,) = self.sends_of(mail)
        self.assertEqual((log.state, log.provider_id), ("sent", mail.trail_provider_id))
        copy = self.env["trail.mail"].search([("subject", "=", "Graph answer lost")])
        self.assertEqual(copy.location_ids.provider_id, mail.trail_provider_id)
        mail.send()
        self.assertEqual(self.emulator.outbox, [])

    def test_thirty_a_minute_then_the_rest_waits(self):
        self.env["ir.config_parameter"].sudo().set_param(
            "trail_email_integration.send_per_minute_microsoft", "3"
        )
        mails = self.env["mail.mail"].sudo()
        for index in range(5):
            mails |= self.direct_mail(f"Exchange mailing {index}", auto_delete=False)
        mails.send()
        self.assertEqual(len(self.emulator.outbox), 3)
        self.assertEqual(mails.mapped("state").count("outgoing"), 2)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpCatcher:
    """An aiosmtpd handler that keeps every envelope it is given."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"


@tagged("post_install", "-at_install")
class TestSendThroughOdooSmtp(SendMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.make_people("ada-smtp-send", address="ada@nomailbox.example")
        cls.catcher = SmtpCatcher()
        cls.smtp = Controller(cls.catcher, hostname="127.0.0.1", port=free_port())
        cls.smtp.start()
        cls.addClassCleanup(cls.smtp.stop)
        cls.env["ir.mail_server"].search([]).active = False
        cls.env["ir.mail_server"].create(
            {
                "name": "Local catcher",
                "smtp_host": "127.0.0.1",
                "smtp_port": cls.smtp.port,
                "smtp_encryption": "none",
            }
        )

    @contextmanager
    def real_smtp(self):
        # Odoo neither connects nor sends while a test runs; this test wants the real thing.
        with patch.object(odoo_module, "current_test", None):
            yield

    def test_user_without_a_mailbox_sends_through_odoo_with_a_hidden_bcc(self):
        with self.real_smtp():
            _message, route = self.compose(subject="Through Odoo")
        self.assertEqual(route, "Sent by Odoo's mail server")
        envelopes = self.catcher.envelopes
        recipients = [rcpt for envelope in envelopes for rcpt in envelope.rcpt_tos]
        self.assertCountEqual(recipients, [CLIENT, PARTNER_CC, FREE_CC, HIDDEN])
        for envelope in envelopes:
            headers = envelope.content.split(b"\r\n\r\n", 1)[0]
            self.assertNotIn(HIDDEN.encode(), headers)
            self.assertIn(b"Through Odoo", headers)
        hidden = next(e for e in envelopes if e.rcpt_tos == [HIDDEN])
        self.assertIn(CLIENT, parse(hidden.content)["To"])
        self.assertFalse(self.env["trail.mail.location"].search([]))


@tagged("post_install", "-at_install")
class TestComposeSendTour(SendMixin, HttpCase):
    """The full composer in Chromium: routing line, Cc and Bcc, Send; Gmail receives it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.emulator = GmailEmulator(
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, default_user=ADA
        ).start()
        cls.addClassCleanup(cls.emulator.stop)
        cls.emulator.add_user(ADA, "Ada Adviser")
        configure_google(cls.env, cls.emulator, base_url=cls.base_url())
        cls.make_people("ada-tour-send")
        cls.mailbox = cls.env["trail.mailbox"].create(
            {
                "provider": "google",
                "address": ADA,
                "state": "active",
                "user_id": cls.adviser.id,
                "google_refresh_token": cls.emulator.issue_tokens(ADA)["refresh_token"],
            }
        )

    def test_compose_send_tour(self):
        self.start_tour(
            f"/odoo/action-trail_email_integration.action_profiles/{self.profile.id}",
            "trail_compose_send",
            login="ada-tour-send",
        )
        if not self.emulator.outbox:
            self.env["mail.mail"].process_email_queue()
        self.assertEqual(len(self.emulator.outbox), 1)
        delivered = parse(self.emulator.outbox[0]["raw"])
        self.assertIn(ADA, delivered["From"])
        self.assertIn(PARTNER_CC, delivered["Cc"])
        self.assertIsNone(delivered["Bcc"])
        self.assertIn(HIDDEN, self.emulator.outbox[0]["to"])
        self.assertIn("Sent from the browser", delivered.get_body(("html",)).get_content())
