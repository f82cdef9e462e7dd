"""Microsoft 365 mailboxes: the OAuth connection and the Graph provider behind a mailbox.

What it is
    The Odoo side of ``core/providers/graph*.py``: the connect flow, where the token cache is
    kept, and :meth:`TrailMailbox._make_provider` for ``provider == "microsoft"``.

How it works
    ``action_connect_microsoft`` asks msal for an auth-code flow (PKCE, nonce) whose ``state``
    is our own HMAC-signed token naming the mailbox and the user; the flow dict is kept on the
    mailbox (an administrators-only field) and the user goes to Microsoft's sign-in page.
    Microsoft comes back to ``/trail_email/microsoft/callback`` (controllers/microsoft.py),
    which checks the signature and calls :meth:`_microsoft_finish_connect`; msal then checks
    its own state and redeems the code. What is stored is msal's serialized token cache.

    Microsoft rotates the refresh token on each refresh, and the provider hands every new
    cache to ``on_cache``, which writes it to the mailbox. The engine runs each step in a
    savepoint, so a step that refreshed and then failed would roll that write back; the new
    cache is also remembered in memory and written again when the next provider is made.

    Every endpoint is a system parameter (``trail_email_integration.microsoft_*``), so the
    same code talks to Microsoft in production and to the local emulator in tests and the
    demo: ``client_id``, ``client_secret``, ``tenant`` (``common`` by default,
    ``organizations`` or a tenant id), ``authority_base``, ``graph_base``, ``ca_bundle`` and
    ``request_budget`` (Graph requests per mailbox per 10 minutes).

Use
    The "Connect Microsoft 365" buttons on the mailbox form and in the user's preferences.

Caveats
    One sign-in at a time per mailbox: starting a second one replaces the stored flow, and the
    first one's answer is then refused. The request budget is counted per process.
"""

import json
import logging

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..core.provider import ProviderError, TemporaryError
from ..core.providers.graph import GraphConfigError, GraphEndpoints, GraphProvider
from ..core.providers.graph_http import BUDGET_WINDOW_SECONDS, REQUESTS_PER_WINDOW
from ..core.providers.graph_oauth import complete_auth_code_flow, initiate_auth_code_flow
from ..core.providers.quota import QuotaBucket

_logger = logging.getLogger(__name__)

PARAM_PREFIX = "trail_email_integration.microsoft_"
STATE_SCOPE = "trail_email_integration.microsoft_oauth"
CALLBACK_PATH = "/trail_email/microsoft/callback"
DEFAULT_TENANT = "common"
# Microsoft answers by redirect, not msal's default form post: Odoo's session cookie has no
# SameSite attribute, browsers then treat it as Lax and leave it off a cross-site POST, and
# the callback, which needs the signed-in user, would see a visitor.
RESPONSE_MODE = "query"

# One request budget per mailbox and process, so successive steps share Graph's mailbox limit.
_BUCKETS = {}
# Per mailbox: (the stored cache a rollback returns to, the newest cache msal handed over).
_ROTATED = {}


