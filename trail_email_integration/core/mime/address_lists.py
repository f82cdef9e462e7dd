"""Address-list headers (From, To, Cc...) read into mailboxes, tolerating what senders write.

Not to be confused with ``core/addresses.py``, which compares addresses once they are read.
"""

import re
from email import policy as email_policy

from .charsets import clean_text
from .headers import _ENCODED_WORD_RE, decode_words
from .model import Address


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
