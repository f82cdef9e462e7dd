"""Gmail search (the ``q`` parameter of messages.list) over an emulated mailbox.

What it is: a parser and matcher for the subset of Gmail's search operators a sync client uses:
``after:`` / ``before:`` (YYYY/MM/DD, YYYY-MM-DD or epoch seconds), ``newer_than:`` /
``older_than:`` (Nd, Nm, Ny), ``in:`` / ``label:`` / ``is:`` / ``category:``, ``from:``, ``to:``,
``cc:``, ``bcc:``, ``subject:``, ``rfc822msgid:``, ``has:attachment``, ``larger:`` /
``smaller:``, quoted phrases and bare words, each optionally negated with ``-``. Terms are ANDed.

How it works: ``compile_query`` turns ``q`` into a list of (negated, predicate) pairs and notes
whether the query names spam or trash explicitly, because Gmail then searches those folders even
without ``includeSpamTrash``.

How to use it::

    query = compile_query('after:2024/01/01 -in:spam', mailbox, now)
    hits = [m for m in mailbox.newest_first() if query.matches(m)]

Caveats: dates in YYYY/MM/DD form are read as UTC midnight (Gmail uses the account's time zone);
``OR``, braces and parentheses are not supported and are treated as words; free text is a
case-insensitive substring match over subject, addresses and body text, not Gmail's tokeniser.
"""

import calendar
import re
import shlex
from dataclasses import dataclass, field

from . import mime
from .wire import ApiError

FOLDER_LABELS = {
    "inbox": "INBOX",
    "sent": "SENT",
    "draft": "DRAFT",
    "drafts": "DRAFT",
    "spam": "SPAM",
    "trash": "TRASH",
    "starred": "STARRED",
    "important": "IMPORTANT",
    "unread": "UNREAD",
    "chats": "CHAT",
    "chat": "CHAT",
}
HEADER_OPERATORS = {
    "from": "From",
    "to": "To",
    "cc": "Cc",
    "bcc": "Bcc",
    "subject": "Subject",
    "rfc822msgid": "Message-ID",
    "deliveredto": "Delivered-To",
}
UNIT_SECONDS = {"d": 86400, "m": 31 * 86400, "y": 366 * 86400}
SIZE_UNITS = {"": 1, "k": 1024, "m": 1024 * 1024}


@dataclass
class Query:
    terms: list = field(default_factory=list)
    names_spam_or_trash: bool = False

    def matches(self, message):
        return all(predicate(message) != negated for negated, predicate in self.terms)


def _date_ms(value):
    if re.fullmatch(r"\d{9,}", value):
        return int(value) * 1000
    found = re.fullmatch(r"(\d{4})[/-](\d{1,2})[/-](\d{1,2})", value)
    if not found:
        raise ApiError.invalid_argument(f'Invalid search query: bad date "{value}"')
    year, month, day = (int(g) for g in found.groups())
    return calendar.timegm((year, month, day, 0, 0, 0)) * 1000


def _label_predicate(label_id):
    return lambda message: label_id is not None and label_id in message.label_ids


def _header_predicate(header, needle):
    needle = needle.lower()

    def predicate(message):
        return needle in mime.first_header(message.parsed, header).lower()

    return predicate


def _text_predicate(needle):
    needle = needle.lower()

    def predicate(message):
        node = message.parsed
        fields = [mime.first_header(node, h) for h in ("Subject", "From", "To", "Cc")]
        haystack = " ".join(fields) + " " + mime.body_text(node)
        return needle in haystack.lower()

    return predicate


def _label_term(operator, value, mailbox):
    lowered = value.lower()
    if operator == "is" and lowered == "read":
        return lambda message: "UNREAD" not in message.label_ids
    if operator == "in" and lowered in ("anywhere", "all"):
        return lambda message: True
    if operator == "category":
        return _label_predicate("CATEGORY_" + lowered.upper())
    return _label_predicate(FOLDER_LABELS.get(lowered) or mailbox.label_id_for(value))


def _date_term(operator, value, _mailbox, _now_ms):
    bound = _date_ms(value)
    if operator in ("after", "newer"):
        return lambda message: message.internal_date >= bound
    return lambda message: message.internal_date < bound


def _relative_term(operator, value, _mailbox, now_ms):
    found = re.fullmatch(r"(\d+)([dmy])", value.lower())
    if not found:
        raise ApiError.invalid_argument(f'Invalid search query: bad period "{value}"')
    bound = now_ms - int(found.group(1)) * UNIT_SECONDS[found.group(2)] * 1000
    if operator == "newer_than":
        return lambda message: message.internal_date >= bound
    return lambda message: message.internal_date < bound


def _size_term(operator, value, _mailbox, _now_ms):
    found = re.fullmatch(r"(\d+)([km]?)", value.lower())
    if not found:
        raise ApiError.invalid_argument(f'Invalid search query: bad size "{value}"')
    size = int(found.group(1)) * SIZE_UNITS[found.group(2)]
    if operator == "larger":
        return lambda message: len(message.raw) > size
    return lambda message: len(message.raw) < size


def _has_term(_operator, value, _mailbox, _now_ms):
    if value.lower() == "attachment":
        return lambda message: mime.has_attachment(message.parsed)
    # Other has: facets (drive, youtube, user labels) are not modelled and match nothing.
    return lambda message: False


TERM_BUILDERS = {
    "after": _date_term,
    "newer": _date_term,
    "before": _date_term,
    "older": _date_term,
    "newer_than": _relative_term,
    "older_than": _relative_term,
    "larger": _size_term,
    "smaller": _size_term,
    "has": _has_term,
    "in": lambda operator, value, mailbox, _now: _label_term(operator, value, mailbox),
    "label": lambda operator, value, mailbox, _now: _label_term(operator, value, mailbox),
    "is": lambda operator, value, mailbox, _now: _label_term(operator, value, mailbox),
    "category": lambda operator, value, mailbox, _now: _label_term(operator, value, mailbox),
}


def _term(operator, value, mailbox, now_ms):
    if operator in HEADER_OPERATORS:
        return _header_predicate(HEADER_OPERATORS[operator], value.strip("<>"))
    builder = TERM_BUILDERS.get(operator)
    if builder is None:
        return _text_predicate(f"{operator}:{value}")
    return builder(operator, value, mailbox, now_ms)


def compile_query(q, mailbox, now_ms):
    query = Query()
    try:
        tokens = shlex.split(q or "", posix=True)
    except ValueError:
        tokens = (q or "").split()
    for token in tokens:
        negated = token.startswith("-") and len(token) > 1
        term = token[1:] if negated else token
        operator, colon, value = term.partition(":")
        operator = operator.lower()
        if colon and value and re.fullmatch(r"[a-z_0-9]+", operator):
            predicate = _term(operator, value, mailbox, now_ms)
            # Naming spam or trash positively searches them even without includeSpamTrash.
            names_folder = operator in ("in", "label", "is")
            if not negated and names_folder and value.lower() in ("spam", "trash", "anywhere"):
                query.names_spam_or_trash = True
        else:
            predicate = _text_predicate(term)
        query.terms.append((negated, predicate))
    return query
