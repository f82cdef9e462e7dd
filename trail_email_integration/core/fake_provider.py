"""An in-memory provider: the reference implementation of :mod:`.provider` for tests.

What it is
    :class:`FakeMailbox` holds messages (raw bytes, labels, a received date) and a history log,
    like a Gmail mailbox reduced to what the capture engine needs. :class:`FakeProvider` serves
    it through the :class:`~.provider.Provider` interface, with the same rules a real provider
    follows: newest first, bounded pages, spam, trash and drafts flagged, cursors that expire.

How it works
    Every change (add, relabel, delete) appends a numbered record to the history; a cursor is
    the number of the last record seen. :meth:`FakeMailbox.expire_history` forgets old records,
    after which an older cursor raises :class:`~.provider.CursorExpired`. Scripted failures
    (:meth:`FakeMailbox.fail`) are raised by the next calls of one operation.

    A mailbox can be saved to and loaded from a JSON file, so that a test can hand it to
    another process (the crash-and-resume test kills one).

Use
    ::

        box = FakeMailbox("ada@firm.example")
        box.add(raw_bytes, labels=("INBOX",), date=datetime(2024, 5, 1, tzinfo=timezone.utc))
        provider = FakeProvider(box)

Caveats
    Not thread-safe; each worker process loads its own copy when the file is shared.
"""

import base64
import json
import time
from collections import Counter
from datetime import datetime, timezone

from .provider import (
    ADDED,
    DELETED,
    LABELS_CHANGED,
    SKIP_DRAFT,
    SKIP_SPAM,
    SKIP_TRASH,
    Change,
    ChangeSet,
    CursorExpired,
    Fetched,
    Identity,
    MessageError,
    MessageRef,
    Page,
    Provider,
    SentMessage,
)

SKIP_LABELS = {"SPAM": SKIP_SPAM, "TRASH": SKIP_TRASH, "DRAFT": SKIP_DRAFT}


def skip_reason(labels):
    for label in labels:
        if label in SKIP_LABELS:
            return SKIP_LABELS[label]
    return ""


class FakeMailbox:
    def __init__(self, address, aliases=()):
        self.address = address
        self.aliases = tuple(aliases)
        self.messages = {}  # id -> {"raw": bytes, "labels": tuple, "date": datetime, "thread"}
        self.history = []  # (history id, kind, message id)
        self.next_history_id = 1
        self.oldest_history_id = 1
        self.next_message_id = 1
        self.failures = {}  # operation -> list of exceptions to raise
        self.calls = Counter()

    # ------------------------------------------------------------------ changes
    def _record(self, kind, message_id):
        self.history.append((self.next_history_id, kind, message_id))
        self.next_history_id += 1

    def add(self, raw, labels=("INBOX",), date=None, thread_id=""):
        message_id = f"m{self.next_message_id:06d}"
        self.next_message_id += 1
        self.messages[message_id] = {
            "raw": raw,
            "labels": tuple(labels),
            "date": date or datetime.now(timezone.utc),
            "thread": thread_id or message_id,
        }
        self._record(ADDED, message_id)
        return message_id

    def relabel(self, message_id, labels):
        self.messages[message_id]["labels"] = tuple(labels)
        self._record(LABELS_CHANGED, message_id)

    def delete(self, message_id):
        del self.messages[message_id]
        self._record(DELETED, message_id)

    def expire_history(self):
        """Forget every history record so far, as Gmail does after about a week."""
        self.oldest_history_id = self.next_history_id

    def fail(self, operation, *errors):
        """Make the next calls of ``operation`` raise ``errors``, one per call."""
        self.failures.setdefault(operation, []).extend(errors)

    def _maybe_fail(self, operation):
        self.calls[operation] += 1
        pending = self.failures.get(operation)
        if pending:
            raise pending.pop(0)

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        data = {
            "address": self.address,
            "aliases": list(self.aliases),
            "next_history_id": self.next_history_id,
            "oldest_history_id": self.oldest_history_id,
            "next_message_id": self.next_message_id,
            "history": self.history,
            "messages": {
                key: {
                    "raw": base64.b64encode(value["raw"]).decode(),
                    "labels": list(value["labels"]),
                    "date": value["date"].isoformat(),
                    "thread": value["thread"],
                }
                for key, value in self.messages.items()
            },
        }
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(data, handle)

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        box = cls(data["address"], data["aliases"])
        box.next_history_id = data["next_history_id"]
        box.oldest_history_id = data["oldest_history_id"]
        box.next_message_id = data["next_message_id"]
        box.history = [tuple(item) for item in data["history"]]
        box.messages = {
            key: {
                "raw": base64.b64decode(value["raw"]),
                "labels": tuple(value["labels"]),
                "date": datetime.fromisoformat(value["date"]),
                "thread": value["thread"],
            }
            for key, value in data["messages"].items()
        }
        return box


