"""Event codes, event masks and the few event layouts every controller feature shares."""

from __future__ import annotations

import enum
import struct

import attrs


class EventCode(enum.IntEnum):
    """HCI event codes (Core 5.4 Vol 4 Part E 7.7)."""

    INQUIRY_COMPLETE = 0x01
    CONNECTION_COMPLETE = 0x03
    DISCONNECTION_COMPLETE = 0x05
    ENCRYPTION_CHANGE = 0x08
    READ_REMOTE_VERSION_INFORMATION_COMPLETE = 0x0C
    COMMAND_COMPLETE = 0x0E
    COMMAND_STATUS = 0x0F
    HARDWARE_ERROR = 0x10
    NUMBER_OF_COMPLETED_PACKETS = 0x13
    DATA_BUFFER_OVERFLOW = 0x1A
    ENCRYPTION_KEY_REFRESH_COMPLETE = 0x30
    LE_META = 0x3E


class LeSubevent(enum.IntEnum):
    """LE Meta subevent codes (Vol 4 Part E 7.7.65)."""

    CONNECTION_COMPLETE = 0x01
    ADVERTISING_REPORT = 0x02
    CONNECTION_UPDATE_COMPLETE = 0x03
    READ_REMOTE_FEATURES_COMPLETE = 0x04
    LONG_TERM_KEY_REQUEST = 0x05
    REMOTE_CONNECTION_PARAMETER_REQUEST = 0x06
    DATA_LENGTH_CHANGE = 0x07
    ENHANCED_CONNECTION_COMPLETE = 0x0A
    PHY_UPDATE_COMPLETE = 0x0C
    EXTENDED_ADVERTISING_REPORT = 0x0D
    SCAN_TIMEOUT = 0x11
    ADVERTISING_SET_TERMINATED = 0x12
    SCAN_REQUEST_RECEIVED = 0x13
    CHANNEL_SELECTION_ALGORITHM = 0x14


# Defaults after power-on and HCI_Reset (Vol 4 Part E 7.3.1, 7.3.69, 7.8.1).
DEFAULT_EVENT_MASK = 0x0000_1FFF_FFFF_FFFF
DEFAULT_EVENT_MASK_PAGE_2 = 0
DEFAULT_LE_EVENT_MASK = 0x1F

# Events no mask can suppress: they carry flow control (Vol 4 Part E 7.3.1 marks their bits
# reserved).
_UNMASKABLE = frozenset(
    {EventCode.COMMAND_COMPLETE, EventCode.COMMAND_STATUS, EventCode.NUMBER_OF_COMPLETED_PACKETS}
)
# Page 1 covers event codes 0x01..0x3E at bit code-1; page 2 covers 0x40..0x59 at bit code-0x40.
_PAGE_1_CODES = range(0x01, 0x3F)
_PAGE_2_CODES = range(0x40, 0x5A)


@attrs.define
class EventMasks:
    """The three masks a host sets; :meth:`allows` decides whether an event reaches it."""

    page_1: int = DEFAULT_EVENT_MASK
    page_2: int = DEFAULT_EVENT_MASK_PAGE_2
    le: int = DEFAULT_LE_EVENT_MASK

    def allows(self, code: int, subevent: int | None = None) -> bool:
        if code in _UNMASKABLE:
            return True
        if code in _PAGE_1_CODES:
            if not (self.page_1 >> (code - 1)) & 1:
                return False
        elif code in _PAGE_2_CODES and not (self.page_2 >> (code - 0x40)) & 1:
            return False
        if code == EventCode.LE_META and subevent is not None:
            return bool((self.le >> (subevent - 1)) & 1)
        return True

    def allows_packet(self, packet: bytes) -> bool:
        subevent = packet[2] if packet[0] == EventCode.LE_META and len(packet) > 2 else None
        return self.allows(packet[0], subevent)


def event_packet(code: int, parameters: bytes) -> bytes:
    """An event packet without the H4 indicator (Vol 4 Part E 5.4.4)."""
    return bytes((code, len(parameters))) + parameters


def le_event(subevent: LeSubevent, parameters: bytes) -> bytes:
    return event_packet(EventCode.LE_META, bytes((subevent,)) + parameters)


def command_complete(num_packets: int, opcode: int, return_parameters: bytes) -> bytes:
    """Vol 4 Part E 7.7.14."""
    return event_packet(
        EventCode.COMMAND_COMPLETE, struct.pack("<BH", num_packets, opcode) + return_parameters
    )


def command_status(status: int, num_packets: int, opcode: int) -> bytes:
    """Vol 4 Part E 7.7.15."""
    return event_packet(EventCode.COMMAND_STATUS, struct.pack("<BBH", status, num_packets, opcode))


def disconnection_complete(handle: int, reason: int, status: int = 0) -> bytes:
    """Vol 4 Part E 7.7.5."""
    return event_packet(
        EventCode.DISCONNECTION_COMPLETE, struct.pack("<BHB", status, handle, reason)
    )


def number_of_completed_packets(counts: dict[int, int]) -> bytes:
    """Vol 4 Part E 7.7.19."""
    body = b"".join(struct.pack("<HH", handle, count) for handle, count in counts.items())
    return event_packet(EventCode.NUMBER_OF_COMPLETED_PACKETS, bytes((len(counts),)) + body)


def encryption_change(status: int, handle: int, enabled: int) -> bytes:
    """Vol 4 Part E 7.7.8 (version 1: enough for every LE and BR/EDR host here)."""
    return event_packet(EventCode.ENCRYPTION_CHANGE, struct.pack("<BHB", status, handle, enabled))
