"""What the BR/EDR interop tests against the Bumble peer scripts (``peers/bumble_*_peer.py``)
share: where both hosts get their controllers, starting a peer, waiting for its reports, and
the megabytes sent and checked as they come back."""

from __future__ import annotations

import contextlib
import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from interop_support import ReportingProcess, reporting_process

from bluetrio.address import Address

PEERS = Path(__file__).parent / "peers"
# Where both hosts get their controllers: ``bumble`` (the peer script serves the second of its
# two LocalLink controllers), or a port where every TCP client gets its own controller, all on
# one air or phy (bluetrio's served controller, Root Canal).
CONTROLLER_KINDS = ("bumble", "served", "rootcanal")
# Guards against a hang only: one peer report.
STEP_LIMIT = 90.0


def controller_spec(request: pytest.FixtureRequest) -> str:
    """The controllers of a test parametrised over :data:`CONTROLLER_KINDS`: ``bumble``, or
    the Bumble transport of the served controller's or Root Canal's port."""
    if request.param == "bumble":
        return "bumble"
    fixture = "served_controller_port" if request.param == "served" else "rootcanal_hci_port"
    port = request.getfixturevalue(fixture)
    assert isinstance(port, int)
    return f"tcp-client:127.0.0.1:{port}"


@contextlib.contextmanager
def bumble_peer(
    script: str, controllers: str, log: Path, *arguments: str
) -> Iterator[tuple[ReportingProcess, str]]:
    """The peer ``script`` run with ``arguments`` until READY, and the transport spec of the
    controller our stack is to use."""
    command = [sys.executable, str(PEERS / script), *arguments]
    if controllers != "bumble":
        command += ["--controller", controllers]
    with reporting_process(command, log, f"the Bumble peer {script}") as peer:
        if controllers == "bumble":
            yield peer, f"tcp:127.0.0.1:{peer.reports['PORT']}"
        else:
            yield peer, controllers.replace("tcp-client:", "tcp:", 1)


def peer_address(peer: ReportingProcess) -> Address:
    return Address.parse(peer.reports["ADDRESS"].split("/")[0])


async def wait_for(peer: ReportingProcess, word: str) -> str:
    return await trio.to_thread.run_sync(peer.wait_for, word, STEP_LIMIT)


async def send_and_check_echo(stream: trio.abc.Stream, payload: bytes) -> None:
    """Send ``payload`` on ``stream`` while reading it back from a peer that echoes it;
    every octet must come back, in order."""
    echoed = hashlib.sha256()
    count = 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stream.send_all, payload)
        while count < len(payload):
            chunk = await stream.receive_some()
            assert chunk, "the stream ended early"
            echoed.update(chunk)
            count += len(chunk)
    assert echoed.hexdigest() == hashlib.sha256(payload).hexdigest()
