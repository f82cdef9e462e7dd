"""Builders for the capture engine's tests: a fake mailbox of generated mail."""

from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from odoo.addons.trail_email_integration.core.fake_provider import FakeMailbox, FakeProvider

from .common import ProfilesCase

OWNER = "adviser@firm.example"
NOW = datetime.now(timezone.utc)


def make_raw(
    subject,
    sender="client@example.com",
    to=OWNER,
    date=None,
    body="Hello",
    message_id=None,
    cc=None,
    attachments=(),
):
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Date"] = format_datetime(date or NOW)
    if message_id is not False:
        message["Message-ID"] = message_id or make_msgid(domain="example.com")
    message.set_content(body)
    for name, content in attachments:
        message.add_attachment(content, maintype="application", subtype="pdf", filename=name)
    return message.as_bytes()


class MailboxSteps:
    """Drive the engine on any mailbox, as the crons would, within the test's transaction."""

    @staticmethod
    def run_backfill(mailbox, limit=500):
        pages = {}
        for _step in range(limit):
            if mailbox.state != "backfilling":
                break
            mailbox._run_guarded(mailbox._backfill_step, pages)

    @staticmethod
    def run_scan(mailbox):
        mailbox.next_scan = False
        mailbox._run_guarded(mailbox._scan_step)


class CaptureCase(ProfilesCase):
    """A mailbox record served by a :class:`FakeProvider` instead of a real provider."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Mail = cls.env["trail.mail"]
        cls.mailbox = cls.env["trail.mailbox"].create(
            {
                "address": OWNER,
                "provider": "google",
                "aliases": "ada.alias@firm.example",
                "state": "backfilling",
                "connected_at": NOW.replace(tzinfo=None),
            }
        )

    def setUp(self):
        super().setUp()
        self.box = FakeMailbox(OWNER, aliases=("ada.alias@firm.example",))
        self.provider = FakeProvider(self.box)
        self.patch(type(self.mailbox), "_make_provider", lambda _mailbox: self.provider)

    def add(self, subject, days_ago=1, labels=("INBOX",), **kwargs):
        date = NOW - timedelta(days=days_ago)
        raw = make_raw(subject, date=date, **kwargs)
        return self.box.add(raw, labels=labels, date=date), raw

    def run_backfill(self, limit=1000):
        steps = 0
        pages = {}
        while self.mailbox.state == "backfilling" and steps < limit:
            self.mailbox._run_guarded(self.mailbox._backfill_step, pages)
            steps += 1
        return steps

    def run_scan(self):
        self.mailbox.next_scan = False
        return self.mailbox._run_guarded(self.mailbox._scan_step)

    def mails(self):
        return self.Mail.search([("location_ids.mailbox_id", "=", self.mailbox.id)])
