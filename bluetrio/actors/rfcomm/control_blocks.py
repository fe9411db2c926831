"""RFCOMM's control blocks: a multiplexer per link (Bluedroid's ``tRFC_MCB``) and its DLCs
(``tPORT``), with the timers and bounds they live under."""

from __future__ import annotations

from collections import deque

import attrs

from bluetrio.actors.effects import TimerKey
from bluetrio.actors.rfcomm.states import DlcState, MuxState
from bluetrio.messages.btm_security import SecurityRequirement
from bluetrio.messages.rfcomm import DEFAULT_FRAME_SIZE, FRAME_OVERHEAD, ModemStatus, PortSettings

# The MTU we configure on RFCOMM's L2CAP channel, and the peer's MTU assumed until its
# configuration says otherwise (672 less the frame header and the credit octet), as Bluedroid.
L2CAP_MTU = 1691
ASSUMED_PEER_MTU = 672 - 5 - 1
MAX_OWN_FRAME_SIZE = L2CAP_MTU - FRAME_OVERHEAD

T1 = 20.0  # answer to SABM or DISC (RFCOMM 1.2 5.3, TS 07.10 5.7.1)
T2 = 20.0  # answer to a multiplexer command (TS 07.10 5.7.4)
PEER_PAIRING_WAIT = 120.0  # SABM from a peer that may still be pairing or asking its user
COLLISION_BACKOFF = (2.0, 12.0)  # random wait before yielding to the peer's channel (5.2.1)
IDLE_TIMEOUT = 2.0  # a connected multiplexer without a DLC is closed after this
MUX_DISC_WAIT = 3.0  # our DISC on DLCI 0 waits this long for UA
ACCEPT_WAIT = 5.0  # an incoming DLC's owner answers (well within the peer's T1 for our UA)

INITIAL_CREDITS = 7  # what PN's three-bit K field carries (RFCOMM 1.2 5.5.3)
RECEIVE_WINDOW = 32  # frames the peer may send that the application has not read
# Credits go back once this many frames were read (or ride on data sooner). Never fewer: one
# credit per frame read makes the peer send one frame per credit frame. It cannot stall: with
# ``peer_credits + unread + owed == RECEIVE_WINDOW``, a peer without credits and an
# application that read all but fewer than ``READ_REPORT_BATCH`` (of the service primitives)
# frames leaves ``owed`` above it.
CREDIT_RETURN_BATCH = RECEIVE_WINDOW // 2
L2CAP_WINDOW = 32  # SDUs handed to L2CAP and not yet confirmed, per multiplexer
MAX_SEND_QUEUE = 64  # frames of one DLC waiting for credits or for the L2CAP window
MAX_PARKED_DLCS = 60  # DLCs per multiplexer: every DLCI 2..61 once
MAX_PENDING_COMMANDS = 8  # our MSC, RPN or Test commands awaiting responses, per DLC or mux


MSC_TIMER = "MSC T2"
RPN_TIMER = "RPN T2"
RLS_TIMER = "RLS T2"
TEST_TIMER = "Test T2"


@attrs.frozen
class MuxTimer:
    """The owner of a multiplexer's timer (T1 on DLCI 0, the 120 s wait, back-off, idle)."""

    handle: int


@attrs.frozen
class DlcTimer:
    """The owner of one DLC's timer (T1, T2, or the bound of a close waiting for credits)."""

    handle: int
    dlci: int


