"""The SDP core's client side driven synchronously: channels opened on demand and closed when
idle, one transaction at a time, continuation followed within bounds, and every malformed or
mismatched response failing its query (never the core). Also the server side's channel
handling (PSM registration, the bound on channels)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sdp_strategies import pdus

import bluetrio.messages.sdp as sdp
from bluetrio.actors.effects import Effects, Emit, Send, TimerExpired, TimerKey
from bluetrio.actors.sdp import client as client_module
from bluetrio.actors.sdp.core import MAX_SERVER_CHANNELS, SdpCore
from bluetrio.actors.sdp.database import RecordDatabase
from bluetrio.actors.sdp.server import SdpServer, ServerConnection
from bluetrio.actors.sdp.states import CLIENT_TRANSITIONS, ClientChannelEvent, ClientChannelState
from bluetrio.actors.state_machine import transition
from bluetrio.address import Address
from bluetrio.errors import StateTransitionError
from bluetrio.messages.btm import ControllerReadyInd, LinkDownInd
from bluetrio.messages.controller_info import ControllerInfo
from bluetrio.messages.l2cap_service import (
    ChannelParameters,
    L2caCnf,
    L2caConfigInd,
    L2caConnectCnf,
    L2caConnectInd,
    L2caConnectReq,
    L2caConnectRsp,
    L2caDataInd,
    L2caDataReq,
    L2caDisconnectInd,
    L2caDisconnectReq,
    L2caRegisterPsmReq,
)
from bluetrio.messages.sdp_records import rfcomm_service_record, serial_port_record
from bluetrio.messages.sdp_service import (
    QueryFailure,
    SdpQueryCnf,
    SdpQueryReq,
    ServiceAttributes,
    ServiceSearch,
    ServiceSearchAttributes,
)
from bluetrio.messages.uuids import uuid16

HANDLE = 0x0041
CID = 0x0040
SPP = uuid16(0x1101)
CHAT = uuid.UUID("8ce255c0-200a-11e0-ac64-0800200c9a66")


def emitted(effects: Effects, kind: type) -> list:  # type: ignore[type-arg]
    return [e.message for e in effects if isinstance(e, Emit) and isinstance(e.message, kind)]


def answers(effects: Effects) -> list[SdpQueryCnf]:
    return [
        e.message for e in effects if isinstance(e, Send) and isinstance(e.message, SdpQueryCnf)
    ]


@attrs.define
class Harness:
    """The core's client against a peer that answers each request with ``peer(request)``."""

    core: SdpCore = attrs.field(factory=SdpCore)
    now: float = 0.0
    peer: Callable[[bytes], bytes | None] | None = None
    peer_mtu: int = 672
    results: list[SdpQueryCnf] = attrs.field(factory=list)
    requests: list[bytes] = attrs.field(factory=list)
    disconnects: int = 0

    def run(self, effects: Effects) -> None:
        queue = list(effects)
        while queue:
            effect = queue.pop(0)
            if isinstance(effect, Send) and isinstance(effect.message, SdpQueryCnf):
                self.results.append(effect.message)
            if not isinstance(effect, Emit):
                continue
            message = effect.message
            if isinstance(message, L2caConnectReq):
                parameters = ChannelParameters(672, self.peer_mtu)
                cnf = L2caConnectCnf(message.token, message.handle, CID, 0, parameters)
                queue += self.core.handle("l2cap", cnf, self.now)
            elif isinstance(message, L2caDataReq):
                self.requests.append(message.sdu)
                answer = self.peer(message.sdu) if self.peer else None
                if answer is not None:
                    queue += self.core.handle("l2cap", L2caDataInd(HANDLE, CID, answer), self.now)
            elif isinstance(message, L2caDisconnectReq):
                self.disconnects += 1
                queue += self.core.handle("l2cap", L2caCnf(message.token), self.now)

    def query(self, query: object, token: int = 1) -> None:
        self.run(self.core.handle("app", SdpQueryReq(token, HANDLE, query), self.now))  # type: ignore[arg-type]

    def expire(self, name: str) -> None:
        key = TimerKey(client_module.timer_owner(HANDLE), name)
        self.run(self.core.handle("sdp", TimerExpired(key), self.now))


