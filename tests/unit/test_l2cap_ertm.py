"""The Enhanced Retransmission and Streaming mode engine, state by state and timer by timer
(Core 5.4 Vol 3 Part A 8.6.4, 8.6.5, 8.7), driven synchronously with hand-made frames."""

from __future__ import annotations

import itertools

import attrs
import pytest

from bluetrio.actors.l2cap.ertm import (
    CancelChannelTimer,
    ChannelEffect,
    ChannelFailed,
    ChannelTimer,
    Failure,
    QueueResult,
    Recovery,
    RetransmissionChannel,
    RetransmissionMode,
    RetransmissionParameters,
    SduReceived,
    StartChannelTimer,
    TransmitPdu,
    TransmitSpace,
)
from bluetrio.actors.l2cap.ertm_states import (
    RX_TRANSITIONS,
    TX_TRANSITIONS,
    RxEvent,
    RxState,
    TxEvent,
    TxState,
)
from bluetrio.actors.state_machine import transition
from bluetrio.errors import InvalidArgumentError, StateTransitionError
from bluetrio.messages.l2cap.retransmission_frames import (
    Frame,
    FrameFormat,
    IFrame,
    Sar,
    SFrame,
    Supervisory,
    decode_frame,
    encode_frame,
)

ERTM = RetransmissionMode.ENHANCED_RETRANSMISSION
FMT = FrameFormat()
LOCAL_CID = 0x0040
REMOTE_CID = 0x0041


def engine(**changes: object) -> RetransmissionChannel:
    parameters = RetransmissionParameters(
        mode=ERTM,
        remote_cid=REMOTE_CID,
        local_mtu=1000,
        local_mps=100,
        remote_mtu=1000,
        remote_mps=100,
        local_tx_window=8,
        remote_tx_window=4,
        max_transmit=3,
    )
    return RetransmissionChannel(attrs.evolve(parameters, **changes))  # type: ignore[arg-type]


def sent(effects: list[ChannelEffect], fmt: FrameFormat = FMT) -> list[Frame]:
    frames = []
    for effect in effects:
        if isinstance(effect, TransmitPdu):
            cid, frame = decode_frame(effect.pdu, fmt)
            assert cid == REMOTE_CID
            frames.append(frame)
    return frames


def timers(effects: list[ChannelEffect]) -> list[tuple[str, ChannelTimer, float | None]]:
    out: list[tuple[str, ChannelTimer, float | None]] = []
    for effect in effects:
        if isinstance(effect, StartChannelTimer):
            out.append(("start", effect.timer, effect.deadline))
        elif isinstance(effect, CancelChannelTimer):
            out.append(("cancel", effect.timer, None))
    return out


def delivered(effects: list[ChannelEffect]) -> list[bytes]:
    return [effect.sdu for effect in effects if isinstance(effect, SduReceived)]


def failures(effects: list[ChannelEffect]) -> list[ChannelFailed]:
    return [effect for effect in effects if isinstance(effect, ChannelFailed)]


def pdu(frame: Frame, fmt: FrameFormat = FMT) -> bytes:
    return encode_frame(LOCAL_CID, frame, fmt)


def i_frame(tx_seq: int, payload: bytes = b"x", req_seq: int = 0, **kw: object) -> bytes:
    return pdu(IFrame(tx_seq, req_seq, Sar.UNSEGMENTED, payload, **kw))  # type: ignore[arg-type]


def s_frame(function: Supervisory, req_seq: int, **kw: object) -> bytes:
    return pdu(SFrame(function, req_seq, **kw))  # type: ignore[arg-type]


def queue(channel: RetransmissionChannel, sdu: bytes, now: float = 0.0) -> list[ChannelEffect]:
    result, effects = channel.queue_sdu(sdu, now)
    assert result is QueueResult.QUEUED
    return effects


# -- the tables -------------------------------------------------------------------------------


@pytest.mark.parametrize(("state", "event"), list(itertools.product(TxState, TxEvent)))
def test_every_transmitter_pair_is_taken_or_refused(state: TxState, event: TxEvent) -> None:
    if (state, event) in TX_TRANSITIONS:
        assert transition(TX_TRANSITIONS, state, event) is TX_TRANSITIONS[state, event]
    else:
        with pytest.raises(StateTransitionError):
            transition(TX_TRANSITIONS, state, event)


