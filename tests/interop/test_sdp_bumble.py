"""SDP between bluetrio and Bumble's SDP (an independent implementation), over Bumble's own
controllers, bluetrio's served controller and Root Canal: our client finds records on Bumble's
server (one of them long enough to need continuation), and Bumble's client finds our Serial
Port record and its RFCOMM channel."""

from __future__ import annotations

import contextlib
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from interop_support import TEST_LIMIT, ReportingProcess, reporting_process

from bluetrio.address import Address
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.sdp import Text
from bluetrio.messages.sdp_records import AttributeId, rfcomm_service_record, serial_port_record
from bluetrio.stack import open_stack

pytestmark = pytest.mark.interop

pytest.importorskip("bumble")

PEER_SCRIPT = Path(__file__).parent / "peers" / "bumble_sdp_peer.py"
CHAT = uuid.UUID("8ce255c0-200a-11e0-ac64-0800200c9a66")
LARGE = uuid.UUID("8ce255c0-200a-11e0-ac64-0800200c9a67")
STEP_LIMIT = 60.0


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
    command = [sys.executable, str(PEER_SCRIPT), *extra]
    if controllers != "bumble":
        command += ["--controller", controllers]
    with reporting_process(command, log, "the Bumble SDP peer") as peer:
        if controllers == "bumble":
            yield peer, f"tcp:127.0.0.1:{peer.reports['PORT']}"
        else:
            yield peer, controllers.replace("tcp-client:", "tcp:", 1)


async def test_we_find_records_on_bumbles_server(controllers: str, tmp_path: Path) -> None:
    with (
        trio.fail_after(TEST_LIMIT),
        bumble_peer(controllers, tmp_path / "bumble.log") as (peer, ours),
    ):
        bumble = Address.parse(peer.reports["ADDRESS"].split("/")[0])
        async with (
            open_stack(ours, bring_up=True) as stack,
            stack.connect(bumble, transport=LinkTransport.BR_EDR),
        ):
            (chat,) = await stack.sdp_search(bumble, CHAT)
            assert chat.handle == 0x00010001
            assert chat.service_class_ids == (CHAT,)
            assert chat.name == "bumble chat"
            assert await stack.sdp_find_rfcomm_channel(bumble, str(CHAT)) == 5
            # 2000 octets of description: more than one response of our 672-octet MTU.
            (large,) = await stack.sdp_search(bumble, LARGE)
            description = large[AttributeId.SERVICE_DESCRIPTION]
            assert isinstance(description, Text) and description.value == b"d" * 2000
            assert large.rfcomm_channel == 6


async def test_bumble_finds_our_serial_port_record(controllers: str, tmp_path: Path) -> None:
    with (
        trio.fail_after(TEST_LIMIT),
        bumble_peer(controllers, tmp_path / "bumble.log", "--find", "-") as (peer, ours),
    ):
        async with open_stack(ours, bring_up=True) as stack:
            address = (await stack.ready()).address
            await stack.set_discoverable(True)
            # A description of 2000 octets: more than one response of Bumble's MTU carries.
            large = rfcomm_service_record(LARGE, "large", 8, description="d" * 2000)
            async with (
                stack.sdp_register(serial_port_record(channel=7, name="bluetrio SPP")),
                stack.sdp_register(large),
            ):
                peer.tell(str(address))
                channel = await trio.to_thread.run_sync(peer.wait_for, "CHANNEL", STEP_LIMIT)
                assert int(channel) == 7
                name = await trio.to_thread.run_sync(peer.wait_for, "NAME", STEP_LIMIT)
                assert name == "bluetrio SPP"
                length = await trio.to_thread.run_sync(peer.wait_for, "DESCRIPTION", STEP_LIMIT)
                assert int(length) == 2000
