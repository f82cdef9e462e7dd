"""Company-managed mailboxes reached through an organisation connection.

A mailbox created by ``trail.org.connection`` is owned by its user, marked company-managed and
linked to the connection. Its provider acts for the user with the connection's credential: a
Gmail provider impersonating the user through the service account, or a Graph provider on
``/users/{id}`` with the tenant's shared app-only tokens. Everything else (backfill, scan,
sending) is the personal mailbox's code. Such a mailbox has no OAuth grant of its own, so
"reconnect" means fixing the organisation's consent, which the owner is not asked to do.
"""

import logging

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..core.provider import AuthorisationLost, ProviderError
from ..core.providers.gmail_org import delegated_provider
from ..core.providers.gmail_wire import UNITS_PER_MINUTE, GmailConfigError
from ..core.providers.graph import GraphProvider
from ..core.providers.graph_http import BUDGET_WINDOW_SECONDS, REQUESTS_PER_WINDOW
from ..core.providers.graph_wire import GraphConfigError
from ..core.providers.quota import QuotaBucket
from . import trail_mailbox_google, trail_mailbox_microsoft
from .trail_mailbox import NEEDS_RECONNECT

_logger = logging.getLogger(__name__)

# One Gmail provider per organisation mailbox and process: the API client is costly to build,
# and the service account's access token lives in it.
_PROVIDERS = {}


class TrailMailbox(models.Model):
    _inherit = "trail.mailbox"

    org_connection_id = fields.Many2one(
        "trail.org.connection",
        string="Organisation connection",
        readonly=True,
        index=True,
        ondelete="restrict",
        copy=False,
        groups="trail_email_integration.group_trail_admin",
    )
    org_managed = fields.Boolean(
        string="Organisation-managed",
        compute="_compute_org_managed",
        help="Reached through an organisation connection.",
    )

    def _compute_org_managed(self):
        for mailbox in self:
            mailbox.org_managed = bool(mailbox.sudo().org_connection_id)

    def _org_connection(self):
        return self.sudo().org_connection_id

    @api.depends("org_connection_id")
    def _compute_needs_attention(self):
        result = super()._compute_needs_attention()
        for mailbox in self:
            if mailbox.state == NEEDS_RECONNECT and mailbox._org_connection():
                # The owner cannot mend the organisation's grant; the connection shows it.
                mailbox.needs_attention = bool(mailbox.failed_count)
        return result

    def _org_line(self):
        return (
            self.env["trail.org.connection.user"]
            .sudo()
            .search([("mailbox_id", "=", self.id)], limit=1)
        )

    # ------------------------------------------------------------------ provider
    def _make_provider(self):
        connection = self._org_connection()
        if not connection:
            return super()._make_provider()
        if not connection.active:
            raise AuthorisationLost(f"the organisation connection {connection.name} is archived")
        try:
            if self.provider == "google":
                return self._org_google_provider(connection)
            return self._org_microsoft_provider(connection)
        except (GmailConfigError, GraphConfigError) as error:
            raise AuthorisationLost(
                f"organisation connection {connection.name}: {error}",
                reason=error.reason,
                **error.facts,
            ) from None

    def _org_bucket(self, buckets, units, window=None):
        bucket = buckets.get(self.id)
        if bucket is None:
            options = {"window": window} if window else {}
            bucket = buckets[self.id] = QuotaBucket(
                units,
                clock=type(self)._provider_clock,
                sleep=type(self)._provider_sleep,
                **options,
            )
        return bucket

    def _org_google_provider(self, connection):
        info = connection._google_info()
        endpoints = self._google_endpoints()
        units = int(self._google_param("quota_per_minute", UNITS_PER_MINUTE))
        bucket = self._org_bucket(trail_mailbox_google._BUCKETS, units)
        key = (
            self.env.cr.dbname,
            self.id,
            self.address,
            info["private_key_id"],
            endpoints,
            type(self)._provider_sleep,
        )
        cached = _PROVIDERS.get(key)
        if cached is not None and cached[0] is bucket:
            return cached[1]
        provider = delegated_provider(
            info,
            self.address,
            endpoints,
            quota=bucket,
            sleep=type(self)._provider_sleep,
            clock=type(self)._provider_clock,
        )
        for stale in [k for k in _PROVIDERS if k[:2] == key[:2]]:
            del _PROVIDERS[stale]
        _PROVIDERS[key] = (bucket, provider)
        return provider

    def _org_microsoft_provider(self, connection):
        line = self._org_line()
        budget = int(self._microsoft_param("request_budget", REQUESTS_PER_WINDOW))
        bucket = self._org_bucket(
            trail_mailbox_microsoft._BUCKETS, budget, window=BUDGET_WINDOW_SECONDS
        )
        record = connection.sudo()
        return GraphProvider(
            record.microsoft_client_id,
            None,  # the shared token source holds the credential
            record.microsoft_tenant,
            self._microsoft_endpoints(),
            user=line.external_id or self.address,
            token_source=connection._microsoft_tokens(),
            quota=bucket,
            sleep=type(self)._provider_sleep,
            clock=type(self)._provider_clock,
        )

    def _org_read_aliases(self):
        """Store the send-as addresses; capture starts without them if they cannot be read."""
        self.ensure_one()
        try:
            aliases = self._make_provider().identity().aliases
        except ProviderError as error:
            _logger.warning("Mailbox %s: aliases not read: %s", self.id, error)
            return
        self.sudo().aliases = "\n".join(aliases) or False

    # ------------------------------------------------------------------ states
    def _on_authorisation_lost(self, error):
        connection = self._org_connection()
        if connection and getattr(error, "reason", None):
            # In words for the connection's administrator, who is the one to act on it.
            error = AuthorisationLost(connection._explain(error, subject=self.address))
        return super()._on_authorisation_lost(error)

    def _describe_state(self):
        if self.state == NEEDS_RECONNECT and self._org_connection():
            return self.env._(
                "The organisation connection no longer gives access to this mailbox; an "
                "administrator puts it right from the connection. %s",
                self.last_error or "",
            )
        return super()._describe_state()

    def _notify_owner_to_reconnect(self):
        connection = self._org_connection()
        if not connection:
            return super()._notify_owner_to_reconnect()
        # The owner cannot fix an organisation's consent; the connection shows the problem.
        connection.write(
            {
                "state": "error",
                "status_message": self.env._(
                    "The mailbox of %(address)s lost access; once this is put right, check "
                    "access, then connect the chosen users again.\n%(error)s",
                    address=self.address,
                    error=self.last_error or "",
                ),
            }
        )
        return None

    def _check_can_connect(self):
        if self.filtered(lambda m: m._org_connection()):
            raise UserError(
                self.env._(
                    "This mailbox is reached through an organisation connection; it has no "
                    "sign-in of its own. An administrator manages it from the connection."
                )
            )
        return super()._check_can_connect()

    def action_resume(self):
        excluded = self.filtered(lambda m: m._org_connection() and not m._org_line().included)
        if excluded:
            raise UserError(
                self.env._(
                    "%s is excluded from its organisation connection; include the user there "
                    "and connect the chosen users again.",
                    ", ".join(excluded.mapped("address")),
                )
            )
        return super().action_resume()
