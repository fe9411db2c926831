"""Two retransmission engines joined by a simulated link that loses, duplicates, corrupts and
delays frames, on a simulated clock that jumps to the next arrival or timer deadline."""

from __future__ import annotations

import heapq
import random

import attrs

from bluetrio.actors.l2cap.ertm import (
    CancelChannelTimer,
    ChannelEffect,
    ChannelFailed,
    ChannelTimer,
    QueueResult,
    RetransmissionChannel,
    RetransmissionParameters,
    SduReceived,
    StartChannelTimer,
    TransmitPdu,
    TransmitSpace,
)


@attrs.frozen
class Impairments:
    loss: float = 0.0
    duplication: float = 0.0
    corruption: float = 0.0
    # Extra delay up to this many seconds, drawn per frame: frames overtake each other.
    jitter: float = 0.0
    # Probability that the application takes a delivered SDU at each step (else it lags).
    read_rate: float = 1.0


LINK_DELAY = 0.005


class Side:
    def __init__(self, name: str, engine: RetransmissionChannel, outbox: list[bytes]) -> None:
        self.name = name
        self.engine = engine
        self.outbox = list(outbox)  # SDUs still to queue
        self.timers: dict[ChannelTimer, float] = {}
        self.received: list[bytes] = []
        self.unread = 0
        self.failure: ChannelFailed | None = None
        self.timers_started = 0


class Pipe:
    def __init__(self, a: Side, b: Side, impairments: Impairments, seed: int) -> None:
        self.sides = (a, b)
        self.impairments = impairments
        self.random = random.Random(seed)
        self.now = 0.0
        self.in_flight: list[tuple[float, int, int, bytes]] = []
        self.counter = 0
        self.peak_in_flight = 0

    def _apply(self, index: int, effects: list[ChannelEffect]) -> None:
        side = self.sides[index]
        for effect in effects:
            match effect:
                case TransmitPdu(pdu):
                    self._transmit(1 - index, pdu)
                case SduReceived(sdu):
                    side.received.append(sdu)
                    side.unread += 1
                case StartChannelTimer(timer, deadline):
                    assert deadline > self.now
                    side.timers[timer] = deadline
                    side.timers_started += 1
                case CancelChannelTimer(timer):
                    side.timers.pop(timer, None)
                case TransmitSpace():
                    pass
                case ChannelFailed():
                    assert side.failure is None
                    side.failure = effect

    def _transmit(self, to: int, pdu: bytes) -> None:
        rng, imp = self.random, self.impairments
        if rng.random() < imp.loss:
            return
        copies = 2 if rng.random() < imp.duplication else 1
        # A duplicate follows its original at once (same arrival, next in the heap's
        # tie-break order); only jitter reorders frames.
        delay = LINK_DELAY + rng.random() * imp.jitter
        for _ in range(copies):
            data = bytearray(pdu)
            if rng.random() < imp.corruption:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            self.counter += 1
            heapq.heappush(self.in_flight, (self.now + delay, self.counter, to, bytes(data)))
        self.peak_in_flight = max(self.peak_in_flight, len(self.in_flight))

    def _queue_outboxes(self) -> None:
        for index, side in enumerate(self.sides):
            while side.outbox:
                result, effects = side.engine.queue_sdu(side.outbox[0], self.now)
                self._apply(index, effects)
                if result is not QueueResult.QUEUED:
                    assert result in (QueueResult.FULL, QueueResult.CLOSED)
                    break
                side.outbox.pop(0)

    def _read(self) -> None:
        for index, side in enumerate(self.sides):
            while side.unread and self.random.random() < self.impairments.read_rate:
                side.unread -= 1
                self._apply(index, side.engine.sdu_consumed(self.now))
            if side.unread and not self.in_flight and not any(s.timers for s in self.sides):
                side.unread -= 1  # nothing else can happen: the application reads
                self._apply(index, side.engine.sdu_consumed(self.now))

    def done(self, expected: tuple[list[bytes], list[bytes]]) -> bool:
        if any(side.failure for side in self.sides):
            return True
        return all(
            len(side.received) == len(expected[1 - index]) for index, side in enumerate(self.sides)
        )

    def run(
        self, expected: tuple[list[bytes], list[bytes]], max_steps: int, *, may_lose: bool = False
    ) -> int:
        """Run until both sides received everything or one failed (or, when ``may_lose``,
        nothing is left to happen); the steps it took."""
        for step in range(max_steps):
            self._queue_outboxes()
            self._read()
            if self.done(expected):
                return step
            self.check_bounds()
            deadlines = [
                (deadline, index, timer)
                for index, side in enumerate(self.sides)
                for timer, deadline in side.timers.items()
            ]
            next_timer = min(deadlines, default=None, key=lambda entry: entry[:2])
            if self.in_flight and (next_timer is None or self.in_flight[0][0] <= next_timer[0]):
                arrival, _, to, pdu = heapq.heappop(self.in_flight)
                self.now = max(self.now, arrival)
                self._apply(to, self.sides[to].engine.receive_pdu(pdu, self.now))
            elif next_timer is not None:
                deadline, index, timer = next_timer
                self.now = max(self.now, deadline)
                del self.sides[index].timers[timer]
                self._apply(index, self.sides[index].engine.timer_expired(timer, self.now))
            elif not any(side.unread for side in self.sides):
                if may_lose:
                    return step
                raise AssertionError(f"stalled at {self.now:.3f} s after {step} steps")
        raise AssertionError(f"no end after {max_steps} steps ({self.now:.1f} s simulated)")

    def check_bounds(self) -> None:
        for side in self.sides:
            engine = side.engine
            parameters: RetransmissionParameters = engine.parameters
            assert len(engine.unacked) <= parameters.remote_tx_window
            assert len(engine.reorder) <= parameters.local_tx_window
            assert len(engine.srej_list) <= parameters.local_tx_window
            assert engine.pending_octets <= parameters.transmit_limit + parameters.remote_mtu
            assert engine.undelivered <= parameters.receive_limit + parameters.local_tx_window


