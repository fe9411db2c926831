"""Enhanced ATT bearers between two bluetrio stacks on the virtual controller (Core 5.4 Vol 3
Part F 3.2.11, Part G 5.3.2): opened by the central once the link is encrypted, taken by the
peripheral, requests spread over them in parallel, values on any of them."""

from __future__ import annotations

import trio
from trio.testing import MockClock

from bluetrio.actors.gatt.config import DEFAULT_EATT_BEARERS, GattConfig
from bluetrio.actors.gatt.core import GattCore, NoDatabase
from bluetrio.actors.gatt.outputs import UNENHANCED_BEARER
from bluetrio.actors.runtime import Actor
from bluetrio.actors.topology import Layer
from bluetrio.gatt.port import AttValue
from bluetrio.messages.att import ErrorResponse, ReadRequest, ReadResponse
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.gatt_service import GattNotifyCnf, GattNotifyReq
from bluetrio.testing import open_stack_pair


async def wait_for_bearers(core: GattCore, handle: int, count: int) -> None:
    with trio.fail_after(10):
        while len(core.links[handle].bearers) < count:
            await trio.sleep(0.05)


async def test_three_enhanced_bearers_carry_requests_in_parallel(
    autojump_clock: MockClock,
) -> None:
    # The peripheral's server answers every request with an error and sends a value to the
    # link it is told: the bearers are under test, not a database.
    central, peripheral = GattCore(), GattCore(server=NoDatabase())
    async with open_stack_pair(
        {"extra_layers": [Actor(central)]},
        {"extra_layers": [Actor(peripheral)], "pairable": True},
    ) as (a, b):
        address = (await b.ready()).address
        async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE) as peer:
            assert len(central.links[link.handle].bearers) == 1  # not encrypted: no EATT
            await link.pair()
            await wait_for_bearers(central, link.handle, 1 + DEFAULT_EATT_BEARERS)
            await wait_for_bearers(peripheral, peer.handle, 1 + DEFAULT_EATT_BEARERS)
            enhanced = [
                bearer
                for number, bearer in central.links[link.handle].bearers.items()
                if number != UNENHANCED_BEARER
            ]
            # Each bearer's MTU is the smaller of both channels' MTUs (3.2.8).
            assert {bearer.mtu for bearer in enhanced} == {GattConfig().receive_mtu}
            answers: list[object] = []
            async with trio.open_nursery() as nursery:
                for handle in range(1, 13):

                    async def ask(handle: int = handle) -> None:
                        answers.append(await link.att.exchange(ReadRequest(handle)))

                    nursery.start_soon(ask)
            assert len(answers) == 12 and all(isinstance(a, ErrorResponse) for a in answers)
            used = [b for b in central.links[link.handle].bearers.values() if b.requests_sent]
            assert len(used) >= 3  # spread, not queued behind one transaction
            # An indication from the peripheral on an enhanced bearer, confirmed there.
            async with link.att.listen(0x0010) as values:
                token = b.runtime.new_token()
                request = GattNotifyReq(token, 0x0010, b"e" * 100, peer.handle, indicate=True)
                reply = await b.app.request(Layer.GATT, request)
                assert reply == GattNotifyCnf(token, (peer.handle,), ())
                # 100 octets: more than the unenhanced bearer's 23 - 3 would carry.
                assert await values.receive() == AttValue(b"e" * 100, indication=True)


async def test_without_eatt_on_the_peer_the_link_keeps_its_unenhanced_bearer(
    autojump_clock: MockClock,
) -> None:
    central = GattCore()
    peripheral = GattCore(GattConfig(eatt_bearers=0))
    async with open_stack_pair(
        {"extra_layers": [Actor(central)]},
        {"extra_layers": [Actor(peripheral)], "pairable": True},
    ) as (a, b):
        address = (await b.ready()).address
        async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE):
            await link.pair()
            await trio.sleep(5)
            assert list(central.links[link.handle].bearers) == [UNENHANCED_BEARER]
            assert isinstance(await link.att.exchange(ReadRequest(1)), ReadResponse)
