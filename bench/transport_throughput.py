"""Packets per second through bluetrio's transports (a benchmark, not a pass/fail test).

Measures, for ACL packets of a few sizes:
* the sans-IO H4 framer alone (bytes already in memory),
* ``transport_pair`` (in-process memory channels),
* H4 over a Unix socket, host to controller and controller to host (``serve_h4``).

Run: ``python bench/transport_throughput.py [--count N]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from bluetrio.messages.packets import PacketType
from bluetrio.transports.base import Transport
from bluetrio.transports.h4 import H4Framer, H4Role, encode
from bluetrio.transports.socket import open_socket_transport, serve_h4
from bluetrio.transports.spec import UnixSpec
from bluetrio.transports.virtual import transport_pair

PAYLOAD_SIZES = (27, 251, 1021)


def acl_packet(data_length: int) -> bytes:
    return bytes.fromhex("0120") + data_length.to_bytes(2, "little") + bytes(data_length)


def framer_rate(count: int, data_length: int) -> float:
    wire = encode(PacketType.ACL, acl_packet(data_length)) * count
    framer = H4Framer(H4Role.HOST)
    chunk = 65536
    start = time.perf_counter()
    received = 0
    for offset in range(0, len(wire), chunk):
        received += len(framer.feed(wire[offset : offset + chunk]))
    elapsed = time.perf_counter() - start
    assert received == count
    return count / elapsed


async def pump(sender: Transport, receiver: Transport, count: int, data_length: int) -> float:
    """Send ``count`` ACL packets one way as fast as possible; packets per second."""
    payload = acl_packet(data_length)

    async def send_all() -> None:
        for _ in range(count):
            await sender.send(PacketType.ACL, payload)

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_all)
        for _ in range(count):
            await receiver.receive()
    return count / (time.perf_counter() - start)


async def pair_rate(count: int, data_length: int) -> float:
    host, controller = transport_pair()
    return await pump(host, controller, count, data_length)


async def unix_rate(count: int, data_length: int, *, to_host: bool) -> float:
    result: list[float] = []
    measured = trio.Event()

    async def controller(transport: Transport) -> None:
        host = host_box[0]
        sender, receiver = (transport, host) if to_host else (host, transport)
        result.append(await pump(sender, receiver, count, data_length))
        measured.set()

    host_box: list[Transport] = []
    with tempfile.TemporaryDirectory() as directory:
        spec = UnixSpec(str(Path(directory) / "h4.sock"))
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_h4, spec, controller)
            host = await open_socket_transport(spec)
            host_box.append(host)
            async with host:
                await measured.wait()
            nursery.cancel_scope.cancel()
    return result[0]


def report(name: str, rates: dict[int, float]) -> None:
    cells = "  ".join(f"{size:>5} B: {rate:>10,.0f}/s" for size, rate in rates.items())
    print(f"{name:<32} {cells}")


async def measure_async(
    count: int, measure: Callable[[int, int], Awaitable[float]]
) -> dict[int, float]:
    return {size: await measure(count, size) for size in PAYLOAD_SIZES}


async def main_async(count: int) -> None:
    report("H4Framer.feed (parse only)", {s: framer_rate(count * 4, s) for s in PAYLOAD_SIZES})
    report("transport_pair", await measure_async(count, pair_rate))

    async def host_to_controller(n: int, size: int) -> float:
        return await unix_rate(n, size, to_host=False)

    async def controller_to_host(n: int, size: int) -> float:
        return await unix_rate(n, size, to_host=True)

    report("unix socket H4, host->controller", await measure_async(count, host_to_controller))
    report("unix socket H4, controller->host", await measure_async(count, controller_to_host))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50_000, help="packets per measurement")
    args = parser.parse_args()
    trio.run(main_async, args.count)


if __name__ == "__main__":
    main()
