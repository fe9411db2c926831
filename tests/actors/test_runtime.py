"""The actor runtime: addressing, timers on the Trio clock, containment, faults, tracing."""

from __future__ import annotations

import time

import attrs
import pytest
import trio
import trio.testing

from bluetrio.actors.app_port import AppPort
from bluetrio.actors.effects import (
    CancelTimer,
    ConnectionFaultInd,
    Effects,
    Emit,
    ReleaseTimers,
    Send,
    StartTimer,
    TimerExpired,
    TimerKey,
)
from bluetrio.actors.faults import FaultPolicy
from bluetrio.actors.runtime import Actor, Runtime
from bluetrio.actors.topology import LayerSpec
from bluetrio.errors import StackError, TopologyError
from bluetrio.messages.base import Batch, Message
from bluetrio.tracing.recorder import TraceRecorder


@attrs.frozen
class Ping(Message):
    token: int
    value: int


@attrs.frozen
class Pong(Message):
    token: int
    value: int


@attrs.frozen
class LinkData(Message):
    handle: int
    payload: bytes


@attrs.frozen
class ArmReq(Message):
    token: int
    owner: str
    name: str
    delay: float


@attrs.frozen
class CancelReq(Message):
    owner: str
    name: str


@attrs.frozen
class ReleaseReq(Message):
    owner: str


@attrs.frozen
class Expired(Message):
    owner: object
    name: str
    at: float


class EchoCore:
    """Answers Ping with Pong(value + 1); raises on LinkData with an empty payload, or on a
    Ping with a negative value (which belongs to no connection)."""

    spec = LayerSpec("echo", handles=(Ping, LinkData, ArmReq, CancelReq, ReleaseReq))

    def __init__(self) -> None:
        self.dropped: list[int] = []
        self.seen: list[Message] = []

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        self.seen.append(message)
        if isinstance(message, Ping):
            if message.value < 0:
                raise ValueError("negative ping")
            return [Send(sender, Pong(message.token, message.value + 1))]
        if isinstance(message, LinkData):
            if not message.payload:
                raise ValueError("empty payload")
            return [Send("app", message)]
        if isinstance(message, ArmReq):
            key = TimerKey(message.owner, message.name)
            return [StartTimer(key, now + message.delay), Send(sender, Pong(message.token, 0))]
        if isinstance(message, CancelReq):
            return [CancelTimer(TimerKey(message.owner, message.name))]
        if isinstance(message, ReleaseReq):
            return [ReleaseTimers(message.owner)]
        if isinstance(message, TimerExpired):
            return [Send("app", Expired(message.key.owner, message.key.name, now))]
        return []

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        self.dropped.append(handle)
        return []


class LinkManagerCore:
    spec = LayerSpec("manager", handles=(ConnectionFaultInd,))

    def __init__(self) -> None:
        self.faults: list[ConnectionFaultInd] = []

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        if isinstance(message, ConnectionFaultInd):
            self.faults.append(message)
        return []

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return []


def make_runtime(**kwargs: object) -> tuple[Runtime, AppPort, EchoCore, LinkManagerCore]:
    runtime = Runtime(**kwargs)  # type: ignore[arg-type]
    app = AppPort()
    echo = EchoCore()
    manager = LinkManagerCore()
    runtime.add(Actor(manager))
    runtime.add(Actor(echo))
    runtime.add(app)
    return runtime, app, echo, manager


async def test_request_reply_through_the_runtime() -> None:
    runtime, app, _echo, _ = make_runtime()
    async with trio.open_nursery() as nursery:
        await nursery.start(runtime.run)
        reply = await app.request("echo", Ping(runtime.new_token(), 41))
        assert reply == Pong(1, 42)
        nursery.cancel_scope.cancel()


async def test_batch_is_unpacked_in_order() -> None:
    runtime, app, _echo, _ = make_runtime()
    async with trio.open_nursery() as nursery:
        await nursery.start(runtime.run)
        received = app.open_mailbox(LinkData)
        batch = Batch(tuple(LinkData(1, bytes([i])) for i in range(1, 6)))
        app.send("echo", batch)
        got = [await received.receive() for _ in range(5)]
        assert [m.payload for m in got] == [bytes([i]) for i in range(1, 6)]  # type: ignore[attr-defined]
        nursery.cancel_scope.cancel()


