"""The SDP server driven synchronously (Core 5.4 Vol 3 Part B 4.4-4.7): every request PDU,
every error response, responses split with continuation state at small
MaximumAttributeByteCount and MTU, and each way of presenting a continuation state the
server did not issue for that request (CVE-2017-0785, CVE-2017-1000250)."""

from __future__ import annotations

import uuid

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sdp_strategies import requests

import bluetrio.messages.sdp as sdp
from bluetrio.actors.sdp.database import FIRST_RECORD_HANDLE, MAX_RECORDS, RecordDatabase
from bluetrio.actors.sdp.server import SdpServer, ServerConnection
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.sdp_records import (
    SERIAL_PORT,
    AttributeId,
    ServiceRecord,
    rfcomm_service_record,
    serial_port_record,
)

CHAT = uuid.UUID("8ce255c0-200a-11e0-ac64-0800200c9a66")


def server_with_records(count: int = 2) -> tuple[SdpServer, list[int]]:
    database = RecordDatabase()
    handles = [database.add(serial_port_record(channel=1), "app")]
    handles += [
        database.add(rfcomm_service_record(CHAT, f"chat {i} " + "x" * 40, 2 + i), "app")
        for i in range(count - 1)
    ]
    return SdpServer(database), handles


def ask(
    server: SdpServer, connection: ServerConnection, request: sdp.SdpPdu, tid: int = 1
) -> sdp.SdpPdu:
    answer_tid, response = sdp.decode_pdu(server.respond(connection, request.to_bytes(tid)))
    assert answer_tid == tid
    return response


def error_code(response: sdp.SdpPdu) -> int:
    assert isinstance(response, sdp.ErrorResponse), response
    return response.error_code


def read_all(
    server: SdpServer, connection: ServerConnection, request: sdp.SdpRequest
) -> tuple[bytes, int]:
    """Follow the continuation states; the joined attribute bytes and the rounds taken."""
    parts, rounds = [], 0
    while True:
        rounds += 1
        response = ask(server, connection, request, tid=rounds)
        assert isinstance(
            response, sdp.ServiceAttributeResponse | sdp.ServiceSearchAttributeResponse
        ), response
        part = (
            response.attribute_list
            if isinstance(response, sdp.ServiceAttributeResponse)
            else response.attribute_lists
        )
        assert len(part) <= request.maximum_bytes  # type: ignore[union-attr]
        parts.append(part)
        if not response.continuation:
            return b"".join(parts), rounds
        request = attrs.evolve(request, continuation=response.continuation)


# -- the three searches ----------------------------------------------------------------------------


def test_service_search_matches_uuids_in_every_size() -> None:
    server, handles = server_with_records(3)
    connection = ServerConnection(672)
    for pattern in (
        (sdp.Uuid(SERIAL_PORT, 2),),
        (sdp.Uuid(SERIAL_PORT, 4),),
        (sdp.Uuid(SERIAL_PORT, 16),),
        (sdp.Uuid.of(0x1101), sdp.Uuid.of(0x0003)),  # every UUID of the pattern: RFCOMM too
    ):
        response = ask(server, connection, sdp.ServiceSearchRequest(pattern, 10))
        assert response == sdp.ServiceSearchResponse(1, (handles[0],))
    response = ask(server, connection, sdp.ServiceSearchRequest((sdp.Uuid.of(0x0003),), 10))
    assert response == sdp.ServiceSearchResponse(3, tuple(handles))
    response = ask(server, connection, sdp.ServiceSearchRequest((sdp.Uuid.of(0x0003),), 2))
    assert response == sdp.ServiceSearchResponse(2, tuple(handles[:2]))
    none = ask(server, connection, sdp.ServiceSearchRequest((sdp.Uuid.of(0x1102),), 10))
    assert none == sdp.ServiceSearchResponse(0, ())


