from odoo.tests import HttpCase, tagged

from .screenshots import screenshots

PARAM = "trail_email_integration.google_client_secret"


@tagged("post_install", "-at_install", "trail_screenshots")
class TestSettingsTour(HttpCase):
    def test_secrets_are_write_only_in_the_browser(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param(PARAM, "GOCSPX-stored-secret-1234")
        with screenshots():
            self.start_tour(
                "/odoo/action-trail_email_integration.action_trail_settings",
                "trail_settings_secrets",
                login="admin",
            )
        self.assertEqual(params.get_param(PARAM), "typed-in-the-browser-5678")
