"""The SDP wire codec: data elements of every type and size descriptor, and every PDU with its
length checks (Core 5.4 Vol 3 Part B 3, 4)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sdp_strategies import elements, pdus

import bluetrio.messages.sdp as sdp
from bluetrio.errors import DecodeError, InvalidArgumentError
from bluetrio.messages.uuids import short_form, uuid16


@given(element=elements)
def test_every_element_round_trips(element: sdp.DataElement) -> None:
    assert sdp.decode_element_exactly(element.encode()) == element


@given(pdu=pdus, transaction_id=st.integers(0, 0xFFFF))
def test_every_pdu_round_trips(pdu: sdp.SdpPdu, transaction_id: int) -> None:
    assert sdp.decode_pdu(pdu.to_bytes(transaction_id)) == (transaction_id, pdu)


@given(data=st.binary(max_size=200))
def test_arbitrary_octets_decode_or_raise_decode_error(data: bytes) -> None:
    try:
        element, end = sdp.decode_element(data)
    except DecodeError:
        return
    # What decodes encodes again (with the smallest length fields) to the same element.
    assert len(element.encode()) <= end
    assert sdp.decode_element_exactly(element.encode()) == element


@given(data=st.binary(max_size=120))
def test_arbitrary_pdus_decode_or_raise_decode_error(data: bytes) -> None:
    try:
        transaction_id, pdu = sdp.decode_pdu(data)
    except DecodeError:
        return
    assert sdp.decode_pdu(pdu.to_bytes(transaction_id)) == (transaction_id, pdu)


@given(element=elements, cut=st.integers(0, 1000))
def test_a_truncated_element_is_a_decode_error(element: sdp.DataElement, cut: int) -> None:
    encoded = element.encode()
    truncated = encoded[: cut % len(encoded)]
    with pytest.raises(DecodeError):
        sdp.decode_element_exactly(truncated)


# -- the size descriptors of 3.3 -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("element", "encoded"),
    [
        (sdp.Nil(), "00"),
        (sdp.UnsignedInt(0x12, 1), "0812"),
        (sdp.UnsignedInt(0x1234, 2), "091234"),
        (sdp.UnsignedInt(0x12345678, 4), "0a12345678"),
        (sdp.UnsignedInt(1, 8), "0b0000000000000001"),
        (sdp.UnsignedInt(1, 16), "0c" + "00" * 15 + "01"),
        (sdp.SignedInt(-1, 1), "10ff"),
        (sdp.SignedInt(-2, 2), "11fffe"),
        (sdp.Uuid.of(0x1101), "191101"),
        (sdp.Uuid.of(0x12345678), "1a12345678"),
        (
            sdp.Uuid.of("12345678-9abc-def0-1234-56789abcdef0"),
            "1c123456789abcdef0123456789abcdef0",
        ),
        (sdp.Text(b"ab"), "25026162"),
        (sdp.Boolean(True), "2801"),
        (sdp.Sequence((sdp.Uuid.of(0x0100),)), "3503190100"),
        (sdp.Alternative((sdp.Nil(),)), "3d0100"),
        (sdp.Url(b"h"), "450168"),
    ],
)
def test_known_encodings(element: sdp.DataElement, encoded: str) -> None:
    assert element.encode().hex() == encoded
    assert sdp.decode_element_exactly(bytes.fromhex(encoded)) == element


def test_lengths_take_the_smallest_size_index_and_all_three_decode() -> None:
    assert sdp.Text(b"x" * 255).encode()[:2] == bytes((0x25, 255))
    assert sdp.Text(b"x" * 256).encode()[:3] == bytes((0x26, 1, 0))
    # A 16-bit and a 32-bit length field for a short string are still valid (3.3).
    assert sdp.decode_element_exactly(bytes.fromhex("2600026162")) == sdp.Text(b"ab")
    assert sdp.decode_element_exactly(bytes.fromhex("27000000026162")) == sdp.Text(b"ab")
    assert sdp.decode_element_exactly(bytes.fromhex("3700000000")) == sdp.Sequence(())


@pytest.mark.parametrize(
    "encoded",
    [
        "01",  # nil with a size index
        "0d",  # unsigned with size index 5
        "18",  # a 1-octet UUID
        "1b0000000000000000",  # an 8-octet UUID
        "2901",  # a 2-octet boolean
        "20",  # text with a fixed size index
        "4800",  # reserved type 9
        "3505",  # a sequence claiming more than is there
        "350309",  # an item running past its sequence (the 09 needs two more octets)
        "2705",  # a 32-bit length field cut short
    ],
)
def test_malformed_elements_are_decode_errors(encoded: str) -> None:
    with pytest.raises(DecodeError):
        sdp.decode_element_exactly(bytes.fromhex(encoded))


def test_an_item_cannot_borrow_octets_past_its_sequence() -> None:
    # The sequence holds one octet (0x09, a 2-octet integer's header); the octets after the
    # sequence must not complete it.
    with pytest.raises(DecodeError):
        sdp.decode_element(bytes.fromhex("3501091234"))


def test_nesting_is_bounded_on_decode_and_construction() -> None:
    deep = b"\x35\x00"
    for _ in range(sdp.MAX_DEPTH - 1):
        deep = bytes((0x35, len(deep))) + deep
    assert sdp.decode_element_exactly(deep).depth == sdp.MAX_DEPTH
    with pytest.raises(DecodeError, match="nested"):
        sdp.decode_element_exactly(bytes((0x35, len(deep))) + deep)
    element: sdp.DataElement = sdp.Sequence(())
    for _ in range(sdp.MAX_DEPTH - 1):
        element = sdp.Sequence((element,))
    with pytest.raises(InvalidArgumentError, match="nested"):
        sdp.Sequence((element,))


def test_a_hostile_nesting_of_thousands_of_levels_is_refused_without_recursing_far() -> None:
    data = b"".join(bytes((0x36,)) + (3 * (10_000 - i)).to_bytes(2, "big") for i in range(10_000))
    with pytest.raises(DecodeError):
        sdp.decode_element(data)


def test_element_size_is_bounded_on_construction() -> None:
    with pytest.raises(InvalidArgumentError):
        sdp.Text(b"x" * (sdp.MAX_ELEMENT_SIZE + 1))
    with pytest.raises(InvalidArgumentError):
        sdp.Sequence(tuple(sdp.Text(b"x" * 30_000) for _ in range(3)))


@pytest.mark.parametrize(
    "make",
    [
        lambda: sdp.UnsignedInt(256, 1),
        lambda: sdp.UnsignedInt(-1, 2),
        lambda: sdp.UnsignedInt(1, 3),
        lambda: sdp.UnsignedInt(True, 1),
        lambda: sdp.SignedInt(128, 1),
        lambda: sdp.SignedInt(-129, 1),
        lambda: sdp.SignedInt(1, 3),
        lambda: sdp.SignedInt(False, 1),
        lambda: sdp.Alternative((1,)),  # type: ignore[arg-type]
        lambda: sdp.Uuid(uuid.UUID(int=5), 2),
        lambda: sdp.Uuid(uuid16(0x10000), 2),
        lambda: sdp.Uuid.of("not a uuid"),
        lambda: sdp.Boolean(1),  # type: ignore[arg-type]
        lambda: sdp.Sequence((1,)),  # type: ignore[arg-type]
        lambda: sdp.AttributeRange(5, 4),
        lambda: sdp.AttributeRange(0, 0x10000),
    ],
)
def test_bad_values_are_refused_on_construction(make: object) -> None:
    with pytest.raises(InvalidArgumentError):
        make()  # type: ignore[operator]


@pytest.mark.parametrize("size", sorted(sdp.INTEGER_SIZES))
def test_each_integer_kind_takes_its_own_range_and_stays_its_own_type(size: int) -> None:
    bits = 8 * size
    for value in (0, (1 << bits) - 1):
        element = sdp.UnsignedInt(value, size)
        assert sdp.decode_element(element.encode()) == (element, 1 + size)
    for value in (-(1 << (bits - 1)), (1 << (bits - 1)) - 1):
        element = sdp.SignedInt(value, size)
        assert sdp.decode_element(element.encode()) == (element, 1 + size)
    # The same value is two different elements (type descriptors 1 and 2, 3.2).
    assert sdp.UnsignedInt(1, size) != sdp.SignedInt(1, size)
    assert sdp.UnsignedInt(1, size).encode()[1:] == sdp.SignedInt(1, size).encode()[1:]
    assert sdp.Sequence((sdp.Nil(),)) != sdp.Alternative((sdp.Nil(),))


def test_uuids_of_the_base_uuid_are_one_service_in_every_size() -> None:
    full = uuid.UUID("00001101-0000-1000-8000-00805f9b34fb")
    assert uuid16(0x1101) == full
    assert short_form(full) == 0x1101
    assert sdp.Uuid(full, 2).full == sdp.Uuid(full, 4).full == sdp.Uuid(full, 16).full
    assert short_form(uuid.UUID("12345678-9abc-def0-1234-56789abcdef0")) is None
    assert sdp.decode_element_exactly(bytes.fromhex("1a00001101")) == sdp.Uuid(full, 4)


# -- PDUs -----------------------------------------------------------------------------------------


def test_a_service_search_request_as_on_the_wire() -> None:
    request = sdp.ServiceSearchRequest((sdp.Uuid.of(0x1101),), 10)
    assert request.to_bytes(1).hex() == "0200010008" + "3503191101" + "000a" + "00"
    tid, decoded = sdp.decode_pdu(bytes.fromhex("0200010008350319110100" + "0a00"))
    assert (tid, decoded) == (1, request)


def test_a_service_search_attribute_request_as_on_the_wire() -> None:
    request = sdp.ServiceSearchAttributeRequest(
        (sdp.Uuid.of(0x0100),), 0xFFFF, sdp.ALL_ATTRIBUTES, b"\x01\x02"
    )
    data = request.to_bytes(0x1234)
    assert data.hex() == "0612340011" + "3503190100" + "ffff" + "35050a0000ffff" + "020102"


@pytest.mark.parametrize(
    ("pdu_id", "parameters", "why"),
    [
        (2, "3503191101" + "0000" + "00", "below the minimum"),  # MaximumServiceRecordCount 0
        (2, "3500" + "000a" + "00", "1 to 12"),  # an empty pattern
        (2, "3503090100" + "000a" + "00", "not a UUID"),
        (2, "1901000" + "0000a00", "data element sequence"),
        (2, "3503191101" + "000a", "needs 1"),  # no continuation state
        (2, "3503191101" + "000a" + "10" + "00" * 15, "needs 16"),
        (2, "3503191101" + "000a" + "00" + "ff", "unexpected"),  # octets after the state
        (4, "00010000" + "0006" + "350309" + "0000" + "00", "below the minimum"),
        (4, "00010000" + "0007" + "3500" + "00", "non-empty"),
        (4, "00010000" + "0007" + "35050a00050004" + "00", "reversed"),
        (4, "00010000" + "0007" + "3503191101" + "00", "neither"),
        (3, "0001" + "0001" + "0000", "needs 4"),  # handle list cut short
        (5, "0002" + "35", "needs 2"),
        (5, "0000" + "11" + "0102030405", "at most 16"),
        (7, "0005" + "350100" + "00", "needs 5"),  # the byte count runs past the end
    ],
)
def test_malformed_parameters_are_decode_errors(pdu_id: int, parameters: str, why: str) -> None:
    body = bytes.fromhex(parameters)
    with pytest.raises(DecodeError, match=why):
        sdp.decode_pdu(bytes((pdu_id,)) + b"\x00\x01" + len(body).to_bytes(2, "big") + body)


@pytest.mark.parametrize("declared", [7, 9, 0, 0xFFFF])
def test_a_parameter_length_that_does_not_match_is_a_decode_error(declared: int) -> None:
    body = bytes.fromhex("3503191101" + "000a" + "00")
    raw = sdp.split_pdu(b"\x02\x00\x01" + declared.to_bytes(2, "big") + body)
    assert not raw.length_ok
    with pytest.raises(DecodeError, match="ParameterLength"):
        raw.decode()


def test_an_unknown_pdu_id_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="unknown"):
        sdp.decode_pdu(bytes.fromhex("0800010000"))


def test_a_header_too_short_is_a_decode_error_and_split_keeps_the_transaction() -> None:
    with pytest.raises(DecodeError):
        sdp.split_pdu(b"\x02\x00\x01\x00")
    raw = sdp.split_pdu(bytes.fromhex("02abcd0010" + "00"))
    assert (raw.pdu_id, raw.transaction_id, raw.length_ok) == (2, 0xABCD, False)


def test_continuation_state_is_at_most_16_octets() -> None:
    with pytest.raises(InvalidArgumentError):
        sdp.ServiceSearchAttributeResponse(b"", b"x" * 17)
    sdp.ServiceSearchAttributeResponse(b"", b"x" * 16)


def test_error_response_keeps_error_info_of_older_servers() -> None:
    tid, pdu = sdp.decode_pdu(bytes.fromhex("0100070004" + "0003" + "abcd"))
    assert (tid, pdu) == (7, sdp.ErrorResponse(3, b"\xab\xcd"))
