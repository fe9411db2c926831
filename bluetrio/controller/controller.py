"""The virtual controller: host interface, dispatch, connections, ACL flow control.

The core is synchronous: every input (a packet from the host, a frame from the air, a timer)
is handled to completion by plain methods that queue events for the host, put frames on the
air and arm timers. :meth:`VirtualController.serve` is the thin Trio shell around it: one
task reads the host transport, one writes to it, one runs due timers. Each moves bursts: a
read hands every packet it framed to the core, a timer wake-up runs every due callback (the
air's deliveries among them), and a write sends everything queued, with the completions of
the burst coalesced into one Number_Of_Completed_Packets.
"""

from __future__ import annotations

import collections
import importlib
import itertools
import logging
import struct
from collections.abc import Callable, Iterator
from typing import TypeVar

import trio

from bluetrio.address import Address
from bluetrio.controller.air import Air, Frame, Link, LinkKind
from bluetrio.controller.config import ControllerConfig
from bluetrio.controller.connections import (
    MAX_CONNECTION_HANDLE,
    AclFrame,
    BufferPool,
    Connection,
    PacketBoundary,
    Role,
    TerminateFrame,
)
from bluetrio.controller.dispatch import (
    COMMAND_TABLE,
    FEATURES,
    FRAME_TABLE,
    CommandError,
    Feature,
    Reply,
    Status,
    failure_return,
    success_return,
)
from bluetrio.controller.event_masks import EventMasks
from bluetrio.controller.timers import Timer, TimerQueue
from bluetrio.errors import DecodeError, InvalidArgumentError, TransportError
from bluetrio.messages import hci
from bluetrio.messages.packets import PacketType
from bluetrio.transports.base import NowaitSend, Packet, Transport

_log = logging.getLogger(__name__)

# Link_Type of Data_Buffer_Overflow: ACL (Vol 4 Part E 7.7.26).
LINK_TYPE_ACL = 0x01

# Modules whose features make up a controller; a missing one (not written yet) is skipped.
FEATURE_MODULES = (
    "bluetrio.controller.general",
    "bluetrio.controller.le_privacy",
    "bluetrio.controller.le_common",
    "bluetrio.controller.le_advertising",
    "bluetrio.controller.le_scanning",
    "bluetrio.controller.le_connection",
    "bluetrio.controller.le_security",
    "bluetrio.controller.bredr",
    "bluetrio.controller.ssp",
)


def load_feature_modules() -> None:
    for name in FEATURE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


_ACL_HEADER = struct.Struct("<HH")  # handle and flags, data length (Vol 4 Part E 5.4.2)
_FIRST_FLUSHABLE = int(PacketBoundary.FIRST_FLUSHABLE) << 12
_CONTINUING = int(PacketBoundary.CONTINUING) << 12

# Handles one Number_Of_Completed_Packets event can carry: its parameters are at most 255
# bytes, one for Num_Handles and four per handle (Vol 4 Part E 5.4.4, 7.7.19).
MAX_HANDLES_PER_COMPLETION_EVENT = 63

# Public addresses handed out to controllers created without one: 00:1B:DC:F0:xx:xx style
# values that are distinct within one process.
_address_counter = itertools.count(1)


def _next_public_address(air: Air) -> Address:
    while True:
        n = next(_address_counter)
        candidate = Address(bytes((n & 0xFF, (n >> 8) & 0xFF, 0xF0, 0xDC, 0x1B, 0x00)))
        if not air.address_in_use(candidate):
            return candidate


FeatureT = TypeVar("FeatureT", bound=Feature)


