"""Per-mailbox throttling and request statistics of the Graph emulator.

What it is: Outlook's service limits as Graph applies them to one application and one mailbox:
at most 10,000 requests in any 10-minute window, and at most 4 requests in flight at once.
Beyond either the request is answered 429 ``ApplicationThrottled`` with ``Retry-After`` (the
concurrency case is B04's "MailboxConcurrency" body). ``Throttle`` also counts what tests assert
on: HTTP requests, batch-inner requests and rejections per mailbox and per route kind.

How it works: each mailbox has a deque of request timestamps; before a request runs, entries
older than the window are dropped and the request is refused if the window is full, with a
``Retry-After`` of the seconds until the oldest entry ages out. Concurrency is a counter of
requests holding a slot (``slot`` context manager) per mailbox. The window runs on the shared
``Clock`` (``emulators.gmail.quota``), so tests can advance time instead of waiting.

How to use it::

    throttle = Throttle(Clock(), scale=0.001)       # 10 requests per 10 minutes
    with throttle.slot("a@example.com"):
        throttle.charge("a@example.com")

Caveats: Graph's limits are per application *and* mailbox; the emulator keys on the mailbox
only, which is the same thing while one app talks to it.
"""

import math
import threading
from collections import defaultdict, deque
from contextlib import contextmanager

from .wire import mailbox_concurrency, mailbox_rate

REQUESTS_PER_WINDOW = 10_000
WINDOW_SECONDS = 600.0
CONCURRENT_REQUESTS = 4
CONCURRENCY_RETRY_AFTER = 1


class Throttle:
    def __init__(
        self,
        clock,
        requests_per_window=REQUESTS_PER_WINDOW,
        scale=1.0,
        concurrency=CONCURRENT_REQUESTS,
    ):
        self.clock = clock
        self.requests_per_window = requests_per_window
        self.scale = scale
        self.concurrency = concurrency
        self.enabled = True
        self._lock = threading.Lock()
        self._windows = defaultdict(deque)
        self._in_flight = defaultdict(int)
        self.reset_stats()

    @property
    def limit(self):
        return max(1, int(self.requests_per_window * self.scale))

    def reset_stats(self):
        with self._lock:
            self._stats = defaultdict(self._new_stats)
            self._totals = {"http_requests": 0, "batch_requests": 0, "batch_inner_requests": 0}

    @staticmethod
    def _new_stats():
        return {"requests": 0, "inner_requests": 0, "throttled": 0, "errors": 0, "routes": {}}

    @contextmanager
    def slot(self, mailbox):
        """Hold one of the mailbox's concurrent-request slots while a request runs."""
        with self._lock:
            if self.enabled and self._in_flight[mailbox] >= self.concurrency:
                raise mailbox_concurrency(CONCURRENCY_RETRY_AFTER)
            self._in_flight[mailbox] += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[mailbox] -= 1

    def charge(self, mailbox):
        """Count one request against the mailbox's window or raise the 429 Graph gives."""
        with self._lock:
            now = self.clock.time()
            window = self._windows[mailbox]
            while window and window[0] <= now - WINDOW_SECONDS:
                window.popleft()
            if self.enabled and len(window) >= self.limit:
                raise mailbox_rate(max(1, math.ceil(window[0] + WINDOW_SECONDS - now)))
            window.append(now)

    def record(self, mailbox, route, status, inner=False):
        """Count one finished API request (``inner``: it came inside a ``$batch``)."""
        with self._lock:
            stats = self._stats[mailbox or "-"]
            stats["inner_requests" if inner else "requests"] += 1
            if status == 429:
                stats["throttled"] += 1
            elif status >= 400:
                stats["errors"] += 1
            by_route = stats["routes"].setdefault(route, {"requests": 0, "errors": 0})
            by_route["requests"] += 1
            by_route["errors"] += status >= 400

    def record_http(self, batch_size=None):
        """Count one HTTP request on the wire; a batch also adds its inner request count."""
        with self._lock:
            self._totals["http_requests"] += 1
            if batch_size is not None:
                self._totals["batch_requests"] += 1
                self._totals["batch_inner_requests"] += batch_size

    def stats(self):
        with self._lock:
            users = {
                mailbox: {**stats, "routes": {k: dict(v) for k, v in stats["routes"].items()}}
                for mailbox, stats in self._stats.items()
            }
            return {**self._totals, "users": users}
