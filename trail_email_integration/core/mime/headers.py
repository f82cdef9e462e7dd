"""Header values: the raw parsing policy, RFC 2047 encoded-words, Message-IDs and dates."""

import base64
import binascii
import quopri
import re
from datetime import datetime, timezone
from email import utils as email_utils
from email.policy import Compat32

from .charsets import _CONTROL_RE, _str_to_bytes, clean_text, decode_bytes, decode_header_bytes


class _RawPolicy(Compat32):
    """compat32, but header values come back exactly as parsed.

    compat32 turns a value holding 8-bit bytes into a Header object whose str() replaces them
    with U+FFFD; keeping the surrogate-escaped string lets the charset chain recover them.
    """

    def header_fetch_parse(self, name, value):
        return value


_RAW_POLICY = _RawPolicy()


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
