"""What a mailbox's owner sees of it: progress, advice, attention signals and failed messages.

What it is
    The figures behind the mailbox status card (``static/src/mailbox_status``): backfill
    progress with the rate and the time left, the last error in words with the action to take,
    and whether the mailbox needs its owner. Failed messages can be retried from here.

How it works
    - The rate is measured over the current run of the backfill: entering the backfilling
      state (first connection, resume, reconnect, a re-listed window) restarts the measure, so
      a pause or an outage does not drag the estimate down.
    - A mailbox needs attention when it must be reconnected, stopped on an error, or holds
      unresolved failed messages. Its owner then has one activity (updated, never repeated)
      that is marked done once the mailbox is healthy again, and a badge on the "My mailbox"
      menu, kept current through the bus.
    - Retrying a failed message fetches it again through the mailbox's provider and captures
      it; a new error is recorded on the same failure. A message the provider no longer has
      (deleted or moved) is said so in words; its owner dismisses it. A dismissed failure is
      kept, with who dismissed it and when, and leaves the Failed counter.

Caveats
    The time left assumes the rate so far holds; the first step of a run gives no estimate.
"""

import logging
from datetime import datetime, timezone

from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import format_time

from ..core.provider import MessageRef
from .trail_mailbox import (
    BACKFILLING,
    CONNECTING,
    ERROR,
    NEEDS_RECONNECT,
    PAUSED,
    SYNCING_STATES,
)

_logger = logging.getLogger(__name__)

ATTENTION_STATES = (NEEDS_RECONNECT, ERROR)
ATTENTION_BUS_TYPE = "trail.mailbox/attention"

# How a failed message was settled.
CAPTURED = "captured"
DISMISSED = "dismissed"


def _first_run(cron, due, now):
    """When ``cron`` first runs at or after ``due`` (``now`` if it is about to run and ``due``
    is past), or None when it is switched off."""
    if not cron.active:
        return None
    triggers = cron.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]).mapped("call_at")
    if due <= now and min([cron.nextcall, *triggers]) <= now:
        return now
    # After a run, Odoo moves nextcall on by whole intervals from where it was.
    interval = relativedelta(**{cron.interval_type: cron.interval_number})
    run = cron.nextcall
    while run < due:
        run += interval
    return min([run, *(call_at for call_at in triggers if call_at >= due)])


