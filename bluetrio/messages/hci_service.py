"""Messages between the HCI actor and the layers above it.

The HCI actor owns the transport. Other actors ask it to send commands (``HciCommandReq`` →
``HciCommandCnf`` to the requester), to send ACL data (``AclDataReq`` → ``AclDataCnf`` once the
controller reports the packets completed), and receive events (``HciEventInd``) and whole,
reassembled L2CAP PDUs (``AclDataInd``).

Link signals and data share one path. The HCI actor tells the owner of ACL data that a link
opened (``AclLinkOpenedInd``) or closed (``AclLinkClosedInd``) in the same effect list as the
data and in order with it, so the owner never receives a PDU for a link it has not been told
about, nor one after the link closed. The device manager's richer ``LinkUpInd`` (identity,
role, address resolution) comes later and only adds details to a link already open.
"""

from __future__ import annotations

import enum

import attrs

from bluetrio.messages.base import Message
from bluetrio.messages.hci.base import HciCommand, HciEvent
from bluetrio.messages.hci.events import CommandComplete, CommandStatus
from bluetrio.messages.packets import PacketType


class LinkTransport(enum.Enum):
    """The physical transport of an ACL link."""

    LE = "le"
    BR_EDR = "br_edr"


@attrs.frozen
class HciCommandReq(Message):
    """Send ``command`` to the controller.

    ``timeout``: seconds to wait for Command Complete/Status before answering with an error;
    ``None`` uses the HCI actor's default.
    """

    token: int
    command: HciCommand
    timeout: float | None = None

    def summary(self) -> str:
        return f"HciCommandReq#{self.token} {type(self.command).__name__}"


@attrs.frozen
class HciCommandCnf(Message):
    """The controller's answer to an ``HciCommandReq`` (Command Complete or Command Status).

    ``event`` is None when the command failed before an answer came; ``error`` then says why
    (``timed_out`` tells a timeout apart from a reset or a transport failure).
    """

    token: int
    opcode: int
    event: CommandComplete | CommandStatus | None
    error: str | None = None
    timed_out: bool = False

    def summary(self) -> str:
        outcome = self.error if self.error is not None else type(self.event).__name__
        return f"HciCommandCnf#{self.token} 0x{self.opcode:04X} {outcome}"


@attrs.frozen
class HciEventInd(Message):
    """An HCI event for the layers above (every event but Command Complete/Status and
    Number Of Completed Packets, which the HCI actor consumes itself)."""

    event: HciEvent

    @property
    def handle(self) -> int | None:
        value = getattr(self.event, "connection_handle", None)
        return value if isinstance(value, int) else None

    def summary(self) -> str:
        return f"HciEventInd {type(self.event).__name__}"


@attrs.frozen
class AclDataReq(Message):
    """Send whole L2CAP PDUs on connection ``handle``; the HCI actor fragments them."""

    handle: int
    pdus: tuple[bytes, ...]

    def summary(self) -> str:
        return (
            f"AclDataReq 0x{self.handle:04X} {len(self.pdus)} PDU(s) {sum(map(len, self.pdus))} B"
        )


@attrs.frozen
class AclDataCnf(Message):
    """``completed`` PDUs of connection ``handle`` left the controller's buffers."""

    handle: int
    completed: int


@attrs.frozen
class AclDataInd(Message):
    """Whole L2CAP PDUs reassembled from the controller's ACL fragments."""

    handle: int
    pdus: tuple[bytes, ...]

    def summary(self) -> str:
        return (
            f"AclDataInd 0x{self.handle:04X} {len(self.pdus)} PDU(s) {sum(map(len, self.pdus))} B"
        )


@attrs.frozen
class AclLinkOpenedInd(Message):
    """Connection ``handle`` now carries ACL data on ``transport`` (sent to the ACL data owner
    before the first :class:`AclDataInd` of the link; Core 5.4 Vol 4 Part E 7.7.3, 7.7.65.1,
    7.7.65.10 complete the connection).

    ``link_id`` numbers the links hci opened (1, 2, ...): the device manager copies it into the
    link's :class:`~bluetrio.messages.btm.AclLink`, so a layer can tell the ``LinkUpInd`` of
    this link from a late one of an earlier link on the same, reused, handle.
    """

    handle: int
    transport: LinkTransport
    link_id: int


@attrs.frozen
class AclLinkClosedInd(Message):
    """Connection ``handle`` is gone (Disconnection Complete, Vol 4 Part E 7.7.5, with its
    ``reason``; or the controller was reset): no :class:`AclDataInd` of it follows."""

    handle: int
    reason: int


@attrs.frozen
class ControllerErrorInd(Message):
    """The controller reported a hardware error (or failed): the HCI actor resets it."""

    code: int
    description: str


@attrs.frozen
class TransportPacketInd(Message):
    """A packet read from the transport (internal to the HCI actor)."""

    packet_type: PacketType
    payload: bytes

    def summary(self) -> str:
        return f"TransportPacketInd {self.packet_type.name} {len(self.payload)} B"
