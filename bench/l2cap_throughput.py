"""L2CAP channel throughput and paced round trip: bluetrio against Bumble on the same
controllers, in one run.

    python bench/l2cap_throughput.py                        # all three controllers
    python bench/l2cap_throughput.py --controllers served --megabytes 1
    python bench/l2cap_throughput.py --profile served        # cProfile of bluetrio's transfer

LE credit-based channels (Core 5.4 Vol 3 Part A 4.22, 10.1) between two hosts linked over LE:
for each controller -- ``local`` (bluetrio's in-process virtual controller / Bumble's
LocalLink), ``served`` (``bluetrio controller --listen`` over TCP, the same controller for
both stacks), ``rootcanal`` (Root Canal, the same for both) -- A opens a channel to B with the
same MTU, MPS and credits on both stacks, sends ``--megabytes`` in SDUs of ``--sdu`` octets
while B reads, then B echoes and A times ``--pings`` paced round trips of one small SDU. Each
case runs in a fresh interpreter against a freshly started controller. Ratios are bluetrio over
Bumble (throughput: higher is better; round trip: lower is better).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import trio
from support import (
    CONTROLLERS,
    bumble_devices,
    compared,
    fastest_runs,
    fmt,
    print_table,
    run_throughput_bench,
)

SPSM = 0x0081
PING = b"ping" * 5
WARM_UP = 64 * 1024


def _pattern(size: int) -> bytes:
    return bytes(range(256)) * (size // 256) + bytes(size % 256)


def bluetrio_worker(args: argparse.Namespace) -> dict[str, Any]:
    from bluetrio.stack import open_stack

    out: dict[str, Any] = {}
    transport = args.spec or "virtual"
    total = int(args.megabytes * 1_000_000)

    async def main() -> None:
        async with (
            open_stack(transport, bring_up=True) as a,
            open_stack(transport, bring_up=True) as b,
        ):
            address = (await b.ready()).address
            limits = {"mtu": args.sdu, "mps": args.mps, "credits": args.credits}
            async with (
                b.l2cap_listen(spsm=SPSM, **limits) as listener,
                b.advertise(),
                a.connect(address, timeout=10) as link,
            ):
                channel = await link.l2cap_connect(spsm=SPSM, **limits)
                peer = await listener.accept()
                sdu = _pattern(args.sdu)

                async def send(size: int) -> None:
                    for _ in range(size // len(sdu)):
                        await channel.send_sdu(sdu)

                async def receive(size: int) -> None:
                    got = 0
                    while got < size:
                        got += len(await peer.receive_sdu())

                async def transfer(size: int) -> None:
                    size -= size % len(sdu)
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(receive, size)
                        await send(size)

                await transfer(WARM_UP)
                profiler = cProfile.Profile() if args.profile else None
                wall, cpu = time.perf_counter(), time.process_time()
                if profiler:
                    profiler.enable()
                await transfer(total)
                if profiler:
                    profiler.disable()
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

                async def echo() -> None:
                    while True:
                        await peer.send_sdu(await peer.receive_sdu())

                round_trips = []
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(echo)
                    for _ in range(args.pings):
                        start = time.perf_counter()
                        await channel.send_sdu(PING)
                        await channel.receive_sdu()
                        round_trips.append(time.perf_counter() - start)
                    nursery.cancel_scope.cancel()
                out.update(_result(args, wall, cpu, round_trips))
                if profiler:
                    pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
                await channel.aclose()

    trio.run(main)
    return out


def bumble_worker(args: argparse.Namespace) -> dict[str, Any]:
    from bumble.l2cap import LeCreditBasedChannelSpec

    out: dict[str, Any] = {}
    total = int(args.megabytes * 1_000_000)

    async def main() -> None:
        async with bumble_devices(args.spec) as (a, b):
            spec = LeCreditBasedChannelSpec(
                psm=SPSM, mtu=args.sdu, mps=args.mps, max_credits=max(args.credits, 1)
            )
            accepted: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            b.create_l2cap_server(spec=spec, handler=accepted.set_result)
            await b.start_advertising(auto_restart=False)
            connection = await a.connect(b.random_address)
            channel = await connection.create_l2cap_channel(spec=spec)
            peer = await accepted
            sdu = _pattern(args.sdu)
            state = {"received": 0, "echo": False}
            arrived = asyncio.Event()

            def on_peer_sdu(data: bytes) -> None:
                state["received"] += len(data)
                if state["echo"]:
                    peer.write(data)
                arrived.set()

            peer.sink = on_peer_sdu
            replies = asyncio.Event()
            channel.sink = lambda data: replies.set()

            async def transfer(size: int) -> None:
                size -= size % len(sdu)
                target = state["received"] + size
                for _ in range(size // len(sdu)):
                    channel.write(sdu)
                    await channel.drain()
                while state["received"] < target:
                    arrived.clear()
                    await arrived.wait()

            await transfer(WARM_UP)
            wall, cpu = time.perf_counter(), time.process_time()
            await transfer(total)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            state["echo"] = True
            round_trips = []
            for _ in range(args.pings):
                replies.clear()
                start = time.perf_counter()
                channel.write(PING)
                await replies.wait()
                round_trips.append(time.perf_counter() - start)
            out.update(_result(args, wall, cpu, round_trips))
            await connection.disconnect()

    asyncio.run(main())
    return out


def _result(
    args: argparse.Namespace, wall: float, cpu: float, round_trips: list[float]
) -> dict[str, Any]:
    return {
        "mb_per_s": args.megabytes / wall,
        "cpu_per_mb": cpu / args.megabytes,
        "rtt_ms": statistics.median(round_trips) * 1000,
    }


def main_run(args: argparse.Namespace) -> None:
    rows = []
    for controller in args.controllers:
        arguments = [
            "--megabytes", str(args.megabytes), "--sdu", str(args.sdu), "--mps", str(args.mps),
            "--credits", str(args.credits), "--pings", str(args.pings),
        ]  # fmt: skip
        best = fastest_runs(Path(__file__), controller, args.repeat, arguments)
        ours, theirs = best["bluetrio"], best["bumble"]
        rows.append(
            [
                controller,
                *compared(ours, theirs, "mb_per_s"),
                f"{fmt(ours.get('cpu_per_mb'))} / {fmt(theirs.get('cpu_per_mb'))}",
                *compared(ours, theirs, "rtt_ms", 3),
            ]
        )
    print(
        f"LE credit-based channel, {args.megabytes} MB in SDUs of {args.sdu} B, MPS {args.mps}, "
        f"{args.credits} credits, {args.pings} paced pings, best of {args.repeat}; "
        "cells are bluetrio / Bumble"
    )
    print_table(["controller", "MB/s", "ratio", "host CPU-s/MB", "round trip ms", "ratio"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--controllers", nargs="+", choices=CONTROLLERS, default=list(CONTROLLERS))
    parser.add_argument("--megabytes", type=float, default=2.0)
    parser.add_argument("--sdu", type=int, default=2048, help="SDU octets (and both MTUs)")
    parser.add_argument("--mps", type=int, default=247, help="K-frame payload, both sides")
    parser.add_argument("--credits", type=int, default=64, help="credits each side grants")
    parser.add_argument("--pings", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the fastest counts")
    parser.add_argument("--profile", choices=CONTROLLERS, help="profile bluetrio's transfer")
    run_throughput_bench(parser, bluetrio_worker, bumble_worker, main_run)


if __name__ == "__main__":
    main()
