"""Credit-based channels on every link: the LE credit-based procedures (Core 5.4 Vol 3 Part A
4.22-4.24) and the enhanced credit-based ones (4.25-4.28, on LE and BR/EDR), each open channel's
data path running through a :class:`~bluetrio.actors.l2cap.credit.CreditChannel` engine.

Shares the core's control blocks and signaling entity: requests of ours take identifiers from
the link's pending requests and run the RTX timer like any other (6.2.1); this module's
commands are added to the signaling handlers, and Disconnection Requests/Responses and Command
Rejects that concern its channels are taken before the BR/EDR procedures see them.

A channel's K-frames are pulled from its engine by the link scheduler
(:class:`CreditTxQueue`), one as each goes to hci, so a frame is cut to the peer's MPS as it is
when it leaves and never waits with a credit it took; ``L2caDataCnf`` counts SDUs whose last
K-frame the controller completed.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import attrs

from bluetrio.actors.effects import CancelTimer, Effects, Emit, Send, TimerKey
from bluetrio.actors.l2cap.channels import MAX_CHANNELS_PER_LINK, TxQueue
from bluetrio.actors.l2cap.credit import (
    ChannelFailed,
    CreditChannel,
    CreditEffect,
    GrantCredits,
    Limits,
    QueueResult,
    SduReceived,
    receive_window,
    reconfiguration_result,
)
from bluetrio.actors.l2cap.credit_states import CREDIT_TRANSITIONS, CreditEvent, CreditState
from bluetrio.actors.l2cap.links import Lcb, RequestTimer
from bluetrio.actors.l2cap.scheduler import Scheduler
from bluetrio.actors.l2cap.signaling import RTX, Signaling, no_response
from bluetrio.actors.state_machine import allowed, transition
from bluetrio.messages.btm_security import LinkSecurityCnf, LinkSecurityReq, SecurityRequirement
from bluetrio.messages.hci_service import LinkTransport
from bluetrio.messages.l2cap import (
    FIRST_DYNAMIC_CID,
    LAST_LE_DYNAMIC_CID,
    MAX_CREDIT_BASED_CHANNELS,
    CommandReject,
    CreditBasedConnectionRequest,
    CreditBasedConnectionResponse,
    CreditBasedReconfigureRequest,
    CreditBasedReconfigureResponse,
    CreditConnectionResult,
    CreditReconfigureResult,
    DisconnectionRequest,
    DisconnectionResponse,
    FlowControlCreditInd,
    LeCreditBasedConnectionRequest,
    LeCreditBasedConnectionResponse,
    LeCreditConnectionResult,
    SignalingCode,
    encode_basic_frame,
    is_valid_le_spsm,
    is_valid_psm,
)
from bluetrio.messages.l2cap_credit_service import (
    CreditChannelParameters,
    CreditMode,
    L2caCreditAcceptReq,
    L2caCreditConnectCnf,
    L2caCreditConnectInd,
    L2caCreditConnectReq,
    L2caCreditDeregisterReq,
    L2caCreditRegisterReq,
    L2caDataRsp,
    L2caReconfigureInd,
    L2caReconfigureReq,
)
from bluetrio.messages.l2cap_service import (
    LOCAL_REFUSAL,
    L2caCnf,
    L2caDataCnf,
    L2caDataInd,
    L2caDataReq,
    L2caDisconnectInd,
    L2caDisconnectReq,
)

logger = logging.getLogger(__name__)

# Octets of SDUs an owner may have sent and not had confirmed: the engine's transmit queue.
DEFAULT_TRANSMIT_LIMIT = 64 * 1024
# Security tokens of this module, apart from the BR/EDR procedures' (both ask btm).
_FIRST_SECURITY_TOKEN = 1 << 24
# Results of a Credit Based Connection Response that refuse every channel (4.26).
_ALL_REFUSED = frozenset(
    {
        CreditConnectionResult.SPSM_NOT_SUPPORTED,
        CreditConnectionResult.INSUFFICIENT_AUTHENTICATION,
        CreditConnectionResult.INSUFFICIENT_AUTHORIZATION,
        CreditConnectionResult.ENCRYPTION_KEY_SIZE_TOO_SHORT,
        CreditConnectionResult.INSUFFICIENT_ENCRYPTION,
        CreditConnectionResult.UNACCEPTABLE_PARAMETERS,
        CreditConnectionResult.INVALID_PARAMETERS,
    }
)
_PENDING = frozenset(
    {
        CreditConnectionResult.ALL_PENDING,
        CreditConnectionResult.ALL_PENDING_AUTHENTICATION,
        CreditConnectionResult.ALL_PENDING_AUTHORIZATION,
    }
)


class CreditTxQueue(TxQueue):
    """A channel's place in the link scheduler: it holds no PDUs, it cuts the next K-frame
    from the engine when the scheduler takes one."""

    ccb: CreditCcb

    def has_pdu(self) -> bool:
        engine = self.ccb.engine
        return engine is not None and self.ccb.state is CreditState.OPEN and engine.can_send

    def take(self) -> bytes:
        ccb = self.ccb
        assert ccb.engine is not None
        frame = ccb.engine.next_frame()
        assert frame is not None, "take() without has_pdu()"
        ccb.in_flight.append(frame.last_of_sdu)
        return encode_basic_frame(ccb.remote_cid, frame.payload)


@attrs.define(eq=False)
class CreditCcb:
    """One credit-based channel."""

    handle: int
    local_cid: int
    spsm: int
    owner: str
    mode: CreditMode
    local: Limits  # our MTU, MPS and the receive window granted
    initiator: bool
    transmit_limit: int = DEFAULT_TRANSMIT_LIMIT
    state: CreditState = CreditState.CLOSED
    remote_cid: int = 0
    engine: CreditChannel | None = None
    in_flight: deque[bool] = attrs.Factory(deque)  # last_of_sdu of each K-frame at hci
    disconnect_waiters: list[tuple[str, int]] = attrs.Factory(list)
    notified: bool = False  # the owner heard that the channel closed or failed
    in_backlog: bool = False  # opened by the peer, not yet taken by its owner
    # Of a channel the peer opened: its request's identifier and our response, sent again if
    # the request comes again (6.2.1).
    connect_identifier: int = 0
    response: Any = None
    tx: CreditTxQueue = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.tx = CreditTxQueue(self.local_cid, self.owner)
        self.tx.ccb = self

    def move(self, event: CreditEvent) -> CreditState:
        self.state = transition(CREDIT_TRANSITIONS, self.state, event)
        return self.state

    def parameters(self) -> CreditChannelParameters:
        engine = self.engine
        assert engine is not None
        return CreditChannelParameters(
            self.mode, engine.local_mtu, engine.local_mps, engine.remote_mtu,
            engine.remote_mps, engine.window, self.transmit_limit,
        )  # fmt: skip


@attrs.frozen
class CreditRegistration:
    owner: str
    spsm: int
    transport: LinkTransport
    security: SecurityRequirement | None
    mtu: int
    mps: int
    credits: int
    backlog: int | None = None


@attrs.define
class Opening:
    """A connection request of ours, for one channel or a group (4.22, 4.25)."""

    sender: str
    token: int
    mode: CreditMode
    cids: list[int]
    security: SecurityRequirement | None


@attrs.define
class Answering:
    """A peer's connection request waiting on security before we answer it."""

    identifier: int
    mode: CreditMode
    sources: tuple[int, ...]
    cids: list[int | None]  # ours per source, None where refused
    result: int  # the "some refused" result, or success
    peer: Limits
    registration: CreditRegistration


