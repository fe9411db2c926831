"""Procedures, bluetrio against Bumble on the same controllers: time and HCI commands.

    python bench/procedures.py                         # served controller and Root Canal
    python bench/procedures.py --controllers served --rounds 10

For each controller -- ``served`` (``bluetrio controller --listen``), ``rootcanal`` (Root
Canal) and ``local`` (bluetrio's in-process controller / Bumble's LocalLink, LE only: Bumble's
LocalLink has no BR/EDR security) -- and each stack, in a fresh interpreter with a fresh
controller server:

* bring-up: opening the transport until the host is ready (bluetrio ``open_stack(...,
  bring_up=True)``, Bumble ``Device.power_on()``), dual mode;
* LE connect: from the connect call until it returns a link, the peer advertising; then LE
  disconnect until the link is down on the initiator;
* BR/EDR connect + SSP + encryption: connect to a connectable peer, pair (Just Works, no bond
  yet) and encrypt, until the initiator's link is encrypted.

Times are medians over ``--rounds``; commands are those both hosts wrote during the
procedure (median), counted on their transports.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import trio
from support import (
    bumble_devices,
    controller_process,
    count_bumble_commands,
    fmt,
    print_table,
    ratio,
    run_worker,
    summary_json,
)

PROCEDURES = ("bring-up", "LE connect", "LE disconnect", "BR/EDR connect+SSP+encrypt")


class Tally:
    """Per procedure: the times and command counts of each round."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}
        self.commands: dict[str, list[int]] = {}

    def add(self, procedure: str, seconds: float, commands: int) -> None:
        self.times.setdefault(procedure, []).append(seconds)
        self.commands.setdefault(procedure, []).append(commands)

    def result(self) -> dict[str, Any]:
        return {
            name: {
                "ms": statistics.median(self.times[name]) * 1000,
                "commands": statistics.median(self.commands[name]),
            }
            for name in self.times
        }


# Advertising every 20 ms, the least Vol 6 Part B 4.4.2.2 allows, on both stacks: an LE
# connect waits for the peer's next advertising event, which would otherwise be most of it.
ADVERTISING_INTERVAL_MS = 20


# -- bluetrio ----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fast_advertising(stack: Any) -> AsyncIterator[None]:
    from bluetrio.messages.btm import AdvertiseReq, AdvertiseStopReq, AdvertisingParameters

    units = round(ADVERTISING_INTERVAL_MS / 0.625)
    parameters = AdvertisingParameters(interval_min=units, interval_max=units)
    await stack._btm_checked(AdvertiseReq(stack.runtime.new_token(), parameters), "advertise")
    try:
        yield
    finally:
        await stack._btm_checked(AdvertiseStopReq(stack.runtime.new_token()), "stop")


def bluetrio_worker(args: argparse.Namespace) -> dict[str, Any]:
    from bluetrio.messages.btm import LinkTransport
    from bluetrio.pairing import PairingDelegate
    from bluetrio.stack import open_stack
    from bluetrio.testing.command_counter import counted_transport

    tally = Tally()

    async def main() -> None:
        for _ in range(args.rounds):
            async with counted_transport(args.spec) as transport:
                start = time.perf_counter()
                async with open_stack(transport, bring_up=True):
                    tally.add("bring-up", time.perf_counter() - start, len(transport.opcodes))
        for _ in range(args.rounds):
            async with (
                counted_transport(args.spec) as ta,
                counted_transport(args.spec) as tb,
                open_stack(ta, bring_up=True) as a,
                open_stack(tb, bring_up=True) as b,
            ):
                b_address = (await b.ready()).address
                async with fast_advertising(b):
                    before = len(ta.opcodes) + len(tb.opcodes)
                    start = time.perf_counter()
                    link = await a.open_link(b_address, timeout=10)
                    connected = time.perf_counter()
                    middle = len(ta.opcodes) + len(tb.opcodes)
                    await link.disconnect()
                    done = time.perf_counter()
                    after = len(ta.opcodes) + len(tb.opcodes)
                tally.add("LE connect", connected - start, middle - before)
                tally.add("LE disconnect", done - connected, after - middle)
        if args.controller == "local" and args.skip_local_bredr:
            return
        for _ in range(args.rounds):
            async with (
                counted_transport(args.spec) as ta,
                counted_transport(args.spec) as tb,
                open_stack(ta, bring_up=True, pairing_delegate=PairingDelegate()) as a,
                open_stack(
                    tb, bring_up=True, pairing_delegate=PairingDelegate(), pairable=True
                ) as b,
            ):
                b_address = (await b.ready()).address
                await b.set_discoverable(True)
                before = len(ta.opcodes) + len(tb.opcodes)
                start = time.perf_counter()
                link = await a.open_link(b_address, transport=LinkTransport.BR_EDR, timeout=10)
                await link.pair()
                done = time.perf_counter()
                tally.add(
                    "BR/EDR connect+SSP+encrypt",
                    done - start,
                    len(ta.opcodes) + len(tb.opcodes) - before,
                )
                await link.disconnect()

    trio.run(main)
    return tally.result()


