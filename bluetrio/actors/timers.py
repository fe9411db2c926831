"""Per-actor protocol timers, keyed to control blocks.

A sans-IO table of deadlines. The actor shell waits for its next message under
``trio.move_on_at(table.next_deadline())``, so expiry is structured cancellation on the Trio
clock and one task serves every timer of an actor.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Hashable

from bluetrio.actors.effects import TimerKey


class TimerTable:
    """Deadlines by key with O(log n) arm and lazy deletion."""

    def __init__(self) -> None:
        self._deadlines: dict[TimerKey, float] = {}
        # (deadline, sequence, key): the sequence keeps heap entries comparable and lets a
        # re-armed timer's stale entry be recognised and skipped.
        self._heap: list[tuple[float, int, TimerKey]] = []
        self._sequence = 0
        self._live_sequence: dict[TimerKey, int] = {}

    def __len__(self) -> int:
        return len(self._deadlines)

    def __contains__(self, key: TimerKey) -> bool:
        return key in self._deadlines

    def start(self, key: TimerKey, deadline: float) -> None:
        self._sequence += 1
        self._deadlines[key] = deadline
        self._live_sequence[key] = self._sequence
        heapq.heappush(self._heap, (deadline, self._sequence, key))

    def cancel(self, key: TimerKey) -> None:
        self._deadlines.pop(key, None)
        self._live_sequence.pop(key, None)

    def release(self, owner: Hashable) -> None:
        for key in [k for k in self._deadlines if k.owner == owner]:
            self.cancel(key)

    def deadline(self, key: TimerKey) -> float | None:
        return self._deadlines.get(key)

    def next_deadline(self) -> float:
        heap = self._heap
        while heap:
            deadline, sequence, key = heap[0]
            if self._live_sequence.get(key) == sequence:
                return deadline
            heapq.heappop(heap)
        return math.inf

    def pop_expired(self, now: float) -> list[TimerKey]:
        """Remove and return the keys whose deadline is ``<= now``, earliest first."""
        expired: list[TimerKey] = []
        while self.next_deadline() <= now:
            _, _, key = heapq.heappop(self._heap)
            self.cancel(key)
            expired.append(key)
        return expired
