"""The RFCOMM multiplexer: its L2CAP channel to PSM 0x0003, its state machine
(:data:`~bluetrio.actors.rfcomm.states.MUX_TRANSITIONS`), DLCI 0 and the multiplexer commands
(TS 07.10 5.4.6.3), the frames it routes to its DLCs, and connection collisions.

A collision (both devices open RFCOMM's L2CAP channel at once) is resolved as Bluedroid does
it: the peer's request is held (``pending_cid``) while ours waits for an answer; if the peer
refuses ours, we take its channel; if it accepts ours, we refuse its channel (no resources);
if neither happens within a random 2-12 s, we give ours up and take its channel. When both
back-offs run out within one round trip, both sides yield: each takes the other's channel and
drops its own, so both channels close before a multiplexer opens. The side that yielded then
retries once, after a new random back-off, as a plain connection (the DLCs waiting are kept),
and while it waits it accepts the peer's own retry; the two back-offs differ, so one retry
meets the other side waiting.
"""

from __future__ import annotations

import logging
import random

from bluetrio.actors.effects import (
    CancelTimer,
    Effects,
    Emit,
    ReleaseTimers,
    Send,
    StartTimer,
    TimerKey,
)
from bluetrio.actors.rfcomm.control_blocks import (
    COLLISION_BACKOFF,
    IDLE_TIMEOUT,
    L2CAP_MTU,
    MAX_PARKED_DLCS,
    MAX_PENDING_COMMANDS,
    MUX_DISC_WAIT,
    PEER_PAIRING_WAIT,
    T1,
    T2,
    TEST_TIMER,
    Dlc,
    DlcTimer,
    Mcb,
    MuxTimer,
)
from bluetrio.actors.rfcomm.dlcs import DlcProcedures
from bluetrio.actors.rfcomm.frames_out import (
    command,
    multiplexer_message,
    raw_multiplexer_message,
    response,
)
from bluetrio.actors.rfcomm.states import (
    MUX_TRANSITIONS,
    MUX_UNEXPECTED,
    DlcEvent,
    DlcState,
    MuxEvent,
    MuxState,
)
from bluetrio.errors import DecodeError
from bluetrio.messages.l2cap import ConnectionResult
from bluetrio.messages.l2cap_service import (
    L2caConfigInd,
    L2caConnectCnf,
    L2caConnectInd,
    L2caConnectReq,
    L2caConnectRsp,
    L2caDataCnf,
    L2caDataInd,
    L2caDisconnectInd,
    L2caDisconnectReq,
)
from bluetrio.messages.rfcomm import (
    MAX_FRAME_SIZE,
    MAX_SERVER_CHANNEL,
    MIN_SERVER_CHANNEL,
    PSM,
    CommandType,
    Frame,
    FrameType,
    ModemStatusCommand,
    MultiplexerCommand,
    ParameterNegotiation,
    RemoteLineStatus,
    RemotePortNegotiation,
    check_empty,
    decode_commands,
    decode_frame_fields,
    non_supported,
)
from bluetrio.messages.rfcomm_service import (
    RfcommCnf,
    RfcommConnectCnf,
    RfcommConnectReq,
    RfcommDataCnf,
    RfcommMultiplexerClosedInd,
    RfcommMultiplexerCloseReq,
    RfcommTestReq,
)

logger = logging.getLogger(__name__)

# The most a Test command carries: its frame on DLCI 0 keeps to the default N1 of 127
# (TS 07.10 5.7.2), less the command's type and length octets.
MAX_TEST_DATA = 125

_FRAME_EVENTS = {
    FrameType.SABM: MuxEvent.SABME,
    FrameType.UA: MuxEvent.UA,
    FrameType.DM: MuxEvent.DM,
    FrameType.DISC: MuxEvent.DISC,
    FrameType.UIH: MuxEvent.UIH,
}


