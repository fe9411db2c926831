"""A sans-IO timer queue: callbacks ordered by deadline, then by scheduling order."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

import attrs


@attrs.define(eq=False)
class Timer:
    deadline: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class TimerQueue:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._sequence = itertools.count()

    def schedule(self, deadline: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(deadline, callback)
        heapq.heappush(self._heap, (deadline, next(self._sequence), timer))
        return timer

    def next_deadline(self) -> float:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else float("inf")

    def pop_due(self, now: float) -> Timer | None:
        """The next timer whose deadline has come, or None."""
        if self.next_deadline() <= now:
            return heapq.heappop(self._heap)[2]
        return None

    def clear(self) -> None:
        self._heap.clear()
