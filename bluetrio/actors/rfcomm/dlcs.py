"""The DLCs of the RFCOMM core: PN, SABM/UA, DISC/UA and DM (RFCOMM 1.2 5.2-5.5, TS 07.10
5.3), MSC, the data path with credit-based flow control (RFCOMM 1.2 6.5) or, without
credits, MSC's FC bit (6.4), and btm's security check before an incoming DLC opens (6.3)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bluetrio.actors.effects import CancelTimer, Effects, Emit, Send, StartTimer, TimerKey
from bluetrio.actors.rfcomm.control_blocks import (
    ACCEPT_WAIT,
    CREDIT_RETURN_BATCH,
    IDLE_TIMEOUT,
    INITIAL_CREDITS,
    L2CAP_WINDOW,
    MAX_PARKED_DLCS,
    MAX_SEND_QUEUE,
    RECEIVE_WINDOW,
    T1,
    T2,
    Dlc,
    Mcb,
)
from bluetrio.actors.rfcomm.frames_out import command, multiplexer_message, response, transmit
from bluetrio.actors.rfcomm.states import DLC_TRANSITIONS, DlcEvent, DlcState, MuxState
from bluetrio.messages.btm_security import LinkSecurityCnf, LinkSecurityReq, SecurityRequirement
from bluetrio.messages.rfcomm import (
    CREDIT_ACCEPT,
    CREDIT_REQUEST,
    DEFAULT_MODEM_SIGNALS,
    MODEM_FLOW,
    CommandType,
    Frame,
    FrameType,
    ModemStatus,
    ParameterNegotiation,
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
        if dlc.state is DlcState.CLOSED:  # an open DLC keeps what was agreed
            dlc.frame_size = min(pn.frame_size, mcb.max_frame_size)
            dlc.priority = pn.priority
            self._agree_credits(dlc, pn.convergence_layer == CREDIT_REQUEST, pn.window)
            dlc.negotiated = True
            initial = dlc.peer_credits
        answer = ParameterNegotiation.build(
            pn.dlci,
            frame_size=dlc.frame_size,
            priority=dlc.priority,
            credit_flow=CREDIT_ACCEPT if dlc.credit_based else 0,
            credits=initial,
        )
        return [multiplexer_message(mcb, CommandType.PN, False, answer.encode_fields())]

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
        effects: Effects = [CancelTimer(mcb.timer)]  # no longer idle
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
        dlc.msc_pending = True
        effects: Effects = [
            multiplexer_message(
                mcb, CommandType.MSC, True, ModemStatus(dlc.dlci, DEFAULT_MODEM_SIGNALS).encode()
            ),
            StartTimer(dlc_timer(mcb, dlc.dlci), now + T2),
        ]
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
                    return self._on_data(mcb, dlc, frame, now)
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
            return effects + self._fail(mcb, dlc, "the peer closed the DLC as it opened")
        return effects + self._closed(mcb, dlc, now)

    def _on_data(self, mcb: Mcb, dlc: Dlc, frame: Frame, now: float) -> Effects:
        effects: Effects = []
        information = frame.information
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
                effects.append(self._modem_status(mcb, dlc))
        if frame.credits:
            dlc.send_credits = min(MAX_SEND_CREDITS, dlc.send_credits + frame.credits)
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
        """An open DLC ended: its owner hears why, whoever was closing it is answered."""
        dlc.state = DlcState.CLOSED
        indication = RfcommDisconnectInd(mcb.handle, dlc.dlci, reason, orderly=orderly)
        effects: Effects = [Send(dlc.owner, indication)]
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
        effects: Effects = [CancelTimer(dlc_timer(mcb, dlc.dlci))]
        if mcb.state is MuxState.CONNECTED and not self.active(mcb):
            if closed_by_us:
                return effects + self.close_multiplexer(mcb, now)
            effects.append(StartTimer(mcb.timer, now + IDLE_TIMEOUT))
        return effects

    @staticmethod
    def active(mcb: Mcb) -> bool:
        return bool(mcb.waiting) or any(d.state is not DlcState.CLOSED for d in mcb.dlcs.values())

    def mux_down(self, mcb: Mcb, dlc: Dlc, reason: str, link_lost: bool) -> Effects:
        """The multiplexer closed under ``dlc``."""
        before = dlc.state
        dlc.state = DlcState.CLOSED
        effects = self._fail(mcb, dlc, reason)
        if before in (DlcState.OPEN, DlcState.WAIT_ACCEPT):
            indication = RfcommDisconnectInd(mcb.handle, dlc.dlci, reason, link_lost)
            effects.append(Send(dlc.owner, indication))
        effects += [Send(actor, RfcommCnf(token)) for actor, token in dlc.closers]
        if dlc.security_token is not None:
            self._security_waits.pop(dlc.security_token, None)
        if dlc.dlci:
            effects.append(CancelTimer(dlc_timer(mcb, dlc.dlci)))
        return effects

    # -- multiplexer commands about a DLC ------------------------------------------------------
    def on_msc_command(self, mcb: Mcb, status: ModemStatus, now: float) -> Effects:
        effects: Effects = [multiplexer_message(mcb, CommandType.MSC, False, status.encode())]
        dlc = mcb.dlcs.get(status.dlci)
        if dlc is None or dlc.state is not DlcState.OPEN:
            return effects
        if status.break_octet is not None and status.break_octet & 0x02:
            logger.info("rfcomm 0x%04X DLC %d: the peer signals a break", mcb.handle, dlc.dlci)
        # With credit-based flow control the FC bit means nothing (RFCOMM 1.2 6.5.3).
        if not dlc.credit_based:
            dlc.peer_flow_stopped = status.flow_stopped
            if not dlc.peer_flow_stopped:
                effects += self.pump(mcb, dlc, now)
        return effects

    def on_msc_response(self, mcb: Mcb, status: ModemStatus) -> Effects:
        dlc = mcb.dlcs.get(status.dlci)
        if dlc is None or not dlc.msc_pending:
            return []
        dlc.msc_pending = False
        return [] if dlc.draining else [CancelTimer(dlc_timer(mcb, dlc.dlci))]

    def _modem_status(self, mcb: Mcb, dlc: Dlc) -> Emit:
        signals = DEFAULT_MODEM_SIGNALS | (MODEM_FLOW if dlc.local_flow_stopped else 0)
        return multiplexer_message(
            mcb, CommandType.MSC, True, ModemStatus(dlc.dlci, signals).encode()
        )

    # -- the data path -------------------------------------------------------------------------
    def send_data(self, sender: str, request: RfcommDataReq, now: float) -> Effects:
        mcb = self._muxes.get(request.handle)
        dlc = mcb.dlcs.get(request.dlci) if mcb is not None else None

        def refuse(error: str) -> Effects:
            logger.warning("rfcomm: %s: %s", request.summary(), error)
            return [Send(sender, RfcommDataCnf(request.handle, request.dlci, 1, error))]

        if mcb is None or dlc is None or dlc.state is not DlcState.OPEN or dlc.draining:
            return refuse("the DLC is not open")
        if not 0 < len(request.data) <= dlc.frame_size:
            return refuse(f"{len(request.data)} octets, not 1..{dlc.frame_size} (N1)")
        if len(dlc.send_queue) >= MAX_SEND_QUEUE:
            return refuse(f"{MAX_SEND_QUEUE} frames wait already")
        dlc.send_queue.append(request.data)
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
            return [self._modem_status(mcb, dlc)]
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
        if mcb is None or dlc is None:
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

    def on_timer(self, mcb: Mcb, dlci: int, now: float) -> Effects:
        dlc = mcb.dlcs.get(dlci)
        if dlc is None:
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
                effects: Effects = [Send(dlc.owner, RfcommDataCnf(mcb.handle, dlci, lost, error))]
                return effects + self._send_disc(mcb, dlc, now)
            case DlcState.OPEN if dlc.msc_pending:
                return self._break(mcb, dlc, "no MSC response within T2", now)
            case DlcState.WAIT_DISC_UA:
                self.move(mcb, dlc, DlcEvent.TIMEOUT)
                return self._closed(mcb, dlc, now)
            case DlcState.WAIT_ACCEPT:
                self.move(mcb, dlc, DlcEvent.TIMEOUT)
                effects = [response(mcb, FrameType.DM, dlci)]
                return effects + self._ended(mcb, dlc, "its owner did not take it", now)
        return []


def dlc_timer(mcb: Mcb, dlci: int) -> TimerKey:
    return mcb.dlc_timer(dlci)
