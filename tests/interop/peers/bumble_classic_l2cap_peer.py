"""A Bumble host with a BR/EDR basic-mode L2CAP channel; run by the interop tests.

    python bumble_classic_l2cap_peer.py --psm 0x1001 [--controller tcp-client:127.0.0.1:PORT]
    python bumble_classic_l2cap_peer.py --psm 0x1001 [--controller ...] --open ADDRESS --bytes N

The controller, bring-up and reports are ``bumble_peer_common.py``'s. Without ``--open`` it
is connectable and accepts channels on PSM (``--mtu``, default 2048), sending back every SDU
it receives on the channel it came on. With ``--open`` it connects to ADDRESS over BR/EDR
(``-``: the address on the first line of its standard input), opens a channel to PSM, sends N
pseudo-random octets in SDUs as large as the peer's MTU allows, and reads as many back
(SENT, ECHOED). It also reports:

    OPENED <peer mtu>          a channel is open
    CLOSED                     a channel closed
"""

from __future__ import annotations

import argparse
import asyncio

from bumble.core import PhysicalTransport
from bumble.device import Device
from bumble.hci import Address
from bumble.l2cap import ClassicChannel, ClassicChannelSpec
from bumble_peer_common import EchoCheck, controller_parser, report, run_peer

RANDOM_ADDRESS = Address("C0:00:00:B0:B0:02")


def echo_on(channel: ClassicChannel) -> None:
    report("OPENED", channel.peer_mtu)
    channel.sink = channel.write
    channel.on(channel.EVENT_CLOSE, lambda: report("CLOSED"))


async def open_and_send(device: Device, options: argparse.Namespace, address: str) -> None:
    connection = await device.connect(address, transport=PhysicalTransport.BR_EDR)
    spec = ClassicChannelSpec(psm=options.psm, mtu=options.mtu)
    channel = await connection.create_l2cap_channel(spec=spec)
    assert isinstance(channel, ClassicChannel)
    report("OPENED", channel.peer_mtu)
    check = EchoCheck(options.bytes)
    channel.sink = check.sink
    channel.on(channel.EVENT_CLOSE, lambda: report("CLOSED"))
    payload = check.payload()
    step = channel.peer_mtu
    for offset in range(0, len(payload), step):
        channel.write(payload[offset : offset + step])
        if offset // step % 32 == 0:
            await asyncio.sleep(0)  # let the host drain toward the controller
    await check.wait()


def main() -> None:
    parser = controller_parser(__doc__.splitlines()[0])
    number = lambda text: int(text, 0)  # noqa: E731
    parser.add_argument("--psm", type=number, required=True)
    parser.add_argument("--mtu", type=number, default=2048, help="the MTU it accepts")
    parser.add_argument("--open", metavar="ADDRESS", help="open a channel to ADDRESS")
    parser.add_argument("--bytes", type=number, default=1_000_000)
    options = parser.parse_args()

    def set_up(device: Device) -> None:
        spec = ClassicChannelSpec(psm=options.psm, mtu=options.mtu)
        device.create_l2cap_server(spec=spec, handler=echo_on)

    async def act(device: Device, address: str) -> None:
        await open_and_send(device, options, address)

    run_peer("bumble-l2cap", RANDOM_ADDRESS, options, set_up, options.open, act)


if __name__ == "__main__":
    main()
