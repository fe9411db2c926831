"""I-frames and S-frames of Enhanced Retransmission and Streaming mode (Core 5.4 Vol 3 Part A
3.3.1-3.3.5).

An I-frame or S-frame is the basic header (3.1), a control field, for an I-frame the SDU length
(only in the first frame of a segmented SDU, SAR = start) and the information payload, then the
Frame Check Sequence when the channel uses it. The control field is the enhanced one (16 bits,
figure 3.4) or, on a channel that negotiated the Extended Window Size option (5.6), the extended
one (32 bits, figure 3.5). The length field of the basic header counts everything after it,
FCS included; the FCS covers everything before it, basic header included (3.3.5).

This module sits on the data path, so it packs and unpacks with ``struct`` and bit masks.
Every field value is legal on the wire (SAR and the supervisory function use all four codes), so
decoding fails only on lengths and on the FCS; reserved bits are ignored on receipt and sent as
zero (1.4).
"""

from __future__ import annotations

import enum
import struct

import attrs

from bluetrio.errors import DecodeError, FcsError, InvalidArgumentError
from bluetrio.messages.l2cap.frames import BASIC_HEADER, BASIC_HEADER_SIZE, MAX_PAYLOAD

ENHANCED_CONTROL_SIZE = 2
EXTENDED_CONTROL_SIZE = 4
SDU_LENGTH_SIZE = 2
FCS_SIZE = 2
# Sequence numbers are modulo 64 with the enhanced control field and modulo 16384 with the
# extended one (3.3.2, 5.6).
ENHANCED_SEQUENCE_MODULUS = 64
EXTENDED_SEQUENCE_MODULUS = 0x4000

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")


class Sar(enum.IntEnum):
    """Segmentation and Reassembly (3.3.2, table 3.4)."""

    UNSEGMENTED = 0b00
    START = 0b01
    END = 0b10
    CONTINUATION = 0b11


class Supervisory(enum.IntEnum):
    """The supervisory function of an S-frame (3.3.2, table 3.5)."""

    RR = 0b00  # Receiver Ready
    REJ = 0b01  # Reject
    RNR = 0b10  # Receiver Not Ready
    SREJ = 0b11  # Selective Reject


@attrs.frozen
class FrameFormat:
    """How a channel's I/S-frames look: control field width and whether they end in an FCS."""

    extended_control: bool = False
    fcs: bool = True

    @property
    def control_size(self) -> int:
        return EXTENDED_CONTROL_SIZE if self.extended_control else ENHANCED_CONTROL_SIZE

    @property
    def sequence_modulus(self) -> int:
        return EXTENDED_SEQUENCE_MODULUS if self.extended_control else ENHANCED_SEQUENCE_MODULUS

    @property
    def overhead(self) -> int:
        """Octets of a start I-frame that are not information payload."""
        return (
            BASIC_HEADER_SIZE + self.control_size + SDU_LENGTH_SIZE + (FCS_SIZE if self.fcs else 0)
        )


@attrs.frozen
class IFrame:
    """An information frame; ``sdu_length`` is present exactly when ``sar`` is START."""

    tx_seq: int
    req_seq: int
    sar: Sar
    payload: bytes
    final: bool = False
    sdu_length: int | None = None


@attrs.frozen
class SFrame:
    """A supervisory frame: RR, REJ, RNR or SREJ, with the poll and final bits."""

    function: Supervisory
    req_seq: int
    poll: bool = False
    final: bool = False


Frame = IFrame | SFrame


# -- the FCS (3.3.5) --------------------------------------------------------------------------
# CRC-16 with generator polynomial x^16 + x^15 + x^2 + 1 and initial value 0x0000, bits taken
# least significant first (as they go on the air), so the register runs the reflected
# polynomial 0xA001; the result is sent least significant octet first.


def _crc_table() -> tuple[int, ...]:
    table = []
    for octet in range(256):
        crc = octet
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def fcs16(data: bytes | memoryview) -> int:
    """The L2CAP Frame Check Sequence of ``data`` (Vol 3 Part A 3.3.5)."""
    crc = 0
    table = _CRC_TABLE
    for octet in data:
        crc = (crc >> 8) ^ table[(crc ^ octet) & 0xFF]
    return crc


# -- control fields (3.3.2, figures 3.4 and 3.5) ----------------------------------------------


def _check_seq(name: str, value: int, modulus: int) -> None:
    if not 0 <= value < modulus:
        raise InvalidArgumentError(f"{name} {value} is outside 0..{modulus - 1}")


