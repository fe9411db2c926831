"""A Bumble device that advertises and answers LE pairing; run by interop tests.

    python bumble_le_pairing_peer.py [--legacy] [--public-identity]
        [--transport tcp-client:127.0.0.1:PORT]

A Bumble host (``Device``, Just Works, bonding, Secure Connections unless ``--legacy``) on
the controller of ``--transport`` (bluetrio's served controller, Root Canal); without it, two
Bumble controllers share one Bumble ``LocalLink``, the host on the first, the second served to
one HCI host over TCP (PORT). It reports on stdout, one line per fact, flushed at once:

    ADDRESS <bd_addr>          the address the device advertises with
    IDENTITY <bd_addr>         the identity address it distributes: the static random
                               address it advertises with, or with --public-identity the
                               controller's public address
    PORT <port>                where the second controller listens (127.0.0.1)
    READY                      advertising, and the port accepts a host
    PAIRED <ltk hex>           a pairing completed, with the LTK Bumble keeps
    FAILED <reason>            a pairing failed
    ENCRYPTED                  the link was encrypted (again)
"""

from __future__ import annotations

import argparse
import asyncio
import socket

from bumble.controller import Controller
from bumble.core import AdvertisingData
from bumble.device import Connection, Device
from bumble.hci import Address
from bumble.host import Host
from bumble.keys import MemoryKeyStore
from bumble.link import LocalLink
from bumble.logging import setup_basic_logging
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink
from bumble.transport.tcp_server import open_tcp_server_transport_with_socket

PEER_ADDRESS = "F0:F1:F2:F3:F4:F6"  # static random (two top bits set)


def report(*words: object) -> None:
    print(*words, flush=True)


def answer_ltk_requests_by_ediv_and_rand(device: Device) -> None:
    """Answer the controller's LTK request with the key its EDIV and Rand name.

    Bumble 0.0.236 stores the legacy LTK it distributed as responder under ``ltk_central``
    and answers an LTK request on a peripheral link with ``ltk_peripheral``, the key the
    central distributed (google/bumble pull request 890): the central encrypts with the
    peripheral's key (Core 5.4 Vol 3 Part H 2.4.4.2), the two controllers hold different keys
    and the link ends with a MIC failure. The key named by the request's EDIV and Rand is
    the one the spec means (Vol 6 Part B 5.1.3.1).
    """

    async def long_term_key(handle: int, rand: bytes, ediv: int) -> bytes | None:
        connection = device.lookup_connection(handle)
        if connection is None:
            return None
        during_pairing = device.smp_manager.get_long_term_key(connection, rand, ediv)
        if during_pairing is not None:
            return during_pairing
        keys = await device.keystore.get(str(connection.peer_address))
        if keys is None:
            return None
        if keys.ltk is not None and ediv == 0 and rand == bytes(8):
            return keys.ltk.value  # Secure Connections: EDIV and Rand are zero (2.4.4.1)
        for key in (keys.ltk_central, keys.ltk_peripheral):
            if key is not None and key.value and (key.ediv, key.rand) == (ediv, rand):
                return key.value
        return None

    device.host.long_term_key_provider = long_term_key


def configure(device: Device, secure_connections: bool, public_identity: bool = False) -> None:
    device.keystore = MemoryKeyStore()
    answer_ltk_requests_by_ediv_and_rand(device)
    # Its identity is the static random address it connects with (Vol 3 Part H 3.6.5), not
    # the controller's public address, so a central finds the bond again by that address;
    # with ``public_identity`` the public one, which a central must tie to the static address.
    identity = (
        PairingConfig.AddressType.PUBLIC if public_identity else PairingConfig.AddressType.RANDOM
    )
    device.pairing_config_factory = lambda connection: PairingConfig(
        sc=secure_connections,
        mitm=False,
        bonding=True,
        delegate=PairingDelegate(),
        identity_address_type=identity,
    )

    def on_connection(connection: Connection) -> None:
        def on_pairing(keys: object) -> None:
            ltk = getattr(keys, "ltk", None) or getattr(keys, "ltk_peripheral", None)
            value = ltk.value.hex() if ltk is not None else "-"
            report("PAIRED", value)

        connection.on("pairing", on_pairing)
        connection.on("pairing_failure", lambda reason: report("FAILED", reason))
        connection.on("connection_encryption_change", lambda: report("ENCRYPTED"))

    device.on("connection", on_connection)
    device.advertising_data = bytes(
        AdvertisingData(
            [
                (AdvertisingData.FLAGS, bytes([0x06])),
                (AdvertisingData.COMPLETE_LOCAL_NAME, b"bumble-pair"),
            ]
        )
    )


async def serve_on(transport_spec: str, secure_connections: bool, public_identity: bool) -> None:
    async with await open_transport(transport_spec) as transport:
        device = Device.with_hci(
            "bumble-pair", Address(PEER_ADDRESS), transport.source, transport.sink
        )
        configure(device, secure_connections, public_identity)
        await device.power_on()
        await device.start_advertising(auto_restart=True)
        report("ADDRESS", device.random_address)
        report("IDENTITY", device.public_address if public_identity else device.random_address)
        report("READY")
        await asyncio.Event().wait()


async def serve(secure_connections: bool) -> None:
    link = LocalLink()  # type: ignore[no-untyped-call]  # Bumble leaves it untyped
    own_controller = Controller("pairing-peer", link=link)
    host = Host(controller_source=own_controller, controller_sink=AsyncPipeSink(own_controller))
    device = Device(name="bumble-pair", address=Address(PEER_ADDRESS), host=host)
    configure(device, secure_connections)
    await device.power_on()
    await device.start_advertising(auto_restart=True)

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
    parser.add_argument("--legacy", action="store_true", help="LE legacy pairing only")
    parser.add_argument("--transport", help="a Bumble transport to an outside controller")
    parser.add_argument(
        "--public-identity",
        action="store_true",
        help="distribute the public address as identity (with --transport)",
    )
    args = parser.parse_args()
    setup_basic_logging("WARNING")  # BUMBLE_LOGLEVEL overrides it
    if args.transport:
        asyncio.run(serve_on(args.transport, not args.legacy, args.public_identity))
    else:
        asyncio.run(serve(not args.legacy))


if __name__ == "__main__":
    main()