def test_thirty_virtual_seconds_take_milliseconds() -> None:
    clock = trio.testing.MockClock(autojump_threshold=0)
    started = time.perf_counter()
    expired_at: list[float] = []

    async def scenario() -> None:
        runtime, app, _, _ = make_runtime()
        async with trio.open_nursery() as nursery:
            await nursery.start(runtime.run)
            expiries = app.open_mailbox(Expired)
            t0 = trio.current_time()
            await app.request("echo", ArmReq(runtime.new_token(), "smp", "pairing", 30.0))
            expired = await expiries.receive()
            assert isinstance(expired, Expired)
            expired_at.append(expired.at - t0)
            nursery.cancel_scope.cancel()

    trio.run(scenario, clock=clock)
    assert expired_at == [pytest.approx(30.0)]
    # Not a timing assertion on the code under test: the scenario must not have slept the 30 s
    # it simulated. Only that is checked, so a loaded machine cannot fail it.
    assert time.perf_counter() - started < 30.0


def test_restart_cancel_and_release() -> None:
    clock = trio.testing.MockClock(autojump_threshold=0)
    log: list[tuple[object, str, float]] = []

    async def scenario() -> None:
        runtime, app, _, _ = make_runtime()
        async with trio.open_nursery() as nursery:
            await nursery.start(runtime.run)
            expiries = app.open_mailbox(Expired)
            t0 = trio.current_time()
            token = runtime.new_token
            await app.request("echo", ArmReq(token(), "ccb1", "rtx", 1.0))
            await app.request("echo", ArmReq(token(), "ccb1", "ertx", 2.0))
            await app.request("echo", ArmReq(token(), "ccb2", "rtx", 3.0))
            await app.request("echo", ArmReq(token(), "ccb3", "t1", 4.0))
            # Restart ccb1/rtx to 5 s, cancel ccb2/rtx, release every timer of ccb1 later.
            await app.request("echo", ArmReq(token(), "ccb1", "rtx", 5.0))
            app.send("echo", CancelReq("ccb2", "rtx"))
            with trio.move_on_after(4.5):
                while True:
                    expired = await expiries.receive()
                    assert isinstance(expired, Expired)
                    log.append((expired.owner, expired.name, expired.at - t0))
            app.send("echo", ReleaseReq("ccb1"))
            with trio.move_on_after(10):
                expired = await expiries.receive()
                log.append(("unexpected", "", 0.0))
            nursery.cancel_scope.cancel()

    trio.run(scenario, clock=clock)
    assert log == [("ccb1", "ertx", pytest.approx(2.0)), ("ccb3", "t1", pytest.approx(4.0))]


async def test_exception_on_a_connection_tears_down_only_that_connection() -> None:
    runtime, app, echo, manager = make_runtime()
    async with trio.open_nursery() as nursery:
        await nursery.start(runtime.run)
        data = app.open_mailbox(LinkData)
        app.send("echo", LinkData(0x0040, b""))  # makes the core raise
        app.send("echo", LinkData(0x0041, b"ok"))
        assert await data.receive() == LinkData(0x0041, b"ok")
        await trio.testing.wait_all_tasks_blocked()
        assert echo.dropped == [0x0040]
        assert [f.handle for f in manager.faults] == [0x0040]
        assert "empty payload" in manager.faults[0].reason
        # The stack goes on.
        token = runtime.new_token()
        assert await app.request("echo", Ping(token, 1)) == Pong(token, 2)
        nursery.cancel_scope.cancel()


async def test_exception_outside_a_connection_stops_the_stack_with_flight_recorder() -> None:
    runtime, app, _, _ = make_runtime()
    with pytest.RaisesGroup(StackError) as info:
        async with trio.open_nursery() as nursery:
            await nursery.start(runtime.run)
            app.send("echo", Ping(runtime.new_token(), 7))
            app.send("echo", Ping(runtime.new_token(), -1))
            await trio.sleep_forever()
    error = info.value.exceptions[0]
    assert isinstance(error, StackError)
    assert "negative ping" in str(error)
    assert any("Ping(token=1, value=7)" in line for line in error.flight_recorder)
    assert "last messages" in str(error)


async def test_flight_recorder_is_bounded() -> None:
    runtime, app, _, _ = make_runtime(flight_recorder_size=4)
    async with trio.open_nursery() as nursery:
        await nursery.start(runtime.run)
        for i in range(10):
            await app.request("echo", Ping(runtime.new_token(), i))
        assert len(runtime.flight_recorder_lines()) == 4
        nursery.cancel_scope.cancel()


