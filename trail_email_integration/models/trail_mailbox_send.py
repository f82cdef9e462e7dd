"""Sending through a connected mailbox: which mailbox sends for whom, and the send log.

What it is
    The mailbox side of "mail written in Odoo leaves from the adviser's own mailbox": the
    ``send_enabled`` switch, the rule that finds the mailbox sending for an author, the
    per-mailbox pacing, and :class:`TrailMailboxSend`, one row per message handed to a provider.

How it works
    - A mailbox sends for its owner (``user_id``) while it is syncing (importing history or
      active), switched on and not archived. A personal mailbox wins over a company-managed
      one, and a mailbox whose address or send-as aliases include the mail's From wins over
      both.
    - The send log is written before the provider is called and completed with the provider's
      id as soon as it answers. Outside tests it is written on its own cursor, so it survives
      a rollback of the transaction that sent: a mail whose send outcome is unknown is never
      sent again without a person deciding to (see ``models/mail_mail.py``).
    - A send whose outcome is unknown (the provider answered 5xx or not at all) is settled by
      the scans that follow (:meth:`TrailMailbox._settle_unknown_sends`): the Sent folder is
      captured anyway, so a captured copy in this mailbox with the mail's Message-ID and
      recipients, claimed by no other send, means it went out, and the mail is marked sent
      with no second send. (Odoo sends one message per group of recipients, all with one
      Message-ID, hence the recipients and the claim.) When no copy is there an hour later,
      the mail says it did not go out and that Retry sends it, but only when that is sure:
      the provider's own copy of an earlier send (read once, then remembered in
      ``sent_message_ids_kept``) kept the Message-ID Odoo set, the capture rules would keep
      the copy, and no message of the mailbox failed to capture around the attempt.
      Otherwise the outcome stays for a person to check; the scans stop looking after a week.
    - Pacing: ``trail_email_integration.send_per_minute_<provider>`` caps the messages a
      mailbox hands over per rolling minute (default 30 for Microsoft 365, Exchange Online's
      own limit; 0, no cap, for Google, whose API quota already paces sends). Mail over the cap
      waits in Odoo's queue instead of failing.

Use
    ``env["trail.mailbox"]._sending_mailbox(author_partner, email_from)``.

Caveats
    The rolling minute counts the log rows of all workers, but two workers deciding at the
    same instant may both send the last allowed message; Exchange then throttles one of them,
    which the sender handles as a temporary error.
"""

import logging
import threading
from contextlib import contextmanager
from datetime import timedelta

from odoo import api, fields, models

from ..core.addresses import normalise_address
from ..core.capture_policy import decide
from ..core.mime import normalise_message_id, parse_headers
from ..core.provider import Fetched, MessageRef, ProviderError
from .trail_mailbox import SYNCING_STATES

_logger = logging.getLogger(__name__)

PARAM_SEND_PER_MINUTE = "trail_email_integration.send_per_minute_"
DEFAULT_SEND_PER_MINUTE = {"microsoft": 30, "google": 0}
SEND_WINDOW = timedelta(minutes=1)
# How long a sent copy may take to show in the Sent folder before its absence means "not sent".
SETTLE_AFTER = timedelta(hours=1)
# Past this, a send still unsettled (its copy kept out by the rules, say) is left to people.
SETTLE_LOOKS_BACK = timedelta(days=7)

# Send log states.
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
UNKNOWN = "unknown"


def _in_test():
    return getattr(threading.current_thread(), "testing", False)


