"""The HCI actor's shell: the only part of the HCI layer that does I/O (trio)."""

from __future__ import annotations

import trio

from bluetrio.actors.effects import ShellEffect
from bluetrio.actors.hci.core import HciCore, TransportWrite
from bluetrio.actors.runtime import Actor
from bluetrio.messages.hci_service import TransportPacketInd
from bluetrio.messages.packets import PacketType
from bluetrio.transports.base import Transport


class HciActor(Actor):
    """The shell: a reader task feeds packets in, a writer task drains ``TransportWrite``s.

    Snooping and transport faults are applied by wrapping the transport in a tap
    (:mod:`bluetrio.transports.tap`), so this shell stays the same with or without them.
    """

    def __init__(self, core: HciCore, transport: Transport) -> None:
        super().__init__(HciCore.name, core)
        self.transport = transport
        self._outgoing_send, self._outgoing_receive = trio.open_memory_channel[
            tuple[PacketType, bytes]
        ](float("inf"))

    async def start_background(self, nursery: trio.Nursery) -> None:
        nursery.start_soon(self._read_transport)
        nursery.start_soon(self._write_transport)

    def apply_effect(self, effect: ShellEffect) -> None:
        match effect:
            case TransportWrite(packet_type=packet_type, payload=payload):
                self._outgoing_send.send_nowait((packet_type, payload))
            case _:
                super().apply_effect(effect)

    async def _read_transport(self) -> None:
        runtime = self.runtime
        name = self.name
        receive = self.transport.receive
        while True:
            # A TransportError (closed by peer, unplugged) propagates: it stops the stack
            # with that error, since nothing can work without the controller.
            packet_type, payload = await receive()
            runtime.send(name, name, TransportPacketInd(packet_type, payload))

    async def _write_transport(self) -> None:
        send = self.transport.send
        async for packet_type, payload in self._outgoing_receive:
            await send(packet_type, payload)
