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
      the scans that follow when it did go out (:meth:`TrailMailbox._settle_unknown_sends`):
      the Sent folder is captured anyway, so a captured copy in this mailbox with the send's
      Message-ID and recipients (kept on the log), claimed by no other send, marks the mail
      sent, and a Retry already queued finds it done. (Odoo sends one message per group of
      recipients, all with one Message-ID, hence the recipients and the claim.) No copy is
      no proof of anything, so such a mail waits for a person; the scans look back a week.
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
from ..core.mime import normalise_message_id, parse_headers
from .trail_mailbox import SYNCING_STATES

_logger = logging.getLogger(__name__)

PARAM_SEND_PER_MINUTE = "trail_email_integration.send_per_minute_"
DEFAULT_SEND_PER_MINUTE = {"microsoft": 30, "google": 0}
SEND_WINDOW = timedelta(minutes=1)
# How far back the scans look for the copy of a send whose outcome is unknown.
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
    def _settle_unknown_sends(self):
        """Mark sent the sends of unknown outcome whose copy the scans found in the Sent folder.

        Called at the end of a scan, so every change of the Sent folder up to now is captured.
        A copy settles a send when it carries the send's Message-ID and recipients (Odoo sends
        one message per group of recipients, all with one Message-ID) and no other send of
        this mailbox claims it. A send with no copy stays as it is: its absence is not proof
        (the capture rules may keep the copy out; a provider may give it a Message-ID of its
        own), so a person checks the Sent folder before Retry.
        """
        self.ensure_one()
        Send = self.env["trail.mailbox.send"].sudo()
        logs = Send.search(
            [
                ("mailbox_id", "=", self.id),
                ("state", "=", UNKNOWN),
                ("recipients", "!=", False),
                ("sent_at", ">=", fields.Datetime.now() - SETTLE_LOOKS_BACK),
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
        if not locations:
            return
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
            recipients = set(log.recipients.split(","))
            copy = next(
                (
                    copy
                    for copy in copies.get(wanted[log.id], [])
                    if copy.provider_id not in claimed
                    and _copy_recipients(copy.mail_id) == recipients
                ),
                None,
            )
            if not copy:
                continue
            try:
                with self.env.cr.savepoint():
                    self._settle_as_sent(log, copy)
            except Exception:
                _logger.exception("Mailbox %s: send %s could not be settled", self.id, log.id)
            else:
                claimed.add(copy.provider_id)

    def _settle_as_sent(self, log, copy):
        Send = self.env["trail.mailbox.send"]
        # The verdict first, on the log's own cursor: a Retry already queued, or clicked
        # while this runs, then finds the send done and marks the mail sent without sending.
        Send._log_finish(
            log.id, {"state": SENT, "provider_id": copy.provider_id, "thread_key": copy.thread_key}
        )
        log.invalidate_recordset()
        _logger.info(
            "Mailbox %s: the unconfirmed send of mail %s is in the Sent folder; marked sent",
            self.id,
            log.mail_mail_id,
        )
        mail = self.env["mail.mail"].sudo().browse(log.mail_mail_id).exists()
        if not mail or mail.state not in ("exception", "outgoing"):
            return
        if Send.sudo().search_count([("mail_mail_id", "=", mail.id), ("id", ">", log.id)], limit=1):
            return  # sent again since: that send's own outcome rules
        try:
            mail._trail_done(self, copy.provider_id, copy.thread_key, None)
        except Exception:
            # The caller's savepoint undoes the mail's changes; the log, on its own cursor,
            # goes back too, so that the next scan tries again.
            Send._log_finish(log.id, {"state": UNKNOWN, "provider_id": False, "thread_key": False})
            raise

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
        string="Message id at the provider",
        index="btree_not_null",
        help="The sent copy's id at the provider.",
    )
    recipients = fields.Text(
        help="The To and Cc addresses of the message handed over, normalised and comma-"
        "separated: with the Message-ID, they tell its copy in the Sent folder."
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
    def _log_start(self, mailbox, mail, raw):
        with self._durable() as Send:
            return Send.create(
                {
                    "mailbox_id": mailbox.id,
                    "mail_mail_id": mail.id,
                    "message_id": mail.message_id,
                    "recipients": ",".join(sorted(_recipients(raw))) or False,
                }
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
    return {normalise_address(address.email) for address in headers.to + headers.cc} - {"", None}


def _copy_recipients(mail):
    return {p.email for p in mail.participant_ids if p.header in ("to", "cc")}
