"""ACL data path of the HCI layer: reassembly toward the host, fragmentation and credit-based
flow control toward the controller. Sans-IO, used by :mod:`bluetrio.actors.hci.core`.
"""

from __future__ import annotations

import struct
from collections import deque

import attrs

from bluetrio.messages.hci_service import LinkTransport

# Packet_Boundary_Flag values (Core 5.4 Vol 4 Part E 5.4.2).
PB_FIRST_NON_FLUSHABLE = 0b00
PB_CONTINUATION = 0b01
PB_FIRST_FLUSHABLE = 0b10
PB_COMPLETE = 0b11

L2CAP_HEADER_SIZE = 4  # Length (2) + Channel ID (2), Vol 3 Part A 3.1
MAX_L2CAP_PDU = 0xFFFF + L2CAP_HEADER_SIZE
# Partial PDUs held for all connections together: sixteen maximal PDUs at once.
MAX_BUFFERED_PARTIALS = 16 * MAX_L2CAP_PDU

_ACL_HEADER = struct.Struct("<HH")


class AclReassembler:
    """Rebuilds whole L2CAP PDUs from ACL fragments, one partial PDU per connection.

    Every PDU is bounded by the length in its own L2CAP header (and by ``max_pdu``): a
    continuation without a start, or one that overruns the announced length, is dropped and
    reported, never appended (the BlueFrag bug, CVE-2020-0022, came from trusting fragments).
    The partial PDUs of all connections together hold at most ``max_buffered`` bytes: a
    fragment that would exceed it drops its PDU.
    """

    def __init__(
        self, max_pdu: int = MAX_L2CAP_PDU, max_buffered: int = MAX_BUFFERED_PARTIALS
    ) -> None:
        self.max_pdu = max_pdu
        self.max_buffered = max_buffered
        self._partial: dict[int, bytearray] = {}
        self._expected: dict[int, int] = {}  # total PDU size, once the header is known
        self.buffered = 0  # bytes held in partial PDUs, all connections together
        self.problems: list[str] = []

    def _problem(self, text: str) -> None:
        # Bounded so a hostile controller cannot grow it without limit.
        if len(self.problems) >= 64:
            del self.problems[:32]
        self.problems.append(text)

    def feed(self, handle: int, boundary: int, data: bytes) -> bytes | None:
        """Take one fragment; return a whole PDU when this fragment completes one."""
        if boundary == PB_CONTINUATION:
            partial = self._partial.get(handle)
            if partial is None:
                self._problem(
                    f"0x{handle:04X}: continuation without a start, {len(data)} B dropped"
                )
                return None
            if not self._room_for(handle, len(data)):
                return None
            partial += data
        else:
            if handle in self._partial:
                self._problem(f"0x{handle:04X}: new start before the previous PDU completed")
                self._discard(handle)
            if len(data) >= L2CAP_HEADER_SIZE:
                total = int.from_bytes(data[:2], "little") + L2CAP_HEADER_SIZE
                if len(data) == total and total <= self.max_pdu:
                    return data  # the common case: one fragment, one PDU, no copy
            if not self._room_for(handle, len(data)):
                return None
            partial = bytearray(data)
            self._partial[handle] = partial
        self.buffered += len(data)
        expected = self._expected.get(handle)
        if expected is None and len(partial) >= 2:
            expected = int.from_bytes(partial[:2], "little") + L2CAP_HEADER_SIZE
            if expected > self.max_pdu:
                self._problem(f"0x{handle:04X}: PDU of {expected} B exceeds {self.max_pdu} B")
                self._discard(handle)
                return None
            self._expected[handle] = expected
        if expected is None:
            return None
        if len(partial) > expected:
            self._problem(
                f"0x{handle:04X}: fragments overrun the L2CAP length "
                f"({len(partial)} > {expected} B)"
            )
            self._discard(handle)
            return None
        if len(partial) == expected:
            self._discard(handle)
            return bytes(partial)
        return None

    def _room_for(self, handle: int, size: int) -> bool:
        if self.buffered + size <= self.max_buffered:
            return True
        self._problem(
            f"0x{handle:04X}: partial PDUs would exceed {self.max_buffered} B; PDU dropped"
        )
        self._discard(handle)
        return False

    def _discard(self, handle: int) -> None:
        partial = self._partial.pop(handle, None)
        if partial is not None:
            self.buffered -= len(partial)
        self._expected.pop(handle, None)

    def forget(self, handle: int) -> None:
        """The connection is gone: drop its partial PDU."""
        self._discard(handle)

    def reset(self) -> None:
        self._partial.clear()
        self._expected.clear()
        self.buffered = 0


@attrs.define
class CreditPool:
    """The controller's ACL buffers of one kind (Vol 4 Part E 4.1.1)."""

    packet_length: int = 0
    total: int = 0
    free: int = 0

    def configure(self, packet_length: int, total: int) -> None:
        self.packet_length = packet_length
        self.total = total
        self.free = total


