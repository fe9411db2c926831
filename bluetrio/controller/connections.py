"""Connections (LE and BR/EDR alike), the ACL frames they carry and host buffer accounting."""

from __future__ import annotations

import enum

import attrs

from bluetrio.address import Address
from bluetrio.controller.air import Frame, Link, LinkKind


class Role(enum.IntEnum):
    """Role values as in LE/BR/EDR connection complete events (Vol 4 Part E 7.7.65.1)."""

    CENTRAL = 0x00
    PERIPHERAL = 0x01


# Connection handles are 12 bits; 0x0F00..0x0FFF are reserved (Vol 4 Part E 5.4.2).
MAX_CONNECTION_HANDLE = 0x0EFF


class PacketBoundary(enum.IntEnum):
    """ACL Packet_Boundary_Flag (Vol 4 Part E 5.4.2)."""

    FIRST_NON_FLUSHABLE = 0b00
    CONTINUING = 0b01
    FIRST_FLUSHABLE = 0b10
    COMPLETE = 0b11


@attrs.define(eq=False)
class Connection:
    """One ACL connection as its controller sees it."""

    handle: int
    link: Link
    role: Role
    peer_address: Address
    local_address: Address
    encrypted: bool = False
    # LE connection parameters in HCI units (Vol 4 Part E 7.8.12): interval 1.25 ms,
    # peripheral latency in events, supervision timeout 10 ms. BR/EDR links leave them be.
    interval: int = 0x0018
    latency: int = 0
    supervision_timeout: int = 0x01F4
    # Set while a disconnect procedure is under way, so a second Disconnect is disallowed.
    disconnecting: bool = False

    @property
    def is_le(self) -> bool:
        return self.link.kind is LinkKind.LE


@attrs.frozen
class AclFrame(Frame):
    """One ACL fragment on a link (LE LL data PDU or BR/EDR baseband ACL packet)."""

    start: bool  # first fragment of an L2CAP PDU (LLID 0b10 / L_CH 0b10)
    data: bytes
    intact: bool = True  # False after a corrupt fault: an encrypted link sees a MIC failure

    @property
    def payload_length(self) -> int:
        return len(self.data) + 4  # plus the MIC on encrypted links, near enough

    def corrupted(self) -> AclFrame:
        flipped = bytes((self.data[0] ^ 0x01,)) + self.data[1:] if self.data else self.data
        return AclFrame(self.start, flipped, intact=False)


@attrs.frozen
class TerminateFrame(Frame):
    """LL_TERMINATE_IND / LMP_detach (Vol 6 Part B 2.4.2.2; Vol 2 Part C 4.1.2)."""

    reason: int


@attrs.define
class BufferPool:
    """The controller's ACL buffers as the host accounts for them (Vol 4 Part E 4.1.1)."""

    packet_length: int
    total: int
    in_use: int = 0

    @property
    def full(self) -> bool:
        return self.in_use >= self.total
