"""Whole-stack fuzzing: a stack talks to a virtual controller through an
:class:`~bluetrio.testing.mutator.EvilController`, runs a scenario, and must come out of it
either still serving or ended by a typed error, promptly, without leaking tasks and with its
memory bounded.

    async def my_app(stack: Stack, peer: Stack) -> None:
        ...                                   # what the application does with its stack

    outcome = await fuzz_case(seed, scenario=my_app)     # inside trio.run(clock=MockClock(...))
    assert outcome.ok, outcome.report()

    report = run_fuzz(range(1000))             # many cases, each in its own trio.run
    assert not report.findings, report.summary()

Each case runs under ``MockClock(autojump_threshold=0)``, so every timeout in the stack is
crossed in virtual time; a case that waits with no deadline at all cannot be stopped from
inside (a shielded wait without a deadline is such a defect) and is left to the caller's
wall-clock watchdog (``pytest-timeout``; the long runner in ``bench/`` runs cases in child
processes with ``faulthandler``).
"""

from __future__ import annotations

import contextlib
import enum
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from types import ModuleType
from typing import Any

import attrs
import trio
import trio.testing

from bluetrio.actors.runtime import leaf_exceptions
from bluetrio.controller import Air
from bluetrio.errors import BluetrioError, StackError, TransportError
from bluetrio.messages import hci
from bluetrio.messages.ad import AdvertisingData, LocalName
from bluetrio.messages.btm import LinkTransport
from bluetrio.pairing import PairingDelegate
from bluetrio.stack import Stack
from bluetrio.testing.mutator import (
    CorruptingStream,
    EvilController,
    MutationRates,
    MutationStats,
    noisy_line,
)
from bluetrio.testing.pair import open_virtual_stack

Scenario = Callable[[Stack, Stack], Awaitable[None]]

# Virtual seconds. A case's scenario is cut off at CASE_TIME; afterwards the stack must answer
# a command within SERVE_TIME and close within CLOSE_TIME (its cleanups are bounded).
CASE_TIME = 60.0
SERVE_TIME = 10.0
CLOSE_TIME = 15.0
# What the stack's actors may hold after a case, measured by :func:`retained_size`.
MEMORY_LIMIT = 8 * 1024 * 1024
COMMAND_TIMEOUT = 1.0  # shorter than the default so lost answers cost less virtual time


class Verdict(enum.Enum):
    SERVING = "kept serving"
    TYPED_ERROR = "ended with a typed error"
    CRASH = "crash"  # an untyped exception, or the stack stopped by an input
    HANG = "hang"  # did not answer, or did not close, in time
    LEAK = "leak"  # tasks left behind, or memory past the limit


@attrs.frozen
class CaseOutcome:
    seed: int
    verdict: Verdict
    detail: str = ""
    stats: MutationStats = attrs.field(factory=MutationStats)
    faults: tuple[str, ...] = ()  # the last faults injected before the finding

    @property
    def ok(self) -> bool:
        return self.verdict in (Verdict.SERVING, Verdict.TYPED_ERROR)

    def report(self) -> str:
        lines = [f"seed {self.seed}: {self.verdict.value}: {self.detail}"]
        lines += [f"  {fault}" for fault in self.faults[-16:]]
        return "\n".join(lines)


async def default_scenario(stack: Stack, peer: Stack) -> None:
    """What a typical application does: bring-up, LE scan, advertise-and-connect both ways,
    BR/EDR inquiry, remote name and paging. Typed errors end only the step they hit."""
    steps: list[Callable[[], Awaitable[object]]] = [
        stack.ready,
        lambda: _scan(stack, 1.0),
        lambda: _connect_le(stack, peer),
        lambda: _connect_le(peer, stack),
        lambda: stack.set_discoverable(True),
        lambda: _inquire(stack),
        lambda: _remote_name(stack, peer),
        lambda: _connect_bredr(stack, peer),
    ]
    for step in steps:
        with contextlib.suppress(BluetrioError):
            await step()


async def bringup_scenario(stack: Stack, peer: Stack) -> None:
    """Bring-up and a few raw commands: the cheapest case (the CI profile's most)."""
    with contextlib.suppress(BluetrioError):
        await stack.ready()
    for command in (hci.ReadBdAddr(), hci.ReadLocalVersionInformation(), hci.ReadBufferSize()):
        with contextlib.suppress(BluetrioError):
            await stack.command(command)


async def _scan(stack: Stack, seconds: float) -> None:
    async with stack.scan(duration=seconds) as reports:
        async for _report in reports:
            pass


async def _connect_le(central: Stack, peripheral: Stack) -> None:
    address = (await peripheral.ready()).address
    data = AdvertisingData([LocalName("fuzz")])
    async with peripheral.advertise(data), central.connect(address, timeout=2.0):
        await trio.sleep(0.5)


