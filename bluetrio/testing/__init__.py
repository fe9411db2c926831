"""Test applications built on bluetrio the way bluetrio tests itself.

* A pair of stacks on one virtual air, under a clock that skips every wait:
  :func:`open_stack_pair`, :func:`open_virtual_stack`, :func:`mock_clock`.
* Fault injection: :class:`FaultPolicy` (between actors and on the host's transport, with
  the packet predicates of :mod:`bluetrio.testing.packets`) and :class:`AirFaults` (the
  virtual radio: ``stack_air.faults.drop(...)``).
* The whole-stack fuzzer: an :class:`EvilController` between a stack and its controller
  mutates, drops, duplicates and injects HCI packets (and a noisy H4 line corrupts bytes);
  :func:`fuzz_case` runs one seeded case of a scenario (yours, or :func:`default_scenario`)
  and says whether the stack kept serving, ended with a typed error, or crashed, hung or
  leaked; :func:`run_fuzz` runs many.
* Counting the HCI commands a procedure costs: :func:`counted_transport` wraps a transport in
  a :class:`CommandCounter`.

Example (pytest with pytest-trio, whose ``autojump_clock`` fixture is a MockClock)::

    from bluetrio.testing import fuzz_case, open_stack_pair

    async def test_reconnects(autojump_clock):
        async with open_stack_pair() as (central, peripheral):
            ...

    @pytest.mark.parametrize("seed", range(200))
    async def test_my_app_survives_a_hostile_controller(autojump_clock, seed):
        outcome = await fuzz_case(seed, scenario=my_app_scenario)
        assert outcome.ok, outcome.report()
"""

from bluetrio.actors.faults import FaultPolicy, Hop
from bluetrio.controller.air import AirFaults
from bluetrio.testing.command_counter import CommandCounter, counted_transport
from bluetrio.testing.fuzz import (
    CaseOutcome,
    FuzzReport,
    Scenario,
    Verdict,
    bringup_scenario,
    default_scenario,
    fuzz_case,
    open_fuzzed_stack,
    run_fuzz,
)
from bluetrio.testing.mutator import (
    CorruptingStream,
    EvilController,
    MutationRates,
    MutationStats,
    noisy_line,
)
from bluetrio.testing.packets import (
    command_complete_for,
    command_status_for,
    event_with_code,
    with_command_credits,
    with_completion_status,
)
from bluetrio.testing.pair import mock_clock, open_stack_pair, open_virtual_stack

__all__ = [
    "AirFaults",
    "CaseOutcome",
    "CommandCounter",
    "CorruptingStream",
    "EvilController",
    "FaultPolicy",
    "FuzzReport",
    "Hop",
    "MutationRates",
    "MutationStats",
    "Scenario",
    "Verdict",
    "bringup_scenario",
    "command_complete_for",
    "command_status_for",
    "counted_transport",
    "default_scenario",
    "event_with_code",
    "fuzz_case",
    "mock_clock",
    "noisy_line",
    "open_fuzzed_stack",
    "open_stack_pair",
    "open_virtual_stack",
    "run_fuzz",
    "with_command_credits",
    "with_completion_status",
]
