"""A Bumble host that pairs over LE, as peripheral or central; run by interop tests.

    python bumble_le_pairing_peer.py CONTROLLER --role peripheral [--security-request] ...
    python bumble_le_pairing_peer.py CONTROLLER --role central --connect ADDRESS[/P|/R] ...
    python bumble_le_pairing_peer.py local --role central --connect - ...   # ADDRESS on stdin

CONTROLLER is a Bumble transport (``tcp-client:127.0.0.1:PORT``: Root Canal or bluetrio's
served virtual controller), or ``local`` for a Bumble controller on Bumble's LocalLink, with a
second controller served to one HCI host over TCP (``bumble_local_link.py``; PORT reported).

As peripheral it advertises (connectable, name ``bumble-pairing``) and waits to be paired;
with ``--security-request`` it sends a Security Request (Core 5.4 Vol 3 Part H 2.4.6) on
every connection, so the central pairs, or encrypts with the bond when it has one. As central
it connects to ADDRESS and pairs, and with ``--reconnect`` disconnects, connects again and
encrypts with the bond (no pairing); with ``--when-asked`` it does each only once the
peripheral sent a Security Request, and with ``--reconnect-when-told`` it disconnects only
once a line comes on stdin. It bonds in Bumble's in-memory key store, so a second
connection in the same process finds the keys. Pairing: Secure Connections unless
``--legacy``, MITM asked for unless ``--no-mitm``, bonding; its identity is the static random
address it uses. Prompts: numbers to compare are confirmed; a passkey to type is read from
stdin (one line); a passkey to show is reported. It reports on stdout, one line per fact,
flushed at once:

    ADDRESS <address>          its address (static random)
    IDENTITY <address>         the identity it distributes: ADDRESS, or with
                               ``--public-identity`` the controller's public address
    PORT <port>                (``local``) where the second controller listens (127.0.0.1)
    READY                      advertising (peripheral) or about to connect (central)
    CONNECTED <peer>
    COMPARE <six digits>       numeric comparison (confirmed)
    DISPLAY <six digits>       a passkey to type on the other side
    ENTER                      a passkey is wanted on stdin
    PAIRED <sc 0|1> <authenticated 0|1> <ltk hex|-> <irk 0|1>   pairing done, with its keys
    PAIRING_FAILED <reason>
    SECURITY_REQUEST           (central) the peripheral sent a Security Request
    ENCRYPTION <0|1>           encryption changed
    DISCONNECTED <reason>
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from bumble.core import AdvertisingData, PhysicalTransport
from bumble.device import Connection, Device
from bumble.hci import Address
from bumble.keys import MemoryKeyStore
from bumble.logging import setup_basic_logging
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport import open_transport

IO_CAPABILITIES = {
    "no-io": PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT,
    "display-only": PairingDelegate.IoCapability.DISPLAY_OUTPUT_ONLY,
    "display-yes-no": PairingDelegate.IoCapability.DISPLAY_OUTPUT_AND_YES_NO_INPUT,
    "keyboard-only": PairingDelegate.IoCapability.KEYBOARD_INPUT_ONLY,
    "keyboard-display": PairingDelegate.IoCapability.DISPLAY_OUTPUT_AND_KEYBOARD_INPUT,
}
# Static random addresses (two top bits set), one per role so two peers can meet.
ADDRESSES = {"peripheral": "F0:F1:F2:F3:F4:F7", "central": "F0:F1:F2:F3:F4:F8"}
NAME = "bumble-pairing"


def report(*words: object) -> None:
    print(*words, flush=True)


async def read_line() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


class ReportingDelegate(PairingDelegate):
    """Confirms, reports what it shows, reads what it must type from stdin."""

    async def accept(self) -> bool:
        return True

    async def confirm(self, auto: bool = False) -> bool:
        return True

    async def compare_numbers(self, number: int, digits: int) -> bool:
        report("COMPARE", f"{number:0{digits}d}")
        return True

    async def display_number(self, number: int, digits: int) -> None:
        report("DISPLAY", f"{number:0{digits}d}")

    async def get_number(self) -> int | None:
        report("ENTER")
        text = (await read_line()).strip()
        return int(text) if text.isdigit() else None


# Per connection handle: set when the peripheral's Security Request came (central role).
SECURITY_REQUESTED: dict[int, asyncio.Event] = {}


def watch(connection: Connection, security_request: bool) -> None:
    if connection.transport != PhysicalTransport.LE:
        return
    report("CONNECTED", connection.peer_address)
    asked = SECURITY_REQUESTED[connection.handle] = asyncio.Event()

    def on_security_request(auth_req: object) -> None:
        report("SECURITY_REQUEST")
        asked.set()

    connection.on(connection.EVENT_SECURITY_REQUEST, on_security_request)

    def on_pairing(keys: Any) -> None:
        ltk = keys.ltk or keys.ltk_central or keys.ltk_peripheral
        report(
            "PAIRED",
            int(connection.sc),
            int(ltk is not None and ltk.authenticated),
            ltk.value.hex() if ltk is not None else "-",
            int(keys.irk is not None),
        )

    connection.on(connection.EVENT_PAIRING, on_pairing)
    connection.on(connection.EVENT_PAIRING_FAILURE, lambda reason: report("PAIRING_FAILED", reason))
    connection.on(
        connection.EVENT_CONNECTION_ENCRYPTION_CHANGE,
        lambda: report("ENCRYPTION", int(connection.is_encrypted)),
    )
    connection.on(connection.EVENT_DISCONNECTION, lambda reason: report("DISCONNECTED", reason))
    if security_request:
        connection.request_pairing()


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


def configure(device: Device, args: argparse.Namespace) -> None:
    delegate = ReportingDelegate(io_capability=IO_CAPABILITIES[args.io_capability])
    device.keystore = MemoryKeyStore()
    answer_ltk_requests_by_ediv_and_rand(device)
    # The identity distributed is the static random address it connects with, so the bond
    # is found again by the address it reconnects from; with --public-identity the
    # controller's public address, which a central must tie to the static one.
    identity = (
        PairingConfig.AddressType.PUBLIC
        if args.public_identity
        else PairingConfig.AddressType.RANDOM
    )
    device.pairing_config_factory = lambda _connection: PairingConfig(
        sc=not args.legacy, mitm=not args.no_mitm, bonding=True, delegate=delegate,
        identity_address_type=identity,
    )  # fmt: skip
    device.on(device.EVENT_CONNECTION, lambda connection: watch(connection, args.security_request))


async def peripheral(device: Device) -> None:
    device.advertising_data = bytes(
        AdvertisingData(
            [
                (AdvertisingData.FLAGS, bytes([0x06])),
                (AdvertisingData.COMPLETE_LOCAL_NAME, NAME.encode()),
            ]
        )
    )
    await device.start_advertising(auto_restart=True)
    report("READY")
    await asyncio.Event().wait()  # until the test terminates us


async def central(device: Device, args: argparse.Namespace) -> None:
    report("READY")
    target = args.connect
    if target == "-":  # the address comes on stdin (its host needs our PORT first)
        target = (await read_line()).strip()
    address = Address(target.split("/")[0], Address.PUBLIC_DEVICE_ADDRESS
                      if target.endswith("/P") else Address.RANDOM_DEVICE_ADDRESS)  # fmt: skip
    connection = await device.connect(address, transport=PhysicalTransport.LE)
    if args.when_asked:
        await SECURITY_REQUESTED[connection.handle].wait()
    await connection.pair()
    if args.reconnect:
        if args.reconnect_when_told:
            await read_line()
        await connection.disconnect()
        connection = await device.connect(address, transport=PhysicalTransport.LE)
        if args.when_asked:
            await SECURITY_REQUESTED[connection.handle].wait()
        await connection.encrypt()  # with the bond: no pairing
    await asyncio.Event().wait()


async def run(device: Device, args: argparse.Namespace) -> None:
    configure(device, args)
    await device.power_on()
    report("ADDRESS", device.random_address)
    report("IDENTITY", device.public_address if args.public_identity else device.random_address)
    if args.role == "peripheral":
        await peripheral(device)
    else:
        await central(device, args)


async def main_async(args: argparse.Namespace) -> None:
    if args.controller == "local":
        from bumble_local_link import local_link_controllers

        async with local_link_controllers(bredr=False) as (host, port):
            device = Device(name=NAME, address=Address(ADDRESSES[args.role]), host=host)
            report("PORT", port)
            await run(device, args)
        return
    async with await open_transport(args.controller) as transport:
        device = Device.with_hci(
            NAME, Address(ADDRESSES[args.role]), transport.source, transport.sink
        )
        device.le_enabled = True
        device.classic_enabled = False
        await run(device, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("controller", help="a Bumble transport spec, or 'local'")
    parser.add_argument("--role", choices=("peripheral", "central"), required=True)
    parser.add_argument("--connect", metavar="ADDRESS", help="(central) whom to pair with")
    parser.add_argument("--reconnect", action="store_true", help="(central) then reconnect")
    parser.add_argument(
        "--when-asked", action="store_true", help="(central) only on a Security Request"
    )
    parser.add_argument(
        "--reconnect-when-told", action="store_true", help="(central) a stdin line first"
    )
    parser.add_argument(
        "--security-request", action="store_true", help="(peripheral) ask the central to pair"
    )
    parser.add_argument("--legacy", action="store_true", help="LE legacy pairing, not SC")
    parser.add_argument("--no-mitm", action="store_true", help="do not ask for MITM protection")
    parser.add_argument("--io-capability", choices=tuple(IO_CAPABILITIES), default="no-io")
    parser.add_argument(
        "--public-identity", action="store_true", help="distribute the public address"
    )
    args = parser.parse_args()
    if args.role == "central" and not args.connect:
        parser.error("--role central needs --connect ADDRESS")
    setup_basic_logging("WARNING")  # BUMBLE_LOGLEVEL overrides it
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