class TrailMailbox(models.Model):
    _inherit = "trail.mailbox"

    microsoft_token_cache = fields.Text(
        string="Microsoft token cache", groups="base.group_system", copy=False, exportable=False
    )
    microsoft_auth_flow = fields.Text(
        string="Microsoft sign-in under way",
        groups="base.group_system",
        copy=False,
        exportable=False,
    )

    # ------------------------------------------------------------------ configuration
    @api.model
    def _microsoft_param(self, name, default=""):
        return self.env["ir.config_parameter"].sudo().get_param(PARAM_PREFIX + name) or default

    @api.model
    def _microsoft_endpoints(self):
        defaults = GraphEndpoints()
        return GraphEndpoints(
            authority_base=self._microsoft_param("authority_base", defaults.authority_base),
            graph_base=self._microsoft_param("graph_base", defaults.graph_base),
            ca_bundle=self._microsoft_param("ca_bundle") or None,
        )

    @api.model
    def _microsoft_tenant(self):
        return self._microsoft_param("tenant", DEFAULT_TENANT)

    @api.model
    def _microsoft_client(self):
        client_id = self._microsoft_param("client_id")
        secret = self._microsoft_param("client_secret")
        key = self._microsoft_param("certificate_key")
        thumbprint = self._microsoft_param("certificate_thumbprint")
        if key and thumbprint:
            # msal signs a client assertion with the certificate instead of sending a secret.
            secret = {"private_key": key, "thumbprint": thumbprint}
        if not client_id or not secret:
            raise UserError(
                self.env._(
                    "Microsoft 365 is not configured: an administrator must set the application "
                    "(client) id and secret (system parameters "
                    "trail_email_integration.microsoft_client_id and microsoft_client_secret)."
                )
            )
        return client_id, secret

    @api.model
    def _microsoft_redirect_uri(self):
        return self._callback_url(CALLBACK_PATH)

    # ------------------------------------------------------------------ provider
    def _make_provider(self):
        if self.provider != "microsoft":
            return super()._make_provider()
        client_id, secret = self._microsoft_client()
        record = self.sudo()
        base, cache = record._microsoft_live_cache()

        def keep(serialized):
            _ROTATED[record.id] = (base, serialized)
            record.write({"microsoft_token_cache": serialized})

        bucket = _BUCKETS.get(self.id)
        if bucket is None:
            budget = int(self._microsoft_param("request_budget", REQUESTS_PER_WINDOW))
            bucket = _BUCKETS[self.id] = QuotaBucket(
                budget,
                window=BUDGET_WINDOW_SECONDS,
                clock=type(self)._provider_clock,
                sleep=type(self)._provider_sleep,
            )
        # An empty cache, not None: the provider then says "reconnect" (AuthorisationLost)
        # instead of refusing to be built.
        return GraphProvider(
            client_id,
            secret,
            self._microsoft_tenant(),
            self._microsoft_endpoints(),
            token_cache=cache or "",
            on_cache=keep,
            quota=bucket,
            sleep=type(self)._provider_sleep,
            clock=type(self)._provider_clock,
        )

    def _microsoft_live_cache(self):
        """Return the stored token cache a rollback returns to, and the newest one to use."""
        stored = self.microsoft_token_cache or ""
        base, rotated = _ROTATED.get(self.id, (None, None))
        if rotated and base == stored and rotated != stored:
            # The step that received this cache was rolled back; its refresh token replaced
            # the stored one at Microsoft, so the stored one is about to stop working.
            _logger.warning("Mailbox %s: storing again a token cache lost in a rollback", self.id)
            self.write({"microsoft_token_cache": rotated})
            return base, rotated
        return stored, stored

    # ------------------------------------------------------------------ connect
    def _microsoft_state(self):
        return self._oauth_state(STATE_SCOPE)

    @api.model
    def _microsoft_check_state(self, state):
        return self._oauth_check_state(STATE_SCOPE, state)

    def action_connect_microsoft(self):
        self.ensure_one()
        self._check_can_connect()
        client_id, secret = self._microsoft_client()
        try:
            flow = initiate_auth_code_flow(
                client_id,
                secret,
                self._microsoft_tenant(),
                self._microsoft_redirect_uri(),
                self._microsoft_state(),
                endpoints=self._microsoft_endpoints(),
                login_hint=self.address or None,
                response_mode=RESPONSE_MODE,
            )
        except (GraphConfigError, TemporaryError) as error:
            raise UserError(
                self.env._("Microsoft 365 sign-in could not start: %s", error)
            ) from error
        self.sudo().microsoft_auth_flow = json.dumps(flow)
        return {"type": "ir.actions.act_url", "url": flow["auth_uri"], "target": "self"}

    def _microsoft_fail_connect(self, message):
        self.sudo().write({"last_error": message})
        _logger.warning("Mailbox %s: Microsoft 365 connection failed: %s", self.id, message)

    def _microsoft_finish_connect(self, params):
        """Redeem the sign-in answer ``params`` for a token cache and start capturing."""
        self.ensure_one()
        client_id, secret = self._microsoft_client()
        record = self.sudo()
        flow = json.loads(record.microsoft_auth_flow or "{}")
        # A code is redeemed once: whatever happens next, a new attempt starts a new sign-in.
        record.microsoft_auth_flow = False
        grant = complete_auth_code_flow(
            client_id,
            secret,
            self._microsoft_tenant(),
            flow,
            params,
            endpoints=self._microsoft_endpoints(),
        )
        self._check_connect_address(grant.address, "Microsoft 365")
        if grant.missing_scopes:
            raise UserError(
                self.env._(
                    "Microsoft 365 did not grant every permission the mailbox needs (%s). "
                    "Connect again and accept all of them, or ask your Microsoft administrator.",
                    ", ".join(grant.missing_scopes),
                )
            )
        _ROTATED.pop(self.id, None)
        self._store_connection(
            {"address": grant.address, "microsoft_token_cache": grant.token_cache}
        )
        try:
            record.aliases = "\n".join(self._make_provider().identity().aliases) or False
        except ProviderError as error:
            # Send-as aliases only refine the direction of mail; capture can start without.
            _logger.warning("Mailbox %s: aliases not read from Microsoft: %s", self.id, error)
        self._announce_connected("Microsoft 365")

    @api.model
    def action_connect_my_microsoft(self):
        """From the user's preferences: find or create their Microsoft 365 mailbox, connect it."""
        mailbox = self._connect_my("microsoft")
        return mailbox.action_connect_microsoft()


class ResUsers(models.Model):
    _inherit = "res.users"

    def action_trail_connect_microsoft(self):
        self.ensure_one()
        return self.env["trail.mailbox"].with_user(self).action_connect_my_microsoft()
