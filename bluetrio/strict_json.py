"""JSON read strictly, for the files bluetrio writes and reads back (bond stores, traces).

``json.loads`` accepts more than RFC 8259 JSON and more than those files hold: ``NaN`` and
``Infinity``, an object that repeats a key (the last one silently wins), integers of any
length (slow to convert, refused past ``sys.get_int_max_str_digits``), and nesting until it
runs out of stack (``RecursionError``). :func:`loads` refuses each with a ``ValueError`` that
says which, so a damaged file is one clear error.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

MAX_INTEGER_DIGITS = 20  # every integer those files hold fits in 64 bits


def loads(text: str | bytes) -> object:
    """Parse ``text``; raise ``ValueError`` (``json.JSONDecodeError`` for bad syntax) for
    anything but plain JSON within the limits above."""
    try:
        return json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_int=_bounded_integer,
            object_pairs_hook=_unique_keys,
        )
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _bounded_integer(digits: str) -> int:
    # Checked before conversion, which is slow for thousands of digits.
    count = len(digits.lstrip("-"))
    if count > MAX_INTEGER_DIGITS:
        raise ValueError(f"an integer of {count} digits")
    return int(digits)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        names = [name for name, _ in pairs]
        repeated = sorted({name for name in names if names.count(name) > 1})
        raise ValueError(f"repeated key(s) {', '.join(map(repr, repeated))} in one object")
    return document
