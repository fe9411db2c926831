"""Enhanced ATT bearers between bluetrio and Bumble's host (an independent EATT, Core 5.4 Vol 3
Part F 3.2.11, Part G 5.3.2), over Bumble's controllers on its LocalLink: we open three
bearers to Bumble's GATT server once the link is encrypted and spread parallel reads over
them; Bumble opens three to ours and sends a request on each at once."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from interop_support import TEST_LIMIT, ReportingProcess, reporting_process

from bluetrio.actors.gatt.config import DEFAULT_EATT_BEARERS
from bluetrio.actors.gatt.core import GattCore
from bluetrio.actors.gatt.outputs import UNENHANCED_BEARER
from bluetrio.actors.runtime import Actor
from bluetrio.address import Address, AddressType
from bluetrio.messages.ad import AdvertisingData, Flags, LocalName
from bluetrio.messages.att import AttOpcode, ReadRequest, ReadResponse
from bluetrio.messages.btm import LinkTransport
from bluetrio.stack import StackConfig, open_stack

pytestmark = pytest.mark.interop

pytest.importorskip("bumble")

PEERS = Path(__file__).parent / "peers"
STEP_LIMIT = 60.0  # guards against a hang only
PRIMARY_SERVICE = bytes([0x00, 0x18])  # handle 1: Bumble's GAP service declaration (0x1800)
# Bumble's LocalLink names an LE sender by its random address: ours is a static one.
OUR_ADDRESS = Address.parse("C0:E7:E7:E7:E7:01", AddressType.RANDOM)
CONFIG = StackConfig(static_address=OUR_ADDRESS)


@contextlib.contextmanager
def eatt_peer(tmp_path: Path, *arguments: str) -> Iterator[ReportingProcess]:
    command = [sys.executable, str(PEERS / "bumble_eatt_peer.py"), "local", *arguments]
    with reporting_process(command, tmp_path / "eatt-peer.log", "Bumble EATT peer") as peer:
        yield peer


def enhanced(core: GattCore, handle: int) -> list[int]:
    link = core.links.get(handle)
    return [] if link is None else [n for n in link.bearers if n != UNENHANCED_BEARER]


async def test_we_open_three_bearers_to_bumble_and_read_in_parallel(tmp_path: Path) -> None:
    core = GattCore()
    with trio.fail_after(TEST_LIMIT), eatt_peer(tmp_path, "serve") as peer:
        spec = f"tcp:127.0.0.1:{peer.reports['PORT']}"
        address = Address.parse(peer.reports["ADDRESS"].split("/")[0], AddressType.RANDOM)
        with trio.fail_after(STEP_LIMIT):
            async with (
                open_stack(spec, bring_up=True, config=CONFIG, extra_layers=[Actor(core)]) as stack,
                stack.connect(address) as link,
            ):
                await link.pair()
                while len(enhanced(core, link.handle)) < DEFAULT_EATT_BEARERS:
                    await trio.sleep(0.05)
                answers: list[object] = []
                async with trio.open_nursery() as nursery:
                    for _ in range(9):

                        async def read() -> None:
                            answers.append(await link.att.exchange(ReadRequest(0x0001)))

                        nursery.start_soon(read)
                assert answers == [ReadResponse(PRIMARY_SERVICE)] * 9
                bearers = core.links[link.handle].bearers
                used = [n for n in enhanced(core, link.handle) if bearers[n].requests_sent]
                assert len(used) >= 2  # spread over Bumble's bearers, not queued on one


async def test_bumble_opens_three_bearers_to_us_and_asks_on_each(tmp_path: Path) -> None:
    core = GattCore()
    name = "bluetrio-eatt"
    with trio.fail_after(TEST_LIMIT), eatt_peer(tmp_path, "connect", "-") as peer:
        spec = f"tcp:127.0.0.1:{peer.reports['PORT']}"
        with trio.fail_after(STEP_LIMIT):
            async with (
                open_stack(
                    spec, bring_up=True, pairable=True, config=CONFIG, extra_layers=[Actor(core)]
                ) as stack,
                stack.advertise(AdvertisingData([Flags(0x06), LocalName(name)])),
            ):
                peer.tell(f"{OUR_ADDRESS}/R")
                async with stack.accept(LinkTransport.LE) as link:
                    assert await trio.to_thread.run_sync(peer.wait_for, "BEARERS", 30) == "3"
                    answers = [
                        (await trio.to_thread.run_sync(peer.wait_for, "ANSWER", 30)).split()
                        for _ in range(3)
                    ]
                    await trio.to_thread.run_sync(peer.wait_for, "DONE", 30)
                    assert len(enhanced(core, link.handle)) == 3
                    # Each answered on its own bearer: a Read Response or the server's
                    # Error Response, both ending the transaction there.
                    assert len({cid for cid, _, _ in answers}) == 3
                    answered = {AttOpcode.READ_RESPONSE, AttOpcode.ERROR_RESPONSE}
                    assert {int(opcode, 16) for _, opcode, _ in answers} <= answered
