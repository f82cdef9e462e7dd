"""A per-mailbox quota bucket: keeps a client under "N units per rolling minute".

What it is
    :class:`QuotaBucket`, a token bucket sized for APIs that charge each call a number of units
    against a per-user budget over a rolling window, as Gmail does (15,000 units per user per
    minute). Before each call the provider spends the call's units; when the bucket is empty the
    spend sleeps until enough units come back.

How it works
    Units spent return to the bucket exactly one window after they were spent, so the units
    spent inside any window never exceed the capacity. A classic bucket that refills at a
    constant rate would not give that promise: a full bucket can be emptied at once and then
    refilled during the same minute, letting through twice the capacity. The bucket keeps one
    (time, units) entry per spend; a minute of Gmail traffic is at most a few thousand entries.

    The window is one second longer than the server's, because the server stamps a call when it
    arrives, a little after we stamped it; without the margin our view of the window would end
    before the server's and the next call would be refused.

Use
    ::

        bucket = QuotaBucket(15000)          # one per mailbox, shared by its provider objects
        bucket.spend(250)                    # a batch of 50 messages.get, 5 units each

    ``clock`` and ``sleep`` are injectable so tests and the benchmark run on a virtual clock.

Caveats
    The bucket only sees calls made through it. Several processes serving the same mailbox each
    need their share of the limit (give each a smaller ``units_per_minute``). Not thread-safe;
    a provider makes its calls one at a time.
"""

import logging
import time
from collections import deque

_logger = logging.getLogger(__name__)

# The server's rolling window, plus a second of margin for the time a request takes to arrive.
WINDOW_SECONDS = 61.0


class QuotaBucket:
    """Spend units without ever exceeding ``units_per_minute`` inside one rolling window."""

    def __init__(
        self,
        units_per_minute,
        *,
        window=WINDOW_SECONDS,
        clock=time.monotonic,
        sleep=time.sleep,
    ):
        if units_per_minute < 1:
            raise ValueError("units_per_minute must be at least 1")
        self.capacity = int(units_per_minute)
        self.window = window
        self.clock = clock
        self.sleep = sleep
        self.spent_total = 0
        self.waited_total = 0.0
        self._spends = deque()
        self._in_window = 0

    def available(self):
        """Units that can be spent right now without waiting."""
        self._forget(self.clock())
        return self.capacity - self._in_window

    def spend(self, units):
        """Take ``units`` from the bucket, sleeping first until they are there.

        Raises ValueError when ``units`` exceeds the capacity: such a call could never be made
        inside the budget, so the caller must split it.
        """
        if units > self.capacity:
            raise ValueError(f"{units} units can never fit a budget of {self.capacity}")
        while True:
            now = self.clock()
            self._forget(now)
            if self._in_window + units <= self.capacity:
                self._spends.append((now, units))
                self._in_window += units
                self.spent_total += units
                return
            delay = self._wait_for(units, now)
            _logger.debug("Quota bucket empty; waiting %.1f s for %s units", delay, units)
            self.waited_total += delay
            self.sleep(delay)

    def _forget(self, now):
        while self._spends and self._spends[0][0] <= now - self.window:
            self._in_window -= self._spends.popleft()[1]

    def _wait_for(self, units, now):
        """Seconds until the oldest spends have aged out enough to make room for ``units``."""
        missing = self._in_window + units - self.capacity
        for stamp, spent in self._spends:
            missing -= spent
            if missing <= 0:
                # A hair past the moment the entry leaves, so _forget surely drops it.
                return max(stamp + self.window - now, 0.0) + 1e-3
        return self.window