@pytest.mark.parametrize(("state", "event"), list(itertools.product(RxState, RxEvent)))
def test_every_receiver_pair_is_taken_or_refused(state: RxState, event: RxEvent) -> None:
    if (state, event) in RX_TRANSITIONS:
        assert transition(RX_TRANSITIONS, state, event) is RX_TRANSITIONS[state, event]
    else:
        with pytest.raises(StateTransitionError):
            transition(RX_TRANSITIONS, state, event)


# -- parameters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"remote_tx_window": 64},
        {"local_tx_window": 33},  # more than half of the modulo-64 sequence space
        {"local_tx_window": 0},
        {"remote_mps": 0},
        {"local_mtu": 0},
        {"max_transmit": 256},
        {"retransmission_timeout": 0.0},
        {"transmit_limit": 0},
    ],
)
def test_parameters_are_checked(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidArgumentError):
        engine(**changes)


def test_extended_control_allows_large_windows() -> None:
    channel = engine(
        frame_format=FrameFormat(extended_control=True),
        local_tx_window=0x2000,
        remote_tx_window=0x3FFF,
    )
    assert channel.modulus == 0x4000


# -- transmitter: XMIT ------------------------------------------------------------------------


def test_an_sdu_goes_out_as_one_i_frame_and_starts_the_retransmission_timer() -> None:
    channel = engine()
    effects = queue(channel, b"hello", now=1.0)
    assert sent(effects) == [IFrame(0, 0, Sar.UNSEGMENTED, b"hello")]
    assert timers(effects) == [("start", ChannelTimer.RETRANSMISSION, 3.0)]
    # The RR that acknowledges it stops the timer.
    effects = channel.receive_pdu(s_frame(Supervisory.RR, 1), 1.5)
    assert timers(effects) == [("cancel", ChannelTimer.RETRANSMISSION, None)]
    assert channel.unacked == {}
    assert channel.expected_ack_seq == 1


def test_an_sdu_over_the_peer_mps_is_segmented() -> None:
    channel = engine(remote_mps=10, remote_tx_window=10)
    sdu = bytes(range(25))
    frames = sent(queue(channel, sdu))
    assert frames == [
        IFrame(0, 0, Sar.START, sdu[:8], sdu_length=25),
        IFrame(1, 0, Sar.CONTINUATION, sdu[8:18]),
        IFrame(2, 0, Sar.END, sdu[18:]),
    ]
    receiver = engine(local_mps=10)
    received = []
    for frame in frames:
        received += delivered(receiver.receive_pdu(pdu(frame), 0.0))
    assert received == [sdu]


def test_the_peer_window_bounds_the_unacknowledged_frames() -> None:
    channel = engine(remote_tx_window=2)
    frames = sent(queue(channel, b"a") + queue(channel, b"b") + queue(channel, b"c"))
    assert [f.tx_seq for f in frames if isinstance(f, IFrame)] == [0, 1]
    effects = channel.receive_pdu(s_frame(Supervisory.RR, 1), 0.1)
    assert sent(effects) == [IFrame(2, 0, Sar.UNSEGMENTED, b"c")]


def test_acknowledgement_rides_on_i_frames() -> None:
    channel = engine()
    channel.receive_pdu(i_frame(0), 0.0)
    frames = sent(queue(channel, b"reply"))
    assert frames == [IFrame(0, 1, Sar.UNSEGMENTED, b"reply")]


def test_the_transmit_queue_is_bounded_and_says_when_it_has_room() -> None:
    channel = engine(remote_tx_window=1, transmit_limit=10)
    queue(channel, b"1" * 8)  # sent at once
    queue(channel, b"2" * 8)  # waits for the window
    result, _ = channel.queue_sdu(b"3" * 8, 0.0)
    assert result is QueueResult.FULL
    effects = channel.receive_pdu(s_frame(Supervisory.RR, 1), 0.1)
    assert TransmitSpace() in effects
    assert channel.queue_sdu(b"3" * 8, 0.1)[0] is QueueResult.QUEUED


def test_an_sdu_over_the_peer_mtu_is_refused() -> None:
    channel = engine(remote_mtu=10)
    assert channel.queue_sdu(bytes(11), 0.0) == (QueueResult.TOO_LONG, [])


# -- transmitter: retransmission and monitor timers, WAIT_F -----------------------------------


