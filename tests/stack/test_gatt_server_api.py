"""``stack.gatt_server`` (bluetrio/gatt/server_api.py) on two stacks on the virtual controller:
services added and removed through the gatt actor, the declarations' callbacks run for a
client's reads and writes (an exception becomes the ATT error: GattApplicationError's code,
else Unlikely Error; a callback that hangs is answered within its deadline), notifications
and indications to a subscribed client. The database here is a small stand-in for the
server core (``server.py``), so only the application's side is under test."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import pytest
import trio
from trio.testing import MockClock

from bluetrio import Link, Stack
from bluetrio.actors.effects import Emit
from bluetrio.actors.gatt.core import GattCore, NoDatabase
from bluetrio.actors.gatt.outputs import Output, SendPdu
from bluetrio.actors.runtime import Actor
from bluetrio.address import Address
from bluetrio.errors import GattApplicationError, InvalidArgumentError
from bluetrio.gatt.port import AttValue
from bluetrio.gatt.server_api import CALLBACK_DEADLINE
from bluetrio.messages.att import (
    AttErrorCode,
    AttOpcode,
    AttPdu,
    ErrorResponse,
    ReadRequest,
    ReadResponse,
    WriteRequest,
    WriteResponse,
)
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.gatt_declarations import (
    AccessSecurity,
    Characteristic,
    CharacteristicHandles,
    Permissions,
    Properties,
    ReadContext,
    Service,
    ServiceHandles,
    WriteContext,
)
from bluetrio.messages.gatt_service import (
    GattServerReadInd,
    GattServerReadRsp,
    GattServerWriteInd,
    GattServerWriteRsp,
)
from bluetrio.testing import open_stack_pair


class StandInDatabase(NoDatabase):
    """Places each characteristic at declaration n, value n + 1; asks the application for
    every read and write; every link is subscribed to everything."""

    def __init__(self) -> None:
        self.next_handle = 1
        self.services: dict[int, int] = {}  # service handle -> end
        self.asked: dict[int, tuple[int, int, int]] = {}  # request_id -> link, opcode, handle
        self.request_ids = iter(range(1, 1 << 30))
        self.links: set[int] = set()

    def add_service(self, service: Service) -> ServiceHandles:
        start = self.next_handle
        characteristics = []
        handle = start + 1
        for _ in service.characteristics:
            characteristics.append(CharacteristicHandles(handle, handle + 1, handle + 1))
            handle += 2
        self.next_handle = handle
        self.services[start] = handle - 1
        return ServiceHandles(start, handle - 1, (), tuple(characteristics))

    def remove_service(self, service_handle: int) -> None:
        if self.services.pop(service_handle, None) is None:
            raise InvalidArgumentError(f"no service at 0x{service_handle:04X}")

    def on_request(
        self, handle: int, bearer: int, pdu: AttPdu, mtu: int, now: float
    ) -> Sequence[Output]:
        self.links.add(handle)
        request_id = next(self.request_ids)
        peer = Address(bytes(6))
        if isinstance(pdu, ReadRequest):
            self.asked[request_id] = (handle, AttOpcode.READ_REQUEST, pdu.handle)
            return [Emit(GattServerReadInd(request_id, handle, peer, pdu.handle, 0))]
        assert isinstance(pdu, WriteRequest)
        self.asked[request_id] = (handle, AttOpcode.WRITE_REQUEST, pdu.handle)
        return [Emit(GattServerWriteInd(request_id, handle, peer, pdu.handle, pdu.value, True))]

    def on_application_answer(
        self, answer: GattServerReadRsp | GattServerWriteRsp
    ) -> Sequence[Output]:
        link, opcode, attribute = self.asked.pop(answer.request_id)
        if answer.error_code:
            return [SendPdu(link, 0, ErrorResponse(opcode, attribute, answer.error_code))]
        if isinstance(answer, GattServerReadRsp):
            value = b"stored" if answer.value is None else answer.value  # None: the kept one
            return [SendPdu(link, 0, ReadResponse(value))]
        return [SendPdu(link, 0, WriteResponse())]

    def subscribers(self, value_handle: int, indicate: bool, link: int | None) -> tuple[int, ...]:
        return tuple(sorted(self.links)) if link is None else (link,)


@contextlib.asynccontextmanager
async def served() -> AsyncIterator[tuple[Stack, Link, Link]]:
    """Server stack ``b`` with the stand-in database, its link to client ``a``."""
    async with open_stack_pair(
        {}, {"extra_layers": [Actor(GattCore(server=StandInDatabase()))]}
    ) as (
        a,
        b,
    ):
        address = (await b.ready()).address
        async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE) as peer:
            yield b, link, peer


async def test_callbacks_answer_reads_and_writes(autojump_clock: MockClock) -> None:
    written: list[tuple[WriteContext, bytes]] = []

    async def read_level(context: ReadContext) -> bytes:
        return bytes([42, context.attribute_handle])

    async def write_level(context: WriteContext, value: bytes) -> None:
        written.append((context, value))

    level = Characteristic(
        0x2A19,
        Properties.READ | Properties.WRITE,
        on_read=read_level,
        on_write=write_level,
    )
    async with served() as (b, link, _peer):
        handles = await b.gatt_server.add_service(Service(0x180F, (level,)))
        value_handle = b.gatt_server.value_handle(level)
        assert value_handle == handles.characteristics[0].value
        assert await link.att.exchange(ReadRequest(value_handle)) == ReadResponse(
            bytes([42, value_handle])
        )
        assert await link.att.exchange(WriteRequest(value_handle, b"\x07")) == WriteResponse()
        ((context, value),) = written
        assert value == b"\x07" and context.attribute_handle == value_handle
        assert context.with_response


async def test_a_callbacks_exception_becomes_the_att_error(autojump_clock: MockClock) -> None:
    async def refuse(context: ReadContext) -> bytes:
        raise GattApplicationError(0x80, "not now")

    async def crash(context: ReadContext) -> bytes:
        raise RuntimeError("a bug in the application")

    async def not_bytes(context: ReadContext) -> bytes:
        return "text"  # type: ignore[return-value]

    async def hang(context: ReadContext) -> bytes:
        await trio.sleep_forever()
        raise AssertionError

    characteristics = [
        Characteristic(0x2A00 + n, Properties.READ, on_read=callback)
        for n, callback in enumerate((refuse, crash, not_bytes, hang))
    ]
    async with served() as (b, link, _peer):
        await b.gatt_server.add_service(Service(0x1800, characteristics))
        codes = []
        for characteristic in characteristics:
            handle = b.gatt_server.value_handle(characteristic)
            started = trio.current_time()
            response = await link.att.exchange(ReadRequest(handle))
            assert isinstance(response, ErrorResponse)
            codes.append(response.error_code)
        # The hung callback was answered at its deadline (before the actor's).
        assert trio.current_time() - started == pytest.approx(CALLBACK_DEADLINE, abs=0.5)
        unlikely = AttErrorCode.UNLIKELY_ERROR
        assert codes == [0x80, unlikely, unlikely, unlikely]
        assert b.gatt_server.failed_callbacks == 3
        # The stack keeps serving.
        assert isinstance(await link.att.exchange(ReadRequest(1)), ErrorResponse)


async def test_notify_and_indicate_through_the_server(autojump_clock: MockClock) -> None:
    level = Characteristic(0x2A19, Properties.READ | Properties.NOTIFY | Properties.INDICATE)
    async with served() as (b, link, peer):
        await b.gatt_server.add_service(Service(0x180F, (level,)))
        handle = b.gatt_server.value_handle(level)
        async with link.att.listen(handle) as values:
            delivery = await b.gatt_server.notify(level, b"\x50", peer)
            assert delivery.delivered_to == (peer.handle,)
            delivery = await b.gatt_server.indicate(level, b"\x51", peer.handle)
            assert delivery.delivered_to == (peer.handle,)
            assert await values.receive() == AttValue(b"\x50", indication=False)
            assert await values.receive() == AttValue(b"\x51", indication=True)
        with pytest.raises(InvalidArgumentError, match="512"):
            await b.gatt_server.notify(level, bytes(513), peer)
        with pytest.raises(InvalidArgumentError, match="not in a service"):
            await b.gatt_server.notify(Characteristic(0x2A19, Properties.NOTIFY), b"", peer)


async def test_remove_service(autojump_clock: MockClock) -> None:
    level = Characteristic(0x2A19, Properties.READ, value=b"\x01")
    async with served() as (b, _link, _peer):
        handles = await b.gatt_server.add_service(service := Service(0x180F, (level,)))
        await b.gatt_server.remove_service(service)
        with pytest.raises(InvalidArgumentError, match="not in a service"):
            b.gatt_server.value_handle(level)
        with pytest.raises(InvalidArgumentError, match="no service"):
            await b.gatt_server.remove_service(handles)


async def test_authorization_is_asked_of_the_application(autojump_clock: MockClock) -> None:
    asked: list[ReadContext | WriteContext] = []

    async def only_writes(context: ReadContext | WriteContext) -> bool:
        asked.append(context)
        return isinstance(context, WriteContext)

    guarded = Permissions(
        readable=True,
        writable=True,
        read_security=AccessSecurity(authorization=True),
        write_security=AccessSecurity(authorization=True),
    )
    secret = Characteristic(
        0x2A19,
        Properties.READ | Properties.WRITE,
        value=b"kept",
        permissions=guarded,
        authorize=only_writes,
    )
    async with served() as (b, link, _peer):
        await b.gatt_server.add_service(Service(0x180F, (secret,)))
        handle = b.gatt_server.value_handle(secret)
        refused = await link.att.exchange(ReadRequest(handle))
        assert refused == ErrorResponse(
            AttOpcode.READ_REQUEST, handle, AttErrorCode.INSUFFICIENT_AUTHORIZATION
        )
        # Authorized, with no on_write: the server keeps the value itself.
        assert await link.att.exchange(WriteRequest(handle, b"new")) == WriteResponse()
        assert [type(context) for context in asked] == [ReadContext, WriteContext]
