"""Our GATT client (``link.gatt``) against our GATT server (``stack.gatt_server``), two
stacks on the virtual controller: every procedure, a 300-octet read, a 500-octet write,
notifications and indications, a characteristic that needs encryption (the client pairs,
then retries), the discovery cache of a bonded peer across a reconnection."""

from __future__ import annotations

import contextlib
import uuid as uuid_module
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
import trio
from trio.testing import MockClock

from bluetrio import Link, Stack
from bluetrio.errors import GattAttributeError, InvalidArgumentError, LinkLost
from bluetrio.gatt.client import GattClient
from bluetrio.gatt.remote import RemoteCharacteristic
from bluetrio.keystore import MemoryKeyStore
from bluetrio.messages.att import AttErrorCode, ReadByGroupTypeRequest
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

CUSTOM = uuid_module.UUID("5a1e0001-6c2b-4d3e-8f90-1b2c3d4e5f60")
LONG = uuid_module.UUID("5a1e0002-6c2b-4d3e-8f90-1b2c3d4e5f60")
WRITABLE = uuid_module.UUID("5a1e0003-6c2b-4d3e-8f90-1b2c3d4e5f60")
SECRET = uuid_module.UUID("5a1e0004-6c2b-4d3e-8f90-1b2c3d4e5f60")
TICKS = uuid_module.UUID("5a1e0005-6c2b-4d3e-8f90-1b2c3d4e5f60")
INCLUDED = uuid_module.UUID("5a1e0006-6c2b-4d3e-8f90-1b2c3d4e5f60")
LONG_VALUE = bytes(range(256)) + bytes(range(44))  # 300 octets


@attrs.define
class Database:
    level: Characteristic
    ticks: Characteristic
    included: Service
    battery: Service
    custom: Service


def database() -> Database:
    level = Characteristic(0x2A19, Properties.READ | Properties.NOTIFY, b"\x64")
    ticks = Characteristic(TICKS, Properties.INDICATE, b"")
    included = Service(INCLUDED, [Characteristic(0x2A07, Properties.READ, b"\x04")], primary=False)
    custom = Service(
        CUSTOM,
        [
            Characteristic(LONG, Properties.READ, LONG_VALUE, user_description="300 octets"),
            Characteristic(WRITABLE, Properties.READ | Properties.WRITE, bytes(4)),
            Characteristic(
                SECRET,
                Properties.READ,
                b"secret",
                permissions=Permissions(read_security=AccessSecurity(encryption=True)),
            ),
            ticks,
        ],
        included=[included],
    )
    return Database(level, ticks, included, Service(0x180F, [level]), custom)


@contextlib.asynccontextmanager
async def linked(
    central: dict[str, Any] | None = None, peripheral: dict[str, Any] | None = None
) -> AsyncIterator[tuple[Stack, Link, Stack, Link, Database]]:
    served = database()
    async with open_stack_pair(central, {"pairable": True, **(peripheral or {})}) as (a, b):
        for service in (served.included, served.battery, served.custom):
            await b.gatt_server.add_service(service)
        address = (await b.ready()).address
        async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE) as peer:
            yield a, link, b, peer, served


def found(gatt: GattClient, uuid: uuid_module.UUID | int) -> RemoteCharacteristic:
    characteristic = gatt.characteristic(uuid)
    assert characteristic is not None, f"{uuid} not discovered"
    return characteristic


async def test_every_procedure_against_our_server(autojump_clock: MockClock) -> None:
    async with linked() as (_, link, _, _, _):
        gatt = link.gatt
        assert gatt is link.gatt  # one client per link
        assert await gatt.exchange_mtu(247) == 247
        tree = await gatt.discover_all()
        assert tree[0].uuid == uuid16(0x1800)  # GAP first
        custom = gatt.service(CUSTOM)
        assert custom is not None and [s.uuid for s in custom.included] == [INCLUDED]
        assert [c.uuid for c in custom.included[0].characteristics] == [uuid16(0x2A07)]
        (battery,) = await gatt.discover_services(0x180F)
        assert battery == attrs.evolve(gatt.service(0x180F), characteristics=(), included=())
        long = found(gatt, LONG)
        assert long.descriptor(uuid16(0x2901)) is not None
        assert await gatt.read(long.descriptor(uuid16(0x2901))) == b"300 octets"  # type: ignore[arg-type]
        assert await gatt.read(long) == LONG_VALUE
        assert await gatt.read_long(long, 290) == LONG_VALUE[290:]
        level = found(gatt, 0x2A19)
        assert await gatt.read_by_uuid(0x2A19) == ((level.value_handle, b"\x64"),)
        writable = found(gatt, WRITABLE)
        assert await gatt.read_multiple([level, writable]) == b"\x64" + bytes(4)
        assert await gatt.read_multiple_variable([level, writable]) == (b"\x64", bytes(4))
        await gatt.write(writable, b"four")
        assert await gatt.read(writable) == b"four"
        await gatt.write(writable, b"cmd!", with_response=False)
        assert await gatt.read(writable) == b"cmd!"
        await gatt.reliable_write([(writable, b"AB"), (writable, b"ABCD")])
        assert await gatt.read(writable) == b"ABCD"


