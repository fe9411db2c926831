"""The GATT server core: every request's answers and errors (Core 5.4 Vol 3 Part F 3.4),
driven synchronously."""

from __future__ import annotations

import uuid

import pytest

from bluetrio.actors.effects import Emit
from bluetrio.actors.gatt.gap_service import GapServiceConfig, PreferredConnectionParameters
from bluetrio.actors.gatt.outputs import Output, SendPdu
from bluetrio.actors.gatt.permissions import UNSECURED, LinkSecurity
from bluetrio.actors.gatt.prepare_queue import PREPARE_QUEUE_LIMIT
from bluetrio.actors.gatt.server import GattServer
from bluetrio.address import Address
from bluetrio.errors import AttDecodeError, InvalidArgumentError
from bluetrio.messages.att import (
    AttErrorCode,
    AttOpcode,
    AttPdu,
    ErrorResponse,
    ExchangeMtuRequest,
    ExecuteWriteRequest,
    ExecuteWriteResponse,
    FindByTypeValueRequest,
    FindByTypeValueResponse,
    FindInformationRequest,
    FindInformationResponse,
    PrepareWriteRequest,
    PrepareWriteResponse,
    ReadBlobRequest,
    ReadBlobResponse,
    ReadByGroupTypeRequest,
    ReadByGroupTypeResponse,
    ReadByTypeRequest,
    ReadByTypeResponse,
    ReadMultipleRequest,
    ReadMultipleResponse,
    ReadMultipleVariableRequest,
    ReadMultipleVariableResponse,
    ReadRequest,
    ReadResponse,
    SignedWriteCommand,
    WriteCommand,
    WriteRequest,
    WriteResponse,
    decode_pdu,
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
    GattSubscriptionInd,
)
from bluetrio.messages.uuids import uuid16

LINK = 0x0040
PEER = Address.parse("11:22:33:44:55:66")
CUSTOM = uuid.UUID("0000aaaa-1111-2222-3333-444455556666")
ENCRYPTED = LinkSecurity(encrypted=True, authenticated=False, key_size=16)


async def serve(context: ReadContext) -> bytes:
    return b""


async def take(context: WriteContext, value: bytes) -> None:
    return None


async def allow(context: ReadContext | WriteContext) -> bool:
    return True


class Harness:
    def __init__(
        self,
        *services: Service,
        security: LinkSecurity = UNSECURED,
        gap: GapServiceConfig | None = None,
        server: GattServer | None = None,
    ) -> None:
        self.server = server or GattServer(gap)
        self.handles = [self.server.add_service(service) for service in services]
        assert self.server.on_link_up(LINK, PEER, security, bonded=False) == []

    def ask(self, pdu: AttPdu, mtu: int = 23, bearer: int = 0) -> list[Output]:
        return self.server.on_request(LINK, bearer, pdu, mtu, now=0.0)

    def answer(self, pdu: AttPdu, mtu: int = 23) -> AttPdu:
        outputs = self.ask(pdu, mtu)
        return self.only_response(outputs, mtu)

    @staticmethod
    def only_response(outputs: list[Output], mtu: int = 23) -> AttPdu:
        sent = [o for o in outputs if isinstance(o, SendPdu)]
        assert len(sent) == 1, outputs
        assert sent[0].handle == LINK
        encoded = sent[0].pdu.encode()
        assert len(encoded) <= mtu  # every response fits the bearer's MTU
        assert decode_pdu(encoded) == sent[0].pdu
        return sent[0].pdu


def error(opcode: AttOpcode, handle: int, code: AttErrorCode | int) -> ErrorResponse:
    return ErrorResponse(int(opcode), handle, int(code))


# -- a small database ---------------------------------------------------------------------------
# GAP 0x0001-0x0005; battery 0x0006-0x0009 (decl 7, value 8, CCCD 9); custom 0x000A-0x000E.
BATTERY = Service(
    0x180F, (Characteristic(0x2A19, Properties.READ | Properties.NOTIFY, value=b"\x64"),)
)


def custom_service(value: bytes = b"hello") -> Service:
    return Service(
        CUSTOM,
        (
            Characteristic(
                CUSTOM,
                Properties.READ | Properties.WRITE | Properties.WRITE_WITHOUT_RESPONSE,
                value=value,
                extended_properties=ExtendedProperties.RELIABLE_WRITE,
            ),
            Characteristic(0x2A3D, Properties.WRITE, value=b""),
        ),
    )


def small() -> Harness:
    return Harness(BATTERY, custom_service())


# -- discovery ----------------------------------------------------------------------------------
def test_find_information_in_pieces_of_one_uuid_size() -> None:
    harness = small()
    first = harness.answer(FindInformationRequest(0x0001, 0xFFFF))
    assert first == FindInformationResponse(
        (
            (1, uuid16(0x2800)),
            (2, uuid16(0x2803)),
            (3, uuid16(0x2A00)),
            (4, uuid16(0x2803)),
            (5, uuid16(0x2A01)),
        )
    )
    second = harness.answer(FindInformationRequest(0x0006, 0xFFFF))
    assert [h for h, _ in second.entries] == [6, 7, 8, 9, 10]  # type: ignore[attr-defined]
    # 0x000C is the 128-bit value: alone, 18 octets per entry.
    third = harness.answer(FindInformationRequest(0x000B, 0xFFFF))
    assert third == FindInformationResponse(((0x0B, uuid16(0x2803)),))
    assert harness.answer(FindInformationRequest(0x000C, 0xFFFF)) == FindInformationResponse(
        ((0x0C, CUSTOM),)
    )
    found = harness.answer(FindInformationRequest(0x000C, 0xFFFF), mtu=40)
    assert found == FindInformationResponse(((0x0C, CUSTOM),))


