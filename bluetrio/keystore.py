"""Bond stores: the bonds of one local identity, kept so a peer can reconnect securely.

A store belongs to one local identity address. Inside it, a bond (:mod:`bluetrio.bonds`) is
keyed by the peer's identity address and the transport (LE or BR/EDR), because the same peer
may be bonded on both with different keys. With an LE bond the store keeps what the GATT server
remembers of that client (:class:`~bluetrio.messages.gatt_state.GattBondState`: its CCCDs,
features, change-awareness, sign counter; Core 5.4 Vol 3 Part G 2.5.2.1, 3.3.3.3), replaced
when the bond is replaced by a new pairing's only if the GATT server says so, and removed
with the bond.

Stores refuse to replace a bond by a weaker one (BLURtooth, CVE-2020-15802): an attacker who
pairs without authentication, with legacy pairing or with a shorter key must not be able to
overwrite keys created by a stronger pairing. Callers that really want to lower the security of
a bond (the user deleted it and paired again) pass ``allow_downgrade=True``.

:class:`JsonKeyStore` keeps them in a JSON file that it reads strictly: anything but exactly
the document it writes (wrong types, out-of-range values, NaN, duplicate keys or bonds,
nesting too deep or numbers too long for the parser) raises :class:`KeyStoreError` naming the
file and the field, and the file is never overwritten then.
"""

from __future__ import annotations

import abc
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import attrs
import trio

from bluetrio import strict_json
from bluetrio.address import Address, AddressType
from bluetrio.bonds import (
    Bond,
    BondKey,
    KeyDistribution,
    LinkKey,
    LinkKeyType,
    LongTermKey,
    Transport,
    identity_key,
)
from bluetrio.errors import InvalidArgumentError, KeyStoreError, WeakerKeyError
from bluetrio.messages.gatt_state import GattBondState

__all__ = [
    "JsonKeyStore",
    "KeyStore",
    "KeyStoreError",
    "MemoryKeyStore",
    "StoredBonds",
    "WeakerKeyError",
    "bond_file",
]


@attrs.frozen
class StoredBonds:
    """What a store holds: the bonds, and the GATT state kept with some of them (a key of
    ``gatt`` is always one of ``bonds``)."""

    bonds: dict[BondKey, Bond] = attrs.field(factory=dict)
    gatt: dict[BondKey, GattBondState] = attrs.field(factory=dict)


