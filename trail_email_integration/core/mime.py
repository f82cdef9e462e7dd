"""Turn raw RFC 822 bytes into a plain, storable description of one email.

What it is
    The Odoo-free message parser of trail_email_integration. ``parse_message`` reads the exact
    bytes a provider returned (Gmail ``format=raw``, Graph ``$value``, an IMAP ``BODY[]``) and
    returns a :class:`ParsedMessage`: ids, dates, participants, subject, text and HTML bodies,
    attachments and a list of defects. Every string in it is safe for a PostgreSQL ``text``
    column (no NUL, no lone surrogates). It never raises: whatever could not be read is
    described in ``defects`` and the rest is still returned.

How it works
    The standard ``email`` package (``BytesParser`` with a ``compat32`` policy that hands back
    header values untouched, never ``raise_on_defect``) builds the MIME tree. Header values
    are decoded here: raw 8-bit bytes as UTF-8, any byte that is not UTF-8 as cp1252; RFC 2047
    encoded-words leniently (unknown charsets, bad padding, characters split across words); bodies
    with :func:`decode_bytes` (declared charset, then UTF-8, then cp1252). Address
    lists are read with the header registry of ``policy.default`` cross-checked against a scan
    for ``<addr-spec>`` in angle brackets, which wins when they disagree. Parts whose type is
    ``message/*`` are cut out of the original bytes so that attached emails stay byte-exact;
    the stdlib would re-serialise them.

    Body versus attachment, the one rule applied everywhere:

    * A leaf ``text/plain`` or ``text/html`` part without ``Content-Disposition: attachment``
      and without a file name is body. Several such parts (for example an Apple Mail message
      with text between attachments) are joined in order.
    * In ``multipart/alternative`` the first ``text/plain`` child gives the text and the last
      child that is or holds HTML gives the HTML. The other text renderings (``text/plain``,
      ``text/html``, ``text/enriched``, ``text/watch-html``, AMP) repeat the body and are
      dropped; any other child (``text/calendar``, images, files) is an attachment.
    * In ``multipart/related`` the root (``start`` parameter, else the first child) is read as
      above; every other leaf is an attachment, whatever its type.
    * Every other leaf is an attachment: files, images, ``text/calendar`` invites, S/MIME
      ``smime.p7s``/``smime.p7m``, ``message/rfc822`` (kept byte-exact as ``.eml``, decoded
      first if it was base64 or quoted-printable), report parts (``message/delivery-status``,
      ``message/disposition-notification``, ``message/feedback-report``,
      ``text/rfc822-headers``), and a non-text top-level part such as a lone ``image/png``.
      An attached message without a file name is called ``<its subject>.eml``.
    * An attachment is ``inline`` when it has a Content-ID that the HTML body references with
      ``cid:``. Unreferenced images in ``multipart/related`` are kept, with ``inline=False``.
    * Empty parts with neither a file name nor a Content-ID carry nothing and are skipped.
    * ``winmail.dat`` (``application/ms-tnef``) is kept as received. When the optional
      ``tnefparse`` package is installed its files are added as extra attachments, its body is
      used when the MIME message has none, and a defect says that content came from TNEF.

How to use it
    ::

        parsed = parse_message(raw_bytes)
        parsed.message_id, [a.email for a in parsed.from_], parsed.subject, parsed.text
        if parsed.message_id:
            dedupe_key = (parsed.message_id, content_digest(raw_bytes))
        else:
            dedupe_key = ("", fallback_key(parsed))

    Store ``raw_bytes`` themselves as the original; never re-serialise the parsed message.

Caveats
    * ``message_id`` is the header value with whitespace and angle brackets removed, never
      synthesised. Distinct messages can share one (B16): pair it with ``content_digest``.
    * ``headers`` hold each value decoded from bytes and unfolded, but encoded-words are left
      as sent, so that they still show what was on the wire.
    * Charset guessing is limited to the fallback chain plus one rule: text that is valid,
      non-ASCII UTF-8 is read as UTF-8 even when a single-byte charset is declared. Text in an
      undeclared multi-byte charset (Shift_JIS labelled UTF-8) ends up with U+FFFD marks.
    * The inner parts of an attached email are not listed as attachments of the outer one;
      they live inside its ``.eml``.
    * Attachment file names lose any directory part and control characters.
    * Body line endings are normalised to ``\n``; attachment bytes are never touched.
    * Below ``MAX_DEPTH`` nested multiparts the rest of the tree is kept whole as one ``.eml``
      attachment instead of being walked.
"""

