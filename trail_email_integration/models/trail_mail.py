"""Captured email: one record per distinct email, as shown on the Mailbox page.

A record is keyed by its RFC Message-ID together with a digest of its content, so two different
emails that share a Message-ID are both kept, and one email seen in several mailboxes (or twice
in one) is stored once, with a :class:`TrailMailLocation` per place it was seen. The original
bytes are kept as an attachment, never re-serialised.
"""

import logging
import re
from datetime import datetime, timezone

import psycopg2
from lxml import html as lxml_html

from odoo import api, fields, models
from odoo.tools import html_sanitize

from ..core.addresses import normalise_address
from ..core.mime import content_digest, parse_message
from ..core.provider import SENT_LABELS

_logger = logging.getLogger(__name__)

HEADERS = [
    ("from", "From"),
    ("sender", "Sender"),
    ("reply_to", "Reply-To"),
    ("to", "To"),
    ("cc", "Cc"),
    ("bcc", "Bcc"),
]
PARSED_ATTRIBUTE = {"from": "from_", "sender": "sender", "reply_to": "reply_to", "to": "to",
                    "cc": "cc", "bcc": "bcc"}  # fmt: skip
REMOTE_ATTRIBUTES = ("src", "srcset", "background", "poster")
REMOTE_URL = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
BLOCKED_PREFIX = "data-trail-blocked-"
# Style values that must not come back even once remote content is allowed.
UNSAFE_STYLE = re.compile(r"expression\s*\(|javascript:|vbscript:|behavior\s*:|-moz-binding",
                          re.IGNORECASE)  # fmt: skip
CID_SRC = re.compile(r"""(["'])cid:([^"']+)\1""", re.IGNORECASE)


def format_addresses(addresses):
    parts = []
    for address in addresses:
        if address.name and address.name != address.email:
            parts.append(f"{address.name} <{address.email}>")
        else:
            parts.append(address.email)
    return ", ".join(parts)


def block_remote_content(html):
    """Move remote ``src``-like attributes aside so nothing loads until the user asks."""
    if not html or not html.strip():
        return html or "", False
    try:
        root = lxml_html.fragment_fromstring(html, create_parent="div")
    except Exception:
        return html, False
    blocked = False
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        # The sender's own "blocked" attributes would be restored as real ones on "show
        # remote images" (an onerror, say): only ours may carry the prefix.
        for attribute in [a for a in element.attrib if a.lower().startswith(BLOCKED_PREFIX)]:
            del element.attrib[attribute]
        for attribute in REMOTE_ATTRIBUTES:
            value = element.get(attribute)
            if value and REMOTE_URL.match(value):
                element.set(BLOCKED_PREFIX + attribute, value)
                del element.attrib[attribute]
                blocked = True
        style = element.get("style")
        if style and "url(" in style.lower():
            element.set(BLOCKED_PREFIX + "style", style)
            del element.attrib["style"]
            blocked = True
    inner = (root.text or "") + "".join(
        lxml_html.tostring(child, encoding="unicode") for child in root
    )
    return inner, blocked


def unblock_remote_content(html):
    """Put back what :func:`block_remote_content` moved aside, and nothing else: only the
    remote attributes it knows, and only web addresses."""
    if not html or BLOCKED_PREFIX not in html:
        return html or ""
    try:
        root = lxml_html.fragment_fromstring(html, create_parent="div")
    except Exception:
        return html
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        for attribute in [a for a in element.attrib if a.lower().startswith(BLOCKED_PREFIX)]:
            value = element.attrib.pop(attribute)
            name = attribute[len(BLOCKED_PREFIX) :].lower()
            safe_style = name == "style" and not UNSAFE_STYLE.search(value)
            if safe_style or (name in REMOTE_ATTRIBUTES and REMOTE_URL.match(value)):
                element.set(name, value)
    return (root.text or "") + "".join(
        lxml_html.tostring(child, encoding="unicode") for child in root
    )


