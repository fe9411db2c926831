"""``bluetrio serve``: be the device others find, connect to and pair with."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import trio
from trio.testing import MockClock

from bluetrio.address import Address
from bluetrio.cli.common import YesPairingDelegate
from bluetrio.cli.main import build_parser
from bluetrio.cli.serve import Report, ServeOptions, serve_command
from bluetrio.errors import InvalidArgumentError, PairingError
from bluetrio.link import Link
from bluetrio.messages.btm import LinkTransport
from bluetrio.pairing import IoCapability, PairingDelegate, TerminalPairingDelegate
from bluetrio.stack import open_stack

AIR = "virtual:serve-room"
SERVER = Address.parse("00:1B:DC:5E:5E:01")


class Agreeing(PairingDelegate):
    async def confirm_numeric(self, peer: Address, number: int) -> bool:
        return True


async def start_server(
    nursery: trio.Nursery,
    options: ServeOptions,
    delegate: PairingDelegate,
    tmp_path: Path,
    output: io.StringIO,
) -> None:
    """Start ``bluetrio serve`` as SERVER on the test's air, printing to ``output``."""
    await nursery.start(
        lambda task_status: serve_command(
            AIR, options, delegate, tmp_path, output, {"address": SERVER},
            task_status=task_status,
        )
    )  # fmt: skip


AGREEING = Agreeing(IoCapability.DISPLAY_YES_NO)


def serve_and_visit(tmp_path: Path, options: ServeOptions) -> tuple[list[str], Address]:
    """Serve with ``options``; a visitor finds the server, connects over BR/EDR and pairs,
    then connects over LE; everything the server printed, and the visitor's address."""

    async def scenario() -> tuple[list[str], Address]:
        output = io.StringIO()
        delegate = YesPairingDelegate(IoCapability.DISPLAY_YES_NO, output=output)
        async with trio.open_nursery() as nursery:
            await start_server(nursery, options, delegate, tmp_path, output)
            async with open_stack(AIR, pairing_delegate=AGREEING) as visitor:
                visitor_address = (await visitor.ready()).address
                found = [result.address for result in await visitor.inquiry(2.56)]
                assert found == [SERVER]
                async with visitor.connect(SERVER, transport=LinkTransport.BR_EDR) as link:
                    await link.pair()
                async with visitor.scan(2) as reports:
                    advertiser = await anext(aiter(reports))
                assert advertiser.name == options.name
                for _ in range(3):  # advertising starts again after each connection
                    async with visitor.connect(advertiser.address, transport=LinkTransport.LE):
                        pass
                await trio.sleep(1)  # the server reports the last disconnection
            nursery.cancel_scope.cancel()
        return output.getvalue().splitlines(), visitor_address

    return trio.run(scenario, clock=MockClock(autojump_threshold=0))


def test_serve_advertises_is_discoverable_accepts_and_pairs(tmp_path: Path) -> None:
    options = ServeOptions(name="kettle", advertise=True, discoverable=True, pairable=True)
    lines, visitor = serve_and_visit(tmp_path, options)
    assert lines[0] == (
        f"{SERVER}: advertising as 'kettle' (LE), discoverable as 'kettle' (BR/EDR), "
        "connectable (BR/EDR), pairable; Ctrl-C to stop"
    )
    # The key store writes in a thread: its line comes once the file is safely replaced.
    stored = f"bond with {visitor} (br_edr) stored"
    assert stored in lines
    events = [line for line in lines[1:] if line != stored]
    assert events[1].startswith(f"Does {visitor} show ") and events[1].endswith("? yes (--yes)")
    assert events[:1] + events[2:] == [
        f"connected: {visitor} over BR/EDR (we are peripheral)",
        f"disconnected: {visitor}: Remote User Terminated Connection (0x13)",
        *[
            f"connected: {visitor} over LE (we are peripheral)",
            f"disconnected: {visitor}: Remote User Terminated Connection (0x13)",
        ]
        * 3,
    ]
    assert len(list(tmp_path.glob("bonds-00-1B-DC-5E-5E-01-public.json"))) == 1


