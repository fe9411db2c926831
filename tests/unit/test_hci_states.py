"""The HCI command flow table, enumerated: every listed move is taken, every other refused."""

from __future__ import annotations

import itertools

import pytest

from bluetrio.actors.hci.states import COMMAND_TRANSITIONS, CommandEvent, CommandState
from bluetrio.actors.state_machine import allowed, transition
from bluetrio.errors import StateTransitionError


@pytest.mark.parametrize(("state", "event"), list(itertools.product(CommandState, CommandEvent)))
def test_command_table_is_the_only_way_to_move(state: CommandState, event: CommandEvent) -> None:
    expected = COMMAND_TRANSITIONS.get((state, event))
    assert allowed(COMMAND_TRANSITIONS, state, event) is (expected is not None)
    if expected is None:
        with pytest.raises(StateTransitionError) as refused:
            transition(COMMAND_TRANSITIONS, state, event)
        assert (refused.value.state, refused.value.event) == (state, event)
    else:
        assert transition(COMMAND_TRANSITIONS, state, event) is expected


def test_answered_and_timed_out_are_final_and_every_command_can_time_out() -> None:
    final = {CommandState.ANSWERED, CommandState.TIMED_OUT}
    assert not any(state in final for state, _event in COMMAND_TRANSITIONS)
    for state in set(CommandState) - final:
        assert COMMAND_TRANSITIONS[state, CommandEvent.DEADLINE_PASSED] is CommandState.TIMED_OUT
