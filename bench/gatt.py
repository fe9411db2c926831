"""GATT notifications per second and read round trip: bluetrio against Bumble on the same
controllers, in one run.

    python bench/gatt.py                               # all three controllers
    python bench/gatt.py --controllers served --notifications 2000
    python bench/gatt.py --profile local               # cProfile of bluetrio's notifications

For each controller -- ``local`` (bluetrio's in-process virtual controller / Bumble's
LocalLink), ``served`` (``bluetrio controller --listen`` over TCP), ``rootcanal`` (Root
Canal) -- and each stack, in a fresh interpreter with a fresh controller server, two devices
of that stack linked over LE: B serves one service with one characteristic (read, notify),
A exchanges the MTU (``--mtu``, Core 5.4 Vol 3 Part F 3.4.2), discovers the characteristic
and subscribes to it (Vol 3 Part G 4.10) with its stack's GATT client (bluetrio's
``GattClient`` on ``link.att``, Bumble's ``Peer``). Then for each value size (``--sizes``:
20 octets, and 244, the most one notification carries at an ATT_MTU of 247) B notifies
``--notifications`` values, one call of its stack's server API after the other
(``stack.gatt_server.notify``, which returns once the controller took the value; Bumble's
``notify_subscriber``, which queues it), and the rate is the count over the time from B's
first call until A has received the last value (after a warm-up of a tenth as many). Last,
A reads the 20-octet value ``--reads`` times, one Read Request at a time (Vol 3 Part F
3.4.4.3), and the round trip is the median. Ratios are bluetrio over Bumble (notifications:
higher is better; round trip: lower is better).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import (
    CONTROLLERS,
    bumble_devices,
    controller_process,
    fmt,
    print_table,
    ratio,
    run_worker,
    summary_json,
)

SERVICE_UUID = "6e7a0001-5c6f-4b1a-9d2e-8b7f3c2a1d00"
VALUE_UUID = "6e7a0002-5c6f-4b1a-9d2e-8b7f3c2a1d00"
READ_VALUE = bytes(range(20))
# Seconds one timed run may take before the case fails (a value lost on the way).
RUN_DEADLINE = 120


async def _rates(
    sizes: list[int], count: int, measure: Callable[[bytes, int], Awaitable[float]]
) -> dict[str, float]:
    """For each size: a warm-up of a tenth of ``count`` notifications, then ``count`` timed
    ones; ``measure(value, count)`` notifies and returns the seconds until all arrived."""
    rates = {}
    for size in sizes:
        value = bytes(i % 256 for i in range(size))
        await measure(value, max(count // 10, 1))
        rates[f"ntf_{size}_per_s"] = count / await measure(value, count)
    return rates


def bluetrio_worker(
    args: argparse.Namespace, profiler: cProfile.Profile | None = None
) -> dict[str, Any]:
    """bluetrio's case; ``profiler`` runs while the timed notifications go."""
    import trio

    from bluetrio.gatt import Characteristic, Properties, Service
    from bluetrio.gatt.client import GattClient
    from bluetrio.messages.btm import LinkTransport
    from bluetrio.stack import open_stack

    out: dict[str, Any] = {}
    transport = args.spec or "virtual"

    async def main() -> None:
        async with (
            open_stack(transport, bring_up=True) as a,
            open_stack(transport, bring_up=True) as b,
        ):
            served = Characteristic(
                uuid.UUID(VALUE_UUID), Properties.READ | Properties.NOTIFY, value=READ_VALUE
            )
            await b.gatt_server.add_service(Service(uuid.UUID(SERVICE_UUID), (served,)))
            address = (await b.ready()).address
            async with (
                b.advertise(),
                a.connect(address, timeout=10) as link,
                b.accept(LinkTransport.LE),
            ):
                gatt = GattClient(link.att)
                assert await gatt.exchange_mtu(args.mtu) == args.mtu
                [service] = await gatt.discover_services(uuid.UUID(SERVICE_UUID))
                [remote] = await gatt.discover_characteristics(service, uuid.UUID(VALUE_UUID))
                async with gatt.subscribe(remote) as values:

                    async def receive(count: int) -> None:
                        for _ in range(count):
                            await anext(values)

                    async def measure(value: bytes, count: int) -> float:
                        timed = profiler is not None and count == args.notifications
                        start = time.perf_counter()
                        if timed:
                            profiler.enable()  # type: ignore[union-attr]
                        # A value the client dropped would leave it waiting: bounded.
                        with trio.fail_after(RUN_DEADLINE):
                            async with trio.open_nursery() as nursery:
                                nursery.start_soon(receive, count)
                                for _ in range(count):
                                    await b.gatt_server.notify(served, value)
                        if timed:
                            profiler.disable()  # type: ignore[union-attr]
                        return time.perf_counter() - start

                    out.update(await _rates(args.sizes, args.notifications, measure))
                round_trips = []
                for _ in range(args.reads):
                    start = time.perf_counter()
                    got = await gatt.read(remote)
                    round_trips.append(time.perf_counter() - start)
                    assert got == READ_VALUE, got
                out["read_rtt_ms"] = statistics.median(round_trips) * 1000

    trio.run(main)
    return out


