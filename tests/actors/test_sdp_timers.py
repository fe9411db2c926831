"""SDP's timers and the server's per-connection bounds in running stacks, under MockClock:
the client's channel closed after 2 s without a query (Core 5.4 Vol 3 Part B 2.1 lets a client
keep it while it expects more), the 20 s response deadline (after which the channel is closed,
so a late response is never taken for the next query's), and the server's limits of at most
16 clients and one response kept per connection (4.3), released with the connection.

The SDP cores are the stacks' own (an extra layer called "sdp" takes the default's place), so
the tests can look at what each keeps; what they send is watched on its way to L2CAP."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
from trio.testing import MockClock

from bluetrio import SdpTimeout
from bluetrio.actors.faults import FaultPolicy, Hop
from bluetrio.actors.runtime import Actor
from bluetrio.actors.sdp.client import IDLE_TIMEOUT, RESPONSE_TIMEOUT
from bluetrio.actors.sdp.core import MAX_SERVER_CHANNELS, SdpCore
from bluetrio.actors.sdp.states import ClientChannelState
from bluetrio.actors.topology import Layer
from bluetrio.address import Address
from bluetrio.errors import L2capConnectionRefused
from bluetrio.link import Link
from bluetrio.messages.base import Message
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.l2cap_service import L2caConnectReq, L2caDataReq, L2caDisconnectReq
from bluetrio.messages.sdp import (
    ALL_ATTRIBUTES,
    ErrorCode,
    ErrorResponse,
    ServiceSearchAttributeRequest,
    ServiceSearchAttributeResponse,
    Uuid,
    decode_pdu,
)
from bluetrio.messages.sdp_records import SDP_PSM, SERIAL_PORT, serial_port_record
from bluetrio.stack import Stack
from bluetrio.testing import open_stack_pair


class SdpWatch:
    """What an SDP layer sends to L2CAP, with the (mock) time it sent it; ``policy`` is the
    stack's fault policy, which watches without changing anything unless told to."""

    def __init__(self) -> None:
        self.policy = FaultPolicy()
        self.sent: list[tuple[float, Message]] = []
        self.policy.drop(self._record)

    def _record(self, hop: Hop) -> bool:
        if hop.sender == Layer.SDP and hop.to == Layer.L2CAP:
            self.sent.append((trio.current_time(), hop.message))
        return False  # deliver it

    def times_of(self, kind: type[Message]) -> list[float]:
        return [time for time, message in self.sent if isinstance(message, kind)]


def sdp_responses(hop: Hop) -> bool:
    return hop.sender == Layer.SDP and isinstance(hop.message, L2caDataReq)


@contextlib.asynccontextmanager
async def linked(
    first: dict[str, Any], second: dict[str, Any]
) -> AsyncIterator[tuple[Stack, Link, Address]]:
    """Two stacks with these options, the second serving a Serial Port record (channel 2),
    and a BR/EDR link from the first to it: the first stack, the link, the second's address."""
    async with open_stack_pair(first, second) as (a, b):
        address = (await b.ready()).address
        await b.set_discoverable(True)
        async with (
            b.sdp_register(serial_port_record(channel=2)),
            a.connect(address, transport=LinkTransport.BR_EDR) as link,
            b.accept(LinkTransport.BR_EDR),
        ):
            yield a, link, address


async def test_the_client_closes_its_channel_after_2_s_without_a_query(
    autojump_clock: MockClock,
) -> None:
    watch, client = SdpWatch(), SdpCore()
    server = SdpCore()
    first = {"extra_layers": [Actor(client)], "faults": watch.policy}
    async with linked(first, {"extra_layers": [Actor(server)]}) as (a, link, address):
        assert len(await a.sdp_search(address, SERIAL_PORT)) == 1
        assert client.client.links[link.handle].state is ClientChannelState.OPEN
        # A query before the idle time is up runs on the same channel and restarts it.
        await trio.sleep(IDLE_TIMEOUT - 0.5)
        assert client.client.links[link.handle].state is ClientChannelState.OPEN
        assert len(await a.sdp_service_search(address, SERIAL_PORT)) == 1
        answered = trio.current_time()
        assert len(watch.times_of(L2caConnectReq)) == 1
        assert watch.times_of(L2caDisconnectReq) == []
        await trio.sleep(IDLE_TIMEOUT + 1)
        (closed_at,) = watch.times_of(L2caDisconnectReq)
        assert closed_at - answered == pytest.approx(IDLE_TIMEOUT, abs=0.05)
        # Nothing is kept for the closed channel on either side; the link stays up.
        assert link.handle not in client.client.links
        assert server.connections == {}
        assert [item.handle for item in a.links] == [link.handle]
        # The next query opens a new channel.
        assert len(await a.sdp_search(address, SERIAL_PORT)) == 1
        assert len(watch.times_of(L2caConnectReq)) == 2


