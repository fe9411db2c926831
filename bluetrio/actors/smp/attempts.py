"""Repeated attempts (Core 5.4 Vol 3 Part H 2.3.6).

After a pairing failed its authentication, a new attempt from the same peer is refused with
Pairing Failed "Repeated Attempts" until a waiting interval has passed, and the interval grows
exponentially with each further failure; a successful pairing resets it. Only failures that
say something about the claimant's knowledge count (a confirm, DHKey check, passkey or
numeric comparison that did not match), so a user declining or a lost link does not lock a
peer out. The table is bounded: the oldest entry goes first, and an entry whose waits are
long over is forgotten.
"""

from __future__ import annotations

from collections import OrderedDict

import attrs

from bluetrio.address import Address
from bluetrio.messages.smp import PairingFailedReason as Reason

AUTHENTICATION_FAILURES = frozenset(
    {
        Reason.CONFIRM_VALUE_FAILED,
        Reason.DHKEY_CHECK_FAILED,
        Reason.PASSKEY_ENTRY_FAILED,
        Reason.NUMERIC_COMPARISON_FAILED,
    }
)


@attrs.define
class _Record:
    failures: int
    last_failure: float
    wait_until: float


@attrs.define
class RepeatedAttempts:
    """``base`` seconds after the first failure, doubling up to ``limit``."""

    base: float = 2.0
    limit: float = 600.0
    capacity: int = 256
    _records: OrderedDict[Address, _Record] = attrs.Factory(OrderedDict)

    def wait(self, failures: int) -> float:
        return min(self.base * 2 ** (failures - 1), self.limit) if failures > 0 else 0.0

    def failed(self, peer: Address, now: float) -> float:
        """Count a failure; return how long the peer must now wait."""
        record = self._records.pop(peer, None)
        failures = 1 if record is None or self._forgotten(record, now) else record.failures + 1
        wait = self.wait(failures)
        self._records[peer] = _Record(failures, now, now + wait)
        while len(self._records) > self.capacity:
            self._records.popitem(last=False)
        return wait

    def _forgotten(self, record: _Record, now: float) -> bool:
        # A peer quiet for ten times its last wait (and at least the limit) starts over.
        return now - record.last_failure > max(10 * self.wait(record.failures), self.limit)

    def wait_remaining(self, peer: Address, now: float) -> float:
        record = self._records.get(peer)
        return 0.0 if record is None else max(0.0, record.wait_until - now)

    def succeeded(self, peer: Address) -> None:
        self._records.pop(peer, None)

    def __len__(self) -> int:
        return len(self._records)
