from odoo.tests import HttpCase, tagged


@tagged("post_install", "-at_install")
class TestProfileTour(HttpCase):
    def test_toggle_link_icon_on_profile(self):
        contact = self.env["res.partner"].create({"name": "Tour Client"})
        address = self.env["trail.email.address"].create(
            {"partner_id": contact.id, "email": "tour.client@example.com", "linked": False}
        )
        profile = self.env["res.partner"].create(
            {"name": "Tour Family", "is_profile": True, "is_company": True}
        )
        self.env["trail.profile.member"].create(
            {"profile_id": profile.id, "contact_id": contact.id, "role": "participant"}
        )
        self.start_tour(
            "/odoo/action-trail_email_integration.action_profiles",
            "trail_profile_link_toggle",
            login="admin",
        )
        address.invalidate_recordset()
        self.assertTrue(address.linked)
