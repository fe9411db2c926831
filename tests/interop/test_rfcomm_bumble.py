"""RFCOMM between bluetrio and Bumble's RFCOMM (an independent implementation), over Bumble's
own virtual controllers, over bluetrio's served controller and over Root Canal; both
directions, megabytes checked with SHA-256."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from bumble_classic_support import (
    CONTROLLER_KINDS,
    bumble_peer,
    controller_spec,
    peer_address,
    send_and_check_echo,
    wait_for,
)
from interop_support import TEST_LIMIT, ReportingProcess

from bluetrio import RfcommStream
from bluetrio.stack import open_stack

pytestmark = pytest.mark.interop

pytest.importorskip("bumble")

CHANNEL = 5
SIZE = 2 * 1024 * 1024
# As the peer's FRAME_SIZE: an L2CAP PDU in one ACL packet from Bumble's controller.
FRAME_SIZE = 1000


@pytest.fixture(params=CONTROLLER_KINDS)
def controllers(request: pytest.FixtureRequest) -> str:
    return controller_spec(request)


@contextlib.contextmanager
def rfcomm_peer(controllers: str, log: Path, *extra: str) -> Iterator[tuple[ReportingProcess, str]]:
    arguments = ("--channel", str(CHANNEL), *extra)
    with bumble_peer("bumble_rfcomm_peer.py", controllers, log, *arguments) as started:
        yield started


async def test_we_open_a_dlc_to_bumble(controllers: str, tmp_path: Path) -> None:
    payload = random.Random(1).randbytes(SIZE)
    with (
        trio.fail_after(TEST_LIMIT),
        rfcomm_peer(controllers, tmp_path / "bumble.log") as (peer, ours),
    ):
        bumble = peer_address(peer)
        async with open_stack(ours, bring_up=True) as stack:
            stream = await stack.rfcomm_connect(bumble, channel=CHANNEL, frame_size=FRAME_SIZE)
            await wait_for(peer, "OPENED")
            await send_and_check_echo(stream, payload)
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
        rfcomm_peer(controllers, tmp_path / "bumble.log", *extra) as (peer, ours),
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