def test_fault_drop_duplicate_replace_delay() -> None:
    clock = trio.testing.MockClock(autojump_threshold=0)
    received: list[tuple[bytes, float]] = []
    faults = FaultPolicy()
    faults.drop(lambda hop: getattr(hop.message, "payload", None) == b"drop", times=1)
    faults.duplicate(lambda hop: getattr(hop.message, "payload", None) == b"dup", times=1)
    faults.replace(
        lambda hop: getattr(hop.message, "payload", None) == b"old",
        lambda m: attrs.evolve(m, payload=b"new"),  # type: ignore[misc]
    )
    faults.delay(
        lambda hop: hop.to == "echo" and getattr(hop.message, "payload", None) == b"late",
        seconds=7.0,
    )

    async def scenario() -> None:
        runtime, app, _, _ = make_runtime(faults=faults)
        async with trio.open_nursery() as nursery:
            await nursery.start(runtime.run)
            data = app.open_mailbox(LinkData)
            t0 = trio.current_time()
            for payload in (b"drop", b"late", b"dup", b"old", b"end"):
                app.send("echo", LinkData(1, payload))
            for _ in range(5):
                message = await data.receive()
                assert isinstance(message, LinkData)
                received.append((message.payload, trio.current_time() - t0))
            nursery.cancel_scope.cancel()

    trio.run(scenario, clock=clock)
    assert [p for p, _ in received] == [b"dup", b"dup", b"new", b"end", b"late"]
    assert received[-1][1] == pytest.approx(7.0)
    assert any(entry.startswith("drop") for entry in faults.log)


async def test_killing_an_actor_stops_the_stack_with_a_clear_error() -> None:
    faults = FaultPolicy()
    runtime, app, _, _ = make_runtime(faults=faults)
    with pytest.RaisesGroup(pytest.RaisesExc(StackError, match="actor 'echo' was killed")):
        async with trio.open_nursery() as nursery:
            await nursery.start(runtime.run)
            await app.request("echo", Ping(runtime.new_token(), 1))
            faults.kill("echo")
            await trio.sleep_forever()


async def test_sending_to_an_unknown_actor_is_a_stack_error() -> None:
    runtime, app, _, _ = make_runtime()
    async with trio.open_nursery() as nursery:
        await nursery.start(runtime.run)
        with pytest.raises(StackError, match="not an actor of this stack"):
            app.send("nobody", Ping(1, 1))
        nursery.cancel_scope.cancel()


async def test_tracing_records_send_and_receive() -> None:
    tracer = TraceRecorder()
    runtime, app, _, _ = make_runtime(tracer=tracer)
    async with trio.open_nursery() as nursery:
        await nursery.start(runtime.run)
        await app.request("echo", Ping(runtime.new_token(), 1))
        nursery.cancel_scope.cancel()
    events = tracer.events()
    assert [(e.sender, e.receiver, e.message_type) for e in events] == [
        ("app", "echo", "Ping"),
        ("echo", "app", "Pong"),
    ]
    assert all(e.received_at is not None and e.received_at >= e.sent_at for e in events)


def test_trace_limit_counts_what_it_did_not_record() -> None:
    tracer = TraceRecorder(limit=2)
    for value in range(5):
        tracer.record_send(0.0, "app", "echo", Ping(value, value))
    assert len(tracer) == 2
    assert tracer.unrecorded == 3


@attrs.frozen
class NewsInd(Message):
    value: int


class NewsCore:
    """Emits NewsInd(value) for every Ping; whoever subscribes gets it, in declared order."""

    spec = LayerSpec("news", handles=(Ping,), emits=(NewsInd,))

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        assert isinstance(message, Ping)
        return [Emit(NewsInd(message.value))]

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return []


class ReaderCore:
    def __init__(self, name: str, log: list[tuple[str, Message]]) -> None:
        self.spec = LayerSpec(name, subscribes=(NewsInd,))
        self.log = log

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        self.log.append((self.spec.name, message))
        return []

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return []


async def test_emitted_indications_fan_out_to_every_subscriber_in_declared_order() -> None:
    runtime = Runtime()
    log: list[tuple[str, Message]] = []
    for core in (NewsCore(), ReaderCore("first", log), ReaderCore("second", log)):
        runtime.add(Actor(core))
    runtime.add(AppPort())
    async with trio.open_nursery() as nursery:
        await nursery.start(runtime.run)
        runtime.send("app", "news", Ping(1, 7))
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert sorted(log) == [("first", NewsInd(7)), ("second", NewsInd(7))]
    # Sent to the subscribers in the order the layers were declared.
    sent = [line.split()[1:4] for line in runtime.flight_recorder_lines() if "NewsInd" in line]
    assert sent == [["news", "->", "first"], ["news", "->", "second"]]


async def test_a_misdeclared_layer_fails_when_the_runtime_starts() -> None:
    runtime = Runtime()
    runtime.add(Actor(EchoCore()))
    runtime.add(Actor(NewsCore()))  # also claims Ping, and nobody subscribes to NewsInd
    with pytest.raises(TopologyError) as info:
        await runtime.run()
    assert "Ping is handled by two layers: echo and news" in str(info.value)
    assert "news emits NewsInd, which no layer handles or subscribes to" in str(info.value)
    assert runtime.flight_recorder_lines() == ()  # nothing ran
