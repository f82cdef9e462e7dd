"""A contact's email addresses, each with the *linked* flag that switches filing on."""

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..core.addresses import normalise_address


class TrailEmailAddress(models.Model):
    _name = "trail.email.address"
    _description = "Contact email address"
    _order = "partner_id, is_primary desc, sequence, id"
    _rec_name = "email"

    partner_id = fields.Many2one(
        "res.partner", string="Contact", required=True, index=True, ondelete="cascade"
    )
    email = fields.Char(
        required=True,
        index=True,
        help="Stored normalised: lowercase, without display name or surrounding spaces.",
    )
    linked = fields.Boolean(
        help="Linked addresses file the mail they send or receive into the contact's profiles.",
    )
    is_primary = fields.Boolean(
        string="Primary", help="The address Odoo uses for this contact (its Email field)."
    )
    sequence = fields.Integer(default=10)
    active = fields.Boolean(related="partner_id.active", store=True)

    _sql_constraints = [
        (
            "email_partner_uniq",
            "unique(partner_id, email)",
            "A contact cannot have the same email address twice.",
        ),
    ]

    def init(self):
        # The filing rule's query; see trail.filing for why it is a function.
        self.env.cr.execute(
            """
            CREATE OR REPLACE FUNCTION trail_match_linked_addresses(emails text[], roles text[])
            RETURNS TABLE (email varchar, contact_id int, profile_id int, role varchar)
            LANGUAGE plpgsql STABLE
            -- Its generic plan is all index lookups; re-planning per call is the cost to avoid.
            SET plan_cache_mode = force_generic_plan
            AS $$
            BEGIN
                RETURN QUERY
                SELECT a.email, m.contact_id, m.profile_id, m.role
                  FROM unnest(emails) AS wanted(email)
                  JOIN trail_email_address a ON a.email = wanted.email
                  JOIN res_partner c ON c.id = a.partner_id
                  JOIN trail_profile_member m ON m.contact_id = a.partner_id
                  JOIN res_partner p ON p.id = m.profile_id
                 WHERE a.linked
                   AND m.role = ANY(roles)
                   AND c.active AND p.active AND p.is_profile
                 ORDER BY m.profile_id, m.contact_id;
            END
            $$
            """
        )

    @api.model
    def _normalised_or_raise(self, value):
        normalised = normalise_address(value)
        if not normalised:
            raise ValidationError(self.env._("“%s” is not a valid email address.", value or ""))
        return normalised

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if "email" in vals:
                vals["email"] = self._normalised_or_raise(vals["email"])
        self._check_not_on_contact_yet(
            [(vals.get("partner_id"), vals.get("email")) for vals in vals_list]
        )
        records = super().create(vals_list)
        self.env.registry.clear_cache()  # internal users' addresses, see trail.filing
        records._ensure_one_primary()
        records._sync_partner_email()
        self.env["trail.filing"]._refile_addresses(records.mapped("email"))
        return records

    def write(self, vals):
        if "email" in vals:
            vals["email"] = self._normalised_or_raise(vals["email"])
        if "email" in vals or "partner_id" in vals:
            self._check_not_on_contact_yet(
                [
                    (
                        vals.get("partner_id", address.partner_id.id),
                        vals.get("email", address.email),
                    )
                    for address in self
                ],
                ignore=self,
            )
        filing_keys = {"email", "linked", "partner_id"}
        before = set(self.mapped("email")) if filing_keys & set(vals) else set()
        result = super().write(vals)
        if "email" in vals or "partner_id" in vals:
            self.env.registry.clear_cache()
        if "is_primary" in vals or "partner_id" in vals:
            self._ensure_one_primary()
        if {"email", "is_primary", "partner_id"} & set(vals):
            self._sync_partner_email()
        if before:
            self.env["trail.filing"]._refile_addresses(before | set(self.mapped("email")))
        return result

    def unlink(self):
        emails = set(self.mapped("email"))
        primaries = self.filtered("is_primary").partner_id
        result = super().unlink()
        for partner in primaries.exists():
            remaining = partner.email_address_ids[:1]
            if remaining:
                remaining.is_primary = True
            else:
                partner.with_context(trail_skip_address_sync=True).email = False
        self.env["trail.filing"]._refile_addresses(emails)
        return result

    @api.model
    def _check_not_on_contact_yet(self, pairs, ignore=None):
        """Refuse an address a contact already has, naming it, before the database would."""
        seen = set()
        for partner_id, email in pairs:
            if not partner_id or not email:
                continue
            twin = (partner_id, email) in seen or self.search_count(
                [("partner_id", "=", partner_id), ("email", "=", email)]
                + ([("id", "not in", ignore.ids)] if ignore else []),
                limit=1,
            )
            if twin:
                contact = self.env["res.partner"].browse(partner_id)
                raise ValidationError(
                    self.env._(
                        "%(contact)s already has the address %(email)s.",
                        contact=contact.display_name,
                        email=email,
                    )
                )
            seen.add((partner_id, email))

    def _ensure_one_primary(self):
        for partner in self.partner_id:
            addresses = partner.email_address_ids
            primaries = addresses.filtered("is_primary")
            if not primaries and addresses:
                addresses[:1].with_context(trail_skip_address_sync=True).is_primary = True
            elif len(primaries) > 1:
                keep = primaries & self or primaries
                (primaries - keep[-1:]).with_context(trail_skip_address_sync=True).write(
                    {"is_primary": False}
                )

    def _sync_partner_email(self):
        """Keep ``res.partner.email`` equal to the primary address, so the rest of Odoo works."""
        if self.env.context.get("trail_skip_address_sync"):
            return
        for partner in self.partner_id:
            primary = partner.email_address_ids.filtered("is_primary")[:1]
            current = normalise_address(partner.email)
            if primary and current != primary.email:
                partner.with_context(trail_skip_address_sync=True).email = primary.email

    def action_toggle_linked(self):
        """Flip the link flag; used by the link icon, which saves at once."""
        for address in self:
            address.linked = not address.linked
        return True
