"""Any sequence of frames from a peer, timers, SDUs and reads into the Enhanced Retransmission
and Streaming mode engine, in every state it can reach: no exception escapes, its buffers stay
within their bounds, and once it has failed it takes nothing more."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bluetrio.actors.l2cap.ertm import (
    ChannelFailed,
    ChannelTimer,
    Recovery,
    RetransmissionChannel,
    RetransmissionMode,
    RetransmissionParameters,
)
from bluetrio.messages.l2cap.retransmission_frames import (
    FrameFormat,
    IFrame,
    Sar,
    SFrame,
    Supervisory,
    encode_frame,
)

WINDOW = 8


@st.composite
def peer_frames(draw: st.DrawFn, fmt: FrameFormat) -> bytes:
    # Sequence numbers near the engine's own most of the time, so every state is reached.
    seq = st.one_of(st.integers(0, 12), st.integers(0, fmt.sequence_modulus - 1))
    if draw(st.booleans()):
        frame: IFrame | SFrame = SFrame(
            draw(st.sampled_from(Supervisory)), draw(seq), draw(st.booleans()), draw(st.booleans())
        )
    else:
        sar = draw(st.sampled_from(Sar))
        frame = IFrame(
            draw(seq),
            draw(seq),
            sar,
            draw(st.binary(max_size=60)),
            draw(st.booleans()),
            draw(st.integers(0, 300)) if sar is Sar.START else None,
        )
    pdu = encode_frame(0x0040, frame, fmt)
    if draw(st.integers(0, 9)) == 0:  # now and then a broken one
        return draw(st.binary(max_size=len(pdu) + 4))
    return pdu


operations = st.sampled_from(["frame", "frame", "frame", "sdu", "timer", "read"])


@settings(max_examples=400, deadline=None)
@given(
    data=st.data(),
    streaming=st.booleans(),
    extended=st.booleans(),
    fcs=st.booleans(),
    recovery=st.sampled_from(Recovery),
    max_transmit=st.integers(0, 3),
    steps=st.lists(operations, max_size=80),
)
def test_any_input_in_any_state(
    data: st.DataObject,
    streaming: bool,
    extended: bool,
    fcs: bool,
    recovery: Recovery,
    max_transmit: int,
    steps: list[str],
) -> None:
    fmt = FrameFormat(extended_control=extended, fcs=fcs)
    parameters = RetransmissionParameters(
        mode=RetransmissionMode.STREAMING
        if streaming
        else RetransmissionMode.ENHANCED_RETRANSMISSION,
        remote_cid=0x0041,
        local_mtu=200,
        local_mps=50,
        remote_mtu=200,
        remote_mps=50,
        local_tx_window=WINDOW,
        remote_tx_window=4,
        max_transmit=max_transmit,
        frame_format=fmt,
        recovery=recovery,
        transmit_limit=400,
        receive_limit=3,
    )
    channel = RetransmissionChannel(parameters)
    now = 0.0
    failed = False
    for step in steps:
        now += 0.1
        if step == "frame":
            effects = channel.receive_pdu(data.draw(peer_frames(fmt)), now)
        elif step == "sdu":
            _, effects = channel.queue_sdu(data.draw(st.binary(max_size=250)), now)
        elif step == "timer":
            effects = channel.timer_expired(data.draw(st.sampled_from(ChannelTimer)), now)
        else:
            effects = channel.sdu_consumed(now)
        if failed:
            assert effects == []
        failures = [e for e in effects if isinstance(e, ChannelFailed)]
        assert len(failures) <= 1
        if failures:
            assert failures[0].reason and channel.closed
            failed = True
        assert len(channel.unacked) <= parameters.remote_tx_window
        assert len(channel.reorder) <= WINDOW and len(channel.srej_list) <= WINDOW
        assert channel.pending_octets <= parameters.transmit_limit + parameters.remote_mtu
        assert channel.undelivered <= parameters.receive_limit + WINDOW
