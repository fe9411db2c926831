"""Count the HCI commands a stack sends: the cost of a procedure in controller round trips.

Used by the procedure benches and by tests that pin how many commands a procedure takes::

    async with counted_transport("virtual") as transport, open_stack(transport) as stack:
        ...
        print(len(transport.opcodes))
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from bluetrio.messages.packets import PacketType
from bluetrio.transports import open_transport
from bluetrio.transports.base import FramingLimits, NowaitSend, Packet, Transport


class CommandCounter(Transport):
    """A host transport that counts the HCI commands written through it, by opcode, and
    the events read through it, by event code."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.opcodes: list[int] = []
        self.event_codes: list[int] = []

    def _count(self, packets: Sequence[Packet]) -> None:
        for packet_type, payload in packets:
            if packet_type == PacketType.COMMAND:
                self.opcodes.append(int.from_bytes(payload[:2], "little"))

    async def send(self, packet_type: PacketType, payload: bytes) -> None:
        self._count([(packet_type, payload)])
        await self.inner.send(packet_type, payload)

    async def send_batch(self, packets: Sequence[Packet]) -> None:
        self._count(packets)
        await self.inner.send_batch(packets)

    def send_batch_nowait(self, packets: Sequence[Packet]) -> NowaitSend:
        sent = self.inner.send_batch_nowait(packets)
        if sent is not NowaitSend.REFUSED:
            self._count(packets)
        return sent

    def _count_events(self, packets: Sequence[Packet]) -> None:
        for packet_type, payload in packets:
            if packet_type == PacketType.EVENT and payload:
                self.event_codes.append(payload[0])

    async def receive(self) -> Packet:
        packet = await self.inner.receive()
        self._count_events([packet])
        return packet

    async def receive_batch(self) -> list[Packet]:
        packets = await self.inner.receive_batch()
        self._count_events(packets)
        return packets

    def configure_framing(self, limits: FramingLimits) -> None:
        self.inner.configure_framing(limits)

    async def aclose(self) -> None:
        await self.inner.aclose()


@contextlib.asynccontextmanager
async def counted_transport(spec: str | None) -> AsyncIterator[CommandCounter]:
    """Open the transport ``spec`` names (the virtual controller if None), counted."""
    async with open_transport(spec if spec is not None else "virtual") as transport:
        yield CommandCounter(transport)
