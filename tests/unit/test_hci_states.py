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


def test_the_hci_core_takes_every_move_of_the_command_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bluetrio.actors.effects import StartTimer, TimerExpired
    from bluetrio.actors.hci import core as hci_core
    from bluetrio.messages import hci
    from bluetrio.messages.hci_service import HciCommandReq, TransportPacketInd
    from bluetrio.messages.packets import PacketType

    taken: set[tuple[CommandState, CommandEvent]] = set()

    def recording(table: object, state: CommandState, event: CommandEvent) -> CommandState:
        taken.add((state, event))
        return transition(COMMAND_TRANSITIONS, state, event)

    monkeypatch.setattr(hci_core, "transition", recording)
    core = hci_core.HciCore()

    def ask(token: int) -> StartTimer:
        effects = core.handle("btm", HciCommandReq(token, hci.ReadBdAddr()), 0.0)
        [timer] = [e for e in effects if isinstance(e, StartTimer)]
        return timer

    def answer(credits: int) -> None:
        complete = hci.CommandComplete(credits, hci.ReadBdAddr.OPCODE, bytes(7))
        core.handle("hci", TransportPacketInd(PacketType.EVENT, complete.to_bytes()), 0.0)

    ask(1)
    answer(credits=0)  # sent, answered; the controller withholds further credits
    queued = ask(2)
    core.handle("hci", TimerExpired(queued.key), 2.0)  # never sent
    answer(credits=1)  # a credit comes back
    sent = ask(3)
    core.handle("hci", TimerExpired(sent.key), 4.0)  # sent, never answered
    assert taken == set(COMMAND_TRANSITIONS)
