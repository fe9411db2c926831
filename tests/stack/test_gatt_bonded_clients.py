"""The gatt actor's wiring of a bonded client's state (the server's hooks of client_state.py)
between two bluetrio stacks on the virtual controller: the GATT service placed after GAP,
a bonded client's CCCD kept across a reconnection (Core 5.4 Vol 3 Part G 3.3.3.3) through
btm's StoreBondReq, LinkSecuredInd and the key store (GattBondStateStoreReq)."""

from __future__ import annotations

import trio
from trio.testing import MockClock

from bluetrio.keystore import MemoryKeyStore
from bluetrio.messages.att import ReadByTypeRequest, ReadByTypeResponse, WriteRequest, WriteResponse
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.gatt_declarations import Characteristic, Properties, Service
from bluetrio.messages.uuids import uuid16
from bluetrio.testing import open_stack_pair

SERVER_SUPPORTED_FEATURES = uuid16(0x2B3A)


async def test_the_gatt_service_says_eatt_after_gap(autojump_clock: MockClock) -> None:
    async with open_stack_pair() as (a, b):
        address = (await b.ready()).address
        async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE):
            response = await link.att.exchange(
                ReadByTypeRequest(0x0001, 0xFFFF, SERVER_SUPPORTED_FEATURES)
            )
            assert isinstance(response, ReadByTypeResponse)
            ((_handle, features),) = response.entries
            assert features[0] & 0x01  # EATT Supported (Vol 3 Part G 7.4)


async def test_a_bonded_clients_subscription_outlives_the_link(autojump_clock: MockClock) -> None:
    level = Characteristic(0x2A19, Properties.READ | Properties.NOTIFY)
    async with open_stack_pair(
        {"keystore": MemoryKeyStore},
        {"keystore": MemoryKeyStore, "pairable": True},
    ) as (a, b):
        placed = (await b.gatt_server.add_service(Service(0x180F, (level,)))).characteristics[0]
        assert placed.cccd is not None
        address = (await b.ready()).address
        async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE):
            await link.pair()  # bonding
            subscribe = WriteRequest(placed.cccd, bytes([0x01, 0x00]))
            assert await link.att.exchange(subscribe) == WriteResponse()
        with trio.fail_after(10):
            while b.links:
                await trio.sleep(0.1)
        async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE) as peer:
            # Not encrypted yet: the bond's state does not apply (the peer is unproven).
            assert (await b.gatt_server.notify(level, b"early")).delivered_to == ()
            await link.pair()  # encrypts with the bond
            async with link.att.listen(placed.value) as values:
                delivery = await b.gatt_server.notify(level, b"\x42")
                assert delivery.delivered_to == (peer.handle,)
                assert (await values.receive()).value == b"\x42"
