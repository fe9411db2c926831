"""The whole-stack fuzzer, quick profile: a few thousand seeded cases of a stack against a
virtual controller behind an evil controller (mutated, dropped, duplicated and injected HCI
packets both ways; a noisy H4 line), each under MockClock. After every case the stack must
have kept serving or ended with a typed error, closed in time, left no task behind and kept
its memory bounded. The long profile is ``bench/fuzz_stack.py``.
"""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from bluetrio.messages.packets import PacketType
from bluetrio.stack import Stack
from bluetrio.testing import (
    EvilController,
    MutationRates,
    Verdict,
    bringup_scenario,
    default_scenario,
    fuzz_case,
    run_fuzz,
)
from bluetrio.testing.fuzz import Scenario

# Hotter than the defaults, so that few cases reach many faults.
HOT = MutationRates(drop=0.05, duplicate=0.05, mutate=0.25, inject=0.15)
CHUNK = 100


@pytest.fixture(autouse=True)
def quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    # Thousands of cases log tens of thousands of warnings by design.
    caplog.set_level(logging.CRITICAL)


@pytest.mark.parametrize(
    ("scenario", "first_seed", "line_noise"),
    [
        *[(bringup_scenario, n * CHUNK, 0.0) for n in range(14)],
        *[(default_scenario, 10_000 + n * CHUNK, 0.0) for n in range(5)],
        *[(default_scenario, 20_000 + n * CHUNK, 0.05) for n in range(2)],
    ],
)
def test_the_stack_survives_an_evil_controller(
    scenario: Scenario, first_seed: int, line_noise: float
) -> None:
    seeds = range(first_seed, first_seed + CHUNK)
    report = run_fuzz(seeds, scenario=scenario, rates=HOT, line_noise=line_noise)
    assert report.findings == [], report.summary()
    assert report.stats.touched > CHUNK  # the faults did happen


async def test_an_untyped_exception_is_a_crash(autojump_clock: trio.testing.MockClock) -> None:
    async def broken(stack: Stack, peer: Stack) -> None:
        raise KeyError("a bug in the application")

    outcome = await fuzz_case(1, scenario=broken)
    assert outcome.verdict is Verdict.CRASH and "KeyError" in outcome.detail


async def test_a_task_left_running_is_a_leak(autojump_clock: trio.testing.MockClock) -> None:
    async def leaky(stack: Stack, peer: Stack) -> None:
        trio.lowlevel.spawn_system_task(trio.sleep_forever)

    outcome = await fuzz_case(1, scenario=leaky)
    assert outcome.verdict is Verdict.LEAK and "task" in outcome.detail


async def test_memory_past_the_limit_is_a_leak(autojump_clock: trio.testing.MockClock) -> None:
    outcome = await fuzz_case(1, scenario=bringup_scenario, memory_limit=1)
    assert outcome.verdict is Verdict.LEAK and "bytes" in outcome.detail


def test_a_case_replays_from_its_seed() -> None:
    def faults(seed: int) -> list[str]:
        evil = EvilController(seed, HOT)
        packet = (PacketType.EVENT, bytes.fromhex("0e0401030c00"))
        for _ in range(200):
            evil.on_controller_to_host(packet)
        return evil.log

    assert faults(5) == faults(5) != faults(6)
