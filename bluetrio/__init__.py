"""bluetrio: a Bluetooth host stack (BR/EDR and LE) for Trio, with its own virtual controller."""

from bluetrio.address import Address, AddressType
from bluetrio.errors import (
    BluetrioError,
    ConnectionClosedError,
    ControllerError,
    DecodeError,
    HciError,
    HciTimeout,
    InvalidArgumentError,
    StackError,
    TransportError,
    TransportSpecError,
)
from bluetrio.stack import Stack, StackConfig, open_stack

__version__ = "0.1.0"

__all__ = [
    "Address",
    "AddressType",
    "BluetrioError",
    "ConnectionClosedError",
    "ControllerError",
    "DecodeError",
    "HciError",
    "HciTimeout",
    "InvalidArgumentError",
    "Stack",
    "StackConfig",
    "StackError",
    "TransportError",
    "TransportSpecError",
    "open_stack",
]
