"""``bluetrio pair -t SPEC ADDRESS [--le | --classic]``: connect, pair (or use the bond),
encrypt, and say how the link is protected."""

from __future__ import annotations

import argparse
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
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.btm import LinkTransport, SecurityLevel
from bluetrio.pairing import PairingDelegate, PairingResult
from bluetrio.stack import Stack, open_stack
from bluetrio.transports.base import Transport

# How long the scan lasts that finds the transport when neither --le nor --classic is given:
# a few advertising intervals (Vol 6 Part B 4.4.2.2) and two inquiry windows of 1.28 s.
TRANSPORT_SCAN_SECONDS = 2.56
INQUIRY_SECONDS = 2.56
ADDRESS_TYPES = {"public": AddressType.PUBLIC, "random": AddressType.RANDOM}
_LEVEL_WORDS = {
    SecurityLevel.NONE: "level 1 (not encrypted)",
    SecurityLevel.ENCRYPTED: "level 2 (encrypted, unauthenticated)",
    SecurityLevel.AUTHENTICATED: "level 3 (encrypted, authenticated)",
    SecurityLevel.SECURE_CONNECTIONS: "level 4 (authenticated Secure Connections, 128-bit key)",
}


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "pair",
        help="pair with a device over LE or BR/EDR (or reconnect with its bond) and encrypt",
        description="Connect to ADDRESS, pair (asking on the terminal when a number must be "
        "confirmed or a passkey typed), print the association model, how strong the keys "
        "are and which keys were exchanged, store the bond, and encrypt. Run again, it "
        "reconnects and encrypts with the stored key without pairing, and says so. --le pairs "
        "over LE (the Security Manager), --classic over BR/EDR (Secure Simple Pairing); with "
        "neither, a short scan finds the transport the address is seen on.",
    )
    add_stack_arguments(parser)
    parser.add_argument(
        "peer", metavar="ADDRESS", type=address_argument, help="the peer's address, XX:XX:..."
    )
    transports = parser.add_mutually_exclusive_group()
    transports.add_argument("--classic", action="store_true", help="pair over BR/EDR")
    transports.add_argument("--le", action="store_true", help="pair over LE")
    parser.add_argument(
        "--address-type",
        choices=tuple(ADDRESS_TYPES),
        default=None,
        help="the LE address's type (default: as the scan saw it, else public)",
    )
    add_pairing_arguments(parser)
    parser.set_defaults(handler=run)


def describe(result: PairingResult, stack_level: SecurityLevel | None = None) -> list[str]:
    """What the user is told: how the link was secured, how strong, which keys."""
    le = result.key_type is None
    if result.used_stored_key:
        if le:
            how = "reconnected and encrypted with the stored LTK, no pairing"
        else:
            how = "reconnected with the stored bond, no pairing"
    else:
        model = result.model.value if result.model is not None else "unknown model"
        how = f"paired ({model}), bond stored"
    lines = [f"{result.address}: {how}"]
    if result.key_type is not None:
        lines.append(
            f"link key: {result.key_type.name.lower()}, encryption key size {result.key_size}"
        )
        return lines
    kind = "LE Secure Connections" if result.secure_connections else "LE legacy pairing"
    authenticated = "authenticated (MITM protection)" if result.authenticated else "unauthenticated"
    level = "" if stack_level is None else f", security {_LEVEL_WORDS[stack_level]}"
    lines.append(f"keys: {kind}, {authenticated}, key size {result.key_size}{level}")
    distributed = ", ".join(result.distributed) or "none"
    lines.append(f"keys distributed: {distributed}")
    return lines


async def pair_classic(
    spec: str | Transport,
    peer: Address,
    delegate: PairingDelegate,
    keystore_dir: Path,
    options: dict[str, Any] | None = None,
) -> list[str]:
    """Connect to ``peer`` over BR/EDR, pair or use the bond in ``keystore_dir``, encrypt."""
    return await pair_over(spec, peer, delegate, keystore_dir, LinkTransport.BR_EDR, options)