async def _inquire(stack: Stack) -> None:
    await stack.inquiry(1.28)


async def _remote_name(stack: Stack, peer: Stack) -> None:
    await stack.remote_name((await peer.ready()).address)


async def _connect_bredr(stack: Stack, peer: Stack) -> None:
    address = (await peer.ready()).address
    async with stack.connect(address, transport=LinkTransport.BR_EDR, timeout=3.0) as link:
        await link.pair()  # Secure Simple Pairing, Just Works (both delegates accept)
        await trio.sleep(0.5)


@contextlib.asynccontextmanager
async def open_fuzzed_stack(
    evil: EvilController, air: Air, *, line: CorruptingStream | None = None, **stack_options: Any
) -> AsyncIterator[Stack]:
    """A stack whose transport to a virtual controller on ``air`` passes through ``evil``
    (and, with ``line``, over a noisy H4 byte stream: see ``open_virtual_stack``)."""
    options = {
        "command_timeout": COMMAND_TIMEOUT,
        "pairable": True,
        "pairing_delegate": PairingDelegate(),
        **stack_options,
    }
    async with open_virtual_stack(air, tap=evil, line=line, **options) as stack:
        evil.handles = lambda: [link.handle for link in stack.links]
        evil.peers = lambda: [link.address for link in stack.links]
        yield stack


async def fuzz_case(
    seed: int,
    *,
    scenario: Scenario = default_scenario,
    rates: MutationRates | None = None,
    memory_limit: int = MEMORY_LIMIT,
    attack_bringup: bool | None = None,
    line_noise: float = 0.0,
) -> CaseOutcome:
    """One case: the fuzzed stack and a clean peer on a fresh air run ``scenario``; then the
    faults stop and the fuzzed stack must answer a command and close in time.

    ``attack_bringup``: whether the faults start before bring-up (a failed bring-up ends
    most scenarios early) or only once it is done; by default, every other seed.
    ``line_noise``: above zero, the stack talks H4 over a byte stream that corrupts this
    share of the controller's writes (stray, lost and flipped bytes).
    Run it under ``MockClock(autojump_threshold=0)``.
    """
    evil = EvilController(seed, rates)
    if attack_bringup is None:
        attack_bringup = seed % 2 == 0
    line = noisy_line(seed, line_noise) if line_noise > 0 else None
    tasks_before = count_tasks()
    verdict, detail = Verdict.SERVING, ""
    try:
        verdict, detail = await _run_case(evil, scenario, memory_limit, attack_bringup, line)
    except Exception as error:  # classified below; anything untyped is a finding
        verdict, detail = _classify(error)
    if line is not None:
        evil.stats.line_corruptions = line.corrupted_writes
    leaked = count_tasks() - tasks_before
    if leaked > 0 and verdict is not Verdict.HANG:
        verdict, detail = Verdict.LEAK, f"{leaked} task(s) left running; {detail}"
    faults = tuple(evil.log) if verdict in (Verdict.CRASH, Verdict.HANG, Verdict.LEAK) else ()
    return CaseOutcome(seed, verdict, detail, evil.stats, faults)


def _classify(error: Exception) -> tuple[Verdict, str]:
    """The verdict on what ended a case (the harness's nurseries may wrap it in groups)."""
    leaves = leaf_exceptions(error)
    stopped = [leaf for leaf in leaves if isinstance(leaf, StackError)]
    if stopped:
        # The stack stopped: an input reached no single connection and ended everything.
        return Verdict.CRASH, f"the stack stopped: {stopped[0].reason}"[:500]
    untyped = [leaf for leaf in leaves if not isinstance(leaf, BluetrioError | trio.Cancelled)]
    if untyped:
        return Verdict.CRASH, f"{type(untyped[0]).__name__}: {untyped[0]!r}"[:500]
    first = leaves[0]
    if isinstance(first, TransportError):
        return Verdict.TYPED_ERROR, f"transport ended: {first}"
    return Verdict.TYPED_ERROR, f"{type(first).__name__}: {first}"


async def _run_case(
    evil: EvilController,
    scenario: Scenario,
    memory_limit: int,
    attack_bringup: bool,
    line: CorruptingStream | None,
) -> tuple[Verdict, str]:
    air = Air()
    outcome: tuple[Verdict, str] = (Verdict.SERVING, "")
    # Cancel scopes nest, so the closing deadline is a scope around both stacks whose
    # deadline is set once they are to close.
    with trio.CancelScope() as closing:
        async with (
            open_fuzzed_stack(evil, air, line=line) as stack,
            open_fuzzed_stack(_clean(), air) as peer,
        ):
            with trio.move_on_after(CASE_TIME):
                if not attack_bringup:
                    _attack(evil, line, False)
                    with contextlib.suppress(BluetrioError):
                        await stack.ready()
                    _attack(evil, line, True)
                await scenario(stack, peer)
            _attack(evil, line, False)
            outcome = await _check_serving(stack)
            size = retained_size(stack)
            if size > memory_limit:
                outcome = (Verdict.LEAK, f"the stack's actors hold {size} bytes")
            closing.deadline = trio.current_time() + CLOSE_TIME
    if closing.cancelled_caught:
        return Verdict.HANG, f"the stacks did not close within {CLOSE_TIME:g} s"
    return outcome