class KeyStore(abc.ABC):
    """Bonds of one local identity address.

    Subclasses implement :meth:`_load` and :meth:`_store`; the base class keeps the bonds in
    memory, applies the downgrade rule and serializes writers.
    """

    def __init__(self, local_address: Address) -> None:
        self.local_address = local_address
        self._contents: StoredBonds | None = None
        # GATT state that came before its bond (both are sent as the pairing ends): kept
        # until the bond is saved, then saved with it.
        self._early_gatt: dict[BondKey, GattBondState] = {}
        self._lock = trio.Lock()

    @abc.abstractmethod
    async def _load(self) -> StoredBonds:
        """Read every bond from the backing storage."""

    @abc.abstractmethod
    async def _store(self, contents: StoredBonds) -> None:
        """Persist exactly ``contents``; when this raises, the storage keeps its previous
        state."""

    async def _loaded(self) -> StoredBonds:
        if self._contents is None:
            self._contents = await self._load()
        return self._contents

    async def _commit(self, contents: StoredBonds) -> None:
        # Shielded: a cancellation arriving while the file is being replaced must not leave the
        # cache describing a different state than the storage.
        with trio.CancelScope(shield=True):
            await self._store(contents)
            self._contents = contents

    async def get(self, peer: Address, transport: Transport) -> Bond | None:
        async with self._lock:
            return (await self._loaded()).bonds.get((identity_key(peer), transport))

    async def list(self) -> list[Bond]:
        async with self._lock:
            return list((await self._loaded()).bonds.values())

    async def gatt_state(self, peer: Address) -> GattBondState | None:
        """The GATT state kept with the LE bond of ``peer``, if any."""
        async with self._lock:
            return (await self._loaded()).gatt.get((identity_key(peer), Transport.LE))

    async def gatt_states(self) -> dict[BondKey, GattBondState]:
        """The GATT state kept with every LE bond that has one."""
        async with self._lock:
            return dict((await self._loaded()).gatt)

    async def save_gatt_state(self, peer: Address, state: GattBondState) -> bool:
        """Keep ``state`` with the LE bond of ``peer``. Without that bond (yet) it is kept in
        memory and saved with the bond when it comes; returns whether it was saved now."""
        key = (identity_key(peer), Transport.LE)
        async with self._lock:
            contents = await self._loaded()
            if key not in contents.bonds:
                self._early_gatt[key] = state
                return False
            await self._commit(attrs.evolve(contents, gatt={**contents.gatt, key: state}))
            return True

    async def save(self, bond: Bond, *, allow_downgrade: bool = False) -> Bond:
        """Store ``bond``, replacing any bond with the same peer and transport.

        Raises :class:`WeakerKeyError` when the replaced bond is stronger on any axis of
        :class:`BondStrength`, unless ``allow_downgrade`` is true. Returns the bond as stored
        (with ``created_at`` carried over and ``updated_at`` set to now).
        """
        if identity_key(bond.local_address) != identity_key(self.local_address):
            raise InvalidArgumentError(
                f"bond of local address {bond.local_address} saved in the store of "
                f"{self.local_address}"
            )
        async with self._lock:
            contents = await self._loaded()
            previous = contents.bonds.get(bond.key)
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
            # The GATT state of the bond it replaces stays until the GATT server replaces it.
            gatt = dict(contents.gatt)
            early = self._early_gatt.get(bond.key)
            if early is not None:
                gatt[bond.key] = early
            await self._commit(StoredBonds({**contents.bonds, bond.key: stored}, gatt))
            self._early_gatt.pop(bond.key, None)
            return stored

    async def remove(self, peer: Address, transport: Transport) -> bool:
        """Forget the bond and the GATT state kept with it; returns whether there was one."""
        async with self._lock:
            contents = await self._loaded()
            key = (identity_key(peer), transport)
            self._early_gatt.pop(key, None)
            if key not in contents.bonds:
                return False
            bonds = {k: v for k, v in contents.bonds.items() if k != key}
            gatt = {k: v for k, v in contents.gatt.items() if k != key}
            await self._commit(StoredBonds(bonds, gatt))
            return True


class MemoryKeyStore(KeyStore):
    """A store that forgets everything when the process ends; for tests and examples."""

    async def _load(self) -> StoredBonds:
        return StoredBonds()

    async def _store(self, contents: StoredBonds) -> None:
        return None


# --------------------------------------------------------------------------------------------
# JSON file storage
# --------------------------------------------------------------------------------------------

_FORMAT = "bluetrio-keystore"
_VERSION = 1
T = TypeVar("T")


def _address_to_json(address: Address) -> dict[str, Any]:
    return {"address": str(address), "type": int(address.type)}


def _bytes_to_json(value: bytes | None) -> str | None:
    return None if value is None else value.hex()


def _ltk_to_json(ltk: LongTermKey | None) -> dict[str, Any] | None:
    if ltk is None:
        return None
    return {
        "value": ltk.value.hex(),
        "ediv": ltk.ediv,
        "rand": ltk.rand.hex(),
        "key_size": ltk.key_size,
    }


def _distribution_to_json(keys: KeyDistribution) -> dict[str, Any]:
    return {
        "ltk": _ltk_to_json(keys.ltk),
        "irk": _bytes_to_json(keys.irk),
        "identity_address": (
            None if keys.identity_address is None else _address_to_json(keys.identity_address)
        ),
        "csrk": _bytes_to_json(keys.csrk),
    }


