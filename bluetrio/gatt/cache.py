"""The GATT client's discovery cache: a bonded peer's database, kept so a reconnection
does not discover it again (Core 5.4 Vol 3 Part G 2.5.2, robust caching 2.5.2.1).

An entry is the tree :meth:`~bluetrio.gatt.GattClient.discover_all` found, keyed by the
peer's identity address and stamped with the peer's Database Hash (7.3) read before the
discovery; the client uses it only when the hash it reads now is the same. It drops the
entry when the peer indicates Service Changed (7.1) or answers Database Out Of Sync
(Vol 3 Part F 3.4.1.1, 0x12). Only bonded peers are cached: the link's client checks the
bond before it reads or writes an entry.

:class:`MemoryDiscoveryCache` forgets everything with the stack. :class:`JsonDiscoveryCache`
keeps the entries in a JSON file next to the bond file of a
:class:`~bluetrio.keystore.JsonKeyStore` (:func:`cache_for_keystore`); a damaged or foreign
file is ignored with a warning (a cache can always be rebuilt by discovering again) and
replaced at the next store.
"""

from __future__ import annotations

import json
import logging
import os
import uuid as uuid_module
from pathlib import Path
from typing import Any

import attrs
import trio

from bluetrio import strict_json
from bluetrio.address import Address, AddressType
from bluetrio.bonds import identity_key
from bluetrio.errors import GattError, InvalidArgumentError
from bluetrio.gatt.remote import RemoteCharacteristic, RemoteDescriptor, RemoteService
from bluetrio.keystore import JsonKeyStore, KeyStore, _read_if_present, _write_atomically
from bluetrio.messages.gatt_declarations import Properties

__all__ = [
    "CachedDatabase",
    "DiscoveryCache",
    "JsonDiscoveryCache",
    "MemoryDiscoveryCache",
    "cache_for_keystore",
]

logger = logging.getLogger(__name__)

_FORMAT = "bluetrio-gatt-cache"
_VERSION = 1
# Peers kept; past it the entry stored longest ago goes (a central meets many peers).
DEFAULT_CAPACITY = 64
# A Database Hash is a 128-bit AES-CMAC (Vol 3 Part G 7.3.1).
DATABASE_HASH_LENGTH = 16
# A SignCounter is 32 bits (Vol 3 Part H 2.4.5).
MAX_SIGN_COUNTER = 0xFFFFFFFF


@attrs.frozen
class CachedDatabase:
    """A peer's database as discovered, with the Database Hash read before discovery."""

    database_hash: bytes
    services: tuple[RemoteService, ...]


@attrs.define
class _Contents:
    """What a cache holds: the entries, and the counter of our next signed write to each
    bonded peer (Vol 3 Part H 2.4.5: it never repeats over the bond's life)."""

    entries: dict[Address, CachedDatabase] = attrs.Factory(dict)
    sign_counters: dict[Address, int] = attrs.Factory(dict)


class DiscoveryCache:
    """Entries by peer identity address, in memory; subclasses persist them (:meth:`flush`).

    :meth:`drop` is synchronous, so a Service Changed indication can drop an entry from
    wherever it is heard; the change reaches storage with the next :meth:`flush`.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._contents: _Contents | None = None
        self._dropped: set[Address] = set()  # dropped before the entries were loaded
        self._dirty = False
        self._lock = trio.Lock()

    async def _load(self) -> _Contents:
        return _Contents()

    async def _store(self, contents: _Contents) -> None:
        return None

    async def _loaded(self) -> _Contents:
        if self._contents is None:
            contents = await self._load()
            for peer in self._dropped:
                contents.entries.pop(peer, None)
            self._contents, self._dropped = contents, set()
        return self._contents

    async def get(self, peer: Address) -> CachedDatabase | None:
        async with self._lock:
            return (await self._loaded()).entries.get(identity_key(peer))

    async def put(self, peer: Address, entry: CachedDatabase) -> None:
        async with self._lock:
            entries = (await self._loaded()).entries
            entries.pop(identity_key(peer), None)
            entries[identity_key(peer)] = entry
            while len(entries) > self.capacity:
                del entries[next(iter(entries))]
            self._dirty = True
        await self.flush()

    def drop(self, peer: Address) -> None:
        """Forget ``peer``'s entry (persisted with the next :meth:`flush`)."""
        key = identity_key(peer)
        if self._contents is None:
            self._dropped.add(key)
            self._dirty = True
        elif self._contents.entries.pop(key, None) is not None:
            self._dirty = True

    async def next_sign_counter(self, peer: Address) -> int:
        """The SignCounter of our next signed write to ``peer`` (0 first), stored before it
        is used, so no counter goes out twice."""
        async with self._lock:
            counters = (await self._loaded()).sign_counters
            counter = counters.get(identity_key(peer), 0)
            if counter > MAX_SIGN_COUNTER:
                raise GattError(f"the signed writes to {peer} have used every SignCounter")
            counters.pop(identity_key(peer), None)
            counters[identity_key(peer)] = counter + 1
            while len(counters) > self.capacity:
                del counters[next(iter(counters))]
            self._dirty = True
        await self.flush()
        return counter

    async def flush(self) -> None:
        """Write the contents to storage if they changed since the last write."""
        async with self._lock:
            contents = await self._loaded()
            if self._dirty:
                await self._store(contents)
                self._dirty = False


