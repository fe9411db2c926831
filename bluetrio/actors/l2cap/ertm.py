"""Enhanced Retransmission mode and Streaming mode of one L2CAP channel, sans-IO
(Core 5.4 Vol 3 Part A 3.3.2-3.3.7, 5.4, 8).

One :class:`RetransmissionChannel` is the data path of one BR/EDR channel configured in
Enhanced Retransmission or Streaming mode. It knows nothing of links or signaling: it takes
plain values (an SDU to send, a whole PDU received on the channel, a timer that expired, "the
application took an SDU", the time) and answers with effects: :class:`TransmitPdu`,
:class:`SduReceived`, :class:`SdusAcknowledged`, :class:`StartChannelTimer` /
:class:`CancelChannelTimer` (by name, with absolute deadlines), :class:`TransmitSpace` and
:class:`ChannelFailed` with a reason.

Enhanced Retransmission mode (8.6)
    The transmitter numbers I-frames with TxSeq (``NextTxSeq``) and keeps each until the peer
    acknowledges it (``ExpectedAckSeq`` is the oldest unacknowledged); at most the peer's
    TxWindow are unacknowledged, so the retransmission buffer is bounded. The receiver
    delivers I-frames in TxSeq order (``ExpectedTxSeq`` the next new one, ``BufferSeq`` the
    oldest not yet delivered) and acknowledges with the ReqSeq of the I-frames it sends
    (piggybacked) or with an RR: at once when a quarter of our window is unacknowledged,
    otherwise when the acknowledgement timer expires, well inside the peer's retransmission
    timeout. A gap is recovered with SREJ (only the missing frames are sent again; the frames
    after the gap are buffered, never more than our window) or with REJ (everything from the
    gap is sent again). The retransmission timer runs while frames are unacknowledged; when it
    expires the transmitter polls (RR or RNR with P=1), enters WAIT_F and runs the monitor
    timer; the peer's F=1 answer tells what it has and the transmitter sends the rest again.
    An I-frame is transmitted at most MaxTransmit times and a poll repeated at most MaxTransmit
    times (0 means without limit, BR/EDR 5.4); past that the channel fails. An application that
    stops reading makes the receiver locally busy: it sends RNR, still takes (and acknowledges)
    what the peer sent before the RNR reached it, at most one window, discards new I-frames
    past that without acknowledging them (the peer keeps and later resends them) and, once
    the application has caught up, polls with RR so the peer resumes at once. Frames past a
    gap that arrive while that poll is out draw no SREJ: the poll already has them resent.

Invalid frames (3.3.7, 8.6.5.3)
    A frame that does not decode (bad length, bad FCS) is dropped and counted: the
    retransmission machinery recovers it. A ReqSeq that acknowledges frames never sent or a
    TxSeq outside our window, a SAR sequence that breaks 3.3.2, an information payload over
    our MPS or an SDU over our MTU close the channel: the two sides no longer agree on what
    was sent.

Streaming mode (8.7)
    No acknowledgement and no retransmission: every I-frame is sent once; a missing TxSeq (or
    a SAR violation, or an SDU over our MTU) drops the SDU under reassembly and the frames of
    that SDU that follow, and is counted in :attr:`RetransmissionChannel.sdus_lost`.

Bounds
    What waits to be sent for the first time is bounded in octets (``transmit_limit``):
    :meth:`~RetransmissionChannel.queue_sdu` answers :attr:`QueueResult.FULL` and the caller
    waits for :class:`TransmitSpace`. What waits for retransmission is at most the peer's
    window; what waits for reordering at most our window; SDUs the application has not taken
    at most ``receive_limit`` plus one window's worth (then we are locally busy).
"""

from __future__ import annotations

import enum
from collections import deque

import attrs

from bluetrio.actors.l2cap.ertm_states import (
    RX_TRANSITIONS,
    TX_TRANSITIONS,
    RxEvent,
    RxState,
    TxEvent,
    TxState,
)
from bluetrio.actors.state_machine import transition
from bluetrio.errors import DecodeError, InvalidArgumentError
from bluetrio.messages.l2cap.frames import MAX_PAYLOAD
from bluetrio.messages.l2cap.retransmission_frames import (
    ENHANCED_SEQUENCE_MODULUS,
    Frame,
    FrameFormat,
    IFrame,
    Sar,
    SFrame,
    Supervisory,
    decode_frame,
    encode_frame,
)

