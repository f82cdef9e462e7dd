"""The Gmail API's vocabulary shared by the provider and the OAuth helpers.

What it is
    :class:`GmailEndpoints` (every URL, Google's by default), the scopes the addon asks for,
    Gmail's quota cost of each method the provider calls, base64url coding that accepts
    Gmail's padded and unpadded forms, and the mapping from Gmail labels and message
    resources to :class:`~..provider.MessageRef`.

How it works
    Plain values and small functions, no I/O. Endpoints are one frozen object so production
    and the local emulator differ by configuration only: ``GmailEndpoints()`` for Google,
    ``GmailEndpoints.at(base_url)`` for the emulator, which serves everything on one host.

Use
    ::

        endpoints = GmailEndpoints.at("http://127.0.0.1:8790/")
        raw = decode_base64url(answer["raw"])

Caveats
    The unit costs are Google's published table for the Gmail API; Google may change them.
"""

import base64
from dataclasses import dataclass
from datetime import datetime, timezone

from ..provider import SKIP_DRAFT, SKIP_SPAM, SKIP_TRASH, ConfigError, MessageRef

READONLY_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"
SEND_SCOPE = "https://www.googleapis.com/auth/gmail.send"
SCOPES = (READONLY_SCOPE, SEND_SCOPE)

# Gmail's per-user budget and its published cost of each method we call.
UNITS_PER_MINUTE = 15000
COST_GET_PROFILE = 1
COST_SEND_AS_LIST = 1
COST_MESSAGES_LIST = 5
COST_MESSAGES_GET = 5
COST_HISTORY_LIST = 2
COST_SEND = 100
COST_LABELS_LIST = 1

SKIP_LABELS = (("SPAM", SKIP_SPAM), ("TRASH", SKIP_TRASH), ("DRAFT", SKIP_DRAFT))
# Gmail's system labels: their ids are their names, so reading them needs no labels.list.
SYSTEM_LABEL_IDS = frozenset(
    {
        "INBOX",
        "SENT",
        "DRAFT",
        "SPAM",
        "TRASH",
        "UNREAD",
        "STARRED",
        "IMPORTANT",
        "CHAT",
        "CATEGORY_PERSONAL",
        "CATEGORY_SOCIAL",
        "CATEGORY_PROMOTIONS",
        "CATEGORY_UPDATES",
        "CATEGORY_FORUMS",
    }
)


@dataclass(frozen=True)
class GmailEndpoints:
    """Every URL the Gmail provider and its OAuth helpers use; Google's by default."""

    auth_uri: str = "https://accounts.google.com/o/oauth2/auth"
    token_uri: str = "https://oauth2.googleapis.com/token"
    revoke_uri: str = "https://oauth2.googleapis.com/revoke"
    api_base: str = "https://gmail.googleapis.com/"
    batch_uri: str = "https://gmail.googleapis.com/batch/gmail/v1"

    @classmethod
    def at(cls, base_url):
        """All endpoints on one host, as the local emulator serves them."""
        base = base_url.rstrip("/") + "/"
        return cls(
            auth_uri=base + "o/oauth2/auth",
            token_uri=base + "token",
            revoke_uri=base + "revoke",
            api_base=base,
            batch_uri=base + "batch/gmail/v1",
        )


class GmailConfigError(ConfigError):
    """The Google OAuth client is not configured (client id or secret missing)."""


def decode_base64url(text):
    """Bytes of base64url ``text`` written with or without ``=`` padding.

    Gmail pads ``raw`` but not attachment data (cases B07, B08). Characters outside the
    alphabet raise ``binascii.Error`` rather than being skipped, so a damaged answer is never
    taken for the original bytes.
    """
    text = text.strip().rstrip("=")
    standard = text.translate(str.maketrans("-_", "+/"))
    return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)


def encode_base64url(data):
    return base64.urlsafe_b64encode(data).decode("ascii")


def skip_reason(labels):
    for label, reason in SKIP_LABELS:
        if label in labels:
            return reason
    return ""


def internal_date(value):
    if value in (None, ""):
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc)


def message_ref(message, labels=None):
    """A MessageRef from a Gmail message resource (or the stub history and lists carry)."""
    labels = tuple(message.get("labelIds", ()) if labels is None else labels)
    return MessageRef(
        provider_id=message["id"],
        thread_id=message.get("threadId", ""),
        labels=labels,
        internal_date=internal_date(message.get("internalDate")),
        skip_reason=skip_reason(labels),
    )
