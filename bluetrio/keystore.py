"""Persistent bonds: the keys exchanged by pairing, kept so a peer can reconnect securely.

A store belongs to one local identity address. Inside it, a bond is keyed by the peer's identity
address and the transport (LE or BR/EDR), because the same peer may be bonded on both with
different keys.

Stores refuse to replace a bond by a weaker one (BLURtooth, CVE-2020-15802): an attacker who
pairs without authentication, with legacy pairing or with a shorter key must not be able to
overwrite keys created by a stronger pairing. Callers that really want to lower the security of
a bond (the user deleted it and paired again) pass ``allow_downgrade=True``.
"""

from __future__ import annotations

import abc
import enum
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import trio

from bluetrio.address import Address, AddressType
from bluetrio.errors import BluetrioError, InvalidArgumentError

__all__ = [
    "Bond",
    "BondStrength",
    "JsonKeyStore",
    "KeyDistribution",
    "KeyStore",
    "KeyStoreError",
    "LinkKey",
    "LinkKeyType",
    "LongTermKey",
    "MemoryKeyStore",
    "Transport",
    "WeakerKeyError",
]


class KeyStoreError(BluetrioError):
    """The bond store cannot be read or written, or refused a bond."""


class WeakerKeyError(KeyStoreError):
    """A new bond is weaker than the stored one it would replace (CVE-2020-15802)."""


class Transport(enum.Enum):
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


def _identity_key(address: Address) -> Address:
    # Controllers report identity addresses as types 0x02/0x03 after resolving them
    # (Vol 4 Part E 7.7.65.10); they name the same device as public/random 0x00/0x01.
    base_type = AddressType.RANDOM if address.is_random else AddressType.PUBLIC
    return address.with_type(base_type)


