from odoo.tests import TransactionCase, tagged


@tagged("post_install", "-at_install")
class TestInstall(TransactionCase):
    def test_module_installed(self):
        module = self.env["ir.module.module"].search([("name", "=", "trail_email_integration")])
        self.assertEqual(module.state, "installed")
        self.assertEqual(module.installed_version, "18.0.1.0.0")

    def test_menu_root_exists(self):
        menu = self.env.ref("trail_email_integration.menu_root")
        self.assertEqual(menu.name, "Email")
