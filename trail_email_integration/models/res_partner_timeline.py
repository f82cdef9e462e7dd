"""The timeline of a profile (or of one contact): its mail, notes and activities, newest first.

What it is
    ``res.partner.trail_timeline()`` returns one page of what the timeline component renders:
    the captured mail filed into a profile across all its contacts (or, on a contact, the mail
    of that contact's addresses), and, when asked, the record's chatter notes and activities.

How it works
    Each kind of entry is read with its own keyset cursor (date, then id, both descending), one
    page at a time; the page is the newest entries of the merged kinds, and each kind's cursor
    moves past the entries that made it into the page, so nothing is skipped or repeated. The
    participants and the attachments of the page's mail are read in one query each, so a page
    costs the same number of queries whether the profile holds twenty emails or ten thousand.

    Everything is read as the current user, so record rules on captured mail apply, and each
    entry shows what the mailbox's *Shared with colleagues* level lets the user read: the fields
    ``trail.mail._trail_hidden_fields`` names for the page (worked out once for all its mail)
    are left out of the entry, which says so (``content_hidden``, ``subject_hidden``). The text
    search and the *with attachments* filter only reach mail that shows what they look at.

Use
    ``partner.trail_timeline({"direction": "incoming", "search": "tax"}, cursor=None)`` returns
    ``{"entries": [...], "cursor": {...} or False, "contacts": [...]}``; pass the returned
    cursor back for the next page.
"""

from datetime import date, datetime, time, timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.osv import expression
from odoo.tools import html2plaintext

PAGE_SIZE = 40
MAX_PAGE_SIZE = 200
NOTE_PREVIEW = 300
# A subject can be any length (one real message has 130 kB of it); the entry shows a line.
SUBJECT_PREVIEW = 300
MAIL_FIELDS = [
    "date",
    "direction",
    "subject",
    "snippet",
    "email_from",
    "attachment_count",
]
# Filters that only make sense for mail: when one is set, notes and activities are left out.
MAIL_ONLY_FILTERS = ("direction", "with_attachments", "contact_id")
ENTRY_KINDS = ("mail", "note", "activity")


