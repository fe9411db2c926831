"""BR/EDR L2CAP channel throughput (bench/l2cap_throughput.py measures LE credit-based
channels) and paced round trip: bluetrio against Bumble on the same
controllers, in one run.

    python bench/l2cap_bredr_throughput.py                      # all three controllers
    python bench/l2cap_bredr_throughput.py --controllers local --megabytes 2
    python bench/l2cap_bredr_throughput.py --profile local      # cProfile of bluetrio's transfer

For each controller -- ``local`` (bluetrio's in-process virtual controller / Bumble's
LocalLink), ``served`` (``bluetrio controller --listen`` over TCP) and ``rootcanal`` -- two
bluetrio stacks, then two Bumble devices, make a BR/EDR link; B listens on a PSM, A opens a
basic-mode channel (MTU ``--mtu`` both ways) and sends ``--megabytes`` as fast as the
channel takes it, timed until B received the last octet; then B echoes and A times
``--pings`` paced round trips of one small SDU. Each case runs in a fresh interpreter; host
CPU-s/MB is the bench process's CPU during the transfer per MB (both hosts, and for
``local`` both controllers). Ratios are bluetrio over Bumble (throughput: higher is better;
round trip: lower is better).
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
    print_throughput_table,
    run_throughput_bench,
)

PSM = 0x1001
PING = b"ping" * 8


def bluetrio_worker(args: argparse.Namespace) -> dict[str, Any]:
    from bluetrio import L2capChannel, LinkTransport, open_stack

    out: dict[str, Any] = {}
    spec = args.spec or "virtual"
    total = int(args.megabytes * 1_000_000)

    async def main() -> None:
        async with (
            open_stack(spec, bring_up=True) as a,
            open_stack(spec, bring_up=True) as b,
        ):
            address = (await b.ready()).address
            await b.set_discoverable(True)
            async with (
                b.l2cap_listen(psm=PSM, mtu=args.mtu) as listener,
                a.connect(address, transport=LinkTransport.BR_EDR) as link,
            ):
                channel = await link.l2cap_connect(psm=PSM, mtu=args.mtu)
                served: L2capChannel = await listener.accept()
                payload = bytes(total)
                profiler = cProfile.Profile() if args.profile else None
                start, cpu = time.perf_counter(), time.process_time()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(channel.send_all, payload)
                    if profiler:
                        profiler.enable()
                    received = 0
                    while received < total:
                        received += len(await served.receive_some())
                    if profiler:
                        profiler.disable()
                out["mb_per_s"] = args.megabytes / (time.perf_counter() - start)
                out["cpu_per_mb"] = (time.process_time() - cpu) / args.megabytes
                times = []
                for _ in range(args.pings):
                    begin = time.perf_counter()
                    await channel.send_sdu(PING)
                    await served.send_sdu(await served.receive_sdu())
                    await channel.receive_sdu()
                    times.append(time.perf_counter() - begin)
                out["rtt_ms"] = statistics.median(times) * 1000
                if profiler:
                    pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)

    trio.run(main)
    return out


def bumble_worker(args: argparse.Namespace) -> dict[str, Any]:
    from bumble.core import PhysicalTransport
    from bumble.l2cap import ClassicChannelSpec

    out: dict[str, Any] = {}
    total = int(args.megabytes * 1_000_000)

    async def main() -> None:
        async with bumble_devices(args.spec, classic=True) as (a, b):
            await b.set_connectable(True)
            served: list[Any] = []
            opened = asyncio.Event()

            def on_channel(channel: Any) -> None:
                served.append(channel)
                opened.set()

            b.create_l2cap_server(
                spec=ClassicChannelSpec(psm=PSM, mtu=args.mtu), handler=on_channel
            )
            connection = await a.connect(b.public_address, transport=PhysicalTransport.BR_EDR)
            channel = await connection.create_l2cap_channel(
                spec=ClassicChannelSpec(psm=PSM, mtu=args.mtu)
            )
            await opened.wait()
            received = 0
            done = asyncio.Event()

            def count(data: bytes) -> None:
                nonlocal received
                received += len(data)
                if received >= total:
                    done.set()

            served[0].sink = count
            step = channel.peer_mtu
            payload = bytes(step)
            start, cpu = time.perf_counter(), time.process_time()
            for offset in range(0, total, step):
                channel.write(payload[: min(step, total - offset)])
                if offset // step % 32 == 0:
                    await asyncio.sleep(0)
            await done.wait()
            out["mb_per_s"] = args.megabytes / (time.perf_counter() - start)
            out["cpu_per_mb"] = (time.process_time() - cpu) / args.megabytes
            echoed = asyncio.Queue[bytes]()
            served[0].sink = served[0].write
            channel.sink = echoed.put_nowait
            times = []
            for _ in range(args.pings):
                begin = time.perf_counter()
                channel.write(PING)
                await echoed.get()
                times.append(time.perf_counter() - begin)
            out["rtt_ms"] = statistics.median(times) * 1000

    asyncio.run(main())
    return out


def main_run(args: argparse.Namespace) -> None:
    arguments = [
        "--megabytes", str(args.megabytes), "--mtu", str(args.mtu), "--pings", str(args.pings),
    ]  # fmt: skip
    title = (
        f"BR/EDR L2CAP basic-mode channel, {args.megabytes} MB, MTU {args.mtu}, "
        f"{args.pings} paced pings"
    )
    print_throughput_table(Path(__file__), args, arguments, title)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--controllers", nargs="+", choices=CONTROLLERS, default=list(CONTROLLERS))
    parser.add_argument("--megabytes", type=float, default=4.0)
    parser.add_argument("--mtu", type=int, default=1017, help="SDU size, both directions")
    parser.add_argument("--pings", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2, help="runs per case; the fastest counts")
    parser.add_argument("--profile", choices=CONTROLLERS, help="profile bluetrio's transfer")
    run_throughput_bench(parser, bluetrio_worker, bumble_worker, main_run)


if __name__ == "__main__":
    main()
