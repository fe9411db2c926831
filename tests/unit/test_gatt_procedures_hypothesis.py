"""Arbitrary answers into every GATT client procedure: each ends with its result or a GATT
error of that operation, never another exception, and within a bounded number of steps
(no peer keeps a procedure looping: CVE-2024-3077 class)."""

from __future__ import annotations

import contextlib
import uuid as uuid_module
from collections.abc import Callable
from typing import Any

import trio
from gatt_database import database
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bluetrio.errors import GattError, InvalidArgumentError
from bluetrio.gatt import procedures as gatt
from bluetrio.gatt.client import GattClient
from bluetrio.gatt.remote import RemoteCharacteristic, RemoteService
from bluetrio.messages.att import (
    MAX_MTU,
    PDU_CLASSES,
    AttDecodeError,
    AttPdu,
    ErrorResponse,
    ExecuteWriteResponse,
    FindByTypeValueResponse,
    FindInformationResponse,
    PrepareWriteResponse,
    ReadBlobResponse,
    ReadByGroupTypeResponse,
    ReadByTypeResponse,
    ReadMultipleVariableResponse,
    ReadResponse,
    WriteResponse,
    decode_pdu,
)
from bluetrio.messages.gatt_declarations import Properties
from bluetrio.messages.uuids import uuid16
from bluetrio.testing.att_fake import FakeBearer

# The peer answers from a short list, over and over: a procedure that kept asking while
# the answers repeat would be looping (each step of a search must advance past the last).
STEP_LIMIT = 1_000

handles = st.one_of(st.integers(0, 0x30), st.integers(0, 0xFFFF))
uuid_bytes = st.one_of(
    st.binary(min_size=2, max_size=2), st.binary(min_size=16, max_size=16), st.binary(max_size=20)
)
values = st.binary(max_size=40)


def pdu(cls: type[AttPdu], *fields: st.SearchStrategy[Any]) -> st.SearchStrategy[AttPdu | None]:
    """PDUs of ``cls`` from ``fields``; None for values its codec refuses to make (a peer
    cannot send those: they would not decode)."""

    def make(values: tuple[Any, ...]) -> AttPdu | None:
        try:
            return cls(*values)
        except InvalidArgumentError:
            return None

    return st.tuples(*fields).map(make)


def near(request: AttPdu) -> st.SearchStrategy[int]:
    """Handles anywhere, or around where the request starts (where a peer that repeats or
    goes back would answer)."""
    start = getattr(request, "start", getattr(request, "handle", 1))
    return st.one_of(handles, st.integers(max(0, start - 3), min(0xFFFF, start + 8)))


@st.composite
def equal_length_entries(draw: st.DrawFn, request: AttPdu, groups: bool) -> AttPdu | None:
    """Read By Type or Read By Group Type entries sharing one value length, sizes chosen
    around those the procedures expect (UUIDs, declarations of 5 and 19, includes of 4/6)."""
    size = draw(st.one_of(st.sampled_from([2, 4, 5, 6, 16, 19]), st.integers(0, 24)))
    count = draw(st.integers(1, 4))
    entries = []
    for _ in range(count):
        handle = draw(near(request))
        value = draw(st.binary(min_size=size, max_size=size))
        if size >= 3 and draw(st.booleans()):  # a plausible value handle just past it
            value = value[:1] + min(handle + 1, 0xFFFF).to_bytes(2, "little") + value[3:]
        entries.append((handle, draw(near(request)), value) if groups else (handle, value))
    cls = ReadByGroupTypeResponse if groups else ReadByTypeResponse
    return draw(pdu(cls, st.just(tuple(entries))))


@st.composite
def decoded(draw: st.DrawFn) -> AttPdu | None:
    """Whatever a peer's bytes decode to, for any opcode."""
    opcode = draw(st.sampled_from(sorted(PDU_CLASSES)))
    try:
        return decode_pdu(bytes((opcode,)) + draw(st.binary(max_size=60)))
    except AttDecodeError:
        return None