@attrs.define
class _LinkQueue:
    kind: LinkTransport
    owner: str = ""  # the actor that last sent data on this link (gets AclDataCnf)
    pdus: deque[bytes] = attrs.field(factory=deque)  # queued, not yet fragmented
    fragments: deque[bytes] = attrs.field(factory=deque)  # of the PDU being sent
    # For each PDU handed to the queue: how many of its fragments the controller has not yet
    # reported completed; AclDataCnf counts whole PDUs.
    pdu_fragments: deque[int] = attrs.field(factory=deque)
    unacknowledged: int = 0  # fragments sent and not yet reported by Number_Of_Completed_Packets


class AclScheduler:
    """Fragmentation, per-link queues and credit accounting toward the controller.

    Separate pools for BR/EDR and LE (``LE_Read_Buffer_Size`` returning 0 means LE shares the
    BR/EDR buffers, Vol 4 Part E 7.8.2). Links are served round-robin, one fragment each per
    turn, so one busy link cannot starve the others.
    """

    def __init__(self) -> None:
        self.bredr = CreditPool()
        self.le = CreditPool()
        self.le_shares_bredr = False
        self._links: dict[int, _LinkQueue] = {}
        self._ready: deque[int] = deque()  # handles with queued fragments, in service order

    def pool(self, kind: LinkTransport) -> CreditPool:
        if kind is LinkTransport.LE and not self.le_shares_bredr:
            return self.le
        return self.bredr

    def add_link(self, handle: int, kind: LinkTransport) -> None:
        self._links[handle] = _LinkQueue(kind)

    def has_link(self, handle: int) -> bool:
        return handle in self._links

    def link_kind(self, handle: int) -> LinkTransport | None:
        link = self._links.get(handle)
        return None if link is None else link.kind

    def remove_link(self, handle: int) -> int:
        """Forget a disconnected link; its unacknowledged buffers return to the pool
        (the controller flushes them, Vol 4 Part E 7.7.5). Returns the PDUs never completed."""
        link = self._links.pop(handle, None)
        if link is None:
            return 0
        pool = self.pool(link.kind)
        pool.free = min(pool.total, pool.free + link.unacknowledged)
        if handle in self._ready:
            self._ready.remove(handle)
        return len(link.pdu_fragments) + len(link.pdus)

    def reset(self) -> list[int]:
        """The controller was reset: forget every link; returns their handles."""
        handles = list(self._links)
        self._links.clear()
        self._ready.clear()
        self.bredr.free = self.bredr.total
        self.le.free = self.le.total
        return handles

    def queue(self, handle: int, pdus: tuple[bytes, ...], owner: str) -> bool:
        """Queue whole ``pdus`` for ``handle``; False if the link is unknown."""
        link = self._links.get(handle)
        if link is None:
            return False
        link.owner = owner
        link.pdus.extend(pdus)
        if handle not in self._ready:
            self._ready.append(handle)
        return True

    def _fragment_next(self, handle: int, link: _LinkQueue, size: int) -> None:
        """Cut the next queued PDU into ACL packets of at most ``size`` bytes of data.

        Done lazily, when the PDU is about to be sent, so the controller's packet length is
        known by then (it is read during bring-up, possibly after data was queued).
        """
        pdu = link.pdus.popleft()
        pack = _ACL_HEADER.pack
        start = PB_FIRST_NON_FLUSHABLE if link.kind is LinkTransport.LE else PB_FIRST_FLUSHABLE
        if len(pdu) <= size:
            link.fragments.append(pack(handle | (start << 12), len(pdu)) + pdu)
            link.pdu_fragments.append(1)
            return
        count = 0
        for offset in range(0, len(pdu), size):
            chunk = pdu[offset : offset + size]
            boundary = start if offset == 0 else PB_CONTINUATION
            link.fragments.append(pack(handle | (boundary << 12), len(chunk)) + chunk)
            count += 1
        link.pdu_fragments.append(count)

    def take_sendable(self) -> list[bytes]:
        """ACL packets (header included) that credits allow sending now, round-robin."""
        out: list[bytes] = []
        ready = self._ready
        while ready:
            progressed = False
            for _ in range(len(ready)):
                handle = ready.popleft()
                link = self._links[handle]
                pool = self.pool(link.kind)
                if pool.free > 0 and pool.packet_length > 0:
                    if not link.fragments:
                        self._fragment_next(handle, link, pool.packet_length)
                    out.append(link.fragments.popleft())
                    pool.free -= 1
                    link.unacknowledged += 1
                    progressed = True
                if link.fragments or link.pdus:
                    ready.append(handle)
            if not progressed:
                break
        return out

    def complete(self, handle: int, count: int) -> tuple[str, int] | None:
        """Number_Of_Completed_Packets for one handle: free credits and count whole PDUs done.

        Returns (owner, completed PDUs) when at least one PDU completed.
        """
        link = self._links.get(handle)
        if link is None:
            return None
        count = min(count, link.unacknowledged)  # never trust the controller past what we sent
        link.unacknowledged -= count
        pool = self.pool(link.kind)
        pool.free = min(pool.total, pool.free + count)
        done = 0
        pending = link.pdu_fragments
        while count and pending:
            if pending[0] <= count:
                count -= pending.popleft()
                done += 1
            else:
                pending[0] -= count
                count = 0
        return (link.owner, done) if done else None