def test_retransmission_timer_polls_and_enters_wait_f() -> None:
    channel = engine()
    queue(channel, b"a")
    effects = channel.timer_expired(ChannelTimer.RETRANSMISSION, 2.0)
    assert sent(effects) == [SFrame(Supervisory.RR, 0, poll=True)]
    assert timers(effects) == [("start", ChannelTimer.MONITOR, 14.0)]
    assert channel.tx_state is TxState.WAIT_F
    # No new I-frames while waiting for the F-bit.
    assert sent(queue(channel, b"b")) == []


def test_final_bit_resumes_and_resends_what_is_unacknowledged() -> None:
    channel = engine()
    queue(channel, b"a")
    queue(channel, b"b")
    channel.timer_expired(ChannelTimer.RETRANSMISSION, 2.0)
    queue(channel, b"c")
    # The peer has "a" only.
    effects = channel.receive_pdu(s_frame(Supervisory.RR, 1, final=True), 2.1)
    assert channel.tx_state is TxState.XMIT
    assert ("cancel", ChannelTimer.MONITOR, None) in timers(effects)
    assert [(f.tx_seq, f.payload) for f in sent(effects) if isinstance(f, IFrame)] == [
        (1, b"b"),
        (2, b"c"),
    ]


def test_monitor_timer_repeats_the_poll_until_max_transmit() -> None:
    channel = engine(max_transmit=3)
    queue(channel, b"a")
    channel.timer_expired(ChannelTimer.RETRANSMISSION, 2.0)  # poll 1
    for attempt in (2, 3):
        effects = channel.timer_expired(ChannelTimer.MONITOR, 12.0 * attempt)
        assert sent(effects) == [SFrame(Supervisory.RR, 0, poll=True)]
        assert channel.tx_state is TxState.WAIT_F
    effects = channel.timer_expired(ChannelTimer.MONITOR, 48.0)
    [failure] = failures(effects)
    assert failure.failure is Failure.MAX_TRANSMIT
    assert channel.closed and channel.tx_state is TxState.CLOSED
    assert channel.receive_pdu(s_frame(Supervisory.RR, 1, final=True), 49.0) == []


def test_max_transmit_zero_polls_forever() -> None:
    channel = engine(max_transmit=0)
    queue(channel, b"a")
    channel.timer_expired(ChannelTimer.RETRANSMISSION, 2.0)
    for attempt in range(300):
        assert not failures(channel.timer_expired(ChannelTimer.MONITOR, 14.0 + attempt))
    assert channel.retry_count == 301


def test_an_i_frame_is_sent_at_most_max_transmit_times() -> None:
    channel = engine(max_transmit=2)
    queue(channel, b"a")
    effects = channel.receive_pdu(s_frame(Supervisory.REJ, 0), 0.1)
    assert sent(effects) == [IFrame(0, 0, Sar.UNSEGMENTED, b"a")]
    [failure] = failures(channel.receive_pdu(s_frame(Supervisory.REJ, 0), 0.2))
    assert failure.failure is Failure.MAX_TRANSMIT
    assert "I-frame 0" in failure.reason


# -- transmitter: the peer's REJ, SREJ, RNR and polls -----------------------------------------


def test_rej_resends_everything_from_its_req_seq() -> None:
    channel = engine()
    for sdu in (b"a", b"b", b"c"):
        queue(channel, sdu)
    effects = channel.receive_pdu(s_frame(Supervisory.REJ, 1), 0.1)
    assert [f.tx_seq for f in sent(effects) if isinstance(f, IFrame)] == [1, 2]
    assert 0 not in channel.unacked


def test_srej_resends_one_frame_and_acknowledges_nothing() -> None:
    channel = engine()
    for sdu in (b"a", b"b", b"c"):
        queue(channel, sdu)
    effects = channel.receive_pdu(s_frame(Supervisory.SREJ, 1), 0.1)
    assert sent(effects) == [IFrame(1, 0, Sar.UNSEGMENTED, b"b")]
    assert sorted(channel.unacked) == [0, 1, 2]


def test_rnr_stops_new_frames_until_rr() -> None:
    channel = engine()
    queue(channel, b"a")
    channel.receive_pdu(s_frame(Supervisory.RNR, 1), 0.1)
    assert channel.remote_busy
    assert sent(queue(channel, b"b")) == []
    effects = channel.receive_pdu(s_frame(Supervisory.RR, 1), 0.2)
    assert sent(effects) == [IFrame(1, 0, Sar.UNSEGMENTED, b"b")]


