"""A Bumble GATT client (an independent ATT/GATT, Core 5.4 Vol 3 Parts F and G); run by the
interop tests.

    python bumble_gatt_client.py CONTROLLER --connect ADDRESS[/P|/R] --long UUID --echo UUID \
        --notify UUID --indicate UUID --encrypted UUID [--values N] [--mtu MTU]

CONTROLLER is a Bumble transport (``tcp-client:127.0.0.1:PORT``: Root Canal or bluetrio's
served virtual controller), or ``local`` for a Bumble controller on Bumble's LocalLink with a
second controller served to one HCI host over TCP (``bumble_local_link.py``; PORT reported).
ADDRESS ``-`` is read from the first line of stdin (the test's host needs PORT first); ``/P``
marks a public address, anything else is random.

It connects over LE, then in this order: exchanges the MTU (with ``--mtu``), discovers every
service, characteristic and descriptor; reads ``--long`` (Read Blob after the first part when
the value fills the MTU, Vol 3 Part G 4.8.3); writes 500 pseudo-random octets
(``random.Random(500).randbytes(500)``) to ``--echo`` with a Write Request (a Write Long,
4.9.4, when they do not fit) and reads them back; subscribes to ``--notify`` (notifications)
and ``--indicate`` (indications; Bumble confirms each) and waits for N values of each; reads
``--encrypted``, and when the server answers Insufficient Encryption, Authentication or Key
Size (Bumble's client does not pair on its own on such an error) pairs (Secure Connections
Just Works, bonding) and reads it again. Each report is one line on stdout, a word and, for
structured facts, a JSON object:

    ADDRESS <address>               its address (static random)
    PORT <port>                     (``local``) where the second controller listens
    READY                           about to connect
    CONNECTED <peer>
    MTU <mtu>                       (--mtu) the MTU agreed
    DISCOVERED <json>               {"services": [{"uuid", "start", "end", "characteristics":
                                    [{"uuid", "handle", "properties", "descriptors":
                                    [{"uuid", "handle"}]}]}]}, UUIDs in full form
    READ <json>                     {"role": "long"|"echo"|"encrypted", "value": hex}
    WROTE <json>                    {"role": "echo", "count": 500, "sha256": ...}
    SUBSCRIBED                      both CCCDs written
    VALUES <json>                   {"role": "notify"|"indicate", "values": [hex, ...]}
    SECURITY_ERROR <json>           {"role": "encrypted", "error": code}: the first read's error
    PAIRED                          pairing done
    DONE                            every step done

A step that fails ends the process, its traceback on stderr (the test shows it).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sys
import uuid as uuid_module
from typing import Any

from bumble.att import ATT_Error
from bumble.core import UUID, PhysicalTransport
from bumble.device import Connection, Device, Peer
from bumble.gatt_client import CharacteristicProxy
from bumble.hci import Address
from bumble.keys import MemoryKeyStore
from bumble.logging import setup_basic_logging
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport import open_transport

NAME = "bumble-gatt-client"
ADDRESS = "F0:F1:F2:F3:F4:FA"  # static random (two top bits set)
WRITE_COUNT = 500
# Vol 3 Part F table 3.4: the errors a client answers by raising the link's security.
SECURITY_ERRORS = {
    0x05: "Insufficient Authentication",
    0x0C: "Insufficient Encryption Key Size",
    0x0F: "Insufficient Encryption",
}


def report(word: str, *rest: object) -> None:
    print(word, *rest, flush=True)


def report_json(word: str, fact: dict[str, Any]) -> None:
    report(word, json.dumps(fact, separators=(",", ":")))


def full_uuid(uuid: UUID) -> str:
    """A Bumble UUID in the standard 128-bit form (Bumble keeps the octets little-endian)."""
    return str(uuid_module.UUID(bytes=bytes(reversed(uuid.to_bytes(force_128=True)))))


async def read_line() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def discover(peer: Peer) -> dict[str, CharacteristicProxy[bytes]]:
    """Every service, characteristic and descriptor, reported as DISCOVERED; the
    characteristics by their full UUID."""
    found: dict[str, CharacteristicProxy[bytes]] = {}
    services = []
    for service in await peer.discover_services():
        characteristics = []
        for characteristic in await service.discover_characteristics():
            descriptors = await characteristic.discover_descriptors()
            found[full_uuid(characteristic.uuid)] = characteristic
            characteristics.append(
                {
                    "uuid": full_uuid(characteristic.uuid),
                    "handle": characteristic.handle,
                    "properties": int(characteristic.properties),
                    "descriptors": [
                        {"uuid": full_uuid(descriptor.type), "handle": descriptor.handle}
                        for descriptor in descriptors
                    ],
                }
            )
        services.append(
            {
                "uuid": full_uuid(service.uuid),
                "start": service.handle,
                "end": service.end_group_handle,
                "characteristics": characteristics,
            }
        )
    report_json("DISCOVERED", {"services": services})
    return found


def characteristic_of(
    found: dict[str, CharacteristicProxy[bytes]], text: str
) -> CharacteristicProxy[bytes]:
    key = str(uuid_module.UUID(text))
    if key not in found:
        raise LookupError(f"no characteristic {key} discovered")
    return found[key]


async def collect_values(
    peer: Peer, notify: CharacteristicProxy[bytes], indicate: CharacteristicProxy[bytes], count: int
) -> None:
    """Subscribe to both, say SUBSCRIBED, and report the first ``count`` values of each."""
    received: dict[str, list[bytes]] = {"notify": [], "indicate": []}
    done = {role: asyncio.Event() for role in received}

    def sink(role: str) -> Any:
        def on_value(value: bytes) -> None:
            received[role].append(bytes(value))
            if len(received[role]) >= count:
                done[role].set()

        return on_value

    await peer.subscribe(notify, sink("notify"), prefer_notify=True)
    await peer.subscribe(indicate, sink("indicate"), prefer_notify=False)
    report("SUBSCRIBED")
    for role, event in done.items():
        await event.wait()
        report_json("VALUES", {"role": role, "values": [v.hex() for v in received[role][:count]]})


async def read_encrypted(connection: Connection, peer: Peer, characteristic: Any) -> None:
    try:
        value = await peer.read_value(characteristic)
    except ATT_Error as error:
        if error.error_code not in SECURITY_ERRORS:
            raise
        report_json("SECURITY_ERROR", {"role": "encrypted", "error": error.error_code})
        await connection.pair()
        report("PAIRED")
        value = await peer.read_value(characteristic)
    report_json("READ", {"role": "encrypted", "value": value.hex()})


async def exercise(connection: Connection, args: argparse.Namespace) -> None:
    """The scenario, step by step; an exception ends the process with its traceback on
    stderr, which the test shows."""
    peer = Peer(connection)
    if args.mtu is not None:
        report("MTU", await peer.request_mtu(args.mtu))
    found = await discover(peer)
    value = await peer.read_value(characteristic_of(found, args.long))
    report_json("READ", {"role": "long", "value": value.hex()})
    echo = characteristic_of(found, args.echo)
    payload = random.Random(WRITE_COUNT).randbytes(WRITE_COUNT)
    await peer.write_value(echo, payload, with_response=True)
    digest = hashlib.sha256(payload).hexdigest()
    report_json("WROTE", {"role": "echo", "count": len(payload), "sha256": digest})
    report_json("READ", {"role": "echo", "value": (await peer.read_value(echo)).hex()})
    notify = characteristic_of(found, args.notify)
    indicate = characteristic_of(found, args.indicate)
    await collect_values(peer, notify, indicate, args.values)
    await read_encrypted(connection, peer, characteristic_of(found, args.encrypted))
    report("DONE")


def configure(device: Device) -> None:
    device.keystore = MemoryKeyStore()
    delegate = PairingDelegate(io_capability=PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT)
    device.pairing_config_factory = lambda _connection: PairingConfig(
        sc=True, mitm=False, bonding=True, delegate=delegate
    )


async def run(device: Device, port: int | None, args: argparse.Namespace) -> None:
    configure(device)
    await device.power_on()
    report("ADDRESS", device.random_address)
    if port is not None:
        report("PORT", port)
    report("READY")
    target = args.connect
    if target == "-":
        target = (await read_line()).strip()
    kind = Address.PUBLIC_DEVICE_ADDRESS if target.endswith("/P") else Address.RANDOM_DEVICE_ADDRESS
    address = Address(target.split("/")[0], kind)
    connection = await device.connect(address, transport=PhysicalTransport.LE)
    report("CONNECTED", connection.peer_address)
    await exercise(connection, args)
    await asyncio.Event().wait()  # until the test terminates us


async def main_async(args: argparse.Namespace) -> None:
    if args.controller == "local":
        from bumble_local_link import local_link_controllers

        async with local_link_controllers(bredr=False) as (host, port):
            await run(Device(name=NAME, address=Address(ADDRESS), host=host), port, args)
        return
    async with await open_transport(args.controller) as transport:
        device = Device.with_hci(NAME, Address(ADDRESS), transport.source, transport.sink)
        device.le_enabled = True
        device.classic_enabled = False
        await run(device, None, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("controller", help="a Bumble transport spec, or 'local'")
    parser.add_argument("--connect", metavar="ADDRESS", required=True, help="the server; - stdin")
    for role in ("long", "echo", "notify", "indicate", "encrypted"):
        parser.add_argument(f"--{role}", metavar="UUID", required=True)
    parser.add_argument("--values", type=int, default=3, help="values awaited per subscription")
    parser.add_argument("--mtu", type=int, default=None, help="exchange the MTU first")
    args = parser.parse_args()
    setup_basic_logging("WARNING")  # BUMBLE_LOGLEVEL overrides it
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