def _attack(evil: EvilController, line: CorruptingStream | None, enabled: bool) -> None:
    evil.enabled = enabled
    if line is not None:
        line.enabled = enabled


def _clean() -> EvilController:
    return EvilController(0, MutationRates(0, 0, 0, 0, to_controller=False))


async def _check_serving(stack: Stack) -> tuple[Verdict, str]:
    """The stack answers a fresh command, or says (typed) why it cannot."""
    try:
        with trio.fail_after(SERVE_TIME):
            # Its own timeout covers the commands still ahead of it, lost ones included.
            await stack.command(hci.ReadBdAddr(), timeout=SERVE_TIME / 2)
    except trio.TooSlowError:
        return Verdict.HANG, f"HCI_Read_BD_ADDR unanswered after {SERVE_TIME:g} s"
    except BluetrioError as error:
        return Verdict.TYPED_ERROR, f"afterwards: {type(error).__name__}: {error}"
    return Verdict.SERVING, ""


def count_tasks() -> int:
    """Tasks alive in this Trio run (to tell whether a case left some behind)."""

    def count(task: trio.lowlevel.Task) -> int:
        return 1 + sum(count(child) for n in task.child_nurseries for child in n.child_tasks)

    root = trio.lowlevel.current_root_task()
    return 0 if root is None else count(root)


def retained_size(stack: Stack, limit: int = 1_000_000) -> int:
    """Bytes reachable from the stack's protocol cores (their control blocks, queues,
    tables), counted once each; stops after ``limit`` objects."""
    seen: set[int] = set()
    runtime = stack.runtime
    pending: list[object] = [runtime.actor(name).core for name in runtime.actor_names]
    total = 0
    while pending and len(seen) < limit:
        item = pending.pop()
        if id(item) in seen or callable(item) or isinstance(item, ModuleType):
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            pending.extend(item)
        elif hasattr(item, "__dict__"):
            pending.append(vars(item))
        elif hasattr(item, "__slots__"):
            pending.extend(getattr(item, slot) for slot in item.__slots__ if hasattr(item, slot))
    return total


@attrs.define
class FuzzReport:
    """What :func:`run_fuzz` found."""

    cases: int = 0
    stats: MutationStats = attrs.field(factory=MutationStats)
    verdicts: dict[Verdict, int] = attrs.field(factory=dict)
    findings: list[CaseOutcome] = attrs.field(factory=list)

    def add(self, outcome: CaseOutcome) -> None:
        self.cases += 1
        self.stats.add(outcome.stats)
        self.verdicts[outcome.verdict] = self.verdicts.get(outcome.verdict, 0) + 1
        if not outcome.ok:
            self.findings.append(outcome)

    def summary(self) -> str:
        counts = ", ".join(f"{v.value}: {n}" for v, n in sorted(self.verdicts.items(), key=str))
        lines = [
            f"{self.cases} cases, {self.stats.touched} packets attacked "
            f"({self.stats.mutated} mutated, {self.stats.dropped} dropped, "
            f"{self.stats.duplicated} duplicated, {self.stats.injected} injected, "
            f"{self.stats.line_corruptions} corrupted on the line; "
            f"{self.stats.passed} passed untouched); {counts}"
        ]
        lines += [finding.report() for finding in self.findings[:20]]
        return "\n".join(lines)


def run_fuzz(
    seeds: Iterable[int],
    *,
    scenario: Scenario = default_scenario,
    rates: MutationRates | None = None,
    line_noise: float = 0.0,
    on_case: Callable[[CaseOutcome], None] | None = None,
) -> FuzzReport:
    """Run one case per seed, each in its own ``trio.run`` under an autojumping MockClock
    (see :func:`fuzz_case` for the options)."""
    report = FuzzReport()
    for seed in seeds:

        async def case(seed: int = seed) -> CaseOutcome:
            return await fuzz_case(seed, scenario=scenario, rates=rates, line_noise=line_noise)

        outcome = trio.run(case, clock=trio.testing.MockClock(autojump_threshold=0))
        report.add(outcome)
        if on_case is not None:
            on_case(outcome)
    return report
