"""A Gmail emulator wired to the addon's system parameters, for the Google tests."""

from odoo.addons.trail_email_integration.core.providers.gmail import GmailEndpoints
from odoo.addons.trail_email_integration.models import trail_mailbox_google
from odoo.tests import TransactionCase

from emulators.gmail import GmailEmulator

from .capture_common import MailboxSteps

ADA = "ada.adviser@firm.example"
CLIENT_ID = "trail-test-client"
CLIENT_SECRET = "trail-test-secret"


def configure_google(env, emulator, base_url="http://127.0.0.1:8069"):
    endpoints = GmailEndpoints.at(emulator.base_url)
    params = env["ir.config_parameter"].sudo()
    for name in ("auth_uri", "token_uri", "revoke_uri", "api_base", "batch_uri"):
        params.set_param(f"trail_email_integration.google_{name}", getattr(endpoints, name))
    params.set_param("trail_email_integration.google_client_id", CLIENT_ID)
    params.set_param("trail_email_integration.google_client_secret", CLIENT_SECRET)
    params.set_param("web.base.url", base_url)


class GoogleCase(MailboxSteps, TransactionCase):
    """A started emulator with Ada's mailbox, and an Odoo mailbox holding her refresh token."""

    auto_consent = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.emulator = GmailEmulator(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            default_user=ADA,
            auto_consent=cls.auto_consent,
        ).start()
        cls.addClassCleanup(cls.emulator.stop)
        cls.emulator.add_user(ADA, "Ada Adviser", aliases=("ada@firm.example",))
        configure_google(cls.env, cls.emulator)

    def setUp(self):
        super().setUp()
        # A clean Gmail mailbox for every test: the emulator outlives the test transactions.
        self.emulator.mailboxes.pop(ADA, None)
        self.emulator.add_user(ADA, "Ada Adviser", aliases=("ada@firm.example",))
        self.emulator.clear_failures()
        self.emulator.set_quota(units_per_minute=15000)
        trail_mailbox_google._BUCKETS.clear()
        trail_mailbox_google._PROVIDERS.clear()
        # Backoff waits pass on the emulator's clock, not the test's.
        mailbox_class = type(self.env["trail.mailbox"])
        self.patch(mailbox_class, "_provider_sleep", self.emulator.clock.advance)
        self.patch(mailbox_class, "_provider_clock", self.emulator.clock.time)

    def connected_mailbox(self, **values):
        tokens = self.emulator.issue_tokens(ADA)
        return self.env["trail.mailbox"].create(
            {
                "provider": "google",
                "address": ADA,
                "state": "backfilling",
                "google_refresh_token": tokens["refresh_token"],
                **values,
            }
        )
