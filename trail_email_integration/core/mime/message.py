"""The entry points: ``parse_message``, and the two keys that tell messages apart.

``content_digest`` tells apart messages that share a Message-ID; ``fallback_key`` stands in
for the id of a message that has none.
"""

import hashlib
import re
from datetime import timezone
from email.message import Message
from email.parser import BytesParser

from .address_lists import parse_addresses
from .charsets import clean_text, decode_bytes
from .entity import split_entity
from .headers import (
    _RAW_POLICY,
    _id_list,
    _parse_date,
    decode_words,
    header_text,
    normalise_message_id,
)
from .html_text import html_to_text
from .model import Address, ParsedMessage
from .parts import _content_type
from .walker import _mark_inline, _Walker

ADDRESS_HEADERS = ("from", "sender", "reply-to", "to", "cc", "bcc")


def _fallback_message(raw: bytes, error: BaseException) -> ParsedMessage:
    parsed = ParsedMessage()
    parsed.defects.append(f"message could not be parsed ({error.__class__.__name__}); kept raw")
    parsed.text = decode_bytes(raw, None)
    return parsed


def parse_message(raw: bytes, headers: ParsedMessage | None = None) -> ParsedMessage:
    """Parse raw RFC 822 bytes. Never raises; see ``ParsedMessage.defects`` for what failed.

    ``headers``, what :func:`parse_headers` made of the same bytes, saves reading the header
    block a second time; the result is the same.
    """
    try:
        raw = bytes(raw or b"")
    except Exception as error:
        return _fallback_message(b"", error)
    try:
        return _parse(raw, headers)
    except Exception as error:  # RecursionError included: a hostile tree must not escape
        return _fallback_message(raw, error)


def parse_headers(raw: bytes) -> ParsedMessage | None:
    """Parse only the header block of raw RFC 822 bytes: addresses, subject, ids and date read
    exactly as ``parse_message`` reads them, with no body or attachments (``text``, ``html``
    and ``attachments`` stay empty). Never raises: None when the block cannot be read."""
    try:
        stripped = bytes(raw or b"").lstrip(b"\r\n")
        head, _body = split_entity(stripped)
        parsed = ParsedMessage()
        _read_headers(BytesParser(policy=_RAW_POLICY).parsebytes(head, headersonly=True), parsed)
        return parsed
    except Exception:  # parse_message reports the same trouble in its defects
        return None


HEADER_FIELDS = (
    "message_id",
    "in_reply_to",
    "references",
    "subject",
    "date",
    "from_",
    "sender",
    "reply_to",
    "to",
    "cc",
    "bcc",
    "headers",
)


def _take_headers(headers: ParsedMessage, parsed: ParsedMessage) -> None:
    for name in HEADER_FIELDS:
        value = getattr(headers, name)
        setattr(parsed, name, list(value) if isinstance(value, list) else value)
    parsed.defects.extend(headers.defects)


def _parse(raw: bytes, headers: ParsedMessage | None = None) -> ParsedMessage:
    parsed = ParsedMessage()
    stripped = raw.lstrip(b"\r\n")
    if len(stripped) != len(raw):
        parsed.defects.append("blank lines before the headers were ignored")
    message = BytesParser(policy=_RAW_POLICY).parsebytes(stripped)
    if headers is None:
        _read_headers(message, parsed)
    else:
        _take_headers(headers, parsed)
    walker = _Walker()
    try:
        walker.walk(message, stripped)
    except Exception as error:
        walker.defects.append(f"MIME structure partly unreadable ({error.__class__.__name__})")
    parsed.html = _newlines("\n".join(h for h in walker.htmls if h.strip()))
    parsed.text = _newlines("\n\n".join(t for t in walker.texts if t.strip()))
    if not parsed.text.strip() and parsed.html:
        parsed.text = html_to_text(parsed.html)
    _mark_inline(walker.attachments, parsed.html)
    parsed.attachments = walker.attachments
    parsed.defects.extend(walker.defects)
    parsed.defects.extend(_stdlib_defects(message))
    return parsed


