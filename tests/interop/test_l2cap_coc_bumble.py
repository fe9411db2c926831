"""LE credit-based channels between bluetrio and Bumble's host (an independent peer): over
Bumble's virtual controllers (two on one Bumble LocalLink), over bluetrio's served controller
and over Root Canal; we open a channel to Bumble's echo server, and Bumble opens one to our
listener; the data each way checked with a digest (Core 5.4 Vol 3 Part A 4.22, 10.1)."""

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
from bluetrio.address import Address, AddressType
from bluetrio.messages.ad import AdvertisingData, Flags, LocalName
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.l2cap_credit_service import CreditMode
from bluetrio.stack import open_stack

pytestmark = pytest.mark.interop

pytest.importorskip("bumble")

PEERS = Path(__file__).parent / "peers"
SPSM = 0x0081
MEGABYTES = 3
# Octets each way on a controller server: Root Canal moves LE data slowly (its HCI socket
# answers back-to-back exchanges late, held by delayed ACKs), so a modest amount there.
OUTSIDE_SIZE = {"served": MEGABYTES * 1_000_000, "rootcanal": 300_000}
# Guards against a hang only.
STEP_LIMIT = 60.0


def pseudo_random(count: int) -> bytes:
    """What the peer script sends (the same generator and seed)."""
    return random.Random(count).randbytes(count)


@contextlib.contextmanager
def peer_process(tmp_path: Path, *arguments: str) -> Iterator[ReportingProcess]:
    command = [
        sys.executable,
        str(PEERS / "bumble_le_coc_peer.py"),
        "--spsm",
        hex(SPSM),
        *arguments,
    ]
    with reporting_process(command, tmp_path / "coc-peer.log", "Bumble LE CoC peer") as peer:
        yield peer


async def expect_echo(channel: L2capChannel, data: bytes) -> None:
    """Send ``data`` while reading the peer's echo; the echo must be the same octets."""
    echoed = bytearray()

    async def receive() -> None:
        while len(echoed) < len(data):
            echoed.extend(await channel.receive_some())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receive)
        await channel.send_all(data)
    assert hashlib.sha256(echoed).digest() == hashlib.sha256(data).digest()


@pytest.fixture
def bumble_echo(tmp_path: Path) -> Iterator[ReportingProcess]:
    with peer_process(tmp_path) as peer:
        yield peer


async def test_we_open_a_channel_to_bumble_and_it_echoes_megabytes(
    bumble_echo: ReportingProcess,
) -> None:
    with trio.fail_after(TEST_LIMIT):
        spec = f"tcp:127.0.0.1:{bumble_echo.reports['PORT']}"
        peer = Address.parse(bumble_echo.reports["ADDRESS"].split("/")[0], AddressType.RANDOM)
        data = pseudo_random(MEGABYTES * 1_000_000)
        with trio.fail_after(STEP_LIMIT):
            async with open_stack(spec, bring_up=True) as stack, stack.connect(peer) as link:
                channel = await link.l2cap_connect(spsm=SPSM, mtu=2048, mps=247, credits=64)
                assert channel.mode is CreditMode.LE_CREDIT_BASED
                assert channel.peer_mtu == 2048  # Bumble's default
                await expect_echo(channel, data)
                await channel.aclose()
        bumble_echo.wait_for("CLOSED")


