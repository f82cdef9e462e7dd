"""Settings → Email integration: provider credentials, sync, capture rules and visibility.

What it is
    The settings screen over the addon's system parameters. Plain values (client ids,
    tenant, intervals, switches) are ordinary ``config_parameter`` fields.

How it works
    Secrets (client secrets, the certificate's private key) are write-only: the screen always
    shows them empty, with a hint that says whether one is stored and how it ends; a value
    typed in replaces the stored one, and an empty field leaves it as it is. They are not
    stored on the settings record, only in their system parameter. *Clear* buttons
    remove a stored secret. Saving the scan interval also sets the scan cron's interval.

Caveats
    The screen belongs to Settings, so it needs the Settings administrator right; the
    Email integration administrators keep the never-capture list and the mailboxes from the
    Email menu.
"""

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from .trail_mailbox import (
    DEFAULT_BACKFILL_YEARS,
    DEFAULT_SCAN_MINUTES,
    MAX_BACKFILL_YEARS,
    MIN_BACKFILL_YEARS,
    PARAM_BACKFILL_YEARS,
    PARAM_SCAN_MINUTES,
)

PREFIX = "trail_email_integration."
# Settings field -> system parameter, for the secrets that are never shown back.
SECRETS = {
    "trail_google_client_secret": PREFIX + "google_client_secret",
    "trail_microsoft_client_secret": PREFIX + "microsoft_client_secret",
    "trail_microsoft_certificate_key": PREFIX + "microsoft_certificate_key",
}
SHOWN_TAIL = 4  # characters of a stored secret shown in its hint


