from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import ProfilesCase


@tagged("post_install", "-at_install")
class TestFilingRule(ProfilesCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ada = cls.make_contact("Ada Client", "ada@example.com")
        cls.ben = cls.make_contact("Ben Client", "ben@example.com")
        cls.kid = cls.make_contact("Kid Client", "kid@example.com")
        cls.adult = cls.make_contact("Adult Child", "adult@example.com")
        cls.accountant = cls.make_contact("Acc Ountant", "acc@numbers.example")
        cls.family = cls.make_profile(
            "Client Family",
            [
                (cls.ada, "participant"),
                (cls.ben, "participant"),
                (cls.kid, "dependent"),
                (cls.adult, "non_dependent"),
                (cls.accountant, "accountant"),
            ],
        )

    def test_each_filing_role_files(self):
        for contact, email in [
            (self.ada, "ada@example.com"),
            (self.kid, "kid@example.com"),
            (self.adult, "adult@example.com"),
        ]:
            result = self.match(("from", email))
            self.assertEqual(result.profile_ids, [self.family.id], email)
            self.assertEqual(result.contact_ids, [contact.id])

    def test_other_roles_never_file(self):
        for role in ("professional_adviser", "accountant", "solicitor", "referrer", "other"):
            self.family.profile_member_ids.filtered(
                lambda m: m.contact_id == self.accountant
            ).role = role
            self.assertFalse(self.match(("to", "acc@numbers.example")), role)

    def test_unlinked_address_never_files(self):
        self.make_contact("Quiet", "quiet@example.com", linked=False)
        quiet = self.Partner.search([("name", "=", "Quiet")])
        self.make_profile("Quiet Profile", [(quiet, "participant")])
        self.assertFalse(self.match(("from", "quiet@example.com")))

    def test_every_header_is_matched(self):
        for header in ("from", "sender", "reply_to", "to", "cc", "bcc"):
            result = self.match((header, "Ada <ada@example.com>"))
            self.assertEqual(result.profile_ids, [self.family.id], header)
            self.assertEqual(result.matches[0][0], header)

    def test_contact_in_several_profiles_with_different_roles(self):
        own = self.make_profile("Kid's own profile", [(self.kid, "participant")], "person")
        result = self.match(("cc", "kid@example.com"))
        self.assertEqual(sorted(result.profile_ids), sorted([self.family.id, own.id]))
        roles = {row[4] for row in result.matches}
        self.assertEqual(roles, {"dependent", "participant"})

    def test_contact_can_be_its_own_profile(self):
        solo = self.make_contact("Solo", "solo@example.com")
        solo.write({"is_profile": True, "profile_type": "person"})
        self.Member.create({"profile_id": solo.id, "contact_id": solo.id, "role": "participant"})
        self.assertEqual(self.match(("from", "solo@example.com")).profile_ids, [solo.id])

    def test_shared_family_address_files_into_both_contacts(self):
        shared = "home@family.example"
        self.Address.create({"partner_id": self.ada.id, "email": shared, "linked": True})
        self.Address.create({"partner_id": self.ben.id, "email": shared, "linked": True})
        other = self.make_profile("Ben's business", [(self.ben, "participant")], "company")
        result = self.match(("to", shared))
        self.assertEqual(sorted(result.contact_ids), sorted([self.ada.id, self.ben.id]))
        self.assertEqual(sorted(result.profile_ids), sorted([self.family.id, other.id]))

    def test_archived_contact_or_profile_never_matches(self):
        self.ada.active = False
        self.assertFalse(self.match(("from", "ada@example.com")))
        self.ada.active = True
        self.family.active = False
        self.assertFalse(self.match(("from", "ada@example.com")))

    def test_address_variants(self):
        for variant in [
            "ADA@Example.COM",
            "  ada@example.com  ",
            "Ada Client <ada@example.com>",
            '"Client, Ada" <Ada@EXAMPLE.com>',
            "ada@example.com <ada@example.com>",
            "someone@else.example <ada@example.com>",
        ]:
            self.assertEqual(self.match(("from", variant)).profile_ids, [self.family.id], variant)
        self.assertFalse(self.match(("from", "ada@example.com <nobody@else.example>")))

    def test_internationalised_domain_in_either_spelling(self):
        neko = self.make_contact("Neko", "neko@ドメイン.jp")
        profile = self.make_profile("Neko", [(neko, "participant")], "person")
        self.assertEqual(
            self.Address.search([("partner_id", "=", neko.id)]).email, "neko@ドメイン.jp"
        )
        self.assertEqual(self.match(("from", "neko@xn--eckwd4c7c.jp")).profile_ids, [profile.id])
        self.assertEqual(self.match(("from", "NEKO@ドメイン.JP")).profile_ids, [profile.id])

    def test_plus_address_taken_as_written(self):
        self.assertFalse(self.match(("from", "ada+tax@example.com")))
        self.Address.create(
            {"partner_id": self.ada.id, "email": "ada+tax@example.com", "linked": 1}
        )
        self.assertEqual(self.match(("from", "ada+tax@example.com")).profile_ids, [self.family.id])

    def test_mailing_list_rewritten_from_reaches_sender_profile(self):
        result = self.match(
            ("from", "'Ada Client' via Parents List <parents@lists.example>"),
            ("reply_to", "Ada Client <ada@example.com>"),
            ("to", "parents@lists.example"),
        )
        self.assertEqual(result.profile_ids, [self.family.id])
        self.assertEqual(result.matches[0][:2], ("reply_to", "ada@example.com"))

    def test_mailbox_owner_addresses_never_file(self):
        self.assertFalse(self.match(("from", "ada@example.com"), exclude=["ADA@example.com"]))
        result = self.match(
            ("from", "ada@example.com"), ("to", "ben@example.com"), exclude=["ada@example.com"]
        )
        self.assertEqual(result.contact_ids, [self.ben.id])

    def test_company_users_addresses_never_file(self):
        adviser = self.env["res.users"].create(
            {"name": "Adviser", "login": "adviser", "email": "adviser@firm.example"}
        )
        self.Member.create(
            {"profile_id": self.family.id, "contact_id": adviser.partner_id.id, "role": "other"}
        )
        adviser.partner_id.email_address_ids.linked = True
        adviser.partner_id.membership_ids.role = "participant"
        self.assertFalse(self.match(("from", "adviser@firm.example")))
        result = self.match(("from", "adviser@firm.example"), ("to", "ada@example.com"))
        self.assertEqual(result.contact_ids, [self.ada.id])

    def test_matching_costs_a_fixed_number_of_queries(self):
        many = [("to", f"nobody{i}@example.com") for i in range(50)]
        self.match(("from", "ada@example.com"))  # reads the internal users' addresses once
        with self.assertQueryCount(1):
            self.match(("from", "ada@example.com"))
        with self.assertQueryCount(1):
            self.match(("from", "ada@example.com"), ("cc", "kid@example.com"), *many)


@tagged("post_install", "-at_install")
class TestAddresses(ProfilesCase):
    def test_invalid_address_is_refused_naming_it(self):
        contact = self.make_contact("Someone")
        for bad in ("not an address", "a@b@c", "two@x.com, three@y.com", "@example.com"):
            with self.assertRaisesRegex(ValidationError, "is not a valid email address"):
                self.Address.create({"partner_id": contact.id, "email": bad})
        with self.assertRaises(ValidationError) as caught:
            self.Address.create({"partner_id": contact.id, "email": "nope"})
        self.assertIn("nope", str(caught.exception))

    def test_same_address_twice_on_one_contact_is_refused(self):
        contact = self.make_contact("Twice", "twice@example.com")
        with self.assertRaisesRegex(ValidationError, "already has the address twice@example.com"):
            self.Address.create({"partner_id": contact.id, "email": "Twice@Example.com"})

    def test_stored_normalised(self):
        contact = self.make_contact("Norm", " Norm Person <Norm.Person@Example.COM> ")
        self.assertEqual(contact.email_address_ids.email, "norm.person@example.com")

    def test_partner_email_follows_primary_address(self):
        contact = self.make_contact("Prim", "first@example.com", "second@example.com")
        self.assertEqual(contact.email, "first@example.com")
        second = contact.email_address_ids.filtered(lambda a: a.email == "second@example.com")
        second.is_primary = True
        self.assertEqual(contact.email, "second@example.com")
        self.assertEqual(contact.email_address_ids.filtered("is_primary"), second)
        second.unlink()
        self.assertEqual(contact.email, "first@example.com")
        self.assertTrue(contact.email_address_ids.is_primary)

    def test_writing_partner_email_updates_primary_address(self):
        contact = self.Partner.create({"name": "Legacy", "email": "Legacy@Example.com"})
        self.assertEqual(contact.email_address_ids.email, "legacy@example.com")
        self.assertTrue(contact.email_address_ids.is_primary)
        self.assertFalse(contact.email_address_ids.linked)
        contact.email = "new@example.com"
        self.assertEqual(contact.email_address_ids.mapped("email"), ["new@example.com"])

    def test_search_profile_by_any_contact_address(self):
        ada = self.make_contact("Ada", "ada@search.example", "ada.work@office.example")
        profile = self.make_profile("Searchable", [(ada, "participant")])
        found = self.Partner.search(
            [("is_profile", "=", True), ("trail_address_search", "ilike", "ADA.WORK@office")]
        )
        self.assertEqual(found, profile)

    def test_filter_contacts_by_role_and_link(self):
        kid = self.make_contact("Kiddo", "kiddo@example.com", linked=False)
        self.make_profile("Fam", [(kid, "dependent")])
        self.assertIn(kid, self.Partner.search([("membership_ids.role", "=", "dependent")]))
        self.assertIn(kid, self.Partner.search([("email_address_ids.linked", "=", False)]))
        self.assertNotIn(kid, self.Partner.search([("email_address_ids.linked", "=", True)]))

    def test_toggle_linked(self):
        contact = self.make_contact("Toggle", "toggle@example.com", linked=False)
        contact.email_address_ids.action_toggle_linked()
        self.assertTrue(contact.email_address_ids.linked)
