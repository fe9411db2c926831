"""What the GATT server remembers of a bonded client, and the messages that keep it.

For a client with a trusted relationship (a bond) the server keeps, across connections, the
values of the Client Characteristic Configuration descriptors the client wrote (Core 5.4
Vol 3 Part G 3.3.3.3), its Client Supported Features (7.2), whether it is change-aware
(2.5.2.1) and the range of the database that changed while it was away, which a Service
Changed indication tells it when it is back (7.1). A signed write's counter must grow over the
bond's whole life (Vol 3 Part H 2.4.5), so the last one accepted is kept too. That is a
:class:`GattBondState`, stored with the bond by :mod:`bluetrio.keystore`.

Directions:

* app → gatt: :class:`GattBondsLoadReq` once the key store is read (every LE bond's peer,
  its CSRK and the state stored with it), answered by :class:`GattBondsLoadCnf`;
* gatt → app: :class:`GattBondStateStoreReq` whenever the state of a bonded client changes,
  for the key store (nothing answers it: the gatt layer keeps the state itself while it runs).

The gatt layer learns of a bond made while it runs from btm's ``StoreBondReq``.
"""

from __future__ import annotations

from typing import Any

import attrs

from bluetrio.address import Address
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.base import Message

__all__ = [
    "APP_INDICATIONS",
    "CLIENT_FEATURE_BITS",
    "FULL_RANGE",
    "GattBondState",
    "GattBondStateStoreReq",
    "GattBondedPeer",
    "GattBondsLoadCnf",
    "GattBondsLoadReq",
]

# Client Supported Features (Vol 3 Part G 7.2, table 7.6): Robust Caching (bit 0), Enhanced
# ATT bearer (bit 1), Multiple Handle Value Notifications (bit 2); the other bits are reserved.
CLIENT_FEATURE_BITS = 0b111
# The range a Service Changed indication names when it cannot say less (7.1).
FULL_RANGE = (0x0001, 0xFFFF)


def _check_handle_range(_instance: Any, _attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if (
        not isinstance(value, tuple)
        or len(value) != 2
        or not all(isinstance(h, int) and 0x0001 <= h <= 0xFFFF for h in value)
        or value[0] > value[1]
    ):
        raise InvalidArgumentError(f"a changed range is two handles, start <= end: {value!r}")


def _is_pair(entry: object) -> bool:
    return (
        isinstance(entry, tuple)
        and len(entry) == 2
        and all(isinstance(h, int) and 0x0001 <= h <= 0xFFFF for h in entry)
    )


def _check_cccds(_instance: Any, _attribute: attrs.Attribute[Any], value: Any) -> None:
    if (
        not isinstance(value, tuple)
        or not all(_is_pair(entry) for entry in value)
        or [entry[0] for entry in value] != sorted({entry[0] for entry in value})
    ):
        raise InvalidArgumentError(
            "CCCD values are (descriptor handle, nonzero 16-bit value) pairs in handle order"
        )


def _check_features(_instance: Any, _attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value & ~CLIENT_FEATURE_BITS:
        raise InvalidArgumentError(f"client supported features are bits 0-2, got {value!r}")


def _check_hash(_instance: Any, _attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, bytes) or len(value) != 16):
        raise InvalidArgumentError("a database hash is 16 octets")


def _check_counter(_instance: Any, _attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (
        not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFFFFFF
    ):
        raise InvalidArgumentError(f"a sign counter is a 32-bit value, got {value!r}")


@attrs.frozen
class GattBondState:
    """The GATT server's state of one bonded client.

    ``cccds``: (descriptor handle, value) of every CCCD the client set to a nonzero value, in
    handle order; ``client_features``: its Client Supported Features; ``change_aware``: its
    robust caching state (2.5.2.1); ``service_changed``: the handle range changed since it last
    heard of a change, to indicate when it is back (None: nothing); ``database_hash``: the
    hash of the database these handles belong to (a server started with another database
    treats the client as change-unaware, every handle changed); ``sign_counter``: the counter
    of the last signed write accepted from it (None: none yet).
    """

    cccds: tuple[tuple[int, int], ...] = attrs.field(default=(), validator=_check_cccds)
    client_features: int = attrs.field(default=0, validator=_check_features)
    change_aware: bool = True
    service_changed: tuple[int, int] | None = attrs.field(
        default=None, validator=_check_handle_range
    )
    database_hash: bytes | None = attrs.field(default=None, validator=_check_hash, repr=False)
    sign_counter: int | None = attrs.field(default=None, validator=_check_counter)


@attrs.frozen
class GattBondedPeer:
    """A bonded LE peer as the gatt layer needs it: its identity address, the CSRK it
    distributed (Vol 3 Part H 3.6.6, MSB first; None when it gave none), the state kept with
    the bond (None: nothing kept yet), the address it bonded over (the bond's
    ``peer_link_address``, which names a peer on a static address that gave another
    identity) and whether the pairing was authenticated (so is a signature with its CSRK,
    LE security mode 2 level 2, Vol 3 Part C 10.2.2)."""

    peer: Address
    csrk: bytes | None = attrs.field(default=None, repr=False)
    state: GattBondState | None = None
    link_address: Address | None = None
    authenticated: bool = False  # the bond's pairing was MITM-protected


@attrs.frozen
class GattBondsLoadReq(Message):
    """The bonded LE peers of the key store, for the gatt layer (sent once, at start)."""

    token: int
    peers: tuple[GattBondedPeer, ...]


@attrs.frozen
class GattBondsLoadCnf(Message):
    """The gatt layer took the peers of :class:`GattBondsLoadReq` ``token``."""

    token: int


@attrs.frozen
class GattBondStateStoreReq(Message):
    """Keep ``state`` with the LE bond of ``peer`` (an identity address)."""

    peer: Address
    state: GattBondState


# What the gatt layer emits to the application's side (the key store's service).
APP_INDICATIONS: tuple[type[Message], ...] = (GattBondStateStoreReq,)
