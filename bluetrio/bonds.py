"""Bond data: the keys exchanged by pairing and what is remembered about each bonded peer.

These are plain values, with no storage behind them: the security core, its service messages
and the stores in :mod:`bluetrio.keystore` all share them. A bond is keyed by the peer's identity
address and the transport (LE or BR/EDR), because the same peer may be bonded on both with
different keys; :class:`BondStrength` orders bonds so that a store can refuse a downgrade
(BLURtooth, CVE-2020-15802).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from bluetrio.address import Address, AddressType
from bluetrio.errors import InvalidArgumentError

__all__ = [
    "Bond",
    "BondKey",
    "BondStrength",
    "KeyDistribution",
    "LinkKey",
    "LinkKeyType",
    "LongTermKey",
    "Transport",
    "identity_key",
]


class Transport(enum.Enum):
    """The transport a bond was made on; its value is how stores write it."""

    LE = "le"
    BR_EDR = "br_edr"


class LinkKeyType(enum.IntEnum):
    """Key_Type of HCI Link_Key_Notification (Core 5.4 Vol 4 Part E 7.7.24)."""

    COMBINATION = 0x00
    LOCAL_UNIT = 0x01
    REMOTE_UNIT = 0x02
    DEBUG_COMBINATION = 0x03
    UNAUTHENTICATED_P192 = 0x04
    AUTHENTICATED_P192 = 0x05
    CHANGED_COMBINATION = 0x06
    UNAUTHENTICATED_P256 = 0x07
    AUTHENTICATED_P256 = 0x08

    @property
    def is_authenticated(self) -> bool:
        """MITM-protected: only Secure Simple Pairing with an authenticated association."""
        return self in (LinkKeyType.AUTHENTICATED_P192, LinkKeyType.AUTHENTICATED_P256)

    @property
    def is_secure_connections(self) -> bool:
        """Created by BR/EDR Secure Connections (P-256, Vol 2 Part H 7.1)."""
        return self in (LinkKeyType.UNAUTHENTICATED_P256, LinkKeyType.AUTHENTICATED_P256)


def _link_key_type(code: int) -> LinkKeyType:
    try:
        return LinkKeyType(code)
    except ValueError:
        raise InvalidArgumentError(f"unknown link key type {code!r}") from None


def _check_bytes(name: str, length: int) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_instance: Any, _attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, bytes) or len(value) != length:
            raise InvalidArgumentError(f"{name} must be {length} bytes")

    return check


def _check_optional_key(name: str) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    check_key = _check_bytes(name, 16)

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            check_key(instance, attribute, value)

    return check


def _check_key_size(_instance: Any, _attribute: attrs.Attribute[Any], value: Any) -> None:
    # Encryption key sizes range from 7 to 16 octets (Vol 3 Part H 2.3.4, Vol 2 Part H 4.2).
    if not isinstance(value, int) or isinstance(value, bool) or not 7 <= value <= 16:
        raise InvalidArgumentError(f"key size must be 7 to 16 octets, got {value!r}")


@attrs.frozen(slots=True, repr=False)
class LinkKey:
    """A BR/EDR link key as reported by Link_Key_Notification (16 octets, MSB first)."""

    value: bytes = attrs.field(validator=_check_bytes("link key", 16))
    type: LinkKeyType = attrs.field(converter=_link_key_type)

    def __repr__(self) -> str:
        return f"LinkKey(type={self.type.name})"


@attrs.frozen(slots=True, repr=False)
class LongTermKey:
    """An LE LTK with the EDIV and Rand that identify it (Vol 3 Part H 2.4.2).

    ``value`` and ``rand`` are MSB first. LE Secure Connections keys use EDIV 0 and Rand 0.
    """

    value: bytes = attrs.field(validator=_check_bytes("LTK", 16))
    ediv: int = attrs.field(default=0)
    rand: bytes = attrs.field(default=bytes(8), validator=_check_bytes("Rand", 8))
    key_size: int = attrs.field(default=16, validator=_check_key_size)

    @ediv.validator
    def _check_ediv(self, _attribute: attrs.Attribute[int], value: int) -> None:
        if not isinstance(value, int) or not 0 <= value <= 0xFFFF:
            raise InvalidArgumentError(f"EDIV must be a 16-bit value, got {value!r}")

    def __repr__(self) -> str:
        return f"LongTermKey(ediv=0x{self.ediv:04X}, key_size={self.key_size})"


def _check_optional_address(_instance: Any, _attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, Address):
        raise InvalidArgumentError(f"identity address must be an Address, got {value!r}")


@attrs.frozen(slots=True, repr=False)
class KeyDistribution:
    """The keys one side handed over in SMP key distribution (Vol 3 Part H 3.6.1).

    For LE Secure Connections, where both sides derive the same LTK, both sides' ``ltk`` hold it.
    """

    ltk: LongTermKey | None = None
    irk: bytes | None = attrs.field(default=None, validator=_check_optional_key("IRK"))
    identity_address: Address | None = attrs.field(default=None, validator=_check_optional_address)
    csrk: bytes | None = attrs.field(default=None, validator=_check_optional_key("CSRK"))

    def __repr__(self) -> str:
        present = [name for name in ("ltk", "irk", "csrk") if getattr(self, name) is not None]
        return f"KeyDistribution(keys={present}, identity_address={self.identity_address})"


@attrs.frozen(slots=True, order=False)
class BondStrength:
    """How strong a bond's keys are; ordered component by component.

    One strength is at least another only when it is at least as strong on every axis, so
    "authenticated legacy" and "unauthenticated Secure Connections" are not comparable and
    neither may replace the other without ``allow_downgrade``.
    """

    authenticated: bool
    secure_connections: bool
    key_size: int

    def shortfalls(self, other: BondStrength) -> list[str]:
        """The ways in which ``self`` is weaker than ``other`` (empty when it is not)."""
        reasons = []
        if other.authenticated and not self.authenticated:
            reasons.append("unauthenticated keys would replace authenticated keys")
        if other.secure_connections and not self.secure_connections:
            reasons.append("legacy pairing keys would replace Secure Connections keys")
        if self.key_size < other.key_size:
            reasons.append(
                f"a {self.key_size}-octet key would replace a {other.key_size}-octet key"
            )
        return reasons

    def __ge__(self, other: BondStrength) -> bool:
        return not self.shortfalls(other)

    def __le__(self, other: BondStrength) -> bool:
        return not other.shortfalls(self)

    def __gt__(self, other: BondStrength) -> bool:
        return self >= other and self != other

    def __lt__(self, other: BondStrength) -> bool:
        return self <= other and self != other


def identity_key(address: Address) -> Address:
    """The address that names ``address``'s device in a store, whatever type it was seen as."""
    # Controllers report identity addresses as types 0x02/0x03 after resolving them
    # (Vol 4 Part E 7.7.65.10); they name the same device as public/random 0x00/0x01.
    base_type = AddressType.RANDOM if address.is_random else AddressType.PUBLIC
    return address.with_type(base_type)


