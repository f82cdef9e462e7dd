"""A connected mailbox: who owns it, its state, its cursors and its counters.

The sync engine that fills it lives in ``trail_mailbox_sync.py``; provider connections (OAuth)
plug in through :meth:`TrailMailbox._make_provider`.
"""

import json
import logging
import time

from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import consteq, format_datetime
from odoo.tools.misc import hmac

from ..core.addresses import normalise_address

# States, each with the sentence a user sees.
CONNECTING = "connecting"
BACKFILLING = "backfilling"
ACTIVE = "active"
PAUSED = "paused"
NEEDS_RECONNECT = "needs_reconnect"
ERROR = "error"
STATES = [
    (CONNECTING, "Connecting"),
    (BACKFILLING, "Importing history"),
    (ACTIVE, "Active"),
    (PAUSED, "Paused"),
    (NEEDS_RECONNECT, "Needs reconnect"),
    (ERROR, "Error"),
]
SYNCING_STATES = (BACKFILLING, ACTIVE)

DEFAULT_BACKFILL_YEARS = 7
DEFAULT_SCAN_MINUTES = 30
PARAM_BACKFILL_YEARS = "trail_email_integration.backfill_years"
# How far back a backfill may reach, in years; the settings and each mailbox keep to it. 0 would
# import nothing; 30 is far beyond the default of 7 and any mailbox's useful past, so a larger
# number is taken for a typo (150).
MIN_BACKFILL_YEARS = 1
MAX_BACKFILL_YEARS = 30
PARAM_SCAN_MINUTES = "trail_email_integration.scan_interval_minutes"
OAUTH_STATE_MAX_AGE_SECONDS = 3600

_logger = logging.getLogger(__name__)


