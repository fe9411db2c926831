"""A dual-mode Bumble host for cross-transport key derivation over BR/EDR (Core 5.4 Vol 3
Part H 2.4.2.5); run by interop tests as a subprocess.

    python bumble_ctkd_peer.py tcp-client:127.0.0.1:PORT [--advertise]    # waits to be paired
    python bumble_ctkd_peer.py tcp-client:127.0.0.1:PORT --connect BD_ADDR|-

Without ``--connect`` it is connectable over BR/EDR and accepts every pairing (Secure Simple
Pairing, then SMP over BR/EDR on 0x0007 when the central starts it); with ``--advertise`` it
advertises over LE too, and its LE pairing derives the BR/EDR link key (2.4.2.4). With
``--connect`` it connects to BD_ADDR (``-``: the line it reads from stdin) over BR/EDR,
authenticates and encrypts (pairing Just Works), then pairs over SMP on 0x0007 as
initiator. It bonds in Bumble's in-memory key store and reports on stdout, one line per
fact, flushed at once:

    ADDRESS <bd_addr>          its public address, before READY
    LE_ADDRESS <address>       (--advertise) the static random address it advertises with
    LE_PAIRED <link key>       LE pairing ended; the BR/EDR link key derived (2.4.2.4), MSB
                               first, or "none"
    READY                      connectable (or about to connect)
    CONNECTED <peer>
    ENCRYPTION <mode>          encryption changed (0 off, 1 E0, 2 AES-CCM)
    PAIRED <ltk>               SMP over BR/EDR ended; the LTK derived, MSB first, or "none"
    PAIRING_FAILED <reason>
    DISCONNECTED <reason>

Bumble's own log goes to stderr (set BUMBLE_LOGLEVEL=DEBUG for all of it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from bumble.core import PhysicalTransport
from bumble.device import Connection, Device
from bumble.hci import Address
from bumble.keys import MemoryKeyStore
from bumble.logging import setup_basic_logging
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport import open_transport

LE_RANDOM_ADDRESS = "C0:00:00:B0:B0:02"


def report(*words: object) -> None:
    print(*words, flush=True)


class AcceptingDelegate(PairingDelegate):
    async def accept(self) -> bool:
        return True

    async def confirm(self, auto: bool = False) -> bool:
        return True

    async def compare_numbers(self, number: int, digits: int) -> bool:
        return True


def watch(connection: Connection) -> None:
    if connection.transport != PhysicalTransport.BR_EDR:

        def le_paired(keys: Any) -> None:
            link_key = keys.link_key
            report("LE_PAIRED", link_key.value[::-1].hex() if link_key is not None else "none")

        connection.on(connection.EVENT_PAIRING, le_paired)
        return
    report("CONNECTED", connection.peer_address)
    connection.on(
        connection.EVENT_CONNECTION_ENCRYPTION_CHANGE,
        lambda: report("ENCRYPTION", connection.encryption),
    )

    def paired(keys: Any) -> None:
        ltk = keys.ltk or keys.ltk_central or keys.ltk_peripheral
        # Bumble keeps keys in wire order (least significant octet first).
        report("PAIRED", ltk.value[::-1].hex() if ltk is not None else "none")

    connection.on(connection.EVENT_PAIRING, paired)
    connection.on(connection.EVENT_PAIRING_FAILURE, lambda reason: report("PAIRING_FAILED", reason))
    connection.on(connection.EVENT_DISCONNECTION, lambda reason: report("DISCONNECTED", reason))


async def run_device(device: Device, connect: str | None, advertise: bool) -> None:
    device.classic_enabled = True
    device.le_enabled = True
    device.keystore = MemoryKeyStore()
    # LE pairing derives the link key too (LinkKey, Vol 3 Part H 2.4.2.4).
    keys = (
        PairingDelegate.KeyDistribution.DISTRIBUTE_ENCRYPTION_KEY
        | PairingDelegate.KeyDistribution.DISTRIBUTE_IDENTITY_KEY
        | PairingDelegate.KeyDistribution.DISTRIBUTE_LINK_KEY
    )
    delegate = AcceptingDelegate(
        io_capability=PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT,
        local_initiator_key_distribution=keys,
        local_responder_key_distribution=keys,
    )

    def pairing_config(_connection: Connection) -> PairingConfig:
        return PairingConfig(
            sc=True, mitm=False, bonding=True, delegate=delegate,
            identity_address_type=PairingConfig.AddressType.PUBLIC,
        )  # fmt: skip

    device.pairing_config_factory = pairing_config
    device.on(device.EVENT_CONNECTION, watch)
    await device.power_on()
    report("ADDRESS", device.public_address)
    if connect is None:
        await device.set_discoverable(True)
        await device.set_connectable(True)
        if advertise:
            await device.start_advertising(auto_restart=True)
            report("LE_ADDRESS", device.random_address)
        report("READY")
        await asyncio.Event().wait()  # until the test terminates us
        return
    report("READY")
    if connect == "-":  # the test tells the address once its host is up
        connect = (await asyncio.to_thread(sys.stdin.readline)).strip()
    connection = await device.connect(connect, transport=PhysicalTransport.BR_EDR)
    await connection.authenticate()
    await connection.encrypt()
    # SMP over BR/EDR as initiator: Bumble's pair() on a BR/EDR connection (0x0007).
    await connection.pair()
    await asyncio.Event().wait()


async def serve(controller: str, connect: str | None, advertise: bool) -> None:
    async with await open_transport(controller) as transport:
        device = Device.with_hci(
            "bumble-ctkd-peer", Address(LE_RANDOM_ADDRESS), transport.source, transport.sink
        )
        await run_device(device, connect, advertise)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("controller", help="Bumble transport spec, e.g. tcp-client:HOST:PORT")
    parser.add_argument(
        "--connect", metavar="BD_ADDR", help="connect and pair as initiator ('-': read it)"
    )
    parser.add_argument(
        "--advertise", action="store_true", help="also advertise over LE for LE pairing"
    )
    args = parser.parse_args()
    setup_basic_logging("WARNING")  # BUMBLE_LOGLEVEL overrides it
    asyncio.run(serve(args.controller, args.connect, args.advertise))


if __name__ == "__main__":
    main()
