"""What the benches share: controllers in their own processes, CPU of another process,
wake-up counters for Trio and asyncio, two bluetrio stacks or two Bumble devices linked over LE.

Nothing here is part of bluetrio; the benches import it from ``bench/``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import trio

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from bluetrio.actors.effects import Effects  # noqa: E402
from bluetrio.actors.runtime import Actor  # noqa: E402
from bluetrio.actors.topology import Layer, LayerSpec  # noqa: E402
from bluetrio.messages.base import Message  # noqa: E402
from bluetrio.messages.hci_service import (  # noqa: E402
    AclDataInd,
    AclDataReq,
    AclLinkClosedInd,
    AclLinkOpenedInd,
)

# The L2CAP channel the raw PDUs are addressed to: an LE fixed channel nobody else uses
# (Vol 3 Part A 2.1 reserves 0x0020-0x003E for fixed channels).
BENCH_CID = 0x003E
CONTROLLERS = ("local", "served", "rootcanal")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def l2cap_pdu(payload: bytes, cid: int = BENCH_CID) -> bytes:
    """A basic-mode L2CAP frame: Length, Channel ID, payload (Vol 3 Part A 3.1)."""
    return len(payload).to_bytes(2, "little") + cid.to_bytes(2, "little") + payload


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        listening = Path("/proc/net/tcp").read_text()
        if f":{port:04X} 00000000:0000 0A" in listening:
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port}")


@contextlib.contextmanager
def controller_process(kind: str) -> Iterator[tuple[str | None, int | None]]:
    """A fresh controller server for one case: (``tcp:127.0.0.1:PORT``, its pid).

    ``local`` runs nothing (each stack brings its own in-process controller).
    ``served`` is ``bluetrio controller --listen``; ``rootcanal`` is Root Canal's binary,
    where each connection to the HCI port is a new dual-mode controller on one phy.
    """
    if kind == "local":
        yield None, None
        return
    port = free_port()
    if kind == "served":
        command = [sys.executable, "-m", "bluetrio.cli.main", "controller", "--listen",
                   f"tcp:127.0.0.1:{port}"]  # fmt: skip
        environment = dict(os.environ, PYTHONPATH=str(REPOSITORY))
    else:
        from rootcanal.binaries import get_package_binary_resource_path

        others = [free_port() for _ in range(3)]
        command = [str(get_package_binary_resource_path("rootcanal")),
                   f"-test_port={others[0]}", f"-hci_port={port}",
                   f"-link_port={others[1]}", f"-link_ble_port={others[2]}"]  # fmt: skip
        environment = dict(os.environ)
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment
    )
    try:
        _wait_listening(port, process, kind)
        yield f"tcp:127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_worker(script: Path, arguments: list[str]) -> dict[str, Any]:
    """Run one case in a fresh interpreter (clean CPU and memory figures); its last stdout
    line is a JSON object."""
    environment = dict(os.environ, PYTHONPATH=str(REPOSITORY))
    done = subprocess.run(
        [sys.executable, str(script), *arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# -- wake-up counters ------------------------------------------------------------------------


class TrioStepCounter(trio.abc.Instrument):
    """Counts Trio task steps (each is one task switch) while ``active``."""

    def __init__(self) -> None:
        self.steps = 0
        self.active = False

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.active:
            self.steps += 1


class AsyncioCallbackCounter:
    """Counts asyncio callbacks run (task steps and ``call_soon`` callbacks) while active."""

    def __init__(self) -> None:
        self.steps = 0
        self.active = False
        original = asyncio.events.Handle._run
        counter = self

        def counted(handle: asyncio.events.Handle) -> None:
            if counter.active:
                counter.steps += 1
            original(handle)

        asyncio.events.Handle._run = counted  # type: ignore[method-assign]


# -- bluetrio: a raw-ACL stand-in for L2CAP --------------------------------------------------


HCI = str(Layer.HCI)  # a plain str: it is looked up on every send


class RawAclPort(Actor):
    """Stands where L2CAP will be (layer ``l2cap``): counts whole PDUs received, and
    optionally echoes each back on its link. Until L2CAP exists the benches move raw ACL with
    the internal ``AclDataReq``/``AclDataInd``."""

    def __init__(self) -> None:
        super().__init__(_RawAclCore())
        self.received = 0
        self.echo = False
        self._changed = trio.Event()

    def dispatch(self, sender: str, message: Message, now: float) -> None:
        if type(message) is AclDataInd:
            self.received += len(message.pdus)  # type: ignore[attr-defined]
            if self.echo:
                self.send(message.handle, message.pdus)  # type: ignore[attr-defined]
            self._changed.set()

    async def wait_beyond(self, count: int) -> None:
        while self.received <= count:
            self._changed = trio.Event()
            await self._changed.wait()

    def send(self, handle: int, pdus: tuple[bytes, ...]) -> None:
        self.runtime.send(self.name, "hci", AclDataReq(handle, pdus))


class _RawAclCore:
    spec = LayerSpec(Layer.L2CAP, handles=(AclLinkOpenedInd, AclDataInd, AclLinkClosedInd))

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        raise AssertionError("RawAclPort dispatches itself")

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return []


@contextlib.asynccontextmanager
async def bluetrio_pair(
    spec: str | None,
) -> AsyncIterator[tuple[Any, Any, RawAclPort, RawAclPort, int]]:
    """Two brought-up stacks and an LE link from A (central) to B: (a, b, ports, A's handle)."""
    from bluetrio.stack import open_stack

    transport = spec if spec is not None else "virtual"
    port_a, port_b = RawAclPort(), RawAclPort()
    async with (
        open_stack(transport, bring_up=True, extra_layers=[port_a]) as a,
        open_stack(transport, bring_up=True, extra_layers=[port_b]) as b,
    ):
        b_address = (await b.ready()).address
        async with b.advertise(), a.connect(b_address, timeout=10) as link:
            yield a, b, port_a, port_b, link.handle


# -- Bumble --------------------------------------------------------------------------------


class BumbleCounter:
    """Bumble's side of the same thing: a fixed-channel handler counting and echoing PDUs."""

    def __init__(self, device: Any) -> None:
        self.device = device
        self.received = 0
        self.echo = False
        self._changed = asyncio.Event()
        device.l2cap_channel_manager.register_fixed_channel(BENCH_CID, self.on_pdu)

    def on_pdu(self, handle: int, pdu: bytes) -> None:
        self.received += 1
        if self.echo:
            self.device.send_l2cap_pdu(handle, BENCH_CID, pdu)
        self._changed.set()

    async def wait_beyond(self, count: int) -> None:
        while self.received <= count:
            self._changed.clear()
            await self._changed.wait()


def set_bumble_le_buffers(controller: Any, length: int = 251, count: int = 8) -> None:
    """Give a Bumble controller the LE buffers of ours (its default is 27 B x 64)."""
    controller.le_acl_data_packet_length = length
    controller.total_num_le_acl_data_packets = count


@contextlib.asynccontextmanager
async def bumble_devices(
    spec: str | None, count: int = 2, *, classic: bool = False, power_on: bool = True
) -> AsyncIterator[list[Any]]:
    """``count`` Bumble devices with distinct addresses, powered on unless ``power_on`` is
    False: on one LocalLink when ``spec`` is None, else each on its own connection to the
    controller server ``spec``. ``classic``: BR/EDR enabled too."""
    from bumble.controller import Controller
    from bumble.device import Device
    from bumble.hci import Address
    from bumble.host import Host
    from bumble.link import LocalLink
    from bumble.transport import open_transport
    from bumble.transport.common import AsyncPipeSink

    devices = []
    async with contextlib.AsyncExitStack() as stack:
        link = LocalLink() if spec is None else None  # type: ignore[no-untyped-call]
        for index in range(count):
            random_address = Address(
                f"C0:00:00:{index >> 16 & 0xFF:02X}:{index >> 8 & 0xFF:02X}:{index & 0xFF:02X}"
            )
            if link is not None:
                # Bumble's controllers default to 00:00:00:00:00:00: give each its own, never
                # that one (Bumble takes it for "any address" when it accepts a BR/EDR link).
                n = index + 1
                public = f"00:00:00:{n >> 16 & 0xFF:02X}:{n >> 8 & 0xFF:02X}:{n & 0xFF:02X}"
                controller = Controller(f"c{index}", link=link, public_address=public)
                set_bumble_le_buffers(controller)
                host = Host(controller_source=controller, controller_sink=AsyncPipeSink(controller))
                device = Device(name=f"d{index}", address=random_address, host=host)
            else:
                host_port = spec.replace("tcp:", "tcp-client:", 1)
                transport = await stack.enter_async_context(await open_transport(host_port))
                device = Device.with_hci(
                    f"d{index}", random_address, transport.source, transport.sink
                )
            device.classic_enabled = classic
            if power_on:
                await device.power_on()
            devices.append(device)
        yield devices


@contextlib.asynccontextmanager
async def bumble_pair(
    spec: str | None,
) -> AsyncIterator[tuple[Any, Any, BumbleCounter, BumbleCounter, int]]:
    """Two Bumble devices and an LE link from A (central) to B."""
    async with bumble_devices(spec) as (a, b):
        counter_a, counter_b = BumbleCounter(a), BumbleCounter(b)
        await b.start_advertising(auto_restart=False)
        connection = await a.connect(b.random_address)
        yield a, b, counter_a, counter_b, connection.handle
        await connection.disconnect()


def run_throughput_bench(
    parser: argparse.ArgumentParser,
    bluetrio_worker: Callable[[argparse.Namespace], Any],
    bumble_worker: Callable[[argparse.Namespace], Any],
    main_run: Callable[[argparse.Namespace], None],
) -> None:
    """The command line every L2CAP throughput bench shares: with the hidden ``--worker`` a
    fresh interpreter runs one stack's case and prints its JSON summary; ``--profile`` runs
    bluetrio's case on one controller in this process (for a profiler); otherwise the whole
    side-by-side run."""
    parser.add_argument(
        "--worker", choices=("bluetrio", "bumble"), dest="stack", help=argparse.SUPPRESS
    )
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stack:
        args.profile = False
        summary_json((bluetrio_worker if args.stack == "bluetrio" else bumble_worker)(args))
    elif args.profile:
        with controller_process(args.profile) as (spec, _pid):
            args.spec, args.profile = spec, True
            print(bluetrio_worker(args))
    else:
        main_run(args)


def fastest_runs(
    script: Path,
    controller: str,
    repeat: int,
    arguments: list[str],
    *,
    controller_pid: bool = False,
) -> dict[str, dict[str, Any]]:
    """Run ``script``'s worker for bluetrio and Bumble ``repeat`` times each, alternating so
    both see the same load, each case in a fresh interpreter on a fresh ``controller``; the
    fastest run (by ``mb_per_s``) of each stack, ``{}`` where none succeeded. A failed run is
    reported on standard error. ``controller_pid``: pass the controller's pid to the worker
    (``--controller-pid``) to measure its CPU."""
    runs: dict[str, list[dict[str, Any]]] = {"bluetrio": [], "bumble": []}
    for _ in range(repeat):
        for stack in ("bluetrio", "bumble"):
            with controller_process(controller) as (spec, pid):
                command = ["--worker", stack, *arguments]
                if spec:
                    command += ["--spec", spec]
                    if controller_pid:
                        command += ["--controller-pid", str(pid)]
                run = run_worker(script, command)
            if "error" in run:
                print(f"{controller}/{stack}: {run['error']}", file=sys.stderr)
            else:
                runs[stack].append(run)
    # The fastest run: the others only add the noise of a shared machine.
    return {
        stack: max(done, key=lambda run: run["mb_per_s"], default={})
        for stack, done in runs.items()
    }


def print_throughput_table(
    script: Path, args: argparse.Namespace, arguments: list[str], title: str
) -> None:
    """The side-by-side run of a throughput bench: for each of ``args.controllers`` the
    fastest of ``args.repeat`` runs per stack (:func:`fastest_runs`), printed as throughput,
    CPU of the bench process per MB moved (both hosts; with ``local`` both controllers too)
    and round trip, each with its ratio (bluetrio over Bumble)."""
    rows = []
    for controller in args.controllers:
        best = fastest_runs(script, controller, args.repeat, arguments)
        ours, theirs = best["bluetrio"], best["bumble"]
        rows.append(
            [
                controller,
                *compared(ours, theirs, "mb_per_s"),
                *compared(ours, theirs, "cpu_per_mb", 3),
                *compared(ours, theirs, "rtt_ms", 3),
            ]
        )
    print(f"{title}, best of {args.repeat}; cells are bluetrio / Bumble")
    headers = ["controller", "MB/s", "ratio", "host CPU-s/MB", "ratio", "round trip ms", "ratio"]
    print_table(headers, rows)


def compared(ours: dict[str, Any], theirs: dict[str, Any], key: str, digits: int = 2) -> list[str]:
    """Two table cells: ``key`` of both runs ("bluetrio / Bumble") and their ratio."""
    cell = f"{fmt(ours.get(key), digits)} / {fmt(theirs.get(key), digits)}"
    return [cell, ratio(ours.get(key), theirs.get(key))]


def summary_json(result: dict[str, Any]) -> None:
    print(json.dumps(result), flush=True)


def ratio(mine: float | None, theirs: float | None) -> str:
    if not mine or not theirs:
        return "-"
    return f"{mine / theirs:.2f}x"


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(headers[i]), *(len(row[i]) for row in rows)) for i in range(len(headers))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


Callback = Callable[[], None]


def count_bumble_commands(device: Any) -> list[int]:
    """Opcodes of every HCI command the Bumble host sends from now on."""
    from bumble import hci

    opcodes: list[int] = []
    host = device.host
    original = host.send_hci_packet

    def counted(packet: Any) -> None:
        if isinstance(packet, hci.HCI_Command):
            opcodes.append(packet.op_code)
        original(packet)

    host.send_hci_packet = counted
    return opcodes
