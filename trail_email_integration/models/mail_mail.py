"""Outgoing mail from an adviser leaves through the adviser's own mailbox (Gmail or Graph).

What it is
    An extension of ``mail.mail``. Mail whose author owns a connected mailbox is sent through
    that mailbox's provider, so the client sees it from the adviser and it lands in the
    adviser's Sent folder; everything else keeps Odoo's outgoing mail server.

How it works
    - Routing (:meth:`MailMail._trail_route`): a mail goes through a mailbox when it was
      written by a person (message type comment or outgoing email), its author is an active
      internal user other than the superuser and OdooBot, that user has a syncing mailbox with
      sending on, no mail server was chosen for it explicitly, and it does not only notify
      internal users. So password resets, invitations, activity and assignment notices,
      automated messages (``auto_comment``, ``user_notification``, ``notification``) and
      follower notices to colleagues keep Odoo's server.
    - :meth:`send` splits the batch: routed mail is sent here, the rest goes to ``super()``.
    - A routed mail is built by Odoo's own ``ir.mail_server.build_email``, as one message to
      all its recipients (To: the recipient contacts and ``email_to``; Cc: ``email_cc``; Bcc:
      ``trail_email_bcc``, kept in the MIME because Gmail and Graph deliver to Bcc from it and
      take it out of what the recipients see). From is the mailbox address, or the send-as
      alias the mail's From names. Reply-To is left to From: replies reach the mailbox, which
      is captured. A reply carries In-Reply-To, and on Gmail the thread id of the captured
      email it answers.
    - Once sent, the mail is marked sent (and deleted when ``auto_delete`` asks) and the sent
      copy is captured at once under the provider's id, so it is filed into the recipients'
      profiles now; the next scan finds that id already known and fetches nothing.
    - Failures, by kind: lost authorisation puts the mail in exception ("reconnect your
      mailbox") and the mailbox in "needs reconnect"; a provider that asked to wait
      (``retry_after``) keeps the mail queued, rescheduled with a growing delay; any other
      error, including a server error after which the provider may or may not have sent the
      message, puts it in exception with the reason, and the sender chooses to retry. For an
      unknown outcome the scans settle it from the Sent folder
      (``TrailMailbox._settle_unknown_sends`` in ``trail_mailbox_send.py``).
    - No double sends: the mail row is locked while it is sent, and the send log
      (``trail.mailbox.send``) records the attempt before the provider is called and its
      provider id as soon as it answers, on a cursor of its own. A mail whose log says "sent"
      is marked sent without another call; one whose attempt never recorded an answer is put
      in exception for the sender to check the Sent folder, never resent blindly.

Use
    Nothing to call: ``mail.mail.send()`` and the mail queue cron route by themselves. Turn
    sending off per mailbox with its "Send from Odoo" switch.

Caveats
    Odoo writes one ``mail.mail`` per group of recipients (customers, portal users, ...), all
    with the message's Message-ID; each goes out as its own message. Odoo's per-recipient
    personalisation (unfollow links) is not applied to mail sent through a mailbox.
"""

import logging
from datetime import timedelta

import psycopg2

from odoo import fields, models, tools
from odoo.addons.base.models.ir_mail_server import MailDeliveryException
from odoo.tools.mail import (
    email_normalize,
    email_split_and_format_normalize,
    formataddr,
    parse_contact_from_email,
)

from ..core.capture_policy import decide
from ..core.mime import normalise_message_id
from ..core.provider import AuthorisationLost, MessageRef, ProviderError, TemporaryError
from .trail_mailbox_send import FAILED, SENT, UNKNOWN

_logger = logging.getLogger(__name__)

ROUTED_MESSAGE_TYPES = ("comment", "email_outgoing")
RETRY_BASE_SECONDS = 60
RETRY_CAP_SECONDS = 3600
MAX_SEND_RETRIES = 8
# Headers Odoo adds for its own SMTP delivery; a mailbox provider sets its own.
SMTP_ONLY_HEADERS = ("Return-Path",)