# -- the properties ---------------------------------------------------------------------------

from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bluetrio.actors.l2cap.ertm import Recovery, RetransmissionMode  # noqa: E402
from bluetrio.messages.l2cap.retransmission_frames import FrameFormat  # noqa: E402


def make_pair(
    *,
    mode: RetransmissionMode,
    extended: bool,
    mps: int,
    window: int,
    max_transmit: int,
    recovery: Recovery,
    receive_limit: int,
    transmit_limit: int,
) -> tuple[RetransmissionChannel, RetransmissionChannel]:
    def one(remote_cid: int) -> RetransmissionChannel:
        return RetransmissionChannel(
            RetransmissionParameters(
                mode=mode,
                remote_cid=remote_cid,
                local_mtu=1000,
                local_mps=mps,
                remote_mtu=1000,
                remote_mps=mps,
                local_tx_window=window,
                remote_tx_window=window,
                max_transmit=max_transmit,
                frame_format=FrameFormat(extended_control=extended, fcs=True),
                recovery=recovery,
                receive_limit=receive_limit,
                transmit_limit=transmit_limit,
            )
        )

    return one(0x0041), one(0x0040)


sdu_lists = st.lists(st.binary(min_size=0, max_size=1000), max_size=25)
configurations = st.fixed_dictionaries(
    {
        "extended": st.booleans(),
        "mps": st.integers(48, 700),
        "window": st.integers(1, 32),
        "recovery": st.sampled_from(Recovery),
        "receive_limit": st.integers(1, 8),
        "transmit_limit": st.integers(1, 4000),
    }
)


