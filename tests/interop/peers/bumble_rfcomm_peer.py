"""A Bumble host with an RFCOMM server channel or DLC; run by the interop tests.

    python bumble_rfcomm_peer.py --channel 5 [--controller tcp-client:127.0.0.1:PORT]
    python bumble_rfcomm_peer.py --channel 5 [--controller ...] --open - --bytes N

The controller, bring-up and reports are ``bumble_peer_common.py``'s. Without ``--open`` it
is connectable and accepts DLCs on server channel ``--channel``, sending back everything it
receives. With ``--open`` it connects to ADDRESS over BR/EDR (``-``: the address on the first
line of its standard input), opens the multiplexer and a DLC to the channel, sends N
pseudo-random octets and reads as many back (SENT, ECHOED). It also reports:

    OPENED                     a DLC is open
    CLOSED                     a DLC closed
"""

from __future__ import annotations

import argparse

from bumble.core import PhysicalTransport
from bumble.device import Device
from bumble.hci import Address
from bumble.rfcomm import DLC, Client, Server
from bumble_peer_common import EchoCheck, controller_parser, report, run_peer

RANDOM_ADDRESS = Address("C0:00:00:B0:B0:03")
# Frames small enough that an L2CAP PDU fits one BR/EDR ACL packet from Bumble's controller.
FRAME_SIZE = 1000


def echo_on(dlc: DLC) -> None:
    report("OPENED")
    dlc.sink = dlc.write
    dlc.on(dlc.EVENT_CLOSE, lambda: report("CLOSED"))


async def open_and_send(device: Device, options: argparse.Namespace, address: str) -> None:
    connection = await device.connect(address, transport=PhysicalTransport.BR_EDR)
    multiplexer = await Client(connection).start()
    dlc = await multiplexer.open_dlc(options.channel, max_frame_size=FRAME_SIZE)
    report("OPENED")
    check = EchoCheck(options.bytes)
    dlc.sink = check.sink
    payload = check.payload()
    for offset in range(0, len(payload), 16384):
        dlc.write(payload[offset : offset + 16384])
        await dlc.drain()
    await check.wait()
    await dlc.disconnect()
    report("CLOSED")


def main() -> None:
    parser = controller_parser(__doc__.splitlines()[0])
    parser.add_argument("--channel", type=int, required=True)
    parser.add_argument("--open", metavar="ADDRESS", help="open a DLC to ADDRESS")
    parser.add_argument("--bytes", type=int, default=1_000_000)
    options = parser.parse_args()

    def set_up(device: Device) -> None:
        Server(device).listen(echo_on, options.channel, max_frame_size=FRAME_SIZE)

    async def act(device: Device, address: str) -> None:
        await open_and_send(device, options, address)

    run_peer("bumble-rfcomm", RANDOM_ADDRESS, options, set_up, options.open, act)


if __name__ == "__main__":
    main()