def real_server(mtu: int = 672, count: int = 3) -> Callable[[bytes], bytes]:
    database = RecordDatabase()
    database.add(serial_port_record(4), "app")
    for index in range(count - 1):
        database.add(rfcomm_service_record(CHAT, "chat " + "y" * 60, 5 + index), "app")
    server, connection = SdpServer(database), ServerConnection(mtu)
    return lambda request: server.respond(connection, request)


# -- queries against a real server -----------------------------------------------------------------


@pytest.mark.parametrize("mtu", [48, 672])
def test_every_query_kind_against_a_server_splitting_at_the_mtu(mtu: int) -> None:
    h = Harness(peer=real_server(mtu, count=6), peer_mtu=mtu)
    h.query(ServiceSearch((uuid16(0x0003),)), token=1)
    h.query(ServiceSearchAttributes((CHAT,)), token=2)
    h.query(ServiceAttributes(0x00010000), token=3)
    search, search_attributes, attributes = h.results
    assert search.failure is None and len(search.record_handles) == 6
    assert [r.rfcomm_channel for r in search_attributes.records] == [5, 6, 7, 8, 9]
    assert attributes.records[0].rfcomm_channel == 4
    if mtu == 48:
        assert len(h.requests) > 10  # continuations were followed
    # The three queries shared one channel, which the idle timer closes.
    assert h.disconnects == 0
    h.expire("idle")
    assert h.disconnects == 1
    h.query(ServiceSearch((SPP,)), token=4)  # a new query opens a new channel
    assert h.results[-1].record_handles == (0x00010000,)


def test_queries_run_one_at_a_time_in_order() -> None:
    held: list[bytes] = []
    h = Harness(peer=lambda request: held.append(request) or None)  # type: ignore[func-returns-value]
    h.query(ServiceSearch((SPP,)), token=1)
    h.query(ServiceSearch((CHAT,)), token=2)
    assert len(h.requests) == 1  # the second waits for the first's response
    server = real_server()
    h.peer = server
    h.run(h.core.handle("l2cap", L2caDataInd(HANDLE, CID, server(held[0])), 0.0))
    assert [r.token for r in h.results] == [1, 2]
    assert len(h.requests) == 2


def test_a_silent_server_times_out_and_the_channel_is_closed() -> None:
    h = Harness(peer=lambda request: None)
    h.query(ServiceSearch((SPP,)), token=1)
    h.query(ServiceSearch((SPP,)), token=2)
    h.expire("response")
    assert h.results[0].failure is QueryFailure.TIMEOUT
    # The closed channel reopened for the query that waited, which now waits on its own timer.
    assert h.disconnects == 1 and len(h.requests) == 2
    h.expire("response")
    assert [r.failure for r in h.results] == [QueryFailure.TIMEOUT] * 2


# -- bad responses ---------------------------------------------------------------------------------


def respond_with(make: Callable[[int, bytes], bytes]) -> Callable[[bytes], bytes]:
    def peer(request: bytes) -> bytes:
        raw = sdp.split_pdu(request)
        return make(raw.transaction_id, request)

    return peer