@pytest.mark.parametrize(
    "request_pdu",
    [
        FindInformationRequest(0, 5),
        FindInformationRequest(6, 5),
        FindByTypeValueRequest(0, 5, 0x2800, b"\x0f\x18"),
        FindByTypeValueRequest(6, 5, 0x2800, b"\x0f\x18"),
        ReadByTypeRequest(0, 5, uuid16(0x2803)),
        ReadByTypeRequest(6, 5, uuid16(0x2803)),
        ReadByGroupTypeRequest(0, 5, uuid16(0x2800)),
        ReadByGroupTypeRequest(6, 5, uuid16(0x2800)),
    ],
)
def test_handle_zero_or_start_above_end_is_invalid_handle(request_pdu: AttPdu) -> None:
    start = request_pdu.start  # type: ignore[attr-defined]
    assert small().answer(request_pdu) == error(
        request_pdu.opcode, start, AttErrorCode.INVALID_HANDLE
    )


@pytest.mark.parametrize(
    "request_pdu",
    [
        FindInformationRequest(0x0100, 0xFFFF),
        FindByTypeValueRequest(1, 0xFFFF, 0x2800, b"\x99\x99"),
        ReadByTypeRequest(0x0100, 0xFFFF, uuid16(0x2803)),
        ReadByTypeRequest(1, 0xFFFF, uuid16(0x9999)),
        ReadByGroupTypeRequest(0x0100, 0xFFFF, uuid16(0x2800)),
        ReadByGroupTypeRequest(1, 0xFFFF, uuid16(0x2801)),
    ],
)
def test_nothing_in_the_range_is_attribute_not_found(request_pdu: AttPdu) -> None:
    start = request_pdu.start  # type: ignore[attr-defined]
    assert small().answer(request_pdu) == error(
        request_pdu.opcode, start, AttErrorCode.ATTRIBUTE_NOT_FOUND
    )


def test_find_by_type_value_finds_a_service_and_its_group_end() -> None:
    harness = small()
    found = harness.answer(FindByTypeValueRequest(1, 0xFFFF, 0x2800, b"\x0f\x18"))
    assert found == FindByTypeValueResponse(((6, 9),))
    custom = harness.answer(FindByTypeValueRequest(1, 0xFFFF, 0x2800, CUSTOM.bytes[::-1]))
    assert custom == FindByTypeValueResponse(((0x0A, 0x0F),))


def test_find_by_type_value_never_compares_protected_or_application_values() -> None:
    secret = Characteristic(
        0x2A19,
        Properties.READ,
        value=b"\x01",
        permissions=Permissions(readable=True, read_security=AccessSecurity(encryption=True)),
    )
    served = Characteristic(0x2A19, Properties.READ, on_read=serve)
    harness = Harness(Service(0x180F, (secret, served)))
    assert harness.answer(FindByTypeValueRequest(1, 0xFFFF, 0x2A19, b"\x01")) == error(
        AttOpcode.FIND_BY_TYPE_VALUE_REQUEST, 1, AttErrorCode.ATTRIBUTE_NOT_FOUND
    )


def test_read_by_type_discovers_characteristics_one_length_at_a_time() -> None:
    harness = small()
    first = harness.answer(ReadByTypeRequest(1, 0xFFFF, uuid16(0x2803)))
    # Entries of 2 + 5 octets: (23 - 2) // 7 = 3 per response.
    assert first == ReadByTypeResponse(
        (
            (2, bytes.fromhex("020300002A")),
            (4, bytes.fromhex("020500012A")),
            (7, bytes.fromhex("120800192A")),
        )
    )
    # The 128-bit declaration (19 octets) never shares a response with a 5-octet one.
    second = harness.answer(ReadByTypeRequest(8, 0xFFFF, uuid16(0x2803)), mtu=100)
    assert second == ReadByTypeResponse(((0x0B, bytes.fromhex("8E0C00") + CUSTOM.bytes[::-1]),))
    third = harness.answer(ReadByTypeRequest(0x0C, 0xFFFF, uuid16(0x2803)))
    assert third == ReadByTypeResponse(((0x0E, bytes.fromhex("080F003D2A")),))
    assert harness.answer(ReadByTypeRequest(0x0F, 0xFFFF, uuid16(0x2803))) == error(
        AttOpcode.READ_BY_TYPE_REQUEST, 0x0F, AttErrorCode.ATTRIBUTE_NOT_FOUND
    )


def test_read_by_type_cuts_values_to_mtu_minus_4_and_253() -> None:
    long = Characteristic(0x2A3D, Properties.READ, value=bytes(range(256)) + bytes(256))
    harness = Harness(Service(0x180F, (long,)))
    short = harness.answer(ReadByTypeRequest(1, 0xFFFF, uuid16(0x2A3D)))
    assert short == ReadByTypeResponse(((8, bytes(range(19))),))
    wide = harness.answer(ReadByTypeRequest(1, 0xFFFF, uuid16(0x2A3D)), mtu=517)
    assert wide == ReadByTypeResponse(((8, bytes(range(253))),))


