"""The HCI codec: typed commands, events and data packets (Core 5.4 Vol 4 Part E).

This module is the public face of the codec, shared by the host stack and the virtual
controller. The packet classes live in the ``hci_*`` modules next to it (one job each: field
machinery, base classes and registries, commands, events, data packets, status codes, feature
names) and are all re-exported here; this module adds the parsers that dispatch on the packet
header (5.4.1-5.4.5).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from bluetrio.errors import DecodeError
from bluetrio.messages.fields import *  # noqa: F403

# Star imports re-export every public packet class without listing each one a second time.
from bluetrio.messages.hci.base import *  # noqa: F403
from bluetrio.messages.hci.base import (
    COMMAND_CLASSES,
    EVENT_CLASSES,
    LE_EVENT_CLASSES,
    LE_META_EVENT_CODE,
    HciCommand,
    HciEvent,
    LeMetaEvent,
    UnknownCommand,
    UnknownEvent,
    UnknownLeMetaEvent,
)
from bluetrio.messages.hci.commands import *  # noqa: F403
from bluetrio.messages.hci.data import *  # noqa: F403
from bluetrio.messages.hci.data import AclPacket, IsoPacket, ScoPacket
from bluetrio.messages.hci.events import *  # noqa: F403
from bluetrio.messages.hci.features import *  # noqa: F403
from bluetrio.messages.hci.status import *  # noqa: F403
from bluetrio.messages.packets import PacketType

HciPacket = HciCommand | HciEvent | AclPacket | ScoPacket | IsoPacket

_COMMAND_HEADER = struct.Struct("<HB")


def command_class(opcode: int) -> type[HciCommand] | None:
    """The class registered for ``opcode``, or None."""
    return COMMAND_CLASSES.get(opcode)


def event_class(code: int, subevent: int | None = None) -> type[HciEvent] | None:
    """The class for an event code (and, for LE Meta events, a subevent code), or None."""
    if code == LE_META_EVENT_CODE:
        if subevent is None:
            return LeMetaEvent
        return LE_EVENT_CLASSES.get(subevent)
    return EVENT_CLASSES.get(code)


def parse_command(data: bytes) -> HciCommand:
    """Decode a command packet (opcode, length, parameters; no H4 indicator)."""
    if len(data) < 3:
        raise DecodeError(f"HCI command: {len(data)} byte(s) is shorter than the 3-byte header")
    opcode, length = _COMMAND_HEADER.unpack_from(data)
    parameters = data[3:]
    if len(parameters) != length:
        raise DecodeError(
            f"HCI command 0x{opcode:04X}: header says {length} parameter byte(s), "
            f"packet carries {len(parameters)}"
        )
    cls = COMMAND_CLASSES.get(opcode)
    if cls is None:
        return UnknownCommand(opcode, parameters)
    return cls.from_parameters(parameters)


def parse_event(data: bytes) -> HciEvent:
    """Decode an event packet (code, length, parameters; no H4 indicator)."""
    if len(data) < 2:
        raise DecodeError(f"HCI event: {len(data)} byte(s) is shorter than the 2-byte header")
    code, length = data[0], data[1]
    parameters = data[2:]
    if len(parameters) != length:
        raise DecodeError(
            f"HCI event 0x{code:02X}: header says {length} parameter byte(s), "
            f"packet carries {len(parameters)}"
        )
    if code == LE_META_EVENT_CODE:
        if not parameters:
            raise DecodeError("HCI LE Meta event: no subevent code")
        le_class = LE_EVENT_CLASSES.get(parameters[0])
        if le_class is None:
            return UnknownLeMetaEvent(parameters[0], parameters[1:])
        return le_class.from_parameters(parameters)
    cls = EVENT_CLASSES.get(code)
    if cls is None:
        return UnknownEvent(code, parameters)
    return cls.from_parameters(parameters)


def parse_acl(data: bytes) -> AclPacket:
    return AclPacket.from_bytes(data)


def parse_sco(data: bytes) -> ScoPacket:
    return ScoPacket.from_bytes(data)


def parse_iso(data: bytes) -> IsoPacket:
    return IsoPacket.from_bytes(data)


_PARSERS: dict[PacketType, Callable[[bytes], HciPacket]] = {
    PacketType.COMMAND: parse_command,
    PacketType.EVENT: parse_event,
    PacketType.ACL: parse_acl,
    PacketType.SCO: parse_sco,
    PacketType.ISO: parse_iso,
}


def parse_packet(packet_type: PacketType, data: bytes) -> HciPacket:
    """Decode any HCI packet given its type (the H4 indicator, already removed)."""
    parser = _PARSERS.get(packet_type)
    if parser is None:
        raise DecodeError(f"unknown HCI packet type {packet_type!r}")
    return parser(data)
