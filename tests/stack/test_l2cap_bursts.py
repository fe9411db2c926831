"""The application's side of a channel hands bursts to the stack: ``send_all`` gives the L2CAP
layer as many SDUs as the send window takes in one hop, and waits for room beyond it."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from test_l2cap_channels import PSM, bredr_link, pattern, read_all

from bluetrio.actors.runtime import Runtime
from bluetrio.actors.topology import Layer
from bluetrio.l2cap import SEND_WINDOW
from bluetrio.messages.base import Message
from bluetrio.messages.l2cap_service import L2caDataReq
from bluetrio.testing import open_stack_pair


async def test_send_all_hands_the_window_to_l2cap_in_one_hop(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    hops: list[int] = []  # SDUs per hop from the application to L2CAP
    original = Runtime.send_now

    def counting(self: Runtime, sender: str, to: str, messages: list[Message]) -> None:
        if to == Layer.L2CAP and messages and type(messages[0]) is L2caDataReq:
            hops.append(len(messages))
        original(self, sender, to, messages)

    monkeypatch.setattr(Runtime, "send_now", counting)
    async with (
        open_stack_pair() as (a, b),
        b.l2cap_listen(psm=PSM) as listener,
        bredr_link(a, b) as (link, _),
    ):
        channel = await link.l2cap_connect(psm=PSM, mtu=1000)
        served = await listener.accept()
        size = channel.peer_mtu
        data = pattern(size * (SEND_WINDOW + 8))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(channel.send_all, data)
            await trio.testing.wait_all_tasks_blocked()
            # The first hop filled the window; the rest waits for confirmations.
            assert hops[0] == SEND_WINDOW
            received = b""
            while len(received) < len(data):
                received += await served.receive_some()
        assert received == data
        assert sum(hops) == SEND_WINDOW + 8
        await channel.aclose()
        assert await read_all(served) == b""
