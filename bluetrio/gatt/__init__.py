"""GATT, the Generic Attribute Profile (Core 5.4 Vol 3 Part G): the public async package.

What an application declares to serve (services, characteristics, descriptors, their
permissions and callbacks) is defined in :mod:`bluetrio.messages.gatt_declarations` and
re-exported here, as is the client (``link.gatt``, :class:`GattClient`) and what it finds
(:mod:`bluetrio.gatt.remote`).
"""

from bluetrio.errors import GattApplicationError
from bluetrio.gatt.client import GattClient
from bluetrio.gatt.remote import RemoteCharacteristic, RemoteDescriptor, RemoteService
from bluetrio.messages.gatt_declarations import (
    AccessSecurity,
    AuthorizeCallback,
    Characteristic,
    CharacteristicHandles,
    Descriptor,
    ExtendedProperties,
    Permissions,
    PresentationFormat,
    Properties,
    ReadCallback,
    ReadContext,
    Service,
    ServiceHandles,
    WriteCallback,
    WriteContext,
)

__all__ = [
    "AccessSecurity",
    "AuthorizeCallback",
    "Characteristic",
    "CharacteristicHandles",
    "Descriptor",
    "ExtendedProperties",
    "GattApplicationError",
    "GattClient",
    "Permissions",
    "PresentationFormat",
    "Properties",
    "ReadCallback",
    "ReadContext",
    "RemoteCharacteristic",
    "RemoteDescriptor",
    "RemoteService",
    "Service",
    "ServiceHandles",
    "WriteCallback",
    "WriteContext",
]
