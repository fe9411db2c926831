"""``bluetrio trace``: convert a recorded message trace (JSON Lines) for people and tools.

bluetrio trace stack.jsonl --format perfetto -o stack.json   # open in ui.perfetto.dev
bluetrio trace stack.jsonl --format mermaid --limit 50       # paste into Markdown
bluetrio trace stack.jsonl                                   # aligned text on stdout
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from bluetrio.errors import InvalidArgumentError
from bluetrio.tracing.exporters import (
    DEFAULT_MERMAID_LIMIT,
    load_jsonl,
    to_mermaid,
    to_perfetto,
    to_text,
    write_jsonl,
)
from bluetrio.tracing.recorder import TraceEvent


def _perfetto(events: Sequence[TraceEvent], args: argparse.Namespace) -> str:
    return json.dumps(to_perfetto(events), ensure_ascii=False) + "\n"


def _mermaid(events: Sequence[TraceEvent], args: argparse.Namespace) -> str:
    limit: int = args.limit
    return to_mermaid(events, limit=limit)


def _text(events: Sequence[TraceEvent], args: argparse.Namespace) -> str:
    return to_text(events)


def _jsonl(events: Sequence[TraceEvent], args: argparse.Namespace) -> str:
    buffer = io.StringIO()
    write_jsonl(events, buffer)
    return buffer.getvalue()


_FORMATTERS: dict[str, Callable[[Sequence[TraceEvent], argparse.Namespace], str]] = {
    "perfetto": _perfetto,
    "mermaid": _mermaid,
    "text": _text,
    "jsonl": _jsonl,
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "trace",
        help="convert a recorded message trace",
        description="Convert a message trace recorded as JSON Lines (open_stack(trace=...)).",
    )
    parser.add_argument("file", help="the recorded trace (.jsonl)")
    parser.add_argument(
        "--format",
        choices=tuple(_FORMATTERS),
        default="text",
        help="perfetto: Chrome/Perfetto JSON; mermaid: sequence diagram; text: one line per "
        "message; jsonl: checked copy (default: text)",
    )
    parser.add_argument("-o", "--output", help="write here instead of standard output")
    parser.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_MERMAID_LIMIT,
        help=f"most messages in a Mermaid diagram (default: {DEFAULT_MERMAID_LIMIT})",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    events = load_jsonl(args.file)
    output = _FORMATTERS[args.format](events, args)
    if args.output is None:
        sys.stdout.write(output)
        return 0
    try:
        with open(args.output, "w", encoding="utf-8") as file:
            file.write(output)
    except OSError as exc:
        raise InvalidArgumentError(f"cannot write {args.output}: {exc.strerror}") from None
    return 0
