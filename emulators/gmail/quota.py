"""Per-user quota, concurrency limit, controllable clock and call statistics.

What it is: the emulator's model of Gmail's usage limits. Gmail charges each call a number of
quota units (messages.get 5, send 100, ...) against a budget of 15,000 units per user per rolling
minute, and also refuses a user's requests when too many are in flight at once. ``QuotaLedger``
enforces both and keeps the numbers tests assert on: calls, units and rejections per user and per
method, and the peak units spent inside any 60-second window.

How it works: each user has a deque of (timestamp, units). Before a call runs, entries older than
60 s are dropped; if the remaining sum plus the call's cost exceeds the limit the call is refused
with Google's 429 body and a ``Retry-After`` equal to the seconds until enough units age out.
Because the sum is checked at every insertion, the largest sum seen at insertion time is the
peak over every rolling minute. ``Clock`` is wall time plus an offset tests can advance.

How to use it::

    ledger = QuotaLedger(Clock(), units_per_minute=15000, scale=0.01)  # 150 units/min
    ledger.charge('a@example.com', 'gmail.users.messages.get')  # raises ApiError(429)
    with ledger.slot('a@example.com'):
        ...

Caveats: costs follow Google's published table; methods missing from it cost 5 units. The
window uses the emulator clock, so advancing the clock also refills the quota.
"""

import math
import threading
import time
from collections import defaultdict, deque
from contextlib import contextmanager

from .wire import ApiError, concurrent_429, quota_429

GMAIL_UNITS_PER_MINUTE = 15000
WINDOW_SECONDS = 60.0
DEFAULT_COST = 5

# Google's published per-method quota units for the Gmail API.
METHOD_COSTS = {
    "gmail.users.getProfile": 1,
    "gmail.users.watch": 100,
    "gmail.users.stop": 50,
    "gmail.users.drafts.create": 10,
    "gmail.users.drafts.delete": 10,
    "gmail.users.drafts.get": 5,
    "gmail.users.drafts.list": 5,
    "gmail.users.drafts.send": 100,
    "gmail.users.drafts.update": 15,
    "gmail.users.history.list": 2,
    "gmail.users.labels.create": 5,
    "gmail.users.labels.delete": 5,
    "gmail.users.labels.get": 1,
    "gmail.users.labels.list": 1,
    "gmail.users.labels.update": 5,
    "gmail.users.labels.patch": 5,
    "gmail.users.messages.attachments.get": 5,
    "gmail.users.messages.batchDelete": 50,
    "gmail.users.messages.batchModify": 50,
    "gmail.users.messages.delete": 10,
    "gmail.users.messages.get": 5,
    "gmail.users.messages.import": 25,
    "gmail.users.messages.insert": 25,
    "gmail.users.messages.list": 5,
    "gmail.users.messages.modify": 5,
    "gmail.users.messages.send": 100,
    "gmail.users.messages.trash": 5,
    "gmail.users.messages.untrash": 5,
    "gmail.users.settings.sendAs.list": 1,
    "gmail.users.settings.sendAs.get": 1,
    "gmail.users.threads.get": 10,
    "gmail.users.threads.list": 10,
    "gmail.users.threads.modify": 10,
    "gmail.users.threads.trash": 10,
}


class Clock:
    """Wall-clock seconds plus an adjustable offset, shared by every time-dependent rule."""

    def __init__(self):
        self.offset = 0.0

    def time(self):
        return time.time() + self.offset

    def advance(self, seconds):
        self.offset += seconds


def method_cost(method_id):
    return METHOD_COSTS.get(method_id, DEFAULT_COST)


class QuotaLedger:
    def __init__(
        self, clock, units_per_minute=GMAIL_UNITS_PER_MINUTE, scale=1.0, concurrency_limit=None
    ):
        self.clock = clock
        self.units_per_minute = units_per_minute
        self.scale = scale
        self.concurrency_limit = concurrency_limit
        self.enabled = True
        self._lock = threading.Lock()
        self._windows = defaultdict(deque)
        self._in_flight = defaultdict(int)
        self.reset_stats()

    @property
    def limit(self):
        return max(1, int(self.units_per_minute * self.scale))

    def reset_stats(self):
        with self._lock:
            self._users = defaultdict(self._new_user_stats)
            self._peak = defaultdict(int)

    @staticmethod
    def _new_user_stats():
        return {"calls": 0, "units": 0, "rejected": 0, "batches": 0, "methods": {}}

    def _method_stats(self, user, method_id):
        methods = self._users[user]["methods"]
        return methods.setdefault(method_id, {"calls": 0, "units": 0, "rejected": 0})

    def units_in_window(self, user):
        with self._lock:
            return self._prune(user, self.clock.time())

    def _prune(self, user, now):
        window = self._windows[user]
        while window and window[0][0] <= now - WINDOW_SECONDS:
            window.popleft()
        return sum(units for _, units in window)

    def charge(self, user, method_id):
        """Spend the method's units or raise the 429 Gmail gives when the minute is used up."""
        cost = method_cost(method_id)
        with self._lock:
            now = self.clock.time()
            used = self._prune(user, now)
            if self.enabled and used + cost > self.limit:
                retry_after = self._retry_after(user, used + cost - self.limit, now)
                raise ApiError(429, quota_429(), {"Retry-After": str(retry_after)})
            self._windows[user].append((now, cost))
            self._peak[user] = max(self._peak[user], used + cost)
            stats = self._users[user]
            stats["calls"] += 1
            stats["units"] += cost
            method = self._method_stats(user, method_id)
            method["calls"] += 1
            method["units"] += cost
        return cost

    def _retry_after(self, user, excess, now):
        freed = 0
        for stamp, units in self._windows[user]:
            freed += units
            if freed >= excess:
                return max(1, math.ceil(stamp + WINDOW_SECONDS - now))
        return int(WINDOW_SECONDS)

    def record_rejection(self, user, method_id):
        """Count a call that never ran (quota, concurrency, injected or validation error)."""
        with self._lock:
            stats = self._users[user]
            stats["calls"] += 1
            stats["rejected"] += 1
            method = self._method_stats(user, method_id)
            method["calls"] += 1
            method["rejected"] += 1

    def record_batch(self, user):
        with self._lock:
            self._users[user]["batches"] += 1

    @contextmanager
    def slot(self, user):
        """Hold one of the user's concurrent-request slots for the duration of a call."""
        with self._lock:
            limit = self.concurrency_limit
            if self.enabled and limit is not None and self._in_flight[user] >= limit:
                raise ApiError(429, concurrent_429(), {"Retry-After": "1"})
            self._in_flight[user] += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[user] -= 1

    def stats(self):
        with self._lock:
            result = {}
            for user, stats in self._users.items():
                copied = dict(stats)
                copied["methods"] = {k: dict(v) for k, v in stats["methods"].items()}
                copied["peak_minute_units"] = self._peak[user]
                result[user] = copied
            return result

    def peak_minute_units(self, user=None):
        with self._lock:
            if user is not None:
                return self._peak.get(user, 0)
            return max(self._peak.values(), default=0)
