"""``bluetrio serve -t SPEC``: be the other device. Advertise (LE) and/or be discoverable
(BR/EDR), accept connections and pairing, and print what happens until Ctrl-C.

The upper layers hang their servers on this command (a GATT server, an RFCOMM service) as
:data:`LinkService` functions given to :func:`serve_devices`: it owns the stack and the links,
runs every service on each link while the link is up, and reports each link's life as one
line per event.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs
import trio

from bluetrio.address import Address
from bluetrio.bonds import Bond
from bluetrio.cli.common import (
    add_pairing_arguments,
    add_stack_arguments,
    bond_directory,
    pairing_delegate,
    stack_options,
)
from bluetrio.errors import InvalidArgumentError
from bluetrio.keystore import JsonKeyStore, bond_file
from bluetrio.link import Link
from bluetrio.messages.ad import AdvertisingData, Flags, LocalName
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.hci.status import describe_status
from bluetrio.pairing import PairingDelegate, PeerOobData
from bluetrio.stack import Stack, StackConfig, open_stack
from bluetrio.transports.base import Transport

DEFAULT_NAME = "bluetrio"
# AD Flags (Supplement Part A 1.3): LE General Discoverable Mode, BR/EDR Not Supported is
# left clear because the same device may also be a BR/EDR peer.
LE_GENERAL_DISCOVERABLE = 0x02
MAX_NAME_BYTES = 248  # Local_Name of Write_Local_Name (Vol 4 Part E 7.3.11)


@attrs.frozen
class ServeOptions:
    """What ``bluetrio serve`` offers: its name, LE advertising, BR/EDR inquiry scan, pairing."""

    name: str = DEFAULT_NAME
    advertise: bool = False
    discoverable: bool = False
    pairable: bool = False

    def __attrs_post_init__(self) -> None:
        if not self.name or len(self.name.encode()) > MAX_NAME_BYTES:
            raise InvalidArgumentError(f"a device name has 1 to {MAX_NAME_BYTES} UTF-8 bytes")

    def describe(self, address: Address) -> str:
        offers = []
        if self.advertise:
            offers.append(f"advertising as {self.name!r} (LE)")
        if self.discoverable:
            offers.append(f"discoverable as {self.name!r} (BR/EDR)")
        offers.append("connectable (BR/EDR)")
        offers.append("pairable" if self.pairable else "not pairable")
        return f"{address}: " + ", ".join(offers) + "; Ctrl-C to stop"

    def advertising_data(self) -> AdvertisingData:
        return AdvertisingData([Flags(LE_GENERAL_DISCOVERABLE), LocalName(self.name)])


Report = Callable[[str], None]
LinkService = Callable[[Link, Report], Awaitable[None]]
"""A server of a later layer on one link: runs while the link is up (cancelled when it goes
down), and may print lines of the serve command's report."""


class AnnouncingKeyStore(JsonKeyStore):
    """A JSON key store that says when it keeps a bond."""

    def __init__(self, path: Path, local_address: Address, say: Report) -> None:
        super().__init__(path, local_address)
        self._say = say

    async def save(self, bond: Bond, *, allow_downgrade: bool = False) -> Bond:
        stored = await super().save(bond, allow_downgrade=allow_downgrade)
        self._say(f"bond with {bond.peer_address} ({bond.transport.value}) stored")
        return stored


class ReportingDelegate(PairingDelegate):
    """The user's delegate, plus a report line for each pairing that fails: a pairing the
    peer started has nobody else here to hear how it ended."""

    def __init__(self, inner: PairingDelegate, say: Report) -> None:
        super().__init__(inner.io_capability)
        self._inner = inner
        self._say = say

    async def accept_pairing(self, peer: Address) -> bool:
        return await self._inner.accept_pairing(peer)

    async def confirm_numeric(self, peer: Address, number: int) -> bool:
        return await self._inner.confirm_numeric(peer, number)

    async def enter_passkey(self, peer: Address) -> int | None:
        return await self._inner.enter_passkey(peer)

    async def display_passkey(self, peer: Address, passkey: int) -> None:
        await self._inner.display_passkey(peer, passkey)

    async def oob_data(self, peer: Address) -> PeerOobData | None:
        return await self._inner.oob_data(peer)

    @property
    def provides_oob_data(self) -> bool:
        return self._inner.provides_oob_data

    async def pairing_failed(self, peer: Address, reason: str) -> None:
        self._say(f"pairing with {peer} failed: {reason}")
        await self._inner.pairing_failed(peer, reason)


