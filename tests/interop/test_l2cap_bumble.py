"""BR/EDR basic-mode L2CAP channels between bluetrio and Bumble's host stack (an independent
implementation), over bluetrio's served controller and over Root Canal; both directions,
several megabytes checked with SHA-256."""

from __future__ import annotations

import hashlib
import random
import sys
from pathlib import Path

import pytest
import trio
from interop_support import ReportingProcess, reporting_process

from bluetrio import L2capChannel
from bluetrio.address import Address
from bluetrio.messages.btm import LinkTransport
from bluetrio.stack import open_stack

pytestmark = pytest.mark.interop

pytest.importorskip("bumble")

PEER_SCRIPT = Path(__file__).parent / "peers" / "bumble_classic_l2cap_peer.py"
PSM = 0x1001
SIZE = 3 * 1024 * 1024
# Guards against a hang only.
STEP_LIMIT = 120.0


@pytest.fixture(params=["served", "rootcanal"])
def controller_port(request: pytest.FixtureRequest) -> int:
    """A port where every TCP client gets its own controller, all on one air or phy."""
    fixture = "served_controller_port" if request.param == "served" else "rootcanal_hci_port"
    port = request.getfixturevalue(fixture)
    assert isinstance(port, int)
    return port


async def wait_for(peer: ReportingProcess, word: str) -> str:
    return await trio.to_thread.run_sync(peer.wait_for, word, STEP_LIMIT)


def peer_command(port: int, *extra: str) -> list[str]:
    return [sys.executable, str(PEER_SCRIPT), f"tcp-client:127.0.0.1:{port}",
            "--psm", hex(PSM), *extra]  # fmt: skip


async def test_we_open_a_channel_to_bumble(controller_port: int, tmp_path: Path) -> None:
    command = peer_command(controller_port)
    with reporting_process(command, tmp_path / "bumble.log", "the Bumble peer") as peer:
        bumble = Address.parse(peer.reports["ADDRESS"].split("/")[0])
        payload = random.Random(1).randbytes(SIZE)
        async with open_stack(f"tcp:127.0.0.1:{controller_port}", bring_up=True) as stack:
            with trio.fail_after(STEP_LIMIT):
                async with stack.connect(bumble, transport=LinkTransport.BR_EDR) as link:
                    channel = await link.l2cap_connect(psm=PSM, mtu=2048)
                    assert channel.peer_mtu == 2048
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


async def test_bumble_opens_a_channel_to_us(controller_port: int, tmp_path: Path) -> None:
    async def echo(channel: L2capChannel) -> None:
        async with channel:
            while data := await channel.receive_sdu():
                await channel.send_sdu(data)

    async with open_stack(f"tcp:127.0.0.1:{controller_port}", bring_up=True) as stack:
        ours = (await stack.ready()).address
        await stack.set_discoverable(True)
        async with (
            stack.l2cap_listen(psm=PSM, mtu=2048) as listener,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(trio.serve_listeners, echo, [listener])
            command = peer_command(controller_port, "--open", str(ours), "--bytes", str(SIZE))
            with reporting_process(command, tmp_path / "bumble.log", "the Bumble peer") as peer:
                assert int(await wait_for(peer, "OPENED")) == 2048
                sent = await wait_for(peer, "SENT")
                count, digest = (await wait_for(peer, "ECHOED")).split()
                assert (int(count), digest) == (SIZE, sent)
            nursery.cancel_scope.cancel()
