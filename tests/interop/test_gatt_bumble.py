"""GATT between bluetrio and Bumble's host (an independent ATT/GATT, Core 5.4 Vol 3 Parts F
and G), each host on its own controller of one server: Bumble's controllers (two on one
LocalLink), bluetrio's served controller and Root Canal.

Both directions: our client against Bumble's server (``peers/bumble_gatt_server.py``), and
Bumble's client (``peers/bumble_gatt_client.py``) against our server. Each runs the same
scenario at the default MTU of 23, so the long procedures are used: discovery of every
service, characteristic and descriptor; a 300-octet value read (Read Blob, 4.8.3); 500
octets written (Prepare and Execute Write, 4.9.4) and read back; notifications and
indications (each confirmed) after subscribing; a characteristic that needs encryption,
read first unencrypted (Insufficient Encryption), then again once the client paired (ours
pairs and retries by itself; Bumble's client is driven to, as it does not).
test_gatt_bumble_peers.py runs the two Bumble peers against each other, so the scenario is
known to hold between two Bumbles.

Over Bumble's LocalLink our stack uses a static random address (the LocalLink announces the
initiator of a connection as random whatever its own type; see test_smp_bumble.py), and each
side has its own address. Root Canal answers back-to-back exchanges late, so the deadlines
are generous; nothing sleeps.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from gatt_bumble_support import (
    CONTROLLER_KINDS,
    LONG_VALUE,
    STEP_LIMIT,
    VALUE_COUNT,
    WRITTEN_VALUE,
    Controllers,
    client_arguments,
    controllers_for,
    discovered_characteristics,
    follow_client,
    gatt_peer,
    server_uuids,
    wait_for,
)
from interop_support import TEST_LIMIT, ReportingProcess

from bluetrio.actors.btm.config import StackConfig
from bluetrio.address import Address, AddressType
from bluetrio.gatt import (
    AccessSecurity,
    Characteristic,
    Permissions,
    Properties,
    Service,
    WriteContext,
)
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.uuids import uuid16
from bluetrio.pairing import IoCapability, PairingDelegate
from bluetrio.stack import Stack, open_stack

pytestmark = pytest.mark.interop

pytest.importorskip("bumble")

OUR_STATIC_ADDRESS = Address.parse("C4:11:22:33:44:66", AddressType.RANDOM)
BATTERY_SERVICE = uuid16(0x180F)
BATTERY_LEVEL = uuid16(0x2A19)
ENCRYPTED_VALUE = b"the encrypted characteristic"  # what both servers hold
INSUFFICIENT_ENCRYPTION = 0x0F
ECHO_LIMIT = 500
# Our server's service and its characteristic per role (the Bumble client is told them).
OUR_SERVICE = uuid.UUID("9c0e0000-5d1b-4a7e-8f60-2b3c4d5e6f70")
OUR_UUIDS = {
    role: str(uuid.UUID(f"9c0e000{index}-5d1b-4a7e-8f60-2b3c4d5e6f70"))
    for index, role in enumerate(("long", "echo", "notify", "indicate", "encrypted"), start=1)
}


@pytest.fixture(params=CONTROLLER_KINDS)
def controllers(request: pytest.FixtureRequest) -> Controllers:
    return controllers_for(request.param, request)


def our_config(controllers: Controllers) -> StackConfig:
    if controllers.kind == "bumble":
        return StackConfig(static_address=OUR_STATIC_ADDRESS)
    return StackConfig()


@contextlib.asynccontextmanager
async def our_stack(controllers: Controllers, peer: ReportingProcess) -> AsyncIterator[Stack]:
    async with open_stack(
        controllers.our_spec(peer),
        bring_up=True,
        pairable=True,
        pairing_delegate=PairingDelegate(IoCapability.NO_INPUT_NO_OUTPUT),
        config=our_config(controllers),
    ) as stack:
        yield stack


async def first_values(values: AsyncIterator[bytes], count: int) -> list[bytes]:
    taken: list[bytes] = []
    async for value in values:
        taken.append(value)
        if len(taken) == count:
            break
    return taken


async def test_our_client_against_the_bumble_server(
    tmp_path: Path, controllers: Controllers
) -> None:
    with (
        trio.fail_after(TEST_LIMIT),
        gatt_peer("bumble_gatt_server.py", tmp_path / "server.log", controllers.bumble) as server,
    ):
        uuids = {role: uuid.UUID(text) for role, text in server_uuids(server).items()}
        address = Address.parse(server.reports["ADDRESS"], AddressType.RANDOM)
        async with (
            our_stack(controllers, server) as stack,
            stack.connect(address, timeout=STEP_LIMIT) as link,
        ):
            gatt = link.gatt
            with trio.fail_after(STEP_LIMIT):
                services = await gatt.discover_all()
            found = {service.uuid: service for service in services}
            assert BATTERY_SERVICE in found
            battery_level = found[BATTERY_SERVICE].characteristic(BATTERY_LEVEL)
            assert battery_level is not None and battery_level.cccd is not None
            custom = found[uuid.UUID(server.reports["SERVICE"])]
            characteristics = {role: custom.characteristic(u) for role, u in uuids.items()}
            assert None not in characteristics.values()
            with trio.fail_after(STEP_LIMIT):
                assert await gatt.read(battery_level) == bytes([87])
                # Discovery and reads run at the default MTU: the long procedures are used.
                assert await gatt.read(characteristics["long"]) == LONG_VALUE
                await gatt.write(characteristics["echo"], WRITTEN_VALUE)
            written = await wait_for(server, "WRITTEN")
            assert written == f"{len(WRITTEN_VALUE)} {hashlib.sha256(WRITTEN_VALUE).hexdigest()}"
            with trio.fail_after(STEP_LIMIT):
                assert await gatt.read(characteristics["echo"]) == WRITTEN_VALUE
            async with (
                gatt.subscribe(characteristics["notify"]) as notifications,
                gatt.subscribe(characteristics["indicate"]) as indications,
            ):
                server.tell(f"notify {VALUE_COUNT}")
                server.tell(f"indicate {VALUE_COUNT}")
                with trio.fail_after(STEP_LIMIT):
                    notified = await first_values(notifications, VALUE_COUNT)
                    indicated = await first_values(indications, VALUE_COUNT)
                assert await wait_for(server, "INDICATED") == str(VALUE_COUNT)  # all confirmed
            assert notified == [f"notify-{i}".encode() for i in range(VALUE_COUNT)]
            assert indicated == [f"indicate-{i}".encode() for i in range(VALUE_COUNT)]
            # The server answers Insufficient Encryption; the client pairs and reads again.
            assert not link.encrypted
            with trio.fail_after(STEP_LIMIT):
                assert await gatt.read(characteristics["encrypted"]) == ENCRYPTED_VALUE
            assert link.encrypted
            await wait_for(server, "PAIRED")


class Echo:
    """Our ``echo`` characteristic: up to 500 octets written, given back on read."""

    def __init__(self) -> None:
        self.value = b""

    async def read(self, _context: object) -> bytes:
        return self.value

    async def write(self, _context: WriteContext, value: bytes) -> None:
        self.value = value


def our_services(echo: Echo) -> tuple[dict[str, Characteristic], list[Service]]:
    characteristics = {
        "long": Characteristic(OUR_UUIDS["long"], Properties.READ, value=LONG_VALUE),
        "echo": Characteristic(
            OUR_UUIDS["echo"],
            Properties.READ | Properties.WRITE,
            on_read=echo.read,
            on_write=echo.write,
        ),
        "notify": Characteristic(OUR_UUIDS["notify"], Properties.NOTIFY),
        "indicate": Characteristic(OUR_UUIDS["indicate"], Properties.INDICATE),
        "encrypted": Characteristic(
            OUR_UUIDS["encrypted"],
            Properties.READ,
            value=ENCRYPTED_VALUE,
            permissions=Permissions(read_security=AccessSecurity(encryption=True)),
        ),
    }
    level = Characteristic(BATTERY_LEVEL, Properties.READ | Properties.NOTIFY, value=bytes([87]))
    services = [
        Service(BATTERY_SERVICE, [level]),
        Service(OUR_SERVICE, list(characteristics.values())),
    ]
    return characteristics, services


async def our_address(controllers: Controllers, stack: Stack) -> str:
    """Our address on the air, as Bumble's client is told it (``ADDRESS/P|R``)."""
    if controllers.kind == "bumble":
        return f"{OUR_STATIC_ADDRESS}/R"
    return f"{(await stack.ready()).address}/P"