class _Reporter:
    """One line per event on ``output``."""

    def __init__(self, output: TextIO) -> None:
        self.output = output

    def __call__(self, text: str) -> None:
        print(text, file=self.output, flush=True)

    async def follow(self, link: Link, services: Sequence[LinkService] = ()) -> None:
        """Report ``link`` from connection to disconnection and run ``services`` on it
        meanwhile (the link is ours to close)."""
        async with link:
            role = link.role.name.lower()
            self(f"connected: {link.peer} over {_transport_name(link.transport)} (we are {role})")
            async with trio.open_nursery() as nursery:
                for service in services:
                    nursery.start_soon(service, link, self)
                reason = await link.wait_disconnected()
                nursery.cancel_scope.cancel()
            self(f"disconnected: {link.peer}: {describe_status(reason)}")


def _transport_name(transport: LinkTransport) -> str:
    return "LE" if transport is LinkTransport.LE else "BR/EDR"


async def _advertise(
    stack: Stack, options: ServeOptions, le_links: trio.MemoryReceiveChannel[None]
) -> None:
    """Advertise; a legacy advertiser stops when a central connects (Vol 6 Part B 4.4.2),
    so start again after each LE link."""
    while True:
        async with stack.advertise(options.advertising_data()):
            await le_links.receive()


async def serve_devices(
    stack: Stack,
    options: ServeOptions,
    report: _Reporter,
    *,
    services: Sequence[LinkService] = (),
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Offer what ``options`` says on ``stack``, run ``services`` on every link that comes
    and report it, until cancelled."""
    info = await stack.ready()
    if options.advertise and not info.le_supported:
        raise InvalidArgumentError(f"the controller {info.address} does not support LE")
    if options.discoverable and not info.bredr_supported:
        raise InvalidArgumentError(f"the controller {info.address} does not support BR/EDR")
    # One pending "an LE link came" is enough to restart advertising once.
    le_link_came, le_links = trio.open_memory_channel[None](1)
    async with trio.open_nursery() as nursery:
        links = stack.incoming()
        if options.advertise:
            nursery.start_soon(_advertise, stack, options, le_links)
        if info.bredr_supported:
            await stack.set_discoverable(options.discoverable, connectable=True)
        report(options.describe(info.address))
        task_status.started()
        async for link in links:
            if link.transport is LinkTransport.LE:
                with contextlib.suppress(trio.WouldBlock):
                    le_link_came.send_nowait(None)
            nursery.start_soon(report.follow, link, services)


async def serve_command(
    spec: str | Transport,
    options: ServeOptions,
    delegate: PairingDelegate,
    keystore_dir: Path,
    output: TextIO,
    stack_options: dict[str, Any] | None = None,
    *,
    services: Sequence[LinkService] = (),
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """The whole command: open the stack on ``spec`` and serve until cancelled."""
    report = _Reporter(output)
    config = StackConfig(local_name=options.name, discoverable=options.discoverable)
    async with open_stack(
        spec,
        **(stack_options or {}),
        config=config,
        pairable=options.pairable,
        pairing_delegate=ReportingDelegate(delegate, report),
        keystore=lambda local: AnnouncingKeyStore(bond_file(keystore_dir, local), local, report),
    ) as stack:
        await serve_devices(stack, options, report, services=services, task_status=task_status)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="be the other device: advertise, be discoverable, accept connections and pairing",
        description="Advertise over LE (--advertise) and/or answer BR/EDR inquiries "
        "(--discoverable), accept the connections that come (BR/EDR pages are always "
        "accepted), pair when --pairable (asking on the terminal, or --yes), and print each "
        "connection, bond and disconnection until Ctrl-C.",
    )
    add_stack_arguments(parser)
    parser.add_argument(
        "--name", default=DEFAULT_NAME, help=f"the device name (default: {DEFAULT_NAME})"
    )
    parser.add_argument("--advertise", action="store_true", help="advertise over LE")
    parser.add_argument(
        "--discoverable", action="store_true", help="answer BR/EDR inquiries (inquiry scan)"
    )
    parser.add_argument("--pairable", action="store_true", help="accept pairing requests")
    add_pairing_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    options = ServeOptions(
        name=args.name,
        advertise=args.advertise,
        discoverable=args.discoverable,
        pairable=args.pairable,
    )
    directory = bond_directory(args.keystore)
    delegate = pairing_delegate(args)
    trio.run(
        lambda: serve_command(
            args.transport, options, delegate, directory, sys.stdout, stack_options(args)
        )
    )
    return 0
