"""Our GATT client against our GATT server's core (``actors/gatt/server.py``), without a
stack: every request the client sends is answered by the server as the gatt actor would
hand it over, so both sides' reading of Core 5.4 Vol 3 Parts F and G meet."""

from __future__ import annotations

import uuid as uuid_module

import attrs
import pytest

from bluetrio.actors.gatt.outputs import SendPdu
from bluetrio.actors.gatt.permissions import LinkSecurity
from bluetrio.actors.gatt.server import GattServer
from bluetrio.address import Address
from bluetrio.errors import GattAttributeError
from bluetrio.gatt.client import GattClient
from bluetrio.messages.att import (
    DEFAULT_MTU,
    AttErrorCode,
    AttPdu,
    ExchangeMtuRequest,
    ExchangeMtuResponse,
    ReadBlobRequest,
)
from bluetrio.messages.gatt_declarations import (
    AccessSecurity,
    Characteristic,
    Permissions,
    Properties,
    Service,
    ServiceHandles,
)
from bluetrio.messages.uuids import uuid16
from bluetrio.testing.att_fake import FakeBearer

LINK = 0x0040
PEER = Address.parse("C0:11:22:33:44:55")
CUSTOM = uuid_module.UUID("8e3c0001-3f12-4c55-9c2a-6b1f00d0a5e1")
LONG = uuid_module.UUID("8e3c0002-3f12-4c55-9c2a-6b1f00d0a5e1")
WRITABLE = uuid_module.UUID("8e3c0003-3f12-4c55-9c2a-6b1f00d0a5e1")
SECRET = uuid_module.UUID("8e3c0004-3f12-4c55-9c2a-6b1f00d0a5e1")
HIDDEN = uuid_module.UUID("8e3c0005-3f12-4c55-9c2a-6b1f00d0a5e1")
LONG_VALUE = bytes(range(256)) + bytes(range(44))  # 300 octets


class ServerCore:
    """The server core answering one link's requests; Exchange MTU is the bearer's part
    (the server core is handed the MTU), so it is answered here."""

    def __init__(self, server: GattServer, receive_mtu: int = 517) -> None:
        self.server = server
        self.mtu = DEFAULT_MTU
        self.receive_mtu = receive_mtu
        server.on_link_up(LINK, PEER, LinkSecurity(), bonded=False)

    def answer(self, request: AttPdu) -> AttPdu:
        if isinstance(request, ExchangeMtuRequest):
            self.mtu = max(DEFAULT_MTU, min(request.mtu, self.receive_mtu))
            return ExchangeMtuResponse(self.receive_mtu)
        sent = [
            o.pdu
            for o in self.server.on_request(LINK, 0, request, self.mtu, 0.0)
            if isinstance(o, SendPdu)
        ]
        assert len(sent) == 1, f"{request} answered with {sent}"
        return sent[0]

    def take_command(self, command: AttPdu) -> None:
        assert self.server.on_request(LINK, 0, command, self.mtu, 0.0) == []


@attrs.define
class Served:
    server: GattServer
    core: ServerCore
    battery: ServiceHandles
    custom: ServiceHandles
    hidden: ServiceHandles


def served(receive_mtu: int = 517) -> Served:
    server = GattServer()
    hidden_service = Service(
        HIDDEN, [Characteristic(uuid16(0x2A07), Properties.READ, b"\x05")], primary=False
    )
    hidden = server.add_service(hidden_service)
    battery = server.add_service(
        Service(0x180F, [Characteristic(0x2A19, Properties.READ | Properties.NOTIFY, b"\x64")])
    )
    custom = server.add_service(
        Service(
            CUSTOM,
            [
                Characteristic(LONG, Properties.READ, LONG_VALUE, user_description="long"),
                Characteristic(WRITABLE, Properties.READ | Properties.WRITE, bytes(4)),
                Characteristic(
                    SECRET,
                    Properties.READ,
                    b"secret",
                    permissions=Permissions(read_security=AccessSecurity(encryption=True)),
                ),
            ],
            included=[hidden_service],
        )
    )
    return Served(server, ServerCore(server, receive_mtu), battery, custom, hidden)


