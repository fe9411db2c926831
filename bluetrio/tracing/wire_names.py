"""The spec's name of the HCI packet a traced message carries, e.g. ``HCI_Reset`` or
``HCI_Command_Complete (HCI_Reset)``, so that exported charts read like the sequence charts of
Core 5.4 Vol 4 Part E rather than like our class names."""

from __future__ import annotations

from bluetrio.messages.base import Message
from bluetrio.messages.hci.base import (
    COMMAND_CLASSES,
    EVENT_CLASSES,
    LE_EVENT_CLASSES,
    LE_META_EVENT_CODE,
)
from bluetrio.messages.hci_service import (
    AclDataInd,
    AclDataReq,
    HciCommandCnf,
    HciCommandReq,
    HciEventInd,
    TransportPacketInd,
)
from bluetrio.messages.packets import PacketType

# Where the opcode sits in the parameters of the two command-answering events (Vol 4 Part E
# 7.7.14 Command Complete: Num_HCI_Command_Packets, Command_Opcode; 7.7.15 Command Status:
# Status, Num_HCI_Command_Packets, Command_Opcode).
COMMAND_COMPLETE_CODE, COMMAND_STATUS_CODE = 0x0E, 0x0F
_OPCODE_OFFSET = {COMMAND_COMPLETE_CODE: 1, COMMAND_STATUS_CODE: 2}


def command_name(opcode: int) -> str:
    known = COMMAND_CLASSES.get(opcode)
    return known.NAME if known is not None else f"command 0x{opcode:04X}"


def event_name(code: int, parameters: bytes) -> str:
    """The name of event ``code`` from its raw parameters; the command it answers for Command
    Complete/Status, the subevent for LE Meta."""
    if code == LE_META_EVENT_CODE and parameters:
        subevent = LE_EVENT_CLASSES.get(parameters[0])
        return subevent.NAME if subevent is not None else f"LE subevent 0x{parameters[0]:02X}"
    known = EVENT_CLASSES.get(code)
    name = known.NAME if known is not None else f"event 0x{code:02X}"
    offset = _OPCODE_OFFSET.get(code)
    if offset is not None and len(parameters) >= offset + 2:
        opcode = int.from_bytes(parameters[offset : offset + 2], "little")
        name = f"{name} ({command_name(opcode)})"
    return name


def wire_name_of(message: Message) -> str | None:
    """The spec's name of what ``message`` carries, None when it carries no HCI packet."""
    match message:
        case HciCommandReq(command=command):
            return command.NAME
        case HciCommandCnf(opcode=opcode, event=event):
            if event is None:
                return f"no answer to {command_name(opcode)}"
            return f"{event.NAME} ({command_name(opcode)})"
        case HciEventInd(event=event):
            return event.NAME
        case TransportPacketInd(packet_type=PacketType.EVENT, payload=payload) if payload:
            return event_name(payload[0], payload[2:])
        case TransportPacketInd(packet_type=packet_type):
            return f"HCI {packet_type.name} packet"
        case AclDataReq() | AclDataInd():
            return "HCI ACL data"
    return None
