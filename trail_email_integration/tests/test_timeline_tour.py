from datetime import datetime, timedelta

from odoo.addons.trail_email_integration.models.res_partner_timeline import PAGE_SIZE
from odoo.tests import HttpCase, tagged

from .screenshots import screenshots
from .timeline_common import make_timeline_mails

# Realistic correspondence for the tour and the README screenshot:
# (subject, snippet, direction, attachment names).
THREADS = [
    (
        "Re: Pension consolidation",
        "Thanks Alex, we have signed the transfer forms and posted them this morning.",
        "incoming",
        [],
    ),
    (
        "Your quarterly portfolio report",
        "Please find attached the report for the quarter; the "
        "balanced fund returned 2.1% after fees.",
        "outgoing",
        ["Portfolio report Q3.pdf"],
    ),
    (
        "Question about the school fees plan",
        "Could we move the monthly contribution to the 1st of the month instead of the 15th?",
        "incoming",
        [],
    ),
    (
        "Re: Question about the school fees plan",
        "Of course. I have asked the provider to change the date from next month.",
        "outgoing",
        [],
    ),
    (
        "Tax return documents",
        "Here are the dividend statements and the rental income summary you asked for.",
        "incoming",
        ["Dividend statements.pdf", "Rental income 2026.xlsx"],
    ),
    (
        "Meeting notes: estate planning",
        "As discussed on Tuesday, the next step is to review the wills with your solicitor.",
        "outgoing",
        [],
    ),
    (
        "Insurance renewal",
        "The income protection policy renews on the 30th; the premium rises by 3%.",
        "incoming",
        ["Renewal notice.pdf"],
    ),
    (
        "Re: Insurance renewal",
        "I compared three providers; the current policy is still the best value. Details attached.",
        "outgoing",
        ["Income protection comparison.pdf"],
    ),
]


@tagged("post_install", "-at_install", "trail_screenshots")
class TestTimelineTour(HttpCase):
    def make_contact(self, name, email, linked=True):
        contact = self.env["res.partner"].create({"name": name})
        self.env["trail.email.address"].create(
            {"partner_id": contact.id, "email": email, "linked": linked}
        )
        return contact

    def make_profile(self, name, contacts):
        profile = self.env["res.partner"].create(
            {"name": name, "is_profile": True, "is_company": True, "profile_type": "family"}
        )
        self.env["trail.profile.member"].create(
            [
                {"profile_id": profile.id, "contact_id": contact.id, "role": "participant"}
                for contact in contacts
            ]
        )
        return profile

    def test_scroll_filter_and_open(self):
        olivia = self.make_contact("Olivia Harper", "olivia.harper@example.com")
        james = self.make_contact("James Harper", "james.harper@example.net")
        profile = self.make_profile("Harper Family", [olivia, james])
        now = datetime.now().replace(microsecond=0)
        specs = []
        for index in range(500):
            subject, snippet, direction, attachments = THREADS[index % len(THREADS)]
            contact, email = (olivia, "olivia.harper@example.com")
            if index % 3 == 1:
                contact, email = (james, "james.harper@example.net")
            specs.append(
                {
                    "subject": subject,
                    "snippet": snippet,
                    "direction": direction,
                    "date": now - timedelta(hours=7 + index * 37),
                    "contact": contact,
                    "email": email,
                    "others": [("Priya Shah", "priya@shahaccounting.example")]
                    if index % 5 == 4
                    else [],
                    "attachments": attachments,
                    "profiles": [profile],
                }
            )
        specs[2].update(
            subject="Annual review: your updated plan",
            snippet="Please find attached your updated plan ahead of our meeting on Friday.",
            direction="outgoing",
            attachments=["Financial plan 2027.pdf", "Fee schedule.pdf"],
        )
        # The oldest email, which the tour scrolls down to (static/tests/tours/timeline_tour.js).
        specs[-1].update(
            subject="Welcome to the practice",
            snippet="Thank you for choosing us; our terms of business are attached.",
            direction="outgoing",
        )
        mails = make_timeline_mails(self.env, specs)
        mails[2].sudo().body_html = (
            "<p>Dear Olivia and James,</p><p>Please find attached your updated plan ahead of "
            "our meeting on Friday.</p><p>Kind regards,<br/>Alex</p>"
        )
        # Fresh planner statistics: autovacuum may have last seen these tables empty (earlier
        # runs roll back), and then plans each request for one row instead of 500, at seconds
        # a page. ANALYZE in this transaction counts its own rows, as a real database would.
        self.env.flush_all()
        self.env.cr.execute(
            "ANALYZE trail_mail, trail_mail_location, trail_mail_participant, "
            "trail_mail_profile_rel, trail_mail_attachment_rel, trail_mailbox, ir_attachment"
        )

        # Each page the browser asks for: (filters set, cursor given, more after it, entries).
        calls = []
        Partner = type(self.env["res.partner"])
        original = Partner.trail_timeline

        def trail_timeline(partner, filters=None, cursor=None, limit=PAGE_SIZE):
            page = original(partner, filters, cursor=cursor, limit=limit)
            set_filters = any((filters or {}).values())
            calls.append((set_filters, bool(cursor), bool(page["cursor"]), len(page["entries"])))
            return page

        self.patch(Partner, "trail_timeline", trail_timeline)
        with screenshots():
            self.start_tour(
                f"/odoo/action-trail_email_integration.action_profiles/{profile.id}",
                "trail_timeline",
                login="admin",
            )
        # Before the first filter: the first page, then one page per scroll down to the oldest
        # email, and no request after the last page.
        unfiltered = calls[: next(i for i, call in enumerate(calls) if call[0])]
        pages = -(-500 // PAGE_SIZE)
        self.assertEqual(len(unfiltered), pages)
        self.assertEqual(sum(call[3] for call in unfiltered), 500)
        self.assertEqual([call[1] for call in unfiltered], [False] + [True] * (pages - 1))
        self.assertEqual([call[2] for call in unfiltered], [True] * (pages - 1) + [False])

    def test_linking_an_address_brings_its_old_mail(self):
        grace = self.make_contact("Grace Holloway", "grace.holloway@example.org", linked=False)
        profile = self.make_profile("Holloway Trust", [grace])
        make_timeline_mails(
            self.env,
            [
                {
                    "subject": "Trust deed from 2019",
                    "snippet": "The signed trust deed, as promised.",
                    "direction": "incoming",
                    "date": datetime(2024, 3, 5, 10, 0),
                    "contact": grace,
                    "email": "grace.holloway@example.org",
                }
            ],
        )
        self.assertFalse(profile.trail_timeline()["entries"])

        self.start_tour(
            f"/odoo/action-trail_email_integration.action_profiles/{profile.id}",
            "trail_timeline_link",
            login="admin",
        )
        self.assertEqual(
            [e["subject"] for e in profile.trail_timeline()["entries"]], ["Trust deed from 2019"]
        )
