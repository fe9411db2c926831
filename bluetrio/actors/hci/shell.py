"""The HCI actor's shell: the only part of the HCI layer that does I/O (trio)."""

from __future__ import annotations

import trio

from bluetrio.actors.effects import ShellEffect
from bluetrio.actors.hci.core import ConfigureFraming, HciCore, TransportWrite
from bluetrio.actors.runtime import Actor
from bluetrio.messages.base import Message
from bluetrio.messages.hci_service import TransportPacketInd
from bluetrio.transports.base import NowaitSend, Packet, Transport


class HciActor(Actor):
    """The shell: a reader task feeds packets in, a writer task drains ``TransportWrite``s.

    Both move bursts: whatever one read of the transport framed is handled as one wake-up,
    in the reader's task when the actor is idle (:meth:`Actor.handle_now`); whatever one
    wake-up wrote leaves in one write, from the actor's task when the transport takes it at
    once, else through the writer task.
    Snooping and transport faults are applied by wrapping the transport in a tap
    (:mod:`bluetrio.transports.tap`), so this shell stays the same with or without them.
    """

    def __init__(self, core: HciCore, transport: Transport) -> None:
        super().__init__(core)
        self.transport = transport
        self._outgoing_send, self._outgoing_receive = trio.open_memory_channel[list[Packet]](
            float("inf")
        )
        self._writes: list[Packet] = []
        self._writer_busy = False  # the writer task holds writes not yet made

    async def start_background(self, nursery: trio.Nursery) -> None:
        nursery.start_soon(self._read_transport)
        nursery.start_soon(self._write_transport)

    def apply_effect(self, effect: ShellEffect) -> None:
        match effect:
            case TransportWrite(packet_type=packet_type, payload=payload):
                self._writes.append((packet_type, payload))
                if self._outbox is None:  # outside a wake-up (a test applying effects itself)
                    self._flush_writes()
            case ConfigureFraming(limits=limits):
                self.transport.configure_framing(limits)
            case _:
                super().apply_effect(effect)

    def end_wakeup(self) -> None:
        self._flush_writes()
        super().end_wakeup()

    def _flush_writes(self) -> None:
        if self._writes:
            writes, self._writes = self._writes, []
            # Written from this task when the transport can take them at once (a socket
            # with room): the burst then costs no switch to the writer task.
            # Never while the writer task has writes to make: they go first.
            if not self._writer_busy:
                sent = self.transport.send_batch_nowait(writes)
                if sent is NowaitSend.WRITTEN:
                    return
                if sent is NowaitSend.PARTIAL:
                    writes = []  # the writer task finishes the partial write
            self._writer_busy = True
            self._outgoing_send.send_nowait(writes)

    async def _read_transport(self) -> None:
        name = self.name
        receive_batch = self.transport.receive_batch
        while True:
            # A TransportError (closed by peer, unplugged) propagates: it stops the stack
            # with that error, since nothing can work without the controller.
            packets = await receive_batch()
            indications: list[Message] = [TransportPacketInd(kind, data) for kind, data in packets]
            self.handle_now(name, indications)

    async def _write_transport(self) -> None:
        send_batch = self.transport.send_batch
        outgoing = self._outgoing_receive
        async for writes in outgoing:
            while True:  # everything queued meanwhile goes in the same write
                try:
                    writes += outgoing.receive_nowait()
                except trio.WouldBlock:
                    break
            await send_batch(writes)
            if outgoing.statistics().current_buffer_used == 0:
                self._writer_busy = False
