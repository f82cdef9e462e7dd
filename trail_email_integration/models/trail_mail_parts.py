"""The small records around a captured email: participants, locations, assignments, failures."""

from odoo import fields, models

from .trail_mail import HEADERS


class TrailMailParticipant(models.Model):
    _name = "trail.mail.participant"
    _description = "Captured email participant"
    _order = "mail_id, id"
    _rec_name = "email"

    mail_id = fields.Many2one("trail.mail", required=True, index=True, ondelete="cascade")
    header = fields.Selection(HEADERS, required=True)
    email = fields.Char(required=True, index=True, help="Normalised address.")
    name = fields.Char(help="Display name as written in the header.")


class TrailMailLocation(models.Model):
    """Where a captured email was seen: a mailbox and the provider's id for it there."""

    _name = "trail.mail.location"
    _description = "Captured email location"
    _order = "mail_id, id"
    _rec_name = "provider_id"

    mail_id = fields.Many2one("trail.mail", required=True, index=True, ondelete="cascade")
    mailbox_id = fields.Many2one("trail.mailbox", required=True, index=True, ondelete="cascade")
    provider_id = fields.Char(required=True, help="The message's id at the provider.")
    thread_key = fields.Char()
    labels = fields.Char(string="Folders / labels")
    deleted_upstream = fields.Boolean(
        help="Deleted in this mailbox at the provider; the copy here is kept."
    )

    _sql_constraints = [
        (
            "mailbox_provider_uniq",
            "unique(mailbox_id, provider_id)",
            "This message is already captured from this mailbox.",
        ),
    ]


class TrailMailAssignment(models.Model):
    """A filing decision taken by hand, with who took it and when."""

    _name = "trail.mail.assignment"
    _description = "Manual filing of a captured email"
    _order = "mail_id, id"

    mail_id = fields.Many2one("trail.mail", required=True, index=True, ondelete="cascade")
    profile_id = fields.Many2one(
        "res.partner", required=True, ondelete="cascade", domain=[("is_profile", "=", True)]
    )
    action = fields.Selection([("assign", "Assigned"), ("unassign", "Unassigned")], required=True)
    user_id = fields.Many2one(
        "res.users", string="By", default=lambda self: self.env.user, readonly=True
    )
    create_date = fields.Datetime(string="On", readonly=True)


class TrailMailFailure(models.Model):
    """A message the provider would not give us; listed so it can be retried."""

    _name = "trail.mail.failure"
    _description = "Message that could not be captured"
    _order = "create_date desc, id desc"
    _rec_name = "provider_id"

    mailbox_id = fields.Many2one("trail.mailbox", required=True, index=True, ondelete="cascade")
    provider_id = fields.Char(string="Message id at the provider", required=True, index=True)
    error = fields.Text(string="Technical details", required=True)
    attempts = fields.Integer(default=1)
    resolved = fields.Boolean(
        string="Settled", index=True, help="Captured since, or dismissed: nothing left to retry."
    )

    _sql_constraints = [
        (
            "mailbox_provider_uniq",
            "unique(mailbox_id, provider_id)",
            "This failure is already recorded.",
        ),
    ]
