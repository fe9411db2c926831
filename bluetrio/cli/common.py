"""Helpers shared by the subcommands: the arguments of a command that opens a stack, and
progress lines (on standard error, so standard output stays the command's result)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bluetrio.address import Address
from bluetrio.errors import InvalidArgumentError, KeyStoreError
from bluetrio.keystore import JsonKeyStore
from bluetrio.pairing import IoCapability, TerminalPairingDelegate

TRANSPORT_FORMS = (
    "virtual[:AIR], serial:PATH[,BAUD][,rtscts], usb:[INDEX|VID:PID], tcp:HOST:PORT, unix:PATH"
)


def address_argument(text: str) -> Address:
    """An argparse ``type`` for a BD_ADDR: a bad one is reported with what one looks like."""
    try:
        return Address.parse(text)
    except InvalidArgumentError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_stack_arguments(
    parser: argparse.ArgumentParser, *, transport_required: bool = True
) -> None:
    """``-t SPEC``, ``--snoop FILE`` and ``--address BD_ADDR``: what every command that opens
    a stack takes (``-t`` optional for a command that has a default of its own)."""
    parser.add_argument(
        "-t",
        "--transport",
        required=transport_required,
        metavar="SPEC",
        help=f"controller transport: {TRANSPORT_FORMS}; virtual:AIR names a shared air "
        "(a radio medium), each stack on it gets its own controller",
    )
    parser.add_argument("--snoop", metavar="FILE", help="record HCI traffic as btsnoop")
    parser.add_argument(
        "--address",
        type=address_argument,
        default=None,
        metavar="BD_ADDR",
        help="use this public address (written at bring-up with the vendor Write_BD_ADDR "
        "command that bluetrio's virtual controller accepts), so bonds made in one run "
        "are valid in the next",
    )


def stack_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``open_stack`` keyword arguments that :func:`add_stack_arguments` collected."""
    return {"snoop": args.snoop, "address": args.address}


def progress(command: str, text: str) -> None:
    """Tell the user what the command is doing (standard error, one line)."""
    print(f"bluetrio {command}: {text}", file=sys.stderr, flush=True)


# -- pairing: shared by ``pair`` and ``serve`` ----------------------------------------------------

IO_CAPABILITIES = ("no-io", "display-only", "display-yes-no", "keyboard-only", "keyboard-display")
DEFAULT_KEYSTORE = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local/share")) / "bluetrio"


def add_pairing_arguments(parser: argparse.ArgumentParser) -> None:
    """``--io-capability``, ``--keystore DIR`` and ``--yes``."""
    parser.add_argument(
        "--io-capability",
        choices=IO_CAPABILITIES,
        default="display-yes-no",
        help="what this terminal can do (default: display-yes-no)",
    )
    parser.add_argument(
        "--keystore",
        metavar="DIR",
        default=str(DEFAULT_KEYSTORE),
        help=f"directory of bond files, one per local address (default: {DEFAULT_KEYSTORE})",
    )
    parser.add_argument(
        "--yes",
        action="store_true",
        help="answer yes to every confirmation (Just Works, numeric comparison) without "
        "asking, for scripts; passkeys to type are still asked for",
    )


def bond_directory(path: str) -> Path:
    """``path`` made ready to hold bond files; :class:`KeyStoreError` when it cannot."""
    directory = Path(path)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise KeyStoreError(f"{directory} is a file, not a directory of bond files") from None
    except OSError as error:
        raise KeyStoreError(f"cannot use {directory} for bonds: {error.strerror}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise KeyStoreError(f"cannot write bonds in {directory}: permission denied")
    return directory


class YesPairingDelegate(TerminalPairingDelegate):
    """Says yes to every confirmation (``--yes``), showing what it agreed to."""

    async def accept_pairing(self, peer: Address) -> bool:
        self._say(f"Pair with {peer} (Just Works, no verification)? yes (--yes)")
        return True

    async def confirm_numeric(self, peer: Address, number: int) -> bool:
        self._say(f"Does {peer} show {number:06d}? yes (--yes)")
        return True


def pairing_delegate(args: argparse.Namespace) -> TerminalPairingDelegate:
    io_capability = IoCapability.from_name(args.io_capability)
    if args.yes:
        return YesPairingDelegate(io_capability)
    return TerminalPairingDelegate(io_capability)


def keystore_factory(directory: Path) -> Callable[[Address], JsonKeyStore]:
    """The key store of the local address, in ``directory`` (once the address is known)."""
    return lambda local: JsonKeyStore.in_directory(directory, local)
