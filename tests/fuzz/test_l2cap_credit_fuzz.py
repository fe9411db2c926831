"""Fuzzing the credit-based channel engine with whatever a peer may send: K-frames of any
content and length, credit indications of any value, in any order with the application's
reads and writes. Nothing raises, and what the engine holds stays within its bounds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bluetrio.actors.l2cap.credit import (
    MAX_CREDITS,
    ChannelFailed,
    CreditChannel,
    Limits,
    SduReceived,
    receive_window,
)
from bluetrio.messages.l2cap_credit_service import CreditMode


def frame_for(mtu: int, mps: int) -> st.SearchStrategy[tuple[str, object]]:
    """A K-frame payload: arbitrary octets, or a plausible first frame (a length near our MTU
    followed by data), so the fuzzer reaches reassembly as well as the checks."""
    arbitrary = st.binary(max_size=mps + 4)
    first = st.builds(
        lambda length, data: length.to_bytes(2, "little") + data,
        st.integers(0, mtu + 2),
        st.binary(max_size=mps),
    )
    return st.tuples(st.just("frame"), st.one_of(arbitrary, first))


def operations(mtu: int, mps: int) -> st.SearchStrategy[list[tuple[str, object]]]:
    return st.lists(
        st.one_of(
            frame_for(mtu, mps),
            st.tuples(st.just("credits"), st.integers(0, MAX_CREDITS)),
            st.tuples(st.just("consume"), st.none()),
            st.tuples(st.just("queue"), st.integers(0, 700)),
            st.tuples(st.just("pull"), st.none()),
        ),
        max_size=120,
    )


@settings(max_examples=400, deadline=None)
@given(
    mode=st.sampled_from(CreditMode),
    mtu=st.integers(0, 600),
    mps=st.integers(0, 200),
    requested=st.integers(0, 30),
    peer_credits=st.integers(0, MAX_CREDITS),
    data=st.data(),
)
def test_no_peer_input_raises_or_grows_the_engine_past_its_bounds(
    mode: CreditMode,
    mtu: int,
    mps: int,
    requested: int,
    peer_credits: int,
    data: st.DataObject,
) -> None:
    mtu, mps = max(mtu, mode.min_mtu), max(mps, mode.min_mps)
    window = receive_window(mtu, mps, requested)
    channel = CreditChannel(
        mode, Limits(mtu, mps, window), Limits(mtu, mps, peer_credits), transmit_limit=1000
    )
    undelivered = 0
    for kind, value in data.draw(operations(mtu, mps)):
        if kind == "frame":
            assert isinstance(value, bytes)
            effects = channel.receive_frame(value)
        elif kind == "credits":
            assert isinstance(value, int)
            effects = channel.receive_credits(value)
        elif kind == "consume":
            effects = channel.sdu_consumed()
            undelivered = max(0, undelivered - 1)
        elif kind == "queue":
            assert isinstance(value, int)
            channel.queue_sdu(bytes(min(value, mtu)))
            effects = []
        else:
            frame = channel.next_frame()
            assert frame is None or len(frame.payload) <= mps
            effects = []
        for effect in effects:
            if isinstance(effect, SduReceived):
                undelivered += 1
                assert len(effect.sdu) <= mtu
        failed = [effect for effect in effects if isinstance(effect, ChannelFailed)]
        assert not failed or channel.closed
        assert channel.buffered_octets <= mtu
        assert channel.held_credits <= window
        assert channel.undelivered_sdus <= window
        assert channel.queued_octets <= channel.transmit_limit
        assert 0 <= channel.credits <= MAX_CREDITS
        assert 0 <= channel.peer_credits <= MAX_CREDITS
        if not channel.closed:
            assert channel.peer_credits + channel.held_credits + channel.freed_credits == window
            assert channel.undelivered_sdus == undelivered
