"""The credit-based channel engine (Core 5.4 Vol 3 Part A 3.4.3, 10.1): segmentation,
reassembly, every check that closes a channel, credits returned as the application consumes,
and two engines joined by a lossless pipe under any limits and any interleaving."""

from __future__ import annotations

from collections import deque

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bluetrio.actors.l2cap.credit import (
    MAX_CREDITS,
    ChannelFailed,
    CreditChannel,
    CreditEffect,
    CreditViolation,
    GrantCredits,
    Limits,
    QueueResult,
    SduReceived,
    frames_for,
    receive_window,
    reconfiguration_result,
)
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.l2cap import CreditConnectionResult, CreditReconfigureResult
from bluetrio.messages.l2cap_credit_service import CreditMode

LE = CreditMode.LE_CREDIT_BASED
ENHANCED = CreditMode.ENHANCED_CREDIT_BASED


def engine(
    *,
    mtu: int = 100,
    mps: int = 23,
    credits: int | None = None,
    peer_mtu: int = 100,
    peer_mps: int = 23,
    peer_credits: int = 10,
    mode: CreditMode = LE,
    transmit_limit: int = 1000,
) -> CreditChannel:
    window = receive_window(mtu, mps) if credits is None else credits
    return CreditChannel(
        mode,
        Limits(mtu, mps, window),
        Limits(peer_mtu, peer_mps, peer_credits),
        transmit_limit=transmit_limit,
    )


def first_frame(length: int, data: bytes) -> bytes:
    return length.to_bytes(2, "little") + data


def failure(effects: list[CreditEffect]) -> CreditViolation:
    assert len(effects) == 1 and isinstance(effects[0], ChannelFailed), effects
    return effects[0].violation


# -- transmit -----------------------------------------------------------------------------------


def test_an_sdu_is_cut_at_the_peer_mps_with_the_length_in_the_first_frame() -> None:
    channel = engine(peer_mps=23)
    sdu = bytes(range(50))
    assert channel.queue_sdu(sdu) is QueueResult.QUEUED
    frames = [channel.next_frame() for _ in range(3)]
    assert [frame.payload for frame in frames if frame] == [
        first_frame(50, sdu[:21]),
        sdu[21:44],
        sdu[44:],
    ]
    assert [frame.last_of_sdu for frame in frames if frame] == [False, False, True]
    assert channel.next_frame() is None
    assert channel.credits == 7 and channel.queued_octets == 0


def test_frames_go_only_as_the_peer_credits_allow() -> None:
    channel = engine(peer_credits=1)
    channel.queue_sdu(bytes(40))
    assert channel.next_frame() is not None
    assert not channel.can_send and channel.next_frame() is None
    assert channel.receive_credits(1) == []
    frame = channel.next_frame()
    assert frame is not None and frame.last_of_sdu


def test_an_empty_sdu_is_one_frame_of_its_length() -> None:
    channel = engine()
    channel.queue_sdu(b"")
    frame = channel.next_frame()
    assert frame is not None and frame.payload == b"\x00\x00" and frame.last_of_sdu


def test_the_transmit_queue_is_bounded_in_octets() -> None:
    channel = engine(peer_mtu=100, transmit_limit=140)
    assert channel.queue_sdu(bytes(100)) is QueueResult.QUEUED
    assert channel.queue_sdu(bytes(60)) is QueueResult.FULL
    assert channel.queue_sdu(bytes(40)) is QueueResult.QUEUED
    assert channel.queue_sdu(bytes(101)) is QueueResult.TOO_LONG
    assert channel.queued_sdus == 2 and channel.queued_octets == 140
    for _ in range(5):
        channel.next_frame()  # the first SDU leaves (5 frames at MPS 23)
    assert channel.queued_octets == 40
    assert channel.queue_sdu(bytes(90)) is QueueResult.QUEUED
    assert channel.queue_sdu(bytes(20)) is QueueResult.FULL


def test_an_empty_queue_takes_one_sdu_of_the_peer_mtu_whatever_the_limit() -> None:
    channel = engine(peer_mtu=500, transmit_limit=10)
    assert channel.transmit_limit == 500
    assert channel.queue_sdu(bytes(500)) is QueueResult.QUEUED


