"""Who may see what of captured mail, beyond the record rules.

What it is
    The record rules (``security/trail_rules.xml``) decide which emails a user reaches at all:
    their own mailboxes' mail, and mail filed into profiles. This module decides how much of a
    reachable email a user other than its owner sees, following the *Shared with colleagues*
    level of the mailboxes it was captured from, and guards the files of captured mail.

How it works
    - ``trail.mailbox.share_level``: ``full`` (everything), ``subject`` (subject and metadata:
      no body, headers, attachments or original) or ``metadata`` (not even the subject). An
      email seen in several mailboxes follows the most open of them, since each owner shares
      their copy. The owner of any of its mailboxes, and holders of *See everyone's unfiled
      mail*, always see everything.
    - :meth:`TrailMail._trail_hidden_fields` names the fields hidden from the current user;
      ``read`` (and so ``search_read``, ``web_read``) returns them empty, the display name
      says the email is restricted, and an export that asks for them is refused.
    - Users only file, ignore and allow remote images (``USER_WRITABLE_FIELDS``); what was
      captured is written by the engine alone.
    - ``ir.attachment``: a file of a captured email (an attachment or the original) is found
      and read only by who may read the email and see its content (``_search``, which reads
      go through, and ``_check_access``), and nobody but the engine changes or deletes it.
      ``/web/content``, ``/web/image``, JSON-RPC reads and exports all follow.
    - ``ir.binary``: files of captured mail are sent as downloads with their own content
      type and a ``default-src 'none'`` policy, so an HTML or SVG file from a sender never
      runs on Odoo's origin; only plain raster images (pictures in the body) show inline.

    - Searching or grouping on a field the level hides reaches only mail that shows it, so a
      search cannot tell what a restricted email says.

Caveats
    The owner's view decides per email, not per mailbox: an email also seen in a mailbox that
    shares everything is shown in full.
"""

from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.http import Stream
from odoo.osv import expression

SHARE_LEVELS = [
    ("full", "Everything"),
    ("subject", "Subject and metadata"),
    ("metadata", "Metadata only"),
]
SHARE_RANK = {"metadata": 0, "subject": 1, "full": 2}
CONTENT_FIELDS = frozenset(
    {
        "body_text",
        "body_html",
        "body_html_view",
        "snippet",
        "headers_text",
        "parse_notes",
        "attachment_ids",
        "attachment_count",
        "original_id",
    }
)
# Searching or grouping on these fields only reaches mail whose mailbox shares at least
# these levels with the user (or that is in one of the user's own mailboxes).
GUARDED_SEARCH = {
    **dict.fromkeys(CONTENT_FIELDS, ("full",)),
    "subject": ("full", "subject"),
    "display_name": ("full", "subject"),
}
USER_WRITABLE_FIELDS = frozenset({"profile_ids", "show_remote_content", "ignored"})
SUBJECT_FIELDS = frozenset({"subject", "display_name"})
# Provider grants on the mailbox: administrators only, never copied, never exported.
TOKEN_FIELDS = frozenset(
    {
        "google_refresh_token",
        "google_access_token",
        "google_token_expiry",
        "microsoft_token_cache",
        "microsoft_auth_flow",
    }
)
# Files of captured mail a browser may show inline: plain raster images (cid: pictures in the
# body). Everything else is served as a download.
INLINE_MIMETYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"})
GROUP_ALL_MAIL = "trail_email_integration.group_trail_all_mail"
# What the owner of a mailbox may change on it; the rest (which address is read, whose it is,
# its state, cursors and counters) belongs to the connection, the engine and administrators.
# An owner who could rewrite the address of a company-managed mailbox would read any colleague's
# mail through the organisation's credential. Send-as aliases come from the provider: an alias
# counts as the owner's own address, which the never-capture lists and filing pass over.
OWNER_WRITABLE_MAILBOX_FIELDS = frozenset({"share_level", "backfill_years"})
# A new mailbox of one's own, as the connect buttons and the form create it.
OWNER_CREATE_DEFAULTS = {"owner_type": "personal", "state": "connecting", "active": True}
OWNER_CREATE_FIELDS = OWNER_WRITABLE_MAILBOX_FIELDS | {
    "provider",
    "address",
    "user_id",
    "company_id",
}
# Context flag of the attachment search: the emails it checks must show their files.
FILES_CHECK = "trail_files_check"


