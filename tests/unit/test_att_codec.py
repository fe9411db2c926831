"""The ATT codec: every PDU of Core 5.4 Vol 3 Part F 3.4 against octets laid out by hand from
its figure, the lengths and values each opcode allows, and hypothesis round trips; arbitrary
octets never raise anything but AttDecodeError."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bluetrio.errors import AttDecodeError, DecodeError, InvalidArgumentError
from bluetrio.messages import att
from bluetrio.messages.att import AttErrorCode, AttOpcode, PduKind
from bluetrio.messages.uuids import uuid16
from bluetrio.testing.att_strategies import pdus, wire_pdus

CUSTOM = uuid.UUID("12345678-9abc-def0-1234-56789abcdef0")
# The 16 octets of CUSTOM, least significant first (3.2.1).
CUSTOM_WIRE = bytes(reversed(CUSTOM.bytes))

VECTORS: list[tuple[att.AttPdu, str]] = [
    # 3.4.1.1: opcode, request opcode in error, handle, error code.
    (att.ErrorResponse(0x0A, 0x0003, 0x02), "01 0a 0300 02"),
    (att.ErrorResponse(0x12, 0x0010, 0x80), "01 12 1000 80"),
    # 3.4.2.1, 3.4.2.2: the MTU, little-endian.
    (att.ExchangeMtuRequest(517), "02 0502"),
    (att.ExchangeMtuResponse(23), "03 1700"),
    # 3.4.3.1: starting and ending handles.
    (att.FindInformationRequest(0x0001, 0xFFFF), "04 0100 ffff"),
    # 3.4.3.2: format 0x01, handle-UUID16 pairs.
    (
        att.FindInformationResponse(((0x0004, uuid16(0x2902)), (0x0005, uuid16(0x2901)))),
        "05 01 0400 0229 0500 0129",
    ),
    # format 0x02: handle and a 128-bit UUID.
    (att.FindInformationResponse(((0x0020, CUSTOM),)), "05 02 2000" + CUSTOM_WIRE.hex()),
    # 3.4.3.3: start, end, a 16-bit type, the value.
    (att.FindByTypeValueRequest(0x0001, 0xFFFF, 0x2800, b"\x0f\x18"), "06 0100 ffff 0028 0f18"),
    # 3.4.3.4: found handle, group end handle.
    (att.FindByTypeValueResponse(((0x0010, 0x0015), (0x0020, 0xFFFF))), "07 1000 1500 2000 ffff"),
    # 3.4.4.1: a 16 or a 128-bit attribute type.
    (att.ReadByTypeRequest(0x0001, 0x0010, uuid16(0x2803)), "08 0100 1000 0328"),
    (att.ReadByTypeRequest(0x0001, 0x0010, CUSTOM), "08 0100 1000" + CUSTOM_WIRE.hex()),
    # 3.4.4.2: length 7 (handle + 5 octets of a characteristic declaration), two pairs.
    (
        att.ReadByTypeResponse(
            ((0x0002, bytes.fromhex("0a0300002a")), (0x0004, bytes.fromhex("020500012a")))
        ),
        "09 07 0200 0a0300002a 0400 020500012a",
    ),
    (att.ReadRequest(0x0003), "0a 0300"),
    (att.ReadResponse(b"bluetrio"), "0b" + b"bluetrio".hex()),
    (att.ReadResponse(b""), "0b"),
    (att.ReadBlobRequest(0x0003, 22), "0c 0300 1600"),
    (att.ReadBlobResponse(b"\x01\x02"), "0d 0102"),
    (att.ReadMultipleRequest((0x0003, 0x0005, 0x0101)), "0e 0300 0500 0101"),
    (att.ReadMultipleResponse(b"\x64\x01\x02"), "0f 640102"),
    # 3.4.4.9: group type Primary Service.
    (att.ReadByGroupTypeRequest(0x0001, 0xFFFF, uuid16(0x2800)), "10 0100 ffff 0028"),
    # 3.4.4.10: length 6: handle, end group handle, a 16-bit service UUID.
    (
        att.ReadByGroupTypeResponse(((0x0001, 0x0007, b"\x00\x18"), (0x0008, 0x000B, b"\x01\x18"))),
        "11 06 0100 0700 0018 0800 0b00 0118",
    ),
    (att.ReadMultipleVariableRequest((0x0003, 0x0005)), "20 0300 0500"),
    # 3.4.4.12: each value after its 16-bit length.
    (att.ReadMultipleVariableResponse((b"\x64", b"", b"ab")), "21 0100 64 0000 0200 6162"),
    (att.WriteRequest(0x0009, b"\x01\x00"), "12 0900 0100"),
    (att.WriteResponse(), "13"),
    (att.WriteCommand(0x0009, b"hi"), "52 0900 6869"),
    # 3.4.5.4: handle, value, then the signature: sign counter and MAC.
    (
        att.SignedWriteCommand(0x0009, b"\x2a", 0x00000001, bytes(range(8))),
        "d2 0900 2a 01000000 0001020304050607",
    ),
    (att.PrepareWriteRequest(0x0009, 18, b"xyz"), "16 0900 1200 78797a"),
    (att.PrepareWriteResponse(0x0009, 18, b"xyz"), "17 0900 1200 78797a"),
    (att.ExecuteWriteRequest(execute=False), "18 00"),
    (att.ExecuteWriteRequest(execute=True), "18 01"),
    (att.ExecuteWriteResponse(), "19"),
    (att.HandleValueNotification(0x000C, b"\x5a"), "1b 0c00 5a"),
    (att.HandleValueIndication(0x0002, b"\x01\x00\xff\xff"), "1d 0200 0100ffff"),
    (att.HandleValueConfirmation(), "1e"),
    # 3.4.7.4: handle, length, value; two or more tuples.
    (
        att.MultipleHandleValueNotification(((0x000C, b"\x5a"), (0x0010, b""))),
        "23 0c00 0100 5a 1000 0000",
    ),
]


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


@pytest.mark.parametrize(("pdu", "wire"), VECTORS, ids=lambda item: type(item).__name__)
def test_each_pdu_encodes_to_the_octets_of_its_figure_and_back(pdu: att.AttPdu, wire: str) -> None:
    assert pdu.encode() == _hex(wire)
    assert att.decode_pdu(_hex(wire)) == pdu


def test_the_vectors_cover_every_opcode_of_table_3_37() -> None:
    assert {type(pdu).opcode for pdu, _ in VECTORS} == set(AttOpcode)
    assert set(att.PDU_CLASSES) == set(map(int, AttOpcode))
    assert all(att.PDU_CLASSES[cls.opcode] is cls for cls in att.PDU_CLASSES.values())


def test_the_constants_of_the_spec() -> None:
    assert (att.ATT_CID, att.EATT_PSM) == (0x0004, 0x0027)
    assert (att.DEFAULT_MTU, att.MAX_MTU, att.MAX_VALUE_LENGTH) == (23, 517, 512)
    assert att.TRANSACTION_TIMEOUT == 30.0
    assert [int(code) for code in AttErrorCode][:19] == list(range(0x01, 0x14))
    assert AttErrorCode.DATABASE_OUT_OF_SYNC == 0x12
    assert AttErrorCode.OUT_OF_RANGE == 0xFF


def test_the_error_codes_an_error_response_may_carry() -> None:
    # Table 3.4: ATT's 0x01-0x13, application errors 0x80-0x9F, common profile and service
    # errors 0xE0-0xFF; the rest is reserved.
    defined = {code for code in range(0x100) if att.is_defined_error(code)}
    assert defined == {*range(0x01, 0x14), *range(0x80, 0xA0), *range(0xE0, 0x100)}


def test_the_signed_part_is_everything_but_the_mac() -> None:
    command = att.SignedWriteCommand(0x0009, b"\x2a\x2b", 0x01020304, bytes(8))
    assert command.signed_part() == _hex("d2 0900 2a2b 04030201")


def test_the_opcode_flags_and_kinds() -> None:
    assert att.is_command(AttOpcode.WRITE_COMMAND)
    assert att.is_command(AttOpcode.SIGNED_WRITE_COMMAND)
    assert not att.is_command(AttOpcode.WRITE_REQUEST)
    assert att.is_signed(AttOpcode.SIGNED_WRITE_COMMAND)
    assert not att.is_signed(AttOpcode.WRITE_COMMAND)
    kinds = {opcode: att.kind_of(opcode) for opcode in AttOpcode}
    assert [o for o, k in kinds.items() if k is PduKind.COMMAND] == [
        AttOpcode.WRITE_COMMAND,
        AttOpcode.SIGNED_WRITE_COMMAND,
    ]
    assert kinds[AttOpcode.HANDLE_VALUE_INDICATION] is PduKind.INDICATION
    assert kinds[AttOpcode.HANDLE_VALUE_CONFIRMATION] is PduKind.CONFIRMATION
    assert kinds[AttOpcode.MULTIPLE_HANDLE_VALUE_NOTIFICATION] is PduKind.NOTIFICATION
    assert kinds[AttOpcode.ERROR_RESPONSE] is PduKind.RESPONSE
    requests = {o for o, k in kinds.items() if k is PduKind.REQUEST}
    assert requests == set(att.RESPONSE_TO)
    assert {o for o, k in kinds.items() if k is PduKind.RESPONSE} == {
        *att.RESPONSE_TO.values(),
        AttOpcode.ERROR_RESPONSE,
    }
    assert att.RESPONSE_TO[AttOpcode.READ_REQUEST] is AttOpcode.READ_RESPONSE
    # An opcode ATT does not define: a command when its command flag says so (3.3.1).
    assert att.kind_of(0x7F) is PduKind.COMMAND
    assert att.kind_of(0x3F) is PduKind.REQUEST


def _rejected(wire: bytes) -> AttDecodeError:
    with pytest.raises(AttDecodeError) as caught:
        att.decode_pdu(wire)
    return caught.value


MALFORMED = [
    # A length the opcode does not allow.
    ("01 0a 0300", AttOpcode.ERROR_RESPONSE, 0),
    ("02 17", AttOpcode.EXCHANGE_MTU_REQUEST, 0),
    ("02 1700 00", AttOpcode.EXCHANGE_MTU_REQUEST, 0),
    ("04 0100 ff", AttOpcode.FIND_INFORMATION_REQUEST, 0x0001),
    ("04 0100 ffff 00", AttOpcode.FIND_INFORMATION_REQUEST, 0x0001),
    ("0a 03", AttOpcode.READ_REQUEST, 0),
    ("0a 0300 00", AttOpcode.READ_REQUEST, 0x0003),
    ("0c 0300 16", AttOpcode.READ_BLOB_REQUEST, 0x0003),
    ("12 09", AttOpcode.WRITE_REQUEST, 0),
    ("13 00", AttOpcode.WRITE_RESPONSE, 0),
    ("1e 00", AttOpcode.HANDLE_VALUE_CONFIRMATION, 0),
    ("06 0100 ffff 00", AttOpcode.FIND_BY_TYPE_VALUE_REQUEST, 0x0001),
    ("16 0900 12", AttOpcode.PREPARE_WRITE_REQUEST, 0x0009),
    # Find Information Response: a format other than 1 or 2, no entry, a partial entry.
    ("05 03 0400 0229", AttOpcode.FIND_INFORMATION_RESPONSE, 0),
    ("05 00 0400 0229", AttOpcode.FIND_INFORMATION_RESPONSE, 0),
    ("05 01", AttOpcode.FIND_INFORMATION_RESPONSE, 0),
    ("05", AttOpcode.FIND_INFORMATION_RESPONSE, 0),
    ("05 01 0400 0229 05", AttOpcode.FIND_INFORMATION_RESPONSE, 0),
    ("05 02 0400 0229", AttOpcode.FIND_INFORMATION_RESPONSE, 0),
    # Find By Type Value Response: no range, a partial range.
    ("07", AttOpcode.FIND_BY_TYPE_VALUE_RESPONSE, 0),
    ("07 1000 15", AttOpcode.FIND_BY_TYPE_VALUE_RESPONSE, 0),
    # A UUID of neither 2 nor 16 octets.
    ("08 0100 1000 03", AttOpcode.READ_BY_TYPE_REQUEST, 0x0001),
    ("08 0100 1000 032800", AttOpcode.READ_BY_TYPE_REQUEST, 0x0001),
    ("08 0100 1000 03280000", AttOpcode.READ_BY_TYPE_REQUEST, 0x0001),
    ("08 0100 1000", AttOpcode.READ_BY_TYPE_REQUEST, 0x0001),
    ("10 0100 ffff" + "00" * 15, AttOpcode.READ_BY_GROUP_TYPE_REQUEST, 0x0001),
    ("10 0100 ffff" + "00" * 17, AttOpcode.READ_BY_GROUP_TYPE_REQUEST, 0x0001),
    # Read By Type Response: a length octet that does not divide the rest, too small, no entry.
    ("09 07 0200 0a0300002a 0400", AttOpcode.READ_BY_TYPE_RESPONSE, 0),
    ("09 01 02", AttOpcode.READ_BY_TYPE_RESPONSE, 0),
    ("09 00", AttOpcode.READ_BY_TYPE_RESPONSE, 0),
    ("09 04", AttOpcode.READ_BY_TYPE_RESPONSE, 0),
    ("09", AttOpcode.READ_BY_TYPE_RESPONSE, 0),
    # Read By Group Type Response: the same, the two handles need four octets.
    ("11 06 0100 0700 0018 0800", AttOpcode.READ_BY_GROUP_TYPE_RESPONSE, 0),
    ("11 03 010007", AttOpcode.READ_BY_GROUP_TYPE_RESPONSE, 0),
    ("11 06", AttOpcode.READ_BY_GROUP_TYPE_RESPONSE, 0),
    # Read Multiple (Variable): fewer than two handles, an odd handle list.
    ("0e 0300", AttOpcode.READ_MULTIPLE_REQUEST, 0x0003),
    ("0e", AttOpcode.READ_MULTIPLE_REQUEST, 0),
    ("0e 0300 0500 01", AttOpcode.READ_MULTIPLE_REQUEST, 0x0003),
    ("20 0300", AttOpcode.READ_MULTIPLE_VARIABLE_REQUEST, 0x0003),
    ("20 0300 05", AttOpcode.READ_MULTIPLE_VARIABLE_REQUEST, 0x0003),
    ("21", AttOpcode.READ_MULTIPLE_VARIABLE_RESPONSE, 0),
    ("21 01", AttOpcode.READ_MULTIPLE_VARIABLE_RESPONSE, 0),
    # Execute Write flags other than 0x00 and 0x01; no flags.
    ("18 02", AttOpcode.EXECUTE_WRITE_REQUEST, 0),
    ("18 ff", AttOpcode.EXECUTE_WRITE_REQUEST, 0),
    ("18", AttOpcode.EXECUTE_WRITE_REQUEST, 0),
    ("18 01 00", AttOpcode.EXECUTE_WRITE_REQUEST, 0),
    # A signed write shorter than its handle and 12 octets of signature.
    ("d2 0900" + "00" * 11, AttOpcode.SIGNED_WRITE_COMMAND, 0x0009),
    ("d2 09", AttOpcode.SIGNED_WRITE_COMMAND, 0),
    # Multiple Handle Value Notification: one tuple, a value shorter than its length.
    ("23 0c00 0100 5a", AttOpcode.MULTIPLE_HANDLE_VALUE_NOTIFICATION, 0),
    ("23 0c00 0100 5a 1000 0200 01", AttOpcode.MULTIPLE_HANDLE_VALUE_NOTIFICATION, 0),
    ("23 0c00 0100 5a 1000 00", AttOpcode.MULTIPLE_HANDLE_VALUE_NOTIFICATION, 0),
    # Notifications and indications without a whole handle.
    ("1b 0c", AttOpcode.HANDLE_VALUE_NOTIFICATION, 0),
    ("1d", AttOpcode.HANDLE_VALUE_INDICATION, 0),
]


@pytest.mark.parametrize(("wire", "opcode", "handle"), MALFORMED)
def test_a_malformed_pdu_is_invalid_pdu_naming_its_opcode_and_first_handle(
    wire: str, opcode: AttOpcode, handle: int
) -> None:
    error = _rejected(_hex(wire))
    assert error.error_code is AttErrorCode.INVALID_PDU
    assert error.opcode == opcode
    assert error.handle == handle


def test_a_pdu_over_the_largest_mtu_is_invalid_pdu() -> None:
    assert att.decode_pdu(_hex("12 0900") + bytes(514)) == att.WriteRequest(9, bytes(514))
    error = _rejected(_hex("12 0900") + bytes(515))
    assert (error.error_code, error.opcode, error.handle) == (AttErrorCode.INVALID_PDU, 0x12, 9)
    error = _rejected(_hex("0b") + bytes(517))
    assert (error.error_code, error.opcode) == (AttErrorCode.INVALID_PDU, 0x0B)


@pytest.mark.parametrize("opcode", [0x00, 0x14, 0x15, 0x1A, 0x1C, 0x1F, 0x22, 0x24, 0x3F])
def test_an_unknown_opcode_is_request_not_supported(opcode: int) -> None:
    error = _rejected(bytes((opcode, 1, 0)))
    assert (error.error_code, error.opcode) == (AttErrorCode.REQUEST_NOT_SUPPORTED, opcode)
    assert not att.is_command(opcode)


@pytest.mark.parametrize("opcode", [0x40, 0x53, 0x7F, 0xC0, 0xD3, 0xFF])
def test_an_unknown_command_is_known_as_a_command_so_a_server_ignores_it(opcode: int) -> None:
    error = _rejected(bytes((opcode, 1, 0)))
    assert (error.error_code, error.opcode) == (AttErrorCode.REQUEST_NOT_SUPPORTED, opcode)
    assert att.is_command(error.opcode)


def test_an_empty_pdu_has_no_opcode() -> None:
    error = _rejected(b"")
    assert (error.error_code, error.opcode, error.handle) == (AttErrorCode.INVALID_PDU, None, 0)
    assert isinstance(error, DecodeError)


def test_a_read_multiple_variable_response_cut_by_the_mtu_keeps_what_is_there() -> None:
    # 3.4.4.12: the last value cut short; a lone octet of the next length dropped.
    assert att.decode_pdu(_hex("21 0100 64 0500 6162")).values == (b"\x64", b"ab")
    assert att.decode_pdu(_hex("21 0100 64 05")).values == (b"\x64",)


def test_a_read_by_type_response_may_carry_empty_values() -> None:
    # The length octet 2 is a handle alone: legal on the wire, for the client to judge.
    assert att.decode_pdu(_hex("09 02 0300 0400")) == att.ReadByTypeResponse(((3, b""), (4, b"")))


@pytest.mark.parametrize(
    "build",
    [
        lambda: att.FindInformationResponse(((1, uuid16(0x2902)), (2, CUSTOM))),
        lambda: att.FindInformationResponse(()),
        lambda: att.FindByTypeValueResponse(()),
        lambda: att.ReadByTypeResponse(((1, b"ab"), (2, b"abc"))),
        lambda: att.ReadByTypeResponse(()),
        lambda: att.ReadByTypeResponse(((1, bytes(254)),)),
        lambda: att.ReadByGroupTypeResponse(((1, 2, b"ab"), (3, 4, b"a"))),
        lambda: att.ReadMultipleRequest((1,)),
        lambda: att.ReadMultipleVariableRequest(()),
        lambda: att.ReadMultipleVariableResponse(()),
        lambda: att.MultipleHandleValueNotification(((1, b""),)),
        lambda: att.WriteRequest(1, bytes(515)),
        lambda: att.ReadResponse(bytes(517)),
        lambda: att.SignedWriteCommand(1, bytes(503), 0, bytes(8)),
        lambda: att.SignedWriteCommand(1, b"", 0, bytes(7)),
        lambda: att.ReadRequest(0x10000),
        lambda: att.ErrorResponse(0x0A, 1, 256),
        lambda: att.ReadByTypeRequest(1, 2, "2803"),  # type: ignore[arg-type]
    ],
)
def test_a_pdu_that_cannot_go_on_the_air_is_refused_where_it_is_made(build: object) -> None:
    with pytest.raises(InvalidArgumentError):
        build()  # type: ignore[operator]


def test_a_32_bit_uuid_goes_as_128_bits() -> None:
    # Vol 3 Part F 3.2.1: only 16-bit and 128-bit UUIDs are sent in ATT.
    wide = uuid16(0x12345678)
    request = att.ReadByTypeRequest(1, 2, wide)
    assert request.encode() == _hex("08 0100 0200") + bytes(reversed(wide.bytes))
    assert att.decode_pdu(request.encode()) == request


@given(pdus)
def test_every_pdu_survives_a_round_trip(pdu: att.AttPdu) -> None:
    wire = pdu.encode()
    assert len(wire) <= att.MAX_MTU
    assert wire[0] == pdu.opcode
    assert att.decode_pdu(wire) == pdu


@given(st.binary(max_size=600) | wire_pdus)
def test_arbitrary_octets_raise_nothing_but_att_decode_error(data: bytes) -> None:
    try:
        decoded = att.decode_pdu(data)
    except AttDecodeError as error:
        assert error.error_code in (AttErrorCode.INVALID_PDU, AttErrorCode.REQUEST_NOT_SUPPORTED)
        assert error.opcode == (data[0] if data else None)
        return
    assert decoded.opcode == data[0]


@given(st.sampled_from(sorted(att.PDU_CLASSES)), st.binary(max_size=40))
def test_any_parameters_after_a_known_opcode_raise_nothing_but_att_decode_error(
    opcode: int, parameters: bytes
) -> None:
    try:
        decoded = att.decode_pdu(bytes((opcode,)) + parameters)
    except AttDecodeError as error:
        assert (error.error_code, error.opcode) == (AttErrorCode.INVALID_PDU, opcode)
        return
    # What decodes encodes again (a Read Multiple Variable Response cut short aside).
    if opcode != AttOpcode.READ_MULTIPLE_VARIABLE_RESPONSE:
        assert decoded.encode() == bytes((opcode,)) + parameters