@pytest.mark.parametrize("mtu", [23, 517])
async def test_discovery_finds_what_the_server_placed(mtu: int) -> None:
    world = served()
    gatt = GattClient(FakeBearer(world.core))
    await gatt.exchange_mtu(mtu)
    tree = await gatt.discover_all()
    assert [s.uuid for s in tree][-2:] == [uuid16(0x180F), CUSTOM]
    custom = gatt.service(CUSTOM)
    assert custom is not None
    assert (custom.handle, custom.end_handle) == (world.custom.service, world.custom.end)
    assert [(c.handle, c.value_handle, c.end_handle) for c in custom.characteristics] == [
        (c.declaration, c.value, c.end) for c in world.custom.characteristics
    ]
    level = gatt.characteristic(0x2A19)
    placed = world.battery.characteristics[0]
    assert level is not None and level.cccd is not None and level.cccd.handle == placed.cccd
    long = gatt.characteristic(LONG)
    assert long is not None and long.descriptor(uuid16(0x2901)) is not None
    (included,) = custom.included
    assert (included.handle, included.end_handle, included.uuid) == (
        world.hidden.service,
        world.hidden.end,
        HIDDEN,
    )
    assert [c.uuid for c in included.characteristics] == [uuid16(0x2A07)]


@pytest.mark.parametrize("mtu", [23, 517])
async def test_a_300_octet_read_and_a_500_octet_write(mtu: int) -> None:
    world = served()
    bearer = FakeBearer(world.core)
    gatt = GattClient(bearer)
    await gatt.exchange_mtu(mtu)
    await gatt.discover_all()
    assert await gatt.read(gatt.characteristic(LONG)) == LONG_VALUE  # type: ignore[arg-type]
    writable = gatt.characteristic(WRITABLE)
    assert writable is not None
    value = bytes(reversed(range(250))) * 2
    await gatt.write(writable, value)
    assert await gatt.read(writable) == value
    await gatt.reliable_write([(writable, b"ab")])
    assert (await gatt.read(writable))[:2] == b"ab"


async def test_reads_by_uuid_and_multiple() -> None:
    world = served()
    gatt = GattClient(FakeBearer(world.core))
    await gatt.discover_all()
    level = world.battery.characteristics[0].value
    assert await gatt.read_by_uuid(0x2A19) == ((level, b"\x64"),)
    writable = world.custom.characteristics[1].value
    assert await gatt.read_multiple([level, writable]) == b"\x64" + bytes(4)
    assert await gatt.read_multiple_variable([level, writable]) == (b"\x64", bytes(4))


async def test_subscribing_sets_and_clears_the_servers_cccd() -> None:
    world = served()
    gatt = GattClient(FakeBearer(world.core))
    await gatt.discover_all()
    level = gatt.characteristic(0x2A19)
    assert level is not None
    async with gatt.subscribe(level):
        assert world.server.subscribers(level.value_handle, False, None) == (LINK,)
    assert world.server.subscribers(level.value_handle, False, None) == ()


async def test_an_encrypted_characteristic_is_read_after_securing_the_link() -> None:
    world = served()
    asked: list[int] = []

    async def secure(error_code: int) -> None:
        asked.append(error_code)
        world.server.on_security_changed(LINK, LinkSecurity(encrypted=True, key_size=16))

    gatt = GattClient(FakeBearer(world.core), secure=secure)
    await gatt.discover_all()
    secret = gatt.characteristic(SECRET)
    assert secret is not None
    assert await gatt.read(secret) == b"secret"
    assert asked == [AttErrorCode.INSUFFICIENT_ENCRYPTION]
    unsecured = served()
    plain = GattClient(FakeBearer(unsecured.core), auto_secure=False)
    with pytest.raises(GattAttributeError) as raised:
        await plain.read(unsecured.custom.characteristics[2].value)
    assert raised.value.error_code == AttErrorCode.INSUFFICIENT_ENCRYPTION


async def test_long_reads_ask_no_further_than_the_value() -> None:
    world = served()
    requests: list[AttPdu] = []

    def record(request: AttPdu, answer: AttPdu) -> AttPdu:
        requests.append(request)
        return answer

    gatt = GattClient(FakeBearer(world.core, tamper=record))
    value = await gatt.read(world.custom.characteristics[0].value)
    assert value == LONG_VALUE
    offsets = [r.offset for r in requests if isinstance(r, ReadBlobRequest)]
    assert offsets == list(range(22, 300, 22))