def secret_hint(env, value, show_tail=True):
    if not value:
        return env._("Not set")
    if show_tail and len(value) > 3 * SHOWN_TAIL:
        return env._("Set, ending in …%s", value[-SHOWN_TAIL:])
    return env._("Set")


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    # Google
    trail_google_client_id = fields.Char(
        string="Google client id", config_parameter=PREFIX + "google_client_id"
    )
    trail_google_client_secret = fields.Char(
        string="Google client secret",
        compute="_compute_trail_secrets",
        inverse="_inverse_trail_secrets",
    )
    trail_google_client_secret_hint = fields.Char(compute="_compute_trail_secrets")
    trail_google_client_secret_set = fields.Boolean(compute="_compute_trail_secrets")
    trail_google_redirect_uri = fields.Char(
        string="Google redirect URI", compute="_compute_trail_redirect_uris"
    )

    # Microsoft
    trail_microsoft_tenant = fields.Char(
        string="Microsoft tenant",
        config_parameter=PREFIX + "microsoft_tenant",
        default="common",
        help="common, organizations, or your directory (tenant) id.",
    )
    trail_microsoft_client_id = fields.Char(
        string="Microsoft application (client) id", config_parameter=PREFIX + "microsoft_client_id"
    )
    trail_microsoft_client_secret = fields.Char(
        string="Microsoft client secret",
        compute="_compute_trail_secrets",
        inverse="_inverse_trail_secrets",
    )
    trail_microsoft_client_secret_hint = fields.Char(compute="_compute_trail_secrets")
    trail_microsoft_client_secret_set = fields.Boolean(compute="_compute_trail_secrets")
    trail_microsoft_certificate_thumbprint = fields.Char(
        string="Certificate thumbprint",
        config_parameter=PREFIX + "microsoft_certificate_thumbprint",
        help="SHA-1 thumbprint of the certificate uploaded to the Entra application.",
    )
    trail_microsoft_certificate_key = fields.Text(
        string="Certificate private key",
        compute="_compute_trail_secrets",
        inverse="_inverse_trail_secrets",
        help="PEM private key of that certificate; used instead of the client secret.",
    )
    trail_microsoft_certificate_key_hint = fields.Char(compute="_compute_trail_secrets")
    trail_microsoft_certificate_key_set = fields.Boolean(compute="_compute_trail_secrets")
    trail_microsoft_redirect_uri = fields.Char(
        string="Microsoft redirect URI", compute="_compute_trail_redirect_uris"
    )

    # Sync
    trail_scan_interval_minutes = fields.Integer(
        string="Scan interval (minutes)",
        config_parameter=PARAM_SCAN_MINUTES,
        default=DEFAULT_SCAN_MINUTES,
    )
    trail_backfill_years = fields.Integer(
        string="History to import (years)",
        config_parameter=PARAM_BACKFILL_YEARS,
        default=DEFAULT_BACKFILL_YEARS,
    )

    # Capture and visibility
    trail_capture_internal = fields.Boolean(
        string="Capture internal mail",
        config_parameter=PREFIX + "capture_internal",
        help="Capture mail where every party is a colleague. Off by default.",
    )
    group_trail_all_mail = fields.Boolean(
        string="Administrators see everyone's unfiled mail",
        implied_group="trail_email_integration.group_trail_all_mail",
        group="trail_email_integration.group_trail_admin",
    )

    @api.depends("company_id")
    def _compute_trail_secrets(self):
        params = self.env["ir.config_parameter"].sudo()
        for settings in self:
            for name, param in SECRETS.items():
                value = params.get_param(param)
                settings[name] = False
                settings[name + "_set"] = bool(value)
                settings[name + "_hint"] = secret_hint(
                    self.env,
                    value,
                    show_tail=name != "trail_microsoft_certificate_key",
                )

    @api.depends("company_id")
    def _compute_trail_redirect_uris(self):
        """The callback addresses the providers must know, built from ``web.base.url`` as the
        sign-in builds them, so that what an administrator copies is what the sign-in sends."""
        Mailbox = self.env["trail.mailbox"]
        for settings in self:
            settings.trail_google_redirect_uri = Mailbox._google_redirect_uri()
            settings.trail_microsoft_redirect_uri = Mailbox._microsoft_redirect_uri()

    def _inverse_trail_secrets(self):
        # Only a value typed in replaces the stored secret; nothing is kept on the settings.
        params = self.env["ir.config_parameter"].sudo()
        for settings in self:
            for name, param in SECRETS.items():
                value = (settings[name] or "").strip()
                if value:
                    params.set_param(param, value)

    @api.constrains("trail_scan_interval_minutes", "trail_backfill_years")
    def _check_trail_sync(self):
        # Odoo stores 0 in an integer parameter as "no value", which would bring the default
        # back without a word; so 0 is refused here like any other value out of range.
        for settings in self:
            if settings.trail_scan_interval_minutes < 1:
                raise ValidationError(self.env._("The scan interval must be at least one minute."))
            if not MIN_BACKFILL_YEARS <= settings.trail_backfill_years <= MAX_BACKFILL_YEARS:
                raise ValidationError(
                    self.env._(
                        "The history to import must be between %(low)s and %(high)s years.",
                        low=MIN_BACKFILL_YEARS,
                        high=MAX_BACKFILL_YEARS,
                    )
                )

    def set_values(self):
        result = super().set_values()
        cron = self.env.ref("trail_email_integration.cron_scan", raise_if_not_found=False)
        minutes = self.trail_scan_interval_minutes
        if cron and minutes and (cron.interval_number, cron.interval_type) != (minutes, "minutes"):
            cron.sudo().write({"interval_number": minutes, "interval_type": "minutes"})
        return result

    def _trail_clear_secret(self, name):
        self.env["ir.config_parameter"].sudo().set_param(SECRETS[name], False)
        return {"type": "ir.actions.client", "tag": "reload"}

    def action_trail_clear_google_secret(self):
        return self._trail_clear_secret("trail_google_client_secret")

    def action_trail_clear_microsoft_secret(self):
        return self._trail_clear_secret("trail_microsoft_client_secret")

    def action_trail_clear_microsoft_certificate(self):
        return self._trail_clear_secret("trail_microsoft_certificate_key")

    # Organisation mode lives on its own records (trail.org.connection); the settings page shows
    # how each connection stands, in words, so a missing consent is seen where it is set up.
    trail_org_connection_count = fields.Integer(compute="_compute_trail_org_status")
    trail_org_status = fields.Text(
        string="Organisation connections", compute="_compute_trail_org_status"
    )

    # The screen opens on a new record through onchange, which computes only the fields whose
    # dependencies changed; company_id always gets its default there, so this runs each time.
    @api.depends("company_id")
    def _compute_trail_org_status(self):
        """One paragraph per active connection of the user's companies: its state in words,
        the missing scopes or permissions, and what the last check said went wrong."""
        # Settings administrators may not be Email integration administrators; the status
        # lines hold no secret.
        connections = (
            self.env["trail.org.connection"]
            .sudo()
            .search([("company_id", "in", self.env.companies.ids)])
        )
        paragraphs = [connection._settings_status() for connection in connections]
        for settings in self:
            settings.trail_org_connection_count = len(connections)
            settings.trail_org_status = "\n\n".join(paragraphs) or self.env._(
                "No organisation connection yet."
            )

    def action_trail_org_connections(self):
        return self.env["ir.actions.act_window"]._for_xml_id(
            "trail_email_integration.action_org_connections"
        )

    def action_trail_company_never_capture(self):
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "trail_email_integration.action_trail_capture_block_company"
        )
        return action
