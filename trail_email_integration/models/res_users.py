"""Mailbox entry points on the user's preferences."""

from odoo import api, fields, models


class ResUsers(models.Model):
    _inherit = "res.users"

    trail_mailbox_ids = fields.One2many("trail.mailbox", "user_id", string="Mailboxes")

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

    @property
    def SELF_READABLE_FIELDS(self):
        return [*super().SELF_READABLE_FIELDS, "trail_mailbox_ids"]

    def action_trail_connect_google(self):
        self.ensure_one()
        return self.env["trail.mailbox"].with_user(self).action_connect_my_google()

    def action_trail_my_never_capture(self):
        """The current user's own never-capture list, kept through its own access rules."""
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "trail_email_integration.action_trail_capture_block_mine"
        )
        return action
