"""Bursts cross every hop once: transports frame and write many packets per call, actors send
one hop per destination per wake-up, the virtual controller coalesces its completions."""

from __future__ import annotations

import socket as stdlib_socket
import struct
from collections.abc import Sequence

import attrs
import pytest
import trio
import trio.testing
from test_controller_le import two_hosts  # the neighbouring module: two hosts on one air

from bluetrio.actors.app_port import AppPort
from bluetrio.actors.btm.core import BtmCore
from bluetrio.actors.effects import Effects, Send, StartTimer, TimerExpired, TimerKey
from bluetrio.actors.hci.core import HciCore, TransportWrite
from bluetrio.actors.hci.shell import HciActor
from bluetrio.actors.runtime import Actor, Runtime
from bluetrio.actors.topology import LayerSpec
from bluetrio.controller import Air, VirtualController
from bluetrio.controller.harness import connect
from bluetrio.errors import StackError
from bluetrio.messages import hci
from bluetrio.messages.base import Batch, Message
from bluetrio.messages.packets import PacketType
from bluetrio.tracing.recorder import TraceRecorder
from bluetrio.transports.base import NowaitSend, Packet, Transport
from bluetrio.transports.h4 import H4Role, encode
from bluetrio.transports.stream import H4StreamTransport
from bluetrio.transports.virtual import transport_pair

RESET_COMPLETE = bytes.fromhex("0e0401030c00")


def acl(handle: int, data: bytes) -> bytes:
    return struct.pack("<HH", handle | 0x2000, len(data)) + data


# -- transports --------------------------------------------------------------------------


class CountingStream(trio.abc.HalfCloseableStream):
    """A stream that counts ``send_all`` calls and keeps what they sent."""

    def __init__(self, incoming: bytes = b"") -> None:
        self.writes: list[bytes] = []
        self.incoming = incoming

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))
        await trio.lowlevel.checkpoint()

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        data, self.incoming = self.incoming, b""
        return data

    async def send_eof(self) -> None:
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


async def test_stream_frames_every_whole_packet_of_one_read() -> None:
    # A host frames data only for a handle the controller announced (Connection Complete).
    connected = bytes.fromhex("030b000100665544332211" + "0100")
    packets = [(PacketType.EVENT, RESET_COMPLETE), (PacketType.EVENT, connected)] + [
        (PacketType.ACL, acl(1, bytes([n]) * 30)) for n in range(20)
    ]
    wire = b"".join(encode(kind, payload) for kind, payload in packets)
    # The read ends mid-packet: the partial one waits for the rest.
    stream = CountingStream(wire + encode(PacketType.ACL, acl(1, b"x" * 30))[:10])
    transport = H4StreamTransport(stream)
    assert await transport.receive_batch() == packets
    assert transport._framer.buffered_bytes == 10


async def test_stream_writes_a_batch_with_one_send_all() -> None:
    stream = CountingStream()
    transport = H4StreamTransport(stream, role=H4Role.CONTROLLER)
    packets: list[Packet] = [(PacketType.ACL, acl(2, bytes([n]) * 8)) for n in range(10)]
    await transport.send_batch(packets)
    assert stream.writes == [b"".join(encode(kind, payload) for kind, payload in packets)]


async def test_memory_transport_moves_batches_in_order_with_backpressure() -> None:
    host, controller = transport_pair(capacity=4)
    packets: list[Packet] = [(PacketType.ACL, acl(3, bytes([n]))) for n in range(10)]
    received: list[Packet] = []

    async def receive_all() -> None:
        while len(received) < len(packets):
            received.extend(await controller.receive_batch())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receive_all)
        await host.send_batch(packets)  # more than the capacity: waits for the receiver
    assert received == packets


async def test_memory_transport_batch_holds_everything_already_arrived() -> None:
    host, controller = transport_pair()
    for n in range(5):
        await host.send(PacketType.ACL, acl(3, bytes([n])))
    batch = await controller.receive_batch()
    assert [payload[-1] for _, payload in batch] == list(range(5))


# -- the runtime -------------------------------------------------------------------------


@attrs.frozen
class Item(Message):
    number: int


class FanOutCore:
    """Each Item in makes two Items for ``sink`` and one for ``other``."""

    def __init__(self, name: str = "fan") -> None:
        self.spec = LayerSpec(name)

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        assert isinstance(message, Item)
        n = message.number
        return [Send("sink", Item(2 * n)), Send("other", Item(n)), Send("sink", Item(2 * n + 1))]

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return []


class RecordingActor(Actor):
    """Keeps every hop it receives, Batch or single message, as it arrived."""

    def __init__(self, name: str) -> None:
        super().__init__(FanOutCore(name))
        self.hops: list[Message] = []
        self.arrived = trio.Event()

    def deliver(self, item: tuple[str, Message, int], now: float) -> None:
        super().deliver(item, now)
        self.hops.append(item[1])
        self.arrived.set()

    def dispatch(self, sender: str, message: Message, now: float) -> None:
        pass


