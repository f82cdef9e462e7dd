"""In-memory Gmail mailboxes: messages, labels, threads, history and send-as aliases.

What it is: the data model behind the emulated API. A ``Mailbox`` belongs to one email address
and holds ``StoredMessage`` objects (exact raw bytes, label ids, internalDate, threadId,
historyId), system and user labels, and an append-only history log with Gmail's four record
kinds (messageAdded, messageDeleted, labelAdded, labelRemoved).

How it works: every change bumps the mailbox's history id by a small random gap (Gmail's ids are
increasing but not contiguous, and clients must not assume otherwise) and appends a record.
Threads follow Gmail's rough rule: a message joins the thread of a message it references
(References / In-Reply-To) when the normalised subjects match; otherwise it starts a thread
whose id is its own message id. History older than the retention age is pruned; a start id
below the oldest retained point makes ``history_since`` raise Gmail's 404.

How to use it (normally through ``GmailEmulator``)::

    box = Mailbox('a@example.com', clock, ids)
    message = box.insert(raw, ['INBOX', 'UNREAD'], internal_date_ms)
    box.modify(message.id, add=['STARRED'], remove=['UNREAD'])

Caveats: not thread-safe on its own; the emulator serialises access with one lock. Thread ids
are never merged after the fact, as in Gmail.
"""

import itertools
import random
from dataclasses import dataclass, field

from . import mime
from .wire import ApiError

SYSTEM_LABELS = (
    "INBOX",
    "SENT",
    "DRAFT",
    "SPAM",
    "TRASH",
    "IMPORTANT",
    "STARRED",
    "UNREAD",
    "CHAT",
    "CATEGORY_PERSONAL",
    "CATEGORY_SOCIAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_UPDATES",
    "CATEGORY_FORUMS",
)
HISTORY_TYPES = ("messageAdded", "messageDeleted", "labelAdded", "labelRemoved")


class MessageIds:
    """Gmail-looking hex ids: milliseconds in the high bits, a sequence in the low 20 bits."""

    def __init__(self):
        self._sequence = itertools.count(1)

    def new(self, internal_ms):
        return format((max(internal_ms, 0) << 20) | (next(self._sequence) & 0xFFFFF), "x")


@dataclass
class StoredMessage:
    id: str
    thread_id: str
    raw: bytes
    label_ids: list
    internal_date: int
    history_id: int
    _parsed: object = field(default=None, repr=False)

    @property
    def parsed(self):
        if self._parsed is None:
            self._parsed = mime.parse(self.raw)
        return self._parsed

    def reference(self):
        return {"id": self.id, "threadId": self.thread_id}

    def snapshot(self):
        return {"id": self.id, "threadId": self.thread_id, "labelIds": list(self.label_ids)}

    def resource(self, fmt="full", metadata_headers=None):
        """The Message resource of messages.get in the given ``format``."""
        result = {
            "id": self.id,
            "threadId": self.thread_id,
            "labelIds": list(self.label_ids),
            "snippet": mime.snippet(self.parsed),
            "sizeEstimate": len(self.raw),
            "historyId": str(self.history_id),
            "internalDate": str(self.internal_date),
        }
        if fmt == "raw":
            result["raw"] = mime.b64url(self.raw, pad=True)
        elif fmt in ("full", "metadata"):
            result["payload"] = mime.payload(self.parsed, self.id, fmt, metadata_headers)
        return result


@dataclass
class HistoryRecord:
    id: int
    time: float
    kind: str
    message: dict
    label_ids: list = None

    def resource(self):
        result = {
            "id": str(self.id),
            "messages": [{k: self.message[k] for k in ("id", "threadId")}],
        }
        if self.kind == "messageAdded":
            result["messagesAdded"] = [{"message": self.message}]
        elif self.kind == "messageDeleted":
            result["messagesDeleted"] = [{"message": self.message}]
        elif self.kind == "labelAdded":
            result["labelsAdded"] = [{"message": self.message, "labelIds": self.label_ids}]
        else:
            result["labelsRemoved"] = [{"message": self.message, "labelIds": self.label_ids}]
        return result


