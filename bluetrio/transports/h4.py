"""Sans-IO H4 framing: HCI packets on a byte stream (Core 5.4 Vol 4 Part A).

Every packet on a UART is one packet indicator byte followed by the HCI packet itself
(Core 5.4 Vol 4 Part A 2). The packet's own header says how long it is (Core 5.4 Vol 4
Part E 5.4), which is all a receiver has to find the next boundary.

H4 has no resynchronisation of its own: the specification leaves recovery from a lost
boundary to an HCI_Reset or an out-of-band reset (Core 5.4 Vol 4 Part A 3). So that a stray
byte cannot wedge the stack, the framer here skips bytes that are not an indicator it expects
and drops an indicator whose header announces a length beyond the configured bound, then
rescans from the next byte. Every skipped byte is counted in :attr:`H4Framer.discarded_bytes`.

On the host side the framer checks more before it trusts a length, with
:class:`ControllerExpectations`: an event's code must be defined and its length one the event
can have; ACL and SCO data must name a connection handle the controller announced (in a
connection-complete event earlier in the same stream, not yet disconnected) and stay within
the sizes the host learned at bring-up; ISO data is accepted only once the host enabled ISO.
A stray byte then costs the packet it corrupted and rarely more.
"""

from __future__ import annotations

import enum
import re

import attrs

from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.hci.bounds import (
    EVENT_RECORD_SIZES,
    event_length_bounds,
    le_event_length_bounds,
)
from bluetrio.messages.packets import PacketType
from bluetrio.transports.base import FramingLimits, Packet

# Default bounds for the two-byte length fields. Controllers report ACL buffers of at most
# 1021 bytes (a BR/EDR 3-DH5 payload) and LE buffers of 251; 4096 leaves room while still
# rejecting most random headers quickly.
DEFAULT_MAX_ACL_DATA_LENGTH = 4096
DEFAULT_MAX_ISO_DATA_LENGTH = 4096
# ISO_Data_Load_Length is 14 bits; the top two bits of the field are RFU
# (Core 5.4 Vol 4 Part E 5.4.5).
_ISO_LENGTH_MASK = 0x3FFF
_TWO_BYTE_LENGTH_LIMIT = 0xFFFF
# The largest data one over-the-air packet carries, which a controller forwards to the host
# as one ACL packet whatever its own buffer size: a 3-DH5 payload (Core 5.4 Vol 2 Part B
# 6.7) and an LE Data Physical Channel PDU payload (Vol 6 Part B 2.4).
BR_EDR_MAX_AIR_PAYLOAD = 1021
LE_MAX_AIR_PAYLOAD = 251


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


class HeaderVerdict(enum.Enum):
    ACCEPT = "accept"
    # A header whose length could be anything in a range (an event with variable
    # parameters): accepted unless a byte follows the packet that is no packet indicator.
    ACCEPT_IF_FOLLOWED = "accept if followed by an indicator"
    REJECT = "reject"  # not a packet header: the indicator was noise
    WAIT = "wait"  # one more byte is needed to decide


# Events that create and end connections, and where their fields are (Core 5.4 Vol 4 Part
# E 7.7); offsets count from the event code.
_CONNECTION_COMPLETE = 0x03  # Status 2, Connection_Handle 3-4, Link_Type 11
_DISCONNECTION_COMPLETE = 0x05  # Status 2, Connection_Handle 3-4
_SYNCHRONOUS_CONNECTION_COMPLETE = 0x2C  # Status 2, Connection_Handle 3-4
_COMMAND_COMPLETE = 0x0E  # Command_Opcode 3-4, Status 5 for HCI_Reset
_LE_META = 0x3E
# LE Connection Complete, LE Enhanced Connection Complete [v1], [v2]: Status 3, handle 4-5.
_LE_CONNECTION_SUBEVENTS = frozenset({0x01, 0x0A, 0x29})
_LINK_TYPE_SCO = 0x00
_LINK_TYPE_ACL = 0x01
_RESET_OPCODE = 0x0C03
_HANDLE_MASK = 0x0FFF
_BROADCAST_RESERVED = 0b11  # Broadcast_Flag 0b11 is reserved (Vol 4 Part E 5.4.2)


