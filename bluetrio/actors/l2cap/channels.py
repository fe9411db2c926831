"""Channel control blocks (CCBs): one per connection-oriented channel of a link.

A CCB holds the channel's identifiers, its state (moved only through the transition table of
:mod:`bluetrio.actors.l2cap.states`), its configuration, who owns it (the actor that gets its
indications) and its transmit queue (served by :mod:`bluetrio.actors.l2cap.scheduler`).
It lives from the request that creates it to the channel's close, and never longer than its
link.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Container

import attrs

from bluetrio.actors.l2cap.config import Negotiation
from bluetrio.actors.l2cap.ertm import RetransmissionChannel
from bluetrio.actors.l2cap.states import TRANSITIONS, ChannelEvent, ChannelState
from bluetrio.actors.state_machine import transition
from bluetrio.messages.btm_security import SecurityRequirement
from bluetrio.messages.l2cap import FIRST_DYNAMIC_CID, LAST_DYNAMIC_CID

# Channels one link may hold at once; a request beyond is answered "no resources".
MAX_CHANNELS_PER_LINK = 64
# A channel's transmit queue past this many PDUs is congested (L2caCongestionInd), and stops
# being so when it drains to half (as Bluedroid's l2cu_check_channel_congestion).
CONGESTION_QUOTA = 64
DEFAULT_PRIORITY = 1


class Priority:
    """Scheduling priorities: lower values are served first."""

    HIGH = 0
    NORMAL = DEFAULT_PRIORITY


@attrs.define(eq=False)
class TxQueue:
    """PDUs of one channel waiting for the link, and the congestion flag they raised."""

    cid: int
    owner: str
    priority: int = DEFAULT_PRIORITY
    pdus: deque[bytes] = attrs.Factory(deque)
    congested: bool = False

    def has_pdu(self) -> bool:
        """A PDU is ready for the scheduler to take."""
        return bool(self.pdus)

    def take(self) -> bytes:
        """The next PDU (only after :meth:`has_pdu`)."""
        return self.pdus.popleft()

    def congestion_change(self) -> bool | None:
        """The new congestion state when it changed with the queue's length, else None."""
        length = len(self.pdus)
        if not self.congested and length > CONGESTION_QUOTA:
            self.congested = True
            return True
        if self.congested and length <= CONGESTION_QUOTA // 2:
            self.congested = False
            return False
        return None


@attrs.define(eq=False)
class Ccb:
    """One dynamic channel (Bluedroid's tL2C_CCB)."""

    handle: int
    local_cid: int
    psm: int
    owner: str
    negotiation: Negotiation
    initiator: bool
    security: SecurityRequirement | None = None
    remote_cid: int = 0
    state: ChannelState = ChannelState.CLOSED
    token: int | None = None  # of the L2caConnectReq, until L2caConnectCnf
    connect_identifier: int = 0  # of the peer's Connection Request we answer
    notified: bool = False  # the owner was told the channel failed or closed
    security_token: int | None = None
    disconnect_waiters: list[tuple[str, int]] = attrs.Factory(list)
    # Enhanced Retransmission or Streaming mode (ertm_channels.py): the engine of the open
    # channel, the owner's SDUs its full transmit queue refused (in order, until it has room),
    # and whether each streamed I-frame at hci ends an SDU.
    engine: RetransmissionChannel | None = None
    held: deque[bytes] = attrs.Factory(deque)
    streamed: deque[bool] = attrs.Factory(deque)
    tx: TxQueue = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.tx = TxQueue(self.local_cid, self.owner)

    def move(self, event: ChannelEvent) -> ChannelState:
        self.state = transition(TRANSITIONS, self.state, event)
        return self.state


class CidAllocator:
    """Dynamic CIDs of one link (Vol 3 Part A 2.1: 0x0040 and above on BR/EDR)."""

    def __init__(self, first: int = FIRST_DYNAMIC_CID, last: int = LAST_DYNAMIC_CID) -> None:
        self.first = first
        self.last = last
        self._next = first

    def allocate(self, used: Container[int]) -> int | None:
        span = self.last - self.first + 1
        for step in range(span):
            cid = self.first + (self._next - self.first + step) % span
            if cid not in used:
                self._next = cid + 1 if cid < self.last else self.first
                return cid
        return None