@attrs.frozen
class Reconfiguring:
    sender: str
    token: int
    cids: tuple[int, ...]
    mtu: int
    mps: int


@attrs.frozen
class Disconnecting:
    cid: int | None  # None: a channel the peer opened after we gave it up


Request = Opening | Reconfiguring | Disconnecting


class CreditChannels:
    """The credit-based channels of every link, their registrations and requests."""

    def __init__(self, signaling: Signaling, scheduler: Scheduler) -> None:
        self.signaling = signaling
        self.links = signaling.links
        self.scheduler = scheduler
        self.registrations: dict[tuple[LinkTransport, int], CreditRegistration] = {}
        self.requests: dict[tuple[int, int], Request] = {}  # by (link, identifier)
        self.security_waits: dict[int, tuple[int, Opening | Answering]] = {}
        self._tokens = itertools.count(_FIRST_SECURITY_TOKEN)
        handlers = signaling.handlers
        handlers[LeCreditBasedConnectionRequest] = self._on_le_request
        handlers[LeCreditBasedConnectionResponse] = self._on_le_response
        handlers[FlowControlCreditInd] = self._on_credits
        handlers[CreditBasedConnectionRequest] = self._on_enhanced_request
        handlers[CreditBasedConnectionResponse] = self._on_enhanced_response
        handlers[CreditBasedReconfigureRequest] = self._on_reconfigure_request
        handlers[CreditBasedReconfigureResponse] = self._on_reconfigure_response
        self._take_over(DisconnectionRequest, self._owns_disconnection, self._on_disconnect)
        self._take_over(DisconnectionResponse, self._owns_response, self._on_disconnected)
        self._take_over(CommandReject, self._owns_response, self._on_reject)
        signaling.malformed[SignalingCode.CREDIT_BASED_CONNECTION_REQUEST] = (
            self._on_malformed_enhanced_request
        )

    def _take_over(
        self,
        kind: type[Any],
        mine: Callable[[Lcb, int, Any], bool],
        handler: Callable[[Lcb, int, Any, float], Effects],
    ) -> None:
        """Commands of ``kind`` concerning our channels go to ``handler``, others to the
        BR/EDR procedures as before."""
        theirs = self.signaling.handlers[kind]

        def route(lcb: Lcb, identifier: int, command: Any, now: float) -> Effects:
            if mine(lcb, identifier, command):
                return handler(lcb, identifier, command, now)
            return theirs(lcb, identifier, command, now)

        self.signaling.handlers[kind] = route

    # -- looking things up ---------------------------------------------------------------------
    def on_link(self, handle: int) -> dict[int, CreditCcb]:
        """The credit-based channels of a link (kept in its LCB, released with it)."""
        lcb = self.links.get(handle)
        return lcb.credit_channels if lcb is not None else {}

    def channel(self, handle: int, cid: int) -> CreditCcb | None:
        return self.on_link(handle).get(cid)

    def owns(self, handle: int, cid: int) -> bool:
        return self.channel(handle, cid) is not None

    def owns_request(self, owner: RequestTimer) -> bool:
        return (owner.handle, owner.identifier) in self.requests

    def _by_remote(self, handle: int, remote_cid: int) -> CreditCcb | None:
        for ccb in self.on_link(handle).values():
            if ccb.remote_cid == remote_cid:
                return ccb
        return None

    def _remote_in_use(self, lcb: Lcb, remote_cid: int) -> bool:
        return (
            self._by_remote(lcb.handle, remote_cid) is not None
            or lcb.channel_by_remote(remote_cid) is not None
        )

    def _owns_disconnection(self, lcb: Lcb, identifier: int, request: DisconnectionRequest) -> bool:
        return self.owns(lcb.handle, request.destination_cid)

    def _owns_response(self, lcb: Lcb, identifier: int, response: object) -> bool:
        return (lcb.handle, identifier) in self.requests

    @staticmethod
    def _valid_remote_cid(lcb: Lcb, cid: int) -> bool:
        """A dynamic CID of the link's transport (Vol 3 Part A 2.1, tables 2.1, 2.3)."""
        if lcb.transport is LinkTransport.LE:
            return FIRST_DYNAMIC_CID <= cid <= LAST_LE_DYNAMIC_CID
        return cid >= FIRST_DYNAMIC_CID

    def _allocate(self, lcb: Lcb, count: int) -> list[int] | None:
        mine = self.on_link(lcb.handle)
        if len(mine) + len(lcb.channels) + count > MAX_CHANNELS_PER_LINK:
            return None
        cids: list[int] = []
        for _ in range(count):
            cid = lcb.cids.allocate(_Also(lcb, cids))
            if cid is None:
                return None
            cids.append(cid)
        return cids

    # -- registrations -------------------------------------------------------------------------
    def register(self, sender: str, request: L2caCreditRegisterReq) -> Effects:
        def answer(error: str | None = None) -> Effects:
            result = 0 if error is None else LOCAL_REFUSAL
            return [Send(sender, L2caCnf(request.token, result, error))]

        if not _valid_spsm(request.transport, request.spsm):
            return answer(f"0x{request.spsm:04X} is not a valid SPSM on {request.transport}")
        # On LE a registration serves both modes; one outside the enhanced mode's limits
        # refuses enhanced requests (no resources).
        mode = (
            CreditMode.LE_CREDIT_BASED
            if request.transport is LinkTransport.LE
            else CreditMode.ENHANCED_CREDIT_BASED
        )
        problem = mode.limits_problem(request.mtu, request.mps)
        if problem is not None:
            return answer(problem)
        key = (request.transport, request.spsm)
        if key in self.registrations:
            return answer(f"SPSM 0x{request.spsm:04X} is already registered")
        self.registrations[key] = CreditRegistration(
            sender, request.spsm, request.transport, request.security, request.mtu,
            request.mps, receive_window(request.mtu, request.mps, request.credits),
            request.backlog,
        )  # fmt: skip
        return answer()

    def accepted(self, request: L2caCreditAcceptReq) -> Effects:
        ccb = self.channel(request.handle, request.cid)
        if ccb is not None:
            ccb.in_backlog = False
        return []

    def _backlog_room(self, registration: CreditRegistration) -> int:
        """How many more channels the peer may open to ``registration`` now: its backlog less
        the channels opened to it (or being opened) that its owner has not taken."""
        if registration.backlog is None:
            return MAX_CHANNELS_PER_LINK
        waiting = sum(
            1
            for lcb in self.links.values()
            if lcb.transport is registration.transport
            for ccb in lcb.credit_channels.values()
            if ccb.in_backlog and ccb.spsm == registration.spsm
        )
        return max(0, registration.backlog - waiting)

    def deregister(self, sender: str, request: L2caCreditDeregisterReq) -> Effects:
        self.registrations.pop((request.transport, request.spsm), None)
        return [Send(sender, L2caCnf(request.token))]

    # -- sending requests ----------------------------------------------------------------------
    def _request(self, lcb: Lcb, command: Any, request: Request, now: float) -> Effects | None:
        """Send a request of ours with a fresh identifier and its RTX timer (6.2.1)."""
        sent = self.signaling.start_request(lcb, command, now)
        if sent is None:
            return None
        identifier, effects = sent
        self.requests[lcb.handle, identifier] = request
        return effects

    def _settle(self, lcb: Lcb, identifier: int, code: SignalingCode) -> Request | None:
        """Our request a response answers (same identifier and request code)."""
        pending = lcb.pending.get(identifier)
        request = self.requests.get((lcb.handle, identifier))
        if pending is None or request is None or pending.code is not code:
            return None
        del lcb.pending[identifier]
        del self.requests[lcb.handle, identifier]
        return request

    def _send_credits(self, lcb: Lcb, ccb: CreditCcb, credits: int) -> None:
        identifier = lcb.next_identifier() or 1
        self.signaling.send(lcb, identifier, FlowControlCreditInd(ccb.local_cid, credits))

    # -- opening channels ourselves ------------------------------------------------------------
    def connect(self, sender: str, request: L2caCreditConnectReq, now: float) -> Effects:
        def refuse(error: str, result: int = LOCAL_REFUSAL) -> Effects:
            cnf = L2caCreditConnectCnf(request.token, request.handle, result, error=error)
            return [Send(sender, cnf)]

        lcb = self.links.get(request.handle)
        if lcb is None:
            return refuse(f"no link 0x{request.handle:04X}")
        mode = request.mode
        if mode is CreditMode.LE_CREDIT_BASED and lcb.transport is not LinkTransport.LE:
            return refuse("LE credit-based channels exist on LE links only")
        if not _valid_spsm(lcb.transport, request.spsm):
            return refuse(f"0x{request.spsm:04X} is not a valid SPSM on {lcb.transport}")
        problem = mode.limits_problem(request.mtu, request.mps)
        if problem is not None:
            return refuse(problem)
        most = 1 if mode is CreditMode.LE_CREDIT_BASED else MAX_CREDIT_BASED_CHANNELS
        if not 1 <= request.count <= most:
            return refuse(f"{request.count} channels: one request opens 1 to {most}")
        cids = self._allocate(lcb, request.count)
        if cids is None:
            return refuse("no channel identifiers left on this link", 0x0004)
        window = receive_window(request.mtu, request.mps, request.credits)
        local = Limits(request.mtu, request.mps, window)
        mine = self.on_link(lcb.handle)
        for cid in cids:
            ccb = CreditCcb(lcb.handle, cid, request.spsm, sender, mode, local, initiator=True)
            ccb.move(CreditEvent.OPEN_REQUESTED)
            mine[cid] = ccb
        opening = Opening(sender, request.token, mode, cids, request.security)
        if request.security is not None and request.security.needs_security:
            return self._ask_security(lcb, request.security, opening)
        return self._send_connection_request(lcb, opening, now)

    def _send_connection_request(self, lcb: Lcb, opening: Opening, now: float) -> Effects:
        ccbs = self._channels_of(lcb.handle, opening.cids)
        if not ccbs:
            return []
        for ccb in ccbs:
            ccb.move(CreditEvent.SECURITY_GRANTED)
        local = ccbs[0].local
        command: LeCreditBasedConnectionRequest | CreditBasedConnectionRequest
        if opening.mode is CreditMode.LE_CREDIT_BASED:
            command = LeCreditBasedConnectionRequest(
                ccbs[0].spsm, ccbs[0].local_cid, local.mtu, local.mps, local.credits
            )
        else:
            command = CreditBasedConnectionRequest(
                ccbs[0].spsm, local.mtu, local.mps, local.credits,
                tuple(ccb.local_cid for ccb in ccbs),
            )  # fmt: skip
        sent = self._request(lcb, command, opening, now)
        if sent is None:
            return self._fail_opening(lcb, opening, "too many signaling requests pending")
        return sent

    def _channels_of(self, handle: int, cids: list[int]) -> list[CreditCcb]:
        mine = self.on_link(handle)
        return [mine[cid] for cid in cids if cid in mine]

    def _fail_opening(
        self, lcb: Lcb, opening: Opening, error: str, result: int = LOCAL_REFUSAL
    ) -> Effects:
        for ccb in self._channels_of(lcb.handle, opening.cids):
            if allowed(CREDIT_TRANSITIONS, ccb.state, CreditEvent.CONNECT_REFUSED):
                ccb.move(CreditEvent.CONNECT_REFUSED)
            ccb.notified = True
            self._release(lcb, ccb)
        cnf = L2caCreditConnectCnf(opening.token, lcb.handle, result, error=error)
        return [Send(opening.sender, cnf)]

    def _on_le_response(
        self, lcb: Lcb, identifier: int, response: LeCreditBasedConnectionResponse, now: float
    ) -> Effects:
        request = self._settle(lcb, identifier, SignalingCode.LE_CREDIT_BASED_CONNECTION_REQUEST)
        if not isinstance(request, Opening):
            return []
        effects: Effects = [CancelTimer(_timer(lcb.handle, identifier))]
        ccbs = self._waiting(lcb, request)
        if response.result != LeCreditConnectionResult.SUCCESS:
            return effects + self._fail_opening(
                lcb, request, f"the peer refused the channel: {_le_result(response.result)}",
                response.result,
            )  # fmt: skip
        peer = Limits(response.mtu, response.mps, response.initial_credits)
        problem = self._response_problem(lcb, [response.destination_cid], request.mode, peer)
        if not ccbs or problem is not None:
            # Abandoned meanwhile, or unusable: close what the peer opened (4.6).
            effects += self._disconnect_orphan(lcb, response.destination_cid, now)
            if not ccbs:
                return effects
            assert problem is not None
            return effects + self._fail_opening(lcb, request, problem)
        self._open(ccbs[0], response.destination_cid, peer)
        cnf = L2caCreditConnectCnf(
            request.token, lcb.handle, 0, (ccbs[0].local_cid,), ccbs[0].parameters()
        )
        return [*effects, Send(request.sender, cnf)]

    def _waiting(self, lcb: Lcb, opening: Opening) -> list[CreditCcb]:
        return [
            ccb
            for ccb in self._channels_of(lcb.handle, opening.cids)
            if ccb.state is CreditState.WAIT_CONNECT_RSP
        ]

    def _response_problem(
        self, lcb: Lcb, remote_cids: list[int], mode: CreditMode, peer: Limits
    ) -> str | None:
        problem = mode.limits_problem(peer.mtu, peer.mps)
        if problem is not None:
            return f"the peer answered with {problem}"
        for index, cid in enumerate(remote_cids):
            if not self._valid_remote_cid(lcb, cid) or self._remote_in_use(lcb, cid):
                return f"the peer answered with invalid or used CID 0x{cid:04X}"
            if cid in remote_cids[:index]:
                return f"the peer answered with CID 0x{cid:04X} twice"
        return None

    def _open(self, ccb: CreditCcb, remote_cid: int, peer: Limits) -> None:
        ccb.remote_cid = remote_cid
        ccb.engine = CreditChannel(ccb.mode, ccb.local, peer, transmit_limit=ccb.transmit_limit)
        ccb.move(CreditEvent.CONNECT_SUCCEEDED if ccb.initiator else CreditEvent.SECURITY_GRANTED)

    def _disconnect_orphan(self, lcb: Lcb, remote_cid: int, now: float) -> Effects:
        if not self._valid_remote_cid(lcb, remote_cid):
            return []
        # Our end is gone, so the request names the peer's CID on both sides' behalf.
        command = DisconnectionRequest(remote_cid, remote_cid)
        return self._request(lcb, command, Disconnecting(None), now) or []

    def _on_enhanced_response(
        self, lcb: Lcb, identifier: int, response: CreditBasedConnectionResponse, now: float
    ) -> Effects:
        pending = lcb.pending.get(identifier)
        if response.result in _PENDING and pending is not None:
            if pending.code is SignalingCode.CREDIT_BASED_CONNECTION_REQUEST:
                return self.signaling.extend(lcb, identifier, now)
            return []
        request = self._settle(lcb, identifier, SignalingCode.CREDIT_BASED_CONNECTION_REQUEST)
        if not isinstance(request, Opening):
            return []
        effects: Effects = [CancelTimer(_timer(lcb.handle, identifier))]
        cids = response.destination_cids
        if response.result in _ALL_REFUSED or not any(cids):
            return effects + self._fail_opening(
                lcb, request, f"the peer refused the channels: {_enhanced_result(response.result)}",
                response.result,
            )  # fmt: skip
        if len(cids) != len(request.cids):
            problem: str | None = (
                f"the peer answered {len(cids)} CIDs to a request of {len(request.cids)}"
            )
        else:
            peer = Limits(response.mtu, response.mps, response.initial_credits)
            problem = self._response_problem(lcb, [cid for cid in cids if cid], request.mode, peer)
        if problem is not None:
            for cid in cids:
                if cid:
                    effects += self._disconnect_orphan(lcb, cid, now)
            return effects + self._fail_opening(lcb, request, problem)
        mine = lcb.credit_channels
        opened: list[CreditCcb] = []
        for ours, theirs in zip(request.cids, cids, strict=True):
            ccb = mine.get(ours)
            if theirs == 0:
                if ccb is not None:
                    ccb.notified = True
                    self._release(lcb, ccb)
            elif ccb is None or ccb.state is not CreditState.WAIT_CONNECT_RSP:
                effects += self._disconnect_orphan(lcb, theirs, now)
            else:
                self._open(ccb, theirs, peer)
                opened.append(ccb)
        if not opened:
            return effects
        cnf = L2caCreditConnectCnf(
            request.token, lcb.handle, response.result,
            tuple(ccb.local_cid for ccb in opened), opened[0].parameters(),
        )  # fmt: skip
        return [*effects, Send(request.sender, cnf)]

    # -- channels the peer opens ---------------------------------------------------------------
    def _on_le_request(
        self, lcb: Lcb, identifier: int, request: LeCreditBasedConnectionRequest, now: float
    ) -> Effects:
        def answer(result: LeCreditConnectionResult) -> Effects:
            self.signaling.send(
                lcb, identifier, LeCreditBasedConnectionResponse(0, 0, 0, 0, result)
            )
            return []

        repeated = self._repeat_response(lcb, identifier, (request.source_cid,))
        if repeated is not None:
            return repeated
        registration = self.registrations.get((LinkTransport.LE, request.spsm))
        if registration is None:
            return answer(LeCreditConnectionResult.SPSM_NOT_SUPPORTED)
        if not self._valid_remote_cid(lcb, request.source_cid):
            return answer(LeCreditConnectionResult.INVALID_SOURCE_CID)
        if self._remote_in_use(lcb, request.source_cid):
            return answer(LeCreditConnectionResult.SOURCE_CID_ALREADY_ALLOCATED)
        mode = CreditMode.LE_CREDIT_BASED
        if mode.limits_problem(request.mtu, request.mps) is not None:
            return answer(LeCreditConnectionResult.UNACCEPTABLE_PARAMETERS)
        if mode.limits_problem(registration.mtu, registration.mps) is not None:
            return answer(LeCreditConnectionResult.NO_RESOURCES)
        cids = self._allocate(lcb, 1) if self._backlog_room(registration) else None
        if cids is None:  # no CID left, or the owner's backlog is full (4.23)
            return answer(LeCreditConnectionResult.NO_RESOURCES)
        peer = Limits(request.mtu, request.mps, request.initial_credits)
        answering = Answering(
            identifier, mode, (request.source_cid,), list(cids), 0, peer, registration
        )
        return self._accept(lcb, answering)

    def _on_enhanced_request(
        self, lcb: Lcb, identifier: int, request: CreditBasedConnectionRequest, now: float
    ) -> Effects:
        sources = request.source_cids
        mode = CreditMode.ENHANCED_CREDIT_BASED

        def refuse_all(result: CreditConnectionResult) -> Effects:
            response = CreditBasedConnectionResponse(0, 0, 0, result, (0,) * len(sources))
            self.signaling.send(lcb, identifier, response)
            return []

        repeated = self._repeat_response(lcb, identifier, sources)
        if repeated is not None:
            return repeated
        registration = self.registrations.get((lcb.transport, request.spsm))
        if registration is None:
            return refuse_all(CreditConnectionResult.SPSM_NOT_SUPPORTED)
        if mode.limits_problem(request.mtu, request.mps) is not None:
            return refuse_all(CreditConnectionResult.UNACCEPTABLE_PARAMETERS)
        if mode.limits_problem(registration.mtu, registration.mps) is not None:
            return refuse_all(CreditConnectionResult.SOME_REFUSED_NO_RESOURCES)
        result: int = CreditConnectionResult.ALL_SUCCESSFUL
        accepted: list[int | None] = []
        for index, source in enumerate(sources):
            if sources.count(source) > 1 or self._remote_in_use(lcb, source):
                # A CID named twice is refused each time: neither channel could be told apart.
                result = result or CreditConnectionResult.SOME_REFUSED_SOURCE_CID_ALREADY_ALLOCATED
                accepted.append(None)
            elif not self._valid_remote_cid(lcb, source):
                result = result or CreditConnectionResult.SOME_REFUSED_INVALID_SOURCE_CID
                accepted.append(None)
            else:
                accepted.append(index)
        room = self._backlog_room(registration)
        for position, choice in enumerate(accepted):
            if choice is not None and room == 0:  # the owner's backlog is full (4.26)
                accepted[position] = None
                result = result or CreditConnectionResult.SOME_REFUSED_NO_RESOURCES
            elif choice is not None:
                room -= 1
        wanted = sum(1 for index in accepted if index is not None)
        cids = self._allocate(lcb, wanted) if wanted else []
        if cids is None:
            return refuse_all(CreditConnectionResult.SOME_REFUSED_NO_RESOURCES)
        if not cids:
            return refuse_all(CreditConnectionResult(result))
        allocated = iter(cids)
        ours = [None if index is None else next(allocated) for index in accepted]
        peer = Limits(request.mtu, request.mps, request.initial_credits)
        answering = Answering(identifier, mode, sources, ours, result, peer, registration)
        return self._accept(lcb, answering)

    def _repeat_response(
        self, lcb: Lcb, identifier: int, sources: tuple[int, ...]
    ) -> Effects | None:
        """The peer's connection request again, with its identifier and source CIDs, after
        its RTX ran out (6.2.1: a duplicate is processed as the original): our response
        again, or nothing yet while the link's security is checked; None for a new request."""
        known = [self._by_remote(lcb.handle, source) for source in sources if source]
        ours = [
            ccb
            for ccb in known
            if ccb is not None and not ccb.initiator and ccb.connect_identifier == identifier
        ]
        if not ours:
            return None
        if ours[0].response is not None:
            self.signaling.send(lcb, identifier, ours[0].response)
        return []

    def _on_malformed_enhanced_request(self, lcb: Lcb, identifier: int, data: bytes) -> Effects:
        """A Credit Based Connection Request whose length is not 8 + 2n for n of 1..5: every
        channel refused, "invalid parameters" (4.25, 4.26)."""
        result = CreditConnectionResult.INVALID_PARAMETERS
        self.signaling.send(lcb, identifier, CreditBasedConnectionResponse(0, 0, 0, result, ()))
        return []

    def _accept(self, lcb: Lcb, answering: Answering) -> Effects:
        registration = answering.registration
        local = Limits(registration.mtu, registration.mps, registration.credits)
        mine = self.on_link(lcb.handle)
        for source, cid in zip(answering.sources, answering.cids, strict=True):
            if cid is None:
                continue
            ccb = CreditCcb(
                lcb.handle, cid, registration.spsm, registration.owner, answering.mode, local,
                initiator=False, remote_cid=source,
            )  # fmt: skip
            ccb.move(CreditEvent.REQUEST_RECEIVED)
            ccb.in_backlog = registration.backlog is not None
            ccb.connect_identifier = answering.identifier
            mine[cid] = ccb
        security = registration.security
        if security is not None and security.needs_security:
            return self._ask_security(lcb, security, answering)
        return self._answer(lcb, answering, None)

    def _answer(self, lcb: Lcb, answering: Answering, refusal: int | None) -> Effects:
        """Answer the peer's request: open our channels, or refuse them all with ``refusal``."""
        mine = lcb.credit_channels
        ccbs: list[CreditCcb | None] = [
            None if cid is None else mine.get(cid) for cid in answering.cids
        ]
        ccbs = [
            ccb if ccb is not None and ccb.state is CreditState.WAIT_INCOMING_SECURITY else None
            for ccb in ccbs
        ]
        if refusal is not None or not any(ccbs):
            for ccb in ccbs:
                if ccb is not None:
                    ccb.move(CreditEvent.SECURITY_DENIED)
                    self._release(lcb, ccb)
            result = (
                refusal if refusal is not None else CreditConnectionResult.SOME_REFUSED_NO_RESOURCES
            )
            if answering.mode is CreditMode.LE_CREDIT_BASED:
                command: Any = LeCreditBasedConnectionResponse(0, 0, 0, 0, result)
            else:
                zeros = (0,) * len(answering.sources)
                command = CreditBasedConnectionResponse(0, 0, 0, result, zeros)
            self.signaling.send(lcb, answering.identifier, command)
            return []
        opened = [ccb for ccb in ccbs if ccb is not None]
        for ccb in opened:
            self._open(ccb, ccb.remote_cid, answering.peer)
        local = opened[0].local
        if answering.mode is CreditMode.LE_CREDIT_BASED:
            command = LeCreditBasedConnectionResponse(
                opened[0].local_cid, local.mtu, local.mps, local.credits, 0
            )
        else:
            result = answering.result
            if any(ccb is None for ccb in ccbs) and not result:
                result = CreditConnectionResult.SOME_REFUSED_NO_RESOURCES
            command = CreditBasedConnectionResponse(
                local.mtu, local.mps, local.credits, result,
                tuple(0 if ccb is None else ccb.local_cid for ccb in ccbs),
            )  # fmt: skip
        self.signaling.send(lcb, answering.identifier, command)
        for ccb in opened:
            ccb.response = command
        indication = L2caCreditConnectInd(
            lcb.handle, opened[0].spsm, tuple(ccb.local_cid for ccb in opened),
            opened[0].parameters(), lcb.transport,
        )  # fmt: skip
        return [Send(answering.registration.owner, indication)]

    # -- security (Vol 3 Part C 5.2.2.5, through btm) --------------------------------------------
    def _ask_security(
        self, lcb: Lcb, requirement: SecurityRequirement, waiter: Opening | Answering
    ) -> Effects:
        token = next(self._tokens)
        self.security_waits[token] = (lcb.handle, waiter)
        return [Emit(LinkSecurityReq(token, lcb.handle, requirement))]

    def owns_security(self, confirm: LinkSecurityCnf) -> bool:
        return confirm.token in self.security_waits

    def on_security(self, confirm: LinkSecurityCnf, now: float) -> Effects:
        handle, waiter = self.security_waits.pop(confirm.token)
        lcb = self.links.get(handle)
        if lcb is None:
            return []
        if isinstance(waiter, Opening):
            if confirm.status != 0:
                reason = confirm.error or f"security refused (HCI status 0x{confirm.status:02X})"
                for ccb in self._channels_of(handle, waiter.cids):
                    ccb.move(CreditEvent.SECURITY_DENIED)
                return self._fail_opening(lcb, waiter, reason)
            return self._send_connection_request(lcb, waiter, now)
        requirement = waiter.registration.security
        refusal = None if confirm.status == 0 else security_result(confirm, requirement)
        return self._answer(lcb, waiter, refusal)

    # -- data ----------------------------------------------------------------------------------
    def on_frame(self, lcb: Lcb, ccb: CreditCcb, payload: bytes, now: float) -> Effects:
        """A K-frame for one of our channels (3.4.3)."""
        if ccb.state is not CreditState.OPEN or ccb.engine is None:
            logger.debug(
                "l2cap 0x%04X/0x%04X: K-frame while %s", lcb.handle, ccb.local_cid, ccb.state
            )
            return []
        return self._apply(lcb, ccb, ccb.engine.receive_frame(payload), now)

    def _apply(self, lcb: Lcb, ccb: CreditCcb, outcome: list[CreditEffect], now: float) -> Effects:
        effects: Effects = []
        for effect in outcome:
            if isinstance(effect, SduReceived):
                effects.append(Send(ccb.owner, L2caDataInd(lcb.handle, ccb.local_cid, effect.sdu)))
            elif isinstance(effect, GrantCredits):
                self._send_credits(lcb, ccb, effect.credits)
            elif isinstance(effect, ChannelFailed):
                effects += self._fail_channel(lcb, ccb, effect.reason, now)
        return effects

    def _on_credits(
        self, lcb: Lcb, identifier: int, indication: FlowControlCreditInd, now: float
    ) -> Effects:
        # The CID is the sender's end of the channel, our remote CID (4.24).
        ccb = self._by_remote(lcb.handle, indication.cid)
        if ccb is None or ccb.engine is None or ccb.state is not CreditState.OPEN:
            return []
        effects = self._apply(lcb, ccb, ccb.engine.receive_credits(indication.credits), now)
        self.scheduler.wake(lcb, ccb.tx)
        return effects

    def send_data(self, sender: str, request: L2caDataReq) -> Effects:
        lcb = self.links.get(request.handle)
        ccb = self.channel(request.handle, request.cid)
        engine = ccb.engine if ccb is not None else None
        queued = engine.queue_sdu(request.sdu) if engine is not None else QueueResult.CLOSED
        if lcb is None or ccb is None or queued is not QueueResult.QUEUED:
            # The owner hears of a close separately; the others break the owner's window
            # (L2caCreditConnectCnf gave it the peer's MTU and the transmit limit).
            log = logger.warning if queued is QueueResult.CLOSED else logger.error
            log("l2cap: %s not queued: %s", request.summary(), queued.value)
            return [Send(sender, L2caDataCnf(request.handle, request.cid, 1))]
        self.scheduler.wake(lcb, ccb.tx)
        return []

    def completed(self, lcb: Lcb, cid: int, count: int) -> Effects:
        """hci completed ``count`` K-frames of channel ``cid``: confirm the SDUs they ended."""
        ccb = self.channel(lcb.handle, cid)
        if ccb is None:
            return []
        sdus = 0
        for _ in range(min(count, len(ccb.in_flight))):
            sdus += ccb.in_flight.popleft()
        return [Send(ccb.owner, L2caDataCnf(lcb.handle, cid, sdus))] if sdus else []

    def consumed(self, response: L2caDataRsp, now: float) -> Effects:
        """The owner took SDUs: their credits may go back (see credit.py's batching)."""
        lcb = self.links.get(response.handle)
        ccb = self.channel(response.handle, response.cid)
        if lcb is None or ccb is None or ccb.engine is None:
            return []
        effects: Effects = []
        for _ in range(max(0, min(response.count, ccb.engine.undelivered_sdus))):
            effects += self._apply(lcb, ccb, ccb.engine.sdu_consumed(), now)
        return effects

    # -- reconfiguration (4.27, 4.28) ----------------------------------------------------------
    def reconfigure(self, sender: str, request: L2caReconfigureReq, now: float) -> Effects:
        def refuse(error: str, result: int = LOCAL_REFUSAL) -> Effects:
            return [Send(sender, L2caCnf(request.token, result, error))]

        lcb = self.links.get(request.handle)
        ccbs = [self.channel(request.handle, cid) for cid in request.cids]
        if lcb is None or not 1 <= len(ccbs) <= MAX_CREDIT_BASED_CHANNELS:
            return refuse(f"no link 0x{request.handle:04X}, or not 1 to 5 channels")
        if len(set(request.cids)) != len(request.cids):
            return refuse("a channel is named twice")
        open_ccbs: list[CreditCcb] = []
        for cid, ccb in zip(request.cids, ccbs, strict=True):
            if ccb is None or ccb.engine is None or ccb.state is not CreditState.OPEN:
                return refuse(f"channel 0x{cid:04X} is not an open credit-based channel")
            if ccb.mode is not CreditMode.ENHANCED_CREDIT_BASED:
                return refuse(f"channel 0x{cid:04X} is LE credit-based: it cannot reconfigure")
            open_ccbs.append(ccb)
        problem = CreditMode.ENHANCED_CREDIT_BASED.limits_problem(request.mtu, request.mps)
        if problem is not None:
            return refuse(problem)
        limits = [(ccb.engine.local_mtu, ccb.engine.local_mps) for ccb in open_ccbs if ccb.engine]
        result = reconfiguration_result(
            CreditMode.ENHANCED_CREDIT_BASED, request.mtu, request.mps, limits
        )
        if result is not CreditReconfigureResult.SUCCESS:
            return refuse(f"not allowed: {result.name.lower().replace('_', ' ')}", result)
        # While the request is under way, accept both what we had and what we asked for.
        for ccb in open_ccbs:
            assert ccb.engine is not None
            grown = ccb.engine.set_local_limits(request.mtu, max(request.mps, ccb.engine.local_mps))
            self._apply(lcb, ccb, grown, now)
        command = CreditBasedReconfigureRequest(
            request.mtu, request.mps, tuple(ccb.remote_cid for ccb in open_ccbs)
        )
        reconfiguring = Reconfiguring(sender, request.token, request.cids, request.mtu, request.mps)
        sent = self._request(lcb, command, reconfiguring, now)
        return refuse("too many signaling requests pending") if sent is None else sent

    def _on_reconfigure_response(
        self, lcb: Lcb, identifier: int, response: CreditBasedReconfigureResponse, now: float
    ) -> Effects:
        request = self._settle(lcb, identifier, SignalingCode.CREDIT_BASED_RECONFIGURE_REQUEST)
        if not isinstance(request, Reconfiguring):
            return []
        effects: Effects = [CancelTimer(_timer(lcb.handle, identifier))]
        if response.result != CreditReconfigureResult.SUCCESS:
            error = f"the peer refused the reconfiguration (result 0x{response.result:04X})"
            return [*effects, Send(request.sender, L2caCnf(request.token, response.result, error))]
        for ccb in self._channels_of(lcb.handle, list(request.cids)):
            if ccb.engine is not None and ccb.state is CreditState.OPEN:
                effects += self._apply(
                    lcb, ccb, ccb.engine.set_local_limits(request.mtu, request.mps), now
                )
        return [*effects, Send(request.sender, L2caCnf(request.token))]

    def _on_reconfigure_request(
        self, lcb: Lcb, identifier: int, request: CreditBasedReconfigureRequest, now: float
    ) -> Effects:
        def answer(result: CreditReconfigureResult) -> Effects:
            self.signaling.send(lcb, identifier, CreditBasedReconfigureResponse(result))
            return []

        # The destination CIDs are the receiver's: ours (4.27).
        ccbs = [self.channel(lcb.handle, cid) for cid in request.destination_cids]
        engines = [
            ccb.engine
            for ccb in ccbs
            if ccb is not None
            and ccb.engine is not None
            and ccb.state is CreditState.OPEN
            and ccb.mode is CreditMode.ENHANCED_CREDIT_BASED
        ]
        if len(engines) != len(ccbs) or len(set(request.destination_cids)) != len(ccbs):
            return answer(CreditReconfigureResult.INVALID_DESTINATION_CID)
        result = reconfiguration_result(
            CreditMode.ENHANCED_CREDIT_BASED, request.mtu, request.mps,
            [(engine.remote_mtu, engine.remote_mps) for engine in engines],
        )  # fmt: skip
        answer(result)
        if result is not CreditReconfigureResult.SUCCESS:
            return []
        effects: Effects = []
        for ccb in ccbs:
            assert ccb is not None and ccb.engine is not None
            ccb.engine.set_remote_limits(request.mtu, request.mps)
            effects.append(
                Send(
                    ccb.owner,
                    L2caReconfigureInd(lcb.handle, ccb.local_cid, request.mtu, request.mps),
                )
            )
        return effects

    # -- disconnection (4.6, 4.7) --------------------------------------------------------------
    def disconnect(self, sender: str, request: L2caDisconnectReq, now: float) -> Effects:
        done: Effects = [Send(sender, L2caCnf(request.token))]
        lcb = self.links.get(request.handle)
        ccb = self.channel(request.handle, request.cid)
        if lcb is None or ccb is None:
            return done
        ccb.notified = True
        if ccb.state is CreditState.WAIT_DISCONNECT:
            ccb.disconnect_waiters.append((sender, request.token))
            return []
        if ccb.state is CreditState.OPEN:
            ccb.disconnect_waiters.append((sender, request.token))
            return self._send_disconnection(lcb, ccb, now)
        # Not open yet: a response that still comes is answered with a disconnection.
        self._release(lcb, ccb)
        return done

    def _send_disconnection(self, lcb: Lcb, ccb: CreditCcb, now: float) -> Effects:
        ccb.move(CreditEvent.DISCONNECT_REQUESTED)
        if ccb.engine is not None:
            ccb.engine.close()
        self.scheduler.forget_queue(lcb, ccb.tx)
        command = DisconnectionRequest(ccb.remote_cid, ccb.local_cid)
        sent = self._request(lcb, command, Disconnecting(ccb.local_cid), now)
        if sent is None:
            return self._closed(lcb, ccb)
        return sent

    def _fail_channel(self, lcb: Lcb, ccb: CreditCcb, reason: str, now: float) -> Effects:
        """The peer broke flow control: the owner hears why, and the channel is disconnected."""
        logger.warning("l2cap 0x%04X/0x%04X: %s", lcb.handle, ccb.local_cid, reason)
        effects = self._notify_closed(lcb, ccb, reason)
        if ccb.state is not CreditState.OPEN:
            return effects
        return effects + self._send_disconnection(lcb, ccb, now)

    def _notify_closed(
        self, lcb: Lcb, ccb: CreditCcb, reason: str, *, link_lost: bool = False
    ) -> Effects:
        if ccb.notified or ccb.state in (CreditState.CLOSED, CreditState.WAIT_INCOMING_SECURITY):
            return []
        ccb.notified = True
        return [Send(ccb.owner, L2caDisconnectInd(lcb.handle, ccb.local_cid, reason, link_lost))]

    def _closed(self, lcb: Lcb, ccb: CreditCcb) -> Effects:
        effects: Effects = [Send(s, L2caCnf(t)) for s, t in ccb.disconnect_waiters]
        ccb.disconnect_waiters.clear()
        self._release(lcb, ccb)
        return effects

    def _on_disconnect(
        self, lcb: Lcb, identifier: int, request: DisconnectionRequest, now: float
    ) -> Effects:
        ccb = self.channel(lcb.handle, request.destination_cid)
        assert ccb is not None
        if ccb.remote_cid != request.source_cid or not allowed(
            CREDIT_TRANSITIONS, ccb.state, CreditEvent.DISCONNECT_REQUEST_RECEIVED
        ):
            return []  # 4.6: a source CID that does not match is silently discarded
        self.signaling.send(
            lcb, identifier, DisconnectionResponse(request.destination_cid, request.source_cid)
        )
        effects = self._notify_closed(lcb, ccb, "the peer closed the channel")
        ccb.move(CreditEvent.DISCONNECT_REQUEST_RECEIVED)
        return effects + self._closed(lcb, ccb)

    def _on_disconnected(
        self, lcb: Lcb, identifier: int, response: DisconnectionResponse, now: float
    ) -> Effects:
        request = self._settle(lcb, identifier, SignalingCode.DISCONNECTION_REQUEST)
        if not isinstance(request, Disconnecting):
            return []
        effects: Effects = [CancelTimer(_timer(lcb.handle, identifier))]
        ccb = self.channel(lcb.handle, request.cid) if request.cid is not None else None
        if ccb is None or ccb.state is not CreditState.WAIT_DISCONNECT:
            return effects
        ccb.move(CreditEvent.DISCONNECT_RESPONSE_RECEIVED)
        return effects + self._closed(lcb, ccb)

    # -- rejects, timeouts, links --------------------------------------------------------------
    def _on_reject(self, lcb: Lcb, identifier: int, reject: CommandReject, now: float) -> Effects:
        lcb.pending.pop(identifier, None)
        request = self.requests.pop((lcb.handle, identifier))
        why = f"the peer rejected the request (reason 0x{reject.reason:04X})"
        return [CancelTimer(_timer(lcb.handle, identifier)), *self._failed(lcb, request, why, now)]

    def on_timeout(self, owner: RequestTimer, now: float) -> Effects:
        request = self.requests.pop((owner.handle, owner.identifier))
        lcb = self.links.get(owner.handle)
        if lcb is None:
            return []
        pending = lcb.pending.pop(owner.identifier, None)
        return self._failed(lcb, request, no_response(pending, now), now)

    def _failed(self, lcb: Lcb, request: Request, why: str, now: float) -> Effects:
        match request:
            case Opening():
                for ccb in self._waiting(lcb, request):
                    ccb.move(CreditEvent.TIMEOUT)
                return self._fail_opening(lcb, request, why)
            case Reconfiguring():
                # 4.27: channels whose reconfiguration went unanswered are disconnected.
                cnf = L2caCnf(request.token, LOCAL_REFUSAL, why)
                effects: Effects = [Send(request.sender, cnf)]
                for ccb in self._channels_of(lcb.handle, list(request.cids)):
                    effects += self._fail_channel(lcb, ccb, f"reconfiguration failed: {why}", now)
                return effects
            case Disconnecting(cid=cid):
                closing = self.channel(lcb.handle, cid) if cid is not None else None
                if closing is None or closing.state is not CreditState.WAIT_DISCONNECT:
                    return []
                closing.move(CreditEvent.TIMEOUT)
                return self._closed(lcb, closing)
        return []

    def _release(self, lcb: Lcb, ccb: CreditCcb) -> None:
        if ccb.engine is not None:
            ccb.engine.close()
        self.scheduler.forget_queue(lcb, ccb.tx)
        lcb.credit_channels.pop(ccb.local_cid, None)

    def link_closed(self, lcb: Lcb, reason: str) -> Effects:
        """Every credit-based channel and request of a link that went down ends."""
        effects: Effects = []
        for key in [key for key in self.requests if key[0] == lcb.handle]:
            request = self.requests.pop(key)
            effects.append(CancelTimer(_timer(lcb.handle, key[1])))
            lcb.pending.pop(key[1], None)
            if isinstance(request, Opening):
                cnf = L2caCreditConnectCnf(request.token, lcb.handle, LOCAL_REFUSAL, error=reason)
                for ccb in self._channels_of(lcb.handle, request.cids):
                    ccb.notified = True
                effects.append(Send(request.sender, cnf))
            elif isinstance(request, Reconfiguring):
                effects.append(Send(request.sender, L2caCnf(request.token, LOCAL_REFUSAL, reason)))
        for token, (handle, waiter) in list(self.security_waits.items()):
            if handle == lcb.handle:
                del self.security_waits[token]
                if isinstance(waiter, Opening):
                    cnf = L2caCreditConnectCnf(waiter.token, handle, LOCAL_REFUSAL, error=reason)
                    for ccb in self._channels_of(handle, waiter.cids):
                        ccb.notified = True
                    effects.append(Send(waiter.sender, cnf))
        closing = list(lcb.credit_channels.values())
        lcb.credit_channels.clear()
        for ccb in closing:
            effects += self._notify_closed(lcb, ccb, reason, link_lost=True)
            effects += [Send(s, L2caCnf(t)) for s, t in ccb.disconnect_waiters]
            ccb.move(CreditEvent.LINK_CLOSED)
            if ccb.engine is not None:
                ccb.engine.close()
        return effects


