"""Entry point of the ``bluetrio`` command.

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds a parser
whose ``handler`` default is a function ``(args) -> int`` returning the exit status. An error
the user can do something about is one line on standard error and exit status 1; Ctrl-C ends
the command quietly, after the stack has closed, with status 130.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from collections.abc import Sequence

from bluetrio.actors.runtime import raise_single_error
from bluetrio.cli import chat, controller, gatt_dump, info, pair, scan, serve, trace
from bluetrio.errors import BluetrioError

EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell expects of a program ended by Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader went away (``bluetrio scan ... | head``)

# In the order a new user needs them: the chat (the main job), look at the controller, find
# devices, connect and pair, read a device's GATT database, be the other device; then the
# tools (a controller to run against, traces to read).
_SUBCOMMANDS = (chat, info, scan, pair, gatt_dump, serve, controller, trace)


def version() -> str:
    try:
        return importlib.metadata.version("bluetrio")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bluetrio", description="A Bluetooth host stack for Trio, and its tools."
    )
    parser.add_argument("--version", action="version", version=f"bluetrio {version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _SUBCOMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        try:
            status: int = args.handler(args)
        except BaseExceptionGroup as group:
            raise_single_error(group)  # what really happened inside, bare
            raise
    except BrokenPipeError:
        # Nobody reads our output any more: stop quietly, and keep Python's final flush of
        # standard output from failing again on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except BluetrioError as exc:
        print(f"bluetrio {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        # Every async with has unwound by now: the stack is closed.
        return EXIT_INTERRUPTED
    return status


if __name__ == "__main__":
    sys.exit(main())
