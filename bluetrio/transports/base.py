"""The transport interface: whole HCI packets in, whole HCI packets out.

A transport moves complete HCI packets between the host and a controller. Packets are
``(PacketType, payload)`` pairs where the payload is the packet *without* the H4 indicator
byte (for a command: opcode, length, parameters). Framing (H4 on a byte stream, USB
endpoints, in-process channels) is the transport's business.

The same interface serves the controller side of a link (the virtual controller receives
commands and sends events through it).
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Sequence

import attrs

from bluetrio.messages.packets import PacketType

Packet = tuple[PacketType, bytes]


@attrs.frozen
class FramingLimits:
    """What the host has learned that bounds the packets a controller sends it.

    The ACL lengths are the controller's buffer sizes read at bring-up (Read_Buffer_Size,
    LE_Read_Buffer_Size: Vol 4 Part E 7.4.5, 7.8.2); None until known, 0 for LE when LE
    shares the BR/EDR buffers. ``host_acl_data_length`` is the Host_ACL_Data_Packet_Length the
    host announced with Host_Buffer_Size: the controller sizes the ACL packets it sends the
    host by it (Vol 4 Part E 7.3.39), whatever its own buffers are; None until announced.
    ``iso_enabled``: the host has enabled isochronous channels, so ISO data packets may
    arrive. A transport that frames a byte stream uses these to tell a real packet header
    from noise; packet-based transports ignore them.
    """

    bredr_acl_data_length: int | None = None
    le_acl_data_length: int | None = None
    host_acl_data_length: int | None = None
    iso_enabled: bool = False


class NowaitSend(enum.Enum):
    """What :meth:`Transport.send_batch_nowait` did with the packets."""

    WRITTEN = "written"  # all of them are on their way
    PARTIAL = "partial"  # taken, part written: the next send_batch (the caller makes one) ends it
    REFUSED = "refused"  # none taken: send them with send_batch


class Transport(abc.ABC):
    """A bidirectional packet pipe to a controller (or, for a controller, to a host)."""

    @abc.abstractmethod
    async def send(self, packet_type: PacketType, payload: bytes) -> None:
        """Send one packet. Raises :class:`~bluetrio.errors.TransportError` once closed."""

    @abc.abstractmethod
    async def receive(self) -> Packet:
        """Wait for the next packet.

        Raises :class:`~bluetrio.errors.TransportError` when the other side went away
        (end of stream, unplugged device) with a message saying so.
        """

    async def receive_batch(self) -> list[Packet]:
        """Wait for the next packet; return it with every packet that has already arrived
        behind it, in order, so a burst costs its reader one wake-up."""
        return [await self.receive()]

    async def send_batch(self, packets: Sequence[Packet]) -> None:
        """Send ``packets`` in order; a stream transport writes them with one system call."""
        for packet_type, payload in packets:
            await self.send(packet_type, payload)

    def send_batch_nowait(self, packets: Sequence[Packet]) -> NowaitSend:
        """Send ``packets`` from synchronous code if the transport can do so without waiting
        (a socket with room in its buffer): a burst then leaves in the task that made it."""
        return NowaitSend.REFUSED

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release the underlying resource. Idempotent."""

    def configure_framing(self, limits: FramingLimits) -> None:
        """Tell the transport what the host learned about the controller's packets.

        Only transports that find packet boundaries in a byte stream (H4) use it; packet
        transports (USB endpoints, in-process channels) have nothing to configure.
        """
        return None

    async def __aenter__(self) -> Transport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