def test_a_poll_is_answered_with_the_final_bit() -> None:
    channel = engine()
    channel.receive_pdu(i_frame(0), 0.0)
    effects = channel.receive_pdu(s_frame(Supervisory.RR, 0, poll=True), 0.1)
    assert sent(effects) == [SFrame(Supervisory.RR, 1, final=True)]


@pytest.mark.parametrize("req_seq", [2, 63])
def test_a_req_seq_acknowledging_frames_never_sent_closes_the_channel(req_seq: int) -> None:
    channel = engine()
    queue(channel, b"a")
    effects = channel.receive_pdu(s_frame(Supervisory.RR, req_seq), 0.1)
    [failure] = failures(effects)
    assert failure.failure is Failure.INVALID_REQ_SEQ
    assert f"ReqSeq {req_seq}" in failure.reason
    # Every timer stops with the channel, and nothing queued stays behind.
    assert {timer for kind, timer, _ in timers(effects) if kind == "cancel"} == set(ChannelTimer)
    assert channel.unacked == {} and not channel.pending
    assert channel.queue_sdu(b"late", 0.2) == (QueueResult.CLOSED, [])


def test_srej_for_a_frame_not_outstanding_closes_the_channel() -> None:
    channel = engine()
    queue(channel, b"a")
    [failure] = failures(channel.receive_pdu(s_frame(Supervisory.SREJ, 1), 0.1))
    assert failure.failure is Failure.INVALID_REQ_SEQ


# -- receiver: RECV and acknowledgement -------------------------------------------------------


def test_in_sequence_frames_are_delivered_and_acknowledged_by_timer() -> None:
    channel = engine()
    effects = channel.receive_pdu(i_frame(0, b"one"), 1.0)
    assert delivered(effects) == [b"one"]
    assert timers(effects) == [("start", ChannelTimer.ACKNOWLEDGEMENT, 1.2)]
    effects = channel.timer_expired(ChannelTimer.ACKNOWLEDGEMENT, 1.2)
    assert sent(effects) == [SFrame(Supervisory.RR, 1)]
    # Nothing new: the timer sends nothing.
    assert sent(channel.timer_expired(ChannelTimer.ACKNOWLEDGEMENT, 1.4)) == []


def test_a_quarter_window_is_acknowledged_at_once() -> None:
    channel = engine(local_tx_window=8)
    channel.receive_pdu(i_frame(0), 0.0)
    effects = channel.receive_pdu(i_frame(1), 0.0)
    assert SFrame(Supervisory.RR, 2) in sent(effects)
    assert ("cancel", ChannelTimer.ACKNOWLEDGEMENT, None) in timers(effects)


def test_duplicates_are_dropped() -> None:
    channel = engine()
    channel.receive_pdu(i_frame(0), 0.0)
    assert channel.receive_pdu(i_frame(0), 0.0) == []
    assert channel.frames_dropped == 1


def test_a_tx_seq_outside_the_window_closes_the_channel() -> None:
    channel = engine(local_tx_window=8)
    [failure] = failures(channel.receive_pdu(i_frame(20), 0.0))
    assert failure.failure is Failure.INVALID_TX_SEQ
    assert channel.rx_state is RxState.CLOSED


def test_a_frame_with_a_bad_fcs_is_dropped() -> None:
    channel = engine()
    corrupted = bytearray(i_frame(0, b"data"))
    corrupted[-3] ^= 0x01
    assert channel.receive_pdu(bytes(corrupted), 0.0) == []
    assert channel.frames_dropped == 1 and not channel.closed


# -- receiver: SREJ_SENT and REJ_SENT ---------------------------------------------------------


def test_a_gap_is_recovered_with_srej() -> None:
    channel = engine()
    channel.receive_pdu(i_frame(0, b"0"), 0.0)
    effects = channel.receive_pdu(i_frame(3, b"3"), 0.0)
    assert sent(effects) == [SFrame(Supervisory.SREJ, 1), SFrame(Supervisory.SREJ, 2)]
    assert channel.rx_state is RxState.SREJ_SENT
    assert delivered(effects) == []
    # Acknowledgements in SREJ_SENT carry BufferSeq, the oldest missing frame.
    assert sent(queue(channel, b"out"))[0].req_seq == 1
    channel.receive_pdu(i_frame(4, b"4"), 0.0)  # new, buffered
    assert channel.receive_pdu(i_frame(3, b"3"), 0.0) == []  # buffered already
    effects = channel.receive_pdu(i_frame(2, b"2"), 0.0)
    assert delivered(effects) == [] and channel.rx_state is RxState.SREJ_SENT
    effects = channel.receive_pdu(i_frame(1, b"1"), 0.0)
    assert delivered(effects) == [b"1", b"2", b"3", b"4"]
    assert channel.rx_state is RxState.RECV
    assert channel.buffer_seq == channel.expected_tx_seq == 5
    assert channel.reorder == {}


