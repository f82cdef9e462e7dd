"""Raw entity bytes: lines, the header/body split and the parts of a multipart body.

These slices let ``message/*`` parts be kept byte-exact instead of re-serialised by the stdlib.
"""

import re
from email.message import Message

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
