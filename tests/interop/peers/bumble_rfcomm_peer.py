"""A Bumble host with an RFCOMM server channel or DLC; run by the interop tests.

    python bumble_rfcomm_peer.py --channel 5 [--controller tcp-client:127.0.0.1:PORT]
    python bumble_rfcomm_peer.py --channel 5 [--controller ...] --open - --bytes N

With ``--controller`` the Bumble host uses that controller (Root Canal, bluetrio's served
controller); without it, two Bumble controllers share one Bumble ``LocalLink``
(``bumble_local_link.py``) and the second is served to the test's host over TCP.

Without ``--open`` it is connectable and accepts DLCs on server channel ``--channel``, sending
back everything it receives. With ``--open`` it connects to ADDRESS over BR/EDR (``-``: the
address on the first line of its standard input), opens the multiplexer and a DLC to the
channel, sends N pseudo-random octets and reads as many back. It reports on stdout:

    ADDRESS <bd_addr>          its public address
    PORT <port>                (no --controller) where the second controller listens
    READY                      connectable (or about to connect)
    OPENED                     a DLC is open
    SENT <sha256>              (--open) the digest of what it sent
    ECHOED <count> <sha256>    (--open) what came back, once N octets did
    CLOSED                     a DLC closed
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import sys

from bumble.core import PhysicalTransport
from bumble.device import Device
from bumble.hci import Address
from bumble.logging import setup_basic_logging
from bumble.rfcomm import DLC, Client, Server
from bumble.transport import open_transport
from bumble_local_link import local_link_controllers

RANDOM_ADDRESS = Address("C0:00:00:B0:B0:03")
# Frames small enough that an L2CAP PDU fits one BR/EDR ACL packet from Bumble's controller.
FRAME_SIZE = 1000


def report(*words: object) -> None:
    print(*words, flush=True)


def echo_on(dlc: DLC) -> None:
    report("OPENED")
    dlc.sink = dlc.write
    dlc.on(dlc.EVENT_CLOSE, lambda: report("CLOSED"))


async def open_and_send(device: Device, options: argparse.Namespace, address: str) -> None:
    count = options.bytes
    connection = await device.connect(address, transport=PhysicalTransport.BR_EDR)
    multiplexer = await Client(connection).start()
    dlc = await multiplexer.open_dlc(options.channel, max_frame_size=FRAME_SIZE)
    report("OPENED")
    received = bytearray()
    done = asyncio.Event()

    def on_data(data: bytes) -> None:
        received.extend(data)
        if len(received) >= count:
            done.set()

    dlc.sink = on_data
    payload = random.Random(count).randbytes(count)
    report("SENT", hashlib.sha256(payload).hexdigest())
    for offset in range(0, count, 16384):
        dlc.write(payload[offset : offset + 16384])
        await dlc.drain()
    await done.wait()
    report("ECHOED", len(received), hashlib.sha256(received).hexdigest())
    await dlc.disconnect()
    report("CLOSED")


async def run_device(device: Device, options: argparse.Namespace, port: int | None) -> None:
    device.classic_enabled = True
    device.le_enabled = False
    Server(device).listen(echo_on, options.channel, max_frame_size=FRAME_SIZE)
    await device.power_on()
    await device.set_connectable(True)
    await device.set_discoverable(True)
    report("ADDRESS", device.public_address)
    if port is not None:
        report("PORT", port)
    report("READY")
    address = options.open
    if address == "-":
        address = (await asyncio.to_thread(sys.stdin.readline)).strip()
    if address is not None:
        await open_and_send(device, options, address)
    await asyncio.Event().wait()  # until the test terminates us


async def on_controller(options: argparse.Namespace) -> None:
    async with await open_transport(options.controller) as transport:
        device = Device.with_hci("bumble-rfcomm", RANDOM_ADDRESS, transport.source, transport.sink)
        await run_device(device, options, None)


async def on_local_link(options: argparse.Namespace) -> None:
    async with local_link_controllers(bredr=True) as (host, port):
        device = Device(name="bumble-rfcomm", address=RANDOM_ADDRESS, host=host)
        await run_device(device, options, port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--controller", metavar="SPEC", help="a Bumble transport (tcp-client:HOST:PORT) to use"
    )
    parser.add_argument("--channel", type=int, required=True)
    parser.add_argument("--open", metavar="ADDRESS", help="open a DLC to ADDRESS")
    parser.add_argument("--bytes", type=int, default=1_000_000)
    args = parser.parse_args()
    setup_basic_logging("WARNING")  # BUMBLE_LOGLEVEL overrides it
    asyncio.run(on_controller(args) if args.controller else on_local_link(args))


if __name__ == "__main__":
    main()
