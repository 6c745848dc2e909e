"""Per-mailbox back-off deadlines shared by all calls on one transport.

Exchange throttles the budget of the impersonated mailbox, so when the server
tells mailbox A to back off, the next call for A waits too, while calls for B
go ahead.  The map is bounded: expired deadlines are dropped first, then the
oldest entries.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

__all__ = ["DEFAULT_MAX_MAILBOXES", "MailboxBackOff"]

#: How many mailboxes' deadlines one transport remembers.
DEFAULT_MAX_MAILBOXES: Final = 4096


# Limitation: deadlines live in one transport object.  Several worker
# processes (or several transports) calling the same mailbox do not see each
# other's back-off and each learns it from its own throttled call.  Share one
# transport per process, and keep the number of processes per mailbox low.
class MailboxBackOff:
    """Deadlines until which each mailbox should not be called.

    Thread-safe; the lock is held only for dictionary updates, so the same
    object serves the asyncio transport without blocking its loop.

    Args:
        clock: Monotonic clock in seconds.
        max_entries: Bound on remembered mailboxes.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        max_entries: int = DEFAULT_MAX_MAILBOXES,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._clock = clock
        self._max = max_entries
        self._deadlines: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def remaining(self, key: str) -> float:
        """Seconds left before ``key`` may be called; ``0.0`` when free."""
        with self._lock:
            deadline = self._deadlines.get(key)
            if deadline is None:
                return 0.0
            left = deadline - self._clock()
            if left <= 0:
                del self._deadlines[key]
                return 0.0
            return left

    def record(self, key: str, seconds: float) -> None:
        """Hold ``key`` back for ``seconds``; a later deadline already set wins."""
        if seconds <= 0:
            return
        with self._lock:
            now = self._clock()
            deadline = max(now + seconds, self._deadlines.get(key, now))
            self._deadlines[key] = deadline
            self._deadlines.move_to_end(key)
            if len(self._deadlines) > self._max:
                self._evict(now)

    def __len__(self) -> int:
        with self._lock:
            return len(self._deadlines)

    def _evict(self, now: float) -> None:
        for key in [key for key, when in self._deadlines.items() if when <= now]:
            del self._deadlines[key]
        while len(self._deadlines) > self._max:
            self._deadlines.popitem(last=False)