class TrailMailbox(models.Model):
    _inherit = "trail.mailbox"

    sent_message_ids_kept = fields.Boolean(
        readonly=True,
        copy=False,
        help="The provider's copy of a message sent from Odoo was seen to keep the Message-ID "
        "Odoo gave it, so a copy missing from the Sent folder means a send that did not happen.",
    )
    send_enabled = fields.Boolean(
        string="Send from Odoo",
        default=True,
        help="Mail the owner writes in Odoo leaves through this mailbox, so clients see it "
        "from the owner. Switch off to send through Odoo's mail server instead.",
    )

    @api.model
    def _sending_mailbox(self, author, email_from=None):
        """The mailbox that sends mail written by ``author`` (a partner), or an empty record."""
        users = author.sudo().user_ids.filtered(lambda u: u.active and not u.share)
        if not users or users.filtered(lambda u: u._is_superuser()):
            return self.browse()
        mailboxes = self.sudo().search(
            [
                ("user_id", "in", users.ids),
                ("state", "in", SYNCING_STATES),
                ("send_enabled", "=", True),
            ],
            order="id",
        )
        if not mailboxes:
            return self.browse()
        sender = normalise_address(email_from or "")

        def rank(mailbox):
            return (
                sender not in mailbox._own_addresses(),
                mailbox.owner_type != "personal",
                mailbox.id,
            )

        return mailboxes.sorted(rank)[:1]

    def _send_from_address(self, email_from):
        """The From address for a send: the chosen alias when ``email_from`` is one."""
        self.ensure_one()
        wanted = normalise_address(email_from or "")
        aliases = {normalise_address(line) for line in (self.aliases or "").splitlines()}
        return wanted if wanted and wanted in aliases else self.address

    def _describe_sending(self):
        """The sentence a sender sees about how their mail will leave."""
        self.ensure_one()
        kind = dict(self._fields["provider"]._description_selection(self.env))[self.provider]
        if self.user_id == self.env.user:
            return self.env._(
                "Sent from your %(kind)s mailbox %(address)s", kind=kind, address=self.address
            )
        return self.env._(
            "Sent from %(owner)s's %(kind)s mailbox %(address)s",
            owner=self.user_id.name,
            kind=kind,
            address=self.address,
        )

    # ------------------------------------------------------------------ unknown outcomes
    def _settle_unknown_sends(self, provider):
        """Settle this mailbox's sends of unknown outcome by what the scans captured.

        Called at the end of a scan, so every change of the Sent folder up to now is captured.
        A copy settles a send when it carries the send's Message-ID and recipients (Odoo sends
        one message per group of recipients, all with the same Message-ID) and no other send
        of this mailbox claims it.
        """
        self.ensure_one()
        now = fields.Datetime.now()
        Send = self.env["trail.mailbox.send"].sudo()
        logs = Send.search(
            [
                ("mailbox_id", "=", self.id),
                ("state", "=", UNKNOWN),
                ("sent_at", ">=", now - SETTLE_LOOKS_BACK),
            ],
            order="id",
        )
        if not logs:
            return
        wanted = {log.id: normalise_message_id(log.message_id or "") for log in logs}
        locations = (
            self.env["trail.mail.location"]
            .sudo()
            .search(
                [
                    ("mailbox_id", "=", self.id),
                    ("mail_id.message_id", "in", [key for key in wanted.values() if key]),
                ],
                order="id",
            )
        )
        copies = {}
        for location in locations:
            copies.setdefault(location.mail_id.message_id, []).append(location)
        claimed = set(
            Send.search(
                [
                    ("mailbox_id", "=", self.id),
                    ("state", "=", SENT),
                    ("provider_id", "in", locations.mapped("provider_id")),
                ]
            ).mapped("provider_id")
        )
        for log in logs:
            try:
                with self.env.cr.savepoint():
                    settled = self._settle_send(provider, log, copies.get(wanted[log.id], []),
                                                claimed, now)  # fmt: skip
            except Exception:
                _logger.exception("Mailbox %s: send %s could not be settled", self.id, log.id)
            else:
                if settled:
                    claimed.add(settled)

    def _settle_send(self, provider, log, copies, claimed, now):
        """Settle one send; return the provider id of the copy it claimed, if any."""
        mail = self._unsettled_mail(log)
        if not mail:
            # Deleted, retried, or sent since: nobody is waiting for this answer any more.
            log.state = FAILED
            return None
        old_enough = log.sent_at <= now - SETTLE_AFTER
        if not copies and not old_enough:
            return None
        raw, _thread = mail._trail_build(self)
        recipients = _recipients(raw)
        for copy in copies:
            if copy.provider_id not in claimed and _copy_recipients(copy.mail_id) == recipients:
                self._settle_as_sent(log, mail, copy)
                return copy.provider_id
        if old_enough and self._absence_means_not_sent(provider, log, raw):
            self._settle_as_not_sent(log, mail)
        return None

    def _unsettled_mail(self, log):
        """The mail ``log`` left in exception, unless a later send of it took over."""
        mail = self.env["mail.mail"].sudo().browse(log.mail_mail_id).exists()
        if not mail or mail.state != "exception":
            return mail.browse()
        later = (
            self.env["trail.mailbox.send"]
            .sudo()
            .search_count([("mail_mail_id", "=", mail.id), ("id", ">", log.id)], limit=1)
        )
        return mail.browse() if later else mail

    def _settle_as_sent(self, log, mail, copy):
        # The verdict first, on the log's own cursor: should marking the mail fail, a Retry
        # finds the send done and marks the mail sent without sending it again.
        values = {"state": SENT, "provider_id": copy.provider_id, "thread_key": copy.thread_key}
        self.env["trail.mailbox.send"]._log_finish(log.id, values)
        log.invalidate_recordset()
        _logger.info(
            "Mailbox %s: the send of mail %s was unconfirmed; its copy is in the Sent folder",
            self.id,
            mail.id,
        )
        mail._trail_done(self, copy.provider_id, copy.thread_key, None)

    def _absence_means_not_sent(self, provider, log, raw):
        """Whether a copy missing an hour after the attempt means the send did not happen."""
        # A message of this mailbox that failed to capture (or whose failure was dismissed)
        # around the attempt may be the copy. The window opens an hour early: a failure's
        # write date is its transaction's start, which can come before the attempt.
        failed_around = (
            self.env["trail.mail.failure"]
            .sudo()
            .search_count(
                [
                    ("mailbox_id", "=", self.id),
                    ("write_date", ">=", log.sent_at - SETTLE_AFTER),
                ],
                limit=1,
            )
        )
        if failed_around or not self._provider_keeps_message_ids(provider):
            return False
        # A copy the capture rules keep out would never show.
        return not decide(raw, self._capture_policy())

    def _provider_keeps_message_ids(self, provider):
        """Whether the provider's own copy of a confirmed send kept the Message-ID Odoo set.

        Read once from the provider (the copy captured at send time is Odoo's own MIME, so
        it proves nothing) and remembered on the mailbox.
        """
        if self.sent_message_ids_kept:
            return True
        confirmed = (
            self.env["trail.mailbox.send"]
            .sudo()
            .search(
                [("mailbox_id", "=", self.id), ("state", "=", SENT), ("provider_id", "!=", False)],
                order="id desc",
                limit=1,
            )
        )
        if not confirmed:
            return False
        try:
            (fetched,) = provider.fetch([MessageRef(confirmed.provider_id)])
        except ProviderError as error:
            _logger.info("Mailbox %s: a sent copy could not be read: %s", self.id, error)
            return False
        headers = parse_headers(fetched.raw) if isinstance(fetched, Fetched) else None
        kept = bool(headers) and headers.message_id == normalise_message_id(
            confirmed.message_id or ""
        )
        if kept:
            self.sudo().sent_message_ids_kept = True
        return kept

    def _settle_as_not_sent(self, log, mail):
        log.state = FAILED
        reason = self.env._(
            "Not confirmed by %(address)s, and not in its Sent folder an hour later, so it "
            "did not go out. Click Retry to send it.",
            address=self.address,
        )
        mail.failure_reason = reason
        # The chatter's envelope and the resend dialog read the notifications' reason.
        self.env["mail.notification"].sudo().search(
            [("mail_mail_id", "=", mail.id), ("notification_status", "=", "exception")]
        ).failure_reason = reason

    # ------------------------------------------------------------------ pacing
    def _send_per_minute(self):
        self.ensure_one()
        param = (
            self.env["ir.config_parameter"].sudo().get_param(PARAM_SEND_PER_MINUTE + self.provider)
        )
        if param not in (None, False, ""):
            return int(param)
        return DEFAULT_SEND_PER_MINUTE.get(self.provider, 0)

    def _next_send_slot(self):
        """None when the mailbox may send now, else the time its rolling minute frees a slot."""
        self.ensure_one()
        limit = self._send_per_minute()
        if limit <= 0:
            return None
        now = fields.Datetime.now()
        # Read on the log's own cursor: it sees the sends this batch has already logged.
        with self.env["trail.mailbox.send"]._durable() as Send:
            recent = Send.search(
                [
                    ("mailbox_id", "=", self.id),
                    ("state", "in", (SENDING, SENT)),
                    ("sent_at", ">", now - SEND_WINDOW),
                ],
                order="sent_at desc",
                limit=limit,
            ).mapped("sent_at")
        if len(recent) < limit:
            return None
        return recent[-1] + SEND_WINDOW


