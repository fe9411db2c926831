"""The Database Hash of a GATT server (Core 5.4 Vol 3 Part G 7.3).

The hash is AES-CMAC with a key of zero (Vol 3 Part H 2.2.5) over one message: for every
attribute, in ascending handle order, its handle and type, and for some types its value too,
each as ATT sends it (little-endian, a 16-bit type in 2 octets; 7.3.1):

- handle, type and value: primary and secondary service declarations (0x2800, 0x2801),
  include declarations (0x2802), characteristic declarations (0x2803) and the Characteristic
  Extended Properties descriptor (0x2900);
- handle and type only: Characteristic User Description (0x2901), Client Characteristic
  Configuration (0x2902), Server Characteristic Configuration (0x2903), Characteristic
  Presentation Format (0x2904) and Characteristic Aggregate Format (0x2905);
- nothing of any other attribute (characteristic values and other descriptors).

A client that has seen the same hash before knows the database is unchanged (7.3), so every
change of what the message covers changes the hash and nothing else does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Protocol

from bluetrio.crypto import aes_cmac, reverse
from bluetrio.messages.uuids import short_form, uuid16

__all__ = [
    "DATABASE_HASH_UUID",
    "HASHED_WITHOUT_VALUE",
    "HASHED_WITH_VALUE",
    "HASH_LENGTH",
    "HashedAttribute",
    "database_hash",
    "hash_message",
]

HASH_LENGTH = 16  # octets, a 128-bit value (Vol 3 Part G 7.3)
DATABASE_HASH_UUID = uuid16(0x2B2A)  # the characteristic holding it (7.3)

# The attribute types of Vol 3 Part G 7.3.1 whose value is part of the hash.
HASHED_WITH_VALUE: frozenset[int] = frozenset({0x2800, 0x2801, 0x2802, 0x2803, 0x2900})
# The attribute types of which only handle and type are part of it.
HASHED_WITHOUT_VALUE: frozenset[int] = frozenset({0x2901, 0x2902, 0x2903, 0x2904, 0x2905})

_ZERO_KEY = bytes(16)


class HashedAttribute(Protocol):
    """What the hash needs of an attribute of the database."""

    @property
    def handle(self) -> int: ...

    @property
    def type(self) -> uuid.UUID: ...

    @property
    def value(self) -> bytes | None: ...


def _contribution(attribute: HashedAttribute) -> bytes:
    kind = short_form(attribute.type)
    if kind is None or (kind not in HASHED_WITH_VALUE and kind not in HASHED_WITHOUT_VALUE):
        return b""
    head = attribute.handle.to_bytes(2, "little") + kind.to_bytes(2, "little")
    # A value the server does not store (a CCCD's, one served per client) is never hashed.
    return head + bytes(attribute.value or b"") if kind in HASHED_WITH_VALUE else head


def hash_message(attributes: Iterable[HashedAttribute]) -> bytes:
    """The message the hash is computed over (7.3.1), attributes taken in handle order."""
    ordered = sorted(attributes, key=lambda attribute: attribute.handle)
    return b"".join(_contribution(attribute) for attribute in ordered)


def database_hash(attributes: Iterable[HashedAttribute]) -> bytes:
    """The value of the Database Hash characteristic (0x2B2A) for ``attributes``: the
    128-bit hash, least significant octet first as ATT carries every value (Vol 3 Part F
    3.2.8); :mod:`bluetrio.crypto` computes it most significant octet first."""
    return reverse(aes_cmac(_ZERO_KEY, hash_message(attributes)))
