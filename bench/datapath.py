"""Host-to-host raw ACL: bluetrio against Bumble on the same controllers, in one run.

    python bench/datapath.py                       # all three controllers, ~1-2 minutes
    python bench/datapath.py --controllers local --megabytes 1
    python bench/datapath.py --profile local       # cProfile of bluetrio's transfer, top 25

For each controller -- (a) ``local``: bluetrio's in-process virtual controller / Bumble's
LocalLink, (b) ``served``: ``bluetrio controller --listen`` over TCP, (c) ``rootcanal``: Root
Canal -- two bluetrio stacks, then two Bumble devices, connect over LE; A sends ``--megabytes``
of ``--size``-byte L2CAP payloads to B keeping ``--window`` PDUs not yet received, then B
echoes and A times ``--pings`` paced round trips. Each case runs in a fresh interpreter; a
served controller or Root Canal is started fresh for each case.

Columns: MB/s of payload; host CPU-s/MB (the whole bench process: both hosts, and for
``local`` both controllers too); the controller process's CPU-s/MB; the median round trip;
wake-ups per ACL fragment (Trio task steps, or asyncio callbacks, over the transfer, divided
by the ACL packets the sender gave its controller). Ratios are bluetrio over Bumble.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import math
import pstats
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import trio
from support import (
    CONTROLLERS,
    AsyncioCallbackCounter,
    TrioStepCounter,
    bluetrio_pair,
    bumble_pair,
    compared,
    controller_process,
    fastest_runs,
    fmt,
    l2cap_pdu,
    print_table,
    process_cpu_seconds,
    summary_json,
)

WARM_UP_PDUS = 64


class Measure:
    """Wall time, own CPU and the controller's CPU across the timed part."""

    def __init__(self, controller_pid: int | None) -> None:
        self.controller_pid = controller_pid

    def __enter__(self) -> Measure:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()
        self.controller_cpu = (
            process_cpu_seconds(self.controller_pid) if self.controller_pid else 0.0
        )
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu
        if self.controller_pid:
            self.controller_cpu = process_cpu_seconds(self.controller_pid) - self.controller_cpu


async def windowed_transfer(
    send: Callable[[int], None],
    received: Callable[[], int],
    wait_beyond: Callable[[int], Awaitable[None]],
    total: int,
    window: int,
) -> None:
    """Send ``total`` PDUs keeping at most ``window`` sent and not yet received."""
    start = received()
    sent = 0
    while (done := received() - start) < total:
        allowed = min(window - (sent - done), total - sent)
        if allowed > 0:
            send(allowed)
            sent += allowed
        await wait_beyond(received())


async def paced_round_trips(
    send_one: Callable[[], None],
    received: Callable[[], int],
    wait_beyond: Callable[[int], Awaitable[None]],
    count: int,
) -> list[float]:
    times = []
    for _ in range(count):
        before = received()
        start = time.perf_counter()
        send_one()
        await wait_beyond(before)
        times.append(time.perf_counter() - start)
    return times


def result_of(
    args: argparse.Namespace,
    measure: Measure,
    steps: int,
    fragment_length: int,
    round_trips: list[float],
) -> dict[str, Any]:
    megabytes = args.megabytes
    pdus = _pdu_count(args)
    fragments = pdus * math.ceil((args.size + 4) / fragment_length)
    return {
        "mb_per_s": megabytes / measure.wall,
        "cpu_per_mb": measure.cpu / megabytes,
        "controller_cpu_per_mb": (measure.controller_cpu / megabytes)
        if args.controller_pid
        else None,
        "wakeups_per_fragment": steps / fragments,
        "fragment_length": fragment_length,
        "rtt_ms": statistics.median(round_trips) * 1000,
    }


def _pdu_count(args: argparse.Namespace) -> int:
    return max(1, round(args.megabytes * 1_000_000 / args.size))


def bluetrio_worker(args: argparse.Namespace) -> dict[str, Any]:
    counter = TrioStepCounter()
    out: dict[str, Any] = {}

    async def main() -> None:
        async with bluetrio_pair(args.spec) as (a, _b, port_a, port_b, handle):
            pdu = l2cap_pdu(bytes(args.size))

            def send(count: int) -> None:
                port_a.send(handle, (pdu,) * count)

            async def transfer(total: int) -> None:
                await windowed_transfer(
                    send, lambda: port_b.received, port_b.wait_beyond, total, args.window
                )

            await transfer(WARM_UP_PDUS)
            profiler = cProfile.Profile() if args.profile else None
            with Measure(args.controller_pid) as measure:
                counter.active = True
                if profiler:
                    profiler.enable()
                await transfer(_pdu_count(args))
                if profiler:
                    profiler.disable()
                counter.active = False
            port_b.echo = True
            round_trips = await paced_round_trips(
                lambda: send(1), lambda: port_a.received, port_a.wait_beyond, args.pings
            )
            fragment_length = a.hci.acl.pool(a.hci.acl.link_kind(handle)).packet_length
            out.update(result_of(args, measure, counter.steps, fragment_length, round_trips))
            if profiler:
                pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)

    trio.run(main, instruments=[counter])
    return out


