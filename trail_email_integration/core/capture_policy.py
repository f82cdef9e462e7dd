"""The capture policy: which fetched messages are never stored.

What it is
    Two checks the sync engine runs on a message's headers, after fetching it and before
    writing anything: the never-capture lists (addresses and whole domains) and the
    internal-mail switch (mail where every party is a colleague, that is, an internal user of
    the company other than the mailbox's owner; mail among the owner's own addresses, a note
    to self, is not internal).

How it works
    ``header_addresses`` reads the From, Sender, Reply-To, To, Cc and Bcc headers of the raw
    bytes (the body is not parsed) with the MIME parser's own header reading, so it sees the
    same parties that filing later matches, and returns every address, normalised.
    ``blocked_by`` says which never-capture pattern, if any, matches one of them;
    ``is_internal`` says whether all of them belong to colleagues. The mailbox's own addresses
    never match a pattern, so an owner who blocks their own domain still captures mail from
    outside it.

    A pattern is either one address (``ada@example.com``) or a whole domain (``example.com``
    or ``@example.com``); a domain pattern also covers its sub-domains.

Use
    ``normalise_pattern(text)`` before storing a pattern; ``decide(raw, policy, headers)`` in
    the engine, which hands the same parsed headers on to the capture.

Caveats
    Headers that cannot be read give no addresses: such a message is neither blocked nor
    internal, so it is captured and its parse notes say what was wrong.
"""

from dataclasses import dataclass, field

from .addresses import normalise_address, normalise_domain
from .mime import parse_headers

# Why the engine did not store a message it fetched.
REASON_NEVER_CAPTURE = "never_capture"
REASON_INTERNAL = "internal"


@dataclass(frozen=True)
class CapturePolicy:
    """What one mailbox's capture must respect, read once per batch."""

    patterns: tuple = ()  # normalised patterns: addresses, and domains as "@domain"
    own_addresses: frozenset = frozenset()
    colleague_addresses: frozenset = frozenset()
    capture_internal: bool = False


@dataclass(frozen=True)
class Verdict:
    """Why a message is not stored (``reason``), and what matched (``detail``)."""

    reason: str = ""
    detail: str = ""
    addresses: frozenset = field(default_factory=frozenset)

    def __bool__(self):
        return bool(self.reason)


def normalise_pattern(text):
    """Return the stored form of a never-capture pattern, or ``None`` when it is neither an
    address nor a domain. Domains are stored as ``@domain``."""
    text = (text or "").strip()
    if not text:
        return None
    if text.startswith("@") or "@" not in text:
        domain = normalise_domain(text.lstrip("@").lstrip("*").lstrip("."))
        return f"@{domain}" if domain and "." in domain else None
    return normalise_address(text)


def party_addresses(headers):
    """Every normalised address in the party headers of ``headers`` (from ``parse_headers``,
    or ``parse_message``); none when the headers could not be read (``None``)."""
    if headers is None:
        return frozenset()
    parties = (headers.from_, headers.sender, headers.reply_to, headers.to, headers.cc, headers.bcc)
    found = {normalise_address(party.email) for group in parties for party in group}
    found.discard(None)
    found.discard("")
    return frozenset(found)


def header_addresses(raw):
    """Every normalised address in the party headers of the message ``raw`` (bytes)."""
    return party_addresses(parse_headers(raw))


def pattern_matches(pattern, address):
    if pattern.startswith("@"):
        domain = address.rpartition("@")[2]
        return domain == pattern[1:] or domain.endswith("." + pattern[1:])
    return address == pattern


def blocked_by(addresses, patterns, own_addresses=frozenset()):
    """The first pattern matching one of ``addresses`` (own addresses aside), or ``None``."""
    for address in sorted(addresses - own_addresses):
        for pattern in patterns:
            if pattern_matches(pattern, address):
                return pattern
    return None


def is_internal(addresses, colleague_addresses):
    """True when there is at least one party and every party is a colleague."""
    return bool(addresses) and addresses <= colleague_addresses


def decide(raw, policy, headers=None):
    """Return the :class:`Verdict` for one fetched message under ``policy``.

    ``headers``: what ``parse_headers(raw)`` gave, when the caller has it already.
    """
    addresses = header_addresses(raw) if headers is None else party_addresses(headers)
    pattern = blocked_by(addresses, policy.patterns, policy.own_addresses)
    if pattern:
        return Verdict(REASON_NEVER_CAPTURE, pattern, addresses)
    # The owner is not their own colleague: a note to self is not internal mail.
    others = addresses - policy.own_addresses
    if not policy.capture_internal and is_internal(others, policy.colleague_addresses):
        return Verdict(REASON_INTERNAL, "", addresses)
    return Verdict("", "", addresses)
