"""The gatt actor's wiring of a bonded client's state (the server's hooks of client_state.py)
between two bluetrio stacks on the virtual controller: the GATT service placed after GAP,
a bonded client's CCCD kept across a reconnection (Core 5.4 Vol 3 Part G 3.3.3.3) through
btm's StoreBondReq, LinkSecuredInd and the key store (GattBondStateStoreReq).
Also: the subscription kept and a change made while the client was away indicated once it is
encrypted with the bond, the states in the key store; a connected client told of a change
(Service Changed, Database Out Of Sync once, the hash read by type); signed writes on a link
that is not encrypted."""

from __future__ import annotations

import trio
from key_stores import Stores
from trio.testing import MockClock

from bluetrio.actors.gatt.database_hash import DATABASE_HASH_UUID
from bluetrio.actors.gatt.signing import sign_write
from bluetrio.actors.runtime import Actor
from bluetrio.actors.smp.config import SmpConfig
from bluetrio.actors.smp.core import SmpCore
from bluetrio.bonds import Transport
from bluetrio.keystore import MemoryKeyStore
from bluetrio.messages.att import (
    ErrorResponse,
    ReadByTypeRequest,
    ReadByTypeResponse,
    ReadRequest,
    ReadResponse,
    WriteCommand,
    WriteRequest,
    WriteResponse,
)
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.gatt_declarations import (
    AccessSecurity,
    Characteristic,
    Permissions,
    Properties,
    Service,
)
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


BATTERY = Characteristic(0x2A19, Properties.READ | Properties.NOTIFY, value=b"\x64")
# The GATT service follows GAP (0x0001-0x0005): Service Changed's value at 0x0008, its CCCD
# at 0x0009 (gatt_service.py).
SERVICE_CHANGED, SERVICE_CHANGED_CCCD = 0x0008, 0x0009


async def test_a_bonded_client_keeps_its_subscription_and_hears_of_changes(
    autojump_clock: MockClock,
) -> None:
    client_stores, server_stores = Stores(), Stores()
    first = {"keystore": client_stores}
    second = {"keystore": server_stores, "pairable": True}
    async with open_stack_pair(first, second) as (a, b):
        client, address = (await a.ready()).address, (await b.ready()).address
        handles = await b.gatt_server.add_service(Service(0x180F, (BATTERY,)))
        [battery] = handles.characteristics
        assert battery.cccd is not None
        async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE):
            with trio.fail_after(30):
                await link.pair()
            enable = WriteRequest(battery.cccd, b"\x01\x00")
            assert await link.att.exchange(enable) == WriteResponse()
            indications = WriteRequest(SERVICE_CHANGED_CCCD, b"\x02\x00")
            assert await link.att.exchange(indications) == WriteResponse()
            await link.disconnect()
        # Kept with the bond in the server's key store.
        await server_stores.bond(client, Transport.LE)
        with trio.fail_after(30):
            while (state := await server_stores.made[0].gatt_state(client)) is None or (
                state.cccds != ((SERVICE_CHANGED_CCCD, 2), (battery.cccd, 1))
            ):
                await trio.sleep(0.1)
        # Changed while the client is away.
        added = await b.gatt_server.add_service(Service(0x181A))
        async with (
            b.advertise(),
            a.connect(address) as link,
            b.accept(LinkTransport.LE),
            link.att.listen(SERVICE_CHANGED) as changes,
            link.att.listen(battery.value) as values,
        ):
            with trio.fail_after(30):
                again = await link.pair()
                assert again.used_stored_key
                change = await changes.receive()
            assert change.indication
            assert change.value == added.service.to_bytes(2, "little") + added.end.to_bytes(
                2, "little"
            )
            # No CCCD written on this connection: the server remembers it.
            with trio.fail_after(30):
                delivery = await b.gatt_server.notify(BATTERY, b"\x63")
                assert delivery.delivered_to
                value = await values.receive()
            assert value.value == b"\x63" and not value.indication


SIGNABLE = Characteristic(
    0xBBBB,
    Properties.READ | Properties.AUTHENTICATED_SIGNED_WRITES,
    value=b"unsigned",
    permissions=Permissions(
        readable=True, writable=True, write_security=AccessSecurity(encryption=True)
    ),
)


