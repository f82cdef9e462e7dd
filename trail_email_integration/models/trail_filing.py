"""The filing rule: which contacts and profiles one email belongs to.

What it is
    ``trail.filing`` is a service (an abstract model with no table). The capture engine gives it
    every address of one email, each with its header, and gets back the contacts and profiles to
    file the email into.

How it works
    An address matches a contact when it equals one of the contact's *linked* addresses, after
    normalisation (``core.addresses``). The email is then filed into every profile in which that
    contact's role is participant, non-dependent or dependent. Unlinked addresses, other roles,
    and archived contacts or profiles never match.

    The mailbox owner's addresses, and the addresses of the company's internal users, never file
    anything on their own: an adviser who is also a contact somewhere must not pull all their mail
    into that profile.

    Mailing lists rewrite From to the list and put the real sender in Reply-To. Reply-To is one of
    the headers matched, so such mail still reaches the sender's profile.

    Matching one email costs one indexed query, whatever the number of contacts; the internal
    users' addresses are read once and cached. The query lives in a PL/pgSQL function
    (``trail_match_linked_addresses``, created when the module is installed or updated) because
    PostgreSQL keeps a function's plan for the session: planning a four-table join again for
    every email costs more than running it, and more so the larger the tables.

Use
    ``env["trail.filing"]._match([("from", "Ada <ada@example.com>"), ("to", ...)], exclude=...)``
    ``env["trail.filing"]._refile_addresses({"ada@example.com"})`` after links or roles change.
"""

from dataclasses import dataclass, field

from odoo import api, models, tools

from ..core.addresses import normalise_address
from .trail_profile_member import FILING_ROLES

MATCHED_HEADERS = ("from", "sender", "reply_to", "to", "cc", "bcc")


@dataclass
class FilingMatch:
    """What the filing rule found for one email."""

    contact_ids: list = field(default_factory=list)
    profile_ids: list = field(default_factory=list)
    # One row per (header, address, contact, profile, role) that matched, for display and audit.
    matches: list = field(default_factory=list)

    def __bool__(self):
        return bool(self.profile_ids)


class TrailFiling(models.AbstractModel):
    _name = "trail.filing"
    _description = "Email filing rule"

    @api.model
    def _match(self, addresses, exclude=()):
        """Return the :class:`FilingMatch` for one email.

        :param addresses: iterable of ``(header, address)`` pairs, ``header`` being one of
            ``MATCHED_HEADERS``; ``address`` may carry a display name.
        :param exclude: addresses that must not file on their own (the mailbox owner's and its
            aliases); the company's internal users are always excluded.
        """
        excluded = {normalise_address(a) for a in exclude} - {None}
        excluded |= self._internal_user_addresses()
        by_email = {}
        for header, address in addresses:
            email = normalise_address(address)
            if email and email not in excluded:
                by_email.setdefault(email, []).append(header)
        result = FilingMatch()
        if not by_email:
            return result

        self._flush_for_matching()
        self.env.cr.execute(
            "SELECT email, contact_id, profile_id, role FROM trail_match_linked_addresses(%s, %s)",
            [list(by_email), list(FILING_ROLES)],
        )
        contacts, profiles = {}, {}
        for email, contact_id, profile_id, role in self.env.cr.fetchall():
            contacts.setdefault(contact_id, None)
            profiles.setdefault(profile_id, None)
            for header in by_email[email]:
                result.matches.append((header, email, contact_id, profile_id, role))
        result.contact_ids = list(contacts)
        result.profile_ids = list(profiles)
        return result

    @api.model
    @tools.ormcache()
    def _internal_user_addresses(self):
        """Addresses of the company's internal users, which never file on their own.

        Cached: users and their addresses change rarely; the cache is cleared when they do.
        """
        users = (
            self.env["res.users"]
            .sudo()
            .with_context(active_test=True)
            .search([("share", "=", False)])
        )
        partners = users.partner_id
        addresses = set(partners.mapped("email_normalized"))
        addresses.update(partners.email_address_ids.mapped("email"))
        return frozenset(addresses - {False, None})

    @api.model
    def _flush_for_matching(self):
        """Write pending ORM changes that the matching query reads."""
        self.env["trail.email.address"].flush_model(["email", "linked", "partner_id"])
        self.env["trail.profile.member"].flush_model(["contact_id", "profile_id", "role"])
        self.env["res.partner"].flush_model(["active", "is_profile"])

    @api.model
    def _refile_addresses(self, emails):
        """Re-run the filing rule on captured mail that involves any of ``emails``.

        Called whenever a link flag, a role, an address, a membership or an archive state changes.
        """
        emails = {e for e in emails if e}
        if emails and "trail.mail" in self.env:
            self.env["trail.mail"]._refile_for_addresses(emails)