@attrs.define(eq=False)
class Dlc:
    """One DLC (a port). ``owner``: the actor told about it (its opener, or the registrant of
    its server channel). Credits (RFCOMM 1.2 6.5): ``send_credits`` the peer granted us,
    ``peer_credits`` those we granted and it has not used, ``owed`` frames read since their
    credits last went back; ``peer_credits + unread + owed`` is the receive window."""

    channel: int
    owner: str
    dlci: int = 0  # 0 until the multiplexer decided the direction bit
    state: DlcState = DlcState.CLOSED
    connect_token: int | None = None  # our RfcommConnectReq being answered
    frame_size: int = DEFAULT_FRAME_SIZE
    requested_frame_size: int = DEFAULT_FRAME_SIZE
    priority: int = 0
    credit_based: bool = False
    send_credits: int = 0
    peer_credits: int = 0
    owed: int = 0
    unread: int = 0
    send_queue: deque[bytes | memoryview] = attrs.field(factory=deque)  # one frame each
    peer_flow_stopped: bool = False  # MSC FC from the peer (DLCs without credits)
    local_flow_stopped: bool = False  # our MSC FC sent
    # Our MSC commands awaiting responses, in order (T2): each its requester, or None for
    # those the layer sends itself (at opening, for flow control).
    msc_waiters: deque[tuple[str, int] | None] = attrs.field(factory=deque)
    rpn_waiters: deque[tuple[str, int]] = attrs.field(factory=deque)  # our RPN commands (T2)
    rls_waiters: deque[tuple[str, int]] = attrs.field(factory=deque)  # our RLS commands (T2)
    local_status: ModemStatus = attrs.field(
        factory=ModemStatus
    )  # the V.24 signals our MSC commands carry
    port: PortSettings = attrs.field(
        factory=PortSettings
    )  # what the peer's RPN commands set (a virtual port)
    negotiated: bool = False  # a PN settled the parameters
    security: SecurityRequirement | None = None
    security_token: int | None = None
    closers: list[tuple[str, int]] = attrs.field(factory=list)  # (actor, token) of closes
    draining: bool = False  # DISC once the send queue is empty


@attrs.define(eq=False)
class Mcb:
    """One multiplexer: the L2CAP channel on one link and every DLC above it."""

    handle: int
    initiator: bool  # we opened the L2CAP channel (and send SABM on DLCI 0)
    state: MuxState = MuxState.IDLE
    cid: int = 0
    connect_token: int | None = None  # our L2caConnectReq
    pending_cid: int | None = None  # the peer's channel held during a collision (5.2.1)
    yielded: bool = False  # our back-off ran out first: we took the peer's channel
    may_retry: bool = True  # a collision whose sides both yielded may be retried once
    retrying: bool = False  # waiting out the back-off before that retry
    peer_mtu: int = ASSUMED_PEER_MTU
    dlcs: dict[int, Dlc] = attrs.field(factory=dict)
    waiting: list[Dlc] = attrs.field(factory=list)  # opened by us before the multiplexer was up
    in_flight: deque[int] = attrs.field(factory=deque)  # per SDU at L2CAP: DLCI, -1 control
    flow_off: bool = False  # the peer sent FCoff
    restart: bool = False  # a DLC asked for the multiplexer while it was closing
    tests: deque[tuple[str, int, bytes]] = attrs.field(factory=deque)  # our Test commands (T2)
    close_waiters: list[tuple[str, int]] = attrs.field(factory=list)  # (actor, token)
    close_watchers: set[str] = attrs.field(factory=set)  # told when it closes at last

    @property
    def timer(self) -> TimerKey:
        return TimerKey(MuxTimer(self.handle), "multiplexer")

    def dlc_timer(self, dlci: int) -> TimerKey:
        return TimerKey(DlcTimer(self.handle, dlci), "T1/T2")

    def msc_timer(self, dlci: int) -> TimerKey:
        return TimerKey(DlcTimer(self.handle, dlci), MSC_TIMER)

    def rpn_timer(self, dlci: int) -> TimerKey:
        return TimerKey(DlcTimer(self.handle, dlci), RPN_TIMER)

    def rls_timer(self, dlci: int) -> TimerKey:
        return TimerKey(DlcTimer(self.handle, dlci), RLS_TIMER)

    @property
    def test_timer(self) -> TimerKey:
        return TimerKey(MuxTimer(self.handle), TEST_TIMER)

    @property
    def max_frame_size(self) -> int:
        """The largest N1 both L2CAP MTUs carry."""
        return max(1, min(self.peer_mtu - FRAME_OVERHEAD, MAX_OWN_FRAME_SIZE))

    def dlc_count(self) -> int:
        return len(self.dlcs) + len(self.waiting)
