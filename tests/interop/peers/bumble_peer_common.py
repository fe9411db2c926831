"""What the BR/EDR Bumble peer scripts share: the controller they run on, bringing the device up
and announcing it, the address to open, and the send-and-echo check.

Every script reports facts on stdout, one ``WORD rest...`` line each, flushed at once
(``interop_support.ReportingProcess`` reads them). With ``--controller SPEC`` the Bumble host
uses that controller (Root Canal, bluetrio's served controller); without it, two Bumble
controllers share one Bumble ``LocalLink`` (``bumble_local_link.py``), the first the host's,
the second served to the test's host over TCP on a port the system picks. Bring-up reports:

    ADDRESS <bd_addr>          its public address
    PORT <port>                (no --controller) where the second controller listens
    READY                      connectable (or about to connect)

An echo check (``--open`` in the L2CAP and RFCOMM peers) sends N pseudo-random octets and
reports:

    SENT <sha256>              the digest of what it sent
    ECHOED <count> <sha256>    what came back, once N octets did
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import sys
from collections.abc import Awaitable, Callable

from bumble.device import Device
from bumble.hci import Address
from bumble.logging import setup_basic_logging
from bumble.transport import open_transport
from bumble_local_link import local_link_controllers


def report(*words: object) -> None:
    print(*words, flush=True)


def pseudo_random(count: int) -> bytes:
    """``count`` octets the test can check by their digest (the same for the same count)."""
    return random.Random(count).randbytes(count)


def classic_only(device: Device) -> None:
    """BR/EDR on, LE off: set before :func:`announce` powers the device on."""
    device.classic_enabled = True
    device.le_enabled = False


async def announce(device: Device, port: int | None) -> None:
    """Power on, connectable and discoverable, then ADDRESS, PORT and READY."""
    await device.power_on()
    await device.set_connectable(True)
    await device.set_discoverable(True)
    report("ADDRESS", device.public_address)
    if port is not None:
        report("PORT", port)
    report("READY")


async def address_to_open(option: str | None) -> str | None:
    """The address of ``--open``/``--find``: ``-`` is the first line of standard input, which
    the test writes once its own host is up."""
    if option == "-":
        return (await asyncio.to_thread(sys.stdin.readline)).strip()
    return option


async def run_until_ended() -> None:
    await asyncio.Event().wait()  # the test terminates the process


class EchoCheck:
    """The octets that come back from a peer that echoes ``count`` of them: a data sink,
    and a wait that reports ECHOED once all came."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.received = bytearray()
        self._done = asyncio.Event()

    def sink(self, data: bytes) -> None:
        self.received.extend(data)
        if len(self.received) >= self.count:
            self._done.set()

    def payload(self) -> bytes:
        """What to send, reported as SENT."""
        payload = pseudo_random(self.count)
        report("SENT", hashlib.sha256(payload).hexdigest())
        return payload

    async def wait(self) -> None:
        await self._done.wait()
        report("ECHOED", len(self.received), hashlib.sha256(self.received).hexdigest())


def controller_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--controller", metavar="SPEC", help="a Bumble transport (tcp-client:HOST:PORT) to use"
    )
    return parser


def run_peer(
    name: str,
    address: Address,
    options: argparse.Namespace,
    set_up: Callable[[Device], None],
    target: str | None,
    act: Callable[[Device, str], Awaitable[None]],
) -> None:
    """Make the BR/EDR device ``name`` (random address ``address``) on the controller the
    options give, ``set_up`` its services, :func:`announce` it, then ``act`` on the address
    ``target`` (``--open``/``--find``, see :func:`address_to_open`) if there is one, and run
    until the test ends the process. Bumble logs warnings (``BUMBLE_LOGLEVEL`` overrides)."""

    async def run(device: Device, port: int | None) -> None:
        classic_only(device)
        set_up(device)
        await announce(device, port)
        opened = await address_to_open(target)
        if opened is not None:
            await act(device, opened)
        await run_until_ended()

    async def on_controller() -> None:
        async with await open_transport(options.controller) as transport:
            await run(Device.with_hci(name, address, transport.source, transport.sink), None)

    async def on_local_link() -> None:
        async with local_link_controllers(bredr=True) as (host, port):
            await run(Device(name=name, address=address, host=host), port)

    setup_basic_logging("WARNING")
    asyncio.run(on_controller() if options.controller else on_local_link())