def _newlines(text: str) -> str:
    return clean_text(text.replace("\r\n", "\n").replace("\r", "\n"))


def _stdlib_defects(message: Message) -> list[str]:
    notes = []
    try:
        for part in message.walk():
            for defect in getattr(part, "defects", []):
                notes.append(f"{_content_type(part)}: {defect.__class__.__name__}")
    except Exception:
        notes.append("MIME defects could not be listed")
    return notes


def _read_headers(message: Message, parsed: ParsedMessage) -> None:
    try:
        items = list(message.raw_items())
    except Exception:
        parsed.defects.append("header block unreadable")
        return
    for name, value in items:
        parsed.headers.append((header_text(name), header_text(value)))

    def first(name: str) -> str:
        for key, value in parsed.headers:
            if key.lower() == name:
                return value
        return ""

    # raw strings only: the stdlib's structured parser has raised IndexError on these (B15)
    parsed.message_id = normalise_message_id(first("message-id"))
    parsed.in_reply_to = next(iter(_id_list(first("in-reply-to"))), "")
    parsed.references = _id_list(first("references"))
    parsed.subject = " ".join(decode_words(first("subject")).split())
    try:
        parsed.date = _parse_date(first("date"))
    except Exception:
        parsed.defects.append(f"Date header not understood: {first('date')[:80]!r}")
    for header in ADDRESS_HEADERS:
        found: list[Address] = []
        for key, value in parsed.headers:
            if key.lower() == header:
                try:
                    addresses, overruled = parse_addresses(value)
                except Exception as error:
                    parsed.defects.append(f"{header} unreadable ({error.__class__.__name__})")
                    continue
                if overruled:
                    parsed.defects.append(f"{header}: read by angle-bracket scan")
                found.extend(addresses)
        attribute = "from_" if header == "from" else header.replace("-", "_")
        setattr(parsed, attribute, found)


_TRACE_HEADERS = {"from", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references"}


def content_digest(raw: bytes) -> str:
    """SHA-256 hex of the message's content, stable across transports.

    Covers From, To, Cc, Subject, Date, Message-ID, In-Reply-To, References (unfolded,
    whitespace collapsed) and the body with line endings and trailing whitespace normalised.
    Trace headers (Received, Return-Path, Delivered-To, X-*, DKIM...) are left out, so the
    same message fetched from two folders or over IMAP and an API gives the same digest,
    while two different messages sharing a Message-ID do not.
    """
    digest = hashlib.sha256(b"trail-mime-digest-v1\n")
    try:
        header_block, body = split_entity(bytes(raw or b"").lstrip(b"\r\n"))
        unfolded = re.sub(rb"\r?\n[ \t]+|\r[ \t]+", b" ", header_block)
        for line in re.split(rb"\r\n|\r|\n", unfolded):
            name, _, value = line.partition(b":")
            key = name.strip().lower().decode("ascii", "replace")
            if key in _TRACE_HEADERS:
                digest.update(key.encode() + b":" + b" ".join(value.split()) + b"\n")
        digest.update(b"\n")
        for line in re.split(rb"\r\n|\r|\n", body.rstrip()):
            digest.update(line.rstrip() + b"\n")
    except Exception:
        digest.update(bytes(raw or b""))
    return digest.hexdigest()


def fallback_key(parsed: ParsedMessage) -> str:
    """SHA-256 hex of normalised Date, From, Subject and body, for messages without Message-ID."""
    date = parsed.date.astimezone(timezone.utc).isoformat() if parsed.date else ""
    senders = ",".join(sorted(a.email.lower() for a in parsed.from_))
    subject = " ".join(parsed.subject.split()).lower()
    body = " ".join((parsed.text or html_to_text(parsed.html)).split())
    material = "\x1f".join(("trail-fallback-v1", date, senders, subject, body))
    return hashlib.sha256(material.encode("utf-8", "replace")).hexdigest()