def test_a_lower_peer_mps_applies_to_the_rest_of_an_sdu_under_way() -> None:
    channel = engine(mode=ENHANCED, mtu=100, mps=64, peer_mtu=200, peer_mps=100)
    channel.queue_sdu(bytes(150))
    first = channel.next_frame()
    assert first is not None and len(first.payload) == 100
    channel.set_remote_limits(300, 64)
    rest = [channel.next_frame(), channel.next_frame()]
    assert [len(frame.payload) for frame in rest if frame] == [52]
    assert channel.remote_mtu == 300 and channel.transmit_limit >= 300


def test_the_peer_mtu_never_shrinks() -> None:
    channel = engine(mode=ENHANCED, mtu=100, mps=64, peer_mtu=200, peer_mps=100)
    with pytest.raises(InvalidArgumentError):
        channel.set_remote_limits(199, 100)


def test_credits_beyond_65535_close_the_channel() -> None:
    channel = engine(peer_credits=MAX_CREDITS - 5)
    assert channel.receive_credits(5) == []
    assert failure(channel.receive_credits(1)) is CreditViolation.CREDIT_OVERFLOW
    assert channel.closed and channel.queue_sdu(b"x") is QueueResult.CLOSED


# -- receive ------------------------------------------------------------------------------------


def test_frames_are_reassembled_into_the_announced_sdu() -> None:
    channel = engine(mtu=100, mps=23)
    sdu = bytes(range(60))
    assert channel.receive_frame(first_frame(60, sdu[:21])) == []
    assert channel.receive_frame(sdu[21:44]) == []
    assert channel.receive_frame(sdu[44:]) == [SduReceived(sdu)]
    assert channel.buffered_octets == 0 and channel.undelivered_sdus == 1


@pytest.mark.parametrize(
    ("frames", "violation"),
    [
        ([bytes(24)], CreditViolation.FRAME_EXCEEDS_MPS),
        ([b"\x05"], CreditViolation.FIRST_FRAME_TOO_SHORT),
        ([b""], CreditViolation.FIRST_FRAME_TOO_SHORT),
        ([first_frame(101, b"")], CreditViolation.SDU_EXCEEDS_MTU),
        ([first_frame(3, b"abcd")], CreditViolation.SDU_OVERRUN),
        ([first_frame(25, bytes(21)), bytes(5)], CreditViolation.SDU_OVERRUN),
    ],
)
def test_each_violation_closes_the_channel(frames: list[bytes], violation: CreditViolation) -> None:
    channel = engine(mtu=100, mps=23)
    for frame in frames[:-1]:
        assert channel.receive_frame(frame) == []
    effects = channel.receive_frame(frames[-1])
    assert failure(effects) is violation
    assert isinstance(effects[0], ChannelFailed) and violation.value in effects[0].reason
    assert channel.closed and channel.buffered_octets == 0
    assert channel.receive_frame(first_frame(1, b"x")) == []  # closed: ignored


def test_a_frame_with_no_credit_left_closes_the_channel() -> None:
    channel = engine(mtu=30, mps=23, credits=3)
    for _ in range(3):
        assert isinstance(channel.receive_frame(first_frame(1, b"x"))[0], SduReceived)
    assert channel.peer_credits == 0
    assert failure(channel.receive_frame(first_frame(1, b"y"))) is (
        CreditViolation.FRAME_WITHOUT_CREDIT
    )


def test_credits_come_back_as_the_application_consumes_not_on_receipt() -> None:
    channel = engine(mtu=30, mps=23, credits=8)
    for _ in range(8):
        effects = channel.receive_frame(first_frame(1, b"x"))
        assert not any(isinstance(effect, GrantCredits) for effect in effects)
    assert channel.peer_credits == 0 and channel.held_credits == 8
    # The peer holds fewer than a quarter of the window: the first freed credit goes at once.
    assert channel.sdu_consumed() == [GrantCredits(1)]
    assert channel.held_credits == 7


def test_freed_credits_are_batched_by_a_quarter_window_while_the_peer_has_credits() -> None:
    channel = engine(mtu=30, mps=23, credits=40)
    for _ in range(20):
        channel.receive_frame(first_frame(1, b"x"))
    grants = [effect for _ in range(20) for effect in channel.sdu_consumed()]
    assert grants == [GrantCredits(10), GrantCredits(10)]
    assert channel.peer_credits == 40


def test_a_peer_cutting_finer_than_our_mps_gets_the_extra_credits_back_at_once() -> None:
    channel = engine(mtu=60, mps=23, credits=receive_window(60, 23))
    channel.receive_frame(first_frame(40, b"a"))  # charged one frame
    for _ in range(19):
        channel.receive_frame(b"b")  # 20 octets: still one frame's worth at MPS 23
    assert channel.held_credits == 1
    effects = channel.receive_frame(bytes(20))  # 40 octets + 2 need two frames at MPS 23
    assert channel.held_credits == 2
    assert SduReceived(b"a" + b"b" * 19 + bytes(20)) in effects


