"""SDP between two bluetrio stacks on the virtual controller (BR/EDR): each searches the
other's records, a registered record is found while its block runs and gone after it, and the
lookups fail with typed errors."""

from __future__ import annotations

import uuid

import pytest
import trio
import trio.testing

from bluetrio import SdpTimeout, ServiceNotFound
from bluetrio.actors.effects import Effects, Emit
from bluetrio.actors.runtime import Actor
from bluetrio.actors.topology import Layer, LayerSpec
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages import sdp_service
from bluetrio.messages.base import Message
from bluetrio.messages.btm import ControllerReadyInd, LinkTransport
from bluetrio.messages.l2cap_service import L2caConnectInd, L2caConnectRsp, L2caRegisterPsmReq
from bluetrio.messages.sdp import AttributeRange, UnsignedInt
from bluetrio.messages.sdp_records import (
    SERIAL_PORT,
    SERVICE_DISCOVERY_SERVER,
    AttributeId,
    rfcomm_service_record,
    serial_port_record,
)
from bluetrio.testing import open_stack_pair

CHAT = uuid.UUID("8ce255c0-200a-11e0-ac64-0800200c9a66")


async def test_a_stack_finds_the_serial_port_record_of_another(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_stack_pair() as (a, b):
        address = (await b.ready()).address
        await b.set_discoverable(True)
        async with b.sdp_register(serial_port_record(channel=3)) as handle:
            records = await a.sdp_search(address, 0x1101)
            assert [record.handle for record in records] == [handle]
            (record,) = records
            assert record.service_class_ids == (SERIAL_PORT,)
            assert record.rfcomm_channel == 3
            assert record.name == "Serial Port"
            assert await a.sdp_find_rfcomm_channel(address, str(SERIAL_PORT)) == 3
        # The search opened a link for itself and closed it.
        assert a.links == ()
        with pytest.raises(ServiceNotFound):
            await a.sdp_find_rfcomm_channel(address, SERIAL_PORT)


async def test_both_stacks_search_each_other_on_one_link(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        open_stack_pair() as (a, b),
        a.sdp_register(rfcomm_service_record(CHAT, "bluetrio chat", 7)),
        b.sdp_register(rfcomm_service_record(CHAT, "other chat", 9)),
    ):
        address_b = (await b.ready()).address
        address_a = (await a.ready()).address
        await b.set_discoverable(True)
        async with (
            a.connect(address_b, transport=LinkTransport.BR_EDR),
            b.accept(LinkTransport.BR_EDR),
        ):
            found_by_a, found_by_b = [], []
            async with trio.open_nursery() as nursery:

                async def search(stack, address, into) -> None:  # type: ignore[no-untyped-def]
                    into.extend(await stack.sdp_search(address, CHAT))

                nursery.start_soon(search, a, address_b, found_by_a)
                nursery.start_soon(search, b, address_a, found_by_b)
            assert [record.name for record in found_by_a] == ["other chat"]
            assert [record.name for record in found_by_b] == ["bluetrio chat"]
            # The SDP server's own record, with only the attributes asked for.
            (server,) = await a.sdp_search(
                address_b,
                SERVICE_DISCOVERY_SERVER,
                attribute_ids=(AttributeRange(0x0200, 0x0201),),
            )
            assert [attribute_id for attribute_id, _ in server.attributes] == [0x0200, 0x0201]
            state = server[AttributeId.SERVICE_DATABASE_STATE]
            assert isinstance(state, UnsignedInt) and state.value >= 1


async def test_records_come_and_go_with_their_block(autojump_clock: trio.testing.MockClock) -> None:
    async with open_stack_pair() as (a, b):
        address = (await b.ready()).address
        await b.set_discoverable(True)
        async with b.sdp_register(rfcomm_service_record(CHAT, "chat", 5)):
            assert len(await a.sdp_search(address, CHAT)) == 1
        assert await a.sdp_search(address, CHAT) == ()


async def test_bad_arguments_raise_in_the_caller(autojump_clock: trio.testing.MockClock) -> None:
    async with open_stack_pair() as (a, _):
        with pytest.raises(InvalidArgumentError):
            await a.sdp_search("00:11:22:33:44:55", "not a uuid")
        with pytest.raises(InvalidArgumentError):
            rfcomm_service_record(CHAT, "chat", 31)
        with pytest.raises(InvalidArgumentError):
            async with a.sdp_register("record"):  # type: ignore[arg-type]
                pass


class SilentSdpServer:
    """Stands in for the peer's SDP layer: takes channels to PSM 0x0001 and never answers."""

    spec = LayerSpec(
        Layer.SDP,
        handles=sdp_service.REQUESTS,
        subscribes=(ControllerReadyInd,),
        emits=(L2caRegisterPsmReq, L2caConnectRsp),
    )

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        match message:
            case ControllerReadyInd():
                return [Emit(L2caRegisterPsmReq(1, 0x0001))]
            case L2caConnectInd(handle=handle, cid=cid):
                return [Emit(L2caConnectRsp(handle, cid, 0))]
        return []

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return []


async def test_a_server_that_never_answers_is_a_typed_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    silent = {"extra_layers": [Actor(SilentSdpServer())]}
    async with open_stack_pair(second=silent) as (a, b):
        address = (await b.ready()).address
        await b.set_discoverable(True)
        with pytest.raises(SdpTimeout, match="no SDP response within 20 s"):
            await a.sdp_search(address, CHAT)
        # The overall deadline of the call, shorter than the server's, is a timeout too.
        with pytest.raises(SdpTimeout, match="within 5 s"):
            await a.sdp_search(address, CHAT, timeout=5)
