"""RFCOMM between bluetrio and Bumble's RFCOMM (an independent implementation), over Bumble's
own virtual controllers, over bluetrio's served controller and over Root Canal; both
directions, megabytes checked with SHA-256."""

from __future__ import annotations

import contextlib
import hashlib
import random
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from interop_support import TEST_LIMIT, ReportingProcess, reporting_process

from bluetrio import RfcommStream
from bluetrio.address import Address
from bluetrio.stack import open_stack

pytestmark = pytest.mark.interop

pytest.importorskip("bumble")

PEER_SCRIPT = Path(__file__).parent / "peers" / "bumble_rfcomm_peer.py"
CHANNEL = 5
SIZE = 2 * 1024 * 1024
STEP_LIMIT = 90.0  # guards against a hang only: one peer report
# As the peer's FRAME_SIZE: an L2CAP PDU in one ACL packet from Bumble's controller.
FRAME_SIZE = 1000


@pytest.fixture(params=["bumble", "served", "rootcanal"])
def controllers(request: pytest.FixtureRequest) -> str:
    if request.param == "bumble":
        return "bumble"
    fixture = "served_controller_port" if request.param == "served" else "rootcanal_hci_port"
    port = request.getfixturevalue(fixture)
    assert isinstance(port, int)
    return f"tcp-client:127.0.0.1:{port}"


@contextlib.contextmanager
def bumble_peer(controllers: str, log: Path, *extra: str) -> Iterator[tuple[ReportingProcess, str]]:
    command = [sys.executable, str(PEER_SCRIPT), "--channel", str(CHANNEL), *extra]
    if controllers != "bumble":
        command += ["--controller", controllers]
    with reporting_process(command, log, "the Bumble peer") as peer:
        if controllers == "bumble":
            yield peer, f"tcp:127.0.0.1:{peer.reports['PORT']}"
        else:
            yield peer, controllers.replace("tcp-client:", "tcp:", 1)


async def wait_for(peer: ReportingProcess, word: str) -> str:
    return await trio.to_thread.run_sync(peer.wait_for, word, STEP_LIMIT)


async def test_we_open_a_dlc_to_bumble(controllers: str, tmp_path: Path) -> None:
    payload = random.Random(1).randbytes(SIZE)
    with (
        trio.fail_after(TEST_LIMIT),
        bumble_peer(controllers, tmp_path / "bumble.log") as (peer, ours),
    ):
        bumble = Address.parse(peer.reports["ADDRESS"].split("/")[0])
        async with open_stack(ours, bring_up=True) as stack:
            stream = await stack.rfcomm_connect(bumble, channel=CHANNEL, frame_size=FRAME_SIZE)
            await wait_for(peer, "OPENED")
            echoed = hashlib.sha256()
            count = 0
            async with trio.open_nursery() as nursery:
                nursery.start_soon(stream.send_all, payload)
                while count < SIZE:
                    chunk = await stream.receive_some()
                    assert chunk, "the stream ended early"
                    echoed.update(chunk)
                    count += len(chunk)
            assert echoed.hexdigest() == hashlib.sha256(payload).hexdigest()
            await stream.aclose()
            await wait_for(peer, "CLOSED")


async def test_bumble_opens_a_dlc_to_us(controllers: str, tmp_path: Path) -> None:
    async def echo(stream: RfcommStream) -> None:
        async with stream:
            while data := await stream.receive_some():
                await stream.send_all(data)

    extra = ("--open", "-", "--bytes", str(SIZE))
    with (
        trio.fail_after(TEST_LIMIT),
        bumble_peer(controllers, tmp_path / "bumble.log", *extra) as (peer, ours),
    ):
        async with open_stack(ours, bring_up=True) as stack:
            address = (await stack.ready()).address
            await stack.set_discoverable(True)
            async with (
                stack.rfcomm_listen(channel=CHANNEL) as listener,
                trio.open_nursery() as nursery,
            ):
                nursery.start_soon(trio.serve_listeners, echo, [listener])
                peer.tell(str(address))
                await wait_for(peer, "OPENED")
                sent = await wait_for(peer, "SENT")
                count, digest = (await wait_for(peer, "ECHOED")).split()
                assert (int(count), digest) == (SIZE, sent)
                await wait_for(peer, "CLOSED")
                nursery.cancel_scope.cancel()