class TrailMail(models.Model):
    _name = "trail.mail"
    _description = "Captured email"
    _order = "date desc, id desc"
    _rec_name = "subject"

    message_id = fields.Char(string="Message-ID", index=True, readonly=True)
    content_digest = fields.Char(index=True, readonly=True)
    subject = fields.Char(readonly=True)
    date = fields.Datetime(index=True, readonly=True)
    direction = fields.Selection(
        [("incoming", "Received"), ("outgoing", "Sent")], readonly=True, index=True
    )
    email_from = fields.Char(string="From", readonly=True)
    email_sender = fields.Char(string="Sender", readonly=True)
    email_reply_to = fields.Char(string="Reply-To", readonly=True)
    email_to = fields.Char(string="To", readonly=True)
    email_cc = fields.Char(string="Cc", readonly=True)
    email_bcc = fields.Char(string="Bcc", readonly=True)
    in_reply_to = fields.Char(readonly=True)
    references = fields.Text(readonly=True)
    thread_key = fields.Char(index=True, readonly=True, help="Provider thread id.")
    labels = fields.Char(string="Folders / labels", readonly=True)
    body_text = fields.Text(string="Text", readonly=True)
    body_html = fields.Html(string="HTML", sanitize=False, readonly=True)
    has_remote_content = fields.Boolean(readonly=True)
    show_remote_content = fields.Boolean()
    body_html_view = fields.Html(compute="_compute_body_html_view", sanitize=False)
    snippet = fields.Char(readonly=True)
    headers_text = fields.Text(string="Headers", readonly=True)
    parse_notes = fields.Text(readonly=True, help="What could not be read, if anything.")

    participant_ids = fields.One2many("trail.mail.participant", "mail_id", readonly=True)
    location_ids = fields.One2many("trail.mail.location", "mail_id", readonly=True)
    mailbox_ids = fields.Many2many(
        "trail.mailbox", compute="_compute_mailbox_ids", search="_search_mailbox_ids"
    )
    attachment_ids = fields.Many2many(
        "ir.attachment", "trail_mail_attachment_rel", "mail_id", "attachment_id", readonly=True
    )
    attachment_count = fields.Integer(readonly=True)
    original_id = fields.Many2one("ir.attachment", readonly=True)
    deleted_upstream = fields.Boolean(
        compute="_compute_deleted_upstream", store=True, help="Deleted in every mailbox."
    )

    auto_profile_ids = fields.Many2many(
        "res.partner", "trail_mail_auto_profile_rel", "mail_id", "profile_id", readonly=True
    )
    auto_contact_ids = fields.Many2many(
        "res.partner", "trail_mail_auto_contact_rel", "mail_id", "contact_id", readonly=True
    )
    assignment_ids = fields.One2many("trail.mail.assignment", "mail_id", readonly=True)
    profile_ids = fields.Many2many(
        "res.partner",
        "trail_mail_profile_rel",
        "mail_id",
        "profile_id",
        string="Profiles",
        compute="_compute_profile_ids",
        inverse="_inverse_profile_ids",
        store=True,
        readonly=False,
        domain=[("is_profile", "=", True)],
        help="Filed automatically by the filing rule; add or remove profiles to file by hand.",
    )
    profile_count = fields.Integer(compute="_compute_filing_state", store=True, string="Profiles #")
    ignored = fields.Boolean(readonly=True)
    filing_state = fields.Selection(
        [("filed", "Filed"), ("unfiled", "Unfiled"), ("ignored", "Ignored")],
        compute="_compute_filing_state",
        store=True,
        index=True,
    )

    _sql_constraints = [
        (
            "key_uniq",
            "unique(message_id, content_digest)",
            "This email is already captured.",
        ),
    ]

    # ------------------------------------------------------------------ computes
    @api.depends("body_html", "show_remote_content")
    def _compute_body_html_view(self):
        for mail in self:
            html = mail.body_html or ""
            mail.body_html_view = unblock_remote_content(html) if mail.show_remote_content else html

    @api.depends("location_ids.mailbox_id")
    def _compute_mailbox_ids(self):
        for mail in self:
            mail.mailbox_ids = mail.location_ids.mailbox_id

    def _search_mailbox_ids(self, operator, value):
        return [("location_ids.mailbox_id", operator, value)]

    @api.depends("location_ids.deleted_upstream")
    def _compute_deleted_upstream(self):
        for mail in self:
            locations = mail.location_ids
            mail.deleted_upstream = bool(locations) and all(locations.mapped("deleted_upstream"))

    @api.depends("auto_profile_ids", "assignment_ids.action", "assignment_ids.profile_id")
    def _compute_profile_ids(self):
        for mail in self:
            mail.profile_ids = mail._profiles_from_rule_and_assignments()

    @api.depends("profile_ids", "ignored")
    def _compute_filing_state(self):
        for mail in self:
            mail.profile_count = len(mail.profile_ids)
            if mail.ignored:
                mail.filing_state = "ignored"
            else:
                mail.filing_state = "filed" if mail.profile_ids else "unfiled"

    def _inverse_profile_ids(self):
        for mail in self:
            wanted = mail.profile_ids
            self.env["trail.mail.assignment"].create(
                [
                    {"mail_id": mail.id, "profile_id": profile.id, "action": "assign"}
                    for profile in wanted - mail._profiles_from_rule_and_assignments()
                ]
                + [
                    {"mail_id": mail.id, "profile_id": profile.id, "action": "unassign"}
                    for profile in mail._profiles_from_rule_and_assignments() - wanted
                ]
            )

    def _profiles_from_rule_and_assignments(self):
        self.ensure_one()
        profiles = self.auto_profile_ids
        for assignment in self.assignment_ids.sorted("id"):
            if assignment.action == "assign":
                profiles |= assignment.profile_id
            else:
                profiles -= assignment.profile_id
        return profiles

    # ------------------------------------------------------------------ capture
    @api.model
    def _capture(self, mailbox, ref, raw, links=(), notes=(), headers=None):
        """Store ``raw`` as seen in ``mailbox`` under ``ref``; return ``(mail, created)``.

        The caller has checked that ``mailbox`` has no location for ``ref`` yet. When the same
        email is already stored (another mailbox, or another folder), only a location is added.
        A new email also keeps ``links`` (cloud links, ``{"name", "url", "mimetype"}``) as URL
        attachments and ``notes`` (what the caller could not read) in its parse notes.
        ``headers``, ``parse_headers(raw)`` when the caller has it, spares reading them twice.
        """
        parsed = parse_message(raw, headers=headers)
        message_id = parsed.message_id[:900]
        digest = content_digest(raw)
        mail = self.search([("message_id", "=", message_id), ("content_digest", "=", digest)])
        created = False
        if not mail:
            try:
                with self.env.cr.savepoint():
                    mail = self._create_from_parsed(
                        mailbox, ref, raw, parsed, message_id, digest, links, notes
                    )
                    created = True
            except psycopg2.IntegrityError:
                # Another worker stored the same email a moment ago: use theirs.
                mail = self.search(
                    [("message_id", "=", message_id), ("content_digest", "=", digest)]
                )
                if not mail:
                    raise
        self.env["trail.mail.location"].create(
            {
                "mail_id": mail.id,
                "mailbox_id": mailbox.id,
                "provider_id": ref.provider_id,
                "thread_key": ref.thread_id,
                "labels": ",".join(ref.labels),
            }
        )
        if created:
            mail._apply_filing()
        return mail, created

    @api.model
    def _create_from_parsed(
        self, mailbox, ref, raw, parsed, message_id, digest, links=(), extra_notes=()
    ):
        notes = list(parsed.defects) + list(extra_notes)
        if message_id and self.search_count([("message_id", "=", message_id)], limit=1):
            notes.append(
                "Another captured email has the same Message-ID with different content; "
                "both are kept."
            )
            _logger.info("Kept a second email sharing Message-ID %s", message_id[:80])
        own = mailbox._own_addresses()
        senders = {normalise_address(a.email) for a in parsed.from_}
        outgoing = bool(SENT_LABELS.intersection(ref.labels)) or bool(senders & own)
        date = parsed.date or ref.internal_date or datetime.now(timezone.utc)
        if date.tzinfo:
            date = date.astimezone(timezone.utc).replace(tzinfo=None)
        values = {
            "message_id": message_id,
            "content_digest": digest,
            "subject": parsed.subject,
            "date": date,
            "direction": "outgoing" if outgoing else "incoming",
            "in_reply_to": parsed.in_reply_to,
            "references": " ".join(parsed.references),
            "thread_key": ref.thread_id,
            "labels": ",".join(ref.labels),
            "body_text": parsed.text,
            "snippet": " ".join(parsed.text.split())[:200],
            "headers_text": "\n".join(f"{name}: {value}" for name, value in parsed.headers),
            "parse_notes": "\n".join(notes) or False,
            "attachment_count": len(parsed.attachments) + len(links),
        }
        for key, _label in HEADERS:
            values[f"email_{key}"] = format_addresses(getattr(parsed, PARSED_ATTRIBUTE[key]))
        mail = self.create(values)
        mail._store_participants(parsed)
        mail._store_files(raw, parsed)
        mail._store_links(links)
        return mail

    def _store_participants(self, parsed):
        rows = []
        for key, _label in HEADERS:
            seen = set()
            for address in getattr(parsed, PARSED_ATTRIBUTE[key]):
                email = normalise_address(address.email)
                if email and email not in seen:
                    seen.add(email)
                    rows.append(
                        {"mail_id": self.id, "header": key, "email": email, "name": address.name}
                    )
        self.env["trail.mail.participant"].create(rows)

    def _store_files(self, raw, parsed):
        Attachment = self.env["ir.attachment"]
        original = Attachment.create(
            {
                "name": "original.eml",
                "raw": raw,
                "mimetype": "message/rfc822",
                "res_model": self._name,
                "res_id": self.id,
            }
        )
        attachments = Attachment.create(
            [
                {
                    "name": item.filename,
                    "raw": item.content,
                    "mimetype": item.mimetype or "application/octet-stream",
                    "res_model": self._name,
                    "res_id": self.id,
                }
                for item in parsed.attachments
            ]
        )
        html = parsed.html or ""
        if html:
            by_cid = {
                item.content_id: attachment.id
                for item, attachment in zip(parsed.attachments, attachments, strict=True)
                if item.content_id
            }
            html = CID_SRC.sub(
                lambda m: (
                    f"{m.group(1)}/web/image/{by_cid[m.group(2)]}{m.group(1)}"
                    if m.group(2) in by_cid
                    else m.group(0)
                ),
                html,
            )
            html = html_sanitize(html, sanitize_style=True, strip_classes=True) or ""
            html, blocked = block_remote_content(html)
        else:
            blocked = False
        self.write(
            {
                "original_id": original.id,
                "attachment_ids": [(6, 0, attachments.ids)],
                "body_html": html or False,
                "has_remote_content": blocked,
            }
        )

    def _store_links(self, links):
        """Keep each cloud link as a URL attachment of this email, beside its files."""
        if not links:
            return
        attachments = self.env["ir.attachment"].create(
            [
                {
                    "name": link["name"] or link["url"] or "link",
                    "type": "url",
                    "url": link["url"] or False,
                    "mimetype": link["mimetype"] or False,
                    "res_model": self._name,
                    "res_id": self.id,
                }
                for link in links
            ]
        )
        self.write({"attachment_ids": [(4, attachment.id) for attachment in attachments]})

    # ------------------------------------------------------------------ filing
    def _apply_filing(self):
        """(Re-)run the filing rule on these emails."""
        Filing = self.env["trail.filing"]
        for mail in self:
            exclude = set()
            for mailbox in mail.location_ids.mailbox_id:
                exclude |= mailbox._own_addresses()
            pairs = [(p.header, p.email) for p in mail.participant_ids]
            result = Filing._match(pairs, exclude=exclude)
            if set(result.profile_ids) != set(mail.auto_profile_ids.ids) or set(
                result.contact_ids
            ) != set(mail.auto_contact_ids.ids):
                mail.write(
                    {
                        "auto_profile_ids": [(6, 0, result.profile_ids)],
                        "auto_contact_ids": [(6, 0, result.contact_ids)],
                    }
                )

    @api.model
    def _refile_for_addresses(self, emails):
        # Filing is the system's work: a link set by one user re-files every mailbox's mail,
        # also mail that user may not see.
        participants = (
            self.env["trail.mail.participant"].sudo().search([("email", "in", list(emails))])
        )
        participants.mail_id._apply_filing()

    # ------------------------------------------------------------------ buttons
    def action_show_remote_content(self):
        self.write({"show_remote_content": True})

    def action_assign_profile(self, profile_ids):
        self._record_assignment("assign", profile_ids)

    def action_unassign_profile(self, profile_ids):
        self._record_assignment("unassign", profile_ids)

    def _record_assignment(self, action, profile_ids):
        self.env["trail.mail.assignment"].create(
            [
                {"mail_id": mail.id, "profile_id": profile_id, "action": action}
                for mail in self
                for profile_id in profile_ids
            ]
        )

    def action_ignore(self):
        self.write({"ignored": True})

    def action_unignore(self):
        self.write({"ignored": False})

    def action_download_original(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_url",
            "url": f"/web/content/{self.original_id.id}?download=true",
            "target": "self",
        }