def _gatt_to_json(state: GattBondState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    changed = state.service_changed
    return {
        "cccds": [[handle, value] for handle, value in state.cccds],
        "client_features": state.client_features,
        "change_aware": state.change_aware,
        "service_changed": None if changed is None else list(changed),
        "database_hash": _bytes_to_json(state.database_hash),
        "sign_counter": state.sign_counter,
    }


def _bond_to_json(bond: Bond, gatt: GattBondState | None = None) -> dict[str, Any]:
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
        "debug_key": bond.debug_key,
        "derived_from": None if bond.derived_from is None else bond.derived_from.value,
        "created_at": bond.created_at,
        "updated_at": bond.updated_at,
        "peer_link_address": (
            None if bond.peer_link_address is None else _address_to_json(bond.peer_link_address)
        ),
        "gatt": _gatt_to_json(gatt),
    }


class _DamagedField(Exception):
    """One field of the document is not what :func:`_bond_to_json` writes."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")


def _damaged(where: str, problem: str) -> NoReturn:
    raise _DamagedField(where, problem)


def _object(value: object, where: str, fields: tuple[str, ...]) -> dict[str, Any]:
    """``value`` as a JSON object with exactly ``fields``."""
    if not isinstance(value, dict):
        _damaged(where, f"expected an object, found {_kind(value)}")
    missing = [name for name in fields if name not in value]
    unknown = sorted(set(value) - set(fields))
    if missing:
        _damaged(where, f"missing field(s) {', '.join(missing)}")
    if unknown:
        _damaged(where, f"unknown field(s) {', '.join(unknown)}")
    return value


def _kind(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names |= {list: "an array", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _boolean(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        _damaged(where, f"expected true or false, found {_kind(value)}")
    return value


def _integer(value: object, where: str, low: int, high: int) -> int:
    # Exactly an int: JSON's true is a Python bool (an int subclass) and 8.0 a float.
    if type(value) is not int:
        _damaged(where, f"expected an integer, found {_kind(value)}")
    if not low <= value <= high:
        _damaged(where, f"{value} is outside {low}..{high}")
    return value


def _timestamp(value: object, where: str) -> float:
    if type(value) not in (int, float):
        _damaged(where, f"expected a Unix time, found {_kind(value)}")
    assert isinstance(value, int | float)
    if not math.isfinite(value) or value < 0:
        _damaged(where, f"{value} is not a Unix time")
    return float(value)


def _hex_bytes(value: object, where: str, length: int) -> bytes:
    if not isinstance(value, str):
        _damaged(where, f"expected {length} bytes in hex, found {_kind(value)}")
    try:
        data = bytes.fromhex(value)
    except ValueError:
        _damaged(where, "not hexadecimal")
    if len(data) != length:
        _damaged(where, f"expected {length} bytes, found {len(data)}")
    return data


def _optional(value: object, where: str, read: Callable[[object, str], T]) -> T | None:
    return None if value is None else read(value, where)


def _address_from_json(value: object, where: str) -> Address:
    data = _object(value, where, ("address", "type"))
    text = data["address"]
    if not isinstance(text, str):
        _damaged(f"{where}.address", f"expected a string, found {_kind(text)}")
    address_type = AddressType(_integer(data["type"], f"{where}.type", 0, max(AddressType)))
    try:
        return Address.parse(text, address_type)
    except InvalidArgumentError as error:
        _damaged(f"{where}.address", str(error))


def _ltk_from_json(value: object, where: str) -> LongTermKey:
    data = _object(value, where, ("value", "ediv", "rand", "key_size"))
    return LongTermKey(
        _hex_bytes(data["value"], f"{where}.value", 16),
        _integer(data["ediv"], f"{where}.ediv", 0, 0xFFFF),
        _hex_bytes(data["rand"], f"{where}.rand", 8),
        _integer(data["key_size"], f"{where}.key_size", 7, 16),
    )


def _key_16(value: object, where: str) -> bytes:
    return _hex_bytes(value, where, 16)


def _distribution_from_json(value: object, where: str) -> KeyDistribution:
    data = _object(value, where, ("ltk", "irk", "identity_address", "csrk"))
    return KeyDistribution(
        ltk=_optional(data["ltk"], f"{where}.ltk", _ltk_from_json),
        irk=_optional(data["irk"], f"{where}.irk", _key_16),
        identity_address=_optional(
            data["identity_address"], f"{where}.identity_address", _address_from_json
        ),
        csrk=_optional(data["csrk"], f"{where}.csrk", _key_16),
    )


def _link_key_from_json(value: object, where: str) -> LinkKey:
    data = _object(value, where, ("value", "type"))
    key_type = _integer(data["type"], f"{where}.type", 0, max(LinkKeyType))
    return LinkKey(_hex_bytes(data["value"], f"{where}.value", 16), LinkKeyType(key_type))


def _transport_from_json(value: object, where: str) -> Transport:
    names = {transport.value: transport for transport in Transport}
    if not isinstance(value, str) or value not in names:
        _damaged(where, f"expected one of {', '.join(names)}, found {json.dumps(value)}")
    return names[value]


_BOND_FIELDS = tuple(_bond_to_json(Bond(Address(bytes(6)), Address(bytes(6)), Transport.LE)))


def _handle_pair(value: object, where: str) -> tuple[int, int]:
    if not isinstance(value, list) or len(value) != 2:
        _damaged(where, f"expected two integers, found {_kind(value)}")
    return _integer(value[0], f"{where}[0]", 1, 0xFFFF), _integer(
        value[1], f"{where}[1]", 1, 0xFFFF
    )


def _gatt_from_json(value: object, where: str) -> GattBondState:
    fields = tuple(_gatt_to_json(GattBondState()) or ())
    data = _object(value, where, fields)
    cccds = data["cccds"]
    if not isinstance(cccds, list):
        _damaged(f"{where}.cccds", f"expected an array, found {_kind(cccds)}")
    try:
        return GattBondState(
            cccds=tuple(
                _handle_pair(entry, f"{where}.cccds[{index}]") for index, entry in enumerate(cccds)
            ),
            client_features=_integer(data["client_features"], f"{where}.client_features", 0, 7),
            change_aware=_boolean(data["change_aware"], f"{where}.change_aware"),
            service_changed=_optional(
                data["service_changed"], f"{where}.service_changed", _handle_pair
            ),
            database_hash=_optional(data["database_hash"], f"{where}.database_hash", _key_16),
            sign_counter=_optional(
                data["sign_counter"],
                f"{where}.sign_counter",
                lambda counter, at: _integer(counter, at, 0, 0xFFFFFFFF),
            ),
        )
    except InvalidArgumentError as error:  # CCCDs out of order, a range backwards
        _damaged(where, str(error))


def _bond_from_json(
    value: object, where: str, local_address: Address
) -> tuple[Bond, GattBondState | None]:
    # Fields written only by later versions of this format: their values before.
    if isinstance(value, dict):
        earlier = {"debug_key": False, "derived_from": None, "peer_link_address": None}
        value = {**earlier, "gatt": None, **value}
    data = _object(value, where, _BOND_FIELDS)
    gatt = _optional(data["gatt"], f"{where}.gatt", _gatt_from_json)
    try:
        bond = Bond(
            local_address=local_address,
            peer_address=_address_from_json(data["peer_address"], f"{where}.peer_address"),
            transport=_transport_from_json(data["transport"], f"{where}.transport"),
            link_key=_optional(data["link_key"], f"{where}.link_key", _link_key_from_json),
            peer_keys=_distribution_from_json(data["peer_keys"], f"{where}.peer_keys"),
            local_keys=_distribution_from_json(data["local_keys"], f"{where}.local_keys"),
            authenticated=_boolean(data["authenticated"], f"{where}.authenticated"),
            secure_connections=_boolean(data["secure_connections"], f"{where}.secure_connections"),
            key_size=_integer(data["key_size"], f"{where}.key_size", 7, 16),
            debug_key=_boolean(data["debug_key"], f"{where}.debug_key"),
            derived_from=_optional(
                data["derived_from"], f"{where}.derived_from", _transport_from_json
            ),
            created_at=_timestamp(data["created_at"], f"{where}.created_at"),
            updated_at=_timestamp(data["updated_at"], f"{where}.updated_at"),
            peer_link_address=_optional(
                data["peer_link_address"], f"{where}.peer_link_address", _address_from_json
            ),
        )
    except InvalidArgumentError as error:  # fields that disagree with each other
        _damaged(where, str(error))
    if gatt is not None and bond.transport is not Transport.LE:
        _damaged(f"{where}.gatt", "GATT state is kept with LE bonds only")
    return bond, gatt


def _parse_json(text: bytes, path: Path) -> object:
    try:
        return strict_json.loads(text)
    except ValueError as error:  # bad syntax or UTF-8, NaN, long integers, repeated keys...
        raise KeyStoreError(f"bond store {path} is not valid JSON: {error}") from None


def _decode_document(text: bytes, path: Path) -> tuple[Address, StoredBonds]:
    document = _parse_json(text, path)
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise KeyStoreError(f"{path} is not a bluetrio bond store")
    version = document.get("version")
    if type(version) is not int or version != _VERSION:
        raise KeyStoreError(
            f"bond store {path} has version {json.dumps(version)}; this bluetrio reads "
            f"version {_VERSION} only"
        )
    try:
        fields = _object(document, "document", ("format", "version", "local_address", "bonds"))
        local_address = _address_from_json(fields["local_address"], "local_address")
        items = fields["bonds"]
        if not isinstance(items, list):
            _damaged("bonds", f"expected an array, found {_kind(items)}")
        contents = StoredBonds()
        for index, item in enumerate(items):
            where = f"bonds[{index}]"
            bond, gatt = _bond_from_json(item, where, local_address)
            if bond.key in contents.bonds:
                _damaged(
                    where,
                    f"a second bond with {bond.peer_address} ({bond.transport.value})",
                )
            contents.bonds[bond.key] = bond
            if gatt is not None:
                contents.gatt[bond.key] = gatt
    except _DamagedField as error:
        raise KeyStoreError(f"bond store {path} is damaged: {error}") from None
    return local_address, contents


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


def bond_file(directory: str | os.PathLike[str], local_address: Address) -> Path:
    """The file of ``local_address``'s bonds in a directory of bond files."""
    kind = "random" if local_address.is_random else "public"
    name = str(local_address).replace(":", "-")
    return Path(directory) / f"bonds-{name}-{kind}.json"


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
        return cls(bond_file(directory, local_address), local_address)

    async def _load(self) -> StoredBonds:
        try:
            text = await trio.to_thread.run_sync(_read_if_present, self.path)
        except OSError as error:
            raise KeyStoreError(f"cannot read bond store {self.path}: {error}") from error
        if text is None:
            return StoredBonds()
        stored_address, contents = _decode_document(text, self.path)
        if identity_key(stored_address) != identity_key(self.local_address):
            raise KeyStoreError(
                f"bond store {self.path} belongs to {stored_address}, not {self.local_address}"
            )
        return contents

    async def _store(self, contents: StoredBonds) -> None:
        document = {
            "format": _FORMAT,
            "version": _VERSION,
            "local_address": _address_to_json(self.local_address),
            "bonds": [
                _bond_to_json(bond, contents.gatt.get(key)) for key, bond in contents.bonds.items()
            ],
        }
        data = json.dumps(document, indent=1).encode()
        try:
            await trio.to_thread.run_sync(_write_atomically, self.path, data)
        except OSError as error:
            raise KeyStoreError(f"cannot write bond store {self.path}: {error}") from error