def test_read_by_type_first_attribute_refused_is_its_error_later_ones_end_the_list() -> None:
    locked = Permissions(readable=True, read_security=AccessSecurity(encryption=True))
    characteristics = (
        Characteristic(0x2A3D, Properties.READ, value=b"1"),
        Characteristic(0x2A3D, Properties.READ, value=b"2", permissions=locked),
    )
    harness = Harness(Service(0x180F, characteristics))
    assert harness.answer(ReadByTypeRequest(1, 0xFFFF, uuid16(0x2A3D))) == ReadByTypeResponse(
        ((8, b"1"),)
    )
    assert harness.answer(ReadByTypeRequest(9, 0xFFFF, uuid16(0x2A3D))) == error(
        AttOpcode.READ_BY_TYPE_REQUEST, 0x0A, AttErrorCode.INSUFFICIENT_ENCRYPTION
    )


def test_read_by_group_type() -> None:
    harness = small()
    services = harness.answer(ReadByGroupTypeRequest(1, 0xFFFF, uuid16(0x2800)))
    assert services == ReadByGroupTypeResponse(((1, 5, b"\x00\x18"), (6, 9, b"\x0f\x18")))
    custom = harness.answer(ReadByGroupTypeRequest(0x0A, 0xFFFF, uuid16(0x2800)))
    assert custom == ReadByGroupTypeResponse(((0x0A, 0x0F, CUSTOM.bytes[::-1]),))
    assert harness.answer(ReadByGroupTypeRequest(1, 0xFFFF, uuid16(0x2803))) == error(
        AttOpcode.READ_BY_GROUP_TYPE_REQUEST, 1, AttErrorCode.UNSUPPORTED_GROUP_TYPE
    )


def test_read_by_group_type_of_secondary_services() -> None:
    secondary = Service(0x180A, primary=False)
    harness = Harness(secondary, Service(0x180F, included=(secondary,)))
    assert harness.answer(ReadByGroupTypeRequest(1, 0xFFFF, uuid16(0x2801))) == (
        ReadByGroupTypeResponse(((6, 6, b"\x0a\x18"),))
    )


# -- reads --------------------------------------------------------------------------------------
def test_read_and_its_errors() -> None:
    harness = small()
    assert harness.answer(ReadRequest(8)) == ReadResponse(b"\x64")
    assert harness.answer(ReadRequest(3)) == ReadResponse(b"bluetrio")
    assert harness.answer(ReadRequest(0)) == error(
        AttOpcode.READ_REQUEST, 0, AttErrorCode.INVALID_HANDLE
    )
    assert harness.answer(ReadRequest(0x0100)) == error(
        AttOpcode.READ_REQUEST, 0x0100, AttErrorCode.INVALID_HANDLE
    )
    assert harness.answer(ReadRequest(0x0F)) == error(
        AttOpcode.READ_REQUEST, 0x0F, AttErrorCode.READ_NOT_PERMITTED
    )


def test_long_values_read_in_blobs() -> None:
    value = bytes(range(200)) + bytes(range(200)) + bytes(112)
    harness = Harness(custom_service(value))
    assert harness.answer(ReadRequest(8)) == ReadResponse(value[:22])
    read = b""
    while True:
        part = harness.answer(ReadBlobRequest(8, len(read)))
        assert isinstance(part, ReadBlobResponse)
        read += part.value
        if len(part.value) < 22:
            break
    assert read == value
    assert harness.answer(ReadBlobRequest(8, 512)) == ReadBlobResponse(b"")
    assert harness.answer(ReadBlobRequest(8, 513)) == error(
        AttOpcode.READ_BLOB_REQUEST, 8, AttErrorCode.INVALID_OFFSET
    )
    assert harness.answer(ReadBlobRequest(0x0B, 0)) == error(
        AttOpcode.READ_BLOB_REQUEST, 0x0B, AttErrorCode.READ_NOT_PERMITTED
    )
    assert harness.answer(ReadBlobRequest(0, 0)) == error(
        AttOpcode.READ_BLOB_REQUEST, 0, AttErrorCode.INVALID_HANDLE
    )


def test_read_multiple() -> None:
    harness = small()
    assert harness.answer(ReadMultipleRequest((8, 3))) == ReadMultipleResponse(b"\x64bluetrio")
    assert harness.answer(ReadMultipleRequest((8, 0x0100))) == error(
        AttOpcode.READ_MULTIPLE_REQUEST, 0x0100, AttErrorCode.INVALID_HANDLE
    )
    assert harness.answer(ReadMultipleRequest((8, 0x0F))) == error(
        AttOpcode.READ_MULTIPLE_REQUEST, 0x0F, AttErrorCode.READ_NOT_PERMITTED
    )
    long = harness.answer(ReadMultipleRequest((3, 3, 3)))
    assert long == ReadMultipleResponse((b"bluetrio" * 3)[:22])


