"""The send path: per-channel transmit queues served onto the links as the controller's
buffers allow (the scheduling of Bluedroid's ``l2c_link_check_send_pkts``).

On each link, link-level PDUs (signaling) go first, then the channels' queues, the highest
priority first and round-robin among channels of one priority. PDUs handed to hci and not yet
confirmed by ``AclDataCnf`` are bounded per buffer pool (BR/EDR, LE, or one shared pool when
the controller has no LE buffers of its own, Vol 4 Part E 7.8.2) by twice the controller's
buffer count, so hci always holds the next PDUs to send without a queue growing in it; links
of one pool take turns. A channel whose queue passes its quota is congested until it drains
to half (:meth:`~bluetrio.actors.l2cap.channels.TxQueue.congestion_change`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import attrs

from bluetrio.actors.l2cap.channels import TxQueue
from bluetrio.actors.l2cap.links import Lcb
from bluetrio.messages.hci_service import LinkTransport

# PDUs in flight per buffer pool before the controller's buffer counts are known.
DEFAULT_BUDGET = 8
BUFFERS_AHEAD = 2  # in-flight bound as a multiple of the controller's buffers
SIGNALING = 0  # the "CID" recorded for link-level PDUs in flight


@attrs.frozen
class Sent:
    """PDUs to hand to hci for one link, and the queues whose congestion changed."""

    handle: int
    pdus: tuple[bytes, ...]


@attrs.define
class _Pool:
    budget: int = DEFAULT_BUDGET
    in_flight: int = 0


class Scheduler:
    def __init__(self) -> None:
        self._pools = {LinkTransport.BR_EDR: _Pool(), LinkTransport.LE: _Pool()}
        self._shared = False
        # Links with something to send, per pool, in the order they take turns.
        self._turns: dict[LinkTransport, deque[int]] = {
            LinkTransport.BR_EDR: deque(),
            LinkTransport.LE: deque(),
        }
        self._ready: dict[int, deque[TxQueue]] = {}  # per link: queues holding PDUs

    def configure(self, bredr_buffers: int, le_buffers: int | None) -> None:
        """The controller's ACL buffer counts (``le_buffers`` 0: LE shares BR/EDR's)."""
        self._pools[LinkTransport.BR_EDR].budget = max(1, bredr_buffers * BUFFERS_AHEAD)
        self._shared = le_buffers == 0
        if le_buffers:
            self._pools[LinkTransport.LE].budget = max(1, le_buffers * BUFFERS_AHEAD)

    def _pool_key(self, transport: LinkTransport) -> LinkTransport:
        return LinkTransport.BR_EDR if self._shared else transport

    def in_flight(self, transport: LinkTransport) -> int:
        return self._pools[self._pool_key(transport)].in_flight

    # -- queueing ------------------------------------------------------------------------------
    def add_signal(self, lcb: Lcb, pdu: bytes) -> None:
        lcb.signaling_queue.append(pdu)
        self._want_turn(lcb)

    def add(self, lcb: Lcb, queue: TxQueue, pdus: Iterable[bytes]) -> bool | None:
        """Queue channel PDUs; returns the queue's new congestion state if it changed."""
        was_empty = not queue.pdus
        queue.pdus.extend(pdus)
        if was_empty and queue.pdus:
            self._ready.setdefault(lcb.handle, deque()).append(queue)
        self._want_turn(lcb)
        return queue.congestion_change()

    def wake(self, lcb: Lcb, queue: TxQueue) -> None:
        """A queue that makes its PDUs as they are taken (a credit-based channel's) may have
        one ready now."""
        ready = self._ready.setdefault(lcb.handle, deque())
        if queue.has_pdu() and queue not in ready:
            ready.append(queue)
            self._want_turn(lcb)

    def _want_turn(self, lcb: Lcb) -> None:
        turns = self._turns[self._pool_key(lcb.transport)]
        if lcb.handle not in turns:
            turns.append(lcb.handle)

    def _next_queue(self, handle: int) -> TxQueue | None:
        """The queue to serve next on a link: best priority, round-robin within it."""
        ready = self._ready.get(handle)
        if not ready:
            return None
        if len(ready) == 1:
            return ready.popleft()
        best = min(queue.priority for queue in ready)
        for _ in range(len(ready)):
            queue = ready.popleft()
            if queue.priority == best:
                return queue
            ready.append(queue)
        return None  # unreachable: some queue has the best priority

    # -- serving -------------------------------------------------------------------------------
    def pump(self, links: dict[int, Lcb]) -> tuple[list[Sent], list[tuple[int, TxQueue, bool]]]:
        """Take what the budgets allow, link by link in turn, one PDU per turn; a link alone
        in its pool's turns takes all the room left in one turn (nobody to alternate with)."""
        out: dict[int, list[bytes]] = {}
        changes: list[tuple[int, TxQueue, bool]] = []  # (link, queue, congested)
        for key, turns in self._turns.items():
            pool = self._pools[key]
            while turns and pool.in_flight < pool.budget:
                handle = turns.popleft()
                lcb = links.get(handle)
                if lcb is None:
                    self._ready.pop(handle, None)
                    continue
                pdus = out.get(handle)
                if pdus is None:
                    pdus = out[handle] = []
                for _ in range(1 if turns else pool.budget - pool.in_flight):
                    pdu, cid, queue = self._take_one(lcb)
                    if pdu is None:
                        break
                    pdus.append(pdu)
                    lcb.in_flight.append(cid)
                    pool.in_flight += 1
                    if queue is not None:
                        change = queue.congestion_change()
                        if change is not None:
                            changes.append((handle, queue, change))
                if lcb.signaling_queue or self._ready.get(handle):
                    turns.append(handle)
        sent = [Sent(handle, tuple(pdus)) for handle, pdus in out.items() if pdus]
        return sent, changes

    def _take_one(self, lcb: Lcb) -> tuple[bytes | None, int, TxQueue | None]:
        if lcb.signaling_queue:
            return lcb.signaling_queue.popleft(), SIGNALING, None
        queue = self._next_queue(lcb.handle)
        while queue is not None and not queue.has_pdu():
            queue = self._next_queue(lcb.handle)  # it ran dry (a closed credit channel)
        if queue is None:
            return None, SIGNALING, None
        pdu = queue.take()
        if queue.has_pdu():
            self._ready[lcb.handle].append(queue)
        return pdu, queue.cid, queue

    def completed(self, lcb: Lcb, count: int) -> dict[int, int]:
        """hci confirmed ``count`` PDUs of a link: free the budget, and count per channel."""
        pool = self._pools[self._pool_key(lcb.transport)]
        done: dict[int, int] = {}
        for _ in range(min(count, len(lcb.in_flight))):
            cid = lcb.in_flight.popleft()
            pool.in_flight -= 1
            if cid != SIGNALING:
                done[cid] = done.get(cid, 0) + 1
        return done

    def forget_queue(self, lcb: Lcb, queue: TxQueue) -> None:
        """A channel closed: its queued PDUs are dropped with it."""
        queue.pdus.clear()
        ready = self._ready.get(lcb.handle)
        if ready is not None and queue in ready:
            ready.remove(queue)

    def forget_link(self, lcb: Lcb) -> None:
        """The link is gone: what it had in flight returns to its pool (the controller
        flushes a disconnected link's buffers, Vol 4 Part E 7.7.5)."""
        pool = self._pools[self._pool_key(lcb.transport)]
        pool.in_flight = max(0, pool.in_flight - len(lcb.in_flight))
        lcb.in_flight.clear()
        self._ready.pop(lcb.handle, None)
        turns = self._turns[self._pool_key(lcb.transport)]
        if lcb.handle in turns:
            turns.remove(lcb.handle)