class TrailMailbox(models.Model):
    _inherit = "trail.mailbox"

    backfill_rate_since = fields.Datetime(
        string="Rate measured since",
        readonly=True,
        copy=False,
        help="When the current run of the backfill started.",
    )
    backfill_rate_base = fields.Integer(
        string="Imported before this run",
        readonly=True,
        copy=False,
        help="Messages imported before the current run.",
    )
    backfill_progress = fields.Float(string="Progress (%)", compute="_compute_backfill_rate")
    backfill_rate = fields.Float(
        string="Messages per minute", digits=(16, 1), compute="_compute_backfill_rate"
    )
    backfill_time_left = fields.Char(string="Time left", compute="_compute_backfill_rate")
    failed_count = fields.Integer(
        compute="_compute_failed_count",
        store=True,
        readonly=True,
        help="Messages that could not be captured, and were neither captured since nor dismissed.",
    )
    needs_attention = fields.Boolean(
        string="Needs attention",
        compute="_compute_needs_attention",
        store=True,
        index=True,
        readonly=True,
    )
    advice = fields.Text(
        string="What to do",
        compute="_compute_advice",
        help="The last problem in words, and the action that solves it.",
    )
    next_scan_run = fields.Datetime(
        string="Next scan",
        compute="_compute_next_scan_run",
        help="When the regular scan will next look at this mailbox. Empty when no scan will "
        "run: the mailbox is paused, must be reconnected, stopped on an error, or is not yet "
        "connected.",
    )

    # ------------------------------------------------------------------ computes
    @api.depends("failure_ids.resolved")
    def _compute_failed_count(self):
        for mailbox in self:
            mailbox.failed_count = len(mailbox.failure_ids.filtered(lambda f: not f.resolved))

    @api.depends("state", "failed_count")
    def _compute_needs_attention(self):
        for mailbox in self:
            mailbox.needs_attention = mailbox.state in ATTENTION_STATES or bool(
                mailbox.failed_count
            )

    @api.depends("state", "active", "next_scan", "retry_after")
    def _compute_next_scan_run(self):
        cron = self.env.ref("trail_email_integration.cron_scan", raise_if_not_found=False)
        now = fields.Datetime.now()
        for mailbox in self:
            if not cron or not mailbox.active or mailbox.state not in SYNCING_STATES:
                mailbox.next_scan_run = False
                continue
            # The scan cron looks at a mailbox once its next scan and any retry time are past.
            due = max(filter(None, (mailbox.next_scan, mailbox.retry_after)), default=now)
            mailbox.next_scan_run = _first_run(cron.sudo(), due, now) or False

    @api.depends(
        "state",
        "backfill_done",
        "backfill_count",
        "backfill_total",
        "backfill_rate_since",
        "backfill_rate_base",
        "connected_at",
    )
    def _compute_backfill_rate(self):
        now = fields.Datetime.now()
        for mailbox in self:
            total = max(mailbox.backfill_total, mailbox.backfill_count)
            if mailbox.backfill_done:
                mailbox.backfill_progress = 100.0
            else:
                mailbox.backfill_progress = 100.0 * mailbox.backfill_count / total if total else 0
            since = mailbox.backfill_rate_since or mailbox.connected_at
            done = mailbox.backfill_count - mailbox.backfill_rate_base
            seconds = (now - since).total_seconds() if since else 0
            rate = done / seconds if seconds > 0 and done > 0 else 0.0
            mailbox.backfill_rate = rate * 60
            if mailbox.backfill_done:
                mailbox.backfill_time_left = False
            elif mailbox.state != BACKFILLING:
                mailbox.backfill_time_left = self.env._("on hold")
            elif not rate:
                mailbox.backfill_time_left = self.env._("estimating…")
            else:
                # Left to import is the whole remainder, not only this run's share of it.
                left = max(total - mailbox.backfill_count, 0)
                mailbox.backfill_time_left = self._duration_in_words(left / rate)

    @api.model
    def _duration_in_words(self, seconds):
        minutes = round(seconds / 60)
        if minutes < 1:
            return self.env._("less than a minute")
        if minutes == 1:
            return self.env._("about a minute")
        if minutes < 90:
            return self.env._("about %s minutes", minutes)
        hours = round(minutes / 60)
        if hours < 36:
            return self.env._("about %s hours", hours)
        return self.env._("about %s days", round(hours / 24))

    @api.depends(
        "state", "last_error", "retry_after", "failed_count", "provider", "failure_ids.gone"
    )
    def _compute_advice(self):
        for mailbox in self:
            mailbox.advice = "\n".join(mailbox._advice_lines()) or False

    def _advice_lines(self):
        self.ensure_one()
        provider = dict(self._fields["provider"].selection).get(self.provider, "")
        error = self.last_error or self.env._("no details were given")
        lines = []
        if self.state == NEEDS_RECONNECT:
            lines.append(
                self.env._(
                    "%(provider)s no longer lets Odoo read this mailbox (%(error)s). "
                    "Click Reconnect and sign in again as %(address)s.",
                    provider=provider,
                    error=error,
                    address=self.address or "",
                )
            )
        elif self.state == ERROR:
            lines.append(
                self.env._(
                    "Capture stopped on an unexpected error (%s). Click Resume to try again; "
                    "if it stops again, send this message to your administrator.",
                    error,
                )
            )
        elif self.state == CONNECTING and self.last_error:
            lines.append(
                self.env._(
                    "The connection did not complete (%s). Connect again and accept every "
                    "permission asked.",
                    error,
                )
            )
        elif self.retry_after and self.retry_after > fields.Datetime.now():
            lines.append(
                self.env._(
                    "%(provider)s asked Odoo to slow down (%(error)s). Capture goes on by "
                    "itself after %(time)s; nothing to do.",
                    provider=provider,
                    error=error,
                    # The reader's time zone and time format, as in the state sentence.
                    time=format_time(
                        self.env,
                        self.retry_after,
                        tz=self.env.context.get("tz"),
                        time_format="short",
                    ),
                )
            )
        failures = self.failure_ids.filtered(lambda f: not f.resolved)
        gone = len(failures.filtered("gone"))
        to_retry = len(failures) - gone
        if to_retry:
            lines.append(
                self.env._(
                    "%s messages could not be captured. Open Failed messages and click Retry.",
                    to_retry,
                )
                if to_retry > 1
                else self.env._(
                    "1 message could not be captured. Open Failed messages and click Retry."
                )
            )
        if gone:
            lines.append(
                self.env._(
                    "%s messages are no longer in the mailbox (deleted or moved). Open Failed "
                    "messages and dismiss them.",
                    gone,
                )
                if gone > 1
                else self.env._(
                    "1 message is no longer in the mailbox (deleted or moved). Open Failed "
                    "messages and dismiss it."
                )
            )
        return lines

    # ------------------------------------------------------------------ state changes
    def write(self, vals):
        entering = self.browse()
        if vals.get("state") == BACKFILLING:
            entering = self.filtered(lambda m: m.state != BACKFILLING)
        result = super().write(vals)
        if entering:
            # A new run of the backfill: measure its rate from now on.
            now = fields.Datetime.now()
            for mailbox in entering:
                super(TrailMailbox, mailbox).write(
                    {"backfill_rate_since": now, "backfill_rate_base": mailbox.backfill_count}
                )
        if "state" in vals:
            self._sync_attention()
        return result

    def _notify_owner_to_reconnect(self):
        self._sync_attention()

    # ------------------------------------------------------------------ attention
    def _sync_attention(self):
        """Keep one activity per mailbox that needs its owner, done once it is healthy, and
        tell the owners' browsers the new count for the menu badge."""
        activity_type = self.env.ref(
            "trail_email_integration.mail_activity_type_mailbox_attention", raise_if_not_found=False
        )
        if not activity_type:  # while the module installs
            return
        for mailbox in self.sudo():
            activity = mailbox.activity_ids.filtered(lambda a: a.activity_type_id == activity_type)
            if not mailbox.needs_attention:
                if activity:
                    activity.action_feedback(feedback=self.env._("The mailbox is healthy again."))
                continue
            summary, note = mailbox._attention_summary()
            if activity:
                if activity[:1].summary != summary:
                    activity[:1].write({"summary": summary, "note": note})
                (activity - activity[:1]).unlink()
            else:
                mailbox.activity_schedule(
                    activity_type_id=activity_type.id,
                    summary=summary,
                    note=note,
                    user_id=(mailbox.user_id or self.env.user).id,
                )
        self._send_attention_counts()

    def _attention_summary(self):
        self.ensure_one()
        if self.state == NEEDS_RECONNECT:
            summary = self.env._("Reconnect your mailbox")
        elif self.state == ERROR:
            summary = self.env._("Your mailbox stopped on an error")
        else:
            summary = self.env._("Messages could not be captured")
        return summary, "<br/>".join(self._advice_lines())

    def _send_attention_counts(self):
        users = self.sudo().user_id
        if not users:
            return
        counts = dict(
            self.sudo()._read_group(
                [("user_id", "in", users.ids), ("needs_attention", "=", True)],
                ["user_id"],
                ["__count"],
            )
        )
        for user in users:
            user.partner_id._bus_send(ATTENTION_BUS_TYPE, {"count": counts.get(user, 0)})

    @api.model
    def trail_attention_count(self):
        """How many of the current user's mailboxes need them (the menu badge)."""
        return self.search_count([("user_id", "=", self.env.uid), ("needs_attention", "=", True)])

    # ------------------------------------------------------------------ buttons
    def action_reconnect(self):
        """Start the provider's sign-in again for this mailbox."""
        self.ensure_one()
        method = getattr(self, f"action_connect_{self.provider}", None)
        if method is None:
            raise UserError(self.env._("This mailbox's provider cannot be reconnected here."))
        return method()

    def action_open_failures(self):
        """The window action listing this mailbox's failed messages, those to retry first.

        The status card hands it straight to the web client, which needs ``views``.
        """
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Failed messages of %s", self.address or ""),
            "res_model": "trail.mail.failure",
            "views": [(False, "list"), (False, "form")],
            "view_mode": "list,form",
            "domain": [("mailbox_id", "=", self.id)],
            "context": {"search_default_unresolved": 1, "default_mailbox_id": self.id},
        }

    def _retry_failures(self, failures):
        """Fetch ``failures`` again through this mailbox's provider and capture them.

        Return how many were captured; provider-wide errors change the mailbox's state as in
        a scan.
        """
        self.ensure_one()
        Location = self.env["trail.mail.location"]
        captured = Location.search(
            [("mailbox_id", "=", self.id), ("provider_id", "in", failures.mapped("provider_id"))]
        ).mapped("provider_id")
        failures.filtered(lambda f: f.provider_id in captured)._mark_captured()
        pending = failures.filtered(lambda f: not f.resolved)
        if not pending:
            return len(failures)
        if self.state == PAUSED:
            raise UserError(self.env._("Resume the mailbox before retrying its messages."))

        def retry():
            return self._store(self._make_provider(), [f._message_ref() for f in pending])[0]

        return len(failures) - len(pending) + (self._run_guarded(retry) or 0)