def test_read_multiple_variable() -> None:
    harness = small()
    assert harness.answer(ReadMultipleVariableRequest((8, 3))) == ReadMultipleVariableResponse(
        (b"\x64", b"bluetrio")
    )
    assert harness.answer(ReadMultipleVariableRequest((8, 0x0F))) == error(
        AttOpcode.READ_MULTIPLE_VARIABLE_REQUEST, 0x0F, AttErrorCode.READ_NOT_PERMITTED
    )
    # Within ATT_MTU - 1 = 22 octets: 2+1 and 2+8; the third (2+8) would be cut, so it is
    # left out whole and the client asks for it again.
    cut = harness.answer(ReadMultipleVariableRequest((8, 3, 3)))
    assert cut == ReadMultipleVariableResponse((b"\x64", b"bluetrio"))
    assert harness.answer(ReadMultipleVariableRequest((3, 3)), mtu=20) == (
        ReadMultipleVariableResponse((b"bluetrio",))
    )
    # A first value longer than the whole response is cut: nothing else can be answered.
    long = Harness(custom_service(bytes(range(40))))
    assert long.answer(ReadMultipleVariableRequest((8, 3))) == ReadMultipleVariableResponse(
        (bytes(range(20)),)
    )


# -- writes -------------------------------------------------------------------------------------
def test_write_request_and_its_errors() -> None:
    harness = small()
    assert harness.answer(WriteRequest(0x0C, b"new")) == WriteResponse()
    assert harness.answer(ReadRequest(0x0C)) == ReadResponse(b"new")
    assert harness.answer(WriteRequest(8, b"\x01")) == error(
        AttOpcode.WRITE_REQUEST, 8, AttErrorCode.WRITE_NOT_PERMITTED
    )
    assert harness.answer(WriteRequest(0, b"\x01")) == error(
        AttOpcode.WRITE_REQUEST, 0, AttErrorCode.INVALID_HANDLE
    )
    too_long = harness.answer(WriteRequest(0x0C, bytes(513)), mtu=517)
    assert too_long == error(
        AttOpcode.WRITE_REQUEST, 0x0C, AttErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH
    )
    assert harness.answer(ReadRequest(0x0C)) == ReadResponse(b"new")


def test_write_command_is_never_answered() -> None:
    harness = small()
    assert harness.ask(WriteCommand(0x0C, b"cmd")) == []
    assert harness.answer(ReadRequest(0x0C)) == ReadResponse(b"cmd")
    for refused in (WriteCommand(8, b"x"), WriteCommand(0, b"x"), WriteCommand(0x0100, b"x")):
        assert harness.ask(refused) == []
    assert harness.ask(WriteCommand(0x0C, bytes(513)), mtu=517) == []
    assert harness.answer(ReadRequest(0x0C)) == ReadResponse(b"cmd")


def signed(handle: int, value: bytes) -> SignedWriteCommand:
    return SignedWriteCommand(handle, value, sign_counter=1, mac=bytes(8))


def signable() -> Service:
    return Service(
        0x180F,
        (
            Characteristic(
                0x2A3D,
                Properties.READ | Properties.AUTHENTICATED_SIGNED_WRITES,
                value=b"old",
                permissions=Permissions(
                    readable=True,
                    writable=True,
                    write_security=AccessSecurity(encryption=True),
                ),
            ),
        ),
    )


def test_signed_write_without_a_verifier_or_the_property_is_ignored() -> None:
    harness = Harness(signable(), custom_service())
    assert harness.ask(signed(8, b"new")) == []
    assert harness.answer(ReadRequest(8)) == ReadResponse(b"old")
    assert harness.ask(signed(0x0B, b"new")) == []  # no AUTHENTICATED_SIGNED_WRITES
    assert harness.answer(ReadRequest(0x0B)) == ReadResponse(b"hello")


def test_signed_write_verified_stands_for_the_security_the_signature_gives() -> None:
    seen: list[SignedWriteCommand] = []

    def check(link: int, pdu: SignedWriteCommand) -> LinkSecurity | None:
        seen.append(pdu)
        return ENCRYPTED if pdu.sign_counter == 1 else None

    harness = Harness(signable(), server=GattServer(signature_check=check))
    assert harness.ask(signed(8, b"new")) == []
    assert harness.answer(ReadRequest(8)) == ReadResponse(b"new")
    bad = SignedWriteCommand(8, b"bad", sign_counter=2, mac=bytes(8))
    assert harness.ask(bad) == []
    assert harness.answer(ReadRequest(8)) == ReadResponse(b"new")
    assert len(seen) == 2


def test_long_write_through_prepare_and_execute() -> None:
    harness = Harness(custom_service(b""))
    value = bytes(range(100))
    for offset in range(0, 100, 18):
        part = value[offset : offset + 18]
        assert harness.answer(PrepareWriteRequest(8, offset, part)) == PrepareWriteResponse(
            8, offset, part
        )
    assert harness.answer(ReadRequest(8), mtu=517) == ReadResponse(b"")  # nothing yet
    assert harness.answer(ExecuteWriteRequest(True)) == ExecuteWriteResponse()
    assert harness.answer(ReadRequest(8), mtu=517) == ReadResponse(value)


def test_reliable_write_of_two_values_or_none() -> None:
    harness = small()
    assert isinstance(harness.answer(PrepareWriteRequest(0x0C, 0, b"one")), PrepareWriteResponse)
    assert isinstance(harness.answer(PrepareWriteRequest(0x0F, 0, b"two")), PrepareWriteResponse)
    assert harness.answer(ExecuteWriteRequest(True)) == ExecuteWriteResponse()
    assert harness.answer(ReadMultipleRequest((0x0C, 0x0C))) == ReadMultipleResponse(b"oneone")
    # Cancelled: nothing written, the queue empty.
    harness.answer(PrepareWriteRequest(0x0C, 0, b"three"))
    assert harness.answer(ExecuteWriteRequest(False)) == ExecuteWriteResponse()
    assert harness.answer(ExecuteWriteRequest(True)) == ExecuteWriteResponse()
    assert harness.answer(ReadRequest(0x0C)) == ReadResponse(b"one")