async def test_bumble_opens_a_channel_to_our_listener(tmp_path: Path) -> None:
    with trio.fail_after(TEST_LIMIT):
        name = "bluetrio-coc"
        size = MEGABYTES * 1_000_000
        arguments = ("--open", name, "--bytes", str(size), "--sdu", "2000")
        with peer_process(tmp_path, *arguments) as peer:
            spec = f"tcp:127.0.0.1:{peer.reports['PORT']}"
            received = bytearray()
            with trio.fail_after(STEP_LIMIT):
                async with (
                    open_stack(spec, bring_up=True) as stack,
                    stack.l2cap_listen(spsm=SPSM, transport=LinkTransport.LE, mtu=4096) as listener,
                    stack.advertise(AdvertisingData([Flags(0x06), LocalName(name)])),
                ):
                    channel = await listener.accept()
                    assert channel.peer_mtu == 2048
                    # Echo every SDU back as it came.
                    while len(received) < size:
                        sdu = await channel.receive_sdu()
                        received.extend(sdu)
                        await channel.send_sdu(sdu)
                    opened = await trio.to_thread.run_sync(peer.wait_for, "ECHOED")
            sent = peer.reports["SENT"]
            assert hashlib.sha256(received).hexdigest() == sent == pseudo_random_digest(size)
            assert opened.split() == [str(size), sent]


def pseudo_random_digest(size: int) -> str:
    return hashlib.sha256(pseudo_random(size)).hexdigest()


@pytest.fixture(params=["served", "rootcanal"])
def outside_controller(request: pytest.FixtureRequest) -> tuple[int, int]:
    """A port where every TCP client gets its own controller, all on one air or phy
    (bluetrio's served controller, Root Canal), and how many octets to move there."""
    fixture = "served_controller_port" if request.param == "served" else "rootcanal_hci_port"
    port = request.getfixturevalue(fixture)
    assert isinstance(port, int)
    return port, OUTSIDE_SIZE[request.param]


async def test_bumble_opens_an_le_channel_to_our_listener_on_an_outside_controller(
    tmp_path: Path, outside_controller: tuple[int, int]
) -> None:
    """Our host and Bumble's, each on its own controller of one server: Bumble finds our
    advertisement, connects, opens a channel to our listener, and we echo what it sends."""
    port, size = outside_controller
    name = "bluetrio-coc"
    received = bytearray()
    with trio.fail_after(TEST_LIMIT):
        async with (
            open_stack(f"tcp:127.0.0.1:{port}", bring_up=True) as stack,
            stack.l2cap_listen(spsm=SPSM, transport=LinkTransport.LE, mtu=2048) as listener,
            stack.advertise(AdvertisingData([Flags(0x06), LocalName(name)])),
        ):
            controller = f"tcp-client:127.0.0.1:{port}"
            arguments = ("--controller", controller, "--open", name, "--bytes", str(size))
            with peer_process(tmp_path, *arguments) as peer:
                channel = await listener.accept()
                assert channel.mode is CreditMode.LE_CREDIT_BASED
                while len(received) < size:
                    sdu = await channel.receive_sdu()
                    received.extend(sdu)
                    await channel.send_sdu(sdu)
                echoed = await trio.to_thread.run_sync(peer.wait_for, "ECHOED", STEP_LIMIT)
    sent = peer.reports["SENT"]
    assert hashlib.sha256(received).hexdigest() == sent == pseudo_random_digest(size)
    assert echoed.split() == [str(size), sent]


async def test_we_open_an_le_channel_to_bumble_on_an_outside_controller(
    tmp_path: Path, outside_controller: tuple[int, int]
) -> None:
    """Our host and Bumble's, each on its own controller of one server: we open, Bumble
    echoes."""
    port, size = outside_controller
    data = pseudo_random(size)
    with trio.fail_after(TEST_LIMIT):
        async with open_stack(f"tcp:127.0.0.1:{port}", bring_up=True) as stack:
            arguments = ("--controller", f"tcp-client:127.0.0.1:{port}")
            with peer_process(tmp_path, *arguments) as peer:
                address = peer.reports["ADDRESS"].split("/")[0]
                async with stack.connect(Address.parse(address, AddressType.RANDOM)) as link:
                    channel = await link.l2cap_connect(spsm=SPSM, mtu=2048)
                    await expect_echo(channel, data)
                    await channel.aclose()
                await trio.to_thread.run_sync(peer.wait_for, "CLOSED", STEP_LIMIT)
