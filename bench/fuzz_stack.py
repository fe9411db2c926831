"""The whole-stack fuzzer, long profile: as many seeded cases as time allows.

    python bench/fuzz_stack.py --cases 100000            # ~30 ms per case on one core
    python bench/fuzz_stack.py --minutes 60 --workers 2
    python bench/fuzz_stack.py --replay 12345            # one case, with its faults printed

Cases rotate through three profiles by seed: the default scenario (bring-up, scan, LE
connections both ways, inquiry, remote name, paging) with hot packet faults; bring-up alone
with hot packet faults; the default scenario over a noisy H4 line. Each case runs in its own
``trio.run`` under MockClock (see ``bluetrio.testing.fuzz``). Workers are child processes
with a wall-clock watchdog (``faulthandler``), so a case that hangs for real (a wait with no
deadline, which MockClock cannot skip) is reported with its seed and traceback, and the run
goes on after it. Like every benchmark this measures and reports; it never fails.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import trio
import trio.testing

from bluetrio.testing import MutationRates, bringup_scenario, default_scenario, fuzz_case
from bluetrio.testing.fuzz import CaseOutcome

HOT = MutationRates(drop=0.05, duplicate=0.05, mutate=0.25, inject=0.15)
WATCHDOG_SECONDS = 60.0  # wall-clock time one case may take before it counts as hung


def run_case(seed: int) -> CaseOutcome:
    profile = seed % 10
    scenario = bringup_scenario if profile in (6, 7) else default_scenario
    line_noise = 0.05 if profile in (8, 9) else 0.0
    rates = MutationRates(0, 0, 0, 0) if line_noise else HOT

    async def case() -> CaseOutcome:
        return await fuzz_case(seed, scenario=scenario, rates=rates, line_noise=line_noise)

    return trio.run(case, clock=trio.testing.MockClock(autojump_threshold=0))


def worker(first: int, last: int) -> None:
    """Run seeds first..last-1; one JSON line per case on stdout."""
    logging.disable(logging.CRITICAL)
    for seed in range(first, last):
        faulthandler.dump_traceback_later(WATCHDOG_SECONDS, exit=True)
        print(json.dumps({"start": seed}), flush=True)
        outcome = run_case(seed)
        line = {
            "seed": seed,
            "ok": outcome.ok,
            "verdict": outcome.verdict.value,
            "touched": outcome.stats.touched,
            "packets": outcome.stats.touched + outcome.stats.passed,
        }
        if not outcome.ok:
            line["report"] = outcome.report()
        print(json.dumps(line), flush=True)
    faulthandler.cancel_dump_traceback_later()


class Totals:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.cases = 0
        self.touched = 0
        self.packets = 0
        self.verdicts: dict[str, int] = {}
        self.findings: list[str] = []

    def add(self, line: dict[str, object]) -> None:
        with self._lock:
            self._add(line)

    def _add(self, line: dict[str, object]) -> None:
        self.cases += 1
        self.touched += int(line["touched"])  # type: ignore[call-overload]
        self.packets += int(line["packets"])  # type: ignore[call-overload]
        verdict = str(line["verdict"])
        self.verdicts[verdict] = self.verdicts.get(verdict, 0) + 1
        if not line["ok"]:
            self.findings.append(str(line["report"]))

    def summary(self, elapsed: float) -> str:
        verdicts = ", ".join(f"{name}: {count}" for name, count in sorted(self.verdicts.items()))
        return (
            f"{self.cases} cases in {elapsed / 60:.1f} min, {self.packets} packets of which "
            f"{self.touched} attacked; {verdicts}; {len(self.findings)} finding(s)"
        )


def supervise(first: int, last: int, totals: Totals, log: Path | None) -> None:
    """Run a worker over seeds first..last-1; a worker killed by its watchdog is a hang."""
    seed = first
    while seed < last:
        command = [sys.executable, __file__, "--worker", f"{seed}:{last}"]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert process.stdout is not None and process.stderr is not None
        current = seed
        for text in process.stdout:
            line = json.loads(text)
            if "start" in line:
                current = int(line["start"])
                continue
            totals.add(line)
            if log is not None and not line["ok"]:
                with log.open("a") as out:
                    out.write(str(line["report"]) + "\n")
        stderr = process.stderr.read()
        if process.wait() == 0:
            return
        report = f"seed {current}: hang (no end within {WATCHDOG_SECONDS:g} s of wall time)\n"
        report += stderr[-4000:]
        totals.add({"ok": False, "verdict": "hang", "touched": 0, "packets": 0, "report": report})
        if log is not None:
            with log.open("a") as out:
                out.write(report + "\n")
        seed = current + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--minutes", type=float, default=None, help="stop after this long")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log", type=Path, default=None, help="append findings here")
    parser.add_argument("--replay", type=int, default=None, help="run one seed and show it")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.worker is not None:
        first, last = (int(part) for part in options.worker.split(":"))
        worker(first, last)
        return
    if options.replay is not None:
        outcome = run_case(options.replay)
        print(outcome.report())
        print(outcome.stats)
        return
    totals = Totals()
    started = time.monotonic()
    batch = 200
    seed = options.first_seed
    end = options.first_seed + options.cases
    while seed < end:
        if options.minutes is not None and time.monotonic() - started > options.minutes * 60:
            break
        size = min(batch * options.workers, end - seed)
        ranges = [
            (seed + i * size // options.workers, seed + (i + 1) * size // options.workers)
            for i in range(options.workers)
        ]
        if options.workers == 1:
            supervise(*ranges[0], totals, options.log)
        else:
            threads = [
                threading.Thread(target=supervise, args=(*r, totals, options.log)) for r in ranges
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        seed += size
        print(totals.summary(time.monotonic() - started), flush=True)
    for finding in totals.findings[:50]:
        print(finding)


if __name__ == "__main__":
    main()
