"""``bluetrio pair -t SPEC ADDRESS --classic``: connect, pair (or use the bond), encrypt."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import trio

from bluetrio.address import Address
from bluetrio.cli.common import add_transport_argument
from bluetrio.errors import InvalidArgumentError
from bluetrio.keystore import JsonKeyStore
from bluetrio.messages.btm import LinkTransport
from bluetrio.pairing import IoCapability, PairingResult, TerminalPairingDelegate
from bluetrio.stack import open_stack
from bluetrio.transports.base import Transport

_IO_CAPABILITIES = ["no-io", "display-only", "display-yes-no", "keyboard-only", "keyboard-display"]
_DEFAULT_KEYSTORE = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local/share")) / (
    "bluetrio"
)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "pair",
        help="pair with a BR/EDR device (or reconnect with its bond) and encrypt the link",
        description="Connect to ADDRESS over BR/EDR, run Secure Simple Pairing (asking on the "
        "terminal when a number must be confirmed or a passkey typed), store the bond, and "
        "encrypt. Run again, it reconnects with the stored key without pairing. LE pairing "
        "comes with SMP in a later version; --classic is required until then.",
    )
    add_transport_argument(parser)
    parser.add_argument("address", metavar="ADDRESS", help="the peer's BD_ADDR, XX:XX:...")
    parser.add_argument(
        "--classic", action="store_true", required=True, help="pair over BR/EDR (required)"
    )
    parser.add_argument(
        "--io-capability",
        choices=_IO_CAPABILITIES,
        default="display-yes-no",
        help="what this terminal can do (default: display-yes-no)",
    )
    parser.add_argument(
        "--keystore",
        metavar="DIR",
        default=str(_DEFAULT_KEYSTORE),
        help=f"directory of bond files, one per local address (default: {_DEFAULT_KEYSTORE})",
    )
    parser.set_defaults(handler=run)


def describe(result: PairingResult) -> list[str]:
    if result.used_stored_key:
        how = "reconnected with the stored bond, no pairing"
    else:
        model = result.model.value if result.model is not None else "unknown model"
        how = f"paired ({model}), bond stored"
    return [
        f"{result.address}: {how}",
        f"link key: {result.key_type.name.lower()}, encryption key size {result.key_size}",
    ]


async def pair_classic(
    spec: str | Transport,
    address: Address,
    io_capability: IoCapability,
    keystore_dir: Path,
    snoop: str | None,
) -> list[str]:
    keystore_dir.mkdir(parents=True, exist_ok=True)
    async with (
        open_stack(
            spec,
            snoop=snoop,
            keystore=lambda local: JsonKeyStore.in_directory(keystore_dir, local),
            pairing_delegate=TerminalPairingDelegate(io_capability),
        ) as stack,
        stack.connect(address, transport=LinkTransport.BR_EDR) as link,
    ):
        result = await link.pair()
    return describe(result)


def run(args: argparse.Namespace) -> int:
    try:
        address = Address.parse(args.address)
    except InvalidArgumentError as error:
        raise InvalidArgumentError(f"ADDRESS: {error}") from None
    io_capability = IoCapability.from_name(args.io_capability)
    lines = trio.run(
        pair_classic, args.transport, address, io_capability, Path(args.keystore), args.snoop
    )
    for line in lines:
        print(line)
    return 0
