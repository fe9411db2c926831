"""``bluetrio controller``: serve virtual controllers over H4 on a socket."""

from __future__ import annotations

import argparse
from typing import Any

import trio

from bluetrio.cli.common import address_argument
from bluetrio.controller.air import Air
from bluetrio.controller.config import TimingModel
from bluetrio.controller.server import serve_controllers
from bluetrio.transports.socket import LISTEN_KINDS
from bluetrio.transports.spec import parse_transport_spec

TIMINGS = {"instant": TimingModel.instant, "realistic": TimingModel.realistic}


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "controller",
        help="serve virtual controllers (one per client, one shared air) over H4",
        description=(
            "Listen for HCI hosts speaking H4; every client that connects gets its own "
            "virtual controller, and all of them share one air. A host that wants the same "
            "address in every run gives it itself (--address on the host's command, or "
            "open_stack(address=...)): these controllers take the vendor Write_BD_ADDR command."
        ),
    )
    parser.add_argument(
        "--listen", required=True, metavar="SPEC", help="unix:PATH or tcp:HOST:PORT"
    )
    parser.add_argument(
        "--address",
        type=address_argument,
        default=None,
        metavar="BD_ADDR",
        help="public BD_ADDR of the first client's controller (others are assigned)",
    )
    parser.add_argument(
        "--timing", choices=sorted(TIMINGS), default="instant", help="air timing model"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Parsed before the Trio run, so a bad spec is reported as a plain error.
    parse_transport_spec(args.listen, kinds=LISTEN_KINDS)
    air = Air(TIMINGS[args.timing](), name="cli")

    async def main() -> None:
        async def announce(task_status: trio.TaskStatus[object]) -> None:
            await serve_controllers(
                args.listen, air, first_address=args.address, task_status=task_status
            )

        async with trio.open_nursery() as nursery:
            bound = await nursery.start(announce)
            print(f"bluetrio controller: listening on {bound}", flush=True)

    trio.run(main)
    return 0
