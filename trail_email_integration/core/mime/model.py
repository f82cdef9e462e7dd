"""The plain records ``parse_message`` returns: the message, its addresses and attachments."""

from dataclasses import dataclass, field
from datetime import datetime


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
