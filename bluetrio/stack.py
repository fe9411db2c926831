"""``open_stack``: the actors of one host stack, started in order in one nursery.

    async with bluetrio.open_stack("virtual") as stack:
        complete = await stack.command(hci.ReadBdAddr())

Closing the stack cancels every actor and timer and closes the transport; no task is left
behind. A failure that belongs to no single connection ends the ``async with`` block with a
:class:`~bluetrio.errors.StackError` carrying the flight recorder; a lost transport ends it
with a :class:`~bluetrio.errors.TransportError`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import trio

from bluetrio.actors.faults import FaultPolicy
from bluetrio.actors.hci import DEFAULT_COMMAND_TIMEOUT, HciActor, HciCore
from bluetrio.actors.runtime import (
    DEFAULT_FLIGHT_RECORDER_SIZE,
    AppPort,
    Runtime,
    raise_single_error,
)
from bluetrio.errors import HciError, HciTimeout
from bluetrio.messages.base import Message
from bluetrio.messages.hci_service import HciCommandCnf, HciCommandReq, HciEventInd
from bluetrio.tracing.recorder import TraceRecorder
from bluetrio.transports import open_transport
from bluetrio.transports.base import Packet, Transport
from bluetrio.transports.spec import TransportSpec
from bluetrio.transports.tap import tapped


class _StackTap:
    """Applies transport faults, then records what crossed the transport as btsnoop."""

    def __init__(self, faults: FaultPolicy | None, snoop: Any | None) -> None:
        self.faults = faults
        self.snoop = snoop

    def _pass(self, packet: Packet, direction: str, received: bool) -> list[Packet]:
        packets = [packet]
        if self.faults is not None:
            packets = self.faults.filter_packet(direction, packet)  # type: ignore[arg-type]
        if self.snoop is not None:
            for packet_type, payload in packets:
                self.snoop.write(packet_type, payload, received=received)
        return packets

    def on_host_to_controller(self, packet: Packet) -> list[Packet]:
        return self._pass(packet, "to_controller", received=False)

    def on_controller_to_host(self, packet: Packet) -> list[Packet]:
        return self._pass(packet, "to_host", received=True)


class Stack:
    """A running host stack: the runtime, its actors, and the application's port."""

    def __init__(self, runtime: Runtime, app: AppPort, hci: HciCore) -> None:
        self.runtime = runtime
        self.app = app
        self.hci = hci

    async def command(self, command: Any, *, timeout: float | None = None) -> Any:
        """Send one HCI command and return its Command Complete (or Command Status) event.

        Raises :class:`HciError` when the controller answers with a non-zero status and
        :class:`HciTimeout` when it does not answer within ``timeout`` seconds.
        """
        token = self.runtime.new_token()
        reply = await self.app.request("hci", HciCommandReq(token, command, timeout))
        assert isinstance(reply, HciCommandCnf)
        name = getattr(command, "NAME", type(command).__name__)
        if reply.event is None:
            if reply.timed_out:
                raise HciTimeout(f"{name}: {reply.error}")
            raise HciError(0x1F, f"{name}: {reply.error}")
        status = getattr(reply.event, "status", 0)
        if status:
            raise HciError(status, f"{name} failed")
        return reply.event

    def events(
        self, predicate: Callable[[Any], bool] | None = None
    ) -> trio.MemoryReceiveChannel[Message]:
        """A channel of HCI events the stack passes up (close it to stop receiving)."""

        def matches(message: Message) -> bool:
            return isinstance(message, HciEventInd) and (
                predicate is None or predicate(message.event)
            )

        return self.app.subscribe(matches)


@contextlib.asynccontextmanager
async def open_stack(
    transport: str | TransportSpec | Transport,
    *,
    snoop: str | os.PathLike[str] | None = None,
    trace: str | os.PathLike[str] | TraceRecorder | None = None,
    faults: FaultPolicy | None = None,
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
    flight_recorder_size: int = DEFAULT_FLIGHT_RECORDER_SIZE,
) -> AsyncIterator[Stack]:
    """Open a transport (a spec such as ``"virtual"``, ``"usb:0"``, ``"tcp:127.0.0.1:6402"``,
    or an open :class:`Transport`) and run a stack on it.

    ``snoop``: write every HCI packet, both directions, to this btsnoop file.
    ``trace``: record every inter-actor message (a path to save JSON Lines to on close, or a
    :class:`TraceRecorder` to fill). ``faults``: a :class:`FaultPolicy` to inject faults.
    """
    tracer: TraceRecorder | None
    tracer = trace if trace is None or isinstance(trace, TraceRecorder) else TraceRecorder()
    async with contextlib.AsyncExitStack() as resources:
        if isinstance(transport, Transport):
            opened = transport
            resources.push_async_callback(opened.aclose)
        else:
            opened = await resources.enter_async_context(open_transport(transport))
        snoop_writer = None
        if snoop is not None:
            from bluetrio.tracing.btsnoop import BtsnoopWriter

            snoop_writer = resources.enter_context(BtsnoopWriter(snoop))
        tap = _StackTap(faults, snoop_writer) if (faults or snoop_writer) else None
        runtime = Runtime(tracer=tracer, faults=faults, flight_recorder_size=flight_recorder_size)
        app = AppPort()
        hci_core = HciCore(event_sink=app.name, acl_sink=app.name, command_timeout=command_timeout)
        runtime.add(HciActor(hci_core, tapped(opened, tap)))
        runtime.add(app)
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(runtime.run)
                try:
                    yield Stack(runtime, app, hci_core)
                finally:
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            raise_single_error(group)
            raise
        finally:
            if tracer is not None and trace is not None and not isinstance(trace, TraceRecorder):
                save = getattr(tracer, "save", None)
                if save is not None:
                    save(trace)