class _Link(enum.Enum):
    BR_EDR = "BR/EDR"
    LE = "LE"


class ControllerExpectations:
    """What a host knows of the packets a controller may send it, to check headers with.

    Connection handles are learned from the stream itself, in order, as the framer delivers
    connection-complete and disconnection-complete events: a handle the host's upper layers
    learn of later would reject the first data packet of a link when it arrives in the same
    read as its connection-complete event. Buffer sizes and ISO enablement come from the host
    (:meth:`configure`), which learns them from its own commands.
    """

    def __init__(self, default_acl_bound: int = DEFAULT_MAX_ACL_DATA_LENGTH) -> None:
        self.default_acl_bound = default_acl_bound
        self.limits = FramingLimits()
        self._acl: dict[int, _Link] = {}
        self._sco: set[int] = set()
        #: Headers refused because their indicator turned out to be noise.
        self.rejected_headers = 0

    def configure(self, limits: FramingLimits) -> None:
        self.limits = limits

    @property
    def acl_handles(self) -> frozenset[int]:
        return frozenset(self._acl)

    def accepts_type(self, packet_type: int) -> bool:
        return packet_type != PacketType.ISO or self.limits.iso_enabled

    def acl_bound(self, link: _Link) -> int:
        limits = self.limits
        learned = limits.le_acl_data_length if link is _Link.LE else limits.bredr_acl_data_length
        if link is _Link.LE and learned == 0:  # LE shares the BR/EDR buffers (7.8.2)
            learned = limits.bredr_acl_data_length
        if learned is None:
            bound = self.default_acl_bound
        else:
            floor = LE_MAX_AIR_PAYLOAD if link is _Link.LE else BR_EDR_MAX_AIR_PAYLOAD
            bound = max(learned, floor)
        # The controller's buffer sizes bound what the host sends it; what it sends the host
        # is bounded by what the host announced (Vol 4 Part E 7.3.39), which may be larger.
        return max(bound, limits.host_acl_data_length or 0)

    def verdict(
        self, packet_type: int, buffer: bytes | bytearray, header: int, length: int, end: int
    ) -> HeaderVerdict:
        """Judge the header at ``buffer[header:]`` announcing ``length`` bytes (``end``: how
        much of the buffer has arrived)."""
        if packet_type == PacketType.EVENT:
            return self._event_verdict(buffer, header, length, end)
        if packet_type == PacketType.ACL:
            flags_and_handle = buffer[header] | buffer[header + 1] << 8
            link = self._acl.get(flags_and_handle & _HANDLE_MASK)
            ok = (
                link is not None
                and flags_and_handle >> 14 != _BROADCAST_RESERVED
                and length <= self.acl_bound(link)
            )
        elif packet_type == PacketType.SCO:
            ok = (buffer[header] | buffer[header + 1] << 8) & _HANDLE_MASK in self._sco
        else:
            ok = True
        return HeaderVerdict.ACCEPT if ok else self._reject()

    def _reject(self) -> HeaderVerdict:
        self.rejected_headers += 1
        return HeaderVerdict.REJECT

    def _event_verdict(
        self, buffer: bytes | bytearray, header: int, length: int, end: int
    ) -> HeaderVerdict:
        code = buffer[header]
        bounds = event_length_bounds(code)
        if code == _LE_META and bounds is not None and length >= 1:
            subevent_at = header + 2
            if subevent_at >= end:
                return HeaderVerdict.WAIT
            bounds = le_event_length_bounds(buffer[subevent_at])
        if bounds is None or not bounds.shortest <= length <= bounds.longest:
            return self._reject()
        record_size = EVENT_RECORD_SIZES.get(code)
        if record_size is not None:
            # A count and that many records: one length per count. A stray 0x04 before an
            # ACL packet reads as HCI_Inquiry_Result (its 0x02 indicator as the event code),
            # so this check is what keeps such a byte from swallowing the packets after it.
            count_at = header + 2
            if length and count_at >= end:
                return HeaderVerdict.WAIT
            if not length or length != 1 + buffer[count_at] * record_size:
                return self._reject()
            return HeaderVerdict.ACCEPT
        # The length of the known parameters is trusted at once; any other length (variable
        # parameters, or parameters a later specification appended, Vol 4 Part E 5.4.4)
        # only when a packet indicator follows the packet.
        if length == bounds.known:
            return HeaderVerdict.ACCEPT
        return HeaderVerdict.ACCEPT_IF_FOLLOWED

    def observe(self, packet_type: PacketType, payload: bytes) -> None:
        """Learn from one delivered packet (connection handles come and go with events)."""
        if packet_type != PacketType.EVENT or len(payload) < 3:
            return
        code = payload[0]
        if code == _LE_META:
            if payload[2] in _LE_CONNECTION_SUBEVENTS and len(payload) >= 6 and payload[3] == 0:
                self._acl[_handle_at(payload, 4)] = _Link.LE
        elif code == _CONNECTION_COMPLETE and len(payload) >= 12 and payload[2] == 0:
            if payload[11] == _LINK_TYPE_ACL:
                self._acl[_handle_at(payload, 3)] = _Link.BR_EDR
            elif payload[11] == _LINK_TYPE_SCO:
                self._sco.add(_handle_at(payload, 3))
        elif code == _SYNCHRONOUS_CONNECTION_COMPLETE and len(payload) >= 5 and payload[2] == 0:
            self._sco.add(_handle_at(payload, 3))
        elif code == _DISCONNECTION_COMPLETE and len(payload) >= 5 and payload[2] == 0:
            handle = _handle_at(payload, 3)
            self._acl.pop(handle, None)
            self._sco.discard(handle)
        elif (
            code == _COMMAND_COMPLETE
            and len(payload) >= 6
            and _handle_at(payload, 3, mask=0xFFFF) == _RESET_OPCODE
            and payload[5] == 0
        ):
            # After HCI_Reset the controller has no connections (Vol 4 Part E 7.3.2).
            self._acl.clear()
            self._sco.clear()