class FakeProvider(Provider):
    """Serves a :class:`FakeMailbox`; ``fetch_delay`` slows each fetch down for crash tests."""

    MAX_PAGE = 500

    def __init__(self, mailbox, fetch_delay=0.0):
        self.box = mailbox
        self.fetch_delay = fetch_delay

    def _ref(self, message_id):
        message = self.box.messages[message_id]
        return MessageRef(
            provider_id=message_id,
            thread_id=message["thread"],
            labels=message["labels"],
            internal_date=message["date"],
            skip_reason=skip_reason(message["labels"]),
        )

    def identity(self):
        self.box._maybe_fail("identity")
        return Identity(self.box.address, self.box.aliases)

    def current_cursor(self):
        self.box._maybe_fail("current_cursor")
        return str(self.box.next_history_id - 1)

    def list_changes(self, cursor):
        self.box._maybe_fail("list_changes")
        since = int(cursor)
        if since + 1 < self.box.oldest_history_id:
            raise CursorExpired(f"history {cursor} is no longer available")
        changes = []
        last = since
        for history_id, kind, message_id in self.box.history:
            if history_id <= since:
                continue
            last = history_id
            if kind == DELETED or message_id not in self.box.messages:
                changes.append(Change(DELETED, MessageRef(provider_id=message_id)))
            else:
                changes.append(Change(kind, self._ref(message_id)))
            if len(changes) >= self.MAX_PAGE:
                break
        more = last < self.box.next_history_id - 1
        return ChangeSet(changes=changes, cursor=str(last), more=more)

    def list_window(self, start, position=None, page_size=500):
        self.box._maybe_fail("list_window")
        page_size = min(page_size, self.MAX_PAGE)
        candidates = sorted(
            (
                (message["date"], message_id)
                for message_id, message in self.box.messages.items()
                if message["date"] >= start and not skip_reason(message["labels"])
            ),
            reverse=True,
        )
        offset = int(position or 0)
        chunk = candidates[offset : offset + page_size]
        following = offset + page_size
        return Page(
            refs=[self._ref(message_id) for _date, message_id in chunk],
            next_position=str(following) if following < len(candidates) else None,
            estimated_total=len(candidates),
        )

    def fetch(self, refs):
        self.box._maybe_fail("fetch")
        results = []
        for ref in refs:
            if self.fetch_delay:
                time.sleep(self.fetch_delay)
            message = self.box.messages.get(ref.provider_id)
            if message is None:
                results.append(MessageError("message not found", ref.provider_id, gone=True))
            else:
                results.append(Fetched(self._ref(ref.provider_id), message["raw"]))
        return results

    def send(self, raw, thread_id=None):
        self.box._maybe_fail("send")
        message_id = self.box.add(raw, labels=("SENT",), thread_id=thread_id or "")
        return SentMessage(
            provider_id=message_id, thread_id=self.box.messages[message_id]["thread"]
        )
