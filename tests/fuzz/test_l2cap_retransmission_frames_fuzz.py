"""Random octets into the I/S-frame decoder never raise anything but DecodeError, and whatever
decodes encodes back to a frame that decodes the same."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bluetrio.errors import DecodeError
from bluetrio.messages.l2cap.retransmission_frames import FrameFormat, decode_frame, encode_frame


@settings(max_examples=1000)
@given(
    body=st.binary(max_size=40),
    cid=st.integers(0, 0xFFFF),
    extended=st.booleans(),
    fcs=st.booleans(),
    honest_length=st.booleans(),
)
def test_random_frames(
    body: bytes, cid: int, extended: bool, fcs: bool, honest_length: bool
) -> None:
    fmt = FrameFormat(extended_control=extended, fcs=fcs)
    # Mostly with a length field that agrees, so the control field decoder is reached.
    header = (len(body) if honest_length else len(body) ^ 1).to_bytes(2, "little")
    try:
        decoded_cid, frame = decode_frame(header + cid.to_bytes(2, "little") + body, fmt)
    except DecodeError:
        return
    if decoded_cid:
        assert decode_frame(encode_frame(decoded_cid, frame, fmt), fmt) == (decoded_cid, frame)
