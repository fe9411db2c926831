"""A Bumble device with LE credit-based channels on Bumble's virtual controller; run by the
interop tests.

    python bumble_le_coc_peer.py --spsm 0x0081                 # echo server
    python bumble_le_coc_peer.py --spsm 0x0081 --open NAME --bytes N --sdu S

Two Bumble controllers share one Bumble ``LocalLink`` (``bumble_local_link.py``): the first
belongs to a Bumble host (``Device``), the second is served to one HCI host over TCP on a port
the system picks. With
``--controller tcp-client:HOST:PORT`` the Bumble host uses that controller instead (Root
Canal) and no port is served.

Without ``--open`` the Bumble device advertises (connectable) and accepts LE credit-based
channels on SPSM, sending back every SDU it receives on the channel it came on. With
``--open`` it scans for the device advertising the complete local name NAME, connects, opens a
channel to SPSM, sends N pseudo-random octets in SDUs of S octets, and reads as many back.

It reports on stdout, one line per fact, flushed at once:

    ADDRESS <bd_addr>          the address the Bumble device uses
    PORT <port>                where the second controller listens (127.0.0.1)
    READY                      the port accepts a host (and the device advertises or scans)
    OPENED <mtu> <mps>         (--open) the channel is open, with the peer's MTU and MPS
    SENT <sha256>              (--open) the digest of what it sent
    ECHOED <count> <sha256>    (--open) what came back, once N octets did
    CLOSED                     a channel closed
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
from typing import Any

from bumble.core import AdvertisingData
from bumble.device import Device
from bumble.hci import Address
from bumble.l2cap import LeCreditBasedChannel, LeCreditBasedChannelSpec
from bumble.logging import setup_basic_logging
from bumble.transport import open_transport
from bumble_local_link import local_link_controllers

PEER_ADDRESS = "F0:F1:F2:F3:F4:F6"  # static random (two top bits set)
# Bumble's channel defaults: what it accepts and how many K-frames it lets in flight.
MTU, MPS, CREDITS = 2048, 2048, 256


def report(*words: object) -> None:
    print(*words, flush=True)


def pseudo_random(count: int) -> bytes:
    return random.Random(count).randbytes(count)


def echo_on(channel: LeCreditBasedChannel) -> None:
    channel.sink = channel.write
    channel.on("close", lambda: report("CLOSED"))


async def open_and_send(device: Device, name: str, spsm: int, count: int, sdu: int) -> None:
    found: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def on_advertisement(advertisement: Any) -> None:
        local_name = advertisement.data.get(AdvertisingData.COMPLETE_LOCAL_NAME)
        if local_name in (name, name.encode()) and not found.done():
            found.set_result(advertisement.address)

    device.on("advertisement", on_advertisement)
    await device.start_scanning()
    address = await found
    await device.stop_scanning()
    connection = await device.connect(address)
    spec = LeCreditBasedChannelSpec(psm=spsm, mtu=MTU, mps=MPS, max_credits=CREDITS)
    channel = await connection.create_l2cap_channel(spec=spec)
    assert isinstance(channel, LeCreditBasedChannel)
    report("OPENED", channel.peer_mtu, channel.peer_mps)
    received = bytearray()
    done = asyncio.Event()

    def on_sdu(data: bytes) -> None:
        received.extend(data)
        if len(received) >= count:
            done.set()

    channel.sink = on_sdu
    channel.on("close", lambda: report("CLOSED"))
    payload = pseudo_random(count)
    report("SENT", hashlib.sha256(payload).hexdigest())
    step = min(sdu, channel.peer_mtu)
    for offset in range(0, count, step):
        channel.write(payload[offset : offset + step])
        await channel.drain()
    await done.wait()
    report("ECHOED", len(received), hashlib.sha256(received).hexdigest())


async def start(device: Device, spsm: int, open_name: str | None) -> None:
    await device.power_on()
    if open_name is None:
        spec = LeCreditBasedChannelSpec(psm=spsm, mtu=MTU, mps=MPS, max_credits=CREDITS)
        device.create_l2cap_server(spec=spec, handler=echo_on)
        device.advertising_data = bytes(
            AdvertisingData(
                [
                    (AdvertisingData.FLAGS, bytes([0x06])),
                    (AdvertisingData.COMPLETE_LOCAL_NAME, b"bumble-coc"),
                ]
            )
        )
        await device.start_advertising(auto_restart=True)


async def serve(spsm: int, open_name: str | None, count: int, sdu: int) -> None:
    async with local_link_controllers(bredr=False) as (host, port):
        device = Device(name="bumble-coc", address=Address(PEER_ADDRESS), host=host)
        await start(device, spsm, open_name)
        report("ADDRESS", device.random_address)
        report("PORT", port)
        report("READY")
        if open_name is not None:
            await open_and_send(device, open_name, spsm, count, sdu)
        await asyncio.Event().wait()  # until the test terminates us


async def on_controller(spec: str, spsm: int, open_name: str | None, count: int, sdu: int) -> None:
    """The Bumble host on an outside controller (Root Canal, a served controller)."""
    async with await open_transport(spec) as transport:
        device = Device.with_hci(
            "bumble-coc", Address(PEER_ADDRESS), transport.source, transport.sink
        )
        await start(device, spsm, open_name)
        report("ADDRESS", device.random_address)
        report("READY")
        if open_name is not None:
            await open_and_send(device, open_name, spsm, count, sdu)
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    number = lambda text: int(text, 0)  # noqa: E731
    parser.add_argument("--spsm", type=number, required=True)
    parser.add_argument("--open", metavar="NAME", help="open a channel to the device NAME")
    parser.add_argument("--bytes", type=number, default=100_000)
    parser.add_argument("--sdu", type=number, default=1000)
    parser.add_argument(
        "--controller", metavar="SPEC", help="a Bumble transport (tcp-client:HOST:PORT) to use"
    )
    args = parser.parse_args()
    setup_basic_logging("WARNING")  # BUMBLE_LOGLEVEL overrides it
    if args.controller:
        asyncio.run(on_controller(args.controller, args.spsm, args.open, args.bytes, args.sdu))
    else:
        asyncio.run(serve(args.spsm, args.open, args.bytes, args.sdu))


if __name__ == "__main__":
    main()