class ResPartner(models.Model):
    _inherit = "res.partner"

    # ------------------------------------------------------------------ entry point
    def trail_timeline(self, filters=None, cursor=None, limit=PAGE_SIZE):
        """Return one page of this profile's (or contact's) timeline.

        :param filters: dict with any of ``direction`` (``incoming``/``outgoing``),
            ``with_attachments`` (bool), ``contact_id``, ``date_from`` and ``date_to``
            (``YYYY-MM-DD``, both included), ``search`` (text) and ``activities`` (bool: add
            chatter notes and activities).
        :param cursor: the ``cursor`` of the previous page, or nothing for the first page.
        :returns: ``entries`` (newest first), ``cursor`` (``False`` after the last page) and
            ``contacts`` (``[{id, name}]``, the choices of the contact filter).
        """
        self.ensure_one()
        filters = filters or {}
        cursor = self._trail_timeline_cursor(cursor)
        limit = max(1, min(int(limit or PAGE_SIZE), MAX_PAGE_SIZE))
        contacts, contact_by_email = self._trail_timeline_contacts()

        kinds = [
            self._trail_timeline_mail(
                filters, cursor.get("mail"), limit, contact_by_email, contacts
            )
        ]
        wants_chatter = filters.get("activities") and not any(
            filters.get(name) for name in MAIL_ONLY_FILTERS
        )
        if wants_chatter:
            kinds.append(self._trail_timeline_notes(filters, cursor.get("note"), limit))
            kinds.append(self._trail_timeline_activities(filters, cursor.get("activity"), limit))

        # Each kind brought its newest ``limit`` entries after its cursor: the page is the newest
        # of them all, and what did not fit is read again from the next page's cursor.
        candidates = [entry for entries, _more in kinds for entry in entries]
        candidates.sort(key=lambda entry: (entry["sort_date"], entry["id"]), reverse=True)
        page = candidates[:limit]
        next_cursor = dict(cursor)
        for entry in page:
            next_cursor[entry["kind"]] = [entry["sort_date"], entry["id"]]
        more = len(candidates) > limit or any(more for _entries, more in kinds)
        return {
            "entries": page,
            "cursor": next_cursor if more else False,
            "contacts": [{"id": cid, "name": name} for cid, name in contacts.items()],
        }

    @api.model
    def _trail_timeline_cursor(self, cursor):
        """Return ``cursor`` checked: ``{kind: [date string, id]}``, or ``{}`` for none."""
        if not cursor:
            return {}
        try:
            if not isinstance(cursor, dict) or set(cursor) - set(ENTRY_KINDS):
                raise ValueError(cursor)
            checked = {}
            for kind, (when, record_id) in cursor.items():
                if not isinstance(when, str) or not fields.Datetime.to_datetime(when):
                    raise ValueError(when)
                if isinstance(record_id, bool) or not isinstance(record_id, int):
                    raise ValueError(record_id)
                checked[kind] = [when, record_id]
        except (TypeError, ValueError) as error:
            raise UserError(
                self.env._("This timeline page is out of date or damaged; reload the timeline.")
            ) from error
        return checked

    # ------------------------------------------------------------------ whose mail
    def _trail_timeline_contacts(self):
        """Return ``({contact id: name}, {address: [contact ids]})`` for this timeline.

        Two contacts may share an address (a family's joint mailbox): it then names both.
        """
        people = self.profile_member_ids.contact_id if self.is_profile else self
        contact_by_email = {}
        for address in people.with_context(active_test=False).email_address_ids:
            contact_by_email.setdefault(address.email, []).append(address.partner_id.id)
        return {person.id: person.display_name for person in people}, contact_by_email

    def _trail_timeline_mail_domain(self, filters, contact_by_email, contacts):
        if self.is_profile:
            domain = [("profile_ids", "in", self.ids)]
        else:
            domain = [("participant_ids.email", "in", list(contact_by_email) or [""])]
        if filters.get("direction") in ("incoming", "outgoing"):
            domain.append(("direction", "=", filters["direction"]))
        if filters.get("with_attachments"):
            domain.append(("attachment_count", ">", 0))
            domain += self._trail_timeline_files_guard()
        if filters.get("contact_id"):
            try:
                contact_id = int(filters["contact_id"])
            except (TypeError, ValueError) as error:
                raise UserError(
                    self.env._(
                        "The contact filter needs a contact, not %(value)r.",
                        value=filters["contact_id"],
                    )
                ) from error
            emails = [email for email, ids in contact_by_email.items() if contact_id in ids]
            domain.append(("participant_ids.email", "in", emails or [""]))
        domain += self._trail_timeline_date_domain("date", filters)
        search = (filters.get("search") or "").strip()
        if search:
            # What an entry shows: subject, text, the people (names and addresses as written
            # in the mail, and the profile's contacts by their names here) and file names.
            # The search of trail.mail guards the subject, the text and the files
            # (GUARDED_SEARCH): mail that hides them is not found by what they say.
            terms = [
                [(field_name, "ilike", search)]
                for field_name in (
                    "subject",
                    "snippet",
                    "email_from",
                    "participant_ids.email",
                    "participant_ids.name",
                    "attachment_ids.name",
                )
            ]
            named = {cid for cid, name in contacts.items() if search.casefold() in name.casefold()}
            emails = [email for email, ids in contact_by_email.items() if named.intersection(ids)]
            if emails:
                terms.append([("participant_ids.email", "in", emails)])
            domain += expression.OR(terms)
        return domain

    @api.model
    def _trail_timeline_files_guard(self):
        """The domain that keeps the *with attachments* filter to mail that shows its files.

        Which mail has files is part of what a share level hides: like a search on the files
        themselves, the filter only reaches mail shown whole. When no colleague's mailbox shares
        less than everything, nothing is hidden and the guard (a subquery) is left out.
        """
        Mail = self.env["trail.mail"]
        if Mail._trail_search_unguarded():
            return []
        restricted = (
            self.env["trail.mailbox"]
            .sudo()
            .with_context(active_test=False)
            .search_count([("user_id", "!=", self.env.uid), ("share_level", "!=", "full")], limit=1)
        )
        return Mail._trail_content_domain() if restricted else []

    def _trail_timeline_date_domain(self, field_name, filters, as_date=False):
        domain = []
        for key, operator, shift in (("date_from", ">=", 0), ("date_to", "<", 1)):
            value = filters.get(key)
            if not value:
                continue
            try:
                day = date.fromisoformat(str(value)) + timedelta(days=shift)
            except ValueError as error:
                raise UserError(
                    self.env._("The date %(value)s is not a valid date (YYYY-MM-DD).", value=value)
                ) from error
            domain.append((field_name, operator, day if as_date else datetime.combine(day, time())))
        return domain

    # ------------------------------------------------------------------ the kinds of entry
    @api.model
    def _trail_keyset_domain(self, field_name, after):
        if not after:
            return []
        when, record_id = after
        return [
            "|",
            (field_name, "<", when),
            "&",
            (field_name, "=", when),
            ("id", "<", record_id),
        ]

    def _trail_timeline_mail(self, filters, after, limit, contact_by_email, contacts):
        domain = self._trail_timeline_mail_domain(filters, contact_by_email, contacts)
        domain += self._trail_keyset_domain("date", after)
        Mail = self.env["trail.mail"]
        # The search does not recompute a pending filing of mail captured or re-filed earlier
        # in this transaction; without this, such mail would be missing from the page.
        Mail.flush_model(["profile_ids"])
        mails = Mail.search_fetch(domain, MAIL_FIELDS, limit=limit + 1, order="date desc, id desc")
        more = len(mails) > limit
        mails = mails[:limit]

        participants = self.env["trail.mail.participant"].search_fetch(
            [("mail_id", "in", mails.ids)], ["mail_id", "header", "email", "name"]
        )
        by_mail = {}
        for participant in participants:
            by_mail.setdefault(participant.mail_id.id, []).append(participant)
        # What the user may not see of each email, for the whole page at once; the files of
        # mail shared without its content are not read at all (reading them would be refused).
        hidden = mails._trail_hidden_fields()
        with_files = mails.filtered(lambda m: "attachment_ids" not in hidden.get(m.id, ()))
        with_files.fetch(["attachment_ids"])
        with_files.attachment_ids.fetch(["name", "mimetype", "type", "url"])

        entries = []
        for mail in mails:
            involved, others, people, seen = [], [], [], set()
            for participant in by_mail.get(mail.id, []):
                if participant.email in seen:
                    continue
                seen.add(participant.email)
                contact_ids = contact_by_email.get(participant.email)
                if contact_ids:
                    found = [{"id": cid, "name": contacts.get(cid, "")} for cid in contact_ids]
                    involved += found
                    people += [
                        {"email": participant.email, "name": c["name"], "contact_id": c["id"]}
                        for c in found
                    ]
                else:
                    person = {"email": participant.email, "name": participant.name or ""}
                    others.append(person)
                    people.append({**person, "contact_id": False})
            senders = [p for p in people if p["email"] == self._trail_sender_email(by_mail, mail)]
            mail_hidden = hidden.get(mail.id, frozenset())
            subject = "" if "subject" in mail_hidden else (mail.subject or "")[:SUBJECT_PREVIEW]
            snippet = "" if "snippet" in mail_hidden else mail.snippet or ""
            files = mail.browse() if "attachment_ids" in mail_hidden else mail.attachment_ids
            entries.append(
                {
                    "kind": "mail",
                    "key": f"mail-{mail.id}",
                    "id": mail.id,
                    "sort_date": fields.Datetime.to_string(mail.date),
                    "date": fields.Datetime.to_string(mail.date),
                    "direction": mail.direction,
                    "subject": subject,
                    "snippet": snippet,
                    # Shared without its content (no text, no files), or without its subject
                    # too: the entry says so rather than showing it empty.
                    "content_hidden": mail.id in hidden,
                    "subject_hidden": "subject" in mail_hidden,
                    "email_from": mail.email_from or "",
                    "contacts": list({c["id"]: c for c in involved}.values()),
                    "others": others,
                    # Who wrote it and to whom, in header order, for the entry's first line.
                    "senders": senders,
                    "recipients": [p for p in people if p not in senders],
                    "attachments": [
                        {
                            "id": attachment.id,
                            "name": attachment.name,
                            "mimetype": attachment.mimetype or "",
                            "url": attachment.url if attachment.type == "url" else "",
                        }
                        for attachment in files.sorted("id")
                    ],
                }
            )
        return entries, more

    @api.model
    def _trail_sender_email(self, by_mail, mail):
        for participant in by_mail.get(mail.id, []):
            if participant.header == "from":
                return participant.email
        return None

    def _trail_timeline_notes(self, filters, after, limit):
        domain = [
            ("model", "=", "res.partner"),
            ("res_id", "=", self.id),
            ("message_type", "=", "comment"),
            ("subtype_id", "=", self.env.ref("mail.mt_note").id),
        ]
        domain += self._trail_timeline_date_domain("date", filters)
        search = (filters.get("search") or "").strip()
        if search:
            domain.append(("body", "ilike", search))
        domain += self._trail_keyset_domain("date", after)
        messages = self.env["mail.message"].search_fetch(
            domain, ["date", "body", "author_id"], limit=limit + 1, order="date desc, id desc"
        )
        more = len(messages) > limit
        messages = messages[:limit]
        messages.author_id.fetch(["display_name"])
        return [
            {
                "kind": "note",
                "key": f"note-{message.id}",
                "id": message.id,
                "sort_date": fields.Datetime.to_string(message.date),
                "date": fields.Datetime.to_string(message.date),
                "author": message.author_id.display_name or "",
                "text": html2plaintext(message.body or "")[:NOTE_PREVIEW],
            }
            for message in messages
        ], more

    def _trail_timeline_activities(self, filters, after, limit):
        domain = [("res_model", "=", "res.partner"), ("res_id", "=", self.id)]
        domain += self._trail_timeline_date_domain("date_deadline", filters, as_date=True)
        search = (filters.get("search") or "").strip()
        if search:
            domain += ["|", ("summary", "ilike", search), ("note", "ilike", search)]
        if after:
            after = [after[0][:10], after[1]]
        domain += self._trail_keyset_domain("date_deadline", after)
        activities = self.env["mail.activity"].search_fetch(
            domain,
            ["date_deadline", "summary", "activity_type_id", "user_id", "state"],
            limit=limit + 1,
            order="date_deadline desc, id desc",
        )
        more = len(activities) > limit
        activities = activities[:limit]
        activities.activity_type_id.fetch(["name"])
        activities.user_id.fetch(["name"])
        return [
            {
                "kind": "activity",
                "key": f"activity-{activity.id}",
                "id": activity.id,
                # Activities are due on a day: they sort at its start.
                "sort_date": f"{fields.Date.to_string(activity.date_deadline)} 00:00:00",
                "date": fields.Date.to_string(activity.date_deadline),
                "summary": activity.summary or activity.activity_type_id.name or "",
                "activity_type": activity.activity_type_id.name or "",
                "user": activity.user_id.name or "",
                "state": activity.state,
            }
            for activity in activities
        ], more
