"""ATT bearers between two bluetrio stacks on the virtual controller (Core 5.4 Vol 3 Part F):
the MTU exchange in both roles, raw requests and commands through the application's port
(``link.att``), notifications and indications received by ``listen`` and confirmed."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
from trio.testing import MockClock

from bluetrio import Link, Stack, StackConfig
from bluetrio.actors.gatt.config import GattConfig
from bluetrio.actors.gatt.core import GattCore, NoDatabase
from bluetrio.actors.runtime import Actor
from bluetrio.actors.topology import Layer
from bluetrio.errors import AttError, InvalidArgumentError, LinkLost
from bluetrio.gatt.port import AttValue
from bluetrio.messages.att import (
    ExchangeMtuRequest,
    ExchangeMtuResponse,
    ReadByTypeRequest,
    ReadByTypeResponse,
    ReadRequest,
    ReadResponse,
    WriteCommand,
    WriteRequest,
    WriteResponse,
)
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.gatt_declarations import Characteristic, Properties, Service
from bluetrio.messages.gatt_service import GattNotifyCnf, GattNotifyReq
from bluetrio.messages.uuids import uuid16
from bluetrio.stack import open_stack
from bluetrio.testing import open_stack_pair


@contextlib.asynccontextmanager
async def le_link(
    second: dict[str, Any] | None = None,
) -> AsyncIterator[tuple[Stack, Link, Stack, Link]]:
    async with open_stack_pair({}, second) as (a, b):
        address = (await b.ready()).address
        async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE) as peer:
            yield a, link, b, peer


async def send_value(
    stack: Stack, link: Link, handle: int, value: bytes, indicate: bool
) -> GattNotifyCnf:
    request = GattNotifyReq(stack.runtime.new_token(), handle, value, link.handle, indicate)
    reply = await stack.app.request(Layer.GATT, request)
    assert isinstance(reply, GattNotifyCnf)
    return reply


async def test_mtu_exchange_in_both_roles(autojump_clock: MockClock) -> None:
    async with le_link() as (_a, link, _b, peer):
        assert link.att.mtu == 23 and peer.att.mtu == 23
        response = await link.att.exchange(ExchangeMtuRequest(247))
        assert response == ExchangeMtuResponse(517)  # the server's receive MTU
        assert link.att.mtu == 247
        await trio.testing.wait_all_tasks_blocked()
        assert peer.att.mtu == 247  # min(client's 247, the server's 517), on both sides
        # The peer, a client too, exchanges once in its own direction.
        assert await peer.att.exchange(ExchangeMtuRequest(517)) == ExchangeMtuResponse(517)
        assert peer.att.mtu == 517
        await trio.testing.wait_all_tasks_blocked()
        assert link.att.mtu == 517
        with pytest.raises(AttError, match="once"):
            await link.att.exchange(ExchangeMtuRequest(100))


async def test_a_raw_request_gets_the_servers_answer(autojump_clock: MockClock) -> None:
    async with le_link() as (_a, link, _b, _peer):
        gap = ReadResponse(bytes([0x00, 0x18]))  # handle 1: the GAP service (0x1800)
        assert await link.att.exchange(ReadRequest(1)) == gap
        # Many at once: the bearer sends them one at a time, each gets its answer.
        answers: list[object] = []
        async with trio.open_nursery() as nursery:
            for _ in range(8):

                async def ask() -> None:
                    answers.append(await link.att.exchange(ReadRequest(1)))

                nursery.start_soon(ask)
        assert answers == [gap] * 8
        await link.att.send_command(WriteCommand(3, b"ignored"))  # not writable: no answer


async def test_what_the_port_refuses_in_the_callers_task(autojump_clock: MockClock) -> None:
    async with le_link() as (_a, link, _b, _peer):
        with pytest.raises(InvalidArgumentError, match="ATT_MTU 23"):
            await link.att.exchange(WriteRequest(3, bytes(30)))
        with pytest.raises(InvalidArgumentError, match="not an ATT request"):
            await link.att.exchange(WriteCommand(3, b""))
        with pytest.raises(InvalidArgumentError, match="not an ATT command"):
            await link.att.send_command(ReadRequest(3))


async def test_notifications_and_indications_through_the_server(
    autojump_clock: MockClock,
) -> None:
    level = Characteristic(0x2A19, Properties.READ | Properties.NOTIFY | Properties.INDICATE)
    async with le_link() as (_a, link, b, peer):
        handles = (await b.gatt_server.add_service(Service(0x180F, (level,)))).characteristics[0]
        assert handles.cccd is not None
        async with link.att.listen(handles.value) as values:
            # Not subscribed: nothing goes (Vol 3 Part G 3.3.3.3).
            assert (await b.gatt_server.notify(level, b"early")).delivered_to == ()
            both = WriteRequest(handles.cccd, bytes([0x03, 0x00]))  # notify and indicate
            assert await link.att.exchange(both) == WriteResponse()
            assert (await b.gatt_server.notify(level, b"note")).delivered_to == (peer.handle,)
            delivery = await b.gatt_server.indicate(level, b"important")
            assert delivery.delivered_to == (peer.handle,)  # our stack confirmed it
            assert await values.receive() == AttValue(b"note", indication=False)
            assert await values.receive() == AttValue(b"important", indication=True)
            # A value longer than ATT_MTU - 3 is cut to it (3.4.7.1).
            await b.gatt_server.notify(level, bytes(range(30)))
            assert (await values.receive()).value == bytes(range(20))


async def test_a_value_to_a_link_that_went_reports_it(autojump_clock: MockClock) -> None:
    # The server's subscribers named the link; it went before the value did.
    stand_in = {"extra_layers": [Actor(GattCore(server=NoDatabase()))]}
    async with le_link(stand_in) as (_a, link, b, peer):
        handle = peer.handle
        await link.disconnect()
        with trio.fail_after(5):
            while peer.connected:
                await trio.sleep(0.1)
        reply = await send_value(b, peer, 0x0010, b"v", indicate=True)
        assert reply.delivered_to == () and reply.errors[0][0] == handle


async def test_the_gap_device_name_is_the_stacks_local_name(autojump_clock: MockClock) -> None:
    named = {"config": StackConfig(local_name="bluetrio-peer")}
    async with le_link(named) as (_a, link, _b, _peer):
        device_name = ReadByTypeRequest(0x0001, 0xFFFF, uuid16(0x2A00))  # Vol 3 Part C 12.1
        response = await link.att.exchange(device_name)
        assert isinstance(response, ReadByTypeResponse)
        assert response.entries[0][1] == b"bluetrio-peer"


async def test_a_listener_ends_when_its_link_goes(autojump_clock: MockClock) -> None:
    async with le_link() as (_, link, _, _):
        async with link.att.listen(0x0003) as values:
            await link.disconnect()
            with trio.fail_after(1):
                assert [value async for value in values] == []
        async with link.att.listen(0x0003) as late:  # opened after the link went
            with trio.fail_after(1):
                assert [value async for value in late] == []
        with pytest.raises(LinkLost):
            await link.att.exchange(ReadRequest(0x0003))


async def test_open_stack_takes_the_gatt_actors_settings(autojump_clock: MockClock) -> None:
    small = {"gatt": GattConfig(receive_mtu=100, eatt_bearers=0)}
    async with le_link(small) as (_a, link, _b, _peer):
        assert await link.att.exchange(ExchangeMtuRequest(517)) == ExchangeMtuResponse(100)
        assert link.att.mtu == 100


async def test_open_stack_refuses_a_gatt_setting_that_is_not_one() -> None:
    with pytest.raises(InvalidArgumentError, match="gatt"):
        async with open_stack("virtual", gatt=517):  # type: ignore[arg-type]
            pass
