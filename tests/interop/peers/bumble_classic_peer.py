"""A Bumble host that waits to be paired over BR/EDR; run by interop tests as a subprocess.

    python bumble_classic_peer.py tcp-client:127.0.0.1:PORT --io-capability display-yes-no

It enables BR/EDR only, is connectable and discoverable, bonds (Bumble's in-memory key store,
so a second connection in the same process finds the key) and accepts every pairing question
on its own. It reports on stdout, one line per fact, flushed at once:

    ADDRESS <bd_addr>          its public address, before READY
    READY                      connectable and discoverable
    CONNECTED <peer>
    COMPARE <six digits>       numeric comparison (always confirmed)
    DISPLAY <six digits>       a number shown without a question
    LINK_KEY <key type>        a new link key (HCI key type number)
    ENCRYPTION <mode>          encryption changed (0 off, 1 E0, 2 AES-CCM)
    DISCONNECTED <reason>

Bumble's own log goes to stderr (set BUMBLE_LOGLEVEL=DEBUG for all of it).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bumble.core import PhysicalTransport
from bumble.device import Connection, Device
from bumble.hci import Address
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
LE_RANDOM_ADDRESS = "C0:00:00:B0:B0:01"


def report(*words: object) -> None:
    print(*words, flush=True)


class AcceptingDelegate(PairingDelegate):
    """Says yes to everything and reports the numbers it is shown."""

    async def accept(self) -> bool:
        return True

    async def confirm(self, auto: bool = False) -> bool:
        return True

    async def compare_numbers(self, number: int, digits: int) -> bool:
        report("COMPARE", f"{number:0{digits}d}")
        return True

    async def display_number(self, number: int, digits: int) -> None:
        report("DISPLAY", f"{number:0{digits}d}")


def watch(connection: Connection) -> None:
    if connection.transport != PhysicalTransport.BR_EDR:
        return
    report("CONNECTED", connection.peer_address)
    connection.on(
        connection.EVENT_CONNECTION_ENCRYPTION_CHANGE,
        lambda: report("ENCRYPTION", connection.encryption),
    )
    connection.on(connection.EVENT_DISCONNECTION, lambda reason: report("DISCONNECTED", reason))


async def serve(transport_spec: str, io_capability: str, mitm: bool) -> None:
    async with await open_transport(transport_spec) as transport:
        # The address given here is only Bumble's LE random address; the public one, which
        # BR/EDR uses, is read from the controller at power-on.
        device = Device.with_hci(
            "bumble-classic-peer", Address(LE_RANDOM_ADDRESS), transport.source, transport.sink
        )
        device.classic_enabled = True
        device.le_enabled = False
        delegate = AcceptingDelegate(io_capability=IO_CAPABILITIES[io_capability])

        def pairing_config(_connection: Connection) -> PairingConfig:
            return PairingConfig(sc=True, mitm=mitm, bonding=True, delegate=delegate)

        device.pairing_config_factory = pairing_config

        def on_link_key(_address: Any, _key: bytes, key_type: int) -> None:
            report("LINK_KEY", key_type)

        device.host.on("link_key", on_link_key)
        device.on(device.EVENT_CONNECTION, watch)
        await device.power_on()
        await device.set_discoverable(True)
        await device.set_connectable(True)
        report("ADDRESS", device.public_address)
        report("READY")
        await asyncio.Event().wait()  # until the test terminates us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("transport", help="Bumble transport spec, e.g. tcp-client:HOST:PORT")
    parser.add_argument("--io-capability", choices=sorted(IO_CAPABILITIES), default="no-io")
    parser.add_argument("--no-mitm", dest="mitm", action="store_false", help="no MITM needed")
    args = parser.parse_args()
    setup_basic_logging("WARNING")  # BUMBLE_LOGLEVEL overrides it
    asyncio.run(serve(args.transport, args.io_capability, args.mitm))


if __name__ == "__main__":
    main()
