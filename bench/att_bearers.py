"""ATT bearers, bluetrio against Bumble on the same controllers: read round trips, a burst of
notifications, parallel reads over three enhanced bearers (Core 5.4 Vol 3 Part F 3.2.11, 3.3).

    python bench/att_bearers.py                       # local, served controller, Root Canal
    python bench/att_bearers.py --controllers local --rounds 5

For each controller -- ``local`` (bluetrio's in-process controller / Bumble's LocalLink),
``served`` (``bluetrio controller --listen``), ``rootcanal`` -- and each stack, in a fresh
interpreter with a fresh controller server, two devices of that stack linked over LE:

* ``read round trip``: 50 Read Requests for handle 0x0001 (the GAP service declaration) one
  after the other on the unenhanced bearer (ms per request and its response, from each
  stack's own server);
* ``100 notifications``: from the first Handle Value Notification sent until the client has
  the 100th (values of 20 octets; bluetrio's client subscribed through the CCCD, Bumble's
  server told to send regardless);
* ``12 reads on 3 EATT bearers``: once the link is encrypted and three enhanced bearers are
  open, 12 Read Requests at once (bluetrio spreads them over its bearers itself; Bumble's
  are given four each), until the last response.

Times are medians over ``--rounds``; the ratio is bluetrio's over Bumble's (lower is faster).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import trio
from procedures import Tally, compare_stacks
from support import CONTROLLERS, bumble_devices, print_table, summary_json

ROUND_TRIP = "read round trip"
NOTIFICATIONS = "100 notifications"
EATT_READS = "12 reads on 3 EATT bearers"
PROCEDURES = (ROUND_TRIP, NOTIFICATIONS, EATT_READS)
READS = 50
NOTIFIED = 100
PARALLEL = 12
BEARERS = 3


def bluetrio_worker(args: argparse.Namespace) -> dict[str, Any]:
    from bluetrio.actors.gatt.core import GattCore
    from bluetrio.actors.runtime import Actor
    from bluetrio.actors.topology import Layer
    from bluetrio.messages.att import ReadRequest, WriteRequest
    from bluetrio.messages.btm import LinkTransport
    from bluetrio.messages.gatt_declarations import Characteristic, Properties, Service
    from bluetrio.messages.gatt_service import GattNotifyReq
    from bluetrio.stack import open_stack

    tally = Tally()
    spec = args.spec or "virtual"

    async def main() -> None:
        for _ in range(args.rounds):
            central = GattCore()
            async with (
                open_stack(spec, bring_up=True, extra_layers=[Actor(central)]) as a,
                open_stack(spec, bring_up=True, pairable=True) as b,
            ):
                address = (await b.ready()).address
                async with (
                    b.advertise(),
                    a.connect(address, timeout=10) as link,
                    b.accept(LinkTransport.LE) as peer,
                ):
                    start = time.perf_counter()
                    for _ in range(READS):
                        await link.att.exchange(ReadRequest(1))
                    tally.add(ROUND_TRIP, (time.perf_counter() - start) / READS, 0)

                    level = Characteristic(0x2A19, Properties.NOTIFY)
                    placed = await b.gatt_server.add_service(Service(0x180F, (level,)))
                    handles = placed.characteristics[0]
                    assert handles.cccd is not None
                    await link.att.exchange(WriteRequest(handles.cccd, b"\x01\x00"))
                    async with link.att.listen(handles.value, capacity=NOTIFIED) as values:
                        start = time.perf_counter()
                        for n in range(NOTIFIED):
                            value = n.to_bytes(20, "little")
                            request = GattNotifyReq(
                                b.runtime.new_token(), handles.value, value, peer.handle
                            )
                            b.app.send(Layer.GATT, request)  # a burst: not awaited one by one
                        for _ in range(NOTIFIED):
                            await values.receive()
                        tally.add(NOTIFICATIONS, time.perf_counter() - start, 0)

                    await link.pair()
                    with trio.fail_after(10):
                        while len(central.links[link.handle].bearers) < 1 + BEARERS:
                            await trio.sleep(0.01)
                    start = time.perf_counter()
                    async with trio.open_nursery() as nursery:
                        for _ in range(PARALLEL):
                            nursery.start_soon(link.att.exchange, ReadRequest(1))
                    tally.add(EATT_READS, time.perf_counter() - start, 0)

    trio.run(main)
    return tally.result()


def bumble_worker(args: argparse.Namespace) -> dict[str, Any]:
    from bumble import att, gatt, gatt_client
    from bumble.keys import MemoryKeyStore
    from bumble.pairing import PairingConfig, PairingDelegate

    tally = Tally()

    def just_works(_connection: Any) -> PairingConfig:
        return PairingConfig(sc=True, mitm=False, bonding=True, delegate=PairingDelegate())

    async def one_round() -> None:
        async with bumble_devices(args.spec, 2, power_on=False) as (a, b):
            characteristic = gatt.Characteristic(
                "7a1e00b1-6a5c-4b8e-9f3d-1c2b3a4d5e6f",
                gatt.Characteristic.Properties.NOTIFY,
                gatt.Characteristic.Permissions.READABLE,
                b"",
            )
            b.add_service(gatt.Service("7a1e00b0-6a5c-4b8e-9f3d-1c2b3a4d5e6f", [characteristic]))
            b.gatt_server.register_eatt()
            for device in (a, b):
                device.keystore = MemoryKeyStore()
                device.pairing_config_factory = just_works
                await device.power_on()
            connected = asyncio.get_running_loop().create_future()
            b.on("connection", connected.set_result)
            await b.start_advertising(auto_restart=False)
            connection = await a.connect(b.random_address)
            peer_connection = await connected
            client = connection.gatt_client

            start = time.perf_counter()
            for _ in range(READS):
                await client.send_request(att.ATT_Read_Request(attribute_handle=1))
            tally.add(ROUND_TRIP, (time.perf_counter() - start) / READS, 0)

            received = 0
            all_in = asyncio.Event()

            def counted(_notification: Any) -> None:
                nonlocal received
                received += 1
                if received == NOTIFIED:
                    all_in.set()

            # Counted as they reach the client, before its subscriber look-up.
            client.on_att_handle_value_notification = counted  # type: ignore[method-assign]
            start = time.perf_counter()
            for n in range(NOTIFIED):
                await b.notify_subscriber(
                    peer_connection, characteristic, n.to_bytes(20, "little"), force=True
                )
            await all_in.wait()
            tally.add(NOTIFICATIONS, time.perf_counter() - start, 0)

            await connection.pair()
            clients = await gatt_client.Client.connect_eatt(connection, count=BEARERS)
            start = time.perf_counter()
            await asyncio.gather(
                *(
                    clients[n % BEARERS].send_request(att.ATT_Read_Request(attribute_handle=1))
                    for n in range(PARALLEL)
                )
            )
            tally.add(EATT_READS, time.perf_counter() - start, 0)
            await connection.disconnect()

    async def main() -> None:
        for _ in range(args.rounds):
            await one_round()

    asyncio.run(main())
    return tally.result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--controllers", nargs="+", choices=CONTROLLERS, default=list(CONTROLLERS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--worker", choices=("bluetrio", "bumble"), dest="stack", help=argparse.SUPPRESS
    )
    parser.add_argument("--controller", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stack:
        run = bluetrio_worker if args.stack == "bluetrio" else bumble_worker
        summary_json(run(args))
        return
    rows = compare_stacks(Path(__file__), args, PROCEDURES)
    print(f"median of {args.rounds} rounds; cells are bluetrio / Bumble (lower is faster)")
    print_table(["controller", "procedure", "ms", "time ratio", "HCI commands"], rows)


if __name__ == "__main__":
    main()