def test_services_run_on_each_link_while_it_is_up(tmp_path: Path) -> None:
    async def greeter(link: Link, report: Report) -> None:
        report(f"greeter: hello {link.peer}")
        try:
            await trio.sleep_forever()
        finally:
            report(f"greeter: {link.peer} left")

    async def scenario() -> list[str]:
        output = io.StringIO()
        options = ServeOptions(discoverable=True)
        async with trio.open_nursery() as nursery:
            await nursery.start(
                lambda task_status: serve_command(
                    AIR, options, PairingDelegate(), tmp_path, output, {"address": SERVER},
                    services=[greeter], task_status=task_status,
                )
            )  # fmt: skip
            async with (
                open_stack(AIR) as visitor,
                visitor.connect(SERVER, transport=LinkTransport.BR_EDR),
            ):
                await trio.sleep(1)
            await trio.sleep(1)
            nursery.cancel_scope.cancel()
        return output.getvalue().splitlines()

    lines = trio.run(scenario, clock=MockClock(autojump_threshold=0))
    visitor = lines[1].split()[1]
    assert lines[1:] == [
        f"connected: {visitor} over BR/EDR (we are peripheral)",
        f"greeter: hello {visitor}",
        f"greeter: {visitor} left",
        f"disconnected: {visitor}: Remote User Terminated Connection (0x13)",
    ]


def test_serve_options() -> None:
    args = build_parser().parse_args(
        ["serve", "-t", "virtual", "--advertise", "--pairable", "--yes", "--name", "lamp"]
    )
    assert (args.advertise, args.discoverable, args.pairable, args.yes, args.name) == (
        True,
        False,
        True,
        True,
        "lamp",
    )
    with pytest.raises(InvalidArgumentError):
        ServeOptions(name="")


def serve_and_fail_pairing(tmp_path: Path, options: ServeOptions) -> tuple[list[str], Address]:
    """Serve with ``options`` and a user who answers no; a visitor connects over BR/EDR and
    tries to pair; everything the server printed, and the visitor's address."""

    async def declining(prompt: str) -> str:
        return "n"

    async def scenario() -> tuple[list[str], Address]:
        output = io.StringIO()
        delegate = TerminalPairingDelegate(
            IoCapability.DISPLAY_YES_NO, read_line=declining, output=output
        )
        async with trio.open_nursery() as nursery:
            await start_server(nursery, options, delegate, tmp_path, output)
            async with open_stack(AIR, pairing_delegate=AGREEING) as visitor:
                visitor_address = (await visitor.ready()).address
                async with visitor.connect(SERVER, transport=LinkTransport.BR_EDR) as link:
                    with pytest.raises(PairingError):
                        await link.pair()
                await trio.sleep(1)  # the server reports the disconnection
            nursery.cancel_scope.cancel()
        return output.getvalue().splitlines(), visitor_address

    return trio.run(scenario, clock=MockClock(autojump_threshold=0))


def test_serve_says_when_a_pairing_the_visitor_started_fails(tmp_path: Path) -> None:
    options = ServeOptions(discoverable=True, pairable=True)
    lines, visitor = serve_and_fail_pairing(tmp_path, options)
    failures = [line for line in lines if line.startswith(f"pairing with {visitor} failed: ")]
    assert failures == [
        f"pairing with {visitor} failed: pairing failed: Authentication Failure (0x05)"
    ], lines
    assert lines.index(failures[0]) < lines.index(
        f"disconnected: {visitor}: Remote User Terminated Connection (0x13)"
    )


def test_serve_says_when_it_refuses_a_pairing_because_it_is_not_pairable(
    tmp_path: Path,
) -> None:
    lines, visitor = serve_and_fail_pairing(tmp_path, ServeOptions(discoverable=True))
    assert f"pairing with {visitor} failed: not pairable" in lines, lines