async def test_signed_writes_on_a_link_that_is_not_encrypted(autojump_clock: MockClock) -> None:
    """The client signs with the CSRK it distributed when it bonded (Vol 3 Part H 2.4.5); the
    server takes a signature with a new counter in place of encryption, and ignores a replay
    and a bad MAC (commands get no answer, Vol 3 Part F 3.4.5.4)."""
    client_stores, server_stores = Stores(), Stores()
    smp = SmpConfig(distribute_signing_key=True)
    first = {"keystore": client_stores, "extra_layers": [Actor(SmpCore(smp))]}
    second = {
        "keystore": server_stores,
        "pairable": True,
        "extra_layers": [Actor(SmpCore(smp))],
    }
    async with open_stack_pair(first, second) as (a, b):
        client, address = (await a.ready()).address, (await b.ready()).address
        handles = await b.gatt_server.add_service(Service(0xAAAA, (SIGNABLE,)))
        value = handles.characteristics[0].value
        async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE):
            with trio.fail_after(30):
                await link.pair()
            await link.disconnect()
        csrk = (await client_stores.bond(address, Transport.LE)).local_keys.csrk
        assert csrk is not None
        await server_stores.bond(client, Transport.LE)

        async def read() -> bytes:
            response = await link.att.exchange(ReadRequest(value))
            assert isinstance(response, ReadResponse)
            return response.value

        async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE):
            assert not link.encrypted
            unsigned = WriteRequest(value, b"plain")
            assert await link.att.exchange(unsigned) == ErrorResponse(0x12, value, 0x0F)
            await link.att.send_command(sign_write(csrk, 1, WriteCommand(value, b"signed")))
            assert await read() == b"signed"
            await link.att.send_command(sign_write(csrk, 1, WriteCommand(value, b"replayed")))
            forged = sign_write(bytes(16), 2, WriteCommand(value, b"forged"))
            await link.att.send_command(forged)
            assert await read() == b"signed"
            await link.att.send_command(sign_write(csrk, 2, WriteCommand(value, b"again")))
            assert await read() == b"again"
        # The last counter accepted is kept with the bond, in the key store.
        with trio.fail_after(30):
            while (state := await server_stores.made[0].gatt_state(client)) is None or (
                state.sign_counter != 2
            ):
                await trio.sleep(0.1)


CLIENT_SUPPORTED_FEATURES = 0x000B


async def test_a_connected_client_hears_of_a_change_and_is_out_of_sync_once(
    autojump_clock: MockClock,
) -> None:
    """A client that enabled robust caching (Vol 3 Part G 2.5.2.1): with Service Changed
    indications on, a change is indicated with its range (and confirmed by our stack, which
    makes the client change-aware); with them off, the hash read by type is answered, and a
    request after a change gets Database Out Of Sync once."""
    async with open_stack_pair({}, {}) as (a, b):
        address = (await b.ready()).address
        await a.ready()
        handles = await b.gatt_server.add_service(Service(0x180F, (BATTERY,)))
        level = handles.characteristics[0].value
        async with (
            b.advertise(),
            a.connect(address) as link,
            b.accept(LinkTransport.LE),
            link.att.listen(SERVICE_CHANGED) as changes,
        ):

            async def write(handle: int, value: bytes) -> None:
                assert await link.att.exchange(WriteRequest(handle, value)) == WriteResponse()

            await write(CLIENT_SUPPORTED_FEATURES, b"\x01")
            await write(SERVICE_CHANGED_CCCD, b"\x02\x00")
            added = await b.gatt_server.add_service(Service(0x181A))
            with trio.fail_after(30):
                change = await changes.receive()
            assert change.value == added.service.to_bytes(2, "little") + added.end.to_bytes(
                2, "little"
            )
            assert await link.att.exchange(ReadRequest(level)) == ReadResponse(b"\x64")
            # Indications off: nothing tells the client of the next changes.
            await write(SERVICE_CHANGED_CCCD, b"\x00\x00")
            await b.gatt_server.add_service(Service(0x181B))
            hash_read = ReadByTypeRequest(0x0001, 0xFFFF, DATABASE_HASH_UUID)
            assert isinstance(await link.att.exchange(hash_read), ReadByTypeResponse)
            assert await link.att.exchange(ReadRequest(level)) == ReadResponse(b"\x64")
            await b.gatt_server.add_service(Service(0x181C))
            out_of_sync = ErrorResponse(0x0A, level, 0x12)
            assert await link.att.exchange(ReadRequest(level)) == out_of_sync
            assert await link.att.exchange(ReadRequest(level)) == ReadResponse(b"\x64")