# -- Bumble ------------------------------------------------------------------------------


def bumble_worker(args: argparse.Namespace) -> dict[str, Any]:
    from bumble.core import BT_BR_EDR_TRANSPORT

    tally = Tally()

    async def main() -> None:
        for _ in range(args.rounds):
            async with bumble_devices(args.spec, 1, classic=True, power_on=False) as [device]:
                opcodes = count_bumble_commands(device)
                start = time.perf_counter()
                await device.power_on()
                tally.add("bring-up", time.perf_counter() - start, len(opcodes))
        for _ in range(args.rounds):
            async with bumble_devices(args.spec, 2, power_on=False) as (a, b):
                counted = [count_bumble_commands(a), count_bumble_commands(b)]
                await a.power_on()
                await b.power_on()
                await b.start_advertising(
                    auto_restart=False,
                    advertising_interval_min=ADVERTISING_INTERVAL_MS,
                    advertising_interval_max=ADVERTISING_INTERVAL_MS,
                )

                before = sum(map(len, counted))
                start = time.perf_counter()
                connection = await a.connect(b.random_address)
                connected = time.perf_counter()
                middle = sum(map(len, counted))
                await connection.disconnect()
                done = time.perf_counter()
                tally.add("LE connect", connected - start, middle - before)
                tally.add("LE disconnect", done - connected, sum(map(len, counted)) - middle)
        if args.spec is None:
            return  # LocalLink: no BR/EDR pairing in Bumble's controller
        for _ in range(args.rounds):
            async with bumble_devices(args.spec, 2, classic=True, power_on=False) as (a, b):
                counted = [count_bumble_commands(a), count_bumble_commands(b)]
                await a.power_on()
                await b.power_on()
                await b.set_discoverable(True)
                await b.set_connectable(True)
                before = sum(map(len, counted))
                start = time.perf_counter()
                connection = await a.connect(b.public_address, transport=BT_BR_EDR_TRANSPORT)
                await connection.authenticate()
                await connection.encrypt()
                done = time.perf_counter()
                tally.add(
                    "BR/EDR connect+SSP+encrypt", done - start, sum(map(len, counted)) - before
                )
                await connection.disconnect()

    asyncio.run(main())
    return tally.result()


def compare_stacks(
    script: Path, args: argparse.Namespace, procedures: Sequence[str]
) -> list[list[str]]:
    """Run ``script``'s workers, each stack on each of ``args.controllers`` in a fresh
    interpreter with a fresh controller server; one table row per controller and procedure:
    controller, procedure, ms (bluetrio / Bumble), time ratio, HCI commands."""
    rows = []
    for controller in args.controllers:
        results: dict[str, dict[str, Any]] = {}
        for stack in ("bluetrio", "bumble"):
            with controller_process(controller) as (spec, _pid):
                arguments = ["--worker", stack, "--controller", controller, "--rounds",
                             str(args.rounds)]  # fmt: skip
                if spec:
                    arguments += ["--spec", spec]
                results[stack] = run_worker(script, arguments)
            if "error" in results[stack]:
                print(f"{controller}/{stack}: {results[stack]['error']}", file=sys.stderr)
        ours, theirs = results["bluetrio"], results["bumble"]
        for procedure in procedures:
            mine: dict[str, Any] = ours.get(procedure, {})
            other: dict[str, Any] = theirs.get(procedure, {})
            if not mine and not other:
                continue
            rows.append(
                [
                    controller,
                    procedure,
                    f"{fmt(mine.get('ms'))} / {fmt(other.get('ms'))}",
                    ratio(mine.get("ms"), other.get("ms")),
                    f"{fmt(mine.get('commands'), 0)} / {fmt(other.get('commands'), 0)}",
                ]
            )
    return rows


def main_run(args: argparse.Namespace) -> None:
    rows = compare_stacks(Path(__file__), args, PROCEDURES)
    print(
        f"median of {args.rounds} rounds; cells are bluetrio / Bumble (time ratio: lower is faster)"
    )
    print_table(["controller", "procedure", "ms", "time ratio", "HCI commands"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--controllers", nargs="+", choices=("local", "served", "rootcanal"),
        default=["local", "served", "rootcanal"],
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--worker", choices=("bluetrio", "bumble"), dest="stack", help=argparse.SUPPRESS
    )
    parser.add_argument("--controller", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.skip_local_bredr = True  # Bumble cannot do it on LocalLink: keep the table like for like
    if args.stack:
        run: Callable[[argparse.Namespace], dict[str, Any]] = (
            bluetrio_worker if args.stack == "bluetrio" else bumble_worker
        )
        summary_json(run(args))
    else:
        main_run(args)


if __name__ == "__main__":
    main()
