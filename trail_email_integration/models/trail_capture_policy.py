"""Never-capture lists, the internal-mail switch, and the record of what they kept out.

What it is
    ``trail.capture.block`` holds the never-capture lists: an entry without a user is the
    company's list (kept by administrators), an entry with a user is that user's own list
    (kept in their preferences). ``trail.mail.skipped`` records, per mailbox, each message
    the engine fetched and then did not store, with the reason; it holds the provider's id
    and nothing of the message, so a message kept out is never fetched twice.

How it works
    :meth:`TrailMailbox._capture_policy` gathers, once per batch, the patterns that apply to
    a mailbox (its company's list and its owner's list), its own addresses, the colleagues'
    addresses and the internal-mail switch. The engine (``_store``) asks
    ``core.capture_policy.decide`` about every fetched message before writing anything.

Caveats
    A list applies to mail fetched after the change: mail already captured stays, and mail
    already kept out is not fetched again.
"""

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..core.capture_policy import (
    REASON_INTERNAL,
    REASON_NEVER_CAPTURE,
    CapturePolicy,
    normalise_pattern,
)

PARAM_CAPTURE_INTERNAL = "trail_email_integration.capture_internal"
SKIP_REASONS = [
    (REASON_NEVER_CAPTURE, "On a never-capture list"),
    (REASON_INTERNAL, "Internal mail"),
]


class TrailCaptureBlock(models.Model):
    _name = "trail.capture.block"
    _description = "Never-capture address or domain"
    _order = "user_id desc, pattern"
    _rec_name = "pattern"

    pattern = fields.Char(
        string="Address or domain",
        required=True,
        help="One address (ada@example.com) or a whole domain (example.com or @example.com), "
        "sub-domains included.",
    )
    kind = fields.Selection(
        [("address", "Address"), ("domain", "Domain")], compute="_compute_kind", store=True
    )
    user_id = fields.Many2one(
        "res.users",
        index=True,
        ondelete="cascade",
        help="Empty: the whole company's list. Set: only this user's mailboxes.",
    )
    company_id = fields.Many2one(
        "res.company", default=lambda self: self.env.company, required=True, index=True
    )
    note = fields.Char()

    _sql_constraints = [
        (
            "pattern_uniq",
            "unique(pattern, user_id, company_id)",
            "This address or domain is already on the list.",
        ),
    ]

    @api.depends("pattern")
    def _compute_kind(self):
        for entry in self:
            entry.kind = "domain" if (entry.pattern or "").startswith("@") else "address"

    @api.model
    def _normalise_values(self, values):
        if "pattern" in values:
            pattern = normalise_pattern(values["pattern"])
            if not pattern:
                raise ValidationError(
                    self.env._(
                        "“%s” is neither an email address nor a domain. Write one address "
                        "(ada@example.com) or one domain (example.com).",
                        values["pattern"],
                    )
                )
            values["pattern"] = pattern
        return values

    @api.model_create_multi
    def create(self, vals_list):
        return super().create([self._normalise_values(dict(values)) for values in vals_list])

    def write(self, vals):
        return super().write(self._normalise_values(dict(vals)))

    @api.model
    def _patterns_for(self, mailbox):
        """The patterns that apply to ``mailbox``: its company's list and its owner's list."""
        domain = [
            ("company_id", "=", mailbox.company_id.id),
            "|",
            ("user_id", "=", False),
            ("user_id", "=", mailbox.user_id.id),
        ]
        return tuple(self.sudo().search(domain).mapped("pattern"))


class TrailMailSkipped(models.Model):
    _name = "trail.mail.skipped"
    _description = "Message kept out by the capture rules"
    _order = "create_date desc, id desc"
    _rec_name = "provider_id"

    mailbox_id = fields.Many2one("trail.mailbox", required=True, index=True, ondelete="cascade")
    provider_id = fields.Char(required=True, help="The message's id at the provider.")
    reason = fields.Selection(SKIP_REASONS, required=True)
    detail = fields.Char(string="Matched", help="The never-capture entry that matched.")
    create_date = fields.Datetime(string="On", readonly=True)

    _sql_constraints = [
        (
            "mailbox_provider_uniq",
            "unique(mailbox_id, provider_id)",
            "This message is already recorded as kept out.",
        ),
    ]


class TrailMailbox(models.Model):
    _inherit = "trail.mailbox"

    skipped_count = fields.Integer(
        help="Spam, trash and drafts, and mail kept out by the never-capture lists and the "
        "internal-mail switch."
    )
    skipped_ids = fields.One2many("trail.mail.skipped", "mailbox_id", string="Kept out")
    skipped_rule_count = fields.Integer(
        string="Kept out by the rules", compute="_compute_skipped_rule_count"
    )

    def _compute_skipped_rule_count(self):
        counts = dict(
            self.env["trail.mail.skipped"]
            .sudo()
            ._read_group([("mailbox_id", "in", self.ids)], ["mailbox_id"], ["__count"])
        )
        for mailbox in self:
            mailbox.skipped_rule_count = counts.get(mailbox, 0)

    def action_open_never_capture(self):
        """The current user's own never-capture list (the mailbox form links to it)."""
        return self.env["res.users"].browse(self.env.uid).action_trail_my_never_capture()

    def _capture_policy(self):
        """The :class:`CapturePolicy` this mailbox's capture follows now."""
        self.ensure_one()
        param = self.env["ir.config_parameter"].sudo().get_param(PARAM_CAPTURE_INTERNAL)
        return CapturePolicy(
            patterns=self.env["trail.capture.block"]._patterns_for(self),
            own_addresses=frozenset(self._own_addresses()),
            colleague_addresses=self.env["trail.filing"]._internal_user_addresses(),
            capture_internal=param in ("1", "True", "true"),
        )

    def _skipped_provider_ids(self, provider_ids):
        return set(
            self.env["trail.mail.skipped"]
            .sudo()
            .search([("mailbox_id", "=", self.id), ("provider_id", "in", list(provider_ids))])
            .mapped("provider_id")
        )

    def _record_kept_out(self, ref, verdict):
        self.env["trail.mail.skipped"].sudo().create(
            {
                "mailbox_id": self.id,
                "provider_id": ref.provider_id,
                "reason": verdict.reason,
                "detail": verdict.detail or False,
            }
        )