class MailMail(models.Model):
    _inherit = "mail.mail"

    trail_email_bcc = fields.Char(
        string="Bcc",
        help="Blind copies: delivered to these addresses, never shown to the other recipients.",
    )
    trail_mailbox_id = fields.Many2one(
        "trail.mailbox",
        string="Sent through mailbox",
        readonly=True,
        copy=False,
        ondelete="set null",
        index="btree_not_null",
    )
    trail_provider_id = fields.Char(
        string="Provider id", readonly=True, copy=False, help="The sent copy's id there."
    )
    trail_retry_count = fields.Integer(readonly=True, copy=False)

    # ------------------------------------------------------------------ routing
    def _trail_route(self):
        """Map the id of each mail that leaves through a mailbox to that mailbox."""
        Mailbox = self.env["trail.mailbox"]
        routes = {}
        found = {}  # one lookup per author and From in a queue of many mails
        for mail in self.sudo():
            if (
                mail.state != "outgoing"
                or mail.mail_server_id
                or mail.message_type not in ROUTED_MESSAGE_TYPES
                or not mail.author_id
                or mail._trail_only_notifies_colleagues()
            ):
                continue
            key = (mail.author_id.id, mail.email_from)
            if key not in found:
                found[key] = Mailbox._sending_mailbox(mail.author_id, mail.email_from)
            mailbox = found[key]
            if mailbox:
                routes[mail.id] = mailbox
        return routes

    def _trail_only_notifies_colleagues(self):
        if self.email_to or self.email_cc or self.trail_email_bcc:
            return False
        return all(partner.user_ids and not partner.partner_share for partner in self.recipient_ids)

    def send(self, auto_commit=False, raise_exception=False, post_send_callback=None):
        routes = self._trail_route()
        routed = self.browse([mail_id for mail_id in self.ids if mail_id in routes])
        for mail in routed:
            mail._trail_send(routes[mail.id], auto_commit=auto_commit)
            if raise_exception and mail.exists() and mail.state == "exception":
                raise MailDeliveryException(self.env._("Mail Delivery Failed"), mail.failure_reason)
        if routed and post_send_callback:
            post_send_callback(routed.ids)
        # Mail a mailbox already sent (kept, or deleted once sent) must not reach Odoo's
        # server, whose failure to connect would mark it failed.
        rest = (self - routed).exists()
        rest -= rest.sudo().filtered(lambda m: m.trail_mailbox_id and m.state == "sent")
        if not rest:
            return True
        return super(MailMail, rest).send(
            auto_commit=auto_commit,
            raise_exception=raise_exception,
            post_send_callback=post_send_callback,
        )

    # ------------------------------------------------------------------ one mail
    def _trail_lock(self):
        """Lock this mail's row if it is still outgoing and no other worker holds it."""
        try:
            with self.env.cr.savepoint():
                self.env.cr.execute(
                    "SELECT id FROM mail_mail WHERE id = %s AND state = 'outgoing' "
                    "FOR UPDATE NOWAIT",
                    [self.id],
                )
                return bool(self.env.cr.fetchone())
        except (psycopg2.errors.LockNotAvailable, psycopg2.errors.SerializationFailure):
            return False

    def _trail_send(self, mailbox, auto_commit=False):
        """Send this mail through ``mailbox``; leave it sent, queued again, or in exception."""
        self.ensure_one()
        mail = self.sudo()
        if not mail._trail_lock() or not mail._trail_may_send(mailbox):
            return
        try:
            raw, thread_id = mail._trail_build(mailbox)
        except Exception as error:
            _logger.exception("Mail %s could not be built for mailbox %s", mail.id, mailbox.id)
            mail._trail_fail(tools.exception_to_unicode(error))
            return

        # Odoo's own guard: a mail being sent reads as failed until the provider answers.
        mail.write({"state": "exception", "failure_reason": self.env._("Sending…")})
        log_id = self.env["trail.mailbox.send"]._log_start(mailbox, mail, raw)
        if auto_commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit
        mail._trail_hand_over(mailbox, raw, thread_id, log_id)
        if auto_commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit

    def _trail_may_send(self, mailbox):
        """Check the send log and the mailbox's pace; settle the mail when it must not go now."""
        Send = self.env["trail.mailbox.send"]
        earlier = Send._log_for(self)
        if earlier and earlier["state"] == SENT:
            _logger.info("Mail %s was already sent through mailbox %s", self.id, mailbox.id)
            self._trail_done(mailbox, earlier["provider_id"], earlier["thread_key"], None)
            return False
        if earlier:
            Send._log_finish(earlier["id"], {"state": UNKNOWN})
            self._trail_fail(
                self.env._(
                    "An earlier attempt to send this through %(address)s stopped before the "
                    "provider answered, so it may have gone out: each scan looks for it in the "
                    "Sent folder of %(address)s and marks it sent if it is there. Until then, "
                    "check that folder before you click Retry.",
                    address=mailbox.address,
                )
            )
            return False
        slot = mailbox._next_send_slot()
        if slot:
            reason = self.env._("Paced: this mailbox's sending limit per minute is reached.")
            self._trail_postpone(slot, reason)
            return False
        return True

    def _trail_hand_over(self, mailbox, raw, thread_id, log_id):
        """Call the provider and turn its answer, or each kind of error, into the mail's state."""
        Send = self.env["trail.mailbox.send"]
        try:
            sent = mailbox._make_provider().send(raw, thread_id or None)
        except AuthorisationLost as error:
            Send._log_finish(log_id, {"state": FAILED})
            mailbox._on_authorisation_lost(error)
            self._trail_fail(
                self.env._(
                    "Reconnect your mailbox: %(address)s no longer lets Odoo send (%(error)s).",
                    address=mailbox.address,
                    error=error,
                )
            )
        except TemporaryError as error:
            if error.retry_after is None:
                # A server error or no answer: the provider may have sent it.
                Send._log_finish(log_id, {"state": UNKNOWN})
                self._trail_fail(self._trail_unsure_reason(mailbox, error))
            else:
                Send._log_finish(log_id, {"state": FAILED})
                self._trail_retry_later(error)
        except ProviderError as error:
            Send._log_finish(log_id, {"state": FAILED})
            self._trail_fail(
                self.env._(
                    "%(address)s refused the message: %(error)s",
                    address=mailbox.address,
                    error=error,
                )
            )
        except Exception as error:
            _logger.exception("Mail %s: unexpected error sending through mailbox", self.id)
            Send._log_finish(log_id, {"state": UNKNOWN})
            self._trail_fail(self._trail_unsure_reason(mailbox, error))
        else:
            Send._log_finish(
                log_id,
                {"state": SENT, "provider_id": sent.provider_id, "thread_key": sent.thread_id},
            )
            self._trail_done(mailbox, sent.provider_id, sent.thread_id, raw, sent.labels)

    def _trail_unsure_reason(self, mailbox, error):
        return self.env._(
            "Not confirmed by %(address)s: %(error)s. It may have gone out: each scan looks for "
            "it in the Sent folder and marks it sent if it is there. Until then, check that "
            "folder before you click Retry.",
            address=mailbox.address,
            error=tools.exception_to_unicode(error),
        )

    # ------------------------------------------------------------------ outcomes
    def _trail_done(self, mailbox, provider_id, thread_id, raw, labels=()):
        """Mark sent, capture the sent copy, then let Odoo finish (notifications, deletion)."""
        self.write(
            {
                "state": "sent",
                "failure_reason": False,
                "failure_type": False,
                "trail_mailbox_id": mailbox.id,
                "trail_provider_id": provider_id or False,
            }
        )
        if raw and provider_id:
            self._trail_capture(mailbox, provider_id, thread_id, raw, labels)
        _logger.info("Mail %s sent through mailbox %s", self.id, mailbox.id)
        self._postprocess_sent_message(success_pids=self.recipient_ids)

    def _trail_capture(self, mailbox, provider_id, thread_id, raw, labels):
        Location = self.env["trail.mail.location"].sudo()
        if Location.search_count(
            [("mailbox_id", "=", mailbox.id), ("provider_id", "=", provider_id)], limit=1
        ):
            return
        ref = MessageRef(
            provider_id=provider_id, thread_id=thread_id or "", labels=tuple(labels) or ("SENT",)
        )
        # The sent copy follows the capture rules as the scan's copy would: a recipient on a
        # never-capture list, or mail among colleagues alone, leaves no copy.
        verdict = decide(raw, mailbox._capture_policy())
        if verdict:
            mailbox._record_kept_out(ref, verdict)
            mailbox.sudo().skipped_count += 1
            return
        try:
            with self.env.cr.savepoint():
                self.env["trail.mail"].sudo()._capture(mailbox, ref, raw)
        except Exception:
            # The mail is sent; the next scan captures the copy from the Sent folder instead.
            _logger.warning("Mail %s: the sent copy was not captured now", self.id, exc_info=True)

    def _trail_fail(self, reason):
        self.write({"state": "exception", "failure_reason": reason, "failure_type": "unknown"})
        self._postprocess_sent_message(
            success_pids=[], failure_reason=reason, failure_type="unknown"
        )

    def _trail_retry_later(self, error):
        attempts = self.trail_retry_count + 1
        if attempts > MAX_SEND_RETRIES:
            self._trail_fail(
                self.env._(
                    "Still refused after %(count)s tries: %(error)s",
                    count=attempts - 1,
                    error=error,
                )
            )
            return
        delay = max(
            error.retry_after or 0,
            min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** (attempts - 1)),
        )
        _logger.warning("Mail %s: provider asked to wait; retrying in %ss", self.id, delay)
        self.trail_retry_count = attempts
        self._trail_postpone(
            fields.Datetime.now() + timedelta(seconds=delay),
            self.env._("Waiting to be sent again: %s", error),
        )

    def _trail_postpone(self, when, reason):
        self.write({"state": "outgoing", "scheduled_date": when, "failure_reason": reason})
        cron = self.env.ref("mail.ir_cron_mail_scheduler_action", raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger(when)

    # ------------------------------------------------------------------ MIME
    def _trail_build(self, mailbox):
        """Return the complete MIME (Bcc included) for ``mailbox`` and the provider thread."""
        self.ensure_one()
        entries = self.with_context(trail_no_bcc_copy=True)._prepare_outgoing_list()
        first = entries[0] if entries else {}
        to = _unique(address for entry in entries for address in entry["email_to"])
        cc = _unique(email_split_and_format_normalize(self.email_cc or ""))
        bcc = _unique(email_split_and_format_normalize(self.trail_email_bcc or ""))
        headers = {
            key: value
            for key, value in (first.get("headers") or {}).items()
            if key not in SMTP_ONLY_HEADERS
        }
        in_reply_to = headers.get("In-Reply-To") or self._trail_parent_message_id()
        if in_reply_to:
            headers["In-Reply-To"] = in_reply_to
        name = parse_contact_from_email(self.email_from or "")[0] or self.author_id.name
        message = self.env["ir.mail_server"].build_email(
            email_from=formataddr((name or "", mailbox._send_from_address(self.email_from))),
            email_to=to,
            subject=first.get("subject", self.subject) or "",
            body=first.get("body") or self._prepare_outgoing_body(),
            body_alternative=first.get("body_alternative"),
            email_cc=cc,
            email_bcc=bcc,
            attachments=first.get("attachments") or [],
            message_id=self.message_id,
            references=self.references,
            object_id=first.get("object_id") or False,
            subtype="html",
            subtype_alternative="plain",
            headers=headers,
        )
        return message.as_bytes(), self._trail_thread_id(mailbox, in_reply_to)

    def _trail_parent_message_id(self):
        """The Message-ID this mail answers: the last reference other than its own."""
        own = (self.message_id or "").strip()
        references = [ref for ref in (self.references or "").split() if ref != own]
        return references[-1] if references else False

    def _trail_thread_id(self, mailbox, in_reply_to):
        """The provider thread of the captured email this mail answers, if any."""
        # Captured emails keep their Message-ID without angle brackets.
        candidates = [in_reply_to or ""] + list(reversed((self.references or "").split()))
        wanted = list(dict.fromkeys(filter(None, map(normalise_message_id, candidates))))
        if not wanted:
            return ""
        locations = (
            self.env["trail.mail.location"]
            .sudo()
            .search(
                [
                    ("mailbox_id", "=", mailbox.id),
                    ("mail_id.message_id", "in", wanted),
                    ("thread_key", "!=", False),
                ]
            )
        )
        by_message = {location.mail_id.message_id: location.thread_key for location in locations}
        return next((by_message[ref] for ref in wanted if ref in by_message), "")

    # ------------------------------------------------------------------ Odoo's SMTP
    def _prepare_outgoing_list(self, mail_server=False, recipients_follower_status=None):
        """Add the Bcc recipients of mail sent by Odoo's server as an envelope-only copy.

        The copy goes to the Bcc addresses alone and shows the To of the main message
        (``X-Forge-To``, which Odoo's SMTP layer turns back into To), so no header names them.
        """
        entries = super()._prepare_outgoing_list(
            mail_server=mail_server, recipients_follower_status=recipients_follower_status
        )
        bcc = email_split_and_format_normalize(self.trail_email_bcc or "")
        if not bcc or not entries or self.env.context.get("trail_no_bcc_copy"):
            return entries
        shown_to = ", ".join(_unique(a for entry in entries for a in entry["email_to"]))
        # The generic entry (no partner) carries the body nobody's personal links are in.
        base = next((entry for entry in entries if not entry["partner_id"]), entries[0])
        copy = dict(base)
        copy.update(
            {
                "email_to": bcc,
                "email_cc": [],
                "email_to_normalized": [email_normalize(address) for address in bcc],
                "email_to_raw": self.trail_email_bcc,
                "partner_id": False,
                "headers": {
                    **base["headers"],
                    "X-Forge-To": shown_to or "undisclosed-recipients:;",
                },
            }
        )
        return entries + [copy]


def _unique(addresses):
    seen, result = set(), []
    for address in addresses:
        key = email_normalize(address) or address
        if key not in seen:
            seen.add(key)
            result.append(address)
    return result
