"""The SMP phase tables (Core 5.4 Vol 3 Part H 2.3, 3.3-3.6), enumerated."""

from __future__ import annotations

from bluetrio.actors.smp.states import ALLOWED, TRANSITIONS, Phase, PhaseEvent
from bluetrio.messages.btm import Role
from bluetrio.messages.smp import SmpCode


def test_every_phase_has_an_allowed_set_for_both_roles() -> None:
    assert set(ALLOWED) == {(role, phase) for role in Role for phase in Phase}


def test_every_phase_is_reachable_from_idle_and_can_end() -> None:
    reachable = {Phase.IDLE}
    frontier = [Phase.IDLE]
    while frontier:
        phase = frontier.pop()
        for (source, _), target in TRANSITIONS.items():
            if source is phase and target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(Phase)
    for phase in Phase:
        if phase is not Phase.TIMED_OUT:
            assert TRANSITIONS[phase, PhaseEvent.ENDED] is Phase.IDLE
            assert TRANSITIONS[phase, PhaseEvent.TIMEOUT] is Phase.TIMED_OUT


def test_nothing_leaves_the_timed_out_phase_and_nothing_is_received_in_it() -> None:
    # 3.4: after the timeout no SMP runs until a new link.
    assert not [key for key in TRANSITIONS if key[0] is Phase.TIMED_OUT]
    assert ALLOWED[Role.CENTRAL, Phase.TIMED_OUT] == ALLOWED[Role.PERIPHERAL, Phase.TIMED_OUT]
    assert ALLOWED[Role.CENTRAL, Phase.TIMED_OUT] == frozenset()


def test_requests_only_reach_the_role_that_answers_them() -> None:
    for phase in Phase:
        assert SmpCode.PAIRING_REQUEST not in ALLOWED[Role.CENTRAL, phase]
        assert SmpCode.PAIRING_RESPONSE not in ALLOWED[Role.PERIPHERAL, phase]
        assert SmpCode.SECURITY_REQUEST not in ALLOWED[Role.PERIPHERAL, phase]


def test_keys_are_received_only_around_encryption() -> None:
    keys = {
        SmpCode.ENCRYPTION_INFORMATION,
        SmpCode.CENTRAL_IDENTIFICATION,
        SmpCode.IDENTITY_INFORMATION,
        SmpCode.IDENTITY_ADDRESS_INFORMATION,
        SmpCode.SIGNING_INFORMATION,
    }
    for (_, phase), codes in ALLOWED.items():
        if phase not in (Phase.ENCRYPTION, Phase.KEY_DISTRIBUTION):
            assert not keys & codes, phase


def test_a_pairing_failed_is_taken_in_every_phase_of_a_running_pairing() -> None:
    for (role, phase), codes in ALLOWED.items():
        # Encrypting with a bond is no pairing; neither is idle or timed out.
        if phase in (Phase.IDLE, Phase.TIMED_OUT, Phase.ENCRYPTING_WITH_BOND) or not codes:
            continue
        assert SmpCode.PAIRING_FAILED in codes, (role, phase)
