"""A Bumble host with a BR/EDR basic-mode L2CAP channel; run by the interop tests.

    python bumble_classic_l2cap_peer.py tcp-client:127.0.0.1:PORT --psm 0x1001
    python bumble_classic_l2cap_peer.py tcp-client:127.0.0.1:PORT --psm 0x1001 \
        --open ADDRESS --bytes N

Without ``--open`` it is connectable and accepts channels on PSM, sending back every SDU it
receives on the channel it came on. With ``--open`` it connects to ADDRESS over BR/EDR, opens a
channel to PSM, sends N pseudo-random octets in SDUs as large as the peer's MTU allows, and
reads as many back. It reports on stdout, one line per fact, flushed at once:

    ADDRESS <bd_addr>          its public address
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

from bumble.core import PhysicalTransport
from bumble.device import Device
from bumble.hci import Address
from bumble.l2cap import ClassicChannel, ClassicChannelSpec
from bumble.logging import setup_basic_logging
from bumble.transport import open_transport

MTU = 2048


def report(*words: object) -> None:
    print(*words, flush=True)


def pseudo_random(count: int) -> bytes:
    return random.Random(count).randbytes(count)


def echo_on(channel: ClassicChannel) -> None:
    report("OPENED", channel.peer_mtu)
    channel.sink = channel.write
    channel.on(channel.EVENT_CLOSE, lambda: report("CLOSED"))


async def open_and_send(device: Device, address: str, psm: int, count: int) -> None:
    connection = await device.connect(address, transport=PhysicalTransport.BR_EDR)
    channel = await connection.create_l2cap_channel(spec=ClassicChannelSpec(psm=psm, mtu=MTU))
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


async def serve(transport_spec: str, psm: int, address: str | None, count: int) -> None:
    async with await open_transport(transport_spec) as transport:
        device = Device.with_hci(
            "bumble-l2cap", Address("C0:00:00:B0:B0:02"), transport.source, transport.sink
        )
        device.classic_enabled = True
        device.le_enabled = False
        device.create_l2cap_server(spec=ClassicChannelSpec(psm=psm, mtu=MTU), handler=echo_on)
        await device.power_on()
        await device.set_connectable(True)
        await device.set_discoverable(True)
        report("ADDRESS", device.public_address)
        report("READY")
        if address is not None:
            await open_and_send(device, address, psm, count)
        await asyncio.Event().wait()  # until the test terminates us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    number = lambda text: int(text, 0)  # noqa: E731
    parser.add_argument("transport", help="Bumble transport spec, e.g. tcp-client:HOST:PORT")
    parser.add_argument("--psm", type=number, required=True)
    parser.add_argument("--open", metavar="ADDRESS", help="open a channel to ADDRESS")
    parser.add_argument("--bytes", type=number, default=1_000_000)
    args = parser.parse_args()
    setup_basic_logging("WARNING")  # BUMBLE_LOGLEVEL overrides it
    asyncio.run(serve(args.transport, args.psm, args.open, args.bytes))


if __name__ == "__main__":
    main()
