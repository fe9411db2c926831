"""GATT, the Generic Attribute Profile (Core 5.4 Vol 3 Part G): the public async package.

What an application declares to serve (services, characteristics, descriptors, their
permissions and callbacks) is defined in :mod:`bluetrio.messages.gatt_declarations` and
re-exported here.
"""

from bluetrio.errors import GattApplicationError
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
    "Permissions",
    "PresentationFormat",
    "Properties",
    "ReadCallback",
    "ReadContext",
    "Service",
    "ServiceHandles",
    "WriteCallback",
    "WriteContext",
]