def bumble_worker(args: argparse.Namespace) -> dict[str, Any]:
    from bumble.core import UUID
    from bumble.device import Peer
    from bumble.gatt import Characteristic, Service

    out: dict[str, Any] = {}

    async def main() -> None:
        async with bumble_devices(args.spec) as (a, b):
            served = Characteristic(
                UUID(VALUE_UUID),
                Characteristic.Properties.READ | Characteristic.Properties.NOTIFY,
                Characteristic.READABLE,
                READ_VALUE,
            )
            b.add_service(Service(UUID(SERVICE_UUID), [served]))
            await b.start_advertising(auto_restart=False)
            connection = await a.connect(b.random_address)
            peer = Peer(connection)
            await peer.request_mtu(args.mtu)
            [service] = await peer.discover_service(UUID(SERVICE_UUID))
            [remote] = await service.discover_characteristics([UUID(VALUE_UUID)])
            state = {"received": 0, "target": 0}
            arrived = asyncio.Event()

            def on_value(_value: bytes) -> None:
                state["received"] += 1
                if state["received"] >= state["target"]:
                    arrived.set()

            await remote.subscribe(on_value)
            [b_connection] = b.connections.values()

            async def measure(value: bytes, count: int) -> float:
                arrived.clear()
                state["target"] = state["received"] + count
                start = time.perf_counter()
                for _ in range(count):
                    await b.notify_subscriber(b_connection, served, value)
                await asyncio.wait_for(arrived.wait(), RUN_DEADLINE)
                return time.perf_counter() - start

            out.update(await _rates(args.sizes, args.notifications, measure))
            round_trips = []
            for _ in range(args.reads):
                start = time.perf_counter()
                got = await remote.read_value()
                round_trips.append(time.perf_counter() - start)
                assert got == READ_VALUE
            out["read_rtt_ms"] = statistics.median(round_trips) * 1000
            await connection.disconnect()

    asyncio.run(main())
    return out


def best_runs(args: argparse.Namespace, controller: str) -> dict[str, dict[str, Any]]:
    """Each stack's runs, alternating, each in a fresh interpreter on a fresh controller; per
    figure the best of ``--repeat`` runs (the others only add the noise of a shared machine)."""
    runs: dict[str, list[dict[str, Any]]] = {"bluetrio": [], "bumble": []}
    arguments = [
        "--mtu", str(args.mtu), "--notifications", str(args.notifications),
        "--reads", str(args.reads), "--sizes", *map(str, args.sizes),
    ]  # fmt: skip
    for _ in range(args.repeat):
        for stack in runs:
            with controller_process(controller) as (spec, _pid):
                command = ["--worker", stack, *arguments] + (["--spec", spec] if spec else [])
                run = run_worker(Path(__file__), command)
            if "error" in run:
                print(f"{controller}/{stack}: {run['error']}", file=sys.stderr)
            else:
                runs[stack].append(run)
    best: dict[str, dict[str, Any]] = {}
    for stack, done in runs.items():
        best[stack] = {}
        for key in done[0] if done else ():
            pick = min if key == "read_rtt_ms" else max
            best[stack][key] = pick(run[key] for run in done)
    return best


def main_run(args: argparse.Namespace) -> None:
    rows = []
    for controller in args.controllers:
        best = best_runs(args, controller)
        ours, theirs = best["bluetrio"], best["bumble"]
        row = [controller]
        for key in [*(f"ntf_{size}_per_s" for size in args.sizes), "read_rtt_ms"]:
            digits = 3 if key == "read_rtt_ms" else 0
            row += [
                f"{fmt(ours.get(key), digits)} / {fmt(theirs.get(key), digits)}",
                ratio(ours.get(key), theirs.get(key)),
            ]
        rows.append(row)
    print(
        f"GATT over LE, ATT_MTU {args.mtu}: {args.notifications} notifications per size, "
        f"{args.reads} reads of {len(READ_VALUE)} octets, best of {args.repeat}; "
        "cells are bluetrio / Bumble"
    )
    headers = ["controller"]
    for size in args.sizes:
        headers += [f"notifications/s ({size} B)", "ratio"]
    headers += ["read round trip ms", "ratio"]
    print_table(headers, rows)


def profile(args: argparse.Namespace) -> None:
    """bluetrio's case on one controller in this process, its notifications under cProfile."""
    with controller_process(args.profile) as (spec, _pid):
        args.spec = spec
        profiler = cProfile.Profile()
        result = bluetrio_worker(args, profiler)
    print(result)
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--controllers", nargs="+", choices=CONTROLLERS, default=list(CONTROLLERS))
    parser.add_argument("--mtu", type=int, default=247, help="the ATT_MTU A asks for")
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 244], help="value octets")
    parser.add_argument("--notifications", type=int, default=2000, help="per size")
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the best counts")
    parser.add_argument("--profile", choices=CONTROLLERS, help="profile bluetrio's case")
    parser.add_argument(
        "--worker", choices=("bluetrio", "bumble"), dest="stack", help=argparse.SUPPRESS
    )
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stack:
        summary_json((bluetrio_worker if args.stack == "bluetrio" else bumble_worker)(args))
    elif args.profile:
        profile(args)
    else:
        main_run(args)


if __name__ == "__main__":
    main()
