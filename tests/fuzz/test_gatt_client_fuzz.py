"""Arbitrary answers into every GATT client procedure (Core 5.4 Vol 3 Part G 4): each ends with
its result, a GattProtocolError or a GattAttributeError, never another exception out of the
parser and never a loop. The answers are drawn around what each request expects (its own
response with arbitrary entries, the Error Response to it or to another opcode, any other
PDU): handles outside the range asked for, repeated or going back, zero-length entries, a
Read By Type length of 2, declarations of every size, values longer than the MTU lets a
response carry (the CVE-2024-3077 class: a client trusting a server's lengths and handles).
Then the same over the async GattClient: a fake server whose answers are sometimes replaced
by drawn ones, every operation ending in bounded virtual time."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from trio.testing import MockClock

from bluetrio.errors import GattAttributeError, GattError, GattProtocolError
from bluetrio.gatt import procedures
from bluetrio.gatt.client import GattClient
from bluetrio.gatt.procedures import Procedure
from bluetrio.gatt.remote import RemoteCharacteristic, RemoteService, walk_characteristics
from bluetrio.messages import att
from bluetrio.messages.gatt_declarations import CHARACTERISTIC_UUID, INCLUDE_UUID, Properties
from bluetrio.messages.uuids import uuid16
from bluetrio.testing.att_fake import FakeAttServer, FakeBearer
from bluetrio.testing.att_strategies import handles, pdus, pdus_of, uuids16, uuids128

# More answers than this and the procedure is looping: every search must move past the last
# handle it was given, and no procedure of 4.3-4.12 needs more requests than handles.
MAX_ANSWERS = 0x10000 + 8


class Link:
    """The ATT_MTU a procedure reads (an ``AttClientBearer``'s ``mtu``)."""

    def __init__(self, mtu: int) -> None:
        self.mtu = mtu


SERVICE = RemoteService(0x0010, 0x0020, uuid16(0x180F))
CHARACTERISTIC = RemoteCharacteristic(
    0x0011, 0x0012, 0x0015, uuid16(0x2A19), Properties.READ | Properties.NOTIFY
)
VALUE_HANDLE = 0x0012

PROCEDURES: dict[str, Callable[[Link], Procedure[Any]]] = {
    "exchange_mtu": lambda link: procedures.exchange_mtu(517),
    "discover_all_primary_services": lambda link: procedures.discover_primary_services(),
    "discover_primary_services_by_uuid": lambda link: procedures.discover_primary_services(
        uuid16(0x180F)
    ),
    "find_included_services": lambda link: procedures.find_included_services(SERVICE),
    "discover_all_characteristics": lambda link: procedures.discover_characteristics(SERVICE),
    "discover_characteristics_by_uuid": lambda link: procedures.discover_characteristics(
        SERVICE, uuid16(0x2A19)
    ),
    "discover_descriptors": lambda link: procedures.discover_descriptors(CHARACTERISTIC),
    "read": lambda link: procedures.read(VALUE_HANDLE, link),
    "read_long": lambda link: procedures.read_long(VALUE_HANDLE, link),
    "read_by_uuid": lambda link: procedures.read_by_uuid(
        uuid16(0x2A19), SERVICE.handle, SERVICE.end_handle
    ),
    "read_multiple": lambda link: procedures.read_multiple((0x0012, 0x0016), link),
    "read_multiple_variable": lambda link: procedures.read_multiple_variable((0x0012, 0x0016)),
    "write": lambda link: procedures.write(VALUE_HANDLE, b"\x01\x02"),
    "write_long": lambda link: procedures.write_long(VALUE_HANDLE, bytes(range(200)), link),
    "reliable_write": lambda link: procedures.reliable_write(
        ((VALUE_HANDLE, b"abc"), (0x0016, bytes(60))), link
    ),
}


def _near(*anchors: int) -> st.SearchStrategy[int]:
    """Handles at and around the edges of what was asked for, or anywhere."""
    edges = sorted({max(0, min(0xFFFF, a + d)) for a in anchors for d in (-1, 0, 1)})
    return st.sampled_from(edges) | handles


def _range_of(request: att.AttPdu) -> tuple[int, ...]:
    anchors = [getattr(request, name) for name in ("start", "end", "handle", "offset")
               if hasattr(request, name)]  # fmt: skip
    return (*anchors, *getattr(request, "handles", ()), 0, 0xFFFF)


def _declaration_values() -> st.SearchStrategy[bytes]:
    """What a Read By Type response of a search carries: sizes around those defined (5/19 for
    a characteristic declaration, 4/6 for an include), made of the request's handles."""
    return st.one_of(
        st.binary(max_size=21),
        st.builds(
            lambda props, handle, uuid: bytes((props,)) + handle.to_bytes(2, "little") + uuid,
            st.integers(0, 255),
            _near(0x0010, 0x0012, 0x0020),
            st.sampled_from((b"\x19\x2a", bytes(16), b"", b"\x19")),
        ),
    )


def _targeted(request: att.AttPdu) -> st.SearchStrategy[att.AttPdu]:
    """The request's own response, its entries made of handles near the range asked for."""
    near = _near(*_range_of(request))
    if isinstance(request, att.ReadByGroupTypeRequest):
        return st.integers(0, 8).flatmap(
            lambda size: st.lists(
                st.tuples(near, near, st.binary(min_size=size, max_size=size)),
                min_size=1, max_size=6,
            )
        ).map(lambda entries: att.ReadByGroupTypeResponse(tuple(entries)))  # fmt: skip
    if isinstance(request, att.ReadByTypeRequest):
        return (
            _declaration_values()
            .flatmap(
                lambda value: st.lists(st.tuples(near, st.just(value)), min_size=1, max_size=6)
            )
            .map(lambda entries: att.ReadByTypeResponse(tuple(entries)))
        )
    if isinstance(request, att.FindByTypeValueRequest):
        return st.lists(st.tuples(near, near), min_size=1, max_size=6).map(
            lambda ranges: att.FindByTypeValueResponse(tuple(ranges))
        )
    if isinstance(request, att.FindInformationRequest):
        return st.one_of(
            st.lists(st.tuples(near, uuids16), min_size=1, max_size=6),
            st.lists(st.tuples(near, uuids128), min_size=1, max_size=6),
        ).map(lambda entries: att.FindInformationResponse(tuple(entries)))
    if isinstance(request, att.PrepareWriteRequest):
        # The echo, or one with a field changed.
        return st.one_of(
            st.just(att.PrepareWriteResponse(request.handle, request.offset, request.value)),
            st.builds(att.PrepareWriteResponse, near, near, st.binary(max_size=30)),
        )
    if isinstance(request, att.ReadMultipleVariableRequest):
        return st.lists(st.binary(max_size=30), min_size=1, max_size=5).map(
            lambda values: att.ReadMultipleVariableResponse(tuple(values))
        )
    response = att.PDU_CLASSES[att.RESPONSE_TO[att.AttOpcode(request.opcode)]]
    return pdus_of(response)


@st.composite
def _ascending(draw: st.DrawFn, start: int, end: int) -> list[int]:
    """Distinct handles in ``start``..``end``, ascending (what an honest server sends)."""
    top = max(start, min(end, start + 48))
    found = draw(st.lists(st.integers(start, top), min_size=1, max_size=6, unique=True))
    return sorted(found)


def _group_ends(found: list[int], last: int) -> list[tuple[int, int]]:
    """Each found handle with the end of its group: just before the next one, or ``last``."""
    ends = [following - 1 for following in found[1:]] + [max(found[-1], last)]
    return list(zip(found, ends, strict=True))


def _groups(request: att.ReadByGroupTypeRequest) -> st.SearchStrategy[att.AttPdu]:
    uuids = st.sampled_from((b"\x0f\x18", b"\x00\x18", bytes(range(16))))
    found = _ascending(request.start, request.end)
    return st.builds(
        lambda handles, value: att.ReadByGroupTypeResponse(
            tuple(
                (h, end, value)
                for h, end in _group_ends(handles, min(handles[-1] + 3, request.end))
            )
        ),
        found,
        uuids,
    )


def _ranges(request: att.FindByTypeValueRequest) -> st.SearchStrategy[att.AttPdu]:
    return _ascending(request.start, request.end).map(
        lambda handles: att.FindByTypeValueResponse(tuple(_group_ends(handles, handles[-1])))
    )


def _declarations(request: att.ReadByTypeRequest) -> st.SearchStrategy[att.AttPdu]:
    """Characteristic declarations (3.3.1): properties, the value handle right after, UUID."""
    uuids = st.sampled_from((b"\x19\x2a", bytes(range(16))))
    found = _ascending(request.start, max(request.start, request.end - 1))

    def response(handles: list[int], kind: bytes, properties: int) -> att.AttPdu:
        declaration = [
            (h, bytes((properties,)) + (h + 1).to_bytes(2, "little") + kind) for h in handles[::2]
        ]
        return att.ReadByTypeResponse(tuple(declaration))

    return st.builds(response, found, uuids, st.integers(0, 255))


def _includes(request: att.ReadByTypeRequest) -> st.SearchStrategy[att.AttPdu]:
    """Include declarations (3.2): the included service's range and 16-bit UUID."""
    declaration = (0x40).to_bytes(2, "little") + (0x48).to_bytes(2, "little") + b"\x0f\x18"
    return _ascending(request.start, request.end).map(
        lambda handles: att.ReadByTypeResponse(tuple((h, declaration) for h in handles))
    )


def _typed_values(request: att.ReadByTypeRequest, mtu: int) -> st.SearchStrategy[att.AttPdu]:
    """(handle, value) pairs of one length, as many as fit the MTU (3.4.4.2)."""

    def response(handles: list[int], value: bytes) -> att.AttPdu:
        fit = max(1, (mtu - 2) // (2 + len(value)))
        return att.ReadByTypeResponse(tuple((h, value) for h in handles[:fit]))

    values = st.binary(max_size=min(mtu - 4, 253))
    return st.builds(response, _ascending(request.start, request.end), values)


def _honest(request: att.AttPdu, mtu: int) -> st.SearchStrategy[att.AttPdu]:
    """An answer a correct server could give, so that a procedure gets past its first step."""
    not_found = st.just(att.ErrorResponse(request.opcode, 0, att.AttErrorCode.ATTRIBUTE_NOT_FOUND))
    if getattr(request, "start", 0) > getattr(request, "end", 0xFFFF):
        return not_found
    match request:
        case att.ReadByGroupTypeRequest():
            return _groups(request) | not_found
        case att.FindByTypeValueRequest():
            return _ranges(request) | not_found
        case att.ReadByTypeRequest(attribute_type=kind) if kind == CHARACTERISTIC_UUID:
            return _declarations(request) | not_found
        case att.ReadByTypeRequest(attribute_type=kind) if kind == INCLUDE_UUID:
            return _includes(request) | not_found
        case att.ReadByTypeRequest():
            return _typed_values(request, mtu) | not_found
        case att.FindInformationRequest():
            return (
                _ascending(request.start, request.end).map(
                    lambda handles: att.FindInformationResponse(
                        tuple((h, uuid16(0x2902)) for h in handles)
                    )
                )
                | not_found
            )
        case att.ReadRequest() | att.ReadBlobRequest():
            # Full parts (so a long read goes on) and short ones (so it ends).
            response = (
                att.ReadResponse if isinstance(request, att.ReadRequest) else att.ReadBlobResponse
            )
            values = st.binary(min_size=mtu - 1, max_size=mtu - 1) | st.binary(max_size=mtu - 1)
            return values.map(response)
        case att.PrepareWriteRequest():
            return st.just(att.PrepareWriteResponse(request.handle, request.offset, request.value))
        case att.ReadMultipleVariableRequest():
            count = len(request.handles)
            return st.lists(st.binary(max_size=8), min_size=1, max_size=count).map(
                lambda values: att.ReadMultipleVariableResponse(tuple(values))
            )
        case att.ExchangeMtuRequest():
            return st.integers(0, 0xFFFF).map(att.ExchangeMtuResponse)
    return pdus_of(att.PDU_CLASSES[att.RESPONSE_TO[att.AttOpcode(request.opcode)]])


def answers_to(request: att.AttPdu, mtu: int) -> st.SearchStrategy[att.AttPdu]:
    """What a server, honest, broken or hostile, may answer ``request`` with: an honest
    answer half of the time (so procedures get deep), else one of the others."""
    honest = _honest(request, mtu)
    kinds: list[st.SearchStrategy[att.AttPdu]] = [
        honest,
        honest,
        honest,
        honest,
        _targeted(request),
        pdus_of(att.PDU_CLASSES[att.RESPONSE_TO[att.AttOpcode(request.opcode)]]),
        st.builds(
            att.ErrorResponse,
            st.just(request.opcode) | st.integers(0, 255),
            _near(*_range_of(request)),
            st.sampled_from(list(att.AttErrorCode)) | st.integers(0, 255),
        ),
        pdus,
    ]
    # Chosen first, then drawn: one_of would flatten the nested one_of's into its branches
    # and let the 31 PDU classes of ``pdus`` outweigh everything else.
    return st.sampled_from(kinds).flatmap(lambda kind: kind)


def _drive(procedure: Procedure[Any], answer: Callable[[att.AttPdu], att.AttPdu]) -> object:
    """Run ``procedure`` on ``answer``: it must end (its result, or None for a GATT error)
    within MAX_ANSWERS requests, and every request it makes must be one a client may send."""
    try:
        request = next(procedure)
        for _ in range(MAX_ANSWERS):
            assert att.kind_of(request.opcode) is att.PduKind.REQUEST
            assert att.decode_pdu(request.encode()) == request
            request = procedure.send(answer(request))
    except StopIteration as done:
        return done.value
    except (GattProtocolError, GattAttributeError):
        return None
    raise AssertionError(f"still asking after {MAX_ANSWERS} answers: it loops")


def _check_result(name: str, mtu: int, result: object) -> None:
    """What a procedure returns lies within what it asked for, whatever the server said."""
    if result is None:
        return
    if name == "exchange_mtu":
        assert isinstance(result, int) and att.DEFAULT_MTU <= result <= 517
    elif name.startswith("discover") and "primary" in name:
        assert all(1 <= s.handle <= s.end_handle <= 0xFFFF for s in result)
        assert _increasing([(s.handle, s.end_handle) for s in result])
    elif name == "find_included_services":
        assert all(1 <= s.handle <= s.end_handle for s in result)
    elif name.startswith("discover") and "characteristics" in name:
        for c in result:
            assert SERVICE.handle <= c.handle < c.value_handle <= c.end_handle <= SERVICE.end_handle
    elif name == "discover_descriptors":
        handles_found = [d.handle for d in result]
        assert handles_found == sorted(set(handles_found))
        assert all(
            CHARACTERISTIC.value_handle < h <= CHARACTERISTIC.end_handle for h in handles_found
        )
    elif name in ("read", "read_long"):
        assert isinstance(result, bytes) and len(result) <= att.MAX_VALUE_LENGTH + mtu
    elif name == "read_by_uuid":
        assert all(SERVICE.handle <= h <= SERVICE.end_handle for h, _ in result)
    elif name == "read_multiple_variable":
        assert len(result) <= 2


def _increasing(ranges: list[tuple[int, int]]) -> bool:
    return all(a[1] < b[0] for a, b in itertools.pairwise(ranges))


# Answers drawn for the first steps; after them the server answers Attribute Not Found, which
# ends every search (and any other procedure with a GattAttributeError).
DRAWN_STEPS = 24


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.sampled_from(sorted(PROCEDURES)), st.sampled_from((23, 24, 64, 247, 517)), st.data())
def test_any_answers_end_every_procedure_with_its_result_or_a_gatt_error(
    name: str, mtu: int, data: st.DataObject
) -> None:
    steps = 0

    def answer(request: att.AttPdu) -> att.AttPdu:
        nonlocal steps
        steps += 1
        if steps > DRAWN_STEPS:
            return att.ErrorResponse(request.opcode, 0, att.AttErrorCode.ATTRIBUTE_NOT_FOUND)
        return data.draw(answers_to(request, mtu))

    result = _drive(PROCEDURES[name](Link(mtu)), answer)
    event(f"{name}: {'error' if result is None else 'result'} after {min(steps, 99)} steps")
    _check_result(name, mtu, result)


def _answers(*answers: att.AttPdu) -> Callable[[att.AttPdu], att.AttPdu]:
    """A server that gives these answers in turn, then Attribute Not Found."""
    queue = list(answers)

    def answer(request: att.AttPdu) -> att.AttPdu:
        if queue:
            return queue.pop(0)
        return att.ErrorResponse(request.opcode, 0, att.AttErrorCode.ATTRIBUTE_NOT_FOUND)

    return answer


def _fails(name: str, *answers: att.AttPdu, mtu: int = 23) -> None:
    with pytest.raises(GattProtocolError):
        procedure = PROCEDURES[name](Link(mtu))
        request = next(procedure)
        answer = _answers(*answers)
        while True:
            request = procedure.send(answer(request))


SERVICE_ENTRY = (0x0001, 0x0005, b"\x00\x18")
DECLARATION = bytes((0x12,)) + (0x0012).to_bytes(2, "little") + b"\x19\x2a"


@pytest.mark.parametrize(
    ("name", "answers"),
    [
        # Handles outside the range asked for, repeated or going back.
        ("discover_all_characteristics", [att.ReadByTypeResponse(((0x0009, DECLARATION),))]),
        ("discover_all_characteristics", [att.ReadByTypeResponse(((0x0021, DECLARATION),))]),
        (
            "discover_all_characteristics",
            [
                att.ReadByTypeResponse(((0x0011, DECLARATION),)),
                att.ReadByTypeResponse(((0x0011, DECLARATION),)),
            ],
        ),
        (
            "discover_all_primary_services",
            [att.ReadByGroupTypeResponse(((0x0000, 0x0005, b"\x00\x18"),))],
        ),
        (
            "discover_all_primary_services",
            [
                att.ReadByGroupTypeResponse((SERVICE_ENTRY,)),
                att.ReadByGroupTypeResponse((SERVICE_ENTRY,)),
            ],
        ),
        (
            "discover_all_primary_services",
            [att.ReadByGroupTypeResponse(((0x0005, 0x0004, b"\x00\x18"),))],
        ),
        ("discover_primary_services_by_uuid", [att.FindByTypeValueResponse(((0x0008, 0x0007),))]),
        ("discover_descriptors", [att.FindInformationResponse(((0x0012, uuid16(0x2902)),))]),
        ("discover_descriptors", [att.FindInformationResponse(((0x0016, uuid16(0x2902)),))]),
        ("read_by_uuid", [att.ReadByTypeResponse(((0x0030, b"\x01"),))]),
        ("find_included_services", [att.ReadByTypeResponse(((0x0005, bytes(6)),))]),
        # A Read By Type length of 2: declarations with no octet of a value.
        ("discover_all_characteristics", [att.ReadByTypeResponse(((0x0011, b""),))]),
        ("find_included_services", [att.ReadByTypeResponse(((0x0011, b""),))]),
        # Declarations of sizes the procedure does not define; a value handle before its
        # declaration or outside the service; a UUID of 0 or 3 octets.
        ("discover_all_characteristics", [att.ReadByTypeResponse(((0x0011, DECLARATION[:4]),))]),
        (
            "discover_all_characteristics",
            [att.ReadByTypeResponse(((0x0011, DECLARATION + b"\x00"),))],
        ),
        (
            "discover_all_characteristics",
            [att.ReadByTypeResponse(((0x0013, DECLARATION),))],
        ),
        (
            "discover_all_characteristics",
            [att.ReadByTypeResponse(((0x0011, b"\x02\x30\x00\x19\x2a"),))],
        ),
        ("discover_all_primary_services", [att.ReadByGroupTypeResponse(((0x0001, 0x0005, b""),))]),
        (
            "discover_all_primary_services",
            [att.ReadByGroupTypeResponse(((0x0001, 0x0005, b"abc"),))],
        ),
        (
            "find_included_services",
            [att.ReadByTypeResponse(((0x0011, bytes((0x30, 0, 0x20, 0)) + b"\x0f"),))],
        ),
        # A response with no entry cannot be made; an Error Response to another request, a
        # response of another request.
        ("read", [att.ErrorResponse(0x0C, 0x0012, 0x02)]),
        ("read", [att.ReadBlobResponse(b"x")]),
        ("write", [att.ReadResponse(b"")]),
        # A value longer than the response can carry at this MTU; more values than handles.
        ("read", [att.ReadResponse(bytes(23))]),
        ("read_multiple", [att.ReadMultipleResponse(bytes(30))]),
        ("read_multiple_variable", [att.ReadMultipleVariableResponse((b"a", b"b", b"c"))]),
        # A prepared part not echoed as sent.
        ("write_long", [att.PrepareWriteResponse(VALUE_HANDLE, 1, bytes(range(18)))]),
    ],
)
def test_a_broken_answer_ends_the_procedure_with_a_protocol_error(
    name: str, answers: list[att.AttPdu]
) -> None:
    _fails(name, *answers)


def test_a_server_that_gives_one_service_per_answer_ends_at_the_last_handle() -> None:
    # The slowest legal progress: 65,535 answers, then the search is done (no loop).
    def answer(request: att.AttPdu) -> att.AttPdu:
        assert isinstance(request, att.ReadByGroupTypeRequest)
        return att.ReadByGroupTypeResponse(((request.start, request.start, b"\x00\x18"),))

    result = _drive(procedures.discover_primary_services(), answer)
    assert isinstance(result, tuple) and len(result) == 0xFFFF


# -- the async client over a server that sometimes lies -------------------------------------


def _fake_database() -> tuple[FakeAttServer, dict[str, int]]:
    """A database of every kind the client meets: GAP, the GATT service with Service
    Changed and the Database Hash, a service with an include, a long value, a notifying
    characteristic, a 128-bit one."""
    server = FakeAttServer(receive_mtu=247)
    server.add_service(uuid16(0x1800))
    server.add_characteristic(uuid16(0x2A00), Properties.READ, b"bluetrio")
    server.add_service(uuid16(0x1801))
    server.add_characteristic(uuid16(0x2A05), Properties.INDICATE)
    server.add_characteristic(uuid16(0x2B2A), Properties.READ, bytes(16))
    included = server.add_service(uuid16(0x180A), primary=False)
    server.add_characteristic(uuid16(0x2A29), Properties.READ, b"maker")
    server.add_service(uuid16(0x180F))
    server.add_include(included)
    handles = {
        "level": server.add_characteristic(
            uuid16(0x2A19), Properties.READ | Properties.NOTIFY, b"\x64"
        ),
        "long": server.add_characteristic(
            uuid16(0x2A24), Properties.READ | Properties.WRITE, bytes(range(256)) + bytes(44)
        ),
    }
    server.add_service(uuid16(0x12345678))
    handles["wide"] = server.add_characteristic(
        uuid16(0x12345679), Properties.READ | Properties.WRITE, b"wide"
    )
    return server, handles


async def _discover_all(client: GattClient, handles: dict[str, int]) -> None:
    services = await client.discover_all()
    assert all(1 <= s.handle <= s.end_handle for s in services)


async def _read_long(client: GattClient, handles: dict[str, int]) -> None:
    await client.exchange_mtu(64)
    value = await client.read(handles["long"])
    assert len(value) <= att.MAX_VALUE_LENGTH


async def _read_many(client: GattClient, handles: dict[str, int]) -> None:
    await client.read_multiple((handles["level"], handles["wide"]))
    await client.read_multiple_variable((handles["level"], handles["long"]))
    await client.read_by_uuid(uuid16(0x2A19))


async def _write_long(client: GattClient, handles: dict[str, int]) -> None:
    await client.write_long(handles["long"], bytes(range(100)))
    await client.reliable_write(((handles["wide"], b"w"), (handles["long"], bytes(40))))


async def _subscribe(client: GattClient, handles: dict[str, int]) -> None:
    services = await client.discover_all()
    found = [c for c in walk_characteristics(services) if c.uuid == uuid16(0x2A19)]
    for level in found[:1]:  # none when the server hid it
        async with client.subscribe(level):
            pass


OPERATIONS = {
    "discover_all": _discover_all,
    "read_long": _read_long,
    "read_many": _read_many,
    "write_long": _write_long,
    "subscribe": _subscribe,
}


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)
@given(st.sampled_from(sorted(OPERATIONS)), st.data())
def test_the_client_against_a_server_that_sometimes_lies_ends_every_operation(
    name: str, data: st.DataObject
) -> None:
    """Each answer of an honest server is, or is not, replaced by a drawn one: the
    operation ends with its result or a GATT error, in bounded (virtual) time."""
    server, handles = _fake_database()

    def tamper(request: att.AttPdu, answer: att.AttPdu) -> att.AttPdu:
        if data.draw(st.integers(0, 3), label="replace") == 3:
            return data.draw(answers_to(request, server.mtu), label="answer")
        return answer

    client = GattClient(FakeBearer(server, tamper=tamper))

    async def main() -> None:
        with trio.fail_after(10 * att.TRANSACTION_TIMEOUT):
            try:
                await OPERATIONS[name](client, handles)
            except GattError:
                event(f"{name}: GATT error")
                return
            event(f"{name}: done")

    trio.run(main, clock=MockClock(autojump_threshold=0))
