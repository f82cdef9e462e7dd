"""Graph's views of a stored MIME message, and MIME built from Graph's JSON message.

What it is: Exchange keeps the original MIME of every message and derives the Graph ``message``
properties from it. This module does the same for the emulator: ``properties`` gives subject,
recipients, internetMessageId, body and preview; ``attachments`` lists file and item attachments
found in the MIME tree; ``build_mime`` turns a JSON ``message`` (sendMail, draft creation) into
MIME bytes; ``strip_bcc`` and ``add_attachment`` rewrite MIME for delivery and drafts.

How it works: parsing reuses the Gmail emulator's compat32 helpers (``emulators.gmail.mime``),
which repair undecodable 8-bit headers and treat zone-less dates as UTC. Attachments are leaf
parts with a file name and ``message/rfc822`` parts; their ids are stable per message because
they derive from the part's position in the tree.

How to use it: through ``store.Message``; nothing here keeps state.

Caveats: ``body`` is the first text/html part, else the first text/plain part, as Graph prefers
HTML; Exchange's HTML sanitising and ``uniqueBody`` are not emulated.
"""

import base64
import email.utils
import re
import secrets
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser

from emulators.gmail import mime as gmail_mime

PREVIEW_LENGTH = 255


def parse(raw):
    return gmail_mime.parse(raw)


def parse_headers(raw):
    return BytesHeaderParser(policy=policy.compat32).parsebytes(raw)


def header(node, name):
    return gmail_mime.first_header(node, name)


def _address(name, address):
    return {"emailAddress": {"name": name or address, "address": address}}


def recipients(node, name):
    value = header(node, name)
    if not value:
        return []
    return [_address(n, a) for n, a in email.utils.getaddresses([value]) if a]


def addresses(node, names=("To", "Cc", "Bcc")):
    """Lower-cased envelope addresses from the given headers, deduplicated, in order."""
    found = []
    for name in names:
        for item in recipients(node, name):
            address = item["emailAddress"]["address"].lower()
            if address not in found:
                found.append(address)
    return found


