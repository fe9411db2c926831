"""I-frames and S-frames with the enhanced and extended control fields, SAR and the SDU
length, and the FCS (Core 5.4 Vol 3 Part A 3.3.2-3.3.5)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bluetrio.errors import DecodeError, FcsError, InvalidArgumentError
from bluetrio.messages.l2cap.retransmission_frames import (
    ENHANCED_SEQUENCE_MODULUS,
    EXTENDED_SEQUENCE_MODULUS,
    Frame,
    FrameFormat,
    IFrame,
    Sar,
    SFrame,
    Supervisory,
    decode_frame,
    encode_frame,
    fcs16,
)

ENHANCED_FCS = FrameFormat(extended_control=False, fcs=True)


def test_fcs_check_value() -> None:
    # CRC-16 with x^16 + x^15 + x^2 + 1, initial value 0, bits least significant first: the
    # check value of "123456789" for this CRC is 0xBB3D.
    assert fcs16(b"123456789") == 0xBB3D


def test_fcs_examples_of_the_specification() -> None:
    # Vol 3 Part A 3.3.5, example 1: an I-frame on CID 0x0040 carrying 0x00..0x09.
    i_frame = bytes.fromhex("0E004000020000010203040506070809")
    assert fcs16(i_frame) == 0x6138
    # Example 2: an RR S-frame, ReqSeq 1, on CID 0x0040.
    assert fcs16(bytes.fromhex("040040000101")) == 0x14D4


def test_spec_example_frames_encode_octet_for_octet() -> None:
    i_frame = IFrame(tx_seq=1, req_seq=0, sar=Sar.UNSEGMENTED, payload=bytes(range(10)))
    assert encode_frame(0x0040, i_frame, ENHANCED_FCS) == bytes.fromhex(
        "0E0040000200000102030405060708093861"
    )
    rr = SFrame(Supervisory.RR, req_seq=1)
    assert encode_frame(0x0040, rr, ENHANCED_FCS) == bytes.fromhex("040040000101D414")


def test_enhanced_control_field_bits() -> None:
    no_fcs = FrameFormat(fcs=False)
    frame = IFrame(tx_seq=0x3F, req_seq=0x2A, sar=Sar.END, payload=b"", final=True)
    # TxSeq bits 1-6, F bit 7, ReqSeq bits 8-13, SAR bits 14-15 (figure 3.4).
    assert encode_frame(0x40, frame, no_fcs)[4:] == (
        0x3F << 1 | 1 << 7 | 0x2A << 8 | 2 << 14
    ).to_bytes(2, "little")
    s = SFrame(Supervisory.SREJ, req_seq=5, poll=True, final=False)
    # Type bit 0, S bits 2-3, P bit 4, ReqSeq bits 8-13.
    assert encode_frame(0x40, s, no_fcs)[4:] == (1 | 3 << 2 | 1 << 4 | 5 << 8).to_bytes(2, "little")


def test_extended_control_field_bits() -> None:
    fmt = FrameFormat(extended_control=True, fcs=False)
    frame = IFrame(tx_seq=0x3FFF, req_seq=0x1234, sar=Sar.START, payload=b"x", sdu_length=9)
    # F bit 1, ReqSeq bits 2-15, SAR bits 16-17, TxSeq bits 18-31 (figure 3.5).
    control = 0x1234 << 2 | 1 << 16 | 0x3FFF << 18
    assert encode_frame(0x40, frame, fmt)[4:] == control.to_bytes(4, "little") + b"\x09\x00x"
    s = SFrame(Supervisory.RNR, req_seq=0x3FFF, poll=True, final=True)
    control = 1 | 1 << 1 | 0x3FFF << 2 | 2 << 16 | 1 << 18
    assert encode_frame(0x40, s, fmt)[4:] == control.to_bytes(4, "little")


def test_reserved_bits_are_ignored_on_receipt() -> None:
    no_fcs = FrameFormat(fcs=False)
    # An RR with bits 1, 5, 6 and 14-15 set: still RR, ReqSeq 3.
    control = 1 | 1 << 1 | 1 << 5 | 1 << 6 | 3 << 8 | 3 << 14
    pdu = b"\x02\x00\x40\x00" + control.to_bytes(2, "little")
    assert decode_frame(pdu, no_fcs) == (0x40, SFrame(Supervisory.RR, 3))


def test_a_flipped_bit_fails_the_fcs() -> None:
    pdu = bytearray(encode_frame(0x41, SFrame(Supervisory.RR, 7), ENHANCED_FCS))
    pdu[5] ^= 0x10
    with pytest.raises(FcsError):
        decode_frame(bytes(pdu), ENHANCED_FCS)


@pytest.mark.parametrize(
    ("pdu", "problem"),
    [
        (b"\x01\x00", "shorter than its basic header"),
        (b"\x05\x00\x40\x00\x00\x00", "length field"),
        (b"\x01\x00\x40\x00\x00", "no room"),
        (b"\x03\x00\x40\x00\x01\x00\x00", "after its control field"),
        (b"\x03\x00\x40\x00\x00\x40\x00", "SDU length"),
    ],
)
def test_malformed_frames(pdu: bytes, problem: str) -> None:
    with pytest.raises(DecodeError, match=problem):
        decode_frame(pdu, FrameFormat(fcs=False))


def test_encoding_checks_its_arguments() -> None:
    with pytest.raises(InvalidArgumentError):
        encode_frame(0x40, SFrame(Supervisory.RR, 64), ENHANCED_FCS)
    with pytest.raises(InvalidArgumentError):
        encode_frame(0x40, IFrame(0, 0, Sar.START, b""), ENHANCED_FCS)
    with pytest.raises(InvalidArgumentError):
        encode_frame(0x40, IFrame(0, 0, Sar.END, b"", sdu_length=3), ENHANCED_FCS)
    with pytest.raises(InvalidArgumentError):
        encode_frame(0x40, IFrame(0, 0, Sar.END, bytes(0xFFFF)), ENHANCED_FCS)
    with pytest.raises(InvalidArgumentError):
        encode_frame(0, SFrame(Supervisory.RR, 0), ENHANCED_FCS)


formats = st.builds(FrameFormat, extended_control=st.booleans(), fcs=st.booleans())


@st.composite
def frames(draw: st.DrawFn, fmt: FrameFormat) -> Frame:
    modulus = EXTENDED_SEQUENCE_MODULUS if fmt.extended_control else ENHANCED_SEQUENCE_MODULUS
    seq = st.integers(0, modulus - 1)
    if draw(st.booleans()):
        return SFrame(
            draw(st.sampled_from(Supervisory)), draw(seq), draw(st.booleans()), draw(st.booleans())
        )
    sar = draw(st.sampled_from(Sar))
    sdu_length = draw(st.integers(0, 0xFFFF)) if sar is Sar.START else None
    return IFrame(
        draw(seq), draw(seq), sar, draw(st.binary(max_size=64)), draw(st.booleans()), sdu_length
    )


@given(data=st.data(), fmt=formats, cid=st.integers(1, 0xFFFF))
def test_round_trip(data: st.DataObject, fmt: FrameFormat, cid: int) -> None:
    frame = data.draw(frames(fmt))
    assert decode_frame(encode_frame(cid, frame, fmt), fmt) == (cid, frame)
