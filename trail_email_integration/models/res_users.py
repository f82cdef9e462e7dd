"""Mailbox entry points on the user's preferences."""

from odoo import fields, models


class ResUsers(models.Model):
    _inherit = "res.users"

    trail_mailbox_ids = fields.One2many("trail.mailbox", "user_id", string="Mailboxes")

    @property
    def SELF_READABLE_FIELDS(self):
        return [*super().SELF_READABLE_FIELDS, "trail_mailbox_ids"]

    def action_trail_connect_google(self):
        self.ensure_one()
        return self.env["trail.mailbox"].with_user(self).action_connect_my_google()
