from odoo.tests import HttpCase, tagged

from .screenshots import screenshots

PARAM = "trail_email_integration.google_client_secret"
SEND_SCOPE = "https://www.googleapis.com/auth/gmail.send"


@tagged("post_install", "-at_install", "trail_screenshots")
class TestSettingsTour(HttpCase):
    def test_secrets_are_write_only_in_the_browser(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param(PARAM, "GOCSPX-stored-secret-1234")
        # The screen also says how each organisation connection stands (checked in the tour).
        self.env["trail.org.connection"].create(
            {"name": "Firm Workspace", "provider": "google", "domains": "firm.example"}
        ).write(
            {
                "state": "consent_missing",
                "missing_scopes": SEND_SCOPE,
                "status_message": f"Domain-wide delegation is missing for these scopes: "
                f"{SEND_SCOPE}.",
            }
        )
        with screenshots():
            self.start_tour(
                "/odoo/action-trail_email_integration.action_trail_settings",
                "trail_settings_secrets",
                login="admin",
            )
        self.assertEqual(params.get_param(PARAM), "typed-in-the-browser-5678")