def test_service_search_splits_handles_at_the_mtu() -> None:
    database = RecordDatabase()
    handles = [database.add(serial_port_record(channel=1 + i % 30), "app") for i in range(20)]
    server, connection = SdpServer(database), ServerConnection(48)
    request = sdp.ServiceSearchRequest((sdp.Uuid.of(0x1101),), 0xFFFF)
    got: list[int] = []
    rounds = 0
    while True:
        rounds += 1
        response = ask(server, connection, request, tid=rounds)
        assert isinstance(response, sdp.ServiceSearchResponse)
        assert response.total_records == 20
        assert len(response.to_bytes(rounds)) <= 48
        got += response.handles
        if not response.continuation:
            break
        request = attrs.evolve(request, continuation=response.continuation)
    assert got == handles and rounds > 2


def test_service_attribute_returns_the_attributes_asked_in_order() -> None:
    server, handles = server_with_records()
    connection = ServerConnection(672)
    request = sdp.ServiceAttributeRequest(
        handles[0], 0xFFFF, (sdp.AttributeRange(0x0100, 0x0100), sdp.AttributeRange(0, 1))
    )
    response = ask(server, connection, request)
    assert isinstance(response, sdp.ServiceAttributeResponse) and not response.continuation
    record = ServiceRecord.decode(response.attribute_list)
    assert [attribute_id for attribute_id, _ in record.attributes] == [0x0000, 0x0001, 0x0100]
    assert record.handle == handles[0] and record.name == "Serial Port"
    # A range with nothing in it is an empty attribute list (4.6.2).
    nothing = ask(
        server,
        connection,
        sdp.ServiceAttributeRequest(handles[0], 0xFFFF, (sdp.AttributeRange(0x0300, 0x03FF),)),
    )
    assert nothing == sdp.ServiceAttributeResponse(b"\x35\x00")


def test_service_search_attribute_returns_one_list_per_record() -> None:
    server, handles = server_with_records(3)
    request = sdp.ServiceSearchAttributeRequest((sdp.Uuid.of(CHAT),), 0xFFFF, sdp.ALL_ATTRIBUTES)
    joined, _ = read_all(server, ServerConnection(672), request)
    element = sdp.decode_element_exactly(joined)
    assert isinstance(element, sdp.Sequence)
    records = [ServiceRecord.from_element(item) for item in element.items]
    assert [record.handle for record in records] == handles[1:]
    assert [record.rfcomm_channel for record in records] == [2, 3]


def test_the_server_record_describes_the_server_and_its_database_state() -> None:
    database = RecordDatabase()
    server = SdpServer(database)
    request = sdp.ServiceAttributeRequest(0, 0xFFFF, sdp.ALL_ATTRIBUTES)
    before = ServiceRecord.decode(ask(server, ServerConnection(672), request).attribute_list)  # type: ignore[attr-defined]
    handle = database.add(serial_port_record(2), "app")
    after = ServiceRecord.decode(ask(server, ServerConnection(672), request).attribute_list)  # type: ignore[attr-defined]
    assert before.l2cap_psm == 1
    assert before[AttributeId.SERVICE_DATABASE_STATE] != after[AttributeId.SERVICE_DATABASE_STATE]
    assert database.remove(handle, "someone else") is not None
    assert database.remove(handle, "app") is None
    assert handle == FIRST_RECORD_HANDLE


# -- continuation: splitting -----------------------------------------------------------------------


@pytest.mark.parametrize("maximum", [7, 8, 13, 32, 100])
@pytest.mark.parametrize("mtu", [48, 100, 672])
def test_attribute_responses_split_at_maximum_attribute_byte_count(maximum: int, mtu: int) -> None:
    server, handles = server_with_records(4)
    connection = ServerConnection(mtu)
    whole, _ = read_all(
        server,
        ServerConnection(672),
        sdp.ServiceSearchAttributeRequest((sdp.Uuid.of(0x0003),), 0xFFFF, sdp.ALL_ATTRIBUTES),
    )
    request = sdp.ServiceSearchAttributeRequest((sdp.Uuid.of(0x0003),), maximum, sdp.ALL_ATTRIBUTES)
    joined, rounds = read_all(server, connection, request)
    assert joined == whole
    assert rounds >= len(whole) // maximum
    single = sdp.ServiceAttributeRequest(handles[1], maximum, sdp.ALL_ATTRIBUTES)
    joined, _ = read_all(server, connection, single)
    assert ServiceRecord.decode(joined).handle == handles[1]
    assert connection.pending is None  # nothing kept once the last part went


