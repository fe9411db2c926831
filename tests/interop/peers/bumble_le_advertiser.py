"""A Bumble device advertising on Bumble's virtual controller; run by interop tests.

    python bumble_le_advertiser.py --name NAME --service 0x180D

Two Bumble controllers share one Bumble ``LocalLink``: the first belongs to a Bumble host
(``Device``) that advertises NAME and the 16-bit service UUID, connectable and scannable; the
second is served to one HCI host over TCP on a port the system picks. It reports on stdout,
one line per fact, flushed at once:

    ADDRESS <bd_addr>          the address the device advertises with
    PORT <port>                where the second controller listens (127.0.0.1)
    READY                      advertising, and the port accepts a host
"""

from __future__ import annotations

import argparse
import asyncio
import socket

from bumble.controller import Controller
from bumble.core import AdvertisingData
from bumble.device import Device
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.logging import setup_basic_logging
from bumble.transport.common import AsyncPipeSink
from bumble.transport.tcp_server import open_tcp_server_transport_with_socket

ADVERTISER_ADDRESS = "F0:F1:F2:F3:F4:F5"  # static random (two top bits set)


def report(*words: object) -> None:
    print(*words, flush=True)


async def serve(name: str, service: int) -> None:
    link = LocalLink()  # type: ignore[no-untyped-call]  # Bumble leaves it untyped
    own_controller = Controller("advertiser", link=link)
    host = Host(controller_source=own_controller, controller_sink=AsyncPipeSink(own_controller))
    device = Device(name=name, address=Address(ADVERTISER_ADDRESS), host=host)
    device.advertising_data = bytes(
        AdvertisingData(
            [
                (AdvertisingData.FLAGS, bytes([0x06])),  # LE general, no BR/EDR
                (AdvertisingData.COMPLETE_LOCAL_NAME, name.encode()),
                (
                    AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                    service.to_bytes(2, "little"),
                ),
            ]
        )
    )
    await device.power_on()
    await device.start_advertising()

    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    async with await open_tcp_server_transport_with_socket(listening) as transport:
        Controller("for-the-test", transport.source, transport.sink, link=link)
        report("ADDRESS", device.random_address)
        report("PORT", port)
        report("READY")
        await asyncio.Event().wait()  # until the test terminates us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="the complete local name to advertise")
    parser.add_argument(
        "--service", type=lambda text: int(text, 0), required=True, help="16-bit service UUID"
    )
    args = parser.parse_args()
    setup_basic_logging("WARNING")  # BUMBLE_LOGLEVEL overrides it
    asyncio.run(serve(args.name, args.service))


if __name__ == "__main__":
    main()