# Defaults of the Retransmission and Flow Control option for Enhanced Retransmission mode
# (Vol 3 Part A 5.4): 2 s retransmission time-out, 12 s monitor time-out.
DEFAULT_RETRANSMISSION_TIMEOUT = 2.0
DEFAULT_MONITOR_TIMEOUT = 12.0
MAX_ENHANCED_TX_WINDOW = 63
MAX_EXTENDED_TX_WINDOW = 0x3FFF


class RetransmissionMode(enum.Enum):
    ENHANCED_RETRANSMISSION = "enhanced retransmission"
    STREAMING = "streaming"


class Recovery(enum.Enum):
    """How the receiver asks for the frames after a gap: selectively or all of them."""

    SREJ = "SREJ"
    REJ = "REJ"


class ChannelTimer(enum.Enum):
    RETRANSMISSION = "retransmission"
    MONITOR = "monitor"
    ACKNOWLEDGEMENT = "acknowledgement"


class Failure(enum.Enum):
    """Why the engine closed the channel."""

    MAX_TRANSMIT = "an I-frame or a poll went unacknowledged MaxTransmit times"
    INVALID_REQ_SEQ = "a ReqSeq acknowledging I-frames never sent"
    INVALID_TX_SEQ = "a TxSeq outside the receive window"
    SAR_VIOLATION = "I-frames breaking the SAR sequence"
    SDU_EXCEEDS_MTU = "an SDU longer than our MTU"
    FRAME_EXCEEDS_MPS = "an information payload longer than our MPS"


# -- effects ----------------------------------------------------------------------------------


@attrs.frozen
class TransmitPdu:
    """Send this whole L2CAP PDU (basic header, control, payload, FCS) on the link."""

    pdu: bytes


@attrs.frozen
class SduReceived:
    """A whole SDU arrived in order; the application reports taking it with
    :meth:`RetransmissionChannel.sdu_consumed`."""

    sdu: bytes


@attrs.frozen
class SdusAcknowledged:
    """The peer acknowledged every I-frame of ``count`` more SDUs (Enhanced Retransmission
    mode): they were delivered, in order."""

    count: int


@attrs.frozen
class StartChannelTimer:
    """(Re)start ``timer`` to expire at ``deadline``; then call ``timer_expired(timer, now)``."""

    timer: ChannelTimer
    deadline: float


@attrs.frozen
class CancelChannelTimer:
    timer: ChannelTimer


@attrs.frozen
class TransmitSpace:
    """The transmit queue, full when :meth:`~RetransmissionChannel.queue_sdu` last refused an
    SDU, has room again."""


@attrs.frozen
class ChannelFailed:
    """Disconnect the channel; the engine is closed and takes nothing more."""

    failure: Failure
    detail: str

    @property
    def reason(self) -> str:
        return f"{self.failure.value}: {self.detail}"


ChannelEffect = (
    TransmitPdu
    | SduReceived
    | SdusAcknowledged
    | StartChannelTimer
    | CancelChannelTimer
    | TransmitSpace
    | ChannelFailed
)


class QueueResult(enum.Enum):
    QUEUED = "queued"
    FULL = "the transmit queue is full"
    TOO_LONG = "the SDU is longer than the peer's MTU"
    CLOSED = "the channel is closed"


@attrs.frozen
class RetransmissionParameters:
    """What configuration settled for one channel (Vol 3 Part A 5.1, 5.4, 5.5, 5.6).

    ``local_*`` are what we receive: our MTU, MPS and TxWindow (the I-frames the peer may send
    unacknowledged). ``remote_*`` are the peer's, which bound what we send. ``max_transmit`` is
    how often we transmit one I-frame (and repeat one poll); 0 is without limit.
    """

    mode: RetransmissionMode
    remote_cid: int
    local_mtu: int
    local_mps: int
    remote_mtu: int
    remote_mps: int
    local_tx_window: int = ENHANCED_SEQUENCE_MODULUS // 2
    remote_tx_window: int = MAX_ENHANCED_TX_WINDOW
    max_transmit: int = 3
    retransmission_timeout: float = DEFAULT_RETRANSMISSION_TIMEOUT
    monitor_timeout: float = DEFAULT_MONITOR_TIMEOUT
    frame_format: FrameFormat = attrs.field(factory=FrameFormat)
    recovery: Recovery = Recovery.SREJ
    transmit_limit: int = 64 * 1024
    receive_limit: int = 16

    def problem(self) -> str | None:
        """Why these parameters cannot run a channel, or None."""
        fmt = self.frame_format
        largest_window = MAX_EXTENDED_TX_WINDOW if fmt.extended_control else MAX_ENHANCED_TX_WINDOW
        if not 1 <= self.remote_tx_window <= largest_window:
            return f"remote TxWindow {self.remote_tx_window} is outside 1..{largest_window}"
        # Our own window stays within half the sequence space so that a resent old frame and
        # a new frame past a gap can never carry the same TxSeq (8.6.5.3).
        largest_receive = fmt.sequence_modulus // 2
        if not 1 <= self.local_tx_window <= largest_receive:
            return f"local TxWindow {self.local_tx_window} is outside 1..{largest_receive}"
        for name, mps in (("local", self.local_mps), ("remote", self.remote_mps)):
            if not fmt.overhead - 4 < mps <= MAX_PAYLOAD - fmt.overhead + 4:
                return f"{name} MPS {mps} does not fit an I-frame"
        for name, mtu in (("local", self.local_mtu), ("remote", self.remote_mtu)):
            if not 1 <= mtu <= 0xFFFF:
                return f"{name} MTU {mtu} is outside 1..65535"
        if not 0 <= self.max_transmit <= 0xFF:
            return f"MaxTransmit {self.max_transmit} is not one octet"
        if self.retransmission_timeout <= 0 or self.monitor_timeout <= 0:
            return "time-outs must be positive"
        if self.transmit_limit < 1 or self.receive_limit < 1:
            return "queue limits must be positive"
        return None