class Multiplexers:
    """Every link's multiplexer."""

    def __init__(self, muxes: dict[int, Mcb], dlcs: DlcProcedures, rng: random.Random) -> None:
        self.muxes = muxes
        self.dlcs = dlcs
        self._rng = rng
        self._abandoned: set[int] = set()  # our L2CAP requests given up in a collision
        self.discarded = 0  # SDUs that were no frame, or had a bad FCS (logged)
        dlcs.close_multiplexer = self._close_down

    def new_token(self) -> int:
        return self.dlcs.new_token()

    def move(self, mcb: Mcb, event: MuxEvent) -> bool:
        following = MUX_TRANSITIONS.get((mcb.state, event))
        if following is None:
            log = logger.warning if (mcb.state, event) in MUX_UNEXPECTED else logger.debug
            log("rfcomm 0x%04X: multiplexer %s ignored in %s", mcb.handle, event, mcb.state)
            return False
        mcb.state = following
        return True

    # -- opening -------------------------------------------------------------------------------
    def connect(self, sender: str, request: RfcommConnectReq, now: float) -> Effects:
        def refuse(error: str) -> Effects:
            return [Send(sender, RfcommConnectCnf(request.token, request.handle, error=error))]

        if not MIN_SERVER_CHANNEL <= request.channel <= MAX_SERVER_CHANNEL:
            return refuse(f"server channel {request.channel} is not 1..30")
        if not 0 < request.frame_size <= MAX_FRAME_SIZE:
            return refuse(f"frame size {request.frame_size} is not 1..{MAX_FRAME_SIZE}")
        mcb = self.muxes.get(request.handle)
        if mcb is None:
            mcb = self.muxes[request.handle] = Mcb(request.handle, initiator=True)
        if mcb.dlc_count() >= MAX_PARKED_DLCS:
            return refuse("every DLC of this multiplexer is in use")
        dlc = Dlc(
            request.channel,
            sender,
            connect_token=request.token,
            requested_frame_size=request.frame_size,
        )
        self.dlcs.move(mcb, dlc, DlcEvent.OPEN_REQ)
        mcb.waiting.append(dlc)
        match mcb.state:
            case MuxState.IDLE if mcb.retrying:
                return []  # the collision's retry takes this DLC along
            case MuxState.IDLE:
                return self._start(mcb)
            case MuxState.CONNECTED:
                self.move(mcb, MuxEvent.START_REQ)
                return [CancelTimer(mcb.timer), *self._start_waiting(mcb, now)]
            case MuxState.DISC_WAIT_UA:
                self.move(mcb, MuxEvent.START_REQ)
                mcb.restart = True
        return []  # the multiplexer is opening: the DLC starts once it is up

    def _start(self, mcb: Mcb) -> Effects:
        self.move(mcb, MuxEvent.START_REQ)
        return self._request_channel(mcb)

    def _request_channel(self, mcb: Mcb) -> Effects:
        """Our L2CAP Connection Request to PSM 0x0003."""
        mcb.initiator = True
        mcb.connect_token = self.new_token()
        return [Emit(L2caConnectReq(mcb.connect_token, mcb.handle, PSM, L2CAP_MTU))]

    def _start_waiting(self, mcb: Mcb, now: float) -> Effects:
        effects: Effects = []
        waiting, mcb.waiting = mcb.waiting, []
        for dlc in waiting:
            effects += self.dlcs.start(mcb, dlc, now)
        return effects

    def on_connect_indication(self, indication: L2caConnectInd, now: float) -> Effects:
        handle, cid = indication.handle, indication.cid
        mcb = self.muxes.get(handle)
        if mcb is None:
            mcb = self.muxes[handle] = Mcb(handle, initiator=False)
            return self._accept(mcb, cid, now)
        if mcb.state is MuxState.IDLE and mcb.retrying:
            # The peer retried first: its channel is the one (our DLCs start on its SABM).
            mcb.retrying = False
            return self._accept(mcb, cid, now)
        if mcb.state is MuxState.WAIT_CONN_CNF and mcb.pending_cid is None:
            # A collision: hold the peer's channel until ours is answered or we back off.
            mcb.pending_cid = cid
            backoff = self._rng.uniform(*COLLISION_BACKOFF)
            logger.info("rfcomm 0x%04X: both sides open RFCOMM; waiting %.1f s", handle, backoff)
            return [StartTimer(mcb.timer, now + backoff)]
        # One multiplexer per link (RFCOMM 1.2 5.2).
        return [Emit(L2caConnectRsp(handle, cid, ConnectionResult.NO_RESOURCES))]

    def _accept(self, mcb: Mcb, cid: int, now: float) -> Effects:
        self.move(mcb, MuxEvent.CONN_IND)
        mcb.initiator = False
        mcb.cid = cid
        return [
            Emit(L2caConnectRsp(mcb.handle, cid, ConnectionResult.SUCCESS)),
            StartTimer(mcb.timer, now + PEER_PAIRING_WAIT),
        ]

    def on_connect_confirm(self, confirm: L2caConnectCnf, now: float) -> Effects:
        mcb = next((m for m in self.muxes.values() if m.connect_token == confirm.token), None)
        if mcb is None:
            if confirm.token in self._abandoned:
                self._abandoned.discard(confirm.token)
                if confirm.result == 0:  # ours, given up for the peer's: not needed
                    return [Emit(L2caDisconnectReq(self.new_token(), confirm.handle, confirm.cid))]
            return []
        mcb.connect_token = None
        if confirm.result != 0 or confirm.parameters is None:
            self.move(mcb, MuxEvent.DISC_IND)
            if mcb.pending_cid is not None:  # the peer insists on its channel: take it
                cid, mcb.pending_cid = mcb.pending_cid, None
                return [CancelTimer(mcb.timer), *self._accept(mcb, cid, now)]
            reason = confirm.error or f"L2CAP result 0x{confirm.result:04X}"
            return self.release(mcb, f"RFCOMM's L2CAP channel was refused: {reason}")
        effects: Effects = [CancelTimer(mcb.timer)]
        if mcb.pending_cid is not None:  # the peer accepted ours: refuse its own
            effects.append(
                Emit(L2caConnectRsp(mcb.handle, mcb.pending_cid, ConnectionResult.NO_RESOURCES))
            )
            mcb.pending_cid = None
        mcb.cid = confirm.cid
        mcb.peer_mtu = confirm.parameters.peer_mtu
        self.move(mcb, MuxEvent.CONN_CNF)
        self.move(mcb, MuxEvent.CONF_CNF)
        effects += [command(mcb, FrameType.SABM, 0), StartTimer(mcb.timer, now + T1)]
        return effects

    def on_configured(self, indication: L2caConfigInd, now: float) -> Effects:
        mcb = self.muxes.get(indication.handle)
        if mcb is None or mcb.cid != indication.cid:
            return [Emit(L2caDisconnectReq(self.new_token(), indication.handle, indication.cid))]
        if not self.move(mcb, MuxEvent.CONF_IND):
            return []
        if mcb.state is MuxState.IDLE:  # configured again: not supported
            return self.release(mcb, "RFCOMM's L2CAP channel was configured again")
        if mcb.state is MuxState.WAIT_SABME:
            mcb.peer_mtu = indication.parameters.peer_mtu
            return [StartTimer(mcb.timer, now + PEER_PAIRING_WAIT)]
        return []

    # -- closing -------------------------------------------------------------------------------
    def on_disconnected(self, indication: L2caDisconnectInd, now: float) -> Effects:
        mcb = self.muxes.get(indication.handle)
        if mcb is None:
            return []
        if mcb.pending_cid == indication.cid:
            mcb.pending_cid = None
            return []
        if mcb.cid != indication.cid:
            return []
        before = mcb.state
        self.move(mcb, MuxEvent.DISC_IND)
        mcb.cid = 0  # gone: nothing to disconnect
        crossed = before in (MuxState.CONFIGURE, MuxState.WAIT_SABME) and mcb.yielded
        if crossed and mcb.may_retry and mcb.waiting and not indication.link_lost:
            return self._retry(mcb, now)
        return self.release(mcb, indication.reason, link_lost=indication.link_lost)

    def _retry(self, mcb: Mcb, now: float) -> Effects:
        """Both sides yielded in a collision, so the channel we took is gone: wait a new
        random back-off, then connect again (accepting the peer's retry meanwhile)."""
        backoff = self._rng.uniform(*COLLISION_BACKOFF)
        logger.info(
            "rfcomm 0x%04X: both sides gave way in the collision; retrying in %.1f s",
            mcb.handle, backoff,
        )  # fmt: skip
        mcb.yielded = mcb.may_retry = False
        mcb.retrying = True
        mcb.initiator = True
        return [StartTimer(mcb.timer, now + backoff)]

    def release(
        self, mcb: Mcb, reason: str, *, link_lost: bool = False, disconnect: bool = True
    ) -> Effects:
        """Close the multiplexer: every DLC ends with ``reason`` and the L2CAP channel is
        disconnected (unless it is gone already)."""
        if self.muxes.get(mcb.handle) is mcb:
            del self.muxes[mcb.handle]
        mcb.state = MuxState.IDLE
        logger.info("rfcomm 0x%04X: multiplexer closed: %s", mcb.handle, reason)
        effects: Effects = [CancelTimer(mcb.timer)]
        for dlc in [*mcb.dlcs.values(), *mcb.waiting]:
            effects += self.dlcs.mux_down(mcb, dlc, reason, link_lost)
        mcb.dlcs.clear()
        mcb.waiting.clear()
        if mcb.connect_token is not None:
            self._abandoned.add(mcb.connect_token)
        if mcb.pending_cid is not None:
            effects.append(
                Emit(L2caConnectRsp(mcb.handle, mcb.pending_cid, ConnectionResult.NO_RESOURCES))
            )
        if disconnect and mcb.cid:
            effects.append(Emit(L2caDisconnectReq(self.new_token(), mcb.handle, mcb.cid)))
        effects += [Send(actor, RfcommCnf(token)) for actor, token in mcb.close_waiters]
        effects += [
            Send(actor, RfcommMultiplexerClosedInd(mcb.handle)) for actor in mcb.close_watchers
        ]
        effects += [Send(actor, RfcommCnf(token, reason)) for actor, token, _ in mcb.tests]
        effects.append(ReleaseTimers(MuxTimer(mcb.handle)))
        mcb.close_waiters.clear()
        mcb.tests.clear()
        return effects

    def _close_down(self, mcb: Mcb, now: float) -> Effects:
        """CLOSE_REQ: DISC on DLCI 0, answered by UA (or given up after a while)."""
        self.move(mcb, MuxEvent.CLOSE_REQ)
        return [command(mcb, FrameType.DISC, 0), StartTimer(mcb.timer, now + MUX_DISC_WAIT)]

    def close_request(self, sender: str, request: RfcommMultiplexerCloseReq, now: float) -> Effects:
        """The application lets the multiplexer go (its link is about to be disconnected)."""
        mcb = self.muxes.get(request.handle)
        if mcb is None:
            return [Send(sender, RfcommCnf(request.token))]
        if self.dlcs.active(mcb):
            mcb.close_watchers.add(sender)  # told when it closes after them
            error = "DLCs still use the multiplexer"
            return [Send(sender, RfcommCnf(request.token, error))]
        mcb.close_waiters.append((sender, request.token))
        match mcb.state:
            case MuxState.CONNECTED:
                return self._close_down(mcb, now)
            case MuxState.DISC_WAIT_UA:
                return []
        # Opening with no DLC to carry (the peer's L2CAP channel, or ours for DLCs that went).
        return self.release(mcb, "closed: its link is let go")

    def _closed_by_us(self, mcb: Mcb, now: float) -> Effects:
        """Our DISC on DLCI 0 was answered (or T1 ran out): disconnect L2CAP, and open again
        if a DLC asked meanwhile."""
        waiting = mcb.waiting if mcb.restart else []
        mcb.waiting = []
        effects = self.release(mcb, "the multiplexer closed")
        if waiting:
            again = self.muxes[mcb.handle] = Mcb(mcb.handle, initiator=True, waiting=waiting)
            effects += self._start(again)
        return effects

    # -- timers --------------------------------------------------------------------------------
    def on_timer(self, key: TimerKey, now: float) -> Effects:
        owner = key.owner
        if isinstance(owner, DlcTimer):
            mcb = self.muxes.get(owner.handle)
            return self.dlcs.on_timer(mcb, owner.dlci, key.name, now) if mcb is not None else []
        if not isinstance(owner, MuxTimer):
            return []
        mcb = self.muxes.get(owner.handle)
        if mcb is None:
            return []
        if key.name == TEST_TIMER:
            return self._test_expired(mcb, now)
        before = mcb.state
        if before is MuxState.CONNECTED and self.dlcs.active(mcb):
            return []  # a DLC came since the idle timer started
        if not self.move(mcb, MuxEvent.TIMEOUT):
            return []
        match before:
            case MuxState.WAIT_CONN_CNF:
                # The collision back-off ran out: give ours up and take the peer's channel.
                if mcb.connect_token is not None:
                    self._abandoned.add(mcb.connect_token)
                    mcb.connect_token = None
                if mcb.pending_cid is None:
                    return self.release(mcb, "no answer to RFCOMM's L2CAP channel")
                cid, mcb.pending_cid = mcb.pending_cid, None
                mcb.yielded = True
                return self._accept(mcb, cid, now)
            case MuxState.IDLE:  # the collision's retry
                mcb.retrying = False
                return self._request_channel(mcb)
            case MuxState.CONFIGURE | MuxState.WAIT_SABME:
                return self.release(mcb, f"no SABM within {PEER_PAIRING_WAIT:g} s")
            case MuxState.SABME_WAIT_UA:
                return self.release(mcb, "the peer did not answer SABM within T1")
            case MuxState.CONNECTED:  # idle: DISC on DLCI 0
                return [command(mcb, FrameType.DISC, 0), StartTimer(mcb.timer, now + MUX_DISC_WAIT)]
        return self._closed_by_us(mcb, now)  # DISC_WAIT_UA

    # -- frames --------------------------------------------------------------------------------
    def on_sdu(self, indication: L2caDataInd, now: float) -> Effects:
        mcb = self.muxes.get(indication.handle)
        sdu = indication.sdu
        if mcb is None or not mcb.cid or mcb.cid != indication.cid or not sdu:
            return []
        dlc = mcb.dlcs.get(sdu[0] >> 2)
        try:
            fields = decode_frame_fields(
                sdu, credit_based=dlc.credit_based if dlc is not None else True
            )
        except DecodeError as error:
            # TS 07.10 5.2.1.6: a frame with a bad FCS (or no frame at all) is discarded.
            self.discarded += 1
            log = logger.warning if self.discarded <= 16 else logger.debug
            log("rfcomm 0x%04X: discarded %d octets: %s", mcb.handle, len(sdu), error)
            return []
        frame_type, dlci, _, _, information, credits = fields
        if (
            frame_type is FrameType.UIH
            and dlci
            and dlc is not None
            and dlc.state is DlcState.OPEN
            and mcb.state is MuxState.CONNECTED
        ):  # the data path: no Frame built
            return self.dlcs.on_data(mcb, dlc, information, credits, now)
        frame = Frame(*fields)
        if frame.dlci == 0:
            return self._on_control_frame(mcb, frame, now)
        if mcb.state is MuxState.CONNECTED:
            return self.dlcs.on_frame(mcb, frame, now)
        if frame.type in (FrameType.SABM, FrameType.DISC, FrameType.UIH):
            return [response(mcb, FrameType.DM, frame.dlci, frame.type is not FrameType.UIH)]
        return []

    def _on_control_frame(self, mcb: Mcb, frame: Frame, now: float) -> Effects:
        before = mcb.state
        if not self.move(mcb, _FRAME_EVENTS[frame.type]):
            return []
        match frame.type, before:
            case FrameType.SABM, _:  # WAIT_SABME: the peer opened the multiplexer
                effects: Effects = [CancelTimer(mcb.timer), response(mcb, FrameType.UA, 0)]
                if mcb.waiting:
                    return effects + self._start_waiting(mcb, now)
                return [*effects, StartTimer(mcb.timer, now + IDLE_TIMEOUT)]
            case FrameType.UA, MuxState.SABME_WAIT_UA:
                effects = [CancelTimer(mcb.timer), *self._start_waiting(mcb, now)]
                if not self.dlcs.active(mcb):
                    effects.append(StartTimer(mcb.timer, now + IDLE_TIMEOUT))
                return effects
            case FrameType.UA | FrameType.DM, MuxState.DISC_WAIT_UA:
                return self._closed_by_us(mcb, now)
            case FrameType.DM, _:
                return self.release(mcb, "the peer refused the multiplexer (DM)")
            case FrameType.DISC, MuxState.CONNECTED:
                effects = [response(mcb, FrameType.UA, 0)]
                return effects + self.release(mcb, "the peer closed the multiplexer")
            case FrameType.DISC, MuxState.DISC_WAIT_UA:
                return [response(mcb, FrameType.UA, 0)]
            case FrameType.DISC | FrameType.UIH, _ if before is not MuxState.CONNECTED:
                return [response(mcb, FrameType.DM, 0, frame.type is FrameType.DISC)]
            case FrameType.UIH, _:
                return self._on_commands(mcb, frame.information, now)
        return []

    def _on_commands(self, mcb: Mcb, information: bytes, now: float) -> Effects:
        try:
            commands = decode_commands(information)
        except DecodeError as error:
            self.discarded += 1
            logger.warning("rfcomm 0x%04X: discarded multiplexer frame: %s", mcb.handle, error)
            return []
        effects: Effects = []
        for item in commands:
            if mcb.state is not MuxState.CONNECTED:
                break  # a close down ended it
            try:
                effects += self._on_command(mcb, item, now)
            except DecodeError as error:
                self.discarded += 1
                logger.warning(
                    "rfcomm 0x%04X: discarded multiplexer command: %s", mcb.handle, error
                )
        return effects

    def _on_command(self, mcb: Mcb, item: MultiplexerCommand, now: float) -> Effects:
        value = item.value
        dlcs = self.dlcs
        match item.kind, item.command:
            case CommandType.PN, True:
                return dlcs.on_pn_command(mcb, ParameterNegotiation.decode(value), now)
            case CommandType.PN, False:
                return dlcs.on_pn_response(mcb, ParameterNegotiation.decode(value), now)
            case CommandType.MSC, True:
                return dlcs.on_msc_command(mcb, ModemStatusCommand.decode(value), now)
            case CommandType.MSC, False:
                return dlcs.on_msc_response(mcb, ModemStatusCommand.decode(value), now)
            case CommandType.RPN, True:
                return dlcs.on_rpn_command(mcb, RemotePortNegotiation.decode(value))
            case CommandType.RPN, False:
                return dlcs.on_rpn_response(mcb, RemotePortNegotiation.decode(value), now)
            case CommandType.RLS, True:
                return dlcs.on_rls_command(mcb, RemoteLineStatus.decode(value))
            case CommandType.RLS, False:
                return dlcs.on_rls_response(mcb, RemoteLineStatus.decode(value), now)
            case CommandType.TEST, True:
                self.move(mcb, MuxEvent.TEST_CMD)
                return [multiplexer_message(mcb, CommandType.TEST, False, value)]
            case CommandType.TEST, False:
                self.move(mcb, MuxEvent.TEST_RSP)
                return self._test_answered(mcb, value, now)
            case CommandType.FCON, True:
                check_empty(CommandType.FCON, value)
                self.move(mcb, MuxEvent.FCON_CMD)
                mcb.flow_off = False
                answer_on = multiplexer_message(mcb, CommandType.FCON, False, b"")
                return [answer_on, *dlcs.pump_all(mcb, now)]
            case CommandType.FCOFF, True:
                check_empty(CommandType.FCOFF, value)
                self.move(mcb, MuxEvent.FCOFF_CMD)
                mcb.flow_off = True
                return [multiplexer_message(mcb, CommandType.FCOFF, False, b"")]
            case CommandType.NSC, False:
                self.move(mcb, MuxEvent.NSC_RSP)
                logger.info("rfcomm 0x%04X: the peer does not support %s", mcb.handle, value.hex())
                return []
            case CommandType.CLD, True:
                check_empty(CommandType.CLD, value)
                effects: Effects = [multiplexer_message(mcb, CommandType.CLD, False, b"")]
                return effects + self.release(mcb, "the peer closed the multiplexer down (CLD)")
            case _, True:
                self.move(mcb, MuxEvent.NSC)
                return [raw_multiplexer_message(mcb, non_supported(item))]
        return []  # a response to nothing we asked

    # -- Test (TS 07.10 5.4.6.3.4) ----------------------------------------------------------------
    def ping(self, sender: str, request: RfcommTestReq, now: float) -> Effects:
        mcb = self.muxes.get(request.handle)

        def refuse(error: str) -> Effects:
            return [Send(sender, RfcommCnf(request.token, error))]

        if mcb is None or mcb.state is not MuxState.CONNECTED:
            return refuse("the multiplexer is not connected")
        if not 0 < len(request.data) <= MAX_TEST_DATA:
            return refuse(f"{len(request.data)} octets of Test data, not 1..{MAX_TEST_DATA}")
        if len(mcb.tests) >= MAX_PENDING_COMMANDS:
            return refuse(f"{MAX_PENDING_COMMANDS} Test commands await their responses")
        effects: Effects = [multiplexer_message(mcb, CommandType.TEST, True, request.data)]
        if not mcb.tests:
            effects.append(StartTimer(mcb.test_timer, now + T2))
        mcb.tests.append((sender, request.token, request.data))
        return effects

    def _test_answered(self, mcb: Mcb, data: bytes, now: float) -> Effects:
        """The response to our Test command carrying ``data`` (the oldest one, if several)."""
        found = next((t for t in mcb.tests if t[2] == data), None)
        if found is None:
            logger.info("rfcomm 0x%04X: a Test response matches no command", mcb.handle)
            return []
        mcb.tests.remove(found)
        effects: Effects = [Send(found[0], RfcommCnf(found[1]))]
        timer = mcb.test_timer
        effects.append(StartTimer(timer, now + T2) if mcb.tests else CancelTimer(timer))
        return effects

    def _test_expired(self, mcb: Mcb, now: float) -> Effects:
        if not mcb.tests:
            return []
        actor, token, _ = mcb.tests.popleft()
        effects: Effects = [Send(actor, RfcommCnf(token, "no Test response within T2"))]
        if mcb.tests:
            effects.append(StartTimer(mcb.test_timer, now + T2))
        return effects

    # -- the data path -------------------------------------------------------------------------
    def on_sent(self, confirm: L2caDataCnf, now: float) -> Effects:
        mcb = self.muxes.get(confirm.handle)
        if mcb is None or mcb.cid != confirm.cid:
            return []
        counts: dict[int, int] = {}
        in_flight = mcb.in_flight
        for _ in range(min(confirm.count, len(in_flight))):
            tag = in_flight.popleft()
            if tag > 0:
                counts[tag] = counts.get(tag, 0) + 1
        effects: Effects = []
        for dlci, count in counts.items():
            dlc = mcb.dlcs.get(dlci)
            if dlc is not None:
                effects.append(Send(dlc.owner, RfcommDataCnf(mcb.handle, dlci, count)))
        return effects + self.dlcs.pump_all(mcb, now)