import base64
import binascii
import codecs
import hashlib
import html as html_lib
import mimetypes
import quopri
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy as email_policy
from email import utils as email_utils
from email.message import Message
from email.parser import BytesParser
from email.policy import Compat32
from urllib.parse import quote

try:
    import lxml.html as lxml_html
    from lxml import etree as lxml_etree
except ImportError:  # lxml is an Odoo dependency; the fallback only serves bare test setups
    lxml_html = None
    lxml_etree = None

try:
    import tnefparse
except ImportError:
    tnefparse = None

__all__ = [
    "Address",
    "Attachment",
    "ParsedMessage",
    "content_digest",
    "decode_bytes",
    "fallback_key",
    "normalise_message_id",
    "parse_addresses",
    "parse_message",
]

# Deeper trees than this are hostile or broken; their remaining parts are kept as attachments.
MAX_DEPTH = 40

ADDRESS_HEADERS = ("from", "sender", "reply-to", "to", "cc", "bcc")

# Alternative renderings of the body; in multipart/alternative the losers are duplicates.
TEXT_RENDERINGS = (
    "text/plain",
    "text/html",
    "text/enriched",
    "text/richtext",
    "text/watch-html",
    "text/x-amp-html",
)


class _RawPolicy(Compat32):
    """compat32, but header values come back exactly as parsed.

    compat32 turns a value holding 8-bit bytes into a Header object whose str() replaces them
    with U+FFFD; keeping the surrogate-escaped string lets the charset chain recover them.
    """

    def header_fetch_parse(self, name, value):
        return value


_RAW_POLICY = _RawPolicy()


@dataclass
class Address:
    """One mailbox from an address header, written as the sender wrote it."""

    name: str
    email: str


@dataclass
class Attachment:
    """One stored file; ``content`` is the decoded payload."""

    filename: str
    mimetype: str
    content: bytes
    content_id: str = ""
    inline: bool = False


@dataclass
class ParsedMessage:
    """What ``parse_message`` recovered from one raw message."""

    message_id: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    subject: str = ""
    date: datetime | None = None
    from_: list[Address] = field(default_factory=list)
    sender: list[Address] = field(default_factory=list)
    reply_to: list[Address] = field(default_factory=list)
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    bcc: list[Address] = field(default_factory=list)
    text: str = ""
    html: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Charsets


# Labels Python lacks, or where mail clients (and the WHATWG encoding standard) mean a superset
# of what the Python codec of that name decodes.
_CHARSET_ALIASES = {
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "ansi_x3.4-1968": "cp1252",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "cp819": "cp1252",
    "ibm819": "cp1252",
    "iso-8859-9": "cp1254",
    "latin5": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "windows-874": "cp874",
    "x-mac-cyrillic": "mac_cyrillic",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-8-e": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "iso-8859-6-e": "iso-8859-6",
    "logical": "iso-8859-8",
    "visual": "iso-8859-8",
    "utf8mb4": "utf-8",
    "utf8mb3": "utf-8",
    "x-utf8": "utf-8",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cn-gb": "gb18030",
    "big5": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "windows-31j": "cp932",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "x-euc-jp": "euc_jp",
}

# Labels that name no charset at all: decode with the fallback chain.
_NO_CHARSET = {"", "unknown", "unknown-8bit", "x-unknown", "x-user-defined", "default", "none"}

_SINGLE_BYTE_PREFIXES = ("cp125", "iso8859", "latin", "mac", "koi8", "cp874", "cp437", "cp85")

_SURROGATES_RE = re.compile("[\ud800-\udfff]")
# NUL is refused by PostgreSQL text; the other C0 controls (but tab, LF, CR) only confuse.
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def clean_text(text: str) -> str:
    """Make ``text`` storable: lone surrogates become U+FFFD and NUL bytes are removed."""
    if not text:
        return ""
    return _SURROGATES_RE.sub("\ufffd", text.replace("\x00", ""))


def _normalise_label(declared: str | None) -> str | None:
    """The codec to try for a declared charset label, or None when it names none."""
    if declared is None:
        return None
    label = str(declared).strip().strip("\"'").strip().lower()[:40]
    if label in _NO_CHARSET:
        return None
    label = _CHARSET_ALIASES.get(label, label)
    try:
        codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    return label


