"""Google mailboxes: the OAuth connection and the Gmail provider behind a mailbox.

The connect flow: ``action_connect_google`` sends the user to Google's consent screen with a
signed ``state``; Google comes back to ``/trail_email/google/callback`` (controllers/google.py),
which calls :meth:`_google_finish_connect`. Every endpoint is a system parameter, so the same code
talks to Google in production and to the local emulator in tests and the demo.
"""

import logging
import time

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..core.providers.gmail import GmailEndpoints, GmailProvider
from ..core.providers.gmail_oauth import authorization_url, exchange_code, read_identity
from ..core.providers.gmail_wire import UNITS_PER_MINUTE
from ..core.providers.quota import QuotaBucket

_logger = logging.getLogger(__name__)

PARAM_PREFIX = "trail_email_integration.google_"
STATE_SCOPE = "trail_email_integration.google_oauth"
CALLBACK_PATH = "/trail_email/google/callback"

# One quota bucket per mailbox and process, so successive steps share Gmail's per-user budget.
_BUCKETS = {}
# One provider per mailbox and process, reused by successive steps: building the Gmail API
# client is costly, and its HTTP connection is worth keeping. Keyed by everything it depends on.
_PROVIDERS = {}


class TrailMailbox(models.Model):
    _inherit = "trail.mailbox"

    # Seams for the tests: backoff and quota waits on an emulator's clock instead of real time.
    _provider_sleep = staticmethod(time.sleep)
    _provider_clock = staticmethod(time.monotonic)

    google_refresh_token = fields.Char(
        string="Google refresh token", groups="base.group_system", copy=False, exportable=False
    )
    google_access_token = fields.Char(
        string="Google access token", groups="base.group_system", copy=False, exportable=False
    )
    google_token_expiry = fields.Datetime(
        string="Google token expiry", groups="base.group_system", copy=False, exportable=False
    )

    # ------------------------------------------------------------------ configuration
    @api.model
    def _google_param(self, name, default=""):
        return self.env["ir.config_parameter"].sudo().get_param(PARAM_PREFIX + name) or default

    @api.model
    def _google_endpoints(self):
        defaults = GmailEndpoints()
        return GmailEndpoints(
            auth_uri=self._google_param("auth_uri", defaults.auth_uri),
            token_uri=self._google_param("token_uri", defaults.token_uri),
            revoke_uri=self._google_param("revoke_uri", defaults.revoke_uri),
            api_base=self._google_param("api_base", defaults.api_base),
            batch_uri=self._google_param("batch_uri", defaults.batch_uri),
        )

    @api.model
    def _google_client(self):
        client_id = self._google_param("client_id")
        secret = self._google_param("client_secret")
        if not client_id or not secret:
            raise UserError(
                self.env._(
                    "Google is not configured: an administrator must set the OAuth client id "
                    "and secret (system parameters "
                    "trail_email_integration.google_client_id and google_client_secret)."
                )
            )
        return client_id, secret

    @api.model
    def _google_redirect_uri(self):
        return self._callback_url(CALLBACK_PATH)

    # ------------------------------------------------------------------ provider
    def _make_provider(self):
        if self.provider != "google":
            return super()._make_provider()
        client_id, secret = self._google_client()
        record = self.sudo()
        bucket = _BUCKETS.get(self.id)
        if bucket is None:
            units = int(self._google_param("quota_per_minute", UNITS_PER_MINUTE))
            bucket = _BUCKETS[self.id] = QuotaBucket(
                units, clock=type(self)._provider_clock, sleep=type(self)._provider_sleep
            )
        endpoints = self._google_endpoints()
        key = (
            self.env.cr.dbname,
            self.id,
            client_id,
            secret,
            record.google_refresh_token,
            endpoints,
        )
        cached = _PROVIDERS.get(key)
        if cached is not None and cached[0] is bucket:
            provider, owner = cached[1], cached[2]
        else:
            # New tokens are stored through whichever transaction uses the provider now.
            owner = {}
            provider = GmailProvider(
                client_id,
                secret,
                record.google_refresh_token,
                endpoints,
                access_token=record.google_access_token or None,
                expiry=record.google_token_expiry or None,
                # Looked up at call time: the owner changes with each transaction.
                on_token=lambda token, expiry: owner["record"]._google_store_token(  # noqa: PLW0108
                    token, expiry
                ),
                quota=bucket,
                sleep=type(self)._provider_sleep,
                clock=type(self)._provider_clock,
            )
            for stale in [k for k in _PROVIDERS if k[:2] == key[:2]]:
                del _PROVIDERS[stale]
            _PROVIDERS[key] = (bucket, provider, owner)
        owner["record"] = record
        return provider

    def _google_store_token(self, token, expiry):
        self.sudo().write({"google_access_token": token, "google_token_expiry": expiry})

    # ------------------------------------------------------------------ connect
    def _google_state(self):
        return self._oauth_state(STATE_SCOPE)

    @api.model
    def _google_check_state(self, state):
        return self._oauth_check_state(STATE_SCOPE, state)

    def action_connect_google(self):
        self.ensure_one()
        self._check_can_connect()
        client_id, _secret = self._google_client()
        url = authorization_url(
            client_id,
            self._google_redirect_uri(),
            self._google_state(),
            login_hint=self.address or None,
            endpoints=self._google_endpoints(),
        )
        return {"type": "ir.actions.act_url", "url": url, "target": "self"}

    def _google_fail_connect(self, message):
        self.sudo().write({"last_error": message})
        _logger.warning("Mailbox %s: Google connection failed: %s", self.id, message)

    def _google_finish_connect(self, code):
        """Store the grant Google gave for ``code`` and start capturing."""
        self.ensure_one()
        client_id, secret = self._google_client()
        endpoints = self._google_endpoints()
        grant = exchange_code(
            client_id, secret, code, self._google_redirect_uri(), endpoints=endpoints
        )
        identity = read_identity(grant, client_id, secret, endpoints=endpoints)
        self._check_connect_address(identity.address, "Google")
        self._store_connection(
            {
                "address": identity.address,
                "aliases": "\n".join(identity.aliases) or False,
                "google_refresh_token": grant.refresh_token,
                "google_access_token": grant.access_token,
                "google_token_expiry": grant.expiry,
            }
        )
        self._announce_connected("Google")

    @api.model
    def action_connect_my_google(self):
        """From the user's preferences: find or create their Google mailbox, then connect it."""
        mailbox = self._connect_my("google")
        return mailbox.action_connect_google()
