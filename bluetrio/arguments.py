"""Checks of the arguments the application passes to the public API.

Every public method checks its arguments here, in the caller's task, before anything is sent
to an actor: a bad argument raises :class:`~bluetrio.errors.InvalidArgumentError` naming the
argument, and never reaches (or stops) the stack.
"""

from __future__ import annotations

import math
from typing import TypeVar

from bluetrio.address import Address
from bluetrio.errors import InvalidArgumentError

T = TypeVar("T")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def seconds(name: str, value: object, *, maximum: float = math.inf) -> float:
    """A positive, finite duration in seconds (at most ``maximum``)."""
    if not _is_number(value):
        raise InvalidArgumentError(f"{name} must be a number of seconds, got {value!r}")
    assert isinstance(value, int | float)
    if not (math.isfinite(value) and 0 < value <= maximum):
        bound = "" if maximum == math.inf else f" and at most {maximum:g}"
        raise InvalidArgumentError(f"{name} must be positive{bound} seconds, got {value!r}")
    return float(value)


def optional_seconds(name: str, value: object, *, maximum: float = math.inf) -> float | None:
    return None if value is None else seconds(name, value, maximum=maximum)


def integer(name: str, value: object, minimum: int, maximum: int) -> int:
    """An ``int`` (not a bool) in ``minimum..maximum``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be an integer, got {value!r}")
    if not minimum <= value <= maximum:
        raise InvalidArgumentError(f"{name} must be {minimum}..{maximum}, got {value!r}")
    return value


def flag(name: str, value: object) -> bool:
    """A ``bool``: ``'yes'`` or ``1`` are refused, since a truthy string is no answer."""
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be True or False, got {value!r}")
    return value


def instance(name: str, value: object, kind: type[T]) -> T:
    """An instance of ``kind`` (a class given instead of an instance is named as such)."""
    if isinstance(value, kind):
        return value
    if isinstance(value, type) and issubclass(value, kind):
        raise InvalidArgumentError(
            f"{name} must be an instance of {kind.__name__}, got the class {value.__name__}; "
            f"call it: {value.__name__}(...)"
        )
    raise InvalidArgumentError(f"{name} must be a {kind.__name__}, got {value!r}")


def optional_instance(name: str, value: object, kind: type[T]) -> T | None:
    return None if value is None else instance(name, value, kind)


def address(name: str, value: object) -> Address:
    """An :class:`Address`, or its text form ``"AA:BB:CC:DD:EE:FF"`` (``/P`` or ``/R``)."""
    if isinstance(value, Address):
        return value
    if isinstance(value, str):
        return Address.parse(value)
    raise InvalidArgumentError(
        f"{name} must be an Address or a string like 00:11:22:33:44:55, got {value!r}"
    )
