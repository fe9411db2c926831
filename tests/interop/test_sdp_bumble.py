"""SDP between bluetrio and Bumble's SDP (an independent implementation), over Bumble's own
controllers, bluetrio's served controller and Root Canal, with each of the three transactions
(Service Search, Service Attribute, Service Search Attribute) both ways: our client finds
records on Bumble's server (one of them long enough to need continuation), and Bumble's client
finds our Serial Port record and its RFCOMM channel."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from bumble_classic_support import (
    CONTROLLER_KINDS,
    bumble_peer,
    controller_spec,
    peer_address,
    wait_for,
)
from interop_support import TEST_LIMIT, ReportingProcess

from bluetrio import SdpErrorResponse
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.sdp import ErrorCode, Text
from bluetrio.messages.sdp_records import AttributeId, rfcomm_service_record, serial_port_record
from bluetrio.stack import open_stack

pytestmark = pytest.mark.interop

pytest.importorskip("bumble")

CHAT = uuid.UUID("8ce255c0-200a-11e0-ac64-0800200c9a66")
LARGE = uuid.UUID("8ce255c0-200a-11e0-ac64-0800200c9a67")


@pytest.fixture(params=CONTROLLER_KINDS)
def controllers(request: pytest.FixtureRequest) -> str:
    return controller_spec(request)


@contextlib.contextmanager
def sdp_peer(controllers: str, log: Path, *extra: str) -> Iterator[tuple[ReportingProcess, str]]:
    with bumble_peer("bumble_sdp_peer.py", controllers, log, *extra) as started:
        yield started


async def test_we_find_records_on_bumbles_server(controllers: str, tmp_path: Path) -> None:
    with (
        trio.fail_after(TEST_LIMIT),
        sdp_peer(controllers, tmp_path / "bumble.log") as (peer, ours),
    ):
        bumble = peer_address(peer)
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
            # Service Search, then Service Attribute on each handle it gave.
            handles = await stack.sdp_service_search(bumble, [0x0003, 0x0100])
            assert sorted(handles) == [0x00010001, 0x00010002]
            assert await stack.sdp_service_search(bumble, CHAT) == (0x00010001,)
            chat_again = await stack.sdp_service_attributes(bumble, 0x00010001)
            assert chat_again == chat
            (classes,) = (
                await stack.sdp_service_attributes(
                    bumble, 0x00010002, attribute_ids=(AttributeId.SERVICE_CLASS_ID_LIST,)
                )
            ).attributes
            assert classes[0] == AttributeId.SERVICE_CLASS_ID_LIST
            with pytest.raises(SdpErrorResponse) as unknown:
                await stack.sdp_service_attributes(bumble, 0x00010003)
            # SDP is big-endian (Core 5.4 Vol 3 Part B 4.1); Bumble 0.0.236 sends the
            # ErrorCode little-endian (its hci field default), so 0x0002 reads as 0x0200.
            code = ErrorCode.INVALID_SERVICE_RECORD_HANDLE
            assert unknown.value.error_code in (code, int.from_bytes(code.to_bytes(2), "little"))


async def test_bumble_finds_our_serial_port_record(controllers: str, tmp_path: Path) -> None:
    with (
        trio.fail_after(TEST_LIMIT),
        sdp_peer(controllers, tmp_path / "bumble.log", "--find", "-") as (peer, ours),
    ):
        async with open_stack(ours, bring_up=True) as stack:
            address = (await stack.ready()).address
            await stack.set_discoverable(True)
            # A description of 2000 octets: more than one response of Bumble's MTU carries.
            large = rfcomm_service_record(LARGE, "large", 8, description="d" * 2000)
            async with (
                stack.sdp_register(serial_port_record(channel=7, name="bluetrio SPP")) as serial,
                stack.sdp_register(large),
            ):
                peer.tell(str(address))
                channel = await wait_for(peer, "CHANNEL")
                assert int(channel) == 7
                name = await wait_for(peer, "NAME")
                assert name == "bluetrio SPP"
                length = await wait_for(peer, "DESCRIPTION")
                assert int(length) == 2000
                # Bumble's Service Search and Service Attribute requests to our server.
                assert await wait_for(peer, "HANDLES") == f"0x{serial:08X}"
                assert await wait_for(peer, "CLASSES") == "1101"