def test_prepare_write_errors() -> None:
    harness = small()
    assert harness.answer(PrepareWriteRequest(0, 0, b"x")) == error(
        AttOpcode.PREPARE_WRITE_REQUEST, 0, AttErrorCode.INVALID_HANDLE
    )
    assert harness.answer(PrepareWriteRequest(8, 0, b"x")) == error(
        AttOpcode.PREPARE_WRITE_REQUEST, 8, AttErrorCode.WRITE_NOT_PERMITTED
    )
    for _ in range(PREPARE_QUEUE_LIMIT):
        assert isinstance(harness.answer(PrepareWriteRequest(0x0C, 0, b"x")), PrepareWriteResponse)
    assert harness.answer(PrepareWriteRequest(0x0C, 0, b"x")) == error(
        AttOpcode.PREPARE_WRITE_REQUEST, 0x0C, AttErrorCode.PREPARE_QUEUE_FULL
    )
    assert harness.answer(ExecuteWriteRequest(False)) == ExecuteWriteResponse()


def test_execution_checks_every_value_before_writing_any() -> None:
    harness = small()
    harness.answer(PrepareWriteRequest(0x0F, 0, b"fine"))
    harness.answer(PrepareWriteRequest(0x0C, 6, b"past the end"))  # "hello" has 5 octets
    assert harness.answer(ExecuteWriteRequest(True)) == error(
        AttOpcode.EXECUTE_WRITE_REQUEST, 0x0C, AttErrorCode.INVALID_OFFSET
    )
    assert harness.answer(ReadMultipleRequest((0x0C, 0x0C))) == ReadMultipleResponse(b"hellohello")
    # Over 512 octets once assembled.
    for offset in range(0, 522, 18):
        harness.answer(PrepareWriteRequest(0x0C, offset, bytes(18)))
    assert harness.answer(ExecuteWriteRequest(True)) == error(
        AttOpcode.EXECUTE_WRITE_REQUEST, 0x0C, AttErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH
    )
    assert harness.answer(ReadRequest(0x0C)) == ReadResponse(b"hello")
    # The queue went with the failed execution.
    assert harness.answer(ExecuteWriteRequest(True)) == ExecuteWriteResponse()


# -- CCCDs --------------------------------------------------------------------------------------
def test_cccd_per_client_and_subscriptions() -> None:
    harness = small()
    assert harness.answer(ReadRequest(9)) == ReadResponse(b"\x00\x00")
    outputs = harness.ask(WriteRequest(9, b"\x01\x00"))
    assert Harness.only_response(outputs) == WriteResponse()
    assert Emit(GattSubscriptionInd(LINK, PEER, 8, notify=True, indicate=False)) in outputs
    assert harness.answer(ReadRequest(9)) == ReadResponse(b"\x01\x00")
    assert harness.server.subscribers(8, indicate=False, link=None) == (LINK,)
    assert harness.server.subscribers(8, indicate=True, link=None) == ()
    assert harness.server.subscribers(8, indicate=False, link=0x0041) == ()
    # The same value again: no news for the application.
    assert harness.ask(WriteRequest(9, b"\x01\x00")) == [SendPdu(LINK, 0, WriteResponse())]
    # Another client has its own value.
    harness.server.on_link_up(0x0041, PEER, LinkSecurity(), bonded=False)
    other = harness.server.on_request(0x0041, 0, ReadRequest(9), 23, 0.0)
    assert other == [SendPdu(0x0041, 0, ReadResponse(b"\x00\x00"))]
    outputs = harness.ask(WriteCommand(9, b"\x00\x00"))
    assert outputs == [Emit(GattSubscriptionInd(LINK, PEER, 8, notify=False, indicate=False))]
    assert harness.server.subscribers(8, indicate=False, link=None) == ()


def test_cccd_values_a_characteristic_does_not_allow() -> None:
    harness = small()
    for value in (b"\x02\x00", b"\x03\x00", b"\x00\x01"):
        assert harness.answer(WriteRequest(9, value)) == error(
            AttOpcode.WRITE_REQUEST, 9, AttErrorCode.CCCD_IMPROPERLY_CONFIGURED
        )
    for value in (b"\x01", b"\x01\x00\x00"):
        assert harness.answer(WriteRequest(9, value)) == error(
            AttOpcode.WRITE_REQUEST, 9, AttErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH
        )
    assert harness.server.subscribers(8, indicate=False, link=None) == ()


def test_cccd_of_a_protected_value_needs_the_same_security() -> None:
    locked = Permissions(readable=True, read_security=AccessSecurity(encryption=True))
    characteristic = Characteristic(
        0x2A19, Properties.READ | Properties.INDICATE, value=b"1", permissions=locked
    )
    harness = Harness(Service(0x180F, (characteristic,)))
    assert harness.answer(WriteRequest(9, b"\x02\x00")) == error(
        AttOpcode.WRITE_REQUEST, 9, AttErrorCode.INSUFFICIENT_ENCRYPTION
    )
    harness.server.on_security_changed(LINK, ENCRYPTED)
    assert harness.answer(WriteRequest(9, b"\x02\x00")) == WriteResponse()
    assert harness.server.subscribers(8, indicate=True, link=LINK) == (LINK,)


