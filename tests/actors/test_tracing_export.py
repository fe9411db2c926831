"""A trace captured from a real Runtime, saved and exported in every format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import trio
import trio.testing

from bluetrio.actors.app_port import AppPort
from bluetrio.actors.effects import Effects, Send
from bluetrio.actors.runtime import Actor, Runtime
from bluetrio.actors.topology import LayerSpec
from bluetrio.messages.base import Batch, Message
from bluetrio.tracing.exporters import load_jsonl, to_mermaid, to_perfetto, to_text
from bluetrio.tracing.recorder import TraceRecorder


@attrs.frozen
class ChannelOpenReq(Message):
    token: int
    handle: int


@attrs.frozen
class ChannelOpenCnf(Message):
    token: int
    handle: int
    cid: int


@attrs.frozen
class AclDataReq(Message):
    handle: int
    cid: int
    payload: bytes


@attrs.frozen
class AclDataInd(Message):
    handle: int
    cid: int
    payload: bytes


class ChannelCore:
    """A toy L2CAP: opens a channel by a round trip through the HCI below, relays data."""

    spec = LayerSpec("l2cap", handles=(ChannelOpenReq, AclDataReq))

    def __init__(self) -> None:
        self.pending: dict[int, int] = {}  # handle -> token of the open request

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        if isinstance(message, ChannelOpenReq):
            self.pending[message.handle] = message.token
            return [Send("hci", AclDataReq(message.handle, 0x0001, b"\x02;#:open"))]
        if isinstance(message, AclDataInd) and message.handle in self.pending:
            token = self.pending.pop(message.handle)
            return [Send("app", ChannelOpenCnf(token, message.handle, 0x0040))]
        if isinstance(message, AclDataInd):
            return [Send("app", message)]
        if isinstance(message, AclDataReq):
            return [Send("hci", message)]
        return []

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return []


class LoopbackHciCore:
    """A toy HCI: every data request comes back as an indication; batches stay batches."""

    spec = LayerSpec("hci")

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        if isinstance(message, AclDataReq):
            return [Send(sender, AclDataInd(message.handle, message.cid, message.payload))]
        return []

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return []


async def capture_trace() -> TraceRecorder:
    tracer = TraceRecorder()
    runtime = Runtime(tracer=tracer)
    app = AppPort()
    runtime.add(Actor(LoopbackHciCore()))
    runtime.add(Actor(ChannelCore()))
    runtime.add(app)
    async with trio.open_nursery() as nursery:
        await nursery.start(runtime.run)
        data = app.open_mailbox(AclDataInd)
        confirm = await app.request("l2cap", ChannelOpenReq(runtime.new_token(), 0x0040))
        assert confirm == ChannelOpenCnf(1, 0x0040, 0x0040)
        app.send("l2cap", Batch(tuple(AclDataReq(0x0040, 0x0040, bytes([i])) for i in range(3))))
        app.send("l2cap", AclDataReq(0x0041, 0x0044, b"other link"))
        for _ in range(4):
            await data.receive()
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    return tracer


EXPECTED_ROUTE = [
    ("app", "l2cap", "ChannelOpenReq"),
    ("l2cap", "hci", "AclDataReq"),
    ("hci", "l2cap", "AclDataInd"),
    ("l2cap", "app", "ChannelOpenCnf"),
    # Both sends happen before l2cap runs; its shell then unpacks the batch and relays each
    # part, then the lone request, in one drain of its inbox.
    ("app", "l2cap", "Batch"),
    ("app", "l2cap", "AclDataReq"),
    *[("l2cap", "hci", "AclDataReq")] * 4,
    *[("hci", "l2cap", "AclDataInd")] * 4,
    *[("l2cap", "app", "AclDataInd")] * 4,
]


async def test_real_trace_saves_loads_and_exports(tmp_path: Path) -> None:
    tracer = await capture_trace()
    events = tracer.events()
    assert [(e.sender, e.receiver, e.message_type) for e in events] == EXPECTED_ROUTE
    assert all(e.received_at is not None and e.received_at >= e.sent_at for e in events)

    path = tmp_path / "stack.jsonl"
    tracer.save(path)
    assert load_jsonl(path) == events

    text = to_text(events)
    assert len(text.splitlines()) == len(events)
    assert "handle=0x0040 cid=0x0001" in text.splitlines()[1]

    mermaid = to_mermaid(events).splitlines()
    assert mermaid[0] == "sequenceDiagram"
    assert mermaid[1:4] == [
        "    participant app",
        "    participant l2cap",
        "    participant hci",
    ]
    assert sum("->>" in line for line in mermaid) == len(events)

    perfetto: dict[str, Any] = json.loads(json.dumps(to_perfetto(events)))
    items = perfetto["traceEvents"]
    starts = sorted(item["id"] for item in items if item["ph"] == "s")
    finishes = sorted(item["id"] for item in items if item["ph"] == "f")
    assert starts == finishes == [e.trace_id for e in events]
    threads = [item["args"]["name"] for item in items if item.get("name") == "thread_name"]
    assert threads == ["app", "l2cap", "hci"]


async def test_recorder_save_writes_what_events_returns(tmp_path: Path) -> None:
    tracer = TraceRecorder()
    first = tracer.record_send(1.0, "app", "l2cap", ChannelOpenReq(7, 0x0040))
    tracer.record_send(1.5, "l2cap", "hci", AclDataReq(0x0040, 0x0001, b"x;y"))
    tracer.record_receive(2.0, first)
    path = tmp_path / "saved.jsonl"
    tracer.save(path)
    assert load_jsonl(path) == tracer.events()
    loaded = load_jsonl(path)
    assert (loaded[0].handle, loaded[0].received_at, loaded[1].received_at) == (0x40, 2.0, None)
    assert (loaded[1].cid, loaded[1].summary) == (1, "AclDataReq(handle=64, cid=1, payload=b'x;y')")
