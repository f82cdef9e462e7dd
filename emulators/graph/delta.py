"""Delta query for messages in a mail folder (``/mailFolders/{id}/messages/delta``).

What it is: Graph's change tracking. A first call (no token) lists the folder's messages page by
page (``@odata.nextLink`` with ``$skiptoken``) and ends with an ``@odata.deltaLink`` carrying a
``$deltatoken``; calling that link later returns only what changed: messages added or updated,
and ``{"id": ..., "@removed": {"reason": "changed" | "deleted"}}`` for messages moved out
("changed") or permanently deleted ("deleted").

How it works: a ``SyncState`` remembers the user's change-log position (``store.User.changes``)
at the start of the round that produced it, plus the round's ``$filter`` and ``$select``, which
Graph also carries inside its tokens. A round is frozen into a list of entries when it starts,
and its pages are cut from that list, so paging is stable while mail keeps arriving; changes
made during a round show up in the next one. A state older than ``max_age`` seconds, or one
expired by the test control, answers 410 ``SyncStateNotFound`` (case B03) for both its
``$deltatoken`` and any ``$skiptoken`` of its round.

How to use it: ``GraphEmulator`` calls ``DeltaTracker.begin/resume/page``; tests call
``GraphEmulator.expire_delta(user, folder)``.

Caveats: only ``receivedDateTime ge|gt <timestamp>`` is accepted in ``$filter``, as Graph's
message delta allows little more. The filter is applied to additions; removals are always sent,
since the client may hold the message from an earlier, wider sync.
"""

import datetime
import itertools
import re
import secrets
from dataclasses import dataclass, field

from .store import REMOVED
from .wire import GraphError, sync_state_not_found

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000
FILTER_PATTERN = re.compile(r"^\s*receivedDateTime\s+(ge|gt)\s+(\S+)\s*$", re.IGNORECASE)

UPSERT = "upsert"


def parse_filter(text):
    """(operator, epoch seconds) of a delta ``$filter``, or None; 400 for anything else."""
    if not text:
        return None
    found = FILTER_PATTERN.match(text)
    if not found:
        raise GraphError.bad_request(
            "The query filter contains one or more invalid nodes.", "ErrorInvalidUrlQueryFilter"
        )
    value = found.group(2).strip("'")
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise GraphError.bad_request(f"Invalid filter value {value!r}.") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return found.group(1).lower(), moment.timestamp()


def matches(message, received_filter):
    if received_filter is None:
        return True
    operator, since = received_filter
    return message.received >= since if operator == "ge" else message.received > since


@dataclass
class SyncState:
    user: str
    folder_id: str
    seq: int
    received_filter: tuple
    select: tuple
    created: float
    generation: int
    expired: bool = False


@dataclass
class Round:
    state: SyncState  # the state the round continues from (None for an initial sync)
    user: str
    folder_id: str
    end_seq: int
    received_filter: tuple
    select: tuple
    entries: list = field(default_factory=list)  # (UPSERT, message) | (REMOVED, ids, reason)
    created: float = 0.0
    generation: int = 0


class DeltaTracker:
    def __init__(self, clock, max_age=None):
        self.clock = clock
        self.max_age = max_age
        self._states = {}  # deltatoken -> SyncState
        self._rounds = {}  # skiptoken -> (Round, offset)
        self._generations = itertools.count(100)

    def _check(self, state):
        too_old = self.max_age is not None and self.clock.time() - state.created > self.max_age
        if state.expired or too_old:
            raise sync_state_not_found(state.generation)

    def begin(self, user, folder, received_filter, select):
        """Start an initial round: every message of the folder, newest first."""
        members = [
            m
            for m in user.messages.values()
            if m.folder_id == folder.id and matches(m, received_filter)
        ]
        members.sort(key=lambda m: m.received, reverse=True)
        return Round(
            None,
            user.upn,
            folder.id,
            user.last_seq,
            received_filter,
            select,
            [(UPSERT, m) for m in members],
            self.clock.time(),
            next(self._generations),
        )

    def resume(self, user, deltatoken, immutable):
        """A round of the changes since ``deltatoken`` (410 when the token is gone)."""
        state = self._states.get(deltatoken)
        if state is None or state.user != user.upn:
            raise sync_state_not_found(next(self._generations))
        self._check(state)
        entries = self._changes(user, state, immutable)
        return Round(
            state,
            user.upn,
            state.folder_id,
            user.last_seq,
            state.received_filter,
            state.select,
            entries,
            self.clock.time(),
            next(self._generations),
        )

    @staticmethod
    def _changes(user, state, immutable):
        first_removal, order = {}, []
        for seq, folder_id, kind, message, old_ids, reason in user.changes:
            if seq <= state.seq or folder_id != state.folder_id:
                continue
            key = message.immutable_id
            if key not in order:
                order.append(key)
            if kind == REMOVED and key not in first_removal:
                first_removal[key] = (old_ids, reason)
        entries = []
        for key in order:
            message = user.messages.get(key)
            present = message is not None and message.folder_id == state.folder_id
            removal = first_removal.get(key)
            if removal is not None:
                old_ids, reason = removal
                # An ImmutableId client knows the message by the id it still has; a REST-id
                # client must drop the id it saw, which a move replaced.
                stale = not present or (not immutable and old_ids[1] != message.rest_id)
                if stale:
                    entries.append((REMOVED, old_ids, "deleted" if message is None else reason))
            if present and matches(message, state.received_filter):
                entries.append((UPSERT, message))
        return entries

    def page(self, round_, offset, size):
        """(entries of this page, next skiptoken or None, deltatoken when the round is done)."""
        chunk = round_.entries[offset : offset + size]
        if offset + size < len(round_.entries):
            token = secrets.token_urlsafe(32)
            self._rounds[token] = (round_, offset + size)
            return chunk, token, None
        state = SyncState(
            round_.user,
            round_.folder_id,
            round_.end_seq,
            round_.received_filter,
            round_.select,
            self.clock.time(),
            round_.generation,
        )
        token = secrets.token_urlsafe(48)
        self._states[token] = state
        return chunk, None, token

    def continue_round(self, user, skiptoken):
        found = self._rounds.get(skiptoken)
        if found is None or found[0].user != user.upn:
            raise sync_state_not_found(next(self._generations))
        round_, offset = found
        if round_.state is not None:
            self._check(round_.state)
        return round_, offset

    def expire(self, user, folder_id=None):
        """Make every delta and skip token of ``user`` (and ``folder_id``) answer 410."""
        for state in self._states.values():
            if state.user == user and folder_id in (None, state.folder_id):
                state.expired = True
        for token, (round_, _) in list(self._rounds.items()):
            if round_.user == user and folder_id in (None, round_.folder_id):
                del self._rounds[token]
        return True
