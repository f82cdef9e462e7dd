"""Profiles (client files) and contacts on ``res.partner``."""

from odoo import api, fields, models
from odoo.osv import expression

from ..core.addresses import normalise_address

PROFILE_TYPES = [
    ("person", "Person"),
    ("family", "Couple or family"),
    ("company", "Company"),
    ("trust", "Trust"),
    ("super_fund", "Super fund"),
    ("other", "Other entity"),
]


class ResPartner(models.Model):
    _inherit = "res.partner"

    is_profile = fields.Boolean(
        string="Client profile",
        index=True,
        help="A client file: mail of its contacts' linked addresses is filed here.",
    )
    profile_type = fields.Selection(PROFILE_TYPES, default="person")
    profile_member_ids = fields.One2many(
        "trail.profile.member", "profile_id", string="Profile contacts"
    )
    membership_ids = fields.One2many("trail.profile.member", "contact_id", string="Profiles")
    email_address_ids = fields.One2many(
        "trail.email.address", "partner_id", string="Email addresses"
    )
    trail_profile_count = fields.Integer(
        string="Profile count", compute="_compute_trail_profile_count"
    )
    trail_address_search = fields.Char(
        string="Any address",
        compute="_compute_trail_address_search",
        search="_search_trail_address_search",
        help="Search profiles and contacts by any address of their contacts.",
    )

    @api.depends("membership_ids")
    def _compute_trail_profile_count(self):
        for partner in self:
            partner.trail_profile_count = len(partner.membership_ids)

    def _compute_trail_address_search(self):
        self.trail_address_search = False

    def _search_trail_address_search(self, operator, value):
        if operator not in ("ilike", "=", "=ilike"):
            operator = "ilike"
        needle = normalise_address(value) or (value or "").strip().lower()
        return expression.OR(
            [
                [("email_address_ids.email", operator, needle)],
                [("profile_member_ids.contact_id.email_address_ids.email", operator, needle)],
            ]
        )

    # ------------------------------------------------------------------ sync with `email`
    @api.model_create_multi
    def create(self, vals_list):
        partners = super().create(vals_list)
        if not self.env.context.get("trail_skip_address_sync"):
            partners.filtered("email")._trail_sync_primary_address()
        return partners

    def write(self, vals):
        refile = "active" in vals or "is_profile" in vals
        before = self._trail_affected_emails() if refile else set()
        result = super().write(vals)
        if "email" in vals and self.user_ids:
            self.env.registry.clear_cache()  # internal users' addresses, see trail.filing
        if "email" in vals and not self.env.context.get("trail_skip_address_sync"):
            self._trail_sync_primary_address()
        if refile:
            self.env["trail.filing"]._refile_addresses(before | self._trail_affected_emails())
        return result

    def _trail_sync_primary_address(self):
        """Make the primary address follow ``email`` when the rest of Odoo writes it."""
        Address = self.env["trail.email.address"].with_context(trail_skip_address_sync=True)
        for partner in self:
            normalised = normalise_address(partner.email)
            primary = partner.email_address_ids.filtered("is_primary")[:1]
            if not normalised:
                # An email field Odoo accepts but that holds no single address (or none):
                # leave the address list as the user built it.
                continue
            existing = partner.email_address_ids.filtered(lambda a, e=normalised: a.email == e)
            if existing:
                if not existing.is_primary:
                    (primary - existing).write({"is_primary": False})
                    existing.is_primary = True
            elif primary:
                primary.email = normalised
            else:
                Address.create({"partner_id": partner.id, "email": normalised, "is_primary": True})

    def _trail_affected_emails(self):
        members = self.membership_ids | self.profile_member_ids
        contacts = self | members.contact_id
        return set(contacts.with_context(active_test=False).email_address_ids.mapped("email"))

    def _trail_refile(self):
        self.env["trail.filing"]._refile_addresses(
            set(self.with_context(active_test=False).email_address_ids.mapped("email"))
        )

    def action_open_profiles(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "trail_email_integration.action_profiles"
        )
        action["domain"] = [("id", "in", self.membership_ids.profile_id.ids)]
        return action