class TrailMailboxSend(models.Model):
    """One message handed to a mailbox's provider, kept for pacing and against double sends."""

    _name = "trail.mailbox.send"
    _description = "Message sent through a mailbox"
    _order = "sent_at desc, id desc"
    _rec_name = "message_id"

    mailbox_id = fields.Many2one("trail.mailbox", required=True, index=True, ondelete="cascade")
    mail_mail_id = fields.Integer(
        string="Outgoing mail", index=True, help="Id of the mail.mail, which may be deleted."
    )
    message_id = fields.Char(string="Message-ID", index=True)
    sent_at = fields.Datetime(
        string="Sent on", required=True, default=fields.Datetime.now, index=True
    )
    state = fields.Selection(
        [
            (SENDING, "Handed to the provider"),
            (SENT, "Sent"),
            (FAILED, "Failed"),
            (UNKNOWN, "Outcome unknown"),
        ],
        string="Status",
        required=True,
        default=SENDING,
    )
    provider_id = fields.Char(
        string="Message id at the provider", help="The sent copy's id at the provider."
    )
    thread_key = fields.Char(string="Thread id at the provider")

    @contextmanager
    def _durable(self):
        """Yield this model on a cursor whose writes outlive the caller's transaction.

        Tests share the test transaction instead, which is rolled back as a whole.
        """
        if _in_test():
            yield self.sudo()
            return
        with self.env.registry.cursor() as cr:
            yield self.sudo().with_env(self.env(cr=cr))

    @api.model
    def _log_start(self, mailbox, mail):
        with self._durable() as Send:
            return Send.create(
                {"mailbox_id": mailbox.id, "mail_mail_id": mail.id, "message_id": mail.message_id}
            ).id

    @api.model
    def _log_finish(self, log_id, values):
        with self._durable() as Send:
            Send.browse(log_id).write(values)

    @api.model
    def _log_for(self, mail):
        """The send of ``mail`` that blocks another one (sent, or handed over with no answer
        recorded), as a dict of its state, provider id and thread; None when there is none."""
        with self._durable() as Send:
            log = Send.search(
                [("mail_mail_id", "=", mail.id), ("state", "in", (SENDING, SENT))], limit=1
            )
            return log.read(["state", "provider_id", "thread_key"])[0] if log else None


def _recipients(raw):
    """The To and Cc addresses of ``raw``, normalised as captured participants are."""
    headers = parse_headers(raw)
    if not headers:
        return set()
    return {normalise_address(address.email) for address in headers.to + headers.cc} - {""}


def _copy_recipients(mail):
    return {p.email for p in mail.participant_ids if p.header in ("to", "cc")}
