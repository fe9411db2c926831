"""A Bumble host with Bumble's SDP server and client; run by the SDP interop tests.

    python bumble_sdp_peer.py [--controller tcp-client:127.0.0.1:PORT]
    python bumble_sdp_peer.py [--controller ...] --find ADDRESS

The controller, bring-up and reports are ``bumble_peer_common.py``'s. Without ``--find`` it is
connectable and its SDP server holds two records: an RFCOMM service of UUID ``CHAT`` on
channel 5 named "bumble chat", and an RFCOMM service of UUID ``LARGE`` on channel 6 whose
description is 2000 octets (more than one response carries). With ``--find`` it connects to
ADDRESS over BR/EDR (``-``: the first line of its standard input) and looks up the Serial Port
service with Bumble's SDP client, with each of the three transactions. It also reports:

    CHANNEL <n>                (--find) the RFCOMM channel of our Serial Port record
    NAME <text>                (--find) its service name (Service Search Attribute)
    DESCRIPTION <length>       (--find) octets of the description of the LARGE record
    HANDLES <h> ...            (--find) the handles of Serial Port records (Service Search)
    CLASSES <hex> ...          (--find) the first one's service classes (Service Attribute)
"""

from __future__ import annotations

from bumble import rfcomm, sdp
from bumble.core import UUID, PhysicalTransport
from bumble.device import Device
from bumble.hci import Address
from bumble_peer_common import controller_parser, report, run_peer

RANDOM_ADDRESS = Address("C0:00:00:B0:B0:03")
CHAT = UUID("8ce255c0-200a-11e0-ac64-0800200c9a66")
LARGE = UUID("8ce255c0-200a-11e0-ac64-0800200c9a67")
SERIAL_PORT = UUID.from_16_bits(0x1101)
DESCRIPTION_LENGTH = 2000


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
        handles = await client.search_services([SERIAL_PORT])
        report("HANDLES", *(f"0x{handle:08X}" for handle in handles))
        attributes = await client.get_attributes(
            handles[0], [sdp.SDP_SERVICE_CLASS_ID_LIST_ATTRIBUTE_ID]
        )
        (classes,) = attributes
        report("CLASSES", *(item.value.to_hex_str() for item in classes.value.value))
    await connection.disconnect()


def main() -> None:
    parser = controller_parser(__doc__.splitlines()[0])
    parser.add_argument("--find", metavar="ADDRESS", help="look up our Serial Port record")
    options = parser.parse_args()

    def set_up(device: Device) -> None:
        if options.find is None:
            device.sdp_service_records = records()

    run_peer("bumble-sdp", RANDOM_ADDRESS, options, set_up, options.find, find)


if __name__ == "__main__":
    main()
