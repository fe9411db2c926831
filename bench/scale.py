"""Many stacks on one virtual air: memory per stack and per link, set-up time, latency.

    python bench/scale.py                 # N = 100 and 400
    python bench/scale.py --stacks 1000   # as far as memory and time allow

One process per (stack, N): N bluetrio stacks on one in-process virtual air (N virtual
controllers), or N Bumble devices on one LocalLink (N Bumble controllers); then N/2 LE links
(stack i+N/2 connects to stack i, ``--concurrent-links`` at a time: each advertiser reaches
every radio, so more at once costs N^2 on the air); then every link runs ``--pings`` paced round
trips of a 64-byte PDU at the same time (raw ACL; each peripheral echoes). Memory is the
growth of the resident set (after a garbage collection) divided by N, then by N/2 links;
controllers are included on both sides. Latency is over every round trip of every link.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import trio
from support import (
    BENCH_CID,
    BumbleCounter,
    RawAclPort,
    bumble_devices,
    fmt,
    l2cap_pdu,
    print_table,
    ratio,
    run_worker,
    summary_json,
)

PAYLOAD = bytes(64)


def resident_kib() -> int:
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def latency_summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "rtt_median_ms": statistics.median(ordered) * 1000,
        "rtt_p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    }


def bluetrio_worker(args: argparse.Namespace) -> dict[str, Any]:
    from bluetrio.stack import open_stack

    n = args.n
    out: dict[str, Any] = {}

    async def main() -> None:
        # One stack opened and closed first, so imports and caches are not counted.
        async with open_stack("virtual", bring_up=True, extra_layers=[RawAclPort()]):
            pass
        base = resident_kib()
        start = time.perf_counter()
        ports = [RawAclPort() for _ in range(n)]
        async with contextlib.AsyncExitStack() as resources:
            stacks = [
                await resources.enter_async_context(
                    open_stack("virtual", bring_up=True, extra_layers=[port])
                )
                for port in ports
            ]
            out["stack_setup_s"] = time.perf_counter() - start
            with_stacks = resident_kib()
            half = n // 2
            handles: dict[int, int] = {}

            limit = trio.Semaphore(args.concurrent_links)

            async def link_up(index: int) -> None:
                peripheral, central = stacks[index], stacks[index + half]
                address = (await peripheral.ready()).address
                async with limit, peripheral.advertise():
                    link = await central.open_link(address, timeout=60)
                handles[index] = link.handle

            start = time.perf_counter()
            async with trio.open_nursery() as nursery:
                for index in range(half):
                    nursery.start_soon(link_up, index)
            out["link_setup_s"] = time.perf_counter() - start
            with_links = resident_kib()
            for port in ports[:half]:
                port.echo = True
            samples: list[float] = []

            async def ping(index: int) -> None:
                port = ports[index + half]
                pdu = l2cap_pdu(PAYLOAD)
                for _ in range(args.pings):
                    before = port.received
                    sent = time.perf_counter()
                    port.send(handles[index], (pdu,))
                    await port.wait_beyond(before)
                    samples.append(time.perf_counter() - sent)

            async with trio.open_nursery() as nursery:
                for index in range(half):
                    nursery.start_soon(ping, index)
            out["kib_per_stack"] = (with_stacks - base) / n
            out["kib_per_link"] = (with_links - with_stacks) / half
            out.update(latency_summary(samples))

    trio.run(main)
    return out


def bumble_worker(args: argparse.Namespace) -> dict[str, Any]:
    n = args.n
    out: dict[str, Any] = {}

    async def main() -> None:
        async with bumble_devices(None, 1):  # imports and caches, not counted
            pass
        base = resident_kib()
        start = time.perf_counter()
        async with bumble_devices(None, n) as devices:
            out["stack_setup_s"] = time.perf_counter() - start
            counters = [BumbleCounter(device) for device in devices]
            with_stacks = resident_kib()
            half = n // 2
            handles: dict[int, int] = {}

            limit = asyncio.Semaphore(args.concurrent_links)

            async def link_up(index: int) -> None:
                peripheral, central = devices[index], devices[index + half]
                async with limit:
                    await peripheral.start_advertising(auto_restart=False)
                    connection = await central.connect(peripheral.random_address, timeout=60)
                handles[index] = connection.handle

            start = time.perf_counter()
            await asyncio.gather(*(link_up(index) for index in range(half)))
            out["link_setup_s"] = time.perf_counter() - start
            with_links = resident_kib()
            for counter in counters[:half]:
                counter.echo = True
            samples: list[float] = []

            async def ping(index: int) -> None:
                counter = counters[index + half]
                device = devices[index + half]
                for _ in range(args.pings):
                    before = counter.received
                    sent = time.perf_counter()
                    device.send_l2cap_pdu(handles[index], BENCH_CID, PAYLOAD)
                    await counter.wait_beyond(before)
                    samples.append(time.perf_counter() - sent)

            await asyncio.gather(*(ping(index) for index in range(half)))
            out["kib_per_stack"] = (with_stacks - base) / n
            out["kib_per_link"] = (with_links - with_stacks) / half
            out.update(latency_summary(samples))

    asyncio.run(main())
    return out


def main_run(args: argparse.Namespace) -> None:
    rows = []
    for n in args.stacks:
        results = {}
        for stack in ("bluetrio", "bumble"):
            arguments = ["--worker", stack, "--n", str(n), "--pings", str(args.pings),
                         "--concurrent-links", str(args.concurrent_links)]  # fmt: skip
            results[stack] = run_worker(Path(__file__), arguments)
            if "error" in results[stack]:
                print(f"N={n}/{stack}: {results[stack]['error']}", file=sys.stderr)
        ours, theirs = results["bluetrio"], results["bumble"]
        for key, label, digits in (
            ("kib_per_stack", "KiB per stack", 1),
            ("kib_per_link", "KiB per link", 1),
            ("stack_setup_s", "stacks up, s", 2),
            ("link_setup_s", "links up, s", 2),
            ("rtt_median_ms", "round trip median, ms", 3),
            ("rtt_p99_ms", "round trip p99, ms", 3),
        ):
            rows.append(
                [
                    str(n),
                    label,
                    f"{fmt(ours.get(key), digits)} / {fmt(theirs.get(key), digits)}",
                    ratio(ours.get(key), theirs.get(key)),
                ]
            )
    print(
        f"N stacks on one air, N/2 LE links, {args.pings} paced pings per link at once; "
        "cells are bluetrio / Bumble (ratio: lower is better)"
    )
    print_table(["N", "measure", "value", "ratio"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", type=int, nargs="+", default=[100, 400])
    parser.add_argument("--pings", type=int, default=20)
    parser.add_argument(
        "--concurrent-links", type=int, default=8,
        help="links being set up at once (every advertiser reaches every radio: N^2 on the air)",
    )  # fmt: skip
    parser.add_argument(
        "--worker", choices=("bluetrio", "bumble"), dest="stack", help=argparse.SUPPRESS
    )
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stack:
        summary_json((bluetrio_worker if args.stack == "bluetrio" else bumble_worker)(args))
    else:
        main_run(args)


if __name__ == "__main__":
    main()
