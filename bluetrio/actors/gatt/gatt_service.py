"""The GATT service (0x1801, Core 5.4 Vol 3 Part G 7): what a server says about itself.

- Service Changed (0x2A05, 7.1): indicate only, never read or written; its CCCD per client.
  The value of an indication is the range of handles that changed (start, end).
- Client Supported Features (0x2B29, 7.2): read and written by each client, its own value
  (:class:`~bluetrio.actors.gatt.client_state.ClientStates` keeps it, bits only ever set).
- Database Hash (0x2B2A, 7.3): read only, the hash of the database as it is now.
- Server Supported Features (0x2B3A, 7.4): read only; bit 0 when the server takes Enhanced
  ATT bearers.

The service is the first in the database, so its handles never move: a bonded client keeps
the handle of Service Changed across connections (7.1). Its values are the server's own, so
the database asks this service for them (:meth:`GattService.read`, :meth:`GattService.write`)
rather than keeping them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from bluetrio.actors.gatt.client_state import ClientStates, IndicateServiceChanged, StateOutput
from bluetrio.actors.gatt.database_hash import (
    DATABASE_HASH_UUID,
    HashedAttribute,
    database_hash,
)
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.att import HandleValueIndication
from bluetrio.messages.gatt_declarations import (
    Characteristic,
    Permissions,
    Properties,
    Service,
    ServiceHandles,
)
from bluetrio.messages.uuids import uuid16

__all__ = [
    "CLIENT_SUPPORTED_FEATURES_UUID",
    "GATT_SERVICE_UUID",
    "SERVER_SUPPORTED_FEATURES_UUID",
    "SERVICE_CHANGED_UUID",
    "GattService",
    "ServerFeature",
    "gatt_service_declaration",
]

GATT_SERVICE_UUID = uuid16(0x1801)
SERVICE_CHANGED_UUID = uuid16(0x2A05)
CLIENT_SUPPORTED_FEATURES_UUID = uuid16(0x2B29)
SERVER_SUPPORTED_FEATURES_UUID = uuid16(0x2B3A)

_NOT_ACCESSIBLE = Permissions(readable=False, writable=False)


class ServerFeature(enum.IntFlag):
    """Server Supported Features (Vol 3 Part G 7.4, table 7.11)."""

    ENHANCED_ATT_BEARER = 0x01


def gatt_service_declaration(eatt: bool) -> Service:
    """The service as the database holds it; the values of its characteristics but Server
    Supported Features are served by :class:`GattService`."""
    features = ServerFeature.ENHANCED_ATT_BEARER if eatt else ServerFeature(0)
    return Service(
        GATT_SERVICE_UUID,
        (
            Characteristic(SERVICE_CHANGED_UUID, Properties.INDICATE, permissions=_NOT_ACCESSIBLE),
            Characteristic(CLIENT_SUPPORTED_FEATURES_UUID, Properties.READ | Properties.WRITE),
            Characteristic(DATABASE_HASH_UUID, Properties.READ),
            Characteristic(SERVER_SUPPORTED_FEATURES_UUID, Properties.READ, bytes([features])),
        ),
    )


class GattService:
    """The GATT service's values, for the server that placed it (:meth:`placed`)."""

    def __init__(self, clients: ClientStates, *, eatt: bool = False) -> None:
        self.clients = clients
        self.declaration = gatt_service_declaration(eatt)
        self.handles: ServiceHandles | None = None
        self.hash = bytes(16)

    def placed(self, handles: ServiceHandles, attributes: Iterable[HashedAttribute]) -> None:
        """The server put the service at ``handles``; ``attributes`` is the whole database."""
        if len(handles.characteristics) != len(self.declaration.characteristics):
            raise InvalidArgumentError("the GATT service was placed without its characteristics")
        self.handles = handles
        self.clients.service_changed_cccd = handles.characteristics[0].cccd
        self.hash = database_hash(attributes)
        self.clients.database_hash = self.hash

    @property
    def service_changed_value(self) -> int:
        return self._placed.characteristics[0].value

    @property
    def client_features_value(self) -> int:
        return self._placed.characteristics[1].value

    @property
    def hash_value(self) -> int:
        return self._placed.characteristics[2].value

    @property
    def _placed(self) -> ServiceHandles:
        if self.handles is None:
            raise InvalidArgumentError("the GATT service is not in the database yet")
        return self.handles

    def serves(self, attribute_handle: int) -> bool:
        """Whether the value of ``attribute_handle`` is this service's to give."""
        return self.handles is not None and attribute_handle in (
            self.client_features_value,
            self.hash_value,
        )

    def read(self, handle: int, attribute_handle: int) -> bytes:
        """The value of a served attribute for the client of link ``handle``."""
        if attribute_handle == self.hash_value:
            return self.hash
        if attribute_handle == self.client_features_value:
            return bytes([self.clients.client_features(handle)])
        raise InvalidArgumentError(f"0x{attribute_handle:04X} is not served by the GATT service")

    def write(self, handle: int, attribute_handle: int, value: bytes) -> list[StateOutput]:
        """The client of link ``handle`` wrote a served attribute (the server checked the
        write's permissions): Client Supported Features; raises
        :class:`~bluetrio.actors.gatt.client_state.FeatureWriteRefused` for a write that would
        clear a bit (answered Value Not Allowed, 0x13)."""
        if attribute_handle != self.client_features_value:
            raise InvalidArgumentError(f"0x{attribute_handle:04X} is not written here")
        return self.clients.write_client_features(handle, value)

    def database_changed(
        self, start: int, end: int, attributes: Iterable[HashedAttribute]
    ) -> list[StateOutput]:
        """Handles ``start``..``end`` changed; ``attributes`` is the database now."""
        self.hash = database_hash(attributes)
        return self.clients.on_database_changed(start, end, self.hash)

    def indication(self, output: IndicateServiceChanged) -> HandleValueIndication:
        """The Service Changed indication that tells a client of ``output``'s range (7.1)."""
        value = output.start.to_bytes(2, "little") + output.end.to_bytes(2, "little")
        return HandleValueIndication(self.service_changed_value, value)