class TrailMailbox(models.Model):
    _name = "trail.mailbox"
    _description = "Connected mailbox"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "address, id"
    _rec_name = "address"

    address = fields.Char(tracking=True, index=True)
    provider = fields.Selection(
        [("google", "Google"), ("microsoft", "Microsoft 365")], required=True
    )
    owner_type = fields.Selection(
        [("personal", "Personal"), ("company", "Company-managed")],
        string="Owner type",
        default="personal",
        required=True,
    )
    user_id = fields.Many2one(
        "res.users", string="Owner", default=lambda self: self.env.user, index=True, tracking=True
    )
    company_id = fields.Many2one(
        "res.company", default=lambda self: self.env.company, required=True, index=True
    )
    aliases = fields.Text(help="Send-as addresses of this mailbox, one per line.")
    active = fields.Boolean(default=True)

    state = fields.Selection(
        STATES, string="Status", default=CONNECTING, required=True, tracking=True, index=True
    )
    state_message = fields.Char(string="Status in words", compute="_compute_state_message")
    last_error = fields.Text(string="Last error", readonly=True)

    # Cursors. Opaque to everything but the provider.
    cursor = fields.Text(readonly=True, copy=False, help="The scan's bookmark at the provider.")
    backfill_years = fields.Integer(
        string="Years of history",
        default=lambda self: self._default_backfill_years(),
        help="How far back the first import reaches.",
    )
    connected_at = fields.Datetime(string="Connected on", readonly=True, copy=False)
    backfill_start = fields.Datetime(
        string="History start",
        compute="_compute_backfill_start",
        store=True,
        help="Mail older than this is not imported.",
    )
    backfill_page = fields.Text(
        string="Import page", readonly=True, copy=False, help="Position of the current page."
    )
    backfill_last_id = fields.Char(
        string="Last message imported", readonly=True, copy=False, help="Last message done in it."
    )
    backfill_done = fields.Boolean(string="History imported", readonly=True, copy=False)
    backfill_total = fields.Integer(string="Estimated total", readonly=True, copy=False)
    backfill_count = fields.Integer(string="Imported so far", readonly=True, copy=False)
    backfill_reached = fields.Datetime(string="Reached date", readonly=True, copy=False)

    # Counters. Captured and filed are counted from the records, as re-filing changes them.
    captured_count = fields.Integer(string="Captured", compute="_compute_mail_counts")
    filed_count = fields.Integer(string="Filed", compute="_compute_mail_counts")
    unfiled_count = fields.Integer(string="Unfiled", compute="_compute_mail_counts")
    skipped_count = fields.Integer(
        string="Skipped", readonly=True, copy=False, help="Spam, trash and drafts."
    )
    failed_count = fields.Integer(string="Failed", readonly=True, copy=False)
    last_scan = fields.Datetime(string="Last scan", readonly=True, copy=False)
    next_scan = fields.Datetime(
        string="Next scan due",
        readonly=True,
        copy=False,
        help="The regular scan looks at the mailbox again once this time is past.",
    )
    retry_after = fields.Datetime(
        string="No retry before",
        readonly=True,
        copy=False,
        help="After a temporary error, nothing runs before this.",
    )
    retry_attempts = fields.Integer(string="Retry attempts", readonly=True, copy=False)

    may_manage = fields.Boolean(
        string="May manage",
        compute="_compute_may_manage",
        help="The current user may change the mailbox's address, owner and company.",
    )
    may_pause = fields.Boolean(
        string="May pause",
        compute="_compute_may_manage",
        help="The current user may pause and resume the mailbox (company-managed mailboxes: "
        "administrators only).",
    )

    failure_ids = fields.One2many("trail.mail.failure", "mailbox_id", string="Failed messages")
    location_ids = fields.One2many("trail.mail.location", "mailbox_id", string="Captured messages")

    _sql_constraints = [
        (
            "address_provider_uniq",
            "unique(address, provider, company_id)",
            "This mailbox is already connected.",
        ),
    ]

    @api.constrains("backfill_years")
    def _check_backfill_years(self):
        for mailbox in self:
            if not MIN_BACKFILL_YEARS <= mailbox.backfill_years <= MAX_BACKFILL_YEARS:
                raise ValidationError(
                    self.env._(
                        "The history to import must be between %(low)s and %(high)s years.",
                        low=MIN_BACKFILL_YEARS,
                        high=MAX_BACKFILL_YEARS,
                    )
                )

    @api.model
    def _default_backfill_years(self):
        param = self.env["ir.config_parameter"].sudo().get_param(PARAM_BACKFILL_YEARS)
        return int(param or DEFAULT_BACKFILL_YEARS)

    @api.model
    def _scan_interval(self):
        param = self.env["ir.config_parameter"].sudo().get_param(PARAM_SCAN_MINUTES)
        return relativedelta(minutes=int(param or DEFAULT_SCAN_MINUTES))

    @api.depends("connected_at", "backfill_years")
    def _compute_backfill_start(self):
        for mailbox in self:
            start = mailbox.connected_at or fields.Datetime.now()
            mailbox.backfill_start = start - relativedelta(years=mailbox.backfill_years or 0)

    def _compute_mail_counts(self):
        Location = self.env["trail.mail.location"].sudo()
        captured = dict(
            Location._read_group([("mailbox_id", "in", self.ids)], ["mailbox_id"], ["__count"])
        )
        filed = dict(
            Location._read_group(
                [("mailbox_id", "in", self.ids), ("mail_id.filing_state", "=", "filed")],
                ["mailbox_id"],
                ["__count"],
            )
        )
        for mailbox in self:
            mailbox.captured_count = captured.get(mailbox, 0)
            mailbox.filed_count = filed.get(mailbox, 0)
            mailbox.unfiled_count = mailbox.captured_count - mailbox.filed_count

    @api.depends("state", "last_error", "backfill_count", "backfill_total", "retry_after")
    def _compute_state_message(self):
        for mailbox in self:
            mailbox.state_message = mailbox._describe_state()

    def _describe_state(self):
        self.ensure_one()
        if self.state == CONNECTING:
            return self.env._("Waiting for the provider to confirm the connection.")
        if self.state == BACKFILLING:
            return self.env._(
                "Importing past mail: %(done)s of about %(total)s.",
                done=self.backfill_count,
                total=max(self.backfill_total, self.backfill_count),
            )
        if self.state == ACTIVE:
            if self.retry_after and self.retry_after > fields.Datetime.now():
                # In the reader's time zone (the context's, else their own), as the advice says it.
                when = format_datetime(
                    self.env, self.retry_after, tz=self.env.context.get("tz"), dt_format="short"
                )
                return self.env._("The provider asked us to slow down; retrying at %s.", when)
            return self.env._("Up to date. New mail is picked up by the regular scan.")
        if self.state == PAUSED:
            return self.env._("Paused: no mail is captured until you resume.")
        if self.state == NEEDS_RECONNECT:
            return self.env._(
                "Access was revoked or expired. Reconnect the mailbox to resume capture."
            )
        return self.env._("Capture stopped after an error: %s", self.last_error or "")

    # ------------------------------------------------------------------ identity
    def _own_addresses(self):
        """The addresses that mean "this mailbox's owner": the mailbox and its aliases."""
        self.ensure_one()
        addresses = {normalise_address(self.address)}
        addresses.update(normalise_address(line) for line in (self.aliases or "").splitlines())
        return addresses - {None}

    # ------------------------------------------------------------------ OAuth state
    def _oauth_state(self, scope):
        """A ``state`` for a provider's consent screen: signed, naming this mailbox and user.

        ``scope`` separates providers, so one provider's state is refused by the other.
        """
        self.ensure_one()
        payload = json.dumps(
            {"mailbox": self.id, "user": self.env.uid, "time": int(time.time())},
            separators=(",", ":"),
        )
        signature = hmac(self.env(su=True), scope, payload)
        return json.dumps({"p": payload, "s": signature}, separators=(",", ":"))

    @api.model
    def _oauth_check_state(self, scope, state):
        """Return the mailbox a signed ``state`` names, if it was issued to the current user."""
        try:
            wrapper = json.loads(state or "")
            payload = wrapper["p"]
            expected = hmac(self.env(su=True), scope, payload)
            if not consteq(expected, wrapper["s"]):
                raise ValueError("bad signature")
            data = json.loads(payload)
        except (ValueError, KeyError, TypeError) as error:
            raise AccessError(self.env._("This connection link is invalid.")) from error
        if data["user"] != self.env.uid:
            raise AccessError(self.env._("This connection was started by another user."))
        if time.time() - data["time"] > OAUTH_STATE_MAX_AGE_SECONDS:
            raise AccessError(self.env._("This connection link has expired; start again."))
        return self.browse(data["mailbox"]).exists()

    @api.model
    def _callback_url(self, path):
        """The absolute URL of one of our OAuth callbacks, as the provider must redirect to."""
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url")
        return base.rstrip("/") + path

    def _check_can_connect(self):
        if self.user_id and self.user_id != self.env.user and not self.env.is_admin():
            raise AccessError(self.env._("Only the owner can connect this mailbox."))

    def _make_provider(self):
        """Return the :class:`~..core.provider.Provider` that serves this mailbox.

        Provider modules extend this method for their own ``provider`` value.
        """
        self.ensure_one()
        raise NotImplementedError(f"no provider client for {self.provider!r}")

    # ------------------------------------------------------------------ connection
    @api.model
    def _connect_my(self, provider):
        """The current user's personal mailbox at ``provider``, created when there is none."""
        mailbox = self.search(
            [
                ("user_id", "=", self.env.uid),
                ("provider", "=", provider),
                ("owner_type", "=", "personal"),
            ],
            limit=1,
        )
        return mailbox or self.create({"provider": provider, "user_id": self.env.uid})

    def _check_connect_address(self, address, provider_label):
        """Refuse a sign-in as another account than this mailbox's, or as an account that is
        already another mailbox of the company (whoever's it is)."""
        self.ensure_one()
        if self.address and address.lower() != self.address.lower():
            raise UserError(
                self.env._(
                    "You signed in to %(provider)s as %(got)s, but this mailbox is %(want)s. "
                    "Connect again and choose %(want)s.",
                    provider=provider_label,
                    got=address,
                    want=self.address,
                )
            )
        taken = (
            self.sudo()
            .with_context(active_test=False)
            .search_count(
                [
                    ("id", "!=", self.id),
                    ("provider", "=", self.provider),
                    ("address", "=ilike", address),
                    ("company_id", "=", self.company_id.id),
                ],
                limit=1,
            )
        )
        if taken:
            raise UserError(self.env._("%s is already connected as another mailbox.", address))

    def _store_connection(self, values):
        """Save a new grant (``values``): errors are cleared and a mailbox that waited for it
        goes on, with its history import when that has not finished."""
        self.ensure_one()
        values = {**values, "last_error": False, "retry_after": False, "retry_attempts": 0}
        if self.state in (CONNECTING, NEEDS_RECONNECT) and not self.backfill_done:
            values["state"] = BACKFILLING
        elif self.state == NEEDS_RECONNECT:
            values["state"] = ACTIVE
        if not self.connected_at:
            values["connected_at"] = fields.Datetime.now()
        self.sudo().write(values)

    def _announce_connected(self, provider_label):
        """Close the reconnect reminders and start the first scan."""
        self.activity_ids.filtered(
            lambda a: a.summary == self.env._("Reconnect your mailbox")
        ).action_done()
        _logger.info("Mailbox %s connected to %s", self.id, provider_label)
        self.action_scan_now()

    # ------------------------------------------------------------------ buttons
    def _trail_may_manage(self):
        """True when the current user manages mailboxes: the engine, or an Email integration
        administrator."""
        return self.env.su or self.env.user.has_group("trail_email_integration.group_trail_admin")

    @api.depends_context("uid")
    @api.depends("owner_type")
    def _compute_may_manage(self):
        manager = self._trail_may_manage()
        for mailbox in self:
            mailbox.may_manage = manager
            mailbox.may_pause = manager or mailbox.owner_type != "company"

    def _button_write(self, vals):
        """Write ``vals`` for a button the user pressed: the record rules decide whether the
        user may act on these mailboxes; the fields themselves are the engine's."""
        self.check_access("write")
        return self.sudo().write(vals)

    def _check_owner_may_pause(self):
        """Company-managed mailboxes are paused and resumed by administrators only."""
        if self._trail_may_manage():
            return
        if self.filtered(lambda m: m.owner_type == "company"):
            raise UserError(
                self.env._(
                    "Your organisation manages this mailbox: ask an Email integration "
                    "administrator to pause or resume it."
                )
            )

    def action_pause(self):
        self._check_owner_may_pause()
        self.filtered(lambda m: m.state != PAUSED)._button_write({"state": PAUSED})

    def action_resume(self):
        self._check_owner_may_pause()
        for mailbox in self.filtered(lambda m: m.state in (PAUSED, ERROR)):
            mailbox._button_write(
                {
                    "state": ACTIVE if mailbox.backfill_done else BACKFILLING,
                    "retry_after": False,
                    "retry_attempts": 0,
                    "last_error": False,
                }
            )

    def action_scan_now(self):
        """Have the scan (and a running history import) run as soon as a cron worker is free;
        return the notification that says so."""
        self._button_write({"next_scan": fields.Datetime.now(), "retry_after": False})
        # The crons do the work, not this request: a scan may fetch many messages, more than a
        # web request should wait for. The status card watches for the result.
        self.env.ref("trail_email_integration.cron_scan")._trigger()
        if self.filtered(lambda m: m.state == BACKFILLING):
            self.env.ref("trail_email_integration.cron_backfill")._trigger()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "message": self.env._("Scan started: new mail appears here in a moment."),
                "type": "info",
            },
        }