class MemoryDiscoveryCache(DiscoveryCache):
    """Entries kept for as long as the stack runs."""


class JsonDiscoveryCache(DiscoveryCache):
    """Entries in one JSON file, rewritten whole (atomically) on every change."""

    def __init__(self, path: str | os.PathLike[str], capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(capacity)
        self.path = Path(path)

    async def _load(self) -> _Contents:
        try:
            text = await trio.to_thread.run_sync(_read_if_present, self.path)
        except OSError as error:
            logger.warning("GATT cache %s not read (%s): starting empty", self.path, error)
            return _Contents()
        if text is None:
            return _Contents()
        try:
            return _decode(text)
        except (ValueError, KeyError, TypeError, InvalidArgumentError) as error:
            logger.warning("GATT cache %s is damaged (%s): starting empty", self.path, error)
            return _Contents()

    async def _store(self, contents: _Contents) -> None:
        data = json.dumps(_encode(contents), indent=1).encode()
        try:
            await trio.to_thread.run_sync(_write_atomically, self.path, data)
        except OSError as error:  # the cache only saves time: keep going without it
            logger.warning("GATT cache %s not written: %s", self.path, error)


def cache_for_keystore(keystore: KeyStore | None) -> DiscoveryCache:
    """The discovery cache that lives with ``keystore``: a JSON file next to a
    :class:`JsonKeyStore`'s bond file, else in memory (a store of another kind says nothing
    of where to keep files)."""
    if isinstance(keystore, JsonKeyStore):
        path = keystore.path
        return JsonDiscoveryCache(path.with_name(f"{path.stem}-gatt-cache.json"))
    return MemoryDiscoveryCache()


# -- the file ---------------------------------------------------------------------------------


def _encode(contents: _Contents) -> dict[str, Any]:
    return {
        "format": _FORMAT,
        "version": _VERSION,
        "peers": [
            {
                "address": str(peer),
                "type": int(peer.type),
                "database_hash": entry.database_hash.hex(),
                "services": [_service_to_json(s) for s in entry.services],
            }
            for peer, entry in contents.entries.items()
        ],
        "sign_counters": [
            {"address": str(peer), "type": int(peer.type), "counter": counter}
            for peer, counter in contents.sign_counters.items()
        ],
    }


def _service_to_json(service: RemoteService) -> dict[str, Any]:
    return {
        "handle": service.handle,
        "end_handle": service.end_handle,
        "uuid": str(service.uuid),
        "primary": service.primary,
        "included": [_service_to_json(s) for s in service.included],
        "characteristics": [
            {
                "handle": c.handle,
                "value_handle": c.value_handle,
                "end_handle": c.end_handle,
                "uuid": str(c.uuid),
                "properties": int(c.properties),
                "descriptors": [[d.handle, str(d.uuid)] for d in c.descriptors],
            }
            for c in service.characteristics
        ],
    }


def _decode(text: bytes) -> _Contents:
    document = strict_json.loads(text)
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise ValueError("not a bluetrio GATT cache")
    if document.get("version") != _VERSION:
        raise ValueError(f"version {document.get('version')!r}, not {_VERSION}")
    contents = _Contents()
    for item in _list(document["peers"]):
        database_hash = bytes.fromhex(_text(item["database_hash"]))
        if len(database_hash) != DATABASE_HASH_LENGTH:
            raise ValueError(f"a Database Hash of {len(database_hash)} octets")
        services = tuple(_service_from_json(s, depth=0) for s in _list(item["services"]))
        contents.entries[_peer(item)] = CachedDatabase(database_hash, services)
    for item in _list(document["sign_counters"]):
        counter = _handle(item["counter"], 0, MAX_SIGN_COUNTER + 1)
        contents.sign_counters[_peer(item)] = counter
    return contents


def _peer(item: Any) -> Address:
    address_type = AddressType(_handle(item["type"], 0, max(AddressType)))
    return identity_key(Address.parse(_text(item["address"]), address_type))


def _service_from_json(item: Any, depth: int) -> RemoteService:
    if depth > 8:  # includes nest; a file cannot make the reader recurse without end
        raise ValueError("included services nested too deeply")
    primary = item["primary"]
    if primary not in (True, False, None):
        raise ValueError(f"primary is {primary!r}")
    return RemoteService(
        _handle(item["handle"]),
        _handle(item["end_handle"]),
        uuid_module.UUID(_text(item["uuid"])),
        primary,
        tuple(_service_from_json(s, depth + 1) for s in _list(item["included"])),
        tuple(
            RemoteCharacteristic(
                _handle(c["handle"]),
                _handle(c["value_handle"]),
                _handle(c["end_handle"]),
                uuid_module.UUID(_text(c["uuid"])),
                Properties(_handle(c["properties"], 0, 0xFF)),
                tuple(
                    RemoteDescriptor(_handle(h), uuid_module.UUID(_text(u)))
                    for h, u in _list(c["descriptors"])
                ),
            )
            for c in _list(item["characteristics"])
        ),
    )


def _handle(value: Any, low: int = 1, high: int = 0xFFFF) -> int:
    if type(value) is not int or not low <= value <= high:
        raise ValueError(f"{value!r} is not an integer in {low}..{high}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    return value


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{value!r} is not an array")
    return value
