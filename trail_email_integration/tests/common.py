"""Helpers shared by the addon's Odoo tests."""

from odoo.tests import TransactionCase


class ProfilesCase(TransactionCase):
    """Builds contacts and profiles in one line each."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Partner = cls.env["res.partner"].with_context(tracking_disable=True)
        cls.Address = cls.env["trail.email.address"]
        cls.Member = cls.env["trail.profile.member"]
        cls.Filing = cls.env["trail.filing"]

    @classmethod
    def make_contact(cls, name, *emails, linked=True):
        contact = cls.Partner.create({"name": name})
        for email in emails:
            cls.Address.create({"partner_id": contact.id, "email": email, "linked": linked})
        return contact

    @classmethod
    def make_profile(cls, name, members=(), profile_type="family"):
        profile = cls.Partner.create(
            {"name": name, "is_profile": True, "profile_type": profile_type, "is_company": True}
        )
        for contact, role in members:
            cls.Member.create({"profile_id": profile.id, "contact_id": contact.id, "role": role})
        return profile

    def match(self, *pairs, exclude=()):
        return self.Filing._match(list(pairs), exclude=exclude)
