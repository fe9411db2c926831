"""RFCOMM DLC throughput and paced round trip: bluetrio against Bumble on the same
controllers, in one run.

    python bench/rfcomm_throughput.py                      # all three controllers
    python bench/rfcomm_throughput.py --controllers local --megabytes 2
    python bench/rfcomm_throughput.py --profile served     # cProfile of bluetrio's transfer
    python bench/rfcomm_throughput.py --profile served --profile-sort cumulative

For each controller -- ``local`` (bluetrio's in-process virtual controller / Bumble's
LocalLink), ``served`` (``bluetrio controller --listen`` over TCP) and ``rootcanal`` -- two
bluetrio stacks, then two Bumble devices, make a BR/EDR link; B listens on an RFCOMM server
channel, A opens a DLC (frame size ``--frame-size``, credit-based flow control) and sends
``--megabytes`` as fast as the DLC takes it, timed until B received the last octet; then B
echoes and A times ``--pings`` paced round trips of a few octets. Each case runs in a fresh
interpreter; host CPU-s/MB is the bench process's CPU during the transfer per MB (both
hosts, and for ``local`` both controllers). Ratios are bluetrio over Bumble (throughput:
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

CHANNEL = 5
PING = b"ping" * 8


async def read_exactly(stream: Any, size: int) -> bytes:
    parts = []
    got = 0
    while got < size:
        data = await stream.receive_some()
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def bluetrio_worker(args: argparse.Namespace) -> dict[str, Any]:
    from bluetrio import open_stack

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
            async with b.rfcomm_listen(channel=CHANNEL) as listener:
                stream = await a.rfcomm_connect(
                    address, channel=CHANNEL, frame_size=args.frame_size
                )
                served = await listener.accept()
                payload = bytes(total)
                profiler = cProfile.Profile() if args.profile else None
                start, cpu = time.perf_counter(), time.process_time()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(stream.send_all, payload)
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
                    await stream.send_all(PING)
                    await served.send_all(await read_exactly(served, len(PING)))
                    await read_exactly(stream, len(PING))
                    times.append(time.perf_counter() - begin)
                out["rtt_ms"] = statistics.median(times) * 1000
                out["frame_size"] = stream.frame_size
                if profiler:
                    stats = pstats.Stats(profiler, stream=sys.stderr)
                    stats.sort_stats(args.profile_sort).print_stats(args.profile_lines)
                await stream.aclose()
                await served.aclose()

    trio.run(main)
    return out


def bumble_worker(args: argparse.Namespace) -> dict[str, Any]:
    from bumble.core import PhysicalTransport
    from bumble.rfcomm import Client, Server

    out: dict[str, Any] = {}
    total = int(args.megabytes * 1_000_000)

    async def main() -> None:
        async with bumble_devices(args.spec, classic=True) as (a, b):
            await b.set_connectable(True)
            served: list[Any] = []
            opened = asyncio.Event()

            def on_dlc(dlc: Any) -> None:
                served.append(dlc)
                opened.set()

            Server(b).listen(on_dlc, CHANNEL, max_frame_size=args.frame_size)
            connection = await a.connect(b.public_address, transport=PhysicalTransport.BR_EDR)
            multiplexer = await Client(connection).start()
            dlc = await multiplexer.open_dlc(CHANNEL, max_frame_size=args.frame_size)
            await opened.wait()
            received = 0
            done = asyncio.Event()

            def count(data: bytes) -> None:
                nonlocal received
                received += len(data)
                if received >= total:
                    done.set()

            served[0].sink = count
            chunk = bytes(64 * 1024)
            start, cpu = time.perf_counter(), time.process_time()
            for offset in range(0, total, len(chunk)):
                dlc.write(chunk[: min(len(chunk), total - offset)])
                await dlc.drain()
            await done.wait()
            out["mb_per_s"] = args.megabytes / (time.perf_counter() - start)
            out["cpu_per_mb"] = (time.process_time() - cpu) / args.megabytes
            echoed = asyncio.Queue[bytes]()
            served[0].sink = served[0].write
            dlc.sink = echoed.put_nowait
            times = []
            for _ in range(args.pings):
                begin = time.perf_counter()
                dlc.write(PING)
                got = b""
                while len(got) < len(PING):
                    got += await echoed.get()
                times.append(time.perf_counter() - begin)
            out["rtt_ms"] = statistics.median(times) * 1000

    asyncio.run(main())
    return out


def main_run(args: argparse.Namespace) -> None:
    arguments = [
        "--megabytes", str(args.megabytes), "--frame-size", str(args.frame_size),
        "--pings", str(args.pings),
    ]  # fmt: skip
    title = (
        f"RFCOMM DLC, {args.megabytes} MB, frame size {args.frame_size}, {args.pings} paced pings"
    )
    print_throughput_table(Path(__file__), args, arguments, title)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--controllers", nargs="+", choices=CONTROLLERS, default=list(CONTROLLERS))
    parser.add_argument("--megabytes", type=float, default=4.0)
    parser.add_argument("--frame-size", type=int, default=1000, help="N1 both sides propose")
    parser.add_argument("--pings", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2, help="runs per case; the fastest counts")
    parser.add_argument("--profile", choices=CONTROLLERS, help="profile bluetrio's transfer")
    parser.add_argument(
        "--profile-sort", default="tottime", help="pstats order (tottime, cumulative, ...)"
    )
    parser.add_argument("--profile-lines", type=int, default=25, help="profile rows printed")
    run_throughput_bench(parser, bluetrio_worker, bumble_worker, main_run)


if __name__ == "__main__":
    main()