def test_security_change_opens_a_protected_value() -> None:
    locked = Permissions(
        readable=True, read_security=AccessSecurity(authentication=True, min_key_size=16)
    )
    characteristic = Characteristic(0x2A19, Properties.READ, value=b"1", permissions=locked)
    harness = Harness(Service(0x180F, (characteristic,)))
    assert harness.answer(ReadRequest(8)) == error(
        AttOpcode.READ_REQUEST, 8, AttErrorCode.INSUFFICIENT_AUTHENTICATION
    )
    harness.server.on_security_changed(LINK, LinkSecurity(True, True, 7))
    assert harness.answer(ReadRequest(8)) == error(
        AttOpcode.READ_REQUEST, 8, AttErrorCode.ENCRYPTION_KEY_SIZE_TOO_SHORT
    )
    harness.server.on_security_changed(LINK, LinkSecurity(True, True, 16))
    assert harness.answer(ReadRequest(8)) == ReadResponse(b"1")


# -- the application's values -------------------------------------------------------------------
def served() -> Service:
    return Service(
        0x180F,
        (
            Characteristic(
                0x2A3D, Properties.READ | Properties.WRITE, on_read=serve, on_write=take
            ),
            Characteristic(0x2A3E, Properties.READ, on_read=serve),
        ),
    )


def indication(outputs: list[Output]) -> GattServerReadInd | GattServerWriteInd:
    (only,) = outputs
    assert isinstance(only, Emit)
    assert isinstance(only.message, GattServerReadInd | GattServerWriteInd)
    return only.message


def test_read_of_an_application_value() -> None:
    harness = Harness(served())
    asked = indication(harness.ask(ReadBlobRequest(8, 3)))
    assert isinstance(asked, GattServerReadInd)
    assert (asked.handle, asked.peer, asked.attribute_handle, asked.offset) == (LINK, PEER, 8, 3)
    outputs = harness.server.on_application_answer(GattServerReadRsp(asked.request_id, b"abcdef"))
    assert Harness.only_response(outputs) == ReadBlobResponse(b"def")
    # A late or repeated answer is ignored.
    assert harness.server.on_application_answer(GattServerReadRsp(asked.request_id, b"x")) == []


def test_the_application_error_becomes_the_error_response() -> None:
    harness = Harness(served())
    asked = indication(harness.ask(ReadRequest(8)))
    outputs = harness.server.on_application_answer(
        GattServerReadRsp(asked.request_id, None, error_code=0x80)
    )
    assert Harness.only_response(outputs) == error(AttOpcode.READ_REQUEST, 8, 0x80)
    asked = indication(harness.ask(ReadRequest(8)))
    outputs = harness.server.on_application_answer(GattServerReadRsp(asked.request_id, None))
    assert Harness.only_response(outputs) == error(
        AttOpcode.READ_REQUEST, 8, AttErrorCode.UNLIKELY_ERROR
    )
    asked = indication(harness.ask(ReadRequest(8)))
    outputs = harness.server.on_application_answer(GattServerReadRsp(asked.request_id, bytes(513)))
    assert Harness.only_response(outputs) == error(
        AttOpcode.READ_REQUEST, 8, AttErrorCode.UNLIKELY_ERROR
    )


def test_no_answer_in_time_is_unlikely_error() -> None:
    harness = Harness(served())
    asked = indication(harness.ask(ReadRequest(8)))
    # While it waits, the bearer's next request is not taken (the client broke 3.3.2).
    assert harness.ask(ReadRequest(3)) == []
    outputs = harness.server.on_application_timeout(asked.request_id)
    assert Harness.only_response(outputs) == error(
        AttOpcode.READ_REQUEST, 8, AttErrorCode.UNLIKELY_ERROR
    )
    assert harness.server.on_application_timeout(asked.request_id) == []
    assert harness.server.on_application_answer(GattServerReadRsp(asked.request_id, b"")) == []
    assert harness.answer(ReadRequest(3)) == ReadResponse(b"bluetrio")


def test_bearers_wait_for_the_application_independently() -> None:
    harness = Harness(served())
    indication(harness.ask(ReadRequest(8), bearer=0))
    assert harness.server.on_request(LINK, 0x41, ReadRequest(3), 23, 0.0) == [
        SendPdu(LINK, 0x41, ReadResponse(b"bluetrio"))
    ]


def test_read_multiple_asks_for_each_application_value_in_turn() -> None:
    harness = Harness(served())
    first = indication(harness.ask(ReadMultipleVariableRequest((8, 3, 0x0A))))
    assert first.attribute_handle == 8
    second = indication(
        harness.server.on_application_answer(GattServerReadRsp(first.request_id, b"one"))
    )
    assert second.attribute_handle == 0x0A
    outputs = harness.server.on_application_answer(GattServerReadRsp(second.request_id, b"two"))
    assert Harness.only_response(outputs) == ReadMultipleVariableResponse(
        (b"one", b"bluetrio", b"two")
    )


