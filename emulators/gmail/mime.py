"""RFC 822 / MIME helpers that give the emulator Gmail's view of a stored message.

What it is: everything the emulator needs to read raw message bytes the way Gmail presents them:
base64url encoding (padded for ``raw``, unpadded for part and attachment ``data`` - bugs B07 and
B08), the ``payload`` part tree of ``format=full|metadata`` with Gmail's part ids, snippets,
header decoding, threading keys, recipient extraction and the byte-level header edits
``messages.send`` performs (drop ``Bcc`` for recipients, add a missing ``Message-ID``/``Date``).

How it works: messages are parsed with the stdlib parser in ``compat32`` mode, which never raises
on malformed headers (B15) and keeps raw header values; values are unfolded and RFC 2047-decoded
on output with a fallback to the raw text. Byte edits work on the header block directly so the
rest of the message stays byte-identical.

How to use it::

    tree = payload(parse(raw), message_id, 'full')
    visible = strip_header(raw, 'Bcc')

Caveats: ``message/rfc822`` parts are served as attachments whose bytes are re-serialised by the
stdlib, so they may differ from the original in whitespace; the top-level ``raw`` is always the
exact stored bytes. Text part ``data`` is the transfer-decoded bytes in the declared charset.
"""

import base64
import calendar
import email.utils
import html
import re
from email import policy
from email.header import decode_header, make_header
from email.parser import BytesParser

ATTACHMENT_PREFIX = "ANGjdJ"
SNIPPET_LENGTH = 200


def b64url(data, pad=True):
    text = base64.urlsafe_b64encode(data).decode("ascii")
    return text if pad else text.rstrip("=")


def b64url_decode(text):
    """Decode base64url with or without '=' padding (clients send both)."""
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse(raw):
    return BytesParser(policy=policy.compat32).parsebytes(raw)


def unfold(value):
    return re.sub(r"\r?\n(?=[ \t])", "", str(value)).strip("\r\n")


def _repair_bytes(value):
    # compat32 keeps undecodable 8-bit header bytes as surrogates; show them as UTF-8 or cp1252.
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    data = value.encode("ascii", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def header_text(value):
    if value is None:
        return ""
    value = _repair_bytes(unfold(value))
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, ValueError, UnicodeError, AssertionError):
        return value


def headers_of(node):
    return [{"name": name, "value": header_text(value)} for name, value in node.raw_items()]


def first_header(node, name):
    for key, value in node.raw_items():
        if key.lower() == name.lower():
            return header_text(value)
    return ""


def message_ids(value):
    return re.findall(r"<[^<>\s]+>", value or "")


def normalized_subject(subject):
    subject = (subject or "").strip()
    while True:
        stripped = re.sub(r"^\s*(re|fw|fwd|aw|wg|sv|tr)(\[\d+\])?\s*:\s*", "", subject, flags=re.I)
        if stripped == subject:
            return " ".join(subject.lower().split())
        subject = stripped


def recipients(node):
    """Envelope recipients Gmail derives from To, Cc and Bcc, lowercased and deduplicated."""
    values = [first_header(node, name) for name in ("To", "Cc", "Bcc")]
    found = []
    for _, address in email.utils.getaddresses([v for v in values if v]):
        normalized = address.strip().lower()
        if "@" in normalized and normalized not in found:
            found.append(normalized)
    return found


def date_ms(node):
    """Epoch milliseconds of the Date header; a zone-less date counts as UTC (B21)."""
    value = first_header(node, "Date")
    parsed = email.utils.parsedate_tz(value) if value else None
    if not parsed:
        return None
    try:
        seconds = calendar.timegm((*parsed[:6], 0, 1, -1)) - (parsed[9] or 0)
    except (OverflowError, ValueError):
        return None
    return seconds * 1000


def from_line_ms(from_line):
    """Epoch milliseconds of an mbox "From " line, as ``mailbox.mboxMessage.get_from()`` gives
    it ("sender@example.com Mon Jan  1 10:00:00 2024"; asctime there means UTC), or None."""
    parts = (from_line or "").split(None, 1)
    parsed = email.utils.parsedate_tz(parts[1]) if len(parts) == 2 else None
    if not parsed:
        return None
    return int(email.utils.mktime_tz((*parsed[:9], parsed[9] or 0)) * 1000)


def _split_head(raw):
    """(header lines each with its line end, blank line + body)."""
    crlf, lf = raw.find(b"\r\n\r\n"), raw.find(b"\n\n")
    if crlf < 0 and lf < 0:
        return raw, b""
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return raw[: crlf + 2], raw[crlf + 2 :]
    return raw[: lf + 1], raw[lf + 1 :]


def _newline(raw):
    return b"\r\n" if b"\r\n" in raw[:4096] else b"\n"


