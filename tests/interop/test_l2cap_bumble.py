"""BR/EDR basic-mode L2CAP channels between bluetrio and Bumble's host stack (an independent
implementation), over Bumble's own virtual controllers (two on one Bumble LocalLink, each with
its own public address), over bluetrio's served controller and over Root Canal; both
directions, several megabytes checked with SHA-256."""

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

from bluetrio import L2capChannel
from bluetrio.address import Address
from bluetrio.messages.btm import LinkTransport
from bluetrio.stack import open_stack

pytestmark = pytest.mark.interop

pytest.importorskip("bumble")

PEER_SCRIPT = Path(__file__).parent / "peers" / "bumble_classic_l2cap_peer.py"
PSM = 0x1001
SIZE = 3 * 1024 * 1024
# Guards against a hang only: one peer report.
STEP_LIMIT = 90.0
# Bumble's controller hands the host each L2CAP PDU it receives whole, in one ACL packet of
# any length (it does not fragment toward the host), while bluetrio's H4 framer takes a
# BR/EDR ACL packet of at most 1021 octets (a 3-DH5 payload, what a controller forwards as one
# packet) and treats a longer header as noise. So on Bumble's controllers both sides accept
# SDUs of 1017 octets at most (1021 less the basic header); elsewhere 2048.
MTU = {"bumble": 1017}
DEFAULT_MTU = 2048


@pytest.fixture(params=["bumble", "served", "rootcanal"])
def controllers(request: pytest.FixtureRequest) -> str:
    """Where both hosts get their controllers: ``bumble`` (the peer script serves the second
    of its two LocalLink controllers), or a port where every TCP client gets its own
    controller, all on one air or phy (bluetrio's served controller, Root Canal)."""
    if request.param == "bumble":
        return "bumble"
    fixture = "served_controller_port" if request.param == "served" else "rootcanal_hci_port"
    port = request.getfixturevalue(fixture)
    assert isinstance(port, int)
    return f"tcp-client:127.0.0.1:{port}"


@contextlib.contextmanager
def bumble_peer(controllers: str, log: Path, *extra: str) -> Iterator[tuple[ReportingProcess, str]]:
    """The Bumble peer, and the transport spec of the controller our stack is to use."""
    mtu = MTU.get(controllers, DEFAULT_MTU)
    command = [sys.executable, str(PEER_SCRIPT), "--psm", hex(PSM), "--mtu", str(mtu), *extra]
    if controllers != "bumble":
        command += ["--controller", controllers]
    with reporting_process(command, log, "the Bumble peer") as peer:
        if controllers == "bumble":
            yield peer, f"tcp:127.0.0.1:{peer.reports['PORT']}"
        else:
            yield peer, controllers.replace("tcp-client:", "tcp:", 1)


async def wait_for(peer: ReportingProcess, word: str) -> str:
    return await trio.to_thread.run_sync(peer.wait_for, word, STEP_LIMIT)


async def test_we_open_a_channel_to_bumble(controllers: str, tmp_path: Path) -> None:
    payload = random.Random(1).randbytes(SIZE)
    with (
        trio.fail_after(TEST_LIMIT),
        bumble_peer(controllers, tmp_path / "bumble.log") as (peer, ours),
    ):
        bumble = Address.parse(peer.reports["ADDRESS"].split("/")[0])
        mtu = MTU.get(controllers, DEFAULT_MTU)
        async with (
            open_stack(ours, bring_up=True) as stack,
            stack.connect(bumble, transport=LinkTransport.BR_EDR) as link,
        ):
            channel = await link.l2cap_connect(psm=PSM, mtu=mtu)
            assert channel.peer_mtu == mtu
            echoed = hashlib.sha256()
            count = 0
            async with trio.open_nursery() as nursery:
                nursery.start_soon(channel.send_all, payload)
                while count < SIZE:
                    chunk = await channel.receive_some()
                    assert chunk, "the channel closed early"
                    echoed.update(chunk)
                    count += len(chunk)
            assert echoed.hexdigest() == hashlib.sha256(payload).hexdigest()
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
        bumble_peer(controllers, tmp_path / "bumble.log", *extra) as (peer, ours),
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