# -- continuation: every way to present a state the server did not issue ---------------------------


def started(maximum: int = 10) -> tuple[SdpServer, ServerConnection, sdp.SdpRequest, bytes]:
    """A server in the middle of a split response: the request and the state it issued."""
    server, _ = server_with_records(3)
    connection = ServerConnection(672)
    request = sdp.ServiceSearchAttributeRequest((sdp.Uuid.of(0x0003),), maximum, sdp.ALL_ATTRIBUTES)
    response = ask(server, connection, request)
    assert isinstance(response, sdp.ServiceSearchAttributeResponse) and response.continuation
    return server, connection, request, response.continuation


def test_a_state_the_server_never_issued_is_refused() -> None:
    *_, state = started()
    forged = bytes(len(state) - 1) + b"\x01"
    for bogus in (
        forged,
        state[:-1],
        state + b"\x00",
        b"\xff" * 16,
        bytes((state[0] ^ 1,)) + state[1:],
    ):
        server2, connection2, request2, _ = started()
        response = ask(server2, connection2, attrs.evolve(request2, continuation=bogus))
        assert error_code(response) == sdp.ErrorCode.INVALID_CONTINUATION_STATE
        assert connection2.pending is None


def test_a_state_with_no_response_under_way_is_refused() -> None:
    server, _ = server_with_records()
    request = sdp.ServiceSearchAttributeRequest(
        (sdp.Uuid.of(0x0003),),
        10,
        sdp.ALL_ATTRIBUTES,
        continuation=b"\x00\x00\x00\x01\x00\x00\x00\x0a",
    )
    assert error_code(ask(server, ServerConnection(672), request)) == 5


def test_a_state_for_another_request_is_refused() -> None:
    for change in (
        {"maximum_bytes": 11},
        {"attribute_ids": (sdp.AttributeRange(0, 0xFFFE),)},
        {"pattern": (sdp.Uuid.of(0x0100),)},
    ):
        server, connection, request, state = started()
        changed = attrs.evolve(request, continuation=state, **change)
        assert error_code(ask(server, connection, changed)) == 5
    # The same state on a service attribute request (another PDU) is refused too.
    server, connection, _, state = started()
    other = sdp.ServiceAttributeRequest(FIRST_RECORD_HANDLE, 10, sdp.ALL_ATTRIBUTES, state)
    assert error_code(ask(server, connection, other)) == 5


def test_a_state_issued_to_another_connection_is_refused() -> None:
    server, _, request, state = started()
    elsewhere = ServerConnection(672)
    assert error_code(ask(server, elsewhere, attrs.evolve(request, continuation=state))) == 5


def test_a_replayed_state_is_refused_after_the_server_moved_on() -> None:
    server, connection, request, first = started()
    response = ask(server, connection, attrs.evolve(request, continuation=first))
    assert isinstance(response, sdp.ServiceSearchAttributeResponse) and response.continuation
    assert error_code(ask(server, connection, attrs.evolve(request, continuation=first))) == 5
    # ...and once the client started a new request, the old request's state is dead too.
    server, connection, request, state = started()
    ask(server, connection, sdp.ServiceSearchRequest((sdp.Uuid.of(0x1101),), 5))
    assert error_code(ask(server, connection, attrs.evolve(request, continuation=state))) == 5