async def test_a_300_octet_read_and_a_500_octet_write_at_the_default_mtu(
    autojump_clock: MockClock,
) -> None:
    async with linked() as (_, link, _, _, _):
        gatt = link.gatt
        await gatt.discover_all()
        assert gatt.mtu == 23
        assert await gatt.read(found(gatt, LONG)) == LONG_VALUE
        value = bytes(reversed(range(250))) * 2
        await gatt.write(found(gatt, WRITABLE), value)
        assert await gatt.read(found(gatt, WRITABLE)) == value
        with pytest.raises(InvalidArgumentError):
            await gatt.write(found(gatt, WRITABLE), bytes(513))


async def test_notifications_and_indications(autojump_clock: MockClock) -> None:
    async with linked() as (_, link, b, _, served):
        gatt = link.gatt
        await gatt.discover_all()
        async with gatt.subscribe(found(gatt, 0x2A19)) as levels:
            for value in (b"\x63", b"\x62", b"\x61"):
                await b.gatt_server.notify(served.level, value)
            assert [await levels.__anext__() for _ in range(3)] == [b"\x63", b"\x62", b"\x61"]
        delivery = await b.gatt_server.notify(served.level, b"\x60")
        assert delivery.delivered_to == ()  # the CCCD was written back to 0
        async with gatt.subscribe(found(gatt, TICKS)) as ticks, trio.open_nursery() as nursery:
            nursery.start_soon(b.gatt_server.indicate, served.ticks, b"tick")
            assert await ticks.__anext__() == b"tick"


async def test_an_encrypted_characteristic_pairs_then_reads(autojump_clock: MockClock) -> None:
    async with linked() as (_, link, _, _, _):
        gatt = link.gatt
        await gatt.discover_all()
        secret = found(gatt, SECRET)
        gatt.auto_secure = False
        try:
            await gatt.read(secret)
        except GattAttributeError as error:
            assert error.error_code == AttErrorCode.INSUFFICIENT_ENCRYPTION
        else:
            raise AssertionError("read without encryption")
        assert not link.encrypted
        gatt.auto_secure = True
        with trio.fail_after(60):
            assert await gatt.read(secret) == b"secret"
        assert link.encrypted


async def test_the_cache_of_a_bonded_peer_spares_the_discovery(autojump_clock: MockClock) -> None:
    stores = {"keystore": MemoryKeyStore}
    async with linked(stores, stores) as (a, link, b, _, _):
        with trio.fail_after(60):
            await link.pair()
        first = await link.gatt.discover_all()
        assert link.gatt.service_changed_handle is not None  # the server's GATT service
        address = link.address
        await link.disconnect()
        requests: list[object] = []
        async with b.advertise(), a.connect(address) as again, b.accept(LinkTransport.LE):
            with trio.fail_after(60):
                await again.pair()  # encrypts with the bond
            original = again.att.exchange

            async def counting(request: Any, **options: Any) -> Any:
                requests.append(request)
                return await original(request, **options)

            again.att.exchange = counting  # type: ignore[method-assign]
            assert again.gatt is not link.gatt
            assert await again.gatt.discover_all() == first
            assert requests  # the Database Hash was read...
            assert not any(isinstance(r, ReadByGroupTypeRequest) for r in requests)  # ...only
            # The peer's database changes: its Service Changed indication drops the cache.
            added = Service(0x181A, [Characteristic(0x2A6E, Properties.READ, b"\x00\x01")])
            await b.gatt_server.add_service(added)
            with trio.fail_after(30):
                while again.gatt.services:
                    await trio.sleep(0.1)
            assert await a.gatt_clients.cache.get(again.peer) is None
            tree = await again.gatt.discover_all()
            assert again.gatt.service(0x181A) is not None and tree != first


async def test_concurrent_operations_and_a_subscription_ended_by_the_link(
    autojump_clock: MockClock,
) -> None:
    async with linked() as (_, link, _, _, _):
        gatt = link.gatt
        await gatt.discover_all()
        long, level = found(gatt, LONG), found(gatt, 0x2A19)
        results: list[bytes] = []

        async def read(characteristic: RemoteCharacteristic) -> None:
            results.append(await gatt.read(characteristic))

        async with trio.open_nursery() as nursery:
            for characteristic in (long, level, long, level):
                nursery.start_soon(read, characteristic)
        assert sorted(results) == sorted([LONG_VALUE, b"\x64"] * 2)
        async with gatt.subscribe(level) as values:
            await link.disconnect()
            with trio.fail_after(5):
                assert [value async for value in values] == []  # ended with the link
        with pytest.raises(LinkLost):
            await gatt.read(level)