def _leaf_text(node):
    data = gmail_mime.part_data(node)
    try:
        return data.decode(node.get_content_charset() or "utf-8", "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


def _filename(node):
    try:
        name = node.get_filename()
    except (TypeError, ValueError, LookupError, UnicodeError, IndexError):
        return ""
    return gmail_mime.header_text(name) if name else ""


def body(node):
    """Graph's ``body``: the first HTML alternative, else the first plain-text part."""
    plain = None
    for leaf in node.walk():
        if leaf.is_multipart() or _filename(leaf):
            continue
        kind = leaf.get_content_type()
        if kind == "text/html":
            return {"contentType": "html", "content": _leaf_text(leaf)}
        if kind == "text/plain" and plain is None:
            plain = _leaf_text(leaf)
    return {"contentType": "text", "content": plain or ""}


def analyse(raw):
    """(properties, attachments) of MIME bytes, from a single parse (large mail parses slowly)."""
    node = parse(raw)
    return properties(node), attachments(node)


def properties(node):
    """The MIME-derived part of a Graph ``message`` resource."""
    sender = recipients(node, "From")
    sent_ms = gmail_mime.date_ms(node)
    preview = " ".join(gmail_mime.body_text(node).split())[:PREVIEW_LENGTH]
    return {
        "subject": header(node, "Subject"),
        "internetMessageId": header(node, "Message-ID") or None,
        "from": sender[0] if sender else None,
        "sender": sender[0] if sender else None,
        "toRecipients": recipients(node, "To"),
        "ccRecipients": recipients(node, "Cc"),
        "bccRecipients": recipients(node, "Bcc"),
        "replyTo": recipients(node, "Reply-To"),
        "bodyPreview": preview,
        "body": body(node),
        "sentDateTime_ms": sent_ms,
        "conversation_key": header(node, "Thread-Index")
        or gmail_mime.normalized_subject(header(node, "Subject")),
    }


def _walk_outer(node):
    """Every part of the tree except those inside an attached message (its own attachments)."""
    yield node
    if node.get_content_type() == "message/rfc822" or not node.is_multipart():
        return
    for child in node.get_payload():
        yield from _walk_outer(child)


def attachments(node):
    """[(position, kind, name, content_type, data, is_inline, content_id)] of a parsed message.

    ``kind`` is 'item' for an attached message/rfc822, else 'file'.
    """
    found = []
    for position, part in enumerate(_walk_outer(node)):
        if part.get_content_type() == "message/rfc822" and position > 0:
            kind = "item"
        elif part.is_multipart() or not _filename(part):
            continue
        else:
            kind = "file"
        # str(): a header holding raw 8-bit bytes comes back as an email.header.Header.
        disposition = str(part.get("Content-Disposition") or "").lower()
        content_id = str(part.get("Content-ID") or "").strip().strip("<>") or None
        name = _filename(part) or header(gmail_mime.parse(gmail_mime.part_data(part)), "Subject")
        found.append(
            (
                position,
                kind,
                name,
                part.get_content_type(),
                gmail_mime.part_data(part),
                disposition.startswith("inline"),
                content_id,
            )
        )
    return found


def strip_bcc(raw):
    return gmail_mime.strip_header(raw, "Bcc")


def add_missing_headers(raw, now, message_id):
    return gmail_mime.add_missing_headers(raw, email.utils.formatdate(now), message_id)


def _format_recipients(items):
    return ", ".join(
        email.utils.formataddr(
            (item["emailAddress"].get("name") or "", item["emailAddress"]["address"])
        )
        for item in items or ()
    )


def build_mime(message, sender, now, message_id):
    """MIME bytes for a Graph JSON ``message`` sent or drafted by ``sender`` (an address)."""
    mail = EmailMessage()
    mail["From"] = _format_recipients([message["from"]]) if message.get("from") else sender
    for field, name in (("toRecipients", "To"), ("ccRecipients", "Cc"), ("bccRecipients", "Bcc")):
        if message.get(field):
            mail[name] = _format_recipients(message[field])
    mail["Subject"] = message.get("subject") or ""
    mail["Date"] = email.utils.formatdate(now)
    mail["Message-ID"] = message.get("internetMessageId") or message_id
    content = message.get("body") or {}
    subtype = "html" if content.get("contentType", "text").lower() == "html" else "plain"
    mail.set_content(content.get("content") or "", subtype=subtype)
    for attachment in message.get("attachments") or ():
        data = base64.b64decode(attachment.get("contentBytes") or "")
        maintype, subtype = _split_type(attachment.get("contentType"))
        mail.add_attachment(data, maintype, subtype, filename=attachment.get("name"))
    return mail.as_bytes(policy=policy.SMTP)


def _split_type(content_type):
    maintype, _, subtype = (content_type or "application/octet-stream").partition("/")
    return maintype, subtype or "octet-stream"


def _split_head(raw):
    """(header bytes without the blank line, body bytes, newline) of a message."""
    newline = b"\r\n" if b"\r\n" in raw[:4096] else b"\n"
    head, _, rest = raw.partition(newline + newline)
    return head, rest, newline


def _param(key, value):
    if value.isascii():
        return f'{key}="{value}"'
    return f"{key}*={email.utils.encode_rfc2231(value, 'utf-8')}"


def _attachment_part(name, content_type, data, newline):
    """A base64 attachment part; the email generator takes seconds for multi-megabyte files."""
    name = (name or "attachment").replace('"', "'").replace("\r", " ").replace("\n", " ")
    content_type = "/".join(_split_type(content_type))
    head = [
        f"Content-Type: {content_type}; {_param('name', name)}",
        f"Content-Disposition: attachment; {_param('filename', name)}",
        "Content-Transfer-Encoding: base64",
    ]
    encoded = base64.encodebytes(data)
    if newline != b"\n":
        encoded = encoded.replace(b"\n", newline)
    return newline.join(line.encode("ascii") for line in head) + newline + newline + encoded


def add_attachment(raw, name, content_type, data):
    """``raw`` with one more attachment part, spliced in as bytes.

    Re-serialising a parsed message would cost seconds for a large upload, and would also
    rewrite bytes of the existing parts; splicing keeps them exactly.
    """
    head, body, newline = _split_head(raw)
    part_bytes = _attachment_part(name, content_type, data, newline)
    top = parse_headers(raw)
    boundary = top.get_boundary()
    if top.get_content_type() == "multipart/mixed" and boundary:
        closing = b"--" + boundary.encode("ascii") + b"--"
        index = body.rfind(closing)
        if index >= 0:
            delimiter = b"--" + boundary.encode("ascii") + newline
            return (
                head
                + newline
                + newline
                + body[:index]
                + delimiter
                + part_bytes
                + newline
                + body[index:]
            )

    # Single part or multipart/alternative: it becomes the first part of a new multipart/mixed.
    boundary = "=_mixed_" + secrets.token_hex(12)
    lines = re.split(rb"\r?\n(?![ \t])", head)
    inner = [line for line in lines if line.lower().startswith(b"content-")]
    outer = [line for line in lines if not line.lower().startswith((b"content-", b"mime-version"))]
    outer += [
        b"MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{boundary}"'.encode(),
    ]
    if not inner:
        inner = [b"Content-Type: text/plain; charset=us-ascii"]
    delimiter = b"--" + boundary.encode("ascii")
    return newline.join(
        [
            *outer,
            b"",
            delimiter,
            *inner,
            b"",
            body,
            delimiter,
            part_bytes,
            delimiter + b"--",
            b"",
        ]
    )
