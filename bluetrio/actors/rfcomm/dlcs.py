"""The DLCs of the RFCOMM core: PN, SABM/UA, DISC/UA and DM (RFCOMM 1.2 5.2-5.5, TS 07.10
5.3), MSC, the data path with credit-based flow control (RFCOMM 1.2 6.5) or, without
credits, MSC's FC bit (6.4), and btm's security check before an incoming DLC opens (6.3)."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

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
    ACCEPT_WAIT,
    CREDIT_RETURN_BATCH,
    IDLE_TIMEOUT,
    INITIAL_CREDITS,
    L2CAP_WINDOW,
    MAX_PARKED_DLCS,
    MAX_PENDING_COMMANDS,
    MAX_SEND_QUEUE,
    MSC_TIMER,
    RECEIVE_WINDOW,
    RLS_TIMER,
    RPN_TIMER,
    T1,
    T2,
    Dlc,
    DlcTimer,
    Mcb,
)
from bluetrio.actors.rfcomm.frames_out import command, multiplexer_message, response, transmit
from bluetrio.actors.rfcomm.states import DLC_TRANSITIONS, DlcEvent, DlcState, MuxState
from bluetrio.messages.btm_security import LinkSecurityCnf, LinkSecurityReq, SecurityRequirement
from bluetrio.messages.rfcomm import (
    CREDIT_ACCEPT,
    CREDIT_REQUEST,
    DEFAULT_FRAME_SIZE,
    MAX_BREAK_LENGTH,
    MODEM_FLOW,
    CommandType,
    Frame,
    FrameType,
    LineStatus,
    ModemStatusCommand,
    ParameterNegotiation,
    PortParameter,
    PortSettings,
    RemoteLineStatus,
    RemotePortNegotiation,
    break_octet,
    encode_frame,
    server_channel_dlci,
)
from bluetrio.messages.rfcomm_service import (
    RfcommCnf,
    RfcommConnectCnf,
    RfcommConnectInd,
    RfcommConnectRsp,
    RfcommDataCnf,
    RfcommDataInd,
    RfcommDataReq,
    RfcommDataRsp,
    RfcommDisconnectInd,
    RfcommDisconnectReq,
    RfcommLineStatusInd,
    RfcommLineStatusReq,
    RfcommModemStatusInd,
    RfcommModemStatusReq,
    RfcommPortCnf,
    RfcommPortInd,
    RfcommPortReq,
    frame_count,
)

logger = logging.getLogger(__name__)

DEFAULT_PRIORITY = 7  # PN priority of a data DLC (TS 07.10 5.6: 0 highest, 63 lowest)
MAX_SEND_CREDITS = 0xFFFF  # credits the peer may pile up for us; more are not counted

Servers = dict[int, tuple[str, SecurityRequirement | None]]


class DlcProcedures:
    """Everything that happens to one DLC, given its multiplexer."""

    def __init__(self, muxes: dict[int, Mcb], servers: Servers) -> None:
        self._muxes = muxes
        self._servers = servers
        self._security_waits: dict[int, tuple[int, int]] = {}  # token -> (handle, dlci)
        self._token = 0
        self.discarded = 0  # frames dropped because they broke the rules (logged)
        # The multiplexer's close down once we closed its last DLC (set by the multiplexer).
        self.close_multiplexer: Callable[[Mcb, float], Effects] = lambda mcb, now: []

    def new_token(self) -> int:
        self._token += 1
        return self._token

    def move(self, mcb: Mcb, dlc: Dlc, event: DlcEvent) -> bool:
        following = DLC_TRANSITIONS.get((dlc.state, event))
        if following is None:
            logger.info(
                "rfcomm 0x%04X DLC %d: %s ignored in %s", mcb.handle, dlc.dlci, event, dlc.state
            )
            return False
        dlc.state = following
        return True

    # -- opening ---------------------------------------------------------------------------------
    def start(self, mcb: Mcb, dlc: Dlc, now: float) -> Effects:
        """The multiplexer is up: negotiate the DLC to the peer's server channel (PN)."""
        dlci = server_channel_dlci(dlc.channel, not mcb.initiator)
        if dlci in mcb.dlcs:
            dlc.state = DlcState.CLOSED
            return self._fail(mcb, dlc, f"a DLC to server channel {dlc.channel} is already open")
        dlc.dlci = dlci
        mcb.dlcs[dlci] = dlc
        self.move(mcb, dlc, DlcEvent.MUX_UP)
        dlc.frame_size = min(dlc.requested_frame_size, mcb.max_frame_size)
        pn = ParameterNegotiation.build(
            dlci,
            frame_size=dlc.frame_size,
            priority=DEFAULT_PRIORITY,
            credit_flow=CREDIT_REQUEST,
            credits=INITIAL_CREDITS,
        )
        return [
            multiplexer_message(mcb, CommandType.PN, True, pn.encode_fields()),
            StartTimer(dlc_timer(mcb, dlci), now + T2),
        ]

    def _fail(self, mcb: Mcb, dlc: Dlc, error: str) -> Effects:
        """Tell the opener its DLC will not open."""
        token, dlc.connect_token = dlc.connect_token, None
        if token is None:
            return []
        return [Send(dlc.owner, RfcommConnectCnf(token, mcb.handle, error=error))]

    def _agree_credits(self, dlc: Dlc, credit_based: bool, peer_initial: int) -> None:
        dlc.credit_based = credit_based
        if credit_based:
            dlc.send_credits = peer_initial & 0x07
            dlc.peer_credits = INITIAL_CREDITS
            dlc.owed = RECEIVE_WINDOW - INITIAL_CREDITS  # granted as soon as the DLC opens
        else:
            dlc.send_credits = dlc.peer_credits = dlc.owed = 0

    def on_pn_command(self, mcb: Mcb, pn: ParameterNegotiation, now: float) -> Effects:
        problem = pn.problems()
        if problem is not None:
            logger.warning("rfcomm 0x%04X: %s; refused", mcb.handle, problem)
            return [response(mcb, FrameType.DM, pn.dlci, False)] if 1 < pn.dlci < 64 else []
        dlc = mcb.dlcs.get(pn.dlci)
        if dlc is None:
            dlc = self._server_dlc(mcb, pn.dlci)
            if dlc is None:
                return [response(mcb, FrameType.DM, pn.dlci, False)]
        if not self.move(mcb, dlc, DlcEvent.PN_CMD):
            return []
        initial = 0
        effects: Effects = []
        if dlc.state is DlcState.CLOSED:  # an open DLC keeps what was agreed
            dlc.frame_size = min(pn.frame_size, mcb.max_frame_size)
            dlc.priority = pn.priority
            self._agree_credits(dlc, pn.convergence_layer == CREDIT_REQUEST, pn.window)
            dlc.negotiated = True
            initial = dlc.peer_credits
            # The multiplexer is no longer idle; the parameters wait T1 for their SABM.
            effects += [CancelTimer(mcb.timer), StartTimer(dlc_timer(mcb, pn.dlci), now + T1)]
        answer = ParameterNegotiation.build(
            pn.dlci,
            frame_size=dlc.frame_size,
            priority=dlc.priority,
            credit_flow=CREDIT_ACCEPT if dlc.credit_based else 0,
            credits=initial,
        )
        effects.insert(0, multiplexer_message(mcb, CommandType.PN, False, answer.encode_fields()))
        return effects

    def on_pn_response(self, mcb: Mcb, pn: ParameterNegotiation, now: float) -> Effects:
        dlc = mcb.dlcs.get(pn.dlci)
        if dlc is None or dlc.state is not DlcState.WAIT_PN_RSP:
            logger.info("rfcomm 0x%04X: PN response for DLC %d unasked", mcb.handle, pn.dlci)
            return []
        problem = pn.problems()
        if problem is not None:
            # A response we cannot use: the DLC fails and the peer hears DISC.
            dlc.state = DlcState.CLOSED
            effects = self._fail(mcb, dlc, f"the peer's PN response is invalid: {problem}")
            return effects + self.release(mcb, dlc, now)
        self.move(mcb, dlc, DlcEvent.PN_RSP)
        # The responder may lower N1, never raise it (RFCOMM 1.2 5.5.3).
        dlc.frame_size = min(pn.frame_size, dlc.frame_size)
        self._agree_credits(dlc, pn.convergence_layer == CREDIT_ACCEPT, pn.window)
        dlc.negotiated = True
        return [
            command(mcb, FrameType.SABM, dlc.dlci),
            StartTimer(dlc_timer(mcb, dlc.dlci), now + T1),
        ]

    def _server_dlc(self, mcb: Mcb, dlci: int) -> Dlc | None:
        """A DLC for the peer's PN or SABM to one of our server channels, if it names one: our
        servers sit on the DLCIs whose direction bit says we opened the multiplexer or not
        (RFCOMM 1.2 5.4)."""
        channel = dlci >> 1
        registered = self._servers.get(channel)
        if (
            registered is None
            or dlci != server_channel_dlci(channel, mcb.initiator)
            or len(mcb.dlcs) >= MAX_PARKED_DLCS
        ):
            logger.info("rfcomm 0x%04X: DLC %d names no server channel of ours", mcb.handle, dlci)
            return None
        owner, security = registered
        dlc = Dlc(channel, owner, dlci=dlci, security=security)
        mcb.dlcs[dlci] = dlc
        return dlc

    def _on_sabm(self, mcb: Mcb, dlc: Dlc | None, dlci: int, now: float) -> Effects:
        if dlc is None:
            dlc = self._server_dlc(mcb, dlci)
            if dlc is None:
                return [response(mcb, FrameType.DM, dlci)]
        if dlc.state is DlcState.OPEN:  # established already: acknowledged again (5.4.1)
            return [response(mcb, FrameType.UA, dlci)]
        if not self.move(mcb, dlc, DlcEvent.SABM):
            return []
        # No longer idle, and a PN's wait for this SABM is over.
        effects: Effects = [CancelTimer(mcb.timer), CancelTimer(dlc_timer(mcb, dlci))]
        if dlc.security is None:
            return effects + self._grant(mcb, dlc, now)
        token = self.new_token()
        dlc.security_token = token
        self._security_waits[token] = (mcb.handle, dlci)
        effects.append(Emit(LinkSecurityReq(token, mcb.handle, dlc.security)))
        return effects

    def on_security(self, confirm: LinkSecurityCnf, now: float) -> Effects:
        handle, dlci = self._security_waits.pop(confirm.token, (-1, -1))
        mcb = self._muxes.get(handle)
        dlc = mcb.dlcs.get(dlci) if mcb is not None else None
        if mcb is None or dlc is None or dlc.security_token != confirm.token:
            return []
        dlc.security_token = None
        if confirm.status == 0:
            return self._grant(mcb, dlc, now)
        logger.info(
            "rfcomm 0x%04X: DLC %d refused, the link does not meet channel %d's security: %s",
            handle,
            dlci,
            dlc.channel,
            confirm.error,
        )
        self.move(mcb, dlc, DlcEvent.SECURITY_DENIED)
        return [response(mcb, FrameType.DM, dlci), *self.release(mcb, dlc, now)]

    def _grant(self, mcb: Mcb, dlc: Dlc, now: float) -> Effects:
        """The link meets the channel's security: its owner decides (a listener with room in
        its backlog accepts), and only then does the peer hear UA or DM."""
        self.move(mcb, dlc, DlcEvent.SECURITY_GRANTED)
        if not dlc.negotiated:  # no PN came: the defaults of TS 07.10 5.7, no credits
            dlc.frame_size = min(dlc.frame_size, mcb.max_frame_size)
        indication = RfcommConnectInd(mcb.handle, dlc.dlci, dlc.channel, dlc.frame_size)
        return [
            Send(dlc.owner, indication),
            StartTimer(dlc_timer(mcb, dlc.dlci), now + ACCEPT_WAIT),
        ]

    def on_connect_response(self, sender: str, answer: RfcommConnectRsp, now: float) -> Effects:
        mcb = self._muxes.get(answer.handle)
        dlc = mcb.dlcs.get(answer.dlci) if mcb is not None else None
        if mcb is None or dlc is None or dlc.state is not DlcState.WAIT_ACCEPT:
            return []  # the DLC went away meanwhile (its owner heard RfcommDisconnectInd)
        if dlc.owner != sender:
            logger.warning("rfcomm: %s answered for DLC %d of %s", sender, dlc.dlci, dlc.owner)
            return []
        if answer.accept:
            self.move(mcb, dlc, DlcEvent.ACCEPTED)
            effects: Effects = [
                CancelTimer(dlc_timer(mcb, dlc.dlci)),
                response(mcb, FrameType.UA, dlc.dlci),
            ]
            return effects + self._opened(mcb, dlc, now)
        logger.info(
            "rfcomm 0x%04X: DLC %d to channel %d refused: %s",
            mcb.handle, dlc.dlci, dlc.channel, answer.reason or "by its owner",
        )  # fmt: skip
        self.move(mcb, dlc, DlcEvent.REFUSED)
        return [response(mcb, FrameType.DM, dlc.dlci), *self.release(mcb, dlc, now)]

    def _opened(self, mcb: Mcb, dlc: Dlc, now: float) -> Effects:
        """Both ends send MSC once the DLC is open (RFCOMM 1.2 6.3) and we grant the rest of
        the receive window."""
        effects = self._send_msc(mcb, dlc, now)
        if dlc.credit_based and dlc.owed:
            effects.append(self._credit_frame(mcb, dlc))
        return effects

    # -- frames on a DLC -----------------------------------------------------------------------
    def on_frame(self, mcb: Mcb, frame: Frame, now: float) -> Effects:
        dlc = mcb.dlcs.get(frame.dlci)
        match frame.type:
            case FrameType.SABM:
                return self._on_sabm(mcb, dlc, frame.dlci, now)
            case FrameType.UA:
                return self._on_ua(mcb, dlc, now) if dlc is not None else []
            case FrameType.DM:
                return self._on_dm(mcb, dlc, now) if dlc is not None else []
            case FrameType.DISC:
                return self._on_disc(mcb, dlc, frame.dlci, now)
            case FrameType.UIH:
                if dlc is not None and dlc.state is DlcState.OPEN:
                    return self.on_data(mcb, dlc, frame.information, frame.credits, now)
                if dlc is not None and dlc.state is DlcState.WAIT_DISC_UA:
                    return []  # sent before our DISC reached the peer
                # Data on a DLC that is not open (TS 07.10 5.3.3: DM).
                return [response(mcb, FrameType.DM, frame.dlci, False)]
        return []

    def _on_ua(self, mcb: Mcb, dlc: Dlc, now: float) -> Effects:
        before = dlc.state
        if not self.move(mcb, dlc, DlcEvent.UA):
            return []
        if before is DlcState.WAIT_UA:
            token, dlc.connect_token = dlc.connect_token, None
            effects: Effects = [CancelTimer(dlc_timer(mcb, dlc.dlci))]
            if token is not None:
                opened = RfcommConnectCnf(token, mcb.handle, dlc.dlci, dlc.frame_size)
                effects.append(Send(dlc.owner, opened))
            return effects + self._opened(mcb, dlc, now)
        return self._closed(mcb, dlc, now)  # our DISC answered

    def _on_dm(self, mcb: Mcb, dlc: Dlc, now: float) -> Effects:
        before = dlc.state
        if before is DlcState.CLOSED:  # parameters of a PN the peer gave up
            return self.release(mcb, dlc, now)
        if not self.move(mcb, dlc, DlcEvent.DM):
            return []
        if before in (DlcState.WAIT_PN_RSP, DlcState.WAIT_UA):
            refused = f"the peer refused server channel {dlc.channel} (DM)"
            return self._fail(mcb, dlc, refused) + self.release(mcb, dlc, now)
        if before is DlcState.OPEN:
            return self._ended(mcb, dlc, "the peer closed the DLC (DM)", now, orderly=True)
        return self._closed(mcb, dlc, now)

    def _on_disc(self, mcb: Mcb, dlc: Dlc | None, dlci: int, now: float) -> Effects:
        if dlc is None or dlc.state is DlcState.CLOSED:
            effects: Effects = [response(mcb, FrameType.DM, dlci)]  # not connected (5.3.4)
            return effects + (self.release(mcb, dlc, now) if dlc is not None else [])
        before = dlc.state
        if not self.move(mcb, dlc, DlcEvent.DISC):
            return []
        effects = [response(mcb, FrameType.UA, dlci)]
        if before in (DlcState.OPEN, DlcState.WAIT_ACCEPT):
            return effects + self._ended(mcb, dlc, "the peer closed the DLC", now, orderly=True)
        if before is DlcState.WAIT_UA:
            effects += self._fail(mcb, dlc, "the peer closed the DLC as it opened")
            return effects + self.release(mcb, dlc, now)
        return effects + self._closed(mcb, dlc, now)

    def on_data(
        self, mcb: Mcb, dlc: Dlc, information: bytes, credits: int | None, now: float
    ) -> Effects:
        """A UIH frame on open DLC ``dlc``: its information and the credits it carries."""
        effects: Effects = []
        if information:
            if len(information) > dlc.frame_size:
                return self._break(
                    mcb, dlc, f"a frame of {len(information)} octets exceeds N1 ({dlc.frame_size})",
                    now,
                )  # fmt: skip
            if dlc.credit_based:
                if dlc.peer_credits == 0:
                    return self._break(mcb, dlc, "the peer sent a frame without a credit", now)
                dlc.peer_credits -= 1
            elif dlc.unread >= 2 * RECEIVE_WINDOW:
                return self._break(mcb, dlc, "the peer ignored flow control (MSC FC)", now)
            dlc.unread += 1
            effects.append(Send(dlc.owner, RfcommDataInd(mcb.handle, dlc.dlci, information)))
            if not dlc.credit_based and dlc.unread >= RECEIVE_WINDOW and not dlc.local_flow_stopped:
                dlc.local_flow_stopped = True
                effects += self._send_msc(mcb, dlc, now)
        if credits:
            dlc.send_credits = min(MAX_SEND_CREDITS, dlc.send_credits + credits)
            effects += self.pump(mcb, dlc, now)
        return effects

    def _break(self, mcb: Mcb, dlc: Dlc, reason: str, now: float) -> Effects:
        """The peer broke the DLC's rules: DM closes it (TS 07.10 5.3.3) and its owner hears
        why."""
        self.discarded += 1
        logger.warning("rfcomm 0x%04X DLC %d: %s; closed", mcb.handle, dlc.dlci, reason)
        effects: Effects = [response(mcb, FrameType.DM, dlc.dlci, False)]
        return effects + self._ended(mcb, dlc, reason, now)

    def _ended(
        self, mcb: Mcb, dlc: Dlc, reason: str, now: float, *, orderly: bool = False
    ) -> Effects:
        """An open DLC ended: its owner hears why, whoever was closing it is answered.

        Frames still waiting for credits can no longer be sent: the owner is told how many
        (an error on the data, before the indication), so that an orderly close by the peer
        never passes for the delivery of what the application wrote."""
        dlc.state = DlcState.CLOSED
        effects: Effects = []
        lost = len(dlc.send_queue)
        if lost:
            dlc.send_queue.clear()
            error = f"{lost} frame(s) not sent: {reason}"
            logger.warning("rfcomm 0x%04X DLC %d: %s", mcb.handle, dlc.dlci, error)
            effects.append(Send(dlc.owner, RfcommDataCnf(mcb.handle, dlc.dlci, lost, error)))
        indication = RfcommDisconnectInd(mcb.handle, dlc.dlci, reason, orderly=orderly)
        effects.append(Send(dlc.owner, indication))
        return effects + self._closed(mcb, dlc, now)

    def _closed(self, mcb: Mcb, dlc: Dlc, now: float) -> Effects:
        by_us = bool(dlc.closers)
        effects: Effects = [Send(actor, RfcommCnf(token)) for actor, token in dlc.closers]
        dlc.closers.clear()
        return effects + self.release(mcb, dlc, now, closed_by_us=by_us)

    def release(self, mcb: Mcb, dlc: Dlc, now: float, *, closed_by_us: bool = False) -> Effects:
        """Forget a closed DLC. A multiplexer left without DLCs closes: at once when we closed
        the last one (CLOSE_REQ), after a while when the peer did (it may open another)."""
        if mcb.dlcs.get(dlc.dlci) is dlc:
            del mcb.dlcs[dlc.dlci]
        if dlc.security_token is not None:
            self._security_waits.pop(dlc.security_token, None)
        effects: Effects = [ReleaseTimers(DlcTimer(mcb.handle, dlc.dlci))]
        effects += self._drop_waiters(dlc, "the DLC closed")
        if mcb.state is MuxState.CONNECTED and not self.active(mcb):
            if closed_by_us:
                return effects + self.close_multiplexer(mcb, now)
            effects.append(StartTimer(mcb.timer, now + IDLE_TIMEOUT))
        return effects

    @staticmethod
    def active(mcb: Mcb) -> bool:
        """Whether a DLC uses the multiplexer: one opening or open, or the peer's PN waiting
        for its SABM (a DLC that closed is released at once)."""
        return bool(mcb.waiting or mcb.dlcs)

    def mux_down(self, mcb: Mcb, dlc: Dlc, reason: str, link_lost: bool) -> Effects:
        """The multiplexer closed under ``dlc``."""
        before = dlc.state
        dlc.state = DlcState.CLOSED
        effects = self._fail(mcb, dlc, reason)
        if before in (DlcState.OPEN, DlcState.WAIT_ACCEPT):
            indication = RfcommDisconnectInd(mcb.handle, dlc.dlci, reason, link_lost)
            effects.append(Send(dlc.owner, indication))
        effects += [Send(actor, RfcommCnf(token)) for actor, token in dlc.closers]
        effects += self._drop_waiters(dlc, reason)
        if dlc.security_token is not None:
            self._security_waits.pop(dlc.security_token, None)
        if dlc.dlci:
            effects.append(ReleaseTimers(DlcTimer(mcb.handle, dlc.dlci)))
        return effects

    @staticmethod
    def _drop_waiters(dlc: Dlc, reason: str) -> Effects:
        """Answer the requests still waiting for the peer on a DLC that ended."""
        effects: Effects = [
            Send(waiter[0], RfcommCnf(waiter[1], reason)) for waiter in dlc.msc_waiters if waiter
        ]
        effects += [
            Send(actor, RfcommPortCnf(token, error=reason)) for actor, token in dlc.rpn_waiters
        ]
        effects += [Send(actor, RfcommCnf(token, reason)) for actor, token in dlc.rls_waiters]
        dlc.msc_waiters.clear()
        dlc.rpn_waiters.clear()
        dlc.rls_waiters.clear()
        return effects

    @staticmethod
    def _await_response(
        waiters: deque[tuple[str, int]], waiter: tuple[str, int], timer: TimerKey, now: float
    ) -> Effects:
        """``waiter`` waits for the response to a command just sent: T2 runs for the oldest."""
        waiters.append(waiter)
        return [StartTimer(timer, now + T2)] if len(waiters) == 1 else []

    @staticmethod
    def _responded(
        waiters: deque[tuple[str, int]], timer: TimerKey, now: float
    ) -> tuple[tuple[str, int], Effects]:
        """The oldest waiter's response came (or its T2 ran out): T2 runs for the next."""
        waiter = waiters.popleft()
        return waiter, [StartTimer(timer, now + T2) if waiters else CancelTimer(timer)]

    # -- multiplexer commands about a DLC ------------------------------------------------------
    def on_msc_command(self, mcb: Mcb, status: ModemStatusCommand, now: float) -> Effects:
        effects: Effects = [multiplexer_message(mcb, CommandType.MSC, False, status.encode())]
        dlc = mcb.dlcs.get(status.dlci)
        if dlc is None or dlc.state is not DlcState.OPEN:
            return effects
        indication = RfcommModemStatusInd(mcb.handle, dlc.dlci, status.status, status.break_length)
        effects.append(Send(dlc.owner, indication))
        # With credit-based flow control the FC bit means nothing (RFCOMM 1.2 6.5.3).
        if not dlc.credit_based:
            dlc.peer_flow_stopped = status.flow_stopped
            if not dlc.peer_flow_stopped:
                effects += self.pump(mcb, dlc, now)
        return effects

    def on_msc_response(self, mcb: Mcb, status: ModemStatusCommand, now: float) -> Effects:
        dlc = mcb.dlcs.get(status.dlci)
        if dlc is None or not dlc.msc_waiters:
            logger.info("rfcomm 0x%04X: MSC response for DLC %d unasked", mcb.handle, status.dlci)
            return []
        waiter = dlc.msc_waiters.popleft()
        effects: Effects = [] if waiter is None else [Send(waiter[0], RfcommCnf(waiter[1]))]
        timer = mcb.msc_timer(dlc.dlci)
        effects.append(StartTimer(timer, now + T2) if dlc.msc_waiters else CancelTimer(timer))
        return effects

    def _send_msc(
        self,
        mcb: Mcb,
        dlc: Dlc,
        now: float,
        waiter: tuple[str, int] | None = None,
        break_length: int | None = None,
    ) -> Effects:
        """An MSC command with our signals (FC set while we hold the peer back), awaiting
        its response within T2."""
        signals = dlc.local_status.to_octet() | (MODEM_FLOW if dlc.local_flow_stopped else 0)
        octet = None if break_length is None else break_octet(break_length)
        value = ModemStatusCommand(dlc.dlci, signals, octet).encode()
        effects: Effects = [multiplexer_message(mcb, CommandType.MSC, True, value)]
        if not dlc.msc_waiters:
            effects.append(StartTimer(mcb.msc_timer(dlc.dlci), now + T2))
        dlc.msc_waiters.append(waiter)
        return effects

    def set_modem_status(self, sender: str, request: RfcommModemStatusReq, now: float) -> Effects:
        mcb = self._muxes.get(request.handle)
        dlc = mcb.dlcs.get(request.dlci) if mcb is not None else None

        def refuse(error: str) -> Effects:
            return [Send(sender, RfcommCnf(request.token, error))]

        if mcb is None or dlc is None or dlc.state is not DlcState.OPEN:
            return refuse("the DLC is not open")
        length = request.break_length
        if length is not None and not 0 <= length <= MAX_BREAK_LENGTH:
            return refuse(f"a break of {length} units of 200 ms, not 0..{MAX_BREAK_LENGTH}")
        if len(dlc.msc_waiters) >= MAX_PENDING_COMMANDS:
            return refuse(f"{MAX_PENDING_COMMANDS} MSC commands await their responses")
        dlc.local_status = request.status
        return self._send_msc(mcb, dlc, now, (sender, request.token), length)

    def report_line_status(self, sender: str, request: RfcommLineStatusReq, now: float) -> Effects:
        mcb = self._muxes.get(request.handle)
        dlc = mcb.dlcs.get(request.dlci) if mcb is not None else None
        if mcb is None or dlc is None or dlc.state is not DlcState.OPEN:
            return [Send(sender, RfcommCnf(request.token, "the DLC is not open"))]
        if len(dlc.rls_waiters) >= MAX_PENDING_COMMANDS:
            error = f"{MAX_PENDING_COMMANDS} RLS commands await their responses"
            return [Send(sender, RfcommCnf(request.token, error))]
        value = RemoteLineStatus(dlc.dlci, request.status.to_octet()).encode()
        effects: Effects = [multiplexer_message(mcb, CommandType.RLS, True, value)]
        waiter = (sender, request.token)
        return effects + self._await_response(dlc.rls_waiters, waiter, mcb.rls_timer(dlc.dlci), now)

    def on_rls_response(self, mcb: Mcb, status: RemoteLineStatus, now: float) -> Effects:
        dlc = mcb.dlcs.get(status.dlci)
        if dlc is None or not dlc.rls_waiters:
            logger.info("rfcomm 0x%04X: RLS response for DLC %d unasked", mcb.handle, status.dlci)
            return []
        (actor, token), effects = self._responded(dlc.rls_waiters, mcb.rls_timer(dlc.dlci), now)
        return [Send(actor, RfcommCnf(token)), *effects]

    def on_rls_command(self, mcb: Mcb, status: RemoteLineStatus) -> Effects:
        """The peer reports line errors: answered (TS 07.10 5.4.6.3.10) and told to the
        DLC's owner."""
        effects: Effects = [multiplexer_message(mcb, CommandType.RLS, False, status.encode())]
        dlc = mcb.dlcs.get(status.dlci)
        if dlc is not None and dlc.state is DlcState.OPEN:
            errors = LineStatus.from_octet(status.status)
            effects.append(Send(dlc.owner, RfcommLineStatusInd(mcb.handle, dlc.dlci, errors)))
        return effects

    def on_rpn_command(self, mcb: Mcb, port: RemotePortNegotiation) -> Effects:
        """A virtual port takes every setting the peer asks for that TS 07.10 5.4.6.3.9
        defines, and answers with the values then in force and the mask of those taken; a
        request without values is answered with the current ones."""
        dlc = mcb.dlcs.get(port.dlci)
        current = dlc.port if dlc is not None else PortSettings()
        effects: Effects = []
        if port.settings is None:
            answer = RemotePortNegotiation(port.dlci, current.encode())
        else:
            settings, taken = PortSettings.negotiate(current, port.settings)
            answer = RemotePortNegotiation(port.dlci, settings.encode(taken))
            if dlc is not None:
                dlc.port = settings
                if dlc.state is DlcState.OPEN:
                    indication = RfcommPortInd(mcb.handle, dlc.dlci, settings)
                    effects.append(Send(dlc.owner, indication))
        effects.insert(0, multiplexer_message(mcb, CommandType.RPN, False, answer.encode()))
        return effects

    def request_port(self, sender: str, request: RfcommPortReq, now: float) -> Effects:
        mcb = self._muxes.get(request.handle)
        dlc = mcb.dlcs.get(request.dlci) if mcb is not None else None
        if mcb is None or dlc is None or dlc.state is not DlcState.OPEN:
            return [Send(sender, RfcommPortCnf(request.token, error="the DLC is not open"))]
        if len(dlc.rpn_waiters) >= MAX_PENDING_COMMANDS:
            error = f"{MAX_PENDING_COMMANDS} RPN commands await their responses"
            return [Send(sender, RfcommPortCnf(request.token, error=error))]
        settings = None if request.settings is None else request.settings.encode(request.mask)
        value = RemotePortNegotiation(dlc.dlci, settings).encode()
        effects: Effects = [multiplexer_message(mcb, CommandType.RPN, True, value)]
        waiter = (sender, request.token)
        return effects + self._await_response(dlc.rpn_waiters, waiter, mcb.rpn_timer(dlc.dlci), now)

    def on_rpn_response(self, mcb: Mcb, port: RemotePortNegotiation, now: float) -> Effects:
        dlc = mcb.dlcs.get(port.dlci)
        if dlc is None or not dlc.rpn_waiters or port.settings is None:
            logger.info("rfcomm 0x%04X: RPN response for DLC %d unasked", mcb.handle, port.dlci)
            return []
        (actor, token), effects = self._responded(dlc.rpn_waiters, mcb.rpn_timer(dlc.dlci), now)
        settings = dlc.port = PortSettings.decode(port.settings)  # what both ends now use
        accepted = PortParameter(int.from_bytes(port.settings[5:7], "little") & 0x3F7F)
        return [Send(actor, RfcommPortCnf(token, settings, accepted)), *effects]

    # -- the data path -------------------------------------------------------------------------
    def send_data(self, sender: str, request: RfcommDataReq, now: float) -> Effects:
        mcb = self._muxes.get(request.handle)
        dlc = mcb.dlcs.get(request.dlci) if mcb is not None else None

        data = request.data
        frame_size = dlc.frame_size if dlc is not None else DEFAULT_FRAME_SIZE
        frames = frame_count(len(data), frame_size)

        def refuse(error: str) -> Effects:
            logger.warning("rfcomm: %s: %s", request.summary(), error)
            refused = RfcommDataCnf(request.handle, request.dlci, max(1, frames), error)
            return [Send(sender, refused)]

        if mcb is None or dlc is None or dlc.state is not DlcState.OPEN or dlc.draining:
            return refuse("the DLC is not open")
        if not data:
            return refuse("no data")
        queue = dlc.send_queue
        if len(queue) + frames > MAX_SEND_QUEUE:
            return refuse(f"{frames} frames do not fit: {len(queue)} of {MAX_SEND_QUEUE} wait")
        if frames == 1:
            queue.append(data)
        else:  # cut without copying: each frame is copied once, as it is encoded
            view = memoryview(data)
            starts = range(0, len(data), frame_size)
            queue.extend(view[start : start + frame_size] for start in starts)
        return self.pump(mcb, dlc, now)

    def pump(self, mcb: Mcb, dlc: Dlc, now: float) -> Effects:
        """Send what waits as far as credits, the peer's flow control and the L2CAP window
        allow; credits owed to the peer ride along."""
        effects: Effects = []
        queue = dlc.send_queue
        while queue and not mcb.flow_off and len(mcb.in_flight) < L2CAP_WINDOW:
            if dlc.credit_based:
                if not dlc.send_credits:
                    break
                dlc.send_credits -= 1
            elif dlc.peer_flow_stopped:
                break
            credits = None
            if dlc.owed:
                credits, dlc.owed = dlc.owed, 0
                dlc.peer_credits += credits
            frame = encode_frame(
                FrameType.UIH, dlc.dlci, mcb.initiator, credits is not None, queue.popleft(),
                credits,
            )  # fmt: skip
            effects.append(transmit(mcb, frame, dlc.dlci))
        if dlc.draining and not queue:
            effects += self._send_disc(mcb, dlc, now)
        return effects

    def pump_all(self, mcb: Mcb, now: float) -> Effects:
        effects: Effects = []
        for dlc in list(mcb.dlcs.values()):
            if dlc.send_queue:
                effects += self.pump(mcb, dlc, now)
        return effects

    def read(self, report: RfcommDataRsp, now: float) -> Effects:
        mcb = self._muxes.get(report.handle)
        dlc = mcb.dlcs.get(report.dlci) if mcb is not None else None
        if mcb is None or dlc is None or dlc.state is not DlcState.OPEN:
            return []
        count = max(0, min(report.count, dlc.unread))
        dlc.unread -= count
        if dlc.credit_based:
            dlc.owed += count
            if dlc.owed >= CREDIT_RETURN_BATCH:  # in bulk (see CREDIT_RETURN_BATCH)
                if dlc.send_queue and dlc.send_credits:
                    return self.pump(mcb, dlc, now)
                return [self._credit_frame(mcb, dlc)] if dlc.owed else []
            return []
        if dlc.local_flow_stopped and dlc.unread <= RECEIVE_WINDOW // 2:
            dlc.local_flow_stopped = False
            return self._send_msc(mcb, dlc, now)
        return []

    def _credit_frame(self, mcb: Mcb, dlc: Dlc) -> Emit:
        """A UIH frame with no information that only returns credits (RFCOMM 1.2 6.5.2)."""
        credits, dlc.owed = dlc.owed, 0
        dlc.peer_credits += credits
        return transmit(
            mcb, encode_frame(FrameType.UIH, dlc.dlci, mcb.initiator, True, b"", credits)
        )

    # -- closing -------------------------------------------------------------------------------
    def disconnect(self, sender: str, request: RfcommDisconnectReq, now: float) -> Effects:
        mcb = self._muxes.get(request.handle)
        dlc = mcb.dlcs.get(request.dlci) if mcb is not None else None
        if mcb is None or dlc is None or dlc.state is DlcState.CLOSED:
            return [Send(sender, RfcommCnf(request.token, "no such DLC"))]
        dlc.closers.append((sender, request.token))
        match dlc.state:
            case DlcState.OPEN if dlc.send_queue:
                # DISC once what was sent left; T1 bounds the wait for the peer's credits.
                dlc.draining = True
                return [StartTimer(dlc_timer(mcb, dlc.dlci), now + T1)]
            case DlcState.OPEN | DlcState.WAIT_UA:
                effects = self._fail(mcb, dlc, "closed before it opened")
                return effects + self._send_disc(mcb, dlc, now)
            case DlcState.WAIT_PN_RSP:
                self.move(mcb, dlc, DlcEvent.CLOSE_REQ)
                return self._fail(mcb, dlc, "closed before it opened") + self._closed(mcb, dlc, now)
            case DlcState.WAIT_SECURITY | DlcState.WAIT_ACCEPT:
                # The peer's SABM is refused (TS 07.10 5.4.1).
                self.move(mcb, dlc, DlcEvent.CLOSE_REQ)
                return [response(mcb, FrameType.DM, dlc.dlci), *self._closed(mcb, dlc, now)]
            case DlcState.WAIT_DISC_UA:
                return []
        return self._closed(mcb, dlc, now)

    def _send_disc(self, mcb: Mcb, dlc: Dlc, now: float) -> Effects:
        dlc.draining = False
        if not self.move(mcb, dlc, DlcEvent.CLOSE_REQ):
            return []
        return [
            command(mcb, FrameType.DISC, dlc.dlci),
            StartTimer(dlc_timer(mcb, dlc.dlci), now + T1),
        ]

    def on_timer(self, mcb: Mcb, dlci: int, name: str, now: float) -> Effects:
        dlc = mcb.dlcs.get(dlci)
        if dlc is None:
            return []
        if name == MSC_TIMER:
            if dlc.state is DlcState.OPEN and dlc.msc_waiters:
                return self._break(mcb, dlc, "no MSC response within T2", now)
            return []
        if name == RPN_TIMER and dlc.rpn_waiters:
            (actor, token), effects = self._responded(dlc.rpn_waiters, mcb.rpn_timer(dlci), now)
            return [Send(actor, RfcommPortCnf(token, error="no RPN response within T2")), *effects]
        if name == RLS_TIMER and dlc.rls_waiters:
            (actor, token), effects = self._responded(dlc.rls_waiters, mcb.rls_timer(dlci), now)
            return [Send(actor, RfcommCnf(token, "no RLS response within T2")), *effects]
        if name in (RPN_TIMER, RLS_TIMER):
            return []
        match dlc.state:
            case DlcState.WAIT_PN_RSP | DlcState.WAIT_UA:
                waited = (
                    "PN response within T2" if dlc.state is DlcState.WAIT_PN_RSP else "UA within T1"
                )
                self.move(mcb, dlc, DlcEvent.TIMEOUT)
                return self._fail(mcb, dlc, f"no {waited}") + self.release(mcb, dlc, now)
            case DlcState.OPEN if dlc.draining:
                lost = len(dlc.send_queue)
                dlc.send_queue.clear()
                error = f"{lost} frame(s) not sent: the peer gave no credits within T1"
                logger.warning("rfcomm 0x%04X DLC %d: %s", mcb.handle, dlci, error)
                effects = [Send(dlc.owner, RfcommDataCnf(mcb.handle, dlci, lost, error))]
                return effects + self._send_disc(mcb, dlc, now)
            case DlcState.WAIT_DISC_UA:
                self.move(mcb, dlc, DlcEvent.TIMEOUT)
                return self._closed(mcb, dlc, now)
            case DlcState.CLOSED:  # the peer's PN, no SABM within T1
                self.move(mcb, dlc, DlcEvent.TIMEOUT)
                return self.release(mcb, dlc, now)
            case DlcState.WAIT_ACCEPT:
                self.move(mcb, dlc, DlcEvent.TIMEOUT)
                effects = [response(mcb, FrameType.DM, dlci)]
                return effects + self._ended(mcb, dlc, "its owner did not take it", now)
        return []


def dlc_timer(mcb: Mcb, dlci: int) -> TimerKey:
    return mcb.dlc_timer(dlci)