def bumble_worker(args: argparse.Namespace) -> dict[str, Any]:
    counter = AsyncioCallbackCounter()
    out: dict[str, Any] = {}

    async def main() -> None:
        async with bumble_pair(args.spec) as (a, _b, counter_a, counter_b, handle):
            from support import BENCH_CID

            payload = bytes(args.size)

            def send(count: int) -> None:
                for _ in range(count):
                    a.send_l2cap_pdu(handle, BENCH_CID, payload)

            async def transfer(total: int) -> None:
                await windowed_transfer(
                    send, lambda: counter_b.received, counter_b.wait_beyond, total, args.window
                )

            await transfer(WARM_UP_PDUS)
            with Measure(args.controller_pid) as measure:
                counter.active = True
                await transfer(_pdu_count(args))
                counter.active = False
            counter_b.echo = True
            round_trips = await paced_round_trips(
                lambda: send(1), lambda: counter_a.received, counter_a.wait_beyond, args.pings
            )
            fragment_length = a.host.le_acl_packet_queue.max_packet_size
            out.update(result_of(args, measure, counter.steps, fragment_length, round_trips))

    asyncio.run(main())
    return out


def worker(args: argparse.Namespace) -> None:
    run = bluetrio_worker if args.stack == "bluetrio" else bumble_worker
    summary_json(run(args))


def main_run(args: argparse.Namespace) -> None:
    rows = []
    for controller in args.controllers:
        arguments = [
            "--megabytes", str(args.megabytes), "--size", str(args.size),
            "--window", str(args.window), "--pings", str(args.pings),
        ]  # fmt: skip
        results = fastest_runs(
            Path(__file__), controller, args.repeat, arguments, controller_pid=True
        )
        ours, theirs = results["bluetrio"], results["bumble"]
        rows.append(
            [
                controller,
                *compared(ours, theirs, "mb_per_s"),
                *compared(ours, theirs, "cpu_per_mb"),
                f"{fmt(ours.get('controller_cpu_per_mb'))} / "
                f"{fmt(theirs.get('controller_cpu_per_mb'))}",
                f"{fmt(ours.get('rtt_ms'), 3)} / {fmt(theirs.get('rtt_ms'), 3)}",
                f"{fmt(ours.get('wakeups_per_fragment'), 1)} / "
                f"{fmt(theirs.get('wakeups_per_fragment'), 1)}",
                f"{fmt(ours.get('fragment_length'))} / {fmt(theirs.get('fragment_length'))}",
            ]
        )
    print(
        f"raw ACL host->host, {args.megabytes} MB of {args.size} B payloads, "
        f"window {args.window}, {args.pings} paced pings, best of {args.repeat}; "
        "cells are bluetrio / Bumble"
    )
    print_table(
        ["controller", "MB/s", "ratio", "host CPU-s/MB", "ratio", "controller CPU-s/MB",
         "round trip ms", "wake-ups/fragment", "fragment B"],
        rows,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--controllers", nargs="+", choices=CONTROLLERS, default=list(CONTROLLERS))
    parser.add_argument("--megabytes", type=float, default=2.0)
    parser.add_argument("--size", type=int, default=1000, help="L2CAP payload bytes per PDU")
    parser.add_argument("--window", type=int, default=32, help="PDUs sent and not yet received")
    parser.add_argument("--pings", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2, help="runs per case; the fastest counts")
    parser.add_argument("--profile", choices=CONTROLLERS, help="profile bluetrio's transfer")
    parser.add_argument(
        "--worker", choices=("bluetrio", "bumble"), dest="stack", help=argparse.SUPPRESS
    )
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--controller-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stack:
        args.profile = getattr(args, "profile_on", False)
        worker(args)
    elif args.profile:
        with controller_process(args.profile) as (spec, pid):
            args.spec, args.controller_pid, args.profile = spec, pid, True
            print(bluetrio_worker(args))
    else:
        main_run(args)


if __name__ == "__main__":
    main()
