"""A Graph emulator wired to the addon's system parameters, for the Microsoft 365 tests.

What it is: :func:`configure_microsoft` points the addon at a started ``GraphEmulator`` (its
authority, Graph base and CA bundle), :func:`sign_in` plays the browser on the emulator's
sign-in page, and :class:`MicrosoftCase` gives each test a clean mailbox for Ada, connected
through the real flow when asked.

How it works: the emulator runs over TLS with its own CA, so every request a test makes goes
through ``make_session(ca_bundle)``, which also ignores ``REQUESTS_CA_BUNDLE``. Its
``auto_consent`` answers the sign-in page at once ("accept" or "cancel"), and the flow asks for
the answer by redirect, so the code is read from the ``Location`` header.
"""

from urllib.parse import parse_qsl, urlparse

from odoo.addons.trail_email_integration.core.providers.graph_wire import make_session
from odoo.addons.trail_email_integration.models import trail_mailbox_microsoft
from odoo.tests import TransactionCase

from emulators.graph import GraphEmulator

from .capture_common import MailboxSteps

ADA = "ada.adviser@firm.example"
ADA_NAME = "Ada Adviser"
CLIENT_ID = "trail-test-microsoft-client"
CLIENT_SECRET = "trail-test-microsoft-secret"
PARAM_PREFIX = "trail_email_integration.microsoft_"


def start_emulator(auto_consent="accept"):
    emulator = GraphEmulator(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        default_user=ADA,
        auto_consent=auto_consent,
    ).start()
    emulator.add_user(ADA, ADA_NAME)
    return emulator


def configure_microsoft(env, emulator, base_url="http://127.0.0.1:8069"):
    params = env["ir.config_parameter"].sudo()
    values = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "authority_base": emulator.authority_base,
        "graph_base": emulator.graph_base,
        "ca_bundle": emulator.ca_bundle,
    }
    for name, value in values.items():
        params.set_param(PARAM_PREFIX + name, value)
    params.set_param("web.base.url", base_url)


def sign_in(emulator, url):
    """Open the sign-in ``url`` as the browser would; return where it sends the user back."""
    session = make_session(emulator.ca_bundle)
    try:
        answer = session.get(url, allow_redirects=False, timeout=10)
    finally:
        session.close()
    if answer.status_code != 302:
        raise AssertionError(f"the sign-in page answered {answer.status_code}: {answer.text}")
    return answer.headers["Location"]


def callback_params(location):
    return dict(parse_qsl(urlparse(location).query, keep_blank_values=True))


class MicrosoftCase(MailboxSteps, TransactionCase):
    """A started emulator with Ada's Microsoft 365 mailbox; Odoo mailboxes connect to it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.emulator = start_emulator()
        cls.addClassCleanup(cls.emulator.stop)
        configure_microsoft(cls.env, cls.emulator)

    def setUp(self):
        super().setUp()
        # A clean Exchange mailbox for every test: the emulator outlives the test transactions.
        self.reset_user(ADA, ADA_NAME)
        self.emulator.identity.auto_consent = "accept"
        self.emulator.clear_failures()
        self.emulator.set_latency(0)
        self.emulator.set_throttle(requests_per_window=10_000, concurrency=4)
        self.emulator.reset_stats()
        trail_mailbox_microsoft._BUCKETS.clear()
        trail_mailbox_microsoft._ROTATED.clear()
        # Backoff and budget waits pass on the emulator's clock, not the test's.
        mailbox_class = type(self.env["trail.mailbox"])
        self.patch(mailbox_class, "_provider_sleep", self.emulator.clock.advance)
        self.patch(mailbox_class, "_provider_clock", self.emulator.clock.time)

    def reset_user(self, upn, name=None):
        """Give ``upn`` a new, empty mailbox in the emulator."""
        existing = self.emulator.find_user(upn)
        if existing is not None:
            existing.tenant.users.pop(existing.upn)
        return self.emulator.add_user(upn, name)

    def connect(self, mailbox):
        """Run the connect flow for ``mailbox`` up to Microsoft's answer; return its params."""
        url = mailbox.action_connect_microsoft()["url"]
        return callback_params(sign_in(self.emulator, url))

    def connected_mailbox(self, **values):
        mailbox = self.env["trail.mailbox"].create(
            {"provider": "microsoft", "address": ADA, **values}
        )
        mailbox._microsoft_finish_connect(self.connect(mailbox))
        return mailbox
