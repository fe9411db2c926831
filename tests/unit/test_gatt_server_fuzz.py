"""Any sequence of ATT PDUs, well-formed or not, into the server, with the application
answering, failing or not answering in time (Core 5.4 Vol 3 Part F 3.3, 3.4): the server never
raises, answers each request exactly once (at once or when the application has answered),
never answers a command, and every response fits the bearer's MTU."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from bluetrio.actors.effects import Emit
from bluetrio.actors.gatt.outputs import SendPdu
from bluetrio.actors.gatt.permissions import LinkSecurity
from bluetrio.actors.gatt.server import GattServer
from bluetrio.address import Address
from bluetrio.errors import AttDecodeError
from bluetrio.messages.att import (
    AttPdu,
    ErrorResponse,
    ExecuteWriteRequest,
    FindByTypeValueRequest,
    FindInformationRequest,
    PduKind,
    PrepareWriteRequest,
    ReadBlobRequest,
    ReadByGroupTypeRequest,
    ReadByTypeRequest,
    ReadMultipleRequest,
    ReadMultipleVariableRequest,
    ReadRequest,
    SignedWriteCommand,
    WriteCommand,
    WriteRequest,
    decode_pdu,
    kind_of,
)
from bluetrio.messages.gatt_declarations import (
    AccessSecurity,
    Characteristic,
    Descriptor,
    ExtendedProperties,
    Permissions,
    Properties,
    ReadContext,
    Service,
    WriteContext,
)
from bluetrio.messages.gatt_service import (
    GattServerReadInd,
    GattServerReadRsp,
    GattServerWriteInd,
    GattServerWriteRsp,
)
from bluetrio.messages.uuids import uuid16

LINK = 0x0001
BEARERS = (0, 0x0041)


async def serve(context: ReadContext) -> bytes:
    return b""


async def take(context: WriteContext, value: bytes) -> None:
    return None


async def allow(context: ReadContext | WriteContext) -> bool:
    return True


def database() -> list[Service]:
    locked = AccessSecurity(encryption=True, min_key_size=16)
    ask = AccessSecurity(authorization=True)
    return [
        Service(
            0x180F,
            (
                Characteristic(0x2A19, Properties.READ | Properties.NOTIFY, value=b"\x64"),
                Characteristic(
                    0x2A3D,
                    Properties.READ | Properties.WRITE | Properties.INDICATE,
                    on_read=serve,
                    on_write=take,
                    descriptors=(Descriptor(0x2908, on_read=serve),),
                ),
                Characteristic(
                    uuid.UUID("0000aaaa-1111-2222-3333-444455556666"),
                    Properties.READ
                    | Properties.WRITE
                    | Properties.WRITE_WITHOUT_RESPONSE
                    | Properties.AUTHENTICATED_SIGNED_WRITES,
                    value=bytes(300),
                    permissions=Permissions(
                        readable=True, writable=True, read_security=locked, write_security=ask
                    ),
                    authorize=allow,
                    extended_properties=ExtendedProperties.RELIABLE_WRITE,
                    user_description="long",
                ),
            ),
        )
    ]


handles = st.one_of(st.integers(0, 24), st.sampled_from([0xFFFE, 0xFFFF]))
types = st.one_of(
    st.sampled_from([0x2800, 0x2801, 0x2802, 0x2803, 0x2902, 0x2A19, 0x2A3D]).map(uuid16),
    st.just(uuid.UUID("0000aaaa-1111-2222-3333-444455556666")),
)
values = st.binary(max_size=40)
requests = st.one_of(
    st.builds(FindInformationRequest, handles, handles),
    st.builds(FindByTypeValueRequest, handles, handles, st.sampled_from([0x2800, 0x2A19]), values),
    st.builds(ReadByTypeRequest, handles, handles, types),
    st.builds(ReadRequest, handles),
    st.builds(ReadBlobRequest, handles, st.integers(0, 320)),
    st.builds(ReadMultipleRequest, st.lists(handles, min_size=2, max_size=4).map(tuple)),
    st.builds(ReadMultipleVariableRequest, st.lists(handles, min_size=2, max_size=4).map(tuple)),
    st.builds(ReadByGroupTypeRequest, handles, handles, types),
    st.builds(WriteRequest, handles, values),
    st.builds(WriteCommand, handles, values),
    st.builds(
        SignedWriteCommand, handles, values, st.integers(0, 5), st.binary(min_size=8, max_size=8)
    ),
    st.builds(PrepareWriteRequest, handles, st.integers(0, 320), values),
    st.builds(ExecuteWriteRequest, st.booleans()),
)
# Raw octets: an unknown opcode, a truncated PDU, trailing octets...
raw = st.builds(
    lambda opcode, rest: bytes([opcode]) + rest, st.integers(0, 255), st.binary(max_size=8)
)
securities = st.builds(LinkSecurity, st.booleans(), st.booleans(), st.sampled_from([0, 7, 16]))
answers = st.sampled_from(["value", "none", "error", "bad code", "timeout", "later"])
steps = st.one_of(
    st.tuples(st.just("pdu"), requests, st.sampled_from(BEARERS)),
    st.tuples(st.just("raw"), raw, st.sampled_from(BEARERS)),
    st.tuples(st.just("security"), securities, st.just(0)),
    st.tuples(st.just("answer"), answers, values),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(steps, max_size=40), st.sampled_from([23, 64, 517]))
def test_any_pdus_any_answers(script: list[tuple[str, object, object]], mtu: int) -> None:
    def check_signature(link: int, pdu: SignedWriteCommand) -> LinkSecurity | None:
        return LinkSecurity(True, True, 16) if pdu.sign_counter % 2 else None

    server = GattServer(signature_check=check_signature)
    for service in database():
        server.add_service(service)
    server.on_link_up(LINK, Address.parse("00:00:00:00:00:01"), LinkSecurity(), bonded=False)
    open_requests: dict[int, AttPdu] = {}  # bearer -> request waiting for the application
    asked: list[GattServerReadInd | GattServerWriteInd] = []

    def absorb(outputs: list[object], request: AttPdu | None, bearer: int) -> None:
        sent = [o for o in outputs if isinstance(o, SendPdu)]
        for output in sent:
            assert output.handle == LINK
            assert len(output.pdu.encode()) <= mtu
        emitted = [o.message for o in outputs if isinstance(o, Emit)]
        asked.extend(m for m in emitted if isinstance(m, GattServerReadInd | GattServerWriteInd))
        if request is None:
            return
        if kind_of(request.opcode) is PduKind.COMMAND:
            assert sent == []
        elif sent:
            assert len(sent) == 1 and sent[0].bearer == bearer
        else:
            open_requests[bearer] = request

    for kind, item, extra in script:
        if kind == "pdu":
            assert isinstance(item, AttPdu) and isinstance(extra, int)
            waiting = extra in open_requests and kind_of(item.opcode) is PduKind.REQUEST
            outputs = server.on_request(LINK, extra, item, mtu, 0.0)
            if waiting:
                assert outputs == []  # the bearer core never lets this happen
                continue
            absorb(list(outputs), item, extra)
        elif kind == "raw":
            assert isinstance(item, bytes) and isinstance(extra, int)
            if extra in open_requests:
                continue
            try:
                pdu = decode_pdu(item)
            except AttDecodeError as error:
                outputs = server.on_decode_error(LINK, extra, error)
                sent = [o for o in outputs if isinstance(o, SendPdu)]
                assert len(sent) <= 1 and all(isinstance(o.pdu, ErrorResponse) for o in sent)
                continue
            absorb(list(server.on_request(LINK, extra, pdu, mtu, 0.0)), pdu, extra)
        elif kind == "security":
            assert isinstance(item, LinkSecurity)
            server.on_security_changed(LINK, item)
        elif asked:
            ind = asked.pop(0)
            assert isinstance(extra, bytes)
            if item == "timeout":
                outputs = server.on_application_timeout(ind.request_id)
            elif item == "later":
                asked.append(ind)
                continue
            elif isinstance(ind, GattServerReadInd):
                value = {"value": extra, "none": None}.get(str(item))
                code = {"error": 0x80, "bad code": 0x1FF}.get(str(item), 0)
                outputs = server.on_application_answer(
                    GattServerReadRsp(ind.request_id, value, code)
                )
            else:
                code = {"error": 0x80, "bad code": 0x1FF}.get(str(item), 0)
                outputs = server.on_application_answer(GattServerWriteRsp(ind.request_id, code))
            sent = [o for o in outputs if isinstance(o, SendPdu)]
            for output in sent:
                assert output.bearer in open_requests
                del open_requests[output.bearer]
                assert len(output.pdu.encode()) <= mtu
            emitted = [o.message for o in outputs if isinstance(o, Emit)]
            asked.extend(
                m for m in emitted if isinstance(m, GattServerReadInd | GattServerWriteInd)
            )
    # Whatever still waits is the application's to answer; the link going drops it.
    server.on_link_down(LINK)
    for ind in asked:
        assert server.on_application_timeout(ind.request_id) == []
