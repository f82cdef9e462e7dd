"""The status card in Chromium during a running backfill, and the README's screenshots of it
and of the Mailbox page, on an adviser's mailbox of generated but realistic mail.

The backfill job is played by the test: when the tour asks for it, the card's next reload runs a
step of the import first, so the tour sees the card follow the import on its own; "Scan now"
runs a step at once."""

from datetime import datetime, timedelta, timezone

from odoo import fields
from odoo.addons.trail_email_integration.core.fake_provider import FakeMailbox, FakeProvider
from odoo.addons.trail_email_integration.core.provider import MessageError
from odoo.tests import HttpCase, tagged
from odoo.tests.common import ChromeBrowser

from .capture_common import MailboxSteps, make_raw
from .screenshots import screenshots

ADVISER = "Mitchell Admin <mitchell@harbour.example>"
ADVISER_ADDRESS = "mitchell@harbour.example"
TOTAL = 240
# The tour logs this when the backfill job is to run a step before the card's next reload.
CRON_STEP_MARKER = "trail-tour:backfill-step"

# (name, address, profile, linked)
CLIENTS = [
    ("Clara Whitfield", "clara.whitfield@example.com", "Whitfield Family", True),
    ("James Whitfield", "james.whitfield@example.com", "Whitfield Family", True),
    ("Tom Okafor", "tom@okafor-joinery.example", "Okafor Joinery Ltd", True),
    ("Priya Raman", "priya.raman@example.net", "Raman Family Trust", True),
    ("George Beaumont", "g.beaumont@example.org", "Beaumont Family", False),
]
OTHERS = [
    ("Lena Fischer", "lena@fischer-tax.example"),
    ("Northwind Insurance", "renewals@northwind-insurance.example"),
    ("Advisers Network", "events@advisers-network.example"),
]
SUBJECTS = [
    "Annual review - agenda for Thursday",
    "Pension transfer: signed forms",
    "ISA allowance before 5 April",
    "Updated cash-flow plan",
    "Question about the trust deed",
    "Invoice 2291 - advice fee Q3",
    "Mortgage offer received",
    "Inheritance tax planning notes",
    "Portfolio rebalancing proposal",
    "Change of address",
    "Your renewal documents",
    "Meeting notes and next steps",
]


