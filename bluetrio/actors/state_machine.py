"""Moving through a transition table: the one way a layer's state machine changes state.

A layer's ``states.py`` declares its states and events as enums and its moves as a table
from ``(state, event)`` to the next state; its control blocks move only through
:func:`transition`, which refuses whatever the table does not list.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TypeVar

from bluetrio.errors import StateTransitionError

S = TypeVar("S", bound=enum.Enum)
E = TypeVar("E", bound=enum.Enum)


def allowed(table: Mapping[tuple[S, E], S], state: S, event: E) -> bool:
    return (state, event) in table


def transition(table: Mapping[tuple[S, E], S], state: S, event: E) -> S:
    """The state after ``event`` in ``state``; :class:`StateTransitionError` if not allowed."""
    try:
        return table[state, event]
    except KeyError:
        raise StateTransitionError(state, event) from None
