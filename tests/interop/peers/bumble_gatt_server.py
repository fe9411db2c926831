"""A Bumble GATT server (an independent ATT/GATT, Core 5.4 Vol 3 Parts F and G); run by the
interop tests.

    python bumble_gatt_server.py CONTROLLER

CONTROLLER is a Bumble transport (``tcp-client:127.0.0.1:PORT``: Root Canal or bluetrio's
served virtual controller), or ``local`` for a Bumble controller on Bumble's LocalLink with a
second controller served to one HCI host over TCP (``bumble_local_link.py``; PORT reported).

It advertises (connectable, name ``bumble-gatt``), is pairable (Secure Connections Just
Works, bonding) and serves, besides Bumble's GAP and GATT services, the Battery Service
(0x180F, Battery Level 0x2A19 read and notify, value 87) and one custom service whose
characteristics each have a role:

    long        read: 300 octets (``random.Random(300).randbytes(300)``), read with Read Blob
    echo        read, write: takes up to 500 octets; a read gives what was written last
    notify      notify: sends values when told on stdin (``notify N``)
    indicate    indicate: sends values when told on stdin (``indicate N``), each confirmed
    encrypted   read, needs an encrypted link (Insufficient Encryption until then)

Notified and indicated values are ``notify-<i>`` / ``indicate-<i>`` (i from 0). It reports
on stdout, one line per fact, flushed at once:

    ADDRESS <address>              its address (static random)
    PORT <port>                    (``local``) where the second controller listens
    CHARACTERISTICS <json>         {role: UUID}: each role's characteristic (full form)
    SERVICE <uuid>                 the custom service's UUID
    READY                          advertising
    CONNECTED <peer>
    MTU <mtu>                      the ATT MTU changed
    SUBSCRIBED <role> <notify 0|1> <indicate 0|1>   a client wrote the role's CCCD
    WRITTEN <count> <sha256>       a value was written to ``echo``
    NOTIFIED <count>               (told) that many notifications sent
    INDICATED <count>              (told) that many indications sent and confirmed
    ENCRYPTION <0|1>               encryption changed
    PAIRED                         pairing done
    DISCONNECTED <reason>
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sys
import uuid as uuid_module

from bumble import gatt
from bumble.att import ATT_Error
from bumble.core import AdvertisingData
from bumble.device import Connection, Device
from bumble.hci import Address
from bumble.keys import MemoryKeyStore
from bumble.logging import setup_basic_logging
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.profiles.battery_service import BatteryService
from bumble.transport import open_transport

NAME = "bumble-gatt"
ADDRESS = "F0:F1:F2:F3:F4:F9"  # static random (two top bits set)
SERVICE_UUID = "7a1e0000-6a5c-4b8e-9f3d-1c2b3a4d5e6f"
ROLE_UUIDS = {
    "long": "7a1e0001-6a5c-4b8e-9f3d-1c2b3a4d5e6f",
    "echo": "7a1e0002-6a5c-4b8e-9f3d-1c2b3a4d5e6f",
    "notify": "7a1e0003-6a5c-4b8e-9f3d-1c2b3a4d5e6f",
    "indicate": "7a1e0004-6a5c-4b8e-9f3d-1c2b3a4d5e6f",
    "encrypted": "7a1e0005-6a5c-4b8e-9f3d-1c2b3a4d5e6f",
}
LONG_VALUE = random.Random(300).randbytes(300)
ECHO_LIMIT = 500
ENCRYPTED_VALUE = b"the encrypted characteristic"
BATTERY_LEVEL = 87
# The ATT error Bumble's application answers for a value it does not take (Vol 3 Part F
# table 3.4: Invalid Attribute Value Length).
INVALID_ATTRIBUTE_VALUE_LENGTH = 0x0D

Properties = gatt.Characteristic.Properties
Permissions = gatt.Characteristic.Permissions


def report(*words: object) -> None:
    print(*words, flush=True)


def full_uuid(text: str) -> str:
    """The UUID in its full standard form, as the reports give it."""
    return str(uuid_module.UUID(text))


class Echo:
    """The ``echo`` characteristic's value: what was written last."""

    def __init__(self) -> None:
        self.value = b""

    def read(self, _connection: Connection) -> bytes:
        return self.value

    def write(self, _connection: Connection, value: bytes) -> None:
        if len(value) > ECHO_LIMIT:
            raise ATT_Error(INVALID_ATTRIBUTE_VALUE_LENGTH)
        self.value = bytes(value)
        report("WRITTEN", len(value), hashlib.sha256(value).hexdigest())