def test_the_window_always_holds_one_sdu_of_our_mtu() -> None:
    assert receive_window(100, 23) == frames_for(100, 23) + 1 == 6
    assert receive_window(100, 23, requested=50) == 50
    assert receive_window(0xFFFF, 23, requested=MAX_CREDITS + 10) == MAX_CREDITS
    with pytest.raises(InvalidArgumentError):
        engine(mtu=100, mps=23, credits=5)


def test_limits_outside_the_mode_are_refused() -> None:
    with pytest.raises(InvalidArgumentError):
        engine(mtu=22)
    with pytest.raises(InvalidArgumentError):
        engine(mode=ENHANCED, mtu=100, mps=63)
    with pytest.raises(InvalidArgumentError):
        engine(peer_mps=65534)


def test_a_larger_local_mtu_grows_the_window_with_a_grant() -> None:
    channel = engine(mtu=100, mps=23)
    effects = channel.set_local_limits(200, 23)
    assert effects == [GrantCredits(receive_window(200, 23) - receive_window(100, 23))]
    assert channel.window == receive_window(200, 23) == channel.peer_credits


def test_reconfiguration_rules() -> None:
    assert (
        reconfiguration_result(ENHANCED, 200, 64, [(100, 100)]) is CreditReconfigureResult.SUCCESS
    )
    assert reconfiguration_result(ENHANCED, 99, 100, [(100, 100)]) is (
        CreditReconfigureResult.MTU_REDUCTION_NOT_ALLOWED
    )
    assert reconfiguration_result(ENHANCED, 200, 64, [(100, 100), (100, 64)]) is (
        CreditReconfigureResult.MPS_REDUCTION_NOT_ALLOWED
    )
    assert reconfiguration_result(ENHANCED, 200, 63, [(100, 100)]) is (
        CreditReconfigureResult.UNACCEPTABLE_PARAMETERS
    )


# -- two engines through a lossless pipe -------------------------------------------------------


@attrs.define
class Side:
    """One end: its engine, the K-frames and credit indications on their way to the peer, what
    it received and not yet consumed, and what it consumed."""

    channel: CreditChannel
    to_peer: deque[tuple[str, object]] = attrs.Factory(deque)
    unconsumed: deque[bytes] = attrs.Factory(deque)
    consumed: list[bytes] = attrs.Factory(list)
    outbox: deque[bytes] = attrs.Factory(deque)

    def absorb(self, effects: list[CreditEffect]) -> None:
        for effect in effects:
            if isinstance(effect, SduReceived):
                self.unconsumed.append(effect.sdu)
            elif isinstance(effect, GrantCredits):
                self.to_peer.append(("credits", effect.credits))
            else:
                raise AssertionError(f"a lawful peer made the channel fail: {effect.reason}")


def connect(
    mode: CreditMode, a: tuple[int, int, int], b: tuple[int, int, int]
) -> tuple[Side, Side]:
    a_limits = Limits(a[0], a[1], receive_window(a[0], a[1], a[2]))
    b_limits = Limits(b[0], b[1], receive_window(b[0], b[1], b[2]))
    return (
        Side(CreditChannel(mode, a_limits, b_limits, transmit_limit=a[0] * 2)),
        Side(CreditChannel(mode, b_limits, a_limits, transmit_limit=b[0] * 2)),
    )


def deliver_one(side: Side, peer: Side) -> None:
    """The oldest K-frame or credit indication from ``side`` reaches ``peer``."""
    kind, value = side.to_peer.popleft()
    if kind == "frame":
        assert isinstance(value, bytes)
        peer.absorb(peer.channel.receive_frame(value))
    else:
        assert isinstance(value, int)
        peer.absorb(peer.channel.receive_credits(value))


def step(action: int, side: Side, peer: Side) -> bool:
    """One thing ``side`` may do; False when it had nothing to do."""
    if action == 0 and side.outbox and side.channel.queue_sdu(side.outbox[0]) is QueueResult.QUEUED:
        side.outbox.popleft()
        return True
    if action == 1:
        frame = side.channel.next_frame()
        if frame is not None:
            side.to_peer.append(("frame", frame.payload))
            return True
    if action == 2 and side.to_peer:
        deliver_one(side, peer)
        return True
    if action == 3 and side.unconsumed:
        side.consumed.append(side.unconsumed.popleft())
        side.absorb(side.channel.sdu_consumed())
        return True
    return False


