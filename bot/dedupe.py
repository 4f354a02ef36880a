"""Never answer the same Slack event twice.

Slack re-sends an event (with `X-Slack-Retry-Num`) when it did not see a 200
within 3 seconds, and the same user message can arrive under two event types.
`Seen` remembers keys (event ids, channel+ts of messages) for a while, in memory.
The running bot uses bot/journal.py instead, which keeps the same `first_time`
interface in SQLite so the memory survives a restart.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class Seen:
    """A thread-safe set of recent keys, bounded in size and age."""

    def __init__(self, ttl: float = 3600.0, max_size: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.max_size = max_size
        self.clock = clock
        self._keys: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, key: str) -> bool:
        """Record `key`; True only the first time it is seen within the TTL."""
        now = self.clock()
        with self._lock:
            while self._keys:
                oldest, at = next(iter(self._keys.items()))
                if now - at < self.ttl and len(self._keys) < self.max_size:
                    break
                del self._keys[oldest]
            if key in self._keys:
                return False
            self._keys[key] = now
            return True