@attrs.frozen(slots=True)
class Bond:
    """Everything remembered about one peer on one transport.

    ``local_address`` and ``peer_address`` are identity addresses. ``created_at`` and
    ``updated_at`` are Unix times; stores keep the creation time of the bond they replace.
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
    created_at: float = attrs.field(factory=time.time)
    updated_at: float = attrs.field(factory=time.time)

    def __attrs_post_init__(self) -> None:
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
    def key(self) -> tuple[Address, Transport]:
        """The peer and transport that identify this bond inside its store."""
        return _identity_key(self.peer_address), self.transport

    def strength(self) -> BondStrength:
        return BondStrength(self.authenticated, self.secure_connections, self.key_size)


class KeyStore(abc.ABC):
    """Bonds of one local identity address.

    Subclasses implement :meth:`_load` and :meth:`_store`; the base class keeps the bonds in
    memory, applies the downgrade rule and serializes writers.
    """

    def __init__(self, local_address: Address) -> None:
        self.local_address = local_address
        self._bonds: dict[tuple[Address, Transport], Bond] | None = None
        self._lock = trio.Lock()

    @abc.abstractmethod
    async def _load(self) -> dict[tuple[Address, Transport], Bond]:
        """Read every bond from the backing storage."""

    @abc.abstractmethod
    async def _store(self, bonds: dict[tuple[Address, Transport], Bond]) -> None:
        """Persist exactly ``bonds``; when this raises, the storage keeps its previous state."""

    async def _loaded(self) -> dict[tuple[Address, Transport], Bond]:
        if self._bonds is None:
            self._bonds = await self._load()
        return self._bonds

    async def _commit(self, bonds: dict[tuple[Address, Transport], Bond]) -> None:
        # Shielded: a cancellation arriving while the file is being replaced must not leave the
        # cache describing a different state than the storage.
        with trio.CancelScope(shield=True):
            await self._store(bonds)
            self._bonds = bonds

    async def get(self, peer: Address, transport: Transport) -> Bond | None:
        async with self._lock:
            return (await self._loaded()).get((_identity_key(peer), transport))

    async def list(self) -> list[Bond]:
        async with self._lock:
            return list((await self._loaded()).values())

    async def save(self, bond: Bond, *, allow_downgrade: bool = False) -> Bond:
        """Store ``bond``, replacing any bond with the same peer and transport.

        Raises :class:`WeakerKeyError` when the replaced bond is stronger on any axis of
        :class:`BondStrength`, unless ``allow_downgrade`` is true. Returns the bond as stored
        (with ``created_at`` carried over and ``updated_at`` set to now).
        """
        if _identity_key(bond.local_address) != _identity_key(self.local_address):
            raise InvalidArgumentError(
                f"bond of local address {bond.local_address} saved in the store of "
                f"{self.local_address}"
            )
        async with self._lock:
            bonds = await self._loaded()
            previous = bonds.get(bond.key)
            created_at = bond.created_at
            if previous is not None:
                shortfalls = bond.strength().shortfalls(previous.strength())
                if shortfalls and not allow_downgrade:
                    raise WeakerKeyError(
                        f"refusing to replace the bond with {bond.peer_address} "
                        f"({bond.transport.value}): " + "; ".join(shortfalls)
                    )
                created_at = previous.created_at
            stored = attrs.evolve(bond, created_at=created_at, updated_at=time.time())
            await self._commit({**bonds, bond.key: stored})
            return stored

    async def remove(self, peer: Address, transport: Transport) -> bool:
        """Forget the bond; returns whether there was one."""
        async with self._lock:
            bonds = await self._loaded()
            key = (_identity_key(peer), transport)
            if key not in bonds:
                return False
            await self._commit({k: v for k, v in bonds.items() if k != key})
            return True


class MemoryKeyStore(KeyStore):
    """A store that forgets everything when the process ends; for tests and examples."""

    async def _load(self) -> dict[tuple[Address, Transport], Bond]:
        return {}

    async def _store(self, bonds: dict[tuple[Address, Transport], Bond]) -> None:
        return None


# --------------------------------------------------------------------------------------------
# JSON file storage
# --------------------------------------------------------------------------------------------

_FORMAT = "bluetrio-keystore"
_VERSION = 1


def _address_to_json(address: Address) -> dict[str, Any]:
    return {"address": str(address), "type": int(address.type)}


def _address_from_json(data: Any) -> Address:
    return Address.parse(data["address"], AddressType(data["type"]))


def _bytes_to_json(value: bytes | None) -> str | None:
    return None if value is None else value.hex()


def _bytes_from_json(value: Any) -> bytes | None:
    return None if value is None else bytes.fromhex(value)


def _ltk_to_json(ltk: LongTermKey | None) -> dict[str, Any] | None:
    if ltk is None:
        return None
    return {
        "value": ltk.value.hex(),
        "ediv": ltk.ediv,
        "rand": ltk.rand.hex(),
        "key_size": ltk.key_size,
    }


def _ltk_from_json(data: Any) -> LongTermKey | None:
    if data is None:
        return None
    return LongTermKey(
        bytes.fromhex(data["value"]), data["ediv"], bytes.fromhex(data["rand"]), data["key_size"]
    )


def _distribution_to_json(keys: KeyDistribution) -> dict[str, Any]:
    return {
        "ltk": _ltk_to_json(keys.ltk),
        "irk": _bytes_to_json(keys.irk),
        "identity_address": (
            None if keys.identity_address is None else _address_to_json(keys.identity_address)
        ),
        "csrk": _bytes_to_json(keys.csrk),
    }


def _distribution_from_json(data: Any) -> KeyDistribution:
    identity = data["identity_address"]
    return KeyDistribution(
        ltk=_ltk_from_json(data["ltk"]),
        irk=_bytes_from_json(data["irk"]),
        identity_address=None if identity is None else _address_from_json(identity),
        csrk=_bytes_from_json(data["csrk"]),
    )


def _bond_to_json(bond: Bond) -> dict[str, Any]:
    link_key = bond.link_key
    return {
        "peer_address": _address_to_json(bond.peer_address),
        "transport": bond.transport.value,
        "link_key": (
            None
            if link_key is None
            else {"value": link_key.value.hex(), "type": int(link_key.type)}
        ),
        "peer_keys": _distribution_to_json(bond.peer_keys),
        "local_keys": _distribution_to_json(bond.local_keys),
        "authenticated": bond.authenticated,
        "secure_connections": bond.secure_connections,
        "key_size": bond.key_size,
        "created_at": bond.created_at,
        "updated_at": bond.updated_at,
    }


def _check_type(value: Any, expected: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(value, expected):
        raise TypeError(f"{what} has the wrong type ({type(value).__name__})")
    return value


def _bond_from_json(data: Any, local_address: Address) -> Bond:
    link_key = data["link_key"]
    return Bond(
        local_address=local_address,
        peer_address=_address_from_json(data["peer_address"]),
        transport=Transport(data["transport"]),
        link_key=(
            None
            if link_key is None
            else LinkKey(bytes.fromhex(link_key["value"]), link_key["type"])
        ),
        peer_keys=_distribution_from_json(data["peer_keys"]),
        local_keys=_distribution_from_json(data["local_keys"]),
        authenticated=_check_type(data["authenticated"], bool, "authenticated"),
        secure_connections=_check_type(data["secure_connections"], bool, "secure_connections"),
        key_size=data["key_size"],
        created_at=_check_type(data["created_at"], (int, float), "created_at"),
        updated_at=_check_type(data["updated_at"], (int, float), "updated_at"),
    )


def _decode_document(text: bytes, path: Path) -> tuple[Address, list[Bond]]:
    try:
        document = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise KeyStoreError(f"bond store {path} is not valid JSON: {error}") from None
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise KeyStoreError(f"{path} is not a bluetrio bond store")
    if document.get("version") != _VERSION:
        raise KeyStoreError(
            f"bond store {path} has version {document.get('version')!r}; this bluetrio reads "
            f"version {_VERSION} only"
        )
    try:
        local_address = _address_from_json(document["local_address"])
        bonds = [_bond_from_json(item, local_address) for item in document["bonds"]]
    # Any malformed field surfaces as one of these; the store names the file and the problem.
    except (KeyError, TypeError, ValueError, AttributeError, InvalidArgumentError) as error:
        raise KeyStoreError(
            f"bond store {path} is damaged: {type(error).__name__}: {error}"
        ) from None
    return local_address, bonds


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new file.

    The temporary file lives in the same directory (os.replace is atomic only within one file
    system); it is flushed to disk before the rename, and the directory is synced after it so
    the rename itself survives a power loss. The file holds secret keys, hence mode 0o600.
    """
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        # After a successful rename there is nothing left to remove; after a failure the
        # partial temporary file goes away and the store keeps its previous content.
        temporary.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _read_if_present(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


class JsonKeyStore(KeyStore):
    """Bonds of one local identity in one JSON file, rewritten atomically on every change.

    A missing file is an empty store. A damaged file, a file of another format version or a file
    belonging to another local address raises :class:`KeyStoreError`; it is never silently
    replaced, since that would lose every bond.
    """

    def __init__(self, path: str | os.PathLike[str], local_address: Address) -> None:
        super().__init__(local_address)
        self.path = Path(path)

    @classmethod
    def in_directory(
        cls, directory: str | os.PathLike[str], local_address: Address
    ) -> JsonKeyStore:
        """The store of ``local_address`` in a directory holding one file per local identity."""
        kind = "random" if local_address.is_random else "public"
        name = str(local_address).replace(":", "-")
        return cls(Path(directory) / f"bonds-{name}-{kind}.json", local_address)

    async def _load(self) -> dict[tuple[Address, Transport], Bond]:
        try:
            text = await trio.to_thread.run_sync(_read_if_present, self.path)
        except OSError as error:
            raise KeyStoreError(f"cannot read bond store {self.path}: {error}") from error
        if text is None:
            return {}
        stored_address, bonds = _decode_document(text, self.path)
        if _identity_key(stored_address) != _identity_key(self.local_address):
            raise KeyStoreError(
                f"bond store {self.path} belongs to {stored_address}, not {self.local_address}"
            )
        return {bond.key: bond for bond in bonds}

    async def _store(self, bonds: dict[tuple[Address, Transport], Bond]) -> None:
        document = {
            "format": _FORMAT,
            "version": _VERSION,
            "local_address": _address_to_json(self.local_address),
            "bonds": [_bond_to_json(bond) for bond in bonds.values()],
        }
        data = json.dumps(document, indent=1).encode()
        try:
            await trio.to_thread.run_sync(_write_atomically, self.path, data)
        except OSError as error:
            raise KeyStoreError(f"cannot write bond store {self.path}: {error}") from error