def _is_single_byte(codec: str) -> bool:
    name = codecs.lookup(codec).name
    return name.startswith(_SINGLE_BYTE_PREFIXES)


def _decode_unicode_label(data: bytes) -> str | None:
    # 'unicode' is what Windows calls UTF-16LE; without a BOM the bytes are usually UTF-8.
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    if len(data) >= 4 and data[1:8:2].count(0) >= 2 and len(data) % 2 == 0:
        try:
            return data.decode("utf-16-le")
        except UnicodeDecodeError:
            return None
    return None


def _decode_strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError, ValueError):
        return None


def decode_bytes(data: bytes, declared_charset: str | None) -> str:
    """Decode ``data`` to text without ever failing or truncating.

    Order: the declared charset (after the alias table, with ISO-8859-1 and US-ASCII read as
    windows-1252), UTF-8, cp1252, then the first usable codec with ``errors='replace'``.
    Non-ASCII bytes that form valid UTF-8 win over a declared single-byte charset, because such
    mislabelled mail is common and valid UTF-8 is almost never accidental.
    """
    if not data:
        return ""
    data = bytes(data)
    raw_label = str(declared_charset or "").strip().strip("\"'").strip().lower()
    codec = _normalise_label(declared_charset)
    if raw_label == "unicode":
        text = _decode_unicode_label(data)
        if text is not None:
            return clean_text(text)
        codec = None
    if codec and not data.isascii() and _is_single_byte(codec):
        text = _decode_strict(data, "utf-8")
        if text is not None:
            return clean_text(text)
    for candidate in (codec, "utf-8", "cp1252"):
        if candidate:
            text = _decode_strict(data, candidate)
            if text is not None:
                return clean_text(text)
    return clean_text(data.decode(codec or "utf-8", errors="replace"))


def _cp1252_fallback(error: UnicodeError) -> tuple[str, int]:
    chunk = error.object[error.start : error.end]
    return chunk.decode("cp1252", "replace"), error.end


# Header bytes mix UTF-8 with raw Latin-1 (one bad byte in a UTF-8 name is common): each
# invalid byte is read as cp1252 instead of spoiling the whole value.
codecs.register_error("trail-mime-cp1252", _cp1252_fallback)


def decode_header_bytes(data: bytes) -> str:
    """Undeclared 8-bit header bytes: UTF-8, with bytes that are not UTF-8 read as cp1252."""
    return clean_text(data.decode("utf-8", "trail-mime-cp1252"))


def _str_to_bytes(value: str, direct_below: int = 0x80) -> bytes:
    """Recover the bytes behind a parsed header string.

    The parser maps each 8-bit byte to a lone surrogate (surrogateescape); RFC 2231 values are
    percent-decoded by the stdlib as Latin-1, so for them pass ``direct_below=0x100``.
    """
    out = bytearray()
    for char in value:
        code = ord(char)
        if code < direct_below:
            out.append(code)
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(code - 0xDC00)
        else:
            out += char.encode("utf-8", "replace")
    return bytes(out)


# --------------------------------------------------------------------------------------------
# Headers


_ENCODED_WORD_RE = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?]*?)\?=")
_FOLD_RE = re.compile(r"\r?\n(?=[ \t])|\r(?=[ \t])")


def _b64decode_lenient(text: str) -> bytes:
    cleaned = re.sub(r"[^A-Za-z0-9+/]", "", text.replace("-", "+").replace("_", "/"))
    if len(cleaned) % 4 == 1:
        cleaned = cleaned[:-1]
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned)
    except (binascii.Error, ValueError):
        return b""


def _decode_encoded_word(encoding: str, payload: str) -> bytes:
    if encoding in "Bb":
        return _b64decode_lenient(payload)
    return quopri.decodestring(payload.encode("ascii", "replace"), header=True)


def decode_words(text: str) -> str:
    """Decode RFC 2047 encoded-words anywhere in ``text``, leniently.

    Whitespace between two encoded-words is dropped, and adjacent words in the same charset are
    joined before decoding so that a character split across two words survives.
    """
    if "=?" not in text:
        return clean_text(text)
    pieces: list[tuple[str | None, bytes | str]] = []
    position = 0
    for match in _ENCODED_WORD_RE.finditer(text):
        gap = text[position : match.start()]
        previous_is_word = bool(pieces) and pieces[-1][0] is not None
        if gap and not (previous_is_word and not gap.strip()):
            pieces.append((None, gap))
        charset = match.group(1).split("*", 1)[0]
        data = _decode_encoded_word(match.group(2), match.group(3))
        if pieces and pieces[-1][0] is not None and pieces[-1][0].lower() == charset.lower():
            pieces[-1] = (pieces[-1][0], pieces[-1][1] + data)
        else:
            pieces.append((charset, data))
        position = match.end()
    pieces.append((None, text[position:]))
    out = []
    for charset, chunk in pieces:
        out.append(chunk if charset is None else decode_bytes(chunk, charset))
    return clean_text("".join(out))