def _handle_at(payload: bytes, offset: int, mask: int = _HANDLE_MASK) -> int:
    return (payload[offset] | payload[offset + 1] << 8) & mask


def _indicator_pattern(types: list[int]) -> re.Pattern[bytes]:
    return re.compile(b"[" + b"".join(re.escape(bytes((t,))) for t in sorted(types)) + b"]")


class H4Framer:
    """Splits an H4 byte stream into HCI packets; feed it whatever the stream delivered.

    Bytes of an incomplete packet stay buffered until the rest arrives. The buffer never holds
    more than one maximal packet plus one received chunk, because every header is checked
    against its bound before the framer waits for the body.

    A host-side framer checks headers against :attr:`expectations` (see the module
    docstring); ``validate=False`` frames by the length fields alone.
    """

    def __init__(
        self,
        role: H4Role = H4Role.HOST,
        *,
        max_acl_data_length: int = DEFAULT_MAX_ACL_DATA_LENGTH,
        max_iso_data_length: int = DEFAULT_MAX_ISO_DATA_LENGTH,
        validate: bool = True,
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
        #: The host-side header checks; None on a controller or with ``validate=False``.
        self.expectations: ControllerExpectations | None = (
            ControllerExpectations(max_acl_data_length)
            if validate and role is H4Role.HOST
            else None
        )
        # One regex scan (in C) finds the next plausible indicator after garbage.
        self._all_indicators = _indicator_pattern(list(self._layouts))
        self._indicators_but_iso = _indicator_pattern(
            [t for t in self._layouts if t != PacketType.ISO]
        )
        self._buffer = bytearray()
        #: Bytes skipped while looking for a packet boundary, since construction.
        self.discarded_bytes = 0

    @property
    def buffered_bytes(self) -> int:
        """Bytes held back waiting for the rest of a packet."""
        return len(self._buffer)

    def configure(self, limits: FramingLimits) -> None:
        """What the host learned at bring-up (ignored without expectations)."""
        if self.expectations is not None:
            self.expectations.configure(limits)

    def resync(self) -> list[Packet]:
        """The held bytes will get no more: the header they start with was noise. Skip its
        indicator and frame the rest again; return the packets found in it."""
        if not self._buffer:
            return []
        del self._buffer[0]
        self.discarded_bytes += 1
        if self.expectations is not None:
            self.expectations.rejected_headers += 1
        return self.feed(b"")

    def feed(self, data: bytes | bytearray | memoryview) -> list[Packet]:
        """Add received bytes; return every packet they complete, in order."""
        buffer = self._buffer
        buffer += data
        end_of_data = len(buffer)
        layouts = self._layouts
        expectations = self.expectations
        next_indicator = self._all_indicators
        if expectations is not None and not expectations.limits.iso_enabled:
            next_indicator = self._indicators_but_iso
        packets: list[Packet] = []
        position = 0
        while position < end_of_data:
            indicator = buffer[position]
            layout = layouts.get(indicator)
            if layout is None or (
                expectations is not None and not expectations.accepts_type(indicator)
            ):
                match = next_indicator.search(buffer, position + 1)
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
            if expectations is not None:
                verdict = expectations.verdict(indicator, buffer, position + 1, length, end_of_data)
                if verdict is HeaderVerdict.WAIT:
                    break
            else:
                verdict = HeaderVerdict.ACCEPT
            if verdict is HeaderVerdict.REJECT:
                self.discarded_bytes += 1
                position += 1
                continue
            packet_end = body_start + length
            if packet_end > end_of_data:
                break
            if verdict is HeaderVerdict.ACCEPT_IF_FOLLOWED:
                follows = _what_follows(next_indicator, buffer, packet_end, end_of_data)
                if follows is _Follows.UNKNOWN:
                    break
                if follows is _Follows.INDICATOR:
                    verdict = HeaderVerdict.ACCEPT
            if verdict is HeaderVerdict.ACCEPT_IF_FOLLOWED:
                assert expectations is not None
                expectations.rejected_headers += 1
                self.discarded_bytes += 1
                position += 1
                continue
            packet = (layout.packet_type, bytes(buffer[position + 1 : packet_end]))
            if expectations is not None:
                expectations.observe(*packet)
            packets.append(packet)
            position = packet_end
        del buffer[:position]
        return packets


class _Follows(enum.Enum):
    INDICATOR = "a packet indicator, possibly after one stray byte"
    NO_INDICATOR = "bytes that cannot start the next packet"
    UNKNOWN = "one byte that is no indicator, then nothing yet"


def _what_follows(
    indicator: re.Pattern[bytes], buffer: bytearray, packet_end: int, end_of_data: int
) -> _Follows:
    """What follows a packet whose length is not the known one: an indicator right after it,
    or after one stray byte (so that a stray byte costs the packet it precedes, not also the
    one before it), or nothing yet (the packet is the last one sent). One byte that is no
    indicator with nothing after it is not judged until more comes: taking the packet then
    would let a stray byte's false header swallow the packets after it up to one byte
    before the end of what arrived."""
    if packet_end >= end_of_data or indicator.match(buffer, packet_end):
        return _Follows.INDICATOR
    if packet_end + 1 >= end_of_data:
        return _Follows.UNKNOWN
    if indicator.match(buffer, packet_end + 1) is not None:
        return _Follows.INDICATOR
    return _Follows.NO_INDICATOR


_INDICATOR_BYTES = {packet_type: bytes((packet_type,)) for packet_type in PacketType}


def encode(packet_type: PacketType, payload: bytes | bytearray | memoryview) -> bytes:
    """The H4 bytes of one packet: its indicator followed by the HCI packet."""
    if packet_type not in _INDICATOR_BYTES:
        raise InvalidArgumentError(f"not an HCI packet type: {packet_type!r}")
    return _INDICATOR_BYTES[packet_type] + payload
