"""What a GATT client learns of a peer's database: its services, characteristics and
descriptors, as discovery finds them (Core 5.4 Vol 3 Part G 4.4-4.7).

Each is a frozen value naming the handles the server gave it. Discovery of one level finds
the objects of that level only (a service's ``characteristics`` stay empty until they are
discovered); :meth:`bluetrio.gatt.GattClient.discover_all` returns the whole tree filled in.
"""

from __future__ import annotations

import uuid as uuid_module
from collections.abc import Iterator

import attrs

from bluetrio.messages.gatt_declarations import CCCD_UUID, Properties
from bluetrio.messages.uuids import uuid16

__all__ = [
    "DATABASE_HASH_UUID",
    "SERVICE_CHANGED_UUID",
    "RemoteCharacteristic",
    "RemoteDescriptor",
    "RemoteService",
    "walk_characteristics",
]

# Characteristics of the GATT service a client looks for (Vol 3 Part G 7.1, 7.3).
SERVICE_CHANGED_UUID = uuid16(0x2A05)  # 7.1
DATABASE_HASH_UUID = uuid16(0x2B2A)  # 7.3


@attrs.frozen
class RemoteDescriptor:
    """A characteristic descriptor: its handle and type (4.7.1)."""

    handle: int
    uuid: uuid_module.UUID


@attrs.frozen
class RemoteCharacteristic:
    """A characteristic (3.3): its declaration's ``handle``, the ``value_handle``, the last
    handle that belongs to it (``end_handle``: where its descriptors end), its ``uuid``, the
    ``properties`` of its declaration, and its descriptors once discovered."""

    handle: int
    value_handle: int
    end_handle: int
    uuid: uuid_module.UUID
    properties: Properties
    descriptors: tuple[RemoteDescriptor, ...] = ()

    def descriptor(self, uuid: uuid_module.UUID) -> RemoteDescriptor | None:
        """The first descriptor of type ``uuid`` among those discovered, or None."""
        return next((d for d in self.descriptors if d.uuid == uuid), None)

    @property
    def cccd(self) -> RemoteDescriptor | None:
        """The Client Characteristic Configuration descriptor, once discovered."""
        return self.descriptor(CCCD_UUID)


@attrs.frozen
class RemoteService:
    """A service (3.1): the range ``handle``..``end_handle`` it spans and its ``uuid``;
    ``primary`` is None for a service known only as included by another (3.2), which does
    not say whether it is primary. Its included services and characteristics, once found."""

    handle: int
    end_handle: int
    uuid: uuid_module.UUID
    primary: bool | None = True
    included: tuple[RemoteService, ...] = ()
    characteristics: tuple[RemoteCharacteristic, ...] = ()

    def characteristic(self, uuid: uuid_module.UUID) -> RemoteCharacteristic | None:
        """The first characteristic of type ``uuid`` among those discovered, or None."""
        return next((c for c in self.characteristics if c.uuid == uuid), None)


def walk_characteristics(services: tuple[RemoteService, ...]) -> Iterator[RemoteCharacteristic]:
    """Every characteristic of ``services``, in handle order."""
    for service in services:
        yield from service.characteristics