def header_text(value) -> str:
    """A raw header value as safe, unfolded text (encoded-words are not decoded)."""
    if value is None:
        return ""
    try:
        text = decode_header_bytes(_str_to_bytes(str(value)))
    except Exception:  # a header object whose str() fails must not cost the message
        return ""
    return _FOLD_RE.sub("", text).strip("\r\n")


def normalise_message_id(value: str) -> str:
    """A Message-ID reduced to its id: no whitespace, folding, or angle brackets.

    ``'<a@b>'``, ``' <a@b> '``, ``'a@b'`` and a value folded over two lines all give ``'a@b'``,
    so that variants of one id never look like different messages.
    """
    if not value:
        return ""
    text = clean_text(re.sub(r"\s+", "", str(value)))
    match = re.search(r"<([^<>]+)>", text)
    if match:
        text = match.group(1)
    return _CONTROL_RE.sub("", text.strip("<>"))


def _id_list(value: str) -> list[str]:
    ids = [normalise_message_id(m) for m in re.findall(r"<[^<>]*>", value)]
    if not ids:
        ids = [normalise_message_id(token) for token in re.split(r"[\s,]+", value)]
    seen: list[str] = []
    for message_id in ids:
        if message_id and message_id not in seen:
            seen.append(message_id)
    return seen