def run(sides: tuple[Side, Side], schedule: list[tuple[int, int]]) -> None:
    for who, action in schedule:
        step(action, sides[who], sides[1 - who])
    # Then to quiescence: a deadlock would leave SDUs undelivered.
    progressed = True
    while progressed:
        progressed = False
        for who in (0, 1):
            for action in range(4):
                while step(action, sides[who], sides[1 - who]):
                    progressed = True


def limits_of(mode: CreditMode) -> st.SearchStrategy[tuple[int, int, int]]:
    """(MTU, MPS, requested credits) valid in ``mode``."""
    return st.tuples(
        st.integers(mode.min_mtu, 700), st.integers(mode.min_mps, 300), st.integers(0, 40)
    )


limits = limits_of(CreditMode.ENHANCED_CREDIT_BASED)


@settings(max_examples=150, deadline=None)
@given(mode=st.sampled_from(CreditMode), data=st.data())
def test_two_engines_deliver_any_sdus_intact_in_order(
    mode: CreditMode, data: st.DataObject
) -> None:
    a, b = data.draw(limits_of(mode)), data.draw(limits_of(mode))
    sides = connect(mode, a, b)
    for who, side in enumerate(sides):
        peer_mtu = (b, a)[who][0]
        side.outbox.extend(data.draw(st.lists(st.binary(max_size=peer_mtu), max_size=12)))
    sent = [list(side.outbox) for side in sides]
    schedule = data.draw(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 3)), max_size=300))
    run(sides, schedule)
    for who, side in enumerate(sides):
        assert side.consumed == sent[1 - who]
        channel = side.channel
        assert channel.held_credits == 0
        assert channel.peer_credits + channel.freed_credits == channel.window
        assert not channel.closed and channel.queued_octets == 0


@settings(max_examples=100, deadline=None)
@given(
    a=limits,
    b=limits,
    growth=st.integers(0, 500),
    new_mps=st.integers(64, 300),
    data=st.data(),
)
def test_a_reconfiguration_mid_stream_loses_nothing(
    a: tuple[int, int, int],
    b: tuple[int, int, int],
    growth: int,
    new_mps: int,
    data: st.DataObject,
) -> None:
    """B reconfigures its receive MTU/MPS (one channel, so the MPS may shrink) while A sends:
    B accepts the larger of old and new limits while its request is under way and enforces the
    new ones once A's response arrives, after every K-frame A cut to the old ones (4.27)."""
    sender, receiver = sides = connect(CreditMode.ENHANCED_CREDIT_BASED, a, b)
    new_mtu = b[0] + growth
    before = data.draw(st.lists(st.binary(max_size=b[0]), max_size=6))
    after = data.draw(st.lists(st.binary(max_size=new_mtu), max_size=6))
    schedule = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 3)), max_size=200)
    old_mps = receiver.channel.local_mps
    sender.outbox.extend(before)
    for who, action in data.draw(schedule):
        step(action, sides[who], sides[1 - who])
    # B sends its request after whatever it sent before (credit indications) ...
    receiver.absorb(receiver.channel.set_local_limits(new_mtu, max(old_mps, new_mps)))
    while receiver.to_peer:
        deliver_one(receiver, sender)
    # ... A applies it and responds after the frames it cut to the old limits.
    sender.channel.set_remote_limits(new_mtu, new_mps)
    while sender.to_peer:
        deliver_one(sender, receiver)
    receiver.absorb(receiver.channel.set_local_limits(new_mtu, new_mps))
    sender.outbox.extend(after)
    run(sides, data.draw(schedule))
    assert receiver.consumed == before + after
    assert receiver.channel.local_mps == new_mps and receiver.channel.local_mtu == new_mtu
    assert receiver.channel.peer_credits + receiver.channel.freed_credits == (
        receiver.channel.window
    )


def test_some_refused_for_resources_is_0x0004() -> None:
    """Vol 3 Part A 4.26, table 4.23: 0x0003 is reserved; 0x0004 is "some connections refused
    - insufficient resources available" (the codec once had both, shifted by one)."""
    assert CreditConnectionResult.SOME_REFUSED_NO_RESOURCES == 0x0004
    assert 0x0003 not in CreditConnectionResult._value2member_map_