def encode_control(frame: Frame, extended: bool) -> bytes:
    modulus = EXTENDED_SEQUENCE_MODULUS if extended else ENHANCED_SEQUENCE_MODULUS
    _check_seq("ReqSeq", frame.req_seq, modulus)
    if isinstance(frame, IFrame):
        _check_seq("TxSeq", frame.tx_seq, modulus)
        if extended:
            # F bit 1, ReqSeq bits 2-15, SAR bits 16-17, TxSeq bits 18-31; type bit 0 = 0.
            value = frame.final << 1 | frame.req_seq << 2 | frame.sar << 16 | frame.tx_seq << 18
            return _U32.pack(value)
        # TxSeq bits 1-6, F bit 7, ReqSeq bits 8-13, SAR bits 14-15; type bit 0 = 0.
        return _U16.pack(
            frame.tx_seq << 1 | frame.final << 7 | frame.req_seq << 8 | frame.sar << 14
        )
    if extended:
        # Type bit 0 = 1, F bit 1, ReqSeq bits 2-15, S bits 16-17, P bit 18.
        value = 1 | frame.final << 1 | frame.req_seq << 2 | frame.function << 16 | frame.poll << 18
        return _U32.pack(value)
    # Type bit 0 = 1, S bits 2-3, P bit 4, F bit 7, ReqSeq bits 8-13.
    return _U16.pack(
        1 | frame.function << 2 | frame.poll << 4 | frame.final << 7 | frame.req_seq << 8
    )


def encode_frame(cid: int, frame: Frame, fmt: FrameFormat) -> bytes:
    """The whole PDU of ``frame`` on channel ``cid`` (the peer's CID), FCS included."""
    if not 0 < cid <= 0xFFFF:
        raise InvalidArgumentError(f"channel identifier 0x{cid:04X} is not 0x0001..0xFFFF")
    body = encode_control(frame, fmt.extended_control)
    if isinstance(frame, IFrame):
        if (frame.sar is Sar.START) != (frame.sdu_length is not None):
            raise InvalidArgumentError("an I-frame carries the SDU length exactly when SAR = start")
        if frame.sdu_length is not None:
            if not 0 <= frame.sdu_length <= 0xFFFF:
                raise InvalidArgumentError(f"SDU length {frame.sdu_length} is not 16 bits")
            body += _U16.pack(frame.sdu_length)
        body += frame.payload
    length = len(body) + (FCS_SIZE if fmt.fcs else 0)
    if length > MAX_PAYLOAD:
        raise InvalidArgumentError(f"{length} octets do not fit in one L2CAP PDU")
    pdu = BASIC_HEADER.pack(length, cid) + body
    if fmt.fcs:
        pdu += _U16.pack(fcs16(pdu))
    return pdu


def decode_frame(pdu: bytes, fmt: FrameFormat) -> tuple[int, Frame]:
    """``(cid, frame)`` of a whole PDU; DecodeError for a bad length or FCS (3.3.5, 3.3.7)."""
    if len(pdu) < BASIC_HEADER_SIZE:
        raise DecodeError(f"L2CAP PDU of {len(pdu)} octets is shorter than its basic header")
    length, cid = BASIC_HEADER.unpack_from(pdu)
    if length != len(pdu) - BASIC_HEADER_SIZE:
        raise DecodeError(
            f"L2CAP PDU length field says {length} octets, {len(pdu) - BASIC_HEADER_SIZE} follow"
        )
    end = len(pdu)
    if fmt.fcs:
        if length < fmt.control_size + FCS_SIZE:
            raise DecodeError(f"frame of {length} octets has no room for control field and FCS")
        end -= FCS_SIZE
        (received,) = _U16.unpack_from(pdu, end)
        computed = fcs16(memoryview(pdu)[:end])
        if received != computed:
            raise FcsError(f"FCS 0x{received:04X} received, 0x{computed:04X} computed")
    elif length < fmt.control_size:
        raise DecodeError(f"frame of {length} octets has no room for its control field")
    offset = BASIC_HEADER_SIZE + fmt.control_size
    if fmt.extended_control:
        (control,) = _U32.unpack_from(pdu, BASIC_HEADER_SIZE)
        final = bool(control >> 1 & 1)
        req_seq = control >> 2 & 0x3FFF
        two_bits = control >> 16 & 0b11
        poll_bit = bool(control >> 18 & 1)
        tx_seq = control >> 18 & 0x3FFF
    else:
        (control,) = _U16.unpack_from(pdu, BASIC_HEADER_SIZE)
        final = bool(control >> 7 & 1)
        req_seq = control >> 8 & 0x3F
        tx_seq = control >> 1 & 0x3F
        two_bits = control >> 14 & 0b11 if not control & 1 else control >> 2 & 0b11
        poll_bit = bool(control >> 4 & 1)
    if control & 1:
        if end != offset:
            raise DecodeError(f"S-frame carries {end - offset} octets after its control field")
        return cid, SFrame(Supervisory(two_bits), req_seq, poll=poll_bit, final=final)
    sar = Sar(two_bits)
    sdu_length = None
    if sar is Sar.START:
        if end - offset < SDU_LENGTH_SIZE:
            raise DecodeError("start I-frame without room for its SDU length")
        (sdu_length,) = _U16.unpack_from(pdu, offset)
        offset += SDU_LENGTH_SIZE
    return cid, IFrame(tx_seq, req_seq, sar, bytes(pdu[offset:end]), final, sdu_length)


__all__ = [
    "ENHANCED_SEQUENCE_MODULUS",
    "EXTENDED_SEQUENCE_MODULUS",
    "FCS_SIZE",
    "SDU_LENGTH_SIZE",
    "Frame",
    "FrameFormat",
    "IFrame",
    "SFrame",
    "Sar",
    "Supervisory",
    "decode_frame",
    "encode_frame",
    "fcs16",
]