def custom_service(echo: Echo) -> tuple[gatt.Service, dict[str, gatt.Characteristic]]:
    characteristics = {
        "long": gatt.Characteristic(
            ROLE_UUIDS["long"], Properties.READ, Permissions.READABLE, LONG_VALUE
        ),
        "echo": gatt.Characteristic(
            ROLE_UUIDS["echo"],
            Properties.READ | Properties.WRITE,
            Permissions.READABLE | Permissions.WRITEABLE,
            gatt.CharacteristicValue(read=echo.read, write=echo.write),
        ),
        "notify": gatt.Characteristic(
            ROLE_UUIDS["notify"], Properties.NOTIFY, Permissions.READABLE, b""
        ),
        "indicate": gatt.Characteristic(
            ROLE_UUIDS["indicate"], Properties.INDICATE, Permissions.READABLE, b""
        ),
        "encrypted": gatt.Characteristic(
            ROLE_UUIDS["encrypted"],
            Properties.READ,
            Permissions.READABLE | Permissions.READ_REQUIRES_ENCRYPTION,
            ENCRYPTED_VALUE,
        ),
    }
    return gatt.Service(SERVICE_UUID, list(characteristics.values())), characteristics


def watch(connection: Connection) -> None:
    report("CONNECTED", connection.peer_address)
    connection.on(
        connection.EVENT_CONNECTION_ATT_MTU_UPDATE, lambda: report("MTU", connection.att_mtu)
    )
    connection.on(
        connection.EVENT_CONNECTION_ENCRYPTION_CHANGE,
        lambda: report("ENCRYPTION", int(connection.is_encrypted)),
    )
    connection.on(connection.EVENT_PAIRING, lambda _keys: report("PAIRED"))
    connection.on(connection.EVENT_DISCONNECTION, lambda reason: report("DISCONNECTED", reason))


async def read_line() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def obey(device: Device, characteristics: dict[str, gatt.Characteristic]) -> None:
    """Send notifications and indications as stdin asks (``notify N``, ``indicate N``)."""
    while line := await read_line():
        match line.split():
            case ["notify", count]:
                for index in range(int(count)):
                    value = f"notify-{index}".encode()
                    await device.notify_subscribers(characteristics["notify"], value)
                report("NOTIFIED", count)
            case ["indicate", count]:
                for index in range(int(count)):
                    value = f"indicate-{index}".encode()
                    await device.indicate_subscribers(characteristics["indicate"], value)
                report("INDICATED", count)
            case _:
                report("UNKNOWN_COMMAND", line.strip())


def configure(device: Device) -> dict[str, gatt.Characteristic]:
    device.keystore = MemoryKeyStore()
    delegate = PairingDelegate(io_capability=PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT)
    device.pairing_config_factory = lambda _connection: PairingConfig(
        sc=True, mitm=False, bonding=True, delegate=delegate
    )
    service, characteristics = custom_service(Echo())
    battery = BatteryService(lambda _connection: BATTERY_LEVEL)
    device.add_services([battery, service])
    roles = {characteristic.handle: role for role, characteristic in characteristics.items()}

    def on_subscription(
        _connection: Connection, characteristic: gatt.Characteristic, notify: bool, indicate: bool
    ) -> None:
        role = roles.get(characteristic.handle, str(characteristic.uuid))
        report("SUBSCRIBED", role, int(notify), int(indicate))

    device.on("characteristic_subscription", on_subscription)
    device.on(device.EVENT_CONNECTION, watch)
    return characteristics


async def run(device: Device, port: int | None) -> None:
    characteristics = configure(device)
    await device.power_on()
    device.advertising_data = bytes(
        AdvertisingData(
            [
                (AdvertisingData.FLAGS, bytes([0x06])),
                (AdvertisingData.COMPLETE_LOCAL_NAME, NAME.encode()),
            ]
        )
    )
    await device.start_advertising(auto_restart=True)
    report("ADDRESS", device.random_address)
    if port is not None:
        report("PORT", port)
    report("SERVICE", full_uuid(SERVICE_UUID))
    uuids = {role: full_uuid(text) for role, text in ROLE_UUIDS.items()}
    report("CHARACTERISTICS", json.dumps(uuids, separators=(",", ":")))
    report("READY")
    await obey(device, characteristics)
    await asyncio.Event().wait()  # stdin closed: until the test terminates us


async def main_async(controller: str) -> None:
    if controller == "local":
        from bumble_local_link import local_link_controllers

        async with local_link_controllers(bredr=False) as (host, port):
            await run(Device(name=NAME, address=Address(ADDRESS), host=host), port)
        return
    async with await open_transport(controller) as transport:
        device = Device.with_hci(NAME, Address(ADDRESS), transport.source, transport.sink)
        device.le_enabled = True
        device.classic_enabled = False
        await run(device, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("controller", help="a Bumble transport spec, or 'local'")
    args = parser.parse_args()
    setup_basic_logging("WARNING")  # BUMBLE_LOGLEVEL overrides it
    asyncio.run(main_async(args.controller))


if __name__ == "__main__":
    main()
