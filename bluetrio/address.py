"""Bluetooth device addresses (Core 5.4 Vol 6 Part B 1.3, Vol 2 Part B 1.2)."""

from __future__ import annotations

import enum
import re

import attrs

from bluetrio.errors import InvalidArgumentError


class AddressType(enum.IntEnum):
    """Address types as used by LE HCI commands and events (Vol 4 Part E 7.8.12)."""

    PUBLIC = 0x00
    RANDOM = 0x01
    PUBLIC_IDENTITY = 0x02
    RANDOM_IDENTITY = 0x03


# Exactly two ASCII hex digits per byte. ``int(part, 16)`` alone is too lenient: it takes a
# sign ("+1"), surrounding blanks (" 1"), an underscore and non-ASCII digits.
_HEX_PAIR = re.compile(r"[0-9A-Fa-f]{2}", re.ASCII)


def _parse_text(text: str) -> bytes:
    parts = text.strip().split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise InvalidArgumentError(
            f"not a Bluetooth address: {text!r} (expected six hex pairs like 00:11:22:33:44:55)"
        )
    if not all(_HEX_PAIR.fullmatch(p) for p in parts):
        raise InvalidArgumentError(f"not a Bluetooth address: {text!r} (bad hex digit)")
    # Text is written most significant byte first; the wire order is little-endian.
    return bytes(int(p, 16) for p in reversed(parts))


def _text(value: bytes) -> str:
    return ":".join(f"{b:02X}" for b in reversed(value))


@attrs.frozen(slots=True, order=True)
class Address:
    """A 48-bit device address with its LE address type.

    ``value`` holds the six bytes in wire (little-endian) order. BR/EDR addresses are always
    ``PUBLIC``.
    """

    value: bytes = attrs.field(repr=_text)
    type: AddressType = AddressType.PUBLIC

    def __attrs_post_init__(self) -> None:
        if len(self.value) != 6:
            raise InvalidArgumentError(f"a Bluetooth address has 6 bytes, got {len(self.value)}")

    @classmethod
    def parse(cls, text: str, type: AddressType = AddressType.PUBLIC) -> Address:
        """Parse ``"AA:BB:CC:DD:EE:FF"`` (optionally suffixed ``/P`` or ``/R``)."""
        if text.endswith(("/P", "/R")):
            type = AddressType.RANDOM if text.endswith("/R") else AddressType.PUBLIC
            text = text[:-2]
        return cls(_parse_text(text), type)

    @classmethod
    def from_wire(cls, data: bytes, type: int = AddressType.PUBLIC) -> Address:
        return cls(bytes(data), AddressType(type))

    def to_wire(self) -> bytes:
        return self.value

    @property
    def is_random(self) -> bool:
        return self.type in (AddressType.RANDOM, AddressType.RANDOM_IDENTITY)

    @property
    def is_resolvable_private(self) -> bool:
        """Random address whose two most significant bits are 0b01 (Vol 6 Part B 1.3.2.2)."""
        return self.is_random and (self.value[5] >> 6) == 0b01

    @property
    def is_static_random(self) -> bool:
        return self.is_random and (self.value[5] >> 6) == 0b11

    def __str__(self) -> str:
        return _text(self.value)

    def with_type(self, type: AddressType) -> Address:
        return Address(self.value, type)


ANY_ADDRESS = Address(bytes(6))
