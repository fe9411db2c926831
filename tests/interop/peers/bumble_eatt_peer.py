"""A Bumble host speaking Enhanced ATT (Core 5.4 Vol 3 Part F 3.2.11, Part G 5.3.2); run by
the EATT interop tests.

    python bumble_eatt_peer.py CONTROLLER serve
    python bumble_eatt_peer.py CONTROLLER connect ADDRESS[/P|/R] [--bearers N]

CONTROLLER is a Bumble transport (``tcp-client:127.0.0.1:PORT``: bluetrio's served virtual
controller, Root Canal), or ``local`` (Bumble's LocalLink, a second controller served over
TCP; PORT reported).

``serve``: advertises (connectable, name ``bumble-eatt``), pairable (Secure Connections Just
Works), takes EATT channels (Bumble's ``register_eatt``) and serves one readable
characteristic (UUID below) whose value is 200 octets ``random.Random(200).randbytes(200)``.
``connect``: connects to ADDRESS over LE, pairs, opens N enhanced bearers (default 3) and
sends one Read Request for handle 0x0001 on each at once, reporting what came back.

Reports, one line each, flushed at once:

    ADDRESS <address>                   its address (static random)
    PORT <port>                         (``local``) where the second controller listens
    READY
    CONNECTED <peer>
    PAIRED
    EATT <cid>                          (serve) an enhanced bearer opened by the peer
    BEARERS <n>                         (connect) n enhanced bearers open
    ANSWER <cid> <opcode> <hex>         (connect) the response on bearer cid
    DONE
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys

from bumble import att, gatt, gatt_client
from bumble.core import AdvertisingData, PhysicalTransport
from bumble.device import Connection, Device
from bumble.hci import Address
from bumble.keys import MemoryKeyStore
from bumble.logging import setup_basic_logging
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport import open_transport

NAME = "bumble-eatt"
ADDRESS = "F0:F1:F2:F3:F4:E7"  # static random
CHARACTERISTIC_UUID = "7a1e00e1-6a5c-4b8e-9f3d-1c2b3a4d5e6f"
SERVICE_UUID = "7a1e00e0-6a5c-4b8e-9f3d-1c2b3a4d5e6f"
VALUE = random.Random(200).randbytes(200)


def report(*words: object) -> None:
    print(*words, flush=True)


def configure(device: Device) -> None:
    device.keystore = MemoryKeyStore()
    delegate = PairingDelegate(io_capability=PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT)
    device.pairing_config_factory = lambda _connection: PairingConfig(
        sc=True, mitm=False, bonding=True, delegate=delegate
    )


def serve(device: Device) -> None:
    characteristic = gatt.Characteristic(
        CHARACTERISTIC_UUID,
        gatt.Characteristic.Properties.READ,
        gatt.Characteristic.Permissions.READABLE,
        VALUE,
    )
    device.add_service(gatt.Service(SERVICE_UUID, [characteristic]))

    def on_connection(connection: Connection) -> None:
        report("CONNECTED", connection.peer_address)
        connection.on(connection.EVENT_PAIRING, lambda _keys: report("PAIRED"))

    device.on(device.EVENT_CONNECTION, on_connection)
    manager = device.l2cap_channel_manager
    servers = getattr(manager, "le_coc_servers", {})
    server = servers.get(att.EATT_PSM)
    if server is not None:  # report each bearer the peer opens, as Bumble takes it
        original = server.handler

        def on_channel(channel: object) -> None:
            report("EATT", f"0x{channel.source_cid:04X}")  # type: ignore[attr-defined]
            if original is not None:
                original(channel)

        server.handler = on_channel


async def connect(device: Device, target: str, bearers: int) -> None:
    kind = Address.PUBLIC_DEVICE_ADDRESS if target.endswith("/P") else Address.RANDOM_DEVICE_ADDRESS
    connection = await device.connect(
        Address(target.split("/")[0], kind), transport=PhysicalTransport.LE
    )
    report("CONNECTED", connection.peer_address)
    await connection.pair()
    report("PAIRED")
    clients = await gatt_client.Client.connect_eatt(connection, count=bearers)
    if not isinstance(clients, list):
        clients = [clients]
    report("BEARERS", len(clients))

    async def ask(client: gatt_client.Client) -> None:
        response = await client.send_request(att.ATT_Read_Request(attribute_handle=0x0001))
        cid = client.bearer.source_cid  # type: ignore[union-attr]
        report("ANSWER", f"0x{cid:04X}", f"0x{response.op_code:02X}", bytes(response).hex())

    await asyncio.gather(*(ask(client) for client in clients))
    report("DONE")


async def run(device: Device, port: int | None, args: argparse.Namespace) -> None:
    configure(device)
    if args.mode == "serve":
        serve(device)
    await device.power_on()
    report("ADDRESS", device.random_address)
    if port is not None:
        report("PORT", port)
    if args.mode == "serve":
        device.advertising_data = bytes(
            AdvertisingData(
                [
                    (AdvertisingData.FLAGS, bytes([0x06])),
                    (AdvertisingData.COMPLETE_LOCAL_NAME, NAME.encode()),
                ]
            )
        )
        await device.start_advertising(auto_restart=True)
        report("READY")
    else:
        report("READY")
        target = args.address
        if target == "-":
            target = (
                await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
            ).strip()
        await connect(device, target, args.bearers)
    await asyncio.Event().wait()  # until the test terminates us


def with_eatt(device: Device) -> Device:
    """The device taking EATT channels (what Bumble's ``eatt_enabled`` configures)."""
    device.gatt_server.register_eatt()
    return device


async def main_async(args: argparse.Namespace) -> None:
    if args.controller == "local":
        from bumble_local_link import local_link_controllers

        async with local_link_controllers(bredr=False) as (host, port):
            device = Device(name=NAME, address=Address(ADDRESS), host=host)
            await run(with_eatt(device), port, args)
        return
    async with await open_transport(args.controller) as transport:
        device = Device.with_hci(NAME, Address(ADDRESS), transport.source, transport.sink)
        device.le_enabled = True
        device.classic_enabled = False
        await run(with_eatt(device), None, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("controller", help="a Bumble transport spec, or 'local'")
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("serve")
    connecting = sub.add_parser("connect")
    connecting.add_argument("address", help="the peer; - reads it from stdin")
    connecting.add_argument("--bearers", type=int, default=3)
    args = parser.parse_args()
    setup_basic_logging("WARNING")  # BUMBLE_LOGLEVEL overrides it
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
