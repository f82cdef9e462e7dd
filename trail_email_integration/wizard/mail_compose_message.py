"""The compose dialog says how the mail will leave, and takes Cc and Bcc.

What it is
    An extension of ``mail.compose.message``: a line at the top of the dialog ("Sent from your
    Google mailbox ada@…", "Sent from your Microsoft 365 mailbox …" or "Sent by Odoo's mail
    server"), and a Cc row and a Bcc row.

How it works
    - The routing line applies the same rule as ``mail.mail`` (``models/mail_mail.py``) to the
      composer's author; a mail server chosen on the composer means Odoo's server.
    - Cc and Bcc each take contacts (tags, like To) and, for addresses that should not become
      contacts, a free-text line of addresses separated by commas. Cc and Bcc recipients are
      not notified as followers and do not become followers; they get this one email.
    - When posting on a record, Odoo writes one ``mail.mail`` per group of recipients. The Cc
      and Bcc go on one of them, the one carrying the To contacts, so each copy is sent once.
      If Odoo wrote none (every To is notified inside Odoo), a mail carrying only the Cc and
      Bcc is added. Mail is sent as the composer says (at once or through the queue).
    - In mass mode, every generated mail gets the Cc and Bcc.

Use
    Open the full composer from a chatter ("Send message", then the expand button).

Caveats
    Mail sent by Odoo's server delivers Bcc as a separate copy that shows the To of the main
    message and no Bcc header; mail sent through a mailbox carries Bcc in the MIME, which Gmail
    and Graph remove from what the recipients receive.
"""

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools.mail import email_normalize, email_split_and_format_normalize, formataddr


class MailComposeMessage(models.TransientModel):
    _inherit = "mail.compose.message"

    trail_send_route = fields.Char(
        string="Sent from", compute="_compute_trail_send_route", help="How this mail will leave."
    )
    trail_cc_partner_ids = fields.Many2many(
        "res.partner",
        "trail_compose_cc_partner_rel",
        "wizard_id",
        "partner_id",
        string="Cc",
    )
    trail_email_cc = fields.Char(string="Other Cc addresses")
    trail_bcc_partner_ids = fields.Many2many(
        "res.partner",
        "trail_compose_bcc_partner_rel",
        "wizard_id",
        "partner_id",
        string="Bcc",
    )
    trail_email_bcc = fields.Char(string="Other Bcc addresses")

    @api.depends("author_id", "email_from", "mail_server_id", "composition_mode")
    def _compute_trail_send_route(self):
        Mailbox = self.env["trail.mailbox"]
        for composer in self:
            mailbox = Mailbox.browse()
            if composer.author_id and not composer.mail_server_id:
                mailbox = Mailbox._sending_mailbox(composer.author_id, composer.email_from)
            composer.trail_send_route = (
                mailbox._describe_sending() if mailbox else self.env._("Sent by Odoo's mail server")
            )

    # ------------------------------------------------------------------ copies
    def _trail_copies(self):
        """Return the Cc and the Bcc as address lines (empty strings when none)."""
        self.ensure_one()
        return (
            self._trail_addresses(self.trail_cc_partner_ids, self.trail_email_cc),
            self._trail_addresses(self.trail_bcc_partner_ids, self.trail_email_bcc),
        )

    def _trail_addresses(self, partners, text):
        addresses = []
        for partner in partners:
            if not email_normalize(partner.email or ""):
                raise UserError(
                    self.env._("%s has no valid email address to send a copy to.", partner.name)
                )
            addresses.append(formataddr((partner.name or "", partner.email_normalized)))
        for item in (text or "").replace(";", ",").split(","):
            if not item.strip():
                continue
            formatted = email_split_and_format_normalize(item)
            if len(formatted) != 1:
                raise UserError(self.env._("This is not an email address: %s", item.strip()))
            addresses.append(formatted[0])
        return ", ".join(dict.fromkeys(addresses))

    def _action_send_mail_comment(self, res_ids):
        cc, bcc = self._trail_copies()
        if not cc and not bcc:
            return super()._action_send_mail_comment(res_ids)
        # Hold the notification mails back until the copies are on them.
        messages = super(
            MailComposeMessage, self.with_context(mail_notify_force_send=False)
        )._action_send_mail_comment(res_ids)
        Mail = self.env["mail.mail"].sudo()
        mails = Mail.search(
            [("mail_message_id", "in", messages.ids), ("state", "=", "outgoing")], order="id"
        )
        for message in messages:
            own = mails.filtered(lambda m, message=message: m.mail_message_id == message)
            target = own.filtered(lambda m: m.recipient_ids & self.partner_ids)[:1] or own[:1]
            if target:
                merged = ", ".join(filter(None, [target.email_cc, cc]))
                target.write({"email_cc": merged or False, "trail_email_bcc": bcc or False})
            else:
                mails |= Mail.create(
                    {
                        "mail_message_id": message.id,
                        "body_html": message.body,
                        "references": message.message_id,
                        "email_cc": cc or False,
                        "trail_email_bcc": bcc or False,
                        "auto_delete": self.auto_delete,
                    }
                )
        if self.force_send and mails:
            mails.send_after_commit()
        return messages

    def _prepare_mail_values(self, res_ids):
        results = super()._prepare_mail_values(res_ids)
        if self.composition_mode != "mass_mail":
            return results
        cc, bcc = self._trail_copies()
        if cc or bcc:
            for values in results.values():
                values["email_cc"] = ", ".join(filter(None, [values.get("email_cc"), cc]))
                values["trail_email_bcc"] = bcc or False
        return results