def run_pair(
    configuration: dict[str, object],
    impairments: Impairments,
    a_sdus: list[bytes],
    b_sdus: list[bytes],
    seed: int,
    *,
    mode: RetransmissionMode = RetransmissionMode.ENHANCED_RETRANSMISSION,
    max_transmit: int = 0,
) -> Pipe:
    a, b = make_pair(mode=mode, max_transmit=max_transmit, **configuration)  # type: ignore[arg-type]
    pipe = Pipe(Side("a", a, a_sdus), Side("b", b, b_sdus), impairments, seed)
    pipe.run((a_sdus, b_sdus), max_steps=200_000)
    return pipe


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    configuration=configurations,
    loss=st.floats(0, 0.3),
    duplication=st.floats(0, 0.2),
    corruption=st.floats(0, 0.2),
    read_rate=st.floats(0.2, 1.0),
    a_sdus=sdu_lists,
    b_sdus=sdu_lists,
    seed=st.integers(0, 2**32),
)
# A receiver whose local busy clears sends RR; when that RR is lost (its own poll was out, so
# it carried no poll; or a duplicated F=1 answered a later poll) the sender, with SDUs queued
# but nothing unacknowledged, ran no timer and took the peer for busy for good.
@example(
    configuration={
        "extended": True,
        "mps": 48,
        "window": 1,
        "recovery": Recovery.SREJ,
        "receive_limit": 1,
        "transmit_limit": 1,
    },
    loss=0.0,
    duplication=0.125,
    corruption=0.1953125,
    read_rate=0.25,
    a_sdus=[],
    b_sdus=[b""] * 7,
    seed=2871,
)
@example(
    configuration={
        "extended": False,
        "mps": 48,
        "window": 1,
        "recovery": Recovery.SREJ,
        "receive_limit": 1,
        "transmit_limit": 1,
    },
    loss=0.25,
    duplication=0.0,
    corruption=0.125,
    read_rate=0.21875,
    a_sdus=[b""] * 5,
    b_sdus=[b""] * 3,
    seed=1,
)
def test_ertm_delivers_everything_in_order_through_loss_duplication_and_corruption(
    configuration: dict[str, object],
    loss: float,
    duplication: float,
    corruption: float,
    read_rate: float,
    a_sdus: list[bytes],
    b_sdus: list[bytes],
    seed: int,
) -> None:
    # With MaxTransmit 0 (without limit, BR/EDR) and an ordered link nothing can fail: every
    # SDU arrives once, whole and in order, whatever is lost, doubled or corrupted.
    impairments = Impairments(loss, duplication, corruption, read_rate=read_rate)
    pipe = run_pair(configuration, impairments, a_sdus, b_sdus, seed)
    a, b = pipe.sides
    assert a.failure is None and b.failure is None
    assert b.received == a_sdus
    assert a.received == b_sdus


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    configuration=configurations,
    loss=st.floats(0, 0.5),
    duplication=st.floats(0, 0.2),
    corruption=st.floats(0, 0.2),
    jitter=st.floats(0, 0.05),
    max_transmit=st.integers(0, 4),
    a_sdus=sdu_lists,
    b_sdus=sdu_lists,
    seed=st.integers(0, 2**32),
)
def test_ertm_delivers_in_order_or_fails_with_a_reason(
    configuration: dict[str, object],
    loss: float,
    duplication: float,
    corruption: float,
    jitter: float,
    max_transmit: int,
    a_sdus: list[bytes],
    b_sdus: list[bytes],
    seed: int,
) -> None:
    # Frames that overtake each other and a finite MaxTransmit may close the channel, but
    # never with an exception, and what was delivered is what was sent, in order.
    impairments = Impairments(loss, duplication, corruption, jitter)
    pipe = run_pair(configuration, impairments, a_sdus, b_sdus, seed, max_transmit=max_transmit)
    a, b = pipe.sides
    assert b.received == a_sdus[: len(b.received)]
    assert a.received == b_sdus[: len(a.received)]
    if b.received != a_sdus or a.received != b_sdus:
        failure = a.failure or b.failure
        assert failure is not None and failure.reason


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    configuration=configurations,
    loss=st.floats(0, 0.3),
    corruption=st.floats(0, 0.2),
    a_sdus=sdu_lists,
    seed=st.integers(0, 2**32),
)
def test_streaming_loses_whole_sdus_only(
    configuration: dict[str, object],
    loss: float,
    corruption: float,
    a_sdus: list[bytes],
    seed: int,
) -> None:
    # Streaming mode: every SDU delivered is one that was sent, whole and in order; each one
    # that is missing was lost with a frame of it and counted.
    impairments = Impairments(loss, 0.0, corruption)
    a, b = make_pair(
        mode=RetransmissionMode.STREAMING,
        max_transmit=0,
        **configuration,  # type: ignore[arg-type]
    )
    pipe = Pipe(Side("a", a, a_sdus), Side("b", b, []), impairments, seed)
    pipe.run((a_sdus, []), max_steps=200_000, may_lose=True)
    sender, receiver = pipe.sides
    assert not pipe.in_flight
    assert sender.timers_started == receiver.timers_started == 0
    remaining = iter(a_sdus)
    assert all(sdu in remaining for sdu in receiver.received)  # an ordered subsequence
    if loss == 0 and corruption == 0:
        assert receiver.received == a_sdus and b.sdus_lost == 0