def answers(request: AttPdu) -> st.SearchStrategy[AttPdu | None]:
    uuid_entry = st.tuples(
        near(request), st.sampled_from([uuid16(0x2902), uuid16(0x2901), uuid_module.UUID(int=7)])
    )
    return st.one_of(
        pdu(
            ErrorResponse,
            st.one_of(st.just(request.opcode), st.integers(0, 0xFF)),
            handles,
            st.integers(0, 0xFF),
        ),
        equal_length_entries(request, groups=False),
        equal_length_entries(request, groups=True),
        pdu(
            FindByTypeValueResponse,
            st.lists(st.tuples(near(request), near(request)), min_size=1, max_size=4).map(tuple),
        ),
        pdu(FindInformationResponse, st.lists(uuid_entry, min_size=1, max_size=4).map(tuple)),
        pdu(ReadResponse, st.binary(max_size=30)),
        pdu(ReadBlobResponse, st.binary(max_size=30)),
        pdu(ReadMultipleVariableResponse, st.lists(values, min_size=1, max_size=4).map(tuple)),
        pdu(PrepareWriteResponse, handles, st.integers(0, 600), values),
        st.just(WriteResponse()),
        st.just(ExecuteWriteResponse()),
        decoded(),
    )


def procedures() -> dict[str, Callable[[], gatt.Procedure[object]]]:
    class Mtu:
        mtu = 23

    service = RemoteService(0x0010, 0x0030, uuid16(0x180F))
    characteristic = RemoteCharacteristic(0x11, 0x12, 0x20, uuid16(0x2A19), Properties.READ)
    return {
        "exchange_mtu": lambda: gatt.exchange_mtu(MAX_MTU),
        "services": lambda: gatt.discover_primary_services(),
        "services_by_uuid": lambda: gatt.discover_primary_services(uuid16(0x180F)),
        "included": lambda: gatt.find_included_services(service),
        "characteristics": lambda: gatt.discover_characteristics(service),
        "characteristics_by_uuid": lambda: gatt.discover_characteristics(service, uuid16(0x2A19)),
        "descriptors": lambda: gatt.discover_descriptors(characteristic),
        "read": lambda: gatt.read(0x12, Mtu()),
        "read_long": lambda: gatt.read_long(0x12, Mtu(), 5),
        "read_by_uuid": lambda: gatt.read_by_uuid(uuid16(0x2A19)),
        "read_multiple": lambda: gatt.read_multiple([0x12, 0x13], Mtu()),
        "read_multiple_variable": lambda: gatt.read_multiple_variable([0x12, 0x13]),
        "write": lambda: gatt.write(0x12, b"v"),
        "write_long": lambda: gatt.write_long(0x12, bytes(100), Mtu()),
        "reliable_write": lambda: gatt.reliable_write([(0x12, b"a" * 30), (0x14, b"b")], Mtu()),
    }


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(name=st.sampled_from(sorted(procedures())), data=st.data())
def test_arbitrary_answers_end_every_procedure_with_a_result_or_its_error(
    name: str, data: st.DataObject
) -> None:
    script: list[AttPdu | None] = []
    length = data.draw(st.sampled_from([1, 1, 2, 3, 6]), label="answers before they repeat")
    steps = 0

    def answer(request: AttPdu) -> AttPdu:
        nonlocal steps
        steps += 1
        assert steps < STEP_LIMIT, f"{name} is looping"
        if len(script) < length:
            script.append(data.draw(answers(request)))
        drawn = script[(steps - 1) % length]
        return drawn if drawn is not None else ErrorResponse(request.opcode, 0, 0x0A)

    with contextlib.suppress(GattError):
        gatt.run_procedure(procedures()[name](), answer)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_the_whole_discovery_under_a_server_that_sometimes_lies(data: st.DataObject) -> None:
    """discover_all() over a real database whose answers are now and then replaced by
    arbitrary ones: the tree, or a GATT error, never a hang or another exception."""
    db = database()
    steps = 0

    def tamper(request: AttPdu, answer: AttPdu) -> AttPdu:
        nonlocal steps
        steps += 1
        assert steps < STEP_LIMIT, "discover_all is looping"
        if data.draw(st.integers(0, 3), label="lie") != 0:
            return answer
        drawn = data.draw(answers(request))
        return drawn if drawn is not None else answer

    async def discover() -> None:
        with contextlib.suppress(GattError):
            await GattClient(FakeBearer(db.server, tamper=tamper)).discover_all()

    trio.run(discover)
