"""The Database Hash (Core 5.4 Vol 3 Part G 7.3): the specification's example database of
Appendix B and Bumble's computation of the same definition on databases hypothesis makes."""

from __future__ import annotations

import types
import uuid

import attrs
from bumble import att as bumble_att
from bumble.core import UUID as BumbleUuid
from bumble.profiles.gatt_service import GenericAttributeProfileService
from hypothesis import given
from hypothesis import strategies as st

from bluetrio.actors.gatt.database_hash import (
    HASHED_WITH_VALUE,
    HASHED_WITHOUT_VALUE,
    database_hash,
    hash_message,
)
from bluetrio.messages.uuids import uuid16


@attrs.frozen
class Attribute:
    handle: int
    type: uuid.UUID
    value: bytes


def _attribute(handle: int, kind: int, value: str = "") -> Attribute:
    return Attribute(handle, uuid16(kind), bytes.fromhex(value))


# Vol 3 Part G Appendix B: GAP (Device Name, Appearance), GATT (Service Changed with its
# CCCD, Client Supported Features, Database Hash), Glucose including a secondary Battery
# service, a Glucose Measurement with a CCCD and Extended Properties, and the Battery Level.
APPENDIX_B = (
    _attribute(0x0001, 0x2800, "0018"),
    _attribute(0x0002, 0x2803, "0a0300002a"),
    _attribute(0x0003, 0x2A00, "4e616d65"),
    _attribute(0x0004, 0x2803, "020500012a"),
    _attribute(0x0005, 0x2A01, "0000"),
    _attribute(0x0006, 0x2800, "0118"),
    _attribute(0x0007, 0x2803, "200800052a"),
    _attribute(0x0008, 0x2A05, ""),
    _attribute(0x0009, 0x2902, "0200"),
    _attribute(0x000A, 0x2803, "0a0b00292b"),
    _attribute(0x000B, 0x2B29, "01"),
    _attribute(0x000C, 0x2803, "020d002a2b"),
    _attribute(0x000D, 0x2B2A, "00" * 16),
    _attribute(0x000E, 0x2800, "0818"),
    _attribute(0x000F, 0x2802, "140016000f18"),
    _attribute(0x0010, 0x2803, "a21100182a"),
    _attribute(0x0011, 0x2A18, "0102030405"),
    _attribute(0x0012, 0x2902, "0100"),
    _attribute(0x0013, 0x2900, "0000"),
    _attribute(0x0014, 0x2801, "0f18"),
    _attribute(0x0015, 0x2803, "021600192a"),
    _attribute(0x0016, 0x2A19, "64"),
)

# The message and the hash Appendix B prints (the hash most significant octet first).
APPENDIX_B_MESSAGE = bytes.fromhex(
    "0100 0028 0018  0200 0328 0a0300002a  0400 0328 020500012a  0600 0028 0118"
    "0700 0328 200800052a  0900 0229  0a00 0328 0a0b00292b  0c00 0328 020d002a2b"
    "0e00 0028 0818  0f00 0228 140016000f18  1000 0328 a21100182a  1200 0229"
    "1300 0029 0000  1400 0128 0f18  1500 0328 021600192a"
)
APPENDIX_B_HASH = bytes.fromhex("f1ca2d48ecf58bac8a8830bbb9fba990")


def test_the_message_of_appendix_b_leaves_out_values_and_other_types() -> None:
    assert hash_message(APPENDIX_B) == APPENDIX_B_MESSAGE


def test_the_hash_of_appendix_b_least_significant_octet_first() -> None:
    assert database_hash(APPENDIX_B) == APPENDIX_B_HASH[::-1]


def test_the_attributes_are_taken_in_handle_order() -> None:
    assert database_hash(reversed(APPENDIX_B)) == database_hash(APPENDIX_B)


def test_a_characteristic_value_or_cccd_value_does_not_change_the_hash() -> None:
    changed = [
        attrs.evolve(a, value=b"\xff\xff") if a.handle in (0x0009, 0x0011, 0x0016) else a
        for a in APPENDIX_B
    ]
    assert database_hash(changed) == database_hash(APPENDIX_B)


def test_a_declaration_or_extended_properties_change_changes_the_hash() -> None:
    for handle in (0x000F, 0x0013):
        changed = [
            attrs.evolve(a, value=b"\x01\x00") if a.handle == handle else a for a in APPENDIX_B
        ]
        assert database_hash(changed) != database_hash(APPENDIX_B)


def test_a_128_bit_attribute_type_is_not_hashed() -> None:
    custom = Attribute(0x0017, uuid.UUID("12345678-1234-5678-1234-567812345678"), b"\x01")
    assert hash_message((*APPENDIX_B, custom)) == APPENDIX_B_MESSAGE


def _bumble_hash(attributes: list[Attribute]) -> bytes:
    converted = []
    for attribute in attributes:
        theirs = bumble_att.Attribute(
            BumbleUuid.from_bytes(attribute.type.bytes[::-1]),
            bumble_att.Attribute.Permissions.READABLE,
            attribute.value,
        )
        theirs.handle = attribute.handle
        converted.append(theirs)
    server = types.SimpleNamespace(attributes=converted)
    connection = types.SimpleNamespace(device=types.SimpleNamespace(gatt_server=server))
    return GenericAttributeProfileService.get_database_hash(
        GenericAttributeProfileService.__new__(GenericAttributeProfileService),
        connection,
    )


_TYPES = sorted(HASHED_WITH_VALUE | HASHED_WITHOUT_VALUE | {0x2A00, 0x2A19, 0x2B2A, 0x2906})


@st.composite
def databases(draw: st.DrawFn) -> list[Attribute]:
    kinds = draw(st.lists(st.sampled_from(_TYPES), max_size=24))
    values = draw(st.lists(st.binary(max_size=20), min_size=len(kinds), max_size=len(kinds)))
    return [
        _attribute_from(handle, kind, value)
        for handle, (kind, value) in enumerate(zip(kinds, values, strict=True), start=1)
    ]


def _attribute_from(handle: int, kind: int, value: bytes) -> Attribute:
    return Attribute(handle, uuid16(kind), value)


@given(databases())
def test_the_hash_agrees_with_bumble(attributes: list[Attribute]) -> None:
    assert database_hash(attributes) == _bumble_hash(attributes)


def test_bumble_agrees_on_appendix_b() -> None:
    assert _bumble_hash(list(APPENDIX_B)) == APPENDIX_B_HASH[::-1]