def test_a_gap_is_recovered_with_rej() -> None:
    channel = engine(recovery=Recovery.REJ)
    channel.receive_pdu(i_frame(0, b"0"), 0.0)
    effects = channel.receive_pdu(i_frame(2, b"2"), 0.0)
    assert sent(effects) == [SFrame(Supervisory.REJ, 1)]
    assert channel.rx_state is RxState.REJ_SENT
    # Further frames past the gap are dropped, the REJ is not repeated.
    assert channel.receive_pdu(i_frame(3, b"3"), 0.0) == []
    effects = channel.receive_pdu(i_frame(1, b"1"), 0.0)
    assert delivered(effects) == [b"1"]
    assert channel.rx_state is RxState.RECV


# -- receiver: SAR, MTU and MPS ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("frames", "failure"),
    [
        ([IFrame(0, 0, Sar.END, b"x")], Failure.SAR_VIOLATION),
        ([IFrame(0, 0, Sar.CONTINUATION, b"x")], Failure.SAR_VIOLATION),
        (
            [IFrame(0, 0, Sar.START, b"x", sdu_length=5), IFrame(1, 0, Sar.UNSEGMENTED, b"y")],
            Failure.SAR_VIOLATION,
        ),
        (
            [IFrame(0, 0, Sar.START, b"xy", sdu_length=3), IFrame(1, 0, Sar.END, b"zz")],
            Failure.SAR_VIOLATION,
        ),
        (
            [IFrame(0, 0, Sar.START, b"xy", sdu_length=3), IFrame(1, 0, Sar.CONTINUATION, b"z")],
            Failure.SAR_VIOLATION,
        ),
        ([IFrame(0, 0, Sar.START, b"xyz", sdu_length=3)], Failure.SAR_VIOLATION),
        ([IFrame(0, 0, Sar.START, b"x", sdu_length=1001)], Failure.SDU_EXCEEDS_MTU),
        ([IFrame(0, 0, Sar.UNSEGMENTED, bytes(101))], Failure.FRAME_EXCEEDS_MPS),
    ],
)
def test_sar_violations_close_the_channel(frames: list[IFrame], failure: Failure) -> None:
    channel = engine(local_mtu=1000, local_mps=100)
    effects: list[ChannelEffect] = []
    for frame in frames:
        effects += channel.receive_pdu(pdu(frame), 0.0)
    assert [f.failure for f in failures(effects)] == [failure]


def test_an_unsegmented_sdu_over_the_mtu_closes_the_channel() -> None:
    channel = engine(local_mtu=50, local_mps=100)
    [failure] = failures(channel.receive_pdu(i_frame(0, bytes(51)), 0.0))
    assert failure.failure is Failure.SDU_EXCEEDS_MTU


# -- receiver: local busy ---------------------------------------------------------------------


def test_local_busy_sends_rnr_takes_a_window_more_then_discards_and_polls() -> None:
    channel = engine(receive_limit=1, local_tx_window=1)
    effects = channel.receive_pdu(i_frame(0, b"0"), 0.0)
    assert delivered(effects) == [b"0"]
    assert sent(effects) == [SFrame(Supervisory.RNR, 1)]
    assert channel.local_busy
    # What the peer sent before our RNR reached it (at most its window) is taken, and
    # acknowledged with RNR, so it is not sent again.
    effects = channel.receive_pdu(i_frame(1, b"1"), 0.1)
    assert delivered(effects) == [b"1"]
    assert sent(effects) == [SFrame(Supervisory.RNR, 2)]
    # Past that the peer ignores our RNR: not taken and not acknowledged.
    assert channel.receive_pdu(i_frame(2, b"2"), 0.1) == []
    assert channel.expected_tx_seq == 2
    channel.sdu_consumed(0.2)
    effects = channel.sdu_consumed(0.2)
    assert not channel.local_busy
    assert sent(effects) == [SFrame(Supervisory.RR, 2, poll=True)]
    assert channel.tx_state is TxState.WAIT_F
    effects = channel.receive_pdu(i_frame(2, b"2", final=True), 0.3)
    assert delivered(effects) == [b"2"] and channel.tx_state is TxState.XMIT


