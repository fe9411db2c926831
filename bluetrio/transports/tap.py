"""A hook on the host's transport: observe, drop, duplicate or replace HCI packets.

Fault injection and the btsnoop recorder plug in here. A tap sees every packet once, in the
order it crosses the transport, and returns the packets that should go on in its place.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import Protocol

from bluetrio.messages.packets import PacketType
from bluetrio.transports.base import FramingLimits, Packet, Transport


class PacketTap(Protocol):
    """Decides what becomes of each packet; return ``[]`` to drop, several to duplicate."""

    def on_host_to_controller(self, packet: Packet) -> list[Packet]: ...

    def on_controller_to_host(self, packet: Packet) -> list[Packet]: ...


class TappedTransport(Transport):
    """A host-side transport whose traffic in both directions passes through a tap."""

    def __init__(self, inner: Transport, tap: PacketTap) -> None:
        self.inner = inner
        self.tap = tap
        self._received: collections.deque[Packet] = collections.deque()

    async def send(self, packet_type: PacketType, payload: bytes) -> None:
        for tapped_type, tapped_payload in self.tap.on_host_to_controller((packet_type, payload)):
            await self.inner.send(tapped_type, tapped_payload)

    async def receive(self) -> Packet:
        # A dropped packet means waiting for the next one; a duplicated one queues here.
        while not self._received:
            self._received.extend(self.tap.on_controller_to_host(await self.inner.receive()))
        return self._received.popleft()

    async def send_batch(self, packets: Sequence[Packet]) -> None:
        on_host_to_controller = self.tap.on_host_to_controller
        await self.inner.send_batch(
            [tapped for packet in packets for tapped in on_host_to_controller(packet)]
        )

    async def receive_batch(self) -> list[Packet]:
        on_controller_to_host = self.tap.on_controller_to_host
        packets = list(self._received)
        self._received.clear()
        while not packets:
            packets = [
                tapped
                for packet in await self.inner.receive_batch()
                for tapped in on_controller_to_host(packet)
            ]
        return packets

    async def aclose(self) -> None:
        await self.inner.aclose()

    def configure_framing(self, limits: FramingLimits) -> None:
        self.inner.configure_framing(limits)


def tapped(transport: Transport, tap: PacketTap | None) -> Transport:
    """The transport itself when there is no tap (no cost), else wrapped in the tap."""
    return transport if tap is None else TappedTransport(transport, tap)
