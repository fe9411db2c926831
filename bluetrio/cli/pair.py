"""``bluetrio pair -t SPEC ADDRESS --classic``: connect, pair (or use the bond), encrypt."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import trio

from bluetrio.address import Address
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
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.btm import LinkTransport
from bluetrio.pairing import PairingDelegate, PairingResult
from bluetrio.stack import open_stack
from bluetrio.transports.base import Transport

# Until SMP exists there is no LE pairing; say so instead of failing later.
LE_NOT_YET = "LE pairing needs SMP, which this version of bluetrio does not have yet"


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "pair",
        help="pair with a BR/EDR device (or reconnect with its bond) and encrypt the link",
        description="Connect to ADDRESS over BR/EDR, run Secure Simple Pairing (asking on the "
        "terminal when a number must be confirmed or a passkey typed), store the bond, and "
        "encrypt. Run again, it reconnects with the stored key without pairing. Say which "
        f"transport: --classic (BR/EDR); --le comes later ({LE_NOT_YET}).",
    )
    add_stack_arguments(parser)
    parser.add_argument(
        "peer", metavar="ADDRESS", type=address_argument, help="the peer's BD_ADDR, XX:XX:..."
    )
    transports = parser.add_mutually_exclusive_group()
    transports.add_argument("--classic", action="store_true", help="pair over BR/EDR")
    transports.add_argument("--le", action="store_true", help=f"pair over LE ({LE_NOT_YET})")
    add_pairing_arguments(parser)
    parser.set_defaults(handler=run)


def describe(result: PairingResult) -> list[str]:
    if result.used_stored_key:
        how = "reconnected with the stored bond, no pairing"
    else:
        model = result.model.value if result.model is not None else "unknown model"
        how = f"paired ({model}), bond stored"
    if result.key_type is not None:
        key = f"link key: {result.key_type.name.lower()}"
    else:
        kind = "LE Secure Connections" if result.secure_connections else "LE legacy"
        authenticated = "authenticated" if result.authenticated else "unauthenticated"
        key = f"keys: {kind}, {authenticated}"
    return [f"{result.address}: {how}", f"{key}, encryption key size {result.key_size}"]


async def pair_classic(
    spec: str | Transport,
    peer: Address,
    delegate: PairingDelegate,
    keystore_dir: Path,
    options: dict[str, Any] | None = None,
) -> list[str]:
    """Connect to ``peer`` over BR/EDR, pair or use the bond in ``keystore_dir``, encrypt."""
    async with open_stack(
        spec,
        **(options or {}),
        keystore=keystore_factory(keystore_dir),
        pairing_delegate=delegate,
    ) as stack:
        info = await stack.ready()
        progress("pair", f"{info.address} connecting to {peer} over BR/EDR")
        async with stack.connect(peer, transport=LinkTransport.BR_EDR) as link:
            result = await link.pair()
    return describe(result)


def run(args: argparse.Namespace) -> int:
    if args.le:
        raise InvalidArgumentError(f"{LE_NOT_YET}; --classic pairs over BR/EDR")
    if not args.classic:
        raise InvalidArgumentError(
            f"say --classic to pair over BR/EDR (Secure Simple Pairing); {LE_NOT_YET}"
        )
    directory = bond_directory(args.keystore)
    delegate = pairing_delegate(args)
    options = stack_options(args)
    lines = trio.run(pair_classic, args.transport, args.peer, delegate, directory, options)
    for line in lines:
        print(line)
    return 0