def test_read_by_type_stops_before_an_application_value() -> None:
    characteristics = (
        Characteristic(0x2A3D, Properties.READ, value=b"1"),
        Characteristic(0x2A3D, Properties.READ, on_read=serve),
    )
    harness = Harness(Service(0x180F, characteristics))
    assert harness.answer(ReadByTypeRequest(1, 0xFFFF, uuid16(0x2A3D))) == ReadByTypeResponse(
        ((8, b"1"),)
    )
    asked = indication(harness.ask(ReadByTypeRequest(9, 0xFFFF, uuid16(0x2A3D))))
    outputs = harness.server.on_application_answer(GattServerReadRsp(asked.request_id, b"22"))
    assert Harness.only_response(outputs) == ReadByTypeResponse(((0x0A, b"22"),))


def test_write_to_an_application_value() -> None:
    harness = Harness(served())
    asked = indication(harness.ask(WriteRequest(8, b"val")))
    assert isinstance(asked, GattServerWriteInd)
    assert (asked.attribute_handle, asked.value, asked.with_response) == (8, b"val", True)
    outputs = harness.server.on_application_answer(GattServerWriteRsp(asked.request_id))
    assert Harness.only_response(outputs) == WriteResponse()
    asked = indication(harness.ask(WriteRequest(8, b"bad")))
    outputs = harness.server.on_application_answer(GattServerWriteRsp(asked.request_id, 0x81))
    assert Harness.only_response(outputs) == error(AttOpcode.WRITE_REQUEST, 8, 0x81)
    # A command: the application hears it, nobody hears its answer.
    asked = indication(harness.ask(WriteCommand(8, b"cmd")))
    assert isinstance(asked, GattServerWriteInd) and not asked.with_response
    assert harness.server.on_application_answer(GattServerWriteRsp(asked.request_id, 0x81)) == []


def test_an_answer_of_the_wrong_kind_is_unlikely_error() -> None:
    harness = Harness(served())
    asked = indication(harness.ask(WriteRequest(8, b"val")))
    outputs = harness.server.on_application_answer(GattServerReadRsp(asked.request_id, b"x"))
    assert Harness.only_response(outputs) == error(
        AttOpcode.WRITE_REQUEST, 8, AttErrorCode.UNLIKELY_ERROR
    )


def test_execute_write_hands_the_application_its_whole_value() -> None:
    harness = Harness(served())
    harness.answer(PrepareWriteRequest(8, 0, b"first "))
    harness.answer(PrepareWriteRequest(8, 6, b"second"))
    asked = indication(harness.ask(ExecuteWriteRequest(True)))
    assert isinstance(asked, GattServerWriteInd) and asked.value == b"first second"
    outputs = harness.server.on_application_answer(GattServerWriteRsp(asked.request_id))
    assert Harness.only_response(outputs) == ExecuteWriteResponse()


def authorized() -> Service:
    ask = AccessSecurity(authorization=True)
    return Service(
        0x180F,
        (
            Characteristic(
                0x2A3D,
                Properties.READ | Properties.WRITE,
                value=b"stored",
                permissions=Permissions(
                    readable=True, writable=True, read_security=ask, write_security=ask
                ),
                authorize=allow,
            ),
        ),
    )


def test_authorization_is_asked_of_the_application_for_a_stored_value() -> None:
    harness = Harness(authorized())
    asked = indication(harness.ask(ReadRequest(8)))
    outputs = harness.server.on_application_answer(GattServerReadRsp(asked.request_id, None))
    assert Harness.only_response(outputs) == ReadResponse(b"stored")
    asked = indication(harness.ask(ReadRequest(8)))
    outputs = harness.server.on_application_answer(
        GattServerReadRsp(asked.request_id, None, int(AttErrorCode.INSUFFICIENT_AUTHORIZATION))
    )
    assert Harness.only_response(outputs) == error(
        AttOpcode.READ_REQUEST, 8, AttErrorCode.INSUFFICIENT_AUTHORIZATION
    )
    asked = indication(harness.ask(WriteRequest(8, b"new")))
    outputs = harness.server.on_application_answer(GattServerWriteRsp(asked.request_id))
    assert Harness.only_response(outputs) == WriteResponse()
    asked = indication(harness.ask(ReadRequest(8)))
    outputs = harness.server.on_application_answer(GattServerReadRsp(asked.request_id, None))
    assert Harness.only_response(outputs) == ReadResponse(b"new")


def test_a_descriptor_served_by_the_application() -> None:
    descriptor = Descriptor(0x2908, on_read=serve)
    harness = Harness(
        Service(0x180F, (Characteristic(0x2A19, value=b"1", descriptors=(descriptor,)),))
    )
    asked = indication(harness.ask(ReadRequest(9)))
    outputs = harness.server.on_application_answer(GattServerReadRsp(asked.request_id, b"\x05"))
    assert Harness.only_response(outputs) == ReadResponse(b"\x05")


def test_link_down_drops_what_waits_for_the_application() -> None:
    harness = Harness(served())
    asked = indication(harness.ask(ReadRequest(8)))
    harness.server.on_link_down(LINK)
    assert harness.server.on_application_answer(GattServerReadRsp(asked.request_id, b"x")) == []
    assert harness.server.on_application_timeout(asked.request_id) == []
    assert harness.ask(ReadRequest(3)) == []
    assert harness.server.connection(LINK) is None


