"""Sans-IO H4 framing: HCI packets on a byte stream (Core 5.4 Vol 4 Part A).

Every packet on a UART is one packet indicator byte followed by the HCI packet itself
(Core 5.4 Vol 4 Part A 2). The packet's own header says how long it is (Core 5.4 Vol 4
Part E 5.4), which is all a receiver has to find the next boundary.

H4 has no resynchronisation of its own: the specification leaves recovery from a lost
boundary to an HCI_Reset or an out-of-band reset (Core 5.4 Vol 4 Part A 3). So that a stray
byte cannot wedge the stack, the framer here skips bytes that are not an indicator it expects
and drops an indicator whose header announces a length beyond the configured bound, then
rescans from the next byte. Every skipped byte is counted in :attr:`H4Framer.discarded_bytes`.
"""

from __future__ import annotations

import enum
import re

import attrs

from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.packets import PacketType
from bluetrio.transports.base import Packet

# Default bounds for the two-byte length fields. Controllers report ACL buffers of at most
# 1021 bytes (a BR/EDR 3-DH5 payload) and LE buffers of 251; 4096 leaves room while still
# rejecting most random headers quickly.
DEFAULT_MAX_ACL_DATA_LENGTH = 4096
DEFAULT_MAX_ISO_DATA_LENGTH = 4096
# ISO_Data_Load_Length is 14 bits; the top two bits of the field are RFU
# (Core 5.4 Vol 4 Part E 5.4.5).
_ISO_LENGTH_MASK = 0x3FFF
_TWO_BYTE_LENGTH_LIMIT = 0xFFFF


class H4Role(enum.Enum):
    """Which end of the link a framer sits on; it decides which packets it parses."""

    #: A host parses what a controller sends: events, ACL, SCO and ISO data.
    HOST = "host"
    #: A controller parses what a host sends: commands, ACL, SCO and ISO data.
    CONTROLLER = "controller"


@attrs.frozen
class PacketLayout:
    """Where an HCI packet's header keeps its length (Core 5.4 Vol 4 Part E 5.4)."""

    packet_type: PacketType
    header_length: int
    length_offset: int
    length_size: int
    length_mask: int
    max_length: int

    def length_from(self, header: bytes | bytearray, start: int = 0) -> int:
        """The parameter/data length announced by the header found at ``header[start:]``."""
        offset = start + self.length_offset
        if self.length_size == 1:
            return header[offset]
        return int.from_bytes(header[offset : offset + 2], "little") & self.length_mask


def packet_layouts(
    *,
    max_acl_data_length: int = DEFAULT_MAX_ACL_DATA_LENGTH,
    max_iso_data_length: int = DEFAULT_MAX_ISO_DATA_LENGTH,
) -> dict[PacketType, PacketLayout]:
    """Header layouts of the five HCI packet kinds, with the given bounds on long payloads."""
    _check_bound("max_acl_data_length", max_acl_data_length, _TWO_BYTE_LENGTH_LIMIT)
    _check_bound("max_iso_data_length", max_iso_data_length, _ISO_LENGTH_MASK)
    return {
        # Opcode (2), Parameter_Total_Length (1): Core 5.4 Vol 4 Part E 5.4.1.
        PacketType.COMMAND: PacketLayout(PacketType.COMMAND, 3, 2, 1, 0xFF, 0xFF),
        # Handle and flags (2), Data_Total_Length (2): Core 5.4 Vol 4 Part E 5.4.2.
        PacketType.ACL: PacketLayout(PacketType.ACL, 4, 2, 2, 0xFFFF, max_acl_data_length),
        # Handle and flags (2), Data_Total_Length (1): Core 5.4 Vol 4 Part E 5.4.3.
        PacketType.SCO: PacketLayout(PacketType.SCO, 3, 2, 1, 0xFF, 0xFF),
        # Event_Code (1), Parameter_Total_Length (1): Core 5.4 Vol 4 Part E 5.4.4.
        PacketType.EVENT: PacketLayout(PacketType.EVENT, 2, 1, 1, 0xFF, 0xFF),
        # Handle and flags (2), ISO_Data_Load_Length (14 bits): Core 5.4 Vol 4 Part E 5.4.5.
        PacketType.ISO: PacketLayout(
            PacketType.ISO, 4, 2, 2, _ISO_LENGTH_MASK, max_iso_data_length
        ),
    }


