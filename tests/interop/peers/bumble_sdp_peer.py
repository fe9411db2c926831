"""A Bumble host with Bumble's SDP server and client; run by the SDP interop tests.

    python bumble_sdp_peer.py [--controller tcp-client:127.0.0.1:PORT]
    python bumble_sdp_peer.py [--controller ...] --find ADDRESS

With ``--controller`` the Bumble host uses that controller (Root Canal, bluetrio's served
controller). Without it, two Bumble controllers share one Bumble ``LocalLink``
(``bumble_local_link.py``), the second served to the test's host over TCP.

Without ``--find`` it is connectable and its SDP server holds two records: an RFCOMM service
of UUID ``CHAT`` on channel 5 named "bumble chat", and an RFCOMM service of UUID ``LARGE`` on
channel 6 whose description is 2000 octets (more than one response carries). With ``--find``
it connects to ADDRESS over BR/EDR (``-``: the first line of its standard input) and looks up
the Serial Port service with Bumble's SDP client. It reports on stdout, one line per fact:

    ADDRESS <bd_addr>          its public address
    PORT <port>                (no --controller) where the second controller listens
    READY                      connectable (or about to connect)
    CHANNEL <n>                (--find) the RFCOMM channel of our Serial Port record
    NAME <text>                (--find) its service name
    DESCRIPTION <length>       (--find) octets of the description of the LARGE record
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bumble import rfcomm, sdp
from bumble.core import UUID, PhysicalTransport
from bumble.device import Device
from bumble.hci import Address
from bumble.logging import setup_basic_logging
from bumble.transport import open_transport
from bumble_local_link import local_link_controllers

RANDOM_ADDRESS = Address("C0:00:00:B0:B0:03")
CHAT = UUID("8ce255c0-200a-11e0-ac64-0800200c9a66")
LARGE = UUID("8ce255c0-200a-11e0-ac64-0800200c9a67")
SERIAL_PORT = UUID.from_16_bits(0x1101)
DESCRIPTION_LENGTH = 2000


def report(*words: object) -> None:
    print(*words, flush=True)


def records() -> dict[int, list[sdp.ServiceAttribute]]:
    chat = rfcomm.make_service_sdp_records(0x00010001, 5, CHAT)
    chat.append(
        sdp.ServiceAttribute(
            sdp.SDP_SERVICE_NAME_ATTRIBUTE_ID_OFFSET + 0x0100,
            sdp.DataElement.text_string(b"bumble chat"),
        )
    )
    large = rfcomm.make_service_sdp_records(0x00010002, 6, LARGE)
    large.append(
        sdp.ServiceAttribute(
            sdp.SDP_SERVICE_DESCRIPTION_ATTRIBUTE_ID_OFFSET + 0x0100,
            sdp.DataElement.text_string(b"d" * DESCRIPTION_LENGTH),
        )
    )
    return {0x00010001: chat, 0x00010002: large}


async def find(device: Device, address: str) -> None:
    connection = await device.connect(address, transport=PhysicalTransport.BR_EDR)
    channel = await rfcomm.find_rfcomm_channel_with_uuid(connection, SERIAL_PORT)
    report("CHANNEL", channel)
    async with sdp.Client(connection) as client:
        (found,) = await client.search_attributes([SERIAL_PORT], [0x0100])
        report("NAME", found[0].value.value.decode())
        (large,) = await client.search_attributes([LARGE], [0x0101])
        report("DESCRIPTION", len(large[0].value.value))
    await connection.disconnect()


async def run_device(device: Device, options: argparse.Namespace, port: int | None) -> None:
    device.classic_enabled = True
    device.le_enabled = False
    if options.find is None:
        device.sdp_service_records = records()
    await device.power_on()
    await device.set_connectable(True)
    await device.set_discoverable(True)
    report("ADDRESS", device.public_address)
    if port is not None:
        report("PORT", port)
    report("READY")
    address = options.find
    if address == "-":
        address = (await asyncio.to_thread(sys.stdin.readline)).strip()
    if address is not None:
        await find(device, address)
    await asyncio.Event().wait()  # until the test terminates us


async def on_controller(options: argparse.Namespace) -> None:
    async with await open_transport(options.controller) as transport:
        device = Device.with_hci("bumble-sdp", RANDOM_ADDRESS, transport.source, transport.sink)
        await run_device(device, options, None)


async def on_local_link(options: argparse.Namespace) -> None:
    async with local_link_controllers(bredr=True) as (host, port):
        device = Device(name="bumble-sdp", address=RANDOM_ADDRESS, host=host)
        await run_device(device, options, port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--controller", metavar="SPEC", help="a Bumble transport (tcp-client:HOST:PORT) to use"
    )
    parser.add_argument("--find", metavar="ADDRESS", help="look up our Serial Port record")
    args = parser.parse_args()
    setup_basic_logging("WARNING")  # BUMBLE_LOGLEVEL overrides it
    asyncio.run(on_controller(args) if args.controller else on_local_link(args))


if __name__ == "__main__":
    main()