@tagged("post_install", "-at_install", "trail_screenshots")
class TestMailboxStatusTour(HttpCase):
    browser_size = "1440x900"

    def setUp(self):
        super().setUp()
        self.now = datetime.now(timezone.utc)
        self.admin = self.env.ref("base.user_admin")
        self.make_profiles()
        self.box = FakeMailbox(ADVISER_ADDRESS)
        self.provider = FakeProvider(self.box)
        Mailbox = type(self.env["trail.mailbox"])
        self.patch(Mailbox, "_make_provider", lambda _mailbox: self.provider)
        self.mailbox = self.env["trail.mailbox"].create(
            {
                "address": ADVISER_ADDRESS,
                "provider": "google",
                "user_id": self.admin.id,
                "state": "backfilling",
                "connected_at": fields.Datetime.now() - timedelta(minutes=5),
            }
        )
        self.fill_mailbox()

        # "Scan now" triggers the crons; here their next steps (the backfill's, then the
        # scan's) run at once instead, as a free cron worker would.
        scan_now = Mailbox.action_scan_now

        def scan_now_and_step(mailboxes):
            result = scan_now(mailboxes)
            for mailbox in mailboxes.sudo().filtered(lambda m: m.state == "backfilling"):
                mailbox._run_guarded(mailbox._backfill_step, {})
                mailbox._run_guarded(mailbox._scan_step)
            return result

        self.patch(Mailbox, "action_scan_now", scan_now_and_step)

        # The backfill job, between two of the card's own reloads: each time the tour asks for
        # it, the next read of the mailbox first runs one step of the import, as the job would
        # have meanwhile. The card shows the progress only by re-reading the mailbox.
        self.cron_steps = 0
        web_read = Mailbox.web_read

        def web_read_after_cron(mailboxes, specification):
            mailbox = mailboxes.filtered(lambda m: m.id == self.mailbox.id)
            if self.cron_steps and mailbox.state == "backfilling":
                self.cron_steps -= 1
                MailboxSteps.run_backfill(mailbox.sudo(), limit=1)
            return web_read(mailboxes, specification)

        # web_read runs in a read-only transaction; this one writes, as the job would.
        web_read_after_cron._readonly = False
        self.patch(Mailbox, "web_read", web_read_after_cron)
        handle_console = ChromeBrowser._handle_console

        def handle_console_and_cron(browser, type, args=None, stackTrace=None, **kw):
            handle_console(browser, type, args=args, stackTrace=stackTrace, **kw)
            if args and CRON_STEP_MARKER in str(browser._from_remoteobject(args[0])):
                self.cron_steps += 1

        self.patch(ChromeBrowser, "_handle_console", handle_console_and_cron)

    def make_profiles(self):
        Partner = self.env["res.partner"].with_context(tracking_disable=True)
        profiles = {}
        for name, address, profile_name, linked in CLIENTS:
            if profile_name not in profiles:
                profiles[profile_name] = Partner.create(
                    {"name": profile_name, "is_profile": True, "is_company": True}
                )
            contact = Partner.create({"name": name})
            self.env["trail.email.address"].create(
                {"partner_id": contact.id, "email": address, "linked": linked}
            )
            self.env["trail.profile.member"].create(
                {
                    "profile_id": profiles[profile_name].id,
                    "contact_id": contact.id,
                    "role": "participant",
                }
            )

    def fill_mailbox(self):
        """Two years of mail, newest first: clients, an accountant, insurers, newsletters."""
        correspondents = [(name, address) for name, address, _p, _l in CLIENTS] + OTHERS
        failing = None
        for index in range(TOTAL):
            name, address = correspondents[index % len(correspondents)]
            subject = SUBJECTS[index % len(SUBJECTS)]
            # Every two or three days, in office hours.
            date = (self.now - timedelta(days=1 + index * 2.9)).replace(
                hour=8 + (index * 7) % 10, minute=(index * 13) % 60, second=0, microsecond=0
            )
            outgoing = index % 3 == 1
            raw = make_raw(
                subject if not outgoing else f"Re: {subject}",
                sender=ADVISER if outgoing else f"{name} <{address}>",
                to=f"{name} <{address}>" if outgoing else ADVISER,
                date=date,
                body=f"Dear {name.split()[0]},\n\nPlease find my notes below.\n",
                attachments=[("notes.pdf", b"%PDF-1.4 notes")] if index % 5 == 2 else (),
            )
            message_id = self.box.add(raw, labels=("SENT",) if outgoing else ("INBOX",), date=date)
            if index == 37:
                failing = message_id

        real_fetch = self.provider.fetch

        def fetch(refs):
            return [
                MessageError("404 Requested entity was not found.", ref.provider_id)
                if ref.provider_id == failing
                else found
                for ref, found in zip(refs, real_fetch(refs), strict=True)
            ]

        self.patch(self.provider, "fetch", fetch)

        # Two steps of the import are done; new mail (and spam) came in and a scan ran.
        for _step in range(2):
            self.mailbox._run_guarded(self.mailbox._backfill_step, {})
        self.box.add(
            make_raw(
                "Annual review - one more question",
                sender="Clara Whitfield <clara.whitfield@example.com>",
                to=ADVISER,
                date=(self.now - timedelta(minutes=25)).replace(second=0, microsecond=0),
            ),
            labels=("INBOX",),
        )
        self.box.add(make_raw("You have won!", sender="prize@lottery.example"), labels=("SPAM",))
        self.mailbox.next_scan = False
        self.mailbox._run_guarded(self.mailbox._scan_step)
        self.mailbox.backfill_rate_since = fields.Datetime.now() - timedelta(minutes=4)

    def test_status_card_follows_a_running_backfill(self):
        self.assertEqual(self.mailbox.backfill_count, 100)
        self.assertEqual(self.mailbox.failed_count, 1)
        self.assertTrue(self.mailbox.needs_attention)

        with screenshots():
            # From the Mailbox page: the tour makes the card reload quicker before opening it.
            self.start_tour(
                "/odoo/action-trail_email_integration.action_mailbox_page",
                "trail_mailbox_status",
                login="admin",
            )

        self.mailbox.invalidate_recordset()
        # Two steps before the tour, one while the card watched, one on Scan now.
        self.assertEqual(self.mailbox.backfill_count, 200)
        self.assertEqual(self.cron_steps, 0)
        self.assertEqual(self.mailbox.state, "backfilling")
        failure = self.mailbox.failure_ids
        self.assertEqual((failure.attempts, failure.resolution), (2, "dismissed"))
        self.assertEqual(failure.dismissed_by, self.admin)
        self.assertEqual(self.mailbox.failed_count, 0)
