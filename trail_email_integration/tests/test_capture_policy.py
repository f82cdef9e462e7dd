"""Never-capture lists and the internal-mail switch, through the capture engine."""

from pathlib import Path

from odoo.addons.trail_email_integration.core.addresses import normalise_address
from odoo.addons.trail_email_integration.core.capture_policy import (
    CapturePolicy,
    decide,
    header_addresses,
    normalise_pattern,
)
from odoo.addons.trail_email_integration.core.mime import parse_message
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import new_test_user, tagged

from .capture_common import OWNER, CaptureCase, make_raw

PARAM_INTERNAL = "trail_email_integration.capture_internal"
CASES = Path(__file__).resolve().parent / "data" / "cases"


@tagged("post_install", "-at_install")
class TestCapturePolicy(CaptureCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Block = cls.env["trail.capture.block"]
        cls.colleague = new_test_user(
            cls.env, "colleague", email="colleague@firm.example", groups="base.group_user"
        )
        cls.owner = new_test_user(cls.env, "owner", email=OWNER, groups="base.group_user")
        cls.mailbox.user_id = cls.owner

    def stored_for(self, subject):
        return self.Mail.search([("subject", "=", subject)])

    def files_named(self, name):
        return self.env["ir.attachment"].search([("name", "=", name)])

    def test_patterns_are_normalised_and_checked(self):
        self.assertEqual(normalise_pattern("Example.COM"), "@example.com")
        self.assertEqual(normalise_pattern("@Sub.Example.com "), "@sub.example.com")
        self.assertEqual(normalise_pattern("Dr Who <WHO@Clinic.example>"), "who@clinic.example")
        self.assertIsNone(normalise_pattern("localhost"))
        self.assertIsNone(normalise_pattern("not an address@"))
        entry = self.Block.create({"pattern": "Clinic.Example"})
        self.assertEqual((entry.pattern, entry.kind), ("@clinic.example", "domain"))
        with self.assertRaises(ValidationError):
            self.Block.create({"pattern": "nonsense"})

    def test_decision_reads_every_party_header(self):
        raw = make_raw("x", sender="A <a@one.example>", to=OWNER, cc="c@sub.two.example")
        raw = raw.replace(b"Subject:", b"Reply-To: r@three.example\r\nSubject:", 1)
        self.assertEqual(
            header_addresses(raw),
            {"a@one.example", OWNER, "c@sub.two.example", "r@three.example"},
        )
        policy = CapturePolicy(patterns=("@two.example",), own_addresses=frozenset({OWNER}))
        verdict = decide(raw, policy)
        self.assertEqual((verdict.reason, verdict.detail), ("never_capture", "@two.example"))
        # The owner's own address never matches, even when their domain is listed.
        own_domain = CapturePolicy(patterns=("@firm.example",), own_addresses=frozenset({OWNER}))
        self.assertFalse(decide(make_raw("y", to=OWNER), own_domain))
        self.assertFalse(decide(b"\xff\xfe not a message", own_domain))
        colleagues = CapturePolicy(
            own_addresses=frozenset({OWNER}),
            colleague_addresses=frozenset({OWNER, "colleague@firm.example"}),
        )
        self.assertEqual(decide(make_raw("z", sender="colleague@firm.example"), colleagues).reason,
                         "internal")  # fmt: skip
        self.assertFalse(decide(make_raw("note to self", sender=OWNER), colleagues))

    def test_lists_judge_the_parties_that_filing_sees(self):
        # The lists are checked before the message is parsed; they must read the same parties
        # that filing matches later, or an odd header would let blocked mail through.
        checked = 0
        for path in sorted(CASES.glob("*.eml")):
            raw = path.read_bytes()
            parsed = parse_message(raw)
            groups = (parsed.from_, parsed.sender, parsed.reply_to, parsed.to, parsed.cc)
            parties = {
                normalise_address(a.email) for group in groups + (parsed.bcc,) for a in group
            }
            with self.subTest(case=path.name):
                self.assertEqual(header_addresses(raw), parties - {None})
            checked += 1
        self.assertGreater(checked, 70)

        # An address written as its own display name, and a display name that looks like
        # another address: the address in angle brackets is the party (B26).
        raw = (CASES / "26-display-name-equals-address.eml").read_bytes()
        self.assertEqual(
            header_addresses(raw),
            {"alice@example.com", "bob@example.com", "carol@example.com", "erin@example.com"},
        )
        self.assertEqual(decide(raw, CapturePolicy(patterns=("alice@example.com",))).reason,
                         "never_capture")  # fmt: skip
        self.assertFalse(decide(raw, CapturePolicy(patterns=("dave@example.com",))))

    def test_domain_blocked_mail_is_never_stored(self):
        self.Block.create({"pattern": "clinic.example", "note": "Medical"})
        self.add(
            "Your test results",
            sender="Lab <lab@results.clinic.example>",
            attachments=[("results.pdf", b"%PDF private results")],
        )
        self.add("Client question", sender="client@example.com")
        self.run_backfill()

        self.assertFalse(self.stored_for("Your test results"))
        self.assertFalse(self.files_named("results.pdf"))
        originals = self.env["ir.attachment"].search([("name", "=", "original.eml")])
        self.assertFalse([a for a in originals if b"private results" in (a.raw or b"")])
        self.assertTrue(self.stored_for("Client question"))

        self.assertEqual(self.mailbox.skipped_count, 1)
        self.assertEqual(self.mailbox.skipped_rule_count, 1)
        kept_out = self.mailbox.skipped_ids
        self.assertEqual((kept_out.reason, kept_out.detail), ("never_capture", "@clinic.example"))
        self.assertEqual(self.mailbox.captured_count, 1)

    def test_kept_out_mail_is_not_fetched_or_counted_twice(self):
        self.Block.create({"pattern": "spam@adverts.example"})
        self.run_backfill()
        self.run_scan()
        provider_id, _raw = self.add("Buy now", sender="spam@adverts.example")
        self.run_scan()
        self.assertEqual(self.mailbox.skipped_count, 1)
        # A label change makes the scan look at the message again.
        self.box.relabel(provider_id, ("INBOX", "IMPORTANT"))
        fetched = []
        original_fetch = self.provider.fetch
        self.patch(
            self.provider, "fetch", lambda refs: fetched.extend(refs) or original_fetch(refs)
        )
        self.run_scan()
        self.assertFalse(fetched)
        self.assertEqual(self.mailbox.skipped_count, 1)
        self.assertFalse(self.stored_for("Buy now"))

    def test_personal_lists_apply_to_their_owner_only(self):
        self.Block.with_user(self.owner).create(
            {"pattern": "friend@home.example", "user_id": self.owner.id}
        )
        self.Block.with_user(self.colleague).create(
            {"pattern": "client@example.com", "user_id": self.colleague.id}
        )
        self.add("Weekend plans", sender="friend@home.example")
        self.add("Client question", sender="client@example.com")
        self.run_backfill()
        self.assertFalse(self.stored_for("Weekend plans"))
        self.assertTrue(self.stored_for("Client question"))
        self.assertEqual(self.mailbox.skipped_ids.detail, "friend@home.example")

    def test_users_keep_their_own_list_and_read_the_company_list(self):
        company_entry = self.Block.create({"pattern": "clinic.example"})
        own = self.Block.with_user(self.colleague).create(
            {"pattern": "mine@home.example", "user_id": self.colleague.id}
        )
        others = self.Block.create({"pattern": "theirs@home.example", "user_id": self.owner.id})
        visible = self.Block.with_user(self.colleague).search([])
        self.assertEqual(visible, company_entry | own)
        own.with_user(self.colleague).note = "Family"
        for entry in (company_entry, others):
            with self.assertRaises(AccessError):
                entry.with_user(self.colleague).write({"note": "changed"})
        with self.assertRaises(AccessError):
            self.Block.with_user(self.colleague).create({"pattern": "x.example"})
        admin = self.env.ref("base.user_admin")
        self.Block.with_user(admin).create({"pattern": "admin-added.example"})
        self.assertNotIn(others, self.Block.with_user(admin).search([]))

    def test_preferences_and_mailbox_open_the_users_own_list(self):
        own = self.Block.with_user(self.owner).create(
            {"pattern": "mine@home.example", "user_id": self.owner.id}
        )
        self.Block.create({"pattern": "clinic.example"})
        for action in (
            self.owner.with_user(self.owner).action_trail_my_never_capture(),
            self.mailbox.with_user(self.owner).action_open_never_capture(),
        ):
            self.assertEqual(action["res_model"], "trail.capture.block")
            domain = [("user_id", "=", self.owner.id)]
            self.assertEqual(self.Block.with_user(self.owner).search(domain), own)
            self.assertIn("uid", action["domain"])

    def test_internal_mail_follows_the_switch(self):
        self.add("Lunch?", sender="colleague@firm.example", to=OWNER)
        self.add("To a client", sender="colleague@firm.example", cc="client@example.com")
        self.run_backfill()
        self.assertFalse(self.stored_for("Lunch?"))
        self.assertTrue(self.stored_for("To a client"))
        self.assertEqual(self.mailbox.skipped_ids.reason, "internal")

        self.env["ir.config_parameter"].set_param(PARAM_INTERNAL, "True")
        self.add("Coffee?", sender="colleague@firm.example", to=OWNER)
        self.run_scan()
        self.assertTrue(self.stored_for("Coffee?"))
