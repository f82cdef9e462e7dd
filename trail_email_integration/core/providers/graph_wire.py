"""Microsoft Graph's vocabulary shared by the Microsoft 365 provider and its OAuth helpers.

What it is
    :class:`GraphEndpoints` (the identity authority and the Graph base URL, Microsoft's by
    default, plus an optional CA bundle), the delegated scopes the addon asks for, the mail
    folders that are never captured, the mapping from a Graph message resource to a
    :class:`~..provider.MessageRef`, and :func:`make_session`.

How it works
    Plain values and small functions, no I/O. Production uses ``GraphEndpoints()``; the local
    emulator, which serves identity and Graph on one host with its own CA, uses
    ``GraphEndpoints.at(emu.authority_base, emu.ca_bundle)``.

Use
    ::

        endpoints = GraphEndpoints.at("https://localhost:8791", "/tmp/emu-ca.pem")
        session = make_session(endpoints.ca_bundle)

Caveats
    When a CA bundle is given, sessions ignore the environment (``trust_env = False``):
    requests would otherwise let ``REQUESTS_CA_BUNDLE`` override ``Session.verify``, and the
    bundle would never be used. Proxy variables are then ignored too.
"""

from dataclasses import dataclass
from datetime import datetime, timezone

import requests

from ..provider import SKIP_DRAFT, SKIP_SPAM, SKIP_TRASH, ConfigError, MessageRef

DEFAULT_AUTHORITY_BASE = "https://login.microsoftonline.com"
DEFAULT_GRAPH_BASE = "https://graph.microsoft.com/v1.0"
# msal adds openid, profile and offline_access itself and refuses them here. Mail.ReadWrite
# (a superset of Mail.Read) is needed because a message too large for sendMail is sent as a
# draft with upload sessions, and drafts need write access.
SCOPES = ("User.Read", "Mail.ReadWrite", "Mail.Send")
# Client credentials always ask for every application permission the admin consented to.
APP_SCOPE = "https://graph.microsoft.com/.default"
# Every Graph call asks for ids that survive moves between folders.
PREFER_IMMUTABLE = 'IdType="ImmutableId"'

# Well-known folders whose mail is never captured, with the skip reason a message found in one
# (or under one) carries. Outlook keeps chat logs, sync logs and search results in the
# "trash" group: they are not correspondence.
SKIPPED_FOLDERS = {
    "deleteditems": SKIP_TRASH,
    "recoverableitemsdeletions": SKIP_TRASH,
    "junkemail": SKIP_SPAM,
    "clutter": SKIP_SPAM,
    "drafts": SKIP_DRAFT,
    "outbox": SKIP_DRAFT,
    "scheduled": SKIP_DRAFT,
    "conversationhistory": SKIP_TRASH,
    "syncissues": SKIP_TRASH,
    "conflicts": SKIP_TRASH,
    "localfailures": SKIP_TRASH,
    "serverfailures": SKIP_TRASH,
    "searchfolders": SKIP_TRASH,
}
# Captured well-known folders, labelled by their well-known name rather than a localised one.
LABELLED_FOLDERS = ("inbox", "sentitems", "archive")

# hasAttachments tells which messages may carry cloud links, which their MIME lacks (case B10).
REF_SELECT = "id,receivedDateTime,internetMessageId,parentFolderId,conversationId,hasAttachments"


class GraphConfigError(ConfigError):
    """The Microsoft app registration is not configured, or Microsoft rejects it."""


@dataclass(frozen=True)
class GraphEndpoints:
    """Where the identity platform and Graph live, and the CA bundle to trust for them."""

    authority_base: str = DEFAULT_AUTHORITY_BASE
    graph_base: str = DEFAULT_GRAPH_BASE
    ca_bundle: str | None = None

    @classmethod
    def at(cls, base_url, ca_bundle=None):
        """Identity and Graph on one host, as the local emulator serves them."""
        base = base_url.rstrip("/")
        return cls(authority_base=base, graph_base=base + "/v1.0", ca_bundle=ca_bundle)

    def authority(self, tenant):
        return f"{self.authority_base.rstrip('/')}/{tenant or 'common'}"

    @property
    def is_microsoft(self):
        """True for Microsoft's own cloud, where msal's instance discovery applies."""
        return self.authority_base.rstrip("/") == DEFAULT_AUTHORITY_BASE

    def relative(self, url):
        """``url`` without the Graph base, as ``$batch`` wants it."""
        base = self.graph_base.rstrip("/")
        return url[len(base) :] if url.startswith(base) else url


def make_session(ca_bundle=None):
    """A requests session that trusts ``ca_bundle`` (else the system's certificates)."""
    session = requests.Session()
    if ca_bundle:
        session.verify = ca_bundle
        session.trust_env = False
    return session


def parse_time(value):
    """A Graph timestamp ('2024-01-01T06:31:24Z') as an aware datetime, or None."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def graph_time(moment):
    """An aware or naive-UTC datetime in the form Graph's ``$filter`` accepts."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def message_ref(resource, label, skip_reason=""):
    """A MessageRef from a Graph message resource (or the few properties delta carries)."""
    return MessageRef(
        provider_id=resource["id"],
        thread_id=resource.get("conversationId") or "",
        labels=(label,) if label else (),
        internal_date=parse_time(resource.get("receivedDateTime")),
        skip_reason=skip_reason,
        has_attachments=bool(resource.get("hasAttachments")),
    )