@attrs.define
class _Unacked:
    """An I-frame sent and not yet acknowledged, with how often it was transmitted."""

    sar: Sar
    sdu_length: int | None
    payload: bytes
    transmissions: int = 0


@attrs.define
class _Segment:
    sar: Sar
    sdu_length: int | None
    payload: bytes


class _Reassembly:
    """SAR reassembly bounded by our MTU (3.3.2); returns an SDU, None, or a Failure."""

    def __init__(self, mtu: int) -> None:
        self.mtu = mtu
        self.parts: list[bytes] = []
        self.expected: int | None = None  # the SDU length of the SDU under way
        self.received = 0

    @property
    def under_way(self) -> bool:
        return self.expected is not None

    def reset(self) -> None:
        self.parts = []
        self.expected = None
        self.received = 0

    def add(self, frame: IFrame) -> bytes | Failure | None:
        sar = frame.sar
        if sar is Sar.UNSEGMENTED or sar is Sar.START:
            if self.under_way:
                return Failure.SAR_VIOLATION
            if sar is Sar.UNSEGMENTED:
                return frame.payload if len(frame.payload) <= self.mtu else Failure.SDU_EXCEEDS_MTU
            assert frame.sdu_length is not None
            if frame.sdu_length > self.mtu:
                return Failure.SDU_EXCEEDS_MTU
            if len(frame.payload) >= frame.sdu_length:
                return Failure.SAR_VIOLATION  # a start frame must leave something for the end
            self.expected = frame.sdu_length
            self.parts = [frame.payload]
            self.received = len(frame.payload)
            return None
        if self.expected is None:
            return Failure.SAR_VIOLATION
        self.received += len(frame.payload)
        if sar is Sar.CONTINUATION:
            if self.received >= self.expected:
                return Failure.SAR_VIOLATION
            self.parts.append(frame.payload)
            return None
        if self.received != self.expected:
            return Failure.SAR_VIOLATION
        self.parts.append(frame.payload)
        sdu = b"".join(self.parts)
        self.reset()
        return sdu