def unpacked(hops: list[Message]) -> list[Message]:
    return [m for hop in hops for m in (hop.messages if isinstance(hop, Batch) else (hop,))]


async def run_fan_out(runtime: Runtime) -> tuple[RecordingActor, RecordingActor]:
    runtime.add(Actor(FanOutCore()))
    sink, other = RecordingActor("sink"), RecordingActor("other")
    runtime.add(sink)
    runtime.add(other)
    async with trio.open_nursery() as nursery:
        await nursery.start(runtime.run)
        # Three items queued before the actor runs: they are one wake-up.
        runtime.send_many("test", "fan", [Item(1), Item(2), Item(3)])
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    return sink, other


async def test_one_wakeup_sends_one_hop_per_destination_in_order() -> None:
    runtime = Runtime()
    sink, other = await run_fan_out(runtime)
    assert len(sink.hops) == 1 and len(other.hops) == 1
    assert unpacked(sink.hops) == [Item(n) for n in (2, 3, 4, 5, 6, 7)]
    assert unpacked(other.hops) == [Item(1), Item(2), Item(3)]
    # The flight recorder still names every message.
    assert sum("Item(number=" in line for line in runtime.flight_recorder_lines()) == 12


async def test_with_a_tracer_every_message_is_its_own_traced_hop() -> None:
    tracer = TraceRecorder()
    sink, _ = await run_fan_out(Runtime(tracer=tracer))
    assert not any(isinstance(hop, Batch) for hop in sink.hops)
    assert unpacked(sink.hops) == [Item(n) for n in (2, 3, 4, 5, 6, 7)]


# -- the HCI shell -----------------------------------------------------------------------


class RecordingTransport(Transport):
    """Counts send_batch calls; receives nothing until closed."""

    def __init__(self) -> None:
        self.batches: list[list[Packet]] = []
        self.incoming = trio.Event()

    async def send(self, packet_type: PacketType, payload: bytes) -> None:
        raise AssertionError("the HCI shell writes batches")

    async def send_batch(self, packets: Sequence[Packet]) -> None:
        self.batches.append(list(packets))
        await trio.lowlevel.checkpoint()

    async def receive(self) -> Packet:
        await trio.sleep_forever()
        raise AssertionError

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


class WritingCore(HciCore):
    """An HCI core that answers each Item with a TransportWrite."""

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        if isinstance(message, Item):
            return [TransportWrite(PacketType.ACL, acl(1, bytes([message.number])))]
        return super().handle(sender, message, now)


async def test_hci_shell_writes_one_wakeups_packets_in_one_batch() -> None:
    transport = RecordingTransport()
    runtime = Runtime()
    runtime.add(HciActor(WritingCore(), transport))
    runtime.add(Actor(BtmCore()))  # owns what hci emits
    runtime.add(AppPort())
    async with trio.open_nursery() as nursery:
        await nursery.start(runtime.run)
        runtime.send_many("app", "hci", [Item(n) for n in range(6)])
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert [[payload[-1] for _, payload in batch] for batch in transport.batches] == [
        list(range(6))
    ]


# -- the virtual controller --------------------------------------------------------------


async def test_controller_reports_a_bursts_completions_in_one_event(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_hosts() as (central, peripheral, _):
        handle, _ = await connect(central, peripheral)
        central.events.clear()
        await central.transport.send_batch(
            [(PacketType.ACL, acl(handle, bytes([n]) * 20)) for n in range(5)]
        )
        event = await central.expect(hci.NumberOfCompletedPackets)
        assert event == struct.pack("<BHH", 1, handle, 5)
        for n in range(5):
            assert (await peripheral.take_acl())[4:] == bytes([n]) * 20


def test_completions_of_many_handles_split_at_the_event_limit() -> None:
    controller = VirtualController(Air())
    controller._completed = {handle: 1 for handle in range(1, 101)}
    events = [payload for kind, payload in controller.take_host_packets()]
    assert len(events) == 2
    counts = [event[2] for event in events]  # Num_Handles after code and length
    assert counts == [63, 37]
    assert all(event[0] == hci.NumberOfCompletedPackets.EVENT_CODE for event in events)


async def test_socket_stream_writes_from_synchronous_code_in_order() -> None:
    ours, theirs = trio.socket.socketpair()
    ours.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_SNDBUF, 4096)
    transport = H4StreamTransport(trio.SocketStream(ours), role=H4Role.CONTROLLER)
    packets: list[Packet] = []
    results = []
    # Fill the socket until it cannot take a whole batch at once.
    for n in range(10_000):
        batch: list[Packet] = [(PacketType.ACL, acl(1, bytes([n % 256]) * 200))]
        result = transport.send_batch_nowait(batch)
        results.append(result)
        if result is NowaitSend.REFUSED:
            break
        packets += batch
        if result is NowaitSend.PARTIAL:
            # Taken: the rest waits for the next send_batch; nothing may overtake it.
            assert transport.send_batch_nowait(batch) is NowaitSend.REFUSED
            break
    assert results[0] is NowaitSend.WRITTEN and results[-1] is not NowaitSend.WRITTEN
    last: list[Packet] = [(PacketType.EVENT, RESET_COMPLETE)]
    expected = b"".join(encode(kind, payload) for kind, payload in packets + last)
    received = bytearray()

    async def read_all() -> None:
        while len(received) < len(expected):
            received.extend(await theirs.recv(65536))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_all)
        await transport.send_batch(last)
    assert bytes(received) == expected
    theirs.close()
    await transport.aclose()