BondKey = tuple[Address, Transport]
"""What identifies a bond inside the store of one local identity (:attr:`Bond.key`)."""


@attrs.frozen(slots=True)
class Bond:
    """Everything remembered about one peer on one transport.

    ``local_address`` and ``peer_address`` are identity addresses. ``created_at`` and
    ``updated_at`` are Unix times; stores keep the creation time of the bond they replace.
    ``peer_link_address`` (LE): the address the peer connected with when it bonded, as on
    the air; a peer on a static random address that distributed another identity is found
    by it when it connects again.
    """

    local_address: Address
    peer_address: Address
    transport: Transport
    link_key: LinkKey | None = None
    peer_keys: KeyDistribution = KeyDistribution()
    local_keys: KeyDistribution = KeyDistribution()
    authenticated: bool = False
    secure_connections: bool = False
    key_size: int = attrs.field(default=16, validator=_check_key_size)
    # Made with the P-256 debug key (Vol 3 Part H 2.3.5.6.1), whose private key everyone
    # knows: anyone who recorded the pairing can decrypt the link.
    debug_key: bool = False
    # The transport whose pairing produced the key this bond was derived from (Vol 3 Part H
    # 2.4.2.4: a link key from an LE LTK; 2.4.2.5: an LTK from a BR/EDR link key), or None
    # when a pairing on this bond's own transport made it.
    derived_from: Transport | None = attrs.field(default=None)
    created_at: float = attrs.field(factory=time.time)
    updated_at: float = attrs.field(factory=time.time)
    peer_link_address: Address | None = None

    def __attrs_post_init__(self) -> None:
        if self.derived_from is not None and self.derived_from is self.transport:
            raise InvalidArgumentError(
                f"a {self.transport.value} bond is derived from the other transport, "
                f"not from {self.derived_from.value}"
            )
        if self.link_key is not None:
            if self.transport is not Transport.BR_EDR:
                raise InvalidArgumentError("an LE bond cannot hold a BR/EDR link key")
            # The flags must agree with what the controller said about the key, otherwise the
            # downgrade protection below would compare the wrong things.
            if self.authenticated and not self.link_key.type.is_authenticated:
                raise InvalidArgumentError(
                    f"a {self.link_key.type.name} link key is not authenticated"
                )
            if self.secure_connections != self.link_key.type.is_secure_connections:
                raise InvalidArgumentError(
                    f"secure_connections={self.secure_connections} contradicts a "
                    f"{self.link_key.type.name} link key"
                )

    @property
    def key(self) -> BondKey:
        """The peer and transport that identify this bond inside its store."""
        return identity_key(self.peer_address), self.transport

    def strength(self) -> BondStrength:
        return BondStrength(self.authenticated, self.secure_connections, self.key_size)


def distributed_irk(bonds: Iterable[Bond]) -> bytes | None:
    """The IRK we gave the peers of ``bonds`` (Vol 3 Part H 3.6.4), that of the latest LE
    bond when they differ: our RPAs must be made from it for those peers to resolve them."""
    given = [b for b in bonds if b.transport is Transport.LE and b.local_keys.irk is not None]
    if not given:
        return None
    return max(given, key=lambda bond: bond.updated_at).local_keys.irk