async def test_a_response_later_than_20_s_fails_its_query_and_closes_the_channel(
    autojump_clock: MockClock,
) -> None:
    watch, client = SdpWatch(), SdpCore()
    slow = FaultPolicy()
    # The server's first response is held back past the client's deadline.
    slow.delay(sdp_responses, seconds=RESPONSE_TIMEOUT + 5, times=1)
    first = {"extra_layers": [Actor(client)], "faults": watch.policy}
    async with linked(first, {"faults": slow}) as (a, _, address):
        started = trio.current_time()
        with pytest.raises(SdpTimeout, match="no SDP response within 20 s"):
            await a.sdp_service_search(address, SERIAL_PORT)
        failed_at = trio.current_time()
        assert failed_at - started == pytest.approx(RESPONSE_TIMEOUT, abs=0.05)
        # The channel was closed when the deadline passed, not left to the idle timer.
        (closed_at,) = watch.times_of(L2caDisconnectReq)
        assert closed_at == pytest.approx(failed_at, abs=0.05)
        # The next query gets its own answer on a new channel, the late one long gone.
        records = await a.sdp_search(address, SERIAL_PORT)
        assert [record.rfcomm_channel for record in records] == [2]
        await trio.sleep(10)  # past the moment the held-back response was delivered
        assert len(await a.sdp_service_search(address, SERIAL_PORT)) == 1
        # One channel per query: the first closed at its deadline, the second once idle.
        assert len(watch.times_of(L2caConnectReq)) == 3
        assert slow.log and slow.log[0].startswith("delay sdp->l2cap")


async def test_the_server_serves_16_clients_at_once_and_forgets_each_one_closed(
    autojump_clock: MockClock,
) -> None:
    server = SdpCore()
    async with linked({}, {"extra_layers": [Actor(server)]}) as (_, link, _):
        channels = [await link.l2cap_connect(SDP_PSM) for _ in range(MAX_SERVER_CHANNELS)]
        assert len(server.connections) == MAX_SERVER_CHANNELS
        with pytest.raises(L2capConnectionRefused):
            await link.l2cap_connect(SDP_PSM)
        await channels.pop().aclose()
        await trio.sleep(0.1)
        assert len(server.connections) == MAX_SERVER_CHANNELS - 1
        channels.append(await link.l2cap_connect(SDP_PSM))  # room again
        for channel in channels:
            await channel.aclose()
        await trio.sleep(0.1)
        assert server.connections == {}
        assert server.accepted == set()


async def test_a_response_in_parts_is_kept_for_its_own_connection_only(
    autojump_clock: MockClock,
) -> None:
    server = SdpCore()
    async with linked({}, {"extra_layers": [Actor(server)]}) as (_, link, _):
        first = await link.l2cap_connect(SDP_PSM)
        second = await link.l2cap_connect(SDP_PSM)
        # MaximumAttributeByteCount 7 (its minimum, 4.7.1): the answer comes in parts.
        request = ServiceSearchAttributeRequest((Uuid.of(SERIAL_PORT),), 7, ALL_ATTRIBUTES)
        await first.send_sdu(request.to_bytes(1))
        _, part = decode_pdu(await first.receive_sdu())
        assert isinstance(part, ServiceSearchAttributeResponse) and part.continuation
        # The state issued on the first channel means nothing on the second.
        resumed = ServiceSearchAttributeRequest(
            request.pattern, 7, request.attribute_ids, part.continuation
        )
        await second.send_sdu(resumed.to_bytes(2))
        _, refused = decode_pdu(await second.receive_sdu())
        assert refused == ErrorResponse(ErrorCode.INVALID_CONTINUATION_STATE)
        # ... and the first channel still reads its own next part.
        await first.send_sdu(resumed.to_bytes(3))
        _, following = decode_pdu(await first.receive_sdu())
        assert isinstance(following, ServiceSearchAttributeResponse)
        kept = [key for key, connection in server.connections.items() if connection.pending]
        assert len(kept) == 1  # one response in parts, on the first channel
        await first.aclose()
        await trio.sleep(0.1)
        assert all(connection.pending is None for connection in server.connections.values())
        await second.aclose()
