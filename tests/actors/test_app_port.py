"""The application port: mailboxes by resource, bounded, closed by ``with``; observers under
failure containment; late replies of abandoned requests."""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing

from bluetrio.actors.app_port import AppPort, Mailbox, MailboxKey
from bluetrio.actors.effects import ConnectionFaultInd, Effects, Send
from bluetrio.actors.runtime import Actor, Runtime
from bluetrio.actors.topology import LayerSpec
from bluetrio.errors import StackError
from bluetrio.messages.base import Message


@attrs.frozen
class Data(Message):
    handle: int
    payload: bytes
    cid: int | None = None


@attrs.frozen
class Urgent(Data):
    """A subclass: reaches the mailboxes of ``Data`` too."""


@attrs.frozen
class Slow(Message):
    token: int


@attrs.frozen
class Done(Message):
    token: int


class Relay:
    """Sends back whatever it gets; answers Slow only when told to (by a Data to handle 0)."""

    def __init__(self, spec: LayerSpec) -> None:
        self.spec = spec
        self.pending: list[tuple[str, int]] = []

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        if isinstance(message, Slow):
            self.pending.append((sender, message.token))
            return []
        if isinstance(message, Data) and message.handle == 0:
            answers: Effects = [Send(s, Done(t)) for s, t in self.pending]
            self.pending.clear()
            return answers
        return [Send(sender, message)]

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return []


def make() -> tuple[Runtime, AppPort]:
    runtime = Runtime()
    app = AppPort()
    runtime.add(Actor(Relay(LayerSpec("relay", handles=(Data, Slow)))))
    # The link manager receives the faults.
    runtime.add(Actor(Relay(LayerSpec("manager", handles=(ConnectionFaultInd,)))))
    runtime.add(app)
    return runtime, app


async def test_mailboxes_are_keyed_by_kind_handle_and_cid() -> None:
    runtime, app = make()
    async with trio.open_nursery() as nursery:
        await nursery.start(runtime.run)
        every = app.open_mailbox(Data)
        link_1 = app.open_mailbox(Data, handle=1)
        channel_1_64 = app.open_mailbox(Data, handle=1, cid=0x40)
        urgent = app.open_mailbox(Urgent)
        for message in (Data(1, b"a"), Data(2, b"b"), Data(1, b"c", cid=0x40), Urgent(3, b"d")):
            app.send("relay", message)
        await trio.testing.wait_all_tasks_blocked()
        assert [m.payload for m in drain(every)] == [b"a", b"b", b"c", b"d"]
        assert [m.payload for m in drain(link_1)] == [b"a", b"c"]
        assert [m.payload for m in drain(channel_1_64)] == [b"c"]
        assert [m.payload for m in drain(urgent)] == [b"d"]
        assert app.router.unrouted == 0
        nursery.cancel_scope.cancel()


def drain(mailbox: Mailbox[Data]) -> list[Data]:
    taken = []
    while True:
        try:
            taken.append(mailbox.receive_nowait())
        except trio.WouldBlock:
            return taken


async def test_a_full_mailbox_discards_the_oldest_and_counts() -> None:
    box: Mailbox[Data] = Mailbox((MailboxKey(Data),), capacity=3)
    for n in range(5):
        box.put(Data(1, bytes([n])))
    assert box.dropped == 2 and len(box) == 3
    assert [m.payload for m in drain(box)] == [b"\x02", b"\x03", b"\x04"]


async def test_on_consumed_runs_as_the_application_reads() -> None:
    # What a credit-based stream does: one credit back per message taken.
    credits: list[bytes] = []
    box: Mailbox[Data] = Mailbox(
        (MailboxKey(Data),), capacity=2, on_consumed=lambda m: credits.append(m.payload)
    )
    box.put(Data(1, b"x"))
    box.put(Data(1, b"y"))
    assert credits == []
    assert (await box.receive()).payload == b"x"
    assert credits == [b"x"]


async def test_closing_by_with_unsubscribes_and_a_late_message_is_logged() -> None:
    runtime, app = make()
    async with trio.open_nursery() as nursery:
        await nursery.start(runtime.run)
        with app.open_mailbox(Data) as box:
            pass
        assert box.closed and app.router.mailboxes == {}
        with pytest.raises(trio.ClosedResourceError):
            await box.receive()
        app.send("relay", Data(1, b"late"))
        await trio.testing.wait_all_tasks_blocked()
        assert app.router.unrouted == 1  # logged, and the stack goes on
        nursery.cancel_scope.cancel()


async def test_a_reader_blocked_in_receive_wakes_when_the_stack_closes() -> None:
    runtime, app = make()
    got: list[bytes] = []
    async with trio.open_nursery() as outer:
        box = None

        async def read() -> None:
            assert box is not None
            async for message in box:
                got.append(message.payload)

        async with trio.open_nursery() as nursery:
            await nursery.start(runtime.run)
            box = app.open_mailbox(Data)
            outer.start_soon(read)
            app.send("relay", Data(1, b"queued"))
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
    assert got == [b"queued"]  # then the iteration ended


async def test_an_observer_failing_on_a_link_tears_down_that_link_only() -> None:
    runtime, app = make()

    def observe(message: Data) -> None:
        if not message.payload:
            raise ValueError("empty")

    app.observe(Data, observe)
    async with trio.open_nursery() as nursery:
        await nursery.start(runtime.run)
        box = app.open_mailbox(Data)
        app.send("relay", Data(7, b""))
        app.send("relay", Data(8, b"ok"))
        assert (await box.receive()).handle == 8
        assert [fault.handle for fault in runtime.connection_faults] == [7]
        nursery.cancel_scope.cancel()


async def test_an_observer_failing_outside_a_link_stops_the_stack() -> None:
    runtime, app = make()

    def observe(message: Done) -> None:
        raise ValueError("broken observer")

    app.observe(Done, observe)
    with pytest.RaisesGroup(pytest.RaisesExc(StackError, match="broken observer")):
        async with trio.open_nursery() as nursery:
            await nursery.start(runtime.run)
            app.send("relay", Done(0))
            await trio.sleep_forever()


async def test_an_abandoned_request_hands_its_late_reply_over() -> None:
    runtime, app = make()
    late: list[Message] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(runtime.run)
        token = runtime.new_token()
        with trio.move_on_after(0.01):
            await app.request("relay", Slow(token), if_abandoned=late.append)
        app.send("relay", Data(0, b"answer now"))
        await trio.testing.wait_all_tasks_blocked()
        assert late == [Done(token)]
        nursery.cancel_scope.cancel()
