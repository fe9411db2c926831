"""The gatt actor's timers in the running stack, under MockClock: the 30 s ATT transaction
timeout of our request and of our indication (Core 5.4 Vol 3 Part F 3.3.3), after which the
bearer carries nothing more, and the deadline of the application's answer to a read or
write it serves. The peer is a stack without the gatt actor, speaking raw ATT on 0x0004."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import pytest
import trio
from trio.testing import MockClock

from bluetrio import Link, Stack, StackConfig
from bluetrio.actors.effects import Emit
from bluetrio.actors.gatt.config import DEFAULT_APPLICATION_DEADLINE, GattConfig
from bluetrio.actors.gatt.core import GattCore, NoDatabase
from bluetrio.actors.gatt.outputs import Output, SendPdu
from bluetrio.actors.runtime import Actor
from bluetrio.actors.topology import Layer
from bluetrio.address import Address
from bluetrio.errors import AttTransactionTimeout, LinkLost
from bluetrio.fixed_channels import FixedChannel
from bluetrio.messages.att import (
    TRANSACTION_TIMEOUT,
    AttErrorCode,
    AttOpcode,
    AttPdu,
    ErrorResponse,
    HandleValueIndication,
    ReadRequest,
    ReadResponse,
    decode_pdu,
)
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.gatt_service import (
    GattNotifyCnf,
    GattNotifyReq,
    GattServerReadInd,
    GattServerReadRsp,
    GattServerWriteRsp,
)
from bluetrio.messages.l2cap import FixedCid
from bluetrio.testing import open_stack_pair

RAW_ATT = {"config": StackConfig(gatt=False)}


@contextlib.asynccontextmanager
async def with_raw_peer(
    gatt: GattCore | None = None,
) -> AsyncIterator[tuple[Stack, Link, FixedChannel]]:
    """Stack ``a`` (with the gatt actor, ``gatt`` if given) connected to a stack whose
    application holds ATT's channel."""
    first = {} if gatt is None else {"extra_layers": [Actor(gatt)]}
    async with open_stack_pair(first, RAW_ATT) as (a, b):
        address = (await b.ready()).address
        async with (
            b.advertise(),
            a.connect(address) as link,
            b.accept(LinkTransport.LE) as peer_link,
            peer_link.fixed_channel(FixedCid.ATT) as peer,
        ):
            yield a, link, peer


async def test_an_unanswered_request_times_out_after_30_s_and_the_bearer_stays_dead(
    autojump_clock: MockClock,
) -> None:
    gatt = GattCore(GattConfig(disconnect_on_timeout=False))
    async with with_raw_peer(gatt) as (_a, link, peer):
        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            queued: list[BaseException] = []

            async def second() -> None:
                try:
                    await link.att.exchange(ReadRequest(4))
                except AttTransactionTimeout as error:
                    queued.append(error)

            with pytest.raises(AttTransactionTimeout):
                nursery.start_soon(second)
                await link.att.exchange(ReadRequest(3))
        assert trio.current_time() - started == pytest.approx(TRANSACTION_TIMEOUT, abs=0.5)
        assert decode_pdu(await peer.receive()) == ReadRequest(3)
        assert len(queued) == 1  # the queued request failed with it, never sent
        # 3.3.3: nothing more on this bearer: refused at once, the link still up.
        refused_at = trio.current_time()
        with pytest.raises(AttTransactionTimeout):
            await link.att.exchange(ReadRequest(3))
        assert trio.current_time() == refused_at and link.connected
        await peer.send(ReadResponse(b"late").encode())  # a late response changes nothing
        with pytest.raises(AttTransactionTimeout):
            await link.att.exchange(ReadRequest(3))


async def test_a_transaction_timeout_disconnects_the_link_by_default(
    autojump_clock: MockClock,
) -> None:
    async with with_raw_peer() as (_a, link, _peer):
        with pytest.raises(AttTransactionTimeout):
            await link.att.exchange(ReadRequest(3))
        with trio.fail_after(5):
            while link.connected:
                await trio.sleep(0.1)


async def test_an_unconfirmed_indication_fails_after_30_s(autojump_clock: MockClock) -> None:
    async with with_raw_peer(GattCore(server=NoDatabase())) as (a, link, peer):
        started = trio.current_time()
        token = a.runtime.new_token()
        request = GattNotifyReq(token, 0x0010, b"v", link=link.handle, indicate=True)
        reply = await a.app.request(Layer.GATT, request)
        assert trio.current_time() - started == pytest.approx(TRANSACTION_TIMEOUT, abs=0.5)
        assert isinstance(reply, GattNotifyCnf) and reply.delivered_to == ()
        ((failed_link, error),) = reply.errors
        assert failed_link == link.handle and "timed out" in error
        assert decode_pdu(await peer.receive()) == HandleValueIndication(0x0010, b"v")


