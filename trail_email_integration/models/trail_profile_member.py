"""Membership of a contact in a profile, with the role that decides whether mail is filed."""

from odoo import api, fields, models

FILING_ROLES = ("participant", "non_dependent", "dependent")
ROLES = [
    ("participant", "Participant"),
    ("non_dependent", "Non-dependent"),
    ("dependent", "Dependent"),
    ("professional_adviser", "Professional adviser"),
    ("accountant", "Accountant"),
    ("solicitor", "Solicitor"),
    ("referrer", "Referrer"),
    ("other", "Other"),
]


class TrailProfileMember(models.Model):
    _name = "trail.profile.member"
    _description = "Profile membership"
    _order = "profile_id, sequence, id"
    _rec_name = "contact_id"

    profile_id = fields.Many2one(
        "res.partner",
        required=True,
        index=True,
        ondelete="cascade",
        domain=[("is_profile", "=", True)],
    )
    contact_id = fields.Many2one("res.partner", required=True, index=True, ondelete="cascade")
    role = fields.Selection(ROLES, required=True, default="participant", index=True)
    files_mail = fields.Boolean(
        compute="_compute_files_mail",
        store=True,
        help="Mail to or from this contact's linked addresses is filed into the profile.",
    )
    sequence = fields.Integer(default=10)
    contact_address_ids = fields.One2many(
        related="contact_id.email_address_ids", string="Addresses", readonly=False
    )

    _sql_constraints = [
        (
            "profile_contact_uniq",
            "unique(profile_id, contact_id)",
            "A contact can have only one role in a profile.",
        ),
    ]

    @api.depends("role")
    def _compute_files_mail(self):
        for member in self:
            member.files_mail = member.role in FILING_ROLES

    @api.model_create_multi
    def create(self, vals_list):
        members = super().create(vals_list)
        members._refile()
        return members

    def write(self, vals):
        affected = self.contact_id
        result = super().write(vals)
        if {"role", "contact_id", "profile_id"} & set(vals):
            (affected | self.contact_id)._trail_refile()
        return result

    def unlink(self):
        contacts = self.contact_id
        result = super().unlink()
        contacts.exists()._trail_refile()
        return result

    def _refile(self):
        self.contact_id._trail_refile()
