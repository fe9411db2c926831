"""ATT bearers between two bluetrio stacks on the virtual controller (Core 5.4 Vol 3 Part F):
the MTU exchange in both roles, raw requests and commands through the application's port
(``link.att``), notifications and indications received by ``listen`` and confirmed."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
import trio
from trio.testing import MockClock

from bluetrio import Link, Stack
from bluetrio.actors.topology import Layer
from bluetrio.errors import AttError, InvalidArgumentError
from bluetrio.gatt.port import AttValue
from bluetrio.messages.att import (
    AttErrorCode,
    AttOpcode,
    ErrorResponse,
    ExchangeMtuRequest,
    ExchangeMtuResponse,
    ReadRequest,
    WriteCommand,
    WriteRequest,
)
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.gatt_service import GattNotifyCnf, GattNotifyReq
from bluetrio.testing import open_stack_pair


@contextlib.asynccontextmanager
async def le_link() -> AsyncIterator[tuple[Stack, Link, Stack, Link]]:
    async with open_stack_pair() as (a, b):
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
        response = await link.att.exchange(ReadRequest(3))
        assert response == ErrorResponse(
            AttOpcode.READ_REQUEST, 0, AttErrorCode.REQUEST_NOT_SUPPORTED
        )
        # Many at once: the bearer sends them one at a time, each gets its answer.
        answers: list[object] = []
        async with trio.open_nursery() as nursery:
            for handle in range(1, 9):

                async def ask(handle: int = handle) -> None:
                    answers.append(await link.att.exchange(ReadRequest(handle)))

                nursery.start_soon(ask)
        assert len(answers) == 8 and all(isinstance(a, ErrorResponse) for a in answers)
        await link.att.send_command(WriteCommand(3, b"ignored"))


async def test_what_the_port_refuses_in_the_callers_task(autojump_clock: MockClock) -> None:
    async with le_link() as (_a, link, _b, _peer):
        with pytest.raises(InvalidArgumentError, match="ATT_MTU 23"):
            await link.att.exchange(WriteRequest(3, bytes(30)))
        with pytest.raises(InvalidArgumentError, match="not an ATT request"):
            await link.att.exchange(WriteCommand(3, b""))
        with pytest.raises(InvalidArgumentError, match="not an ATT command"):
            await link.att.send_command(ReadRequest(3))


async def test_notifications_and_indications_reach_their_listener(
    autojump_clock: MockClock,
) -> None:
    async with (
        le_link() as (_a, link, b, peer),
        link.att.listen(0x0010) as values,
        link.att.listen(0x0020) as others,
    ):
        reply = await send_value(b, peer, 0x0010, b"note", indicate=False)
        assert reply.delivered_to == (peer.handle,)
        reply = await send_value(b, peer, 0x0010, b"important", indicate=True)
        assert reply.delivered_to == (peer.handle,)  # our stack confirmed it
        assert await values.receive() == AttValue(b"note", indication=False)
        assert await values.receive() == AttValue(b"important", indication=True)
        assert len(others._mailbox) == 0
        # A value longer than ATT_MTU - 3 is cut to it (3.4.7.1).
        await send_value(b, peer, 0x0020, bytes(range(30)), indicate=False)
        assert (await others.receive()).value == bytes(range(20))


async def test_a_value_to_a_link_that_went_reports_it(autojump_clock: MockClock) -> None:
    async with le_link() as (_a, link, b, peer):
        handle = peer.handle
        await link.disconnect()
        with trio.fail_after(5):
            while peer.connected:
                await trio.sleep(0.1)
        reply = await send_value(b, peer, 0x0010, b"v", indicate=True)
        assert reply.delivered_to == () and reply.errors[0][0] == handle