class TrailMailFailure(models.Model):
    _inherit = "trail.mail.failure"

    labels = fields.Char(string="Folders / labels", readonly=True)
    thread_key = fields.Char(string="Thread id at the provider", readonly=True)
    internal_date = fields.Datetime(string="Received", readonly=True)
    has_attachments = fields.Boolean(string="With attachments", readonly=True)
    user_id = fields.Many2one(related="mailbox_id.user_id", string="Owner")
    gone = fields.Boolean(
        string="No longer in the mailbox",
        readonly=True,
        help="The provider answered that it no longer has this message: it was deleted, or "
        "moved out of Odoo's reach, since it was listed. Retrying cannot capture it.",
    )
    resolution = fields.Selection(
        [(CAPTURED, "Captured"), (DISMISSED, "Dismissed")],
        string="Outcome",
        readonly=True,
        copy=False,
        help="Empty while the message is still to retry.",
    )
    dismissed_by = fields.Many2one("res.users", string="Dismissed by", readonly=True, copy=False)
    dismissed_on = fields.Datetime(string="Dismissed on", readonly=True, copy=False)
    problem = fields.Char(
        compute="_compute_problem", help="What went wrong, in words, and what to do about it."
    )

    @api.model
    def _values_from_ref(self, ref):
        date = ref.internal_date
        if date and date.tzinfo:
            date = date.astimezone(timezone.utc).replace(tzinfo=None)
        return {
            "labels": ",".join(ref.labels) or False,
            "thread_key": ref.thread_id or False,
            "internal_date": date or False,
            "has_attachments": ref.has_attachments,
        }

    def _message_ref(self):
        self.ensure_one()
        date = self.internal_date
        return MessageRef(
            provider_id=self.provider_id,
            thread_id=self.thread_key or "",
            labels=tuple(label for label in (self.labels or "").split(",") if label),
            internal_date=datetime.combine(date.date(), date.time(), timezone.utc)
            if date
            else None,
            has_attachments=self.has_attachments,
        )

    @api.depends("gone", "resolution", "dismissed_by")
    def _compute_problem(self):
        for failure in self:
            if failure.resolution == CAPTURED:
                failure.problem = self.env._("Captured since; nothing to do.")
            elif failure.resolution == DISMISSED:
                failure.problem = self.env._(
                    "Dismissed by %s; this message is not captured.",
                    failure.dismissed_by.name or "",
                )
            elif failure.gone:
                failure.problem = self.env._(
                    "This message is no longer in the mailbox (deleted or moved); dismiss it."
                )
            else:
                failure.problem = self.env._(
                    "Odoo could not capture this message. Click Retry; if it fails again, "
                    "dismiss it, or send its technical details to your administrator."
                )

    @api.model_create_multi
    def create(self, vals_list):
        failures = super().create(vals_list)
        failures.mailbox_id._sync_attention()
        return failures

    def write(self, vals):
        result = super().write(vals)
        if "resolved" in vals and self:
            self.mailbox_id._sync_attention()
        return result

    def _mark_captured(self):
        """Settle these failures: their message has been captured since."""
        self.write({"resolved": True, "resolution": CAPTURED})

    def action_retry(self):
        """Fetch the selected messages that are still to retry again; return the notification
        that says how many were captured and how many still fail."""
        self.check_access("write")
        pending = self.filtered(lambda f: not f.resolved)
        if not pending:
            return self._notification(
                self.env._("Nothing to retry: these messages are captured or dismissed."),
                "info",
            )
        captured = 0
        # Capture writes records users only read; the engine runs as superuser, as in the crons.
        for mailbox in pending.sudo().mailbox_id:
            captured += mailbox._retry_failures(
                pending.sudo().filtered(lambda f, m=mailbox: f.mailbox_id == m)
            )
        left = pending.filtered(lambda f: not f.resolved)
        if not left:
            return self._notification(
                self.env._("%s messages captured.", captured)
                if captured != 1
                else self.env._("The message was captured."),
                "success",
            )
        lines = [
            self.env._(
                "Captured: %(done)s. Still failing: %(left)s.", done=captured, left=len(left)
            )
        ]
        gone = left.filtered("gone")
        if gone:
            lines.append(
                self.env._(
                    "%s of them are no longer in the mailbox (deleted or moved): dismiss them.",
                    len(gone),
                )
                if len(gone) > 1
                else self.env._(
                    "1 of them is no longer in the mailbox (deleted or moved): dismiss it."
                )
            )
        # A mailbox-wide problem (lost grant, slow-down) stopped the retry: say what to do.
        for mailbox in left.mailbox_id:
            if mailbox.state in ATTENTION_STATES or (
                mailbox.retry_after and mailbox.retry_after > fields.Datetime.now()
            ):
                lines.extend(mailbox._advice_lines()[:1])
        return self._notification(" ".join(lines), "warning")

    def action_dismiss(self):
        """Settle the selected failures without capturing their messages; return the
        notification that says so.

        Nothing is deleted: each stays listed as dismissed, with who dismissed it and when,
        and leaves the mailbox's Failed counter.
        """
        self.check_access("write")
        pending = self.filtered(lambda f: not f.resolved)
        pending.write(
            {
                "resolved": True,
                "resolution": DISMISSED,
                "dismissed_by": self.env.uid,
                "dismissed_on": fields.Datetime.now(),
            }
        )
        if pending:
            _logger.info("Failed messages %s dismissed by user %s", pending.ids, self.env.uid)
        return self._notification(
            self.env._("%s messages dismissed. They stay listed under Dismissed.", len(pending))
            if len(pending) != 1
            else self.env._("The message was dismissed. It stays listed under Dismissed."),
            "success",
        )

    def _notification(self, message, kind):
        # The list behind it shows the new outcome once the notification is up.
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "message": message,
                "type": kind,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }
