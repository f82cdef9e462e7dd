"""The walk over a parsed MIME tree that sorts its parts into body text, HTML and attachments.

It applies the body-versus-attachment rules of the package docstring, cuts attached messages
out of the original bytes, and unpacks TNEF ``winmail.dat`` when ``tnefparse`` is installed.
"""

import mimetypes
import re
from email.message import Message
from email.parser import BytesParser
from urllib.parse import quote

try:
    import tnefparse
except ImportError:
    tnefparse = None

from .charsets import _CONTROL_RE, clean_text, decode_bytes
from .entity import _raw_children, split_entity
from .headers import _RAW_POLICY, decode_words, header_text, normalise_message_id
from .model import Attachment
from .parts import (
    _content_id,
    _content_type,
    _disposition,
    _extension,
    _filename,
    _param,
    _part_text,
    _payload_bytes,
    _transfer_decode,
)

# Deeper trees than this are hostile or broken; their remaining parts are kept as attachments.
MAX_DEPTH = 40

# Alternative renderings of the body; in multipart/alternative the losers are duplicates.
TEXT_RENDERINGS = (
    "text/plain",
    "text/html",
    "text/enriched",
    "text/richtext",
    "text/watch-html",
    "text/x-amp-html",
)


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
