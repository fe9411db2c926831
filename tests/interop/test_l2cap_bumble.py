"""BR/EDR basic-mode L2CAP channels between bluetrio and Bumble's host stack (an independent
implementation), over Bumble's own virtual controllers (two on one Bumble LocalLink, each with
its own public address), over bluetrio's served controller and over Root Canal; both
directions, several megabytes checked with SHA-256."""

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

from bluetrio import L2capChannel
from bluetrio.messages.btm import LinkTransport
from bluetrio.stack import open_stack

pytestmark = pytest.mark.interop

pytest.importorskip("bumble")

PSM = 0x1001
SIZE = 3 * 1024 * 1024
# Bumble's controller hands the host each L2CAP PDU it receives whole, in one ACL packet of
# any length (it does not fragment toward the host). bluetrio announces with Host_Buffer_Size
# the ACL length it takes (Core 5.4 Vol 4 Part E 7.3.39) and its H4 framer accepts that much,
# so the same 2048-octet MTU works on every controller; before bring-up sent it, the framer
# refused a packet longer than the controller's 1021-octet buffers as noise on Bumble's.
MTU: dict[str, int] = {}
DEFAULT_MTU = 2048


@pytest.fixture(params=CONTROLLER_KINDS)
def controllers(request: pytest.FixtureRequest) -> str:
    return controller_spec(request)


@contextlib.contextmanager
def l2cap_peer(controllers: str, log: Path, *extra: str) -> Iterator[tuple[ReportingProcess, str]]:
    mtu = MTU.get(controllers, DEFAULT_MTU)
    arguments = ("--psm", hex(PSM), "--mtu", str(mtu), *extra)
    with bumble_peer("bumble_classic_l2cap_peer.py", controllers, log, *arguments) as started:
        yield started


async def test_we_open_a_channel_to_bumble(controllers: str, tmp_path: Path) -> None:
    payload = random.Random(1).randbytes(SIZE)
    with (
        trio.fail_after(TEST_LIMIT),
        l2cap_peer(controllers, tmp_path / "bumble.log") as (peer, ours),
    ):
        bumble = peer_address(peer)
        mtu = MTU.get(controllers, DEFAULT_MTU)
        async with (
            open_stack(ours, bring_up=True) as stack,
            stack.connect(bumble, transport=LinkTransport.BR_EDR) as link,
        ):
            channel = await link.l2cap_connect(psm=PSM, mtu=mtu)
            assert channel.peer_mtu == mtu
            await send_and_check_echo(channel, payload)
            await channel.aclose()
            await wait_for(peer, "CLOSED")


async def test_bumble_opens_a_channel_to_us(controllers: str, tmp_path: Path) -> None:
    async def echo(channel: L2capChannel) -> None:
        async with channel:
            while data := await channel.receive_sdu():
                await channel.send_sdu(data)

    extra = ("--open", "-", "--bytes", str(SIZE))
    mtu = MTU.get(controllers, DEFAULT_MTU)
    with (
        trio.fail_after(TEST_LIMIT),
        l2cap_peer(controllers, tmp_path / "bumble.log", *extra) as (peer, ours),
    ):
        async with open_stack(ours, bring_up=True) as stack:
            address = (await stack.ready()).address
            await stack.set_discoverable(True)
            async with (
                stack.l2cap_listen(psm=PSM, mtu=mtu) as listener,
                trio.open_nursery() as nursery,
            ):
                nursery.start_soon(trio.serve_listeners, echo, [listener])
                peer.tell(str(address))  # the peer pages us only now that we listen
                assert int(await wait_for(peer, "OPENED")) == mtu
                sent = await wait_for(peer, "SENT")
                count, digest = (await wait_for(peer, "ECHOED")).split()
                assert (int(count), digest) == (SIZE, sent)
                nursery.cancel_scope.cancel()