def _check_bound(name: str, value: int, limit: int) -> None:
    if not isinstance(value, int) or not 0 <= value <= limit:
        raise InvalidArgumentError(f"{name} must be an integer from 0 to {limit}, got {value!r}")


_PARSED_TYPES = {
    H4Role.HOST: (PacketType.EVENT, PacketType.ACL, PacketType.SCO, PacketType.ISO),
    H4Role.CONTROLLER: (PacketType.COMMAND, PacketType.ACL, PacketType.SCO, PacketType.ISO),
}


class H4Framer:
    """Splits an H4 byte stream into HCI packets; feed it whatever the stream delivered.

    Bytes of an incomplete packet stay buffered until the rest arrives. The buffer never holds
    more than one maximal packet plus one received chunk, because every header is checked
    against its bound before the framer waits for the body.
    """

    def __init__(
        self,
        role: H4Role = H4Role.HOST,
        *,
        max_acl_data_length: int = DEFAULT_MAX_ACL_DATA_LENGTH,
        max_iso_data_length: int = DEFAULT_MAX_ISO_DATA_LENGTH,
    ) -> None:
        if not isinstance(role, H4Role):
            raise InvalidArgumentError(f"role must be an H4Role, got {role!r}")
        layouts = packet_layouts(
            max_acl_data_length=max_acl_data_length, max_iso_data_length=max_iso_data_length
        )
        self.role = role
        self._layouts: dict[int, PacketLayout] = {
            int(packet_type): layouts[packet_type] for packet_type in _PARSED_TYPES[role]
        }
        # One regex scan (in C) finds the next plausible indicator after garbage.
        self._next_indicator = re.compile(
            b"[" + b"".join(re.escape(bytes((t,))) for t in sorted(self._layouts)) + b"]"
        )
        self._buffer = bytearray()
        #: Bytes skipped while looking for a packet boundary, since construction.
        self.discarded_bytes = 0

    @property
    def buffered_bytes(self) -> int:
        """Bytes held back waiting for the rest of a packet."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Packet]:
        """Add received bytes; return every packet they complete, in order."""
        buffer = self._buffer
        buffer += data
        end_of_data = len(buffer)
        layouts = self._layouts
        packets: list[Packet] = []
        position = 0
        while position < end_of_data:
            layout = layouts.get(buffer[position])
            if layout is None:
                match = self._next_indicator.search(buffer, position + 1)
                resume = match.start() if match is not None else end_of_data
                self.discarded_bytes += resume - position
                position = resume
                continue
            body_start = position + 1 + layout.header_length
            if body_start > end_of_data:
                break
            length = layout.length_from(buffer, position + 1)
            if length > layout.max_length:
                # An impossible header: this indicator byte was noise, rescan after it.
                self.discarded_bytes += 1
                position += 1
                continue
            packet_end = body_start + length
            if packet_end > end_of_data:
                break
            packets.append((layout.packet_type, bytes(buffer[position + 1 : packet_end])))
            position = packet_end
        del buffer[:position]
        return packets


_INDICATOR_BYTES = {packet_type: bytes((packet_type,)) for packet_type in PacketType}


def encode(packet_type: PacketType, payload: bytes | bytearray | memoryview) -> bytes:
    """The H4 bytes of one packet: its indicator followed by the HCI packet."""
    if packet_type not in _INDICATOR_BYTES:
        raise InvalidArgumentError(f"not an HCI packet type: {packet_type!r}")
    return _INDICATOR_BYTES[packet_type] + payload
