"""``bluetrio gatt-dump -t SPEC ADDRESS [--pair] [--address-type public|random]``: connect
over LE, discover the peer's whole GATT database and print it.

The tree comes out in handle order: each service with its handle range, UUID (with the SIG's
name) and kind; each characteristic with its declaration and value handles, UUID and
properties, then its value when the properties say it can be read (a long value in full:
the client reads it with Read Blob, Core 5.4 Vol 3 Part G 4.8.3), as hex and printable text;
each descriptor with its handle, UUID and value. A value the server refuses is shown with the
ATT error it gave. With ``--pair`` the link is paired (or encrypted with the bond) before
anything is read; without it, a value that needs security makes the client pair and read
it again (its security retry), so everything readable once paired is shown.

The tree goes to standard output; progress lines to standard error.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from bluetrio.address import Address, AddressType
from bluetrio.cli.common import (
    add_pairing_arguments,
    add_stack_arguments,
    address_argument,
    bond_directory,
    keystore_factory,
    pairing_delegate,
    progress,
    stack_options,
)
from bluetrio.cli.gatt_values import properties_label, uuid_label, value_lines
from bluetrio.errors import GattError
from bluetrio.gatt.client import GattClient
from bluetrio.gatt.names import uuid_name
from bluetrio.gatt.remote import RemoteCharacteristic, RemoteService
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.gatt_declarations import Properties
from bluetrio.pairing import PairingDelegate
from bluetrio.stack import open_stack
from bluetrio.transports.base import Transport

ADDRESS_TYPES = {"public": AddressType.PUBLIC, "random": AddressType.RANDOM}
COMMAND = "gatt-dump"
# What we ask in the MTU exchange (Vol 3 Part F 3.4.2): the most ATT allows, so long values
# take fewer Read Blob requests.
DUMP_MTU = 517
CONNECT_TIMEOUT = 10.0
INDENT = "  "

Emit = Callable[[str], None]


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        COMMAND,
        help="connect over LE and print the peer's GATT database with its readable values",
        description="Connect to ADDRESS over LE, discover every service, characteristic and "
        "descriptor, and print the tree with handles, UUIDs (with the SIG's names), "
        "properties and every readable value in full (hex and printable text). --pair pairs "
        "(or encrypts with the bond) first; without it, a value that needs security makes "
        "bluetrio pair and read it again.",
    )
    add_stack_arguments(parser)
    parser.add_argument(
        "peer", metavar="ADDRESS", type=address_argument, help="the peer's address, XX:XX:..."
    )
    parser.add_argument(
        "--address-type",
        choices=tuple(ADDRESS_TYPES),
        default="public",
        help="the peer's LE address type (default: public)",
    )
    parser.add_argument(
        "--pair", action="store_true", help="pair (or encrypt with the bond) before reading"
    )
    add_pairing_arguments(parser)
    parser.set_defaults(handler=run)


async def read_lines(gatt: GattClient, handle: int, depth: int) -> list[str]:
    """The lines showing the value at ``handle`` (or why it was not read)."""
    try:
        value = await gatt.read(handle)
    except GattError as error:  # the server's Error Response, or an answer that broke the rules
        return [f"not read ({error})"]
    lines = value_lines(value)
    if len(lines) == 1:
        return lines
    return [lines[0], *(INDENT * (depth + 1) + line for line in lines[1:])]


async def dump_characteristic(
    gatt: GattClient, characteristic: RemoteCharacteristic, emit: Emit
) -> None:
    label = uuid_label(characteristic.uuid, uuid_name)
    properties = properties_label(characteristic.properties)
    emit(
        f"{INDENT}characteristic 0x{characteristic.handle:04X} {label} [{properties}] "
        f"value 0x{characteristic.value_handle:04X}"
    )
    if characteristic.properties & Properties.READ:
        lines = await read_lines(gatt, characteristic.value_handle, 2)
        emit(f"{INDENT * 2}value: {lines[0]}")
        for line in lines[1:]:
            emit(line)
    for descriptor in characteristic.descriptors:
        lines = await read_lines(gatt, descriptor.handle, 3)
        label = uuid_label(descriptor.uuid, uuid_name)
        emit(f"{INDENT * 2}descriptor 0x{descriptor.handle:04X} {label}: {lines[0]}")
        for line in lines[1:]:
            emit(line)


async def dump_database(gatt: GattClient, emit: Emit) -> tuple[RemoteService, ...]:
    """Discover everything behind ``gatt`` and emit the tree, values read as it goes."""
    services = await gatt.discover_all()
    for service in services:
        kind = "primary" if service.primary else "secondary"
        label = uuid_label(service.uuid, uuid_name)
        emit(f"service 0x{service.handle:04X}..0x{service.end_handle:04X} {label} ({kind})")
        for included in service.included:
            included_label = uuid_label(included.uuid, uuid_name)
            emit(
                f"{INDENT}includes 0x{included.handle:04X}..0x{included.end_handle:04X} "
                f"{included_label}"
            )
        for characteristic in service.characteristics:
            await dump_characteristic(gatt, characteristic, emit)
    return services


async def gatt_dump(
    spec: str | Transport,
    peer: Address,
    delegate: PairingDelegate,
    keystore_dir: Path,
    emit: Emit,
    options: dict[str, Any] | None = None,
    *,
    pair: bool = False,
) -> None:
    """The whole command: connect to ``peer`` over LE, pair when ``pair``, emit the tree."""
    async with open_stack(
        spec,
        **(options or {}),
        keystore=keystore_factory(keystore_dir),
        pairing_delegate=delegate,
    ) as stack:
        info = await stack.ready()
        progress(COMMAND, f"{info.address} connecting to {peer} over LE")
        async with stack.connect(peer, transport=LinkTransport.LE, timeout=CONNECT_TIMEOUT) as link:
            if pair:
                result = await link.pair()
                how = "encrypted with the bond" if result.used_stored_key else "paired"
                progress(COMMAND, f"{how}, key size {result.key_size}")
            gatt = link.gatt
            mtu = await gatt.exchange_mtu(DUMP_MTU)
            progress(COMMAND, f"MTU {mtu}; discovering the database")
            services = await dump_database(gatt, emit)
            progress(COMMAND, f"{len(services)} services")


def run(args: argparse.Namespace) -> int:
    directory = bond_directory(args.keystore)
    delegate = pairing_delegate(args)
    peer: Address = args.peer.with_type(ADDRESS_TYPES[args.address_type])

    async def main() -> None:
        await gatt_dump(
            args.transport, peer, delegate, directory, print, stack_options(args), pair=args.pair
        )

    trio.run(main)
    return 0
