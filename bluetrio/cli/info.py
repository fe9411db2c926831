"""``bluetrio info -t SPEC``: reset the controller and describe it."""

from __future__ import annotations

import argparse
from typing import Any

import trio

from bluetrio.actors.btm.controller_info import read_controller_info
from bluetrio.cli.common import add_stack_arguments, stack_options
from bluetrio.stack import open_stack


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "info", help="reset a controller and print what it supports"
    )
    add_stack_arguments(parser)
    parser.set_defaults(handler=run)


async def _info(spec: str, options: dict[str, Any]) -> list[str]:
    async with open_stack(spec, **options) as stack:
        if options["address"] is not None:
            # Bring-up writes the address before it reads the controller back.
            return (await stack.ready()).describe()
        info = await read_controller_info(stack.command)
    return info.describe()


def run(args: argparse.Namespace) -> int:
    for line in trio.run(_info, args.transport, stack_options(args)):
        print(line)
    return 0
