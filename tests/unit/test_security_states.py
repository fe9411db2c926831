"""The security transition tables of btm/states.py, enumerated: every (state, event) pair the
table lists is taken, every other one is refused with a typed protocol error."""

from __future__ import annotations

import enum
import itertools
from collections.abc import Mapping

import pytest

from bluetrio.actors.btm.security_records import LinkRecord, Pairing
from bluetrio.actors.btm.states import (
    LINK_PROCEDURE_STATES,
    LINK_TRANSITIONS,
    PAIRING_TRANSITIONS,
    LinkSecurityEvent,
    LinkSecurityState,
    PairingEvent,
    PairingState,
)
from bluetrio.actors.state_machine import allowed, transition
from bluetrio.address import Address
from bluetrio.errors import ProtocolError, StateTransitionError

TABLES: list[tuple[str, Mapping[tuple[enum.Enum, enum.Enum], enum.Enum], type, type]] = [
    ("link", LINK_TRANSITIONS, LinkSecurityState, LinkSecurityEvent),  # type: ignore[list-item]
    ("pairing", PAIRING_TRANSITIONS, PairingState, PairingEvent),  # type: ignore[list-item]
]


def every_pair(states: type[enum.Enum], events: type[enum.Enum]) -> list[tuple[enum.Enum, ...]]:
    return list(itertools.product(states, events))


LINK_PAIRS = every_pair(LinkSecurityState, LinkSecurityEvent)
PAIRING_PAIRS = every_pair(PairingState, PairingEvent)


@pytest.mark.parametrize(("state", "event"), LINK_PAIRS)
def test_link_table_is_the_only_way_to_move(
    state: LinkSecurityState, event: LinkSecurityEvent
) -> None:
    record = LinkRecord(0x0001, Address.parse("00:00:00:00:00:02"), state=state)
    expected = LINK_TRANSITIONS.get((state, event))
    assert allowed(LINK_TRANSITIONS, state, event) is (expected is not None)
    if expected is None:
        with pytest.raises(StateTransitionError) as refused:
            record._transition(event)
        assert (refused.value.state, refused.value.event) == (state, event)
        assert isinstance(refused.value, ProtocolError)
        assert record.state is state  # a refused event changes nothing
    else:
        record._transition(event)
        assert record.state is expected


@pytest.mark.parametrize(("state", "event"), PAIRING_PAIRS)
def test_pairing_table_is_the_only_way_to_move(state: PairingState, event: PairingEvent) -> None:
    pairing = Pairing(state=state)
    expected = PAIRING_TRANSITIONS.get((state, event))
    assert pairing.can(event) is (expected is not None)
    if expected is None:
        with pytest.raises(StateTransitionError):
            pairing._transition(event)
        assert pairing.state is state
    else:
        pairing._transition(event)
        assert pairing.state is expected


@pytest.mark.parametrize(("name", "table", "states", "events"), TABLES)
def test_every_state_is_reachable_and_every_event_used(
    name: str,
    table: Mapping[tuple[enum.Enum, enum.Enum], enum.Enum],
    states: type[enum.Enum],
    events: type[enum.Enum],
) -> None:
    initial = next(iter(states))
    reached = {initial}
    frontier = [initial]
    while frontier:
        state = frontier.pop()
        for (source, _event), target in table.items():
            if source is state and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(states), f"{name}: unreachable {set(states) - reached}"
    assert {event for _state, event in table} == set(events)
    for (_state, event), target in table.items():
        assert transition(table, _state, event) is target


def test_closing_is_final_and_every_live_state_can_be_refused() -> None:
    closing = LinkSecurityState.CLOSING
    assert not any(state is closing for state, _event in LINK_TRANSITIONS)
    for state in LinkSecurityState:
        if state is not closing:
            assert LINK_TRANSITIONS[state, LinkSecurityEvent.REJECTED] is closing


def test_every_procedure_state_ends_when_encryption_goes_off() -> None:
    for state in LINK_PROCEDURE_STATES:
        off = LINK_TRANSITIONS[state, LinkSecurityEvent.ENCRYPTION_OFF]
        assert off is LinkSecurityState.UNSECURED


def test_every_pairing_step_may_fail_back_to_idle() -> None:
    for state in PairingState:
        assert PAIRING_TRANSITIONS[state, PairingEvent.PAIRING_FAILED] is PairingState.IDLE