async def test_streams_without_a_socket_refuse_synchronous_writes() -> None:
    transport = H4StreamTransport(CountingStream())
    assert transport.send_batch_nowait([(PacketType.COMMAND, b"\x03\x0c\x00")]) is (
        NowaitSend.REFUSED
    )


class ArmingCore:
    """An Item arms a timer one second out; its expiry is reported to ``sink``."""

    spec = LayerSpec("arming")

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        if isinstance(message, TimerExpired):
            return [Send("sink", Item(-1))]
        assert isinstance(message, Item)
        return [StartTimer(TimerKey("item", "t"), now + 1.0), Send("sink", message)]

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return []


async def arming_runtime(nursery: trio.Nursery) -> tuple[Runtime, Actor, RecordingActor]:
    runtime = Runtime()
    arming, sink = Actor(ArmingCore()), RecordingActor("sink")
    runtime.add(arming)
    runtime.add(sink)
    await nursery.start(runtime.run)
    await trio.testing.wait_all_tasks_blocked()  # the loops wait, no timer armed
    return runtime, arming, sink


async def wait_for_expiry(sink: RecordingActor) -> None:
    with trio.fail_after(5):
        while Item(-1) not in unpacked(sink.hops):
            await sink.arrived.wait()
            sink.arrived = trio.Event()


async def test_handle_now_runs_in_the_caller_and_arms_timers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        runtime, arming, sink = await arming_runtime(nursery)
        arming.handle_now("test", [Item(1), Item(2)])
        # Handled already, before the actor's own task ran: one hop to the sink...
        assert runtime.flight_recorder_lines()[-1].split()[1:4] == ["arming", "->", "sink"]
        # ...and the timer armed meanwhile fires although the loop waited without a deadline.
        await wait_for_expiry(sink)
        nursery.cancel_scope.cancel()
    assert unpacked(sink.hops) == [Item(1), Item(2), Item(-1)]