def test_the_offset_is_never_taken_from_the_wire() -> None:
    # CVE-2017-0785 let a client pick the offset; a state naming an offset past the end must
    # not read past the response (it is refused: it is not the state issued).
    server, connection, request, state = started()
    past_the_end = state[:4] + (0xFFFF).to_bytes(4, "big")
    assert (
        error_code(ask(server, connection, attrs.evolve(request, continuation=past_the_end))) == 5
    )
    service_search = sdp.ServiceSearchRequest((sdp.Uuid.of(3),), 0xFFFF, past_the_end)
    assert error_code(ask(server, ServerConnection(48), service_search)) == 5


# -- malformed requests ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", sdp.ErrorCode.INVALID_PDU_SIZE),
        (b"\x02\x00\x07", sdp.ErrorCode.INVALID_PDU_SIZE),
        (bytes.fromhex("0200070009" + "3503191101000a00"), sdp.ErrorCode.INVALID_PDU_SIZE),
        (bytes.fromhex("0200070007" + "3503191101000a00"), sdp.ErrorCode.INVALID_PDU_SIZE),
        (bytes.fromhex("0200070008" + "3503091101000a00"), sdp.ErrorCode.INVALID_REQUEST_SYNTAX),
        (bytes.fromhex("0200070008" + "3503191101000000"), sdp.ErrorCode.INVALID_REQUEST_SYNTAX),
        (bytes.fromhex("0300070005" + "0000000000"), sdp.ErrorCode.INVALID_REQUEST_SYNTAX),
        (bytes.fromhex("0100070002" + "0003"), sdp.ErrorCode.INVALID_REQUEST_SYNTAX),
        (bytes.fromhex("0900070000"), sdp.ErrorCode.INVALID_REQUEST_SYNTAX),
        (
            bytes.fromhex("0400070008" + "00010000" + "0006" + "3500"),
            sdp.ErrorCode.INVALID_REQUEST_SYNTAX,
        ),
    ],
)
def test_malformed_requests_get_the_spec_error(data: bytes, code: sdp.ErrorCode) -> None:
    server, _ = server_with_records()
    raw = sdp.split_pdu(server.respond(ServerConnection(672), data))
    assert raw.pdu_id == sdp.PduId.ERROR_RESPONSE
    assert raw.transaction_id == (7 if len(data) >= 3 else 0)
    assert sdp.ErrorResponse.from_parameters(raw.parameters).error_code == code


def test_an_unknown_record_handle_is_an_invalid_service_record_handle() -> None:
    server, _ = server_with_records()
    request = sdp.ServiceAttributeRequest(0x12345678, 0xFFFF, sdp.ALL_ATTRIBUTES)
    assert error_code(ask(server, ServerConnection(672), request)) == 2


def test_the_database_is_bounded() -> None:
    database = RecordDatabase()
    for channel in range(MAX_RECORDS - 1):
        database.add(serial_port_record(1 + channel % 30), "app")
    with pytest.raises(InvalidArgumentError):
        database.add(serial_port_record(1), "app")


# -- fuzzing ---------------------------------------------------------------------------------------


@settings(max_examples=300)
@given(
    data=st.binary(max_size=120) | requests.map(lambda pdu: pdu.to_bytes(3)),
    mtu=st.integers(48, 700),
)
def test_any_octets_get_one_response_pdu_that_fits(data: bytes, mtu: int) -> None:
    server, _ = server_with_records(3)
    connection = ServerConnection(mtu)
    answer = server.respond(connection, data)
    assert len(answer) <= mtu
    sdp.decode_pdu(answer)  # well-formed


@settings(max_examples=100)
@given(
    sequence=st.lists(
        st.binary(max_size=60) | requests.map(lambda pdu: pdu.to_bytes(1)), max_size=12
    )
)
def test_what_a_connection_keeps_stays_bounded(sequence: list[bytes]) -> None:
    server, _ = server_with_records(3)
    connection = ServerConnection(48)
    for data in sequence:
        server.respond(connection, data)
        pending = connection.pending
        assert pending is None or len(pending.payload) < 4096