# -- what the server does not take --------------------------------------------------------------
def test_unknown_or_malformed_pdus() -> None:
    harness = small()
    unknown_request = AttDecodeError("unknown", AttErrorCode.REQUEST_NOT_SUPPORTED, 0x3F)
    assert harness.server.on_decode_error(LINK, 0, unknown_request) == [
        SendPdu(LINK, 0, error(0x3F, 0, AttErrorCode.REQUEST_NOT_SUPPORTED))  # type: ignore[arg-type]
    ]
    unknown_command = AttDecodeError("unknown", AttErrorCode.REQUEST_NOT_SUPPORTED, 0x7F)
    assert harness.server.on_decode_error(LINK, 0, unknown_command) == []
    short = AttDecodeError("short", AttErrorCode.INVALID_PDU, 0x0A, 0)
    assert harness.server.on_decode_error(LINK, 0, short) == [
        SendPdu(LINK, 0, ErrorResponse(0x0A, 0, AttErrorCode.INVALID_PDU))
    ]
    # Exchange MTU is the bearer's: if it ever got here, the server does not support it.
    assert harness.answer(ExchangeMtuRequest(100)) == error(
        AttOpcode.EXCHANGE_MTU_REQUEST, 0, AttErrorCode.REQUEST_NOT_SUPPORTED
    )


# -- the database through the server ------------------------------------------------------------
def test_gap_is_first_and_can_be_configured() -> None:
    gap = GapServiceConfig(
        device_name="peripheral",
        appearance=0x03C1,
        name_writable=True,
        preferred_connection_parameters=PreferredConnectionParameters(6, 12, 0, 400),
        central_address_resolution=True,
    )
    harness = Harness(BATTERY, gap=gap)
    assert harness.server.gap_handles.service == 1
    assert harness.answer(ReadRequest(3)) == ReadResponse(b"peripheral")
    assert harness.answer(ReadRequest(5)) == ReadResponse(b"\xc1\x03")
    assert harness.answer(ReadRequest(7)) == ReadResponse(bytes.fromhex("06000C0000009001"))
    assert harness.answer(ReadRequest(9)) == ReadResponse(b"\x01")
    assert harness.answer(ReadByTypeRequest(1, 0xFFFF, uuid16(0x2AA6))) == ReadByTypeResponse(
        ((9, b"\x01"),)
    )
    assert harness.answer(WriteRequest(3, b"renamed")) == WriteResponse()
    assert harness.answer(ReadRequest(3)) == ReadResponse(b"renamed")
    with pytest.raises(InvalidArgumentError, match="GAP"):
        harness.server.remove_service(1)


def test_gap_name_read_only_by_default_and_checked() -> None:
    harness = small()
    assert harness.answer(WriteRequest(3, b"x")) == error(
        AttOpcode.WRITE_REQUEST, 3, AttErrorCode.WRITE_NOT_PERMITTED
    )
    with pytest.raises(InvalidArgumentError):
        GapServiceConfig(device_name="x" * 249)
    with pytest.raises(InvalidArgumentError):
        PreferredConnectionParameters(12, 6, 0, 400)
    with pytest.raises(InvalidArgumentError):
        PreferredConnectionParameters(latency=500)


def test_removing_a_service_forgets_its_subscriptions() -> None:
    harness = small()
    harness.answer(WriteRequest(9, b"\x01\x00"))
    harness.answer(PrepareWriteRequest(0x0C, 0, b"queued"))
    harness.server.remove_service(6)
    assert [s.service for s in harness.server.database.services] == [1, 0x0A]
    assert harness.server.subscribers(8, indicate=False, link=None) == ()
    assert harness.answer(ReadRequest(8)) == error(
        AttOpcode.READ_REQUEST, 8, AttErrorCode.INVALID_HANDLE
    )
    # The queued write to the service that stays is still there.
    assert harness.answer(ExecuteWriteRequest(True)) == ExecuteWriteResponse()
    assert harness.answer(ReadRequest(0x0C)) == ReadResponse(b"queued")


def test_the_server_takes_no_outcome_of_indications_it_never_sent() -> None:
    # Notifications and indications of the application's values are the actor's.
    assert small().server.on_indication_outcome(LINK, 8, None) == []


def test_a_commands_answer_does_not_free_the_bearer_under_a_waiting_request() -> None:
    harness = Harness(served())
    command = indication(harness.ask(WriteCommand(8, b"cmd")))
    request = indication(harness.ask(ReadRequest(8)))
    # The command's write times out (or is answered) while the read still waits.
    assert harness.server.on_application_timeout(command.request_id) == []
    assert harness.server.on_application_answer(GattServerWriteRsp(command.request_id)) == []
    # The bearer still holds the read: another request there is not taken.
    assert harness.ask(ReadRequest(3)) == []
    outputs = harness.server.on_application_answer(GattServerReadRsp(request.request_id, b"v"))
    assert Harness.only_response(outputs) == ReadResponse(b"v")
    assert harness.answer(ReadRequest(3)) == ReadResponse(b"bluetrio")


def test_a_command_answered_frees_no_bearer() -> None:
    harness = Harness(served())
    command = indication(harness.ask(WriteCommand(8, b"cmd")))
    request = indication(harness.ask(ReadRequest(8)))
    assert harness.server.on_application_answer(GattServerWriteRsp(command.request_id)) == []
    assert harness.ask(ReadRequest(3)) == []
    assert harness.server.connection(LINK) is not None
    assert set(harness.server.connection(LINK).waiting) == {0}  # type: ignore[union-attr]
    assert harness.server.on_application_timeout(request.request_id) != []
