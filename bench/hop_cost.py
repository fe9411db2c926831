"""What one inter-actor hop costs: bare Trio channels against the bluetrio Runtime.

Run from the repository root::

    python bench/hop_cost.py             # about 20 s on two cores
    python bench/hop_cost.py --quick     # fewer messages, for a smoke run

Every measurement pushes messages one at a time into the head of a chain and stops the clock
when the last one reaches the tail. The feeding task yields to the scheduler after each
message, the way a transport reader hands packets over, so each hop costs a real task switch
rather than being drained in bulk. Each case is run ``--repeat`` times and the fastest run is
kept (the others only add noise from the machine). Prints a table; passes or fails nothing.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import math
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import attrs
import trio
import trio.testing

# Make ``python bench/hop_cost.py`` work from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bluetrio.actors.effects import Effects, Send
from bluetrio.actors.faults import FaultPolicy
from bluetrio.actors.runtime import Actor, Runtime
from bluetrio.actors.topology import LayerSpec
from bluetrio.messages.base import Batch, Message
from bluetrio.tracing.recorder import TraceRecorder

BATCH_SIZE = 16
CHAIN_LENGTH = 6
FEEDER = "feeder"


@attrs.frozen
class Packet(Message):
    handle: int
    payload: bytes


@attrs.frozen
class PacketBundle(Message):
    """A protocol-level batch: one message carrying many PDUs."""

    handle: int
    payloads: tuple[bytes, ...]


class RelayCore:
    """Passes every message on to the next actor unchanged."""

    def __init__(self, name: str, next_actor: str) -> None:
        self.spec = LayerSpec(name)
        self.next_actor = next_actor

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        return [Send(self.next_actor, message)]

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return []


class SinkCore:
    """Counts packets (a bundle counts for its payloads) and signals when all have arrived."""

    def __init__(self, name: str, expected: int, done: trio.Event) -> None:
        self.spec = LayerSpec(name)
        self.expected = expected
        self.received = 0
        self.done = done

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        self.received += len(message.payloads) if isinstance(message, PacketBundle) else 1
        if self.received >= self.expected:
            self.done.set()
        return []

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return []


# -- bare Trio channels -------------------------------------------------------------------------


async def bare_channel_chain(packets: int, hops: int) -> float:
    """Seconds to push ``packets`` through ``hops`` memory channels, one task per receiver."""
    channels = [trio.open_memory_channel[Packet](math.inf) for _ in range(hops)]
    done = trio.Event()

    async def relay(
        inbox: trio.MemoryReceiveChannel[Packet], outbox: trio.MemorySendChannel[Packet]
    ) -> None:
        async for packet in inbox:
            outbox.send_nowait(packet)

    async def sink(inbox: trio.MemoryReceiveChannel[Packet]) -> None:
        received = 0
        async for _ in inbox:
            received += 1
            if received == packets:
                done.set()

    packet = Packet(0x0040, b"x" * 27)
    async with trio.open_nursery() as nursery:
        for (_, inbox), (outbox, _) in itertools.pairwise(channels):
            nursery.start_soon(relay, inbox, outbox)
        nursery.start_soon(sink, channels[-1][1])
        head = channels[0][0]
        await trio.testing.wait_all_tasks_blocked()
        started = time.perf_counter()
        for _ in range(packets):
            await head.send(packet)  # send() yields to the scheduler, like a transport reader
        await done.wait()
        elapsed = time.perf_counter() - started
        nursery.cancel_scope.cancel()
    return elapsed


# -- the bluetrio Runtime -----------------------------------------------------------------------


@attrs.frozen
class RuntimeCase:
    hops: int = 2
    tracing: bool = False
    faults: bool = False
    batch: int = 1  # >1: runtime Batch of this many packets per send from the feeder
    bundle: int = 1  # >1: one PacketBundle message carrying this many payloads


async def runtime_chain(packets: int, case: RuntimeCase) -> float:
    """Seconds to push ``packets`` from a feeder task through a chain of ``case.hops`` actors.

    The feeder's send into the first actor is the first hop; each actor's Send effect to the
    next is another, so a chain of k actors is k hops.
    """
    faults = idle_fault_policy() if case.faults else None
    runtime = Runtime(tracer=TraceRecorder() if case.tracing else None, faults=faults)
    done = trio.Event()
    names = [f"actor{index}" for index in range(case.hops)]
    for name, next_name in itertools.pairwise(names):
        runtime.add(Actor(RelayCore(name, next_name)))
    runtime.add(Actor(SinkCore(names[-1], packets, done)))

    per_send = max(case.batch, case.bundle)
    sends = packets // per_send
    message: Message
    if case.bundle > 1:
        message = PacketBundle(0x0040, (b"x" * 27,) * case.bundle)
    elif case.batch > 1:
        message = Batch((Packet(0x0040, b"x" * 27),) * case.batch)
    else:
        message = Packet(0x0040, b"x" * 27)

    send = runtime.send
    first = names[0]
    checkpoint = trio.lowlevel.checkpoint
    async with trio.open_nursery() as nursery:
        await nursery.start(runtime.run)
        await trio.testing.wait_all_tasks_blocked()
        started = time.perf_counter()
        for _ in range(sends):
            send(FEEDER, first, message)
            await checkpoint()  # hand over to the actors, as a transport reader task would
        await done.wait()
        elapsed = time.perf_counter() - started
        nursery.cancel_scope.cancel()
    return elapsed


# -- direct calls: how a callback-layered stack such as Bumble passes a packet up ---------------


def direct_call_chain(packets: int, hops: int) -> float:
    received = 0

    def sink(packet: Packet) -> None:
        nonlocal received
        received += 1

    def layer(upper: Callable[[Packet], None]) -> Callable[[Packet], None]:
        def on_packet(packet: Packet) -> None:
            upper(packet)

        return on_packet

    entry: Callable[[Packet], None] = sink
    for _ in range(hops - 1):
        entry = layer(entry)
    packet = Packet(0x0040, b"x" * 27)
    started = time.perf_counter()
    for _ in range(packets):
        entry(packet)
    elapsed = time.perf_counter() - started
    assert received == packets
    return elapsed


# -- the send side alone, without scheduling ---------------------------------------------------


SEND_CHUNK = 1_000


def send_side_cost(sends: int, runtime: Runtime | None) -> float:
    """Seconds per synchronous send into one inbox (``runtime=None``: a bare channel).

    Isolates what the choke point adds (flight recorder, tracer, fault policy) from the task
    switch, which dominates a real hop and hides small differences. The sends are timed in
    chunks and the fastest chunk counts, so that other processes on the machine do not.
    """

    async def run() -> float:
        packet = Packet(0x0040, b"x" * 27)
        send: Callable[[], None]
        if runtime is None:
            send_channel, _receive_channel = trio.open_memory_channel[object](math.inf)
            item = (FEEDER, packet, 0)
            send = functools.partial(send_channel.send_nowait, item)
        else:
            runtime.add(Actor(SinkCore("sink", sends, trio.Event())))
            send = functools.partial(runtime.send, FEEDER, "sink", packet)
        fastest = math.inf
        for _ in range(sends // SEND_CHUNK):
            started = time.perf_counter()
            for _ in range(SEND_CHUNK):
                send()
            fastest = min(fastest, time.perf_counter() - started)
        return fastest / SEND_CHUNK

    return trio.run(run)


def idle_fault_policy() -> FaultPolicy:
    faults = FaultPolicy()
    faults.drop(lambda hop: False)  # consulted on every hop, never fires
    return faults


# -- the table ----------------------------------------------------------------------------------


def best_of(repeat: int, measure: Callable[[], float]) -> float:
    return min(measure() for _ in range(repeat))


def in_trio(run: Callable[[], Awaitable[float]]) -> Callable[[], float]:
    return lambda: trio.run(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=20_000, help="packets per measurement")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the best is kept")
    parser.add_argument("--quick", action="store_true", help="2,000 packets, one run each")
    args = parser.parse_args()
    packets = 2_000 if args.quick else args.packets
    repeat = 1 if args.quick else args.repeat
    packets -= packets % BATCH_SIZE

    rows: list[tuple[str, int, float]] = []  # (label, hops, seconds)

    def measure(label: str, hops: int, run: Callable[[], float]) -> None:
        seconds = best_of(repeat, run)
        rows.append((label, hops, seconds))

    measure(
        "(a) bare channel, 1 hop", 1, in_trio(functools.partial(bare_channel_chain, packets, 1))
    )
    for label, case in (
        ("(b) runtime, 2 actors, tracing off", RuntimeCase()),
        ("(c) runtime, 2 actors, TraceRecorder", RuntimeCase(tracing=True)),
        ("(d) runtime, 2 actors, idle FaultPolicy", RuntimeCase(faults=True)),
        (f"(e) runtime, 2 actors, Batch of {BATCH_SIZE}", RuntimeCase(batch=BATCH_SIZE)),
    ):
        measure(label, case.hops, in_trio(functools.partial(runtime_chain, packets, case)))
    six = CHAIN_LENGTH
    measure(
        f"(f) bare channels, {six} hops",
        six,
        in_trio(functools.partial(bare_channel_chain, packets, six)),
    )
    for label, case in (
        (f"(f) runtime, {six} actors", RuntimeCase(hops=six)),
        (f"(f) runtime, {six} actors, Batch of {BATCH_SIZE}", RuntimeCase(six, batch=BATCH_SIZE)),
        (
            f"(f) runtime, {six} actors, bundles of {BATCH_SIZE}",
            RuntimeCase(six, bundle=BATCH_SIZE),
        ),
    ):
        measure(label, case.hops, in_trio(functools.partial(runtime_chain, packets, case)))
    measure(f"(g) {six} direct calls (no hop)", six, lambda: direct_call_chain(packets, six))

    bare_hop = rows[0][2] / packets
    print(f"\n{packets} packets per case, best of {repeat}; per hop = time / (packets x hops)\n")
    print(f"{'case':<44} {'µs/packet':>10} {'µs/hop':>8} {'x (a)':>7} {'packets/s':>11}")
    for label, hops, seconds in rows:
        per_packet = seconds / packets
        per_hop = per_packet / hops
        print(
            f"{label:<44} {per_packet * 1e6:>10.2f} {per_hop * 1e6:>8.2f} "
            f"{per_hop / bare_hop:>7.2f} {packets / seconds:>11,.0f}"
        )

    sends = packets * 5
    print(f"\nsend side only, no task switch ({sends} sends into one inbox, fastest chunk)\n")
    print(f"{'case':<44} {'ns/send':>10} {'x bare':>7}")
    send_rows = (
        ("bare send_nowait", lambda: send_side_cost(sends, None)),
        ("Runtime.send, tracing off", lambda: send_side_cost(sends, Runtime())),
        (
            "Runtime.send, TraceRecorder",
            lambda: send_side_cost(sends, Runtime(tracer=TraceRecorder())),
        ),
        (
            "Runtime.send, idle FaultPolicy",
            lambda: send_side_cost(sends, Runtime(faults=idle_fault_policy())),
        ),
    )
    bare_send = 0.0
    for label, run in send_rows:
        per_send = best_of(repeat, run)
        bare_send = bare_send or per_send
        print(f"{label:<44} {per_send * 1e9:>10.0f} {per_send / bare_send:>7.2f}")


if __name__ == "__main__":
    main()
