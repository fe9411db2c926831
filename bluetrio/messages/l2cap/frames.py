"""The basic L2CAP header and the B-frame (Core 5.4 Vol 3 Part A 3.1).

Every L2CAP PDU starts with a 2-octet payload length and a 2-octet channel identifier, both
little-endian. This module sits on the data path, so it packs and unpacks with ``struct``
instead of the table-driven machinery of the signaling commands.
"""

from __future__ import annotations

import struct

from bluetrio.errors import DecodeError, InvalidArgumentError

BASIC_HEADER = struct.Struct("<HH")
BASIC_HEADER_SIZE = BASIC_HEADER.size
MAX_PAYLOAD = 0xFFFF


def encode_basic_frame(cid: int, payload: bytes) -> bytes:
    """A B-frame: header then ``payload`` (Vol 3 Part A 3.1, figure 3.1)."""
    if not 0 < cid <= 0xFFFF:
        raise InvalidArgumentError(f"channel identifier 0x{cid:04X} is not 0x0001..0xFFFF")
    if len(payload) > MAX_PAYLOAD:
        raise InvalidArgumentError(f"{len(payload)} octets do not fit in one L2CAP PDU")
    return BASIC_HEADER.pack(len(payload), cid) + payload


def decode_basic_frame(pdu: bytes) -> tuple[int, bytes]:
    """``(cid, payload)`` of a whole PDU; DecodeError when the length field disagrees."""
    if len(pdu) < BASIC_HEADER_SIZE:
        raise DecodeError(f"L2CAP PDU of {len(pdu)} octets is shorter than its basic header")
    length, cid = BASIC_HEADER.unpack_from(pdu)
    if length != len(pdu) - BASIC_HEADER_SIZE:
        raise DecodeError(
            f"L2CAP PDU length field says {length} octets, {len(pdu) - BASIC_HEADER_SIZE} follow"
        )
    return cid, pdu[BASIC_HEADER_SIZE:]