class RetransmissionChannel:
    """The Enhanced Retransmission or Streaming mode engine of one channel."""

    def __init__(self, parameters: RetransmissionParameters) -> None:
        problem = parameters.problem()
        if problem is not None:
            raise InvalidArgumentError(problem)
        self.parameters = parameters
        self.format = parameters.frame_format
        self.modulus = self.format.sequence_modulus
        self.streaming = parameters.mode is RetransmissionMode.STREAMING
        self.tx_state = TxState.XMIT
        self.rx_state = RxState.RECV
        # Transmitter variables (8.3).
        self.next_tx_seq = 0
        self.expected_ack_seq = 0
        self.unacked: dict[int, _Unacked] = {}
        self.pending: deque[_Segment] = deque()
        self.pending_octets = 0
        self.retry_count = 0  # polls sent in this WAIT_F (8.6.4)
        self.remote_busy = False
        self._waiting_for_space = False
        self._retransmission_running = False
        # Receiver variables (8.3).
        self.expected_tx_seq = 0
        self.buffer_seq = 0
        self.reorder: dict[int, IFrame] = {}
        self.srej_list: deque[int] = deque()
        self.last_acked_sent = 0  # the ReqSeq we last told the peer
        self._ack_timer_running = False
        self.local_busy = False
        self.rnr_sent = False
        # Our poll that ends a local busy condition is out (WAIT_F): see _receive_i_frame.
        self.busy_poll_out = False
        self.undelivered = 0  # SDUs handed up and not yet taken by the application
        self.reassembly = _Reassembly(parameters.local_mtu)
        # Counters.
        self.frames_dropped = 0
        self.sdus_lost = 0  # streaming: SDUs under reassembly dropped for a missing frame
        self.frames_missing = 0  # streaming: TxSeq values skipped
        self.failure: ChannelFailed | None = None

    # -- public interface ------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.failure is not None

    def queue_sdu(self, sdu: bytes, now: float) -> tuple[QueueResult, list[ChannelEffect]]:
        """Queue ``sdu`` for transmission; frames go out as the peer's window allows."""
        if self.closed:
            return QueueResult.CLOSED, []
        if len(sdu) > self.parameters.remote_mtu:
            return QueueResult.TOO_LONG, []
        if self.pending and self.pending_octets + len(sdu) > self.parameters.transmit_limit:
            self._waiting_for_space = True
            return QueueResult.FULL, []
        self._segment(sdu)
        effects: list[ChannelEffect] = []
        self._send_new_frames(now, effects)
        return QueueResult.QUEUED, effects

    def receive_pdu(self, pdu: bytes, now: float) -> list[ChannelEffect]:
        """A whole PDU that arrived on this channel's CID."""
        effects: list[ChannelEffect] = []
        if self.closed:
            return effects
        try:
            _, frame = decode_frame(pdu, self.format)
        except DecodeError:
            self.frames_dropped += 1
            return effects
        if self.streaming:
            if isinstance(frame, IFrame):
                self._streaming_receive(frame, effects)
            else:
                self.frames_dropped += 1  # no S-frames in streaming mode (3.3.2)
            return effects
        self._ertm_receive(frame, now, effects)
        return effects

    def timer_expired(self, timer: ChannelTimer, now: float) -> list[ChannelEffect]:
        effects: list[ChannelEffect] = []
        if self.closed:
            return effects
        if timer is ChannelTimer.RETRANSMISSION:
            self._retransmission_running = False
            if self.tx_state is TxState.XMIT and self._awaiting_peer():
                self.tx_state = transition(
                    TX_TRANSITIONS, self.tx_state, TxEvent.RETRANSMISSION_TIMER_EXPIRED
                )
                self.retry_count = 1
                self._send_poll(now, effects)
        elif timer is ChannelTimer.MONITOR:
            if self.tx_state is TxState.WAIT_F:
                limit = self.parameters.max_transmit
                if limit != 0 and self.retry_count >= limit:
                    self._fail(
                        Failure.MAX_TRANSMIT, f"{self.retry_count} polls unanswered", effects
                    )
                    return effects
                self.tx_state = transition(
                    TX_TRANSITIONS, self.tx_state, TxEvent.MONITOR_TIMER_EXPIRED
                )
                self.retry_count += 1
                self._send_poll(now, effects)
        else:
            self._ack_timer_running = False
            if self._ack_outstanding():
                self._send_supervisory(Supervisory.RR, effects)
        return effects

    def sdu_consumed(self, now: float) -> list[ChannelEffect]:
        """The application took one SDU of those delivered."""
        effects: list[ChannelEffect] = []
        if self.undelivered:
            self.undelivered -= 1
        if self.closed or not self.local_busy:
            return effects
        if self.undelivered < self.parameters.receive_limit:
            self.local_busy = False
            if self.rnr_sent:
                self.rnr_sent = False
                if self.tx_state is TxState.XMIT:
                    # 8.6.4.1 Local Busy Clear: poll with RR so the peer resends at once.
                    self.tx_state = transition(
                        TX_TRANSITIONS, self.tx_state, TxEvent.LOCAL_BUSY_CLEARED
                    )
                    self._cancel_retransmission(effects)
                    self.retry_count = 1
                    self.busy_poll_out = True
                    self._send_poll(now, effects)
                else:
                    self._send_supervisory(Supervisory.RR, effects)
        return effects

    # -- sequence arithmetic ---------------------------------------------------------------

    def _distance(self, later: int, earlier: int) -> int:
        return (later - earlier) % self.modulus

    def _next(self, seq: int) -> int:
        return (seq + 1) % self.modulus

    # -- transmit --------------------------------------------------------------------------

    def _segment(self, sdu: bytes) -> None:
        mps = self.parameters.remote_mps
        if len(sdu) <= mps:
            segments = [_Segment(Sar.UNSEGMENTED, None, sdu)]
        else:
            # The start frame's SDU length field counts against the MPS (3.3.2, 5.4).
            first = mps - 2
            segments = [_Segment(Sar.START, len(sdu), sdu[:first])]
            for offset in range(first, len(sdu), mps):
                last = offset + mps >= len(sdu)
                sar = Sar.END if last else Sar.CONTINUATION
                segments.append(_Segment(sar, None, sdu[offset : offset + mps]))
        self.pending.extend(segments)
        self.pending_octets += len(sdu)

    def _current_req_seq(self) -> int:
        return self.buffer_seq if self.rx_state is RxState.SREJ_SENT else self.expected_tx_seq

    def _can_send_new(self) -> bool:
        if self.streaming:
            return True
        return (
            self.tx_state is TxState.XMIT
            and not self.remote_busy
            and len(self.unacked) < self.parameters.remote_tx_window
        )

    def _send_new_frames(self, now: float, effects: list[ChannelEffect]) -> None:
        sent_any = False
        while self.pending and self._can_send_new():
            segment = self.pending.popleft()
            seq = self.next_tx_seq
            self.next_tx_seq = self._next(seq)
            entry = _Unacked(segment.sar, segment.sdu_length, segment.payload)
            self._release_octets(segment)
            if self.streaming:
                self._transmit_i_frame(seq, entry, effects, req_seq=0)
                continue
            self.unacked[seq] = entry
            self._transmit_i_frame(seq, entry, effects)
            sent_any = True
        if (sent_any or self._awaiting_peer()) and not self._retransmission_running:
            self._start_retransmission(now, effects)
        if self._waiting_for_space and self.pending_octets < self.parameters.transmit_limit:
            self._waiting_for_space = False
            effects.append(TransmitSpace())

    def _release_octets(self, segment: _Segment) -> None:
        self.pending_octets -= len(segment.payload)

    def _transmit_i_frame(
        self,
        seq: int,
        entry: _Unacked,
        effects: list[ChannelEffect],
        *,
        req_seq: int | None = None,
    ) -> None:
        entry.transmissions += 1
        if req_seq is None:
            req_seq = self._note_ack_sent(effects)
        frame = IFrame(seq, req_seq, entry.sar, entry.payload, sdu_length=entry.sdu_length)
        effects.append(TransmitPdu(self._encode(frame)))

    def _retransmit(self, seq: int, effects: list[ChannelEffect]) -> bool:
        """Send unacknowledged I-frame ``seq`` again; False when MaxTransmit failed the channel."""
        entry = self.unacked[seq]
        limit = self.parameters.max_transmit
        if limit != 0 and entry.transmissions >= limit:
            self._fail(Failure.MAX_TRANSMIT, f"I-frame {seq} sent {limit} times", effects)
            return False
        self._transmit_i_frame(seq, entry, effects)
        return True

    def _retransmit_from(self, req_seq: int, now: float, effects: list[ChannelEffect]) -> None:
        """Send every unacknowledged I-frame again, oldest first (REJ, or F=1 after a poll)."""
        if not self.remote_busy:
            seq = req_seq
            while seq != self.next_tx_seq:
                if seq in self.unacked and not self._retransmit(seq, effects):
                    return
                seq = self._next(seq)
        # While the peer is busy the timer keeps polling it, so a lost RR cannot stall us.
        if self._awaiting_peer():
            self._start_retransmission(now, effects)

    def _awaiting_peer(self) -> bool:
        """Whether we wait on the peer: for an acknowledgement, or, with frames queued, for
        the RR that ends its busy condition (Vol 3 Part A 8.6.4.1). The retransmission timer
        runs meanwhile and polls when it expires: that RR may be lost (and carries no poll when
        the peer's own poll is out), and without a timer we would wait for good."""
        return bool(self.unacked) or (self.remote_busy and bool(self.pending))

    def _send_poll(self, now: float, effects: list[ChannelEffect]) -> None:
        function = Supervisory.RNR if self.local_busy else Supervisory.RR
        self._send_supervisory(function, effects, poll=True)
        effects.append(
            StartChannelTimer(ChannelTimer.MONITOR, now + self.parameters.monitor_timeout)
        )

    def _send_supervisory(
        self,
        function: Supervisory,
        effects: list[ChannelEffect],
        *,
        poll: bool = False,
        final: bool = False,
        req_seq: int | None = None,
    ) -> None:
        if function is Supervisory.RR and self.local_busy:
            function = Supervisory.RNR
        if function is Supervisory.RNR:
            self.rnr_sent = True
        if req_seq is None:
            req_seq = self._note_ack_sent(effects)
        frame = SFrame(function, req_seq, poll=poll, final=final)
        effects.append(TransmitPdu(self._encode(frame)))

    def _note_ack_sent(self, effects: list[ChannelEffect]) -> int:
        req_seq = self._current_req_seq()
        self.last_acked_sent = req_seq
        if self._ack_timer_running:
            self._ack_timer_running = False
            effects.append(CancelChannelTimer(ChannelTimer.ACKNOWLEDGEMENT))
        return req_seq

    def _encode(self, frame: Frame) -> bytes:
        return encode_frame(self.parameters.remote_cid, frame, self.format)

    def _start_retransmission(self, now: float, effects: list[ChannelEffect]) -> None:
        if self.tx_state is not TxState.XMIT:
            return
        self._retransmission_running = True
        deadline = now + self.parameters.retransmission_timeout
        effects.append(StartChannelTimer(ChannelTimer.RETRANSMISSION, deadline))

    def _cancel_retransmission(self, effects: list[ChannelEffect]) -> None:
        if self._retransmission_running:
            self._retransmission_running = False
            effects.append(CancelChannelTimer(ChannelTimer.RETRANSMISSION))

    # -- receive, Enhanced Retransmission mode ---------------------------------------------

    def _ertm_receive(self, frame: Frame, now: float, effects: list[ChannelEffect]) -> None:
        if isinstance(frame, SFrame) and frame.function is Supervisory.SREJ:
            # SREJ asks for one unacknowledged frame and acknowledges nothing (3.3.2).
            valid = frame.req_seq in self.unacked
        else:
            acknowledged = self._distance(frame.req_seq, self.expected_ack_seq)
            valid = acknowledged <= self._distance(self.next_tx_seq, self.expected_ack_seq)
        if not valid:
            self._fail(Failure.INVALID_REQ_SEQ, f"ReqSeq {frame.req_seq}", effects)
            return
        retransmitted = False
        if frame.final and self.tx_state is TxState.WAIT_F:
            # 8.6.4.2: the answer to our poll; stop the monitor timer and resume.
            self.tx_state = transition(TX_TRANSITIONS, self.tx_state, TxEvent.FINAL_RECEIVED)
            self.busy_poll_out = False
            self.retry_count = 0
            effects.append(CancelChannelTimer(ChannelTimer.MONITOR))
            if isinstance(frame, SFrame):
                self.remote_busy = frame.function is Supervisory.RNR
            if not (isinstance(frame, SFrame) and frame.function is Supervisory.SREJ):
                self._acknowledge(frame.req_seq, now, effects)
            self._retransmit_from(self.expected_ack_seq, now, effects)
            retransmitted = True
            if self.closed:
                return
        elif not (isinstance(frame, SFrame) and frame.function is Supervisory.SREJ):
            self._acknowledge(frame.req_seq, now, effects)
        if isinstance(frame, IFrame):
            self._receive_i_frame(frame, now, effects)
        else:
            self._receive_s_frame(frame, retransmitted, now, effects)
        if not self.closed:
            self._send_new_frames(now, effects)

    def _acknowledge(self, req_seq: int, now: float, effects: list[ChannelEffect]) -> None:
        acked_any = False
        sdus = 0
        while self.expected_ack_seq != req_seq:
            entry = self.unacked.pop(self.expected_ack_seq, None)
            if entry is not None and entry.sar in (Sar.UNSEGMENTED, Sar.END):
                sdus += 1
            self.expected_ack_seq = self._next(self.expected_ack_seq)
            acked_any = True
        if sdus:
            effects.append(SdusAcknowledged(sdus))
        if not self._awaiting_peer():
            self._cancel_retransmission(effects)
        elif acked_any and not self.remote_busy:
            self._start_retransmission(now, effects)

    def _receive_s_frame(
        self, frame: SFrame, retransmitted: bool, now: float, effects: list[ChannelEffect]
    ) -> None:
        function = frame.function
        if frame.poll:
            # Answer a poll with our receive state, F=1 (8.6.4.1 "Recv RR/RNR (P=1)").
            self._send_supervisory(Supervisory.RR, effects, final=True)
        busy_cleared = False
        if function is Supervisory.RNR:
            self.remote_busy = True
        elif function is not Supervisory.SREJ:
            busy_cleared = self.remote_busy
            self.remote_busy = False
        if function is Supervisory.REJ and not retransmitted:
            self._retransmit_from(frame.req_seq, now, effects)
        elif function is Supervisory.RR and busy_cleared and frame.poll and not retransmitted:
            # The peer polls as its local busy clears: it discarded what we sent meanwhile,
            # so send everything unacknowledged again now rather than at our next time-out.
            self._retransmit_from(frame.req_seq, now, effects)
        elif busy_cleared and self.unacked and not self._retransmission_running:
            self._start_retransmission(now, effects)
        elif function is Supervisory.SREJ and not self.remote_busy:
            self._retransmit_selected(frame.req_seq, now, effects)

    def _retransmit_selected(self, seq: int, now: float, effects: list[ChannelEffect]) -> None:
        """Send I-frame ``seq`` again, as an SREJ asks (3.3.2), and time its acknowledgement."""
        if self._retransmit(seq, effects):
            self._start_retransmission(now, effects)

    def _classify(self, tx_seq: int) -> RxEvent | None:
        """What ``tx_seq`` is to the receiver in its state; None for a frame outside the window.

        The peer sends nothing at or past ``BufferSeq + TxWindow`` and resends nothing older
        than ``BufferSeq - TxWindow``; our window is at most half the sequence space (see
        :meth:`RetransmissionParameters.problem`), so the two ranges never overlap and a frame
        is never taken for new when it is old.
        """
        window = self.parameters.local_tx_window
        if self.rx_state is RxState.SREJ_SENT and tx_seq in self.srej_list:
            if len(self.srej_list) == 1:
                return RxEvent.SREJ_FRAME_LAST
            return RxEvent.SREJ_FRAME_PENDING
        if tx_seq == self.expected_tx_seq:
            return RxEvent.EXPECTED_TX_SEQ
        ahead = self._distance(tx_seq, self.buffer_seq)
        if ahead < self._distance(self.expected_tx_seq, self.buffer_seq):
            return RxEvent.DUPLICATE_TX_SEQ  # buffered already, in SREJ_SENT
        if ahead < window:
            if self.rx_state is RxState.REJ_SENT or self.parameters.recovery is Recovery.REJ:
                return RxEvent.UNEXPECTED_TX_SEQ_REJ
            return RxEvent.UNEXPECTED_TX_SEQ_SREJ
        if self._distance(self.buffer_seq, tx_seq) <= window:
            return RxEvent.DUPLICATE_TX_SEQ
        return None

    def _receive_i_frame(self, frame: IFrame, now: float, effects: list[ChannelEffect]) -> None:
        if len(frame.payload) > self.parameters.local_mps:
            self._fail(Failure.FRAME_EXCEEDS_MPS, f"{len(frame.payload)} octets", effects)
            return
        event = self._classify(frame.tx_seq)
        if event is None:
            self._fail(Failure.INVALID_TX_SEQ, f"TxSeq {frame.tx_seq}", effects)
            return
        if event is RxEvent.DUPLICATE_TX_SEQ:
            self.frames_dropped += 1
            return
        if self.local_busy and self.rx_state is RxState.RECV and self._busy_room_used():
            # Local busy (8.6.5.4), and what a peer that heard our RNR can still have in
            # flight is taken already: not taken, not acknowledged; the peer resends it later.
            self.frames_dropped += 1
            return
        if event is RxEvent.UNEXPECTED_TX_SEQ_REJ and self.rx_state is RxState.REJ_SENT:
            self.frames_dropped += 1
            return
        if (
            self.busy_poll_out
            and self.rx_state is RxState.RECV
            and event in (RxEvent.UNEXPECTED_TX_SEQ_SREJ, RxEvent.UNEXPECTED_TX_SEQ_REJ)
        ):
            # The gap is what we discarded while busy, and our poll already asks the peer for
            # everything from ExpectedTxSeq (it answers F=1 and resends, or its retransmission
            # timer does): an SREJ or REJ now would have those frames sent once more, which
            # counts against MaxTransmit without any loss. These frames come again too.
            self.frames_dropped += 1
            return
        self.rx_state = transition(RX_TRANSITIONS, self.rx_state, event)
        if event is RxEvent.EXPECTED_TX_SEQ:
            self.expected_tx_seq = self._next(frame.tx_seq)
            if self.rx_state is RxState.SREJ_SENT:
                self.reorder[frame.tx_seq] = frame
            else:
                self.buffer_seq = self.expected_tx_seq
                self._deliver(frame, effects)
        elif event is RxEvent.UNEXPECTED_TX_SEQ_REJ:
            self._send_supervisory(Supervisory.REJ, effects)
            return
        elif event is RxEvent.UNEXPECTED_TX_SEQ_SREJ:
            seq = self.expected_tx_seq
            while seq != frame.tx_seq:
                self.srej_list.append(seq)
                self._send_supervisory(Supervisory.SREJ, effects, req_seq=seq)
                seq = self._next(seq)
            self.reorder[frame.tx_seq] = frame
            self.expected_tx_seq = self._next(frame.tx_seq)
            return
        else:
            self.srej_list.remove(frame.tx_seq)
            self.reorder[frame.tx_seq] = frame
            while self.buffer_seq in self.reorder and not self.closed:
                self._deliver(self.reorder.pop(self.buffer_seq), effects)
                self.buffer_seq = self._next(self.buffer_seq)
            if self.rx_state is RxState.RECV:
                self.buffer_seq = self.expected_tx_seq
                self.reorder.clear()
        if self.closed:
            return
        self._schedule_ack(now, effects)

    def _busy_room_used(self) -> bool:
        """Whether a locally busy receiver has taken all it takes: the SDUs unread when it
        became busy plus what the peer sent before our RNR reached it, at most its window.
        Taking those (and acknowledging them with RNR) instead of discarding them spares the
        peer a retransmission of each one per busy period, which counts against MaxTransmit
        although nothing was lost; past that bound the peer ignores our RNR."""
        return self.undelivered >= self.parameters.receive_limit + self.parameters.local_tx_window

    def _ack_outstanding(self) -> bool:
        return self._current_req_seq() != self.last_acked_sent

    def _schedule_ack(self, now: float, effects: list[ChannelEffect]) -> None:
        if self.local_busy and not self.rnr_sent:
            self._send_supervisory(Supervisory.RNR, effects)
            return
        if not self._ack_outstanding():
            return
        if self.pending and self._can_send_new():
            return  # the next I-frame carries it
        unacked = self._distance(self._current_req_seq(), self.last_acked_sent)
        if unacked >= max(1, self.parameters.local_tx_window // 4) or self.local_busy:
            self._send_supervisory(Supervisory.RR, effects)
        elif not self._ack_timer_running:
            self._ack_timer_running = True
            # Well inside the peer's retransmission time-out (5.4).
            delay = self.parameters.retransmission_timeout / 10
            effects.append(StartChannelTimer(ChannelTimer.ACKNOWLEDGEMENT, now + delay))

    def _deliver(self, frame: IFrame, effects: list[ChannelEffect]) -> None:
        result = self.reassembly.add(frame)
        if isinstance(result, Failure):
            self._fail(result, f"I-frame {frame.tx_seq} ({frame.sar.name})", effects)
        elif result is not None:
            self.undelivered += 1
            effects.append(SduReceived(result))
            if self.undelivered >= self.parameters.receive_limit:
                self.local_busy = True  # announced by _schedule_ack, with the final ReqSeq

    # -- receive, Streaming mode (8.7) -----------------------------------------------------

    def _streaming_receive(self, frame: IFrame, effects: list[ChannelEffect]) -> None:
        if len(frame.payload) > self.parameters.local_mps:
            self.frames_dropped += 1
            return
        if frame.tx_seq != self.expected_tx_seq:
            self.frames_missing += self._distance(frame.tx_seq, self.expected_tx_seq)
            if self.reassembly.under_way:
                self.reassembly.reset()
                self.sdus_lost += 1
        self.expected_tx_seq = self._next(frame.tx_seq)
        if frame.sar in (Sar.CONTINUATION, Sar.END) and not self.reassembly.under_way:
            self.frames_dropped += 1  # the rest of an SDU whose start was lost
            return
        result = self.reassembly.add(frame)
        if isinstance(result, Failure):
            self.reassembly.reset()
            self.sdus_lost += 1
        elif result is not None:
            effects.append(SduReceived(result))

    # -- failure ---------------------------------------------------------------------------

    def _fail(self, failure: Failure, detail: str, effects: list[ChannelEffect]) -> None:
        if self.closed:
            return
        self.tx_state = transition(TX_TRANSITIONS, self.tx_state, TxEvent.CHANNEL_FAILED)
        self.rx_state = transition(RX_TRANSITIONS, self.rx_state, RxEvent.CHANNEL_FAILED)
        self.failure = ChannelFailed(failure, detail)
        for timer in ChannelTimer:
            effects.append(CancelChannelTimer(timer))
        self.unacked.clear()
        self.pending.clear()
        self.reorder.clear()
        self.srej_list.clear()
        self.reassembly.reset()
        effects.append(self.failure)