async def test_a_confirmed_indication_is_delivered(autojump_clock: MockClock) -> None:
    async with with_raw_peer(GattCore(server=NoDatabase())) as (a, link, peer):
        token = a.runtime.new_token()
        request = GattNotifyReq(token, 0x0010, b"v", link=link.handle, indicate=True)
        async with trio.open_nursery() as nursery:

            async def confirm() -> None:
                assert decode_pdu(await peer.receive()) == HandleValueIndication(0x0010, b"v")
                await peer.send(bytes([AttOpcode.HANDLE_VALUE_CONFIRMATION]))

            nursery.start_soon(confirm)
            reply = await a.app.request(Layer.GATT, request)
        assert reply == GattNotifyCnf(token, (link.handle,), ())


class ServedValue(NoDatabase):
    """A server whose attribute 3 the application serves (GattServerReadInd)."""

    def __init__(self) -> None:
        self.asked: dict[int, int] = {}  # request_id -> link
        self.answers: list[GattServerReadRsp | GattServerWriteRsp] = []
        self.timed_out: list[int] = []

    def on_request(
        self, handle: int, bearer: int, pdu: AttPdu, mtu: int, now: float
    ) -> Sequence[Output]:
        assert isinstance(pdu, ReadRequest)
        request_id = len(self.answers) + len(self.timed_out) + len(self.asked) + 1
        self.asked[request_id] = handle
        ind = GattServerReadInd(request_id, handle, Address(bytes(6)), pdu.handle, 0)
        return [Emit(ind)]

    def on_application_answer(
        self, answer: GattServerReadRsp | GattServerWriteRsp
    ) -> Sequence[Output]:
        self.answers.append(answer)
        handle = self.asked.pop(answer.request_id)
        if isinstance(answer, GattServerReadRsp) and answer.value is not None:
            return [SendPdu(handle, 0, ReadResponse(answer.value))]
        return [SendPdu(handle, 0, ErrorResponse(AttOpcode.READ_REQUEST, 3, answer.error_code))]

    def on_application_timeout(self, request_id: int) -> Sequence[Output]:
        handle = self.asked.pop(request_id)
        error = ErrorResponse(AttOpcode.READ_REQUEST, 3, AttErrorCode.UNLIKELY_ERROR)
        self.timed_out.append(request_id)
        return [SendPdu(handle, 0, error)]


async def test_the_application_answers_within_its_deadline_or_the_client_gets_unlikely_error(
    autojump_clock: MockClock,
) -> None:
    server = ServedValue()
    async with with_raw_peer(GattCore(server=server)) as (a, _link, peer):
        # The application here is this test, answering by hand: stack.gatt_server, which
        # would answer from the declarations' callbacks, is taken off the port.
        a.app.router.observers.pop(GattServerReadInd)
        with a.app.open_mailbox(GattServerReadInd) as asked:
            await peer.send(ReadRequest(3).encode())
            indication = await asked.receive()
            a.app.send(Layer.GATT, GattServerReadRsp(indication.request_id, b"served"))
            assert decode_pdu(await peer.receive()) == ReadResponse(b"served")
            # Nobody answers the second: Unlikely Error after the deadline.
            await peer.send(ReadRequest(3).encode())
            late = await asked.receive()
            started = trio.current_time()
            error = decode_pdu(await peer.receive())
            waited = trio.current_time() - started
            assert waited == pytest.approx(DEFAULT_APPLICATION_DEADLINE, abs=0.5)
            assert error == ErrorResponse(AttOpcode.READ_REQUEST, 3, AttErrorCode.UNLIKELY_ERROR)
            # The answer that comes after the deadline reaches nobody.
            a.app.send(Layer.GATT, GattServerReadRsp(late.request_id, b"too late"))
            await trio.sleep(1)
            assert [r.request_id for r in server.answers] == [1]
            assert server.timed_out == [2]


async def test_requests_fail_when_the_link_goes(autojump_clock: MockClock) -> None:
    async with with_raw_peer() as (_a, link, peer), trio.open_nursery() as nursery:

        async def drop_link() -> None:
            assert decode_pdu(await peer.receive()) == ReadRequest(3)
            await link.disconnect()

        nursery.start_soon(drop_link)
        with pytest.raises(LinkLost):
            await link.att.exchange(ReadRequest(3))


async def test_a_queued_request_has_its_30_s_from_when_it_goes(autojump_clock: MockClock) -> None:
    async with with_raw_peer() as (_a, link, peer):
        started = trio.current_time()
        answered_at: dict[int, float] = {}

        async def ask(handle: int) -> None:
            await link.att.exchange(ReadRequest(handle))
            answered_at[handle] = trio.current_time() - started

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask, 3)
            assert decode_pdu(await peer.receive()) == ReadRequest(3)
            nursery.start_soon(ask, 4)  # queued behind the first
            await trio.sleep(20)
            await peer.send(ReadResponse(b"first").encode())
            assert decode_pdu(await peer.receive()) == ReadRequest(4)  # sent at 20 s
            await trio.sleep(25)  # 45 s after its call, 25 s after it went: still waiting
            assert 4 not in answered_at
            await peer.send(ReadResponse(b"second").encode())
        assert answered_at == {3: pytest.approx(20, abs=0.5), 4: pytest.approx(45, abs=0.5)}
