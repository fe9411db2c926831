"""Two in-process transports joined back to back by bounded Trio memory channels.

What one side sends, the other receives, in order. Each direction holds at most ``capacity``
packets, so a side that stops receiving makes the other side's ``send`` wait (backpressure)
instead of queueing without bound.
"""

from __future__ import annotations

from collections.abc import Sequence

import trio

from bluetrio.errors import InvalidArgumentError, TransportError
from bluetrio.messages.packets import PacketType
from bluetrio.transports.base import NowaitSend, Packet, Transport

DEFAULT_CAPACITY = 64


class MemoryTransport(Transport):
    """One end of a :func:`transport_pair`."""

    def __init__(
        self,
        outgoing: trio.MemorySendChannel[Packet],
        incoming: trio.MemoryReceiveChannel[Packet],
        description: str,
    ) -> None:
        self._outgoing = outgoing
        self._incoming = incoming
        self.description = description

    async def send(self, packet_type: PacketType, payload: bytes) -> None:
        try:
            await self._outgoing.send((packet_type, payload))
        except trio.BrokenResourceError as exc:
            raise TransportError(f"{self.description} closed by peer") from exc
        except trio.ClosedResourceError as exc:
            raise TransportError(f"{self.description} is closed") from exc

    async def send_batch(self, packets: Sequence[Packet]) -> None:
        # Without a checkpoint per packet while there is room: the receiver wakes once.
        outgoing = self._outgoing
        try:
            for packet in packets:
                try:
                    outgoing.send_nowait(packet)
                except trio.WouldBlock:
                    await outgoing.send(packet)  # full: wait for the peer (backpressure)
            await trio.lowlevel.checkpoint()
        except trio.BrokenResourceError as exc:
            raise TransportError(f"{self.description} closed by peer") from exc
        except trio.ClosedResourceError as exc:
            raise TransportError(f"{self.description} is closed") from exc

    def send_batch_nowait(self, packets: Sequence[Packet]) -> NowaitSend:
        outgoing = self._outgoing
        room = outgoing.statistics()
        if room.open_receive_channels == 0 or (
            room.current_buffer_used + len(packets) > room.max_buffer_size
        ):
            return NowaitSend.REFUSED  # full or closed: send_batch waits or reports it
        try:
            for packet in packets:
                outgoing.send_nowait(packet)
        except trio.ClosedResourceError:
            return NowaitSend.REFUSED  # this end is closed (before the first packet)
        return NowaitSend.WRITTEN

    async def receive(self) -> Packet:
        try:
            return await self._incoming.receive()
        except trio.EndOfChannel as exc:
            raise TransportError(f"{self.description} closed by peer") from exc
        except trio.ClosedResourceError as exc:
            raise TransportError(f"{self.description} is closed") from exc

    async def receive_batch(self) -> list[Packet]:
        packets = [await self.receive()]
        incoming = self._incoming
        while True:
            try:
                packets.append(incoming.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                # End of channel is reported by the next receive, after these packets.
                return packets

    async def aclose(self) -> None:
        # Closing both channel ends wakes a peer blocked in send (BrokenResourceError) or
        # receive (EndOfChannel) and any local task blocked here (ClosedResourceError).
        self._outgoing.close()
        self._incoming.close()
        await trio.lowlevel.checkpoint()


def transport_pair(
    capacity: int = DEFAULT_CAPACITY, *, names: tuple[str, str] = ("host side", "controller side")
) -> tuple[MemoryTransport, MemoryTransport]:
    """Two connected transports; by convention the first is the host's end."""
    if not isinstance(capacity, int) or capacity < 1:
        raise InvalidArgumentError(f"capacity must be a positive number of packets: {capacity!r}")
    to_second, from_first = trio.open_memory_channel[Packet](capacity)
    to_first, from_second = trio.open_memory_channel[Packet](capacity)
    first = MemoryTransport(to_second, from_second, f"virtual transport ({names[0]})")
    second = MemoryTransport(to_first, from_first, f"virtual transport ({names[1]})")
    return first, second
