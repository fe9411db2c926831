"""The GATT client procedures (Core 5.4 Vol 3 Part G 4) against an in-memory server, and
against servers that break the rules: every broken answer is an error of that operation."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from gatt_database import (
    BATTERY,
    CUSTOM,
    CUSTOM_VALUE,
    GAP,
    LEVEL,
    LONG_VALUE,
    USER_DESCRIPTION,
    Database,
    database,
)

from bluetrio.errors import GattAttributeError, GattProtocolError
from bluetrio.gatt import procedures as gatt
from bluetrio.gatt.remote import RemoteCharacteristic, RemoteDescriptor, RemoteService
from bluetrio.messages.att import (
    AttErrorCode,
    AttOpcode,
    AttPdu,
    ErrorResponse,
    ExchangeMtuRequest,
    ExecuteWriteRequest,
    FindByTypeValueResponse,
    FindInformationResponse,
    PrepareWriteRequest,
    PrepareWriteResponse,
    ReadBlobRequest,
    ReadBlobResponse,
    ReadByGroupTypeRequest,
    ReadByGroupTypeResponse,
    ReadByTypeResponse,
    ReadMultipleVariableResponse,
    ReadRequest,
    ReadResponse,
    WriteResponse,
)
from bluetrio.messages.gatt_declarations import CCCD_UUID, Properties
from bluetrio.messages.uuids import uuid16
from bluetrio.testing.att_fake import FakeAttServer


def run(procedure: gatt.Procedure[gatt.T], server: FakeAttServer) -> gatt.T:
    return gatt.run_procedure(procedure, server.answer)


def tampered(
    server: FakeAttServer, tamper: Callable[[AttPdu, AttPdu], AttPdu]
) -> Callable[[AttPdu], AttPdu]:
    return lambda request: tamper(request, server.answer(request))


def exchange(db: Database, mtu: int) -> None:
    run(gatt.exchange_mtu(mtu), db.server)


# -- success --------------------------------------------------------------------------------


@pytest.mark.parametrize("mtu", [23, 517])
def test_discover_all_primary_services(mtu: int) -> None:
    db = database(mtu)
    exchange(db, mtu)
    services = run(gatt.discover_primary_services(), db.server)
    assert services == (db.gap, db.custom, db.battery)
    requests = [r for r in db.server.requests if isinstance(r, ReadByGroupTypeRequest)]
    # At 23 octets a response carries three 16-bit or one 128-bit service; the search ends
    # with Attribute Not Found or the group ending at the last handle.
    assert requests[0].start == 1
    assert all(b.start > a.start for a, b in itertools.pairwise(requests))


def test_discover_primary_service_by_uuid() -> None:
    db = database(23)
    assert run(gatt.discover_primary_services(BATTERY), db.server) == (db.battery,)
    assert run(gatt.discover_primary_services(CUSTOM), db.server) == (db.custom,)
    assert run(gatt.discover_primary_services(uuid16(0x1234)), db.server) == ()


def test_find_included_services_with_16_and_128_bit_uuids() -> None:
    db = database(23)
    found = run(gatt.find_included_services(db.custom), db.server)
    assert found == (db.secondary_16, db.secondary_128)
    # The 128-bit UUID is not in the include declaration: it is read from the service's.
    assert ReadRequest(db.secondary_128.handle) in db.server.requests
    assert run(gatt.find_included_services(db.gap), db.server) == ()


@pytest.mark.parametrize("mtu", [23, 517])
def test_discover_characteristics(mtu: int) -> None:
    db = database(mtu)
    exchange(db, mtu)
    found = run(gatt.discover_characteristics(db.custom), db.server)
    assert [(c.uuid, c.value_handle) for c in found] == [
        (CUSTOM_VALUE, db.custom_value),
        (LEVEL, db.long_value),
    ]
    first, second = found
    assert first.properties == Properties.READ | Properties.WRITE | Properties.NOTIFY
    assert first.end_handle == second.handle - 1  # its CCCD and user description
    assert second.end_handle == db.custom.end_handle
    by_uuid = run(gatt.discover_characteristics(db.custom, LEVEL), db.server)
    assert by_uuid == (second,)


def test_discover_descriptors() -> None:
    db = database(23)
    (characteristic, _) = run(gatt.discover_characteristics(db.custom), db.server)
    descriptors = run(gatt.discover_descriptors(characteristic), db.server)
    assert descriptors == (
        RemoteDescriptor(db.custom_value + 1, CCCD_UUID),
        RemoteDescriptor(db.custom_value + 2, USER_DESCRIPTION),
    )
    alone = RemoteCharacteristic(db.level - 1, db.level, db.level, LEVEL, Properties.READ)
    before = len(db.server.requests)
    assert run(gatt.discover_descriptors(alone), db.server) == ()
    assert len(db.server.requests) == before  # nothing to search: no request


@pytest.mark.parametrize("mtu", [23, 100, 517])
def test_read_reads_long_values_in_full(mtu: int) -> None:
    db = database(mtu)
    exchange(db, mtu)
    server = db.server
    assert run(gatt.read(db.name, server), server) == b"bluetrio"
    assert run(gatt.read(db.long_value, server), server) == LONG_VALUE
    blobs = [r for r in server.requests if isinstance(r, ReadBlobRequest)]
    assert [b.offset for b in blobs] == list(range(mtu - 1, len(LONG_VALUE), mtu - 1))


def test_read_of_a_value_exactly_filling_the_response_asks_once_more() -> None:
    db = database(23)
    db.server.attributes[db.name].value = bytes(22)
    assert run(gatt.read(db.name, db.server), db.server) == bytes(22)
    assert db.server.requests[-1] == ReadBlobRequest(db.name, 22)


@pytest.mark.parametrize("length", [448, 511, 512])
def test_read_long_stops_at_512_octets(length: int) -> None:
    db = database(65)  # parts of 64 octets: eight make 512
    exchange(db, 65)
    db.server.attributes[db.name].value = (bytes(range(256)) * 2)[:length]
    value = run(gatt.read(db.name, db.server), db.server)
    assert value == (bytes(range(256)) * 2)[:length]
    offsets = [r.offset for r in db.server.requests if isinstance(r, ReadBlobRequest)]
    assert max(offsets) <= 448  # no attribute is longer than 512 octets: none asked at 512


def test_read_long_from_an_offset() -> None:
    db = database(23)
    assert run(gatt.read_long(db.long_value, db.server, 100), db.server) == LONG_VALUE[100:]
    assert db.server.requests[0] == ReadBlobRequest(db.long_value, 100)


def test_read_long_ends_on_attribute_not_long() -> None:
    db = database(23)
    db.server.attributes[db.name].value = bytes(22)

    def not_long(request: AttPdu, answer: AttPdu) -> AttPdu:
        if isinstance(request, ReadBlobRequest):
            return ErrorResponse(request.opcode, request.handle, AttErrorCode.ATTRIBUTE_NOT_LONG)
        return answer

    answer = tampered(db.server, not_long)
    assert gatt.run_procedure(gatt.read(db.name, db.server), answer) == bytes(22)
    with pytest.raises(GattAttributeError) as raised:
        gatt.run_procedure(gatt.read_long(db.name, db.server), answer)
    assert raised.value.error_code == AttErrorCode.ATTRIBUTE_NOT_LONG


def test_read_by_uuid_and_read_multiple() -> None:
    db = database(23)
    found = run(gatt.read_by_uuid(LEVEL), db.server)
    assert found == ((db.long_value, LONG_VALUE[:19]), (db.level, b"\x64"))
    assert run(gatt.read_by_uuid(uuid16(0x2A07), 1, db.secondary_16.end_handle), db.server) == (
        (db.secondary_16.handle + 2, b"\x00"),
    )
    assert run(gatt.read_by_uuid(uuid16(0x2BFF)), db.server) == ()
    assert run(gatt.read_multiple([db.name, db.level], db.server), db.server) == b"bluetrio\x64"
    values = run(gatt.read_multiple_variable([db.name, db.level]), db.server)
    assert values == (b"bluetrio", b"\x64")


def test_read_multiple_variable_keeps_a_value_cut_short() -> None:
    db = database(23)
    values = run(gatt.read_multiple_variable([db.long_value, db.level]), db.server)
    assert values == (LONG_VALUE[:20],)


@pytest.mark.parametrize("mtu", [23, 517])
def test_writes(mtu: int) -> None:
    db = database(mtu)
    exchange(db, mtu)
    server = db.server
    run(gatt.write(db.custom_value, b"new"), server)
    assert server.value(db.custom_value) == b"new"
    value = bytes(reversed(range(250))) * 2  # 500 octets
    run(gatt.write_long(db.long_value, value, server), server)
    assert server.value(db.long_value) == value
    prepares = [r for r in server.requests if isinstance(r, PrepareWriteRequest)]
    assert [p.offset for p in prepares] == list(range(0, 500, mtu - 5))
    assert server.requests[-1] == ExecuteWriteRequest(True)


def test_write_long_at_an_offset() -> None:
    db = database(23)
    run(gatt.write_long(db.custom_value, b"OM", db.server, offset=1), db.server)
    assert db.server.value(db.custom_value) == b"cOMtom"


def test_reliable_write_applies_every_value_with_one_execute() -> None:
    db = database(23)
    run(
        gatt.reliable_write([(db.custom_value, b"x" * 40), (db.long_value, b"y")], db.server),
        db.server,
    )
    assert db.server.value(db.custom_value) == b"x" * 40
    assert db.server.value(db.long_value) == b"y" + LONG_VALUE[1:]
    executes = [r for r in db.server.requests if isinstance(r, ExecuteWriteRequest)]
    assert executes == [ExecuteWriteRequest(True)]


def test_exchange_mtu() -> None:
    server = FakeAttServer(receive_mtu=247)
    assert run(gatt.exchange_mtu(517), server) == 247
    assert run(gatt.exchange_mtu(100), FakeAttServer(receive_mtu=247)) == 100
    # A server MTU below the default leaves the default (Vol 3 Part F 3.4.2.2).
    low = FakeAttServer(receive_mtu=20)
    assert run(gatt.exchange_mtu(517), low) == 23


def test_cccd_value() -> None:
    assert gatt.cccd_value(True, False) == b"\x01\x00"
    assert gatt.cccd_value(False, True) == b"\x02\x00"
    assert gatt.cccd_value(True, True) == b"\x03\x00"
    assert gatt.cccd_value(False, False) == b"\x00\x00"


# -- Error Responses ------------------------------------------------------------------------


def every_procedure(db: Database) -> dict[str, Callable[[], gatt.Procedure[object]]]:
    server = db.server
    characteristic = RemoteCharacteristic(
        db.custom_value - 1, db.custom_value, db.custom_value + 2, CUSTOM_VALUE, Properties.READ
    )
    return {
        "exchange_mtu": lambda: gatt.exchange_mtu(517),
        "services": lambda: gatt.discover_primary_services(),
        "services_by_uuid": lambda: gatt.discover_primary_services(BATTERY),
        "included": lambda: gatt.find_included_services(db.custom),
        "characteristics": lambda: gatt.discover_characteristics(db.custom),
        "descriptors": lambda: gatt.discover_descriptors(characteristic),
        "read": lambda: gatt.read(db.long_value, server),
        "read_long": lambda: gatt.read_long(db.long_value, server),
        "read_by_uuid": lambda: gatt.read_by_uuid(LEVEL),
        "read_multiple": lambda: gatt.read_multiple([db.name, db.level], server),
        "read_multiple_variable": lambda: gatt.read_multiple_variable([db.name, db.level]),
        "write": lambda: gatt.write(db.custom_value, b"v"),
        "write_long": lambda: gatt.write_long(db.custom_value, bytes(100), server),
        "reliable_write": lambda: gatt.reliable_write([(db.custom_value, b"a")], server),
    }


PROCEDURES = list(every_procedure(database()))


@pytest.mark.parametrize("name", PROCEDURES)
@pytest.mark.parametrize(
    "code",
    [
        AttErrorCode.INVALID_HANDLE,
        AttErrorCode.READ_NOT_PERMITTED,
        AttErrorCode.INSUFFICIENT_AUTHENTICATION,
        AttErrorCode.INSUFFICIENT_ENCRYPTION,
        AttErrorCode.ENCRYPTION_KEY_SIZE_TOO_SHORT,
        AttErrorCode.INSUFFICIENT_AUTHORIZATION,
        AttErrorCode.UNLIKELY_ERROR,
        AttErrorCode.DATABASE_OUT_OF_SYNC,
        0x80,  # an application error
    ],
)
def test_an_error_response_is_the_operations_error(name: str, code: int) -> None:
    db = database(23)

    def refuse(request: AttPdu, answer: AttPdu) -> AttPdu:
        return ErrorResponse(request.opcode, 0x0042, code)

    with pytest.raises(GattAttributeError) as raised:
        gatt.run_procedure(every_procedure(db)[name](), tampered(db.server, refuse))
    assert (raised.value.error_code, raised.value.handle) == (code, 0x0042)


@pytest.mark.parametrize("name", PROCEDURES)
def test_an_error_response_to_another_opcode_is_a_protocol_error(name: str) -> None:
    db = database(23)

    def other(request: AttPdu, answer: AttPdu) -> AttPdu:
        other = AttOpcode.READ_REQUEST if request.opcode != AttOpcode.READ_REQUEST else 0x08
        return ErrorResponse(other, 1, AttErrorCode.UNLIKELY_ERROR)

    with pytest.raises(GattProtocolError):
        gatt.run_procedure(every_procedure(db)[name](), tampered(db.server, other))


@pytest.mark.parametrize("name", PROCEDURES)
def test_another_response_is_a_protocol_error(name: str) -> None:
    db = database(23)

    def wrong(request: AttPdu, answer: AttPdu) -> AttPdu:
        if isinstance(answer, WriteResponse):
            return ReadResponse(b"")
        return WriteResponse()

    with pytest.raises(GattProtocolError):
        gatt.run_procedure(every_procedure(db)[name](), tampered(db.server, wrong))


def test_attribute_not_found_ends_a_search_with_what_was_found() -> None:
    db = database(23)
    calls = 0

    def stop_after_first(request: AttPdu, answer: AttPdu) -> AttPdu:
        nonlocal calls
        calls += 1
        if calls > 1:
            return ErrorResponse(request.opcode, 1, AttErrorCode.ATTRIBUTE_NOT_FOUND)
        return answer

    found = gatt.run_procedure(
        gatt.discover_primary_services(), tampered(db.server, stop_after_first)
    )
    assert found == (db.gap,)  # the first answer holds the 16-bit UUIDs before the 128-bit one


def test_write_long_cancels_when_a_prepare_is_refused() -> None:
    db = database(23)
    calls = 0

    def queue_full(request: AttPdu, answer: AttPdu) -> AttPdu:
        nonlocal calls
        calls += 1
        if isinstance(request, PrepareWriteRequest) and calls == 3:
            return ErrorResponse(request.opcode, request.handle, AttErrorCode.PREPARE_QUEUE_FULL)
        return answer

    with pytest.raises(GattAttributeError) as raised:
        gatt.run_procedure(
            gatt.write_long(db.custom_value, bytes(100), db.server), tampered(db.server, queue_full)
        )
    assert raised.value.error_code == AttErrorCode.PREPARE_QUEUE_FULL
    assert db.server.requests[-1] == ExecuteWriteRequest(False)
    assert db.server.value(db.custom_value) == b"custom"
    assert db.server.prepared == []


@pytest.mark.parametrize(
    "echo",
    [
        lambda p: PrepareWriteResponse(p.handle, p.offset, p.value[:-1] + b"!"),
        lambda p: PrepareWriteResponse(p.handle, p.offset + 1, p.value),
        lambda p: PrepareWriteResponse(p.handle + 1, p.offset, p.value),
        lambda p: PrepareWriteResponse(p.handle, p.offset, p.value[:-1]),
    ],
)
def test_write_long_cancels_on_a_wrong_echo(echo: Callable[[PrepareWriteRequest], AttPdu]) -> None:
    db = database(23)

    def corrupt(request: AttPdu, answer: AttPdu) -> AttPdu:
        if isinstance(request, PrepareWriteRequest) and request.offset == 18:
            return echo(request)
        return answer

    with pytest.raises(GattProtocolError, match="echo"):
        gatt.run_procedure(
            gatt.reliable_write([(db.custom_value, bytes(range(40)))], db.server),
            tampered(db.server, corrupt),
        )
    assert db.server.requests[-1] == ExecuteWriteRequest(False)
    assert db.server.value(db.custom_value) == b"custom"


# -- malformed answers --------------------------------------------------------------------


def answering(*answers: AttPdu) -> Callable[[AttPdu], AttPdu]:
    """Answers in order, then Attribute Not Found for whatever else is asked."""
    queue = list(answers)

    def answer(request: AttPdu) -> AttPdu:
        if queue:
            return queue.pop(0)
        return ErrorResponse(request.opcode, 1, AttErrorCode.ATTRIBUTE_NOT_FOUND)

    return answer


SERVICE = RemoteService(0x0010, 0x0020, BATTERY)
DECLARATION = bytes((Properties.READ,)) + (0x0012).to_bytes(2, "little") + b"\x19\x2a"


@pytest.mark.parametrize(
    ("procedure", "answers"),
    [
        # a group going back, repeating, outside the range, ending below its start
        (
            gatt.discover_primary_services,
            [
                ReadByGroupTypeResponse(((1, 5, b"\x00\x18"),)),
                ReadByGroupTypeResponse(((3, 9, b"\x0f\x18"),)),
            ],
        ),
        (
            gatt.discover_primary_services,
            [
                ReadByGroupTypeResponse(((1, 5, b"\x00\x18"),)),
                ReadByGroupTypeResponse(((1, 5, b"\x00\x18"),)),
            ],
        ),
        (gatt.discover_primary_services, [ReadByGroupTypeResponse(((6, 5, b"\x00\x18"),))]),
        (gatt.discover_primary_services, [ReadByGroupTypeResponse(((0, 5, b"\x00\x18"),))]),
        (
            gatt.discover_primary_services,
            [ReadByGroupTypeResponse(((1, 5, b"\x00\x18"), (4, 8, b"\x0f\x18")))],
        ),
        # a service UUID of neither 2 nor 16 octets
        (gatt.discover_primary_services, [ReadByGroupTypeResponse(((1, 5, b"\x00\x18\x00\x00"),))]),
        (lambda: gatt.discover_primary_services(BATTERY), [FindByTypeValueResponse(((5, 4),))]),
        (
            lambda: gatt.discover_primary_services(BATTERY),
            [FindByTypeValueResponse(((5, 9),)), FindByTypeValueResponse(((7, 9),))],
        ),
        # characteristics: a declaration of the wrong size, a value handle not past it or
        # outside the service, a value past the next declaration, handles outside the range
        (
            lambda: gatt.discover_characteristics(SERVICE),
            [ReadByTypeResponse(((0x11, DECLARATION + b"\x00"),))],
        ),
        (
            lambda: gatt.discover_characteristics(SERVICE),
            [ReadByTypeResponse(((0x11, DECLARATION[:4]),))],
        ),
        (
            lambda: gatt.discover_characteristics(SERVICE),
            [ReadByTypeResponse(((0x12, DECLARATION),))],
        ),
        (
            lambda: gatt.discover_characteristics(SERVICE),
            [ReadByTypeResponse(((0x11, DECLARATION[:1] + b"\x21\x00" + DECLARATION[3:]),))],
        ),
        (
            lambda: gatt.discover_characteristics(SERVICE),
            [ReadByTypeResponse(((0x0F, DECLARATION),))],
        ),
        (
            lambda: gatt.discover_characteristics(SERVICE),
            [
                ReadByTypeResponse(
                    (
                        (0x11, DECLARATION[:1] + b"\x14\x00" + DECLARATION[3:]),
                        (0x13, DECLARATION[:1] + b"\x15\x00" + DECLARATION[3:]),
                    )
                )
            ],
        ),
        (
            lambda: gatt.discover_characteristics(SERVICE),
            [
                ReadByTypeResponse(((0x11, DECLARATION),)),
                ReadByTypeResponse(((0x11, DECLARATION),)),
            ],
        ),
        # included services: the wrong size, an empty range, a 128-bit UUID of 15 octets
        (
            lambda: gatt.find_included_services(SERVICE),
            [ReadByTypeResponse(((0x11, b"\x01\x00\x02\x00\x0f"),))],
        ),
        (
            lambda: gatt.find_included_services(SERVICE),
            [ReadByTypeResponse(((0x11, b"\x05\x00\x02\x00\x0f\x18"),))],
        ),
        (
            lambda: gatt.find_included_services(SERVICE),
            [ReadByTypeResponse(((0x11, b"\x00\x00\x02\x00\x0f\x18"),))],
        ),
        (
            lambda: gatt.find_included_services(SERVICE),
            [ReadByTypeResponse(((0x11, b"\x30\x00\x32\x00"),)), ReadResponse(bytes(15))],
        ),
        # descriptors past the characteristic, going back
        (
            lambda: gatt.discover_descriptors(
                RemoteCharacteristic(0x11, 0x12, 0x15, LEVEL, Properties.READ)
            ),
            [FindInformationResponse(((0x16, CCCD_UUID),))],
        ),
        (
            lambda: gatt.discover_descriptors(
                RemoteCharacteristic(0x11, 0x12, 0x15, LEVEL, Properties.READ)
            ),
            [
                FindInformationResponse(((0x14, CCCD_UUID),)),
                FindInformationResponse(((0x13, CCCD_UUID),)),
            ],
        ),
        (
            lambda: gatt.discover_descriptors(
                RemoteCharacteristic(0x11, 0x12, 0x15, LEVEL, Properties.READ)
            ),
            [FindInformationResponse(((0x12, CCCD_UUID),))],
        ),
        # read: longer than the MTU allows, a blob going past 512 octets or too long
        (lambda: gatt.read(1, FakeAttServer()), [ReadResponse(bytes(23))]),
        (
            lambda: gatt.read(1, FakeAttServer()),
            [ReadResponse(bytes(22)), ReadBlobResponse(bytes(23))],
        ),
        (
            lambda: gatt.read(1, FakeAttServer()),
            [ReadResponse(bytes(22))] + [ReadBlobResponse(bytes(22))] * 30,
        ),
        (lambda: gatt.read_by_uuid(LEVEL, 0x10, 0x20), [ReadByTypeResponse(((0x21, b"x"),))]),
        (
            lambda: gatt.read_by_uuid(LEVEL, 0x10, 0x20),
            [ReadByTypeResponse(((0x12, b"x"),)), ReadByTypeResponse(((0x12, b"x"),))],
        ),
        (
            lambda: gatt.read_multiple_variable([1, 2]),
            [ReadMultipleVariableResponse((b"a", b"b", b"c"))],
        ),
        (lambda: gatt.read_multiple([1, 2], FakeAttServer()), [ReadResponse(b"")]),
    ],
)
def test_a_malformed_answer_is_a_protocol_error(
    procedure: Callable[[], gatt.Procedure[object]], answers: list[AttPdu]
) -> None:
    with pytest.raises(GattProtocolError):
        gatt.run_procedure(procedure(), answering(*answers))


def test_a_search_ending_at_the_last_handle_asks_no_more() -> None:
    answers = answering(ReadByGroupTypeResponse(((1, 0xFFFF, b"\x00\x18"),)))
    asked: list[AttPdu] = []

    def answer(request: AttPdu) -> AttPdu:
        asked.append(request)
        return answers(request)

    found = gatt.run_procedure(gatt.discover_primary_services(), answer)
    assert found == (RemoteService(1, 0xFFFF, GAP),)
    assert len(asked) == 1


def test_exchange_mtu_request_carries_our_mtu() -> None:
    server = FakeAttServer()
    run(gatt.exchange_mtu(300), server)
    assert server.requests == [ExchangeMtuRequest(300)]
