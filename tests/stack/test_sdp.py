"""SDP between two bluetrio stacks on the virtual controller (BR/EDR): each searches the
other's records with each of the three transactions (Service Search, Service Attribute,
Service Search Attribute), a registered record is found while its block runs and gone after
it, and the lookups fail with typed errors."""

from __future__ import annotations

import uuid

import pytest
import trio
import trio.testing

from bluetrio import SdpErrorResponse, SdpTimeout, ServiceNotFound
from bluetrio.actors.effects import Effects, Emit
from bluetrio.actors.runtime import Actor
from bluetrio.actors.topology import Layer, LayerSpec
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages import sdp_service
from bluetrio.messages.base import Message
from bluetrio.messages.btm import ControllerReadyInd, LinkTransport
from bluetrio.messages.l2cap_service import L2caConnectInd, L2caConnectRsp, L2caRegisterPsmReq
from bluetrio.messages.sdp import AttributeRange, ErrorCode, UnsignedInt
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


async def test_a_service_search_gives_the_handles_of_records_holding_every_uuid(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        open_stack_pair() as (a, b),
        b.sdp_register(rfcomm_service_record(CHAT, "chat", 5)) as chat,
        b.sdp_register(serial_port_record(channel=6)) as serial,
    ):
        address = (await b.ready()).address
        await b.set_discoverable(True)
        # L2CAP (0x0100) and RFCOMM (0x0003) are in both records' protocol lists.
        handles = await a.sdp_service_search(address, [0x0100, 0x0003])
        assert sorted(handles) == sorted([chat, serial])
        assert await a.sdp_service_search(address, (0x0003, CHAT)) == (chat,)
        assert await a.sdp_service_search(address, str(SERIAL_PORT)) == (serial,)
        # MaximumServiceRecordCount bounds the answer (4.5.1).
        (only,) = await a.sdp_service_search(address, 0x0003, max_records=1)
        assert only in (chat, serial)
        assert await a.sdp_service_search(address, 0x1234) == ()


async def test_service_attributes_give_one_record_by_its_handle(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_stack_pair() as (a, b):
        address = (await b.ready()).address
        await b.set_discoverable(True)
        async with b.sdp_register(serial_port_record(channel=4, name="Modem")) as handle:
            (found,) = await a.sdp_service_search(address, SERIAL_PORT)
            record = await a.sdp_service_attributes(address, found)
            assert (record.handle, record.rfcomm_channel, record.name) == (handle, 4, "Modem")
            assert record.service_class_ids == (SERIAL_PORT,)
            # Attribute IDs and ranges mixed; only those come back, in ascending order.
            some = await a.sdp_service_attributes(
                address,
                handle,
                attribute_ids=(AttributeId.SERVICE_CLASS_ID_LIST, AttributeRange(0x0000, 0x0000)),
            )
            assert [attribute_id for attribute_id, _ in some.attributes] == [0x0000, 0x0001]
            # The SDP server's own record is at handle 0 (Vol 3 Part B 5.2).
            server = await a.sdp_service_attributes(address, 0, attribute_ids=[0x0001])
            assert server.service_class_ids == (SERVICE_DISCOVERY_SERVER,)
        # Gone with its block: the server's error code, typed.
        with pytest.raises(SdpErrorResponse) as raised:
            await a.sdp_service_attributes(address, handle)
        assert raised.value.error_code == ErrorCode.INVALID_SERVICE_RECORD_HANDLE


async def test_bad_arguments_of_the_three_transactions_raise_in_the_caller(
    autojump_clock: trio.testing.MockClock,
) -> None:
    peer = "00:11:22:33:44:55"
    async with open_stack_pair() as (a, _):
        for uuids in ([], list(range(0x1100, 0x110D)), ["not a uuid"], [1.5]):
            with pytest.raises(InvalidArgumentError, match="uuids"):
                await a.sdp_service_search(peer, uuids)  # type: ignore[arg-type]
        for max_records in (0, 0x10000, True):
            with pytest.raises(InvalidArgumentError, match="max_records"):
                await a.sdp_service_search(peer, 0x1101, max_records=max_records)
        for record_handle in (-1, 1 << 32, "1"):
            with pytest.raises(InvalidArgumentError, match="record_handle"):
                await a.sdp_service_attributes(peer, record_handle)  # type: ignore[arg-type]
        for attribute_ids in (0x0001, (0x10000,), ("a",), (AttributeRange(0, 1), 2.0)):
            with pytest.raises(InvalidArgumentError, match="attribute"):
                await a.sdp_service_attributes(peer, 0, attribute_ids=attribute_ids)  # type: ignore[arg-type]
            with pytest.raises(InvalidArgumentError, match="attribute"):
                await a.sdp_search(peer, 0x1101, attribute_ids=attribute_ids)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="timeout"):
            await a.sdp_service_search(peer, 0x1101, timeout=-1)
        assert a.links == ()  # nothing was sent for any of them


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
        # The two other transactions have the same deadlines and errors.
        with pytest.raises(SdpTimeout, match="no SDP response within 20 s"):
            await a.sdp_service_search(address, CHAT)
        with pytest.raises(SdpTimeout, match=r"service search for .* on .*: no answer within 3 s"):
            await a.sdp_service_search(address, CHAT, timeout=3)
        with pytest.raises(SdpTimeout, match="no SDP response within 20 s"):
            await a.sdp_service_attributes(address, 0x10000)
        with pytest.raises(
            SdpTimeout, match=r"attributes of record 0x00010000 on .*: no answer within 3 s"
        ):
            await a.sdp_service_attributes(address, 0x10000, timeout=3)
