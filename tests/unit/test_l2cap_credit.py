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
    # The application still holds SDUs: the peer gets nothing before half the window is free.
    assert [channel.sdu_consumed() for _ in range(3)] == [[], [], []]
    assert channel.sdu_consumed() == [GrantCredits(4)]
    assert channel.held_credits == 4 and channel.peer_credits == 4


def test_freed_credits_go_back_half_a_window_at_a_time() -> None:
    channel = engine(mtu=30, mps=23, credits=40)
    assert channel.batch == 20
    for _ in range(30):
        channel.receive_frame(first_frame(1, b"x"))
    grants = [effect for _ in range(30) for effect in channel.sdu_consumed()]
    # The last 10 stay: the peer still holds 10 credits.
    assert grants == [GrantCredits(20)]
    assert channel.peer_credits == 30 and channel.freed_credits == 10


def test_a_sender_faster_than_the_reader_gets_credits_in_batches_not_one_per_sdu() -> None:
    """The peer sends a one-frame SDU whenever it holds a credit and the reader takes one SDU
    at a time. Returning every credit at once while the peer ran low (the old rule: fewer than
    a quarter of the window) settled into one indication per SDU read."""
    channel = engine(mtu=30, mps=23, credits=40)
    grants: list[int] = []
    for _ in range(400):
        while channel.peer_credits:
            channel.receive_frame(first_frame(1, b"x"))
        grants += [
            effect.credits for effect in channel.sdu_consumed() if isinstance(effect, GrantCredits)
        ]
    assert grants and all(credits == channel.batch for credits in grants)
    assert len(grants) == 400 // channel.batch


def test_a_peer_without_credits_gets_the_freed_ones_once_the_reader_holds_nothing() -> None:
    """Fewer than a batch freed, the peer out of credits in the middle of an SDU and the reader
    done: the freed credits go back, or the SDU would never complete."""
    channel = engine(mtu=100, mps=23, credits=6)  # an SDU of 100 octets is 5 K-frames
    assert channel.batch == 3
    sdus = [effect for _ in range(2) for effect in channel.receive_frame(first_frame(1, b"x"))]
    assert sdus == [SduReceived(b"x"), SduReceived(b"x")]
    sdu = bytes(range(100))
    frames = [first_frame(100, sdu[:21]), sdu[21:44], sdu[44:67], sdu[67:90], sdu[90:]]
    for frame in frames[:4]:
        assert channel.receive_frame(frame) == []
    assert channel.peer_credits == 0
    assert channel.sdu_consumed() == []  # the reader still holds an SDU
    assert channel.sdu_consumed() == [GrantCredits(2)]  # it holds none: 2 < batch go back
    assert channel.receive_frame(frames[4]) == [SduReceived(sdu)]


def test_the_peer_never_holds_more_than_65535_credits() -> None:
    channel = engine(mtu=0xFFFF, mps=23, credits=MAX_CREDITS)
    granted = 0
    for _ in range(MAX_CREDITS):
        channel.receive_frame(first_frame(0, b""))
    for _ in range(MAX_CREDITS):
        for effect in channel.sdu_consumed():
            assert isinstance(effect, GrantCredits) and effect.credits <= MAX_CREDITS
            granted += effect.credits
        assert channel.peer_credits <= MAX_CREDITS
    # Two batches of 32767; the last credit waits, as the peer holds plenty.
    assert granted == channel.peer_credits == 2 * channel.batch == MAX_CREDITS - 1
    assert channel.freed_credits == 1


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


@attrs.define
class LawfulPeer:
    """A peer sending SDUs cut into K-frames of the sizes it chose (at most our MPS), each only
    with a credit it holds; credit indications reach it later, in order."""

    frames: deque[bytes]
    credits: int
    grants_on_the_way: deque[int] = attrs.Factory(deque)


def cut(sdu: bytes, sizes: list[int], mps: int) -> list[bytes]:
    """``sdu`` with its length field, cut into frames of ``sizes`` (cycled, capped at ``mps``)."""
    whole = first_frame(len(sdu), sdu)
    frames, offset, index = [], 0, 0
    while offset < len(whole):
        size = min(mps, max(1, sizes[index % len(sizes)]), len(whole) - offset)
        if offset == 0:
            size = max(size, 2)  # the first K-frame carries the whole SDU length field
        frames.append(whole[offset : offset + size])
        offset += size
        index += 1
    return frames


@settings(max_examples=300, deadline=None)
@given(
    mode=st.sampled_from(CreditMode),
    data=st.data(),
    requested=st.one_of(st.just(0), st.integers(0, 80), st.just(MAX_CREDITS)),
)
def test_credits_go_back_in_batches_and_a_peer_out_of_credits_is_never_left_waiting(
    mode: CreditMode, data: st.DataObject, requested: int
) -> None:
    """Any interleaving of the peer's K-frames (SDUs of any length cut at any sizes up to our
    MPS), credit indications reaching it late, and the reader's reads. After every step: a peer
    that has spent every credit it was given (counting indications on their way) is never left
    so while the reader holds nothing, i.e. once the reader has consumed, credits are on their
    way; every indication carries at least half the window, except that rescue; the peer never
    holds more than the window nor more than 65535."""
    mtu = data.draw(st.integers(mode.min_mtu, 600))
    mps = data.draw(st.one_of(st.just(mode.min_mps), st.integers(mode.min_mps, 300)))
    window = receive_window(mtu, mps, requested)
    channel = CreditChannel(mode, Limits(mtu, mps, window), Limits(mtu, mps, 10))
    lengths = data.draw(st.lists(st.integers(0, mtu), max_size=20))  # long SDUs as often
    sdus = [bytes([index % 256]) * length for index, length in enumerate(lengths)]
    sizes = data.draw(st.lists(st.integers(1, mps), min_size=1, max_size=5))
    peer = LawfulPeer(deque(f for sdu in sdus for f in cut(sdu, sizes, mps)), window)
    held: deque[bytes] = deque()  # delivered to the reader, not consumed yet
    read: list[bytes] = []

    def apply(effects: list[CreditEffect]) -> None:
        for effect in effects:
            if isinstance(effect, SduReceived):
                held.append(effect.sdu)
            elif isinstance(effect, GrantCredits):
                rescue = channel.peer_credits == effect.credits and not held
                assert effect.credits >= channel.batch or rescue, (effect, channel.peer_credits)
                peer.grants_on_the_way.append(effect.credits)
            else:
                raise AssertionError(f"a lawful peer made the channel fail: {effect.reason}")
        assert channel.peer_credits == peer.credits + sum(peer.grants_on_the_way)
        assert channel.peer_credits <= min(channel.window, MAX_CREDITS)
        assert channel.held_credits <= channel.window
        assert channel.peer_credits > 0 or held, "the peer waits on credits nobody will free"

    def act(action: int) -> bool:
        if action == 0 and peer.frames and peer.credits:
            peer.credits -= 1
            apply(channel.receive_frame(peer.frames.popleft()))
        elif action == 1 and peer.grants_on_the_way:
            peer.credits += peer.grants_on_the_way.popleft()
        elif action == 2 and held:
            read.append(held.popleft())
            apply(channel.sdu_consumed())
        else:
            return False
        return True

    for action in data.draw(st.lists(st.integers(0, 2), max_size=400)):
        act(action)
    while any([act(0), act(1), act(2)]):
        pass
    assert read == sdus


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