async def test_handle_now_never_overtakes_what_was_sent_before(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        runtime, arming, sink = await arming_runtime(nursery)
        runtime.send("test", "arming", Item(1))  # handed to the loop, which has not run yet
        arming.handle_now("test", [Item(2), Item(3)])
        await wait_for_expiry(sink)
        nursery.cancel_scope.cancel()
    assert unpacked(sink.hops) == [Item(1), Item(2), Item(3), Item(-1)]


class SummingCore:
    """Adds up the Items of one wake-up and reports the sum to ``sink`` when it ends (a core
    with the runtime's wake-up hooks)."""

    spec = LayerSpec("summing")

    def __init__(self) -> None:
        self.begun = self.ended = 0
        self.total = 0

    def begin_wakeup(self) -> None:
        self.begun += 1

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        assert isinstance(message, Item)
        self.total += message.number
        return [Send("sink", message)]

    def end_wakeup(self, now: float) -> Effects:
        self.ended += 1
        total, self.total = self.total, 0
        return [Send("sink", Item(100 + total))]

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return []


async def test_a_core_with_wakeup_hooks_works_once_per_wakeup() -> None:
    core = SummingCore()
    runtime = Runtime()
    runtime.add(Actor(core))
    sink = RecordingActor("sink")
    runtime.add(sink)
    async with trio.open_nursery() as nursery:
        await nursery.start(runtime.run)
        runtime.send_many("test", "summing", [Item(1), Item(2), Item(3)])
        await trio.testing.wait_all_tasks_blocked()
        runtime.actor("summing").handle_now("test", [Item(4)])
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert (core.begun, core.ended) == (2, 2)
    # What the end of a wake-up produced leaves in the same hop as the rest of the wake-up.
    assert len(sink.hops) == 2
    assert unpacked(sink.hops) == [Item(1), Item(2), Item(3), Item(106), Item(4), Item(104)]


class RelayCore:
    """Item n goes on to each of ``targets`` (as Item(n + step * place)); records the task it
    ran in and what it got."""

    def __init__(self, name: str, *targets: str, step: int = 10) -> None:
        self.spec = LayerSpec(name)
        self.targets = targets
        self.step = step
        self.got: list[Message] = []
        self.tasks: list[trio.lowlevel.Task] = []

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        assert isinstance(message, Item)
        self.got.append(message)
        self.tasks.append(trio.lowlevel.current_task())
        n = message.number
        return [Send(to, Item(n + self.step * i)) for i, to in enumerate(self.targets, 1)]

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return []


def relay_runtime(*cores: RelayCore) -> Runtime:
    runtime = Runtime()
    for core in cores:
        runtime.add(Actor(core))
    return runtime


async def test_an_idle_receiver_handles_a_wakeups_output_in_the_senders_task() -> None:
    head, tail = RelayCore("head", "tail"), RelayCore("tail")
    runtime = relay_runtime(head, tail)
    async with trio.open_nursery() as nursery:
        await nursery.start(runtime.run)
        runtime.send_many("test", "head", [Item(1), Item(2)])
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert tail.got == [Item(11), Item(12)]
    # No hop: the tail ran in the head's task, in the head's wake-up's end.
    assert tail.tasks == head.tasks


async def test_a_receiver_answering_at_once_never_overtakes_the_senders_output() -> None:
    # head sends to "middle" and then to "last"; middle, handled at once, sends on to last.
    head = RelayCore("head", "middle", "last")
    middle, last = RelayCore("middle", "last", step=100), RelayCore("last")
    runtime = relay_runtime(head, middle, last)
    async with trio.open_nursery() as nursery:
        await nursery.start(runtime.run)
        runtime.send("test", "head", Item(1))
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    # What head sent last comes before what middle made of head's first message.
    assert middle.got == [Item(11)]
    assert last.got == [Item(21), Item(111)]
    assert last.tasks[0] is head.tasks[0] and last.tasks[1] is not head.tasks[0]


class TaskSteps(trio.abc.Instrument):
    """Counts the steps (task switches into it) of one task."""

    def __init__(self) -> None:
        self.task: trio.lowlevel.Task | None = None
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task is self.task:
            self.steps += 1


async def test_a_socket_read_wakes_the_reader_once() -> None:
    ours, theirs = trio.socket.socketpair()
    transport = H4StreamTransport(trio.SocketStream(ours), role=H4Role.CONTROLLER)
    steps = TaskSteps()
    batches: list[list[Packet]] = []

    async def reader() -> None:
        steps.task = trio.lowlevel.current_task()
        for _ in range(3):
            batches.append(await transport.receive_batch())

    trio.lowlevel.add_instrument(steps)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await trio.testing.wait_all_tasks_blocked()
            for n in range(3):
                await theirs.send(encode(PacketType.EVENT, RESET_COMPLETE) * (n + 1))
                await trio.testing.wait_all_tasks_blocked()
    finally:
        trio.lowlevel.remove_instrument(steps)
    assert [len(batch) for batch in batches] == [1, 2, 3]
    # One step per read (its first, which names the task, is not counted): the transport's
    # lock adds no schedule point of its own.
    assert steps.steps == 3


async def test_send_now_runs_an_idle_actor_in_the_callers_task() -> None:
    head, tail = RelayCore("head", "tail"), RelayCore("tail")
    runtime = relay_runtime(head, tail)
    async with trio.open_nursery() as nursery:
        await nursery.start(runtime.run)
        await trio.testing.wait_all_tasks_blocked()
        runtime.send_now("app", "head", [Item(1), Item(2)])
        # Handled before this task yielded, by this task, and so was what head sent on.
        assert head.got == [Item(1), Item(2)] and tail.got == [Item(11), Item(12)]
        assert head.tasks[0] is trio.lowlevel.current_task() is tail.tasks[0]
        # Behind a queued message it waits its turn in the inbox.
        runtime.send("app", "head", Item(3))
        runtime.send_now("app", "head", [Item(4)])
        assert head.got == [Item(1), Item(2)]
        await trio.testing.wait_all_tasks_blocked()
        assert head.got == [Item(n) for n in (1, 2, 3, 4)]
        nursery.cancel_scope.cancel()


class FailingCore:
    spec = LayerSpec("failing")

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        raise ValueError("broken core")

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return []


async def test_a_failure_under_send_now_stops_the_stack_and_breaks_the_caller() -> None:
    runtime = Runtime()
    runtime.add(Actor(FailingCore()))
    stopped: tuple[BaseException, ...] = ()
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(runtime.run)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.BrokenResourceError, match="broken core"):
                runtime.send_now("app", "failing", [Item(1)])
            await trio.sleep_forever()  # the runtime ends with the actor's failure
    except* StackError as group:
        stopped = group.exceptions
    assert len(stopped) == 1 and "broken core" in str(stopped[0])