# -- streaming mode (8.7) ---------------------------------------------------------------------


def streaming(**changes: object) -> RetransmissionChannel:
    return engine(mode=RetransmissionMode.STREAMING, **changes)


def test_streaming_sends_without_window_timers_or_acknowledgement() -> None:
    channel = streaming(remote_tx_window=1)
    effects = queue(channel, b"a") + queue(channel, b"b") + queue(channel, b"c")
    assert [f.tx_seq for f in sent(effects) if isinstance(f, IFrame)] == [0, 1, 2]
    assert timers(effects) == []
    assert channel.unacked == {}


def test_streaming_drops_the_sdu_that_lost_a_frame_and_counts_it() -> None:
    channel = streaming(local_mps=10)
    frames = [
        IFrame(0, 0, Sar.START, b"01234567", sdu_length=20),
        IFrame(1, 0, Sar.CONTINUATION, b"89abcdefgh"),
        IFrame(2, 0, Sar.END, b"ij"),
        IFrame(3, 0, Sar.UNSEGMENTED, b"whole"),
    ]
    effects: list[ChannelEffect] = []
    for frame in (frames[0], frames[2], frames[3]):  # the continuation is lost
        effects += channel.receive_pdu(pdu(frame), 0.0)
    assert delivered(effects) == [b"whole"]
    assert channel.sdus_lost == 1
    assert channel.frames_missing == 1
    assert sent(effects) == [] and timers(effects) == []


def test_streaming_ignores_s_frames_and_survives_sar_violations() -> None:
    channel = streaming()
    assert channel.receive_pdu(s_frame(Supervisory.RR, 5), 0.0) == []
    channel.receive_pdu(pdu(IFrame(0, 0, Sar.START, b"x", sdu_length=1001)), 0.0)
    effects = channel.receive_pdu(i_frame(1, b"next"), 0.0)
    assert delivered(effects) == [b"next"]
    assert not channel.closed


def test_frames_past_the_gap_of_a_busy_period_wait_for_the_answer_to_our_poll() -> None:
    # A frame discarded while busy leaves a gap; frames the peer sent before it heard our
    # poll land past it. Asking for the gap with SREJ as well would have the peer send the
    # frame once more than the poll already does (MaxTransmit closed channels that lost
    # nothing).
    channel = engine(receive_limit=1, local_tx_window=2)
    for seq in range(3):
        channel.receive_pdu(i_frame(seq, bytes([seq])), 0.0)
    assert channel.local_busy and channel.undelivered == 3
    assert channel.receive_pdu(i_frame(3, b"3"), 0.1) == []  # discarded: the room is used
    for _ in range(3):
        effects = channel.sdu_consumed(0.2)
    assert sent(effects) == [SFrame(Supervisory.RR, 3, poll=True)]
    # Frame 4 was already on its way: no SREJ for 3, it is dropped too.
    assert sent(channel.receive_pdu(i_frame(4, b"4"), 0.3)) == []
    assert channel.rx_state is RxState.RECV
    # The peer answers the poll and sends 3 and 4 again; both are delivered, in order.
    effects = channel.receive_pdu(pdu(SFrame(Supervisory.RR, 0, final=True)), 0.4)
    effects += channel.receive_pdu(i_frame(3, b"3"), 0.5)
    effects += channel.receive_pdu(i_frame(4, b"4"), 0.6)
    assert delivered(effects) == [b"3", b"4"]
    assert not channel.closed


def test_a_peer_clearing_its_busy_with_a_poll_gets_everything_unacknowledged_again() -> None:
    channel = engine()
    queue(channel, b"a")
    channel.receive_pdu(s_frame(Supervisory.RNR, 0), 0.1)
    queue(channel, b"b")  # held while the peer is busy
    effects = channel.receive_pdu(s_frame(Supervisory.RR, 0, poll=True), 0.2)
    assert sent(effects) == [
        SFrame(Supervisory.RR, 0, final=True),
        IFrame(0, 0, Sar.UNSEGMENTED, b"a"),
        IFrame(1, 0, Sar.UNSEGMENTED, b"b"),
    ]
    assert channel.unacked[0].transmissions == 2