class TrailMailbox(models.Model):
    _inherit = "trail.mailbox"

    share_level = fields.Selection(
        SHARE_LEVELS,
        string="Shared with colleagues",
        default="full",
        required=True,
        help="What colleagues see of this mailbox's mail once it is filed into a profile: "
        "everything, the subject and metadata only, or the metadata only (date, parties, "
        "profiles). Unfiled mail is never shown to them.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        if not self._trail_may_manage():
            for vals in vals_list:
                self._trail_check_owner_create(vals)
        return super().create(vals_list)

    def _trail_check_owner_create(self, vals):
        refused = sorted(
            name
            for name, value in vals.items()
            if name not in OWNER_CREATE_FIELDS
            and (name not in OWNER_CREATE_DEFAULTS or value != OWNER_CREATE_DEFAULTS[name])
        )
        if vals.get("user_id", self.env.uid) != self.env.uid:
            refused.append("user_id")
        company = vals.get("company_id")
        if company and company not in self.env.user.company_ids.ids:
            refused.append("company_id")
        if refused:
            raise AccessError(
                self.env._(
                    "Only an Email integration administrator can create a mailbox with these "
                    "values: %s. Use Connect Google or Connect Microsoft 365 for your own.",
                    ", ".join(refused),
                )
            )

    def write(self, vals):
        if not self._trail_may_manage():
            refused = set(vals) - OWNER_WRITABLE_MAILBOX_FIELDS
            if refused:
                raise AccessError(
                    self.env._(
                        "Only an Email integration administrator can change these fields of a "
                        "mailbox: %s. Its owner may change what colleagues see of its mail and "
                        "how many years of history to import.",
                        ", ".join(sorted(refused)),
                    )
                )
        return super().write(vals)

    def export_data(self, fields_to_export):
        asked = {path.split("/")[0] for path in fields_to_export}
        if asked & TOKEN_FIELDS:
            raise AccessError(self.env._("Mailbox tokens are never exported."))
        return super().export_data(fields_to_export)

    @api.model
    def _oauth_check_state(self, scope, state):
        mailbox = super()._oauth_check_state(scope, state)
        # The signature ties the state to a user; the mailbox must be theirs too.
        if mailbox:
            owner = mailbox.sudo().user_id
            if owner and owner != self.env.user and not self.env.is_admin():
                raise AccessError(self.env._("This mailbox belongs to another user."))
        return mailbox


class TrailMail(models.Model):
    _inherit = "trail.mail"

    content_hidden = fields.Boolean(
        compute="_compute_content_hidden",
        help="Shared with you without its content: its mailbox shares only the subject and "
        "metadata, or only the metadata.",
    )

    @api.depends_context("uid")
    def _compute_content_hidden(self):
        hidden = self._trail_hidden_fields()
        for mail in self:
            mail.content_hidden = mail.id in hidden

    def write(self, vals):
        # What was captured is a record of what was sent: people file, ignore and allow remote
        # images; only the engine writes the rest (a body written through RPC would be a way
        # to plant HTML in a colleague's browser).
        if self.env.su:
            return super().write(vals)
        if set(vals) - USER_WRITABLE_FIELDS:
            raise AccessError(
                self.env._(
                    "Captured email cannot be changed, only filed: %s",
                    ", ".join(sorted(set(vals) - USER_WRITABLE_FIELDS)),
                )
            )
        if "profile_ids" in vals:
            # Checked on the email as it is now; the filing that follows may take it out of
            # the user's reach half-way, so it runs as the system (still recorded as theirs).
            self.check_access("write")
            return super(TrailMail, self.sudo()).write(vals)
        return super().write(vals)

    def _trail_hidden_fields(self):
        """``{mail id: fields hidden from the current user}``; emails shown whole are absent."""
        if self.env.su or self.env.user.has_group(GROUP_ALL_MAIL):
            return {}
        hidden = {}
        for mail in self.sudo():
            mailboxes = mail.location_ids.mailbox_id.with_context(active_test=False)
            if not mailboxes or self.env.user in mailboxes.user_id:
                continue
            rank = max(SHARE_RANK.get(m.share_level, 2) for m in mailboxes)
            if rank == SHARE_RANK["full"]:
                continue
            hidden[mail.id] = CONTENT_FIELDS | (SUBJECT_FIELDS if rank == 0 else frozenset())
        return hidden

    # ------------------------------------------------------------------ search and group
    def _trail_search_unguarded(self):
        return self.env.su or self.env.user.has_group(GROUP_ALL_MAIL)

    def _trail_content_domain(self):
        """Mail the current user may see in full, files included, as a domain (record rules
        apply on top)."""
        if self._trail_search_unguarded():
            return []
        return self._trail_visible_for(("full",))

    def _trail_visible_for(self, levels):
        """Mail whose ``levels``-guarded fields the current user may see, as a domain."""
        # Through the mailboxes as the system: the user may not read a colleague's mailbox.
        shown = self.sudo()._search(
            [
                "|",
                ("location_ids.mailbox_id.user_id", "=", self.env.uid),
                ("location_ids.mailbox_id.share_level", "in", list(levels)),
            ]
        )
        return [("id", "in", shown)]

    def _trail_guard_domain(self, domain):
        """``domain`` where each condition on a hidden field only reaches mail that shows it,
        so a search cannot tell what a colleague's restricted mail says."""
        guarded = []
        for term in domain:
            fname = term[0] if isinstance(term, (list, tuple)) and len(term) == 3 else None
            levels = GUARDED_SEARCH.get(fname.split(".")[0]) if isinstance(fname, str) else None
            if levels:
                guarded += ["&", term, *self._trail_visible_for(levels)]
            else:
                guarded.append(term)
        return guarded

    @api.model
    def _search(self, domain, offset=0, limit=None, order=None):
        if not self._trail_search_unguarded():
            domain = self._trail_guard_domain(list(domain))
            if self.env.context.get(FILES_CHECK):
                # Odoo's attachment search asks which emails the files it found belong to.
                domain = expression.AND([domain, self._trail_content_domain()])
        return super()._search(domain, offset=offset, limit=limit, order=order)

    @api.model
    def _read_group(
        self, domain, groupby=(), aggregates=(), having=(), offset=0, limit=None, order=None
    ):
        if not self._trail_search_unguarded():
            for spec in groupby:
                levels = GUARDED_SEARCH.get(spec.split(":")[0].split(".")[0])
                if levels:
                    domain = expression.AND([domain, self._trail_visible_for(levels)])
        return super()._read_group(
            domain, groupby, aggregates, having=having, offset=offset, limit=limit, order=order
        )

    def _read_format(self, fnames, load="_classic_read"):
        result = super()._read_format(fnames, load=load)
        hidden = self._trail_hidden_fields() if self else {}
        if not hidden:
            return result
        for values in result:
            for fname in hidden.get(values.get("id"), ()):
                if fname in values:
                    values[fname] = self._trail_hidden_value(fname)
        return result

    def web_read(self, specification):
        # The web client reads related records too (the files of an email): an email shared
        # without its content is read without them, rather than failing on them.
        hidden = self._trail_hidden_fields() if self else {}
        if not hidden:
            return super().web_read(specification)
        by_id = {}
        groups = {}
        for mail in self:
            groups.setdefault(hidden.get(mail.id, frozenset()), []).append(mail.id)
        for names, ids in groups.items():
            spec = {key: value for key, value in specification.items() if key not in names}
            for values in super(TrailMail, self.browse(ids)).web_read(spec):
                for fname in names & specification.keys():
                    values[fname] = self._trail_hidden_value(fname)
                by_id[values["id"]] = values
        return [by_id[mail_id] for mail_id in self.ids]

    def _trail_hidden_value(self, fname):
        if fname == "display_name":
            return self.env._("Restricted email")
        if self._fields[fname].type in ("one2many", "many2many"):
            return []
        return False

    @api.depends("subject")
    @api.depends_context("uid")
    def _compute_display_name(self):
        hidden = self._trail_hidden_fields()
        for mail in self:
            if "subject" in hidden.get(mail.id, ()):
                mail.display_name = self.env._("Restricted email")
            else:
                mail.display_name = mail.subject or self.env._("(no subject)")

    def export_data(self, fields_to_export):
        hidden = self._trail_hidden_fields()
        asked = {path.split("/")[0] for path in fields_to_export}
        if any(asked & names for names in hidden.values()):
            raise AccessError(
                self.env._(
                    "Some of these emails are shared with you without their content; "
                    "export them without the subject, body, headers and files."
                )
            )
        return super().export_data(fields_to_export)


class TrailMailAssignment(models.Model):
    _inherit = "trail.mail.assignment"

    @api.model_create_multi
    def create(self, vals_list):
        # Filing by hand changes the email, so it needs the right to change it as it is now:
        # filing someone's unfiled mail would otherwise be a way to read it, and the rule on
        # the new record cannot tell, since unfiling takes the email out of the user's reach.
        if not self.env.su:
            mail_ids = {values.get("mail_id") for values in vals_list} - {None, False}
            self.env["trail.mail"].browse(mail_ids).check_access("write")
        return super().create(vals_list)


class IrAttachment(models.Model):
    _inherit = "ir.attachment"

    def _check_access(self, operation):
        result = super()._check_access(operation)
        if self.env.su or not self._ids:
            return result
        already = result[0] if result else self.browse()
        forbidden = self._trail_forbidden(operation) - already
        if not forbidden:
            return result

        def make_error():
            return AccessError(self.env._("You may not access the files of this captured email."))

        if result:
            return already | forbidden, make_error
        return forbidden, make_error

    def _search(self, domain, offset=0, limit=None, order=None):
        # Reads of stored fields are checked by searching: files of mail the user may not
        # read in full must not be found, so they cannot be read either. Odoo's own search
        # checks the records the files belong to, a model at a time, and keeps its paging
        # right; the flag makes that check of captured mail ask for the content too.
        return super(IrAttachment, self.with_context(**{FILES_CHECK: True}))._search(
            domain, offset, limit, order
        )

    def _trail_forbidden(self, operation):
        """The attachments of captured mail in ``self`` that ``operation`` may not touch."""
        files = self.sudo().filtered(lambda a: a.res_model == "trail.mail" and a.res_id)
        if not files:
            return self.browse()
        if operation != "read":
            return self.browse(files.ids)
        mails = self.env["trail.mail"].browse(set(files.mapped("res_id"))).exists()
        readable = mails._filtered_access("read")
        hidden = readable._trail_hidden_fields()
        allowed = {m.id for m in readable if "attachment_ids" not in hidden.get(m.id, ())}
        return self.browse([a.id for a in files if a.res_id not in allowed])


class DownloadStream(Stream):
    """A stream a browser must save, never render; it may not load anything either."""

    def get_response(self, as_attachment=None, immutable=None, **send_file_kwargs):
        send_file_kwargs["content_security_policy"] = "default-src 'none'"
        return super().get_response(as_attachment=True, immutable=immutable, **send_file_kwargs)


class IrBinary(models.AbstractModel):
    _inherit = "ir.binary"

    def _get_stream_from(self, record, field_name="raw", *args, **kwargs):
        stream = super()._get_stream_from(record, field_name, *args, **kwargs)
        if (
            record._name == "ir.attachment"
            and record.sudo().res_model == "trail.mail"
            and stream.type != "url"
            and (stream.mimetype or "").split(";")[0] not in INLINE_MIMETYPES
        ):
            return DownloadStream(**stream.__dict__)
        return stream