@pytest.mark.parametrize("mtu", [None, 517], ids=["mtu-23", "mtu-517"])
async def test_the_bumble_client_against_our_server(
    tmp_path: Path, controllers: Controllers, mtu: int | None
) -> None:
    """At the default MTU the long procedures run; after Bumble's MTU exchange (517, which
    our server takes whole, Vol 3 Part F 3.4.2) the values fit in one PDU each."""
    # Bumble connects to the address we tell it on stdin once our stack is up (on its own
    # controllers the peer serves ours, so it runs first).
    arguments = [controllers.bumble, "--connect", "-", *client_arguments(OUR_UUIDS)]
    if mtu is not None:
        arguments += ["--mtu", str(mtu)]
    echo = Echo()
    characteristics, services = our_services(echo)
    with (
        trio.fail_after(TEST_LIMIT),
        gatt_peer("bumble_gatt_client.py", tmp_path / "client.log", *arguments) as client,
    ):
        async with our_stack(controllers, client) as stack:
            for service in services:
                await stack.gatt_server.add_service(service)
            async with stack.advertise():
                client.tell(await our_address(controllers, stack))
                async with stack.accept(LinkTransport.LE, timeout=STEP_LIMIT) as link:

                    async def send_values() -> None:
                        for index in range(VALUE_COUNT):
                            value = f"notify-{index}".encode()
                            await stack.gatt_server.notify(characteristics["notify"], value)
                        for index in range(VALUE_COUNT):
                            value = f"indicate-{index}".encode()
                            await stack.gatt_server.indicate(characteristics["indicate"], value)

                    run = await follow_client(client, while_subscribed=send_values)
                    assert link.encrypted

    assert client.reports.get("MTU") == (None if mtu is None else str(mtu))
    found = discovered_characteristics(run.discovered)
    assert str(BATTERY_LEVEL) in found
    assert set(OUR_UUIDS.values()) <= set(found)
    assert {d["uuid"] for d in found[OUR_UUIDS["notify"]]["descriptors"]} == {str(uuid16(0x2902))}
    assert run.long_value == LONG_VALUE
    assert run.written_sha256 == hashlib.sha256(WRITTEN_VALUE).hexdigest()
    assert echo.value == WRITTEN_VALUE
    assert run.echoed == WRITTEN_VALUE
    assert run.notifications == [f"notify-{i}".encode() for i in range(VALUE_COUNT)]
    assert run.indications == [f"indicate-{i}".encode() for i in range(VALUE_COUNT)]
    assert run.security_error == INSUFFICIENT_ENCRYPTION
    assert run.encrypted_value == ENCRYPTED_VALUE
