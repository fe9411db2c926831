"""UUIDs as the Bluetooth specifications use them: 16, 32 and 128-bit values of one space.

A 16 or 32-bit UUID stands for the 128-bit value xxxxxxxx-0000-1000-8000-00805F9B34FB, on the
Bluetooth Base UUID (Core 5.4 Vol 3 Part B 2.5.1). Every UUID in bluetrio is a
:class:`uuid.UUID`; the short forms exist only on the wire. SDP carries them big-endian in
data elements (:mod:`bluetrio.messages.sdp`); ATT carries them little-endian, as 2 octets when
the UUID has a 16-bit form and as all 16 otherwise, a 32-bit UUID included (Vol 3 Part F 3.2.1).
"""

from __future__ import annotations

import uuid as uuid_module

from bluetrio.errors import DecodeError, InvalidArgumentError

__all__ = ["BASE_UUID", "att_uuid_bytes", "short_form", "uuid16", "uuid_from_att_bytes"]

BASE_UUID = uuid_module.UUID("00000000-0000-1000-8000-00805F9B34FB")
_BASE_LOW = BASE_UUID.int & ((1 << 96) - 1)


def uuid16(value: int) -> uuid_module.UUID:
    """The 128-bit UUID of a 16-bit (or 32-bit) assigned number, through the Base UUID."""
    if not 0 <= value <= 0xFFFFFFFF:
        raise InvalidArgumentError(f"0x{value:X} is not a 16 or 32-bit UUID")
    return uuid_module.UUID(int=(value << 96) | _BASE_LOW)


def short_form(value: uuid_module.UUID) -> int | None:
    """The 32-bit value of a UUID made from the Base UUID, or None for any other UUID."""
    if value.int & ((1 << 96) - 1) != _BASE_LOW:
        return None
    return value.int >> 96


def att_uuid_bytes(value: uuid_module.UUID) -> bytes:
    """The UUID as ATT sends it (Vol 3 Part F 3.2.1): 2 octets for a 16-bit UUID, else the
    16 octets of the full UUID; little-endian either way."""
    short = short_form(value)
    if short is not None and short <= 0xFFFF:
        return short.to_bytes(2, "little")
    return value.bytes[::-1]


def uuid_from_att_bytes(data: bytes) -> uuid_module.UUID:
    """The UUID of 2 or 16 little-endian octets from an ATT PDU; any other size is malformed."""
    if len(data) == 2:
        return uuid16(int.from_bytes(data, "little"))
    if len(data) == 16:
        return uuid_module.UUID(bytes=bytes(data[::-1]))
    raise DecodeError(f"an ATT UUID is 2 or 16 octets, got {len(data)}")
