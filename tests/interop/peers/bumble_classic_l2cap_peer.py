"""A Bumble host with a BR/EDR basic-mode L2CAP channel; run by the interop tests.

    python bumble_classic_l2cap_peer.py --psm 0x1001 [--controller tcp-client:127.0.0.1:PORT]
    python bumble_classic_l2cap_peer.py --psm 0x1001 [--controller ...] --open ADDRESS --bytes N

With ``--controller`` the Bumble host uses that controller (Root Canal, bluetrio's served
controller). Without it, two Bumble controllers share one Bumble ``LocalLink``
(``bumble_local_link.py``): the first is the host's, the second is served to the test's host
over TCP on a port the system picks, each with its own public address.

Without ``--open`` it is connectable and accepts channels on PSM (``--mtu``, default 2048),
sending back every SDU it receives on the channel it came on. With ``--open`` it connects to
ADDRESS over BR/EDR (with ``--open -``, to the address on the first line of its standard
input, which the test writes once its own host is up), opens a channel to PSM, sends N
pseudo-random octets in SDUs as large as the peer's MTU allows, and reads as many back.
It reports on stdout, one line per fact, flushed at once:

    ADDRESS <bd_addr>          its public address
    PORT <port>                (no --controller) where the second controller listens
    READY                      connectable (or about to connect)
    OPENED <peer mtu>          a channel is open
    SENT <sha256>              (--open) the digest of what it sent
    ECHOED <count> <sha256>    (--open) what came back, once N octets did
    CLOSED                     a channel closed
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
from bumble.l2cap import ClassicChannel, ClassicChannelSpec
from bumble.logging import setup_basic_logging
from bumble.transport import open_transport
from bumble_local_link import local_link_controllers

RANDOM_ADDRESS = Address("C0:00:00:B0:B0:02")


def report(*words: object) -> None:
    print(*words, flush=True)


def pseudo_random(count: int) -> bytes:
    return random.Random(count).randbytes(count)


def echo_on(channel: ClassicChannel) -> None:
    report("OPENED", channel.peer_mtu)
    channel.sink = channel.write
    channel.on(channel.EVENT_CLOSE, lambda: report("CLOSED"))


async def open_and_send(device: Device, options: argparse.Namespace, address: str) -> None:
    count = options.bytes
    connection = await device.connect(address, transport=PhysicalTransport.BR_EDR)
    spec = ClassicChannelSpec(psm=options.psm, mtu=options.mtu)
    channel = await connection.create_l2cap_channel(spec=spec)
    assert isinstance(channel, ClassicChannel)
    report("OPENED", channel.peer_mtu)
    received = bytearray()
    done = asyncio.Event()

    def on_sdu(data: bytes) -> None:
        received.extend(data)
        if len(received) >= count:
            done.set()

    channel.sink = on_sdu
    channel.on(channel.EVENT_CLOSE, lambda: report("CLOSED"))
    payload = pseudo_random(count)
    report("SENT", hashlib.sha256(payload).hexdigest())
    step = channel.peer_mtu
    for offset in range(0, count, step):
        channel.write(payload[offset : offset + step])
        if offset // step % 32 == 0:
            await asyncio.sleep(0)  # let the host drain toward the controller
    await done.wait()
    report("ECHOED", len(received), hashlib.sha256(received).hexdigest())


async def run_device(device: Device, options: argparse.Namespace, port: int | None) -> None:
    device.classic_enabled = True
    device.le_enabled = False
    spec = ClassicChannelSpec(psm=options.psm, mtu=options.mtu)
    device.create_l2cap_server(spec=spec, handler=echo_on)
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
    """The Bumble host on an outside controller (Root Canal, a served controller)."""
    async with await open_transport(options.controller) as transport:
        device = Device.with_hci("bumble-l2cap", RANDOM_ADDRESS, transport.source, transport.sink)
        await run_device(device, options, None)


async def on_local_link(options: argparse.Namespace) -> None:
    """The Bumble host on a Bumble controller, a second one served to the test."""
    async with local_link_controllers(bredr=True) as (host, port):
        device = Device(name="bumble-l2cap", address=RANDOM_ADDRESS, host=host)
        await run_device(device, options, port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    number = lambda text: int(text, 0)  # noqa: E731
    parser.add_argument(
        "--controller", metavar="SPEC", help="a Bumble transport (tcp-client:HOST:PORT) to use"
    )
    parser.add_argument("--psm", type=number, required=True)
    parser.add_argument("--mtu", type=number, default=2048, help="the MTU it accepts")
    parser.add_argument("--open", metavar="ADDRESS", help="open a channel to ADDRESS")
    parser.add_argument("--bytes", type=number, default=1_000_000)
    args = parser.parse_args()
    setup_basic_logging("WARNING")  # BUMBLE_LOGLEVEL overrides it
    asyncio.run(on_controller(args) if args.controller else on_local_link(args))


if __name__ == "__main__":
    main()
