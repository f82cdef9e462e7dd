"""Reading one MIME part: its type, disposition, file name, Content-ID, payload and text."""

import mimetypes
import quopri
import re
from email.message import Message

from .charsets import _CONTROL_RE, _str_to_bytes, clean_text, decode_bytes, decode_header_bytes
from .headers import _FOLD_RE, _b64decode_lenient, decode_words, header_text, normalise_message_id


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