def strip_header(raw, name):
    """Remove every occurrence of header ``name`` (with its folded lines); keep other bytes."""
    head, rest = _split_head(raw)
    lines = head.splitlines(keepends=True)
    kept, dropping = [], False
    prefix = name.lower().encode("ascii") + b":"
    for line in lines:
        if line[:1] in (b" ", b"\t") and dropping:
            continue
        dropping = line.lower().startswith(prefix)
        if not dropping:
            kept.append(line)
    return b"".join(kept) + rest


def add_missing_headers(raw, date_text, message_id):
    """Prepend Date / Message-ID like Gmail does for submitted mail that lacks them."""
    node = parse(raw)
    newline = _newline(raw)
    extra = b""
    if not first_header(node, "Message-ID"):
        extra += b"Message-ID: " + message_id.encode("ascii") + newline
    if not first_header(node, "Date"):
        extra += b"Date: " + date_text.encode("ascii") + newline
    return extra + raw


def attachment_id(message_id, part_id):
    return ATTACHMENT_PREFIX + b64url(f"{message_id}:{part_id}".encode(), pad=False)


def parse_attachment_id(value):
    if not value.startswith(ATTACHMENT_PREFIX):
        return None, None
    try:
        message_id, _, part_id = (
            b64url_decode(value[len(ATTACHMENT_PREFIX) :]).decode().partition(":")
        )
    except (ValueError, UnicodeDecodeError):
        return None, None
    return message_id, part_id


def _children(node):
    payload = node.get_payload()
    return payload if node.is_multipart() and isinstance(payload, list) else []


def part_by_id(node, part_id):
    if part_id == "":
        return node
    for index in part_id.split("."):
        children = _children(node)
        if not index.isdigit() or int(index) >= len(children):
            return None
        node = children[int(index)]
    return node


def part_data(node):
    if node.get_content_type() == "message/rfc822" and node.is_multipart():
        try:
            return node.get_payload(0).as_bytes(policy=policy.compat32)
        except (TypeError, ValueError, UnicodeError, LookupError):
            return b""
    try:
        return node.get_payload(decode=True) or b""
    except (TypeError, ValueError, AssertionError):
        return b""


def _filename(node):
    try:
        name = node.get_filename()
    except (TypeError, ValueError, LookupError, UnicodeError, IndexError):
        return ""
    return header_text(name) if name else ""


def _is_container(node):
    return node.get_content_maintype() == "multipart" and bool(_children(node))


def _part_tree(node, part_id, message_id, header_filter):
    headers = headers_of(node)
    if header_filter is not None:
        headers = [h for h in headers if h["name"].lower() in header_filter]
    filename = _filename(node)
    part = {
        "partId": part_id,
        "mimeType": node.get_content_type(),
        "filename": filename,
        "headers": headers,
    }
    if _is_container(node):
        part["body"] = {"size": 0}
        prefix = f"{part_id}." if part_id else ""
        part["parts"] = [
            _part_tree(child, f"{prefix}{i}", message_id, header_filter)
            for i, child in enumerate(_children(node))
        ]
        return part
    data = part_data(node)
    body = {"size": len(data)}
    if filename or node.get_content_type() == "message/rfc822":
        body["attachmentId"] = attachment_id(message_id, part_id)
    elif data:
        body["data"] = b64url(data, pad=False)
    part["body"] = body
    return part


def payload(node, message_id, fmt, metadata_headers=None):
    """The ``payload`` of messages.get for ``format`` 'full' or 'metadata'."""
    if fmt == "metadata":
        wanted = {h.lower() for h in metadata_headers or ()} or None
        headers = headers_of(node)
        if wanted is not None:
            headers = [h for h in headers if h["name"].lower() in wanted]
        return {
            "partId": "",
            "mimeType": node.get_content_type(),
            "filename": "",
            "headers": headers,
        }
    return _part_tree(node, "", message_id, None)


def _leaf_text(node):
    data = part_data(node)
    charset = node.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


def _leaves(node):
    children = _children(node)
    if not children:
        yield node
        return
    for child in children:
        if child.get_content_type() != "message/rfc822":
            yield from _leaves(child)


def body_text(node):
    """Plain text of the first text/plain part, else tag-stripped text/html."""
    html_text = None
    for leaf in _leaves(node):
        if _filename(leaf):
            continue
        kind = leaf.get_content_type()
        if kind == "text/plain":
            return _leaf_text(leaf)
        if kind == "text/html" and html_text is None:
            html_text = re.sub(r"<[^>]*>", " ", _leaf_text(leaf))
    return html.unescape(html_text or "")


def snippet(node):
    text = " ".join(body_text(node).split())[:SNIPPET_LENGTH]
    escaped = html.escape(text, quote=True)
    # Gmail writes the apostrophe as a decimal entity, not html.escape's hex form.
    return escaped.replace("&#x27;", "&#39;")


def has_attachment(node):
    return any(_filename(leaf) for leaf in node.walk() if not leaf.is_multipart())
