"""Predicates and replacements for HCI packets, to write :class:`~bluetrio.FaultPolicy`
packet rules with (``drop_packet``, ``duplicate_packet``, ``replace_packet``)::

    faults.drop_packet(command_complete_for(hci.ReadBdAddr.OPCODE), direction="to_host")
    faults.replace_packet(
        command_complete_for(hci.LeCreateConnectionCancel.OPCODE),
        with_completion_status(0x0C),
        direction="to_host",
    )

Packets are ``(PacketType, payload)`` pairs, the payload without the H4 indicator.
"""

from __future__ import annotations

from collections.abc import Callable

from bluetrio.messages.packets import PacketType
from bluetrio.transports.base import Packet

PacketPredicate = Callable[[Packet], bool]
PacketReplacement = Callable[[Packet], Packet]

COMMAND_COMPLETE = 0x0E  # Core 5.4 Vol 4 Part E 7.7.14
COMMAND_STATUS = 0x0F  # 7.7.15
LE_META = 0x3E  # 7.7.65


def _opcode_match(code: int, opcode_at: int, opcode: int) -> PacketPredicate:
    """Events with ``code`` whose Command_Opcode, at ``opcode_at``, is ``opcode``."""

    def matches(packet: Packet) -> bool:
        packet_type, payload = packet
        return (
            packet_type == PacketType.EVENT
            and len(payload) >= opcode_at + 2
            and payload[0] == code
            and int.from_bytes(payload[opcode_at : opcode_at + 2], "little") == opcode
        )

    return matches


def command_complete_for(opcode: int) -> PacketPredicate:
    """Matches the Command Complete event answering ``opcode``."""
    return _opcode_match(COMMAND_COMPLETE, 3, opcode)


def command_status_for(opcode: int) -> PacketPredicate:
    """Matches the Command Status event answering ``opcode``."""
    return _opcode_match(COMMAND_STATUS, 4, opcode)


def event_with_code(code: int, subevent: int | None = None) -> PacketPredicate:
    """Matches events with this event code (and, for LE Meta events, this subevent)."""

    def matches(packet: Packet) -> bool:
        packet_type, payload = packet
        if packet_type != PacketType.EVENT or not payload or payload[0] != code:
            return False
        return subevent is None or (len(payload) > 2 and payload[2] == subevent)

    return matches


def with_completion_status(status: int) -> PacketReplacement:
    """Rewrites a Command Complete's first return parameter (the status)."""

    def replace(packet: Packet) -> Packet:
        packet_type, payload = packet
        return packet_type, payload[:5] + bytes((status,)) + payload[6:]

    return replace


def with_command_credits(credits: int) -> PacketReplacement:
    """Rewrites the Num_HCI_Command_Packets of a Command Complete or Command Status."""

    def replace(packet: Packet) -> Packet:
        packet_type, payload = packet
        at = 2 if payload[0] == COMMAND_COMPLETE else 3
        return packet_type, payload[:at] + bytes((credits,)) + payload[at + 1 :]

    return replace