@pytest.mark.parametrize(
    ("make", "failure"),
    [
        (lambda tid, _: sdp.ServiceSearchResponse(1, (5,)).to_bytes(tid + 1), "transaction ID"),
        (lambda tid, _: b"\x03", "malformed"),
        (
            lambda tid, _: sdp.ServiceAttributeResponse(b"").to_bytes(tid),
            "ServiceAttributeResponse to",
        ),
        (
            lambda tid, _: sdp.ServiceSearchResponse(0xFFFF, (1,)).to_bytes(tid),
            "TotalServiceRecordCount",
        ),
        (lambda tid, _: sdp.ServiceSearchResponse(1, (1, 2)).to_bytes(tid), "more handles"),
        (lambda tid, _: sdp.ServiceSearchResponse(2, (1,)).to_bytes(tid), "announced"),
        (lambda tid, _: sdp.ServiceSearchResponse(2, (), b"\x01").to_bytes(tid), "without handles"),
        (lambda tid, _: sdp.ErrorResponse(3).to_bytes(tid), "0x0003"),
    ],
)
def test_a_bad_service_search_response_fails_that_query(
    make: Callable[[int, bytes], bytes], failure: str
) -> None:
    h = Harness(peer=respond_with(make))
    h.query(ServiceSearch((SPP,), maximum_records=10), token=1)
    (result,) = h.results
    assert result.failure is not None and failure in (result.error or "")
    # The core goes on: the next query on the same link runs against a good server.
    h.peer = real_server()
    h.query(ServiceSearch((SPP,)), token=2)
    assert h.results[-1].failure is None


@pytest.mark.parametrize(
    ("lists", "failure"),
    [
        (b"\x35\x02\x09", "malformed attribute list"),
        (b"\x35\x03\x09\x00\x01", "malformed attribute list"),  # an ID without a value
        (b"\x35\x02\x08\x01", "malformed attribute list"),  # a list that is not a sequence
        (b"\x09\x00\x01", "not a data element sequence"),
        (b"\x35\x05\x35\x03\x19\x11\x01", "malformed attribute list"),  # an ID that is a UUID
    ],
)
def test_malformed_attribute_lists_fail_that_query(lists: bytes, failure: str) -> None:
    h = Harness(
        peer=respond_with(lambda tid, _: sdp.ServiceSearchAttributeResponse(lists).to_bytes(tid))
    )
    h.query(ServiceSearchAttributes((SPP,)))
    (result,) = h.results
    assert result.failure is QueryFailure.MALFORMED_RESPONSE and failure in (result.error or "")


def test_endless_continuation_is_cut_at_the_bound() -> None:
    h = Harness(
        peer=respond_with(
            lambda tid, _: sdp.ServiceSearchAttributeResponse(b"\x00", b"\x01").to_bytes(tid)
        )
    )
    h.query(ServiceSearchAttributes((SPP,)))
    (result,) = h.results
    assert result.failure is QueryFailure.TOO_LARGE
    assert len(h.requests) == client_module.MAX_ROUNDS


def test_a_response_too_large_in_total_is_cut_at_the_bound() -> None:
    part = b"\x00" * 60_000
    h = Harness(
        peer=respond_with(
            lambda tid, _: sdp.ServiceSearchAttributeResponse(part, b"\x01").to_bytes(tid)
        )
    )
    h.query(ServiceSearchAttributes((SPP,)))
    assert h.results[0].failure is QueryFailure.TOO_LARGE
    assert len(h.requests) <= client_module.MAX_RESPONSE_SIZE // len(part) + 1


@settings(max_examples=200)
@given(
    replies=st.lists(
        st.binary(max_size=80)
        | pdus.map(lambda pdu: pdu.to_bytes(1))
        | pdus.map(lambda pdu: pdu.to_bytes(2)),
        min_size=1,
        max_size=8,
    )
)
def test_any_responses_end_each_query_with_an_answer(replies: list[bytes]) -> None:
    remaining = list(replies)
    h = Harness(peer=lambda request: remaining.pop(0) if remaining else None)
    for token, query in enumerate(
        (ServiceSearch((SPP,)), ServiceSearchAttributes((SPP,)), ServiceAttributes(0x10000)), 1
    ):
        h.query(query, token)
    h.expire("response")
    h.expire("response")
    h.expire("response")
    assert sorted(r.token for r in h.results) == [1, 2, 3]


# -- channel lifetime ------------------------------------------------------------------------------


