"""Random octets into the L2CAP codec never raise anything but DecodeError."""

from __future__ import annotations

import contextlib

from hypothesis import example, given, settings
from hypothesis import strategies as st

import bluetrio.messages.l2cap as l2cap
from bluetrio.errors import DecodeError


@settings(max_examples=500)
@given(payload=st.binary(max_size=120))
def test_random_c_frames(payload: bytes) -> None:
    split = l2cap.split_commands(payload)
    for raw in split.commands:
        with contextlib.suppress(DecodeError):
            raw.decode()


@settings(max_examples=500)
@given(code=st.sampled_from(sorted(l2cap.COMMAND_CLASSES)), data=st.binary(max_size=60))
def test_random_data_for_every_command(code: int, data: bytes) -> None:
    try:
        command = l2cap.RawCommand(code, 1, data).decode()
    except DecodeError:
        return
    # Whatever decodes encodes back to the same octets.
    assert command.to_bytes(1)[4:] == data or code == l2cap.SignalingCode.CONFIGURATION_RESPONSE


@example(data=b"\x85\x01\x00")  # a known option (FCS) marked as a hint
@settings(max_examples=500)
@given(data=st.binary(max_size=80))
def test_random_option_lists(data: bytes) -> None:
    try:
        options = l2cap.decode_options(data)
    except DecodeError:
        return
    # A known option is read the same with or without the hint bit (Vol 3 Part A 5: the bit
    # only tells a receiver that does not know the option to skip it), so it is written back
    # without it; unknown options keep theirs so the non-hints can be listed.
    assert l2cap.encode_options(options) == _without_hints_of_known_options(data)
    assert l2cap.decode_options(l2cap.encode_options(options)) == options


def _without_hints_of_known_options(data: bytes) -> bytes:
    out = bytearray(data)
    offset = 0
    while offset < len(out):
        if out[offset] & l2cap.HINT_BIT and (out[offset] & ~l2cap.HINT_BIT) in l2cap.OPTION_CLASSES:
            out[offset] &= ~l2cap.HINT_BIT
        offset += 2 + out[offset + 1]
    return bytes(out)


@given(pdu=st.binary(max_size=20))
def test_random_basic_frames(pdu: bytes) -> None:
    with contextlib.suppress(DecodeError):
        l2cap.decode_basic_frame(pdu)
