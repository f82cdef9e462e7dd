"""Mailbox entry points on the user's preferences."""

from odoo import api, fields, models


class ResUsers(models.Model):
    _inherit = "res.users"

    trail_mailbox_ids = fields.One2many("trail.mailbox", "user_id", string="Mailboxes")
    # Whether the preferences offer "Connect" or "Reconnect" for each provider.
    trail_has_google_mailbox = fields.Boolean(
        string="Has a Google mailbox", compute="_compute_trail_has_mailbox"
    )
    trail_has_microsoft_mailbox = fields.Boolean(
        string="Has a Microsoft 365 mailbox", compute="_compute_trail_has_mailbox"
    )

    @api.model_create_multi
    def create(self, vals_list):
        users = super().create(vals_list)
        self.env.registry.clear_cache()  # internal users' addresses, see trail.filing
        return users

    def write(self, vals):
        result = super().write(vals)
        if {"active", "share", "groups_id", "partner_id", "email"} & set(vals):
            self.env.registry.clear_cache()
        return result

    @api.depends("trail_mailbox_ids.provider", "trail_mailbox_ids.state")
    def _compute_trail_has_mailbox(self):
        """A personal mailbox of the provider that was connected once, as the preferences'
        buttons connect; one still waiting for its first sign-in does not count."""
        for user in self:
            providers = {
                mailbox.provider
                for mailbox in user.sudo().trail_mailbox_ids
                if mailbox.owner_type == "personal" and mailbox.state != "connecting"
            }
            user.trail_has_google_mailbox = "google" in providers
            user.trail_has_microsoft_mailbox = "microsoft" in providers

    @property
    def SELF_READABLE_FIELDS(self):
        return [
            *super().SELF_READABLE_FIELDS,
            "trail_mailbox_ids",
            "trail_has_google_mailbox",
            "trail_has_microsoft_mailbox",
        ]

    def action_trail_connect_google(self):
        self.ensure_one()
        return self.env["trail.mailbox"].with_user(self).action_connect_my_google()

    def action_trail_my_never_capture(self):
        """The current user's own never-capture list, kept through its own access rules."""
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "trail_email_integration.action_trail_capture_block_mine"
        )
        return action