async def pair_le(
    spec: str | Transport,
    peer: Address,
    delegate: PairingDelegate,
    keystore_dir: Path,
    options: dict[str, Any] | None = None,
) -> list[str]:
    """Connect to ``peer`` over LE, pair or encrypt with the bond in ``keystore_dir``."""
    return await pair_over(spec, peer, delegate, keystore_dir, LinkTransport.LE, options)


async def pair_over(
    spec: str | Transport,
    peer: Address,
    delegate: PairingDelegate,
    keystore_dir: Path,
    transport: LinkTransport | None,
    options: dict[str, Any] | None = None,
    *,
    address_type: AddressType | None = None,
) -> list[str]:
    """Connect to ``peer`` over ``transport`` (None: the one a short scan sees it on), pair
    or use the bond in ``keystore_dir``, encrypt; the lines that say what happened."""
    async with open_stack(
        spec,
        **(options or {}),
        keystore=keystore_factory(keystore_dir),
        pairing_delegate=delegate,
    ) as stack:
        info = await stack.ready()
        if transport is None:
            transport, seen = await find_transport(stack, peer)
            if address_type is None and seen is not None:
                address_type = seen.type
        if transport is LinkTransport.LE:
            peer = peer.with_type(address_type if address_type is not None else peer.type)
        name = "LE" if transport is LinkTransport.LE else "BR/EDR"
        progress("pair", f"{info.address} connecting to {peer} over {name}")
        async with stack.connect(peer, transport=transport) as link:
            result = await link.pair()
            level = link.security_level if transport is LinkTransport.LE else None
    return describe(result, level)


async def find_transport(stack: Stack, peer: Address) -> tuple[LinkTransport, Address | None]:
    """The transport ``peer`` is seen on in a short LE scan and BR/EDR inquiry (with the LE
    address as seen); :class:`InvalidArgumentError` naming the flag when not exactly one."""
    progress("pair", f"looking for {peer} on LE and BR/EDR ({TRANSPORT_SCAN_SECONDS:g} s)")
    seen_le: Address | None = None
    seen_bredr = False

    async def scan_le() -> None:
        nonlocal seen_le
        async with stack.scan(TRANSPORT_SCAN_SECONDS) as reports:
            async for report in reports:
                if report.address.value == peer.value:
                    seen_le = report.address
                    return

    async def inquire() -> None:
        nonlocal seen_bredr
        results = await stack.inquiry(INQUIRY_SECONDS)
        seen_bredr = any(result.address.value == peer.value for result in results)

    async with trio.open_nursery() as nursery:
        if stack.controller_info is None or stack.controller_info.le_supported:
            nursery.start_soon(scan_le)
        if stack.controller_info is None or stack.controller_info.bredr_supported:
            nursery.start_soon(inquire)
    if seen_le is not None and not seen_bredr:
        return LinkTransport.LE, seen_le
    if seen_bredr and seen_le is None:
        return LinkTransport.BR_EDR, None
    where = "on both LE and BR/EDR" if seen_bredr else "on neither LE nor BR/EDR"
    raise InvalidArgumentError(
        f"{peer} was seen {where} in a {TRANSPORT_SCAN_SECONDS:g} s scan: say --le or --classic"
    )


def run(args: argparse.Namespace) -> int:
    directory = bond_directory(args.keystore)
    delegate = pairing_delegate(args)
    options = stack_options(args)
    transport = LinkTransport.LE if args.le else LinkTransport.BR_EDR if args.classic else None
    if args.address_type is not None and transport is LinkTransport.BR_EDR:
        raise InvalidArgumentError("--address-type is for LE addresses; BR/EDR has one kind")
    address_type = None if args.address_type is None else ADDRESS_TYPES[args.address_type]

    async def main() -> list[str]:
        return await pair_over(
            args.transport, args.peer, delegate, directory, transport, options,
            address_type=address_type,
        )  # fmt: skip

    lines = trio.run(main)
    for line in lines:
        print(line)
    return 0