def _parse_date(value: str) -> datetime | None:
    """An aware UTC datetime; naive results (``-0000``, unknown zones) are taken as UTC."""
    if not value.strip():
        return None
    parsed = email_utils.parsedate_to_datetime(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


# --------------------------------------------------------------------------------------------
# Addresses


def _split_top_level(text: str) -> list[str]:
    """Split an address list on commas and group delimiters outside quotes, comments, <>."""
    items: list[str] = []
    current: list[str] = []
    depth_comment = 0
    in_quote = in_angle = False
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and (in_quote or depth_comment) and index + 1 < len(text):
            current.append(text[index : index + 2])
            index += 2
            continue
        if text.startswith("=?", index) and not in_quote:
            match = _ENCODED_WORD_RE.match(text, index)
            if match:
                current.append(match.group(0))
                index = match.end()
                continue
        if in_quote:
            in_quote = char != '"'
        elif depth_comment:
            depth_comment += {"(": 1, ")": -1}.get(char, 0)
        elif char == '"':
            in_quote = True
        elif char == "(":
            depth_comment = 1
        elif char == "<":
            in_angle = True
        elif char == ">":
            in_angle = False
        elif char in ",;" and not in_angle:
            items.append("".join(current))
            current = []
            index += 1
            continue
        elif char == ":" and not in_angle:
            # a group's display name ends here; its members follow
            current = []
            index += 1
            continue
        current.append(char)
        index += 1
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def _strip_comments(text: str) -> tuple[str, str]:
    """Remove (comments) outside quotes; return the rest and the comment text."""
    rest: list[str] = []
    comments: list[str] = []
    depth = 0
    in_quote = False
    for char in text:
        if depth:
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth:
                comments.append(char)
            continue
        if char == '"':
            in_quote = not in_quote
        elif char == "(" and not in_quote:
            depth = 1
            continue
        rest.append(char)
    return "".join(rest), "".join(comments).strip()


def _unquote_phrase(phrase: str) -> str:
    phrase, _comment = _strip_comments(phrase)
    phrase = phrase.strip()
    if len(phrase) >= 2 and phrase[0] == '"' and phrase[-1] == '"':
        phrase = re.sub(r"\\(.)", r"\1", phrase[1:-1])
    else:
        phrase = phrase.replace('"', "")
    return " ".join(decode_words(phrase).split())


def _scan_item(item: str) -> list[Address]:
    """Addresses in one list item, taking the ``<addr-spec>`` whenever there is one."""
    angle = list(re.finditer(r"<([^<>]*)>", item))
    if angle:
        last = angle[-1]
        spec, _comment = _strip_comments(last.group(1))
        spec = re.sub(r"\s+", "", spec)
        spec = spec.rsplit(":", 1)[-1] if spec.startswith("@") else spec  # obsolete route
        name = _unquote_phrase(item[: angle[0].start()])
        return [Address(name, spec)] if "@" in spec else []
    bare, comment = _strip_comments(item)
    tokens = bare.split()
    if len(tokens) > 1 and all("@" in t and '"' not in t for t in tokens):
        # 'a@x b@y' without a comma: two mailboxes, as some scripts write them
        return [Address("", token) for token in tokens]
    spec = "".join(tokens)
    if "@" not in spec:
        return []
    return [Address(" ".join(decode_words(comment).split()), spec)]


def _registry_addresses(text: str) -> list[Address] | None:
    try:
        header = email_policy.default.header_factory("to", text)
        found = [
            Address(clean_text(str(a.display_name or "")), clean_text(str(a.addr_spec or "")))
            for a in header.addresses
        ]
    except Exception:  # the registry has raised IndexError and others on odd input
        return None
    return [a for a in found if "@" in a.email and a.email != "<>"]


def parse_addresses(text: str) -> tuple[list[Address], bool]:
    """Mailboxes of an address header value; the flag says the registry was overruled.

    The header registry of ``policy.default`` is used when its addresses are exactly those of
    the angle-bracket scan; otherwise the scan wins, because the registry can return a display
    name that looks like an address (``dave@x <erin@y>``) or, in strict Python versions, drop it.
    """
    scanned: list[Address] = []
    for item in _split_top_level(text):
        scanned.extend(_scan_item(item))
    registry = _registry_addresses(text)
    if registry is not None and [a.email for a in registry] == [a.email for a in scanned]:
        merged = []
        for reg, scan in zip(registry, scanned, strict=True):
            name = reg.name
            if not name or "\ufffd" in name or "=?" in name:
                name = scan.name
            merged.append(Address(name, reg.email))
        return merged, False
    return scanned, bool(registry or scanned)


# --------------------------------------------------------------------------------------------
# Raw slicing (byte-exact message/* parts)


_LINE_RE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
_HEADER_LINE_RE = re.compile(rb"^(From |[\x21-\x39\x3b-\x7e]*:|[\t ])")


def _lines(data: bytes) -> list[bytes]:
    return _LINE_RE.findall(data)


def split_entity(raw: bytes) -> tuple[bytes, bytes]:
    """Split raw entity bytes into header block and body, as the stdlib feed parser does."""
    offset = 0
    for line in _lines(raw):
        if line in (b"\r\n", b"\n", b"\r"):
            return raw[:offset], raw[offset + len(line) :]
        if offset and not _HEADER_LINE_RE.match(line):
            return raw[:offset], raw[offset:]
        offset += len(line)
    return raw, b""


def _split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """Raw bytes of each part between ``boundary`` lines (line break before a boundary dropped)."""
    delimiter = re.compile(
        rb"^--"
        + re.escape(boundary.encode("ascii", "surrogateescape"))
        + rb"(--)?[ \t]*(\r\n|\r|\n)?$"
    )
    parts: list[bytes] = []
    current: list[bytes] | None = None
    for line in _lines(body):
        match = delimiter.match(line)
        if match:
            if current is not None:
                parts.append(b"".join(current))
            if match.group(1):
                current = None
                break
            current = []
        elif current is not None:
            current.append(line)
    if current is not None:
        parts.append(b"".join(current))
    return [re.sub(rb"(\r\n|\r|\n)$", b"", part) for part in parts]


def _raw_children(part: Message, raw: bytes | None) -> list[bytes | None]:
    """Raw bytes of each child of a multipart, or Nones when they cannot be matched up."""
    children = part.get_payload()
    blanks: list[bytes | None] = [None] * len(children)
    if raw is None:
        return blanks
    boundary = part.get_boundary()
    if not boundary:
        return blanks
    try:
        pieces = _split_multipart(split_entity(raw)[1], boundary)
    except Exception:
        return blanks
    return list(pieces) if len(pieces) == len(children) else blanks


# --------------------------------------------------------------------------------------------
# Parts


def _param(part: Message, name: str, header: str = "content-type") -> str:
    """A decoded MIME parameter (RFC 2231, RFC 2047 inside quotes, raw 8-bit)."""
    try:
        value = part.get_param(name, header=header)
    except Exception:
        return ""
    if value is None:
        return ""
    if isinstance(value, tuple):
        charset, _language, text = value
        text = decode_bytes(_str_to_bytes(str(text), 0x100), charset or None)
    else:
        text = decode_header_bytes(_str_to_bytes(str(value)))
    text = _FOLD_RE.sub("", text).strip().strip('"')
    return decode_words(text) if "=?" in text else text


def _disposition(part: Message) -> str:
    value = header_text(part.get("content-disposition", ""))
    return value.split(";", 1)[0].strip().lower()


def _filename(part: Message) -> str:
    name = _param(part, "filename", "content-disposition") or _param(part, "name")
    name = re.split(r"[\\/]", name)[-1]
    return " ".join(_CONTROL_RE.sub("", name).replace("\x7f", "").split())


def _content_id(part: Message) -> str:
    value = header_text(part.get("content-id", ""))
    return normalise_message_id(value)


def _content_type(part: Message) -> str:
    try:
        value = part.get_content_type()
    except Exception:
        return "application/octet-stream"
    return clean_text(value).lower() or "application/octet-stream"


_EXTENSIONS = {
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "text/rfc822-headers": ".txt",
    "application/octet-stream": ".bin",
    "image/jpeg": ".jpg",
    "application/ms-tnef": ".dat",
    "application/vnd.ms-tnef": ".dat",
}


def _extension(mimetype: str) -> str:
    if mimetype in _EXTENSIONS:
        return _EXTENSIONS[mimetype]
    if mimetype.startswith("message/"):
        return ".txt"
    if mimetype.startswith("multipart/"):
        return ".eml"
    return mimetypes.guess_extension(mimetype, strict=False) or ".bin"


def _payload_bytes(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload
    return b""


def _transfer_decode(data: bytes, encoding: str) -> bytes:
    if encoding == "base64":
        return _b64decode_lenient(data.decode("ascii", "replace"))
    if encoding == "quoted-printable":
        return quopri.decodestring(data)
    return data


_META_CHARSET_RE = re.compile(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_\-:.]+)", re.IGNORECASE)


def _part_text(part: Message) -> str:
    data = _payload_bytes(part)
    charset = _param(part, "charset") or None
    if charset is None and _content_type(part) == "text/html":
        match = _META_CHARSET_RE.search(data[:4096])
        charset = match.group(1).decode("ascii") if match else None
    return decode_bytes(data, charset)


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML body (lxml when available)."""
    if not html.strip():
        return ""
    text = ""
    if lxml_html is not None:
        try:
            # lxml refuses str input that carries an XML encoding declaration
            document = lxml_html.document_fromstring(re.sub(r"^\s*<\?xml[^>]*>", "", html))
            for bad in document.xpath("//script|//style|//head|//title"):
                bad.drop_tree()
            for br in document.xpath("//br"):
                br.tail = "\n" + (br.tail or "")
            for block in document.xpath("//p|//div|//tr|//li|//h1|//h2|//h3|//h4|//table"):
                block.tail = "\n" + (block.tail or "")
            text = document.text_content()
        except (lxml_etree.ParserError, ValueError, TypeError):
            text = ""
    if not text.strip():
        text = re.sub(r"(?is)<(script|style|head)\b.*?</\1\s*>", " ", html)
        text = html_lib.unescape(re.sub(r"<[^>]*>", " ", text))
    lines = (" ".join(line.split()) for line in text.replace("\xa0", " ").splitlines())
    return clean_text(re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip())


class _Walker:
    """Collects body text, HTML and attachments from a parsed MIME tree."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.htmls: list[str] = []
        self.attachments: list[Attachment] = []
        self.defects: list[str] = []
        self.tnef_body_used = False

    # one entry point per kind of node --------------------------------------------------

    def walk(self, part: Message, raw: bytes | None, depth: int = 0) -> None:
        mimetype = _content_type(part)
        if depth > MAX_DEPTH:
            self.defects.append(f"MIME tree deeper than {MAX_DEPTH} levels; rest kept as-is")
            self.attach(part, raw, mimetype)
            return
        if mimetype.startswith("message/"):
            self.attach(part, raw, mimetype)
        elif part.is_multipart():
            self.walk_multipart(part, raw, depth, mimetype)
        elif mimetype.startswith("multipart/"):
            # a multipart whose boundary never appears: keep its text rather than lose it
            self.defects.append(f"{mimetype} without readable parts; its content kept as text")
            self.texts.append(decode_bytes(_payload_bytes(part), None))
        elif self.is_body(part, mimetype):
            text = _part_text(part)
            (self.htmls if mimetype == "text/html" else self.texts).append(text)
        else:
            self.attach(part, raw, mimetype)

    def walk_multipart(self, part: Message, raw: bytes | None, depth: int, mimetype: str) -> None:
        children = part.get_payload()
        raws = _raw_children(part, raw)
        if mimetype == "multipart/alternative":
            self.walk_alternative(children, raws, depth)
        elif mimetype == "multipart/related":
            root = self.related_root(part, children)
            for index, (child, child_raw) in enumerate(zip(children, raws, strict=True)):
                if index == root or child.is_multipart():
                    self.walk(child, child_raw, depth + 1)
                else:
                    self.attach(child, child_raw, _content_type(child))
        else:
            for child, child_raw in zip(children, raws, strict=True):
                self.walk(child, child_raw, depth + 1)

    def walk_alternative(self, children: list, raws: list, depth: int) -> None:
        types = [_content_type(child) for child in children]
        plain = next(
            (i for i, c in enumerate(children) if types[i] == "text/plain" and self.is_body(c)),
            None,
        )
        rich = None
        for index, child in enumerate(children):
            if (types[index] == "text/html" and self.is_body(child)) or (
                child.is_multipart() and _holds_html(child)
            ):
                rich = index
        for index, child in enumerate(children):
            if index in (plain, rich):
                self.walk(child, raws[index], depth + 1)
            elif child.is_multipart():
                # a losing rendering: keep its files, not its duplicate text
                sub = _Walker()
                sub.walk(child, raws[index], depth + 1)
                self.attachments.extend(sub.attachments)
                self.defects.extend(sub.defects)
            elif not (
                types[index] in TEXT_RENDERINGS
                and _disposition(child) != "attachment"
                and not _filename(child)
            ):
                # named or attached text is a file the sender chose to send, not a rendering
                self.attach(child, raws[index], types[index])

    @staticmethod
    def related_root(part: Message, children: list) -> int:
        start = normalise_message_id(_param(part, "start"))
        if start:
            for index, child in enumerate(children):
                if _content_id(child) == start:
                    return index
        return 0

    @staticmethod
    def is_body(part: Message, mimetype: str | None = None) -> bool:
        mimetype = mimetype or _content_type(part)
        if mimetype not in ("text/plain", "text/html"):
            return False
        return _disposition(part) != "attachment" and not _filename(part)

    # attachments -----------------------------------------------------------------------

    def attach(self, part: Message, raw: bytes | None, mimetype: str) -> None:
        if mimetype.startswith("message/") or part.is_multipart():
            content = self.message_bytes(part, raw, mimetype)
        else:
            content = _payload_bytes(part)
        filename = _filename(part)
        content_id = _content_id(part)
        if not content and not filename and not content_id:
            return
        if not filename and mimetype in ("message/rfc822", "message/global"):
            filename = _subject_filename(content)
        if not filename:
            filename = f"attachment-{len(self.attachments) + 1}{_extension(mimetype)}"
        self.attachments.append(Attachment(filename, mimetype, content, content_id))
        if mimetype in ("application/ms-tnef", "application/vnd.ms-tnef") or (
            filename.lower() == "winmail.dat"
        ):
            self.unpack_tnef(content)

    def message_bytes(self, part: Message, raw: bytes | None, mimetype: str) -> bytes:
        """Bytes of a message/* part (its body) or of a multipart cut off by MAX_DEPTH (whole)."""
        whole = mimetype.startswith("multipart/")
        if raw is not None and whole:
            return raw
        if raw is not None:
            encoding = header_text(part.get("content-transfer-encoding", "")).strip().lower()
            content = _transfer_decode(split_entity(raw)[1], encoding)
            # a base64 or QP body was parsed by the stdlib as garbage; nothing to compare with
            if encoding in ("base64", "quoted-printable") or self.matches(part, content):
                return content
        self.defects.append(f"{mimetype} part could not be cut from the original; re-serialised")
        try:
            if whole:
                return part.as_bytes()
            if part.is_multipart():
                return b"".join(inner.as_bytes() for inner in part.get_payload())
            return _payload_bytes(part)
        except Exception as error:
            self.defects.append(f"{mimetype} part lost: {error.__class__.__name__}")
            return b""

    @staticmethod
    def matches(part: Message, content: bytes) -> bool:
        """Whether the raw slice holds what the stdlib parsed (same inner header names)."""
        if not part.is_multipart():
            return True
        inner = part.get_payload()
        if not inner or not isinstance(inner[0], Message) or len(inner) != 1:
            return True  # delivery-status style bodies: several header blocks, not one message
        try:
            sliced = BytesParser(policy=_RAW_POLICY).parsebytes(content, headersonly=True)
        except Exception:
            return False
        return [k.lower() for k in sliced] == [k.lower() for k in inner[0]]

    def unpack_tnef(self, content: bytes) -> None:
        if tnefparse is None:
            self.defects.append("winmail.dat (TNEF) kept as received; tnefparse is not installed")
            return
        try:
            tnef = tnefparse.TNEF(content, do_checksum=False)
        except Exception as error:
            self.defects.append(f"winmail.dat (TNEF) kept as received; not readable: {error}")
            return
        added = 0
        for item in tnef.attachments:
            try:
                data = bytes(item.data or b"")
                name = _tnef_name(item)
            except Exception:
                continue
            if not data:
                continue
            added += 1
            mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
            if not name:
                name = f"attachment-{len(self.attachments) + 1}{_extension(mimetype)}"
            self.attachments.append(Attachment(name, mimetype, data))
        self.tnef_bodies(tnef)
        self.defects.append(
            f"content unpacked from TNEF winmail.dat: {added} file(s)"
            + (", body" if self.tnef_body_used else "")
        )

    def tnef_bodies(self, tnef) -> None:
        if any(t.strip() for t in self.texts + self.htmls):
            return
        body, html = getattr(tnef, "body", None), getattr(tnef, "htmlbody", None)
        for value, target in ((body, self.texts), (html, self.htmls)):
            text = decode_bytes(value.rstrip(b"\x00"), None) if isinstance(value, bytes) else value
            if isinstance(text, str) and text.strip():
                target.append(clean_text(text))
                self.tnef_body_used = True


def _tnef_name(item) -> str:
    try:
        name = item.long_filename()
    except Exception:
        name = getattr(item, "_name", b"")
    if isinstance(name, bytes):
        name = decode_bytes(name.rstrip(b"\x00"), None)
    name = re.split(r"[\\/]", str(name or "").strip("\x00"))[-1]
    return " ".join(_CONTROL_RE.sub("", name).split())


def _subject_filename(content: bytes) -> str:
    """'<inner subject>.eml' for an attached message that came without a file name."""
    try:
        inner = BytesParser(policy=_RAW_POLICY).parsebytes(content, headersonly=True)
        subject = " ".join(decode_words(header_text(inner.get("subject", ""))).split())
    except Exception:
        return ""
    subject = re.sub(r'[\\/:*?"<>|]', "_", _CONTROL_RE.sub("", subject))[:120].strip(" .")
    return f"{subject}.eml" if subject else ""


def _holds_html(part: Message) -> bool:
    try:
        return any(
            _content_type(p) == "text/html" and _Walker.is_body(p)
            for p in part.walk()
            if not p.is_multipart()
        )
    except Exception:
        return False


def _mark_inline(attachments: list[Attachment], html: str) -> None:
    lowered = html.lower()
    for attachment in attachments:
        cid = attachment.content_id.lower()
        attachment.inline = bool(cid) and (
            f"cid:{cid}" in lowered or f"cid:{quote(cid, safe='@')}".lower() in lowered
        )


# --------------------------------------------------------------------------------------------
# Entry points


def _fallback_message(raw: bytes, error: BaseException) -> ParsedMessage:
    parsed = ParsedMessage()
    parsed.defects.append(f"message could not be parsed ({error.__class__.__name__}); kept raw")
    parsed.text = decode_bytes(raw, None)
    return parsed


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse raw RFC 822 bytes. Never raises; see ``ParsedMessage.defects`` for what failed."""
    try:
        raw = bytes(raw or b"")
    except Exception as error:
        return _fallback_message(b"", error)
    try:
        return _parse(raw)
    except Exception as error:  # RecursionError included: a hostile tree must not escape
        return _fallback_message(raw, error)


def _parse(raw: bytes) -> ParsedMessage:
    parsed = ParsedMessage()
    stripped = raw.lstrip(b"\r\n")
    if len(stripped) != len(raw):
        parsed.defects.append("blank lines before the headers were ignored")
    message = BytesParser(policy=_RAW_POLICY).parsebytes(stripped)
    _read_headers(message, parsed)
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