class VirtualController:
    """An emulated controller on ``air`` (Core 5.4 Vol 4 Part E semantics)."""

    def __init__(
        self,
        air: Air,
        *,
        public_address: Address | None = None,
        config: ControllerConfig | None = None,
    ) -> None:
        load_feature_modules()
        self.air = air
        self.config = config if config is not None else ControllerConfig()
        self.public_address = (
            public_address if public_address is not None else _next_public_address(air)
        )
        # Other addresses this radio answers to (LE random and advertising-set addresses).
        self.extra_addresses: set[Address] = set()
        self.masks = EventMasks()
        self.connections: dict[int, Connection] = {}
        self._timers = TimerQueue()
        self._timer_scope: trio.CancelScope | None = None
        self._timer_wakeup: trio.Event | None = None
        self._soon: collections.deque[Callable[[], None]] = collections.deque()
        # Set while the reader or the timer task handles a burst: that task writes what the
        # burst produced itself, so the writer task is not woken for it.
        self._writes_pending_in_task = False
        self._writing = False
        self._to_host: list[Packet] = []
        self._host_ready: trio.Event | None = None
        self._deferred_events: list[bytes] | None = None
        self.bredr_buffers = BufferPool(
            self.config.acl_data_packet_length, self.config.total_num_acl_data_packets
        )
        self.le_buffers = (
            BufferPool(
                self.config.le_acl_data_packet_length, self.config.total_num_le_acl_data_packets
            )
            if self.config.total_num_le_acl_data_packets
            else self.bredr_buffers  # shared buffers (Vol 4 Part E 7.8.2)
        )
        self._in_flight: dict[int, int] = {}  # ACL packets per handle not yet sent on the air
        # Packets sent on the air and not yet reported to the host, per handle.
        self._completed: dict[int, int] = {}
        self.features: dict[type[Feature], Feature] = {cls: cls(self) for cls in FEATURES}
        self.serving = False

    # -- features and timers -------------------------------------------------------------

    def feature(self, cls: type[FeatureT]) -> FeatureT:
        instance = self.features[cls]
        assert isinstance(instance, cls)
        return instance

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        now = trio.current_time()
        deadline = now + max(delay, 0.0)
        timer = self._timers.schedule(deadline, callback)
        if deadline <= now:
            # Due at once (the instant air's deliveries): wake the timer task without
            # touching its cancel scope; every callback due by then runs in that one wake-up.
            if self._timer_wakeup is not None:
                self._timer_wakeup.set()
        elif self._timer_scope is not None and deadline < self._timer_scope.deadline:
            self._timer_scope.deadline = deadline
        return timer

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` in the timer task's next wake-up, after the timers due by then."""
        self._soon.append(callback)
        if self._timer_wakeup is not None:
            self._timer_wakeup.set()

    def run_due_timers(self) -> None:
        soon = self._soon
        while True:
            timer = self._timers.pop_due(trio.current_time())
            if timer is not None:
                timer.callback()
            elif soon:
                soon.popleft()()
            else:
                return

    # -- toward the host -----------------------------------------------------------------

    def send_event(self, event: hci.HciEvent) -> None:
        """Queue an event if the host's masks allow it.

        Events raised while a command is being handled follow that command's Command
        Complete/Status, as a real controller's would (Vol 4 Part E 4.4).
        """
        if not self.masks.allows_event(event):
            return
        packet = event.to_bytes()
        if self._deferred_events is not None:
            self._deferred_events.append(packet)
        else:
            self._queue_for_host(PacketType.EVENT, packet)

    def send_acl_to_host(self, handle: int, data: bytes, start: bool) -> None:
        """Deliver received ACL data, cut to this controller's own buffer size."""
        connection = self.connections.get(handle)
        if connection is None:
            return
        size = (self.le_buffers if connection.is_le else self.bredr_buffers).packet_length
        pack = _ACL_HEADER.pack
        to_host = self._to_host
        # Toward the host a start fragment is flagged 0b10 (Vol 4 Part E 5.4.2).
        flags = _FIRST_FLUSHABLE if start else _CONTINUING
        if len(data) <= size:  # the common case: one packet
            to_host.append((PacketType.ACL, pack(handle | flags, len(data)) + data))
        else:
            for offset in range(0, len(data), size):
                chunk = data[offset : offset + size]
                to_host.append((PacketType.ACL, pack(handle | flags, len(chunk)) + chunk))
                flags = _CONTINUING
        self._wake_writer()

    def _queue_for_host(self, packet_type: PacketType, payload: bytes) -> None:
        self._to_host.append((packet_type, payload))
        self._wake_writer()

    def _wake_writer(self) -> None:
        if self._host_ready is not None and not self._writes_pending_in_task:
            self._host_ready.set()

    def take_host_packets(self) -> list[Packet]:
        """Everything queued for the host so far (the shell's writer, or a test, drains it),
        ending with one Number_Of_Completed_Packets for the packets completed meanwhile."""
        self._flush_completions()
        packets, self._to_host = self._to_host, []
        return packets

    def _flush_completions(self) -> None:
        """Report the completed packets, every handle's count in one event (Vol 4 Part E
        7.7.19 lets a controller gather them; real ones report every few packets)."""
        if not self._completed:
            return
        completed = list(self._completed.items())
        self._completed.clear()
        for start in range(0, len(completed), MAX_HANDLES_PER_COMPLETION_EVENT):
            chunk = tuple(completed[start : start + MAX_HANDLES_PER_COMPLETION_EVENT])
            event = hci.NumberOfCompletedPackets(chunk)
            self._to_host.append((PacketType.EVENT, event.to_bytes()))

    # -- from the host -------------------------------------------------------------------

    def handle_packet(self, packet_type: PacketType, payload: bytes) -> None:
        if packet_type == PacketType.COMMAND:
            self._handle_command(payload)
        elif packet_type == PacketType.ACL:
            self._handle_acl(payload)
        # SCO/ISO data for links this controller does not carry is dropped, as a controller
        # does for an unknown handle (no event exists for it).

    def _handle_command(self, payload: bytes) -> None:
        if self.public_address in self.air.faults.muted:
            return  # fault: the controller stopped answering
        if len(payload) < 3:
            # Too short to carry an opcode: nothing to answer to; report the host's error as
            # a hardware error event (Vol 4 Part E 7.7.16) rather than stay silent.
            self.send_event(hci.HardwareError(0))
            return
        opcode, length = int.from_bytes(payload[:2], "little"), payload[2]
        parameters = payload[3:]
        entry = COMMAND_TABLE.get(opcode)
        count = self.config.num_hci_command_packets
        if entry is None:
            unknown = hci.StatusReturn(Status.UNKNOWN_HCI_COMMAND)
            self._queue_event(hci.CommandComplete.for_return(opcode, unknown, count))
            return
        spec = entry.spec
        command_class = spec.command_class
        self._deferred_events = []
        returned: hci.ReturnParameters | None = None
        echo: dict[str, object] = {}
        try:
            if length != len(parameters):
                raise DecodeError(f"length field {length} but {len(parameters)} bytes follow")
            handler = getattr(self.features[entry.feature], entry.method)
            result = handler(command_class.from_parameters(parameters))
            if spec.reply is Reply.COMPLETE:
                returned = success_return(command_class, result)
            status = Status.SUCCESS
        except (DecodeError, InvalidArgumentError):
            status = Status.INVALID_HCI_COMMAND_PARAMETERS
        except CommandError as error:
            status, echo = Status(error.status), error.echo
        except Exception:
            # A bug in a handler must not take the controller down with it; the host gets
            # an answer and the log gets the traceback.
            _log.exception("handler of %s failed", command_class.NAME)
            status = Status.UNSPECIFIED_ERROR
        deferred, self._deferred_events = self._deferred_events, None
        if spec.reply is Reply.STATUS:
            self._queue_event(hci.CommandStatus(status, count, opcode))
        else:
            if status != Status.SUCCESS and command_class.RETURN is not None:
                returned = self._failure_return(command_class, status, echo)
            if returned is not None:  # None: Host_Number_Of_Completed_Packets succeeded
                self._queue_event(hci.CommandComplete.for_return(opcode, returned, count))
        for packet in deferred:
            self._queue_for_host(PacketType.EVENT, packet)

    @staticmethod
    def _failure_return(
        command_class: type[hci.HciCommand], status: int, echo: dict[str, object]
    ) -> hci.ReturnParameters:
        assert command_class.RETURN is not None
        try:
            return failure_return(command_class.RETURN, status, echo)
        except (DecodeError, InvalidArgumentError):
            # A handler echoed a field the return class cannot hold: the status alone still
            # answers the command (Vol 4 Part E 4.5).
            _log.exception("failure return of %s", command_class.NAME)
            return hci.StatusReturn(status)

    def _queue_event(self, event: hci.HciEvent) -> None:
        """Command Complete/Status are never masked (Vol 4 Part E 7.3.1)."""
        self._queue_for_host(PacketType.EVENT, event.to_bytes())

    def _handle_acl(self, payload: bytes) -> None:
        if len(payload) < 4:
            return
        header, length = struct.unpack_from("<HH", payload)
        handle, boundary = header & 0x0FFF, (header >> 12) & 0b11
        data = payload[4:]
        connection = self.connections.get(handle)
        if connection is None or length != len(data):
            return  # unknown handle or bad length: dropped, no buffer consumed
        pool = self.le_buffers if connection.is_le else self.bredr_buffers
        if pool.full or len(data) > pool.packet_length:
            # The host overran the buffers it was told about (Vol 4 Part E 7.7.26).
            self.send_event(hci.DataBufferOverflow(LINK_TYPE_ACL))
            return
        start = boundary != PacketBoundary.CONTINUING
        sent_after = self.air.send_on_link(connection.link, self, AclFrame(start, data))
        if sent_after <= 0:
            # The instant air: sent already, the buffer is free again at once (Vol 4 Part E
            # 7.7.19: completed, reported with the next write to the host).
            self._completed[handle] = self._completed.get(handle, 0) + 1
            self._wake_writer()
            return
        pool.in_use += 1
        self._in_flight[handle] = self._in_flight.get(handle, 0) + 1
        self.call_later(sent_after, lambda: self._buffer_freed(connection, pool))

    def _buffer_freed(self, connection: Connection, pool: BufferPool) -> None:
        handle = connection.handle
        if self._in_flight.get(handle, 0) == 0:
            return  # the connection went away; Disconnection Complete returned the credits
        self._in_flight[handle] -= 1
        pool.in_use -= 1
        # Number_Of_Completed_Packets once the packet has left (Vol 4 Part E 7.7.19): counted
        # here, reported with the next write to the host.
        self._completed[handle] = self._completed.get(handle, 0) + 1
        self._wake_writer()

    # -- connections ---------------------------------------------------------------------

    def allocate_handle(self) -> int:
        for handle in range(1, MAX_CONNECTION_HANDLE + 1):
            if handle not in self.connections:
                return handle
        raise CommandError(Status.CONNECTION_LIMIT_EXCEEDED)

    def add_connection(
        self, link: Link, role: Role, peer_address: Address, local_address: Address
    ) -> Connection:
        connection = Connection(self.allocate_handle(), link, role, peer_address, local_address)
        self.connections[connection.handle] = connection
        return connection

    def connection_on(self, link: Link) -> Connection | None:
        for connection in self.connections.values():
            if connection.link is link:
                return connection
        return None

    def connections_of(self, kind: LinkKind) -> Iterator[Connection]:
        return (c for c in list(self.connections.values()) if c.link.kind is kind)

    def disconnect(self, connection: Connection, reason: int) -> None:
        """Terminate a connection: the peer hears ``reason``; our host hears 0x16."""
        connection.disconnecting = True
        self.air.send_on_link(connection.link, self, TerminateFrame(reason))
        self.air.close_link(connection.link)
        self.close_connection(connection, Status.CONNECTION_TERMINATED_BY_LOCAL_HOST)

    def close_connection(self, connection: Connection, reason: int) -> None:
        """Forget a connection and tell the host (Disconnection Complete, Vol 4 Part E 7.7.5)."""
        if self.connections.get(connection.handle) is not connection:
            return
        del self.connections[connection.handle]
        # Completions of packets already sent are reported before the disconnection.
        self._flush_completions()
        # Buffers held for a dead connection are free again without Number_Of_Completed_Packets
        # (Vol 4 Part E 4.3).
        pool = self.le_buffers if connection.is_le else self.bredr_buffers
        pool.in_use -= self._in_flight.pop(connection.handle, 0)
        self.send_event(hci.DisconnectionComplete(Status.SUCCESS, connection.handle, reason))
        for feature in self.features.values():
            feature.on_connection_closed(connection, reason)

    # -- the air (Radio protocol) ----------------------------------------------------------

    def answers_to(self, address: Address) -> bool:
        return address == self.public_address or address in self.extra_addresses

    def on_frame(self, frame: Frame, link: Link | None) -> None:
        if isinstance(frame, AclFrame | TerminateFrame):
            self._on_link_frame(frame, link)
            return
        for feature_cls, method in FRAME_TABLE.get(type(frame), ()):
            getattr(self.features[feature_cls], method)(frame, link)

    def _on_link_frame(self, frame: AclFrame | TerminateFrame, link: Link | None) -> None:
        connection = self.connection_on(link) if link is not None else None
        if connection is None or link is None:
            return
        if isinstance(frame, TerminateFrame):
            self.close_connection(connection, frame.reason)
        elif not frame.intact and connection.encrypted:
            # The MIC check fails: the link layer ends the connection (Vol 6 Part E 1).
            self.air.send_on_link(
                link, self, TerminateFrame(Status.CONNECTION_TERMINATED_DUE_TO_MIC_FAILURE)
            )
            self.air.close_link(link)
            self.close_connection(connection, Status.CONNECTION_TERMINATED_DUE_TO_MIC_FAILURE)
        else:
            self.send_acl_to_host(connection.handle, frame.data, frame.start)

    def on_link_lost(self, link: Link) -> None:
        connection = self.connection_on(link)
        if connection is not None:
            self.close_connection(connection, Status.CONNECTION_TIMEOUT)

    # -- reset ---------------------------------------------------------------------------

    def reset(self) -> None:
        """HCI_Reset (Vol 4 Part E 7.3.2): back to the power-on state.

        Links are abandoned without a word to the peers, whose supervision timers expire.
        """
        for connection in list(self.connections.values()):
            self.air.abandon_link(connection.link, self)
        self.connections.clear()
        self._in_flight.clear()
        self._completed.clear()
        self.bredr_buffers.in_use = 0
        self.le_buffers.in_use = 0
        self.masks = EventMasks()
        self.extra_addresses.clear()
        self._timers.clear()
        for feature in self.features.values():
            feature.reset()

    # -- the Trio shell ------------------------------------------------------------------

    async def serve(self, transport: Transport) -> None:
        """Act as the controller behind ``transport`` until it closes; then leave the air."""
        if self.serving:
            raise RuntimeError("this controller is already serving a transport")
        self.serving = True
        self._host_ready = trio.Event()
        self._timer_wakeup = trio.Event()
        self.air.attach(self)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._run_timers, transport, nursery.cancel_scope)
                nursery.start_soon(self._write_to_host, transport, nursery.cancel_scope)
                await self._read_from_host(transport)
                nursery.cancel_scope.cancel()
        finally:
            self.air.detach(self)
            self._timers.clear()
            self._soon.clear()
            self.connections.clear()
            self.serving = False

    async def _read_from_host(self, transport: Transport) -> None:
        while True:
            try:
                packets = await transport.receive_batch()
            except TransportError:
                return
            self._writes_pending_in_task = True
            try:
                for packet_type, payload in packets:
                    self.handle_packet(packet_type, payload)
            finally:
                self._writes_pending_in_task = False
            # What the burst produced goes out now, from this task: no hop to the writer.
            if not await self._flush_to_host(transport):
                return

    async def _flush_to_host(self, transport: Transport) -> bool:
        """Write everything queued for the host, one batch per round; False once the host
        has gone. A task finding another one writing leaves the packets to it."""
        if self._writing:
            return True
        self._writing = True
        try:
            while packets := self.take_host_packets():
                sent = transport.send_batch_nowait(packets)
                if sent is not NowaitSend.WRITTEN:
                    await transport.send_batch([] if sent is NowaitSend.PARTIAL else packets)
        except TransportError:
            return False
        finally:
            self._writing = False
        return True

    async def _write_to_host(self, transport: Transport, scope: trio.CancelScope) -> None:
        """Writes what arrives outside the reader's and the timer task's bursts (a test
        calling the controller directly)."""
        while True:
            assert self._host_ready is not None
            await self._host_ready.wait()
            self._host_ready = trio.Event()
            if not await self._flush_to_host(transport):
                scope.cancel()
                return

    async def _run_timers(self, transport: Transport, scope: trio.CancelScope) -> None:
        """Run callbacks as they fall due. One cancel scope lasts until its deadline fires
        or until callbacks produce packets for the host, which this task then writes outside
        the scope (a write cut by a deadline would leave a partial packet); callbacks due at
        once only set an event, so a burst of deliveries costs one wake-up."""
        while True:
            with trio.CancelScope() as timer_scope:
                self._timer_scope = timer_scope
                while True:
                    # A fresh event before the callbacks run, so one that schedules another
                    # callback due at once wakes this task again.
                    wakeup = self._timer_wakeup = trio.Event()
                    self._writes_pending_in_task = True
                    try:
                        self.run_due_timers()
                    finally:
                        self._writes_pending_in_task = False
                    if (self._to_host or self._completed) and not self._writing:
                        break  # (a task writing now sends them as well)
                    timer_scope.deadline = self._timers.next_deadline()
                    await wakeup.wait()
            self._timer_scope = None
            if not await self._flush_to_host(transport):
                scope.cancel()
                return
