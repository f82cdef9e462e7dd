"""The provider interface: what the capture engine asks of a mailbox, whoever hosts it.

What it is
    One abstract class, :class:`Provider`, and the small value types and error kinds it speaks.
    Google and Microsoft each implement it in their own module; the capture engine drives any of
    them the same way and never knows which one it has.

How it works
    A provider answers five questions:

    - ``current_cursor()``: a bookmark for "now". The engine takes it *before* the backfill
      starts, so nothing that arrives during the backfill falls between the two.
    - ``list_changes(cursor)``: what was added, relabelled or deleted since the bookmark.
    - ``list_window(start, position)``: the history inside a date window, newest first, one page
      at a time. ``position`` is the opaque place to resume from.
    - ``fetch(refs)``: the raw RFC 822 bytes of several messages in one batch.
    - ``send(raw)``: send a complete MIME message as the mailbox owner.

    One question is optional: ``link_attachments(refs)``, the cloud links attached to messages
    whose ref says ``has_attachments``. They have no bytes and are not in the raw MIME
    (Microsoft 365's reference attachments); a provider without such links answers none.

    Cursors and positions are opaque strings; a provider may pack JSON into them (Graph keeps
    one delta link per folder).

    Every failure is one of four kinds, and each kind has one handling path in the engine:

    - :class:`TemporaryError`: try again later (``retry_after`` seconds when the server said so);
      the mailbox stays active.
    - :class:`CursorExpired`: the bookmark is too old; re-list the window and dedupe.
    - :class:`AuthorisationLost`: the user must reconnect.
    - :class:`MessageError`: one message cannot be had; record it as failed and go on.

    A configuration that cannot work as given (a key that cannot be read, a tenant that is not
    one) is a :class:`ConfigError`. Any of these errors may name its ``reason``, a condition a
    person can fix, with the ``facts`` a sentence about it needs (:class:`Explained`); the Odoo
    side puts them in translated words, and ``str(error)`` stays the technical detail.

Use
    Subclass :class:`Provider`. ``core.providers.fake.FakeProvider`` is the in-memory reference
    implementation used by the engine's tests.

Caveats
    Providers are synchronous and not thread-safe; the engine uses one per mailbox at a time.
"""

import abc
from dataclasses import dataclass, field
from datetime import datetime

# Change kinds reported by list_changes.
ADDED = "added"
LABELS_CHANGED = "labels"
DELETED = "deleted"

# Labels (Gmail) and well-known folder names (Microsoft 365) that mean "sent by the owner".
SENT_LABELS = frozenset({"SENT", "sentitems"})

# Why a message is not captured at all.
SKIP_SPAM = "spam"
SKIP_TRASH = "trash"
SKIP_DRAFT = "draft"


@dataclass(frozen=True)
class MessageRef:
    """A message as the provider names it, before its content is fetched."""

    provider_id: str
    thread_id: str = ""
    labels: tuple = ()
    internal_date: datetime | None = None
    # SKIP_SPAM, SKIP_TRASH or SKIP_DRAFT when the message must not be captured.
    skip_reason: str = ""
    # True when the message may carry attachments its raw MIME lacks (cloud links).
    has_attachments: bool = False


@dataclass
class Change:
    kind: str
    ref: MessageRef


@dataclass
class ChangeSet:
    changes: list
    cursor: str
    # True when more changes are waiting: call list_changes again with ``cursor``.
    more: bool = False


@dataclass
class Page:
    refs: list
    # Where to resume; None once the window is exhausted.
    next_position: str | None
    estimated_total: int | None = None


@dataclass
class Fetched:
    ref: MessageRef
    raw: bytes


@dataclass
class SentMessage:
    provider_id: str
    thread_id: str = ""
    labels: tuple = field(default_factory=tuple)


@dataclass
class Identity:
    """Who owns the mailbox: its address and the send-as aliases."""

    address: str
    aliases: tuple = ()


class Explained(Exception):
    """An error that may name, for the screens, the condition behind it.

    ``reason`` is a constant of the module that raises the error (None when the message is all
    there is to say) and ``facts`` the values a sentence about it needs. ``str(error)`` stays
    the technical detail, in English, for the log.
    """

    def __init__(self, *args, reason=None, **facts):
        super().__init__(*args)
        self.reason = reason
        self.facts = facts


class ConfigError(Explained, ValueError):
    """A credential or setting that cannot work as given; a person must change it."""


class ProviderError(Explained):
    """Base of the four error kinds; never raised as such."""


class TemporaryError(ProviderError):
    def __init__(self, message, retry_after=None, **explained):
        super().__init__(message, **explained)
        self.retry_after = retry_after


class CursorExpired(ProviderError):
    pass


class AuthorisationLost(ProviderError):
    pass


class MessageError(ProviderError):
    """One message could not be had; the others go on.

    ``gone`` says the provider no longer has it (deleted, or moved out of reach since it was
    listed), so fetching it again cannot help.
    """

    def __init__(self, message, provider_id, gone=False):
        super().__init__(message)
        self.provider_id = provider_id
        self.gone = gone


class Provider(abc.ABC):
    """A connected mailbox at Google, Microsoft or elsewhere."""

    @abc.abstractmethod
    def identity(self) -> Identity:
        """The owner's address and aliases."""

    @abc.abstractmethod
    def current_cursor(self) -> str:
        """A bookmark for "now", to pass to :meth:`list_changes` later."""

    @abc.abstractmethod
    def list_changes(self, cursor: str) -> ChangeSet:
        """Changes since ``cursor``. Raises :class:`CursorExpired` when it is too old."""

    @abc.abstractmethod
    def list_window(
        self, start: datetime, position: str | None = None, page_size: int = 500
    ) -> Page:
        """One page of the messages received since ``start``, newest first."""

    @abc.abstractmethod
    def fetch(self, refs: list) -> list:
        """Return a :class:`Fetched` or a :class:`MessageError` for each ref, in order.

        Errors that concern the whole batch (throttling, lost authorisation) are raised instead.
        """

    @abc.abstractmethod
    def send(self, raw: bytes, thread_id: str | None = None) -> SentMessage:
        """Send ``raw`` (complete MIME, Bcc included) as the owner."""

    def link_attachments(self, refs: list) -> dict:
        """The cloud links attached to ``refs``: ``{provider_id: [{"name", "url", "mimetype"}]}``.

        Every ref whose attachments could be read has an entry (an empty list when none is a
        link); a ref left out could not be read. Errors that concern the whole batch are raised
        instead. This default has no links to offer.
        """
        return {ref.provider_id: [] for ref in refs}

    def label_names(self, labels) -> tuple:
        """``labels`` as the mailbox's owner reads them, in the same order.

        A provider whose refs carry ids rather than names (Gmail's ``Label_12``) maps them
        here; what cannot be mapped stays as it is. This default returns them unchanged.
        """
        return tuple(labels)