class _Also:
    """The CIDs a link's channels use, and those taken a moment ago for the same request."""

    def __init__(self, lcb: Lcb, taken: list[int]) -> None:
        self.used = lcb.used_cids()
        self.taken = taken

    def __contains__(self, cid: object) -> bool:
        return cid in self.taken or cid in self.used


def _timer(handle: int, identifier: int) -> TimerKey:
    return TimerKey(RequestTimer(handle, identifier), RTX)


def _valid_spsm(transport: LinkTransport, spsm: int) -> bool:
    """LE SPSMs are 0x0001-0x00FF (4.22); on BR/EDR an enhanced channel names a PSM (4.2)."""
    return is_valid_le_spsm(spsm) if transport is LinkTransport.LE else is_valid_psm(spsm)


def security_result(
    confirm: LinkSecurityCnf, requirement: SecurityRequirement | None
) -> LeCreditConnectionResult:
    """The refusal (same values in 4.23 and 4.26) for a link that does not meet the security
    of a registration: too short a key, no encryption, or no authentication.

    An LE link is judged by the strength of the key encrypting it (``confirm.strength``;
    LE has no link key type): a key shorter than required is "key size too short", one
    without the MITM protection or Secure Connections asked for is "insufficient
    authentication", and a key that meets both yet does not serve is "insufficient
    encryption". A BR/EDR link, or an LE link not encrypted, by its key type and size."""
    strength = confirm.strength
    if strength is not None and requirement is not None:
        if strength.key_size < requirement.min_key_size:
            return LeCreditConnectionResult.ENCRYPTION_KEY_SIZE_TOO_SHORT
        if (requirement.mitm and not strength.authenticated) or (
            requirement.secure_connections and not strength.secure_connections
        ):
            return LeCreditConnectionResult.INSUFFICIENT_AUTHENTICATION
        return LeCreditConnectionResult.INSUFFICIENT_ENCRYPTION
    short = confirm.key_size is not None and requirement is not None
    if short and confirm.key_size < requirement.min_key_size:  # type: ignore[operator,union-attr]
        return LeCreditConnectionResult.ENCRYPTION_KEY_SIZE_TOO_SHORT
    if requirement is not None and requirement.encryption and confirm.key_type is not None:
        return LeCreditConnectionResult.INSUFFICIENT_ENCRYPTION
    return LeCreditConnectionResult.INSUFFICIENT_AUTHENTICATION


def _le_result(result: int) -> str:
    return _named(LeCreditConnectionResult, result)


def _enhanced_result(result: int) -> str:
    return _named(CreditConnectionResult, result)


def _named(kind: Any, result: int) -> str:
    name = kind._value2member_map_.get(result)
    described = name.name.lower().replace("_", " ") if name is not None else "unknown result"
    return f"{described} (0x{result:04X})"