class Mailbox:
    def __init__(self, email, clock, ids, display_name=""):
        self.email = email.lower()
        self.display_name = display_name
        self.clock = clock
        self.ids = ids
        self.messages = {}
        self.labels = {name: {"id": name, "name": name, "type": "system"} for name in SYSTEM_LABELS}
        self._label_sequence = itertools.count(1)
        self._gaps = random.Random(self.email)
        self.history = []
        self.history_id = 1000 + self._gaps.randint(0, 8999)
        # Start ids below this are answered with 404: nothing before it is retained.
        self.history_floor = self.history_id
        self.thread_subjects = {}
        self.thread_by_rfc_id = {}
        self.aliases = [self._alias(self.email, display_name, primary=True)]

    @staticmethod
    def _alias(address, display_name, primary=False):
        alias = {
            "sendAsEmail": address,
            "displayName": display_name or "",
            "replyToAddress": "",
            "signature": "",
            "isDefault": primary,
            "treatAsAlias": not primary,
            "verificationStatus": "accepted",
        }
        if primary:
            alias["isPrimary"] = True
        return alias

    def add_alias(self, address, display_name=""):
        self.aliases.append(self._alias(address.lower(), display_name))

    # Labels

    def label_id_for(self, name, create=False):
        """Resolve a label id or (case-insensitive) name; create a user label when asked."""
        if name in self.labels:
            return name
        wanted = name.lower().replace("-", " ")
        for label in self.labels.values():
            if label["name"].lower().replace("-", " ") == wanted or label["id"].lower() == wanted:
                return label["id"]
        if not create:
            return None
        label_id = f"Label_{next(self._label_sequence)}"
        self.labels[label_id] = {
            "id": label_id,
            "name": name,
            "type": "user",
            "messageListVisibility": "show",
            "labelListVisibility": "labelShow",
        }
        return label_id

    def _check_labels(self, label_ids):
        for label_id in label_ids:
            if label_id not in self.labels:
                raise ApiError.invalid_argument(f"Invalid label: {label_id}")

    # Messages

    def _bump(self):
        self.history_id += self._gaps.randint(1, 9)
        return self.history_id

    def _record(self, kind, message, label_ids=None):
        record = HistoryRecord(
            self._bump(),
            self.clock.time(),
            kind,
            message.snapshot(),
            list(label_ids) if label_ids is not None else None,
        )
        message.history_id = record.id
        self.history.append(record)

    def _thread_for(self, node, explicit_thread_id):
        subject_key = mime.normalized_subject(mime.first_header(node, "Subject"))
        explicit_subject = self.thread_subjects.get(explicit_thread_id)
        if explicit_subject is not None and (explicit_subject == subject_key or not subject_key):
            return explicit_thread_id
        references = mime.message_ids(mime.first_header(node, "References"))
        references += mime.message_ids(mime.first_header(node, "In-Reply-To"))
        for reference in reversed(references):
            thread_id = self.thread_by_rfc_id.get(reference)
            if thread_id and self.thread_subjects.get(thread_id) == subject_key:
                return thread_id
        return None

    def insert(self, raw, label_ids, internal_date, thread_id=None, forced_thread_id=None):
        """Store a message; ``forced_thread_id`` (Takeout's X-GM-THRID) skips threading."""
        self._check_labels(label_ids)
        message_id = self.ids.new(internal_date)
        node = mime.parse(raw)
        thread = forced_thread_id or self._thread_for(node, thread_id) or message_id
        if thread not in self.thread_subjects:
            subject = mime.first_header(node, "Subject")
            self.thread_subjects[thread] = mime.normalized_subject(subject)
        for rfc_id in mime.message_ids(mime.first_header(node, "Message-ID"))[:1]:
            self.thread_by_rfc_id.setdefault(rfc_id, thread)
        labels = list(dict.fromkeys(label_ids))
        message = StoredMessage(message_id, thread, raw, labels, internal_date, 0, node)
        self.messages[message_id] = message
        self._record("messageAdded", message)
        return message

    def get(self, message_id):
        message = self.messages.get(message_id)
        if message is None:
            raise ApiError.not_found()
        return message

    def delete(self, message_id):
        message = self.get(message_id)
        del self.messages[message_id]
        self._record("messageDeleted", message)

    def modify(self, message_id, add=(), remove=()):
        message = self.get(message_id)
        self._check_labels(list(add) + list(remove))
        removed = [label for label in remove if label in message.label_ids and label not in add]
        added = [label for label in dict.fromkeys(add) if label not in message.label_ids]
        for label in removed:
            message.label_ids.remove(label)
        if removed:
            self._record("labelRemoved", message, removed)
        message.label_ids.extend(added)
        if added:
            self._record("labelAdded", message, added)
        return message

    def newest_first(self):
        return sorted(
            self.messages.values(), key=lambda m: (m.internal_date, int(m.id, 16)), reverse=True
        )

    def profile(self):
        return {
            "emailAddress": self.email,
            "messagesTotal": len(self.messages),
            "threadsTotal": len({m.thread_id for m in self.messages.values()}),
            "historyId": str(self.history_id),
        }

    # History

    def prune_history(self, max_age_seconds):
        cutoff = self.clock.time() - max_age_seconds
        expired = [r for r in self.history if r.time < cutoff]
        if expired:
            self.expire_history(expired[-1].id)

    def expire_history(self, upto_history_id=None):
        """Forget history up to and including ``upto_history_id`` (default: all of it)."""
        upto = self.history_id if upto_history_id is None else upto_history_id
        self.history = [r for r in self.history if r.id > upto]
        self.history_floor = max(self.history_floor, upto + 1)
        # Keep the current id usable as a fresh cursor, as Gmail's ids keep moving on.
        if self.history_id < self.history_floor:
            self.history_id = self.history_floor + self._gaps.randint(0, 9)

    def history_since(self, start_history_id, history_types=None, label_id=None):
        if start_history_id < self.history_floor:
            raise ApiError.not_found()
        records = [r for r in self.history if r.id > start_history_id]
        if history_types:
            records = [r for r in records if r.kind in history_types]
        if label_id:
            records = [
                r
                for r in records
                if label_id in r.message["labelIds"] or label_id in (r.label_ids or ())
            ]
        return records