def test_a_refused_channel_fails_the_waiting_queries() -> None:
    core = SdpCore()
    effects = core.handle("app", SdpQueryReq(1, HANDLE, ServiceSearch((SPP,))), 0.0)
    (connect,) = emitted(effects, L2caConnectReq)
    effects = core.handle("l2cap", L2caConnectCnf(connect.token, HANDLE, result=2, error="no"), 0.0)
    (result,) = answers(effects)
    assert result.failure is QueryFailure.CHANNEL_FAILED
    assert core.client.links == {}


def test_a_link_lost_mid_query_fails_it_and_forgets_the_link() -> None:
    h = Harness(peer=lambda request: None)
    h.query(ServiceSearch((SPP,)), token=1)
    h.query(ServiceSearch((SPP,)), token=2)
    h.run(h.core.handle("btm", LinkDownInd(HANDLE, 0x08), 0.0))
    assert [r.failure for r in h.results] == [QueryFailure.CHANNEL_FAILED] * 2
    assert h.core.client.links == {}


def test_the_peer_closing_the_channel_fails_the_running_query() -> None:
    h = Harness(peer=lambda request: None)
    h.query(ServiceSearch((SPP,)), token=1)
    h.run(h.core.handle("l2cap", L2caDisconnectInd(HANDLE, CID, "peer"), 0.0))
    assert h.results[0].failure is QueryFailure.CHANNEL_FAILED
    # A late response on the closed channel goes nowhere.
    assert h.core.handle("l2cap", L2caDataInd(HANDLE, CID, b"\x03\x00\x01"), 0.0) == []


def test_queries_past_the_queue_bound_are_refused_at_once() -> None:
    h = Harness(peer=lambda request: None)
    for token in range(client_module.MAX_QUEUED + 2):
        h.query(ServiceSearch((SPP,)), token)
    (busy,) = h.results
    assert busy.failure is QueryFailure.BUSY


def test_every_pair_of_the_client_channel_table() -> None:
    for state in ClientChannelState:
        for event in ClientChannelEvent:
            if (state, event) in CLIENT_TRANSITIONS:
                assert transition(CLIENT_TRANSITIONS, state, event) in ClientChannelState
            else:
                with pytest.raises(StateTransitionError):
                    transition(CLIENT_TRANSITIONS, state, event)


# -- the server's channels -------------------------------------------------------------------------


def test_the_server_registers_psm_1_without_security_and_bounds_its_channels() -> None:
    core = SdpCore()
    info = ControllerInfo(
        Address.parse("00:11:22:33:44:55"), 13, 0, 13, 0, 0, b"", (0,), None, 1021, 8, 0, 0, None
    )
    effects = core.handle("btm", ControllerReadyInd(info), 0.0)
    (register,) = emitted(effects, L2caRegisterPsmReq)
    assert (register.psm, register.security) == (1, None)
    assert core.handle("btm", ControllerReadyInd(info), 0.0) == []  # after a reset: kept
    for index in range(MAX_SERVER_CHANNELS + 1):
        effects = core.handle("l2cap", L2caConnectInd(HANDLE, 0x40 + index, 1, 0), 0.0)  # type: ignore[arg-type]
        (response,) = emitted(effects, L2caConnectRsp)
        assert response.result == (0 if index < MAX_SERVER_CHANNELS else 0x0004)
        core.handle(
            "l2cap", L2caConfigInd(HANDLE, 0x40 + index, 1, ChannelParameters(672, 48)), 0.0
        )
    request = sdp.ServiceSearchRequest((sdp.Uuid.of(0x1000),), 5).to_bytes(9)
    (answer,) = emitted(core.handle("l2cap", L2caDataInd(HANDLE, 0x40, request), 0.0), L2caDataReq)
    assert sdp.decode_pdu(answer.sdu) == (9, sdp.ServiceSearchResponse(1, (0,)))
    core.handle("btm", LinkDownInd(HANDLE, 0x13), 0.0)
    assert core.connections == {}
