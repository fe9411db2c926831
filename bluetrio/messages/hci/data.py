"""HCI data packets: ACL, synchronous (SCO) and isochronous (Core 5.4 Vol 4 Part E 5.4.2-5.4.5).

These are on the data path, so they are hand-written with ``struct`` rather than going
through the generic layout machinery.
"""

from __future__ import annotations

import struct
from typing import Self

import attrs

from bluetrio.errors import DecodeError, InvalidArgumentError

MAX_CONNECTION_HANDLE = 0x0EFF  # 0x0F00..0x0FFF are reserved (5.4.2)
_HANDLE_MASK = 0x0FFF

# Packet_Boundary_Flag values for ACL (5.4.2).
PB_FIRST_NON_FLUSHABLE = 0b00
PB_CONTINUING = 0b01
PB_FIRST_FLUSHABLE = 0b10
PB_COMPLETE = 0b11

_ACL_HEADER = struct.Struct("<HH")
_SCO_HEADER = struct.Struct("<HB")
_ISO_HEADER = struct.Struct("<HH")


def _check_header_fields(name: str, handle: int, fields: tuple[tuple[str, int, int], ...]) -> None:
    if type(handle) is not int or not 0 <= handle <= _HANDLE_MASK:
        raise InvalidArgumentError(f"{name}: handle must be 0..0x{_HANDLE_MASK:X}, got {handle!r}")
    for field, value, bits in fields:
        if type(value) is not int or not 0 <= value < (1 << bits):
            raise InvalidArgumentError(f"{name}: {field} must be a {bits}-bit value, got {value!r}")


def _check_length(name: str, data: bytes, header_size: int, declared: int) -> None:
    if len(data) - header_size != declared:
        raise DecodeError(
            f"{name}: header says {declared} data byte(s), packet carries {len(data) - header_size}"
        )


@attrs.frozen
class AclPacket:
    """An ACL data packet (5.4.2); ``data`` is one L2CAP fragment."""

    handle: int
    packet_boundary: int
    broadcast: int
    data: bytes

    def __attrs_post_init__(self) -> None:
        _check_header_fields(
            "ACL packet",
            self.handle,
            (("packet_boundary", self.packet_boundary, 2), ("broadcast", self.broadcast, 2)),
        )
        if not isinstance(self.data, bytes) or len(self.data) > 0xFFFF:
            raise InvalidArgumentError("ACL packet: data must be bytes of at most 65535 octets")

    def to_bytes(self) -> bytes:
        flags = self.handle | self.packet_boundary << 12 | self.broadcast << 14
        return _ACL_HEADER.pack(flags, len(self.data)) + self.data

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        if len(data) < 4:
            raise DecodeError(f"ACL packet: {len(data)} byte(s) is shorter than the 4-byte header")
        flags, length = _ACL_HEADER.unpack_from(data)
        _check_length("ACL packet", data, 4, length)
        return cls(flags & _HANDLE_MASK, flags >> 12 & 0b11, flags >> 14, data[4:])


@attrs.frozen
class ScoPacket:
    """A synchronous data packet (5.4.3)."""

    handle: int
    packet_status: int
    data: bytes

    def __attrs_post_init__(self) -> None:
        _check_header_fields("SCO packet", self.handle, (("packet_status", self.packet_status, 2),))
        if not isinstance(self.data, bytes) or len(self.data) > 0xFF:
            raise InvalidArgumentError("SCO packet: data must be bytes of at most 255 octets")

    def to_bytes(self) -> bytes:
        return _SCO_HEADER.pack(self.handle | self.packet_status << 12, len(self.data)) + self.data

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        if len(data) < 3:
            raise DecodeError(f"SCO packet: {len(data)} byte(s) is shorter than the 3-byte header")
        flags, length = _SCO_HEADER.unpack_from(data)
        _check_length("SCO packet", data, 3, length)
        return cls(flags & _HANDLE_MASK, flags >> 12 & 0b11, data[3:])


@attrs.frozen
class IsoPacket:
    """An isochronous data packet (5.4.5), kept raw: ``data`` is everything after the header
    (time stamp, sequence number and SDU length included when present)."""

    handle: int
    packet_boundary: int
    timestamp_flag: int
    data: bytes

    def __attrs_post_init__(self) -> None:
        _check_header_fields(
            "ISO packet",
            self.handle,
            (
                ("packet_boundary", self.packet_boundary, 2),
                ("timestamp_flag", self.timestamp_flag, 1),
            ),
        )
        if not isinstance(self.data, bytes) or len(self.data) > 0x3FFF:
            raise InvalidArgumentError("ISO packet: data must be bytes of at most 16383 octets")

    def to_bytes(self) -> bytes:
        flags = self.handle | self.packet_boundary << 12 | self.timestamp_flag << 14
        return _ISO_HEADER.pack(flags, len(self.data)) + self.data

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        if len(data) < 4:
            raise DecodeError(f"ISO packet: {len(data)} byte(s) is shorter than the 4-byte header")
        flags, length = _ISO_HEADER.unpack_from(data)
        _check_length("ISO packet", data, 4, length & 0x3FFF)
        return cls(flags & _HANDLE_MASK, flags >> 12 & 0b11, flags >> 14 & 1, data[4:])
