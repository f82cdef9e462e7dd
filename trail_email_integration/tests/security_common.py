"""Two advisers, a portal user, and mail in the first adviser's mailbox, for the access tests."""

from odoo.addons.trail_email_integration.core.fake_provider import FakeMailbox, FakeProvider
from odoo.tests import new_test_user

from .capture_common import NOW, MailboxSteps, make_raw

ADA = "ada@firm.example"
BOB = "bob@firm.example"
PDF = b"%PDF-1.4 private statement"


class AccessFixture(MailboxSteps):
    """Ada owns a mailbox holding one unfiled email (with a file) and one filed email."""

    @classmethod
    def setup_access(cls):
        env = cls.env
        groups = "base.group_user,base.group_partner_manager,base.group_allow_export"
        cls.ada = new_test_user(env, "ada", email=ADA, groups=groups)
        cls.bob = new_test_user(env, "bob", email=BOB, groups=groups)
        cls.portal = new_test_user(env, "portal_pat", groups="base.group_portal")
        cls.admin = env.ref("base.user_admin")
        cls.box = FakeMailbox(ADA)
        cls.provider = FakeProvider(cls.box)
        cls.mailbox = env["trail.mailbox"].create(
            {
                "address": ADA,
                "provider": "google",
                "user_id": cls.ada.id,
                "state": "backfilling",
                "connected_at": NOW.replace(tzinfo=None),
                "google_refresh_token": "1//ada-refresh-token",
                "google_access_token": "ya29.ada-access-token",
            }
        )
        client = env["res.partner"].create({"name": "Filed Client"})
        env["trail.email.address"].create(
            {"partner_id": client.id, "email": "filed.client@example.com", "linked": True}
        )
        cls.profile = env["res.partner"].create(
            {"name": "Filed Family", "is_profile": True, "is_company": True}
        )
        env["trail.profile.member"].create(
            {"profile_id": cls.profile.id, "contact_id": client.id, "role": "participant"}
        )
        cls.box.add(
            make_raw(
                "Private unfiled matter",
                sender="doctor@clinic.example",
                to=ADA,
                body="Unfiled private body",
                attachments=[("statement.pdf", PDF)],
            ),
            date=NOW,
        )
        cls.box.add(
            make_raw(
                "Filed client question",
                sender="filed.client@example.com",
                to=ADA,
                body="Filed body text",
                attachments=[("filed.pdf", PDF + b" filed")],
            ),
            date=NOW,
        )
        mailbox_class = type(cls.mailbox)
        original = mailbox_class._make_provider

        def make_provider(mailbox):
            if mailbox == cls.mailbox:
                return cls.provider
            return original(mailbox)

        mailbox_class._make_provider = make_provider
        cls.addClassCleanup(setattr, mailbox_class, "_make_provider", original)
        cls.run_backfill(cls.mailbox)
        Mail = env["trail.mail"]
        cls.unfiled = Mail.search([("subject", "=", "Private unfiled matter")])
        cls.filed = Mail.search([("subject", "=", "Filed client question")])
        assert cls.unfiled.filing_state == "unfiled" and cls.filed.filing_state == "filed"
        cls.unfiled_files = cls.unfiled.attachment_ids | cls.unfiled.original_id
        cls.filed_files = cls.filed.attachment_ids | cls.filed.original_id
